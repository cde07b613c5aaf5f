/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * xpf.h - loader and map API of the XDP pre-filter (bpf/xpf.bpf.c).
 *
 * An "instance" is one loaded copy of the program and its maps, pinned
 * under XPF_PIN_ROOT/<name>/ (one file per map, plus "prog" when we loaded
 * it ourselves). Two ways to get one:
 *  - stand-alone: xpf_load() + xpf_attach() + xpf_pin() (mxgatectl xdp
 *    attach IFACE, shielding a kernel MTA; the program passes accepted
 *    frames to the kernel);
 *  - net_af_xdp: DPDK loads xpf.bpf.o itself (devarg xdp_prog=); the
 *    dataplane then calls xpf_pin_attached() with the interface, which
 *    finds the program on it and pins its maps.
 * Either way every writer (mxgatectl, mxgate-control, tests) then opens the
 * pins with xpf_open() and changes entries; the running program sees each
 * change at its next packet.
 *
 * All calls need CAP_BPF/CAP_NET_ADMIN (root in practice). Functions
 * return 0 or a negative errno, and never print: callers report.
 */
#ifndef XPF_H
#define XPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxg_addr.h"
#include "xpf_maps.h"

#define XPF_PIN_ROOT "/sys/fs/bpf/mxgate"
#define XPF_NAME_MAX 64

struct xpf; /* an opened instance: map fds (and the skeleton if we loaded it) */

enum xpf_mode {
	XPF_MODE_AUTO = 0, /* native if the driver has it, else generic */
	XPF_MODE_NATIVE,   /* XDP_FLAGS_DRV_MODE */
	XPF_MODE_GENERIC,  /* XDP_FLAGS_SKB_MODE */
};

/* Loads the program stand-alone: |redirect| false makes accepted frames
 * XDP_PASS to the kernel (no AF_XDP socket), true redirects them into
 * xsks_map like the PMD's copy. On success *|out| owns the program and its
 * maps until xpf_close (pin or attach first to keep them). */
int xpf_load(bool redirect, struct xpf **out);

/* Attaches the loaded program to |ifindex| in |mode|; fails with -EEXIST
 * when another program is attached and |replace| is false. */
int xpf_attach(struct xpf *x, int ifindex, enum xpf_mode mode, bool replace);

/* Detaches whatever XDP program |ifindex| carries (any mode) if it is
 * ours (named xpf_prog), or any program with |force|. -ENOENT: none;
 * -EPERM: not ours. */
int xpf_detach(int ifindex, bool force);

/* Pins the instance's maps (and the program, if loaded by us) under
 * XPF_PIN_ROOT/|name|/, replacing stale pins of that name. */
int xpf_pin(struct xpf *x, const char *name);

/* Finds the XDP program attached to |ifindex| (loaded by someone else,
 * e.g. the net_af_xdp PMD), checks it is xpf_prog, and pins its maps under
 * XPF_PIN_ROOT/|name|/. -ENOENT: no program; -EPERM: not xpf_prog. */
int xpf_pin_attached(int ifindex, const char *name);

/* Removes XPF_PIN_ROOT/|name|/ and its pins (the maps live on while a
 * program uses them). */
int xpf_unpin(const char *name);

/* Opens the pinned instance |name|. */
int xpf_open(const char *name, struct xpf **out);

/* Calls |fn| with the name of every pinned instance; returns the count or
 * a negative errno. */
int xpf_instances(void (*fn)(const char *name, void *ud), void *ud);

/* Closes the fds; frees the skeleton if we loaded it (a program neither
 * attached nor pinned is then unloaded). NULL is a no-op. */
void xpf_close(struct xpf *x);

/* Blocks |p| (host bits beyond the prefix are cleared) with |reason| and
 * an absolute CLOCK_MONOTONIC deadline |expires_ns| (0: never);
 * replaces an entry of the same prefix. -ENOSPC: the trie is full. */
int xpf_block_add(struct xpf *x, const struct mxg_prefix *p, uint32_t reason,
		  uint64_t expires_ns, uint32_t flags);
/* -ENOENT when |p| is not an entry (exact prefix, not a covering one). */
int xpf_block_del(struct xpf *x, const struct mxg_prefix *p);
/* Calls |fn| for each entry; stops early if it returns non-zero. */
int xpf_block_list(struct xpf *x,
		   int (*fn)(const struct mxg_prefix *p, const struct xpf_block *b, void *ud),
		   void *ud);
/* Deletes entries whose expiry is before |now_ns|; returns how many. */
int xpf_block_gc(struct xpf *x, uint64_t now_ns);

int xpf_allow_add(struct xpf *x, const struct mxg_prefix *p);
int xpf_allow_del(struct xpf *x, const struct mxg_prefix *p);
int xpf_allow_list(struct xpf *x, int (*fn)(const struct mxg_prefix *p, void *ud), void *ud);

int xpf_conf_get(struct xpf *x, struct xpf_conf *c);
int xpf_conf_set(struct xpf *x, const struct xpf_conf *c);

/* Sums the per-CPU counters: |stats| gets XPF_STAT__MAX slots, |reasons|
 * (may be NULL) XPF_REASON_MAX. */
int xpf_stats_read(struct xpf *x, struct xpf_counter *stats, struct xpf_counter *reasons);

/* The program's fd (our own load, or the attached one after
 * xpf_pin_attached/xpf_open when "prog" is pinned), or -1. For
 * BPF_PROG_TEST_RUN in tests. */
int xpf_prog_fd(const struct xpf *x);

/* CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns and expires_ns. */
uint64_t xpf_now_ns(void);

/* "blocked", "syn_rate", ... (NULL past the end). */
const char *xpf_stat_name(unsigned slot);
/* "manual", "dnsbl", ... or NULL for codes without a name. */
const char *xpf_reason_name(uint32_t reason);
/* A name above or a decimal code < 2^31. 0 or -EINVAL. */
int xpf_reason_parse(const char *s, uint32_t *out);
/* Instance names: [A-Za-z0-9_.-]{1,63}, not "." or "..". */
bool xpf_name_ok(const char *name);

#endif /* XPF_H */
