/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_tcps_batch.c - the per-burst work the dataplane relies on for speed
 * (docs/tcp.md, "Benchmark"): ACKs held across tcps_stack_rx_begin/_end
 * (one per connection and burst, duplicate ACKs at once, none when data
 * carried it, no connection freed inside the batch), and connection
 * buffers reused from the stack's cache within mem_max.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mxg_err.h"
#include "tcp_test.h"

struct peer {
	struct tt_io io;
	struct tcps_stack *s;
	struct mxg_ip me, gw;
	uint32_t iss, irs; /* the peer's ISN, the stack's ISN */
	uint16_t sport;
};

static void peer_init(struct peer *p, const struct tcps_stack_conf *cf, const struct mxg_mem *m)
{
	static const struct mxg_ip any4 = {.family = 4};

	memset(p, 0, sizeof(*p));
	tt_io_init(&p->io);
	p->s = tcps_stack_new(cf, &p->io.ops, &p->io, m);
	assert_non_null(p->s);
	assert_int_equal(tcps_svc_start(p->s, &any4), 0);
	mxg_ip_parse("10.0.0.1", &p->gw);
	mxg_ip_parse("10.0.0.2", &p->me);
}

static void peer_fini(struct peer *p)
{
	tcps_stack_free(p->s);
	tt_io_fini(&p->io);
}

/* Three-way handshake to the discard port (9) from |sport|, no options. */
static void peer_connect(struct peer *p, uint16_t sport)
{
	struct tt_seg sg = {.sport = sport, .dport = 9, .seq = 1000, .flags = TT_F_SYN,
			    .win = 65535};
	struct tt_seg r;

	p->sport = sport;
	p->iss = 1000;
	p->io.n = 0;
	tt_input(p->s, &p->me, &p->gw, &sg, 0);
	assert_int_equal(p->io.n, 1);
	tt_parse(&p->io.q[0], &r);
	assert_int_equal(r.flags, TT_F_SYN | TT_F_ACK);
	p->irs = r.seq;
	sg = (struct tt_seg){.sport = sport, .dport = 9, .seq = 1001, .ack = r.seq + 1,
			     .flags = TT_F_ACK, .win = 65535};
	p->io.n = 0;
	tt_input(p->s, &p->me, &p->gw, &sg, 0);
	assert_int_equal(p->io.n, 0);
}

static void peer_data(struct peer *p, uint32_t off, uint32_t len, mxg_tstamp now)
{
	static const uint8_t data[1000];
	struct tt_seg sg = {.sport = p->sport, .dport = 9, .seq = p->iss + 1 + off,
			    .ack = p->irs + 1, .flags = TT_F_ACK, .win = 65535, .data = data,
			    .len = len};

	tt_input(p->s, &p->me, &p->gw, &sg, now);
}

static void test_ack_held_until_batch_end(void **state)
{
	struct tcps_stack_conf cf;
	struct peer p;
	struct tt_seg r;

	tt_conf(&cf);
	cf.no_quickack = true; /* every second segment, as in steady state */
	peer_init(&p, &cf, NULL);
	peer_connect(&p, 40000);

	/* without a batch: an ACK every second segment */
	p.io.n = 0;
	for (uint32_t i = 0; i < 4; i++)
		peer_data(&p, i * 500, 500, 1);
	assert_int_equal(p.io.n, 2);

	/* in a batch: nothing until the end, then one ACK for all of it */
	p.io.n = 0;
	tcps_stack_rx_begin(p.s);
	for (uint32_t i = 4; i < 12; i++)
		peer_data(&p, i * 500, 500, 2);
	assert_int_equal(p.io.n, 0);
	tcps_stack_rx_end(p.s, 3);
	assert_int_equal(p.io.n, 1);
	tt_parse(&p.io.q[0], &r);
	assert_int_equal(r.flags, TT_F_ACK);
	assert_int_equal(r.ack, p.iss + 1 + 12 * 500);
	assert_int_equal(r.len, 0);

	/* out of order in a batch: the duplicate ACK leaves at once, the
	 * in-order data after it too (a hole is open) */
	p.io.n = 0;
	tcps_stack_rx_begin(p.s);
	peer_data(&p, 13 * 500, 500, 4);
	assert_int_equal(p.io.n, 1);
	tt_parse(&p.io.q[0], &r);
	assert_int_equal(r.ack, p.iss + 1 + 12 * 500);
	tcps_stack_rx_end(p.s, 4);
	assert_int_equal(p.io.n, 1);
	/* the hole filled in a batch: one ACK for everything, at the end */
	p.io.n = 0;
	tcps_stack_rx_begin(p.s);
	peer_data(&p, 12 * 500, 500, 5);
	peer_data(&p, 14 * 500, 500, 5);
	peer_data(&p, 15 * 500, 500, 5);
	assert_int_equal(p.io.n, 0);
	tcps_stack_rx_end(p.s, 5);
	assert_int_equal(p.io.n, 1);
	tt_parse(&p.io.q[0], &r);
	assert_int_equal(r.ack, p.iss + 1 + 16 * 500);

	/* an empty batch sends nothing */
	p.io.n = 0;
	tcps_stack_rx_begin(p.s);
	tcps_stack_rx_end(p.s, 6);
	assert_int_equal(p.io.n, 0);
	peer_fini(&p);
}

static void test_batch_defers_free(void **state)
{
	struct tcps_stack_conf cf;
	struct peer p;
	struct tt_seg rst;

	tt_conf(&cf);
	cf.no_quickack = true;
	peer_init(&p, &cf, NULL);
	peer_connect(&p, 40001);
	/* data that wants an ACK, then a RST in the same batch: the held
	 * connection is dead at rx_end, no ACK goes out, and it is freed
	 * only then */
	p.io.n = 0;
	tcps_stack_rx_begin(p.s);
	peer_data(&p, 0, 500, 1);
	peer_data(&p, 500, 500, 1);
	rst = (struct tt_seg){.sport = 40001, .dport = 9, .seq = p.iss + 1 + 1000,
			      .flags = TT_F_RST, .win = 0};
	tt_input(p.s, &p.me, &p.gw, &rst, 1);
	assert_int_equal(tcps_stack_stats(p.s)->conns, 1);
	tcps_stack_rx_end(p.s, 2);
	assert_int_equal(p.io.n, 0);
	assert_int_equal(tcps_stack_stats(p.s)->conns, 0);
	assert_int_equal(tcps_stack_stats(p.s)->mem_used, 0);
	peer_fini(&p);
}

static void test_buffer_cache(void **state)
{
	struct tcps_stack_conf cf;
	struct tt_failmem fm;
	struct peer p;
	struct tt_seg rst;
	long first, second;

	tt_conf(&cf);
	cf.mem_max = 2 * (65536 + 65536); /* two connections' buffers */
	tt_failmem_init(&fm, -1);
	peer_init(&p, &cf, &fm.mem);

	first = fm.count;
	peer_connect(&p, 40002);
	first = fm.count - first;
	assert_int_equal(tcps_stack_stats(p.s)->mem_used, 131072);
	rst = (struct tt_seg){.sport = 40002, .dport = 9, .seq = p.iss + 1, .flags = TT_F_RST};
	tt_input(p.s, &p.me, &p.gw, &rst, 1);
	assert_int_equal(tcps_stack_stats(p.s)->mem_used, 0);

	/* the next connection takes both buffers from the cache */
	second = fm.count;
	peer_connect(&p, 40003);
	second = fm.count - second;
	assert_int_equal(second, first - 2);
	assert_int_equal(tcps_stack_stats(p.s)->mem_used, 131072);

	/* in use + cached never exceed mem_max: with one connection open and
	 * one cached pair, a third connection still fits (the cached pair is
	 * reused), a fourth is refused */
	rst.sport = 40003;
	tt_input(p.s, &p.me, &p.gw, &rst, 2);
	peer_connect(&p, 40004);
	peer_connect(&p, 40005);
	assert_int_equal(tcps_stack_stats(p.s)->mem_used, 262144);
	assert_int_equal(tcps_stack_stats(p.s)->mem_limit, 0);
	p.io.n = 0;
	{
		struct tt_seg sg = {.sport = 40006, .dport = 9, .seq = 1000, .flags = TT_F_SYN,
				    .win = 65535};
		struct tt_seg r;

		tt_input(p.s, &p.me, &p.gw, &sg, 3);
		tt_parse(&p.io.q[0], &r);
		sg = (struct tt_seg){.sport = 40006, .dport = 9, .seq = 1001, .ack = r.seq + 1,
				     .flags = TT_F_ACK, .win = 65535};
		tt_input(p.s, &p.me, &p.gw, &sg, 3);
	}
	assert_int_equal(tcps_stack_stats(p.s)->mem_limit, 1);
	assert_int_equal(tcps_stack_stats(p.s)->mem_used, 262144);
	peer_fini(&p);
	/* tcps_stack_free released the cache: nothing leaks (ASan, LSan) */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ack_held_until_batch_end),
		cmocka_unit_test(test_batch_defers_free),
		cmocka_unit_test(test_buffer_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
