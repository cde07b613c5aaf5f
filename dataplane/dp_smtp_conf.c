/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_smtp_conf.c - the [smtp] section of mxgate.conf (docs/configuration.md).
 *
 * Key names follow IMSS where IMSS has one (proxy_smtp_server_ip,
 * smtp_allow_client_ip, downstream_smtp_server_addr/_port), so an IMSS
 * administrator recognises them; the rest are ours. Every value is checked
 * here, at start, with FILE:LINE in the message: the address lists are
 * compiled once into throw-away ACLs just to validate them, so a typo in
 * smtp_allow_client_ip stops the start instead of silently making the
 * gateway refuse (or worse, relay) mail.
 *
 * Not an open relay by default: with neither smtp_allow_client_ip nor
 * local_domains every RCPT is refused (554 5.7.1).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dp_smtp.h"
#include "mxg_err.h"
#include "smtp.h"

static const char *const ds_tls_names[] = {"none", "opportunistic", "required", NULL};
static const char *const tls_versions[] = {"1.2", "1.3", NULL};

static int get_str(struct mxg_conf_sec *s, const char *key, const char *def, char *dst,
		   size_t cap, char *err, size_t errlen)
{
	const char *v = mxg_conf_get(s, key);

	if (!v)
		v = def;
	if (strlen(v) >= cap)
		return mxg_conf_err(s, key, err, errlen, "value longer than %zu bytes", cap - 1);
	strcpy(dst, v);
	return 0;
}

static int get_secs(struct mxg_conf_sec *s, const char *key, uint64_t def, uint64_t min,
		    uint64_t max, mxg_tstamp *out, char *err, size_t errlen)
{
	uint64_t v;
	int rc = mxg_conf_get_u64(s, key, def, min, max, &v, err, errlen);

	*out = v * MXG_NSEC_PER_SEC;
	return rc;
}

/* Splits |v| on commas and blanks; calls |fn| per token. */
static int each_token(const char *v, int (*fn)(const char *tok, size_t n, void *arg), void *arg)
{
	while (*v) {
		size_t n;
		int rc;

		while (*v == ',' || *v == ';' || isspace((unsigned char)*v))
			v++;
		n = strcspn(v, ",; \t");
		if (!n)
			break;
		if ((rc = fn(v, n, arg)))
			return rc;
		v += n;
	}
	return 0;
}

struct tok_ctx {
	struct dp_smtp_conf *c;
	char bad[128];
};

static int addr_tok(const char *tok, size_t n, void *arg)
{
	struct tok_ctx *t = arg;
	char buf[64];

	snprintf(t->bad, sizeof(t->bad), "%.*s", (int)n, tok);
	if (n >= sizeof(buf) || t->c->naddrs == DP_SMTP_MAX_ADDRS)
		return MXG_E_RANGE;
	memcpy(buf, tok, n);
	buf[n] = '\0';
	if (!strcmp(buf, "all") || !strcmp(buf, "*")) {
		if (t->c->naddrs + 2 > DP_SMTP_MAX_ADDRS)
			return MXG_E_RANGE;
		t->c->addr[t->c->naddrs++] = (struct mxg_ip){.family = 4};
		t->c->addr[t->c->naddrs++] = (struct mxg_ip){.family = 6};
		return 0;
	}
	if (mxg_ip_parse(buf, &t->c->addr[t->c->naddrs]))
		return MXG_E_INVAL;
	t->c->naddrs++;
	return 0;
}

static int port_tok(const char *tok, size_t n, void *arg)
{
	struct tok_ctx *t = arg;
	unsigned long v = 0;

	snprintf(t->bad, sizeof(t->bad), "%.*s", (int)n, tok);
	if (t->c->nports == DP_SMTP_MAX_PORTS || n > 5)
		return MXG_E_RANGE;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)tok[i]))
			return MXG_E_INVAL;
		v = v * 10 + (unsigned long)(tok[i] - '0');
	}
	if (v == 0 || v > 65535)
		return MXG_E_RANGE;
	t->c->port[t->c->nports++] = (uint16_t)v;
	return 0;
}

static int domain_tok(const char *tok, size_t n, void *arg)
{
	struct tok_ctx *t = arg;

	snprintf(t->bad, sizeof(t->bad), "%.*s", (int)n, tok);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)tok[i]) && tok[i] != '.' && tok[i] != '-' &&
		    tok[i] != '_' && !((unsigned char)tok[i] & 0x80))
			return MXG_E_INVAL;
	return n > 255 ? MXG_E_RANGE : 0;
}

/* downstream_smtp_server_addr: an IPv4 or IPv6 address, or a host name
 * resolved here, once, at start (getaddrinfo, AF_UNSPEC: /etc/hosts and
 * DNS as the system is configured). The dataplane resolves nothing at run
 * time, so a DNS change is followed only by a restart. When the name has
 * both, the first IPv4 address is taken (the more common downstream path),
 * else the first IPv6 one; dp_smtp.c logs the address chosen. */
static int ds_resolve(struct mxg_conf_sec *s, const char *v, struct dp_smtp_conf *c, char *err,
		      size_t errlen)
{
	static const char key[] = "downstream_smtp_server_addr";
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res, *ai, *pick = NULL;
	char ip[INET6_ADDRSTRLEN];
	int rc;

	if (!mxg_ip_parse(v, &c->ds_addr))
		return 0;
	if (strlen(v) >= sizeof(c->ds_name) || strpbrk(v, " \t/[]:"))
		return mxg_conf_err(s, key, err, errlen, "'%s' is not an IPv4 or IPv6 address or "
				    "a host name", v);
	rc = getaddrinfo(v, NULL, &hints, &res);
	if (rc)
		return mxg_conf_err(s, key, err, errlen, "'%s' does not resolve: %s", v,
				    gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			pick = ai;
			break;
		}
		if (ai->ai_family == AF_INET6 && !pick)
			pick = ai;
	}
	rc = !pick ||
	     !inet_ntop(pick->ai_family,
			pick->ai_family == AF_INET
				? (const void *)&((struct sockaddr_in *)pick->ai_addr)->sin_addr
				: (const void *)&((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr,
			ip, sizeof(ip)) ||
	     mxg_ip_parse(ip, &c->ds_addr);
	freeaddrinfo(res);
	if (rc)
		return mxg_conf_err(s, key, err, errlen, "'%s' has no IPv4 or IPv6 address", v);
	strcpy(c->ds_name, v);
	return 0;
}

static int check_acl(struct mxg_conf_sec *s, const char *key, const char *v, char *err,
		     size_t errlen)
{
	struct smtp_acl *a = smtp_acl_new(NULL);
	size_t off = 0;
	int rc;

	if (!a)
		return MXG_E_NOMEM;
	rc = smtp_acl_parse(a, v, &off);
	smtp_acl_free(a);
	if (rc == MXG_E_INVAL)
		return mxg_conf_err(s, key, err, errlen, "bad entry at '%.40s' (single address, "
				    "CIDR a.b.c.d/n, or range a.b.c.d-e)", v + off);
	return rc;
}

int dp_smtp_conf_load(struct mxg_conf *mc, struct dp_smtp_conf *c, char *err, size_t errlen)
{
	struct mxg_conf_sec *s = mxg_conf_find(mc, "smtp", NULL);
	struct tok_ctx t = {.c = c};
	char host[256] = "localhost", buf[512];
	const char *v;
	uint64_t u;
	int rc, e;

	memset(c, 0, sizeof(*c));
	if (!s)
		return 0;
	if ((rc = mxg_conf_get_bool(s, "enable", true, &c->enabled, err, errlen)))
		return rc;
	gethostname(host, sizeof(host) - 1);
	if ((rc = get_str(s, "hostname", host, c->hostname, sizeof(c->hostname), err, errlen)))
		return rc;
	if (strpbrk(c->hostname, " \t\r\n<>") || !*c->hostname)
		return mxg_conf_err(s, "hostname", err, errlen, "not a host name");

	/* Listeners. */
	v = mxg_conf_get(s, "proxy_smtp_server_ip");
	rc = each_token(v ? v : "all", addr_tok, &t);
	if (rc || !c->naddrs)
		return mxg_conf_err(s, "proxy_smtp_server_ip", err, errlen,
				    "'%s': expected all, 0.0.0.0, :: or up to %d addresses", t.bad,
				    DP_SMTP_MAX_ADDRS);
	v = mxg_conf_get(s, "proxy_smtp_ports");
	rc = each_token(v ? v : "25, 10025", port_tok, &t);
	if (rc)
		return mxg_conf_err(s, "proxy_smtp_ports", err, errlen,
				    "'%s': expected up to %d ports 1..65535", t.bad,
				    DP_SMTP_MAX_PORTS);
	if ((rc = mxg_conf_get_u64(s, "reprocess_smtp_port", 10024, 0, 65535, &u, err, errlen)))
		return rc;
	c->reprocess_port = (uint16_t)u;
	for (unsigned i = 0; i < c->nports; i++)
		for (unsigned j = i + 1; j < c->nports + 1; j++)
			if (c->port[i] == (j < c->nports ? c->port[j] : c->reprocess_port))
				return mxg_conf_err(s, "proxy_smtp_ports", err, errlen,
						    "port %u given twice", c->port[i]);

	/* Who may do what. */
	if ((rc = get_str(s, "smtp_allow_client_ip", "", c->allow_client_ip,
			  sizeof(c->allow_client_ip), err, errlen)) ||
	    (rc = check_acl(s, "smtp_allow_client_ip", c->allow_client_ip, err, errlen)))
		return rc;
	if ((rc = get_str(s, "known_hosts", "", c->known_hosts, sizeof(c->known_hosts), err,
			  errlen)) ||
	    (rc = check_acl(s, "known_hosts", c->known_hosts, err, errlen)))
		return rc;
	if ((rc = get_str(s, "local_domains", "", c->local_domains, sizeof(c->local_domains), err,
			  errlen)))
		return rc;
	if (each_token(c->local_domains, domain_tok, &t))
		return mxg_conf_err(s, "local_domains", err, errlen, "'%s' is not a domain", t.bad);
	if ((rc = mxg_conf_get_bool(s, "proxy_protocol", false, &c->proxy_protocol, err, errlen)))
		return rc;
	if (c->proxy_protocol && !*c->known_hosts)
		return mxg_conf_err(s, "proxy_protocol", err, errlen,
				    "needs known_hosts (who may send a PROXY header)");

	/* Downstream. */
	v = mxg_conf_get(s, "downstream_smtp_server_addr");
	if (c->enabled && (!v || !*v))
		return mxg_conf_err(s, "downstream_smtp_server_addr", err, errlen,
				    "missing: the MTA that receives scanned mail");
	if (v && *v && (rc = ds_resolve(s, v, c, err, errlen)))
		return rc;
	if ((rc = mxg_conf_get_u64(s, "downstream_smtp_server_port", 10026, 1, 65535, &u, err,
				   errlen)))
		return rc;
	c->ds_port = (uint16_t)u;
	if ((rc = mxg_conf_get_enum(s, "downstream_tls", ds_tls_names,
				    DP_SMTP_DS_TLS_OPPORTUNISTIC, &e, err, errlen)))
		return rc;
	c->ds_tls = (enum dp_smtp_ds_tls)e;
	if ((rc = mxg_conf_get_bool(s, "xforward", true, &c->xforward, err, errlen)))
		return rc;
	if ((rc = mxg_conf_get_u64(s, "downstream_max_connections", 64, 1, 65535, &u, err,
				   errlen)))
		return rc;
	c->ds_conns_max = (uint32_t)u;
	if ((rc = get_secs(s, "downstream_idle_timeout", 30, 1, 3600, &c->ds_idle, err, errlen)) ||
	    (rc = get_secs(s, "downstream_connect_timeout", 30, 1, 600, &c->ds_connect_tmo, err,
			   errlen)) ||
	    (rc = get_secs(s, "downstream_reply_timeout", 300, 1, 3600, &c->ds_reply_tmo, err,
			   errlen)) ||
	    (rc = get_secs(s, "downstream_data_timeout", 600, 1, 3600, &c->ds_eod_tmo, err,
			   errlen)))
		return rc;

	/* Limits and timeouts of inbound sessions. */
	if ((rc = mxg_conf_get_u64(s, "max_message_size", 52428800, 1024, 1ULL << 40,
				   &c->msg_size_max, err, errlen)))
		return rc;
	if ((rc = mxg_conf_get_u64(s, "max_recipients", 1000, 1, 100000, &u, err, errlen)))
		return rc;
	c->rcpt_max = (uint32_t)u;
	if ((rc = mxg_conf_get_u64(s, "max_line_length", 2048, 512, 65536, &u, err, errlen)))
		return rc;
	c->line_max = (uint32_t)u;
	if ((rc = mxg_conf_get_u64(s, "max_sessions", 1000, 1, 1000000, &u, err, errlen)))
		return rc;
	c->sessions_max = (uint32_t)u;
	if ((rc = mxg_conf_get_u64(s, "max_sessions_per_ip", 50, 1, 1000000, &u, err, errlen)))
		return rc;
	c->sessions_per_ip = (uint32_t)u;
	if ((rc = mxg_conf_get_u64(s, "max_errors", 20, 1, 100000, &u, err, errlen)))
		return rc;
	c->errors_max = (uint32_t)u;
	if ((rc = mxg_conf_get_u64(s, "max_commands", 10000, 10, 10000000, &u, err, errlen)))
		return rc;
	c->commands_max = (uint32_t)u;
	if ((rc = get_secs(s, "timeout_greeting", 30, 1, 3600, &c->tmo_greeting, err, errlen)) ||
	    (rc = get_secs(s, "timeout_command", 300, 1, 3600, &c->tmo_command, err, errlen)) ||
	    (rc = get_secs(s, "timeout_data", 180, 1, 3600, &c->tmo_data, err, errlen)) ||
	    (rc = get_secs(s, "recipient_cache_ttl", 600, 0, 86400, &c->rcpt_cache_ttl, err,
			   errlen)))
		return rc;
	/* Messages are held whole until their end of data (dp_smtp_pol.c). */
	if ((rc = mxg_conf_get_u64(s, "hold_memory_max_mb", 1024, 16, 1 << 20, &u, err, errlen)))
		return rc;
	c->hold_memory_max = u << 20;

	/* Throttling per client IP (the original client behind a known host). */
	if ((rc = get_secs(s, "throttle_window", 60, 1, 86400, &c->thr_window, err, errlen)))
		return rc;
	if ((rc = mxg_conf_get_u64(s, "throttle_connections", 0, 0, 10000000, &u, err, errlen)))
		return rc;
	c->thr_conns = (uint32_t)u;
	if ((rc = mxg_conf_get_u64(s, "throttle_messages", 0, 0, 10000000, &u, err, errlen)))
		return rc;
	c->thr_msgs = (uint32_t)u;
	if ((rc = mxg_conf_get_u64(s, "throttle_recipients", 0, 0, 100000000, &u, err, errlen)))
		return rc;
	c->thr_rcpts = (uint32_t)u;
	if ((rc = mxg_conf_get_u64(s, "throttle_table_size", 8192, 64, 1 << 22, &u, err,
				   errlen)))
		return rc;
	for (c->thr_slots = 64; c->thr_slots < u; c->thr_slots <<= 1)
		;
	/* DNSBL: how long the greeting waits for mxgate-control's answer
	 * (0: no lookups). */
	if ((rc = mxg_conf_get_u64(s, "dnsbl_hold_ms", 2000, 0, 60000, &u, err, errlen)))
		return rc;
	c->dnsbl_hold = u * MXG_NSEC_PER_MSEC;

	/* TLS. */
	if ((rc = mxg_conf_get_bool(s, "starttls", true, &c->starttls, err, errlen)) ||
	    (rc = get_str(s, "tls_cert", "", c->tls_cert, sizeof(c->tls_cert), err, errlen)) ||
	    (rc = get_str(s, "tls_key", "", c->tls_key, sizeof(c->tls_key), err, errlen)) ||
	    (rc = get_str(s, "tls_ciphers", "", c->tls_ciphers, sizeof(c->tls_ciphers), err,
			  errlen)))
		return rc;
	if (!*c->tls_cert != !*c->tls_key) {
		snprintf(buf, sizeof(buf), "tls_cert and tls_key go together");
		return mxg_conf_err(s, *c->tls_cert ? "tls_key" : "tls_cert", err, errlen, "%s",
				    buf);
	}
	if ((rc = mxg_conf_get_enum(s, "tls_min_version", tls_versions, 0, &e, err, errlen)))
		return rc;
	c->tls_min_version = e ? 13 : 12;
	return 0;
}
