/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_net.c - libFuzzer target for tcpstack/tcps_net*.c.
 *
 * The input is a small program run against one interface:
 *
 *	byte 0      conf: bit0 VLAN 5, bit1 IPv4 gateway, bit2 IPv6,
 *	            bit3 IPv6 gateway, bits 4-6 neigh_max = 1 << n
 *	byte 1      neigh_pending_max (0: default)
 *	then ops:
 *	0x00-0x7f   frame: 2-byte big-endian length L, then L bytes (fewer
 *	            if the input ends) given to tcps_if_input; with bit 0x40
 *	            the harness first recomputes the IPv4 header, ICMP and
 *	            ICMPv6 checksums wherever the lengths allow, so mutations
 *	            get past checksum verification into the handlers
 *	0x80        output: address selector byte, 2-byte L4 length
 *	0x81        advance the clock by (next byte) * 100 ms, run on_timer
 *	0x82        tcps_if_neigh_learn: address selector, 6-byte MAC
 *	0x83        tcps_if_start
 *	0x84        toggle frame allocation failure
 *	0x85        advance the clock by (next byte) * 10 s without on_timer
 *	other       ignored
 *
 * Address selectors pick the peer, an off-link host, the gateway, our own
 * address, a multicast group, for IPv4 and IPv6, or take raw bytes from the
 * input. The interface is 02:00:00:00:00:01, 198.18.0.1/24 (gw .254),
 * 2001:db8::1/64 (gw fe80::fe): seeds (seeds/, made by gen_seeds.py) start
 * from valid frames for those addresses.
 *
 * Checked beyond the sanitizers: each received frame is counted under at
 * most one drop reason (exactly one when dropped); a reply fits the frame
 * and carries valid IPv4/ICMP/ICMPv6 checksums; L4 offsets lie inside the
 * frame; every frame we send has a valid IPv4 header checksum or ICMPv6
 * checksum where it carries one; every allocated frame is sent or freed
 * exactly once by tcps_if_free; the deadline after on_timer(now) is later
 * than now. Frames live in exactly-sized heap buffers so ASan sees any
 * overrun.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxg_addr.h"
#include "mxg_err.h"
#include "tcps_net.h"

#define CHECK(c)                                                                               \
	do {                                                                                   \
		if (!(c)) {                                                                    \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);  \
			abort();                                                               \
		}                                                                              \
	} while (0)

struct io {
	long live;      /* frames allocated, not yet sent or freed */
	bool fail;
};

struct frame {
	uint16_t len;
	uint8_t b[];
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint16_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Validates what we can of a frame we produced (sent or replied). */
static void check_frame(const uint8_t *f, uint16_t len)
{
	uint16_t type, l3 = 14;

	CHECK(len >= 14);
	type = rd16(f + 12);
	if (type == 0x8100) {
		CHECK(len >= 18);
		type = rd16(f + 16);
		l3 = 18;
	}
	if (type == 0x0800) {
		const uint8_t *ip = f + l3;
		uint16_t hl, tot;

		CHECK(len >= l3 + 20);
		hl = (uint16_t)((ip[0] & 15) * 4);
		tot = rd16(ip + 2);
		CHECK(hl >= 20 && tot >= hl && l3 + tot <= len);
		CHECK(sum16(ip, hl, 0) == 0xffff);
		if (ip[9] == 1)
			CHECK(sum16(ip + hl, tot - hl, 0) == 0xffff);
	} else if (type == 0x86dd) {
		const uint8_t *ip = f + l3;
		uint16_t plen;

		CHECK(len >= l3 + 40);
		plen = rd16(ip + 4);
		CHECK(l3 + 40 + plen <= len);
		if (ip[6] == 58)
			CHECK(sum16(ip + 40, plen, sum16(ip + 8, 32, 0) + plen + 58u) == 0xffff);
	} else {
		CHECK(type == 0x0806 && len >= l3 + 28);
	}
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Makes checksums valid where the (possibly lying) lengths allow it. */
static void fix_csums(uint8_t *f, uint16_t len)
{
	uint16_t type, l3 = 14;
	uint8_t *ip;

	if (len < 14)
		return;
	type = rd16(f + 12);
	if (type == 0x8100) {
		if (len < 18)
			return;
		type = rd16(f + 16);
		l3 = 18;
	}
	ip = f + l3;
	if (type == 0x0800 && len >= l3 + 20) {
		uint16_t hl = (uint16_t)((ip[0] & 15) * 4), tot = rd16(ip + 2);

		if (hl < 20 || l3 + hl > len)
			return;
		put16(ip + 10, 0);
		put16(ip + 10, (uint16_t)~sum16(ip, hl, 0));
		if (ip[9] == 1 && tot >= hl + 4 && l3 + tot <= len) {
			put16(ip + hl + 2, 0);
			put16(ip + hl + 2, (uint16_t)~sum16(ip + hl, tot - hl, 0));
		}
	} else if (type == 0x86dd && len >= l3 + 40) {
		uint32_t plen = rd16(ip + 4), off = 40, end = 40 + plen, n;
		uint8_t nh = ip[6];

		if (l3 + end > len)
			return;
		for (n = 0; n < 12 && (nh == 0 || nh == 43 || nh == 60) && off + 8 <= end; n++) {
			nh = ip[off];
			off += ((uint32_t)ip[off + 1] + 1) * 8;
		}
		if (nh == 58 && off + 4 <= end) {
			put16(ip + off + 2, 0);
			put16(ip + off + 2, (uint16_t)~sum16(ip + off, end - off,
							 sum16(ip + 8, 32, 0) + (end - off) + 58u));
		}
	}
}

static uint8_t *fz_alloc(void *io_, uint16_t len, void **h)
{
	struct io *io = io_;
	struct frame *fr;

	if (io->fail)
		return NULL;
	fr = malloc(sizeof(*fr) + len);
	if (!fr)
		return NULL;
	fr->len = len;
	memset(fr->b, 0xa5, len);
	io->live++;
	*h = fr;
	return fr->b;
}

static void fz_send(void *io_, void *h)
{
	struct io *io = io_;
	struct frame *fr = h;

	check_frame(fr->b, fr->len);
	io->live--;
	free(fr);
}

static void fz_free(void *io_, void *h)
{
	struct io *io = io_;

	io->live--;
	free(h);
}

static const struct tcps_frame_ops fz_ops = {
	.alloc = fz_alloc,
	.send = fz_send,
	.free = fz_free,
};

static void fill(uint8_t *l4, uint16_t len, const struct mxg_ip *src, const struct mxg_ip *dst,
		 void *arg)
{
	(void)src;
	(void)dst;
	(void)arg;
	memset(l4, 0x5a, len);
}

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t take8(struct in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = in->p[0];
		in->p++;
		in->n--;
	}
	return v;
}

static void take(struct in *in, uint8_t *out, size_t n)
{
	size_t k = n < in->n ? n : in->n;

	memset(out, 0, n);
	memcpy(out, in->p, k);
	in->p += k;
	in->n -= k;
}

static const char *const addrs[] = {
	"198.18.0.2", "203.0.113.7", "198.18.0.254", "198.18.0.1", "224.0.0.1",
	"198.18.0.255", "2001:db8::2", "2001:db8:1::7", "fe80::fe", "fe80::2",
	"2001:db8::1", "ff02::1", "::",
};

static struct mxg_ip pick_addr(struct in *in)
{
	uint8_t sel = take8(in);
	struct mxg_ip ip;

	memset(&ip, 0, sizeof(ip));
	if (sel < sizeof(addrs) / sizeof(addrs[0])) {
		mxg_ip_parse(addrs[sel], &ip);
	} else if (sel & 1) {
		ip.family = 4;
		take(in, ip.a, 4);
	} else {
		ip.family = 6;
		take(in, ip.a, 16);
	}
	return ip;
}

static uint64_t drops(const struct tcps_if_stats *st)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < TCPS_DROP__MAX; i++)
		n += st->drop[i];
	return n;
}

static void run_frame(struct tcps_if *ifc, struct in *in, mxg_tstamp now, bool fix)
{
	uint16_t len = (uint16_t)(take8(in) << 8);
	const struct tcps_if_stats *st = tcps_if_stats(ifc);
	enum tcps_rx_action act;
	enum tcps_drop drop = TCPS_DROP__MAX;
	struct tcps_pktinfo pi;
	uint16_t rlen = 0;
	uint64_t before;
	uint8_t *f;

	len |= take8(in);
	if (len > in->n)
		len = (uint16_t)in->n;
	/* exactly |len| bytes on the heap: ASan catches any overread */
	f = malloc(len ? len : 1);
	if (!f)
		return;
	take(in, f, len);
	if (fix)
		fix_csums(f, len);
	before = drops(st);
	act = tcps_if_input(ifc, f, len, now, &drop, &rlen, &pi);
	switch (act) {
	case TCPS_RX_DROP:
		CHECK(drop < TCPS_DROP__MAX);
		CHECK(drops(st) == before + 1);
		break;
	case TCPS_RX_REPLY:
		CHECK(drops(st) == before);
		CHECK(rlen > 0 && rlen <= len);
		check_frame(f, rlen);
		break;
	case TCPS_RX_L4:
		CHECK(drops(st) == before);
		CHECK(pi.l4_off >= pi.l3_off && (uint32_t)pi.l4_off + pi.l4_len <= len);
		CHECK(pi.src.family == pi.dst.family);
		break;
	case TCPS_RX_CONSUMED:
		CHECK(drops(st) == before);
		break;
	default:
		CHECK(0);
	}
	free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct tcps_if_conf c;
	struct io io = { 0 };
	struct tcps_if *ifc;
	mxg_tstamp now = 1000000000000ULL, d;
	uint8_t b0 = take8(&in), mac[6];
	unsigned ops = 0;

	memset(&c, 0, sizeof(c));
	memcpy(c.mac, (const uint8_t[]){ 2, 0, 0, 0, 0, 1 }, 6);
	c.mtu = 1500;
	c.vlan = (b0 & 1) ? 5 : 0;
	c.has_v4 = true;
	mxg_prefix_parse("198.18.0.1/24", &c.v4);
	c.has_v4_gw = b0 & 2;
	mxg_ip_parse("198.18.0.254", &c.v4_gw);
	c.has_v6 = b0 & 4;
	mxg_prefix_parse("2001:db8::1/64", &c.v6);
	c.has_v6_gw = c.has_v6 && (b0 & 8);
	mxg_ip_parse("fe80::fe", &c.v6_gw);
	c.neigh_max = 1u << ((b0 >> 4) & 7);
	c.neigh_pending_max = take8(&in) & 7;
	ifc = tcps_if_new(&c, &fz_ops, &io, NULL);
	CHECK(ifc);

	while (in.n && ops++ < 256) {
		uint8_t op = take8(&in);

		if (op < 0x80) {
			run_frame(ifc, &in, now, op & 0x40);
			continue;
		}
		switch (op) {
		case 0x80: {
			struct mxg_ip dst = pick_addr(&in);
			uint16_t l4 = (uint16_t)(take8(&in) << 8);
			int rc;

			l4 |= take8(&in);
			rc = tcps_if_output(ifc, NULL, &dst, 17, l4, fill, NULL, now);
			CHECK(rc == 0 || rc == MXG_E_RANGE || rc == MXG_E_NOENT ||
			      rc == MXG_E_NOBUFS || rc == MXG_E_AGAIN || rc == MXG_E_INVAL);
			break;
		}
		case 0x81:
			now += (mxg_tstamp)take8(&in) * 100000000ULL;
			tcps_if_on_timer(ifc, now);
			d = tcps_if_deadline(ifc);
			CHECK(d > now);
			break;
		case 0x82: {
			struct mxg_ip ip = pick_addr(&in);

			take(&in, mac, 6);
			tcps_if_neigh_learn(ifc, &ip, mac, now);
			if (tcps_if_neigh_lookup(ifc, &ip, now, mac))
				CHECK(!(mac[0] & 1));
			break;
		}
		case 0x83: {
			int rc = tcps_if_start(ifc, now);

			CHECK(rc == 0 || rc == MXG_E_NOBUFS);
			break;
		}
		case 0x84:
			io.fail = !io.fail;
			break;
		case 0x85:
			now += (mxg_tstamp)take8(&in) * 10000000000ULL;
			break;
		default:
			break;
		}
	}
	tcps_if_free(ifc);
	CHECK(io.live == 0);
	return 0;
}
