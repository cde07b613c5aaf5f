/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mxg_addr.h - IPv4/IPv6 addresses, prefixes and ranges as text.
 *
 * Used for interface addresses in the config and, later, for the IMSS-style
 * client lists (smtp_allow_client_ip): a single address, CIDR, or the range
 * form "a.b.c.d-e" (last byte range) for IPv4 and its IPv6 analogue on the
 * last 16-bit group ("2001:db8::1-ff").
 */
#ifndef MXG_ADDR_H
#define MXG_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mxg_ip {
	uint8_t family; /* 4 or 6 */
	uint8_t a[16];  /* network order; IPv4 in a[0..3] */
};

struct mxg_prefix {
	struct mxg_ip ip; /* as written (host bits kept, e.g. 198.18.0.1/24) */
	uint8_t len;      /* prefix length in bits */
};

/* Parses "198.18.0.1" or "2001:db8::1". 0 or MXG_E_INVAL. */
int mxg_ip_parse(const char *s, struct mxg_ip *out);
/* Parses "addr/len"; a bare address gets /32 or /128. 0 or MXG_E_INVAL. */
int mxg_prefix_parse(const char *s, struct mxg_prefix *out);
/* True if |ip| lies inside |p| (same family). */
bool mxg_prefix_contains(const struct mxg_prefix *p, const struct mxg_ip *ip);
/* Writes the textual form (inet_ntop) into |buf|; returns buf. */
const char *mxg_ip_str(const struct mxg_ip *ip, char *buf, size_t len);

#endif
