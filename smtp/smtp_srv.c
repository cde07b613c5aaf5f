/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_srv.c - sans-IO SMTP server engine: session life cycle, input
 * framing, DATA and BDAT content, timeouts. Commands: smtp_srv_cmd.c.
 *
 * STANDARDS
 *	RFC 5321 (SMTP), RFC 1870 (SIZE), RFC 2920 (PIPELINING), RFC 3030
 *	(CHUNKING/BDAT), RFC 3207 (STARTTLS), RFC 3461 (DSN), RFC 6152
 *	(8BITMIME), RFC 6531 (SMTPUTF8), RFC 2034 (ENHANCEDSTATUSCODES),
 *	HAProxy PROXY protocol v1/v2, Postfix XCLIENT/XFORWARD.
 *
 * SECURITY
 *	SMTP smuggling (CVE-2023-51764/51765/51766): only CR LF "." CR LF ends
 *	DATA. A bare LF, a bare CR or a NUL anywhere in DATA or BDAT content
 *	makes the engine drop the message: it calls on_data_abort at once (the
 *	caller stops forwarding), keeps reading until the real CR LF "." CR LF
 *	(or the end of the BDAT LAST chunk), answers 550 5.6.0 and closes the
 *	session, so a transaction pipelined behind the ambiguous line end is
 *	never read. This is Postfix's smtpd_forbid_bare_newline=yes stance.
 *
 *	REJECTING VERSUS NORMALISING. Normalising bare LF to CRLF would also keep
 *	the boundaries equal, but it changes signed messages (DKIM) behind the
 *	sender's back and makes the scanner and the downstream depend on one
 *	more rewriting step being identical. Rejecting is simple to verify: what
 *	on_data_chunk sees is what a strict RFC 5321 receiver sees, and nothing
 *	with an ambiguous line end is ever forwarded. Legitimate mail does not
 *	carry bare LF since RFC 821. Command lines must end in CRLF as well
 *	(bare LF: 500 5.5.2), so no command can hide inside a line.
 *
 *	STARTTLS command injection (CVE-2011-0411): after "220 Ready to start
 *	TLS" everything already received in plaintext is discarded (counted as
 *	SMTP_ANOM_TLS_INJECT) and the session restarts after the handshake.
 *
 *	End-to-end acknowledgement: on_end_of_data only announces the end; the
 *	reply comes from smtp_srv_reply_eod and every pipelined command behind
 *	it waits (input is not consumed) until then. MAIL/RCPT decisions may be
 *	asynchronous the same way (SMTP_CB_PENDING, smtp_srv_reply_cmd).
 *
 * LIMITS (per instance, struct smtp_srv_limits)
 *	command line (500 5.5.2), recipients (452 4.5.3), message size
 *	(552 5.3.4, SIZE= and actual), commands and error replies per session
 *	(421 4.7.0), greeting/command/data timeouts (421 4.4.2), buffered reply
 *	bytes (input pauses). Text lines over 1000 octets are only reported.
 *
 * PERFORMANCE
 *	Content is handed to on_data_chunk as slices of the caller's input: no
 *	copy, no allocation per byte or per chunk. Only NUL, CR, LF (and, in
 *	7-bit mode, octets >= 0x80) stop the content scan; content_span() skips
 *	everything else 16 octets at a time (SSE2; 8 with a portable word
 *	scan elsewhere), and a CR LF followed by anything but "." is taken
 *	without a trip through the line-start states. Replies are batched in
 *	one buffer.
 *
 *	-DSMTP_SRV_SCAN_BYTEWISE builds the previous byte-at-a-time scan (the
 *	byte-class table alone, every line end through D_CR and D_BOL), and
 *	-DSMTP_SRV_SCAN_SWAR the word scan on any CPU: the unit tests build
 *	all three and require identical results (test_smtp_srv_scan.c), as
 *	ngtcp2's NOMEMPOOL keeps its plain path buildable.
 */
#include <stdio.h>

#if defined(__SSE2__) && !defined(SMTP_SRV_SCAN_SWAR) && !defined(SMTP_SRV_SCAN_BYTEWISE)
#define SCAN_SSE2 1
#include <emmintrin.h>
#endif

#include "smtp_int.h"

#define DEF_LINE_MAX 2048
#define DEF_RCPT_MAX 1000
#define DEF_MSG_MAX (50ULL * 1024 * 1024)
#define DEF_CMD_MAX 10000
#define DEF_ERR_MAX 20
#define DEF_OUT_MAX 65536
#define TEXT_LINE_MAX 998

/* Byte classes for content: non-zero stops the fast scan. */
static const uint8_t cls_7bit[256] = {
	[0] = 1, ['\r'] = 1, ['\n'] = 1, [0x80 ... 0xff] = 1,
};
static const uint8_t cls_8bit[256] = {
	[0] = 1, ['\r'] = 1, ['\n'] = 1,
};

/*
 * Returns the length of the run of class-0 octets at the start of p[0..n):
 * the index of the first NUL, CR, LF or (with cls_7bit) octet >= 0x80, or
 * n. The block scans only skip blocks holding none of them; the byte loop
 * finds the exact position inside the block that does.
 */
static inline size_t content_span(const uint8_t *cls, const uint8_t *p, size_t n)
{
	size_t j = 0;

#if defined(SCAN_SSE2)
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n'),
		      nul = _mm_setzero_si128();
	const int hi = cls == cls_7bit ? 0xffff : 0;

	while (n - j >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + j));
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, cr),
						      _mm_cmpeq_epi8(v, lf)),
					 _mm_cmpeq_epi8(v, nul));
		unsigned int bits = (unsigned int)(_mm_movemask_epi8(m) |
						   (_mm_movemask_epi8(v) & hi));

		if (bits)
			return j + (size_t)__builtin_ctz(bits);
		j += 16;
	}
#elif !defined(SMTP_SRV_SCAN_BYTEWISE)
	/* A zero octet in x sets 0x80 in (x - 0x01..) & ~x (Mycroft); a block
	 * with no NUL, CR or LF (and no high bit in 7-bit mode) sets none. */
	const uint64_t ones = 0x0101010101010101ULL, highs = ones * 0x80;
	const uint64_t hi = cls == cls_7bit ? highs : 0;

	while (n - j >= 8) {
		uint64_t w, c, l;

		memcpy(&w, p + j, sizeof(w));
		c = w ^ (ones * '\r');
		l = w ^ (ones * '\n');
		if (((((w - ones) & ~w) | ((c - ones) & ~c) | ((l - ones) & ~l)) & highs) ||
		    (w & hi))
			break;
		j += 8;
	}
#endif
	while (j < n && !cls[p[j]])
		j++;
	return j;
}

void smtp_srv_config_init(struct smtp_srv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->hostname = "localhost";
	cfg->ext = SMTP_EXT_DEFAULT;
}

static void limits_default(struct smtp_srv_limits *l)
{
	if (!l->line_max)
		l->line_max = DEF_LINE_MAX;
	if (!l->rcpt_max)
		l->rcpt_max = DEF_RCPT_MAX;
	if (!l->msg_size_max)
		l->msg_size_max = DEF_MSG_MAX;
	if (!l->cmd_max)
		l->cmd_max = DEF_CMD_MAX;
	if (!l->err_max)
		l->err_max = DEF_ERR_MAX;
	if (!l->out_max)
		l->out_max = DEF_OUT_MAX;
	if (!l->tmo_greeting)
		l->tmo_greeting = 30 * MXG_NSEC_PER_SEC;
	if (!l->tmo_command)
		l->tmo_command = 300 * MXG_NSEC_PER_SEC;
	if (!l->tmo_data)
		l->tmo_data = 180 * MXG_NSEC_PER_SEC;
}

struct smtp_srv *smtp_srv_new(const struct mxg_mem *mem, const struct smtp_srv_config *cfg,
			      const struct smtp_srv_callbacks *cb, void *ud)
{
	struct smtp_srv *s;

	if (!mem)
		mem = mxg_mem_default();
	if (!cfg)
		return NULL;
	if (cfg->limits.line_max && cfg->limits.line_max < 512)
		return NULL;
	s = mxg_calloc(mem, 1, sizeof(*s));
	if (!s)
		return NULL;
	s->mem = mem;
	if (cb)
		s->cb = *cb;
	s->ud = ud;
	s->lim = cfg->limits;
	limits_default(&s->lim);
	s->ext = cfg->ext;
	s->flags = cfg->flags;
	s->known = cfg->flags & SMTP_SRV_F_KNOWN_HOST;
	s->tls = cfg->flags & SMTP_SRV_F_TLS;
	smtp_copy_text(s->host, sizeof(s->host), cfg->hostname ? cfg->hostname : "localhost",
		       strlen(cfg->hostname ? cfg->hostname : "localhost"));
	s->cls = cls_7bit;
	s->line = mxg_malloc(mem, s->lim.line_max);
	if (!s->line)
		goto fail;
	if (s->flags & SMTP_SRV_F_PROXY) {
		s->pbuf = mxg_malloc(mem, SMTP_PROXY_MAX);
		if (!s->pbuf)
			goto fail;
	}
	return s;
fail:
	smtp_srv_free(s);
	return NULL;
}

void smtp_srv_free(struct smtp_srv *s)
{
	if (!s)
		return;
	smtp_buf_free(&s->out, s->mem);
	mxg_free(s->mem, s->line);
	s->line = NULL;
	mxg_free(s->mem, s->pbuf);
	s->pbuf = NULL;
	mxg_free(s->mem, s);
}

void srv_anomaly(struct smtp_srv *s, enum smtp_anomaly a)
{
	s->anom[a]++;
	if (s->cb.on_anomaly)
		s->cb.on_anomaly(s, a, s->ud);
}

static int vreply(struct smtp_srv *s, int code, const char *enh, const char *fmt, va_list ap)
{
	char text[512];

	vsnprintf(text, sizeof(text), fmt, ap);
	return smtp_buf_reply(&s->out, s->mem, code, ' ', enh, "%s", text);
}

int srv_reply(struct smtp_srv *s, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vreply(s, code, enh, fmt, ap);
	va_end(ap);
	return rc;
}

void srv_close(struct smtp_srv *s)
{
	if (s->st == SMTP_ST_DATA || s->st == SMTP_ST_BDAT ||
	    (s->bdat_mode && s->in_txn && !s->reject))
		srv_reset_txn(s, true);
	s->st = SMTP_ST_CLOSED;
	s->hold = HOLD_NONE;
}

/* An error reply: counted against err_max (421 4.7.0 and close past it). */
int srv_reply_err(struct smtp_srv *s, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vreply(s, code, enh, fmt, ap);
	va_end(ap);
	if (rc)
		return rc;
	if (++s->nerr >= s->lim.err_max && s->st != SMTP_ST_CLOSED) {
		rc = srv_reply(s, 421, "4.7.0", "%s Error: too many errors", s->host);
		srv_close(s);
	}
	return rc;
}

void srv_reset_txn(struct smtp_srv *s, bool abort_cb)
{
	bool streaming = s->st == SMTP_ST_DATA || s->st == SMTP_ST_BDAT || s->bdat_mode;

	if (abort_cb && s->in_txn && streaming && !s->reject && s->cb.on_data_abort)
		s->cb.on_data_abort(s, s->st == SMTP_ST_DATA || s->st == SMTP_ST_BDAT ?
				    SMTP_ABORT_TIMEOUT : SMTP_ABORT_RESET, s->ud);
	s->in_txn = false;
	s->nrcpt = 0;
	s->body = SMTP_BODY_NONE;
	s->smtputf8 = false;
	s->bdat_mode = false;
	s->bdat_last = false;
	s->bdat_discard = false;
	s->bdat_cr = false;
	s->bdat_left = 0;
	s->msg_size = 0;
	s->reject = 0;
	s->long_seen = false;
	s->dst = D_BOL;
	s->linelen = 0;
}

void srv_data_begin(struct smtp_srv *s)
{
	s->cls = (s->body == SMTP_BODY_8BITMIME || s->body == SMTP_BODY_BINARYMIME ||
		  s->smtputf8) ? cls_8bit : cls_7bit;
	s->dst = D_BOL;
	s->linelen = 0;
	s->msg_size = 0;
	s->reject = 0;
	s->long_seen = false;
	s->bdat_cr = false;
}

int srv_greeting(struct smtp_srv *s, const char *text)
{
	s->st = SMTP_ST_COMMAND;
	s->hold = HOLD_NONE;
	s->last = s->now;
	return smtp_buf_reply(&s->out, s->mem, 220, ' ', NULL, "%s %s", s->host,
			      text ? text : "ESMTP");
}

static void greet_or_hold(struct smtp_srv *s)
{
	if (s->flags & SMTP_SRV_F_GREET_HOLD) {
		s->st = SMTP_ST_GREETING;
		s->hold = HOLD_GREET;
	}
}

int smtp_srv_start(struct smtp_srv *s, const struct mxg_ip *peer, uint16_t port, mxg_tstamp now)
{
	if (s->started)
		return MXG_E_INVAL;
	s->started = true;
	s->now = s->t_start = s->last = now;
	if (peer)
		s->peer.addr = *peer;
	s->peer.port = port;
	if (s->flags & SMTP_SRV_F_PROXY) {
		s->st = SMTP_ST_PROXY;
		return 0;
	}
	greet_or_hold(s);
	if (s->hold == HOLD_GREET)
		return 0;
	return srv_greeting(s, NULL);
}

int smtp_srv_greet(struct smtp_srv *s, int code, const char *text, mxg_tstamp now)
{
	return smtp_srv_greet_enh(s, code, NULL, text, now);
}

int smtp_srv_greet_enh(struct smtp_srv *s, int code, const char *enh, const char *text,
		       mxg_tstamp now)
{
	char t[256];

	if (s->hold != HOLD_GREET || (code != 220 && code != 421 && code != 450 && code != 554))
		return MXG_E_INVAL;
	s->now = now;
	if (text)
		smtp_copy_text(t, sizeof(t), text, strlen(text));
	if (code == 220)
		return srv_greeting(s, text ? t : NULL);
	s->hold = HOLD_NONE;
	s->st = SMTP_ST_CLOSED;
	if (!enh || !*enh)
		enh = code == 421 ? "4.3.2" : code == 450 ? "4.7.1" : "5.7.1";
	return smtp_buf_reply(&s->out, s->mem, code, ' ', enh,
			      "%s %s", s->host, text ? t : "Service not available");
}

/* ----------------------------------------------------------- PROXY header */

static ssize_t proxy_input(struct smtp_srv *s, const uint8_t *p, size_t n)
{
	struct smtp_proxy_info pi;
	size_t take = SMTP_PROXY_MAX - s->plen, old = s->plen;
	int rc;

	if (take > n)
		take = n;
	memcpy(s->pbuf + s->plen, p, take);
	s->plen += take;
	rc = smtp_proxy_parse(s->pbuf, s->plen, &pi);
	if (rc == 0) {
		if (s->plen < SMTP_PROXY_MAX)
			return (ssize_t)take;
		rc = MXG_E_INVAL;
	}
	if (rc < 0) {
		/* Not a proxy talking: close without a word (HAProxy does too). */
		srv_anomaly(s, SMTP_ANOM_PROXY_INVALID);
		s->st = SMTP_ST_CLOSED;
		return (ssize_t)n;
	}
	if (!pi.local) {
		s->peer.addr = pi.src;
		s->peer.port = pi.sport;
	}
	if (s->cb.on_proxy) {
		int r = s->cb.on_proxy(s, &pi, s->ud);

		if (r < 0 && r != SMTP_E_PAUSE)
			return r;
	}
	greet_or_hold(s);
	if (s->hold != HOLD_GREET) {
		int r = srv_greeting(s, NULL);

		if (r)
			return r;
	}
	return (ssize_t)((size_t)rc - old);
}

/* ---------------------------------------------------------- command lines */

static ssize_t cmd_input(struct smtp_srv *s, const uint8_t *p, size_t n)
{
	const uint8_t *lf = memchr(p, '\n', n);
	size_t take = lf ? (size_t)(lf - p) + 1 : n;
	int rc;

	if (!s->line_discard) {
		if (s->line_len + take > s->lim.line_max) {
			s->line_discard = true;
			s->line_len = 0;
		} else {
			memcpy(s->line + s->line_len, p, take);
			s->line_len += (uint32_t)take;
		}
	}
	if (!lf)
		return (ssize_t)take;
	if (s->line_discard) {
		s->line_discard = false;
		srv_anomaly(s, SMTP_ANOM_LINE_TOO_LONG);
		rc = srv_reply_err(s, 500, "5.5.2", "Error: line too long");
		return rc ? rc : (ssize_t)take;
	}
	rc = srv_process_line(s, s->line, s->line_len, take < n);
	if (s->hold != HOLD_CMD)
		s->line_len = 0;
	return rc < 0 ? rc : (ssize_t)take;
}

/* ---------------------------------------------------------------- content */

static void content_bad(struct smtp_srv *s, enum smtp_anomaly a, int why)
{
	if ((int)a >= 0)
		srv_anomaly(s, a);
	if (s->reject)
		return;
	s->reject = why;
	if (s->cb.on_data_abort)
		s->cb.on_data_abort(s, (enum smtp_abort)why, s->ud);
}

/* Hands content to the caller; enforces the size limit. */
static int emit(struct smtp_srv *s, const uint8_t *p, size_t n)
{
	int rc;

	if (n == 0 || s->reject || s->bdat_discard)
		return 0;
	if (n > s->lim.msg_size_max - s->msg_size) {
		s->msg_size = s->lim.msg_size_max + 1;
		content_bad(s, (enum smtp_anomaly)-1, SMTP_ABORT_SIZE);
		return 0;
	}
	s->msg_size += n;
	if (!s->cb.on_data_chunk)
		return 0;
	rc = s->cb.on_data_chunk(s, p, n, s->ud);
	if (rc == SMTP_E_PAUSE) {
		s->pause = true;
		return 0;
	}
	return rc < 0 ? rc : 0;
}

static void eightbit(struct smtp_srv *s)
{
	srv_anomaly(s, SMTP_ANOM_8BIT);
	s->cls = cls_8bit; /* once per message */
}

static void line_end(struct smtp_srv *s)
{
	if (s->linelen > TEXT_LINE_MAX && !s->long_seen) {
		s->long_seen = true;
		srv_anomaly(s, SMTP_ANOM_LINE_TOO_LONG);
	}
	s->linelen = 0;
}

/* The whole message is in: reject, or ask the caller for the verdict. */
static int end_of_message(struct smtp_srv *s)
{
	int rc;

	s->st = SMTP_ST_COMMAND;
	s->last = s->now;
	if (s->reject) {
		int why = s->reject;

		srv_reset_txn(s, false);
		if (why == SMTP_ABORT_SIZE)
			return srv_reply(s, 552, "5.3.4", "Error: message size exceeds fixed limit");
		/* A bare line end or NUL is a smuggling attempt or a broken client:
		 * answer, then close, so nothing pipelined behind it is read
		 * (Postfix smtpd_forbid_bare_newline disconnects as well). */
		if (why == SMTP_ABORT_NUL)
			rc = srv_reply(s, 550, "5.6.0", "Error: NUL character in message content");
		else
			rc = srv_reply(s, 550, "5.6.0",
				       "Error: bare <CR> or <LF> in message content (RFC 5321 2.3.8)");
		srv_close(s);
		return rc;
	}
	if (!s->cb.on_end_of_data) {
		srv_reset_txn(s, false);
		return srv_reply(s, 250, "2.0.0", "Ok: queued");
	}
	s->hold = HOLD_EOD;
	s->reply_set = false;
	s->in_cb = true;
	rc = s->cb.on_end_of_data(s, s->ud);
	s->in_cb = false;
	if (rc < 0 && rc != SMTP_E_PAUSE)
		return rc;
	if (rc == SMTP_E_PAUSE)
		s->pause = true;
	if (s->reply_set)
		return smtp_srv_reply_eod(s, s->rcode, s->renh, s->rtext);
	return 0;
}

static ssize_t data_input(struct smtp_srv *s, const uint8_t *p, size_t n)
{
	size_t i = 0, run = 0;
	int rc;

	while (i < n) {
		switch (s->dst) {
		case D_BOL:
			if (p[i] == '.') {
				rc = emit(s, p + run, i - run);
				i++;
				run = i;
				s->dst = D_DOT;
				if (rc)
					return rc;
				if (s->pause)
					return (ssize_t)i;
				break;
			}
			s->dst = D_MID;
			s->linelen = 0;
			break;
		case D_MID: {
			size_t j = i + content_span(s->cls, p + i, n - i);
			uint8_t c;

			s->linelen += (uint32_t)(j - i);
			i = j;
			if (i == n)
				break;
			c = p[i++];
			if (c == '\r') {
#ifndef SMTP_SRV_SCAN_BYTEWISE
				/* CR LF and a line that does not start with a dot:
				 * what D_CR and D_BOL would do, without the trips. */
				if (n - i >= 2 && p[i] == '\n' && p[i + 1] != '.') {
					i++;
					line_end(s);
					break;
				}
#endif
				s->dst = D_CR;
			} else if (c == '\n') {
				content_bad(s, SMTP_ANOM_BARE_LF, SMTP_ABORT_BARE_NL);
			} else if (c == 0) {
				content_bad(s, SMTP_ANOM_NUL, SMTP_ABORT_NUL);
			} else {
				eightbit(s);
				s->linelen++;
			}
			break;
		}
		case D_CR:
			if (p[i] == '\n') {
				i++;
				line_end(s);
				s->dst = D_BOL;
			} else {
				content_bad(s, SMTP_ANOM_BARE_CR, SMTP_ABORT_BARE_NL);
				s->dst = D_MID;
			}
			break;
		case D_DOT:
			if (p[i] == '\r') {
				i++;
				run = i; /* withhold the CR: it may end the data */
				s->dst = D_DOT_CR;
			} else {
				s->dst = D_MID; /* stuffed dot dropped (RFC 5321 4.5.2) */
				s->linelen = 0;
			}
			break;
		case D_DOT_CR:
			if (p[i] == '\n') {
				i++;
				rc = end_of_message(s);
				return rc < 0 ? rc : (ssize_t)i;
			}
			content_bad(s, SMTP_ANOM_BARE_CR, SMTP_ABORT_BARE_NL);
			s->dst = D_MID;
			break;
		}
	}
	rc = emit(s, p + run, i - run);
	return rc < 0 ? rc : (ssize_t)i;
}

static void bdat_scan(struct smtp_srv *s, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const uint8_t *cls = s->cls;
		uint8_t c;

		if (s->bdat_cr) {
			s->bdat_cr = false;
			if (p[i] == '\n') {
				i++;
				continue;
			}
			content_bad(s, SMTP_ANOM_BARE_CR, SMTP_ABORT_BARE_NL);
		}
		i += content_span(cls, p + i, n - i);
		if (i == n)
			break;
		c = p[i++];
		if (c == '\r')
			s->bdat_cr = true;
		else if (c == '\n')
			content_bad(s, SMTP_ANOM_BARE_LF, SMTP_ABORT_BARE_NL);
		else if (c == 0)
			content_bad(s, SMTP_ANOM_NUL, SMTP_ABORT_NUL);
		else
			eightbit(s);
	}
}

int srv_bdat_done(struct smtp_srv *s)
{
	s->st = SMTP_ST_COMMAND;
	if (s->bdat_discard) {
		s->bdat_discard = false;
		if (s->bdat_err == 554)
			return srv_reply_err(s, 554, "5.5.1", "Error: no valid recipients");
		return srv_reply_err(s, 503, "5.5.1", "Error: need MAIL and RCPT before BDAT");
	}
	if (!s->bdat_last)
		return srv_reply(s, 250, "2.0.0", "Ok: %llu octets received",
				 (unsigned long long)s->msg_size);
	if (s->bdat_cr) {
		s->bdat_cr = false;
		content_bad(s, SMTP_ANOM_BARE_CR, SMTP_ABORT_BARE_NL);
	}
	return end_of_message(s);
}

static ssize_t bdat_input(struct smtp_srv *s, const uint8_t *p, size_t n)
{
	size_t take = n;
	int rc;

	if (take > s->bdat_left)
		take = (size_t)s->bdat_left;
	if (!s->bdat_discard) {
		bdat_scan(s, p, take);
		rc = emit(s, p, take);
		if (rc)
			return rc;
	}
	s->bdat_left -= take;
	if (s->bdat_left == 0) {
		rc = srv_bdat_done(s);
		if (rc)
			return rc;
	}
	return (ssize_t)take;
}

/* ------------------------------------------------------------------ input */

ssize_t smtp_srv_input(struct smtp_srv *s, const uint8_t *in, size_t len, mxg_tstamp now)
{
	size_t off = 0;

	if (!s->started)
		return MXG_E_INVAL;
	s->now = now;
	s->pause = false;
	if (len && s->st != SMTP_ST_PROXY && s->st != SMTP_ST_GREETING)
		s->last = now;
	while (off < len) {
		ssize_t r;

		if (s->hold == HOLD_GREET && !s->early_seen) {
			s->early_seen = true;
			srv_anomaly(s, SMTP_ANOM_EARLY_TALKER);
		}
		if (s->hold != HOLD_NONE)
			break;
		if (smtp_buf_pending(&s->out) >= s->lim.out_max)
			break;
		switch (s->st) {
		case SMTP_ST_PROXY:
			r = proxy_input(s, in + off, len - off);
			break;
		case SMTP_ST_COMMAND:
			r = cmd_input(s, in + off, len - off);
			break;
		case SMTP_ST_DATA:
			r = data_input(s, in + off, len - off);
			break;
		case SMTP_ST_BDAT:
			r = bdat_input(s, in + off, len - off);
			break;
		case SMTP_ST_TLS_WAIT:
			/* CVE-2011-0411: plaintext after STARTTLS is dropped. */
			srv_anomaly(s, SMTP_ANOM_TLS_INJECT);
			r = (ssize_t)(len - off);
			break;
		case SMTP_ST_GREETING:
		case SMTP_ST_CLOSED:
		default:
			r = (ssize_t)(len - off);
			break;
		}
		if (r < 0)
			return r;
		off += (size_t)r;
		if (s->pause)
			break;
	}
	return (ssize_t)off;
}

size_t smtp_srv_output(struct smtp_srv *s, const uint8_t **out)
{
	*out = s->out.p ? s->out.p + s->out.off : (const uint8_t *)"";
	return smtp_buf_pending(&s->out);
}

void smtp_srv_output_consumed(struct smtp_srv *s, size_t n)
{
	smtp_buf_consume(&s->out, n);
}

mxg_tstamp smtp_srv_deadline(const struct smtp_srv *s)
{
	if (!s->started)
		return MXG_TS_NONE;
	switch (s->st) {
	case SMTP_ST_PROXY:
	case SMTP_ST_GREETING:
		return s->t_start + s->lim.tmo_greeting;
	case SMTP_ST_COMMAND:
	case SMTP_ST_TLS_WAIT:
		if (s->hold == HOLD_CMD || s->hold == HOLD_EOD)
			return MXG_TS_NONE; /* the caller owns that wait */
		return s->last + s->lim.tmo_command;
	case SMTP_ST_DATA:
	case SMTP_ST_BDAT:
		return s->last + s->lim.tmo_data;
	case SMTP_ST_CLOSED:
	default:
		return MXG_TS_NONE;
	}
}

int smtp_srv_on_timer(struct smtp_srv *s, mxg_tstamp now)
{
	mxg_tstamp d = smtp_srv_deadline(s);
	int rc;

	s->now = now;
	if (d == MXG_TS_NONE || now < d)
		return 0;
	if (s->st == SMTP_ST_PROXY) {
		s->st = SMTP_ST_CLOSED; /* no SMTP to a proxy that never spoke */
		return 1;
	}
	rc = srv_reply(s, 421, "4.4.2", "%s Error: timeout exceeded", s->host);
	srv_close(s);
	return rc ? rc : 1;
}

/* ---------------------------------------------------------------- answers */

int smtp_srv_reply_cmd(struct smtp_srv *s, int code, const char *enh, const char *text)
{
	bool inside = s->in_cb && s->hold != HOLD_EOD;

	if (!inside && s->hold != HOLD_CMD)
		return MXG_E_INVAL;
	if (code != 0 && (code < 200 || code > 599))
		return MXG_E_INVAL;
	s->rcode = code;
	snprintf(s->renh, sizeof(s->renh), "%s", enh ? enh : "");
	smtp_copy_text(s->rtext, sizeof(s->rtext), text ? text : "", text ? strlen(text) : 0);
	if (inside) {
		s->reply_set = true;
		return 0;
	}
	s->hold = HOLD_NONE;
	s->line_len = 0;
	s->last = s->now;
	return srv_finish_cmd(s, code, s->renh, s->rtext);
}

int smtp_srv_reply_eod(struct smtp_srv *s, int code, const char *enh, const char *text)
{
	char e[16], t[256];

	if (s->hold != HOLD_EOD || code < 200 || code > 599 || (code >= 300 && code < 400))
		return MXG_E_INVAL;
	if (s->in_cb && !s->reply_set) {
		s->rcode = code;
		snprintf(s->renh, sizeof(s->renh), "%s", enh ? enh : "");
		smtp_copy_text(s->rtext, sizeof(s->rtext), text ? text : "", text ? strlen(text) : 0);
		s->reply_set = true;
		return 0;
	}
	snprintf(e, sizeof(e), "%s", enh ? enh : "");
	smtp_copy_text(t, sizeof(t), text ? text : "", text ? strlen(text) : 0);
	s->hold = HOLD_NONE;
	s->reply_set = false;
	s->last = s->now;
	srv_reset_txn(s, false);
	if (!*t)
		snprintf(t, sizeof(t), "%s", code < 300 ? "Ok: queued" :
			 code < 500 ? "Error: try again later" : "Error: message rejected");
	return srv_reply(s, code, *e ? e : NULL, "%s", t);
}

int smtp_srv_tls_done(struct smtp_srv *s, mxg_tstamp now)
{
	if (s->st != SMTP_ST_TLS_WAIT)
		return MXG_E_INVAL;
	s->now = s->last = now;
	s->tls = true;
	/* RFC 3207 4.2: forget everything learned before TLS. */
	s->helo_seen = false;
	s->esmtp = false;
	s->peer.helo[0] = '\0';
	srv_reset_txn(s, false);
	s->st = SMTP_ST_COMMAND;
	return 0;
}

void smtp_srv_set_known_host(struct smtp_srv *s, bool known) { s->known = known; }
enum smtp_srv_state smtp_srv_state(const struct smtp_srv *s) { return s->st; }
bool smtp_srv_want_close(const struct smtp_srv *s) { return s->st == SMTP_ST_CLOSED; }
bool smtp_srv_blocked(const struct smtp_srv *s) { return s->hold != HOLD_NONE; }
bool smtp_srv_tls_active(const struct smtp_srv *s) { return s->tls; }
const struct smtp_peer *smtp_srv_peer(const struct smtp_srv *s) { return &s->peer; }
uint32_t smtp_srv_rcpt_count(const struct smtp_srv *s) { return s->nrcpt; }
uint64_t smtp_srv_msg_size(const struct smtp_srv *s) { return s->msg_size; }

uint64_t smtp_srv_anomalies(const struct smtp_srv *s, enum smtp_anomaly a)
{
	return (unsigned)a < SMTP_ANOM_MAX ? s->anom[a] : 0;
}
