/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_lzx.c - LZX decompression for CHM's MSCompressed section (the same
 * bitstream as CAB's LZX). Our own code, written from the format's
 * description (Microsoft's CAB LZX notes, libmspack's documentation).
 *
 * FORMAT
 *	The bits come in 16-bit little-endian words, each read from its most
 *	significant bit. After a reset, one bit says whether E8 call
 *	translation is on (then 32 bits of "file size" follow). Then blocks:
 *	3 bits of type (1 verbatim, 2 aligned offsets, 3 uncompressed) and 24
 *	bits of output length.
 *	  - verbatim: the main tree (256 literals + 8 length headers per
 *	    position slot) and the length tree (249 symbols) as code lengths,
 *	    each run of lengths sent as deltas from the previous block's
 *	    lengths through a 20-symbol pretree (17: 4-19 zeros, 18: 20-51
 *	    zeros, 19: 4-5 times one delta);
 *	  - aligned: first an 8-symbol aligned-offset tree (3 bits per
 *	    length), then as verbatim; offsets with 3 or more extra bits take
 *	    their low 3 bits from that tree;
 *	  - uncompressed: the bitstream is padded to a 16-bit boundary (1 to
 *	    16 bits), R0-R2 follow as 32-bit words, then the bytes, plus one
 *	    pad byte when their count is odd.
 *	A match is a main symbol >= 256: low 3 bits the length (7: add a
 *	length-tree symbol; plus 2), the rest the position slot; slots 0-2
 *	are the repeated offsets R0-R2 (used one moves to R0), larger slots a
 *	base plus extra bits. The output is cut into 32 KiB frames; after
 *	each frame the bitstream is realigned to 16 bits. With translation
 *	on, the E8 (CALL) operands of each frame are turned back from
 *	absolute to relative.
 *
 * BOUNDS
 *	Every bit read is checked against the input: zero words stand in
 *	past the end, and consuming any of them is an error. Code lengths
 *	runs stop at their table's end; over-subscribed trees are errors. A
 *	match may not run past its block or frame, and its offset must lie
 *	inside the window (a power of two, so copies are masked). The window
 *	is the declared size and nothing else is allocated.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "scan_lzx.h"

#define MAX_SLOTS 50
#define MAIN_MAX (256 + MAX_SLOTS * 8)
#define LEN_SYMS 249
#define ALIGN_SYMS 8
#define PRE_SYMS 20
#define MAX_BITS 16
#define FAST_BITS 10

enum { BT_VERBATIM = 1, BT_ALIGNED = 2, BT_STORED = 3 };

/* A canonical Huffman code: symbols sorted by length, a direct table for
 * codes of up to FAST_BITS bits (symbol << 4 | length, 0: look further). */
struct huff {
	uint16_t count[MAX_BITS + 1];
	uint16_t sym[MAIN_MAX];
	uint16_t fast[1u << FAST_BITS];
};

struct lzx_dec {
	const uint8_t *in;
	size_t n, pos;
	uint64_t bb;            /* bit buffer, the next bit is bit bl - 1 */
	unsigned bl;
	unsigned over;          /* zero words read past the input's end */

	uint32_t wsize;
	unsigned main_syms;
	uint8_t *win;
	size_t wpos;

	uint32_t r[3];
	bool header_read;
	int32_t e8_size;        /* 0: no E8 translation */
	unsigned btype;
	uint32_t bremain, blen;

	uint8_t main_len[MAIN_MAX];
	uint8_t len_len[LEN_SYMS];
	uint8_t al_len[ALIGN_SYMS];
	struct huff main_h, len_h, al_h, pre_h;
	uint8_t xbits[MAX_SLOTS];   /* extra bits and base of each position */
	uint32_t pbase[MAX_SLOTS];  /* slot (per decoder: lcores run in parallel) */
	uint8_t e8[LZX_FRAME];
};

static const uint8_t slots_for_bits[7] = { 30, 32, 34, 36, 38, 42, 50 };
static void lzx_tables(struct lzx_dec *z)
{
	uint32_t b = 0;

	for (unsigned i = 0; i < MAX_SLOTS; i++) {
		unsigned x = i < 4 ? 0 : (i - 2) / 2;

		z->xbits[i] = (uint8_t)(x > 17 ? 17 : x);
		z->pbase[i] = b;
		b += 1u << z->xbits[i];
	}
}

struct lzx_dec *lzx_new(unsigned wbits)
{
	struct lzx_dec *z;

	if (wbits < 15 || wbits > 21)
		return NULL;
	z = calloc(1, sizeof(*z));
	if (z == NULL)
		return NULL;
	lzx_tables(z);
	z->wsize = 1u << wbits;
	z->main_syms = 256 + slots_for_bits[wbits - 15] * 8u;
	z->win = calloc(1, z->wsize);
	if (z->win == NULL) {
		free(z);
		return NULL;
	}
	lzx_reset(z);
	return z;
}

void lzx_free(struct lzx_dec *z)
{
	if (z == NULL)
		return;
	free(z->win);
	free(z);
}

void lzx_reset(struct lzx_dec *z)
{
	/* read on in place: the pad byte of an odd stored block is skipped */
	if (z->btype == BT_STORED && (z->blen & 1) && z->bremain == 0 && z->pos < z->n)
		z->pos++;
	z->r[0] = z->r[1] = z->r[2] = 1;
	z->header_read = false;
	z->e8_size = 0;
	z->btype = 0;
	z->bremain = z->blen = 0;
	z->wpos = 0;
	memset(z->main_len, 0, sizeof(z->main_len));
	memset(z->len_len, 0, sizeof(z->len_len));
}

size_t lzx_consumed(const struct lzx_dec *z)
{
	return z->pos;
}

void lzx_input(struct lzx_dec *z, const uint8_t *p, size_t n)
{
	z->in = p;
	z->n = n;
	z->pos = 0;
	z->bb = 0;
	z->bl = 0;
	z->over = 0;
}

/* ---- bits ---- */

static inline void need(struct lzx_dec *z, unsigned n)
{
	while (z->bl < n) {
		uint32_t w = 0;

		if (z->n - z->pos >= 2) {
			w = z->in[z->pos] | (uint32_t)z->in[z->pos + 1] << 8;
			z->pos += 2;
		} else {
			z->pos = z->n;  /* a lone last byte is half a word: unusable */
			z->over++;
		}
		z->bb = z->bb << 16 | w;
		z->bl += 16;
	}
}

static inline uint32_t peek(const struct lzx_dec *z, unsigned n)
{
	return (uint32_t)(z->bb >> (z->bl - n)) & ((1u << n) - 1);
}

/* |n| <= 32 bits (0 gives 0). */
static inline uint32_t getbits(struct lzx_dec *z, unsigned n)
{
	uint32_t v;

	if (n == 0)
		return 0;
	need(z, n);
	v = (uint32_t)(z->bb >> (z->bl - n)) & (uint32_t)((1ull << n) - 1);
	z->bl -= n;
	return v;
}

/* True when bits of the zero words past the end were consumed. */
static inline bool overrun(const struct lzx_dec *z)
{
	return z->over != 0 && z->over * 16u > z->bl;
}

/* ---- Huffman codes ---- */

/* Builds |h| from |n| lengths. Incomplete codes are allowed (an unused
 * code is an error only when met); over-subscribed ones are not. */
static bool huff_build(struct huff *h, const uint8_t *len, unsigned n)
{
	uint16_t offs[MAX_BITS + 2];
	int left = 1;
	unsigned code = 0, k = 0;

	memset(h->count, 0, sizeof(h->count));
	for (unsigned s = 0; s < n; s++) {
		if (len[s] > MAX_BITS)
			return false;
		h->count[len[s]]++;
	}
	h->count[0] = 0;
	for (unsigned l = 1; l <= MAX_BITS; l++) {
		left = left * 2 - h->count[l];
		if (left < 0)
			return false;
	}
	offs[1] = 0;
	for (unsigned l = 1; l <= MAX_BITS; l++)
		offs[l + 1] = (uint16_t)(offs[l] + h->count[l]);
	for (unsigned s = 0; s < n; s++)
		if (len[s] != 0)
			h->sym[offs[len[s]]++] = (uint16_t)s;
	/* the short codes, in canonical order, straight into the table */
	memset(h->fast, 0, sizeof(h->fast));
	for (unsigned l = 1; l <= FAST_BITS; l++) {
		for (unsigned i = 0; i < h->count[l]; i++, k++, code++) {
			unsigned first = code << (FAST_BITS - l);

			for (unsigned j = 0; j < 1u << (FAST_BITS - l); j++)
				h->fast[first + j] = (uint16_t)(h->sym[k] << 4 | l);
		}
		code <<= 1;
	}
	return true;
}

/* The next symbol of |h|, -1 for a code it does not have. */
static int huff_decode(struct lzx_dec *z, const struct huff *h)
{
	uint32_t v;
	int code = 0, first = 0, index = 0;
	uint16_t e;

	need(z, MAX_BITS);
	v = peek(z, MAX_BITS);
	e = h->fast[v >> (MAX_BITS - FAST_BITS)];
	if (e != 0) {
		z->bl -= e & 15;
		return e >> 4;
	}
	for (unsigned l = 1; l <= MAX_BITS; l++) {
		int count = h->count[l];

		code |= (int)(v >> (MAX_BITS - l)) & 1;
		if (code - first < count) {
			z->bl -= l;
			return h->sym[index + code - first];
		}
		index += count;
		first = (first + count) << 1;
		code <<= 1;
	}
	return -1;
}

/* Lengths |first|..|last|-1 of |len|, as deltas through a fresh pretree. */
static bool read_lens(struct lzx_dec *z, uint8_t *len, unsigned first, unsigned last)
{
	uint8_t pre[PRE_SYMS];
	unsigned x = first;

	for (unsigned i = 0; i < PRE_SYMS; i++)
		pre[i] = (uint8_t)getbits(z, 4);
	if (!huff_build(&z->pre_h, pre, PRE_SYMS))
		return false;
	while (x < last) {
		int s = huff_decode(z, &z->pre_h);
		unsigned run;

		if (s < 0 || overrun(z))
			return false;
		if (s == 17 || s == 18) {
			run = s == 17 ? getbits(z, 4) + 4 : getbits(z, 5) + 20;
			while (run-- > 0 && x < last)
				len[x++] = 0;
		} else if (s == 19) {
			unsigned v;

			run = getbits(z, 1) + 4;
			s = huff_decode(z, &z->pre_h);
			if (s < 0 || s > 16)
				return false;
			v = (len[x] + 17u - (unsigned)s) % 17;
			while (run-- > 0 && x < last)
				len[x++] = (uint8_t)v;
		} else {
			len[x] = (uint8_t)((len[x] + 17u - (unsigned)s) % 17);
			x++;
		}
	}
	return !overrun(z);
}

/* ---- blocks ---- */

static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool block_header(struct lzx_dec *z, const char **err)
{
	uint32_t hi;

	/* an odd-sized stored block is followed by a pad byte */
	if (z->btype == BT_STORED && (z->blen & 1) && z->pos < z->n)
		z->pos++;
	z->btype = getbits(z, 3);
	hi = getbits(z, 16);
	z->blen = z->bremain = hi << 8 | getbits(z, 8);
	if (overrun(z)) {
		*err = "lzx: compressed data ends early";
		return false;
	}
	switch (z->btype) {
	case BT_ALIGNED:
		for (unsigned i = 0; i < ALIGN_SYMS; i++)
			z->al_len[i] = (uint8_t)getbits(z, 3);
		if (!huff_build(&z->al_h, z->al_len, ALIGN_SYMS)) {
			*err = "lzx: bad aligned offset tree";
			return false;
		}
		/* fall through */
	case BT_VERBATIM:
		if (!read_lens(z, z->main_len, 0, 256) ||
		    !read_lens(z, z->main_len, 256, z->main_syms) ||
		    !huff_build(&z->main_h, z->main_len, z->main_syms)) {
			*err = "lzx: bad main tree";
			return false;
		}
		if (!read_lens(z, z->len_len, 0, LEN_SYMS) ||
		    !huff_build(&z->len_h, z->len_len, LEN_SYMS)) {
			*err = "lzx: bad length tree";
			return false;
		}
		return true;
	case BT_STORED:
		/* after the 27 header bits fewer than 16 are buffered: those of
		 * the current word; on a word boundary a whole pad word follows */
		if (z->bl == 0) {
			if (z->n - z->pos < 2) {
				*err = "lzx: compressed data ends early";
				return false;
			}
			z->pos += 2;
		}
		z->bl = 0;
		if (z->over != 0 || z->n - z->pos < 12) {
			*err = "lzx: compressed data ends early";
			return false;
		}
		for (unsigned i = 0; i < 3; i++)
			z->r[i] = le32(z->in + z->pos + 4 * i);
		z->pos += 12;
		return true;
	default:
		*err = "lzx: bad block type";
		return false;
	}
}

/* |run| bytes of a verbatim or aligned block into the window. */
static bool codes(struct lzx_dec *z, uint32_t run, const char **err)
{
	uint32_t mask = z->wsize - 1;
	uint8_t *win = z->win;
	size_t wpos = z->wpos;

	while (run > 0) {
		int s = huff_decode(z, &z->main_h);
		uint32_t mlen, slot, off, src;

		if (s < 0) {
			*err = "lzx: bad main tree code";
			return false;
		}
		if (s < 256) {
			win[wpos++] = (uint8_t)s;
			run--;
			if (overrun(z))
				break;
			continue;
		}
		s -= 256;
		mlen = (uint32_t)s & 7;
		if (mlen == 7) {
			int l = huff_decode(z, &z->len_h);

			if (l < 0) {
				*err = "lzx: bad length tree code";
				return false;
			}
			mlen += (uint32_t)l;
		}
		mlen += 2;
		slot = (uint32_t)s >> 3;
		if (slot > 2) {
			unsigned x = z->xbits[slot];

			off = z->pbase[slot] - 2;
			if (z->btype == BT_ALIGNED && x >= 3) {
				int a;

				off += getbits(z, x - 3) << 3;
				a = huff_decode(z, &z->al_h);
				if (a < 0) {
					*err = "lzx: bad aligned offset code";
					return false;
				}
				off += (uint32_t)a;
			} else {
				off += getbits(z, x);
			}
			z->r[2] = z->r[1];
			z->r[1] = z->r[0];
			z->r[0] = off;
		} else {
			off = z->r[slot];
			z->r[slot] = z->r[0];
			z->r[0] = off;
		}
		if (mlen > run) {
			*err = "lzx: match runs past its block or frame";
			return false;
		}
		if (off == 0 || off > z->wsize) {
			*err = "lzx: match offset out of the window";
			return false;
		}
		src = (uint32_t)(wpos - off) & mask;
		for (uint32_t k = 0; k < mlen; k++) {
			win[wpos++] = win[src];
			src = (src + 1) & mask;
		}
		run -= mlen;
		if (overrun(z))
			break;
	}
	z->wpos = wpos;
	if (overrun(z)) {
		*err = "lzx: compressed data ends early";
		return false;
	}
	return true;
}

/* E8 translation of |len| bytes at |pos| after the reset (in z->e8). */
static void e8_undo(struct lzx_dec *z, size_t len, uint64_t pos)
{
	int64_t cur = (int64_t)pos, size = z->e8_size;
	uint8_t *d = z->e8;

	for (size_t i = 0; i + 10 < len;) {
		int64_t abs_off, rel;
		uint32_t v;

		if (d[i] != 0xe8) {
			i++;
			cur++;
			continue;
		}
		abs_off = (int32_t)le32(d + i + 1);
		if (abs_off >= -cur && abs_off < size) {
			rel = abs_off >= 0 ? abs_off - cur : abs_off + size;
			v = (uint32_t)rel;
			d[i + 1] = (uint8_t)v;
			d[i + 2] = (uint8_t)(v >> 8);
			d[i + 3] = (uint8_t)(v >> 16);
			d[i + 4] = (uint8_t)(v >> 24);
		}
		i += 5;
		cur += 5;
	}
}

const uint8_t *lzx_frame(struct lzx_dec *z, size_t len, uint64_t pos, const char **err)
{
	size_t start = z->wpos, todo = len;

	if (len == 0 || len > LZX_FRAME || start + len > z->wsize) {
		*err = "lzx: bad frame size";
		return NULL;
	}
	if (!z->header_read) {
		if (getbits(z, 1)) {
			uint32_t hi = getbits(z, 16);

			z->e8_size = (int32_t)(hi << 16 | getbits(z, 16));
		}
		z->header_read = true;
	}
	while (todo > 0) {
		uint32_t run;

		if (z->bremain == 0 && !block_header(z, err))
			return NULL;
		run = z->bremain < todo ? z->bremain : (uint32_t)todo;
		if (z->btype == BT_STORED) {
			if (z->n - z->pos < run) {
				*err = "lzx: stored block cut short";
				return NULL;
			}
			memcpy(z->win + z->wpos, z->in + z->pos, run);
			z->pos += run;
			z->wpos += run;
		} else if (!codes(z, run, err)) {
			return NULL;
		}
		z->bremain -= run;
		todo -= run;
	}
	if (overrun(z)) {
		*err = "lzx: compressed data ends early";
		return NULL;
	}
	/* the encoder flushes to a word boundary after every frame */
	z->bl -= z->bl & 15;
	if (z->wpos == z->wsize)
		z->wpos = 0;
	if (z->e8_size != 0 && len > 10 && pos / LZX_FRAME < 32768) {
		memcpy(z->e8, z->win + start, len);
		e8_undo(z, len, pos);
		return z->e8;
	}
	return z->win + start;
}
