/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_syncookie.c - SYN cookies (RFC 4987 3.6).
 *
 * When a listener's half-open backlog is full, the SYN-ACK's ISN is a cookie
 * and no state is kept. Layout of the 32-bit cookie:
 *
 *	31..8  SipHash-2-4(secret, 4-tuple, peer ISN, time slot, bits 5..0)
 *	 7..6  time slot (64 s periods) mod 4
 *	 5..3  index into the MSS table below
 *	    2  SACK permitted
 *	 1..0  zero (reserved)
 *
 * A cookie is valid in its own slot and the next (64 to 128 s). The peer's
 * window scale cannot be encoded in 24 hash bits without weakening them: it
 * travels in the low bits of our TSval when the peer offers timestamps (the
 * ACK echoes it in TSecr), as Linux does; without timestamps a cookie
 * connection runs without window scaling (the RFC 4987 trade-off). A forged
 * echo can only change the scaling of the forger's own connection.
 *
 * Security stance: 24 bits of keyed MAC per guess; an attacker must guess a
 * cookie per 4-tuple and slot (2^-24 per try). Cookie ACKs are counted
 * (syncookies_ok / syncookies_bad).
 */
#include "tcps_int.h"

#define COOKIE_SLOT_NS (64ULL * MXG_NSEC_PER_SEC)

static const uint16_t mss_table[8] = {216, 536, 1220, 1360, 1400, 1440, 1460, 8960};

static uint32_t cookie_hash(const uint8_t key[16], const struct tcps_tuple *t, uint32_t peer_isn,
			    uint32_t slot, uint32_t low)
{
	struct {
		struct tcps_tuple t;
		uint32_t isn;
		uint32_t slot;
		uint32_t low; /* MSS index and SACK bit: covered by the MAC */
		uint32_t tag;
	} in;

	memset(&in, 0, sizeof(in));
	in.t = *t;
	in.isn = peer_isn;
	in.slot = slot;
	in.low = low & 0x3f;
	in.tag = 0x434f4f4b; /* "COOK": domain separation */
	return (uint32_t)tcps_siphash(key, &in, sizeof(in)) & 0xffffff;
}

uint32_t tcps_cookie_make(const uint8_t key[16], const struct tcps_tuple *t, uint32_t peer_isn,
			  uint16_t mss, bool sack_ok, mxg_tstamp now, uint16_t *mss_out)
{
	uint32_t slot = (uint32_t)(now / COOKIE_SLOT_NS);
	uint32_t idx = 0, low;

	/* the largest table entry not above the peer's MSS */
	for (uint32_t i = 0; i < 8; i++)
		if (mss_table[i] <= mss)
			idx = i;
	low = idx << 3 | (sack_ok ? 4u : 0u);
	*mss_out = mss_table[idx];
	return cookie_hash(key, t, peer_isn, slot, low) << 8 | (slot & 3) << 6 | low;
}

int tcps_cookie_check(const uint8_t key[16], const struct tcps_tuple *t, uint32_t peer_isn,
		      uint32_t cookie, mxg_tstamp now, struct tcps_cookie_opts *o)
{
	uint32_t slot_now = (uint32_t)(now / COOKIE_SLOT_NS);
	uint32_t cslot = (cookie >> 6) & 3;

	if (cookie & 3)
		return MXG_E_INVAL;
	for (uint32_t back = 0; back < 2; back++) {
		uint32_t slot = slot_now - back;

		if ((slot & 3) != cslot)
			continue;
		if (cookie_hash(key, t, peer_isn, slot, cookie) != cookie >> 8)
			continue;
		memset(o, 0, sizeof(*o));
		o->mss = mss_table[(cookie >> 3) & 7];
		o->sack_ok = (cookie & 4) != 0;
		return 0;
	}
	return MXG_E_INVAL;
}
