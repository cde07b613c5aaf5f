/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_mime_header.c - RFC 2047 encoded words and RFC 2045/2231 parameters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mime_codec.h"

static void dec(const char *in, const char *want, uint32_t want_err)
{
	char out[512];
	uint32_t err = 0;

	mime_hdr_decode_2047(in, strlen(in), out, sizeof(out), &err);
	if (strcmp(out, want) != 0)
		fail_msg("\"%s\" -> \"%s\", want \"%s\"", in, out, want);
	assert_int_equal(err, want_err);
}

static void test_2047(void **state)
{
	(void)state;
	dec("plain text", "plain text", 0);
	dec("=?utf-8?B?SGVsbG8gV8O2cmxk?=", "Hello W\xc3\xb6rld", 0);
	dec("=?ISO-8859-1?Q?caf=E9_au_lait?=", "caf\xc3\xa9 au lait", 0);
	/* Whitespace between adjacent words goes. */
	dec("=?utf-8?q?a?= =?utf-8?q?b?=", "ab", 0);
	dec("x =?utf-8?q?a?=  y", "x a  y", 0);
	/* A multibyte char split across two words. */
	dec("=?utf-8?B?ww==?= =?utf-8?B?qQ==?=", "\xc3\xa9", 0);
	dec("=?utf-8?Q?=C3?= =?utf-8?Q?=A9?=", "\xc3\xa9", 0);
	/* Inside quotes and without spaces (Outlook). */
	dec("\"=?utf-8?B?cmVjaG51bmcuZXhl?=\"", "\"rechnung.exe\"", 0);
	dec("pre=?utf-8?q?x?=post", "prexpost", 0);
	/* Language suffix (RFC 2231). */
	dec("=?utf-8*en?q?hi?=", "hi", 0);
	/* Broken words stay literal. */
	dec("=?utf-8?X?abc?=", "=?utf-8?X?abc?=", 1);
	dec("=?utf-8?q?unterminated", "=?utf-8?q?unterminated", 1);
	/* Unknown charset: latin1. */
	dec("=?x-bogus?q?caf=E9?=", "caf\xc3\xa9", 0);
	/* Raw latin1 8-bit in a header. */
	dec("caf\xe9", "caf\xc3\xa9", 0);
	dec("=?koi8-r?b?8NLJ18XU?=", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", 0);
}

struct pc {
	char tok[64];
	char out[1024];
};

static void on_param(const char *name, const char *value, void *ud)
{
	struct pc *c = ud;
	size_t l = strlen(c->out);

	snprintf(c->out + l, sizeof(c->out) - l, "[%s=%s]", name, value);
}

static void par(const char *in, const char *tok, const char *want)
{
	struct pc c = { .out = "" };
	struct mime_hdr_param_cb cb = { .on_param = on_param };

	mime_hdr_parse_params(in, strlen(in), c.tok, sizeof(c.tok), &cb, &c);
	if (strcmp(c.tok, tok) != 0 || strcmp(c.out, want) != 0)
		fail_msg("\"%s\" -> %s %s, want %s %s", in, c.tok, c.out, tok, want);
}

static void test_params(void **state)
{
	(void)state;
	par("text/plain", "text/plain", "");
	par("Text/HTML; Charset=\"UTF-8\"", "text/html", "[charset=UTF-8]");
	par("multipart/mixed;\r\n\tboundary=\"----=_Part_1\"", "multipart/mixed",
	    "[boundary=----=_Part_1]");
	par("text/plain;; charset=us-ascii;", "text/plain", "[charset=us-ascii]");
	par("text/plain charset=us-ascii", "text/plain", "[charset=us-ascii]");
	par("text / plain ; a = 1", "text/plain", "[a=1]");
	par("attachment; filename=my file.exe", "attachment", "[filename=my file.exe]");
	par("attachment; filename=\"a\\\"b.txt\"", "attachment", "[filename=a\"b.txt]");
	par("attachment; filename=\"unterminated", "attachment", "[filename=unterminated]");
	par("a/b; x=1 y=2", "a/b", "[x=1][y=2]");
	par("a/b; (comment) x=1", "a/b", "[x=1]");
	/* RFC 2231: continuations, charset, percent-encoding, order. */
	par("attachment; filename*1*=%2Epdf; filename*0*=utf-8''R%C3%A4ch", "attachment",
	    "[filename=R\xc3\xa4" "ch.pdf]");
	par("attachment; filename*=iso-8859-1'de'caf%E9.txt", "attachment",
	    "[filename=caf\xc3\xa9.txt]");
	par("attachment; filename*0=\"long \"; filename*1=\"name.txt\"", "attachment",
	    "[filename=long name.txt]");
	/* RFC 2231 form first, then the plain one. */
	par("attachment; filename=plain.txt; filename*=utf-8''ext.exe", "attachment",
	    "[filename=ext.exe][filename=plain.txt]");
	/* Encoded words inside quoted name/filename (Outlook). */
	par("application/x; name=\"=?utf-8?B?w6kuZXhl?=\"", "application/x",
	    "[name=\xc3\xa9.exe]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_2047),
		cmocka_unit_test(test_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
