/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_smtp.h - the SMTP scanning proxy of the dataplane (issue 4).
 *
 * Each worker runs its own proxy: listeners on its tcps_stack, inbound
 * sessions (tcps conn <-> smtp_srv engine), a pool of downstream sessions
 * (tcps_connect <-> smtp_cli engine), and STARTTLS through dp_tls. Nothing
 * is shared between workers except the read-only struct dp_smtp_conf and
 * the compiled lists/TLS context built once at start (dp_smtp.c).
 *
 * This header has no DPDK include on purpose: dp.h embeds struct
 * dp_smtp_conf by value in struct dp_conf, so the configuration stays plain
 * data owned by dp_conf (no allocation to free on the error paths of main).
 */
#ifndef DP_SMTP_H
#define DP_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxg_addr.h"
#include "mxg_conf.h"
#include "mxg_time.h"

#define DP_SMTP_MAX_ADDRS 8  /* proxy_smtp_server_ip entries */
#define DP_SMTP_MAX_PORTS 8  /* proxy_smtp_ports entries */

enum dp_smtp_ds_tls {
	DP_SMTP_DS_TLS_NONE = 0,      /* never STARTTLS downstream */
	DP_SMTP_DS_TLS_OPPORTUNISTIC, /* STARTTLS when offered */
	DP_SMTP_DS_TLS_REQUIRED,      /* fail (4xx) when not offered */
};

/* The [smtp] section, parsed and validated (dp_smtp_conf.c). Lists are kept
 * as text and compiled per process in dp_smtp.c. */
struct dp_smtp_conf {
	bool enabled;                      /* an [smtp] section exists and enable = yes */
	char hostname[256];                /* greeting, EHLO downstream */
	unsigned naddrs;
	struct mxg_ip addr[DP_SMTP_MAX_ADDRS]; /* listen addresses (all-zero: any) */
	unsigned nports;
	uint16_t port[DP_SMTP_MAX_PORTS];  /* scanning ports [25, 10025] */
	uint16_t reprocess_port;           /* 10024; 0: off */
	char allow_client_ip[8192];        /* smtp_allow_client_ip */
	char local_domains[4096];
	char known_hosts[4096];
	bool proxy_protocol;               /* PROXY header expected from known_hosts */
	struct mxg_ip ds_addr;             /* downstream_smtp_server_addr (resolved) */
	char ds_name[256];                 /* the host name given, "" for an address */
	uint16_t ds_port;                  /* downstream_smtp_server_port [10026] */
	enum dp_smtp_ds_tls ds_tls;
	bool xforward;                     /* XFORWARD to the downstream [yes] */
	uint32_t ds_conns_max;             /* downstream sessions per worker [64] */
	mxg_tstamp ds_idle;                /* pooled session idle time [30 s] */
	mxg_tstamp ds_connect_tmo;         /* TCP + greeting + EHLO [30 s] */
	mxg_tstamp ds_reply_tmo;           /* [300 s] */
	mxg_tstamp ds_eod_tmo;             /* [600 s] */
	uint64_t msg_size_max;             /* [52428800] */
	uint32_t rcpt_max;                 /* [1000] */
	uint32_t line_max;                 /* [2048] */
	uint32_t sessions_max;             /* per worker [1000] */
	uint32_t sessions_per_ip;          /* per worker and client IP [50] */
	uint32_t errors_max;               /* [20] */
	uint32_t commands_max;             /* [10000] */
	mxg_tstamp tmo_greeting, tmo_command, tmo_data;
	bool starttls;                     /* offer STARTTLS [yes] */
	char tls_cert[256], tls_key[256];  /* PEM files; empty: self-signed at start */
	char tls_ciphers[512];             /* TLS <= 1.2 cipher list ("" : OpenSSL's) */
	int tls_min_version;               /* 12 or 13 [12] */
	mxg_tstamp rcpt_cache_ttl;         /* downstream refusals remembered [600 s] */
	uint64_t hold_memory_max;          /* messages held per worker [1024 MiB] */
	/* Throttling per client IP and worker (dp_smtp.c, SENDER FILTER). */
	mxg_tstamp thr_window;             /* throttle_window [60 s] */
	uint32_t thr_conns;                /* throttle_connections per window [0: off] */
	uint32_t thr_msgs;                 /* throttle_messages (MAIL) [0: off] */
	uint32_t thr_rcpts;                /* throttle_recipients [0: off] */
	uint32_t thr_slots;                /* throttle_table_size, a power of 2 [8192] */
	/* Email reputation (DNSBL, asked through mxgate-control). */
	mxg_tstamp dnsbl_hold;             /* dnsbl_hold_ms: greeting/command held at most [2000] */
};

/* Reads the [smtp] section of |mc| into |c| (every key marked used).
 * Returns 0, or a negative MXG_E_* code with "FILE:LINE: key: message" in
 * |err|. Without an [smtp] section, c->enabled is false. */
int dp_smtp_conf_load(struct mxg_conf *mc, struct dp_smtp_conf *c, char *err, size_t errlen);

struct dp_ctx;
struct dp_worker;

/* Starts the proxy of |w| (called from tcp_init, on the main lcore, after
 * w->tcp exists): compiles the lists and TLS context on first use, opens the
 * listeners. Returns 0 (also when SMTP is disabled) or a negative MXG_E_*. */
int dp_smtp_worker_start(struct dp_ctx *ctx, struct dp_worker *w);
/* Frees every session of |w| (no traffic is sent: the stack goes away
 * right after). NULL-safe on w->smtp. */
void dp_smtp_worker_stop(struct dp_worker *w);
/* Frees what dp_smtp_worker_start built once (after every worker stopped). */
void dp_smtp_fini(void);
/* A quarantine answer from the control channel for a session of |w|
 * (dp_ctl_poll's callback; dp_smtp_pol.c). */
struct dp_ctl_ack;
void dp_smtp_pol_ack(struct dp_worker *w, const struct dp_ctl_ack *a, mxg_tstamp now);
/* Engine timeouts and pool maintenance of |w|; the worker calls it when
 * now >= w->smtp_deadline, and it sets the next deadline. */
void dp_smtp_on_timer(struct dp_worker *w, mxg_tstamp now);

#endif
