/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_zipx.c - ZIP with Deflate64 / Implode members (scan_zipx.c)
 * and their decoders (scan_zipdec.c):
 *  - the inflater against zlib on plain Deflate streams (every zlib
 *    strategy and level), and on a hand-built Deflate64 stream using
 *    distance code 31 (65536 back) and length code 285 (3 + 16 bits);
 *  - the exploder on hand-built Implode streams (2 and 3 trees, 4 and 8
 *    KiB dictionaries, the extra length byte, a distance before the start);
 *  - whole archives through scan_archive_expand(): every method in one
 *    zip, encrypted and unsupported members, CRC and size checks, no
 *    central directory (local headers, data descriptor), prepended data,
 *    limits, every truncation, and plain zips left to libarchive;
 *  - ClamAV's clam.impl.zip and clam.d64.zip when the corpus is there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <zlib.h>

#include "scan_archive.h"
#include "scan_test.h"
#include "scan_zipdec.h"

/* ---- a decoder sink into a growable buffer ---- */

struct out {
	struct sbuf b;
	size_t stop_at;   /* 0: never stop */
};

static int sink(void *ud, const uint8_t *p, size_t n)
{
	struct out *o = ud;

	assert_true(n > 0 && n <= 65536);
	sbuf_add(&o->b, p, n);
	return o->stop_at != 0 && o->b.n >= o->stop_at;
}

/* ---- a bit writer, least significant bit first ---- */

struct bw {
	struct sbuf s;
	uint32_t b;
	unsigned k;
};

static void bw_bits(struct bw *w, uint32_t v, unsigned k)
{
	for (unsigned i = 0; i < k; i++) {
		w->b |= ((v >> i) & 1u) << w->k;
		if (++w->k == 8) {
			uint8_t c = (uint8_t)w->b;

			sbuf_add(&w->s, &c, 1);
			w->b = 0;
			w->k = 0;
		}
	}
}

/* A Huffman code: its most significant bit goes first. */
static void bw_code(struct bw *w, uint32_t code, unsigned len)
{
	while (len--)
		bw_bits(w, (code >> len) & 1u, 1);
}

static void bw_align(struct bw *w)
{
	if (w->k > 0)
		bw_bits(w, 0, 8 - w->k);
}

/* Deflate's fixed literal/length code. */
static void fixed_sym(struct bw *w, unsigned s)
{
	if (s < 144)
		bw_code(w, 0x30 + s, 8);
	else if (s < 256)
		bw_code(w, 0x190 + s - 144, 9);
	else if (s < 280)
		bw_code(w, s - 256, 7);
	else
		bw_code(w, 0xc0 + s - 280, 8);
}

static void fill_random(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* ---- Deflate: zlib's streams decode the same ---- */

static size_t zlib_raw(const uint8_t *in, size_t n, int level, int strategy, uint8_t **out)
{
	z_stream z;
	size_t cap = compressBound((uLong)n) + 64;

	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, -15, 8, strategy), Z_OK);
	*out = malloc(cap);
	assert_non_null(*out);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = *out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	deflateEnd(&z);
	return z.total_out;
}

static void check_zlib(const uint8_t *in, size_t n, int level, int strategy)
{
	struct out o = { 0 };
	uint8_t *c;
	size_t cn = zlib_raw(in, n, level, strategy, &c), used = 0;

	assert_int_equal(zd_inflate(c, cn, false, sink, &o, &used), ZD_OK);
	assert_int_equal(o.b.n, n);
	if (n > 0)
		assert_memory_equal(o.b.p, in, n);
	assert_int_equal(used, cn);
	/* every cut of the stream is an error, never a crash or ZD_OK */
	if (cn < 400) {
		for (size_t k = 0; k < cn; k++) {
			struct out t = { 0 };

			assert_true(zd_inflate(c, k, false, sink, &t, NULL) < 0);
			sbuf_free(&t.b);
		}
	}
	sbuf_free(&o.b);
	free(c);
}

static void test_inflate_zlib(void **state)
{
	static const int strategies[] = { Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE,
					  Z_FIXED };
	size_t n = 300000;
	uint8_t *buf = malloc(n);

	assert_non_null(buf);
	/* text-like: repeats near and far, runs longer than 258 */
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)("the quick brown fox jumps "[(i * 7 / 5) % 26] + (i / 40000));
	memset(buf + 1000, 'x', 5000);
	fill_random(buf + 200000, 50000, 7);
	for (size_t s = 0; s < sizeof(strategies) / sizeof(strategies[0]); s++)
		for (int level = 0; level <= 9; level += 3)
			check_zlib(buf, n, level, strategies[s]);
	check_zlib(buf, 0, 6, Z_DEFAULT_STRATEGY);
	check_zlib(buf, 1, 6, Z_DEFAULT_STRATEGY);
	check_zlib(buf, 300, 9, Z_DEFAULT_STRATEGY);
	check_zlib(buf, 300, 9, Z_FIXED);
	check_zlib(buf + 200000, 300, 9, Z_DEFAULT_STRATEGY);
	free(buf);
}

static void test_inflate_errors(void **state)
{
	static const uint8_t btype3[] = { 0x07 };                  /* final, type 3 */
	static const uint8_t nlen[] = { 0x01, 0x02, 0x00, 0x00, 0x00 }; /* NLEN != ~LEN */
	struct out o = { 0 };
	struct bw w = { 0 };

	assert_int_equal(zd_inflate(btype3, 1, false, sink, &o, NULL), ZD_E_BLOCK);
	assert_int_equal(zd_inflate(nlen, 5, false, sink, &o, NULL), ZD_E_BLOCK);
	assert_int_equal(zd_inflate(nlen, 0, false, sink, &o, NULL), ZD_E_TRUNC);
	/* a fixed block: 'a', then a match 3 back after one byte */
	bw_bits(&w, 1, 1);
	bw_bits(&w, 1, 2);
	fixed_sym(&w, 'a');
	fixed_sym(&w, 257);
	bw_code(&w, 2, 5);            /* distance code 2: 3 back */
	fixed_sym(&w, 256);
	bw_align(&w);
	assert_int_equal(zd_inflate((uint8_t *)w.s.p, w.s.n, false, sink, &o, NULL), ZD_E_DIST);
	sbuf_free(&w.s);
	memset(&w, 0, sizeof(w));
	/* distance code 30: Deflate64 only (and 32769 back is too far here) */
	bw_bits(&w, 1, 1);
	bw_bits(&w, 1, 2);
	fixed_sym(&w, 'a');
	fixed_sym(&w, 257);
	bw_code(&w, 30, 5);
	bw_bits(&w, 0, 14);
	fixed_sym(&w, 256);
	bw_align(&w);
	assert_int_equal(zd_inflate((uint8_t *)w.s.p, w.s.n, false, sink, &o, NULL), ZD_E_CODE);
	assert_int_equal(zd_inflate((uint8_t *)w.s.p, w.s.n, true, sink, &o, NULL), ZD_E_DIST);
	sbuf_free(&w.s);
	memset(&w, 0, sizeof(w));
	/* literal/length symbol 286 (fixed code) is reserved */
	bw_bits(&w, 1, 1);
	bw_bits(&w, 1, 2);
	fixed_sym(&w, 286);
	bw_align(&w);
	assert_int_equal(zd_inflate((uint8_t *)w.s.p, w.s.n, false, sink, &o, NULL), ZD_E_CODE);
	assert_int_equal(zd_inflate((uint8_t *)w.s.p, w.s.n, true, sink, &o, NULL), ZD_E_CODE);
	sbuf_free(&w.s);
	memset(&w, 0, sizeof(w));
	/* dynamic block: 31 distance codes are Deflate64 only; a code-length
	 * repeat with nothing before it */
	bw_bits(&w, 1, 1);
	bw_bits(&w, 2, 2);
	bw_bits(&w, 0, 5);
	bw_bits(&w, 30, 5);
	bw_bits(&w, 0, 4);
	bw_align(&w);
	assert_int_equal(zd_inflate((uint8_t *)w.s.p, w.s.n, false, sink, &o, NULL), ZD_E_TREE);
	sbuf_free(&w.s);
	memset(&w, 0, sizeof(w));
	bw_bits(&w, 1, 1);
	bw_bits(&w, 2, 2);
	bw_bits(&w, 0, 5);
	bw_bits(&w, 0, 5);
	bw_bits(&w, 0, 4);            /* 4 code length codes: 16, 17, 18, 0 */
	bw_bits(&w, 1, 3);            /* 16: length 1 */
	bw_bits(&w, 0, 3);
	bw_bits(&w, 0, 3);
	bw_bits(&w, 1, 3);            /* 0: length 1 */
	bw_code(&w, 1, 1);            /* code 1 = symbol 16 (canonical: 0 -> 0, 16 -> 1) */
	bw_bits(&w, 0, 2);
	bw_align(&w);
	assert_int_equal(zd_inflate((uint8_t *)w.s.p, w.s.n, false, sink, &o, NULL), ZD_E_TREE);
	sbuf_free(&w.s);
	assert_null(zd_strerror(ZD_OK));
	assert_non_null(zd_strerror(ZD_E_DIST));
	sbuf_free(&o.b);
}

/* ---- Deflate64: a hand-built stream ---- */

#define D64_A 40000
#define D64_B 30000

/* Two stored blocks (70000 bytes of history), then a fixed block: 1000
 * bytes from 65536 back (distance code 31, 14 extra bits), 65538 bytes
 * from 1 back (length code 285 with 16 extra bits), 'Z', end. */
static void d64_sample(struct sbuf *s, struct sbuf *expect)
{
	struct bw w = { 0 };
	size_t n = D64_A + D64_B;
	uint8_t *d = malloc(n);
	size_t len[2] = { D64_A, D64_B };
	uint8_t z = 'Z';

	assert_non_null(d);
	fill_random(d, n, 1);
	for (int b = 0; b < 2; b++) {
		uint8_t h[4] = { (uint8_t)len[b], (uint8_t)(len[b] >> 8), (uint8_t)~len[b],
				 (uint8_t)(~len[b] >> 8) };

		bw_bits(&w, 0, 1);
		bw_bits(&w, 0, 2);
		bw_align(&w);
		sbuf_add(&w.s, h, 4);
		sbuf_add(&w.s, d + (b ? D64_A : 0), len[b]);
	}
	bw_bits(&w, 1, 1);
	bw_bits(&w, 1, 2);
	fixed_sym(&w, 285);
	bw_bits(&w, 1000 - 3, 16);
	bw_code(&w, 31, 5);
	bw_bits(&w, 65536 - 49153, 14);
	fixed_sym(&w, 285);
	bw_bits(&w, 65535, 16);
	bw_code(&w, 0, 5);
	fixed_sym(&w, 'Z');
	fixed_sym(&w, 256);
	bw_align(&w);
	*s = w.s;
	memset(expect, 0, sizeof(*expect));
	sbuf_add(expect, d, n);
	sbuf_add(expect, d + n - 65536, 1000);
	for (int i = 0; i < 65538; i++)
		sbuf_add(expect, d + n - 65536 + 999, 1);
	sbuf_add(expect, &z, 1);
	free(d);
}

static void test_inflate_deflate64(void **state)
{
	struct sbuf s, e;
	struct out o = { 0 };
	size_t used = 0;

	d64_sample(&s, &e);
	assert_int_equal(zd_inflate((uint8_t *)s.p, s.n, true, sink, &o, &used), ZD_OK);
	assert_int_equal(used, s.n);
	assert_int_equal(o.b.n, e.n);
	assert_memory_equal(o.b.p, e.p, e.n);
	sbuf_free(&o.b);
	/* as plain Deflate, code 285 has no extra bits: the rest is garbage */
	assert_true(zd_inflate((uint8_t *)s.p, s.n, false, sink, &o, NULL) < 0);
	sbuf_free(&o.b);
	/* the sink stops it */
	o.stop_at = 1;
	assert_int_equal(zd_inflate((uint8_t *)s.p, s.n, true, sink, &o, NULL), ZD_STOP);
	assert_int_equal(o.b.n, 65536);
	sbuf_free(&o.b);
	/* cut inside the fixed block */
	o.stop_at = 0;
	assert_int_equal(zd_inflate((uint8_t *)s.p, s.n - 2, true, sink, &o, NULL), ZD_E_TRUNC);
	sbuf_free(&o.b);
	sbuf_free(&s);
	sbuf_free(&e);
}

/* ---- Implode: hand-built streams ---- */

/* Trees where every code has the same length: 8 bits for 256 literals,
 * 6 bits for 64 lengths or distances; symbol k's code is then k. */
static void flat_tree(struct sbuf *s, unsigned values, unsigned bits)
{
	uint8_t b = (uint8_t)(values / 16 - 1);

	sbuf_add(s, &b, 1);
	b = (uint8_t)(0xf0 | (bits - 1));
	for (unsigned i = 0; i < values / 16; i++)
		sbuf_add(s, &b, 1);
}

/* Implode stores the codes complemented. */
static void sf_code(struct bw *w, unsigned sym, unsigned bits)
{
	bw_code(w, ~sym & ((1u << bits) - 1), bits);
}

static void imp_lit(struct bw *w, bool lit, uint8_t v, struct sbuf *e)
{
	bw_bits(w, 1, 1);
	if (lit)
		sf_code(w, v, 8);
	else
		bw_bits(w, v, 8);
	sbuf_add(e, &v, 1);
}

static void imp_match(struct bw *w, bool lit, bool big, unsigned dist, unsigned len,
		      struct sbuf *e)
{
	unsigned dbits = big ? 7 : 6, min = lit ? 3 : 2, l = len - min;

	bw_bits(w, 0, 1);
	bw_bits(w, (dist - 1) & ((1u << dbits) - 1), dbits);
	sf_code(w, (dist - 1) >> dbits, 6);
	sf_code(w, l < 63 ? l : 63, 6);
	if (l >= 63)
		bw_bits(w, l - 63, 8);
	for (unsigned i = 0; i < len; i++) {
		uint8_t c = e->n >= dist ? (uint8_t)e->p[e->n - dist] : 0;

		sbuf_add(e, &c, 1);
	}
}

static void implode_sample(bool lit, bool big, struct sbuf *s, struct sbuf *e)
{
	struct bw w = { 0 };

	memset(s, 0, sizeof(*s));
	memset(e, 0, sizeof(*e));
	if (lit)
		flat_tree(s, 256, 8);
	flat_tree(s, 64, 6);
	flat_tree(s, 64, 6);
	imp_lit(&w, lit, 'a', e);
	imp_lit(&w, lit, 'b', e);
	imp_lit(&w, lit, 'c', e);
	imp_match(&w, lit, big, 3, 6, e);
	imp_match(&w, lit, big, 200, 4, e);        /* before the start: zeros */
	imp_match(&w, lit, big, 3, 90, e);         /* length code 63 + 8 bits */
	imp_lit(&w, lit, 0xe9, e);
	imp_match(&w, lit, big, big ? 8000 : 4000, 5, e);
	bw_align(&w);
	sbuf_add(s, w.s.p, w.s.n);
	sbuf_free(&w.s);
}

static void test_explode(void **state)
{
	for (int v = 0; v < 4; v++) {
		bool lit = v & 1, big = v & 2;
		struct sbuf s, e;
		struct out o = { 0 };

		implode_sample(lit, big, &s, &e);
		assert_int_equal(zd_explode((uint8_t *)s.p, s.n, big, lit, e.n, sink, &o), ZD_OK);
		assert_int_equal(o.b.n, e.n);
		assert_memory_equal(o.b.p, e.p, e.n);
		sbuf_free(&o.b);
		/* fewer bytes wanted: it stops there */
		assert_int_equal(zd_explode((uint8_t *)s.p, s.n, big, lit, 7, sink, &o), ZD_OK);
		assert_int_equal(o.b.n, 7);
		sbuf_free(&o.b);
		/* more: the data runs out */
		assert_int_equal(zd_explode((uint8_t *)s.p, s.n, big, lit, e.n + 100, sink, &o),
				 ZD_E_TRUNC);
		sbuf_free(&o.b);
		/* every cut */
		for (size_t k = 0; k + 1 < s.n; k++) {
			assert_true(zd_explode((uint8_t *)s.p, k, big, lit, e.n, sink, &o) < 0);
			sbuf_free(&o.b);
		}
		sbuf_free(&s);
		sbuf_free(&e);
	}
}

static void test_explode_trees(void **state)
{
	/* counts beyond 64 values; a tree that ends short of 64; over-
	 * subscribed lengths (64 codes of 1 bit) */
	static const uint8_t over[] = { 4, 0xf5, 0xf5, 0xf5, 0xf5, 0x05 };
	static const uint8_t shrt[] = { 0, 0xf5 };
	static const uint8_t ones[] = { 3, 0xf0, 0xf0, 0xf0, 0xf0 };
	struct out o = { 0 };

	assert_int_equal(zd_explode(over, sizeof(over), false, false, 10, sink, &o), ZD_E_TREE);
	assert_int_equal(zd_explode(shrt, sizeof(shrt), false, false, 10, sink, &o), ZD_E_TREE);
	assert_int_equal(zd_explode(ones, sizeof(ones), false, false, 10, sink, &o), ZD_E_TREE);
	assert_int_equal(zd_explode(ones, 0, false, false, 10, sink, &o), ZD_E_TRUNC);
	assert_int_equal(zd_explode(ones, 0, false, false, 0, sink, &o), ZD_OK);
	assert_int_equal(o.b.n, 0);
}

/* ---- zip archives ---- */

struct zw {
	struct sbuf f;    /* local headers and data */
	struct sbuf cd;
	unsigned count;
};

static void put16(struct sbuf *s, unsigned v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	sbuf_add(s, b, 2);
}

static void put32(struct sbuf *s, uint32_t v)
{
	put16(s, v & 0xffff);
	put16(s, v >> 16);
}

/* Adds a member: |c| (|cn| bytes) is its data as stored, |crc| and
 * |usize| its decoded CRC-32 and size. |dd|: sizes and CRC in a data
 * descriptor (zero in the local header). */
static void zw_add(struct zw *z, const char *name, unsigned method, unsigned flags,
		   const void *c, size_t cn, uint32_t crc, uint32_t usize, bool dd)
{
	size_t off = z->f.n, nl = strlen(name);

	if (dd)
		flags |= 8;
	sbuf_add(&z->f, "PK\x03\x04", 4);
	put16(&z->f, 20);
	put16(&z->f, flags);
	put16(&z->f, method);
	put32(&z->f, 0);
	put32(&z->f, dd ? 0 : crc);
	put32(&z->f, dd ? 0 : (uint32_t)cn);
	put32(&z->f, dd ? 0 : usize);
	put16(&z->f, (unsigned)nl);
	put16(&z->f, 0);
	sbuf_add(&z->f, name, nl);
	sbuf_add(&z->f, c, cn);
	if (dd) {
		sbuf_add(&z->f, "PK\x07\x08", 4);
		put32(&z->f, crc);
		put32(&z->f, (uint32_t)cn);
		put32(&z->f, usize);
	}
	sbuf_add(&z->cd, "PK\x01\x02", 4);
	put16(&z->cd, 20);
	put16(&z->cd, 20);
	put16(&z->cd, flags);
	put16(&z->cd, method);
	put32(&z->cd, 0);
	put32(&z->cd, crc);
	put32(&z->cd, (uint32_t)cn);
	put32(&z->cd, usize);
	put16(&z->cd, (unsigned)nl);
	put16(&z->cd, 0);
	put16(&z->cd, 0);
	put16(&z->cd, 0);
	put16(&z->cd, 0);
	put32(&z->cd, 0);
	put32(&z->cd, (uint32_t)off);
	sbuf_add(&z->cd, name, nl);
	z->count++;
}

/* Appends the directory and its end record to z->f (the archive). */
static void zw_end(struct zw *z)
{
	size_t off = z->f.n;

	sbuf_add(&z->f, z->cd.p, z->cd.n);
	sbuf_add(&z->f, "PK\x05\x06", 4);
	put16(&z->f, 0);
	put16(&z->f, 0);
	put16(&z->f, z->count);
	put16(&z->f, z->count);
	put32(&z->f, (uint32_t)z->cd.n);
	put32(&z->f, (uint32_t)off);
	put16(&z->f, 0);
	sbuf_free(&z->cd);
}

static uint32_t crc(const void *p, size_t n)
{
	return (uint32_t)crc32(0, p, (uInt)n);
}

static const char text[] = "Deflate64 and Implode members, decoded by our own code.";

/* An archive of every kind of member: stored, deflate, deflate64,
 * implode (4K/2 trees and 8K/3 trees), LZMA (unsupported), encrypted. */
static void mixed_zip(struct zw *z, bool dd)
{
	struct sbuf s, e;
	uint8_t *c;
	size_t cn;

	memset(z, 0, sizeof(*z));
	zw_add(z, "stored.txt", 0, 0, text, sizeof(text) - 1, crc(text, sizeof(text) - 1),
	       sizeof(text) - 1, false);
	cn = zlib_raw((const uint8_t *)text, sizeof(text) - 1, 9, Z_DEFAULT_STRATEGY, &c);
	zw_add(z, "deflate.txt", 8, 0, c, cn, crc(text, sizeof(text) - 1), sizeof(text) - 1, dd);
	free(c);
	d64_sample(&s, &e);
	zw_add(z, "big.bin", 9, 0, s.p, s.n, crc(e.p, e.n), (uint32_t)e.n, dd);
	sbuf_free(&s);
	sbuf_free(&e);
	implode_sample(false, false, &s, &e);
	zw_add(z, "imp4k.bin", 6, 0, s.p, s.n, crc(e.p, e.n), (uint32_t)e.n, false);
	sbuf_free(&s);
	sbuf_free(&e);
	implode_sample(true, true, &s, &e);
	zw_add(z, "dir/imp8k.bin", 6, 6, s.p, s.n, crc(e.p, e.n), (uint32_t)e.n, false);
	sbuf_free(&s);
	sbuf_free(&e);
	zw_add(z, "dir/", 0, 0, "", 0, 0, 0, false);
	zw_add(z, "lzma.bin", 14, 0, "\x09\x14\x05\x00", 4, 0x12345678, 100, false);
	zw_add(z, "secret.txt", 8, 1, "0123456789abcdef", 16, 0x12345678, 5, false);
}

static void check_mixed(const struct arch_members *g, const struct scan_archive_result *res)
{
	struct sbuf s, e;

	assert_string_equal(res->format, "zipx");
	assert_int_equal(g->begins, 7);
	assert_string_equal(g->m[0].name, "stored.txt");
	assert_int_equal(g->m[0].data.n, sizeof(text) - 1);
	assert_memory_equal(g->m[0].data.p, text, sizeof(text) - 1);
	assert_int_equal(g->m[0].flags, 0);
	assert_string_equal(g->m[1].name, "deflate.txt");
	assert_int_equal(g->m[1].data.n, sizeof(text) - 1);
	assert_memory_equal(g->m[1].data.p, text, sizeof(text) - 1);
	assert_int_equal(g->m[1].flags, 0);
	d64_sample(&s, &e);
	assert_string_equal(g->m[2].name, "big.bin");
	assert_int_equal(g->m[2].data.n, e.n);
	assert_memory_equal(g->m[2].data.p, e.p, e.n);
	assert_int_equal(g->m[2].flags, 0);
	sbuf_free(&s);
	sbuf_free(&e);
	implode_sample(false, false, &s, &e);
	assert_string_equal(g->m[3].name, "imp4k.bin");
	assert_int_equal(g->m[3].data.n, e.n);
	assert_memory_equal(g->m[3].data.p, e.p, e.n);
	sbuf_free(&s);
	sbuf_free(&e);
	implode_sample(true, true, &s, &e);
	assert_string_equal(g->m[4].name, "dir/imp8k.bin");
	assert_int_equal(g->m[4].data.n, e.n);
	assert_memory_equal(g->m[4].data.p, e.p, e.n);
	assert_int_equal(g->m[4].flags, 0);
	sbuf_free(&s);
	sbuf_free(&e);
	/* the unsupported one is listed and CORRUPT, its siblings are fine */
	assert_string_equal(g->m[5].name, "lzma.bin");
	assert_int_equal(g->m[5].data.n, 0);
	assert_true(g->m[5].flags & SCAN_AMF_CORRUPT);
	assert_string_equal(g->m[6].name, "secret.txt");
	assert_int_equal(g->m[6].data.n, 0);
	assert_true(g->m[6].flags & SCAN_AMF_ENCRYPTED);
	assert_int_equal(res->encrypted, 1);
	assert_true(res->flags & SCAN_ARF_ENCRYPTED);
	assert_true(res->flags & SCAN_ARF_CORRUPT);
	assert_string_equal(res->error, "zip: unsupported compression method");
	assert_int_equal(res->decode_errors, 1);
}

static void test_zip_mixed(void **state)
{
	struct scan_archive_result res;
	struct arch_members g;
	struct zw z;

	mixed_zip(&z, false);
	zw_end(&z);
	assert_true(scan_archive_sniff((uint8_t *)z.f.p, z.f.n));
	members_expand((uint8_t *)z.f.p, z.f.n, "t.zip", NULL, &g, &res);
	check_mixed(&g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_ENCRYPTED);
	members_free(&g);
	/* data descriptors: the directory has the sizes */
	sbuf_free(&z.f);
	mixed_zip(&z, true);
	zw_end(&z);
	members_expand((uint8_t *)z.f.p, z.f.n, "t.zip", NULL, &g, &res);
	check_mixed(&g, &res);
	members_free(&g);
	sbuf_free(&z.f);
}

/* Without a central directory the local headers are walked; deflate and
 * deflate64 members behind data descriptors end themselves. */
static void test_zip_no_directory(void **state)
{
	struct scan_archive_result res;
	struct arch_members g;
	struct zw z;

	mixed_zip(&z, true);
	sbuf_free(&z.cd);
	assert_true(scan_archive_sniff((uint8_t *)z.f.p, z.f.n));
	members_expand((uint8_t *)z.f.p, z.f.n, "t.zip", NULL, &g, &res);
	check_mixed(&g, &res);
	members_free(&g);
	sbuf_free(&z.f);
	/* a stored member behind a descriptor cannot be ended: the walk stops */
	memset(&z, 0, sizeof(z));
	zw_add(&z, "a.bin", 9, 0, "\x03\x00", 2, 0, 0, false);
	zw_add(&z, "b.txt", 0, 0, text, 10, crc(text, 10), 10, true);
	zw_add(&z, "c.txt", 0, 0, text, 10, crc(text, 10), 10, false);
	sbuf_free(&z.cd);
	members_expand((uint8_t *)z.f.p, z.f.n, "t.zip", NULL, &g, &res);
	assert_int_equal(g.begins, 1);
	assert_string_equal(res.error, "zip: member size unknown without the central directory");
	members_free(&g);
	sbuf_free(&z.f);
	/* stored data cut by the end of the input: what is there is scanned */
	memset(&z, 0, sizeof(z));
	zw_add(&z, "a.bin", 9, 0, "\x03\x00", 2, 0, 0, false);
	zw_add(&z, "b.txt", 0, 0, text, 40, crc(text, 40), 40, false);
	sbuf_free(&z.cd);
	members_expand((uint8_t *)z.f.p, z.f.n - 20, "t.zip", NULL, &g, &res);
	assert_int_equal(g.begins, 2);
	assert_string_equal(res.error, "zip: member data truncated");
	assert_int_equal(g.m[1].data.n, 20);
	assert_true(g.m[1].flags & SCAN_AMF_CORRUPT);
	members_free(&g);
	sbuf_free(&z.f);
}

/* Bytes before the archive (a self-extractor): offsets are shifted. */
static void test_zip_prepended(void **state)
{
	struct scan_archive_result res;
	struct sbuf s = { 0 };
	struct arch_members g;
	struct zw z;

	mixed_zip(&z, false);
	zw_end(&z);
	sbuf_add(&s, "MZ this is a stub of some 40 bytes......", 40);
	sbuf_add(&s, z.f.p, z.f.n);
	assert_true(scan_archive_sniff((uint8_t *)s.p, s.n));
	members_expand((uint8_t *)s.p, s.n, "t.zip", NULL, &g, &res);
	check_mixed(&g, &res);
	members_free(&g);
	sbuf_free(&s);
	sbuf_free(&z.f);
}

static void test_zip_checks(void **state)
{
	struct scan_archive_result res;
	struct sbuf s, e;
	struct arch_members g;
	struct zw z;

	implode_sample(true, false, &s, &e);
	/* wrong CRC */
	memset(&z, 0, sizeof(z));
	zw_add(&z, "x", 6, 4, s.p, s.n, crc(e.p, e.n) ^ 1, (uint32_t)e.n, false);
	zw_end(&z);
	members_expand((uint8_t *)z.f.p, z.f.n, "t.zip", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_string_equal(res.error, "zip: CRC-32 mismatch");
	assert_true(g.m[0].flags & SCAN_AMF_CORRUPT);
	assert_int_equal(g.m[0].data.n, e.n);    /* still scanned */
	members_free(&g);
	sbuf_free(&z.f);
	/* wrong size: deflate64 ends before it */
	memset(&z, 0, sizeof(z));
	zw_add(&z, "y", 9, 0, "\x03\x00", 2, 0, 5, false);
	zw_end(&z);
	members_expand((uint8_t *)z.f.p, z.f.n, "t.zip", NULL, &g, &res);
	assert_string_equal(res.error, "zip: member size differs from its header");
	members_free(&g);
	sbuf_free(&z.f);
	/* damaged deflate data (block type 3) next to a deflate64 member */
	memset(&z, 0, sizeof(z));
	zw_add(&z, "y", 9, 0, "\x03\x00", 2, 0, 0, false);
	zw_add(&z, "z", 8, 0, "\x07", 1, 0, 0, false);
	zw_end(&z);
	members_expand((uint8_t *)z.f.p, z.f.n, "t.zip", NULL, &g, &res);
	assert_int_equal(g.begins, 2);
	assert_string_equal(res.error, "zip: damaged deflate data");
	members_free(&g);
	sbuf_free(&z.f);
	/* a directory entry pointing nowhere */
	memset(&z, 0, sizeof(z));
	zw_add(&z, "y", 9, 0, "\x03\x00", 2, 0, 0, false);
	zw_end(&z);
	z.f.p[z.f.n - 22 - 4] = 0x7f;            /* the entry's local header offset */
	members_expand((uint8_t *)z.f.p, z.f.n, "t.zip", NULL, &g, &res);
	assert_string_equal(res.error, "zip: local header out of range");
	assert_int_equal(g.begins, 1);
	members_free(&g);
	sbuf_free(&z.f);
	sbuf_free(&s);
	sbuf_free(&e);
}

/* Zips without method 6 or 9 are libarchive's, unchanged. */
static void test_zip_plain_not_ours(void **state)
{
	struct scan_archive_result res;
	struct arch_members g;
	struct zw z;
	uint8_t *c;
	size_t cn = zlib_raw((const uint8_t *)text, sizeof(text) - 1, 9, Z_DEFAULT_STRATEGY, &c);

	memset(&z, 0, sizeof(z));
	zw_add(&z, "a.txt", 0, 0, text, sizeof(text) - 1, crc(text, sizeof(text) - 1),
	       sizeof(text) - 1, false);
	zw_add(&z, "b.txt", 8, 0, c, cn, crc(text, sizeof(text) - 1), sizeof(text) - 1, false);
	zw_end(&z);
	free(c);
	members_expand((uint8_t *)z.f.p, z.f.n, "t.zip", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_string_not_equal(res.format, "zipx");
	assert_int_equal(g.begins, 2);
	assert_int_equal(g.m[1].data.n, sizeof(text) - 1);
	members_free(&g);
	sbuf_free(&z.f);
}

/* Limits cut a member (no CRC verdict on it) and stop the walk. */
static void test_zip_limits(void **state)
{
	struct scan_archive_limits lim;
	struct scan_archive_result res;
	struct arch_members g;
	struct zw z;

	scan_archive_limits_default(&lim);
	lim.max_member_bytes = 50000;
	mixed_zip(&z, false);
	zw_end(&z);
	members_expand((uint8_t *)z.f.p, z.f.n, "t.zip", &lim, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_BOMB);
	assert_int_equal(g.m[2].data.n, 50000);
	assert_true(g.m[2].flags & SCAN_AMF_TRUNCATED);
	assert_false(g.m[2].flags & SCAN_AMF_CORRUPT);
	assert_int_equal(g.begins, 3);
	members_free(&g);
	scan_archive_limits_default(&lim);
	lim.max_members = 2;
	members_expand((uint8_t *)z.f.p, z.f.n, "t.zip", &lim, &g, &res);
	assert_int_equal(g.begins, 2);
	members_free(&g);
	sbuf_free(&z.f);
}

/* A thousand directory entries sharing one member whose data inflates to
 * nothing (empty stored blocks): every reading is charged to the work
 * budget, so the walk ends with the WORK limit instead of reading the
 * data a thousand times for free. */
static void test_zip_shared_data(void **state)
{
	struct scan_archive_limits lim;
	struct scan_archive_result res;
	struct arch_members g;
	struct sbuf d = { 0 }, one;
	struct zw z;

	for (int k = 0; k < 5000; k++)
		sbuf_add(&d, "\x00\x00\x00\xff\xff", 5);
	sbuf_add(&d, "\x01\x00\x00\xff\xff", 5);
	memset(&z, 0, sizeof(z));
	zw_add(&z, "d", 9, 0, d.p, d.n, 0, 0, false);
	one = z.cd;
	memset(&z.cd, 0, sizeof(z.cd));
	for (int k = 0; k < 1000; k++)
		sbuf_add(&z.cd, one.p, one.n);
	z.count = 1000;
	sbuf_free(&one);
	zw_end(&z);
	scan_archive_limits_default(&lim);
	lim.work_budget = 4u << 20; /* the data is 25 KB: 160 readings */
	members_expand((uint8_t *)z.f.p, z.f.n, "t.zip", &lim, &g, &res);
	assert_string_equal(res.format, "zipx");
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_BOMB);
	assert_int_equal(res.limit, SCAN_ARCHIVE_LIM_WORK);
	assert_true(g.begins < 200);
	members_free(&g);
	sbuf_free(&d);
	sbuf_free(&z.f);
}

/* A member cut inside its Deflate64 stream: what was decoded before the
 * cut is still delivered (and scanned), the member is CORRUPT. */
static void test_zip_cut_delivers(void **state)
{
	struct scan_archive_result res;
	struct arch_members g;
	struct zw z;
	uint8_t blk[5 + 40];

	/* one non-final stored block of 40 bytes, then nothing */
	memcpy(blk, "\x00\x28\x00\xd7\xff", 5);
	memset(blk + 5, 'Q', 40);
	memset(&z, 0, sizeof(z));
	zw_add(&z, "cut", 9, 0, blk, sizeof(blk), 0, 80, false);
	zw_end(&z);
	members_expand((uint8_t *)z.f.p, z.f.n, "t.zip", NULL, &g, &res);
	assert_int_equal(g.begins, 1);
	assert_int_equal(g.m[0].data.n, 40);
	assert_true(g.m[0].flags & SCAN_AMF_CORRUPT);
	members_free(&g);
	sbuf_free(&z.f);
}

/* Every cut and a few flipped bytes: a result, never a crash. */
static void test_zip_damage(void **state)
{
	struct scan_archive_result res;
	struct arch_members g;
	struct zw z;
	struct sbuf s, e;
	uint8_t *buf;

	memset(&z, 0, sizeof(z));
	implode_sample(true, false, &s, &e);
	zw_add(&z, "i", 6, 4, s.p, s.n, crc(e.p, e.n), (uint32_t)e.n, false);
	zw_add(&z, "d", 9, 0, "\x03\x00", 2, 0, 0, false);
	zw_end(&z);
	sbuf_free(&s);
	sbuf_free(&e);
	buf = malloc(z.f.n);
	assert_non_null(buf);
	for (size_t k = 0; k < z.f.n; k++) {
		memcpy(buf, z.f.p, k);
		members_expand(buf, k, "t.zip", NULL, &g, &res);
		members_free(&g);
	}
	for (size_t k = 0; k < z.f.n; k++) {
		memcpy(buf, z.f.p, z.f.n);
		buf[k] ^= 0x5a;
		members_expand(buf, z.f.n, "t.zip", NULL, &g, &res);
		if (res.flags & SCAN_ARF_CORRUPT)
			assert_non_null(res.error);
		members_free(&g);
	}
	free(buf);
	sbuf_free(&z.f);
}

/* ---- ClamAV's test files (XOR-obfuscated in the corpus) ---- */

static void test_corpus(void **state)
{
	static const char *const files[] = { "clam.impl.zip", "clam.d64.zip" };
	struct scan_archive_result res;
	struct stat st;
	struct arch_members g;
	uint8_t *exe = NULL;
	size_t exen = 0;

	if (stat(CLAMAV_XOR_DIR "/clam.exe.xor", &st) != 0) {
		print_message("corpus not present: skipped\n");
		skip();
	}
	exe = load_clamav_xor("clam.exe", &exen);
	assert_non_null(exe);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		uint8_t *buf;
		size_t len;

		buf = load_clamav_xor(files[i], &len);
		assert_non_null(buf);
		assert_true(scan_archive_sniff(buf, len));
		members_expand(buf, len, "t.zip", NULL, &g, &res);
		assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
		assert_string_equal(res.format, "zipx");
		assert_int_equal(g.begins, 1);
		assert_int_equal(g.m[0].data.n, exen);
		assert_memory_equal(g.m[0].data.p, exe, exen);
		members_free(&g);
		free(buf);
	}
	free(exe);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inflate_zlib),
		cmocka_unit_test(test_inflate_errors),
		cmocka_unit_test(test_inflate_deflate64),
		cmocka_unit_test(test_explode),
		cmocka_unit_test(test_explode_trees),
		cmocka_unit_test(test_zip_mixed),
		cmocka_unit_test(test_zip_no_directory),
		cmocka_unit_test(test_zip_prepended),
		cmocka_unit_test(test_zip_checks),
		cmocka_unit_test(test_zip_plain_not_ours),
		cmocka_unit_test(test_zip_limits),
		cmocka_unit_test(test_zip_damage),
		cmocka_unit_test(test_zip_shared_data),
		cmocka_unit_test(test_zip_cut_delivers),
		cmocka_unit_test(test_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
