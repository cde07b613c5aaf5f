/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_api_policy.c - policy rules, address lists and whole-configuration
 * import/export (/api/v1/policies, /lists, /config).
 *
 * Every write is validated by ctl_valid.c first and then done by one SQL
 * statement calling a function of the schema (mxg_rule_put, mxg_list_put,
 * mxg_config_import): one statement is one transaction, so a change is
 * applied whole or not at all, and its policy version bump and NOTIFY
 * commit with it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "ctl_api.h"
#include "ctl_http.h"
#include "ctl_valid.h"

void ctl_api_policy_list(struct ctl *c, struct evhttp_request *req, const char *arg,
			 struct evkeyvalq *query)
{
	ctl_http_db_json(c, req,
			 "SELECT COALESCE(jsonb_agg(mxg_rule_json(r) ORDER BY r.position, r.id), "
			 "'[]')::text FROM policy_rules r",
			 0, NULL, 200, NULL);
}

void ctl_api_policy_get(struct ctl *c, struct evhttp_request *req, const char *arg,
			struct evkeyvalq *query)
{
	long long id;
	char ids[24];
	const char *p[1] = { ids };

	if (!ctl_http_parse_id(req, arg, "id", &id))
		return;
	snprintf(ids, sizeof(ids), "%lld", id);
	ctl_http_db_json(c, req, "SELECT mxg_rule_json(r)::text FROM policy_rules r WHERE id = $1",
			 1, p, 200, "no such rule");
}

/* Shared by create (|id| 0) and update. */
static void rule_put(struct ctl *c, struct evhttp_request *req, long long id)
{
	struct ctl_verrs v = { 0 };
	json_t *in = ctl_http_body_json(req), *rule, *j;
	char ids[24], *text;
	const char *p[3];

	if (!in)
		return;
	rule = ctl_rule_validate(in, "", 0, NULL, &v);
	if (!rule) {
		json_decref(in);
		ctl_http_verrs(req, &v);
		return;
	}
	j = json_object_get(rule, "id");
	if (j && (id == 0 || json_integer_value(j) != id)) {
		json_decref(in);
		json_decref(rule);
		ctl_http_field_error(req, "id", id ? "does not match the id in the URL"
						   : "must not be given when creating a rule");
		return;
	}
	json_object_del(rule, "id");
	text = json_dumps(rule, JSON_COMPACT);
	snprintf(ids, sizeof(ids), "%lld", id);
	p[0] = id ? ids : NULL;
	p[1] = text;
	p[2] = json_object_get(in, "position") ? "true" : "false";
	json_decref(in);
	json_decref(rule);
	if (!text) {
		ctl_http_error(req, 500, "out of memory");
		return;
	}
	ctl_http_db_json(c, req, "SELECT mxg_rule_put($1, $2::jsonb, $3)::text", 3, p,
			 id ? 200 : 201, "no such rule");
	free(text);
}

void ctl_api_policy_create(struct ctl *c, struct evhttp_request *req, const char *arg,
			   struct evkeyvalq *query)
{
	rule_put(c, req, 0);
}

void ctl_api_policy_update(struct ctl *c, struct evhttp_request *req, const char *arg,
			   struct evkeyvalq *query)
{
	long long id;

	if (ctl_http_parse_id(req, arg, "id", &id))
		rule_put(c, req, id);
}

void ctl_api_policy_delete(struct ctl *c, struct evhttp_request *req, const char *arg,
			   struct evkeyvalq *query)
{
	long long id;
	char ids[24];
	const char *p[1] = { ids };

	if (!ctl_http_parse_id(req, arg, "id", &id))
		return;
	snprintf(ids, sizeof(ids), "%lld", id);
	ctl_http_db_json(c, req,
			 "DELETE FROM policy_rules WHERE id = $1 "
			 "RETURNING json_build_object('deleted', id)::text",
			 1, p, 200, "no such rule");
}

void ctl_api_config_export(struct ctl *c, struct evhttp_request *req, const char *arg,
			   struct evkeyvalq *query)
{
	ctl_http_db_json(c, req, "SELECT mxg_config_export()::text", 0, NULL, 200, NULL);
}

void ctl_api_config_import(struct ctl *c, struct evhttp_request *req, const char *arg,
			   struct evkeyvalq *query)
{
	struct ctl_verrs v = { 0 };
	json_t *in = ctl_http_body_json(req), *doc;
	char *text;
	const char *p[1];

	if (!in)
		return;
	doc = ctl_doc_validate(in, &v);
	json_decref(in);
	if (!doc) {
		ctl_http_reply_json(req, 400, ctl_verrs_json(&v, "invalid configuration"));
		return;
	}
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!text) {
		ctl_http_error(req, 500, "out of memory");
		return;
	}
	p[0] = text;
	ctl_http_db_json(c, req,
			 "SELECT json_build_object('imported', true, 'policy_version', "
			 "mxg_config_import($1::jsonb), "
			 "'policies', jsonb_array_length($1::jsonb->'policies'), "
			 "'lists', jsonb_array_length($1::jsonb->'lists'))::text",
			 1, p, 200, NULL);
	free(text);
}

void ctl_api_list_index(struct ctl *c, struct evhttp_request *req, const char *arg,
			struct evkeyvalq *query)
{
	ctl_http_db_json(c, req,
			 "SELECT COALESCE(json_agg(json_build_object('name', l.name, 'kind', "
			 "l.kind, 'description', l.description, 'entries', (SELECT count(*) "
			 "FROM list_entries e WHERE e.list_id = l.id)) ORDER BY l.name), "
			 "'[]')::text FROM address_lists l",
			 0, NULL, 200, NULL);
}

void ctl_api_list_get(struct ctl *c, struct evhttp_request *req, const char *arg,
		      struct evkeyvalq *query)
{
	const char *p[1] = { arg };

	if (!ctl_list_name_ok(arg)) {
		ctl_http_field_error(req, "name", "not a list name ([a-z0-9_-], 1 to 64)");
		return;
	}
	ctl_http_db_json(c, req, "SELECT mxg_list_json($1)::text", 1, p, 200, "no such list");
}

void ctl_api_list_put(struct ctl *c, struct evhttp_request *req, const char *arg,
		      struct evkeyvalq *query)
{
	struct ctl_verrs v = { 0 };
	json_t *in, *list, *j;
	char *entries;
	const char *p[4];

	if (!ctl_list_name_ok(arg)) {
		ctl_http_field_error(req, "name", "not a list name ([a-z0-9_-], 1 to 64)");
		return;
	}
	if (!(in = ctl_http_body_json(req)))
		return;
	list = ctl_list_validate(in, arg, false, "", &v);
	if (!list) {
		json_decref(in);
		ctl_http_verrs(req, &v);
		return;
	}
	entries = json_dumps(json_object_get(list, "entries"), JSON_COMPACT);
	p[0] = arg;
	j = json_object_get(list, "kind");
	p[1] = j ? json_string_value(j) : NULL;
	p[2] = json_object_get(in, "description") ?
		       json_string_value(json_object_get(list, "description")) : NULL;
	p[3] = entries;
	if (entries)
		ctl_http_db_json(c, req, "SELECT mxg_list_put($1, $2, $3, $4::jsonb)::text", 4,
				 p, 200, NULL);
	else
		ctl_http_error(req, 500, "out of memory");
	free(entries);
	json_decref(list);
	json_decref(in);
}
