/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_nsis.c - libFuzzer target: the NSIS installer decoder (scan_nsis.c)
 * through scan_archive_expand(). The input follows a fixed 512-byte PE stub
 * and the first header's flags, signature and magic: it starts with the
 * header length and the archive length, then the blocks or the solid
 * stream (fuzz_container.h has the checks).
 */
#include "fuzz_container.h"

#define STUB 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char sig[STUB + 20];

	if (sig[0] == 0) {
		/* 'MZ', PE header at 0x40, one empty section: the image ends
		 * in the headers, the first header is at 512 */
		sig[0] = 'M';
		sig[1] = 'Z';
		sig[0x3c] = 0x40;
		memcpy(sig + 0x40, "PE\0\0\x4c\x01\x01", 7);
		memcpy(sig + 0x58, ".text", 5);
		memcpy(sig + STUB + 4, "\xef\xbe\xad\xde" "NullsoftInst", 16);
	}
	return fuzz_container(sig, sizeof(sig), "fuzz.exe", data, size);
}
