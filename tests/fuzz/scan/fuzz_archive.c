/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_archive.c - libFuzzer target: archive expansion of arbitrary bytes
 * with small limits (depth 3, 64 members, 4 MiB out, 16 MiB work). Every
 * begun member must end, and no limit may be exceeded.
 */
#include <stdint.h>
#include <stdlib.h>

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

	for (size_t i = 0; i < n; i += 4096)
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct scan_archive *a;
	static const struct scan_archive_limits lim = {
		.max_depth = 3, .max_members = 64, .max_total_bytes = 4 << 20,
		.max_member_bytes = 1 << 20, .max_nested_bytes = 1 << 20, .max_ratio = 200,
		.ratio_min_bytes = 256 << 10, .work_budget = 16 << 20,
	};
	static const struct scan_archive_callbacks cb = { on_begin, on_data, on_end };
	struct scan_archive_result res;
	struct cnt c = { 0 };

	if (a == NULL)
		a = scan_archive_new(NULL, &lim);
	if (scan_archive_expand(a, data, size, "fuzz", &cb, &c, &res) != 0)
		abort();
	if (c.begins != c.ends || c.bytes != res.expanded_bytes || res.expanded_bytes > lim.max_total_bytes ||
	    res.members > lim.max_members || res.max_depth > lim.max_depth)
		abort();
	(void)scan_archive_verdict(&res);
	return 0;
}
