/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_conf.c - the [dataplane] and [port NAME] sections of mxgate.conf.
 *
 * Keys are documented in docs/configuration.md. Sections the dataplane does
 * not own (e.g. [smtp], [control]) are left for their processes; inside its
 * own sections every key must be known, so a misspelt key is an error.
 */
#include <stdio.h>
#include <string.h>

#include "dp.h"
#include "mxg_chan.h"
#include "mxg_err.h"
#include "mxg_log.h"

static const char *const idle_names[] = {"adaptive", "busy", NULL};

static const char *const pmds[] = {
	"net_tap", "net_af_xdp", "net_af_packet", "net_pcap", "net_ring", "net_null", "pci", NULL,
};

static int copy_str(struct mxg_conf_sec *s, const char *key, const char *def, char *dst,
		    size_t dstlen, char *err, size_t errlen)
{
	const char *v = mxg_conf_get(s, key);

	if (!v)
		v = def;
	if (strlen(v) >= dstlen)
		return mxg_conf_err(s, key, err, errlen, "value longer than %zu bytes", dstlen - 1);
	strcpy(dst, v);
	return 0;
}

static int get_prefix(struct mxg_conf_sec *s, const char *key, int family, bool *has,
		      struct mxg_prefix *p, char *err, size_t errlen)
{
	const char *v = mxg_conf_get(s, key);

	*has = false;
	if (!v || !*v)
		return 0;
	if (mxg_prefix_parse(v, p) != 0 || p->ip.family != family)
		return mxg_conf_err(s, key, err, errlen, "'%s' is not an IPv%d address/prefix", v,
				    family);
	*has = true;
	return 0;
}

static int get_ip(struct mxg_conf_sec *s, const char *key, int family, bool *has,
		  struct mxg_ip *ip, char *err, size_t errlen)
{
	const char *v = mxg_conf_get(s, key);

	*has = false;
	if (!v || !*v)
		return 0;
	if (mxg_ip_parse(v, ip) != 0 || ip->family != family)
		return mxg_conf_err(s, key, err, errlen, "'%s' is not an IPv%d address", v, family);
	*has = true;
	return 0;
}

static int get_mac(struct mxg_conf_sec *s, const char *key, bool *has, uint8_t mac[6],
		   char *err, size_t errlen)
{
	const char *v = mxg_conf_get(s, key);
	unsigned b[6];
	char end;

	*has = false;
	if (!v || !*v)
		return 0;
	if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &end) != 6 || (b[0] & 1))
		return mxg_conf_err(s, key, err, errlen, "'%s' is not a unicast MAC address", v);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	*has = true;
	return 0;
}

static int load_port(struct mxg_conf_sec *s, struct dp_port_conf *p, char *err, size_t errlen)
{
	uint64_t v;
	int pmd, rc;

	if (strlen(mxg_conf_sec_arg(s)) >= sizeof(p->name) || !*mxg_conf_sec_arg(s)) {
		snprintf(err, errlen, "line %d: [port NAME] needs a name of at most %zu bytes",
			 mxg_conf_sec_line(s), sizeof(p->name) - 1);
		return MXG_E_INVAL;
	}
	strcpy(p->name, mxg_conf_sec_arg(s));
	if (!mxg_conf_get(s, "pmd"))
		return mxg_conf_err(s, "pmd", err, errlen, "missing (one of net_tap, net_af_xdp, "
				    "net_af_packet, net_pcap, net_ring, net_null, pci)");
	if ((rc = mxg_conf_get_enum(s, "pmd", pmds, 0, &pmd, err, errlen)))
		return rc;
	strcpy(p->pmd, pmds[pmd]);
	if ((rc = copy_str(s, "devargs", "", p->devargs, sizeof(p->devargs), err, errlen)))
		return rc;
	if (pmd == 6 && !*p->devargs)
		return mxg_conf_err(s, "devargs", err, errlen, "pci ports need the PCI address");
	if ((rc = mxg_conf_get_u64(s, "queues", 0, 0, DP_MAX_QUEUES, &v, err, errlen)))
		return rc;
	p->queues = (uint16_t)v;
	if ((rc = mxg_conf_get_u64(s, "rx_desc", 1024, 64, 16384, &v, err, errlen)))
		return rc;
	p->rx_desc = (uint16_t)v;
	if ((rc = mxg_conf_get_u64(s, "tx_desc", 1024, 64, 16384, &v, err, errlen)))
		return rc;
	p->tx_desc = (uint16_t)v;
	if ((rc = mxg_conf_get_u64(s, "mtu", 1500, 1280, 9000, &v, err, errlen)))
		return rc;
	p->mtu = (uint16_t)v;
	if ((rc = mxg_conf_get_u64(s, "vlan", 0, 0, 4094, &v, err, errlen)))
		return rc;
	p->vlan = (uint16_t)v;
	if ((rc = get_mac(s, "mac", &p->has_mac, p->mac, err, errlen)))
		return rc;
	if ((rc = get_prefix(s, "ipv4", 4, &p->has_v4, &p->v4, err, errlen)) ||
	    (rc = get_prefix(s, "ipv6", 6, &p->has_v6, &p->v6, err, errlen)) ||
	    (rc = get_ip(s, "ipv4_gateway", 4, &p->has_v4_gw, &p->v4_gw, err, errlen)) ||
	    (rc = get_ip(s, "ipv6_gateway", 6, &p->has_v6_gw, &p->v6_gw, err, errlen)))
		return rc;
	if (p->has_v4_gw && !p->has_v4)
		return mxg_conf_err(s, "ipv4_gateway", err, errlen, "needs ipv4 on the port");
	if (p->has_v6_gw && !p->has_v6)
		return mxg_conf_err(s, "ipv6_gateway", err, errlen, "needs ipv6 on the port");
	if (p->has_v4_gw && !mxg_prefix_contains(&p->v4, &p->v4_gw))
		return mxg_conf_err(s, "ipv4_gateway", err, errlen, "not inside the port's prefix");
	if (p->has_v6_gw && !mxg_prefix_contains(&p->v6, &p->v6_gw) &&
	    !(p->v6_gw.a[0] == 0xfe && (p->v6_gw.a[1] & 0xc0) == 0x80))
		return mxg_conf_err(s, "ipv6_gateway", err, errlen,
				    "neither link-local nor inside the port's prefix");
	if (!p->has_v4 && !p->has_v6)
		return mxg_conf_err(s, "ipv4", err, errlen, "a port needs ipv4 or ipv6 (or both)");
	return 0;
}

int dp_conf_load(const char *path, struct dp_conf *c, char *err, size_t errlen)
{
	struct mxg_conf *mc;
	struct mxg_conf_sec *s;
	uint64_t v;
	int rc, idle;

	memset(c, 0, sizeof(*c));
	rc = mxg_conf_load(path, &mc, err, errlen);
	if (rc)
		return rc;
	s = mxg_conf_find(mc, "dataplane", "");
	if ((rc = copy_str(s, "file_prefix", "mxgate", c->file_prefix, sizeof(c->file_prefix), err,
			   errlen)) ||
	    (rc = copy_str(s, "eal_args", "--no-huge -m 256", c->eal_args, sizeof(c->eal_args), err,
			   errlen)) ||
	    (rc = copy_str(s, "log_level", "info", c->log_level, sizeof(c->log_level), err,
			   errlen)))
		goto out;
	if ((rc = mxg_conf_get_u64(s, "workers", 1, 1, DP_MAX_WORKERS, &v, err, errlen)))
		goto out;
	c->workers = (unsigned)v;
	if ((rc = mxg_conf_get_enum(s, "idle", idle_names, DP_IDLE_ADAPTIVE, &idle, err, errlen)))
		goto out;
	c->idle = (enum dp_idle)idle;
	if ((rc = mxg_conf_get_u64(s, "idle_max_us", 200, 1, 100000, &v, err, errlen)))
		goto out;
	c->idle_max_us = (uint32_t)v;
	if ((rc = mxg_conf_get_u64(s, "mbufs", 8191, 511, 1u << 24, &v, err, errlen)))
		goto out;
	c->mbufs = (uint32_t)v;
	if ((rc = mxg_conf_get_u64(s, "mbuf_cache", 256, 0, 512, &v, err, errlen)))
		goto out;
	c->mbuf_cache = (uint32_t)v;
	if ((rc = mxg_conf_get_u64(s, "burst", 32, 1, DP_MAX_BURST, &v, err, errlen)))
		goto out;
	c->burst = (uint16_t)v;
	if ((rc = mxg_conf_get_bool(s, "test_services", false, &c->test_services, err, errlen)))
		goto out;
	/* test-only relay to kernel servers (tests of active opens) */
	if ((rc = mxg_conf_get_u64(s, "test_relay_port", 0, 0, 65535, &v, err, errlen)))
		goto out;
	c->test_relay_port = (uint16_t)v;
	for (int fam = 4; fam <= 6; fam += 2) {
		const char *key = fam == 4 ? "test_relay_v4" : "test_relay_v6";
		struct mxg_ip *ip = fam == 4 ? &c->test_relay_v4 : &c->test_relay_v6;
		const char *a = mxg_conf_get(s, key);

		if (a && (mxg_ip_parse(a, ip) || ip->family != fam)) {
			rc = mxg_conf_err(s, key, err, errlen, "'%s' is not an IPv%d address", a,
					  fam);
			goto out;
		}
	}
	/* TCP sizing: buffers are what a connection costs, so max_conns and
	 * mem_max together bound a worker's memory (docs/configuration.md). */
	if ((rc = mxg_conf_get_u64(s, "tcp_max_conns", 65536, 16, 1u << 24, &v, err, errlen)))
		goto out;
	c->tcp_max_conns = (uint32_t)v;
	if ((rc = mxg_conf_get_u64(s, "tcp_rcvbuf", 256 * 1024, 4096, 64u << 20, &v, err, errlen)))
		goto out;
	c->tcp_rcvbuf = (uint32_t)v;
	if ((rc = mxg_conf_get_u64(s, "tcp_sndbuf", 256 * 1024, 4096, 64u << 20, &v, err, errlen)))
		goto out;
	c->tcp_sndbuf = (uint32_t)v;
	if ((rc = mxg_conf_get_u64(s, "tcp_mem_max_mb", 1024, 1, 1u << 20, &v, err, errlen)))
		goto out;
	c->tcp_mem_max = v << 20;
	if ((rc = mxg_conf_get_u64(s, "tcp_time_wait_ms", 60000, 0, 240000, &v, err, errlen)))
		goto out;
	c->tcp_time_wait_ms = (uint32_t)v;
	if (mxg_log_level_parse(c->log_level) < 0) {
		rc = mxg_conf_err(s, "log_level", err, errlen,
				  "'%s' is not one of err, warn, notice, info, debug", c->log_level);
		goto out;
	}
	for (size_t i = 0; i < mxg_conf_nsec(mc); i++) {
		s = mxg_conf_sec_at(mc, i);
		if (strcmp(mxg_conf_sec_type(s), "port") != 0)
			continue;
		if (c->nports == DP_MAX_PORTS) {
			snprintf(err, errlen, "%s:%d: more than %d ports", path, mxg_conf_sec_line(s),
				 DP_MAX_PORTS);
			rc = MXG_E_RANGE;
			goto out;
		}
		if ((rc = load_port(s, &c->port[c->nports++], err, errlen)))
			goto out;
	}
	if (c->nports == 0) {
		snprintf(err, errlen, "%s: no [port NAME] section", path);
		rc = MXG_E_INVAL;
		goto out;
	}
	if ((rc = dp_smtp_conf_load(mc, &c->smtp, err, errlen)) || /* [smtp]: dp_smtp_conf.c */
	    (rc = dp_scan_conf_load(mc, &c->scan, err, errlen)))     /* [scan]: dp_scan.c */
		goto out;
	if ((rc = dp_filter_conf_load(mc, &c->filter, err, errlen)) || /* [filter]: dp_filter.c */
	    (rc = dp_ctl_conf_load(mc, &c->ctl, err, errlen)))        /* [control]: dp_ctl.c */
		goto out;
	/* A quarantined message travels in one control-channel frame. */
	if (c->ctl.enabled && c->smtp.enabled &&
	    c->smtp.msg_size_max > MXG_CHAN_FRAME_MAX - (1u << 20)) {
		snprintf(err, errlen, "%s: [smtp] max_message_size: at most %u bytes with a "
			 "[control] section (quarantined messages travel in one control-channel "
			 "frame)", path, MXG_CHAN_FRAME_MAX - (1u << 20));
		rc = MXG_E_INVAL;
		goto out;
	}
	/* Sections owned by other processes ([control], ...) are theirs to
	 * check. */
	rc = mxg_conf_check_unused(mc, (const char *const[]){"", "dataplane", "port", "smtp",
							     "scan", "filter", NULL},
				   err, errlen);
out:
	mxg_conf_free(mc);
	return rc;
}
