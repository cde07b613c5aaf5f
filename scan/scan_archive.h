/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_archive.h - bounded, recursive archive expansion (IntelliTrap-like).
 *
 * The session hands over a whole attachment (already transfer-decoded) once
 * its part has ended; scan_archive_expand() opens it with libarchive from
 * memory (every format of read_support_format_all plus every filter of
 * read_support_filter_all: zip, 7z, rar/rar5, cab, tar, cpio, ar, iso9660,
 * lha, xar, warc; gzip, bzip2, xz/lzma, lzip, zstd, lz4, compress, uu, ...;
 * a lone compressed stream such as x.gz is read as one member "x"; and
 * our own decoders for SZDD, BinHex 4.0, TNEF, OneNote, RTF \objdata, PDF
 * streams and OLE2 streams, see scan_archive_int.h) and
 * reports every member through callbacks, streamed in chunks, so the session
 * scans it like a MIME part. Members that are themselves archives are
 * expanded recursively (depth first) after their own chunks were delivered.
 *
 * Limits are per instance (struct scan_archive_limits); exceeding one ends
 * the expansion with a result flag naming it (the verdict ARCHIVE_BOMB /
 * TOO_DEEP), never a crash or a stall. There is no clock: the time bound is a
 * work budget counted in bytes (compressed bytes handed to libarchive, seeks
 * included, plus bytes it decompressed), which bounds CPU as well.
 *
 * Memory bound: the input buffer is borrowed (not copied). A member that
 * must be recursed into is buffered whole (it is opened from memory like the
 * top level), capped by max_nested_bytes; so the buffers held at once are at
 * most max_depth * max_nested_bytes (and never more than max_total_bytes),
 * plus one chunk buffer per level and libarchive's own decoder state.
 * libarchive allocates with libc malloc, outside struct mxg_mem: its decoder
 * windows are bounded by the formats (xz: 1 GiB memlimit in libarchive; 7z
 * LZMA dictionaries as declared by the archive, usually <= 64 MiB).
 *
 * Path traversal ("zip slip"): names with a ".." segment, an absolute path
 * ("/x", "C:\x", "\\host\x") are flagged per member and in the result;
 * nothing is ever written to a file system here.
 *
 * Encrypted members (zip ZipCrypto/AES, rar, 7z) are flagged and their data
 * skipped; an archive whose header is encrypted (7z -mhe, rar -hp) is
 * flagged encrypted as a whole. Unreadable input is CORRUPT.
 *
 * Not thread-safe: one struct scan_archive per owner (per lcore or session).
 */
#ifndef MXG_SCAN_ARCHIVE_H
#define MXG_SCAN_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxg_mem.h"

struct scan_archive;

/* Per-instance limits (all > 0; see scan_archive_limits_default()). */
struct scan_archive_limits {
	uint32_t max_depth;        /* nesting levels; the top-level archive is 1 */
	uint32_t max_members;      /* members over all levels */
	uint64_t max_total_bytes;  /* decompressed bytes over all levels */
	uint64_t max_member_bytes; /* decompressed bytes of one member */
	uint64_t max_nested_bytes; /* largest nested archive buffered for recursion */
	uint32_t max_ratio;        /* decompressed / compressed bytes of one archive */
	uint64_t ratio_min_bytes;  /* ratio checked only beyond this many bytes out */
	uint64_t work_budget;      /* bytes processed (read + decompressed + seeked) */
};

/* Defaults: depth 10, 10000 members, 512 MiB total, 256 MiB per member,
 * 32 MiB nested buffer, ratio 250 beyond 1 MiB, work budget 1 GiB. */
void scan_archive_limits_default(struct scan_archive_limits *l);

/* Which limit ended the expansion (struct scan_archive_result.limit). */
enum scan_archive_limit {
	SCAN_ARCHIVE_LIM_NONE = 0,
	SCAN_ARCHIVE_LIM_DEPTH,        /* -> verdict TOO_DEEP */
	SCAN_ARCHIVE_LIM_MEMBERS,      /* the rest -> verdict ARCHIVE_BOMB */
	SCAN_ARCHIVE_LIM_TOTAL_BYTES,
	SCAN_ARCHIVE_LIM_MEMBER_BYTES,
	SCAN_ARCHIVE_LIM_NESTED_BYTES,
	SCAN_ARCHIVE_LIM_RATIO,
	SCAN_ARCHIVE_LIM_WORK,
};

/* Member flags (struct scan_archive_member.flags). */
#define SCAN_AMF_ENCRYPTED 0x0001u  /* data encrypted: not delivered */
#define SCAN_AMF_TRAVERSAL 0x0002u  /* ".." segment in the name (zip slip) */
#define SCAN_AMF_ABSOLUTE 0x0004u   /* absolute or drive/UNC path */
#define SCAN_AMF_NESTED 0x0008u     /* looks like an archive: will be expanded */
#define SCAN_AMF_TRUNCATED 0x0010u  /* data cut by a limit */
#define SCAN_AMF_CORRUPT 0x0020u    /* read error inside the member */
#define SCAN_AMF_LINK 0x0040u       /* symlink or hard link (no data) */
#define SCAN_AMF_RAW 0x0080u        /* the single stream of a compressed file */

/* One member. Lent out: valid during the callback only. */
struct scan_archive_member {
	const char *name;        /* path as stored (UTF-8 where known); "" if none */
	const char *path;        /* "<top>/<nested.zip>/<name>" (joined by '/') */
	const char *parent;      /* path of the archive holding it ("<top>" name at depth 1) */
	const char *format;      /* container format name given by libarchive */
	uint32_t depth;          /* 1 for members of the top-level archive */
	uint32_t index;          /* 0-based order over all levels */
	int64_t declared_size;   /* size from the header, -1 when unknown */
	uint64_t size;           /* bytes delivered so far (final in on_member_end) */
	uint32_t flags;          /* SCAN_AMF_* */
};

struct scan_archive_callbacks {
	/* A member starts. Return 0 to receive its data, 1 to skip its data
	 * (it is still counted and, when it is an archive, not expanded), or a
	 * negative MXG_E_* code to abort the expansion. May be NULL. */
	int (*on_member_begin)(const struct scan_archive_member *m, void *ud);
	/* Decompressed bytes of the member, in order (borrowed). Return 0 or a
	 * negative code to abort. May be NULL. */
	int (*on_member_data)(const struct scan_archive_member *m, const uint8_t *p, size_t n,
			      void *ud);
	/* The member ended (m->size final, flags complete). Called for every
	 * begun member, also when a limit cut it. Return 0 or negative. */
	int (*on_member_end)(const struct scan_archive_member *m, void *ud);
};

/* Result flags (struct scan_archive_result.flags). */
#define SCAN_ARF_NOT_ARCHIVE 0x0001u /* input is no archive/compressed stream */
#define SCAN_ARF_BOMB 0x0002u        /* a size/ratio/count/work limit hit */
#define SCAN_ARF_TOO_DEEP 0x0004u    /* nesting beyond max_depth */
#define SCAN_ARF_ENCRYPTED 0x0008u   /* an encrypted member or header */
#define SCAN_ARF_CORRUPT 0x0010u     /* a (nested) archive could not be read */
#define SCAN_ARF_TRAVERSAL 0x0020u   /* a member name escapes (.., absolute) */

enum scan_archive_verdict {
	SCAN_ARCHIVE_OK = 0,        /* expanded completely (or not an archive) */
	SCAN_ARCHIVE_BOMB,          /* .limit says which */
	SCAN_ARCHIVE_TOO_DEEP,
	SCAN_ARCHIVE_ENCRYPTED,
	SCAN_ARCHIVE_CORRUPT,
};

#define SCAN_ARCHIVE_PATH_MAX 512

struct scan_archive_result {
	uint32_t flags;                     /* SCAN_ARF_* */
	enum scan_archive_limit limit;      /* first limit hit, or NONE */
	char limit_path[SCAN_ARCHIVE_PATH_MAX]; /* member or archive where it was hit */
	char format[32];                    /* top-level format ("zip", "gzip+raw"...) */
	uint32_t members;                   /* members begun, all levels */
	uint32_t encrypted;                 /* encrypted members */
	uint32_t traversal;                 /* members with traversal/absolute names */
	uint32_t archives;                  /* archives opened (top + nested) */
	uint32_t max_depth;                 /* deepest member level seen */
	uint64_t expanded_bytes;            /* decompressed bytes, all levels */
	uint64_t work;                      /* work-budget bytes used */
	uint32_t decode_errors;             /* faults found by our own decoders */
	const char *error;                  /* the first of them (static text,
	                                     * "szdd: truncated header"), or NULL */
};

/* Creates an expander. |mem| may be NULL (libc); |limits| may be NULL
 * (defaults) and is copied. Returns NULL when out of memory. */
struct scan_archive *scan_archive_new(const struct mxg_mem *mem,
				      const struct scan_archive_limits *limits);
void scan_archive_free(struct scan_archive *a);

/* Expands |len| bytes at |buf| (borrowed for the call) named |name| (may be
 * NULL: "archive"), calling |cb| (copied; |ud| passed back) and filling
 * |res|. Returns 0 whenever a result was produced (including bombs, corrupt
 * or non-archive input), MXG_E_NOMEM, or the negative code a callback
 * returned (|res| then holds what was seen so far). Not reentrant. */
int scan_archive_expand(struct scan_archive *a, const uint8_t *buf, size_t len, const char *name,
			const struct scan_archive_callbacks *cb, void *ud,
			struct scan_archive_result *res);

/* The verdict for |res|, by priority BOMB > TOO_DEEP > ENCRYPTED > CORRUPT. */
enum scan_archive_verdict scan_archive_verdict(const struct scan_archive_result *res);

/* True when the first |n| bytes look like an archive or compressed stream
 * this module would expand (zip, gzip, bzip2, xz, 7z, rar, cab, tar, cpio
 * in every variant, ISO 9660 when |n| reaches its volume descriptor at
 * 0x8001, and the formats decoded here: SZDD, BinHex ...). */
bool scan_archive_sniff(const uint8_t *p, size_t n);

/* True when the first |n| bytes (at least 512) cannot decide yet: all
 * zeros, as the 32 KiB system area of an ISO 9660 image. The caller holds
 * the file whole and lets scan_archive_expand() decide (a file that is no
 * archive then gives SCAN_ARF_NOT_ARCHIVE, nothing else). */
bool scan_archive_sniff_defer(const uint8_t *p, size_t n);

/* True when "%PDF-" occurs anywhere in p[0..n) (readers and ClamAV allow
 * junk before it; scan_pdf.c). */
bool scan_pdf_magic(const uint8_t *p, size_t n);

/* Static names for logs. */
const char *scan_archive_limit_name(enum scan_archive_limit l);
const char *scan_archive_verdict_name(enum scan_archive_verdict v);

#endif
