/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan.h - the scan engine's public API: compiled engines, hot reload, and
 * the per-message scan session.
 *
 *	struct scan_engine   immutable compiled state: Hyperscan databases for
 *	                     the content-filter rules (subject, headers, body
 *	                     text, attachment names) and the virus signatures
 *	                     (ClamAV formats, scan_sig.h, plus built-in EICAR),
 *	                     and the hash tables of the hash signatures.
 *	                     Refcounted; built off the hot path.
 *	struct scan_engine_slot  the current engine of a process: sessions take a
 *	                     reference when they start and keep it to the end,
 *	                     the control thread swaps in a new generation at any
 *	                     time (hot reload; readers never block).
 *	struct scan_session  one message: the raw message (after SMTP
 *	                     dot-unstuffing) is fed as it streams in; the session
 *	                     drives the MIME parser, and per leaf part computes
 *	                     hashes, runs the virus database in streaming mode
 *	                     (one Hyperscan stream per part and database; no part
 *	                     is held whole for matching), converts text parts to
 *	                     UTF-8 (HTML reduced to text) for the body rules, and
 *	                     at the end returns a structured result for policy.
 *
 * Sans-IO: no sockets, no clock, no threads. Scratch: a Hyperscan scratch is
 * needed per thread that scans. A session created with scan_session_new()
 * owns one (cloned from the engine's prototype); an lcore that runs many
 * sessions to completion passes its own struct scan_scratch to
 * scan_session_new_ex() and saves the clone (one scratch serves every
 * session of the thread, since scans never interleave inside one call).
 *
 * Allocation: session memory (parser, result, strings, per-part state) comes
 * from the struct mxg_mem given at create. Hyperscan databases, streams and
 * scratch, and OpenSSL digest contexts, use their libraries' allocators
 * (hs_set_allocator is process-global: not worth hijacking per session).
 *
 * Other scan components: archive expansion (scan_archive.h) is wired in:
 * members run through the same per-file pipeline (hashes, signatures,
 * magic) and appear in the inventory with SCAN_PF_MEMBER. True file type
 * (scan_ftype.h), DLP (scan_dlp.h), URL extraction (scan_url.h) and the
 * PCRE2 content filters (scan_cfilter.h) are not wired yet; their hook
 * points are marked "hook:" in scan_session.c (the UTF-8 text stream in
 * text_scan(), HTML links in html_link(), whole files in sfile_end()).
 */
#ifndef MXG_SCAN_SCAN_H
#define MXG_SCAN_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mime.h"
#include "mxg_mem.h"
#include "scan_sig.h"

struct scan_engine;
struct scan_engine_slot;
struct scan_session;
struct scan_scratch;

/* ---- content-filter rules ---- */

/* Where a rule applies (struct scan_rule.where, a mask). */
#define SCAN_W_SUBJECT 0x01u     /* Subject of the message (RFC 2047 decoded, UTF-8) */
#define SCAN_W_HEADER 0x02u      /* every header field "Name: value" (2047 decoded) */
#define SCAN_W_BODY 0x04u        /* text parts as UTF-8 (HTML reduced to text) */
#define SCAN_W_ATTACH_NAME 0x08u /* file names of parts (UTF-8) */
#define SCAN_W_ALL 0x0fu

/* Rule flags (struct scan_rule.flags), mapped to Hyperscan flags. */
#define SCAN_RF_LITERAL 0x01u   /* pattern is a keyword, not a regex */
#define SCAN_RF_CASELESS 0x02u
#define SCAN_RF_DOTALL 0x04u
#define SCAN_RF_MULTILINE 0x08u
#define SCAN_RF_UTF8 0x10u      /* UTF-8 pattern and subject (HS_FLAG_UTF8|UCP) */
#define SCAN_RF_SOM 0x20u       /* report the start of the first match */

struct scan_rule {
	uint32_t id;         /* caller's rule id, reported back in scan_rule_hit */
	uint32_t where;      /* SCAN_W_* mask */
	uint32_t flags;      /* SCAN_RF_* */
	const char *pattern; /* NUL-terminated; borrowed during the build */
};

/* Called once per rule or signature expression that Hyperscan rejects. For a
 * content rule |rule_id| is its id and |sig| NULL; for a signature, |sig|
 * is its name. |msg| is Hyperscan's reason. */
typedef void scan_reject_fn(uint32_t rule_id, const char *sig, const char *msg, void *ud);

#define SCAN_HASH_MD5 0x1u
#define SCAN_HASH_SHA1 0x2u
#define SCAN_HASH_SHA256 0x4u

struct scan_config {
	const struct scan_rule *rules; /* content rules (may be NULL) */
	size_t nrules;
	uint32_t hash_algs;            /* SCAN_HASH_* computed per file for the
	                                * inventory; the hash signatures' own
	                                * algorithms are added automatically */
	scan_reject_fn *on_reject;     /* may be NULL */
	void *ud;
};

/* Builds an engine (slow: compiles Hyperscan databases; off the hot path).
 * |sigs| (transferred, may be NULL) is the loaded signature set; the engine
 * frees it. Each database is serialised and deserialised once on the way
 * (the form in which the control plane ships them). The built-in EICAR
 * signature is always present. Returns the engine with one reference, or
 * NULL with |err| filled (out of memory, or no database at all could be
 * compiled). Rules or signatures Hyperscan rejects are reported through
 * |cfg->on_reject|, counted (scan_engine_info) and left out. */
struct scan_engine *scan_engine_build(const struct scan_config *cfg, struct scan_sigset *sigs,
				      char *err, size_t errcap);

struct scan_engine *scan_engine_ref(struct scan_engine *e);
void scan_engine_unref(struct scan_engine *e); /* NULL is fine */

struct scan_engine_info {
	uint64_t generation;         /* unique, increasing per build */
	uint32_t rules;              /* content rules compiled */
	uint32_t rules_rejected;     /* content rules Hyperscan refused */
	uint32_t body_patterns;      /* expressions in the virus database */
	uint32_t hash_sigs;          /* hash signatures (hdb/hsb) */
	struct scan_sig_stats sigs;  /* loader statistics, incl. HS rejects */
	size_t db_bytes;             /* size of all databases */
};
void scan_engine_info(const struct scan_engine *e, struct scan_engine_info *out);

/* ---- hot reload ---- */

/* A slot holding the current engine. |initial| is transferred (may be NULL).
 * Returns NULL when out of memory (|initial| is then released). */
struct scan_engine_slot *scan_engine_slot_new(const struct mxg_mem *mem,
					      struct scan_engine *initial);
void scan_engine_slot_free(struct scan_engine_slot *s);
/* Returns a new reference to the current engine (NULL if none); lock-free,
 * any thread. Release it with scan_engine_unref(). */
struct scan_engine *scan_engine_slot_acquire(struct scan_engine_slot *s);
/* Installs |next| (transferred) and releases the slot's reference to the
 * previous engine once no reader is between its load and its ref. Sessions
 * started on the old engine finish on it. One writer at a time. */
void scan_engine_slot_swap(struct scan_engine_slot *s, struct scan_engine *next);

/* ---- scratch (one per scanning thread) ---- */
struct scan_scratch *scan_scratch_new(void);
void scan_scratch_free(struct scan_scratch *s);
/* Makes |s| usable with |e| (grows it; call when a new engine generation is
 * seen, off the per-packet path). Returns 0 or MXG_E_NOMEM. */
int scan_scratch_prepare(struct scan_scratch *s, const struct scan_engine *e);

/* ---- session ---- */

struct scan_limits {
	struct mime_limits mime;    /* MIME parser limits */
	uint32_t max_files;         /* files scanned (parts + members); beyond: not scanned */
	uint32_t max_hits;          /* virus + rule hits recorded (more are counted) */
	uint32_t hash_algs;         /* extra SCAN_HASH_* for this session */
};
/* Defaults: mime_limits_default, 10000 files, 1000 hits, SHA-256 of every
 * file for the inventory (set hash_algs to 0 to compute only what the hash
 * signatures need). */
void scan_limits_default(struct scan_limits *l);

/* Result flags. */
#define SCAN_R_VIRUS 0x01u      /* at least one virus hit */
#define SCAN_R_RULE 0x02u       /* at least one content rule hit */
#define SCAN_R_MALFORMED 0x04u  /* MIME anomalies (see mime) */
#define SCAN_R_LIMIT 0x08u      /* a limit was hit: not everything was scanned */
#define SCAN_R_ERROR 0x10u      /* scanning failed (out of memory, Hyperscan
                                 * error): the verdict is incomplete */

/* Part flags (struct scan_part.flags). */
#define SCAN_PF_LEAF 0x01u      /* a file: size and hashes are valid */
#define SCAN_PF_TEXT 0x02u      /* scanned as text by the body rules */
#define SCAN_PF_MEMBER 0x04u    /* extracted from an archive (hook) */
#define SCAN_PF_NOT_SCANNED 0x08u /* over max_files */

struct scan_part {
	char path[MIME_PATH_MAX];     /* MIME path; members "P/a/b" */
	uint32_t parent;              /* index in parts[], UINT32_MAX for the root */
	uint32_t flags;               /* SCAN_PF_* */
	uint32_t mime_flags;          /* MIME_PF_* */
	const char *ctype;            /* declared content type */
	const char *filename;         /* NULL when none */
	const char *declared_type;    /* by file name extension ("exe"), or NULL */
	const char *detected_type;    /* by content (magic): "pe", "zip", ..., or NULL */
	uint64_t size;                /* decoded bytes */
	uint32_t hashes;              /* SCAN_HASH_* valid below */
	uint8_t md5[16];
	uint8_t sha1[20];
	uint8_t sha256[32];
};

enum scan_virus_kind {
	SCAN_VK_HASH = 0,   /* hdb/hsb: whole-file hash and size */
	SCAN_VK_BODY,       /* ndb body signature */
	SCAN_VK_LOGICAL,    /* ldb logical signature */
	SCAN_VK_BUILTIN,    /* built-in (EICAR) */
};

struct scan_virus_hit {
	const char *name;            /* signature name */
	uint32_t part;               /* index in parts[] */
	enum scan_virus_kind kind;
};

struct scan_rule_hit {
	uint32_t rule_id;            /* scan_rule.id */
	uint32_t where;              /* one SCAN_W_* */
	uint32_t part;               /* index in parts[] of the first hit */
	uint32_t count;              /* matches (all parts) */
	uint64_t som;                /* first match start if SCAN_RF_SOM, else 0 */
};

/* The result. Lent out: valid until scan_session_free(). */
struct scan_result {
	uint32_t flags;                    /* SCAN_R_* */
	uint64_t generation;               /* engine generation that scanned */
	const struct scan_part *parts;     /* inventory, in MIME order */
	size_t nparts;
	const struct scan_virus_hit *viruses;
	size_t nviruses;
	const struct scan_rule_hit *rules;
	size_t nrules;
	uint32_t hits_dropped;             /* over max_hits */
	uint32_t files_not_scanned;        /* over max_files */
	int error;                         /* first MXG_E_* behind SCAN_R_ERROR */
	uint32_t archive_flags;            /* SCAN_ARF_* of scan_archive.h, all
	                                    * archives (bomb, too deep, encrypted,
	                                    * corrupt, traversal) */
	const struct mime_result *mime;    /* parser summary (anomalies, limits) */
};

/* Creates a session on |e| (a reference is taken), with |mem| (NULL: libc)
 * and |limits| (NULL: defaults; copied). It owns a scratch. Returns NULL
 * when out of memory. */
struct scan_session *scan_session_new(struct scan_engine *e, const struct mxg_mem *mem,
				      const struct scan_limits *limits);
/* Same, with a borrowed per-thread |scratch| already prepared for |e|
 * (scan_scratch_prepare). */
struct scan_session *scan_session_new_ex(struct scan_engine *e, const struct mxg_mem *mem,
					 const struct scan_limits *limits,
					 struct scan_scratch *scratch);
void scan_session_free(struct scan_session *s);

/* Feeds |len| bytes of the raw message (borrowed). Returns 0, or a negative
 * MXG_E_* code (fatal codes: the session is dead but still gives a result
 * flagged SCAN_R_ERROR after scan_session_finish). */
int scan_session_feed(struct scan_session *s, const uint8_t *in, size_t len);

/* Ends the message and returns the result (never NULL; lent out until
 * scan_session_free). Call once; later calls return the same result. */
const struct scan_result *scan_session_finish(struct scan_session *s);

/* Scans one whole file that is not a message (mxgate-scan on a raw file, an
 * archive member given whole): same per-file pipeline as a MIME leaf. May
 * be called instead of feed (never both). Returns 0 or MXG_E_*. */
int scan_session_scan_file(struct scan_session *s, const char *name, const uint8_t *data,
			   size_t len);

/* ---- names for logs ---- */
const char *scan_where_name(uint32_t where);
const char *scan_virus_kind_name(enum scan_virus_kind k);

#endif
