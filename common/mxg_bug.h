/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mxg_bug.h - invariant checks.
 *
 * MXG_BUG_ON(cond) aborts in debug and test builds (MXG_DEBUG_BUILD) with file and
 * line, and in release builds logs once per site, counts the event in
 * mxg_bug_count and evaluates to true so the caller can drop the flow:
 *
 *	if (MXG_BUG_ON(seg->len > conn->rcv_wnd))
 *		return MXG_E_INTERNAL;
 */
#ifndef MXG_BUG_H
#define MXG_BUG_H

#include <stdint.h>

extern uint64_t mxg_bug_count; /* release builds: bugs survived */

void mxg_bug_report(const char *file, int line, const char *cond);

#define MXG_BUG_ON(cond)                                                       \
	(__builtin_expect(!!(cond), 0) ? (mxg_bug_report(__FILE__, __LINE__, #cond), 1) : 0)

#endif
