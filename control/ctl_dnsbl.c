/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_dnsbl.c - DNSBL lookups for the dataplanes (see ctl_dnsbl.h).
 *
 * A query becomes a job: one evdns request per enabled zone of the zone
 * set in force (reference counted: a reload does not pull it from under
 * a job), one timer of dnsbl_timeout_ms. The job answers when every zone
 * answered or the timer fired; a request that answers later finds its job
 * gone (lk->job NULL) and only frees itself. evdns gets the same timeout
 * and one attempt, so every request it was given calls back exactly once
 * (DNS_ERR_SHUTDOWN when its base is replaced or freed).
 *
 * The cache: answers per address (text) in a hash table with a FIFO for
 * eviction (CACHE_MAX entries), expired on lookup. Cleared when the zones
 * or the resolver change.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "ctl_db.h"
#include "ctl_dnsbl.h"
#include "mxg_addr.h"
#include "mxg_err.h"
#include "mxg_log.h"

#define COMP "dnsbl"
#define DNSBL_TTL_MIN 30
#define DNSBL_TTL_MAX 86400
#define DNSBL_NEG_TTL 300
#define DNSBL_IDLE_TTL 60        /* no zone enabled */
#define ZONES_MAX 32
#define CODES_MAX 16
#define CACHE_MAX 65536
#define CACHE_BUCKETS 16384
#define JOBS_MAX 20000

enum dact { ACT_REJECT, ACT_TEMPFAIL, ACT_SCORE };
static const char *const act_names[] = { "reject", "tempfail", "score" };

struct zone {
	char name[128];
	char zone[256];
	char kind[16];
	enum dact action;
	uint32_t codes[CODES_MAX]; /* IPv4, host order */
	unsigned ncodes;
	int score;
};

struct zset {
	unsigned refs;
	unsigned n;
	struct zone z[];
};

struct cent {
	TAILQ_ENTRY(cent) fifo;
	struct cent *next;        /* bucket chain */
	time_t exp;               /* CLOCK_MONOTONIC seconds */
	enum ctl_dnsbl_verdict v;
	char ip[48];
	char zone[256];
	char code[48];
};

struct job;

struct lk {                       /* one zone's request */
	struct job *job;          /* NULL: the job is gone */
	unsigned idx;
};

enum zres { Z_PENDING, Z_CLEAN, Z_LISTED, Z_FAILED };

struct job {
	TAILQ_ENTRY(job) link;
	struct ctl_dnsbl *d;
	struct zset *zs;
	char ip[48];
	ctl_dnsbl_fn *fn;
	void *ud;
	unsigned serial;
	uint64_t req;
	struct event *tmo;
	unsigned pending;
	struct lk **lks;          /* [zs->n] */
	enum zres *res;           /* [zs->n] */
	uint32_t *ttl;            /* [zs->n] */
	char (*code)[48];         /* [zs->n] */
};

struct ctl_dnsbl {
	struct ctl *c;
	struct evdns_base *dns;
	struct zset *zs;
	unsigned timeout_ms;
	char resolver[128];
	enum ctl_dnsbl_verdict def;   /* PASS (accept), REJECT or TEMPFAIL */
	bool loaded, busy, again;
	struct cent *bucket[CACHE_BUCKETS];
	TAILQ_HEAD(, cent) fifo;
	unsigned ncache;
	TAILQ_HEAD(, job) jobs;
	unsigned njobs;
	uint64_t queries, lookups, cache_hits, listed, timeouts, errors, reloads, overload;
};

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void zset_unref(struct zset *zs)
{
	if (zs && --zs->refs == 0)
		free(zs);
}

static const char *def_name(enum ctl_dnsbl_verdict v)
{
	return v == CTL_DNSBL_REJECT ? "reject" : v == CTL_DNSBL_TEMPFAIL ? "tempfail" : "accept";
}

/* ------------------------------------------------------------------ cache */

static unsigned hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h % CACHE_BUCKETS;
}

static void cache_unlink(struct ctl_dnsbl *d, struct cent *e)
{
	struct cent **pp = &d->bucket[hash(e->ip)];

	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (*pp)
		*pp = e->next;
	TAILQ_REMOVE(&d->fifo, e, fifo);
	d->ncache--;
	free(e);
}

static void cache_clear(struct ctl_dnsbl *d)
{
	struct cent *e;

	while ((e = TAILQ_FIRST(&d->fifo)))
		cache_unlink(d, e);
}

static struct cent *cache_get(struct ctl_dnsbl *d, const char *ip)
{
	struct cent *e;

	for (e = d->bucket[hash(ip)]; e; e = e->next)
		if (!strcmp(e->ip, ip))
			break;
	if (e && e->exp <= mono_s()) {
		cache_unlink(d, e);
		e = NULL;
	}
	return e;
}

static void cache_put(struct ctl_dnsbl *d, const char *ip, enum ctl_dnsbl_verdict v, uint32_t ttl,
		      const char *zone, const char *code)
{
	struct cent *e = cache_get(d, ip);
	unsigned b = hash(ip);

	if (e)
		cache_unlink(d, e);
	if (d->ncache >= CACHE_MAX)
		cache_unlink(d, TAILQ_FIRST(&d->fifo));
	e = calloc(1, sizeof(*e));
	if (!e)
		return;
	snprintf(e->ip, sizeof(e->ip), "%s", ip);
	snprintf(e->zone, sizeof(e->zone), "%s", zone);
	snprintf(e->code, sizeof(e->code), "%s", code);
	e->v = v;
	e->exp = mono_s() + ttl;
	e->next = d->bucket[b];
	d->bucket[b] = e;
	TAILQ_INSERT_TAIL(&d->fifo, e, fifo);
	d->ncache++;
}

/* ------------------------------------------------------------------ jobs */

static void job_free(struct job *j)
{
	for (unsigned i = 0; j->lks && i < j->zs->n; i++)
		if (j->lks[i])
			j->lks[i]->job = NULL; /* its callback frees it */
	if (j->tmo)
		event_free(j->tmo);
	zset_unref(j->zs);
	free(j->lks);
	free(j->res);
	free(j->ttl);
	free(j->code);
	free(j);
}

/* Combines the zones' results, answers, caches, logs the hits. */
static void job_finish(struct job *j)
{
	struct ctl_dnsbl *d = j->d;
	const struct zone *win = NULL, *score = NULL, *late = NULL;
	enum ctl_dnsbl_verdict v = CTL_DNSBL_PASS;
	const char *zone = "", *code = "";
	uint32_t ttl = DNSBL_TTL_MAX;
	unsigned wi = 0, si = 0;

	for (unsigned i = 0; i < j->zs->n; i++) {
		const struct zone *z = &j->zs->z[i];

		if (j->res[i] == Z_PENDING || j->res[i] == Z_FAILED) {
			if (!late)
				late = z;
			if (j->res[i] == Z_PENDING)
				d->timeouts++;
			continue;
		}
		if (j->ttl[i] < ttl)
			ttl = j->ttl[i];
		if (j->res[i] != Z_LISTED)
			continue;
		d->listed++;
		MXG_NOTICE(COMP, "%s listed in %s (%s, %s): %s -> %s", j->ip, z->zone, z->name,
			   z->kind, j->code[i], act_names[z->action]);
		if (z->action != ACT_SCORE && !win) {
			win = z;
			wi = i;
		} else if (z->action == ACT_SCORE && !score) {
			score = z;
			si = i;
		}
	}
	if (win) {
		v = win->action == ACT_REJECT ? CTL_DNSBL_REJECT : CTL_DNSBL_TEMPFAIL;
		zone = win->zone;
		code = j->code[wi];
	} else if (late) {
		v = CTL_DNSBL_TIMEOUT;
		zone = late->zone;
		code = def_name(d->def);
		ttl = 0;
		MXG_INFO(COMP, "%s: %s did not answer in time: %s", j->ip, late->zone, code);
	} else if (score) {
		zone = score->zone;
		code = j->code[si];
	}
	if (ttl < DNSBL_TTL_MIN && v != CTL_DNSBL_TIMEOUT)
		ttl = DNSBL_TTL_MIN;
	if (ttl)
		cache_put(d, j->ip, v, ttl, zone, code);
	TAILQ_REMOVE(&d->jobs, j, link);
	d->njobs--;
	j->fn(j->ud, j->serial, j->req, v, ttl, zone, code);
	job_free(j);
}

static void on_job_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	job_finish(arg);
}

static bool code_listed(const struct zone *z, uint32_t a)
{
	if (!z->ncodes)
		return (a >> 24) == 127;
	for (unsigned i = 0; i < z->ncodes; i++)
		if (z->codes[i] == a)
			return true;
	return false;
}

static void on_dns(int result, char type, int count, int ttl, void *addrs, void *arg)
{
	struct lk *lk = arg;
	struct job *j = lk->job;
	unsigned i = lk->idx;
	const struct zone *z;

	free(lk);
	if (!j)
		return;
	j->lks[i] = NULL;
	z = &j->zs->z[i];
	j->res[i] = Z_CLEAN;
	if (result == DNS_ERR_NONE && type == DNS_IPv4_A) {
		for (int k = 0; k < count; k++) {
			uint32_t a = ntohl(((const uint32_t *)addrs)[k]);

			if (code_listed(z, a)) {
				struct in_addr ia = { .s_addr = htonl(a) };

				j->res[i] = Z_LISTED;
				inet_ntop(AF_INET, &ia, j->code[i], sizeof(j->code[i]));
				break;
			}
		}
		j->ttl[i] = ttl < DNSBL_TTL_MIN ? DNSBL_TTL_MIN
			  : ttl > DNSBL_TTL_MAX ? DNSBL_TTL_MAX : (uint32_t)ttl;
	} else if (result == DNS_ERR_NOTEXIST || result == DNS_ERR_NONE) {
		j->ttl[i] = DNSBL_NEG_TTL;
	} else {
		j->res[i] = Z_FAILED; /* SERVFAIL, timeout, shutdown: as if late */
		j->d->errors += result != DNS_ERR_TIMEOUT;
		if (result == DNS_ERR_TIMEOUT)
			j->d->timeouts++;
	}
	if (--j->pending == 0)
		job_finish(j);
}

/* The query name of |ip| under |zone|: reversed octets or nibbles. */
static int qname(const struct mxg_ip *ip, const char *zone, char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (ip->family == 4) {
		o = (size_t)snprintf(out, n, "%u.%u.%u.%u.", ip->a[3], ip->a[2], ip->a[1],
				     ip->a[0]);
	} else {
		for (int i = 15; i >= 0 && o + 4 < n; i--) {
			out[o++] = hex[ip->a[i] & 15];
			out[o++] = '.';
			out[o++] = hex[ip->a[i] >> 4];
			out[o++] = '.';
		}
	}
	if (o >= n || o + strlen(zone) >= n)
		return MXG_E_INVAL;
	strcpy(out + o, zone);
	return 0;
}

void ctl_dnsbl_query(struct ctl *c, const char *ip, ctl_dnsbl_fn *fn, void *ud, unsigned serial,
		     uint64_t req)
{
	struct ctl_dnsbl *d = c->dnsbl;
	struct mxg_ip a;
	struct cent *e;
	struct job *j;
	char name[512], canon[48];
	struct timeval tv;

	if (!d || mxg_ip_parse(ip, &a) != 0) {
		fn(ud, serial, req, CTL_DNSBL_PASS, DNSBL_IDLE_TTL, "", "");
		return;
	}
	d->queries++;
	mxg_ip_str(&a, canon, sizeof(canon));
	if (!d->zs || !d->zs->n) {
		fn(ud, serial, req, CTL_DNSBL_PASS, DNSBL_IDLE_TTL, "", "");
		return;
	}
	if ((e = cache_get(d, canon))) {
		d->cache_hits++;
		fn(ud, serial, req, e->v, (uint32_t)(e->exp - mono_s()), e->zone, e->code);
		return;
	}
	if (!d->dns || d->njobs >= JOBS_MAX || !(j = calloc(1, sizeof(*j)))) {
		d->overload++;
		fn(ud, serial, req, CTL_DNSBL_TIMEOUT, 0, "", def_name(d->def));
		return;
	}
	j->d = d;
	j->zs = d->zs;
	j->zs->refs++;
	snprintf(j->ip, sizeof(j->ip), "%s", canon);
	j->fn = fn;
	j->ud = ud;
	j->serial = serial;
	j->req = req;
	j->lks = calloc(j->zs->n, sizeof(*j->lks));
	j->res = calloc(j->zs->n, sizeof(*j->res));
	j->ttl = calloc(j->zs->n, sizeof(*j->ttl));
	j->code = calloc(j->zs->n, sizeof(*j->code));
	j->tmo = evtimer_new(c->base, on_job_timeout, j);
	TAILQ_INSERT_TAIL(&d->jobs, j, link);
	d->njobs++;
	if (!j->lks || !j->res || !j->ttl || !j->code || !j->tmo) {
		d->overload++;
		for (unsigned i = 0; j->res && i < j->zs->n; i++)
			j->res[i] = Z_FAILED;
		if (!j->res) { /* cannot even say which zone: answer by hand */
			TAILQ_REMOVE(&d->jobs, j, link);
			d->njobs--;
			fn(ud, serial, req, CTL_DNSBL_TIMEOUT, 0, "", def_name(d->def));
			job_free(j);
			return;
		}
		job_finish(j);
		return;
	}
	j->pending = 1; /* held while the requests start: none finishes the job early */
	for (unsigned i = 0; i < j->zs->n; i++) {
		struct lk *lk = malloc(sizeof(*lk));

		if (!lk || qname(&a, j->zs->z[i].zone, name, sizeof(name)) != 0) {
			free(lk);
			j->res[i] = Z_FAILED;
			continue;
		}
		lk->job = j;
		lk->idx = i;
		j->lks[i] = lk;
		j->pending++;
		d->lookups++;
		if (!evdns_base_resolve_ipv4(d->dns, name, DNS_QUERY_NO_SEARCH, on_dns, lk)) {
			/* evdns called on_dns already (it frees lk) or failed */
			if (j->lks[i] == lk) {
				j->lks[i] = NULL;
				free(lk);
				j->res[i] = Z_FAILED;
				j->pending--;
			}
		}
	}
	tv.tv_sec = d->timeout_ms / 1000;
	tv.tv_usec = (d->timeout_ms % 1000) * 1000;
	evtimer_add(j->tmo, &tv);
	if (--j->pending == 0)
		job_finish(j);
}

/* ------------------------------------------------------------------ resolver */

static int dns_setup(struct ctl_dnsbl *d)
{
	struct evdns_base *b;
	char t[32];

	if (d->resolver[0]) {
		b = evdns_base_new(d->c->base, 0);
		if (b && evdns_base_nameserver_ip_add(b, d->resolver) != 0) {
			MXG_ERR(COMP, "dnsbl_resolver %s: not an address[:port]", d->resolver);
			evdns_base_free(b, 0);
			b = NULL;
		}
	} else {
		b = evdns_base_new(d->c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
						       EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	}
	if (!b)
		return MXG_E_IO;
	snprintf(t, sizeof(t), "%u.%03u", d->timeout_ms / 1000, d->timeout_ms % 1000);
	evdns_base_set_option(b, "timeout:", t);
	evdns_base_set_option(b, "attempts:", "1");
	evdns_base_set_option(b, "randomize-case:", "0");
	if (d->dns)
		evdns_base_free(d->dns, 1); /* its requests call back: DNS_ERR_SHUTDOWN */
	d->dns = b;
	return 0;
}

/* ------------------------------------------------------------------ settings */

static char *jstr(const char *v, char *out, size_t n)
{
	size_t l = strlen(v);

	if (l >= 2 && v[0] == '"' && v[l - 1] == '"')
		snprintf(out, n, "%.*s", (int)(l - 2), v + 1);
	else
		snprintf(out, n, "%s", v);
	return out;
}

static void on_zones(enum ctl_db_status st, PGresult *res, void *ud)
{
	struct ctl_dnsbl *d = ud;
	struct zset *zs;
	unsigned tmo = 1500;
	char resolver[128] = "", def[32] = "accept", buf[256];
	enum ctl_dnsbl_verdict dv;
	bool changed;
	int n;

	d->busy = false;
	if (st != CTL_DB_OK) {
		if (st == CTL_DB_SQL)
			MXG_WARN(COMP, "reading the zones: %.*s",
				 (int)strcspn(PQresultErrorMessage(res), "\n"),
				 PQresultErrorMessage(res));
		goto again;
	}
	n = PQntuples(res);
	zs = calloc(1, sizeof(*zs) + (size_t)(n > ZONES_MAX ? ZONES_MAX : n) * sizeof(struct zone));
	if (!zs)
		goto again;
	zs->refs = 1;
	for (int i = 0; i < n; i++) {
		const char *kind = PQgetvalue(res, i, 0);

		if (!strcmp(kind, "s")) {
			const char *k = PQgetvalue(res, i, 1), *v = PQgetvalue(res, i, 2);

			if (!strcmp(k, "dnsbl_timeout_ms")) {
				unsigned long u = strtoul(jstr(v, buf, sizeof(buf)), NULL, 10);

				tmo = u >= 50 && u <= 60000 ? (unsigned)u : 1500;
			} else if (!strcmp(k, "dnsbl_resolver")) {
				jstr(v, resolver, sizeof(resolver));
			} else if (!strcmp(k, "dnsbl_default_action")) {
				jstr(v, def, sizeof(def));
			}
			continue;
		}
		if (zs->n >= ZONES_MAX) {
			MXG_WARN(COMP, "more than %u enabled zones: the rest are ignored", ZONES_MAX);
			continue;
		}
		struct zone *z = &zs->z[zs->n];
		const char *act = PQgetvalue(res, i, 5);
		char *codes = PQgetvalue(res, i, 6), *tok, *save;

		snprintf(z->name, sizeof(z->name), "%s", PQgetvalue(res, i, 1));
		snprintf(z->zone, sizeof(z->zone), "%s", PQgetvalue(res, i, 2));
		snprintf(z->kind, sizeof(z->kind), "%s", PQgetvalue(res, i, 3));
		z->score = atoi(PQgetvalue(res, i, 4));
		z->action = !strcmp(act, "tempfail") ? ACT_TEMPFAIL
			  : !strcmp(act, "score") ? ACT_SCORE : ACT_REJECT;
		/* text[] as text: {127.0.0.2,127.0.0.4} */
		snprintf(buf, sizeof(buf), "%s", codes);
		for (tok = strtok_r(buf, "{},\" ", &save); tok && z->ncodes < CODES_MAX;
		     tok = strtok_r(NULL, "{},\" ", &save)) {
			struct in_addr ia;

			if (inet_pton(AF_INET, tok, &ia) == 1)
				z->codes[z->ncodes++] = ntohl(ia.s_addr);
		}
		zs->n++;
	}
	dv = !strcmp(def, "reject") ? CTL_DNSBL_REJECT
	   : !strcmp(def, "tempfail") ? CTL_DNSBL_TEMPFAIL : CTL_DNSBL_PASS;
	changed = !d->loaded || !d->zs || d->zs->n != zs->n ||
		  memcmp(d->zs->z, zs->z, zs->n * sizeof(struct zone)) ||
		  strcmp(resolver, d->resolver) || tmo != d->timeout_ms || dv != d->def;
	if (changed) {
		bool redo = !d->dns || strcmp(resolver, d->resolver) || tmo != d->timeout_ms;

		snprintf(d->resolver, sizeof(d->resolver), "%s", resolver);
		d->timeout_ms = tmo;
		d->def = dv;
		zset_unref(d->zs);
		d->zs = zs;
		cache_clear(d);
		if (redo && dns_setup(d) != 0)
			MXG_ERR(COMP, "no resolver: lookups answer %s", def_name(d->def));
		MXG_INFO(COMP, "%u zone(s) enabled, timeout %u ms, resolver %s, on timeout %s",
			 zs->n, tmo, resolver[0] ? resolver : "(resolv.conf)", def_name(dv));
	} else {
		zset_unref(zs);
	}
	d->loaded = true;
	d->reloads++;
again:
	if (d->again) {
		d->again = false;
		ctl_dnsbl_reload(d->c);
	}
}

void ctl_dnsbl_reload(struct ctl *c)
{
	struct ctl_dnsbl *d = c->dnsbl;

	if (!d)
		return;
	if (d->busy) {
		d->again = true;
		return;
	}
	d->busy = true;
	if (ctl_db_query(c->db,
			 "SELECT 's', key, value::text, '', '', '', '' FROM settings "
			 "WHERE key LIKE 'dnsbl\\_%' "
			 "UNION ALL (SELECT 'z', name, zone, kind, score::text, action, "
			 "return_codes::text FROM dnsbl_zones WHERE enabled "
			 "ORDER BY position, name)",
			 0, NULL, false, on_zones, d) != 0)
		d->busy = false;
}

/* ------------------------------------------------------------------ life */

int ctl_dnsbl_init(struct ctl *c)
{
	struct ctl_dnsbl *d = calloc(1, sizeof(*d));

	if (!d)
		return MXG_E_NOMEM;
	d->c = c;
	d->timeout_ms = 1500;
	TAILQ_INIT(&d->fifo);
	TAILQ_INIT(&d->jobs);
	c->dnsbl = d;
	return 0;
}

void ctl_dnsbl_fini(struct ctl *c)
{
	struct ctl_dnsbl *d = c->dnsbl;
	struct job *j;

	if (!d)
		return;
	while ((j = TAILQ_FIRST(&d->jobs))) {
		TAILQ_REMOVE(&d->jobs, j, link);
		job_free(j);
	}
	if (d->dns)
		evdns_base_free(d->dns, 0);
	cache_clear(d);
	zset_unref(d->zs);
	free(d);
	c->dnsbl = NULL;
}

json_t *ctl_dnsbl_status(const struct ctl *c)
{
	const struct ctl_dnsbl *d = c->dnsbl;

	if (!d)
		return json_object();
	return json_pack("{s:b, s:i, s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i,"
			 " s:i}",
			 "loaded", d->loaded, "zones_enabled", d->zs ? (int)d->zs->n : 0,
			 "timeout_ms", (int)d->timeout_ms, "resolver", d->resolver,
			 "default_action", def_name(d->def),
			 "queries", (json_int_t)d->queries, "lookups", (json_int_t)d->lookups,
			 "cache_hits", (json_int_t)d->cache_hits, "listed", (json_int_t)d->listed,
			 "timeouts", (json_int_t)d->timeouts, "errors", (json_int_t)d->errors,
			 "overload", (json_int_t)d->overload, "reloads", (json_int_t)d->reloads,
			 "cached", (int)d->ncache, "pending", (int)d->njobs);
}
