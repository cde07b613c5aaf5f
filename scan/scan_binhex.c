/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_binhex.c - BinHex 4.0 (RFC 1741, the Macintosh mail encoding): the
 * data fork and the resource fork become members.
 *
 * FORMAT
 *	"(This file must be converted with BinHex 4.0)", then the data between
 *	two ':' in a 64-character alphabet (whitespace ignored), 6 bits each.
 *	The bytes are run-length encoded: 0x90 n repeats the previous byte so
 *	that it appears n times in all, 0x90 0x00 is a literal 0x90. The
 *	decoded stream: name length (1..63), name, version byte, type (4),
 *	creator (4), flags (2), data fork length (32-bit BE), resource fork
 *	length, header CRC; data fork, its CRC; resource fork, its CRC. The
 *	CRCs are CRC-16/XMODEM (polynomial 0x1021, initial 0).
 *
 * SAFETY
 *	Each decoded byte is pulled from the text with bounds checks; a run
 *	gives at most 254 bytes per 3 characters, and the forks are delivered
 *	only up to their declared lengths through sa_data(), so the archive
 *	limits (member, total, ratio, work) bound the output. A CRC mismatch
 *	is reported but the bytes are scanned anyway (a damaged file may still
 *	be opened by some client). Errors (static text, the archive is then
 *	CORRUPT): "binhex: no data start", "binhex: invalid character",
 *	"binhex: run before any byte", "binhex: truncated header",
 *	"binhex: bad name length", "binhex: header CRC mismatch",
 *	"binhex: fork shorter than declared", "binhex: fork CRC mismatch".
 */
#include <stdio.h>
#include <string.h>

#include "scan_archive.h"
#include "scan_archive_int.h"

static const char bh_intro[] = "(This file must be converted with BinHex";
static const char bh_alpha[] =
	"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";

/* Skips leading whitespace (a mail body may start with blank lines). */
static size_t skip_ws(const uint8_t *p, size_t n, size_t i)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return i;
}

bool scan_binhex_sniff(const uint8_t *p, size_t n)
{
	size_t i = skip_ws(p, n, 0);

	return i <= 256 && n - i >= sizeof(bh_intro) - 1 &&
	       memcmp(p + i, bh_intro, sizeof(bh_intro) - 1) == 0;
}

struct bh {
	const uint8_t *p;
	size_t n, i;          /* input and position (after the opening ':') */
	uint32_t acc;         /* bits not yet returned */
	unsigned bits;
	bool end;             /* closing ':' or an error seen */
	int last;             /* previous decoded byte (-1: none) */
	unsigned rep;         /* repetitions of |last| still owed */
	uint16_t crc;
	struct sa_ctx *c;
	int8_t tab[256];      /* character -> 6-bit value; -1 invalid, -2 space */
};

/* Next byte of the 8-bit stream before run-length decoding, or -1. */
static int bh_raw(struct bh *s)
{
	while (s->bits < 8) {
		int v;

		if (s->end || s->i >= s->n) {
			s->end = true;
			return -1;
		}
		v = s->tab[s->p[s->i++]];
		if (v == -2)
			continue;
		if (v == -1) {
			if (s->p[s->i - 1] != ':')
				sa_error(s->c, "binhex: invalid character");
			s->end = true;
			return -1;
		}
		s->acc = (s->acc << 6 | (uint32_t)v) & 0xffffff;
		s->bits += 6;
	}
	s->bits -= 8;
	return (int)(s->acc >> s->bits & 0xff);
}

/* Next decoded byte (runs expanded), or -1 at the end. */
static int bh_byte(struct bh *s)
{
	int b, k;

	if (s->rep > 0) {
		s->rep--;
		return s->last;
	}
	b = bh_raw(s);
	if (b != 0x90) {
		if (b >= 0)
			s->last = b;
		return b;
	}
	k = bh_raw(s);
	if (k < 0)
		return -1;
	if (k == 0) {
		s->last = 0x90;
		return 0x90;
	}
	if (s->last < 0) {
		sa_error(s->c, "binhex: run before any byte");
		s->end = true;
		return -1;
	}
	/* the previous byte was already returned once */
	if (k == 1)
		return bh_byte(s);
	s->rep = (unsigned)k - 2;
	return s->last;
}

static void crc_add(uint16_t *crc, uint8_t b)
{
	*crc ^= (uint16_t)(b << 8);
	for (int k = 0; k < 8; k++)
		*crc = (*crc & 0x8000) ? (uint16_t)(*crc << 1 ^ 0x1021) : (uint16_t)(*crc << 1);
}

/* Reads |n| header bytes into |out|, CRC-ed. False at the end of data. */
static bool bh_read(struct bh *s, uint8_t *out, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		int b = bh_byte(s);

		if (b < 0)
			return false;
		out[k] = (uint8_t)b;
		crc_add(&s->crc, (uint8_t)b);
	}
	return true;
}

/* Checks the CRC that follows a block. Returns 1 good, 0 bad, -1 missing. */
static int bh_check_crc(struct bh *s)
{
	int hi = bh_byte(s), lo = hi < 0 ? -1 : bh_byte(s);

	if (lo < 0)
		return -1;
	return (uint16_t)(hi << 8 | lo) == s->crc;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Delivers one fork of |len| bytes as member |name|. */
static int bh_fork(struct bh *s, const char *name, uint32_t len)
{
	struct sa_ctx *c = s->c;
	uint32_t mflags = 0, got = 0;
	size_t cap, no = 0;
	uint8_t *out;
	bool want;
	int rc, ok;

	rc = sa_begin(c, name, len);
	if (rc < 0)
		return rc;
	want = rc == 0;
	rc = 0;
	out = sa_chunk(c, &cap);
	s->crc = 0;
	while (got < len) {
		int b = bh_byte(s);

		if (b < 0)
			break;
		crc_add(&s->crc, (uint8_t)b);
		got++;
		if (!want) {
			if (sa_stopped(c))
				break; /* a limit ended everything: no CRC either */
			continue;  /* skipped by the owner: read past it */
		}
		out[no++] = (uint8_t)b;
		if (no == cap) {
			rc = sa_data(c, out, no);
			no = 0;
			if (rc != 0) {
				want = false;
				if (rc < 0)
					break;
				rc = 0;
			}
		}
	}
	if (rc == 0 && want && no > 0) {
		rc = sa_data(c, out, no);
		if (rc > 0)
			rc = 0;
	}
	if (sa_stopped(c)) {
		/* cut by a limit: the verdict says so */
	} else if (got < len) {
		sa_error(c, "binhex: fork shorter than declared");
		mflags |= SCAN_AMF_CORRUPT;
	} else if (rc == 0 && !sa_stopped(c)) {
		ok = bh_check_crc(s);
		if (ok <= 0) {
			sa_error(c, ok < 0 ? "binhex: fork shorter than declared"
				    : "binhex: fork CRC mismatch");
			mflags |= SCAN_AMF_CORRUPT;
		}
	}
	return sa_end(c, mflags, rc);
}

int scan_binhex_expand(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	struct bh s;
	uint8_t nl, name[64], hdr[1 + 4 + 4 + 2 + 4 + 4];
	char mname[80];
	uint32_t dlen, rlen;
	size_t i;
	int rc, ok;

	memset(&s, 0, sizeof(s));
	s.p = p;
	s.n = n;
	s.c = c;
	s.last = -1;
	memset(s.tab, -1, sizeof(s.tab));
	for (i = 0; i < sizeof(bh_alpha) - 1; i++)
		s.tab[(uint8_t)bh_alpha[i]] = (int8_t)i;
	s.tab[' '] = s.tab['\t'] = s.tab['\r'] = s.tab['\n'] = -2;
	/* the data starts at the first ':' at the start of a line after the
	 * introduction line */
	i = skip_ws(p, n, 0) + sizeof(bh_intro) - 1;
	while (i < n && !(p[i] == ':' && (p[i - 1] == '\n' || p[i - 1] == '\r')))
		i++;
	if (i >= n) {
		sa_error(c, "binhex: no data start");
		return 0;
	}
	s.i = i + 1;
	if (!bh_read(&s, &nl, 1)) {
		sa_error(c, "binhex: truncated header");
		return 0;
	}
	if (nl < 1 || nl > 63) {
		sa_error(c, "binhex: bad name length");
		return 0;
	}
	if (!bh_read(&s, name, nl) || !bh_read(&s, hdr, sizeof(hdr))) {
		sa_error(c, "binhex: truncated header");
		return 0;
	}
	ok = bh_check_crc(&s);
	if (ok < 0) {
		sa_error(c, "binhex: truncated header");
		return 0;
	}
	if (ok == 0)
		sa_error(c, "binhex: header CRC mismatch"); /* go on: scan it */
	dlen = be32(hdr + 11);
	rlen = be32(hdr + 15);
	for (i = 0; i < nl && name[i] != 0; i++)
		mname[i] = (char)name[i];
	mname[i] = '\0';
	rc = bh_fork(&s, mname, dlen);
	if (rc < 0 || sa_stopped(c) || rlen == 0)
		return rc;
	snprintf(mname + strlen(mname), sizeof(mname) - strlen(mname), ".rsrc");
	return bh_fork(&s, mname, rlen);
}
