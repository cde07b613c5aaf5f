/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pol.c - the compiled policy (see pol.h for the contract).
 *
 * LOAD (pol_snap_load, the service thread, off the hot path)
 *	The snapshot document is parsed with jansson and every list and rule
 *	goes through control/ctl_valid.c, the same validator the API uses, so
 *	the dataplane accepts exactly what the control plane stores and the
 *	errors carry the same JSON paths ("policies[3].conditions[0].regex").
 *	Rules are then compiled into flat structs in one arena:
 *	  - address patterns split into (local part, domain) and classified
 *	    (exact address, domain, strict subdomains, local part at any
 *	    domain, anything, other wildcards via fnmatch);
 *	  - lists become open-addressing hash sets (addresses, domains,
 *	    subdomain suffixes, local parts) hashed case-insensitively, so a
 *	    lookup never copies or lower-cases the envelope address;
 *	  - regular expressions compiled by PCRE2 with JIT (the interpreter
 *	    remains when JIT is unavailable); address, file-name and virus-name
 *	    regexes are caseless, subject/header/body ones are as written (use
 *	    "(?i)"); all in UTF mode with PCRE2_MATCH_INVALID_UTF, since raw
 *	    bodies (a message evaluated without a scan) are not always UTF-8;
 *	  - conditions of a rule sorted by cost (envelope and scan verdicts
 *	    before header parsing before the body regex), which never changes
 *	    a result ("all"/"any" are commutative);
 *	  - actions pre-split per kind, ready to append to a decision.
 *	Rules are sorted by (position, id); disabled rules are validated, then
 *	left out.
 *
 * EVALUATION (pol_eval, per recipient on a dataplane core)
 *	No allocation and no lock on the way, with one exception that is
 *	documented: PCRE2 needs a pcre2_match_data per match. One per thread is
 *	created at the thread's first regex match (pcre2_match_data_create with
 *	one pair: we never read captures) and reused forever after, including
 *	its interpreter heap frames; it is freed at thread exit
 *	(pthread key destructor) or by pol_thread_release(). The alternatives
 *	were worse: one per call is a malloc per recipient, one per snapshot
 *	would be shared by every worker (a lock or a race). Regex limits come
 *	from one pcre2_match_context per snapshot (read-only, shareable): a
 *	match that runs into them counts as not matching and is counted
 *	(pol_snap_regex_errors). The header block is parsed lazily: the
 *	Subject is unfolded and RFC 2047-decoded (scan's mime_hdr_decode_2047)
 *	at most once per call, and only if a rule asks for it.
 *
 * WHY NOT evaluate the JSON directly: string compares of type names, list
 * look-ups by linear scan and per-message lookups of every field cost ~10x
 * per rule (perf/policy_bench.c measures both, same run).
 */
#include <ctype.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "ctl_valid.h"
#include "mime_codec.h"
#include "pol.h"
#include "scan.h"

#define SUBJ_RAW_MAX 4096   /* unfolded header value kept (truncated beyond) */
#define SUBJ_DEC_MAX 8192   /* its RFC 2047-decoded UTF-8 form */
#define RE_MATCH_LIMIT 1000000u  /* pcre2 match limit (JIT and interpreter) */
#define RE_DEPTH_LIMIT 10000u    /* interpreter backtracking depth */
#define RE_HEAP_LIMIT 16384u     /* interpreter heap, KiB */

/* ---- arena: every compiled object of a snapshot, freed at once ---- */

struct chunk {
	struct chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

struct arena {
	struct chunk *head;
};

static void *arena_alloc(struct arena *a, size_t n)
{
	struct chunk *c = a->head;

	n = (n + 15) & ~(size_t)15;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > 65536 ? n : 65536;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->used;

	c->used += n;
	memset(p, 0, n);
	return p;
}

static char *arena_strdup_lower(struct arena *a, const char *s, bool lower)
{
	size_t n = strlen(s);
	char *p = arena_alloc(a, n + 1);

	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++)
		p[i] = lower ? (char)tolower((unsigned char)s[i]) : s[i];
	p[n] = '\0';
	return p;
}

static void arena_free(struct arena *a)
{
	struct chunk *c = a->head, *n;

	for (; c; c = n) {
		n = c->next;
		free(c);
	}
	a->head = NULL;
}

/* ---- case-insensitive string hash sets ---- */

struct slot {
	const char *s;  /* lower case, NULL = empty */
	uint32_t len;
	uint32_t h;
};

struct strset {
	struct slot *slots;
	uint32_t mask;  /* capacity - 1; 0 with slots NULL: empty set */
	uint32_t n;
};

static uint32_t hash_ci(const char *s, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a over lower-cased bytes */

	for (size_t i = 0; i < n; i++) {
		h ^= (uint32_t)(unsigned char)tolower((unsigned char)s[i]);
		h *= 16777619u;
	}
	return h;
}

static int strset_init(struct strset *t, struct arena *a, size_t want)
{
	uint32_t cap = 8;

	while (cap < want * 2)
		cap <<= 1;
	t->slots = arena_alloc(a, cap * sizeof(*t->slots));
	if (!t->slots)
		return -1;
	t->mask = cap - 1;
	t->n = 0;
	return 0;
}

/* Adds |s| (already lower case, arena-owned). */
static void strset_add(struct strset *t, const char *s)
{
	uint32_t len = (uint32_t)strlen(s), h = hash_ci(s, len), i = h & t->mask;

	for (;; i = (i + 1) & t->mask) {
		struct slot *sl = &t->slots[i];

		if (!sl->s) {
			*sl = (struct slot){ s, len, h };
			t->n++;
			return;
		}
		if (sl->h == h && sl->len == len && memcmp(sl->s, s, len) == 0)
			return;
	}
}

static bool strset_has(const struct strset *t, const char *s, size_t len)
{
	uint32_t h, i;

	if (!t->n)
		return false;
	h = hash_ci(s, len);
	for (i = h & t->mask;; i = (i + 1) & t->mask) {
		const struct slot *sl = &t->slots[i];

		if (!sl->s)
			return false;
		if (sl->h == h && sl->len == len && strncasecmp(sl->s, s, len) == 0)
			return true;
	}
}

/* True if a strict parent domain of |d| (not |d| itself) is in |t|. */
static bool strset_has_parent(const struct strset *t, const char *d, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (d[i] == '.' && i + 1 < len && strset_has(t, d + i + 1, len - i - 1))
			return true;
	return false;
}

/* ---- compiled form ---- */

enum ck {
	CK_ANY,
	CK_SENDER,
	CK_RECIPIENT,
	CK_VIRUS,
	CK_ARCH_BOMB,
	CK_ARCH_ENC,
	CK_DLP,
	CK_ATT_TYPE,
	CK_ATT_NAME,
	CK_ATT_SIZE,
	CK_ATT_COUNT,
	CK_MSG_SIZE,
	CK_SUBJECT,
	CK_HEADER,
	CK_BODY,
	CK_FALSE, /* spam_score, graymail: until anti-spam lands */
};

/* Address pattern forms. */
enum am {
	AM_ADDR,      /* user@dom */
	AM_DOMAIN,    /* *@dom, @dom, dom */
	AM_SUBDOMAIN, /* *@*.dom, *.dom: strict subdomains of dom */
	AM_LOCAL,     /* user@* */
	AM_ANY,       /* *@* */
	AM_GLOB,      /* any other wildcard: fnmatch over the address */
	AM_REGEX,
	AM_LIST,
};

struct pol_list {
	const char *name;
	struct strset addrs;   /* user@dom */
	struct strset doms;    /* dom (from dom, @dom, *@dom) */
	struct strset subdoms; /* dom of *@*.dom */
	struct strset locals;  /* user of user@* */
	const char **globs;    /* other wildcard patterns */
	size_t nglobs;
	bool any;              /* *@* */
};

struct cond {
	uint8_t kind;          /* enum ck */
	uint8_t am;            /* enum am (sender/recipient) */
	bool neg;              /* "not" */
	const char *local, *dom; /* AM_ADDR/AM_DOMAIN/AM_SUBDOMAIN/AM_LOCAL parts */
	size_t local_len, dom_len;
	const char *glob;      /* AM_GLOB, attachment_name pattern */
	pcre2_code *re;        /* regex (NULL: none) */
	const struct pol_list *list;
	const char *hname;     /* header name */
	uint32_t cats;         /* attachment_type: bit per scan_ftype_cat */
	const char **kinds;    /* attachment_type: other tokens (detected_type) */
	unsigned nkinds;
	uint64_t min, max;     /* size / count bounds (inclusive) */
	unsigned dlp_kind;     /* SCAN_DLP_KIND_MAX: template has no detector */
	uint32_t min_count;
};

#define SCOPE_IN 1u
#define SCOPE_OUT 2u

struct rule {
	int64_t id;
	const char *name;
	unsigned scope;          /* SCOPE_* mask */
	bool match_any;
	bool stop;
	bool reprocess_ok;       /* every condition is virus/archive_* */
	bool part_conds;         /* some condition names parts (strip_parts) */
	bool terminal;
	enum pol_fate fate;
	const char *area;        /* quarantine */
	const char *rhost;       /* reroute */
	uint16_t rport;
	struct cond *conds, *excs;
	unsigned nconds, nexcs;
	const char **tags;
	unsigned ntags;
	struct pol_header *hdrs;
	unsigned nhdrs;
	bool strip;
	const char *strip_notice;
	struct pol_notify *notify;
	unsigned nnotify;
	const char **bcc;
	unsigned nbcc;
	bool log_full;
};

struct pol_snap {
	atomic_long refs;
	atomic_uint_fast64_t re_errors;
	int64_t version;
	struct strset local;         /* local_domains */
	struct pol_list *lists;
	size_t nlists;
	struct rule *rules;
	size_t nrules;
	pcre2_code **codes;          /* every compiled regex, for free */
	size_t ncodes, capcodes;
	pcre2_match_context *mctx;
	struct arena arena;
};

/* ---- per-thread match data ---- */

static __thread pcre2_match_data *tls_md;
static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static bool md_key_ok;

static void md_destroy(void *p)
{
	pcre2_match_data_free(p);
	tls_md = NULL;
}

static void md_key_init(void)
{
	md_key_ok = pthread_key_create(&md_key, md_destroy) == 0;
}

static pcre2_match_data *thread_md(void)
{
	if (tls_md)
		return tls_md;
	pthread_once(&md_once, md_key_init);
	tls_md = pcre2_match_data_create(1, NULL);
	if (tls_md && md_key_ok)
		pthread_setspecific(md_key, tls_md);
	return tls_md;
}

void pol_thread_release(void)
{
	if (!tls_md)
		return;
	if (md_key_ok)
		pthread_setspecific(md_key, NULL);
	pcre2_match_data_free(tls_md);
	tls_md = NULL;
}

static bool re_match(const struct pol_snap *s, const pcre2_code *re, const char *p, size_t n)
{
	pcre2_match_data *md = thread_md();
	int rc;

	if (!md) {
		atomic_fetch_add_explicit(&((struct pol_snap *)s)->re_errors, 1,
					  memory_order_relaxed);
		return false;
	}
	rc = pcre2_match(re, (PCRE2_SPTR)p, n, 0, 0, md, s->mctx);
	if (rc >= 0)
		return true; /* 0: matched, ovector too small (we want none) */
	if (rc != PCRE2_ERROR_NOMATCH)
		atomic_fetch_add_explicit(&((struct pol_snap *)s)->re_errors, 1,
					  memory_order_relaxed);
	return false;
}

/* ---- load ---- */

struct loader {
	struct pol_snap *s;
	char *err;
	size_t errlen;
	bool failed;
};

static void lerr(struct loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lerr(struct loader *l, const char *fmt, ...)
{
	va_list ap;

	if (l->failed)
		return;
	l->failed = true;
	if (!l->err || !l->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(l->err, l->errlen, fmt, ap);
	va_end(ap);
}

static void lerr_verrs(struct loader *l, const struct ctl_verrs *v)
{
	if (v->e[0].field[0])
		lerr(l, "%s: %s", v->e[0].field, v->e[0].msg);
	else
		lerr(l, "%s", v->e[0].msg);
}

static pcre2_code *re_compile(struct loader *l, const char *pat, bool caseless,
			      const char *path)
{
	int ec;
	PCRE2_SIZE off;
	uint32_t opt = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (caseless ? PCRE2_CASELESS : 0);
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opt, &ec, &off,
				       NULL);
	struct pol_snap *s = l->s;

	if (!re) {
		PCRE2_UCHAR buf[160];

		pcre2_get_error_message(ec, buf, sizeof(buf));
		lerr(l, "%s: does not compile at offset %zu: %s", path, (size_t)off,
		     (char *)buf);
		return NULL;
	}
	/* JIT is an optimisation: without it (no JIT support, no executable
	 * memory) the interpreter runs the same pattern. */
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	if (s->ncodes == s->capcodes) {
		size_t cap = s->capcodes ? s->capcodes * 2 : 64;
		pcre2_code **c = realloc(s->codes, cap * sizeof(*c));

		if (!c) {
			pcre2_code_free(re);
			lerr(l, "out of memory");
			return NULL;
		}
		s->codes = c;
		s->capcodes = cap;
	}
	s->codes[s->ncodes++] = re;
	return re;
}

/* Classifies address pattern |pat| (validated by ctl_valid) into |c|. */
static int apat_compile(struct arena *a, const char *pat, struct cond *c)
{
	char *p = arena_strdup_lower(a, pat, true);
	char *at, *loc, *dom;

	if (!p)
		return -1;
	at = strchr(p, '@');
	if (!at) {
		loc = "*";
		dom = p;
	} else {
		*at = '\0';
		loc = at == p ? "*" : p;
		dom = at + 1;
	}
	if (strcmp(loc, "*") == 0) {
		if (strcmp(dom, "*") == 0) {
			c->am = AM_ANY;
		} else if (strncmp(dom, "*.", 2) == 0) {
			c->am = AM_SUBDOMAIN;
			dom += 2;
		} else {
			c->am = AM_DOMAIN;
		}
	} else if (strpbrk(loc, "*?[") || strncmp(dom, "*.", 2) == 0) {
		c->am = AM_GLOB;
		c->glob = arena_strdup_lower(a, pat, true);
		return c->glob ? 0 : -1;
	} else if (strcmp(dom, "*") == 0) {
		c->am = AM_LOCAL;
	} else {
		c->am = AM_ADDR;
	}
	c->local = loc;
	c->local_len = strlen(loc);
	c->dom = dom;
	c->dom_len = strlen(dom);
	return 0;
}

static int list_compile(struct loader *l, const json_t *j, struct pol_list *pl)
{
	struct arena *a = &l->s->arena;
	const json_t *ents = json_object_get(j, "entries"), *e;
	const char *kind = json_string_value(json_object_get(j, "kind"));
	size_t n = json_array_size(ents), i, ng = 0;

	pl->name = arena_strdup_lower(a, json_string_value(json_object_get(j, "name")), false);
	pl->globs = arena_alloc(a, (n + 1) * sizeof(*pl->globs));
	if (!pl->name || !pl->globs || strset_init(&pl->addrs, a, n) ||
	    strset_init(&pl->doms, a, n) || strset_init(&pl->subdoms, a, n) ||
	    strset_init(&pl->locals, a, n))
		return -1;
	json_array_foreach(ents, i, e) {
		struct cond c = { 0 };

		if (kind && strcmp(kind, "domains") == 0) {
			char *d = arena_strdup_lower(a, json_string_value(e), true);

			if (!d)
				return -1;
			strset_add(&pl->doms, d);
			continue;
		}
		if (apat_compile(a, json_string_value(e), &c))
			return -1;
		switch (c.am) {
		case AM_ADDR: {
			char *s = arena_alloc(a, c.local_len + c.dom_len + 2);

			if (!s)
				return -1;
			sprintf(s, "%s@%s", c.local, c.dom);
			strset_add(&pl->addrs, s);
			break;
		}
		case AM_DOMAIN: strset_add(&pl->doms, c.dom); break;
		case AM_SUBDOMAIN: strset_add(&pl->subdoms, c.dom); break;
		case AM_LOCAL: strset_add(&pl->locals, c.local); break;
		case AM_ANY: pl->any = true; break;
		default: pl->globs[ng++] = c.glob; break;
		}
	}
	pl->nglobs = ng;
	return 0;
}

static const struct pol_list *list_find(const struct pol_snap *s, const char *name)
{
	for (size_t i = 0; i < s->nlists; i++)
		if (strcmp(s->lists[i].name, name) == 0)
			return &s->lists[i];
	return NULL;
}

static const struct {
	const char *name;
	enum ck kind;
} cond_kinds[] = {
	{ "any", CK_ANY },
	{ "sender", CK_SENDER },
	{ "recipient", CK_RECIPIENT },
	{ "virus", CK_VIRUS },
	{ "archive_bomb", CK_ARCH_BOMB },
	{ "archive_encrypted", CK_ARCH_ENC },
	{ "dlp", CK_DLP },
	{ "subject", CK_SUBJECT },
	{ "body", CK_BODY },
	{ "header", CK_HEADER },
	{ "attachment_type", CK_ATT_TYPE },
	{ "attachment_name", CK_ATT_NAME },
	{ "attachment_size", CK_ATT_SIZE },
	{ "attachment_count", CK_ATT_COUNT },
	{ "message_size", CK_MSG_SIZE },
	{ "spam_score", CK_FALSE },
	{ "graymail", CK_FALSE },
};

/* DLP template names (ctl_valid.c dlp_templates[]) -> scan_dlp detector.
 * uk_nino and swift_bic have no detector in scan/scan_dlp.c yet: those
 * conditions evaluate false (and "not" true) until one is written. */
static const struct {
	const char *name;
	unsigned kind;
} dlp_map[] = {
	{ "credit_card", SCAN_DLP_PAN },
	{ "iban", SCAN_DLP_IBAN },
	{ "us_ssn", SCAN_DLP_SSN },
	{ "email_address", SCAN_DLP_EMAIL },
	{ "phone_number", SCAN_DLP_PHONE },
	{ "uk_nino", SCAN_DLP_KIND_MAX },
	{ "swift_bic", SCAN_DLP_KIND_MAX },
};

static uint64_t opt_u64(const json_t *o, const char *key, uint64_t def)
{
	const json_t *j = json_object_get(o, key);

	return json_is_integer(j) ? (uint64_t)json_integer_value(j) : def;
}

static int cond_compile(struct loader *l, const json_t *j, const char *path, struct cond *c)
{
	struct pol_snap *s = l->s;
	struct arena *a = &s->arena;
	const char *type = json_string_value(json_object_get(j, "type"));
	const json_t *v;
	char fp[320];
	size_t i;

	c->kind = CK_FALSE;
	for (i = 0; i < sizeof(cond_kinds) / sizeof(cond_kinds[0]); i++)
		if (strcmp(cond_kinds[i].name, type) == 0)
			c->kind = (uint8_t)cond_kinds[i].kind;
	c->neg = json_is_true(json_object_get(j, "not"));
	switch (c->kind) {
	case CK_SENDER:
	case CK_RECIPIENT:
		if ((v = json_object_get(j, "pattern")))
			return apat_compile(a, json_string_value(v), c) ? (lerr(l, "out of memory"), -1)
									  : 0;
		if ((v = json_object_get(j, "regex"))) {
			c->am = AM_REGEX;
			snprintf(fp, sizeof(fp), "%s.regex", path);
			c->re = re_compile(l, json_string_value(v), true, fp);
			return c->re ? 0 : -1;
		}
		c->am = AM_LIST;
		v = json_object_get(j, "list");
		c->list = list_find(s, json_string_value(v));
		if (!c->list) {
			lerr(l, "%s.list: unknown list '%s'", path, json_string_value(v));
			return -1;
		}
		return 0;
	case CK_VIRUS:
		if ((v = json_object_get(j, "name_regex"))) {
			snprintf(fp, sizeof(fp), "%s.name_regex", path);
			c->re = re_compile(l, json_string_value(v), true, fp);
			return c->re ? 0 : -1;
		}
		return 0;
	case CK_DLP:
		c->dlp_kind = SCAN_DLP_KIND_MAX;
		v = json_object_get(j, "template");
		for (i = 0; i < sizeof(dlp_map) / sizeof(dlp_map[0]); i++)
			if (strcmp(dlp_map[i].name, json_string_value(v)) == 0)
				c->dlp_kind = dlp_map[i].kind;
		c->min_count = (uint32_t)opt_u64(j, "min_count", 1);
		return 0;
	case CK_SUBJECT:
	case CK_BODY:
	case CK_HEADER:
		if (c->kind == CK_HEADER) {
			c->hname = arena_strdup_lower(a, json_string_value(json_object_get(j, "name")),
						      true);
			if (!c->hname) {
				lerr(l, "out of memory");
				return -1;
			}
		}
		snprintf(fp, sizeof(fp), "%s.regex", path);
		c->re = re_compile(l, json_string_value(json_object_get(j, "regex")), false, fp);
		return c->re ? 0 : -1;
	case CK_ATT_TYPE: {
		const json_t *types = json_object_get(j, "types"), *t;

		c->kinds = arena_alloc(a, (json_array_size(types) + 1) * sizeof(*c->kinds));
		if (!c->kinds) {
			lerr(l, "out of memory");
			return -1;
		}
		json_array_foreach(types, i, t) {
			const char *tok = json_string_value(t);
			bool cat = false;

			for (unsigned k = 0; k < SCAN_FT_MAX; k++) {
				if (strcmp(scan_ftype_cat_name((enum scan_ftype_cat)k), tok) == 0) {
					c->cats |= 1u << k;
					cat = true;
				}
			}
			if (!cat && !(c->kinds[c->nkinds++] = arena_strdup_lower(a, tok, true))) {
				lerr(l, "out of memory");
				return -1;
			}
		}
		return 0;
	}
	case CK_ATT_NAME:
		if ((v = json_object_get(j, "pattern"))) {
			c->glob = arena_strdup_lower(a, json_string_value(v), false);
			return c->glob ? 0 : (lerr(l, "out of memory"), -1);
		}
		snprintf(fp, sizeof(fp), "%s.regex", path);
		c->re = re_compile(l, json_string_value(json_object_get(j, "regex")), true, fp);
		return c->re ? 0 : -1;
	case CK_ATT_SIZE:
	case CK_ATT_COUNT:
	case CK_MSG_SIZE:
		c->min = opt_u64(j, "min", 0);
		c->max = opt_u64(j, "max", UINT64_MAX);
		return 0;
	default:
		return 0;
	}
}

/* Relative cost of a condition kind: cheap ones are evaluated first. */
static int cond_cost(const struct cond *c)
{
	switch (c->kind) {
	case CK_BODY: return 5;
	case CK_SUBJECT:
	case CK_HEADER: return 4;
	case CK_ATT_TYPE:
	case CK_ATT_NAME:
	case CK_ATT_SIZE:
	case CK_VIRUS: return c->re ? 3 : 2;
	case CK_SENDER:
	case CK_RECIPIENT: return c->am == AM_REGEX || c->am == AM_GLOB ? 2 : 1;
	default: return 0;
	}
}

static int conds_compile(struct loader *l, const json_t *arr, const char *path,
			 struct cond **out, unsigned *n)
{
	size_t i, cnt = json_array_size(arr);
	const json_t *e;
	char ep[200];
	struct cond *c;

	*n = 0;
	*out = NULL;
	if (!cnt)
		return 0;
	c = arena_alloc(&l->s->arena, cnt * sizeof(*c));
	if (!c) {
		lerr(l, "out of memory");
		return -1;
	}
	json_array_foreach(arr, i, e) {
		snprintf(ep, sizeof(ep), "%s[%zu]", path, i);
		if (cond_compile(l, e, ep, &c[i]))
			return -1;
	}
	/* stable insertion sort by cost (at most 64 conditions) */
	for (i = 1; i < cnt; i++) {
		struct cond t = c[i];
		size_t k = i;

		while (k > 0 && cond_cost(&c[k - 1]) > cond_cost(&t)) {
			c[k] = c[k - 1];
			k--;
		}
		c[k] = t;
	}
	*out = c;
	*n = (unsigned)cnt;
	return 0;
}

static int actions_compile(struct loader *l, const json_t *arr, struct rule *r)
{
	struct arena *a = &l->s->arena;
	size_t i, n = json_array_size(arr);
	const json_t *e;

	r->tags = arena_alloc(a, n * sizeof(*r->tags));
	r->hdrs = arena_alloc(a, n * sizeof(*r->hdrs));
	r->notify = arena_alloc(a, n * sizeof(*r->notify));
	r->bcc = arena_alloc(a, n * sizeof(*r->bcc));
	if (!r->tags || !r->hdrs || !r->notify || !r->bcc)
		goto nomem;
	r->area = "";
	r->rhost = "";
	r->strip_notice = "";
	json_array_foreach(arr, i, e) {
		const char *t = json_string_value(json_object_get(e, "type"));
#define STR(key) arena_strdup_lower(a, json_string_value(json_object_get(e, key)), false)

		if (strcmp(t, "deliver") == 0) {
			r->terminal = true;
			r->fate = POL_DELIVER;
		} else if (strcmp(t, "delete") == 0) {
			r->terminal = true;
			r->fate = POL_DELETE;
		} else if (strcmp(t, "quarantine") == 0) {
			r->terminal = true;
			r->fate = POL_QUARANTINE;
			r->area = json_object_get(e, "area") ? STR("area") : "default";
			if (!r->area)
				goto nomem;
		} else if (strcmp(t, "reroute") == 0) {
			r->terminal = true;
			r->fate = POL_REROUTE;
			r->rhost = STR("host");
			r->rport = (uint16_t)opt_u64(e, "port", 25);
			if (!r->rhost)
				goto nomem;
		} else if (strcmp(t, "tag_subject") == 0) {
			if (!(r->tags[r->ntags++] = STR("tag")))
				goto nomem;
		} else if (strcmp(t, "insert_header") == 0) {
			struct pol_header *h = &r->hdrs[r->nhdrs++];

			if (!(h->name = STR("name")) || !(h->value = STR("value")))
				goto nomem;
		} else if (strcmp(t, "strip_attachments") == 0) {
			if (!r->strip && json_object_get(e, "notice") &&
			    !(r->strip_notice = STR("notice")))
				goto nomem;
			r->strip = true;
		} else if (strcmp(t, "notify") == 0) {
			struct pol_notify *nt = &r->notify[r->nnotify++];
			const char *to = json_string_value(json_object_get(e, "to"));

			nt->to = strcmp(to, "sender") == 0      ? POL_NOTIFY_SENDER
				 : strcmp(to, "recipient") == 0 ? POL_NOTIFY_RECIPIENT
								: POL_NOTIFY_ADMIN;
			nt->rule_id = r->id;
			if (!(nt->tmpl = STR("template")))
				goto nomem;
		} else if (strcmp(t, "bcc") == 0) {
			if (!(r->bcc[r->nbcc++] = STR("address")))
				goto nomem;
		} else if (strcmp(t, "log") == 0) {
			const char *lv = json_string_value(json_object_get(e, "level"));

			if (lv && strcmp(lv, "full") == 0)
				r->log_full = true;
		}
#undef STR
	}
	return 0;
nomem:
	lerr(l, "out of memory");
	return -1;
}

struct pending {
	const json_t *rule;  /* normalised (owned by the norm array) */
	size_t idx;          /* index in the document's policies[] */
	int64_t id;
	long long position;
};

static int pending_cmp(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	if (x->position != y->position)
		return x->position < y->position ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int rule_compile(struct loader *l, const struct pending *p, struct rule *r)
{
	struct arena *a = &l->s->arena;
	const json_t *j = p->rule;
	const char *scope = json_string_value(json_object_get(j, "scope"));
	char path[64];

	r->id = p->id;
	r->name = arena_strdup_lower(a, json_string_value(json_object_get(j, "name")), false);
	if (!r->name) {
		lerr(l, "out of memory");
		return -1;
	}
	r->scope = strcmp(scope, "inbound") == 0    ? SCOPE_IN
		   : strcmp(scope, "outbound") == 0 ? SCOPE_OUT
						    : SCOPE_IN | SCOPE_OUT;
	r->match_any = strcmp(json_string_value(json_object_get(j, "match")), "any") == 0;
	r->stop = json_is_true(json_object_get(j, "stop"));
	snprintf(path, sizeof(path), "policies[%zu].conditions", p->idx);
	if (conds_compile(l, json_object_get(j, "conditions"), path, &r->conds, &r->nconds))
		return -1;
	snprintf(path, sizeof(path), "policies[%zu].exceptions", p->idx);
	if (conds_compile(l, json_object_get(j, "exceptions"), path, &r->excs, &r->nexcs))
		return -1;
	r->reprocess_ok = r->nconds > 0;
	for (unsigned i = 0; i < r->nconds; i++) {
		uint8_t k = r->conds[i].kind;

		if (k != CK_VIRUS && k != CK_ARCH_BOMB && k != CK_ARCH_ENC)
			r->reprocess_ok = false;
		if (!r->conds[i].neg && (k == CK_VIRUS || k == CK_ATT_TYPE || k == CK_ATT_NAME ||
					 k == CK_ATT_SIZE))
			r->part_conds = true;
	}
	return actions_compile(l, json_object_get(j, "actions"), r);
}

static const char *const doc_keys[] = { "format", "version", "local_domains", "lists",
					"policies", NULL };

static void snap_free(struct pol_snap *s)
{
	for (size_t i = 0; i < s->ncodes; i++)
		pcre2_code_free(s->codes[i]);
	free(s->codes);
	pcre2_match_context_free(s->mctx);
	arena_free(&s->arena);
	free(s);
}

struct pol_snap *pol_snap_load(const char *json, size_t len, char *err, size_t errlen)
{
	struct loader l = { .err = err, .errlen = errlen };
	struct ctl_verrs v = { 0 };
	json_error_t je;
	json_t *doc, *j, *e, *names = NULL, **norm = NULL;
	struct pending *pend = NULL;
	struct pol_snap *s;
	const char *key;
	size_t i, npol = 0, nen = 0;
	char ep[64];

	if (err && errlen)
		err[0] = '\0';
	s = calloc(1, sizeof(*s));
	if (!s) {
		lerr(&l, "out of memory");
		return NULL;
	}
	l.s = s;
	atomic_init(&s->refs, 1);
	atomic_init(&s->re_errors, 0);
	s->mctx = pcre2_match_context_create(NULL);
	if (!s->mctx) {
		lerr(&l, "out of memory");
		snap_free(s);
		return NULL;
	}
	pcre2_set_match_limit(s->mctx, RE_MATCH_LIMIT);
	pcre2_set_depth_limit(s->mctx, RE_DEPTH_LIMIT);
	pcre2_set_heap_limit(s->mctx, RE_HEAP_LIMIT);

	doc = json_loadb(json, len, 0, &je);
	if (!doc) {
		lerr(&l, "not JSON: %s (line %d, column %d)", je.text, je.line, je.column);
		snap_free(s);
		return NULL;
	}
	if (!json_is_object(doc)) {
		lerr(&l, "the snapshot must be a JSON object");
		goto fail;
	}
	json_object_foreach(doc, key, e) {
		bool known = false;

		for (i = 0; doc_keys[i]; i++)
			known |= strcmp(doc_keys[i], key) == 0;
		if (!known) {
			lerr(&l, "%s: unknown top-level field", key);
			goto fail;
		}
	}
	j = json_object_get(doc, "format");
	if (!json_is_string(j) || strcmp(json_string_value(j), "mxgate-policy") != 0) {
		lerr(&l, "format: must be \"mxgate-policy\"");
		goto fail;
	}
	j = json_object_get(doc, "version");
	if (!json_is_integer(j) || json_integer_value(j) < 0) {
		lerr(&l, "version: %s", j ? "must be an integer >= 0" : "required");
		goto fail;
	}
	s->version = json_integer_value(j);

	/* local domains */
	j = json_object_get(doc, "local_domains");
	if (!json_is_array(j)) {
		lerr(&l, "local_domains: %s", j ? "must be an array" : "required");
		goto fail;
	}
	if (strset_init(&s->local, &s->arena, json_array_size(j)))
		goto nomem;
	json_array_foreach(j, i, e) {
		char *d;

		if (!json_is_string(e) || !ctl_domain_ok(json_string_value(e))) {
			lerr(&l, "local_domains[%zu]: must be a domain name string", i);
			goto fail;
		}
		if (!(d = arena_strdup_lower(&s->arena, json_string_value(e), true)))
			goto nomem;
		strset_add(&s->local, d);
	}

	/* lists (rules refer to them by name) */
	j = json_object_get(doc, "lists");
	if (!json_is_array(j)) {
		lerr(&l, "lists: %s", j ? "must be an array" : "required");
		goto fail;
	}
	names = json_object();
	s->lists = arena_alloc(&s->arena, (json_array_size(j) + 1) * sizeof(*s->lists));
	if (!names || !s->lists)
		goto nomem;
	json_array_foreach(j, i, e) {
		json_t *c;

		snprintf(ep, sizeof(ep), "lists[%zu]", i);
		c = ctl_list_validate(e, NULL, true, ep, &v);
		if (!c) {
			lerr_verrs(&l, &v);
			goto fail;
		}
		key = json_string_value(json_object_get(c, "name"));
		if (json_object_get(names, key)) {
			lerr(&l, "lists[%zu].name: duplicate list name '%s'", i, key);
			json_decref(c);
			goto fail;
		}
		json_object_set_new(names, key, json_true());
		if (list_compile(&l, c, &s->lists[s->nlists])) {
			json_decref(c);
			goto nomem;
		}
		s->nlists++;
		json_decref(c);
	}

	/* rules: validated as the API validates them, then sorted */
	j = json_object_get(doc, "policies");
	if (!json_is_array(j)) {
		lerr(&l, "policies: %s", j ? "must be an array" : "required");
		goto fail;
	}
	if (json_array_size(j) > CTL_RULES_MAX) {
		lerr(&l, "policies: has more than %d rules", CTL_RULES_MAX);
		goto fail;
	}
	npol = json_array_size(j);
	norm = calloc(npol + 1, sizeof(*norm));
	pend = calloc(npol + 1, sizeof(*pend));
	if (!norm || !pend)
		goto nomem;
	json_array_foreach(j, i, e) {
		json_t *id = json_object_get(e, "id");

		snprintf(ep, sizeof(ep), "policies[%zu]", i);
		if (json_is_object(e) && !id) {
			lerr(&l, "policies[%zu].id: required in a snapshot", i);
			goto fail;
		}
		norm[i] = ctl_rule_validate(e, ep, 0, names, &v);
		if (!norm[i]) {
			lerr_verrs(&l, &v);
			goto fail;
		}
		if (!json_is_true(json_object_get(norm[i], "enabled")))
			continue;
		pend[nen++] = (struct pending){
			norm[i], i, json_integer_value(json_object_get(norm[i], "id")),
			json_integer_value(json_object_get(norm[i], "position")),
		};
	}
	qsort(pend, nen, sizeof(*pend), pending_cmp);
	s->rules = arena_alloc(&s->arena, (nen + 1) * sizeof(*s->rules));
	if (!s->rules)
		goto nomem;
	for (i = 0; i < nen; i++) {
		if (rule_compile(&l, &pend[i], &s->rules[i]))
			goto fail;
		s->nrules++;
	}
	goto done;
nomem:
	lerr(&l, "out of memory");
fail:
	snap_free(s);
	s = NULL;
done:
	for (i = 0; norm && i < npol; i++)
		json_decref(norm[i]);
	free(norm);
	free(pend);
	json_decref(names);
	json_decref(doc);
	return s;
}

struct pol_snap *pol_snap_ref(struct pol_snap *s)
{
	if (s)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void pol_snap_unref(struct pol_snap *s)
{
	if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		snap_free(s);
}

int64_t pol_snap_version(const struct pol_snap *s)
{
	return s->version;
}

size_t pol_snap_rules(const struct pol_snap *s)
{
	return s->nrules;
}

uint64_t pol_snap_regex_errors(const struct pol_snap *s)
{
	return atomic_load_explicit(&((struct pol_snap *)s)->re_errors, memory_order_relaxed);
}

static const char builtin_doc[] =
	"{\"format\": \"mxgate-policy\", \"version\": 0, \"local_domains\": [], \"lists\": [],"
	" \"policies\": ["
	"  {\"id\": 1, \"name\": \"builtin: reject viruses\", \"position\": 10,"
	"   \"conditions\": [{\"type\": \"virus\"}], \"actions\": [{\"type\": \"delete\"},"
	"   {\"type\": \"log\", \"level\": \"full\"}]},"
	"  {\"id\": 2, \"name\": \"builtin: reject archive bombs\", \"position\": 20,"
	"   \"conditions\": [{\"type\": \"archive_bomb\"}], \"actions\": [{\"type\": \"delete\"},"
	"   {\"type\": \"log\", \"level\": \"full\"}]}"
	"]}";

/* The rule language has no "reject" action (with a control plane there is
 * always a quarantine): the built-in rules are written with "delete" and
 * turned into POL_REJECT here. */
struct pol_snap *pol_snap_builtin(void)
{
	struct pol_snap *s = pol_snap_load(builtin_doc, sizeof(builtin_doc) - 1, NULL, 0);

	for (size_t i = 0; s && i < s->nrules; i++)
		if (s->rules[i].fate == POL_DELETE)
			s->rules[i].fate = POL_REJECT;
	return s;
}

/* ---- evaluation ---- */

struct ectx {
	const struct pol_snap *s;
	const struct pol_msg *m;
	const char *rcpt;
	const uint8_t *hdr;       /* header block */
	size_t hlen;
	const uint8_t *body;      /* first POL_BODY_MAX bytes of the body */
	size_t blen;
	bool split;               /* hdr/body located */
	int subj;                 /* 0 not looked for, 1 found, -1 absent */
	size_t subj_len;
	char subj_buf[SUBJ_DEC_MAX];
};

/* Splits the address at its last '@' (no '@': all local part). */
static void addr_split(const char *a, const char **loc, size_t *ll, const char **dom,
		       size_t *dl)
{
	const char *at = strrchr(a, '@');

	*loc = a;
	if (at) {
		*ll = (size_t)(at - a);
		*dom = at + 1;
		*dl = strlen(at + 1);
	} else {
		*ll = strlen(a);
		*dom = a + *ll;
		*dl = 0;
	}
}

static bool eq_ci(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && strncasecmp(a, b, an) == 0;
}

static bool list_match(const struct pol_list *pl, const char *addr)
{
	const char *loc, *dom;
	size_t ll, dl, al = strlen(addr);

	if (!*addr)
		return false;
	if (pl->any)
		return true;
	addr_split(addr, &loc, &ll, &dom, &dl);
	if (strset_has(&pl->addrs, addr, al) || (dl && strset_has(&pl->doms, dom, dl)) ||
	    (dl && strset_has_parent(&pl->subdoms, dom, dl)) ||
	    (ll && strset_has(&pl->locals, loc, ll)))
		return true;
	for (size_t i = 0; i < pl->nglobs; i++)
		if (fnmatch(pl->globs[i], addr, FNM_CASEFOLD) == 0)
			return true;
	return false;
}

static bool addr_match(const struct ectx *x, const struct cond *c, const char *addr)
{
	const char *loc, *dom;
	size_t ll, dl;

	switch (c->am) {
	case AM_REGEX: return re_match(x->s, c->re, addr, strlen(addr));
	case AM_LIST: return list_match(c->list, addr);
	case AM_GLOB: return *addr && fnmatch(c->glob, addr, FNM_CASEFOLD) == 0;
	default: break;
	}
	if (!*addr)
		return false; /* the null sender <> matches no pattern */
	addr_split(addr, &loc, &ll, &dom, &dl);
	switch (c->am) {
	case AM_ADDR:
		return eq_ci(loc, ll, c->local, c->local_len) && eq_ci(dom, dl, c->dom, c->dom_len);
	case AM_DOMAIN: return eq_ci(dom, dl, c->dom, c->dom_len);
	case AM_SUBDOMAIN:
		return dl > c->dom_len + 1 && dom[dl - c->dom_len - 1] == '.' &&
		       strncasecmp(dom + dl - c->dom_len, c->dom, c->dom_len) == 0;
	case AM_LOCAL: return eq_ci(loc, ll, c->local, c->local_len);
	case AM_ANY: return true;
	default: return false;
	}
}

/* Locates the header block and the body (first empty line). */
/* Length of the header block of |p| (up to the empty line); *body gets
 * the offset of the body (|n| when there is none). */
static size_t header_block(const uint8_t *p, size_t n, size_t *body)
{
	size_t i = 0;

	*body = n;
	while (i < n) {
		const uint8_t *nl;

		if (p[i] == '\n' || (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')) {
			*body = i + (p[i] == '\r' ? 2 : 1);
			return i;
		}
		nl = memchr(p + i, '\n', n - i);
		if (!nl)
			break;
		i = (size_t)(nl - p) + 1;
	}
	return n;
}

static void msg_split(struct ectx *x)
{
	const uint8_t *p = x->m->msg;
	size_t n = x->m->msg ? x->m->len : 0, b;

	x->split = true;
	x->hdr = p;
	x->hlen = header_block(p, n, &b);
	x->body = p + b;
	x->blen = n - b > POL_BODY_MAX ? POL_BODY_MAX : n - b;
}

/* Next header field from *pos: name [*name, *nlen), value [*val, *vlen)
 * raw (folds included). Returns false at the end. */
static bool next_field(const uint8_t *h, size_t hlen, size_t *pos, const char **name,
		       size_t *nlen, const uint8_t **val, size_t *vlen)
{
	while (*pos < hlen) {
		size_t s = *pos, e = s, colon = SIZE_MAX;

		/* the field ends at a line end not followed by WSP */
		for (;;) {
			const uint8_t *nl = memchr(h + e, '\n', hlen - e);

			e = nl ? (size_t)(nl - h) + 1 : hlen;
			if (e >= hlen || (h[e] != ' ' && h[e] != '\t'))
				break;
		}
		*pos = e;
		for (size_t k = s; k < e && h[k] != '\n'; k++) {
			if (h[k] == ':') {
				colon = k;
				break;
			}
		}
		if (colon == SIZE_MAX || colon == s || h[s] == ' ' || h[s] == '\t')
			continue; /* not a field (garbage line): skipped */
		size_t ne = colon;

		while (ne > s && (h[ne - 1] == ' ' || h[ne - 1] == '\t'))
			ne--;
		*name = (const char *)h + s;
		*nlen = ne - s;
		*val = h + colon + 1;
		*vlen = e - colon - 1;
		return true;
	}
	return false;
}

/* Unfolds (drops CR and LF), trims, decodes RFC 2047 into |out|. */
static size_t field_decode(const uint8_t *v, size_t n, char *out, size_t cap)
{
	char raw[SUBJ_RAW_MAX];
	size_t o = 0, i = 0;

	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	for (; i < n && o < sizeof(raw); i++)
		if (v[i] != '\r' && v[i] != '\n')
			raw[o++] = (char)v[i];
	while (o && (raw[o - 1] == ' ' || raw[o - 1] == '\t'))
		o--;
	return mime_hdr_decode_2047(raw, o, out, cap, NULL);
}

static bool subject_match(struct ectx *x, const struct cond *c)
{
	if (!x->subj) {
		size_t pos = 0, nl, vl;
		const char *nm;
		const uint8_t *v;

		if (!x->split)
			msg_split(x);
		x->subj = -1;
		while (next_field(x->hdr, x->hlen, &pos, &nm, &nl, &v, &vl)) {
			if (eq_ci(nm, nl, "subject", 7)) {
				x->subj_len = field_decode(v, vl, x->subj_buf, sizeof(x->subj_buf));
				x->subj = 1;
				break;
			}
		}
	}
	return x->subj > 0 && re_match(x->s, c->re, x->subj_buf, x->subj_len);
}

static bool header_match(struct ectx *x, const struct cond *c)
{
	size_t pos = 0, nl, vl, hn = strlen(c->hname);
	const char *nm;
	const uint8_t *v;
	char buf[SUBJ_DEC_MAX];

	if (!x->split)
		msg_split(x);
	while (next_field(x->hdr, x->hlen, &pos, &nm, &nl, &v, &vl)) {
		if (!eq_ci(nm, nl, c->hname, hn))
			continue;
		size_t n = field_decode(v, vl, buf, sizeof(buf));

		if (re_match(x->s, c->re, buf, n))
			return true;
	}
	return false;
}

/* The top-level part (not an archive member) holding part |i|. */
static size_t part_top(const struct scan_result *r, size_t i)
{
	for (unsigned guard = 0; guard < 64 && i < r->nparts; guard++) {
		const struct scan_part *p = &r->parts[i];

		if (!(p->flags & SCAN_PF_MEMBER) || p->parent == UINT32_MAX || p->parent >= r->nparts)
			break;
		i = p->parent;
	}
	return i;
}

struct parts {
	uint64_t bits;
	bool beyond; /* a part index > 63 */
};

static void parts_add(struct parts *ps, size_t i)
{
	if (i < 64)
		ps->bits |= 1ull << i;
	else
		ps->beyond = true;
}

/* A file for the attachment conditions: a MIME attachment or a file
 * extracted from an archive. */
static bool is_file(const struct scan_part *p)
{
	return (p->flags & SCAN_PF_ATTACHMENT) ||
	       ((p->flags & SCAN_PF_MEMBER) && (p->flags & SCAN_PF_LEAF));
}

static bool type_match(const struct cond *c, const struct scan_part *p)
{
	if (!(p->flags & SCAN_PF_LEAF))
		return false;
	if ((unsigned)p->ftype < SCAN_FT_MAX && (c->cats & (1u << p->ftype)))
		return true;
	if (p->detected_type)
		for (unsigned k = 0; k < c->nkinds; k++)
			if (strcasecmp(p->detected_type, c->kinds[k]) == 0)
				return true;
	return false;
}

static bool name_match(const struct ectx *x, const struct cond *c, const struct scan_part *p)
{
	const char *n = p->filename, *base;

	if (!n || !*n)
		return false;
	/* archive members carry their path: globs look at the last segment */
	base = strrchr(n, '/');
	base = base ? base + 1 : n;
	if (c->glob)
		return fnmatch(c->glob, base, FNM_CASEFOLD) == 0;
	return re_match(x->s, c->re, n, strlen(n));
}

/* One condition, before "not". Parts it names go to |ps|. */
static bool cond_true(struct ectx *x, const struct cond *c, struct parts *ps)
{
	const struct scan_result *r = x->m->scan;
	bool hit = false;
	size_t i;

	switch (c->kind) {
	case CK_ANY: return true;
	case CK_SENDER: return addr_match(x, c, x->m->sender ? x->m->sender : "");
	case CK_RECIPIENT: return addr_match(x, c, x->rcpt);
	case CK_SUBJECT: return subject_match(x, c);
	case CK_HEADER: return header_match(x, c);
	case CK_BODY:
		/* The scan's body text (decoded, UTF-8, HTML reduced) when it
		 * kept it; the raw body of an unscanned message. */
		if (r && r->text)
			return re_match(x->s, c->re, (const char *)r->text,
					r->text_len > POL_BODY_MAX ? POL_BODY_MAX : r->text_len);
		if (!x->split)
			msg_split(x);
		return re_match(x->s, c->re, (const char *)x->body, x->blen);
	case CK_MSG_SIZE: {
		uint64_t n = x->m->msg ? x->m->len : (r ? r->msg_size : 0);

		return n >= c->min && n <= c->max;
	}
	case CK_FALSE: return false;
	default: break;
	}
	if (!r)
		return false; /* not scanned: every scan condition is false */
	switch (c->kind) {
	case CK_VIRUS:
		for (i = 0; i < r->nviruses; i++) {
			const struct scan_virus_hit *v = &r->viruses[i];

			if (c->re && !(v->name && re_match(x->s, c->re, v->name, strlen(v->name))))
				continue;
			hit = true;
			if (v->part < r->nparts)
				parts_add(ps, part_top(r, v->part));
		}
		return hit;
	case CK_ARCH_BOMB:
		return (r->archive_flags & (SCAN_ARF_BOMB | SCAN_ARF_TOO_DEEP)) ||
		       r->archive_verdict == SCAN_ARCHIVE_BOMB ||
		       r->archive_verdict == SCAN_ARCHIVE_TOO_DEEP;
	case CK_ARCH_ENC:
		return (r->archive_flags & SCAN_ARF_ENCRYPTED) ||
		       r->archive_verdict == SCAN_ARCHIVE_ENCRYPTED;
	case CK_DLP:
		return c->dlp_kind < SCAN_DLP_KIND_MAX && r->dlp &&
		       r->dlp->kind_hits[c->dlp_kind] >= c->min_count;
	case CK_ATT_COUNT: return r->attachments >= c->min && r->attachments <= c->max;
	case CK_ATT_TYPE:
	case CK_ATT_NAME:
	case CK_ATT_SIZE:
		for (i = 0; i < r->nparts; i++) {
			const struct scan_part *p = &r->parts[i];
			bool ok;

			if (!is_file(p))
				continue;
			if (c->kind == CK_ATT_TYPE)
				ok = type_match(c, p);
			else if (c->kind == CK_ATT_NAME)
				ok = name_match(x, c, p);
			else /* sizes: of what the recipient receives, not of members */
				ok = !(p->flags & SCAN_PF_MEMBER) && p->size >= c->min &&
				     p->size <= c->max;
			if (ok) {
				hit = true;
				parts_add(ps, part_top(r, i));
			}
		}
		return hit;
	default: return false;
	}
}

static bool rule_match(struct ectx *x, const struct rule *r, struct parts *ps)
{
	bool any = false;
	/* "any" stops at the first true condition unless the parts of every
	 * true condition are wanted (strip_attachments). */
	bool all_parts = r->strip && r->part_conds;

	for (unsigned i = 0; i < r->nconds; i++) {
		const struct cond *c = &r->conds[i];
		struct parts cp = { 0 };
		bool t = cond_true(x, c, &cp) != c->neg;

		if (t) {
			any = true;
			if (!c->neg) {
				ps->bits |= cp.bits;
				ps->beyond |= cp.beyond;
			}
			if (r->match_any && !all_parts)
				break;
		} else if (!r->match_any) {
			return false;
		}
	}
	if (!any)
		return false;
	for (unsigned i = 0; i < r->nexcs; i++) {
		struct parts cp = { 0 };

		if (cond_true(x, &r->excs[i], &cp) != r->excs[i].neg)
			return false;
	}
	return true;
}

static bool is_inbound(const struct pol_snap *s, const struct pol_msg *m, size_t i,
		       const char *rcpt)
{
	const char *loc, *dom;
	size_t ll, dl;

	if (m->rcpt_local && m->rcpt_local[i])
		return true;
	addr_split(rcpt, &loc, &ll, &dom, &dl);
	return dl && (strset_has(&s->local, dom, dl) || strset_has_parent(&s->local, dom, dl));
}

static void strip_all_attachments(const struct scan_result *r, struct pol_decision *d)
{
	if (!r) {
		d->strip_all = true; /* not scanned: the parts are unknown */
		return;
	}
	for (size_t i = 0; i < r->nparts; i++) {
		uint32_t f = r->parts[i].flags;

		if ((f & SCAN_PF_ATTACHMENT) && !(f & SCAN_PF_MEMBER)) {
			if (i < 64)
				d->strip_parts |= 1ull << i;
			else
				d->strip_all = true;
		}
	}
}

static void apply_mods(const struct rule *r, const struct parts *ps,
		       const struct scan_result *scan, struct pol_decision *d)
{
	unsigned k;

	for (k = 0; k < r->ntags && d->ntag < POL_MAX_MODS; k++)
		d->tag[d->ntag++] = r->tags[k];
	for (k = 0; k < r->nhdrs && d->nhdr < POL_MAX_MODS; k++)
		d->hdr[d->nhdr++] = r->hdrs[k];
	for (k = 0; k < r->nnotify && d->nnotify < POL_MAX_MODS; k++)
		d->notify[d->nnotify++] = r->notify[k];
	for (k = 0; k < r->nbcc && d->nbcc < POL_MAX_MODS; k++)
		d->bcc[d->nbcc++] = r->bcc[k];
	if (r->log_full)
		d->log_full = true;
	if (r->strip) {
		if (!d->strip)
			d->strip_notice = r->strip_notice;
		d->strip = true;
		if (ps->bits || ps->beyond) {
			d->strip_parts |= ps->bits;
			d->strip_all |= ps->beyond;
		} else {
			strip_all_attachments(scan, d);
		}
	}
}

/* Fates after which nothing is delivered to this recipient. */
static bool undelivered(enum pol_fate f)
{
	return f == POL_DELETE || f == POL_QUARANTINE || f == POL_REJECT;
}

void pol_eval(const struct pol_snap *s, const struct pol_msg *m, size_t i,
	      struct pol_decision *d)
{
	struct ectx x;
	bool decided = false;
	unsigned scope;

	d->fate = POL_DELIVER;
	d->rule_id = 0;
	d->rule_name = "";
	d->area = "";
	d->reroute_host = "";
	d->reroute_port = 0;
	d->ntag = d->nhdr = d->nnotify = d->nbcc = d->nmatched = 0;
	d->strip = false;
	d->strip_notice = "";
	d->strip_parts = 0;
	d->strip_all = false;
	d->log_full = false;

	x.s = s;
	x.m = m;
	x.rcpt = i < m->nrcpt && m->rcpt && m->rcpt[i] ? m->rcpt[i] : "";
	x.split = false;
	x.subj = 0;
	scope = is_inbound(s, m, i, x.rcpt) ? SCOPE_IN : SCOPE_OUT;
	d->outbound = scope == SCOPE_OUT;

	for (size_t k = 0; k < s->nrules; k++) {
		const struct rule *r = &s->rules[k];
		struct parts ps = { 0 };

		if (!(r->scope & scope) || (m->reprocess && !r->reprocess_ok))
			continue;
		if (!rule_match(&x, r, &ps))
			continue;
		if (d->nmatched < POL_MAX_MATCHED)
			d->matched[d->nmatched++] = r->id;
		if (r->terminal && !decided) {
			decided = true;
			d->fate = r->fate;
			d->rule_id = r->id;
			d->rule_name = r->name;
			d->area = r->area;
			d->reroute_host = r->rhost;
			d->reroute_port = r->rport;
		}
		apply_mods(r, &ps, m->scan, d);
		if (r->stop || (decided && undelivered(d->fate)))
			break;
	}
	if (undelivered(d->fate)) {
		/* nothing is delivered: modifications of the bytes are moot */
		d->ntag = d->nhdr = 0;
		d->strip = false;
		d->strip_notice = "";
		d->strip_parts = 0;
		d->strip_all = false;
	}
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool pol_decision_same(const struct pol_decision *a, const struct pol_decision *b)
{
	unsigned k;

	if (a->fate != b->fate || !str_eq(a->area, b->area) ||
	    !str_eq(a->reroute_host, b->reroute_host) || a->reroute_port != b->reroute_port ||
	    a->ntag != b->ntag || a->nhdr != b->nhdr || a->strip != b->strip ||
	    a->nnotify != b->nnotify || a->nbcc != b->nbcc)
		return false;
	if (a->strip && (a->strip_parts != b->strip_parts || a->strip_all != b->strip_all ||
			 !str_eq(a->strip_notice, b->strip_notice)))
		return false;
	for (k = 0; k < a->ntag; k++)
		if (!str_eq(a->tag[k], b->tag[k]))
			return false;
	for (k = 0; k < a->nhdr; k++)
		if (!str_eq(a->hdr[k].name, b->hdr[k].name) ||
		    !str_eq(a->hdr[k].value, b->hdr[k].value))
			return false;
	for (k = 0; k < a->nnotify; k++)
		if (a->notify[k].to != b->notify[k].to ||
		    !str_eq(a->notify[k].tmpl, b->notify[k].tmpl))
			return false;
	for (k = 0; k < a->nbcc; k++)
		if (!str_eq(a->bcc[k], b->bcc[k]))
			return false;
	return true;
}

const char *pol_fate_name(enum pol_fate f)
{
	switch (f) {
	case POL_DELIVER: return "deliver";
	case POL_DELETE: return "delete";
	case POL_QUARANTINE: return "quarantine";
	case POL_REROUTE: return "reroute";
	case POL_REJECT: return "reject";
	}
	return "?";
}

size_t pol_header_get(const uint8_t *msg, size_t len, const char *name, char *out, size_t cap)
{
	size_t b, hlen = msg ? header_block(msg, len, &b) : 0, pos = 0, nl, vl;
	size_t want = strlen(name);
	const char *nm;
	const uint8_t *v;

	if (cap)
		out[0] = '\0';
	while (next_field(msg, hlen, &pos, &nm, &nl, &v, &vl))
		if (eq_ci(nm, nl, name, want))
			return field_decode(v, vl, out, cap);
	return 0;
}
