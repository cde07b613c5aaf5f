/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_sig.c - libFuzzer target: the ClamAV signature loaders.
 *
 * The first byte picks the format (hdb, hsb, mdb, msb, ndb, ldb, or the
 * CVD container); the rest is the database text, loaded line by line. When
 * the first byte's high bit is set, the loaded set is also compiled into an
 * engine (Hyperscan must accept or reject every translated expression
 * without crashing) and a fixed buffer holding EICAR is scanned: the
 * built-in signature must still be found whatever was loaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"
#include "scan_sig_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scan_sigset *s;
	enum scan_sig_fmt fmt;
	bool build;

	if (size < 1)
		return 0;
	fmt = (enum scan_sig_fmt)(data[0] % (SCAN_SIG_FMT_MAX + 1));
	build = data[0] & 0x80;
	s = scan_sigset_new(NULL);
	if (!s)
		return 0;
	(void)scan_sigset_load_buf(s, fmt, "fuzz", data + 1, size - 1);
	if (build && fmt != SCAN_SIG_CVD && size < 4096) {
		struct scan_engine *e = scan_engine_build(NULL, s, NULL, 0);
		struct scan_session *ss;
		const struct scan_result *r;
		size_t i;
		bool eicar = false;

		if (!e)
			abort(); /* EICAR alone always compiles */
		ss = scan_session_new(e, NULL, NULL);
		if (ss) {
			(void)scan_session_scan_file(ss, "f", (const uint8_t *)sig_eicar,
						     SIG_EICAR_LEN);
			r = scan_session_finish(ss);
			for (i = 0; i < r->nviruses; i++)
				if (!strcmp(r->viruses[i].name, SIG_EICAR_NAME))
					eicar = true;
			if (!eicar && !(r->flags & SCAN_R_ERROR) && !r->hits_dropped)
				abort();
			scan_session_free(ss);
		}
		scan_engine_unref(e);
		return 0;
	}
	scan_sigset_free(s);
	return 0;
}
