/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_conf.c - the [control] section.
 *
 * Keys: state_dir, database, api_listen, tls_cert, tls_key, log_level,
 * pg_port, user, node_name, start_timeout, channel_socket, release_smtp,
 * notify_smtp, notify_from, admin_address, notify_concurrency,
 * notify_queue. The DSN of an external database may carry a password, so it is kept apart and never echoed in an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_conf.h"
#include "mxg_conf.h"
#include "mxg_err.h"
#include "mxg_log.h"

int ctl_conf_split_hostport(const char *s, unsigned def_port, char *host, size_t hlen,
			    unsigned *port)
{
	const char *p, *hend;
	char *end;
	unsigned long v;

	*port = def_port;
	if (*s == '[') {
		hend = strchr(s, ']');
		if (!hend)
			return MXG_E_INVAL;
		p = hend[1] == ':' ? hend + 2 : NULL;
		if (hend[1] && hend[1] != ':')
			return MXG_E_INVAL;
		s++;
	} else {
		hend = strrchr(s, ':');
		if (hend && strchr(s, ':') != hend)
			return MXG_E_INVAL; /* bare IPv6 needs brackets */
		p = hend ? hend + 1 : NULL;
		if (!hend)
			hend = s + strlen(s);
	}
	if (hend == s || (size_t)(hend - s) >= hlen)
		return MXG_E_INVAL;
	memcpy(host, s, (size_t)(hend - s));
	host[hend - s] = '\0';
	if (p) {
		v = strtoul(p, &end, 10);
		if (!*p || *end || v == 0 || v > 65535)
			return MXG_E_INVAL;
		*port = (unsigned)v;
	}
	return 0;
}

/* An envelope address for a key: local@domain, printable, no <>. */
static bool mailbox_ok(const char *a)
{
	const char *at = strrchr(a, '@');

	if (!at || at == a || !at[1] || strlen(a) > 254)
		return false;
	for (; *a; a++)
		if ((unsigned char)*a <= 32 || *a == '<' || *a == '>' || *a == '"' || *a == 127 ||
		    *a == ',' || *a == ';')
			return false;
	return true;
}

static int smtp_key(struct mxg_conf_sec *s, const char *key, const char *def, char *host,
		    size_t hlen, unsigned *port, char *err, size_t errlen)
{
	const char *v = mxg_conf_get(s, key);

	if (ctl_conf_split_hostport(v ? v : def, 25, host, hlen, port) != 0)
		return mxg_conf_err(s, key, err, errlen, "expected HOST:PORT or [IPV6]:PORT");
	return 0;
}

static int str_key(struct mxg_conf_sec *s, const char *key, const char *def, char *out,
		   size_t len, char *err, size_t errlen)
{
	const char *v = mxg_conf_get(s, key);

	if (!v)
		v = def;
	if (strlen(v) >= len)
		return mxg_conf_err(s, key, err, errlen, "value too long");
	snprintf(out, len, "%s", v);
	return 0;
}

int ctl_conf_read(struct mxg_conf *c, struct ctl_conf *out, char *err, size_t errlen)
{
	struct mxg_conf_sec *s = mxg_conf_find(c, "control", "");
	const char *v;
	char api[300];
	uint64_t u;
	int rc, lvl;

	memset(out, 0, sizeof(*out));
	if ((rc = str_key(s, "state_dir", "/var/lib/mxgate", out->state_dir,
			  sizeof(out->state_dir) - 64, err, errlen)))
		return rc;
	if (out->state_dir[0] != '/')
		return mxg_conf_err(s, "state_dir", err, errlen, "must be an absolute path");
	/* The socket path state_dir/run/.s.PGSQL.NNNNN must fit sun_path (108). */
	if (strlen(out->state_dir) > 80)
		return mxg_conf_err(s, "state_dir", err, errlen,
				    "longer than 80 characters (the PostgreSQL socket path "
				    "must fit in 107)");
	if (strpbrk(out->state_dir, "'\\\n"))
		return mxg_conf_err(s, "state_dir", err, errlen,
				    "must not contain quotes, backslashes or newlines");
	v = mxg_conf_get(s, "database");
	if (!v || strcmp(v, "internal") == 0) {
		out->internal = true;
	} else if (!*v) {
		return mxg_conf_err(s, "database", err, errlen,
				    "empty (use 'internal' or a libpq connection string)");
	} else {
		out->dsn = strdup(v);
		if (!out->dsn)
			return MXG_E_NOMEM;
	}
	if ((rc = str_key(s, "api_listen", "127.0.0.1:8445", api, sizeof(api), err, errlen)))
		goto fail;
	if (ctl_conf_split_hostport(api, 8445, out->api_host, sizeof(out->api_host),
				    &out->api_port)) {
		rc = mxg_conf_err(s, "api_listen", err, errlen,
				  "expected ADDRESS:PORT or [IPV6]:PORT");
		goto fail;
	}
	if ((rc = str_key(s, "tls_cert", "", out->tls_cert, sizeof(out->tls_cert), err,
			  errlen)) ||
	    (rc = str_key(s, "tls_key", "", out->tls_key, sizeof(out->tls_key), err, errlen)))
		goto fail;
	if (!out->tls_cert[0] != !out->tls_key[0]) {
		rc = mxg_conf_err(s, out->tls_cert[0] ? "tls_cert" : "tls_key", err, errlen,
				  "tls_cert and tls_key go together");
		goto fail;
	}
	v = mxg_conf_get(s, "log_level");
	lvl = v ? mxg_log_level_parse(v) : MXG_LOG_INFO;
	if (lvl < 0) {
		rc = mxg_conf_err(s, "log_level", err, errlen,
				  "expected err, warn, notice, info or debug");
		goto fail;
	}
	out->log_level = lvl;
	if ((rc = mxg_conf_get_u64(s, "pg_port", 5432, 1, 65535, &u, err, errlen)))
		goto fail;
	out->pg_port = (unsigned)u;
	if ((rc = mxg_conf_get_u64(s, "start_timeout", 60, 1, 3600, &u, err, errlen)))
		goto fail;
	out->start_timeout = (unsigned)u;
	if ((rc = str_key(s, "user", "mxgate", out->user, sizeof(out->user), err, errlen)))
		goto fail;
	if (!out->user[0] || strspn(out->user, "abcdefghijklmnopqrstuvwxyz0123456789_-") !=
				     strlen(out->user)) {
		rc = mxg_conf_err(s, "user", err, errlen, "expected a system user name");
		goto fail;
	}
	v = mxg_conf_get(s, "node_name");
	if (v) {
		if (!*v || strlen(v) >= sizeof(out->node_name)) {
			rc = mxg_conf_err(s, "node_name", err, errlen, "1 to 63 characters");
			goto fail;
		}
		snprintf(out->node_name, sizeof(out->node_name), "%s", v);
	} else if (gethostname(out->node_name, sizeof(out->node_name) - 1) != 0) {
		snprintf(out->node_name, sizeof(out->node_name), "mxgate");
	}
	/* The dataplane computes the same default (dp_ctl_conf_load). */
	v = mxg_conf_get(s, "channel_socket");
	if (v && (v[0] != '/' || strlen(v) >= sizeof(out->channel_socket))) {
		rc = mxg_conf_err(s, "channel_socket", err, errlen,
				  "expected an absolute path of at most %zu characters",
				  sizeof(out->channel_socket) - 1);
		goto fail;
	}
	/* Fits: the path was checked above, state_dir is at most 80 bytes. */
	if (snprintf(out->channel_socket, sizeof(out->channel_socket), "%s%s",
		     v ? v : out->state_dir, v ? "" : "/run/channel.sock") >=
	    (int)sizeof(out->channel_socket)) {
		rc = mxg_conf_err(s, "state_dir", err, errlen, "too long for the channel socket");
		goto fail;
	}
	if ((rc = smtp_key(s, "release_smtp", "127.0.0.1:10024", out->release_host,
			   sizeof(out->release_host), &out->release_port, err, errlen)) ||
	    (rc = smtp_key(s, "notify_smtp", "127.0.0.1:10026", out->notify_host,
			   sizeof(out->notify_host), &out->notify_port, err, errlen)))
		goto fail;
	v = mxg_conf_get(s, "notify_from");
	if (v)
		snprintf(out->notify_from, sizeof(out->notify_from), "%s", v);
	else if (snprintf(out->notify_from, sizeof(out->notify_from), "postmaster@%s",
			  out->node_name) <= 0 || !mailbox_ok(out->notify_from))
		snprintf(out->notify_from, sizeof(out->notify_from), "postmaster@localhost");
	if (!mailbox_ok(out->notify_from) || (v && strlen(v) >= sizeof(out->notify_from))) {
		rc = mxg_conf_err(s, "notify_from", err, errlen, "expected an address local@domain");
		goto fail;
	}
	if ((rc = str_key(s, "admin_address", "", out->admin_address,
			  sizeof(out->admin_address), err, errlen)))
		goto fail;
	if (out->admin_address[0] && !mailbox_ok(out->admin_address)) {
		rc = mxg_conf_err(s, "admin_address", err, errlen,
				  "expected an address local@domain (or empty)");
		goto fail;
	}
	if ((rc = mxg_conf_get_u64(s, "notify_concurrency", 4, 1, 256, &u, err, errlen)))
		goto fail;
	out->notify_concurrency = (unsigned)u;
	if ((rc = mxg_conf_get_u64(s, "notify_queue", 1000, 1, 1000000, &u, err, errlen)))
		goto fail;
	out->notify_queue = (unsigned)u;
	rc = mxg_conf_check_unused(c, (const char *const[]){ "control", NULL }, err, errlen);
	if (rc)
		goto fail;
	return 0;
fail:
	ctl_conf_clear(out);
	return rc;
}

void ctl_conf_clear(struct ctl_conf *conf)
{
	if (conf->dsn) {
		explicit_bzero(conf->dsn, strlen(conf->dsn));
		free(conf->dsn);
		conf->dsn = NULL;
	}
}
