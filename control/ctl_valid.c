/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_valid.c - schema of policy rules, address lists and the configuration
 * document (see ctl_valid.h).
 *
 * The schema is data: cond_types[] and act_types[] list, per type, the
 * fields it accepts with a value type, whether each is required, and groups
 * of which exactly one (ONEOF) or at least one (ANYOF) must be present. A new
 * condition type is one table entry, not new code. Value types do their own
 * checks (regex compiled with PCRE2 so a rule that cannot run is rejected
 * when written, not when the first message arrives).
 *
 * Why validate in C rather than with CHECK constraints or a JSON Schema in
 * PostgreSQL: the dataplane's policy compiler is C and must agree with what
 * is accepted; PCRE2 compilation is not available in SQL; and the errors
 * must name the field in the operator's document, which needs the path as
 * we walk it. SQL keeps coarse CHECKs as a second line.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "ctl_valid.h"

enum ftype {
	F_STR,     /* 1..max printable characters (no control characters) */
	F_TEXT,    /* 0..max characters, no control characters except \t */
	F_REGEX,   /* PCRE2 pattern that compiles */
	F_APAT,    /* address pattern: user@dom, *@dom, @dom, dom, *@*.dom */
	F_GLOB,    /* file name glob (printable, no '/') */
	F_LIST,    /* name of an address list */
	F_UINT,    /* integer in [min, max] */
	F_NUM,     /* number in [min, max] */
	F_BOOL,
	F_ENUM,    /* one of choices */
	F_TOKENS,  /* non-empty array of [a-z0-9._+-] tokens */
	F_HDRNAME, /* RFC 5322 field name */
	F_HDRVAL,  /* header value: printable, no CR/LF */
	F_EMAIL,   /* local@domain */
	F_HOST,    /* host name or IP literal */
};

struct field {
	const char *name;
	enum ftype type;
	bool required;
	unsigned group;               /* 0, or bit of a ONEOF/ANYOF group */
	long long min, max;           /* F_UINT/F_NUM range; F_STR/F_TEXT max length */
	const char *const *choices;   /* F_ENUM */
};

struct otype {
	const char *name;
	const struct field *fields;   /* terminated by .name == NULL */
	unsigned oneof;               /* group bits of which exactly one must be set */
	unsigned anyof;               /* group bits of which at least one must be set */
	bool terminal;                /* actions: decides the fate of the message */
};

#define G1 1u
#define G2 2u

static const char *const dlp_templates[] = {
	"credit_card", "iban", "us_ssn", "uk_nino", "email_address", "phone_number",
	"swift_bic", NULL,
};
static const char *const notify_targets[] = { "sender", "recipient", "admin", NULL };
static const char *const log_levels[] = { "summary", "full", NULL };

/* Every condition accepts "not" (negation). */
#define NOT_FIELD { "not", F_BOOL, false, 0, 0, 0, NULL }

static const struct field f_none[] = { NOT_FIELD, { NULL } };
static const struct field f_address[] = {
	NOT_FIELD,
	{ "pattern", F_APAT, false, G1, 0, CTL_PATTERN_MAX, NULL },
	{ "regex", F_REGEX, false, G1, 0, CTL_REGEX_MAX, NULL },
	{ "list", F_LIST, false, G1, 0, CTL_LIST_NAME_MAX, NULL },
	{ NULL }
};
static const struct field f_regex[] = {
	NOT_FIELD,
	{ "regex", F_REGEX, true, 0, 0, CTL_REGEX_MAX, NULL },
	{ NULL }
};
static const struct field f_header[] = {
	NOT_FIELD,
	{ "name", F_HDRNAME, true, 0, 0, 76, NULL },
	{ "regex", F_REGEX, true, 0, 0, CTL_REGEX_MAX, NULL },
	{ NULL }
};
static const struct field f_virus[] = {
	NOT_FIELD,
	{ "name_regex", F_REGEX, false, 0, 0, CTL_REGEX_MAX, NULL },
	{ NULL }
};
static const struct field f_dlp[] = {
	NOT_FIELD,
	{ "template", F_ENUM, true, 0, 0, 0, dlp_templates },
	{ "min_count", F_UINT, false, 0, 1, 100000, NULL },
	{ NULL }
};
static const struct field f_att_type[] = {
	NOT_FIELD,
	{ "types", F_TOKENS, true, 0, 0, 32, NULL },
	{ NULL }
};
static const struct field f_att_name[] = {
	NOT_FIELD,
	{ "pattern", F_GLOB, false, G1, 0, 255, NULL },
	{ "regex", F_REGEX, false, G1, 0, CTL_REGEX_MAX, NULL },
	{ NULL }
};
static const struct field f_size[] = {
	NOT_FIELD,
	{ "min", F_UINT, false, G1, 0, 1LL << 40, NULL },
	{ "max", F_UINT, false, G1, 0, 1LL << 40, NULL },
	{ NULL }
};
static const struct field f_count[] = {
	NOT_FIELD,
	{ "min", F_UINT, false, G1, 0, 100000, NULL },
	{ "max", F_UINT, false, G1, 0, 100000, NULL },
	{ NULL }
};
static const struct field f_spam[] = {
	NOT_FIELD,
	{ "min", F_NUM, true, 0, -1000, 1000, NULL },
	{ NULL }
};

static const struct otype cond_types[] = {
	{ "any", f_none, 0, 0, false },
	{ "sender", f_address, G1, 0, false },
	{ "recipient", f_address, G1, 0, false },
	{ "virus", f_virus, 0, 0, false },
	{ "archive_bomb", f_none, 0, 0, false },
	{ "archive_encrypted", f_none, 0, 0, false },
	{ "dlp", f_dlp, 0, 0, false },
	{ "subject", f_regex, 0, 0, false },
	{ "body", f_regex, 0, 0, false },
	{ "header", f_header, 0, 0, false },
	{ "attachment_type", f_att_type, 0, 0, false },
	{ "attachment_name", f_att_name, G1, 0, false },
	{ "attachment_size", f_size, 0, G1, false },
	{ "attachment_count", f_count, 0, G1, false },
	{ "message_size", f_size, 0, G1, false },
	{ "spam_score", f_spam, 0, 0, false },
	{ "graymail", f_none, 0, 0, false },
	{ NULL }
};

static const struct field a_none[] = { { NULL } };
static const struct field a_quarantine[] = {
	{ "area", F_STR, false, 0, 0, 64, NULL },
	{ NULL }
};
static const struct field a_reroute[] = {
	{ "host", F_HOST, true, 0, 0, 253, NULL },
	{ "port", F_UINT, false, 0, 1, 65535, NULL },
	{ NULL }
};
static const struct field a_tag[] = {
	{ "tag", F_HDRVAL, true, 0, 0, 64, NULL },
	{ NULL }
};
static const struct field a_header[] = {
	{ "name", F_HDRNAME, true, 0, 0, 76, NULL },
	{ "value", F_HDRVAL, true, 0, 0, 900, NULL },
	{ NULL }
};
static const struct field a_strip[] = {
	{ "notice", F_TEXT, false, 0, 0, 4096, NULL },
	{ NULL }
};
static const struct field a_notify[] = {
	{ "to", F_ENUM, true, 0, 0, 0, notify_targets },
	{ "template", F_STR, true, 0, 0, 64, NULL },
	{ NULL }
};
static const struct field a_bcc[] = {
	{ "address", F_EMAIL, true, 0, 0, CTL_PATTERN_MAX, NULL },
	{ NULL }
};
static const struct field a_log[] = {
	{ "level", F_ENUM, false, 0, 0, 0, log_levels },
	{ NULL }
};

static const struct otype act_types[] = {
	{ "deliver", a_none, 0, 0, true },
	{ "delete", a_none, 0, 0, true },
	{ "quarantine", a_quarantine, 0, 0, true },
	{ "reroute", a_reroute, 0, 0, true },
	{ "tag_subject", a_tag, 0, 0, false },
	{ "insert_header", a_header, 0, 0, false },
	{ "strip_attachments", a_strip, 0, 0, false },
	{ "notify", a_notify, 0, 0, false },
	{ "bcc", a_bcc, 0, 0, false },
	{ "log", a_log, 0, 0, false },
	{ NULL }
};

static const char *const scopes[] = { "inbound", "outbound", "both", NULL };
static const char *const matches[] = { "all", "any", NULL };
static const char *const list_kinds[] = {
	"approved_senders", "blocked_senders", "addresses", "domains", NULL,
};

void ctl_verr_add(struct ctl_verrs *v, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (v->n < CTL_VERR_MAX) {
		struct ctl_verr *e = &v->e[v->n];

		snprintf(e->field, sizeof(e->field), "%s", field);
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	v->n++;
}

/* Joins |path| and a key (or an index when |key| is NULL). */
static void join(char *out, size_t len, const char *path, const char *key, size_t idx)
{
	if (key)
		snprintf(out, len, "%s%s%s", path, *path ? "." : "", key);
	else
		snprintf(out, len, "%s[%zu]", path, idx);
}

static const char *jtype(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

static bool has_ctl(const char *s, bool allow_tab)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c < 0x20 && !(allow_tab && c == '\t')) || c == 0x7f)
			return true;
	}
	return false;
}

bool ctl_list_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CTL_LIST_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' ||
		      *s == '-'))
			return false;
	return true;
}

bool ctl_domain_ok(const char *s)
{
	size_t n = strlen(s), lab = 0;

	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (lab == 0)
				return false;
			lab = 0;
			continue;
		}
		if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_'))
			return false;
		if (++lab > 63)
			return false;
	}
	return true;
}

static bool local_ok(const char *s, size_t n)
{
	static const char ok[] = "!#$%&'*+/=?^_`{|}~.-";

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(ok, s[i]))
			return false;
	return true;
}

/* Address pattern: "user@dom", "*@dom", "@dom", "dom", "*@*.dom", "user@*". */
static const char *apat_check(const char *s)
{
	const char *at = strchr(s, '@');
	const char *dom;

	if (*s == '\0')
		return "must not be empty";
	if (strlen(s) > CTL_PATTERN_MAX)
		return "longer than 320 characters";
	if (at && strchr(at + 1, '@'))
		return "has more than one '@'";
	if (at && at != s && !local_ok(s, (size_t)(at - s)))
		return "has an invalid local part";
	dom = at ? at + 1 : s;
	if (strcmp(dom, "*") == 0 && at)
		return NULL;
	if (strncmp(dom, "*.", 2) == 0)
		dom += 2;
	if (!ctl_domain_ok(dom))
		return "has an invalid domain (expected user@example.com, *@example.com, "
		       "@example.com, example.com or *@*.example.com)";
	return NULL;
}

static const char *email_check(const char *s)
{
	const char *at = strrchr(s, '@');

	if (!at || at == s)
		return "is not an address (local@domain)";
	if (!local_ok(s, (size_t)(at - s)))
		return "has an invalid local part";
	if (!ctl_domain_ok(at + 1))
		return "has an invalid domain";
	return NULL;
}

static bool hdrname_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s <= 32 || *s >= 127 || *s == ':')
			return false;
	return true;
}

static bool host_ok(const char *s)
{
	if (*s == '[') {
		size_t n = strlen(s);

		if (n < 3 || s[n - 1] != ']')
			return false;
		for (size_t i = 1; i < n - 1; i++)
			if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
				return false;
		return true;
	}
	return ctl_domain_ok(s);
}

static bool glob_ok(const char *s)
{
	return *s && !strchr(s, '/') && !has_ctl(s, false);
}

static bool token_ok(const char *s)
{
	if (!*s || strlen(s) > 32)
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) ||
		      strchr("._+-", *s)))
			return false;
	return true;
}

/* Compiles |re| with PCRE2 to prove it valid. */
static bool regex_ok(const char *re, char *msg, size_t len)
{
	int ec;
	PCRE2_SIZE off;
	pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF,
					 &ec, &off, NULL);
	PCRE2_UCHAR buf[160];

	if (code) {
		pcre2_code_free(code);
		return true;
	}
	pcre2_get_error_message(ec, buf, sizeof(buf));
	snprintf(msg, len, "does not compile at offset %zu: %s", (size_t)off, (char *)buf);
	return false;
}

static int enum_index(const char *const *choices, const char *s)
{
	for (int i = 0; choices[i]; i++)
		if (strcmp(choices[i], s) == 0)
			return i;
	return -1;
}

static void enum_msg(char *out, size_t len, const char *const *choices)
{
	size_t o = (size_t)snprintf(out, len, "must be one of:");

	for (int i = 0; choices[i] && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s %s", i ? "," : "", choices[i]);
}

/* Checks one value |j| of field |f| at |fpath|. Returns true if valid. */
static bool field_check(const struct field *f, const json_t *j, const char *fpath,
			const json_t *lists, struct ctl_verrs *v)
{
	char msg[256];
	const char *s, *why;

	switch (f->type) {
	case F_BOOL:
		if (!json_is_boolean(j))
			goto type_bool;
		return true;
	case F_UINT:
		if (!json_is_integer(j)) {
			ctl_verr_add(v, fpath, "must be an integer, not %s", jtype(j));
			return false;
		}
		if (json_integer_value(j) < f->min || json_integer_value(j) > f->max) {
			ctl_verr_add(v, fpath, "must be between %lld and %lld", f->min, f->max);
			return false;
		}
		return true;
	case F_NUM:
		if (!json_is_number(j)) {
			ctl_verr_add(v, fpath, "must be a number, not %s", jtype(j));
			return false;
		}
		if (json_number_value(j) < (double)f->min ||
		    json_number_value(j) > (double)f->max) {
			ctl_verr_add(v, fpath, "must be between %lld and %lld", f->min, f->max);
			return false;
		}
		return true;
	case F_TOKENS: {
		size_t i;
		json_t *e;

		if (!json_is_array(j) || json_array_size(j) == 0) {
			ctl_verr_add(v, fpath, "must be a non-empty array of strings");
			return false;
		}
		if (json_array_size(j) > (size_t)f->max) {
			ctl_verr_add(v, fpath, "has more than %lld elements", f->max);
			return false;
		}
		json_array_foreach(j, i, e) {
			char ep[200];

			join(ep, sizeof(ep), fpath, NULL, i);
			if (!json_is_string(e) || !token_ok(json_string_value(e))) {
				ctl_verr_add(v, ep, "must be a lower-case type name "
					     "([a-z0-9._+-], 1 to 32 characters)");
				return false;
			}
		}
		return true;
	}
	default:
		break;
	}
	/* Every remaining type is a string. */
	if (!json_is_string(j)) {
		ctl_verr_add(v, fpath, "must be a string, not %s", jtype(j));
		return false;
	}
	s = json_string_value(j);
	if (strlen(s) != json_string_length(j)) {
		ctl_verr_add(v, fpath, "must not contain NUL characters");
		return false;
	}
	if (f->max && (long long)strlen(s) > f->max && f->type != F_APAT) {
		ctl_verr_add(v, fpath, "is longer than %lld characters", f->max);
		return false;
	}
	switch (f->type) {
	case F_STR:
		if (!*s) {
			ctl_verr_add(v, fpath, "must not be empty");
			return false;
		}
		/* fall through */
	case F_TEXT:
		if (has_ctl(s, f->type == F_TEXT)) {
			ctl_verr_add(v, fpath, "must not contain control characters");
			return false;
		}
		return true;
	case F_REGEX:
		if (!regex_ok(s, msg, sizeof(msg))) {
			ctl_verr_add(v, fpath, "%s", msg);
			return false;
		}
		return true;
	case F_APAT:
		if ((why = apat_check(s))) {
			ctl_verr_add(v, fpath, "'%.80s' %s", s, why);
			return false;
		}
		return true;
	case F_EMAIL:
		if ((why = email_check(s))) {
			ctl_verr_add(v, fpath, "'%.80s' %s", s, why);
			return false;
		}
		return true;
	case F_GLOB:
		if (!glob_ok(s)) {
			ctl_verr_add(v, fpath, "must be a non-empty file name pattern without '/'");
			return false;
		}
		return true;
	case F_LIST:
		if (!ctl_list_name_ok(s)) {
			ctl_verr_add(v, fpath, "'%.80s' is not a list name ([a-z0-9_-], 1 to 64)", s);
			return false;
		}
		if (lists && !json_object_get(lists, s)) {
			ctl_verr_add(v, fpath, "unknown list '%s'", s);
			return false;
		}
		return true;
	case F_ENUM:
		if (enum_index(f->choices, s) < 0) {
			enum_msg(msg, sizeof(msg), f->choices);
			ctl_verr_add(v, fpath, "'%.40s' %s", s, msg + 0);
			return false;
		}
		return true;
	case F_HDRNAME:
		if (!hdrname_ok(s)) {
			ctl_verr_add(v, fpath, "is not a header field name (printable ASCII, no ':')");
			return false;
		}
		return true;
	case F_HDRVAL:
		if (!*s || has_ctl(s, true)) {
			ctl_verr_add(v, fpath, "must be non-empty and contain no CR, LF or "
				     "control characters");
			return false;
		}
		return true;
	case F_HOST:
		if (!host_ok(s)) {
			ctl_verr_add(v, fpath, "is not a host name or [IP] literal");
			return false;
		}
		return true;
	default:
		return false;
	}
type_bool:
	ctl_verr_add(v, fpath, "must be true or false, not %s", jtype(j));
	return false;
}

static const struct otype *otype_find(const struct otype *t, const char *name)
{
	for (; t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

static void otype_names(char *out, size_t len, const struct otype *t)
{
	size_t o = 0;

	for (int i = 0; t[i].name && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ", " : "", t[i].name);
}

/* Validates one condition or action object. Returns a copy (caller owns) or
 * NULL. *|type| is set to the matched type. */
static json_t *object_check(const json_t *o, const char *path, const struct otype *types,
			    const char *what, const json_t *lists, const struct otype **type,
			    struct ctl_verrs *v)
{
	const struct otype *t;
	const struct field *f;
	const char *key, *tname;
	json_t *val, *tj;
	char fp[200], names[512];
	unsigned seen = 0, before = v->n;

	*type = NULL;
	if (!json_is_object(o)) {
		ctl_verr_add(v, path, "must be an object with a \"type\", not %s", jtype(o));
		return NULL;
	}
	join(fp, sizeof(fp), path, "type", 0);
	tj = json_object_get(o, "type");
	if (!tj) {
		ctl_verr_add(v, fp, "required");
		return NULL;
	}
	if (!json_is_string(tj)) {
		ctl_verr_add(v, fp, "must be a string, not %s", jtype(tj));
		return NULL;
	}
	tname = json_string_value(tj);
	t = otype_find(types, tname);
	if (!t) {
		otype_names(names, sizeof(names), types);
		ctl_verr_add(v, fp, "unknown %s type '%.40s' (known: %s)", what, tname, names);
		return NULL;
	}
	json_object_foreach((json_t *)o, key, val) {
		if (strcmp(key, "type") == 0)
			continue;
		join(fp, sizeof(fp), path, key, 0);
		for (f = t->fields; f->name; f++)
			if (strcmp(f->name, key) == 0)
				break;
		if (!f->name) {
			ctl_verr_add(v, fp, "unknown field for %s '%s'", what, tname);
			continue;
		}
		if (field_check(f, val, fp, lists, v))
			seen |= f->group;
	}
	for (f = t->fields; f->name; f++) {
		if (f->required && !json_object_get(o, f->name)) {
			join(fp, sizeof(fp), path, f->name, 0);
			ctl_verr_add(v, fp, "required for %s '%s'", what, tname);
		}
	}
	if (v->n == before && (t->oneof || t->anyof)) {
		size_t o2 = 0;
		unsigned cnt = 0, grp = t->oneof ? t->oneof : t->anyof;

		names[0] = '\0';
		for (f = t->fields; f->name; f++) {
			if (!(f->group & grp))
				continue;
			o2 += (size_t)snprintf(names + o2, sizeof(names) - o2, "%s\"%s\"",
					       o2 ? " or " : "", f->name);
			if (json_object_get(o, f->name))
				cnt++;
		}
		if (t->oneof && cnt != 1)
			ctl_verr_add(v, path, "%s '%s' needs exactly one of %s", what, tname,
				     names);
		else if (t->anyof && cnt == 0)
			ctl_verr_add(v, path, "%s '%s' needs at least one of %s", what, tname,
				     names);
	}
	if (v->n != before)
		return NULL;
	/* min <= max where both exist */
	if (json_object_get(o, "min") && json_object_get(o, "max") &&
	    json_is_integer(json_object_get(o, "min")) &&
	    json_integer_value(json_object_get(o, "min")) >
		    json_integer_value(json_object_get(o, "max"))) {
		join(fp, sizeof(fp), path, "min", 0);
		ctl_verr_add(v, fp, "is greater than \"max\"");
		return NULL;
	}
	*type = t;
	return json_deep_copy(o);
}

/* Validates an array of conditions/actions. |min| is the minimum count. */
static json_t *array_check(const json_t *a, const char *path, const struct otype *types,
			   const char *what, size_t min, const json_t *lists,
			   unsigned *nterminal, struct ctl_verrs *v)
{
	json_t *out, *e, *c;
	size_t i;
	char ep[200];
	const struct otype *t;
	unsigned before = v->n;

	if (!json_is_array(a)) {
		ctl_verr_add(v, path, "must be an array, not %s", jtype(a));
		return NULL;
	}
	if (json_array_size(a) < min) {
		ctl_verr_add(v, path, "needs at least %zu %s", min, what);
		return NULL;
	}
	if (json_array_size(a) > 64) {
		ctl_verr_add(v, path, "has more than 64 elements");
		return NULL;
	}
	out = json_array();
	json_array_foreach(a, i, e) {
		join(ep, sizeof(ep), path, NULL, i);
		c = object_check(e, ep, types, what, lists, &t, v);
		if (c)
			json_array_append_new(out, c);
		if (t && t->terminal && nterminal)
			(*nterminal)++;
	}
	if (v->n != before) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* Reads an optional boolean member into |out|; records an error if the
 * member exists with another type. */
static bool opt_bool(const json_t *o, const char *key, bool def, const char *path,
		     struct ctl_verrs *v)
{
	json_t *j = json_object_get(o, key);
	char fp[200];

	if (!j)
		return def;
	if (!json_is_boolean(j)) {
		join(fp, sizeof(fp), path, key, 0);
		ctl_verr_add(v, fp, "must be true or false, not %s", jtype(j));
		return def;
	}
	return json_is_true(j);
}

static const char *opt_enum(const json_t *o, const char *key, const char *const *choices,
			    const char *path, struct ctl_verrs *v)
{
	json_t *j = json_object_get(o, key);
	char fp[200], msg[200];

	if (!j)
		return NULL;
	join(fp, sizeof(fp), path, key, 0);
	if (!json_is_string(j)) {
		ctl_verr_add(v, fp, "must be a string, not %s", jtype(j));
		return NULL;
	}
	if (enum_index(choices, json_string_value(j)) < 0) {
		enum_msg(msg, sizeof(msg), choices);
		ctl_verr_add(v, fp, "'%.40s' %s", json_string_value(j), msg);
		return NULL;
	}
	return json_string_value(j);
}

static const char *const rule_keys[] = {
	"id", "name", "description", "enabled", "position", "scope", "match",
	"conditions", "exceptions", "actions", "stop", NULL,
};

json_t *ctl_rule_validate(const json_t *in, const char *path, long def_position,
			  const json_t *lists, struct ctl_verrs *v)
{
	unsigned before = v->n, nterm = 0;
	const char *key, *scope, *match;
	json_t *val, *j, *conds = NULL, *excs = NULL, *acts = NULL, *out;
	char fp[200];
	long long position = def_position;
	struct field fname = { "name", F_STR, true, 0, 0, CTL_NAME_MAX, NULL };
	struct field fdesc = { "description", F_TEXT, false, 0, 0, 1024, NULL };
	struct field fpos = { "position", F_UINT, false, 0, 0, 1000000000, NULL };
	struct field fid = { "id", F_UINT, false, 0, 1, 1LL << 62, NULL };

	if (!json_is_object(in)) {
		ctl_verr_add(v, path, "a rule must be an object, not %s", jtype(in));
		return NULL;
	}
	json_object_foreach((json_t *)in, key, val) {
		if (enum_index(rule_keys, key) < 0) {
			join(fp, sizeof(fp), path, key, 0);
			ctl_verr_add(v, fp, "unknown field of a rule");
		}
	}
	join(fp, sizeof(fp), path, "name", 0);
	if (!(j = json_object_get(in, "name")))
		ctl_verr_add(v, fp, "required");
	else
		field_check(&fname, j, fp, NULL, v);
	if ((j = json_object_get(in, "description"))) {
		join(fp, sizeof(fp), path, "description", 0);
		field_check(&fdesc, j, fp, NULL, v);
	}
	if ((j = json_object_get(in, "id"))) {
		join(fp, sizeof(fp), path, "id", 0);
		field_check(&fid, j, fp, NULL, v);
	}
	if ((j = json_object_get(in, "position"))) {
		join(fp, sizeof(fp), path, "position", 0);
		if (field_check(&fpos, j, fp, NULL, v))
			position = json_integer_value(j);
	}
	bool enabled = opt_bool(in, "enabled", true, path, v);
	bool stop = opt_bool(in, "stop", false, path, v);

	scope = opt_enum(in, "scope", scopes, path, v);
	match = opt_enum(in, "match", matches, path, v);

	join(fp, sizeof(fp), path, "conditions", 0);
	if (!(j = json_object_get(in, "conditions")))
		ctl_verr_add(v, fp, "required (use [{\"type\": \"any\"}] to match every message)");
	else
		conds = array_check(j, fp, cond_types, "condition", 1, lists, NULL, v);
	join(fp, sizeof(fp), path, "exceptions", 0);
	if ((j = json_object_get(in, "exceptions")))
		excs = array_check(j, fp, cond_types, "condition", 0, lists, NULL, v);
	join(fp, sizeof(fp), path, "actions", 0);
	if (!(j = json_object_get(in, "actions"))) {
		ctl_verr_add(v, fp, "required");
	} else {
		acts = array_check(j, fp, act_types, "action", 1, lists, &nterm, v);
		if (acts && nterm > 1)
			ctl_verr_add(v, fp, "has %u terminal actions; at most one of deliver, "
				     "delete, quarantine, reroute", nterm);
	}
	if (v->n != before) {
		json_decref(conds);
		json_decref(excs);
		json_decref(acts);
		return NULL;
	}
	out = json_pack("{s:s, s:s, s:b, s:I, s:s, s:s, s:o, s:o, s:o, s:b}",
			"name", json_string_value(json_object_get(in, "name")),
			"description",
			json_object_get(in, "description") ?
				json_string_value(json_object_get(in, "description")) : "",
			"enabled", enabled, "position", (json_int_t)position,
			"scope", scope ? scope : "both", "match", match ? match : "all",
			"conditions", conds, "exceptions", excs ? excs : json_array(),
			"actions", acts, "stop", stop);
	if (out && (j = json_object_get(in, "id")))
		json_object_set(out, "id", j);
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *const list_keys[] = { "name", "kind", "description", "entries", NULL };

json_t *ctl_list_validate(const json_t *in, const char *name, bool require_kind,
			  const char *path, struct ctl_verrs *v)
{
	unsigned before = v->n;
	const char *key, *kind = NULL, **vals = NULL;
	json_t *val, *j, *entries, *out = NULL;
	char fp[200], ep[220];
	struct field fdesc = { "description", F_TEXT, false, 0, 0, 1024, NULL };
	size_t i, n = 0;

	if (!json_is_object(in)) {
		ctl_verr_add(v, path, "a list must be an object, not %s", jtype(in));
		return NULL;
	}
	json_object_foreach((json_t *)in, key, val) {
		if (enum_index(list_keys, key) < 0) {
			join(fp, sizeof(fp), path, key, 0);
			ctl_verr_add(v, fp, "unknown field of a list");
		}
	}
	join(fp, sizeof(fp), path, "name", 0);
	j = json_object_get(in, "name");
	if (name) {
		if (j && (!json_is_string(j) || strcmp(json_string_value(j), name) != 0))
			ctl_verr_add(v, fp, "does not match the list name in the URL");
	} else if (!j) {
		ctl_verr_add(v, fp, "required");
	} else if (!json_is_string(j)) {
		ctl_verr_add(v, fp, "must be a string, not %s", jtype(j));
	} else {
		name = json_string_value(j);
	}
	if (name && !ctl_list_name_ok(name))
		ctl_verr_add(v, fp, "'%.80s' is not a list name ([a-z0-9_-], 1 to 64)", name);
	kind = opt_enum(in, "kind", list_kinds, path, v);
	if (!json_object_get(in, "kind") && require_kind) {
		join(fp, sizeof(fp), path, "kind", 0);
		ctl_verr_add(v, fp, "required for a new list (approved_senders, "
			     "blocked_senders, addresses, domains)");
	}
	if ((j = json_object_get(in, "description"))) {
		join(fp, sizeof(fp), path, "description", 0);
		field_check(&fdesc, j, fp, NULL, v);
	}
	join(fp, sizeof(fp), path, "entries", 0);
	entries = json_object_get(in, "entries");
	if (!entries) {
		ctl_verr_add(v, fp, "required (an array of address patterns)");
	} else if (!json_is_array(entries)) {
		ctl_verr_add(v, fp, "must be an array, not %s", jtype(entries));
		entries = NULL;
	} else if (json_array_size(entries) > CTL_LIST_ENTRIES_MAX) {
		ctl_verr_add(v, fp, "has more than %d entries", CTL_LIST_ENTRIES_MAX);
		entries = NULL;
	}
	if (entries) {
		vals = calloc(json_array_size(entries) + 1, sizeof(*vals));
		if (!vals) {
			ctl_verr_add(v, fp, "out of memory");
			return NULL;
		}
		json_array_foreach(entries, i, j) {
			const char *why;
			bool dom_kind = kind && strcmp(kind, "domains") == 0;

			join(ep, sizeof(ep), fp, NULL, i);
			if (!json_is_string(j)) {
				ctl_verr_add(v, ep, "must be a string, not %s", jtype(j));
				continue;
			}
			if (dom_kind && !ctl_domain_ok(json_string_value(j))) {
				ctl_verr_add(v, ep, "'%.80s' is not a domain",
					     json_string_value(j));
				continue;
			}
			if (!dom_kind && (why = apat_check(json_string_value(j)))) {
				ctl_verr_add(v, ep, "'%.80s' %s", json_string_value(j), why);
				continue;
			}
			vals[n++] = json_string_value(j);
		}
	}
	if (v->n == before) {
		json_t *arr = json_array();

		qsort(vals, n, sizeof(*vals), cmp_str);
		for (i = 0; i < n; i++) {
			if (i && strcmp(vals[i], vals[i - 1]) == 0)
				continue; /* duplicates collapse: a set */
			json_array_append_new(arr, json_string(vals[i]));
		}
		j = json_object_get(in, "description");
		out = json_pack("{s:s, s:o, s:s}", "name", name, "entries", arr,
				"description", j ? json_string_value(j) : "");
		if (kind)
			json_object_set_new(out, "kind", json_string(kind));
	}
	free(vals);
	return out;
}

static const char *const doc_keys[] = {
	"format", "version", "policies", "lists", "local_domains", NULL,
};

json_t *ctl_doc_validate(const json_t *in, struct ctl_verrs *v)
{
	unsigned before = v->n;
	json_t *j, *e, *lists = NULL, *names = NULL, *pol = NULL, *doms = NULL, *rnames, *c;
	const char *key;
	json_t *val;
	size_t i;
	char ep[64];

	if (!json_is_object(in)) {
		ctl_verr_add(v, "", "the document must be a JSON object, not %s", jtype(in));
		return NULL;
	}
	json_object_foreach((json_t *)in, key, val)
		if (enum_index(doc_keys, key) < 0)
			ctl_verr_add(v, key, "unknown top-level field");
	j = json_object_get(in, "format");
	if (j && (!json_is_string(j) || strcmp(json_string_value(j), "mxgate-config") != 0))
		ctl_verr_add(v, "format", "must be \"mxgate-config\"");
	j = json_object_get(in, "version");
	if (!j)
		ctl_verr_add(v, "version", "required (1)");
	else if (!json_is_integer(j) || json_integer_value(j) != 1)
		ctl_verr_add(v, "version", "unsupported version (this build reads 1)");

	/* Lists first: rules refer to them by name. */
	names = json_object();
	lists = json_array();
	j = json_object_get(in, "lists");
	if (!j) {
		ctl_verr_add(v, "lists", "required (an array, may be empty)");
	} else if (!json_is_array(j)) {
		ctl_verr_add(v, "lists", "must be an array, not %s", jtype(j));
	} else {
		json_array_foreach(j, i, e) {
			snprintf(ep, sizeof(ep), "lists[%zu]", i);
			c = ctl_list_validate(e, NULL, true, ep, v);
			if (!c)
				continue;
			key = json_string_value(json_object_get(c, "name"));
			if (json_object_get(names, key)) {
				snprintf(ep, sizeof(ep), "lists[%zu].name", i);
				ctl_verr_add(v, ep, "duplicate list name '%s'", key);
			}
			json_object_set_new(names, key, json_true());
			json_array_append_new(lists, c);
		}
	}

	pol = json_array();
	rnames = json_object();
	j = json_object_get(in, "policies");
	if (!j) {
		ctl_verr_add(v, "policies", "required (an array of rules)");
	} else if (!json_is_array(j)) {
		ctl_verr_add(v, "policies", "must be an array, not %s", jtype(j));
	} else if (json_array_size(j) > CTL_RULES_MAX) {
		ctl_verr_add(v, "policies", "has more than %d rules", CTL_RULES_MAX);
	} else {
		json_array_foreach(j, i, e) {
			snprintf(ep, sizeof(ep), "policies[%zu]", i);
			c = ctl_rule_validate(e, ep, (long)(i + 1) * 10, names, v);
			if (!c)
				continue;
			json_object_del(c, "id"); /* ids are the database's */
			key = json_string_value(json_object_get(c, "name"));
			if (json_object_get(rnames, key)) {
				snprintf(ep, sizeof(ep), "policies[%zu].name", i);
				ctl_verr_add(v, ep, "duplicate rule name '%.80s'", key);
			}
			json_object_set_new(rnames, key, json_true());
			json_array_append_new(pol, c);
		}
	}
	json_decref(rnames);

	doms = json_array();
	j = json_object_get(in, "local_domains");
	if (!j) {
		ctl_verr_add(v, "local_domains", "required (an array, may be empty)");
	} else if (!json_is_array(j)) {
		ctl_verr_add(v, "local_domains", "must be an array, not %s", jtype(j));
	} else {
		json_array_foreach(j, i, e) {
			snprintf(ep, sizeof(ep), "local_domains[%zu]", i);
			if (!json_is_string(e) || !ctl_domain_ok(json_string_value(e)))
				ctl_verr_add(v, ep, "must be a domain name string");
			else
				json_array_append(doms, e);
		}
	}
	json_decref(names);
	if (v->n != before) {
		json_decref(lists);
		json_decref(pol);
		json_decref(doms);
		return NULL;
	}
	return json_pack("{s:s, s:i, s:o, s:o, s:o}", "format", "mxgate-config", "version", 1,
			 "policies", pol, "lists", lists, "local_domains", doms);
}

json_t *ctl_verrs_json(const struct ctl_verrs *v, const char *what)
{
	json_t *arr = json_array(), *o;
	char first[512];
	unsigned n = v->n < CTL_VERR_MAX ? v->n : CTL_VERR_MAX;

	for (unsigned i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "field", v->e[i].field,
						     "message", v->e[i].msg));
	if (n == 0)
		snprintf(first, sizeof(first), "%s", what);
	else if (v->e[0].field[0])
		snprintf(first, sizeof(first), "%s: %s", v->e[0].field, v->e[0].msg);
	else
		snprintf(first, sizeof(first), "%s", v->e[0].msg);
	o = json_pack("{s:s, s:o}", "error", first, "errors", arr);
	if (v->n > CTL_VERR_MAX)
		json_object_set_new(o, "more_errors", json_integer(v->n - CTL_VERR_MAX));
	return o;
}

/* The out-of-the-box policy (issue 6): viruses and archive bombs quarantined,
 * everything tracked. Validated like any import (tests/unit/control). */
const char ctl_default_config[] =
	"{\"format\": \"mxgate-config\", \"version\": 1,\n"
	" \"policies\": [\n"
	"  {\"name\": \"Quarantine viruses\", \"position\": 10, \"scope\": \"both\",\n"
	"   \"description\": \"Messages with a virus go to the virus quarantine area.\",\n"
	"   \"conditions\": [{\"type\": \"virus\"}],\n"
	"   \"actions\": [{\"type\": \"quarantine\", \"area\": \"virus\"},\n"
	"                 {\"type\": \"log\", \"level\": \"full\"}], \"stop\": true},\n"
	"  {\"name\": \"Quarantine archive bombs\", \"position\": 20, \"scope\": \"both\",\n"
	"   \"description\": \"Archives over the expansion limits (ratio, depth, size).\",\n"
	"   \"conditions\": [{\"type\": \"archive_bomb\"}],\n"
	"   \"actions\": [{\"type\": \"quarantine\", \"area\": \"archive\"},\n"
	"                 {\"type\": \"log\", \"level\": \"full\"}], \"stop\": true},\n"
	"  {\"name\": \"Log everything\", \"position\": 1000, \"scope\": \"both\",\n"
	"   \"description\": \"Every message is tracked; clean mail is delivered.\",\n"
	"   \"conditions\": [{\"type\": \"any\"}],\n"
	"   \"actions\": [{\"type\": \"log\", \"level\": \"summary\"}]}\n"
	" ],\n"
	" \"lists\": [\n"
	"  {\"name\": \"approved_senders\", \"kind\": \"approved_senders\", \"entries\": [],\n"
	"   \"description\": \"Senders that skip the spam checks (never the virus checks).\"},\n"
	"  {\"name\": \"blocked_senders\", \"kind\": \"blocked_senders\", \"entries\": [],\n"
	"   \"description\": \"Senders whose mail is rejected.\"}\n"
	" ],\n"
	" \"local_domains\": []}\n";
