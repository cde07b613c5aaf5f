/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_onenote.c - OneNote sections (.one): files embedded in a page
 * ("attach file", the 2023 malware vector) become members.
 *
 * FORMAT ([MS-ONESTORE] 2.3.1, 2.6.13)
 *	A section starts with guidFileType {7B5C52E4-D88C-4DA7-AEB1-
 *	5378D02996D3}. An embedded file is a FileDataStoreObject: guidHeader
 *	{BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}, cbLength (64-bit LE), 4 unused
 *	and 8 reserved bytes, cbLength bytes of file data, padding (up to 8
 *	bytes: the writers differ in what they align), guidFooter
 *	{71FBA722-0F79-4A0B-BB13-899256426B24}.
 *
 * HOW THEY ARE FOUND
 *	By their header GUID, each one checked by the footer GUID where its
 *	length puts it (a stray header-like byte run without the footer is
 *	counted, not delivered). Walking the revision store's file node lists
 *	to the FileDataStoreObjectReference nodes would name the objects, but
 *	it reaches the same bytes through far more parsing of hostile
 *	structure; the header/footer pair is what OneNote itself checks. Not
 *	read: the file names (members are "file1", "file2", ... in file
 *	order).
 *
 * WEB EXPORTS ([MS-ONESTORE] 2.8 alternative packaging, [MS-FSSHTTPB])
 *	A section exported by OneNote for the web has guidFileFormat
 *	{638DE92F-A6D4-4BC1-9A36-B3FC2511A5B7} at offset 48 and holds an
 *	FSSHTTPB storage instead of a revision store: no FileDataStoreObjects.
 *	An embedded file is the payload of an Object Data BLOB stream object:
 *	a 32-bit stream object header (2.2.1.5.2: A = 2, not compound, type
 *	0x02, a 15-bit length; 32767 means a compact unsigned 64-bit length
 *	follows) whose content is a binary item: a compact unsigned 64-bit
 *	length (2.2.1.1) and that many bytes, the two filling the stream
 *	object exactly. Those are found the way FileDataStoreObjects are, by
 *	their shape (a byte scan, each candidate's two lengths checked against
 *	each other and the rest of the input), and delivered as "blob1",
 *	"blob2"...: walking the storage index and the object groups to the
 *	file objects would name them, through much more hostile structure.
 *	The blobs of images and other objects are delivered too (they are
 *	scanned like the files).
 *
 * BOUNDS
 *	cbLength is checked against the rest of the input before anything is
 *	read; data is delivered in place (no copy, output never larger than
 *	the input). Errors (static text, CORRUPT; the other objects are still
 *	delivered): "onenote: file data longer than the file",
 *	"onenote: file data without its footer".
 */
#include <stdio.h>
#include <string.h>

#include "scan_archive.h"
#include "scan_archive_int.h"

static const uint8_t guid_file_type[16] = {
	0xe4, 0x52, 0x5c, 0x7b, 0x8c, 0xd8, 0xa7, 0x4d,
	0xae, 0xb1, 0x53, 0x78, 0xd0, 0x29, 0x96, 0xd3,
};
static const uint8_t guid_header[16] = {
	0xe7, 0x16, 0xe3, 0xbd, 0x65, 0x26, 0x11, 0x45,
	0xa4, 0xc4, 0x8d, 0x4d, 0x0b, 0x7a, 0x9e, 0xac,
};
static const uint8_t guid_footer[16] = {
	0x22, 0xa7, 0xfb, 0x71, 0x79, 0x0f, 0x0b, 0x4a,
	0xbb, 0x13, 0x89, 0x92, 0x56, 0x42, 0x6b, 0x24,
};

static const uint8_t guid_file_format[16] = {
	0x2f, 0xe9, 0x8d, 0x63, 0xd4, 0xa6, 0xc1, 0x4b,
	0x9a, 0x36, 0xb3, 0xfc, 0x25, 0x11, 0xa5, 0xb7,
};

#define FDSO_HDR 36 /* guid, cbLength, unused, reserved */
#define SOH_BLOB 0x02u /* stream object type: Object Data BLOB */

bool scan_onenote_sniff(const uint8_t *p, size_t n)
{
	return n >= 16 && memcmp(p, guid_file_type, 16) == 0;
}

/* The footer after the data ending at |end|, behind up to 8 bytes of
 * padding (files of OneNote 2010 align the footer to the file offset,
 * those of 2007 pad an 8-aligned length by 8 more; the padding bytes are
 * not zero in practice and are ignored, as the format says). */
static bool footer_at(const uint8_t *p, size_t n, size_t end, size_t *foot)
{
	for (size_t k = 0; k <= 8 && end + k + 16 <= n; k++) {
		if (memcmp(p + end + k, guid_footer, 16) == 0) {
			*foot = end + k;
			return true;
		}
	}
	return false;
}

/* A compact unsigned 64-bit integer ([MS-FSSHTTPB] 2.2.1.1) at |p| (|n|
 * bytes available): the trailing zero bits of the first byte give its
 * width (1 to 7 bytes, 0x80: 9 bytes, 0x00: the value 0). Returns its
 * size, 0 when it does not fit. */
static size_t compact_u64(const uint8_t *p, size_t n, uint64_t *v)
{
	size_t w;
	uint64_t x = 0;

	if (n < 1)
		return 0;
	if (p[0] == 0) {
		*v = 0;
		return 1;
	}
	w = (size_t)__builtin_ctz(p[0]) + 1; /* 1..8 */
	if (w == 8) {
		if (n < 9)
			return 0;
		for (int k = 8; k >= 1; k--)
			x = x << 8 | p[k];
		*v = x;
		return 9;
	}
	if (n < w)
		return 0;
	for (size_t k = w; k-- > 0;)
		x = x << 8 | p[k];
	*v = x >> w;
	return w;
}

/* Object Data BLOBs of an FSSHTTPB storage (web export): see the top. */
static int expand_blobs(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	size_t o = 64;
	unsigned idx = 0;
	int rc = 0;

	while (rc == 0 && !sa_stopped(c) && o + 4 <= n) {
		uint32_t h = (uint32_t)p[o] | (uint32_t)p[o + 1] << 8 | (uint32_t)p[o + 2] << 16 |
			     (uint32_t)p[o + 3] << 24;
		uint64_t len, m;
		size_t hl = 4, cl, at;
		char name[32];

		/* A = 2 (32-bit), B = 0 (not compound), type 0x02 */
		if ((h & 0x7u) != 0x2u || ((h >> 3) & 0x3fffu) != SOH_BLOB) {
			o++;
			continue;
		}
		len = h >> 17;
		if (len == 32767) {
			cl = compact_u64(p + o + 4, n - o - 4, &len);
			if (!cl) {
				o++;
				continue;
			}
			hl += cl;
		}
		/* the content: a binary item filling the object exactly */
		if (len < 1 || len > n - o - hl ||
		    !(cl = compact_u64(p + o + hl, (size_t)len, &m)) || m == 0 ||
		    m != len - cl) {
			o++;
			continue;
		}
		at = o + hl + cl;
		snprintf(name, sizeof(name), "blob%u", ++idx);
		rc = sa_begin(c, name, (int64_t)m);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			rc = sa_data(c, p + at, (size_t)m);
			if (rc > 0)
				rc = 0;
		} else {
			rc = 0;
		}
		rc = sa_end(c, 0, rc);
		o = at + (size_t)m;
	}
	return rc;
}

int scan_onenote_expand(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	size_t o = 16;
	unsigned idx = 0;
	int rc = 0;

	if (n >= 64 && memcmp(p + 48, guid_file_format, 16) == 0)
		return expand_blobs(c, p, n);
	while (rc == 0 && !sa_stopped(c) && o + FDSO_HDR <= n) {
		const uint8_t *h = memmem(p + o, n - o, guid_header, 16);
		uint64_t len = 0;
		size_t at, foot;
		char name[32];

		if (h == NULL)
			break;
		at = (size_t)(h - p);
		o = at + 16;
		if (n - at < FDSO_HDR)
			break; /* a header-like run at the very end */
		for (int k = 7; k >= 0; k--)
			len = len << 8 | h[16 + k];
		if (len > n - at - FDSO_HDR) {
			sa_error(c, "onenote: file data longer than the file");
			continue;
		}
		if (!footer_at(p, n, at + FDSO_HDR + (size_t)len, &foot)) {
			sa_error(c, "onenote: file data without its footer");
			continue;
		}
		snprintf(name, sizeof(name), "file%u", ++idx);
		rc = sa_begin(c, name, (int64_t)len);
		if (rc < 0)
			return rc;
		if (rc == 0 && len > 0) {
			rc = sa_data(c, p + at + FDSO_HDR, (size_t)len);
			if (rc > 0)
				rc = 0;
		} else {
			rc = 0;
		}
		rc = sa_end(c, 0, rc);
		o = foot + 16;
	}
	return rc;
}
