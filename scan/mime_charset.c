/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mime_charset.c - declared charset to UTF-8 for text rules (RFC 2045 5.1,
 * RFC 2046 4.1.2, RFC 2047 charsets), streaming, with glibc iconv.
 *
 * Decisions:
 *  - us-ascii, utf-8 and an absent charset are handled without iconv: valid
 *    UTF-8 passes through; a byte that is not part of valid UTF-8 is read as
 *    latin1 (so 8-bit text mislabelled as ASCII, which mail clients show with
 *    their fallback charset, still reaches the text rules) and counted.
 *  - Names are matched loosely (case, quotes, spaces) and a few aliases mail
 *    clients accept but glibc does not know are mapped: ks_c_5601-1987 to
 *    CP949, gb2312 to its superset GB18030, x-sjis to SHIFT_JIS, and so on.
 *  - A charset iconv does not know is read as ISO-8859-1 (every byte maps,
 *    nothing is lost) and flagged: the caller reports MIME_ANOM_CHARSET_UNKNOWN.
 *  - Invalid sequences become U+FFFD and are counted; an incomplete sequence
 *    at the end of a chunk is carried into the next call (at most 16 bytes),
 *    so a multibyte character split by the network decodes correctly.
 *  - The common single-byte charsets of mail (windows-1252 and what is read
 *    as it, iso-8859-15/-2/-5/-9, windows-1250/-1251/-1256/-1257, koi8-r)
 *    are converted by table (mime_charset_tables.h, identical to glibc's
 *    modules): iconv's per-call module dispatch cost more than the whole
 *    Hyperscan pass over the same text.
 *  - A converter is reusable: mime_utf8_reset() switches it to another
 *    charset, keeping the iconv descriptor when the charset is the same.
 *    mime_utf8_pass_prefix() lets a caller use valid UTF-8 in place, with
 *    no copy.
 *  - iconv allocates its own state with libc malloc (not struct mxg_mem);
 *    our struct itself comes from mxg_mem.
 */
#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include "mime_codec.h"
#include "mime_charset_tables.h"

#define CARRY_MAX 16

struct mime_utf8 {
	const struct mxg_mem *mem;
	iconv_t cd;              /* (iconv_t)-1 in passthrough and table mode */
	bool passthrough;        /* UTF-8/ASCII validated by hand */
	const uint16_t *sb;      /* single-byte table (0x80-0xff), or NULL */
	char name[64];           /* normalised charset name of |cd| */
	uint8_t carry[CARRY_MAX];
	size_t ncarry;
	uint32_t errors;
};

static const struct {
	const char *alias;
	const char *name;
} cs_alias[] = {
	{ "ks_c_5601-1987", "CP949" },
	{ "ks_c_5601", "CP949" },
	{ "ksc5601", "CP949" },
	{ "gb2312", "GB18030" },
	{ "gbk", "GB18030" },
	{ "x-gbk", "GB18030" },
	{ "x-sjis", "SHIFT_JIS" },
	{ "shift-jis", "SHIFT_JIS" },
	{ "x-euc-jp", "EUC-JP" },
	{ "unicode-1-1-utf-7", "UTF-7" },
	{ "x-user-defined", "ISO-8859-1" },
	{ "ansi_x3.4-1968", "US-ASCII" },
	{ "iso-8859-8-i", "ISO-8859-8" },
	{ "x-mac-roman", "MACINTOSH" },
	{ "macintosh", "MACINTOSH" },
	{ "windows-874", "CP874" },
};

/* Copies |cs| lowercased without quotes/spaces into |buf|. */
static void cs_norm(const char *cs, char *buf, size_t cap)
{
	size_t k = 0;

	for (; cs && *cs && k + 1 < cap; cs++) {
		char c = *cs;

		if (c == '"' || c == '\'' || c == ' ' || c == '\t')
			continue;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		buf[k++] = c;
	}
	buf[k] = '\0';
}

static bool cs_is_utf8(const char *n)
{
	return n[0] == '\0' || !strcmp(n, "utf-8") || !strcmp(n, "utf8") ||
	       !strcmp(n, "us-ascii") || !strcmp(n, "ascii") || !strcmp(n, "us_ascii") ||
	       !strcmp(n, "ansi_x3.4-1968");
}

/* The table of single-byte charset |n| (normalised), or NULL. */
static const uint16_t *sb_find(const char *n)
{
	for (size_t i = 0; i < sizeof(sb_charsets) / sizeof(sb_charsets[0]); i++)
		if (!strcmp(n, sb_charsets[i].name))
			return sb_charsets[i].map;
	return NULL;
}

/* Opens iconv for |cs|; falls back to ISO-8859-1 and sets *unknown. */
static iconv_t cs_open(const char *n, bool *unknown)
{
	iconv_t cd;
	const char *name = n;

	for (size_t i = 0; i < sizeof(cs_alias) / sizeof(cs_alias[0]); i++)
		if (!strcmp(n, cs_alias[i].alias))
			name = cs_alias[i].name;
	/* iso-8859-1 as mail clients read it: windows-1252 superset. */
	if (!strcmp(n, "iso-8859-1") || !strcmp(n, "latin1"))
		name = "CP1252";
	cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1) {
		if (unknown)
			*unknown = true;
		cd = iconv_open("UTF-8", "ISO-8859-1");
	}
	return cd;
}

/* Length of the valid UTF-8 sequence at |s| (1..4), 0 when invalid, -1 when
 * it may be valid but is cut by the end of the buffer. */
static int utf8_seq(const uint8_t *s, size_t len)
{
	uint8_t c = s[0];
	int n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0) {
		n = 2;
		cp = c & 0x1f;
	} else if (c < 0xf0) {
		n = 3;
		cp = c & 0x0f;
	} else if (c < 0xf5) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((size_t)i >= len)
			return -1;
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
		/* Reject overlongs and surrogates as early as possible. */
		if (i == 1 && ((n == 3 && cp < 0x20) || (n == 4 && cp < 0x10) ||
			       (n == 3 && cp >= 0x360 && cp < 0x380) || (n == 4 && cp > 0x10f)))
			return 0;
	}
	return n;
}

bool mime_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		int n = utf8_seq(s + i, len - i);

		if (n <= 0)
			return false;
		i += (size_t)n;
	}
	return true;
}

/* (Re)initialises |u| for |charset|; keeps an open descriptor of the same
 * charset. */
static void utf8_init(struct mime_utf8 *u, const char *charset, bool *unknown)
{
	char n[64];

	u->ncarry = 0;
	u->errors = 0;
	u->passthrough = false;
	u->sb = NULL;
	cs_norm(charset, n, sizeof(n));
	if (u->cd != (iconv_t)-1) {
		if (!strcmp(n, u->name)) {
			iconv(u->cd, NULL, NULL, NULL, NULL); /* initial shift state */
			return;
		}
		iconv_close(u->cd);
		u->cd = (iconv_t)-1;
	}
	if (cs_is_utf8(n)) {
		u->passthrough = true;
		return;
	}
	u->sb = sb_find(n);
	if (u->sb)
		return;
	u->cd = cs_open(n, unknown);
	if (u->cd == (iconv_t)-1) {
		/* iconv itself failed (ENOMEM): degrade to passthrough. */
		u->passthrough = true;
		return;
	}
	memcpy(u->name, n, sizeof(u->name));
}

struct mime_utf8 *mime_utf8_new(const struct mxg_mem *mem, const char *charset, bool *unknown)
{
	struct mime_utf8 *u;

	if (!mem)
		mem = mxg_mem_default();
	u = mxg_calloc(mem, 1, sizeof(*u));
	if (!u)
		return NULL;
	u->mem = mem;
	u->cd = (iconv_t)-1;
	utf8_init(u, charset, unknown);
	return u;
}

void mime_utf8_reset(struct mime_utf8 *u, const char *charset, bool *unknown)
{
	utf8_init(u, charset, unknown);
}

void mime_utf8_free(struct mime_utf8 *u)
{
	if (!u)
		return;
	if (u->cd != (iconv_t)-1)
		iconv_close(u->cd);
	mxg_free(u->mem, u);
}

uint32_t mime_utf8_errors(const struct mime_utf8 *u)
{
	return u->errors;
}

static size_t put_fffd(uint8_t *out)
{
	out[0] = 0xef;
	out[1] = 0xbf;
	out[2] = 0xbd;
	return 3;
}

/* Length of the leading ASCII run of |in| (8 bytes at a time). */
static size_t ascii_run(const uint8_t *in, size_t len)
{
	size_t i = 0;

	while (i + 8 <= len) {
		uint64_t w;

		memcpy(&w, in + i, 8);
		if (w & 0x8080808080808080ull)
			break;
		i += 8;
	}
	while (i < len && in[i] < 0x80)
		i++;
	return i;
}

size_t mime_utf8_pass_prefix(const struct mime_utf8 *u, const uint8_t *in, size_t len)
{
	size_t i = 0;

	if (!u->passthrough || u->ncarry)
		return 0;
	for (;;) {
		int n;

		i += ascii_run(in + i, len - i);
		if (i >= len)
			return len;
		n = utf8_seq(in + i, len - i);
		if (n <= 0)
			return i; /* invalid or cut: the converter's job */
		i += (size_t)n;
	}
}

/* Single-byte table: ASCII as is, the upper half through |u->sb|. */
static size_t sb_conv(struct mime_utf8 *u, const uint8_t *in, size_t len, size_t *used,
		      uint8_t *out, size_t cap)
{
	size_t i = 0, o = 0;

	while (i < len) {
		size_t k = len - i < cap - o ? len - i : cap - o;
		size_t a = ascii_run(in + i, k);

		memcpy(out + o, in + i, a);
		o += a;
		i += a;
		if (i >= len || o + 3 > cap)
			break;
		if (in[i] < 0x80)
			continue;
		uint32_t cp = u->sb[in[i] - 0x80];

		if (cp == 0xfffd)
			u->errors++;
		if (cp < 0x800) {
			out[o++] = (uint8_t)(0xc0 | cp >> 6);
			out[o++] = (uint8_t)(0x80 | (cp & 0x3f));
		} else {
			out[o++] = (uint8_t)(0xe0 | cp >> 12);
			out[o++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
			out[o++] = (uint8_t)(0x80 | (cp & 0x3f));
		}
		i++;
	}
	*used = i;
	return o;
}

/* Passthrough: validates UTF-8, maps stray bytes as latin1. */
static size_t pass_conv(struct mime_utf8 *u, const uint8_t *in, size_t len, size_t *used,
			uint8_t *out, size_t cap)
{
	size_t i = 0, o = 0;

	while (i < len) {
		/* Fast ASCII run. */
		size_t j = i + ascii_run(in + i, len - i < cap - o ? len - i : cap - o);

		memcpy(out + o, in + i, j - i);
		o += j - i;
		i = j;
		if (i >= len || o + 4 > cap)
			break;
		if (in[i] < 0x80)
			continue;
		int n = utf8_seq(in + i, len - i);

		if (n < 0)
			break; /* incomplete: carried by the caller */
		if (n == 0) {
			u->errors++;
			out[o++] = (uint8_t)(0xc0 | in[i] >> 6);
			out[o++] = (uint8_t)(0x80 | (in[i] & 0x3f));
			i++;
			continue;
		}
		memcpy(out + o, in + i, (size_t)n);
		o += (size_t)n;
		i += (size_t)n;
	}
	*used = i;
	return o;
}

/* One conversion step on |in|; stops at an incomplete tail (EINVAL). */
static size_t conv_step(struct mime_utf8 *u, const uint8_t *in, size_t len, size_t *used,
			uint8_t *out, size_t cap, bool *incomplete)
{
	char *ip = (char *)(uintptr_t)in, *op = (char *)out;
	size_t il = len, ol = cap;

	*incomplete = false;
	if (u->sb)
		return sb_conv(u, in, len, used, out, cap);
	if (u->passthrough) {
		size_t o = pass_conv(u, in, len, used, out, cap);

		if (*used < len && o + 4 <= cap)
			*incomplete = true;
		return o;
	}
	while (il) {
		size_t r = iconv(u->cd, &ip, &il, &op, &ol);

		if (r != (size_t)-1)
			break;
		if (errno == E2BIG)
			break;
		if (errno == EINVAL) {
			*incomplete = true;
			break;
		}
		/* EILSEQ: replace one byte. */
		if (ol < 3)
			break;
		u->errors++;
		op += put_fffd((uint8_t *)op);
		ol -= 3;
		ip++;
		il--;
	}
	*used = len - il;
	return cap - ol;
}

size_t mime_utf8_conv(struct mime_utf8 *u, const uint8_t *in, size_t len, size_t *used,
		      uint8_t *out, size_t cap)
{
	size_t o = 0, u1;
	bool inc;

	*used = 0;
	if (u->ncarry) {
		/* Join the kept tail with the head of this chunk. */
		uint8_t tmp[CARRY_MAX * 2];
		size_t take = len < CARRY_MAX ? len : CARRY_MAX;
		size_t tl = u->ncarry + take;

		memcpy(tmp, u->carry, u->ncarry);
		memcpy(tmp + u->ncarry, in, take);
		o = conv_step(u, tmp, tl, &u1, out, cap, &inc);
		if (u1 < u->ncarry) {
			if (u1 == 0 && inc && tl < CARRY_MAX) {
				/* Still incomplete: keep everything. */
				memcpy(u->carry, tmp, tl);
				u->ncarry = tl;
				*used = take;
				return o;
			}
			if (u1 == 0 && o + 3 <= cap) {
				/* Cannot complete: give up on one byte. */
				u->errors++;
				o += put_fffd(out + o);
				u1 = 1;
			}
			memmove(u->carry, u->carry + u1, u->ncarry - u1);
			u->ncarry -= u1;
			return o;
		}
		*used = u1 - u->ncarry;
		u->ncarry = 0;
	}
	if (*used < len && o + 16 <= cap) {
		o += conv_step(u, in + *used, len - *used, &u1, out + o, cap - o, &inc);
		*used += u1;
		if (inc && len - *used < CARRY_MAX) {
			memcpy(u->carry, in + *used, len - *used);
			u->ncarry = len - *used;
			*used = len;
		} else if (inc && u1 == 0 && o + 3 <= cap) {
			u->errors++;
			o += put_fffd(out + o);
			*used += 1;
		}
	}
	return o;
}

size_t mime_utf8_finish(struct mime_utf8 *u, uint8_t *out)
{
	size_t o = 0;

	if (u->ncarry && u->passthrough) {
		/* Not UTF-8 after all: the bytes are latin1, as mid-stream. */
		u->errors++;
		for (size_t i = 0; i < u->ncarry; i++) {
			out[o++] = (uint8_t)(0xc0 | u->carry[i] >> 6);
			out[o++] = (uint8_t)(0x80 | (u->carry[i] & 0x3f));
		}
		u->ncarry = 0;
	} else if (u->ncarry) {
		u->errors++;
		o = put_fffd(out);
		u->ncarry = 0;
	}
	if (u->cd != (iconv_t)-1) {
		iconv(u->cd, NULL, NULL, NULL, NULL); /* reset shift state */
	}
	return o;
}

size_t mime_utf8_oneshot(const char *charset, const uint8_t *in, size_t len, char *out,
			 size_t cap, bool *unknown)
{
	struct mime_utf8 u = { .cd = (iconv_t)-1 };
	char n[64];
	size_t o = 0, used;
	uint8_t tmp[512];

	if (cap == 0)
		return 0;
	cs_norm(charset, n, sizeof(n));
	if (cs_is_utf8(n))
		u.passthrough = true;
	else if (!(u.sb = sb_find(n)))
		u.cd = cs_open(n, unknown);
	if (u.cd == (iconv_t)-1 && !u.sb)
		u.passthrough = true;
	while (len) {
		size_t w = mime_utf8_conv(&u, in, len, &used, tmp, sizeof(tmp));

		if (o + w >= cap) {
			/* Truncate at a character boundary. */
			size_t room = cap - 1 - o;

			while (room && (tmp[room] & 0xc0) == 0x80)
				room--;
			memcpy(out + o, tmp, room);
			o += room;
			goto done;
		}
		memcpy(out + o, tmp, w);
		o += w;
		if (used == 0 && w == 0)
			break;
		in += used;
		len -= used;
	}
	if (u.ncarry) {
		size_t w = mime_utf8_finish(&u, tmp);

		if (o + w < cap) {
			memcpy(out + o, tmp, w);
			o += w;
		}
	}
done:
	out[o] = '\0';
	if (u.cd != (iconv_t)-1)
		iconv_close(u.cd);
	return o;
}
