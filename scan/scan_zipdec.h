/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_zipdec.h - ZIP compression methods zlib does not decode, for
 * scan_zipx.c: Deflate64 (method 9; plain Deflate too, same code) and
 * PKWARE Implode (method 6). Private to scan/ (and its unit test).
 *
 * Both work on the whole compressed data in memory (borrowed) and hand
 * the decoded bytes to a sink in pieces of at most 64 KiB; the sink's
 * non-zero return stops the decoder at once (a limit, or an abort code
 * the caller keeps). Time is linear in input plus output, memory is one
 * ~70 KiB state (malloc'd per call, as zlib's inflateInit does).
 */
#ifndef MXG_SCAN_ZIPDEC_H
#define MXG_SCAN_ZIPDEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Receives |n| decoded bytes; 0 to go on, anything else stops. */
typedef int (*zd_sink)(void *ud, const uint8_t *p, size_t n);

enum {
	ZD_OK = 0,         /* end of stream (implode: all |size| bytes) */
	ZD_STOP = 1,       /* the sink returned non-zero */
	ZD_E_NOMEM = -1,
	ZD_E_TRUNC = -2,   /* the data ends inside the stream */
	ZD_E_BLOCK = -3,   /* deflate block type 3, stored length check */
	ZD_E_TREE = -4,    /* bad code lengths / Shannon-Fano tree */
	ZD_E_CODE = -5,    /* a bit pattern no code has, or a reserved symbol */
	ZD_E_DIST = -6,    /* deflate distance before the start of the data */
};

/* Static message for a ZD_E_* code ("zip: ..."), NULL for ZD_OK/ZD_STOP. */
const char *zd_strerror(int rc);

/* Inflates raw Deflate (|d64| false: RFC 1951, 32 KiB window) or Deflate64
 * (|d64| true: 64 KiB window, length code 285 = 3 + 16 extra bits,
 * distance codes 30 and 31). *used (may be NULL) gets the input bytes the
 * stream took. Returns ZD_OK, ZD_STOP or a ZD_E_* code. */
int zd_inflate(const uint8_t *in, size_t n, bool d64, zd_sink sink, void *ud, size_t *used);

/* Explodes PKWARE Implode data into exactly |size| bytes: |dict8k| (flag
 * bit 1) selects the 8 KiB dictionary, |lit_tree| (flag bit 2) the three-
 * tree variant. Returns ZD_OK, ZD_STOP or a ZD_E_* code. */
int zd_explode(const uint8_t *in, size_t n, bool dict8k, bool lit_tree, uint64_t size,
	       zd_sink sink, void *ud);

#endif
