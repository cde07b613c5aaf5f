/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_hs.h - Hyperscan databases of the scan engine, and the engine's
 * private layout (shared by scan_engine.c and scan_session.c; not public).
 *
 * An engine holds three databases:
 *
 *	vdb  streaming  virus body patterns (ndb, ldb subsignatures, EICAR)
 *	                over the decoded bytes of every file; ids index
 *	                sigs->pats[]. Single-match unless the signature needs
 *	                counts (ldb) or end-of-file offsets.
 *	tdb  streaming  content rules with SCAN_W_BODY over the UTF-8 text of
 *	                text parts; ids index rules[]. SOM horizon "large"
 *	                when a rule asks for SOM.
 *	ldb  block      content rules with SCAN_W_SUBJECT/HEADER/ATTACH_NAME,
 *	                run once per header value or file name (these are
 *	                whole strings already, so block mode); ids index
 *	                rules[], the match handler filters on where.
 *
 * Compilation rejects: hs_compile_ext_multi() stops at the first
 * expression it cannot compile; scan_hs_compile() reports it, leaves it out
 * and retries (after a cheap hs_expression_ext_info() pass that catches
 * syntax errors in one go), so one bad rule never takes the others down.
 * PCRE2 fallback for rejected rules is left for later (would be per-part
 * buffered matching: noted in the issue).
 */
#ifndef MXG_SCAN_HS_H
#define MXG_SCAN_HS_H

#include <stddef.h>
#include <stdint.h>

#include <hs/hs.h>

#include "scan.h"
#include "scan_sig_int.h"

struct scan_hs_expr {
	const char *expr;      /* borrowed */
	unsigned int flags;    /* HS_FLAG_* */
	unsigned int id;       /* match id */
	unsigned long long min_off, max_off; /* 0: none */
};

/* Called for each rejected expression (index in the array given). */
typedef void scan_hs_reject_fn(size_t idx, const char *msg, void *ud);

/* Compiles |n| expressions in |mode| (HS_MODE_*). Rejected ones are
 * reported and left out. *db is NULL when nothing compiled (n == 0 or all
 * rejected). Returns 0 or MXG_E_NOMEM. */
int scan_hs_compile(const struct scan_hs_expr *ex, size_t n, unsigned int mode,
		    scan_hs_reject_fn *cb, void *ud, hs_database_t **db);

/* Serialises |db| into a malloc'd buffer (free with free()). 0 or NOMEM. */
int scan_hs_serialize(const hs_database_t *db, char **buf, size_t *len);
/* Deserialises; 0, MXG_E_INVAL (not a database for this platform) or NOMEM. */
int scan_hs_deserialize(const char *buf, size_t len, hs_database_t **db);
/* Replaces *db by its serialise-deserialise round trip (the form in which
 * the control plane ships databases to the dataplane). */
int scan_hs_roundtrip(hs_database_t **db);

struct eng_rule {
	uint32_t id;     /* scan_rule.id */
	uint32_t where;  /* SCAN_W_* */
	uint32_t flags;  /* SCAN_RF_* */
};

struct scan_engine {
	uint32_t refs;                /* atomic */
	uint64_t generation;
	struct scan_sigset *sigs;     /* owned; finalised */
	hs_database_t *vdb, *tdb, *ldb;
	hs_database_t *pdb;           /* block, SOM: PE-relative patterns (or NULL) */
	hs_scratch_t *proto;          /* prototype scratch for the three */
	struct eng_rule *rules;
	uint32_t nrules;
	uint32_t ldb_where;           /* SCAN_W_* of the rules in ldb: a header
	                               * or name no rule looks at is not scanned */
	uint32_t hash_algs;           /* computed per file */
	struct scan_dlp *dlp;         /* owned; NULL or compiled */
	struct scan_cfilter *cfilter; /* owned; NULL or compiled */
	struct scan_engine_info info;
};

/* The Hyperscan scratch inside a struct scan_scratch (scan_engine.c). */
hs_scratch_t *scan_scratch_hs(struct scan_scratch *s);
/* The scratch's true-type detector, created at the first call; NULL when
 * out of memory. */
struct scan_ftype *scan_scratch_ftype(struct scan_scratch *s);

#endif
