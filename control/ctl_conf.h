/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_conf.h - reads the [control] section of the bootstrap configuration
 * (the same file as the dataplane's; see docs/configuration.md).
 */
#ifndef CTL_CONF_H
#define CTL_CONF_H

#include <stddef.h>

#include "ctl.h"

struct mxg_conf;

/* Fills |out| from |c|'s [control] section (absent section: all defaults)
 * and rejects unknown keys in it. Other sections are not looked at.
 * Returns 0, or MXG_E_INVAL / MXG_E_RANGE with "FILE:LINE: key: message" in
 * |err|. On success out->dsn may be allocated: free with ctl_conf_clear. */
int ctl_conf_read(struct mxg_conf *c, struct ctl_conf *out, char *err, size_t errlen);
void ctl_conf_clear(struct ctl_conf *conf);

/* Splits "host:port", "[v6]:port" or "host" (port |def_port|). Returns 0 or
 * MXG_E_INVAL. */
int ctl_conf_split_hostport(const char *s, unsigned def_port, char *host, size_t hlen,
			    unsigned *port);

#endif
