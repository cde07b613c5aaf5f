/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_chm.c - Microsoft Compiled HTML Help (.chm, "ITSF"): every file of
 * the help file, one member each, named by its path.
 *
 * FORMAT
 *	ITSF header: "ITSF", version 2 or 3, header length, ..., at 0x48 the
 *	directory's offset and length (64-bit LE), and (version 3) at 0x58
 *	the offset of content section 0 (version 2: right after the
 *	directory). The directory: an "ITSP" header (its length at 8, the
 *	chunk size at 0x10, the number of chunks at 0x2C), then the chunks;
 *	listing chunks ("PMGL": free-space length at 4, entries from 0x14)
 *	hold the entries: name length (ENCINT: big-endian 7-bit groups, the
 *	high bit says more follow), the name (UTF-8), the content section,
 *	the offset and the length (ENCINTs). Index chunks ("PMGI") only speed
 *	up look-ups and are skipped.
 *	Section 0 is stored: a file is at section-0 offset + its offset.
 *	Section 1 ("MSCompressed") is LZX (scan_lzx.c); its compressed bytes
 *	are the section-0 file ::DataSpace/Storage/MSCompressed/Content, its
 *	parameters ::DataSpace/Storage/MSCompressed/ControlData ("LZXC",
 *	version, reset interval and window size, in 32 KiB units from
 *	version 2 on) and the reset table ::DataSpace/Storage/MSCompressed/
 *	Transform/{7FC28940-9D31-11D0-9B27-00A0C91E9C7C}/InstanceData/
 *	ResetTable (the section's length and the compressed offset of every
 *	32 KiB frame). The decoder is reset every reset interval.
 *	(Layout as documented by Pabs' and Matthew Russotto's CHM notes and
 *	libmspack's chmd.c; this is our own code.)
 *
 * MEMBERS
 *	Files whose names do not start with "::", "#" or "$" (after the
 *	leading '/', which is dropped) come first, then the system files
 *	("/#SYSTEM", "/$OBJINST", ...) that have data. Directories, empty
 *	files and the "::DataSpace" storage (the container's own plumbing)
 *	are not delivered. Within each group files are taken in section and
 *	offset order, so the LZX section is decoded in one sweep per group;
 *	the reset table lets a sweep skip ahead or go back to a reset point.
 *
 * BOUNDS
 *	The sniff reads 12 bytes. Every directory read is checked against
 *	the input and its chunk; ENCINTs take at most 9 bytes and must fit
 *	in 63 bits. Section-0 files are delivered from the input in place and
 *	cut at its end. The LZX window is the declared size (2^15..2^21); a
 *	file is decoded only up to the section's declared length, and the
 *	bytes decoded in all (delivered or skipped over) may not pass
 *	16 MiB + 32 x the input, besides the sa_data() limits. Errors:
 *	  "chm: truncated header", "chm: bad directory header",
 *	  "chm: directory beyond the end of the input", "chm: more chunks
 *	  than the directory holds", "chm: bad listing chunk", "chm: bad directory entry", "chm: file beyond the end of
 *	  the input", "chm: unknown content section", "chm: no usable
 *	  compressed section", "chm: bad LZX control data", "chm: bad reset
 *	  table", "chm: file beyond the compressed section", "chm: LZX work
 *	  limit", "chm: no memory for the LZX window", and the decoder's
 *	  "lzx: ..." messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxg_err.h"
#include "scan_archive.h"
#include "scan_archive_int.h"
#include "scan_lzx.h"

#define ITSF_V2_LEN 0x58
#define ITSF_V3_LEN 0x60
#define ITSP_LEN 0x54
#define PMGL_HDR 0x14
#define MAX_CHUNK (1u << 20)
#define SLICE (64u << 10)

#define SEC1_PREFIX "::DataSpace/Storage/MSCompressed/"
#define N_CONTENT SEC1_PREFIX "Content"
#define N_CONTROL SEC1_PREFIX "ControlData"
#define N_RESET SEC1_PREFIX "Transform/{7FC28940-9D31-11D0-9B27-00A0C91E9C7C}/InstanceData/ResetTable"

struct entry {
	const uint8_t *name;    /* in the input, not terminated */
	uint32_t nlen;
	uint32_t sec;
	uint64_t off, len;
	int group;              /* 0 user file, 1 system file, -1 not delivered */
};

/* The compressed section and the decoder's position in it. */
struct sec1 {
	bool ok;                /* usable (parameters read) */
	bool dead;              /* failed once: no more of its files */
	const uint8_t *data;    /* the Content file */
	size_t n;
	uint64_t length;        /* uncompressed length (reset table) */
	uint32_t ri;            /* reset interval in frames */
	unsigned wbits;
	const uint8_t *table;   /* reset table entries (64-bit each) */
	uint64_t tcount;
	struct lzx_dec *z;
	uint64_t next;          /* frame the decoder produces next */
	uint64_t reset;         /* frame of the last reset */
	uint64_t have;          /* frame held in |frame| (UINT64_MAX: none) */
	const uint8_t *frame;
	size_t flen;
	uint64_t work, budget;  /* bytes decoded, their cap */
};

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

bool scan_chm_sniff(const uint8_t *p, size_t n)
{
	uint32_t v, hl;

	if (n < 12 || memcmp(p, "ITSF", 4) != 0)
		return false;
	v = rd32(p + 4);
	hl = rd32(p + 8);
	return (v == 2 && hl >= ITSF_V2_LEN && hl <= 4096) ||
	       (v == 3 && hl >= ITSF_V3_LEN && hl <= 4096);
}

/* An ENCINT at p[*i] below |end|; false when cut or over 63 bits. */
static bool encint(const uint8_t *p, size_t end, size_t *i, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned k = 0; k < 9; k++) {
		uint8_t b;

		if (*i >= end)
			return false;
		b = p[(*i)++];
		x = x << 7 | (b & 0x7f);
		if (!(b & 0x80)) {
			*v = x;
			return true;
		}
	}
	return false;
}

/* Directory entries kept at most (real help files have thousands; each
 * costs 40 bytes here, and at most max_members are ever delivered). */
#define CHM_MAX_ENTRIES (1u << 17)

/* The entries of one listing chunk p[0..cs) appended to *ents. */
static int read_pmgl(struct sa_ctx *c, const uint8_t *p, size_t cs, struct entry **ents,
		     size_t *count, size_t *cap)
{
	uint32_t free_len = rd32(p + 4);
	size_t i = PMGL_HDR, end;

	if (free_len > cs - PMGL_HDR) {
		sa_error(c, "chm: bad listing chunk");
		return 0;
	}
	end = cs - free_len;
	while (i < end) {
		uint64_t nl, sec, off, len;
		struct entry *e;
		size_t at;

		if (!encint(p, end, &i, &nl) || nl > end - i) {
			sa_error(c, "chm: bad directory entry");
			return 0;
		}
		if (nl == 0) /* the rest of the chunk is padding */
			break;
		at = i;
		i += nl;
		if (!encint(p, end, &i, &sec) || !encint(p, end, &i, &off) ||
		    !encint(p, end, &i, &len)) {
			sa_error(c, "chm: bad directory entry");
			return 0;
		}
		if (*count >= CHM_MAX_ENTRIES) {
			/* 5-byte entries would make the list 8 times the input */
			sa_error(c, "chm: too many directory entries");
			return 0;
		}
		if (*count == *cap) {
			size_t nc = *cap ? *cap * 2 : 64;
			struct entry *ne = realloc(*ents, nc * sizeof(*ne));

			if (ne == NULL)
				return MXG_E_NOMEM;
			*ents = ne;
			*cap = nc;
		}
		e = &(*ents)[(*count)++];
		e->name = p + at;
		e->nlen = (uint32_t)nl;
		e->sec = sec > UINT32_MAX ? UINT32_MAX : (uint32_t)sec;
		e->off = off;
		e->len = len;
		e->group = -1;
	}
	return 0;
}

static bool name_is(const struct entry *e, const char *s)
{
	size_t l = strlen(s);

	return e->nlen == l && memcmp(e->name, s, l) == 0;
}

static const struct entry *find(const struct entry *ents, size_t count, const char *s)
{
	for (size_t i = 0; i < count; i++)
		if (name_is(&ents[i], s))
			return &ents[i];
	return NULL;
}

/* A section-0 file's bytes, or NULL when it is not wholly in the input. */
static const uint8_t *sec0_file(const struct entry *e, const uint8_t *p, size_t n,
				uint64_t base)
{
	if (e == NULL || e->sec != 0 || base > n || e->off > n - base ||
	    e->len > n - base - e->off)
		return NULL;
	return p + base + e->off;
}

/* Reads the LZX parameters of section 1. */
static void sec1_setup(struct sa_ctx *c, struct sec1 *s, const struct entry *ents, size_t count,
		       const uint8_t *p, size_t n, uint64_t base)
{
	const struct entry *ec = find(ents, count, N_CONTENT);
	const struct entry *ed = find(ents, count, N_CONTROL);
	const struct entry *er = find(ents, count, N_RESET);
	const uint8_t *d, *r;
	uint32_t ver, ri, ws, tcount, esize, toff;

	s->data = sec0_file(ec, p, n, base);
	d = sec0_file(ed, p, n, base);
	r = sec0_file(er, p, n, base);
	if (s->data == NULL || d == NULL || r == NULL) {
		sa_error(c, "chm: no usable compressed section");
		return;
	}
	s->n = (size_t)ec->len;
	if (ed->len < 20 || memcmp(d + 4, "LZXC", 4) != 0) {
		sa_error(c, "chm: bad LZX control data");
		return;
	}
	ver = rd32(d + 8);
	ri = rd32(d + 12);
	ws = rd32(d + 16);
	if (ver >= 2) {
		/* in frames: bound before scaling */
		if (ri > UINT32_MAX / LZX_FRAME || ws > (1u << 21) / LZX_FRAME) {
			sa_error(c, "chm: bad LZX control data");
			return;
		}
		ri *= LZX_FRAME;
		ws *= LZX_FRAME;
	}
	s->wbits = 0;
	for (unsigned b = 15; b <= 21; b++)
		if (ws == 1u << b)
			s->wbits = b;
	if (s->wbits == 0 || ri == 0 || ri % LZX_FRAME != 0) {
		sa_error(c, "chm: bad LZX control data");
		return;
	}
	s->ri = ri / LZX_FRAME;
	/* reset table: version, entries, entry size, table offset, then the
	 * uncompressed and compressed lengths and the frame size */
	if (er->len < 0x28) {
		sa_error(c, "chm: bad reset table");
		return;
	}
	tcount = rd32(r + 4);
	esize = rd32(r + 8);
	toff = rd32(r + 12);
	s->length = rd64(r + 16);
	if (esize != 8 || toff < 0x28 || toff > er->len ||
	    tcount > (er->len - toff) / 8 || rd64(r + 32) != LZX_FRAME) {
		sa_error(c, "chm: bad reset table");
		return;
	}
	s->table = r + toff;
	s->tcount = tcount;
	s->budget = (16u << 20) + (uint64_t)n * 32;
	s->have = UINT64_MAX;
	s->ok = true;
}

/* Puts the decoder at the reset point of frame |f| (its table entry). */
static bool sec1_seek(struct sec1 *s, uint64_t f)
{
	uint64_t at = 0;

	if (f != 0) {
		if (f >= s->tcount)
			return false;
		at = rd64(s->table + f * 8);
		if (at > s->n)
			return false;
	}
	lzx_reset(s->z);
	lzx_input(s->z, s->data + at, s->n - (size_t)at);
	s->next = s->reset = f;
	return true;
}

/* Makes frame |f| the one held. */
static bool sec1_frame(struct sa_ctx *c, struct sec1 *s, uint64_t f)
{
	uint64_t rf = f - f % s->ri;
	const char *err = NULL;
	size_t in0;

	if (s->have == f)
		return true;
	if (s->z == NULL) {
		s->z = lzx_new(s->wbits);
		if (s->z == NULL) {
			sa_error(c, "chm: no memory for the LZX window");
			return false;
		}
		sec1_seek(s, 0);
	}
	/* behind the wanted frame, or before its reset point: start at that
	 * point when the table says where it is, else from the beginning */
	if (s->next > f || s->next < rf) {
		if (!sec1_seek(s, rf) && s->next > f)
			sec1_seek(s, 0);
	}
	while (s->next <= f) {
		uint64_t pos = s->next * LZX_FRAME;
		size_t len = s->length - pos < LZX_FRAME ? (size_t)(s->length - pos) : LZX_FRAME;

		if (s->next != s->reset && s->next % s->ri == 0) {
			/* a reset point: the table says where its bits start;
			 * without it they follow on */
			uint64_t at = s->next < s->tcount ? rd64(s->table + s->next * 8) : UINT64_MAX;

			lzx_reset(s->z);
			if (at <= s->n)
				lzx_input(s->z, s->data + at, s->n - (size_t)at);
			s->reset = s->next;
		}
		s->work += len;
		if (s->work > s->budget) {
			sa_error(c, "chm: LZX work limit");
			return false;
		}
		s->have = UINT64_MAX;
		in0 = lzx_consumed(s->z);
		s->frame = lzx_frame(s->z, len, pos - s->reset * LZX_FRAME, &err);
		/* the input a frame reads counts too: a reset table pointing
		 * every frame at the same run of empty blocks would otherwise
		 * read the section again per frame for free */
		s->work += lzx_consumed(s->z) - in0;
		if (s->frame == NULL) {
			sa_error(c, err);
			return false;
		}
		s->flen = len;
		s->have = s->next++;
	}
	return true;
}

/* The member name: the path without its leading '/', printable. */
static void entry_name(const struct entry *e, char *out, size_t cap)
{
	size_t k = 0, i = e->nlen > 0 && e->name[0] == '/' ? 1 : 0;

	for (; i < e->nlen && k + 1 < cap; i++)
		out[k++] = e->name[i] >= 0x20 && e->name[i] != 0x7f ? (char)e->name[i] : '_';
	out[k] = '\0';
}

static int deliver(struct sa_ctx *c, const struct entry *e, struct sec1 *s, const uint8_t *p,
		   size_t n, uint64_t base)
{
	char name[512];
	uint32_t flags = 0;
	int rc;

	entry_name(e, name, sizeof(name));
	rc = sa_begin(c, name, e->len > INT64_MAX ? -1 : (int64_t)e->len);
	if (rc < 0)
		return rc;
	if (rc > 0)
		return sa_end(c, 0, 0);
	if (e->sec == 0) {
		uint64_t avail = base <= n && e->off <= n - base ? n - base - e->off : 0;
		uint64_t take = e->len < avail ? e->len : avail;
		const uint8_t *d = p + (avail ? base + e->off : 0);

		for (uint64_t done = 0; done < take && rc == 0;) {
			size_t k = take - done < SLICE ? (size_t)(take - done) : SLICE;

			rc = sa_data(c, d + done, k);
			done += k;
		}
		if (take < e->len) {
			sa_error(c, "chm: file beyond the end of the input");
			flags |= SCAN_AMF_CORRUPT;
		}
	} else if (e->off > s->length || e->len > s->length - e->off) {
		sa_error(c, "chm: file beyond the compressed section");
		flags |= SCAN_AMF_CORRUPT;
	} else {
		for (uint64_t pos = e->off, end = e->off + e->len; pos < end && rc == 0;) {
			uint64_t f = pos / LZX_FRAME, in = pos % LZX_FRAME, k;

			if (!sec1_frame(c, s, f)) {
				s->dead = true;
				flags |= SCAN_AMF_CORRUPT;
				break;
			}
			k = s->flen - in;
			if (k > end - pos)
				k = end - pos;
			rc = sa_data(c, s->frame + in, (size_t)k);
			pos += k;
		}
	}
	if (rc > 0)
		rc = 0;
	return sa_end(c, flags, rc);
}

static int by_place(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	if (x->sec != y->sec)
		return x->sec < y->sec ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return 0;
}

/* Which group a file is delivered in (-1: not delivered). */
static int entry_group(const struct entry *e)
{
	const uint8_t *nm = e->name;
	uint32_t l = e->nlen;

	if (l == 0 || nm[l - 1] == '/' || e->len == 0)
		return -1;
	if (l >= 2 && nm[0] == ':' && nm[1] == ':')
		return -1;
	if (nm[0] == '/') {
		nm++;
		l--;
	}
	if (l == 0)
		return -1;
	return nm[0] == '#' || nm[0] == '$' ? 1 : 0;
}

int scan_chm_expand(struct sa_ctx *c, const uint8_t *p, size_t n)
{
	struct entry *ents = NULL;
	size_t count = 0, cap = 0;
	uint64_t doff, dlen, base, cs, nchunks, chunks_at;
	struct sec1 s = { 0 };
	uint32_t hl;
	bool need1 = false;
	int rc = 0;

	if (n < ITSF_V2_LEN || !scan_chm_sniff(p, n) || n < rd32(p + 8)) {
		sa_error(c, "chm: truncated header");
		return 0;
	}
	doff = rd64(p + 0x48);
	dlen = rd64(p + 0x50);
	if (doff > n || dlen > n - doff) {
		sa_error(c, "chm: directory beyond the end of the input");
		return 0;
	}
	base = rd32(p + 4) == 3 ? rd64(p + 0x58) : doff + dlen;
	if (dlen < ITSP_LEN || memcmp(p + doff, "ITSP", 4) != 0) {
		sa_error(c, "chm: bad directory header");
		return 0;
	}
	hl = rd32(p + doff + 8);
	cs = rd32(p + doff + 0x10);
	nchunks = rd32(p + doff + 0x2c);
	if (hl < ITSP_LEN || hl > dlen || cs < PMGL_HDR || cs > MAX_CHUNK) {
		sa_error(c, "chm: bad directory header");
		return 0;
	}
	chunks_at = doff + hl;
	if (nchunks > (dlen - hl) / cs) {
		sa_error(c, "chm: more chunks than the directory holds");
		nchunks = (dlen - hl) / cs;
	}
	for (uint64_t k = 0; k < nchunks && rc == 0; k++) {
		const uint8_t *ch = p + chunks_at + k * cs;

		if (memcmp(ch, "PMGL", 4) == 0)
			rc = read_pmgl(c, ch, (size_t)cs, &ents, &count, &cap);
	}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < count; i++) {
		ents[i].group = entry_group(&ents[i]);
		if (ents[i].group >= 0 && ents[i].sec == 1)
			need1 = true;
	}
	if (need1)
		sec1_setup(c, &s, ents, count, p, n, base);
	if (count > 0)
		qsort(ents, count, sizeof(*ents), by_place);
	for (size_t i = 0; i < count && rc == 0 && !sa_stopped(c); i++) {
		const struct entry *e = &ents[i];

		if (e->group < 0)
			continue;
		if (e->sec > 1) {
			sa_error(c, "chm: unknown content section");
			continue;
		}
		if (e->sec == 1 && (!s.ok || s.dead))
			continue;
		rc = deliver(c, e, &s, p, n, base);
	}
out:
	lzx_free(s.z);
	free(ents);
	return rc < 0 ? rc : 0;
}
