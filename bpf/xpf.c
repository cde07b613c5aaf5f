/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * xpf.c - libbpf loader and map access of the XDP pre-filter (xpf.h).
 *
 * The skeleton (xpf.skel.h, bpftool gen skeleton) is used only for the
 * stand-alone load, where we own the program: rodata is set between open
 * and load as libbpf-bootstrap's bootstrap.c does. Everything else works on
 * map fds, from our own skeleton, from the maps of a program someone else
 * loaded (the net_af_xdp PMD: xpf_pin_attached walks prog -> map ids), or
 * from pins (xpf_open), so mxgatectl, mxgate-control and the tests share one
 * code path whatever loaded the program.
 *
 * Why pins under /sys/fs/bpf/mxgate/<name>/ and not LIBBPF_PIN_BY_NAME in
 * the object: see the header of xpf.bpf.c (DPDK opens the object without a
 * pin root, so by-name pins would be global and outlive the dataplane).
 *
 * Writers race only with the program, never with each other in practice
 * (one administrator tool, one control plane); map updates are atomic per
 * entry, so the program sees either the old or the new value.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/if_link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "xpf.h"
#include "xpf.skel.h"

enum map_idx {
	M_STATS, M_REASONS, M_BLOCK4, M_BLOCK6, M_ALLOW4, M_ALLOW6, M_SYNB, M_CONF, M__MAX
};

/* Kernel map names (at most 15 characters) = pin file names. */
static const char *const map_names[M__MAX] = {
	"xpf_stats", "xpf_reasons", "xpf_block4", "xpf_block6",
	"xpf_allow4", "xpf_allow6", "xpf_synb", "xpf_conf",
};

struct xpf {
	struct xpf_bpf *skel; /* when we loaded the program, else NULL */
	int fd[M__MAX];       /* map fds (ours when opened, the skeleton's otherwise) */
	bool own_fd[M__MAX];  /* close on xpf_close */
	int prog_fd;
	bool own_prog;
};

static struct xpf *xpf_new(void)
{
	struct xpf *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	for (int i = 0; i < M__MAX; i++)
		x->fd[i] = -1;
	x->prog_fd = -1;
	return x;
}

void xpf_close(struct xpf *x)
{
	if (!x)
		return;
	for (int i = 0; i < M__MAX; i++)
		if (x->own_fd[i] && x->fd[i] >= 0)
			close(x->fd[i]);
	if (x->own_prog && x->prog_fd >= 0)
		close(x->prog_fd);
	xpf_bpf__destroy(x->skel);
	free(x);
}

bool xpf_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= XPF_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int pin_dir(const char *name, char *buf, size_t len)
{
	if (!xpf_name_ok(name))
		return -EINVAL;
	snprintf(buf, len, "%s/%s", XPF_PIN_ROOT, name);
	return 0;
}

/* libbpf prints to stderr by default; we report through return codes. */
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("XPF_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

int xpf_load(bool redirect, struct xpf **out)
{
	struct xpf *x = xpf_new();
	struct bpf_map *maps[M__MAX];
	int err;

	if (!x)
		return -ENOMEM;
	libbpf_set_print(quiet);
	x->skel = xpf_bpf__open();
	if (!x->skel) {
		err = -errno;
		goto cleanup;
	}
	x->skel->rodata->xpf_redirect = redirect ? 1 : 0;
	err = xpf_bpf__load(x->skel);
	if (err)
		goto cleanup;
	maps[M_STATS] = x->skel->maps.xpf_stats;
	maps[M_REASONS] = x->skel->maps.xpf_reasons;
	maps[M_BLOCK4] = x->skel->maps.xpf_block4;
	maps[M_BLOCK6] = x->skel->maps.xpf_block6;
	maps[M_ALLOW4] = x->skel->maps.xpf_allow4;
	maps[M_ALLOW6] = x->skel->maps.xpf_allow6;
	maps[M_SYNB] = x->skel->maps.xpf_synb;
	maps[M_CONF] = x->skel->maps.xpf_conf;
	for (int i = 0; i < M__MAX; i++)
		x->fd[i] = bpf_map__fd(maps[i]);
	x->prog_fd = bpf_program__fd(x->skel->progs.xpf_prog);
	*out = x;
	return 0;
cleanup:
	xpf_close(x);
	return err < 0 ? err : -EINVAL;
}

static __u32 mode_flags(enum xpf_mode mode)
{
	switch (mode) {
	case XPF_MODE_NATIVE: return XDP_FLAGS_DRV_MODE;
	case XPF_MODE_GENERIC: return XDP_FLAGS_SKB_MODE;
	default: return 0;
	}
}

int xpf_attach(struct xpf *x, int ifindex, enum xpf_mode mode, bool replace)
{
	__u32 flags = mode_flags(mode);

	if (x->prog_fd < 0)
		return -EINVAL;
	if (!replace)
		flags |= XDP_FLAGS_UPDATE_IF_NOEXIST;
	return bpf_xdp_attach(ifindex, x->prog_fd, flags, NULL);
}

/* The id of the single program attached to |ifindex| and its attach
 * flags, or -ENOENT. */
static int attached(int ifindex, __u32 *id, __u32 *flags)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int err = bpf_xdp_query(ifindex, 0, &q);

	if (err)
		return err;
	switch (q.attach_mode) {
	case XDP_ATTACHED_DRV: *id = q.drv_prog_id; *flags = XDP_FLAGS_DRV_MODE; break;
	case XDP_ATTACHED_SKB: *id = q.skb_prog_id; *flags = XDP_FLAGS_SKB_MODE; break;
	case XDP_ATTACHED_HW: *id = q.hw_prog_id; *flags = XDP_FLAGS_HW_MODE; break;
	case XDP_ATTACHED_MULTI: *id = q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id;
		*flags = q.drv_prog_id ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE; break;
	default: return -ENOENT;
	}
	return *id ? 0 : -ENOENT;
}

static int prog_is_ours(int prog_fd, struct bpf_prog_info *info, __u32 *map_ids, __u32 nmax)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	info->nr_map_ids = nmax;
	info->map_ids = (__u64)(uintptr_t)map_ids;
	if (bpf_obj_get_info_by_fd(prog_fd, info, &len))
		return -errno;
	return strcmp(info->name, "xpf_prog") == 0 ? 0 : -EPERM;
}

int xpf_detach(int ifindex, bool force)
{
	struct bpf_prog_info info;
	__u32 id, flags;
	int fd, err;

	err = attached(ifindex, &id, &flags);
	if (err)
		return err;
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	err = prog_is_ours(fd, &info, NULL, 0);
	close(fd);
	if (err && !(err == -EPERM && force))
		return err;
	return bpf_xdp_detach(ifindex, flags, NULL);
}

static int mkdirs(const char *dir)
{
	if (mkdir(XPF_PIN_ROOT, 0700) && errno != EEXIST)
		return -errno;
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int pin_fd(int fd, const char *dir, const char *file)
{
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	unlink(path); /* a stale pin of an earlier run */
	return bpf_obj_pin(fd, path) ? -errno : 0;
}

int xpf_pin(struct xpf *x, const char *name)
{
	char dir[PATH_MAX];
	int err;

	if ((err = pin_dir(name, dir, sizeof(dir))) || (err = mkdirs(dir)))
		return err;
	for (int i = 0; i < M__MAX; i++)
		if ((err = pin_fd(x->fd[i], dir, map_names[i])))
			goto cleanup;
	if (x->prog_fd >= 0 && (err = pin_fd(x->prog_fd, dir, "prog")))
		goto cleanup;
	return 0;
cleanup:
	xpf_unpin(name);
	return err;
}

int xpf_pin_attached(int ifindex, const char *name)
{
	struct bpf_prog_info info;
	__u32 id, flags, ids[32];
	char dir[PATH_MAX];
	struct xpf *x;
	int pfd, err;

	if ((err = pin_dir(name, dir, sizeof(dir))))
		return err;
	if ((err = attached(ifindex, &id, &flags)))
		return err;
	if (!(x = xpf_new()))
		return -ENOMEM;
	pfd = bpf_prog_get_fd_by_id(id);
	if (pfd < 0) {
		err = -errno;
		goto cleanup;
	}
	x->prog_fd = pfd;
	x->own_prog = true;
	if ((err = prog_is_ours(pfd, &info, ids, 32)))
		goto cleanup;
	for (__u32 i = 0; i < info.nr_map_ids && i < 32; i++) {
		struct bpf_map_info mi = {0};
		__u32 len = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0) {
			err = -errno;
			goto cleanup;
		}
		if (bpf_obj_get_info_by_fd(fd, &mi, &len)) {
			err = -errno;
			close(fd);
			goto cleanup;
		}
		for (int m = 0; m < M__MAX; m++) {
			if (strcmp(mi.name, map_names[m]) == 0 && x->fd[m] < 0) {
				x->fd[m] = fd;
				x->own_fd[m] = true;
				fd = -1;
				break;
			}
		}
		if (fd >= 0)
			close(fd); /* xsks_map, .rodata */
	}
	for (int m = 0; m < M__MAX; m++)
		if (x->fd[m] < 0) {
			err = -ENOENT; /* an older xpf.bpf.o without this map */
			goto cleanup;
		}
	err = xpf_pin(x, name);
cleanup:
	xpf_close(x);
	return err;
}

int xpf_unpin(const char *name)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];

	if (!xpf_name_ok(name))
		return -EINVAL;
	snprintf(dir, sizeof(dir), "%s/%s", XPF_PIN_ROOT, name);
	for (int i = 0; i < M__MAX; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, map_names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/prog", dir);
	unlink(path);
	if (rmdir(dir) && errno != ENOENT)
		return -errno;
	return 0;
}

int xpf_open(const char *name, struct xpf **out)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	struct xpf *x;
	int err;

	if ((err = pin_dir(name, dir, sizeof(dir))))
		return err;
	if (!(x = xpf_new()))
		return -ENOMEM;
	for (int i = 0; i < M__MAX; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, map_names[i]);
		x->fd[i] = bpf_obj_get(path);
		if (x->fd[i] < 0) {
			err = -errno;
			xpf_close(x);
			return err;
		}
		x->own_fd[i] = true;
	}
	snprintf(path, sizeof(path), "%s/prog", dir);
	x->prog_fd = bpf_obj_get(path); /* only when loaded stand-alone */
	x->own_prog = x->prog_fd >= 0;
	*out = x;
	return 0;
}

int xpf_instances(void (*fn)(const char *name, void *ud), void *ud)
{
	DIR *d = opendir(XPF_PIN_ROOT);
	struct dirent *e;
	int n = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !xpf_name_ok(e->d_name))
			continue;
		fn(e->d_name, ud);
		n++;
	}
	closedir(d);
	return n;
}

int xpf_prog_fd(const struct xpf *x)
{
	return x->prog_fd;
}

uint64_t xpf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* LPM keys: the prefix with its host bits cleared (the trie ignores them
 * on lookup but compares them on delete, so store them canonical). */
union lpm_key {
	struct xpf_lpm_v4 v4;
	struct xpf_lpm_v6 v6;
};

static int make_key(const struct mxg_prefix *p, union lpm_key *k)
{
	unsigned n = p->ip.family == 4 ? 4 : 16, bits = p->len;
	uint8_t *a;

	if ((p->ip.family != 4 && p->ip.family != 6) || bits > n * 8)
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	if (p->ip.family == 4) {
		k->v4.prefixlen = bits;
		a = k->v4.addr;
	} else {
		k->v6.prefixlen = bits;
		a = k->v6.addr;
	}
	memcpy(a, p->ip.a, n);
	for (unsigned i = 0; i < n; i++) {
		if (bits >= 8)
			bits -= 8;
		else {
			a[i] &= (uint8_t)(0xff00u >> bits);
			bits = 0;
		}
	}
	return 0;
}

static int fd_for(struct xpf *x, const struct mxg_prefix *p, int m4, int m6)
{
	return p->ip.family == 4 ? x->fd[m4] : x->fd[m6];
}

int xpf_block_add(struct xpf *x, const struct mxg_prefix *p, uint32_t reason,
		  uint64_t expires_ns, uint32_t flags)
{
	struct xpf_block v = {.expires_ns = expires_ns, .reason = reason, .flags = flags};
	union lpm_key k;
	int err = make_key(p, &k);

	if (err)
		return err;
	return bpf_map_update_elem(fd_for(x, p, M_BLOCK4, M_BLOCK6), &k, &v, BPF_ANY) ? -errno : 0;
}

int xpf_block_del(struct xpf *x, const struct mxg_prefix *p)
{
	union lpm_key k;
	int err = make_key(p, &k);

	if (err)
		return err;
	return bpf_map_delete_elem(fd_for(x, p, M_BLOCK4, M_BLOCK6), &k) ? -errno : 0;
}

int xpf_allow_add(struct xpf *x, const struct mxg_prefix *p)
{
	struct xpf_allow v = {0};
	union lpm_key k;
	int err = make_key(p, &k);

	if (err)
		return err;
	return bpf_map_update_elem(fd_for(x, p, M_ALLOW4, M_ALLOW6), &k, &v, BPF_ANY) ? -errno : 0;
}

int xpf_allow_del(struct xpf *x, const struct mxg_prefix *p)
{
	union lpm_key k;
	int err = make_key(p, &k);

	if (err)
		return err;
	return bpf_map_delete_elem(fd_for(x, p, M_ALLOW4, M_ALLOW6), &k) ? -errno : 0;
}

static void key_to_prefix(int family, const union lpm_key *k, struct mxg_prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->ip.family = (uint8_t)family;
	if (family == 4) {
		p->len = (uint8_t)k->v4.prefixlen;
		memcpy(p->ip.a, k->v4.addr, 4);
	} else {
		p->len = (uint8_t)k->v6.prefixlen;
		memcpy(p->ip.a, k->v6.addr, 16);
	}
}

/* Walks one trie with get_next_key. |fn| must not delete: a trie whose
 * current key is gone restarts from its first key (see xpf_block_gc). */
static int walk(int fd, int family, size_t vsize,
		int (*fn)(const struct mxg_prefix *, const void *, void *), void *ud)
{
	union lpm_key cur, next;
	uint8_t val[64];
	bool first = true;
	int rc;

	if (vsize > sizeof(val))
		return -EINVAL;
	for (;;) {
		if (bpf_map_get_next_key(fd, first ? NULL : &cur, &next))
			return errno == ENOENT ? 0 : -errno;
		first = false;
		cur = next;
		if (bpf_map_lookup_elem(fd, &cur, val))
			continue; /* deleted meanwhile */
		struct mxg_prefix p;

		key_to_prefix(family, &cur, &p);
		if ((rc = fn(&p, val, ud)))
			return rc > 0 ? 0 : rc;
	}
}

struct block_walk {
	int (*fn)(const struct mxg_prefix *, const struct xpf_block *, void *);
	void *ud;
};

static int block_cb(const struct mxg_prefix *p, const void *v, void *ud)
{
	struct block_walk *w = ud;

	return w->fn(p, v, w->ud);
}

int xpf_block_list(struct xpf *x,
		   int (*fn)(const struct mxg_prefix *p, const struct xpf_block *b, void *ud),
		   void *ud)
{
	struct block_walk w = {fn, ud};
	int err = walk(x->fd[M_BLOCK4], 4, sizeof(struct xpf_block), block_cb, &w);

	return err ? err : walk(x->fd[M_BLOCK6], 6, sizeof(struct xpf_block), block_cb, &w);
}

struct allow_walk {
	int (*fn)(const struct mxg_prefix *, void *);
	void *ud;
};

static int allow_cb(const struct mxg_prefix *p, const void *v, void *ud)
{
	struct allow_walk *w = ud;

	return w->fn(p, w->ud);
}

int xpf_allow_list(struct xpf *x, int (*fn)(const struct mxg_prefix *p, void *ud), void *ud)
{
	struct allow_walk w = {fn, ud};
	int err = walk(x->fd[M_ALLOW4], 4, sizeof(struct xpf_allow), allow_cb, &w);

	return err ? err : walk(x->fd[M_ALLOW6], 6, sizeof(struct xpf_allow), allow_cb, &w);
}

/* Expired entries are collected first and deleted after the walk, so the
 * walk never restarts. */
struct gc {
	struct mxg_prefix *v;
	size_t n, cap;
	uint64_t now;
};

static int gc_cb(const struct mxg_prefix *p, const struct xpf_block *b, void *ud)
{
	struct gc *g = ud;

	if (!b->expires_ns || b->expires_ns > g->now)
		return 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		struct mxg_prefix *nv = realloc(g->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		g->v = nv;
		g->cap = cap;
	}
	g->v[g->n++] = *p;
	return 0;
}

int xpf_block_gc(struct xpf *x, uint64_t now_ns)
{
	struct gc g = {.now = now_ns};
	int err = xpf_block_list(x, gc_cb, &g), n = 0;

	for (size_t i = 0; !err && i < g.n; i++)
		if (xpf_block_del(x, &g.v[i]) == 0)
			n++;
	free(g.v);
	return err ? err : n;
}

int xpf_conf_get(struct xpf *x, struct xpf_conf *c)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(x->fd[M_CONF], &zero, c) ? -errno : 0;
}

int xpf_conf_set(struct xpf *x, const struct xpf_conf *c)
{
	__u32 zero = 0;

	if (c->syn_rate > 1000000000u)
		return -EINVAL;
	return bpf_map_update_elem(x->fd[M_CONF], &zero, c, BPF_ANY) ? -errno : 0;
}

static int sum_percpu(int fd, unsigned slots, struct xpf_counter *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct xpf_counter *v;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (__u32 k = 0; k < slots; k++) {
		out[k].packets = out[k].bytes = 0;
		if (bpf_map_lookup_elem(fd, &k, v)) {
			int err = -errno;

			free(v);
			return err;
		}
		for (int c = 0; c < ncpu; c++) {
			out[k].packets += v[c].packets;
			out[k].bytes += v[c].bytes;
		}
	}
	free(v);
	return 0;
}

int xpf_stats_read(struct xpf *x, struct xpf_counter *stats, struct xpf_counter *reasons)
{
	int err = sum_percpu(x->fd[M_STATS], XPF_STAT__MAX, stats);

	if (!err && reasons)
		err = sum_percpu(x->fd[M_REASONS], XPF_REASON_MAX, reasons);
	return err;
}

static const char *const stat_names[XPF_STAT__MAX] = {
	[XPF_STAT_SEEN] = "seen",
	[XPF_STAT_REDIRECTED] = "redirected",
	[XPF_STAT_PASSED] = "passed",
	[XPF_STAT_DROP_BLOCKED] = "drop_blocked",
	[XPF_STAT_DROP_SYNRATE] = "drop_synrate",
	[XPF_STAT_ALLOWED] = "allowed",
	[XPF_STAT_EXPIRED] = "expired",
	[XPF_STAT_MALFORMED] = "malformed",
	[XPF_STAT_FRAGMENT] = "fragment",
	[XPF_STAT_NONIP] = "nonip",
	[XPF_STAT_SYN] = "syn",
};

const char *xpf_stat_name(unsigned slot)
{
	return slot < XPF_STAT__MAX ? stat_names[slot] : NULL;
}

static const char *const reason_names[XPF_REASON__NAMED] = {
	[XPF_REASON_OTHER] = "other",
	[XPF_REASON_MANUAL] = "manual",
	[XPF_REASON_DNSBL] = "dnsbl",
	[XPF_REASON_SPAM] = "spam",
	[XPF_REASON_VIRUS] = "virus",
	[XPF_REASON_DHA] = "dha",
	[XPF_REASON_BOUNCE] = "bounce",
	[XPF_REASON_THROTTLE] = "throttle",
};

const char *xpf_reason_name(uint32_t reason)
{
	return reason < XPF_REASON__NAMED ? reason_names[reason] : NULL;
}

int xpf_reason_parse(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	for (uint32_t i = 0; i < XPF_REASON__NAMED; i++)
		if (strcmp(s, reason_names[i]) == 0) {
			*out = i;
			return 0;
		}
	if (!*s)
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > INT32_MAX || *s == '-')
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}
