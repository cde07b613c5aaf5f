/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_rob.c - bookkeeping of received byte ranges for out-of-order
 * reassembly (RFC 9293 3.10.7.4 "segment text", RFC 2018 SACK order).
 *
 * The bytes themselves live in the connection's receive ring at their final
 * position (offset & (size - 1)); this module only knows which ranges are
 * present. Out-of-order memory is therefore bounded by the receive buffer
 * (which is also the advertised window) and the number of disjoint ranges
 * by |max| (ooo_max_ranges, default 128): a peer that sends 1-byte islands
 * cannot make us allocate or walk long lists. The range array starts with
 * room for 8 and doubles when a ninth hole opens, so the connections that
 * never see reordering (almost all) carry 144 bytes, not 2 KiB.
 *
 * Overlap policy, the only one: FIRST RECEIVED BYTES WIN. When a segment
 * overlaps bytes already held (in order or not), only the missing bytes are
 * copied; the old bytes are never rewritten. What the application (and so
 * the scanner) reads is exactly the first copy of each byte that arrived,
 * whatever the later retransmissions claim. This is the BSD/Linux behaviour
 * for the in-order part; for queued out-of-order data Linux also keeps the
 * old bytes, so peers and middleboxes see one consistent answer. The
 * alternative (last wins) lets an attacker show an IDS one payload and the
 * application another (Ptacek & Newsham, 1998).
 *
 * Offsets are 64-bit stream offsets, so sequence wraparound never reaches
 * this code.
 */
#include "tcps_int.h"

/* Ranges held before the first growth: most connections never see more
 * than a few holes, and every connection (half-open ones too) has one. */
#define ROB_CAP0 8

int tcps_rob_init(struct tcps_rob *r, uint16_t max, const struct mxg_mem *mem)
{
	r->cap = max < ROB_CAP0 ? max : ROB_CAP0;
	r->r = mxg_calloc(mem, (size_t)r->cap + 1, sizeof(*r->r));
	if (r->r == NULL)
		return MXG_E_NOMEM;
	r->mem = mem;
	r->n = 0;
	r->max = max;
	r->last = 0;
	return 0;
}

void tcps_rob_fini(struct tcps_rob *r, const struct mxg_mem *mem)
{
	mxg_free(mem, r->r);
	r->r = NULL;
	r->n = 0;
	r->cap = 0;
}

/* Doubles the array up to max + 1 entries; on failure the old one stays
 * (the caller then refuses what does not fit: the peer retransmits). */
static void rob_grow(struct tcps_rob *r)
{
	uint16_t cap = r->cap * 2 > r->max ? r->max : (uint16_t)(r->cap * 2);
	struct tcps_rob_range *p;

	if (cap <= r->cap)
		return;
	p = mxg_realloc(r->mem, r->r, ((size_t)cap + 1) * sizeof(*r->r));
	if (p == NULL)
		return;
	r->r = p;
	r->cap = cap;
}

int tcps_rob_push(struct tcps_rob *r, uint64_t base, uint64_t off, uint32_t len,
		  struct tcps_rob_range *gaps)
{
	uint64_t end = off + len, cur;
	uint16_t i, j, k;
	int ng = 0;

	if (len == 0 || end <= base)
		return 0;
	if (off < base)
		off = base;
	/* i: first range that touches or follows off; j: first range that
	 * starts beyond end. Ranges [i, j) merge with the new one. */
	for (i = 0; i < r->n && r->r[i].end < off; i++)
		;
	for (j = i; j < r->n && r->r[j].start <= end; j++)
		;
	if (i == j) {
		if (r->n >= r->max && off > base)
			return MXG_E_RANGE;
		if (MXG_BUG_ON(r->n > r->max))
			return MXG_E_INTERNAL;
		if (r->n >= r->cap)
			rob_grow(r);
		if (r->n > r->cap) /* a growth failed: no slot left */
			return MXG_E_RANGE;
		memmove(&r->r[i + 1], &r->r[i], (size_t)(r->n - i) * sizeof(*r->r));
		r->r[i].start = off;
		r->r[i].end = end;
		r->n++;
		r->last = off;
		gaps[0].start = off;
		gaps[0].end = end;
		return 1;
	}
	cur = off;
	for (k = i; k < j; k++) {
		if (r->r[k].start > cur && cur < end) {
			gaps[ng].start = cur;
			gaps[ng].end = r->r[k].start < end ? r->r[k].start : end;
			ng++;
		}
		if (r->r[k].end > cur)
			cur = r->r[k].end;
	}
	if (cur < end) {
		gaps[ng].start = cur;
		gaps[ng].end = end;
		ng++;
	}
	r->r[i].start = off < r->r[i].start ? off : r->r[i].start;
	r->r[i].end = end > r->r[j - 1].end ? end : r->r[j - 1].end;
	if (j - i > 1) {
		memmove(&r->r[i + 1], &r->r[j], (size_t)(r->n - j) * sizeof(*r->r));
		r->n -= j - i - 1;
	}
	r->last = r->r[i].start;
	return ng;
}

uint64_t tcps_rob_pop(struct tcps_rob *r, uint64_t next)
{
	uint64_t end;

	if (r->n == 0 || r->r[0].start > next)
		return next;
	end = r->r[0].end > next ? r->r[0].end : next;
	memmove(&r->r[0], &r->r[1], (size_t)(r->n - 1) * sizeof(*r->r));
	r->n--;
	return end;
}

int tcps_rob_sack(const struct tcps_rob *r, struct tcps_rob_range *out, int max)
{
	int n = 0, first = -1;

	for (int i = 0; i < r->n; i++)
		if (r->r[i].start <= r->last && r->last < r->r[i].end)
			first = i;
	if (first >= 0 && n < max)
		out[n++] = r->r[first];
	for (int i = r->n - 1; i >= 0 && n < max; i--)
		if (i != first)
			out[n++] = r->r[i];
	return n;
}
