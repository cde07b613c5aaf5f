/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_smtp_cli.c - the SMTP client engine (smtp_cli.c) against scripted
 * servers: tests/unit/smtp/cases/cli_*.in, each run whole, one byte per
 * call and split at every offset of every server block. Syntax:
 *	@flags nopipelining,nochunking,starttls,require_tls,noxforward
 *	@env from=a@x rcpt=b@y,c@y size=N body=8bit utf8 ret=hdrs envid=X
 *	     notify=success,failure orcpt=rfc822;b@y xforward
 *	S: line     the server sends line + CRLF (escapes as in the server cases)
 *	C: line     expected client output line (CRLF added)
 *	C+ bytes    expected client output bytes as written
 *	A: begin | write ESCAPED | end | quit | abort | closed | tls
 *	T: +N       advance time N seconds, run the timer
 *	E: event    next callback event: ready, starttls, data_ready,
 *	            rcpt IDX CODE, done delivered|failed CODE FAIL, closed WHY
 * Events must be consumed in order; none may be left over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <cmocka.h>

#include "smtp.h"
#include "smtp_test.h"

#define SEC MXG_NSEC_PER_SEC

struct cdrv {
	struct smtp_cli_config cfg;
	char env_line[1024];
	struct smtp_cli *c;
	mxg_tstamp now;
	struct bstr got, events;
	size_t ev_off;
	const char *file;
	int lineno;
	bool failed;
};

static void ev(struct cdrv *d, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	bstr_adds(&d->events, buf);
	bstr_adds(&d->events, "\n");
}

static void cb_ready(struct smtp_cli *c, void *ud) { ev(ud, "ready"); }
static void cb_rcpt(struct smtp_cli *c, size_t i, const struct smtp_reply *r, void *ud)
{
	ev(ud, "rcpt %zu %d", i, r->code);
}
static void cb_data_ready(struct smtp_cli *c, void *ud) { ev(ud, "data_ready"); }
static void cb_done(struct smtp_cli *c, const struct smtp_cli_result *r, void *ud)
{
	ev(ud, "done %s %d %d", r->delivered ? "delivered" : "failed", r->final->code, r->fail);
}
static int cb_starttls(struct smtp_cli *c, void *ud) { ev(ud, "starttls"); return 0; }
static void cb_closed(struct smtp_cli *c, enum smtp_cli_fail why, void *ud) { ev(ud, "closed %d", why); }

static const struct smtp_cli_callbacks cli_cb = {
	.on_ready = cb_ready, .on_rcpt_reply = cb_rcpt, .on_data_ready = cb_data_ready,
	.on_msg_done = cb_done, .on_starttls = cb_starttls, .on_closed = cb_closed,
};

static void drain(struct cdrv *d)
{
	const uint8_t *o;
	size_t n = smtp_cli_output(d->c, &o);

	bstr_add(&d->got, o, n);
	smtp_cli_output_consumed(d->c, n);
}

enum mode { M_WHOLE, M_BYTE, M_SPLIT };

static void feed_piece(struct cdrv *d, const char *p, size_t n)
{
	ssize_t r = smtp_cli_input(d->c, (const uint8_t *)p, n, d->now);

	/* negative: the session failed; the events say how */
	assert_true(r < 0 || (size_t)r == n);
	drain(d);
}

static void feed(struct cdrv *d, struct bstr *blk, enum mode m, size_t k)
{
	if (!blk->len)
		return;
	if (m == M_WHOLE || (m == M_SPLIT && (k == 0 || k >= blk->len))) {
		feed_piece(d, blk->p, blk->len);
	} else if (m == M_BYTE) {
		for (size_t i = 0; i < blk->len; i++)
			feed_piece(d, blk->p + i, 1);
	} else {
		feed_piece(d, blk->p, k);
		feed_piece(d, blk->p + k, blk->len - k);
	}
	bstr_reset(blk);
}

static void check_out(struct cdrv *d, struct bstr *exp, const char *how)
{
	drain(d);
	if (d->got.len != exp->len || memcmp(d->got.p ? d->got.p : "", exp->p ? exp->p : "", exp->len)) {
		fprintf(stderr, "%s:%d (%s): client output differs\n--- expected:\n", d->file, d->lineno, how);
		print_esc(stderr, exp->p ? exp->p : "", exp->len);
		fprintf(stderr, "\n--- got:\n");
		print_esc(stderr, d->got.p ? d->got.p : "", d->got.len);
		fprintf(stderr, "\n");
		d->failed = true;
	}
	bstr_reset(&d->got);
	bstr_reset(exp);
}

static void next_event(struct cdrv *d, const char *want)
{
	const char *p = d->events.p ? d->events.p + d->ev_off : "";
	const char *nl = strchr(p, '\n');
	size_t l = nl ? (size_t)(nl - p) : 0;

	if (!nl || l != strlen(want) || memcmp(p, want, l)) {
		fprintf(stderr, "%s:%d: expected event '%s', got '%.*s'\n", d->file, d->lineno, want,
			(int)(nl ? l : strlen(p)), p);
		d->failed = true;
		if (nl)
			d->ev_off += l + 1;
		return;
	}
	d->ev_off += l + 1;
}

/* Builds the envelope from the @env line and begins the message. */
static void begin(struct cdrv *d)
{
	char buf[1024], *tok, *save;
	struct smtp_envelope env;
	struct smtp_rcpt rcpt[16];
	struct smtp_xforward xf = { .name = "mail.example.org", .addr = "203.0.113.9",
				    .port = "4711", .proto = "ESMTP", .helo = "mail example",
				    .source = "REMOTE" };
	size_t n = 0;
	uint8_t notify = 0;
	const char *orcpt = NULL;

	memset(&env, 0, sizeof(env));
	memset(rcpt, 0, sizeof(rcpt));
	snprintf(buf, sizeof(buf), "%s", d->env_line);
	env.mail_from = "sender@example.org";
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (!strncmp(tok, "from=", 5)) {
			env.mail_from = tok + 5;
		} else if (!strncmp(tok, "rcpt=", 5)) {
			char *s2, *r;

			for (r = strtok_r(tok + 5, ",", &s2); r && n < 16; r = strtok_r(NULL, ",", &s2))
				rcpt[n++].addr = r;
		} else if (!strncmp(tok, "size=", 5)) {
			env.size = strtoull(tok + 5, NULL, 10);
		} else if (!strcmp(tok, "body=8bit")) {
			env.body = SMTP_BODY_8BITMIME;
		} else if (!strcmp(tok, "utf8")) {
			env.smtputf8 = true;
		} else if (!strcmp(tok, "ret=hdrs")) {
			env.ret = SMTP_RET_HDRS;
		} else if (!strncmp(tok, "envid=", 6)) {
			env.envid = tok + 6;
		} else if (!strncmp(tok, "notify=", 7)) {
			notify = strstr(tok, "never") ? SMTP_NOTIFY_NEVER :
				 (uint8_t)((strstr(tok, "success") ? SMTP_NOTIFY_SUCCESS : 0) |
					   (strstr(tok, "failure") ? SMTP_NOTIFY_FAILURE : 0) |
					   (strstr(tok, "delay") ? SMTP_NOTIFY_DELAY : 0));
		} else if (!strncmp(tok, "orcpt=", 6)) {
			orcpt = tok + 6;
		} else if (!strcmp(tok, "xforward")) {
			env.xforward = &xf;
		}
	}
	if (n == 0)
		rcpt[n++].addr = "rcpt@example.net";
	for (size_t i = 0; i < n; i++) {
		rcpt[i].notify = notify;
		rcpt[i].orcpt = orcpt;
	}
	env.rcpt = rcpt;
	env.nrcpt = n;
	assert_int_equal(smtp_cli_msg_begin(d->c, &env, d->now), 0);
}

static void action(struct cdrv *d, const char *a)
{
	if (!strcmp(a, "begin")) {
		begin(d);
	} else if (!strncmp(a, "write ", 6)) {
		struct bstr b = { 0 };

		bstr_add_esc(&b, a + 6);
		assert_int_equal(smtp_cli_data_write(d->c, (const uint8_t *)b.p, b.len, d->now), (ssize_t)b.len);
		bstr_free(&b);
	} else if (!strncmp(a, "write1 ", 7)) {
		struct bstr b = { 0 };

		bstr_add_esc(&b, a + 7);
		for (size_t i = 0; i < b.len; i++)
			assert_int_equal(smtp_cli_data_write(d->c, (const uint8_t *)b.p + i, 1, d->now), 1);
		bstr_free(&b);
	} else if (!strcmp(a, "end")) {
		assert_int_equal(smtp_cli_data_end(d->c, d->now), 0);
	} else if (!strcmp(a, "quit")) {
		assert_int_equal(smtp_cli_quit(d->c, d->now), 0);
	} else if (!strcmp(a, "abort")) {
		assert_int_equal(smtp_cli_msg_abort(d->c, d->now), 0);
	} else if (!strcmp(a, "closed")) {
		smtp_cli_closed(d->c);
	} else if (!strcmp(a, "tls")) {
		assert_int_equal(smtp_cli_tls_done(d->c, d->now), 0);
	} else if (!strcmp(a, "begin-invalid")) {
		struct smtp_rcpt r = { .addr = "a@b>\r\nRCPT TO:<evil" };
		struct smtp_envelope env = { .mail_from = "x@y", .rcpt = &r, .nrcpt = 1 };

		assert_int_equal(smtp_cli_msg_begin(d->c, &env, d->now), MXG_E_INVAL);
	} else {
		fail_msg("%s:%d: unknown action %s", d->file, d->lineno, a);
	}
	drain(d);
}

static size_t run_case(const char *name, char **lines, int nl, enum mode m, size_t k, bool *failed)
{
	struct cdrv d;
	struct bstr blk = { 0 }, exp = { 0 };
	size_t maxblk = 0;
	char how[32];
	bool started = false;

	memset(&d, 0, sizeof(d));
	smtp_cli_config_init(&d.cfg);
	d.cfg.helo_name = "gw.test";
	d.now = 1000 * SEC;
	d.file = name;
	snprintf(how, sizeof(how), m == M_WHOLE ? "whole" : m == M_BYTE ? "bytewise" : "split %zu", k);
	for (int i = 0; i <= nl; i++) {
		const char *line = i < nl ? lines[i] : NULL;
		char kind = line ? line[0] : 'Z';

		d.lineno = i + 1;
		if (line && (line[0] == '#' || !line[0]))
			continue;
		if (kind == '@') {
			if (!strncmp(line, "@env ", 5)) {
				snprintf(d.env_line, sizeof(d.env_line), "%s", line + 5);
			} else if (!strncmp(line, "@flags ", 7)) {
				if (strstr(line, "nopipelining")) d.cfg.flags |= SMTP_CLI_F_NO_PIPELINING;
				if (strstr(line, "nochunking")) d.cfg.flags |= SMTP_CLI_F_NO_CHUNKING;
				if (strstr(line, "require_tls")) d.cfg.flags |= SMTP_CLI_F_REQUIRE_TLS;
				if (strstr(line, "notls")) d.cfg.flags &= ~SMTP_CLI_F_STARTTLS;
				if (strstr(line, "noxforward")) d.cfg.flags &= ~SMTP_CLI_F_XFORWARD;
			} else {
				fail_msg("%s:%d: bad directive", name, i + 1);
			}
			continue;
		}
		if (!started) {
			d.c = smtp_cli_new(NULL, &d.cfg, &cli_cb, &d);
			assert_non_null(d.c);
			assert_int_equal(smtp_cli_start(d.c, d.now), 0);
			started = true;
		}
		if (kind == 'S') {
			if (exp.len)
				check_out(&d, &exp, how);
			bstr_add_esc(&blk, line + 3);
			if (line[1] == ':')
				bstr_adds(&blk, "\r\n");
			if (blk.len > maxblk)
				maxblk = blk.len;
			continue;
		}
		feed(&d, &blk, m, k);
		if (kind == 'C') {
			bstr_add_esc(&exp, line + 3);
			if (line[1] == ':')
				bstr_adds(&exp, "\r\n");
			continue;
		}
		if (exp.len || kind == 'Z' || kind == 'T')
			check_out(&d, &exp, how);
		if (kind == 'Z')
			break;
		if (kind == 'A') {
			action(&d, line + 3);
		} else if (kind == 'E') {
			next_event(&d, line + 3);
		} else if (kind == 'T') {
			d.now += (mxg_tstamp)atoll(line + 3) * SEC;
			assert_true(smtp_cli_on_timer(d.c, d.now) >= 0);
			drain(&d);
		} else {
			fail_msg("%s:%d: bad line", name, i + 1);
		}
	}
	if (d.events.p && d.ev_off < d.events.len) {
		fprintf(stderr, "%s (%s): events left over:\n%s", name, how, d.events.p + d.ev_off);
		d.failed = true;
	}
	if (d.failed)
		*failed = true;
	smtp_cli_free(d.c);
	bstr_free(&d.got);
	bstr_free(&d.events);
	bstr_free(&blk);
	bstr_free(&exp);
	return maxblk;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_smtp_cli_cases(void **state)
{
	const char *dirn = getenv("SMTP_CASES") ? getenv("SMTP_CASES") : "tests/unit/smtp/cases";
	DIR *dir = opendir(dirn);
	struct dirent *de;
	char *names[256];
	int n = 0, bad = 0;

	assert_non_null(dir);
	while ((de = readdir(dir)) && n < 256)
		if (!strncmp(de->d_name, "cli_", 4) && strstr(de->d_name, ".in"))
			names[n++] = strdup(de->d_name);
	closedir(dir);
	qsort(names, (size_t)n, sizeof(char *), cmp_str);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		char path[1024], buf[8192], *lines[1024];
		int nl = 0;
		bool failed = false;
		size_t maxblk;
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dirn, names[i]);
		f = fopen(path, "r");
		assert_non_null(f);
		while (nl < 1024 && fgets(buf, sizeof(buf), f)) {
			buf[strcspn(buf, "\r\n")] = '\0';
			lines[nl++] = strdup(buf);
		}
		fclose(f);
		maxblk = run_case(names[i], lines, nl, M_WHOLE, 0, &failed);
		if (!failed)
			run_case(names[i], lines, nl, M_BYTE, 0, &failed);
		for (size_t k = 1; k < maxblk && !failed; k++)
			run_case(names[i], lines, nl, M_SPLIT, k, &failed);
		printf("%-40s %s\n", names[i], failed ? "FAIL" : "ok");
		bad += failed;
		for (int j = 0; j < nl; j++)
			free(lines[j]);
		free(names[i]);
	}
	printf("%d client cases, %d failed\n", n, bad);
	assert_int_equal(bad, 0);
}

/* Dot-stuffing and line-end normalisation against a reference, for
 * random content written in random pieces. */
static void test_smtp_cli_dot_stuffing(void **state)
{
	static const char alphabet[] = { '.', '\r', '\n', 'a', '.', '\r', '\n', 'b' };
	unsigned seed = 12345;

	for (int iter = 0; iter < 2000; iter++) {
		struct smtp_cli_config cfg;
		struct smtp_cli *c;
		struct bstr in = { 0 }, want = { 0 }, out = { 0 };
		const uint8_t *o;
		size_t len, off = 0, n;
		bool bol = true;
		struct smtp_rcpt r = { .addr = "b@y" };
		struct smtp_envelope env = { .mail_from = "a@x", .rcpt = &r, .nrcpt = 1 };
		const char *srv = "220 x\r\n250 x\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n";

		seed = seed * 1103515245 + 12345;
		len = (seed >> 16) % 40;
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245 + 12345;
			bstr_add(&in, &alphabet[(seed >> 16) % sizeof(alphabet)], 1);
		}
		/* reference: every CR, LF or CRLF is a line end written as CRLF */
		for (size_t i = 0; i < in.len; i++) {
			if (bol && in.p[i] == '.')
				bstr_adds(&want, ".");
			bol = false;
			if (in.p[i] == '\r' || in.p[i] == '\n') {
				if (in.p[i] == '\r' && i + 1 < in.len && in.p[i + 1] == '\n')
					i++;
				bstr_adds(&want, "\r\n");
				bol = true;
			} else {
				bstr_add(&want, &in.p[i], 1);
			}
		}
		bstr_adds(&want, bol ? ".\r\n" : "\r\n.\r\n");

		smtp_cli_config_init(&cfg);
		c = smtp_cli_new(NULL, &cfg, NULL, NULL);
		assert_int_equal(smtp_cli_start(c, 0), 0);
		assert_int_equal(smtp_cli_input(c, (const uint8_t *)srv, 14, 0), 14);
		assert_int_equal(smtp_cli_msg_begin(c, &env, 0), 0);
		assert_int_equal(smtp_cli_input(c, (const uint8_t *)srv + 14, strlen(srv) - 14, 0),
				 (ssize_t)(strlen(srv) - 14));
		assert_int_equal(smtp_cli_state(c), SMTP_CLI_CONTENT);
		smtp_cli_output_consumed(c, smtp_cli_output(c, &o));
		while (off < in.len) {
			seed = seed * 1103515245 + 12345;
			n = 1 + (seed >> 16) % 5;
			if (n > in.len - off)
				n = in.len - off;
			assert_int_equal(smtp_cli_data_write(c, (const uint8_t *)in.p + off, n, 0), (ssize_t)n);
			off += n;
		}
		assert_int_equal(smtp_cli_data_end(c, 0), 0);
		n = smtp_cli_output(c, &o);
		bstr_add(&out, o, n);
		if (out.len != want.len || memcmp(out.p, want.p, want.len)) {
			print_esc(stderr, in.p ? in.p : "", in.len);
			fprintf(stderr, "\n");
			fail_msg("dot-stuffing differs (iteration %d)", iter);
		}
		smtp_cli_free(c);
		bstr_free(&in);
		bstr_free(&want);
		bstr_free(&out);
	}
}

static void test_smtp_cli_failmem(void **state)
{
	const char *srv1 = "220 x\r\n250-x\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
	const char *srv2 = "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n";

	for (long n = 1; n < 200; n++) {
		struct failmem fm;
		struct smtp_cli_config cfg;
		struct smtp_cli *c;
		struct smtp_rcpt r[2] = { { .addr = "b@y" }, { .addr = "c@y" } };
		struct smtp_envelope env = { .mail_from = "a@x", .rcpt = r, .nrcpt = 2 };
		bool done = false;

		failmem_init(&fm, n);
		smtp_cli_config_init(&cfg);
		c = smtp_cli_new(&fm.mem, &cfg, NULL, NULL);
		if (!c)
			continue;
		if (smtp_cli_start(c, 0) == 0 &&
		    smtp_cli_input(c, (const uint8_t *)srv1, strlen(srv1), 0) == (ssize_t)strlen(srv1) &&
		    smtp_cli_msg_begin(c, &env, 0) == 0 &&
		    smtp_cli_input(c, (const uint8_t *)srv2, strlen(srv2), 0) == (ssize_t)strlen(srv2) &&
		    smtp_cli_data_write(c, (const uint8_t *)"hello\r\n", 7, 0) == 7 &&
		    smtp_cli_data_end(c, 0) == 0 && !fm.failed)
			done = true;
		smtp_cli_free(c);
		if (done)
			return;
	}
	fail_msg("never succeeded");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_cli_cases),
		cmocka_unit_test(test_smtp_cli_dot_stuffing),
		cmocka_unit_test(test_smtp_cli_failmem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
