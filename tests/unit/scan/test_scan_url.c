/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_url.c - URL normalisation table (defanged forms, userinfo,
 * numeric IPv4 hosts, IDN, percent-encoding, dot segments, ports), text
 * extraction with every split offset and byte by byte, HTML links, limits,
 * registrable-domain guesses and a failing allocator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mxg_err.h"
#include "scan_test.h"
#include "scan_url.h"

struct norm_case {
	const char *in;
	const char *out; /* NULL: rejected */
	uint32_t flags;  /* flags that must be set */
};

static const struct norm_case norm[] = {
	{ "http://Example.COM:80/a/./b/../c?x=1#frag", "http://example.com/a/c?x=1", 0 },
	{ "hxxp://evil[.]com/path", "http://evil.com/path", SCAN_URLF_DEFANGED },
	{ "hxxps[:]//bad(.)example[.]org", "https://bad.example.org/", SCAN_URLF_DEFANGED },
	{ "hXXp://evil[dot]com", "http://evil.com/", SCAN_URLF_DEFANGED },
	{ "http://evil [.] com/x", "http://evil.com/x", SCAN_URLF_DEFANGED },
	{ "HTTPS://WWW.Example.com:443", "https://www.example.com/", 0 },
	{ "http://example.com:8080/%7Euser/%41%2f", "http://example.com:8080/~user/A%2F",
	  SCAN_URLF_PORT },
	{ "http://paypal.com@evil.example/login", "http://evil.example/login", SCAN_URLF_USERINFO },
	{ "http://user:pw@evil.example:8080/", "http://evil.example:8080/",
	  SCAN_URLF_USERINFO | SCAN_URLF_PORT },
	{ "http://3232235777/", "http://192.168.1.1/", SCAN_URLF_IP | SCAN_URLF_NUMERIC_IP },
	{ "http://0xC0.0250.1.1/", "http://192.168.1.1/", SCAN_URLF_IP | SCAN_URLF_NUMERIC_IP },
	{ "http://0x7f000001", "http://127.0.0.1/", SCAN_URLF_NUMERIC_IP },
	{ "http://127.1/", "http://127.0.0.1/", SCAN_URLF_NUMERIC_IP },
	{ "http://10.0.0.1/", "http://10.0.0.1/", SCAN_URLF_IP },
	{ "http://256.1.1.1/", NULL, 0 },
	{ "http://1.2.3.4.5/", NULL, 0 },
	{ "http://b\xc3\xbc" "cher.example/", "http://xn--bcher-kva.example/", SCAN_URLF_IDN },
	{ "http://\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88/",
	  "http://xn--r8jz45g.xn--zckzah/", SCAN_URLF_IDN },
	{ "http://\xe4\xbe\x8b\xe3\x81\x88\xe3\x80\x82\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88/",
	  "http://xn--r8jz45g.xn--zckzah/", SCAN_URLF_IDN },
	{ "http://ex%61mple.com/", "http://example.com/", SCAN_URLF_PCT_HOST },
	{ "http://example.com./", "http://example.com/", 0 },
	{ "http:\\\\example.com\\a\\b", "http://example.com/a/b", 0 },
	{ "www.example.com/x", "http://www.example.com/x", SCAN_URLF_NO_SCHEME },
	{ "ftp://files.example.com:21/pub", "ftp://files.example.com/pub", 0 },
	{ "http://[2001:DB8::1]:8080/", "http://[2001:db8::1]:8080/", SCAN_URLF_IP | SCAN_URLF_PORT },
	{ "http://example.com/a b", "http://example.com/a%20b", 0 },
	{ "http://example.com/%2e%2e/%2E/x", "http://example.com/x", 0 },
	{ "http://example.com/a/b/..", "http://example.com/a/", 0 },
	{ "http://example.com/../../x", "http://example.com/x", 0 },
	{ "http://example.com?q=%zz", "http://example.com/?q=%25zz", 0 },
	{ "http://example.com:99999/", NULL, 0 },
	{ "http://exa mple.com/", NULL, 0 },
	{ "http:relative", NULL, 0 },
	{ "mailto:a@b.com", NULL, 0 },
	{ "javascript:alert(1)", NULL, 0 },
	{ "cid:part1@x", NULL, 0 },
	{ "/relative/path", NULL, 0 },
};

static void test_normalize_table(void **state)
{
	for (size_t i = 0; i < sizeof(norm) / sizeof(norm[0]); i++) {
		char out[1024];
		uint32_t f = 0;
		int r = scan_url_normalize(norm[i].in, strlen(norm[i].in), out, sizeof(out), &f);

		if (norm[i].out == NULL) {
			if (r >= 0)
				fail_msg("%s: accepted as %s", norm[i].in, out);
			continue;
		}
		if (r < 0)
			fail_msg("%s: rejected (%d)", norm[i].in, r);
		if (strcmp(out, norm[i].out) != 0)
			fail_msg("%s: got %s want %s", norm[i].in, out, norm[i].out);
		if ((f & norm[i].flags) != norm[i].flags)
			fail_msg("%s: flags 0x%x want 0x%x", norm[i].in, f, norm[i].flags);
		assert_int_equal(r, strlen(out));
	}
	/* too small an output buffer */
	{
		char out[8];

		assert_int_equal(scan_url_normalize("http://example.com/", 19, out, sizeof(out), NULL), -2);
	}
}

/* Normalising a normal form gives it back (fuzz_url's invariant): a
 * bracketed host that is no IPv6 address is not a URL (it came back as the
 * IPv4 host 0.0.0.0), and percent-encoding that grows a URL past the input
 * limit is cut there, never inside a %XX. */
static void test_normalize_idempotent(void **state)
{
	static char in[6000], o1[16384], o2[16384];
	uint32_t fl = 0;
	int r1, r2;

	(void)state;
	assert_int_equal(scan_url_normalize("http://[0]/x", 12, o1, sizeof(o1), NULL), -1);
	r1 = scan_url_normalize("http://[0:0::1]/x", 17, o1, sizeof(o1), NULL);
	assert_true(r1 > 0);
	assert_string_equal(o1, "http://[::1]/x");
	strcpy(in, "http://a.test/");
	for (size_t i = strlen(in); i < 4000; i++)
		in[i] = (char)0xfd; /* each becomes %FD */
	r1 = scan_url_normalize(in, 4000, o1, sizeof(o1), &fl);
	assert_true(r1 > 0 && r1 <= 4096);
	assert_true(fl & SCAN_URLF_TRUNCATED);
	assert_true(o1[r1 - 1] == 'D' && o1[r1 - 3] == '%');
	r2 = scan_url_normalize(o1, (size_t)r1, o2, sizeof(o2), NULL);
	assert_int_equal(r2, r1);
	assert_string_equal(o1, o2);
}

static void test_domain(void **state)
{
	static const char *const t[][2] = {
		{ "www.example.com", "example.com" }, { "a.b.example.co.uk", "example.co.uk" },
		{ "example.co.uk", "example.co.uk" }, { "shop.example.ne.jp", "example.ne.jp" },
		{ "x.example.de", "example.de" },       { "localhost", "localhost" },
		{ "192.168.1.1", "192.168.1.1" },       { "2001:db8::1", "2001:db8::1" },
		{ "xn--r8jz45g.xn--zckzah", "xn--r8jz45g.xn--zckzah" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char d[256];

		scan_url_domain(t[i][0], d, sizeof(d));
		if (strcmp(d, t[i][1]) != 0)
			fail_msg("%s: %s want %s", t[i][0], d, t[i][1]);
	}
}

static const char text[] =
	"Visit hxxp://malware[.]example/payload.exe, or (see https://example.org/a_(b)) and\n"
	"www.test.co.uk/page. Also http://example.com:80/ again HTTP://EXAMPLE.COM/ and\n"
	"<http://x.example/y>. Spaced: evil [.] com is no URL but http://evil [.] com/z is.\n"
	"Mail me at bob@www.example.net, path/www.not-a-url.com, \"http://q.example/?a=1\".\n";

static const char text_trace[] =
	"http://malware.example/payload.exe 1 malware.example\n"
	"https://example.org/a_(b) 1 example.org\n"
	"http://www.test.co.uk/page 1 test.co.uk\n"
	"http://example.com/ 2 example.com\n"
	"http://x.example/y 1 x.example\n"
	"http://evil.com/z 1 evil.com\n"
	"http://q.example/?a=1 1 q.example\n";

static char *trace(const struct scan_url *u)
{
	struct sbuf b = { 0 };

	for (size_t i = 0; i < scan_url_count(u); i++) {
		const struct scan_url_entry *e = scan_url_get(u, i);

		sbuf_printf(&b, "%s %u %s\n", e->url, e->count, e->domain);
	}
	sbuf_add(&b, "", 0);
	return b.p;
}

static void test_text_every_split(void **state)
{
	size_t len = sizeof(text) - 1;
	struct scan_url *u = scan_url_new(NULL, NULL);
	char *tr;

	assert_non_null(u);
	for (size_t split = 0; split <= len + 1; split++) {
		scan_url_reset(u);
		if (split == len + 1) {
			for (size_t i = 0; i < len; i++)
				assert_int_equal(scan_url_feed(u, (const uint8_t *)text + i, 1), 0);
		} else {
			scan_url_feed(u, (const uint8_t *)text, split);
			scan_url_feed(u, (const uint8_t *)text + split, len - split);
		}
		assert_int_equal(scan_url_feed_end(u), 0);
		tr = trace(u);
		if (strcmp(tr, text_trace) != 0)
			fail_msg("split %zu:\n%s", split, tr);
		free(tr);
	}
	assert_true(scan_url_get(u, 0)->flags & SCAN_URLF_DEFANGED);
	assert_true(scan_url_get(u, 0)->flags & SCAN_URLF_TEXT);
	assert_string_equal(scan_url_get(u, 0)->host, "malware.example");
	scan_url_free(u);
}

static void test_long_text(void **state)
{
	struct scan_url *u = scan_url_new(NULL, NULL);
	struct sbuf t = { 0 };
	unsigned want = 0;

	srand(3);
	for (int i = 0; i < 400; i++) {
		int k = rand() % 300;

		for (int j = 0; j < k; j++)
			sbuf_add(&t, "text ", 5);
		sbuf_printf(&t, "https://h%d.example/p%d ", i, i);
		want++;
	}
	for (size_t off = 0, step = 1; off < t.n; step = step * 13 % 7919 + 1) {
		size_t k = step < t.n - off ? step : t.n - off;

		scan_url_feed(u, (const uint8_t *)t.p + off, k);
		off += k;
	}
	scan_url_feed_end(u);
	assert_int_equal(scan_url_count(u), want);
	for (size_t i = 0; i < want; i++) {
		char w[64];

		snprintf(w, sizeof(w), "https://h%zu.example/p%zu", i, i);
		assert_string_equal(scan_url_get(u, i)->url, w);
		assert_int_equal(scan_url_get(u, i)->count, 1);
	}
	sbuf_free(&t);
	scan_url_free(u);
}

static void test_html_links_and_limits(void **state)
{
	struct scan_url_limits lim = { .max_urls = 2, .max_len = 64 };
	struct scan_url *u = scan_url_new(NULL, &lim);
	static const char longurl[] =
		"http://long.example/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

	assert_int_equal(scan_url_add(u, "https://a.example/x", 19, SCAN_URLF_HTML), 1);
	assert_int_equal(scan_url_add(u, "HTTPS://A.EXAMPLE:443/x#top", 27, SCAN_URLF_HTML), 0);
	assert_int_equal(scan_url_add(u, "cid:image001", 12, SCAN_URLF_HTML), 0);
	assert_int_equal(scan_url_add(u, "/local", 6, SCAN_URLF_HTML), 0);
	assert_int_equal(scan_url_add(u, longurl, sizeof(longurl) - 1, SCAN_URLF_HTML), 1);
	assert_true(scan_url_get(u, 1)->flags & SCAN_URLF_TRUNCATED);
	assert_int_equal(scan_url_add(u, "http://third.example/", 21, 0), 0);
	assert_int_equal(scan_url_count(u), 2);
	assert_int_equal(scan_url_dropped(u), 1);
	assert_int_equal(scan_url_get(u, 0)->count, 2);
	assert_true(scan_url_get(u, 0)->flags & SCAN_URLF_HTML);
	assert_int_equal(scan_url_add(u, "http://a.example:8080/", 22, 0), 0);
	scan_url_reset(u);
	assert_int_equal(scan_url_count(u), 0);
	assert_int_equal(scan_url_add(u, "http://a.example:8080/", 22, 0), 1);
	assert_int_equal(scan_url_get(u, 0)->port, 8080);
	scan_url_free(u);
}

static void test_failing_alloc(void **state)
{
	int ok = 0;

	for (unsigned long n = 1; n < 100 && !ok; n++) {
		struct failmem fm;
		struct scan_url *u;
		int rc;

		failmem_init(&fm, n);
		u = scan_url_new(&fm.mem, NULL);
		if (u != NULL) {
			rc = scan_url_feed(u, (const uint8_t *)text, sizeof(text) - 1);
			if (rc == 0)
				rc = scan_url_feed_end(u);
			assert_true(rc == 0 || rc == MXG_E_NOMEM);
			if (rc == 0 && fm.n < n) {
				char *tr = trace(u);

				assert_string_equal(tr, text_trace);
				free(tr);
				ok = 1;
			}
			scan_url_free(u);
		}
		assert_int_equal(fm.live, 0);
	}
	assert_true(ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize_table),
		cmocka_unit_test(test_normalize_idempotent),
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_text_every_split),
		cmocka_unit_test(test_long_text),
		cmocka_unit_test(test_html_links_and_limits),
		cmocka_unit_test(test_failing_alloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
