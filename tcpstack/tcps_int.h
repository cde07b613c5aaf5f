/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_int.h - private structures of the TCP core, shared by tcps_*.c.
 * Not installed, not included by the dataplane.
 */
#ifndef TCPS_INT_H
#define TCPS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "mxg_bug.h"
#include "mxg_err.h"
#include "tcps.h"

/* Sequence arithmetic modulo 2^32 (RFC 9293 3.4). */
#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)
#define SEQ_MAX(a, b) (SEQ_GT(a, b) ? (a) : (b))
#define SEQ_MIN(a, b) (SEQ_LT(a, b) ? (a) : (b))

#define TCPS_F_FIN 0x01
#define TCPS_F_SYN 0x02
#define TCPS_F_RST 0x04
#define TCPS_F_PSH 0x08
#define TCPS_F_ACK 0x10
#define TCPS_F_URG 0x20
#define TCPS_F_ECE 0x40
#define TCPS_F_CWR 0x80

#define TCPS_HDR_LEN 20
#define TCPS_MAX_WSCALE 14        /* RFC 7323 2.3 */
#define TCPS_MAX_SACK_BLOCKS 4    /* what fits in 40 option bytes */
#define TCPS_SB_MAX 8             /* sender SACK scoreboard ranges */
#define TCPS_MIN_MSS 536          /* clamp of announced MSS below (RFC 9293 3.7.1 / 879) */
#define TCPS_FLOOR_MSS 64         /* peer MSS below this is raised (defence) */
#define TCPS_SCRATCH 9216         /* largest segment we build */
#define TCPS_BUF_CACHE 32         /* freed connection buffers kept per kind */

/* ---- timer wheel (tcps_timer.c) ---- */

#define TCPS_WHEEL_BITS 12
#define TCPS_WHEEL_SLOTS (1u << TCPS_WHEEL_BITS)
#define TCPS_WHEEL_TICK_NS MXG_NSEC_PER_MSEC

struct tcps_tnode {
	struct tcps_tnode *next, *prev; /* slot list; NULL when not armed */
	uint64_t tick;                  /* fires at the first tick >= this */
	bool armed;                     /* linked in a slot */
};

struct tcps_wheel {
	struct tcps_tnode slot[TCPS_WHEEL_SLOTS];       /* list heads (circular) */
	uint64_t bitmap[TCPS_WHEEL_SLOTS / 64];         /* non-empty slots */
	uint64_t cur;                                   /* next tick to process */
	uint32_t count;                                 /* armed nodes */
};

void tcps_wheel_init(struct tcps_wheel *w, mxg_tstamp now);
/* Arms (or re-arms) |n| to fire not before |when|. */
void tcps_wheel_arm(struct tcps_wheel *w, struct tcps_tnode *n, mxg_tstamp when);
void tcps_wheel_cancel(struct tcps_wheel *w, struct tcps_tnode *n);
/* Unlinks every node due at |now| and chains them through ->next into a
 * NULL-terminated list (returned); ->armed is false on each. */
struct tcps_tnode *tcps_wheel_expire(struct tcps_wheel *w, mxg_tstamp now);
mxg_tstamp tcps_wheel_deadline(const struct tcps_wheel *w);

/* ---- out-of-order reassembly bookkeeping (tcps_rob.c) ---- */

#define TCPS_ROB_MAX_RANGES 256 /* bound of ooo_max_ranges */

struct tcps_rob_range {
	uint64_t start, end; /* [start, end) in stream offsets */
};

struct tcps_rob {
	struct tcps_rob_range *r; /* sorted, disjoint, non-adjacent */
	const struct mxg_mem *mem;
	uint16_t n;               /* ranges in use */
	uint16_t max;             /* limit */
	uint16_t cap;             /* the array holds cap + 1 (grows to max + 1) */
	uint64_t last;            /* start of the range last extended (SACK order) */
};

int tcps_rob_init(struct tcps_rob *r, uint16_t max, const struct mxg_mem *mem);
void tcps_rob_fini(struct tcps_rob *r, const struct mxg_mem *mem);
/* Records [off, off + len) under the policy "first received bytes win":
 * bytes already present are never replaced. Writes into |gaps| (room for
 * max + 2 entries) the sub-ranges that were missing and that the caller
 * must now copy, and returns their count (0: pure duplicate). A range that
 * starts at or before |base| (the in-order point) is always accepted; any
 * other push that would need more than max ranges returns MXG_E_RANGE and
 * records nothing. len 0 returns 0. */
int tcps_rob_push(struct tcps_rob *r, uint64_t base, uint64_t off, uint32_t len,
		  struct tcps_rob_range *gaps);
/* If the first range starts at or before |next|, removes it and returns
 * its end; otherwise returns |next|. */
uint64_t tcps_rob_pop(struct tcps_rob *r, uint64_t next);
/* Fills up to |max| ranges for SACK blocks, the most recent first. */
int tcps_rob_sack(const struct tcps_rob *r, struct tcps_rob_range *out, int max);

/* ---- 4-tuple, flow table (tcps_flow.c) ---- */

struct tcps_tuple {
	uint8_t family;    /* 4 or 6 */
	uint8_t pad;
	uint16_t lport;    /* host order */
	uint16_t rport;
	uint16_t pad2;
	uint8_t laddr[16];
	uint8_t raddr[16];
};

struct tcps_flow_slot {
	struct tcps_conn *c;     /* NULL: free */
	uint32_t hash;           /* tuple hash of c: probe filter, no rehash on delete */
};

struct tcps_flow {
	struct tcps_flow_slot *slot; /* open addressing, linear probing */
	uint32_t mask;           /* slots - 1 */
	uint32_t count;
	uint8_t key[16];         /* SipHash key: flows cannot be steered into chains */
};

int tcps_flow_init(struct tcps_flow *f, uint32_t max, const uint8_t key[16],
		   const struct mxg_mem *mem);
void tcps_flow_fini(struct tcps_flow *f, const struct mxg_mem *mem);
struct tcps_conn *tcps_flow_lookup(const struct tcps_flow *f, const struct tcps_tuple *t);
/* Returns 0, MXG_E_EXIST or MXG_E_RANGE (full). */
int tcps_flow_add(struct tcps_flow *f, struct tcps_conn *c);
void tcps_flow_del(struct tcps_flow *f, struct tcps_conn *c);

/* ---- hashing, ISN, cookies (tcps_isn.c, tcps_syncookie.c) ---- */

uint64_t tcps_siphash(const uint8_t key[16], const void *data, size_t len);
uint32_t tcps_isn(const uint8_t key[16], const struct tcps_tuple *t, mxg_tstamp now);
uint32_t tcps_ts_offset(const uint8_t key[16], const struct tcps_tuple *t);

struct tcps_cookie_opts {
	uint16_t mss;     /* decoded MSS (one of the table's values) */
	bool sack_ok;
	bool ws_ok;       /* only recoverable when timestamps are on */
	uint8_t wscale;
};
uint32_t tcps_cookie_make(const uint8_t key[16], const struct tcps_tuple *t, uint32_t peer_isn,
			  uint16_t mss, bool sack_ok, mxg_tstamp now, uint16_t *mss_out);
/* Returns 0 and the options, or MXG_E_INVAL for a bad or stale cookie. */
int tcps_cookie_check(const uint8_t key[16], const struct tcps_tuple *t, uint32_t peer_isn,
		      uint32_t cookie, mxg_tstamp now, struct tcps_cookie_opts *o);

/* ---- options (tcps_opt.c) ---- */

struct tcps_sack_blk {
	uint32_t l, r;
};

struct tcps_opts {
	bool has_mss, has_ws, sack_ok, has_ts;
	uint16_t mss;
	uint8_t wscale;
	uint32_t tsval, tsecr;
	uint8_t nsack;
	struct tcps_sack_blk sack[TCPS_MAX_SACK_BLOCKS];
};

/* Parses |len| option bytes. Unknown kinds are skipped by their length;
 * a length < 2 or running past the header, or a known option with the
 * wrong length, makes the whole segment malformed: returns MXG_E_PROTO. */
int tcps_opt_parse(const uint8_t *p, unsigned len, bool syn, struct tcps_opts *o);

/* ---- segment view ---- */

struct tcps_seg {
	uint32_t seq, ack;
	uint32_t wnd;          /* raw 16-bit window */
	uint8_t flags;
	const uint8_t *data;   /* payload, borrowed */
	uint32_t len;          /* payload bytes */
	struct tcps_opts o;
};

/* ---- connection ---- */

enum tcps_timer_kind {
	TCPS_T_TLP,     /* tail loss probe (RFC 8985 7); before RTX: when both
			 * are due the probe goes first and re-arms the RTO */
	TCPS_T_REO,     /* RACK reordering window expiry (RFC 8985 6.2) */
	TCPS_T_RTX,     /* retransmission (incl. SYN, SYN-ACK, FIN) */
	TCPS_T_PERSIST, /* zero-window probe */
	TCPS_T_DELACK,  /* delayed ACK */
	TCPS_T_KEEP,    /* keepalive */
	TCPS_T_2MSL,    /* TIME_WAIT, orphaned FIN_WAIT_2 */
	TCPS_T__MAX
};

struct tcps_listener {
	struct tcps_stack *s;
	struct tcps_listener *next;           /* stack list */
	struct mxg_ip addr;                   /* all-zero: any of its family */
	uint16_t port;
	struct tcps_listen_conf conf;
	struct tcps_listener_callbacks cbs;
	void *ud;
	uint32_t half_open;                   /* SYN_RCVD conns of this listener */
	mxg_tstamp cookie_until;              /* cookie ACKs are checked until then */
};

struct tcps_ring {
	uint8_t *buf;  /* size bytes, power of two */
	uint32_t size;
};

/* ---- RACK-TLP (tcps_rack.c) ---- */

/* One transmission record per segment sent and not yet cumulatively
 * acknowledged, in sequence order: the per-segment send time RACK needs
 * and the SACK/lost state loss recovery works from (the sender's
 * scoreboard). A FIN counts as one sequence number of its record. */
#define TCPS_TXR_SACKED 0x01  /* the peer holds it (SACK) */
#define TCPS_TXR_LOST 0x02    /* deemed lost, not retransmitted since */
#define TCPS_TXR_RETRANS 0x04 /* sent more than once */
#define TCPS_TXR_FIN 0x08     /* carries our FIN (its last sequence number) */

struct tcps_txrec {
	uint32_t seq, end;     /* [seq, end) */
	mxg_tstamp xmit;       /* time of the latest (re)transmission */
	uint8_t flags;         /* TCPS_TXR_* */
};

struct tcps_rack {
	struct tcps_txrec *r;  /* ring of cap records from head; NULL: classic
				* (dupack/NewReno) recovery for this connection */
	uint16_t cap, head, n;
	uint32_t sacked_bytes; /* sequence space of records marked SACKED */
	uint32_t lost_bytes;   /* ... marked LOST (not yet retransmitted) */
	uint32_t sacked_segs;  /* records marked SACKED */
	uint32_t rtx_recs;     /* records marked RETRANS */
	/* RACK (RFC 8985 6) */
	mxg_tstamp xmit;       /* send time of the most recently sent delivered segment */
	uint32_t end_seq;      /* ... its end */
	mxg_tstamp rtt;        /* RTT of that delivery */
	mxg_tstamp min_rtt;    /* 0: no sample yet */
	uint32_t fack;         /* highest delivered end_seq */
	bool reordering_seen;
	bool dsack_round_on;
	uint8_t reo_wnd_mult;  /* 1.. */
	uint8_t reo_wnd_persist;
	uint32_t dsack_round;  /* a DSACK round ends when SND.UNA passes it */
	/* TLP (RFC 8985 7) */
	bool tlp_on;           /* a probe is outstanding (episode open) */
	bool tlp_is_retrans;
	bool tlp_send;         /* tcps_output: one new segment regardless of cwnd */
	uint32_t tlp_end_seq;
	/* undo of a spurious reduction (RFC 2883/3708 D-SACK, RFC 3522/4015
	 * Eifel with timestamps) */
	bool undo_on;          /* an undoable reduction happened */
	bool rto_episode;      /* ... by a timeout */
	bool eifel_pending;    /* the first ACK after the timeout is still to come */
	uint32_t undo_una;     /* SND.UNA when it started */
	uint32_t undo_max;     /* SND.MAX when it started */
	uint32_t undo_retrans; /* retransmissions not (yet) shown spurious by D-SACK */
	bool undo_ts_set;
	uint32_t undo_tsval;   /* our TSval of the first retransmission */
	uint32_t prior_cwnd, prior_ssthresh;
	double prior_wmax;
};

struct tcps_conn {
	struct tcps_stack *s;
	struct tcps_tuple t;                    /* local/remote address and ports */
	struct tcps_listener *lst;              /* while half-open, for accounting */
	enum tcps_state state;
	enum tcps_err err;                      /* reported error, 0 if none */
	const struct tcps_conn_callbacks *cbs;  /* borrowed */
	void *ud;
	bool app_held;      /* the application holds the handle */
	bool dead;          /* unlinked; freed at the next safe point */
	bool in_flow;       /* linked in the flow table */
	bool passive;       /* created by a listener */
	bool fin_queued;    /* app shut down writing: FIN after the data */
	bool fin_rcvd;      /* peer's FIN consumed (rcv_nxt counts it) */
	bool want_writable; /* a send was short: tell on_writable */
	bool ts_ok, sack_ok, ws_ok;
	bool ack_now;       /* send an ACK at the end of input processing */
	bool in_recovery;   /* fast recovery (RFC 6582) */
	bool rtt_timing;    /* rtt_seq is being timed (no timestamps) */
	bool persist;       /* persist mode (zero window) */
	enum tcps_cc_algo cc;
	struct tcps_conn *dead_next;
	struct tcps_conn *ack_next; /* on the stack's held-ACK list (rx batch) */
	bool ack_queued;            /* linked there */
	struct tcps_conn *all_next, *all_prev; /* every conn object of the stack */

	/* send sequence space (RFC 9293 3.3.1) */
	uint32_t iss;
	uint32_t snd_una;
	uint32_t snd_nxt;   /* next to send (rewinds on RTO) */
	uint32_t snd_max;   /* highest sent + 1 */
	uint32_t snd_wnd;   /* scaled */
	uint32_t max_snd_wnd;
	uint32_t snd_wl1, snd_wl2;
	uint8_t snd_wscale; /* peer's shift */
	uint8_t rcv_wscale; /* ours */
	uint16_t mss;       /* effective send MSS (payload, excl. options) */
	uint16_t our_mss;   /* announced */
	struct tcps_ring sndb;
	uint64_t snd_una_off;  /* stream offset of snd_una (after SYN) */
	uint64_t snd_end_off;  /* stream offset after the last queued byte */

	/* receive sequence space */
	uint32_t irs;
	uint32_t rcv_nxt;
	uint32_t rcv_adv;      /* right edge last advertised */
	uint32_t last_ack_sent;
	struct tcps_ring rcvb;
	uint64_t rcv_rd_off;   /* first byte the app has not consumed */
	uint64_t rcv_nxt_off;  /* stream offset of rcv_nxt (data only) */
	bool fin_pending;      /* out-of-order FIN seen at fin_off */
	uint64_t fin_off;
	struct tcps_rob rob;

	/* timestamps (RFC 7323) */
	uint32_t ts_recent;
	uint32_t ts_off;       /* per-connection random offset of our clock */

	/* RTT / RTO (RFC 6298) */
	mxg_tstamp srtt, rttvar, rto;
	uint32_t rtt_seq;
	mxg_tstamp rtt_start;
	uint8_t nrtx;          /* consecutive timeouts (backoff exponent) */
	bool rtx_seen;         /* rtx_tsval is valid */
	uint32_t rtx_tsval;    /* our TSval when we last retransmitted */
	uint32_t total_rtx;
	uint8_t keep_probes;

	/* congestion control */
	uint32_t cwnd, ssthresh;
	uint32_t recover;      /* RFC 6582 */
	uint32_t bytes_acked;  /* congestion avoidance accumulator */
	uint8_t dupacks;
	uint32_t lt_extra;     /* limited transmit allowance above cwnd */
	uint32_t rtx_next;     /* SACK recovery: next hole to retransmit */
	struct {               /* CUBIC (RFC 9438) */
		double w_max;      /* segments */
		double k;          /* seconds */
		double w_est;      /* Reno-friendly estimate, segments */
		mxg_tstamp epoch;  /* start of congestion avoidance, 0: unset */
	} cubic;
	struct tcps_sack_blk sb[TCPS_SB_MAX]; /* peer's SACKed ranges above snd_una */
	uint8_t nsb;
	struct tcps_rack rk;   /* RACK-TLP state and transmission records */
	/* D-SACK to report (RFC 2883): a duplicate segment we received */
	bool dsack_pending;
	uint32_t dsack_l, dsack_r;

	/* delayed ACK */
	uint8_t unacked_segs;
	uint8_t quickack;      /* segments still ACKed at once (start of conn) */

	/* timers */
	mxg_tstamp tm[TCPS_T__MAX]; /* MXG_TS_NONE: off */
	struct tcps_tnode tn;       /* in the wheel at min(tm) */
	mxg_tstamp last_rx;         /* for keepalive */
};

struct tcps_stack {
	struct tcps_stack_conf conf;
	const struct tcps_io_ops *ops;
	void *io;
	const struct mxg_mem *mem;
	struct tcps_wheel wheel;
	struct tcps_flow flow;
	struct tcps_listener *listeners;
	struct tcps_stats stats;
	struct tcps_conn *dead;     /* freed at the next safe point */
	struct tcps_conn *all;      /* every connection object (also CLOSED ones held by the app) */
	int depth;                  /* > 0 inside an entry point */
	mxg_tstamp now;             /* |now| of the latest input/timer/connect call */
	uint16_t next_port;         /* ephemeral port cursor */
	uint64_t cack_sec;          /* challenge ACK rate window (seconds) */
	uint32_t cack_count;
	/* Receive [0] and send [1] buffers given back by closed connections,
	 * kept for the next ones (tcps_stack.c, tcps_conn_alloc_bufs). */
	uint8_t *buf_cache[2][TCPS_BUF_CACHE];
	uint16_t nbuf_cache[2];
	uint64_t buf_cached;        /* bytes in buf_cache; with mem_used <= mem_max */
	bool rx_batch;              /* inside tcps_stack_rx_begin/_end */
	struct tcps_conn *ack_list; /* connections whose ACK is held until rx_end */
	uint8_t scratch[TCPS_SCRATCH];
};

/* tcps_stack.c */
void tcps_conn_destroy(struct tcps_conn *c);
struct tcps_conn *tcps_conn_new(struct tcps_stack *s, const struct tcps_tuple *t);
int tcps_conn_alloc_bufs(struct tcps_conn *c);
/* Frees the send buffer and, if |rcv_too|, the receive buffer. */
void tcps_conn_release_bufs(struct tcps_conn *c, bool rcv_too);
void tcps_stack_enter(struct tcps_stack *s);
/* Holds |c|'s due ACK until tcps_stack_rx_end() (tcps_output, in a batch). */
void tcps_ack_defer(struct tcps_conn *c);
void tcps_stack_leave(struct tcps_stack *s);
uint16_t tcps_mss_for(const struct tcps_stack *s, uint8_t family);
void tcps_ip_of(struct mxg_ip *ip, uint8_t family, const uint8_t a[16]);

/* tcps_conn.c */
void tcps_conn_input(struct tcps_conn *c, struct tcps_seg *sg, mxg_tstamp now);
void tcps_conn_set_state(struct tcps_conn *c, enum tcps_state st, mxg_tstamp now);
void tcps_conn_error_out(struct tcps_conn *c, enum tcps_err err, mxg_tstamp now);
void tcps_conn_established(struct tcps_conn *c, mxg_tstamp now);
void tcps_conn_notify_readable(struct tcps_conn *c);
/* Negotiates MSS, window scale, timestamps and SACK from a SYN or SYN-ACK. */
void tcps_take_syn_opts(struct tcps_conn *c, const struct tcps_seg *sg);

/* tcps_output.c */
/* Sends whatever the windows allow, plus a pending ACK. */
void tcps_output(struct tcps_conn *c, mxg_tstamp now);
/* Sends one segment with |flags| at |seq| carrying |len| bytes from the send
 * buffer at the offset matching |seq|. Returns 0 or the io error. */
int tcps_send_seg(struct tcps_conn *c, uint32_t seq, uint8_t flags, uint32_t len,
		  mxg_tstamp now);
/* Payload bytes that fit in a data segment sent now: c->mss (which already
 * excludes timestamps) less the SACK blocks the segment will carry. */
uint32_t tcps_seg_room(const struct tcps_conn *c);
void tcps_send_ack(struct tcps_conn *c, mxg_tstamp now);
/* Remembers [l, r), a duplicate we received, for the first SACK block of
 * the next segment we send (D-SACK, RFC 2883). */
void tcps_dsack_note(struct tcps_conn *c, uint32_t l, uint32_t r);
void tcps_send_challenge_ack(struct tcps_conn *c, mxg_tstamp now);
void tcps_send_rst(struct tcps_conn *c, mxg_tstamp now);
/* Stateless reply to a segment that matches no connection (RFC 9293 3.10.7.1). */
void tcps_send_rst_for(struct tcps_stack *s, const struct tcps_tuple *t,
		       const struct tcps_seg *sg, mxg_tstamp now);
/* SYN-ACK from a listener with a cookie (no connection state). */
void tcps_send_synack_stateless(struct tcps_stack *s, const struct tcps_tuple *t,
				uint32_t iss, uint32_t ack, uint16_t mss, const struct tcps_opts *peer,
				uint32_t tsval, uint8_t wscale, mxg_tstamp now);
uint32_t tcps_rcv_window(const struct tcps_conn *c);
uint32_t tcps_ts_now(const struct tcps_conn *c, mxg_tstamp now);
void tcps_rto_timeout(struct tcps_conn *c, mxg_tstamp now);
void tcps_persist_timeout(struct tcps_conn *c, mxg_tstamp now);
uint32_t tcps_flight(const struct tcps_conn *c);

/* tcps_timer.c (per-connection timers on the wheel) */
void tcps_timer_set(struct tcps_conn *c, enum tcps_timer_kind k, mxg_tstamp when);
void tcps_timer_stop(struct tcps_conn *c, enum tcps_timer_kind k);
void tcps_timer_stop_all(struct tcps_conn *c);
void tcps_conn_on_timer(struct tcps_conn *c, mxg_tstamp now);
void tcps_rto_rearm(struct tcps_conn *c, mxg_tstamp now);

/* tcps_rack.c: RACK-TLP loss detection (RFC 8985) over transmission
 * records, D-SACK and Eifel-style undo, used when SACK is on. */
static inline bool tcps_rack_on(const struct tcps_conn *c) { return c->rk.r != NULL; }
/* Allocates the records once SACK is agreed and buffers exist (no-op if
 * done, SACK off, or no memory: then the connection keeps the classic
 * recovery). */
void tcps_rack_init(struct tcps_conn *c);
void tcps_rack_release(struct tcps_conn *c);
/* Records a transmission of [seq, end) (|fin|: the FIN is end - 1). */
void tcps_rack_sent(struct tcps_conn *c, uint32_t seq, uint32_t end, bool fin, bool rtx,
		    mxg_tstamp now);
/* ACK processing for a RACK connection, after SND.UNA moved to sg->ack
 * (|prior_una| before). */
void tcps_rack_on_ack(struct tcps_conn *c, const struct tcps_seg *sg, uint32_t prior_una,
		      mxg_tstamp now);
/* Sends LOST records (retransmissions) while the congestion window
 * allows; returns the number of segments sent. */
unsigned tcps_rack_retransmit(struct tcps_conn *c, mxg_tstamp now);
/* Estimated bytes in the network (RFC 6675 pipe). */
uint32_t tcps_rack_pipe(const struct tcps_conn *c);
void tcps_rack_on_rto(struct tcps_conn *c, mxg_tstamp now);
void tcps_rack_reo_timeout(struct tcps_conn *c, mxg_tstamp now);
void tcps_rack_tlp_timeout(struct tcps_conn *c, mxg_tstamp now);
/* (Re)arms the probe timer after new data was sent or acknowledged. */
void tcps_rack_arm_tlp(struct tcps_conn *c, mxg_tstamp now);

/* tcps_cc.c */
void tcps_cc_init(struct tcps_conn *c);
void tcps_cc_on_ack(struct tcps_conn *c, uint32_t acked, mxg_tstamp now);
/* Loss detected by dupacks/SACK: sets ssthresh (and CUBIC state). */
void tcps_cc_on_loss(struct tcps_conn *c, mxg_tstamp now);
void tcps_cc_on_rto(struct tcps_conn *c, mxg_tstamp now);

/* ring helpers (tcps_output.c) */
void tcps_ring_write(struct tcps_ring *r, uint64_t off, const uint8_t *p, uint32_t n);
void tcps_ring_read(const struct tcps_ring *r, uint64_t off, uint8_t *p, uint32_t n);

uint16_t tcps_csum(const struct mxg_ip *src, const struct mxg_ip *dst, const uint8_t *p,
		   uint32_t len);

static inline bool tcps_state_synced(enum tcps_state st)
{
	return st >= TCPS_ST_ESTABLISHED || st == TCPS_ST_SYN_RCVD;
}

static inline uint32_t tcps_min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static inline uint32_t tcps_max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

#endif
