/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_smtp_srv.c - the SMTP server engine (smtp_srv.c, smtp_srv_cmd.c).
 *
 * 1. Dialogues: every tests/unit/smtp/cases/ *.in file (directory in
 *    $SMTP_CASES), each run whole, one byte per call, and split in two at
 *    every offset of every client block (STYLE.md 2.7). Syntax:
 *	# comment
 *	@flags proxy,greet_hold,vrfy252,known,tls   @ext -starttls,-chunking
 *	@limit rcpt_max=2 tmo_data=5 ...             (timeouts in seconds)
 *	@pending mail,rcpt,eod    caller answers later (after input stops)
 *	@reject rcpt|mail|helo SUBSTRING CODE ENH TEXT
 *	@eod CODE ENH TEXT        verdict at end of data [250 2.0.0 Ok: queued]
 *	@greet manual             with greet_hold: wait for "X: greet CODE"
 *	C: line    client sends line + CRLF (escapes \r \n \0 \xHH)
 *	C+ bytes   client sends bytes as written (escapes), no CRLF added
 *	P: hex     client sends raw bytes
 *	S: line    expected server reply line (CRLF added)
 *	T: +N      advance time N seconds and run the timer
 *	X: starttls | close | open | msgs N | msg ESCAPED | aborts N |
 *	   anomaly NAME N | peer ADDR | greet CODE | helo NAME | blocked
 * 2. The smuggling corpus (../shared/corpus/smtp/smuggling/eod_sequences.tsv,
 *    path in $SMTP_SMUGGLING; skipped when absent): each sequence must be
 *    rejected or give exactly one message ending at the real CRLF.CRLF.
 * 3. API contracts: held replies, failing allocator, output limit.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtp.h"
#include "smtp_test.h"

#define SEC MXG_NSEC_PER_SEC

/* ------------------------------------------------------------ the driver */

struct rule {
	enum smtp_verb verb;
	char match[128];
	int code;
	char enh[16];
	char text[128];
};

struct drv {
	/* configuration from @ lines */
	struct smtp_srv_config cfg;
	unsigned pending;        /* bit per verb, bit 31: eod */
	struct rule rules[16];
	int nrules;
	int eod_code;
	char eod_enh[16], eod_text[128];
	bool greet_manual;
	/* run state */
	struct smtp_srv *s;
	mxg_tstamp now;
	struct bstr got;         /* output drained so far, not yet compared */
	struct bstr cur;         /* message being received */
	struct bstr last;        /* last accepted message */
	struct bstr pend_in;     /* input not consumed yet */
	int msgs, aborts, starttls;
	int pending_cmd;         /* reply code for the held command (0 default) */
	char pending_enh[16], pending_text[128];
	const char *file;
	int lineno;
	bool whole;              /* input fed whole (pipelining anomalies exact) */
	bool failed;
};

static const struct rule *find_rule(struct drv *d, const struct smtp_cmd *c)
{
	for (int i = 0; i < d->nrules; i++) {
		const struct rule *r = &d->rules[i];

		if (r->verb == c->verb && memmem(c->arg, c->arg_len, r->match, strlen(r->match)))
			return r;
	}
	return NULL;
}

static int on_command(struct smtp_srv *s, const struct smtp_cmd *c, void *ud)
{
	struct drv *d = ud;
	const struct rule *r = find_rule(d, c);

	if (c->verb == SMTP_VERB_MAIL)
		bstr_reset(&d->cur);
	if (d->pending & (1u << c->verb)) {
		d->pending_cmd = r ? r->code : 0;
		snprintf(d->pending_enh, sizeof(d->pending_enh), "%s", r ? r->enh : "");
		snprintf(d->pending_text, sizeof(d->pending_text), "%s", r ? r->text : "");
		return SMTP_CB_PENDING;
	}
	if (r)
		assert_int_equal(smtp_srv_reply_cmd(s, r->code, r->enh, r->text), 0);
	return 0;
}

static int on_data_chunk(struct smtp_srv *s, const uint8_t *p, size_t n, void *ud)
{
	struct drv *d = ud;

	bstr_add(&d->cur, p, n);
	return 0;
}

static int on_eod(struct smtp_srv *s, void *ud)
{
	struct drv *d = ud;

	d->msgs++;
	bstr_reset(&d->last);
	bstr_add(&d->last, d->cur.p, d->cur.len);
	bstr_reset(&d->cur);
	if (d->pending & (1u << 31))
		return SMTP_CB_PENDING;
	assert_int_equal(smtp_srv_reply_eod(s, d->eod_code, d->eod_enh, d->eod_text), 0);
	return 0;
}

static void on_abort(struct smtp_srv *s, enum smtp_abort why, void *ud)
{
	struct drv *d = ud;

	d->aborts++;
	bstr_reset(&d->cur);
}

static int on_starttls(struct smtp_srv *s, void *ud)
{
	((struct drv *)ud)->starttls++;
	return 0;
}

static const struct smtp_srv_callbacks drv_cb = {
	.on_command = on_command,
	.on_data_chunk = on_data_chunk,
	.on_end_of_data = on_eod,
	.on_data_abort = on_abort,
	.on_starttls = on_starttls,
};

static void drain(struct drv *d)
{
	const uint8_t *o;
	size_t n = smtp_srv_output(d->s, &o);

	bstr_add(&d->got, o, n);
	smtp_srv_output_consumed(d->s, n);
}

static void resolve(struct drv *d)
{
	enum smtp_srv_state st = smtp_srv_state(d->s);

	if (!smtp_srv_blocked(d->s))
		return;
	if (st == SMTP_ST_GREETING || st == SMTP_ST_PROXY) {
		if (!d->greet_manual)
			assert_int_equal(smtp_srv_greet(d->s, 220, NULL, d->now), 0);
		return;
	}
	/* Held command or end of data: try the command answer first. */
	if (smtp_srv_reply_cmd(d->s, d->pending_cmd, d->pending_enh, d->pending_text) == 0)
		return;
	assert_int_equal(smtp_srv_reply_eod(d->s, d->eod_code, d->eod_enh, d->eod_text), 0);
}

/* Feeds one piece; consumes what the engine takes, answering holds. */
static void feed_piece(struct drv *d, const char *p, size_t n)
{
	bstr_add(&d->pend_in, p, n);
	for (int guard = 0; guard < 100000; guard++) {
		ssize_t r = smtp_srv_input(d->s, (const uint8_t *)d->pend_in.p, d->pend_in.len, d->now);

		assert_true(r >= 0);
		assert_true((size_t)r <= d->pend_in.len);
		memmove(d->pend_in.p, d->pend_in.p + r, d->pend_in.len - (size_t)r);
		d->pend_in.len -= (size_t)r;
		drain(d);
		if (smtp_srv_blocked(d->s)) {
			if (d->greet_manual && smtp_srv_state(d->s) == SMTP_ST_GREETING)
				return;
			resolve(d);
			drain(d);
			continue;
		}
		if (d->pend_in.len == 0)
			return;
		/* r may be 0 only for output backpressure: drained above */
	}
	fail_msg("%s:%d: engine makes no progress", d->file, d->lineno);
}

enum mode { M_WHOLE, M_BYTE, M_SPLIT };

static void feed(struct drv *d, struct bstr *blk, enum mode m, size_t k)
{
	if (blk->len == 0)
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

static bool check_output(struct drv *d, struct bstr *exp, const char *how)
{
	bool ok;

	drain(d);
	ok = d->got.len == exp->len && !memcmp(d->got.p ? d->got.p : "", exp->p ? exp->p : "", exp->len);
	if (!ok) {
		fprintf(stderr, "%s:%d (%s): server output differs\n--- expected:\n", d->file,
			d->lineno, how);
		print_esc(stderr, exp->p ? exp->p : "", exp->len);
		fprintf(stderr, "\n--- got:\n");
		print_esc(stderr, d->got.p ? d->got.p : "", d->got.len);
		fprintf(stderr, "\n");
		d->failed = true;
	}
	bstr_reset(&d->got);
	bstr_reset(exp);
	return ok;
}

static enum smtp_verb verb_of(const char *w)
{
	static const char *const names[] = { "", "helo", "ehlo", "mail", "rcpt", "data", "bdat",
					     "rset", "noop", "quit", "help", "vrfy", "expn",
					     "starttls", "xforward", "xclient" };

	for (unsigned i = 1; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(w, names[i]))
			return (enum smtp_verb)i;
	return SMTP_VERB_NONE;
}

static void directive(struct drv *d, const char *orig)
{
	char copy[8192], *line = copy;
	char *arg;

	snprintf(copy, sizeof(copy), "%s", orig);
	arg = strchr(line, ' ');
	char *tok, *save;

	if (arg)
		*arg++ = '\0';
	else
		arg = line + strlen(line);
	if (!strcmp(line, "@flags")) {
		for (tok = strtok_r(arg, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			if (!strcmp(tok, "proxy")) d->cfg.flags |= SMTP_SRV_F_PROXY;
			else if (!strcmp(tok, "greet_hold")) d->cfg.flags |= SMTP_SRV_F_GREET_HOLD;
			else if (!strcmp(tok, "vrfy252")) d->cfg.flags |= SMTP_SRV_F_VRFY_252;
			else if (!strcmp(tok, "known")) d->cfg.flags |= SMTP_SRV_F_KNOWN_HOST;
			else if (!strcmp(tok, "tls")) d->cfg.flags |= SMTP_SRV_F_TLS;
			else fail_msg("%s:%d: bad flag %s", d->file, d->lineno, tok);
		}
	} else if (!strcmp(line, "@ext")) {
		static const struct { const char *n; uint32_t b; } ext[] = {
			{ "pipelining", SMTP_EXT_PIPELINING }, { "size", SMTP_EXT_SIZE },
			{ "8bitmime", SMTP_EXT_8BITMIME }, { "smtputf8", SMTP_EXT_SMTPUTF8 },
			{ "enhanced", SMTP_EXT_ENHANCED }, { "chunking", SMTP_EXT_CHUNKING },
			{ "dsn", SMTP_EXT_DSN }, { "starttls", SMTP_EXT_STARTTLS },
			{ "xforward", SMTP_EXT_XFORWARD }, { "xclient", SMTP_EXT_XCLIENT } };
		for (tok = strtok_r(arg, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			bool off = tok[0] == '-';
			size_t i;

			for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
				if (!strcmp(tok + off, ext[i].n))
					break;
			if (i == sizeof(ext) / sizeof(ext[0]))
				fail_msg("%s:%d: bad ext %s", d->file, d->lineno, tok);
			if (off)
				d->cfg.ext &= ~ext[i].b;
			else
				d->cfg.ext |= ext[i].b;
		}
	} else if (!strcmp(line, "@limit")) {
		struct smtp_srv_limits *l = &d->cfg.limits;

		for (tok = strtok_r(arg, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			char *eq = strchr(tok, '=');
			unsigned long long v;

			assert_non_null(eq);
			*eq = '\0';
			v = strtoull(eq + 1, NULL, 10);
			if (!strcmp(tok, "line_max")) l->line_max = (uint32_t)v;
			else if (!strcmp(tok, "rcpt_max")) l->rcpt_max = (uint32_t)v;
			else if (!strcmp(tok, "msg_size_max")) l->msg_size_max = v;
			else if (!strcmp(tok, "cmd_max")) l->cmd_max = (uint32_t)v;
			else if (!strcmp(tok, "err_max")) l->err_max = (uint32_t)v;
			else if (!strcmp(tok, "out_max")) l->out_max = (uint32_t)v;
			else if (!strcmp(tok, "tmo_greeting")) l->tmo_greeting = v * SEC;
			else if (!strcmp(tok, "tmo_command")) l->tmo_command = v * SEC;
			else if (!strcmp(tok, "tmo_data")) l->tmo_data = v * SEC;
			else fail_msg("%s:%d: bad limit %s", d->file, d->lineno, tok);
		}
	} else if (!strcmp(line, "@pending")) {
		for (tok = strtok_r(arg, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
			d->pending |= !strcmp(tok, "eod") ? (1u << 31) : (1u << verb_of(tok));
	} else if (!strcmp(line, "@reject")) {
		struct rule *r = &d->rules[d->nrules++];
		char verb[16];
		int n = 0;

		assert_true(d->nrules <= 16);
		assert_true(sscanf(arg, "%15s %127s %d %15s %n", verb, r->match, &r->code, r->enh, &n) >= 4);
		r->verb = verb_of(verb);
		snprintf(r->text, sizeof(r->text), "%s", n ? arg + n : "");
	} else if (!strcmp(line, "@eod")) {
		int n = 0;

		assert_true(sscanf(arg, "%d %15s %n", &d->eod_code, d->eod_enh, &n) >= 2);
		snprintf(d->eod_text, sizeof(d->eod_text), "%s", n ? arg + n : "");
	} else if (!strcmp(line, "@greet")) {
		d->greet_manual = !strcmp(arg, "manual");
	} else {
		fail_msg("%s:%d: unknown directive %s", d->file, d->lineno, line);
	}
}

static void expect(struct drv *d, const char *orig)
{
	char copy[8192], *what = copy;
	char *arg;

	snprintf(copy, sizeof(copy), "%s", orig);
	arg = strchr(what, ' ');
	const struct smtp_peer *peer = smtp_srv_peer(d->s);

	if (arg)
		*arg++ = '\0';
	else
		arg = what + strlen(what);
#define XFAIL(...) do { fprintf(stderr, "%s:%d: ", d->file, d->lineno); \
	fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); d->failed = true; } while (0)
	if (!strcmp(what, "starttls")) {
		if (d->starttls != 1)
			XFAIL("expected a STARTTLS event");
		d->starttls = 0;
		assert_int_equal(smtp_srv_tls_done(d->s, d->now), 0);
	} else if (!strcmp(what, "close")) {
		if (!smtp_srv_want_close(d->s))
			XFAIL("expected want_close");
	} else if (!strcmp(what, "open")) {
		if (smtp_srv_want_close(d->s))
			XFAIL("expected an open session");
	} else if (!strcmp(what, "blocked")) {
		if (!smtp_srv_blocked(d->s))
			XFAIL("expected blocked");
	} else if (!strcmp(what, "msgs")) {
		if (d->msgs != atoi(arg))
			XFAIL("expected %d messages, got %d", atoi(arg), d->msgs);
	} else if (!strcmp(what, "aborts")) {
		if (d->aborts != atoi(arg))
			XFAIL("expected %d aborts, got %d", atoi(arg), d->aborts);
	} else if (!strcmp(what, "msg")) {
		struct bstr e = { 0 };

		bstr_add_esc(&e, arg);
		if (e.len != d->last.len || memcmp(e.p ? e.p : "", d->last.p ? d->last.p : "", e.len)) {
			XFAIL("message content differs; got:");
			print_esc(stderr, d->last.p ? d->last.p : "", d->last.len);
			fprintf(stderr, "\n");
		}
		bstr_free(&e);
	} else if (!strcmp(what, "anomaly")) {
		char name[32];
		unsigned long long n = 0, got;
		int a;

		assert_int_equal(sscanf(arg, "%31s %llu", name, &n), 2);
		for (a = 0; a < SMTP_ANOM_MAX; a++)
			if (!strcmp(smtp_anomaly_name((enum smtp_anomaly)a), name))
				break;
		assert_true(a < SMTP_ANOM_MAX);
		got = smtp_srv_anomalies(d->s, (enum smtp_anomaly)a);
		/* pipelining depends on how input is split: checked whole only */
		if ((a == SMTP_ANOM_PIPELINING || a == SMTP_ANOM_TLS_INJECT) && !d->whole)
			;
		else if (got != n)
			XFAIL("anomaly %s: expected %llu, got %llu", name, n, got);
	} else if (!strcmp(what, "peer")) {
		char buf[64];

		mxg_ip_str(&peer->addr, buf, sizeof(buf));
		if (strcmp(buf, arg))
			XFAIL("peer %s, expected %s", buf, arg);
	} else if (!strcmp(what, "port")) {
		if (peer->port != atoi(arg))
			XFAIL("port %u, expected %s", peer->port, arg);
	} else if (!strcmp(what, "helo")) {
		if (strcmp(peer->helo, arg))
			XFAIL("helo '%s', expected '%s'", peer->helo, arg);
	} else if (!strcmp(what, "greet")) {
		assert_int_equal(smtp_srv_greet(d->s, atoi(arg), NULL, d->now), 0);
	} else {
		fail_msg("%s:%d: unknown expectation %s", d->file, d->lineno, what);
	}
#undef XFAIL
}

struct case_file {
	char **lines;
	int n;
};

static void load(const char *path, struct case_file *cf)
{
	FILE *f = fopen(path, "r");
	char buf[8192];

	assert_non_null(f);
	cf->lines = NULL;
	cf->n = 0;
	while (fgets(buf, sizeof(buf), f)) {
		size_t l = strlen(buf);

		while (l && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
			buf[--l] = '\0';
		cf->lines = realloc(cf->lines, sizeof(char *) * (size_t)(cf->n + 1));
		cf->lines[cf->n++] = strdup(buf);
	}
	fclose(f);
}

/* Runs a case once; returns the longest client block (for split runs). */
static size_t run_case(const char *name, struct case_file *cf, enum mode m, size_t k, bool *failed)
{
	struct drv d;
	struct bstr blk = { 0 }, exp = { 0 };
	size_t maxblk = 0;
	const char *how = m == M_WHOLE ? "whole" : m == M_BYTE ? "bytewise" : "split";
	char howbuf[64];
	bool started = false;

	memset(&d, 0, sizeof(d));
	smtp_srv_config_init(&d.cfg);
	d.cfg.hostname = "mx.test";
	d.eod_code = 250;
	snprintf(d.eod_enh, sizeof(d.eod_enh), "2.0.0");
	snprintf(d.eod_text, sizeof(d.eod_text), "Ok: queued");
	d.now = 1000 * SEC;
	d.file = name;
	d.whole = m == M_WHOLE;
	if (m == M_SPLIT) {
		snprintf(howbuf, sizeof(howbuf), "split at %zu", k);
		how = howbuf;
	}
	for (int i = 0; i <= cf->n; i++) {
		char *line = i < cf->n ? cf->lines[i] : NULL;
		char kind;

		d.lineno = i + 1;
		if (line && (line[0] == '#' || line[0] == '\0'))
			continue;
		if (line && line[0] == '@') {
			assert_false(started);
			directive(&d, line);
			continue;
		}
		if (!started) {
			struct mxg_ip ip;

			mxg_ip_parse("192.0.2.1", &ip);
			d.s = smtp_srv_new(NULL, &d.cfg, &drv_cb, &d);
			assert_non_null(d.s);
			assert_int_equal(smtp_srv_start(d.s, &ip, 40000, d.now), 0);
			if (smtp_srv_blocked(d.s) && !d.greet_manual)
				resolve(&d);
			started = true;
		}
		kind = line ? line[0] : 'E';
		if (kind == 'C' || kind == 'P') {
			if (exp.len)
				check_output(&d, &exp, how);
			if (!strncmp(line, "C: ", 3)) {
				bstr_add_esc(&blk, line + 3);
				bstr_adds(&blk, "\r\n");
			} else if (!strncmp(line, "C+ ", 3)) {
				bstr_add_esc(&blk, line + 3);
			} else if (!strncmp(line, "P: ", 3)) {
				bstr_add_hex(&blk, line + 3);
			} else {
				fail_msg("%s:%d: bad line", name, i + 1);
			}
			if (blk.len > maxblk)
				maxblk = blk.len;
			continue;
		}
		feed(&d, &blk, m, k);
		if (kind == 'S') {
			assert_true(!strncmp(line, "S: ", 3));
			bstr_adds(&exp, line + 3);
			bstr_adds(&exp, "\r\n");
			continue;
		}
		check_output(&d, &exp, how);
		if (kind == 'E')
			break;
		if (kind == 'T') {
			d.now += (mxg_tstamp)atoll(line + 3) * SEC;
			assert_true(smtp_srv_on_timer(d.s, d.now) >= 0);
		} else if (kind == 'X') {
			expect(&d, line + 3);
		} else {
			fail_msg("%s:%d: bad line '%s'", name, i + 1, line);
		}
	}
	if (d.failed)
		*failed = true;
	smtp_srv_free(d.s);
	bstr_free(&d.got);
	bstr_free(&d.cur);
	bstr_free(&d.last);
	bstr_free(&d.pend_in);
	bstr_free(&blk);
	bstr_free(&exp);
	return maxblk;
}

static const char *cases_dir(void)
{
	const char *dir = getenv("SMTP_CASES");

	return dir ? dir : "tests/unit/smtp/cases";
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_smtp_srv_cases(void **state)
{
	DIR *dir = opendir(cases_dir());
	struct dirent *de;
	char *names[512];
	int n = 0, bad = 0;

	assert_non_null(dir);
	while ((de = readdir(dir)) && n < 512) {
		size_t l = strlen(de->d_name);

		if (l > 3 && !strcmp(de->d_name + l - 3, ".in") && strncmp(de->d_name, "cli_", 4))
			names[n++] = strdup(de->d_name);
	}
	closedir(dir);
	qsort(names, (size_t)n, sizeof(char *), cmp_str);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		char path[1024];
		struct case_file cf;
		bool failed = false;
		size_t maxblk;

		snprintf(path, sizeof(path), "%s/%s", cases_dir(), names[i]);
		load(path, &cf);
		maxblk = run_case(names[i], &cf, M_WHOLE, 0, &failed);
		if (!failed)
			run_case(names[i], &cf, M_BYTE, 0, &failed);
		for (size_t k = 1; k < maxblk && !failed; k++)
			run_case(names[i], &cf, M_SPLIT, k, &failed);
		printf("%-40s %s\n", names[i], failed ? "FAIL" : "ok");
		bad += failed;
		for (int j = 0; j < cf.n; j++)
			free(cf.lines[j]);
		free(cf.lines);
		free(names[i]);
	}
	printf("%d cases, %d failed\n", n, bad);
	assert_int_equal(bad, 0);
}

/* ---------------------------------------------------------- smuggling */

struct smug {
	int msgs, aborts, mails, smuggled_mail;
	struct bstr cur, first;
};

static int sm_cmd(struct smtp_srv *s, const struct smtp_cmd *c, void *ud)
{
	struct smug *m = ud;

	if (c->verb == SMTP_VERB_MAIL) {
		m->mails++;
		if (memmem(c->path, c->path_len, "smuggled", 8))
			m->smuggled_mail++;
		bstr_reset(&m->cur);
	}
	return 0;
}

static int sm_chunk(struct smtp_srv *s, const uint8_t *p, size_t n, void *ud)
{
	bstr_add(&((struct smug *)ud)->cur, p, n);
	return 0;
}

static int sm_eod(struct smtp_srv *s, void *ud)
{
	struct smug *m = ud;

	if (m->msgs++ == 0)
		bstr_add(&m->first, m->cur.p, m->cur.len);
	return smtp_srv_reply_eod(s, 250, "2.0.0", "Ok");
}

static void sm_abort(struct smtp_srv *s, enum smtp_abort why, void *ud)
{
	((struct smug *)ud)->aborts++;
}

/* The oracle: a strict RFC 5321 4.1.1.4 receiver. Lines end only at CRLF,
 * a line "." ends the data, a leading dot is removed. Returns the offset
 * just past the end of data (0: none); *bad tells whether the message has
 * a bare CR, bare LF or NUL (which the engine must reject). */
static size_t oracle(const char *p, size_t n, struct bstr *msg, bool *bad)
{
	size_t pos = 0;

	*bad = false;
	while (pos < n) {
		const char *crlf = memmem(p + pos, n - pos, "\r\n", 2);
		size_t l, skip;

		if (!crlf)
			return 0;
		l = (size_t)(crlf - (p + pos));
		if (l == 1 && p[pos] == '.')
			return pos + 3;
		skip = (l && p[pos] == '.') ? 1 : 0;
		for (size_t i = pos + skip; i < pos + l; i++)
			if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
				*bad = true;
		bstr_add(msg, p + pos + skip, l - skip);
		bstr_add(msg, "\r\n", 2);
		pos += l + 2;
	}
	return 0;
}

/* One sequence, fed with the given chunk size (0: whole). */
static bool smuggle_one(const char *id, const struct bstr *seq, size_t step, bool bdat)
{
	static const struct smtp_srv_callbacks cb = {
		.on_command = sm_cmd, .on_data_chunk = sm_chunk,
		.on_end_of_data = sm_eod, .on_data_abort = sm_abort,
	};
	struct smtp_srv_config cfg;
	struct bstr in = { 0 }, body = { 0 }, stream = { 0 }, want = { 0 };
	struct smug m;
	struct smtp_srv *s;
	size_t off = 0, end;
	bool bad = false, rejected;

	memset(&m, 0, sizeof(m));
	smtp_srv_config_init(&cfg);
	s = smtp_srv_new(NULL, &cfg, &cb, &m);
	assert_non_null(s);
	assert_int_equal(smtp_srv_start(s, NULL, 0, 0), 0);
	bstr_adds(&in, "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n");
	bstr_adds(&body, "Subject: t\r\n\r\nbody");
	bstr_add(&body, seq->p, seq->len);
	bstr_adds(&body, "MAIL FROM:<smuggled@evil>\r\nRCPT TO:<b@y>\r\nDATA\r\n"
		  "smuggled\r\n");
	if (bdat) {
		char hdr[64];

		snprintf(hdr, sizeof(hdr), "BDAT %zu LAST\r\n", body.len);
		bstr_adds(&in, hdr);
		bstr_add(&in, body.p, body.len);
		bstr_add(&want, body.p, body.len);
		for (size_t i = 0; i < body.len; i++) {
			char c = body.p[i];

			if (c == '\0' || (c == '\r' && (i + 1 == body.len || body.p[i + 1] != '\n')) ||
			    (c == '\n' && (i == 0 || body.p[i - 1] != '\r')))
				bad = true;
		}
		end = body.len;
	} else {
		bstr_adds(&in, "DATA\r\n");
		bstr_add(&stream, body.p, body.len);
		bstr_adds(&stream, "\r\n.\r\n");
		bstr_add(&in, stream.p, stream.len);
		end = oracle(stream.p, stream.len, &want, &bad);
		assert_true(end > 0);
	}
	bstr_adds(&in, "QUIT\r\n");
	while (off < in.len) {
		size_t n = step ? (in.len - off < step ? in.len - off : step) : in.len - off;
		ssize_t r = smtp_srv_input(s, (const uint8_t *)in.p + off, n, 0);
		const uint8_t *o;

		assert_true(r > 0);
		off += (size_t)r;
		smtp_srv_output_consumed(s, smtp_srv_output(s, &o));
	}
	rejected = m.msgs == 0;
	if (bad) {
		/* ambiguous line end: rejected, and nothing after it is read */
		if (m.msgs || m.smuggled_mail || !smtp_srv_want_close(s))
			fail_msg("%s (%s, step %zu): not rejected (msgs %d, smuggled MAIL %d)",
				 id, bdat ? "BDAT" : "DATA", step, m.msgs, m.smuggled_mail);
	} else {
		if (m.msgs < 1 || m.first.len != want.len || memcmp(m.first.p, want.p, want.len))
			fail_msg("%s (%s, step %zu): first message does not end at the real CRLF.CRLF",
				 id, bdat ? "BDAT" : "DATA", step);
		/* The sequence itself never ends the data unless it holds a real
		 * CRLF.CRLF; then what follows is a transaction of its own. */
		if (bdat || end == stream.len) {
			if (m.msgs != 1 || m.smuggled_mail)
				fail_msg("%s (%s, step %zu): %d messages, smuggled MAIL %d", id,
					 bdat ? "BDAT" : "DATA", step, m.msgs, m.smuggled_mail);
		}
	}
	smtp_srv_free(s);
	bstr_free(&in);
	bstr_free(&body);
	bstr_free(&stream);
	bstr_free(&want);
	bstr_free(&m.cur);
	bstr_free(&m.first);
	return rejected;
}

static void test_smtp_srv_smuggling_corpus(void **state)
{
	const char *path = getenv("SMTP_SMUGGLING");
	char line[1024];
	FILE *f;
	int n = 0, nrej = 0;

	if (!path || !(f = fopen(path, "r"))) {
		printf("SKIP: smuggling corpus not found at %s (../shared/corpus absent)\n",
		       path ? path : "(SMTP_SMUGGLING unset)");
		skip();
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char *id = strtok(line, "\t"), *src, *fam, *hex;
		struct bstr seq = { 0 };

		src = strtok(NULL, "\t");
		fam = strtok(NULL, "\t");
		hex = strtok(NULL, "\t");
		if (!id || !src || !fam || !hex || !strcmp(id, "id"))
			continue;
		bstr_add_hex(&seq, hex);
		for (int bdat = 0; bdat < 2; bdat++) {
			bool rej = smuggle_one(id, &seq, 0, bdat);

			smuggle_one(id, &seq, 1, bdat);
			smuggle_one(id, &seq, 7, bdat);
			if (!bdat)
				nrej += rej;
		}
		bstr_free(&seq);
		n++;
	}
	fclose(f);
	printf("smuggling corpus: %d sequences: %d rejected, %d one message at the real "
	       "CRLF.CRLF; none smuggled\n", n, nrej, n - nrej);
	assert_true(n >= 39);
}

/* Our own sequences beyond the corpus. */
static void test_smtp_srv_smuggling_extra(void **state)
{
#define SEQ(x) { x, sizeof(x) - 1 }
	static const struct { const char *p; size_t n; } seqs[] = {
		SEQ("\n.\n"), SEQ("\r\n.\n"), SEQ("\n.\r\n"), SEQ("\r.\r"), SEQ("\r\n.\r\r\n"),
		SEQ("\r\n..\r\n"), SEQ("\r\n.\x00\r\n"), SEQ("\r\n \r\n.\r\n"),
		SEQ("\r\r\n.\r\r\n"), SEQ("\n\n.\n\n"), SEQ("\r\n.\n\r\n"),
		SEQ("\r\n\r\n.\r\n"), SEQ("\r\n.\r\n"), SEQ("\r\n\x00.\r\n"),
		SEQ("\r\n.\r\x00\n"), SEQ("\x80\r\n.\r\n"),
	};
#undef SEQ

	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		struct bstr seq = { 0 };
		char id[32];

		snprintf(id, sizeof(id), "extra-%zu", i);
		bstr_add(&seq, seqs[i].p, seqs[i].n);
		for (int bdat = 0; bdat < 2; bdat++)
			for (size_t step = 0; step < 4; step++)
				smuggle_one(id, &seq, step, bdat);
		bstr_free(&seq);
	}
}

/* --------------------------------------------------------- API contracts */

struct hold_ud {
	int eods;
	bool pend_rcpt;
};

static int hold_cmd(struct smtp_srv *s, const struct smtp_cmd *c, void *ud)
{
	struct hold_ud *h = ud;

	return (c->verb == SMTP_VERB_RCPT && h->pend_rcpt) ? SMTP_CB_PENDING : 0;
}

static int hold_eod(struct smtp_srv *s, void *ud)
{
	((struct hold_ud *)ud)->eods++;
	return 0; /* verdict later */
}

static size_t take_out(struct smtp_srv *s, char *buf, size_t cap)
{
	const uint8_t *o;
	size_t n = smtp_srv_output(s, &o);

	assert_true(n < cap);
	memcpy(buf, o, n);
	buf[n] = '\0';
	smtp_srv_output_consumed(s, n);
	return n;
}

/* End-to-end acknowledgement: nothing after end of data is answered (or
 * even read) before the caller's verdict. */
static void test_smtp_srv_eod_holds_pipeline(void **state)
{
	static const struct smtp_srv_callbacks cb = { .on_command = hold_cmd, .on_end_of_data = hold_eod };
	const char *in = "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nhi\r\n.\r\n"
			 "MAIL FROM:<c@x>\r\nQUIT\r\n";
	struct smtp_srv_config cfg;
	struct hold_ud h = { 0 };
	struct smtp_srv *s;
	char out[4096];
	ssize_t r;
	size_t all = strlen(in);

	smtp_srv_config_init(&cfg);
	s = smtp_srv_new(NULL, &cfg, &cb, &h);
	assert_non_null(s);
	assert_int_equal(smtp_srv_start(s, NULL, 0, 0), 0);
	take_out(s, out, sizeof(out));
	r = smtp_srv_input(s, (const uint8_t *)in, all, 1);
	assert_true(r > 0 && (size_t)r < all);
	assert_string_equal(in + r, "MAIL FROM:<c@x>\r\nQUIT\r\n");
	assert_int_equal(h.eods, 1);
	assert_true(smtp_srv_blocked(s));
	assert_int_equal(smtp_srv_deadline(s), MXG_TS_NONE);
	take_out(s, out, sizeof(out));
	assert_non_null(strstr(out, "354 "));
	assert_null(strstr(out, "queued"));
	/* More input while held is not consumed. */
	assert_int_equal(smtp_srv_input(s, (const uint8_t *)in + r, all - (size_t)r, 2), 0);
	assert_int_equal(smtp_srv_reply_cmd(s, 250, NULL, NULL), MXG_E_INVAL);
	assert_int_equal(smtp_srv_reply_eod(s, 354, NULL, NULL), MXG_E_INVAL);
	assert_int_equal(smtp_srv_reply_eod(s, 451, "4.4.1", "downstream\r\n250 injected"), 0);
	take_out(s, out, sizeof(out));
	assert_string_equal(out, "451 4.4.1 downstream  250 injected\r\n");
	assert_int_equal(smtp_srv_input(s, (const uint8_t *)in + r, all - (size_t)r, 3),
			 (ssize_t)(all - (size_t)r));
	take_out(s, out, sizeof(out));
	assert_string_equal(out, "250 2.1.0 Ok\r\n221 2.0.0 Bye\r\n");
	assert_true(smtp_srv_want_close(s));
	smtp_srv_free(s);
}

static void test_smtp_srv_rcpt_pending(void **state)
{
	static const struct smtp_srv_callbacks cb = { .on_command = hold_cmd };
	const char *in = "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\n";
	struct smtp_srv_config cfg;
	struct hold_ud h = { .pend_rcpt = true };
	struct smtp_srv *s;
	char out[4096];
	ssize_t r;
	size_t off = 0;

	smtp_srv_config_init(&cfg);
	s = smtp_srv_new(NULL, &cfg, &cb, &h);
	assert_int_equal(smtp_srv_start(s, NULL, 0, 0), 0);
	r = smtp_srv_input(s, (const uint8_t *)in, strlen(in), 1);
	off = (size_t)r;
	assert_string_equal(in + off, "RCPT TO:<c@y>\r\n");
	assert_int_equal(smtp_srv_reply_cmd(s, 550, "5.7.1", "Relay access denied"), 0);
	assert_int_equal(smtp_srv_rcpt_count(s), 0);
	r = smtp_srv_input(s, (const uint8_t *)in + off, strlen(in) - off, 2);
	assert_int_equal(r, (ssize_t)(strlen(in) - off));
	assert_int_equal(smtp_srv_reply_cmd(s, 0, NULL, NULL), 0);
	assert_int_equal(smtp_srv_rcpt_count(s), 1);
	take_out(s, out, sizeof(out));
	assert_non_null(strstr(out, "250 2.1.0 Ok\r\n550 5.7.1 Relay access denied\r\n250 2.1.5 Ok\r\n"));
	smtp_srv_free(s);
}

static void test_smtp_srv_output_backpressure(void **state)
{
	struct smtp_srv_config cfg;
	struct smtp_srv *s;
	struct bstr in = { 0 };
	size_t off = 0;
	int rounds = 0;

	smtp_srv_config_init(&cfg);
	cfg.limits.out_max = 600;
	s = smtp_srv_new(NULL, &cfg, NULL, NULL);
	assert_int_equal(smtp_srv_start(s, NULL, 0, 0), 0);
	for (int i = 0; i < 200; i++)
		bstr_adds(&in, "NOOP\r\n");
	while (off < in.len) {
		const uint8_t *o;
		ssize_t r = smtp_srv_input(s, (const uint8_t *)in.p + off, in.len - off, 0);
		size_t n = smtp_srv_output(s, &o);

		assert_true(r >= 0);
		assert_true(n <= 600 + 64);
		off += (size_t)r;
		smtp_srv_output_consumed(s, n);
		rounds++;
	}
	assert_true(rounds > 1);
	bstr_free(&in);
	smtp_srv_free(s);
}

/* Every allocation fails once in turn; the engine reports, never crashes. */
static void test_smtp_srv_failmem(void **state)
{
	const char *in = "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n";

	for (long n = 1; n < 100; n++) {
		struct failmem fm;
		struct smtp_srv_config cfg;
		struct smtp_srv *s;
		ssize_t r = 0;
		int rc;

		failmem_init(&fm, n);
		smtp_srv_config_init(&cfg);
		s = smtp_srv_new(&fm.mem, &cfg, NULL, NULL);
		if (!s)
			continue;
		rc = smtp_srv_start(s, NULL, 0, 0);
		if (rc == 0)
			r = smtp_srv_input(s, (const uint8_t *)in, strlen(in), 0);
		if (rc == 0 && r == (ssize_t)strlen(in) && !fm.failed) {
			const uint8_t *o;

			assert_true(smtp_srv_output(s, &o) > 0);
			smtp_srv_free(s);
			return; /* ran to completion: every earlier failure was handled */
		}
		assert_true(rc == MXG_E_NOMEM || r == MXG_E_NOMEM || fm.failed);
		smtp_srv_free(s);
	}
	fail_msg("never succeeded");
}

static void test_smtp_srv_bad_config(void **state)
{
	struct smtp_srv_config cfg;

	smtp_srv_config_init(&cfg);
	cfg.limits.line_max = 100;
	assert_null(smtp_srv_new(NULL, &cfg, NULL, NULL));
	assert_null(smtp_srv_new(NULL, NULL, NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_srv_cases),
		cmocka_unit_test(test_smtp_srv_smuggling_corpus),
		cmocka_unit_test(test_smtp_srv_smuggling_extra),
		cmocka_unit_test(test_smtp_srv_eod_holds_pipeline),
		cmocka_unit_test(test_smtp_srv_rcpt_pending),
		cmocka_unit_test(test_smtp_srv_output_backpressure),
		cmocka_unit_test(test_smtp_srv_failmem),
		cmocka_unit_test(test_smtp_srv_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
