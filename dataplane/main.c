/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * main.c - mxgate-dataplane: the DPDK primary process.
 *
 *   mxgate-dataplane --config PATH [--file-prefix P] [--log-level L]
 *                    [-- EAL arguments...]
 *
 * EAL arguments after "--" are appended to those built from the config
 * (eal_args, -l from `workers`, --vdev per port), so any of them can be
 * overridden for a test or a benchmark. Exit codes: 0 after SIGINT/SIGTERM,
 * 1 on a start-up failure, 2 on a usage or configuration error.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include "dp.h"
#include "mxg_err.h"
#include "mxg_log.h"

#define COMP "dataplane"

static void usage(FILE *f)
{
	fprintf(f, "usage: mxgate-dataplane --config PATH [--file-prefix PREFIX] "
		   "[--log-level LEVEL] [-- EAL-ARGS...]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"file-prefix", required_argument, NULL, 'p'},
		{"log-level", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *prefix = NULL, *level = NULL;
	struct dp_ctx *ctx;
	char err[512], **eal_argv;
	int eal_argc, opt, rc, status = 1, sig;
	sigset_t sigs;

	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'p': prefix = optarg; break;
		case 'L': level = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!config) {
		usage(stderr);
		return 2;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return 1;
	rc = dp_conf_load(config, &ctx->conf, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "mxgate-dataplane: %s\n", err);
		free(ctx);
		return 2;
	}
	if (prefix)
		snprintf(ctx->conf.file_prefix, sizeof(ctx->conf.file_prefix), "%s", prefix);
	if (level && mxg_log_level_parse(level) < 0) {
		fprintf(stderr, "mxgate-dataplane: --log-level: '%s' is not one of err, warn, "
				"notice, info, debug\n", level);
		free(ctx);
		return 2;
	}
	mxg_log_set_level(mxg_log_level_parse(level ? level : ctx->conf.log_level));

	/* Block the stop signals before the EAL starts its threads, so they all
	 * inherit the mask and the main thread alone takes them in sigwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* The signals of O_ASYNC I/O too, for every thread but the workers
	 * (dp_worker_io_signals unblocks them). The tap PMD has the kernel
	 * queue a real-time signal (the first free one) for every frame it
	 * receives; its handler only bumps the RX trigger that rx_burst
	 * checks. The kernel gives a process-directed signal to the main
	 * thread first whenever it may take it - this one, asleep in sigwait:
	 * a wake-up and a context switch per frame, for nothing. */
	dp_worker_io_signals(false);

	eal_argc = dp_eal_args(&ctx->conf, argc - optind, argv + optind, &eal_argv);
	if (eal_argc < 0) {
		free(ctx);
		return 1;
	}
	{
		/* rte_eal_init permutes argv: give it a copy of the pointers. */
		char *tmp[eal_argc + 1];

		memcpy(tmp, eal_argv, sizeof(char *) * (size_t)(eal_argc + 1));
		rc = rte_eal_init(eal_argc, tmp);
	}
	dp_eal_args_free(eal_argc, eal_argv);
	if (rc < 0) {
		MXG_ERR(COMP, "EAL init failed: %s", rte_strerror(rte_errno));
		free(ctx);
		return 1;
	}
	ctx->nworkers = rte_lcore_count() - 1;
	if (ctx->nworkers == 0) {
		MXG_ERR(COMP, "no worker lcore: give -l with at least two lcores");
		goto out;
	}
	if (ctx->nworkers > DP_MAX_WORKERS)
		ctx->nworkers = DP_MAX_WORKERS;
	if (dp_ports_init(ctx) || dp_workers_init(ctx))
		goto out;
	dp_telemetry_init(ctx);
	/* Announce ourselves (gratuitous ARP, unsolicited NA) from worker 0's
	 * interface state; the workers are not running yet, so its TX queue is
	 * ours for the moment. */
	for (unsigned p = 0; p < ctx->nports; p++) {
		struct dp_ifq *q = &ctx->worker[0].ifq[p];

		tcps_if_start(q->ifc, dp_now(ctx));
		q->ifc_deadline = tcps_if_deadline(q->ifc);
	}
	for (unsigned i = 0; i < ctx->nworkers; i++) {
		rc = rte_eal_remote_launch(dp_worker_main, &ctx->worker[i], ctx->worker[i].lcore_id);
		if (rc) {
			MXG_ERR(COMP, "cannot launch worker %u: %s", i, rte_strerror(-rc));
			ctx->stop = true;
			rte_eal_mp_wait_lcore();
			goto out;
		}
	}
	printf("mxgate-dataplane: ready\n");
	fflush(stdout);
	if (sigwait(&sigs, &sig) == 0)
		MXG_INFO(COMP, "%s: stopping", strsignal(sig));
	ctx->stop = true;
	rte_eal_mp_wait_lcore();
	status = 0;
out:
	dp_telemetry_fini();
	dp_workers_fini(ctx);
	dp_ports_fini(ctx);
	rte_eal_cleanup();
	free(ctx);
	return status;
}
