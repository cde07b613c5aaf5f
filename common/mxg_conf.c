/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mxg_conf.c - INI parser for the bootstrap configuration (see mxg_conf.h).
 *
 * Limits: lines up to 4096 bytes, 1024 sections, 256 keys per section; a file
 * beyond them is rejected with the line number, never truncated silently.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxg_conf.h"
#include "mxg_err.h"

#define CONF_MAX_LINE 4096
#define CONF_MAX_SECS 1024
#define CONF_MAX_KEYS 256

struct conf_kv {
	char *key;
	char *val;
	int line;
	bool used; /* read by some getter */
};

struct mxg_conf_sec {
	const struct mxg_conf *conf; /* back pointer for messages */
	char *type;                  /* "port", "" for the global section */
	char *arg;                   /* "mxg0" or "" */
	int line;
	size_t nkv;
	struct conf_kv kv[CONF_MAX_KEYS];
};

struct mxg_conf {
	char *name; /* file name for messages */
	size_t nsec;
	struct mxg_conf_sec *sec[CONF_MAX_SECS];
};

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static struct mxg_conf_sec *sec_new(struct mxg_conf *c, const char *type, const char *arg,
				    int line)
{
	struct mxg_conf_sec *s;

	if (c->nsec == CONF_MAX_SECS)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->conf = c;
	s->type = strdup(type);
	s->arg = strdup(arg);
	s->line = line;
	if (!s->type || !s->arg) {
		free(s->type);
		free(s->arg);
		free(s);
		return NULL;
	}
	c->sec[c->nsec++] = s;
	return s;
}

void mxg_conf_free(struct mxg_conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nsec; i++) {
		struct mxg_conf_sec *s = c->sec[i];

		for (size_t k = 0; k < s->nkv; k++) {
			free(s->kv[k].key);
			free(s->kv[k].val);
		}
		free(s->type);
		free(s->arg);
		free(s);
	}
	free(c->name);
	free(c);
}

static bool valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

/* Parses one logical line already NUL-terminated in |ln|. */
static int parse_line(struct mxg_conf *c, struct mxg_conf_sec **cur, char *ln, int lineno,
		      char *err, size_t errlen)
{
	char *p = trim(ln), *eq, *key, *val;
	struct mxg_conf_sec *s = *cur;

	if (*p == '\0' || *p == '#' || *p == ';')
		return 0;
	if (*p == '[') {
		char *close = strchr(p, ']'), *type, *arg;

		if (!close || *trim(close + 1) != '\0') {
			errf(err, errlen, "%s:%d: malformed section header", c->name, lineno);
			return MXG_E_INVAL;
		}
		*close = '\0';
		type = trim(p + 1);
		arg = type + strcspn(type, " \t");
		if (*arg) {
			*arg++ = '\0';
			arg = trim(arg);
		}
		if (!valid_name(type) || (*arg && !valid_name(arg))) {
			errf(err, errlen, "%s:%d: bad section name", c->name, lineno);
			return MXG_E_INVAL;
		}
		for (size_t i = 0; i < c->nsec; i++)
			if (!strcmp(c->sec[i]->type, type) && !strcmp(c->sec[i]->arg, arg)) {
				errf(err, errlen, "%s:%d: section [%s%s%s] repeated (first at line %d)",
				     c->name, lineno, type, *arg ? " " : "", arg, c->sec[i]->line);
				return MXG_E_INVAL;
			}
		*cur = sec_new(c, type, arg, lineno);
		if (!*cur) {
			errf(err, errlen, "%s:%d: too many sections", c->name, lineno);
			return c->nsec == CONF_MAX_SECS ? MXG_E_RANGE : MXG_E_NOMEM;
		}
		return 0;
	}
	eq = strchr(p, '=');
	if (!eq) {
		errf(err, errlen, "%s:%d: expected 'key = value'", c->name, lineno);
		return MXG_E_INVAL;
	}
	*eq = '\0';
	key = trim(p);
	val = trim(eq + 1);
	if (!valid_name(key)) {
		errf(err, errlen, "%s:%d: bad key name '%s'", c->name, lineno, key);
		return MXG_E_INVAL;
	}
	if (*val == '"') {
		char *q = strrchr(val + 1, '"');

		if (!q || *trim(q + 1) != '\0') {
			errf(err, errlen, "%s:%d: %s: unterminated quoted value", c->name, lineno, key);
			return MXG_E_INVAL;
		}
		*q = '\0';
		val++;
	} else {
		/* An unquoted value ends at a comment introduced by " #". */
		char *hash = strstr(val, " #");

		if (!hash)
			hash = strstr(val, "\t#");
		if (hash) {
			*hash = '\0';
			val = trim(val);
		}
	}
	for (size_t k = 0; k < s->nkv; k++)
		if (!strcmp(s->kv[k].key, key)) {
			errf(err, errlen, "%s:%d: key '%s' repeated (first at line %d)", c->name,
			     lineno, key, s->kv[k].line);
			return MXG_E_INVAL;
		}
	if (s->nkv == CONF_MAX_KEYS) {
		errf(err, errlen, "%s:%d: too many keys in section", c->name, lineno);
		return MXG_E_RANGE;
	}
	s->kv[s->nkv].key = strdup(key);
	s->kv[s->nkv].val = strdup(val);
	s->kv[s->nkv].line = lineno;
	if (!s->kv[s->nkv].key || !s->kv[s->nkv].val) {
		free(s->kv[s->nkv].key);
		free(s->kv[s->nkv].val);
		return MXG_E_NOMEM;
	}
	s->nkv++;
	return 0;
}

int mxg_conf_parse(const char *text, size_t len, const char *name, struct mxg_conf **out,
		   char *err, size_t errlen)
{
	struct mxg_conf *c = calloc(1, sizeof(*c));
	struct mxg_conf_sec *cur;
	char line[CONF_MAX_LINE + 1];
	size_t pos = 0;
	int lineno = 0, rc = 0;

	*out = NULL;
	if (!c || !(c->name = strdup(name ? name : "config"))) {
		free(c);
		return MXG_E_NOMEM;
	}
	cur = sec_new(c, "", "", 0);
	if (!cur) {
		mxg_conf_free(c);
		return MXG_E_NOMEM;
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		lineno++;
		if (n > CONF_MAX_LINE) {
			errf(err, errlen, "%s:%d: line longer than %d bytes", c->name, lineno,
			     CONF_MAX_LINE);
			rc = MXG_E_RANGE;
			break;
		}
		if (memchr(text + pos, '\0', n)) {
			errf(err, errlen, "%s:%d: NUL byte in line", c->name, lineno);
			rc = MXG_E_INVAL;
			break;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl ? 1 : 0);
		rc = parse_line(c, &cur, line, lineno, err, errlen);
		if (rc)
			break;
	}
	if (rc) {
		mxg_conf_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int mxg_conf_load(const char *path, struct mxg_conf **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc;

	*out = NULL;
	if (!f) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		return MXG_E_IO;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			if (cap > (16u << 20)) {
				errf(err, errlen, "%s: file larger than 16 MiB", path);
				free(buf);
				fclose(f);
				return MXG_E_RANGE;
			}
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return MXG_E_NOMEM;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		errf(err, errlen, "%s: read error", path);
		free(buf);
		fclose(f);
		return MXG_E_IO;
	}
	fclose(f);
	rc = mxg_conf_parse(buf ? buf : "", len, path, out, err, errlen);
	free(buf);
	return rc;
}

size_t mxg_conf_nsec(const struct mxg_conf *c) { return c->nsec; }

struct mxg_conf_sec *mxg_conf_sec_at(const struct mxg_conf *c, size_t i)
{
	return i < c->nsec ? c->sec[i] : NULL;
}

struct mxg_conf_sec *mxg_conf_find(const struct mxg_conf *c, const char *type, const char *arg)
{
	for (size_t i = 0; i < c->nsec; i++)
		if (!strcmp(c->sec[i]->type, type) && (!arg || !strcmp(c->sec[i]->arg, arg)))
			return c->sec[i];
	return NULL;
}

const char *mxg_conf_sec_type(const struct mxg_conf_sec *s) { return s->type; }
const char *mxg_conf_sec_arg(const struct mxg_conf_sec *s) { return s->arg; }
int mxg_conf_sec_line(const struct mxg_conf_sec *s) { return s->line; }

static struct conf_kv *find_kv(struct mxg_conf_sec *s, const char *key)
{
	if (!s)
		return NULL;
	for (size_t k = 0; k < s->nkv; k++)
		if (!strcmp(s->kv[k].key, key)) {
			s->kv[k].used = true;
			return &s->kv[k];
		}
	return NULL;
}

const char *mxg_conf_get(struct mxg_conf_sec *s, const char *key)
{
	struct conf_kv *kv = find_kv(s, key);

	return kv ? kv->val : NULL;
}

int mxg_conf_err(struct mxg_conf_sec *s, const char *key, char *err, size_t errlen,
		 const char *fmt, ...)
{
	struct conf_kv *kv = find_kv(s, key);
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s)
		errf(err, errlen, "%s:%d: %s: %s", s->conf->name, kv ? kv->line : s->line, key, msg);
	else
		errf(err, errlen, "%s: %s", key, msg);
	return MXG_E_INVAL;
}

int mxg_conf_get_u64(struct mxg_conf_sec *s, const char *key, uint64_t def, uint64_t min,
		     uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	const char *v = mxg_conf_get(s, key);
	unsigned long long x;
	char *end;

	*out = def;
	if (!v)
		return 0;
	if (!isdigit((unsigned char)*v))
		return mxg_conf_err(s, key, err, errlen, "'%s' is not a number", v);
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || *end != '\0')
		return mxg_conf_err(s, key, err, errlen, "'%s' is not a number", v);
	if (x < min || x > max) {
		mxg_conf_err(s, key, err, errlen, "%llu is outside %llu..%llu", x,
			     (unsigned long long)min, (unsigned long long)max);
		return MXG_E_RANGE;
	}
	*out = x;
	return 0;
}

int mxg_conf_get_bool(struct mxg_conf_sec *s, const char *key, bool def, bool *out, char *err,
		      size_t errlen)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	const char *v = mxg_conf_get(s, key);

	*out = def;
	if (!v)
		return 0;
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	return mxg_conf_err(s, key, err, errlen, "'%s' is not yes/no", v);
}

int mxg_conf_get_enum(struct mxg_conf_sec *s, const char *key, const char *const *choices,
		      int def, int *out, char *err, size_t errlen)
{
	const char *v = mxg_conf_get(s, key);
	char list[256] = "";

	*out = def;
	if (!v)
		return 0;
	for (int i = 0; choices[i]; i++) {
		if (!strcmp(v, choices[i])) {
			*out = i;
			return 0;
		}
		if (strlen(list) + strlen(choices[i]) + 3 < sizeof(list)) {
			if (i)
				strcat(list, ", ");
			strcat(list, choices[i]);
		}
	}
	return mxg_conf_err(s, key, err, errlen, "'%s' is not one of: %s", v, list);
}

static bool type_listed(const char *type, const char *const *types)
{
	if (!types)
		return true;
	for (; *types; types++)
		if (!strcmp(type, *types))
			return true;
	return false;
}

int mxg_conf_check_unused(const struct mxg_conf *c, const char *const *types, char *err,
			  size_t errlen)
{
	for (size_t i = 0; i < c->nsec; i++) {
		const struct mxg_conf_sec *s = c->sec[i];

		if (!type_listed(s->type, types))
			continue;
		for (size_t k = 0; k < s->nkv; k++)
			if (!s->kv[k].used) {
				errf(err, errlen, "%s:%d: %s: unknown key in [%s%s%s]", c->name,
				     s->kv[k].line, s->kv[k].key, *s->type ? s->type : "global",
				     *s->arg ? " " : "", s->arg);
				return MXG_E_INVAL;
			}
	}
	return 0;
}
