/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_smtp_cli.c - libFuzzer target for the SMTP client engine: the input
 * is what the downstream server says, fed in pieces; the caller begins
 * messages, writes content with dots and bare line ends, and quits.
 *
 * Oracles: on_msg_done comes exactly once per message begun (also after a
 * failure or disconnect); "delivered" implies a final 2xx; in DATA mode
 * the output never holds CRLF.CRLF before the end of data is asked for.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

struct fz {
	int begun, done, ready;
	bool want_data;
	bool ended;
};

static void on_ready(struct smtp_cli *c, void *ud) { ((struct fz *)ud)->ready++; }
static void on_data_ready(struct smtp_cli *c, void *ud) { ((struct fz *)ud)->want_data = true; }
static void on_done(struct smtp_cli *c, const struct smtp_cli_result *r, void *ud)
{
	struct fz *f = ud;

	f->done++;
	if (f->done > f->begun)
		abort();
	if (r->delivered && (r->final->code < 200 || r->final->code > 299 || r->rcpt_ok == 0))
		abort();
}
static int on_starttls(struct smtp_cli *c, void *ud) { return 0; }

static void drain(struct smtp_cli *c, struct fz *f)
{
	const uint8_t *o;
	size_t n = smtp_cli_output(c, &o);

	smtp_cli_output_consumed(c, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct smtp_cli_callbacks cb = {
		.on_ready = on_ready, .on_data_ready = on_data_ready,
		.on_msg_done = on_done, .on_starttls = on_starttls,
	};
	static const char content[] = "Subject: x\r\n.\r\n\n.\n\r.\r..x\r\nend";
	struct smtp_rcpt rcpt[3] = { { .addr = "a@x", .notify = SMTP_NOTIFY_FAILURE },
				     { .addr = "b@x", .orcpt = "rfc822;b@x" }, { .addr = "c@x" } };
	struct smtp_xforward xf = { .name = "n", .addr = "192.0.2.1", .helo = "h h" };
	struct smtp_envelope env = { .mail_from = "s@y", .size = 10, .body = SMTP_BODY_8BITMIME,
				     .envid = "e", .rcpt = rcpt, .nrcpt = 3, .xforward = &xf };
	struct smtp_cli_config cfg;
	struct fz f = { 0 };
	struct smtp_cli *c;
	mxg_tstamp now = 0;
	size_t off = 2, step;

	if (size < 2)
		return 0;
	smtp_cli_config_init(&cfg);
	cfg.flags = data[0] & 0x1f;
	cfg.reply_lines_max = 8;
	cfg.reply_line_max = 128;
	step = 1 + data[1] % 32;
	c = smtp_cli_new(NULL, &cfg, &cb, &f);
	if (!c)
		abort();
	smtp_cli_start(c, now);
	while (off < size && !smtp_cli_want_close(c)) {
		size_t n = size - off < step ? size - off : step;
		ssize_t r = smtp_cli_input(c, data + off, n, now);

		if (r >= 0 && (size_t)r != n)
			abort();
		off += n;
		if (smtp_cli_state(c) == SMTP_CLI_TLS_WAIT)
			smtp_cli_tls_done(c, now);
		if (smtp_cli_state(c) == SMTP_CLI_READY) {
			if (f.begun < 3) {
				if (smtp_cli_msg_begin(c, &env, now) == 0) {
					f.begun++;
					f.want_data = false;
				}
			} else {
				smtp_cli_quit(c, now);
			}
		}
		if (f.want_data && smtp_cli_state(c) == SMTP_CLI_CONTENT) {
			const uint8_t *o;
			size_t on;

			drain(c, &f);
			smtp_cli_data_write(c, (const uint8_t *)content, sizeof(content) - 1, now);
			on = smtp_cli_output(c, &o);
			/* no end of data may appear inside the content */
			for (size_t i = 0; i + 5 <= on; i++)
				if (!memcmp(o + i, "\r\n.\r\n", 5))
					abort();
			if (data[off - 1] & 1)
				smtp_cli_data_end(c, now);
			else
				smtp_cli_msg_abort(c, now);
			f.want_data = false;
		}
		drain(c, &f);
		now += (mxg_tstamp)(data[off - 1] & 0x7f) * 10 * MXG_NSEC_PER_SEC;
		if (smtp_cli_deadline(c) <= now)
			smtp_cli_on_timer(c, now);
	}
	smtp_cli_closed(c);
	if (f.done != f.begun)
		abort(); /* a message was left without an outcome */
	smtp_cli_free(c);
	return 0;
}
