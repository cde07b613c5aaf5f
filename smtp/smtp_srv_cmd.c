/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_srv_cmd.c - SMTP server commands: the {name, handler, flags} table,
 * syntax and sequence checks, and the effect of each command once answered.
 *
 * STANDARDS
 *	RFC 5321 4.1 (commands), 4.3.2 (sequencing, reply codes); RFC 2920
 *	(commands that must end a pipelined group); RFC 3030 (BDAT); RFC 3207
 *	(STARTTLS); RFC 2034 (enhanced codes); RFC 1870, 6152, 6531, 3461
 *	(EHLO keywords and MAIL/RCPT parameters, smtp_param.c).
 *
 * Each command runs in three steps: the handler checks syntax and sequence
 * and either answers an error itself or fills a struct smtp_cmd; the
 * caller's on_command sees the valid command (and may hold it); then
 * srv_finish_cmd gives the reply and applies the state change, now or when
 * smtp_srv_reply_cmd arrives. A 4xx/5xx from the caller leaves the state
 * untouched (a refused RCPT is not counted, a refused MAIL opens nothing).
 *
 * SECURITY
 *	XFORWARD and XCLIENT change who the client is; they are refused
 *	(550 5.7.0) unless the session is flagged as from a known host, and
 *	not even advertised otherwise. STARTTLS discards the rest of the
 *	plaintext input (CVE-2011-0411). BDAT with bad syntax closes the session:
 *	without a trustworthy count the chunk bytes would be read as commands.
 */
#include <stdio.h>

#include "smtp_int.h"

#define F_ASYNC 0x01 /* the caller may answer later (SMTP_CB_PENDING) */
#define F_LAST  0x02 /* must end a pipelined group (RFC 2920 3.1) */
#define F_NOARG 0x04 /* takes no argument */
#define F_ARG   0x08 /* needs an argument */

struct cmd_ent {
	const char *name;
	enum smtp_verb verb;
	int (*fn)(struct smtp_srv *s, struct smtp_cmd *cmd);
	unsigned flags;
	const char *syntax;
};

static int h_helo(struct smtp_srv *s, struct smtp_cmd *c);
static int h_mail(struct smtp_srv *s, struct smtp_cmd *c);
static int h_rcpt(struct smtp_srv *s, struct smtp_cmd *c);
static int h_data(struct smtp_srv *s, struct smtp_cmd *c);
static int h_bdat(struct smtp_srv *s, struct smtp_cmd *c);
static int h_simple(struct smtp_srv *s, struct smtp_cmd *c);
static int h_starttls(struct smtp_srv *s, struct smtp_cmd *c);
static int h_xattr(struct smtp_srv *s, struct smtp_cmd *c);

static const struct cmd_ent command_table[] = {
	{ "EHLO", SMTP_VERB_EHLO, h_helo, F_ASYNC | F_LAST | F_ARG, "EHLO hostname" },
	{ "HELO", SMTP_VERB_HELO, h_helo, F_ASYNC | F_LAST | F_ARG, "HELO hostname" },
	{ "MAIL", SMTP_VERB_MAIL, h_mail, F_ASYNC | F_ARG, "MAIL FROM:<address>" },
	{ "RCPT", SMTP_VERB_RCPT, h_rcpt, F_ASYNC | F_ARG, "RCPT TO:<address>" },
	{ "DATA", SMTP_VERB_DATA, h_data, F_ASYNC | F_LAST | F_NOARG, "DATA" },
	{ "BDAT", SMTP_VERB_BDAT, h_bdat, F_ARG, "BDAT count [LAST]" },
	{ "RSET", SMTP_VERB_RSET, h_simple, F_NOARG, "RSET" },
	{ "NOOP", SMTP_VERB_NOOP, h_simple, F_LAST, "NOOP" },
	{ "QUIT", SMTP_VERB_QUIT, h_simple, F_LAST | F_NOARG, "QUIT" },
	{ "HELP", SMTP_VERB_HELP, h_simple, F_LAST, "HELP" },
	{ "VRFY", SMTP_VERB_VRFY, h_simple, F_ASYNC | F_LAST | F_ARG, "VRFY address" },
	{ "EXPN", SMTP_VERB_EXPN, h_simple, F_ASYNC | F_LAST | F_ARG, "EXPN list" },
	{ "STARTTLS", SMTP_VERB_STARTTLS, h_starttls, F_LAST | F_NOARG, "STARTTLS" },
	{ "XFORWARD", SMTP_VERB_XFORWARD, h_xattr, F_ASYNC | F_ARG, "XFORWARD attr=value ..." },
	{ "XCLIENT", SMTP_VERB_XCLIENT, h_xattr, F_ASYNC | F_LAST | F_ARG, "XCLIENT attr=value ..." },
};

#define NCMDS (sizeof(command_table) / sizeof(command_table[0]))

static const struct cmd_ent *lookup(const char *p, size_t n)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (smtp_kw_eq(p, n, command_table[i].name))
			return &command_table[i];
	return NULL;
}

static const struct cmd_ent *by_verb(enum smtp_verb v)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (command_table[i].verb == v)
			return &command_table[i];
	return NULL;
}

/* ---------------------------------------------------------------- handlers */

static int h_helo(struct smtp_srv *s, struct smtp_cmd *c)
{
	return 0;
}

static bool has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

static int param_error(struct smtp_srv *s, int code, const char *enh, const char *why)
{
	srv_anomaly(s, SMTP_ANOM_BAD_COMMAND);
	return srv_reply_err(s, code, enh, "%s", why) ?: 1;
}

static int h_mail(struct smtp_srv *s, struct smtp_cmd *c)
{
	const char *enh = NULL, *why = NULL;
	int code;

	if (!s->helo_seen)
		return srv_reply_err(s, 503, "5.5.1", "Error: send HELO/EHLO first") ?: 1;
	if (s->in_txn)
		return srv_reply_err(s, 503, "5.5.1", "Error: nested MAIL command") ?: 1;
	code = smtp_param_mail(c->arg, c->arg_len, c, s->esmtp ? s->ext : 0, &enh, &why);
	if (code)
		return param_error(s, code, enh, why);
	if ((s->ext & SMTP_EXT_SIZE) && c->size > s->lim.msg_size_max)
		return srv_reply_err(s, 552, "5.3.4", "Message size exceeds fixed limit") ?: 1;
	if (!c->smtputf8 && has_8bit(c->path, c->path_len))
		srv_anomaly(s, SMTP_ANOM_8BIT);
	s->pc.body = c->body;
	s->pc.smtputf8 = c->smtputf8;
	s->pc.size = c->size;
	return 0;
}

static int h_rcpt(struct smtp_srv *s, struct smtp_cmd *c)
{
	const char *enh = NULL, *why = NULL;
	int code;

	if (!s->in_txn)
		return srv_reply_err(s, 503, "5.5.1", "Error: need MAIL command") ?: 1;
	if (s->bdat_mode)
		return srv_reply_err(s, 503, "5.5.1", "Error: RCPT after BDAT") ?: 1;
	if (s->nrcpt >= s->lim.rcpt_max)
		return srv_reply_err(s, 452, "4.5.3", "Error: too many recipients") ?: 1;
	code = smtp_param_rcpt(c->arg, c->arg_len, c, s->esmtp ? s->ext : 0, &enh, &why);
	if (code)
		return param_error(s, code, enh, why);
	if (!s->smtputf8 && has_8bit(c->path, c->path_len))
		srv_anomaly(s, SMTP_ANOM_8BIT);
	return 0;
}

static int h_data(struct smtp_srv *s, struct smtp_cmd *c)
{
	if (!s->in_txn)
		return srv_reply_err(s, 503, "5.5.1", "Error: need MAIL command") ?: 1;
	if (s->bdat_mode)
		return srv_reply_err(s, 503, "5.5.1", "Error: DATA after BDAT") ?: 1;
	if (s->nrcpt == 0)
		return srv_reply_err(s, 554, "5.5.1", "Error: no valid recipients") ?: 1;
	return 0;
}

static int h_bdat(struct smtp_srv *s, struct smtp_cmd *c)
{
	const char *sp = memchr(c->arg, ' ', c->arg_len);
	size_t nl = sp ? (size_t)(sp - c->arg) : c->arg_len;
	int rc;

	if (!(s->ext & SMTP_EXT_CHUNKING) || !s->esmtp)
		return srv_reply_err(s, 502, "5.5.1", "Error: command not implemented") ?: 1;
	if (smtp_parse_u64(c->arg, nl, &c->size) ||
	    (sp && !smtp_kw_eq(sp + 1, c->arg_len - nl - 1, "LAST"))) {
		/* No trustworthy count: the chunk would be read as commands. */
		srv_anomaly(s, SMTP_ANOM_BAD_COMMAND);
		rc = srv_reply(s, 501, "5.5.4", "Syntax: BDAT count [LAST]");
		srv_close(s);
		return rc ?: 1;
	}
	c->bdat_last = sp != NULL;
	s->bdat_last = c->bdat_last;
	s->bdat_left = c->size;
	if (!s->in_txn || s->nrcpt == 0) {
		/* Read the chunk and drop it, then answer (RFC 3030 2). */
		s->bdat_discard = true;
		s->bdat_err = s->in_txn ? 554 : 503;
		s->st = SMTP_ST_BDAT;
		if (s->bdat_left == 0)
			return srv_bdat_done(s) ?: 1;
		return 1;
	}
	if (!s->bdat_mode) {
		s->bdat_mode = true;
		srv_data_begin(s);
	}
	return 0;
}

static int h_simple(struct smtp_srv *s, struct smtp_cmd *c)
{
	return 0;
}

static int h_starttls(struct smtp_srv *s, struct smtp_cmd *c)
{
	if (!(s->ext & SMTP_EXT_STARTTLS))
		return srv_reply_err(s, 502, "5.5.1", "Error: command not implemented") ?: 1;
	if (s->tls)
		return srv_reply_err(s, 554, "5.5.1", "Error: TLS already active") ?: 1;
	return 0;
}

static int h_xattr(struct smtp_srv *s, struct smtp_cmd *c)
{
	bool xclient = c->verb == SMTP_VERB_XCLIENT;
	const char *why = NULL;
	uint32_t need = xclient ? SMTP_EXT_XCLIENT : SMTP_EXT_XFORWARD;

	if (!s->known || !(s->ext & need))
		return srv_reply_err(s, 550, "5.7.0", "Error: insufficient authorization") ?: 1;
	if (s->in_txn)
		return srv_reply_err(s, 503, "5.5.1", "Error: MAIL transaction in progress") ?: 1;
	s->xpeer = s->peer;
	if (smtp_param_xattr(c->arg, c->arg_len, xclient, &s->xpeer, &why))
		return param_error(s, 501, "5.5.4", why);
	return 0;
}

/* -------------------------------------------------------------- answering */

static int ehlo_reply(struct smtp_srv *s)
{
	struct smtp_buf *b = &s->out;
	const struct mxg_mem *m = s->mem;
	uint32_t e = s->ext;
	int rc = 0;

	if (s->tls)
		e &= ~SMTP_EXT_STARTTLS;
	if (!s->known)
		e &= ~(SMTP_EXT_XFORWARD | SMTP_EXT_XCLIENT);
	rc |= smtp_buf_printf(b, m, "250-%s\r\n", s->host);
	if (e & SMTP_EXT_PIPELINING)
		rc |= smtp_buf_printf(b, m, "250-PIPELINING\r\n");
	if (e & SMTP_EXT_SIZE)
		rc |= smtp_buf_printf(b, m, "250-SIZE %llu\r\n", (unsigned long long)s->lim.msg_size_max);
	if (e & SMTP_EXT_STARTTLS)
		rc |= smtp_buf_printf(b, m, "250-STARTTLS\r\n");
	if (e & SMTP_EXT_ENHANCED)
		rc |= smtp_buf_printf(b, m, "250-ENHANCEDSTATUSCODES\r\n");
	if (e & SMTP_EXT_8BITMIME)
		rc |= smtp_buf_printf(b, m, "250-8BITMIME\r\n");
	if (e & SMTP_EXT_DSN)
		rc |= smtp_buf_printf(b, m, "250-DSN\r\n");
	if (e & SMTP_EXT_SMTPUTF8)
		rc |= smtp_buf_printf(b, m, "250-SMTPUTF8\r\n");
	if (e & SMTP_EXT_XCLIENT)
		rc |= smtp_buf_printf(b, m, "250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT\r\n");
	if (e & SMTP_EXT_XFORWARD)
		rc |= smtp_buf_printf(b, m, "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n");
	rc |= smtp_buf_printf(b, m, "250 %s\r\n", (e & SMTP_EXT_CHUNKING) ? "CHUNKING" : "HELP");
	return rc ? MXG_E_NOMEM : 0;
}

/* Answers the held/current command: |code| 0 is the default reply. */
int srv_finish_cmd(struct smtp_srv *s, int code, const char *enh, const char *text)
{
	enum smtp_verb v = s->pc.verb;
	bool ok = code == 0 || code < 400;
	int rc;

	if (!ok) {
		if (v == SMTP_VERB_BDAT)
			return 0; /* not reached: BDAT is not async */
		return srv_reply_err(s, code, enh && *enh ? enh : NULL, "%s",
				     text && *text ? text : "Error: command rejected");
	}
	/* A caller-chosen 2xx text is kept where it changes nothing else. */
	if (code && v != SMTP_VERB_EHLO && v != SMTP_VERB_DATA && v != SMTP_VERB_XCLIENT &&
	    v != SMTP_VERB_QUIT && v != SMTP_VERB_STARTTLS && v != SMTP_VERB_BDAT) {
		rc = srv_reply(s, code, enh && *enh ? enh : NULL, "%s", text && *text ? text : "Ok");
		code = -1; /* replied */
		if (rc)
			return rc;
	}
	switch (v) {
	case SMTP_VERB_EHLO:
	case SMTP_VERB_HELO:
		srv_reset_txn(s, true);
		s->helo_seen = true;
		s->esmtp = v == SMTP_VERB_EHLO;
		smtp_copy_text(s->peer.helo, sizeof(s->peer.helo), s->pc.arg, s->pc.arg_len);
		snprintf(s->peer.proto, sizeof(s->peer.proto), "%s", s->esmtp ? "ESMTP" : "SMTP");
		if (v == SMTP_VERB_EHLO)
			return ehlo_reply(s);
		return code ? 0 : srv_reply(s, 250, NULL, "%s", s->host);
	case SMTP_VERB_MAIL:
		srv_reset_txn(s, false);
		s->in_txn = true;
		s->body = s->pc.body;
		s->smtputf8 = s->pc.smtputf8;
		return code ? 0 : srv_reply(s, 250, "2.1.0", "Ok");
	case SMTP_VERB_RCPT:
		s->nrcpt++;
		return code ? 0 : srv_reply(s, 250, "2.1.5", "Ok");
	case SMTP_VERB_DATA:
		srv_data_begin(s);
		s->st = SMTP_ST_DATA;
		return srv_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	case SMTP_VERB_BDAT:
		s->st = SMTP_ST_BDAT;
		if (s->bdat_left == 0)
			return srv_bdat_done(s); /* zero-length chunk: complete at once */
		return 0;
	case SMTP_VERB_RSET:
		srv_reset_txn(s, true);
		return srv_reply(s, 250, "2.0.0", "Ok");
	case SMTP_VERB_NOOP:
		return code ? 0 : srv_reply(s, 250, "2.0.0", "Ok");
	case SMTP_VERB_QUIT:
		rc = srv_reply(s, 221, "2.0.0", "Bye");
		srv_close(s);
		return rc;
	case SMTP_VERB_HELP:
		return code ? 0 : srv_reply(s, 214, "2.0.0",
			"Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS");
	case SMTP_VERB_VRFY:
	case SMTP_VERB_EXPN:
		if (code)
			return 0;
		if (s->flags & SMTP_SRV_F_VRFY_252)
			return srv_reply(s, 252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
		return srv_reply_err(s, 502, "5.5.1", "Error: %s command is disabled",
				     v == SMTP_VERB_VRFY ? "VRFY" : "EXPN");
	case SMTP_VERB_STARTTLS:
		rc = srv_reply(s, 220, "2.0.0", "Ready to start TLS");
		if (rc)
			return rc;
		srv_reset_txn(s, true);
		s->st = SMTP_ST_TLS_WAIT;
		if (s->cb.on_starttls) {
			rc = s->cb.on_starttls(s, s->ud);
			if (rc < 0 && rc != SMTP_E_PAUSE)
				return rc;
		}
		return 0;
	case SMTP_VERB_XFORWARD:
		s->peer = s->xpeer;
		return code ? 0 : srv_reply(s, 250, "2.0.0", "Ok");
	case SMTP_VERB_XCLIENT:
		s->peer = s->xpeer;
		/* Postfix semantics: the session starts over, with a new greeting. */
		srv_reset_txn(s, true);
		s->helo_seen = false;
		s->esmtp = false;
		return srv_greeting(s, NULL);
	default:
		return 0;
	}
}

/* One complete command line (with its LF). |more|: input follows it. */
int srv_process_line(struct smtp_srv *s, const char *line, size_t len, bool more)
{
	const struct cmd_ent *ent;
	struct smtp_cmd cmd;
	size_t n, vl, i;
	int rc;

	if (len < 2 || line[len - 2] != '\r') {
		srv_anomaly(s, SMTP_ANOM_BARE_LF);
		return srv_reply_err(s, 500, "5.5.2", "Error: bare <LF> received");
	}
	n = len - 2;
	for (i = 0; i < n; i++) {
		if (line[i] == '\0' || line[i] == '\r') {
			srv_anomaly(s, line[i] ? SMTP_ANOM_BARE_CR : SMTP_ANOM_NUL);
			return srv_reply_err(s, 500, "5.5.2", "Error: invalid character in command");
		}
	}
	if (++s->ncmd > s->lim.cmd_max) {
		rc = srv_reply(s, 421, "4.7.0", "%s Error: too many commands", s->host);
		srv_close(s);
		return rc;
	}
	for (vl = 0; vl < n && line[vl] != ' '; vl++)
		;
	ent = lookup(line, vl);
	if (!ent) {
		srv_anomaly(s, SMTP_ANOM_BAD_COMMAND);
		return srv_reply_err(s, 500, "5.5.2", "Error: command not recognized");
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.verb = ent->verb;
	cmd.arg = line + vl;
	cmd.arg_len = n - vl;
	if (cmd.arg_len) {
		cmd.arg++;
		cmd.arg_len--;
	}
	while (cmd.arg_len && cmd.arg[cmd.arg_len - 1] == ' ')
		cmd.arg_len--;
	if (more && ((ent->flags & F_LAST) || !s->esmtp || !(s->ext & SMTP_EXT_PIPELINING)))
		srv_anomaly(s, SMTP_ANOM_PIPELINING);
	if (((ent->flags & F_NOARG) && cmd.arg_len) || ((ent->flags & F_ARG) && !cmd.arg_len)) {
		srv_anomaly(s, SMTP_ANOM_BAD_COMMAND);
		return srv_reply_err(s, 501, "5.5.4", "Syntax: %s", ent->syntax);
	}
	memset(&s->pc, 0, sizeof(s->pc));
	s->pc.verb = ent->verb;
	s->pc.arg = cmd.arg;
	s->pc.arg_len = cmd.arg_len;
	rc = ent->fn(s, &cmd);
	if (rc)
		return rc < 0 ? rc : 0;
	s->reply_set = false;
	rc = 0;
	if (s->cb.on_command) {
		s->in_cb = (ent->flags & F_ASYNC) != 0;
		rc = s->cb.on_command(s, &cmd, s->ud);
		s->in_cb = false;
		if (rc < 0 && rc != SMTP_E_PAUSE)
			return rc;
		if (rc == SMTP_E_PAUSE)
			s->pause = true;
	}
	if (ent->flags & F_ASYNC) {
		if (s->reply_set)
			return srv_finish_cmd(s, s->rcode, s->renh, s->rtext);
		if (rc == SMTP_CB_PENDING) {
			s->hold = HOLD_CMD;
			return 0;
		}
	}
	return srv_finish_cmd(s, 0, NULL, NULL);
}

const char *smtp_verb_name(enum smtp_verb v)
{
	const struct cmd_ent *e = by_verb(v);

	return e ? e->name : "?";
}
