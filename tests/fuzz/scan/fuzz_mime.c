/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_mime.c - libFuzzer target: the MIME parser and its decoders.
 *
 * The first byte picks the chunking seed and small limits (so limit paths
 * run too); the rest is the message, fed in pseudo-random chunk sizes.
 * Every BODY_CHUNK of a text part goes through the UTF-8 converter and
 * every text/html part through the HTML reducer, like the scan engine.
 * The trace of a whole feed and of the chunked feed must agree in their
 * structure (number of events other than body chunks).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "mime_codec.h"

struct ctx {
	unsigned long structural;  /* events other than data chunks */
	unsigned long body_bytes;
	struct mime_utf8 *u;
	struct mime_html *h;
	char upath[MIME_PATH_MAX];
};

static void on_text(const uint8_t *p, size_t n, void *ud)
{
	(void)p;
	(void)n;
	(void)ud;
}

static void on_link(const char *url, size_t n, bool t, void *ud)
{
	(void)t;
	(void)ud;
	if (url[n] != '\0')
		abort(); /* the value is NUL-terminated after |n| bytes */
}

static int on_event(struct mime_parser *p, const struct mime_event *ev, void *ud)
{
	struct ctx *c = ud;
	const struct mime_part *pt = ev->part;

	switch (ev->type) {
	case MIME_EV_BODY_CHUNK:
		c->body_bytes += ev->len;
		if (c->u && !strcmp(c->upath, pt->path)) {
			const uint8_t *d = ev->data;
			size_t n = ev->len;
			uint8_t out[256];

			while (n) {
				size_t used, w = mime_utf8_conv(c->u, d, n, &used, out, sizeof(out));

				if (c->h)
					mime_html_feed(c->h, out, w);
				d += used;
				n -= used;
				if (!used && !w)
					abort(); /* no progress */
			}
		}
		return 0;
	case MIME_EV_PREAMBLE:
	case MIME_EV_EPILOGUE:
	case MIME_EV_UNPARSED:
		return 0;
	case MIME_EV_PART_BEGIN:
		if (pt->kind == MIME_KIND_LEAF && !strncmp(pt->ctype, "text/", 5) && !c->u) {
			c->u = mime_utf8_new(NULL, pt->charset, NULL);
			memcpy(c->upath, pt->path, sizeof(c->upath));
			if (!strcmp(pt->ctype, "text/html")) {
				struct mime_html_callbacks cb = { .on_text = on_text, .on_link = on_link };

				c->h = mime_html_new(NULL, &cb, c);
			}
		}
		break;
	case MIME_EV_PART_END:
		if (c->u && !strcmp(c->upath, pt->path)) {
			uint8_t out[64];

			mime_utf8_finish(c->u, out);
			mime_utf8_free(c->u);
			c->u = NULL;
			if (c->h) {
				mime_html_finish(c->h);
				mime_html_free(c->h);
				c->h = NULL;
			}
		}
		break;
	default:
		break;
	}
	c->structural++;
	return 0;
}

static unsigned long run(const uint8_t *d, size_t n, uint32_t seed, const struct mime_limits *l,
			 unsigned long *body)
{
	struct ctx c = { 0 };
	struct mime_callbacks cb = { .on_event = on_event };
	struct mime_parser *p = mime_parser_new(NULL, l, &cb, &c);

	if (!p)
		abort();
	while (n) {
		size_t k = seed ? (seed % 61) + 1 : n;

		if (k > n)
			k = n;
		if (mime_parser_feed(p, d, k))
			abort();
		d += k;
		n -= k;
		seed = seed * 1103515245u + 12345u;
		if (seed == 0)
			seed = 1;
	}
	if (mime_parser_finish(p))
		abort();
	mime_parser_free(p);
	mime_utf8_free(c.u);
	mime_html_free(c.h);
	*body = c.body_bytes;
	return c.structural;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits lim;
	unsigned long b1, b2;

	if (size < 1)
		return 0;
	mime_limits_default(&lim);
	if (data[0] & 0x80) {
		lim.max_depth = 1 + (data[0] & 3);
		lim.max_parts = 2 + (data[0] & 7);
		lim.max_headers = 3;
		lim.max_header_line = 300;
		lim.max_decoded_bytes = 64 + (data[0] & 0x30) * 8;
	}
	unsigned long s1 = run(data + 1, size - 1, 0, &lim, &b1);
	unsigned long s2 = run(data + 1, size - 1, data[0] | 1u, &lim, &b2);

	if (s1 != s2 || b1 != b2)
		abort(); /* chunking changed the result */
	return 0;
}
