/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mxg_log.h - logging for the processes (dataplane, control, tools).
 *
 * Engines do not log: they report anomalies through callbacks and counters.
 * Lines go to stderr (or a sink set with mxg_log_set_sink, e.g. syslog or the
 * DPDK log) as "LEVEL component: message". Never log secrets: passwords, keys
 * and message bodies stay out of every log line.
 */
#ifndef MXG_LOG_H
#define MXG_LOG_H

#include <stdarg.h>

enum mxg_log_level {
	MXG_LOG_ERR = 3,
	MXG_LOG_WARN = 4,
	MXG_LOG_NOTICE = 5,
	MXG_LOG_INFO = 6,
	MXG_LOG_DEBUG = 7,
};

/* Lines above |lvl| are dropped. Default MXG_LOG_INFO. */
void mxg_log_set_level(enum mxg_log_level lvl);
enum mxg_log_level mxg_log_get_level(void);
/* Parses "err", "warn", "notice", "info", "debug"; returns -1 if unknown. */
int mxg_log_level_parse(const char *s);
/* Replaces the output; NULL restores stderr. |fn| gets one formatted line
 * without the trailing newline. */
void mxg_log_set_sink(void (*fn)(enum mxg_log_level lvl, const char *line));

void mxg_log(enum mxg_log_level lvl, const char *comp, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void mxg_vlog(enum mxg_log_level lvl, const char *comp, const char *fmt, va_list ap);

#define MXG_ERR(comp, ...) mxg_log(MXG_LOG_ERR, comp, __VA_ARGS__)
#define MXG_WARN(comp, ...) mxg_log(MXG_LOG_WARN, comp, __VA_ARGS__)
#define MXG_NOTICE(comp, ...) mxg_log(MXG_LOG_NOTICE, comp, __VA_ARGS__)
#define MXG_INFO(comp, ...) mxg_log(MXG_LOG_INFO, comp, __VA_ARGS__)
#define MXG_DEBUG(comp, ...)                                                   \
	do {                                                                   \
		if (mxg_log_get_level() >= MXG_LOG_DEBUG)                      \
			mxg_log(MXG_LOG_DEBUG, comp, __VA_ARGS__);             \
	} while (0)

#endif
