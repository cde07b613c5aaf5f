/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_port.c - EAL arguments, the mbuf pool, and port bring-up for every PMD.
 *
 * Virtual devices are created through --vdev from the config (name = pmd +
 * port index, e.g. net_tap0), PCI NICs through the -a allow list. Each port
 * gets `queues` RX queues (RSS over IP/TCP/UDP when there is more than one
 * and the PMD offers it) and one TX queue per worker, so no TX queue is ever
 * shared between lcores.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>

#include "dp.h"
#include "mxg_err.h"
#include "mxg_log.h"

#define COMP "dataplane"

static int push(char ***argv, int *argc, int *cap, const char *s)
{
	if (*argc + 2 > *cap) {
		int ncap = *cap ? *cap * 2 : 32;
		char **n = realloc(*argv, sizeof(char *) * (size_t)ncap);

		if (!n)
			return MXG_E_NOMEM;
		*argv = n;
		*cap = ncap;
	}
	(*argv)[*argc] = strdup(s);
	if (!(*argv)[*argc])
		return MXG_E_NOMEM;
	(*argc)++;
	(*argv)[*argc] = NULL;
	return 0;
}

static bool has_arg(int argc, char **argv, const char *const *names)
{
	for (int i = 0; i < argc; i++)
		for (const char *const *n = names; *n; n++)
			if (!strcmp(argv[i], *n) || (!strncmp(argv[i], *n, strlen(*n)) &&
						       argv[i][strlen(*n)] == '='))
				return true;
	return false;
}

/* net_af_xdp turns on preferred busy polling by default (busy_budget 64):
 * every empty rx_burst then makes a recvfrom() syscall, which only pays
 * when the interface's napi_defer_hard_irqs and gro_flush_timeout were
 * tuned for it (DPDK's af_xdp guide). Untuned, as here, it was 12 % of an
 * idle-ish worker's time in the connection benchmark (perf/tcp_bench.py
 * --profile) and bought nothing; the worker's own adaptive idle policy
 * decides when to spin. With busy_budget=0 the PMD only calls poll() when
 * the kernel asks for a fill-ring wakeup. An explicit busy_budget in
 * devargs is kept. */
static const char *af_xdp_busy_default(const struct dp_port_conf *p)
{
	if (strcmp(p->pmd, "net_af_xdp") || strstr(p->devargs, "busy_budget="))
		return "";
	return ",busy_budget=0";
}

int dp_eal_args(const struct dp_conf *c, int nextra, char **extra, char ***argv_out)
{
	static const char *const lcore_opts[] = {"-l", "-c", "--lcores", NULL};
	static const char *const prefix_opts[] = {"--file-prefix", NULL};
	char **argv = NULL, *args, *tok, *save, buf[512];
	int argc = 0, cap = 0, rc = 0;
	bool pci = false;

	rc |= push(&argv, &argc, &cap, "mxgate-dataplane");
	args = strdup(c->eal_args);
	if (!args)
		goto nomem;
	for (tok = strtok_r(args, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
		rc |= push(&argv, &argc, &cap, tok);
	free(args);
	for (int i = 0; i < nextra; i++)
		rc |= push(&argv, &argc, &cap, extra[i]);
	if (!has_arg(argc, argv, lcore_opts)) {
		snprintf(buf, sizeof(buf), "0-%u", c->workers);
		rc |= push(&argv, &argc, &cap, "-l");
		rc |= push(&argv, &argc, &cap, buf);
	}
	if (!has_arg(argc, argv, prefix_opts)) {
		rc |= push(&argv, &argc, &cap, "--file-prefix");
		rc |= push(&argv, &argc, &cap, c->file_prefix);
	}
	for (unsigned i = 0; i < c->nports; i++) {
		const struct dp_port_conf *p = &c->port[i];

		if (!strcmp(p->pmd, "pci")) {
			rc |= push(&argv, &argc, &cap, "-a");
			rc |= push(&argv, &argc, &cap, p->devargs);
			pci = true;
			continue;
		}
		snprintf(buf, sizeof(buf), "%s%u%s%s%s", p->pmd, i, *p->devargs ? "," : "", p->devargs,
			 af_xdp_busy_default(p));
		rc |= push(&argv, &argc, &cap, "--vdev");
		rc |= push(&argv, &argc, &cap, buf);
	}
	if (!pci)
		rc |= push(&argv, &argc, &cap, "--no-pci");
	if (rc)
		goto nomem;
	*argv_out = argv;
	return argc;
nomem:
	dp_eal_args_free(argc, argv);
	return MXG_E_NOMEM;
}

void dp_eal_args_free(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

static int port_setup(struct dp_ctx *ctx, struct dp_port *p)
{
	const struct dp_port_conf *pc = p->conf;
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info info;
	struct rte_ether_addr mac;
	uint16_t nrx = pc->queues ? pc->queues : (uint16_t)ctx->nworkers;
	uint16_t ntx = (uint16_t)ctx->nworkers;
	uint16_t rxd = pc->rx_desc, txd = pc->tx_desc;
	int rc;

	rc = rte_eth_dev_info_get(p->port_id, &info);
	if (rc) {
		MXG_ERR(COMP, "port %s: no device info: %s", pc->name, rte_strerror(-rc));
		return MXG_E_IO;
	}
	if (nrx > info.max_rx_queues || ntx > info.max_tx_queues) {
		MXG_ERR(COMP, "port %s (%s): %u RX / %u TX queues asked, the PMD offers %u / %u",
			pc->name, info.driver_name, nrx, ntx, info.max_rx_queues, info.max_tx_queues);
		return MXG_E_RANGE;
	}
	if (nrx > 1 && info.flow_type_rss_offloads) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) &
			info.flow_type_rss_offloads;
	} else if (nrx > 1) {
		MXG_WARN(COMP, "port %s (%s): no RSS, %u RX queues will see uneven load",
			 pc->name, info.driver_name, nrx);
	}
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
	rc = rte_eth_dev_configure(p->port_id, nrx, ntx, &conf);
	if (rc) {
		MXG_ERR(COMP, "port %s: configure: %s", pc->name, rte_strerror(-rc));
		return MXG_E_IO;
	}
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(p->port_id, &rxd, &txd);
	if (rc) {
		MXG_ERR(COMP, "port %s: descriptors: %s", pc->name, rte_strerror(-rc));
		return MXG_E_IO;
	}
	for (uint16_t q = 0; q < nrx; q++) {
		rc = rte_eth_rx_queue_setup(p->port_id, q, rxd, rte_eth_dev_socket_id(p->port_id),
					    NULL, ctx->pool);
		if (rc) {
			MXG_ERR(COMP, "port %s: RX queue %u: %s", pc->name, q, rte_strerror(-rc));
			return MXG_E_IO;
		}
	}
	for (uint16_t q = 0; q < ntx; q++) {
		rc = rte_eth_tx_queue_setup(p->port_id, q, txd, rte_eth_dev_socket_id(p->port_id),
					    NULL);
		if (rc) {
			MXG_ERR(COMP, "port %s: TX queue %u: %s", pc->name, q, rte_strerror(-rc));
			return MXG_E_IO;
		}
	}
	/* Not every PMD can change its MTU (net_null, net_ring): the configured
	 * MTU then only bounds what we send. */
	rc = rte_eth_dev_set_mtu(p->port_id, pc->mtu);
	if (rc && rc != -ENOTSUP)
		MXG_WARN(COMP, "port %s: MTU %u: %s", pc->name, pc->mtu, rte_strerror(-rc));
	rc = rte_eth_dev_start(p->port_id);
	if (rc) {
		MXG_ERR(COMP, "port %s: start: %s", pc->name, rte_strerror(-rc));
		return MXG_E_IO;
	}
	p->started = true;
	/* NDP needs the solicited-node multicast groups; not every PMD filters,
	 * but those that do must let them through. */
	rte_eth_allmulticast_enable(p->port_id);
	rte_eth_macaddr_get(p->port_id, &mac);
	memcpy(p->mac, mac.addr_bytes, 6);
	if (pc->has_mac) {
		memcpy(p->mac, pc->mac, 6);
	} else if (!strcmp(pc->pmd, "net_tap")) {
		/* The tap PMD gives the kernel side the device's own MAC: answering
		 * ARP with it would make the kernel talk to itself. The gateway
		 * takes a locally administered neighbour of it instead (the tap
		 * passes every frame up, whatever its destination). */
		p->mac[0] |= 0x02;
		p->mac[5] ^= 0x01;
	}
	p->nrxq = nrx;
	p->ntxq = ntx;
	MXG_INFO(COMP, "port %s: %s port %u mac %02x:%02x:%02x:%02x:%02x:%02x rxq %u txq %u",
		 pc->name, info.driver_name, p->port_id, p->mac[0], p->mac[1], p->mac[2],
		 p->mac[3], p->mac[4], p->mac[5], nrx, ntx);
	return 0;
}

/* rte_pktmbuf_pool_create() with RTE_MEMPOOL_F_NO_IOVA_CONTIG. Without
 * hugepages the pool is backed by 4 KiB pages and, as a contiguous pool,
 * gets one mbuf per page; DPDK 22.11's af_xdp PMD registers the pool's
 * memory as its UMEM as if the mbufs were packed, so frames sent from
 * mbufs outside that range were silently dropped by the kernel and TCP
 * stalled. A pool that does not ask for IOVA-contiguous objects packs
 * them, and every PMD accepts it. */
static struct rte_mempool *pool_create(const struct dp_conf *c)
{
	struct rte_pktmbuf_pool_private pp = {.mbuf_data_room_size = RTE_MBUF_DEFAULT_BUF_SIZE};
	struct rte_mempool *mp;

	mp = rte_mempool_create_empty("mxg_pkt", c->mbufs,
				      sizeof(struct rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE,
				      c->mbuf_cache, sizeof(pp), (int)rte_socket_id(),
				      RTE_MEMPOOL_F_NO_IOVA_CONTIG);
	if (!mp)
		return NULL;
	if (rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL) != 0)
		goto fail;
	rte_pktmbuf_pool_init(mp, &pp);
	if (rte_mempool_populate_default(mp) < 0)
		goto fail;
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	return mp;
fail:
	rte_mempool_free(mp);
	return NULL;
}

int dp_ports_init(struct dp_ctx *ctx)
{
	const struct dp_conf *c = &ctx->conf;
	int rc;

	ctx->pool = pool_create(c);
	if (!ctx->pool) {
		MXG_ERR(COMP, "mbuf pool of %u: %s (raise -m in eal_args or lower mbufs)", c->mbufs,
			rte_strerror(rte_errno));
		return MXG_E_NOMEM;
	}
	for (unsigned i = 0; i < c->nports; i++) {
		struct dp_port *p = &ctx->port[i];
		const char *name = p->vdev;

		p->conf = (struct dp_port_conf *)&c->port[i];
		if (!strcmp(p->conf->pmd, "pci")) /* "0000:03:00.0[,options]" */
			snprintf(p->vdev, sizeof(p->vdev), "%.*s",
				 (int)strcspn(p->conf->devargs, ","), p->conf->devargs);
		else
			snprintf(p->vdev, sizeof(p->vdev), "%s%u", p->conf->pmd, i);
		if (rte_eth_dev_get_port_by_name(name, &p->port_id) != 0) {
			MXG_ERR(COMP, "port %s: device %s was not created (check pmd/devargs and "
				"the EAL messages above)", p->conf->name, name);
			return MXG_E_NOENT;
		}
		ctx->nports = i + 1;
		rc = port_setup(ctx, p);
		if (rc)
			return rc;
	}
	return 0;
}

void dp_ports_fini(struct dp_ctx *ctx)
{
	for (unsigned i = 0; i < ctx->nports; i++) {
		struct dp_port *p = &ctx->port[i];

		if (p->started) {
			rte_eth_dev_stop(p->port_id);
			p->started = false;
		}
		rte_eth_dev_close(p->port_id);
	}
	ctx->nports = 0;
	rte_mempool_free(ctx->pool);
	ctx->pool = NULL;
}
