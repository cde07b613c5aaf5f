/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_tls.h - the API's TLS: certificate files and the server context.
 *
 * Without tls_cert/tls_key in the configuration, a self-signed certificate
 * is generated at first start in state_dir/tls/ (api.crt 0644, api.key 0600;
 * ECDSA P-256, 10 years, SAN localhost, 127.0.0.1, ::1, the node name and
 * the api_listen address). mxgatectl trusts exactly that file by default,
 * so the API is authenticated without a public CA.
 *
 * Server context: TLS 1.2 minimum, forward-secret AEAD suites only for 1.2
 * (TLS 1.3 suites are OpenSSL's defaults, all AEAD), no renegotiation, no
 * compression, no session tickets.
 */
#ifndef CTL_TLS_H
#define CTL_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "ctl.h"

/* Resolves the certificate and key paths into |cert|/|key| (PATH_MAX each)
 * and generates them if they are the defaults and missing. Returns 0 or
 * MXG_E_IO with the reason logged. */
int ctl_tls_files(const struct ctl_conf *conf, char *cert, char *key);

/* Creates the server context from the PEM files. Returns NULL (logged) on
 * error. Caller owns (SSL_CTX_free). */
SSL_CTX *ctl_tls_server_ctx(const char *cert, const char *key);

#endif
