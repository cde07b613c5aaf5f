/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mxg_conf.h - the bootstrap configuration file (etc/mxgate.conf).
 *
 * INI form, documented key by key in docs/configuration.md:
 *
 *	# comment            ; comment
 *	[dataplane]
 *	idle = adaptive
 *	[port mxg0]          <- section type "port", argument "mxg0"
 *	pmd = net_tap
 *
 * Keys and values are trimmed; a value may be quoted with "..." to keep
 * leading/trailing blanks or a '#'. A key given twice in one section is an
 * error (so a typo'd duplicate cannot silently win). Every lookup marks the
 * key used; mxg_conf_check_unused() then reports the first key nobody read,
 * which turns misspelt keys into a precise error instead of a silent default.
 *
 * Errors are written to |err| as "FILE:LINE: message".
 */
#ifndef MXG_CONF_H
#define MXG_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mxg_conf;
struct mxg_conf_sec;

/* Parses |len| bytes of |text| (borrowed); |name| is used in messages.
 * Returns 0 and *out (free with mxg_conf_free), or MXG_E_INVAL / MXG_E_NOMEM
 * with a message in |err|. */
int mxg_conf_parse(const char *text, size_t len, const char *name,
		   struct mxg_conf **out, char *err, size_t errlen);
/* Reads and parses |path|. Same returns, plus MXG_E_IO if unreadable. */
int mxg_conf_load(const char *path, struct mxg_conf **out, char *err, size_t errlen);
void mxg_conf_free(struct mxg_conf *c);

/* Sections in file order. Keys before any [section] live in a section with
 * type "" (the global section, always index 0). */
size_t mxg_conf_nsec(const struct mxg_conf *c);
struct mxg_conf_sec *mxg_conf_sec_at(const struct mxg_conf *c, size_t i);
/* First section with this type (and argument, if |arg| is not NULL). */
struct mxg_conf_sec *mxg_conf_find(const struct mxg_conf *c, const char *type, const char *arg);
const char *mxg_conf_sec_type(const struct mxg_conf_sec *s); /* "port" */
const char *mxg_conf_sec_arg(const struct mxg_conf_sec *s);  /* "mxg0" or "" */
int mxg_conf_sec_line(const struct mxg_conf_sec *s);

/* Raw value or NULL when absent (|s| may be NULL). Marks the key used. */
const char *mxg_conf_get(struct mxg_conf_sec *s, const char *key);
/* Typed getters: absent key -> |def|. Return 0, or MXG_E_INVAL/MXG_E_RANGE
 * with "FILE:LINE: key: message" in |err|. */
int mxg_conf_get_u64(struct mxg_conf_sec *s, const char *key, uint64_t def, uint64_t min,
		     uint64_t max, uint64_t *out, char *err, size_t errlen);
int mxg_conf_get_bool(struct mxg_conf_sec *s, const char *key, bool def, bool *out,
		      char *err, size_t errlen);
/* |choices| is NULL-terminated; *out is the index of the match. */
int mxg_conf_get_enum(struct mxg_conf_sec *s, const char *key, const char *const *choices,
		      int def, int *out, char *err, size_t errlen);
/* Formats "FILE:LINE: key: ..." for a value the caller found invalid. */
int mxg_conf_err(struct mxg_conf_sec *s, const char *key, char *err, size_t errlen,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Returns 0 if every key of the sections whose type is in |types|
 * (NULL-terminated; NULL means every section) was read, else MXG_E_INVAL and
 * "FILE:LINE: k: unknown key in [sec]" in |err|. Each process checks the
 * sections it owns. */
int mxg_conf_check_unused(const struct mxg_conf *c, const char *const *types, char *err,
			  size_t errlen);

#endif
