/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mime_header.c - header field helpers: RFC 2047 encoded words, RFC 2045
 * Content-Type / RFC 2183 Content-Disposition parameters with RFC 2231
 * continuations and charsets.
 *
 * Tolerance follows what Thunderbird and Outlook accept, because a file name
 * they display is the one attachment rules must see:
 *  - Encoded words are decoded wherever they appear, including inside quoted
 *    strings (Outlook writes name="=?utf-8?B?...?="), without the required
 *    surrounding whitespace, and with a '*language' suffix on the charset.
 *    Whitespace between two encoded words is dropped (RFC 2047 6.2). Bytes of
 *    adjacent words in the same charset are joined before conversion, so a
 *    multibyte character split across two words (a common mailer bug)
 *    decodes. A broken word is kept literally and counted.
 *  - Raw 8-bit in a header is taken as UTF-8 when valid, else as latin1.
 *  - Parameters: missing ';' between parameters, unquoted values containing
 *    spaces (taken up to the next ';'), unterminated quoted strings (to the
 *    end), "name = value" with spaces, duplicate ';'. Names are lowercased.
 *  - RFC 2231: name*0, name*1*, ... are joined in section order (up to the
 *    first missing section), percent-decoded where marked '*', and converted
 *    from the charset of section 0 ("utf-8'en'..."). The RFC 2231 form is
 *    reported before a plain form of the same name; the caller decides which
 *    wins and flags a conflict (the parser keeps both file names).
 * Limits: at most 64 parameters and 16 KiB of parameter text per field;
 * values are truncated at 4 KiB.
 *
 * The interpretation of Content-Type, Content-Transfer-Encoding and the
 * parameters the parser and the rewriter use (mime_params_get,
 * mime_ct_parse, mime_cte_parse; see mime_int.h) is here too, once for both.
 */
#include <stdio.h>
#include <string.h>

#include "mime_codec.h"
#include "mime_int.h"

#define PARAM_MAX 64
#define SCRATCH_MAX 16384
#define VALUE_MAX 4096

static inline bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Appends raw (maybe 8-bit) text as UTF-8. Plain ASCII (most header text)
 * is copied as the converter would pass it, cut at the same place. */
static size_t put_raw(const char *s, size_t n, char *out, size_t o, size_t cap)
{
	size_t i, k;

	if (o + 1 >= cap || n == 0)
		return o;
	/* 1..0x7f only: eight bytes at a time (no high bit, no zero byte) */
	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t x;

		memcpy(&x, s + i, 8);
		if ((x & 0x8080808080808080ull) ||
		    ((x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull))
			break;
	}
	for (; i < n && (uint8_t)s[i] - 1u < 0x7fu; i++)
		;
	if (i < n)
		return o + mime_utf8_oneshot(NULL, (const uint8_t *)s, n, out + o, cap - o, NULL);
	k = n < cap - o - 1 ? n : cap - o - 1;
	memcpy(out + o, s, k);
	out[o + k] = '\0';
	return o + k;
}

/* Decodes the text of one encoded word into |buf|; returns its length. */
static size_t ew_decode(char enc, const char *t, size_t n, uint8_t *buf, uint32_t *errors)
{
	size_t o = 0;

	if (enc == 'b') {
		struct mime_b64 st = { 0 };

		o = mime_b64_decode(&st, (const uint8_t *)t, n, buf);
		o += mime_b64_finish(&st, buf + o);
		if (st.errors && errors)
			(*errors)++;
		return o;
	}
	for (size_t i = 0; i < n; i++) {
		if (t[i] == '_') {
			buf[o++] = ' ';
		} else if (t[i] == '=' && i + 2 < n && hexv(t[i + 1]) >= 0 &&
			   hexv(t[i + 2]) >= 0) {
			buf[o++] = (uint8_t)(hexv(t[i + 1]) << 4 | hexv(t[i + 2]));
			i += 2;
		} else {
			if (t[i] == '=' && errors)
				(*errors)++;
			buf[o++] = (uint8_t)t[i];
		}
	}
	return o;
}

/* Parses an encoded word at |s| (starting "=?"). On success sets the
 * charset span, encoding, text span, and returns the word length. */
static size_t ew_parse(const char *s, size_t n, const char **cs, size_t *csl, char *enc,
		       const char **txt, size_t *tl)
{
	size_t i = 2, j;

	while (i < n && s[i] != '?' && !is_ws(s[i]))
		i++;
	if (i + 3 >= n || s[i] != '?' || i == 2)
		return 0;
	*cs = s + 2;
	*csl = i - 2;
	*enc = lower(s[i + 1]);
	if ((*enc != 'b' && *enc != 'q') || s[i + 2] != '?')
		return 0;
	j = i + 3;
	*txt = s + j;
	while (j + 1 < n && !(s[j] == '?' && s[j + 1] == '='))
		j++;
	if (j + 1 >= n)
		return 0;
	*tl = (size_t)(s + j - *txt);
	return j + 2;
}

size_t mime_hdr_decode_2047(const char *in, size_t len, char *out, size_t cap, uint32_t *errors)
{
	size_t o = 0, i = 0, lit = 0;
	uint8_t pend[VALUE_MAX];   /* decoded bytes of adjacent words */
	size_t npend = 0;
	char pcs[64] = "";          /* their charset */
	bool last_word = false;     /* previous token was an encoded word */

	if (cap == 0)
		return 0;
	out[0] = '\0';
	while (i < len) {
		const char *cs, *txt;
		size_t csl, tl, wl = 0;
		char enc;

		if (in[i] == '=' && i + 1 < len && in[i + 1] == '?')
			wl = ew_parse(in + i, len - i, &cs, &csl, &enc, &txt, &tl);
		if (!wl) {
			const char *eq;

			if (in[i] == '=' && i + 1 < len && in[i + 1] == '?' && errors)
				(*errors)++;
			/* on to the next '=' (most headers have none) */
			eq = i + 1 < len ? memchr(in + i + 1, '=', len - i - 1) : NULL;
			i = eq ? (size_t)(eq - in) : len;
			continue;
		}
		/* Literal text between words: dropped if only whitespace. */
		bool only_ws = true;

		for (size_t k = lit; k < i; k++)
			if (!is_ws(in[k]))
				only_ws = false;
		char cb[64];
		size_t k = 0;

		for (size_t m = 0; m < csl && in + i + 2 + m < in + len && k + 1 < sizeof(cb); m++) {
			if (cs[m] == '*')
				break; /* RFC 2231 language suffix */
			cb[k++] = lower(cs[m]);
		}
		cb[k] = '\0';
		if (!(last_word && only_ws) || strcmp(cb, pcs) != 0) {
			if (npend) {
				o += mime_utf8_oneshot(pcs, pend, npend, out + o, cap - o, NULL);
				npend = 0;
			}
		}
		if (!(last_word && only_ws))
			o = put_raw(in + lit, i - lit, out, o, cap);
		if (npend + tl + 4 > sizeof(pend)) {
			o += mime_utf8_oneshot(pcs, pend, npend, out + o, cap - o, NULL);
			npend = 0;
		}
		if (tl + 4 <= sizeof(pend))
			npend += ew_decode(enc, txt, tl, pend + npend, errors);
		memcpy(pcs, cb, k + 1);
		i += wl;
		lit = i;
		last_word = true;
	}
	if (npend)
		o += mime_utf8_oneshot(pcs, pend, npend, out + o, cap - o, NULL);
	o = put_raw(in + lit, len - lit, out, o, cap);
	out[o] = '\0';
	return o;
}

struct rawparam {
	char name[64];    /* lowercase base name (without *N*) */
	int sec;          /* RFC 2231 section, -1 when none */
	bool ext;         /* value is charset'lang'%xx encoded */
	bool reported;
	const char *val;  /* into the scratch buffer */
	size_t vlen;
};

/* Percent-decodes in place; returns the new length. */
static size_t pct_decode(char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
			s[o++] = (char)(hexv(s[i + 1]) << 4 | hexv(s[i + 2]));
			i += 2;
		} else {
			s[o++] = s[i];
		}
	}
	return o;
}

/* Reassembles and reports the RFC 2231 sections of rp[first]'s name. */
static void report_2231(struct rawparam *rp, int np, int first, const struct mime_hdr_param_cb *cb,
			void *ud)
{
	char joined[VALUE_MAX];
	char conv[VALUE_MAX];
	char charset[64] = "";
	size_t jl = 0;
	const char *name = rp[first].name;

	for (int sec = 0; sec < 1000; sec++) {
		int hit = -1;

		for (int k = 0; k < np; k++) {
			if (rp[k].sec == sec && !strcmp(rp[k].name, name)) {
				if (hit < 0)
					hit = k;
				rp[k].reported = true;
			}
		}
		if (hit < 0)
			break;
		char piece[VALUE_MAX];
		size_t pl = rp[hit].vlen < sizeof(piece) ? rp[hit].vlen : sizeof(piece) - 1;

		memcpy(piece, rp[hit].val, pl);
		const char *p = piece;

		if (rp[hit].ext) {
			if (sec == 0) {
				/* charset'language'value */
				char *q1 = memchr(piece, '\'', pl);
				char *q2 = q1 ? memchr(q1 + 1, '\'', pl - (size_t)(q1 + 1 - piece)) : NULL;

				if (q2) {
					size_t cl = (size_t)(q1 - piece);

					if (cl >= sizeof(charset))
						cl = sizeof(charset) - 1;
					memcpy(charset, piece, cl);
					charset[cl] = '\0';
					p = q2 + 1;
					pl -= (size_t)(q2 + 1 - piece);
				}
			}
			pl = pct_decode((char *)p, pl);
		}
		if (jl + pl >= sizeof(joined))
			pl = sizeof(joined) - 1 - jl;
		memcpy(joined + jl, p, pl);
		jl += pl;
	}
	mime_utf8_oneshot(charset, (const uint8_t *)joined, jl, conv, sizeof(conv), NULL);
	cb->on_param(name, conv, ud);
}

bool mime_hdr_parse_params(const char *in, size_t len, char *tok, size_t cap,
			   const struct mime_hdr_param_cb *cb, void *ud)
{
	struct rawparam rp[PARAM_MAX];
	char scratch[SCRATCH_MAX];
	size_t sl = 0, i = 0, k = 0;
	int np = 0;

	/* The token: up to ';' or whitespace; spaces around '/' tolerated. */
	while (i < len && is_ws(in[i]))
		i++;
	while (i < len && in[i] != ';') {
		if (is_ws(in[i])) {
			size_t j = i;

			while (j < len && is_ws(in[j]))
				j++;
			/* "text / plain" joins; "text/plain name=x" ends the token. */
			if (j < len && (in[j] == '/' || (k && tok[k - 1] == '/'))) {
				i = j;
				continue;
			}
			break;
		}
		if (in[i] == '(' || in[i] == '"')
			break;
		if (k + 1 < cap)
			tok[k++] = lower(in[i]);
		i++;
	}
	if (cap)
		tok[k] = '\0';
	/* Parameters. */
	while (i < len && np < PARAM_MAX) {
		size_t ns, ne, vs;

		while (i < len && (is_ws(in[i]) || in[i] == ';'))
			i++;
		if (i >= len)
			break;
		if (in[i] == '(') {
			/* A comment: skip to ')' (not nested). */
			while (i < len && in[i] != ')')
				i++;
			i++;
			continue;
		}
		ns = i;
		while (i < len && in[i] != '=' && in[i] != ';')
			i++;
		if (i >= len || in[i] != '=')
			continue; /* no '=': not a parameter */
		ne = i;
		while (ne > ns && is_ws(in[ne - 1]))
			ne--;
		i++;
		while (i < len && is_ws(in[i]))
			i++;
		vs = sl;
		if (i < len && in[i] == '"') {
			i++;
			while (i < len && in[i] != '"') {
				if (in[i] == '\\' && i + 1 < len)
					i++;
				if (sl + 1 < sizeof(scratch))
					scratch[sl++] = in[i];
				i++;
			}
			i++; /* closing quote (or end) */
		} else {
			size_t s = i, e;

			while (i < len && in[i] != ';')
				i++;
			e = i;
			while (e > s && is_ws(in[e - 1]))
				e--;
			/* "a=1 b=2" without ';': stop the value at a space
			 * followed by "token=" (missing separator). */
			for (size_t m = s; m < e; m++) {
				if (!is_ws(in[m]))
					continue;
				size_t t = m;

				while (t < e && is_ws(in[t]))
					t++;
				size_t u = t;

				while (u < e && !is_ws(in[u]) && in[u] != '=')
					u++;
				if (u < e && in[u] == '=' && u > t) {
					e = m;
					i = m;
					break;
				}
			}
			for (size_t m = s; m < e && sl + 1 < sizeof(scratch); m++)
				scratch[sl++] = in[m];
		}
		/* Name: lowercase, split off "*N" and trailing '*'. */
		struct rawparam *r = &rp[np];
		size_t nl = 0;

		memset(r, 0, sizeof(*r));
		r->sec = -1;
		for (size_t m = ns; m < ne && nl + 1 < sizeof(r->name); m++) {
			if (in[m] == '*') {
				size_t q = m + 1;

				if (q < ne && in[q] >= '0' && in[q] <= '9') {
					int sec = 0;

					while (q < ne && in[q] >= '0' && in[q] <= '9' && sec < 100000)
						sec = sec * 10 + (in[q++] - '0');
					r->sec = sec;
				}
				if (q < ne && in[q] == '*')
					r->ext = true;
				else if (r->sec < 0)
					r->ext = true; /* "name*=" */
				break;
			}
			if (!is_ws(in[m]))
				r->name[nl++] = lower(in[m]);
		}
		r->name[nl] = '\0';
		if (r->ext && r->sec < 0)
			r->sec = 0; /* name*= is a single extended section */
		r->val = scratch + vs;
		r->vlen = sl - vs;
		if (nl)
			np++;
	}
	if (!cb || !cb->on_param)
		return k > 0;
	/* RFC 2231 forms first, then plain ones, each in order. */
	for (int n = 0; n < np; n++)
		if (rp[n].sec >= 0 && !rp[n].reported)
			report_2231(rp, np, n, cb, ud);
	for (int n = 0; n < np; n++) {
		char v[VALUE_MAX];

		if (rp[n].sec >= 0)
			continue;
		if (!strcmp(rp[n].name, "name") || !strcmp(rp[n].name, "filename")) {
			mime_hdr_decode_2047(rp[n].val, rp[n].vlen, v, sizeof(v), NULL);
		} else {
			size_t l = rp[n].vlen < sizeof(v) ? rp[n].vlen : sizeof(v) - 1;

			memcpy(v, rp[n].val, l);
			v[l] = '\0';
		}
		cb->on_param(rp[n].name, v, ud);
	}
	return k > 0;
}

/* ---- the values both readers interpret (mime_int.h) ---- */

static void on_param(const char *name, const char *value, void *ud)
{
	struct mime_params *c = ud;

	if (!strcmp(name, "boundary")) {
		if (!c->have_b)
			snprintf(c->boundary, sizeof(c->boundary), "%s", value);
		else
			(void)mime_bnd_add(c->boundary, sizeof(c->boundary), value,
					   strcspn(value, "\n"));
		c->have_b = true;
	} else if (!strcmp(name, "charset") && !c->have_cs) {
		size_t k = 0;

		for (const char *s = value; *s && k + 1 < sizeof(c->charset); s++)
			if (*s != ' ' && *s != '\t' && *s != '"')
				c->charset[k++] = lower(*s);
		c->charset[k] = '\0';
		c->have_cs = true;
	} else if (!strcmp(name, c->want)) {
		if (!c->have_name) {
			snprintf(c->name, sizeof(c->name), "%s", value);
			c->have_name = true;
		} else if (strcmp(c->name, value) != 0) {
			c->dup_name = true;
		}
	}
}

void mime_params_get(const char *v, size_t n, char *tok, size_t cap, const char *want,
		     struct mime_params *c)
{
	struct mime_hdr_param_cb cb = { .on_param = on_param };

	memset(c, 0, sizeof(*c));
	c->want = want;
	mime_hdr_parse_params(v, n, tok, cap, &cb, c);
}

/* One "type/subtype" token without specials or whitespace? */
static bool ct_valid(const char *t)
{
	const char *sl = strchr(t, '/');

	if (!sl || sl == t || !sl[1] || strchr(sl + 1, '/'))
		return false;
	for (; *t; t++)
		if ((unsigned char)*t <= ' ' || *t == '"' || *t == '(' || *t == ')' ||
		    *t == ',' || *t == ':' || *t == '<' || *t == '>' || *t == '@')
			return false;
	return true;
}

bool mime_ct_parse(const char *v, size_t n, struct mime_ct *ct)
{
	mime_params_get(v, n, ct->type, sizeof(ct->type), "name", &ct->prm);
	if (!ct_valid(ct->type))
		return false;
	ct->bnd = ct->prm.have_b && ct->prm.boundary[0];
	ct->multipart = !strncmp(ct->type, "multipart/", 10) && ct->bnd;
	return true;
}

enum mime_cte mime_cte_parse(const char *v, size_t n, bool *known)
{
	char t[32];
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < sizeof(t); i++) {
		char c = v[i];

		if (c == ' ' || c == '\t' || c == '"' || c == '\r' || c == '\n')
			continue;
		if (c == ';' || c == '(')
			break;
		t[k++] = lower(c);
	}
	t[k] = '\0';
	*known = true;
	if (!strcmp(t, "base64"))
		return MIME_CTE_BASE64;
	if (!strcmp(t, "quoted-printable"))
		return MIME_CTE_QP;
	if (!strcmp(t, "7bit") || k == 0)
		return MIME_CTE_7BIT;
	if (!strcmp(t, "8bit"))
		return MIME_CTE_8BIT;
	if (!strcmp(t, "binary"))
		return MIME_CTE_BINARY;
	if (!strcmp(t, "x-uuencode") || !strcmp(t, "uuencode") || !strcmp(t, "x-uue") ||
	    !strcmp(t, "uue"))
		return MIME_CTE_UUENCODE;
	*known = false;
	return MIME_CTE_7BIT;
}
