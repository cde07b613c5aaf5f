/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_szdd.c - libFuzzer target: the MS COMPRESS SZDD decoder (scan_szdd.c)
 * through scan_archive_expand(); the input follows the 8-byte magic
 * (fuzz_container.h has the checks).
 */
#include "fuzz_container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sig[] = "SZDD\x88\xf0\x27\x33";

	return fuzz_container(sig, sizeof(sig) - 1, "fuzz.ex_", data, size);
}
