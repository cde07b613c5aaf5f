/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_sis.c - Symbian / EPOC installation files (.sis, the format before
 * Symbian OS 9.1): one member per file record with data, one per language
 * variant.
 *
 * FORMAT
 *	All integers little-endian. The header: UID 1 (the application), UID
 *	2 (0x1000006D: EPOC release 3 to 5; 0x10003A12: release 6), UID 3
 *	0x10000419 (the SIS signature), UID 4 (a checksum of the UIDs), a
 *	CRC-16 of the file, the numbers of languages (18), files (20) and
 *	requisites (22), ..., the options (36: 0x0001 names are UTF-16,
 *	0x0008 the files are NOT compressed, else each is zlib data with its
 *	header), ..., and pointers (file offsets) to the languages (48) and
 *	the file records (52). Release 3 headers are 68 bytes, release 6
 *	headers 100.
 *
 *	The file records follow each other; each opens with its type:
 *	  0 simple file: file type, details, source name length and pointer,
 *	    destination name length and pointer, data length and pointer
 *	    (release 6 adds the original length and a MIME type length and
 *	    pointer);
 *	  1 one file per language: as 0, with the data lengths, the data
 *	    pointers (and in release 6 the original lengths) as arrays of
 *	    one entry per language;
 *	  2 options: their count, then per option one name length and
 *	    pointer per language, then a 128-bit default selection;
 *	  3 if, 4 else-if: the size of the condition, the condition;
 *	  5 else, 6 end-if: nothing more.
 *	(Described by Alexander Thoukydides' "SIS File Format"; this is our
 *	own code.) Conditions are not evaluated: every file of every branch
 *	is delivered, under its destination name ("!:\sys\bin\x.app" ->
 *	"sys/bin/x.app"; the source name when there is none), prefixed by
 *	"lang<code>/" for the variants of a record of type 1.
 *
 * BOUNDS
 *	Every header field, record, name and data block is checked against
 *	the input; records are walked at most as many as the header counts
 *	and each takes at least 4 bytes, so the walk ends. zlib output goes
 *	out through sa_data() chunk by chunk, so the member, total, ratio and
 *	work limits of scan_archive apply. Errors (static text, the archive
 *	is then CORRUPT and what was decoded is still scanned):
 *	  "sis: truncated header", "sis: file records outside the file",
 *	  "sis: truncated file record", "sis: unknown file record type",
 *	  "sis: name outside the file", "sis: file data outside the file",
 *	  "sis: zlib data error", "sis: compressed data truncated",
 *	  "sis: out of memory".
 */
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "mxg_err.h"
#include "scan_archive.h"
#include "scan_archive_int.h"

#define SIS_UID2_ER3 0x1000006du
#define SIS_UID2_ER6 0x10003a12u
#define SIS_UID3 0x10000419u

#define SIS_HDR_ER3 68
#define SIS_HDR_ER6 100

#define FT_NULL 4 /* file type: created by the application, no data */

#define OPT_UNICODE 0x0001
#define OPT_NOCOMPRESS 0x0008

enum {
	REC_FILE = 0,
	REC_MULTI = 1,
	REC_OPTIONS = 2,
	REC_IF = 3,
	REC_ELSEIF = 4,
	REC_ELSE = 5,
	REC_ENDIF = 6,
};

struct sis {
	struct sa_ctx *c;
	const uint8_t *p;
	size_t n;
	bool er6, unicode, compressed;
	unsigned nlangs;
	size_t langs;    /* offset of the language codes (16-bit each) */
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

bool scan_sis_sniff(const uint8_t *p, size_t n)
{
	uint32_t uid2;

	if (n < 16 || le32(p + 8) != SIS_UID3)
		return false;
	uid2 = le32(p + 4);
	return uid2 == SIS_UID2_ER3 || uid2 == SIS_UID2_ER6;
}

/* True when [off, off + len) lies in the input. */
static bool in_file(const struct sis *s, uint32_t off, uint32_t len)
{
	return off <= s->n && len <= s->n - off;
}

/* Appends one character as UTF-8 (a path separator for '\\', '?' for
 * what a name should not hold). */
static size_t put_char(char *out, size_t k, size_t cap, unsigned ch)
{
	if (ch == '\\')
		ch = '/';
	if (ch < 0x20 || ch == 0x7f || (ch >= 0xd800 && ch < 0xe000))
		ch = '?';
	if (ch < 0x80) {
		if (k + 1 < cap)
			out[k++] = (char)ch;
	} else if (ch < 0x800) {
		if (k + 2 < cap) {
			out[k++] = (char)(0xc0 | ch >> 6);
			out[k++] = (char)(0x80 | (ch & 0x3f));
		}
	} else if (k + 3 < cap) {
		out[k++] = (char)(0xe0 | ch >> 12);
		out[k++] = (char)(0x80 | ((ch >> 6) & 0x3f));
		out[k++] = (char)(0x80 | (ch & 0x3f));
	}
	return k;
}

/* The name at |off| (|len| bytes, UTF-16LE or 8-bit) as UTF-8 in |out|,
 * without its drive ("!:" is the drive the user picks) and leading
 * separators. False when it lies outside the input. */
static bool get_name(const struct sis *s, uint32_t off, uint32_t len, char *out, size_t cap)
{
	size_t k = 0, start = 0, i;

	out[0] = '\0';
	if (len == 0)
		return true;
	if (!in_file(s, off, len))
		return false;
	/* at most |cap| characters are read: a name field the size of the
	 * file, once per record, would cost the file's size squared */
	if (len > 2 * cap)
		len = (uint32_t)(2 * cap);
	if (s->unicode) {
		for (i = 0; i + 1 < len; i += 2)
			k = put_char(out, k, cap, le16(s->p + off + i));
	} else {
		for (i = 0; i < len && i < cap; i++)
			k = put_char(out, k, cap, s->p[off + i]);
	}
	out[k] = '\0';
	if (k >= 2 && out[1] == ':')
		start = 2;
	while (out[start] == '/')
		start++;
	memmove(out, out + start, k - start + 1);
	return true;
}

/* Delivers |len| bytes at |off|: inflated when the files are compressed.
 * Ends the begun member. */
static int deliver(struct sis *s, uint32_t off, uint32_t len)
{
	const char *err = NULL;
	uint32_t mflags = 0;
	z_stream z;
	uint8_t *out;
	size_t cap;
	int rc = 0, zr;

	/* records may share one data block: each reading is charged */
	if (sa_charge(s->c, len))
		return sa_end(s->c, 0, 0);
	if (!s->compressed) {
		const uint8_t *d = s->p + off;

		out = sa_chunk(s->c, &cap);
		while (len > 0 && rc == 0) {
			size_t k = len < cap ? len : cap;

			rc = sa_data(s->c, d, k);
			d += k;
			len -= (uint32_t)k;
		}
		return sa_end(s->c, 0, rc > 0 ? 0 : rc);
	}
	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK) {
		sa_error(s->c, "sis: out of memory");
		return sa_end(s->c, SCAN_AMF_CORRUPT, MXG_E_NOMEM);
	}
	out = sa_chunk(s->c, &cap);
	z.next_in = (Bytef *)(uintptr_t)(s->p + off);
	z.avail_in = len;
	do {
		z.next_out = out;
		z.avail_out = (uInt)cap;
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr == Z_MEM_ERROR) {
			err = "sis: out of memory";
			rc = MXG_E_NOMEM;
		} else if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			err = "sis: zlib data error";
		} else if (zr != Z_STREAM_END && z.avail_in == 0 && z.avail_out != 0) {
			err = "sis: compressed data truncated";
		}
		if (cap - z.avail_out > 0 && rc == 0)
			rc = sa_data(s->c, out, cap - z.avail_out);
	} while (rc == 0 && err == NULL && zr != Z_STREAM_END);
	inflateEnd(&z);
	if (err != NULL) {
		sa_error(s->c, err);
		mflags |= SCAN_AMF_CORRUPT;
	}
	return sa_end(s->c, mflags, rc > 0 ? 0 : rc);
}

/* One member: |name| (the language prefix added for variants). */
static int member(struct sis *s, const char *name, int lang, uint32_t off, uint32_t len,
		  int64_t declared)
{
	char full[300];
	int rc;

	if (len == 0)
		return 0; /* no data: a file the installer creates, or none */
	if (!in_file(s, off, len)) {
		sa_error(s->c, "sis: file data outside the file");
		return 0;
	}
	if (lang >= 0)
		snprintf(full, sizeof(full), "lang%d/%s", lang, name);
	else
		snprintf(full, sizeof(full), "%s", name);
	rc = sa_begin(s->c, full, s->compressed ? declared : (int64_t)len);
	if (rc < 0)
		return rc;
	if (rc > 0)
		return sa_end(s->c, 0, 0);
	return deliver(s, off, len);
}

/* A file record (type 0 or 1) at |off| holding |avail| bytes. Sets
 * *size to its length. Returns 0, a negative code, or 1 after sa_error. */
static int file_record(struct sis *s, size_t off, size_t avail, bool multi, size_t *size)
{
	const uint8_t *r = s->p + off;
	unsigned nl = multi ? s->nlangs : 1;
	size_t need = 28 + (size_t)nl * 8 + (s->er6 ? (size_t)nl * 4 + 8 : 0);
	char name[256];
	int rc;

	if (avail < need) {
		sa_error(s->c, "sis: truncated file record");
		return 1;
	}
	*size = need;
	if (le32(r + 4) == FT_NULL)
		return 0;
	/* the destination name, else the source name's last element */
	if (!get_name(s, le32(r + 24), le32(r + 20), name, sizeof(name))) {
		sa_error(s->c, "sis: name outside the file");
		return 1;
	}
	if (name[0] == '\0') {
		const char *slash;

		if (!get_name(s, le32(r + 16), le32(r + 12), name, sizeof(name))) {
			sa_error(s->c, "sis: name outside the file");
			return 1;
		}
		slash = strrchr(name, '/');
		if (slash != NULL)
			memmove(name, slash + 1, strlen(slash + 1) + 1);
	}
	for (unsigned i = 0; i < nl && !sa_stopped(s->c); i++) {
		uint32_t len = le32(r + 28 + 4 * (size_t)i);
		uint32_t ptr = le32(r + 28 + 4 * (size_t)nl + 4 * (size_t)i);
		int64_t declared = s->er6 ? (int64_t)le32(r + 28 + 8 * (size_t)nl + 4 * (size_t)i) : -1;
		int lang = -1;

		if (multi) {
			lang = (int)i;
			if (s->langs + 2 * (size_t)i + 2 <= s->n)
				lang = le16(s->p + s->langs + 2 * (size_t)i);
		}
		rc = member(s, name[0] != '\0' ? name : sa_name(s->c), lang, ptr, len, declared);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int scan_sis_expand(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	struct sis s = { .c = c, .p = p, .n = n };
	unsigned nfiles;
	size_t off;

	if (!scan_sis_sniff(p, n) || n < SIS_HDR_ER3) {
		sa_error(c, "sis: truncated header");
		return 0;
	}
	s.er6 = le32(p + 4) == SIS_UID2_ER6;
	if (s.er6 && n < SIS_HDR_ER6) {
		sa_error(c, "sis: truncated header");
		return 0;
	}
	s.nlangs = le16(p + 18);
	nfiles = le16(p + 20);
	s.unicode = (le16(p + 36) & OPT_UNICODE) != 0;
	s.compressed = (le16(p + 36) & OPT_NOCOMPRESS) == 0;
	s.langs = le32(p + 48);
	off = le32(p + 52);
	if (nfiles > 0 && off >= n) {
		sa_error(c, "sis: file records outside the file");
		return 0;
	}
	for (unsigned i = 0; i < nfiles && !sa_stopped(c); i++) {
		size_t avail = n - off, size = 4;
		uint32_t type;
		int rc = 0;

		if (avail < 4) {
			sa_error(c, "sis: truncated file record");
			return 0;
		}
		type = le32(p + off);
		switch (type) {
		case REC_FILE:
		case REC_MULTI:
			rc = file_record(&s, off, avail, type == REC_MULTI, &size);
			break;
		case REC_OPTIONS:
			/* count, names (length and pointer per language each),
			 * 16 bytes of default selection */
			if (avail < 8 || (uint64_t)le32(p + off + 4) * s.nlangs * 8 + 24 > avail) {
				sa_error(c, "sis: truncated file record");
				return 0;
			}
			size = (size_t)le32(p + off + 4) * s.nlangs * 8 + 24;
			break;
		case REC_IF:
		case REC_ELSEIF:
			if (avail < 8 || le32(p + off + 4) > avail - 8) {
				sa_error(c, "sis: truncated file record");
				return 0;
			}
			size = 8 + (size_t)le32(p + off + 4);
			break;
		case REC_ELSE:
		case REC_ENDIF:
			break;
		default:
			sa_error(c, "sis: unknown file record type");
			return 0;
		}
		if (rc < 0)
			return rc;
		if (rc > 0)
			return 0;
		off += size;
	}
	return 0;
}
