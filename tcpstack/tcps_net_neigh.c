/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_net_neigh.c - neighbor cache (ARP and NDP), ARP, IP output and the
 * resolution timers.
 *
 * Standards: RFC 826 (ARP, with its "merge" rule), RFC 5227 2.3/2.4
 * (announcement at start, probes from 0.0.0.0 are answered), RFC 1122
 * 2.3.2.2 (hold frames while resolving, bounded) and 2.3.2.1 (cache
 * aging), RFC 4861 7.2 and 7.3 (address resolution, simplified
 * reachability: see below), RFC 791 and RFC 8200 (the headers we write).
 *
 * THE CACHE
 *	One table per family, a fixed array of neigh_max entries allocated
 *	at tcps_if_new, hashed by address, with two index-linked lists:
 *	REACHABLE entries in the order they were last confirmed (so the
 *	head is both the next to expire and the oldest, the one evicted for
 *	room) and INCOMPLETE entries in the order of their next
 *	solicitation. Deadlines are therefore the list heads: O(1), no scan.
 *	Frames held for an INCOMPLETE entry live in a per-entry slice of a
 *	flat array (neigh_pending_max each): nothing is allocated after
 *	tcps_if_new except the frames themselves.
 *
 * STATES, AND WHY NOT THE FULL RFC 4861 MACHINE
 *	INCOMPLETE: solicited up to NEIGH_MAX_TRIES times, neigh_retrans
 *	apart, then given up (held frames dropped, TCPS_DROP_NO_NEIGH).
 *	REACHABLE: usable until neigh_reachable after the last confirmation.
 *	When an entry in use comes within |refresh| of expiry, one unicast
 *	probe is sent (the RFC's PROBE state in one step), so busy flows
 *	never wait for a re-resolution; an idle entry simply expires. STALE
 *	and DELAY buy nothing for a host whose peers talk to it constantly.
 *
 * SECURITY STANCE
 *	The cache is bounded. Information from the wire may only create an
 *	entry for an on-link source that addressed us (ARP request or reply
 *	targeted at our address, NS with a source link-layer option), may
 *	update existing entries otherwise (RFC 826 merge; NA only updates,
 *	RFC 4861 7.2.5), and may only evict resolved entries: a flood of
 *	spoofed requests cannot cancel resolutions we are waiting for. Our
 *	own address as an ARP sender is a conflict and is dropped
 *	(TCPS_DROP_BAD_SRC), never learned.
 */
#include <stdint.h>
#include <string.h>

#include "mxg_bug.h"
#include "mxg_err.h"
#include "tcps_net.h"
#include "tcps_net_int.h"

static const uint8_t bcast_mac[TCPS_ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t zero_mac[TCPS_ETH_ALEN];

/* --- table --- */

int neigh_tbl_init(struct tcps_if *ifc, struct neigh_tbl *t, uint8_t family)
{
	uint32_t max = ifc->conf.neigh_max, nb = 1, i;

	while (nb < 2 * max)
		nb <<= 1;
	t->family = family;
	t->alen = family == 4 ? 4 : 16;
	t->max = max;
	t->hmask = nb - 1;
	t->age.head = t->age.tail = NEIGH_NIL;
	t->retry.head = t->retry.tail = NEIGH_NIL;
	t->bucket = mxg_malloc(ifc->mem, (size_t)nb * sizeof(*t->bucket));
	t->e = mxg_calloc(ifc->mem, max, sizeof(*t->e));
	t->pend = mxg_calloc(ifc->mem, (size_t)max * ifc->conf.neigh_pending_max,
			     sizeof(*t->pend));
	if (!t->bucket || !t->e || !t->pend)
		return MXG_E_NOMEM;
	for (i = 0; i < nb; i++)
		t->bucket[i] = NEIGH_NIL;
	for (i = 0; i < max; i++)
		t->e[i].hnext = i + 1 < max ? i + 1 : NEIGH_NIL;
	t->free_head = 0;
	return 0;
}

void neigh_tbl_fini(struct tcps_if *ifc, struct neigh_tbl *t)
{
	uint32_t i, k;

	if (t->e && t->pend) {
		for (i = 0; i < t->max; i++) {
			struct neigh_pend *p = &t->pend[(size_t)i * ifc->conf.neigh_pending_max];

			if (t->e[i].state != NEIGH_INCOMPLETE)
				continue;
			for (k = 0; k < t->e[i].npend; k++)
				ifc->ops->free(ifc->io, p[k].h);
		}
	}
	mxg_free(ifc->mem, t->bucket);
	mxg_free(ifc->mem, t->e);
	mxg_free(ifc->mem, t->pend);
	memset(t, 0, sizeof(*t));
}

static uint32_t neigh_hash(const struct tcps_if *ifc, const struct neigh_tbl *t,
			   const uint8_t *ip)
{
	uint64_t h = ifc->hseed;
	uint32_t w;
	unsigned i;

	for (i = 0; i < t->alen; i += 4) {
		memcpy(&w, ip + i, 4);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return (uint32_t)(h >> 32) & t->hmask;
}

static uint32_t neigh_find(const struct tcps_if *ifc, const struct neigh_tbl *t,
			   const uint8_t *ip)
{
	uint32_t i;

	if (!t->e)
		return NEIGH_NIL;
	for (i = t->bucket[neigh_hash(ifc, t, ip)]; i != NEIGH_NIL; i = t->e[i].hnext)
		if (memcmp(t->e[i].ip, ip, t->alen) == 0)
			return i;
	return NEIGH_NIL;
}

static struct neigh_list *list_of(struct neigh_tbl *t, const struct neigh *e)
{
	return e->state == NEIGH_INCOMPLETE ? &t->retry : &t->age;
}

static void list_unlink(struct neigh_tbl *t, struct neigh_list *l, uint32_t i)
{
	struct neigh *e = &t->e[i];

	if (e->prev != NEIGH_NIL)
		t->e[e->prev].next = e->next;
	else
		l->head = e->next;
	if (e->next != NEIGH_NIL)
		t->e[e->next].prev = e->prev;
	else
		l->tail = e->prev;
	l->n--;
}

static void list_append(struct neigh_tbl *t, struct neigh_list *l, uint32_t i)
{
	struct neigh *e = &t->e[i];

	e->next = NEIGH_NIL;
	e->prev = l->tail;
	if (l->tail != NEIGH_NIL)
		t->e[l->tail].next = i;
	else
		l->head = i;
	l->tail = i;
	l->n++;
}

static struct neigh_pend *pend_of(const struct tcps_if *ifc, const struct neigh_tbl *t,
				  uint32_t i)
{
	return &t->pend[(size_t)i * ifc->conf.neigh_pending_max];
}

/* Frees held frames of entry |i|, each counted TCPS_DROP_NO_NEIGH. */
static void pend_drop(struct tcps_if *ifc, struct neigh_tbl *t, uint32_t i)
{
	struct neigh_pend *p = pend_of(ifc, t, i);
	struct neigh *e = &t->e[i];
	unsigned k;

	for (k = 0; k < e->npend; k++) {
		ifc->ops->free(ifc->io, p[k].h);
		p[k].h = NULL;
		ifc_drop(ifc, TCPS_DROP_NO_NEIGH);
	}
	ifc->npend_total -= e->npend;
	e->npend = 0;
}

static void neigh_remove(struct tcps_if *ifc, struct neigh_tbl *t, uint32_t i)
{
	struct neigh *e = &t->e[i];
	uint32_t *pp = &t->bucket[neigh_hash(ifc, t, e->ip)];

	while (*pp != i)
		pp = &t->e[*pp].hnext;
	*pp = e->hnext;
	list_unlink(t, list_of(t, e), i);
	if (e->state == NEIGH_INCOMPLETE)
		pend_drop(ifc, t, i);
	memset(e, 0, sizeof(*e));
	e->hnext = t->free_head;
	t->free_head = i;
	t->used--;
}

/* A free entry for |ip|, not on any list yet; evicts the oldest resolved
 * entry (or, unless |wire|, the oldest resolution) when full. */
static uint32_t neigh_alloc(struct tcps_if *ifc, struct neigh_tbl *t, const uint8_t *ip,
			    bool wire)
{
	uint32_t i, b;

	if (t->free_head == NEIGH_NIL) {
		i = t->age.head;
		if (i == NEIGH_NIL && !wire)
			i = t->retry.head;
		if (i == NEIGH_NIL)
			return NEIGH_NIL;
		neigh_remove(ifc, t, i);
		ifc->st.neigh_evicted++;
	}
	i = t->free_head;
	t->free_head = t->e[i].hnext;
	memset(&t->e[i], 0, sizeof(t->e[i]));
	memcpy(t->e[i].ip, ip, t->alen);
	b = neigh_hash(ifc, t, ip);
	t->e[i].hnext = t->bucket[b];
	t->bucket[b] = i;
	t->used++;
	return i;
}

static void solicit(struct tcps_if *ifc, struct neigh_tbl *t, const uint8_t *ip,
		    const uint8_t *mac)
{
	if (t->family == 4)
		arp_send_request(ifc, ip, ifc->v4, mac ? mac : bcast_mac);
	else
		ndp_send_ns(ifc, ip, mac);
}

static bool update(struct tcps_if *ifc, struct neigh_tbl *t, const uint8_t *ip,
		   const uint8_t *mac, mxg_tstamp now, unsigned flags);

bool neigh_update(struct tcps_if *ifc, struct neigh_tbl *t, const uint8_t *ip,
		  const uint8_t *mac, mxg_tstamp now, unsigned flags)
{
	struct mxg_ip addr;

	if (!update(ifc, t, ip, mac, now, flags))
		return false;
	/* Tell the owner what the wire taught us, so other lcores' instances
	 * of this port can learn it too (tcps_if_neigh_learn does not come
	 * back here with NU_WIRE, so relays cannot loop). */
	if ((flags & NU_WIRE) && mac && ifc->ops->neigh_learned) {
		addr.family = t == &ifc->n4 ? 4 : 6;
		memset(addr.a, 0, sizeof(addr.a));
		memcpy(addr.a, ip, addr.family == 4 ? 4 : 16);
		ifc->ops->neigh_learned(ifc->io, &addr, mac);
	}
	return true;
}

static bool update(struct tcps_if *ifc, struct neigh_tbl *t, const uint8_t *ip,
		   const uint8_t *mac, mxg_tstamp now, unsigned flags)
{
	uint32_t i = neigh_find(ifc, t, ip);
	struct neigh_pend *p;
	struct neigh *e;
	unsigned k, n;

	if (i == NEIGH_NIL) {
		if (!(flags & NU_CREATE) || !mac)
			return false;
		i = neigh_alloc(ifc, t, ip, flags & NU_WIRE);
		if (i == NEIGH_NIL)
			return false;
		e = &t->e[i];
		e->state = NEIGH_REACHABLE;
		memcpy(e->mac, mac, TCPS_ETH_ALEN);
		e->when = ts_add(now, ifc->conf.neigh_reachable);
		list_append(t, &t->age, i);
		return true;
	}
	e = &t->e[i];
	if (e->state == NEIGH_REACHABLE) {
		/* An NA without O flag may confirm but not change the MAC
		 * (RFC 4861 7.2.5); neither may an NA without TLLA. */
		if (mac && !mac_eq(mac, e->mac)) {
			if (flags & NU_NO_OVERRIDE)
				return false;
			memcpy(e->mac, mac, TCPS_ETH_ALEN);
		}
		e->when = ts_add(now, ifc->conf.neigh_reachable);
		e->probing = 0;
		list_unlink(t, &t->age, i);
		list_append(t, &t->age, i);
		return true;
	}
	/* INCOMPLETE: resolved now; send what waited. */
	if (!mac)
		return false;
	list_unlink(t, &t->retry, i);
	e->state = NEIGH_REACHABLE;
	memcpy(e->mac, mac, TCPS_ETH_ALEN);
	e->when = ts_add(now, ifc->conf.neigh_reachable);
	e->tries = 0;
	list_append(t, &t->age, i);
	p = pend_of(ifc, t, i);
	n = e->npend;
	e->npend = 0;
	ifc->npend_total -= n;
	for (k = 0; k < n; k++) {
		memcpy(p[k].buf, mac, TCPS_ETH_ALEN);
		ifc_send(ifc, p[k].h, p[k].len);
		p[k].h = NULL;
	}
	return true;
}

static const struct neigh_tbl *tbl_get(const struct tcps_if *ifc, uint8_t family)
{
	if (family == 4 && ifc->conf.has_v4)
		return &ifc->n4;
	if (family == 6 && ifc->conf.has_v6)
		return &ifc->n6;
	return NULL;
}

static struct neigh_tbl *tbl_for(struct tcps_if *ifc, uint8_t family)
{
	return (struct neigh_tbl *)tbl_get(ifc, family);
}

void tcps_if_neigh_learn(struct tcps_if *ifc, const struct mxg_ip *ip,
			 const uint8_t mac[TCPS_ETH_ALEN], mxg_tstamp now)
{
	struct neigh_tbl *t = tbl_for(ifc, ip->family);

	if (!t || mac_is_group(mac) || mac_is_zero(mac))
		return;
	neigh_update(ifc, t, ip->a, mac, now, NU_CREATE);
}

bool tcps_if_neigh_lookup(const struct tcps_if *ifc, const struct mxg_ip *ip, mxg_tstamp now,
			  uint8_t mac[TCPS_ETH_ALEN])
{
	const struct neigh_tbl *t = tbl_get(ifc, ip->family);
	const struct neigh *e;
	uint32_t i;

	if (!t)
		return false;
	i = neigh_find(ifc, t, ip->a);
	if (i == NEIGH_NIL)
		return false;
	e = &t->e[i];
	if (e->state != NEIGH_REACHABLE || now >= e->when)
		return false;
	memcpy(mac, e->mac, TCPS_ETH_ALEN);
	return true;
}

/* --- timers --- */

mxg_tstamp tcps_if_deadline(const struct tcps_if *ifc)
{
	const struct neigh_tbl *ts[2] = { &ifc->n4, &ifc->n6 };
	mxg_tstamp d = MXG_TS_NONE;
	unsigned k;

	for (k = 0; k < 2; k++) {
		const struct neigh_tbl *t = ts[k];

		if (!t->e)
			continue;
		if (t->retry.head != NEIGH_NIL)
			d = mxg_ts_min(d, t->e[t->retry.head].when);
		if (t->age.head != NEIGH_NIL)
			d = mxg_ts_min(d, t->e[t->age.head].when);
	}
	return d;
}

static void tbl_timer(struct tcps_if *ifc, struct neigh_tbl *t, mxg_tstamp now)
{
	uint32_t i;

	/* Each pass either removes the head or sends one more solicitation
	 * (at most NEIGH_MAX_TRIES per entry), so this ends even if |now|
	 * jumps. */
	while ((i = t->retry.head) != NEIGH_NIL && t->e[i].when <= now) {
		struct neigh *e = &t->e[i];

		if (e->tries >= NEIGH_MAX_TRIES) {
			neigh_remove(ifc, t, i);
			continue;
		}
		e->tries++;
		e->when = ts_add(now, ifc->conf.neigh_retrans);
		list_unlink(t, &t->retry, i);
		list_append(t, &t->retry, i);
		solicit(ifc, t, e->ip, NULL);
	}
	while ((i = t->age.head) != NEIGH_NIL && t->e[i].when <= now)
		neigh_remove(ifc, t, i);
}

void tcps_if_on_timer(struct tcps_if *ifc, mxg_tstamp now)
{
	if (ifc->n4.e)
		tbl_timer(ifc, &ifc->n4, now);
	if (ifc->n6.e)
		tbl_timer(ifc, &ifc->n6, now);
}

/* --- ARP (RFC 826) --- */

int arp_send_request(struct tcps_if *ifc, const uint8_t *tpa, const uint8_t *spa,
		     const uint8_t *dst_mac)
{
	uint16_t flen = (uint16_t)(ifc->l2len + ARP_LEN);
	uint8_t *f, *a;
	void *h;

	f = ifc_alloc(ifc, flen, &h);
	if (!f)
		return MXG_E_NOBUFS;
	a = f + ifc_l2_write(ifc, f, dst_mac, ETHERTYPE_ARP);
	wr16(a, 1);
	wr16(a + 2, ETHERTYPE_IPV4);
	a[4] = TCPS_ETH_ALEN;
	a[5] = 4;
	wr16(a + 6, 1);
	memcpy(a + 8, ifc->conf.mac, TCPS_ETH_ALEN);
	memcpy(a + 14, spa, 4);
	memcpy(a + 18, zero_mac, TCPS_ETH_ALEN);
	memcpy(a + 24, tpa, 4);
	ifc->st.arp_req_tx++;
	ifc_send(ifc, h, flen);
	return 0;
}

static bool v4_on_link(const struct tcps_if *ifc, const uint8_t *a)
{
	struct mxg_ip ip = { .family = 4 };

	memcpy(ip.a, a, 4);
	return mxg_prefix_contains(&ifc->conf.v4, &ip);
}

enum tcps_rx_action arp_input(struct tcps_if *ifc, uint8_t *f, uint16_t len, uint16_t l3,
			      mxg_tstamp now, enum tcps_drop *drop, uint16_t *reply_len)
{
	uint8_t *a = f + l3, sha[TCPS_ETH_ALEN], spa[4];
	uint16_t op;
	bool for_us, learned;

	if (unlikely((uint32_t)len - l3 < ARP_LEN))
		return rx_drop(ifc, drop, TCPS_DROP_TRUNCATED);
	op = rd16(a + 6);
	if (rd16(a) != 1 || rd16(a + 2) != ETHERTYPE_IPV4 || a[4] != TCPS_ETH_ALEN || a[5] != 4 ||
	    (op != 1 && op != 2))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_ARP);
	memcpy(sha, a + 8, TCPS_ETH_ALEN);
	memcpy(spa, a + 14, 4);
	if (mac_is_group(sha) || mac_is_zero(sha))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_ARP);
	for_us = memcmp(a + 24, ifc->v4, 4) == 0;
	if (spa[0] == 0 && spa[1] == 0 && spa[2] == 0 && spa[3] == 0) {
		/* A probe (RFC 5227 2.1.1): answer it if it is for our
		 * address so the prober sees the conflict; learn nothing. */
		if (!for_us || op != 1)
			return rx_drop(ifc, drop, TCPS_DROP_NOT_FOR_US);
	} else if (spa[0] == 0 || spa[0] == 127 || spa[0] >= 224 || memcmp(spa, ifc->v4, 4) == 0 ||
		   memcmp(spa, ifc->v4bcast, 4) == 0) {
		return rx_drop(ifc, drop, TCPS_DROP_BAD_SRC);
	} else {
		learned = neigh_update(ifc, &ifc->n4, spa, sha, now,
				       NU_WIRE | (for_us && v4_on_link(ifc, spa) ? NU_CREATE : 0));
		if (!for_us)
			return learned ? TCPS_RX_CONSUMED : rx_drop(ifc, drop, TCPS_DROP_NOT_FOR_US);
		if (op == 2) {
			ifc->st.arp_reply_rx++;
			return TCPS_RX_CONSUMED;
		}
	}
	/* Request for us: turn it into the reply in place. */
	ifc->st.arp_req_rx++;
	memcpy(f, sha, TCPS_ETH_ALEN);
	memcpy(f + TCPS_ETH_ALEN, ifc->conf.mac, TCPS_ETH_ALEN);
	wr16(a + 6, 2);
	memcpy(a + 8, ifc->conf.mac, TCPS_ETH_ALEN);
	memcpy(a + 14, ifc->v4, 4);
	memcpy(a + 18, sha, TCPS_ETH_ALEN);
	memcpy(a + 24, spa, 4);
	*reply_len = (uint16_t)(l3 + ARP_LEN);
	ifc->st.arp_reply_tx++;
	ifc->st.tx_pkts++;
	ifc->st.tx_bytes += *reply_len;
	return TCPS_RX_REPLY;
}

/* --- output --- */

/* Next hop for |dst|, or false: no route. */
static bool route(const struct tcps_if *ifc, const struct mxg_ip *dst, uint8_t nh[16])
{
	const uint8_t *d = dst->a;

	if (dst->family == 4) {
		if (d[0] == 0 || d[0] == 127 || d[0] >= 224 || memcmp(d, ifc->v4, 4) == 0 ||
		    memcmp(d, ifc->v4bcast, 4) == 0)
			return false;
		if (mxg_prefix_contains(&ifc->conf.v4, dst)) {
			memcpy(nh, d, 4);
			return true;
		}
		if (!ifc->conf.has_v4_gw)
			return false;
		memcpy(nh, ifc->conf.v4_gw.a, 4);
		return true;
	}
	if (d[0] == 0xff || ip6_is_unspec(d) || ip6_eq(d, ifc->g6) || ip6_eq(d, ifc->ll6))
		return false;
	if (ip6_is_linklocal(d) || mxg_prefix_contains(&ifc->conf.v6, dst)) {
		memcpy(nh, d, 16);
		return true;
	}
	if (!ifc->conf.has_v6_gw)
		return false;
	memcpy(nh, ifc->conf.v6_gw.a, 16);
	return true;
}

int tcps_if_output(struct tcps_if *ifc, const struct mxg_ip *src, const struct mxg_ip *dst,
		   uint8_t proto, uint16_t l4_len,
		   void (*fill)(uint8_t *l4, uint16_t l4_len, const struct mxg_ip *src,
				const struct mxg_ip *dst, void *arg),
		   void *arg, mxg_tstamp now)
{
	struct neigh_tbl *t = tbl_for(ifc, dst->family);
	uint32_t hl = dst->family == 4 ? IP4_HLEN : IP6_HLEN, i;
	struct mxg_ip s;
	struct neigh *e = NULL;
	struct neigh_pend *p;
	uint8_t nh[16], *f, *ip;
	uint16_t flen;
	void *h;

	if (!t) {
		if (dst->family != 4 && dst->family != 6)
			return MXG_E_INVAL;
		ifc_drop(ifc, TCPS_DROP_NO_ROUTE);
		return MXG_E_NOENT;
	}
	if (src && src->family != dst->family)
		return MXG_E_INVAL;
	if (hl + l4_len > ifc->conf.mtu)
		return MXG_E_RANGE;
	if (!route(ifc, dst, nh)) {
		ifc_drop(ifc, TCPS_DROP_NO_ROUTE);
		return MXG_E_NOENT;
	}
	if (src) {
		s = *src;
	} else {
		memset(&s, 0, sizeof(s));
		s.family = dst->family;
		memcpy(s.a, dst->family == 4 ? ifc->v4 : ip6_src_for(ifc, dst->a), t->alen);
	}

	i = neigh_find(ifc, t, nh);
	if (likely(i != NEIGH_NIL)) {
		e = &t->e[i];
		if (e->state == NEIGH_REACHABLE && now >= e->when) {
			/* Expired but not yet reaped: resolve again. */
			list_unlink(t, &t->age, i);
			e->state = NEIGH_INCOMPLETE;
			e->tries = 0;
			e->npend = 0;
			e->probing = 0;
			list_append(t, &t->retry, i);
		} else if (e->state == NEIGH_INCOMPLETE &&
			   (e->npend >= ifc->conf.neigh_pending_max ||
			    ifc->npend_total >= ifc->conf.neigh_pending_total)) {
			ifc_drop(ifc, TCPS_DROP_NO_NEIGH);
			return MXG_E_AGAIN;
		}
	} else {
		/* A new unresolved neighbor would hold a frame: refuse it when the
		 * interface already holds its total (the entry is still created and
		 * solicited below only when there is room, so a flood of
		 * destinations costs neither buffers nor cache entries). */
		if (ifc->npend_total >= ifc->conf.neigh_pending_total) {
			ifc_drop(ifc, TCPS_DROP_NO_NEIGH);
			return MXG_E_AGAIN;
		}
		i = neigh_alloc(ifc, t, nh, false);
		if (MXG_BUG_ON(i == NEIGH_NIL))
			return MXG_E_INTERNAL;
		e = &t->e[i];
		e->state = NEIGH_INCOMPLETE;
		list_append(t, &t->retry, i);
	}
	if (e->state == NEIGH_INCOMPLETE && e->tries == 0) {
		e->tries = 1;
		e->when = ts_add(now, ifc->conf.neigh_retrans);
		list_unlink(t, &t->retry, i);
		list_append(t, &t->retry, i);
		solicit(ifc, t, nh, NULL);
	}

	flen = (uint16_t)(ifc->l2len + hl + l4_len);
	f = ifc_alloc(ifc, flen, &h);
	if (!f)
		return MXG_E_NOBUFS;
	ip = f + ifc_l2_write(ifc, f, e->state == NEIGH_REACHABLE ? e->mac : zero_mac,
			      dst->family == 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
	if (dst->family == 4) {
		ip[0] = 0x45;
		ip[1] = 0;
		wr16(ip + 2, (uint16_t)(hl + l4_len));
		wr16(ip + 4, ifc->ip_id++);
		wr16(ip + 6, 0x4000); /* DF: we do PMTU discovery, never fragment */
		ip[8] = IP_TTL_OUT;
		ip[9] = proto;
		ip[10] = ip[11] = 0;
		memcpy(ip + 12, s.a, 4);
		memcpy(ip + 16, dst->a, 4);
		wr16(ip + 10, (uint16_t)~csum_fold(csum_add(0, ip, IP4_HLEN)));
	} else {
		ip[0] = 0x60;
		ip[1] = ip[2] = ip[3] = 0;
		wr16(ip + 4, l4_len);
		ip[6] = proto;
		ip[7] = IP_TTL_OUT;
		memcpy(ip + 8, s.a, 16);
		memcpy(ip + 24, dst->a, 16);
	}
	fill(ip + hl, l4_len, &s, dst, arg);

	if (e->state == NEIGH_REACHABLE) {
		ifc_send(ifc, h, flen);
		/* Confirm a busy entry before it expires (see file comment). */
		if (!e->probing && e->when - now <= ifc->refresh) {
			e->probing = 1;
			solicit(ifc, t, e->ip, e->mac);
		}
		return 0;
	}
	p = &pend_of(ifc, t, i)[e->npend++];
	ifc->npend_total++;
	p->h = h;
	p->buf = f;
	p->len = flen;
	return 0;
}
