/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_pe.c - libFuzzer target: the PE/COFF header parser (scan_pe.c).
 *
 * The input is the file. When the first bytes are not "MZ" a minimal
 * header is put in front (MZ, e_lfanew 0x40, "PE\0\0") so the fuzzer
 * reaches the COFF, optional header and section table quickly. The input
 * is copied to an exact-size buffer so ASan sees any read past its end.
 * Every section and the entry point must lie inside the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan_pe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scan_pe pe;
	uint8_t *b;
	size_t len = size, pre = 0;
	uint16_t i;

	if (size < 2 || data[0] != 'M' || data[1] != 'Z')
		pre = 0x44;
	len = size + pre;
	b = malloc(len ? len : 1);
	if (!b)
		return 0;
	if (pre) {
		memset(b, 0, pre);
		b[0] = 'M';
		b[1] = 'Z';
		b[0x3c] = 0x40;
		memcpy(b + 0x40, "PE\0\0", 4);
	}
	memcpy(b + pre, data, size);
	if (scan_pe_parse(b, len, &pe) == 0) {
		if (pe.nsections < 1 || pe.nsections > SCAN_PE_MAX_SECTIONS)
			abort();
		for (i = 0; i < pe.nsections; i++)
			if (pe.sec[i].raw_size &&
			    (uint64_t)pe.sec[i].raw_off + pe.sec[i].raw_size > len)
				abort();
		if (pe.ep_valid && pe.ep_off >= len)
			abort();
		for (i = 0; i < 64; i++) {
			int64_t o = scan_pe_rva_to_off(&pe, (uint32_t)i * 0x1111u + pe.ep_rva, len);

			if (o >= (int64_t)len)
				abort();
		}
	}
	free(b);
	return 0;
}
