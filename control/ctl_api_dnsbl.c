/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_api_dnsbl.c - email reputation zones (/api/v1/dnsbl), issue 7.
 *
 *   GET /api/v1/dnsbl  {"zones": [{"name", "zone", "kind", "enabled",
 *       "action", "return_codes", "score", "position"}], "timeout_ms",
 *       "resolver", "default_action", "stats": {...}} (stats: what this
 *       node's mxgate-control loaded and counted, ctl_dnsbl_status)
 *   PUT /api/v1/dnsbl  {"zones": [...], "timeout_ms"?, "resolver"?,
 *       "default_action"?} or a bare array of zones: replaces the whole
 *       list (and the settings given) in one transaction; answers like GET
 *       without "stats".
 *
 * Zone fields: name (1..128 characters, unique), zone (a DNS name, no
 * leading or trailing dot), kind standard|advanced [standard], enabled
 * [true], action reject|tempfail|score [reject], return_codes (IPv4
 * addresses in 127.0.0.0/8, at most 16; [] = any 127.0.0.0/8 answer),
 * score (integer -1000..1000) [0], position [index in the list]. Every
 * error names its field: "zones[2].return_codes[0]: ...".
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_api.h"
#include "ctl_dnsbl.h"
#include "ctl_http.h"

#define ZONES_MAX 32

static bool dns_name_ok(const char *s)
{
	size_t n = strlen(s), lab = 0;

	if (!n || n > 200 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (!lab)
				return false;
			lab = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-' || *s == '_') {
			if (++lab > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

static void check_zone(json_t *z, size_t i, json_t *names, struct ctl_verrs *v)
{
	char f[64];
	const char *key;
	json_t *x;

#define F(k) (snprintf(f, sizeof(f), "zones[%zu].%s", i, k), f)
	if (!json_is_object(z)) {
		snprintf(f, sizeof(f), "zones[%zu]", i);
		ctl_verr_add(v, f, "expected an object");
		return;
	}
	json_object_foreach(z, key, x)
		if (strcmp(key, "name") && strcmp(key, "zone") && strcmp(key, "kind") &&
		    strcmp(key, "enabled") && strcmp(key, "action") && strcmp(key, "return_codes") &&
		    strcmp(key, "score") && strcmp(key, "position"))
			ctl_verr_add(v, F(key), "unknown field (name, zone, kind, enabled, action, "
				     "return_codes, score, position)");
	x = json_object_get(z, "name");
	if (!json_is_string(x) || !json_string_length(x) || json_string_length(x) > 128)
		ctl_verr_add(v, F("name"), "expected a string of 1..128 characters");
	else if (json_object_get(names, json_string_value(x)))
		ctl_verr_add(v, F("name"), "'%s' is used twice", json_string_value(x));
	else
		json_object_set_new(names, json_string_value(x), json_true());
	x = json_object_get(z, "zone");
	if (!json_is_string(x) || !dns_name_ok(json_string_value(x)))
		ctl_verr_add(v, F("zone"), "expected a DNS name such as zen.spamhaus.org (no "
			     "leading or trailing dot)");
	x = json_object_get(z, "kind");
	if (x && (!json_is_string(x) || (strcmp(json_string_value(x), "standard") &&
					  strcmp(json_string_value(x), "advanced"))))
		ctl_verr_add(v, F("kind"), "expected standard or advanced");
	x = json_object_get(z, "enabled");
	if (x && !json_is_boolean(x))
		ctl_verr_add(v, F("enabled"), "expected true or false");
	x = json_object_get(z, "action");
	if (x && (!json_is_string(x) || (strcmp(json_string_value(x), "reject") &&
					  strcmp(json_string_value(x), "tempfail") &&
					  strcmp(json_string_value(x), "score"))))
		ctl_verr_add(v, F("action"), "expected reject, tempfail or score");
	x = json_object_get(z, "score");
	if (x && (!json_is_integer(x) || json_integer_value(x) < -1000 ||
		  json_integer_value(x) > 1000))
		ctl_verr_add(v, F("score"), "expected an integer -1000..1000");
	x = json_object_get(z, "position");
	if (x && (!json_is_integer(x) || json_integer_value(x) < 0 ||
		  json_integer_value(x) > 100000))
		ctl_verr_add(v, F("position"), "expected an integer 0..100000");
	x = json_object_get(z, "return_codes");
	if (x && !json_is_array(x)) {
		ctl_verr_add(v, F("return_codes"), "expected an array of addresses such as "
			     "[\"127.0.0.2\"] ([] = any 127.0.0.0/8 answer)");
	} else if (x && json_array_size(x) > 16) {
		ctl_verr_add(v, F("return_codes"), "at most 16 codes");
	} else if (x) {
		size_t k;
		json_t *c;

		json_array_foreach(x, k, c) {
			struct in_addr ia;
			char g[80];

			snprintf(g, sizeof(g), "zones[%zu].return_codes[%zu]", i, k);
			if (!json_is_string(c) || inet_pton(AF_INET, json_string_value(c), &ia) != 1)
				ctl_verr_add(v, g, "expected an IPv4 address such as 127.0.0.2");
			else if ((ntohl(ia.s_addr) >> 24) != 127)
				ctl_verr_add(v, g, "%s is not in 127.0.0.0/8", json_string_value(c));
		}
	}
#undef F
}

void ctl_api_dnsbl_get(struct ctl *c, struct evhttp_request *req, const char *arg,
		       struct evkeyvalq *query)
{
	json_t *st = ctl_dnsbl_status(c);
	char *s = json_dumps(st, JSON_COMPACT);
	const char *p[1] = { s ? s : "{}" };

	(void)arg;
	(void)query;
	json_decref(st);
	ctl_http_db_json(c, req, "SELECT (mxg_dnsbl_json()::jsonb || jsonb_build_object('stats', "
				 "$1::jsonb))::text", 1, p, 200, NULL);
	free(s);
}

void ctl_api_dnsbl_put(struct ctl *c, struct evhttp_request *req, const char *arg,
		       struct evkeyvalq *query)
{
	struct ctl_verrs v = { 0 };
	json_t *in = ctl_http_body_json(req), *zones, *sets, *names, *x, *z;
	const char *key, *p[2];
	char *zs, *ss;
	size_t i;

	(void)arg;
	(void)query;
	if (!in)
		return;
	if (json_is_array(in)) {
		json_t *o = json_pack("{s:O}", "zones", in);

		json_decref(in);
		in = o;
	}
	if (!json_is_object(in)) {
		json_decref(in);
		ctl_http_field_error(req, "", "expected {\"zones\": [...], \"timeout_ms\", "
				     "\"resolver\", \"default_action\"} or an array of zones");
		return;
	}
	sets = json_object();
	json_object_foreach(in, key, x)
		if (strcmp(key, "zones") && strcmp(key, "timeout_ms") && strcmp(key, "resolver") &&
		    strcmp(key, "default_action") && strcmp(key, "stats"))
			ctl_verr_add(&v, key, "unknown field (zones, timeout_ms, resolver, "
				     "default_action)");
	zones = json_object_get(in, "zones");
	if (!json_is_array(zones))
		ctl_verr_add(&v, "zones", "expected an array (may be empty)");
	else if (json_array_size(zones) > ZONES_MAX)
		ctl_verr_add(&v, "zones", "at most %d zones", ZONES_MAX);
	else {
		names = json_object();
		json_array_foreach(zones, i, z)
			check_zone(z, i, names, &v);
		json_decref(names);
	}
	if ((x = json_object_get(in, "timeout_ms"))) {
		if (!json_is_integer(x) || json_integer_value(x) < 50 ||
		    json_integer_value(x) > 60000)
			ctl_verr_add(&v, "timeout_ms", "expected milliseconds, an integer 50..60000");
		else
			json_object_set(sets, "timeout_ms", x);
	}
	if ((x = json_object_get(in, "resolver"))) {
		const char *r = json_string_value(x);
		char host[128];
		const char *colon = r ? strrchr(r, ':') : NULL;
		struct in6_addr a6;
		struct in_addr a4;
		bool ok = r && strlen(r) < 100;

		if (ok && *r) { /* 192.0.2.1, 192.0.2.1:53, [2001:db8::1]:53, 2001:db8::1 */
			if (r[0] == '[') {
				const char *e = strchr(r, ']');

				ok = e && (!e[1] || (e[1] == ':' && atoi(e + 2) > 0 &&
						     atoi(e + 2) < 65536));
				snprintf(host, sizeof(host), "%.*s", e ? (int)(e - r - 1) : 0, r + 1);
				ok = ok && inet_pton(AF_INET6, host, &a6) == 1;
			} else if (inet_pton(AF_INET6, r, &a6) == 1) {
				ok = true;
			} else {
				snprintf(host, sizeof(host), "%.*s",
					 colon ? (int)(colon - r) : (int)strlen(r), r);
				ok = inet_pton(AF_INET, host, &a4) == 1 &&
				     (!colon || (atoi(colon + 1) > 0 && atoi(colon + 1) < 65536 &&
						 strspn(colon + 1, "0123456789") == strlen(colon + 1)));
			}
		}
		if (!ok)
			ctl_verr_add(&v, "resolver", "expected \"\" (resolv.conf) or an address "
				     "with an optional port: 192.0.2.53:53, [2001:db8::53]:53");
		else
			json_object_set(sets, "resolver", x);
	}
	if ((x = json_object_get(in, "default_action"))) {
		const char *a = json_string_value(x);

		if (!a || (strcmp(a, "accept") && strcmp(a, "reject") && strcmp(a, "tempfail")))
			ctl_verr_add(&v, "default_action", "expected accept, reject or tempfail");
		else
			json_object_set(sets, "default_action", x);
	}
	if (v.n) {
		json_decref(in);
		json_decref(sets);
		ctl_http_verrs(req, &v);
		return;
	}
	zs = json_dumps(zones, JSON_COMPACT);
	ss = json_dumps(sets, JSON_COMPACT);
	json_decref(in);
	json_decref(sets);
	if (!zs || !ss) {
		free(zs);
		free(ss);
		ctl_http_error(req, 500, "out of memory");
		return;
	}
	p[0] = zs;
	p[1] = ss;
	ctl_http_db_json(c, req, "SELECT mxg_dnsbl_put($1::jsonb, $2::jsonb)::text", 2, p, 200,
			 NULL);
	free(zs);
	free(ss);
}
