/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_svc.c - test services on top of the public API only: RFC 862 echo
 * (port 7) and RFC 863 discard (port 9), enabled by the dataplane when
 * test_services = yes. They double as the smallest example of the
 * application API: accept, readable -> peek/consume, writable, EOF ->
 * shutdown, error -> close.
 *
 * Echo applies back-pressure end to end: it consumes only what fits in its
 * send buffer, so a client that does not read its echo sees our receive
 * window close instead of our memory grow. Discard consumes everything.
 */
#include "tcps.h"

static void echo_pump(struct tcps_conn *c, mxg_tstamp now)
{
	const uint8_t *p;
	size_t n;

	while ((n = tcps_conn_peek(c, &p)) > 0) {
		long w = tcps_conn_send(c, p, n, now);

		if (w <= 0)
			break;
		tcps_conn_consume(c, (size_t)w, now);
		if ((size_t)w < n)
			break;
	}
	if (tcps_conn_eof(c) && tcps_conn_state(c) == TCPS_ST_CLOSE_WAIT)
		tcps_conn_close(c, now); /* all echoed: FIN back */
}

/* The services have no clock of their own: callbacks take the |now| of
 * the stack call they run in (tcps_conn_now). */
static void echo_readable(struct tcps_conn *c, void *ud)
{
	echo_pump(c, tcps_conn_now(c));
}

static void echo_writable(struct tcps_conn *c, void *ud)
{
	echo_pump(c, tcps_conn_now(c));
}

static void svc_error(struct tcps_conn *c, enum tcps_err err, void *ud)
{
	tcps_conn_close(c, tcps_conn_now(c));
}

static void discard_readable(struct tcps_conn *c, void *ud)
{
	const uint8_t *p;
	size_t n;

	while ((n = tcps_conn_peek(c, &p)) > 0)
		tcps_conn_consume(c, n, tcps_conn_now(c));
	if (tcps_conn_eof(c))
		tcps_conn_close(c, tcps_conn_now(c));
}

static const struct tcps_conn_callbacks echo_cbs = {
	.on_readable = echo_readable,
	.on_writable = echo_writable,
	.on_error = svc_error,
};

static const struct tcps_conn_callbacks discard_cbs = {
	.on_readable = discard_readable,
	.on_error = svc_error,
};

static int svc_accept(struct tcps_listener *l, struct tcps_conn *c, void *ud)
{
	tcps_conn_set_callbacks(c, ud, NULL);
	return 0;
}

static const struct tcps_listener_callbacks svc_lcbs = {.on_accept = svc_accept};

int tcps_svc_start(struct tcps_stack *s, const struct mxg_ip *addr)
{
	int err;

	if (tcps_listen(s, addr, 7, NULL, &svc_lcbs, (void *)&echo_cbs, &err) == NULL)
		return err;
	if (tcps_listen(s, addr, 9, NULL, &svc_lcbs, (void *)&discard_cbs, &err) == NULL)
		return err;
	return 0;
}
