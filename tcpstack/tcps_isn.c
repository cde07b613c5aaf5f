/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_isn.c - SipHash-2-4, initial sequence numbers (RFC 6528), timestamp
 * offsets (RFC 7323 5.4) and the TCP checksum.
 *
 * ISN = M + F(localip, localport, remoteip, remoteport, secretkey), with M a
 * 4 microsecond clock and F SipHash-2-4 keyed by the stack secret (RFC 6528
 * 3). SipHash rather than MD5 (the RFC's example): it is a keyed PRF designed
 * for short inputs, fast, and the same function serves the flow table, so an
 * attacker who cannot read the key can neither predict ISNs nor aim many
 * tuples at one hash chain. Written here (reference algorithm by Aumasson and
 * Bernstein) to keep the core free of a crypto library dependency.
 *
 * The secret comes from the caller (tcps_stack_conf.secret): the core reads no
 * random source. A predictable secret voids every property above.
 */
#include "tcps_int.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);      \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                         \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                         \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);      \
	} while (0)

static inline uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t tcps_siphash(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < left; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint32_t tcps_isn(const uint8_t key[16], const struct tcps_tuple *t, mxg_tstamp now)
{
	uint32_t m = (uint32_t)(now / (4 * MXG_NSEC_PER_USEC));

	return m + (uint32_t)tcps_siphash(key, t, sizeof(*t));
}

uint32_t tcps_ts_offset(const uint8_t key[16], const struct tcps_tuple *t)
{
	struct {
		struct tcps_tuple t;
		uint32_t tag;
	} in;

	memset(&in, 0, sizeof(in));
	in.t = *t;
	in.tag = 0x54534f46; /* domain separation from the ISN */
	return (uint32_t)(tcps_siphash(key, &in, sizeof(in)) >> 32);
}

/* One's-complement sum of |len| bytes in the host's view of 16-bit words
 * (byte-order independent, RFC 1071 2.B), 64 bits at a time with the
 * carry added back (RFC 1071 2.C), 32 bytes per iteration in two chains.
 * The byte-at-a-time loop it replaces was the largest single cost of a
 * bulk receive (19 % of the worker, perf/tcp_bench.py --profile). */
static inline uint64_t add_c(uint64_t s, uint64_t v)
{
	s += v;
	return s + (s < v);
}

static uint64_t sum_words(const uint8_t *p, uint32_t len, uint64_t sum)
{
	uint64_t s2 = 0, a, b, c, d;
	uint32_t w;
	uint16_t h;

	while (len >= 32) {
		memcpy(&a, p, 8);
		memcpy(&b, p + 8, 8);
		memcpy(&c, p + 16, 8);
		memcpy(&d, p + 24, 8);
		sum = add_c(add_c(sum, a), b);
		s2 = add_c(add_c(s2, c), d);
		p += 32;
		len -= 32;
	}
	sum = add_c(sum, s2);
	while (len >= 8) {
		memcpy(&a, p, 8);
		sum = add_c(sum, a);
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		memcpy(&w, p, 4);
		sum = add_c(sum, w);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		sum = add_c(sum, h);
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = { p[0], 0 };

		memcpy(&h, last, 2);
		sum = add_c(sum, h);
	}
	return sum;
}

/* TCP checksum with the IPv4 or IPv6 pseudo-header, in host order: the
 * value to store big-endian in the header (computed over |p| with the
 * checksum field zero), or 0 when verifying a segment that is correct. */
uint16_t tcps_csum(const struct mxg_ip *src, const struct mxg_ip *dst, const uint8_t *p,
		   uint32_t len)
{
	/* pseudo-header tail: 32-bit length, zeros, next header (RFC 8200
	 * 8.1); the same one's-complement sum as IPv4's zero/proto/16-bit
	 * length (RFC 9293 3.1) */
	const uint8_t tail[8] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
				  (uint8_t)len, 0, 0, 0, 6 /* IPPROTO_TCP */ };
	unsigned alen = src->family == 6 ? 16 : 4;
	uint64_t sum;
	uint16_t h;
	uint8_t b[2];

	sum = sum_words(src->a, alen, 0);
	sum = sum_words(dst->a, alen, sum);
	sum = sum_words(tail, 8, sum);
	sum = sum_words(p, len, sum);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	h = (uint16_t)sum;
	memcpy(b, &h, 2); /* host view -> the big-endian field's value */
	return (uint16_t)~((uint16_t)b[0] << 8 | b[1]);
}
