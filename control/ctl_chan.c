/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_chan.c - the control channel, mxgate-control's end (see ctl_chan.h).
 *
 * CONNECTIONS. One struct conn per accepted dataplane: a bufferevent (its
 * output is bounded: a dataplane that stops reading is disconnected rather
 * than allowed to pin memory), a struct mxg_chan_rx reassembling frames,
 * and the quarantine requests waiting for the database. A connection is
 * never freed while its frames are being handled: conn_fail() marks it and
 * the read callback frees it on the way out, so a database callback or a
 * full output buffer cannot pull the buffer from under the frame parser.
 * The first frame must be HELLO. Any malformed frame closes the connection
 * with a log line naming the frame type and the field, and is counted.
 *
 * POLICY. The snapshot text is kept once, reference counted, and handed to
 * every connection's output with evbuffer_add_reference (a 10 MB policy is
 * not copied per dataplane). One query at a time: a change announced while
 * one runs sets pol_again and exactly one more runs after it. A connection
 * gets the snapshot on HELLO (the cached one at once, then the fresh one if
 * it differs) and every new version after; sent is per connection, so a
 * reconnecting dataplane does not cause a resend to the others.
 *
 * QUARANTINE. A quar_req lives from the QUAR frame to the database callback
 * and is linked to its connection; a connection closing detaches its
 * requests (conn = NULL), whose answers are then dropped. The database
 * connection is dedicated (ctl_db queues in order: a burst of quarantines
 * is served first come, first served, never behind tracking).
 *
 * BLOCKLIST. The same scheme as the policy for the sender blocklist
 * (issue 7), the same code too: a struct doc each (frame type, SQL, cache,
 * query state, retry timer, the struct conn field holding the version
 * sent) and the doc_* functions. mxg_blocklist_snapshot() read on the main
 * connection after NOTIFY mxg_blocklist (coalesced: one query in flight, at
 * most one more after it), cached reference counted, sent on HELLO and to
 * every connection whose bl_sent differs. Its own: the same version with
 * another text is sent again (same_text), and a timer set to the earliest
 * expires_at (on_row) deletes expired rows (mxg_blocklist_purge()), which
 * bumps the version and pushes the list without them; the dataplane
 * expires them on its own at the deadline meanwhile.
 *
 * TRACKING. A TRACK frame is parsed and checked here (types, uuid, IP
 * address, timestamp) so that the SQL cannot fail on a value; the text
 * itself, not a re-serialisation, is queued (a record without "node" gets
 * the connection's, the only rewrite). A flush joins up to flush_recs
 * records (at most 5,000 rows) into one JSON array, one parameter, and
 * expands it in SQL: json_array_elements for the messages, a LATERAL
 * jsonb_array_elements for their recipients, one row each. The records stay
 * in the in-flight list until the result: success frees them, "database
 * down" puts them back at the head of the queue in order, and an SQL error
 * halves flush_recs (bisection; a single failing record is dropped, logged
 * and counted, then the size doubles back with every success).
 *
 * Partitions: ts comes from the dataplane's clock. A row whose UTC day has
 * no message_log partition (clock skew, or a record held across midnight
 * during an outage older than "yesterday") is stored at now() with the
 * dataplane's time kept in timings.ts_dataplane rather than failing the
 * batch. If even that fails for want of a partition (maintenance has not
 * run for days), mxg_maintain() is run once before the batch is retried.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <libpq-fe.h>

#include "ctl_chan.h"
#include "ctl_db.h"
#include "ctl_pg.h"
#include "mxg_chan.h"
#include "mxg_err.h"
#include "mxg_log.h"
#include "mxg_time.h"

#include "ctl_dnsbl.h"
#include "ctl_notify.h"
#include "ctl_prof.h"

#define COMP "chan"

#define OUT_MAX ((size_t)MXG_CHAN_FRAME_MAX * 2) /* unsent bytes per connection */
#define SMALL_FRAME_MAX (64u * 1024)             /* HELLO, POLICY_ACK */
#define TRACK_FRAME_MAX (4u * 1024 * 1024)
#define TRACK_BATCH 500                          /* rows that trigger a flush */
#define TRACK_FLUSH_MAX 5000                     /* rows per INSERT at most */
#define TRACK_DELAY_MS 100                       /* oldest record's wait at most */
#define TRACK_QUEUE_ROWS 200000
#define TRACK_QUEUE_BYTES ((size_t)256 * 1024 * 1024)
#define QUAR_INFLIGHT_BYTES ((size_t)512 * 1024 * 1024)
#define POLICY_RETRY_S 5
#define LOG_EVERY_S 60
#define TS_MAX 1e10 /* year 2286: anything later is a broken clock */

/* ---------------------------------------------------------------- SQL */

#define POLICY_SQL "SELECT s::text, (s->>'version')::bigint FROM mxg_policy_snapshot() s"

/* The snapshot, its version and the earliest expiry (epoch s, NULL none). */
#define BLOCKLIST_SQL                                                                    \
	"SELECT s::text, (s->>'version')::bigint, (SELECT extract(epoch FROM "              \
	"min(expires_at))::float8 FROM blocklist WHERE expires_at IS NOT NULL) "            \
	"FROM mxg_blocklist_snapshot() s"

/* $1 metadata (jsonb, checked), $2 the message (bytea, binary). Index keys
 * are cut to 500 characters: a btree entry must fit a third of a page. */
#define QUAR_SQL                                                                          \
	"INSERT INTO quarantine (expires_at, node, area, reason, rule_id, rule_name, "      \
	"policy_version, client_ip, sender, recipients, subject, message_id, size, message) " \
	"SELECT now() + make_interval(days => COALESCE((SELECT value::text::integer "     \
	"FROM settings WHERE key = 'quarantine_retention_days'), 30)), "                   \
	"COALESCE(m->>'node', ''), COALESCE(NULLIF(m->>'area', ''), 'default'), "          \
	"COALESCE(m->>'reason', ''), (m->>'rule_id')::bigint, m->>'rule_name', "           \
	"(m->>'policy_version')::bigint, NULLIF(m->>'client_ip', '')::inet, "              \
	"left(COALESCE(m->>'sender', ''), 500), "                                          \
	"ARRAY(SELECT left(r, 500) FROM jsonb_array_elements_text("                        \
	"COALESCE(m->'recipients', '[]')) r), "                                            \
	"COALESCE(m->>'subject', ''), left(COALESCE(m->>'message_id', ''), 500), "         \
	"COALESCE((m->>'size')::bigint, octet_length($2::bytea)), $2::bytea "              \
	"FROM (SELECT $1::jsonb AS m) x RETURNING id"

/* $1: a JSON array of tracking records (checked). Parsed as json and each
 * element cast to jsonb: one 3 MB text -> jsonb cast costs ten times more
 * than 5,000 small ones. OFFSET 0 keeps the planner from inlining the casts
 * into every reference (each would parse the record again). */
#define TRACK_SQL                                                                         \
	"INSERT INTO message_log (ts, msg_uuid, node, direction, client_ip, helo, sender, " \
	"recipient, subject, message_id, size, verdict, verdicts, rule_id, rule_name, "     \
	"action, downstream_reply, timings, policy_version, quarantine_id) "                \
	"SELECT CASE WHEN m.part THEN m.t ELSE now() END, (m.j->>'uuid')::uuid, "          \
	"COALESCE(m.j->>'node', ''), COALESCE(r->>'direction', 'inbound'), "              \
	"NULLIF(m.j->>'client_ip', '')::inet, COALESCE(m.j->>'helo', ''), "               \
	"left(COALESCE(m.j->>'sender', ''), 500), left(COALESCE(r->>'rcpt', ''), 500), "  \
	"COALESCE(m.j->>'subject', ''), left(COALESCE(m.j->>'message_id', ''), 500), "    \
	"COALESCE((m.j->>'size')::bigint, 0), left(COALESCE(r->>'verdict', 'clean'), 100), " \
	"COALESCE(m.j->'verdicts', '{}'), (r->>'rule_id')::bigint, r->>'rule_name', "     \
	"COALESCE(r->>'action', 'deliver'), COALESCE(r->>'downstream_reply', ''), "       \
	"CASE WHEN m.part THEN COALESCE(m.j->'timings', '{}') ELSE "                       \
	"COALESCE(m.j->'timings', '{}') || jsonb_build_object('ts_dataplane', m.j->'ts') END, " \
	"(m.j->>'policy_version')::bigint, (r->>'quarantine_id')::bigint "                \
	"FROM (SELECT j, t, to_regclass('message_log_p' || to_char(t AT TIME ZONE 'UTC', " \
	"'YYYYMMDD')) IS NOT NULL AS part FROM (SELECT j, to_timestamp((j->>'ts')::float8) " \
	"AS t FROM (SELECT e::jsonb AS j FROM json_array_elements($1::json) e OFFSET 0) x " \
	"OFFSET 0) y OFFSET 0) m "                                                         \
	"CROSS JOIN LATERAL jsonb_array_elements(m.j->'recipients') r"

/* -------------------------------------------------------------- types */

struct snap {
	unsigned refs;
	int64_t version;
	size_t len;
	char text[];
};

struct conn;

struct quar_req {
	TAILQ_ENTRY(quar_req) link; /* on conn->quars while conn is set */
	struct ctl_chan *ch;
	struct conn *conn;          /* NULL once the connection is gone */
	uint64_t req;
	size_t bytes;
};

struct conn {
	TAILQ_ENTRY(conn) link;
	struct ctl_chan *ch;
	struct bufferevent *bev;
	struct mxg_chan_rx rx;
	TAILQ_HEAD(, quar_req) quars;
	unsigned id;                /* serial, for the logs */
	bool hello;
	char node[64];
	char version[32];
	json_int_t pid;
	int64_t running;            /* policy version acknowledged; -1 none */
	int64_t sent;               /* last policy version sent; -1 none */
	int64_t bl_sent;            /* last blocklist version sent; -1 none */
	char policy_error[160];     /* last rejection, "" if none */
	time_t since;
	uint64_t track_rx, track_dropped, quar_stored, quar_failed;
	bool busy;                  /* inside the read callback */
	bool failed;                /* to be freed when no longer busy */
};

struct trec {
	STAILQ_ENTRY(trec) link;
	mxg_tstamp queued;
	unsigned rows;              /* recipients (at least 1 for accounting) */
	size_t len;
	char text[];
};

STAILQ_HEAD(trec_list, trec);

/* A document pushed to every dataplane: the policy snapshot, the blocklist. */
struct doc {
	struct ctl_chan *ch;
	enum mxg_chan_type type;    /* its frame */
	const char *name;           /* for the logs */
	const char *sql;            /* text, version[, on_row's columns] */
	size_t sent_off;            /* of the int64_t version sent in struct conn */
	enum mxg_log_level sent_lvl; /* of the "sent" line */
	bool same_text;             /* the same version may change text: compare it */
	bool retry_if_waiting;      /* after a failure, only if a dataplane lacks it */
	void (*on_row)(struct ctl_chan *ch, PGresult *res); /* extra columns, or NULL */
	struct snap *snap;          /* the current one, NULL none yet */
	bool busy, again;           /* one query at a time, at most one more after */
	struct event *ev_retry;
	time_t err_logged;
};

struct ctl_chan {
	struct ctl *c;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	bool bound;
	struct evconnlistener *lev;
	struct event *ev_accept_retry;
	struct ctl_db *tdb;         /* tracking */
	struct ctl_db *qdb;         /* quarantine */
	TAILQ_HEAD(, conn) conns;
	unsigned nconns, serial;
	bool closing;

	struct doc pol;             /* the policy snapshot */
	struct doc bl;              /* the blocklist */
	struct event *ev_bl_expire;

	/* tracking */
	struct trec_list tq;        /* queued, oldest first */
	struct trec_list tfl;       /* in flight */
	size_t tq_rows, tq_bytes, tfl_rows, tfl_bytes, tfl_recs;
	unsigned flush_recs;        /* records per flush (bisection) */
	bool track_busy;
	struct event *ev_track;
	mxg_tstamp flush_started;
	time_t maint_at;            /* last mxg_maintain() after a failure */
	time_t drop_logged, reject_logged;
	uint64_t drop_since_log;

	/* counters */
	uint64_t t_records, t_rows_stored, t_dropped, t_rejected, t_batches;
	uint64_t q_stored, q_failed;
	uint64_t proto_errors, accepted;
	size_t quar_bytes;          /* message bytes waiting for the database */
};

static void conn_free(struct conn *k);
static void track_kick(struct ctl_chan *ch);
static void doc_request(struct doc *d);

static const char *type_name(unsigned t)
{
	static const char *const names[] = { "?",	 "HELLO", "POLICY",  "POLICY_ACK",
					     "TRACK", "QUAR",  "QUAR_ACK", "BLOCKLIST",
					     "DNSBL_QUERY", "DNSBL_ANSWER" };

	return t <= MXG_CHAN_TYPE_MAX ? names[t] : "?";
}

/* ------------------------------------------------------- connections */

static void conn_fail(struct conn *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs why |k| is closed, counts it, and frees it now or (inside the read
 * callback) on the way out. */
static void conn_fail(struct conn *k, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	if (k->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	k->ch->proto_errors++;
	MXG_WARN(COMP, "dataplane #%u %s[%lld]: closing: %s", k->id, k->hello ? k->node : "?",
		 (long long)k->pid, why);
	k->failed = true;
	if (!k->busy)
		conn_free(k);
}

static void conn_free(struct conn *k)
{
	struct ctl_chan *ch = k->ch;
	struct quar_req *q;

	while ((q = TAILQ_FIRST(&k->quars))) {
		TAILQ_REMOVE(&k->quars, q, link);
		q->conn = NULL; /* its answer has nowhere to go now */
	}
	TAILQ_REMOVE(&ch->conns, k, link);
	ch->nconns--;
	bufferevent_free(k->bev);
	mxg_chan_rx_free(&k->rx);
	free(k);
}

/* Room for |n| more bytes in |k|'s output? Otherwise it is closed. */
static bool conn_room(struct conn *k, size_t n)
{
	size_t have = evbuffer_get_length(bufferevent_get_output(k->bev));

	if (have + n > OUT_MAX) {
		conn_fail(k, "output buffer full (%zu bytes unsent): the dataplane is not reading",
			  have);
		return false;
	}
	return true;
}

static void snap_unref(struct snap *s)
{
	if (s && --s->refs == 0)
		free(s);
}

static void snap_cleanup(const void *data, size_t len, void *arg)
{
	snap_unref(arg);
}

static void send_quar_ack(struct conn *k, uint64_t req, bool ok, uint64_t id, const char *err)
{
	uint8_t b[MXG_CHAN_HDR_LEN + 17];
	size_t elen = ok ? 0 : strnlen(err, 200);

	if (k->failed || !conn_room(k, sizeof(b) + elen))
		return;
	mxg_chan_hdr(b, MXG_CHAN_QUAR_ACK, 17 + elen);
	mxg_chan_put64(b + MXG_CHAN_HDR_LEN, req);
	b[MXG_CHAN_HDR_LEN + 8] = ok ? 0 : 1;
	mxg_chan_put64(b + MXG_CHAN_HDR_LEN + 9, ok ? id : 0);
	if (ok)
		k->quar_stored++;
	else
		k->quar_failed++;
	if (bufferevent_write(k->bev, b, sizeof(b)) != 0 ||
	    (elen && bufferevent_write(k->bev, err, elen) != 0))
		conn_fail(k, "out of memory sending QUAR_ACK");
}

/* ------------------------------------------------------------- checks */

/* The JSON checks name the field: "recipients[2].rule_id: expected ...". */
struct jerr {
	char field[96];
	char what[48];
};

static bool jfail(struct jerr *e, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool jfail(struct jerr *e, const char *what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->field, sizeof(e->field), fmt, ap);
	va_end(ap);
	snprintf(e->what, sizeof(e->what), "%s", what);
	return false;
}

/* |key| of |o| is absent or a string (|req|: present). */
static bool j_str(json_t *o, const char *key, bool req, const char *pfx, struct jerr *e)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return !req || jfail(e, "missing", "%s%s", pfx, key);
	return json_is_string(v) || jfail(e, "expected a string", "%s%s", pfx, key);
}

/* Absent, null (when |null_ok|) or an integer >= |min|. */
static bool j_int(json_t *o, const char *key, bool null_ok, json_int_t min, const char *pfx,
		  struct jerr *e)
{
	json_t *v = json_object_get(o, key);

	if (!v || (null_ok && json_is_null(v)))
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < min) {
		jfail(e, "", "%s%s", pfx, key);
		snprintf(e->what, sizeof(e->what), "expected an integer >= %lld", (long long)min);
		return false;
	}
	return true;
}

static bool j_obj(json_t *o, const char *key, struct jerr *e)
{
	json_t *v = json_object_get(o, key);

	return !v || json_is_object(v) || jfail(e, "expected an object", "%s", key);
}

static bool ip_ok(const char *s)
{
	unsigned char b[16];

	return !*s || inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* 32 hex digits, or the 8-4-4-4-12 form. */
static bool uuid_ok(const char *s)
{
	size_t n = 0;

	for (size_t i = 0; s[i]; i++) {
		if (s[i] == '-' && (i == 8 || i == 13 || i == 18 || i == 23) && strlen(s) == 36)
			continue;
		if (!strchr("0123456789abcdefABCDEF", s[i]))
			return false;
		n++;
	}
	return n == 32;
}

static bool j_ip(json_t *o, const char *key, struct jerr *e)
{
	json_t *v = json_object_get(o, key);

	if (!j_str(o, key, false, "", e))
		return false;
	return !v || ip_ok(json_string_value(v)) ||
	       jfail(e, "not an IPv4 or IPv6 address", "%s", key);
}

static bool check_track(json_t *r, struct jerr *e)
{
	static const char *const strs[] = { "node", "helo", "sender", "subject", "message_id" };
	static const char *const rstrs[] = { "rcpt", "direction", "action", "verdict",
					     "downstream_reply" };
	json_t *v, *rc;
	size_t i;
	double ts;

	if (!json_is_object(r))
		return jfail(e, "expected an object", "(record)");
	v = json_object_get(r, "uuid");
	if (!json_is_string(v) || !uuid_ok(json_string_value(v)))
		return jfail(e, v ? "expected 32 hex digits" : "missing", "uuid");
	v = json_object_get(r, "ts");
	if (!json_is_number(v))
		return jfail(e, v ? "expected a number (epoch seconds)" : "missing", "ts");
	ts = json_number_value(v);
	if (!(ts >= 0 && ts < TS_MAX))
		return jfail(e, "out of range", "ts");
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (!j_str(r, strs[i], false, "", e))
			return false;
	if (!j_ip(r, "client_ip", e) || !j_int(r, "size", false, 0, "", e) ||
	    !j_int(r, "policy_version", true, 0, "", e) || !j_obj(r, "verdicts", e) ||
	    !j_obj(r, "timings", e))
		return false;
	v = json_object_get(r, "notify");
	if (v && !json_is_array(v) && !json_is_null(v))
		return jfail(e, "expected an array", "notify");
	rc = json_object_get(r, "recipients");
	if (!json_is_array(rc))
		return jfail(e, rc ? "expected an array" : "missing", "recipients");
	json_array_foreach(rc, i, v) {
		char pfx[40];

		snprintf(pfx, sizeof(pfx), "recipients[%zu].", i);
		if (!json_is_object(v))
			return jfail(e, "expected an object", "recipients[%zu]", i);
		for (size_t k = 0; k < sizeof(rstrs) / sizeof(rstrs[0]); k++)
			if (!j_str(v, rstrs[k], k == 0, pfx, e))
				return false;
		if (!j_int(v, "rule_id", true, 0, pfx, e) ||
		    !j_int(v, "quarantine_id", true, 0, pfx, e))
			return false;
		if (json_object_get(v, "rule_name") && !json_is_null(json_object_get(v, "rule_name")) &&
		    !j_str(v, "rule_name", false, pfx, e))
			return false;
	}
	return true;
}

static bool check_quar_meta(json_t *m, struct jerr *e)
{
	static const char *const strs[] = { "uuid", "helo", "sender", "subject", "message_id",
					    "reason", "area", "node" };
	json_t *v, *x;
	size_t i;

	if (!json_is_object(m))
		return jfail(e, "expected an object", "(metadata)");
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (!j_str(m, strs[i], false, "", e))
			return false;
	if (!j_ip(m, "client_ip", e) || !j_int(m, "size", false, 0, "", e) ||
	    !j_int(m, "rule_id", true, 0, "", e) || !j_int(m, "policy_version", true, 0, "", e))
		return false;
	v = json_object_get(m, "rule_name");
	if (v && !json_is_null(v) && !json_is_string(v))
		return jfail(e, "expected a string or null", "rule_name");
	v = json_object_get(m, "recipients");
	if (v && !json_is_array(v))
		return jfail(e, "expected an array", "recipients");
	json_array_foreach(v, i, x) {
		if (!json_is_string(x))
			return jfail(e, "expected a string", "recipients[%zu]", i);
	}
	return true;
}

/* Parses |len| bytes of JSON; on error fills |e| ("JSON" + position). */
static json_t *parse(const uint8_t *p, size_t len, struct jerr *e)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &je);

	if (!j) {
		snprintf(e->field, sizeof(e->field), "JSON at byte %d", je.position);
		snprintf(e->what, sizeof(e->what), "invalid (%.36s)", je.text);
		}
	return j;
}

/* ------------------------------------------------- policy and blocklist */

static int64_t *doc_sent(const struct doc *d, struct conn *k)
{
	return (int64_t *)((char *)k + d->sent_off);
}

static void doc_send(struct doc *d, struct conn *k, struct snap *s)
{
	struct evbuffer *out = bufferevent_get_output(k->bev);
	uint8_t hdr[MXG_CHAN_HDR_LEN];

	if (k->failed || !conn_room(k, s->len + sizeof(hdr)))
		return;
	mxg_chan_hdr(hdr, d->type, s->len);
	s->refs++;
	if (evbuffer_add(out, hdr, sizeof(hdr)) != 0 ||
	    evbuffer_add_reference(out, s->text, s->len, snap_cleanup, s) != 0) {
		s->refs--;
		conn_fail(k, "out of memory sending the %s", d->name);
		return;
	}
	*doc_sent(d, k) = s->version;
	mxg_log(d->sent_lvl, COMP, "dataplane #%u %s[%lld]: %s version %lld sent (%zu bytes)",
		k->id, k->node, (long long)k->pid, d->name, (long long)s->version, s->len);
}

static void doc_push(struct doc *d)
{
	struct conn *k, *t;

	/* doc_send may free k: take the next one first */
	for (k = TAILQ_FIRST(&d->ch->conns); k; k = t) {
		t = TAILQ_NEXT(k, link);
		if (k->hello && !k->failed && *doc_sent(d, k) != d->snap->version)
			doc_send(d, k, d->snap);
	}
}

/* Is a dataplane still without the current version (or any)? */
static bool doc_waiting(const struct doc *d)
{
	struct conn *k;

	TAILQ_FOREACH(k, &d->ch->conns, link)
		if (k->hello && (!d->snap || *doc_sent(d, k) != d->snap->version))
			return true;
	return false;
}

static void doc_retry_later(struct doc *d)
{
	struct timeval tv = { POLICY_RETRY_S, 0 };

	if (!d->ch->closing && !evtimer_pending(d->ev_retry, NULL))
		evtimer_add(d->ev_retry, &tv);
}

static void on_doc(enum ctl_db_status st, PGresult *res, void *ud)
{
	struct doc *d = ud;
	struct ctl_chan *ch = d->ch;
	time_t now = time(NULL);

	d->busy = false;
	if (ch->closing)
		return;
	if (st == CTL_DB_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
	    !PQgetisnull(res, 0, 1)) {
		int64_t v = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		size_t len = (size_t)PQgetlength(res, 0, 0);
		struct snap *s = d->snap;

		if (d->on_row)
			d->on_row(ch, res);
		if (!s || s->version != v ||
		    (d->same_text && (s->len != len ||
				      memcmp(s->text, PQgetvalue(res, 0, 0), len) != 0))) {
			if (!(s = malloc(sizeof(*s) + len + 1))) {
				MXG_ERR(COMP, "%s version %lld: out of memory", d->name, (long long)v);
				doc_retry_later(d);
				goto again;
			}
			s->refs = 1;
			s->version = v;
			s->len = len;
			memcpy(s->text, PQgetvalue(res, 0, 0), len + 1);
			if (d->snap && d->snap->version == v) { /* same_text only */
				struct conn *k;

				TAILQ_FOREACH(k, &ch->conns, link) /* resend the same version */
					if (*doc_sent(d, k) == v)
						*doc_sent(d, k) = -1;
			}
			snap_unref(d->snap);
			d->snap = s;
			MXG_INFO(COMP, "%s snapshot version %lld (%zu bytes) for %u dataplane(s)",
				 d->name, (long long)v, len, ch->nconns);
		}
		doc_push(d);
	} else if (st != CTL_DB_DOWN) {
		if (now - d->err_logged >= LOG_EVERY_S) {
			d->err_logged = now;
			MXG_WARN(COMP, "%s snapshot query failed: %.*s", d->name,
				 res ? (int)strcspn(PQresultErrorMessage(res), "\n") : 7,
				 res ? PQresultErrorMessage(res) : "no rows");
		}
		if (!d->retry_if_waiting || doc_waiting(d))
			doc_retry_later(d);
	}
	/* DOWN: the main connection's on_state(up) asks again */
again:
	if (d->again) {
		d->again = false;
		doc_request(d);
	}
}

static void doc_request(struct doc *d)
{
	if (d->ch->closing)
		return;
	if (d->busy) {
		d->again = true; /* one more after it, however many ask */
		return;
	}
	d->busy = true; /* before: the callback may run from inside the call */
	if (ctl_db_query(d->ch->c->db, d->sql, 0, NULL, false, on_doc, d) != 0)
		d->busy = false;
}

static void on_doc_retry(evutil_socket_t fd, short what, void *arg)
{
	doc_request(arg);
}

/* On HELLO: the cached version at once, then the newest if it is not. */
static void doc_hello(struct doc *d, struct conn *k)
{
	if (d->snap)
		doc_send(d, k, d->snap);
	doc_request(d);
}

/* A NOTIFY of |version| (0: unknown, read it anyway). */
static void doc_changed(struct doc *d, int64_t version)
{
	if (version > 0 && d->snap && d->snap->version >= version)
		return;
	doc_request(d);
}

static void doc_free(struct doc *d)
{
	if (d->ev_retry)
		event_free(d->ev_retry);
	snap_unref(d->snap);
}

void ctl_chan_policy_changed(struct ctl_chan *ch, int64_t version)
{
	if (ch)
		doc_changed(&ch->pol, version);
}

/* ------------------------------------------------------------- blocklist */

/* Arms the purge timer for the earliest expiry |at| (epoch seconds). */
static void bl_arm_expiry(struct ctl_chan *ch, double at)
{
	struct timeval tv;
	double d = at - (double)time(NULL);

	if (d < 0)
		d = 0;
	if (d > 86400)
		d = 86400; /* re-read daily anyway: cheap */
	d += 0.2;        /* past the deadline: now() > expires_at in SQL */
	tv.tv_sec = (time_t)d;
	tv.tv_usec = (suseconds_t)((d - (double)tv.tv_sec) * 1e6);
	evtimer_del(ch->ev_bl_expire);
	evtimer_add(ch->ev_bl_expire, &tv);
}

/* BLOCKLIST_SQL's third column: the earliest expiry, NULL if none. */
static void bl_on_row(struct ctl_chan *ch, PGresult *res)
{
	if (!PQgetisnull(res, 0, 2))
		bl_arm_expiry(ch, strtod(PQgetvalue(res, 0, 2), NULL));
	else
		evtimer_del(ch->ev_bl_expire);
}

static void on_bl_purged(enum ctl_db_status st, PGresult *res, void *ud)
{
	struct ctl_chan *ch = ud;

	if (ch->closing)
		return;
	if (st == CTL_DB_SQL)
		MXG_WARN(COMP, "mxg_blocklist_purge(): %.*s",
			 (int)strcspn(PQresultErrorMessage(res), "\n"), PQresultErrorMessage(res));
	else if (st == CTL_DB_OK && PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) > 0)
		MXG_INFO(COMP, "blocklist: %s expired entr%s removed", PQgetvalue(res, 0, 0),
			 atoi(PQgetvalue(res, 0, 0)) == 1 ? "y" : "ies");
	/* a deletion NOTIFYs mxg_blocklist; otherwise re-read for the next deadline */
	if (st != CTL_DB_OK || PQntuples(res) != 1 || atoi(PQgetvalue(res, 0, 0)) == 0)
		doc_request(&ch->bl);
}

static void on_bl_expire(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_chan *ch = arg;

	if (ch->closing || ctl_db_query(ch->c->db, "SELECT mxg_blocklist_purge()", 0, NULL,
					false, on_bl_purged, ch) != 0)
		return; /* database down: its return re-reads the list */
}

void ctl_chan_blocklist_changed(struct ctl_chan *ch, int64_t version)
{
	if (ch)
		doc_changed(&ch->bl, version);
}

/* ------------------------------------------------------------ tracking */

static unsigned ms_since(mxg_tstamp t)
{
	mxg_tstamp now = mxg_now();

	return now > t ? (unsigned)((now - t) / MXG_NSEC_PER_MSEC) : 0;
}

static void track_requeue(struct ctl_chan *ch)
{
	/* back to the head, in their order */
	STAILQ_CONCAT(&ch->tfl, &ch->tq);
	STAILQ_CONCAT(&ch->tq, &ch->tfl);
	ch->tq_rows += ch->tfl_rows;
	ch->tq_bytes += ch->tfl_bytes;
	ch->tfl_rows = ch->tfl_bytes = ch->tfl_recs = 0;
}

static void track_free_inflight(struct ctl_chan *ch)
{
	struct trec *r;

	while ((r = STAILQ_FIRST(&ch->tfl))) {
		STAILQ_REMOVE_HEAD(&ch->tfl, link);
		free(r);
	}
	ch->tfl_rows = ch->tfl_bytes = ch->tfl_recs = 0;
}

static void on_maint(enum ctl_db_status st, PGresult *res, void *ud)
{
	if (st == CTL_DB_SQL)
		MXG_WARN(COMP, "mxg_maintain(): %.*s",
			 (int)strcspn(PQresultErrorMessage(res), "\n"), PQresultErrorMessage(res));
}

static void on_track_done(enum ctl_db_status st, PGresult *res, void *ud)
{
	struct ctl_chan *ch = ud;
	time_t now = time(NULL);

	ch->track_busy = false;
	if (ch->closing) {
		track_free_inflight(ch);
		return;
	}
	if (st == CTL_DB_OK) {
		ch->t_rows_stored += strtoull(PQcmdTuples(res), NULL, 10);
		ch->t_batches++;
		MXG_DEBUG(COMP, "tracking: %zu records, %s rows in %u ms", ch->tfl_recs,
			  PQcmdTuples(res), ms_since(ch->flush_started));
		track_free_inflight(ch);
		if (ch->flush_recs < TRACK_FLUSH_MAX)
			ch->flush_recs *= 2;
	} else if (st == CTL_DB_DOWN) {
		track_requeue(ch); /* kept; on_track_state(up) flushes */
		return;
	} else {
		const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorMessage(res);

		if (sqlstate && strcmp(sqlstate, "23514") == 0 && now - ch->maint_at >= LOG_EVERY_S) {
			/* no partition for today (maintenance starved): make them, retry */
			ch->maint_at = now;
			MXG_WARN(COMP, "tracking: %.*s: running mxg_maintain()",
				 (int)strcspn(msg, "\n"), msg);
			ctl_db_query(ch->tdb, "SELECT mxg_maintain()", 0, NULL, false, on_maint, NULL);
			track_requeue(ch);
		} else if (ch->tfl_recs > 1) {
			ch->flush_recs = (unsigned)(ch->tfl_recs / 2); /* bisect */
			track_requeue(ch);
		} else {
			ch->t_rejected++;
			if (now - ch->reject_logged >= LOG_EVERY_S) {
				ch->reject_logged = now;
				MXG_WARN(COMP, "tracking record refused by the database, dropped "
					 "(%llu so far): %.*s", (unsigned long long)ch->t_rejected,
					 (int)strcspn(msg, "\n"), msg);
			}
			track_free_inflight(ch);
		}
	}
	track_kick(ch);
}

static void track_flush(struct ctl_chan *ch)
{
	struct trec *r;
	size_t len = 2, off = 0;
	unsigned recs = 0, rows = 0;
	const char *p[1];
	char *text;

	STAILQ_FOREACH(r, &ch->tq, link) {
		if (recs && (recs >= ch->flush_recs || rows + r->rows > TRACK_FLUSH_MAX))
			break;
		len += r->len + 1;
		rows += r->rows;
		recs++;
	}
	text = malloc(len + 1);
	if (!text)
		return; /* the timer tries again */
	text[off++] = '[';
	while (recs--) {
		r = STAILQ_FIRST(&ch->tq);
		STAILQ_REMOVE_HEAD(&ch->tq, link);
		STAILQ_INSERT_TAIL(&ch->tfl, r, link);
		if (off > 1)
			text[off++] = ',';
		memcpy(text + off, r->text, r->len);
		off += r->len;
		ch->tq_rows -= r->rows;
		ch->tq_bytes -= r->len;
		ch->tfl_rows += r->rows;
		ch->tfl_bytes += r->len;
		ch->tfl_recs++;
	}
	text[off++] = ']';
	text[off] = '\0';
	p[0] = text;
	ch->track_busy = true; /* before: the callback may run from inside */
	ch->flush_started = mxg_now();
	if (ctl_db_query(ch->tdb, TRACK_SQL, 1, p, false, on_track_done, ch) != 0) {
		ch->track_busy = false;
		track_requeue(ch);
	}
	free(text);
}

/* Flushes if a batch is due, else arms the timer for the oldest record. */
static void track_kick(struct ctl_chan *ch)
{
	struct trec *r = STAILQ_FIRST(&ch->tq);
	unsigned age;

	if (!r || ch->track_busy || ch->closing || !ctl_db_ok(ch->tdb))
		return; /* the result or the connection's return kicks again */
	age = ms_since(r->queued);
	if (ch->tq_rows >= TRACK_BATCH || age >= TRACK_DELAY_MS) {
		track_flush(ch);
	} else if (!evtimer_pending(ch->ev_track, NULL)) {
		struct timeval tv = { 0, (TRACK_DELAY_MS - age) * 1000 };

		evtimer_add(ch->ev_track, &tv);
	}
}

static void on_track_timer(evutil_socket_t fd, short what, void *arg)
{
	track_kick(arg);
}

static void on_track_state(bool up, void *ud)
{
	struct ctl_chan *ch = ud;

	if (up) {
		if (ch->tq_rows)
			MXG_NOTICE(COMP, "tracking: database back, %zu queued rows to write",
				   ch->tq_rows);
		track_kick(ch);
	}
}

static void track_drop(struct conn *k)
{
	struct ctl_chan *ch = k->ch;
	time_t now = time(NULL);

	k->track_dropped++;
	ch->t_dropped++;
	ch->drop_since_log++;
	if (now - ch->drop_logged >= LOG_EVERY_S) {
		MXG_WARN(COMP, "tracking queue full (%zu rows, %zu bytes): %llu record(s) "
			 "dropped since the last report", ch->tq_rows + ch->tfl_rows,
			 ch->tq_bytes + ch->tfl_bytes, (unsigned long long)ch->drop_since_log);
		ch->drop_logged = now;
		ch->drop_since_log = 0;
	}
}

static int on_track(struct conn *k, const uint8_t *p, size_t len)
{
	struct ctl_chan *ch = k->ch;
	struct jerr e = { "", "" };
	json_t *j, *notify;
	char *dump = NULL;
	struct trec *r;
	size_t rows;

	/* The framing is intact: a record we cannot take is dropped and
	 * counted, never a reason to cut the channel (in-flight quarantines
	 * of every worker would fail with it). */
	if (len > TRACK_FRAME_MAX) {
		MXG_WARN(COMP, "dataplane #%u %s: TRACK of %zu bytes, more than %u: dropped",
			 k->id, k->node, len, TRACK_FRAME_MAX);
		track_drop(k);
		return 0;
	}
	if (!(j = parse(p, len, &e)) || !check_track(j, &e)) {
		MXG_WARN(COMP, "dataplane #%u %s: TRACK: %s: %s: dropped", k->id, k->node,
			 e.field, e.what);
		json_decref(j);
		track_drop(k);
		return 0;
	}
	k->track_rx++;
	ch->t_records++;
	notify = json_object_get(j, "notify");
	if (json_array_size(notify))
		ctl_notify_submit(ch->c, j); /* borrowed, nothing kept */
	ctl_prof_track(ch->c, j); /* IP profiler: borrowed, nothing kept */
	if (!json_object_get(j, "node")) {
		json_object_set_new(j, "node", json_string(k->node));
		dump = json_dumps(j, JSON_COMPACT);
		if (!dump) {
			json_decref(j);
			track_drop(k);
			return 0;
		}
		p = (const uint8_t *)dump;
		len = strlen(dump);
	}
	rows = json_array_size(json_object_get(j, "recipients"));
	json_decref(j);
	if (!rows)
		rows = 1; /* nothing to insert, but it still costs a place */
	if (ch->tq_rows + ch->tfl_rows + rows > TRACK_QUEUE_ROWS ||
	    ch->tq_bytes + ch->tfl_bytes + len > TRACK_QUEUE_BYTES ||
	    !(r = malloc(sizeof(*r) + len))) {
		free(dump);
		track_drop(k);
		return 0;
	}
	r->queued = mxg_now();
	r->rows = (unsigned)rows;
	r->len = len;
	memcpy(r->text, p, len);
	free(dump);
	STAILQ_INSERT_TAIL(&ch->tq, r, link);
	ch->tq_rows += rows;
	ch->tq_bytes += len;
	track_kick(ch);
	return 0;
}

/* ----------------------------------------------------------- quarantine */

static void quar_finish(struct quar_req *q, bool ok, uint64_t id, const char *err)
{
	struct ctl_chan *ch = q->ch;
	struct conn *k = q->conn;

	if (ok)
		ch->q_stored++;
	else
		ch->q_failed++;
	ch->quar_bytes -= q->bytes;
	if (k) {
		TAILQ_REMOVE(&k->quars, q, link);
		send_quar_ack(k, q->req, ok, id, err);
	}
	free(q);
}

static void on_quar_done(enum ctl_db_status st, PGresult *res, void *ud)
{
	struct quar_req *q = ud;

	if (q->ch->closing) {
		q->conn = NULL;
		quar_finish(q, false, 0, "");
		return;
	}
	if (st == CTL_DB_OK && PQntuples(res) == 1) {
		quar_finish(q, true, strtoull(PQgetvalue(res, 0, 0), NULL, 10), NULL);
	} else if (st == CTL_DB_DOWN) {
		quar_finish(q, false, 0, "database connection lost");
	} else {
		const char *m = res ? PQresultErrorMessage(res) : "";

		MXG_WARN(COMP, "quarantine insert failed: %.*s", (int)strcspn(m, "\n"), m);
		quar_finish(q, false, 0, "database refused the quarantine insert");
	}
}

static int on_quar(struct conn *k, const uint8_t *p, size_t len)
{
	struct ctl_chan *ch = k->ch;
	struct jerr e = { "", "" };
	struct quar_req *q;
	const char *params[2];
	int lens[2], fmts[2] = { 0, 1 };
	uint64_t req;
	uint32_t n;
	size_t mlen;
	char *dump;
	json_t *m;

	if (len < 12) {
		conn_fail(k, "QUAR: %zu bytes, shorter than its header (12)", len);
		return MXG_E_PROTO;
	}
	req = mxg_chan_get64(p);
	n = mxg_chan_get32(p + 8);
	if (n > len - 12) {
		conn_fail(k, "QUAR: metadata length %u beyond the frame (%zu)", n, len - 12);
		return MXG_E_PROTO;
	}
	if (!(m = parse(p + 12, n, &e)) || !check_quar_meta(m, &e)) {
		conn_fail(k, "QUAR: metadata: %s: %s", e.field, e.what);
		json_decref(m);
		return MXG_E_PROTO;
	}
	mlen = len - 12 - n;
	if (!json_object_get(m, "node"))
		json_object_set_new(m, "node", json_string(k->node));
	dump = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	if (mlen > INT32_MAX || ch->quar_bytes + mlen > QUAR_INFLIGHT_BYTES) {
		free(dump);
		k->ch->q_failed++;
		send_quar_ack(k, req, false, 0, "quarantine busy");
		return k->failed ? MXG_E_PROTO : 0;
	}
	q = calloc(1, sizeof(*q));
	if (!dump || !q) {
		free(dump);
		free(q);
		k->ch->q_failed++;
		send_quar_ack(k, req, false, 0, "out of memory");
		return k->failed ? MXG_E_PROTO : 0;
	}
	q->ch = ch;
	q->conn = k;
	q->req = req;
	q->bytes = mlen;
	ch->quar_bytes += mlen;
	TAILQ_INSERT_TAIL(&k->quars, q, link);
	params[0] = dump;
	lens[0] = (int)strlen(dump);
	params[1] = (const char *)p + 12 + n;
	lens[1] = (int)mlen;
	/* from here |q| belongs to the callback, which may already have run */
	if (ctl_db_query_sized(ch->qdb, QUAR_SQL, 2, params, lens, fmts, false, on_quar_done,
			       q) != 0)
		quar_finish(q, false, 0, ctl_db_ok(ch->qdb) ? "out of memory" : "database down");
	free(dump);
	return k->failed ? MXG_E_PROTO : 0;
}

/* --------------------------------------------------------------- frames */

static int on_hello(struct conn *k, const uint8_t *p, size_t len)
{
	struct jerr e = { "", "" };
	json_t *j, *v;

	if (k->hello) {
		conn_fail(k, "HELLO: second HELLO on the connection");
		return MXG_E_PROTO;
	}
	if (!(j = parse(p, len, &e))) {
		conn_fail(k, "HELLO: %s: %s", e.field, e.what);
		return MXG_E_PROTO;
	}
	v = json_object_get(j, "node");
	if (!json_is_object(j))
		jfail(&e, "expected an object", "(hello)");
	else if (!json_is_string(v))
		jfail(&e, v ? "expected a string" : "missing", "node");
	else if (!json_string_length(v) || json_string_length(v) >= sizeof(k->node))
		jfail(&e, "1 to 63 characters", "node");
	else if (!json_is_integer(json_object_get(j, "pid")))
		jfail(&e, json_object_get(j, "pid") ? "expected an integer" : "missing", "pid");
	else
		(void)(j_str(j, "version", false, "", &e) &&
		       j_int(j, "policy_version", true, -1, "", &e));
	if (e.what[0]) {
		conn_fail(k, "HELLO: %s: %s", e.field, e.what);
		json_decref(j);
		return MXG_E_PROTO;
	}
	snprintf(k->node, sizeof(k->node), "%s", json_string_value(v));
	snprintf(k->version, sizeof(k->version), "%s",
		 json_string_value(json_object_get(j, "version")) ?: "");
	k->pid = json_integer_value(json_object_get(j, "pid"));
	v = json_object_get(j, "policy_version");
	k->running = json_is_integer(v) ? json_integer_value(v) : -1;
	json_decref(j);
	k->hello = true;
	MXG_NOTICE(COMP, "dataplane #%u %s[%lld] connected (version %s, running policy %lld)",
		   k->id, k->node, (long long)k->pid, k->version[0] ? k->version : "?",
		   (long long)k->running);
	doc_hello(&k->ch->pol, k);
	doc_hello(&k->ch->bl, k);
	return k->failed ? MXG_E_PROTO : 0;
}

static int on_policy_ack(struct conn *k, const uint8_t *p, size_t len)
{
	struct jerr e = { "", "" };
	json_t *j, *ver, *ok, *err;

	if (!(j = parse(p, len, &e))) {
		conn_fail(k, "POLICY_ACK: %s: %s", e.field, e.what);
		return MXG_E_PROTO;
	}
	ver = json_object_get(j, "version");
	ok = json_object_get(j, "ok");
	err = json_object_get(j, "error");
	if (!json_is_object(j) || !json_is_integer(ver) || !json_is_boolean(ok) ||
	    (err && !json_is_null(err) && !json_is_string(err))) {
		conn_fail(k, "POLICY_ACK: %s: %s",
			  !json_is_object(j) ? "(ack)" : !json_is_integer(ver) ? "version"
						   : !json_is_boolean(ok)     ? "ok" : "error",
			  !json_is_object(j) ? "expected an object"
			  : !json_is_integer(ver) ? "expected an integer"
			  : !json_is_boolean(ok)  ? "expected true or false"
						  : "expected a string or null");
		json_decref(j);
		return MXG_E_PROTO;
	}
	if (json_is_true(ok)) {
		k->running = json_integer_value(ver);
		k->policy_error[0] = '\0';
		MXG_INFO(COMP, "dataplane #%u %s[%lld] runs policy version %lld", k->id, k->node,
			 (long long)k->pid, (long long)k->running);
	} else {
		snprintf(k->policy_error, sizeof(k->policy_error), "%s",
			 json_string_value(err) ?: "rejected");
		MXG_WARN(COMP, "dataplane #%u %s[%lld] rejected policy version %lld: %s", k->id,
			 k->node, (long long)k->pid, (long long)json_integer_value(ver),
			 k->policy_error);
	}
	json_decref(j);
	return 0;
}

/* ------------------------------------------------------------- DNSBL */

/* ctl_dnsbl's answer to the DNSBL_QUERY |req| of connection serial |id|:
 * dropped when that connection is gone (its dataplane answered the query
 * "timeout" itself when the connection broke). */
static void dnsbl_answer(void *ud, unsigned id, uint64_t req, enum ctl_dnsbl_verdict v,
			 uint32_t ttl, const char *zone, const char *code)
{
	struct ctl_chan *ch = ud;
	uint8_t b[MXG_CHAN_HDR_LEN + 13];
	char text[320];
	size_t tlen;
	struct conn *k;

	TAILQ_FOREACH(k, &ch->conns, link)
		if (k->id == id)
			break;
	if (!k || k->failed)
		return;
	tlen = *zone || *code ? (size_t)snprintf(text, sizeof(text), "%.255s %.48s", zone, code)
			      : 0;
	if (!conn_room(k, sizeof(b) + tlen))
		return;
	mxg_chan_hdr(b, MXG_CHAN_DNSBL_ANSWER, 13 + tlen);
	mxg_chan_put64(b + MXG_CHAN_HDR_LEN, req);
	b[MXG_CHAN_HDR_LEN + 8] = (uint8_t)v;
	mxg_chan_put32(b + MXG_CHAN_HDR_LEN + 9, ttl);
	if (bufferevent_write(k->bev, b, sizeof(b)) != 0 ||
	    (tlen && bufferevent_write(k->bev, text, tlen) != 0))
		conn_fail(k, "out of memory sending DNSBL_ANSWER");
}

static int on_dnsbl_query(struct conn *k, const uint8_t *p, size_t len)
{
	char ip[64];

	if (len < 9 || len - 8 >= sizeof(ip)) {
		conn_fail(k, "DNSBL_QUERY: %zu bytes, expected 8 + an address", len);
		return MXG_E_PROTO;
	}
	memcpy(ip, p + 8, len - 8);
	ip[len - 8] = '\0';
	ctl_dnsbl_query(k->ch->c, ip, dnsbl_answer, k->ch, k->id, mxg_chan_get64(p));
	return 0;
}

static int on_frame(enum mxg_chan_type type, const uint8_t *p, size_t len, void *ud)
{
	struct conn *k = ud;

	if (k->failed)
		return MXG_E_PROTO;
	if (type == MXG_CHAN_POLICY || type == MXG_CHAN_QUAR_ACK || type == MXG_CHAN_BLOCKLIST) {
		conn_fail(k, "%s: a frame of the control plane's, not the dataplane's",
			  type_name(type));
		return MXG_E_PROTO;
	}
	if (!k->hello && type != MXG_CHAN_HELLO) {
		conn_fail(k, "%s: before HELLO", type_name(type));
		return MXG_E_PROTO;
	}
	if ((type == MXG_CHAN_HELLO || type == MXG_CHAN_POLICY_ACK) && len > SMALL_FRAME_MAX) {
		conn_fail(k, "%s: %zu bytes, more than %u", type_name(type), len, SMALL_FRAME_MAX);
		return MXG_E_PROTO;
	}
	switch (type) {
	case MXG_CHAN_HELLO: return on_hello(k, p, len);
	case MXG_CHAN_POLICY_ACK: return on_policy_ack(k, p, len);
	case MXG_CHAN_TRACK: return on_track(k, p, len);
	case MXG_CHAN_QUAR: return on_quar(k, p, len);
	case MXG_CHAN_DNSBL_QUERY: return on_dnsbl_query(k, p, len);
	default: break;
	}
	conn_fail(k, "frame type %u unknown", (unsigned)type);
	return MXG_E_PROTO;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct conn *k = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	k->busy = true;
	while (!k->failed && evbuffer_get_length(in)) {
		struct evbuffer_iovec v[16];
		int n = evbuffer_peek(in, -1, NULL, v, 16);
		size_t used = 0;

		for (int i = 0; i < n && i < 16 && !k->failed; i++) {
			int rc = mxg_chan_rx_feed(&k->rx, v[i].iov_base, v[i].iov_len, on_frame, k);

			used += v[i].iov_len;
			if (rc == MXG_E_NOMEM)
				conn_fail(k, "out of memory reassembling a frame");
			else if (rc && !k->failed)
				conn_fail(k, "framing: length 0 or above %u, or an unknown frame type",
					  MXG_CHAN_FRAME_MAX);
		}
		evbuffer_drain(in, used);
	}
	k->busy = false;
	if (k->failed)
		conn_free(k);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *k = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (k->rx.len)
			k->ch->proto_errors++;
		MXG_NOTICE(COMP, "dataplane #%u %s[%lld] disconnected%s%s%s", k->id,
			   k->hello ? k->node : "?", (long long)k->pid,
			   (what & BEV_EVENT_ERROR) ? " (" : "",
			   (what & BEV_EVENT_ERROR) ? strerror(EVUTIL_SOCKET_ERROR()) : "",
			   (what & BEV_EVENT_ERROR) ? ")" : k->rx.len ? " inside a frame" : "");
		conn_free(k);
	}
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct ctl_chan *ch = arg;
	struct conn *k = calloc(1, sizeof(*k));

	if (!k || !(k->bev = bufferevent_socket_new(ch->c->base, fd, BEV_OPT_CLOSE_ON_FREE))) {
		MXG_ERR(COMP, "accepting a dataplane: out of memory");
		free(k);
		evutil_closesocket(fd);
		return;
	}
	k->ch = ch;
	k->id = ++ch->serial;
	k->running = k->sent = k->bl_sent = -1;
	k->since = time(NULL);
	TAILQ_INIT(&k->quars);
	TAILQ_INSERT_TAIL(&ch->conns, k, link);
	ch->nconns++;
	ch->accepted++;
	bufferevent_setcb(k->bev, on_read, NULL, on_event, k);
	bufferevent_set_max_single_read(k->bev, 256 * 1024);
	bufferevent_enable(k->bev, EV_READ | EV_WRITE);
	MXG_DEBUG(COMP, "dataplane #%u: accepted", k->id);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_chan *ch = arg;

	evconnlistener_enable(ch->lev);
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct ctl_chan *ch = arg;
	struct timeval tv = { 1, 0 };

	/* EMFILE and friends: pause instead of spinning on a ready socket */
	MXG_WARN(COMP, "accept on %s: %s (pausing 1 s)", ch->path,
		 strerror(EVUTIL_SOCKET_ERROR()));
	evconnlistener_disable(lev);
	evtimer_add(ch->ev_accept_retry, &tv);
}

/* ------------------------------------------------------------- the socket */

static int make_parent(const struct ctl_chan *ch, const struct ctl_user *u)
{
	char def[sizeof(ch->c->conf.state_dir) + 8];
	struct stat sb;

	snprintf(def, sizeof(def), "%s/run", ch->c->conf.state_dir);
	if (strncmp(ch->path, def, strlen(def)) != 0 || strcmp(ch->path + strlen(def),
							       "/channel.sock") != 0)
		return 0; /* a configured path: its directory is the operator's */
	if (stat(def, &sb) == 0)
		return 0;
	/* external database: nobody made state_dir/run yet */
	if (mkdir(def, 0700) != 0 && errno != EEXIST) {
		MXG_ERR(COMP, "mkdir %s: %s", def, strerror(errno));
		return MXG_E_IO;
	}
	if (u->switch_to && chown(def, u->uid, u->gid) != 0) {
		MXG_ERR(COMP, "chown %s: %s", def, strerror(errno));
		return MXG_E_IO;
	}
	return 0;
}

static int bind_socket(struct ctl_chan *ch, const struct ctl_user *u)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat sb;
	mode_t um;
	int fd, rc;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ch->path);
	if (lstat(ch->path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			MXG_ERR(COMP, "channel_socket %s exists and is not a socket", ch->path);
			return -1;
		}
		/* alive (another mxgate-control) or stale (a dead one's)? */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			MXG_ERR(COMP, "channel_socket %s: another process is listening on it",
				ch->path);
			return -1;
		}
		if (fd >= 0)
			close(fd);
		if (unlink(ch->path) != 0) {
			MXG_ERR(COMP, "removing the stale %s: %s", ch->path, strerror(errno));
			return -1;
		}
		MXG_INFO(COMP, "removed a stale %s", ch->path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		MXG_ERR(COMP, "socket: %s", strerror(errno));
		return -1;
	}
	/* 0660 from the start: no window, and no chmod that a link could divert */
	um = umask(0117);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(um);
	if (rc != 0) {
		MXG_ERR(COMP, "bind %s: %s", ch->path, strerror(errno));
		close(fd);
		return -1;
	}
	if ((u->switch_to && lchown(ch->path, u->uid, u->gid) != 0) || lstat(ch->path, &sb) != 0 ||
	    listen(fd, 64) != 0) {
		MXG_ERR(COMP, "%s: %s", ch->path, strerror(errno));
		unlink(ch->path);
		close(fd);
		return -1;
	}
	ch->dev = sb.st_dev;
	ch->ino = sb.st_ino;
	ch->bound = true;
	return fd;
}

struct ctl_chan *ctl_chan_new(struct ctl *c, const struct ctl_user *u)
{
	struct ctl_chan *ch = calloc(1, sizeof(*ch));
	int fd;

	if (!ch)
		return NULL;
	ch->c = c;
	TAILQ_INIT(&ch->conns);
	STAILQ_INIT(&ch->tq);
	STAILQ_INIT(&ch->tfl);
	ch->flush_recs = TRACK_FLUSH_MAX;
	snprintf(ch->path, sizeof(ch->path), "%s", c->conf.channel_socket);
	ch->pol = (struct doc){ .ch = ch, .type = MXG_CHAN_POLICY, .name = "policy",
				.sql = POLICY_SQL, .sent_off = offsetof(struct conn, sent),
				.sent_lvl = MXG_LOG_INFO, .retry_if_waiting = true };
	ch->bl = (struct doc){ .ch = ch, .type = MXG_CHAN_BLOCKLIST, .name = "blocklist",
			       .sql = BLOCKLIST_SQL, .sent_off = offsetof(struct conn, bl_sent),
			       .sent_lvl = MXG_LOG_DEBUG, .same_text = true, .on_row = bl_on_row };
	ch->pol.ev_retry = evtimer_new(c->base, on_doc_retry, &ch->pol);
	ch->ev_track = evtimer_new(c->base, on_track_timer, ch);
	ch->ev_accept_retry = evtimer_new(c->base, on_accept_retry, ch);
	ch->bl.ev_retry = evtimer_new(c->base, on_doc_retry, &ch->bl);
	ch->ev_bl_expire = evtimer_new(c->base, on_bl_expire, ch);
	if (!ch->pol.ev_retry || !ch->ev_track || !ch->ev_accept_retry || !ch->bl.ev_retry ||
	    !ch->ev_bl_expire)
		goto fail;
	if (make_parent(ch, u) || (fd = bind_socket(ch, u)) < 0)
		goto fail;
	ch->lev = evconnlistener_new(c->base, on_accept, ch, LEV_OPT_CLOSE_ON_FREE, 0, fd);
	if (!ch->lev) {
		close(fd);
		goto fail;
	}
	evconnlistener_set_error_cb(ch->lev, on_accept_error);
	MXG_NOTICE(COMP, "control channel on %s", ch->path);
	return ch;
fail:
	MXG_ERR(COMP, "control channel not started");
	ctl_chan_free(ch);
	return NULL;
}

int ctl_chan_start(struct ctl_chan *ch)
{
	struct ctl_db_hooks th = { on_track_state, NULL, ch };

	ch->tdb = ctl_db_new(ch->c->base, ch->c->conninfo, &th);
	ch->qdb = ctl_db_new(ch->c->base, ch->c->conninfo, NULL);
	return ch->tdb && ch->qdb ? 0 : MXG_E_NOMEM;
}

void ctl_chan_free(struct ctl_chan *ch)
{
	struct conn *k;
	struct trec *r;
	struct stat sb;

	if (!ch)
		return;
	ch->closing = true;
	if (ch->tq_rows + ch->tfl_rows)
		MXG_WARN(COMP, "shutting down with %zu tracking rows not written",
			 ch->tq_rows + ch->tfl_rows);
	while ((k = TAILQ_FIRST(&ch->conns)))
		conn_free(k);
	ctl_db_free(ch->tdb); /* callbacks see closing: they only free */
	ctl_db_free(ch->qdb);
	track_free_inflight(ch);
	while ((r = STAILQ_FIRST(&ch->tq))) {
		STAILQ_REMOVE_HEAD(&ch->tq, link);
		free(r);
	}
	if (ch->lev)
		evconnlistener_free(ch->lev);
	/* ours still (not a newer process's)? then remove it */
	if (ch->bound && lstat(ch->path, &sb) == 0 && sb.st_dev == ch->dev &&
	    sb.st_ino == ch->ino)
		unlink(ch->path);
	doc_free(&ch->pol);
	doc_free(&ch->bl);
	if (ch->ev_track)
		event_free(ch->ev_track);
	if (ch->ev_accept_retry)
		event_free(ch->ev_accept_retry);
	if (ch->ev_bl_expire)
		event_free(ch->ev_bl_expire);
	free(ch);
}

/* -------------------------------------------------------------- status */

json_t *ctl_chan_dataplanes(const struct ctl_chan *ch)
{
	json_t *a = json_array();
	const struct conn *k;

	if (!ch || !a)
		return a;
	TAILQ_FOREACH(k, &ch->conns, link) {
		char since[32];
		struct tm tm;

		if (!k->hello || k->failed)
			continue;
		gmtime_r(&k->since, &tm);
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_array_append_new(a, json_pack(
			"{s:s, s:I, s:s, s:o, s:o, s:o, s:s, s:I, s:I, s:I, s:I, s:o}",
			"node", k->node, "pid", (json_int_t)k->pid, "version", k->version,
			"policy_version", k->running >= 0 ? json_integer(k->running) : json_null(),
			"policy_sent", k->sent >= 0 ? json_integer(k->sent) : json_null(),
			"policy_error", k->policy_error[0] ? json_string(k->policy_error)
							   : json_null(),
			"connected_since", since,
			"track_received", (json_int_t)k->track_rx,
			"track_dropped", (json_int_t)k->track_dropped,
			"quar_stored", (json_int_t)k->quar_stored,
			"quar_failed", (json_int_t)k->quar_failed,
			"blocklist_sent", k->bl_sent >= 0 ? json_integer(k->bl_sent) : json_null()));
	}
	return a;
}

json_t *ctl_chan_counters(const struct ctl_chan *ch)
{
	if (!ch)
		return json_object();
	return json_pack("{s:s, s:I, s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:I, "
			 "s:I}",
			 "socket", ch->path, "connections", (json_int_t)ch->nconns,
			 "accepted", (json_int_t)ch->accepted,
			 "policy_version", ch->pol.snap ? json_integer(ch->pol.snap->version)
							: json_null(),
			 "blocklist_version", ch->bl.snap ? json_integer(ch->bl.snap->version)
							  : json_null(),
			 "track_received", (json_int_t)ch->t_records,
			 "track_queued_rows", (json_int_t)(ch->tq_rows + ch->tfl_rows),
			 "track_rows_stored", (json_int_t)ch->t_rows_stored,
			 "track_batches", (json_int_t)ch->t_batches,
			 "track_dropped", (json_int_t)ch->t_dropped,
			 "track_rejected", (json_int_t)ch->t_rejected,
			 "track_db_ok", ctl_db_ok(ch->tdb),
			 "quar_stored", (json_int_t)ch->q_stored,
			 "quar_failed", (json_int_t)ch->q_failed,
			 "protocol_errors", (json_int_t)ch->proto_errors);
}
