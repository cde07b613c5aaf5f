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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
