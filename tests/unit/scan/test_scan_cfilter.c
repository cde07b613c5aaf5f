/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_cfilter.c - pattern lists (keywords, regexes, flags, errors,
 * the match limit) and content filter rules over subject, body (split at
 * every offset), headers (all or one named field), attachment names,
 * sizes and counts, ANY/ALL modes; a failing allocator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mxg_err.h"
#include "scan_cfilter.h"
#include "scan_test.h"

static int count_cb(uint32_t idx, size_t so, size_t eo, void *ud)
{
	struct sbuf *b = ud;

	sbuf_printf(b, "%u:%zu-%zu\n", idx, so, eo);
	return 0;
}

static void test_plist(void **state)
{
	struct scan_plist *l = scan_plist_new(NULL, 1000);
	struct scan_plist_md *md;
	struct sbuf b = { 0 };
	char err[200];
	uint32_t limited = 0;
	static const char subj[] = "Free MONEY! free.money? (a+b) freedom a+b";

	assert_int_equal(scan_plist_add(l, 7, "free money", SCAN_PAT_CASELESS), 0);
	assert_int_equal(scan_plist_add(l, 8, "free", SCAN_PAT_WORD), 1);
	assert_int_equal(scan_plist_add(l, 9, "a+b", 0), 2);          /* literal '+' */
	assert_int_equal(scan_plist_add(l, 10, "fr[e]{2}dom", SCAN_PAT_REGEX), 3);
	assert_int_equal(scan_plist_add(l, 11, "", 0), MXG_E_INVAL);
	assert_int_equal(scan_plist_compile(l, err, sizeof(err)), 0);
	assert_int_equal(scan_plist_count(l), 4);
	assert_string_equal(scan_plist_get(l, 2)->expr, "a+b");
	assert_int_equal(scan_plist_get(l, 3)->id, 10);
	assert_null(scan_plist_get(l, 4));
	md = scan_plist_md_new(l);
	assert_int_equal(scan_plist_scan(l, md, (const uint8_t *)subj, sizeof(subj) - 1, 0, count_cb,
					 &b, &limited), 5);
	assert_string_equal(b.p, "0:0-10\n1:12-16\n2:25-28\n2:38-41\n3:30-37\n");
	sbuf_free(&b);
	scan_plist_md_free(md);
	scan_plist_free(l);

	/* a catastrophic regex stops at the match limit instead of stalling */
	l = scan_plist_new(NULL, 10000);
	scan_plist_add(l, 1, "(a+)+$", SCAN_PAT_REGEX);
	assert_int_equal(scan_plist_compile(l, NULL, 0), 0);
	md = scan_plist_md_new(l);
	{
		char s[4096];

		memset(s, 'a', sizeof(s) - 2);
		s[sizeof(s) - 2] = '!';
		s[sizeof(s) - 1] = '\0';
		limited = 0;
		scan_plist_scan(l, md, (const uint8_t *)s, strlen(s), 0, count_cb, &b, &limited);
		print_message("  (a+)+$ on 4 KiB: limited %u\n", limited);
	}
	sbuf_free(&b);
	scan_plist_md_free(md);
	scan_plist_free(l);

	l = scan_plist_new(NULL, 0);
	scan_plist_add(l, 1, "[unclosed", SCAN_PAT_REGEX);
	assert_int_equal(scan_plist_compile(l, err, sizeof(err)), MXG_E_INVAL);
	assert_non_null(strstr(err, "pattern 0"));
	scan_plist_free(l);
}

static struct scan_cfilter *rules(void)
{
	struct scan_cfilter *cf = scan_cfilter_new(NULL);
	static const char *const spam[] = { "viagra", "lottery winner" };
	static const char *const exe[] = { "\\.(exe|scr|js)$" };
	static const char *const xm[] = { "bulk-mailer" };
	static const char *const body[] = { "wire transfer", "urgent" };
	static const uint32_t ci[] = { SCAN_PAT_CASELESS, SCAN_PAT_CASELESS };
	static const uint32_t rx[] = { SCAN_PAT_REGEX | SCAN_PAT_CASELESS };
	char err[128];
	int r;

	assert_non_null(cf);
	r = scan_cfilter_add_rule(cf, "spam-words", SCAN_CF_ANY);
	assert_int_equal(scan_cfilter_add_text(cf, r, 1u << SCAN_CF_SUBJECT | 1u << SCAN_CF_BODY, NULL,
					       spam, ci, 2), 0);
	r = scan_cfilter_add_rule(cf, "exe-attachment", SCAN_CF_ANY);
	scan_cfilter_add_text(cf, r, 1u << SCAN_CF_ATTACH_NAME, NULL, exe, rx, 1);
	r = scan_cfilter_add_rule(cf, "mailer", SCAN_CF_ANY);
	scan_cfilter_add_text(cf, r, 1u << SCAN_CF_HEADER, "X-Mailer", xm, ci, 1);
	r = scan_cfilter_add_rule(cf, "big-and-urgent", SCAN_CF_ALL);
	scan_cfilter_add_text(cf, r, 1u << SCAN_CF_BODY, NULL, body, ci, 2);
	scan_cfilter_add_attach_size(cf, r, 1000000, 0);
	r = scan_cfilter_add_rule(cf, "many-attachments", SCAN_CF_ANY);
	scan_cfilter_add_attach_count(cf, r, 3);
	scan_cfilter_add_msg_size(cf, r, 20000000);
	r = scan_cfilter_add_rule(cf, "any-header", SCAN_CF_ANY);
	{
		static const char *const h[] = { "^Received: from evil" };
		static const uint32_t f[] = { SCAN_PAT_REGEX };

		scan_cfilter_add_text(cf, r, 1u << SCAN_CF_HEADER, NULL, h, f, 1);
	}
	assert_int_equal(scan_cfilter_add_text(cf, r, 0, NULL, spam, NULL, 2), MXG_E_INVAL);
	assert_int_equal(scan_cfilter_compile(cf, err, sizeof(err)), 0);
	assert_int_equal(scan_cfilter_rule_count(cf), 6);
	assert_int_equal(scan_plist_count(scan_cfilter_plist(cf)), 7);
	assert_int_equal(scan_plist_get(scan_cfilter_plist(cf), 2)->id, 1u << 16);
	return cf;
}

/* Evaluates and returns "rule:field " for each hit. */
static char *eval(struct scan_cf_eval *ev, const char *body, size_t split,
		  const struct scan_cf_input *in)
{
	const struct scan_cf_hit *hits;
	struct sbuf b = { 0 };
	int n;

	scan_cf_eval_reset(ev);
	if (body != NULL) {
		size_t len = strlen(body);

		if (split > len)
			split = len;
		scan_cf_eval_body(ev, (const uint8_t *)body, split);
		scan_cf_eval_body(ev, (const uint8_t *)body + split, len - split);
	}
	n = scan_cf_eval_finish(ev, in, &hits);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++)
		sbuf_printf(&b, "%u:%d ", hits[i].rule, (int)hits[i].field);
	sbuf_add(&b, "", 0);
	return b.p;
}

static void test_rules(void **state)
{
	struct scan_cfilter *cf = rules();
	struct scan_cf_eval *ev = scan_cf_eval_new(cf, NULL);
	struct scan_cf_header hdr[] = {
		{ "Received", "from evil.example by mx", 24 },
		{ "x-mailer", "Bulk-Mailer 2.0", 15 },
		{ "Subject", "bulk-mailer", 11 },
	};
	struct scan_cf_attachment att[] = {
		{ "report.pdf", 2000000 }, { "invoice.PDF.exe", 1000 }, { NULL, 10 }, { "c.txt", 1 },
	};
	struct scan_cf_input in = { .subject = "You are a LOTTERY WINNER", .subject_len = 24 };
	char *r;

	r = eval(ev, NULL, 0, &in);
	assert_string_equal(r, "0:0 ");
	free(r);
	in.subject = "hello";
	in.subject_len = 5;
	r = eval(ev, "nothing here", 0, &in);
	assert_string_equal(r, "");
	free(r);
	/* body keyword at every split; the big-and-urgent rule needs both */
	{
		static const char body[] = "Please make the wire transfer today, it is urgent.";

		in.attachments = att;
		in.nattachments = 1;
		for (size_t s = 0; s <= sizeof(body) - 1; s++) {
			r = eval(ev, body, s, &in);
			assert_string_equal(r, "3:1 ");
			free(r);
		}
		in.nattachments = 0;
		r = eval(ev, body, 10, &in);
		assert_string_equal(r, "");
		free(r);
	}
	in.attachments = att;
	in.nattachments = 4;
	in.headers = hdr;
	in.nheaders = 3;
	r = eval(ev, "viagra", 3, &in);
	/* spam (body), exe attachment, X-Mailer (named, value only; the
	 * "Subject: bulk-mailer" header does not count), 4 > 3 attachments,
	 * the any-header regex on "Received: from evil" */
	assert_string_equal(r, "0:1 1:3 2:2 4:4 5:2 ");
	free(r);
	in.nattachments = 0;
	in.nheaders = 0;
	in.msg_size = 30000000;
	r = eval(ev, NULL, 0, &in);
	assert_string_equal(r, "4:4 ");
	free(r);
	/* a body keyword across a window boundary (long body) */
	{
		struct sbuf b = { 0 };

		for (int i = 0; i < 1200; i++)
			sbuf_add(&b, "lorem ipsum ", 12);
		sbuf_add(&b, "lottery winner", 14);
		sbuf_add(&b, "", 0);
		in.msg_size = 0;
		for (size_t s = b.n - 20; s < b.n; s++) {
			r = eval(ev, b.p, s, &in);
			assert_string_equal(r, "0:1 ");
			free(r);
		}
		sbuf_free(&b);
	}
	scan_cf_eval_free(ev);
	scan_cfilter_free(cf);
}

static void test_failing_alloc(void **state)
{
	int ok = 0;

	for (unsigned long n = 1; n < 300 && !ok; n++) {
		struct failmem fm;
		struct scan_cfilter *cf;
		struct scan_cf_eval *ev = NULL;
		static const char *const p[] = { "alpha", "be+ta" };
		static const uint32_t f[] = { 0, SCAN_PAT_REGEX };
		int r, rc = 0;

		failmem_init(&fm, n);
		cf = scan_cfilter_new(&fm.mem);
		if (cf != NULL) {
			r = scan_cfilter_add_rule(cf, "r", SCAN_CF_ANY);
			if (r >= 0)
				rc = scan_cfilter_add_text(cf, r, 1u << SCAN_CF_BODY | 1u << SCAN_CF_HEADER,
							   NULL, p, f, 2);
			if (r >= 0 && rc == 0)
				rc = scan_cfilter_compile(cf, NULL, 0);
			if (r >= 0 && rc == 0)
				ev = scan_cf_eval_new(cf, &fm.mem);
			if (ev != NULL) {
				struct scan_cf_header h = { "X-Long", "a beeeta value", 14 };
				struct scan_cf_input in = { .headers = &h, .nheaders = 1 };
				const struct scan_cf_hit *hits;

				scan_cf_eval_body(ev, (const uint8_t *)"xx", 2);
				rc = scan_cf_eval_finish(ev, &in, &hits);
				assert_true(rc == 1 || rc == MXG_E_NOMEM);
				if (rc == 1 && fm.n < n)
					ok = 1;
			}
			scan_cf_eval_free(ev);
			scan_cfilter_free(cf);
		}
		assert_int_equal(fm.live, 0);
	}
	assert_true(ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plist),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_failing_alloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
