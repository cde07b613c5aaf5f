/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp_test.h - shared helpers of the TCP unit tests: an output seam that
 * captures segments, a segment builder and parser, a failing allocator.
 */
#ifndef TCP_TEST_H
#define TCP_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxg_mem.h"
#include "tcps.h"

#define TT_SEGMAX 9300
#define TT_QMAX 512

struct tt_cap {
	uint8_t b[TT_SEGMAX];
	uint16_t len;
	mxg_tstamp ts;
	struct mxg_ip src, dst;
};

struct tt_io {
	struct tt_cap *q; /* TT_QMAX entries */
	int n;
	struct tcps_io_ops ops;
};

struct tt_seg {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const uint8_t *opt;
	unsigned optlen;
	const uint8_t *data;
	uint32_t len;
};

void tt_io_init(struct tt_io *io);
void tt_io_fini(struct tt_io *io);
/* Default test conf (fixed secret, small buffers unless changed). */
void tt_conf(struct tcps_stack_conf *cf);
/* Builds a segment with a correct checksum into |b|; returns its length. */
uint16_t tt_build(uint8_t *b, const struct mxg_ip *src, const struct mxg_ip *dst,
		  const struct tt_seg *s);
/* Builds and feeds a segment from |src| to |dst|. */
void tt_input(struct tcps_stack *st, const struct mxg_ip *src, const struct mxg_ip *dst,
	      const struct tt_seg *s, mxg_tstamp now);
void tt_parse(const struct tt_cap *c, struct tt_seg *s);
/* Finds option |kind| in a parsed segment; returns a pointer to it or NULL. */
const uint8_t *tt_opt(const struct tt_seg *s, uint8_t kind);
/* Runs timers up to |t|. */
void tt_advance(struct tcps_stack *st, mxg_tstamp *now, mxg_tstamp t);

/* Allocator failing every allocation after |budget| successes (-1: never). */
struct tt_failmem {
	struct mxg_mem mem;
	long budget;
	long count;
};
void tt_failmem_init(struct tt_failmem *f, long budget);

/* Deterministic PRNG (xorshift64*). */
uint64_t tt_rand(uint64_t *s);

#define TT_F_FIN 0x01
#define TT_F_SYN 0x02
#define TT_F_RST 0x04
#define TT_F_PSH 0x08
#define TT_F_ACK 0x10

#endif
