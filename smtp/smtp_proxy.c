/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_proxy.c - PROXY protocol header parser (HAProxy proxy-protocol.txt,
 * versions 1 and 2).
 *
 * Stateless over the bytes seen so far: the caller keeps the prefix (at most
 * SMTP_PROXY_MAX bytes) and calls again with more. A header that can no
 * longer become valid is reported as soon as the first wrong byte is seen,
 * so an SMTP client talking to a PROXY-enabled port fails fast.
 *
 * SECURITY
 *	Only the engine's caller decides whether a connection may send a PROXY
 *	header (SMTP_SRV_F_PROXY for known balancers); the parser is strict:
 *	v1 needs single spaces, dotted-quad IPv4 for TCP4, ports without sign,
 *	at most 107 bytes with CRLF; v2 needs the 12-byte signature, version 2,
 *	command LOCAL or PROXY, and a length that covers the addresses. UDP
 *	families are refused (this is SMTP). TLVs are skipped.
 */
#include <arpa/inet.h>
#include <stdio.h>

#include "smtp_int.h"

static const uint8_t v2sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
static const char v1sig[] = "PROXY ";
#define V1_MAX 107

static int parse_port(const char *p, size_t n, uint16_t *out)
{
	uint64_t v;

	if (n == 0 || n > 5 || (n > 1 && p[0] == '0'))
		return MXG_E_INVAL;
	if (smtp_parse_u64(p, n, &v) || v > 65535)
		return MXG_E_INVAL;
	*out = (uint16_t)v;
	return 0;
}

static int parse_addr(const char *p, size_t n, int family, struct mxg_ip *ip)
{
	char tmp[64];

	if (n == 0 || n >= sizeof(tmp))
		return MXG_E_INVAL;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(family == 4 ? AF_INET : AF_INET6, tmp, ip->a) != 1)
		return MXG_E_INVAL;
	ip->family = (uint8_t)family;
	return 0;
}

static int parse_v1(const uint8_t *p, size_t n, struct smtp_proxy_info *out)
{
	const uint8_t *lf = memchr(p, '\n', n < V1_MAX ? n : V1_MAX);
	const char *f[6];
	size_t fl[6], len, i, s, k = 0;
	int fam;

	if (!lf)
		return n >= V1_MAX ? MXG_E_INVAL : 0;
	len = (size_t)(lf - p) + 1;
	if (len < 8 || p[len - 2] != '\r')
		return MXG_E_INVAL;
	memset(out, 0, sizeof(*out));
	out->version = 1;
	/* Split the line (without CRLF) at single spaces. */
	s = 0;
	for (i = 0; i <= len - 2; i++) {
		if (i < len - 2 && p[i] != ' ')
			continue;
		if (k == 6)
			return MXG_E_INVAL;
		f[k] = (const char *)p + s;
		fl[k++] = i - s;
		s = i + 1;
		/* UNKNOWN: the rest of the line is ignored (proxy-protocol 2.1) */
		if (k == 2 && fl[1] == 7 && !memcmp(f[1], "UNKNOWN", 7)) {
			out->local = true;
			return (int)len;
		}
	}
	if (k != 6 || fl[0] != 5)
		return MXG_E_INVAL;
	if (fl[1] == 4 && !memcmp(f[1], "TCP4", 4))
		fam = 4;
	else if (fl[1] == 4 && !memcmp(f[1], "TCP6", 4))
		fam = 6;
	else
		return MXG_E_INVAL;
	if (parse_addr(f[2], fl[2], fam, &out->src) || parse_addr(f[3], fl[3], fam, &out->dst) ||
	    parse_port(f[4], fl[4], &out->sport) || parse_port(f[5], fl[5], &out->dport))
		return MXG_E_INVAL;
	return (int)len;
}

static int parse_v2(const uint8_t *p, size_t n, struct smtp_proxy_info *out)
{
	size_t hl, need;
	uint8_t ver_cmd, fam;

	if (n < 16)
		return 0;
	ver_cmd = p[12];
	fam = p[13];
	hl = ((size_t)p[14] << 8) | p[15];
	if ((ver_cmd >> 4) != 2 || (ver_cmd & 0x0f) > 1)
		return MXG_E_INVAL;
	if (16 + hl > SMTP_PROXY_MAX)
		return MXG_E_INVAL;
	switch (fam) {
	case 0x00: need = 0; break;   /* UNSPEC */
	case 0x11: need = 12; break;  /* TCP over IPv4 */
	case 0x21: need = 36; break;  /* TCP over IPv6 */
	case 0x31: need = 216; break; /* UNIX stream */
	default: return MXG_E_INVAL;  /* UDP, unknown */
	}
	if (hl < need)
		return MXG_E_INVAL;
	if (n < 16 + hl)
		return 0;
	memset(out, 0, sizeof(*out));
	out->version = 2;
	if ((ver_cmd & 0x0f) == 0 || fam == 0x00 || fam == 0x31) {
		out->local = true;
		return (int)(16 + hl);
	}
	if (fam == 0x11) {
		out->src.family = out->dst.family = 4;
		memcpy(out->src.a, p + 16, 4);
		memcpy(out->dst.a, p + 20, 4);
		out->sport = (uint16_t)(p[24] << 8 | p[25]);
		out->dport = (uint16_t)(p[26] << 8 | p[27]);
	} else {
		out->src.family = out->dst.family = 6;
		memcpy(out->src.a, p + 16, 16);
		memcpy(out->dst.a, p + 32, 16);
		out->sport = (uint16_t)(p[48] << 8 | p[49]);
		out->dport = (uint16_t)(p[50] << 8 | p[51]);
	}
	return (int)(16 + hl);
}

int smtp_proxy_parse(const uint8_t *p, size_t n, struct smtp_proxy_info *out)
{
	size_t k;

	if (n == 0)
		return 0;
	if (p[0] == v2sig[0]) {
		k = n < sizeof(v2sig) ? n : sizeof(v2sig);
		if (memcmp(p, v2sig, k))
			return MXG_E_INVAL;
		return parse_v2(p, n, out);
	}
	k = n < 6 ? n : 6;
	if (memcmp(p, v1sig, k))
		return MXG_E_INVAL;
	if (n <= 6)
		return 0;
	return parse_v1(p, n, out);
}
