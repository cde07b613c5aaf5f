/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_sig.c - ClamAV signature line parsers (.hdb/.hsb/.mdb/.msb/.ndb/.ldb)
 * and the hex-signature to Hyperscan translation. Formats and decisions are
 * in scan_sig.h; the CVD container and file loading are in scan_sig_cvd.c,
 * logical expressions in scan_sig_ldb.c.
 *
 * Every line ends in exactly one of three states: loaded, loaded
 * approximated, or rejected under one enum scan_sig_reason (counted, and
 * the first SIG_ERRORS_KEPT kept as "file:line: reason: detail"). A line is
 * never half-loaded: patterns added for it are rolled back on rejection.
 *
 * Why translate to regular expressions rather than run a ClamAV-style
 * Aho-Corasick + filter: Hyperscan compiles all patterns into one streaming
 * automaton, so each part is scanned once whatever the number of
 * signatures; wildcards and bounded gaps are native to it.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "mxg_err.h"
#include "scan.h"
#include "scan_sig_int.h"

#define OUR_FLEVEL 210u /* ClamAV 1.4 functionality level */

const char sig_eicar[] =
	"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/* ---- growable strings ---- */

void sig_str_add(struct sig_str *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 128;
		char *p;

		while (cap < b->n + n + 1)
			cap *= 2;
		p = mxg_realloc(b->mem, b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

void sig_str_addf(struct sig_str *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sig_str_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static char *mem_strndup(const struct mxg_mem *m, const char *s, size_t n)
{
	char *p = mxg_malloc(m, n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

/* ---- set ---- */

struct scan_sigset *scan_sigset_new(const struct mxg_mem *mem)
{
	struct scan_sigset *s;

	if (!mem)
		mem = mxg_mem_default();
	s = mxg_calloc(mem, 1, sizeof(*s));
	if (!s)
		return NULL;
	s->mem = mem;
	s->cur_name = "-";
	return s;
}

void scan_sigset_free(struct scan_sigset *s)
{
	uint32_t i;

	if (!s)
		return;
	for (i = 0; i < s->ndefs; i++) {
		mxg_free(s->mem, s->defs[i].name);
		mxg_free(s->mem, s->defs[i].nodes);
	}
	for (i = 0; i < s->npats; i++)
		mxg_free(s->mem, s->pats[i].expr);
	for (i = 0; i < s->nerrors && i < SIG_ERRORS_KEPT; i++)
		mxg_free(s->mem, s->errors[i]);
	mxg_free(s->mem, s->defs);
	mxg_free(s->mem, s->pats);
	mxg_free(s->mem, s->hashes);
	mxg_free(s->mem, s->shashes);
	mxg_free(s->mem, s);
}

const struct scan_sig_stats *scan_sigset_stats(const struct scan_sigset *s)
{
	return &s->st;
}

size_t scan_sigset_nerrors(const struct scan_sigset *s)
{
	return s->nerrors;
}

const char *scan_sigset_error(const struct scan_sigset *s, size_t i)
{
	if (i >= s->nerrors || i >= SIG_ERRORS_KEPT)
		return NULL;
	return s->errors[i] ? s->errors[i] : "(out of memory)";
}

static const char *const reason_names[SCAN_SIG_R_MAX] = {
	[SCAN_SIG_R_MALFORMED] = "malformed",
	[SCAN_SIG_R_PE_SECTION] = "pe-section-hash",
	[SCAN_SIG_R_PE_OFFSET] = "pe-relative-offset",
	[SCAN_SIG_R_EOF_VARLEN] = "eof-offset-variable-length",
	[SCAN_SIG_R_NEG_ALT] = "negated-multibyte-alternative",
	[SCAN_SIG_R_TARGET] = "target-type",
	[SCAN_SIG_R_LDB_ATTR] = "ldb-attribute",
	[SCAN_SIG_R_LDB_MACRO] = "ldb-macro",
	[SCAN_SIG_R_LDB_BYTECMP] = "ldb-byte-compare",
	[SCAN_SIG_R_LDB_PCRE] = "ldb-pcre",
	[SCAN_SIG_R_HS_REJECT] = "hyperscan-reject",
	[SCAN_SIG_R_FLEVEL] = "flevel-out-of-range",
};

const char *scan_sig_reason_name(enum scan_sig_reason r)
{
	return (unsigned)r < SCAN_SIG_R_MAX ? reason_names[r] : "?";
}

static const char *const fmt_names[] = { "hdb", "hsb", "mdb", "msb", "ndb", "ldb", "cvd", "?" };

const char *scan_sig_fmt_name(enum scan_sig_fmt f)
{
	return (unsigned)f <= SCAN_SIG_UNKNOWN ? fmt_names[f] : "?";
}

enum scan_sig_fmt scan_sig_fmt_of(const char *name)
{
	static const struct {
		const char *ext;
		enum scan_sig_fmt f;
	} map[] = {
		{ "hdb", SCAN_SIG_HDB }, { "hdu", SCAN_SIG_HDB }, { "hsb", SCAN_SIG_HSB },
		{ "hsu", SCAN_SIG_HSB }, { "mdb", SCAN_SIG_MDB }, { "mdu", SCAN_SIG_MDB },
		{ "msb", SCAN_SIG_MSB }, { "msu", SCAN_SIG_MSB }, { "ndb", SCAN_SIG_NDB },
		{ "ndu", SCAN_SIG_NDB }, { "ldb", SCAN_SIG_LDB }, { "ldu", SCAN_SIG_LDB },
		{ "cvd", SCAN_SIG_CVD }, { "cld", SCAN_SIG_CVD },
	};
	const char *dot = strrchr(name, '.');
	size_t i;

	if (!dot)
		return SCAN_SIG_UNKNOWN;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcasecmp(dot + 1, map[i].ext))
			return map[i].f;
	return SCAN_SIG_UNKNOWN;
}

void sig_error(struct scan_sigset *s, enum scan_sig_reason r, const char *fmt, ...)
{
	char detail[160], line[320];
	va_list ap;

	if (s->nerrors++ >= SIG_ERRORS_KEPT)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s:%u: %s: %s", s->cur_name, s->cur_line,
		 scan_sig_reason_name(r), detail);
	s->errors[s->nerrors - 1] = mem_strndup(s->mem, line, strlen(line));
}

static int grow(const struct mxg_mem *m, void **p, uint32_t *cap, uint32_t n, size_t sz)
{
	void *q;
	uint32_t c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 64;
	q = mxg_realloc(m, *p, (size_t)c * sz);
	if (!q)
		return MXG_E_NOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static long add_def(struct scan_sigset *s, const char *name, size_t nlen, enum sig_kind k,
		    enum scan_sig_fmt fmt)
{
	struct sig_def *d;

	if (grow(s->mem, (void **)&s->defs, &s->capdefs, s->ndefs, sizeof(*d)))
		return -1;
	d = &s->defs[s->ndefs];
	memset(d, 0, sizeof(*d));
	d->name = mem_strndup(s->mem, name, nlen);
	if (!d->name)
		return -1;
	d->kind = k;
	d->fmt = fmt;
	d->fsize_max = UINT64_MAX;
	return s->ndefs++;
}

/* Drops the last def and its patterns (a rejected line). */
static void rollback(struct scan_sigset *s, uint32_t ndefs, uint32_t npats)
{
	while (s->npats > npats) {
		s->npats--;
		if (s->pats[s->npats].pe)
			s->npe--;
		mxg_free(s->mem, s->pats[s->npats].expr);
	}
	while (s->ndefs > ndefs) {
		s->ndefs--;
		mxg_free(s->mem, s->defs[s->ndefs].name);
		mxg_free(s->mem, s->defs[s->ndefs].nodes);
	}
}

static struct sig_pat *add_pat(struct scan_sigset *s, uint32_t sig, struct sig_str *expr)
{
	struct sig_pat *p;

	if (expr->oom || grow(s->mem, (void **)&s->pats, &s->cappats, s->npats, sizeof(*p)))
		return NULL;
	p = &s->pats[s->npats++];
	memset(p, 0, sizeof(*p));
	p->expr = expr->p; /* transferred */
	expr->p = NULL;
	expr->n = expr->cap = 0;
	p->sig = sig;
	p->hsflags = HS_FLAG_DOTALL;
	return p;
}

/* ---- hex to regex ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool parse_uint(const char *p, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > 18)
		return false;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return false;
		x = x * 10 + (uint64_t)(p[i] - '0');
	}
	*v = x;
	return true;
}

#define REP_MAX 65535u /* a bounded repeat larger than this is refused */

/* Emits one two-character hex token (byte, nibble or ??); |wide| adds \x00
 * after literal bytes. Returns false when it is not a token. */
static bool emit_tok(struct sig_str *o, char c1, char c2, bool wide, uint32_t *len)
{
	int h = hexval(c1), l = hexval(c2), i;

	if (c1 == '?' && c2 == '?') {
		sig_str_add(o, ".", 1);
		*len += 1;
		return true;
	}
	if (h >= 0 && l >= 0)
		sig_str_addf(o, "\\x%02x", h << 4 | l);
	else if (h >= 0 && c2 == '?')
		sig_str_addf(o, "[\\x%02x-\\x%02x]", h << 4, h << 4 | 0xf);
	else if (c1 == '?' && l >= 0) {
		sig_str_add(o, "[", 1);
		for (i = 0; i < 16; i++)
			sig_str_addf(o, "\\x%02x", i << 4 | l);
		sig_str_add(o, "]", 1);
	} else
		return false;
	*len += 1;
	if (wide) {
		sig_str_add(o, "\\x00", 4);
		*len += 1;
	}
	return true;
}

/* Translates a sequence without '(' groups of depth > 1 (the body of an
 * alternative, or the whole signature). */
static int hex_seq(const char *h, size_t n, bool wide, bool in_alt, struct sig_str *o,
		   uint32_t *fixed, bool *varlen, bool *approx, const char **why)
{
	size_t i = 0;
	uint32_t len = 0;

	while (i < n) {
		char c = h[i];

		if (c == '*') {
			sig_str_add(o, ".*", 2);
			*varlen = true;
			i++;
		} else if (c == '{' || c == '[') {
			char close = c == '{' ? '}' : ']';
			const char *e = memchr(h + i, close, n - i), *dash;
			uint64_t a = 0, b = 0;
			bool ha, hb;

			if (!e) {
				*why = "unterminated range";
				return SCAN_SIG_R_MALFORMED + 1;
			}
			dash = memchr(h + i + 1, '-', (size_t)(e - h - i - 1));
			if (dash) {
				ha = parse_uint(h + i + 1, (size_t)(dash - h - i - 1), &a);
				hb = parse_uint(dash + 1, (size_t)(e - dash - 1), &b);
				if ((!ha && dash != h + i + 1) || (!hb && dash + 1 != e) ||
				    (!ha && !hb)) {
					*why = "bad range";
					return SCAN_SIG_R_MALFORMED + 1;
				}
				if (!ha)
					a = 0;
				if (hb && b < a) {
					*why = "range min > max";
					return SCAN_SIG_R_MALFORMED + 1;
				}
				if (a > REP_MAX || (hb && b > REP_MAX)) {
					*why = "range too large";
					return SCAN_SIG_R_HS_REJECT + 1;
				}
				if (hb)
					sig_str_addf(o, ".{%llu,%llu}", (unsigned long long)a,
						     (unsigned long long)b);
				else
					sig_str_addf(o, ".{%llu,}", (unsigned long long)a);
				if (!hb || a != b)
					*varlen = true;
				else
					len += (uint32_t)a;
			} else {
				if (!parse_uint(h + i + 1, (size_t)(e - h - i - 1), &a)) {
					*why = "bad repeat";
					return SCAN_SIG_R_MALFORMED + 1;
				}
				if (a > REP_MAX) {
					*why = "repeat too large";
					return SCAN_SIG_R_HS_REJECT + 1;
				}
				sig_str_addf(o, ".{%llu}", (unsigned long long)a);
				len += (uint32_t)a;
			}
			i = (size_t)(e - h) + 1;
		} else if (c == '(' || (c == '!' && i + 1 < n && h[i + 1] == '(')) {
			bool neg = c == '!';
			size_t s0 = i + (neg ? 2 : 1), j;
			const char *e;
			uint32_t alen = UINT32_MAX;
			bool avar = false;

			if (in_alt) {
				*why = "nested group";
				return SCAN_SIG_R_MALFORMED + 1;
			}
			e = memchr(h + s0, ')', n - s0);
			if (!e) {
				*why = "unterminated group";
				return SCAN_SIG_R_MALFORMED + 1;
			}
			j = (size_t)(e - h);
			if (j - s0 == 1 && (h[s0] == 'B' || h[s0] == 'L') && !neg) {
				/* (B) word boundary, (L) line boundary: approximated. */
				if (h[s0] == 'B')
					sig_str_add(o, "(?:^|$|[^A-Za-z0-9])", 20);
				else
					sig_str_add(o, "(?:^|$|\\r\\n|\\r|\\n)", 19);
				*varlen = true;
				*approx = true;
				i = j + 1;
				continue;
			}
			if (neg) {
				/* Negation: a class of single bytes only. */
				size_t k = s0;

				sig_str_add(o, "[^", 2);
				while (k < j) {
					int hi = hexval(h[k]), lo = k + 1 < j ? hexval(h[k + 1]) : -1;

					if (hi < 0 || lo < 0) {
						*why = "negated alternative is not a single byte";
						return SCAN_SIG_R_NEG_ALT + 1;
					}
					sig_str_addf(o, "\\x%02x", hi << 4 | lo);
					k += 2;
					if (k < j && h[k] != '|') {
						*why = "negated alternative is not a single byte";
						return SCAN_SIG_R_NEG_ALT + 1;
					}
					if (k < j)
						k++;
				}
				sig_str_add(o, "]", 1);
				len += 1;
				if (wide) {
					sig_str_add(o, "\\x00", 4);
					len += 1;
				}
				i = j + 1;
				continue;
			}
			sig_str_add(o, "(?:", 3);
			{
				size_t a0 = s0, k;

				for (k = s0; k <= j; k++) {
					uint32_t fl = 0;
					bool v = false;
					int rc;

					if (k < j && h[k] != '|')
						continue;
					if (k == a0) {
						*why = "empty alternative";
						return SCAN_SIG_R_MALFORMED + 1;
					}
					if (a0 != s0)
						sig_str_add(o, "|", 1);
					rc = hex_seq(h + a0, k - a0, wide, true, o, &fl, &v, approx, why);
					if (rc)
						return rc;
					if (v)
						avar = true;
					else if (alen == UINT32_MAX)
						alen = fl;
					else if (alen != fl)
						avar = true;
					a0 = k + 1;
				}
			}
			sig_str_add(o, ")", 1);
			if (avar)
				*varlen = true;
			else
				len += alen;
			i = j + 1;
		} else {
			if (i + 1 >= n || !emit_tok(o, c, h[i + 1], wide, &len)) {
				*why = "bad hex digit";
				return SCAN_SIG_R_MALFORMED + 1;
			}
			i += 2;
		}
	}
	*fixed = len;
	return 0;
}

int sig_hex_to_regex(const char *hex, size_t len, uint32_t mods, struct sig_str *out,
		     uint32_t *fixed, bool *approx, const char **why)
{
	bool both = (mods & HEXM_WIDE) && (mods & HEXM_ASCII);
	bool varlen = false;
	uint32_t fl = 0, fl2 = 0;
	size_t i, nstatic = 0;
	int rc;

	*why = "";
	if (len == 0) {
		*why = "empty signature";
		return SCAN_SIG_R_MALFORMED + 1;
	}
	for (i = 0; i + 1 < len; i++)
		if (hexval(hex[i]) >= 0 && hexval(hex[i + 1]) >= 0)
			nstatic++;
	if (nstatic == 0) {
		*why = "no static byte";
		return SCAN_SIG_R_MALFORMED + 1;
	}
	if (mods & HEXM_FULLWORD) {
		sig_str_add(out, "(?:^|[^A-Za-z0-9])", 18);
		varlen = true;
	}
	if (both)
		sig_str_add(out, "(?:", 3);
	rc = hex_seq(hex, len, (mods & HEXM_WIDE) && !both, false, out, &fl, &varlen, approx,
		     why);
	if (rc)
		return rc;
	if (both) {
		sig_str_add(out, "|", 1);
		rc = hex_seq(hex, len, true, false, out, &fl2, &varlen, approx, why);
		if (rc)
			return rc;
		sig_str_add(out, ")", 1);
		varlen = true;
	}
	if (mods & HEXM_FULLWORD)
		sig_str_add(out, "(?:[^A-Za-z0-9]|$)", 18);
	*fixed = varlen ? 0 : fl;
	return 0;
}

/* ---- offsets ---- */

struct sig_off {
	enum { OFF_ANY, OFF_ABS, OFF_EOF, OFF_PE } kind;
	uint64_t n, shift;
	uint8_t pe;          /* enum sig_pe_off */
	uint16_t x;
	int64_t pn;
};

/* EP+n, EP-n, Sx+n, SEx, SL+n (the part before the comma). 0 or -1. */
static int parse_pe_offset(const char *p, size_t n, struct sig_off *o)
{
	uint64_t v;
	size_t i;

	if (n > 3 && p[0] == 'E' && p[1] == 'P' && (p[2] == '+' || p[2] == '-')) {
		if (!parse_uint(p + 3, n - 3, &v) || v > INT64_MAX)
			return -1;
		o->pe = SIG_PE_EP;
		o->pn = p[2] == '-' ? -(int64_t)v : (int64_t)v;
		return 0;
	}
	if (n > 3 && p[0] == 'S' && p[1] == 'L' && p[2] == '+') {
		if (!parse_uint(p + 3, n - 3, &v) || v > INT64_MAX)
			return -1;
		o->pe = SIG_PE_SL;
		o->pn = (int64_t)v;
		return 0;
	}
	if (n > 2 && p[0] == 'S' && p[1] == 'E') {
		if (!parse_uint(p + 2, n - 2, &v) || v >= 0xffff)
			return -1;
		o->pe = SIG_PE_SE;
		o->x = (uint16_t)v;
		o->pn = 0;
		return 0;
	}
	if (n > 1 && p[0] == 'S') {
		for (i = 1; i < n && isdigit((unsigned char)p[i]); i++)
			;
		if (i == 1 || i + 1 >= n || p[i] != '+' || !parse_uint(p + 1, i - 1, &v) ||
		    v >= 0xffff)
			return -1;
		o->pe = SIG_PE_S;
		o->x = (uint16_t)v;
		if (!parse_uint(p + i + 1, n - i - 1, &v) || v > INT64_MAX)
			return -1;
		o->pn = (int64_t)v;
		return 0;
	}
	return -1;
}

static int parse_offset(const char *p, size_t n, struct sig_off *o, const char **why)
{
	const char *comma = memchr(p, ',', n);
	size_t base = comma ? (size_t)(comma - p) : n;

	o->shift = 0;
	if (n == 1 && p[0] == '*') {
		o->kind = OFF_ANY;
		return 0;
	}
	if (comma && !parse_uint(comma + 1, n - base - 1, &o->shift)) {
		*why = "bad offset shift";
		return SCAN_SIG_R_MALFORMED + 1;
	}
	if (parse_uint(p, base, &o->n)) {
		o->kind = OFF_ABS;
		return 0;
	}
	if (base > 4 && !memcmp(p, "EOF-", 4) && parse_uint(p + 4, base - 4, &o->n)) {
		o->kind = OFF_EOF;
		return 0;
	}
	if (parse_pe_offset(p, base, o) == 0) {
		o->kind = OFF_PE;
		return 0;
	}
	if ((base > 3 && (!memcmp(p, "EP+", 3) || !memcmp(p, "EP-", 3))) ||
	    (base >= 2 && p[0] == 'S' && (isdigit((unsigned char)p[1]) || p[1] == 'E' ||
					  p[1] == 'L')) ||
	    (base == 2 && !memcmp(p, "VI", 2))) {
		*why = "offset relative to PE structure";
		return SCAN_SIG_R_PE_OFFSET + 1;
	}
	if (base > 1 && p[0] == '$') {
		*why = "macro group member";
		return SCAN_SIG_R_LDB_MACRO + 1;
	}
	*why = "bad offset";
	return SCAN_SIG_R_MALFORMED + 1;
}

static int parse_target(const char *p, size_t n, uint8_t *t, bool *approx, const char **why)
{
	uint64_t v;

	if (!parse_uint(p, n, &v)) {
		*why = "bad target type";
		return SCAN_SIG_R_MALFORMED + 1;
	}
	switch (v) {
	case SIG_T_ANY: case SIG_T_PE: case SIG_T_OLE2: case SIG_T_GRAPHICS:
	case SIG_T_ELF: case SIG_T_MACHO: case SIG_T_PDF: case SIG_T_FLASH:
	case SIG_T_JAVA:
		break;
	case SIG_T_HTML: case SIG_T_MAIL: case SIG_T_ASCII:
		*approx = true;
		break;
	default:
		*why = "target type not supported";
		return SCAN_SIG_R_TARGET + 1;
	}
	*t = (uint8_t)v;
	return 0;
}

/* Builds the pattern of one body signature (ndb line or ldb subsig) at
 * offset |off| and adds it. */
static int add_body(struct scan_sigset *s, uint32_t sig, uint16_t sub, const char *off,
		    size_t offlen, const char *hex, size_t hexlen, uint32_t mods, bool count,
		    bool pe_ok, bool *approx, const char **why)
{
	struct sig_str re = { .mem = s->mem }, pre = { .mem = s->mem };
	struct sig_off o = { OFF_ANY, 0, 0 };
	struct sig_pat *p;
	uint32_t fixed = 0;
	int rc;

	if (offlen && (rc = parse_offset(off, offlen, &o, why)))
		return rc;
	if (o.kind == OFF_PE && !pe_ok) {
		*why = "PE-relative offset outside an .ndb signature of target 1";
		return SCAN_SIG_R_PE_OFFSET + 1;
	}
	rc = sig_hex_to_regex(hex, hexlen, mods, &re, &fixed, approx, why);
	if (rc)
		goto out;
	if (o.kind == OFF_EOF && !fixed) {
		*why = "EOF offset on a variable-length pattern";
		rc = SCAN_SIG_R_EOF_VARLEN + 1;
		goto out;
	}
	if (o.kind == OFF_ABS && !fixed) {
		if (o.n > REP_MAX || o.shift > REP_MAX) {
			*why = "absolute offset too large for a variable-length pattern";
			rc = SCAN_SIG_R_HS_REJECT + 1;
			goto out;
		}
		sig_str_addf(&pre, "^.{%llu,%llu}", (unsigned long long)o.n,
			     (unsigned long long)(o.n + o.shift));
		sig_str_add(&pre, re.p, re.n);
		mxg_free(s->mem, re.p);
		re = pre;
		pre.p = NULL;
	}
	p = add_pat(s, sig, &re);
	if (!p) {
		rc = MXG_E_NOMEM;
		goto out;
	}
	p->sub = sub;
	p->count = count;
	if (mods & HEXM_NOCASE)
		p->hsflags |= HS_FLAG_CASELESS;
	if (o.kind == OFF_ABS && fixed) {
		p->min_off = o.n + fixed;
		p->max_off = o.n + o.shift + fixed;
	} else if (o.kind == OFF_EOF) {
		p->eof = 1;
		p->count = 1;
		p->fixed_len = fixed;
		p->eof_n = (uint32_t)o.n;
		p->eof_shift = (uint32_t)o.shift;
	} else if (o.kind == OFF_PE) {
		p->pe = o.pe;
		p->pe_x = o.x;
		p->pe_n = o.pn;
		p->pe_shift = o.shift;
		s->npe++;
	}
	rc = 0;
out:
	mxg_free(s->mem, re.p);
	mxg_free(s->mem, pre.p);
	return rc;
}

/* ---- line formats ---- */

/* Splits |line| on |sep| into at most |max| fields; returns the count. */
static size_t split(const char *line, size_t len, char sep, const char **f, size_t *fl,
		    size_t max)
{
	size_t n = 0, i, st = 0;

	for (i = 0; i <= len && n < max; i++) {
		if (i == len || line[i] == sep) {
			f[n] = line + st;
			fl[n++] = i - st;
			st = i + 1;
		}
	}
	if (i <= len) /* more fields than max: fold the rest into the last */
		fl[n - 1] = len - (size_t)(f[n - 1] - line);
	return n;
}

static int reject(struct scan_sigset *s, enum scan_sig_fmt fmt, int rc, const char *why)
{
	if (rc < 0)
		return rc;
	s->st.rejected[fmt]++;
	s->st.reason[rc - 1]++;
	sig_error(s, (enum scan_sig_reason)(rc - 1), "%s", why);
	return rc;
}

static int parse_hash(struct scan_sigset *s, enum scan_sig_fmt fmt, const char *line,
		      size_t len)
{
	const char *f[5];
	size_t fl[5], n, i;
	const char *hp, *sp;
	size_t hl, sl;
	uint64_t size = UINT64_MAX, v = 0;
	struct sig_hash *h;
	bool section = fmt == SCAN_SIG_MDB || fmt == SCAN_SIG_MSB;
	long d;

	n = split(line, len, ':', f, fl, 5);
	if (n < 3 || n > 4)
		return reject(s, fmt, SCAN_SIG_R_MALFORMED + 1, "expected HASH:SIZE:NAME");
	hp = section ? f[1] : f[0];
	hl = section ? fl[1] : fl[0];
	sp = section ? f[0] : f[1];
	sl = section ? fl[0] : fl[1];
	if (hl != 32 && hl != 40 && hl != 64)
		return reject(s, fmt, SCAN_SIG_R_MALFORMED + 1, "hash length not 32/40/64");
	for (i = 0; i < hl; i++)
		if (hexval(hp[i]) < 0)
			return reject(s, fmt, SCAN_SIG_R_MALFORMED + 1, "bad hex in hash");
	if (!(sl == 1 && sp[0] == '*') && !parse_uint(sp, sl, &size))
		return reject(s, fmt, SCAN_SIG_R_MALFORMED + 1, "bad size");
	if (fl[2] == 0)
		return reject(s, fmt, SCAN_SIG_R_MALFORMED + 1, "empty name");
	if (n == 4 && fl[3] && (!parse_uint(f[3], fl[3], &v)))
		return reject(s, fmt, SCAN_SIG_R_MALFORMED + 1, "bad functionality level");
	if (n == 4 && fl[3] && v > OUR_FLEVEL)
		return reject(s, fmt, SCAN_SIG_R_FLEVEL + 1, "needs a newer engine");
	/* Section hashes (mdb/msb) go to their own table, matched per PE
	 * section at end of file (scan_pe.c); the rest per whole file. */
	if (section ? grow(s->mem, (void **)&s->shashes, &s->capshashes, s->nshashes, sizeof(*h))
		    : grow(s->mem, (void **)&s->hashes, &s->caphashes, s->nhashes, sizeof(*h)))
		return MXG_E_NOMEM;
	d = add_def(s, f[2], fl[2], SIG_K_HASH, fmt);
	if (d < 0)
		return MXG_E_NOMEM;
	h = section ? &s->shashes[s->nshashes++] : &s->hashes[s->nhashes++];
	memset(h, 0, sizeof(*h));
	h->alg = hl == 32 ? SCAN_HASH_MD5 : hl == 40 ? SCAN_HASH_SHA1 : SCAN_HASH_SHA256;
	for (i = 0; i < hl / 2; i++)
		h->dig[i] = (uint8_t)(hexval(hp[2 * i]) << 4 | hexval(hp[2 * i + 1]));
	h->size = size;
	h->sig = (uint32_t)d;
	if (section)
		s->sect_algs |= h->alg;
	else
		s->hash_algs |= h->alg;
	s->st.loaded[fmt]++;
	return 0;
}

static int parse_ndb(struct scan_sigset *s, const char *line, size_t len)
{
	const char *f[7], *why = "";
	size_t fl[7], n;
	uint32_t nd = s->ndefs, np = s->npats;
	uint64_t v = 0;
	bool approx = false;
	uint8_t target;
	long d;
	int rc;

	n = split(line, len, ':', f, fl, 7);
	if (n < 4 || n > 6)
		return reject(s, SCAN_SIG_NDB, SCAN_SIG_R_MALFORMED + 1,
			      "expected NAME:TARGET:OFFSET:HEXSIG[:MIN[:MAX]]");
	if (fl[0] == 0)
		return reject(s, SCAN_SIG_NDB, SCAN_SIG_R_MALFORMED + 1, "empty name");
	if (n >= 5 && fl[4] && (!parse_uint(f[4], fl[4], &v) || v > OUR_FLEVEL))
		return reject(s, SCAN_SIG_NDB, v > OUR_FLEVEL ? SCAN_SIG_R_FLEVEL + 1 :
			      SCAN_SIG_R_MALFORMED + 1, "minimum functionality level");
	if (n == 6 && fl[5] && (!parse_uint(f[5], fl[5], &v) || v < OUR_FLEVEL))
		return reject(s, SCAN_SIG_NDB, fl[5] && parse_uint(f[5], fl[5], &v) ?
			      SCAN_SIG_R_FLEVEL + 1 : SCAN_SIG_R_MALFORMED + 1,
			      "maximum functionality level below ours");
	if (fl[1] == 1 && f[1][0] == '*')
		target = SIG_T_ANY; /* seen in the wild; means any */
	else if ((rc = parse_target(f[1], fl[1], &target, &approx, &why)))
		return reject(s, SCAN_SIG_NDB, rc, why);
	d = add_def(s, f[0], fl[0], SIG_K_NDB, SCAN_SIG_NDB);
	if (d < 0)
		return MXG_E_NOMEM;
	s->defs[d].target = target;
	rc = add_body(s, (uint32_t)d, 0, f[2], fl[2], f[3], fl[3], 0, false, target == SIG_T_PE,
		      &approx, &why);
	if (rc) {
		rollback(s, nd, np);
		return reject(s, SCAN_SIG_NDB, rc, why);
	}
	s->st.loaded[SCAN_SIG_NDB]++;
	if (approx)
		s->st.approx[SCAN_SIG_NDB]++;
	return 0;
}

static int parse_range(const char *p, size_t n, uint64_t *a, uint64_t *b)
{
	const char *dash = memchr(p, '-', n);

	if (!dash)
		return parse_uint(p, n, a) ? (*b = *a, 0) : -1;
	if (!parse_uint(p, (size_t)(dash - p), a) ||
	    !parse_uint(dash + 1, n - (size_t)(dash - p) - 1, b))
		return -1;
	return 0;
}

static int parse_tdb(struct scan_sigset *s, struct sig_def *d, const char *p, size_t n,
		     bool *approx, const char **why)
{
	const char *f[32];
	size_t fl[32], k, i;
	bool have_target = false;

	k = split(p, n, ',', f, fl, 32);
	for (i = 0; i < k; i++) {
		const char *colon = memchr(f[i], ':', fl[i]);
		size_t kl, vl;
		const char *v;
		uint64_t a, b;
		int rc;

		if (!colon) {
			*why = "target description item without ':'";
			return SCAN_SIG_R_MALFORMED + 1;
		}
		kl = (size_t)(colon - f[i]);
		v = colon + 1;
		vl = fl[i] - kl - 1;
		if (kl == 6 && !memcmp(f[i], "Engine", 6)) {
			if (parse_range(v, vl, &a, &b)) {
				*why = "bad Engine range";
				return SCAN_SIG_R_MALFORMED + 1;
			}
			if (a > OUR_FLEVEL || b < OUR_FLEVEL) {
				*why = "Engine range excludes ours";
				return SCAN_SIG_R_FLEVEL + 1;
			}
		} else if (kl == 6 && !memcmp(f[i], "Target", 6)) {
			if ((rc = parse_target(v, vl, &d->target, approx, why)))
				return rc;
			have_target = true;
		} else if (kl == 8 && !memcmp(f[i], "FileSize", 8)) {
			if (parse_range(v, vl, &a, &b)) {
				*why = "bad FileSize range";
				return SCAN_SIG_R_MALFORMED + 1;
			}
			d->fsize_min = a;
			d->fsize_max = b;
		} else {
			*why = "attribute not supported (EntryPoint, Container, IconGroup...)";
			return SCAN_SIG_R_LDB_ATTR + 1;
		}
	}
	if (!have_target) {
		*why = "no Target";
		return SCAN_SIG_R_MALFORMED + 1;
	}
	return 0;
}

static int parse_ldb_sub(struct scan_sigset *s, struct sig_def *d, uint32_t di, uint16_t sub,
			 const char *p, size_t n, bool *approx, const char **why)
{
	const char *colon, *mod, *hex = p, *off = NULL;
	size_t hexlen = n, offlen = 0;
	uint32_t mods = 0;

	if (n >= 2 && p[0] == '$' && p[1] == '{') {
		*why = "macro subsignature";
		return SCAN_SIG_R_LDB_MACRO + 1;
	}
	if (memchr(p, '#', n)) {
		*why = "byte-compare subsignature";
		return SCAN_SIG_R_LDB_BYTECMP + 1;
	}
	if (memchr(p, '/', n)) {
		/* [offset:]trigger/regex/flags */
		const char *s1 = memchr(p, '/', n), *s2 = p + n - 1, *tr = p;
		struct sig_str re = { .mem = s->mem };
		struct sig_pat *pat;
		uint16_t nn = d->nnodes;
		uint32_t fl = 0;
		int maxsub = -1, root;
		const char *c;

		while (s2 > s1 && *s2 != '/')
			s2--;
		if (s2 == s1) {
			*why = "PCRE subsignature without closing '/'";
			return SCAN_SIG_R_MALFORMED + 1;
		}
		colon = memchr(p, ':', (size_t)(s1 - p));
		if (colon) {
			*why = "offset on a PCRE subsignature";
			return SCAN_SIG_R_LDB_PCRE + 1;
		}
		for (c = s2 + 1; c < p + n; c++) {
			if (*c == 'i')
				fl |= HS_FLAG_CASELESS;
			else if (*c == 's')
				fl |= HS_FLAG_DOTALL;
			else if (*c == 'm')
				fl |= HS_FLAG_MULTILINE;
			else if (*c != 'g' && *c != 'r' && *c != 'e') {
				*why = "PCRE flag not supported";
				return SCAN_SIG_R_LDB_PCRE + 1;
			}
		}
		if (s1 == tr) {
			*why = "PCRE subsignature without trigger";
			return SCAN_SIG_R_MALFORMED + 1;
		}
		root = lx_parse(tr, (size_t)(s1 - tr), d->nodes + nn, SIG_MAX_NODES - nn,
			       &d->nnodes, &maxsub, why);
		if (root < 0)
			return SCAN_SIG_R_MALFORMED + 1;
		/* Children were numbered from 0 within the slice: rebase. */
		{
			uint16_t k;

			for (k = nn; k < nn + d->nnodes; k++)
				if (d->nodes[k].op != LX_SUB) {
					d->nodes[k].a += nn;
					d->nodes[k].b += nn;
				}
			d->nnodes += nn;
		}
		if (maxsub >= sub) {
			*why = "PCRE trigger refers to itself or a later subsignature";
			return SCAN_SIG_R_MALFORMED + 1;
		}
		d->pcre_trig[sub] = (uint16_t)(root + nn + 1);
		sig_str_add(&re, s1 + 1, (size_t)(s2 - s1 - 1));
		if (re.n == 0 || re.oom) {
			mxg_free(s->mem, re.p);
			*why = re.oom ? "out of memory" : "empty regex";
			return re.oom ? MXG_E_NOMEM : SCAN_SIG_R_MALFORMED + 1;
		}
		pat = add_pat(s, di, &re);
		if (!pat) {
			mxg_free(s->mem, re.p);
			return MXG_E_NOMEM;
		}
		pat->hsflags = fl;
		pat->sub = sub;
		pat->count = 1;
		return 0;
	}
	mod = NULL;
	{
		size_t i;

		for (i = 0; i + 1 < n; i++)
			if (p[i] == ':' && p[i + 1] == ':') {
				mod = p + i + 2;
				break;
			}
	}
	if (mod) {
		const char *c;

		hexlen = (size_t)(mod - 2 - p);
		for (c = mod; c < p + n; c++) {
			if (*c == 'i')
				mods |= HEXM_NOCASE;
			else if (*c == 'w')
				mods |= HEXM_WIDE;
			else if (*c == 'a')
				mods |= HEXM_ASCII;
			else if (*c == 'f')
				mods |= HEXM_FULLWORD;
			else {
				*why = "unknown subsignature modifier";
				return SCAN_SIG_R_MALFORMED + 1;
			}
		}
	}
	colon = memchr(p, ':', hexlen);
	if (colon) {
		off = p;
		offlen = (size_t)(colon - p);
		hex = colon + 1;
		hexlen -= offlen + 1;
	}
	return add_body(s, di, sub, off, offlen, hex, hexlen, mods, true, false, approx, why);
}

static int parse_ldb(struct scan_sigset *s, const char *line, size_t len)
{
	const char *f[SIG_MAX_SUBS + 4], *why = "";
	size_t fl[SIG_MAX_SUBS + 4], n, i;
	uint32_t nd = s->ndefs, np = s->npats;
	bool approx = false;
	struct sig_def *d;
	int rc, maxsub = -1, root;
	long di;

	n = split(line, len, ';', f, fl, SIG_MAX_SUBS + 4);
	if (n < 4)
		return reject(s, SCAN_SIG_LDB, SCAN_SIG_R_MALFORMED + 1,
			      "expected NAME;TDB;EXPR;SUB0[;SUB1...]");
	if (n > SIG_MAX_SUBS + 3)
		return reject(s, SCAN_SIG_LDB, SCAN_SIG_R_MALFORMED + 1,
			      "more than 64 subsignatures");
	if (fl[0] == 0)
		return reject(s, SCAN_SIG_LDB, SCAN_SIG_R_MALFORMED + 1, "empty name");
	di = add_def(s, f[0], fl[0], SIG_K_LDB, SCAN_SIG_LDB);
	if (di < 0)
		return MXG_E_NOMEM;
	d = &s->defs[di];
	d->nodes = mxg_calloc(s->mem, SIG_MAX_NODES, sizeof(*d->nodes));
	if (!d->nodes) {
		rollback(s, nd, np);
		return MXG_E_NOMEM;
	}
	d->nsubs = (uint16_t)(n - 3);
	rc = parse_tdb(s, d, f[1], fl[1], &approx, &why);
	if (rc)
		goto bad;
	root = lx_parse(f[2], fl[2], d->nodes, SIG_MAX_NODES, &d->nnodes, &maxsub, &why);
	if (root < 0) {
		rc = SCAN_SIG_R_MALFORMED + 1;
		goto bad;
	}
	d->root = (uint16_t)root;
	if (maxsub >= (int)d->nsubs) {
		why = "expression refers to a missing subsignature";
		rc = SCAN_SIG_R_MALFORMED + 1;
		goto bad;
	}
	for (i = 0; i < d->nsubs; i++) {
		d = &s->defs[di]; /* add_pat may not move defs, but stay safe */
		rc = parse_ldb_sub(s, d, (uint32_t)di, (uint16_t)i, f[3 + i], fl[3 + i], &approx,
				   &why);
		if (rc)
			goto bad;
	}
	s->st.loaded[SCAN_SIG_LDB]++;
	if (approx)
		s->st.approx[SCAN_SIG_LDB]++;
	return 0;
bad:
	rollback(s, nd, np);
	return reject(s, SCAN_SIG_LDB, rc, why);
}

int scan_sigset_add_line(struct scan_sigset *s, enum scan_sig_fmt fmt, const char *line,
			 size_t len)
{
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	if ((unsigned)fmt >= SCAN_SIG_FMT_MAX)
		return MXG_E_INVAL;
	s->st.lines[fmt]++;
	if (memchr(line, 0, len))
		return reject(s, fmt, SCAN_SIG_R_MALFORMED + 1, "NUL byte");
	switch (fmt) {
	case SCAN_SIG_HDB: case SCAN_SIG_HSB: case SCAN_SIG_MDB: case SCAN_SIG_MSB:
		return parse_hash(s, fmt, line, len);
	case SCAN_SIG_NDB:
		return parse_ndb(s, line, len);
	case SCAN_SIG_LDB:
		return parse_ldb(s, line, len);
	default:
		return MXG_E_INVAL;
	}
}

int sig_add_builtin(struct scan_sigset *s)
{
	struct sig_str re = { .mem = s->mem };
	struct sig_pat *p;
	long d;
	size_t i;

	d = add_def(s, SIG_EICAR_NAME, strlen(SIG_EICAR_NAME), SIG_K_BUILTIN, SCAN_SIG_NDB);
	if (d < 0)
		return MXG_E_NOMEM;
	for (i = 0; i < SIG_EICAR_LEN; i++)
		sig_str_addf(&re, "\\x%02x", (unsigned char)sig_eicar[i]);
	p = add_pat(s, (uint32_t)d, &re);
	if (!p) {
		mxg_free(s->mem, re.p);
		return MXG_E_NOMEM;
	}
	return 0;
}

static int cmp_hash(const void *a, const void *b)
{
	const struct sig_hash *x = a, *y = b;
	int c;

	if (x->alg != y->alg)
		return x->alg < y->alg ? -1 : 1;
	c = memcmp(x->dig, y->dig, sizeof(x->dig));
	if (c)
		return c;
	return x->size < y->size ? -1 : x->size > y->size;
}

void sig_finalize(struct scan_sigset *s)
{
	if (s->nhashes)
		qsort(s->hashes, s->nhashes, sizeof(*s->hashes), cmp_hash);
	if (s->nshashes)
		qsort(s->shashes, s->nshashes, sizeof(*s->shashes), cmp_hash);
}

static long hash_find(const struct sig_hash *hs, size_t n, uint8_t alg, const uint8_t *dig,
		      uint64_t size)
{
	size_t lo = 0, hi = n, i;

	/* First entry with (alg, dig): then scan the few sizes. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct sig_hash *h = &hs[mid];
		int c = h->alg != alg ? (h->alg < alg ? -1 : 1) : memcmp(h->dig, dig, 32);

		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < n; i++) {
		const struct sig_hash *h = &hs[i];

		if (h->alg != alg || memcmp(h->dig, dig, 32))
			break;
		if (h->size == size || h->size == UINT64_MAX)
			return (long)i;
	}
	return -1;
}

long sig_hash_find(const struct scan_sigset *s, uint8_t alg, const uint8_t *dig, uint64_t size)
{
	return hash_find(s->hashes, s->nhashes, alg, dig, size);
}

long sig_shash_find(const struct scan_sigset *s, uint8_t alg, const uint8_t *dig, uint64_t size)
{
	return hash_find(s->shashes, s->nshashes, alg, dig, size);
}
