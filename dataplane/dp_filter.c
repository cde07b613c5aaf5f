/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_filter.c - the sender filter in software (dp_filter.h): blocklist,
 * allow list (known hosts) and per-source SYN buckets, for the PMDs whose
 * frames no XDP program saw; and the [filter] configuration section.
 *
 * Tables: one rte_hash per worker and list, keyed by (family, prefix
 * length, masked address). A lookup tries, longest first, each prefix
 * length that has at least one entry (a count per length says which), so
 * its cost is the number of distinct lengths in use - in practice /32,
 * /24 and a few more, or /128, /64, /48 - and the memory is per entry.
 * rte_lpm was the obvious alternative and was not taken: its tbl24 is a
 * fixed 64 MiB per instance, which a --no-huge dataplane with -m 256
 * cannot afford per worker, and rte_lpm6 has no expiry or reason to hang
 * on a rule. XDP's LPM trie keeps the kernel side; this is the same
 * longest-prefix semantics.
 *
 * Updates: each worker is the only writer and the only reader of its
 * tables. The control path (today the telemetry commands below, run on
 * DPDK's telemetry thread; later the control channel's service thread)
 * enqueues a message per change on every worker's ring (multi-producer,
 * single consumer); the worker applies them at the top of its next poll.
 * No RCU is needed because nothing is shared; the cost is one copy of the
 * tables per worker, which is why max_entries is bounded.
 *
 * Expiry: entries carry a deadline in the dataplane's clock (dp_now); a
 * lookup that finds an expired entry deletes it (the worker owns it) and
 * lets the SYN through.
 *
 * SYN buckets: a direct-mapped table of DP_FLT_BUCKETS slots per worker,
 * indexed by a hash of the source; a colliding source takes the slot over
 * with a full bucket. So a flood from many sources can reset a victim's
 * bucket - the limit is best effort, as a per-source limit under a
 * spoofed-source flood always is (tcpstack's SYN cookies handle that
 * case). Flows are spread over workers by RSS, so the effective limit is
 * syn_rate per worker a source's SYNs land on.
 *
 * Telemetry commands (root-only Unix socket; params after the comma):
 *   /mxgate/filter                      counters summed over workers, sizes
 *   /mxgate/filter/block,P[,R[,SECS]]   block prefix P, reason R, for SECS
 *   /mxgate/filter/unblock,P
 *   /mxgate/filter/allow,P  /mxgate/filter/disallow,P
 *   /mxgate/filter/list                 the blocklist as applied ('.' and ':'
 *                                       of the prefixes written '_')
 *   /mxgate/filter/conf,RATE,BURST      SYN bucket (0 = off)
 *   /mxgate/filter/xdp                  per net_af_xdp port, the counters of
 *                                       its XDP program (read through the pins,
 *                                       as `mxgatectl xdp stats` does)
 * Each answers {"ok": 1} once the change is queued to every worker, or an
 * "error" string.
 */
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_telemetry.h>

#include "dp.h"
#include "dp_filter.h"
#include "mxg_err.h"
#include "mxg_log.h"
#ifdef MXG_HAVE_XPF
#include "xpf.h"
#endif

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11 /* linux/magic.h */
#endif

#define COMP "filter"
#define DP_FLT_BUCKETS 4096  /* SYN bucket slots per worker (power of 2) */
#define DP_FLT_RING 4096     /* pending changes per worker */
#define DP_FLT_LIST_MAX 256  /* entries /mxgate/filter/list shows */

/* ---- configuration ---------------------------------------------------- */

int dp_filter_conf_load(struct mxg_conf *mc, struct dp_filter_conf *c, char *err, size_t errlen)
{
	struct mxg_conf_sec *s = mxg_conf_find(mc, "filter", "");
	const char *v;
	uint64_t u;
	int rc;

	memset(c, 0, sizeof(*c));
	if ((rc = mxg_conf_get_bool(s, "enabled", true, &c->enabled, err, errlen)) ||
	    (rc = mxg_conf_get_bool(s, "xdp_pin", true, &c->xdp_pin, err, errlen)))
		return rc;
	if ((rc = mxg_conf_get_u64(s, "max_entries", 65536, 16, 1u << 22, &u, err, errlen)))
		return rc;
	c->max_entries = (uint32_t)u;
	if ((rc = mxg_conf_get_u64(s, "syn_rate", 0, 0, 10000000, &u, err, errlen)))
		return rc;
	c->syn_rate = (uint32_t)u;
	if ((rc = mxg_conf_get_u64(s, "syn_burst", c->syn_rate, 0, 10000000, &u, err, errlen)))
		return rc;
	c->syn_burst = (uint32_t)u;
	if (c->syn_rate && !c->syn_burst)
		return mxg_conf_err(s, "syn_burst", err, errlen, "must be >= 1 with syn_rate");
	v = mxg_conf_get(s, "known_hosts");
	if (v) {
		char buf[4096], *save = NULL, *tok;

		if (strlen(v) >= sizeof(buf))
			return mxg_conf_err(s, "known_hosts", err, errlen, "list too long");
		strcpy(buf, v);
		for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
			if (c->nallow == DP_FILTER_ALLOW_MAX)
				return mxg_conf_err(s, "known_hosts", err, errlen,
						    "more than %d entries", DP_FILTER_ALLOW_MAX);
			if (mxg_prefix_parse(tok, &c->allow[c->nallow]))
				return mxg_conf_err(s, "known_hosts", err, errlen,
						    "'%s' is not an address or prefix", tok);
			c->nallow++;
		}
	}
	return 0;
}

/* ---- per-worker tables ------------------------------------------------ */

struct __rte_aligned(4) pkey { /* aligned: rte_jhash reads 32-bit words */
	uint8_t fam; /* 0: IPv4, 1: IPv6 */
	uint8_t len;
	uint8_t pad[2];
	uint8_t a[16];
};

struct pentry {
	mxg_tstamp expires; /* dp_now ns; 0 = never */
	uint32_t reason;
	uint32_t pad;
};

struct pset {
	struct rte_hash *h;
	struct pentry *v;       /* [capacity], indexed by the hash's key position */
	uint32_t cnt[2][129];   /* entries per family and prefix length */
};

struct bucket {
	uint8_t a[16];
	uint8_t fam;            /* 0 = empty slot, 4 or 6 */
	mxg_tstamp credit, last;
};

enum msg_op { OP_BLOCK = 1, OP_UNBLOCK, OP_ALLOW, OP_DISALLOW, OP_CONF };

struct dp_filter_msg {
	uint8_t op;
	uint8_t fam;            /* 4 or 6 */
	uint8_t len;
	uint8_t pad;
	uint32_t reason;        /* OP_BLOCK; OP_CONF: syn_rate */
	uint64_t expires;       /* OP_BLOCK: dp_now ns, 0 = never; OP_CONF: burst */
	uint8_t a[16];
};

struct dp_filter_worker {
	struct rte_ring *ring;
	struct pset block, allow;
	struct bucket *bk;      /* [DP_FLT_BUCKETS] */
	uint32_t syn_rate, syn_burst;
	struct dp_filter_stats st;
};

static void mask(uint8_t *a, unsigned n, unsigned bits)
{
	for (unsigned i = 0; i < n; i++) {
		if (bits >= 8) {
			bits -= 8;
		} else {
			a[i] &= (uint8_t)(0xff00u >> bits);
			bits = 0;
		}
	}
}

static void make_key(struct pkey *k, int fam, unsigned len, const uint8_t *a)
{
	unsigned n = fam == 4 ? 4 : 16;

	memset(k, 0, sizeof(*k));
	k->fam = fam == 4 ? 0 : 1;
	k->len = (uint8_t)len;
	memcpy(k->a, a, n);
	mask(k->a, n, len);
}

static int pset_init(struct pset *s, const char *name, uint32_t cap)
{
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = cap,
		.key_len = sizeof(struct pkey),
		.hash_func = rte_jhash,
		.socket_id = (int)rte_socket_id(),
	};

	memset(s, 0, sizeof(*s));
	s->h = rte_hash_create(&hp);
	if (!s->h)
		return MXG_E_NOMEM;
	s->v = rte_zmalloc(name, sizeof(*s->v) * (cap + 8), RTE_CACHE_LINE_SIZE);
	return s->v ? 0 : MXG_E_NOMEM;
}

static void pset_fini(struct pset *s)
{
	rte_hash_free(s->h);
	s->h = NULL;
	rte_free(s->v);
	s->v = NULL;
}

static int pset_add(struct pset *s, int fam, unsigned len, const uint8_t *a, mxg_tstamp exp,
		    uint32_t reason)
{
	struct pkey k;
	int32_t pos;

	make_key(&k, fam, len, a);
	if (rte_hash_lookup(s->h, &k) < 0)
		s->cnt[k.fam][len]++;
	pos = rte_hash_add_key(s->h, &k);
	if (pos < 0) {
		s->cnt[k.fam][len]--;
		return pos;
	}
	s->v[pos].expires = exp;
	s->v[pos].reason = reason;
	return 0;
}

static int pset_del(struct pset *s, int fam, unsigned len, const uint8_t *a)
{
	struct pkey k;

	make_key(&k, fam, len, a);
	if (rte_hash_del_key(s->h, &k) < 0)
		return MXG_E_NOENT;
	s->cnt[k.fam][len]--;
	return 0;
}

/* Longest match of |ip| in |s|: the entry, or NULL (expired ones are
 * deleted on the way and counted in *|expired|). */
static struct pentry *pset_match(struct pset *s, const struct mxg_ip *ip, mxg_tstamp now,
				 uint64_t *expired)
{
	int f = ip->family == 4 ? 0 : 1;
	int maxlen = f ? 128 : 32;

	for (int len = maxlen; len >= 0; len--) {
		struct pkey k;
		int32_t pos;

		if (!s->cnt[f][len])
			continue;
		make_key(&k, ip->family, (unsigned)len, ip->a);
		pos = rte_hash_lookup(s->h, &k);
		if (pos < 0)
			continue;
		if (s->v[pos].expires && s->v[pos].expires <= now) {
			rte_hash_del_key(s->h, &k);
			s->cnt[f][len]--;
			(*expired)++;
			continue; /* a shorter, live prefix may still cover it */
		}
		return &s->v[pos];
	}
	return NULL;
}

static void apply(struct dp_filter_worker *fw, const struct dp_filter_msg *m)
{
	int rc = 0;

	switch (m->op) {
	case OP_BLOCK:
		rc = pset_add(&fw->block, m->fam, m->len, m->a, m->expires, m->reason);
		break;
	case OP_UNBLOCK:
		pset_del(&fw->block, m->fam, m->len, m->a); /* absent: nothing to do */
		break;
	case OP_ALLOW:
		rc = pset_add(&fw->allow, m->fam, m->len, m->a, 0, 0);
		break;
	case OP_DISALLOW:
		pset_del(&fw->allow, m->fam, m->len, m->a);
		break;
	case OP_CONF:
		fw->syn_rate = m->reason;
		fw->syn_burst = (uint32_t)m->expires;
		memset(fw->bk, 0, sizeof(*fw->bk) * DP_FLT_BUCKETS);
		break;
	}
	if (rc)
		fw->st.update_fail++;
	else
		fw->st.updates++;
}

void dp_filter_drain(struct dp_worker *w, mxg_tstamp now)
{
	struct dp_filter_worker *fw = w->filter;
	struct dp_filter_msg m[32];
	unsigned n;

	(void)now;
	if (!fw)
		return;
	while ((n = rte_ring_sc_dequeue_burst_elem(fw->ring, m, sizeof(m[0]), RTE_DIM(m), NULL)))
		for (unsigned i = 0; i < n; i++)
			apply(fw, &m[i]);
}

static bool syn_admit(struct dp_filter_worker *fw, const struct mxg_ip *src, mxg_tstamp now)
{
	unsigned n = src->family == 4 ? 4 : 16;
	uint32_t k[4], h;
	struct bucket *b;

	memcpy(k, src->a, n); /* mxg_ip.a sits at offset 1: jhash reads words */
	h = rte_jhash(k, n, src->family) & (DP_FLT_BUCKETS - 1);
	b = &fw->bk[h];
	mxg_tstamp cost = MXG_NSEC_PER_SEC / fw->syn_rate;
	mxg_tstamp cap = cost * fw->syn_burst;

	if (b->fam != src->family || memcmp(b->a, src->a, n)) {
		b->fam = src->family;
		memcpy(b->a, src->a, n);
		b->credit = cap - cost;
		b->last = now;
		return true;
	}
	if (now > b->last) {
		b->credit = RTE_MIN(cap, b->credit + (now - b->last));
		b->last = now;
	}
	if (b->credit < cost)
		return false;
	b->credit -= cost;
	return true;
}

bool dp_filter_syn_drop(struct dp_worker *w, const struct mxg_ip *src, mxg_tstamp now)
{
	struct dp_filter_worker *fw = w->filter;
	struct pentry *e;

	if (!fw)
		return false;
	fw->st.syn_checked++;
	if (pset_match(&fw->allow, src, now, &fw->st.expired)) {
		fw->st.allowed++;
		return false;
	}
	e = pset_match(&fw->block, src, now, &fw->st.expired);
	if (e) {
		fw->st.drop_blocked++;
		return true;
	}
	if (fw->syn_rate && !syn_admit(fw, src, now)) {
		fw->st.drop_synrate++;
		return true;
	}
	return false;
}

bool dp_filter_ip_blocked(struct dp_worker *w, const struct mxg_ip *ip, mxg_tstamp now)
{
	struct dp_filter_worker *fw = w->filter;

	if (!fw || (ip->family != 4 && ip->family != 6))
		return false;
	if (pset_match(&fw->allow, ip, now, &fw->st.expired))
		return false;
	return pset_match(&fw->block, ip, now, &fw->st.expired) != NULL;
}

/* ---- the control path: telemetry commands ----------------------------- */

/* The blocklist as the writers see it, for /mxgate/filter/list and for
 * expiries in CLOCK_MONOTONIC-free form. Guarded by flt_lock. */
struct mentry {
	struct mxg_prefix p;
	mxg_tstamp expires;
	uint32_t reason;
};

static pthread_mutex_t flt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dp_ctx *flt_ctx;
static struct mentry *mlist;
static size_t mlist_n, mlist_cap;
static bool pinned[DP_MAX_PORTS]; /* ports whose XDP maps we pinned (to unpin) */
static struct dp_ctx *xdp_ctx;     /* for /mxgate/filter/xdp, even with the filter off */

static void mlist_del(const struct mxg_prefix *p)
{
	for (size_t i = 0; i < mlist_n; i++)
		if (mlist[i].p.ip.family == p->ip.family && mlist[i].p.len == p->len &&
		    !memcmp(mlist[i].p.ip.a, p->ip.a, 16)) {
			mlist[i] = mlist[--mlist_n];
			return;
		}
}

static void mlist_put(const struct mxg_prefix *p, mxg_tstamp exp, uint32_t reason)
{
	mlist_del(p);
	if (mlist_n == mlist_cap) {
		size_t cap = mlist_cap ? mlist_cap * 2 : 64;
		struct mentry *n = realloc(mlist, cap * sizeof(*n));

		if (!n)
			return; /* the list shown is then short; the tables are right */
		mlist = n;
		mlist_cap = cap;
	}
	mlist[mlist_n++] = (struct mentry){*p, exp, reason};
}

/* Sends |m| to every worker. Returns 0, or MXG_E_AGAIN when a ring was
 * full (the workers that got it apply it; the caller reports the error). */
static int broadcast(struct dp_ctx *ctx, const struct dp_filter_msg *m)
{
	int rc = 0;

	for (unsigned i = 0; i < ctx->nworkers; i++) {
		struct dp_filter_worker *fw = ctx->worker[i].filter;

		if (fw && rte_ring_mp_enqueue_elem(fw->ring, (void *)m, sizeof(*m)))
			rc = MXG_E_AGAIN;
	}
	return rc;
}

static int parse_pfx(const char *s, struct mxg_prefix *p, struct dp_filter_msg *m)
{
	unsigned n;

	if (!s || mxg_prefix_parse(s, p))
		return -1;
	n = p->ip.family == 4 ? 4 : 16;
	mask(p->ip.a, n, p->len);
	m->fam = p->ip.family;
	m->len = p->len;
	memcpy(m->a, p->ip.a, n);
	return 0;
}

static int reply(struct rte_tel_data *d, int rc, const char *what)
{
	rte_tel_data_start_dict(d);
	if (rc)
		rte_tel_data_add_dict_string(d, "error", what);
	else
		rte_tel_data_add_dict_int(d, "ok", 1);
	return 0;
}

static int parse_reason(const char *s, uint32_t *r)
{
	char *end;
	unsigned long v;

#ifdef MXG_HAVE_XPF
	if (xpf_reason_parse(s, r) == 0)
		return 0;
#endif
	v = strtoul(s, &end, 10);
	if (!*s || *end || v > INT32_MAX)
		return -1;
	*r = (uint32_t)v;
	return 0;
}

static int cmd_change(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dp_filter_msg m = {0};
	struct mxg_prefix p;
	char buf[256], *save = NULL, *a[4] = {0};
	const char *verb = strrchr(cmd, '/') + 1;
	int n = 0, rc;

	snprintf(buf, sizeof(buf), "%s", params ? params : "");
	for (char *t = strtok_r(buf, ",", &save); t && n < 4; t = strtok_r(NULL, ",", &save))
		a[n++] = t;
	pthread_mutex_lock(&flt_lock);
	if (!flt_ctx) {
		pthread_mutex_unlock(&flt_lock);
		return reply(d, -1, "stopped");
	}
	if (!strcmp(verb, "conf")) {
		char *e1 = NULL, *e2 = NULL;
		unsigned long rate = a[0] ? strtoul(a[0], &e1, 10) : 0;
		unsigned long burst = a[1] ? strtoul(a[1], &e2, 10) : rate;

		if (!a[0] || *e1 || (a[1] && *e2) || rate > 10000000 || burst > 10000000 ||
		    (rate && !burst)) {
			pthread_mutex_unlock(&flt_lock);
			return reply(d, -1, "usage: /mxgate/filter/conf,RATE[,BURST]");
		}
		m.op = OP_CONF;
		m.reason = (uint32_t)rate;
		m.expires = burst;
	} else if (parse_pfx(a[0], &p, &m)) {
		pthread_mutex_unlock(&flt_lock);
		return reply(d, -1, "usage: /mxgate/filter/VERB,PREFIX[,REASON[,SECONDS]]");
	} else if (!strcmp(verb, "block")) {
		uint32_t reason = 1; /* XPF_REASON_MANUAL */
		char *e = NULL;
		unsigned long secs = a[2] ? strtoul(a[2], &e, 10) : 0;

		if ((a[1] && parse_reason(a[1], &reason)) || (a[2] && *e)) {
			pthread_mutex_unlock(&flt_lock);
			return reply(d, -1, "bad reason or seconds");
		}
		m.op = OP_BLOCK;
		m.reason = reason;
		m.expires = secs ? dp_now(flt_ctx) + secs * MXG_NSEC_PER_SEC : 0;
		mlist_put(&p, m.expires, reason);
	} else if (!strcmp(verb, "unblock")) {
		m.op = OP_UNBLOCK;
		mlist_del(&p);
	} else if (!strcmp(verb, "allow")) {
		m.op = OP_ALLOW;
	} else {
		m.op = OP_DISALLOW;
	}
	rc = broadcast(flt_ctx, &m);
	pthread_mutex_unlock(&flt_lock);
	return reply(d, rc, "a worker's change ring is full: retry");
}

static int cmd_list(const char *cmd, const char *params, struct rte_tel_data *d)
{
	mxg_tstamp now;

	rte_tel_data_start_dict(d);
	pthread_mutex_lock(&flt_lock);
	if (!flt_ctx) {
		pthread_mutex_unlock(&flt_lock);
		return 0;
	}
	now = dp_now(flt_ctx);
	for (size_t i = 0; i < mlist_n && i < DP_FLT_LIST_MAX; i++) {
		const struct mentry *e = &mlist[i];
		char ip[64], key[80];
		uint64_t left;

		if (e->expires && e->expires <= now)
			continue;
		snprintf(key, sizeof(key), "%s/%u", mxg_ip_str(&e->p.ip, ip, sizeof(ip)), e->p.len);
		/* telemetry names allow [A-Za-z0-9_/] only: 198_51_100_0/24, 2001_db8__/32 */
		for (char *c = key; *c; c++)
			if (*c == '.' || *c == ':')
				*c = '_';
		left = e->expires ? (e->expires - now) / MXG_NSEC_PER_SEC + 1 : 0;
		rte_tel_data_add_dict_u64(d, key, ((uint64_t)e->reason << 32) | left);
	}
	pthread_mutex_unlock(&flt_lock);
	return 0;
}

static int cmd_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dp_filter_stats t = {0};

	rte_tel_data_start_dict(d);
	pthread_mutex_lock(&flt_lock);
	if (flt_ctx) {
		for (unsigned i = 0; i < flt_ctx->nworkers; i++) {
			const struct dp_filter_worker *fw = flt_ctx->worker[i].filter;

			if (!fw)
				continue;
			t.syn_checked += fw->st.syn_checked;
			t.drop_blocked += fw->st.drop_blocked;
			t.drop_synrate += fw->st.drop_synrate;
			t.allowed += fw->st.allowed;
			t.expired += fw->st.expired;
			t.updates += fw->st.updates;
			t.update_fail += fw->st.update_fail;
		}
		rte_tel_data_add_dict_u64(d, "enabled", flt_ctx->conf.filter.enabled);
		rte_tel_data_add_dict_u64(d, "entries", mlist_n);
	}
	pthread_mutex_unlock(&flt_lock);
	rte_tel_data_add_dict_u64(d, "syn_checked", t.syn_checked);
	rte_tel_data_add_dict_u64(d, "drop_blocked", t.drop_blocked);
	rte_tel_data_add_dict_u64(d, "drop_synrate", t.drop_synrate);
	rte_tel_data_add_dict_u64(d, "allowed", t.allowed);
	rte_tel_data_add_dict_u64(d, "expired", t.expired);
	rte_tel_data_add_dict_u64(d, "updates", t.updates);
	rte_tel_data_add_dict_u64(d, "update_fail", t.update_fail);
	return 0;
}

/* ---- life cycle -------------------------------------------------------- */

static int worker_init(struct dp_ctx *ctx, struct dp_worker *w)
{
	const struct dp_filter_conf *c = &ctx->conf.filter;
	struct dp_filter_worker *fw;
	char name[RTE_RING_NAMESIZE];

	fw = rte_zmalloc("mxg_filter", sizeof(*fw), RTE_CACHE_LINE_SIZE);
	if (!fw)
		return MXG_E_NOMEM;
	w->filter = fw;
	fw->bk = rte_zmalloc("mxg_flt_bk", sizeof(*fw->bk) * DP_FLT_BUCKETS, RTE_CACHE_LINE_SIZE);
	snprintf(name, sizeof(name), "mxg_fltq%u", w->idx);
	fw->ring = rte_ring_create_elem(name, sizeof(struct dp_filter_msg), DP_FLT_RING,
					(int)rte_socket_id(), RING_F_SC_DEQ);
	if (!fw->bk || !fw->ring)
		return MXG_E_NOMEM;
	snprintf(name, sizeof(name), "mxg_fltb%u", w->idx);
	if (pset_init(&fw->block, name, c->max_entries))
		return MXG_E_NOMEM;
	snprintf(name, sizeof(name), "mxg_flta%u", w->idx);
	if (pset_init(&fw->allow, name, RTE_MAX(c->max_entries / 16, 64u)))
		return MXG_E_NOMEM;
	fw->syn_rate = c->syn_rate;
	fw->syn_burst = c->syn_burst;
	for (unsigned i = 0; i < c->nallow; i++) {
		struct mxg_prefix p = c->allow[i];

		mask(p.ip.a, p.ip.family == 4 ? 4 : 16, p.len);
		pset_add(&fw->allow, p.ip.family, p.len, p.ip.a, 0, 0);
	}
	return 0;
}

static int cmd_xdp(const char *cmd, const char *params, struct rte_tel_data *d);

int dp_filter_init(struct dp_ctx *ctx)
{
	pthread_mutex_lock(&flt_lock);
	xdp_ctx = ctx;
	pthread_mutex_unlock(&flt_lock);
	rte_telemetry_register_cmd("/mxgate/filter/xdp", cmd_xdp,
				   "Counters of the XDP program of each net_af_xdp port "
				   "(through its pins). No parameters");
	if (!ctx->conf.filter.enabled) {
		MXG_INFO(COMP, "software sender filter disabled ([filter] enabled = no)");
		dp_filter_xdp_pin(ctx);
		return 0;
	}
	for (unsigned i = 0; i < ctx->nworkers; i++)
		if (worker_init(ctx, &ctx->worker[i])) {
			MXG_ERR(COMP, "worker %u: cannot allocate the filter tables "
				"(lower [filter] max_entries or raise -m)", i);
			return MXG_E_NOMEM;
		}
	pthread_mutex_lock(&flt_lock);
	flt_ctx = ctx;
	pthread_mutex_unlock(&flt_lock);
	rte_telemetry_register_cmd("/mxgate/filter", cmd_stats,
				   "Sender filter counters summed over workers. No parameters");
	rte_telemetry_register_cmd("/mxgate/filter/list", cmd_list,
				   "Blocklist: prefix -> reason << 32 | seconds left (0: never)");
	rte_telemetry_register_cmd("/mxgate/filter/block", cmd_change,
				   "Block a prefix. Parameters: PREFIX[,REASON[,SECONDS]]");
	rte_telemetry_register_cmd("/mxgate/filter/unblock", cmd_change,
				   "Remove a blocked prefix. Parameters: PREFIX");
	rte_telemetry_register_cmd("/mxgate/filter/allow", cmd_change,
				   "Add a known host (never dropped). Parameters: PREFIX");
	rte_telemetry_register_cmd("/mxgate/filter/disallow", cmd_change,
				   "Remove a known host. Parameters: PREFIX");
	rte_telemetry_register_cmd("/mxgate/filter/conf", cmd_change,
				   "SYN bucket per source. Parameters: RATE[,BURST] (0: off)");
	MXG_INFO(COMP, "software sender filter: %u entries per worker, syn_rate %u burst %u, "
		 "%u known hosts", ctx->conf.filter.max_entries, ctx->conf.filter.syn_rate,
		 ctx->conf.filter.syn_burst, ctx->conf.filter.nallow);
	dp_filter_xdp_pin(ctx);
	return 0;
}

void dp_filter_fini(struct dp_ctx *ctx)
{
	pthread_mutex_lock(&flt_lock);
	flt_ctx = NULL;
	xdp_ctx = NULL;
	free(mlist);
	mlist = NULL;
	mlist_n = mlist_cap = 0;
	pthread_mutex_unlock(&flt_lock);
	dp_filter_xdp_unpin(ctx);
	for (unsigned i = 0; ctx->worker && i < ctx->nworkers; i++) {
		struct dp_filter_worker *fw = ctx->worker[i].filter;

		if (!fw)
			continue;
		pset_fini(&fw->block);
		pset_fini(&fw->allow);
		rte_ring_free(fw->ring);
		rte_free(fw->bk);
		rte_free(fw);
		ctx->worker[i].filter = NULL;
	}
}

/* ---- XDP maps of net_af_xdp ports ------------------------------------- */

/* The iface= value of an af_xdp port's devargs, or false. */
static bool afxdp_iface(const struct dp_port_conf *pc, char *ifname, size_t len)
{
	const char *p = pc->devargs;

	if (strcmp(pc->pmd, "net_af_xdp"))
		return false;
	while (p && *p) {
		if (!strncmp(p, "iface=", 6)) {
			size_t n = strcspn(p + 6, ",");

			if (n == 0 || n >= len)
				return false;
			memcpy(ifname, p + 6, n);
			ifname[n] = '\0';
			return true;
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return false;
}

#ifdef MXG_HAVE_XPF
/* Makes sure /sys/fs/bpf is a bpffs, mounting one when it is not: `ip
 * netns exec` (and other launchers) give the process a fresh mount
 * namespace with a new sysfs, where /sys/fs/bpf is a plain directory and
 * every pin would fail. Where systemd mounted it already this is a
 * statfs. The mount lives in our mount namespace only. */
static void bpffs_ensure(void)
{
	static bool done;
	struct statfs sf;
	const char *dir = "/sys/fs/bpf";

	if (done)
		return;
	done = true;
	if (statfs(dir, &sf)) {
		MXG_NOTICE(COMP, "%s: %s: XDP maps cannot be pinned", dir, strerror(errno));
		return;
	}
	if ((unsigned long)sf.f_type == (unsigned long)BPF_FS_MAGIC)
		return;
	if (mount("bpf", dir, "bpf", 0, "mode=0700"))
		MXG_NOTICE(COMP, "%s is not a bpffs and mounting one failed: %s",
			   dir, strerror(errno));
	else
		MXG_INFO(COMP, "%s was not a bpffs (a private mount namespace?): mounted one "
			 "there for the XDP map pins", dir);
}
#endif

void dp_filter_xdp_pin(struct dp_ctx *ctx)
{
#ifdef MXG_HAVE_XPF
	char ifname[IF_NAMESIZE + 1];

	if (!ctx->conf.filter.xdp_pin)
		return;
	for (unsigned i = 0; i < ctx->nports; i++) {
		int err, ifindex;

		if (!ctx->port[i].conf || !afxdp_iface(ctx->port[i].conf, ifname, sizeof(ifname)))
			continue;
		bpffs_ensure();
		ifindex = (int)if_nametoindex(ifname);
		err = ifindex ? xpf_pin_attached(ifindex, ifname) : -ENODEV;
		if (err)
			MXG_NOTICE(COMP, "port %s: XDP maps not pinned under %s/%s: %s (run "
				   "`mxgatectl xdp adopt %s` where the bpffs is mounted)",
				   ctx->port[i].conf->name, XPF_PIN_ROOT, ifname, strerror(-err),
				   ifname);
		else if ((pinned[i] = true))
			MXG_INFO(COMP, "port %s: XDP maps pinned under %s/%s",
				 ctx->port[i].conf->name, XPF_PIN_ROOT, ifname);
	}
#else
	(void)ctx;
#endif
}

/* /mxgate/filter/xdp: {PORT: {"pin": 1, STAT: packets, ..., "reason_R":
 * packets}} for each net_af_xdp port; {"pin": 0, "error": ...} when its
 * pins cannot be opened (none, or not pinned in this mount namespace). */
static int cmd_xdp(const char *cmd, const char *params, struct rte_tel_data *d)
{
#ifdef MXG_HAVE_XPF
	char ifname[IF_NAMESIZE + 1];

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	pthread_mutex_lock(&flt_lock);
	for (unsigned i = 0; xdp_ctx && i < xdp_ctx->nports; i++) {
		const struct dp_port_conf *pc = xdp_ctx->port[i].conf;
		struct xpf_counter st[XPF_STAT__MAX], rs[XPF_REASON_MAX];
		struct rte_tel_data *pd;
		struct xpf *x = NULL;
		int err;

		if (!pc || !afxdp_iface(pc, ifname, sizeof(ifname)) || !(pd = rte_tel_data_alloc()))
			continue;
		rte_tel_data_start_dict(pd);
		if ((err = xpf_open(ifname, &x)) || (err = xpf_stats_read(x, st, rs))) {
			rte_tel_data_add_dict_u64(pd, "pin", 0);
			rte_tel_data_add_dict_string(pd, "error", strerror(-err));
		} else {
			rte_tel_data_add_dict_u64(pd, "pin", 1);
			for (unsigned k = 0; k < XPF_STAT__MAX; k++)
				if (xpf_stat_name(k))
					rte_tel_data_add_dict_u64(pd, xpf_stat_name(k), st[k].packets);
			for (unsigned k = 0; k < XPF_REASON_MAX; k++) {
				const char *rn = xpf_reason_name(k);
				char key[48];

				if (!rs[k].packets)
					continue;
				if (rn)
					snprintf(key, sizeof(key), "reason_%s", rn);
				else
					snprintf(key, sizeof(key), "reason_%u", k);
				rte_tel_data_add_dict_u64(pd, key, rs[k].packets);
			}
		}
		if (x)
			xpf_close(x);
		if (rte_tel_data_add_dict_container(d, pc->name, pd, 0))
			rte_tel_data_free(pd);
	}
	pthread_mutex_unlock(&flt_lock);
#else
	(void)cmd;
	(void)params;
	(void)xdp_ctx;
	rte_tel_data_start_dict(d);
#endif
	return 0;
}

void dp_filter_xdp_unpin(struct dp_ctx *ctx)
{
#ifdef MXG_HAVE_XPF
	char ifname[IF_NAMESIZE + 1];

	for (unsigned i = 0; i < ctx->nports; i++)
		if (pinned[i] && afxdp_iface(ctx->port[i].conf, ifname, sizeof(ifname))) {
			xpf_unpin(ifname);
			pinned[i] = false;
		}
#else
	(void)ctx;
#endif
}

/* ---- the control channel's blocklist (issue 7) ------------------------ */

/* XPF reason codes (bpf/xpf_maps.h) by name: the first word of a reason
 * ("virus: 10 recipients ...") chooses the code, anything else is manual. */
static const char *const reason_names[] = {
	"other", "manual", "dnsbl", "spam", "virus", "dha", "bounce", "throttle",
};

uint32_t dp_filter_reason_code(const char *reason)
{
	size_t n = reason ? strcspn(reason, ": \t") : 0;

	for (uint32_t i = 2; n && i < RTE_DIM(reason_names); i++)
		if (strlen(reason_names[i]) == n && !strncmp(reason, reason_names[i], n))
			return i;
	return 1; /* XPF_REASON_MANUAL */
}

/* Enqueues |m| on every worker's ring, waiting up to ~100 ms per worker for
 * room (the caller is the service thread, never a worker). */
static int broadcast_wait(struct dp_ctx *ctx, const struct dp_filter_msg *m)
{
	int rc = 0;

	for (unsigned i = 0; i < ctx->nworkers; i++) {
		struct dp_filter_worker *fw = ctx->worker[i].filter;
		unsigned tries = 0;

		if (!fw)
			continue;
		while (rte_ring_mp_enqueue_elem(fw->ring, (void *)m, sizeof(*m))) {
			if (++tries > 1000) {
				rc = MXG_E_AGAIN;
				break;
			}
			usleep(100);
		}
	}
	return rc;
}

int dp_filter_ctl_apply(struct dp_ctx *ctx, struct dp_filter_change *c, size_t n)
{
	time_t wall = time(NULL);
	int failed = 0;
	bool stalled = false; /* a ring stayed full: fail the rest fast, retry later */
#ifdef MXG_HAVE_XPF
	static bool warned[DP_MAX_PORTS];
	char ifname[IF_NAMESIZE + 1];
	uint64_t mono = xpf_now_ns();
#endif

	pthread_mutex_lock(&flt_lock);
	for (size_t i = 0; i < n; i++) {
		struct dp_filter_msg m = {0};
		struct mxg_prefix p = c[i].p;
		unsigned len = p.ip.family == 4 ? 4 : 16;
		bool block = c[i].block && (!c[i].expires_at || c[i].expires_at > wall);

		c[i].rc = 0;
		if (p.ip.family != 4 && p.ip.family != 6) {
			c[i].rc = MXG_E_INVAL;
			failed++;
			continue;
		}
		mask(p.ip.a, len, p.len);
		m.fam = p.ip.family;
		m.len = p.len;
		memcpy(m.a, p.ip.a, len);
		if (!flt_ctx)
			continue; /* software filter off: the XDP maps only */
		if (block) {
			m.op = OP_BLOCK;
			m.reason = c[i].reason;
			m.expires = c[i].expires_at ? dp_now(flt_ctx) + (mxg_tstamp)(c[i].expires_at -
				    wall) * MXG_NSEC_PER_SEC : 0;
			mlist_put(&p, m.expires, m.reason);
		} else {
			m.op = OP_UNBLOCK;
			mlist_del(&p);
		}
		if (stalled || (c[i].rc = broadcast_wait(flt_ctx, &m))) {
			c[i].rc = MXG_E_AGAIN;
			stalled = true;
			failed++;
		}
	}
	pthread_mutex_unlock(&flt_lock);
#ifdef MXG_HAVE_XPF
	/* net_af_xdp ports: the maps of the program the PMD loaded, through
	 * their pins (ours from dp_filter_xdp_pin, or `mxgatectl xdp adopt`) */
	for (unsigned k = 0; k < ctx->nports && k < DP_MAX_PORTS; k++) {
		struct xpf *x = NULL;
		int err;

		if (!ctx->port[k].conf || !afxdp_iface(ctx->port[k].conf, ifname, sizeof(ifname)))
			continue;
		if ((err = xpf_open(ifname, &x))) {
			if (!warned[k])
				MXG_NOTICE(COMP, "port %s: blocklist not written to the XDP maps: "
					   "%s/%s: %s (the software filter still applies it)",
					   ctx->port[k].conf->name, XPF_PIN_ROOT, ifname,
					   strerror(-err));
			warned[k] = true;
			continue;
		}
		warned[k] = false;
		for (size_t i = 0; i < n; i++) {
			if (c[i].p.ip.family != 4 && c[i].p.ip.family != 6)
				continue;
			if (c[i].block && (!c[i].expires_at || c[i].expires_at > wall))
				err = xpf_block_add(x, &c[i].p, c[i].reason, c[i].expires_at ?
						    mono + (uint64_t)(c[i].expires_at - wall) *
						    MXG_NSEC_PER_SEC : 0, 0);
			else if ((err = xpf_block_del(x, &c[i].p)) == -ENOENT)
				err = 0;
			if (err && !c[i].rc) {
				c[i].rc = MXG_E_IO;
				failed++;
			}
		}
		xpf_close(x);
	}
#else
	(void)ctx;
#endif
	return failed ? MXG_E_AGAIN : 0;
}
