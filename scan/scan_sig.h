/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_sig.h - loaders of ClamAV signature databases.
 *
 * A struct scan_sigset collects signatures from any number of files, then is
 * handed to scan_engine_build() (scan.h), which compiles it. Formats:
 *
 *   .hdb .hsb .hdu .hsu   HASH:SIZE:NAME[:FLEVEL]   whole-file MD5/SHA1/SHA256
 *                         (by hash length); SIZE "*" = any size.
 *   .mdb .msb .mdu .msu   SIZE:HASH:NAME[:FLEVEL]   PE section hashes: MD5,
 *                         SHA1 or SHA256 (by hash length) of a section's raw
 *                         bytes, SIZE its raw size (SizeOfRawData aligned to
 *                         FileAlignment, clamped to the file) or "*" = any;
 *                         matched per section of PE files held whole
 *                         (scan_pe.h, scan_session.c).
 *   .ndb .ndu             NAME:TARGET:OFFSET:HEXSIG[:MINFL[:MAXFL]]
 *   .ldb .ldu             NAME;TDB;EXPR;SUB0;SUB1;...
 *   .cvd .cld             512-byte "ClamAV-VDB:" header + tar(.gz) holding the
 *                         above; members of other formats are counted as
 *                         unsupported files. The MD5 in the header is checked;
 *                         the RSA digital signature is NOT verified (the
 *                         control plane is expected to fetch over TLS).
 *
 * Body signatures become Hyperscan expressions (HS_FLAG_DOTALL, bytes as
 * \xHH): ?? -> '.', a?/?a -> a 16-byte class, * -> .*, {n} {n-m} {-n} {n-}
 * and [n-m] -> bounded repeats, (aa|bb|..) -> alternation (any hex,
 * wildcards allowed inside), !(aa|bb) -> negated class when every
 * alternative is one byte (else unsupported), (B) -> word boundary
 * approximated with non-alphanumeric/edge, (L) -> line boundary
 * approximated with CR/LF/edge.
 * Offsets: '*' anywhere; 'n' and 'n,s' exact (Hyperscan min/max offset for
 * fixed-length patterns, a ^.{n,n+s} prefix otherwise); 'EOF-n[,s]' exact
 * for fixed-length patterns (checked at end of file), unsupported for
 * variable length; EP+n, EP-n, Sx+n (x 0-based), SEx (start anywhere in
 * section x) and SL+n (last section), each with an optional ",s", in .ndb
 * signatures of target 1: the pattern is matched anywhere in the stream as
 * a prefilter, then the PE file held whole is scanned by a block database
 * of those patterns with start-of-match (leftmost) and the start checked
 * against the offset computed from the headers (scan_pe.h); VI (version
 * information) and PE offsets in .ldb subsignatures are unsupported.
 * Targets: 0 any; 1 PE ("MZ"), 2 OLE2, 5 graphics (PNG/GIF/JPEG/BMP/ICO),
 * 6 ELF, 9 Mach-O, 10 PDF, 11 Flash, 12 Java class: checked on the first
 * bytes of the file; 3 HTML, 4 mail, 7 ASCII text: approximated (matched on
 * the decoded part without ClamAV's normalisation; loaded, counted as
 * approximated); others unsupported.
 * Logical signatures: Target, FileSize and Engine are honoured; other
 * attributes (EntryPoint, NumberOfSections, Container, Intermediates,
 * IconGroup, HandlerType) make the signature unsupported. Subsignatures
 * take offsets as above and the modifiers ::i ::w ::a ::f; PCRE
 * subsignatures (trigger/regex/flags) are compiled by Hyperscan when it
 * accepts them (the trigger is ANDed), byte-compare and macro subsignatures
 * are unsupported. The expression (&, |, parentheses, =X, =X,Y, >X, >X,Y,
 * <X, <X,Y) is evaluated at end of file from per-subsig match counts (a
 * match is a distinct end offset).
 *
 * Nothing is dropped silently: every line is loaded, loaded approximated, or
 * counted under one reason (struct scan_sig_stats), and the first errors
 * are kept with file and line for the operator.
 */
#ifndef MXG_SCAN_SIG_H
#define MXG_SCAN_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "mxg_mem.h"

struct scan_sigset;

enum scan_sig_fmt {
	SCAN_SIG_HDB = 0, /* also .hdu */
	SCAN_SIG_HSB,     /* also .hsu */
	SCAN_SIG_MDB,     /* also .mdu */
	SCAN_SIG_MSB,     /* also .msu */
	SCAN_SIG_NDB,     /* also .ndu */
	SCAN_SIG_LDB,     /* also .ldu */
	SCAN_SIG_FMT_MAX,
	SCAN_SIG_CVD = SCAN_SIG_FMT_MAX, /* container (not a line format) */
	SCAN_SIG_UNKNOWN,
};

enum scan_sig_reason {
	SCAN_SIG_R_MALFORMED = 0,  /* syntax error (line reported) */
	SCAN_SIG_R_PE_SECTION,     /* no longer used: .mdb/.msb are loaded */
	SCAN_SIG_R_PE_OFFSET,      /* EP/Sx/SEx/SL/VI offsets need a PE parser */
	SCAN_SIG_R_EOF_VARLEN,     /* EOF-n on a variable-length pattern */
	SCAN_SIG_R_NEG_ALT,        /* !(..) with multi-byte alternatives */
	SCAN_SIG_R_TARGET,         /* target type not expressible */
	SCAN_SIG_R_LDB_ATTR,       /* unsupported target description attribute */
	SCAN_SIG_R_LDB_MACRO,      /* ${min-max}id$ macro subsignature */
	SCAN_SIG_R_LDB_BYTECMP,    /* byte-compare subsignature */
	SCAN_SIG_R_LDB_PCRE,       /* PCRE subsignature Hyperscan cannot take */
	SCAN_SIG_R_HS_REJECT,      /* Hyperscan refused the compiled expression */
	SCAN_SIG_R_FLEVEL,         /* requires a newer functionality level */
	SCAN_SIG_R_MAX
};

struct scan_sig_stats {
	uint32_t lines[SCAN_SIG_FMT_MAX];     /* signature lines seen (no comments/blank) */
	uint32_t loaded[SCAN_SIG_FMT_MAX];    /* loaded (exact or approximated) */
	uint32_t approx[SCAN_SIG_FMT_MAX];    /* of which approximated */
	uint32_t rejected[SCAN_SIG_FMT_MAX];  /* not loaded (see reasons) */
	uint32_t reason[SCAN_SIG_R_MAX];      /* rejected lines per reason */
	uint32_t files;                       /* files (or container members) loaded */
	uint32_t files_unsupported;           /* of other formats (.fp .idb .info ...) */
};

/* Creates an empty set. |mem| may be NULL (libc). NULL when out of memory. */
struct scan_sigset *scan_sigset_new(const struct mxg_mem *mem);
void scan_sigset_free(struct scan_sigset *s);

/* Format of a file name by extension (SCAN_SIG_UNKNOWN otherwise). */
enum scan_sig_fmt scan_sig_fmt_of(const char *name);

/* Loads a database file (any format above, by extension). Returns 0,
 * MXG_E_IO (unreadable), MXG_E_INVAL (bad container, unknown extension) or
 * MXG_E_NOMEM. Malformed lines are not an error: they are counted and kept
 * in the error list. */
int scan_sigset_load_file(struct scan_sigset *s, const char *path);

/* Loads |len| bytes (borrowed) of format |fmt| named |name| (for messages). */
int scan_sigset_load_buf(struct scan_sigset *s, enum scan_sig_fmt fmt, const char *name,
			 const uint8_t *buf, size_t len);

/* Parses one signature line (no line end) of |fmt|. Returns 0 when loaded,
 * a positive enum scan_sig_reason + 1 when rejected (counted), or
 * MXG_E_NOMEM. */
int scan_sigset_add_line(struct scan_sigset *s, enum scan_sig_fmt fmt, const char *line,
			 size_t len);

const struct scan_sig_stats *scan_sigset_stats(const struct scan_sigset *s);

/* The first rejected lines, as "file:line: reason: detail" (at most 64 are
 * kept; scan_sigset_nerrors counts all). Lent out until the set is freed. */
size_t scan_sigset_nerrors(const struct scan_sigset *s);
const char *scan_sigset_error(const struct scan_sigset *s, size_t i);

const char *scan_sig_fmt_name(enum scan_sig_fmt f);
const char *scan_sig_reason_name(enum scan_sig_reason r);

#endif
