/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_ole2.c - OLE2 compound files (.doc, .xls, .ppt, .msg, .msi): every
 * stream becomes a member, and the file inside an embedded OLE1 package
 * ("\001Ole10Native", what "insert object" puts into a Word document) one
 * more.
 *
 * FORMAT ([MS-CFB])
 *	A 512-byte header (signature D0CF11E0A1B11AE1, sector shift 9 or 12,
 *	mini sector shift 6, the first 109 FAT sector numbers, the DIFAT
 *	chain for more), sectors of 512 or 4096 bytes numbered from the one
 *	after the header, the FAT chaining them, the directory (128-byte
 *	entries: UTF-16 name, type, start sector, size), the mini stream (in
 *	the root entry's chain) holding streams under 4096 bytes in 64-byte
 *	mini sectors chained by the mini FAT. The Ole10Native stream: a 32-bit
 *	size, then the OLE1 Package data (type, label, path, temporary path,
 *	the file's size and bytes). A "PowerPoint Document" stream is a
 *	sequence of records ([MS-PPT] 2.3.1: version, instance, type, length;
 *	version 0xF is a container); an ExOleObjStg record (0x1011) holds an
 *	embedded object's OLE2 storage, zlib-compressed after a 32-bit size
 *	when its instance is 1: it becomes a member "oleobjectN", read again
 *	as OLE2 (depth counted).
 *
 * BOUNDS
 *	No table is copied: FAT and mini FAT entries are read where they lie,
 *	each sector number checked against the file before use; every chain
 *	walk stops after as many steps as the file has sectors (a loop in a
 *	chain is reported, not followed forever); at most 4096 directory
 *	entries. The mini stream's sector list is cached for its first 2048
 *	sectors (1 MiB of small streams with 512-byte sectors); beyond it,
 *	small streams are reported, not read. Stream sizes are trusted only as
 *	far as their chain goes. Errors (static text, CORRUPT; the other
 *	streams are still delivered): "ole2: bad header", "ole2: sector out of
 *	range", "ole2: chain loops or ends early", "ole2: mini stream too
 *	large", "ole2: package header damaged", "ole2: PowerPoint stream
 *	unreadable" (damaged, or over 8 MiB with 512-byte sectors: its
 *	sector list must fit the 64 KiB scratch), "ole2: PowerPoint record
 *	longer than its stream", "ole2: damaged PowerPoint object". At most
 *	100000 PowerPoint records.
 */
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "scan_archive.h"
#include "scan_archive_int.h"

#define ENDOFCHAIN 0xfffffffeu
#define FREESECT 0xffffffffu
#define DIR_MAX 4096
#define MINI_CACHE 2048

struct cfb {
	struct sa_ctx *c;
	const uint8_t *p;
	size_t n;
	unsigned shift;       /* sector shift: 9 or 12 */
	size_t ssz;           /* sector size */
	uint32_t nsect;       /* sectors in the file after the header */
	uint32_t cutoff;      /* mini stream cutoff */
	uint32_t minifat;     /* first mini FAT sector */
	uint32_t mini[MINI_CACHE]; /* the mini stream's sectors */
	uint32_t nmini;
	bool mini_over;       /* mini stream longer than the cache */
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool scan_ole2_sniff(const uint8_t *p, size_t n)
{
	return n >= 8 && memcmp(p, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8) == 0;
}

static const uint8_t *sector(const struct cfb *f, uint32_t s)
{
	if (s >= f->nsect)
		return NULL;
	return f->p + ((size_t)(s + 1) << f->shift);
}

/* FAT sector number |i| (from the header or the DIFAT chain), or FREESECT. */
static uint32_t fat_sector(const struct cfb *f, uint32_t i)
{
	uint32_t per = (uint32_t)(f->ssz / 4) - 1, d = le32(f->p + 0x44);

	if (i < 109)
		return le32(f->p + 0x4c + 4 * i);
	i -= 109;
	for (uint32_t steps = 0; steps <= f->nsect; steps++) {
		const uint8_t *s = sector(f, d);

		if (s == NULL)
			return FREESECT;
		if (i < per)
			return le32(s + 4 * i);
		i -= per;
		d = le32(s + 4 * per);
	}
	return FREESECT;
}

/* The FAT entry of sector |s| (the next in its chain). */
static uint32_t fat_next(const struct cfb *f, uint32_t s)
{
	uint32_t per = (uint32_t)(f->ssz / 4);
	const uint8_t *fs = sector(f, fat_sector(f, s / per));

	return fs ? le32(fs + 4 * (s % per)) : FREESECT;
}

/* The mini FAT entry of mini sector |m|. */
static uint32_t minifat_next(const struct cfb *f, uint32_t m)
{
	uint32_t per = (uint32_t)(f->ssz / 4), s = f->minifat, k = m / per;

	for (uint32_t steps = 0; steps < k; steps++) {
		s = fat_next(f, s);
		if (steps > f->nsect)
			return FREESECT;
	}
	return sector(f, s) ? le32(sector(f, s) + 4 * (m % per)) : FREESECT;
}

/* Bytes of mini sector |m|, or NULL. */
static const uint8_t *mini_sector(const struct cfb *f, uint32_t m)
{
	size_t off = (size_t)m * 64;
	uint32_t k = (uint32_t)(off >> f->shift);

	if (k >= f->nmini)
		return NULL;
	return sector(f, f->mini[k]) + (off & (f->ssz - 1));
}

/* Reads |size| bytes of the stream at |start|: to |gather| (capacity
 * |cap|, *got set) when not NULL, else pushed to the current member.
 * Returns 0, 1 (a limit cut the member), 2 (damaged, reported; or too
 * big for |gather|) or a negative code. */
static int stream_read(struct cfb *f, uint32_t start, uint64_t size, uint8_t *gather, size_t cap,
		       size_t *got)
{
	bool small = size < f->cutoff;
	size_t unit = small ? 64 : f->ssz;
	uint64_t left = size;
	uint32_t s = start;
	int rc = 0;

	if (got)
		*got = 0;
	if (small && f->mini_over) {
		sa_error(f->c, "ole2: mini stream too large");
		return 2;
	}
	for (uint64_t steps = 0; left > 0; steps++) {
		const uint8_t *b = small ? mini_sector(f, s) : sector(f, s);
		size_t k = left < unit ? (size_t)left : unit;

		if (b == NULL || steps > (uint64_t)f->nsect * (f->ssz / 64)) {
			sa_error(f->c, b == NULL && s < ENDOFCHAIN ? "ole2: sector out of range"
								   : "ole2: chain loops or ends early");
			return 2;
		}
		if (gather) {
			if (*got + k > cap)
				return 2;
			memcpy(gather + *got, b, k);
			*got += k;
		} else {
			rc = sa_data(f->c, b, k);
			if (rc != 0)
				return rc;
		}
		left -= k;
		if (left > 0)
			s = small ? minifat_next(f, s) : fat_next(f, s);
	}
	return 0;
}

/* The file of an OLE1 package in |d| (an Ole10Native stream). */
static int package(struct cfb *f, const uint8_t *d, size_t n)
{
	size_t i = 4 + 2, k;
	uint32_t fsize;
	char label[256];
	int rc;

	/* label, source path: NUL-terminated */
	for (k = 0; i < n && d[i] != 0; i++)
		if (k + 1 < sizeof(label))
			label[k++] = (char)d[i];
	label[k] = '\0';
	i++;
	while (i < n && d[i] != 0)
		i++;
	i += 1 + 4; /* NUL, two 16-bit values */
	if (i + 4 > n || le32(d + i) > n - i - 4) {
		sa_error(f->c, "ole2: package header damaged");
		return 0;
	}
	i += 4 + le32(d + i); /* temporary path */
	if (i + 4 > n || le32(d + i) > n - i - 4) {
		sa_error(f->c, "ole2: package header damaged");
		return 0;
	}
	fsize = le32(d + i);
	rc = sa_begin(f->c, label[0] ? label : "package", fsize);
	if (rc < 0)
		return rc;
	if (rc == 0 && fsize > 0)
		rc = sa_data(f->c, d + i + 4, fsize);
	return sa_end(f->c, 0, rc > 0 ? 0 : rc);
}

/* ---- PowerPoint: embedded OLE objects (ExOleObjStg records) ---- */

#define PPT_EXOLEOBJSTG 0x1011
#define PPT_RECORDS_MAX 100000

/* The sectors of a big stream into |list| (|cap| entries). False when the
 * chain is damaged or longer than |cap|. */
static bool chain_list(const struct cfb *f, uint32_t start, uint64_t size, uint32_t *list,
		       size_t cap, size_t *nl)
{
	uint64_t need = (size + f->ssz - 1) >> f->shift;
	uint32_t s = start;

	if (need > cap)
		return false;
	for (*nl = 0; *nl < need; (*nl)++) {
		if (sector(f, s) == NULL)
			return false;
		list[*nl] = s;
		s = fat_next(f, s);
	}
	return true;
}

/* Copies |len| bytes at |off| of the listed stream of |size| bytes. */
static bool sread(const struct cfb *f, const uint32_t *list, uint64_t size, uint64_t off,
		  uint8_t *out, size_t len)
{
	if (off > size || len > size - off)
		return false;
	while (len > 0) {
		size_t in = (size_t)(off & (f->ssz - 1)), k = f->ssz - in;

		if (k > len)
			k = len;
		memcpy(out, sector(f, list[off >> f->shift]) + in, k);
		out += k;
		off += k;
		len -= k;
	}
	return true;
}

/* Delivers the object stored at |off| (|len| bytes) of the listed stream:
 * zlib-inflated when |compressed| (after its 32-bit size), else as is. */
static int ppt_object(struct cfb *f, const uint32_t *list, uint64_t size, uint64_t off,
		      uint64_t len, bool compressed, unsigned idx)
{
	uint8_t in[512], out[4096];
	z_stream z;
	char name[32];
	uint32_t mflags = 0;
	int rc, zr = Z_OK;

	snprintf(name, sizeof(name), "oleobject%u", idx);
	rc = sa_begin(f->c, name, compressed ? -1 : (int64_t)len);
	if (rc != 0)
		return rc < 0 ? rc : sa_end(f->c, 0, 0);
	memset(&z, 0, sizeof(z));
	if (compressed) {
		if (len < 4 || inflateInit(&z) != Z_OK)
			return sa_end(f->c, 0, 0);
		off += 4;
		len -= 4;
	}
	while (rc == 0 && len > 0 && zr == Z_OK) {
		size_t k = len < sizeof(in) ? (size_t)len : sizeof(in);

		if (!sread(f, list, size, off, in, k))
			break;
		off += k;
		len -= k;
		if (!compressed) {
			rc = sa_data(f->c, in, k);
			continue;
		}
		z.next_in = in;
		z.avail_in = (uInt)k;
		while (rc == 0 && z.avail_in > 0 && zr == Z_OK) {
			z.next_out = out;
			z.avail_out = sizeof(out);
			zr = inflate(&z, Z_NO_FLUSH);
			if (sizeof(out) - z.avail_out > 0)
				rc = sa_data(f->c, out, sizeof(out) - z.avail_out);
			if (zr == Z_BUF_ERROR)
				zr = Z_OK; /* needs more input */
		}
	}
	if (compressed) {
		if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT || zr == Z_MEM_ERROR) {
			sa_error(f->c, "ole2: damaged PowerPoint object");
			mflags |= SCAN_AMF_CORRUPT;
		}
		inflateEnd(&z);
	}
	return sa_end(f->c, mflags, rc > 0 ? 0 : rc);
}

/* Walks the records of a "PowerPoint Document" stream (containers are
 * entered, atoms skipped) and delivers each ExOleObjStg. The sector list
 * lives in the scratch chunk, which a nested expansion reuses: it is
 * rebuilt after every object. */
static int ppt_objects(struct cfb *f, uint32_t start, uint64_t size)
{
	uint64_t off = 0;
	unsigned idx = 0;
	size_t cap, nl;
	uint32_t *list;
	int rc = 0;

	if (size < f->cutoff)
		return 0; /* a presentation this small holds no object */
	for (unsigned recs = 0; rc == 0 && !sa_stopped(f->c) && off + 8 <= size; recs++) {
		uint8_t h[8];
		unsigned ver, inst, type;
		uint32_t len;

		list = (uint32_t *)sa_chunk(f->c, &cap);
		if (!chain_list(f, start, size, list, cap / 4, &nl)) {
			sa_error(f->c, "ole2: PowerPoint stream unreadable");
			break;
		}
		if (recs > PPT_RECORDS_MAX || !sread(f, list, size, off, h, 8))
			break;
		ver = h[0] & 0xf;
		inst = (unsigned)(h[0] >> 4 | h[1] << 4);
		type = (unsigned)(h[2] | h[3] << 8);
		len = le32(h + 4);
		off += 8;
		if (ver == 0xf)
			continue; /* a container: its records follow */
		if (len > size - off) {
			sa_error(f->c, "ole2: PowerPoint record longer than its stream");
			break;
		}
		if (type == PPT_EXOLEOBJSTG)
			rc = ppt_object(f, list, size, off, len, inst == 1, ++idx);
		off += len;
	}
	return rc;
}

int scan_ole2_expand(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	struct cfb fs, *f = &fs;
	uint32_t d, nent = 0;
	int rc = 0;

	memset(f, 0, sizeof(*f));
	f->c = c;
	f->p = p;
	f->n = n;
	if (n < 512 || (p[0x1e] != 9 && p[0x1e] != 12) || p[0x20] != 6) {
		sa_error(c, "ole2: bad header");
		return 0;
	}
	f->shift = p[0x1e];
	f->ssz = (size_t)1 << f->shift;
	if (n < 2 * f->ssz) {
		sa_error(c, "ole2: bad header");
		return 0;
	}
	f->nsect = (uint32_t)((n >> f->shift) - 1 > 0xfffffff0u ? 0xfffffff0u : (n >> f->shift) - 1);
	f->cutoff = le32(p + 0x38);
	f->minifat = le32(p + 0x3c);
	if (f->cutoff == 0 || f->cutoff > (1u << 20))
		f->cutoff = 4096;
	/* walk the directory chain, entry by entry */
	d = le32(p + 0x30);
	for (uint32_t steps = 0; rc == 0 && !sa_stopped(c) && d != ENDOFCHAIN; steps++) {
		const uint8_t *ds = sector(f, d);

		if (ds == NULL || steps > f->nsect) {
			sa_error(c, ds == NULL ? "ole2: sector out of range"
					       : "ole2: chain loops or ends early");
			break;
		}
		for (size_t e = 0; e + 128 <= f->ssz && rc == 0 && !sa_stopped(c); e += 128) {
			const uint8_t *de = ds + e;
			unsigned nl = (unsigned)de[0x40] | (unsigned)de[0x41] << 8, k, o = 0;
			uint32_t start = le32(de + 0x74);
			uint64_t size = le32(de + 0x78);
			char name[80];

			if (++nent > DIR_MAX)
				break;
			if (f->shift == 12)
				size |= (uint64_t)le32(de + 0x7c) << 32;
			if (de[0x42] == 5) { /* root: the mini stream's chain */
				uint32_t s = start;

				for (f->nmini = 0; s != ENDOFCHAIN && sector(f, s) != NULL &&
						   f->nmini < MINI_CACHE;
				     s = fat_next(f, s))
					f->mini[f->nmini++] = s;
				f->mini_over = f->nmini == MINI_CACHE && s != ENDOFCHAIN;
				continue;
			}
			if (de[0x42] != 2)
				continue;
			/* UTF-16LE name, printable ASCII kept, others as '_' */
			for (k = 0; k + 1 < nl && k < 64 && o + 1 < sizeof(name); k += 2) {
				uint16_t ch = (uint16_t)(de[k] | de[k + 1] << 8);

				if (ch == 0)
					break;
				name[o++] = ch >= 0x20 && ch < 0x7f && ch != '/' ? (char)ch : '_';
			}
			name[o] = '\0';
			if (size > n)
				size = n; /* the chain decides how much there is */
			if (de[0] == 1 && !strcmp(name + 1, "Ole10Native")) {
				size_t cap, got;
				uint8_t *g = sa_chunk(c, &cap);

				if (stream_read(f, start, size, g, cap, &got) == 0 &&
				    (rc = package(f, g, got)) < 0)
					return rc;
			}
			rc = sa_begin(c, name, (int64_t)size);
			if (rc < 0)
				return rc;
			if (rc == 0)
				rc = stream_read(f, start, size, NULL, 0, NULL);
			rc = sa_end(c, rc == 2 ? SCAN_AMF_CORRUPT : 0, rc > 0 ? 0 : rc);
			if (rc == 0 && !strcmp(name, "PowerPoint Document"))
				rc = ppt_objects(f, start, size);
		}
		d = fat_next(f, d);
	}
	return rc;
}
