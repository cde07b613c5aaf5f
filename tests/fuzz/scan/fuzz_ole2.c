/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_ole2.c - libFuzzer target: the OLE2 compound file decoder (scan_ole2.c)
 * through scan_archive_expand(); the input follows the 8-byte signature
 * (fuzz_container.h has the checks).
 */
#include "fuzz_container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sig[] = "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1";

	return fuzz_container(sig, sizeof(sig) - 1, "fuzz.doc", data, size);
}
