/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_api_store.c - status, quarantine and message-tracking search
 * (/api/v1/status, /quarantine, /logs).
 *
 * Searches are one fixed SQL statement per endpoint whose filters are
 * parameters that are NULL when absent ("$1 IS NULL OR sender = $1"), so no
 * SQL is ever assembled from request text. Unknown query parameters are
 * rejected by name rather than silently ignored: a typo'd filter must not
 * return everything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <libpq-fe.h>

#include "ctl_api.h"
#include "ctl_chan.h"
#include "ctl_db.h"
#include "ctl_http.h"

#define NPARAMS(a) (sizeof(a) / sizeof((a)[0]))

struct qparam {
	const char *name;
	enum { Q_TEXT, Q_TIME, Q_UINT } type;
	unsigned max;   /* Q_TEXT: length; Q_UINT: value */
	const char *def; /* value when absent (NULL: absent stays NULL) */
};

/* Accepts "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS]" (or a space instead of T),
 * optionally followed by "Z" or an offset "+HH:MM"/"-HHMM". */
static bool time_ok(const char *s)
{
	static const char *const fmts[] = { "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
					    "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d" };
	struct tm tm;
	const char *e;

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		e = strptime(s, fmts[i], &tm);
		if (!e)
			continue;
		if (*e == '\0' || strcmp(e, "Z") == 0)
			return true;
		if ((*e == '+' || *e == '-') &&
		    (strspn(e + 1, "0123456789") == 4 && strlen(e) == 5))
			return true;
		if ((*e == '+' || *e == '-') && strlen(e) == 6 && e[3] == ':' &&
		    strspn(e + 1, "0123456789") == 2 && strspn(e + 4, "0123456789") == 2)
			return true;
	}
	return false;
}

/* Fills |vals| (same order as |ps|) from |query|; answers 400 naming the
 * parameter and returns false on an unknown or malformed one. */
static bool read_params(struct evhttp_request *req, struct evkeyvalq *query,
			const struct qparam *ps, size_t n, const char **vals)
{
	struct evkeyval *kv;

	for (size_t i = 0; i < n; i++)
		vals[i] = NULL;
	TAILQ_FOREACH(kv, query, next) {
		size_t i;

		for (i = 0; i < n; i++)
			if (strcmp(kv->key, ps[i].name) == 0)
				break;
		if (i == n) {
			ctl_http_field_error(req, kv->key, "unknown search parameter");
			return false;
		}
		switch (ps[i].type) {
		case Q_TEXT:
			if (strlen(kv->value) > ps[i].max) {
				ctl_http_field_error(req, kv->key, "longer than %u characters",
						     ps[i].max);
				return false;
			}
			break;
		case Q_TIME:
			if (!time_ok(kv->value)) {
				ctl_http_field_error(req, kv->key, "expected YYYY-MM-DD or "
						     "YYYY-MM-DDTHH:MM:SS[Z|+HH:MM]");
				return false;
			}
			break;
		case Q_UINT:
			if (!*kv->value || strspn(kv->value, "0123456789") != strlen(kv->value) ||
			    strlen(kv->value) > 9 || strtoul(kv->value, NULL, 10) > ps[i].max) {
				ctl_http_field_error(req, kv->key, "expected an integer 0..%u",
						     ps[i].max);
				return false;
			}
			break;
		}
		vals[i] = kv->value;
	}
	for (size_t i = 0; i < n; i++)
		if (!vals[i])
			vals[i] = ps[i].def;
	return true;
}

struct statusq {
	struct ctl *c;
	struct evhttp_request *req;
};

static json_t *status_base(struct ctl *c, bool db_ok)
{
	return json_pack("{s:s, s:s, s:b, s:s, s:I, s:I, s:o, s:o}", "node", c->conf.node_name,
			 "version", CTL_VERSION, "db_ok", db_ok, "database",
			 c->conf.internal ? "internal" : "external", "policy_version",
			 (json_int_t)c->policy_version, "uptime_s",
			 (json_int_t)(time(NULL) - c->started), "dataplanes",
			 ctl_chan_dataplanes(c->chan), "channel", ctl_chan_counters(c->chan));
}

static void on_status(enum ctl_db_status st, PGresult *res, void *ud)
{
	struct statusq *q = ud;
	json_t *out, *j = NULL;

	if (st == CTL_DB_OK && PQntuples(res) == 1)
		j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (j && json_integer_value(json_object_get(j, "policy_version")) > q->c->policy_version)
		q->c->policy_version = json_integer_value(json_object_get(j, "policy_version"));
	out = status_base(q->c, j != NULL && ctl_db_ok(q->c->db));
	if (j)
		json_object_update(out, j);
	json_decref(j);
	ctl_http_reply_json(q->req, 200, out);
	free(q);
}

void ctl_api_status(struct ctl *c, struct evhttp_request *req, const char *arg,
		    struct evkeyvalq *query)
{
	struct statusq *q;

	if (!ctl_db_ok(c->db) || !(q = malloc(sizeof(*q)))) {
		ctl_http_reply_json(req, 200, status_base(c, false));
		return;
	}
	q->c = c;
	q->req = req;
	if (ctl_db_query(c->db,
			 "SELECT json_build_object("
			 "'policy_version', COALESCE((SELECT max(version) FROM policy_versions), 0),"
			 "'schema_version', (SELECT max(version) FROM schema_migrations),"
			 "'nodes', COALESCE((SELECT json_agg(json_build_object('name', name, "
			 "'version', version, 'api', api, 'started_at', started_at, "
			 "'heartbeat_at', heartbeat_at, 'policy_version', policy_version, "
			 "'alive', heartbeat_at > now() - interval '30 seconds') ORDER BY name) "
			 "FROM nodes), '[]'))::text",
			 0, NULL, false, on_status, q) != 0) {
		free(q);
		ctl_http_reply_json(req, 200, status_base(c, false));
	}
}

static const struct qparam quar_params[] = {
	{ "sender", Q_TEXT, 320 }, { "recipient", Q_TEXT, 320 }, { "subject", Q_TEXT, 200 },
	{ "area", Q_TEXT, 64 },    { "since", Q_TIME, 0 },       { "until", Q_TIME, 0 },
	{ "limit", Q_UINT, 1000, "100" }, { "offset", Q_UINT, 100000000, "0" },
};

void ctl_api_quarantine_list(struct ctl *c, struct evhttp_request *req, const char *arg,
			     struct evkeyvalq *query)
{
	const char *v[NPARAMS(quar_params)];

	if (!read_params(req, query, quar_params, NPARAMS(quar_params), v))
		return;
	ctl_http_db_json(c, req,
		"SELECT COALESCE(json_agg(x ORDER BY x.received_at DESC, x.id DESC), '[]')::text "
		"FROM (SELECT id, received_at, expires_at, node, area, reason, rule_id, rule_name, "
		"policy_version, host(client_ip) AS client_ip, sender, recipients, subject, "
		"message_id, size, released_at FROM quarantine "
		"WHERE ($1::text IS NULL OR lower(sender) = lower($1)) "
		"AND ($2::text IS NULL OR lower($2) = ANY (SELECT lower(r) FROM unnest(recipients) r)) "
		"AND ($3::text IS NULL OR subject ILIKE '%' || replace(replace(replace($3, '\\', "
		"'\\\\'), '%', '\\%'), '_', '\\_') || '%') "
		"AND ($4::text IS NULL OR area = $4) "
		"AND ($5::timestamptz IS NULL OR received_at >= $5) "
		"AND ($6::timestamptz IS NULL OR received_at < $6) "
		"ORDER BY received_at DESC, id DESC LIMIT $7::integer OFFSET $8::integer) x",
		8, v, 200, NULL);
}

void ctl_api_quarantine_get(struct ctl *c, struct evhttp_request *req, const char *arg,
			    struct evkeyvalq *query)
{
	long long id;
	char ids[24];
	const char *p[1] = { ids };

	if (!ctl_http_parse_id(req, arg, "id", &id))
		return;
	snprintf(ids, sizeof(ids), "%lld", id);
	ctl_http_db_json(c, req,
		"SELECT json_build_object('id', id, 'received_at', received_at, 'expires_at', "
		"expires_at, 'node', node, 'area', area, 'reason', reason, 'rule_id', rule_id, "
		"'rule_name', rule_name, 'policy_version', policy_version, 'client_ip', "
		"host(client_ip), 'sender', sender, 'recipients', recipients, 'subject', subject, "
		"'message_id', message_id, 'size', size, 'released_at', released_at, "
		"'message_base64', translate(encode(message, 'base64'), E'\\n', ''))::text "
		"FROM quarantine WHERE id = $1",
		1, p, 200, "no such quarantined message");
}

void ctl_api_quarantine_delete(struct ctl *c, struct evhttp_request *req, const char *arg,
			       struct evkeyvalq *query)
{
	long long id;
	char ids[24];
	const char *p[1] = { ids };

	if (!ctl_http_parse_id(req, arg, "id", &id))
		return;
	snprintf(ids, sizeof(ids), "%lld", id);
	ctl_http_db_json(c, req,
			 "DELETE FROM quarantine WHERE id = $1 "
			 "RETURNING json_build_object('deleted', id)::text",
			 1, p, 200, "no such quarantined message");
}

static const struct qparam log_params[] = {
	{ "sender", Q_TEXT, 320 },     { "recipient", Q_TEXT, 320 },
	{ "subject", Q_TEXT, 200 },    { "message_id", Q_TEXT, 998 },
	{ "since", Q_TIME, 0 },        { "until", Q_TIME, 0 },
	{ "verdict", Q_TEXT, 64 },     { "limit", Q_UINT, 10000, "100" },
	{ "offset", Q_UINT, 100000000, "0" },
};

void ctl_api_log_search(struct ctl *c, struct evhttp_request *req, const char *arg,
			struct evkeyvalq *query)
{
	const char *v[NPARAMS(log_params)];

	if (!read_params(req, query, log_params, NPARAMS(log_params), v))
		return;
	ctl_http_db_json(c, req,
		"SELECT COALESCE(json_agg(x ORDER BY x.ts DESC), '[]')::text FROM ("
		"SELECT ts, msg_uuid, node, direction, host(client_ip) AS client_ip, helo, sender, "
		"recipient, subject, message_id, size, verdict, verdicts, rule_id, rule_name, "
		"action, downstream_reply, timings, policy_version, quarantine_id FROM message_log "
		"WHERE ($1::text IS NULL OR lower(sender) = lower($1)) "
		"AND ($2::text IS NULL OR lower(recipient) = lower($2)) "
		"AND ($3::text IS NULL OR subject ILIKE '%' || replace(replace(replace($3, '\\', "
		"'\\\\'), '%', '\\%'), '_', '\\_') || '%') "
		"AND ($4::text IS NULL OR message_id = $4) "
		"AND ($5::timestamptz IS NULL OR ts >= $5) "
		"AND ($6::timestamptz IS NULL OR ts < $6) "
		"AND ($7::text IS NULL OR verdict = $7) "
		"ORDER BY ts DESC LIMIT $8::integer OFFSET $9::integer) x",
		9, v, 200, NULL);
}
