/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_db.h - the control plane's asynchronous PostgreSQL connection.
 *
 * One libpq connection driven by the event loop (PQconnectStart/Poll,
 * PQsendQueryParams, PQconsumeInput on read events of PQsocket, PQflush on
 * write events). Queries queue and run one at a time, in order. The
 * connection LISTENs on "mxg_policy", "mxg_blocklist" and "mxg_settings" and
 * reports notifications.
 *
 * Health: "db_ok" (ctl_db_ok) is true only while the connection is up and
 * set up. When it breaks, every queued query fails with CTL_DB_DOWN at once
 * (the API answers 503, the dataplane will answer 4xx), and reconnection is
 * retried with exponential backoff (250 ms doubling to 5 s) without
 * limit. A ping every 5 s finds a dead peer when nothing else is running.
 */
#ifndef CTL_DB_H
#define CTL_DB_H

#include <stdbool.h>

#include <libpq-fe.h>

struct event_base;
struct ctl_db;

enum ctl_db_status {
	CTL_DB_OK = 0,    /* res holds the (last) result: TUPLES_OK or COMMAND_OK */
	CTL_DB_SQL = 1,   /* the server refused the query: res is the error result */
	CTL_DB_DOWN = 2,  /* no connection, or it broke before the answer: res NULL */
};

/* Query completion. |res| is borrowed (cleared after the call). The callback
 * may submit new queries. */
typedef void (*ctl_db_cb)(enum ctl_db_status st, PGresult *res, void *ud);

struct ctl_db_hooks {
	void (*on_state)(bool up, void *ud);  /* connection became usable / broke */
	void (*on_notify)(const char *channel, const char *payload, void *ud);
	void *ud;
};

/* Creates the connection object and starts connecting. |conninfo| is copied
 * (and wiped at free: it may hold a password). Returns NULL on ENOMEM. */
struct ctl_db *ctl_db_new(struct event_base *base, const char *conninfo,
			  const struct ctl_db_hooks *hooks);
void ctl_db_free(struct ctl_db *db);

/* True while the connection is up (the "db_ok" health flag). */
bool ctl_db_ok(const struct ctl_db *db);

/* Queues |sql| with |n| text parameters (copied; NULL = SQL NULL). |binary|
 * asks for binary results. Returns 0: |cb| then runs exactly once (normally
 * later; from inside this call if the connection breaks while sending), so
 * |ud| belongs to the callback from then on. Returns MXG_E_AGAIN if the
 * database is down, or MXG_E_NOMEM: |cb| will not run. */
int ctl_db_query(struct ctl_db *db, const char *sql, int n, const char *const *params,
		 bool binary, ctl_db_cb cb, void *ud);

/* The same with sized parameters: |lengths|[i] bytes of params[i] are
 * copied (NUL bytes allowed), sent as text (|formats|[i] 0) or binary (1;
 * e.g. a bytea). |formats| NULL: all text. */
int ctl_db_query_sized(struct ctl_db *db, const char *sql, int n, const char *const *params,
		       const int *lengths, const int *formats, bool binary, ctl_db_cb cb,
		       void *ud);

#endif
