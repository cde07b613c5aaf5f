/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_cfilter.c - pattern lists (PCRE2) and content filter rules.
 *
 * PATTERNS
 *	Keywords become escaped regexes (every non-alphanumeric ASCII byte
 *	backslashed, \b...\b for SCAN_PAT_WORD) so both kinds run through one
 *	engine. Options: PCRE2_UTF | PCRE2_MATCH_INVALID_UTF (mail text may
 *	hold broken UTF-8 and a window may cut a sequence: both must match
 *	what is valid, never fail), PCRE2_CASELESS on request. JIT when the
 *	platform has it. PCRE2's allocations go through struct mxg_mem via a
 *	general context; every pcre2_match() runs with the list's match and
 *	depth limits (a work budget against catastrophic backtracking).
 *
 * CONTENT FILTERS
 *	rule = name, ANY/ALL, conditions. A text condition owns a slice of
 *	the shared pattern list (id = rule << 16 | condition). Body text is
 *	matched as it streams with a window of SCAN_CF_SPAN carried bytes;
 *	the other fields are matched at scan_cf_eval_finish(). Conditions
 *	already true are not matched again.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mxg_err.h"
#include "scan_cfilter.h"

struct plentry {
	struct scan_pattern pat; /* pat.expr owned */
	pcre2_code *code;
};

struct scan_plist {
	const struct mxg_mem *mem;
	pcre2_general_context *gctx;
	pcre2_compile_context *cctx;
	pcre2_match_context *mctx;
	struct plentry *e;
	size_t n, cap;
	bool compiled;
};

struct scan_plist_md {
	const struct mxg_mem *mem;
	pcre2_match_data *md;
};

static void *pc_malloc(PCRE2_SIZE n, void *ud)
{
	return mxg_malloc(ud, n);
}

static void pc_free(void *p, void *ud)
{
	mxg_free(ud, p);
}

static char *dupstr(const struct mxg_mem *mem, const char *s)
{
	size_t n = strlen(s);
	char *d = mxg_malloc(mem, n + 1);

	if (d != NULL)
		memcpy(d, s, n + 1);
	return d;
}

struct scan_plist *scan_plist_new(const struct mxg_mem *mem, uint32_t match_limit)
{
	struct scan_plist *l;

	if (mem == NULL)
		mem = mxg_mem_default();
	l = mxg_calloc(mem, 1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->mem = mem;
	l->gctx = pcre2_general_context_create(pc_malloc, pc_free, (void *)mem);
	if (l->gctx == NULL)
		goto fail;
	l->cctx = pcre2_compile_context_create(l->gctx);
	l->mctx = pcre2_match_context_create(l->gctx);
	if (l->cctx == NULL || l->mctx == NULL)
		goto fail;
	pcre2_set_match_limit(l->mctx, match_limit ? match_limit : 100000);
	pcre2_set_depth_limit(l->mctx, 10000);
	return l;
fail:
	scan_plist_free(l);
	return NULL;
}

void scan_plist_free(struct scan_plist *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		pcre2_code_free(l->e[i].code);
		mxg_free(l->mem, (void *)l->e[i].pat.expr);
	}
	mxg_free(l->mem, l->e);
	pcre2_match_context_free(l->mctx);
	pcre2_compile_context_free(l->cctx);
	pcre2_general_context_free(l->gctx);
	mxg_free(l->mem, l);
}

int scan_plist_add(struct scan_plist *l, uint32_t id, const char *expr, uint32_t flags)
{
	char *d;

	if (l->compiled || expr == NULL || expr[0] == '\0')
		return MXG_E_INVAL;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct plentry *e = mxg_realloc(l->mem, l->e, cap * sizeof(*e));

		if (e == NULL)
			return MXG_E_NOMEM;
		l->e = e;
		l->cap = cap;
	}
	d = dupstr(l->mem, expr);
	if (d == NULL)
		return MXG_E_NOMEM;
	l->e[l->n] = (struct plentry){ .pat = { id, flags, d }, .code = NULL };
	return (int)l->n++;
}

/* Regex text of a keyword: ASCII punctuation escaped, \b when WORD. */
static char *keyword_regex(const struct mxg_mem *mem, const char *kw, uint32_t flags)
{
	size_t n = strlen(kw), o = 0;
	char *r = mxg_malloc(mem, 2 * n + 8);

	if (r == NULL)
		return NULL;
	if (flags & SCAN_PAT_WORD)
		o += (size_t)sprintf(r, "\\b");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)kw[i];

		if (c < 0x80 && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && !(c >= '0' && c <= '9') &&
		    c != ' ')
			r[o++] = '\\';
		r[o++] = (char)c;
	}
	if (flags & SCAN_PAT_WORD)
		o += (size_t)sprintf(r + o, "\\b");
	r[o] = '\0';
	return r;
}

int scan_plist_compile(struct scan_plist *l, char *err, size_t errcap)
{
	for (size_t i = 0; i < l->n; i++) {
		struct plentry *e = &l->e[i];
		uint32_t opt = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
		char *rx = NULL;
		const char *src = e->pat.expr;
		int ec;
		PCRE2_SIZE eo;

		if (e->code != NULL)
			continue;
		if (e->pat.flags & SCAN_PAT_CASELESS)
			opt |= PCRE2_CASELESS;
		if (!(e->pat.flags & SCAN_PAT_REGEX)) {
			rx = keyword_regex(l->mem, src, e->pat.flags);
			if (rx == NULL)
				return MXG_E_NOMEM;
			src = rx;
		}
		e->code = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, opt, &ec, &eo, l->cctx);
		mxg_free(l->mem, rx);
		if (e->code == NULL) {
			PCRE2_UCHAR msg[128];

			if (ec == PCRE2_ERROR_NOMEMORY || ec == PCRE2_ERROR_HEAPLIMIT)
				return MXG_E_NOMEM;
			pcre2_get_error_message(ec, msg, sizeof(msg));
			if (errcap > 0)
				snprintf(err, errcap, "pattern %zu \"%s\" at %zu: %s", i, e->pat.expr,
					 (size_t)eo, (char *)msg);
			return MXG_E_INVAL;
		}
		/* JIT is an optimisation: its failure (no executable memory) is not an error */
		(void)pcre2_jit_compile(e->code, PCRE2_JIT_COMPLETE);
	}
	l->compiled = true;
	return 0;
}

size_t scan_plist_count(const struct scan_plist *l)
{
	return l->n;
}

const struct scan_pattern *scan_plist_get(const struct scan_plist *l, size_t i)
{
	return i < l->n ? &l->e[i].pat : NULL;
}

struct scan_plist_md *scan_plist_md_new(const struct scan_plist *l)
{
	struct scan_plist_md *md = mxg_calloc(l->mem, 1, sizeof(*md));

	if (md == NULL)
		return NULL;
	md->mem = l->mem;
	md->md = pcre2_match_data_create(1, l->gctx);
	if (md->md == NULL) {
		mxg_free(l->mem, md);
		return NULL;
	}
	return md;
}

void scan_plist_md_free(struct scan_plist_md *md)
{
	if (md == NULL)
		return;
	pcre2_match_data_free(md->md);
	mxg_free(md->mem, md);
}

int scan_plist_scan(const struct scan_plist *l, struct scan_plist_md *md, const uint8_t *subj,
		    size_t len, size_t start,
		    int (*on_match)(uint32_t idx, size_t so, size_t eo, void *ud), void *ud,
		    uint32_t *limited)
{
	int found = 0;

	if (subj == NULL)
		subj = (const uint8_t *)"";
	for (size_t i = 0; i < l->n; i++) {
		size_t off = start;

		if (l->e[i].code == NULL)
			continue;
		while (off <= len) {
			int rc = pcre2_match(l->e[i].code, subj, len, off, 0, md->md, l->mctx);
			PCRE2_SIZE *ov;
			int r;

			if (rc < 0) {
				if ((rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
				     rc == PCRE2_ERROR_HEAPLIMIT) && limited != NULL)
					(*limited)++;
				break;
			}
			ov = pcre2_get_ovector_pointer(md->md);
			found++;
			r = on_match((uint32_t)i, ov[0], ov[1], ud);
			if (r < 0)
				return r;
			if (r == 1)
				break;
			off = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
		}
	}
	return found;
}

/* ---- content filters ---- */

enum cond_type { COND_TEXT, COND_ATT_SIZE, COND_ATT_COUNT, COND_MSG_SIZE };

struct cond {
	enum cond_type type;
	uint32_t fields;      /* TEXT: 1u << SCAN_CF_* */
	char *header;         /* TEXT: one header field name, or NULL */
	uint64_t a, b;        /* sizes / count */
};

struct rule {
	char *name;
	enum scan_cf_mode mode;
	struct cond *c;
	size_t n;
};

struct scan_cfilter {
	const struct mxg_mem *mem;
	struct rule *r;
	size_t n, cap;
	struct scan_plist *pl; /* all text patterns, id = rule << 16 | cond */
	bool compiled;
};

#define CF_CHUNK 4096

struct scan_cf_eval {
	const struct scan_cfilter *cf;
	const struct mxg_mem *mem;
	struct scan_plist_md *md;
	size_t ncond;                /* total conditions */
	size_t *cbase;               /* per rule: index of its first condition */
	uint8_t *cmatch;             /* per condition: 0, or field + 1 */
	struct scan_cf_hit *hits;    /* per rule at most */
	uint8_t *win;                /* SCAN_CF_SPAN + CF_CHUNK body window */
	size_t wn;                   /* bytes in win */
	size_t wold;                 /* of which already scanned (carry) */
	char *tmp;                   /* "Name: value" of a header */
	size_t tmpcap;
};

struct scan_cfilter *scan_cfilter_new(const struct mxg_mem *mem)
{
	struct scan_cfilter *cf;

	if (mem == NULL)
		mem = mxg_mem_default();
	cf = mxg_calloc(mem, 1, sizeof(*cf));
	if (cf == NULL)
		return NULL;
	cf->mem = mem;
	cf->pl = scan_plist_new(mem, 0);
	if (cf->pl == NULL) {
		mxg_free(mem, cf);
		return NULL;
	}
	return cf;
}

void scan_cfilter_free(struct scan_cfilter *cf)
{
	if (cf == NULL)
		return;
	for (size_t i = 0; i < cf->n; i++) {
		for (size_t k = 0; k < cf->r[i].n; k++)
			mxg_free(cf->mem, cf->r[i].c[k].header);
		mxg_free(cf->mem, cf->r[i].c);
		mxg_free(cf->mem, cf->r[i].name);
	}
	mxg_free(cf->mem, cf->r);
	scan_plist_free(cf->pl);
	mxg_free(cf->mem, cf);
}

int scan_cfilter_add_rule(struct scan_cfilter *cf, const char *name, enum scan_cf_mode mode)
{
	char *d;

	if (cf->compiled || cf->n >= 0xffff)
		return MXG_E_INVAL;
	if (cf->n == cf->cap) {
		size_t cap = cf->cap ? cf->cap * 2 : 8;
		struct rule *r = mxg_realloc(cf->mem, cf->r, cap * sizeof(*r));

		if (r == NULL)
			return MXG_E_NOMEM;
		cf->r = r;
		cf->cap = cap;
	}
	d = dupstr(cf->mem, name ? name : "");
	if (d == NULL)
		return MXG_E_NOMEM;
	cf->r[cf->n] = (struct rule){ .name = d, .mode = mode };
	return (int)cf->n++;
}

static struct cond *add_cond(struct scan_cfilter *cf, int rule)
{
	struct rule *r;
	struct cond *c;

	if (cf->compiled || rule < 0 || (size_t)rule >= cf->n)
		return NULL;
	r = &cf->r[rule];
	if (r->n >= 0xffff)
		return NULL;
	c = mxg_realloc(cf->mem, r->c, (r->n + 1) * sizeof(*c));
	if (c == NULL)
		return NULL;
	r->c = c;
	memset(&c[r->n], 0, sizeof(c[0]));
	return &c[r->n++];
}

int scan_cfilter_add_text(struct scan_cfilter *cf, int rule, uint32_t fields, const char *header,
			  const char *const *patterns, const uint32_t *flags, size_t n)
{
	struct cond *c;
	uint32_t id;

	if (cf->compiled || rule < 0 || (size_t)rule >= cf->n || n == 0 || fields == 0 ||
	    (fields >> SCAN_CF_FIELD_MAX) != 0)
		return MXG_E_INVAL;
	c = add_cond(cf, rule);
	if (c == NULL)
		return MXG_E_NOMEM;
	c->type = COND_TEXT;
	c->fields = fields;
	if (header != NULL) {
		c->header = dupstr(cf->mem, header);
		if (c->header == NULL)
			return MXG_E_NOMEM;
	}
	id = (uint32_t)rule << 16 | (uint32_t)(cf->r[rule].n - 1);
	for (size_t i = 0; i < n; i++) {
		int rc = scan_plist_add(cf->pl, id, patterns[i], flags ? flags[i] : 0);

		if (rc < 0)
			return rc;
	}
	return 0;
}

static int add_num(struct scan_cfilter *cf, int rule, enum cond_type t, uint64_t a, uint64_t b)
{
	struct cond *c;

	if (cf->compiled || rule < 0 || (size_t)rule >= cf->n)
		return MXG_E_INVAL;
	c = add_cond(cf, rule);
	if (c == NULL)
		return MXG_E_NOMEM;
	c->type = t;
	c->a = a;
	c->b = b;
	return 0;
}

int scan_cfilter_add_attach_size(struct scan_cfilter *cf, int rule, uint64_t min, uint64_t max)
{
	return add_num(cf, rule, COND_ATT_SIZE, min, max);
}

int scan_cfilter_add_attach_count(struct scan_cfilter *cf, int rule, uint32_t count)
{
	return add_num(cf, rule, COND_ATT_COUNT, count, 0);
}

int scan_cfilter_add_msg_size(struct scan_cfilter *cf, int rule, uint64_t size)
{
	return add_num(cf, rule, COND_MSG_SIZE, size, 0);
}

int scan_cfilter_compile(struct scan_cfilter *cf, char *err, size_t errcap)
{
	int rc = scan_plist_compile(cf->pl, err, errcap);

	if (rc == 0)
		cf->compiled = true;
	return rc;
}

size_t scan_cfilter_rule_count(const struct scan_cfilter *cf)
{
	return cf->n;
}

const char *scan_cfilter_rule_name(const struct scan_cfilter *cf, size_t rule)
{
	return rule < cf->n ? cf->r[rule].name : NULL;
}

const struct scan_plist *scan_cfilter_plist(const struct scan_cfilter *cf)
{
	return cf->pl;
}

/* ---- evaluation ---- */

struct scan_cf_eval *scan_cf_eval_new(const struct scan_cfilter *cf, const struct mxg_mem *mem)
{
	struct scan_cf_eval *ev;

	if (mem == NULL)
		mem = mxg_mem_default();
	ev = mxg_calloc(mem, 1, sizeof(*ev));
	if (ev == NULL)
		return NULL;
	ev->cf = cf;
	ev->mem = mem;
	for (size_t i = 0; i < cf->n; i++)
		ev->ncond += cf->r[i].n;
	ev->md = scan_plist_md_new(cf->pl);
	ev->cbase = mxg_calloc(mem, cf->n + 1, sizeof(*ev->cbase));
	ev->cmatch = mxg_calloc(mem, ev->ncond + 1, 1);
	ev->hits = mxg_calloc(mem, cf->n + 1, sizeof(*ev->hits));
	ev->win = mxg_malloc(mem, SCAN_CF_SPAN + CF_CHUNK);
	if (ev->md == NULL || ev->cbase == NULL || ev->cmatch == NULL || ev->hits == NULL ||
	    ev->win == NULL) {
		scan_cf_eval_free(ev);
		return NULL;
	}
	for (size_t i = 0, b = 0; i < cf->n; i++) {
		ev->cbase[i] = b;
		b += cf->r[i].n;
	}
	return ev;
}

void scan_cf_eval_free(struct scan_cf_eval *ev)
{
	if (ev == NULL)
		return;
	scan_plist_md_free(ev->md);
	mxg_free(ev->mem, ev->cbase);
	mxg_free(ev->mem, ev->cmatch);
	mxg_free(ev->mem, ev->hits);
	mxg_free(ev->mem, ev->win);
	mxg_free(ev->mem, ev->tmp);
	mxg_free(ev->mem, ev);
}

void scan_cf_eval_reset(struct scan_cf_eval *ev)
{
	memset(ev->cmatch, 0, ev->ncond + 1);
	ev->wn = 0;
	ev->wold = 0;
}

struct mctx {
	struct scan_cf_eval *ev;
	enum scan_cf_field field;
	const char *hname;   /* HEADER: field name of the subject */
	bool value_only;     /* HEADER: subject is the value alone */
};

static int on_cf_match(uint32_t idx, size_t so, size_t eo, void *ud)
{
	struct mctx *m = ud;
	const struct scan_cfilter *cf = m->ev->cf;
	uint32_t id = scan_plist_get(cf->pl, idx)->id;
	size_t rule = id >> 16, ci = id & 0xffff;
	const struct cond *c = &cf->r[rule].c[ci];
	uint8_t *cm = &m->ev->cmatch[m->ev->cbase[rule] + ci];

	if (*cm != 0 || !(c->fields & (1u << m->field)))
		return 1;
	if (m->field == SCAN_CF_HEADER) {
		/* a named-field condition sees only that field's value; the
		 * others only "Name: value" */
		if ((c->header != NULL) != m->value_only)
			return 1;
		if (c->header != NULL && strcasecmp(c->header, m->hname) != 0)
			return 1;
	}
	*cm = (uint8_t)(m->field + 1);
	return 1;
}

static void scan_text(struct scan_cf_eval *ev, enum scan_cf_field f, const uint8_t *p, size_t n,
		      size_t start, const char *hname, bool value_only)
{
	struct mctx m = { ev, f, hname, value_only };

	scan_plist_scan(ev->cf->pl, ev->md, p, n, start, on_cf_match, &m, NULL);
}

/* Matches the window's new bytes (a match may start in the carry). */
static void body_pass(struct scan_cf_eval *ev)
{
	if (ev->wn > ev->wold)
		scan_text(ev, SCAN_CF_BODY, ev->win, ev->wn, 0, NULL, false);
	ev->wold = ev->wn;
}

int scan_cf_eval_body(struct scan_cf_eval *ev, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t room = SCAN_CF_SPAN + CF_CHUNK - ev->wn;
		size_t k = n < room ? n : room;

		memcpy(ev->win + ev->wn, p, k);
		ev->wn += k;
		p += k;
		n -= k;
		if (ev->wn == SCAN_CF_SPAN + CF_CHUNK) {
			body_pass(ev);
			/* carry the last SCAN_CF_SPAN bytes */
			memmove(ev->win, ev->win + ev->wn - SCAN_CF_SPAN, SCAN_CF_SPAN);
			ev->wn = ev->wold = SCAN_CF_SPAN;
		}
	}
	return 0;
}

int scan_cf_eval_body_end(struct scan_cf_eval *ev)
{
	body_pass(ev);
	ev->wn = ev->wold = 0;
	return 0;
}

int scan_cf_eval_finish(struct scan_cf_eval *ev, const struct scan_cf_input *in,
			const struct scan_cf_hit **hits)
{
	const struct scan_cfilter *cf = ev->cf;
	int nh = 0;

	scan_cf_eval_body_end(ev);
	if (in->subject != NULL)
		scan_text(ev, SCAN_CF_SUBJECT, (const uint8_t *)in->subject, in->subject_len, 0,
			  NULL, false);
	for (size_t i = 0; i < in->nheaders; i++) {
		const struct scan_cf_header *h = &in->headers[i];
		size_t nl = strlen(h->name), need = nl + 2 + h->value_len;

		scan_text(ev, SCAN_CF_HEADER, (const uint8_t *)h->value, h->value_len, 0, h->name,
			  true);
		if (need > ev->tmpcap) {
			char *t = mxg_realloc(ev->mem, ev->tmp, need);

			if (t == NULL)
				return MXG_E_NOMEM;
			ev->tmp = t;
			ev->tmpcap = need;
		}
		memcpy(ev->tmp, h->name, nl);
		memcpy(ev->tmp + nl, ": ", 2);
		memcpy(ev->tmp + nl + 2, h->value, h->value_len);
		scan_text(ev, SCAN_CF_HEADER, (const uint8_t *)ev->tmp, need, 0, h->name, false);
	}
	for (size_t i = 0; i < in->nattachments; i++)
		if (in->attachments[i].name != NULL)
			scan_text(ev, SCAN_CF_ATTACH_NAME, (const uint8_t *)in->attachments[i].name,
				  strlen(in->attachments[i].name), 0, NULL, false);
	for (size_t r = 0; r < cf->n; r++) {
		const struct rule *ru = &cf->r[r];
		size_t yes = 0;
		enum scan_cf_field first = SCAN_CF_FIELD_MAX;

		for (size_t k = 0; k < ru->n; k++) {
			const struct cond *c = &ru->c[k];
			bool ok = false;

			switch (c->type) {
			case COND_TEXT:
				ok = ev->cmatch[ev->cbase[r] + k] != 0;
				if (ok && first == SCAN_CF_FIELD_MAX)
					first = (enum scan_cf_field)(ev->cmatch[ev->cbase[r] + k] - 1);
				break;
			case COND_ATT_SIZE:
				for (size_t i = 0; i < in->nattachments && !ok; i++)
					ok = in->attachments[i].size > c->a &&
					     (c->b == 0 || in->attachments[i].size <= c->b);
				break;
			case COND_ATT_COUNT:
				ok = in->nattachments > c->a;
				break;
			case COND_MSG_SIZE:
				ok = in->msg_size > c->a;
				break;
			}
			yes += ok;
		}
		if (ru->n > 0 && (ru->mode == SCAN_CF_ALL ? yes == ru->n : yes > 0))
			ev->hits[nh++] = (struct scan_cf_hit){ (uint32_t)r, first };
	}
	*hits = ev->hits;
	return nh;
}
