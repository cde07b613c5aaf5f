/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_tls.c - self-signed certificate generation and the server SSL_CTX
 * (see ctl_tls.h). OpenSSL 3 APIs only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ctl_tls.h"
#include "mxg_err.h"
#include "mxg_log.h"

#define COMP "tls"

static void log_ssl(const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	MXG_ERR(COMP, "%s: %s", what, e ? buf : "failed");
	ERR_clear_error();
}

static int add_ext(X509 *x, int nid, const char *val)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, val);
	if (!ex)
		return -1;
	X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
	return 0;
}

static bool is_ip(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static int write_pem(const char *path, mode_t mode, EVP_PKEY *pkey, X509 *x)
{
	char tmp[PATH_MAX + 8];
	FILE *f;
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0 || fchmod(fd, mode) != 0 || !(f = fdopen(fd, "w"))) {
		MXG_ERR(COMP, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return MXG_E_IO;
	}
	ok = pkey ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL)
		  : PEM_write_X509(f, x);
	if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
		MXG_ERR(COMP, "writing %s failed", path);
		unlink(tmp);
		return MXG_E_IO;
	}
	return 0;
}

static int generate(const struct ctl_conf *conf, const char *cert, const char *key)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	char san[600];
	int rc = MXG_E_IO;

	if (!pkey || !x || RAND_bytes(serial, sizeof(serial)) != 1) {
		log_ssl("key generation");
		goto out;
	}
	serial[0] &= 0x7f; /* positive */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto ssl_err;
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
	X509_set_pubkey(x, pkey);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"mxgate",
				   -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)conf->node_name, -1, -1, 0);
	X509_set_issuer_name(x, name);
	snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1,DNS:%s%s%s",
		 conf->node_name, is_ip(conf->api_host) ? ",IP:" : ",DNS:", conf->api_host);
	/* self-signed, trusted by mxgatectl as its own anchor: CA:TRUE like
	 * "openssl req -x509" so OpenSSL accepts it as a trust anchor */
	if (add_ext(x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") ||
	    add_ext(x, NID_ext_key_usage, "serverAuth") ||
	    add_ext(x, NID_subject_key_identifier, "hash") ||
	    add_ext(x, NID_subject_alt_name, san))
		goto ssl_err;
	if (!X509_sign(x, pkey, EVP_sha256()))
		goto ssl_err;
	if ((rc = write_pem(key, 0600, pkey, NULL)) == 0 &&
	    (rc = write_pem(cert, 0644, NULL, x)) == 0)
		MXG_NOTICE(COMP, "generated a self-signed API certificate %s", cert);
	goto out;
ssl_err:
	log_ssl("certificate generation");
out:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return rc;
}

int ctl_tls_files(const struct ctl_conf *conf, char *cert, char *key)
{
	char dir[PATH_MAX - 16];
	struct stat sb;

	if (conf->tls_cert[0]) {
		snprintf(cert, PATH_MAX, "%s", conf->tls_cert);
		snprintf(key, PATH_MAX, "%s", conf->tls_key);
		return 0;
	}
	snprintf(dir, sizeof(dir), "%.200s/tls", conf->state_dir); /* <= 80 chars */
	snprintf(cert, PATH_MAX, "%s/api.crt", dir);
	snprintf(key, PATH_MAX, "%s/api.key", dir);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		MXG_ERR(COMP, "mkdir %s: %s", dir, strerror(errno));
		return MXG_E_IO;
	}
	if (stat(cert, &sb) == 0 && stat(key, &sb) == 0)
		return 0;
	return generate(conf, cert, key);
}

SSL_CTX *ctl_tls_server_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		log_ssl("SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
				 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
	if (!SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL") ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		MXG_ERR(COMP, "loading %s / %s", cert, key);
		log_ssl("TLS setup");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}
