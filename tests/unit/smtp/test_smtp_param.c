/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_smtp_param.c - MAIL/RCPT parameters and XCLIENT/XFORWARD attributes
 * (smtp_param.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtp.h"
#include "smtp_int.h"

static int mail(const char *arg, struct smtp_cmd *c, uint32_t ext)
{
	const char *enh = NULL, *why = NULL;

	memset(c, 0, sizeof(*c));
	return smtp_param_mail(arg, strlen(arg), c, ext, &enh, &why);
}

static int rcpt(const char *arg, struct smtp_cmd *c, uint32_t ext)
{
	const char *enh = NULL, *why = NULL;

	memset(c, 0, sizeof(*c));
	return smtp_param_rcpt(arg, strlen(arg), c, ext, &enh, &why);
}

static void test_smtp_param_mail(void **state)
{
	struct smtp_cmd c;

	assert_int_equal(mail("FROM:<a@b> SIZE=123 BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=x+2By",
			      &c, SMTP_EXT_DEFAULT), 0);
	assert_int_equal(c.path_len, 3);
	assert_memory_equal(c.path, "a@b", 3);
	assert_int_equal(c.size, 123);
	assert_int_equal(c.body, SMTP_BODY_8BITMIME);
	assert_true(c.smtputf8);
	assert_int_equal(c.ret, SMTP_RET_FULL);
	assert_int_equal(c.envid_len, 5);
	assert_int_equal(mail("from: <>", &c, SMTP_EXT_DEFAULT), 0);
	assert_int_equal(c.path_len, 0);
	assert_int_equal(mail("FROM:<\"a b>\"@c>", &c, SMTP_EXT_DEFAULT), 0);
	assert_int_equal(c.path_len, 8);
	assert_int_equal(mail("FROM:<a@b>SIZE=1", &c, SMTP_EXT_DEFAULT), 501);
	assert_int_equal(mail("FROM:<a@b", &c, SMTP_EXT_DEFAULT), 501);
	assert_int_equal(mail("FROM:<a<b>", &c, SMTP_EXT_DEFAULT), 501);
	assert_int_equal(mail("FROM:<a@b> SIZE=1", &c, 0), 555);
	assert_int_equal(mail("FROM:<a@b> SIZE=99999999999999999999999", &c, SMTP_EXT_DEFAULT), 555);
	assert_int_equal(mail("FROM:<a@b> RET=FULL RET=HDRS", &c, SMTP_EXT_DEFAULT), 555);
	assert_int_equal(mail("FROM:<a@b> ENVID=a ENVID=b", &c, SMTP_EXT_DEFAULT), 555);
	assert_int_equal(mail("FROM:<a@b> ENVID=+zz", &c, SMTP_EXT_DEFAULT), 555);
	assert_int_equal(mail("FROM:<a@b> ENVID=+4", &c, SMTP_EXT_DEFAULT), 555);
	assert_int_equal(mail("FROM:<a@b> SMTPUTF8=yes", &c, SMTP_EXT_DEFAULT), 555);
	assert_int_equal(mail("FROM:<a\x01@b>", &c, SMTP_EXT_DEFAULT), 501);
	{
		char big[400] = "FROM:<";

		memset(big + 6, 'a', 300);
		strcpy(big + 306, ">");
		assert_int_equal(mail(big, &c, SMTP_EXT_DEFAULT), 501);
	}
}

static void test_smtp_param_rcpt(void **state)
{
	struct smtp_cmd c;

	assert_int_equal(rcpt("TO:<b@c> NOTIFY=DELAY,FAILURE ORCPT=rfc822;b+40c", &c, SMTP_EXT_DEFAULT), 0);
	assert_int_equal(c.notify, SMTP_NOTIFY_DELAY | SMTP_NOTIFY_FAILURE);
	assert_int_equal(c.orcpt_len, strlen("rfc822;b+40c"));
	assert_int_equal(rcpt("TO:<b@c> NOTIFY=NEVER", &c, SMTP_EXT_DEFAULT), 0);
	assert_int_equal(c.notify, SMTP_NOTIFY_NEVER);
	assert_int_equal(rcpt("TO:<b@c> NOTIFY=", &c, SMTP_EXT_DEFAULT), 555);
	assert_int_equal(rcpt("TO:<b@c> NOTIFY=SUCCESS,", &c, SMTP_EXT_DEFAULT), 555);
	assert_int_equal(rcpt("TO:<b@c> NOTIFY=NEVER,SUCCESS", &c, SMTP_EXT_DEFAULT), 555);
	assert_int_equal(rcpt("TO:<b@c> ORCPT=;x", &c, SMTP_EXT_DEFAULT), 555);
	assert_int_equal(rcpt("TO:<b@c> NOTIFY=NEVER", &c, 0), 555);
	assert_int_equal(rcpt("TO:<>", &c, SMTP_EXT_DEFAULT), 501);
	assert_int_equal(rcpt("FROM:<b@c>", &c, SMTP_EXT_DEFAULT), 501);
}

static void test_smtp_param_xattr(void **state)
{
	struct smtp_peer p;
	const char *why = NULL;
	char buf[64];
	const char *a = "NAME=host+2Eexample ADDR=IPv6:2001:db8::1 PORT=25 PROTO=ESMTP HELO=h SOURCE=LOCAL IDENT=x";

	memset(&p, 0, sizeof(p));
	assert_int_equal(smtp_param_xattr(a, strlen(a), false, &p, &why), 0);
	assert_string_equal(p.name, "host.example");
	assert_string_equal(mxg_ip_str(&p.addr, buf, sizeof(buf)), "2001:db8::1");
	assert_int_equal(p.port, 25);
	assert_string_equal(p.source, "LOCAL");
	a = "NAME=[UNAVAILABLE] ADDR=[TEMPUNAVAIL]";
	assert_int_equal(smtp_param_xattr(a, strlen(a), false, &p, &why), 0);
	assert_string_equal(p.name, "");
	assert_int_equal(p.addr.family, 0);
	a = "SOURCE=LOCAL";
	assert_int_equal(smtp_param_xattr(a, strlen(a), true, &p, &why), 501);
	a = "LOGIN=u DESTPORT=25";
	assert_int_equal(smtp_param_xattr(a, strlen(a), true, &p, &why), 0);
	a = "PORT=65536";
	assert_int_equal(smtp_param_xattr(a, strlen(a), false, &p, &why), 501);
	a = "NAME=a+0Db";
	assert_int_equal(smtp_param_xattr(a, strlen(a), false, &p, &why), 501);
	a = "NAME";
	assert_int_equal(smtp_param_xattr(a, strlen(a), false, &p, &why), 501);
	a = "   ";
	assert_int_equal(smtp_param_xattr(a, strlen(a), false, &p, &why), 501);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_param_mail),
		cmocka_unit_test(test_smtp_param_rcpt),
		cmocka_unit_test(test_smtp_param_xattr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
