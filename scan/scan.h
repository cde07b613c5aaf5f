/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan.h - the scan engine's public API: compiled engines, hot reload, and
 * the per-message scan session.
 *
 *	struct scan_engine   immutable compiled state: Hyperscan databases for
 *	                     the content rules (subject, headers, body text,
 *	                     attachment names) and the virus signatures
 *	                     (ClamAV formats, scan_sig.h, plus built-in EICAR),
 *	                     the hash tables of the hash signatures, the DLP
 *	                     templates (scan_dlp.h) and the PCRE2 content
 *	                     filters (scan_cfilter.h). Refcounted; built off
 *	                     the hot path.
 *	struct scan_engine_slot  the current engine of a process: sessions take a
 *	                     reference when they start and keep it to the end,
 *	                     the control thread swaps in a new generation at any
 *	                     time (hot reload; readers never block).
 *	struct scan_session  one message at a time: the raw message (after SMTP
 *	                     dot-unstuffing) is fed as it streams in; the session
 *	                     drives the MIME parser and, per leaf part:
 *	                       - hashes, the virus database in streaming mode
 *	                         (no part is held whole for matching), hash,
 *	                         body and logical signatures at its end;
 *	                       - the true file type (scan_ftype.h): category,
 *	                         MIME type, macros / JavaScript / encryption /
 *	                         name-mismatch flags;
 *	                       - archives expanded (scan_archive.h), each member
 *	                         through the same per-file pipeline;
 *	                       - text parts converted to UTF-8 (HTML reduced to
 *	                         text plus links) and fed to the body rules, one
 *	                         DLP stream per message, the URL extractor
 *	                         (scan_url.h) and the content filters' body,
 *	                         and kept for the caller when asked
 *	                         (scan_limits.keep_text, scan_result.text);
 *	                         text found in attachments and members (true
 *	                         type text/HTML/XML, first 256 KiB) goes to DLP
 *	                         and URLs too;
 *	                     and the preamble, epilogue and unparsed bytes of
 *	                     multiparts go through the virus database and the
 *	                     body consumers, so a malformed message cannot hide
 *	                     content there. At the end: a structured result.
 *	                     scan_session_reset() starts the next message on the
 *	                     same object (one session per lcore, no per-message
 *	                     allocation once warm).
 *
 * Sans-IO: no sockets, no clock, no threads. Scratch: a Hyperscan scratch is
 * needed per thread that scans. A session created with scan_session_new()
 * owns one (cloned from the engine's prototype); an lcore that runs many
 * sessions passes its own struct scan_scratch to scan_session_new_ex() (one
 * scratch serves every session of the thread, since scans never interleave
 * inside one call). The scratch also owns the thread's libmagic handle
 * (scan_ftype), opened at the first file that needs it.
 *
 * Allocation: session memory (parser, result, strings, per-part state, DLP,
 * URL and content-filter state) comes from the struct mxg_mem given at
 * create. Hyperscan databases, streams and scratch, OpenSSL digest
 * contexts, libarchive, libmagic and PCRE2 match data use their libraries'
 * allocators (hs_set_allocator is process-global: not worth hijacking per
 * session).
 */
#ifndef MXG_SCAN_SCAN_H
#define MXG_SCAN_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mime.h"
#include "mxg_mem.h"
#include "scan_archive.h"
#include "scan_cfilter.h"
#include "scan_dlp.h"
#include "scan_ftype.h"
#include "scan_sig.h"
#include "scan_url.h"

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
	/* DLP templates, built with scan_dlp_new/add_template/add_pattern and
	 * compiled (scan_dlp_compile). Transferred: the engine frees it, also
	 * when the build fails. NULL: no DLP. */
	struct scan_dlp *dlp;
	/* Content filters (PCRE2 rules on subject, headers, body, attachment
	 * names, sizes and counts), built with scan_cfilter_* and compiled.
	 * Transferred like |dlp|. NULL: none. Rule indices are reported in
	 * struct scan_result.cf_hits. */
	struct scan_cfilter *cfilter;
};

/* Builds an engine (slow: compiles Hyperscan databases; off the hot path).
 * |sigs| (transferred, may be NULL) is the loaded signature set; the engine
 * frees it, and |cfg->dlp| and |cfg->cfilter| as well. Each database is serialised and deserialised once on the way
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
	uint32_t dlp_templates;      /* DLP templates */
	uint32_t cf_rules;           /* content-filter rules */
	uint32_t pe_section_sigs;    /* PE section hashes (mdb/msb) */
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
	struct scan_archive_limits archive; /* archive expansion (bombs, depth) */
	struct scan_url_limits url; /* URL extraction; url.max_urls 0: off */
	uint32_t keep_text;         /* body text kept for the caller
	                             * (scan_result.text): at most this many
	                             * bytes; 0: off */
};
/* Defaults: mime_limits_default, 10000 files, 1000 hits, SHA-256 of every
 * file (attachments, non-text parts, archive members and embedded files;
 * inline text bodies only when hash signatures need it) for the inventory
 * (set hash_algs to 0 to compute only what the hash signatures need),
 * scan_archive_limits_default, 512 URLs of at most 2048
 * bytes, no body text kept (keep_text 0). */
void scan_limits_default(struct scan_limits *l);

/* Result flags. */
#define SCAN_R_VIRUS 0x01u      /* at least one virus hit */
#define SCAN_R_RULE 0x02u       /* at least one content rule hit */
#define SCAN_R_MALFORMED 0x04u  /* MIME anomalies (see mime) */
#define SCAN_R_LIMIT 0x08u      /* a limit was hit: not everything was scanned */
#define SCAN_R_ERROR 0x10u      /* scanning failed (out of memory, Hyperscan
                                 * error): the verdict is incomplete */
#define SCAN_R_DLP 0x20u        /* a DLP template reached its threshold */
#define SCAN_R_CFILTER 0x40u    /* a content-filter rule matched */
#define SCAN_R_ARCHIVE 0x80u    /* an archive verdict other than OK */

/* Part flags (struct scan_part.flags). */
#define SCAN_PF_LEAF 0x01u      /* a file: size and hashes are valid */
#define SCAN_PF_TEXT 0x02u      /* scanned as text by the body rules */
#define SCAN_PF_MEMBER 0x04u    /* extracted from an archive */
#define SCAN_PF_NOT_SCANNED 0x08u /* over max_files */
#define SCAN_PF_ATTACHMENT 0x10u /* a MIME leaf with a file name or
                                  * "Content-Disposition: attachment" (also a
                                  * named file given to scan_session_scan_file) */
#define SCAN_PF_RAW 0x20u       /* multipart whose preamble, epilogue or
                                 * unparsed bytes were scanned (hits in them
                                 * name this part) */
#define SCAN_PF_TEXT_EXTRACTED 0x40u /* not a text part, but its true type is
                                 * text/HTML/XML: its first 256 KiB went to
                                 * DLP and URL extraction */
#define SCAN_PF_EMBEDDED 0x80u  /* decoded from a data: URI (RFC 2397) in
                                 * an HTML link of its parent part */

struct scan_part {
	char path[MIME_PATH_MAX];     /* MIME path; members "P/a/b" */
	uint32_t parent;              /* index in parts[], UINT32_MAX for the root */
	uint32_t flags;               /* SCAN_PF_* */
	uint32_t mime_flags;          /* MIME_PF_* */
	const char *ctype;            /* declared content type */
	const char *filename;         /* NULL when none */
	const char *declared_type;    /* by file name extension ("exe"), or NULL */
	const char *detected_type;    /* by content: scan_ftype kind ("pe", "ooxml",
	                               * "zip", "js", "text", ...), or NULL */
	enum scan_ftype_cat ftype;    /* true type category (leaves) */
	uint32_t ftype_flags;         /* SCAN_FTF_*: macros, JS, encrypted,
	                               * name mismatch, DLL, auto-action */
	const char *true_mime;        /* MIME type by content, or NULL */
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

/* The result. Lent out: valid until scan_session_reset() or
 * scan_session_free(). Everything policy conditions need:
 *	virus            viruses[], SCAN_R_VIRUS
 *	archive verdicts archive_verdict/archive_limit/archive_flags
 *	DLP template     dlp (per-template counts), dlp_matched (mask)
 *	content filter   cf_hits[] (PCRE2 rules), rules[] (Hyperscan rules on
 *	                 subject, header, body, attachment name)
 *	attachments      parts[] with SCAN_PF_ATTACHMENT: true type (ftype,
 *	                 ftype_flags, true_mime, detected_type), declared type,
 *	                 filename, size; attachments (count)
 *	message size     msg_size
 *	header match     rules[] with where == SCAN_W_HEADER
 *	URLs             scan_result_url(r, 0 .. nurls-1)
 *	body text        text/text_len (scan_limits.keep_text) */
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
	enum scan_archive_verdict archive_verdict; /* the worst over all archives
	                                    * (BOMB > TOO_DEEP > ENCRYPTED > CORRUPT) */
	enum scan_archive_limit archive_limit;     /* limit behind a BOMB/TOO_DEEP */
	uint64_t msg_size;                 /* raw message bytes fed */
	uint32_t attachments;              /* parts with SCAN_PF_ATTACHMENT that are
	                                    * not archive members */
	uint32_t ftype_flags;              /* SCAN_FTF_* of all parts, OR-ed */
	const struct scan_dlp_result *dlp; /* per-template counts, per-detector
	                                    * counts; NULL without DLP templates */
	uint64_t dlp_matched;              /* bit t: template t met its threshold */
	const struct scan_cf_hit *cf_hits; /* content-filter rules matched */
	size_t ncf_hits;
	size_t nurls;                      /* distinct URLs (text and HTML links) */
	uint32_t urls_dropped;             /* distinct URLs over url.max_urls */
	const struct scan_url *url_set;    /* (for scan_result_url) */
	const struct mime_result *mime;    /* parser summary (anomalies, limits) */
	/* The message's body text as the body rules, content filters and DLP
	 * saw it: every text part (and preamble/epilogue/unparsed region of a
	 * multipart) decoded from its transfer encoding, converted to UTF-8,
	 * HTML reduced to text; in MIME order, one '\n' between two parts.
	 * At most scan_limits.keep_text bytes, cut at a character boundary
	 * (text_truncated: more text followed). Not NUL-terminated. NULL
	 * when keep_text is 0; with keep_text set, never NULL (possibly
	 * empty: a message without text). */
	const uint8_t *text;
	size_t text_len;
	bool text_truncated;
};

/* URL |i| of |r| (normalised URL, host, registrable-domain guess, flags,
 * count), in order of first appearance; NULL when out of range. */
const struct scan_url_entry *scan_result_url(const struct scan_result *r, size_t i);

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

/* Forgets the message and starts the next one on the same session, keeping
 * its parser, streams, converters, HTML reducer, DLP/URL/filter state and
 * buffers: no allocation per message once they have grown. |e| (may be NULL:
 * keep the current engine) is the engine for the next message; a new one
 * takes a reference and releases the old. With a borrowed scratch, the
 * caller prepares it for |e| first (scan_scratch_prepare). The previous
 * result is invalid afterwards. Valid in any state (mid-message, after an
 * error). Returns 0, or MXG_E_NOMEM when the own scratch could not grow for
 * |e| (the session then stays on its previous engine, reset). */
int scan_session_reset(struct scan_session *s, struct scan_engine *e);

/* Feeds |len| bytes of the raw message (borrowed). Returns 0, or a negative
 * MXG_E_* code (fatal codes: the session is dead but still gives a result
 * flagged SCAN_R_ERROR after scan_session_finish). */
int scan_session_feed(struct scan_session *s, const uint8_t *in, size_t len);

/* Ends the message and returns the result (never NULL; lent out until
 * scan_session_reset or scan_session_free). Later calls return the same
 * result. */
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
