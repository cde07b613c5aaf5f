/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_test.c - see scan_test.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "mxg_err.h"
#include "scan_archive.h"
#include "scan_test.h"

static void *fm_malloc(size_t n, void *ud)
{
	struct failmem *f = ud;

	if (++f->n == f->fail_at)
		return NULL;
	void *p = malloc(n);

	if (p)
		f->live++;
	return p;
}

static void *fm_calloc(size_t n, size_t sz, void *ud)
{
	struct failmem *f = ud;

	if (++f->n == f->fail_at)
		return NULL;
	void *p = calloc(n, sz);

	if (p)
		f->live++;
	return p;
}

static void *fm_realloc(void *p, size_t n, void *ud)
{
	struct failmem *f = ud;

	if (++f->n == f->fail_at)
		return NULL;
	void *q = realloc(p, n);

	if (q && !p)
		f->live++;
	return q;
}

static void fm_free(void *p, void *ud)
{
	struct failmem *f = ud;

	if (p)
		f->live--;
	free(p);
}

void failmem_init(struct failmem *f, unsigned long fail_at)
{
	memset(f, 0, sizeof(*f));
	f->mem.ud = f;
	f->mem.malloc = fm_malloc;
	f->mem.calloc = fm_calloc;
	f->mem.realloc = fm_realloc;
	f->mem.free = fm_free;
	f->fail_at = fail_at;
}

void sbuf_add(struct sbuf *b, const void *d, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t c = b->cap ? b->cap : 256;

		while (c < b->n + n + 1)
			c *= 2;
		b->p = realloc(b->p, c);
		if (!b->p)
			abort();
		b->cap = c;
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
	b->p[b->n] = '\0';
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(tmp) - 1)
		n = sizeof(tmp) - 1;
	sbuf_add(b, tmp, (size_t)n);
}

void sbuf_free(struct sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void esc(struct sbuf *b, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = d[i];

		if (c == '\n')
			sbuf_add(b, "\\n", 2);
		else if (c == '\r')
			sbuf_add(b, "\\r", 2);
		else if (c == '\\')
			sbuf_add(b, "\\\\", 2);
		else if (c < 0x20 || c == 0x7f)
			sbuf_printf(b, "\\x%02x", c);
		else
			sbuf_add(b, &c, 1);
	}
}

struct trace {
	struct sbuf *out;
	enum mime_event_type last;     /* pending data event */
	const struct mime_part *lpart;
	char lpath[MIME_PATH_MAX];
	struct sbuf data;
};

static const char *ev_name(enum mime_event_type t)
{
	switch (t) {
	case MIME_EV_BODY_CHUNK: return "BODY";
	case MIME_EV_PREAMBLE: return "PREAMBLE";
	case MIME_EV_EPILOGUE: return "EPILOGUE";
	case MIME_EV_UNPARSED: return "UNPARSED";
	default: return "?";
	}
}

static void flush_data(struct trace *t)
{
	if (!t->last)
		return;
	sbuf_printf(t->out, "%s %s %zu ", ev_name(t->last), t->lpath, t->data.n);
	esc(t->out, (const uint8_t *)t->data.p, t->data.n);
	sbuf_add(t->out, "\n", 1);
	t->data.n = 0;
	t->last = 0;
}

static const char *kind_name(enum mime_kind k)
{
	return k == MIME_KIND_MULTIPART ? "multipart" : k == MIME_KIND_MESSAGE ? "message" : "leaf";
}

static int on_event(struct mime_parser *p, const struct mime_event *ev, void *ud)
{
	struct trace *t = ud;
	const struct mime_part *pt = ev->part;

	switch (ev->type) {
	case MIME_EV_BODY_CHUNK:
	case MIME_EV_PREAMBLE:
	case MIME_EV_EPILOGUE:
	case MIME_EV_UNPARSED:
		if (t->last != ev->type || strcmp(t->lpath, pt->path) != 0)
			flush_data(t);
		t->last = ev->type;
		snprintf(t->lpath, sizeof(t->lpath), "%s", pt->path);
		sbuf_add(&t->data, ev->data, ev->len);
		return 0;
	default:
		break;
	}
	flush_data(t);
	switch (ev->type) {
	case MIME_EV_HEADER:
		sbuf_printf(t->out, "HEADER %s ", pt->path);
		esc(t->out, (const uint8_t *)ev->name, ev->name_len);
		sbuf_add(t->out, ": ", 2);
		esc(t->out, ev->data, ev->len);
		sbuf_add(t->out, "\n", 1);
		break;
	case MIME_EV_PART_BEGIN:
		sbuf_printf(t->out, "BEGIN %s %s %s cs=%s cte=%s disp=%s flags=0x%x", pt->path,
			    kind_name(pt->kind), pt->ctype, pt->charset, mime_cte_name(pt->cte),
			    mime_disposition_name(pt->disposition), pt->flags);
		if (pt->filename)
			sbuf_printf(t->out, " fn=\"%s\"", pt->filename);
		if (pt->alt_filename)
			sbuf_printf(t->out, " alt=\"%s\"", pt->alt_filename);
		if (pt->boundary)
			sbuf_printf(t->out, " b=\"%s\"", pt->boundary);
		sbuf_add(t->out, "\n", 1);
		break;
	case MIME_EV_ANOMALY:
		sbuf_printf(t->out, "ANOMALY %s %s\n", pt->path, mime_anomaly_name(ev->anomaly));
		break;
	case MIME_EV_PART_END:
		sbuf_printf(t->out, "END %s raw=%llu dec=%llu err=%u children=%u flags=0x%x\n",
			    pt->path, (unsigned long long)pt->raw_size,
			    (unsigned long long)pt->decoded_size, pt->decode_errors, pt->nchildren,
			    pt->flags);
		break;
	default:
		sbuf_printf(t->out, "EVENT? %d\n", ev->type);
		break;
	}
	return 0;
}

int trace_parse(const uint8_t *msg, size_t len, enum feed_mode mode, size_t split,
		const struct mime_limits *lim, const struct mxg_mem *mem, struct sbuf *out)
{
	struct trace t = { .out = out };
	struct mime_callbacks cb = { .on_event = on_event };
	struct mime_parser *p = mime_parser_new(mem, lim, &cb, &t);
	int rc = 0;

	if (!p)
		return MXG_E_NOMEM;
	switch (mode) {
	case FEED_WHOLE:
		rc = mime_parser_feed(p, msg, len);
		break;
	case FEED_BYTE:
		for (size_t i = 0; i < len && rc == 0; i++)
			rc = mime_parser_feed(p, msg + i, 1);
		break;
	case FEED_SPLIT:
		rc = mime_parser_feed(p, msg, split);
		if (rc == 0)
			rc = mime_parser_feed(p, msg + split, len - split);
		break;
	}
	if (rc == 0)
		rc = mime_parser_finish(p);
	flush_data(&t);
	if (rc == 0) {
		const struct mime_result *r = mime_parser_result(p);

		sbuf_printf(out, "RESULT flags=0x%x parts=%u leaves=%u depth=%u in=%llu dec=%llu\n",
			    r->flags, r->parts, r->leaves, r->max_depth,
			    (unsigned long long)r->input_bytes, (unsigned long long)r->decoded_bytes);
	}
	mime_parser_free(p);
	sbuf_free(&t.data);
	return rc;
}

uint8_t *load_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		b = malloc((size_t)n + 1);
		if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
			free(b);
			b = NULL;
		}
		if (b) {
			b[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return b;
}

/* upstream unit_tests/input/xor_testfile.py's key (the corpus README) */
static const char clamav_xor_key[] =
	"bhcftqarohcdiayfohalohkgmoefxrrgfnczssgybajvkzjaahpfrlqsratkhhfvpxytculmwgmtyzujlbjl"
	"grhtwxhzpjazlibbwepffyjyfkjwzyofgpopoueurinpdujkphxwhnaxfkaiwrpzdqsnwughtejr";

void clamav_xor(uint8_t *p, size_t n)
{
	for (size_t k = 0; k < n; k++)
		p[k] ^= (uint8_t)clamav_xor_key[k % (sizeof(clamav_xor_key) - 1)];
}

uint8_t *load_clamav_xor(const char *name, size_t *len)
{
	char path[512];
	uint8_t *b;

	snprintf(path, sizeof(path), "%s/%s.xor", CLAMAV_XOR_DIR, name);
	b = load_file(path, len);
	if (b)
		clamav_xor(b, *len);
	return b;
}

static int mb_begin(const struct scan_archive_member *m, void *ud)
{
	struct arch_members *g = ud;
	unsigned i = g->begins++;

	if (i < ARCH_MEMBERS_MAX) {
		snprintf(g->m[i].name, sizeof(g->m[i].name), "%s", m->name);
		g->m[i].declared = m->declared_size;
	}
	if (g->depth < sizeof(g->open) / sizeof(g->open[0]))
		g->open[g->depth] = i;
	g->depth++;
	return 0;
}

/* The member begun last and not ended; ARCH_MEMBERS_MAX when not kept. */
static unsigned mb_cur(const struct arch_members *g)
{
	size_t max = sizeof(g->open) / sizeof(g->open[0]);

	if (g->depth == 0 || g->depth > max || g->open[g->depth - 1] >= ARCH_MEMBERS_MAX)
		return ARCH_MEMBERS_MAX;
	return g->open[g->depth - 1];
}

static int mb_data(const struct scan_archive_member *m, const uint8_t *p, size_t n, void *ud)
{
	struct arch_members *g = ud;
	unsigned i = mb_cur(g);

	g->bytes += n;
	if (i < ARCH_MEMBERS_MAX)
		sbuf_add(&g->m[i].data, p, n);
	return 0;
}

static int mb_end(const struct scan_archive_member *m, void *ud)
{
	struct arch_members *g = ud;
	unsigned i = mb_cur(g);

	g->ends++;
	g->flags |= m->flags;
	if (i < ARCH_MEMBERS_MAX)
		g->m[i].flags = m->flags;
	if (g->depth)
		g->depth--;
	return 0;
}

void members_expand(const void *p, size_t n, const char *name,
		    const struct scan_archive_limits *lim, struct arch_members *g,
		    struct scan_archive_result *res)
{
	static const struct scan_archive_callbacks cbs = { mb_begin, mb_data, mb_end };
	struct scan_archive *a = scan_archive_new(NULL, lim);

	assert_non_null(a);
	memset(g, 0, sizeof(*g));
	assert_int_equal(scan_archive_expand(a, p, n, name, &cbs, g, res), 0);
	assert_int_equal(g->begins, g->ends);
	scan_archive_free(a);
}

void members_free(struct arch_members *g)
{
	for (unsigned i = 0; i < ARCH_MEMBERS_MAX; i++)
		sbuf_free(&g->m[i].data);
	sbuf_free(&g->list);
}

void members_corrupt(const void *p, size_t n, const char *name, const char *err,
		     uint64_t bytes)
{
	struct scan_archive_result res;
	struct arch_members g;

	members_expand(p, n, name, NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_non_null(res.error);
	assert_string_equal(res.error, err);
	assert_int_equal(res.decode_errors, 1);
	assert_int_equal(g.bytes, bytes);
	members_free(&g);
}

void members_cut(const void *p, size_t n, const char *name,
		 const struct scan_archive_limits *lim)
{
	struct scan_archive_result res;
	struct arch_members g;

	members_expand(p, n, name, lim, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_BOMB);
	assert_int_equal(res.limit, SCAN_ARCHIVE_LIM_MEMBER_BYTES);
	assert_int_equal(g.bytes, lim->max_member_bytes);
	assert_true(g.flags & SCAN_AMF_TRUNCATED);
	members_free(&g);
}

bool members_is(const struct arch_members *g, unsigned i, const char *name, const void *d,
		size_t n)
{
	return i < ARCH_MEMBERS_MAX && i < g->ends && strcmp(g->m[i].name, name) == 0 &&
	       g->m[i].data.n == n && (n == 0 || memcmp(g->m[i].data.p, d, n) == 0);
}

int members_find(const struct arch_members *g, const char *name)
{
	for (unsigned i = 0; i < ARCH_MEMBERS_MAX && i < g->begins; i++)
		if (strcmp(g->m[i].name, name) == 0)
			return (int)i;
	return -1;
}

const char *members_list(struct arch_members *g, const char *sep)
{
	assert_true(g->begins <= ARCH_MEMBERS_MAX);
	g->list.n = 0;
	sbuf_add(&g->list, "", 0);
	for (unsigned i = 0; i < g->begins; i++) {
		sbuf_printf(&g->list, "%s:", g->m[i].name);
		if (g->m[i].data.n)
			sbuf_add(&g->list, g->m[i].data.p, g->m[i].data.n);
		sbuf_printf(&g->list, "%s", sep);
	}
	return g->list.p;
}

void put_le16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, v & 0xffff);
	put_le16(p + 2, v >> 16);
}

void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}
