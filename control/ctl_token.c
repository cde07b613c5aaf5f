/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_token.c - API token generation, hashing, checking and the 0600 token
 * file (see ctl_token.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ctl_token.h"
#include "mxg_err.h"
#include "mxg_log.h"

int ctl_token_new(char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[32];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return MXG_E_IO;
	memcpy(out, "mxg_", 4);
	for (size_t i = 0; i < sizeof(r); i++) {
		out[4 + 2 * i] = hex[r[i] >> 4];
		out[5 + 2 * i] = hex[r[i] & 15];
	}
	out[CTL_TOKEN_LEN] = '\0';
	OPENSSL_cleanse(r, sizeof(r));
	return 0;
}

void ctl_token_hash(const char *tok, size_t len, uint8_t out[CTL_TOKEN_HASH_LEN])
{
	unsigned int n = CTL_TOKEN_HASH_LEN;

	EVP_Digest(tok, len, out, &n, EVP_sha256(), NULL);
}

int ctl_token_check(const struct ctl *c, const char *tok, size_t len)
{
	uint8_t h[CTL_TOKEN_HASH_LEN];
	int ok = 0;

	ctl_token_hash(tok, len, h);
	/* visit every entry: the time taken does not depend on which matched */
	for (size_t i = 0; i < c->ntokens; i++)
		ok |= CRYPTO_memcmp(h, c->tokens[i], sizeof(h)) == 0;
	return ok;
}

static int unhex(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

int ctl_token_load(struct ctl *c, const PGresult *res)
{
	int n = PQntuples(res), k = 0;
	uint8_t (*t)[CTL_TOKEN_HASH_LEN] = calloc(n ? (size_t)n : 1, sizeof(*t));

	if (!t)
		return MXG_E_NOMEM;
	for (int i = 0; i < n; i++) {
		const char *s = PQgetvalue(res, i, 0);
		int bad = strlen(s) != 2 * CTL_TOKEN_HASH_LEN;

		for (int j = 0; !bad && j < CTL_TOKEN_HASH_LEN; j++) {
			int hi = unhex(s[2 * j]), lo = unhex(s[2 * j + 1]);

			if (hi < 0 || lo < 0)
				bad = 1;
			else
				t[k][j] = (uint8_t)(hi << 4 | lo);
		}
		if (!bad)
			k++;
	}
	free(c->tokens);
	c->tokens = t;
	c->ntokens = (size_t)k;
	return 0;
}

int ctl_token_file_write(const char *path, const char *tok)
{
	char tmp[PATH_MAX + 8];
	size_t len = strlen(tok);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		MXG_ERR("token", "%s: %s", tmp, strerror(errno));
		return MXG_E_IO;
	}
	if (fchmod(fd, 0600) != 0 || write(fd, tok, len) != (ssize_t)len ||
	    write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		MXG_ERR("token", "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return MXG_E_IO;
	}
	close(fd);
	return 0;
}

int ctl_token_file_commit(const char *path, int commit)
{
	char tmp[PATH_MAX + 8];

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!commit) {
		unlink(tmp);
		return 0;
	}
	if (rename(tmp, path) != 0) {
		MXG_ERR("token", "rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return MXG_E_IO;
	}
	return 0;
}
