/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_pdf.c - PDF streams become members: embedded files (/Type
 * /EmbeddedFile, the attachment of a PDF) and every FlateDecode stream
 * inflated (compressed embedded files, JavaScript, object streams).
 *
 * FORMAT (ISO 32000-1 7.3.8)
 *	"<< dictionary >> stream" EOL data EOL "endstream". The data's length
 *	is /Length when it is a direct number that lands on "endstream",
 *	else what lies before the next "endstream" (an indirect or wrong
 *	/Length is common and is what readers tolerate). /Filter /FlateDecode
 *	(alone or first in an array) is inflated with zlib; predictors are not
 *	undone (the bytes are scanned, not rendered).
 *
 * WHAT IS NOT DELIVERED
 *	Streams with other filters (images: DCT, JPX, CCITT; ASCII85, LZW)
 *	and unfiltered streams that are not embedded files: their bytes are in
 *	the PDF, which is scanned whole. Encrypted documents (/Encrypt): their
 *	streams cannot be inflated without the key; scan_ftype flags them.
 *
 * BOUNDS
 *	The dictionary is looked for at most 4 KiB before "stream"; every
 *	offset is checked against the input; inflation goes through a 64 KiB
 *	chunk and stops when sa_data() says a limit was hit (member, total,
 *	ratio, work), so a deflate bomb is flagged, never expanded. At most
 *	10000 streams. Errors (static text, CORRUPT; the output before the
 *	fault is scanned): "pdf: damaged FlateDecode stream",
 *	"pdf: stream without endstream", "pdf: too many streams".
 */
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "scan_archive.h"
#include "scan_archive_int.h"

#define DICT_BACK 4096
#define STREAMS_MAX 10000

bool scan_pdf_magic(const uint8_t *p, size_t n)
{
	const uint8_t *e = p + n;

	/* memchr on the rare '%' beats memmem's setup: this runs on the
	 * head of every file, text bodies included */
	while (e - p >= 5 && (p = memchr(p, '%', (size_t)(e - p - 4))) != NULL) {
		if (!memcmp(p, "%PDF-", 5))
			return true;
		p++;
	}
	return false;
}

bool scan_pdf_sniff(const uint8_t *p, size_t n)
{
	return scan_pdf_magic(p, n < 1024 ? n : 1024);
}

static bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == 0;
}

/* The dictionary before "stream" at |s|: from the last "<<" that opens it
 * (bracket depth counted backwards from the ">>" right before |s|). */
static bool dict_before(const uint8_t *p, size_t s, size_t *ds, size_t *de)
{
	size_t i = s, lo = s > DICT_BACK ? s - DICT_BACK : 0;
	int depth = 0;

	while (i > lo && is_ws(p[i - 1]))
		i--;
	if (i < lo + 2 || p[i - 1] != '>' || p[i - 2] != '>')
		return false;
	*de = i;
	/* i > lo throughout: p[i - 1] is in range, and a pair consumed at
	 * i == lo + 1 ends the walk instead of stepping below lo (size_t) */
	for (i -= 2; i > lo; i--) {
		bool close = p[i] == '>' && p[i - 1] == '>';
		bool open = p[i] == '<' && p[i - 1] == '<';

		if (!close && !open)
			continue;
		if (open && depth == 0) {
			*ds = i - 1;
			return true;
		}
		depth += close ? 1 : -1;
		if (--i == lo)
			break;
	}
	return false;
}

/* A name key followed by a name value: "/Key /Value" (whitespace between). */
static bool has_name(const uint8_t *d, size_t n, const char *key, const char *val)
{
	size_t kl = strlen(key), vl = strlen(val);

	for (const uint8_t *k = d; (k = memmem(k, n - (size_t)(k - d), key, kl)) != NULL; k += kl) {
		size_t i = (size_t)(k - d) + kl;

		while (i < n && (is_ws(d[i]) || d[i] == '['))
			i++;
		if (n - i >= vl && memcmp(d + i, val, vl) == 0)
			return true;
	}
	return false;
}

/* /Length as a direct number, or -1. */
static long long length_of(const uint8_t *d, size_t n)
{
	const uint8_t *k = memmem(d, n, "/Length", 7);
	size_t i;
	long long v = 0;
	int digits = 0;

	if (k == NULL)
		return -1;
	i = (size_t)(k - d) + 7;
	if (i < n && !is_ws(d[i]))
		return -1; /* /Length1 of a font */
	while (i < n && is_ws(d[i]))
		i++;
	while (i < n && d[i] >= '0' && d[i] <= '9' && digits < 15) {
		v = v * 10 + (d[i++] - '0');
		digits++;
	}
	if (!digits)
		return -1;
	/* "12 0 R" is an indirect reference, not a length */
	while (i < n && is_ws(d[i]))
		i++;
	if (i < n && d[i] >= '0' && d[i] <= '9')
		return -1;
	return v;
}

static int deliver_raw(struct sa_ctx *c, const char *name, const uint8_t *p, size_t n)
{
	int rc = sa_begin(c, name, (int64_t)n);

	if (rc < 0)
		return rc;
	if (rc == 0 && n > 0)
		rc = sa_data(c, p, n);
	return sa_end(c, 0, rc > 0 ? 0 : rc);
}

static int deliver_inflated(struct sa_ctx *c, const char *name, const uint8_t *p, size_t n)
{
	z_stream z;
	uint32_t mflags = 0;
	size_t cap;
	uint8_t *out;
	int rc = sa_begin(c, name, -1), zr = Z_OK;

	if (rc < 0)
		return rc;
	if (rc > 0)
		return sa_end(c, 0, 0);
	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return sa_end(c, 0, 0);
	out = sa_chunk(c, &cap);
	z.next_in = (Bytef *)p;
	z.avail_in = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
	rc = 0;
	while (rc == 0 && zr == Z_OK) {
		z.next_out = out;
		z.avail_out = (uInt)cap;
		zr = inflate(&z, Z_NO_FLUSH);
		if (cap - z.avail_out > 0)
			rc = sa_data(c, out, cap - z.avail_out);
		if (zr == Z_BUF_ERROR || (zr == Z_OK && z.avail_in == 0 && z.avail_out != 0))
			break; /* input ran out (no end marker): what is there counts */
	}
	if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT || zr == Z_MEM_ERROR) {
		sa_error(c, "pdf: damaged FlateDecode stream");
		mflags |= SCAN_AMF_CORRUPT;
	}
	inflateEnd(&z);
	return sa_end(c, mflags, rc > 0 ? 0 : rc);
}

int scan_pdf_expand(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	size_t o = 0;
	unsigned idx = 0;
	int rc = 0;

	if (memmem(p, n, "/Encrypt", 8) != NULL)
		return 0;
	while (rc == 0 && !sa_stopped(c) && o < n) {
		const uint8_t *t = memmem(p + o, n - o, "stream", 6);
		size_t s, ds, de, data, end;
		const uint8_t *e;
		long long len;
		bool flate, emb;
		char name[32];

		if (t == NULL)
			break;
		s = (size_t)(t - p);
		o = s + 6;
		/* "endstream", or a word that merely ends in "stream" */
		if (s > 0 && !is_ws(p[s - 1]) && p[s - 1] != '>')
			continue;
		if (!dict_before(p, s, &ds, &de))
			continue;
		data = s + 6;
		if (data < n && p[data] == '\r')
			data++;
		if (data < n && p[data] == '\n')
			data++;
		if (++idx > STREAMS_MAX) {
			sa_error(c, "pdf: too many streams");
			break;
		}
		len = length_of(p + ds, de - ds);
		end = 0;
		if (len >= 0 && (uint64_t)len <= n - data) {
			size_t k = data + (size_t)len;

			while (k < n && is_ws(p[k]))
				k++;
			if (n - k >= 9 && memcmp(p + k, "endstream", 9) == 0)
				end = data + (size_t)len;
		}
		if (end == 0) {
			e = memmem(p + data, n - data, "endstream", 9);
			if (e == NULL) {
				sa_error(c, "pdf: stream without endstream");
				end = n;
			} else {
				end = (size_t)(e - p);
				if (end > data && p[end - 1] == '\n')
					end--;
				if (end > data && p[end - 1] == '\r')
					end--;
			}
		}
		o = end;
		flate = has_name(p + ds, de - ds, "/Filter", "/FlateDecode") ||
			has_name(p + ds, de - ds, "/Filter", "/Fl");
		emb = has_name(p + ds, de - ds, "/Type", "/EmbeddedFile");
		if (flate) {
			snprintf(name, sizeof(name), "%s%u", emb ? "embedded" : "stream", idx);
			rc = deliver_inflated(c, name, p + data, end - data);
		} else if (emb && !has_name(p + ds, de - ds, "/Filter", "/")) {
			snprintf(name, sizeof(name), "embedded%u", idx);
			rc = deliver_raw(c, name, p + data, end - data);
		}
	}
	return rc;
}
