/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_container.h - the body of the libFuzzer targets of our own container
 * decoders (fuzz_szdd, fuzz_binhex, fuzz_tnef, fuzz_onenote, fuzz_rtf,
 * fuzz_pdf, fuzz_ole2, ...): the input follows the format's signature, so
 * every run reaches the decoder through scan_archive_expand(), with small
 * limits. Every begun member must end, no limit may be exceeded, and a
 * CORRUPT result names its error. fuzz_archive uses fuzz_expand() alone.
 * Included once by each target.
 */
#ifndef FUZZ_CONTAINER_H
#define FUZZ_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan_archive.h"

struct cnt {
	unsigned begins, ends;
	uint64_t bytes;
	uint8_t x;  /* touches the data so ASan checks every chunk's bytes */
};

static int on_begin(const struct scan_archive_member *m, void *ud)
{
	((struct cnt *)ud)->begins++;
	return 0;
}

static int on_data(const struct scan_archive_member *m, const uint8_t *p, size_t n, void *ud)
{
	struct cnt *c = ud;

	for (size_t i = 0; i < n; i += 512)
		c->x ^= p[i];
	c->x ^= p[n - 1];
	c->bytes += n;
	return 0;
}

static int on_end(const struct scan_archive_member *m, void *ud)
{
	((struct cnt *)ud)->ends++;
	return 0;
}

/* Expands |buf| as file |name| with |lim| (the expander is made once per
 * process in *|a|) and aborts when a begun member did not end, the bytes
 * delivered differ from the result's count, a limit was exceeded, or
 * (|named_errors|) a decode error left the result without its error or
 * CORRUPT flag. */
static inline void fuzz_expand(struct scan_archive **a, const struct scan_archive_limits *lim,
			       const uint8_t *buf, size_t n, const char *name, bool named_errors)
{
	static const struct scan_archive_callbacks cb = { on_begin, on_data, on_end };
	struct scan_archive_result res;
	struct cnt c = { 0 };

	if (*a == NULL)
		*a = scan_archive_new(NULL, lim);
	if (scan_archive_expand(*a, buf, n, name, &cb, &c, &res) != 0)
		abort();
	if (c.begins != c.ends || c.bytes != res.expanded_bytes ||
	    res.expanded_bytes > lim->max_total_bytes || res.members > lim->max_members ||
	    res.max_depth > lim->max_depth)
		abort();
	if (named_errors && res.decode_errors &&
	    (res.error == NULL || !(res.flags & SCAN_ARF_CORRUPT)))
		abort();
	(void)scan_archive_verdict(&res);
}

/* Runs one input behind |sig| (|siglen| bytes) as file |name|. */
static inline int fuzz_container(const char *sig, size_t siglen, const char *name, const uint8_t *data,
				 size_t size)
{
	static struct scan_archive *a;
	static const struct scan_archive_limits lim = {
		.max_depth = 3, .max_members = 16, .max_total_bytes = 1 << 20,
		.max_member_bytes = 256 << 10, .max_nested_bytes = 256 << 10, .max_ratio = 100,
		.ratio_min_bytes = 64 << 10, .work_budget = 4 << 20,
	};
	uint8_t *buf;

	if (size > (1 << 16))
		return 0;
	buf = malloc(siglen + size);
	if (buf == NULL)
		return 0;
	memcpy(buf, sig, siglen);
	memcpy(buf + siglen, data, size);
	fuzz_expand(&a, &lim, buf, siglen + size, name, true);
	free(buf);
	return 0;
}

#endif
