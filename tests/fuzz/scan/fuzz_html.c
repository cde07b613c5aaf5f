/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_html.c - libFuzzer target: the streaming HTML reducer. The input is
 * fed whole and split at a point taken from the first byte; text, links and
 * the decoded data: URIs (media type, bytes, errors) must be the same both
 * ways, and every on_data_begin must get its on_data_end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime_codec.h"

struct acc {
	uint64_t th, lh, dh;  /* hashes of text, links, data: URIs */
	size_t tn, ln, dn;
	int open;             /* a data: URI is open */
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

static void on_dbegin(const char *mt, size_t n, bool b64, void *ud)
{
	struct acc *a = ud;

	if (a->open || mt[n] != '\0' || n > 127)
		abort();
	a->open = 1;
	mix(&a->dh, mt, n);
	mix(&a->dh, b64 ? "<b" : "<", b64 ? 2 : 1);
}

static void on_data(const uint8_t *p, size_t n, void *ud)
{
	struct acc *a = ud;

	if (!a->open || !n)
		abort();
	mix(&a->dh, p, n);
	a->dn += n;
}

static void on_dend(uint32_t errors, void *ud)
{
	struct acc *a = ud;

	if (!a->open)
		abort();
	a->open = 0;
	mix(&a->dh, &errors, sizeof(errors));
	mix(&a->dh, ">", 1);
}

static void run(const uint8_t *d, size_t n, size_t split, struct acc *a)
{
	struct mime_html_callbacks cb = {
		.on_text = on_text, .on_link = on_link,
		.on_data_begin = on_dbegin, .on_data = on_data, .on_data_end = on_dend,
	};
	struct mime_html *h = mime_html_new(NULL, &cb, a);

	if (!h)
		abort();
	mime_html_feed(h, d, split);
	mime_html_feed(h, d + split, n - split);
	mime_html_finish(h);
	if (a->open)
		abort();
	mime_html_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acc a = { 14695981039346656037ull, 14695981039346656037ull,
			 14695981039346656037ull, 0, 0, 0, 0 };
	struct acc b = a;

	if (size < 1)
		return 0;
	run(data + 1, size - 1, 0, &a);
	run(data + 1, size - 1, (size - 1) ? data[0] % (size - 1) : 0, &b);
	if (memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	return 0;
}
