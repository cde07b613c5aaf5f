/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps.h - the sans-IO TCP of the dataplane (public API).
 *
 * One struct tcps_stack per lcore: it owns every connection, listener, the
 * flow table and one timer wheel. Nothing is global, nothing is locked, no
 * clock is read: every call that may act on time takes |now| (nanoseconds,
 * monotonic, mxg_time.h). The stack never includes a DPDK header and never
 * talks to tcps_if directly: segments leave through struct tcps_io_ops, which
 * the dataplane wires to tcps_if_output() and unit tests to arrays.
 *
 * Standards: RFC 9293 (TCP), RFC 7323 (window scale, timestamps: RTTM and
 * PAWS), RFC 2018 (SACK), RFC 6298 (RTO), RFC 5681 + RFC 6582 (congestion
 * control, NewReno), RFC 6675 (SACK loss recovery, simplified: see
 * tcps_conn.c), RFC 9438 (CUBIC), RFC 5961 (challenge ACKs), RFC 6528
 * (ISNs), RFC 4987 (SYN cookies), RFC 1122 4.2.3.6 (keepalive), RFC 862/863
 * (echo/discard test services, tcps_svc.c).
 *
 * Application model (callback style, STYLE.md 2.1). A connection handle is
 * held by the application from the moment it gets it (on_accept, or
 * tcps_connect()) until it calls tcps_conn_close() or tcps_conn_abort();
 * the protocol state may live on after that (FIN_WAIT, TIME_WAIT) and is the
 * stack's business. Callbacks are invoked from inside tcps_stack_input(),
 * tcps_stack_on_timer() and tcps_conn_* calls; they may call any tcps_conn_*
 * function on the connection they are given, including close/abort (the
 * stack defers the free to a safe point). They must not call
 * tcps_stack_input() or tcps_stack_on_timer() recursively.
 *
 * Receive path: in-order bytes are copied into a bounded per-connection
 * receive buffer; the application reads them with tcps_conn_recv() or, to
 * avoid a copy, tcps_conn_peek() + tcps_conn_consume(). Back-pressure is
 * natural: the advertised window is exactly the free space of that buffer,
 * so a slow application closes the window instead of growing memory. The
 * peek/consume pair is the seam for zero-copy later: it will return segment
 * handles wrapping mbufs (struct tcps_seg, F-Stack m_extadd style) instead
 * of a contiguous span, without changing the consume contract.
 *
 * Limits (struct tcps_stack_conf): connections per stack, half-open SYNs
 * per listener (beyond it, SYN cookies), receive/send buffer per
 * connection, buffer memory in total (a connection that cannot get its
 * buffers is refused with RST), out-of-order ranges per connection.
 */
#ifndef TCPS_H
#define TCPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxg_addr.h"
#include "mxg_mem.h"
#include "mxg_time.h"

struct tcps_stack;
struct tcps_conn;
struct tcps_listener;

/* Connection states (RFC 9293 3.3.2). */
enum tcps_state {
	TCPS_ST_CLOSED,
	TCPS_ST_LISTEN,      /* listeners only */
	TCPS_ST_SYN_SENT,
	TCPS_ST_SYN_RCVD,
	TCPS_ST_ESTABLISHED,
	TCPS_ST_FIN_WAIT_1,
	TCPS_ST_FIN_WAIT_2,
	TCPS_ST_CLOSE_WAIT,
	TCPS_ST_CLOSING,
	TCPS_ST_LAST_ACK,
	TCPS_ST_TIME_WAIT,
	TCPS_ST__MAX
};

/* Why a connection ended abnormally (on_error). */
enum tcps_err {
	TCPS_ERR_RESET = 1,   /* RST received (ECONNRESET) */
	TCPS_ERR_REFUSED,     /* RST in answer to our SYN (ECONNREFUSED) */
	TCPS_ERR_TIMEOUT,     /* retransmissions or SYN retries exhausted */
	TCPS_ERR_KEEPALIVE,   /* keepalive probes unanswered */
	TCPS_ERR_NOMEM,       /* buffers could not be allocated (limits) */
};

/* Congestion controllers, selectable per listener or per connect. */
enum tcps_cc_algo {
	TCPS_CC_NEWRENO, /* RFC 5681 + RFC 6582 */
	TCPS_CC_CUBIC,   /* RFC 9438 */
};

/* Stack-wide counters. Plain uint64_t written only by the owning lcore. */
struct tcps_stats {
	uint64_t rx_segs, tx_segs;          /* segments in / out */
	uint64_t rx_bad_csum;               /* dropped: checksum */
	uint64_t rx_malformed;              /* dropped: header or options malformed */
	uint64_t rx_no_conn;                /* no flow, no listener: RST sent */
	uint64_t rx_paws;                   /* dropped by PAWS */
	uint64_t rx_out_of_window;          /* unacceptable sequence */
	uint64_t rx_ooo;                    /* out-of-order segments queued */
	uint64_t rx_ooo_drop;               /* out-of-order dropped (range limit) */
	uint64_t rx_dup_bytes;              /* bytes already received (dropped) */
	uint64_t challenge_acks;            /* RFC 5961 challenge ACKs sent */
	uint64_t challenge_ack_limited;     /* challenge ACKs suppressed by rate */
	uint64_t rst_sent, rst_rcvd;
	uint64_t syncookies_sent;           /* SYN-ACKs carrying a cookie */
	uint64_t syncookies_ok;             /* valid cookie ACKs */
	uint64_t syncookies_bad;            /* ACKs to a listener failing the cookie */
	uint64_t listen_overflow;           /* SYNs dropped: no cookie possible */
	uint64_t conn_limit;                /* refused: connection limit */
	uint64_t mem_limit;                 /* refused: memory limit */
	uint64_t retransmits;               /* segments retransmitted */
	uint64_t rto_fired;                 /* retransmission timeouts */
	uint64_t fast_retransmits;          /* entries into fast recovery */
	uint64_t rack_lost;                 /* segments RACK deemed lost (RFC 8985) */
	uint64_t tlp_probes;                /* tail loss probes sent */
	uint64_t spurious_undos;            /* reductions undone: D-SACK / Eifel */
	uint64_t dsack_rcvd, dsack_sent;    /* D-SACK blocks (RFC 2883) */
	uint64_t persist_probes;            /* zero-window probes */
	uint64_t keepalive_probes;
	uint64_t tx_errors;                 /* io->output failures */
	uint64_t active_opens, passive_opens;
	uint64_t conns;                     /* live connection objects (gauge) */
	uint64_t mem_used;                  /* buffer bytes allocated (gauge) */
};

/* Output seam. The stack builds a complete TCP segment (header, options,
 * payload, checksum filled in) in its own scratch buffer and hands it out.
 * |seg| is borrowed: valid only during the call (copy it into a frame, e.g.
 * through tcps_if_output's fill callback). Returns 0, or a negative MXG_E_*
 * code: the segment then counts as lost (tx_errors) and the normal
 * retransmission timers recover. */
struct tcps_io_ops {
	int (*output)(void *io, const struct mxg_ip *src, const struct mxg_ip *dst,
		      const uint8_t *seg, uint16_t len, mxg_tstamp now);
};

struct tcps_stack_conf {
	uint8_t secret[16];        /* key for ISNs, cookies and flow hash; MUST be random */
	uint16_t mtu;              /* IP MTU (0: 1500); MSS = mtu - 40 (v4) / - 60 (v6) */
	uint32_t max_conns;        /* connection objects incl. TIME_WAIT (0: 65536) */
	uint32_t rcvbuf;           /* receive buffer per connection (0: 256 KiB) */
	uint32_t sndbuf;           /* send buffer per connection (0: 256 KiB) */
	uint64_t mem_max;          /* all connection buffers together (0: 1 GiB) */
	uint16_t ooo_max_ranges;   /* out-of-order holes kept per conn (0: 128, max 256) */
	mxg_tstamp time_wait;      /* TIME_WAIT duration, 2 MSL (0: 60 s) */
	mxg_tstamp rto_init;       /* initial RTO (0: 1 s, RFC 6298 2.1) */
	mxg_tstamp rto_min;        /* (0: 200 ms) */
	mxg_tstamp rto_max;        /* (0: 120 s) */
	uint8_t syn_retries;       /* SYN / SYN-ACK retransmissions (0: 5) */
	uint8_t max_retries;       /* data retransmissions before TCPS_ERR_TIMEOUT (0: 12) */
	mxg_tstamp delack;         /* delayed ACK timer (0: 40 ms) */
	mxg_tstamp keepalive_idle; /* 0: keepalive off */
	mxg_tstamp keepalive_intvl;/* (0: 75 s) */
	uint8_t keepalive_cnt;     /* (0: 9) */
	mxg_tstamp fin_wait2;      /* orphaned FIN_WAIT_2 timeout (0: 60 s) */
	uint32_t challenge_ack_per_sec; /* RFC 5961 10 rate limit (0: 1000) */
	bool no_timestamps;        /* do not offer/accept RFC 7323 timestamps */
	bool no_sack;              /* do not offer/accept SACK */
	bool no_wscale;            /* do not offer/accept window scaling */
	bool no_tlp;               /* no tail loss probes (RACK stays on with SACK) */
	bool no_quickack;          /* delay ACKs from the first segment (default: the
				    * first 16 data segments are ACKed at once, as
				    * Linux does, so slow start is not slowed) */
	bool rx_csum_ok;           /* NIC verified the checksum: skip it */
	bool tx_csum_offload;      /* leave the checksum field 0 (NIC fills it) */
};

/* Per-connection event callbacks; every one is optional (NULL). */
struct tcps_conn_callbacks {
	/* Active open completed (SYN_SENT -> ESTABLISHED). */
	void (*on_connected)(struct tcps_conn *c, void *ud);
	/* In-order bytes are waiting, or the peer's FIN arrived
	 * (tcps_conn_eof() becomes true). Level information: call
	 * tcps_conn_readable() for the count. */
	void (*on_readable)(struct tcps_conn *c, void *ud);
	/* Send space appeared after tcps_conn_send() accepted less than
	 * asked, or everything sent has been acknowledged. */
	void (*on_writable)(struct tcps_conn *c, void *ud);
	/* The connection ended abnormally (reset, timeout). The handle stays
	 * valid until the application calls tcps_conn_close(). */
	void (*on_error)(struct tcps_conn *c, enum tcps_err err, void *ud);
};

struct tcps_listener_callbacks {
	/* A passive open completed. |c| is now held by the application, which
	 * sets its callbacks with tcps_conn_set_callbacks() (data in the same
	 * segment is delivered after this returns). Return 0 to keep it, or
	 * any negative value to refuse: the stack resets it and frees it. */
	int (*on_accept)(struct tcps_listener *l, struct tcps_conn *c, void *ud);
};

struct tcps_listen_conf {
	uint16_t backlog;          /* half-open (SYN_RCVD) conns; beyond: SYN cookies (0: 128) */
	enum tcps_cc_algo cc;      /* congestion control of accepted conns */
	bool no_syncookies;        /* drop SYNs instead of cookies when full */
};

/* Creates a stack. |conf| is copied (zero fields take the defaults noted
 * above); |io| and |ops| are borrowed for the stack's life; |mem| NULL means
 * mxg_mem_default(). Returns NULL when allocation fails. */
struct tcps_stack *tcps_stack_new(const struct tcps_stack_conf *conf,
				  const struct tcps_io_ops *ops, void *io,
				  const struct mxg_mem *mem);
/* Frees the stack, every connection and listener without sending anything
 * and without callbacks. Handles held by the application become invalid.
 * NULL is allowed. */
void tcps_stack_free(struct tcps_stack *s);

/* Processes one received TCP segment: |seg| (TCP header + payload, padding
 * excluded, borrowed: valid during the call) from |src| to |dst| (as parsed
 * by tcps_if_input, struct tcps_pktinfo). Never fails: bad segments are
 * counted and dropped, answered with RST or ACK as RFC 9293 says. May call
 * callbacks and io->output. Returns 0. */
int tcps_stack_input(struct tcps_stack *s, const struct mxg_ip *src, const struct mxg_ip *dst,
		     const uint8_t *seg, uint16_t len, mxg_tstamp now);

/* Optional batch around the tcps_stack_input() calls of one receive burst
 * (the dataplane brackets each poll). Inside it, an ACK that in-order data
 * calls for is held and sent once per connection by tcps_stack_rx_end(),
 * unless a data segment carried it first: a burst of N segments of one
 * flow costs one ACK, not N / 2 (as Linux ACKs once per GRO aggregate).
 * Duplicate ACKs (out-of-order data, holes) still leave at once. Between
 * the two calls no connection is freed. Not nested; without them every
 * ACK leaves as soon as it is due. */
void tcps_stack_rx_begin(struct tcps_stack *s);
void tcps_stack_rx_end(struct tcps_stack *s, mxg_tstamp now);

/* The time before which tcps_stack_on_timer() need not run, or MXG_TS_NONE
 * when no timer is armed. It may be early (wheel granularity, 1 ms), never
 * late. */
mxg_tstamp tcps_stack_deadline(const struct tcps_stack *s);
/* Runs every timer due at |now| (retransmission, persist, delayed ACK,
 * keepalive, TIME_WAIT). May call callbacks and io->output. */
void tcps_stack_on_timer(struct tcps_stack *s, mxg_tstamp now);

const struct tcps_stats *tcps_stack_stats(const struct tcps_stack *s);

/* Listens on |addr|:|port|; |addr| of family 4 or 6 with all-zero bytes
 * means any address of that family. |conf| is copied (NULL: defaults),
 * |cbs| and |ud| borrowed until tcps_listener_close(). Returns the
 * listener, or NULL (out of memory, or MXG_E_EXIST: already listening,
 * reported through *err when |err| is not NULL). */
struct tcps_listener *tcps_listen(struct tcps_stack *s, const struct mxg_ip *addr, uint16_t port,
				  const struct tcps_listen_conf *conf,
				  const struct tcps_listener_callbacks *cbs, void *ud, int *err);
/* Stops listening; half-open connections of the listener are reset and
 * freed, established ones are unaffected. NULL is allowed. */
void tcps_listener_close(struct tcps_listener *l);

/* Opens a connection from |laddr|:|lport| to |raddr|:|rport| and sends the
 * SYN. |lport| 0 picks an ephemeral port free for that 4-tuple (the
 * dataplane passes an explicit port when RSS must bring replies back to
 * this lcore). |cbs| and |ud| are borrowed until close. Returns 0 and the
 * handle in *out (held by the application), or MXG_E_EXIST (4-tuple in
 * use), MXG_E_RANGE (connection limit or no free port), MXG_E_NOMEM,
 * MXG_E_INVAL (families differ). */
int tcps_connect(struct tcps_stack *s, const struct mxg_ip *laddr, uint16_t lport,
		 const struct mxg_ip *raddr, uint16_t rport, enum tcps_cc_algo cc,
		 const struct tcps_conn_callbacks *cbs, void *ud, mxg_tstamp now,
		 struct tcps_conn **out);

/* Sets the callbacks (borrowed) and user data of |c|. */
void tcps_conn_set_callbacks(struct tcps_conn *c, const struct tcps_conn_callbacks *cbs,
			     void *ud);

/* Queues up to |len| bytes of |data| (borrowed, copied) for sending.
 * Returns the number of bytes accepted (0..len; fewer when the send buffer
 * is full: on_writable follows when space appears), MXG_E_AGAIN before the
 * connection is established, or MXG_E_PROTO after shutdown/close or an
 * error. */
long tcps_conn_send(struct tcps_conn *c, const uint8_t *data, size_t len, mxg_tstamp now);
/* Free space in the send buffer (what tcps_conn_send would accept now). */
size_t tcps_conn_writable(const struct tcps_conn *c);

/* Number of in-order received bytes waiting for the application. */
size_t tcps_conn_readable(const struct tcps_conn *c);
/* True once the peer's FIN has been received and every byte before it has
 * been read. */
bool tcps_conn_eof(const struct tcps_conn *c);
/* Copies up to |len| received bytes into |buf| and consumes them. Returns
 * the count (0: nothing waiting; see tcps_conn_eof). */
size_t tcps_conn_recv(struct tcps_conn *c, uint8_t *buf, size_t len, mxg_tstamp now);
/* Zero-copy read: sets *p to the first contiguous span of received bytes
 * and returns its length (may be less than tcps_conn_readable() at the
 * buffer's wrap point). *p is lent out until the next tcps_conn_consume()
 * or any call that may process input for |c|. */
size_t tcps_conn_peek(const struct tcps_conn *c, const uint8_t **p);
/* Releases |n| bytes (n <= readable) seen through tcps_conn_peek(); may
 * send a window update. */
void tcps_conn_consume(struct tcps_conn *c, size_t n, mxg_tstamp now);

/* Half-close: sends FIN after the queued data. Receiving continues.
 * Returns 0, or MXG_E_PROTO when already shut down / not connected. */
int tcps_conn_shutdown(struct tcps_conn *c, mxg_tstamp now);
/* Releases the application's handle. The connection is closed gracefully
 * (FIN after queued data, then FIN_WAIT/TIME_WAIT handled by the stack);
 * if unread received data is pending it is reset instead (RFC 9293
 * 3.10.4, as Linux). |c| must not be used after this call and receives no
 * further callback. */
void tcps_conn_close(struct tcps_conn *c, mxg_tstamp now);
/* Releases the handle and resets the connection (RST sent if
 * synchronized). |c| must not be used after this call. */
void tcps_conn_abort(struct tcps_conn *c, mxg_tstamp now);

/* The |now| of the tcps_stack_input(), tcps_stack_on_timer() or
 * tcps_connect() call in progress (inside a callback) or of the latest one:
 * what a callback passes to tcps_conn_send() and friends. */
mxg_tstamp tcps_conn_now(const struct tcps_conn *c);

enum tcps_state tcps_conn_state(const struct tcps_conn *c);
/* The error reported through on_error, or 0. */
enum tcps_err tcps_conn_error(const struct tcps_conn *c);
void tcps_conn_addrs(const struct tcps_conn *c, struct mxg_ip *laddr, uint16_t *lport,
		     struct mxg_ip *raddr, uint16_t *rport);
/* Static name such as "ESTABLISHED". */
const char *tcps_state_name(enum tcps_state st);

/* Introspection for tests and telemetry. */
struct tcps_conn_info {
	enum tcps_state state;
	uint32_t snd_una, snd_nxt, snd_wnd, rcv_nxt, rcv_wnd;
	uint32_t iss, irs;
	uint32_t cwnd, ssthresh, mss;
	uint8_t snd_wscale, rcv_wscale;
	bool ts_ok, sack_ok;
	mxg_tstamp srtt, rttvar, rto;   /* nanoseconds */
	uint32_t retransmits;
	size_t snd_queued;              /* bytes in the send buffer (unacked + unsent) */
};
void tcps_conn_info(const struct tcps_conn *c, struct tcps_conn_info *out);

/* RFC 862 echo and RFC 863 discard on |addr| (any if all-zero) ports 7
 * and 9 (test_services = yes). Returns 0 or the tcps_listen error. */
int tcps_svc_start(struct tcps_stack *s, const struct mxg_ip *addr);

/* Test-only relay (tcps_svc_relay.c, off by default): a connection to
 * port TCPS_SVC_RELAY_PORT on |addr| makes the stack connect to |cf|'s
 * server of the same family (refused if none) and copies bytes and FINs
 * both ways; used to test active opens against kernel servers. |cf| is
 * borrowed for the stack's lifetime. Returns 0 (*out: the service) or the
 * tcps_listen error. tcps_svc_relay_free, after tcps_stack_free, frees the
 * relays still alive then (the stack frees connections without callbacks). */
#define TCPS_SVC_RELAY_PORT 8
struct tcps_relay_conf {
	struct mxg_ip to4, to6;  /* family 0: none */
	uint16_t to_port;
};
struct tcps_relay_svc;
int tcps_svc_relay_start(struct tcps_stack *s, const struct mxg_ip *addr,
			 const struct tcps_relay_conf *cf, struct tcps_relay_svc **out);
void tcps_svc_relay_free(struct tcps_relay_svc *svc);
/* The stack |c| belongs to (for a service that opens connections from a
 * callback). */
struct tcps_stack *tcps_conn_stack(const struct tcps_conn *c);

#endif
