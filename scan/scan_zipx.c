/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_zipx.c - ZIP archives with members libarchive 3.6 cannot read:
 * Deflate64 (method 9) and PKWARE Implode (method 6).
 *
 * WHY A SECOND ZIP READER
 *	libarchive 3.6 stops at such a member with "unsupported compression
 *	method" (and never reaches its data), so a worm zipped by an old
 *	PKZIP (Implode) or by Windows Explorer above 2 GiB (Deflate64) would
 *	pass unscanned. Only zips having at least one such member come here
 *	(scan_zipx_sniff); every other zip keeps going through libarchive.
 *	Once here, the whole archive is ours, so that nothing is lost:
 *	stored (0) and Deflate (8, zlib raw inflate) members are delivered
 *	too, encrypted ones (flag bit 0) are flagged ENCRYPTED and not
 *	delivered as libarchive's are, and any other method is reported
 *	("zip: unsupported compression method", the member CORRUPT) while
 *	its siblings are still delivered.
 *
 * FORMAT (APPNOTE.TXT)
 *	The end of central directory record (PK 5 6, in the last 64 KiB + 22
 *	bytes; its ZIP64 locator and record when the counts overflow) gives
 *	the central directory (PK 1 2 entries: method, CRC-32, sizes, ZIP64
 *	extra field 0x0001, local header offset); data follows each local
 *	header (PK 3 4) and its own name and extra lengths. When the
 *	directory is not where the record says but ends right before it,
 *	data was prepended (self-extractor) and offsets are shifted. Without
 *	a usable directory the local headers are walked from the start; a
 *	member whose sizes are in a data descriptor (flag bit 3) can then
 *	only be found when its data ends itself (Deflate, Deflate64).
 *
 * BOUNDS
 *	Every field is read inside the input; sizes and offsets are 64-bit
 *	and checked before use. A member whose data is cut by the end of the
 *	input is decoded as far as it goes and reported. The CRC-32 and the
 *	size of each fully decoded member are checked (CORRUPT on mismatch);
 *	a member cut by a limit is not checked. Decoders: scan_zipdec.c.
 *	Errors: "zip: unsupported compression method", "zip: CRC-32
 *	mismatch", "zip: member size differs from its header", "zip: local
 *	header out of range", "zip: member data truncated", "zip: damaged
 *	deflate data", "zip: member size unknown without the central
 *	directory", "zip: truncated central directory", and zd_strerror()'s.
 */
#include <string.h>
#include <zlib.h>

#include "mxg_err.h"
#include "scan_archive.h"
#include "scan_archive_int.h"
#include "scan_zipdec.h"

#define EOCD_LEN 22
#define CDH_LEN 46
#define LFH_LEN 30
#define PIECE (64 * 1024)           /* stored data per sa_data() */

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static bool sig_at(const uint8_t *p, size_t n, uint64_t off, uint8_t a, uint8_t b)
{
	return off <= n && n - off >= 4 && p[off] == 'P' && p[off + 1] == 'K' &&
	       p[off + 2] == a && p[off + 3] == b;
}

/* One member, from the central directory or a local header. */
struct zent {
	uint16_t flags, method;
	uint32_t crc;
	uint64_t csize, usize;
	uint64_t lho;            /* local header offset (shifted) */
	const uint8_t *name;
	size_t nlen;
};

/* Where the central directory is. */
struct zcd {
	uint64_t pos, end;       /* entries in [pos, end) */
	uint64_t shift;          /* bytes prepended to the archive */
};

/* The last end of central directory record, or false. */
static bool find_eocd(const uint8_t *p, size_t n, size_t *at)
{
	size_t lo, i;

	if (n < EOCD_LEN)
		return false;
	lo = n - EOCD_LEN > 65535 ? n - EOCD_LEN - 65535 : 0;
	for (i = n - EOCD_LEN + 1; i-- > lo;) {
		if (p[i] == 'P' && p[i + 1] == 'K' && p[i + 2] == 5 && p[i + 3] == 6) {
			*at = i;
			return true;
		}
	}
	return false;
}

/* Finds the central directory. False when there is none usable. */
static bool find_cd(const uint8_t *p, size_t n, struct zcd *cd)
{
	size_t e;
	uint64_t cnt, size, off, rec;

	if (!find_eocd(p, n, &e))
		return false;
	cnt = le16(p + e + 10);
	size = le32(p + e + 12);
	off = le32(p + e + 16);
	rec = e;    /* the directory ends before this record */
	if ((cnt == 0xffff || size == 0xffffffffu || off == 0xffffffffu) && e >= 20 &&
	    sig_at(p, n, e - 20, 6, 7)) {
		uint64_t z = le64(p + e - 20 + 8);

		if (z <= n && n - z >= 56 && sig_at(p, n, z, 6, 6)) {
			size = le64(p + z + 40);
			off = le64(p + z + 48);
			rec = z;
		}
	}
	if (size > rec)
		return false;
	cd->shift = 0;
	if (off > rec - size || (size > 0 && !sig_at(p, n, off, 1, 2))) {
		/* prepended data: the directory ends where the record starts */
		if (size == 0 || !sig_at(p, n, rec - size, 1, 2) || rec - size < off)
			return false;
		cd->shift = rec - size - off;
		off = rec - size;
	}
	cd->pos = off;
	cd->end = off + size;
	return true;
}

/* Reads the central directory entry at cd->pos and moves past it. 0: an
 * entry, 1: the end, -1: a damaged directory. */
static int cd_next(const uint8_t *p, struct zcd *cd, struct zent *z)
{
	const uint8_t *h = p + cd->pos;
	uint64_t left = cd->end - cd->pos;
	size_t nlen, xlen, clen;

	if (left == 0)
		return 1;
	if (left < CDH_LEN || h[0] != 'P' || h[1] != 'K' || h[2] != 1 || h[3] != 2)
		return -1;
	nlen = le16(h + 28);
	xlen = le16(h + 30);
	clen = le16(h + 32);
	if (left - CDH_LEN < (uint64_t)nlen + xlen + clen)
		return -1;
	z->flags = le16(h + 8);
	z->method = le16(h + 10);
	z->crc = le32(h + 16);
	z->csize = le32(h + 20);
	z->usize = le32(h + 24);
	z->lho = le32(h + 42);
	z->name = h + CDH_LEN;
	z->nlen = nlen;
	/* ZIP64 extended information: the overflowed fields, in order */
	for (const uint8_t *x = h + CDH_LEN + nlen, *xe = x + xlen; xe - x >= 4;) {
		unsigned id = le16(x), sz = le16(x + 2);
		const uint8_t *q = x + 4;

		if ((size_t)(xe - q) < sz)
			break;
		if (id == 0x0001) {
			const uint8_t *qe = q + sz;

			if (z->usize == 0xffffffffu && qe - q >= 8) {
				z->usize = le64(q);
				q += 8;
			}
			if (z->csize == 0xffffffffu && qe - q >= 8) {
				z->csize = le64(q);
				q += 8;
			}
			if (z->lho == 0xffffffffu && qe - q >= 8)
				z->lho = le64(q);
			break;
		}
		x = q + sz;
	}
	z->lho += cd->shift;
	cd->pos += CDH_LEN + nlen + xlen + clen;
	return 0;
}

/* Reads the local header at |off|; *data gets where its data starts. */
static bool local_at(const uint8_t *p, size_t n, uint64_t off, struct zent *z, uint64_t *data)
{
	uint64_t d;

	if (off > n || n - off < LFH_LEN || !sig_at(p, n, off, 3, 4))
		return false;
	d = off + LFH_LEN + le16(p + off + 26) + le16(p + off + 28);
	if (d > n)
		return false;
	z->flags = le16(p + off + 6);
	z->method = le16(p + off + 8);
	z->crc = le32(p + off + 14);
	z->csize = le32(p + off + 18);
	z->usize = le32(p + off + 22);
	z->lho = off;
	z->name = p + off + LFH_LEN;
	z->nlen = le16(p + off + 26);
	*data = d;
	return true;
}

static bool ours(unsigned method)
{
	return method == 6 || method == 9;
}

bool scan_zipx_sniff(const uint8_t *p, size_t n)
{
	struct zcd cd;
	struct zent z;
	uint64_t off = 0, data;
	int rc;

	/* This runs on the head of every file, text bodies included: only a
	 * zip ("PK", local header or spanned marker at 0), a stub that may
	 * carry one appended (self-extractor, "MZ"), or data ending in an
	 * end record without comment (a damaged first header: libarchive's
	 * seeking reader finds those too) is searched further. */
	if (n < 4 || !((p[0] == 'P' && p[1] == 'K') || (p[0] == 'M' && p[1] == 'Z') ||
		       (n >= EOCD_LEN && !memcmp(p + n - EOCD_LEN, "PK\x05\x06", 4))))
		return false;
	if (find_cd(p, n, &cd)) {
		while ((rc = cd_next(p, &cd, &z)) == 0)
			if (ours(z.method))
				return true;
		if (rc > 0)
			return false;
	}
	/* no (usable) directory: the local headers, found past data whose
	 * size is in a descriptor by their signature */
	while (local_at(p, n, off, &z, &data)) {
		if (ours(z.method))
			return true;
		if ((z.flags & 0x0008) && z.csize == 0) {
			const uint8_t *q = memmem(p + data, n - data, "PK\x03\x04", 4);

			if (q == NULL)
				return false;
			off = (uint64_t)(q - p);
			continue;
		}
		if (n - data < z.csize)
			return false;
		off = data + z.csize;
	}
	return false;
}

/* ---- delivery ---- */

struct zsink {
	struct sa_ctx *c;
	uint32_t crc;
	uint64_t out;
	int rc;          /* the last sa_data() return */
};

static int sink_put(void *ud, const uint8_t *p, size_t n)
{
	struct zsink *s = ud;

	s->crc = (uint32_t)crc32(s->crc, p, (uInt)n);
	s->out += n;
	s->rc = sa_data(s->c, p, n);
	return s->rc;
}

/* Raw Deflate with zlib. Returns ZD_OK, ZD_STOP or a ZD_E_* code (a
 * zlib data error maps to ZD_E_CODE, reported as damaged deflate). */
static int inflate_zlib(struct zsink *s, const uint8_t *in, size_t n, size_t *used)
{
	z_stream z;
	size_t cap;
	uint8_t *out = sa_chunk(s->c, &cap);
	int zr = Z_OK, rc = ZD_OK;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
		return ZD_E_NOMEM;
	z.next_in = (Bytef *)in;
	/* members above 4 GiB: refilled below */
	z.avail_in = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
	while (zr == Z_OK) {
		size_t got;

		if (z.avail_in == 0 && z.total_in < n) {
			size_t left = n - z.total_in;

			z.avail_in = left > UINT32_MAX ? UINT32_MAX : (uInt)left;
		}
		z.next_out = out;
		z.avail_out = (uInt)cap;
		zr = inflate(&z, Z_NO_FLUSH);
		got = cap - z.avail_out;
		if (got > 0 && sink_put(s, out, got) != 0) {
			rc = ZD_STOP;
			break;
		}
		if (zr == Z_BUF_ERROR || (zr == Z_OK && z.avail_in == 0 && z.total_in >= n &&
					  z.avail_out != 0)) {
			rc = ZD_E_TRUNC;
			break;
		}
	}
	if (rc == ZD_OK && zr != Z_STREAM_END)
		rc = zr == Z_MEM_ERROR ? ZD_E_NOMEM : ZD_E_CODE;
	*used = z.total_in;
	inflateEnd(&z);
	return rc;
}

/* Reads a data descriptor at |off| (signature optional) into |z|. */
static bool descriptor(const uint8_t *p, size_t n, uint64_t off, struct zent *z, uint64_t *next)
{
	if (sig_at(p, n, off, 7, 8))
		off += 4;
	if (off > n || n - off < 12)
		return false;
	z->crc = le32(p + off);
	z->csize = le32(p + off + 4);
	z->usize = le32(p + off + 8);
	*next = off + 12;
	return true;
}

/* The member's name: its bytes up to a NUL, at most 255. */
static void member_name(const struct zent *z, char *out, size_t cap)
{
	size_t l = 0;

	while (l < z->nlen && l + 1 < cap && z->name[l] != 0) {
		out[l] = (char)z->name[l];
		l++;
	}
	out[l] = '\0';
}

/* Delivers one member whose data starts at |data|. |dd|: the sizes and
 * CRC are in a data descriptor after the data (local walk only); then
 * *next gets where the next header is (0: unknown). Returns 0 or a
 * negative code. */
static int member(struct sa_ctx *c, const uint8_t *p, size_t n, struct zent *z, uint64_t data,
		  bool dd, uint64_t *next)
{
	struct zsink s = { .c = c, .crc = 0, .out = 0, .rc = 0 };
	char name[256];
	uint64_t avail;
	size_t used = 0;
	uint32_t mflags = 0;
	int rc, zr;

	*next = 0;
	member_name(z, name, sizeof(name));
	/* directories carry nothing; libarchive does not deliver them either */
	if (name[0] != '\0' && (name[strlen(name) - 1] == '/' || name[strlen(name) - 1] == '\\') &&
	    z->usize == 0) {
		if (!dd)
			*next = data + z->csize;
		else if (!descriptor(p, n, data, z, next))
			*next = 0;
		return 0;
	}
	if (z->flags & 0x0001) {
		rc = sa_begin_flags(c, name, z->usize > INT64_MAX ? -1 : (int64_t)z->usize,
				    SCAN_AMF_ENCRYPTED);
		if (rc < 0)
			return rc;
		if (!dd)
			*next = data + z->csize;
		else
			sa_error(c, "zip: member size unknown without the central directory");
		return sa_end(c, 0, 0);
	}
	if (!ours(z->method) && z->method != 0 && z->method != 8) {
		rc = sa_begin(c, name, dd || z->usize > INT64_MAX ? -1 : (int64_t)z->usize);
		if (rc < 0)
			return rc;
		sa_error(c, "zip: unsupported compression method");
		if (!dd)
			*next = data + z->csize;
		else
			sa_error(c, "zip: member size unknown without the central directory");
		return sa_end(c, rc == 0 ? SCAN_AMF_CORRUPT : 0, 0);
	}
	if (dd && z->method != 8 && z->method != 9) {
		/* its end cannot be found: the walk stops here */
		sa_error(c, "zip: member size unknown without the central directory");
		return 0;
	}
	rc = sa_begin(c, name, dd || z->usize > INT64_MAX ? -1 : (int64_t)z->usize);
	if (rc < 0)
		return rc;
	if (!dd)
		*next = data + z->csize;
	if (rc > 0)
		return sa_end(c, 0, 0);
	avail = n - data;
	if (!dd && avail > z->csize)
		avail = z->csize;
	switch (z->method) {
	case 0:
		zr = ZD_OK;
		for (uint64_t o = 0; o < avail && zr == ZD_OK; o += PIECE) {
			size_t k = avail - o > PIECE ? PIECE : (size_t)(avail - o);

			if (sink_put(&s, p + data + o, k) != 0)
				zr = ZD_STOP;
		}
		if (zr == ZD_OK && avail < z->csize)
			zr = ZD_E_TRUNC;
		break;
	case 8:
		zr = inflate_zlib(&s, p + data, (size_t)avail, &used);
		break;
	case 9:
		zr = zd_inflate(p + data, (size_t)avail, true, sink_put, &s, &used);
		break;
	default: /* 6 */
		zr = zd_explode(p + data, (size_t)avail, z->flags & 0x0002, z->flags & 0x0004,
				z->usize, sink_put, &s);
		break;
	}
	/* Directory entries may all point at one member's data, and data
	 * that inflates to nothing charges no output limit: every reading is
	 * charged (a stopped budget ends the walk, sa_stopped). */
	sa_charge(c, (z->method == 8 || z->method == 9) && zr == ZD_OK ? used : avail);
	if (zr == ZD_STOP)
		return sa_end(c, 0, s.rc < 0 ? s.rc : 0);
	if (zr == ZD_E_NOMEM)
		return sa_end(c, 0, MXG_E_NOMEM);
	if (dd && (zr != ZD_OK || !descriptor(p, n, data + used, z, next))) {
		/* no descriptor: the next header may follow the data at once;
		 * a member that could not be ended stops the walk */
		*next = zr == ZD_OK ? data + used : 0;
		z->usize = s.out;
		z->crc = s.crc;
	}
	if (zr != ZD_OK) {
		/* data cut by the end of the input: say so rather than the codec's
		 * view of it */
		if (!dd && avail < z->csize)
			sa_error(c, "zip: member data truncated");
		else if (zr == ZD_E_CODE && z->method == 8)
			sa_error(c, "zip: damaged deflate data");
		else
			sa_error(c, zd_strerror(zr));
		mflags |= SCAN_AMF_CORRUPT;
	} else if (s.out != z->usize) {
		sa_error(c, "zip: member size differs from its header");
		mflags |= SCAN_AMF_CORRUPT;
	} else if (s.crc != z->crc) {
		sa_error(c, "zip: CRC-32 mismatch");
		mflags |= SCAN_AMF_CORRUPT;
	}
	return sa_end(c, mflags, 0);
}

int scan_zipx_expand(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	struct zcd cd;
	struct zent z, l;
	uint64_t off = 0, data, next;
	int rc = 0, more = 1;

	if (find_cd(p, n, &cd)) {
		while (!sa_stopped(c) && (more = cd_next(p, &cd, &z)) == 0) {
			if (!local_at(p, n, z.lho, &l, &data)) {
				char name[256];

				/* listed but not there: still named, as CORRUPT */
				member_name(&z, name, sizeof(name));
				rc = sa_begin(c, name, -1);
				if (rc < 0)
					return rc;
				sa_error(c, "zip: local header out of range");
				rc = sa_end(c, rc == 0 ? SCAN_AMF_CORRUPT : 0, 0);
			} else {
				/* the directory's sizes and CRC: the local ones may
				 * be zero (data descriptor) */
				rc = member(c, p, n, &z, data, false, &next);
			}
			if (rc < 0)
				return rc;
		}
		if (more < 0 && !sa_stopped(c))
			sa_error(c, "zip: truncated central directory");
		return 0;
	}
	while (!sa_stopped(c) && local_at(p, n, off, &z, &data)) {
		bool dd = (z.flags & 0x0008) && z.csize == 0;

		rc = member(c, p, n, &z, data, dd, &next);
		if (rc < 0)
			return rc;
		if (next <= off || next > n)
			break;
		off = next;
	}
	return 0;
}
