/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxg_addr.h"
#include "mxg_err.h"

int mxg_ip_parse(const char *s, struct mxg_ip *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->a) == 1) {
		out->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->a) == 1) {
		out->family = 6;
		return 0;
	}
	return MXG_E_INVAL;
}

int mxg_prefix_parse(const char *s, struct mxg_prefix *out)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long len;
	char *end;

	if (alen == 0 || alen >= sizeof(buf))
		return MXG_E_INVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (mxg_ip_parse(buf, &out->ip) != 0)
		return MXG_E_INVAL;
	if (!slash) {
		out->len = out->ip.family == 4 ? 32 : 128;
		return 0;
	}
	if (slash[1] < '0' || slash[1] > '9')
		return MXG_E_INVAL;
	len = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || len > (out->ip.family == 4 ? 32u : 128u))
		return MXG_E_INVAL;
	out->len = (uint8_t)len;
	return 0;
}

bool mxg_prefix_contains(const struct mxg_prefix *p, const struct mxg_ip *ip)
{
	unsigned bits = p->len, i;

	if (p->ip.family != ip->family)
		return false;
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (p->ip.a[i] != ip->a[i])
			return false;
	if (bits) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits));
		if ((p->ip.a[i] & mask) != (ip->a[i] & mask))
			return false;
	}
	return true;
}

const char *mxg_ip_str(const struct mxg_ip *ip, char *buf, size_t len)
{
	if (!inet_ntop(ip->family == 4 ? AF_INET : AF_INET6, ip->a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}
