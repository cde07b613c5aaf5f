/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_telemetry.c - counters through DPDK telemetry
 * (/var/run/dpdk/<file_prefix>/dpdk_telemetry.v2, dpdk-telemetry.py).
 *
 *   /mxgate/ports          port name -> port id, PMD, MAC, addresses
 *   /mxgate/stats          port name -> counters summed over workers
 *   /mxgate/tcp            TCP counters summed over workers
 *   /mxgate/workers        worker index -> loop counters
 *
 * The callbacks run on the telemetry thread while workers write: they read
 * naturally aligned 64-bit counters, which is tear-free on every platform
 * DPDK supports; a sum may be a few packets behind, never corrupt. A mutex
 * keeps the callbacks away from the context while it is torn down.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include "dp.h"

static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dp_ctx *tel_ctx;


static void add_prefix(struct rte_tel_data *d, const char *key, bool has,
		       const struct mxg_prefix *p)
{
	char ip[64], buf[80];

	if (!has)
		return;
	snprintf(buf, sizeof(buf), "%s/%u", mxg_ip_str(&p->ip, ip, sizeof(ip)), p->len);
	rte_tel_data_add_dict_string(d, key, buf);
}

static int port_info(struct dp_ctx *ctx, unsigned i, struct rte_tel_data *d)
{
	const struct dp_port *p = &ctx->port[i];
	char mac[32];

	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "port_id", p->port_id);
	rte_tel_data_add_dict_string(d, "pmd", p->conf->pmd);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", p->mac[0], p->mac[1],
		 p->mac[2], p->mac[3], p->mac[4], p->mac[5]);
	rte_tel_data_add_dict_string(d, "mac", mac);
	add_prefix(d, "ipv4", p->conf->has_v4, &p->conf->v4);
	add_prefix(d, "ipv6", p->conf->has_v6, &p->conf->v6);
	if (p->conf->has_v6) {
		/* EUI-64 link-local, the address tcps_if answers NDP for. */
		struct mxg_ip ll = {.family = 6};
		char buf[64];

		ll.a[0] = 0xfe;
		ll.a[1] = 0x80;
		ll.a[8] = p->mac[0] ^ 0x02;
		ll.a[9] = p->mac[1];
		ll.a[10] = p->mac[2];
		ll.a[11] = 0xff;
		ll.a[12] = 0xfe;
		ll.a[13] = p->mac[3];
		ll.a[14] = p->mac[4];
		ll.a[15] = p->mac[5];
		rte_tel_data_add_dict_string(d, "ipv6_ll", mxg_ip_str(&ll, buf, sizeof(buf)));
	}
	rte_tel_data_add_dict_u64(d, "rx_queues", p->nrxq);
	rte_tel_data_add_dict_u64(d, "tx_queues", p->ntxq);
	return 0;
}

#define SUM(field)                                                             \
	do {                                                                   \
		uint64_t v = 0;                                                \
		for (unsigned w = 0; w < ctx->nworkers; w++)                   \
			v += tcps_if_stats(ctx->worker[w].ifq[i].ifc)->field;  \
		rte_tel_data_add_dict_u64(d, #field, v);                      \
	} while (0)

static int port_stats(struct dp_ctx *ctx, unsigned i, struct rte_tel_data *d)
{
	struct rte_tel_data *drop = rte_tel_data_alloc();
	struct rte_eth_stats es;

	if (!drop)
		return -1;
	rte_tel_data_start_dict(d);
	SUM(rx_pkts);
	SUM(rx_bytes);
	SUM(tx_pkts);
	SUM(tx_bytes);
	SUM(arp_req_rx);
	SUM(arp_reply_tx);
	SUM(arp_req_tx);
	SUM(arp_reply_rx);
	SUM(icmp_echo_rx);
	SUM(icmp6_echo_rx);
	SUM(ns_rx);
	SUM(na_tx);
	SUM(ns_tx);
	SUM(na_rx);
	SUM(l4_rx);
	SUM(neigh_evicted);
	rte_tel_data_start_dict(drop);
	for (int r = 0; r < TCPS_DROP__MAX; r++) {
		uint64_t v = 0;

		for (unsigned w = 0; w < ctx->nworkers; w++)
			v += tcps_if_stats(ctx->worker[w].ifq[i].ifc)->drop[r];
		rte_tel_data_add_dict_u64(drop, tcps_drop_name(r), v);
	}
	rte_tel_data_add_dict_container(d, "drop", drop, 0);
	if (rte_eth_stats_get(ctx->port[i].port_id, &es) == 0) {
		rte_tel_data_add_dict_u64(d, "pmd_ipackets", es.ipackets);
		rte_tel_data_add_dict_u64(d, "pmd_opackets", es.opackets);
		rte_tel_data_add_dict_u64(d, "pmd_imissed", es.imissed);
		rte_tel_data_add_dict_u64(d, "pmd_ierrors", es.ierrors);
		rte_tel_data_add_dict_u64(d, "pmd_oerrors", es.oerrors);
		rte_tel_data_add_dict_u64(d, "pmd_rx_nombuf", es.rx_nombuf);
	}
	return 0;
}

/* Runs |fn| for every port and nests the results under the port names. */
static int per_port(struct rte_tel_data *d, int (*fn)(struct dp_ctx *, unsigned,
							struct rte_tel_data *))
{
	int rc = 0;

	pthread_mutex_lock(&tel_lock);
	rte_tel_data_start_dict(d);
	for (unsigned i = 0; tel_ctx && i < tel_ctx->nports; i++) {
		struct rte_tel_data *sub = rte_tel_data_alloc();

		if (!sub || fn(tel_ctx, i, sub) != 0) {
			rte_tel_data_free(sub);
			rc = -1;
			break;
		}
		rte_tel_data_add_dict_container(d, tel_ctx->port[i].conf->name, sub, 0);
	}
	pthread_mutex_unlock(&tel_lock);
	return rc;
}

static int cmd_ports(const char *cmd, const char *params, struct rte_tel_data *d)
{
	return per_port(d, port_info);
}

static int cmd_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	return per_port(d, port_stats);
}

static int cmd_workers(const char *cmd, const char *params, struct rte_tel_data *d)
{
	pthread_mutex_lock(&tel_lock);
	rte_tel_data_start_dict(d);
	for (unsigned i = 0; tel_ctx && i < tel_ctx->nworkers; i++) {
		const struct dp_worker *w = &tel_ctx->worker[i];
		struct rte_tel_data *sub = rte_tel_data_alloc();
		char name[16];

		if (!sub)
			break;
		rte_tel_data_start_dict(sub);
		rte_tel_data_add_dict_u64(sub, "lcore", w->lcore_id);
		rte_tel_data_add_dict_u64(sub, "polls", w->st.polls);
		rte_tel_data_add_dict_u64(sub, "busy_polls", w->st.busy_polls);
		rte_tel_data_add_dict_u64(sub, "idle_sleeps", w->st.idle_sleeps);
		rte_tel_data_add_dict_u64(sub, "tx_dropped", w->st.tx_dropped);
		rte_tel_data_add_dict_u64(sub, "rx_multiseg", w->st.rx_multiseg);
		rte_tel_data_add_dict_u64(sub, "l4_unhandled", w->st.l4_unhandled);
		rte_tel_data_add_dict_u64(sub, "tcp_no_route", w->st.tcp_no_route);
		rte_tel_data_add_dict_u64(sub, "neigh_relay_full", w->st.neigh_relay_full);
		snprintf(name, sizeof(name), "%u", i);
		rte_tel_data_add_dict_container(d, name, sub, 0);
	}
	pthread_mutex_unlock(&tel_lock);
	return 0;
}

#define TCP_FIELDS(X)                                                          \
	X(rx_segs) X(tx_segs) X(rx_bad_csum) X(rx_malformed) X(rx_no_conn) X(rx_paws) \
	X(rx_out_of_window) X(rx_ooo) X(rx_ooo_drop) X(rx_dup_bytes) X(challenge_acks) \
	X(challenge_ack_limited) X(rst_sent) X(rst_rcvd) X(syncookies_sent)     \
	X(syncookies_ok) X(syncookies_bad) X(listen_overflow) X(conn_limit)     \
	X(mem_limit) X(retransmits) X(rto_fired) X(fast_retransmits)            \
	X(rack_lost) X(tlp_probes) X(spurious_undos) X(dsack_rcvd) X(dsack_sent) \
	X(persist_probes) X(keepalive_probes) X(tx_errors) X(active_opens)      \
	X(passive_opens) X(conns) X(mem_used)

static int cmd_tcp(const char *cmd, const char *params, struct rte_tel_data *d)
{
	pthread_mutex_lock(&tel_lock);
	rte_tel_data_start_dict(d);
	if (tel_ctx) {
#define SUM_TCP(f)                                                             \
	{                                                                      \
		uint64_t v = 0;                                                \
		for (unsigned i = 0; i < tel_ctx->nworkers; i++)               \
			v += tcps_stack_stats(tel_ctx->worker[i].tcp)->f;      \
		rte_tel_data_add_dict_u64(d, #f, v);                           \
	}
		TCP_FIELDS(SUM_TCP)
#undef SUM_TCP
	}
	pthread_mutex_unlock(&tel_lock);
	return 0;
}

void dp_telemetry_init(struct dp_ctx *ctx)
{
	pthread_mutex_lock(&tel_lock);
	tel_ctx = ctx;
	pthread_mutex_unlock(&tel_lock);
	rte_telemetry_register_cmd("/mxgate/ports", cmd_ports,
				   "Ports: id, PMD, MAC, addresses. No parameters");
	rte_telemetry_register_cmd("/mxgate/stats", cmd_stats,
				   "Per-port counters and drops by reason. No parameters");
	rte_telemetry_register_cmd("/mxgate/tcp", cmd_tcp,
				   "TCP counters summed over workers. No parameters");
	rte_telemetry_register_cmd("/mxgate/workers", cmd_workers,
				   "Per-worker loop counters. No parameters");
}

void dp_telemetry_fini(void)
{
	pthread_mutex_lock(&tel_lock);
	tel_ctx = NULL;
	pthread_mutex_unlock(&tel_lock);
}
