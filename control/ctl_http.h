/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_http.h - the HTTPS server of the REST API (libevent evhttp over
 * bufferevent_openssl) and the helpers handlers use to answer.
 *
 * Every request is authenticated first (Authorization: Bearer TOKEN, checked
 * against the cached token hashes; 401 otherwise, with no hint whether a
 * path exists). Routes are a table in ctl_http.c; handlers live in
 * ctl_api_*.c. Answers are JSON; errors are {"error": "..."} plus, for
 * validation, "errors": [{"field", "message"}].
 *
 * A handler may answer later (after a database callback): evhttp keeps the
 * request until evhttp_send_reply, and frees it then even if the client
 * went away meanwhile.
 */
#ifndef CTL_HTTP_H
#define CTL_HTTP_H

#include <stdbool.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "ctl.h"
#include "ctl_valid.h"

struct ctl_http;

/* Binds |host|:|port| and serves. |ssl| is transferred (freed with the
 * server). Returns NULL (logged) if the address cannot be bound. */
struct ctl_http *ctl_http_new(struct ctl *c, SSL_CTX *ssl, const char *host, unsigned port);
void ctl_http_free(struct ctl_http *h);

/* Answers |code| with |body| (stolen). */
void ctl_http_reply_json(struct evhttp_request *req, int code, json_t *body);
/* Answers |code| with a JSON text (borrowed). */
void ctl_http_reply_text(struct evhttp_request *req, int code, const char *text);
/* Answers |code| with {"error": formatted}. */
void ctl_http_error(struct evhttp_request *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Answers 400 naming |field|: {"error": "field: msg", "errors": [...]}. */
void ctl_http_field_error(struct evhttp_request *req, const char *field, const char *fmt,
			  ...) __attribute__((format(printf, 3, 4)));
/* Answers 400 with every validation error of |v|. */
void ctl_http_verrs(struct evhttp_request *req, const struct ctl_verrs *v);

/* Parses the request body as JSON. On error answers 400 ("invalid JSON at
 * line L column C: ...") and returns NULL. Caller owns the result. */
json_t *ctl_http_body_json(struct evhttp_request *req);

/* Runs |sql| (one row, one column of JSON text) and answers with it:
 * |ok_code| with the text; 404 {"error": notfound} when no row or NULL; 400
 * for data errors raised by our SQL functions (their message names the
 * field); 409 for unique violations; 503 when the database is down; 500
 * otherwise (details logged, not sent). */
void ctl_http_db_json(struct ctl *c, struct evhttp_request *req, const char *sql, int n,
		      const char *const *params, int ok_code, const char *notfound);

/* Parses a positive decimal id from |s| into *id; answers 400 naming |field|
 * and returns false if it is not one. */
bool ctl_http_parse_id(struct evhttp_request *req, const char *s, const char *field,
		       long long *id);

#endif
