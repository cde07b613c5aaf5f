/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_arj.c - libFuzzer target: the ARJ decoder (scan_arj.c) through
 * scan_archive_expand() (fuzz_container.h has the checks). Every header
 * carries a CRC-32 the fuzzer would almost never get right, so the target
 * walks the input's header chain first and writes the right CRCs: the
 * mutations then reach the header fields and the decoders. The file CRCs
 * are left alone (a mismatch is one more error path).
 */
#include <zlib.h>

#include "fuzz_container.h"

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Sets the CRC of every basic header reachable from offset 0. */
static void fix_crcs(uint8_t *p, size_t n)
{
	size_t off = 0;
	bool first = true;

	while (n - off >= 4 && p[off] == 0x60 && p[off + 1] == 0xea) {
		size_t size = le16(p + off + 2), csize;

		if (size < 30 || size > 2600 || n - off - 4 < size + 4)
			return;
		put32(p + off + 4 + size, (uint32_t)crc32(0, p + off + 4, (uInt)size));
		csize = first ? 0 : (size_t)le16(p + off + 4 + 12) | (size_t)le16(p + off + 4 + 14) << 16;
		first = false;
		off += 4 + size + 4;
		for (;;) {
			size_t ext;

			if (n - off < 2)
				return;
			ext = le16(p + off);
			off += 2;
			if (ext == 0)
				break;
			if (n - off < ext + 4)
				return;
			off += ext + 4;
		}
		if (n - off < csize)
			return;
		off += csize;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *p;
	int rc;

	if (size > (1 << 16))
		return 0;
	p = malloc(size + 1);
	if (p == NULL)
		return 0;
	memcpy(p, data, size);
	fix_crcs(p, size);
	rc = fuzz_container("", 0, "fuzz.arj", p, size);
	free(p);
	return rc;
}
