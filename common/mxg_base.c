/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mxg_base.c - error strings, the default allocator, MXG_BUG_ON reporting
 * and logging. Small enough to share one file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxg_bug.h"
#include "mxg_err.h"
#include "mxg_log.h"
#include "mxg_mem.h"

const char *mxg_strerror(int rc)
{
	switch (rc) {
	case MXG_OK: return "success";
	case MXG_E_AGAIN: return "try again";
	case MXG_E_INVAL: return "invalid argument or input";
	case MXG_E_RANGE: return "out of range or limit exceeded";
	case MXG_E_EXIST: return "already exists";
	case MXG_E_NOENT: return "not found";
	case MXG_E_IO: return "I/O error";
	case MXG_E_PROTO: return "protocol error";
	case MXG_E_FATAL: return "fatal error";
	case MXG_E_NOMEM: return "out of memory";
	case MXG_E_NOBUFS: return "no packet buffers";
	case MXG_E_INTERNAL: return "internal error";
	default: return "unknown error";
	}
}

static void *libc_malloc(size_t n, void *ud) { (void)ud; return malloc(n); }
static void *libc_calloc(size_t n, size_t sz, void *ud) { (void)ud; return calloc(n, sz); }
static void *libc_realloc(void *p, size_t n, void *ud) { (void)ud; return realloc(p, n); }
static void libc_free(void *p, void *ud) { (void)ud; free(p); }

static const struct mxg_mem libc_mem = {
	.malloc = libc_malloc,
	.calloc = libc_calloc,
	.realloc = libc_realloc,
	.free = libc_free,
};

const struct mxg_mem *mxg_mem_default(void) { return &libc_mem; }

uint64_t mxg_bug_count;

void mxg_bug_report(const char *file, int line, const char *cond)
{
	mxg_log(MXG_LOG_ERR, "bug", "%s:%d: BUG_ON(%s)", file, line, cond);
#ifdef MXG_DEBUG_BUILD
	abort();
#else
	__atomic_fetch_add(&mxg_bug_count, 1, __ATOMIC_RELAXED);
#endif
}

static enum mxg_log_level log_level = MXG_LOG_INFO;
static void (*log_sink)(enum mxg_log_level, const char *);

void mxg_log_set_level(enum mxg_log_level lvl) { log_level = lvl; }
enum mxg_log_level mxg_log_get_level(void) { return log_level; }
void mxg_log_set_sink(void (*fn)(enum mxg_log_level, const char *)) { log_sink = fn; }

static const char *const level_names[] = {
	[MXG_LOG_ERR] = "err",   [MXG_LOG_WARN] = "warn", [MXG_LOG_NOTICE] = "notice",
	[MXG_LOG_INFO] = "info", [MXG_LOG_DEBUG] = "debug",
};

int mxg_log_level_parse(const char *s)
{
	for (int i = MXG_LOG_ERR; i <= MXG_LOG_DEBUG; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void mxg_vlog(enum mxg_log_level lvl, const char *comp, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (lvl > log_level)
		return;
	n = snprintf(line, sizeof(line), "%s %s: ", level_names[lvl], comp);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (log_sink) {
		log_sink(lvl, line);
		return;
	}
	fprintf(stderr, "%s\n", line);
}

void mxg_log(enum mxg_log_level lvl, const char *comp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mxg_vlog(lvl, comp, fmt, ap);
	va_end(ap);
}
