/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl.h - the state of one mxgate-control process, shared by its modules.
 *
 * One event loop (libevent) owns everything: the HTTPS API (ctl_http.c,
 * ctl_api_*.c), the asynchronous PostgreSQL connection (ctl_db.c) and the
 * timers (heartbeat, maintenance). No threads, hence no locks.
 */
#ifndef CTL_H
#define CTL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define CTL_VERSION "0.1.0"
#define CTL_TOKEN_HASH_LEN 32 /* SHA-256 */

struct event_base;
struct event;
struct ctl_db;
struct ctl_http;
struct ctl_smtp;
struct ctl_notify;
struct ctl_chan;
struct ctl_prof;
struct ctl_dnsbl;

/* The [control] section of the configuration file (ctl_conf.c). */
struct ctl_conf {
	char state_dir[PATH_MAX]; /* state_dir: pgdata, run, tls, admin.token */
	bool internal;            /* database = internal */
	char *dsn;                /* external DSN (secret: never logged); NULL if internal */
	char api_host[256];       /* api_listen address part (IPv6 without []) */
	unsigned api_port;        /* api_listen port */
	char tls_cert[PATH_MAX];  /* "" = generated in state_dir/tls */
	char tls_key[PATH_MAX];
	int log_level;            /* mxg_log_level */
	unsigned pg_port;         /* internal cluster's socket port (.s.PGSQL.N) */
	char user[64];            /* unprivileged user for PostgreSQL and for us */
	char node_name[64];       /* this node's name in the nodes table */
	unsigned start_timeout;   /* seconds to wait for the database at start */
	char channel_socket[108]; /* control channel (Unix socket, sun_path) */
	char release_host[256];   /* release_smtp: released quarantine goes here */
	unsigned release_port;
	char notify_host[256];    /* notify_smtp: notifications go here */
	unsigned notify_port;
	char notify_from[256];    /* notify_from: From: of notifications */
	char admin_address[256];  /* admin_address: "admin" notifications ("" none) */
	unsigned notify_concurrency; /* notifications in flight at most */
	unsigned notify_queue;    /* notifications waiting at most (then dropped) */
};

/* The process. Fields written only from the event loop. */
struct ctl {
	struct ctl_conf conf;
	char conninfo[PATH_MAX + 256]; /* libpq conninfo (may hold a password) */
	struct event_base *base;
	struct ctl_db *db;             /* runtime connection */
	struct ctl_http *http;         /* HTTPS API */
	struct ctl_smtp *smtp;         /* outgoing SMTP sessions (ctl_smtp.c) */
	struct ctl_notify *notify;     /* notification queue (ctl_notify.c) */
	struct ctl_chan *chan;         /* control channel to the dataplanes */
	struct ctl_prof *prof;         /* IP profiler (ctl_prof.c) */
	struct ctl_dnsbl *dnsbl;       /* DNSBL lookups (ctl_dnsbl.c) */
	uint8_t (*tokens)[CTL_TOKEN_HASH_LEN]; /* admin token hashes (cache) */
	size_t ntokens;
	int64_t policy_version;        /* last seen (NOTIFY or query) */
	time_t started;
	struct event *ev_timer;        /* heartbeat + maintenance */
	unsigned ticks;                /* heartbeat count */
	bool token_refresh_busy;       /* a token reload query is in flight */
	bool ready;                    /* "ready" printed (first connection up) */
};

#endif
