/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_cli.c - sans-IO SMTP client engine: one session to the downstream
 * MTA, any number of messages.
 *
 * STANDARDS
 *	RFC 5321 (SMTP, 4.2 multi-line replies, 4.5.2 transparency), RFC 2920
 *	(PIPELINING), RFC 3030 (CHUNKING), RFC 3207 (STARTTLS), RFC 1870
 *	(SIZE), RFC 6152 (8BITMIME), RFC 6531 (SMTPUTF8), RFC 3461 (DSN),
 *	RFC 2034 (enhanced status codes), Postfix XFORWARD_README.
 *
 * The session: greeting, EHLO (HELO when EHLO is refused), STARTTLS when
 * offered and wanted (the caller runs TLS around the engine), then for each
 * message [RSET] [XFORWARD] MAIL RCPT... DATA|BDAT, pipelined when the
 * server offers PIPELINING, one command at a time otherwise. Content goes
 * as BDAT chunks when CHUNKING and PIPELINING are offered, else as DATA
 * with dot-stuffing done here.
 *
 * SECURITY
 *	In DATA mode a bare CR or LF in the content is written as CRLF, and a
 *	dot at the start of every CRLF-delimited line is doubled, so no byte
 *	sequence the caller writes can end the data early at the downstream
 *	(SMTP smuggling); the only end of data is the one smtp_cli_data_end
 *	writes. Addresses and parameters with CR, LF, NUL, '<' or '>' are
 *	refused (no command injection). Replies are parsed strictly: three
 *	digits, the same code on every line, '-' or ' ' after it, CRLF only,
 *	line length and line count bounded; anything else ends the session.
 *
 *	Honest results: every RCPT reply is reported (on_rcpt_reply); the
 *	message counts as delivered only on a final 2xx with at least one
 *	accepted recipient. A timeout, a disconnect, a 421 or a malformed reply
 *	ends the message with delivered = false, so the caller answers its own
 *	client with 4xx (end-to-end acknowledgement, issue 4).
 */
#include <stdio.h>

#include "mxg_bug.h"
#include "smtp_int.h"

enum cq_kind {
	K_GREETING, K_EHLO, K_HELO, K_STARTTLS, K_RSET, K_XFORWARD, K_MAIL,
	K_RCPT, K_DATA, K_DOT, K_BDAT, K_BDAT_LAST, K_QUIT
};

struct cq {                      /* a command sent or staged */
	uint8_t kind;
	uint32_t idx;            /* RCPT number */
	uint32_t len;            /* bytes in the stage buffer (unsent) */
};

enum dstuff { DS_BOL = 0, DS_MID, DS_CR };

struct smtp_cli {
	const struct mxg_mem *mem;
	struct smtp_cli_callbacks cb;
	void *ud;
	struct smtp_cli_config cfg;
	char helo[256];

	enum smtp_cli_state st;
	bool started, tls, closed_cb;
	uint32_t ext;            /* offered by the server */
	uint64_t srv_size;
	mxg_tstamp now, t_last;

	/* reply parser */
	char *line;              /* current line, reply_line_max bytes */
	uint32_t line_len;
	char *rtext;             /* reply text, lines joined by '\n' */
	size_t rtext_len, rtext_cap;
	int rcode;
	unsigned rlines;
	char renh[16];

	/* commands: q[0..nsent) sent and awaiting replies, q[nsent..n) staged */
	struct cq *q;
	size_t qn, qcap, nsent;
	struct smtp_buf stage;   /* text of the staged commands, in order */

	/* message */
	bool msg;                /* a message is in progress */
	bool first_done;         /* a message was sent before: RSET first */
	bool bdat;               /* content as BDAT */
	bool mail_ok;
	bool bdat_failed;
	size_t nrcpt;
	uint32_t rcpt_ok;
	uint32_t rcpt_replies;
	enum dstuff ds;
	struct smtp_reply fail;  /* MAIL failure, last RCPT or BDAT failure */
	char fail_text[512];

	struct smtp_buf out;
};

#define DEF_LINE 2048
#define DEF_LINES 128

void smtp_cli_config_init(struct smtp_cli_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->helo_name = "localhost";
	cfg->flags = SMTP_CLI_F_STARTTLS | SMTP_CLI_F_XFORWARD;
}

struct smtp_cli *smtp_cli_new(const struct mxg_mem *mem, const struct smtp_cli_config *cfg,
			      const struct smtp_cli_callbacks *cb, void *ud)
{
	struct smtp_cli *c;
	const char *h;

	if (!mem)
		mem = mxg_mem_default();
	if (!cfg)
		return NULL;
	c = mxg_calloc(mem, 1, sizeof(*c));
	if (!c)
		return NULL;
	c->mem = mem;
	if (cb)
		c->cb = *cb;
	c->ud = ud;
	c->cfg = *cfg;
	if (!c->cfg.reply_line_max)
		c->cfg.reply_line_max = DEF_LINE;
	if (c->cfg.reply_line_max < 64)
		c->cfg.reply_line_max = 64;
	if (!c->cfg.reply_lines_max)
		c->cfg.reply_lines_max = DEF_LINES;
	if (!c->cfg.out_max)
		c->cfg.out_max = 65536;
	if (!c->cfg.tmo_reply)
		c->cfg.tmo_reply = 300 * MXG_NSEC_PER_SEC;
	if (!c->cfg.tmo_data)
		c->cfg.tmo_data = 180 * MXG_NSEC_PER_SEC;
	if (!c->cfg.tmo_eod)
		c->cfg.tmo_eod = 600 * MXG_NSEC_PER_SEC;
	h = cfg->helo_name ? cfg->helo_name : "localhost";
	smtp_copy_text(c->helo, sizeof(c->helo), h, strlen(h));
	for (char *p = c->helo; *p; p++)
		if (*p == ' ')
			*p = '-';
	c->cfg.helo_name = NULL;
	c->line = mxg_malloc(mem, c->cfg.reply_line_max);
	if (!c->line) {
		mxg_free(mem, c);
		return NULL;
	}
	return c;
}

void smtp_cli_free(struct smtp_cli *c)
{
	if (!c)
		return;
	smtp_buf_free(&c->out, c->mem);
	smtp_buf_free(&c->stage, c->mem);
	mxg_free(c->mem, c->line);
	mxg_free(c->mem, c->rtext);
	mxg_free(c->mem, c->q);
	mxg_free(c->mem, c);
}

/* ------------------------------------------------------------ the queue */

static int q_push(struct smtp_cli *c, enum cq_kind k, uint32_t idx, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Stages one command line (CRLF added). */
static int q_push(struct smtp_cli *c, enum cq_kind k, uint32_t idx, const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	int n, rc;

	if (c->qn == c->qcap) {
		size_t cap = c->qcap ? c->qcap * 2 : 16;
		struct cq *q = mxg_realloc(c->mem, c->q, cap * sizeof(*q));

		if (!q)
			return MXG_E_NOMEM;
		c->q = q;
		c->qcap = cap;
	}
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return MXG_E_INVAL;
	line[n++] = '\r';
	line[n++] = '\n';
	rc = smtp_buf_append(&c->stage, c->mem, line, (size_t)n);
	if (rc)
		return rc;
	c->q[c->qn++] = (struct cq){ .kind = (uint8_t)k, .idx = idx, .len = (uint32_t)n };
	return 0;
}

/* Records a command written straight to the output (BDAT chunks). */
static int q_sent(struct smtp_cli *c, enum cq_kind k)
{
	if (MXG_BUG_ON(c->nsent != c->qn))
		return MXG_E_INTERNAL;
	if (c->qn == c->qcap) {
		size_t cap = c->qcap ? c->qcap * 2 : 16;
		struct cq *q = mxg_realloc(c->mem, c->q, cap * sizeof(*q));

		if (!q)
			return MXG_E_NOMEM;
		c->q = q;
		c->qcap = cap;
	}
	c->q[c->qn++] = (struct cq){ .kind = (uint8_t)k };
	c->nsent++;
	c->t_last = c->now;
	return 0;
}

static bool pipelining(const struct smtp_cli *c)
{
	return (c->ext & SMTP_EXT_PIPELINING) && !(c->cfg.flags & SMTP_CLI_F_NO_PIPELINING);
}

/* Moves staged commands to the output: all of them when pipelining, else
 * one when nothing is outstanding. */
static int q_flush(struct smtp_cli *c)
{
	while (c->nsent < c->qn && (pipelining(c) || c->nsent == 0)) {
		struct cq *e = &c->q[c->nsent];
		int rc = smtp_buf_append(&c->out, c->mem, c->stage.p + c->stage.off, e->len);

		if (rc)
			return rc;
		smtp_buf_consume(&c->stage, e->len);
		c->nsent++;
		c->t_last = c->now;
	}
	return 0;
}

/* Pops the head (its reply arrived). */
static struct cq q_pop(struct smtp_cli *c)
{
	struct cq e = c->q[0];

	memmove(c->q, c->q + 1, (c->qn - 1) * sizeof(*c->q));
	c->qn--;
	c->nsent--;
	return e;
}

/* Drops staged, unsent commands of the current message. */
static void q_drop_staged(struct smtp_cli *c)
{
	while (c->qn > c->nsent) {
		c->qn--;
		c->stage.len -= c->q[c->qn].len;
	}
	if (c->stage.len == c->stage.off)
		c->stage.len = c->stage.off = 0;
}

/* ------------------------------------------------------------ outcomes */

static void save_fail(struct smtp_cli *c, const struct smtp_reply *r)
{
	c->fail = *r;
	smtp_copy_text(c->fail_text, sizeof(c->fail_text), r->text, r->text_len);
	c->fail.text = c->fail_text;
	c->fail.text_len = strlen(c->fail_text);
}

static void msg_done(struct smtp_cli *c, const struct smtp_reply *final, enum smtp_cli_fail why)
{
	struct smtp_cli_result res;
	struct smtp_reply none = { .code = 0, .text = "" };

	if (!c->msg)
		return;
	c->msg = false;
	c->first_done = true;
	res.final = final ? final : &none;
	res.rcpt_ok = c->rcpt_ok;
	res.fail = why;
	res.delivered = why == SMTP_CLI_OK && final && final->code >= 200 && final->code < 300 &&
			c->rcpt_ok > 0;
	if (!res.delivered && res.fail == SMTP_CLI_OK)
		res.fail = SMTP_CLI_FAIL_REPLY;
	if (c->cb.on_msg_done)
		c->cb.on_msg_done(c, &res, c->ud);
}

static void go_ready(struct smtp_cli *c)
{
	c->st = SMTP_CLI_READY;
	if (c->cb.on_ready)
		c->cb.on_ready(c, c->ud);
}

static void closed(struct smtp_cli *c, enum smtp_cli_fail why)
{
	c->st = SMTP_CLI_CLOSED;
	c->qn = c->nsent = 0;
	c->stage.off = c->stage.len = 0;
	if (!c->closed_cb) {
		c->closed_cb = true;
		if (c->cb.on_closed)
			c->cb.on_closed(c, why, c->ud);
	}
}

/* The session failed: the message in progress is not delivered. */
static void fail_session(struct smtp_cli *c, enum smtp_cli_fail why, const struct smtp_reply *r)
{
	if (c->st == SMTP_CLI_CLOSED)
		return;
	msg_done(c, r, why);
	closed(c, why);
}

/* ------------------------------------------------------------ replies */

static void parse_ehlo(struct smtp_cli *c, const struct smtp_reply *r)
{
	const char *p = r->text, *end = r->text + r->text_len;
	bool first = true;

	c->ext = 0;
	c->srv_size = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t kl = 0;

		if (!first) {
			while (p + kl < le && p[kl] != ' ')
				kl++;
			if (smtp_kw_eq(p, kl, "PIPELINING")) c->ext |= SMTP_EXT_PIPELINING;
			else if (smtp_kw_eq(p, kl, "8BITMIME")) c->ext |= SMTP_EXT_8BITMIME;
			else if (smtp_kw_eq(p, kl, "SMTPUTF8")) c->ext |= SMTP_EXT_SMTPUTF8;
			else if (smtp_kw_eq(p, kl, "ENHANCEDSTATUSCODES")) c->ext |= SMTP_EXT_ENHANCED;
			else if (smtp_kw_eq(p, kl, "CHUNKING")) c->ext |= SMTP_EXT_CHUNKING;
			else if (smtp_kw_eq(p, kl, "DSN")) c->ext |= SMTP_EXT_DSN;
			else if (smtp_kw_eq(p, kl, "STARTTLS")) c->ext |= SMTP_EXT_STARTTLS;
			else if (smtp_kw_eq(p, kl, "XFORWARD")) c->ext |= SMTP_EXT_XFORWARD;
			else if (smtp_kw_eq(p, kl, "XCLIENT")) c->ext |= SMTP_EXT_XCLIENT;
			else if (smtp_kw_eq(p, kl, "SIZE")) {
				c->ext |= SMTP_EXT_SIZE;
				if (p + kl < le)
					smtp_parse_u64(p + kl + 1, (size_t)(le - p - kl - 1), &c->srv_size);
			}
		}
		first = false;
		p = nl ? nl + 1 : end;
	}
}

static int send_ehlo(struct smtp_cli *c, bool helo)
{
	int rc;

	c->st = helo ? SMTP_CLI_HELO : SMTP_CLI_EHLO;
	rc = q_push(c, helo ? K_HELO : K_EHLO, 0, "%s %s", helo ? "HELO" : "EHLO", c->helo);
	return rc ? rc : q_flush(c);
}

static int after_ehlo(struct smtp_cli *c)
{
	int rc;

	if (!c->tls && (c->ext & SMTP_EXT_STARTTLS) &&
	    (c->cfg.flags & (SMTP_CLI_F_STARTTLS | SMTP_CLI_F_REQUIRE_TLS))) {
		c->st = SMTP_CLI_STARTTLS;
		rc = q_push(c, K_STARTTLS, 0, "STARTTLS");
		return rc ? rc : q_flush(c);
	}
	if (!c->tls && (c->cfg.flags & SMTP_CLI_F_REQUIRE_TLS)) {
		fail_session(c, SMTP_CLI_FAIL_TLS, NULL);
		return MXG_E_PROTO;
	}
	go_ready(c);
	return 0;
}

/* Message envelope replies: decides when content may start. */
static int envelope_reply(struct smtp_cli *c, const struct cq *e, const struct smtp_reply *r)
{
	bool ok = r->code >= 200 && r->code < 300;

	switch (e->kind) {
	case K_MAIL:
		c->mail_ok = ok;
		if (!ok) {
			save_fail(c, r);
			if (!pipelining(c)) {
				/* Lock-step: nothing else was sent; report each RCPT
				 * with the reason and stop. */
				q_drop_staged(c);
				for (size_t i = 0; i < c->nrcpt; i++)
					if (c->cb.on_rcpt_reply)
						c->cb.on_rcpt_reply(c, i, r, c->ud);
				msg_done(c, &c->fail, SMTP_CLI_FAIL_REPLY);
				go_ready(c);
			}
		}
		return 0;
	case K_RCPT:
		c->rcpt_replies++;
		if (ok && c->mail_ok)
			c->rcpt_ok++;
		else if (c->mail_ok)
			save_fail(c, r);
		if (c->cb.on_rcpt_reply)
			c->cb.on_rcpt_reply(c, e->idx, r, c->ud);
		if (c->rcpt_replies < c->nrcpt || !c->msg)
			return 0;
		if (c->rcpt_ok == 0) {
			if (!c->bdat && pipelining(c))
				return 0; /* the DATA reply ends it */
			q_drop_staged(c);
			msg_done(c, &c->fail, SMTP_CLI_FAIL_REPLY);
			go_ready(c);
			return 0;
		}
		if (c->bdat) {
			c->st = SMTP_CLI_CONTENT;
			c->t_last = c->now;
			if (c->cb.on_data_ready)
				c->cb.on_data_ready(c, c->ud);
		}
		return 0;
	case K_DATA:
		if (r->code == 354 && c->rcpt_ok && c->mail_ok) {
			c->st = SMTP_CLI_CONTENT;
			c->ds = DS_BOL;
			c->t_last = c->now;
			if (c->cb.on_data_ready)
				c->cb.on_data_ready(c, c->ud);
			return 0;
		}
		if (r->code == 354) {
			/* No recipient, yet 354: end the empty data at once; the
			 * reply to the dot is ignored. */
			int rc = q_push(c, K_DOT, UINT32_MAX, ".");

			if (rc)
				return rc;
			msg_done(c, &c->fail, SMTP_CLI_FAIL_REPLY);
			return q_flush(c);
		}
		msg_done(c, c->mail_ok && c->rcpt_ok ? r : &c->fail, SMTP_CLI_FAIL_REPLY);
		go_ready(c);
		return 0;
	default:
		return 0;
	}
}

static int dispatch(struct smtp_cli *c, const struct smtp_reply *r)
{
	bool ok = r->code >= 200 && r->code < 300;
	struct cq e;
	int rc = 0;

	if (c->qn == 0 || c->nsent == 0) {
		/* Unsolicited: only 421 (service closing) is allowed. */
		fail_session(c, r->code == 421 ? SMTP_CLI_FAIL_REPLY : SMTP_CLI_FAIL_PROTO, r);
		return r->code == 421 ? 0 : MXG_E_PROTO;
	}
	e = q_pop(c);
	c->t_last = c->now;
	if (r->code == 421 && e.kind != K_QUIT) {
		fail_session(c, SMTP_CLI_FAIL_REPLY, r);
		return 0;
	}
	switch (e.kind) {
	case K_GREETING:
		if (r->code != 220) {
			fail_session(c, SMTP_CLI_FAIL_REPLY, r);
			return 0;
		}
		rc = send_ehlo(c, false);
		break;
	case K_EHLO:
		if (ok) {
			parse_ehlo(c, r);
			rc = after_ehlo(c);
		} else if (r->code >= 500) {
			rc = send_ehlo(c, true);
		} else {
			fail_session(c, SMTP_CLI_FAIL_REPLY, r);
		}
		break;
	case K_HELO:
		if (!ok) {
			fail_session(c, SMTP_CLI_FAIL_REPLY, r);
			break;
		}
		c->ext = 0;
		rc = after_ehlo(c);
		break;
	case K_STARTTLS:
		if (r->code == 220) {
			c->st = SMTP_CLI_TLS_WAIT;
			if (c->cb.on_starttls && (rc = c->cb.on_starttls(c, c->ud)) == SMTP_E_PAUSE)
				rc = 0;
		} else if (c->cfg.flags & SMTP_CLI_F_REQUIRE_TLS) {
			fail_session(c, SMTP_CLI_FAIL_TLS, r);
		} else {
			go_ready(c);
		}
		break;
	case K_RSET:
	case K_XFORWARD:
		break; /* the MAIL reply decides */
	case K_MAIL:
	case K_RCPT:
	case K_DATA:
		if (c->msg)
			rc = envelope_reply(c, &e, r);
		break;
	case K_BDAT:
		if (!ok && !c->bdat_failed) {
			c->bdat_failed = true;
			save_fail(c, r);
		}
		break;
	case K_DOT:
	case K_BDAT_LAST:
		if (e.idx == UINT32_MAX) {
			go_ready(c); /* the dot after a recipient-less 354 */
			break;
		}
		if (c->bdat_failed)
			msg_done(c, &c->fail, SMTP_CLI_FAIL_REPLY);
		else
			msg_done(c, r, SMTP_CLI_OK);
		if (c->st != SMTP_CLI_CLOSED)
			go_ready(c);
		break;
	case K_QUIT:
		closed(c, SMTP_CLI_OK);
		return 0;
	}
	if (rc < 0)
		return rc;
	if (c->st != SMTP_CLI_CLOSED)
		rc = q_flush(c);
	return rc;
}

static bool is_enh(const char *p, size_t n, int cls, size_t *len)
{
	size_t i = 0, parts = 0;

	if (n < 5 || p[0] != '0' + cls || p[1] != '.')
		return false;
	while (parts < 3) {
		size_t d = 0;

		while (i < n && p[i] >= '0' && p[i] <= '9' && d < 4) {
			i++;
			d++;
		}
		if (d == 0)
			return false;
		parts++;
		if (parts < 3) {
			if (i >= n || p[i] != '.')
				return false;
			i++;
		}
	}
	if (i < n && p[i] != ' ')
		return false;
	*len = i;
	return true;
}

/* One reply line (without CRLF). */
static int reply_line(struct smtp_cli *c, const char *p, size_t n)
{
	int code;
	bool last;
	size_t el;

	if (n < 3 || p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '5' ||
	    p[2] < '0' || p[2] > '9' || (n > 3 && p[3] != '-' && p[3] != ' '))
		return MXG_E_PROTO;
	code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	if (c->rlines && code != c->rcode)
		return MXG_E_PROTO;
	if (++c->rlines > c->cfg.reply_lines_max)
		return MXG_E_PROTO;
	c->rcode = code;
	last = n == 3 || p[3] == ' ';
	p += n > 3 ? 4 : 3;
	n -= n > 3 ? 4 : 3;
	if (is_enh(p, n, code / 100, &el)) {
		if (c->rlines == 1)
			smtp_copy_text(c->renh, sizeof(c->renh), p, el);
		p += el;
		n -= el;
		if (n && *p == ' ') {
			p++;
			n--;
		}
	} else if (c->rlines == 1) {
		c->renh[0] = '\0';
	}
	if (c->rtext_len + n + 1 > c->rtext_cap) {
		size_t cap = c->rtext_cap ? c->rtext_cap : 256;
		char *t;

		while (cap < c->rtext_len + n + 1)
			cap *= 2;
		t = mxg_realloc(c->mem, c->rtext, cap);
		if (!t)
			return MXG_E_NOMEM;
		c->rtext = t;
		c->rtext_cap = cap;
	}
	if (c->rlines > 1)
		c->rtext[c->rtext_len++] = '\n';
	memcpy(c->rtext + c->rtext_len, p, n);
	c->rtext_len += n;
	if (last) {
		struct smtp_reply r = {
			.code = c->rcode, .text = c->rtext, .text_len = c->rtext_len,
			.lines = c->rlines,
		};

		memcpy(r.enh, c->renh, sizeof(r.enh));
		c->rlines = 0;
		c->rtext_len = 0;
		return dispatch(c, &r);
	}
	return 0;
}

ssize_t smtp_cli_input(struct smtp_cli *c, const uint8_t *in, size_t len, mxg_tstamp now)
{
	size_t off = 0;

	if (!c->started)
		return MXG_E_INVAL;
	c->now = now;
	while (off < len) {
		const uint8_t *lf;
		size_t take;
		int rc;

		if (c->st == SMTP_CLI_CLOSED || c->st == SMTP_CLI_TLS_WAIT)
			return (ssize_t)len; /* nothing more is read (CVE-2011-0411 too) */
		lf = memchr(in + off, '\n', len - off);
		take = lf ? (size_t)(lf - (in + off)) + 1 : len - off;
		if (c->line_len + take > c->cfg.reply_line_max) {
			fail_session(c, SMTP_CLI_FAIL_PROTO, NULL);
			return MXG_E_PROTO;
		}
		memcpy(c->line + c->line_len, in + off, take);
		c->line_len += (uint32_t)take;
		off += take;
		if (!lf)
			break;
		if (c->line_len < 2 || c->line[c->line_len - 2] != '\r' ||
		    memchr(c->line, '\0', c->line_len - 2) || memchr(c->line, '\r', c->line_len - 2)) {
			fail_session(c, SMTP_CLI_FAIL_PROTO, NULL);
			return MXG_E_PROTO;
		}
		rc = reply_line(c, c->line, c->line_len - 2);
		c->line_len = 0;
		if (rc == MXG_E_PROTO || rc == MXG_E_NOMEM) {
			fail_session(c, SMTP_CLI_FAIL_PROTO, NULL);
			return rc;
		}
		if (rc < 0)
			return rc;
	}
	return (ssize_t)len;
}

/* ------------------------------------------------------------ the API */

int smtp_cli_start(struct smtp_cli *c, mxg_tstamp now)
{
	if (c->started)
		return MXG_E_INVAL;
	c->started = true;
	c->now = c->t_last = now;
	c->st = SMTP_CLI_GREETING;
	return q_sent(c, K_GREETING);
}

int smtp_cli_tls_done(struct smtp_cli *c, mxg_tstamp now)
{
	if (c->st != SMTP_CLI_TLS_WAIT)
		return MXG_E_INVAL;
	c->now = now;
	c->tls = true;
	c->ext = 0;
	return send_ehlo(c, false);
}

static bool addr_ok(const char *a)
{
	for (; *a; a++)
		if (*a == '\r' || *a == '\n' || *a == '<' || *a == '>' || (unsigned char)*a < 32)
			return false;
	return true;
}

static bool param_ok(const char *a)
{
	for (; *a; a++)
		if ((unsigned char)*a <= 32 || (unsigned char)*a >= 127)
			return false;
	return true;
}

/* Appends xtext(|v|) (RFC 3461 4) to |dst|. */
static void xtext(char *dst, size_t cap, const char *v)
{
	size_t o = strlen(dst);

	for (; *v && o + 4 < cap; v++) {
		unsigned char ch = (unsigned char)*v;

		if (ch < 33 || ch > 126 || ch == '+' || ch == '=')
			o += (size_t)snprintf(dst + o, cap - o, "+%02X", ch);
		else
			dst[o++] = (char)ch;
	}
	dst[o] = '\0';
}

static int push_xforward(struct smtp_cli *c, const struct smtp_xforward *x)
{
	const char *const names[2][3] = { { "NAME", "ADDR", "PORT" }, { "PROTO", "HELO", "SOURCE" } };
	const char *vals[2][3] = { { x->name, x->addr, x->port }, { x->proto, x->helo, x->source } };

	for (int g = 0; g < 2; g++) {
		char line[1024] = "";

		for (int i = 0; i < 3; i++) {
			size_t o = strlen(line);

			if (!vals[g][i])
				continue;
			snprintf(line + o, sizeof(line) - o, " %s=", names[g][i]);
			xtext(line, sizeof(line), vals[g][i]);
		}
		if (line[0]) {
			int rc = q_push(c, K_XFORWARD, 0, "XFORWARD%s", line);

			if (rc)
				return rc;
		}
	}
	return 0;
}

int smtp_cli_msg_begin(struct smtp_cli *c, const struct smtp_envelope *env, mxg_tstamp now)
{
	char params[512];
	size_t mark_q, mark_stage;
	int rc;

	if (c->st != SMTP_CLI_READY || c->msg || !env || !env->mail_from || env->nrcpt == 0 ||
	    env->nrcpt > UINT32_MAX - 1 || !addr_ok(env->mail_from) ||
	    (env->envid && !param_ok(env->envid)))
		return MXG_E_INVAL;
	for (size_t i = 0; i < env->nrcpt; i++)
		if (!env->rcpt[i].addr || !env->rcpt[i].addr[0] || !addr_ok(env->rcpt[i].addr) ||
		    (env->rcpt[i].orcpt && !param_ok(env->rcpt[i].orcpt)))
			return MXG_E_INVAL;
	c->now = now;
	mark_q = c->qn;
	mark_stage = c->stage.len;
	if (c->first_done)
		rc = q_push(c, K_RSET, 0, "RSET");
	else
		rc = 0;
	if (!rc && env->xforward && (c->ext & SMTP_EXT_XFORWARD) &&
	    (c->cfg.flags & SMTP_CLI_F_XFORWARD))
		rc = push_xforward(c, env->xforward);
	params[0] = '\0';
	if ((c->ext & SMTP_EXT_SIZE) && env->size)
		snprintf(params + strlen(params), sizeof(params) - strlen(params), " SIZE=%llu",
			 (unsigned long long)env->size);
	if ((c->ext & SMTP_EXT_8BITMIME) && env->body == SMTP_BODY_8BITMIME)
		snprintf(params + strlen(params), sizeof(params) - strlen(params), " BODY=8BITMIME");
	if ((c->ext & SMTP_EXT_SMTPUTF8) && env->smtputf8)
		snprintf(params + strlen(params), sizeof(params) - strlen(params), " SMTPUTF8");
	if ((c->ext & SMTP_EXT_DSN) && env->ret != SMTP_RET_NONE)
		snprintf(params + strlen(params), sizeof(params) - strlen(params), " RET=%s",
			 env->ret == SMTP_RET_FULL ? "FULL" : "HDRS");
	if ((c->ext & SMTP_EXT_DSN) && env->envid)
		snprintf(params + strlen(params), sizeof(params) - strlen(params), " ENVID=%.100s",
			 env->envid);
	if (!rc)
		rc = q_push(c, K_MAIL, 0, "MAIL FROM:<%s>%s", env->mail_from, params);
	for (size_t i = 0; !rc && i < env->nrcpt; i++) {
		const struct smtp_rcpt *r = &env->rcpt[i];

		params[0] = '\0';
		if ((c->ext & SMTP_EXT_DSN) && r->notify) {
			if (r->notify & SMTP_NOTIFY_NEVER)
				snprintf(params, sizeof(params), " NOTIFY=NEVER");
			else
				snprintf(params, sizeof(params), " NOTIFY=%s%s%s%s%s",
					 r->notify & SMTP_NOTIFY_SUCCESS ? "SUCCESS" : "",
					 (r->notify & SMTP_NOTIFY_SUCCESS) &&
					 (r->notify & (SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY)) ? "," : "",
					 r->notify & SMTP_NOTIFY_FAILURE ? "FAILURE" : "",
					 (r->notify & SMTP_NOTIFY_FAILURE) && (r->notify & SMTP_NOTIFY_DELAY) ? "," : "",
					 r->notify & SMTP_NOTIFY_DELAY ? "DELAY" : "");
		}
		if ((c->ext & SMTP_EXT_DSN) && r->orcpt)
			snprintf(params + strlen(params), sizeof(params) - strlen(params),
				 " ORCPT=%.480s", r->orcpt);
		rc = q_push(c, K_RCPT, (uint32_t)i, "RCPT TO:<%s>%s", r->addr, params);
	}
	c->bdat = (c->ext & SMTP_EXT_CHUNKING) && pipelining(c) &&
		  !(c->cfg.flags & SMTP_CLI_F_NO_CHUNKING);
	if (!rc && !c->bdat)
		rc = q_push(c, K_DATA, 0, "DATA");
	if (rc) {
		/* undo: nothing of this message was sent */
		c->qn = mark_q;
		c->stage.len = mark_stage;
		return rc;
	}
	c->msg = true;
	c->mail_ok = false;
	c->bdat_failed = false;
	c->nrcpt = env->nrcpt;
	c->rcpt_ok = 0;
	c->rcpt_replies = 0;
	c->fail = (struct smtp_reply){ .code = 0, .text = "" };
	c->st = SMTP_CLI_ENVELOPE;
	return q_flush(c);
}

/* The index of the first CR or LF in p[i..n), or n. */
static size_t eol_scan(const uint8_t *p, size_t i, size_t n)
{
	const uint8_t *cr = memchr(p + i, '\r', n - i);
	size_t end = cr ? (size_t)(cr - p) : n;
	const uint8_t *lf = memchr(p + i, '\n', end - i);

	return lf ? (size_t)(lf - p) : end;
}

ssize_t smtp_cli_data_write(struct smtp_cli *c, const uint8_t *p, size_t n, mxg_tstamp now)
{
	size_t i = 0, run = 0;
	int rc;

	if (c->st != SMTP_CLI_CONTENT)
		return MXG_E_INVAL;
	c->now = c->t_last = now;
	if (smtp_buf_pending(&c->out) >= c->cfg.out_max)
		return 0;
	if (c->bdat) {
		char hdr[32];

		if (n == 0)
			return 0;
		snprintf(hdr, sizeof(hdr), "BDAT %zu\r\n", n);
		rc = smtp_buf_append(&c->out, c->mem, hdr, strlen(hdr));
		if (!rc)
			rc = smtp_buf_append(&c->out, c->mem, p, n);
		if (!rc)
			rc = q_sent(c, K_BDAT);
		return rc ? rc : (ssize_t)n;
	}
	/* DATA: dot-stuff, and write every line end as CRLF. The content is
	 * copied in runs as long as the chunk: only a stuffed dot or a
	 * completed bare CR or LF ends one (a copy per line cost more than
	 * the copying itself on an 80-column message). */
#define FLUSH_RUN()                                                             \
	do {                                                                    \
		rc = smtp_buf_append(&c->out, c->mem, p + run, i - run);        \
		if (rc)                                                         \
			return rc;                                              \
		run = i;                                                        \
	} while (0)
	while (i < n) {
		switch (c->ds) {
		case DS_BOL:
			if (p[i] == '.') {
				FLUSH_RUN(); /* the line's own dot starts the next run */
				rc = smtp_buf_append(&c->out, c->mem, ".", 1);
				if (rc)
					return rc;
			}
			c->ds = DS_MID;
			break;
		case DS_MID:
			i = eol_scan(p, i, n);
			if (i == n)
				break;
			if (p[i] == '\r') {
				i++;
				c->ds = DS_CR;
			} else {
				FLUSH_RUN(); /* bare LF: write CRLF instead */
				rc = smtp_buf_append(&c->out, c->mem, "\r\n", 2);
				if (rc)
					return rc;
				run = ++i;
				c->ds = DS_BOL;
			}
			break;
		case DS_CR:
			if (p[i] != '\n') {
				FLUSH_RUN(); /* bare CR: complete it to CRLF */
				rc = smtp_buf_append(&c->out, c->mem, "\n", 1);
				if (rc)
					return rc;
			} else {
				i++;
			}
			c->ds = DS_BOL;
			break;
		}
	}
	FLUSH_RUN();
#undef FLUSH_RUN
	return (ssize_t)n;
}

int smtp_cli_data_end(struct smtp_cli *c, mxg_tstamp now)
{
	int rc;

	if (c->st != SMTP_CLI_CONTENT)
		return MXG_E_INVAL;
	c->now = now;
	if (c->bdat) {
		rc = smtp_buf_append(&c->out, c->mem, "BDAT 0 LAST\r\n", 13);
		if (!rc)
			rc = q_sent(c, K_BDAT_LAST);
	} else {
		static const char *const tail[] = { [DS_BOL] = ".\r\n", [DS_MID] = "\r\n.\r\n",
						    [DS_CR] = "\n.\r\n" };

		rc = smtp_buf_append(&c->out, c->mem, tail[c->ds], strlen(tail[c->ds]));
		if (!rc)
			rc = q_sent(c, K_DOT);
	}
	if (rc)
		return rc;
	c->st = SMTP_CLI_EOD;
	return 0;
}

int smtp_cli_msg_abort(struct smtp_cli *c, mxg_tstamp now)
{
	if (!c->msg)
		return MXG_E_INVAL;
	c->now = now;
	/* Pipelined commands (maybe DATA) are in flight and content may have
	 * been written: only closing is safe, never a guessed end of data. */
	fail_session(c, SMTP_CLI_FAIL_ABORT, NULL);
	return 0;
}

int smtp_cli_quit(struct smtp_cli *c, mxg_tstamp now)
{
	int rc;

	if (c->st != SMTP_CLI_READY)
		return MXG_E_INVAL;
	c->now = now;
	rc = q_push(c, K_QUIT, 0, "QUIT");
	if (rc)
		return rc;
	c->st = SMTP_CLI_QUIT;
	return q_flush(c);
}

void smtp_cli_closed(struct smtp_cli *c)
{
	if (c->st == SMTP_CLI_QUIT) {
		closed(c, SMTP_CLI_OK);
		return;
	}
	fail_session(c, SMTP_CLI_FAIL_CLOSED, NULL);
}

size_t smtp_cli_output(struct smtp_cli *c, const uint8_t **out)
{
	*out = c->out.p ? c->out.p + c->out.off : (const uint8_t *)"";
	return smtp_buf_pending(&c->out);
}

void smtp_cli_output_consumed(struct smtp_cli *c, size_t n)
{
	smtp_buf_consume(&c->out, n);
}

mxg_tstamp smtp_cli_deadline(const struct smtp_cli *c)
{
	if (!c->started || c->st == SMTP_CLI_CLOSED || c->st == SMTP_CLI_TLS_WAIT)
		return MXG_TS_NONE;
	if (c->nsent) {
		uint8_t k = c->q[0].kind;

		return c->t_last + ((k == K_DOT || k == K_BDAT_LAST) ? c->cfg.tmo_eod : c->cfg.tmo_reply);
	}
	if (c->st == SMTP_CLI_CONTENT)
		return c->t_last + c->cfg.tmo_data;
	return MXG_TS_NONE;
}

int smtp_cli_on_timer(struct smtp_cli *c, mxg_tstamp now)
{
	mxg_tstamp d = smtp_cli_deadline(c);

	c->now = now;
	if (d == MXG_TS_NONE || now < d)
		return 0;
	fail_session(c, SMTP_CLI_FAIL_TIMEOUT, NULL);
	return 1;
}

enum smtp_cli_state smtp_cli_state(const struct smtp_cli *c) { return c->st; }
bool smtp_cli_want_close(const struct smtp_cli *c) { return c->st == SMTP_CLI_CLOSED; }
uint32_t smtp_cli_server_ext(const struct smtp_cli *c) { return c->ext; }
uint64_t smtp_cli_server_size(const struct smtp_cli *c) { return c->srv_size; }
