/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_smtp_proxy.c - libFuzzer target for the PROXY v1/v2 parser.
 *
 * Oracles: a complete header is never longer than the input or
 * SMTP_PROXY_MAX; every shorter prefix of it "needs more" (so the engine
 * never consumes SMTP bytes as header); non-local results carry IPv4 or
 * IPv6 addresses of one family.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_proxy_info pi;
	int rc = smtp_proxy_parse(data, size, &pi);

	if (rc > 0) {
		if ((size_t)rc > size || rc > SMTP_PROXY_MAX)
			abort();
		if (!pi.local && (pi.src.family != pi.dst.family ||
				  (pi.src.family != 4 && pi.src.family != 6)))
			abort();
		for (int n = 0; n < rc; n++) {
			struct smtp_proxy_info p2;

			if (smtp_proxy_parse(data, (size_t)n, &p2) != 0)
				abort();
		}
	} else if (rc < 0) {
		/* once invalid, more bytes cannot make it valid */
		struct smtp_proxy_info p2;
		uint8_t more[SMTP_PROXY_MAX + 64];
		size_t n = size < sizeof(more) - 64 ? size : sizeof(more) - 64;

		memcpy(more, data, n);
		memset(more + n, '\r', 64);
		for (size_t k = 1; k < 64; k += 2)
			more[n + k] = '\n';
		if (n == size && smtp_proxy_parse(more, n + 64, &p2) > 0)
			abort();
	}
	return 0;
}
