/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * xpf_testrun.c - runs crafted frames through the XDP pre-filter with
 * BPF_PROG_TEST_RUN, for the tests (tests/integration/filter) and the
 * nanoseconds-per-packet benchmark. Not installed.
 *
 *	xpf-testrun [--block PREFIX[=REASON[=SECS]]]... [--block-file FILE]
 *	            [--allow PREFIX]...
 *	            [--syn-rate R] [--syn-burst B] [--repeat N] < FRAMES
 *
 * FRAMES: one frame per line in hex (scapy's bytes(pkt).hex()); each line
 * runs |repeat| times (default 1), all lines in one load of the program
 * (SYN buckets and counters carry over from line to line).
 * Output, one line per frame: "VERDICT NS" (XDP_PASS, XDP_DROP, ...,
 * or "EINVAL" when the kernel refuses the frame, e.g. shorter than an
 * Ethernet header; NS = mean ns per run), then "stat NAME PACKETS" for
 * every counter and "reason NAME PACKETS" for non-zero reasons.
 *
 * The program is loaded stand-alone (accepted frames -> XDP_PASS): a test
 * run has no AF_XDP socket to redirect to.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "xpf.h"

static const char *verdict(__u32 v)
{
	static const char *const n[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
					 "XDP_REDIRECT" };

	return v < 5 ? n[v] : "XDP_?";
}

static int unhex(const char *s, unsigned char *out, size_t cap)
{
	size_t n = 0;

	while (s[0] && s[1] && s[0] != '\n') {
		unsigned v;

		if (n == cap || sscanf(s, "%2x", &v) != 1)
			return -1;
		out[n++] = (unsigned char)v;
		s += 2;
	}
	return (int)n;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "block", required_argument, NULL, 'b' },
		{ "allow", required_argument, NULL, 'a' },
		{ "block-file", required_argument, NULL, 'f' },
		{ "syn-rate", required_argument, NULL, 'r' },
		{ "syn-burst", required_argument, NULL, 'B' },
		{ "repeat", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct xpf_conf conf = { 0 };
	struct xpf_counter st[XPF_STAT__MAX], rs[XPF_REASON_MAX];
	unsigned repeat = 1;
	char *blocks[64], *allows[64], line[70000];
	unsigned nb = 0, na = 0;
	const char *bfile = NULL;
	struct xpf *x = NULL;
	int c, err;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'b': if (nb < 64) blocks[nb++] = optarg; break;
		case 'a': if (na < 64) allows[na++] = optarg; break;
		case 'f': bfile = optarg; break;
		case 'r': conf.syn_rate = (__u32)strtoul(optarg, NULL, 10); break;
		case 'B': conf.syn_burst = (__u32)strtoul(optarg, NULL, 10); break;
		case 'n': repeat = (unsigned)strtoul(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if ((err = xpf_load(false, &x))) {
		fprintf(stderr, "xpf-testrun: load: %s\n", strerror(-err));
		return 1;
	}
	for (unsigned i = 0; i < nb; i++) {
		char *r = strchr(blocks[i], '='), *s = NULL;
		uint32_t reason = XPF_REASON_MANUAL;
		uint64_t exp = 0;
		struct mxg_prefix p;

		if (r) {
			*r++ = '\0';
			if ((s = strchr(r, '=')))
				*s++ = '\0';
			xpf_reason_parse(r, &reason);
			if (s) /* negative seconds: already expired */
				exp = xpf_now_ns() + (uint64_t)(strtoll(s, NULL, 10) * 1000000000ll);
		}
		if (mxg_prefix_parse(blocks[i], &p) || xpf_block_add(x, &p, reason, exp, 0)) {
			fprintf(stderr, "xpf-testrun: --block %s refused\n", blocks[i]);
			return 2;
		}
	}
	if (bfile) { /* one prefix per line, reason manual, no expiry */
		FILE *f = fopen(bfile, "r");
		struct mxg_prefix p;

		if (!f) {
			fprintf(stderr, "xpf-testrun: %s: %s\n", bfile, strerror(errno));
			return 2;
		}
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\r\n")] = '\0';
			if (mxg_prefix_parse(line, &p) ||
			    xpf_block_add(x, &p, XPF_REASON_MANUAL, 0, 0)) {
				fprintf(stderr, "xpf-testrun: %s: '%s' refused\n", bfile, line);
				return 2;
			}
		}
		fclose(f);
	}
	for (unsigned i = 0; i < na; i++) {
		struct mxg_prefix p;

		if (mxg_prefix_parse(allows[i], &p) || xpf_allow_add(x, &p)) {
			fprintf(stderr, "xpf-testrun: --allow %s refused\n", allows[i]);
			return 2;
		}
	}
	if (conf.syn_rate && (err = xpf_conf_set(x, &conf))) {
		fprintf(stderr, "xpf-testrun: conf: %s\n", strerror(-err));
		return 2;
	}
	while (fgets(line, sizeof(line), stdin)) {
		static unsigned char frame[32768];
		int n = unhex(line, frame, sizeof(frame));
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .repeat = repeat);

		if (n < 0) {
			fprintf(stderr, "xpf-testrun: bad hex line\n");
			return 2;
		}
		o.data_size_in = (__u32)n;
		if (bpf_prog_test_run_opts(xpf_prog_fd(x), &o))
			printf("E%s 0\n", errno == EINVAL ? "INVAL" : "RROR");
		else
			printf("%s %u\n", verdict(o.retval), o.duration);
	}
	if ((err = xpf_stats_read(x, st, rs))) {
		fprintf(stderr, "xpf-testrun: stats: %s\n", strerror(-err));
		return 1;
	}
	for (unsigned i = 0; i < XPF_STAT__MAX; i++)
		printf("stat %s %llu\n", xpf_stat_name(i), (unsigned long long)st[i].packets);
	for (unsigned i = 0; i < XPF_REASON_MAX; i++)
		if (rs[i].packets)
			printf("reason %s %llu\n", xpf_reason_name(i) ? xpf_reason_name(i) : "?",
			       (unsigned long long)rs[i].packets);
	xpf_close(x);
	return 0;
}
