/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_engine.c - building engines, references, hot reload, scratch.
 *
 * Build (off the hot path): content rules and the loaded signature set
 * become three Hyperscan databases (scan_hs.h), each round-tripped through
 * hs_serialize_database/hs_deserialize_database, plus a prototype scratch.
 * Rules Hyperscan rejects are reported and counted; a signature with one
 * rejected expression is disabled as a whole and moved from "loaded" to
 * "rejected" in the statistics (an .ldb with one missing subsignature would
 * otherwise evaluate wrongly).
 *
 * Hot reload (struct scan_engine_slot): the slot holds one reference to
 * the current engine. A reader announces itself in |readers|, loads the
 * pointer, takes a reference and leaves; the writer exchanges the pointer
 * and waits until |readers| drops to zero before releasing the old engine,
 * so no reader can take a reference on a freed engine. Readers never wait;
 * the writer waits a few instructions' worth. Sessions keep their engine to
 * the end: every message is scanned by exactly one complete generation.
 *
 * SECURITY: rule text comes from the administrator (control plane) and
 * signatures from ClamAV feeds; both are untrusted as far as memory safety
 * goes: Hyperscan parses them, our loaders bound every repeat.
 */
#include <iconv.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxg_err.h"
#include "scan_hs.h"

static uint64_t generation_counter;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

struct scan_engine *scan_engine_ref(struct scan_engine *e)
{
	if (e)
		__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
	return e;
}

static void engine_free(struct scan_engine *e)
{
	hs_free_database(e->vdb);
	hs_free_database(e->tdb);
	hs_free_database(e->ldb);
	hs_free_database(e->pdb);
	hs_free_scratch(e->proto);
	free(e->rules);
	scan_sigset_free(e->sigs);
	scan_dlp_free(e->dlp);
	scan_cfilter_free(e->cfilter);
	free(e);
}

void scan_engine_unref(struct scan_engine *e)
{
	if (e && __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) == 0)
		engine_free(e);
}

void scan_engine_info(const struct scan_engine *e, struct scan_engine_info *out)
{
	*out = e->info;
}

/* ---- build ---- */

struct build {
	struct scan_engine *e;
	const struct scan_config *cfg;
	const struct scan_hs_expr *ex;  /* the array being compiled */
	bool virus;
};

static void on_reject(size_t idx, const char *msg, void *ud)
{
	struct build *b = ud;
	struct scan_engine *e = b->e;

	if (b->virus) {
		const struct sig_pat *p = &e->sigs->pats[b->ex[idx].id];
		struct sig_def *d = &e->sigs->defs[p->sig];
		enum scan_sig_reason r = d->pcre_trig[p->sub] && d->kind == SIG_K_LDB ?
			SCAN_SIG_R_LDB_PCRE : SCAN_SIG_R_HS_REJECT;

		if (d->disabled)
			return;
		d->disabled = true;
		if (d->fmt < SCAN_SIG_FMT_MAX && d->kind != SIG_K_BUILTIN) {
			e->info.sigs.loaded[d->fmt]--;
			e->info.sigs.rejected[d->fmt]++;
			e->info.sigs.reason[r]++;
		}
		if (b->cfg && b->cfg->on_reject)
			b->cfg->on_reject(0, d->name, msg, b->cfg->ud);
	} else {
		const struct eng_rule *r = &e->rules[b->ex[idx].id];

		e->info.rules_rejected++;
		if (b->cfg && b->cfg->on_reject)
			b->cfg->on_reject(r->id, NULL, msg, b->cfg->ud);
	}
}

/* Escapes a keyword into a Hyperscan literal regex. */
static char *escape_literal(const char *s)
{
	size_t n = strlen(s), i, o = 0;
	char *p = malloc(n * 4 + 1);

	if (!p)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == ' ' || c >= 0x80) {
			p[o++] = (char)c;
		} else {
			snprintf(p + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	p[o] = 0;
	return p;
}

static unsigned int rule_hsflags(uint32_t f)
{
	unsigned int h = 0;

	if (f & SCAN_RF_CASELESS)
		h |= HS_FLAG_CASELESS;
	if (f & SCAN_RF_DOTALL)
		h |= HS_FLAG_DOTALL;
	if (f & SCAN_RF_MULTILINE)
		h |= HS_FLAG_MULTILINE;
	if (f & SCAN_RF_UTF8)
		h |= HS_FLAG_UTF8 | HS_FLAG_UCP;
	if (f & SCAN_RF_SOM)
		h |= HS_FLAG_SOM_LEFTMOST;
	return h;
}

static int build_rules(struct scan_engine *e, const struct scan_config *cfg)
{
	struct scan_hs_expr *tx = NULL, *lx = NULL;
	char **lits = NULL;
	size_t nt = 0, nl = 0, i;
	bool som = false;
	struct build b = { .e = e, .cfg = cfg };
	int rc = MXG_E_NOMEM;

	if (!cfg || !cfg->nrules)
		return 0;
	e->rules = calloc(cfg->nrules, sizeof(*e->rules));
	tx = calloc(cfg->nrules, sizeof(*tx));
	lx = calloc(cfg->nrules, sizeof(*lx));
	lits = calloc(cfg->nrules, sizeof(*lits));
	if (!e->rules || !tx || !lx || !lits)
		goto out;
	for (i = 0; i < cfg->nrules; i++) {
		const struct scan_rule *r = &cfg->rules[i];
		struct scan_hs_expr x = { .id = (unsigned int)i };

		e->rules[i] = (struct eng_rule){ r->id, r->where, r->flags };
		if (!r->pattern)
			continue;
		x.expr = r->pattern;
		if (r->flags & SCAN_RF_LITERAL) {
			lits[i] = escape_literal(r->pattern);
			if (!lits[i])
				goto out;
			x.expr = lits[i];
		}
		x.flags = rule_hsflags(r->flags);
		if (r->flags & SCAN_RF_SOM)
			som = true;
		if (r->where & SCAN_W_BODY)
			tx[nt++] = x;
		if (r->where & (SCAN_W_SUBJECT | SCAN_W_HEADER | SCAN_W_ATTACH_NAME)) {
			lx[nl++] = x;
			e->ldb_where |= r->where & (SCAN_W_SUBJECT | SCAN_W_HEADER |
						    SCAN_W_ATTACH_NAME);
		}
	}
	e->nrules = (uint32_t)cfg->nrules;
	b.ex = tx;
	rc = scan_hs_compile(tx, nt, HS_MODE_STREAM | (som ? HS_MODE_SOM_HORIZON_LARGE : 0),
			     on_reject, &b, &e->tdb);
	if (rc)
		goto out;
	b.ex = lx;
	rc = scan_hs_compile(lx, nl, HS_MODE_BLOCK, on_reject, &b, &e->ldb);
	if (rc)
		goto out;
	/* A rule in both databases and rejected twice counts once. */
	if (e->info.rules_rejected > cfg->nrules)
		e->info.rules_rejected = (uint32_t)cfg->nrules;
	e->info.rules = (uint32_t)cfg->nrules - e->info.rules_rejected;
out:
	if (lits)
		for (i = 0; i < cfg->nrules; i++)
			free(lits[i]);
	free(lits);
	free(tx);
	free(lx);
	return rc;
}

static int build_virus(struct scan_engine *e, const struct scan_config *cfg)
{
	struct scan_sigset *s = e->sigs;
	struct scan_hs_expr *vx;
	struct build b = { .e = e, .cfg = cfg, .virus = true };
	uint32_t i;
	int rc;

	vx = calloc(s->npats, sizeof(*vx));
	if (!vx)
		return MXG_E_NOMEM;
	for (i = 0; i < s->npats; i++) {
		const struct sig_pat *p = &s->pats[i];

		vx[i].expr = p->expr;
		vx[i].flags = p->hsflags | (p->count ? 0 : HS_FLAG_SINGLEMATCH);
		vx[i].id = i;
		vx[i].min_off = p->min_off;
		vx[i].max_off = p->max_off;
	}
	b.ex = vx;
	rc = scan_hs_compile(vx, s->npats, HS_MODE_STREAM, on_reject, &b, &e->vdb);
	e->info.body_patterns = s->npats;
	if (!rc && s->npe) {
		/* PE-relative offsets: the same expressions again, block mode with
		 * start of match, scanned over the whole PE at end of file. */
		uint32_t n = 0;

		for (i = 0; i < s->npats; i++) {
			const struct sig_pat *p = &s->pats[i];

			if (!p->pe || s->defs[p->sig].disabled)
				continue;
			vx[n].expr = p->expr;
			vx[n].flags = p->hsflags | HS_FLAG_SOM_LEFTMOST;
			vx[n].id = i;
			vx[n].min_off = vx[n].max_off = 0;
			n++;
		}
		if (n)
			rc = scan_hs_compile(vx, n, HS_MODE_BLOCK, on_reject, &b, &e->pdb);
	}
	free(vx);
	return rc;
}

struct scan_engine *scan_engine_build(const struct scan_config *cfg, struct scan_sigset *sigs,
				      char *err, size_t errcap)
{
	struct scan_engine *e = calloc(1, sizeof(*e));
	const char *why = "out of memory";
	size_t sz;
	int rc;

	if (!e) {
		scan_sigset_free(sigs);
		if (cfg) {
			scan_dlp_free(cfg->dlp);
			scan_cfilter_free(cfg->cfilter);
		}
		goto fail;
	}
	if (cfg) {
		e->dlp = cfg->dlp;
		e->cfilter = cfg->cfilter;
		e->info.dlp_templates = e->dlp ? (uint32_t)scan_dlp_template_count(e->dlp) : 0;
		e->info.cf_rules = e->cfilter ? (uint32_t)scan_cfilter_rule_count(e->cfilter) : 0;
	}
	e->refs = 1;
	e->generation = __atomic_add_fetch(&generation_counter, 1, __ATOMIC_RELAXED);
	if (!sigs)
		sigs = scan_sigset_new(NULL);
	e->sigs = sigs;
	if (!sigs || sig_add_builtin(sigs))
		goto fail;
	sig_finalize(sigs);
	e->info.sigs = sigs->st;
	e->info.hash_sigs = sigs->nhashes;
	e->info.pe_section_sigs = sigs->nshashes;
	e->hash_algs = sigs->hash_algs | (cfg ? cfg->hash_algs : 0);
	if ((rc = build_rules(e, cfg)) || (rc = build_virus(e, cfg)))
		goto fail;
	if (!e->vdb) {
		why = "virus database did not compile";
		goto fail;
	}
	if (scan_hs_roundtrip(&e->vdb) || scan_hs_roundtrip(&e->tdb) ||
	    scan_hs_roundtrip(&e->ldb) || scan_hs_roundtrip(&e->pdb)) {
		why = "database serialisation round trip failed";
		goto fail;
	}
	if (hs_alloc_scratch(e->vdb, &e->proto) != HS_SUCCESS ||
	    (e->tdb && hs_alloc_scratch(e->tdb, &e->proto) != HS_SUCCESS) ||
	    (e->ldb && hs_alloc_scratch(e->ldb, &e->proto) != HS_SUCCESS) ||
	    (e->pdb && hs_alloc_scratch(e->pdb, &e->proto) != HS_SUCCESS))
		goto fail;
	e->info.generation = e->generation;
	e->info.db_bytes = 0;
	if (hs_database_size(e->vdb, &sz) == HS_SUCCESS)
		e->info.db_bytes += sz;
	if (e->tdb && hs_database_size(e->tdb, &sz) == HS_SUCCESS)
		e->info.db_bytes += sz;
	if (e->ldb && hs_database_size(e->ldb, &sz) == HS_SUCCESS)
		e->info.db_bytes += sz;
	if (e->pdb && hs_database_size(e->pdb, &sz) == HS_SUCCESS)
		e->info.db_bytes += sz;
	return e;
fail:
	if (err && errcap)
		snprintf(err, errcap, "scan engine: %s", why);
	if (e)
		engine_free(e);
	return NULL;
}

/* ---- hot reload ---- */

struct scan_engine_slot {
	const struct mxg_mem *mem;
	struct scan_engine *_Atomic cur;
	atomic_uint readers;
};

struct scan_engine_slot *scan_engine_slot_new(const struct mxg_mem *mem,
					      struct scan_engine *initial)
{
	struct scan_engine_slot *s;

	if (!mem)
		mem = mxg_mem_default();
	s = mxg_calloc(mem, 1, sizeof(*s));
	if (!s) {
		scan_engine_unref(initial);
		return NULL;
	}
	s->mem = mem;
	atomic_init(&s->cur, initial);
	atomic_init(&s->readers, 0);
	return s;
}

void scan_engine_slot_free(struct scan_engine_slot *s)
{
	if (!s)
		return;
	scan_engine_unref(atomic_load(&s->cur));
	mxg_free(s->mem, s);
}

struct scan_engine *scan_engine_slot_acquire(struct scan_engine_slot *s)
{
	struct scan_engine *e;

	atomic_fetch_add_explicit(&s->readers, 1, memory_order_seq_cst);
	e = scan_engine_ref(atomic_load_explicit(&s->cur, memory_order_seq_cst));
	atomic_fetch_sub_explicit(&s->readers, 1, memory_order_release);
	return e;
}

void scan_engine_slot_swap(struct scan_engine_slot *s, struct scan_engine *next)
{
	struct scan_engine *old = atomic_exchange_explicit(&s->cur, next, memory_order_seq_cst);

	/* A reader that loaded |old| is still inside acquire: let it take its
	 * reference before ours goes. */
	while (atomic_load_explicit(&s->readers, memory_order_acquire) != 0)
		cpu_relax();
	scan_engine_unref(old);
}

/* ---- scratch ---- */

/* glibc loads an iconv module (CP1252.so ...) with dlopen at iconv_open
 * and unloads it at the last iconv_close: a text part per message meant a
 * dlopen/dlclose (and a TLB shootdown) per message, a quarter of the CPU in
 * scan-bench. A scratch (one per scanning thread) keeps one descriptor of
 * the common mail charsets open, so the modules stay mapped. */
static const char *const pinned_charsets[] = {
	"WINDOWS-1252", "ISO-8859-1", "ISO-8859-2", "ISO-8859-15", "WINDOWS-1251",
	"KOI8-R", "GB18030", "BIG5", "SHIFT_JIS", "EUC-JP", "ISO-2022-JP", "EUC-KR",
};
#define NPINNED (sizeof(pinned_charsets) / sizeof(pinned_charsets[0]))

struct scan_scratch {
	hs_scratch_t *hs;
	struct scan_ftype *ft;   /* true type (libmagic handle), lazily */
	iconv_t pin[NPINNED];
};

struct scan_scratch *scan_scratch_new(void)
{
	struct scan_scratch *s = calloc(1, sizeof(struct scan_scratch));
	size_t i;

	if (s)
		for (i = 0; i < NPINNED; i++)
			s->pin[i] = iconv_open("UTF-8", pinned_charsets[i]);
	return s;
}

void scan_scratch_free(struct scan_scratch *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < NPINNED; i++)
		if (s->pin[i] != (iconv_t)-1)
			iconv_close(s->pin[i]);
	hs_free_scratch(s->hs);
	scan_ftype_free(s->ft);
	free(s);
}

struct scan_ftype *scan_scratch_ftype(struct scan_scratch *s)
{
	if (!s->ft)
		s->ft = scan_ftype_new(NULL, NULL);
	return s->ft;
}

int scan_scratch_prepare(struct scan_scratch *s, const struct scan_engine *e)
{
	if (hs_alloc_scratch(e->vdb, &s->hs) != HS_SUCCESS ||
	    (e->tdb && hs_alloc_scratch(e->tdb, &s->hs) != HS_SUCCESS) ||
	    (e->ldb && hs_alloc_scratch(e->ldb, &s->hs) != HS_SUCCESS) ||
	    (e->pdb && hs_alloc_scratch(e->pdb, &s->hs) != HS_SUCCESS))
		return MXG_E_NOMEM;
	return 0;
}

hs_scratch_t *scan_scratch_hs(struct scan_scratch *s)
{
	return s->hs;
}

const char *scan_where_name(uint32_t where)
{
	switch (where) {
	case SCAN_W_SUBJECT:
		return "subject";
	case SCAN_W_HEADER:
		return "header";
	case SCAN_W_BODY:
		return "body";
	case SCAN_W_ATTACH_NAME:
		return "attachment-name";
	default:
		return "?";
	}
}

const char *scan_virus_kind_name(enum scan_virus_kind k)
{
	static const char *const n[] = { "hash", "body", "logical", "builtin" };

	return (unsigned)k < 4 ? n[k] : "?";
}
