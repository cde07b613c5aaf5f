/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mxg_time.h - time as the engines see it.
 *
 * The sans-IO engines (tcpstack, smtp, scan) never read a clock: the caller
 * passes |now| in every call and asks for the next deadline. Time is a
 * monotonic count of nanoseconds (mxg_tstamp); MXG_TS_NONE means "no
 * deadline". Only the process glue (dataplane, control, tests) calls
 * mxg_now().
 */
#ifndef MXG_TIME_H
#define MXG_TIME_H

#include <stdint.h>
#include <time.h>

typedef uint64_t mxg_tstamp;

#define MXG_TS_NONE UINT64_MAX
#define MXG_NSEC_PER_USEC 1000ULL
#define MXG_NSEC_PER_MSEC 1000000ULL
#define MXG_NSEC_PER_SEC 1000000000ULL

/* Monotonic now in nanoseconds (CLOCK_MONOTONIC). Not for the engines. */
static inline mxg_tstamp mxg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (mxg_tstamp)ts.tv_sec * MXG_NSEC_PER_SEC + (mxg_tstamp)ts.tv_nsec;
}

static inline mxg_tstamp mxg_ts_min(mxg_tstamp a, mxg_tstamp b) { return a < b ? a : b; }

#endif
