/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_param.c - MAIL/RCPT argument and ESMTP parameter parsing, and the
 * XCLIENT/XFORWARD attribute lists.
 *
 * STANDARDS
 *	RFC 5321 4.1.2 (paths), 4.5.3.1 (path length 256)
 *	RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 3030 (BINARYMIME is not
 *	offered), RFC 6531 (SMTPUTF8), RFC 3461 (DSN: RET, ENVID, NOTIFY,
 *	ORCPT, xtext). Postfix XCLIENT_README / XFORWARD_README.
 *
 * DSN values are checked for syntax and passed through as received (xtext
 * encoded), so the downstream gets exactly what the client sent.
 * A parameter that was not offered in EHLO is refused (555 5.5.4).
 */
#include <stdio.h>
#include <strings.h>

#include "smtp_int.h"

#define PATH_MAX_LEN 256
#define ENVID_MAX 100
#define ORCPT_MAX 500

/* Finds the path "<...>" at p[0..n); returns its length incl. brackets or 0. */
static size_t path_span(const char *p, size_t n)
{
	bool quoted = false;
	size_t i;

	if (n < 2 || p[0] != '<')
		return 0;
	for (i = 1; i < n; i++) {
		if (p[i] == '\\' && quoted) {
			i++;
			continue;
		}
		if (p[i] == '"')
			quoted = !quoted;
		else if (p[i] == '>' && !quoted)
			return i + 1;
		else if (p[i] == '<' && !quoted)
			return 0;
	}
	return 0;
}

/* Parses "<KW>:<path>", leaving |*rest| at the parameters. */
static int parse_path(const char *arg, size_t len, const char *kw, struct smtp_cmd *cmd,
		      const char **rest, size_t *rest_len, const char **enh, const char **why)
{
	size_t kwl = strlen(kw), i, span;

	if (len < kwl || !smtp_kw_eq(arg, kwl, kw)) {
		*enh = "5.5.4";
		*why = "Syntax error in parameters";
		return 501;
	}
	i = kwl;
	while (i < len && arg[i] == ' ') /* "MAIL FROM: <a>" is common, tolerate */
		i++;
	span = path_span(arg + i, len - i);
	if (span == 0) {
		*enh = "5.5.4";
		*why = "Syntax error in address, <> required";
		return 501;
	}
	if (span - 2 > PATH_MAX_LEN) {
		*enh = "5.1.7";
		*why = "Address too long";
		return 501;
	}
	cmd->path = arg + i + 1;
	cmd->path_len = span - 2;
	for (size_t k = 0; k < cmd->path_len; k++) {
		unsigned char c = (unsigned char)cmd->path[k];

		if (c < 32 || c == 127) {
			*enh = "5.1.7";
			*why = "Bad address syntax";
			return 501;
		}
	}
	i += span;
	*rest = arg + i;
	*rest_len = len - i;
	return 0;
}

/* Iterates "KW[=VAL]" parameters separated by spaces. */
struct param_it {
	const char *p;
	size_t n, i;
};

static bool param_next(struct param_it *it, const char **kw, size_t *kwl,
		       const char **val, size_t *vall)
{
	size_t s, e;

	while (it->i < it->n && it->p[it->i] == ' ')
		it->i++;
	if (it->i >= it->n)
		return false;
	s = it->i;
	e = s;
	while (e < it->n && it->p[e] != ' ')
		e++;
	it->i = e;
	*kw = it->p + s;
	*kwl = e - s;
	*val = NULL;
	*vall = 0;
	for (size_t k = s; k < e; k++) {
		if (it->p[k] == '=') {
			*kwl = k - s;
			*val = it->p + k + 1;
			*vall = e - k - 1;
			break;
		}
	}
	return true;
}

#define UNSUP(e, w)                                                            \
	do {                                                                   \
		*enh = (e);                                                    \
		*why = (w);                                                    \
		return 555;                                                    \
	} while (0)

int smtp_param_mail(const char *arg, size_t len, struct smtp_cmd *cmd,
		    uint32_t ext, const char **enh, const char **why)
{
	const char *rest, *kw, *val;
	size_t rl, kwl, vl;
	struct param_it it;
	int rc;

	rc = parse_path(arg, len, "FROM:", cmd, &rest, &rl, enh, why);
	if (rc)
		return rc;
	if (rl && rest[0] != ' ') {
		*enh = "5.5.4";
		*why = "Syntax error in parameters";
		return 501;
	}
	it = (struct param_it){ rest, rl, 0 };
	while (param_next(&it, &kw, &kwl, &val, &vl)) {
		if (smtp_kw_eq(kw, kwl, "SIZE") && (ext & SMTP_EXT_SIZE)) {
			if (!val || smtp_parse_u64(val, vl, &cmd->size))
				UNSUP("5.5.4", "Bad SIZE parameter");
		} else if (smtp_kw_eq(kw, kwl, "BODY") && (ext & SMTP_EXT_8BITMIME)) {
			if (val && smtp_kw_eq(val, vl, "7BIT"))
				cmd->body = SMTP_BODY_7BIT;
			else if (val && smtp_kw_eq(val, vl, "8BITMIME"))
				cmd->body = SMTP_BODY_8BITMIME;
			else {
				*enh = "5.5.4";
				*why = "Unsupported BODY parameter";
				return 504;
			}
		} else if (smtp_kw_eq(kw, kwl, "SMTPUTF8") && (ext & SMTP_EXT_SMTPUTF8)) {
			if (val)
				UNSUP("5.5.4", "SMTPUTF8 takes no value");
			cmd->smtputf8 = true;
		} else if (smtp_kw_eq(kw, kwl, "RET") && (ext & SMTP_EXT_DSN)) {
			if (cmd->ret != SMTP_RET_NONE)
				UNSUP("5.5.4", "Duplicate RET parameter");
			if (val && smtp_kw_eq(val, vl, "FULL"))
				cmd->ret = SMTP_RET_FULL;
			else if (val && smtp_kw_eq(val, vl, "HDRS"))
				cmd->ret = SMTP_RET_HDRS;
			else
				UNSUP("5.5.4", "Bad RET parameter");
		} else if (smtp_kw_eq(kw, kwl, "ENVID") && (ext & SMTP_EXT_DSN)) {
			if (cmd->envid || !val || vl == 0 || vl > ENVID_MAX ||
			    !smtp_xtext_valid(val, vl))
				UNSUP("5.5.4", "Bad ENVID parameter");
			cmd->envid = val;
			cmd->envid_len = vl;
		} else {
			UNSUP("5.5.4", "Unsupported option");
		}
	}
	return 0;
}

static int parse_notify(const char *v, size_t n, uint8_t *out)
{
	uint8_t bits = 0;
	size_t s = 0;

	if (n == 0)
		return MXG_E_INVAL;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && v[i] != ',')
			continue;
		if (smtp_kw_eq(v + s, i - s, "NEVER"))
			bits |= SMTP_NOTIFY_NEVER;
		else if (smtp_kw_eq(v + s, i - s, "SUCCESS"))
			bits |= SMTP_NOTIFY_SUCCESS;
		else if (smtp_kw_eq(v + s, i - s, "FAILURE"))
			bits |= SMTP_NOTIFY_FAILURE;
		else if (smtp_kw_eq(v + s, i - s, "DELAY"))
			bits |= SMTP_NOTIFY_DELAY;
		else
			return MXG_E_INVAL;
		s = i + 1;
	}
	/* NEVER must stand alone (RFC 3461 4.1). */
	if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
		return MXG_E_INVAL;
	*out = bits;
	return 0;
}

int smtp_param_rcpt(const char *arg, size_t len, struct smtp_cmd *cmd,
		    uint32_t ext, const char **enh, const char **why)
{
	const char *rest, *kw, *val;
	size_t rl, kwl, vl;
	struct param_it it;
	int rc;

	rc = parse_path(arg, len, "TO:", cmd, &rest, &rl, enh, why);
	if (rc)
		return rc;
	if (cmd->path_len == 0) {
		*enh = "5.1.3";
		*why = "Bad recipient address syntax";
		return 501;
	}
	if (rl && rest[0] != ' ') {
		*enh = "5.5.4";
		*why = "Syntax error in parameters";
		return 501;
	}
	it = (struct param_it){ rest, rl, 0 };
	while (param_next(&it, &kw, &kwl, &val, &vl)) {
		if (smtp_kw_eq(kw, kwl, "NOTIFY") && (ext & SMTP_EXT_DSN)) {
			if (cmd->notify || !val || parse_notify(val, vl, &cmd->notify))
				UNSUP("5.5.4", "Bad NOTIFY parameter");
		} else if (smtp_kw_eq(kw, kwl, "ORCPT") && (ext & SMTP_EXT_DSN)) {
			const char *semi = val ? memchr(val, ';', vl) : NULL;

			if (cmd->orcpt || !semi || semi == val || vl > ORCPT_MAX ||
			    !smtp_xtext_valid(semi + 1, vl - (size_t)(semi + 1 - val)))
				UNSUP("5.5.4", "Bad ORCPT parameter");
			cmd->orcpt = val;
			cmd->orcpt_len = vl;
		} else {
			UNSUP("5.5.4", "Unsupported option");
		}
	}
	return 0;
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes xtext |v| into |dst| (printable only). false if malformed. */
static bool xtext_decode(char *dst, size_t cap, const char *v, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)v[i];

		if (c == '+') {
			int h, l;

			if (i + 2 >= n)
				return false;
			h = hexv(v[i + 1]);
			l = hexv(v[i + 2]);
			if (h < 0 || l < 0)
				return false;
			c = h * 16 + l;
			i += 2;
		}
		if (c < 32 || c == 127)
			return false;
		if (o + 1 < cap)
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return true;
}

int smtp_param_xattr(const char *arg, size_t len, bool xclient,
		     struct smtp_peer *peer, const char **why)
{
	struct param_it it = { arg, len, 0 };
	const char *kw, *val;
	size_t kwl, vl;
	char tmp[256];
	bool any = false;

	while (param_next(&it, &kw, &kwl, &val, &vl)) {
		bool unavail;

		any = true;
		if (!val) {
			*why = "Bad attribute syntax";
			return 501;
		}
		if (!xtext_decode(tmp, sizeof(tmp), val, vl)) {
			*why = "Bad attribute value";
			return 501;
		}
		unavail = !strcmp(tmp, "[UNAVAILABLE]") || !strcmp(tmp, "[TEMPUNAVAIL]");
		if (smtp_kw_eq(kw, kwl, "NAME")) {
			snprintf(peer->name, sizeof(peer->name), "%s", unavail ? "" : tmp);
		} else if (smtp_kw_eq(kw, kwl, "ADDR")) {
			const char *a = tmp;

			if (unavail) {
				memset(&peer->addr, 0, sizeof(peer->addr));
				continue;
			}
			if (!strncasecmp(a, "IPV6:", 5))
				a += 5;
			if (mxg_ip_parse(a, &peer->addr)) {
				*why = "Bad ADDR value";
				return 501;
			}
		} else if (smtp_kw_eq(kw, kwl, "PORT")) {
			uint64_t port;

			if (unavail) {
				peer->port = 0;
				continue;
			}
			if (smtp_parse_u64(tmp, strlen(tmp), &port) || port > 65535) {
				*why = "Bad PORT value";
				return 501;
			}
			peer->port = (uint16_t)port;
		} else if (smtp_kw_eq(kw, kwl, "PROTO")) {
			smtp_copy_text(peer->proto, sizeof(peer->proto), tmp, unavail ? 0 : strlen(tmp));
		} else if (smtp_kw_eq(kw, kwl, "HELO")) {
			snprintf(peer->helo, sizeof(peer->helo), "%s", unavail ? "" : tmp);
		} else if (!xclient && smtp_kw_eq(kw, kwl, "SOURCE")) {
			if (strcmp(tmp, "LOCAL") && strcmp(tmp, "REMOTE") && !unavail) {
				*why = "Bad SOURCE value";
				return 501;
			}
			smtp_copy_text(peer->source, sizeof(peer->source), tmp, unavail ? 0 : strlen(tmp));
		} else if (!xclient && smtp_kw_eq(kw, kwl, "IDENT")) {
			/* accepted, not kept */
		} else if (xclient && (smtp_kw_eq(kw, kwl, "LOGIN") ||
				       smtp_kw_eq(kw, kwl, "DESTADDR") ||
				       smtp_kw_eq(kw, kwl, "DESTPORT"))) {
			/* accepted, not kept */
		} else {
			*why = "Bad attribute name";
			return 501;
		}
	}
	if (!any) {
		*why = "Syntax: attribute=value ...";
		return 501;
	}
	return 0;
}
