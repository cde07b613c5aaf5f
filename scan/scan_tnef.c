/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_tnef.c - TNEF ("winmail.dat", application/ms-tnef): Outlook's
 * attachments become members.
 *
 * FORMAT ([MS-OXTNEF] 2.1)
 *	Signature 0x223E9F78 (LE), a 16-bit key, then attributes: level (1
 *	message, 2 attachment), a 32-bit id (type in the high word), a 32-bit
 *	length, the data, a 16-bit checksum. An attachment starts with
 *	attAttachRendData (0x00069002); its bytes are attAttachData
 *	(0x0006800F), its name attAttachTitle (0x00018010), which Outlook
 *	writes after the data: an attachment is delivered when the next one
 *	starts or the stream ends. The message body (attBody, 0x0002800C) is a
 *	member too ("body.txt").
 *
 * NOT READ
 *	MAPI property blocks (attMsgProps, attAttachment): a compressed RTF
 *	body or an attachment stored only as PR_ATTACH_DATA_BIN inside them is
 *	not extracted (their bytes are still in the TNEF file, which is scanned
 *	as a whole). Checksums are not checked: Outlook's own files do not
 *	always agree with the documented sum.
 *
 * BOUNDS
 *	Every length is checked against what remains; data is delivered from
 *	the input in place (no copy, no expansion: the output is never larger
 *	than the input). At most 4096 attributes are read. Errors (static
 *	text, the archive is then CORRUPT; attachments already complete are
 *	delivered): "tnef: truncated header", "tnef: truncated attribute"
 *	(a lone trailing line end is tolerated),
 *	"tnef: attribute longer than the file", "tnef: bad attribute level",
 *	"tnef: too many attributes".
 */
#include <stdio.h>
#include <string.h>

#include "scan_archive.h"
#include "scan_archive_int.h"

#define ATT_MAX 4096
#define ID_ATTACH_REND 0x00069002u
#define ID_ATTACH_DATA 0x0006800fu
#define ID_ATTACH_TITLE 0x00018010u
#define ID_BODY 0x0002800cu

bool scan_tnef_sniff(const uint8_t *p, size_t n)
{
	return n >= 4 && p[0] == 0x78 && p[1] == 0x9f && p[2] == 0x3e && p[3] == 0x22;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* One attachment being collected. */
struct att {
	const uint8_t *data;   /* attAttachData in the input, or NULL */
	size_t len;
	char name[256];
	unsigned index;        /* 1-based, for a name when there is no title */
};

/* Delivers |n| bytes at |p| as member |name|. */
static int deliver(struct sa_ctx *c, const char *name, const uint8_t *p, size_t n)
{
	int rc = sa_begin(c, name, (int64_t)n);

	if (rc < 0)
		return rc;
	if (rc == 0 && n > 0) {
		rc = sa_data(c, p, n);
		if (rc > 0)
			rc = 0;
	} else {
		rc = 0;
	}
	return sa_end(c, 0, rc);
}

static int flush(struct sa_ctx *c, struct att *a)
{
	char name[sizeof(a->name)];
	int rc = 0;

	if (a->data != NULL) {
		if (a->name[0])
			snprintf(name, sizeof(name), "%s", a->name);
		else
			snprintf(name, sizeof(name), "attachment%u", a->index);
		rc = deliver(c, name, a->data, a->len);
	}
	a->data = NULL;
	a->len = 0;
	a->name[0] = '\0';
	return rc;
}

/* The title as a C string: printable bytes up to the first NUL. */
static void title(char *out, size_t cap, const uint8_t *p, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n && p[i] != 0 && k + 1 < cap; i++)
		out[k++] = p[i] < 0x20 ? '_' : (char)p[i];
	out[k] = '\0';
}

int scan_tnef_expand(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	struct att a = { 0 };
	size_t o = 6;
	unsigned natt = 0;
	int rc = 0;

	if (n < 6) {
		sa_error(c, "tnef: truncated header");
		return 0;
	}
	while (o < n && rc == 0 && !sa_stopped(c)) {
		uint8_t level;
		uint32_t id, len;
		const uint8_t *d;

		if (++natt > ATT_MAX) {
			sa_error(c, "tnef: too many attributes");
			break;
		}
		if (n - o < 9) {
			/* a line end appended by the mail that carried it */
			if (!(n - o <= 2 && (p[o] == '\n' || p[o] == '\r')))
				sa_error(c, "tnef: truncated attribute");
			break;
		}
		level = p[o];
		id = le32(p + o + 1);
		len = le32(p + o + 5);
		if (level != 1 && level != 2) {
			sa_error(c, "tnef: bad attribute level");
			break;
		}
		if (len > n - o - 9) {
			sa_error(c, "tnef: attribute longer than the file");
			break;
		}
		d = p + o + 9;
		o += 9 + (size_t)len;
		/* the checksum; cut off at the very end: tolerated */
		o += n - o >= 2 ? 2 : n - o;
		if (level == 2 && id == ID_ATTACH_REND) {
			rc = flush(c, &a);
			a.index++;
		} else if (level == 2 && id == ID_ATTACH_DATA) {
			if (a.data != NULL)
				rc = flush(c, &a); /* a second data block: its own file */
			a.data = d;
			a.len = len;
			if (a.index == 0)
				a.index = 1;
		} else if (level == 2 && id == ID_ATTACH_TITLE) {
			title(a.name, sizeof(a.name), d, len);
		} else if (level == 1 && id == ID_BODY) {
			rc = deliver(c, "body.txt", d, len);
		}
	}
	if (rc == 0 && !sa_stopped(c))
		rc = flush(c, &a);
	return rc;
}
