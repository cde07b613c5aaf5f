/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mxg_chan.h - the control channel's framing, shared by the dataplane's
 * service thread (dataplane/dp_ctl.c) and mxgate-control (control/ctl_chan.c).
 *
 * Sans-IO: bytes in, frames out. The transport is a Unix stream socket that
 * mxgate-control listens on ([control] channel_socket) and every dataplane
 * connects to ([dataplane] control_socket); either side may restart, the
 * dataplane reconnects with backoff.
 *
 * FRAME
 *	u32 length (big endian) of what follows, u8 type, payload. A length of
 *	0 or above MXG_CHAN_FRAME_MAX, or an unknown type, is a protocol error:
 *	the receiver closes the connection (and counts it).
 *
 * TYPES (D = dataplane, C = control)
 *	HELLO      D->C JSON {"node", "pid", "version", "policy_version"}
 *	POLICY     C->D JSON policy snapshot (control/pol.h), "version" inside
 *	POLICY_ACK D->C JSON {"version", "ok", "error"}: what the dataplane runs
 *	TRACK      D->C JSON tracking record: one message, its recipients
 *	QUAR       D->C u64 request id, u32 n, n bytes of JSON metadata, then
 *	           the raw message (the rest of the frame)
 *	QUAR_ACK   C->D u64 request id, u8 status (0 stored, 1 failed), u64
 *	           quarantine id, then an error text (the rest of the frame).
 *	           Sent only after the row is committed (status 0) or the
 *	           insert failed / the database is down (status 1).
 *	BLOCKLIST  C->D JSON {"version": N, "entries": [{"prefix": "198.51.100.0/24",
 *	           "reason": "...", "source": "admin"|"profiler", "expires_at":
 *	           epoch seconds or null (never)}]}: the whole live sender
 *	           blocklist (control/sql/0004_blocklist.sql), sent after HELLO
 *	           and after every change (NOTIFY mxg_blocklist, coalesced).
 *	           The dataplane applies the difference with the list it
 *	           applied before (dataplane/dp_ctl.c).
 *	DNSBL_QUERY  D->C u64 request id, then the client's IP address as
 *	           text (the rest of the frame): a reputation lookup
 *	           (control/ctl_dnsbl.c) the dataplane holds a greeting for.
 *	DNSBL_ANSWER C->D u64 request id, u8 verdict (0 pass, 1 reject, 2
 *	           tempfail, 3 timeout), u32 TTL in seconds (how long the
 *	           dataplane may cache it; 0 = not at all), then text: the DNS
 *	           zone, one space, the code (the listing address, e.g.
 *	           "bl.example 127.0.0.2"; "" when nothing is listed). Verdict 0
 *	           with a zone: a "score" zone listed the client (served,
 *	           recorded). Verdict 3: a zone did not answer in time; the code
 *	           is dnsbl_default_action (accept, reject or tempfail). Exactly
 *	           one answer per query.
 *
 * Integers are big endian. The request id is the dataplane's: it routes
 * the answer to the worker and session that wait for it.
 */
#ifndef MXG_CHAN_H
#define MXG_CHAN_H

#include <stddef.h>
#include <stdint.h>

#define MXG_CHAN_FRAME_MAX (64u * 1024 * 1024 + 4096) /* a quarantined message + meta */
#define MXG_CHAN_HDR_LEN 5

enum mxg_chan_type {
	MXG_CHAN_HELLO = 1,
	MXG_CHAN_POLICY = 2,
	MXG_CHAN_POLICY_ACK = 3,
	MXG_CHAN_TRACK = 4,
	MXG_CHAN_QUAR = 5,
	MXG_CHAN_QUAR_ACK = 6,
	MXG_CHAN_BLOCKLIST = 7,
	MXG_CHAN_DNSBL_QUERY = 8,
	MXG_CHAN_DNSBL_ANSWER = 9,
	MXG_CHAN_TYPE_MAX = 9,
};

/* Writes the 5-byte header of a frame of |type| with |payload_len| bytes. */
void mxg_chan_hdr(uint8_t out[MXG_CHAN_HDR_LEN], enum mxg_chan_type type, size_t payload_len);

/* A frame as received: |payload| borrowed until the callback returns. */
typedef int mxg_chan_frame_fn(enum mxg_chan_type type, const uint8_t *payload, size_t len,
			      void *ud);

/* Reassembly buffer of one connection. Zero-initialise; mxg_chan_rx_free
 * at the end. */
struct mxg_chan_rx {
	uint8_t *buf;
	size_t len, cap;
};

/* Appends |n| bytes and calls |fn| for every complete frame, in order.
 * Returns 0, the first non-zero value |fn| returned, MXG_E_PROTO (bad
 * length or type: close the connection) or MXG_E_NOMEM. */
int mxg_chan_rx_feed(struct mxg_chan_rx *rx, const uint8_t *p, size_t n, mxg_chan_frame_fn *fn,
		     void *ud);
void mxg_chan_rx_free(struct mxg_chan_rx *rx);

static inline void mxg_chan_put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t mxg_chan_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void mxg_chan_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t mxg_chan_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
