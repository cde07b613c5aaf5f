/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_onenote.c - libFuzzer target: the OneNote decoder (scan_onenote.c)
 * through scan_archive_expand(); the input follows the 16-byte file type GUID
 * (fuzz_container.h has the checks).
 */
#include "fuzz_container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sig[] = "\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d\xae\xb1\x53\x78\xd0\x29\x96\xd3";

	return fuzz_container(sig, sizeof(sig) - 1, "fuzz.one", data, size);
}
