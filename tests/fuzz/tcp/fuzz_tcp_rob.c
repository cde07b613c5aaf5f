/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_tcp_rob.c - libFuzzer target for tcpstack/tcps_rob.c. Each 5-byte
 * record pushes a range (or pops the in-order point); a byte model checks
 * that the returned gaps are exactly the bytes not seen before ("first
 * received bytes win"), that ranges stay sorted, disjoint and bounded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tcps_int.h"

#define SPACE 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t seen[SPACE];
	struct tcps_rob_range gaps[70];
	struct tcps_rob r;
	uint64_t base = 0;
	uint16_t max;

	if (size < 1)
		return 0;
	max = (uint16_t)(data[0] % 64 + 1);
	if (tcps_rob_init(&r, max, mxg_mem_default()) < 0)
		return 0;
	memset(seen, 0, sizeof(seen));
	for (size_t i = 1; i + 5 <= size; i += 5) {
		uint64_t off = (uint64_t)(data[i] | data[i + 1] << 8) % SPACE;
		uint32_t len = (uint32_t)(data[i + 2] | data[i + 3] << 8) % 600;
		int ng, newb = 0, got = 0;

		if (data[i + 4] & 1) {
			off = base + (off % 64); /* near the in-order point */
			if (off >= SPACE)
				continue;
		}
		if (off + len > SPACE)
			len = (uint32_t)(SPACE - off);
		for (uint64_t k = off; k < off + len; k++)
			if (k >= base && !seen[k])
				newb++;
		ng = tcps_rob_push(&r, base, off, len, gaps);
		if (ng == MXG_E_RANGE) {
			if (off <= base)
				abort();
		} else {
			if (ng < 0)
				abort();
			for (int g = 0; g < ng; g++) {
				if (gaps[g].start >= gaps[g].end || gaps[g].start < off ||
				    gaps[g].end > off + len)
					abort();
				for (uint64_t k = gaps[g].start; k < gaps[g].end; k++) {
					if (seen[k])
						abort();
					seen[k] = 1;
					got++;
				}
			}
			if (got != newb)
				abort();
		}
		for (int k = 0; k + 1 < r.n; k++)
			if (r.r[k].end >= r.r[k + 1].start)
				abort();
		/* an in-order push may take the one extra slot; like the
		 * connection code, the caller then pops at once */
		if ((data[i + 4] & 2) || (off <= base && len > 0)) {
			uint64_t nb = tcps_rob_pop(&r, base);

			for (uint64_t k = base; k < nb; k++)
				if (!seen[k])
					abort();
			base = nb;
		}
		if (r.n > max)
			abort();
	}
	tcps_rob_fini(&r, mxg_mem_default());
	return 0;
}
