/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_chm.c - Compiled HTML Help (ITSF) through scan_archive_expand():
 * a help file built here with section-0 (stored) files, the member order
 * (user files first, then system files; directories and ::DataSpace not
 * delivered), the LZX section with hand-made streams (stored blocks across
 * frames and reset points, E8 translation, a verbatim and an aligned
 * block with every kind of match), every malformed input with its error,
 * every truncation, a member limit, and clam.chm from the ClamAV corpus
 * when it is present.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "scan_archive.h"
#include "scan_test.h"

#define CS 0x400        /* directory chunk size */

/* ---- building a help file ---- */

struct ent {
	const char *name;
	unsigned sec;
	uint64_t off, len;
};

static size_t encint(uint8_t *o, uint64_t v)
{
	uint8_t t[10];
	size_t k = 0, n = 0;

	do {
		t[k++] = v & 0x7f;
		v >>= 7;
	} while (v != 0);
	while (k-- > 0)
		o[n++] = (uint8_t)(t[k] | (k > 0 ? 0x80 : 0));
	return n;
}

#define DIR_OFF 0x78
#define DIR_LEN (0x54 + CS)
#define SEC0 (DIR_OFF + DIR_LEN)

/* ITSF version 3 with one listing chunk of |ents| and section 0 |sec0|. */
static size_t build(uint8_t *out, const struct ent *ents, size_t nents, const uint8_t *sec0,
		    size_t sec0len)
{
	uint8_t *ch = out + DIR_OFF + 0x54;
	size_t e = 0x14;

	memset(out, 0, SEC0);
	memcpy(out, "ITSF", 4);
	put_le32(out + 4, 3);
	put_le32(out + 8, 0x60);
	put_le32(out + 12, 1);
	put_le64(out + 0x38, 0x60);
	put_le64(out + 0x40, 0x18);
	put_le64(out + 0x48, DIR_OFF);
	put_le64(out + 0x50, DIR_LEN);
	put_le64(out + 0x58, SEC0);
	put_le32(out + 0x60, 0x1fe);
	put_le64(out + 0x68, SEC0 + sec0len);
	memcpy(out + DIR_OFF, "ITSP", 4);
	put_le32(out + DIR_OFF + 4, 1);
	put_le32(out + DIR_OFF + 8, 0x54);
	put_le32(out + DIR_OFF + 12, 10);
	put_le32(out + DIR_OFF + 0x10, CS);
	put_le32(out + DIR_OFF + 0x14, 2);
	put_le32(out + DIR_OFF + 0x18, 1);
	put_le32(out + DIR_OFF + 0x1c, 0xffffffff);
	put_le32(out + DIR_OFF + 0x28, 0xffffffff);
	put_le32(out + DIR_OFF + 0x2c, 1);
	put_le32(out + DIR_OFF + 0x44, 0x54);
	memcpy(ch, "PMGL", 4);
	put_le32(ch + 12, 0xffffffff);
	put_le32(ch + 16, 0xffffffff);
	for (size_t i = 0; i < nents; i++) {
		size_t l = strlen(ents[i].name);

		e += encint(ch + e, l);
		memcpy(ch + e, ents[i].name, l);
		e += l;
		e += encint(ch + e, ents[i].sec);
		e += encint(ch + e, ents[i].off);
		e += encint(ch + e, ents[i].len);
		assert_true(e < CS);
	}
	put_le32(ch + 4, (uint32_t)(CS - e));
	memcpy(out + SEC0, sec0, sec0len);
	return SEC0 + sec0len;
}

/* ---- section 0 ---- */

static const struct ent plain_ents[] = {
	{ "/", 0, 0, 0 },
	{ "/#SYSTEM", 0, 0, 4 },
	{ "/$OBJINST", 0, 4, 0 },
	{ "/dir/", 0, 0, 0 },
	{ "/dir/b.htm", 0, 10, 6 },
	{ "/a.txt", 0, 4, 6 },
	{ "::DataSpace/NameList", 0, 0, 16 },
};
static const char plain_sec0[16] = "sys!hello <b/>";

static size_t plain(uint8_t *buf)
{
	return build(buf, plain_ents, sizeof(plain_ents) / sizeof(plain_ents[0]),
		     (const uint8_t *)plain_sec0, 16);
}

static void test_chm_section0(void **state)
{
	struct scan_archive_result res;
	static uint8_t buf[4096];
	struct arch_members g;
	size_t n = plain(buf);

	assert_true(scan_archive_sniff(buf, n));
	members_expand(buf, n, "help.chm", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_string_equal(res.format, "chm");
	assert_null(res.error);
	/* user files in offset order, then system files with data */
	assert_int_equal(g.ends, 3);
	assert_true(members_is(&g, 0, "a.txt", "hello ", 6));
	assert_true(members_is(&g, 1, "dir/b.htm", "<b/>\0\0", 6));
	assert_true(members_is(&g, 2, "#SYSTEM", "sys!", 4));
	members_free(&g);
}

static void test_chm_sniff(void **state)
{
	static uint8_t buf[4096];
	size_t n = plain(buf);

	assert_true(scan_archive_sniff(buf, 12));
	put_le32(buf + 4, 2);
	assert_true(scan_archive_sniff(buf, n));
	put_le32(buf + 4, 4);
	assert_false(scan_archive_sniff(buf, n));
	put_le32(buf + 4, 3);
	put_le32(buf + 8, 0x10);
	assert_false(scan_archive_sniff(buf, n));
	put_le32(buf + 8, 0x60);
	buf[0] = 'X';
	assert_false(scan_archive_sniff(buf, n));
	assert_false(scan_archive_sniff((const uint8_t *)"ITSF", 4));
}

/* ---- LZX streams ---- */

/* Bits into 16-bit little-endian words, most significant first. */
struct bw {
	uint8_t p[200000];
	size_t n;
	uint32_t acc;
	unsigned nb;
};

static void bits(struct bw *w, uint32_t v, unsigned n)
{
	while (n-- > 0) {
		w->acc = w->acc << 1 | ((v >> n) & 1);
		if (++w->nb == 16) {
			w->p[w->n++] = (uint8_t)w->acc;
			w->p[w->n++] = (uint8_t)(w->acc >> 8);
			w->acc = 0;
			w->nb = 0;
		}
	}
}

static void bytes(struct bw *w, const void *d, size_t n)
{
	assert_int_equal(w->nb, 0);
	memcpy(w->p + w->n, d, n);
	w->n += n;
}

/* A stored block of |d| (R0-R2 = 1). */
static void stored(struct bw *w, const uint8_t *d, uint32_t n)
{
	uint8_t r[12] = { 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0 };

	bits(w, 3, 3);
	bits(w, n >> 8, 16);
	bits(w, n & 0xff, 8);
	bits(w, 0, w->nb ? 16 - w->nb : 16);  /* 1-16 bits of padding */
	bytes(w, r, 12);
	bytes(w, d, n);
	if (n & 1)
		bytes(w, "", 1);
}

static void align16(struct bw *w)
{
	if (w->nb)
		bits(w, 0, 16 - w->nb);
}

/* The LZX parameters and the compressed section: ControlData, ResetTable
 * (|nframes| frame offsets) and Content, then the entries of |files|. */
static size_t build_lzx(uint8_t *out, const struct bw *w, uint32_t ri, uint32_t ws,
			const uint64_t *frames, unsigned nframes, uint64_t length,
			const struct ent *files, size_t nfiles)
{
	static uint8_t sec0[250000];
	struct ent ents[12];
	size_t k = 0, s = 0;

	assert_true(nfiles + 3 <= 12);
	memset(sec0, 0, 0x28 + 8 * nframes + 28);
	/* ControlData */
	put_le32(sec0, 6);
	memcpy(sec0 + 4, "LZXC", 4);
	put_le32(sec0 + 8, 2);
	put_le32(sec0 + 12, ri);
	put_le32(sec0 + 16, ws);
	put_le32(sec0 + 20, 1);
	ents[k++] = (struct ent){ "::DataSpace/Storage/MSCompressed/ControlData", 0, 0, 28 };
	s = 28;
	/* ResetTable */
	put_le32(sec0 + s, 2);
	put_le32(sec0 + s + 4, nframes);
	put_le32(sec0 + s + 8, 8);
	put_le32(sec0 + s + 12, 0x28);
	put_le64(sec0 + s + 16, length);
	put_le64(sec0 + s + 24, w->n);
	put_le64(sec0 + s + 32, 0x8000);
	for (unsigned i = 0; i < nframes; i++)
		put_le64(sec0 + s + 0x28 + 8 * i, frames[i]);
	ents[k++] = (struct ent){ "::DataSpace/Storage/MSCompressed/Transform/"
				  "{7FC28940-9D31-11D0-9B27-00A0C91E9C7C}/InstanceData/ResetTable",
				  0, s, 0x28 + 8 * nframes };
	s += 0x28 + 8 * nframes;
	memcpy(sec0 + s, w->p, w->n);
	ents[k++] = (struct ent){ "::DataSpace/Storage/MSCompressed/Content", 0, s, w->n };
	s += w->n;
	for (size_t i = 0; i < nfiles; i++)
		ents[k++] = files[i];
	return build(out, ents, k, sec0, s);
}

/* 40000 bytes: frame 0 (32768) and frame 1 (7232), a reset between them
 * (interval 1 frame), E8 translation on in frame 0. */
static uint8_t big[40000];
static struct bw bwbuf;

static size_t stored_sample(uint8_t *out, bool e8, const struct ent *files, size_t nfiles)
{
	struct bw *w = &bwbuf;
	uint64_t frames[2];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + (i >> 8));
	for (size_t i = 0; i < sizeof(big); i++)
		if (big[i] == 0xe8) /* no CALL but the one below */
			big[i] = 0xe9;
	big[100] = 0xe8;  /* CALL to absolute 0x200: relative 0x200 - 100 */
	put_le32(big + 101, 0x200);
	memset(w, 0, sizeof(*w));
	frames[0] = 0;
	bits(w, e8, 1);
	if (e8) {
		bits(w, 0x0001, 16);  /* "file size" 0x10000 */
		bits(w, 0x0000, 16);
	}
	stored(w, big, 1001);     /* odd: a pad byte follows */
	stored(w, big + 1001, 32768 - 1001);
	align16(w);
	frames[1] = w->n;
	bits(w, 0, 1);
	stored(w, big + 32768, sizeof(big) - 32768);
	return build_lzx(out, w, 1, 1, frames, 2, sizeof(big), files, nfiles);
}

static const struct ent stored_files[] = {
	{ "/late.bin", 1, 32760, 20 },     /* across the reset */
	{ "/whole.bin", 1, 0, 40000 },
	{ "/#STRINGS", 1, 95, 10 },        /* back to frame 0 */
	{ "/$x", 1, 39990, 10 },
};

static void test_chm_lzx_stored(void **state)
{
	struct scan_archive_result res;
	static uint8_t buf[100000];
	static uint8_t want[40000];
	struct arch_members g;
	size_t n;

	/* without translation: the bytes as stored */
	n = stored_sample(buf, false, stored_files, 4);
	members_expand(buf, n, "help.chm", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_null(res.error);
	assert_int_equal(g.ends, 4);
	assert_true(members_is(&g, 0, "whole.bin", big, sizeof(big)));
	assert_true(members_is(&g, 1, "late.bin", big + 32760, 20));
	assert_true(members_is(&g, 2, "#STRINGS", big + 95, 10));
	assert_true(members_is(&g, 3, "$x", big + 39990, 10));
	members_free(&g);
	/* with it: the CALL's absolute 0x200 at 100 turns relative */
	n = stored_sample(buf, true, stored_files, 4);
	memcpy(want, big, sizeof(want));
	put_le32(want + 101, 0x200 - 100);
	members_expand(buf, n, "help.chm", NULL, &g, &res);
	assert_null(res.error);
	assert_true(members_is(&g, 0, "whole.bin", want, sizeof(want)));
	assert_true(members_is(&g, 2, "#STRINGS", want + 95, 10));
	members_free(&g);
}

/* Canonical codes of |n| lengths (shorter first, then by symbol). */
static void canon(const uint8_t *len, unsigned n, uint32_t *code)
{
	uint32_t next[18] = { 0 }, count[18] = { 0 }, c = 0;

	for (unsigned s = 0; s < n; s++)
		count[len[s]]++;
	count[0] = 0;
	for (unsigned l = 1; l <= 16; l++) {
		c = (c + count[l - 1]) << 1;
		next[l] = c;
	}
	for (unsigned s = 0; s < n; s++)
		if (len[s] != 0)
			code[s] = next[len[s]]++;
}

static void sym(struct bw *w, const uint8_t *len, const uint32_t *code, unsigned s)
{
	assert_true(len[s] != 0);
	bits(w, code[s], len[s]);
}

/* Lengths |first|..|last|-1 of |now| as deltas from |prev| through a
 * complete pretree (symbols 0-11: 4 bits, 12-19: 5 bits); runs of 4 or
 * more zeros as 17 or 18. */
static void lens(struct bw *w, const uint8_t *prev, const uint8_t *now, unsigned first,
		 unsigned last)
{
	uint8_t pl[20];
	uint32_t pc[20];
	unsigned x = first;

	for (unsigned i = 0; i < 20; i++) {
		pl[i] = i < 12 ? 4 : 5;
		bits(w, pl[i], 4);
	}
	canon(pl, 20, pc);
	while (x < last) {
		unsigned run = 0;

		while (x + run < last && now[x + run] == 0 && run < 51)
			run++;
		if (run >= 20) {
			sym(w, pl, pc, 18);
			bits(w, run - 20, 5);
			x += run;
		} else if (run >= 4) {
			sym(w, pl, pc, 17);
			bits(w, run - 4, 4);
			x += run;
		} else {
			sym(w, pl, pc, (prev[x] + 17u - now[x]) % 17);
			x++;
		}
	}
}

#define MAIN_SYMS (256 + 30 * 8)  /* 32 KiB window: 30 position slots */

/* The main and length trees of a block. */
static void trees(struct bw *w, uint8_t *mprev, const uint8_t *mlen, uint8_t *lprev,
		  const uint8_t *llen)
{
	lens(w, mprev, mlen, 0, 256);
	lens(w, mprev, mlen, 256, MAIN_SYMS);
	lens(w, lprev, llen, 0, 249);
	memcpy(mprev, mlen, MAIN_SYMS);
	memcpy(lprev, llen, 249);
}

/* A verbatim block, "ab" + R0 (1) x3 + "c" + slot 4 offset 3 x9 + R1 x3
 * = "abbbbcbbcbbcbbcccc", then an aligned block, "x" + slot 8 (offset 14
 * + aligned symbol 5 = 19) x4 + "y" + R2 (3, moved there from R0 by the
 * R1 match and the slot 8 match) x3 = "xabbbybby". */
static const char coded_out[] = "abbbbcbbcbbcbbccccxabbbybby";

static size_t coded_sample(uint8_t *out, const struct ent *files, size_t nfiles)
{
	static uint8_t mprev[MAIN_SYMS], mlen[MAIN_SYMS], lprev[249], llen[249];
	static uint32_t mc[MAIN_SYMS], lc[249], ac[8];
	static const uint8_t al[8] = { 3, 3, 3, 3, 3, 3, 3, 3 };
	struct bw *w = &bwbuf;
	uint64_t frame0 = 0;

	memset(w, 0, sizeof(*w));
	memset(mprev, 0, sizeof(mprev));
	memset(lprev, 0, sizeof(lprev));
	bits(w, 0, 1);                  /* no E8 translation */
	/* verbatim: literals 9 bits, 257 (R0, length 3) 2 bits, 265 (R1,
	 * length 3) and 295 (slot 4, length 7 + length symbol) 3 bits */
	memset(mlen, 0, sizeof(mlen));
	memset(mlen, 9, 256);
	mlen[257] = 2;
	mlen[265] = 3;
	mlen[295] = 3;
	memset(llen, 0, sizeof(llen));
	llen[0] = llen[5] = 1;
	bits(w, 1, 3);
	bits(w, 0, 16);
	bits(w, 18, 8);
	trees(w, mprev, mlen, lprev, llen);
	canon(mlen, MAIN_SYMS, mc);
	canon(llen, 249, lc);
	sym(w, mlen, mc, 'a');
	sym(w, mlen, mc, 'b');
	sym(w, mlen, mc, 257);          /* R0 = 1, length 3 */
	sym(w, mlen, mc, 'c');
	sym(w, mlen, mc, 295);          /* slot 4: base 4 - 2 + 1 bit */
	sym(w, llen, lc, 0);            /* length 7 + 0 + 2 = 9 */
	bits(w, 1, 1);                  /* offset 3 */
	sym(w, mlen, mc, 265);          /* R1 (1), length 3 */
	/* aligned: slot 8 (3 extra bits, all from the aligned tree) */
	mlen[295] = 4;
	mlen[265] = 4;
	mlen[256 + 64 + 2] = 4;
	mlen[256 + 16 + 1] = 4;
	bits(w, 2, 3);
	bits(w, 0, 16);
	bits(w, 9, 8);
	for (unsigned i = 0; i < 8; i++)
		bits(w, al[i], 3);
	trees(w, mprev, mlen, lprev, llen);
	canon(mlen, MAIN_SYMS, mc);
	canon(al, 8, ac);
	sym(w, mlen, mc, 'x');
	sym(w, mlen, mc, 256 + 64 + 2); /* slot 8, length 4 */
	sym(w, al, ac, 5);              /* offset 16 - 2 + 5 = 19 */
	sym(w, mlen, mc, 'y');
	sym(w, mlen, mc, 256 + 16 + 1); /* R2, length 3 */
	align16(w);
	return build_lzx(out, w, 2, 1, &frame0, 1, 27, files, nfiles);
}

static void test_chm_lzx_coded(void **state)
{
	static const struct ent files[] = {
		{ "/v.txt", 1, 0, 27 },
		{ "/w.txt", 1, 18, 5 },
	};
	struct scan_archive_result res;
	static uint8_t buf[100000];
	struct arch_members g;
	size_t n = coded_sample(buf, files, 2);

	members_expand(buf, n, "help.chm", NULL, &g, &res);
	assert_null(res.error);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_int_equal(g.ends, 2);
	assert_true(members_is(&g, 0, "v.txt", coded_out, 27));
	assert_true(members_is(&g, 1, "w.txt", "xabbb", 5));
	members_free(&g);
	/* every truncation of the compressed stream: an error, never more */
	for (size_t cut = 0; cut + 1 < bwbuf.n; cut++) {
		struct bw save = bwbuf;

		bwbuf.n = cut;
		n = build_lzx(buf, &bwbuf, 2, 1, (const uint64_t[]){ 0 }, 1, 27, files, 1);
		bwbuf = save;
		members_expand(buf, n, "help.chm", NULL, &g, &res);
		assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
		assert_non_null(res.error);
		assert_true(g.ends == 1 && g.m[0].data.n == 0);
		members_free(&g);
	}
}

/* One verbatim block across two frames (32 KiB window, so the second
 * wraps it): "a" + 128 R0 matches (127 of 257 bytes, one of 128) fill
 * frame 0, the bitstream is realigned, then "bcdefghi" in frame 1. */
static void test_chm_lzx_frames(void **state)
{
	static const struct ent files[] = { { "/f.txt", 1, 32764, 12 }, { "/g.txt", 1, 0, 32768 } };
	static uint8_t mprev[MAIN_SYMS], mlen[MAIN_SYMS], lprev[249], llen[249];
	static uint32_t mc[MAIN_SYMS], lc[249];
	static uint8_t buf[100000], as[32768];
	struct scan_archive_result res;
	struct bw *w = &bwbuf;
	uint64_t frame0 = 0;
	struct arch_members g;
	size_t n;

	memset(w, 0, sizeof(*w));
	memset(mprev, 0, sizeof(mprev));
	memset(lprev, 0, sizeof(lprev));
	memset(mlen, 0, sizeof(mlen));
	memset(mlen, 9, 256);
	mlen[256 + 7] = 1;              /* R0, length 7 + length symbol + 2 */
	memset(llen, 0, sizeof(llen));
	llen[248] = llen[119] = 1;      /* 257 and 128 */
	bits(w, 0, 1);
	bits(w, 1, 3);
	bits(w, (32768 + 8) >> 8, 16);
	bits(w, (32768 + 8) & 0xff, 8);
	trees(w, mprev, mlen, lprev, llen);
	canon(mlen, MAIN_SYMS, mc);
	canon(llen, 249, lc);
	sym(w, mlen, mc, 'a');
	for (int i = 0; i < 128; i++) {
		sym(w, mlen, mc, 256 + 7);
		sym(w, llen, lc, i < 127 ? 248 : 119);
	}
	assert_int_not_equal(w->nb, 0); /* the realignment matters */
	align16(w);
	for (char c = 'b'; c <= 'i'; c++)
		sym(w, mlen, mc, (unsigned)c);
	align16(w);
	n = build_lzx(buf, w, 2, 1, &frame0, 1, 32768 + 8, files, 2);
	members_expand(buf, n, "help.chm", NULL, &g, &res);
	assert_null(res.error);
	memset(as, 'a', sizeof(as));
	assert_true(members_is(&g, 0, "g.txt", as, sizeof(as)));
	assert_true(members_is(&g, 1, "f.txt", "aaaabcdefghi", 12));
	members_free(&g);
}

/* Every frame reset to the start of the section (a reset table of
 * zeros), which opens with 8000 empty stored blocks: each frame reads
 * them all again for its 32 KiB. The input a frame reads counts against
 * the LZX work limit, so this stops after about a hundred frames instead
 * of reading the section 200 times. */
static void test_chm_lzx_rereads(void **state)
{
	static const struct ent files[] = { { "/all.bin", 1, 0, 200 * 32768ull } };
	static uint64_t frames[200];
	static uint8_t buf[262144];
	struct scan_archive_result res;
	struct bw *w = &bwbuf;
	struct arch_members g;
	size_t n;

	memset(w, 0, sizeof(*w));
	memset(big, 'x', sizeof(big));
	bits(w, 0, 1);
	for (int k = 0; k < 8000; k++)
		stored(w, big, 0);
	stored(w, big, 32768);
	align16(w);
	memset(frames, 0, sizeof(frames));
	n = build_lzx(buf, w, 1, 1, frames, 200, 200 * 32768ull, files, 1);
	assert_true(n <= sizeof(buf));
	members_expand(buf, n, "help.chm", NULL, &g, &res);
	assert_non_null(res.error);
	assert_string_equal(res.error, "chm: LZX work limit");
	assert_true(g.bytes < 150 * 32768ull);
	members_free(&g);
}

/* ---- malformed input ---- */

static void check_error(const uint8_t *p, size_t n, const char *err, unsigned members)
{
	struct scan_archive_result res;
	struct arch_members g;

	members_expand(p, n, "help.chm", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_non_null(res.error);
	assert_string_equal(res.error, err);
	assert_int_equal(g.ends, members);
	members_free(&g);
}

static void test_chm_malformed(void **state)
{
	static uint8_t buf[100000];
	struct ent e[2];
	size_t n;

	n = plain(buf);
	check_error(buf, 0x50, "chm: truncated header", 0);
	put_le64(buf + 0x50, 0x100000);
	check_error(buf, n, "chm: directory beyond the end of the input", 0);
	n = plain(buf);
	buf[DIR_OFF] = 'X';
	check_error(buf, n, "chm: bad directory header", 0);
	n = plain(buf);
	put_le32(buf + DIR_OFF + 0x10, 4);
	check_error(buf, n, "chm: bad directory header", 0);
	n = plain(buf);
	put_le32(buf + DIR_OFF + 0x54 + 4, CS);
	check_error(buf, n, "chm: bad listing chunk", 0);
	/* a name running past the chunk's entries */
	n = plain(buf);
	buf[DIR_OFF + 0x54 + 0x14] = 0x7f;
	put_le32(buf + DIR_OFF + 0x54 + 4, CS - 0x40);
	check_error(buf, n, "chm: bad directory entry", 0);
	/* an ENCINT of ten bytes */
	n = plain(buf);
	memset(buf + DIR_OFF + 0x54 + 0x14, 0x81, 10);
	check_error(buf, n, "chm: bad directory entry", 0);
	/* a file past the end: what there is, flagged */
	e[0] = (struct ent){ "/a.txt", 0, 2, 1000 };
	n = build(buf, e, 1, (const uint8_t *)"0123456789", 10);
	check_error(buf, n, "chm: file beyond the end of the input", 1);
	e[0] = (struct ent){ "/a.txt", 2, 0, 4 };
	e[1] = (struct ent){ "/b.txt", 0, 0, 4 };
	n = build(buf, e, 2, (const uint8_t *)"0123456789", 10);
	check_error(buf, n, "chm: unknown content section", 1);
	/* a compressed file without the LZX storage */
	e[0] = (struct ent){ "/a.txt", 1, 0, 4 };
	n = build(buf, e, 1, (const uint8_t *)"0123456789", 10);
	check_error(buf, n, "chm: no usable compressed section", 0);
	/* LZX parameters */
	e[0] = (struct ent){ "/a.txt", 1, 0, 27 };
	n = coded_sample(buf, e, 1);
	memcpy(buf + SEC0 + 4, "LZXD", 4);
	check_error(buf, n, "chm: bad LZX control data", 0);
	n = coded_sample(buf, e, 1);
	put_le32(buf + SEC0 + 16, 3);      /* a 96 KiB window */
	check_error(buf, n, "chm: bad LZX control data", 0);
	n = coded_sample(buf, e, 1);
	put_le32(buf + SEC0 + 28 + 8, 4);  /* entry size */
	check_error(buf, n, "chm: bad reset table", 0);
	e[0] = (struct ent){ "/a.txt", 1, 25, 4 };
	n = coded_sample(buf, e, 1);
	check_error(buf, n, "chm: file beyond the compressed section", 1);
	/* a block of type 0 (the block type follows the E8 bit) */
	e[0] = (struct ent){ "/a.txt", 1, 0, 27 };
	n = coded_sample(buf, e, 1);
	buf[SEC0 + 28 + 0x30 + 1] &= 0x80 | 0x0f;
	check_error(buf, n, "lzx: bad block type", 1);
}

/* Every prefix of a valid file: never a crash, a result every time. */
static void test_chm_truncations(void **state)
{
	static uint8_t buf[100000];
	static const struct ent files[] = { { "/v.txt", 1, 0, 27 } };
	size_t n = coded_sample(buf, files, 1);

	for (size_t k = 0; k <= n; k++) {
		struct scan_archive_result res;
		struct arch_members g;

		members_expand(buf, k, "help.chm", NULL, &g, &res);
		assert_true(g.ends <= 1);
		if (k < n && k >= 12)
			assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
		members_free(&g);
	}
}

/* A 40000-byte member cut by the member limit. */
static void test_chm_member_limit(void **state)
{
	static const struct ent files[] = { { "/whole.bin", 1, 0, 40000 } };
	struct scan_archive_limits lim;
	static uint8_t buf[100000];
	size_t n = stored_sample(buf, false, files, 1);

	scan_archive_limits_default(&lim);
	lim.max_member_bytes = 1000;
	members_cut(buf, n, "help.chm", &lim);
}

/* ---- the ClamAV sample (XOR-encoded in the corpus) ---- */

static void test_chm_corpus(void **state)
{
	struct scan_archive_result res;
	uint8_t *chm, *exe;
	size_t n, ne;
	struct arch_members g;

	chm = load_clamav_xor("clam.chm", &n);
	exe = load_clamav_xor("clam.exe", &ne);
	if (chm == NULL || exe == NULL) {
		free(chm);
		free(exe);
		print_message("SKIP: %s absent\n", CLAMAV_XOR_DIR);
		skip();
	}
	members_expand(chm, n, "help.chm", NULL, &g, &res);
	assert_null(res.error);
	assert_int_equal(g.ends, 13);
	/* clam.exe.txt: LZX (verbatim or aligned blocks) at offset 651 */
	assert_true(members_is(&g, 0, "clam.exe.txt", exe, ne));
	assert_string_equal(g.m[1].name, "clam.chm.hhc");
	assert_true(g.m[1].data.n == 444 && memcmp(g.m[1].data.p, "<!DOCTYPE", 9) == 0);
	assert_string_equal(g.m[3].name, "#SYSTEM");
	members_free(&g);
	free(chm);
	free(exe);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chm_section0),
		cmocka_unit_test(test_chm_sniff),
		cmocka_unit_test(test_chm_lzx_stored),
		cmocka_unit_test(test_chm_lzx_coded),
		cmocka_unit_test(test_chm_lzx_frames),
		cmocka_unit_test(test_chm_lzx_rereads),
		cmocka_unit_test(test_chm_malformed),
		cmocka_unit_test(test_chm_truncations),
		cmocka_unit_test(test_chm_member_limit),
		cmocka_unit_test(test_chm_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
