/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_smtp_int.h - private structures of the SMTP proxy, shared by dp_smtp.c
 * (inbound sessions, the message's fate, timers, telemetry, life cycle) and
 * dp_smtp_ds.c (the downstream session pool). See dp_smtp.c for the design.
 */
#ifndef DP_SMTP_INT_H
#define DP_SMTP_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "dp.h"
#include "dp_scan.h"
#include "dp_smtp.h"
#include "dp_tls.h"
#include "mxg_err.h"
#include "smtp.h"

struct dp_ctl_ack;


#ifndef TAILQ_FOREACH_SAFE /* glibc's sys/queue.h lacks it */
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                              \
	for ((var) = TAILQ_FIRST((head));                                       \
	     (var) && ((tvar) = TAILQ_NEXT((var), field), 1); (var) = (tvar))
#endif
#define PEND_HIGH (256 * 1024)            /* content waiting for the downstream */
#define TIN_MAX (16 * 1024)               /* TLS plaintext read ahead */
#define RBIO_MAX (64 * 1024)              /* ciphertext taken ahead of the engine */
#define SWEEP_NS (50 * MXG_NSEC_PER_MSEC) /* timer granularity */
#define RC_SLOTS 1024                     /* recipient cache entries per worker */
#define THR_PROBE 8                       /* throttle table: slots probed per client */
#define DNSBL_SLOTS 4096                  /* DNSBL answers cached per worker */
#define DNSBL_PROBE 8
#define DNSBL_PEND 1024                   /* queries remembered for their answer */
#define MAX_LISTENERS (DP_SMTP_MAX_ADDRS * (DP_SMTP_MAX_PORTS + 1))

#define SMTP_FIELDS(X)                                                                  \
	X(sessions) X(sessions_active) X(sessions_refused) X(messages_received)        \
	X(messages_delivered) X(messages_tempfailed) X(messages_rejected)              \
	X(relay_denied) X(rcpt_accepted) X(rcpt_refused_downstream) X(rcpt_cache_hits) \
	X(tls_handshakes) X(tls_failures) X(tls_injections) X(smuggling_rejected)      \
	X(downstream_connects) X(downstream_reused) X(downstream_errors)               \
	X(downstream_tls) X(bytes_in) X(input_pauses) X(policy_evaluations)          \
	X(policy_jobs) X(quarantined) X(quarantine_failed) X(hold_refused)            \
	X(track_failed) X(bcc_failed)                                                  \
	X(throttled_connections) X(throttled_messages) X(throttled_recipients)        \
	X(throttle_evictions) X(filter_blocked_original)                              \
	X(dnsbl_queries) X(dnsbl_cache_hits) X(dnsbl_listed) X(dnsbl_timeouts)        \
	X(messages_unscanned)

struct dp_smtp_stats {
#define F(n) uint64_t n;
	SMTP_FIELDS(F)
#undef F
};

/* Built once from the conf; read-only afterwards (shared by workers). */
struct dp_smtp_global {           /* built once from the conf, then read-only */
	const struct dp_smtp_conf *conf;
	struct smtp_acl *allow, *known;
	char (*dom)[256];
	size_t ndom;
	struct dp_tls_ctx *tls_srv, *tls_cli;
	bool built;
	bool rss_warned;
};
extern struct dp_smtp_global dp_smtp_g;


struct buf {
	uint8_t *p;
	size_t off, len, cap;
};

enum tls_st { T_NONE = 0, T_WANT, T_HS, T_UP };

struct rc_ent {                  /* a recipient the downstream refused */
	char addr[256];
	int code;
	char enh[16];
	char text[160];
	mxg_tstamp exp;
};

struct thr_ent {                 /* one client's counts in its window */
	struct mxg_ip ip;        /* family 0: free slot */
	uint32_t conns, msgs, rcpts;
	mxg_tstamp start;        /* the window's start */
};

struct dnsbl_ent {               /* a DNSBL answer (dp_smtp.c, SENDER FILTER) */
	struct mxg_ip ip;        /* family 0: free slot */
	uint8_t verdict;         /* 0 pass, 1 reject, 2 tempfail */
	mxg_tstamp exp;
	char zone[96];
	char code[24];
};

struct dnsbl_pend {              /* a query in flight: whose address */
	uint64_t req;
	struct mxg_ip ip;
};

struct out;

struct sess {                    /* one inbound SMTP session */
	TAILQ_ENTRY(sess) link;
	struct dp_smtp_worker *sw;
	struct tcps_conn *conn;
	struct smtp_srv *srv;
	struct dp_tls *tls;
	enum tls_st tst;
	struct buf tin;          /* TLS plaintext not yet taken by the engine */
	struct mxg_ip caddr;     /* TCP peer */
	uint16_t cport, lport;
	bool reprocess;          /* reprocessing port: no scan */
	bool known;              /* the TCP peer is one of known_hosts */
	/* sender filter: the original client a known host named */
	struct mxg_ip judged;    /* the address last judged (family 0: none) */
	int orig_rc;             /* ... its verdict for commands: 0, 554, 450,
				  * 421, -1 (DNSBL answer awaited) */
	bool xclient_new;        /* XCLIENT started a new client session */
	bool greet_due;          /* PROXY read: the held greeting is ours */
	int greet_code;          /* 220, 421 (throttled), 450/554 (DNSBL) or 554 */
	uint64_t dnsbl_req;      /* DNSBL answer awaited: the greeting or a
				  * command (held_arg) waits */
	mxg_tstamp dnsbl_deadline;
	struct smtp_cmd held;    /* the command waiting for that answer, */
	char *held_arg;          /* its strings (NULL: none held) */
	char dnsbl_zone[96];     /* a listing: the zone (refusal text, tracking) */
	char dnsbl_code[24];
	char dnsbl_text[200];    /* the refusal, when DNSBL refused the client */
	bool close_due;          /* a 421 was queued: close once it is out */
	bool dead;
	bool in_pump, pump_again;
	bool paused;             /* on_data_chunk returned SMTP_E_PAUSE */
	/* envelope, as accepted */
	char *from;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	char *envid;
	struct smtp_rcpt *rcpt;
	size_t nrcpt, rcap;
	/* the message in flight */
	bool msg;                /* downstream transaction requested */
	bool data_held;          /* the client's DATA awaits our answer */
	bool ds_ready;           /* the downstream takes content */
	bool eod;                /* the client's content is complete */
	bool ds_end_sent;        /* end of data written downstream */
	bool failed;             /* fate decided: f* is the answer */
	bool retried;            /* a stale pooled session was replaced once */
	bool replied;            /* final answer given */
	int fcode;
	char fenh[16], ftext[256];
	int *rres;               /* downstream RCPT reply codes */
	struct out *out;
	struct buf pend;         /* content waiting for the downstream */
	struct dp_scan *scan;
	const struct scan_result *scan_res; /* after end of data */
	/* policy (dp_smtp_pol.c) */
	struct buf hold;         /* the whole message as received */
	struct pol_snap *snap;   /* the one version evaluating this message */
	struct dp_smtp_pol *pol; /* decisions, jobs; NULL until end of data */
	struct smtp_rcpt *env_rcpt; /* envelope of a delivery job (NULL: rcpt) */
	size_t env_nrcpt;
	size_t env_required;     /* of which the first ones must be accepted
	                          * (the rest are the policy's bccs) */
	uint64_t env_size;       /* SIZE of a delivery job (0: the client's) */
	char uuid[33];           /* the message's id in tracking */
	mxg_tstamp t_data;
};

/* The envelope the downstream transaction carries: the client's, or the
 * current delivery job's (dp_smtp_pol.c). */
static inline const struct smtp_rcpt *sess_env(const struct sess *s, size_t *n)
{
	if (s->env_rcpt) {
		*n = s->env_nrcpt;
		return s->env_rcpt;
	}
	*n = s->nrcpt;
	return s->rcpt;
}

struct out {                     /* one downstream SMTP session */
	TAILQ_ENTRY(out) link;
	TAILQ_ENTRY(out) ilink;  /* idle pool */
	struct dp_smtp_worker *sw;
	struct tcps_conn *conn;
	struct smtp_cli *cli;
	struct dp_tls *tls;
	enum tls_st tst;
	struct sess *owner;
	struct mxg_ip dst;       /* the downstream, or a policy's reroute */
	uint16_t dport;
	bool in_idle, ready, begun, dead, quitting;
	mxg_tstamp t_open, t_idle;
	uint32_t msgs;
};

struct lst_info {
	struct dp_smtp_worker *sw;
	uint16_t port;
	bool reprocess;
};

TAILQ_HEAD(sess_list, sess);
TAILQ_HEAD(out_list, out);

struct dp_smtp_worker {
	struct dp_worker *w;
	struct tcps_stack *tcp;
	const struct dp_smtp_conf *c;
	unsigned nlst;
	struct tcps_listener *lst[MAX_LISTENERS];
	struct lst_info linfo[DP_SMTP_MAX_PORTS + 1];
	struct sess_list sessions, dead_s;
	struct out_list outs, idle, dead_o;
	uint32_t nsess, nout;
	unsigned depth;          /* entry points in progress */
	mxg_tstamp now;
	struct rc_ent *rcache;
	struct thr_ent *thr;     /* [c->thr_slots], NULL: throttling off */
	struct dnsbl_ent *dnsbl; /* [DNSBL_SLOTS], NULL: no DNSBL (no channel) */
	struct dnsbl_pend dpend[DNSBL_PEND];
	int dnsbl_default;       /* on timeout: 0 serve, 450 or 554 (control's) */
	uint64_t hold_bytes;     /* sess.hold capacity of all sessions */
	struct dp_smtp_stats st;
};

/* ------------------------------------------------------------ helpers */

/* Frees sessions killed during the entry point that just ended. */
void dp_smtp_reap(struct dp_smtp_worker *sw);

static inline int buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *q;

		if (b->off) {
			memmove(b->p, b->p + b->off, b->len - b->off);
			b->len -= b->off;
			b->off = 0;
		}
		while (cap < b->len + n)
			cap *= 2;
		if (cap > b->cap) {
			q = realloc(b->p, cap);
			if (!q)
				return MXG_E_NOMEM;
			b->p = q;
			b->cap = cap;
		}
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static inline size_t buf_pending(const struct buf *b) { return b->len - b->off; }

static inline void buf_take(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

static inline void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static inline void enter(struct dp_smtp_worker *sw, mxg_tstamp now)
{
	sw->depth++;
	sw->now = now;
}


static inline void leave(struct dp_smtp_worker *sw)
{
	if (--sw->depth == 0)
		dp_smtp_reap(sw);
}

/* dp_smtp.c: inbound sessions and the message's fate. */
void dp_smtp_sess_pump(struct sess *s);
/* Decides the message's fate as failed (first call wins) and answers the
 * client now if it waits (DATA, end of data), else at its end of data. */
void dp_smtp_msg_fail(struct sess *s, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Answers the end of data and ends the message. */
void dp_smtp_msg_answer_eod(struct sess *s, int code, const char *enh, const char *text);
/* Remembers a downstream refusal of |addr| (recipient_cache_ttl). */
void dp_smtp_rc_put(struct dp_smtp_worker *sw, const char *addr, const struct smtp_reply *r);

/* True if |addr|'s domain is one of [smtp] local_domains. */
bool dp_smtp_domain_local(const char *addr);
/* Drops the downstream transaction of the message in flight (no delivery;
 * closes that downstream session when content was under way). */
void dp_smtp_msg_release_ds(struct sess *s);

/* dp_smtp_pol.c: the policy's part (see there). */
void dp_smtp_pol_begin(struct sess *s);            /* DATA: snapshot, id */
int dp_smtp_pol_hold(struct sess *s, const uint8_t *p, size_t n);
/* End of data, scanned: true if the policy took the message over (its
 * answer follows from there), false for the fast path (deliver as
 * streamed). */
bool dp_smtp_pol_eod(struct sess *s, const struct dp_scan_result *sr);
/* A delivery finished with the downstream's 250: true if it was a job
 * (the next job runs), false if the caller answers the client. */
bool dp_smtp_pol_delivered(struct sess *s, const char *reply);
/* A delivery job failed downstream: true if it was a bcc-only job (counted
 * and skipped: a refused bcc never fails the message), false otherwise. */
bool dp_smtp_pol_job_failed(struct sess *s, const char *why);
/* The client gets its final answer for the message: the tracking record. */
void dp_smtp_pol_final(struct sess *s, int code, const char *enh, const char *text);
void dp_smtp_pol_timer(struct sess *s);
void dp_smtp_pol_clear(struct sess *s);
/* A DNSBL answer (dp_ctl.h, kind DP_CTL_ACK_DNSBL) for worker |w|. */
void dp_smtp_dnsbl_ack(struct dp_worker *w, const struct dp_ctl_ack *a, mxg_tstamp now);

/* dp_smtp_ds.c: the downstream session pool. */
/* An idle pooled session to |dst|:|dport| (NULL: the configured
 * downstream), an unowned one still starting or finishing, or a new one
 * (NULL: pool full, no route, no memory). */
struct out *dp_smtp_out_get(struct dp_smtp_worker *sw, const struct mxg_ip *dst,
			    uint16_t dport);
/* Sends the owner's envelope (the session is READY). 0 or MXG_E_*. */
int dp_smtp_out_begin(struct out *o);
/* Moves the owner's content downstream, ends it when due, resumes the
 * owner's input when its window drained. */
void dp_smtp_out_pump(struct out *o);
void dp_smtp_out_flush(struct out *o);
/* Ends the session now (its owner's message fails with 451). */
void dp_smtp_out_kill(struct out *o);
void dp_smtp_idle_remove(struct out *o);
/* Moves as much TLS ciphertext as the TCP send buffer takes. */
void dp_smtp_cipher_flush(struct tcps_conn *c, struct dp_tls *t, mxg_tstamp now);

#endif
