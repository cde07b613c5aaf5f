/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_szdd.c - MS COMPRESS "SZDD" files (compress.exe / expand.exe, the
 * "x.ex_" files of old Windows setups), one member per file.
 *
 * FORMAT
 *	"SZDD" 88 F0 27 33, mode 'A', the last character of the original
 *	name (the file is named "x.ex_"), the uncompressed size (32-bit LE),
 *	then LZSS: a control byte whose bits, lowest first, say literal (1)
 *	or match (0); a match is two bytes, a 12-bit window position (low 8
 *	bits, then the high nibble of the second byte) and a length of 3 to
 *	18 (low nibble + 3). The 4 KiB window starts filled with spaces and
 *	writing starts at 4096 - 16. (Documented by libmspack's szddd.c and
 *	ClamAV's msexpand.c; this is our own code.)
 *
 * BOUNDS
 *	Every input read is checked against the length; window positions are
 *	masked to 12 bits (any position is valid: unwritten ones are spaces).
 *	Output stops at the declared size; a match expands at most 18 bytes
 *	per 2 input bytes plus one control bit, so the ratio is bounded by
 *	the format, and the member, total and ratio limits of scan_archive
 *	apply through sa_data(). Errors (static text, the archive is then
 *	CORRUPT and what was decoded is still scanned):
 *	  "szdd: truncated header", "szdd: unknown compression mode",
 *	  "szdd: data ends before the declared size",
 *	  "szdd: match cut by the end of data".
 */
#include <stdio.h>
#include <string.h>

#include "scan_archive.h"
#include "scan_archive_int.h"

#define SZDD_HDR 14
#define WIN 4096

static const uint8_t szdd_magic[8] = { 'S', 'Z', 'D', 'D', 0x88, 0xf0, 0x27, 0x33 };

bool scan_szdd_sniff(const uint8_t *p, size_t n)
{
	return n >= 8 && memcmp(p, szdd_magic, 8) == 0;
}

/* The original name: "x.ex_" with its missing last character, else the
 * container's name without its last extension. */
static void szdd_name(const char *cont, uint8_t missing, char *out, size_t cap)
{
	size_t l = strlen(cont);
	const char *dot;

	if (l > 1 && l < cap && cont[l - 1] == '_') {
		memcpy(out, cont, l + 1);
		if (missing > 0x20 && missing < 0x7f && missing != '/' && missing != '\\')
			out[l - 1] = (char)missing;
		else
			out[l - 1] = '\0';
		return;
	}
	dot = strrchr(cont, '.');
	if (dot != NULL && dot != cont && (size_t)(dot - cont) < cap) {
		memcpy(out, cont, (size_t)(dot - cont));
		out[dot - cont] = '\0';
		return;
	}
	snprintf(out, cap, "data");
}

int scan_szdd_expand(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	uint8_t win[WIN];
	char name[256];
	uint8_t *out;
	size_t cap, no = 0, i = SZDD_HDR;
	uint64_t want, done = 0;
	unsigned pos = WIN - 16;
	uint32_t mflags = 0;
	int rc;

	if (n < SZDD_HDR) {
		sa_error(c, "szdd: truncated header");
		return 0;
	}
	if (p[8] != 'A') {
		sa_error(c, "szdd: unknown compression mode");
		return 0;
	}
	want = (uint64_t)p[10] | (uint64_t)p[11] << 8 | (uint64_t)p[12] << 16 |
	       (uint64_t)p[13] << 24;
	szdd_name(sa_name(c), p[9], name, sizeof(name));
	rc = sa_begin(c, name, (int64_t)want);
	if (rc < 0)
		return rc;
	if (rc > 0)
		return sa_end(c, 0, 0);
	memset(win, ' ', sizeof(win));
	out = sa_chunk(c, &cap);
	rc = 0;
	while (done + no < want && i < n && rc == 0) {
		unsigned ctl = p[i++];

		for (unsigned bit = 0; bit < 8 && done + no < want && i < n; bit++) {
			if (ctl & (1u << bit)) {
				out[no++] = win[pos] = p[i++];
				pos = (pos + 1) & (WIN - 1);
			} else {
				unsigned m, len;

				if (n - i < 2) {
					sa_error(c, "szdd: match cut by the end of data");
					mflags |= SCAN_AMF_CORRUPT;
					i = n;
					break;
				}
				m = p[i] | (unsigned)(p[i + 1] & 0xf0) << 4;
				len = (p[i + 1] & 0x0f) + 3u;
				i += 2;
				for (unsigned k = 0; k < len && done + no < want; k++) {
					out[no++] = win[pos] = win[m];
					pos = (pos + 1) & (WIN - 1);
					m = (m + 1) & (WIN - 1);
				}
			}
			/* room for one more match before the next bit */
			if (cap - no < 18) {
				rc = sa_data(c, out, no);
				done += no;
				no = 0;
				if (rc != 0)
					break;
			}
		}
	}
	if (rc == 0 && no > 0) {
		rc = sa_data(c, out, no);
		done += no;
	}
	if (rc == 0 && done < want && !(mflags & SCAN_AMF_CORRUPT)) {
		sa_error(c, "szdd: data ends before the declared size");
		mflags |= SCAN_AMF_CORRUPT;
	}
	if (rc > 0)
		rc = 0;
	return sa_end(c, mflags, rc);
}
