/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_session.c - one message at a time through the scan engine (scan.h).
 *
 * The raw message goes to the MIME parser; its events drive everything:
 *
 *	HEADER      message headers (depth 0, and those of embedded
 *	            message/rfc822 parts) are RFC 2047 decoded and matched by the
 *	            block-mode line database as "Name: value" (SCAN_W_HEADER);
 *	            the top-level Subject also as SCAN_W_SUBJECT. Top-level
 *	            headers are kept (arena) for the content filters.
 *	PART_BEGIN  the part enters the inventory; file names are matched
 *	            (SCAN_W_ATTACH_NAME); a leaf opens a "file" (struct sfile:
 *	            digests, the virus stream, the first bytes, a hit map);
 *	            a text leaf (text/...) also opens the text pipeline (charset ->
 *	            UTF-8 -> HTML reduced to text and links when text/html ->
 *	            the consumers below).
 *	BODY_CHUNK  decoded bytes go to the file and, for text, the pipeline.
 *	PREAMBLE, EPILOGUE, UNPARSED
 *	            bytes outside any part (before the first or after the last
 *	            delimiter of a multipart, or after max_parts) are a "raw"
 *	            file of that multipart: virus stream and body consumers,
 *	            read as UTF-8 (flag SCAN_PF_RAW). A malformed message cannot
 *	            park content where no leaf is.
 *	PART_END    the file ends: end-of-data matches flushed, digests
 *	            finished, hash signatures looked up, body and logical
 *	            signatures evaluated against the target type and end-of-file
 *	            offsets; a PE held whole gets its section hashes and
 *	            PE-relative body signatures checked (pe_verdicts, scan_pe.c);
 *	            the true type detected (scan_ftype); an archive is
 *	            expanded and each member runs through the same per-file
 *	            pipeline (struct sfile) as a part of its own.
 *
 * Text consumers (text_scan): the body database (Hyperscan stream), the
 * content filters' body (PCRE2, scan_cfilter), one DLP stream per message
 * (scan_dlp: counts add up over the parts, no match spans two parts) and
 * the URL extractor (scan_url; HTML links are added as links) and, when
 * scan_limits.keep_text asks, a copy for the caller (scan_result.text: the
 * same bytes, a '\n' between two parts, capped; the buffer grows by
 * doubling up to the cap and is kept across messages). Text of
 * attachments and archive members whose true type is text, HTML or XML
 * (first EXTRACT_MAX bytes) goes to DLP and URLs only: body rules are about
 * what the message says, DLP about what it carries.
 *
 * True type: files that look like attachments (a file name, disposition
 * attachment, a non-text type, archive members) get scan_ftype_detect on
 * their first FTYPE_PREFIX bytes, or on the whole file for zip, OLE2 and
 * PDF (their macros and JavaScript can be anywhere). Inline text parts are
 * typed by their magic numbers only (a text body is shown, not run); a
 * text/plain body that starts like a PE or a zip gets the full detection.
 *
 * Buffering: the first SNIFF_WINDOW bytes of every file are copied to
 * decide; beyond that only archives, OLE2 and PDF (whole, up to
 * ARCHIVE_BUF_MAX; libarchive needs random access), PE files when PE
 * signatures are loaded (whole, up to PE_BUF_MAX: section table and
 * sections can be anywhere) and attachment prefixes are kept. Body bytes
 * are otherwise never copied: the parser hands over spans of many lines,
 * valid UTF-8 goes to the consumers in place (mime_utf8_pass_prefix), HTML
 * is reduced straight from the input.
 *
 * Streams: one Hyperscan stream per open file and database, reset (not
 * reallocated) between files: a session allocates at most four virus
 * streams (a MIME leaf, the archive member being expanded from it, a raw
 * region, a data: URI of an HTML link) and one text stream, whatever the
 * number of parts or messages.
 *
 * data: URIs: the HTML reducer decodes them (mime_html.c); each is a file
 * of its own (struct sfile emb, part "P/dataN", SCAN_PF_EMBEDDED), fed as
 * its bytes are decoded, never held beyond what a file keeps.
 *
 * Reuse: scan_session_reset() keeps every object and buffer (parser with
 * its frames, streams, digest contexts, converter, HTML reducer, DLP, URL
 * and filter state, vectors, the arena blocks up to TRIM_BYTES); a buffer grown past
 * TRIM_BYTES by a big attachment is given back at reset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mime_codec.h"
#include "mxg_err.h"
#include "scan_hs.h"
#include "scan_pe.h"

#define HEAD_MAX 64                 /* first bytes kept per file */
#define SNIFF_WINDOW 1024           /* bytes buffered to decide what to keep */
#define ARCHIVE_BUF_MAX (32u << 20) /* largest file buffered whole */
#define PE_BUF_MAX ARCHIVE_BUF_MAX  /* largest PE held for PE signatures */
#define FTYPE_PREFIX (256u << 10)   /* attachment prefix kept for true type */
#define EXTRACT_MAX FTYPE_PREFIX    /* text taken from attachments/members */
#define TRIM_BYTES (1u << 20)       /* buffers larger than this freed at reset */
#define TEXT_BUF 4096
#define ARENA_BLOCK 4096

struct hit {
	uint32_t key;        /* pattern index + 1; 0 empty */
	uint32_t count;
	uint64_t end[4];     /* last end offsets (EOF-offset patterns) */
};

struct sfile {
	struct scan_session *s;
	hs_stream_t *vs;
	EVP_MD_CTX *md[3];
	uint32_t algs;
	bool open;
	bool member;         /* archive member: no nested expansion here */
	bool raw;            /* preamble/epilogue/unparsed: no inventory entry */
	bool typed;          /* full true-type detection (attachment-like) */
	bool text;           /* its text went through the text pipeline */
	uint32_t part;       /* index in parts */
	uint64_t size;
	uint8_t head[HEAD_MAX];
	uint32_t nhead;
	struct hit *hits;
	uint32_t nhits, caphits;
	uint8_t *buf;        /* sniff window, then what |keep| says */
	size_t nbuf, capbuf;
	size_t keep;         /* bytes kept after the sniff decision */
	bool sniffed;        /* |keep| decided */
	bool expand;         /* archive to expand at the end */
	bool cut;            /* bytes beyond |keep| were not kept */
};

struct arena {
	struct arena *next;
	size_t used, cap;
	char data[];
};

enum text_mode {
	TM_BODY = 0,   /* message text: every consumer */
	TM_EXTRACT,    /* text found in a file: DLP and URLs */
};

struct scan_session {
	const struct mxg_mem *mem;
	struct scan_engine *eng;
	struct scan_limits lim;
	struct scan_scratch *own_scratch;
	struct scan_scratch *scr;  /* own_scratch or the caller's */
	hs_scratch_t *scratch;
	struct scan_pe pe;         /* headers of the PE being checked */
	struct mime_parser *mp;
	struct sfile leaf, memb, raw;
	struct sfile emb;          /* a data: URI of the HTML being reduced */
	bool emb_on;               /* emb receives the decoded bytes */
	uint32_t ndata;            /* data: URIs of the message (part names) */
	struct sfile *arch_of;     /* the file being expanded, or NULL */
	/* raw region (preamble/epilogue/unparsed) being scanned */
	enum mime_event_type raw_type;
	const struct mime_part *raw_of;
	/* text pipeline */
	bool text_on, html_on;
	enum text_mode tmode;
	hs_stream_t *ts;
	struct mime_utf8 *u8;
	struct mime_html *html;
	uint32_t text_part;
	uint8_t tbuf[TEXT_BUF];
	/* body text kept for the caller (lim.keep_text) */
	uint8_t *kt;
	size_t nkt, capkt;
	bool kt_sep;          /* a part ended: '\n' before more text */
	bool kt_full;         /* cap reached: nothing more is kept */
	/* consumers (created at first need, kept across messages) */
	struct scan_url *url;
	struct scan_dlp_stream *dlps;
	struct scan_cf_eval *cfe;
	/* line database context */
	uint32_t cur_where;
	uint32_t cur_part;
	char *hbuf;
	size_t hcap;
	/* content-filter input collected on the way */
	struct scan_cf_header *cfh;
	uint32_t ncfh, capcfh;
	const char *subject;
	size_t subject_len;
	struct scan_cf_attachment *cfa;
	uint32_t ncfa, capcfa;
	/* inventory */
	uint32_t stack[64];   /* part index per MIME depth */
	struct scan_part *parts;
	uint32_t nparts, capparts;
	struct scan_virus_hit *vir;
	uint32_t nvir, capvir;
	struct scan_rule_hit *rh;
	uint32_t nrh, caprh;
	uint32_t *rh_idx;     /* (rule, where bit) -> rh index + 1 */
	uint32_t *rh_key;     /* rh index -> its rh_idx slot (cleared at reset) */
	uint32_t caprh_key;
	uint32_t *ldbs;       /* logical signatures hit in the file ending */
	uint32_t capldbs;
	uint32_t nfiles;
	struct arena *arena;  /* blocks in use, newest first */
	struct arena *arena_spare; /* emptied blocks kept by reset */
	struct scan_archive *arch;
	struct scan_result res;
	bool fed, finished, dead;
};

/* ---- small helpers ---- */

static void set_error(struct scan_session *s, int rc)
{
	if (!s->res.error)
		s->res.error = rc;
	s->res.flags |= SCAN_R_ERROR;
}

static void *arena_alloc(struct scan_session *s, size_t n)
{
	struct arena *a = s->arena;
	void *p;

	n = (n + 7) & ~(size_t)7;
	if (!a || a->cap - a->used < n) {
		size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;

		if (s->arena_spare && s->arena_spare->cap >= n) {
			/* a block an earlier message grew: no allocation */
			a = s->arena_spare;
			s->arena_spare = a->next;
		} else {
			a = mxg_malloc(s->mem, sizeof(*a) + cap);
			if (!a) {
				set_error(s, MXG_E_NOMEM);
				return NULL;
			}
			a->cap = cap;
		}
		a->next = s->arena;
		a->used = 0;
		s->arena = a;
	}
	p = a->data + a->used;
	a->used += n;
	return p;
}

static const char *arena_strndup(struct scan_session *s, const char *str, size_t n)
{
	char *p;

	if (!str)
		return NULL;
	p = arena_alloc(s, n + 1);
	if (!p)
		return NULL;
	memcpy(p, str, n);
	p[n] = '\0';
	return p;
}

static const char *arena_strdup(struct scan_session *s, const char *str)
{
	return str ? arena_strndup(s, str, strlen(str)) : NULL;
}

static int vgrow(struct scan_session *s, void **p, uint32_t *cap, uint32_t n, size_t sz)
{
	void *q;
	uint32_t c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 8;
	q = mxg_realloc(s->mem, *p, (size_t)c * sz);
	if (!q) {
		set_error(s, MXG_E_NOMEM);
		return MXG_E_NOMEM;
	}
	*p = q;
	*cap = c;
	return 0;
}

static const char *ext_of(struct scan_session *s, const char *name)
{
	const char *dot;
	char e[16];
	size_t i, n;

	if (!name || !(dot = strrchr(name, '.')) || !dot[1])
		return NULL;
	n = strlen(dot + 1);
	if (n >= sizeof(e))
		return NULL;
	for (i = 0; i <= n; i++)
		e[i] = (char)((dot[1 + i] >= 'A' && dot[1 + i] <= 'Z') ? dot[1 + i] + 32 :
			      dot[1 + i]);
	return arena_strdup(s, e);
}

/* Magic numbers of the types an inline text part must not hide (an
 * executable, an Office document, a script; archives and PDF are sniffed
 * by the caller): such a part gets the full true-type detection. */
static bool magic_needs_typing(const uint8_t *h, size_t n)
{
	return (n >= 2 && h[0] == 'M' && h[1] == 'Z') ||
	       (n >= 4 && !memcmp(h, "\x7f" "ELF", 4)) ||
	       (n >= 4 && (!memcmp(h, "\xca\xfe\xba\xbe", 4) || !memcmp(h, "\xcf\xfa\xed\xfe", 4) ||
			   !memcmp(h, "\xce\xfa\xed\xfe", 4))) ||
	       (n >= 8 && !memcmp(h, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8)) ||
	       (n >= 5 && !memcmp(h, "{\\rtf", 5)) || (n >= 2 && h[0] == '#' && h[1] == '!');
}

/* Target types satisfied by a file starting with |h|. */
static uint32_t target_mask(const uint8_t *h, size_t n)
{
	uint32_t t = 1u << SIG_T_ANY | 1u << SIG_T_HTML | 1u << SIG_T_MAIL | 1u << SIG_T_ASCII;

	if (n >= 2 && h[0] == 'M' && h[1] == 'Z')
		t |= 1u << SIG_T_PE;
	if (n >= 8 && !memcmp(h, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8))
		t |= 1u << SIG_T_OLE2;
	if ((n >= 4 && (!memcmp(h, "\x89PNG", 4) || !memcmp(h, "GIF8", 4) ||
			!memcmp(h, "\x00\x00\x01\x00", 4))) ||
	    (n >= 3 && !memcmp(h, "\xff\xd8\xff", 3)) || (n >= 2 && !memcmp(h, "BM", 2)))
		t |= 1u << SIG_T_GRAPHICS;
	if (n >= 4 && !memcmp(h, "\x7f" "ELF", 4))
		t |= 1u << SIG_T_ELF;
	if (n >= 4 && (!memcmp(h, "\xfe\xed\xfa\xce", 4) || !memcmp(h, "\xfe\xed\xfa\xcf", 4) ||
		       !memcmp(h, "\xce\xfa\xed\xfe", 4) || !memcmp(h, "\xcf\xfa\xed\xfe", 4) ||
		       !memcmp(h, "\xca\xfe\xba\xbe", 4)))
		t |= 1u << SIG_T_MACHO;
	if (n >= 4 && !memcmp(h, "\xca\xfe\xba\xbe", 4))
		t |= 1u << SIG_T_JAVA;
	if (n >= 3 && (!memcmp(h, "FWS", 3) || !memcmp(h, "CWS", 3) || !memcmp(h, "ZWS", 3)))
		t |= 1u << SIG_T_FLASH;
	if (n >= 4 && memmem(h, n, "%PDF", 4)) /* ClamAV allows junk before %PDF */
		t |= 1u << SIG_T_PDF;
	return t;
}

/* ---- results ---- */

static void add_virus(struct scan_session *s, const char *name, uint32_t part,
		      enum scan_virus_kind k)
{
	uint32_t i;

	for (i = 0; i < s->nvir; i++)
		if (s->vir[i].part == part && s->vir[i].name == name)
			return;
	s->res.flags |= SCAN_R_VIRUS;
	if (s->nvir + s->nrh >= s->lim.max_hits) {
		s->res.hits_dropped++;
		return;
	}
	if (vgrow(s, (void **)&s->vir, &s->capvir, s->nvir, sizeof(*s->vir)))
		return;
	s->vir[s->nvir++] = (struct scan_virus_hit){ name, part, k };
}

static int where_bit(uint32_t w)
{
	return w == SCAN_W_SUBJECT ? 0 : w == SCAN_W_HEADER ? 1 : w == SCAN_W_BODY ? 2 : 3;
}

static void add_rule_hit(struct scan_session *s, uint32_t ri, uint32_t where, uint64_t from)
{
	const struct eng_rule *r = &s->eng->rules[ri];
	uint32_t k = ri * 4 + (uint32_t)where_bit(where), h;

	if (!(r->where & where))
		return;
	s->res.flags |= SCAN_R_RULE;
	if (!s->rh_idx) {
		s->rh_idx = mxg_calloc(s->mem, (size_t)s->eng->nrules * 4, sizeof(uint32_t));
		if (!s->rh_idx) {
			set_error(s, MXG_E_NOMEM);
			return;
		}
	}
	h = s->rh_idx[k];
	if (h) {
		s->rh[h - 1].count++;
		return;
	}
	if (s->nvir + s->nrh >= s->lim.max_hits) {
		s->res.hits_dropped++;
		return;
	}
	if (vgrow(s, (void **)&s->rh, &s->caprh, s->nrh, sizeof(*s->rh)) ||
	    vgrow(s, (void **)&s->rh_key, &s->caprh_key, s->nrh, sizeof(*s->rh_key)))
		return;
	s->rh_key[s->nrh] = k;
	s->rh[s->nrh] = (struct scan_rule_hit){
		.rule_id = r->id, .where = where, .part = s->cur_part, .count = 1,
		.som = (r->flags & SCAN_RF_SOM) ? from : 0,
	};
	s->rh_idx[k] = ++s->nrh;
}

static int on_rule_match(unsigned int id, unsigned long long from, unsigned long long to,
			 unsigned int flags, void *ctx)
{
	struct scan_session *s = ctx;

	add_rule_hit(s, id, s->cur_where, from);
	return 0;
}

/* Runs the line database over |p| as |where|. */
static void scan_line(struct scan_session *s, uint32_t where, const char *p, size_t n)
{
	hs_error_t r;

	if (!s->eng->ldb || !n || !(s->eng->ldb_where & where))
		return;
	s->cur_where = where;
	r = hs_scan(s->eng->ldb, p, (unsigned int)n, 0, s->scratch, on_rule_match, s);
	if (r != HS_SUCCESS)
		set_error(s, MXG_E_INTERNAL);
}

static long add_part(struct scan_session *s, const char *path, uint32_t parent)
{
	struct scan_part *p;

	if (vgrow(s, (void **)&s->parts, &s->capparts, s->nparts, sizeof(*p)))
		return -1;
	p = &s->parts[s->nparts];
	memset(p, 0, sizeof(*p));
	strncpy(p->path, path, sizeof(p->path) - 1); /* truncated: deep member paths */
	p->parent = parent;
	return s->nparts++;
}

/* ---- text consumers ---- */

static struct scan_url *url_get(struct scan_session *s)
{
	if (!s->url && s->lim.url.max_urls) {
		s->url = scan_url_new(s->mem, &s->lim.url);
		if (!s->url)
			set_error(s, MXG_E_NOMEM);
	}
	return s->url;
}

static struct scan_dlp_stream *dlp_get(struct scan_session *s)
{
	if (!s->dlps && s->eng->dlp && scan_dlp_template_count(s->eng->dlp)) {
		s->dlps = scan_dlp_stream_new(s->eng->dlp, s->mem, NULL, NULL);
		if (!s->dlps)
			set_error(s, MXG_E_NOMEM);
	}
	return s->dlps;
}

static struct scan_cf_eval *cfe_get(struct scan_session *s)
{
	if (!s->cfe && s->eng->cfilter) {
		s->cfe = scan_cf_eval_new(s->eng->cfilter, s->mem);
		if (!s->cfe)
			set_error(s, MXG_E_NOMEM);
	}
	return s->cfe;
}

/* Does any consumer want text? */
static bool text_wanted(struct scan_session *s, enum text_mode m)
{
	if (s->lim.url.max_urls || (s->eng->dlp && scan_dlp_template_count(s->eng->dlp)))
		return true;
	return m == TM_BODY && (s->eng->tdb || s->eng->cfilter || s->lim.keep_text);
}

/* Length of |p| (|n| bytes of UTF-8) without a trailing incomplete
 * sequence. */
static size_t utf8_whole(const uint8_t *p, size_t n)
{
	size_t i = n, k = 0, len;
	uint8_t c;

	while (i > 0 && k < 3 && (p[i - 1] & 0xc0) == 0x80) {
		i--;
		k++;
	}
	if (!i)
		return n;
	c = p[i - 1];
	len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
	      (c & 0xf8) == 0xf0 ? 4 : 1;
	return k + 1 < len ? i - 1 : n;
}

/* Makes room for |need| kept bytes (at most lim.keep_text). */
static bool keep_reserve(struct scan_session *s, size_t need)
{
	size_t cap;
	uint8_t *q;

	if (need <= s->capkt)
		return true;
	cap = s->capkt ? s->capkt : TEXT_BUF;
	while (cap < need)
		cap *= 2;
	if (cap > s->lim.keep_text)
		cap = s->lim.keep_text;
	q = mxg_realloc(s->mem, s->kt, cap);
	if (!q) {
		set_error(s, MXG_E_NOMEM);
		s->kt_full = true;
		return false;
	}
	s->kt = q;
	s->capkt = cap;
	return true;
}

/* Appends body text to the caller's copy (scan_result.text). */
static void keep_text(struct scan_session *s, const uint8_t *p, size_t n)
{
	size_t cap = s->lim.keep_text, sep, room, take;

	if (s->kt_full) {
		s->res.text_truncated = true;
		return;
	}
	sep = s->kt_sep && s->nkt ? 1 : 0;
	room = cap - s->nkt;
	take = sep + n <= room ? sep + n : room;
	if (!take || !keep_reserve(s, s->nkt + take)) {
		s->kt_full = true;
		s->res.text_truncated = true;
		return;
	}
	if (sep) {
		s->kt[s->nkt++] = '\n';
		take--;
	}
	s->kt_sep = false;
	memcpy(s->kt + s->nkt, p, take);
	if (take < n) {
		size_t whole = utf8_whole(s->kt + s->nkt, take);

		s->nkt += whole;
		s->kt_full = true;
		s->res.text_truncated = true;
		return;
	}
	s->nkt += take;
}

/* UTF-8 text of the part being read, to every consumer of the mode. */
static void text_scan(struct scan_session *s, const uint8_t *p, size_t n)
{
	int rc;

	if (!n)
		return;
	if (s->tmode == TM_BODY) {
		if (s->ts) {
			s->cur_part = s->text_part;
			s->cur_where = SCAN_W_BODY;
			if (hs_scan_stream(s->ts, (const char *)p, (unsigned int)n, 0, s->scratch,
					   on_rule_match, s) != HS_SUCCESS)
				set_error(s, MXG_E_INTERNAL);
		}
		if (s->cfe && (rc = scan_cf_eval_body(s->cfe, p, n)) < 0)
			set_error(s, rc);
		if (s->lim.keep_text)
			keep_text(s, p, n);
	}
	if (s->dlps && (rc = scan_dlp_stream_feed(s->dlps, p, n)) < 0)
		set_error(s, rc);
	if (s->url && (rc = scan_url_feed(s->url, p, n)) < 0)
		set_error(s, rc);
}

static void html_text(const uint8_t *p, size_t n, void *ud)
{
	text_scan(ud, p, n);
}

static void html_link(const char *url, size_t n, bool truncated, void *ud)
{
	struct scan_session *s = ud;
	int rc;

	if (s->url && (rc = scan_url_add(s->url, url, n, SCAN_URLF_HTML)) < 0)
		set_error(s, rc);
}

static long add_part(struct scan_session *s, const char *path, uint32_t parent);
static int sfile_open(struct scan_session *s, struct sfile *f, uint32_t part, bool member,
		      bool raw, bool typed);
static void sfile_feed(struct scan_session *s, struct sfile *f, const uint8_t *p, size_t n);
static void sfile_end(struct scan_session *s, struct sfile *f);

/* A data: URI in a link of the HTML being reduced (mime_html): a file of
 * its own, child of the text part ("1/data1"), SCAN_PF_EMBEDDED, typed and
 * scanned like an archive member, cut at lim.archive.max_member_bytes
 * (SCAN_R_LIMIT). Inside an archive expansion (an HTML member) it is not
 * expanded itself (as a member of a member). */
static void html_data_begin(const char *mtype, size_t n, bool base64, void *ud)
{
	struct scan_session *s = ud;
	uint32_t outer = s->text_part;
	char path[MIME_PATH_MAX + 16];
	long pi;

	(void)base64;
	if (s->emb_on)
		sfile_end(s, &s->emb);
	s->emb_on = false;
	if (outer >= s->nparts)
		return;
	snprintf(path, sizeof(path), "%s/data%u", s->parts[outer].path, ++s->ndata);
	pi = add_part(s, path, outer);
	if (pi < 0)
		return;
	s->parts[pi].flags = SCAN_PF_LEAF | SCAN_PF_EMBEDDED;
	/* RFC 2397: no media type means text/plain */
	s->parts[pi].ctype = n ? arena_strndup(s, mtype, n) : "text/plain";
	s->cur_part = (uint32_t)pi;
	if (s->nfiles >= s->lim.max_files) {
		s->parts[pi].flags |= SCAN_PF_NOT_SCANNED;
		s->res.files_not_scanned++;
		s->res.flags |= SCAN_R_LIMIT;
		return;
	}
	if (sfile_open(s, &s->emb, (uint32_t)pi, s->arch_of != NULL, false, true))
		return;
	s->emb_on = true;
}

static void html_data(const uint8_t *p, size_t n, void *ud)
{
	struct scan_session *s = ud;
	uint64_t max = s->lim.archive.max_member_bytes;

	if (!s->emb_on)
		return;
	if (max && s->emb.size + n > max) {
		n = s->emb.size < max ? (size_t)(max - s->emb.size) : 0;
		s->emb.cut = true; /* not whole: no PE check, no expansion */
		s->res.flags |= SCAN_R_LIMIT;
	}
	sfile_feed(s, &s->emb, p, n);
}

static void html_data_end(uint32_t errors, void *ud)
{
	struct scan_session *s = ud;

	(void)errors;
	if (!s->emb_on)
		return;
	s->emb_on = false;
	sfile_end(s, &s->emb);
}

static void text_out(struct scan_session *s, const uint8_t *p, size_t n)
{
	if (s->html_on)
		mime_html_feed(s->html, p, n);
	else
		text_scan(s, p, n);
}

static void text_feed(struct scan_session *s, const uint8_t *p, size_t n)
{
	while (n) {
		size_t used = 0, out, k;

		/* Valid UTF-8 (most mail) goes on in place. */
		k = mime_utf8_pass_prefix(s->u8, p, n);
		if (k) {
			text_out(s, p, k);
			p += k;
			n -= k;
			if (!n)
				break;
		}
		out = mime_utf8_conv(s->u8, p, n, &used, s->tbuf, sizeof(s->tbuf));
		text_out(s, s->tbuf, out);
		if (!used && !out)
			break;
		p += used;
		n -= used;
	}
}

/* Opens the text pipeline for part |pi| in |charset|; |html| reduces. */
static void text_begin(struct scan_session *s, uint32_t pi, const char *charset, bool html,
		       enum text_mode mode)
{
	bool unknown = false;

	/* HTML is reduced for its data: URIs even when no text consumer
	 * wants its text */
	if (!text_wanted(s, mode) && !html)
		return;
	if (!s->u8)
		s->u8 = mime_utf8_new(s->mem, charset, &unknown);
	else
		mime_utf8_reset(s->u8, charset, &unknown);
	if (!s->u8) {
		set_error(s, MXG_E_NOMEM);
		return;
	}
	if (mode == TM_BODY) {
		if (s->eng->tdb && !s->ts && hs_open_stream(s->eng->tdb, 0, &s->ts) != HS_SUCCESS) {
			s->ts = NULL;
			set_error(s, MXG_E_NOMEM);
			return;
		}
		cfe_get(s);
	}
	dlp_get(s);
	url_get(s);
	s->html_on = html;
	if (html) {
		if (!s->html) {
			static const struct mime_html_callbacks hcb = {
				html_text, html_link, html_data_begin, html_data, html_data_end,
			};

			s->html = mime_html_new(s->mem, &hcb, s);
			if (!s->html) {
				set_error(s, MXG_E_NOMEM);
				s->html_on = false;
			}
		} else {
			mime_html_reset(s->html);
		}
	}
	s->tmode = mode;
	s->text_part = pi;
	s->text_on = true;
}

static void text_end(struct scan_session *s)
{
	uint8_t tail[32];
	size_t n;
	int rc;

	if (!s->text_on)
		return;
	s->text_on = false;
	n = mime_utf8_finish(s->u8, tail);
	text_out(s, tail, n);
	if (s->html_on)
		mime_html_finish(s->html);
	if (s->tmode == TM_BODY) {
		s->cur_part = s->text_part;
		s->cur_where = SCAN_W_BODY;
		if (s->ts && hs_reset_stream(s->ts, 0, s->scratch, on_rule_match, s) != HS_SUCCESS)
			set_error(s, MXG_E_INTERNAL);
		if (s->cfe && (rc = scan_cf_eval_body_end(s->cfe)) < 0)
			set_error(s, rc);
		s->kt_sep = true;
	}
	if (s->dlps && (rc = scan_dlp_stream_finish(s->dlps)) < 0)
		set_error(s, rc);
	if (s->url && (rc = scan_url_feed_end(s->url)) < 0)
		set_error(s, rc);
	s->html_on = false;
}

/* ---- per-file pipeline ---- */

static int on_vmatch(unsigned int id, unsigned long long from, unsigned long long to,
		     unsigned int flags, void *ctx)
{
	struct sfile *f = ctx;
	struct scan_session *s = f->s;
	uint32_t key = id + 1, i, mask;
	struct hit *h;

	if (f->nhits * 2 >= f->caphits) {
		uint32_t cap = f->caphits ? f->caphits * 2 : 32, j;
		struct hit *nh = mxg_calloc(s->mem, cap, sizeof(*nh));

		if (!nh) {
			set_error(s, MXG_E_NOMEM);
			return 0;
		}
		for (j = 0; j < f->caphits; j++) {
			if (!f->hits[j].key)
				continue;
			for (i = f->hits[j].key * 2654435761u & (cap - 1); nh[i].key;
			     i = (i + 1) & (cap - 1))
				;
			nh[i] = f->hits[j];
		}
		mxg_free(s->mem, f->hits);
		f->hits = nh;
		f->caphits = cap;
	}
	mask = f->caphits - 1;
	for (i = key * 2654435761u & mask; f->hits[i].key && f->hits[i].key != key;
	     i = (i + 1) & mask)
		;
	h = &f->hits[i];
	if (!h->key) {
		h->key = key;
		f->nhits++;
	}
	h->end[h->count & 3] = to;
	h->count++;
	return 0;
}

static int sfile_open(struct scan_session *s, struct sfile *f, uint32_t part, bool member,
		      bool raw, bool typed)
{
	uint32_t i;

	f->s = s;
	f->part = part;
	f->member = member;
	f->raw = raw;
	f->typed = typed;
	f->text = false;
	f->size = 0;
	f->nhead = 0;
	f->nbuf = 0;
	f->keep = 0;
	f->sniffed = raw; /* nothing is kept of a raw region */
	f->expand = f->cut = false;
	if (f->nhits) {
		memset(f->hits, 0, f->caphits * sizeof(*f->hits));
		f->nhits = 0;
	}
	if (!f->vs && hs_open_stream(s->eng->vdb, 0, &f->vs) != HS_SUCCESS) {
		f->vs = NULL;
		set_error(s, MXG_E_NOMEM);
		return MXG_E_NOMEM;
	}
	/* The hash signatures need every file's digests; the inventory's
	 * (lim.hash_algs) are for files only: an inline text body is not an
	 * object anyone looks up by hash, and hashing it cost 12 % of the
	 * pipeline on the spam-ham corpus (perf/scan_bench.c, nohash). */
	f->algs = raw ? 0 : s->eng->hash_algs | (typed ? s->lim.hash_algs : 0);
	for (i = 0; i < 3; i++) {
		const EVP_MD *md;

		if (!(f->algs & (1u << i)))
			continue;
		md = i == 0 ? EVP_md5() : i == 1 ? EVP_sha1() : EVP_sha256();
		if (!f->md[i] && !(f->md[i] = EVP_MD_CTX_new()))
			goto nomem;
		if (!EVP_DigestInit_ex(f->md[i], md, NULL))
			goto nomem;
	}
	f->open = true;
	if (!raw)
		s->nfiles++;
	return 0;
nomem:
	set_error(s, MXG_E_NOMEM);
	return MXG_E_NOMEM;
}

/* Appends to the file buffer. Returns false when out of memory. */
static bool buf_add(struct scan_session *s, struct sfile *f, const uint8_t *p, size_t n)
{
	if (!n)
		return true;
	if (f->nbuf + n > f->capbuf) {
		size_t cap = f->capbuf ? f->capbuf : 4096;
		uint8_t *q;

		while (cap < f->nbuf + n)
			cap *= 2;
		q = mxg_realloc(s->mem, f->buf, cap);
		if (!q) {
			set_error(s, MXG_E_NOMEM);
			return false;
		}
		f->buf = q;
		f->capbuf = cap;
	}
	memcpy(f->buf + f->nbuf, p, n);
	f->nbuf += n;
	return true;
}

/* PE signatures (section hashes, PE-relative offsets) loaded: PE files
 * are held whole (up to PE_BUF_MAX). */
static bool pe_wanted(const struct scan_session *s)
{
	return s->eng->sigs->nshashes != 0 || s->eng->pdb;
}

/* Decides from the first bytes what the file keeps: zip/OLE2/PDF and
 * other archives whole (expansion, macros, JavaScript), attachment-like
 * files a prefix for the true type, inline text nothing more. */
static void sniff_decide(struct scan_session *s, struct sfile *f)
{
	/* an ISO 9660 image shows its magic only at 0x8001: a zero-filled
	 * window is held whole and left to scan_archive_expand */
	bool known = scan_archive_sniff(f->buf, f->nbuf);
	bool arch = known || scan_archive_sniff_defer(f->buf, f->nbuf);
	bool pdf = scan_pdf_magic(f->buf, f->nbuf);
	bool whole = arch || pdf ||
		     (f->nbuf >= 8 && !memcmp(f->buf, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8));

	f->sniffed = true;
	f->expand = arch && !f->member;
	/* each sniff once: this runs on the head of every file */
	if (!f->typed && (known || pdf || magic_needs_typing(f->buf, f->nbuf)))
		f->typed = true;
	f->keep = whole ? ARCHIVE_BUF_MAX : f->typed ? FTYPE_PREFIX : f->nbuf;
	if (pe_wanted(s) && f->nbuf >= 2 && f->buf[0] == 'M' && f->buf[1] == 'Z' &&
	    f->keep < PE_BUF_MAX)
		f->keep = PE_BUF_MAX;
}

static void sfile_keep(struct scan_session *s, struct sfile *f, const uint8_t *p, size_t n)
{
	size_t k;

	if (!f->sniffed) {
		k = SNIFF_WINDOW - f->nbuf < n ? SNIFF_WINDOW - f->nbuf : n;
		if (!buf_add(s, f, p, k)) {
			f->sniffed = f->cut = true; /* typed on what there is */
			return;
		}
		p += k;
		n -= k;
		if (f->nbuf < SNIFF_WINDOW)
			return;
		sniff_decide(s, f);
	}
	if (!n)
		return;
	k = f->keep > f->nbuf ? f->keep - f->nbuf : 0;
	if (k > n)
		k = n;
	if (k && !buf_add(s, f, p, k))
		k = 0;
	if (k < n)
		f->cut = true;
}

static void sfile_feed(struct scan_session *s, struct sfile *f, const uint8_t *p, size_t n)
{
	uint32_t i;

	if (!f->open || !n)
		return;
	if (f->nhead < HEAD_MAX) {
		size_t k = n < HEAD_MAX - f->nhead ? n : HEAD_MAX - f->nhead;

		memcpy(f->head + f->nhead, p, k);
		f->nhead += (uint32_t)k;
	}
	if (!f->raw)
		sfile_keep(s, f, p, n);
	f->size += n;
	for (i = 0; i < 3; i++)
		if (f->algs & (1u << i))
			EVP_DigestUpdate(f->md[i], p, n);
	if (hs_scan_stream(f->vs, (const char *)p, (unsigned int)n, 0, s->scratch, on_vmatch,
			   f) != HS_SUCCESS)
		set_error(s, MXG_E_INTERNAL);
}

static bool eof_ok(const struct sig_pat *p, const struct hit *h, uint64_t size)
{
	uint32_t i, n = h->count < 4 ? h->count : 4;

	for (i = 0; i < n; i++) {
		uint64_t start = h->end[i] - p->fixed_len;

		if (size >= p->eof_n && start >= size - p->eof_n &&
		    start <= size - p->eof_n + p->eof_shift)
			return true;
	}
	return false;
}

static void eval_ldb(struct scan_session *s, struct sfile *f, uint32_t di, uint32_t tmask)
{
	const struct scan_sigset *ss = s->eng->sigs;
	const struct sig_def *d = &ss->defs[di];
	uint32_t counts[SIG_MAX_SUBS] = { 0 }, j;
	uint16_t k;

	if (!(tmask & (1u << d->target)) || f->size < d->fsize_min || f->size > d->fsize_max)
		return;
	for (j = 0; j < f->caphits; j++) {
		const struct hit *h = &f->hits[j];
		const struct sig_pat *p;

		if (!h->key)
			continue;
		p = &ss->pats[h->key - 1];
		if (p->sig != di)
			continue;
		if (p->eof && !eof_ok(p, h, f->size))
			continue;
		counts[p->sub] += p->eof ? 1 : h->count;
	}
	for (k = 0; k < d->nsubs; k++)
		if (d->pcre_trig[k] && counts[k] &&
		    !lx_eval(d->nodes, (uint16_t)(d->pcre_trig[k] - 1), counts))
			counts[k] = 0;
	if (lx_eval(d->nodes, d->root, counts))
		add_virus(s, d->name, f->part, SCAN_VK_LOGICAL);
}

struct pe_ctx {
	struct scan_session *s;
	struct sfile *f;
};

/* A match of the PE-relative block database: its start must lie in
 * [anchor, anchor + shift] computed from the headers. */
static int on_pematch(unsigned int id, unsigned long long from, unsigned long long to,
		      unsigned int flags, void *ud)
{
	struct pe_ctx *c = ud;
	struct scan_session *s = c->s;
	const struct scan_sigset *ss = s->eng->sigs;
	const struct sig_pat *p = &ss->pats[id];
	const struct sig_def *d = &ss->defs[p->sig];
	const struct scan_pe *pe = &s->pe;
	uint64_t shift = p->pe_shift;
	int64_t base;

	(void)to;
	(void)flags;
	if (d->disabled)
		return 0;
	switch (p->pe) {
	case SIG_PE_EP:
		if (!pe->ep_valid)
			return 0;
		base = (int64_t)pe->ep_off + p->pe_n;
		break;
	case SIG_PE_S:
	case SIG_PE_SE:
		if (p->pe_x >= pe->nsections)
			return 0;
		base = (int64_t)pe->sec[p->pe_x].raw_off + p->pe_n;
		if (p->pe == SIG_PE_SE)
			shift = pe->sec[p->pe_x].raw_size;
		break;
	case SIG_PE_SL:
		base = (int64_t)pe->sec[pe->nsections - 1].raw_off + p->pe_n;
		break;
	default:
		return 0;
	}
	if (base < 0 || from < (uint64_t)base || from - (uint64_t)base > shift)
		return 0;
	add_virus(s, d->name, c->f->part, SCAN_VK_BODY);
	return 0;
}

/* PE signatures of a PE file held whole (MZ, headers parse; scan_pe.c):
 *  - section hashes (mdb/msb): each section with raw bytes is hashed with
 *    the algorithms the section signatures use and looked up with its raw
 *    size;
 *  - PE-relative body signatures (EP, Sx, SEx, SL) whose pattern matched
 *    somewhere in the stream (|pe_hit|): the block database of those
 *    patterns runs over the file with start of match, and each start is
 *    checked against the offset the headers give.
 * A PE cut by PE_BUF_MAX is not checked (SCAN_R_LIMIT); one whose headers
 * do not parse matches none of these (as in ClamAV). */
static void pe_verdicts(struct scan_session *s, struct sfile *f, bool pe_hit)
{
	const struct scan_sigset *ss = s->eng->sigs;
	struct scan_pe *pe = &s->pe;
	uint32_t i, a;

	if (f->raw || (!ss->nshashes && !pe_hit) || f->nhead < 2 || f->head[0] != 'M' ||
	    f->head[1] != 'Z')
		return;
	if (f->cut || f->nbuf != f->size) {
		s->res.flags |= SCAN_R_LIMIT;
		return;
	}
	if (scan_pe_parse(f->buf, f->nbuf, pe))
		return;
	if (pe_hit && s->eng->pdb && f->nbuf <= UINT32_MAX) {
		struct pe_ctx c = { s, f };

		if (hs_scan(s->eng->pdb, (const char *)f->buf, (unsigned int)f->nbuf, 0, s->scratch,
			    on_pematch, &c) != HS_SUCCESS)
			set_error(s, MXG_E_INTERNAL);
	}
	for (i = 0; i < pe->nsections && ss->nshashes; i++) {
		const struct scan_pe_section *sec = &pe->sec[i];

		if (!sec->raw_size)
			continue;
		for (a = 0; a < 3; a++) {
			uint8_t dig[EVP_MAX_MD_SIZE];
			const EVP_MD *md;
			long h;

			if (!(ss->sect_algs & (1u << a)))
				continue;
			md = a == 0 ? EVP_md5() : a == 1 ? EVP_sha1() : EVP_sha256();
			memset(dig, 0, sizeof(dig));
			if (!EVP_Digest(f->buf + sec->raw_off, sec->raw_size, dig, NULL, md, NULL)) {
				set_error(s, MXG_E_NOMEM);
				return;
			}
			h = sig_shash_find(ss, (uint8_t)(1u << a), dig, sec->raw_size);
			if (h >= 0)
				add_virus(s, ss->defs[ss->shashes[h].sig].name, f->part,
					  SCAN_VK_HASH);
		}
	}
}

/* Hash, body and logical signatures of the file that just ended. */
static void sfile_verdicts(struct scan_session *s, struct sfile *f, uint8_t dig[3][32])
{
	const struct scan_sigset *ss = s->eng->sigs;
	uint32_t i, tmask, nldb = 0;
	bool pe_hit = false;

	for (i = 0; i < 3 && !f->raw; i++) {
		long h;

		if (!(ss->hash_algs & (1u << i)))
			continue;
		h = sig_hash_find(ss, (uint8_t)(1u << i), dig[i], f->size);
		if (h >= 0)
			add_virus(s, ss->defs[ss->hashes[h].sig].name, f->part, SCAN_VK_HASH);
	}
	tmask = target_mask(f->head, f->nhead);
	for (i = 0; i < f->caphits && f->nhits; i++) {
		const struct hit *h = &f->hits[i];
		const struct sig_pat *p;
		const struct sig_def *d;
		uint32_t j;

		if (!h->key)
			continue;
		p = &ss->pats[h->key - 1];
		d = &ss->defs[p->sig];
		if (d->disabled)
			continue;
		if (d->kind == SIG_K_LDB) {
			for (j = 0; j < nldb && s->ldbs[j] != p->sig; j++)
				;
			if (j == nldb) {
				if (vgrow(s, (void **)&s->ldbs, &s->capldbs, nldb, sizeof(*s->ldbs)))
					continue;
				s->ldbs[nldb++] = p->sig;
			}
			continue;
		}
		if (!(tmask & (1u << d->target)))
			continue;
		if (p->eof && !eof_ok(p, h, f->size))
			continue;
		if (p->pe) {
			pe_hit = true; /* the stream match is a prefilter */
			continue;
		}
		add_virus(s, d->name, f->part,
			  d->kind == SIG_K_BUILTIN ? SCAN_VK_BUILTIN : SCAN_VK_BODY);
	}
	for (i = 0; i < nldb; i++)
		eval_ldb(s, f, s->ldbs[i], tmask);
	pe_verdicts(s, f, pe_hit);
}

/* True type of the file that just ended, into its inventory entry. */
static void sfile_type(struct scan_session *s, struct sfile *f, struct scan_part *part)
{
	struct scan_ftype_result r;
	struct scan_ftype *ft;

	if (!f->typed) {
		/* Inline text: its declared type, checked by magic numbers. */
		bool html = part->ctype && !strcmp(part->ctype, "text/html");

		part->ftype = html ? SCAN_FT_HTML : SCAN_FT_TEXT;
		part->detected_type = html ? "html" : "text";
		part->true_mime = html ? "text/html" : "text/plain";
		return;
	}
	ft = scan_scratch_ftype(s->scr);
	if (!ft) {
		set_error(s, MXG_E_NOMEM);
		return;
	}
	if (scan_ftype_detect(ft, f->buf, f->nbuf, !f->cut, part->filename, &r) < 0) {
		set_error(s, MXG_E_NOMEM);
		return;
	}
	part->ftype = r.cat;
	part->ftype_flags = r.flags;
	part->detected_type = r.kind[0] ? arena_strdup(s, r.kind) : NULL;
	part->true_mime = arena_strdup(s, r.mime);
	s->res.ftype_flags |= r.flags;
}

/* Text in a file that is not a text part (a CSV sent as octet-stream, the
 * XML of an OOXML document): its kept prefix goes to DLP and URLs. */
static void sfile_extract_text(struct scan_session *s, struct sfile *f, struct scan_part *part)
{
	size_t n = f->nbuf < EXTRACT_MAX ? f->nbuf : EXTRACT_MAX;

	if (f->text || !f->typed || !n || s->text_on ||
	    (part->ftype != SCAN_FT_TEXT && part->ftype != SCAN_FT_HTML))
		return;
	text_begin(s, f->part, "utf-8", part->ftype == SCAN_FT_HTML, TM_EXTRACT);
	if (!s->text_on)
		return;
	part->flags |= SCAN_PF_TEXT_EXTRACTED;
	text_feed(s, f->buf, n);
	text_end(s);
}

static int arch_begin(const struct scan_archive_member *m, void *ud);
static int arch_data(const struct scan_archive_member *m, const uint8_t *p, size_t n, void *ud);
static int arch_end(const struct scan_archive_member *m, void *ud);

static void sfile_expand(struct scan_session *s, struct sfile *f)
{
	static const struct scan_archive_callbacks acb = { arch_begin, arch_data, arch_end };
	struct scan_archive_result ar;
	enum scan_archive_verdict v;
	int rc;

	if (f->cut) {
		s->res.flags |= SCAN_R_LIMIT; /* larger than ARCHIVE_BUF_MAX */
		return;
	}
	if (!s->arch)
		s->arch = scan_archive_new(s->mem, &s->lim.archive);
	if (!s->arch) {
		set_error(s, MXG_E_NOMEM);
		return;
	}
	memset(&ar, 0, sizeof(ar));
	s->arch_of = f;
	rc = scan_archive_expand(s->arch, f->buf, f->nbuf, s->parts[f->part].filename, &acb, s,
				 &ar);
	s->arch_of = NULL;
	if (rc < 0)
		set_error(s, rc);
	s->res.archive_flags |= ar.flags & ~(uint32_t)SCAN_ARF_NOT_ARCHIVE;
	if (ar.flags & (SCAN_ARF_BOMB | SCAN_ARF_TOO_DEEP))
		s->res.flags |= SCAN_R_LIMIT;
	v = scan_archive_verdict(&ar);
	if (v != SCAN_ARCHIVE_OK) {
		s->res.flags |= SCAN_R_ARCHIVE;
		/* BOMB > TOO_DEEP > ENCRYPTED > CORRUPT: lower is worse */
		if (s->res.archive_verdict == SCAN_ARCHIVE_OK || v < s->res.archive_verdict) {
			s->res.archive_verdict = v;
			s->res.archive_limit = ar.limit;
		}
	}
}

static void sfile_end(struct scan_session *s, struct sfile *f)
{
	struct scan_part *part;
	uint8_t dig[3][32];
	uint32_t i;

	if (!f->open)
		return;
	f->open = false;
	if (hs_reset_stream(f->vs, 0, s->scratch, on_vmatch, f) != HS_SUCCESS)
		set_error(s, MXG_E_INTERNAL);
	memset(dig, 0, sizeof(dig));
	for (i = 0; i < 3; i++)
		if (f->algs & (1u << i))
			EVP_DigestFinal_ex(f->md[i], dig[i], NULL);
	sfile_verdicts(s, f, dig);
	if (f->raw)
		return;
	if (!f->sniffed) /* shorter than the window */
		sniff_decide(s, f);
	part = &s->parts[f->part];
	part->size = f->size;
	part->hashes = f->algs;
	memcpy(part->md5, dig[0], 16);
	memcpy(part->sha1, dig[1], 20);
	memcpy(part->sha256, dig[2], 32);
	sfile_type(s, f, part);
	part = &s->parts[f->part];
	sfile_extract_text(s, f, part);
	if (f->expand && f->nbuf)
		sfile_expand(s, f);
	f->nbuf = 0;
	f->expand = false;
}

static int arch_begin(const struct scan_archive_member *m, void *ud)
{
	struct scan_session *s = ud;
	uint32_t outer = s->arch_of ? s->arch_of->part : s->leaf.part;
	char path[MIME_PATH_MAX + SCAN_ARCHIVE_PATH_MAX + 2];
	long pi;

	snprintf(path, sizeof(path), "%s/%s", s->parts[outer].path, m->path);
	pi = add_part(s, path, outer);
	if (pi < 0)
		return MXG_E_NOMEM;
	s->parts[pi].flags = SCAN_PF_LEAF | SCAN_PF_MEMBER;
	s->parts[pi].filename = arena_strdup(s, m->name);
	s->parts[pi].declared_type = ext_of(s, m->name);
	s->cur_part = (uint32_t)pi;
	if (m->name && *m->name)
		scan_line(s, SCAN_W_ATTACH_NAME, m->name, strlen(m->name));
	if (s->nfiles >= s->lim.max_files) {
		s->parts[pi].flags |= SCAN_PF_NOT_SCANNED;
		s->res.files_not_scanned++;
		s->res.flags |= SCAN_R_LIMIT;
		return 1;
	}
	return sfile_open(s, &s->memb, (uint32_t)pi, true, false, true) ? MXG_E_NOMEM : 0;
}

static int arch_data(const struct scan_archive_member *m, const uint8_t *p, size_t n, void *ud)
{
	struct scan_session *s = ud;

	sfile_feed(s, &s->memb, p, n);
	return 0;
}

static int arch_end(const struct scan_archive_member *m, void *ud)
{
	struct scan_session *s = ud;

	sfile_end(s, &s->memb);
	return 0;
}

/* ---- raw regions: preamble, epilogue, unparsed ---- */

static uint32_t part_index(struct scan_session *s, const struct mime_part *mp)
{
	if (mp->depth < 64 && s->stack[mp->depth] < s->nparts)
		return s->stack[mp->depth];
	return s->nparts ? s->nparts - 1 : 0;
}

static void raw_end(struct scan_session *s)
{
	if (!s->raw_of)
		return;
	s->raw_of = NULL;
	if (s->text_on && s->text_part == s->raw.part && s->tmode == TM_BODY)
		text_end(s);
	sfile_end(s, &s->raw);
}

static void raw_feed(struct scan_session *s, const struct mime_event *ev)
{
	uint32_t pi;

	if (s->raw_of != ev->part || s->raw_type != ev->type)
		raw_end(s);
	if (!s->raw_of) {
		if (!s->nparts)
			return;
		pi = part_index(s, ev->part);
		if (sfile_open(s, &s->raw, pi, false, true, false))
			return;
		s->raw_of = ev->part;
		s->raw_type = ev->type;
		s->parts[pi].flags |= SCAN_PF_RAW;
		if (!s->text_on)
			text_begin(s, pi, "utf-8", false, TM_BODY);
	}
	sfile_feed(s, &s->raw, ev->data, ev->len);
	if (s->text_on && s->text_part == s->raw.part)
		text_feed(s, ev->data, ev->len);
}

/* ---- MIME events ---- */

static void cf_add_header(struct scan_session *s, const char *name, size_t nlen,
			  const char *value, size_t vlen)
{
	struct scan_cf_header *h;

	if (vgrow(s, (void **)&s->cfh, &s->capcfh, s->ncfh, sizeof(*s->cfh)))
		return;
	h = &s->cfh[s->ncfh];
	h->name = arena_strndup(s, name, nlen);
	h->value = arena_strndup(s, value, vlen);
	h->value_len = vlen;
	if (h->name && h->value)
		s->ncfh++;
}

static void on_header(struct scan_session *s, const struct mime_event *ev)
{
	const struct mime_part *mp = ev->part;
	size_t need = ev->name_len + 2 + ev->len * 3 + 16, n;
	uint32_t errs = 0;
	bool top = !mp->parent, cf = top && s->eng->cfilter;
	bool subj = top && ev->name_len == 7 && !strncasecmp(ev->name, "subject", 7);

	if (!cf && (!s->eng->ldb || (mp->parent && mp->parent->kind != MIME_KIND_MESSAGE)))
		return;
	/* Decoding costs more than the match: only for a rule that looks. */
	if (!cf && !(s->eng->ldb_where & SCAN_W_HEADER) &&
	    !(subj && (s->eng->ldb_where & SCAN_W_SUBJECT)))
		return;
	if (need > s->hcap) {
		char *p = mxg_realloc(s->mem, s->hbuf, need);

		if (!p) {
			set_error(s, MXG_E_NOMEM);
			return;
		}
		s->hbuf = p;
		s->hcap = need;
	}
	memcpy(s->hbuf, ev->name, ev->name_len);
	memcpy(s->hbuf + ev->name_len, ": ", 2);
	n = mime_hdr_decode_2047((const char *)ev->data, ev->len, s->hbuf + ev->name_len + 2,
				 s->hcap - ev->name_len - 2, &errs);
	s->cur_part = s->nparts; /* the part whose PART_BEGIN comes next */
	scan_line(s, SCAN_W_HEADER, s->hbuf, ev->name_len + 2 + n);
	if (subj) {
		scan_line(s, SCAN_W_SUBJECT, s->hbuf + ev->name_len + 2, n);
		if (cf && !s->subject) {
			s->subject = arena_strndup(s, s->hbuf + ev->name_len + 2, n);
			s->subject_len = s->subject ? n : 0;
		}
	}
	if (cf && ev->name_len)
		cf_add_header(s, ev->name, ev->name_len, s->hbuf + ev->name_len + 2, n);
}

static void on_part_begin(struct scan_session *s, const struct mime_part *mp)
{
	uint32_t parent = mp->depth && mp->depth < 64 ? s->stack[mp->depth - 1] : UINT32_MAX;
	struct scan_part *p;
	bool text;
	long pi;

	pi = add_part(s, mp->path, parent);
	if (pi < 0)
		return;
	if (mp->depth < 64)
		s->stack[mp->depth] = (uint32_t)pi;
	p = &s->parts[pi];
	p->mime_flags = mp->flags;
	p->ctype = arena_strdup(s, mp->ctype);
	p->filename = arena_strdup(s, mp->filename);
	p->declared_type = ext_of(s, mp->filename);
	s->cur_part = (uint32_t)pi;
	if (mp->filename)
		scan_line(s, SCAN_W_ATTACH_NAME, mp->filename, strlen(mp->filename));
	if (mp->alt_filename)
		scan_line(s, SCAN_W_ATTACH_NAME, mp->alt_filename, strlen(mp->alt_filename));
	if (mp->kind != MIME_KIND_LEAF)
		return;
	p->flags |= SCAN_PF_LEAF;
	if (mp->filename || mp->disposition == MIME_DISP_ATTACHMENT) {
		p->flags |= SCAN_PF_ATTACHMENT;
		s->res.attachments++;
	}
	if (s->nfiles >= s->lim.max_files) {
		p->flags |= SCAN_PF_NOT_SCANNED;
		s->res.files_not_scanned++;
		s->res.flags |= SCAN_R_LIMIT;
		return;
	}
	text = !strncmp(mp->ctype, "text/", 5);
	if (sfile_open(s, &s->leaf, (uint32_t)pi, false, false,
		       !text || (p->flags & SCAN_PF_ATTACHMENT)))
		return;
	if (text) {
		text_begin(s, (uint32_t)pi, mp->charset, !strcmp(mp->ctype, "text/html"), TM_BODY);
		if (s->text_on) {
			s->parts[pi].flags |= SCAN_PF_TEXT;
			s->leaf.text = true;
		}
	}
}

static int on_event(struct mime_parser *mp, const struct mime_event *ev, void *ud)
{
	struct scan_session *s = ud;

	switch (ev->type) {
	case MIME_EV_PREAMBLE:
	case MIME_EV_EPILOGUE:
	case MIME_EV_UNPARSED:
		raw_feed(s, ev);
		break;
	case MIME_EV_ANOMALY:
		break;
	case MIME_EV_HEADER:
		raw_end(s);
		on_header(s, ev);
		break;
	case MIME_EV_PART_BEGIN:
		raw_end(s);
		on_part_begin(s, ev->part);
		break;
	case MIME_EV_BODY_CHUNK:
		raw_end(s);
		sfile_feed(s, &s->leaf, ev->data, ev->len);
		if (s->text_on)
			text_feed(s, ev->data, ev->len);
		break;
	case MIME_EV_PART_END:
		raw_end(s);
		if (ev->part->kind == MIME_KIND_LEAF) {
			text_end(s);
			sfile_end(s, &s->leaf);
		}
		break;
	default:
		break;
	}
	return (s->res.error && mxg_is_fatal(s->res.error)) ? s->res.error : 0;
}

/* ---- lifecycle ---- */

void scan_limits_default(struct scan_limits *l)
{
	memset(l, 0, sizeof(*l));
	mime_limits_default(&l->mime);
	l->max_files = 10000;
	l->max_hits = 1000;
	l->hash_algs = SCAN_HASH_SHA256;
	scan_archive_limits_default(&l->archive);
	l->url.max_urls = 512;
	l->url.max_len = 2048;
}

struct scan_session *scan_session_new_ex(struct scan_engine *e, const struct mxg_mem *mem,
					 const struct scan_limits *limits,
					 struct scan_scratch *scratch)
{
	static const struct mime_callbacks cb = { on_event };
	struct scan_session *s;

	if (!mem)
		mem = mxg_mem_default();
	s = mxg_calloc(mem, 1, sizeof(*s));
	if (!s)
		return NULL;
	s->mem = mem;
	if (limits)
		s->lim = *limits;
	else
		scan_limits_default(&s->lim);
	if (!scratch) {
		s->own_scratch = scan_scratch_new();
		if (!s->own_scratch || scan_scratch_prepare(s->own_scratch, e))
			goto fail;
		scratch = s->own_scratch;
	}
	s->scr = scratch;
	s->scratch = scan_scratch_hs(scratch);
	s->mp = mime_parser_new(mem, &s->lim.mime, &cb, s);
	if (!s->mp)
		goto fail;
	s->eng = scan_engine_ref(e);
	s->res.generation = e->generation;
	return s;
fail:
	scan_scratch_free(s->own_scratch);
	mxg_free(mem, s);
	return NULL;
}

struct scan_session *scan_session_new(struct scan_engine *e, const struct mxg_mem *mem,
				      const struct scan_limits *limits)
{
	return scan_session_new_ex(e, mem, limits, NULL);
}

static void sfile_free(struct scan_session *s, struct sfile *f)
{
	uint32_t i;

	if (f->vs)
		hs_close_stream(f->vs, NULL, NULL, NULL);
	f->vs = NULL;
	for (i = 0; i < 3; i++)
		EVP_MD_CTX_free(f->md[i]);
	mxg_free(s->mem, f->hits);
	mxg_free(s->mem, f->buf);
}

/* The objects tied to the engine's databases and compiled lists. */
static void drop_engine_state(struct scan_session *s)
{
	struct sfile *fs[4] = { &s->leaf, &s->memb, &s->raw, &s->emb };
	int i;

	for (i = 0; i < 4; i++) {
		if (fs[i]->vs)
			hs_close_stream(fs[i]->vs, NULL, NULL, NULL);
		fs[i]->vs = NULL;
	}
	if (s->ts)
		hs_close_stream(s->ts, NULL, NULL, NULL);
	s->ts = NULL;
	scan_dlp_stream_free(s->dlps);
	s->dlps = NULL;
	scan_cf_eval_free(s->cfe);
	s->cfe = NULL;
	mxg_free(s->mem, s->rh_idx);
	s->rh_idx = NULL;
}

void scan_session_free(struct scan_session *s)
{
	struct arena *a, *n;

	if (!s)
		return;
	drop_engine_state(s);
	sfile_free(s, &s->leaf);
	sfile_free(s, &s->memb);
	sfile_free(s, &s->raw);
	sfile_free(s, &s->emb);
	mime_utf8_free(s->u8);
	mime_html_free(s->html);
	mime_parser_free(s->mp);
	scan_archive_free(s->arch);
	scan_url_free(s->url);
	for (a = s->arena; a; a = n) {
		n = a->next;
		mxg_free(s->mem, a);
	}
	for (a = s->arena_spare; a; a = n) {
		n = a->next;
		mxg_free(s->mem, a);
	}
	mxg_free(s->mem, s->hbuf);
	mxg_free(s->mem, s->kt);
	mxg_free(s->mem, s->parts);
	mxg_free(s->mem, s->vir);
	mxg_free(s->mem, s->rh);
	mxg_free(s->mem, s->rh_key);
	mxg_free(s->mem, s->ldbs);
	mxg_free(s->mem, s->cfh);
	mxg_free(s->mem, s->cfa);
	scan_scratch_free(s->own_scratch);
	scan_engine_unref(s->eng);
	mxg_free(s->mem, s);
}

static void sfile_reset(struct scan_session *s, struct sfile *f)
{
	if (f->open && f->vs)
		hs_reset_stream(f->vs, 0, NULL, NULL, NULL); /* matches dropped */
	f->open = false;
	f->nbuf = 0;
	if (f->capbuf > TRIM_BYTES) {
		mxg_free(s->mem, f->buf);
		f->buf = NULL;
		f->capbuf = 0;
	}
}

int scan_session_reset(struct scan_session *s, struct scan_engine *e)
{
	struct arena *a, *n;
	int rc = 0;

	if (s->text_on && s->ts)
		hs_reset_stream(s->ts, 0, NULL, NULL, NULL);
	s->text_on = s->html_on = false;
	sfile_reset(s, &s->leaf);
	sfile_reset(s, &s->memb);
	sfile_reset(s, &s->raw);
	sfile_reset(s, &s->emb);
	s->emb_on = false;
	s->ndata = 0;
	s->arch_of = NULL;
	s->raw_of = NULL;
	if (e && e != s->eng) {
		if (s->own_scratch && scan_scratch_prepare(s->own_scratch, e)) {
			rc = MXG_E_NOMEM;
		} else {
			drop_engine_state(s);
			scan_engine_unref(s->eng);
			s->eng = scan_engine_ref(e);
		}
		s->scratch = scan_scratch_hs(s->scr);
	}
	mime_parser_reset(s->mp);
	if (s->url)
		scan_url_reset(s->url);
	if (s->dlps)
		scan_dlp_stream_reset(s->dlps);
	if (s->cfe)
		scan_cf_eval_reset(s->cfe);
	if (s->rh_idx) {
		uint32_t i;

		for (i = 0; i < s->nrh; i++)
			s->rh_idx[s->rh_key[i]] = 0;
	}
	/* Arena blocks are emptied and kept for the next messages (up to
	 * TRIM_BYTES in all; one-off large blocks beyond that are freed). */
	{
		size_t kept = 0;

		for (a = s->arena_spare; a; a = a->next)
			kept += a->cap;
		for (a = s->arena; a; a = n) {
			n = a->next;
			if (kept + a->cap > TRIM_BYTES) {
				mxg_free(s->mem, a);
				continue;
			}
			kept += a->cap;
			a->used = 0;
			a->next = s->arena_spare;
			s->arena_spare = a;
		}
		s->arena = NULL;
	}
	s->nparts = s->nvir = s->nrh = s->nfiles = 0;
	s->ncfh = s->ncfa = 0;
	s->subject = NULL;
	s->subject_len = 0;
	s->nkt = 0;
	s->kt_sep = s->kt_full = false;
	memset(&s->res, 0, sizeof(s->res));
	s->res.generation = s->eng->generation;
	s->fed = s->finished = s->dead = false;
	return rc;
}

int scan_session_feed(struct scan_session *s, const uint8_t *in, size_t len)
{
	int rc;

	if (s->finished)
		return MXG_E_INVAL;
	if (s->dead)
		return s->res.error ? s->res.error : MXG_E_INTERNAL;
	s->fed = true;
	rc = mime_parser_feed(s->mp, in, len);
	if (rc < 0) {
		set_error(s, rc);
		s->dead = true;
	}
	return rc;
}

int scan_session_scan_file(struct scan_session *s, const char *name, const uint8_t *data,
			   size_t len)
{
	long pi;

	if (s->finished || s->fed)
		return MXG_E_INVAL;
	s->fed = true;
	s->dead = true; /* no MIME parsing for this session */
	s->res.msg_size = len;
	pi = add_part(s, "1", UINT32_MAX);
	if (pi < 0)
		return MXG_E_NOMEM;
	s->parts[pi].flags = SCAN_PF_LEAF;
	s->parts[pi].filename = arena_strdup(s, name);
	s->parts[pi].declared_type = ext_of(s, name);
	if (name) {
		s->parts[pi].flags |= SCAN_PF_ATTACHMENT;
		s->res.attachments = 1;
	}
	s->cur_part = (uint32_t)pi;
	if (name)
		scan_line(s, SCAN_W_ATTACH_NAME, name, strlen(name));
	if (sfile_open(s, &s->leaf, (uint32_t)pi, false, false, true))
		return MXG_E_NOMEM;
	sfile_feed(s, &s->leaf, data, len);
	sfile_end(s, &s->leaf);
	return s->res.error && mxg_is_fatal(s->res.error) ? s->res.error : 0;
}

/* Content filters over what the message showed. */
static void cf_finish(struct scan_session *s)
{
	struct scan_cf_input in = { 0 };
	const struct scan_cf_hit *hits = NULL;
	uint32_t i;
	int n;

	if (!cfe_get(s))
		return;
	s->ncfa = 0;
	for (i = 0; i < s->nparts; i++) {
		const struct scan_part *p = &s->parts[i];

		if (!(p->flags & SCAN_PF_ATTACHMENT) || (p->flags & SCAN_PF_MEMBER))
			continue;
		if (vgrow(s, (void **)&s->cfa, &s->capcfa, s->ncfa, sizeof(*s->cfa)))
			return;
		s->cfa[s->ncfa++] = (struct scan_cf_attachment){ p->filename, p->size };
	}
	in.subject = s->subject;
	in.subject_len = s->subject_len;
	in.headers = s->cfh;
	in.nheaders = s->ncfh;
	in.attachments = s->cfa;
	in.nattachments = s->ncfa;
	in.msg_size = s->res.msg_size;
	n = scan_cf_eval_finish(s->cfe, &in, &hits);
	if (n < 0) {
		set_error(s, n);
		return;
	}
	s->res.cf_hits = hits;
	s->res.ncf_hits = (size_t)n;
	if (n > 0)
		s->res.flags |= SCAN_R_CFILTER;
}

const struct scan_result *scan_session_finish(struct scan_session *s)
{
	const struct mime_result *mr;

	if (s->finished)
		return &s->res;
	s->finished = true;
	if (!s->dead) {
		int rc = mime_parser_finish(s->mp);

		if (rc < 0)
			set_error(s, rc);
	}
	/* A dead parser may leave a file open: close it so its bytes count. */
	raw_end(s);
	text_end(s);
	sfile_end(s, &s->leaf);
	mr = mime_parser_result(s->mp);
	s->res.mime = mr;
	if (mr->flags & MIME_RF_MALFORMED)
		s->res.flags |= SCAN_R_MALFORMED;
	if (mr->flags & (MIME_RF_LIMIT | MIME_RF_TRUNCATED))
		s->res.flags |= SCAN_R_LIMIT;
	if (s->fed && mr->input_bytes)
		s->res.msg_size = mr->input_bytes;
	if (s->dlps) {
		const struct scan_dlp_result *d = scan_dlp_stream_result(s->dlps);

		s->res.dlp = d;
		s->res.dlp_matched = d->matched;
		if (d->matched)
			s->res.flags |= SCAN_R_DLP;
	} else if (s->eng->dlp && scan_dlp_template_count(s->eng->dlp) && dlp_get(s)) {
		/* no text at all: the (empty) counts still answer */
		s->res.dlp = scan_dlp_stream_result(s->dlps);
	}
	if (s->eng->cfilter)
		cf_finish(s);
	if (s->url) {
		s->res.nurls = scan_url_count(s->url);
		s->res.urls_dropped = scan_url_dropped(s->url);
		s->res.url_set = s->url;
	}
	s->res.parts = s->parts;
	s->res.nparts = s->nparts;
	s->res.viruses = s->vir;
	s->res.nviruses = s->nvir;
	s->res.rules = s->rh;
	s->res.nrules = s->nrh;
	if (s->lim.keep_text) {
		s->res.text = s->kt ? s->kt : (const uint8_t *)"";
		s->res.text_len = s->nkt;
	}
	return &s->res;
}

const struct scan_url_entry *scan_result_url(const struct scan_result *r, size_t i)
{
	return r->url_set && i < r->nurls ? scan_url_get(r->url_set, i) : NULL;
}
