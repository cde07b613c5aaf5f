/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_rtf.c - objects embedded in RTF documents (\objdata) become members:
 * the file inside an OLE1 "Package" (what "insert object, from file"
 * makes, and what the RTF droppers use), or the native data of any other
 * class (an OLE2 document, an Equation Editor stream...).
 *
 * FORMAT
 *	RTF ({\rtf...) with {\*\objdata <hex>} groups: the hex digits decode
 *	to an OLE1 object ([MS-OLEDS] 2.2.4): OLEVersion, FormatID (2 for an
 *	embedded object), ClassName, TopicName, ItemName (32-bit length and
 *	bytes each), NativeDataSize, NativeData. A "Package" object's native
 *	data: a 16-bit type, the label and the source path (NUL-terminated),
 *	two 16-bit values, the temporary path (32-bit length and bytes), the
 *	file size (32-bit) and the file's bytes.
 *
 * READING THE HEX AS WORD DOES
 *	Whitespace, line ends, control words (\xxx with an optional numeric
 *	parameter) and nested groups inside the objdata group are skipped,
 *	every other non-hex character too: droppers pad the hex with all of
 *	them so that naive scanners lose the object. The nibbles are read
 *	in one pass, in place (nothing is copied: the object is read from the
 *	nibble stream and the file's bytes pushed in chunks).
 *
 * BOUNDS
 *	Every length is checked against the hex digits that remain (each
 *	byte needs two); the output is never more than half the input. At
 *	most 64 objects per document. Errors (static text, CORRUPT; the
 *	object's bytes are delivered as far as they go): "rtf: objdata is
 *	not an OLE1 object", "rtf: OLE1 name longer than the data",
 *	"rtf: native data longer than the objdata", "rtf: package header
 *	damaged", "rtf: too many objects".
 */
#include <stdio.h>
#include <string.h>

#include "scan_archive.h"
#include "scan_archive_int.h"

#define OBJ_MAX 64

bool scan_rtf_sniff(const uint8_t *p, size_t n)
{
	return n >= 5 && memcmp(p, "{\\rt", 4) == 0;
}

/* Nibble reader over one objdata group. */
struct hexr {
	const uint8_t *p;
	size_t n, i;
	int depth;       /* group depth below the objdata group; -1: closed */
};

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Next nibble, or -1 at the end of the group or the input. */
static int nibble(struct hexr *h)
{
	while (h->depth >= 0 && h->i < h->n) {
		uint8_t c = h->p[h->i++];
		int v;

		if (c == '{') {
			h->depth++;
		} else if (c == '}') {
			h->depth--;
		} else if (c == '\\') {
			/* a control word and its parameter, or a control symbol */
			if (h->i < h->n && ((h->p[h->i] | 0x20) >= 'a' && (h->p[h->i] | 0x20) <= 'z')) {
				while (h->i < h->n && ((h->p[h->i] | 0x20) >= 'a' && (h->p[h->i] | 0x20) <= 'z'))
					h->i++;
				if (h->i < h->n && h->p[h->i] == '-')
					h->i++;
				while (h->i < h->n && h->p[h->i] >= '0' && h->p[h->i] <= '9')
					h->i++;
				if (h->i < h->n && h->p[h->i] == ' ')
					h->i++;
			} else if (h->i < h->n) {
				h->i++; /* \{, \}, \\, \' ... */
			}
		} else if (h->depth == 0 && (v = hexval(c)) >= 0) {
			return v;
		}
	}
	h->depth = -1;
	return -1;
}

static int byte(struct hexr *h)
{
	int a = nibble(h), b = a < 0 ? -1 : nibble(h);

	return b < 0 ? -1 : a << 4 | b;
}

static bool u32(struct hexr *h, uint32_t *v)
{
	*v = 0;
	for (int k = 0; k < 4; k++) {
		int b = byte(h);

		if (b < 0)
			return false;
		*v |= (uint32_t)b << (8 * k);
	}
	return true;
}

/* Reads a 32-bit length and that many bytes, keeping up to |cap| - 1 as a
 * string. */
static bool lenstr(struct hexr *h, char *out, size_t cap, uint32_t max)
{
	uint32_t len, k;
	size_t o = 0;

	if (!u32(h, &len) || len > max)
		return false;
	for (k = 0; k < len; k++) {
		int b = byte(h);

		if (b < 0)
			return false;
		if (o + 1 < cap && b != 0)
			out[o++] = (char)b;
	}
	out[o] = '\0';
	return true;
}

/* A NUL-terminated string of at most |max| bytes. */
static bool cstr(struct hexr *h, char *out, size_t cap, size_t max)
{
	size_t o = 0;

	for (size_t k = 0; k < max; k++) {
		int b = byte(h);

		if (b < 0)
			return false;
		if (b == 0) {
			out[o] = '\0';
			return true;
		}
		if (o + 1 < cap)
			out[o++] = (char)b;
	}
	return false;
}

/* Pushes |len| bytes of the nibble stream as member |name|. */
static int push(struct sa_ctx *c, struct hexr *h, const char *name, uint32_t len)
{
	uint32_t mflags = 0, got = 0;
	size_t cap, no = 0;
	uint8_t *out;
	int rc = sa_begin(c, name, len);

	if (rc < 0)
		return rc;
	if (rc > 0)
		return sa_end(c, 0, 0);
	out = sa_chunk(c, &cap);
	while (got < len) {
		int b = byte(h);

		if (b < 0) {
			sa_error(c, "rtf: native data longer than the objdata");
			mflags |= SCAN_AMF_CORRUPT;
			break;
		}
		out[no++] = (uint8_t)b;
		got++;
		if (no == cap) {
			rc = sa_data(c, out, no);
			no = 0;
			if (rc != 0)
				break;
		}
	}
	if (rc == 0 && no > 0)
		rc = sa_data(c, out, no);
	return sa_end(c, mflags, rc > 0 ? 0 : rc);
}

/* One objdata group starting at |h|. */
static int object(struct sa_ctx *c, struct hexr *h, unsigned idx)
{
	char cls[64], topic[8], item[8], label[256], path[260], name[300];
	uint32_t ver, fmt, nsize, tlen, fsize;
	size_t left = (h->n - h->i) / 2;
	int t;

	if (!u32(h, &ver) || !u32(h, &fmt) || (fmt != 1 && fmt != 2)) {
		sa_error(c, "rtf: objdata is not an OLE1 object");
		return 0;
	}
	if (!lenstr(h, cls, sizeof(cls), (uint32_t)left) ||
	    !lenstr(h, topic, sizeof(topic), (uint32_t)left) ||
	    !lenstr(h, item, sizeof(item), (uint32_t)left)) {
		sa_error(c, "rtf: OLE1 name longer than the data");
		return 0;
	}
	if (fmt == 1)
		return 0; /* a link: no data in the document */
	if (!u32(h, &nsize)) {
		sa_error(c, "rtf: native data longer than the objdata");
		return 0;
	}
	if (strcmp(cls, "Package") != 0) {
		snprintf(name, sizeof(name), "object%u.%s", idx, cls[0] ? cls : "bin");
		return push(c, h, name, nsize);
	}
	/* Package: type, label, source path, two 16-bit values, temp path,
	 * the file */
	if ((t = byte(h)) < 0 || byte(h) < 0 || !cstr(h, label, sizeof(label), 4096) ||
	    !cstr(h, path, sizeof(path), 4096) || byte(h) < 0 || byte(h) < 0 || byte(h) < 0 ||
	    byte(h) < 0 || !u32(h, &tlen) || tlen > (h->n - h->i) / 2) {
		sa_error(c, "rtf: package header damaged");
		return 0;
	}
	for (uint32_t k = 0; k < tlen; k++)
		if (byte(h) < 0) {
			sa_error(c, "rtf: package header damaged");
			return 0;
		}
	if (!u32(h, &fsize)) {
		sa_error(c, "rtf: package header damaged");
		return 0;
	}
	snprintf(name, sizeof(name), "%s", label[0] ? label : "package");
	return push(c, h, name, fsize);
}

int scan_rtf_expand(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	static const char tag[] = "\\objdata";
	size_t o = 0;
	unsigned idx = 0;
	int rc = 0;

	while (rc == 0 && !sa_stopped(c) && o < n) {
		const uint8_t *t = memmem(p + o, n - o, tag, sizeof(tag) - 1);
		struct hexr h;

		if (t == NULL)
			break;
		o = (size_t)(t - p) + sizeof(tag) - 1;
		/* "\objdatax" is another word */
		if (o < n && ((p[o] | 0x20) >= 'a' && (p[o] | 0x20) <= 'z'))
			continue;
		if (++idx > OBJ_MAX) {
			sa_error(c, "rtf: too many objects");
			break;
		}
		h = (struct hexr){ .p = p, .n = n, .i = o, .depth = 0 };
		rc = object(c, &h, idx);
		o = h.i > o ? h.i : o;
	}
	return rc;
}
