/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_smtp.h - mxgate-control's outgoing SMTP: one message, one connection,
 * on the control's event loop (released quarantine, notifications).
 *
 * The protocol is the project's sans-IO client engine (smtp/smtp.h,
 * smtp_cli), the same one the dataplane drives over tcpstack; here it is
 * driven from a libevent bufferevent over a kernel socket: connect,
 * greeting, EHLO (HELO if refused), MAIL, RCPT..., DATA or BDAT (the
 * engine dot-stuffs and turns bare CR/LF into CRLF in DATA mode), the final
 * reply, QUIT. No STARTTLS and no XFORWARD: the peers are the dataplane's
 * reprocessing port and the local downstream MTA.
 *
 * Never blocks the loop: a host that is an IPv4 or IPv6 literal is
 * connected to at once; a name is resolved with evdns (the resolver of
 * /etc/resolv.conf and /etc/hosts, created at the first use) and only the
 * first address it returns is tried (no fallback to the next). Every step
 * (connect and name lookup, greeting, each reply, each content write, the
 * final reply) has CTL_SMTP_STEP_S seconds.
 *
 * Honest results: ok only when the server said 2xx after the end of data
 * and accepted at least one recipient (the engine's "delivered"). A
 * recipient refused while others were accepted is reported in rcpt_code[]
 * with ok still true: the message was delivered (to those), so a caller
 * that retries on failure never sends it twice.
 */
#ifndef CTL_SMTP_H
#define CTL_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl.h"

#define CTL_SMTP_STEP_S 30

struct ctl_smtp_result {
	bool ok;                 /* final 2xx, at least one recipient accepted */
	int code;                /* the deciding reply's code; 0: none (local
	                          * failure, timeout, connection lost) */
	const char *text;        /* "250 2.0.0 Ok: queued as X" or a local
	                          * description ("connect to 127.0.0.1:25:
	                          * Connection refused"); one line */
	size_t nrcpt;
	const int *rcpt_code;    /* per recipient: its RCPT reply code (0: none) */
	unsigned rcpt_ok;        /* recipients the server accepted */
};

/* The outcome; |r| and everything in it borrowed for the call. */
typedef void ctl_smtp_cb(const struct ctl_smtp_result *r, void *ud);

/* Module state (dns resolver, sessions in flight) in c->smtp. */
int ctl_smtp_init(struct ctl *c);
/* Ends every session in flight: their callbacks run now with ok = false
 * ("shutting down"). Call before the HTTP server is freed. */
void ctl_smtp_fini(struct ctl *c);

/* Sends |msg| (|len| bytes, a complete RFC 5322 message with CRLF line
 * ends; copied) from |sender| ("" = the null sender) to |rcpt|[0..nrcpt)
 * at |host|:|port|. The strings are copied too. Returns 0: |cb| runs
 * exactly once, always later from the loop (never from inside this call).
 * Returns MXG_E_INVAL (no recipient, an address with CR/LF/<>, host too
 * long) or MXG_E_NOMEM: |cb| will not run. */
int ctl_smtp_send(struct ctl *c, const char *host, unsigned port, const char *sender,
		  const char *const *rcpt, size_t nrcpt, const uint8_t *msg, size_t len,
		  ctl_smtp_cb *cb, void *ud);

/* Sessions in flight (tests, status). */
size_t ctl_smtp_inflight(const struct ctl *c);

#endif
