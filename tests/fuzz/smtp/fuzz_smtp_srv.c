/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_smtp_srv.c - libFuzzer target for the SMTP server engine.
 *
 * Input: byte 0 selects flags (PROXY, greeting hold, known host, caller
 * holds MAIL/RCPT/end of data, small limits), byte 1 the piece size; the
 * rest is client input, fed piece by piece with timer calls in between.
 * Holds are answered with varying codes.
 *
 * Oracles (abort on violation):
 *  - no accepted message contains a bare CR, a bare LF or a NUL (the
 *    smuggling stance), and an accepted DATA message is empty or ends in CRLF;
 *  - every reply line is "ddd[ -]...CRLF";
 *  - the engine never consumes more than it was given, and always makes
 *    progress unless blocked or paused by output.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

struct fz {
	uint8_t mode;
	uint8_t *msg;
	size_t len, cap;
	unsigned ncmd;
	bool data_mode;
};

static int on_command(struct smtp_srv *s, const struct smtp_cmd *c, void *ud)
{
	struct fz *f = ud;

	f->ncmd++;
	if (c->verb == SMTP_VERB_MAIL)
		f->len = 0;
	if (c->verb == SMTP_VERB_DATA)
		f->data_mode = true;
	if (c->verb == SMTP_VERB_BDAT)
		f->data_mode = false;
	if ((f->mode & 0x10) && (c->verb == SMTP_VERB_MAIL || c->verb == SMTP_VERB_RCPT))
		return SMTP_CB_PENDING;
	if ((f->ncmd % 7) == 3)
		smtp_srv_reply_cmd(s, 550, "5.7.1", "no\r\n");
	return 0;
}

static int on_chunk(struct smtp_srv *s, const uint8_t *p, size_t n, void *ud)
{
	struct fz *f = ud;

	if (f->len + n > f->cap) {
		size_t cap = (f->len + n) * 2;

		f->msg = realloc(f->msg, cap);
		if (!f->msg)
			abort();
		f->cap = cap;
	}
	memcpy(f->msg + f->len, p, n);
	f->len += n;
	return 0;
}

static int on_eod(struct smtp_srv *s, void *ud)
{
	struct fz *f = ud;

	for (size_t i = 0; i < f->len; i++) {
		uint8_t c = f->msg[i];

		if (c == 0 || (c == '\r' && (i + 1 == f->len || f->msg[i + 1] != '\n')) ||
		    (c == '\n' && (i == 0 || f->msg[i - 1] != '\r')))
			abort(); /* an ambiguous line end was accepted */
	}
	if (f->data_mode && f->len && (f->len < 2 || f->msg[f->len - 1] != '\n'))
		abort();
	f->len = 0;
	if (f->mode & 0x20)
		return SMTP_CB_PENDING;
	return smtp_srv_reply_eod(s, 250, "2.0.0", "ok");
}

static void on_abort(struct smtp_srv *s, enum smtp_abort why, void *ud)
{
	((struct fz *)ud)->len = 0;
}

static void check_output(struct smtp_srv *s)
{
	const uint8_t *o;
	size_t n = smtp_srv_output(s, &o), i = 0;

	while (i < n) {
		const uint8_t *lf = memchr(o + i, '\n', n - i);
		size_t l;

		if (!lf)
			abort();
		l = (size_t)(lf - (o + i)) + 1;
		if (l < 5 || o[i + l - 2] != '\r' || o[i] < '2' || o[i] > '5' ||
		    (o[i + 3] != ' ' && o[i + 3] != '-'))
			abort();
		for (size_t k = i; k < i + l - 2; k++)
			if (o[k] == '\r' || o[k] == '\n' || o[k] == 0)
				abort();
		i += l;
	}
	smtp_srv_output_consumed(s, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct smtp_srv_callbacks cb = {
		.on_command = on_command, .on_data_chunk = on_chunk,
		.on_end_of_data = on_eod, .on_data_abort = on_abort,
	};
	struct smtp_srv_config cfg;
	struct fz f = { 0 };
	struct smtp_srv *s;
	mxg_tstamp now = 0;
	size_t off = 2, step;
	unsigned spins = 0;

	if (size < 2)
		return 0;
	f.mode = data[0];
	step = 1 + data[1] % 64;
	smtp_srv_config_init(&cfg);
	cfg.hostname = "fuzz";
	if (f.mode & 0x01)
		cfg.flags |= SMTP_SRV_F_PROXY;
	if (f.mode & 0x02)
		cfg.flags |= SMTP_SRV_F_GREET_HOLD;
	if (f.mode & 0x04)
		cfg.flags |= SMTP_SRV_F_KNOWN_HOST;
	if (f.mode & 0x08) {
		cfg.limits.line_max = 512;
		cfg.limits.rcpt_max = 2;
		cfg.limits.msg_size_max = 64;
		cfg.limits.err_max = 5;
		cfg.limits.out_max = 256;
	}
	s = smtp_srv_new(NULL, &cfg, &cb, &f);
	if (!s)
		abort();
	smtp_srv_start(s, NULL, 0, now);
	while (off < size && !smtp_srv_want_close(s)) {
		size_t n = size - off < step ? size - off : step;
		ssize_t r = smtp_srv_input(s, data + off, n, now);

		if (r < 0 || (size_t)r > n)
			abort();
		off += (size_t)r;
		check_output(s);
		if (smtp_srv_blocked(s)) {
			enum smtp_srv_state st = smtp_srv_state(s);

			if (st == SMTP_ST_GREETING)
				smtp_srv_greet(s, (f.mode & 0x40) ? 554 : 220, "hi", now);
			else if (smtp_srv_reply_cmd(s, (spins & 1) ? 0 : 451, NULL, "later") != 0 &&
				 smtp_srv_reply_eod(s, (spins & 2) ? 250 : 554, "5.7.1", "v") != 0)
				abort(); /* blocked, yet nothing to answer */
			check_output(s);
		} else if (r == 0 && ++spins > 1000) {
			abort(); /* no progress */
		}
		if (smtp_srv_state(s) == SMTP_ST_TLS_WAIT && (off & 1))
			smtp_srv_tls_done(s, now);
		now += (mxg_tstamp)(data[off - 1 < size ? off - 1 : 0] & 0x3f) * MXG_NSEC_PER_SEC;
		if (smtp_srv_deadline(s) <= now)
			smtp_srv_on_timer(s, now);
		check_output(s);
	}
	smtp_srv_free(s);
	free(f.msg);
	return 0;
}
