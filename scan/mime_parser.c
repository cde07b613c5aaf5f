/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mime_parser.c - the streaming MIME state machine (RFC 5322, RFC 2045-2049).
 *
 * DESCRIPTION
 *	Input is cut into lines with memchr; only the start of a line that may
 *	be a boundary ("--...") and header lines are copied, every other body
 *	byte is handed on in place, and consecutive lines that cannot be
 *	delimiters (the next one does not start with '-') go out as one span,
 *	not one event per line (coalesce(); in text/plain the same for lines
 *	that cannot start a uuencode "begin"). mime_parser_reset() reuses a
 *	parser, its buffers, and the frames and message/rfc822 parsers of
 *	earlier messages (spare lists: no allocation once warm) for the next
 *	message. The line end before a boundary belongs to
 *	the boundary (RFC 2046 5.1.1), so the parser holds back each line end
 *	of a body until the next line is known not to be a delimiter. Open
 *	entities form a stack of frames (the message, multiparts, the current
 *	leaf); a message/rfc822 body is fed, after transfer decoding, into a
 *	child parser, so an encoded inner message is parsed too. All state is in
 *	the structs: the input may be split anywhere, and the events (except
 *	how body bytes are cut into chunks) do not depend on the split.
 *
 * DECISIONS (the question is always: what would Thunderbird or Outlook show,
 *	and can a malformed message hide from us a part they would show?)
 *	Those that shape the part tree are made in mime_int.h (and its
 *	functions here and in mime_header.c), which the rewriter
 *	(mime_rewrite.c) uses too, so both name the same parts.
 *	- Boundary match: an exact "--boundary" or "--boundary--" followed
 *	  by whitespace (transport padding) wins first, anywhere on the stack;
 *	  otherwise a line that merely starts with "--boundary" is a delimiter
 *	  too, as RFC 2046 5.1.1 says (mime4j and Postfix agree), reported as
 *	  MIME_ANOM_BOUNDARY_SUFFIX. Text after the delimiter is ignored (it
 *	  is not content per RFC 2046; a scanner loses nothing that a client
 *	  would render).
 *	  Delimiter candidates longer than the longest boundary + 1 KiB
 *	  are body.
 *	- Boundaries of all enclosing multiparts are checked, innermost first:
 *	  an outer boundary closes the inner multipart (MIME_ANOM_MISSING_CLOSE)
 *	  rather than letting an unclosed inner part swallow the rest.
 *	- A delimiter after the close delimiter reopens the multipart
 *	  (MIME_ANOM_PART_AFTER_CLOSE): some clients show such parts, and the
 *	  bytes are decoded and scanned either way.
 *	- A multipart whose boundary never appears delivers everything as
 *	  MIME_EV_PREAMBLE (MIME_ANOM_BOUNDARY_NOT_FOUND); one without a
 *	  boundary parameter is read as a leaf (MIME_PF_NO_BOUNDARY).
 *	- Duplicate Content-Type: the first wins, except that a later multipart
 *	  with a boundary beats an earlier non-multipart. The multipart reading
 *	  exposes every part decoded, while the bytes of the other reading are
 *	  still delivered (as preamble, parts and epilogue). Two multipart
 *	  Content-Types, or two boundary= parameters, with different
 *	  boundaries: both are delimiters of the part (mime_ct_merge), so the
 *	  parts of either reading are decoded (ClamAV reads only one and
 *	  misses an attachment behind the other).
 *	- A comment in a field name ("Content-Type(x):") is dropped before the
 *	  name is recognised (mime_field_id).
 *	- Header lines: "Name : value" is accepted; a line without a colon
 *	  before any header of the part starts the body (what mime4j and
 *	  Python do, and what a client shows as text); after a header it is
 *	  reported as a HEADER event with an empty name and the header block
 *	  goes on (so Content-Type after junk still applies, as Thunderbird
 *	  reads it). An mbox "From " line at the top of the message is junk.
 *	  A boundary inside a header block ends it (MIME_ANOM_HEADERS_NO_END).
 *	- Bare LF line ends are accepted everywhere (MIME_ANOM_BARE_LF once);
 *	  a lone CR is content.
 *	- Transfer encoding on a multipart is ignored (RFC 2045 6.4, what
 *	  clients do); on message/rfc822 it is decoded and the inner message
 *	  parsed (MIME_PF_ENCODED_MSG). Unknown encodings are passed through.
 *	- Missing Content-Type: text/plain, or message/rfc822 inside
 *	  multipart/digest (RFC 2046 5.1.5). Unparseable: text/plain, flagged.
 *	- File name: filename= of Content-Disposition (RFC 2231 and 2047
 *	  decoded) else name= of Content-Type; when both exist and differ the
 *	  other one is kept too (alt_filename) and MIME_ANOM_PARAM_DUP raised.
 *	- uuencode inside text/plain (and untyped) leaves: "begin MODE NAME"
 *	  at the start of a line opens a synthetic leaf "P.uN" that receives the
 *	  decoded file until "end"; those lines are not delivered as text.
 *
 * LIMITS (struct mime_limits, per instance): header field length
 *	(truncated), headers per part (extra ones are not sent but still
 *	interpreted), parts (the rest becomes MIME_EV_UNPARSED), depth (deeper
 *	containers are leaves), decoded bytes (the rest is dropped, structure
 *	still reported). Each is an anomaly and MIME_RF_LIMIT, never a stop.
 *
 * SECURITY: every buffer is bounded by a limit; recursion (child parsers)
 *	is bounded by max_depth; no byte is silently dropped except over
 *	max_decoded_bytes and the parts of a uuencode begin line.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mime.h"
#include "mime_codec.h"
#include "mime_int.h"
#include "mxg_bug.h"
#include "mxg_err.h"

#define DEC_SLICE 4096                     /* raw bytes decoded per step */
#define DBUF_SIZE (DEC_SLICE + 1024)       /* decoded output of one step */
#define TLINE_MAX 300                      /* uu begin line candidate */

enum fstate {
	F_HEADERS = 0, /* reading the header block */
	F_BODY,        /* leaf or message body */
	F_PREAMBLE,    /* multipart before its first delimiter */
	F_EPILOGUE,    /* multipart after its close delimiter */
};

struct frame {
	struct mime_part part;        /* public view */
	struct frame *up;             /* enclosing frame in this parser */
	enum fstate state;
	char *boundary;               /* multipart: bbuf, or NULL when none */
	size_t blen;
	bool closed;                  /* close delimiter seen */
	bool seen_delim;              /* any delimiter seen */
	bool have_ct, have_cte, have_cd;
	bool ct_multipart;            /* current Content-Type is multipart+boundary */
	bool begun;                   /* PART_BEGIN sent */
	bool digest;                  /* multipart/digest: children default rfc822 */
	char fn[MIME_FN_MAX];         /* filename storage */
	char alt[MIME_FN_MAX];        /* alt_filename storage */
	char ct_name[MIME_FN_MAX];    /* name= of Content-Type */
	char cd_name[MIME_FN_MAX];    /* filename= of Content-Disposition */
	bool name_conflict;
	union {
		struct mime_b64 b64;
		struct mime_qp qp;
		struct mime_uu uu;
	} dec;                        /* leaf/message decoder state */
	struct mime_parser *child;    /* message/rfc822: inner parser */
	/* uuencode detection in text leaves */
	bool text_scan;               /* look for "begin " lines */
	bool tbol;                    /* decoded text at beginning of line */
	uint16_t ntline;
	uint8_t tline[TLINE_MAX];
	bool uu_open;                 /* synthetic part open */
	uint32_t uu_count;
	struct mime_part uu_part;
	char uu_name[256];
	struct mime_uu uu;
	char *bbuf;                   /* boundary storage, kept with the frame */
	size_t bcap;
};

struct mime_parser {
	const struct mxg_mem *mem;
	struct mime_limits lim;
	struct mime_callbacks cb;
	void *ud;
	struct mime_parser *root;     /* the top-level parser (self for it) */
	struct mime_result res;       /* root only */
	int err;                      /* sticky: callback or NOMEM code */
	bool finished;
	/* this parser's entity stack */
	struct frame *top;
	const struct mime_part *outer; /* message/rfc822 part holding us, or NULL */
	char base_path[MIME_PATH_MAX];
	uint32_t base_depth;
	bool started;                 /* the root frame exists */
	bool first_line;              /* nothing consumed yet */
	/* line state */
	bool bol;                     /* at the beginning of a line */
	bool cr_held;                 /* mid-line: a CR ended the last chunk */
	uint8_t neol;                 /* held line end of the previous body line */
	uint8_t eol[2];
	bool unparsed;                /* max_parts reached: raw from now on */
	const struct mime_part *unparsed_part;
	size_t max_blen;              /* longest boundary on the stack */
	/* line buffer: a header line or a boundary candidate */
	uint8_t *line;
	size_t nline, line_cap;
	bool line_over;               /* header line overflowed */
	/* pending (unfolded) header field */
	uint8_t *hdr;
	size_t nhdr, hdr_cap;
	bool hdr_pending, hdr_over;
	bool limit_decoded_seen;
	bool bare_lf_seen;
	struct frame *spare;          /* root only: freed frames kept for reuse
	                               * (linked by |up|) */
	struct mime_parser *spare_sub; /* root only: released message/rfc822
	                               * parsers kept for reuse */
	struct mime_parser *next_spare; /* link in root->spare_sub */
	uint8_t dbuf[DBUF_SIZE];      /* decoder output */
	uint8_t ubuf[DBUF_SIZE + MIME_UU_LINE_MAX]; /* uu-in-text output */
};

static const char *const anom_names[MIME_ANOM_MAX] = {
	[MIME_ANOM_BARE_LF] = "bare_lf",
	[MIME_ANOM_HEADER_NO_COLON] = "header_no_colon",
	[MIME_ANOM_HEADER_LONG] = "header_long",
	[MIME_ANOM_HEADERS_MANY] = "headers_many",
	[MIME_ANOM_HEADERS_NO_END] = "headers_no_end",
	[MIME_ANOM_CT_DUP] = "ct_dup",
	[MIME_ANOM_CT_BAD] = "ct_bad",
	[MIME_ANOM_CTE_DUP] = "cte_dup",
	[MIME_ANOM_CTE_UNKNOWN] = "cte_unknown",
	[MIME_ANOM_CTE_ON_MULTIPART] = "cte_on_multipart",
	[MIME_ANOM_PARAM_DUP] = "param_dup",
	[MIME_ANOM_NO_BOUNDARY] = "no_boundary",
	[MIME_ANOM_BOUNDARY_NOT_FOUND] = "boundary_not_found",
	[MIME_ANOM_BOUNDARY_SUFFIX] = "boundary_suffix",
	[MIME_ANOM_MISSING_CLOSE] = "missing_close",
	[MIME_ANOM_PART_AFTER_CLOSE] = "part_after_close",
	[MIME_ANOM_BASE64] = "base64",
	[MIME_ANOM_QP] = "qp",
	[MIME_ANOM_UUENCODE] = "uuencode",
	[MIME_ANOM_CHARSET_UNKNOWN] = "charset_unknown",
	[MIME_ANOM_ENCODED_WORD] = "encoded_word",
	[MIME_ANOM_LIMIT_PARTS] = "limit_parts",
	[MIME_ANOM_LIMIT_DEPTH] = "limit_depth",
	[MIME_ANOM_LIMIT_DECODED] = "limit_decoded",
	[MIME_ANOM_NUL] = "nul",
};

const char *mime_anomaly_name(enum mime_anomaly a)
{
	if ((unsigned)a >= MIME_ANOM_MAX)
		return "?";
	return anom_names[a];
}

const char *mime_cte_name(enum mime_cte c)
{
	static const char *const n[] = { "7bit", "8bit", "binary", "base64",
					 "quoted-printable", "x-uuencode" };

	return (unsigned)c < sizeof(n) / sizeof(n[0]) ? n[c] : "?";
}

const char *mime_disposition_name(enum mime_disposition d)
{
	static const char *const n[] = { "none", "inline", "attachment", "other" };

	return (unsigned)d < sizeof(n) / sizeof(n[0]) ? n[d] : "?";
}

void mime_limits_default(struct mime_limits *l)
{
	l->max_header_line = 16384;
	l->max_headers = 1000;
	l->max_parts = 5000;
	l->max_depth = 32;
	l->max_decoded_bytes = 256ull << 20;
}

/* ---- events ---- */

static void emit(struct mime_parser *p, const struct mime_event *ev)
{
	struct mime_parser *r = p->root;
	int rc;

	if (r->err)
		return;
	rc = r->cb.on_event ? r->cb.on_event(r, ev, r->ud) : 0;
	if (rc < 0)
		r->err = rc;
}

static void anomaly(struct mime_parser *p, const struct mime_part *part, enum mime_anomaly a)
{
	struct mime_parser *r = p->root;
	struct mime_event ev = { .type = MIME_EV_ANOMALY, .part = part, .anomaly = a };

	r->res.anomalies[a]++;
	if (a == MIME_ANOM_LIMIT_PARTS || a == MIME_ANOM_LIMIT_DEPTH ||
	    a == MIME_ANOM_LIMIT_DECODED || a == MIME_ANOM_HEADER_LONG ||
	    a == MIME_ANOM_HEADERS_MANY)
		r->res.flags |= MIME_RF_LIMIT;
	else if (a == MIME_ANOM_BASE64 || a == MIME_ANOM_QP || a == MIME_ANOM_UUENCODE)
		r->res.flags |= MIME_RF_DECODE_ERR;
	else if (a != MIME_ANOM_BARE_LF && a != MIME_ANOM_CHARSET_UNKNOWN)
		r->res.flags |= MIME_RF_MALFORMED;
	emit(p, &ev);
}

static void emit_data(struct mime_parser *p, enum mime_event_type t,
		      const struct mime_part *part, const uint8_t *d, size_t n)
{
	struct mime_event ev = { .type = t, .part = part, .data = d, .len = n };

	if (n)
		emit(p, &ev);
}

/* Delivers decoded bytes of a leaf, within max_decoded_bytes. */
static void emit_body(struct mime_parser *p, struct mime_part *part, const uint8_t *d, size_t n)
{
	struct mime_parser *r = p->root;
	uint64_t room = r->lim.max_decoded_bytes - r->res.decoded_bytes;

	if (n == 0)
		return;
	if (n > room) {
		/* Deliver what fits, then report (order independent of chunking). */
		n = (size_t)room;
		part->flags |= MIME_PF_TRUNCATED;
		r->res.flags |= MIME_RF_TRUNCATED;
		r->res.decoded_bytes += n;
		part->decoded_size += n;
		emit_data(p, MIME_EV_BODY_CHUNK, part, d, n);
		if (!r->limit_decoded_seen) {
			r->limit_decoded_seen = true;
			anomaly(p, part, MIME_ANOM_LIMIT_DECODED);
		}
		return;
	}
	r->res.decoded_bytes += n;
	part->decoded_size += n;
	emit_data(p, MIME_EV_BODY_CHUNK, part, d, n);
}

/* ---- buffers ---- */

/* Appends to a growable buffer capped at |max|; returns false when bytes
 * were dropped by the cap. Sets p->root->err on allocation failure. */
static bool buf_add(struct mime_parser *p, uint8_t **b, size_t *n, size_t *cap, size_t max,
		    const uint8_t *d, size_t len)
{
	bool ok = true;

	if (*n + len > max) {
		len = max > *n ? max - *n : 0;
		ok = false;
	}
	if (*n + len > *cap) {
		size_t nc = *cap ? *cap : 256;
		uint8_t *nb;

		while (nc < *n + len)
			nc *= 2;
		if (nc > max)
			nc = max;
		nb = mxg_realloc(p->mem, *b, nc);
		if (!nb) {
			p->root->err = MXG_E_NOMEM;
			return false;
		}
		*b = nb;
		*cap = nc;
	}
	memcpy(*b + *n, d, len);
	*n += len;
	return ok;
}

/* ---- frames ---- */

static struct frame *frame_push(struct mime_parser *p, struct frame *up, const char *path,
				uint32_t depth)
{
	struct mime_parser *r = p->root;
	struct frame *f = r->spare;

	if (f) {
		char *bbuf = f->bbuf;
		size_t bcap = f->bcap;

		r->spare = f->up;
		memset(f, 0, offsetof(struct frame, fn));
		f->fn[0] = f->alt[0] = f->ct_name[0] = f->cd_name[0] = '\0';
		memset(&f->name_conflict, 0, sizeof(*f) - offsetof(struct frame, name_conflict));
		f->bbuf = bbuf;
		f->bcap = bcap;
	} else {
		f = mxg_calloc(p->mem, 1, sizeof(*f));
	}
	if (!f) {
		p->root->err = MXG_E_NOMEM;
		return NULL;
	}
	f->up = up;
	f->part.parent = up ? &up->part : p->outer;
	f->part.depth = depth;
	snprintf(f->part.path, sizeof(f->part.path), "%s", path);
	f->state = F_HEADERS;
	p->top = f;
	p->hdr_pending = false;
	p->nhdr = 0;
	p->nline = 0;
	p->bol = true;
	p->neol = 0;
	return f;
}

static void frame_free(struct mime_parser *p, struct frame *f);
static void sub_release(struct mime_parser *c);

/* ---- metadata from headers ---- */

static void hdr_content_type(struct mime_parser *p, struct frame *f, const char *v, size_t n)
{
	struct mime_ct ct;

	if (!mime_ct_parse(v, n, &ct)) {
		anomaly(p, &f->part, MIME_ANOM_CT_BAD);
		return;
	}
	if (f->have_ct) {
		f->part.flags |= MIME_PF_CT_DUP;
		anomaly(p, &f->part, MIME_ANOM_CT_DUP);
	}
	if (!mime_ct_replaces(f->have_ct, f->ct_multipart, ct.multipart) &&
	    !mime_ct_merge(&ct, f->boundary, f->ct_multipart))
		return;
	f->have_ct = true;
	f->ct_multipart = ct.multipart;
	snprintf(f->part.ctype, sizeof(f->part.ctype), "%s", ct.type);
	if (ct.prm.have_cs)
		snprintf(f->part.charset, sizeof(f->part.charset), "%s", ct.prm.charset);
	if (ct.prm.have_name)
		snprintf(f->ct_name, sizeof(f->ct_name), "%s", ct.prm.name);
	if (ct.prm.dup_name)
		f->name_conflict = true;
	f->boundary = NULL;
	f->blen = 0;
	if (ct.bnd) {
		size_t bl = strlen(ct.prm.boundary);

		/* The storage stays with the frame (and its reuse): a warm
		 * parser allocates nothing per message. */
		if (bl + 1 > f->bcap) {
			size_t cap = bl + 1 < 80 ? 80 : bl + 1;
			char *nb = mxg_realloc(p->mem, f->bbuf, cap);

			if (!nb) {
				p->root->err = MXG_E_NOMEM;
				return;
			}
			f->bbuf = nb;
			f->bcap = cap;
		}
		memcpy(f->bbuf, ct.prm.boundary, bl + 1);
		f->boundary = f->bbuf;
		f->blen = bl;
	}
}

static void hdr_disposition(struct mime_parser *p, struct frame *f, const char *v, size_t n)
{
	struct mime_params c;
	char tok[64];

	if (f->have_cd) {
		anomaly(p, &f->part, MIME_ANOM_PARAM_DUP);
		return;
	}
	f->have_cd = true;
	mime_params_get(v, n, tok, sizeof(tok), "filename", &c);
	if (!strcmp(tok, "inline"))
		f->part.disposition = MIME_DISP_INLINE;
	else if (!strcmp(tok, "attachment"))
		f->part.disposition = MIME_DISP_ATTACHMENT;
	else
		f->part.disposition = MIME_DISP_OTHER;
	if (c.have_name)
		snprintf(f->cd_name, sizeof(f->cd_name), "%s", c.name);
	if (c.dup_name)
		f->name_conflict = true;
}

static void hdr_cte(struct mime_parser *p, struct frame *f, const char *v, size_t n)
{
	bool known;

	if (f->have_cte) {
		anomaly(p, &f->part, MIME_ANOM_CTE_DUP);
		return;
	}
	f->have_cte = true;
	f->part.cte = mime_cte_parse(v, n, &known);
	if (!known)
		anomaly(p, &f->part, MIME_ANOM_CTE_UNKNOWN);
}

/* Emits and interprets the pending header field. */
static void hdr_flush(struct mime_parser *p)
{
	struct frame *f = p->top;
	uint8_t *h = p->hdr;
	size_t n = p->nhdr, ne, vs;

	if (!p->hdr_pending)
		return;
	p->hdr_pending = false;
	p->nhdr = 0;
	if (p->hdr_over)
		anomaly(p, &f->part, MIME_ANOM_HEADER_LONG);
	p->hdr_over = false;
	mime_field_split(h, n, &ne, &vs, &n);
	f->part.nheaders++;
	if (f->part.nheaders <= p->root->lim.max_headers) {
		struct mime_event ev = {
			.type = MIME_EV_HEADER, .part = &f->part,
			.name = (const char *)h, .name_len = ne,
			.data = h + vs, .len = n - vs,
		};

		emit(p, &ev);
	} else if (f->part.nheaders == p->root->lim.max_headers + 1) {
		anomaly(p, &f->part, MIME_ANOM_HEADERS_MANY);
	}
	switch (mime_field_id(h, ne)) {
	case MIME_FLD_CT:
		hdr_content_type(p, f, (const char *)h + vs, n - vs);
		break;
	case MIME_FLD_CTE:
		hdr_cte(p, f, (const char *)h + vs, n - vs);
		break;
	case MIME_FLD_CD:
		hdr_disposition(p, f, (const char *)h + vs, n - vs);
		break;
	case MIME_FLD_OTHER:
		break;
	}
}

/* ---- part begin / end ---- */

static struct mime_parser *parser_new_sub(struct mime_parser *parent, struct frame *f);

static void text_scan_init(struct frame *f)
{
	const char *t = f->part.ctype;

	f->text_scan = !strcmp(t, "text/plain") || (f->part.flags & MIME_PF_CT_DEFAULT);
	f->tbol = true;
}

/* Ends the header block: fixes metadata, sends PART_BEGIN. */
static void part_begin(struct mime_parser *p, struct frame *f)
{
	struct mime_parser *r = p->root;
	struct mime_part *pt = &f->part;
	uint32_t kf = 0;

	hdr_flush(p);
	if (!f->have_ct) {
		snprintf(pt->ctype, sizeof(pt->ctype), "%s",
			 mime_ct_default(f->up && f->up->digest));
		pt->flags |= MIME_PF_CT_DEFAULT;
	}
	pt->kind = mime_part_kind(pt->ctype, f->boundary != NULL, pt->depth, r->lim.max_depth,
				  &kf);
	pt->flags |= kf;
	if (kf & MIME_PF_NO_BOUNDARY)
		anomaly(p, pt, MIME_ANOM_NO_BOUNDARY);
	if (kf & MIME_PF_TOO_DEEP)
		anomaly(p, pt, MIME_ANOM_LIMIT_DEPTH);
	if (pt->kind == MIME_KIND_MULTIPART) {
		if (mime_cte_encoded(pt->cte))
			anomaly(p, pt, MIME_ANOM_CTE_ON_MULTIPART);
		pt->cte = MIME_CTE_7BIT;
		pt->boundary = f->boundary;
		f->digest = !strcmp(pt->ctype, "multipart/digest");
		if (f->blen > p->max_blen)
			p->max_blen = f->blen;
	}
	if (pt->kind == MIME_KIND_MESSAGE && mime_cte_encoded(pt->cte))
		pt->flags |= MIME_PF_ENCODED_MSG;
	/* File names. */
	if (f->cd_name[0]) {
		memcpy(f->fn, f->cd_name, sizeof(f->fn));
		if (f->ct_name[0] && strcmp(f->ct_name, f->cd_name) != 0) {
			memcpy(f->alt, f->ct_name, sizeof(f->alt));
			f->name_conflict = true;
		}
	} else if (f->ct_name[0]) {
		memcpy(f->fn, f->ct_name, sizeof(f->fn));
	}
	pt->filename = f->fn[0] ? f->fn : NULL;
	pt->alt_filename = f->alt[0] ? f->alt : NULL;
	if (f->name_conflict)
		anomaly(p, pt, MIME_ANOM_PARAM_DUP);
	if (pt->charset[0] && pt->kind == MIME_KIND_LEAF && !strncmp(pt->ctype, "text/", 5)) {
		bool unknown = false;
		char tmp[8];

		mime_utf8_oneshot(pt->charset, (const uint8_t *)"", 0, tmp, sizeof(tmp), &unknown);
		if (unknown) {
			pt->flags |= MIME_PF_CS_UNKNOWN;
			anomaly(p, pt, MIME_ANOM_CHARSET_UNKNOWN);
		}
	}
	pt->index = r->res.parts++;
	if (pt->kind == MIME_KIND_LEAF)
		r->res.leaves++;
	if (pt->depth > r->res.max_depth)
		r->res.max_depth = pt->depth;
	f->begun = true;
	struct mime_event ev = { .type = MIME_EV_PART_BEGIN, .part = pt };

	emit(p, &ev);
	switch (pt->kind) {
	case MIME_KIND_MULTIPART:
		f->state = F_PREAMBLE;
		break;
	case MIME_KIND_MESSAGE:
		f->state = F_BODY;
		f->child = parser_new_sub(p, f);
		break;
	case MIME_KIND_LEAF:
		f->state = F_BODY;
		if (pt->cte == MIME_CTE_UUENCODE)
			memset(&f->dec.uu, 0, sizeof(f->dec.uu));
		if (pt->cte != MIME_CTE_UUENCODE)
			text_scan_init(f);
		break;
	}
	p->bol = true;
	p->neol = 0;
	p->nline = 0;
}

static void part_end_event(struct mime_parser *p, struct mime_part *pt)
{
	struct mime_event ev = { .type = MIME_EV_PART_END, .part = pt };

	emit(p, &ev);
}

/* ---- uuencode inside text ---- */

static void uu_open(struct mime_parser *p, struct frame *f, const char *name)
{
	struct mime_part *u = &f->uu_part;
	struct mime_parser *r = p->root;

	memset(u, 0, sizeof(*u));
	mime_path_fmt(u->path, f->part.path, ".u", ++f->uu_count);
	u->parent = &f->part;
	u->depth = f->part.depth + 1;
	u->kind = MIME_KIND_LEAF;
	snprintf(u->ctype, sizeof(u->ctype), "application/octet-stream");
	u->cte = MIME_CTE_UUENCODE;
	u->disposition = MIME_DISP_ATTACHMENT;
	u->flags = MIME_PF_UUENCODE;
	snprintf(f->uu_name, sizeof(f->uu_name), "%s", name);
	u->filename = f->uu_name;
	memset(&f->uu, 0, sizeof(f->uu));
	f->uu.state = MIME_UU_DATA;
	f->uu_open = true;
	f->part.nchildren++;
	u->index = r->res.parts++;
	r->res.leaves++;
	r->res.flags |= MIME_RF_UUENCODE;
	if (u->depth > r->res.max_depth)
		r->res.max_depth = u->depth;
	struct mime_event ev = { .type = MIME_EV_PART_BEGIN, .part = u };

	emit(p, &ev);
}

static void uu_close(struct mime_parser *p, struct frame *f, bool eof)
{
	if (eof) {
		size_t o = mime_uu_finish(&f->uu, p->ubuf);

		emit_body(p, &f->uu_part, p->ubuf, o);
	}
	f->uu_part.decode_errors = f->uu.errors;
	if (f->uu.errors)
		anomaly(p, &f->uu_part, MIME_ANOM_UUENCODE);
	part_end_event(p, &f->uu_part);
	f->uu_open = false;
	f->tbol = true;
}

/* Delivers decoded text of a text leaf, diverting uuencoded files. */
static void text_out(struct mime_parser *p, struct frame *f, const uint8_t *d, size_t n)
{
	static const char begin[] = "begin ";

	if (!f->text_scan) {
		emit_body(p, &f->part, d, n);
		return;
	}
	while (n && !p->root->err) {
		const uint8_t *q;
		size_t m;

		if (f->uu_open) {
			q = memchr(d, '\n', n);
			m = q ? (size_t)(q - d) + 1 : n;
			size_t o = mime_uu_decode(&f->uu, d, m, p->ubuf);

			emit_body(p, &f->uu_part, p->ubuf, o);
			if (f->uu.state == MIME_UU_DONE)
				uu_close(p, f, false);
			d += m;
			n -= m;
			continue;
		}
		if (f->tbol && (f->ntline || d[0] == 'b')) {
			q = memchr(d, '\n', n);
			m = q ? (size_t)(q - d) + 1 : n;
			size_t take = m;

			if (f->ntline + take > TLINE_MAX)
				take = TLINE_MAX - f->ntline;
			memcpy(f->tline + f->ntline, d, take);
			f->ntline += (uint16_t)take;
			size_t cmp = f->ntline < 6 ? f->ntline : 6;
			bool prefix = !memcmp(f->tline, begin, cmp);

			if (!prefix || (take < m)) {
				/* Not a begin line: deliver as text. */
				emit_body(p, &f->part, f->tline, f->ntline);
				f->ntline = 0;
				f->tbol = (q && take == m);
				d += take;
				n -= take;
				continue;
			}
			d += take;
			n -= take;
			if (!q)
				break; /* wait for the rest of the line */
			size_t l = f->ntline - 1;

			if (l && f->tline[l - 1] == '\r')
				l--;
			char name[256];

			if (mime_uu_is_begin(f->tline, l, name, sizeof(name)))
				uu_open(p, f, name);
			else
				emit_body(p, &f->part, f->tline, f->ntline);
			f->ntline = 0;
			continue;
		}
		/* Whole lines up to the next one that starts with 'b' (a
		 * possible "begin"), in one event. */
		q = memchr(d, '\n', n);
		while (q && q + 1 < d + n && q[1] != 'b')
			q = memchr(q + 1, '\n', (size_t)(d + n - q - 1));
		m = q ? (size_t)(q - d) + 1 : n;
		emit_body(p, &f->part, d, m);
		f->tbol = q != NULL;
		d += m;
		n -= m;
	}
}

static void text_finish(struct mime_parser *p, struct frame *f)
{
	if (f->ntline) {
		emit_body(p, &f->part, f->tline, f->ntline);
		f->ntline = 0;
	}
	if (f->uu_open)
		uu_close(p, f, true);
}

/* Decoded bytes of a leaf or message frame go on. */
static void deliver(struct mime_parser *p, struct frame *f, const uint8_t *d, size_t n)
{
	if (!n)
		return;
	if (f->part.kind == MIME_KIND_MESSAGE) {
		f->part.decoded_size += n;
		if (f->child)
			mime_parser_feed(f->child, d, n);
		return;
	}
	text_out(p, f, d, n);
}

static void body_data(struct mime_parser *p, struct frame *f, const uint8_t *d, size_t n)
{
	f->part.raw_size += n;
	if (!mime_cte_encoded(f->part.cte)) {
		deliver(p, f, d, n);
		return;
	}
	while (n && !p->root->err) {
		size_t k = n < DEC_SLICE ? n : DEC_SLICE, o;

		switch (f->part.cte) {
		case MIME_CTE_BASE64:
			o = mime_b64_decode(&f->dec.b64, d, k, p->dbuf);
			break;
		case MIME_CTE_QP:
			o = mime_qp_decode(&f->dec.qp, d, k, p->dbuf);
			break;
		default:
			o = mime_uu_decode(&f->dec.uu, d, k, p->dbuf);
			break;
		}
		deliver(p, f, p->dbuf, o);
		d += k;
		n -= k;
	}
}

static uint32_t dec_finish(struct mime_parser *p, struct frame *f)
{
	size_t o = 0;
	uint32_t errs = 0;

	switch (f->part.cte) {
	case MIME_CTE_BASE64:
		o = mime_b64_finish(&f->dec.b64, p->dbuf);
		errs = f->dec.b64.errors;
		break;
	case MIME_CTE_QP:
		o = mime_qp_finish(&f->dec.qp, p->dbuf);
		errs = f->dec.qp.errors;
		break;
	case MIME_CTE_UUENCODE:
		if (f->dec.uu.state == MIME_UU_SEARCH)
			f->dec.uu.errors++; /* no begin line at all */
		o = mime_uu_finish(&f->dec.uu, p->dbuf);
		errs = f->dec.uu.errors;
		break;
	default:
		break;
	}
	deliver(p, f, p->dbuf, o);
	return errs;
}

/* Closes the top frame of |p| and pops it. */
static void frame_close(struct mime_parser *p)
{
	struct frame *f = p->top;
	struct mime_part *pt = &f->part;

	if (!f->begun)
		part_begin(p, f);
	if (pt->kind == MIME_KIND_MULTIPART) {
		if (!f->seen_delim)
			anomaly(p, pt, MIME_ANOM_BOUNDARY_NOT_FOUND);
		else if (!f->closed) {
			pt->flags |= MIME_PF_NO_CLOSE;
			anomaly(p, pt, MIME_ANOM_MISSING_CLOSE);
		}
	} else {
		uint32_t errs = dec_finish(p, f);

		pt->decode_errors = errs;
		if (errs) {
			enum mime_anomaly a = pt->cte == MIME_CTE_BASE64 ? MIME_ANOM_BASE64 :
					      pt->cte == MIME_CTE_QP ? MIME_ANOM_QP :
					      MIME_ANOM_UUENCODE;

			anomaly(p, pt, a);
		}
		if (pt->kind == MIME_KIND_MESSAGE && f->child) {
			mime_parser_finish(f->child);
			sub_release(f->child);
			f->child = NULL;
		} else if (pt->kind == MIME_KIND_LEAF) {
			text_finish(p, f);
		}
	}
	part_end_event(p, pt);
	p->top = f->up;
	if (p->top && p->top->part.kind == MIME_KIND_MULTIPART)
		p->top->part.raw_size += pt->raw_size;
	frame_free(p, f);
}

/* Frames and inner parsers are not freed but kept on the root's spare
 * lists: their number is bounded by the deepest nesting seen, and a warm
 * parser then allocates nothing per message. */
static void frame_free(struct mime_parser *p, struct frame *f)
{
	struct mime_parser *r = p->root;

	if (f->child)
		sub_release(f->child);
	f->child = NULL;
	f->up = r->spare;
	r->spare = f;
}

/* An inner (message/rfc822) parser is done: its frames and itself go to
 * the root's spare lists, its buffers stay with it. */
static void sub_release(struct mime_parser *c)
{
	struct mime_parser *r = c->root;

	while (c->top) {
		struct frame *f = c->top;

		c->top = f->up;
		frame_free(c, f);
	}
	c->next_spare = r->spare_sub;
	r->spare_sub = c;
}

/* ---- boundaries ---- */

enum mime_kind mime_part_kind(const char *ctype, bool bnd, uint32_t depth, uint32_t max_depth,
			      uint32_t *flags)
{
	enum mime_kind k = MIME_KIND_LEAF;

	if (!strncmp(ctype, "multipart/", 10)) {
		if (bnd)
			k = MIME_KIND_MULTIPART;
		else
			*flags |= MIME_PF_NO_BOUNDARY;
	} else if (!strcmp(ctype, "message/rfc822") || !strcmp(ctype, "message/global")) {
		k = MIME_KIND_MESSAGE;
	}
	if (k != MIME_KIND_LEAF && depth >= max_depth) {
		*flags |= MIME_PF_TOO_DEEP;
		k = MIME_KIND_LEAF;
	}
	return k;
}

const void *mime_match_boundary(const struct mime_bstack *s, const uint8_t *l, size_t n,
				bool *close, bool *suffix)
{
	const void *e;
	const char *b;
	size_t t = n, bl;

	*suffix = false;
	if (n < 3 || l[0] != '-' || l[1] != '-')
		return NULL;
	while (t > 2 && (l[t - 1] == ' ' || l[t - 1] == '\t' || l[t - 1] == '\r'))
		t--;
	/* A boundary may hold alternatives separated by '\n' (two boundary=
	 * parameters or two multipart Content-Types, mime_ct_merge): each
	 * one is a delimiter of the entity. */
	for (e = s->next(s->ud, NULL, &b, &bl); e; e = s->next(s->ud, e, &b, &bl)) {
		for (size_t al, rest = bl; rest; b += al + 1, rest -= al + (al < rest)) {
			const char *nl = memchr(b, '\n', rest);

			al = nl ? (size_t)(nl - b) : rest;
			if (!al || t - 2 < al || memcmp(l + 2, b, al) != 0)
				continue;
			if (t - 2 == al) {
				*close = false;
				return e;
			}
			if (t - 2 == al + 2 && l[t - 1] == '-' && l[t - 2] == '-') {
				*close = true;
				return e;
			}
		}
	}
	for (e = s->next(s->ud, NULL, &b, &bl); e; e = s->next(s->ud, e, &b, &bl)) {
		for (size_t al, rest = bl; rest; b += al + 1, rest -= al + (al < rest)) {
			const char *nl = memchr(b, '\n', rest);

			al = nl ? (size_t)(nl - b) : rest;
			if (!al || n - 2 < al || memcmp(l + 2, b, al) != 0)
				continue;
			*close = n - 2 >= al + 2 && l[2 + al] == '-' && l[3 + al] == '-';
			*suffix = true;
			return e;
		}
	}
	return NULL;
}

/* mime_bstack over the frames of |ud| (a parser). */
static const void *frame_next(const void *ud, const void *cur, const char **b, size_t *blen)
{
	const struct mime_parser *p = ud;
	const struct frame *f = cur ? ((const struct frame *)cur)->up : p->top;

	if (f) {
		*b = f->boundary;
		*blen = f->part.kind == MIME_KIND_MULTIPART && f->begun ? f->blen : 0;
	}
	return f;
}

/* Returns the frame whose delimiter |l| (no line end) is, or NULL; *close is
 * set for a close delimiter (mime_match_boundary). A prefix match is
 * reported as MIME_ANOM_BOUNDARY_SUFFIX. */
static struct frame *match_boundary(struct mime_parser *p, const uint8_t *l, size_t n, bool *close)
{
	const struct mime_bstack s = { .next = frame_next, .ud = p };
	bool suffix;
	struct frame *f = (struct frame *)mime_match_boundary(&s, l, n, close, &suffix);

	if (f && suffix)
		anomaly(p, &f->part, MIME_ANOM_BOUNDARY_SUFFIX);
	return f;
}

static void boundary_hit(struct mime_parser *p, struct frame *m, bool close)
{
	struct mime_parser *r = p->root;

	/* Close everything opened inside |m|. */
	while (p->top != m && !r->err) {
		struct frame *f = p->top;

		if (f->state == F_HEADERS && (p->hdr_pending || f->part.nheaders))
			anomaly(p, &f->part, MIME_ANOM_HEADERS_NO_END);
		frame_close(p);
	}
	if (r->err)
		return;
	m->seen_delim = true;
	if (close) {
		m->closed = true;
		m->state = F_EPILOGUE;
		return;
	}
	if (m->closed) {
		anomaly(p, &m->part, MIME_ANOM_PART_AFTER_CLOSE);
		m->closed = false;
	}
	if (r->res.parts >= r->lim.max_parts) {
		anomaly(p, &m->part, MIME_ANOM_LIMIT_PARTS);
		r->res.flags |= MIME_RF_UNPARSED;
		p->unparsed = true;
		p->unparsed_part = &m->part;
		return;
	}
	m->state = F_BODY; /* unused while a child is open */
	char path[MIME_PATH_MAX];

	m->part.nchildren++;
	mime_path_fmt(path, m->part.path, ".", m->part.nchildren);
	frame_push(p, m, path, m->part.depth + 1);
}

/* ---- lines ---- */

/* Raw body bytes of the top frame go to their sink. */
static void sink(struct mime_parser *p, const uint8_t *d, size_t n)
{
	struct frame *f = p->top;

	if (!n)
		return;
	if (p->unparsed) {
		emit_data(p, MIME_EV_UNPARSED, p->unparsed_part, d, n);
		return;
	}
	switch (f->state) {
	case F_BODY:
		body_data(p, f, d, n);
		break;
	case F_PREAMBLE:
		f->part.raw_size += n;
		emit_data(p, MIME_EV_PREAMBLE, &f->part, d, n);
		break;
	case F_EPILOGUE:
		f->part.raw_size += n;
		emit_data(p, MIME_EV_EPILOGUE, &f->part, d, n);
		break;
	case F_HEADERS:
		(void)MXG_BUG_ON(1);
		break;
	}
}

static void flush_eol(struct mime_parser *p)
{
	if (p->neol) {
		uint8_t e[2];
		size_t n = p->neol;

		memcpy(e, p->eol, n);
		p->neol = 0;
		sink(p, e, n);
	}
}

static void note_bare_lf(struct mime_parser *p)
{
	struct mime_parser *r = p->root;

	if (!r->bare_lf_seen) {
		r->bare_lf_seen = true;
		anomaly(p, &p->top->part, MIME_ANOM_BARE_LF);
	}
}

/* One complete header-block line |l| (|n| bytes, no line end); |eol| is the
 * line end that followed it (0, 1 or 2 bytes). */
static void header_line(struct mime_parser *p, const uint8_t *l, size_t n, const uint8_t *eol,
			size_t neol)
{
	struct mime_parser *r = p->root;
	struct frame *f = p->top;
	bool close;
	struct frame *m;
	enum mime_hline k;

	if (n && memchr(l, '\0', n)) /* l may be NULL when n is 0 */
		anomaly(p, &f->part, MIME_ANOM_NUL);
	m = match_boundary(p, l, n, &close);
	if (m) {
		hdr_flush(p);
		if (f->part.nheaders)
			anomaly(p, &f->part, MIME_ANOM_HEADERS_NO_END);
		part_begin(p, f);
		boundary_hit(p, m, close);
		return;
	}
	k = mime_hline_kind(l, n, p->first_line, p->hdr_pending, f->part.nheaders != 0);
	if (k == MIME_HL_END) {
		part_begin(p, f);
		return;
	}
	if (k == MIME_HL_FOLD) {
		/* Folding: the line break goes, the whitespace stays. */
		if (!buf_add(p, &p->hdr, &p->nhdr, &p->hdr_cap, r->lim.max_header_line, l, n))
			p->hdr_over = true;
		return;
	}
	if (k == MIME_HL_FIELD || k == MIME_HL_JUNK) {
		if (k == MIME_HL_JUNK)
			anomaly(p, &f->part, MIME_ANOM_HEADER_NO_COLON);
		hdr_flush(p);
		p->hdr_pending = true;
		p->nhdr = 0;
		if (!buf_add(p, &p->hdr, &p->nhdr, &p->hdr_cap, r->lim.max_header_line, l, n))
			p->hdr_over = true;
		if (k == MIME_HL_JUNK)
			hdr_flush(p); /* a junk line is never folded into */
		return;
	}
	/* Not a header and no header yet: the body starts here. */
	anomaly(p, &f->part, MIME_ANOM_HEADER_NO_COLON);
	part_begin(p, f);
	if (p->top != f || r->err)
		return;
	sink(p, l, n);
	if (neol) {
		memcpy(p->eol, eol, neol);
		p->neol = (uint8_t)neol;
	}
}

/* Header block input: collects one line. Returns bytes consumed. */
static size_t hdr_input(struct mime_parser *p, const uint8_t *in, size_t len)
{
	const uint8_t *q = memchr(in, '\n', len);
	size_t m = q ? (size_t)(q - in) + 1 : len;
	size_t cap = mime_hline_cap(&p->root->lim);
	const uint8_t *l = p->line;

	if (q && !p->nline && !p->line_over && m <= cap) {
		/* The whole line is in the input: read it there, no copy
		 * (what follows only reads the line). */
		l = in;
		p->nline = m;
	} else if (!buf_add(p, &p->line, &p->nline, &p->line_cap, cap, in, m)) {
		p->line_over = true;
	}
	if (!q)
		return m;
	if (l != in)
		l = p->line;
	size_t n = p->nline;
	uint8_t eol[2] = { '\n', 0 };
	size_t ne = 1;

	if (p->line_over) {
		/* Truncated: the cut line still ends here. */
		p->hdr_over = true;
		if (n && l[n - 1] == '\n')
			n--;
	} else {
		n--; /* '\n' */
	}
	if (n && l[n - 1] == '\r') {
		n--;
		eol[0] = '\r';
		eol[1] = '\n';
		ne = 2;
	} else {
		note_bare_lf(p);
	}
	p->line_over = false;
	p->nline = 0;
	/* header_line may sink into the body: copy the line out of p->line
	 * is unnecessary, sink never touches p->line. */
	header_line(p, l, n, eol, ne);
	p->first_line = false;
	if (p->hdr_over && !p->hdr_pending)
		p->hdr_over = false;
	return m;
}

/* Mid-line body input whose line ends at |q|, and the next line does not
 * start with '-': that line end cannot precede a delimiter, so the
 * following lines are taken too, as long as each is complete and the one
 * after it cannot be a delimiter either. One sink() then carries many
 * lines (a BODY_CHUNK per line cost more than the scanning itself); only
 * the last line end is held back as usual. Returns the bytes consumed, or
 * 0 when there was only the one line (the caller's single-line path). */
static size_t coalesce(struct mime_parser *p, const uint8_t *in, size_t len, const uint8_t *q)
{
	const uint8_t *end = in + len, *last = q, *e;
	size_t m = (size_t)(q - in), n;
	bool seen = p->root->bare_lf_seen, first_bare;

	/* MIME_ANOM_BARE_LF is reported once, right after the line that
	 * showed it, as on the one-line path: a span ends at that line. */
	first_bare = m == 0 ? !p->cr_held : in[m - 1] != '\r';
	if (!seen && first_bare)
		return 0;
	while (last + 1 < end && last[1] != '-') {
		e = memchr(last + 1, '\n', (size_t)(end - last - 1));
		if (!e)
			break;
		last = e;
		if (!seen && e[-1] != '\r')
			break;
	}
	if (last == q)
		return 0;
	/* The first line end is content now: a CR held from the previous
	 * chunk goes out first. */
	if (p->cr_held) {
		p->cr_held = false;
		sink(p, (const uint8_t *)"\r", 1);
	}
	n = (size_t)(last - in);
	if (in[n - 1] == '\r') {
		sink(p, in, n - 1);
		p->eol[0] = '\r';
		p->eol[1] = '\n';
		p->neol = 2;
	} else {
		sink(p, in, n);
		p->eol[0] = '\n';
		p->neol = 1;
		note_bare_lf(p);
	}
	p->bol = true;
	return n + 1;
}

/* Body input (leaf, preamble, epilogue). Returns bytes consumed. A line
 * that starts with '-' is collected (up to mime_cand_max(), the longest
 * boundary plus MIME_CAND_TAIL_MAX) until it is known whether it is a
 * delimiter; a longer one is body. */
static size_t body_input(struct mime_parser *p, const uint8_t *in, size_t len)
{
	const uint8_t *q;
	size_t m;

	if (!p->bol) {
		q = memchr(in, '\n', len);
		if (!q) {
			size_t n = len;
			bool hold = in[n - 1] == '\r';

			if (p->cr_held) {
				p->cr_held = false;
				sink(p, (const uint8_t *)"\r", 1);
			}
			if (hold)
				n--;
			sink(p, in, n);
			p->cr_held = hold;
			return len;
		}
		m = (size_t)(q - in);
		if (q + 1 < in + len && q[1] != '-') {
			size_t k = coalesce(p, in, len, q);

			if (k)
				return k;
		}
		if (m == 0 && p->cr_held) {
			p->cr_held = false;
			p->eol[0] = '\r';
			p->eol[1] = '\n';
			p->neol = 2;
		} else {
			if (p->cr_held) {
				p->cr_held = false;
				sink(p, (const uint8_t *)"\r", 1);
			}
			if (m && in[m - 1] == '\r') {
				sink(p, in, m - 1);
				p->eol[0] = '\r';
				p->eol[1] = '\n';
				p->neol = 2;
			} else {
				sink(p, in, m);
				p->eol[0] = '\n';
				p->neol = 1;
				note_bare_lf(p);
			}
		}
		p->bol = true;
		return m + 1;
	}
	/* At the beginning of a line, the previous line end held. */
	if (p->unparsed || (p->nline == 0 && in[0] != '-') ||
	    (p->nline == 1 && in[0] != '-')) {
		flush_eol(p);
		if (p->nline) {
			sink(p, p->line, p->nline);
			p->nline = 0;
		}
		p->bol = false;
		return 0;
	}
	size_t cand_max = mime_cand_max(p->max_blen);

	q = memchr(in, '\n', len);
	m = q ? (size_t)(q - in) + 1 : len;
	if (p->nline + m > cand_max) {
		/* Too long for a delimiter: plain body from here. */
		flush_eol(p);
		sink(p, p->line, p->nline);
		p->nline = 0;
		p->bol = false;
		return 0;
	}
	if (!buf_add(p, &p->line, &p->nline, &p->line_cap, cand_max, in, m))
		return m;
	if (p->nline >= 2 && p->line[1] != '-') {
		/* "-x...": cannot be a delimiter; continue mid-line. */
		flush_eol(p);
		size_t keep = p->nline;
		size_t back = m;

		/* Re-deliver this chunk's part of the line mid-line. */
		p->nline = 0;
		sink(p, p->line, keep - back);
		p->bol = false;
		return m - back;
	}
	if (!q)
		return m;
	size_t n = p->nline - 1;
	bool crlf = n && p->line[n - 1] == '\r';
	bool close;
	struct frame *f;

	if (crlf)
		n--;
	else
		note_bare_lf(p);
	f = match_boundary(p, p->line, n, &close);
	p->nline = 0;
	if (f) {
		p->neol = 0; /* the line end belongs to the delimiter */
		boundary_hit(p, f, close);
		p->bol = true;
		return m;
	}
	flush_eol(p);
	sink(p, p->line, n);
	p->eol[0] = crlf ? '\r' : '\n';
	p->eol[1] = '\n';
	p->neol = crlf ? 2 : 1;
	p->bol = true;
	return m;
}

/* ---- public ---- */

static struct mime_parser *parser_alloc(const struct mxg_mem *mem, const struct mime_limits *lim,
					const struct mime_callbacks *cb, void *ud)
{
	struct mime_parser *p;

	if (!mem)
		mem = mxg_mem_default();
	p = mxg_calloc(mem, 1, sizeof(*p));
	if (!p)
		return NULL;
	p->mem = mem;
	mime_limits_norm(&p->lim, lim);
	if (cb)
		p->cb = *cb;
	p->ud = ud;
	p->root = p;
	p->bol = true;
	p->first_line = true;
	snprintf(p->base_path, sizeof(p->base_path), "%s", MIME_ROOT_PATH);
	return p;
}

struct mime_parser *mime_parser_new(const struct mxg_mem *mem, const struct mime_limits *limits,
				    const struct mime_callbacks *cb, void *ud)
{
	return parser_alloc(mem, limits, cb, ud);
}

static struct mime_parser *parser_new_sub(struct mime_parser *parent, struct frame *f)
{
	struct mime_parser *r = parent->root;
	struct mime_parser *c = r->spare_sub;

	if (c) {
		/* Reuse a released inner parser with its buffers: as new. */
		uint8_t *line = c->line, *hdr = c->hdr;
		size_t line_cap = c->line_cap, hdr_cap = c->hdr_cap;

		r->spare_sub = c->next_spare;
		memset(c, 0, offsetof(struct mime_parser, dbuf));
		c->mem = parent->mem;
		mime_limits_norm(&c->lim, &r->lim);
		c->root = c;
		c->bol = true;
		c->first_line = true;
		c->line = line;
		c->line_cap = line_cap;
		c->hdr = hdr;
		c->hdr_cap = hdr_cap;
	} else {
		c = parser_alloc(parent->mem, &r->lim, NULL, NULL);
	}
	if (!c) {
		r->err = MXG_E_NOMEM;
		return NULL;
	}
	c->root = r;
	c->outer = &f->part;
	c->base_depth = f->part.depth + 1;
	mime_path_fmt(c->base_path, f->part.path, ".", 1);
	c->first_line = false;
	f->part.nchildren = 1;
	return c;
}

void mime_parser_free(struct mime_parser *p)
{
	if (!p)
		return;
	while (p->top) {
		struct frame *f = p->top;

		p->top = f->up;
		frame_free(p, f);
	}
	if (p->root == p) {
		while (p->spare) {
			struct frame *f = p->spare;

			p->spare = f->up;
			mxg_free(p->mem, f->bbuf);
			mxg_free(p->mem, f);
		}
		while (p->spare_sub) {
			struct mime_parser *c = p->spare_sub;

			p->spare_sub = c->next_spare;
			mxg_free(p->mem, c->line);
			mxg_free(p->mem, c->hdr);
			mxg_free(p->mem, c);
		}
	}
	mxg_free(p->mem, p->line);
	mxg_free(p->mem, p->hdr);
	mxg_free(p->mem, p);
}

void mime_parser_reset(struct mime_parser *p)
{
	struct frame *spare;
	struct mime_parser *spare_sub;
	uint8_t *line = p->line, *hdr = p->hdr;
	size_t line_cap = p->line_cap, hdr_cap = p->hdr_cap;

	while (p->top) {
		struct frame *f = p->top;

		p->top = f->up;
		frame_free(p, f);
	}
	spare = p->spare;
	spare_sub = p->spare_sub;
	/* Everything before dbuf is state; the two decode buffers need no
	 * clearing (always written before they are read). */
	memset((uint8_t *)p + offsetof(struct mime_parser, res), 0,
	       offsetof(struct mime_parser, dbuf) - offsetof(struct mime_parser, res));
	p->spare = spare;
	p->spare_sub = spare_sub;
	p->line = line;
	p->line_cap = line_cap;
	p->hdr = hdr;
	p->hdr_cap = hdr_cap;
	p->bol = true;
	p->first_line = true;
	snprintf(p->base_path, sizeof(p->base_path), "%s", MIME_ROOT_PATH);
}

int mime_parser_feed(struct mime_parser *p, const uint8_t *in, size_t len)
{
	struct mime_parser *r = p->root;

	if (r->err)
		return r->err;
	if (p == r)
		r->res.input_bytes += len;
	if (!p->started) {
		if (!len)
			return 0;
		p->started = true;
		if (!frame_push(p, NULL, p->base_path, p->base_depth))
			return r->err;
	}
	while (len && !r->err) {
		size_t k;

		if (p->top->state == F_HEADERS && !p->unparsed)
			k = hdr_input(p, in, len);
		else
			k = body_input(p, in, len);
		in += k;
		len -= k;
	}
	return r->err;
}

int mime_parser_finish(struct mime_parser *p)
{
	struct mime_parser *r = p->root;

	if (r->err || p->finished)
		return r->err;
	p->finished = true;
	if (!p->started) {
		/* Empty input: an empty message is still one (empty) part. */
		p->started = true;
		if (!frame_push(p, NULL, p->base_path, p->base_depth))
			return r->err;
	}
	if (p->top && p->top->state == F_HEADERS && !p->unparsed) {
		if (p->nline) {
			size_t n = p->nline;

			if (p->line[n - 1] == '\r')
				n--;
			p->nline = 0;
			header_line(p, p->line, n, NULL, 0);
		}
	} else if (p->top) {
		if (p->bol && p->nline) {
			bool close;
			size_t n = p->nline;
			struct frame *f = NULL;

			if (p->line[n - 1] == '\r')
				n--;
			if (!p->unparsed)
				f = match_boundary(p, p->line, n, &close);
			if (f) {
				p->nline = 0;
				p->neol = 0;
				boundary_hit(p, f, close);
			} else {
				flush_eol(p);
				sink(p, p->line, p->nline);
				p->nline = 0;
			}
		} else if (p->cr_held) {
			p->cr_held = false;
			sink(p, (const uint8_t *)"\r", 1);
		}
		flush_eol(p);
	}
	while (p->top && !r->err)
		frame_close(p);
	return r->err;
}

const struct mime_result *mime_parser_result(const struct mime_parser *p)
{
	return &p->root->res;
}
