/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_prof.c - the IP profiler (see ctl_prof.h).
 *
 * Per address: a sliding window of PROF_SLOTS sub-windows (each
 * window/PROF_SLOTS seconds wide, at least 1 s) of three counters; the
 * count over the window is the sum of the slots not older than the window,
 * so it is exact to one sub-window. An address is one entry of a chained
 * hash table and of an LRU list (most recently seen first): a new address
 * beyond profiler_max_ips takes the place of the least recently seen one.
 * Per address and counter the last piece of evidence is kept (the virus
 * name, the refused recipient and reply, the bouncing HELO), for the
 * reason of the block and the log.
 *
 * A breach runs one INSERT ... ON CONFLICT on the main connection: it
 * replaces an older profiler entry or an expired one, never a live entry of
 * the administrator. The address's counters are then cleared and it is not
 * judged again until the block ends (its SYNs are dropped meanwhile).
 *
 * Spam: once anti-spam verdicts exist in the tracking records ("spam" in
 * verdicts / a recipient verdict "spam"), a fourth counter with its own
 * threshold (profiler_spam_threshold) belongs here, reason code "spam"
 * (XPF_REASON_SPAM) - the dataplane already maps a reason starting with
 * "spam" to it.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <libpq-fe.h>

#include "ctl_db.h"
#include "ctl_prof.h"
#include "mxg_addr.h"
#include "mxg_log.h"

#define COMP "profiler"
#define PROF_SLOTS 8
#define EVIDENCE 64

enum { C_VIRUS, C_DHA, C_BOUNCE, C__MAX };

static const char *const cnames[C__MAX] = { "virus", "dha", "bounce" };

struct slot {
	uint32_t epoch;              /* now / width when last written */
	uint32_t n[C__MAX];
};

struct ipent {
	struct ipent *hnext;
	TAILQ_ENTRY(ipent) lru;
	struct mxg_ip ip;
	time_t last;                 /* last record */
	time_t blocked_until;        /* not judged before (0: not blocked) */
	struct slot s[PROF_SLOTS];
	char ev[C__MAX][EVIDENCE];
};

struct ctl_prof_conf {
	unsigned window_s, thr[C__MAX], block_s, max_ips;
};

struct ctl_prof {
	struct ctl *c;
	struct ctl_prof_conf conf;
	bool loaded;                 /* settings read at least once */
	uint64_t reloads;
	bool reload_busy, reload_again;
	struct ipent **h;
	size_t nbuckets;             /* power of 2 */
	size_t n;
	TAILQ_HEAD(ipent_lru, ipent) lru;
	uint64_t records, evicted, breaches, blocks, block_failed;
	uint64_t counted[C__MAX];
};

/* ------------------------------------------------------------------ table */

static uint32_t ip_hash(const struct mxg_ip *ip)
{
	uint32_t h = 2166136261u ^ ip->family;
	unsigned n = ip->family == 4 ? 4 : 16;

	for (unsigned i = 0; i < n; i++)
		h = (h ^ ip->a[i]) * 16777619u;
	return h ^ (h >> 15);
}

static bool ip_eq(const struct mxg_ip *a, const struct mxg_ip *b)
{
	return a->family == b->family && !memcmp(a->a, b->a, a->family == 4 ? 4 : 16);
}

static void unlink_hash(struct ctl_prof *p, struct ipent *e)
{
	struct ipent **pp = &p->h[ip_hash(&e->ip) & (p->nbuckets - 1)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
}

static void ent_free(struct ctl_prof *p, struct ipent *e)
{
	unlink_hash(p, e);
	TAILQ_REMOVE(&p->lru, e, lru);
	p->n--;
	free(e);
}

/* Rebuilds the buckets for |max| addresses (on a settings change). */
static int rehash(struct ctl_prof *p, unsigned max)
{
	size_t nb = 1024;
	struct ipent **h, *e;

	while (nb < max / 2 && nb < (1u << 22))
		nb <<= 1;
	if (nb == p->nbuckets)
		return 0;
	h = calloc(nb, sizeof(*h));
	if (!h)
		return -1;
	free(p->h);
	p->h = h;
	p->nbuckets = nb;
	TAILQ_FOREACH(e, &p->lru, lru) {
		size_t b = ip_hash(&e->ip) & (nb - 1);

		e->hnext = h[b];
		h[b] = e;
	}
	return 0;
}

static struct ipent *lookup(struct ctl_prof *p, const struct mxg_ip *ip, time_t now)
{
	size_t b = ip_hash(ip) & (p->nbuckets - 1);
	struct ipent *e;

	for (e = p->h[b]; e; e = e->hnext)
		if (ip_eq(&e->ip, ip)) {
			TAILQ_REMOVE(&p->lru, e, lru);
			TAILQ_INSERT_HEAD(&p->lru, e, lru);
			e->last = now;
			return e;
		}
	while (p->n >= p->conf.max_ips && (e = TAILQ_LAST(&p->lru, ipent_lru))) {
		ent_free(p, e);
		p->evicted++;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->ip = *ip;
	e->last = now;
	e->hnext = p->h[b];
	p->h[b] = e;
	TAILQ_INSERT_HEAD(&p->lru, e, lru);
	p->n++;
	return e;
}

/* ------------------------------------------------------------------ counting */

static unsigned width(const struct ctl_prof *p)
{
	unsigned w = p->conf.window_s / PROF_SLOTS;

	return w ? w : 1;
}

static void count(struct ctl_prof *p, struct ipent *e, int cn, time_t now)
{
	uint32_t ep = (uint32_t)(now / width(p));
	struct slot *s = &e->s[ep % PROF_SLOTS];

	if (s->epoch != ep) {
		memset(s, 0, sizeof(*s));
		s->epoch = ep;
	}
	s->n[cn]++;
	p->counted[cn]++;
}

static unsigned total(const struct ctl_prof *p, const struct ipent *e, int cn, time_t now)
{
	uint32_t ep = (uint32_t)(now / width(p));
	unsigned span = (p->conf.window_s + width(p) - 1) / width(p), sum = 0;

	if (span > PROF_SLOTS)
		span = PROF_SLOTS;
	for (unsigned i = 0; i < PROF_SLOTS; i++)
		if (e->s[i].epoch + span > ep && e->s[i].epoch <= ep)
			sum += e->s[i].n[cn];
	return sum;
}

/* 550, or the enhanced status 5.1.1 (unknown user), from the downstream. */
static bool refused_unknown(const char *r)
{
	if (!r || !*r)
		return false;
	if (!strncmp(r, "550", 3) && (r[3] == ' ' || r[3] == '-' || r[3] == '\0'))
		return true;
	if (!strncmp(r, "5.1.1", 5))
		return true;
	return strlen(r) > 4 && !strncmp(r + 4, "5.1.1", 5) && r[0] == '5';
}

struct breach {
	struct ctl_prof *p;
	char ip[64];
	char reason[256];
	unsigned secs;
};

static void on_block(enum ctl_db_status st, PGresult *res, void *ud)
{
	struct breach *b = ud;

	if (st == CTL_DB_OK && PQntuples(res) == 1) {
		b->p->blocks++;
		MXG_NOTICE(COMP, "blocked %s for %u s: %s", PQgetvalue(res, 0, 0), b->secs,
			   b->reason);
	} else if (st == CTL_DB_OK) {
		MXG_NOTICE(COMP, "%s: %s, but the administrator's blocklist entry stays", b->ip,
			   b->reason);
	} else {
		b->p->block_failed++;
		MXG_WARN(COMP, "blocking %s failed (%s): %s", b->ip,
			 st == CTL_DB_DOWN ? "database down" : PQresultErrorMessage(res), b->reason);
	}
	free(b);
}

#define BLOCK_SQL                                                                         \
	"INSERT INTO blocklist (prefix, reason, source, expires_at) VALUES ($1::inet::cidr, " \
	"$2, 'profiler', now() + make_interval(secs => $3::bigint)) ON CONFLICT (prefix) DO " \
	"UPDATE SET reason = EXCLUDED.reason, source = 'profiler', created_at = now(), "    \
	"expires_at = EXCLUDED.expires_at WHERE blocklist.source = 'profiler' OR "           \
	"blocklist.expires_at <= now() RETURNING prefix::text"

static void breach(struct ctl_prof *p, struct ipent *e, int cn, unsigned n, time_t now)
{
	struct breach *b = calloc(1, sizeof(*b));
	char secs[16];
	const char *params[3];

	p->breaches++;
	if (!b)
		return;
	b->p = p;
	b->secs = p->conf.block_s;
	mxg_ip_str(&e->ip, b->ip, sizeof(b->ip));
	snprintf(b->reason, sizeof(b->reason), "%s: %u %s in %u s (threshold %u)%s%s",
		 cnames[cn], n,
		 cn == C_VIRUS ? "recipients with a virus verdict" :
		 cn == C_DHA ? "recipients refused as unknown by the downstream" :
			       "messages with the null sender",
		 p->conf.window_s, p->conf.thr[cn], e->ev[cn][0] ? "; last: " : "",
		 e->ev[cn]);
	snprintf(secs, sizeof(secs), "%u", p->conf.block_s);
	params[0] = b->ip;
	params[1] = b->reason;
	params[2] = secs;
	MXG_NOTICE(COMP, "%s reached a threshold: %s", b->ip, b->reason);
	if (ctl_db_query(p->c->db, BLOCK_SQL, 3, params, false, on_block, b) != 0) {
		p->block_failed++;
		MXG_WARN(COMP, "blocking %s: database unavailable (will retry on the next record)",
			 b->ip);
		free(b);
		return; /* counters kept: the next record tries again */
	}
	memset(e->s, 0, sizeof(e->s));
	memset(e->ev, 0, sizeof(e->ev));
	e->blocked_until = now + p->conf.block_s;
}

static void evidence(char *dst, const char *a, const char *b)
{
	snprintf(dst, EVIDENCE, "%s%s%s", a ? a : "", b && *b ? " " : "", b ? b : "");
}

void ctl_prof_track(struct ctl *c, json_t *rec)
{
	struct ctl_prof *p = c->prof;
	const char *ipstr, *sender;
	struct ipent *e;
	struct mxg_ip ip;
	json_t *rc, *r;
	time_t now;
	size_t i;
	int hits[C__MAX] = { 0 };

	if (!p || !p->loaded || !p->conf.block_s || !p->conf.window_s)
		return;
	ipstr = json_string_value(json_object_get(rec, "client_ip"));
	if (!ipstr || !*ipstr || mxg_ip_parse(ipstr, &ip) != 0 ||
	    json_is_true(json_object_get(rec, "reprocess")))
		return;
	p->records++;
	now = time(NULL);
	rc = json_object_get(rec, "recipients");
	sender = json_string_value(json_object_get(rec, "sender"));
	json_array_foreach(rc, i, r) {
		const char *v = json_string_value(json_object_get(r, "verdict"));

		if (p->conf.thr[C_VIRUS] && v && !strcmp(v, "virus"))
			hits[C_VIRUS]++;
		if (p->conf.thr[C_DHA] &&
		    refused_unknown(json_string_value(json_object_get(r, "downstream_reply"))))
			hits[C_DHA]++;
	}
	if (p->conf.thr[C_BOUNCE] && sender && !*sender)
		hits[C_BOUNCE] = 1;
	if (!hits[C_VIRUS] && !hits[C_DHA] && !hits[C_BOUNCE])
		return; /* nothing to count: no memory spent on a clean sender */
	if (!(e = lookup(p, &ip, now)) || e->blocked_until > now)
		return;
	/* evidence: what the last counted event was */
	json_array_foreach(rc, i, r) {
		const char *v = json_string_value(json_object_get(r, "verdict"));
		const char *rcpt = json_string_value(json_object_get(r, "rcpt"));
		const char *dr = json_string_value(json_object_get(r, "downstream_reply"));

		if (v && !strcmp(v, "virus")) {
			json_t *vd = json_object_get(rec, "verdicts");
			const char *name = json_string_value(json_object_get(vd, "virus"));

			evidence(e->ev[C_VIRUS], name ? name : "virus", rcpt ? rcpt : "");
		}
		if (refused_unknown(dr))
			evidence(e->ev[C_DHA], rcpt, dr);
	}
	if (hits[C_BOUNCE])
		evidence(e->ev[C_BOUNCE], "HELO",
			 json_string_value(json_object_get(rec, "helo")) ?: "");
	for (int cn = 0; cn < C__MAX; cn++) {
		unsigned n;

		for (int k = 0; k < hits[cn]; k++)
			count(p, e, cn, now);
		if (!hits[cn])
			continue;
		n = total(p, e, cn, now);
		if (n >= p->conf.thr[cn]) {
			breach(p, e, cn, n, now);
			return;
		}
	}
}

void ctl_prof_tick(struct ctl *c)
{
	struct ctl_prof *p = c->prof;
	time_t now = time(NULL);
	struct ipent *e;

	if (!p)
		return;
	while ((e = TAILQ_LAST(&p->lru, ipent_lru)) && e->last + (time_t)p->conf.window_s < now &&
	       e->blocked_until <= now)
		ent_free(p, e);
}

/* ------------------------------------------------------------------ settings */

static void defaults(struct ctl_prof_conf *k)
{
	k->window_s = 600;
	k->thr[C_VIRUS] = 10;
	k->thr[C_DHA] = 20;
	k->thr[C_BOUNCE] = 50;
	k->block_s = 3600;
	k->max_ips = 100000;
}

static void on_settings(enum ctl_db_status st, PGresult *res, void *ud)
{
	struct ctl_prof *p = ud;
	struct ctl_prof_conf k;
	static const struct {
		const char *key;
		size_t off;
		unsigned long min, max;
	} keys[] = {
		{ "profiler_window_s", offsetof(struct ctl_prof_conf, window_s), 1, 7 * 86400 },
		{ "profiler_virus_threshold", offsetof(struct ctl_prof_conf, thr[C_VIRUS]), 0, 1000000 },
		{ "profiler_dha_threshold", offsetof(struct ctl_prof_conf, thr[C_DHA]), 0, 1000000 },
		{ "profiler_bounce_threshold", offsetof(struct ctl_prof_conf, thr[C_BOUNCE]), 0,
		  1000000 },
		{ "profiler_block_s", offsetof(struct ctl_prof_conf, block_s), 0, 365 * 86400 },
		{ "profiler_max_ips", offsetof(struct ctl_prof_conf, max_ips), 16, 10000000 },
	};

	p->reload_busy = false;
	if (st == CTL_DB_OK) {
		defaults(&k);
		for (int i = 0; i < PQntuples(res); i++) {
			const char *key = PQgetvalue(res, i, 0), *v = PQgetvalue(res, i, 1);
			char *end;
			unsigned long u;
			size_t j;

			for (j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
				if (!strcmp(keys[j].key, key))
					break;
			if (j == sizeof(keys) / sizeof(keys[0]))
				continue;
			if (*v == '"') /* a JSON string "600" is fine too */
				v++;
			u = strtoul(v, &end, 10);
			if (end == v || (*end && strcmp(end, "\"")) || u < keys[j].min ||
			    u > keys[j].max) {
				MXG_WARN(COMP, "settings: %s = %s: expected an integer %lu..%lu, "
					 "the default is used", key, PQgetvalue(res, i, 1),
					 keys[j].min, keys[j].max);
				continue;
			}
			*(unsigned *)((char *)&k + keys[j].off) = (unsigned)u;
		}
		if (!p->loaded || memcmp(&k, &p->conf, sizeof(k)))
			MXG_INFO(COMP, "window %u s, thresholds virus %u dha %u bounce %u, block %u s, "
				 "max %u addresses", k.window_s, k.thr[C_VIRUS], k.thr[C_DHA],
				 k.thr[C_BOUNCE], k.block_s, k.max_ips);
		if (p->loaded && k.window_s != p->conf.window_s) {
			struct ipent *e;

			TAILQ_FOREACH(e, &p->lru, lru) /* slot widths change: start over */
				memset(e->s, 0, sizeof(e->s));
		}
		if (rehash(p, k.max_ips) == 0) {
			p->conf = k;
			p->loaded = true;
			p->reloads++;
		}
		while (p->n > p->conf.max_ips) {
			ent_free(p, TAILQ_LAST(&p->lru, ipent_lru));
			p->evicted++;
		}
	} else if (st == CTL_DB_SQL) {
		MXG_WARN(COMP, "reading the settings: %.*s",
			 (int)strcspn(PQresultErrorMessage(res), "\n"), PQresultErrorMessage(res));
	}
	if (p->reload_again) {
		p->reload_again = false;
		ctl_prof_reload(p->c);
	}
}

void ctl_prof_reload(struct ctl *c)
{
	struct ctl_prof *p = c->prof;

	if (!p)
		return;
	if (p->reload_busy) {
		p->reload_again = true;
		return;
	}
	p->reload_busy = true;
	if (ctl_db_query(c->db, "SELECT key, value::text FROM settings WHERE key LIKE "
				"'profiler\\_%'", 0, NULL, false, on_settings, p) != 0)
		p->reload_busy = false;
}

json_t *ctl_prof_status(const struct ctl *c)
{
	const struct ctl_prof *p = c->prof;

	if (!p)
		return json_object();
	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			 " s:I, s:I}",
			 "loaded", p->loaded, "reloads", (json_int_t)p->reloads,
			 "window_s", (json_int_t)p->conf.window_s,
			 "virus_threshold", (json_int_t)p->conf.thr[C_VIRUS],
			 "dha_threshold", (json_int_t)p->conf.thr[C_DHA],
			 "bounce_threshold", (json_int_t)p->conf.thr[C_BOUNCE],
			 "block_s", (json_int_t)p->conf.block_s,
			 "max_ips", (json_int_t)p->conf.max_ips,
			 "tracked_ips", (json_int_t)p->n, "evicted", (json_int_t)p->evicted,
			 "records", (json_int_t)p->records,
			 "viruses", (json_int_t)p->counted[C_VIRUS],
			 "dha", (json_int_t)p->counted[C_DHA],
			 "bounces", (json_int_t)p->counted[C_BOUNCE],
			 "breaches", (json_int_t)p->breaches, "blocks", (json_int_t)p->blocks);
}

/* ------------------------------------------------------------------ life cycle */

int ctl_prof_init(struct ctl *c)
{
	struct ctl_prof *p = calloc(1, sizeof(*p));

	if (!p)
		return -1;
	p->c = c;
	defaults(&p->conf);
	TAILQ_INIT(&p->lru);
	if (rehash(p, p->conf.max_ips) != 0) {
		free(p);
		return -1;
	}
	c->prof = p;
	return 0;
}

void ctl_prof_fini(struct ctl *c)
{
	struct ctl_prof *p = c->prof;
	struct ipent *e;

	if (!p)
		return;
	while ((e = TAILQ_FIRST(&p->lru))) {
		TAILQ_REMOVE(&p->lru, e, lru);
		free(e);
	}
	free(p->h);
	free(p);
	c->prof = NULL;
}
