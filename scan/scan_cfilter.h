/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_cfilter.h - pattern lists and content filters.
 *
 * Pattern list (struct scan_plist): the one list format shared by content
 * filters and DLP custom lists. An entry is a UTF-8 expression plus flags:
 * a literal keyword (SCAN_PAT_REGEX clear) or a PCRE-syntax regular
 * expression in the common subset Hyperscan also compiles (no
 * backreferences or lookarounds are needed by us, none are refused here).
 * The list is compiled with PCRE2 (JIT when available) for now; the
 * Hyperscan side reads the same entries with scan_plist_get() and compiles
 * them there (keyword -> escaped literal, SCAN_PAT_WORD -> \b...\b,
 * SCAN_PAT_CASELESS -> HS_FLAG_CASELESS, ids unchanged). PCRE2 allocates
 * through struct mxg_mem; every match runs under a per-list match limit
 * (backtracking budget: no clock needed, no catastrophic regex stall).
 *
 * Content filter (struct scan_cfilter): rules of conditions on the pieces
 * the session collects: subject, body text (streamed, UTF-8), header fields
 * (all, or one named field), attachment names, attachment sizes and count,
 * message size. A rule matches when any (SCAN_CF_ANY) or all (SCAN_CF_ALL)
 * of its conditions hold; a text condition holds when any of its patterns
 * matches one of its fields. Body matching streams over chunks with a
 * carried window: a match spanning a chunk boundary is found when it is at
 * most SCAN_CF_SPAN bytes long.
 *
 * Compiled objects (scan_plist, scan_cfilter) are immutable after compile
 * and may be shared by threads; the evaluation objects are per owner.
 */
#ifndef MXG_SCAN_CFILTER_H
#define MXG_SCAN_CFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxg_mem.h"

/* ---- pattern lists ---- */

#define SCAN_PAT_REGEX 0x01u    /* expression is a regex (else a literal keyword) */
#define SCAN_PAT_CASELESS 0x02u /* ASCII and Unicode simple case folding */
#define SCAN_PAT_WORD 0x04u     /* keyword only: whole word (\b on both sides) */

struct scan_pattern {
	uint32_t id;      /* the caller's id, reported on match */
	uint32_t flags;   /* SCAN_PAT_* */
	const char *expr; /* NUL-terminated UTF-8 */
};

struct scan_plist;

/* Creates an empty list; |mem| may be NULL. |match_limit| bounds one
 * pcre2_match (0: 100000). Returns NULL when out of memory. */
struct scan_plist *scan_plist_new(const struct mxg_mem *mem, uint32_t match_limit);
void scan_plist_free(struct scan_plist *l);
/* Appends an entry (|expr| copied). Returns its index (>= 0), MXG_E_NOMEM,
 * or MXG_E_INVAL (empty expression, after compile). */
int scan_plist_add(struct scan_plist *l, uint32_t id, const char *expr, uint32_t flags);
/* Compiles every entry. Returns 0, MXG_E_NOMEM, or MXG_E_INVAL with the
 * failing index and PCRE2's message in |err| (capacity |errcap|, may be 0). */
int scan_plist_compile(struct scan_plist *l, char *err, size_t errcap);
size_t scan_plist_count(const struct scan_plist *l);
/* Entry |i| (lent out until scan_plist_free), NULL when out of range. */
const struct scan_pattern *scan_plist_get(const struct scan_plist *l, size_t i);

/* Per-owner match state (PCRE2 match data). */
struct scan_plist_md;
struct scan_plist_md *scan_plist_md_new(const struct scan_plist *l);
void scan_plist_md_free(struct scan_plist_md *md);

/* Reports every non-overlapping match of every entry in |subj|[|start|..
 * |len|) (bytes before |start| are look-behind context) through |on_match|
 * (entry index, match start and end offsets in |subj|); |on_match| returns
 * 0 to go on, 1 to skip to the next entry, negative to stop. Returns the
 * matches reported, or the negative code of |on_match|. A match exceeding
 * the match limit counts as no match (and in *limited when not NULL). */
int scan_plist_scan(const struct scan_plist *l, struct scan_plist_md *md, const uint8_t *subj,
		    size_t len, size_t start,
		    int (*on_match)(uint32_t idx, size_t so, size_t eo, void *ud), void *ud,
		    uint32_t *limited);

/* ---- content filters ---- */

enum scan_cf_field {
	SCAN_CF_SUBJECT = 0, /* decoded Subject (RFC 2047) */
	SCAN_CF_BODY,        /* text of every text part (streamed) */
	SCAN_CF_HEADER,      /* "Name: value" of every header, or of one named field */
	SCAN_CF_ATTACH_NAME, /* file name of every attachment */
	SCAN_CF_FIELD_MAX
};

enum scan_cf_mode {
	SCAN_CF_ANY = 0, /* the rule matches when one condition holds */
	SCAN_CF_ALL,     /* ... when every condition holds */
};

#define SCAN_CF_SPAN 1024 /* longest body match found across chunk boundaries */

struct scan_cfilter;

struct scan_cfilter *scan_cfilter_new(const struct mxg_mem *mem);
void scan_cfilter_free(struct scan_cfilter *cf);
/* Adds a rule; returns its index (>= 0) or MXG_E_NOMEM. |name| copied. */
int scan_cfilter_add_rule(struct scan_cfilter *cf, const char *name, enum scan_cf_mode mode);
/* Adds a text condition to |rule|: |patterns| (|n| expressions, copied,
 * SCAN_PAT_* |flags| each) searched in the fields of |fields| (mask of
 * 1u << SCAN_CF_*). |header| (may be NULL: all fields) restricts
 * SCAN_CF_HEADER to one field name (case-insensitive); the value alone is
 * then matched. Returns 0, MXG_E_INVAL or MXG_E_NOMEM. */
int scan_cfilter_add_text(struct scan_cfilter *cf, int rule, uint32_t fields, const char *header,
			  const char *const *patterns, const uint32_t *flags, size_t n);
/* Size and count conditions (each adds one condition to |rule|):
 * an attachment larger than |min| bytes (and, when |max| > 0, at most
 * |max|); more than |count| attachments; a message larger than |size|. */
int scan_cfilter_add_attach_size(struct scan_cfilter *cf, int rule, uint64_t min, uint64_t max);
int scan_cfilter_add_attach_count(struct scan_cfilter *cf, int rule, uint32_t count);
int scan_cfilter_add_msg_size(struct scan_cfilter *cf, int rule, uint64_t size);
/* Compiles every rule's patterns. Returns 0, MXG_E_INVAL (message in |err|)
 * or MXG_E_NOMEM. No rule may be added after. */
int scan_cfilter_compile(struct scan_cfilter *cf, char *err, size_t errcap);
size_t scan_cfilter_rule_count(const struct scan_cfilter *cf);
const char *scan_cfilter_rule_name(const struct scan_cfilter *cf, size_t rule);
/* The pattern list of all text conditions (id = rule << 16 | condition),
 * lent out until scan_cfilter_free: for the Hyperscan side. */
const struct scan_plist *scan_cfilter_plist(const struct scan_cfilter *cf);

/* What the session collects for one message; all borrowed for the call. */
struct scan_cf_header {
	const char *name;  /* field name as sent */
	const char *value; /* unfolded value, decoded to UTF-8 where it can */
	size_t value_len;
};
struct scan_cf_attachment {
	const char *name;  /* file name (UTF-8) or NULL */
	uint64_t size;     /* decoded size */
};
struct scan_cf_input {
	const char *subject; /* decoded, or NULL */
	size_t subject_len;
	const struct scan_cf_header *headers;
	size_t nheaders;
	const struct scan_cf_attachment *attachments;
	size_t nattachments;
	uint64_t msg_size;
};

/* One message's evaluation (per owner). */
struct scan_cf_eval;

struct scan_cf_hit {
	uint32_t rule;            /* rule index */
	enum scan_cf_field field; /* field of the first text match (SUBJECT.. or
				   * SCAN_CF_FIELD_MAX for a size/count rule) */
};

struct scan_cf_eval *scan_cf_eval_new(const struct scan_cfilter *cf, const struct mxg_mem *mem);
void scan_cf_eval_free(struct scan_cf_eval *ev);
/* Forgets everything for a new message. */
void scan_cf_eval_reset(struct scan_cf_eval *ev);
/* Feeds body text (UTF-8, any chunking; borrowed). Call
 * scan_cf_eval_body_end() between two text parts so no match spans them.
 * Returns 0 or MXG_E_NOMEM. */
int scan_cf_eval_body(struct scan_cf_eval *ev, const uint8_t *p, size_t n);
int scan_cf_eval_body_end(struct scan_cf_eval *ev);
/* Evaluates every rule on |in| and the body seen; sets *hits (lent out
 * until the next call on |ev|) and returns how many rules matched (>= 0),
 * or MXG_E_NOMEM. */
int scan_cf_eval_finish(struct scan_cf_eval *ev, const struct scan_cf_input *in,
			const struct scan_cf_hit **hits);

#endif
