/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_smtp.c - outgoing SMTP of mxgate-control (see ctl_smtp.h): the
 * smtp_cli engine driven from a libevent bufferevent.
 *
 * One session per message. The engine's callbacks only record what
 * happened (flags, reply codes); step() then acts on it, outside the
 * engine: begins the message when the session is ready, writes the content
 * while the socket's output buffer is below OUT_HIGH (the write callback
 * resumes it once drained), QUITs after the final reply, reports the
 * result to the caller once, and frees the session when the engine says it
 * is closed. The bufferevent defers its callbacks, so nothing of a session
 * runs inside ctl_smtp_send.
 *
 * The engine reports a reply only for a message; a session refused before
 * one (a 554 greeting, a refused EHLO and HELO) ends with on_closed alone,
 * so the last complete reply line read is kept here to report it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "ctl_smtp.h"
#include "mxg_err.h"
#include "mxg_log.h"
#include "mxg_time.h"
#include "smtp.h"

#define COMP "smtp-out"
#define OUT_HIGH (256u * 1024)   /* socket output bytes before content waits */
#define CHUNK (64u * 1024)
#define TEXT_MAX 512

struct sess {
	LIST_ENTRY(sess) link;
	struct ctl_smtp *m;
	struct bufferevent *bev;
	struct smtp_cli *cli;
	struct event *tmr;
	char host[256];
	unsigned port;
	char *sender;
	char **rcpt;
	struct smtp_rcpt *rv;
	int *rcode;
	size_t nrcpt;
	uint8_t *msg;
	size_t len, off;
	ctl_smtp_cb *cb;
	void *ud;
	mxg_tstamp conn_deadline;
	bool connected, ready, begun, data_ready, end_sent, have_result, reported, closed;
	enum smtp_cli_fail why;
	/* the outcome, once known */
	bool ok;
	int code;
	unsigned rcpt_ok;
	char text[TEXT_MAX];
	/* last complete reply line, and the line being read */
	char last[TEXT_MAX], cur[TEXT_MAX];
	size_t cur_len;
	bool cur_trunc;
};

struct ctl_smtp {
	struct ctl *c;
	struct evdns_base *dns;
	LIST_HEAD(, sess) sessions;
	size_t n;
};

/* "CODE ENH text" on one line. */
static void fmt_reply(char *out, size_t cap, int code, const char *enh, const char *t,
		      size_t tl)
{
	size_t o;

	o = (size_t)snprintf(out, cap, "%d%s%s", code, enh && *enh ? " " : "", enh ? enh : "");
	if (o >= cap)
		return;
	if (tl && o + 1 < cap)
		out[o++] = ' ';
	for (size_t i = 0; i < tl && o + 1 < cap; i++)
		out[o++] = (t[i] == '\n' || t[i] == '\r' || t[i] == '\0') ? ' ' : t[i];
	out[o] = '\0';
}

static void sess_free(struct sess *s)
{
	LIST_REMOVE(s, link);
	s->m->n--;
	if (s->bev)
		bufferevent_free(s->bev);
	if (s->tmr)
		event_free(s->tmr);
	smtp_cli_free(s->cli);
	for (size_t i = 0; i < s->nrcpt; i++)
		free(s->rcpt[i]);
	free(s->rcpt);
	free(s->rv);
	free(s->rcode);
	free(s->sender);
	free(s->msg);
	free(s);
}

static void set_result(struct sess *s, bool ok, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void set_result(struct sess *s, bool ok, int code, const char *fmt, ...)
{
	va_list ap;

	if (s->have_result)
		return;
	s->have_result = true;
	s->ok = ok;
	s->code = code;
	va_start(ap, fmt);
	vsnprintf(s->text, sizeof(s->text), fmt, ap);
	va_end(ap);
}

static void report(struct sess *s)
{
	struct ctl_smtp_result r = {
		.ok = s->ok, .code = s->code, .text = s->text, .nrcpt = s->nrcpt,
		.rcpt_code = s->rcode, .rcpt_ok = s->rcpt_ok,
	};

	if (s->reported)
		return;
	s->reported = true;
	if (s->ok)
		MXG_INFO(COMP, "%s:%u: sent %zu bytes to %u of %zu recipients: %s", s->host,
			 s->port, s->len, s->rcpt_ok, s->nrcpt, s->text);
	else
		MXG_WARN(COMP, "%s:%u: not sent: %s", s->host, s->port, s->text);
	s->cb(&r, s->ud);
}

/* A failure before or without a final reply: say why. */
static void set_fail_why(struct sess *s)
{
	int code = 0;

	if (s->last[0] >= '2' && s->last[0] <= '5' && s->why == SMTP_CLI_FAIL_REPLY) {
		code = atoi(s->last);
		set_result(s, false, code, "%s", s->last);
		return;
	}
	switch (s->why) {
	case SMTP_CLI_FAIL_TIMEOUT:
		set_result(s, false, 0, "timeout: no reply from %s:%u within %d s", s->host,
			   s->port, CTL_SMTP_STEP_S);
		break;
	case SMTP_CLI_FAIL_PROTO:
		set_result(s, false, 0, "malformed reply from %s:%u", s->host, s->port);
		break;
	case SMTP_CLI_FAIL_ABORT:
		set_result(s, false, 0, "message aborted (local error)");
		break;
	default:
		set_result(s, false, 0, "connection to %s:%u lost", s->host, s->port);
		break;
	}
}

/* ------------------------------------------------------------ engine callbacks */

static void on_ready(struct smtp_cli *cli, void *ud)
{
	struct sess *s = ud;

	s->ready = true;
}

static void on_rcpt_reply(struct smtp_cli *cli, size_t idx, const struct smtp_reply *r, void *ud)
{
	struct sess *s = ud;

	if (idx < s->nrcpt)
		s->rcode[idx] = r->code;
}

static void on_data_ready(struct smtp_cli *cli, void *ud)
{
	struct sess *s = ud;

	s->data_ready = true;
}

static void on_msg_done(struct smtp_cli *cli, const struct smtp_cli_result *r, void *ud)
{
	struct sess *s = ud;

	s->rcpt_ok = r->rcpt_ok;
	s->data_ready = false;
	if (r->final && r->final->code) {
		char t[TEXT_MAX];

		fmt_reply(t, sizeof(t), r->final->code, r->final->enh, r->final->text,
			  r->final->text_len);
		set_result(s, r->delivered, r->final->code, "%s", t);
		return;
	}
	s->why = r->fail;
	set_fail_why(s);
}

static void on_closed(struct smtp_cli *cli, enum smtp_cli_fail why, void *ud)
{
	struct sess *s = ud;

	s->closed = true;
	if (!s->have_result)
		s->why = why;
}

/* ------------------------------------------------------------ driving */

static void arm(struct sess *s)
{
	mxg_tstamp now = mxg_now(), d;
	struct timeval tv;

	d = s->connected ? smtp_cli_deadline(s->cli) : s->conn_deadline;
	if (d == MXG_TS_NONE) /* idle between steps: guard anyway */
		d = now + CTL_SMTP_STEP_S * MXG_NSEC_PER_SEC;
	d = d > now ? d - now : 0;
	tv.tv_sec = (time_t)(d / MXG_NSEC_PER_SEC);
	tv.tv_usec = (suseconds_t)(d % MXG_NSEC_PER_SEC / 1000);
	event_add(s->tmr, &tv);
}

static void begin(struct sess *s)
{
	struct smtp_envelope env = {
		.mail_from = s->sender, .size = s->len, .rcpt = s->rv, .nrcpt = s->nrcpt,
	};
	int rc;

	for (size_t i = 0; i < s->len; i++)
		if (s->msg[i] & 0x80) {
			env.body = SMTP_BODY_8BITMIME;
			break;
		}
	for (const char *p = s->sender; *p; p++)
		if (*p & 0x80)
			env.smtputf8 = true;
	for (size_t i = 0; i < s->nrcpt; i++)
		for (const char *p = s->rcpt[i]; *p; p++)
			if (*p & 0x80)
				env.smtputf8 = true;
	s->begun = true;
	rc = smtp_cli_msg_begin(s->cli, &env, mxg_now());
	if (rc) {
		set_result(s, false, 0, "cannot start the message: %s", mxg_strerror(rc));
		smtp_cli_quit(s->cli, mxg_now());
	}
}

/* Acts on what the engine said; frees |s| when it is over. */
static void step(struct sess *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	const uint8_t *p;
	size_t n;

	if (s->ready && !s->closed) {
		s->ready = false;
		if (!s->begun)
			begin(s);
		else if (smtp_cli_state(s->cli) == SMTP_CLI_READY)
			smtp_cli_quit(s->cli, mxg_now());
	}
	while (s->data_ready && s->off < s->len && evbuffer_get_length(out) < OUT_HIGH) {
		size_t take = s->len - s->off < CHUNK ? s->len - s->off : CHUNK;
		ssize_t w = smtp_cli_data_write(s->cli, s->msg + s->off, take, mxg_now());

		if (w < 0) {
			set_result(s, false, 0, "content write failed: %s", mxg_strerror((int)w));
			smtp_cli_msg_abort(s->cli, mxg_now());
			break;
		}
		s->off += (size_t)w;
		while ((n = smtp_cli_output(s->cli, &p)) > 0) {
			if (bufferevent_write(s->bev, p, n) != 0)
				break;
			smtp_cli_output_consumed(s->cli, n);
		}
		if (w == 0)
			break;
	}
	if (s->data_ready && s->off == s->len && !s->end_sent) {
		s->end_sent = true;
		s->data_ready = false;
		if (smtp_cli_data_end(s->cli, mxg_now()) != 0) {
			set_result(s, false, 0, "cannot end the content (out of memory)");
			smtp_cli_msg_abort(s->cli, mxg_now());
		}
	}
	while ((n = smtp_cli_output(s->cli, &p)) > 0) {
		if (bufferevent_write(s->bev, p, n) != 0) {
			set_result(s, false, 0, "out of memory");
			s->closed = true;
			break;
		}
		smtp_cli_output_consumed(s->cli, n);
	}
	if (s->have_result)
		report(s);
	if (s->closed || smtp_cli_want_close(s->cli)) {
		if (!s->have_result) {
			set_fail_why(s);
			report(s);
		}
		sess_free(s);
		return;
	}
	arm(s);
}

/* Keeps the last complete reply line (for failures outside a message). */
static void note_lines(struct sess *s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			size_t l = s->cur_len;

			if (l && s->cur[l - 1] == '\r')
				l--;
			memcpy(s->last, s->cur, l);
			s->last[l] = '\0';
			s->cur_len = 0;
			continue;
		}
		if (s->cur_len + 1 < sizeof(s->cur))
			s->cur[s->cur_len++] = (char)((p[i] < 32 && p[i] != '\r') ? ' ' : p[i]);
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct sess *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t buf[16384];
	int n;

	while (!s->closed && !smtp_cli_want_close(s->cli) &&
	       (n = evbuffer_remove(in, buf, sizeof(buf))) > 0) {
		note_lines(s, buf, (size_t)n);
		if (smtp_cli_input(s->cli, buf, (size_t)n, mxg_now()) < 0)
			break; /* the engine closed the session and said why */
	}
	step(s);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	step(arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct sess *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		s->connected = true;
		bufferevent_enable(bev, EV_READ | EV_WRITE);
		if (smtp_cli_start(s->cli, mxg_now()) != 0) {
			set_result(s, false, 0, "out of memory");
			s->closed = true;
		}
		step(s);
		return;
	}
	if (!(what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)))
		return;
	if (!s->connected) {
		int dnserr = bufferevent_socket_get_dns_error(bev);

		if (dnserr)
			set_result(s, false, 0, "%s: %s", s->host, evutil_gai_strerror(dnserr));
		else
			set_result(s, false, 0, "connect to %s:%u: %s", s->host, s->port,
				   evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		s->closed = true;
		step(s);
		return;
	}
	on_read(bev, s); /* a last reply may still sit in the input */
}

static bool sess_alive(struct ctl_smtp *m, struct sess *s)
{
	struct sess *x;

	LIST_FOREACH(x, &m->sessions, link)
		if (x == s)
			return true;
	return false;
}

static void on_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct sess *s = arg;
	struct ctl_smtp *m = s->m;

	on_event(bev, what, arg); /* may free s */
	if ((what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) && sess_alive(m, s)) {
		smtp_cli_closed(s->cli); /* the connection is gone */
		s->closed = true;
		step(s);
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;

	if (s->closed) { /* failed before the connection (set by ctl_smtp_send) */
		step(s);
		return;
	}
	if (!s->connected) {
		set_result(s, false, 0, "timeout: no connection to %s:%u within %d s", s->host,
			   s->port, CTL_SMTP_STEP_S);
		s->closed = true;
		step(s);
		return;
	}
	smtp_cli_on_timer(s->cli, mxg_now());
	if (smtp_cli_state(s->cli) == SMTP_CLI_QUIT && s->have_result)
		s->closed = true; /* no 221 in time: the result is known anyway */
	step(s);
}

/* ------------------------------------------------------------ the API */

int ctl_smtp_init(struct ctl *c)
{
	struct ctl_smtp *m = calloc(1, sizeof(*m));

	if (!m)
		return MXG_E_NOMEM;
	m->c = c;
	LIST_INIT(&m->sessions);
	c->smtp = m;
	return 0;
}

void ctl_smtp_fini(struct ctl *c)
{
	struct ctl_smtp *m = c->smtp;
	struct sess *s;

	if (!m)
		return;
	while ((s = LIST_FIRST(&m->sessions))) {
		set_result(s, false, 0, "mxgate-control is shutting down");
		report(s);
		sess_free(s);
	}
	if (m->dns)
		evdns_base_free(m->dns, 1);
	free(m);
	c->smtp = NULL;
}

size_t ctl_smtp_inflight(const struct ctl *c)
{
	return c->smtp ? c->smtp->n : 0;
}

static bool addr_ok(const char *a)
{
	if (strlen(a) > 512)
		return false;
	for (; *a; a++)
		if (*a == '<' || *a == '>' || (unsigned char)*a < 32 || *a == 127)
			return false;
	return true;
}

static struct evdns_base *dns(struct ctl_smtp *m)
{
	if (!m->dns) {
		m->dns = evdns_base_new(m->c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
							    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (!m->dns && (m->dns = evdns_base_new(m->c->base, 0)))
			evdns_base_load_hosts(m->dns, NULL);
	}
	return m->dns;
}

int ctl_smtp_send(struct ctl *c, const char *host, unsigned port, const char *sender,
		  const char *const *rcpt, size_t nrcpt, const uint8_t *msg, size_t len,
		  ctl_smtp_cb *cb, void *ud)
{
	struct ctl_smtp *m = c->smtp;
	struct smtp_cli_config cfg;
	struct smtp_cli_callbacks cbs = {
		.on_ready = on_ready, .on_rcpt_reply = on_rcpt_reply,
		.on_data_ready = on_data_ready, .on_msg_done = on_msg_done,
		.on_closed = on_closed,
	};
	struct sockaddr_storage ss;
	int sslen = 0, rc;
	struct sess *s;

	if (!m || !host || !*host || strlen(host) >= sizeof(s->host) || port == 0 ||
	    port > 65535 || !sender || !addr_ok(sender) || nrcpt == 0 || !cb)
		return MXG_E_INVAL;
	for (size_t i = 0; i < nrcpt; i++)
		if (!rcpt[i] || !*rcpt[i] || !addr_ok(rcpt[i]))
			return MXG_E_INVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return MXG_E_NOMEM;
	s->m = m;
	LIST_INSERT_HEAD(&m->sessions, s, link);
	m->n++;
	snprintf(s->host, sizeof(s->host), "%s", host);
	s->port = port;
	s->cb = cb;
	s->ud = ud;
	s->reported = true; /* until the session is complete: no callback */
	s->sender = strdup(sender);
	s->rcpt = calloc(nrcpt, sizeof(*s->rcpt));
	s->rv = calloc(nrcpt, sizeof(*s->rv));
	s->rcode = calloc(nrcpt, sizeof(*s->rcode));
	s->msg = malloc(len ? len : 1);
	if (!s->sender || !s->rcpt || !s->rv || !s->rcode || !s->msg)
		goto nomem;
	s->nrcpt = nrcpt;
	for (size_t i = 0; i < nrcpt; i++) {
		if (!(s->rcpt[i] = strdup(rcpt[i])))
			goto nomem;
		s->rv[i].addr = s->rcpt[i];
	}
	memcpy(s->msg, msg, len);
	s->len = len;
	smtp_cli_config_init(&cfg);
	cfg.helo_name = c->conf.node_name;
	cfg.flags = 0; /* local peers: no STARTTLS, no XFORWARD */
	cfg.tmo_reply = cfg.tmo_data = cfg.tmo_eod = CTL_SMTP_STEP_S * MXG_NSEC_PER_SEC;
	s->cli = smtp_cli_new(NULL, &cfg, &cbs, s);
	s->tmr = evtimer_new(c->base, on_timer, s);
	s->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE |
							      BEV_OPT_DEFER_CALLBACKS);
	if (!s->cli || !s->tmr || !s->bev)
		goto nomem;
	bufferevent_setcb(s->bev, on_read, on_write, on_event_cb, s);
	s->reported = false;
	s->conn_deadline = mxg_now() + CTL_SMTP_STEP_S * MXG_NSEC_PER_SEC;
	memset(&ss, 0, sizeof(ss));
	if (evutil_inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sslen = sizeof(struct sockaddr_in);
	} else if (evutil_inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sslen = sizeof(struct sockaddr_in6);
	}
	if (sslen)
		rc = bufferevent_socket_connect(s->bev, (struct sockaddr *)&ss, sslen);
	else if (dns(m))
		rc = bufferevent_socket_connect_hostname(s->bev, m->dns, AF_UNSPEC, host,
							 (int)port);
	else
		rc = -1;
	if (rc != 0) {
		/* answer from the loop, never from inside this call */
		set_result(s, false, 0, "cannot connect to %s:%u: %s", host, port,
			   sslen ? evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR())
				 : "no resolver");
		s->closed = true;
		event_active(s->tmr, EV_TIMEOUT, 0);
		return 0;
	}
	arm(s);
	MXG_DEBUG(COMP, "%s:%u: sending %zu bytes to %zu recipients", host, port, len, nrcpt);
	return 0;
nomem:
	s->reported = true;
	sess_free(s);
	return MXG_E_NOMEM;
}
