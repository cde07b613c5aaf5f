/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_dlp.c - DLP detectors, validators and templates (see scan_dlp.h).
 *
 * STREAMING WINDOW
 *	win[0] is the context byte (the byte before win[1], NUL at the start
 *	of a text); win[1..wn) holds the last SCAN_DLP_WINDOW bytes of the
 *	previous pass plus new bytes. A pass runs when SCAN_DLP_CHUNK new
 *	bytes are in (or at the end of the text) and runs every detector over
 *	the whole window, but counts only the candidates whose end lies in
 *	(done, limit], limit being MARGIN bytes before the window's end (the
 *	end itself at the end of text). A candidate therefore always has its
 *	right context in the window, and its left part too because
 *	MARGIN + the longest candidate (and MARGIN + SCAN_DLP_SPAN) fit in
 *	SCAN_DLP_WINDOW; each one is counted in exactly one pass, whatever the
 *	chunking. Work: (WINDOW + CHUNK) / CHUNK = 1.25 reads per byte.
 *
 * FALSE POSITIVES
 *	The detectors are conservative: ASCII letters or digits glued to a
 *	candidate reject it, grouped numbers must not continue as a longer
 *	group sequence, SSNs need separators, phones need '+' or the NANP
 *	punctuation. Thresholds in templates do the rest.
 */
#include <stdio.h>
#include <string.h>

#include "mxg_err.h"
#include "scan_dlp.h"

#define MARGIN 320       /* >= longest candidate (e-mail 254 + context) */
#define EMAIL_MAX 254
#define WIN_CAP (1 + SCAN_DLP_WINDOW + SCAN_DLP_CHUNK)

_Static_assert(MARGIN + EMAIL_MAX + 2 <= SCAN_DLP_WINDOW, "window too small for e-mails");
_Static_assert(MARGIN + SCAN_DLP_SPAN <= SCAN_DLP_WINDOW, "window too small for SPAN");

struct tmpl {
	char *name;
	uint32_t kinds;
	uint32_t threshold;
};

struct scan_dlp {
	const struct mxg_mem *mem;
	struct tmpl t[SCAN_DLP_MAX_TEMPLATES];
	size_t n;
	struct scan_plist *pl; /* custom patterns, id = template */
	uint32_t kinds;        /* union of the templates' detectors */
	bool compiled;
};

struct scan_dlp_stream {
	const struct scan_dlp *d;
	const struct mxg_mem *mem;
	struct scan_dlp_callbacks cb;
	void *ud;
	struct scan_plist_md *md;
	struct scan_dlp_result res;
	uint8_t win[WIN_CAP];
	size_t wn;        /* bytes in win, context byte included (>= 1) */
	uint64_t base;    /* stream offset of win[1] */
	uint64_t done;    /* candidates ending at or before this were counted */
	uint64_t lo, hi;  /* this pass counts ends in (lo, hi] */
	bool fresh;       /* win[0] is no text byte: the text starts at win[1] */
	size_t coff;      /* offset of the custom-pattern subject in win */
	int err;          /* callback code that stopped the stream */
};

/* ---- character classes (ASCII only: bytes >= 0x80 are neither) ---- */

static inline bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_alpha(uint8_t c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static inline bool is_alnum(uint8_t c)
{
	return is_digit(c) || is_alpha(c);
}

static inline bool is_upper(uint8_t c)
{
	return c >= 'A' && c <= 'Z';
}

/* ---- validators ---- */

bool scan_dlp_luhn(const char *digits, size_t n)
{
	unsigned sum = 0;

	if (n < 2)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(digits[n - 1 - i] - '0');

		if (d > 9)
			return false;
		if (i & 1) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return sum % 10 == 0;
}

static unsigned prefix(const char *d, unsigned k)
{
	unsigned v = 0;

	for (unsigned i = 0; i < k; i++)
		v = v * 10 + (unsigned)(d[i] - '0');
	return v;
}

enum scan_dlp_brand scan_dlp_card_brand(const char *d, size_t n)
{
	unsigned p2, p3, p4, p6;

	if (n < 12 || n > 19)
		return SCAN_DLP_BRAND_NONE;
	p2 = prefix(d, 2);
	p3 = prefix(d, 3);
	p4 = prefix(d, 4);
	p6 = prefix(d, 6);
	if (d[0] == '4' && (n == 13 || n == 16 || n == 19))
		return SCAN_DLP_BRAND_VISA;
	if (((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) && n == 16)
		return SCAN_DLP_BRAND_MASTERCARD;
	if ((p2 == 34 || p2 == 37) && n == 15)
		return SCAN_DLP_BRAND_AMEX;
	if ((p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 ||
	     (p6 >= 622126 && p6 <= 622925)) && n >= 16)
		return SCAN_DLP_BRAND_DISCOVER;
	if (p4 >= 3528 && p4 <= 3589 && n >= 16)
		return SCAN_DLP_BRAND_JCB;
	if (((p3 >= 300 && p3 <= 305) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39) &&
	    n >= 14)
		return SCAN_DLP_BRAND_DINERS;
	if ((p2 == 62 || p2 == 81) && n >= 16)
		return SCAN_DLP_BRAND_UNIONPAY;
	if ((p2 == 50 || (p2 >= 56 && p2 <= 58) || p2 == 63 || p2 == 67 || p2 == 60 ||
	     p2 == 61 || p2 == 64 || p2 == 66 || p2 == 68 || p2 == 69) && n >= 12)
		return SCAN_DLP_BRAND_MAESTRO;
	return SCAN_DLP_BRAND_NONE;
}

static const struct {
	char cc[3];
	uint8_t len;
} iban_len[] = {
	{ "AD", 24 }, { "AE", 23 }, { "AL", 28 }, { "AT", 20 }, { "AZ", 28 }, { "BA", 20 },
	{ "BE", 16 }, { "BG", 22 }, { "BH", 22 }, { "BI", 27 }, { "BR", 29 }, { "BY", 28 },
	{ "CH", 21 }, { "CR", 22 }, { "CY", 28 }, { "CZ", 24 }, { "DE", 22 }, { "DJ", 27 },
	{ "DK", 18 }, { "DO", 28 }, { "EE", 20 }, { "EG", 29 }, { "ES", 24 }, { "FI", 18 },
	{ "FK", 18 }, { "FO", 18 }, { "FR", 27 }, { "GB", 22 }, { "GE", 22 }, { "GI", 23 },
	{ "GL", 18 }, { "GR", 27 }, { "GT", 28 }, { "HR", 21 }, { "HU", 28 }, { "IE", 22 },
	{ "IL", 23 }, { "IQ", 23 }, { "IS", 26 }, { "IT", 27 }, { "JO", 30 }, { "KW", 30 },
	{ "KZ", 20 }, { "LB", 28 }, { "LC", 32 }, { "LI", 21 }, { "LT", 20 }, { "LU", 20 },
	{ "LV", 21 }, { "LY", 25 }, { "MC", 27 }, { "MD", 24 }, { "ME", 22 }, { "MK", 19 },
	{ "MN", 20 }, { "MR", 27 }, { "MT", 31 }, { "MU", 30 }, { "NI", 28 }, { "NL", 18 },
	{ "NO", 15 }, { "OM", 23 }, { "PK", 24 }, { "PL", 28 }, { "PS", 29 }, { "PT", 25 },
	{ "QA", 29 }, { "RO", 24 }, { "RS", 22 }, { "RU", 33 }, { "SA", 24 }, { "SC", 31 },
	{ "SD", 18 }, { "SE", 24 }, { "SI", 19 }, { "SK", 24 }, { "SM", 27 }, { "SO", 23 },
	{ "ST", 25 }, { "SV", 28 }, { "TL", 23 }, { "TN", 24 }, { "TR", 26 }, { "UA", 29 },
	{ "VA", 22 }, { "VG", 24 }, { "XK", 20 },
};

static unsigned iban_country_len(const char *s)
{
	char a = (char)(s[0] & ~0x20), b = (char)(s[1] & ~0x20);

	for (size_t i = 0; i < sizeof(iban_len) / sizeof(iban_len[0]); i++)
		if (iban_len[i].cc[0] == a && iban_len[i].cc[1] == b)
			return iban_len[i].len;
	return 0;
}

bool scan_dlp_iban_valid(const char *s, size_t n)
{
	unsigned rem = 0;

	if (n < 15 || n > 34 || !is_alpha((uint8_t)s[0]) || !is_alpha((uint8_t)s[1]) ||
	    !is_digit((uint8_t)s[2]) || !is_digit((uint8_t)s[3]) || iban_country_len(s) != n)
		return false;
	/* move the first four characters to the end, letters as 10..35 */
	for (size_t k = 0; k < n; k++) {
		uint8_t c = (uint8_t)s[(k + 4) % n];

		if (is_digit(c))
			rem = (rem * 10 + (c - '0')) % 97;
		else if (is_alpha(c))
			rem = (rem * 100 + ((c | 0x20) - 'a' + 10)) % 97;
		else
			return false;
	}
	return rem == 1;
}

bool scan_dlp_mynumber_valid(const char *d)
{
	unsigned sum = 0, rem, check;

	for (int i = 0; i < 12; i++)
		if (!is_digit((uint8_t)d[i]))
			return false;
	/* P_n: n-th digit from the right before the check digit; Q_n = n + 1
	 * (n <= 6), n - 5 (n >= 7); check = 11 - sum % 11, 0 when <= 1 */
	for (unsigned n = 1; n <= 11; n++) {
		unsigned p = (unsigned)(d[11 - n] - '0');
		unsigned q = n <= 6 ? n + 1 : n - 5;

		sum += p * q;
	}
	rem = sum % 11;
	check = rem <= 1 ? 0 : 11 - rem;
	return check == (unsigned)(d[11] - '0');
}

bool scan_dlp_ssn_valid(const char *d)
{
	unsigned area, group, serial;

	for (int i = 0; i < 9; i++)
		if (!is_digit((uint8_t)d[i]))
			return false;
	area = prefix(d, 3);
	group = prefix(d + 3, 2);
	serial = prefix(d + 5, 4);
	return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
}

/* ---- compiled set ---- */

struct scan_dlp *scan_dlp_new(const struct mxg_mem *mem)
{
	struct scan_dlp *d;

	if (mem == NULL)
		mem = mxg_mem_default();
	d = mxg_calloc(mem, 1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->mem = mem;
	d->pl = scan_plist_new(mem, 0);
	if (d->pl == NULL) {
		mxg_free(mem, d);
		return NULL;
	}
	return d;
}

void scan_dlp_free(struct scan_dlp *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		mxg_free(d->mem, d->t[i].name);
	scan_plist_free(d->pl);
	mxg_free(d->mem, d);
}

int scan_dlp_add_template(struct scan_dlp *d, const char *name, uint32_t kinds,
			  uint32_t threshold)
{
	size_t nl = strlen(name ? name : "");
	char *s;

	if (d->compiled || (kinds >> SCAN_DLP_KIND_MAX) != 0)
		return MXG_E_INVAL;
	if (d->n >= SCAN_DLP_MAX_TEMPLATES)
		return MXG_E_RANGE;
	s = mxg_malloc(d->mem, nl + 1);
	if (s == NULL)
		return MXG_E_NOMEM;
	memcpy(s, name ? name : "", nl + 1);
	d->t[d->n] = (struct tmpl){ s, kinds, threshold ? threshold : 1 };
	d->kinds |= kinds;
	return (int)d->n++;
}

int scan_dlp_add_pattern(struct scan_dlp *d, int tmpl, const char *expr, uint32_t flags)
{
	int rc;

	if (d->compiled || tmpl < 0 || (size_t)tmpl >= d->n)
		return MXG_E_INVAL;
	rc = scan_plist_add(d->pl, (uint32_t)tmpl, expr, flags);
	if (rc >= 0)
		d->t[tmpl].kinds |= SCAN_DLP_BIT(SCAN_DLP_CUSTOM);
	return rc < 0 ? rc : 0;
}

int scan_dlp_compile(struct scan_dlp *d, char *err, size_t errcap)
{
	int rc = scan_plist_compile(d->pl, err, errcap);

	if (rc == 0)
		d->compiled = true;
	return rc;
}

size_t scan_dlp_template_count(const struct scan_dlp *d)
{
	return d->n;
}

const char *scan_dlp_template_name(const struct scan_dlp *d, size_t t)
{
	return t < d->n ? d->t[t].name : NULL;
}

const struct scan_plist *scan_dlp_plist(const struct scan_dlp *d)
{
	return d->pl;
}

/* ---- streams ---- */

struct scan_dlp_stream *scan_dlp_stream_new(const struct scan_dlp *d, const struct mxg_mem *mem,
					    const struct scan_dlp_callbacks *cb, void *ud)
{
	struct scan_dlp_stream *s;

	if (mem == NULL)
		mem = mxg_mem_default();
	s = mxg_calloc(mem, 1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->d = d;
	s->mem = mem;
	if (cb != NULL)
		s->cb = *cb;
	s->ud = ud;
	if (scan_plist_count(d->pl) > 0) {
		s->md = scan_plist_md_new(d->pl);
		if (s->md == NULL) {
			mxg_free(mem, s);
			return NULL;
		}
	}
	scan_dlp_stream_reset(s);
	return s;
}

void scan_dlp_stream_free(struct scan_dlp_stream *s)
{
	if (s == NULL)
		return;
	scan_plist_md_free(s->md);
	mxg_free(s->mem, s);
}

void scan_dlp_stream_reset(struct scan_dlp_stream *s)
{
	memset(&s->res, 0, sizeof(s->res));
	s->win[0] = 0;
	s->wn = 1;
	s->base = 0;
	s->done = 0;
	s->err = 0;
	s->fresh = true;
}

const struct scan_dlp_result *scan_dlp_stream_result(const struct scan_dlp_stream *s)
{
	return &s->res;
}

/* Counts candidate [so, eo) of the window when its end is this pass's. */
static void hit(struct scan_dlp_stream *s, enum scan_dlp_kind k, enum scan_dlp_brand brand,
		uint32_t pat, size_t so, size_t eo)
{
	uint64_t end = s->base + eo - 1;
	const struct scan_dlp *d = s->d;

	if (end <= s->lo || end > s->hi || s->err != 0)
		return;
	s->res.kind_hits[k]++;
	for (size_t t = 0; t < d->n; t++) {
		if (k == SCAN_DLP_CUSTOM ? t != pat : !(d->t[t].kinds & SCAN_DLP_BIT(k)))
			continue;
		s->res.tmpl_hits[t]++;
		if (s->res.tmpl_hits[t] >= d->t[t].threshold)
			s->res.matched |= 1ull << t;
	}
	if (s->cb.on_match != NULL) {
		struct scan_dlp_match m = {
			.kind = k, .brand = brand, .pattern = pat, .offset = s->base + so - 1,
			.text = (const char *)s->win + so, .len = eo - so,
		};
		int rc = s->cb.on_match(&m, s->ud);

		if (rc < 0)
			s->err = rc;
	}
}

/* Reads a group sequence at |i|: up to |max| groups of digits separated by
 * one |sep|; lengths in |gl|. Returns the number of groups and sets *end. */
static unsigned groups(const uint8_t *w, size_t n, size_t i, uint8_t sep, unsigned *gl,
		       unsigned max, size_t *end)
{
	unsigned g = 0;

	while (g < max && i < n && is_digit(w[i])) {
		unsigned l = 0;

		while (i < n && is_digit(w[i]))
			i++, l++;
		gl[g++] = l;
		*end = i;
		if (i + 1 < n && w[i] == sep && is_digit(w[i + 1]))
			i++;
		else
			break;
	}
	return g;
}

/* Copies the digits of [i, e) into |out| (at most |cap|); returns count. */
static size_t digits_of(const uint8_t *w, size_t i, size_t e, char *out, size_t cap)
{
	size_t k = 0;

	for (; i < e && k < cap; i++)
		if (is_digit(w[i]))
			out[k++] = (char)w[i];
	return k;
}

/* Right boundary of a number ending at |e|: no alnum, and no |sep| followed
 * by a digit (the group sequence would continue). */
static bool right_ok(const uint8_t *w, size_t n, size_t e, uint8_t sep)
{
	if (e >= n)
		return true;
	if (is_alnum(w[e]))
		return false;
	if (sep != 0 && w[e] == sep && e + 1 < n && is_digit(w[e + 1]))
		return false;
	return true;
}

static bool left_ok(const uint8_t *w, size_t i, uint8_t sep)
{
	/* w[i - 1] always exists: the context byte */
	if (is_alnum(w[i - 1]))
		return false;
	if (sep != 0 && w[i - 1] == sep && i >= 2 && is_digit(w[i - 2]))
		return false;
	return true;
}

/* Digit-led detectors at a digit-run start |i|; returns the end of what
 * was consumed (> i). */
static size_t scan_digits(struct scan_dlp_stream *s, const uint8_t *w, size_t n, size_t i)
{
	static const uint8_t seps[] = { ' ', '-' };
	uint32_t kinds = s->d->kinds;
	unsigned gl[6], ng;
	size_t run = i, e;
	char dg[24];
	size_t nd;

	while (run < n && is_digit(w[run]))
		run++;
	if (is_alnum(w[i - 1]))
		return run;
	/* contiguous run */
	if (right_ok(w, n, run, 0)) {
		nd = run - i;
		if ((kinds & SCAN_DLP_BIT(SCAN_DLP_PAN)) && nd >= 13 && nd <= 19) {
			enum scan_dlp_brand b = scan_dlp_card_brand((const char *)w + i, nd);

			if (b != SCAN_DLP_BRAND_NONE && scan_dlp_luhn((const char *)w + i, nd)) {
				hit(s, SCAN_DLP_PAN, b, 0, i, run);
				return run;
			}
		}
		if ((kinds & SCAN_DLP_BIT(SCAN_DLP_MYNUMBER)) && nd == 12 &&
		    scan_dlp_mynumber_valid((const char *)w + i)) {
			hit(s, SCAN_DLP_MYNUMBER, 0, 0, i, run);
			return run;
		}
	}
	/* grouped forms, one separator each */
	for (size_t k = 0; k < sizeof(seps); k++) {
		uint8_t sep = seps[k];

		if (!left_ok(w, i, sep))
			continue;
		e = i;
		ng = groups(w, n, i, sep, gl, 6, &e);
		if (ng < 3 || !right_ok(w, n, e, sep))
			continue;
		nd = digits_of(w, i, e, dg, sizeof(dg));
		if ((kinds & SCAN_DLP_BIT(SCAN_DLP_PAN)) &&
		    ((ng == 4 && gl[0] == 4 && gl[1] == 4 && gl[2] == 4 && gl[3] == 4) ||
		     (ng == 5 && gl[0] == 4 && gl[1] == 4 && gl[2] == 4 && gl[3] == 4 && gl[4] == 3) ||
		     (ng == 3 && gl[0] == 4 && gl[1] == 6 && (gl[2] == 5 || gl[2] == 4)))) {
			enum scan_dlp_brand b = scan_dlp_card_brand(dg, nd);

			if (b != SCAN_DLP_BRAND_NONE && scan_dlp_luhn(dg, nd)) {
				hit(s, SCAN_DLP_PAN, b, 0, i, e);
				return e;
			}
		}
		if ((kinds & SCAN_DLP_BIT(SCAN_DLP_MYNUMBER)) && ng == 3 && gl[0] == 4 &&
		    gl[1] == 4 && gl[2] == 4 && scan_dlp_mynumber_valid(dg)) {
			hit(s, SCAN_DLP_MYNUMBER, 0, 0, i, e);
			return e;
		}
		if ((kinds & SCAN_DLP_BIT(SCAN_DLP_SSN)) && ng == 3 && gl[0] == 3 && gl[1] == 2 &&
		    gl[2] == 4 && scan_dlp_ssn_valid(dg)) {
			hit(s, SCAN_DLP_SSN, 0, 0, i, e);
			return e;
		}
	}
	/* NANP NXX-NXX-XXXX / NXX.NXX.XXXX */
	if (kinds & SCAN_DLP_BIT(SCAN_DLP_PHONE)) {
		static const uint8_t psep[] = { '-', '.' };

		for (size_t k = 0; k < sizeof(psep); k++) {
			if (!left_ok(w, i, psep[k]))
				continue;
			e = i;
			ng = groups(w, n, i, psep[k], gl, 4, &e);
			if (ng == 3 && gl[0] == 3 && gl[1] == 3 && gl[2] == 4 && w[i] >= '2' &&
			    w[i + 4] >= '2' && right_ok(w, n, e, psep[k]) &&
			    !(w[i - 1] == '.' || w[i - 1] == '+')) {
				hit(s, SCAN_DLP_PHONE, 0, 0, i, e);
				return e;
			}
		}
	}
	return run;
}

/* "+CC ..." E.164 (8-15 digits, single spaces/dashes/dots between groups,
 * "(0)" not accepted) at '+' |i|; or "(NXX) NXX-XXXX" at '(' |i|. */
static size_t scan_phone(struct scan_dlp_stream *s, const uint8_t *w, size_t n, size_t i)
{
	size_t j = i + 1, e = 0, nd = 0;

	if (is_alnum(w[i - 1]))
		return i + 1;
	if (w[i] == '+') {
		if (j >= n || w[j] < '1' || w[j] > '9')
			return i + 1;
		while (j < n) {
			if (is_digit(w[j])) {
				nd++;
				j++;
				e = j;
			} else if ((w[j] == ' ' || w[j] == '-' || w[j] == '.') && j + 1 < n &&
				   is_digit(w[j + 1]) && nd > 0) {
				j++;
			} else {
				break;
			}
		}
		if (nd >= 8 && nd <= 15 && right_ok(w, n, e, 0)) {
			hit(s, SCAN_DLP_PHONE, 0, 0, i, e);
			return e;
		}
		return i + 1;
	}
	/* (NXX) NXX-XXXX */
	if (n - i >= 14 && is_digit(w[i + 1]) && w[i + 1] >= '2' && is_digit(w[i + 2]) &&
	    is_digit(w[i + 3]) && w[i + 4] == ')' && w[i + 5] == ' ' && w[i + 6] >= '2' &&
	    w[i + 6] <= '9' && is_digit(w[i + 7]) && is_digit(w[i + 8]) && w[i + 9] == '-' &&
	    is_digit(w[i + 10]) && is_digit(w[i + 11]) && is_digit(w[i + 12]) &&
	    is_digit(w[i + 13]) && right_ok(w, n, i + 14, '-')) {
		hit(s, SCAN_DLP_PHONE, 0, 0, i, i + 14);
		return i + 14;
	}
	return i + 1;
}

/* IBAN at an uppercase letter |i| with a non-alnum left neighbour. */
static size_t scan_iban(struct scan_dlp_stream *s, const uint8_t *w, size_t n, size_t i)
{
	char c[36];
	size_t j = i, k = 0;
	unsigned want;

	if (n - i < 15 || !is_upper(w[i + 1]) || !is_digit(w[i + 2]) || !is_digit(w[i + 3]))
		return i + 1;
	want = iban_country_len((const char *)w + i);
	if (want == 0)
		return i + 1;
	/* compact, or groups of four separated by one space */
	while (j < n && k < want) {
		if (is_digit(w[j]) || is_upper(w[j])) {
			c[k++] = (char)w[j++];
		} else if (w[j] == ' ' && k % 4 == 0 && k > 0 && j + 1 < n && is_alnum(w[j + 1]) &&
			   (j == i + 4 || w[j - 5] == ' ')) {
			j++;
		} else {
			break;
		}
	}
	if (k != want || !right_ok(w, n, j, ' ') || !scan_dlp_iban_valid(c, k))
		return i + 1;
	hit(s, SCAN_DLP_IBAN, 0, 0, i, j);
	return j;
}

static bool is_local(uint8_t c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

/* E-mail around the '@' at |at|: [so, eo) reported; returns where to go on. */
static size_t scan_email(struct scan_dlp_stream *s, const uint8_t *w, size_t n, size_t at)
{
	size_t so = at, e = at + 1, lastdot = 0, label = 0;
	bool tld_alpha = true;

	while (so > 1 && is_local(w[so - 1]) && at - so <= 64)
		so--;
	if (at - so == 0 || at - so > 64 || w[so] == '.' || w[at - 1] == '.')
		return at + 1;
	while (e < n && e - at <= EMAIL_MAX) {
		if (is_alnum(w[e]) || w[e] == '-') {
			tld_alpha = tld_alpha && is_alpha(w[e]);
			label++;
			e++;
		} else if (w[e] == '.' && label > 0 && e + 1 < n && is_alnum(w[e + 1])) {
			lastdot = e;
			label = 0;
			tld_alpha = true;
			e++;
		} else {
			break;
		}
	}
	if (lastdot == 0 || label < 2 || !tld_alpha || e - at > EMAIL_MAX || w[e - 1] == '-')
		return at + 1;
	if (e < n && (w[e] == '@' || is_alnum(w[e])))
		return at + 1;
	hit(s, SCAN_DLP_EMAIL, 0, 0, so, e);
	return e;
}

static int on_custom(uint32_t idx, size_t so, size_t eo, void *ud)
{
	struct scan_dlp_stream *s = ud;
	const struct scan_pattern *p = scan_plist_get(s->d->pl, idx);

	if (eo == so)
		return 0;
	hit(s, SCAN_DLP_CUSTOM, 0, p->id, so + s->coff, eo + s->coff);
	return s->err;
}

/* Runs every detector over the window; counts ends in (done, limit]. */
static void pass(struct scan_dlp_stream *s, bool final)
{
	const uint8_t *w = s->win;
	size_t n = s->wn;
	uint64_t end = s->base + (n - 1);
	uint32_t kinds = s->d->kinds;

	s->lo = s->done;
	s->hi = final ? end : (end > MARGIN ? end - MARGIN : 0);
	if (s->hi <= s->lo)
		return;
	for (size_t i = 1; i < n && s->err == 0;) {
		uint8_t c = w[i];

		if (is_digit(c))
			i = scan_digits(s, w, n, i);
		else if ((c == '+' || c == '(') && (kinds & SCAN_DLP_BIT(SCAN_DLP_PHONE)))
			i = scan_phone(s, w, n, i);
		else if (is_upper(c) && (kinds & SCAN_DLP_BIT(SCAN_DLP_IBAN)) && !is_alnum(w[i - 1]))
			i = scan_iban(s, w, n, i);
		else if (c == '@' && (kinds & SCAN_DLP_BIT(SCAN_DLP_EMAIL)))
			i = scan_email(s, w, n, i);
		else
			i++;
	}
	if (s->md != NULL && s->err == 0) {
		/* at the start of a text "^" and "\b" must see no context byte */
		s->coff = s->fresh ? 1 : 0;
		scan_plist_scan(s->d->pl, s->md, w + s->coff, n - s->coff, 1 - s->coff, on_custom, s,
				&s->res.limited);
	}
	s->done = s->hi;
}

int scan_dlp_stream_feed(struct scan_dlp_stream *s, const uint8_t *p, size_t n)
{
	if (s->err != 0)
		return s->err;
	s->res.bytes += n;
	while (n > 0) {
		size_t room = WIN_CAP - s->wn;
		size_t k = n < room ? n : room;

		memcpy(s->win + s->wn, p, k);
		s->wn += k;
		p += k;
		n -= k;
		if (s->wn == WIN_CAP) {
			size_t drop = s->wn - 1 - SCAN_DLP_WINDOW;

			pass(s, false);
			if (s->err != 0)
				return s->err;
			/* keep the last WINDOW bytes, the byte before them as context */
			s->win[0] = s->win[drop];
			memmove(s->win + 1, s->win + 1 + drop, SCAN_DLP_WINDOW);
			s->wn = 1 + SCAN_DLP_WINDOW;
			s->base += drop;
			s->fresh = false;
		}
	}
	return 0;
}

int scan_dlp_stream_finish(struct scan_dlp_stream *s)
{
	if (s->err != 0)
		return s->err;
	pass(s, true);
	s->base += s->wn - 1;
	s->done = s->base;
	s->win[0] = 0;
	s->wn = 1;
	s->fresh = true;
	return s->err;
}

const char *scan_dlp_kind_name(enum scan_dlp_kind k)
{
	static const char *const n[] = {
		[SCAN_DLP_PAN] = "pan",       [SCAN_DLP_IBAN] = "iban",   [SCAN_DLP_MYNUMBER] = "mynumber",
		[SCAN_DLP_SSN] = "ssn",       [SCAN_DLP_EMAIL] = "email", [SCAN_DLP_PHONE] = "phone",
		[SCAN_DLP_CUSTOM] = "custom",
	};

	return (unsigned)k < SCAN_DLP_KIND_MAX ? n[k] : "?";
}

const char *scan_dlp_brand_name(enum scan_dlp_brand b)
{
	static const char *const n[] = {
		"none", "visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay", "maestro",
	};

	return (unsigned)b < sizeof(n) / sizeof(n[0]) ? n[b] : "?";
}
