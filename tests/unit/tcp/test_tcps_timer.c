/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_tcps_timer.c - the timer wheel (tcpstack/tcps_timer.c): never early,
 * at most one tick late, long timers across rotations, cancel, re-arm,
 * deadline never later than the earliest timer, big time jumps.
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

#define MS MXG_NSEC_PER_MSEC

static int count(struct tcps_tnode *n)
{
	int k = 0;

	for (; n; n = n->next)
		k++;
	return k;
}

static void test_wheel_basic(void **state)
{
	static struct tcps_wheel w;
	struct tcps_tnode a = {0}, b = {0};

	tcps_wheel_init(&w, 1000 * MS);
	assert_true(tcps_wheel_deadline(&w) == MXG_TS_NONE);
	tcps_wheel_arm(&w, &a, 1040 * MS + 1);
	tcps_wheel_arm(&w, &b, 9000 * MS); /* > one rotation ahead */
	assert_true(tcps_wheel_deadline(&w) <= 1041 * MS); /* its tick */
	assert_int_equal(count(tcps_wheel_expire(&w, 1040 * MS)), 0); /* never early */
	assert_int_equal(count(tcps_wheel_expire(&w, 1041 * MS)), 1);
	assert_false(a.armed);
	assert_int_equal(count(tcps_wheel_expire(&w, 5096 * MS)), 0); /* b's slot, earlier round */
	assert_int_equal(count(tcps_wheel_expire(&w, 8999 * MS)), 0);
	assert_int_equal(count(tcps_wheel_expire(&w, 9000 * MS)), 1);
	assert_true(tcps_wheel_deadline(&w) == MXG_TS_NONE);
}

static void test_wheel_cancel_rearm(void **state)
{
	static struct tcps_wheel w;
	struct tcps_tnode a = {0};

	tcps_wheel_init(&w, 0);
	tcps_wheel_arm(&w, &a, 10 * MS);
	tcps_wheel_arm(&w, &a, 20 * MS);
	assert_int_equal(w.count, 1);
	assert_int_equal(count(tcps_wheel_expire(&w, 15 * MS)), 0);
	tcps_wheel_cancel(&w, &a);
	assert_int_equal(count(tcps_wheel_expire(&w, 25 * MS)), 0);
	/* arming in the past fires at the next expiry call */
	tcps_wheel_arm(&w, &a, 1 * MS);
	assert_int_equal(count(tcps_wheel_expire(&w, 26 * MS)), 1);
}

static void test_wheel_random(void **state)
{
	enum { N = 500 };
	static struct tcps_wheel w;
	static struct tcps_tnode n[N];
	static mxg_tstamp when[N];
	uint64_t seed = 7;
	mxg_tstamp now = 0;
	int fired = 0;

	tcps_wheel_init(&w, 0);
	memset(n, 0, sizeof(n));
	for (int i = 0; i < N; i++) {
		when[i] = tt_rand(&seed) % (20000 * MS);
		tcps_wheel_arm(&w, &n[i], when[i]);
	}
	while (fired < N) {
		mxg_tstamp dl = tcps_wheel_deadline(&w), min = MXG_TS_NONE;
		struct tcps_tnode *e;

		for (int i = 0; i < N; i++)
			if (n[i].armed && when[i] < min)
				min = when[i];
		assert_true(dl <= min + MS);
		now += (tt_rand(&seed) % 3000) * MXG_NSEC_PER_USEC * 10; /* up to 30 ms */
		if (tt_rand(&seed) % 50 == 0)
			now += 5000 * MS; /* jump over a rotation */
		for (e = tcps_wheel_expire(&w, now); e; e = e->next) {
			int i = (int)(e - n);

			assert_true(when[i] <= now);
			fired++;
		}
		for (int i = 0; i < N; i++)
			if (n[i].armed)
				assert_true(when[i] > now - MS);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wheel_basic),
		cmocka_unit_test(test_wheel_cancel_rearm),
		cmocka_unit_test(test_wheel_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
