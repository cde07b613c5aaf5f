/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_zipdec.c - Deflate64 (and Deflate) and PKWARE Implode decoders for
 * the ZIP members libarchive 3.6 cannot read (scan_zipx.c).
 *
 * DEFLATE64
 *	RFC 1951 with three changes (PKWARE's "enhanced deflate", APPNOTE
 *	4.4.5 method 9): a 64 KiB window, length code 285 meaning 3 plus 16
 *	extra bits (Deflate: 258, no extra bits) and distance codes 30 and
 *	31 (32769 and 49153, 14 extra bits each). One decoder does both, so
 *	the unit test checks it against zlib on plain Deflate streams.
 *
 * IMPLODE
 *	APPNOTE 5.3: a 4 or 8 KiB sliding dictionary whose output is coded
 *	with two or three Shannon-Fano trees stored first (literal tree of
 *	256 values when present, then length and distance trees of 64).
 *	A tree is a count byte then bytes of (count - 1) << 4 | (bits - 1).
 *	Its codes are canonical Huffman codes of the complemented bits, so
 *	the Huffman decoder below serves both, with an inversion mask. Each
 *	item is a flag bit: 1 a literal (coded, or 8 raw bits without the
 *	literal tree), 0 a match: 6 (4 KiB) or 7 (8 KiB) raw low distance
 *	bits, the coded high 6 bits, the coded length (+8 raw bits when it
 *	is 63) plus the minimum match 3 (literal tree) or 2. No end code: it
 *	stops at the member's size. A distance before the start of the data
 *	reads zeros, as PKZIP's own decoder does.
 *
 * BOUNDS
 *	Bits past the end of the input read as zeros and are counted; a
 *	symbol that used any is ZD_E_TRUNC. Tables are checked for over-
 *	subscription (an incomplete code is allowed: a pattern outside it is
 *	ZD_E_CODE). Every symbol but the end of a block outputs at least one
 *	byte and a block header takes at least 3 bits, so time is linear in
 *	input plus output; output goes to the sink every 64 KiB, which is
 *	where the caller's limits cut it. Table builds cost O(symbols).
 *	Own code from RFC 1951 and APPNOTE.TXT.
 */
#include <stdlib.h>
#include <string.h>

#include "scan_zipdec.h"

#define WSIZE 65536u                /* both windows fit; flushed when full */
#define MAXBITS 16                  /* Deflate: 15, Implode: 16 */
#define FASTBITS 8                  /* first-level lookup of short codes */
#define MAXSYMS 320

/* ---- bits, least significant first (both formats) ---- */

struct br {
	const uint8_t *p;
	size_t n, i;        /* next byte to load */
	uint64_t b;         /* bit buffer */
	unsigned k;         /* bits in b */
	size_t pad;         /* zero bytes loaded past the end */
};

static inline void br_need(struct br *r, unsigned k)
{
	while (r->k < k) {
		if (r->i < r->n)
			r->b |= (uint64_t)r->p[r->i++] << r->k;
		else
			r->pad++;
		r->k += 8;
	}
}

static inline unsigned br_bits(struct br *r, unsigned k)
{
	unsigned v;

	br_need(r, k);
	v = (unsigned)(r->b & ((1u << k) - 1));
	r->b >>= k;
	r->k -= k;
	return v;
}

/* True when more bits were consumed than the input has. */
static inline bool br_over(const struct br *r)
{
	return r->pad * 8 > r->k;
}

/* Drops the bits of a partial byte and gives back the whole bytes still
 * buffered, so a stored block is read from r->p[r->i]. */
static void br_align(struct br *r)
{
	size_t back;

	r->b >>= r->k & 7;
	r->k -= r->k & 7;
	back = r->k / 8;
	if (r->pad >= back) {
		r->pad -= back;
		back = 0;
	} else {
		back -= r->pad;
		r->pad = 0;
	}
	r->i -= back;
	r->b = 0;
	r->k = 0;
}

/* ---- canonical Huffman codes ---- */

struct huff {
	uint16_t count[MAXBITS + 1];   /* codes of each length */
	uint16_t sym[MAXSYMS];         /* symbols by code */
	uint16_t fast[1u << FASTBITS]; /* len << 9 | sym for codes <= FASTBITS; 0: slow */
};

static unsigned rev_bits(unsigned v, unsigned len)
{
	unsigned r = 0;

	while (len--) {
		r = r << 1 | (v & 1);
		v >>= 1;
	}
	return r;
}

/* Builds |h| from |n| code lengths (0: unused). False when the lengths
 * over-subscribe the code space. */
static bool huff_build(struct huff *h, const uint8_t *len, unsigned n)
{
	uint16_t offs[MAXBITS + 2];
	int left = 1;
	unsigned code = 0, k;

	memset(h->count, 0, sizeof(h->count));
	for (k = 0; k < n; k++)
		h->count[len[k]]++;
	for (k = 1; k <= MAXBITS; k++) {
		left = left * 2 - h->count[k];
		if (left < 0)
			return false;
	}
	offs[1] = 0;
	for (k = 1; k <= MAXBITS; k++)
		offs[k + 1] = (uint16_t)(offs[k] + h->count[k]);
	for (k = 0; k < n; k++)
		if (len[k] != 0)
			h->sym[offs[len[k]]++] = (uint16_t)k;
	/* short codes in a table indexed by the next FASTBITS stream bits
	 * (the first bit read is the code's most significant one) */
	memset(h->fast, 0, sizeof(h->fast));
	k = 0;
	for (unsigned l = 1; l <= FASTBITS; l++) {
		for (unsigned c = 0; c < h->count[l]; c++, k++, code++) {
			unsigned r = rev_bits(code, l);

			for (; r < (1u << FASTBITS); r += 1u << l)
				h->fast[r] = (uint16_t)(l << 9 | h->sym[k]);
		}
		code <<= 1;
	}
	return true;
}

/* Next symbol; |inv| is ~0u when the stream holds complemented codes
 * (Implode). -1: no code matches (or bits past the end were used). */
static int huff_decode(struct br *r, const struct huff *h, unsigned inv)
{
	unsigned e, code = 0, first = 0, index = 0;

	br_need(r, MAXBITS);
	e = h->fast[((unsigned)r->b ^ inv) & ((1u << FASTBITS) - 1)];
	if (e != 0) {
		r->b >>= e >> 9;
		r->k -= e >> 9;
		return br_over(r) ? -1 : (int)(e & 0x1ff);
	}
	for (unsigned l = 1; l <= MAXBITS; l++) {
		unsigned cnt = h->count[l];

		code |= ((unsigned)r->b ^ inv) & 1;
		r->b >>= 1;
		r->k--;
		if (code - first < cnt)
			return br_over(r) ? -1 : (int)h->sym[index + code - first];
		index += cnt;
		first = (first + cnt) << 1;
		code <<= 1;
	}
	return -1;
}

/* ---- the window, which is also the output buffer ---- */

struct zd {
	uint8_t win[WSIZE];
	uint32_t wp;           /* next write position */
	uint32_t fl;           /* first byte not yet given to the sink */
	uint64_t total;        /* bytes produced */
	zd_sink sink;
	void *ud;
	struct br r;
	struct huff lit, dist, aux;
	struct huff flit, fdist;   /* Deflate's fixed codes, built once */
	bool fixed;
	uint8_t lens[MAXSYMS];
};

static int flush(struct zd *s)
{
	int rc = 0;

	if (s->wp > s->fl && s->sink(s->ud, s->win + s->fl, s->wp - s->fl) != 0)
		rc = ZD_STOP;
	if (s->wp == WSIZE)
		s->wp = 0;
	s->fl = s->wp;
	return rc;
}

static inline int put(struct zd *s, uint8_t v)
{
	s->win[s->wp++] = v;
	s->total++;
	return s->wp == WSIZE ? flush(s) : 0;
}

/* Copies |len| bytes from |dist| back (dist <= WSIZE); positions before
 * the start of the data read the window's zeros. */
static int copy(struct zd *s, uint32_t dist, uint32_t len)
{
	uint32_t from = (s->wp - dist) & (WSIZE - 1);
	int rc;

	while (len--) {
		rc = put(s, s->win[from]);
		if (rc != 0)
			return rc;
		from = (from + 1) & (WSIZE - 1);
	}
	return 0;
}

static struct zd *zd_new(const uint8_t *in, size_t n, zd_sink sink, void *ud)
{
	struct zd *s = malloc(sizeof(*s));

	if (s == NULL)
		return NULL;
	memset(s->win, 0, sizeof(s->win));
	s->wp = s->fl = 0;
	s->total = 0;
	s->sink = sink;
	s->ud = ud;
	memset(&s->r, 0, sizeof(s->r));
	s->r.p = in;
	s->r.n = n;
	s->fixed = false;
	return s;
}

/* Ends a run: the rest goes to the sink unless it stopped the run. What
 * was decoded before damaged or cut data is delivered too (it is scanned:
 * a payload must not hide behind a broken tail); the error stays the
 * result unless the sink stops. */
static int zd_finish(struct zd *s, int rc)
{
	if (rc != ZD_STOP && rc != ZD_E_NOMEM) {
		int f = flush(s);

		if (rc == ZD_OK || f == ZD_STOP)
			rc = f;
	}
	free(s);
	return rc;
}

const char *zd_strerror(int rc)
{
	switch (rc) {
	case ZD_E_NOMEM: return "zip: out of memory";
	case ZD_E_TRUNC: return "zip: compressed data ends early";
	case ZD_E_BLOCK: return "zip: invalid deflate block";
	case ZD_E_TREE: return "zip: invalid Huffman or Shannon-Fano code lengths";
	case ZD_E_CODE: return "zip: invalid code in compressed data";
	case ZD_E_DIST: return "zip: deflate distance too far back";
	default: return NULL;
	}
}

/* ---- Deflate / Deflate64 ---- */

static const uint16_t len_base[29] = {
	3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
	35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
};
static const uint8_t len_extra[29] = {
	0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
	3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
};
static const uint16_t dist_base[32] = {
	1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
	257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
	32769, 49153,
};
static const uint8_t dist_extra[32] = {
	0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
	7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14,
};

/* Deflate's fixed codes; built on the first fixed block only, so a run
 * of tiny fixed blocks costs no table work. */
static void fixed_tables(struct zd *s)
{
	unsigned k;

	if (s->fixed)
		return;
	s->fixed = true;
	for (k = 0; k < 144; k++)
		s->lens[k] = 8;
	for (; k < 256; k++)
		s->lens[k] = 9;
	for (; k < 280; k++)
		s->lens[k] = 7;
	for (; k < 288; k++)
		s->lens[k] = 8;
	huff_build(&s->flit, s->lens, 288);
	for (k = 0; k < 32; k++)
		s->lens[k] = 5;
	huff_build(&s->fdist, s->lens, 32);
}

/* Reads a dynamic block's code lengths and builds its two tables. */
static int dynamic_tables(struct zd *s, bool d64)
{
	static const uint8_t order[19] = {
		16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
	};
	struct br *r = &s->r;
	unsigned nlit, ndist, ncl, k;

	nlit = br_bits(r, 5) + 257;
	ndist = br_bits(r, 5) + 1;
	ncl = br_bits(r, 4) + 4;
	if (nlit > 286 || ndist > (d64 ? 32u : 30u))
		return ZD_E_TREE;
	memset(s->lens, 0, 19);
	for (k = 0; k < ncl; k++)
		s->lens[order[k]] = (uint8_t)br_bits(r, 3);
	if (br_over(r))
		return ZD_E_TRUNC;
	if (!huff_build(&s->aux, s->lens, 19))
		return ZD_E_TREE;
	for (k = 0; k < nlit + ndist;) {
		int sym = huff_decode(r, &s->aux, 0);
		unsigned rep, v = 0;

		if (sym < 0)
			return br_over(r) ? ZD_E_TRUNC : ZD_E_CODE;
		if (sym < 16) {
			s->lens[k++] = (uint8_t)sym;
			continue;
		}
		if (sym == 16) {
			if (k == 0)
				return ZD_E_TREE;
			v = s->lens[k - 1];
			rep = 3 + br_bits(r, 2);
		} else if (sym == 17) {
			rep = 3 + br_bits(r, 3);
		} else {
			rep = 11 + br_bits(r, 7);
		}
		if (br_over(r))
			return ZD_E_TRUNC;
		if (k + rep > nlit + ndist)
			return ZD_E_TREE;
		while (rep--)
			s->lens[k++] = (uint8_t)v;
	}
	if (s->lens[256] == 0)  /* no end-of-block code: the block never ends */
		return ZD_E_TREE;
	if (!huff_build(&s->lit, s->lens, nlit) || !huff_build(&s->dist, s->lens + nlit, ndist))
		return ZD_E_TREE;
	return ZD_OK;
}

/* One Huffman-coded block, to its end-of-block code. */
static int codes(struct zd *s, const struct huff *lit, const struct huff *dst, bool d64)
{
	struct br *r = &s->r;
	uint64_t wmax = d64 ? 65536 : 32768;

	for (;;) {
		int sym = huff_decode(r, lit, 0), rc;
		unsigned len, dist;

		if (sym < 0)
			return br_over(r) ? ZD_E_TRUNC : ZD_E_CODE;
		if (sym < 256) {
			rc = put(s, (uint8_t)sym);
			if (rc != 0)
				return rc;
			continue;
		}
		if (sym == 256)
			return ZD_OK;
		sym -= 257;
		if (sym >= 29)
			return ZD_E_CODE;
		if (d64 && sym == 28)
			len = 3 + br_bits(r, 16);
		else
			len = len_base[sym] + br_bits(r, len_extra[sym]);
		sym = huff_decode(r, dst, 0);
		if (sym < 0)
			return br_over(r) ? ZD_E_TRUNC : ZD_E_CODE;
		if (sym >= (d64 ? 32 : 30))
			return ZD_E_CODE;
		dist = dist_base[sym] + br_bits(r, dist_extra[sym]);
		if (br_over(r))
			return ZD_E_TRUNC;
		if (dist > s->total || dist > wmax)
			return ZD_E_DIST;
		rc = copy(s, dist, len);
		if (rc != 0)
			return rc;
	}
}

/* A stored block: LEN, ~LEN, then LEN bytes. */
static int stored(struct zd *s)
{
	struct br *r = &s->r;
	unsigned len;
	int rc;

	br_align(r);
	if (r->n - r->i < 4)
		return ZD_E_TRUNC;
	len = r->p[r->i] | (unsigned)r->p[r->i + 1] << 8;
	if ((r->p[r->i + 2] | (unsigned)r->p[r->i + 3] << 8) != (~len & 0xffff))
		return ZD_E_BLOCK;
	r->i += 4;
	if (r->n - r->i < len)
		return ZD_E_TRUNC;
	for (unsigned k = 0; k < len; k++) {
		rc = put(s, r->p[r->i + k]);
		if (rc != 0)
			return rc;
	}
	r->i += len;
	return ZD_OK;
}

int zd_inflate(const uint8_t *in, size_t n, bool d64, zd_sink sink, void *ud, size_t *used)
{
	struct zd *s = zd_new(in, n, sink, ud);
	unsigned last = 0;
	int rc = ZD_OK;

	if (s == NULL)
		return ZD_E_NOMEM;
	while (rc == ZD_OK && !last) {
		unsigned type;

		last = br_bits(&s->r, 1);
		type = br_bits(&s->r, 2);
		if (br_over(&s->r)) {
			rc = ZD_E_TRUNC;
			break;
		}
		switch (type) {
		case 0:
			rc = stored(s);
			break;
		case 1:
			fixed_tables(s);
			rc = codes(s, &s->flit, &s->fdist, d64);
			break;
		case 2:
			rc = dynamic_tables(s, d64);
			if (rc == ZD_OK)
				rc = codes(s, &s->lit, &s->dist, d64);
			break;
		default:
			rc = ZD_E_BLOCK;
			break;
		}
	}
	if (used != NULL) {
		size_t bits = (s->r.i + s->r.pad) * 8 - s->r.k;

		*used = (bits + 7) / 8 > n ? n : (bits + 7) / 8;
	}
	return zd_finish(s, rc);
}

/* ---- Implode ---- */

/* Reads one Shannon-Fano tree of |n| values into |h|. */
static int sf_tree(struct zd *s, struct huff *h, unsigned n)
{
	struct br *r = &s->r;
	unsigned bytes, k = 0;

	/* the trees are whole bytes before the bit stream: no bits buffered */
	if (r->i >= r->n)
		return ZD_E_TRUNC;
	bytes = r->p[r->i++] + 1u;
	while (bytes--) {
		unsigned v, cnt;

		if (r->i >= r->n)
			return ZD_E_TRUNC;
		v = r->p[r->i++];
		cnt = (v >> 4) + 1;
		if (k + cnt > n)
			return ZD_E_TREE;
		while (cnt--)
			s->lens[k++] = (uint8_t)((v & 0x0f) + 1);
	}
	if (k != n || !huff_build(h, s->lens, n))
		return ZD_E_TREE;
	return ZD_OK;
}

int zd_explode(const uint8_t *in, size_t n, bool dict8k, bool lit_tree, uint64_t size,
	       zd_sink sink, void *ud)
{
	struct zd *s;
	struct br *r;
	unsigned dbits = dict8k ? 7 : 6, minlen = lit_tree ? 3 : 2;
	int rc = ZD_OK;

	if (size == 0)
		return ZD_OK;
	s = zd_new(in, n, sink, ud);
	if (s == NULL)
		return ZD_E_NOMEM;
	r = &s->r;
	if (lit_tree)
		rc = sf_tree(s, &s->aux, 256);
	if (rc == ZD_OK)
		rc = sf_tree(s, &s->lit, 64);   /* lengths */
	if (rc == ZD_OK)
		rc = sf_tree(s, &s->dist, 64);
	while (rc == ZD_OK && s->total < size) {
		int sym;

		if (br_bits(r, 1)) {
			if (lit_tree) {
				sym = huff_decode(r, &s->aux, ~0u);
			} else {
				sym = (int)br_bits(r, 8);
				if (br_over(r))
					sym = -1;
			}
			if (sym < 0) {
				rc = br_over(r) ? ZD_E_TRUNC : ZD_E_CODE;
				break;
			}
			rc = put(s, (uint8_t)sym);
		} else {
			uint32_t dist, len;
			uint64_t left = size - s->total;

			dist = br_bits(r, dbits);
			sym = huff_decode(r, &s->dist, ~0u);
			if (sym < 0) {
				rc = br_over(r) ? ZD_E_TRUNC : ZD_E_CODE;
				break;
			}
			dist = ((uint32_t)sym << dbits | dist) + 1;
			sym = huff_decode(r, &s->lit, ~0u);
			if (sym < 0) {
				rc = br_over(r) ? ZD_E_TRUNC : ZD_E_CODE;
				break;
			}
			len = (uint32_t)sym + minlen;
			if (sym == 63)
				len += br_bits(r, 8);
			if (br_over(r)) {
				rc = ZD_E_TRUNC;
				break;
			}
			rc = copy(s, dist, len < left ? len : (uint32_t)left);
		}
	}
	return zd_finish(s, rc);
}
