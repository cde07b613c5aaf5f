/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_nsis.c - NSIS (Nullsoft Scriptable Install System) installers: the
 * archive appended to the installer's PE stub. Its header block (the
 * compiled script) and every data block (the files) become members.
 *
 * FORMAT (NSIS's fileform.h, as described by 7-Zip's and ClamAV's readers;
 * this is our own code)
 *	The stub is a PE. The archive starts on a 512-byte boundary after the
 *	PE image with the 28-byte "first header" (LE): flags, 0xDEADBEEF,
 *	"NullsoftInst", the uncompressed length of the header block, the
 *	length of the archive (first header and trailing CRC-32 included).
 *	Non-solid: blocks follow, each a u32 length whose top bit says
 *	"compressed", then its bytes; the first is the header block, the
 *	others the data of the files (File), which the script refers to by
 *	their offset from the first data block's length. Solid: one
 *	compressed stream holds the same blocks, each a u32 (uncompressed)
 *	length and its bytes. One compression per installer, told by the
 *	first bytes: LZMA (properties byte 0x5D, u32 dictionary size, raw
 *	LZMA1 ending with the end marker), raw deflate, or NSIS's own bzip2
 *	variant (blocks without the "BZh" stream header nor CRCs, which libbz2
 *	cannot read: reported as "nsis: bzip2 compression not supported").
 *	Solid or not: a solid stream's first four decoded bytes are the
 *	header length (a 32-bit match); otherwise the blocks must tile.
 *
 * NAMES
 *	A data block is named after the EW_EXTRACTFILE entry (opcode 20 in
 *	NSIS 2 and 3) of the header whose data offset is the block's, its
 *	string taken from the string table (ANSI or NSIS 3 UTF-16, variables
 *	and other codes dropped, the last path element kept, printable ASCII
 *	only); failing that "nsis-N" (N from 1). The header is "nsis-header".
 *
 * SNIFF
 *	An 'MZ' PE whose section table fits in the buffer and that has either
 *	the first header on a 512-byte boundary after its image or an
 *	".ndata" section (NSIS's stub): a session decides on its first 1 KiB,
 *	where only the stub shows; the expansion then searches the whole
 *	file, and a stub without an archive expands to nothing (no error).
 *
 * BOUNDS
 *	Every read is checked against the archive's end (the first header's
 *	length or the file's, whichever is less). Nothing is allocated from a
 *	claimed size: the LZMA dictionary is capped at DICT_MAX (a stream
 *	referring further back fails as damaged), the copy of the header kept
 *	for the names grows with the bytes decoded, up to HDR_MAX. Output
 *	goes through sa_data() in sa_chunk() pieces decoded on demand
 *	(nothing is kept in the chunk across sa_end, which nested levels
 *	reuse); a solid member the owner skips ends the walk (decoding on
 *	would spend work on bytes nobody reads). Errors (static text, the
 *	archive is then CORRUPT, what was decoded is delivered):
 *	  "nsis: archive longer than the file", "nsis: truncated archive",
 *	  "nsis: bad archive length", "nsis: block longer than the archive",
 *	  "nsis: unknown compression", "nsis: bzip2 compression not supported",
 *	  "nsis: damaged compressed data", "nsis: compressed data cut short",
 *	  "nsis: solid stream ends inside a file",
 *	  "nsis: decoder out of memory".
 */
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "scan_archive.h"
#include "scan_archive_int.h"

#define FH_LEN 28
#define FH_SIG 0xdeadbeefu
#define TOP 0x80000000u
#define DICT_MAX (64u << 20)
#define HDR_MAX (8u << 20)
#define EW_EXTRACTFILE 20u
#define ENTRY_LEN 28u
#define NAME_MAX_LEN 200

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned le16(const uint8_t *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* The end of the PE image in the file (headers and raw section data) and
 * whether it has NSIS's ".ndata" section. False when |p| is no PE or its
 * section table is not within |n|. */
static bool pe_image(const uint8_t *p, size_t n, uint64_t *end, bool *ndata)
{
	uint32_t pe;
	unsigned nsec, optsz;
	size_t st;

	if (n < 64 || p[0] != 'M' || p[1] != 'Z')
		return false;
	pe = le32(p + 0x3c);
	if (pe > n || n - pe < 24 || memcmp(p + pe, "PE\0\0", 4) != 0)
		return false;
	nsec = le16(p + pe + 6);
	optsz = le16(p + pe + 20);
	st = (size_t)pe + 24 + optsz;
	if (nsec == 0 || st > n || (n - st) / 40 < nsec)
		return false;
	*end = st + (uint64_t)nsec * 40;
	*ndata = false;
	for (unsigned i = 0; i < nsec; i++) {
		const uint8_t *s = p + st + (size_t)i * 40;
		uint64_t e = (uint64_t)le32(s + 20) + le32(s + 16);

		if (le32(s + 16) != 0 && e > *end)
			*end = e;
		if (memcmp(s, ".ndata\0", 7) == 0)
			*ndata = true;
	}
	return true;
}

/* Offset of the first header at or after |from| on a 512-byte boundary,
 * or SIZE_MAX. */
static size_t find_fh(const uint8_t *p, size_t n, uint64_t from)
{
	for (uint64_t o = (from + 511) & ~(uint64_t)511; o <= n && n - o >= FH_LEN; o += 512)
		if (le32(p + o + 4) == FH_SIG && memcmp(p + o + 8, "NullsoftInst", 12) == 0)
			return (size_t)o;
	return SIZE_MAX;
}

bool scan_nsis_sniff(const uint8_t *p, size_t n)
{
	uint64_t end;
	bool ndata;

	if (!pe_image(p, n, &end, &ndata))
		return false;
	return ndata || find_fh(p, n, end) != SIZE_MAX;
}

/* ---- decoders: one compressed stream held whole in memory ---- */

enum meth { M_NONE, M_DEFLATE, M_LZMA, M_BZIP2 };
enum dst { D_OK, D_END, D_ERR, D_SHORT, D_NOMEM };

struct dec {
	enum meth m;
	bool live;
	z_stream z;
	lzma_stream x;
};

/* LZMA as NSIS writes it: lc 3, lp 0, pb 2 and a sane dictionary size. */
static bool is_lzma(const uint8_t *p, size_t n)
{
	uint32_t d;

	if (n < 5 || p[0] != 0x5d)
		return false;
	d = le32(p + 1);
	return (d & 0xff) == 0 && d >= 4096;
}

static enum meth detect(const uint8_t *p, size_t n)
{
	if (is_lzma(p, n))
		return M_LZMA;
	if (n >= 1 && p[0] == 0x31)
		return M_BZIP2;
	return M_DEFLATE;
}

static void dec_close(struct dec *d)
{
	if (!d->live)
		return;
	if (d->m == M_LZMA)
		lzma_end(&d->x);
	else
		inflateEnd(&d->z);
	d->live = false;
}

/* Opens |m| over |p|, |n| (LZMA: properties included). */
static enum dst dec_open(struct dec *d, enum meth m, const uint8_t *p, size_t n)
{
	memset(d, 0, sizeof(*d));
	d->m = m;
	if (m == M_LZMA) {
		lzma_options_lzma o = { 0 };
		lzma_filter f[2] = { { LZMA_FILTER_LZMA1, &o }, { LZMA_VLI_UNKNOWN, NULL } };
		lzma_stream init = LZMA_STREAM_INIT;
		uint32_t dict;

		if (n < 5)
			return D_SHORT;
		dict = le32(p + 1);
		o.dict_size = dict < LZMA_DICT_SIZE_MIN ? LZMA_DICT_SIZE_MIN :
			      dict > DICT_MAX ? DICT_MAX : dict;
		o.lc = 3;
		o.lp = 0;
		o.pb = 2;
		d->x = init;
		switch (lzma_raw_decoder(&d->x, f)) {
		case LZMA_OK:
			break;
		case LZMA_MEM_ERROR:
			lzma_end(&d->x);
			return D_NOMEM;
		default:
			lzma_end(&d->x);
			return D_ERR;
		}
		d->x.next_in = p + 5;
		d->x.avail_in = n - 5;
	} else {
		int zr = inflateInit2(&d->z, -15);

		if (zr != Z_OK)
			return zr == Z_MEM_ERROR ? D_NOMEM : D_ERR;
		d->z.next_in = (Bytef *)p;
		d->z.avail_in = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
	}
	d->live = true;
	return D_OK;
}

/* Decodes up to |want| bytes into |out|; *got says how many. D_OK: |want|
 * bytes; D_END: the stream ended (at or before |want|); D_ERR, D_SHORT
 * (input exhausted before the end), D_NOMEM. Every iteration consumes
 * input or produces output, or returns. */
static enum dst dec_read(struct dec *d, uint8_t *out, size_t want, size_t *got)
{
	*got = 0;
	if (!d->live)
		return D_END;
	if (want > UINT32_MAX)
		want = UINT32_MAX;
	while (*got < want) {
		size_t in0, out0, made;
		bool end;

		if (d->m == M_LZMA) {
			lzma_ret r;

			in0 = d->x.avail_in;
			d->x.next_out = out + *got;
			d->x.avail_out = want - *got;
			out0 = d->x.avail_out;
			r = lzma_code(&d->x, LZMA_FINISH);
			made = out0 - d->x.avail_out;
			*got += made;
			end = r == LZMA_STREAM_END;
			if (r == LZMA_MEM_ERROR)
				return D_NOMEM;
			if (r != LZMA_OK && r != LZMA_STREAM_END && r != LZMA_BUF_ERROR)
				return D_ERR;
			if (!end && made == 0 && in0 == d->x.avail_in)
				return d->x.avail_in == 0 || r == LZMA_BUF_ERROR ? D_SHORT : D_ERR;
		} else {
			int zr;

			in0 = d->z.avail_in;
			d->z.next_out = out + *got;
			d->z.avail_out = (uInt)(want - *got);
			out0 = d->z.avail_out;
			zr = inflate(&d->z, Z_NO_FLUSH);
			made = out0 - d->z.avail_out;
			*got += made;
			end = zr == Z_STREAM_END;
			if (zr == Z_MEM_ERROR)
				return D_NOMEM;
			if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
				return D_ERR;
			if (!end && made == 0 && in0 == d->z.avail_in)
				return D_SHORT;
		}
		if (end) {
			dec_close(d);
			return D_END;
		}
	}
	return D_OK;
}

static const char *dst_msg(enum dst s, bool solid)
{
	switch (s) {
	case D_ERR:
		return "nsis: damaged compressed data";
	case D_NOMEM:
		return "nsis: decoder out of memory";
	case D_END:
		return solid ? "nsis: solid stream ends inside a file" : NULL;
	default:
		return "nsis: compressed data cut short";
	}
}

/* ---- names from the script ---- */

struct xname {
	uint32_t off;   /* data offset (EW_EXTRACTFILE parm2) */
	uint32_t str;   /* string offset (parm1) */
};

struct nsis {
	struct sa_ctx *c;
	uint32_t hlen;
	/* the header block as decoded, for the names */
	uint8_t *h;
	size_t hn, hcap;
	bool hdrop;
	/* EW_EXTRACTFILE entries sorted by data offset */
	struct xname *x;
	size_t nx;
	size_t so;      /* string table offset in h */
	bool wide;      /* NSIS 3 Unicode strings */
	unsigned idx;   /* data blocks delivered */
	uint64_t doff;  /* data offset of the next block */
	bool stop;      /* a fault or a skip ended the walk */
};

static void hdr_add(struct nsis *s, const uint8_t *p, size_t n)
{
	if (s->hdrop || n == 0)
		return;
	if (n > HDR_MAX - s->hn) {
		s->hdrop = true;
		return;
	}
	if (s->hn + n > s->hcap) {
		size_t cap = s->hcap ? s->hcap : 4096;
		uint8_t *q;

		while (cap < s->hn + n)
			cap *= 2;
		if (cap > HDR_MAX)
			cap = HDR_MAX;
		q = realloc(s->h, cap);
		if (q == NULL) {
			s->hdrop = true;
			return;
		}
		s->h = q;
		s->hcap = cap;
	}
	memcpy(s->h + s->hn, p, n);
	s->hn += n;
}

static int xname_cmp(const void *a, const void *b)
{
	const struct xname *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* Collects the EW_EXTRACTFILE entries of the header (flags, then eight
 * {offset, count} blocks: pages, sections, entries, strings, ...). */
static void names_parse(struct nsis *s)
{
	const uint8_t *h = s->h;
	size_t n = s->hn, eo, ne, k = 0;

	if (s->hdrop || n < 4 + 8 * 8)
		return;
	eo = le32(h + 4 + 2 * 8);
	ne = le32(h + 4 + 2 * 8 + 4);
	s->so = le32(h + 4 + 3 * 8);
	if (eo > n || ne > (n - eo) / ENTRY_LEN || s->so >= n || ne == 0)
		return;
	/* the string table starts with an empty string: one NUL, or two
	 * (UTF-16) followed by a character whose high byte is zero */
	s->wide = n - s->so >= 4 && h[s->so] == 0 && h[s->so + 1] == 0 && h[s->so + 2] != 0 &&
		  h[s->so + 3] == 0;
	for (size_t i = 0; i < ne; i++)
		if (le32(h + eo + i * ENTRY_LEN) == EW_EXTRACTFILE)
			k++;
	if (k == 0)
		return;
	s->x = malloc(k * sizeof(*s->x));
	if (s->x == NULL)
		return;
	for (size_t i = 0; i < ne; i++) {
		const uint8_t *e = h + eo + i * ENTRY_LEN;

		if (le32(e) == EW_EXTRACTFILE)
			s->x[s->nx++] = (struct xname){ .off = le32(e + 12), .str = le32(e + 8) };
	}
	qsort(s->x, s->nx, sizeof(*s->x), xname_cmp);
}

/* The string at |str| as a member name: NSIS codes (NSIS 2: 0xFC-0xFF
 * followed by two bytes; NSIS 3: 1-4 followed by two bytes, or by one code
 * unit in UTF-16; the skip code escapes one literal character) and
 * non-ASCII characters are dropped or replaced; the last path element is
 * kept. False when nothing printable is left. */
static bool name_at(const struct nsis *s, uint32_t str, char *out, size_t cap)
{
	size_t unit = s->wide ? 2 : 1, o, k = 0;

	if ((uint64_t)str * unit >= s->hn - s->so)
		return false;
	o = s->so + (size_t)str * unit;
	for (unsigned guard = 0; guard < 4096 && s->hn - o >= unit; guard++) {
		unsigned ch = s->wide ? le16(s->h + o) : s->h[o];
		bool code = s->wide ? ch >= 1 && ch <= 4 : ch >= 0xfc || (ch >= 1 && ch <= 4);

		o += unit;
		if (ch == 0)
			break;
		if (code && (ch == 0xfc || ch == 4)) {
			/* skip code: the next character is a literal */
			if (s->hn - o < unit)
				break;
			ch = s->wide ? le16(s->h + o) : s->h[o];
			o += unit;
		} else if (code) {
			/* a variable, shell folder or language string: what
			 * it expands to is not ours to know */
			size_t arg = s->wide ? unit : 2;

			if (s->hn - o < arg)
				break;
			o += arg;
			k = 0;
			continue;
		}
		if (ch == '\\' || ch == '/') {
			k = 0;
			continue;
		}
		if (ch < 0x20 || ch >= 0x7f || ch == ':')
			ch = '_';
		if (k + 1 < cap && k < NAME_MAX_LEN)
			out[k++] = (char)ch;
	}
	out[k] = '\0';
	return k > 0 && strcmp(out, ".") != 0 && strcmp(out, "..") != 0;
}

/* The name of the data block at data offset |off|. */
static void block_name(const struct nsis *s, uint64_t off, char *out, size_t cap)
{
	size_t lo = 0, hi = s->nx;

	while (off <= UINT32_MAX && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->x[mid].off < off) {
			lo = mid + 1;
		} else if (s->x[mid].off > off) {
			hi = mid;
		} else {
			if (name_at(s, s->x[mid].str, out, cap))
				return;
			break;
		}
	}
	snprintf(out, cap, "nsis-%u", s->idx + 1);
}

/* ---- members ---- */

/* Starts the next member: the header first, then the data blocks. */
static int member_begin(struct nsis *s, bool header, int64_t declared)
{
	char name[256];

	if (header)
		snprintf(name, sizeof(name), "nsis-header");
	else
		block_name(s, s->doff, name, sizeof(name));
	return sa_begin(s->c, name, declared);
}

/* Ends a member; after the header, reads the names from it. */
static int member_end(struct nsis *s, bool header, uint32_t flags, int rc, uint64_t len)
{
	rc = sa_end(s->c, flags, rc);
	if (header) {
		if (rc == 0 && !(flags & SCAN_AMF_CORRUPT))
			names_parse(s);
	} else {
		s->idx++;
		s->doff += 4 + len;
	}
	return rc;
}

/* Pushes decoded bytes of the current member: up to |left| (UINT64_MAX:
 * to the stream's end). Returns 0, 1 (cut by a limit) or a negative code;
 * *fault names a data fault. */
static int pump(struct nsis *s, struct dec *d, uint64_t left, bool header, bool solid,
		uint64_t *done, const char **fault)
{
	size_t cap, got;
	uint8_t *out = sa_chunk(s->c, &cap);
	enum dst st = D_OK;
	int rc = 0;

	*done = 0;
	*fault = NULL;
	while (left > 0 && rc == 0) {
		size_t want = left < cap ? (size_t)left : cap;

		st = dec_read(d, out, want, &got);
		if (got > 0) {
			if (header)
				hdr_add(s, out, got);
			rc = sa_data(s->c, out, got);
			*done += got;
		}
		if (left != UINT64_MAX)
			left -= got;
		if (st != D_OK) {
			if (st != D_END || (solid && left > 0))
				*fault = dst_msg(st, solid);
			break;
		}
	}
	return rc;
}

/* One non-solid block: stored or compressed with |*m| (found on the first
 * compressed block). */
static int block(struct nsis *s, bool header, bool comp, const uint8_t *p, size_t n,
		 enum meth *m)
{
	struct dec d;
	const char *fault = NULL;
	uint64_t done = 0;
	enum dst st;
	int rc;

	if (comp && *m == M_NONE)
		*m = detect(p, n);
	if (comp && *m == M_BZIP2) {
		sa_error(s->c, "nsis: bzip2 compression not supported");
		s->stop = true;
		return 0;
	}
	rc = member_begin(s, header, comp ? (header ? (int64_t)s->hlen : -1) : (int64_t)n);
	if (rc < 0)
		return rc;
	if (rc > 0)
		return member_end(s, header, 0, 0, n);
	if (!comp) {
		if (header)
			hdr_add(s, p, n);
		rc = n > 0 ? sa_data(s->c, p, n) : 0;
		return member_end(s, header, 0, rc > 0 ? 0 : rc, n);
	}
	st = dec_open(&d, *m, p, n);
	if (st == D_OK)
		rc = pump(s, &d, UINT64_MAX, header, false, &done, &fault);
	else
		fault = dst_msg(st, false);
	dec_close(&d);
	if (fault != NULL)
		sa_error(s->c, fault);
	return member_end(s, header, fault ? SCAN_AMF_CORRUPT : 0, rc > 0 ? 0 : rc, n);
}

static int walk_blocks(struct nsis *s, const uint8_t *p, size_t o, size_t end)
{
	enum meth m = M_NONE;
	bool header = true;
	int rc;

	while (o < end && !s->stop && !sa_stopped(s->c)) {
		uint32_t v, len;

		/* the CRC-32 NSIS appends to the archive */
		if (!header && end - o == 4)
			break;
		if (end - o < 4) {
			sa_error(s->c, "nsis: truncated archive");
			break;
		}
		v = le32(p + o);
		len = v & ~TOP;
		o += 4;
		if (len > end - o) {
			sa_error(s->c, "nsis: block longer than the archive");
			break;
		}
		rc = block(s, header, (v & TOP) != 0, p + o, len, &m);
		if (rc < 0)
			return rc;
		o += len;
		header = false;
	}
	return 0;
}

static int walk_solid(struct nsis *s, enum meth m, const uint8_t *p, size_t n)
{
	struct dec d;
	enum dst st = dec_open(&d, m, p, n);
	bool header = true;
	int rc = 0;

	if (st != D_OK) {
		sa_error(s->c, dst_msg(st, true));
		return 0;
	}
	while (!s->stop && !sa_stopped(s->c)) {
		const char *fault = NULL;
		uint8_t lb[4];
		uint64_t done;
		uint32_t len;
		size_t got;

		st = dec_read(&d, lb, 4, &got);
		if (got == 0 && st == D_END)
			break;
		if (got < 4) {
			sa_error(s->c, dst_msg(st == D_OK ? D_SHORT : st, true));
			break;
		}
		len = le32(lb) & ~TOP;
		rc = member_begin(s, header, len);
		if (rc < 0)
			break;
		if (rc > 0) {
			/* skipped: the rest would be decoded for nothing */
			rc = member_end(s, header, 0, 0, len);
			break;
		}
		rc = pump(s, &d, len, header, true, &done, &fault);
		if (fault != NULL) {
			sa_error(s->c, fault);
			s->stop = true;
		}
		rc = member_end(s, header, fault ? SCAN_AMF_CORRUPT : 0, rc > 0 ? 0 : rc, len);
		if (rc < 0)
			break;
		header = false;
	}
	dec_close(&d);
	return rc < 0 ? rc : 0;
}

/* A solid stream of |m| at |p|: its first four decoded bytes are the
 * header length. */
static bool solid_probe(enum meth m, const uint8_t *p, size_t n, uint32_t hlen)
{
	struct dec d;
	uint8_t lb[4];
	size_t got = 0;
	bool ok = false;

	if (dec_open(&d, m, p, n) == D_OK) {
		dec_read(&d, lb, 4, &got);
		ok = got == 4 && le32(lb) == hlen;
	}
	dec_close(&d);
	return ok;
}

int scan_nsis_expand(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	struct nsis s = { .c = c };
	uint64_t img = 0;
	bool ndata;
	size_t fh, q, end, rem;
	uint32_t alen, v;
	int rc = 0;

	if (!pe_image(p, n, &img, &ndata))
		img = 0;
	fh = find_fh(p, n, img);
	if (fh == SIZE_MAX)
		/* a stub without an NSIS archive (or another PE whose section
		 * is named .ndata): whatever is appended goes to libarchive */
		return SA_NOT_MINE;
	s.hlen = le32(p + fh + 20);
	alen = le32(p + fh + 24);
	if (alen < FH_LEN) {
		sa_error(c, "nsis: bad archive length");
		return 0;
	}
	end = n;
	if (alen <= n - fh)
		end = fh + alen;
	else
		sa_error(c, "nsis: archive longer than the file");
	q = fh + FH_LEN;
	rem = end - q;
	if (rem < 4) {
		sa_error(c, "nsis: truncated archive");
		return 0;
	}
	v = le32(p + q);
	/* solid first: its probe is a 32-bit match; non-solid blocks must
	 * fit, the header's compressed or exactly its length */
	if (is_lzma(p + q, rem) && solid_probe(M_LZMA, p + q, rem, s.hlen)) {
		rc = walk_solid(&s, M_LZMA, p + q, rem);
	} else if (solid_probe(M_DEFLATE, p + q, rem, s.hlen)) {
		rc = walk_solid(&s, M_DEFLATE, p + q, rem);
	} else if ((v & ~TOP) <= rem - 4 && ((v & TOP) || (v & ~TOP) == s.hlen)) {
		rc = walk_blocks(&s, p, q, end);
	} else if (p[q] == 0x31) {
		sa_error(c, "nsis: bzip2 compression not supported");
	} else {
		sa_error(c, "nsis: unknown compression");
	}
	free(s.h);
	free(s.x);
	return rc;
}
