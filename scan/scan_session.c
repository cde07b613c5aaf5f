/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_session.c - one message through the scan engine (see scan.h).
 *
 * The raw message goes to the MIME parser; its events drive everything:
 *
 *	HEADER      message headers (depth 0, and those of embedded
 *	            message/rfc822 parts) are RFC 2047 decoded and matched by the
 *	            block-mode line database as "Name: value" (SCAN_W_HEADER);
 *	            the top-level Subject also as SCAN_W_SUBJECT.
 *	PART_BEGIN  the part enters the inventory; file names are matched
 *	            (SCAN_W_ATTACH_NAME); a leaf opens a "file" (struct sfile:
 *	            digests, the virus stream, the first bytes, a hit map);
 *	            a text leaf (text/...) also opens the text pipeline (charset ->
 *	            UTF-8 -> HTML reduced to text when text/html -> the body
 *	            stream of the text database, and the text hook).
 *	BODY_CHUNK  decoded bytes go to the file and, for text, the pipeline.
 *	PART_END    the file ends: end-of-data matches flushed, digests
 *	            finished, hash signatures looked up, body and logical
 *	            signatures evaluated against the target type and end-of-file
 *	            offsets; an archive (scan_archive_sniff on the first bytes)
 *	            that was buffered is expanded and each member runs through the
 *	            same per-file pipeline (struct sfile) as a part of its own.
 *
 * Streams: one Hyperscan stream per open file and database, reset (not
 * reallocated) between files: a session allocates at most two virus
 * streams (a MIME leaf and the archive member being expanded from it) and
 * one text stream, whatever the number of parts.
 *
 * Archives are the one place where a part is held whole: libarchive needs
 * random access for zip/7z. Buffering starts only when the first bytes look
 * like an archive and stops at ARCHIVE_BUF_MAX (flagged as a limit).
 *
 * Not done here (hook points): DLP and URL extraction consume the UTF-8
 * text through struct scan_hooks.on_text/on_link; the true file type of a
 * file through on_file (scan_ftype.h works on whole files). The built-in
 * sniffer below only names the common magic numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mime_codec.h"
#include "mxg_err.h"
#include "scan_archive.h"
#include "scan_hs.h"

#define HEAD_MAX 64                 /* first bytes kept per file */
#define SNIFF_WINDOW 1024           /* bytes buffered to decide "archive?" */
#define ARCHIVE_BUF_MAX (32u << 20) /* largest part buffered for expansion */
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
	uint32_t part;       /* index in parts */
	uint64_t size;
	uint8_t head[HEAD_MAX];
	uint32_t nhead;
	struct hit *hits;
	uint32_t nhits, caphits;
	uint8_t *buf;        /* archive buffering */
	size_t nbuf, capbuf;
	bool buffering, buf_over, sniffed;
};

struct arena {
	struct arena *next;
	size_t used, cap;
	char data[];
};

struct scan_session {
	const struct mxg_mem *mem;
	struct scan_engine *eng;
	struct scan_limits lim;
	struct scan_scratch *own_scratch;
	hs_scratch_t *scratch;
	struct mime_parser *mp;
	struct sfile leaf, memb;
	/* text pipeline */
	bool text_on, html_on;
	hs_stream_t *ts;
	struct mime_utf8 *u8;
	struct mime_html *html;
	uint32_t text_part;
	uint8_t tbuf[TEXT_BUF];
	/* line database context */
	uint32_t cur_where;
	uint32_t cur_part;
	char *hbuf;
	size_t hcap;
	/* inventory */
	uint32_t stack[64];   /* part index per MIME depth */
	struct scan_part *parts;
	uint32_t nparts, capparts;
	struct scan_virus_hit *vir;
	uint32_t nvir, capvir;
	struct scan_rule_hit *rh;
	uint32_t nrh, caprh;
	uint32_t *rh_idx;     /* (rule, where bit) -> rh index + 1 */
	uint32_t nfiles;
	struct arena *arena;
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

static const char *arena_strdup(struct scan_session *s, const char *str)
{
	size_t n;
	struct arena *a = s->arena;
	char *p;

	if (!str)
		return NULL;
	n = strlen(str) + 1;
	if (!a || a->cap - a->used < n) {
		size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;

		a = mxg_malloc(s->mem, sizeof(*a) + cap);
		if (!a) {
			set_error(s, MXG_E_NOMEM);
			return NULL;
		}
		a->next = s->arena;
		a->used = 0;
		a->cap = cap;
		s->arena = a;
	}
	p = a->data + a->used;
	memcpy(p, str, n);
	a->used += n;
	return p;
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

/* The built-in magic-number namer (scan_ftype.h does the real work). */
static const char *sniff_type(const uint8_t *h, size_t n)
{
	static const struct {
		const char *magic;
		uint8_t len;
		const char *name;
	} m[] = {
		{ "MZ", 2, "pe" }, { "\x7f" "ELF", 4, "elf" }, { "PK\x03\x04", 4, "zip" },
		{ "PK\x05\x06", 4, "zip" }, { "\x1f\x8b", 2, "gzip" }, { "BZh", 3, "bzip2" },
		{ "\xfd" "7zXZ", 5, "xz" }, { "7z\xbc\xaf\x27\x1c", 6, "7z" },
		{ "Rar!", 4, "rar" }, { "MSCF", 4, "cab" }, { "%PDF", 4, "pdf" },
		{ "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8, "ole2" }, { "\x89PNG", 4, "png" },
		{ "GIF8", 4, "gif" }, { "\xff\xd8\xff", 3, "jpeg" }, { "#!", 2, "script" },
		{ "{\\rtf", 5, "rtf" }, { "\xca\xfe\xba\xbe", 4, "java-or-macho" },
		{ "\xcf\xfa\xed\xfe", 4, "macho" }, { "\xce\xfa\xed\xfe", 4, "macho" },
	};
	size_t i;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (n >= m[i].len && !memcmp(h, m[i].magic, m[i].len))
			return m[i].name;
	return NULL;
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
	if (vgrow(s, (void **)&s->rh, &s->caprh, s->nrh, sizeof(*s->rh)))
		return;
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

	if (!s->eng->ldb || !n)
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

static int sfile_open(struct scan_session *s, struct sfile *f, uint32_t part, bool member)
{
	static const char *const names[3] = { "MD5", "SHA1", "SHA256" };
	uint32_t i;

	f->s = s;
	f->part = part;
	f->member = member;
	f->size = 0;
	f->nhead = 0;
	f->nbuf = 0;
	f->buffering = f->buf_over = f->sniffed = false;
	if (f->nhits) {
		memset(f->hits, 0, f->caphits * sizeof(*f->hits));
		f->nhits = 0;
	}
	if (!f->vs && hs_open_stream(s->eng->vdb, 0, &f->vs) != HS_SUCCESS) {
		f->vs = NULL;
		set_error(s, MXG_E_NOMEM);
		return MXG_E_NOMEM;
	}
	f->algs = s->eng->hash_algs | s->lim.hash_algs;
	for (i = 0; i < 3; i++) {
		const EVP_MD *md;

		if (!(f->algs & (1u << i)))
			continue;
		md = i == 0 ? EVP_md5() : i == 1 ? EVP_sha1() : EVP_sha256();
		if (!f->md[i] && !(f->md[i] = EVP_MD_CTX_new()))
			goto nomem;
		if (!EVP_DigestInit_ex(f->md[i], md, NULL))
			goto nomem;
		(void)names;
	}
	f->open = true;
	s->nfiles++;
	return 0;
nomem:
	set_error(s, MXG_E_NOMEM);
	return MXG_E_NOMEM;
}

/* Appends to the archive buffer, up to ARCHIVE_BUF_MAX (then: a limit). */
static void buf_add(struct scan_session *s, struct sfile *f, const uint8_t *p, size_t n)
{
	if (f->buf_over || !n)
		return;
	if (f->nbuf + n > ARCHIVE_BUF_MAX) {
		f->buf_over = true;
		s->res.flags |= SCAN_R_LIMIT;
		return;
	}
	if (f->nbuf + n > f->capbuf) {
		size_t cap = f->capbuf ? f->capbuf : 4096;
		uint8_t *q;

		while (cap < f->nbuf + n)
			cap *= 2;
		q = mxg_realloc(s->mem, f->buf, cap);
		if (!q) {
			f->buf_over = true;
			set_error(s, MXG_E_NOMEM);
			return;
		}
		f->buf = q;
		f->capbuf = cap;
	}
	memcpy(f->buf + f->nbuf, p, n);
	f->nbuf += n;
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
	/* Archive sniffing needs up to SNIFF_WINDOW bytes (tar: 257 + 5):
	 * they are buffered until the decision, then kept only for archives. */
	if (!f->member && (f->buffering || !f->sniffed))
		buf_add(s, f, p, n);
	if (!f->member && !f->sniffed && f->nbuf >= SNIFF_WINDOW) {
		f->sniffed = true;
		f->buffering = scan_archive_sniff(f->buf, f->nbuf);
		if (!f->buffering)
			f->nbuf = 0;
	}
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

static int arch_begin(const struct scan_archive_member *m, void *ud);
static int arch_data(const struct scan_archive_member *m, const uint8_t *p, size_t n, void *ud);
static int arch_end(const struct scan_archive_member *m, void *ud);

/* hook: true file type (scan_ftype_detect) wants the whole file; today
 * only archives are buffered, the built-in sniff_type() names the rest. */
static void sfile_end(struct scan_session *s, struct sfile *f)
{
	const struct scan_sigset *ss = s->eng->sigs;
	struct scan_part *part;
	uint8_t dig[3][32];
	uint32_t i, tmask, *ldbs = NULL, nldb = 0;

	if (!f->open)
		return;
	f->open = false;
	if (hs_reset_stream(f->vs, 0, s->scratch, on_vmatch, f) != HS_SUCCESS)
		set_error(s, MXG_E_INTERNAL);
	memset(dig, 0, sizeof(dig));
	for (i = 0; i < 3; i++)
		if (f->algs & (1u << i))
			EVP_DigestFinal_ex(f->md[i], dig[i], NULL);
	part = &s->parts[f->part];
	part->size = f->size;
	part->hashes = f->algs;
	memcpy(part->md5, dig[0], 16);
	memcpy(part->sha1, dig[1], 20);
	memcpy(part->sha256, dig[2], 32);
	part->detected_type = sniff_type(f->head, f->nhead);
	for (i = 0; i < 3; i++) {
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
			for (j = 0; j < nldb && ldbs[j] != p->sig; j++)
				;
			if (j == nldb) {
				uint32_t *q = mxg_realloc(s->mem, ldbs, (nldb + 1) * sizeof(*q));

				if (!q) {
					set_error(s, MXG_E_NOMEM);
					continue;
				}
				ldbs = q;
				ldbs[nldb++] = p->sig;
			}
			continue;
		}
		if (!(tmask & (1u << d->target)))
			continue;
		if (p->eof && !eof_ok(p, h, f->size))
			continue;
		add_virus(s, d->name, f->part,
			  d->kind == SIG_K_BUILTIN ? SCAN_VK_BUILTIN : SCAN_VK_BODY);
	}
	for (i = 0; i < nldb; i++)
		eval_ldb(s, f, ldbs[i], tmask);
	mxg_free(s->mem, ldbs);
	if (!f->sniffed && !f->member && !f->buf_over) /* shorter than the window */
		f->buffering = scan_archive_sniff(f->buf, f->nbuf);
	if (f->buffering && !f->buf_over && f->nbuf) {
		static const struct scan_archive_callbacks acb = { arch_begin, arch_data,
								  arch_end };
		struct scan_archive_result ar;
		int rc;

		if (!s->arch)
			s->arch = scan_archive_new(s->mem, NULL);
		if (!s->arch) {
			set_error(s, MXG_E_NOMEM);
		} else {
			memset(&ar, 0, sizeof(ar));
			rc = scan_archive_expand(s->arch, f->buf, f->nbuf,
						 s->parts[f->part].filename, &acb, s, &ar);
			if (rc < 0)
				set_error(s, rc);
			s->res.archive_flags |= ar.flags & ~(uint32_t)SCAN_ARF_NOT_ARCHIVE;
			if (ar.flags & (SCAN_ARF_BOMB | SCAN_ARF_TOO_DEEP))
				s->res.flags |= SCAN_R_LIMIT;
		}
	}
	f->nbuf = 0;
	f->buffering = false;
}

static int arch_begin(const struct scan_archive_member *m, void *ud)
{
	struct scan_session *s = ud;
	uint32_t outer = s->leaf.part;
	char path[MIME_PATH_MAX + SCAN_ARCHIVE_PATH_MAX + 2];
	long pi;

	snprintf(path, sizeof(path), "%s/%s", s->parts[outer].path, m->path);
	pi = add_part(s, path, outer);
	if (pi < 0)
		return MXG_E_NOMEM;
	s->parts[pi].flags = SCAN_PF_LEAF | SCAN_PF_MEMBER;
	s->parts[pi].filename = arena_strdup(s, m->name);
	s->parts[pi].declared_type = ext_of(s, m->name);
	if (s->nfiles >= s->lim.max_files) {
		s->parts[pi].flags |= SCAN_PF_NOT_SCANNED;
		s->res.files_not_scanned++;
		s->res.flags |= SCAN_R_LIMIT;
		return 1;
	}
	return sfile_open(s, &s->memb, (uint32_t)pi, true) ? MXG_E_NOMEM : 0;
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

/* ---- text pipeline ---- */

/* hook: the UTF-8 text of every text part passes here (DLP, URLs). */
static void text_scan(struct scan_session *s, const uint8_t *p, size_t n)
{
	if (!n || !s->ts)
		return;
	s->cur_part = s->text_part;
	s->cur_where = SCAN_W_BODY;
	if (hs_scan_stream(s->ts, (const char *)p, (unsigned int)n, 0, s->scratch, on_rule_match,
			   s) != HS_SUCCESS)
		set_error(s, MXG_E_INTERNAL);
}

static void html_text(const uint8_t *p, size_t n, void *ud)
{
	text_scan(ud, p, n);
}

static void html_link(const char *url, size_t n, bool truncated, void *ud)
{
	/* hook: URL extraction (scan_url_add); links are not matched by rules. */
}

static void text_feed(struct scan_session *s, const uint8_t *p, size_t n)
{
	while (n) {
		size_t used = 0, out;

		out = mime_utf8_conv(s->u8, p, n, &used, s->tbuf, sizeof(s->tbuf));
		if (s->html_on)
			mime_html_feed(s->html, s->tbuf, out);
		else
			text_scan(s, s->tbuf, out);
		if (!used && !out)
			break;
		p += used;
		n -= used;
	}
}

static void text_begin(struct scan_session *s, const struct mime_part *mp, uint32_t pi)
{
	bool unknown = false;

	if (!s->eng->tdb)
		return;
	s->u8 = mime_utf8_new(s->mem, mp->charset, &unknown);
	if (!s->u8) {
		set_error(s, MXG_E_NOMEM);
		return;
	}
	if (!s->ts && hs_open_stream(s->eng->tdb, 0, &s->ts) != HS_SUCCESS) {
		s->ts = NULL;
		set_error(s, MXG_E_NOMEM);
		return;
	}
	s->html_on = !strcmp(mp->ctype, "text/html");
	if (s->html_on) {
		if (!s->html) {
			static const struct mime_html_callbacks hcb = { html_text, html_link };

			s->html = mime_html_new(s->mem, &hcb, s);
			if (!s->html) {
				set_error(s, MXG_E_NOMEM);
				s->html_on = false;
			}
		} else {
			mime_html_reset(s->html);
		}
	}
	s->text_part = pi;
	s->text_on = true;
	s->parts[pi].flags |= SCAN_PF_TEXT;
}

static void text_end(struct scan_session *s)
{
	uint8_t tail[32];
	size_t n;

	if (!s->text_on)
		return;
	s->text_on = false;
	if (s->u8) {
		n = mime_utf8_finish(s->u8, tail);
		if (s->html_on)
			mime_html_feed(s->html, tail, n);
		else
			text_scan(s, tail, n);
		mime_utf8_free(s->u8);
		s->u8 = NULL;
	}
	if (s->html_on)
		mime_html_finish(s->html);
	s->cur_part = s->text_part;
	s->cur_where = SCAN_W_BODY;
	if (s->ts && hs_reset_stream(s->ts, 0, s->scratch, on_rule_match, s) != HS_SUCCESS)
		set_error(s, MXG_E_INTERNAL);
}

/* ---- MIME events ---- */

static void on_header(struct scan_session *s, const struct mime_event *ev)
{
	const struct mime_part *mp = ev->part;
	size_t need = ev->name_len + 2 + ev->len * 3 + 16, n;
	uint32_t errs = 0;

	if (!s->eng->ldb || (mp->parent && mp->parent->kind != MIME_KIND_MESSAGE))
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
	if (!mp->parent && ev->name_len == 7 && !strncasecmp(ev->name, "subject", 7))
		scan_line(s, SCAN_W_SUBJECT, s->hbuf + ev->name_len + 2, n);
}

static void on_part_begin(struct scan_session *s, const struct mime_part *mp)
{
	uint32_t parent = mp->depth && mp->depth < 64 ? s->stack[mp->depth - 1] : UINT32_MAX;
	struct scan_part *p;
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
	if (s->nfiles >= s->lim.max_files) {
		p->flags |= SCAN_PF_NOT_SCANNED;
		s->res.files_not_scanned++;
		s->res.flags |= SCAN_R_LIMIT;
		return;
	}
	if (sfile_open(s, &s->leaf, (uint32_t)pi, false))
		return;
	if (!strncmp(mp->ctype, "text/", 5))
		text_begin(s, mp, (uint32_t)pi);
}

static int on_event(struct mime_parser *mp, const struct mime_event *ev, void *ud)
{
	struct scan_session *s = ud;

	switch (ev->type) {
	case MIME_EV_HEADER:
		on_header(s, ev);
		break;
	case MIME_EV_PART_BEGIN:
		on_part_begin(s, ev->part);
		break;
	case MIME_EV_BODY_CHUNK:
		sfile_feed(s, &s->leaf, ev->data, ev->len);
		if (s->text_on)
			text_feed(s, ev->data, ev->len);
		break;
	case MIME_EV_PART_END:
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
	for (i = 0; i < 3; i++)
		EVP_MD_CTX_free(f->md[i]);
	mxg_free(s->mem, f->hits);
	mxg_free(s->mem, f->buf);
}

void scan_session_free(struct scan_session *s)
{
	struct arena *a, *n;

	if (!s)
		return;
	sfile_free(s, &s->leaf);
	sfile_free(s, &s->memb);
	if (s->ts)
		hs_close_stream(s->ts, NULL, NULL, NULL);
	mime_utf8_free(s->u8);
	mime_html_free(s->html);
	mime_parser_free(s->mp);
	scan_archive_free(s->arch);
	for (a = s->arena; a; a = n) {
		n = a->next;
		mxg_free(s->mem, a);
	}
	mxg_free(s->mem, s->hbuf);
	mxg_free(s->mem, s->parts);
	mxg_free(s->mem, s->vir);
	mxg_free(s->mem, s->rh);
	mxg_free(s->mem, s->rh_idx);
	scan_scratch_free(s->own_scratch);
	scan_engine_unref(s->eng);
	mxg_free(s->mem, s);
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
	pi = add_part(s, "1", UINT32_MAX);
	if (pi < 0)
		return MXG_E_NOMEM;
	s->parts[pi].flags = SCAN_PF_LEAF;
	s->parts[pi].filename = arena_strdup(s, name);
	s->parts[pi].declared_type = ext_of(s, name);
	if (sfile_open(s, &s->leaf, (uint32_t)pi, false))
		return MXG_E_NOMEM;
	sfile_feed(s, &s->leaf, data, len);
	sfile_end(s, &s->leaf);
	return s->res.error && mxg_is_fatal(s->res.error) ? s->res.error : 0;
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
	text_end(s);
	sfile_end(s, &s->leaf);
	mr = mime_parser_result(s->mp);
	s->res.mime = mr;
	{
		if (mr->flags & MIME_RF_MALFORMED)
			s->res.flags |= SCAN_R_MALFORMED;
		if (mr->flags & (MIME_RF_LIMIT | MIME_RF_TRUNCATED))
			s->res.flags |= SCAN_R_LIMIT;
	}
	s->res.parts = s->parts;
	s->res.nparts = s->nparts;
	s->res.viruses = s->vir;
	s->res.nviruses = s->nvir;
	s->res.rules = s->rh;
	s->res.nrules = s->nrh;
	return &s->res;
}
