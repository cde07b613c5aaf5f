/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mime_rewrite.c - modify-and-deliver: Subject tags, prepended fields and
 * parts replaced by a notice, spliced into the message as received.
 *
 * DESIGN
 *	The whole message is in memory, so the rewriter does not stream: it
 *	walks the buffer line by line (walk_level) and records, per part, four
 *	offsets - start of the header block, end of its fields, start and end
 *	of the body - then builds a list of edits (delete/insert at an offset)
 *	and copies the input around them. Everything outside the edits is
 *	copied byte for byte.
 *
 *	The walk reads the message as the streaming parser (mime_parser.c)
 *	does, because the paths the policy names come from it. Each decision
 *	below is taken by the parser's own code (mime_int.h); only the walking
 *	(line ends, offsets, the stack of parts) is the rewriter's:
 *	- the line rules: a delimiter is a line that starts with "--" and is at
 *	  most the longest boundary seen + 1028 bytes long, matched exactly
 *	  (after trailing whitespace) anywhere on the stack first, then as a
 *	  prefix innermost first; the line end before a delimiter belongs to it;
 *	- the header rules: a boundary ends a header block; a line without a
 *	  colon before any field starts the body, after one it is a junk field;
 *	  "From " on the very first line is junk; fields are unfolded and cut at
 *	  max_header_line as the parser cuts them;
 *	- the Content-Type rules (first valid one wins unless a later multipart
 *	  with a boundary follows a non-multipart one), multipart without
 *	  boundary and containers at max_depth are leaves, multipart/digest
 *	  children default to message/rfc822;
 *	- a message/rfc822 (or message/global) body is walked as a message of
 *	  its own ("P.1"), after base64/QP/uu decoding when it is encoded (parts
 *	  in such a decoded copy can be named but not stripped);
 *	- max_parts: from there on the parser stops interpreting; stripping is
 *	  then refused.
 *	uuencoded files inside text parts ("P.uN") are not walked.
 *
 *	The result is walked again and compared with the input's walk (same
 *	paths and kinds in the same order, same body bytes for every part that
 *	was not stripped, stripped ones now text/plain leaves): a rewrite that
 *	would change the structure in a way nobody asked for is refused.
 *
 * ENCODING
 *	Added header text is folded at 78 columns; values that are not plain
 *	ASCII become RFC 2047 B encoded words (UTF-8). Subject tags are
 *	inserted right after "Subject:" so that the original encoded words and
 *	folding stay untouched; when the subject starts with an encoded word
 *	and the tag is encoded too, the separating space goes inside the tag's
 *	word (whitespace between two encoded words is not displayed). Notices
 *	are quoted-printable, with '-' and '.' at the start of a line escaped so
 *	a notice line can never be taken for a boundary.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime_codec.h"
#include "mime_int.h"
#include "mime_rewrite.h"
#include "mxg_err.h"

#define FOLD_COL 78
#define NAME_SHOW_MAX 255

static const char default_notice[] =
	"The attachment \"%f\" was removed from this message by the mail security "
	"gateway according to its policy.";

/* ---- growable buffer ---- */

struct obuf {
	uint8_t *p;
	size_t n, cap;
	bool oom;
};

static void ob_add(struct obuf *b, const void *d, size_t n)
{
	if (b->oom || n == 0)
		return;
	if (b->n + n > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		uint8_t *np;

		while (nc < b->n + n)
			nc *= 2;
		np = realloc(b->p, nc);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void ob_str(struct obuf *b, const char *s)
{
	ob_add(b, s, strlen(s));
}

static inline bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* ---- the walk ---- */

enum wstate { W_HEADERS = 0, W_BODY, W_PREAMBLE, W_EPILOGUE };

struct wpart {
	char path[MIME_PATH_MAX];
	int32_t up;          /* enclosing part (any level), -1 for "1" */
	int32_t lup;         /* enclosing frame of the same level, -1 for its root */
	uint32_t depth;
	enum mime_kind kind;
	enum mime_cte cte;
	enum wstate state;
	bool level_root;     /* top of a (sub)message: its fields are message fields */
	bool encoded;        /* inside a transfer-encoded message: offsets not in msg */
	bool begun, closed, seen_delim;
	bool have_ct, have_cte, have_cd, ct_multipart, digest;
	bool blank;          /* header block ended by an empty line [hdr_end, body) */
	bool strip, gone;    /* to strip / inside a stripped part */
	bool inner;          /* a stripped part is inside */
	char ctype[128];
	char *boundary;
	size_t blen;
	char *ct_name, *cd_name;
	size_t start, hdr_end, body, end;
	uint32_t nchildren, nheaders;
};

struct walk {
	struct mime_limits lim;
	struct wpart *p;
	size_t n, cap;
	uint32_t begun;      /* PART_BEGIN count of the parser (res.parts) */
	bool unparsed;       /* max_parts reached somewhere */
	int err;
};

struct level {
	struct walk *w;
	const uint8_t *b;    /* this level's input (msg, or a decoded copy) */
	size_t len;
	size_t base;         /* offset of b in msg (0 when encoded) */
	bool encoded;
	int32_t top;
	size_t max_blen;
	bool first_line;
	bool pending;        /* a field is being unfolded */
	size_t held;         /* line end held after the last body line */
	struct obuf hdr;     /* unfolded field */
};

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->p[i].boundary);
		free(w->p[i].ct_name);
		free(w->p[i].cd_name);
	}
	free(w->p);
	w->p = NULL;
	w->n = w->cap = 0;
}

static char *xstrdup(struct walk *w, const char *s)
{
	size_t l = strlen(s);
	char *d = malloc(l + 1);

	if (!d) {
		w->err = MXG_E_NOMEM;
		return NULL;
	}
	memcpy(d, s, l + 1);
	return d;
}

static int32_t part_push(struct level *L, int32_t lup, int32_t up, const char *path,
			 uint32_t depth, size_t start)
{
	struct walk *w = L->w;
	struct wpart *f;

	if (w->n == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 16;
		struct wpart *np = realloc(w->p, nc * sizeof(*np));

		if (!np) {
			w->err = MXG_E_NOMEM;
			return -1;
		}
		w->p = np;
		w->cap = nc;
	}
	f = &w->p[w->n];
	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->up = up;
	f->lup = lup;
	f->depth = depth;
	f->encoded = L->encoded;
	f->level_root = lup < 0;
	f->start = f->hdr_end = f->body = f->end = L->base + start;
	L->top = (int32_t)w->n;
	L->pending = false;
	L->hdr.n = 0;
	L->held = 0;
	return (int32_t)w->n++;
}

/* ---- fields (the decisions are mime_int.h's, as in mime_parser.c) ---- */

static void set_str(struct walk *w, char **dst, const char *s)
{
	free(*dst);
	*dst = xstrdup(w, s);
}

static void fld_content_type(struct walk *w, struct wpart *f, const char *v, size_t n)
{
	struct mime_ct ct;

	if (!mime_ct_parse(v, n, &ct))
		return;
	if (!mime_ct_replaces(f->have_ct, f->ct_multipart, ct.multipart) &&
	    !mime_ct_merge(&ct, f->boundary, f->ct_multipart))
		return;
	f->have_ct = true;
	f->ct_multipart = ct.multipart;
	snprintf(f->ctype, sizeof(f->ctype), "%s", ct.type);
	if (ct.prm.have_name)
		set_str(w, &f->ct_name, ct.prm.name);
	free(f->boundary);
	f->boundary = NULL;
	f->blen = 0;
	if (ct.bnd) {
		f->boundary = xstrdup(w, ct.prm.boundary);
		f->blen = f->boundary ? strlen(f->boundary) : 0;
	}
}

static void fld_disposition(struct walk *w, struct wpart *f, const char *v, size_t n)
{
	struct mime_params c;
	char tok[64];

	if (f->have_cd)
		return;
	f->have_cd = true;
	mime_params_get(v, n, tok, sizeof(tok), "filename", &c);
	if (c.have_name)
		set_str(w, &f->cd_name, c.name);
}

static void fld_cte(struct wpart *f, const char *v, size_t n)
{
	bool known;

	if (f->have_cte)
		return;
	f->have_cte = true;
	f->cte = mime_cte_parse(v, n, &known);
}

/* Interprets the pending unfolded field of the top part. */
static void fld_flush(struct level *L)
{
	struct walk *w = L->w;
	struct wpart *f = &w->p[L->top];
	const uint8_t *h = L->hdr.p;
	size_t n, ne, vs;

	if (!L->pending)
		return;
	L->pending = false;
	f->nheaders++;
	mime_field_split(h, L->hdr.n, &ne, &vs, &n);
	L->hdr.n = 0;
	switch (mime_field_id(h, ne)) {
	case MIME_FLD_CT:
		fld_content_type(w, f, (const char *)h + vs, n - vs);
		break;
	case MIME_FLD_CTE:
		fld_cte(f, (const char *)h + vs, n - vs);
		break;
	case MIME_FLD_CD:
		fld_disposition(w, f, (const char *)h + vs, n - vs);
		break;
	case MIME_FLD_OTHER:
		break;
	}
}

/* Appends to the unfolded field, capped at max_header_line as the parser. */
static void fld_add(struct level *L, const uint8_t *d, size_t n)
{
	size_t max = L->w->lim.max_header_line;

	if (L->hdr.n + n > max)
		n = max > L->hdr.n ? max - L->hdr.n : 0;
	ob_add(&L->hdr, d, n);
	if (L->hdr.oom)
		L->w->err = MXG_E_NOMEM;
}

/* ---- parts ---- */

/* Ends the header block of the top part (as mime_parser.c part_begin). */
static void part_begin(struct level *L, size_t hdr_end, size_t body, bool blank)
{
	struct walk *w = L->w;
	struct wpart *f;

	fld_flush(L);
	f = &w->p[L->top];
	f->hdr_end = L->base + hdr_end;
	f->body = L->base + body;
	f->blank = blank;
	uint32_t kf = 0;

	if (!f->have_ct)
		snprintf(f->ctype, sizeof(f->ctype), "%s",
			 mime_ct_default(f->lup >= 0 && w->p[f->lup].digest));
	f->kind = mime_part_kind(f->ctype, f->boundary != NULL, f->depth, w->lim.max_depth, &kf);
	if (f->kind == MIME_KIND_MULTIPART) {
		f->cte = MIME_CTE_7BIT;
		f->digest = !strcmp(f->ctype, "multipart/digest");
		if (f->blen > L->max_blen)
			L->max_blen = f->blen;
		f->state = W_PREAMBLE;
	} else {
		f->state = W_BODY;
	}
	f->begun = true;
	w->begun++;
	L->held = 0;
}

static void walk_level(struct walk *w, const uint8_t *b, size_t len, size_t base, bool encoded,
		       int32_t outer, const char *path, uint32_t depth, bool first);

/* Walks the inner message of message part |idx| (its body [body, end)). */
static void walk_message(struct level *L, int32_t idx)
{
	struct walk *w = L->w;
	struct wpart *f = &w->p[idx];
	const uint8_t *d = L->b + (f->body - L->base);
	size_t n = f->end - f->body;
	enum mime_cte cte = f->cte;
	char path[MIME_PATH_MAX];
	uint32_t depth = f->depth + 1;

	mime_path_fmt(path, f->path, ".", 1);
	f->nchildren = 1;
	if (!mime_cte_encoded(cte)) {
		walk_level(w, d, n, L->encoded ? 0 : f->body, L->encoded, idx, path, depth, false);
		return;
	}
	/* Decoded copy, as the parser feeds its child parser. */
	uint8_t *dec = malloc(n + 2 * MIME_UU_LINE_MAX + MIME_QP_WS_MAX + 64);
	size_t o = 0;

	if (!dec) {
		w->err = MXG_E_NOMEM;
		return;
	}
	if (cte == MIME_CTE_BASE64) {
		struct mime_b64 st = { 0 };

		o = mime_b64_decode(&st, d, n, dec);
		o += mime_b64_finish(&st, dec + o);
	} else if (cte == MIME_CTE_QP) {
		struct mime_qp st = { 0 };

		o = mime_qp_decode(&st, d, n, dec);
		o += mime_qp_finish(&st, dec + o);
	} else {
		struct mime_uu *st = calloc(1, sizeof(*st));

		if (!st) {
			free(dec);
			w->err = MXG_E_NOMEM;
			return;
		}
		o = mime_uu_decode(st, d, n, dec);
		o += mime_uu_finish(st, dec + o);
		free(st);
	}
	walk_level(w, dec, o, 0, true, idx, path, depth, false);
	free(dec);
}

/* Closes the top part at |end| (level offset) and pops it. */
static void part_close(struct level *L, size_t end)
{
	struct walk *w = L->w;
	int32_t idx = L->top;

	if (!w->p[idx].begun)
		part_begin(L, end, end, false);
	w->p[idx].end = L->base + end;
	if (w->p[idx].body > w->p[idx].end)
		w->p[idx].body = w->p[idx].end;
	if (w->p[idx].kind == MIME_KIND_MESSAGE && !w->err)
		walk_message(L, idx);
	L->top = w->p[idx].lup;
}

/* mime_bstack over the parts of this level (|ud|), from its top. */
static const void *wpart_next(const void *ud, const void *cur, const char **b, size_t *blen)
{
	const struct level *L = ud;
	const struct wpart *p = L->w->p;
	int32_t i = cur ? ((const struct wpart *)cur)->lup : L->top;

	if (i < 0)
		return NULL;
	*b = p[i].boundary;
	*blen = p[i].kind == MIME_KIND_MULTIPART && p[i].begun ? p[i].blen : 0;
	return &p[i];
}

/* The part whose delimiter |l| (no line end) is, or -1 (as the parser:
 * mime_match_boundary). */
static int32_t match_boundary(struct level *L, const uint8_t *l, size_t n, bool *close)
{
	const struct mime_bstack s = { .next = wpart_next, .ud = L };
	bool suffix;
	const struct wpart *f = mime_match_boundary(&s, l, n, close, &suffix);

	return f ? (int32_t)(f - L->w->p) : -1;
}

/* A delimiter of multipart |m| on the line [ls, le). Returns false when the
 * level is unparsed from here (max_parts). */
static bool boundary_hit(struct level *L, int32_t m, bool close, size_t ls, size_t le)
{
	struct walk *w = L->w;
	size_t end = ls - L->held;
	char path[MIME_PATH_MAX];

	while (L->top != m && !w->err)
		part_close(L, end);
	if (w->err)
		return false;
	L->held = 0;
	w->p[m].seen_delim = true;
	if (close) {
		w->p[m].closed = true;
		w->p[m].state = W_EPILOGUE;
		return true;
	}
	w->p[m].closed = false;
	if (w->begun >= w->lim.max_parts) {
		w->unparsed = true;
		return false;
	}
	w->p[m].state = W_BODY;
	w->p[m].nchildren++;
	mime_path_fmt(path, w->p[m].path, ".", w->p[m].nchildren);
	part_push(L, m, m, path, w->p[m].depth + 1, le);
	return true;
}

static size_t eol_len(const uint8_t *b, size_t ls, size_t le)
{
	if (le == ls || b[le - 1] != '\n')
		return 0;
	return le - ls >= 2 && b[le - 2] == '\r' ? 2 : 1;
}

/* A line of a header block. Returns false when the level stops. */
static bool header_line(struct level *L, size_t ls, size_t le)
{
	struct walk *w = L->w;
	const uint8_t *l = L->b + ls;
	size_t n = le - ls, cap = mime_hline_cap(&w->lim);
	bool close, first = L->first_line;
	enum mime_hline k;
	int32_t m;

	L->first_line = false;
	if (n > cap)
		n = cap; /* the parser keeps the first bytes of a long line */
	if (n && l[n - 1] == '\n')
		n--;
	if (n && l[n - 1] == '\r')
		n--;
	m = match_boundary(L, l, n, &close);
	if (m >= 0) {
		part_begin(L, ls, ls, false);
		return boundary_hit(L, m, close, ls, le);
	}
	k = mime_hline_kind(l, n, first, L->pending, w->p[L->top].nheaders != 0);
	if (k == MIME_HL_END) {
		part_begin(L, ls, le, true);
		return true;
	}
	if (k == MIME_HL_FOLD) {
		fld_add(L, l, n);
		return true;
	}
	if (k == MIME_HL_FIELD || k == MIME_HL_JUNK) {
		fld_flush(L);
		L->pending = true;
		L->hdr.n = 0;
		fld_add(L, l, n);
		if (k == MIME_HL_JUNK)
			fld_flush(L); /* a junk line is never folded into */
		return true;
	}
	/* No field yet and not a field: the body starts with this line. */
	part_begin(L, ls, ls, false);
	L->held = eol_len(L->b, ls, le);
	return true;
}

/* A line of a body, preamble or epilogue. */
static bool body_line(struct level *L, size_t ls, size_t le)
{
	const uint8_t *l = L->b + ls;
	size_t full = le - ls;

	if (full >= 2 && l[0] == '-' && l[1] == '-' &&
	    full <= mime_cand_max(L->max_blen)) {
		size_t n = full;
		bool close;
		int32_t m;

		if (l[n - 1] == '\n')
			n--;
		if (n && l[n - 1] == '\r')
			n--;
		m = match_boundary(L, l, n, &close);
		if (m >= 0)
			return boundary_hit(L, m, close, ls, le);
	}
	L->held = eol_len(L->b, ls, le);
	return true;
}

static void walk_level(struct walk *w, const uint8_t *b, size_t len, size_t base, bool encoded,
		       int32_t outer, const char *path, uint32_t depth, bool first)
{
	struct level L = {
		.w = w, .b = b, .len = len, .base = base, .encoded = encoded,
		.top = -1, .first_line = first,
	};
	size_t pos = 0;

	if (part_push(&L, -1, outer, path, depth, 0) < 0)
		return;
	while (pos < len && !w->err) {
		const uint8_t *q = memchr(b + pos, '\n', len - pos);
		size_t le = q ? (size_t)(q - b) + 1 : len;
		bool go;

		if (w->p[L.top].state == W_HEADERS)
			go = header_line(&L, pos, le);
		else
			go = body_line(&L, pos, le);
		if (!go) {
			L.held = 0;
			break; /* unparsed: the rest is raw to the parser */
		}
		pos = le;
	}
	/* End of input: the held line end belongs to the open parts. */
	while (L.top >= 0 && !w->err)
		part_close(&L, len);
	free(L.hdr.p);
}

static int walk_msg(struct walk *w, const uint8_t *msg, size_t len, const struct mime_limits *lim)
{
	memset(w, 0, sizeof(*w));
	mime_limits_norm(&w->lim, lim);
	walk_level(w, msg, len, 0, false, -1, MIME_ROOT_PATH, 0, true);
	return w->err;
}

int mime_rewrite_walk(const uint8_t *msg, size_t len, const struct mime_limits *lim,
		      void (*fn)(const char *path, enum mime_kind kind, bool encoded, void *ud),
		      void *ud)
{
	struct walk w;
	int rc = walk_msg(&w, msg, len, lim);

	for (size_t i = 0; rc == 0 && i < w.n; i++)
		fn(w.p[i].path, w.p[i].kind, w.p[i].encoded, ud);
	walk_free(&w);
	return rc;
}

/* ---- header fields of a header block ---- */

struct field {
	size_t s, e;       /* raw extent: first line to the end of its last continuation */
	size_t name_end;   /* end of the name (before ws and ':') */
	size_t colon;      /* offset of ':' */
	bool real;         /* a field, not a junk line */
};

/* Calls |fn| per field of the block [s, e) of |b|, as the parser splits
 * them. Stops when fn returns false. */
static void fields_each(const uint8_t *b, size_t s, size_t e,
			bool (*fn)(const uint8_t *b, const struct field *f, void *ud), void *ud)
{
	struct field f = { 0 };
	bool have = false;

	while (s < e) {
		const uint8_t *q = memchr(b + s, '\n', e - s);
		size_t le = q ? (size_t)(q - b) + 1 : e;
		size_t n = le - s;

		if (n && b[s + n - 1] == '\n')
			n--;
		if (n && b[s + n - 1] == '\r')
			n--;
		if (have && n && is_ws(b[s]) && f.real) {
			f.e = le;
		} else {
			if (have && !fn(b, &f, ud))
				return;
			memset(&f, 0, sizeof(f));
			f.s = s;
			f.e = le;
			f.real = mime_is_field(b + s, n);
			if (f.real) {
				size_t i = s;

				while (mime_is_hname_char(b[i]))
					i++;
				f.name_end = i;
				while (b[i] != ':')
					i++;
				f.colon = i;
			}
			have = true;
		}
		s = le;
	}
	if (have)
		fn(b, &f, ud);
}

/* ---- text encoders ---- */

static const char b64tab[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_b64(struct obuf *b, const uint8_t *s, size_t n)
{
	char q[4];

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		q[0] = b64tab[(v >> 18) & 63];
		q[1] = b64tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64tab[v & 63] : '=';
		ob_add(b, q, 4);
	}
}

/* Control characters (CR, LF, NUL, ...) become spaces; leading and trailing
 * whitespace goes. Returns a malloc'ed copy (NULL: out of memory). */
static char *clean_text(const char *s, size_t *outn)
{
	size_t n = strlen(s), i = 0, k = 0;
	char *d = malloc(n + 1);

	if (!d)
		return NULL;
	while (i < n && ((unsigned char)s[i] <= ' ' || s[i] == 0x7f))
		i++;
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		d[k++] = (char)((c < ' ' || c == 0x7f) ? ' ' : c);
	}
	while (k && d[k - 1] == ' ')
		k--;
	d[k] = '\0';
	*outn = k;
	return d;
}

static bool plain_ascii(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] < ' ' || s[i] > '~')
			return false;
		if (s[i] == '=' && i + 1 < n && s[i + 1] == '?')
			return false; /* would read as an encoded word */
	}
	return true;
}

/* Plain ASCII words, folded before a space when a line would pass 78. */
static void put_plain(struct obuf *b, const char *eol, const uint8_t *s, size_t n, size_t *col)
{
	size_t i = 0;
	bool first = true;

	while (i < n) {
		size_t ws = i, we;

		while (i < n && s[i] == ' ')
			i++;
		we = i;
		while (we < n && s[we] != ' ')
			we++;
		if (!first && *col + (i - ws) + (we - i) > FOLD_COL) {
			ob_str(b, eol);
			*col = 0;
		}
		ob_add(b, s + ws, we - ws);
		*col += we - ws;
		first = false;
		i = we;
	}
}

/* UTF-8 text as B encoded words of at most 75 characters, separated by a
 * space or a fold; the first one starts at *col (the caller wrote the
 * whitespace before it). */
static void put_encoded(struct obuf *b, const char *eol, const uint8_t *s, size_t n, size_t *col)
{
	static const char pre[] = "=?UTF-8?B?";
	bool first = true;

	while (n) {
		size_t sep = first ? 0 : 1;
		size_t room = *col + sep < FOLD_COL ? FOLD_COL - *col - sep : 0;
		size_t k;

		if (room < 12 + 16 && *col > 1) {
			ob_str(b, eol);
			ob_str(b, " ");
			*col = 1;
			room = FOLD_COL - 1;
		} else if (sep) {
			ob_str(b, " ");
			*col += 1;
		}
		k = room > 12 ? (room - 12) / 4 * 3 : 3;
		if (k > 45)
			k = 45;
		if (k < 3)
			k = 3;
		if (k >= n) {
			k = n;
		} else {
			while (k > 0 && (s[k] & 0xC0) == 0x80)
				k--;
			if (k == 0) { /* one character wider than the room */
				k = 1;
				while (k < n && (s[k] & 0xC0) == 0x80)
					k++;
			}
		}
		ob_str(b, pre);
		put_b64(b, s, k);
		ob_str(b, "?=");
		*col += sizeof(pre) - 1 + (k + 2) / 3 * 4 + 2;
		s += k;
		n -= k;
		first = false;
	}
}

/* One header field "Name: value" + eol. */
static void put_field(struct obuf *b, const char *eol, const char *name, const uint8_t *v,
		      size_t n)
{
	size_t col = strlen(name) + 1;

	ob_str(b, name);
	ob_str(b, ":");
	if (n) {
		ob_str(b, " ");
		col++;
		if (plain_ascii(v, n))
			put_plain(b, eol, v, n, &col);
		else
			put_encoded(b, eol, v, n, &col);
	}
	ob_str(b, eol);
}

/* Quoted-printable notice body; '-' and '.' at a line start are escaped. */
static void put_qp(struct obuf *b, const char *eol, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		char tok[3];
		size_t tl;
		bool at_eol;

		if (c == '\n' || (c == '\r' && i + 1 < n && s[i + 1] == '\n')) {
			if (c == '\r')
				i++;
			ob_str(b, eol);
			col = 0;
			continue;
		}
		at_eol = i + 1 == n || s[i + 1] == '\n' ||
			 (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n');
		for (int pass = 0; pass < 2; pass++) {
			bool lit = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_eol);

			if (col == 0 && (c == '-' || c == '.'))
				lit = false;
			if (lit) {
				tok[0] = (char)c;
				tl = 1;
			} else {
				tok[0] = '=';
				tok[1] = hex[c >> 4];
				tok[2] = hex[c & 15];
				tl = 3;
			}
			if (pass == 0 && col + tl > 75) {
				ob_str(b, "=");
				ob_str(b, eol);
				col = 0;
				continue; /* again, at a line start */
			}
			break;
		}
		ob_add(b, tok, tl);
		col += tl;
	}
}

/* The notice text with %f expanded, as quoted-printable. */
static void put_notice_body(struct obuf *b, const char *eol, const char *notice,
			    const char *fname)
{
	struct obuf t = { 0 };
	const char *s = notice && notice[0] ? notice : default_notice;
	char fn[NAME_SHOW_MAX + 1];
	size_t k = 0;

	if (!fname || !fname[0])
		fname = "unnamed";
	for (size_t i = 0; fname[i] && k < NAME_SHOW_MAX; i++) {
		unsigned char c = (unsigned char)fname[i];

		fn[k++] = (char)((c < ' ' || c == 0x7f) ? '_' : c);
	}
	while (k && k == NAME_SHOW_MAX && ((unsigned char)fname[k] & 0xC0) == 0x80)
		k--; /* cut at a character boundary */
	fn[k] = '\0';
	for (; *s; s++) {
		if (s[0] == '%' && s[1] == 'f') {
			ob_str(&t, fn);
			s++;
		} else if (s[0] == '%' && s[1] == '%') {
			ob_str(&t, "%");
			s++;
		} else {
			ob_add(&t, s, 1);
		}
	}
	if (t.oom)
		b->oom = true;
	else
		put_qp(b, eol, t.p, t.n);
	free(t.p);
}

static void put_notice_fields(struct obuf *b, const char *eol)
{
	ob_str(b, "Content-Type: text/plain; charset=utf-8");
	ob_str(b, eol);
	ob_str(b, "Content-Disposition: inline");
	ob_str(b, eol);
	ob_str(b, "Content-Transfer-Encoding: quoted-printable");
	ob_str(b, eol);
}

/* ---- edits ---- */

struct edit {
	size_t off, del;     /* bytes [off, off + del) of msg go */
	size_t doff, dlen;   /* replaced by data[doff, doff + dlen) */
	size_t seq;
};

struct rw_ctx {
	const uint8_t *msg;
	size_t len;
	const struct mime_rw *rw;
	const char *eol;
	struct walk w;
	struct obuf data;    /* inserted bytes of all edits */
	struct edit *ed;
	size_t ned, edcap;
	int err;
};

static void edit_add(struct rw_ctx *c, size_t off, size_t del, size_t doff)
{
	if (c->data.oom) {
		c->err = MXG_E_NOMEM;
		return;
	}
	if (c->ned == c->edcap) {
		size_t nc = c->edcap ? c->edcap * 2 : 16;
		struct edit *np = realloc(c->ed, nc * sizeof(*np));

		if (!np) {
			c->err = MXG_E_NOMEM;
			return;
		}
		c->ed = np;
		c->edcap = nc;
	}
	c->ed[c->ned] = (struct edit){ .off = off, .del = del, .doff = doff,
				       .dlen = c->data.n - doff, .seq = c->ned };
	c->ned++;
}

static int edit_cmp(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	if ((x->del != 0) != (y->del != 0))
		return x->del ? 1 : -1; /* insertions first */
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* ---- the rewrite ---- */

struct fscan {
	size_t subject_i;  /* first Subject field */
	struct field subject;
	bool have_subject, have_mv;
	struct rw_ctx *c;
	bool del_content;  /* delete Content-* fields (strip of a level root) */
};

static bool on_field(const uint8_t *b, const struct field *f, void *ud)
{
	struct fscan *s = ud;
	size_t nl = f->name_end - f->s;

	if (!f->real)
		return true;
	if (mime_ieq(b + f->s, nl, "subject") && !s->have_subject) {
		s->have_subject = true;
		s->subject = *f;
	}
	if (mime_ieq(b + f->s, nl, "mime-version"))
		s->have_mv = true;
	if (s->del_content && mime_iprefix(b + f->s, nl, "content-"))
		edit_add(s->c, f->s, f->e - f->s, s->c->data.n);
	return true;
}

/* The file name the scan reports for the part (the parser's rule: an
 * empty filename= falls back to name=). */
static const char *part_fname(const struct wpart *p)
{
	return p->cd_name && *p->cd_name ? p->cd_name : p->ct_name;
}

/* Replaces part |p| by the notice. */
static void strip_part(struct rw_ctx *c, const struct wpart *p)
{
	struct obuf *d = &c->data;
	size_t doff = d->n;
	/* The notice ends with a line end when the replaced range did, or
	 * when it was empty (a delimiter line may follow right there). */
	size_t rs = p->level_root ? (p->blank ? p->body : p->hdr_end) : p->start;
	bool trail = p->end == rs || c->msg[p->end - 1] == '\n';

	if (!p->level_root) {
		if (p->start > 0 && c->msg[p->start - 1] != '\n')
			ob_str(d, c->eol); /* after a delimiter ended by the end of input */
		put_notice_fields(d, c->eol);
		ob_str(d, c->eol);
		put_notice_body(d, c->eol, c->rw->notice, part_fname(p));
		if (trail)
			ob_str(d, c->eol);
		edit_add(c, p->start, p->end - p->start, doff);
		return;
	}
	/* Top of a (sub)message: its own fields stay, Content-* go. */
	struct fscan fs = { .c = c, .del_content = true };

	fields_each(c->msg, p->start, p->hdr_end, on_field, &fs);
	doff = d->n;
	if (p->hdr_end > 0 && c->msg[p->hdr_end - 1] != '\n')
		ob_str(d, c->eol); /* a block ended by the end of input mid-line */
	if (p->up >= 0 && !c->w.p[p->up].blank)
		/* The message part holding this one has no empty line after
		 * its fields (none at all in a digest, or ended by the end of
		 * input or a boundary): the fields added here would become its
		 * own. An empty line ends its header block first. */
		ob_str(d, c->eol);
	if (!fs.have_mv) {
		ob_str(d, "MIME-Version: 1.0");
		ob_str(d, c->eol);
	}
	put_notice_fields(d, c->eol);
	if (p->blank) {
		edit_add(c, p->hdr_end, 0, doff);
		doff = d->n;
		put_notice_body(d, c->eol, c->rw->notice, part_fname(p));
		if (trail)
			ob_str(d, c->eol);
		edit_add(c, p->body, p->end - p->body, doff);
	} else {
		ob_str(d, c->eol);
		put_notice_body(d, c->eol, c->rw->notice, part_fname(p));
		if (trail)
			ob_str(d, c->eol);
		edit_add(c, p->hdr_end, p->end - p->hdr_end, doff);
	}
}

/* Which tags are missing from the subject |s| (decoded UTF-8)? Leading
 * tags of the list are skipped in any order. */
static void tags_present(const char *s, char *const *tags, const size_t *tl, size_t nt,
			 bool *present)
{
	bool again = true;

	while (again) {
		again = false;
		while (*s == ' ' || *s == '\t')
			s++;
		for (size_t i = 0; i < nt; i++) {
			if (tl[i] && !strncmp(s, tags[i], tl[i])) {
				present[i] = true;
				s += tl[i];
				again = true;
				break;
			}
		}
	}
}

static void do_subject(struct rw_ctx *c, const struct fscan *fs, bool *added_top)
{
	const struct mime_rw *rw = c->rw;
	char **tags = calloc(rw->ntags + 1, sizeof(*tags));
	size_t *tl = calloc(rw->ntags + 1, sizeof(*tl));
	bool *present = calloc(rw->ntags + 1, sizeof(*present));
	struct obuf txt = { 0 }, *d = &c->data;

	*added_top = false;
	if (!tags || !tl || !present) {
		c->err = MXG_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < rw->ntags; i++) {
		tags[i] = clean_text(rw->tags[i] ? rw->tags[i] : "", &tl[i]);
		if (!tags[i]) {
			c->err = MXG_E_NOMEM;
			goto out;
		}
	}
	if (fs->have_subject) {
		/* Unfolded value (as the parser), decoded. */
		const struct field *f = &fs->subject;
		struct obuf u = { 0 };
		size_t i = f->colon + 1;

		while (i < f->e) {
			if (c->msg[i] != '\r' && c->msg[i] != '\n')
				ob_add(&u, c->msg + i, 1);
			i++;
		}
		size_t cap = u.n * 4 + 64;
		char *dec = malloc(cap);

		if (u.oom || !dec) {
			free(u.p);
			free(dec);
			c->err = MXG_E_NOMEM;
			goto out;
		}
		mime_hdr_decode_2047(u.p ? (const char *)u.p : "", u.n, dec, cap, NULL);
		tags_present(dec, tags, tl, rw->ntags, present);
		free(dec);
		free(u.p);
	}
	for (size_t i = 0; i < rw->ntags; i++) {
		if (!tl[i] || present[i])
			continue;
		for (size_t j = 0; j < i; j++)
			if (tl[j] == tl[i] && !memcmp(tags[j], tags[i], tl[i]) && !present[j])
				goto dup; /* the same tag twice in the list */
		if (txt.n)
			ob_str(&txt, " ");
		ob_add(&txt, tags[i], tl[i]);
dup:;
	}
	if (txt.oom) {
		c->err = MXG_E_NOMEM;
		goto out;
	}
	if (!txt.n)
		goto out;
	if (!fs->have_subject) {
		put_field(d, c->eol, "Subject", txt.p, txt.n);
		*added_top = true;
		goto out;
	}
	/* Insert after "Subject:" and its whitespace. */
	const struct field *f = &fs->subject;
	const uint8_t *m = c->msg;
	size_t vs = f->colon + 1, ls = f->s, col, rest = 0, doff = d->n;
	bool plain = plain_ascii(txt.p, txt.n);

	while (vs < f->e && is_ws(m[vs]))
		vs++;
	col = vs - ls;
	if (vs == f->colon + 1) {
		ob_str(d, " ");
		col++;
	}
	while (vs + rest < f->e && m[vs + rest] != '\r' && m[vs + rest] != '\n')
		rest++;
	/* Does the value (unfolded) start with an encoded word? */
	size_t k = vs;

	while (k < f->e && (is_ws(m[k]) || m[k] == '\r' || m[k] == '\n'))
		k++;
	bool ew_next = k + 1 < f->e && m[k] == '=' && m[k + 1] == '?';

	if (plain) {
		put_plain(d, c->eol, txt.p, txt.n, &col);
	} else {
		if (ew_next)
			ob_str(&txt, " ");
		if (txt.oom) {
			c->err = MXG_E_NOMEM;
			goto out;
		}
		put_encoded(d, c->eol, txt.p, txt.n, &col);
	}
	if (rest) {
		if (col + 1 + rest > FOLD_COL) {
			ob_str(d, c->eol);
			ob_str(d, " ");
		} else {
			ob_str(d, " ");
		}
	}
	edit_add(c, vs, 0, doff);
out:
	if (tags)
		for (size_t i = 0; i < rw->ntags; i++)
			free(tags[i]);
	free(tags);
	free(tl);
	free(present);
	free(txt.p);
}

/* Prepended fields, the Subject tag and the strips, as edits. */
static void plan(struct rw_ctx *c)
{
	const struct mime_rw *rw = c->rw;
	struct wpart *root = &c->w.p[0];
	struct fscan fs = { .c = c };
	struct obuf *d = &c->data;
	size_t doff;
	bool added_subject = false, root_stripped = root->strip;

	/* Fields on top. */
	doff = d->n;
	for (size_t i = 0; i < rw->nhdr && !c->err; i++) {
		const char *nm = rw->hdr[i].name;
		size_t vn;
		char *v;

		if (!nm || !nm[0] || mime_iprefix((const uint8_t *)nm, strlen(nm), "content-") ||
		    mime_ieq((const uint8_t *)nm, strlen(nm), "mime-version")) {
			c->err = MXG_E_INVAL;
			return;
		}
		for (const char *q = nm; *q; q++)
			if (!mime_is_hname_char((uint8_t)*q)) {
				c->err = MXG_E_INVAL;
				return;
			}
		v = clean_text(rw->hdr[i].value ? rw->hdr[i].value : "", &vn);
		if (!v) {
			c->err = MXG_E_NOMEM;
			return;
		}
		put_field(d, c->eol, nm, (const uint8_t *)v, vn);
		free(v);
	}
	if (rw->ntags) {
		fields_each(c->msg, root->start, root->hdr_end, on_field, &fs);
		if (!fs.have_subject)
			do_subject(c, &fs, &added_subject); /* "Subject: TAGS" on top */
		if (c->err)
			return;
	}
	if (d->n > doff) {
		if (root->nheaders == 0 && !root->blank && !root_stripped)
			ob_str(d, c->eol); /* the message had no header block */
		edit_add(c, 0, 0, doff);
	}
	if (rw->ntags && fs.have_subject)
		do_subject(c, &fs, &added_subject);
	/* Strips. */
	for (size_t i = 0; i < c->w.n && !c->err; i++)
		if (c->w.p[i].strip && !c->w.p[i].gone)
			strip_part(c, &c->w.p[i]);
}

/* Marks the parts to strip. MXG_E_INVAL when one cannot be. */
static int mark_strips(struct rw_ctx *c)
{
	struct walk *w = &c->w;
	const struct mime_rw *rw = c->rw;

	if (!rw->nstrip)
		return 0;
	if (w->unparsed)
		return MXG_E_INVAL;
	for (size_t s = 0; s < rw->nstrip; s++) {
		size_t i;

		if (!rw->strip[s])
			return MXG_E_INVAL;
		for (i = 0; i < w->n; i++)
			if (!strcmp(w->p[i].path, rw->strip[s]))
				break;
		if (i == w->n || w->p[i].encoded)
			return MXG_E_INVAL;
		w->p[i].strip = true;
	}
	/* Parts inside a stripped one go with it. */
	for (size_t i = 0; i < w->n; i++)
		for (int32_t u = w->p[i].up; u >= 0; u = w->p[u].up)
			if (w->p[u].strip) {
				w->p[i].gone = true;
				break;
			}
	for (size_t i = 0; i < w->n; i++)
		if (w->p[i].strip)
			for (int32_t u = w->p[i].up; u >= 0; u = w->p[u].up)
				w->p[u].inner = true;
	return 0;
}

/* The result must show the same parts, except what was stripped. */
static int verify(struct rw_ctx *c, const uint8_t *out, size_t outlen)
{
	struct walk v;
	struct walk *w = &c->w;
	size_t j = 0;
	int rc = walk_msg(&v, out, outlen, c->rw->limits);

	if (rc) {
		walk_free(&v);
		return rc;
	}
	for (size_t i = 0; i < w->n && rc == 0; i++) {
		const struct wpart *a = &w->p[i], *b;

		if (a->gone)
			continue;
		if (j >= v.n) {
			rc = MXG_E_INVAL;
			break;
		}
		b = &v.p[j++];
		if (strcmp(a->path, b->path) != 0)
			rc = MXG_E_INVAL;
		else if (a->strip)
			rc = b->kind == MIME_KIND_LEAF && !strcmp(b->ctype, "text/plain") ?
				     0 : MXG_E_INVAL;
		else if (a->kind != b->kind)
			rc = MXG_E_INVAL;
		else if (!a->encoded && !a->inner && a->kind != MIME_KIND_MULTIPART &&
			 (a->end - a->body != b->end - b->body ||
			  memcmp(c->msg + a->body, out + b->body, a->end - a->body) != 0))
			rc = MXG_E_INVAL;
	}
	if (rc == 0 && (j != v.n || v.unparsed != w->unparsed))
		rc = MXG_E_INVAL;
	walk_free(&v);
	return rc;
}

int mime_rewrite(const uint8_t *msg, size_t len, const struct mime_rw *rw, uint8_t **out,
		 size_t *outlen)
{
	static const struct mime_rw none;
	struct rw_ctx c = { .msg = msg, .len = len, .rw = rw ? rw : &none, .eol = "\r\n" };
	const uint8_t *nl = len ? memchr(msg, '\n', len) : NULL;
	struct obuf o = { 0 };
	size_t pos = 0;
	int rc;

	*out = NULL;
	*outlen = 0;
	rw = c.rw;
	if (nl && (nl == msg || nl[-1] != '\r'))
		c.eol = "\n";
	if (!rw->ntags && !rw->nhdr && !rw->nstrip) {
		/* Nothing to do: the message as it is. */
		uint8_t *p = malloc(len ? len : 1);

		if (!p)
			return MXG_E_NOMEM;
		if (len)
			memcpy(p, msg, len);
		*out = p;
		*outlen = len;
		return 0;
	}
	rc = walk_msg(&c.w, msg, len, rw->limits);
	if (rc == 0)
		rc = mark_strips(&c);
	if (rc == 0) {
		plan(&c);
		rc = c.err;
	}
	if (rc == 0 && c.data.oom)
		rc = MXG_E_NOMEM;
	if (rc == 0) {
		if (c.ned > 1) /* c.ed is NULL without edits: qsort's argument is nonnull */
			qsort(c.ed, c.ned, sizeof(*c.ed), edit_cmp);
		ob_add(&o, "", 0);
		for (size_t i = 0; i < c.ned && rc == 0; i++) {
			const struct edit *e = &c.ed[i];

			if (e->off < pos || e->off + e->del > len) {
				rc = MXG_E_INVAL; /* overlapping edits: a bug, never guess */
				break;
			}
			ob_add(&o, msg + pos, e->off - pos);
			ob_add(&o, c.data.p + e->doff, e->dlen);
			pos = e->off + e->del;
		}
		ob_add(&o, msg + pos, len - pos);
		if (rc == 0 && o.oom)
			rc = MXG_E_NOMEM;
		if (rc == 0 && !o.p) {
			o.p = malloc(1);
			if (!o.p)
				rc = MXG_E_NOMEM;
		}
	}
	if (rc == 0)
		rc = verify(&c, o.p, o.n);
	walk_free(&c.w);
	free(c.data.p);
	free(c.ed);
	if (rc) {
		free(o.p);
		return rc;
	}
	*out = o.p;
	*outlen = o.n;
	return 0;
}
