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
 *	read: the FSSHTTPB packaging of OneNote web exports (its objects are
 *	not FileDataStoreObjects), and the file names (members are "file1",
 *	"file2", ... in file order).
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

#define FDSO_HDR 36 /* guid, cbLength, unused, reserved */

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

int scan_onenote_expand(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	size_t o = 16;
	unsigned idx = 0;
	int rc = 0;

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
