/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_acl.c - IMSS-style client address lists (smtp_allow_client_ip).
 *
 * Entry forms, for IPv4 and IPv6 alike:
 *	198.51.100.7            a single address
 *	198.51.100.0/24         CIDR (host bits ignored)
 *	198.51.100.10-20        the last byte ranges from 10 to 20
 *	198.51.100.10-198.51.100.20   an explicit range
 *	2001:db8::1-ff          the last 16-bit group ranges (hex) from 1 to ff
 *	2001:db8::/32  2001:db8::1
 * separated by commas, semicolons or white space.
 *
 * Every entry becomes an inclusive [lo, hi] range of 16 network-order bytes
 * per family; matching compares bytes (memcmp). Lists are short (operators
 * type them) so a linear scan is fine; the policy compiler may feed an LPM
 * table later. Relay *policy* (local domains, internal networks) is the
 * caller's; this is only the matcher.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "smtp_int.h"

struct acl_range {
	uint8_t family;
	uint8_t lo[16];
	uint8_t hi[16];
};

struct smtp_acl {
	const struct mxg_mem *mem;
	struct acl_range *r;
	size_t n, cap;
};

struct smtp_acl *smtp_acl_new(const struct mxg_mem *mem)
{
	struct smtp_acl *a;

	if (!mem)
		mem = mxg_mem_default();
	a = mxg_calloc(mem, 1, sizeof(*a));
	if (!a)
		return NULL;
	a->mem = mem;
	return a;
}

void smtp_acl_free(struct smtp_acl *a)
{
	if (!a)
		return;
	mxg_free(a->mem, a->r);
	mxg_free(a->mem, a);
}

static int push(struct smtp_acl *a, const struct acl_range *r)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		struct acl_range *p = mxg_realloc(a->mem, a->r, cap * sizeof(*p));

		if (!p)
			return MXG_E_NOMEM;
		a->r = p;
		a->cap = cap;
	}
	a->r[a->n++] = *r;
	return 0;
}

static int hexnum(const char *p, size_t n, unsigned *out)
{
	unsigned v = 0;

	if (n == 0 || n > 4)
		return MXG_E_INVAL;
	for (size_t i = 0; i < n; i++) {
		int c = p[i];

		if (!isxdigit(c))
			return MXG_E_INVAL;
		v = v * 16 + (unsigned)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
	}
	*out = v;
	return 0;
}

int smtp_acl_add(struct smtp_acl *a, const char *entry, size_t len)
{
	struct acl_range r;
	char buf[128];
	char *dash;
	size_t alen;

	if (len == 0 || len >= sizeof(buf))
		return MXG_E_INVAL;
	memcpy(buf, entry, len);
	buf[len] = '\0';
	memset(&r, 0, sizeof(r));
	dash = strchr(buf, '-');
	if (!dash) {
		struct mxg_prefix p;
		size_t nb;

		if (mxg_prefix_parse(buf, &p))
			return MXG_E_INVAL;
		nb = p.ip.family == 4 ? 4 : 16;
		r.family = p.ip.family;
		for (size_t i = 0; i < nb; i++) {
			unsigned bits = p.len > i * 8 ? p.len - (unsigned)i * 8 : 0;
			uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));

			r.lo[i] = p.ip.a[i] & mask;
			r.hi[i] = (uint8_t)(p.ip.a[i] | ~mask);
		}
		return push(a, &r);
	}
	*dash = '\0';
	{
		struct mxg_ip lo, hi;
		const char *tail = dash + 1;
		size_t nb;

		if (mxg_ip_parse(buf, &lo))
			return MXG_E_INVAL;
		alen = strlen(tail);
		nb = lo.family == 4 ? 4 : 16;
		if (strchr(tail, '.') || strchr(tail, ':')) {
			if (mxg_ip_parse(tail, &hi) || hi.family != lo.family)
				return MXG_E_INVAL;
		} else {
			hi = lo;
			if (lo.family == 4) {
				uint64_t v;

				if (smtp_parse_u64(tail, alen, &v) || v > 255)
					return MXG_E_INVAL;
				hi.a[3] = (uint8_t)v;
			} else {
				unsigned v;

				if (hexnum(tail, alen, &v))
					return MXG_E_INVAL;
				hi.a[14] = (uint8_t)(v >> 8);
				hi.a[15] = (uint8_t)v;
			}
		}
		if (memcmp(lo.a, hi.a, nb) > 0)
			return MXG_E_INVAL;
		r.family = lo.family;
		memcpy(r.lo, lo.a, nb);
		memcpy(r.hi, hi.a, nb);
		return push(a, &r);
	}
}

static bool is_sep(char c)
{
	return c == ',' || c == ';' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int smtp_acl_parse(struct smtp_acl *a, const char *list, size_t *err_off)
{
	size_t i = 0, n = strlen(list);

	while (i < n) {
		size_t s;
		int rc;

		while (i < n && is_sep(list[i]))
			i++;
		if (i >= n)
			break;
		s = i;
		while (i < n && !is_sep(list[i]))
			i++;
		rc = smtp_acl_add(a, list + s, i - s);
		if (rc) {
			if (err_off)
				*err_off = s;
			return rc;
		}
	}
	return 0;
}

bool smtp_acl_match(const struct smtp_acl *a, const struct mxg_ip *ip)
{
	size_t nb = ip->family == 4 ? 4 : 16;

	for (size_t i = 0; i < a->n; i++) {
		const struct acl_range *r = &a->r[i];

		if (r->family == ip->family && memcmp(ip->a, r->lo, nb) >= 0 &&
		    memcmp(ip->a, r->hi, nb) <= 0)
			return true;
	}
	return false;
}

size_t smtp_acl_count(const struct smtp_acl *a)
{
	return a->n;
}
