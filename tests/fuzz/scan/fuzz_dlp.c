/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_dlp.c - libFuzzer target: DLP detectors and custom lists over
 * arbitrary text, fed whole and split at a point taken from the input;
 * the counts must be identical both ways.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan_dlp.h"

static struct scan_dlp *d;

static void run(const uint8_t *p, size_t n, size_t split, size_t step, struct scan_dlp_result *r)
{
	struct scan_dlp_stream *s = scan_dlp_stream_new(d, NULL, NULL, NULL);

	if (step > 0) {
		for (size_t off = 0; off < n; off += step)
			scan_dlp_stream_feed(s, p + off, n - off < step ? n - off : step);
	} else {
		scan_dlp_stream_feed(s, p, split);
		scan_dlp_stream_feed(s, p + split, n - split);
	}
	scan_dlp_stream_finish(s);
	*r = *scan_dlp_stream_result(s);
	scan_dlp_stream_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scan_dlp_result a, b, c;
	size_t split;

	if (d == NULL) {
		d = scan_dlp_new(NULL);
		scan_dlp_add_template(d, "all", 0x3f, 2);
		scan_dlp_add_pattern(d, 0, "confidential", SCAN_PAT_CASELESS | SCAN_PAT_WORD);
		scan_dlp_add_pattern(d, 0, "PROJ-[0-9]{3,6}", SCAN_PAT_REGEX);
		if (scan_dlp_compile(d, NULL, 0) != 0)
			abort();
	}
	split = size > 0 ? (size_t)data[0] * size / 256 : 0;
	run(data, size, size, 0, &a);
	run(data, size, split, 0, &b);
	run(data, size, 0, 1 + (size ? data[size - 1] % 97 : 0), &c);
	/* custom regex matches may segment differently; the detectors not */
	for (int k = 0; k < SCAN_DLP_CUSTOM; k++)
		if (a.kind_hits[k] != b.kind_hits[k] || a.kind_hits[k] != c.kind_hits[k])
			abort();
	return 0;
}
