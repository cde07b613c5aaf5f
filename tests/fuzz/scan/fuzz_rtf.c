/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_rtf.c - libFuzzer target: the RTF \objdata decoder (scan_rtf.c)
 * through scan_archive_expand(); the input follows "{\rtf1{\*\objdata "
 * (fuzz_container.h has the checks).
 */
#include "fuzz_container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sig[] = "{\\rtf1{\\*\\objdata ";

	return fuzz_container(sig, sizeof(sig) - 1, "fuzz.rtf", data, size);
}
