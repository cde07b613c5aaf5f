/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_db.c - asynchronous libpq on libevent (see ctl_db.h).
 *
 * States: DOWN (retry timer armed) -> CONNECTING (PQconnectPoll driven by
 * one-shot events, since libpq may change sockets while it tries hosts) ->
 * SETUP (LISTEN + session settings) -> UP. Any failure returns to DOWN.
 *
 * Why not one connection per request or a pool: the control plane's API is
 * low-rate administration, and one ordered connection makes "a change, then
 * its NOTIFY" trivially consistent. The dataplane's record stream will get
 * its own connection with batching (issue 6, tracking ingest).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "ctl_db.h"
#include "mxg_err.h"
#include "mxg_log.h"

#define COMP "db"
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
#define PING_MS 5000
#define CONNECT_TIMEOUT_MS 10000

enum db_state { DB_DOWN, DB_CONNECTING, DB_SETUP, DB_UP };

struct query {
	TAILQ_ENTRY(query) link;
	char *sql;
	int n;
	char **params;
	int *lengths;                  /* NULL: text parameters (strings) */
	int *formats;
	bool binary;
	ctl_db_cb cb;
	void *ud;
};

struct ctl_db {
	struct event_base *base;
	char *conninfo;                /* secret */
	PGconn *conn;
	enum db_state st;
	struct event *ev_read;         /* persistent, while SETUP/UP */
	struct event *ev_write;        /* one-shot: PQflush pending */
	struct event *ev_conn;         /* one-shot: PQconnectPoll wants I/O */
	struct event *ev_retry;        /* reconnect timer / connect timeout */
	struct event *ev_ping;         /* keepalive */
	unsigned backoff_ms;
	TAILQ_HEAD(, query) q;         /* waiting, in order */
	struct query *cur;             /* sent, awaiting results */
	PGresult *res;                 /* result kept for cur */
	struct ctl_db_hooks hooks;
	bool logged_down;              /* the current outage has been logged */
};

static void start_connect(struct ctl_db *db);
static void kick(struct ctl_db *db);

static void query_free(struct query *q)
{
	if (!q)
		return;
	for (int i = 0; i < q->n; i++)
		free(q->params[i]);
	free(q->params);
	free(q->lengths);
	free(q->formats);
	free(q->sql);
	free(q);
}

static void tv_ms(struct timeval *tv, unsigned ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* Drops the connection: fails every query, schedules a reconnect. */
static void lost(struct ctl_db *db, const char *why)
{
	struct timeval tv;
	struct query *q;
	bool was_up = db->st == DB_UP;

	if (!db->logged_down) {
		MXG_WARN(COMP, "database connection lost: %s", why);
		db->logged_down = true;
	}
	if (db->ev_read) {
		event_free(db->ev_read);
		db->ev_read = NULL;
	}
	if (db->ev_write) {
		event_free(db->ev_write);
		db->ev_write = NULL;
	}
	if (db->ev_conn) {
		event_free(db->ev_conn);
		db->ev_conn = NULL;
	}
	if (db->conn) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	db->st = DB_DOWN;
	if (db->res) {
		PQclear(db->res);
		db->res = NULL;
	}
	/* fail everything: callers answer 503 now rather than hang */
	if ((q = db->cur)) {
		db->cur = NULL;
		q->cb(CTL_DB_DOWN, NULL, q->ud);
		query_free(q);
	}
	while ((q = TAILQ_FIRST(&db->q))) {
		TAILQ_REMOVE(&db->q, q, link);
		q->cb(CTL_DB_DOWN, NULL, q->ud);
		query_free(q);
	}
	if (was_up && db->hooks.on_state)
		db->hooks.on_state(false, db->hooks.ud);
	tv_ms(&tv, db->backoff_ms);
	MXG_DEBUG(COMP, "reconnecting in %u ms", db->backoff_ms);
	db->backoff_ms = db->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
							     : db->backoff_ms * 2;
	evtimer_add(db->ev_retry, &tv);
}

static void drain_notifies(struct ctl_db *db)
{
	PGnotify *n;

	while ((n = PQnotifies(db->conn))) {
		if (db->hooks.on_notify)
			db->hooks.on_notify(n->relname, n->extra, db->hooks.ud);
		PQfreemem(n);
	}
}

static void flush(struct ctl_db *db)
{
	int r = PQflush(db->conn);

	if (r < 0) {
		lost(db, PQerrorMessage(db->conn));
		return;
	}
	if (r == 1)
		event_add(db->ev_write, NULL);
}

/* Collects results of the current query while libpq has them complete. */
static void collect(struct ctl_db *db)
{
	while (db->cur && !PQisBusy(db->conn)) {
		PGresult *r = PQgetResult(db->conn);
		struct query *q;
		enum ctl_db_status st;

		if (r) {
			/* keep the first error, else the last result */
			if (!db->res || PQresultStatus(db->res) == PGRES_COMMAND_OK ||
			    PQresultStatus(db->res) == PGRES_TUPLES_OK) {
				PQclear(db->res);
				db->res = r;
			} else {
				PQclear(r);
			}
			continue;
		}
		q = db->cur;
		db->cur = NULL;
		st = db->res && (PQresultStatus(db->res) == PGRES_TUPLES_OK ||
				 PQresultStatus(db->res) == PGRES_COMMAND_OK) ? CTL_DB_OK
									     : CTL_DB_SQL;
		r = db->res;
		db->res = NULL;
		q->cb(st, r, q->ud);
		PQclear(r);
		query_free(q);
		if (db->st == DB_DOWN || !db->conn)
			return; /* the callback noticed the connection died */
		kick(db);
	}
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_db *db = arg;

	if (!PQconsumeInput(db->conn) || PQstatus(db->conn) == CONNECTION_BAD) {
		lost(db, PQerrorMessage(db->conn));
		return;
	}
	drain_notifies(db);
	collect(db);
	if (db->conn && !db->cur)
		drain_notifies(db);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	flush(arg);
}

/* Sends the next queued query if none is in flight. */
static void kick(struct ctl_db *db)
{
	struct query *q;

	if (db->cur || !db->conn || (db->st != DB_UP && db->st != DB_SETUP))
		return;
	q = TAILQ_FIRST(&db->q);
	if (!q)
		return;
	TAILQ_REMOVE(&db->q, q, link);
	db->cur = q;
	/* Without parameters, the simple protocol: it allows several
	 * statements in one string (the session setup uses that). */
	if (!(q->n == 0 && !q->binary ? PQsendQuery(db->conn, q->sql)
				       : PQsendQueryParams(db->conn, q->sql, q->n, NULL,
							   (const char *const *)q->params,
							   q->lengths, q->formats,
							   q->binary ? 1 : 0))) {
		lost(db, PQerrorMessage(db->conn));
		return;
	}
	flush(db);
}

static int enqueue(struct ctl_db *db, const char *sql, int n, const char *const *params,
		   const int *lengths, const int *formats, bool binary, ctl_db_cb cb, void *ud,
		   bool front)
{
	struct query *q = calloc(1, sizeof(*q));

	if (!q)
		return MXG_E_NOMEM;
	q->sql = strdup(sql);
	q->params = calloc(n ? (size_t)n : 1, sizeof(char *));
	if (!q->sql || !q->params)
		goto nomem;
	if (lengths) {
		q->lengths = calloc(n ? (size_t)n : 1, sizeof(int));
		q->formats = calloc(n ? (size_t)n : 1, sizeof(int));
		if (!q->lengths || !q->formats)
			goto nomem;
	}
	for (q->n = 0; q->n < n; q->n++) {
		const char *p = params[q->n];

		if (!p)
			continue;
		if (!lengths) {
			if (!(q->params[q->n] = strdup(p)))
				goto nomem;
			continue;
		}
		/* sized (maybe binary): copied as is, with a NUL for text */
		q->lengths[q->n] = lengths[q->n];
		q->formats[q->n] = formats ? formats[q->n] : 0;
		if (!(q->params[q->n] = malloc((size_t)lengths[q->n] + 1)))
			goto nomem;
		memcpy(q->params[q->n], p, (size_t)lengths[q->n]);
		q->params[q->n][lengths[q->n]] = '\0';
	}
	q->binary = binary;
	q->cb = cb;
	q->ud = ud;
	if (front)
		TAILQ_INSERT_HEAD(&db->q, q, link);
	else
		TAILQ_INSERT_TAIL(&db->q, q, link);
	return 0;
nomem:
	query_free(q);
	return MXG_E_NOMEM;
}

static void on_setup(enum ctl_db_status st, PGresult *res, void *ud)
{
	struct ctl_db *db = ud;

	if (st != CTL_DB_OK) {
		if (st == CTL_DB_SQL)
			lost(db, PQresultErrorMessage(res));
		return;
	}
	db->st = DB_UP;
	db->backoff_ms = BACKOFF_MIN_MS;
	MXG_NOTICE(COMP, "database connection %s", db->logged_down ? "restored" : "up");
	db->logged_down = false;
	if (db->hooks.on_state)
		db->hooks.on_state(true, db->hooks.ud);
}

static void on_notice(void *arg, const char *msg)
{
	MXG_DEBUG(COMP, "server: %.*s", (int)strcspn(msg, "\n"), msg);
}

static void connected(struct ctl_db *db)
{
	int fd = PQsocket(db->conn);

	PQsetNoticeProcessor(db->conn, on_notice, NULL);
	evtimer_del(db->ev_retry);
	PQsetnonblocking(db->conn, 1);
	db->ev_read = event_new(db->base, fd, EV_READ | EV_PERSIST, on_read, db);
	db->ev_write = event_new(db->base, fd, EV_WRITE, on_write, db);
	if (!db->ev_read || !db->ev_write) {
		lost(db, "out of memory");
		return;
	}
	event_add(db->ev_read, NULL);
	db->st = DB_SETUP;
	/* ahead of anything queued: LISTEN before the first change is read */
	if (enqueue(db, "LISTEN mxg_policy; LISTEN mxg_blocklist; LISTEN mxg_settings; "
			"SET statement_timeout = '30s'; "
			"SET application_name = 'mxgate-control'",
		    0, NULL, NULL, NULL, false, on_setup, db, true) != 0) {
		lost(db, "out of memory");
		return;
	}
	kick(db);
}

static void on_conn_io(evutil_socket_t fd, short what, void *arg);

static void poll_connect(struct ctl_db *db)
{
	PostgresPollingStatusType p = PQconnectPoll(db->conn);
	short ev;

	if (db->ev_conn) {
		event_free(db->ev_conn);
		db->ev_conn = NULL;
	}
	switch (p) {
	case PGRES_POLLING_OK:
		connected(db);
		return;
	case PGRES_POLLING_FAILED:
		lost(db, PQerrorMessage(db->conn));
		return;
	case PGRES_POLLING_READING:
		ev = EV_READ;
		break;
	default:
		ev = EV_WRITE;
		break;
	}
	db->ev_conn = event_new(db->base, PQsocket(db->conn), ev, on_conn_io, db);
	if (!db->ev_conn) {
		lost(db, "out of memory");
		return;
	}
	event_add(db->ev_conn, NULL);
}

static void on_conn_io(evutil_socket_t fd, short what, void *arg)
{
	poll_connect(arg);
}

static void start_connect(struct ctl_db *db)
{
	struct timeval tv;

	db->conn = PQconnectStart(db->conninfo);
	if (!db->conn || PQstatus(db->conn) == CONNECTION_BAD) {
		lost(db, db->conn ? PQerrorMessage(db->conn) : "out of memory");
		return;
	}
	db->st = DB_CONNECTING;
	/* libpq's connect_timeout does not apply to PQconnectPoll: ours does */
	tv_ms(&tv, CONNECT_TIMEOUT_MS);
	evtimer_add(db->ev_retry, &tv);
	poll_connect(db);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_db *db = arg;

	if (db->st == DB_CONNECTING) {
		lost(db, "connection attempt timed out");
		return;
	}
	if (db->st == DB_DOWN)
		start_connect(db);
}

static void on_ping_done(enum ctl_db_status st, PGresult *res, void *ud)
{
}

static void on_ping(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_db *db = arg;

	if (db->st == DB_UP && !db->cur && TAILQ_EMPTY(&db->q))
		ctl_db_query(db, "SELECT 1", 0, NULL, false, on_ping_done, NULL);
}

struct ctl_db *ctl_db_new(struct event_base *base, const char *conninfo,
			  const struct ctl_db_hooks *hooks)
{
	struct ctl_db *db = calloc(1, sizeof(*db));
	struct timeval tv;

	if (!db)
		return NULL;
	db->base = base;
	db->conninfo = strdup(conninfo);
	db->ev_retry = evtimer_new(base, on_retry, db);
	db->ev_ping = event_new(base, -1, EV_PERSIST, on_ping, db);
	if (!db->conninfo || !db->ev_retry || !db->ev_ping) {
		ctl_db_free(db);
		return NULL;
	}
	if (hooks)
		db->hooks = *hooks;
	db->backoff_ms = BACKOFF_MIN_MS;
	TAILQ_INIT(&db->q);
	tv_ms(&tv, PING_MS);
	event_add(db->ev_ping, &tv);
	start_connect(db);
	return db;
}

void ctl_db_free(struct ctl_db *db)
{
	if (!db)
		return;
	db->hooks.on_state = NULL; /* no callbacks into a process shutting down */
	if (db->conn || db->cur || !TAILQ_EMPTY(&db->q)) {
		db->logged_down = true;
		lost(db, "shutting down");
	}
	if (db->ev_retry)
		event_free(db->ev_retry);
	if (db->ev_ping)
		event_free(db->ev_ping);
	if (db->conninfo) {
		explicit_bzero(db->conninfo, strlen(db->conninfo));
		free(db->conninfo);
	}
	free(db);
}

bool ctl_db_ok(const struct ctl_db *db)
{
	return db && db->st == DB_UP;
}

int ctl_db_query(struct ctl_db *db, const char *sql, int n, const char *const *params,
		 bool binary, ctl_db_cb cb, void *ud)
{
	return ctl_db_query_sized(db, sql, n, params, NULL, NULL, binary, cb, ud);
}

int ctl_db_query_sized(struct ctl_db *db, const char *sql, int n, const char *const *params,
		       const int *lengths, const int *formats, bool binary, ctl_db_cb cb,
		       void *ud)
{
	int rc;

	if (db->st != DB_UP)
		return MXG_E_AGAIN;
	rc = enqueue(db, sql, n, params, lengths, formats, binary, cb, ud, false);
	if (rc == 0)
		kick(db);
	return rc;
}
