/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_xdp_cli.c - mxgatectl's local commands on the XDP pre-filter: they
 * work on the pinned maps under /sys/fs/bpf/mxgate/<name>/ through
 * bpf/xpf.c, with no control plane running (root needed).
 *
 *	mxgatectl xdp attach IFACE [--name N] [--native|--generic] [--replace]
 *	mxgatectl xdp adopt IFACE [--name N]    pin the maps of the program
 *	                                        the net_af_xdp PMD loaded
 *	mxgatectl xdp detach IFACE [--name N] [--force]
 *	mxgatectl xdp list | stats [--name N] | conf [--name N] [--syn-rate R]
 *	                                                   [--syn-burst B]
 *	mxgatectl block add PREFIX [--reason R] [--expire SECS] [--name N]
 *	mxgatectl block del PREFIX [--name N] | block list [--name N] | block gc
 *	mxgatectl allow add|del PREFIX [--name N] | allow list [--name N]
 *
 * Every command takes --netns NS: IFACE is looked up inside network
 * namespace NS (/run/netns/NS). Only the network namespace is entered:
 * `ip netns exec` would also remount /sys and hide the bpffs, so the pins
 * would land nowhere visible.
 *
 * Without --name, block/allow/conf/stats apply to every pinned instance:
 * one host, one blocklist. The name defaults to IFACE for attach/adopt/
 * detach. block/allow with --control are left to mxgatectl's API client
 * (not implemented yet: the control plane's /api/v1/blocklist, see
 * docs/filter.md "Missing").
 *
 * Exit status as mxgatectl's: 0 done, 1 refused (no such entry, not our
 * program), 2 usage, 3 the kernel failed (no bpffs, no permission).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_cli_http.h"
#include "ctl_xdp.h"
#include "xpf.h"

#define EX_REFUSED 1
#define EX_USAGE 2
#define EX_UNAVAIL 3

struct opts {
	const char *name;
	const char *netns;
	const char *reason;
	long long expire;     /* seconds, 0: never */
	long long syn_rate, syn_burst; /* -1: unchanged */
	enum xpf_mode mode;
	bool replace, force;
	const char *pos[2];   /* positional arguments after the verb */
	int npos;
};

static int kerr(int err)
{
	return err == -ENOENT || err == -EPERM || err == -EEXIST ? EX_REFUSED : EX_UNAVAIL;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "netns", required_argument, NULL, 'N' },
		{ "reason", required_argument, NULL, 'r' },
		{ "expire", required_argument, NULL, 'e' },
		{ "syn-rate", required_argument, NULL, 'R' },
		{ "syn-burst", required_argument, NULL, 'B' },
		{ "native", no_argument, NULL, 'd' },
		{ "generic", no_argument, NULL, 'g' },
		{ "replace", no_argument, NULL, 'p' },
		{ "force", no_argument, NULL, 'f' },
		{ "local", no_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->syn_rate = o->syn_burst = -1;
	optind = 0; /* glibc: re-initialise; the verb is argv[0] */
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'n': o->name = optarg; break;
		case 'N': o->netns = optarg; break;
		case 'r': o->reason = optarg; break;
		case 'e': case 'R': case 'B': {
			long long v = strtoll(optarg, &end, 10);

			if (*end || !*optarg || v < 0 || v > 100LL * 365 * 86400)
				return cli_fail(EX_USAGE, "--%s: '%s' is not a count", c == 'e' ? "expire" :
					    c == 'R' ? "syn-rate" : "syn-burst", optarg);
			if (c == 'e')
				o->expire = v;
			else if (c == 'R')
				o->syn_rate = v;
			else
				o->syn_burst = v;
			break;
		}
		case 'd': o->mode = XPF_MODE_NATIVE; break;
		case 'g': o->mode = XPF_MODE_GENERIC; break;
		case 'p': o->replace = true; break;
		case 'f': o->force = true; break;
		case 'L': break; /* chose this file (ctl_xdp_cli_is_local) */
		default: return EX_USAGE;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (o->npos == 2)
			return cli_fail(EX_USAGE, "%s: too many arguments", argv[0]);
		o->pos[o->npos++] = argv[i];
	}
	if (o->name && !xpf_name_ok(o->name))
		return cli_fail(EX_USAGE, "--name: '%s' is not [A-Za-z0-9_.-]{1,63}", o->name);
	return 0;
}

/* Enters network namespace |ns| (this thread only; mxgatectl has one). */
static int enter_netns(const char *ns)
{
	char path[512];
	int fd;

	if (!ns)
		return 0;
	snprintf(path, sizeof(path), strchr(ns, '/') ? "%s" : "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cli_fail(EX_USAGE, "--netns %s: %s", ns, strerror(errno));
	if (setns(fd, CLONE_NEWNET)) {
		close(fd);
		return cli_fail(EX_UNAVAIL, "--netns %s: %s", ns, strerror(errno));
	}
	close(fd);
	return 0;
}

static int ifindex_of(const struct opts *o, const char *verb, int *ifindex)
{
	int rc;

	if (o->npos != 1)
		return cli_fail(EX_USAGE, "xdp %s IFACE", verb);
	if ((rc = enter_netns(o->netns)))
		return rc;
	*ifindex = (int)if_nametoindex(o->pos[0]);
	if (!*ifindex)
		return cli_fail(EX_USAGE, "%s: no such interface%s%s", o->pos[0],
			    o->netns ? " in netns " : "", o->netns ? o->netns : "");
	if (!xpf_name_ok(o->name ? o->name : o->pos[0]))
		return cli_fail(EX_USAGE, "%s: not usable as an instance name (give --name)", o->pos[0]);
	return 0;
}

static int xdp_attach(const struct opts *o)
{
	const char *name = o->name ? o->name : o->pos[0];
	struct xpf *x = NULL;
	int ifindex, rc, err;

	if ((rc = ifindex_of(o, "attach", &ifindex)))
		return rc;
	if ((err = xpf_load(false, &x)))
		return cli_fail(EX_UNAVAIL, "loading the XDP program: %s", strerror(-err));
	if ((err = xpf_attach(x, ifindex, o->mode, o->replace))) {
		xpf_close(x);
		return cli_fail(kerr(err), "attaching to %s: %s%s", o->pos[0], strerror(-err),
			    err == -EEXIST || err == -EBUSY ? " (another program: --replace)" : "");
	}
	if ((err = xpf_pin(x, name))) {
		xpf_detach(ifindex, false);
		xpf_close(x);
		return cli_fail(EX_UNAVAIL, "pinning under %s/%s: %s", XPF_PIN_ROOT, name,
			    strerror(-err));
	}
	xpf_close(x);
	printf("attached to %s, maps in %s/%s\n", o->pos[0], XPF_PIN_ROOT, name);
	return 0;
}

static int xdp_adopt(const struct opts *o)
{
	const char *name = o->name ? o->name : o->pos[0];
	int ifindex, rc, err;

	if ((rc = ifindex_of(o, "adopt", &ifindex)))
		return rc;
	if ((err = xpf_pin_attached(ifindex, name)))
		return cli_fail(kerr(err), "%s: %s", o->pos[0],
			    err == -EPERM ? "its XDP program is not xpf_prog" : strerror(-err));
	printf("maps of the program on %s in %s/%s\n", o->pos[0], XPF_PIN_ROOT, name);
	return 0;
}

static int xdp_detach(const struct opts *o)
{
	const char *name = o->name ? o->name : o->pos[0];
	int ifindex, rc, err;

	if ((rc = ifindex_of(o, "detach", &ifindex)))
		return rc;
	err = xpf_detach(ifindex, o->force);
	if (err && err != -ENOENT)
		return cli_fail(kerr(err), "%s: %s", o->pos[0],
			    err == -EPERM ? "not our program (--force)" : strerror(-err));
	xpf_unpin(name);
	if (err == -ENOENT)
		return cli_fail(EX_REFUSED, "%s: no XDP program attached", o->pos[0]);
	return 0;
}

/* Runs |fn| on the named instance, or on each pinned one. */
struct each {
	const struct opts *o;
	int (*fn)(struct xpf *x, const char *name, const struct opts *o);
	int rc;
	int n;
};

static void each_cb(const char *name, void *ud)
{
	struct each *e = ud;
	struct xpf *x;
	int err = xpf_open(name, &x), rc;

	e->n++;
	if (err) {
		cli_fail(EX_UNAVAIL, "instance %s: %s", name, strerror(-err));
		e->rc = e->rc ? e->rc : EX_UNAVAIL;
		return;
	}
	rc = e->fn(x, name, e->o);
	if (rc && !e->rc)
		e->rc = rc;
	xpf_close(x);
}

static int for_each(const struct opts *o,
		    int (*fn)(struct xpf *x, const char *name, const struct opts *o))
{
	struct each e = { o, fn, 0, 0 };
	int n;

	if (o->name) {
		each_cb(o->name, &e);
		return e.rc;
	}
	n = xpf_instances(each_cb, &e);
	if (n < 0)
		return cli_fail(EX_UNAVAIL, "%s: %s", XPF_PIN_ROOT, strerror(-n));
	if (n == 0)
		return cli_fail(EX_REFUSED, "no XDP pre-filter instance pinned under %s "
			    "(mxgatectl xdp attach|adopt IFACE)", XPF_PIN_ROOT);
	return e.rc;
}

static int stats_one(struct xpf *x, const char *name, const struct opts *o)
{
	struct xpf_counter st[XPF_STAT__MAX], rs[XPF_REASON_MAX];
	struct xpf_conf c = { 0 };
	int err = xpf_stats_read(x, st, rs);

	if (err)
		return cli_fail(EX_UNAVAIL, "%s: counters: %s", name, strerror(-err));
	xpf_conf_get(x, &c);
	printf("%s:\n", name);
	for (unsigned i = 0; i < XPF_STAT__MAX; i++)
		printf("  %-14s %12llu packets %14llu bytes\n", xpf_stat_name(i),
		       (unsigned long long)st[i].packets, (unsigned long long)st[i].bytes);
	for (unsigned i = 0; i < XPF_REASON_MAX; i++) {
		const char *rn = xpf_reason_name(i);

		if (rs[i].packets)
			printf("  reason %-7s %12llu packets %14llu bytes\n", rn ? rn : "?",
			       (unsigned long long)rs[i].packets, (unsigned long long)rs[i].bytes);
	}
	printf("  syn_rate %u/s burst %u\n", c.syn_rate, c.syn_burst);
	return 0;
}

static int conf_one(struct xpf *x, const char *name, const struct opts *o)
{
	struct xpf_conf c = { 0 };
	int err = xpf_conf_get(x, &c);

	if (!err && o->syn_rate >= 0)
		c.syn_rate = (uint32_t)o->syn_rate;
	if (!err && o->syn_burst >= 0)
		c.syn_burst = (uint32_t)o->syn_burst;
	if (!err && c.syn_rate && !c.syn_burst)
		c.syn_burst = c.syn_rate;
	if (!err)
		err = xpf_conf_set(x, &c);
	if (err)
		return cli_fail(EX_UNAVAIL, "%s: %s", name, strerror(-err));
	printf("%s: syn_rate %u/s burst %u\n", name, c.syn_rate, c.syn_burst);
	return 0;
}

static int parse_prefix(const struct opts *o, const char *what, struct mxg_prefix *p)
{
	if (o->npos != 1)
		return cli_fail(EX_USAGE, "%s PREFIX", what);
	if (mxg_prefix_parse(o->pos[0], p))
		return cli_fail(EX_USAGE, "'%s' is not an address or prefix", o->pos[0]);
	return 0;
}

static int block_add_one(struct xpf *x, const char *name, const struct opts *o)
{
	struct mxg_prefix p;
	uint32_t reason = XPF_REASON_MANUAL;
	uint64_t exp = o->expire ? xpf_now_ns() + (uint64_t)o->expire * 1000000000ull : 0;
	int err;

	parse_prefix(o, "block add", &p);
	if (o->reason)
		xpf_reason_parse(o->reason, &reason);
	if ((err = xpf_block_add(x, &p, reason, exp, 0)))
		return cli_fail(EX_UNAVAIL, "%s: %s", name, strerror(-err));
	return 0;
}

static int block_del_one(struct xpf *x, const char *name, const struct opts *o)
{
	struct mxg_prefix p;
	int err;

	parse_prefix(o, "block del", &p);
	if ((err = xpf_block_del(x, &p)))
		return cli_fail(kerr(err), "%s: %s: %s", name, o->pos[0],
			    err == -ENOENT ? "not in the blocklist" : strerror(-err));
	return 0;
}

struct lister {
	const char *name;
	uint64_t now;
};

static int print_block(const struct mxg_prefix *p, const struct xpf_block *b, void *ud)
{
	struct lister *l = ud;
	char ip[64], exp[32];
	const char *rn = xpf_reason_name(b->reason);
	char rbuf[16];

	if (!rn) {
		snprintf(rbuf, sizeof(rbuf), "%u", b->reason);
		rn = rbuf;
	}
	if (!b->expires_ns)
		snprintf(exp, sizeof(exp), "never");
	else if (b->expires_ns <= l->now)
		snprintf(exp, sizeof(exp), "expired");
	else
		snprintf(exp, sizeof(exp), "%llus",
			 (unsigned long long)((b->expires_ns - l->now + 999999999ull) / 1000000000ull));
	printf("%-12s %-43s %-9s %-9s %s\n", l->name, mxg_ip_str(&p->ip, ip, sizeof(ip)) ?
	       (snprintf(ip + strlen(ip), sizeof(ip) - strlen(ip), "/%u", p->len), ip) : "?",
	       rn, exp, b->flags & XPF_BLOCK_F_CTL ? "control" : "local");
	return 0;
}

static int block_list_one(struct xpf *x, const char *name, const struct opts *o)
{
	struct lister l = { name, xpf_now_ns() };
	int err = xpf_block_list(x, print_block, &l);

	return err ? cli_fail(EX_UNAVAIL, "%s: %s", name, strerror(-err)) : 0;
}

static int block_gc_one(struct xpf *x, const char *name, const struct opts *o)
{
	int n = xpf_block_gc(x, xpf_now_ns());

	if (n < 0)
		return cli_fail(EX_UNAVAIL, "%s: %s", name, strerror(-n));
	printf("%s: %d expired entries removed\n", name, n);
	return 0;
}

static int allow_add_one(struct xpf *x, const char *name, const struct opts *o)
{
	struct mxg_prefix p;
	int err;

	parse_prefix(o, "allow add", &p);
	return (err = xpf_allow_add(x, &p)) ? cli_fail(EX_UNAVAIL, "%s: %s", name, strerror(-err)) : 0;
}

static int allow_del_one(struct xpf *x, const char *name, const struct opts *o)
{
	struct mxg_prefix p;
	int err;

	parse_prefix(o, "allow del", &p);
	if ((err = xpf_allow_del(x, &p)))
		return cli_fail(kerr(err), "%s: %s: %s", name, o->pos[0],
			    err == -ENOENT ? "not in the allow list" : strerror(-err));
	return 0;
}

static int print_allow(const struct mxg_prefix *p, void *ud)
{
	char ip[64];

	printf("%-12s %s/%u\n", (const char *)ud, mxg_ip_str(&p->ip, ip, sizeof(ip)), p->len);
	return 0;
}

static int allow_list_one(struct xpf *x, const char *name, const struct opts *o)
{
	int err = xpf_allow_list(x, print_allow, (void *)name);

	return err ? cli_fail(EX_UNAVAIL, "%s: %s", name, strerror(-err)) : 0;
}

static void print_name(const char *name, void *ud)
{
	printf("%s\n", name);
}

bool ctl_xdp_cli_is_local(int argc, char **argv)
{
	if (argc < 1)
		return false;
	if (!strcmp(argv[0], "xdp"))
		return true;
	if (strcmp(argv[0], "block") && strcmp(argv[0], "allow"))
		return false;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--control"))
			return false;
	if (!strcmp(argv[0], "allow"))
		return true;
	/* block add/remove/list go to the control plane (stored, pushed to
	 * every dataplane); the local maps with --name/--local, or for the
	 * verbs only they have (del, gc) */
	if (argc > 1 && (!strcmp(argv[1], "del") || !strcmp(argv[1], "gc")))
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--local") || !strcmp(argv[i], "--name") ||
		    !strncmp(argv[i], "--name=", 7))
			return true;
	return false;
}

int ctl_xdp_cli_main(int argc, char **argv)
{
	struct opts o;
	const char *cmd = argv[0], *verb;
	int rc;

	if (argc < 2)
		return cli_fail(EX_USAGE, "%s: which subcommand? (mxgatectl --help)", cmd);
	verb = argv[1];
	if ((rc = parse_opts(argc - 1, argv + 1, &o)))
		return rc;
	if (o.netns && strcmp(cmd, "xdp"))
		return cli_fail(EX_USAGE, "--netns only serves xdp attach/adopt/detach");
	if (!strcmp(cmd, "xdp")) {
		if (!strcmp(verb, "attach"))
			return xdp_attach(&o);
		if (!strcmp(verb, "adopt"))
			return xdp_adopt(&o);
		if (!strcmp(verb, "detach"))
			return xdp_detach(&o);
		if (!strcmp(verb, "list")) {
			int n = xpf_instances(print_name, NULL);

			return n < 0 ? cli_fail(EX_UNAVAIL, "%s: %s", XPF_PIN_ROOT, strerror(-n)) : 0;
		}
		if (!strcmp(verb, "stats"))
			return for_each(&o, stats_one);
		if (!strcmp(verb, "conf"))
			return for_each(&o, conf_one);
		return cli_fail(EX_USAGE, "xdp: unknown subcommand '%s'", verb);
	}
	if (!strcmp(cmd, "block")) {
		struct mxg_prefix p;
		uint32_t r;

		if (!strcmp(verb, "add") || !strcmp(verb, "del")) {
			if ((rc = parse_prefix(&o, verb, &p)))
				return rc;
			if (o.reason && xpf_reason_parse(o.reason, &r))
				return cli_fail(EX_USAGE, "--reason: '%s' is not a reason name or code",
					    o.reason);
			return for_each(&o, !strcmp(verb, "add") ? block_add_one : block_del_one);
		}
		if (!strcmp(verb, "list")) {
			printf("%-12s %-43s %-9s %-9s %s\n", "INSTANCE", "PREFIX", "REASON",
			       "EXPIRES", "OWNER");
			return for_each(&o, block_list_one);
		}
		if (!strcmp(verb, "gc"))
			return for_each(&o, block_gc_one);
		return cli_fail(EX_USAGE, "block: unknown subcommand '%s'", verb);
	}
	if (!strcmp(verb, "add") || !strcmp(verb, "del")) {
		struct mxg_prefix p;

		if ((rc = parse_prefix(&o, verb, &p)))
			return rc;
		return for_each(&o, !strcmp(verb, "add") ? allow_add_one : allow_del_one);
	}
	if (!strcmp(verb, "list"))
		return for_each(&o, allow_list_one);
	return cli_fail(EX_USAGE, "allow: unknown subcommand '%s'", verb);
}
