/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_xdp.h - the sender filter's blocklist in the control plane and in
 * mxgatectl.
 *
 * mxgatectl (ctl_xdp_cli.c): local commands on the pinned maps of the XDP
 * pre-filter (bpf/xpf.h), for a host without a running control plane.
 */
#ifndef CTL_XDP_H
#define CTL_XDP_H

#include <stdbool.h>

/* True if mxgatectl's |argv| (command first) is a local pre-filter
 * command: "xdp ...", "allow ..." without --control, "block del|gc", or
 * "block ..." with --name or --local. "block add|remove|list" otherwise
 * go to the control plane's API (/api/v1/blocklist). */
bool ctl_xdp_cli_is_local(int argc, char **argv);

/* Runs the local command |argv| (command first); returns the exit status
 * (0, 1 refused, 2 usage, 3 kernel/bpffs failure). */
int ctl_xdp_cli_main(int argc, char **argv);

#endif
