/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_archive.c - libFuzzer target: archive expansion of arbitrary bytes
 * with small limits (depth 3, 64 members, 4 MiB out, 16 MiB work). Every
 * begun member must end, and no limit may be exceeded (fuzz_container.h).
 */
#include "fuzz_container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct scan_archive *a;
	static const struct scan_archive_limits lim = {
		.max_depth = 3, .max_members = 64, .max_total_bytes = 4 << 20,
		.max_member_bytes = 1 << 20, .max_nested_bytes = 1 << 20, .max_ratio = 200,
		.ratio_min_bytes = 256 << 10, .work_budget = 16 << 20,
	};

	fuzz_expand(&a, &lim, data, size, "fuzz", false);
	return 0;
}
