/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_sis.c - Symbian SIS files (EPOC release 3 and 6) through
 * scan_archive_expand(): compressed and stored files, UTF-16 and 8-bit
 * names (drive and separators cleaned), files of every language of a
 * multi-language record, records inside conditions and options, the
 * ClamAV sample clam.sis when the corpus is present, every malformed input
 * with its error, every truncation and the member limit.
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


static void expand(const uint8_t *p, size_t n, const struct scan_archive_limits *lim,
		   struct arch_members *g, struct scan_archive_result *res)
{
	if (lim == NULL) {
		members_expand(p, n, "t.sis", NULL, g, res);
		return;
	}
	{
		struct scan_archive *a = scan_archive_new(NULL, lim);

		assert_non_null(a);
		assert_int_equal(scan_archive_expand(a, p, n, "t.sis", NULL, NULL, res), 0);
		scan_archive_free(a);
	}
}

/* A SIS file under construction. */
struct sis {
	uint8_t b[65536];
	size_t n;
	bool er6, unicode, compressed;
};

/* Appends raw bytes; returns their offset. */
static uint32_t add(struct sis *s, const void *p, size_t n)
{
	uint32_t off = (uint32_t)s->n;

	memcpy(s->b + s->n, p, n);
	s->n += n;
	return off;
}

static uint32_t add32(struct sis *s, uint32_t v)
{
	uint8_t b[4];

	put_le32(b, v);
	return add(s, b, 4);
}

/* A name as the options say (UTF-16LE or 8-bit); *len gets its size. */
static uint32_t add_name(struct sis *s, const char *name, uint32_t *len)
{
	uint32_t off = (uint32_t)s->n;

	for (const char *q = name; *q; q++) {
		s->b[s->n++] = (uint8_t)*q;
		if (s->unicode)
			s->b[s->n++] = 0;
	}
	*len = (uint32_t)(s->n - off);
	return off;
}

/* File data, compressed when the options say so; *len its stored size. */
static uint32_t add_data(struct sis *s, const char *text, uint32_t *len)
{
	uint8_t z[512];
	uLongf zn = sizeof(z);

	if (!s->compressed) {
		*len = (uint32_t)strlen(text);
		return add(s, text, *len);
	}
	assert_int_equal(compress(z, &zn, (const Bytef *)text, strlen(text)), Z_OK);
	*len = (uint32_t)zn;
	return add(s, z, zn);
}

/* The header (|nlangs| languages: codes 1, 2, ...; |nrec| records that
 * start right after the language codes). */
static void header(struct sis *s, bool er6, uint16_t opts, unsigned nlangs, unsigned nrec)
{
	size_t hl = er6 ? 100 : 68;

	memset(s, 0, sizeof(*s));
	s->er6 = er6;
	s->unicode = opts & 1;
	s->compressed = !(opts & 8);
	put_le32(s->b, 0x10001234);
	put_le32(s->b + 4, er6 ? 0x10003a12 : 0x1000006d);
	put_le32(s->b + 8, 0x10000419);
	put_le16(s->b + 18, nlangs);
	put_le16(s->b + 20, nrec);
	put_le16(s->b + 36, opts);
	put_le32(s->b + 48, (uint32_t)hl);
	put_le32(s->b + 52, (uint32_t)(hl + 2 * nlangs));
	s->n = hl;
	for (unsigned i = 0; i < nlangs; i++) {
		put_le16(s->b + s->n, i + 1);
		s->n += 2;
	}
}

/* A file record: |nl| data blocks (one for a simple record). Its fields
 * point at |names| and |data| placed later: the record is patched. */
struct rec {
	size_t at;
	unsigned nl;
};

static struct rec file_record(struct sis *s, bool multi, unsigned nl)
{
	struct rec r = { s->n, nl };
	size_t size = 28 + 8 * nl + (s->er6 ? 4 * nl + 8 : 0);

	memset(s->b + s->n, 0, size);
	put_le32(s->b + s->n, multi ? 1 : 0);
	s->n += size;
	return r;
}

static void fill_record(struct sis *s, struct rec r, const char *src, const char *dst,
			const char *const *texts)
{
	uint32_t len;

	if (src != NULL) {
		put_le32(s->b + r.at + 16, add_name(s, src, &len));
		put_le32(s->b + r.at + 12, len);
	}
	if (dst != NULL) {
		put_le32(s->b + r.at + 24, add_name(s, dst, &len));
		put_le32(s->b + r.at + 20, len);
	}
	for (unsigned i = 0; i < r.nl; i++) {
		uint32_t off = add_data(s, texts[i], &len);

		put_le32(s->b + r.at + 28 + 4 * i, len);
		put_le32(s->b + r.at + 28 + 4 * r.nl + 4 * i, off);
		if (s->er6)
			put_le32(s->b + r.at + 28 + 8 * r.nl + 4 * i, (uint32_t)strlen(texts[i]));
	}
}

/* Two languages; records: if, a simple file, else, a multi-language file,
 * endif, options (one option), a file without data (type 4), a file named
 * by its source only. */
static void sample(struct sis *s, bool er6, uint16_t opts)
{
	static const char *const one[] = { "simple file data" };
	static const char *const two[] = { "english text", "french text" };
	static const char *const none[] = { "" };
	static const char *const src[] = { "from source" };
	struct rec a, m, z, w;

	header(s, er6, opts, 2, 8);
	add32(s, 3);             /* if, with a 4-byte condition */
	add32(s, 4);
	add32(s, 0xdeadbeef);
	a = file_record(s, false, 1);
	add32(s, 5);             /* else */
	m = file_record(s, true, 2);
	add32(s, 6);             /* endif */
	add32(s, 2);             /* options: one, two names, 16 bytes */
	add32(s, 1);
	for (int i = 0; i < 2 * 2 + 4; i++)
		add32(s, 0);
	z = file_record(s, false, 1);
	s->b[z.at + 4] = 4;      /* "null" file: created at install */
	w = file_record(s, false, 1);
	fill_record(s, a, "c:\\build\\app.exe", "!:\\system\\apps\\app.exe", one);
	fill_record(s, m, "c:\\build\\readme.txt", "c:\\readme.txt", two);
	fill_record(s, z, NULL, "!:\\log.txt", none);
	fill_record(s, w, "c:\\build\\src.dat", NULL, src);
}

static const char *const want =
	"system/apps/app.exe:simple file data lang1/readme.txt:english text "
	"lang2/readme.txt:french text src.dat:from source ";

static void test_sis_decode(void **state)
{
	struct scan_archive_result res;
	static struct sis s;
	struct arch_members g;

	for (int v = 0; v < 4; v++) {
		bool er6 = v & 1;
		uint16_t opts = (v & 2) ? 0x0008 : 0x0001;

		sample(&s, er6, opts);
		assert_true(scan_archive_sniff(s.b, s.n));
		expand(s.b, s.n, NULL, &g, &res);
		assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
		assert_string_equal(res.format, "sis");
		assert_null(res.error);
		assert_int_equal(g.begins, 4);
		assert_string_equal(members_list(&g, " "), want);
		members_free(&g);
	}
	/* UID 2 of another format: not SIS */
	put_le32(s.b + 4, 0x10000000);
	assert_false(scan_archive_sniff(s.b, s.n));
}

/* clam.sis: release 6, clam.exe zlib-compressed, UTF-16 names. */
static void test_sis_corpus(void **state)
{
	struct scan_archive_result res;
	struct arch_members g;
	const struct arch_member *m;
	uint8_t *sis, *exe;
	size_t sn, en;
	struct stat st;

	if (stat(CLAMAV_XOR_DIR "/clam.sis.xor", &st)) {
		print_message("SKIP: corpus absent\n");
		skip();
	}
	sis = load_clamav_xor("clam.sis", &sn);
	assert_non_null(sis);
	exe = load_clamav_xor("clam.exe", &en);
	assert_non_null(exe);
	members_expand(sis, sn, "clam.sis", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	/* the member begun last holds all the data */
	assert_true(g.begins >= 1 && g.begins <= ARCH_MEMBERS_MAX);
	m = &g.m[g.begins - 1];
	assert_string_equal(m->name, "clam.exe");
	assert_int_equal(g.bytes, en);
	assert_int_equal(m->data.n, en);
	assert_memory_equal(m->data.p, exe, en);
	members_free(&g);
	free(sis);
	free(exe);
}

static void check_error(const uint8_t *p, size_t n, const char *err, const char *list)
{
	struct scan_archive_result res;
	struct arch_members g;

	expand(p, n, NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_non_null(res.error);
	assert_string_equal(res.error, err);
	assert_int_equal(res.decode_errors, 1);
	assert_string_equal(members_list(&g, " "), list);
	members_free(&g);
}

static void test_sis_malformed(void **state)
{
	static struct sis s;
	uint32_t len;

	header(&s, true, 1, 1, 1);
	check_error(s.b, 80, "sis: truncated header", "");
	/* records pointer past the end */
	put_le32(s.b + 52, 5000);
	check_error(s.b, s.n, "sis: file records outside the file", "");
	/* a record cut short */
	header(&s, true, 1, 1, 1);
	file_record(&s, false, 1);
	check_error(s.b, s.n - 4, "sis: truncated file record", "");
	/* an unknown record type */
	header(&s, true, 1, 1, 1);
	add32(&s, 9);
	check_error(s.b, s.n, "sis: unknown file record type", "");
	/* an if whose condition runs past the end */
	header(&s, true, 1, 1, 1);
	add32(&s, 3);
	add32(&s, 100);
	check_error(s.b, s.n, "sis: truncated file record", "");
	/* a name outside the file */
	{
		static const char *const t[] = { "data" };
		struct rec r;

		header(&s, true, 1, 1, 1);
		r = file_record(&s, false, 1);
		fill_record(&s, r, NULL, "x", t);
		put_le32(s.b + r.at + 24, 7000);
		check_error(s.b, s.n, "sis: name outside the file", "");
		/* data outside the file */
		put_le32(s.b + r.at + 24, 0);
		put_le32(s.b + r.at + 20, 0);
		put_le32(s.b + r.at + 32, 7000);
		check_error(s.b, s.n, "sis: file data outside the file", "");
		/* zlib data damaged, then cut */
		header(&s, true, 1, 1, 1);
		r = file_record(&s, false, 1);
		fill_record(&s, r, NULL, "x", t);
		len = (uint32_t)(s.n - (r.at + 48 + 2));
		s.b[r.at + 48 + 2] ^= 0xff; /* the name "x" is 2 bytes, then zlib */
		check_error(s.b, s.n, "sis: zlib data error", "x: ");
		s.b[r.at + 48 + 2] ^= 0xff;
		put_le32(s.b + r.at + 28, len - 4); /* without the Adler-32 */
		check_error(s.b, s.n, "sis: compressed data truncated", "x:data ");
	}
}

/* Every prefix of a valid file: never a crash, a result every time. */
static void test_sis_truncations(void **state)
{
	static struct sis s;

	sample(&s, true, 1);
	for (size_t k = 0; k <= s.n; k++) {
		struct scan_archive_result res;
		struct arch_members g;

		expand(s.b, k, NULL, &g, &res);
		if (k >= 16 && k < s.n && scan_archive_verdict(&res) != SCAN_ARCHIVE_CORRUPT)
			fail_msg("prefix %zu: %s", k, res.error ? res.error : "no error");
		members_free(&g);
	}
}

/* 200 records naming one zlib block of 64 KiB of zeros: the total limit
 * cuts the expansion, whatever the header declares. */
static void test_sis_limits(void **state)
{
	static struct sis s;
	static uint8_t zeros[65536];
	struct scan_archive_limits lim;
	struct scan_archive_result res;
	uint8_t z[1024];
	uLongf zn = sizeof(z);
	uint32_t off;

	assert_int_equal(compress(z, &zn, zeros, sizeof(zeros)), Z_OK);
	header(&s, false, 0, 1, 200);
	for (int i = 0; i < 200; i++) {
		size_t at = s.n;

		file_record(&s, false, 1);
		put_le32(s.b + at + 28, (uint32_t)zn);
	}
	off = add(&s, z, zn);
	for (int i = 0; i < 200; i++)
		put_le32(s.b + 68 + 2 + (size_t)i * 36 + 32, off);
	scan_archive_limits_default(&lim);
	lim.max_total_bytes = 1 << 20;
	expand(s.b, s.n, &lim, NULL, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_BOMB);
	assert_int_equal(res.limit, SCAN_ARCHIVE_LIM_TOTAL_BYTES);
	assert_true(res.members <= 17);
}

/* Five hundred records sharing one zlib stream that inflates to nothing
 * (empty stored blocks): no output limit sees them, the work budget does,
 * every reading being charged. Then a name field as long as the file,
 * once per record: only the first 255 characters are read. */
static void test_sis_shared_data(void **state)
{
	static struct sis s;
	struct scan_archive_limits lim;
	struct scan_archive_result res;
	uint32_t off, len;
	size_t rec0;

	header(&s, false, 0, 1, 500);
	rec0 = s.n;
	for (int i = 0; i < 500; i++)
		file_record(&s, false, 1);
	off = add(&s, "\x78\x01", 2);
	for (int k = 0; k < 5000; k++)
		add(&s, "\x00\x00\x00\xff\xff", 5);
	add(&s, "\x01\x00\x00\xff\xff\x00\x00\x00\x01", 9);
	len = (uint32_t)(s.n - off);
	for (int i = 0; i < 500; i++) {
		put_le32(s.b + rec0 + (size_t)i * 36 + 28, len);
		put_le32(s.b + rec0 + (size_t)i * 36 + 32, off);
		/* the destination name: the whole data block (binary: '?') */
		put_le32(s.b + rec0 + (size_t)i * 36 + 20, len);
		put_le32(s.b + rec0 + (size_t)i * 36 + 24, off);
	}
	scan_archive_limits_default(&lim);
	lim.work_budget = 2u << 20; /* 25 KB of data: about 80 readings */
	expand(s.b, s.n, &lim, NULL, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_BOMB);
	assert_int_equal(res.limit, SCAN_ARCHIVE_LIM_WORK);
	assert_true(res.members < 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sis_decode),
		cmocka_unit_test(test_sis_corpus),
		cmocka_unit_test(test_sis_malformed),
		cmocka_unit_test(test_sis_truncations),
		cmocka_unit_test(test_sis_limits),
		cmocka_unit_test(test_sis_shared_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
