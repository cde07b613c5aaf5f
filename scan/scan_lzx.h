/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_lzx.h - LZX decompression (Microsoft's LZ77 + Huffman scheme of CAB
 * and CHM files), as CHM's MSCompressed section uses it: 32 KiB frames,
 * resets at the reset interval chosen by the caller. Private to scan/.
 *
 * The caller owns the framing: it resets the decoder at each reset point
 * (lzx_reset), hands it the compressed bytes from there (lzx_input) and
 * asks for one output frame at a time (lzx_frame). Every read is bounded
 * by the input; the window is the declared size (2^15..2^21 bytes).
 */
#ifndef MXG_SCAN_LZX_H
#define MXG_SCAN_LZX_H

#include <stddef.h>
#include <stdint.h>

#define LZX_FRAME 32768u

struct lzx_dec;

/* A decoder with a window of 2^|wbits| bytes (15..21). NULL when |wbits| is
 * out of range or memory is short. */
struct lzx_dec *lzx_new(unsigned wbits);
void lzx_free(struct lzx_dec *z);

/* Starts over: trees, repeated offsets R0-R2 and the E8 header are read
 * anew, the window restarts at 0. */
void lzx_reset(struct lzx_dec *z);

/* The compressed bytes to read from (borrowed), starting at their first
 * byte; the bit buffer is emptied. */
void lzx_input(struct lzx_dec *z, const uint8_t *p, size_t n);

/* Compressed bytes read since lzx_input (for the caller's work limit: a
 * frame may read much input for little output, empty stored blocks). */
size_t lzx_consumed(const struct lzx_dec *z);

/* Decodes the next frame of |len| bytes (1..LZX_FRAME; only the last
 * frame of a stream is shorter) whose first byte lies |pos| bytes after the
 * last reset (for the E8 call translation). Returns the frame's bytes
 * (valid until the next call) or NULL with a static message in *err. */
const uint8_t *lzx_frame(struct lzx_dec *z, size_t len, uint64_t pos, const char **err);

#endif
