/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_tcps_isn.c - SipHash-2-4 reference vectors, RFC 6528 ISNs, SYN
 * cookies (tcpstack/tcps_isn.c, tcps_syncookie.c), option parsing
 * (tcps_opt.c) and the checksum.
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

static void test_siphash_vectors(void **state)
{
	/* SipHash-2-4 paper, appendix A: key 00..0f, message 00..0e */
	uint8_t key[16], msg[64];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	assert_true(tcps_siphash(key, msg, 15) == 0xa129ca6149be45e5ULL);
	assert_true(tcps_siphash(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
	assert_true(tcps_siphash(key, msg, 8) == 0x93f5f5799a932462ULL);
}

static void test_isn(void **state)
{
	uint8_t k1[16] = {1}, k2[16] = {2};
	struct tcps_tuple t = {.family = 4, .lport = 25, .rport = 4000};
	uint32_t a = tcps_isn(k1, &t, 0), b = tcps_isn(k1, &t, 4000); /* +4 us */

	assert_int_equal(b - a, 1); /* the clock component */
	assert_int_not_equal(tcps_isn(k2, &t, 0), a);
	t.rport++;
	assert_int_not_equal(tcps_isn(k1, &t, 0), a);
}

static void test_cookie(void **state)
{
	uint8_t k[16] = {9};
	struct tcps_tuple t = {.family = 6, .lport = 25, .rport = 5555};
	struct tcps_cookie_opts o;
	uint16_t mss;
	mxg_tstamp now = 1000 * MXG_NSEC_PER_SEC;
	uint32_t ck = tcps_cookie_make(k, &t, 777, 1400, true, now, &mss);

	assert_int_equal(mss, 1400);
	assert_int_equal(tcps_cookie_check(k, &t, 777, ck, now + MXG_NSEC_PER_SEC, &o), 0);
	assert_int_equal(o.mss, 1400);
	assert_true(o.sack_ok);
	/* valid in the next slot, not after */
	assert_int_equal(tcps_cookie_check(k, &t, 777, ck, now + 64 * MXG_NSEC_PER_SEC, &o), 0);
	assert_int_equal(tcps_cookie_check(k, &t, 777, ck, now + 200 * MXG_NSEC_PER_SEC, &o),
			 MXG_E_INVAL);
	/* wrong peer ISN, tuple, or tampered bits */
	assert_int_equal(tcps_cookie_check(k, &t, 778, ck, now, &o), MXG_E_INVAL);
	assert_int_equal(tcps_cookie_check(k, &t, 777, ck ^ 0x100, now, &o), MXG_E_INVAL);
	assert_int_equal(tcps_cookie_check(k, &t, 777, ck ^ 0x8, now, &o), MXG_E_INVAL);
	t.rport++;
	assert_int_equal(tcps_cookie_check(k, &t, 777, ck, now, &o), MXG_E_INVAL);
	/* MSS rounds down to the table */
	tcps_cookie_make(k, &t, 1, 1459, false, now, &mss);
	assert_int_equal(mss, 1440);
	tcps_cookie_make(k, &t, 1, 100, false, now, &mss);
	assert_int_equal(mss, 216);
}

static void test_opts(void **state)
{
	struct tcps_opts o;
	const uint8_t good[] = {2, 4, 5, 0xb4, 1, 3, 3, 20, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2,
				 99, 3, 0, 0};
	const uint8_t badlen[] = {2, 4, 5};
	const uint8_t zerolen[] = {77, 0, 1, 1};
	const uint8_t mss3[] = {2, 3, 5, 1};
	const uint8_t sack[] = {1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
	const uint8_t sackbad[] = {5, 7, 0, 0, 0, 1, 0};

	assert_int_equal(tcps_opt_parse(good, sizeof(good), true, &o), 0);
	assert_true(o.has_mss && o.mss == 1460);
	assert_true(o.has_ws && o.wscale == 14); /* clamped */
	assert_true(o.sack_ok && o.has_ts && o.tsval == 1 && o.tsecr == 2);
	/* not a SYN: MSS/WS/SACK-permitted ignored, TS kept */
	assert_int_equal(tcps_opt_parse(good, sizeof(good), false, &o), 0);
	assert_false(o.has_mss || o.has_ws || o.sack_ok);
	assert_true(o.has_ts);
	assert_int_equal(tcps_opt_parse(badlen, sizeof(badlen), true, &o), MXG_E_PROTO);
	assert_int_equal(tcps_opt_parse(zerolen, sizeof(zerolen), true, &o), MXG_E_PROTO);
	assert_int_equal(tcps_opt_parse(mss3, sizeof(mss3), true, &o), MXG_E_PROTO);
	assert_int_equal(tcps_opt_parse(sack, sizeof(sack), false, &o), 0);
	assert_int_equal(o.nsack, 2);
	assert_true(o.sack[1].l == 3 && o.sack[1].r == 4);
	assert_int_equal(tcps_opt_parse(sackbad, sizeof(sackbad), false, &o), MXG_E_PROTO);
}

static void test_csum(void **state)
{
	struct mxg_ip a, b;
	uint8_t seg[21] = {0, 25, 0, 80};
	uint16_t c;

	mxg_ip_parse("10.0.0.1", &a);
	mxg_ip_parse("10.0.0.2", &b);
	seg[20] = 0x55; /* odd length */
	c = tcps_csum(&a, &b, seg, sizeof(seg));
	seg[16] = c >> 8;
	seg[17] = c & 0xff;
	assert_int_equal(tcps_csum(&a, &b, seg, sizeof(seg)), 0);
	mxg_ip_parse("2001:db8::1", &a);
	mxg_ip_parse("2001:db8::2", &b);
	seg[16] = seg[17] = 0;
	c = tcps_csum(&a, &b, seg, sizeof(seg));
	seg[16] = c >> 8;
	seg[17] = c & 0xff;
	assert_int_equal(tcps_csum(&a, &b, seg, sizeof(seg)), 0);
}

/* The word-at-a-time checksum against the RFC 1071 definition done a byte
 * pair at a time, over every length up to a jumbo segment's and every
 * alignment of the buffer, IPv4 and IPv6, with 0xff-heavy data (most
 * carries). */
static uint16_t csum_ref(const struct mxg_ip *s, const struct mxg_ip *d, const uint8_t *p,
			 uint32_t len)
{
	unsigned alen = s->family == 6 ? 16 : 4;
	uint32_t sum = 6 + (len & 0xffff) + (len >> 16);

	for (unsigned i = 0; i < alen; i += 2)
		sum += (uint32_t)(s->a[i] << 8 | s->a[i + 1]) + (uint32_t)(d->a[i] << 8 | d->a[i + 1]);
	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void test_csum_fast(void **state)
{
	static uint8_t buf[9216 + 8];
	struct mxg_ip a4, b4, a6, b6;
	uint32_t x = 12345;

	mxg_ip_parse("198.18.60.1", &a4);
	mxg_ip_parse("198.18.60.2", &b4);
	mxg_ip_parse("2001:db8:3c::1", &a6);
	mxg_ip_parse("ffff:ffff::ffff", &b6);
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (x >> 16) & 1 ? 0xff : (uint8_t)(x >> 24);
	}
	for (uint32_t len = 0; len <= 9216; len += len < 200 ? 1 : 61)
		for (unsigned off = 0; off < 8; off++) {
			assert_int_equal(tcps_csum(&a4, &b4, buf + off, len),
					 csum_ref(&a4, &b4, buf + off, len));
			assert_int_equal(tcps_csum(&a6, &b6, buf + off, len),
					 csum_ref(&a6, &b6, buf + off, len));
		}
	memset(buf, 0xff, 1500);
	assert_int_equal(tcps_csum(&a6, &b6, buf, 1500), csum_ref(&a6, &b6, buf, 1500));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_isn),
		cmocka_unit_test(test_cookie),
		cmocka_unit_test(test_opts),
		cmocka_unit_test(test_csum),
		cmocka_unit_test(test_csum_fast),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
