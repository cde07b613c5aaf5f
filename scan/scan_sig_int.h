/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_sig_int.h - the loaded signature set, shared by the loaders
 * (scan_sig.c and friends), the engine build (scan_engine.c) and the per-file
 * evaluation (scan_session.c). Not a public header.
 *
 * A signature (struct sig_def) owns one or more Hyperscan expressions
 * (struct sig_pat): an .ndb line one, an .ldb line one per subsignature
 * (two for ::wa), the built-in EICAR one. Hash signatures are a sorted
 * array searched at end of file; PE section hashes another, searched per
 * section of a PE file held whole.
 */
#ifndef MXG_SCAN_SIG_INT_H
#define MXG_SCAN_SIG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "scan_sig.h"

#define SIG_MAX_SUBS 64        /* ClamAV: up to 64 subsignatures */
#define SIG_MAX_NODES 256      /* nodes of one logical expression */
#define SIG_ERRORS_KEPT 64

enum sig_kind {
	SIG_K_NDB = 0,
	SIG_K_LDB,
	SIG_K_BUILTIN,
	SIG_K_HASH,
};

/* Target types we check on the first bytes of a file. */
#define SIG_T_ANY 0
#define SIG_T_PE 1
#define SIG_T_OLE2 2
#define SIG_T_HTML 3
#define SIG_T_MAIL 4
#define SIG_T_GRAPHICS 5
#define SIG_T_ELF 6
#define SIG_T_ASCII 7
#define SIG_T_MACHO 9
#define SIG_T_PDF 10
#define SIG_T_FLASH 11
#define SIG_T_JAVA 12
#define SIG_T_MAX 13

/* One node of a logical expression (postfix-free tree in an array). */
enum lx_op { LX_SUB = 0, LX_AND, LX_OR };
enum lx_cmp { LX_NONE = 0, LX_EQ, LX_GT, LX_LT };
struct lx_node {
	uint8_t op;          /* enum lx_op */
	uint8_t cmp;         /* enum lx_cmp modifier applied to this node */
	uint16_t sub;        /* LX_SUB: subsignature index */
	uint16_t a, b;       /* LX_AND/LX_OR: children */
	uint32_t x, y;       /* modifier operands (y: distinct subsigs, 0 none) */
};

struct sig_def {
	char *name;
	uint8_t kind;        /* enum sig_kind */
	uint8_t target;      /* SIG_T_* */
	uint8_t fmt;         /* enum scan_sig_fmt */
	bool disabled;       /* a pattern was rejected by Hyperscan */
	uint16_t nsubs;      /* LDB */
	uint16_t nnodes;     /* LDB */
	uint16_t root;       /* LDB: root node */
	uint64_t fsize_min, fsize_max; /* LDB FileSize (0, UINT64_MAX: any) */
	struct lx_node *nodes;
	uint16_t pcre_trig[SIG_MAX_SUBS]; /* sub -> trigger expression root + 1 (0 none) */
};

struct sig_pat {
	char *expr;          /* Hyperscan expression */
	uint32_t hsflags;    /* HS_FLAG_* */
	uint64_t min_off;    /* hs_expr_ext min_offset (0 none) */
	uint64_t max_off;    /* hs_expr_ext max_offset (0 none) */
	uint32_t sig;        /* index in defs[] */
	uint16_t sub;        /* LDB subsignature index */
	uint8_t eof;         /* 1: EOF-n offset checked at end of file */
	uint8_t count;       /* 1: every match counts (LDB, EOF); 0: single match */
	uint32_t fixed_len;  /* pattern length when eof */
	uint32_t eof_n, eof_shift;
	uint8_t pe;          /* SIG_PE_*: offset relative to PE structure; the
	                      * stream match is a prefilter, the block database
	                      * of such patterns (SOM) checks the start offset */
	uint16_t pe_x;       /* section index (SIG_PE_S, SIG_PE_SE) */
	int64_t pe_n;        /* +n / -n */
	uint64_t pe_shift;   /* ,s: start in [anchor, anchor + s] */
};

enum sig_pe_off {
	SIG_PE_NONE = 0,
	SIG_PE_EP,           /* EP+n, EP-n: entry point (file offset) */
	SIG_PE_S,            /* Sx+n: start of section x (0-based) */
	SIG_PE_SE,           /* SEx: anywhere in section x */
	SIG_PE_SL,           /* SL+n: start of the last section */
};

struct sig_hash {
	uint8_t alg;         /* SCAN_HASH_* */
	uint8_t dig[32];
	uint64_t size;       /* UINT64_MAX: any */
	uint32_t sig;        /* index in defs[] */
};

struct scan_sigset {
	const struct mxg_mem *mem;
	struct sig_def *defs;
	uint32_t ndefs, capdefs;
	struct sig_pat *pats;
	uint32_t npats, cappats;
	struct sig_hash *hashes;
	uint32_t nhashes, caphashes;
	uint32_t hash_algs;          /* SCAN_HASH_* used by hash sigs */
	struct sig_hash *shashes;    /* PE section hashes (mdb/msb): size = raw size */
	uint32_t nshashes, capshashes;
	uint32_t sect_algs;          /* SCAN_HASH_* used by section hashes */
	uint32_t npe;                /* patterns with a PE-relative offset */
	struct scan_sig_stats st;
	char *errors[SIG_ERRORS_KEPT];
	size_t nerrors;
	const char *cur_name;        /* file being loaded (messages) */
	uint32_t cur_line;
};

/* Built-in EICAR: the 68-byte test file string. */
extern const char sig_eicar[];
#define SIG_EICAR_LEN 68
#define SIG_EICAR_NAME "Eicar-Test-Signature"

/* Adds the built-in signatures (done by the engine build). 0 or NOMEM. */
int sig_add_builtin(struct scan_sigset *s);
/* Sorts the hashes for lookup. */
void sig_finalize(struct scan_sigset *s);
/* Finds a hash signature: returns its index in hashes[] or -1. */
long sig_hash_find(const struct scan_sigset *s, uint8_t alg, const uint8_t *dig,
		   uint64_t size);
/* The same for PE section hashes (shashes[]). */
long sig_shash_find(const struct scan_sigset *s, uint8_t alg, const uint8_t *dig,
		    uint64_t size);
/* Records an error message for |s->cur_name|:|s->cur_line|. */
void sig_error(struct scan_sigset *s, enum scan_sig_reason r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Logical expressions (scan_sig_ldb.c). Parses |expr| (|len| bytes) into
 * |nodes| (capacity |cap|); returns the root index, or -1 with
 * *why set. *maxsub gets the largest subsignature index used. */
int lx_parse(const char *expr, size_t len, struct lx_node *nodes, uint16_t cap,
	     uint16_t *nnodes, int *maxsub, const char **why);
/* Evaluates node |root| given per-subsig match counts. */
bool lx_eval(const struct lx_node *nodes, uint16_t root, const uint32_t *counts);

/* Translates a ClamAV hex signature into a Hyperscan expression appended to
 * |out| (a growable string). Modifiers: LXM_* below. Returns 0, or an enum
 * scan_sig_reason + 1 with *why set; *fixed gets the byte length when the
 * pattern has a fixed length, else 0. */
#define HEXM_NOCASE 0x1u
#define HEXM_WIDE 0x2u
#define HEXM_ASCII 0x4u
#define HEXM_FULLWORD 0x8u
struct sig_str {
	const struct mxg_mem *mem;
	char *p;
	size_t n, cap;
	bool oom;
};
void sig_str_add(struct sig_str *b, const char *s, size_t n);
void sig_str_addf(struct sig_str *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sig_hex_to_regex(const char *hex, size_t len, uint32_t mods, struct sig_str *out,
		     uint32_t *fixed, bool *approx, const char **why);

/* CVD/CLD container (scan_sig_cvd.c). */
int sig_load_cvd(struct scan_sigset *s, const char *name, const uint8_t *buf, size_t len);

#endif
