/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_ctl.c - the control channel's service thread and its worker-side API
 * (see dp_ctl.h for the design).
 *
 * THE THREAD
 *	One loop: connect when disconnected (backoff 100 ms doubling to 2 s),
 *	poll the socket for 2 ms, hand received frames to their owners, then
 *	drain the workers' up-ring into frames. Writes block with a send
 *	timeout (5 s): the thread may wait for mxgate-control, the cores never
 *	do. A write that fails ends the connection.
 *
 * BLOCKLIST
 *	Each MXG_CHAN_BLOCKLIST frame carries the whole live list. The thread
 *	keeps the list it applied (sorted by family, length, address) and
 *	hands only the difference to dp_filter_ctl_apply: new or changed
 *	entries (reason, expiry) are added, vanished ones removed. A change
 *	that could not be applied (a worker's ring stayed full, an XDP map
 *	write failed) is retried every 500 ms until it is. The applied list
 *	outlives the connection: a control plane restart does not unblock
 *	anyone, and the list it sends after HELLO is again a difference.
 *
 * QUARANTINE ACKNOWLEDGEMENTS, EXACTLY ONCE
 *	A request id is (worker index + 1) << 56 | sequence. Requests written
 *	to the socket are remembered (in_flight) until their QUAR_ACK comes
 *	back; when the connection breaks, each of them, and each request taken
 *	from the ring while disconnected, gets a failure acknowledgement. Every
 *	worker limits its own unanswered requests to ACK_RING - 1, so its ack
 *	ring can never be full when the thread writes to it.
 *
 * DNSBL QUERIES
 *	The same way, with DNSBL_BIT set in the request id: the thread tells
 *	the two kinds apart when it answers for a lost connection (a DNSBL
 *	query then gets verdict 3, "timeout", with no code: the worker applies
 *	the default it learned last).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <rte_ring.h>
#include <rte_telemetry.h>

#include "dp.h"
#include "dp_ctl.h"
#include "mxg_chan.h"
#include "mxg_err.h"
#include "mxg_log.h"
#include "pol.h"

#define COMP "ctl"
#define UP_RING 16384
#define ACK_RING 4096
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define SEND_TIMEOUT_S 5
#define BL_RETRY_MS 500
#define BL_ENTRIES_MAX (1u << 22)
#define DNSBL_BIT (1ull << 55)   /* in a request id: a DNSBL query */
#define SEQ_MASK (DNSBL_BIT - 1)

struct up_msg {
	enum mxg_chan_type type;
	unsigned worker;
	uint64_t req;            /* QUAR */
	size_t len;
	uint8_t data[];          /* frame payload */
};

struct bl_ent {                  /* a blocklist entry as applied */
	struct mxg_prefix p;     /* host bits clear */
	uint32_t reason;
	int64_t expires_at;      /* epoch s, 0 = never */
};

struct bl_set {
	struct bl_ent *v;
	size_t n;
};

struct wl {                      /* per worker; written by that worker only */
	struct pol_snap *snap;
	uint64_t gen;
	uint64_t seq;
	uint32_t unanswered;     /* quarantine requests awaiting an ack */
};

static struct {
	struct dp_ctl_conf conf;
	struct dp_ctx *ctx;
	bool started;
	pthread_t thread;
	atomic_bool stop;
	struct rte_ring *up;
	struct rte_ring *ack[DP_MAX_WORKERS];
	struct wl wl[DP_MAX_WORKERS];
	pthread_mutex_t lock;    /* cur */
	struct pol_snap *cur;
	atomic_uint_fast64_t gen;
	/* service thread only */
	int fd;
	struct mxg_chan_rx rx;
	uint64_t *inflight;
	size_t ninflight, capinflight;
	struct bl_set bl_applied, bl_want;
	bool bl_dirty;           /* bl_want not (entirely) applied yet */
	uint64_t bl_retry_ms;
	/* counters (relaxed atomics: workers add to some) */
	struct dp_ctl_stats st;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

#define ADD(f, n) __atomic_fetch_add(&g.st.f, (n), __ATOMIC_RELAXED)

/* ------------------------------------------------------------ config */

int dp_ctl_conf_load(struct mxg_conf *mc, struct dp_ctl_conf *c, char *err, size_t errlen)
{
	struct mxg_conf_sec *s = mxg_conf_find(mc, "control", NULL);
	const char *sock, *dir, *node;
	char host[64];

	memset(c, 0, sizeof(*c));
	if (!s)
		return 0;
	c->enabled = true;
	sock = mxg_conf_get(s, "channel_socket");
	dir = mxg_conf_get(s, "state_dir");
	node = mxg_conf_get(s, "node_name");
	if (sock && *sock) {
		if (sock[0] != '/' || strlen(sock) >= sizeof(c->socket))
			return mxg_conf_err(s, "channel_socket", err, errlen,
					    "must be an absolute path shorter than %zu bytes",
					    sizeof(c->socket));
		strcpy(c->socket, sock);
	} else {
		if (snprintf(c->socket, sizeof(c->socket), "%s/run/channel.sock",
			     dir && *dir ? dir : "/var/lib/mxgate") >= (int)sizeof(c->socket))
			return mxg_conf_err(s, "state_dir", err, errlen,
					    "too long for the channel socket path");
	}
	if (!node || !*node) {
		if (gethostname(host, sizeof(host)) != 0)
			strcpy(host, "mxgate");
		host[sizeof(host) - 1] = '\0';
		node = host;
	}
	snprintf(c->node, sizeof(c->node), "%s", node);
	return 0;
}

bool dp_ctl_enabled(void)
{
	return g.conf.enabled;
}

/* ------------------------------------------------------------ worker side */

struct pol_snap *dp_ctl_policy(struct dp_worker *w)
{
	return g.wl[w->idx].snap;
}

const char *dp_ctl_node(void)
{
	return g.conf.node;
}

void dp_ctl_poll(struct dp_worker *w, dp_ctl_ack_fn *fn, mxg_tstamp now)
{
	struct wl *l = &g.wl[w->idx];
	uint64_t gen = atomic_load_explicit(&g.gen, memory_order_acquire);
	void *objs[32];
	unsigned n;

	if (gen != l->gen) {
		struct pol_snap *old = l->snap;

		pthread_mutex_lock(&g.lock);
		l->snap = pol_snap_ref(g.cur);
		l->gen = atomic_load_explicit(&g.gen, memory_order_relaxed);
		pthread_mutex_unlock(&g.lock);
		pol_snap_unref(old);
	}
	if (!g.ack[w->idx])
		return;
	while ((n = rte_ring_sc_dequeue_burst(g.ack[w->idx], objs, 32, NULL)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			struct dp_ctl_ack *a = objs[i];

			l->unanswered--;
			fn(w, a, now);
			free(a);
		}
	}
}

static bool up_put(struct up_msg *m)
{
	if (!g.up || rte_ring_mp_enqueue(g.up, m) != 0) {
		free(m);
		return false;
	}
	return true;
}

void dp_ctl_track(struct dp_worker *w, const char *json, size_t len)
{
	struct up_msg *m;

	if (!g.started)
		return;
	m = malloc(sizeof(*m) + len);
	if (!m) {
		ADD(track_dropped, 1);
		return;
	}
	m->type = MXG_CHAN_TRACK;
	m->worker = w->idx;
	m->req = 0;
	m->len = len;
	memcpy(m->data, json, len);
	if (!up_put(m))
		ADD(track_dropped, 1);
}

uint64_t dp_ctl_quarantine(struct dp_worker *w, const char *meta, size_t mlen,
			   const uint8_t *msg, size_t len)
{
	struct wl *l = &g.wl[w->idx];
	struct up_msg *m;
	uint64_t req;

	if (!g.started || !__atomic_load_n(&g.st.connected, __ATOMIC_RELAXED) ||
	    l->unanswered >= ACK_RING - 1 || 12 + mlen + len > MXG_CHAN_FRAME_MAX - 1) {
		ADD(quar_refused, 1);
		return 0;
	}
	m = malloc(sizeof(*m) + 12 + mlen + len);
	if (!m) {
		ADD(quar_refused, 1);
		return 0;
	}
	m->type = MXG_CHAN_QUAR;
	m->worker = w->idx;
	req = (uint64_t)(w->idx + 1) << 56 | (++l->seq & SEQ_MASK);
	m->req = req;
	m->len = 12 + mlen + len;
	mxg_chan_put64(m->data, m->req);
	mxg_chan_put32(m->data + 8, (uint32_t)mlen);
	memcpy(m->data + 12, meta, mlen);
	memcpy(m->data + 12 + mlen, msg, len);
	if (!up_put(m)) {
		ADD(quar_refused, 1);
		return 0;
	}
	l->unanswered++;
	return req; /* |m| belongs to the service thread now */
}

uint64_t dp_ctl_dnsbl_query(struct dp_worker *w, const char *ip)
{
	struct wl *l = &g.wl[w->idx];
	size_t n = strlen(ip);
	struct up_msg *m;
	uint64_t req;

	if (!g.started || !__atomic_load_n(&g.st.connected, __ATOMIC_RELAXED) ||
	    l->unanswered >= ACK_RING - 1 || n > 63 || !(m = malloc(sizeof(*m) + 8 + n))) {
		ADD(dnsbl_refused, 1);
		return 0;
	}
	m->type = MXG_CHAN_DNSBL_QUERY;
	m->worker = w->idx;
	req = (uint64_t)(w->idx + 1) << 56 | DNSBL_BIT | (++l->seq & SEQ_MASK);
	m->req = req;
	m->len = 8 + n;
	mxg_chan_put64(m->data, req);
	memcpy(m->data + 8, ip, n);
	if (!up_put(m)) {
		ADD(dnsbl_refused, 1);
		return 0;
	}
	l->unanswered++;
	return req;
}

void dp_ctl_stats(struct dp_ctl_stats *out)
{
	*out = g.st; /* aligned 64-bit fields: no torn reads on x86-64/arm64 */
}

/* ------------------------------------------------------------ service thread */

/* A zeroed answer for the worker encoded in |req| (*wi), or NULL when
 * there is no such worker. Never fails otherwise: the worker counts on
 * exactly one answer per request. */
static struct dp_ctl_ack *ack_new(uint64_t req, unsigned *wi)
{
	struct dp_ctl_ack *a;

	*wi = (unsigned)(req >> 56) - 1;
	if (*wi >= DP_MAX_WORKERS || !g.ack[*wi])
		return NULL;
	while (!(a = calloc(1, sizeof(*a))))
		usleep(1000);
	a->req = req;
	return a;
}

static void ack_post(unsigned wi, struct dp_ctl_ack *a)
{
	/* Cannot be full: unanswered < ACK_RING per worker. */
	if (rte_ring_sp_enqueue(g.ack[wi], a) != 0) {
		MXG_ERR(COMP, "worker %u: acknowledgement ring full (a bug)", wi);
		free(a);
	}
}

/* Delivers a DNSBL answer to the worker encoded in |req|. */
static void dnsbl_to(uint64_t req, uint8_t verdict, uint32_t ttl, const char *text, size_t n)
{
	const char *sp = memchr(text, ' ', n);
	unsigned wi;
	struct dp_ctl_ack *a = ack_new(req, &wi);

	if (!a)
		return;
	a->kind = DP_CTL_ACK_DNSBL;
	a->ok = verdict != 3;
	a->verdict = verdict > 3 ? 3 : verdict;
	a->ttl = ttl;
	if (sp) {
		size_t zl = (size_t)(sp - text), cl = n - zl - 1;

		snprintf(a->zone, sizeof(a->zone), "%.*s", (int)(zl < 255 ? zl : 255), text);
		snprintf(a->code, sizeof(a->code), "%.*s", (int)(cl < 47 ? cl : 47), sp + 1);
	} else {
		snprintf(a->zone, sizeof(a->zone), "%.*s", (int)(n < 255 ? n : 255), text);
	}
	for (char *c = a->zone; *c; c++) /* it ends up in a reply line */
		if ((unsigned char)*c < 32 || *c == 127)
			*c = '?';
	for (char *c = a->code; *c; c++)
		if ((unsigned char)*c < 32 || *c == 127)
			*c = '?';
	ack_post(wi, a);
}

/* Delivers an acknowledgement to the worker encoded in |req|. */
static void ack_to(uint64_t req, bool ok, uint64_t qid, const char *err)
{
	unsigned wi;
	struct dp_ctl_ack *a;

	if (req & DNSBL_BIT) { /* a DNSBL query that lost its channel */
		ADD(dnsbl_lost, 1);
		dnsbl_to(req, 3, 0, "", 0);
		return;
	}
	if (!(a = ack_new(req, &wi)))
		return;
	a->ok = ok;
	a->qid = qid;
	snprintf(a->err, sizeof(a->err), "%s", err ? err : "");
	ADD(quar_ok, ok ? 1 : 0);
	ADD(quar_failed, ok ? 0 : 1);
	ack_post(wi, a);
}

static bool inflight_take(uint64_t req)
{
	for (size_t i = 0; i < g.ninflight; i++)
		if (g.inflight[i] == req) {
			g.inflight[i] = g.inflight[--g.ninflight];
			return true;
		}
	return false;
}

/* Room for one more request in flight (grown before the request is sent,
 * so a request the control may commit is never answered as failed). */
static bool inflight_room(void)
{
	size_t cap;
	uint64_t *p;

	if (g.ninflight < g.capinflight)
		return true;
	cap = g.capinflight ? g.capinflight * 2 : 256;
	p = realloc(g.inflight, cap * sizeof(*p));
	if (!p)
		return false;
	g.inflight = p;
	g.capinflight = cap;
	return true;
}

static void disconnect(const char *why)
{
	if (g.fd < 0)
		return;
	MXG_WARN(COMP, "channel to mxgate-control closed: %s", why);
	close(g.fd);
	g.fd = -1;
	/* g.rx is left alone: this may run inside mxg_chan_rx_feed (a reply
	 * that could not be sent); try_connect starts the next one afresh. */
	__atomic_store_n(&g.st.connected, false, __ATOMIC_RELAXED);
	ADD(disconnects, 1);
	for (size_t i = 0; i < g.ninflight; i++)
		ack_to(g.inflight[i], false, 0, "control channel lost");
	g.ninflight = 0;
}

static int send_frame(enum mxg_chan_type type, const void *p, size_t n)
{
	uint8_t hdr[MXG_CHAN_HDR_LEN];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)p, n}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};

	if (g.fd < 0)
		return MXG_E_IO;
	mxg_chan_hdr(hdr, type, n);
	while (iov[0].iov_len + iov[1].iov_len) {
		ssize_t w = sendmsg(g.fd, &mh, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			disconnect(w < 0 && errno == EAGAIN ? "send timeout" : strerror(errno));
			return MXG_E_IO;
		}
		for (int i = 0; i < 2 && w; i++) {
			size_t t = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;

			iov[i].iov_base = (uint8_t *)iov[i].iov_base + t;
			iov[i].iov_len -= t;
			w -= (ssize_t)t;
		}
		if (!iov[0].iov_len) {
			mh.msg_iov = &iov[1];
			mh.msg_iovlen = 1;
		}
	}
	return 0;
}

static void send_json(enum mxg_chan_type type, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	if (s) {
		send_frame(type, s, strlen(s));
		free(s);
	}
}

static int64_t running_version(void)
{
	int64_t v;

	pthread_mutex_lock(&g.lock);
	v = g.cur ? pol_snap_version(g.cur) : -1;
	pthread_mutex_unlock(&g.lock);
	return v;
}

static void on_policy(const uint8_t *p, size_t n)
{
	char err[512];
	struct pol_snap *s = pol_snap_load((const char *)p, n, err, sizeof(err)), *old;

	if (!s) {
		json_t *doc = json_loadb((const char *)p, n, 0, NULL);
		json_int_t v = json_integer_value(json_object_get(doc, "version"));

		json_decref(doc);
		ADD(policies_rejected, 1);
		MXG_ERR(COMP, "policy snapshot version %lld rejected: %s", (long long)v, err);
		send_json(MXG_CHAN_POLICY_ACK, json_pack("{s:I, s:b, s:s}", "version", v, "ok", 0,
							 "error", err));
		return;
	}
	pthread_mutex_lock(&g.lock);
	old = g.cur;
	g.cur = s;
	atomic_fetch_add_explicit(&g.gen, 1, memory_order_release);
	pthread_mutex_unlock(&g.lock);
	pol_snap_unref(old);
	ADD(policies_loaded, 1);
	__atomic_store_n(&g.st.policy_version, pol_snap_version(s), __ATOMIC_RELAXED);
	MXG_INFO(COMP, "policy version %lld: %zu rules", (long long)pol_snap_version(s),
		 pol_snap_rules(s));
	send_json(MXG_CHAN_POLICY_ACK, json_pack("{s:I, s:b, s:s}", "version",
						 (json_int_t)pol_snap_version(s), "ok", 1,
						 "error", ""));
}

/* ------------------------------------------------------------ blocklist */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int bl_cmp(const void *a, const void *b)
{
	const struct mxg_prefix *x = &((const struct bl_ent *)a)->p;
	const struct mxg_prefix *y = &((const struct bl_ent *)b)->p;

	if (x->ip.family != y->ip.family)
		return x->ip.family < y->ip.family ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->ip.a, y->ip.a, sizeof(x->ip.a));
}

static void bl_mask(struct mxg_prefix *p)
{
	unsigned bits = p->len;

	for (unsigned i = 0; i < sizeof(p->ip.a); i++) {
		if (i >= (p->ip.family == 4 ? 4u : 16u))
			p->ip.a[i] = 0;
		else if (bits >= 8)
			bits -= 8;
		else {
			p->ip.a[i] &= (uint8_t)(0xff00u >> bits);
			bits = 0;
		}
	}
}

/* Applies the difference between bl_applied and bl_want. */
static void bl_sync(void)
{
	struct bl_set *a = &g.bl_applied, *w = &g.bl_want;
	struct dp_filter_change *c = malloc((a->n + w->n + 1) * sizeof(*c));
	struct bl_ent *next = malloc((a->n + w->n + 1) * sizeof(*next));
	size_t i = 0, j = 0, n = 0, nn = 0;
	uint64_t failed = 0;

	if (!c || !next) {
		free(c);
		free(next);
		g.bl_retry_ms = mono_ms() + BL_RETRY_MS;
		return;
	}
	while (i < a->n || j < w->n) {
		int d = i == a->n ? 1 : j == w->n ? -1 : bl_cmp(&a->v[i], &w->v[j]);

		if (d < 0) {                                  /* gone */
			c[n++] = (struct dp_filter_change){ .p = a->v[i++].p, .block = false };
		} else if (d > 0 || a->v[i].reason != w->v[j].reason ||
			   a->v[i].expires_at != w->v[j].expires_at) {
			c[n++] = (struct dp_filter_change){ .p = w->v[j].p, .block = true,
				.reason = w->v[j].reason, .expires_at = w->v[j].expires_at };
			if (d == 0)
				i++;
			j++;
		} else {
			i++;
			j++;
		}
	}
	if (n && dp_filter_ctl_apply(g.ctx, c, n) != 0) {
		for (size_t k = 0; k < n; k++)
			if (c[k].rc)
				failed++;
	}
	/* what is in force now: the wanted list, less the adds that failed,
	 * plus the removals that failed */
	for (size_t k = 0; k < w->n; k++) {
		bool bad = false;

		for (size_t l = 0; failed && l < n; l++)
			if (c[l].rc && c[l].block && !bl_cmp(&c[l].p, &w->v[k].p))
				bad = true;
		if (!bad)
			next[nn++] = w->v[k];
	}
	for (size_t l = 0; failed && l < n; l++)
		if (c[l].rc && !c[l].block)
			next[nn++] = (struct bl_ent){ .p = c[l].p };
	qsort(next, nn, sizeof(*next), bl_cmp);
	free(a->v);
	a->v = next;
	a->n = nn;
	ADD(blocklist_changes, n - failed);
	ADD(blocklist_failed, failed);
	__atomic_store_n(&g.st.blocklist_entries, nn, __ATOMIC_RELAXED);
	if (failed) {
		MXG_WARN(COMP, "blocklist: %llu of %zu change(s) not applied, retrying in %u ms",
			 (unsigned long long)failed, n, BL_RETRY_MS);
		g.bl_retry_ms = mono_ms() + BL_RETRY_MS;
	}
	g.bl_dirty = failed != 0;
	free(c);
}

static void on_blocklist(const uint8_t *p, size_t n)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)p, n, 0, &je), *ents, *e;
	struct bl_set s = { 0 };
	size_t i, bad = 0;
	json_int_t ver;

	ents = json_object_get(j, "entries");
	if (!json_is_integer(json_object_get(j, "version")) || !json_is_array(ents) ||
	    json_array_size(ents) > BL_ENTRIES_MAX) {
		ADD(blocklists_rejected, 1);
		MXG_ERR(COMP, "blocklist rejected: %s", !j ? je.text : "expected {\"version\": N, "
			"\"entries\": [...]}");
		json_decref(j);
		return;
	}
	ver = json_integer_value(json_object_get(j, "version"));
	s.v = malloc((json_array_size(ents) + 1) * sizeof(*s.v));
	if (!s.v) {
		ADD(blocklists_rejected, 1);
		json_decref(j);
		return;
	}
	json_array_foreach(ents, i, e) {
		const char *pfx = json_string_value(json_object_get(e, "prefix"));
		json_t *x = json_object_get(e, "expires_at");
		struct bl_ent *b = &s.v[s.n];

		if (!pfx || mxg_prefix_parse(pfx, &b->p) != 0 ||
		    b->p.len > (b->p.ip.family == 4 ? 32 : 128) ||
		    (x && !json_is_null(x) && !json_is_integer(x))) {
			if (bad++ == 0)
				MXG_WARN(COMP, "blocklist version %lld: entry %zu ignored (prefix "
					 "or expires_at malformed)", (long long)ver, i);
			continue;
		}
		bl_mask(&b->p);
		b->reason = dp_filter_reason_code(json_string_value(json_object_get(e, "reason")));
		b->expires_at = json_is_integer(x) ? json_integer_value(x) : 0;
		if (b->expires_at < 0)
			b->expires_at = 1; /* long past: removed */
		s.n++;
	}
	json_decref(j);
	qsort(s.v, s.n, sizeof(*s.v), bl_cmp);
	for (size_t k = 1; k < s.n; k++) /* duplicates: keep the last */
		if (!bl_cmp(&s.v[k - 1], &s.v[k])) {
			memmove(&s.v[k - 1], &s.v[k], (s.n - k) * sizeof(*s.v));
			s.n--;
			k--;
		}
	free(g.bl_want.v);
	g.bl_want = s;
	bl_sync();
	ADD(blocklists_loaded, 1);
	__atomic_store_n(&g.st.blocklist_version, (int64_t)ver, __ATOMIC_RELAXED);
	MXG_INFO(COMP, "blocklist version %lld: %zu entries%s", (long long)ver, s.n,
		 g.bl_dirty ? " (some changes pending)" : "");
}

static int on_frame(enum mxg_chan_type type, const uint8_t *p, size_t n, void *ud)
{
	(void)ud;
	switch (type) {
	case MXG_CHAN_POLICY:
		on_policy(p, n);
		return g.fd < 0 ? MXG_E_IO : 0; /* the acknowledgement failed */
	case MXG_CHAN_BLOCKLIST:
		on_blocklist(p, n);
		return 0;
	case MXG_CHAN_DNSBL_ANSWER:
		if (n < 13)
			return MXG_E_PROTO;
		if (!inflight_take(mxg_chan_get64(p)) || !(mxg_chan_get64(p) & DNSBL_BIT)) {
			MXG_WARN(COMP, "answer for unknown DNSBL query %#llx",
				 (unsigned long long)mxg_chan_get64(p));
			return 0;
		}
		ADD(dnsbl_answered, 1);
		dnsbl_to(mxg_chan_get64(p), p[8], mxg_chan_get32(p + 9), (const char *)p + 13,
			 n - 13);
		return 0;
	case MXG_CHAN_QUAR_ACK: {
		uint64_t req;
		char err[160];

		if (n < 17)
			return MXG_E_PROTO;
		req = mxg_chan_get64(p);
		if (!inflight_take(req)) {
			MXG_WARN(COMP, "acknowledgement for unknown quarantine request %#llx",
				 (unsigned long long)req);
			return 0;
		}
		snprintf(err, sizeof(err), "%.*s", (int)(n - 17 > 159 ? 159 : n - 17),
			 (const char *)p + 17);
		ack_to(req, p[8] == 0, mxg_chan_get64(p + 9), err);
		return 0;
	}
	default:
		return MXG_E_PROTO; /* a dataplane-to-control type */
	}
}

static void try_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g.conf.socket);
	/* Before connect: on a Unix socket it bounds connect() too (a hung
	 * mxgate-control with a full backlog). */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return;
	}
	mxg_chan_rx_free(&g.rx); /* what the previous connection left */
	g.fd = fd;
	__atomic_store_n(&g.st.connected, true, __ATOMIC_RELAXED);
	ADD(connects, 1);
	MXG_NOTICE(COMP, "connected to mxgate-control at %s", g.conf.socket);
	send_json(MXG_CHAN_HELLO, json_pack("{s:s, s:i, s:s, s:I}", "node", g.conf.node,
					    "pid", (int)getpid(), "version", "0.1.0",
					    "policy_version", (json_int_t)running_version()));
}

static void drain_up(void)
{
	void *objs[64];
	unsigned n;

	while ((n = rte_ring_sc_dequeue_burst(g.up, objs, 64, NULL)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			struct up_msg *m = objs[i];

			if (m->type == MXG_CHAN_TRACK) {
				if (g.fd >= 0 && send_frame(m->type, m->data, m->len) == 0)
					ADD(track_sent, 1);
				else
					ADD(track_dropped, 1);
			} else if (g.fd >= 0 && !inflight_room()) {
				ack_to(m->req, false, 0, "out of memory"); /* before it is sent */
			} else if (g.fd >= 0 && send_frame(m->type, m->data, m->len) == 0) {
				g.inflight[g.ninflight++] = m->req;
				if (m->type == MXG_CHAN_DNSBL_QUERY)
					ADD(dnsbl_sent, 1);
				else
					ADD(quar_sent, 1);
			} else {
				ack_to(m->req, false, 0, "control channel down");
			}
			free(m);
		}
	}
}

static void *service_main(void *arg)
{
	unsigned backoff = BACKOFF_MIN_MS;
	uint64_t next_try = 0, now_ms;
	uint8_t buf[65536];

	(void)arg;
	while (!atomic_load(&g.stop)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		if (g.fd < 0 && now_ms >= next_try) {
			try_connect();
			if (g.fd < 0) {
				next_try = now_ms + backoff;
				backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
			} else {
				backoff = BACKOFF_MIN_MS;
			}
		}
		if (g.fd >= 0) {
			struct pollfd pfd = {.fd = g.fd, .events = POLLIN};

			if (poll(&pfd, 1, 2) > 0) {
				ssize_t r = recv(g.fd, buf, sizeof(buf), MSG_DONTWAIT);

				if (r == 0) {
					disconnect("closed by mxgate-control");
				} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
					disconnect(strerror(errno));
				} else if (r > 0) {
					int rc = mxg_chan_rx_feed(&g.rx, buf, (size_t)r, on_frame, NULL);

					if (rc && g.fd >= 0) { /* else: already closed */
						ADD(protocol_errors, rc == MXG_E_PROTO);
						disconnect(rc == MXG_E_NOMEM ? "out of memory"
									     : "protocol error");
					}
				}
			}
		} else {
			usleep(2000);
		}
		if (g.bl_dirty && now_ms >= g.bl_retry_ms)
			bl_sync();
		drain_up();
	}
	disconnect("stopping");
	drain_up(); /* fails what is left */
	mxg_chan_rx_free(&g.rx);
	return NULL;
}

/* ------------------------------------------------------------ telemetry */

static int cmd_control(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dp_ctl_stats s;

	(void)cmd;
	(void)params;
	dp_ctl_stats(&s);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "enabled", g.conf.enabled);
	rte_tel_data_add_dict_int(d, "connected", s.connected);
	rte_tel_data_add_dict_string(d, "socket", g.conf.socket);
	rte_tel_data_add_dict_int(d, "policy_version", (int)s.policy_version);
#define U(f) rte_tel_data_add_dict_u64(d, #f, s.f)
	U(connects); U(disconnects); U(protocol_errors); U(policies_loaded);
	U(policies_rejected); U(track_sent); U(track_dropped); U(quar_sent); U(quar_ok);
	U(quar_failed); U(quar_refused);
	rte_tel_data_add_dict_int(d, "blocklist_version", (int)s.blocklist_version);
	U(blocklist_entries); U(blocklists_loaded); U(blocklists_rejected);
	U(blocklist_changes); U(blocklist_failed);
	U(dnsbl_sent); U(dnsbl_answered); U(dnsbl_lost); U(dnsbl_refused);
#undef U
	return 0;
}

/* ------------------------------------------------------------ life cycle */

int dp_ctl_start(struct dp_ctx *ctx)
{
	char name[32];
	struct pol_snap *b;

	g.ctx = ctx;
	g.conf = ctx->conf.ctl;
	g.st.policy_version = -1;
	g.st.blocklist_version = -1;
	rte_telemetry_register_cmd("/mxgate/control", cmd_control,
				   "Control channel state and counters. No parameters");
	if (!g.conf.enabled) {
		/* No control plane: the built-in policy, for good. */
		b = pol_snap_builtin();
		if (!b)
			return MXG_E_NOMEM;
		g.cur = b;
		g.st.policy_version = 0;
		atomic_fetch_add(&g.gen, 1);
		return 0;
	}
	g.up = rte_ring_create("mxg_ctl_up", UP_RING, SOCKET_ID_ANY, RING_F_SC_DEQ);
	if (!g.up)
		return MXG_E_NOMEM;
	for (unsigned i = 0; i < ctx->nworkers; i++) {
		snprintf(name, sizeof(name), "mxg_ctl_ack%u", i);
		g.ack[i] = rte_ring_create(name, ACK_RING, SOCKET_ID_ANY,
					   RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!g.ack[i])
			return MXG_E_NOMEM;
	}
	if (pthread_create(&g.thread, NULL, service_main, NULL) != 0)
		return MXG_E_IO;
	pthread_setname_np(g.thread, "mxg-ctl");
	g.started = true;
	MXG_INFO(COMP, "control channel: %s (node %s)", g.conf.socket, g.conf.node);
	return 0;
}

void dp_ctl_stop(void)
{
	void *o;

	if (g.started) {
		atomic_store(&g.stop, true);
		pthread_join(g.thread, NULL);
		g.started = false;
	}
	for (unsigned i = 0; i < DP_MAX_WORKERS; i++) {
		if (g.ack[i]) {
			while (rte_ring_sc_dequeue(g.ack[i], &o) == 0)
				free(o);
			rte_ring_free(g.ack[i]);
			g.ack[i] = NULL;
		}
		pol_snap_unref(g.wl[i].snap);
		g.wl[i].snap = NULL;
	}
	if (g.up) {
		while (rte_ring_sc_dequeue(g.up, &o) == 0)
			free(o);
		rte_ring_free(g.up);
		g.up = NULL;
	}
	pol_snap_unref(g.cur);
	g.cur = NULL;
	free(g.inflight);
	g.inflight = NULL;
	g.ninflight = g.capinflight = 0;
	free(g.bl_applied.v);
	free(g.bl_want.v);
	g.bl_applied = g.bl_want = (struct bl_set){ 0 };
	g.bl_dirty = false;
}
