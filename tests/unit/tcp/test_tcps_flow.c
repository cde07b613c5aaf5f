/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_tcps_flow.c - the 4-tuple table (tcpstack/tcps_flow.c): add, lookup,
 * duplicate, full, and random churn against a model (backward-shift
 * deletion must keep every remaining entry reachable).
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

static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void mk(struct tcps_conn *c, uint32_t i, uint8_t fam)
{
	memset(&c->t, 0, sizeof(c->t));
	c->t.family = fam;
	c->t.lport = 25;
	c->t.rport = (uint16_t)(1024 + i % 60000);
	c->t.raddr[0] = 10;
	c->t.raddr[3] = (uint8_t)(i / 60000);
	c->t.laddr[0] = 192;
}

static void test_flow_basic(void **state)
{
	struct tcps_flow f;
	static struct tcps_conn a, b, a2;

	assert_int_equal(tcps_flow_init(&f, 4, key, mxg_mem_default()), 0);
	mk(&a, 1, 4);
	mk(&b, 2, 4);
	mk(&a2, 1, 4);
	assert_int_equal(tcps_flow_add(&f, &a), 0);
	assert_int_equal(tcps_flow_add(&f, &b), 0);
	assert_int_equal(tcps_flow_add(&f, &a2), MXG_E_EXIST);
	assert_ptr_equal(tcps_flow_lookup(&f, &a.t), &a);
	assert_ptr_equal(tcps_flow_lookup(&f, &b.t), &b);
	tcps_flow_del(&f, &a);
	assert_null(tcps_flow_lookup(&f, &a.t));
	assert_ptr_equal(tcps_flow_lookup(&f, &b.t), &b);
	/* same ports, other family: another flow */
	mk(&a2, 2, 6);
	assert_null(tcps_flow_lookup(&f, &a2.t));
	tcps_flow_fini(&f, mxg_mem_default());
}

static void test_flow_full(void **state)
{
	struct tcps_flow f;
	struct tcps_conn *c = calloc(64, sizeof(*c));
	int i, added = 0;

	tcps_flow_init(&f, 8, key, mxg_mem_default()); /* 16 slots, max 8 */
	for (i = 0; i < 64; i++) {
		mk(&c[i], (uint32_t)i, 4);
		if (tcps_flow_add(&f, &c[i]) == 0)
			added++;
		else
			break;
	}
	assert_int_equal(added, 8);
	assert_int_equal(tcps_flow_add(&f, &c[9]), MXG_E_RANGE);
	tcps_flow_fini(&f, mxg_mem_default());
	free(c);
}

static void test_flow_churn(void **state)
{
	enum { N = 3000 };
	struct tcps_flow f;
	struct tcps_conn *c = calloc(N, sizeof(*c));
	bool *in = calloc(N, sizeof(*in));
	uint64_t seed = 99;

	tcps_flow_init(&f, N, key, mxg_mem_default());
	for (int i = 0; i < N; i++)
		mk(&c[i], (uint32_t)i, (i & 1) ? 6 : 4);
	for (int step = 0; step < 100000; step++) {
		int i = (int)(tt_rand(&seed) % N);

		if (in[i]) {
			tcps_flow_del(&f, &c[i]);
			in[i] = false;
		} else {
			assert_int_equal(tcps_flow_add(&f, &c[i]), 0);
			in[i] = true;
		}
		if (step % 5000 == 0)
			for (int k = 0; k < N; k++)
				assert_ptr_equal(tcps_flow_lookup(&f, &c[k].t), in[k] ? &c[k] : NULL);
	}
	tcps_flow_fini(&f, mxg_mem_default());
	free(c);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flow_basic),
		cmocka_unit_test(test_flow_full),
		cmocka_unit_test(test_flow_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
