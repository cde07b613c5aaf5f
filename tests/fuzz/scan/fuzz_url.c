/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_url.c - libFuzzer target: URL extraction over arbitrary text (whole
 * and split; the same URL set both ways), normalisation of the input as
 * one URL (output NUL-terminated, its length as returned; normalising the
 * output again gives the same string).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan_url.h"

static uint64_t digest(const struct scan_url *u)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < scan_url_count(u); i++) {
		const struct scan_url_entry *e = scan_url_get(u, i);

		for (const char *s = e->url; *s; s++)
			h = (h ^ (uint8_t)*s) * 1099511628211ull;
		h = (h ^ e->count) * 1099511628211ull;
	}
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct scan_url *u;
	char out[16384], out2[16384];
	uint64_t h1, h2;
	size_t split = size > 0 ? (size_t)data[0] * size / 256 : 0;
	int r;

	if (u == NULL)
		u = scan_url_new(NULL, NULL);
	scan_url_reset(u);
	scan_url_feed(u, data, size);
	scan_url_feed_end(u);
	h1 = digest(u);
	scan_url_reset(u);
	scan_url_feed(u, data, split);
	scan_url_feed(u, data + split, size - split);
	scan_url_feed_end(u);
	h2 = digest(u);
	if (h1 != h2)
		abort();
	r = scan_url_normalize((const char *)data, size, out, sizeof(out), NULL);
	if (r >= 0) {
		int r2;

		if (strlen(out) != (size_t)r)
			abort();
		r2 = scan_url_normalize(out, (size_t)r, out2, sizeof(out2), NULL);
		if (r2 != r || strcmp(out, out2) != 0)
			abort();
	}
	scan_url_add(u, (const char *)data, size, SCAN_URLF_HTML);
	return 0;
}
