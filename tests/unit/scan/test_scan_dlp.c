/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_dlp.c - DLP validators and streaming detectors: every test PAN
 * of ../shared/corpus/dlp/test-pans found (Luhn-invalid ones not), IBAN,
 * SSN and My Number rules, e-mails and phones, thresholds, custom lists,
 * texts split at every offset and fed byte by byte, long texts across many
 * window passes, the corpus sample texts, and a failing allocator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mxg_err.h"
#include "scan_dlp.h"
#include "scan_test.h"

#ifndef CORPUS_DIR
#define CORPUS_DIR "../shared/corpus"
#endif

#define ALL_KINDS (SCAN_DLP_BIT(SCAN_DLP_PAN) | SCAN_DLP_BIT(SCAN_DLP_IBAN) |                  \
		   SCAN_DLP_BIT(SCAN_DLP_MYNUMBER) | SCAN_DLP_BIT(SCAN_DLP_SSN) |              \
		   SCAN_DLP_BIT(SCAN_DLP_EMAIL) | SCAN_DLP_BIT(SCAN_DLP_PHONE))

static const char *corpus(void)
{
	const char *e = getenv("MXG_CORPUS");

	return e ? e : CORPUS_DIR;
}

/* Records matches as "kind:text\n". */
static int on_match(const struct scan_dlp_match *m, void *ud)
{
	struct sbuf *b = ud;

	sbuf_printf(b, "%s:%.*s\n", scan_dlp_kind_name(m->kind), (int)m->len, m->text);
	return 0;
}

static struct scan_dlp *all_detectors(void)
{
	struct scan_dlp *d = scan_dlp_new(NULL);

	assert_non_null(d);
	assert_int_equal(scan_dlp_add_template(d, "all", ALL_KINDS, 1), 0);
	assert_int_equal(scan_dlp_compile(d, NULL, 0), 0);
	return d;
}

/* Feeds |t| split at |split| (or byte by byte when split == SIZE_MAX) and
 * returns the match trace (caller frees). */
static char *run(const struct scan_dlp *d, const char *t, size_t len, size_t split,
		 struct scan_dlp_result *res)
{
	struct sbuf b = { 0 };
	struct scan_dlp_callbacks cb = { on_match };
	struct scan_dlp_stream *s = scan_dlp_stream_new(d, NULL, &cb, &b);

	assert_non_null(s);
	if (split == SIZE_MAX) {
		for (size_t i = 0; i < len; i++)
			assert_int_equal(scan_dlp_stream_feed(s, (const uint8_t *)t + i, 1), 0);
	} else {
		assert_int_equal(scan_dlp_stream_feed(s, (const uint8_t *)t, split), 0);
		assert_int_equal(scan_dlp_stream_feed(s, (const uint8_t *)t + split, len - split), 0);
	}
	assert_int_equal(scan_dlp_stream_finish(s), 0);
	if (res != NULL)
		*res = *scan_dlp_stream_result(s);
	scan_dlp_stream_free(s);
	sbuf_add(&b, "", 0);
	return b.p;
}

static char *run1(const struct scan_dlp *d, const char *t)
{
	return run(d, t, strlen(t), 0, NULL);
}

static void test_validators(void **state)
{
	assert_true(scan_dlp_luhn("4242424242424242", 16));
	assert_false(scan_dlp_luhn("4242424242424241", 16));
	assert_int_equal(scan_dlp_card_brand("4242424242424242", 16), SCAN_DLP_BRAND_VISA);
	assert_int_equal(scan_dlp_card_brand("2223003122003222", 16), SCAN_DLP_BRAND_MASTERCARD);
	assert_int_equal(scan_dlp_card_brand("2721003122003222", 16), SCAN_DLP_BRAND_NONE);
	assert_int_equal(scan_dlp_card_brand("378282246310005", 15), SCAN_DLP_BRAND_AMEX);
	assert_int_equal(scan_dlp_card_brand("6011111111111117", 16), SCAN_DLP_BRAND_DISCOVER);
	assert_int_equal(scan_dlp_card_brand("3566002020360505", 16), SCAN_DLP_BRAND_JCB);
	assert_int_equal(scan_dlp_card_brand("36227206271667", 14), SCAN_DLP_BRAND_DINERS);
	assert_int_equal(scan_dlp_card_brand("6200000000000005", 16), SCAN_DLP_BRAND_UNIONPAY);
	assert_int_equal(scan_dlp_card_brand("1234567812345678", 16), SCAN_DLP_BRAND_NONE);
	/* IBAN: published examples (ECBS / bank documentation) */
	assert_true(scan_dlp_iban_valid("GB82WEST12345698765432", 22));
	assert_true(scan_dlp_iban_valid("DE89370400440532013000", 22));
	assert_true(scan_dlp_iban_valid("FR1420041010050500013M02606", 27));
	assert_true(scan_dlp_iban_valid("NL91ABNA0417164300", 18));
	assert_true(scan_dlp_iban_valid("BE68539007547034", 16));
	assert_true(scan_dlp_iban_valid("CH9300762011623852957", 21));
	assert_true(scan_dlp_iban_valid("NO9386011117947", 15));
	assert_false(scan_dlp_iban_valid("GB82WEST12345698765433", 22)); /* mod 97 */
	assert_false(scan_dlp_iban_valid("GB82WEST1234569876543", 21));  /* length */
	assert_false(scan_dlp_iban_valid("ZZ82WEST12345698765432", 22)); /* country */
	/* SSN rules */
	assert_true(scan_dlp_ssn_valid("123456789"));
	assert_false(scan_dlp_ssn_valid("000456789"));
	assert_false(scan_dlp_ssn_valid("666456789"));
	assert_false(scan_dlp_ssn_valid("900456789"));
	assert_false(scan_dlp_ssn_valid("999456789"));
	assert_false(scan_dlp_ssn_valid("123006789"));
	assert_false(scan_dlp_ssn_valid("123450000"));
	/* My Number check digits (computed per the ordinance) */
	assert_true(scan_dlp_mynumber_valid("123456789018"));
	assert_true(scan_dlp_mynumber_valid("987654321093"));
	assert_true(scan_dlp_mynumber_valid("111111111118"));
	assert_true(scan_dlp_mynumber_valid("202001012349"));
	for (char c = '0'; c <= '9'; c++) {
		char d[13] = "12345678901";

		d[11] = c;
		d[12] = '\0';
		assert_int_equal(scan_dlp_mynumber_valid(d), c == '8');
	}
}

static void test_corpus_pans(void **state)
{
	char path[1024];
	size_t len;
	uint8_t *tsv;
	char *line, *save = NULL;
	struct scan_dlp *d = all_detectors();
	unsigned rows = 0, unknown = 0, valid = 0, found = 0, invalid = 0, rejected = 0, grouped = 0;
	struct sbuf doc = { 0 };
	struct scan_dlp_result res;
	char *tr;

	snprintf(path, sizeof(path), "%s/dlp/test-pans/test_pans.tsv", corpus());
	tsv = load_file(path, &len);
	if (tsv == NULL) {
		print_message("SKIP: %s absent\n", path);
		scan_dlp_free(d);
		skip();
	}
	for (line = strtok_r((char *)tsv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char pan[32], luhn[8], brand[64], text[128];
		int n;

		if (sscanf(line, "%31[^\t]\t%d\t%7[^\t]\t%63[^\t]", pan, &n, luhn, brand) != 4)
			continue; /* header */
		rows++;
		if (strcmp(brand, "Unknown") == 0) {
			/* Braintree's "unknown card type" 1000000000000008: IIN 1
			 * belongs to no card issuer (16 digits, not UATP); the
			 * issuer check rejects it on purpose */
			tr = run1(d, pan);
			assert_null(strstr(tr, "pan:"));
			free(tr);
			unknown++;
			continue;
		}
		snprintf(text, sizeof(text), "Please charge card %s, exp 12/30.\n", pan);
		sbuf_add(&doc, text, strlen(text));
		tr = run1(d, text);
		if (strcmp(luhn, "yes") == 0) {
			valid++;
			if (strstr(tr, "pan:") != NULL)
				found++;
			else
				print_message("  missed %s\n", line);
		} else {
			invalid++;
			if (strstr(tr, "pan:") == NULL)
				rejected++;
		}
		free(tr);
		/* the same number written in groups */
		if (strcmp(luhn, "yes") == 0 && (n == 16 || n == 15 || n == 14)) {
			if (n == 16)
				snprintf(text, sizeof(text), "card %.4s %.4s %.4s %.4s ok", pan, pan + 4,
					 pan + 8, pan + 12);
			else
				snprintf(text, sizeof(text), "card %.4s-%.6s-%s ok", pan, pan + 4, pan + 10);
			tr = run1(d, text);
			if (strstr(tr, "pan:") != NULL)
				grouped++;
			else
				print_message("  missed grouped %s\n", text);
			free(tr);
		}
	}
	print_message("  test PANs: %u rows, %u Luhn-valid with an issuer found %u, grouped forms "
		      "found %u, %u invalid rejected %u, %u of unknown issuer rejected\n", rows, valid,
		      found, grouped, invalid, rejected, unknown);
	assert_int_equal(found, valid);
	assert_int_equal(rejected, invalid);
	assert_true(valid > 100);
	/* all rows in one document, split at several offsets */
	for (size_t split = 0; split < doc.n; split += doc.n / 7 + 1) {
		tr = run(d, doc.p, doc.n, split, &res);
		assert_int_equal(res.kind_hits[SCAN_DLP_PAN], valid);
		free(tr);
	}
	sbuf_free(&doc);
	free(tsv);
	scan_dlp_free(d);
}

static void test_pan_negatives(void **state)
{
	static const char *const no[] = {
		"ref 42424242424242420 end",         /* 17 digits: Visa needs 13/16/19 */
		"id 424242424242424242424242 x",    /* embedded in a longer run */
		"code X4242424242424242 y",          /* glued to a letter */
		"4242424242424242X",
		"tel 4242 4242 4242 4242 4242 end",  /* a longer group sequence */
		"1234 5678 9012 3456",               /* no issuer */
		"4242424242424241",                  /* Luhn */
		"4242-4242 4242-4242",               /* mixed separators */
		"ISBN 978-3-16-148410-0",
		"12/05/2024 10:30",
	};
	struct scan_dlp *d = all_detectors();

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		char *tr = run1(d, no[i]);

		if (strstr(tr, "pan:") != NULL)
			fail_msg("false PAN in \"%s\": %s", no[i], tr);
		free(tr);
	}
	scan_dlp_free(d);
}

/* One text with every kind, matched exactly the same at every split. */
static const char mixed[] =
	"Hello, card 4111 1111 1111 1111 and 5555555555554444; amex 3782-822463-10005.\n"
	"IBAN GB82 WEST 1234 5698 7654 32 or DE89370400440532013000.\n"
	"SSN 123-45-6789 (not 666-45-6789, not 123-00-6789), My Number 1234 5678 9018.\n"
	"Mail john.doe+tag@example.co.uk, call +44 20 7946 0958 or (212) 555-0173 or 415-555-0132.\n"
	"Not mail: a@b, x@y.z1, @example.com; not phone: 2024-01-15, +1.\n";

static const char mixed_trace[] =
	"pan:4111 1111 1111 1111\n"
	"pan:5555555555554444\n"
	"pan:3782-822463-10005\n"
	"iban:GB82 WEST 1234 5698 7654 32\n"
	"iban:DE89370400440532013000\n"
	"ssn:123-45-6789\n"
	"mynumber:1234 5678 9018\n"
	"email:john.doe+tag@example.co.uk\n"
	"phone:+44 20 7946 0958\n"
	"phone:(212) 555-0173\n"
	"phone:415-555-0132\n";

static void test_mixed_every_split(void **state)
{
	struct scan_dlp *d = all_detectors();
	size_t len = sizeof(mixed) - 1;
	char *tr;

	tr = run1(d, mixed);
	assert_string_equal(tr, mixed_trace);
	free(tr);
	for (size_t split = 0; split <= len; split++) {
		tr = run(d, mixed, len, split, NULL);
		if (strcmp(tr, mixed_trace) != 0)
			fail_msg("split %zu:\n%s", split, tr);
		free(tr);
	}
	tr = run(d, mixed, len, SIZE_MAX, NULL);
	assert_string_equal(tr, mixed_trace);
	free(tr);
	scan_dlp_free(d);
}

/* A long text: numbers at every position relative to the window passes. */
static void test_long_text(void **state)
{
	struct scan_dlp *d = all_detectors();
	struct sbuf t = { 0 };
	struct scan_dlp_result res;
	unsigned want = 0;
	char *tr;

	srand(7);
	for (int i = 0; i < 3000; i++) {
		int k = rand() % 40;

		for (int j = 0; j < k; j++)
			sbuf_add(&t, "lorem ", 6);
		sbuf_add(&t, "4242424242424242 ", 17);
		want++;
	}
	tr = run(d, t.p, t.n, t.n / 3, &res);
	assert_int_equal(res.kind_hits[SCAN_DLP_PAN], want);
	free(tr);
	/* odd chunk sizes */
	{
		struct scan_dlp_stream *s = scan_dlp_stream_new(d, NULL, NULL, NULL);
		size_t off = 0, step = 1;

		while (off < t.n) {
			size_t k = step < t.n - off ? step : t.n - off;

			scan_dlp_stream_feed(s, (const uint8_t *)t.p + off, k);
			off += k;
			step = step * 7 % 5003 + 1;
		}
		scan_dlp_stream_finish(s);
		assert_int_equal(scan_dlp_stream_result(s)->kind_hits[SCAN_DLP_PAN], want);
		assert_int_equal(scan_dlp_stream_result(s)->bytes, t.n);
		scan_dlp_stream_free(s);
	}
	sbuf_free(&t);
	scan_dlp_free(d);
}

static void test_templates_thresholds(void **state)
{
	struct scan_dlp *d = scan_dlp_new(NULL);
	const struct scan_dlp_result *r;
	struct scan_dlp_stream *s;
	char err[256];
	static const char t1[] = "card 4242424242424242 CONFIDENTIAL project PROJ-1234\n";
	static const char t2[] = "second card 5555555555554444 and confidentiality\n";

	assert_int_equal(scan_dlp_add_template(d, "pci", SCAN_DLP_BIT(SCAN_DLP_PAN), 2), 0);
	assert_int_equal(scan_dlp_add_template(d, "secret", 0, 1), 1);
	assert_int_equal(scan_dlp_add_template(d, "proj", 0, 1), 2);
	assert_int_equal(scan_dlp_add_pattern(d, 1, "confidential", SCAN_PAT_CASELESS | SCAN_PAT_WORD), 0);
	assert_int_equal(scan_dlp_add_pattern(d, 2, "PROJ-[0-9]{4}", SCAN_PAT_REGEX), 0);
	assert_int_equal(scan_dlp_add_pattern(d, 2, "(unclosed", SCAN_PAT_REGEX), 0);
	assert_int_equal(scan_dlp_compile(d, err, sizeof(err)), MXG_E_INVAL);
	print_message("  expected error: %s\n", err);
	scan_dlp_free(d);

	d = scan_dlp_new(NULL);
	scan_dlp_add_template(d, "pci", SCAN_DLP_BIT(SCAN_DLP_PAN), 2);
	scan_dlp_add_template(d, "secret", 0, 1);
	scan_dlp_add_template(d, "proj", 0, 1);
	scan_dlp_add_pattern(d, 1, "confidential", SCAN_PAT_CASELESS | SCAN_PAT_WORD);
	scan_dlp_add_pattern(d, 2, "PROJ-[0-9]{4}", SCAN_PAT_REGEX);
	assert_int_equal(scan_dlp_compile(d, err, sizeof(err)), 0);
	assert_int_equal(scan_plist_count(scan_dlp_plist(d)), 2);
	assert_int_equal(scan_plist_get(scan_dlp_plist(d), 1)->id, 2);

	s = scan_dlp_stream_new(d, NULL, NULL, NULL);
	scan_dlp_stream_feed(s, (const uint8_t *)t1, sizeof(t1) - 1);
	scan_dlp_stream_finish(s);
	r = scan_dlp_stream_result(s);
	assert_int_equal(r->tmpl_hits[0], 1);
	assert_int_equal(r->matched, 0x6); /* pci below its threshold of 2 */
	scan_dlp_stream_feed(s, (const uint8_t *)t2, sizeof(t2) - 1);
	scan_dlp_stream_finish(s);
	assert_int_equal(r->tmpl_hits[0], 2);
	assert_int_equal(r->tmpl_hits[1], 1); /* "confidentiality" is no whole word */
	assert_int_equal(r->matched, 0x7);
	scan_dlp_stream_reset(s);
	assert_int_equal(r->matched, 0);
	/* a keyword split across chunks */
	scan_dlp_stream_feed(s, (const uint8_t *)"xx Confid", 9);
	scan_dlp_stream_feed(s, (const uint8_t *)"ential yy", 9);
	scan_dlp_stream_finish(s);
	assert_int_equal(r->tmpl_hits[1], 1);
	scan_dlp_stream_free(s);
	scan_dlp_free(d);
}

static void test_corpus_samples(void **state)
{
	static const struct {
		const char *file;
		int tmpl;       /* template expected to match, -1 none */
	} cases[] = {
		{ "pharmaceutical/Super Headache Remover.txt", 0 },
		{ "secrets/shadow.txt", 1 },
		{ "secrets/Password Files Shadow Files.txt", 1 },
		{ "secrets/LDAP modifyUser.ldf", 2 },
		{ "secrets/LDAP createUser.ldf", 2 },
		{ "it/freeEmailProviders.txt", -1 },
		{ "secrets/commonPassword.txt", -1 },
	};
	struct scan_dlp *d = scan_dlp_new(NULL);
	unsigned done = 0;

	scan_dlp_add_template(d, "pharma", 0, 2);
	scan_dlp_add_pattern(d, 0, "Product Code:", 0);
	scan_dlp_add_pattern(d, 0, "Active Ingredient", SCAN_PAT_CASELESS);
	scan_dlp_add_template(d, "unix-shadow", 0, 1);
	scan_dlp_add_pattern(d, 1, "(?m)^[A-Za-z0-9_.-]+:\\$[0-9a-z]+\\$[^:]+:[0-9]+:", SCAN_PAT_REGEX);
	scan_dlp_add_template(d, "ldap-ldif", 0, 1);
	scan_dlp_add_pattern(d, 2, "(?m)^dn: *cn=", SCAN_PAT_REGEX | SCAN_PAT_CASELESS);
	scan_dlp_add_template(d, "pii", ALL_KINDS, 1);
	assert_int_equal(scan_dlp_compile(d, NULL, 0), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[1024];
		size_t len;
		uint8_t *p;
		struct scan_dlp_stream *s;
		const struct scan_dlp_result *r;

		snprintf(path, sizeof(path), "%s/dlp/bhdicaire-dataLossPrevention/dataSets/%s",
			 corpus(), cases[i].file);
		p = load_file(path, &len);
		if (p == NULL) {
			print_message("SKIP: %s absent\n", path);
			continue;
		}
		s = scan_dlp_stream_new(d, NULL, NULL, NULL);
		scan_dlp_stream_feed(s, p, len);
		scan_dlp_stream_finish(s);
		r = scan_dlp_stream_result(s);
		print_message("  %-45s matched 0x%llx (pharma %u shadow %u ldif %u; pii: pan %u "
			      "email %u phone %u)\n", cases[i].file, (unsigned long long)r->matched,
			      r->tmpl_hits[0], r->tmpl_hits[1], r->tmpl_hits[2],
			      r->kind_hits[SCAN_DLP_PAN], r->kind_hits[SCAN_DLP_EMAIL],
			      r->kind_hits[SCAN_DLP_PHONE]);
		if (cases[i].tmpl >= 0)
			assert_true(r->matched & (1ull << cases[i].tmpl));
		assert_int_equal(r->matched & 0x7 & ~(cases[i].tmpl >= 0 ? 1ull << cases[i].tmpl : 0), 0);
		assert_int_equal(r->kind_hits[SCAN_DLP_PAN], 0);
		scan_dlp_stream_free(s);
		free(p);
		done++;
	}
	scan_dlp_free(d);
	if (done == 0)
		skip();
}

static void test_failing_alloc(void **state)
{
	int ok = 0;

	for (unsigned long n = 1; n < 400 && !ok; n++) {
		struct failmem fm;
		struct scan_dlp *d;
		struct scan_dlp_stream *s = NULL;
		int rc = 0;

		failmem_init(&fm, n);
		d = scan_dlp_new(&fm.mem);
		if (d != NULL) {
			rc = scan_dlp_add_template(d, "t", ALL_KINDS, 1);
			if (rc >= 0)
				rc = scan_dlp_add_pattern(d, 0, "secret[0-9]+", SCAN_PAT_REGEX);
			if (rc >= 0)
				rc = scan_dlp_compile(d, NULL, 0);
			if (rc >= 0)
				s = scan_dlp_stream_new(d, &fm.mem, NULL, NULL);
			if (s != NULL) {
				rc = scan_dlp_stream_feed(s, (const uint8_t *)mixed, sizeof(mixed) - 1);
				if (rc == 0)
					rc = scan_dlp_stream_finish(s);
				if (rc == 0 && fm.n < n) {
					assert_int_equal(scan_dlp_stream_result(s)->kind_hits[SCAN_DLP_PAN], 3);
					ok = 1;
				}
			} else {
				assert_true(rc < 0 || fm.n >= n);
			}
			scan_dlp_stream_free(s);
			scan_dlp_free(d);
		}
		assert_int_equal(fm.live, 0);
	}
	assert_true(ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validators),
		cmocka_unit_test(test_corpus_pans),
		cmocka_unit_test(test_pan_negatives),
		cmocka_unit_test(test_mixed_every_split),
		cmocka_unit_test(test_long_text),
		cmocka_unit_test(test_templates_thresholds),
		cmocka_unit_test(test_corpus_samples),
		cmocka_unit_test(test_failing_alloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
