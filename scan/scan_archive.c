/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_archive.c - bounded, recursive archive expansion with libarchive.
 *
 * FORMATS
 *	Whatever libarchive 3.6 reads with read_support_format_all() and
 *	read_support_filter_all(), plus format_raw so that a lone compressed
 *	stream (x.gz, x.bz2, x.xz, x.zst) becomes one member. Raw format with
 *	no filter means "not an archive" and is reported as such.
 *	Formats libarchive does not read (SZDD, BinHex, TNEF, OneNote, RTF
 *	objects, PDF streams, OLE2 streams) are sniffed first and handed to
 *	our decoders (scan_archive_int.h); their members go through the same
 *	memb_begin/memb_push/memb_end as libarchive's, so every limit and the
 *	recursion apply to both.
 *
 * LIMITS AND WORK
 *	Every byte libarchive pulls from the input goes through read_cb()
 *	(seeks and skips cost SEEK_COST), every decompressed byte through
 *	member_data(); both count against work_budget, and decompressed bytes
 *	against the member, total and ratio limits. A limit sets a->stop and
 *	the expansion unwinds: read_cb() then fails every read, so libarchive
 *	returns quickly whatever it was doing. That is the time bound (no
 *	clock: sans-IO). TOO_DEEP does not stop the walk: siblings of the
 *	too-deep archive are still delivered and scanned.
 *
 * WHY BUFFER NESTED ARCHIVES
 *	Opening a nested archive through a read callback that pulls from the
 *	parent's archive_read_data() would avoid the buffer, but 7z, zip
 *	(central directory) and rar need seeks; buffering up to
 *	max_nested_bytes keeps every format working and the bound explicit.
 *
 * Allocation: our buffers through struct mxg_mem; libarchive uses malloc.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mxg_err.h"
#include "scan_archive.h"
#include "scan_archive_int.h"

#define CHUNK (64 * 1024)  /* decompressed bytes per archive_read_data() */
#define READ_BLOCK (64 * 1024)
#define SEEK_COST 4096      /* work units charged per seek or skip */

struct scan_archive {
	const struct mxg_mem *mem;
	struct scan_archive_limits lim;
	uint8_t *chunk;                       /* CHUNK bytes, reused by every level */
	/* per expansion */
	const struct scan_archive_callbacks *cb;
	void *ud;
	struct scan_archive_result *res;
	size_t top_len;                       /* input bytes of the top level */
	int stop;                             /* 1: a limit hit; < 0: callback/NOMEM code */
};

/* One open archive (a level of the recursion). */
struct level {
	struct scan_archive *a;
	const uint8_t *buf;   /* the archive bytes (borrowed) */
	size_t len;
	size_t pos;           /* read position of read_cb */
	uint64_t out;         /* decompressed bytes of this archive's members */
	uint32_t depth;       /* depth of its members */
	const char *path;     /* path of this archive */
	const char *name;     /* its own name (last path element) */
	uint32_t members;     /* members begun in this archive */
	bool force_raw;       /* second pass: the filtered stream as one member */
	bool rar5_enc;        /* RAR5 with encryption records (libarchive 3.6 misses them) */
};

void scan_archive_limits_default(struct scan_archive_limits *l)
{
	l->max_depth = 10;
	l->max_members = 10000;
	l->max_total_bytes = 512ull << 20;
	l->max_member_bytes = 256ull << 20;
	l->max_nested_bytes = 32ull << 20;
	l->max_ratio = 250;
	l->ratio_min_bytes = 1ull << 20;
	l->work_budget = 1ull << 30;
}

struct scan_archive *scan_archive_new(const struct mxg_mem *mem,
				      const struct scan_archive_limits *limits)
{
	struct scan_archive *a;

	if (mem == NULL)
		mem = mxg_mem_default();
	a = mxg_calloc(mem, 1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->mem = mem;
	if (limits != NULL)
		a->lim = *limits;
	else
		scan_archive_limits_default(&a->lim);
	a->chunk = mxg_malloc(mem, CHUNK);
	if (a->chunk == NULL) {
		mxg_free(mem, a);
		return NULL;
	}
	return a;
}

void scan_archive_free(struct scan_archive *a)
{
	if (a == NULL)
		return;
	mxg_free(a->mem, a->chunk);
	mxg_free(a->mem, a);
}

/* Records the first limit hit and stops the walk (DEPTH only flags). */
static void hit_limit(struct scan_archive *a, enum scan_archive_limit l, const char *where)
{
	struct scan_archive_result *r = a->res;

	if (r->limit == SCAN_ARCHIVE_LIM_NONE) {
		r->limit = l;
		snprintf(r->limit_path, sizeof(r->limit_path), "%s", where);
	}
	if (l == SCAN_ARCHIVE_LIM_DEPTH) {
		r->flags |= SCAN_ARF_TOO_DEEP;
		return;
	}
	r->flags |= SCAN_ARF_BOMB;
	if (a->stop == 0)
		a->stop = 1;
}

/* Charges |n| work units; false (and a stop) when the budget is gone. */
static bool charge(struct scan_archive *a, uint64_t n, const char *where)
{
	a->res->work += n;
	if (a->res->work > a->lim.work_budget) {
		hit_limit(a, SCAN_ARCHIVE_LIM_WORK, where);
		return false;
	}
	return true;
}

/* ---- libarchive client callbacks over a memory buffer ---- */

static la_ssize_t read_cb(struct archive *ar, void *cd, const void **out)
{
	struct level *lv = cd;
	size_t n = lv->len - lv->pos;

	if (lv->a->stop != 0) {
		archive_set_error(ar, EIO, "expansion stopped");
		return -1;
	}
	if (n > READ_BLOCK)
		n = READ_BLOCK;
	if (n > 0 && !charge(lv->a, n, lv->path)) {
		archive_set_error(ar, EIO, "work budget exhausted");
		return -1;
	}
	*out = lv->buf + lv->pos;
	lv->pos += n;
	return (la_ssize_t)n;
}

static la_int64_t seek_cb(struct archive *ar, void *cd, la_int64_t off, int whence)
{
	struct level *lv = cd;
	la_int64_t np;

	if (lv->a->stop != 0 || !charge(lv->a, SEEK_COST, lv->path))
		return ARCHIVE_FATAL;
	switch (whence) {
	case SEEK_SET: np = off; break;
	case SEEK_CUR: np = (la_int64_t)lv->pos + off; break;
	case SEEK_END: np = (la_int64_t)lv->len + off; break;
	default: return ARCHIVE_FATAL;
	}
	if (np < 0)
		return ARCHIVE_FATAL;
	if ((uint64_t)np > lv->len)
		np = (la_int64_t)lv->len;
	lv->pos = (size_t)np;
	return np;
}

static la_int64_t skip_cb(struct archive *ar, void *cd, la_int64_t req)
{
	struct level *lv = cd;
	size_t n = lv->len - lv->pos;

	if (lv->a->stop != 0 || req <= 0 || !charge(lv->a, SEEK_COST, lv->path))
		return 0;
	if ((uint64_t)req < n)
		n = (size_t)req;
	lv->pos += n;
	return (la_int64_t)n;
}

/* ---- helpers ---- */

static bool tar_like(const uint8_t *p, size_t n);
static bool cpio_bin_like(const uint8_t *p, size_t n);
static const struct own_format *own_format(const uint8_t *p, size_t n);

bool scan_archive_sniff(const uint8_t *p, size_t n)
{
	static const struct {
		uint16_t off;
		uint8_t len;
		const char *magic;
	} sig[] = {
		{ 0, 4, "PK\x03\x04" }, { 0, 4, "PK\x05\x06" }, { 0, 4, "PK\x07\x08" },
		{ 0, 2, "\x1f\x8b" },   { 0, 2, "\x1f\x9d" },   { 0, 6, "\xfd" "7zXZ\x00" },
		{ 0, 6, "7z\xbc\xaf\x27\x1c" }, { 0, 6, "Rar!\x1a\x07" },
		{ 0, 8, "MSCF\x00\x00\x00\x00" }, { 257, 5, "ustar" }, { 0, 8, "!<arch>\n" },
		{ 0, 6, "070701" },     { 0, 6, "070707" },     { 0, 6, "070702" },
		{ 0, 4, "LZIP" },       { 0, 4, "\x28\xb5\x2f\xfd" }, { 0, 4, "\x04\x22\x4d\x18" },
		{ 0, 4, "xar!" },
	};

	for (size_t i = 0; i < sizeof(sig) / sizeof(sig[0]); i++) {
		if (n >= (size_t)sig[i].off + sig[i].len &&
		    memcmp(p + sig[i].off, sig[i].magic, sig[i].len) == 0)
			return true;
	}
	/* bzip2: "BZh" + block size digit + block magic 0x314159 */
	if (n >= 7 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h' && p[3] >= '1' && p[3] <= '9' &&
	    ((p[4] == 0x31 && p[5] == 0x41 && p[6] == 0x59) ||
	     (p[4] == 0x17 && p[5] == 0x72 && p[6] == 0x45)))
		return true;
	if (tar_like(p, n))
		return true;
	/* lha: "-lh?-" or "-lz?-" at offset 2 */
	if (n >= 7 && p[2] == '-' && p[3] == 'l' && (p[4] == 'h' || p[4] == 'z') && p[6] == '-')
		return true;
	if (cpio_bin_like(p, n))
		return true;
	/* ISO 9660 / UDF: a volume descriptor after the 32 KiB system area */
	if (n >= 0x8006 && (memcmp(p + 0x8001, "CD001", 5) == 0 ||
			    memcmp(p + 0x8001, "BEA01", 5) == 0))
		return true;
	return own_format(p, n) != NULL;
}

bool scan_archive_sniff_defer(const uint8_t *p, size_t n)
{
	/* the system area of an ISO 9660 image (32 KiB) is zero in practice;
	 * 512 bytes of zeros say little, but holding such a file whole is
	 * what it takes to see the volume descriptor */
	if (n < 512)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* Old binary cpio (magic 070707 as a 16-bit word, either byte order): the
 * name size must be sane and the name NUL-terminated where it says, and
 * the mode a known file type. A 2-byte magic alone would claim too much. */
static bool cpio_bin_like(const uint8_t *p, size_t n)
{
	bool le;
	unsigned mode, nsz;

	if (n < 28)
		return false;
	if (p[0] == 0xc7 && p[1] == 0x71)
		le = true;
	else if (p[0] == 0x71 && p[1] == 0xc7)
		le = false;
	else
		return false;
	mode = le ? (unsigned)p[6] | (unsigned)p[7] << 8 : (unsigned)p[6] << 8 | p[7];
	nsz = le ? (unsigned)p[20] | (unsigned)p[21] << 8 : (unsigned)p[20] << 8 | p[21];
	switch (mode & 0170000) {
	case 0100000: case 0040000: case 0120000: case 0060000: case 0020000:
	case 0010000: case 0140000:
		break;
	default:
		return false;
	}
	if (nsz < 2 || nsz > 1024 || 26 + (size_t)nsz > n)
		return false;
	return p[26 + nsz - 1] == 0 && p[26] != 0;
}

/* An old (v7) or damaged tar header: octal mode, size and checksum fields
 * where a tar header has them, and a printable name. */
static bool tar_like(const uint8_t *p, size_t n)
{
	static const struct { uint16_t off, len; } f[] = { { 100, 6 }, { 124, 11 }, { 148, 6 } };

	if (n < 512 || p[0] < 0x20 || p[0] > 0x7e)
		return false;
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		for (unsigned k = 0; k < f[i].len; k++)
			if ((p[f[i].off + k] < '0' || p[f[i].off + k] > '7') && p[f[i].off + k] != ' ')
				return false;
	return true;
}

/* Reads a RAR5 variable-length integer; false when it runs out. */
static bool vint(const uint8_t *p, size_t end, size_t *pos, uint64_t *v)
{
	*v = 0;
	for (unsigned sh = 0; *pos < end && sh < 64; sh += 7) {
		uint8_t b = p[(*pos)++];

		*v |= (uint64_t)(b & 0x7f) << sh;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/* True when a RAR5 archive has an archive encryption header or a file
 * header with an encryption extra record. libarchive 3.6 reads neither and
 * reports checksum errors instead. Walks at most 100000 headers. */
static bool rar5_encrypted(const uint8_t *p, size_t n)
{
	size_t pos = 8;

	if (n < 8 || memcmp(p, "Rar!\x1a\x07\x01\x00", 8) != 0)
		return false;
	for (unsigned iter = 0; iter < 100000 && pos + 4 < n; iter++) {
		uint64_t hsize, type, flags, extra = 0, data = 0;
		size_t hend;

		pos += 4; /* header CRC32 */
		if (!vint(p, n, &pos, &hsize) || hsize == 0 || hsize > n - pos)
			return false;
		hend = pos + (size_t)hsize;
		if (!vint(p, hend, &pos, &type) || !vint(p, hend, &pos, &flags))
			return false;
		if (type == 4)
			return true; /* archive encryption header: all headers encrypted */
		if ((flags & 1) && !vint(p, hend, &pos, &extra))
			return false;
		if ((flags & 2) && !vint(p, hend, &pos, &data))
			return false;
		if ((type == 2 || type == 3) && extra > 0 && extra <= hsize) {
			size_t q = hend - (size_t)extra;

			while (q < hend) {
				uint64_t rsize, rtype;
				size_t rstart;

				if (!vint(p, hend, &q, &rsize))
					break;
				rstart = q;
				if (!vint(p, hend, &q, &rtype))
					break;
				if (rtype == 1)
					return true;
				if (rsize > hend - rstart)
					break;
				q = rstart + (size_t)rsize;
			}
		}
		if (type == 5)
			return false; /* end of archive */
		if (data > n - hend)
			return false;
		pos = hend + (size_t)data;
	}
	return false;
}

/* Flags names that would escape an extraction directory. */
static uint32_t name_flags(const char *name)
{
	uint32_t f = 0;
	const char *s = name;

	if (name[0] == '/' || name[0] == '\\' ||
	    (((name[0] | 0x20) >= 'a' && (name[0] | 0x20) <= 'z') && name[1] == ':'))
		f |= SCAN_AMF_ABSOLUTE;
	while (*s != '\0') {
		size_t seg = strcspn(s, "/\\");

		if (seg == 2 && s[0] == '.' && s[1] == '.')
			f |= SCAN_AMF_TRAVERSAL;
		s += seg;
		if (*s != '\0')
			s++;
	}
	return f;
}

/* |opened|: archive_read_open1() succeeded. Before that (and after it
 * failed) archive_read_has_encrypted_entries() may dereference a format
 * that was never set up (libarchive 3.6.2, found by fuzz_archive). */
static bool is_encryption_error(struct archive *ar, bool opened)
{
	const char *e = archive_error_string(ar);

	if (opened && archive_read_has_encrypted_entries(ar) > 0)
		return true;
	return e != NULL && (strstr(e, "ncrypt") != NULL || strstr(e, "assword") != NULL ||
			     strstr(e, "ecryption") != NULL);
}

/* Name of the single member of a compressed stream: the archive's own name
 * without its last extension ("x.tar.gz" -> "x.tar"). */
static void raw_name(const char *parent, char *out, size_t cap)
{
	const char *dot = strrchr(parent, '.');
	size_t n = dot != NULL && dot != parent ? (size_t)(dot - parent) : strlen(parent);

	if (n == 0 || n >= cap) {
		snprintf(out, cap, "data");
		return;
	}
	memcpy(out, parent, n);
	out[n] = '\0';
}

static void format_name(struct archive *ar, char *out, size_t cap)
{
	int nf = archive_filter_count(ar);
	size_t o;

	o = (size_t)snprintf(out, cap, "%s", archive_format_name(ar) ? archive_format_name(ar) : "?");
	for (int i = 0; i < nf && o < cap; i++) {
		if (archive_filter_code(ar, i) == ARCHIVE_FILTER_NONE)
			continue;
		o += (size_t)snprintf(out + o, cap - o, "+%s", archive_filter_name(ar, i));
	}
}

static int expand_level(struct scan_archive *a, struct level *lv);

/* Buffer of a member that will be expanded after its end. */
struct nested {
	uint8_t *p;
	size_t n, cap;
	bool on;        /* collecting */
	bool dropped;   /* over max_nested_bytes */
};

static int nested_add(struct scan_archive *a, struct nested *nb, const uint8_t *p, size_t n)
{
	/* n is 0 when a limit cut the chunk: nb->p may still be NULL */
	if (n == 0 || !nb->on || nb->dropped)
		return 0;
	if (nb->n + n > a->lim.max_nested_bytes) {
		nb->dropped = true;
		return 0;
	}
	if (nb->n + n > nb->cap) {
		size_t cap = nb->cap ? nb->cap : 64 * 1024;
		uint8_t *q;

		while (cap < nb->n + n)
			cap *= 2;
		if (cap > a->lim.max_nested_bytes)
			cap = a->lim.max_nested_bytes;
		q = mxg_realloc(a->mem, nb->p, cap);
		if (q == NULL)
			return MXG_E_NOMEM;
		nb->p = q;
		nb->cap = cap;
	}
	memcpy(nb->p + nb->n, p, n);
	nb->n += n;
	return 0;
}

/* One member on its way to the callbacks. The libarchive walk and our own
 * decoders (scan_archive_int.h) deliver through memb_begin/memb_push/
 * memb_end, so both get the same limits, nested collection and recursion. */
struct memb {
	struct scan_archive_member m;
	struct nested nb;
	char path[SCAN_ARCHIVE_PATH_MAX];
	char fmt[32];
	bool first;     /* no data yet: the first chunk is sniffed */
	bool deliver;   /* the owner wants the data */
	bool begun;     /* on_member_begin called: memb_end owed */
};

static void join_path(char *out, size_t cap, const char *parent, const char *name)
{
	snprintf(out, cap, "%s/%s", parent, name);
}

/* Starts member |name| (which must live until memb_end). Returns 0 when
 * begun (memb_end owed; mb->deliver says whether data is wanted), 1 when
 * not begun (a directory, or over max_members), or a negative code. */
static int memb_begin(struct scan_archive *a, struct level *lv, struct memb *mb,
		      const char *name, const char *fmt, int64_t declared, uint32_t flags,
		      bool dir)
{
	struct scan_archive_result *r = a->res;
	struct scan_archive_member *m = &mb->m;
	int want = 0;

	memset(mb, 0, sizeof(*mb));
	/* directories count toward max_members but are not delivered */
	if (r->members >= a->lim.max_members) {
		hit_limit(a, SCAN_ARCHIVE_LIM_MEMBERS, lv->path);
		return 1;
	}
	r->members++;
	lv->members++;
	m->flags = name_flags(name) | flags;
	if (m->flags & (SCAN_AMF_TRAVERSAL | SCAN_AMF_ABSOLUTE)) {
		r->traversal++;
		r->flags |= SCAN_ARF_TRAVERSAL;
	}
	if (dir)
		return 1;
	join_path(mb->path, sizeof(mb->path), lv->path, name);
	snprintf(mb->fmt, sizeof(mb->fmt), "%s", fmt);
	m->name = name;
	m->path = mb->path;
	m->parent = lv->path;
	m->format = mb->fmt;
	m->depth = lv->depth;
	m->index = r->members - 1;
	m->declared_size = declared;
	if (lv->depth > r->max_depth)
		r->max_depth = lv->depth;
	if (m->flags & SCAN_AMF_ENCRYPTED) {
		r->encrypted++;
		r->flags |= SCAN_ARF_ENCRYPTED;
	}
	if (a->cb->on_member_begin != NULL) {
		want = a->cb->on_member_begin(m, a->ud);
		if (want < 0)
			return want;
	}
	mb->begun = true;
	mb->first = true;
	mb->deliver = want == 0 && !(m->flags & (SCAN_AMF_ENCRYPTED | SCAN_AMF_LINK));
	return 0;
}

/* Delivers |n| decompressed bytes of the member: limits, callback, nested
 * collection. Returns 0 to go on, 1 when the member is cut (a limit; see
 * a->stop), or a negative code (callback / NOMEM). */
static int memb_push(struct scan_archive *a, struct level *lv, struct memb *mb, const uint8_t *p,
		     size_t n)
{
	struct scan_archive_result *r = a->res;
	struct scan_archive_member *m = &mb->m;
	int rc;

	if (mb->first && n > 0) {
		mb->first = false;
		/* a zero-filled start may be an ISO 9660 system area: collect,
		 * decide on the whole member at its end */
		if (scan_archive_sniff(p, n) || scan_archive_sniff_defer(p, n))
			mb->nb.on = true;
	}
	if (!charge(a, n, m->path)) {
		m->flags |= SCAN_AMF_TRUNCATED;
		return 1;
	}
	/* cut at the first limit, deliver what is under it */
	if (m->size + n > a->lim.max_member_bytes) {
		n = (size_t)(a->lim.max_member_bytes - m->size);
		hit_limit(a, SCAN_ARCHIVE_LIM_MEMBER_BYTES, m->path);
	}
	if (r->expanded_bytes + n > a->lim.max_total_bytes) {
		n = (size_t)(a->lim.max_total_bytes - r->expanded_bytes);
		hit_limit(a, SCAN_ARCHIVE_LIM_TOTAL_BYTES, m->path);
	}
	m->size += n;
	lv->out += n;
	r->expanded_bytes += n;
	if (n > 0 && a->cb->on_member_data != NULL) {
		rc = a->cb->on_member_data(m, p, n, a->ud);
		if (rc < 0)
			return rc;
	}
	rc = nested_add(a, &mb->nb, p, n);
	if (rc < 0)
		return rc;
	if (a->stop != 0) {
		m->flags |= SCAN_AMF_TRUNCATED;
		return 1;
	}
	if (lv->out > a->lim.ratio_min_bytes &&
	    lv->out / (lv->len ? lv->len : 1) > a->lim.max_ratio) {
		hit_limit(a, SCAN_ARCHIVE_LIM_RATIO, lv->path);
		m->flags |= SCAN_AMF_TRUNCATED;
		return 1;
	}
	if (r->expanded_bytes > a->lim.ratio_min_bytes &&
	    r->expanded_bytes / (a->top_len ? a->top_len : 1) > a->lim.max_ratio) {
		hit_limit(a, SCAN_ARCHIVE_LIM_RATIO, m->path);
		m->flags |= SCAN_AMF_TRUNCATED;
		return 1;
	}
	return 0;
}

/* Ends a begun member: on_member_end (when |rc| is 0), then recursion when
 * it is an archive. Frees the nested buffer. Returns 0 or a negative code. */
static int memb_end(struct scan_archive *a, struct level *lv, struct memb *mb, int rc)
{
	struct scan_archive_member *m = &mb->m;
	struct nested *nb = &mb->nb;

	if (!mb->begun)
		return rc;
	mb->begun = false;
	/* the first chunk may have been too short or only zeros: decide on
	 * what was collected */
	if (nb->on && !nb->dropped && !scan_archive_sniff(nb->p, nb->n))
		nb->on = false;
	if (nb->on)
		m->flags |= SCAN_AMF_NESTED;
	if (rc == 0 && a->cb->on_member_end != NULL)
		rc = a->cb->on_member_end(m, a->ud);
	if (rc == 0 && nb->on && a->stop == 0 &&
	    !(m->flags & (SCAN_AMF_TRUNCATED | SCAN_AMF_CORRUPT))) {
		if (nb->dropped) {
			hit_limit(a, SCAN_ARCHIVE_LIM_NESTED_BYTES, m->path);
		} else if (lv->depth >= a->lim.max_depth) {
			hit_limit(a, SCAN_ARCHIVE_LIM_DEPTH, m->path);
		} else {
			struct level child = {
				.a = a, .buf = nb->p, .len = nb->n, .depth = lv->depth + 1,
				.path = m->path, .name = m->name,
			};
			const char *slash = strrchr(m->name, '/');

			if (slash != NULL && slash[1] != '\0')
				child.name = slash + 1;
			rc = expand_level(a, &child);
		}
	}
	mxg_free(a->mem, nb->p);
	nb->p = NULL;
	return rc;
}

/* Reads one libarchive member's data. Returns 0, or a negative code
 * (callback / NOMEM); a->stop tells about limits, and *fatal that the
 * archive cannot go on. */
static int la_data(struct scan_archive *a, struct level *lv, struct archive *ar, struct memb *mb,
		   bool *fatal)
{
	struct scan_archive_result *r = a->res;
	struct scan_archive_member *m = &mb->m;

	for (;;) {
		la_ssize_t got = archive_read_data(ar, a->chunk, CHUNK);
		int rc;

		if (got == 0)
			return 0;
		if (got < 0) {
			if (a->stop != 0)
				return 0;
			if (lv->rar5_enc || is_encryption_error(ar, true)) {
				if (!(m->flags & SCAN_AMF_ENCRYPTED))
					r->encrypted++;
				m->flags |= SCAN_AMF_ENCRYPTED;
				r->flags |= SCAN_ARF_ENCRYPTED;
			} else {
				m->flags |= SCAN_AMF_CORRUPT;
				r->flags |= SCAN_ARF_CORRUPT;
			}
			if (got == ARCHIVE_FATAL)
				*fatal = true;
			return 0;
		}
		rc = memb_push(a, lv, mb, a->chunk, (size_t)got);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
}

/* Handles one libarchive header: callbacks, data, recursion. Returns 0 or
 * negative; sets *fatal when the archive cannot continue. */
static int do_member(struct scan_archive *a, struct level *lv, struct archive *ar,
		     struct archive_entry *e, bool raw, bool *fatal)
{
	struct memb mb;
	char rname[256];
	char fmt[32];
	const char *name;
	mode_t type = archive_entry_filetype(e);
	uint32_t flags = 0;
	int rc;

	if (raw) {
		raw_name(lv->name, rname, sizeof(rname));
		name = rname;
		flags |= SCAN_AMF_RAW;
	} else {
		name = archive_entry_pathname_utf8(e);
		if (name == NULL)
			name = archive_entry_pathname(e);
		if (name == NULL)
			name = "";
	}
	if (type == AE_IFLNK || archive_entry_hardlink(e) != NULL)
		flags |= SCAN_AMF_LINK;
	if (archive_entry_is_data_encrypted(e) > 0 || archive_entry_is_encrypted(e) > 0)
		flags |= SCAN_AMF_ENCRYPTED;
	format_name(ar, fmt, sizeof(fmt));
	rc = memb_begin(a, lv, &mb, name, fmt,
			archive_entry_size_is_set(e) ? archive_entry_size(e) : -1, flags,
			type == AE_IFDIR);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (mb.deliver)
		rc = la_data(a, lv, ar, &mb, fatal);
	return memb_end(a, lv, &mb, rc);
}

/* ---- our own decoders (scan_archive_int.h) ---- */

struct sa_ctx {
	struct scan_archive *a;
	struct level *lv;
	struct memb mb;
	char name[256];        /* the current member's name */
	const char *fmt;       /* format name */
};

int sa_begin_flags(struct sa_ctx *c, const char *name, int64_t declared, uint32_t flags)
{
	int rc;

	snprintf(c->name, sizeof(c->name), "%s", name != NULL ? name : "");
	rc = memb_begin(c->a, c->lv, &c->mb, c->name, c->fmt, declared, flags, false);
	if (rc != 0)
		return rc;
	return c->mb.deliver ? 0 : 1;
}

int sa_begin(struct sa_ctx *c, const char *name, int64_t declared)
{
	return sa_begin_flags(c, name, declared, 0);
}

int sa_charge(struct sa_ctx *c, uint64_t n)
{
	return charge(c->a, n, c->lv->path) ? 0 : 1;
}

int sa_data(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	if (!c->mb.begun || !c->mb.deliver)
		return 1;
	return memb_push(c->a, c->lv, &c->mb, p, n);
}

int sa_end(struct sa_ctx *c, uint32_t flags, int rc)
{
	if (flags & SCAN_AMF_CORRUPT)
		c->a->res->flags |= SCAN_ARF_CORRUPT;
	c->mb.m.flags |= flags;
	return memb_end(c->a, c->lv, &c->mb, rc);
}

void sa_error(struct sa_ctx *c, const char *msg)
{
	struct scan_archive_result *r = c->a->res;

	r->flags |= SCAN_ARF_CORRUPT;
	r->decode_errors++;
	if (r->error == NULL)
		r->error = msg;
}

bool sa_stopped(const struct sa_ctx *c)
{
	return c->a->stop != 0;
}

uint8_t *sa_chunk(struct sa_ctx *c, size_t *cap)
{
	*cap = CHUNK;
	return c->a->chunk;
}

const char *sa_name(const struct sa_ctx *c)
{
	return c->lv->name;
}

static const struct own_format {
	const char *name;
	bool (*sniff)(const uint8_t *p, size_t n);
	int (*expand)(struct sa_ctx *c, const uint8_t *p, size_t n);
} own_formats[] = {
	{ "szdd", scan_szdd_sniff, scan_szdd_expand },
	{ "binhex", scan_binhex_sniff, scan_binhex_expand },
	{ "tnef", scan_tnef_sniff, scan_tnef_expand },
	{ "onenote", scan_onenote_sniff, scan_onenote_expand },
	{ "rtf", scan_rtf_sniff, scan_rtf_expand },
	{ "zipx", scan_zipx_sniff, scan_zipx_expand }, /* before pdf: a stored PDF member */
	{ "pdf", scan_pdf_sniff, scan_pdf_expand },
	{ "ole2", scan_ole2_sniff, scan_ole2_expand },
	{ "arj", scan_arj_sniff, scan_arj_expand },
	{ "sis", scan_sis_sniff, scan_sis_expand },
	{ "nsis", scan_nsis_sniff, scan_nsis_expand },
	{ "chm", scan_chm_sniff, scan_chm_expand },
};

static const struct own_format *own_format(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < sizeof(own_formats) / sizeof(own_formats[0]); i++)
		if (own_formats[i].sniff(p, n))
			return &own_formats[i];
	return NULL;
}

/* Expands a container of a format libarchive does not read. */
static int expand_own(struct scan_archive *a, struct level *lv, const struct own_format *f)
{
	struct scan_archive_result *r = a->res;
	struct sa_ctx c = { .a = a, .lv = lv, .fmt = f->name };
	int rc;

	lv->members = 0;
	r->archives++;
	if (lv->depth == 1)
		snprintf(r->format, sizeof(r->format), "%s", f->name);
	/* the decoder reads its input once (plus bounded look-ups) */
	if (!charge(a, lv->len, lv->path))
		return 0;
	rc = f->expand(&c, lv->buf, lv->len);
	if (rc == SA_NOT_MINE) {
		r->archives--;
		if (lv->depth == 1)
			r->format[0] = '\0';
	}
	return rc;
}

/* Opens and walks one archive. Returns 0 or a negative code. */
static int expand_level(struct scan_archive *a, struct level *lv)
{
	struct scan_archive_result *r = a->res;
	struct archive *ar;
	struct archive_entry *e;
	bool raw = false, fatal = false, filtered = false, retry_raw = false;
	const struct own_format *own;
	int rc = 0, retries = 0;

	own = lv->force_raw ? NULL : own_format(lv->buf, lv->len);
	if (own != NULL) {
		rc = expand_own(a, lv, own);
		if (rc != SA_NOT_MINE)
			return rc;
		rc = 0; /* not that format after all: libarchive's turn */
	}
	ar = archive_read_new();
	if (ar == NULL)
		return MXG_E_NOMEM;
	archive_read_support_filter_all(ar);
	if (!lv->force_raw)
		archive_read_support_format_all(ar);
	archive_read_support_format_raw(ar);
	archive_read_set_read_callback(ar, read_cb);
	archive_read_set_seek_callback(ar, seek_cb);
	archive_read_set_skip_callback(ar, skip_cb);
	archive_read_set_callback_data(ar, lv);
	lv->pos = 0;
	lv->members = 0;
	lv->rar5_enc = !lv->force_raw && rar5_encrypted(lv->buf, lv->len);
	if (lv->rar5_enc) {
		r->flags |= SCAN_ARF_ENCRYPTED;
		r->encrypted++;
	}
	if (!lv->force_raw)
		r->archives++;
	if (archive_read_open1(ar) != ARCHIVE_OK) {
		if (a->stop == 0)
			r->flags |= is_encryption_error(ar, false) ? SCAN_ARF_ENCRYPTED : SCAN_ARF_CORRUPT;
		goto out;
	}
	filtered = archive_filter_count(ar) > 1;
	for (bool firsthdr = true; a->stop == 0 && !fatal; firsthdr = false) {
		int h = archive_read_next_header(ar, &e);

		if (h == ARCHIVE_EOF)
			break;
		if (h == ARCHIVE_RETRY && ++retries < 8)
			continue;
		if (h < ARCHIVE_WARN) {
			if (a->stop != 0)
				break;
			if (lv->rar5_enc || is_encryption_error(ar, true)) {
				if (!(r->flags & SCAN_ARF_ENCRYPTED))
					r->encrypted++;
				r->flags |= SCAN_ARF_ENCRYPTED;
			} else {
				r->flags |= SCAN_ARF_CORRUPT;
			}
			if (h == ARCHIVE_FATAL)
				break;
			continue;
		}
		if (firsthdr) {
			int fmt = archive_format(ar) & ARCHIVE_FORMAT_BASE_MASK;

			raw = fmt == ARCHIVE_FORMAT_RAW;
			if ((raw && !filtered) || fmt == ARCHIVE_FORMAT_EMPTY ||
			    fmt == ARCHIVE_FORMAT_MTREE) {
				/* nothing but the raw bytes (mtree is text that
				 * merely looks like a spec): not an archive, or a
				 * damaged one when it looked like one */
				if (scan_archive_sniff(lv->buf, lv->len))
					r->flags |= SCAN_ARF_CORRUPT;
				else if (lv->depth == 1)
					r->flags |= SCAN_ARF_NOT_ARCHIVE;
				r->archives--;
				break;
			}
			if (lv->depth == 1)
				format_name(ar, r->format, sizeof(r->format));
		}
		rc = do_member(a, lv, ar, e, raw, &fatal);
		if (rc < 0)
			break;
	}
	/* A compressed stream whose content a format claimed but that gave no
	 * member (10 GB of zeros read as an empty tar): hand over the
	 * decompressed stream itself, so its size limits apply and its bytes
	 * are scanned. */
	retry_raw = rc == 0 && a->stop == 0 && filtered && !raw && !lv->force_raw &&
		    lv->members == 0;
out:
	archive_read_free(ar);
	if (retry_raw) {
		lv->force_raw = true;
		rc = expand_level(a, lv);
		lv->force_raw = false;
	}
	return rc;
}

int scan_archive_expand(struct scan_archive *a, const uint8_t *buf, size_t len, const char *name,
			const struct scan_archive_callbacks *cb, void *ud,
			struct scan_archive_result *res)
{
	static const struct scan_archive_callbacks none;
	struct level top;
	int rc;

	memset(res, 0, sizeof(*res));
	a->cb = cb != NULL ? cb : &none;
	a->ud = ud;
	a->res = res;
	a->top_len = len;
	a->stop = 0;
	if (name == NULL || name[0] == '\0')
		name = "archive";
	top = (struct level){ .a = a, .buf = buf, .len = len, .depth = 1, .path = name, .name = name };
	if (len == 0) {
		res->flags |= SCAN_ARF_NOT_ARCHIVE;
		return 0;
	}
	rc = expand_level(a, &top);
	if (rc < 0)
		a->stop = rc;
	a->cb = NULL;
	a->res = NULL;
	return rc;
}

enum scan_archive_verdict scan_archive_verdict(const struct scan_archive_result *res)
{
	if (res->flags & SCAN_ARF_BOMB)
		return SCAN_ARCHIVE_BOMB;
	if (res->flags & SCAN_ARF_TOO_DEEP)
		return SCAN_ARCHIVE_TOO_DEEP;
	if (res->flags & SCAN_ARF_ENCRYPTED)
		return SCAN_ARCHIVE_ENCRYPTED;
	if (res->flags & SCAN_ARF_CORRUPT)
		return SCAN_ARCHIVE_CORRUPT;
	return SCAN_ARCHIVE_OK;
}

const char *scan_archive_limit_name(enum scan_archive_limit l)
{
	static const char *const n[] = {
		[SCAN_ARCHIVE_LIM_NONE] = "none",
		[SCAN_ARCHIVE_LIM_DEPTH] = "depth",
		[SCAN_ARCHIVE_LIM_MEMBERS] = "members",
		[SCAN_ARCHIVE_LIM_TOTAL_BYTES] = "total_bytes",
		[SCAN_ARCHIVE_LIM_MEMBER_BYTES] = "member_bytes",
		[SCAN_ARCHIVE_LIM_NESTED_BYTES] = "nested_bytes",
		[SCAN_ARCHIVE_LIM_RATIO] = "ratio",
		[SCAN_ARCHIVE_LIM_WORK] = "work",
	};

	return (unsigned)l < sizeof(n) / sizeof(n[0]) ? n[l] : "?";
}

const char *scan_archive_verdict_name(enum scan_archive_verdict v)
{
	static const char *const n[] = {
		[SCAN_ARCHIVE_OK] = "ok",
		[SCAN_ARCHIVE_BOMB] = "archive_bomb",
		[SCAN_ARCHIVE_TOO_DEEP] = "too_deep",
		[SCAN_ARCHIVE_ENCRYPTED] = "encrypted",
		[SCAN_ARCHIVE_CORRUPT] = "corrupt",
	};

	return (unsigned)v < sizeof(n) / sizeof(n[0]) ? n[v] : "?";
}
