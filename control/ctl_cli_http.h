/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_cli_http.h - mxgatectl's HTTPS client of the REST API (libcurl).
 *
 * The server certificate is verified against one file (by default the
 * control plane's own self-signed state_dir/tls/api.crt), host name
 * included; there is no switch to turn verification off.
 */
#ifndef CTL_CLI_HTTP_H
#define CTL_CLI_HTTP_H

#include <stddef.h>

struct cli_http {
	const char *base;    /* "https://127.0.0.1:8445" (borrowed) */
	const char *token;   /* bearer token (borrowed; never printed) */
	const char *cacert;  /* PEM file to trust (borrowed) */
};

/* Performs |method| on base + |path| with optional JSON |body| (borrowed).
 * On return *code is the HTTP status (0 if no answer) and *resp a
 * NUL-terminated body the caller frees (may be empty). Returns 0, or -1 with
 * a message in |err| when no HTTP answer was obtained (connection, TLS). */
int cli_http_request(const struct cli_http *h, const char *method, const char *path,
		     const char *body, long *code, char **resp, char *err, size_t errlen);

/* Appends "&key=value" (or "?key=value" first) to |url| (len bytes),
 * percent-encoding |value|. Returns 0 or -1 if it does not fit. */
int cli_http_add_param(char *url, size_t len, const char *key, const char *value);

/* "mxgatectl: MESSAGE" on stderr. cli_fail returns |code| (the exit
 * status to pass up), cli_die exits with it. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

#endif
