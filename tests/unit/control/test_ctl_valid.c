/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tests for control/ctl_valid.c: the rule, list and configuration-document
 * validator. Documents are written as JSON text; every rejection checks the
 * field path the operator will see, not just that it failed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_valid.h"

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);

	if (!j)
		print_error("bad test JSON: %s at %d:%d\n", je.text, je.line, je.column);
	assert_non_null(j);
	return j;
}

static json_t *rule_ok(const char *text)
{
	struct ctl_verrs v = { 0 };
	json_t *in = parse(text), *out = ctl_rule_validate(in, "", 10, NULL, &v);

	if (!out)
		print_error("unexpected: %s: %s\n", v.e[0].field, v.e[0].msg);
	assert_non_null(out);
	assert_int_equal(v.n, 0);
	json_decref(in);
	return out;
}

/* Expects the rule to be rejected with the first error on |field| and a
 * message containing |msg|. */
static void rule_bad(const char *text, const char *field, const char *msg)
{
	struct ctl_verrs v = { 0 };
	json_t *in = parse(text), *out = ctl_rule_validate(in, "", 10, NULL, &v);

	assert_null(out);
	assert_true(v.n >= 1);
	if (strcmp(v.e[0].field, field) != 0 || !strstr(v.e[0].msg, msg))
		print_error("got %s: %s\n", v.e[0].field, v.e[0].msg);
	assert_string_equal(v.e[0].field, field);
	assert_non_null(strstr(v.e[0].msg, msg));
	json_decref(in);
}

static void doc_bad(const char *text, const char *field, const char *msg)
{
	struct ctl_verrs v = { 0 };
	json_t *in = parse(text), *out = ctl_doc_validate(in, &v);
	unsigned i;

	assert_null(out);
	assert_true(v.n >= 1);
	for (i = 0; i < v.n && i < CTL_VERR_MAX; i++)
		if (strcmp(v.e[i].field, field) == 0 && strstr(v.e[i].msg, msg))
			break;
	if (i == v.n || i == CTL_VERR_MAX)
		print_error("no %s ~ %s; first: %s: %s\n", field, msg, v.e[0].field,
			    v.e[0].msg);
	assert_true(i < v.n && i < CTL_VERR_MAX);
	json_decref(in);
}

#define MINIMAL "\"name\": \"r\", \"conditions\": [{\"type\": \"any\"}], " \
		"\"actions\": [{\"type\": \"deliver\"}]"

static void test_rule_defaults(void **st)
{
	json_t *r = rule_ok("{" MINIMAL "}");

	assert_string_equal(json_string_value(json_object_get(r, "scope")), "both");
	assert_string_equal(json_string_value(json_object_get(r, "match")), "all");
	assert_true(json_is_true(json_object_get(r, "enabled")));
	assert_true(json_is_false(json_object_get(r, "stop")));
	assert_int_equal(json_integer_value(json_object_get(r, "position")), 10);
	assert_int_equal(json_array_size(json_object_get(r, "exceptions")), 0);
	assert_string_equal(json_string_value(json_object_get(r, "description")), "");
	json_decref(r);
}

static void test_rule_full(void **st)
{
	json_t *r = rule_ok(
		"{\"name\": \"Block exe from outside\", \"scope\": \"inbound\",\n"
		" \"match\": \"any\", \"position\": 5, \"enabled\": false, \"stop\": true,\n"
		" \"conditions\": [\n"
		"  {\"type\": \"sender\", \"pattern\": \"*@*.example.com\"},\n"
		"  {\"type\": \"recipient\", \"regex\": \"^ceo@\", \"not\": true},\n"
		"  {\"type\": \"attachment_type\", \"types\": [\"exe\", \"msi\"]},\n"
		"  {\"type\": \"attachment_name\", \"pattern\": \"*.scr\"},\n"
		"  {\"type\": \"message_size\", \"min\": 1, \"max\": 10485760},\n"
		"  {\"type\": \"header\", \"name\": \"X-Mailer\", \"regex\": \"(?i)bulk\"},\n"
		"  {\"type\": \"dlp\", \"template\": \"credit_card\", \"min_count\": 2},\n"
		"  {\"type\": \"spam_score\", \"min\": 5.5}],\n"
		" \"exceptions\": [{\"type\": \"sender\", \"pattern\": \"boss@example.com\"}],\n"
		" \"actions\": [{\"type\": \"tag_subject\", \"tag\": \"[SUSPECT]\"},\n"
		"  {\"type\": \"insert_header\", \"name\": \"X-Mxgate\", \"value\": \"checked\"},\n"
		"  {\"type\": \"strip_attachments\", \"notice\": \"removed\"},\n"
		"  {\"type\": \"notify\", \"to\": \"admin\", \"template\": \"virus\"},\n"
		"  {\"type\": \"bcc\", \"address\": \"audit@example.com\"},\n"
		"  {\"type\": \"reroute\", \"host\": \"[192.0.2.1]\", \"port\": 2525}]}");

	assert_string_equal(json_string_value(json_object_get(r, "scope")), "inbound");
	assert_int_equal(json_integer_value(json_object_get(r, "position")), 5);
	assert_int_equal(json_array_size(json_object_get(r, "conditions")), 8);
	assert_int_equal(json_array_size(json_object_get(r, "actions")), 6);
	json_decref(r);
}

static void test_rule_required(void **st)
{
	rule_bad("{\"conditions\": [{\"type\": \"any\"}], \"actions\": [{\"type\": \"deliver\"}]}",
		 "name", "required");
	rule_bad("{\"name\": \"r\", \"actions\": [{\"type\": \"deliver\"}]}", "conditions",
		 "required");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"any\"}]}", "actions",
		 "required");
	rule_bad("{\"name\": \"r\", \"conditions\": [], \"actions\": [{\"type\": \"deliver\"}]}",
		 "conditions", "at least 1");
	rule_bad("{\"name\": \"\", \"conditions\": [{\"type\": \"any\"}], "
		 "\"actions\": [{\"type\": \"deliver\"}]}", "name", "must not be empty");
	rule_bad("[1]", "", "must be an object");
}

static void test_rule_unknown(void **st)
{
	rule_bad("{" MINIMAL ", \"colour\": 1}", "colour", "unknown field of a rule");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"any\"}, {\"type\": \"virsu\"}], "
		 "\"actions\": [{\"type\": \"deliver\"}]}",
		 "conditions[1].type", "unknown condition type 'virsu'");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"virus\", \"x\": 1}], "
		 "\"actions\": [{\"type\": \"deliver\"}]}",
		 "conditions[0].x", "unknown field for condition 'virus'");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"any\"}], "
		 "\"actions\": [{\"type\": \"explode\"}]}",
		 "actions[0].type", "unknown action type");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"kind\": \"any\"}], "
		 "\"actions\": [{\"type\": \"deliver\"}]}", "conditions[0].type", "required");
}

static void test_rule_regex(void **st)
{
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"subject\", \"regex\": \"(a\"}], "
		 "\"actions\": [{\"type\": \"deliver\"}]}",
		 "conditions[0].regex", "does not compile at offset 2");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"any\"}], "
		 "\"exceptions\": [{\"type\": \"header\", \"name\": \"X\", \"regex\": \"[z-a]\"}], "
		 "\"actions\": [{\"type\": \"deliver\"}]}",
		 "exceptions[0].regex", "does not compile");
}

static void test_rule_values(void **st)
{
	rule_bad("{" MINIMAL ", \"scope\": \"sideways\"}", "scope", "must be one of");
	rule_bad("{" MINIMAL ", \"enabled\": \"yes\"}", "enabled", "must be true or false");
	rule_bad("{" MINIMAL ", \"position\": -1}", "position", "between");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"sender\", "
		 "\"pattern\": \"a@b@c\"}], \"actions\": [{\"type\": \"deliver\"}]}",
		 "conditions[0].pattern", "more than one '@'");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"message_size\", "
		 "\"min\": \"big\"}], \"actions\": [{\"type\": \"deliver\"}]}",
		 "conditions[0].min", "must be an integer");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"message_size\", "
		 "\"min\": 10, \"max\": 5}], \"actions\": [{\"type\": \"deliver\"}]}",
		 "conditions[0].min", "greater than");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"dlp\", "
		 "\"template\": \"tarot\"}], \"actions\": [{\"type\": \"deliver\"}]}",
		 "conditions[0].template", "must be one of");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"any\"}], \"actions\": "
		 "[{\"type\": \"bcc\", \"address\": \"nobody\"}]}",
		 "actions[0].address", "not an address");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"any\"}], \"actions\": "
		 "[{\"type\": \"reroute\", \"host\": \"mx\", \"port\": 70000}]}",
		 "actions[0].port", "between 1 and 65535");
}

/* Header injection: a CR/LF in a value would let a rule write arbitrary
 * headers or end the header block. */
static void test_rule_header_injection(void **st)
{
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"any\"}], \"actions\": "
		 "[{\"type\": \"insert_header\", \"name\": \"X-A\", \"value\": \"a\\r\\nBcc: x\"}]}",
		 "actions[0].value", "no CR, LF");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"any\"}], \"actions\": "
		 "[{\"type\": \"insert_header\", \"name\": \"X A:\", \"value\": \"a\"}]}",
		 "actions[0].name", "not a header field name");
	rule_bad("{\"name\": \"r\\u0000x\", \"conditions\": [{\"type\": \"any\"}], "
		 "\"actions\": [{\"type\": \"deliver\"}]}", "name", "NUL");
}

static void test_rule_groups(void **st)
{
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"sender\"}], "
		 "\"actions\": [{\"type\": \"deliver\"}]}",
		 "conditions[0]", "exactly one of \"pattern\" or \"regex\" or \"list\"");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"sender\", \"pattern\": "
		 "\"a@b.c\", \"list\": \"x\"}], \"actions\": [{\"type\": \"deliver\"}]}",
		 "conditions[0]", "exactly one of");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"attachment_size\"}], "
		 "\"actions\": [{\"type\": \"deliver\"}]}",
		 "conditions[0]", "at least one of \"min\" or \"max\"");
	rule_bad("{\"name\": \"r\", \"conditions\": [{\"type\": \"any\"}], \"actions\": "
		 "[{\"type\": \"deliver\"}, {\"type\": \"quarantine\"}]}",
		 "actions", "2 terminal actions");
}

static void test_rule_list_refs(void **st)
{
	struct ctl_verrs v = { 0 };
	json_t *lists = parse("{\"approved_senders\": true}");
	json_t *ok = parse("{\"name\": \"r\", \"conditions\": [{\"type\": \"sender\", "
			   "\"list\": \"approved_senders\"}], \"actions\": [{\"type\": \"deliver\"}]}");
	json_t *bad = parse("{\"name\": \"r\", \"conditions\": [{\"type\": \"sender\", "
			    "\"list\": \"vips\"}], \"actions\": [{\"type\": \"deliver\"}]}");
	json_t *r = ctl_rule_validate(ok, "p", 1, lists, &v);

	assert_non_null(r);
	json_decref(r);
	assert_null(ctl_rule_validate(bad, "p", 1, lists, &v));
	assert_string_equal(v.e[0].field, "p.conditions[0].list");
	assert_string_equal(v.e[0].msg, "unknown list 'vips'");
	json_decref(lists);
	json_decref(ok);
	json_decref(bad);
}

static void test_list_validate(void **st)
{
	struct ctl_verrs v = { 0 };
	json_t *in = parse("{\"kind\": \"approved_senders\", \"entries\": "
			   "[\"b@example.com\", \"*@example.org\", \"b@example.com\", \"@x.net\"]}");
	json_t *out = ctl_list_validate(in, "vip", true, "", &v);
	json_t *e;

	assert_non_null(out);
	e = json_object_get(out, "entries");
	assert_int_equal(json_array_size(e), 3); /* sorted, duplicates collapsed */
	assert_string_equal(json_string_value(json_array_get(e, 0)), "*@example.org");
	assert_string_equal(json_string_value(json_array_get(e, 1)), "@x.net");
	assert_string_equal(json_string_value(json_object_get(out, "name")), "vip");
	json_decref(out);
	json_decref(in);

	in = parse("{\"entries\": [\"ok@example.com\", \"bad address\"]}");
	assert_null(ctl_list_validate(in, "vip", true, "", &v));
	assert_int_equal(v.n, 2);
	assert_string_equal(v.e[0].field, "kind");
	assert_string_equal(v.e[1].field, "entries[1]");
	json_decref(in);

	memset(&v, 0, sizeof(v));
	in = parse("{\"kind\": \"domains\", \"entries\": [\"*@x.com\"]}");
	assert_null(ctl_list_validate(in, "d", false, "", &v));
	assert_string_equal(v.e[0].field, "entries[0]");
	json_decref(in);

	memset(&v, 0, sizeof(v));
	in = parse("{\"entries\": []}");
	assert_null(ctl_list_validate(in, "Bad Name", false, "", &v));
	assert_string_equal(v.e[0].field, "name");
	json_decref(in);
}

static void test_default_config(void **st)
{
	struct ctl_verrs v = { 0 };
	json_t *in = parse(ctl_default_config), *out = ctl_doc_validate(in, &v);
	json_t *p;

	if (!out)
		print_error("%s: %s\n", v.e[0].field, v.e[0].msg);
	assert_non_null(out);
	p = json_object_get(out, "policies");
	assert_int_equal(json_array_size(p), 3);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(json_array_get(p, 0), "actions"), 0), "type")),
		"quarantine");
	json_decref(in);
	json_decref(out);
}

static void test_doc_errors(void **st)
{
	doc_bad("[]", "", "must be a JSON object");
	doc_bad("{\"policies\": [], \"lists\": [], \"local_domains\": []}", "version", "required");
	doc_bad("{\"version\": 2, \"policies\": [], \"lists\": [], \"local_domains\": []}",
		"version", "unsupported");
	doc_bad("{\"version\": 1, \"lists\": [], \"local_domains\": [], \"extra\": 0}",
		"extra", "unknown top-level field");
	doc_bad("{\"version\": 1, \"lists\": [], \"local_domains\": []}", "policies", "required");
	doc_bad("{\"version\": 1, \"policies\": [{\"name\": \"a\", \"conditions\": "
		"[{\"type\": \"subject\", \"regex\": \"(\"}], \"actions\": [{\"type\": \"delete\"}]}],"
		" \"lists\": [], \"local_domains\": []}",
		"policies[0].conditions[0].regex", "does not compile");
	doc_bad("{\"version\": 1, \"policies\": [{" MINIMAL "}, {" MINIMAL "}],"
		" \"lists\": [], \"local_domains\": []}",
		"policies[1].name", "duplicate rule name 'r'");
	doc_bad("{\"version\": 1, \"policies\": [{\"name\": \"a\", \"conditions\": "
		"[{\"type\": \"sender\", \"list\": \"nope\"}], \"actions\": [{\"type\": \"delete\"}]}],"
		" \"lists\": [], \"local_domains\": []}",
		"policies[0].conditions[0].list", "unknown list 'nope'");
	doc_bad("{\"version\": 1, \"policies\": [], \"lists\": [{\"name\": \"a\", \"kind\": "
		"\"addresses\", \"entries\": []}, {\"name\": \"a\", \"kind\": \"addresses\", "
		"\"entries\": []}], \"local_domains\": []}", "lists[1].name", "duplicate list name");
	doc_bad("{\"version\": 1, \"policies\": [], \"lists\": [], \"local_domains\": [\"-\", 3]}",
		"local_domains[1]", "domain name");
}

static void test_doc_positions_and_ids(void **st)
{
	struct ctl_verrs v = { 0 };
	json_t *in = parse("{\"version\": 1, \"policies\": [{\"id\": 7, " MINIMAL "}, "
			   "{\"name\": \"s\", \"conditions\": [{\"type\": \"any\"}], "
			   "\"actions\": [{\"type\": \"log\"}]}], \"lists\": [], "
			   "\"local_domains\": [\"example.com\"]}");
	json_t *out = ctl_doc_validate(in, &v), *p;

	assert_non_null(out);
	p = json_object_get(out, "policies");
	assert_null(json_object_get(json_array_get(p, 0), "id"));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(p, 0), "position")),
			 10);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(p, 1), "position")),
			 20);
	json_decref(in);
	json_decref(out);
}

/* Normalising twice gives the same document: the property export -> import
 * -> export relies on. */
static void test_doc_idempotent(void **st)
{
	struct ctl_verrs v = { 0 };
	json_t *in = parse(ctl_default_config), *a = ctl_doc_validate(in, &v);
	json_t *b = ctl_doc_validate(a, &v);

	assert_non_null(b);
	assert_true(json_equal(a, b));
	json_decref(in);
	json_decref(a);
	json_decref(b);
}

static void test_error_cap_and_json(void **st)
{
	struct ctl_verrs v = { 0 };
	char buf[4096];
	size_t o = (size_t)snprintf(buf, sizeof(buf), "{\"version\": 1, \"lists\": [], "
				    "\"local_domains\": [], \"policies\": [");
	json_t *in, *j;

	for (int i = 0; i < 20; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s{\"name\": \"n%d\"}",
				      i ? "," : "", i);
	snprintf(buf + o, sizeof(buf) - o, "]}");
	in = parse(buf);
	assert_null(ctl_doc_validate(in, &v));
	assert_int_equal(v.n, 40); /* conditions and actions missing in each */
	j = ctl_verrs_json(&v, "invalid");
	assert_string_equal(json_string_value(json_object_get(j, "error")),
			    "policies[0].conditions: required (use [{\"type\": \"any\"}] to "
			    "match every message)");
	assert_int_equal(json_array_size(json_object_get(j, "errors")), CTL_VERR_MAX);
	assert_int_equal(json_integer_value(json_object_get(j, "more_errors")), 40 - CTL_VERR_MAX);
	json_decref(j);
	json_decref(in);
}

static void test_names(void **st)
{
	assert_true(ctl_domain_ok("mail.example.com"));
	assert_false(ctl_domain_ok("example..com"));
	assert_false(ctl_domain_ok(".example.com"));
	assert_false(ctl_domain_ok("exa mple.com"));
	assert_true(ctl_list_name_ok("approved_senders"));
	assert_false(ctl_list_name_ok("Approved"));
	assert_false(ctl_list_name_ok(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_defaults),
		cmocka_unit_test(test_rule_full),
		cmocka_unit_test(test_rule_required),
		cmocka_unit_test(test_rule_unknown),
		cmocka_unit_test(test_rule_regex),
		cmocka_unit_test(test_rule_values),
		cmocka_unit_test(test_rule_header_injection),
		cmocka_unit_test(test_rule_groups),
		cmocka_unit_test(test_rule_list_refs),
		cmocka_unit_test(test_list_validate),
		cmocka_unit_test(test_default_config),
		cmocka_unit_test(test_doc_errors),
		cmocka_unit_test(test_doc_positions_and_ids),
		cmocka_unit_test(test_doc_idempotent),
		cmocka_unit_test(test_error_cap_and_json),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
