/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_flow.c - the per-stack connection table keyed by the 4-tuple.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones, so lookups never degrade after churn), sized once to a power
 * of two at least twice max_conns, so the load factor stays <= 0.5 and the
 * table never grows on the hot path. The hash is SipHash-2-4 keyed with the
 * stack secret: a peer choosing source ports cannot build long probe runs.
 * Each slot keeps its entry's hash beside the pointer (one cache line for
 * both): a probe compares hashes before it touches a connection, and the
 * backward shift of a delete needs no rehash.
 *
 * Why not rte_hash (issue 3 names it): the core must build and be tested
 * without DPDK (DESIGN.md, "Sans-IO cores"). The table is per lcore and
 * unshared, so rte_hash's lock-free multi-writer machinery buys nothing
 * here; if profiling ever says otherwise, the four functions below are the
 * whole seam to swap.
 */
#include "tcps_int.h"

/* Hashes the bytes that can differ: family and ports (the first 8 bytes)
 * and the two addresses, 4 bytes each for IPv4 (the rest of the tuple is
 * zero there). 16 bytes instead of 40 for IPv4: 8 SipRounds instead of 14,
 * once per received segment. */
static inline uint32_t tuple_hash(const struct tcps_flow *f, const struct tcps_tuple *t)
{
	uint8_t k[16];

	if (t->family == 6)
		return (uint32_t)tcps_siphash(f->key, t, sizeof(*t));
	memcpy(k, t, 8);
	memcpy(k + 8, t->laddr, 4);
	memcpy(k + 12, t->raddr, 4);
	return (uint32_t)tcps_siphash(f->key, k, sizeof(k));
}

static inline bool tuple_eq(const struct tcps_tuple *a, const struct tcps_tuple *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

int tcps_flow_init(struct tcps_flow *f, uint32_t max, const uint8_t key[16],
		   const struct mxg_mem *mem)
{
	uint32_t n = 16;

	while (n < 2 * (uint64_t)max && n < (1u << 30))
		n <<= 1;
	f->slot = mxg_calloc(mem, n, sizeof(*f->slot));
	if (f->slot == NULL)
		return MXG_E_NOMEM;
	f->mask = n - 1;
	f->count = 0;
	memcpy(f->key, key, 16);
	return 0;
}

void tcps_flow_fini(struct tcps_flow *f, const struct mxg_mem *mem)
{
	mxg_free(mem, f->slot);
	f->slot = NULL;
}

struct tcps_conn *tcps_flow_lookup(const struct tcps_flow *f, const struct tcps_tuple *t)
{
	uint32_t h = tuple_hash(f, t), i = h & f->mask;

	while (f->slot[i].c != NULL) {
		if (f->slot[i].hash == h && tuple_eq(&f->slot[i].c->t, t))
			return f->slot[i].c;
		i = (i + 1) & f->mask;
	}
	return NULL;
}

int tcps_flow_add(struct tcps_flow *f, struct tcps_conn *c)
{
	uint32_t h = tuple_hash(f, &c->t), i = h & f->mask;

	if (f->count + 1 > (f->mask + 1) / 2)
		return MXG_E_RANGE;
	while (f->slot[i].c != NULL) {
		if (f->slot[i].hash == h && tuple_eq(&f->slot[i].c->t, &c->t))
			return MXG_E_EXIST;
		i = (i + 1) & f->mask;
	}
	f->slot[i].c = c;
	f->slot[i].hash = h;
	f->count++;
	return 0;
}

void tcps_flow_del(struct tcps_flow *f, struct tcps_conn *c)
{
	uint32_t i = tuple_hash(f, &c->t) & f->mask, j, home;

	while (f->slot[i].c != c) {
		if (MXG_BUG_ON(f->slot[i].c == NULL))
			return;
		i = (i + 1) & f->mask;
	}
	f->slot[i].c = NULL;
	f->count--;
	/* Backward shift: move later members of the run into the hole when
	 * their home slot does not lie cyclically in (i, j]. */
	j = i;
	for (;;) {
		j = (j + 1) & f->mask;
		if (f->slot[j].c == NULL)
			break;
		home = f->slot[j].hash & f->mask;
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			f->slot[i] = f->slot[j];
			f->slot[j].c = NULL;
			i = j;
		}
	}
}
