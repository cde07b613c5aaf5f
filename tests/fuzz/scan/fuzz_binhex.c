/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_binhex.c - libFuzzer target: the BinHex 4.0 decoder (scan_binhex.c)
 * through scan_archive_expand(); the input follows the introduction line
 * (fuzz_container.h has the checks).
 */
#include "fuzz_container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sig[] = "(This file must be converted with BinHex 4.0)\r\n";

	return fuzz_container(sig, sizeof(sig) - 1, "fuzz.hqx", data, size);
}
