/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_mime_decode.c - base64, quoted-printable and uuencode decoders: known
 * vectors, junk tolerance with error counts, and the same output for every
 * split of the input (state carried across chunks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mime_codec.h"

enum codec { B64, QP, UU };

/* Decodes |in| split at |split| (or whole when split > len). */
static size_t run(enum codec c, const char *in, size_t split, uint8_t *out, uint32_t *errors)
{
	size_t len = strlen(in), o = 0;
	struct mime_b64 b = { 0 };
	struct mime_qp q = { 0 };
	static struct mime_uu u;
	size_t parts[2][2] = { { 0, split < len ? split : len }, { split < len ? split : len, len } };

	memset(&u, 0, sizeof(u));
	for (int k = 0; k < 2; k++) {
		const uint8_t *p = (const uint8_t *)in + parts[k][0];
		size_t n = parts[k][1] - parts[k][0];

		if (c == B64)
			o += mime_b64_decode(&b, p, n, out + o);
		else if (c == QP)
			o += mime_qp_decode(&q, p, n, out + o);
		else
			o += mime_uu_decode(&u, p, n, out + o);
	}
	if (c == B64) {
		o += mime_b64_finish(&b, out + o);
		*errors = b.errors;
	} else if (c == QP) {
		o += mime_qp_finish(&q, out + o);
		*errors = q.errors;
	} else {
		o += mime_uu_finish(&u, out + o);
		*errors = u.errors;
	}
	return o;
}

/* Checks output and error count for every split point. */
static void check(enum codec c, const char *in, const char *want, size_t want_len,
		  uint32_t want_err)
{
	size_t len = strlen(in);

	for (size_t s = 0; s <= len + 1; s++) {
		uint8_t out[4096];
		uint32_t errs;
		size_t o = run(c, in, s, out, &errs);

		if (o != want_len || memcmp(out, want, want_len) != 0)
			fail_msg("codec %d input \"%s\" split %zu: got %zu bytes \"%.*s\"", c, in, s,
				 o, (int)o, out);
		if (errs != want_err)
			fail_msg("codec %d input \"%s\" split %zu: %u errors, want %u", c, in, s,
				 errs, want_err);
	}
}

#define CHECK(c, in, want, err) check(c, in, want, sizeof(want) - 1, err)

static void test_b64(void **state)
{
	(void)state;
	CHECK(B64, "", "", 0);
	CHECK(B64, "TWFu", "Man", 0);
	CHECK(B64, "TWE=", "Ma", 0);
	CHECK(B64, "TQ==", "M", 0);
	CHECK(B64, "SGVs\r\nbG8g\n V29y bGQ=\r\n", "Hello World", 0);
	/* Junk is skipped and counted. */
	CHECK(B64, "SGV!sbG8*", "Hello", 3); /* 2 junk + no padding */
	/* Missing padding: decoded, counted. */
	CHECK(B64, "TWE", "Ma", 1);
	/* Concatenated blobs decode as their concatenation. */
	CHECK(B64, "TQ==TWE=", "MMa", 0);
	/* A lone sextet cannot make a byte. */
	CHECK(B64, "TWFuT", "Man", 1);
}

static void test_qp(void **state)
{
	(void)state;
	CHECK(QP, "caf=C3=A9", "caf\xc3\xa9", 0);
	CHECK(QP, "lower =c3=a9 ok", "lower \xc3\xa9 ok", 0);
	CHECK(QP, "soft=\r\nbreak", "softbreak", 0);
	CHECK(QP, "soft=\nbreak", "softbreak", 0);
	CHECK(QP, "pad=  \r\nbreak", "padbreak", 0);
	CHECK(QP, "trail   \r\nnext\t\n", "trail\r\nnext\n", 0);
	CHECK(QP, "keep  inner", "keep  inner", 0);
	CHECK(QP, "bad =ZZ x", "bad =ZZ x", 1);
	CHECK(QP, "half =4x", "half =4x", 1);
	CHECK(QP, "end =4", "end =4", 1);
	CHECK(QP, "final=", "final", 0);
	CHECK(QP, "a==41", "a=A", 1);
	CHECK(QP, "cr\rmid", "cr\rmid", 0);
	/* runs of "=XX" (encoded UTF-8) take the fast path when whole in a
	 * chunk: the same bytes at every split, damage inside a run too */
	CHECK(QP, "=E2=82=AC=41b", "\xe2\x82\xac" "Ab", 0);
	CHECK(QP, "x =E2=82 =\r\n=AC", "x \xe2\x82 \xac", 0);
	CHECK(QP, "=41=4G=42", "A=4G" "B", 1);
	CHECK(QP, "=41=\r\n=42=", "AB", 0);
	CHECK(QP, "=41 =42  \r\n", "A B\r\n", 0);
}

static void test_uu(void **state)
{
	(void)state;
	CHECK(UU, "begin 644 cat.txt\n#0V%T\n`\nend\n", "Cat", 0);
	CHECK(UU, "junk before\nbegin 600 f\r\n%2&5L;&\\`\r\n`\r\nend\r\n", "Hello", 0);
	/* No end line: counted. */
	CHECK(UU, "begin 644 x\n#0V%T\n", "Cat", 1);
	/* Short line (trailing spaces stripped by a mailer): zero sextets. */
	CHECK(UU, "begin 644 x\n#0V%\n`\nend\n", "Ca@", 0);
	/* Nothing after end is decoded. */
	CHECK(UU, "begin 644 x\n#0V%T\nend\n#0V%T\n", "Cat", 0);
}

static void test_uu_begin(void **state)
{
	char name[32];

	(void)state;
	assert_true(mime_uu_is_begin((const uint8_t *)"begin 644 a b.exe", 17, name, sizeof(name)));
	assert_string_equal(name, "a b.exe");
	assert_false(mime_uu_is_begin((const uint8_t *)"begin 64 x", 10, name, sizeof(name)));
	assert_false(mime_uu_is_begin((const uint8_t *)"begin 648 x", 11, name, sizeof(name)));
	assert_false(mime_uu_is_begin((const uint8_t *)"beginning 644 x", 15, name, sizeof(name)));
	assert_false(mime_uu_is_begin((const uint8_t *)"begin 644 ", 10, name, sizeof(name)));
}

static void test_b64_long_random(void **state)
{
	/* Round trip of all byte values through an encoder written here. */
	static const char al[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t raw[300], out[400];
	char enc[500];
	size_t e = 0;
	struct mime_b64 st = { 0 };
	size_t o;

	(void)state;
	for (int i = 0; i < 300; i++)
		raw[i] = (uint8_t)(i * 7);
	for (int i = 0; i < 300; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];

		enc[e++] = al[v >> 18];
		enc[e++] = al[(v >> 12) & 63];
		enc[e++] = al[(v >> 6) & 63];
		enc[e++] = al[v & 63];
		if (i % 57 == 54)
			enc[e++] = '\n';
	}
	o = mime_b64_decode(&st, (const uint8_t *)enc, e, out);
	o += mime_b64_finish(&st, out + o);
	assert_int_equal(o, 300);
	assert_memory_equal(out, raw, 300);
	assert_int_equal(st.errors, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_qp),
		cmocka_unit_test(test_uu),
		cmocka_unit_test(test_uu_begin),
		cmocka_unit_test(test_b64_long_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
