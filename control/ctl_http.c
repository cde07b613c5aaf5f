/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_http.c - HTTPS server, authentication, routing and reply helpers for
 * the REST API (see ctl_http.h).
 *
 * Limits: request bodies up to 32 MiB (a whole-configuration import),
 * headers up to 16 KiB, 30 s idle timeout per connection; methods GET, POST,
 * PUT, DELETE only. TLS is set up per connection by the bevcb hook, so no
 * byte is parsed before the handshake completed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <libpq-fe.h>

#include "ctl_api.h"
#include "ctl_db.h"
#include "ctl_http.h"
#include "ctl_token.h"
#include "mxg_err.h"
#include "mxg_log.h"

#define COMP "api"
#define BODY_MAX (32u << 20)
#define TOKEN_MAX 256

struct ctl_http {
	struct ctl *c;
	struct evhttp *http;
	SSL_CTX *ssl;
};

struct route {
	enum evhttp_cmd_type method;
	const char *path;   /* exact path, or prefix ending in '/' for {arg} */
	bool needs_db;      /* answered 503 while the database is down */
	ctl_api_fn *fn;
	const char *suffix; /* prefix routes: what follows {arg} ("/release"); NULL none */
};

static const struct route routes[] = {
	{ EVHTTP_REQ_GET, "/api/v1/status", false, ctl_api_status },
	{ EVHTTP_REQ_GET, "/api/v1/policies", true, ctl_api_policy_list },
	{ EVHTTP_REQ_POST, "/api/v1/policies", true, ctl_api_policy_create },
	{ EVHTTP_REQ_GET, "/api/v1/policies/", true, ctl_api_policy_get },
	{ EVHTTP_REQ_PUT, "/api/v1/policies/", true, ctl_api_policy_update },
	{ EVHTTP_REQ_DELETE, "/api/v1/policies/", true, ctl_api_policy_delete },
	{ EVHTTP_REQ_GET, "/api/v1/lists", true, ctl_api_list_index },
	{ EVHTTP_REQ_GET, "/api/v1/lists/", true, ctl_api_list_get },
	{ EVHTTP_REQ_PUT, "/api/v1/lists/", true, ctl_api_list_put },
	{ EVHTTP_REQ_GET, "/api/v1/quarantine", true, ctl_api_quarantine_list },
	{ EVHTTP_REQ_GET, "/api/v1/quarantine/", true, ctl_api_quarantine_get },
	{ EVHTTP_REQ_DELETE, "/api/v1/quarantine/", true, ctl_api_quarantine_delete },
	{ EVHTTP_REQ_POST, "/api/v1/quarantine/", true, ctl_api_quarantine_release, "/release" },
	{ EVHTTP_REQ_GET, "/api/v1/logs", true, ctl_api_log_search },
	{ EVHTTP_REQ_GET, "/api/v1/config/export", true, ctl_api_config_export },
	{ EVHTTP_REQ_POST, "/api/v1/config/import", true, ctl_api_config_import },
	{ EVHTTP_REQ_GET, "/api/v1/blocklist", true, ctl_api_blocklist_list },
	{ EVHTTP_REQ_POST, "/api/v1/blocklist", true, ctl_api_blocklist_add },
	{ EVHTTP_REQ_DELETE, "/api/v1/blocklist/", true, ctl_api_blocklist_delete },
	{ EVHTTP_REQ_GET, "/api/v1/profiler", false, ctl_api_profiler },
	{ EVHTTP_REQ_GET, "/api/v1/dnsbl", true, ctl_api_dnsbl_get },
	{ EVHTTP_REQ_PUT, "/api/v1/dnsbl", true, ctl_api_dnsbl_put },
};

void ctl_http_reply_text(struct evhttp_request *req, int code, const char *text)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (code == 401)
		evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"mxgate\"");
	if (b) {
		evbuffer_add(b, text, strlen(text));
		evbuffer_add(b, "\n", 1);
	}
	evhttp_send_reply(req, code, NULL, b);
	if (b)
		evbuffer_free(b);
}

void ctl_http_reply_json(struct evhttp_request *req, int code, json_t *body)
{
	char *t = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(body);
	if (!t) {
		ctl_http_reply_text(req, 500, "{\"error\": \"out of memory\"}");
		return;
	}
	ctl_http_reply_text(req, code, t);
	free(t);
}

void ctl_http_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctl_http_reply_json(req, code, json_pack("{s:s}", "error", msg));
}

void ctl_http_field_error(struct evhttp_request *req, const char *field, const char *fmt, ...)
{
	struct ctl_verrs v = { 0 };
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctl_verr_add(&v, field, "%s", msg);
	ctl_http_verrs(req, &v);
}

void ctl_http_verrs(struct evhttp_request *req, const struct ctl_verrs *v)
{
	ctl_http_reply_json(req, 400, ctl_verrs_json(v, "invalid input"));
}

json_t *ctl_http_body_json(struct evhttp_request *req)
{
	struct evbuffer *b = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(b);
	json_error_t je;
	json_t *j;

	if (len == 0) {
		ctl_http_error(req, 400, "a JSON body is required");
		return NULL;
	}
	j = json_loadb((const char *)evbuffer_pullup(b, -1), len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		ctl_http_error(req, 400, "invalid JSON at line %d column %d: %s", je.line,
			       je.column, je.text);
	return j;
}

bool ctl_http_parse_id(struct evhttp_request *req, const char *s, const char *field,
		       long long *id)
{
	char *end;

	if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18 ||
	    (*id = strtoll(s, &end, 10)) <= 0) {
		ctl_http_field_error(req, field, "must be a positive integer");
		return false;
	}
	return true;
}

struct dbreq {
	struct evhttp_request *req;
	int ok_code;
	const char *notfound;
};

/* Maps a server-side error to an HTTP answer. */
static void sql_error(struct evhttp_request *req, PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *cons = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);

	if (!state)
		state = "";
	if (!msg)
		msg = "";
	if (strcmp(state, "23505") == 0) {
		if (cons && strstr(cons, "name"))
			ctl_http_reply_json(req, 409, json_pack("{s:s, s:[{s:s, s:s}]}",
				"error", "name: already used by another entry",
				"errors", "field", "name", "message", "already used by another entry"));
		else
			ctl_http_error(req, 409, "conflicts with an existing entry");
		return;
	}
	if (strcmp(state, "22023") == 0) {
		/* our own RAISE: "field: message" */
		const char *colon = strstr(msg, ": ");
		char field[160] = "";

		if (colon && (size_t)(colon - msg) < sizeof(field))
			snprintf(field, sizeof(field), "%.*s", (int)(colon - msg), msg);
		ctl_http_reply_json(req, 400, json_pack("{s:s, s:[{s:s, s:s}]}", "error", msg,
			"errors", "field", field, "message", colon ? colon + 2 : msg));
		return;
	}
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0) {
		ctl_http_error(req, 400, "rejected by the database: %s", msg);
		return;
	}
	if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0) {
		ctl_http_error(req, 503, "database unavailable");
		return;
	}
	MXG_WARN(COMP, "database error %s: %s", state, msg);
	ctl_http_error(req, 500, "database error (see the control plane's log)");
}

static void on_db_json(enum ctl_db_status st, PGresult *res, void *ud)
{
	struct dbreq *d = ud;

	if (st == CTL_DB_DOWN)
		ctl_http_error(d->req, 503, "database unavailable");
	else if (st == CTL_DB_SQL)
		sql_error(d->req, res);
	else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		ctl_http_error(d->req, 404, "%s", d->notfound ? d->notfound : "not found");
	else
		ctl_http_reply_text(d->req, d->ok_code, PQgetvalue(res, 0, 0));
	free(d);
}

void ctl_http_db_json(struct ctl *c, struct evhttp_request *req, const char *sql, int n,
		      const char *const *params, int ok_code, const char *notfound)
{
	struct dbreq *d = malloc(sizeof(*d));
	int rc;

	if (!d) {
		ctl_http_error(req, 500, "out of memory");
		return;
	}
	d->req = req;
	d->ok_code = ok_code;
	d->notfound = notfound;
	rc = ctl_db_query(c->db, sql, n, params, false, on_db_json, d);
	if (rc != 0) {
		free(d);
		ctl_http_error(req, rc == MXG_E_AGAIN ? 503 : 500, "%s",
			       rc == MXG_E_AGAIN ? "database unavailable" : "out of memory");
	}
}

static bool authorized(struct ctl *c, struct evhttp_request *req)
{
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(req),
					   "Authorization");
	size_t len;

	if (!a || strncasecmp(a, "Bearer ", 7) != 0)
		return false;
	a += 7;
	while (*a == ' ')
		a++;
	len = strlen(a);
	while (len && a[len - 1] == ' ')
		len--;
	if (len == 0 || len > TOKEN_MAX)
		return false;
	return ctl_token_check(c, a, len);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct ctl_http *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *qs = uri ? evhttp_uri_get_query(uri) : NULL;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	const struct route *r, *hit = NULL;
	bool path_known = false;
	struct evkeyvalq query;
	char *arg_dec = NULL, *arg_raw;
	const char *argp = NULL;
	size_t argl = 0;

	if (!authorized(h->c, req)) {
		ctl_http_error(req, 401, "missing or invalid bearer token");
		return;
	}
	if (!path) {
		ctl_http_error(req, 400, "bad request line");
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		size_t pl;

		r = &routes[i];
		pl = strlen(r->path);
		if (r->path[pl - 1] == '/') {
			/* prefix {arg} [suffix]: arg is one non-empty segment */
			size_t sl = r->suffix ? strlen(r->suffix) : 0, tl = strlen(path);

			if (strncmp(path, r->path, pl) != 0 || tl <= pl + sl ||
			    (sl && strcmp(path + tl - sl, r->suffix) != 0) ||
			    memchr(path + pl, '/', tl - pl - sl))
				continue;
			argl = tl - pl - sl;
		} else if (strcmp(path, r->path) != 0) {
			continue;
		}
		path_known = true;
		if (r->method == m) {
			hit = r;
			if (r->path[pl - 1] == '/')
				argp = path + pl;
			break;
		}
	}
	if (!hit) {
		if (path_known)
			ctl_http_error(req, 405, "method not allowed on %s", path);
		else
			ctl_http_error(req, 404, "no such endpoint: %s", path);
		return;
	}
	if (hit->needs_db && !ctl_db_ok(h->c->db)) {
		ctl_http_error(req, 503, "database unavailable");
		return;
	}
	TAILQ_INIT(&query);
	if (qs && evhttp_parse_query_str(qs, &query) != 0) {
		ctl_http_error(req, 400, "malformed query string");
		return;
	}
	if (argp) {
		arg_raw = strndup(argp, argl);
		arg_dec = arg_raw ? evhttp_uridecode(arg_raw, 0, NULL) : NULL;
		free(arg_raw);
		if (!arg_dec) {
			evhttp_clear_headers(&query);
			ctl_http_error(req, 400, "malformed path");
			return;
		}
	}
	MXG_DEBUG(COMP, "%s %s", m == EVHTTP_REQ_GET ? "GET" : m == EVHTTP_REQ_POST ? "POST" :
		  m == EVHTTP_REQ_PUT ? "PUT" : "DELETE", path);
	hit->fn(h->c, req, arg_dec, &query);
	free(arg_dec);
	evhttp_clear_headers(&query);
}

static struct bufferevent *on_bev(struct event_base *base, void *arg)
{
	struct ctl_http *h = arg;
	SSL *ssl = SSL_new(h->ssl);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

struct ctl_http *ctl_http_new(struct ctl *c, SSL_CTX *ssl, const char *host, unsigned port)
{
	struct ctl_http *h = calloc(1, sizeof(*h));

	if (!h) {
		SSL_CTX_free(ssl);
		return NULL;
	}
	h->c = c;
	h->ssl = ssl;
	h->http = evhttp_new(c->base);
	if (!h->http)
		goto fail;
	evhttp_set_bevcb(h->http, on_bev, h);
	evhttp_set_gencb(h->http, on_request, h);
	evhttp_set_max_body_size(h->http, BODY_MAX);
	evhttp_set_max_headers_size(h->http, 16384);
	evhttp_set_timeout(h->http, 30);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
						    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	if (!evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port)) {
		MXG_ERR(COMP, "cannot listen on %s port %u", host, port);
		goto fail;
	}
	MXG_NOTICE(COMP, "REST API on https://%s%s%s:%u/api/v1/", strchr(host, ':') ? "[" : "",
		   host, strchr(host, ':') ? "]" : "", port);
	return h;
fail:
	ctl_http_free(h);
	return NULL;
}

void ctl_http_free(struct ctl_http *h)
{
	if (!h)
		return;
	if (h->http)
		evhttp_free(h->http);
	SSL_CTX_free(h->ssl);
	free(h);
}
