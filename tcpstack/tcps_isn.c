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

static uint32_t sum16(const uint8_t *p, uint32_t len, uint32_t sum)
{
	uint32_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* TCP checksum with the IPv4 or IPv6 pseudo-header, in host order: the
 * value to store big-endian in the header (computed over |p| with the
 * checksum field zero), or 0 when verifying a segment that is correct. */
uint16_t tcps_csum(const struct mxg_ip *src, const struct mxg_ip *dst, const uint8_t *p,
		   uint32_t len)
{
	uint32_t sum = 0;
	unsigned alen = src->family == 6 ? 16 : 4;

	sum = sum16(src->a, alen, sum);
	sum = sum16(dst->a, alen, sum);
	sum += 6; /* IPPROTO_TCP */
	sum += len & 0xffff;
	sum += len >> 16;
	sum = sum16(p, len, sum);
	return (uint16_t)~sum;
}
