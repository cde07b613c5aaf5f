/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_tls.c - OpenSSL over memory BIOs for the SMTP proxy (dp_tls.h).
 *
 * STANDARDS
 *	RFC 3207 (STARTTLS), RFC 8446 (TLS 1.3), RFC 5246 (TLS 1.2).
 *
 * SECURITY
 *	TLS 1.2 is the floor (tls_min_version may raise it to 1.3); SSLv3,
 *	TLS 1.0/1.1, compression and renegotiation are off. Without a
 *	configured certificate the server generates a P-256 key and a
 *	self-signed certificate in memory at start: opportunistic STARTTLS
 *	between MTAs does not authenticate the server (RFC 7435), and a
 *	gateway that offers no TLS at all is worse than one with an unverified
 *	certificate. The start is logged with the certificate's fingerprint,
 *	never with key material. The downstream client does not verify the
 *	certificate either (the downstream is a configured next hop, usually
 *	on a private link); downstream_tls = required only insists on
 *	encryption.
 *
 * WHY MEMORY BIOS
 *	The dataplane's TCP is tcpstack, not the kernel's: there is no socket
 *	for SSL_set_fd. Memory BIOs keep OpenSSL sans-IO like our engines, and
 *	the caller decides when ciphertext moves (and how much: dp_tls_get
 *	copies only what the TCP send buffer can take, so nothing is lost).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "dp_tls.h"
#include "mxg_log.h"

#define COMP "tls"
#define WBIO_HIGH (64 * 1024) /* stop taking plaintext above this much ciphertext */

struct dp_tls_ctx {
	SSL_CTX *ctx;
	bool server;
};

struct dp_tls {
	SSL *ssl;
	BIO *rbio;               /* ciphertext from the peer (we write, SSL reads) */
	BIO *wbio;               /* ciphertext to the peer (SSL writes, we read) */
	bool done;               /* handshake completed */
};

static void ssl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, e ? buf : "failed");
	ERR_clear_error();
}

/* A self-signed certificate for |cn| with a fresh P-256 key. */
static int self_signed(SSL_CTX *ctx, const char *cn, char *err, size_t errlen)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	unsigned char md[EVP_MAX_MD_SIZE], serial[8];
	unsigned mdlen = 0;
	char fp[3 * EVP_MAX_MD_SIZE + 1] = "";
	int rc = -1;

	if (!pkey || !x) {
		ssl_err(err, errlen, "self-signed certificate: key");
		goto out;
	}
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	{
		BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);

		if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) {
			BN_free(bn);
			ssl_err(err, errlen, "self-signed certificate: serial");
			goto out;
		}
		BN_free(bn);
	}
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
	X509_set_pubkey(x, pkey);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (!X509_sign(x, pkey, EVP_sha256()) || SSL_CTX_use_certificate(ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, pkey) != 1) {
		ssl_err(err, errlen, "self-signed certificate");
		goto out;
	}
	X509_digest(x, EVP_sha256(), md, &mdlen);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(fp + 3 * i, sizeof(fp) - 3 * i, "%02X%s", md[i], i + 1 < mdlen ? ":" : "");
	MXG_NOTICE(COMP, "no tls_cert configured: generated a self-signed P-256 certificate "
		   "for CN=%s, SHA-256 fingerprint %s", cn, fp);
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(pkey);
	return rc;
}

struct dp_tls_ctx *dp_tls_ctx_new(const struct dp_tls_ctx_conf *c, char *err, size_t errlen)
{
	struct dp_tls_ctx *x = calloc(1, sizeof(*x));

	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	x->server = c->server;
	x->ctx = SSL_CTX_new(c->server ? TLS_server_method() : TLS_client_method());
	if (!x->ctx) {
		ssl_err(err, errlen, "SSL_CTX_new");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(x->ctx, c->min_version == 13 ? TLS1_3_VERSION :
				      TLS1_2_VERSION);
	SSL_CTX_set_options(x->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Memory BIOs: a partial SSL_write is fine, the caller keeps the rest. */
	SSL_CTX_set_mode(x->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (c->ciphers && *c->ciphers && SSL_CTX_set_cipher_list(x->ctx, c->ciphers) != 1) {
		ssl_err(err, errlen, "tls_ciphers");
		goto fail;
	}
	SSL_CTX_set_verify(x->ctx, SSL_VERIFY_NONE, NULL);
	if (c->server) {
		if (c->cert && *c->cert) {
			if (SSL_CTX_use_certificate_chain_file(x->ctx, c->cert) != 1) {
				ssl_err(err, errlen, c->cert);
				goto fail;
			}
			if (SSL_CTX_use_PrivateKey_file(x->ctx, c->key, SSL_FILETYPE_PEM) != 1 ||
			    SSL_CTX_check_private_key(x->ctx) != 1) {
				ssl_err(err, errlen, c->key);
				goto fail;
			}
		} else if (self_signed(x->ctx, c->hostname ? c->hostname : "localhost", err,
				       errlen)) {
			goto fail;
		}
		SSL_CTX_set_session_cache_mode(x->ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(x->ctx, 0);
	}
	return x;
fail:
	dp_tls_ctx_free(x);
	return NULL;
}

void dp_tls_ctx_free(struct dp_tls_ctx *x)
{
	if (!x)
		return;
	SSL_CTX_free(x->ctx);
	x->ctx = NULL;
	free(x);
}

struct dp_tls *dp_tls_new(struct dp_tls_ctx *x, const char *sni)
{
	struct dp_tls *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ssl = SSL_new(x->ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->rbio || !t->wbio) {
		SSL_free(t->ssl);
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	/* An empty memory BIO reports "retry", not EOF. */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the SSL owns both now */
	if (x->server) {
		SSL_set_accept_state(t->ssl);
	} else {
		if (sni && *sni)
			SSL_set_tlsext_host_name(t->ssl, sni);
		SSL_set_connect_state(t->ssl);
	}
	return t;
}

void dp_tls_free(struct dp_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	t->ssl = NULL;
	free(t);
}

int dp_tls_put(struct dp_tls *t, const uint8_t *p, size_t n)
{
	while (n) {
		int w = BIO_write(t->rbio, p, n > INT32_MAX ? INT32_MAX : (int)n);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int dp_tls_handshake(struct dp_tls *t)
{
	int r;

	if (t->done)
		return 1;
	r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		t->done = true;
		return 1;
	}
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	default:
		if (mxg_log_get_level() >= MXG_LOG_DEBUG) {
			char buf[256];

			ERR_error_string_n(ERR_peek_error(), buf, sizeof(buf));
			MXG_DEBUG(COMP, "handshake failed: %s", buf);
		}
		ERR_clear_error();
		return -1;
	}
}

bool dp_tls_established(const struct dp_tls *t)
{
	return t->done;
}

ssize_t dp_tls_read(struct dp_tls *t, uint8_t *buf, size_t n)
{
	size_t got = 0;
	int r;

	if (!t->done)
		return 0;
	r = SSL_read_ex(t->ssl, buf, n, &got);
	if (r == 1)
		return (ssize_t)got;
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	default:
		ERR_clear_error();
		return -1;
	}
}

ssize_t dp_tls_write(struct dp_tls *t, const uint8_t *p, size_t n)
{
	size_t put = 0;
	int r;

	if (!t->done || !n)
		return 0;
	if (BIO_ctrl_pending(t->wbio) >= WBIO_HIGH)
		return 0;
	r = SSL_write_ex(t->ssl, p, n, &put);
	if (r == 1)
		return (ssize_t)put;
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	default:
		ERR_clear_error();
		return -1;
	}
}

size_t dp_tls_pending(const struct dp_tls *t)
{
	return BIO_ctrl_pending(t->wbio);
}

size_t dp_tls_rpending(const struct dp_tls *t)
{
	return BIO_ctrl_pending(t->rbio);
}

size_t dp_tls_get(struct dp_tls *t, uint8_t *buf, size_t n)
{
	int r;

	if (!n)
		return 0;
	r = BIO_read(t->wbio, buf, n > INT32_MAX ? INT32_MAX : (int)n);
	return r > 0 ? (size_t)r : 0;
}

void dp_tls_describe(const struct dp_tls *t, char *buf, size_t n)
{
	snprintf(buf, n, "%s %s", SSL_get_version(t->ssl),
		 SSL_get_cipher_name(t->ssl) ? SSL_get_cipher_name(t->ssl) : "?");
}
