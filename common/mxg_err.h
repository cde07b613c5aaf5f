/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mxg_err.h - error codes shared by every mxgate module.
 *
 * Three kinds of error (docs/architecture.md, "Errors"):
 *  - the peer misbehaved: counted as an anomaly by the module, never an error
 *    code that reaches the core loop;
 *  - a resource ran out or the environment failed: a negative MXG_E_* code.
 *    Codes at or below MXG_E_FATAL end only the connection concerned (for mail
 *    the client gets a 4xx);
 *  - our own bug: MXG_BUG_ON (mxg_bug.h).
 * "Need more data" is never an error: functions return 0 for it.
 */
#ifndef MXG_ERR_H
#define MXG_ERR_H

enum mxg_err {
	MXG_OK = 0,
	MXG_E_AGAIN = -1,     /* would block / try later (not fatal) */
	MXG_E_INVAL = -2,     /* bad argument or input rejected */
	MXG_E_RANGE = -3,     /* value out of range / limit exceeded */
	MXG_E_EXIST = -4,     /* already exists */
	MXG_E_NOENT = -5,     /* not found */
	MXG_E_IO = -6,        /* system call failed, see errno */
	MXG_E_PROTO = -7,     /* peer broke the protocol */
	MXG_E_FATAL = -100,   /* at or below: the connection must end */
	MXG_E_NOMEM = -101,   /* allocation failed */
	MXG_E_NOBUFS = -102,  /* no packet buffer (mbuf) */
	MXG_E_INTERNAL = -103 /* invariant broken (a bug, see MXG_BUG_ON) */
};

static inline int mxg_is_fatal(int rc) { return rc <= MXG_E_FATAL; }

/* Returns a static English description of |rc| (never NULL). */
const char *mxg_strerror(int rc);

#endif
