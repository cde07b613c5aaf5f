/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_zipx.c - libFuzzer target: ZIP archives with Deflate64 / Implode
 * members (scan_zipx.c, scan_zipdec.c) through scan_archive_expand(); the
 * input follows a local header signature (fuzz_container.h has the
 * checks). Inputs without a method 6 or 9 member go to libarchive, which
 * fuzz_archive covers; the seeds all have one.
 */
#include "fuzz_container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sig[] = "PK\x03\x04";

	return fuzz_container(sig, sizeof(sig) - 1, "fuzz.zip", data, size);
}
