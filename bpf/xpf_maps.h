/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * xpf_maps.h - map layout shared by the XDP pre-filter (xpf.bpf.c) and its
 * user-space readers and writers (the libbpf loader bpf/xpf.c, mxgatectl,
 * mxgate-control, the dataplane's software filter dp_filter.c).
 *
 * Only fixed-width types: this header is compiled both with -target bpf and
 * by the host compiler, so no pointers, no longs, no bitfields, and every
 * struct is padded explicitly to a multiple of 8 bytes (or 4 for keys whose
 * layout the kernel fixes, the LPM keys).
 *
 * Maps (names are what bpftool shows and what xpf.c pins under
 * /sys/fs/bpf/mxgate/<instance>/):
 *   xsks_map      XSKMAP, one AF_XDP socket per RX queue (the PMD fills it)
 *   xpf_stats     PERCPU_ARRAY[XPF_STAT__MAX] of struct xpf_counter
 *   xpf_reasons   PERCPU_ARRAY[XPF_REASON_MAX] of struct xpf_counter: drops
 *                 of blocked sources by the entry's reason code
 *   xpf_block4/6  LPM_TRIE struct xpf_lpm_v4/6 -> struct xpf_block
 *   xpf_allow4/6  LPM_TRIE struct xpf_lpm_v4/6 -> struct xpf_allow
 *   xpf_synb      LRU_HASH struct xpf_src -> struct xpf_bucket
 *   xpf_conf      ARRAY[1] of struct xpf_conf (SYN rate and burst)
 *
 * Counter and reason indexes are append-only so older readers still decode
 * the slots they know.
 */
#ifndef XPF_MAPS_H
#define XPF_MAPS_H

#include <linux/types.h>

/* Entries of xsks_map (one AF_XDP socket per RX queue). */
#define XPF_MAX_QUEUES 64

/* Capacity of the tries and of the SYN bucket table. An LPM trie is
 * allocated on demand (BPF_F_NO_PREALLOC), so a large cap costs nothing
 * until used; 1 Mi entries holds any public DNSBL export we know of. */
#define XPF_BLOCK_MAX (1u << 20)
#define XPF_ALLOW_MAX 65536
#define XPF_SYNB_MAX 65536

/* Slots of the per-CPU counter array xpf_stats (BPF_MAP_TYPE_PERCPU_ARRAY);
 * the value of each slot is a struct xpf_counter. Append only. */
enum xpf_stat {
	XPF_STAT_SEEN = 0,     /* every frame the program ran on */
	XPF_STAT_REDIRECTED,   /* handed to the AF_XDP socket of its queue */
	XPF_STAT_PASSED,       /* no socket on the queue: XDP_PASS to the kernel */
	XPF_STAT_DROP_BLOCKED, /* source inside a blocked prefix (by reason: xpf_reasons) */
	XPF_STAT_DROP_SYNRATE, /* TCP SYN over the source's token bucket */
	XPF_STAT_ALLOWED,      /* source in the allow list: never dropped */
	XPF_STAT_EXPIRED,      /* matched a block entry past its expiry: not dropped */
	XPF_STAT_MALFORMED,    /* truncated or inconsistent headers: not judged, passed on */
	XPF_STAT_FRAGMENT,     /* IPv4/IPv6 non-first fragment (judged by source only) */
	XPF_STAT_NONIP,        /* ARP and other non-IP frames */
	XPF_STAT_SYN,          /* TCP SYNs (without ACK) judged by the bucket */
	XPF_STAT__MAX
};

struct xpf_counter {
	__u64 packets;
	__u64 bytes;
};

/* Reason codes of a block entry (struct xpf_block.reason). Codes below
 * XPF_REASON_MAX are counted per reason in xpf_reasons; larger ones are
 * folded into XPF_REASON_OTHER. Names in xpf.c (xpf_reason_name). */
enum xpf_reason {
	XPF_REASON_OTHER = 0,     /* unspecified */
	XPF_REASON_MANUAL = 1,    /* administrator (mxgatectl block add) */
	XPF_REASON_DNSBL = 2,     /* email reputation (DNSBL) said reject */
	XPF_REASON_SPAM = 3,      /* IP profiler: spam threshold */
	XPF_REASON_VIRUS = 4,     /* IP profiler: virus threshold */
	XPF_REASON_DHA = 5,       /* IP profiler: directory harvest */
	XPF_REASON_BOUNCE = 6,    /* IP profiler: bounce flood */
	XPF_REASON_THROTTLE = 7,  /* SMTP throttling escalated to a block */
	XPF_REASON__NAMED,
	XPF_REASON_MAX = 64
};

/* Keys of the tries (BPF_MAP_TYPE_LPM_TRIE): prefixlen counts bits of
 * addr, in network byte order as on the wire. The kernel requires the
 * u32 prefixlen first. */
struct xpf_lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct xpf_lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Value of xpf_block4/6. */
#define XPF_BLOCK_F_CTL 0x1 /* owned by mxgate-control (its sync may delete it) */

struct xpf_block {
	__u64 expires_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) ns; 0 = never */
	__u32 reason;     /* enum xpf_reason, or an operator-defined code */
	__u32 flags;      /* XPF_BLOCK_F_* */
};

/* Value of xpf_allow4/6. */
struct xpf_allow {
	__u32 flags; /* reserved, 0 */
	__u32 pad;
};

/* Key of xpf_synb: the source address; IPv4 as ::ffff:a.b.c.d so one
 * table serves both families. */
struct xpf_src {
	__u8 addr[16];
};

/* Value of xpf_synb: a token bucket kept in nanoseconds of credit. Each
 * SYN costs 1e9 / syn_rate ns; the credit grows with elapsed time up to
 * syn_burst SYNs' worth. Updated without atomics: two CPUs racing on one
 * source may each admit a SYN the other already counted, so the limit is
 * approximate by at most one SYN per CPU per race. */
struct xpf_bucket {
	__u64 credit_ns; /* available credit */
	__u64 last_ns;   /* bpf_ktime_get_ns of the last refill */
};

/* Value of xpf_conf[0]. syn_rate 0 turns the SYN bucket off. */
struct xpf_conf {
	__u32 syn_rate;  /* SYNs per second per source */
	__u32 syn_burst; /* bucket depth in SYNs (>= 1 when syn_rate > 0) */
	__u32 flags;     /* reserved, 0 */
	__u32 pad;
};

#endif /* XPF_MAPS_H */
