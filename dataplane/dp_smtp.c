/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_smtp.c - the SMTP scanning proxy on one worker (issue 4).
 *
 *   client --tcps--> smtp_srv --(envelope, content)--> smtp_cli --tcps--> downstream
 *                        \--> dp_scan (streaming, verdict at end of data)
 *
 * Every worker owns its listeners, its inbound sessions and a pool of
 * downstream sessions; all of it runs inside the worker's poll loop, from
 * tcpstack callbacks and from dp_smtp_on_timer. No locks, no syscalls.
 *
 * STANDARDS
 *	RFC 5321, RFC 3207 (STARTTLS, dp_tls.c), RFC 2920, RFC 3030, Postfix
 *	XFORWARD_README (to the downstream), HAProxy PROXY v1/v2 (inbound).
 *
 * ENVELOPE AND END-TO-END ACKNOWLEDGEMENT
 *	MAIL and RCPT are answered by the gateway after its own checks (relay
 *	control, recipient cache); the downstream transaction is opened at DATA
 *	(or at the first BDAT): [RSET] XFORWARD MAIL RCPT... DATA, pipelined,
 *	on a pooled session. The client's DATA is held (SMTP_CB_PENDING) until
 *	the downstream answered every RCPT and its 354 (or, in BDAT mode, its
 *	last RCPT reply); only then does the client get 354. Content then
 *	streams to the downstream as it arrives, and the client's final reply
 *	(smtp_srv_reply_eod) waits for the downstream's final reply (or the
 *	quarantine's commit): 250 only after the downstream's 250 for every
 *	recipient; a downstream 5xx for
 *	the content is passed on as 5xx; anything else - 4xx, timeout, reset,
 *	malformed reply, the session dying - is 451 4.x.x, so the sending MTA
 *	keeps the message. The gateway never holds a message the client
 *	believes delivered.
 *
 * OPENING AT DATA VERSUS AT RCPT
 *	The client engine takes a whole envelope (smtp_cli_msg_begin), so the
 *	downstream cannot be asked recipient by recipient while the client
 *	waits at RCPT. Opening at DATA costs nothing in round trips (the whole
 *	envelope goes in one pipelined write). The price is mapping: when the
 *	downstream refuses some recipients the client was already given 250
 *	for, the message is answered 451 (never 250: those recipients would be
 *	lost; never 5xx: the others would bounce) and every refusal is kept in
 *	a per-worker recipient cache (recipient_cache_ttl). The retry then gets
 *	the downstream's own refusal at RCPT time for those recipients and is
 *	delivered to the others - Postfix's address-verification idea. When
 *	the downstream refuses every recipient the DATA gets its 5xx (or 451).
 *
 * BUFFERING
 *	What waits for the downstream is bounded by one window per session
 *	(PEND_HIGH, 256 KiB, plus the client engine's 64 KiB output): when the
 *	downstream is slower than the client the server engine is paused
 *	(SMTP_E_PAUSE), its input stays in tcpstack's receive buffer and the
 *	client's window closes. Besides, the whole message is held for the
 *	policy (sess.hold: quarantine, modify, split per recipient), bounded by
 *	max_message_size per message and hold_memory_max_mb per worker
 *	(dp_smtp_pol.c).
 *
 * POLICY
 *	At the end of data the scan's result goes to the compiled policy, per
 *	recipient (dp_smtp_pol.c): when everyone is simply delivered, the
 *	streamed transaction gets its end of data (the fast path below);
 *	otherwise the policy takes the message over (quarantine, delete,
 *	modified or split deliveries) and answers the client itself.
 *
 * ACTIVE OPEN AND RSS
 *	The downstream session leaves from the port address of the
 *	downstream's family (the port whose prefix holds it, else the first).
 *	With one RX queue per port any local port works (ephemeral). With
 *	several queues a local port is searched whose Toeplitz hash (the
 *	port's RSS key and RETA, rte_softrss) brings the replies to this
 *	worker's queue; when the PMD does not report key or RETA, the
 *	ephemeral port is used and a warning says replies may reach another
 *	worker (whose stack resets them: the message then gets 451, never
 *	lost). See pick_lport() in dp_smtp_ds.c.
 *
 * SECURITY
 *	Not an open relay by default: RCPT is accepted only for local_domains
 *	or from smtp_allow_client_ip (the original client: PROXY, XCLIENT and
 *	XFORWARD are honoured only from known_hosts). SMTP smuggling is the
 *	server engine's job (strict CRLF.CRLF, bare CR/LF/NUL -> 550 and
 *	close); the proxy drops the downstream transaction the moment the
 *	engine aborts content (on_data_abort), by closing the downstream
 *	session - never by writing an end of data - so the downstream can
 *	only ever see the messages the gateway accepted, each ended by the
 *	client engine's own CRLF.CRLF. Limits: sessions per worker and per
 *	client IP (421 at greeting), everything else in smtp_srv_limits.
 *
 * SENDER FILTER
 *	Judged per client address: the TCP peer, or for a known host the
 *	original client it names (PROXY at the greeting: the greeting of a
 *	PROXY session is held until the header was judged, s_on_proxy and
 *	sess_feed; XCLIENT/XFORWARD: once the command naming it is done,
 *	sess_feed, answered at the next command that can be refused). A
 *	named client in the worker's blocklist (dp_filter_ip_blocked, the
 *	software filter's tables) gets 554 5.7.1 - at the greeting, or at
 *	every refusable command while it is named (XCLIENT and XFORWARD
 *	stay open, so a pooled upstream can name the next client).
 *	Throttling ([smtp] throttle_*): connections, MAIL and RCPT
 *	per client and worker in a fixed window of throttle_window seconds
 *	that starts at the client's first counted event; beyond a limit 421
 *	4.7.0 at the greeting (then closed), 451 4.7.1 at MAIL, 452 4.5.3 at
 *	RCPT (RFC 5321 4.5.3.1.10). Known hosts themselves and the
 *	reprocessing port are never throttled. The counts live in a fixed
 *	open-addressing table per worker (throttle_table_size slots, THR_PROBE
 *	probed per client; full: the slot whose window started first is
 *	reused), allocated at start: nothing is allocated per connection.
 *
 * EMAIL REPUTATION (DNSBL)
 *	The same client is looked up through mxgate-control (dp_ctl_dnsbl_
 *	query; answers come back through dp_smtp_pol_ack to dp_smtp_dnsbl_ack)
 *	and the answer kept in a per-worker cache (dnsbl_slot). A client
 *	speaking for itself or named by PROXY is looked up before the
 *	greeting, which is held on a cache miss until the answer or
 *	dnsbl_hold_ms (then the default action); reject and tempfail refuse
 *	the greeting (554 5.7.1, 450 4.7.1). A client named by XCLIENT or
 *	XFORWARD is looked up as soon as it is named (sess_feed, after the
 *	command; else at the next refusable command): that command is held
 *	(SMTP_CB_PENDING, its strings copied: cmd_hold) until the answer or
 *	dnsbl_hold_ms, then refused or run (cmd_resume); reject and tempfail
 *	then answer 554 5.7.1 / 450 4.7.1 naming the zone at every refusable
 *	command while that client is named, as the blocklist does. A "score"
 *	listing is served and goes into the tracking record's verdicts.
 *	Known hosts themselves are never looked up.
 *
 * LIFETIME
 *	Sessions and downstream sessions are freed only when the outermost
 *	entry point (a tcps callback, the timer) returns: callbacks nest (a
 *	downstream reply answers a client, which may close it), and a session
 *	killed inside such a chain must stay readable until the chain unwinds.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <rte_malloc.h>
#include <rte_telemetry.h>

#include "dp_ctl.h"
#include "dp_smtp_int.h"
#include "mxg_log.h"

#define COMP "smtp"

struct dp_smtp_global dp_smtp_g;

static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dp_ctx *tel_ctx;
static bool tel_registered;

static void sess_kill(struct sess *s, bool graceful);

/* ------------------------------------------------------------ helpers */

void dp_smtp_reap(struct dp_smtp_worker *sw)
{
	struct sess *s;
	struct out *o;

	while ((s = TAILQ_FIRST(&sw->dead_s))) {
		TAILQ_REMOVE(&sw->dead_s, s, link);
		smtp_srv_free(s->srv);
		dp_tls_free(s->tls);
		free(s);
	}
	while ((o = TAILQ_FIRST(&sw->dead_o))) {
		TAILQ_REMOVE(&sw->dead_o, o, link);
		smtp_cli_free(o->cli);
		dp_tls_free(o->tls);
		free(o);
	}
}

bool dp_smtp_domain_local(const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t dl;

	if (!at)
		return strcasecmp(addr, "postmaster") == 0;
	at++;
	dl = strlen(at);
	for (size_t i = 0; i < dp_smtp_g.ndom; i++) {
		const char *d = dp_smtp_g.dom[i];
		size_t n = strlen(d);

		if (d[0] == '.') { /* ".example.com": any subdomain */
			if (dl > n && !strcasecmp(at + dl - n, d))
				return true;
		} else if (!strcasecmp(at, d)) {
			return true;
		}
	}
	return false;
}

static uint32_t rc_hash(const char *a)
{
	uint32_t h = 2166136261u;

	for (; *a; a++)
		h = (h ^ (uint8_t)(*a | 0x20)) * 16777619u;
	return h % RC_SLOTS;
}

static const struct rc_ent *rc_find(struct dp_smtp_worker *sw, const char *addr)
{
	struct rc_ent *e = &sw->rcache[rc_hash(addr)];

	if (!e->addr[0] || strcasecmp(e->addr, addr) || sw->now >= e->exp)
		return NULL;
	return e;
}

void dp_smtp_rc_put(struct dp_smtp_worker *sw, const char *addr, const struct smtp_reply *r)
{
	struct rc_ent *e = &sw->rcache[rc_hash(addr)];

	if (!sw->c->rcpt_cache_ttl || strlen(addr) >= sizeof(e->addr))
		return;
	snprintf(e->addr, sizeof(e->addr), "%s", addr);
	e->code = r->code >= 400 && r->code < 600 ? r->code : 450;
	snprintf(e->enh, sizeof(e->enh), "%s", r->enh[0] ? r->enh : e->code >= 500 ? "5.1.1" :
		 "4.1.1");
	snprintf(e->text, sizeof(e->text), "<%s>: refused by the downstream: %.*s", addr,
		 (int)(r->text_len > 100 ? 100 : r->text_len), r->text ? r->text : "");
	for (char *p = e->text; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	e->exp = sw->now + sw->c->rcpt_cache_ttl;
}

/* ------------------------------------------------------------ sender filter */

enum thr_kind { THR_CONN, THR_MSG, THR_RCPT };

/* The client's slot: found within THR_PROBE slots of its hash, else a free
 * one, else the one whose window started first (evicted: that client
 * starts again from zero). A window past its end starts over at |now|. */
static struct thr_ent *thr_get(struct dp_smtp_worker *sw, const struct mxg_ip *ip)
{
	unsigned n = ip->family == 4 ? 4 : 16;
	uint32_t h = 2166136261u ^ ip->family, mask = sw->c->thr_slots - 1;
	struct thr_ent *e, *victim = NULL;

	for (unsigned i = 0; i < n; i++)
		h = (h ^ ip->a[i]) * 16777619u;
	for (unsigned i = 0; i < THR_PROBE; i++) {
		e = &sw->thr[(h + i) & mask];
		if (e->ip.family == ip->family && !memcmp(e->ip.a, ip->a, n)) {
			if (sw->now - e->start >= sw->c->thr_window) {
				e->conns = e->msgs = e->rcpts = 0;
				e->start = sw->now;
			}
			return e;
		}
		if (!e->ip.family) {
			if (!victim || victim->ip.family)
				victim = e;
		} else if (!victim || (victim->ip.family && e->start < victim->start)) {
			victim = e;
		}
	}
	if (victim->ip.family && sw->now - victim->start < sw->c->thr_window)
		sw->st.throttle_evictions++; /* a live window lost */
	memset(victim, 0, sizeof(*victim));
	victim->ip.family = ip->family;
	memcpy(victim->ip.a, ip->a, n);
	victim->start = sw->now;
	return victim;
}

/* Counts one event of |k| from |ip| in its window: false (not counted)
 * when the client already reached its limit. */
static bool thr_admit(struct dp_smtp_worker *sw, const struct mxg_ip *ip, enum thr_kind k)
{
	const struct dp_smtp_conf *c = sw->c;
	uint32_t lim = k == THR_CONN ? c->thr_conns : k == THR_MSG ? c->thr_msgs : c->thr_rcpts;
	struct thr_ent *e;
	uint32_t *n;

	if (!lim || !sw->thr)
		return true;
	e = thr_get(sw, ip);
	n = k == THR_CONN ? &e->conns : k == THR_MSG ? &e->msgs : &e->rcpts;
	if (*n >= lim)
		return false;
	(*n)++;
	return true;
}

/* The original client a known host speaks for (PROXY, XCLIENT, XFORWARD),
 * or NULL: not a known host, or one speaking for itself. */
static const struct mxg_ip *orig_client(const struct sess *s)
{
	const struct mxg_ip *a = &smtp_srv_peer(s->srv)->addr;

	if (!s->known || s->reprocess || !a->family || !memcmp(a, &s->caddr, sizeof(*a)))
		return NULL;
	return a;
}

/* Whose counts a session's MAIL and RCPT go to: the TCP peer, or the
 * original client behind a known host; NULL: never throttled (a known
 * host speaking for itself, the reprocessing port). */
static const struct mxg_ip *thr_subject(const struct sess *s)
{
	const struct mxg_ip *o;

	if (s->reprocess)
		return NULL;
	if (!s->known)
		return &s->caddr;
	o = orig_client(s);
	return o && !smtp_acl_match(dp_smtp_g.known, o) ? o : NULL;
}

static int dnsbl_check(struct sess *s, const struct mxg_ip *ip);

/* Judges the original client |s| speaks for when it names a new one (and
 * always when |conn|: PROXY or XCLIENT began a client session, counted as
 * a connection): blocklist, connection throttling, then email reputation
 * (DNSBL; a known host named is never looked up). Returns, and keeps in
 * s->orig_rc for every command while that client stays named, 0 (serve),
 * 554 (blocklisted, or DNSBL reject), 450 (DNSBL tempfail), 421 (over its
 * connection limit) or -1 (DNSBL answer awaited: dnsbl_resolve). */
static int orig_judge(struct sess *s, bool conn)
{
	struct dp_smtp_worker *sw = s->sw;
	const struct mxg_ip *o = orig_client(s), *t;

	if (o && !conn && !memcmp(o, &s->judged, sizeof(*o)))
		return s->orig_rc;
	/* Another client (or none): the last one's verdicts are forgotten,
	 * an answer still awaited for it is ignored. */
	s->orig_rc = 0;
	s->dnsbl_req = 0;
	s->dnsbl_zone[0] = s->dnsbl_code[0] = s->dnsbl_text[0] = '\0';
	if (!o) {
		memset(&s->judged, 0, sizeof(s->judged));
		return 0;
	}
	s->judged = *o;
	if (dp_filter_ip_blocked(sw->w, o, sw->now)) {
		sw->st.filter_blocked_original++;
		return s->orig_rc = 554;
	}
	if (conn && (t = thr_subject(s)) && !thr_admit(sw, t, THR_CONN)) {
		sw->st.throttled_connections++;
		return s->orig_rc = 421;
	}
	if (!smtp_acl_match(dp_smtp_g.known, o))
		s->orig_rc = dnsbl_check(s, o);
	return s->orig_rc;
}

static void refusal_text(const struct sess *s, int code, char *t, size_t n)
{
	char ip[64];

	if (s->dnsbl_text[0]) { /* DNSBL refused this client */
		snprintf(t, n, "%.*s", (int)n - 1, s->dnsbl_text);
		return;
	}
	mxg_ip_str(&s->judged, ip, sizeof(ip));
	if (code == 554)
		snprintf(t, n, "Error: client [%s] blocked by the sender filter", ip);
	else
		snprintf(t, n, "Error: too many connections from [%s], try again later", ip);
}

/* ------------------------------------------------------------ DNSBL */

/* |ip|'s cached answer (|take|: else a slot for it: free, expired, or the
 * one expiring first). */
static struct dnsbl_ent *dnsbl_slot(struct dp_smtp_worker *sw, const struct mxg_ip *ip,
				    bool take)
{
	unsigned n = ip->family == 4 ? 4 : 16;
	uint32_t h = 2166136261u ^ ip->family;
	struct dnsbl_ent *e, *victim = NULL;

	for (unsigned i = 0; i < n; i++)
		h = (h ^ ip->a[i]) * 16777619u;
	for (unsigned i = 0; i < DNSBL_PROBE; i++) {
		e = &sw->dnsbl[(h + i) & (DNSBL_SLOTS - 1)];
		if (e->ip.family == ip->family && !memcmp(e->ip.a, ip->a, n))
			return e;
		if (!e->ip.family) { /* a free slot beats any taken one */
			if (!victim || victim->ip.family)
				victim = e;
		} else if (!victim || (victim->ip.family && e->exp < victim->exp)) {
			victim = e;
		}
	}
	return take ? victim : NULL;
}

/* What an answer means for the session: 0 (serve), 450 or 554. */
static int dnsbl_apply(struct sess *s, const struct mxg_ip *ip, unsigned v, const char *zone,
		       const char *code)
{
	struct dp_smtp_worker *sw = s->sw;
	char b[64];
	int rc;

	if (v == 3) {
		sw->st.dnsbl_timeouts++;
		if (!strcmp(code, "reject"))
			sw->dnsbl_default = 554;
		else if (!strcmp(code, "tempfail"))
			sw->dnsbl_default = 450;
		else if (!strcmp(code, "accept"))
			sw->dnsbl_default = 0;
		rc = sw->dnsbl_default;
		if (rc)
			snprintf(s->dnsbl_text, sizeof(s->dnsbl_text), "Error: reputation of client "
				 "[%s] unknown (%s did not answer)%s", mxg_ip_str(ip, b, sizeof(b)),
				 *zone ? zone : "DNSBL", rc == 450 ? ", try again later" : "");
		return rc;
	}
	if (!*zone)
		return 0;
	sw->st.dnsbl_listed++;
	snprintf(s->dnsbl_zone, sizeof(s->dnsbl_zone), "%s", zone);
	snprintf(s->dnsbl_code, sizeof(s->dnsbl_code), "%s", code);
	if (v != 1 && v != 2)
		return 0; /* a "score" zone: served, recorded in tracking */
	snprintf(s->dnsbl_text, sizeof(s->dnsbl_text), "Error: client [%s] listed by %s (%s)%s",
		 mxg_ip_str(ip, b, sizeof(b)), zone, code, v == 2 ? ", try again later" : "");
	return v == 1 ? 554 : 450;
}

/* Email reputation of |ip|, a client speaking for itself or a known
 * host's original client: 0 (serve), 450 or 554 (refuse the greeting, or
 * the commands of a client XCLIENT/XFORWARD named), or -1 (asked
 * mxgate-control: the greeting or the next refusable command waits,
 * s->dnsbl_req). */
static int dnsbl_check(struct sess *s, const struct mxg_ip *ip)
{
	struct dp_smtp_worker *sw = s->sw;
	struct dnsbl_ent *e;
	struct dnsbl_pend *pd;
	char b[64];
	uint64_t req;

	if (!sw->dnsbl || !sw->c->dnsbl_hold)
		return 0;
	e = dnsbl_slot(sw, ip, false);
	if (e && e->exp > sw->now) {
		sw->st.dnsbl_cache_hits++;
		return dnsbl_apply(s, ip, e->verdict, e->zone, e->code);
	}
	req = dp_ctl_dnsbl_query(sw->w, mxg_ip_str(ip, b, sizeof(b)));
	if (!req) /* the channel is down: the default */
		return dnsbl_apply(s, ip, 3, "", "");
	sw->st.dnsbl_queries++;
	pd = &sw->dpend[req & (DNSBL_PEND - 1)];
	pd->req = req;
	pd->ip = *ip;
	s->dnsbl_req = req;
	s->dnsbl_deadline = sw->now + sw->c->dnsbl_hold;
	return -1;
}

/* Sends the greeting held for the verdicts (PROXY, DNSBL). */
static void greet_flush(struct sess *s)
{
	int code = s->greet_code;
	char t[200];

	s->greet_due = false;
	if (code != 220)
		refusal_text(s, code, t, sizeof(t));
	smtp_srv_greet_enh(s->srv, code, code == 421 ? "4.7.0" : code == 450 ? "4.7.1" : NULL,
			   code == 220 ? NULL : t, s->sw->now);
}

static void cmd_resume(struct sess *s);

/* The DNSBL verdict |v| for |s| is in (an answer, or its hold expired). */
static void dnsbl_resolve(struct sess *s, unsigned v, const char *zone, const char *code)
{
	int rc;

	s->dnsbl_req = 0;
	/* a known host's original client (PROXY, XCLIENT, XFORWARD: the one
	 * judged), else the peer */
	rc = dnsbl_apply(s, s->known ? &s->judged : &s->caddr, v, zone, code);
	if (s->known)
		s->orig_rc = rc;
	if (s->greet_due) {
		if (rc)
			s->greet_code = rc;
		if (smtp_srv_state(s->srv) == SMTP_ST_GREETING)
			greet_flush(s);
	} else if (s->held_arg) {
		cmd_resume(s);
	}
	dp_smtp_sess_pump(s);
}

void dp_smtp_dnsbl_ack(struct dp_worker *w, const struct dp_ctl_ack *a, mxg_tstamp now)
{
	struct dp_smtp_worker *sw = w->smtp;
	struct dnsbl_pend *pd;
	struct sess *s;

	if (!sw)
		return;
	w->tcp_deadline = 0; /* output sent from here may arm TCP timers */
	enter(sw, now);
	pd = &sw->dpend[a->req & (DNSBL_PEND - 1)];
	if (pd->req == a->req) {
		if (a->ttl && a->verdict < 3 && sw->dnsbl) {
			struct dnsbl_ent *e = dnsbl_slot(sw, &pd->ip, true);

			e->ip = pd->ip;
			e->verdict = a->verdict;
			e->exp = now + (mxg_tstamp)a->ttl * MXG_NSEC_PER_SEC;
			snprintf(e->zone, sizeof(e->zone), "%.95s", a->zone);
			snprintf(e->code, sizeof(e->code), "%.23s", a->code);
		}
		pd->req = 0;
	}
	TAILQ_FOREACH(s, &sw->sessions, link) {
		if (s->dead || s->dnsbl_req != a->req)
			continue;
		dnsbl_resolve(s, a->verdict, a->zone, a->code);
		break;
	}
	leave(sw);
}

static int s_on_proxy(struct smtp_srv *srv, const struct smtp_proxy_info *pi, void *ud)
{
	struct sess *s = ud;
	int rc;

	/* The greeting is held (l_accept): sent from sess_feed, once the
	 * engine left the PROXY state and the DNSBL answer (if asked) is in
	 * (or from dnsbl_resolve). */
	s->greet_due = true;
	rc = orig_judge(s, true);
	s->greet_code = rc > 0 ? rc : 220;
	return 0;
}

/* Commands whose answer on_command may set (or hold): the ones a blocked,
 * throttled or DNSBL-listed original client is refused at. */
static bool verb_answerable(enum smtp_verb v)
{
	return v == SMTP_VERB_EHLO || v == SMTP_VERB_HELO || v == SMTP_VERB_MAIL ||
	       v == SMTP_VERB_RCPT || v == SMTP_VERB_DATA || v == SMTP_VERB_VRFY ||
	       v == SMTP_VERB_EXPN;
}

/* ------------------------------------------------------------ envelope */

static void env_reset(struct sess *s)
{
	free(s->from);
	s->from = NULL;
	free(s->envid);
	s->envid = NULL;
	for (size_t i = 0; i < s->nrcpt; i++) {
		free((char *)s->rcpt[i].addr);
		free((char *)s->rcpt[i].orcpt);
	}
	s->nrcpt = 0;
}

static char *dupn(const char *p, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

/* ------------------------------------------------------------ the message */

void dp_smtp_msg_release_ds(struct sess *s)
{
	struct out *o = s->out;

	if (!o)
		return;
	s->out = NULL;
	o->owner = NULL;
	if (o->begun) {
		/* Mid-message the only safe stop is closing the session: never
		 * guess an end of data (smtp_cli_msg_abort). */
		o->begun = false;
		smtp_cli_msg_abort(o->cli, s->sw->now);
		dp_smtp_out_kill(o);
	}
}

/* Drops the scan and the downstream side of the message in flight. */
static void msg_release(struct sess *s)
{
	dp_scan_abort(s->scan);
	s->scan = NULL;
	s->scan_res = NULL;
	dp_smtp_msg_release_ds(s);
}

/* The message is over (answered or dropped): back to the command state. */
static void msg_clear(struct sess *s)
{
	msg_release(s);
	s->msg = s->data_held = s->ds_ready = s->eod = s->ds_end_sent = false;
	s->failed = s->replied = false;
	free(s->rres);
	s->rres = NULL;
	buf_free(&s->pend);
	dp_smtp_pol_clear(s);
	if (s->paused) {
		s->paused = false;
		s->pump_again = true;
	}
}

/* The client gets its final answer for the message. */
static void count_final(struct sess *s, int code, const char *enh, const char *text)
{
	dp_smtp_pol_final(s, code, enh, text);
	if (code < 300)
		s->sw->st.messages_delivered++;
	else if (code < 500)
		s->sw->st.messages_tempfailed++;
	else
		s->sw->st.messages_rejected++;
}

/* Answers the end of data and ends the message. */
void dp_smtp_msg_answer_eod(struct sess *s, int code, const char *enh, const char *text)
{
	if (s->replied)
		return;
	s->replied = true;
	count_final(s, code, enh, text);
	smtp_srv_reply_eod(s->srv, code, enh, text);
	msg_clear(s);
	env_reset(s);
	dp_smtp_sess_pump(s);
}

/* Decides the message's fate as failed; answers now if the client is
 * waiting (DATA or end of data), else when its content is complete (the
 * rest of the content is read and dropped meanwhile). First call wins. */
void dp_smtp_msg_fail(struct sess *s, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;

	if (s->failed || s->replied || s->dead)
		return;
	s->failed = true;
	s->fcode = code;
	snprintf(s->fenh, sizeof(s->fenh), "%s", enh ? enh : "");
	va_start(ap, fmt);
	vsnprintf(s->ftext, sizeof(s->ftext), fmt, ap);
	va_end(ap);
	for (char *p = s->ftext; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	msg_release(s);
	buf_free(&s->pend);
	if (s->data_held) {
		s->data_held = false;
		count_final(s, code, s->fenh, s->ftext);
		smtp_srv_reply_cmd(s->srv, code, s->fenh, s->ftext);
		msg_clear(s);
		dp_smtp_sess_pump(s);
	} else if (s->eod) {
		dp_smtp_msg_answer_eod(s, code, s->fenh, s->ftext);
	} else if (s->paused) {
		s->paused = false;
		dp_smtp_sess_pump(s);
	}
}

/* Opens the downstream transaction of |s| (DATA or first BDAT). */
static int msg_start(struct sess *s)
{
	struct dp_smtp_worker *sw = s->sw;
	struct dp_scan_env se = {.client = &smtp_srv_peer(s->srv)->addr, .mail_from = s->from,
				 .nrcpt = s->nrcpt};
	struct out *o;

	s->msg = true;
	s->failed = s->replied = s->eod = s->ds_ready = s->ds_end_sent = s->retried = false;
	dp_smtp_pol_begin(s); /* the message's id and policy version, first */
	s->rres = calloc(s->nrcpt ? s->nrcpt : 1, sizeof(*s->rres));
	if (!s->rres)
		return MXG_E_NOMEM;
	if (!s->snap)
		return MXG_E_AGAIN;
	/* Released mail (reprocessing port) is scanned again: the policy then
	 * applies only its virus rules (control/pol.h). With scanning off
	 * ([scan] enable = no) no message is scanned. */
	if (dp_scan_enabled()) {
		s->scan = dp_scan_begin(&se);
		if (!s->scan)
			return MXG_E_NOMEM;
	}
	o = dp_smtp_out_get(sw, NULL, 0);
	if (!o)
		return MXG_E_RANGE;
	o->owner = s;
	s->out = o;
	if (smtp_cli_state(o->cli) == SMTP_CLI_READY)
		return dp_smtp_out_begin(o);
	return 0;
}

/* ------------------------------------------------------------ server side */

/* Refuses the command of a known host's original client: its verdict |rc|
 * (orig_judge). */
static void orig_refuse(struct sess *s, int rc)
{
	char t[200];

	refusal_text(s, rc, t, sizeof(t));
	smtp_srv_reply_cmd(s->srv, rc, rc == 554 ? "5.7.1" : rc == 450 ? "4.7.1" : "4.7.0", t);
	if (rc == 421)
		s->close_due = true;
}

/* |p|, one of |c|'s strings, in the copy |a| of c->arg (smtp_param.c
 * points them all into the argument); false: it lies elsewhere. */
static bool rebase(const struct smtp_cmd *c, const char **p, const char *a)
{
	if (!*p)
		return true;
	if (*p < c->arg || *p > c->arg + c->arg_len)
		return false;
	*p = a + (*p - c->arg);
	return true;
}

/* Holds |cmd| until the DNSBL answer for the client it comes from is in
 * (cmd_resume): its strings are copied, the engine only lends them. */
static int cmd_hold(struct sess *s, const struct smtp_cmd *cmd)
{
	char *a = malloc(cmd->arg_len + 1);

	if (a) {
		memcpy(a, cmd->arg, cmd->arg_len);
		a[cmd->arg_len] = '\0';
		s->held = *cmd;
		s->held.arg = a;
		if (rebase(cmd, &s->held.path, a) && rebase(cmd, &s->held.envid, a) &&
		    rebase(cmd, &s->held.orcpt, a)) {
			s->held_arg = a;
			return SMTP_CB_PENDING;
		}
		free(a);
	}
	smtp_srv_reply_cmd(s->srv, 451, "4.3.0", "Error: local resources exhausted, try again later");
	return 0;
}

static int cmd_run(struct sess *s, const struct smtp_cmd *cmd);

/* The DNSBL verdict for the client of the held command is in: the command
 * is refused, or runs now (and is answered, or stays held: DATA). */
static void cmd_resume(struct sess *s)
{
	struct smtp_cmd c = s->held;
	char *a = s->held_arg;

	s->held_arg = NULL;
	if (s->orig_rc > 0)
		orig_refuse(s, s->orig_rc);
	else if (cmd_run(s, &c) != SMTP_CB_PENDING && smtp_srv_blocked(s->srv))
		smtp_srv_reply_cmd(s->srv, 0, NULL, NULL); /* the default reply */
	free(a);
}

static int s_on_command(struct smtp_srv *srv, const struct smtp_cmd *cmd, void *ud)
{
	struct sess *s = ud;
	int rc;

	/* A known host's original client, judged at the first command that
	 * can be refused after XCLIENT/XFORWARD named it (PROXY: at the
	 * greeting, s_on_proxy), if sess_feed did not already; its DNSBL
	 * answer, when not in yet, holds the command. */
	if (s->known && verb_answerable(cmd->verb)) {
		rc = orig_judge(s, s->xclient_new);
		s->xclient_new = false;
		if (rc < 0)
			return cmd_hold(s, cmd);
		if (rc) {
			orig_refuse(s, rc);
			return 0;
		}
	}
	return cmd_run(s, cmd);
}

/* What the proxy does with a command (from s_on_command, or cmd_resume
 * once a held one may run): 0 (answered, or the default reply) or
 * SMTP_CB_PENDING (DATA: answered once the downstream is ready). */
static int cmd_run(struct sess *s, const struct smtp_cmd *cmd)
{
	struct smtp_srv *srv = s->srv;
	struct dp_smtp_worker *sw = s->sw;
	const struct mxg_ip *thr;
	int rc;

	switch (cmd->verb) {
	case SMTP_VERB_XCLIENT:
		s->xclient_new = true;
		return 0;
	case SMTP_VERB_MAIL:
		if ((thr = thr_subject(s)) && !thr_admit(sw, thr, THR_MSG)) {
			char t[160], ip[64];

			sw->st.throttled_messages++;
			snprintf(t, sizeof(t), "Error: too many messages from [%s], try again later",
				 mxg_ip_str(thr, ip, sizeof(ip)));
			smtp_srv_reply_cmd(srv, 451, "4.7.1", t);
			return 0;
		}
		env_reset(s);
		s->from = dupn(cmd->path, cmd->path_len);
		s->envid = cmd->envid ? dupn(cmd->envid, cmd->envid_len) : NULL;
		if (!s->from || (cmd->envid && !s->envid)) {
			smtp_srv_reply_cmd(srv, 451, "4.3.0", "Error: out of memory");
			return 0;
		}
		s->size = cmd->size;
		s->body = cmd->body;
		s->smtputf8 = cmd->smtputf8;
		s->ret = cmd->ret;
		return 0;
	case SMTP_VERB_RCPT: {
		const struct smtp_peer *pe = smtp_srv_peer(srv);
		const struct mxg_ip *ip = pe->addr.family ? &pe->addr : &s->caddr;
		char addr[512];
		const struct rc_ent *e;
		struct smtp_rcpt *r;

		snprintf(addr, sizeof(addr), "%.*s", (int)cmd->path_len, cmd->path);
		if (!s->reprocess && !smtp_acl_match(dp_smtp_g.allow, ip) &&
		    !dp_smtp_domain_local(addr)) {
			sw->st.relay_denied++;
			smtp_srv_reply_cmd(srv, 554, "5.7.1", "Relay access denied");
			return 0;
		}
		if ((e = rc_find(sw, addr))) {
			sw->st.rcpt_cache_hits++;
			smtp_srv_reply_cmd(srv, e->code, e->enh, e->text);
			return 0;
		}
		if ((thr = thr_subject(s)) && !thr_admit(sw, thr, THR_RCPT)) {
			char t[160], a[64];

			/* RFC 5321 4.5.3.1.10: 452 for too many recipients, the
			 * rest are retried later; RFC 3463 X.5.3. */
			sw->st.throttled_recipients++;
			snprintf(t, sizeof(t), "Error: too many recipients from [%s], try again later",
				 mxg_ip_str(thr, a, sizeof(a)));
			smtp_srv_reply_cmd(srv, 452, "4.5.3", t);
			return 0;
		}
		if (s->nrcpt == s->rcap) {
			size_t cap = s->rcap ? s->rcap * 2 : 8;

			r = realloc(s->rcpt, cap * sizeof(*r));
			if (!r) {
				smtp_srv_reply_cmd(srv, 452, "4.3.0", "Error: out of memory");
				return 0;
			}
			s->rcpt = r;
			s->rcap = cap;
		}
		r = &s->rcpt[s->nrcpt];
		memset(r, 0, sizeof(*r));
		r->addr = dupn(cmd->path, cmd->path_len);
		r->notify = cmd->notify;
		r->orcpt = cmd->orcpt ? dupn(cmd->orcpt, cmd->orcpt_len) : NULL;
		if (!r->addr || (cmd->orcpt && !r->orcpt)) {
			free((char *)r->addr);
			free((char *)r->orcpt);
			smtp_srv_reply_cmd(srv, 452, "4.3.0", "Error: out of memory");
			return 0;
		}
		s->nrcpt++;
		sw->st.rcpt_accepted++;
		return 0;
	}
	case SMTP_VERB_DATA:
		rc = msg_start(s);
		if (rc) {
			msg_clear(s);
			sw->st.messages_tempfailed++;
			smtp_srv_reply_cmd(srv, 451, "4.3.0", rc == MXG_E_RANGE ?
					   "Error: downstream busy, try again later" :
					   rc == MXG_E_AGAIN ?
					   "Error: no policy loaded yet, try again later" :
					   "Error: local resources exhausted, try again later");
			return 0;
		}
		if (s->failed) /* decided synchronously */
			return 0;
		s->data_held = true;
		return SMTP_CB_PENDING;
	case SMTP_VERB_BDAT:
		if (!s->msg) {
			rc = msg_start(s);
			if (rc)
				dp_smtp_msg_fail(s, 451, "4.3.0", rc == MXG_E_RANGE ?
					 "Error: downstream busy, try again later" :
					 rc == MXG_E_AGAIN ?
					 "Error: no policy loaded yet, try again later" :
					 "Error: local resources exhausted, try again later");
		}
		return 0;
	case SMTP_VERB_RSET:
	case SMTP_VERB_EHLO:
	case SMTP_VERB_HELO:
		if (!s->msg)
			env_reset(s);
		return 0;
	default:
		return 0;
	}
}

static int s_on_data_chunk(struct smtp_srv *srv, const uint8_t *p, size_t n, void *ud)
{
	struct sess *s = ud;
	struct out *o = s->out;
	int rc;

	if (!s->msg || s->failed)
		return 0;
	if ((rc = dp_smtp_pol_hold(s, p, n))) {
		s->sw->st.hold_refused++;
		dp_smtp_msg_fail(s, 451, "4.3.1", rc == MXG_E_RANGE ?
				 "Error: insufficient system storage, try again later" :
				 "Error: out of memory, try again later");
		return 0;
	}
	if (s->scan && dp_scan_feed(s->scan, p, n) < 0) {
		dp_smtp_msg_fail(s, 451, "4.3.0", "Error: content scan failed, try again later");
		return 0;
	}
	if (o && s->ds_ready && !buf_pending(&s->pend)) {
		ssize_t w = smtp_cli_data_write(o->cli, p, n, s->sw->now);

		if (w < 0) {
			dp_smtp_msg_fail(s, 451, "4.4.2", "Error: downstream write failed");
			return 0;
		}
		p += w;
		n -= (size_t)w;
		dp_smtp_out_pump(o);
		if (s->failed)
			return 0;
	}
	if (n && buf_add(&s->pend, p, n)) {
		dp_smtp_msg_fail(s, 451, "4.3.0", "Error: out of memory");
		return 0;
	}
	if (buf_pending(&s->pend) >= PEND_HIGH) {
		s->paused = true;
		s->sw->st.input_pauses++;
		return SMTP_E_PAUSE;
	}
	return 0;
}

static int s_on_end_of_data(struct smtp_srv *srv, void *ud)
{
	struct sess *s = ud;
	struct dp_scan_result sr;

	s->eod = true;
	s->sw->st.messages_received++;
	if (!s->failed && s->scan) {
		dp_scan_end(s->scan, &sr); /* s->scan lives until msg_clear */
		if (sr.verdict == DP_SCAN_TEMPFAIL)
			dp_smtp_msg_fail(s, 451, "4.3.0", "%s", sr.reason);
		else if (dp_smtp_pol_eod(s, &sr))
			return 0; /* answered, or the policy's jobs will answer */
	} else if (!s->failed && s->msg && !dp_scan_enabled()) {
		/* Scanning off: the policy still decides, on no scan result
		 * (its scan conditions are false, control/pol.h). */
		memset(&sr, 0, sizeof(sr));
		s->sw->st.messages_unscanned++;
		if (dp_smtp_pol_eod(s, &sr))
			return 0;
	}
	if (s->failed) {
		dp_smtp_msg_answer_eod(s, s->fcode, s->fenh, s->ftext);
		return 0;
	}
	if (s->out)
		dp_smtp_out_pump(s->out);
	return 0;
}

static void s_on_data_abort(struct smtp_srv *srv, enum smtp_abort why, void *ud)
{
	struct sess *s = ud;

	if (why == SMTP_ABORT_BARE_NL || why == SMTP_ABORT_NUL)
		s->sw->st.smuggling_rejected++;
	/* The engine answers itself (550/552) or the session is ending. */
	msg_clear(s);
	env_reset(s);
}

static int s_on_anomaly(struct smtp_srv *srv, enum smtp_anomaly a, void *ud)
{
	struct sess *s = ud;

	if (a == SMTP_ANOM_TLS_INJECT)
		s->sw->st.tls_injections++;
	return 0;
}

static int s_on_starttls(struct smtp_srv *srv, void *ud)
{
	struct sess *s = ud;

	s->tst = T_WANT; /* sess_flush switches once "220" is out */
	return 0;
}

static const struct smtp_srv_callbacks srv_cbs = {
	.on_command = s_on_command,
	.on_data_chunk = s_on_data_chunk,
	.on_end_of_data = s_on_end_of_data,
	.on_data_abort = s_on_data_abort,
	.on_anomaly = s_on_anomaly,
	.on_starttls = s_on_starttls,
	.on_proxy = s_on_proxy,
};

/* Moves as much TLS ciphertext as the TCP send buffer takes. */
static bool sess_flush(struct sess *s)
{
	const uint8_t *p;
	size_t n;
	long w;

	while ((n = smtp_srv_output(s->srv, &p)) > 0) {
		if (s->tst == T_UP)
			w = dp_tls_write(s->tls, p, n);
		else if (s->tst == T_HS)
			break;
		else
			w = tcps_conn_send(s->conn, p, n, s->sw->now);
		if (w < 0) {
			sess_kill(s, false);
			return false;
		}
		if (w == 0)
			break;
		smtp_srv_output_consumed(s->srv, (size_t)w);
	}
	if (s->tst == T_WANT && !smtp_srv_output(s->srv, &p)) {
		s->tls = dp_smtp_g.tls_srv ? dp_tls_new(dp_smtp_g.tls_srv, NULL) : NULL;
		if (!s->tls) {
			s->sw->st.tls_failures++;
			sess_kill(s, false);
			return false;
		}
		s->tst = T_HS;
	}
	if (s->tls)
		dp_smtp_cipher_flush(s->conn, s->tls, s->sw->now);
	return true;
}

/* Feeds |p|/|n| to the engine; returns the bytes taken or -1 (dead). */
static long sess_feed(struct sess *s, const uint8_t *p, size_t n)
{
	ssize_t r = smtp_srv_input(s->srv, p, n, s->sw->now);

	if (r < 0) {
		sess_kill(s, false);
		return -1;
	}
	s->sw->st.bytes_in += (uint64_t)r;
	if (s->known && smtp_srv_state(s->srv) == SMTP_ST_COMMAND && !smtp_srv_blocked(s->srv)) {
		/* A client XCLIENT/XFORWARD just named: judged now, its DNSBL
		 * lookup starts at once; the next refusable command gets the
		 * verdict (or waits for it, s_on_command). */
		orig_judge(s, s->xclient_new);
		s->xclient_new = false;
	}
	if (s->greet_due && !s->dnsbl_req && smtp_srv_state(s->srv) == SMTP_ST_GREETING) {
		/* After the PROXY header: the original client's verdict. */
		greet_flush(s);
		s->pump_again = true; /* input after the header waited for it */
	}
	return r;
}

static bool srv_can_read(struct sess *s)
{
	return !s->dead && !s->paused && !s->close_due && !smtp_srv_blocked(s->srv) &&
	       !smtp_srv_want_close(s->srv);
}

static void sess_read_plain(struct sess *s)
{
	const uint8_t *p;
	size_t n;

	while (srv_can_read(s) && s->tst == T_NONE && (n = tcps_conn_peek(s->conn, &p)) > 0) {
		long r = sess_feed(s, p, n);

		if (r < 0)
			return;
		tcps_conn_consume(s->conn, (size_t)r, s->sw->now);
		if (s->tst == T_WANT) {
			/* Everything received with or after STARTTLS is plaintext
			 * injection (CVE-2011-0411): dropped. */
			while ((n = tcps_conn_peek(s->conn, &p)) > 0) {
				smtp_srv_input(s->srv, p, n, s->sw->now);
				tcps_conn_consume(s->conn, n, s->sw->now);
			}
			return;
		}
		if ((size_t)r < n)
			return;
	}
}

static void sess_read_tls(struct sess *s)
{
	const uint8_t *p;
	size_t n;

	while (s->tst >= T_HS && (n = tcps_conn_peek(s->conn, &p)) > 0) {
		if (dp_tls_rpending(s->tls) > RBIO_MAX && s->tst == T_UP)
			break;
		if (dp_tls_put(s->tls, p, n)) {
			sess_kill(s, false);
			return;
		}
		tcps_conn_consume(s->conn, n, s->sw->now);
	}
	if (s->tst == T_HS) {
		int r = dp_tls_handshake(s->tls);

		dp_smtp_cipher_flush(s->conn, s->tls, s->sw->now);
		if (r < 0) {
			s->sw->st.tls_failures++;
			sess_kill(s, false);
			return;
		}
		if (r == 0)
			return;
		s->tst = T_UP;
		s->sw->st.tls_handshakes++;
		if (mxg_log_get_level() >= MXG_LOG_DEBUG) {
			char d[96];

			dp_tls_describe(s->tls, d, sizeof(d));
			MXG_DEBUG(COMP, "inbound TLS: %s", d);
		}
		smtp_srv_tls_done(s->srv, s->sw->now);
	}
	while (srv_can_read(s)) {
		if (buf_pending(&s->tin) == 0) {
			uint8_t tmp[TIN_MAX];
			ssize_t r = dp_tls_read(s->tls, tmp, sizeof(tmp));

			if (r < 0) {
				sess_kill(s, false);
				return;
			}
			if (r == 0)
				break;
			if (buf_add(&s->tin, tmp, (size_t)r)) {
				sess_kill(s, false);
				return;
			}
		}
		{
			long r = sess_feed(s, s->tin.p + s->tin.off, buf_pending(&s->tin));

			if (r < 0)
				return;
			buf_take(&s->tin, (size_t)r);
			if (buf_pending(&s->tin))
				break;
		}
	}
}

void dp_smtp_sess_pump(struct sess *s)
{
	if (s->dead)
		return;
	if (s->in_pump) {
		s->pump_again = true;
		return;
	}
	s->in_pump = true;
	do {
		s->pump_again = false;
		if (s->tst == T_NONE)
			sess_read_plain(s);
		else if (s->tst != T_WANT)
			sess_read_tls(s);
		if (s->dead || !sess_flush(s))
			break;
	} while (s->pump_again && !s->dead);
	s->in_pump = false;
	if (s->dead)
		return;
	if (smtp_srv_want_close(s->srv) || s->close_due) {
		const uint8_t *p;

		if (!smtp_srv_output(s->srv, &p) && (!s->tls || !dp_tls_pending(s->tls)))
			sess_kill(s, true);
		return;
	}
	/* The client is gone: unless a message waits for its final answer
	 * (then the downstream decides, and the answer is simply lost). */
	if (tcps_conn_eof(s->conn) && !tcps_conn_readable(s->conn) && !s->eod &&
	    (s->tst != T_UP || !buf_pending(&s->tin)))
		sess_kill(s, true);
}

static void sess_kill(struct sess *s, bool graceful)
{
	struct dp_smtp_worker *sw = s->sw;

	if (s->dead)
		return;
	s->dead = true;
	msg_release(s);
	dp_smtp_pol_clear(s);
	env_reset(s);
	free(s->rcpt);
	s->rcpt = NULL;
	free(s->rres);
	s->rres = NULL;
	buf_free(&s->pend);
	buf_free(&s->tin);
	free(s->held_arg);
	s->held_arg = NULL;
	if (graceful)
		tcps_conn_close(s->conn, sw->now);
	else
		tcps_conn_abort(s->conn, sw->now);
	s->conn = NULL;
	/* srv and tls are freed by dp_smtp_reap(): engine code may still be on the
	 * stack below us. */
	TAILQ_REMOVE(&sw->sessions, s, link);
	TAILQ_INSERT_TAIL(&sw->dead_s, s, link);
	sw->nsess--;
	sw->st.sessions_active--;
}

static void c_readable(struct tcps_conn *c, void *ud)
{
	struct sess *s = ud;
	struct dp_smtp_worker *sw = s->sw;

	enter(sw, tcps_conn_now(c));
	dp_smtp_sess_pump(s);
	leave(sw);
}

static void c_error(struct tcps_conn *c, enum tcps_err err, void *ud)
{
	struct sess *s = ud;
	struct dp_smtp_worker *sw = s->sw;

	enter(sw, tcps_conn_now(c));
	sess_kill(s, false);
	leave(sw);
}

static const struct tcps_conn_callbacks sess_cbs = {
	.on_readable = c_readable,
	.on_writable = c_readable,
	.on_error = c_error,
};

static uint32_t sessions_from(struct dp_smtp_worker *sw, const struct mxg_ip *ip)
{
	struct sess *s;
	uint32_t n = 0;

	TAILQ_FOREACH(s, &sw->sessions, link)
		if (!memcmp(&s->caddr, ip, sizeof(*ip)))
			n++;
	return n;
}

static int l_accept(struct tcps_listener *l, struct tcps_conn *c, void *ud)
{
	struct lst_info *li = ud;
	struct dp_smtp_worker *sw = li->sw;
	const struct dp_smtp_conf *cf = sw->c;
	struct smtp_srv_config sc;
	struct mxg_ip laddr;
	uint16_t lport;
	struct sess *s;
	bool known, over, thr = false;
	int dv = 0;

	if (sw->nsess >= 2 * cf->sessions_max)
		return -1; /* far over the limit: not even a 421 */
	s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	enter(sw, tcps_conn_now(c));
	s->sw = sw;
	s->conn = c;
	s->lport = li->port;
	s->reprocess = li->reprocess;
	tcps_conn_addrs(c, &laddr, &lport, &s->caddr, &s->cport);
	known = smtp_acl_match(dp_smtp_g.known, &s->caddr);
	over = sw->nsess >= cf->sessions_max ||
	       sessions_from(sw, &s->caddr) >= cf->sessions_per_ip;
	s->known = known;
	/* Known hosts are never throttled: their original clients are
	 * (s_on_proxy, s_on_command). */
	if (!over && !known && !s->reprocess && !thr_admit(sw, &s->caddr, THR_CONN))
		thr = true;
	/* Email reputation of a client speaking for itself (a known host's
	 * original client: s_on_proxy). */
	if (!over && !thr && !known && !s->reprocess)
		dv = dnsbl_check(s, &s->caddr);
	smtp_srv_config_init(&sc);
	sc.hostname = cf->hostname;
	if (!cf->starttls || !dp_smtp_g.tls_srv)
		sc.ext &= ~SMTP_EXT_STARTTLS;
	sc.flags = 0;
	if (known)
		sc.flags |= SMTP_SRV_F_KNOWN_HOST;
	if (over || thr || (s->reprocess && !known) || dv)
		sc.flags |= SMTP_SRV_F_GREET_HOLD;
	else if (known && cf->proxy_protocol)
		/* The greeting waits for the judgement of the client the
		 * header names (s_on_proxy, sess_feed). */
		sc.flags |= SMTP_SRV_F_PROXY | SMTP_SRV_F_GREET_HOLD;
	sc.limits.line_max = cf->line_max;
	sc.limits.rcpt_max = cf->rcpt_max;
	sc.limits.msg_size_max = cf->msg_size_max;
	sc.limits.cmd_max = cf->commands_max;
	sc.limits.err_max = cf->errors_max;
	sc.limits.tmo_greeting = cf->tmo_greeting;
	sc.limits.tmo_command = cf->tmo_command;
	sc.limits.tmo_data = cf->tmo_data;
	s->srv = smtp_srv_new(NULL, &sc, &srv_cbs, s);
	if (!s->srv || smtp_srv_start(s->srv, &s->caddr, s->cport, sw->now)) {
		smtp_srv_free(s->srv);
		free(s);
		leave(sw);
		return -1;
	}
	/* A reprocessing port only takes mail from known hosts (the control
	 * plane releasing quarantine), as it skips the scan. */
	if (over) {
		sw->st.sessions_refused++;
		smtp_srv_greet(s->srv, 421, "Error: too many connections, try again later",
			       sw->now);
	} else if (s->reprocess && !known) {
		smtp_srv_greet(s->srv, 554, "reprocessing port: not a known host", sw->now);
	} else if (thr) {
		char t[160], ip[64];

		sw->st.throttled_connections++;
		snprintf(t, sizeof(t), "Error: too many connections from [%s], try again later",
			 mxg_ip_str(&s->caddr, ip, sizeof(ip)));
		smtp_srv_greet_enh(s->srv, 421, "4.7.0", t, sw->now);
	} else if (dv) {
		/* DNSBL: refused from the cache, or held for the answer
		 * (dp_smtp_dnsbl_ack, or the timer at dnsbl_hold_ms) */
		s->greet_due = true;
		s->greet_code = dv > 0 ? dv : 220;
		if (dv > 0)
			greet_flush(s);
	}
	TAILQ_INSERT_TAIL(&sw->sessions, s, link);
	sw->nsess++;
	sw->st.sessions++;
	sw->st.sessions_active++;
	tcps_conn_set_callbacks(c, &sess_cbs, s);
	dp_smtp_sess_pump(s);
	leave(sw);
	return 0;
}

static const struct tcps_listener_callbacks lst_cbs = {.on_accept = l_accept};

/* ------------------------------------------------------------ timers */

void dp_smtp_on_timer(struct dp_worker *w, mxg_tstamp now)
{
	struct dp_smtp_worker *sw = w->smtp;
	struct sess *s, *sn;
	struct out *o, *on;

	w->smtp_deadline = now + SWEEP_NS;
	if (!sw)
		return;
	/* Output sent from here may arm TCP timers the poll loop has not seen. */
	w->tcp_deadline = 0;
	enter(sw, now);
	TAILQ_FOREACH_SAFE(s, &sw->sessions, link, sn) {
		mxg_tstamp d;

		if (s->pol) {
			dp_smtp_pol_timer(s); /* quarantine answer overdue */
			if (s->dead)
				continue;
		}
		if (s->dnsbl_req && now >= s->dnsbl_deadline) {
			dnsbl_resolve(s, 3, "", ""); /* no answer in time: the default */
			if (s->dead)
				continue;
		}
		d = smtp_srv_deadline(s->srv);

		if (d == MXG_TS_NONE || now < d)
			continue;
		if (s->tst == T_HS || s->tst == T_WANT) {
			sw->st.tls_failures++;
			sess_kill(s, false);
			continue;
		}
		smtp_srv_on_timer(s->srv, now);
		dp_smtp_sess_pump(s);
	}
	TAILQ_FOREACH_SAFE(o, &sw->outs, link, on) {
		if (o->dead)
			continue;
		if (!o->ready && !o->quitting && smtp_cli_state(o->cli) <= SMTP_CLI_TLS_WAIT &&
		    now - o->t_open > sw->c->ds_connect_tmo) {
			sw->st.downstream_errors++;
			smtp_cli_closed(o->cli);
			dp_smtp_out_kill(o);
			continue;
		}
		if (o->in_idle && now - o->t_idle > sw->c->ds_idle) {
			dp_smtp_idle_remove(o);
			o->quitting = true;
			o->ready = false;
			if (smtp_cli_quit(o->cli, now) == 0) {
				dp_smtp_out_flush(o);
			} else {
				smtp_cli_closed(o->cli);
				dp_smtp_out_kill(o);
			}
			continue;
		}
		if (smtp_cli_on_timer(o->cli, now) == 1 && !o->dead)
			dp_smtp_out_kill(o);
	}
	leave(sw);
}

/* ------------------------------------------------------------ telemetry */

static int cmd_smtp(const char *cmd, const char *params, struct rte_tel_data *d)
{
	rte_tel_data_start_dict(d);
	pthread_mutex_lock(&tel_lock);
	if (tel_ctx) {
#define SUM(f)                                                                 \
	{                                                                      \
		uint64_t v = 0;                                                \
		for (unsigned i = 0; i < tel_ctx->nworkers; i++)               \
			if (tel_ctx->worker[i].smtp)                           \
				v += tel_ctx->worker[i].smtp->st.f;            \
		rte_tel_data_add_dict_u64(d, #f, v);                           \
	}
		SMTP_FIELDS(SUM)
#undef SUM
		{
			uint64_t n = 0;

			for (unsigned i = 0; i < tel_ctx->nworkers; i++)
				if (tel_ctx->worker[i].smtp)
					n += tel_ctx->worker[i].smtp->nout;
			rte_tel_data_add_dict_u64(d, "downstream_sessions", n);
		}
	}
	pthread_mutex_unlock(&tel_lock);
	return 0;
}

/* ------------------------------------------------------------ life cycle */

static int add_domain(const char *tok, size_t n)
{
	char (*d)[256] = realloc(dp_smtp_g.dom, (dp_smtp_g.ndom + 1) * sizeof(*dp_smtp_g.dom));

	if (!d)
		return MXG_E_NOMEM;
	dp_smtp_g.dom = d;
	snprintf(dp_smtp_g.dom[dp_smtp_g.ndom++], 256, "%.*s", (int)n, tok);
	return 0;
}

static int global_build(const struct dp_smtp_conf *c)
{
	struct dp_tls_ctx_conf tc = {0};
	char err[256];
	const char *v = c->local_domains;

	dp_smtp_g.conf = c;
	dp_smtp_g.allow = smtp_acl_new(NULL);
	dp_smtp_g.known = smtp_acl_new(NULL);
	if (!dp_smtp_g.allow || !dp_smtp_g.known || smtp_acl_parse(dp_smtp_g.allow, c->allow_client_ip, NULL) ||
	    smtp_acl_parse(dp_smtp_g.known, c->known_hosts, NULL))
		return MXG_E_NOMEM;
	while (*v) {
		size_t n;

		v += strspn(v, ",; \t");
		n = strcspn(v, ",; \t");
		if (!n)
			break;
		if (add_domain(v, n))
			return MXG_E_NOMEM;
		v += n;
	}
	if (c->starttls) {
		tc.server = true;
		tc.cert = c->tls_cert;
		tc.key = c->tls_key;
		tc.hostname = c->hostname;
		tc.ciphers = c->tls_ciphers;
		tc.min_version = c->tls_min_version;
		dp_smtp_g.tls_srv = dp_tls_ctx_new(&tc, err, sizeof(err));
		if (!dp_smtp_g.tls_srv) {
			MXG_ERR(COMP, "STARTTLS: %s", err);
			return MXG_E_INVAL;
		}
	}
	if (c->ds_tls != DP_SMTP_DS_TLS_NONE) {
		memset(&tc, 0, sizeof(tc));
		tc.min_version = 12;
		dp_smtp_g.tls_cli = dp_tls_ctx_new(&tc, err, sizeof(err));
		if (!dp_smtp_g.tls_cli) {
			MXG_ERR(COMP, "downstream TLS: %s", err);
			return MXG_E_INVAL;
		}
	}
	if (!smtp_acl_count(dp_smtp_g.allow) && !dp_smtp_g.ndom)
		MXG_NOTICE(COMP, "neither smtp_allow_client_ip nor local_domains: every "
			   "recipient will be refused (not an open relay)");
	dp_smtp_g.built = true;
	return 0;
}

int dp_smtp_worker_start(struct dp_ctx *ctx, struct dp_worker *w)
{
	const struct dp_smtp_conf *c = &ctx->conf.smtp;
	struct dp_smtp_worker *sw;
	int rc;

	w->smtp = NULL;
	w->smtp_deadline = MXG_TS_NONE;
	if (!c->enabled)
		return 0;
	if (!dp_smtp_g.built && (rc = global_build(c)))
		return rc;
	sw = rte_zmalloc("mxg_smtp", sizeof(*sw), RTE_CACHE_LINE_SIZE);
	if (!sw)
		return MXG_E_NOMEM;
	sw->rcache = calloc(RC_SLOTS, sizeof(*sw->rcache));
	if (c->thr_conns || c->thr_msgs || c->thr_rcpts)
		sw->thr = calloc(c->thr_slots, sizeof(*sw->thr));
	if (ctx->conf.ctl.enabled && c->dnsbl_hold) /* else no DNSBL: nobody to ask */
		sw->dnsbl = calloc(DNSBL_SLOTS, sizeof(*sw->dnsbl));
	if (!sw->rcache || ((c->thr_conns || c->thr_msgs || c->thr_rcpts) && !sw->thr)) {
		free(sw->rcache);
		free(sw->thr);
		rte_free(sw);
		return MXG_E_NOMEM;
	}
	sw->w = w;
	sw->tcp = w->tcp;
	sw->c = c;
	TAILQ_INIT(&sw->sessions);
	TAILQ_INIT(&sw->dead_s);
	TAILQ_INIT(&sw->outs);
	TAILQ_INIT(&sw->idle);
	TAILQ_INIT(&sw->dead_o);
	w->smtp = sw;
	for (unsigned p = 0; p <= c->nports; p++) {
		struct lst_info *li = &sw->linfo[p];

		li->sw = sw;
		li->reprocess = p == c->nports;
		li->port = li->reprocess ? c->reprocess_port : c->port[p];
		if (!li->port)
			continue;
		for (unsigned a = 0; a < c->naddrs; a++) {
			char ip[64];

			sw->lst[sw->nlst] = tcps_listen(w->tcp, &c->addr[a], li->port, NULL,
							&lst_cbs, li, &rc);
			if (!sw->lst[sw->nlst]) {
				MXG_ERR(COMP, "worker %u: cannot listen on [%s]:%u: %s", w->idx,
					mxg_ip_str(&c->addr[a], ip, sizeof(ip)), li->port,
					mxg_strerror(rc));
				return rc ? rc : MXG_E_NOMEM;
			}
			sw->nlst++;
		}
	}
	w->smtp_deadline = 0;
	pthread_mutex_lock(&tel_lock);
	tel_ctx = ctx;
	pthread_mutex_unlock(&tel_lock);
	if (!tel_registered) {
		tel_registered = true;
		rte_telemetry_register_cmd("/mxgate/smtp", cmd_smtp,
					   "SMTP proxy counters summed over workers. No parameters");
	}
	if (w->idx == 0)
		MXG_INFO(COMP, "SMTP proxy: %u listeners per worker, downstream %s:%u%s%s%s",
			 sw->nlst, mxg_ip_str(&c->ds_addr, (char[64]){0}, 64), c->ds_port,
			 *c->ds_name ? " (" : "", c->ds_name,
			 *c->ds_name ? ", resolved once at start)" : "");
	return 0;
}

void dp_smtp_worker_stop(struct dp_worker *w)
{
	struct dp_smtp_worker *sw = w->smtp;
	struct sess *s;
	struct out *o;

	pthread_mutex_lock(&tel_lock);
	tel_ctx = NULL;
	pthread_mutex_unlock(&tel_lock);
	if (!sw)
		return;
	/* The stack is freed right after (tcps_stack_free frees every
	 * connection): free our objects only, send nothing. */
	while ((s = TAILQ_FIRST(&sw->sessions))) {
		TAILQ_REMOVE(&sw->sessions, s, link);
		dp_scan_abort(s->scan);
		dp_smtp_pol_clear(s); /* held message, decisions, snapshot reference */
		env_reset(s);
		free(s->rcpt);
		free(s->rres);
		buf_free(&s->pend);
		buf_free(&s->tin);
		free(s->held_arg);
		dp_tls_free(s->tls);
		smtp_srv_free(s->srv);
		free(s);
	}
	while ((o = TAILQ_FIRST(&sw->outs))) {
		TAILQ_REMOVE(&sw->outs, o, link);
		dp_tls_free(o->tls);
		smtp_cli_free(o->cli);
		free(o);
	}
	dp_smtp_reap(sw);
	free(sw->rcache);
	free(sw->thr);
	free(sw->dnsbl);
	rte_free(sw);
	w->smtp = NULL;
}

void dp_smtp_fini(void)
{
	smtp_acl_free(dp_smtp_g.allow);
	smtp_acl_free(dp_smtp_g.known);
	free(dp_smtp_g.dom);
	dp_tls_ctx_free(dp_smtp_g.tls_srv);
	dp_tls_ctx_free(dp_smtp_g.tls_cli);
	memset(&dp_smtp_g, 0, sizeof(dp_smtp_g));
}
