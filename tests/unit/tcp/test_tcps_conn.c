/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_tcps_conn.c - API-level tests of the TCP core that scripts cannot
 * express: the echo/discard services end to end between two stacks,
 * callbacks closing their connection, the failing allocator, a SYN flood
 * from many sources (cookies, memory bound), checksum, connect/listen
 * errors, deadlines, abort, zero-copy reads across the ring wrap, send
 * back-pressure and on_writable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mxg_err.h"
#include "tcp_test.h"

#define MS MXG_NSEC_PER_MSEC

/* ---- two stacks back to back (no loss) ---- */

struct pair {
	struct tt_io io[2];
	struct tcps_stack *s[2];
	struct mxg_ip ip[2];
	mxg_tstamp now;
};

static void pair_init(struct pair *p, const struct tcps_stack_conf *cf)
{
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < 2; i++) {
		struct tcps_stack_conf c = *cf;

		tt_io_init(&p->io[i]);
		c.secret[15] = (uint8_t)i;
		p->s[i] = tcps_stack_new(&c, &p->io[i].ops, &p->io[i], NULL);
		assert_non_null(p->s[i]);
	}
	mxg_ip_parse("10.1.0.1", &p->ip[0]);
	mxg_ip_parse("10.1.0.2", &p->ip[1]);
}

static void pair_fini(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		tcps_stack_free(p->s[i]);
		tt_io_fini(&p->io[i]);
	}
}

/* Delivers queued segments (5 ms one way) and runs timers until |until|. */
static void pair_run(struct pair *p, mxg_tstamp until)
{
	while (p->now < until) {
		bool moved = false;

		for (int i = 0; i < 2; i++) {
			int n = p->io[i].n;
			struct tt_cap *q;

			if (n == 0)
				continue;
			q = malloc((size_t)n * sizeof(*q));
			memcpy(q, p->io[i].q, (size_t)n * sizeof(*q));
			p->io[i].n = 0;
			for (int k = 0; k < n; k++)
				tcps_stack_input(p->s[1 - i], &q[k].src, &q[k].dst, q[k].b, q[k].len,
						 p->now);
			free(q);
			moved = true;
		}
		if (!moved) {
			mxg_tstamp d = tcps_stack_deadline(p->s[0]);

			if (tcps_stack_deadline(p->s[1]) < d)
				d = tcps_stack_deadline(p->s[1]);
			if (d > until)
				d = until;
			p->now = d > p->now + 5 * MS ? d : p->now + 5 * MS;
		} else {
			p->now += 5 * MS;
		}
		for (int i = 0; i < 2; i++)
			if (tcps_stack_deadline(p->s[i]) <= p->now)
				tcps_stack_on_timer(p->s[i], p->now);
	}
}

struct client {
	uint8_t got[8192];
	size_t ngot;
	bool eof, connected, writable;
	enum tcps_err err;
	struct pair *p;
};

static void cl_connected(struct tcps_conn *c, void *ud)
{
	((struct client *)ud)->connected = true;
}

static void cl_readable(struct tcps_conn *c, void *ud)
{
	struct client *cl = ud;

	cl->ngot += tcps_conn_recv(c, cl->got + cl->ngot, sizeof(cl->got) - cl->ngot, cl->p->now);
	if (tcps_conn_eof(c))
		cl->eof = true;
}

static void cl_writable(struct tcps_conn *c, void *ud)
{
	((struct client *)ud)->writable = true;
}

static void cl_error(struct tcps_conn *c, enum tcps_err e, void *ud)
{
	((struct client *)ud)->err = e;
}

static const struct tcps_conn_callbacks cl_cbs = {
	.on_connected = cl_connected,
	.on_readable = cl_readable,
	.on_writable = cl_writable,
	.on_error = cl_error,
};

static void test_svc_echo_discard(void **state)
{
	struct tcps_stack_conf cf;
	struct pair p;
	struct client e = {0}, d = {0};
	struct tcps_conn *ce, *cd;
	struct mxg_ip any = {.family = 4};
	static const char msg[] = "EHLO echo\r\n";

	tt_conf(&cf);
	cf.time_wait = MXG_NSEC_PER_SEC;
	pair_init(&p, &cf);
	e.p = d.p = &p;
	assert_int_equal(tcps_svc_start(p.s[1], &any), 0);
	assert_int_equal(tcps_svc_start(p.s[1], &any), MXG_E_EXIST);
	assert_int_equal(tcps_connect(p.s[0], &p.ip[0], 0, &p.ip[1], 7, TCPS_CC_NEWRENO, &cl_cbs,
				      &e, p.now, &ce), 0);
	assert_int_equal(tcps_connect(p.s[0], &p.ip[0], 0, &p.ip[1], 9, TCPS_CC_CUBIC, &cl_cbs,
				      &d, p.now, &cd), 0);
	pair_run(&p, p.now + 100 * MS);
	assert_true(e.connected && d.connected);
	assert_int_equal(tcps_conn_send(ce, (const uint8_t *)msg, strlen(msg), p.now),
			 (long)strlen(msg));
	assert_int_equal(tcps_conn_send(cd, (const uint8_t *)msg, strlen(msg), p.now),
			 (long)strlen(msg));
	pair_run(&p, p.now + 200 * MS);
	assert_int_equal(e.ngot, strlen(msg));
	assert_memory_equal(e.got, msg, strlen(msg));
	assert_int_equal(d.ngot, 0);
	/* client closes: echo closes back, discard closes back */
	assert_int_equal(tcps_conn_shutdown(ce, p.now), 0);
	assert_int_equal(tcps_conn_shutdown(cd, p.now), 0);
	pair_run(&p, p.now + 200 * MS);
	assert_true(e.eof && d.eof);
	tcps_conn_close(ce, p.now);
	tcps_conn_close(cd, p.now);
	pair_run(&p, p.now + 3 * MXG_NSEC_PER_SEC);
	assert_int_equal(tcps_stack_stats(p.s[0])->conns, 0);
	assert_int_equal(tcps_stack_stats(p.s[1])->conns, 0);
	assert_int_equal(tcps_stack_stats(p.s[1])->mem_used, 0);
	pair_fini(&p);
}

/* ---- callbacks that close their connection ---- */

static int acc_count;

static void close_on_read(struct tcps_conn *c, void *ud)
{
	uint8_t b[64];

	tcps_conn_recv(c, b, sizeof(b), 0);
	tcps_conn_abort(c, 0); /* from inside the callback: deferred free */
}

static const struct tcps_conn_callbacks close_cbs = {.on_readable = close_on_read};

static int accept_close_on_read(struct tcps_listener *l, struct tcps_conn *c, void *ud)
{
	acc_count++;
	tcps_conn_set_callbacks(c, &close_cbs, NULL);
	return 0;
}

static int accept_refuse(struct tcps_listener *l, struct tcps_conn *c, void *ud)
{
	acc_count++;
	return -1;
}

static void test_close_in_callback(void **state)
{
	struct tcps_stack_conf cf;
	struct pair p;
	struct client cl = {0};
	struct tcps_conn *c;
	struct tcps_listener_callbacks lcb = {.on_accept = accept_close_on_read};

	tt_conf(&cf);
	pair_init(&p, &cf);
	cl.p = &p;
	acc_count = 0;
	assert_non_null(tcps_listen(p.s[1], &p.ip[1], 25, NULL, &lcb, NULL, NULL));
	assert_int_equal(tcps_connect(p.s[0], &p.ip[0], 0, &p.ip[1], 25, TCPS_CC_NEWRENO, &cl_cbs,
				      &cl, p.now, &c), 0);
	pair_run(&p, p.now + 50 * MS);
	assert_int_equal(tcps_conn_send(c, (const uint8_t *)"x", 1, p.now), 1);
	pair_run(&p, p.now + 50 * MS);
	assert_int_equal(acc_count, 1);
	assert_int_equal(cl.err, TCPS_ERR_RESET);
	assert_int_equal(tcps_conn_state(c), TCPS_ST_CLOSED);
	assert_int_equal(tcps_stack_stats(p.s[1])->conns, 0);
	tcps_conn_close(c, p.now);
	assert_int_equal(tcps_stack_stats(p.s[0])->conns, 0);
	pair_fini(&p);
}

static void test_accept_refused(void **state)
{
	struct tcps_stack_conf cf;
	struct pair p;
	struct client cl = {0};
	struct tcps_conn *c;
	struct tcps_listener_callbacks lcb = {.on_accept = accept_refuse};

	tt_conf(&cf);
	pair_init(&p, &cf);
	cl.p = &p;
	acc_count = 0;
	assert_non_null(tcps_listen(p.s[1], &p.ip[1], 25, NULL, &lcb, NULL, NULL));
	assert_int_equal(tcps_connect(p.s[0], &p.ip[0], 0, &p.ip[1], 25, TCPS_CC_NEWRENO, &cl_cbs,
				      &cl, p.now, &c), 0);
	pair_run(&p, p.now + 100 * MS);
	assert_int_equal(acc_count, 1);
	assert_true(cl.connected);
	assert_int_equal(cl.err, TCPS_ERR_RESET);
	assert_int_equal(tcps_stack_stats(p.s[1])->conns, 0);
	tcps_conn_close(c, p.now);
	pair_fini(&p);
}

/* ---- allocation failures ---- */

static int accept_keep(struct tcps_listener *l, struct tcps_conn *c, void *ud)
{
	return 0;
}

static void test_failing_allocator(void **state)
{
	struct tcps_listener_callbacks lcb = {.on_accept = accept_keep};
	struct mxg_ip a, b;
	bool completed = false;

	mxg_ip_parse("10.0.0.1", &a);
	mxg_ip_parse("10.0.0.2", &b);
	for (long n = 0; n < 64 && !completed; n++) {
		struct tt_failmem fm;
		struct tcps_stack_conf cf;
		struct tt_io io;
		struct tcps_stack *s;
		struct tt_seg sg = {.sport = 4000, .dport = 25, .seq = 100, .flags = TT_F_SYN,
				    .win = 65535};
		struct tt_seg syn_ack;

		tt_failmem_init(&fm, n);
		tt_conf(&cf);
		tt_io_init(&io);
		s = tcps_stack_new(&cf, &io.ops, &io, &fm.mem);
		if (s == NULL) {
			tt_io_fini(&io);
			continue;
		}
		if (tcps_listen(s, &a, 25, NULL, &lcb, NULL, NULL) == NULL)
			goto next;
		tt_input(s, &b, &a, &sg, 0);
		if (io.n == 0)
			goto next;
		tt_parse(&io.q[0], &syn_ack);
		sg.flags = TT_F_ACK;
		sg.seq = 101;
		sg.ack = syn_ack.seq + 1;
		tt_input(s, &b, &a, &sg, MS);
		if (tcps_stack_stats(s)->passive_opens == 1)
			completed = true;
		else
			assert_int_equal(tcps_stack_stats(s)->conns, 0);
next:
		tcps_stack_free(s);
		tt_io_fini(&io);
	}
	assert_true(completed);
}

/* ---- SYN flood ---- */

static void test_syn_flood_cookies(void **state)
{
	struct tcps_listener_callbacks lcb = {.on_accept = accept_keep};
	struct tcps_listen_conf lc = {.backlog = 8};
	struct tcps_stack_conf cf;
	struct tt_io io;
	struct tcps_stack *s;
	struct mxg_ip a, b;
	uint64_t seed = 42;
	const struct tcps_stats *st;
	struct tt_seg syn_ack;

	tt_conf(&cf);
	tt_io_init(&io);
	s = tcps_stack_new(&cf, &io.ops, &io, NULL);
	mxg_ip_parse("10.0.0.1", &a);
	assert_non_null(tcps_listen(s, &a, 25, &lc, &lcb, NULL, NULL));
	st = tcps_stack_stats(s);
	for (int i = 0; i < 20000; i++) {
		uint64_t r = tt_rand(&seed);
		struct tt_seg sg = {.sport = (uint16_t)(1024 + r % 60000), .dport = 25,
				    .seq = (uint32_t)(r >> 20), .flags = TT_F_SYN, .win = 1024};

		b.family = 4;
		memset(b.a, 0, sizeof(b.a));
		b.a[0] = 198;
		b.a[1] = 18;
		b.a[2] = (uint8_t)(r >> 8);
		b.a[3] = (uint8_t)(r >> 40) | 1;
		tt_input(s, &b, &a, &sg, (mxg_tstamp)i * 10000);
		io.n = 0;
		assert_true(st->conns <= 8);
	}
	assert_int_equal(st->mem_used, 0);
	assert_true(st->syncookies_sent >= 20000 - 8);
	/* a legitimate client completes through the cookie path */
	mxg_ip_parse("192.0.2.77", &b);
	{
		struct tt_seg sg = {.sport = 5555, .dport = 25, .seq = 7000, .flags = TT_F_SYN,
				    .win = 65535};
		uint8_t mss[4] = {2, 4, 5, 0xb4};

		sg.opt = mss;
		sg.optlen = 4;
		tt_input(s, &b, &a, &sg, MXG_NSEC_PER_SEC);
		assert_int_equal(io.n, 1);
		tt_parse(&io.q[0], &syn_ack);
		assert_int_equal(syn_ack.flags, TT_F_SYN | TT_F_ACK);
		io.n = 0;
		sg.opt = NULL;
		sg.optlen = 0;
		sg.flags = TT_F_ACK | TT_F_PSH;
		sg.seq = 7001;
		sg.ack = syn_ack.seq + 1;
		sg.data = (const uint8_t *)"HELO x\r\n";
		sg.len = 8;
		tt_input(s, &b, &a, &sg, MXG_NSEC_PER_SEC + MS);
	}
	assert_int_equal(st->syncookies_ok, 1);
	assert_int_equal(st->passive_opens, 1);
	tcps_stack_free(s);
	tt_io_fini(&io);
}

/* ---- header checks ---- */

static void test_bad_checksum(void **state)
{
	struct tcps_stack_conf cf;
	struct tt_io io;
	struct tcps_stack *s;
	struct mxg_ip a, b;
	struct tt_seg sg = {.sport = 4000, .dport = 25, .seq = 1, .flags = TT_F_SYN, .win = 100};
	uint8_t buf[64];
	uint16_t n;

	tt_conf(&cf);
	tt_io_init(&io);
	s = tcps_stack_new(&cf, &io.ops, &io, NULL);
	mxg_ip_parse("10.0.0.1", &a);
	mxg_ip_parse("10.0.0.2", &b);
	n = tt_build(buf, &b, &a, &sg);
	buf[16] ^= 1;
	tcps_stack_input(s, &b, &a, buf, n, 0);
	assert_int_equal(tcps_stack_stats(s)->rx_bad_csum, 1);
	assert_int_equal(io.n, 0);
	/* truncated header, bad data offset, port 0 */
	tcps_stack_input(s, &b, &a, buf, 19, 0);
	buf[16] ^= 1;
	buf[12] = 0x40;
	tcps_stack_input(s, &b, &a, buf, n, 0);
	assert_int_equal(tcps_stack_stats(s)->rx_malformed, 2);
	tcps_stack_free(s);
	tt_io_fini(&io);
}

/* ---- connect / listen errors, deadlines ---- */

static void test_connect_errors(void **state)
{
	struct tcps_stack_conf cf;
	struct tt_io io;
	struct tcps_stack *s;
	struct mxg_ip a, b, a6;
	struct tcps_conn *c1, *c2, *c3;
	int err;

	tt_conf(&cf);
	cf.max_conns = 2;
	tt_io_init(&io);
	s = tcps_stack_new(&cf, &io.ops, &io, NULL);
	mxg_ip_parse("10.0.0.1", &a);
	mxg_ip_parse("10.0.0.2", &b);
	mxg_ip_parse("2001:db8::1", &a6);
	assert_true(tcps_stack_deadline(s) == MXG_TS_NONE);
	assert_int_equal(tcps_connect(s, &a6, 0, &b, 25, TCPS_CC_NEWRENO, NULL, NULL, 0, &c1),
			 MXG_E_INVAL);
	assert_int_equal(tcps_connect(s, &a, 1234, &b, 25, TCPS_CC_NEWRENO, NULL, NULL, 0, &c1), 0);
	assert_true(tcps_stack_deadline(s) <= MXG_NSEC_PER_SEC); /* SYN RTO */
	assert_true(tcps_stack_deadline(s) >= MXG_NSEC_PER_SEC - MS);
	assert_int_equal(tcps_connect(s, &a, 1234, &b, 25, TCPS_CC_NEWRENO, NULL, NULL, 0, &c2),
			 MXG_E_EXIST);
	assert_int_equal(tcps_connect(s, &a, 0, &b, 25, TCPS_CC_NEWRENO, NULL, NULL, 0, &c2), 0);
	{
		uint16_t lp;

		tcps_conn_addrs(c2, NULL, &lp, NULL, NULL);
		assert_true(lp >= 49152);
	}
	assert_int_equal(tcps_connect(s, &a, 0, &b, 26, TCPS_CC_NEWRENO, NULL, NULL, 0, &c3),
			 MXG_E_RANGE);
	assert_int_equal(tcps_conn_send(c1, (const uint8_t *)"x", 1, 0), MXG_E_AGAIN);
	assert_non_null(tcps_listen(s, &a, 25, NULL, NULL, NULL, &err));
	assert_null(tcps_listen(s, &a, 25, NULL, NULL, NULL, &err));
	assert_int_equal(err, MXG_E_EXIST);
	tcps_conn_abort(c1, 0);
	tcps_conn_close(c2, 0);
	assert_int_equal(io.n, 2); /* two SYNs, no RST from SYN_SENT */
	assert_int_equal(tcps_stack_stats(s)->conns, 0);
	tcps_stack_free(s);
	tt_io_fini(&io);
}

/* ---- data path details ---- */

struct bp {
	int writable;
};

static void bp_writable(struct tcps_conn *c, void *ud)
{
	((struct bp *)ud)->writable++;
}

static const struct tcps_conn_callbacks bp_cbs = {.on_writable = bp_writable};

static int accept_store(struct tcps_listener *l, struct tcps_conn *c, void *ud)
{
	*(struct tcps_conn **)ud = c;
	return 0;
}

static void test_send_backpressure_and_peek(void **state)
{
	struct tcps_stack_conf cf;
	struct pair p;
	struct tcps_conn *c, *srv = NULL;
	struct tcps_listener_callbacks lcb = {.on_accept = accept_store};
	struct bp bp = {0};
	static uint8_t big[20000];
	long w;
	size_t total = 0;
	const uint8_t *span;

	tt_conf(&cf);
	cf.sndbuf = 4096;
	cf.rcvbuf = 4096;
	pair_init(&p, &cf);
	assert_non_null(tcps_listen(p.s[1], &p.ip[1], 25, NULL, &lcb, &srv, NULL));
	assert_int_equal(tcps_connect(p.s[0], &p.ip[0], 0, &p.ip[1], 25, TCPS_CC_NEWRENO, &bp_cbs,
				      &bp, p.now, &c), 0);
	pair_run(&p, p.now + 50 * MS);
	for (int i = 0; i < (int)sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + 7);
	w = tcps_conn_send(c, big, sizeof(big), p.now);
	assert_int_equal(w, 4096); /* send buffer */
	assert_int_equal(tcps_conn_writable(c), 0);
	pair_run(&p, p.now + 100 * MS);
	/* the receiver does not read: its window (4 KiB) is full, and our
	 * buffer drained into it */
	assert_int_equal(bp.writable, 1);
	w = tcps_conn_send(c, big + 4096, sizeof(big) - 4096, p.now);
	assert_int_equal(w, 4096);
	pair_run(&p, p.now + 100 * MS);
	assert_non_null(srv);
	assert_int_equal(tcps_conn_readable(srv), 4096);
	/* zero-copy reads: spans end at the ring's wrap point */
	while (total < 8192) {
		size_t n = tcps_conn_peek(srv, &span);

		if (n == 0) {
			pair_run(&p, p.now + 50 * MS);
			continue;
		}
		if (n > 1000)
			n = 1000;
		assert_memory_equal(span, big + total, n);
		tcps_conn_consume(srv, n, p.now);
		total += n;
		pair_run(&p, p.now + 20 * MS);
	}
	assert_int_equal(total, 8192);
	pair_fini(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_svc_echo_discard),
		cmocka_unit_test(test_close_in_callback),
		cmocka_unit_test(test_accept_refused),
		cmocka_unit_test(test_failing_allocator),
		cmocka_unit_test(test_syn_flood_cookies),
		cmocka_unit_test(test_bad_checksum),
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test(test_send_backpressure_and_peek),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
