/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_tls.h - TLS for the SMTP proxy: OpenSSL over memory BIOs.
 *
 * tcpstack owns the bytes on the wire, so OpenSSL never sees a socket: the
 * caller pushes received ciphertext in (dp_tls_put), pulls plaintext out
 * (dp_tls_read), pushes plaintext in (dp_tls_write) and pulls ciphertext to
 * send (dp_tls_get). Everything is non-blocking and runs on the worker
 * lcore that owns the connection; the SSL_CTX is built once at start and
 * shared read-only by every worker (OpenSSL 3 makes that safe).
 */
#ifndef DP_TLS_H
#define DP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct dp_tls_ctx;
struct dp_tls;

struct dp_tls_ctx_conf {
	bool server;
	const char *cert, *key;  /* PEM files; NULL/"" (server): self-signed */
	const char *hostname;    /* CN of the self-signed certificate */
	const char *ciphers;     /* TLS <= 1.2 list, NULL/"": OpenSSL default */
	int min_version;         /* 12 or 13 */
};

/* Builds a context. Returns NULL with a message in |err| on failure. A
 * server without cert/key gets a fresh P-256 self-signed certificate
 * (logged, key material never). */
struct dp_tls_ctx *dp_tls_ctx_new(const struct dp_tls_ctx_conf *c, char *err, size_t errlen);
void dp_tls_ctx_free(struct dp_tls_ctx *x);

/* A session of |x| (server or client as the context). |sni| (client, may be
 * NULL) is sent as server name. NULL when out of memory. */
struct dp_tls *dp_tls_new(struct dp_tls_ctx *x, const char *sni);
void dp_tls_free(struct dp_tls *t);

/* Received ciphertext in: all of |n| is taken (memory BIO). 0 or -1. */
int dp_tls_put(struct dp_tls *t, const uint8_t *p, size_t n);
/* Drives the handshake: 1 done, 0 needs more input, -1 failed. */
int dp_tls_handshake(struct dp_tls *t);
bool dp_tls_established(const struct dp_tls *t);
/* Plaintext out: > 0 bytes, 0 nothing yet, -1 failed or closed by peer. */
ssize_t dp_tls_read(struct dp_tls *t, uint8_t *buf, size_t n);
/* Plaintext in: bytes taken (all, or 0 while too much ciphertext waits),
 * or -1 on failure. */
ssize_t dp_tls_write(struct dp_tls *t, const uint8_t *p, size_t n);
/* Ciphertext waiting to be sent, and a copy of up to |n| of it (consumed). */
size_t dp_tls_pending(const struct dp_tls *t);
/* Received ciphertext not yet processed (bounds how far input runs ahead). */
size_t dp_tls_rpending(const struct dp_tls *t);
size_t dp_tls_get(struct dp_tls *t, uint8_t *buf, size_t n);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" style description for logs. */
void dp_tls_describe(const struct dp_tls *t, char *buf, size_t n);

#endif
