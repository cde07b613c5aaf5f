/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_html.c - libFuzzer target: the streaming HTML reducer. The input is
 * fed whole and split at a point taken from the first byte; text and links
 * must be the same both ways.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime_codec.h"

struct acc {
	uint64_t th, lh;  /* hashes of text and links */
	size_t tn, ln;
};

static void mix(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		*h = (*h ^ b[i]) * 1099511628211ull;
}

static void on_text(const uint8_t *p, size_t n, void *ud)
{
	struct acc *a = ud;

	mix(&a->th, p, n);
	a->tn += n;
}

static void on_link(const char *url, size_t n, bool t, void *ud)
{
	struct acc *a = ud;

	(void)t;
	if (url[n] != '\0')
		abort();
	mix(&a->lh, url, n);
	mix(&a->lh, "|", 1);
	a->ln++;
}

static void run(const uint8_t *d, size_t n, size_t split, struct acc *a)
{
	struct mime_html_callbacks cb = { .on_text = on_text, .on_link = on_link };
	struct mime_html *h = mime_html_new(NULL, &cb, a);

	if (!h)
		abort();
	mime_html_feed(h, d, split);
	mime_html_feed(h, d + split, n - split);
	mime_html_finish(h);
	mime_html_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acc a = { 14695981039346656037ull, 14695981039346656037ull, 0, 0 };
	struct acc b = a;

	if (size < 1)
		return 0;
	run(data + 1, size - 1, 0, &a);
	run(data + 1, size - 1, (size - 1) ? data[0] % (size - 1) : 0, &b);
	if (memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	return 0;
}
