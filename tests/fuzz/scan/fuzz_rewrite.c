/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_rewrite.c - libFuzzer target: the message rewriter (mime_rewrite.c).
 *
 * The first byte picks what to ask: bit 0 a Subject tag (bit 1: a
 * non-ASCII one), bit 2 prepended fields, bits 3-5 which parts to strip
 * (chosen among the paths the streaming parser reports, so the requests are
 * real ones); the rest is the message. Invariants:
 *  - no crash, no leak, no sanitizer report;
 *  - asked for nothing: the output equals the input byte for byte;
 *  - the rewriter's walk names the same parts as the streaming parser;
 *  - the output parses, and stripping a part the parser reported (not a
 *    uuencoded one, not inside an encoded message, no limit reached) is
 *    never refused; the stripped part then reads as text/plain.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "mime_rewrite.h"
#include "mxg_err.h"

#define MAXP 64

struct plist {
	char path[MAXP][MIME_PATH_MAX];
	char ctype[MAXP][32];
	int kind[MAXP];
	bool enc[MAXP];
	size_t n;       /* listed (at most MAXP) */
	size_t total;   /* all parts */
	bool bad;
};

static int on_event(struct mime_parser *p, const struct mime_event *ev, void *ud)
{
	struct plist *l = ud;

	(void)p;
	if (ev->type != MIME_EV_PART_BEGIN || (ev->part->flags & MIME_PF_UUENCODE))
		return 0;
	if (l->n < MAXP) {
		bool enc = false;

		for (const struct mime_part *u = ev->part->parent; u; u = u->parent)
			if (u->flags & MIME_PF_ENCODED_MSG)
				enc = true;
		strcpy(l->path[l->n], ev->part->path);
		strncpy(l->ctype[l->n], ev->part->ctype, sizeof(l->ctype[0]) - 1);
		l->ctype[l->n][sizeof(l->ctype[0]) - 1] = '\0';
		l->kind[l->n] = (int)ev->part->kind;
		l->enc[l->n] = enc;
		l->n++;
	}
	l->total++;
	return 0;
}

static uint32_t parse(const uint8_t *m, size_t n, struct plist *l)
{
	struct mime_callbacks cb = { .on_event = on_event };
	struct mime_parser *p = mime_parser_new(NULL, NULL, &cb, l);
	uint32_t flags;

	if (!p)
		abort();
	if (mime_parser_feed(p, m, n) != 0 || mime_parser_finish(p) != 0)
		abort(); /* only NOMEM could fail, and libc does not here */
	flags = mime_parser_result(p)->flags;
	mime_parser_free(p);
	return flags;
}

struct wcheck {
	const struct plist *l;
	size_t i;
	bool bad;
};

static void on_walk(const char *path, enum mime_kind kind, bool enc, void *ud)
{
	struct wcheck *w = ud;

	if (w->i < w->l->n && (strcmp(path, w->l->path[w->i]) || (int)kind != w->l->kind[w->i] ||
			       enc != w->l->enc[w->i]))
		w->bad = true;
	w->i++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tag_ascii[] = { "[SPAM]", "[EXT]" };
	static const char *const tag_utf[] = { "[\xd0\xa1\xd0\x9f\xd0\x90\xd0\x9c]" };
	static const struct mime_rw_header hdr[] = {
		{ "X-Spam-Flag", "YES" },
		{ "X-Verdict", "Vir\xc3\xbcs \xe2\x80\x9c" "EICAR\xe2\x80\x9d found in a rather long "
			       "value that needs folding at seventy-eight columns" },
	};
	static struct plist in, out;
	struct mime_rw rw = { 0 };
	const char *strip[3];
	uint8_t *o = NULL;
	size_t on = 0;
	uint8_t sel;
	uint32_t pflags;
	int rc;

	if (size < 1)
		return 0;
	sel = data[0];
	data++;
	size--;
	memset(&in, 0, sizeof(in));
	pflags = parse(data, size, &in);

	/* The walk names the parser's parts. */
	struct wcheck wc = { .l = &in };

	if (mime_rewrite_walk(data, size, NULL, on_walk, &wc) != 0)
		abort();
	if (wc.bad || wc.i != in.total)
		abort();

	/* Nothing asked: the same bytes. */
	rc = mime_rewrite(data, size, &rw, &o, &on);
	if (rc != 0 || on != size || (size && memcmp(o, data, size) != 0))
		abort();
	free(o);
	o = NULL;

	if (sel & 1) {
		rw.tags = (sel & 2) ? tag_utf : tag_ascii;
		rw.ntags = (sel & 2) ? 1 : 2;
	}
	if (sel & 4) {
		rw.hdr = hdr;
		rw.nhdr = 2;
	}
	bool expect_ok = !(pflags & MIME_RF_LIMIT);

	for (unsigned k = 0; k < 3 && in.n; k++) {
		unsigned pick = (sel >> 3) & 7;

		if (!(pick & (1u << k)))
			continue;
		size_t i = (pick * 7 + k * 13 + size) % in.n;

		strip[rw.nstrip++] = in.path[i];
		if (in.enc[i])
			expect_ok = false;
	}
	rw.strip = strip;
	rw.notice = (sel & 0x40) ? "--%f\n.removed %%" : NULL;
	rc = mime_rewrite(data, size, &rw, &o, &on);
	if (rc == MXG_E_NOMEM)
		return 0;
	if (rc != 0) {
		if (rc != MXG_E_INVAL || expect_ok)
			abort();
		return 0;
	}
	memset(&out, 0, sizeof(out));
	parse(o, on, &out);
	for (size_t s = 0; s < rw.nstrip; s++) {
		bool inside = false;

		/* A path inside another stripped one is gone. */
		for (size_t t = 0; t < rw.nstrip; t++) {
			size_t pl = strlen(strip[t]);

			if (t != s && !strncmp(strip[s], strip[t], pl) && strip[s][pl] == '.')
				inside = true;
		}
		if (inside)
			continue;
		size_t j;

		for (j = 0; j < out.n; j++)
			if (!strcmp(out.path[j], strip[s]))
				break;
		if (j < out.n && (out.kind[j] != MIME_KIND_LEAF || strcmp(out.ctype[j], "text/plain")))
			abort();
		if (j == out.n && out.total <= MAXP)
			abort();
	}
	free(o);
	return 0;
}
