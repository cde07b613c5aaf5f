/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_binhex.c - BinHex 4.0 through scan_archive_expand(): files
 * made by a small encoder here (runs, a literal 0x90, both forks, line
 * breaks), as a MIME text body through a session, every malformed input
 * with its precise error, every truncation, and the member limit against
 * a file of runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan.h"
#include "scan_archive.h"
#include "scan_test.h"

static const char alpha[] =
	"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";

/* ---- encoder ---- */

struct enc {
	struct sbuf raw;   /* the 8-bit stream before run-length encoding */
	uint16_t crc;
};

static void crc_add(uint16_t *crc, uint8_t b)
{
	*crc ^= (uint16_t)(b << 8);
	for (int k = 0; k < 8; k++)
		*crc = (*crc & 0x8000) ? (uint16_t)(*crc << 1 ^ 0x1021) : (uint16_t)(*crc << 1);
}

static void put(struct enc *e, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		crc_add(&e->crc, ((const uint8_t *)p)[i]);
	sbuf_add(&e->raw, p, n);
}

static void put_crc(struct enc *e)
{
	uint8_t c[2] = { (uint8_t)(e->crc >> 8), (uint8_t)e->crc };

	sbuf_add(&e->raw, c, 2);
	e->crc = 0;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Run-length encodes |in| (runs of 3 or more, 0x90 escaped) and writes the
 * text form, 64 characters per line. */
static void to_text(const uint8_t *in, size_t n, struct sbuf *out)
{
	struct sbuf rle = { 0 };
	uint32_t acc = 0;
	unsigned bits = 0, col = 1;

	for (size_t i = 0; i < n;) {
		size_t r = 1;

		while (i + r < n && in[i + r] == in[i] && r < 255)
			r++;
		sbuf_add(&rle, &in[i], 1);
		if (in[i] == 0x90)
			sbuf_add(&rle, "\0", 1);
		if (r >= 3) {
			uint8_t run[2] = { 0x90, (uint8_t)r };

			sbuf_add(&rle, run, 2);
			i += r;
		} else {
			i++;
		}
	}
	sbuf_printf(out, "(This file must be converted with BinHex 4.0)\r\n:");
	for (size_t i = 0; i <= rle.n; i++) {
		if (i < rle.n) {
			acc = acc << 8 | (uint8_t)rle.p[i];
			bits += 8;
		} else if (bits % 6) {
			acc <<= 6 - bits % 6; /* pad the last sextet */
			bits += 6 - bits % 6;
		}
		while (bits >= 6) {
			bits -= 6;
			sbuf_add(out, &alpha[acc >> bits & 0x3f], 1);
			if (++col == 64) {
				sbuf_printf(out, "\r\n");
				col = 0;
			}
		}
	}
	sbuf_printf(out, ":\r\n");
	sbuf_free(&rle);
}

/* A whole file: |name|, data fork |d|, resource fork |r|. */
static void binhex(const char *name, const void *d, size_t dn, const void *r, size_t rn,
		   struct sbuf *out)
{
	struct enc e = { 0 };
	uint8_t nl = (uint8_t)strlen(name), hdr[19] = { 0 };

	put(&e, &nl, 1);
	put(&e, name, nl);
	memcpy(hdr + 1, "TEXTMSWD", 8);
	be32(hdr + 11, (uint32_t)dn);
	be32(hdr + 15, (uint32_t)rn);
	put(&e, hdr, sizeof(hdr));
	put_crc(&e);
	put(&e, d, dn);
	put_crc(&e);
	put(&e, r, rn);
	put_crc(&e);
	to_text((const uint8_t *)e.raw.p, e.raw.n, out);
	sbuf_free(&e.raw);
}

/* ---- expansion ---- */

static const char text[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			   "\x90\x90\x90 then words, bb, ccc \x90 end";

static void test_binhex_forks(void **state)
{
	struct scan_archive_result res;
	struct sbuf f = { 0 };
	struct arch_members g;

	binhex("report.doc", text, sizeof(text) - 1, "rsrc", 4, &f);
	assert_true(scan_archive_sniff((const uint8_t *)f.p, f.n));
	members_expand(f.p, f.n, "file.hqx", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_null(res.error);
	assert_string_equal(res.format, "binhex");
	assert_int_equal(g.begins, 2);
	assert_string_equal(g.m[0].name, "report.doc");
	assert_string_equal(g.m[1].name, "report.doc.rsrc");
	assert_int_equal(g.m[0].data.n, sizeof(text) - 1);
	assert_memory_equal(g.m[0].data.p, text, sizeof(text) - 1);
	assert_int_equal(g.m[1].data.n, 4);
	assert_memory_equal(g.m[1].data.p, "rsrc", 4);
	members_free(&g);
	sbuf_free(&f);
	/* without a resource fork: one member */
	binhex("a.txt", "hello", 5, "", 0, &f);
	members_expand(f.p, f.n, "file.hqx", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_int_equal(g.begins, 1);
	members_free(&g);
	sbuf_free(&f);
}

static void check_error(const void *p, size_t n, const char *err)
{
	struct scan_archive_result res;
	struct arch_members g;

	members_expand(p, n, "file.hqx", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_non_null(res.error);
	assert_string_equal(res.error, err);
	members_free(&g);
}

static void test_binhex_malformed(void **state)
{
	static const char nostart[] = "(This file must be converted with BinHex 4.0)\r\nno colon\r\n";
	static const char junk[] = "(This file must be converted with BinHex 4.0)\r\n:~!!!:\r\n";
	static const char hdr0[] = "(This file must be converted with BinHex 4.0)\r\n:!!!!:\r\n";
	/* 0x90 0x05 first: a run of nothing */
	static const char run[] = "(This file must be converted with BinHex 4.0)\r\n:N!8:\r\n";
	struct sbuf f = { 0 };

	check_error(nostart, sizeof(nostart) - 1, "binhex: no data start");
	check_error(junk, sizeof(junk) - 1, "binhex: invalid character");
	check_error(hdr0, sizeof(hdr0) - 1, "binhex: bad name length");
	check_error(run, sizeof(run) - 1, "binhex: run before any byte");
	/* a changed data byte: the fork CRC no longer matches */
	binhex("a.txt", "hello world", 11, "", 0, &f);
	{
		struct scan_archive_result res;
		struct arch_members g;
		char *t = memmem(f.p, f.n, ":", 1);
		/* name length, "a.txt", 19 header bytes and the CRC are 27
		 * bytes, 36 characters: character 40 is inside the data fork */
		size_t off = (size_t)(t - f.p) + 1 + 40;

		f.p[off] = f.p[off] == 'A' ? 'B' : 'A';
		members_expand(f.p, f.n, "file.hqx", NULL, &g, &res);
		assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
		assert_string_equal(res.error, "binhex: fork CRC mismatch");
		assert_int_equal(g.begins, 1); /* still delivered and scanned */
		members_free(&g);
	}
	sbuf_free(&f);
	/* the header CRC */
	binhex("a.txt", "hello", 5, "", 0, &f);
	f.p[50] = f.p[50] == 'B' ? 'C' : 'B'; /* inside the name */
	{
		struct scan_archive_result res;
		struct arch_members g;

		members_expand(f.p, f.n, "file.hqx", NULL, &g, &res);
		assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
		assert_string_equal(res.error, "binhex: header CRC mismatch");
		members_free(&g);
	}
	sbuf_free(&f);
}

/* Every prefix: a result, never a crash; short ones are CORRUPT. */
static void test_binhex_truncations(void **state)
{
	struct sbuf f = { 0 };

	binhex("report.doc", text, sizeof(text) - 1, "rsrc", 4, &f);
	for (size_t k = 40; k < f.n - 3; k++) {
		struct scan_archive_result res;
		struct arch_members g;

		members_expand(f.p, k, "file.hqx", NULL, &g, &res);
		assert_true(g.m[0].data.n <= sizeof(text) - 1);
		if (k > 48)
			assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
		members_free(&g);
	}
	sbuf_free(&f);
}

/* Runs of 255 bytes declared as a 64 MiB fork: the member limit cuts it. */
static void test_binhex_member_limit(void **state)
{
	struct scan_archive_limits lim;
	struct sbuf f = { 0 };
	size_t dn = 4u << 20;
	uint8_t *d = calloc(1, dn);

	assert_non_null(d);
	binhex("zeros.bin", d, dn, "", 0, &f);
	free(d);
	scan_archive_limits_default(&lim);
	lim.max_member_bytes = 1u << 20;
	members_cut(f.p, f.n, "file.hqx", &lim);
	sbuf_free(&f);
}

/* A BinHex text body of a message: its data fork is a file of its own,
 * and EICAR inside it is found. */
static void test_binhex_in_mail(void **state)
{
	static const char eicar[] =
		"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
	struct scan_sigset *ss = scan_sigset_new(NULL);
	struct scan_engine *e;
	struct scan_session *s;
	const struct scan_result *r;
	struct sbuf m = { 0 }, f = { 0 };
	bool found = false;

	assert_non_null(ss);
	e = scan_engine_build(NULL, ss, NULL, 0);
	assert_non_null(e);
	binhex("eicar.com", eicar, sizeof(eicar) - 1, "", 0, &f);
	sbuf_printf(&m, "From: a@example.org\r\nSubject: mac file\r\n\r\n");
	sbuf_add(&m, f.p, f.n);
	s = scan_session_new(e, NULL, NULL);
	assert_non_null(s);
	assert_int_equal(scan_session_feed(s, (const uint8_t *)m.p, m.n), 0);
	r = scan_session_finish(s);
	for (size_t i = 0; i < r->nparts; i++)
		if (r->parts[i].filename && !strcmp(r->parts[i].filename, "eicar.com"))
			found = r->parts[i].size == sizeof(eicar) - 1;
	assert_true(found);
	assert_true(r->flags & SCAN_R_VIRUS);
	scan_session_free(s);
	scan_engine_unref(e);
	sbuf_free(&m);
	sbuf_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_binhex_forks),
		cmocka_unit_test(test_binhex_malformed),
		cmocka_unit_test(test_binhex_truncations),
		cmocka_unit_test(test_binhex_member_limit),
		cmocka_unit_test(test_binhex_in_mail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
