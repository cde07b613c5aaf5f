/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_mime_html.c - the HTML reducer: text, entities, script/style
 * removal, links; every split of the input gives the same result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mime_codec.h"

struct res {
	char text[4096];
	size_t nt;
	char links[8192];
};

static void on_text(const uint8_t *p, size_t n, void *ud)
{
	struct res *r = ud;

	assert_true(r->nt + n < sizeof(r->text));
	memcpy(r->text + r->nt, p, n);
	r->nt += n;
	r->text[r->nt] = '\0';
}

static void on_link(const char *url, size_t n, bool trunc, void *ud)
{
	struct res *r = ud;
	size_t l = strlen(r->links);

	assert_int_equal(strlen(url), n);
	snprintf(r->links + l, sizeof(r->links) - l, "[%s%s]", url, trunc ? "..." : "");
}

static void check(const char *in, const char *text, const char *links)
{
	struct mime_html_callbacks cb = { .on_text = on_text, .on_link = on_link };
	size_t len = strlen(in);

	for (size_t s = 0; s <= len; s++) {
		struct res r = { .nt = 0 };
		struct mime_html *h = mime_html_new(NULL, &cb, &r);

		assert_non_null(h);
		mime_html_feed(h, (const uint8_t *)in, s);
		mime_html_feed(h, (const uint8_t *)in + s, len - s);
		mime_html_finish(h);
		mime_html_free(h);
		if (strcmp(r.text, text) != 0 || strcmp(r.links, links) != 0)
			fail_msg("split %zu of \"%s\":\n text \"%s\" want \"%s\"\n links %s want %s",
				 s, in, r.text, text, r.links, links);
	}
}

static void test_text(void **state)
{
	(void)state;
	check("<p>Hello <b>World</b></p>", "\nHello World\n", "");
	check("a &amp; b &lt;c&gt; &#65;&#x42;&#X43; &nbsp;.", "a & b <c> ABC \xc2\xa0.", "");
	check("&unknown; &amp &#xZZ; &", "&unknown; & &#xZZ; &", "");
	check("x<script>var a='</p>';</script>y<style>p{}</style>z", "xyz", "");
	check("x<SCRIPT type=a>if (a<b) {}</Script >y", "xy", "");
	check("a<!-- <p>hidden</p> -->b<!DOCTYPE html>c", "abc", "");
	check("1 < 2 and 3 <4", "1 < 2 and 3 <4", "");
	check("line<br/>break", "line\nbreak", "");
	check("&#0;&#xD800;&#x110000;", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "");
}

static void test_links(void **state)
{
	(void)state;
	check("<a href=\"http://a.example/?x=1&amp;y=2\">t</a>", "t",
	      "[http://a.example/?x=1&y=2]");
	check("<A HREF='h&#116;tp://b.example/'>t</A>", "t", "[http://b.example/]");
	check("<img src=http://c.example/i.png alt=x>", "", "[http://c.example/i.png]");
	check("<form action=\" /post \"><td background=bg.gif>", "\n", "[/post][bg.gif]");
	check("<a title=\"href=no\" href=yes>", "", "[yes]");
	check("<a href=\"unterminated", "", "[unterminated]");
}

/* data: URIs: the trace is "<type;b64?|bytes|eN>" per URI (bytes outside
 * 0x20-0x7e as \xHH). */
struct dres {
	struct res r;
	char data[8192];
	int open;
};

static void dappend(struct dres *d, const char *s)
{
	size_t l = strlen(d->data);

	snprintf(d->data + l, sizeof(d->data) - l, "%s", s);
}

static void on_dtext(const uint8_t *p, size_t n, void *ud)
{
	on_text(p, n, &((struct dres *)ud)->r);
}

static void on_dlink(const char *url, size_t n, bool trunc, void *ud)
{
	on_link(url, n, trunc, &((struct dres *)ud)->r);
}

static void on_dbegin(const char *mt, size_t n, bool b64, void *ud)
{
	struct dres *d = ud;
	char b[200];

	assert_int_equal(d->open, 0);
	assert_int_equal(strlen(mt), n);
	d->open = 1;
	snprintf(b, sizeof(b), "<%s%s|", mt, b64 ? ";b64" : "");
	dappend(d, b);
}

static void on_ddata(const uint8_t *p, size_t n, void *ud)
{
	struct dres *d = ud;
	char b[8];

	assert_int_equal(d->open, 1);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f)
			snprintf(b, sizeof(b), "%c", p[i]);
		else
			snprintf(b, sizeof(b), "\\x%02x", p[i]);
		dappend(d, b);
	}
}

static void on_dend(uint32_t errors, void *ud)
{
	struct dres *d = ud;
	char b[32];

	assert_int_equal(d->open, 1);
	d->open = 0;
	snprintf(b, sizeof(b), "|e%u>", errors);
	dappend(d, b);
}

static const struct mime_html_callbacks dcb = {
	.on_text = on_dtext, .on_link = on_dlink,
	.on_data_begin = on_dbegin, .on_data = on_ddata, .on_data_end = on_dend,
};

static void check_data(const char *in, const char *text, const char *links, const char *data)
{
	size_t len = strlen(in);

	for (size_t s = 0; s <= len; s++) {
		struct dres *d = calloc(1, sizeof(*d));
		struct mime_html *h = mime_html_new(NULL, &dcb, d);

		assert_non_null(h);
		mime_html_feed(h, (const uint8_t *)in, s);
		mime_html_feed(h, (const uint8_t *)in + s, len - s);
		mime_html_finish(h);
		mime_html_free(h);
		assert_int_equal(d->open, 0);
		if (strcmp(d->r.text, text) != 0 || strcmp(d->r.links, links) != 0 ||
		    strcmp(d->data, data) != 0)
			fail_msg("split %zu of \"%s\":\n text \"%s\" want \"%s\"\n links %s want %s\n"
				 " data %s want %s", s, in, d->r.text, text, d->r.links, links, d->data,
				 data);
		free(d);
	}
}

static void test_data_uri(void **state)
{
	(void)state;
	/* base64, in href and src; not links */
	check_data("<a href=\"data:text/plain;base64,SGVsbG8=\">t</a>", "t", "",
		   "<text/plain;b64|Hello|e0>");
	check_data("<img src='data:image/png;base64,AAEC/w=='><a href=http://x.example/>",
		   "", "[http://x.example/]", "<image/png;b64|\\x00\\x01\\x02\\xff|e0>");
	/* caseless scheme, spaces, parameters, entities in the payload */
	check_data("<a href=\" DATA:Text/HTML;charset=x ; BASE64  ,SGVs&#x62;G8&#61;\">",
		   "", "", "<text/html;b64|Hello|e0>");
	/* tab and newline removed anywhere (URL parser) */
	check_data("<a href=\"da\nta:;base\t64,SGV\r\nsbG8=\">", "", "", "<;b64|Hello|e0>");
	/* percent-encoded; bad escapes stay literal */
	check_data("<a href=\"data:,A%42%43 %4\">", "", "", "<|ABC %4|e0>");
	check_data("<a href=\"data:,%zz%4x%%41\">", "", "", "<|%zz%4x%A|e0>");
	check_data("<a href=\"data:application/x;base64,SGVsbG8%3D\">", "", "",
		   "<application/x;b64|Hello|e0>");
	/* ";base64" only at the end of the type; the fragment is not data */
	check_data("<a href=\"data:text/plain;base64;x=1,SGVsbG8=\">", "", "",
		   "<text/plain|SGVsbG8=|e0>");
	check_data("<a href=\"data:,abc#def\">", "", "", "<|abc|e0>");
	/* malformed base64: junk skipped and counted, a partial quantum */
	check_data("<a href=\"data:;base64,SG!!VsbG8=\">", "", "", "<;b64|Hello|e2>");
	check_data("<a href=\"data:;base64,SGVsbG\">", "", "", "<;b64|Hell|e1>");
	/* no ',' (or a fragment before it): no data, no link */
	check_data("<a href=\"data:text/plain\">x", "x", "", "");
	check_data("<a href=\"data:#,abc\">x", "x", "", "");
	/* not data: */
	check_data("<a href=\"datax:1\"><a href=dat><a title=\"data:,x\">", "", "[datax:1][dat]",
		   "");
	/* unquoted, two in a tag, unterminated at the end */
	check_data("<img src=data:,a b=1 src=data:,b>c", "c", "", "<|a|e0><|b|e0>");
	check_data("<a href=\"data:,abc", "", "", "<|abc|e0>");
	/* without the data callbacks a data: URI stays a link */
	check("<a href=\"data:,x\">", "", "[data:,x]");
}

/* A data: URI much longer than a link value, decoded in pieces. */
static size_t long_n, long_bad, long_ends;

static void on_long(const uint8_t *p, size_t n, void *ud)
{
	(void)ud;
	for (size_t i = 0; i < n; i++, long_n++)
		long_bad += p[i] != (uint8_t)"ABC"[long_n % 3];
}

static void on_long_begin(const char *mt, size_t n, bool b64, void *ud)
{
	(void)mt;
	(void)n;
	(void)ud;
	assert_true(b64);
}

static void on_long_end(uint32_t errors, void *ud)
{
	(void)ud;
	assert_int_equal(errors, 0);
	long_ends++;
}

static void test_data_uri_long(void **state)
{
	const struct mime_html_callbacks cb = {
		.on_text = on_text, .on_link = on_link,
		.on_data_begin = on_long_begin, .on_data = on_long, .on_data_end = on_long_end,
	};
	struct res r = { .nt = 0 };
	struct mime_html *h = mime_html_new(NULL, &cb, &r);
	size_t n = 400000, i;
	char *big = malloc(n);

	(void)state;
	assert_non_null(h);
	for (i = 0; i < n; i++)
		big[i] = "QUJD"[i % 4];
	mime_html_feed(h, (const uint8_t *)"<a href=\"data:;base64,", 22);
	for (i = 0; i < n; i += 7)
		mime_html_feed(h, (const uint8_t *)big + i, n - i < 7 ? n - i : 7);
	mime_html_feed(h, (const uint8_t *)"\">x", 3);
	mime_html_finish(h);
	mime_html_free(h);
	assert_int_equal(long_n, 300000);
	assert_int_equal(long_bad, 0);
	assert_int_equal(long_ends, 1);
	assert_string_equal(r.text, "x");
	assert_string_equal(r.links, "");
	free(big);
}

static void test_long_value(void **state)
{
	struct mime_html_callbacks cb = { .on_text = on_text, .on_link = on_link };
	struct res r = { .nt = 0 };
	struct mime_html *h = mime_html_new(NULL, &cb, &r);
	char *big = malloc(10000);

	(void)state;
	memset(big, 'a', 10000);
	mime_html_feed(h, (const uint8_t *)"<a href=\"", 9);
	mime_html_feed(h, (const uint8_t *)big, 10000);
	mime_html_feed(h, (const uint8_t *)"\">x", 3);
	mime_html_finish(h);
	assert_int_equal(strlen(r.links), 4096 + 5);
	assert_string_equal(r.text, "x");
	mime_html_free(h);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_long_value),
		cmocka_unit_test(test_data_uri),
		cmocka_unit_test(test_data_uri_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
