/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_release.c - releasing a quarantined message:
 * POST /api/v1/quarantine/{id}/release (mxgatectl quarantine release ID).
 *
 * Exactly once, by the database: one statement claims the row
 *	UPDATE quarantine SET released_at = now()
 *	WHERE id = $1 AND released_at IS NULL RETURNING sender, recipients, message
 * (wrapped so the same round trip tells "absent" (404) from "already
 * released" (409); two concurrent releases serialise on the row lock and
 * only one gets it). Then the message goes, byte for byte and with its
 * original envelope sender and recipients, to [control] release_smtp (by
 * default the dataplane's reprocessing port 127.0.0.1:10024, where the
 * virus checks run again and the message continues to the downstream MTA).
 *
 *	2xx after the data (at least one recipient accepted)
 *	    -> 200 {"id", "released": true, "reply": "250 ...",
 *	            "refused": [{"recipient", "code"}]  (only when some were)}
 *	anything else (refused, timeout, connection refused)
 *	    -> released_at is set back to NULL, then 502 {"error", "id",
 *	       "released": false, "reply"}: a later release can try again.
 *
 * So mxgate-control never sends a message twice: the claim comes before
 * the send, and it is undone only when the send failed. If the undo itself
 * fails (database down at that moment, or a shutdown in the middle) the
 * row stays marked released although the message was not sent: the 502
 * says so, the log names the id, and "UPDATE quarantine SET released_at =
 * NULL WHERE id = N" makes it releasable again. Losing a release is
 * preferred to delivering twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <libpq-fe.h>

#include "ctl_api.h"
#include "ctl_db.h"
#include "ctl_http.h"
#include "ctl_smtp.h"
#include "mxg_err.h"
#include "mxg_log.h"

#define COMP "release"

/* Claims the row; one result row: (true, sender, recipients JSON, message)
 * when claimed, (false, ...) when it exists but was released already, none
 * when absent. */
#define CLAIM_SQL                                                                       \
	"WITH u AS (UPDATE quarantine SET released_at = now() "                         \
	"WHERE id = $1::bigint AND released_at IS NULL "                                \
	"RETURNING sender, recipients, message) "                                       \
	"SELECT true, sender, array_to_json(recipients)::text, message FROM u "         \
	"UNION ALL SELECT false, NULL, NULL, NULL FROM quarantine "                     \
	"WHERE id = $1::bigint AND NOT EXISTS (SELECT 1 FROM u)"

#define UNCLAIM_SQL "UPDATE quarantine SET released_at = NULL WHERE id = $1::bigint"

struct rel {
	struct ctl *c;
	struct evhttp_request *req;
	char id[24];
	int status;          /* answer once the claim is undone */
	char error[600];
	char reply[600];
	json_t *rcpt;        /* the envelope recipients (JSON array), once claimed */
};

static void rel_free(struct rel *q)
{
	if (!q)
		return;
	json_decref(q->rcpt);
	free(q);
}

static void on_unclaim(enum ctl_db_status st, PGresult *res, void *ud)
{
	struct rel *q = ud;
	json_t *j;

	if (st != CTL_DB_OK) {
		MXG_ERR(COMP, "quarantine %s: not sent, and released_at could not be reset "
			"(%s): release it again after UPDATE quarantine SET released_at = NULL "
			"WHERE id = %s", q->id, st == CTL_DB_DOWN ? "database down" :
			PQresultErrorMessage(res), q->id);
		snprintf(q->error + strlen(q->error), sizeof(q->error) - strlen(q->error),
			 "; the message stays marked released (database unavailable): see the "
			 "control plane's log");
	}
	j = json_pack("{s:s, s:I, s:b, s:s}", "error", q->error, "id",
		      (json_int_t)strtoll(q->id, NULL, 10), "released", false, "reply", q->reply);
	ctl_http_reply_json(q->req, q->status, j);
	rel_free(q);
}

/* The send failed: undo the claim, then answer |status|. */
static void unclaim(struct rel *q, int status)
{
	const char *p[1] = { q->id };

	q->status = status;
	if (ctl_db_query(q->c->db, UNCLAIM_SQL, 1, p, false, on_unclaim, q) != 0)
		on_unclaim(CTL_DB_DOWN, NULL, q);
}

static void on_sent(const struct ctl_smtp_result *r, void *ud)
{
	struct rel *q = ud;
	json_t *j, *refused;

	snprintf(q->reply, sizeof(q->reply), "%s", r->text);
	if (!r->ok) {
		MXG_WARN(COMP, "quarantine %s: release to %s:%u failed: %s", q->id,
			 q->c->conf.release_host, q->c->conf.release_port, r->text);
		snprintf(q->error, sizeof(q->error), "release failed: %s:%u answered: %s",
			 q->c->conf.release_host, q->c->conf.release_port, r->text);
		unclaim(q, 502);
		return;
	}
	MXG_NOTICE(COMP, "quarantine %s released to %s:%u: %s", q->id, q->c->conf.release_host,
		   q->c->conf.release_port, r->text);
	j = json_pack("{s:I, s:b, s:s}", "id", (json_int_t)strtoll(q->id, NULL, 10), "released",
		      true, "reply", r->text);
	if (j && r->rcpt_ok < r->nrcpt && (refused = json_array())) {
		for (size_t i = 0; i < r->nrcpt; i++)
			if (r->rcpt_code[i] < 200 || r->rcpt_code[i] >= 300)
				json_array_append_new(refused, json_pack("{s:O, s:i}", "recipient",
						      json_array_get(q->rcpt, i), "code",
						      r->rcpt_code[i]));
		json_object_set_new(j, "refused", refused);
	}
	ctl_http_reply_json(q->req, 200, j);
	rel_free(q);
}

static void on_claim(enum ctl_db_status st, PGresult *res, void *ud)
{
	struct rel *q = ud;
	json_t *rj;
	const char **rcpt = NULL;
	unsigned char *msg = NULL;
	size_t len = 0, n = 0;
	int rc;

	if (st == CTL_DB_DOWN) {
		ctl_http_error(q->req, 503, "database unavailable");
		goto done;
	}
	if (st == CTL_DB_SQL) {
		MXG_WARN(COMP, "quarantine %s: %s", q->id, PQresultErrorMessage(res));
		ctl_http_error(q->req, 500, "database error (see the control plane's log)");
		goto done;
	}
	if (PQntuples(res) == 0) {
		ctl_http_error(q->req, 404, "no such quarantined message");
		goto done;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		ctl_http_error(q->req, 409, "quarantined message %s was already released", q->id);
		goto done;
	}
	rj = q->rcpt = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
	msg = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 3), &len);
	n = json_array_size(rj);
	rcpt = n ? calloc(n, sizeof(*rcpt)) : NULL;
	if (!msg || (n && !rcpt)) {
		snprintf(q->error, sizeof(q->error), "out of memory");
		unclaim(q, 500);
		q = NULL;
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		rcpt[i] = json_string_value(json_array_get(rj, i));
	if (n == 0) {
		snprintf(q->error, sizeof(q->error),
			 "quarantined message %s has no recipients to release to", q->id);
		unclaim(q, 409);
		q = NULL;
		goto done;
	}
	rc = ctl_smtp_send(q->c, q->c->conf.release_host, q->c->conf.release_port,
			   PQgetvalue(res, 0, 1), rcpt, n, msg, len, on_sent, q);
	if (rc != 0) {
		snprintf(q->error, sizeof(q->error), "cannot send: %s%s", mxg_strerror(rc),
			 rc == MXG_E_INVAL ? " (an envelope address is not usable)" : "");
		unclaim(q, rc == MXG_E_INVAL ? 409 : 500);
	}
	q = NULL; /* on_sent or on_unclaim answers */
done:
	PQfreemem(msg);
	free(rcpt);
	rel_free(q);
}

void ctl_api_quarantine_release(struct ctl *c, struct evhttp_request *req, const char *arg,
				struct evkeyvalq *query)
{
	struct evkeyval *kv = TAILQ_FIRST(query);
	const char *p[1];
	long long id;
	struct rel *q;
	int rc;

	if (!ctl_http_parse_id(req, arg, "id", &id))
		return;
	if (kv) {
		ctl_http_field_error(req, kv->key, "unknown parameter");
		return;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		ctl_http_error(req, 500, "out of memory");
		return;
	}
	q->c = c;
	q->req = req;
	snprintf(q->id, sizeof(q->id), "%lld", id);
	p[0] = q->id;
	rc = ctl_db_query(c->db, CLAIM_SQL, 1, p, false, on_claim, q);
	if (rc != 0) {
		free(q);
		ctl_http_error(req, rc == MXG_E_AGAIN ? 503 : 500, "%s",
			       rc == MXG_E_AGAIN ? "database unavailable" : "out of memory");
	}
}
