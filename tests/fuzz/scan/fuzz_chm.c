/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_chm.c - libFuzzer target: the Compiled HTML Help decoder (scan_chm.c)
 * and its LZX decompressor (scan_lzx.c) through scan_archive_expand(); the
 * input follows the "ITSF" magic (fuzz_container.h has the checks).
 */
#include "fuzz_container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sig[] = "ITSF";

	return fuzz_container(sig, sizeof(sig) - 1, "fuzz.chm", data, size);
}
