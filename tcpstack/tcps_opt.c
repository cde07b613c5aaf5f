/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_opt.c - TCP option parsing (RFC 9293 3.2, RFC 7323, RFC 2018).
 *
 * Security stance: options are never trusted. Kinds we do not know are
 * skipped by their length byte (RFC 9293 3.2: "MUST be prepared to handle
 * an illegal option length"); a length byte < 2 or one that runs past the
 * header, or a known option with a wrong length, makes the segment
 * malformed and it is dropped whole (counted rx_malformed) rather than
 * half-interpreted. MSS, window scale and SACK-permitted are honoured only on
 * SYNs; a window scale above 14 is clamped to 14 (RFC 7323 2.3); at most four
 * SACK blocks fit and are read; TSval/TSecr are opaque 32-bit values.
 */
#include "tcps_int.h"

enum {
	OPT_EOL = 0,
	OPT_NOP = 1,
	OPT_MSS = 2,
	OPT_WS = 3,
	OPT_SACK_PERM = 4,
	OPT_SACK = 5,
	OPT_TS = 8,
};

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int tcps_opt_parse(const uint8_t *p, unsigned len, bool syn, struct tcps_opts *o)
{
	unsigned i = 0, olen;

	memset(o, 0, sizeof(*o));
	while (i < len) {
		uint8_t kind = p[i];

		if (kind == OPT_EOL)
			break;
		if (kind == OPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= len)
			return MXG_E_PROTO;
		olen = p[i + 1];
		if (olen < 2 || i + olen > len)
			return MXG_E_PROTO;
		switch (kind) {
		case OPT_MSS:
			if (olen != 4)
				return MXG_E_PROTO;
			if (syn) {
				o->has_mss = true;
				o->mss = (uint16_t)(p[i + 2] << 8 | p[i + 3]);
			}
			break;
		case OPT_WS:
			if (olen != 3)
				return MXG_E_PROTO;
			if (syn) {
				o->has_ws = true;
				o->wscale = p[i + 2] > TCPS_MAX_WSCALE ? TCPS_MAX_WSCALE : p[i + 2];
			}
			break;
		case OPT_SACK_PERM:
			if (olen != 2)
				return MXG_E_PROTO;
			if (syn)
				o->sack_ok = true;
			break;
		case OPT_SACK:
			if (olen < 10 || (olen - 2) % 8 != 0)
				return MXG_E_PROTO;
			o->nsack = 0;
			for (unsigned b = 0; b < (olen - 2u) / 8 && b < TCPS_MAX_SACK_BLOCKS; b++) {
				o->sack[b].l = be32(p + i + 2 + 8 * b);
				o->sack[b].r = be32(p + i + 6 + 8 * b);
				o->nsack++;
			}
			break;
		case OPT_TS:
			if (olen != 10)
				return MXG_E_PROTO;
			o->has_ts = true;
			o->tsval = be32(p + i + 2);
			o->tsecr = be32(p + i + 6);
			break;
		default:
			break; /* unknown: skipped by length */
		}
		i += olen;
	}
	return 0;
}
