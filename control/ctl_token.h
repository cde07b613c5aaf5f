/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_token.h - administrator API tokens.
 *
 * A token is "mxg_" followed by 64 hex digits (256 random bits from
 * OpenSSL's RAND_bytes). Only its SHA-256 is stored (admin_accounts.
 * token_sha256) and cached in memory; a presented token is hashed and
 * compared in constant time. Tokens are never logged.
 */
#ifndef CTL_TOKEN_H
#define CTL_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "ctl.h"

#define CTL_TOKEN_LEN 68 /* "mxg_" + 64 hex digits */

/* Writes a new random token (NUL-terminated) into |out| (>= CTL_TOKEN_LEN +
 * 1 bytes). Returns 0 or MXG_E_IO if the RNG failed. */
int ctl_token_new(char *out);

/* SHA-256 of |tok| (borrowed) into |out|. */
void ctl_token_hash(const char *tok, size_t len, uint8_t out[CTL_TOKEN_HASH_LEN]);

/* True if |tok| hashes to one of c->tokens. */
int ctl_token_check(const struct ctl *c, const char *tok, size_t len);

/* Replaces c->tokens with the hashes in |res| (one column, hex text of 32
 * bytes: encode(token_sha256, 'hex')). Returns 0 or MXG_E_NOMEM (cache kept). */
int ctl_token_load(struct ctl *c, const PGresult *res);

/* SQL that ctl_token_load expects. */
#define CTL_TOKEN_SQL \
	"SELECT encode(token_sha256, 'hex') FROM admin_accounts WHERE enabled"

/* Writes |tok| + "\n" to |path| with mode 0600 through a temporary file
 * (|path|.tmp, left for ctl_token_file_commit). Returns 0 or MXG_E_IO. */
int ctl_token_file_write(const char *path, const char *tok);
/* Renames |path|.tmp to |path| (commit) or removes it (|commit| false). */
int ctl_token_file_commit(const char *path, int commit);

#endif
