/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_url.c - URL extraction and normalisation (see scan_url.h).
 *
 * STREAMING
 *	Same window scheme as scan_dlp.c: win[0] is the context byte, the
 *	window carries 2 * max_len + 64 bytes between passes, a pass runs
 *	every URL_CHUNK new bytes and takes the candidates ending in
 *	(done, limit], limit being max_len + 32 bytes before the window's end
 *	(so a URL and the " [.] " look-ahead are complete when counted).
 *	A URL longer than max_len is cut there and flagged.
 *
 * MEMORY
 *	The strings of all entries (url, host, domain, each NUL-terminated)
 *	live in one pool, and a power-of-two open-addressing table of entry
 *	indices finds duplicates; pool, table and entry vector are kept
 *	across scan_url_reset(), so a warm instance allocates nothing per
 *	message (a grown pool moves: the entries' pointers are rebased).
 *
 * SPEED
 *	Normalisation writes the result in place: the defanging copy is made
 *	only when the input holds one of the bytes a defanged form or a
 *	dropped control starts with, a plain lowercase host is copied once
 *	(numeric hosts alone go through the IPv4 reader), and scheme, host,
 *	port, path and query are written straight into the output (dot
 *	segments removed there when the path has a "/." at all).
 *
 * WHY NO LIBIDN / PSL
 *	Neither is in the dependency list; reputation lookups need a stable
 *	key more than a perfect one. Hosts are punycoded label by label after
 *	ASCII lowercasing only, and the registrable domain is a documented
 *	guess (scan_url_domain()).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mxg_err.h"
#include "scan_url.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define URL_CHUNK 4096
#define URL_HARD_MAX 4096

struct entry {
	struct scan_url_entry e;
	uint64_t hash;
	uint32_t off;      /* url \0 host \0 domain \0 in the pool */
	uint32_t ulen, hlen;
	uint32_t slot;     /* its place in the duplicate table */
};

struct scan_url {
	const struct mxg_mem *mem;
	struct scan_url_limits lim;
	struct entry *v;
	size_t n, cap;
	uint32_t dropped;
	char *pool;        /* strings of the entries */
	size_t npool, cappool;
	uint32_t *ht;      /* entry index + 1, 0 empty; power of two */
	size_t htcap;
	/* text window */
	uint8_t *win;
	size_t wcap, wn, carry;
	uint64_t base, done, lo, hi;
};

/* ---- character helpers ---- */

static inline bool is_alpha(uint8_t c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static inline bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_alnum(uint8_t c)
{
	return is_alpha(c) || is_digit(c);
}

static inline uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

static int hexval(uint8_t c)
{
	if (is_digit(c))
		return c - '0';
	c = lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool is_unreserved(uint8_t c)
{
	return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Ends a URL in text. */
static bool is_stop(uint8_t c)
{
	return c <= 0x20 || c == '"' || c == '<' || c == '>' || c == '`' || c == 0x7f;
}

/* Compares case-insensitively; '*' in |pat| matches '*' only. */
static bool ci_prefix(const uint8_t *p, size_t n, const char *pat)
{
	size_t k = strlen(pat);

	if (n < k)
		return false;
	for (size_t i = 0; i < k; i++)
		if (lower(p[i]) != (uint8_t)pat[i])
			return false;
	return true;
}

/* Defanged dot at |p|: "[.]", "(.)", "{.}", "[dot]", "(dot)", "{dot}";
 * returns its length or 0. */
static size_t defanged_dot(const uint8_t *p, size_t n)
{
	static const char *const f[] = { "[.]", "(.)", "{.}", "[dot]", "(dot)", "{dot}" };

	if (n == 0 || (p[0] != '[' && p[0] != '(' && p[0] != '{'))
		return 0;
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (ci_prefix(p, n, f[i]))
			return strlen(f[i]);
	return 0;
}

/* ---- punycode (RFC 3492 section 6.3), one label ---- */

static char pc_digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

static uint32_t pc_adapt(uint32_t delta, uint32_t np, bool first)
{
	uint32_t k = 0;

	delta = first ? delta / 700 : delta / 2;
	delta += delta / np;
	while (delta > ((36 - 1) * 26) / 2) {
		delta /= 36 - 1;
		k += 36;
	}
	return k + (36 * delta) / (delta + 38);
}

/* Encodes code points |cp| (|n|) as "xn--..." into |out|; returns length
 * or -1 when it does not fit. */
static int punycode(const uint32_t *cp, size_t n, char *out, size_t cap)
{
	uint32_t nn = 128, delta = 0, bias = 72, h, b = 0;
	size_t o = 4;

	if (cap < 5)
		return -1;
	memcpy(out, "xn--", 4);
	for (size_t i = 0; i < n; i++)
		if (cp[i] < 0x80) {
			if (o + 1 >= cap)
				return -1;
			out[o++] = (char)lower((uint8_t)cp[i]);
			b++;
		}
	h = b;
	if (b > 0) {
		if (o + 1 >= cap)
			return -1;
		out[o++] = '-';
	}
	while (h < n) {
		uint32_t m = UINT32_MAX;

		for (size_t i = 0; i < n; i++)
			if (cp[i] >= nn && cp[i] < m)
				m = cp[i];
		if ((uint64_t)(m - nn) * (h + 1) + delta > UINT32_MAX / 2)
			return -1;
		delta += (m - nn) * (h + 1);
		nn = m;
		for (size_t i = 0; i < n; i++) {
			if (cp[i] < nn)
				delta++;
			if (cp[i] == nn) {
				uint32_t q = delta;

				for (uint32_t k = 36;; k += 36) {
					uint32_t t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;

					if (q < t)
						break;
					if (o + 1 >= cap)
						return -1;
					out[o++] = pc_digit(t + (q - t) % (36 - t));
					q = (q - t) / (36 - t);
				}
				if (o + 1 >= cap)
					return -1;
				out[o++] = pc_digit(q);
				bias = pc_adapt(delta, h + 1, h == b);
				delta = 0;
				h++;
			}
		}
		delta++;
		nn++;
	}
	out[o] = '\0';
	return (int)o;
}

/* Decodes one UTF-8 sequence; returns its length, 0 when invalid. */
static size_t utf8_dec(const uint8_t *p, size_t n, uint32_t *cp)
{
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0 && n >= 2 && (p[1] & 0xc0) == 0x80) {
		*cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
		return *cp >= 0x80 ? 2 : 0;
	}
	if ((p[0] & 0xf0) == 0xe0 && n >= 3 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
		*cp = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
		return *cp >= 0x800 && (*cp < 0xd800 || *cp > 0xdfff) ? 3 : 0;
	}
	if ((p[0] & 0xf8) == 0xf0 && n >= 4 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 &&
	    (p[3] & 0xc0) == 0x80) {
		*cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
		      (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
		return *cp >= 0x10000 && *cp <= 0x10ffff ? 4 : 0;
	}
	return 0;
}

/* ---- host ---- */

/* WHATWG IPv4 number: 0x hex, leading 0 octal, else decimal. */
static bool ipv4_part(const char *s, size_t n, uint64_t *v)
{
	unsigned base = 10;

	*v = 0;
	if (n == 0)
		return false;
	if (n >= 2 && s[0] == '0' && (s[1] | 0x20) == 'x') {
		base = 16;
		s += 2;
		n -= 2;
	} else if (n >= 2 && s[0] == '0') {
		base = 8;
		s++;
		n--;
	}
	for (size_t i = 0; i < n; i++) {
		int d = hexval((uint8_t)s[i]);

		if (d < 0 || (unsigned)d >= base || *v > 0xffffffffull)
			return false;
		*v = *v * base + (unsigned)d;
	}
	return *v <= 0xffffffffull;
}

/* Host of the form "a.b.c.d", "0x7f.1", "3232235777"... into dotted quad.
 * Returns 1 when IPv4, 0 when not numeric, -1 when numeric but invalid. */
static int ipv4_norm(char *h, size_t cap)
{
	uint64_t part[4], v;
	size_t np = 0, n = strlen(h);
	const char *s = h, *last;
	uint64_t addr;

	if (n == 0)
		return 0;
	last = strrchr(h, '.');
	last = last ? last + 1 : h;
	/* numeric last label decides (WHATWG "ends in a number") */
	if (!(ipv4_part(last, strlen(last), &v) ||
	      (last[0] == '0' && (last[1] | 0x20) == 'x' && last[2] == '\0')))
		return 0;
	while (*s != '\0') {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);

		if (np == 4 || !ipv4_part(s, l, &part[np]))
			return -1;
		np++;
		if (dot == NULL)
			break;
		s = dot + 1;
	}
	for (size_t i = 0; i + 1 < np; i++)
		if (part[i] > 255)
			return -1;
	if (part[np - 1] >= (1ull << (8 * (5 - np))))
		return -1;
	addr = part[np - 1];
	for (size_t i = 0; i + 1 < np; i++)
		addr |= part[i] << (8 * (3 - i));
	snprintf(h, cap, "%u.%u.%u.%u", (unsigned)(addr >> 24) & 255, (unsigned)(addr >> 16) & 255,
		 (unsigned)(addr >> 8) & 255, (unsigned)addr & 255);
	return 1;
}

/* Bytes of a host that need no rewriting: lowercase letters, digits,
 * '-', '_' (a '.' is checked apart: no empty label, none at the end). */
static const uint8_t host_plain[256] = {
	['-'] = 1, ['_'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
	['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static int host_norm_slow(const uint8_t *p, size_t n, char *out, size_t cap, uint32_t *flags);

/* Normalises host [p, p+n) into |out|; returns its length or -1. The
 * common host (lowercase labels, not numeric) is copied once; anything
 * else takes the full path (percent-decoding, ideographic dots, case,
 * punycode, IPv4 forms). */
static int host_norm(const uint8_t *p, size_t n, char *out, size_t cap, uint32_t *flags)
{
	size_t i, last = 0;

	if (n == 0 || n > 253 || n + 1 >= cap)
		return host_norm_slow(p, n, out, cap, flags);
	for (i = 0; i < n; i++) {
		if (host_plain[p[i]])
			continue;
		if (p[i] != '.' || i == last)
			break; /* other byte, or an empty label */
		last = i + 1;
	}
	/* A numeric last label may make it an IPv4 address: full path. */
	if (i < n || last == n || is_digit(p[last]))
		return host_norm_slow(p, n, out, cap, flags);
	memcpy(out, p, n);
	out[n] = '\0';
	return (int)n;
}

static int host_norm_slow(const uint8_t *p, size_t n, char *out, size_t cap, uint32_t *flags)
{
	uint8_t h[512];
	size_t hn = 0, o = 0;
	char orig[512];

	if (n == 0 || n >= sizeof(h))
		return -1;
	/* percent-decode, map ideographic full stops, lowercase */
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (c == '%' && i + 2 < n + 0 && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
			c = (uint8_t)(hexval(p[i + 1]) << 4 | hexval(p[i + 2]));
			i += 2;
			*flags |= SCAN_URLF_PCT_HOST;
		} else if (n - i >= 3 && ((c == 0xe3 && p[i + 1] == 0x80 && p[i + 2] == 0x82) ||
					  (c == 0xef && p[i + 1] == 0xbc && p[i + 2] == 0x8e) ||
					  (c == 0xef && p[i + 1] == 0xbd && p[i + 2] == 0xa1))) {
			c = '.';
			i += 2;
		}
		h[hn++] = lower(c);
	}
	while (hn > 0 && h[hn - 1] == '.')
		hn--;
	if (hn == 0)
		return -1;
	for (size_t i = 0; i < hn; i++) {
		uint8_t c = h[i];

		if (c < 0x80 && !is_alnum(c) && c != '-' && c != '.' && c != '_')
			return -1;
	}
	/* label by label: ASCII copied, others punycoded */
	for (size_t i = 0; i < hn;) {
		size_t j = i;
		bool ascii = true;

		while (j < hn && h[j] != '.') {
			ascii = ascii && h[j] < 0x80;
			j++;
		}
		if (j == i)
			return -1; /* empty label */
		if (ascii) {
			if (o + (j - i) + 1 >= cap)
				return -1;
			memcpy(out + o, h + i, j - i);
			o += j - i;
		} else {
			uint32_t cp[256];
			size_t ncp = 0;
			int r;

			for (size_t k = i; k < j;) {
				size_t l = utf8_dec(h + k, j - k, &cp[ncp]);

				if (l == 0 || ncp + 1 >= sizeof(cp) / sizeof(cp[0]))
					return -1;
				ncp++;
				k += l;
			}
			r = punycode(cp, ncp, out + o, cap - o);
			if (r < 0)
				return -1;
			o += (size_t)r;
			*flags |= SCAN_URLF_IDN;
		}
		if (j < hn) {
			if (o + 2 >= cap)
				return -1;
			out[o++] = '.';
		}
		i = j + 1;
	}
	out[o] = '\0';
	/* A DNS name has at most 253 bytes; a longer one (punycode grows a
	 * label) would not be read back by this function: no host. */
	if (o > 253 && !strchr(out, ':'))
		return -1;
	{
		size_t ol = strnlen(out, sizeof(orig) - 1);

		memcpy(orig, out, ol);
		orig[ol] = '\0';
	}
	switch (ipv4_norm(out, cap)) {
	case -1:
		return -1;
	case 1:
		*flags |= SCAN_URLF_IP;
		if (strcmp(orig, out) != 0)
			*flags |= SCAN_URLF_NUMERIC_IP;
		return (int)strlen(out);
	}
	return (int)o;
}

/* ---- path ---- */

/* Bytes pct_norm() does not copy as they are: '%' (an escape, or
 * encoded), '\\' and the bytes it encodes (controls, space, non-ASCII,
 * '"' '<' '>' '`' '{' '}' '|' '^'). */
static const uint8_t pct_special[256] = {
	[0x00 ... 0x20] = 1, [0x7f ... 0xff] = 1,
	['"'] = 1, ['<'] = 1, ['>'] = 1, ['%'] = 1, ['`'] = 1, ['{'] = 1, ['}'] = 1,
	['|'] = 1, ['^'] = 1, ['\\'] = 1,
};

/* Appends [p, p+n) percent-normalised to |o|; '\\' as '/' when |path|. */
static bool pct_norm(const uint8_t *p, size_t n, bool path, char *out, size_t cap, size_t *o)
{
	static const char hx[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (*o + 4 >= cap)
			return false;
		if (!pct_special[c]) {
			out[(*o)++] = (char)c; /* most bytes */
			continue;
		}
		if (c == '%' && i + 2 < n + 0 && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
			uint8_t d = (uint8_t)(hexval(p[i + 1]) << 4 | hexval(p[i + 2]));

			if (is_unreserved(d)) {
				out[(*o)++] = (char)d;
			} else {
				out[(*o)++] = '%';
				out[(*o)++] = hx[d >> 4];
				out[(*o)++] = hx[d & 15];
			}
			i += 2;
		} else if (c == '\\' && path) {
			out[(*o)++] = '/';
		} else if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '%' ||
			   c == '`' || c == '{' || c == '}' || c == '|' || c == '^' || c == '\\') {
			out[(*o)++] = '%';
			out[(*o)++] = hx[c >> 4];
			out[(*o)++] = hx[c & 15];
		} else {
			out[(*o)++] = (char)c;
		}
	}
	return true;
}

/* RFC 3986 5.2.4 on the NUL-terminated path |p| (starts with '/'), in place. */
static void remove_dots(char *p)
{
	char *in = p, *o = p;

	while (*in != '\0') {
		char *seg = in + 1;
		size_t l = strcspn(seg, "/");

		if ((l == 1 && seg[0] == '.') || (l == 2 && seg[0] == '.' && seg[1] == '.')) {
			if (l == 2)
				while (o > p && *--o != '/')
					;
			in = seg + l;
			if (*in == '\0')
				*o++ = '/';
			continue;
		}
		memmove(o, in, l + 1);
		o += l + 1;
		in = seg + l;
	}
	*o = '\0';
	if (o == p) {
		p[0] = '/';
		p[1] = '\0';
	}
}

/* ---- normalisation ---- */

/* Bytes a defanged form starts with, and the controls that are dropped:
 * an input without any of them is read in place, not copied. */
static const uint8_t defang_start[256] = {
	[' '] = 1, ['['] = 1, ['('] = 1, ['{'] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1,
};

/* Output room normalize() needs: the longest prefix (scheme, "://",
 * bracketed host of at most 600 bytes, port) plus the longest path and
 * query pct_norm() accepts. */
#define NORM_CAP (URL_HARD_MAX * 3 + 700)

struct norm {
	size_t hoff, hlen; /* the host in the output (IPv6 without brackets) */
	unsigned port;     /* explicit non-default port, else 0 */
};

/* scan_url_normalize() into |out| of at least NORM_CAP bytes, with the
 * host's place and the port in |nr|. Returns the length, -1 or -2. */
static int normalize(const char *in, size_t n, char *out, uint32_t *flagsp, struct norm *nr)
{
	uint8_t tb[URL_HARD_MAX + 16];
	const uint8_t *t;
	char host[600];
	size_t tn = 0, i, a, ae, hs, he, o = 0, po, pfx;
	uint32_t flags = 0;
	const char *scheme;
	unsigned dport, port = 0;
	bool in_path = false; /* past the authority: defanged forms are data */
	bool v6 = false;
	int hl;

	if (n > URL_HARD_MAX) {
		n = URL_HARD_MAX;
		flags |= SCAN_URLF_TRUNCATED;
	}
	/* trim, drop tab/CR/LF, undo defanging */
	while (n > 0 && (uint8_t)in[0] <= 0x20)
		in++, n--;
	while (n > 0 && (uint8_t)in[n - 1] <= 0x20)
		n--;
	for (i = 0; i < n && !defang_start[(uint8_t)in[i]]; i++)
		;
	if (i == n) {
		/* nothing to undo (most URLs): read in place */
		t = (const uint8_t *)in;
		tn = n;
	} else {
		t = tb;
	}
	for (i = t == tb ? 0 : n; i < n;) {
		const uint8_t *p = (const uint8_t *)in + i;
		size_t l, sp = 0;

		if (*p == '\t' || *p == '\r' || *p == '\n') {
			i++;
			continue;
		}
		if (in_path || (*p != ' ' && *p != '[' && *p != '(' && *p != '{')) {
			/* every defanged form starts with one of these, and
			 * defanging is undone before the path only: "(.)" in a
			 * path is data (and undoing it there made the result
			 * change when normalised again: "((.))") */
			if ((*p == '/' && !(tn >= 1 && tb[tn - 1] == ':') &&
			     !(tn >= 2 && tb[tn - 1] == '/' && tb[tn - 2] == ':')) ||
			    *p == '?' || *p == '#')
				in_path = true;
			tb[tn++] = *p;
			i++;
			continue;
		}
		while (i + sp < n && p[sp] == ' ')
			sp++;
		if ((l = defanged_dot(p + sp, n - i - sp)) > 0) {
			size_t sp2 = 0;

			while (i + sp + l + sp2 < n && p[sp + l + sp2] == ' ')
				sp2++;
			tb[tn++] = '.';
			i += sp + l + sp2;
			flags |= SCAN_URLF_DEFANGED;
			continue;
		}
		if (ci_prefix(p, n - i, "[://]")) {
			memcpy(tb + tn, "://", 3);
			tn += 3;
			i += 5;
			flags |= SCAN_URLF_DEFANGED;
			continue;
		}
		if (ci_prefix(p, n - i, "[:]")) {
			tb[tn++] = ':';
			i += 3;
			flags |= SCAN_URLF_DEFANGED;
			continue;
		}
		if (ci_prefix(p, n - i, "[/]")) {
			tb[tn++] = '/';
			i += 3;
			flags |= SCAN_URLF_DEFANGED;
			continue;
		}
		tb[tn++] = *p;
		i++;
	}
	/* scheme */
	if (ci_prefix(t, tn, "https:") || ci_prefix(t, tn, "hxxps:") || ci_prefix(t, tn, "h**ps:") ||
	    ci_prefix(t, tn, "httpx:")) {
		scheme = "https";
		dport = 443;
		i = 6;
	} else if (ci_prefix(t, tn, "http:") || ci_prefix(t, tn, "hxxp:") || ci_prefix(t, tn, "h**p:") ||
		   ci_prefix(t, tn, "hxtp:") || ci_prefix(t, tn, "htxp:")) {
		scheme = "http";
		dport = 80;
		i = 5;
	} else if (ci_prefix(t, tn, "ftp:") || ci_prefix(t, tn, "fxp:")) {
		scheme = "ftp";
		dport = 21;
		i = 4;
	} else if (ci_prefix(t, tn, "www.")) {
		scheme = "http";
		dport = 80;
		i = 0;
		flags |= SCAN_URLF_NO_SCHEME;
	} else {
		return -1;
	}
	if (i > 0 && !ci_prefix(t, tn, scheme))
		flags |= SCAN_URLF_DEFANGED;
	if (i > 0 && (i >= tn || (t[i] != '/' && t[i] != '\\')))
		return -1; /* "http:foo" is relative */
	while (i < tn && (t[i] == '/' || t[i] == '\\'))
		i++;
	/* authority */
	a = i;
	while (i < tn && t[i] != '/' && t[i] != '\\' && t[i] != '?' && t[i] != '#')
		i++;
	ae = i;
	hs = a;
	for (size_t k = a; k < ae; k++)
		if (t[k] == '@')
			hs = k + 1;
	if (hs != a)
		flags |= SCAN_URLF_USERINFO;
	he = ae;
	if (hs < ae && t[hs] == '[') {
		/* IPv6 literal: kept lowercase, brackets in the URL only */
		size_t k = hs + 1;

		while (k < ae && t[k] != ']')
			k++;
		if (k >= ae || k - hs - 1 >= sizeof(host) - 1 || k == hs + 1)
			return -1;
		for (size_t q = hs + 1; q < k; q++) {
			if (!(hexval(t[q]) >= 0 || t[q] == ':' || t[q] == '.'))
				return -1;
			host[q - hs - 1] = (char)lower(t[q]);
		}
		host[k - hs - 1] = '\0';
		/* Only a real IPv6 address, in its canonical text form: "[0]" is
		 * not one (it would come back as the IPv4 host 0.0.0.0). */
		{
			struct in6_addr a6;

			if (inet_pton(AF_INET6, host, &a6) != 1 ||
			    !inet_ntop(AF_INET6, &a6, host, sizeof(host)))
				return -1;
		}
		hl = (int)strlen(host);
		flags |= SCAN_URLF_IP;
		he = k + 1;
	} else {
		for (size_t k = ae; k > hs; k--)
			if (t[k - 1] == ':') {
				he = k - 1;
				break;
			}
		hl = host_norm(t + hs, he - hs, host, sizeof(host), &flags);
		if (hl < 0)
			return -1;
	}
	if (he < ae) {
		if (t[he] != ':')
			return -1;
		for (size_t k = he + 1; k < ae; k++) {
			if (!is_digit(t[k]) || port > 65535)
				return -1;
			port = port * 10 + (unsigned)(t[k] - '0');
		}
		if (port > 65535)
			return -1;
		if (he + 1 == ae)
			port = 0; /* "host:" */
	}
	if (port == dport)
		port = 0;
	if (port != 0)
		flags |= SCAN_URLF_PORT;
	/* scheme "://" ["[" host "]" | host] [":" port], by hand (snprintf was
	 * a tenth of the URL cost), then path and query straight behind it */
	{
		size_t sl = strlen(scheme);

		v6 = (flags & SCAN_URLF_IP) && memchr(host, ':', (size_t)hl) != NULL;
		memcpy(out, scheme, sl);
		memcpy(out + sl, "://", 3);
		o = sl + 3;
		if (v6)
			out[o++] = '[';
		nr->hoff = o;
		nr->hlen = (size_t)hl;
		memcpy(out + o, host, (size_t)hl);
		o += (size_t)hl;
		if (v6)
			out[o++] = ']';
		if (port != 0) {
			unsigned v = port;
			char r[8];
			size_t k = 0;

			do {
				r[k++] = (char)('0' + v % 10);
				v /= 10;
			} while (v);
			out[o++] = ':';
			while (k)
				out[o++] = r[--k];
		}
		nr->port = port;
	}
	/* path and query; fragment dropped. |pfx|: where the path starts;
	 * the path and query get the room of the former path buffer. */
	pfx = o;
	{
		size_t ps = ae, pe, qs, qe, lim = pfx + URL_HARD_MAX * 3 + 7;

		pe = ps;
		while (pe < tn && t[pe] != '?' && t[pe] != '#')
			pe++;
		po = pfx;
		out[po++] = '/';
		if (pe > ps && (t[ps] == '/' || t[ps] == '\\'))
			ps++;
		if (!pct_norm(t + ps, pe - ps, true, out, lim, &po))
			return -2;
		out[po] = '\0';
		/* dot segments need a "/." */
		if (memmem(out + pfx, po - pfx, "/.", 2)) {
			remove_dots(out + pfx);
			po = pfx + strlen(out + pfx);
		}
		qs = pe;
		qe = qs;
		while (qe < tn && t[qe] != '#')
			qe++;
		if (qe > qs && !pct_norm(t + qs, qe - qs, false, out, lim, &po))
			return -2;
		out[po] = '\0';
	}
	o = po;
	if (o > URL_HARD_MAX) {
		/* Percent-encoding can grow a URL past the input limit: the
		 * normal form is cut there too (never inside a %XX), so
		 * normalising it again gives the same URL. */
		size_t cut = o - URL_HARD_MAX, pathl = po - pfx;

		if (cut >= pathl)
			return -1;
		pathl -= cut;
		while (pathl > 0 && (out[pfx + pathl - 1] == '%' ||
				     (pathl > 1 && out[pfx + pathl - 2] == '%')))
			pathl--;
		o = pfx + pathl;
		out[o] = '\0';
		flags |= SCAN_URLF_TRUNCATED;
	}
	*flagsp = flags;
	return (int)o;
}

int scan_url_normalize(const char *in, size_t n, char *out, size_t cap, uint32_t *flagsp)
{
	char buf[NORM_CAP];
	struct norm nr;
	uint32_t flags = 0;
	int r;

	if (cap >= NORM_CAP) {
		r = normalize(in, n, out, &flags, &nr);
	} else {
		r = normalize(in, n, buf, &flags, &nr);
		if (r >= 0 && (size_t)r >= cap)
			return -2;
		if (r >= 0)
			memcpy(out, buf, (size_t)r + 1);
	}
	if (r >= 0 && flagsp != NULL)
		*flagsp = flags;
	return r;
}

size_t scan_url_domain(const char *host, char *out, size_t cap)
{
	static const char *const sld[] = {
		"co", "com", "net", "org", "gov", "edu", "ac", "ne", "or", "go", "gv", "mil",
		"nic", "ltd", "plc", "sch", "gob", "gouv", "nom", "lg", "ed", "gr", "info", "biz",
	};
	const char *p[3] = { NULL, NULL, NULL }; /* starts of the last three labels */
	size_t n = strlen(host);
	const char *d = host;
	bool ip = true;

	for (size_t i = 0; i < n; i++)
		if (!is_digit((uint8_t)host[i]) && host[i] != '.')
			ip = false;
	if (!ip && strchr(host, ':') == NULL) {
		int labels = 1;

		p[0] = host;
		for (const char *s = host; *s; s++)
			if (*s == '.') {
				p[2] = p[1];
				p[1] = p[0];
				p[0] = s + 1;
				labels++;
			}
		/* p[0] tld, p[1] sld.tld, p[2] third.sld.tld */
		if (labels >= 2) {
			size_t tl = strlen(p[0]);
			size_t sl = (size_t)(p[0] - 1 - p[1]);

			d = p[1];
			if (tl == 2 && labels >= 3 && p[2] != NULL)
				for (size_t i = 0; i < sizeof(sld) / sizeof(sld[0]); i++)
					if (strlen(sld[i]) == sl && strncmp(p[1], sld[i], sl) == 0)
						d = p[2];
			if (labels >= 3 && p[2] == NULL)
				d = host;
		}
	}
	{
		size_t dl = strlen(d);

		if (cap == 0)
			return dl;
		memcpy(out, d, dl < cap ? dl : cap - 1);
		out[dl < cap ? dl : cap - 1] = '\0';
		return dl;
	}
}

/* ---- the set ---- */

static uint64_t fnv(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	while (n--)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h;
}

/* Points the entries at the pool (after it moved). */
static void rebase(struct scan_url *u)
{
	for (size_t i = 0; i < u->n; i++) {
		struct entry *e = &u->v[i];

		e->e.url = u->pool + e->off;
		e->e.host = e->e.url + e->ulen + 1;
		e->e.domain = e->e.host + e->hlen + 1;
	}
}

/* Doubles the duplicate table (rehashing the entries). */
static int ht_grow(struct scan_url *u)
{
	size_t cap = u->htcap ? u->htcap * 2 : 64, mask = cap - 1;
	uint32_t *t = mxg_calloc(u->mem, cap, sizeof(*t));

	if (t == NULL)
		return MXG_E_NOMEM;
	for (size_t i = 0; i < u->n; i++) {
		size_t k = u->v[i].hash & mask;

		while (t[k])
			k = (k + 1) & mask;
		t[k] = (uint32_t)i + 1;
		u->v[i].slot = (uint32_t)k;
	}
	mxg_free(u->mem, u->ht);
	u->ht = t;
	u->htcap = cap;
	return 0;
}

static int add_norm(struct scan_url *u, const char *url, size_t ul, const struct norm *nr,
		    uint32_t flags)
{
	uint64_t h = fnv(url, ul);
	size_t mask, k, need, dl, hl = nr->hlen;
	struct entry *e;
	char *w;

	if (u->htcap) {
		mask = u->htcap - 1;
		for (k = h & mask; u->ht[k]; k = (k + 1) & mask) {
			e = &u->v[u->ht[k] - 1];
			if (e->hash == h && e->ulen == ul && memcmp(e->e.url, url, ul) == 0) {
				e->e.count++;
				e->e.flags |= flags;
				return 0;
			}
		}
	}
	if (u->n >= u->lim.max_urls) {
		u->dropped++;
		return 0;
	}
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 16;

		e = mxg_realloc(u->mem, u->v, cap * sizeof(*e));
		if (e == NULL)
			return MXG_E_NOMEM;
		u->v = e;
		u->cap = cap;
	}
	if ((u->n + 1) * 2 > u->htcap && ht_grow(u) < 0)
		return MXG_E_NOMEM;
	/* url, host and domain (a suffix of the host: at most as long) */
	need = ul + 2 * hl + 3;
	if (u->npool + need > u->cappool) {
		size_t cap = u->cappool ? u->cappool : 4096;
		char *np;

		while (cap < u->npool + need)
			cap *= 2;
		np = mxg_realloc(u->mem, u->pool, cap);
		if (np == NULL)
			return MXG_E_NOMEM;
		u->pool = np;
		u->cappool = cap;
		rebase(u);
	}
	w = u->pool + u->npool;
	memcpy(w, url, ul);
	w[ul] = '\0';
	memcpy(w + ul + 1, url + nr->hoff, hl);
	w[ul + 1 + hl] = '\0';
	dl = scan_url_domain(w + ul + 1, w + ul + hl + 2, hl + 1);
	e = &u->v[u->n];
	e->hash = h;
	e->off = (uint32_t)u->npool;
	e->ulen = (uint32_t)ul;
	e->hlen = (uint32_t)hl;
	e->e = (struct scan_url_entry){
		.url = w, .host = w + ul + 1, .domain = w + ul + hl + 2,
		.port = (uint16_t)nr->port, .flags = flags, .count = 1,
	};
	u->npool += ul + hl + (dl < hl ? dl : hl) + 3;
	mask = u->htcap - 1;
	for (k = h & mask; u->ht[k]; k = (k + 1) & mask)
		;
	e->slot = (uint32_t)k;
	u->ht[k] = (uint32_t)++u->n;
	return 1;
}

int scan_url_add(struct scan_url *u, const char *url, size_t n, uint32_t flags)
{
	char out[NORM_CAP];
	struct norm nr;
	uint32_t f = 0;
	int r;

	if (n > u->lim.max_len) {
		n = u->lim.max_len;
		flags |= SCAN_URLF_TRUNCATED;
	}
	r = normalize(url, n, out, &f, &nr);
	if (r < 0)
		return 0;
	return add_norm(u, out, (size_t)r, &nr, f | flags);
}

struct scan_url *scan_url_new(const struct mxg_mem *mem, const struct scan_url_limits *limits)
{
	struct scan_url *u;

	if (mem == NULL)
		mem = mxg_mem_default();
	u = mxg_calloc(mem, 1, sizeof(*u));
	if (u == NULL)
		return NULL;
	u->mem = mem;
	u->lim.max_urls = 512;
	u->lim.max_len = 2048;
	if (limits != NULL)
		u->lim = *limits;
	if (u->lim.max_len == 0 || u->lim.max_len > URL_HARD_MAX)
		u->lim.max_len = URL_HARD_MAX;
	u->carry = 2 * (size_t)u->lim.max_len + 64;
	u->wcap = 1 + u->carry + URL_CHUNK;
	u->win = mxg_malloc(mem, u->wcap);
	if (u->win == NULL) {
		mxg_free(mem, u);
		return NULL;
	}
	scan_url_reset(u);
	return u;
}

void scan_url_free(struct scan_url *u)
{
	if (u == NULL)
		return;
	mxg_free(u->mem, u->pool);
	mxg_free(u->mem, u->ht);
	mxg_free(u->mem, u->v);
	mxg_free(u->mem, u->win);
	mxg_free(u->mem, u);
}

void scan_url_reset(struct scan_url *u)
{
	for (size_t i = 0; i < u->n; i++)
		u->ht[u->v[i].slot] = 0;
	u->n = 0;
	u->npool = 0;
	u->dropped = 0;
	u->win[0] = 0;
	u->wn = 1;
	u->base = u->done = 0;
}

size_t scan_url_count(const struct scan_url *u)
{
	return u->n;
}

const struct scan_url_entry *scan_url_get(const struct scan_url *u, size_t i)
{
	return i < u->n ? &u->v[i].e : NULL;
}

uint32_t scan_url_dropped(const struct scan_url *u)
{
	return u->dropped;
}

/* ---- text extraction ---- */

/* Length of a scheme start at |p| ("http://", "hxxps[:]//", "www."), 0 if none. */
static size_t scheme_at(const uint8_t *p, size_t n)
{
	static const struct {
		const char *s;
		uint8_t len;
	} sch[] = { { "https", 5 }, { "http", 4 }, { "hxxps", 5 }, { "hxxp", 4 },
		    { "h**ps", 5 }, { "h**p", 4 }, { "ftp", 3 }, { "fxp", 3 } },
	  sep[] = { { "://", 3 }, { "[:]//", 5 }, { "[://]", 5 }, { ":\\\\", 3 } };
	uint8_t c0 = n ? (uint8_t)(p[0] | 0x20) : 0;

	/* Every form starts with h, f or w: most word starts end here. */
	if (c0 != 'h' && c0 != 'f' && c0 != 'w')
		return 0;
	for (size_t i = 0; i < sizeof(sch) / sizeof(sch[0]); i++) {
		size_t l = sch[i].len;

		if ((uint8_t)sch[i].s[0] != c0 || !ci_prefix(p, n, sch[i].s))
			continue;
		for (size_t k = 0; k < sizeof(sep) / sizeof(sep[0]); k++)
			if (ci_prefix(p + l, n - l, sep[k].s))
				return l + sep[k].len;
	}
	if (ci_prefix(p, n, "www.") && n > 4 && is_alnum(p[4]))
		return 4;
	if (ci_prefix(p, n, "www[.]") || ci_prefix(p, n, "www(.)"))
		return 6;
	return 0;
}

/* Finds the end of a URL starting at |s| (scheme length |sl|). */
static size_t url_end(const uint8_t *w, size_t n, size_t s, size_t sl, size_t maxlen)
{
	size_t e = s + sl, lim = s + maxlen < n ? s + maxlen : n;
	int par = 0, brk = 0, brc = 0;

	while (e < lim) {
		uint8_t c = w[e];

		if (c == ' ') {
			/* "example [.] com" */
			size_t k = e;

			while (k < lim && w[k] == ' ')
				k++;
			if (k < lim && defanged_dot(w + k, lim - k) > 0) {
				size_t l = defanged_dot(w + k, lim - k);

				k += l;
				while (k < lim && w[k] == ' ')
					k++;
				if (k < lim && is_alnum(w[k])) {
					e = k;
					continue;
				}
			}
			break;
		}
		if (is_stop(c))
			break;
		par += c == '(' ? 1 : c == ')' ? -1 : 0;
		brk += c == '[' ? 1 : c == ']' ? -1 : 0;
		brc += c == '{' ? 1 : c == '}' ? -1 : 0;
		e++;
	}
	/* trailing punctuation and unbalanced closers */
	while (e > s + sl) {
		uint8_t c = w[e - 1];

		if (strchr(".,;:!?'*", c) != NULL) {
			e--;
		} else if (c == ')' && par < 0) {
			par++;
			e--;
		} else if (c == ']' && brk < 0) {
			brk++;
			e--;
		} else if (c == '}' && brc < 0) {
			brc++;
			e--;
		} else {
			break;
		}
	}
	return e;
}

/* True when one of the 8 bytes at |p| is ':', or two of them in a row are
 * 'w'/'W', or the last one is (its pair may be in the next word): every
 * URL form has a ':' right after its scheme (or after "[") or starts with
 * "www", and a lone 'w' is a common letter. SWAR zero-byte test (no false
 * negatives; a false positive only costs the byte-wise check). */
static inline bool anchor_word(const uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t a, b, mw;

	a = x ^ (ones * ':');
	b = (x | 0x2020202020202020ull) ^ (ones * 'w');
	mw = (b - ones) & ~b & highs;
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	return (((a - ones) & ~a & highs) | mw) != 0; /* the pair test assumes LE */
#endif
	return (((a - ones) & ~a & highs) | (mw & (mw >> 8)) | (mw & (1ull << 63))) != 0;
}

/* The offset from |j| of the first anchor (as anchor_word: ':', "ww",
 * or a 'w' in the last byte of a block) in w[j..n), 16 bytes at a time;
 * stops short of the last 15 bytes (the SWAR and byte-wise loops take
 * them). */
static inline size_t anchor_skip(const uint8_t *w, size_t j, size_t n)
{
#ifdef __SSE2__
	const __m128i colon = _mm_set1_epi8(':'), lw = _mm_set1_epi8('w'),
		      bit5 = _mm_set1_epi8(0x20);

	while (j + 16 <= n) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(w + j));
		unsigned c = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, colon));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(v, bit5), lw));

		m = c | (m & (m >> 1)) | (m & 0x8000u);
		if (m)
			return j + (size_t)__builtin_ctz(m);
		j += 16;
	}
#else
	(void)w;
	(void)n;
#endif
	return j;
}

static inline bool start_ok(uint8_t prev)
{
	return !(is_alnum(prev) || prev == '.' || prev == '/' || prev == '@');
}

/* Reports the URL starting at |i| (scheme length |sl|) when it ends in
 * this pass's range; returns its end. */
static size_t take_url(struct scan_url *u, size_t i, size_t sl, int *rc)
{
	const uint8_t *w = u->win;
	size_t n = u->wn, e = url_end(w, n, i, sl, u->lim.max_len);
	uint64_t aend = u->base + e - 1;

	if (aend > u->lo && aend <= u->hi && e > i + sl) {
		uint32_t f = SCAN_URLF_TEXT;

		if (e - i >= u->lim.max_len)
			f |= SCAN_URLF_TRUNCATED;
		*rc = scan_url_add(u, (const char *)w + i, e - i, f);
	}
	return e > i ? e : i + 1;
}

/* Finds URL starts from anchors (a ':' at 3 to 6 bytes after a scheme
 * start, or a 'w' starting "www"), left to right; a URL found moves the
 * scan past its end. Same URLs as trying scheme_at() at every word start,
 * at a fraction of the cost: anchors are rare in text. */
static int pass(struct scan_url *u, bool final)
{
	const uint8_t *w = u->win;
	size_t n = u->wn, next = 1;
	uint64_t end = u->base + (n - 1);
	size_t margin = u->lim.max_len + 32;
	int rc = 0;

	u->lo = u->done;
	u->hi = final ? end : (end > margin ? end - margin : 0);
	if (u->hi <= u->lo)
		return 0;
	for (size_t j = 1; j < n && rc >= 0;) {
		size_t sl, s;
		bool found = false;

		j = anchor_skip(w, j, n);
		while (j + 8 <= n) {
			uint64_t x;

			memcpy(&x, w + j, 8);
			if (anchor_word(x))
				break;
			j += 8;
		}
		if (j >= n)
			break;
		if (w[j] == ':') {
			for (s = j >= 6 ? j - 6 : 1; s < j && !found; s++) {
				if (s < next || s < 1 || !start_ok(w[s - 1]))
					continue;
				sl = scheme_at(w + s, n - s);
				if (sl && !ci_prefix(w + s, n - s, "www")) {
					next = j = take_url(u, s, sl, &rc);
					found = true;
				}
			}
		} else if ((w[j] | 0x20) == 'w' && j + 1 < n && (w[j + 1] | 0x20) == 'w' &&
			   j >= next && start_ok(w[j - 1]) && (sl = scheme_at(w + j, n - j)) > 0) {
			next = j = take_url(u, j, sl, &rc);
			found = true;
		}
		if (!found)
			j++;
	}
	if (rc < 0)
		return rc;
	u->done = u->hi;
	return 0;
}

int scan_url_feed(struct scan_url *u, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t room = u->wcap - u->wn;
		size_t k = n < room ? n : room;

		memcpy(u->win + u->wn, p, k);
		u->wn += k;
		p += k;
		n -= k;
		if (u->wn == u->wcap) {
			size_t drop = u->wn - 1 - u->carry;
			int rc = pass(u, false);

			if (rc < 0)
				return rc;
			u->win[0] = u->win[drop];
			memmove(u->win + 1, u->win + 1 + drop, u->carry);
			u->wn = 1 + u->carry;
			u->base += drop;
		}
	}
	return 0;
}

int scan_url_feed_end(struct scan_url *u)
{
	int rc = pass(u, true);

	u->base += u->wn - 1;
	u->done = u->base;
	u->win[0] = 0;
	u->wn = 1;
	return rc;
}
