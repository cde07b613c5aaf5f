/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_sis.c - libFuzzer target: the Symbian SIS decoder (scan_sis.c)
 * through scan_archive_expand(); the input follows UIDs 1 to 3 (the
 * sniffed signature), release 6 when the input's first byte is even,
 * release 3 when it is odd, that byte dropped (fuzz_container.h has the
 * checks).
 */
#include "fuzz_container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char er6[] = "\x01\x00\x00\x00\x12\x3a\x00\x10\x19\x04\x00\x10";
	static const char er3[] = "\x01\x00\x00\x00\x6d\x00\x00\x10\x19\x04\x00\x10";

	if (size == 0)
		return 0;
	return fuzz_container(data[0] & 1 ? er3 : er6, sizeof(er6) - 1, "fuzz.sis", data + 1,
			      size - 1);
}
