/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_tcps_rob.c - out-of-order range bookkeeping (tcpstack/tcps_rob.c):
 * gaps returned under "first received bytes win", limits, SACK order, and
 * a randomized comparison against a byte-array model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tcp_test.h"
#include "tcps_int.h"

static struct tcps_rob_range gaps[64];

static void test_rob_in_order(void **state)
{
	struct tcps_rob r;

	assert_int_equal(tcps_rob_init(&r, 4, mxg_mem_default()), 0);
	assert_int_equal(tcps_rob_push(&r, 0, 0, 100, gaps), 1);
	assert_true(gaps[0].start == 0 && gaps[0].end == 100);
	assert_int_equal(tcps_rob_pop(&r, 0), 100);
	assert_int_equal(r.n, 0);
	assert_int_equal(tcps_rob_pop(&r, 100), 100);
	tcps_rob_fini(&r, mxg_mem_default());
}

static void test_rob_fill_hole(void **state)
{
	struct tcps_rob r;

	tcps_rob_init(&r, 4, mxg_mem_default());
	assert_int_equal(tcps_rob_push(&r, 0, 200, 100, gaps), 1);
	assert_int_equal(tcps_rob_pop(&r, 0), 0); /* hole at 0 */
	assert_int_equal(tcps_rob_push(&r, 0, 0, 200, gaps), 1);
	assert_true(gaps[0].start == 0 && gaps[0].end == 200);
	assert_int_equal(tcps_rob_pop(&r, 0), 300);
	tcps_rob_fini(&r, mxg_mem_default());
}

static void test_rob_overlap_first_wins(void **state)
{
	struct tcps_rob r;

	tcps_rob_init(&r, 8, mxg_mem_default());
	tcps_rob_push(&r, 0, 100, 50, gaps);  /* [100,150) */
	tcps_rob_push(&r, 0, 200, 50, gaps);  /* [200,250) */
	/* [50, 300) covers both: only the three holes are new */
	assert_int_equal(tcps_rob_push(&r, 0, 50, 250, gaps), 3);
	assert_true(gaps[0].start == 50 && gaps[0].end == 100);
	assert_true(gaps[1].start == 150 && gaps[1].end == 200);
	assert_true(gaps[2].start == 250 && gaps[2].end == 300);
	assert_int_equal(r.n, 1);
	/* exact duplicate: nothing new */
	assert_int_equal(tcps_rob_push(&r, 0, 60, 10, gaps), 0);
	tcps_rob_fini(&r, mxg_mem_default());
}

static void test_rob_limit(void **state)
{
	struct tcps_rob r;

	tcps_rob_init(&r, 2, mxg_mem_default());
	assert_int_equal(tcps_rob_push(&r, 0, 10, 1, gaps), 1);
	assert_int_equal(tcps_rob_push(&r, 0, 20, 1, gaps), 1);
	assert_int_equal(tcps_rob_push(&r, 0, 30, 1, gaps), MXG_E_RANGE);
	/* extending an island is fine */
	assert_int_equal(tcps_rob_push(&r, 0, 21, 1, gaps), 1);
	/* the in-order segment is always accepted */
	assert_int_equal(tcps_rob_push(&r, 0, 0, 5, gaps), 1);
	assert_int_equal(tcps_rob_pop(&r, 0), 5);
	assert_int_equal(r.n, 2);
	tcps_rob_fini(&r, mxg_mem_default());
}

static void test_rob_below_base(void **state)
{
	struct tcps_rob r;

	tcps_rob_init(&r, 2, mxg_mem_default());
	assert_int_equal(tcps_rob_push(&r, 100, 0, 50, gaps), 0);
	assert_int_equal(tcps_rob_push(&r, 100, 50, 100, gaps), 1);
	assert_true(gaps[0].start == 100 && gaps[0].end == 150);
	tcps_rob_fini(&r, mxg_mem_default());
}

static void test_rob_sack_order(void **state)
{
	struct tcps_rob r;
	struct tcps_rob_range out[4];

	tcps_rob_init(&r, 8, mxg_mem_default());
	tcps_rob_push(&r, 0, 300, 10, gaps);
	tcps_rob_push(&r, 0, 100, 10, gaps);
	tcps_rob_push(&r, 0, 500, 10, gaps);
	tcps_rob_push(&r, 0, 110, 10, gaps); /* most recent: extends [100,120) */
	assert_int_equal(tcps_rob_sack(&r, out, 3), 3);
	assert_true(out[0].start == 100 && out[0].end == 120);
	assert_true(out[1].start == 500);
	assert_true(out[2].start == 300);
	tcps_rob_fini(&r, mxg_mem_default());
}

/* Random pushes against a model: each byte records the id of the first
 * push that carried it; the gaps returned must be exactly the bytes that
 * were new. */
static void test_rob_model(void **state)
{
	enum { N = 4096 };
	static int model[N];
	uint64_t seed = 12345;

	for (int round = 0; round < 200; round++) {
		struct tcps_rob r;
		uint64_t base = 0;

		/* 16 and 128: the array grows from 8 on the way */
		tcps_rob_init(&r, round & 1 ? 128 : 16, mxg_mem_default());
		for (int i = 0; i < N; i++)
			model[i] = -1;
		for (int id = 0; id < 300; id++) {
			uint64_t off = tt_rand(&seed) % N;
			uint32_t len = (uint32_t)(tt_rand(&seed) % 200);
			int ng, newb = 0, gapb = 0;

			if (off + len > N)
				len = (uint32_t)(N - off);
			for (uint64_t k = off; k < off + len; k++)
				if (k >= base && model[k] < 0)
					newb++;
			ng = tcps_rob_push(&r, base, off, len, gaps);
			if (ng == MXG_E_RANGE) {
				assert_true(off > base);
				continue;
			}
			assert_true(ng >= 0);
			for (int g = 0; g < ng; g++) {
				assert_true(gaps[g].start >= off && gaps[g].end <= off + len);
				for (uint64_t k = gaps[g].start; k < gaps[g].end; k++) {
					assert_int_equal(model[k], -1);
					model[k] = id;
					gapb++;
				}
			}
			assert_int_equal(gapb, newb);
			base = tcps_rob_pop(&r, base);
			for (uint64_t k = 0; k < base; k++)
				assert_true(model[k] >= 0);
			assert_true(base == N || model[base] < 0 || r.n == 0 || r.r[0].start > base);
			assert_true(r.n <= r.max && r.n <= r.cap + 1 && r.cap <= r.max);
		}
		tcps_rob_fini(&r, mxg_mem_default());
	}
}

/* The range array starts small and grows; when growing fails, what does
 * not fit is refused (MXG_E_RANGE: the peer retransmits) and nothing
 * already held is lost. */
static void test_rob_grow(void **state)
{
	struct tt_failmem fm;
	struct tcps_rob r;
	int k;

	assert_int_equal(tcps_rob_init(&r, 100, mxg_mem_default()), 0);
	for (k = 0; k < 100; k++)
		assert_int_equal(tcps_rob_push(&r, 0, 100 + 20 * (uint64_t)k, 10, gaps), 1);
	assert_int_equal(r.n, 100);
	assert_int_equal(r.cap, 100);
	assert_int_equal(tcps_rob_push(&r, 0, 5000, 10, gaps), MXG_E_RANGE);
	/* in-order data at the base still goes in (the spare slot) */
	assert_int_equal(tcps_rob_push(&r, 0, 0, 50, gaps), 1);
	assert_int_equal(r.n, 101);
	assert_int_equal(tcps_rob_pop(&r, 0), 50);
	tcps_rob_fini(&r, mxg_mem_default());

	tt_failmem_init(&fm, 1); /* the initial array only */
	assert_int_equal(tcps_rob_init(&r, 100, &fm.mem), 0);
	for (k = 0; k < 9; k++)
		assert_int_equal(tcps_rob_push(&r, 0, 100 + 20 * (uint64_t)k, 10, gaps), 1);
	assert_int_equal(r.cap, 8);
	assert_int_equal(tcps_rob_push(&r, 0, 1000, 10, gaps), MXG_E_RANGE);
	assert_int_equal(r.n, 9);
	/* merging into a held range needs no slot */
	assert_int_equal(tcps_rob_push(&r, 0, 110, 10, gaps), 1);
	assert_int_equal(r.n, 8);
	tcps_rob_fini(&r, &fm.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rob_in_order),
		cmocka_unit_test(test_rob_fill_hole),
		cmocka_unit_test(test_rob_overlap_first_wins),
		cmocka_unit_test(test_rob_limit),
		cmocka_unit_test(test_rob_below_base),
		cmocka_unit_test(test_rob_sack_order),
		cmocka_unit_test(test_rob_model),
		cmocka_unit_test(test_rob_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
