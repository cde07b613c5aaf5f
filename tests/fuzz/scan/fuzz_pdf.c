/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_pdf.c - libFuzzer target: the PDF stream decoder (scan_pdf.c)
 * through scan_archive_expand(); the input follows the "%PDF-1.7" line
 * (fuzz_container.h has the checks).
 */
#include "fuzz_container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sig[] = "%PDF-1.7\n";

	return fuzz_container(sig, sizeof(sig) - 1, "fuzz.pdf", data, size);
}
