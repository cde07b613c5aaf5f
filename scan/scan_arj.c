/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_arj.c - ARJ archives (Robert Jung's ARJ), one member per file.
 *
 * FORMAT
 *	Every header is: 60 EA, the size of the basic header (16-bit LE, 0
 *	ends the archive, at most 2600), the basic header, its CRC-32, then
 *	extended headers (16-bit size, data, CRC-32) until a size of 0. The
 *	basic header opens with its fixed part: the size of the fixed part
 *	(30 bytes and more), archiver versions, host OS, ARJ flags, method,
 *	file type, then (LE) time, compressed size, original size, CRC-32 of
 *	the original file, ...; the name and the comment follow as
 *	NUL-terminated strings. The first header is the archive's own (file
 *	type 2), each next one a file followed by its compressed data.
 *
 *	Methods 1 to 3 are LZ77 over a 26624-byte window with static Huffman
 *	codes sent per block (the LHA -lh6- scheme: a 16-bit symbol count,
 *	the code-length code, the 510-symbol literal/length code and the
 *	17-symbol position-bits code, all canonical, MSB first). Method 4
 *	("fastest") codes a length as a unary prefix of up to 7 bits plus as
 *	many value bits, a literal as 8 bits, and a position as a unary
 *	prefix of up to 4 bits plus 9 to 12 value bits. Method 0 is stored.
 *	(Described by ARJ's TECHNOTE.DOC and the LHA/ar002 documentation;
 *	this is our own code.)
 *
 * FLAGS
 *	GARBLED (0x01) files are password-encrypted: counted and flagged
 *	ENCRYPTED, their data is not delivered. VOLUME (0x04, continues in
 *	the next volume) and EXTFILE (0x08, starts in the previous one) mean
 *	a multi-volume set of which we only have this part: reported once as
 *	an error, the part is still decoded (each part is compressed on its
 *	own, with its own size and CRC).
 *
 * BOUNDS
 *	Every header and its strings lie inside the input, their CRC-32 is
 *	checked; compressed data is read only inside its declared size (the
 *	bit reader pads with zeros and the decoder stops once it has used
 *	bits beyond the data). Code tables are checked (counts, lengths of at
 *	most 16, no over-subscribed code, run lengths inside the table);
 *	positions beyond the window are refused. Output stops at the declared
 *	original size and goes through sa_data(), which applies the member,
 *	total, ratio and work limits. Errors (static text, the archive is
 *	then CORRUPT, what was decoded is still scanned):
 *	  "arj: truncated header", "arj: bad header size",
 *	  "arj: header CRC mismatch", "arj: truncated extended header",
 *	  "arj: compressed data truncated", "arj: bad code table",
 *	  "arj: bad Huffman code", "arj: match distance beyond the window",
 *	  "arj: unknown compression method", "arj: CRC mismatch",
 *	  "arj: multi-volume archive, other volumes missing",
 *	  "arj: out of memory".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "mxg_err.h"
#include "scan_archive.h"
#include "scan_archive_int.h"

#define ARJ_HDR_MAX 2600 /* largest basic header ARJ writes or reads */
#define ARJ_FIXED 30     /* the fixed part of a basic header, at least */

#define F_GARBLED 0x01
#define F_VOLUME 0x04
#define F_EXTFILE 0x08

#define T_DIR 3 /* file types without data: directory, label, chapter */
#define T_LABEL 4
#define T_CHAPTER 5

#define DICSIZ 26624
#define MAXMATCH 256
#define NC (255 + MAXMATCH + 2 - 3) /* literals and lengths 3..256 */
#define NP 17                       /* position bit counts 0..16 */
#define NT 19                       /* code-length code */
#define CBIT 9
#define PBIT 5
#define TBIT 5
#define MAXBITS 16

/* One parsed header. */
struct arj_hdr {
	const uint8_t *basic; /* the basic header (|size| bytes) */
	size_t size;
	size_t next;          /* input offset after the header and its extensions */
	uint8_t flags, method, type;
	uint32_t csize, osize, crc;
	char name[256];
};

/* A canonical Huffman code: |count| codes per length, symbols sorted by
 * code. |fixed| >= 0: a code of one symbol sent without bits. */
struct huff {
	uint16_t count[MAXBITS + 1];
	uint16_t sym[NC];
	int fixed;
};

struct arj_dec {
	struct sa_ctx *c;
	const uint8_t *in;    /* compressed data of the member */
	size_t n, pos, pad;   /* its size, bytes taken, zero bytes padded */
	uint32_t bits;        /* bit buffer, next bit at the top */
	unsigned nbits;
	uint8_t *out;         /* sa_chunk() buffer */
	size_t cap, no;
	uint64_t done, want;
	uint32_t crc;
	unsigned r;           /* window write position */
	const char *err;
	struct huff ch, ph, th;
	uint8_t len[NC];
	uint8_t win[DICSIZ];
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

/* A basic header at |off| with a plausible size and a valid CRC. */
static bool header_ok(const uint8_t *p, size_t n, size_t off)
{
	size_t size;

	if (n - off < 4 || p[off] != 0x60 || p[off + 1] != 0xea)
		return false;
	size = le16(p + off + 2);
	if (size < ARJ_FIXED || size > ARJ_HDR_MAX || n - off - 4 < size + 4)
		return false;
	return crc32_of(p + off + 4, size) == le32(p + off + 4 + size);
}

bool scan_arj_sniff(const uint8_t *p, size_t n)
{
	return n >= 4 && header_ok(p, n, 0);
}

/* Parses the header at |off|. Returns 1 with |h| filled, 0 at the end
 * marker (size 0), or -1 after sa_error(). */
static int parse_header(struct sa_ctx *c, const uint8_t *p, size_t n, size_t off,
			struct arj_hdr *h)
{
	size_t size, first, i, k;

	memset(h, 0, sizeof(*h));
	if (off > n || n - off < 4 || p[off] != 0x60 || p[off + 1] != 0xea) {
		sa_error(c, "arj: truncated header");
		return -1;
	}
	size = le16(p + off + 2);
	if (size == 0)
		return 0;
	if (size < ARJ_FIXED || size > ARJ_HDR_MAX) {
		sa_error(c, "arj: bad header size");
		return -1;
	}
	if (n - off - 4 < size + 4) {
		sa_error(c, "arj: truncated header");
		return -1;
	}
	h->basic = p + off + 4;
	h->size = size;
	if (crc32_of(h->basic, size) != le32(h->basic + size)) {
		sa_error(c, "arj: header CRC mismatch");
		return -1;
	}
	first = h->basic[0];
	if (first < ARJ_FIXED || first > size) {
		sa_error(c, "arj: bad header size");
		return -1;
	}
	h->flags = h->basic[4];
	h->method = h->basic[5];
	h->type = h->basic[6];
	h->csize = le32(h->basic + 12);
	h->osize = le32(h->basic + 16);
	h->crc = le32(h->basic + 20);
	/* the name: NUL-terminated inside the header, DOS separators */
	for (i = first, k = 0; i < size && h->basic[i] != '\0'; i++)
		if (k + 1 < sizeof(h->name))
			h->name[k++] = h->basic[i] == '\\' ? '/' : (char)h->basic[i];
	h->name[k] = '\0';
	/* extended headers: size, data, CRC-32, until a size of 0 */
	off += 4 + size + 4;
	for (;;) {
		size_t ext;

		if (n - off < 2) {
			sa_error(c, "arj: truncated extended header");
			return -1;
		}
		ext = le16(p + off);
		off += 2;
		if (ext == 0)
			break;
		if (n - off < ext + 4) {
			sa_error(c, "arj: truncated extended header");
			return -1;
		}
		off += ext + 4;
	}
	h->next = off;
	return 1;
}

/* ---- bit reader: MSB first, zeros past the end of the data ---- */

static void fill(struct arj_dec *d)
{
	while (d->nbits <= 24) {
		uint32_t b = 0;

		if (d->pos < d->n)
			b = d->in[d->pos++];
		else
			d->pad++;
		d->bits |= b << (24 - d->nbits);
		d->nbits += 8;
	}
}

/* The next |k| bits (1..16) without taking them. */
static unsigned peek(struct arj_dec *d, unsigned k)
{
	fill(d);
	return d->bits >> (32 - k);
}

static void skip(struct arj_dec *d, unsigned k)
{
	d->bits <<= k;
	d->nbits -= k;
}

static unsigned getbits(struct arj_dec *d, unsigned k)
{
	unsigned v;

	if (k == 0)
		return 0;
	v = peek(d, k);
	skip(d, k);
	return v;
}

/* True once the decoder has used bits the data does not have. */
static bool overrun(const struct arj_dec *d)
{
	return (uint64_t)(d->pos + d->pad) * 8 - d->nbits > (uint64_t)d->n * 8;
}

/* ---- canonical Huffman codes ---- */

/* Builds |h| from |n| code lengths. False when over-subscribed. */
static bool huff_build(struct huff *h, const uint8_t *len, unsigned n)
{
	uint16_t offs[MAXBITS + 2];
	int left = 1;

	memset(h->count, 0, sizeof(h->count));
	h->fixed = -1;
	for (unsigned i = 0; i < n; i++)
		h->count[len[i]]++;
	for (unsigned l = 1; l <= MAXBITS; l++) {
		left = left * 2 - h->count[l];
		if (left < 0)
			return false;
	}
	offs[1] = 0;
	for (unsigned l = 1; l <= MAXBITS; l++)
		offs[l + 1] = (uint16_t)(offs[l] + h->count[l]);
	for (unsigned i = 0; i < n; i++)
		if (len[i] != 0)
			h->sym[offs[len[i]]++] = (uint16_t)i;
	return true;
}

/* The next symbol, or -1 when the bits match no code. */
static int huff_decode(struct arj_dec *d, const struct huff *h)
{
	unsigned v, code = 0, first = 0, index = 0;

	if (h->fixed >= 0)
		return h->fixed;
	v = peek(d, MAXBITS);
	for (unsigned l = 1; l <= MAXBITS; l++) {
		unsigned cnt = h->count[l];

		code |= (v >> (MAXBITS - l)) & 1;
		if (code - first < cnt) {
			skip(d, l);
			return h->sym[index + code - first];
		}
		index += cnt;
		first = (first + cnt) << 1;
		code <<= 1;
	}
	return -1;
}

/* Reads the code-length code (|nn| symbols, |nbit|-bit count) or the
 * position code; after symbol |special| a 2-bit run of zero lengths. */
static bool read_pt(struct arj_dec *d, struct huff *h, unsigned nn, unsigned nbit, unsigned special)
{
	unsigned cnt = getbits(d, nbit), i = 0;

	if (cnt == 0) {
		unsigned s = getbits(d, nbit);

		if (s >= nn)
			return false;
		h->fixed = (int)s;
		return true;
	}
	if (cnt > nn)
		return false;
	while (i < cnt) {
		unsigned l = peek(d, 3);

		if (l == 7) {
			/* 7 and up: one more per 1 bit after the first three */
			unsigned v = peek(d, 16), mask = 1u << 12;

			while (mask != 0 && (v & mask)) {
				mask >>= 1;
				l++;
			}
			if (l > MAXBITS)
				return false;
			skip(d, l - 3);
		} else {
			skip(d, 3);
		}
		d->len[i++] = (uint8_t)l;
		if (i == special) {
			unsigned z = getbits(d, 2);

			if (i + z > nn)
				return false;
			while (z-- > 0)
				d->len[i++] = 0;
		}
	}
	while (i < nn)
		d->len[i++] = 0;
	return huff_build(h, d->len, nn);
}

/* Reads the literal/length code, its lengths coded with |th|. */
static bool read_c(struct arj_dec *d)
{
	unsigned cnt = getbits(d, CBIT), i = 0;

	if (cnt == 0) {
		unsigned s = getbits(d, CBIT);

		if (s >= NC)
			return false;
		d->ch.fixed = (int)s;
		return true;
	}
	if (cnt > NC)
		return false;
	while (i < cnt) {
		int s = huff_decode(d, &d->th);
		unsigned z;

		if (s < 0)
			return false;
		if (s > 2) {
			d->len[i++] = (uint8_t)(s - 2);
			continue;
		}
		if (s == 0)
			z = 1;
		else if (s == 1)
			z = getbits(d, 4) + 3;
		else
			z = getbits(d, CBIT) + 20;
		if (i + z > NC)
			return false;
		while (z-- > 0)
			d->len[i++] = 0;
	}
	while (i < NC)
		d->len[i++] = 0;
	return huff_build(&d->ch, d->len, NC);
}

/* ---- output ---- */

/* Hands the decoded bytes to sa_data(). Returns its code. */
static int flush(struct arj_dec *d)
{
	int rc = 0;

	if (d->no > 0) {
		d->crc = (uint32_t)crc32(d->crc, d->out, (uInt)d->no);
		rc = sa_data(d->c, d->out, d->no);
		d->done += d->no;
		d->no = 0;
	}
	return rc;
}

static void put(struct arj_dec *d, uint8_t b)
{
	d->out[d->no++] = d->win[d->r] = b;
	if (++d->r == DICSIZ)
		d->r = 0;
}

/* Copies |len| bytes from |dist| + 1 back, up to the declared size. */
static bool copy(struct arj_dec *d, unsigned len, unsigned dist)
{
	unsigned from;

	if (dist >= DICSIZ) {
		d->err = "arj: match distance beyond the window";
		return false;
	}
	from = d->r >= dist + 1 ? d->r - dist - 1 : d->r + DICSIZ - dist - 1;
	for (unsigned k = 0; k < len && d->done + d->no < d->want; k++) {
		put(d, d->win[from]);
		if (++from == DICSIZ)
			from = 0;
	}
	return true;
}

/* After one decoded symbol (the window held |before| bytes before it):
 * a symbol read from the zero padding past the input is dropped (false,
 * d->err set); a window with less than a match of room left is flushed
 * (false when sa_data() stopped, its code in *rc). */
static bool step_end(struct arj_dec *d, size_t before, int *rc)
{
	if (overrun(d)) {
		d->no = before;
		d->err = "arj: compressed data truncated";
		return false;
	}
	if (d->cap - d->no < MAXMATCH && (*rc = flush(d)) != 0)
		return false;
	return true;
}

/* Methods 1 to 3. Returns sa_data()'s code; d->err on bad data. */
static int decode_huf(struct arj_dec *d)
{
	uint32_t block = 0;
	int rc = 0;

	while (d->done + d->no < d->want) {
		size_t before = d->no;
		int s;

		if (block == 0) {
			block = getbits(d, 16);
			if (block == 0)
				block = 65536;
			if (!read_pt(d, &d->th, NT, TBIT, 3) || !read_c(d) ||
			    !read_pt(d, &d->ph, NP, PBIT, 0)) {
				d->err = "arj: bad code table";
				break;
			}
		}
		block--;
		s = huff_decode(d, &d->ch);
		if (s < 0) {
			d->err = "arj: bad Huffman code";
			break;
		}
		if (s < 256) {
			put(d, (uint8_t)s);
		} else {
			int p = huff_decode(d, &d->ph);
			unsigned dist;

			if (p < 0) {
				d->err = "arj: bad Huffman code";
				break;
			}
			dist = p == 0 ? 0 : (1u << (p - 1)) + getbits(d, (unsigned)p - 1);
			if (!copy(d, (unsigned)s - 253, dist))
				break;
		}
		if (!step_end(d, before, &rc))
			break;
	}
	return rc != 0 ? rc : flush(d);
}

/* A unary prefix of at most |stop| - |start| one bits, then as many value
 * bits as the prefix reached (from |start|). */
static unsigned fast_num(struct arj_dec *d, unsigned start, unsigned stop)
{
	unsigned plus = 0, pwr = 1u << start, w;

	for (w = start; w < stop; w++) {
		if (getbits(d, 1) == 0)
			break;
		plus += pwr;
		pwr <<= 1;
	}
	return plus + getbits(d, w);
}

/* Method 4. Returns sa_data()'s code; d->err on bad data. */
static int decode_fast(struct arj_dec *d)
{
	int rc = 0;

	while (d->done + d->no < d->want) {
		size_t before = d->no;
		unsigned l = fast_num(d, 0, 7);

		if (l == 0) {
			put(d, (uint8_t)getbits(d, 8));
		} else if (!copy(d, l + 2, fast_num(d, 9, 13))) {
			break;
		}
		if (!step_end(d, before, &rc))
			break;
	}
	return rc != 0 ? rc : flush(d);
}

/* Stored: the data as it is, at most the declared size. */
static int decode_stored(struct arj_dec *d)
{
	size_t left = d->n;
	const uint8_t *p = d->in;
	int rc = 0;

	if (d->want < left)
		left = (size_t)d->want;
	while (left > 0 && rc == 0) {
		size_t k = left < d->cap ? left : d->cap;

		d->crc = (uint32_t)crc32(d->crc, p, (uInt)k);
		rc = sa_data(d->c, p, k);
		d->done += k;
		p += k;
		left -= k;
	}
	if (rc == 0 && d->done < d->want)
		d->err = "arj: compressed data truncated";
	return rc;
}

/* Decodes one file's data (|h|, at |data| with |avail| bytes) into the
 * begun member, and ends it. */
static int extract(struct sa_ctx *c, struct arj_dec *d, const struct arj_hdr *h,
		   const uint8_t *data, size_t avail)
{
	uint32_t mflags = 0;
	int rc;

	d->c = c;
	d->in = data;
	d->n = avail;
	d->pos = d->pad = 0;
	d->bits = 0;
	d->nbits = 0;
	d->no = 0;
	d->done = 0;
	d->want = h->osize;
	d->crc = (uint32_t)crc32(0L, Z_NULL, 0);
	d->r = 0;
	d->err = NULL;
	d->out = sa_chunk(c, &d->cap);
	memset(d->win, 0, sizeof(d->win));
	if (h->method == 0)
		rc = decode_stored(d);
	else if (h->method <= 3)
		rc = decode_huf(d);
	else
		rc = decode_fast(d);
	if (rc == 0 && d->err == NULL && avail < h->csize)
		d->err = "arj: compressed data truncated";
	if (rc == 0 && d->err == NULL && d->crc != h->crc)
		d->err = "arj: CRC mismatch";
	if (d->err != NULL) {
		sa_error(c, d->err);
		mflags |= SCAN_AMF_CORRUPT;
	}
	if (rc > 0)
		rc = 0;
	return sa_end(c, mflags, rc);
}

int scan_arj_expand(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	struct arj_dec *d = NULL;
	struct arj_hdr h;
	bool volume_told = false;
	size_t off;
	int rc = 0;

	switch (parse_header(c, p, n, 0, &h)) {
	case 0:
		sa_error(c, "arj: bad header size");
		return 0;
	case -1:
		return 0;
	}
	if (h.flags & F_VOLUME) {
		sa_error(c, "arj: multi-volume archive, other volumes missing");
		volume_told = true;
	}
	off = h.next;
	while (!sa_stopped(c)) {
		bool split, decoded;
		size_t avail;
		uint32_t flags = 0;

		rc = parse_header(c, p, n, off, &h);
		if (rc <= 0) {
			rc = 0;
			break;
		}
		off = h.next;
		avail = n - off < h.csize ? n - off : h.csize;
		split = (h.flags & (F_VOLUME | F_EXTFILE)) != 0;
		if (split && !volume_told) {
			sa_error(c, "arj: multi-volume archive, other volumes missing");
			volume_told = true;
		}
		if (h.type == T_DIR || h.type == T_LABEL || h.type == T_CHAPTER) {
			off += avail;
			continue;
		}
		if (h.flags & F_GARBLED)
			flags |= SCAN_AMF_ENCRYPTED;
		rc = sa_begin_flags(c, h.name, h.osize, flags);
		if (rc < 0)
			break;
		decoded = false;
		if (rc > 0) {
			rc = sa_end(c, 0, 0);
		} else if (h.method > 4) {
			sa_error(c, "arj: unknown compression method");
			rc = sa_end(c, SCAN_AMF_CORRUPT, 0);
		} else {
			decoded = true;
			if (d == NULL)
				d = malloc(sizeof(*d));
			if (d == NULL) {
				sa_error(c, "arj: out of memory");
				rc = sa_end(c, SCAN_AMF_CORRUPT, MXG_E_NOMEM);
				break;
			}
			rc = extract(c, d, &h, p + off, avail);
		}
		if (rc < 0)
			break;
		if (avail < h.csize) {
			/* the data runs past the end: nothing follows */
			if (!decoded)
				sa_error(c, "arj: compressed data truncated");
			break;
		}
		off += avail;
	}
	free(d);
	return rc < 0 ? rc : 0;
}
