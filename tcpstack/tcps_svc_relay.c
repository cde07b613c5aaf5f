/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_svc_relay.c - test-only TCP relay: the smallest way to make the
 * gateway open connections to an arbitrary kernel server, so that active
 * opens and bulk transfer on them can be tested under impairment (issue 3:
 * "the gateway must also complete active opens to a kernel server under
 * the same conditions"). Off by default; the dataplane starts it when
 * test_relay_port is set (docs/configuration.md).
 *
 * A client connecting to port TCPS_SVC_RELAY_PORT (8) makes the stack
 * connect (tcps_connect, ephemeral port, CUBIC as the SMTP downstream
 * path) to the configured server of the same family; bytes are copied
 * both ways with back-pressure (only what fits the other side's send
 * buffer is consumed), each FIN is passed on as a shutdown once
 * everything before it was, and a reset, refusal or timeout on either
 * side aborts the other. Built on the public API only, like tcps_svc.c.
 *
 * Single-queue test gateways only: the ephemeral port is not chosen for
 * RSS (dp_smtp_ds.c's pick_lport does that for the product path).
 */
#include <stdlib.h>

#include "mxg_err.h"
#include "tcps.h"

/* One listener's relays: tcps_stack_free frees connections without
 * callbacks, so the relays still alive then are freed from this list
 * (tcps_svc_relay_free), as the SMTP proxy frees its sessions. */
struct tcps_relay_svc {
	const struct tcps_relay_conf *cf;
	struct relay *head;
};

struct relay {
	struct tcps_relay_svc *svc;
	struct relay *prev, *next;
	struct tcps_conn *a, *b; /* accepted (client), opened (server); NULL once closed */
	bool a_fin_fwd, b_fin_fwd; /* the side's EOF was passed on */
};

static void relay_free(struct relay *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		r->svc->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	free(r);
}

static void relay_end(struct relay *r, mxg_tstamp now)
{
	if (r->a)
		tcps_conn_close(r->a, now);
	if (r->b)
		tcps_conn_close(r->b, now);
	relay_free(r);
}

/* Copies what |to| accepts from |from|; passes an EOF on. Returns true
 * when the relay is finished (both EOFs passed on) and was freed. */
static bool pump(struct relay *r, struct tcps_conn *from, struct tcps_conn *to, bool *fin_fwd,
		 mxg_tstamp now)
{
	const uint8_t *p;
	size_t n;

	if (from == NULL || to == NULL)
		return false;
	while ((n = tcps_conn_peek(from, &p)) > 0) {
		long w = tcps_conn_send(to, p, n, now);

		if (w <= 0)
			break; /* not connected yet, or full: on_connected/on_writable */
		tcps_conn_consume(from, (size_t)w, now);
		if ((size_t)w < n)
			break;
	}
	if (!*fin_fwd && tcps_conn_eof(from) && tcps_conn_readable(from) == 0 &&
	    tcps_conn_shutdown(to, now) == 0)
		*fin_fwd = true;
	if (r->a_fin_fwd && r->b_fin_fwd) {
		relay_end(r, now);
		return true;
	}
	return false;
}

static void a_to_b(struct tcps_conn *c, void *ud)
{
	struct relay *r = ud;

	pump(r, r->a, r->b, &r->a_fin_fwd, tcps_conn_now(c));
}

static void b_to_a(struct tcps_conn *c, void *ud)
{
	struct relay *r = ud;

	pump(r, r->b, r->a, &r->b_fin_fwd, tcps_conn_now(c));
}

static void relay_error(struct tcps_conn *c, enum tcps_err err, void *ud)
{
	struct relay *r = ud;
	mxg_tstamp now = tcps_conn_now(c);

	/* the failed side is closed, the other reset: a relay must not turn
	 * a broken connection into a clean EOF */
	if (c == r->a) {
		tcps_conn_close(r->a, now);
		r->a = NULL;
		if (r->b) {
			tcps_conn_abort(r->b, now);
			r->b = NULL;
		}
	} else {
		tcps_conn_close(r->b, now);
		r->b = NULL;
		if (r->a) {
			tcps_conn_abort(r->a, now);
			r->a = NULL;
		}
	}
	relay_free(r);
}

static void b_connected(struct tcps_conn *c, void *ud)
{
	struct relay *r = ud;

	pump(r, r->a, r->b, &r->a_fin_fwd, tcps_conn_now(c)); /* what came early */
}

/* a: readable -> to b; writable -> from b */
static const struct tcps_conn_callbacks a_cbs = {
	.on_readable = a_to_b,
	.on_writable = b_to_a,
	.on_error = relay_error,
};

static const struct tcps_conn_callbacks b_cbs = {
	.on_connected = b_connected,
	.on_readable = b_to_a,
	.on_writable = a_to_b,
	.on_error = relay_error,
};

static int relay_accept(struct tcps_listener *l, struct tcps_conn *c, void *ud)
{
	struct tcps_relay_svc *svc = ud;
	const struct tcps_relay_conf *cf = svc->cf;
	struct mxg_ip laddr;
	const struct mxg_ip *to;
	struct relay *r;
	int rc;

	tcps_conn_addrs(c, &laddr, NULL, NULL, NULL);
	to = laddr.family == 4 ? &cf->to4 : &cf->to6;
	if (to->family != laddr.family)
		return -1; /* no server of this family: refused (RST) */
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -1;
	r->svc = svc;
	r->a = c;
	rc = tcps_connect(tcps_conn_stack(c), &laddr, 0, to, cf->to_port, TCPS_CC_CUBIC, &b_cbs,
			  r, tcps_conn_now(c), &r->b);
	if (rc) {
		free(r);
		return -1;
	}
	tcps_conn_set_callbacks(c, &a_cbs, r);
	r->next = svc->head;
	if (r->next)
		r->next->prev = r;
	svc->head = r;
	return 0;
}

static const struct tcps_listener_callbacks relay_lcbs = {.on_accept = relay_accept};

int tcps_svc_relay_start(struct tcps_stack *s, const struct mxg_ip *addr,
			 const struct tcps_relay_conf *cf, struct tcps_relay_svc **out)
{
	struct tcps_relay_svc *svc = calloc(1, sizeof(*svc));
	int err;

	if (svc == NULL)
		return MXG_E_NOMEM;
	svc->cf = cf;
	if (tcps_listen(s, addr, TCPS_SVC_RELAY_PORT, NULL, &relay_lcbs, svc, &err) == NULL) {
		free(svc);
		return err;
	}
	*out = svc;
	return 0;
}

void tcps_svc_relay_free(struct tcps_relay_svc *svc)
{
	if (svc == NULL)
		return;
	while (svc->head)
		relay_free(svc->head);
	free(svc);
}
