/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target: the configuration parser and its typed getters. */
#include <stddef.h>
#include <stdint.h>

#include "mxg_addr.h"
#include "mxg_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const choices[] = {"adaptive", "busy", NULL};
	struct mxg_conf *c;
	char err[256];

	if (mxg_conf_parse((const char *)data, size, "fuzz", &c, err, sizeof(err)) != 0)
		return 0;
	for (size_t i = 0; i < mxg_conf_nsec(c); i++) {
		struct mxg_conf_sec *s = mxg_conf_sec_at(c, i);
		const char *v = mxg_conf_get(s, "ipv4");
		struct mxg_prefix p;
		uint64_t u;
		bool b;
		int e;

		if (v)
			mxg_prefix_parse(v, &p);
		mxg_conf_get_u64(s, "n", 0, 1, 1000, &u, err, sizeof(err));
		mxg_conf_get_bool(s, "b", false, &b, err, sizeof(err));
		mxg_conf_get_enum(s, "idle", choices, 0, &e, err, sizeof(err));
	}
	mxg_conf_check_unused(c, NULL, err, sizeof(err));
	mxg_conf_free(c);
	return 0;
}
