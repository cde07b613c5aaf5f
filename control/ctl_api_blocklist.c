/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_api_blocklist.c - the sender blocklist (/api/v1/blocklist) and the IP
 * profiler's state (/api/v1/profiler), issue 7.
 *
 *   GET    /api/v1/blocklist[?source=admin|profiler]
 *          {"version": N, "entries": [{"prefix", "reason", "source",
 *          "created_at", "expires_at", "expires_in"}]} (live entries only)
 *   POST   /api/v1/blocklist  {"prefix", "reason"?, "expires_in"? |
 *          "expires_at"?}: adds or replaces the entry of that prefix; 201
 *          with the entry
 *   DELETE /api/v1/blocklist/{prefix}  (URL-encoded: 198.51.100.0%2F24)
 *   GET    /api/v1/profiler  settings and counters (ctl_prof.h)
 *
 * The prefix is checked here, with a message that says what is wrong
 * (not an address, length beyond the family's, host bits set); a bare
 * address means /32 or /128. The row and its version bump commit in one
 * statement; the NOTIFY makes ctl_chan.c push the list to the dataplanes.
 * Known hosts cannot be refused here (they are the dataplane's
 * configuration): the dataplane never drops a known host, blocked or not.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "ctl_api.h"
#include "ctl_http.h"
#include "ctl_prof.h"
#include "mxg_addr.h"

#define REASON_MAX 200
#define EXPIRES_IN_MAX (10LL * 366 * 86400)

/* Parses |s| into the canonical "addr/len" text |out|. On error writes the
 * message (without the field name) to |err| and returns false. */
static bool prefix_canon(const char *s, char *out, size_t olen, char *err, size_t elen)
{
	struct mxg_prefix p;
	const char *slash = strchr(s, '/');
	char ip[64], masked[64];
	unsigned n, max;

	if (!*s) {
		snprintf(err, elen, "must not be empty");
		return false;
	}
	if (strlen(s) > 60 || mxg_prefix_parse(s, &p) != 0) {
		if (slash && strspn(slash + 1, "0123456789") == strlen(slash + 1) && slash[1]) {
			snprintf(ip, sizeof(ip), "%.*s", (int)(slash - s < 63 ? slash - s : 63), s);
			if (!mxg_ip_parse(ip, &p.ip)) {
				snprintf(err, elen, "prefix length /%s is beyond %u for %s", slash + 1,
					 p.ip.family == 4 ? 32 : 128,
					 p.ip.family == 4 ? "IPv4" : "IPv6");
				return false;
			}
		}
		snprintf(err, elen, "'%.64s' is not an IPv4 or IPv6 address or CIDR prefix "
			 "(e.g. 198.51.100.0/24, 2001:db8::/32)", s);
		return false;
	}
	max = p.ip.family == 4 ? 32 : 128;
	if (p.len > max) {
		snprintf(err, elen, "prefix length /%u is beyond %u", p.len, max);
		return false;
	}
	if (p.len == 0) {
		snprintf(err, elen, "/0 would block every %s sender", p.ip.family == 4 ? "IPv4"
										    : "IPv6");
		return false;
	}
	mxg_ip_str(&p.ip, ip, sizeof(ip));
	n = p.ip.family == 4 ? 4 : 16;
	for (unsigned i = 0, bits = p.len; i < n; i++) {
		if (bits >= 8)
			bits -= 8;
		else {
			p.ip.a[i] &= (uint8_t)(0xff00u >> bits);
			bits = 0;
		}
	}
	mxg_ip_str(&p.ip, masked, sizeof(masked));
	if (strcmp(ip, masked) != 0) {
		snprintf(err, elen, "%s/%u has host bits set: did you mean %s/%u?", ip, p.len,
			 masked, p.len);
		return false;
	}
	snprintf(out, olen, "%s/%u", masked, p.len);
	return true;
}

void ctl_api_blocklist_list(struct ctl *c, struct evhttp_request *req, const char *arg,
			    struct evkeyvalq *query)
{
	const char *src = NULL, *p[1];
	struct evkeyval *kv;

	TAILQ_FOREACH(kv, query, next) {
		if (strcmp(kv->key, "source") != 0) {
			ctl_http_field_error(req, kv->key, "unknown search parameter");
			return;
		}
		if (strcmp(kv->value, "admin") && strcmp(kv->value, "profiler")) {
			ctl_http_field_error(req, "source", "expected admin or profiler");
			return;
		}
		src = kv->value;
	}
	p[0] = src;
	ctl_http_db_json(c, req,
			 "SELECT json_build_object('version', COALESCE((SELECT max(version) "
			 "FROM blocklist_versions), 0), 'entries', COALESCE(json_agg("
			 "mxg_blocklist_json(b) ORDER BY b.prefix), '[]'))::text FROM blocklist b "
			 "WHERE (b.expires_at IS NULL OR b.expires_at > now()) "
			 "AND ($1::text IS NULL OR b.source = $1)",
			 1, p, 200, NULL);
}

void ctl_api_blocklist_add(struct ctl *c, struct evhttp_request *req, const char *arg,
			   struct evkeyvalq *query)
{
	struct ctl_verrs v = { 0 };
	json_t *in = ctl_http_body_json(req), *j, *ein, *eat;
	char pfx[80] = "", err[200], in_s[24] = "", at_s[64] = "";
	const char *key, *params[4];

	if (!in)
		return;
	if (!json_is_object(in)) {
		json_decref(in);
		ctl_http_field_error(req, "", "expected an object {\"prefix\", \"reason\", "
				     "\"expires_in\" or \"expires_at\"}");
		return;
	}
	json_object_foreach(in, key, j)
		if (strcmp(key, "prefix") && strcmp(key, "reason") && strcmp(key, "expires_in") &&
		    strcmp(key, "expires_at"))
			ctl_verr_add(&v, key, "unknown field (prefix, reason, expires_in, "
				     "expires_at)");
	j = json_object_get(in, "prefix");
	if (!j)
		ctl_verr_add(&v, "prefix", "missing");
	else if (!json_is_string(j))
		ctl_verr_add(&v, "prefix", "expected a string (an address or CIDR prefix)");
	else if (!prefix_canon(json_string_value(j), pfx, sizeof(pfx), err, sizeof(err)))
		ctl_verr_add(&v, "prefix", "%s", err);
	j = json_object_get(in, "reason");
	if (j && !json_is_null(j)) {
		if (!json_is_string(j))
			ctl_verr_add(&v, "reason", "expected a string");
		else if (json_string_length(j) > REASON_MAX)
			ctl_verr_add(&v, "reason", "longer than %d characters", REASON_MAX);
		else
			for (const char *s = json_string_value(j); *s; s++)
				if (iscntrl((unsigned char)*s)) {
					ctl_verr_add(&v, "reason", "control characters are not allowed");
					break;
				}
	}
	ein = json_object_get(in, "expires_in");
	eat = json_object_get(in, "expires_at");
	if (ein && json_is_null(ein))
		ein = NULL;
	if (eat && json_is_null(eat))
		eat = NULL;
	if (ein && eat)
		ctl_verr_add(&v, "expires_at", "give expires_in or expires_at, not both");
	if (ein) {
		if (!json_is_integer(ein) || json_integer_value(ein) < 1 ||
		    json_integer_value(ein) > EXPIRES_IN_MAX)
			ctl_verr_add(&v, "expires_in", "expected seconds, an integer 1..%lld "
				     "(absent or null: never)", EXPIRES_IN_MAX);
		else
			snprintf(in_s, sizeof(in_s), "%lld", (long long)json_integer_value(ein));
	}
	if (eat) {
		if (json_is_integer(eat) && json_integer_value(eat) > 0)
			snprintf(at_s, sizeof(at_s), "%lld", (long long)json_integer_value(eat));
		else if (json_is_string(eat) && json_string_length(eat) > 0 &&
			 json_string_length(eat) < sizeof(at_s))
			snprintf(at_s, sizeof(at_s), "%s", json_string_value(eat));
		else
			ctl_verr_add(&v, "expires_at", "expected epoch seconds (integer) or an "
				     "ISO 8601 time (string)");
	}
	if (v.n) {
		json_decref(in);
		ctl_http_verrs(req, &v);
		return;
	}
	params[0] = pfx;
	j = json_object_get(in, "reason");
	params[1] = json_is_string(j) ? json_string_value(j) : "";
	params[2] = at_s[0] ? at_s : NULL;
	params[3] = in_s[0] ? in_s : NULL;
	ctl_http_db_json(c, req, "SELECT mxg_blocklist_put($1::cidr, $2, 'admin', $3, "
				 "$4::bigint)::text", 4, params, 201, NULL);
	json_decref(in);
}

void ctl_api_blocklist_delete(struct ctl *c, struct evhttp_request *req, const char *arg,
			      struct evkeyvalq *query)
{
	char pfx[80], err[200];
	const char *p[1] = { pfx };

	if (!prefix_canon(arg ? arg : "", pfx, sizeof(pfx), err, sizeof(err))) {
		ctl_http_field_error(req, "prefix", "%s", err);
		return;
	}
	ctl_http_db_json(c, req,
			 "DELETE FROM blocklist WHERE prefix = $1::cidr "
			 "RETURNING json_build_object('deleted', prefix::text, 'source', source)::text",
			 1, p, 200, "no such blocklist entry");
}

void ctl_api_profiler(struct ctl *c, struct evhttp_request *req, const char *arg,
		      struct evkeyvalq *query)
{
	ctl_http_reply_json(req, 200, ctl_prof_status(c));
}
