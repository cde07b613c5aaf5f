/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_tnef.c - libFuzzer target: the TNEF decoder (scan_tnef.c)
 * through scan_archive_expand(); the input follows the 6-byte signature and key
 * (fuzz_container.h has the checks).
 */
#include "fuzz_container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sig[] = "\x78\x9f\x3e\x22\x01\x00";

	return fuzz_container(sig, sizeof(sig) - 1, "winmail.dat", data, size);
}
