/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_smtp_ds.c - the downstream side of the SMTP proxy: a per-worker pool
 * of smtp_cli sessions over tcps_connect, reused across messages and
 * clients (idle ones QUIT after downstream_idle_timeout), STARTTLS to the
 * downstream, and the mapping of the downstream's replies onto the
 * client's (k_msg_done). The active open picks its source address and, on
 * multi-queue ports, a local port whose RSS hash returns to this worker
 * (pick_lport). Design and end-to-end acknowledgement: dp_smtp.c.
 */
#include <stdio.h>

#include <rte_ethdev.h>
#include <rte_random.h>
#include <rte_thash.h>

#include "dp_smtp_int.h"
#include "mxg_log.h"

#define COMP "smtp"

void dp_smtp_cipher_flush(struct tcps_conn *c, struct dp_tls *t, mxg_tstamp now)
{
	uint8_t buf[16384];

	while (dp_tls_pending(t)) {
		size_t room = tcps_conn_writable(c), n;

		if (!room)
			break;
		n = dp_tls_get(t, buf, room < sizeof(buf) ? room : sizeof(buf));
		if (!n || tcps_conn_send(c, buf, n, now) != (long)n)
			break;
	}
}

/* Returns false when the session died. */

int dp_smtp_out_begin(struct out *o)
{
	struct sess *s = o->owner;
	const struct smtp_peer *pe = smtp_srv_peer(s->srv);
	char addr[80], ip[64], port[8];
	struct smtp_xforward xf = {0};
	struct smtp_envelope env = {
		.mail_from = s->from, .size = s->env_size ? s->env_size : s->size,
		.body = s->body, .smtputf8 = s->smtputf8, .ret = s->ret, .envid = s->envid,
	};
	int rc;

	env.rcpt = sess_env(s, &env.nrcpt);
	if (pe->addr.family) {
		mxg_ip_str(&pe->addr, ip, sizeof(ip));
		snprintf(addr, sizeof(addr), "%s%s", pe->addr.family == 6 ? "IPv6:" : "", ip);
		snprintf(port, sizeof(port), "%u", pe->port);
		xf.addr = addr;
		xf.port = port;
	}
	xf.name = pe->name[0] ? pe->name : "[UNAVAILABLE]";
	xf.helo = pe->helo[0] ? pe->helo : NULL;
	xf.proto = pe->proto[0] ? pe->proto : NULL;
	xf.source = "REMOTE";
	env.xforward = s->sw->c->xforward ? &xf : NULL;
	rc = smtp_cli_msg_begin(o->cli, &env, s->sw->now);
	if (rc)
		return rc;
	o->begun = true;
	dp_smtp_out_pump(o);
	return 0;
}



void dp_smtp_out_flush(struct out *o)
{
	const uint8_t *p;
	size_t n;
	long w;

	if (o->dead)
		return;
	while ((n = smtp_cli_output(o->cli, &p)) > 0) {
		if (o->tst == T_UP)
			w = dp_tls_write(o->tls, p, n);
		else if (o->tst == T_HS)
			break;
		else
			w = tcps_conn_send(o->conn, p, n, o->sw->now);
		if (w <= 0)
			break;
		smtp_cli_output_consumed(o->cli, (size_t)w);
	}
	if (o->tst == T_WANT && !smtp_cli_output(o->cli, &p)) {
		o->tls = dp_smtp_g.tls_cli ? dp_tls_new(dp_smtp_g.tls_cli, NULL) : NULL;
		if (!o->tls) {
			smtp_cli_closed(o->cli);
			dp_smtp_out_kill(o);
			return;
		}
		o->tst = T_HS;
		dp_tls_handshake(o->tls); /* ClientHello */
	}
	if (o->tls)
		dp_smtp_cipher_flush(o->conn, o->tls, o->sw->now);
}

/* Moves the owner's content to the downstream and ends it when due. */
void dp_smtp_out_pump(struct out *o)
{
	struct sess *s = o->owner;
	const uint8_t *op;

	if (o->dead)
		return;
	if (s && s->ds_ready && !s->failed) {
		while (buf_pending(&s->pend)) {
			ssize_t w = smtp_cli_data_write(o->cli, s->pend.p + s->pend.off,
							buf_pending(&s->pend), o->sw->now);

			if (w < 0) {
				dp_smtp_msg_fail(s, 451, "4.4.2", "Error: downstream write failed");
				return;
			}
			if (w == 0) {
				dp_smtp_out_flush(o);
				if (o->dead || smtp_cli_output(o->cli, &op))
					break;
				continue;
			}
			buf_take(&s->pend, (size_t)w);
		}
		if (!buf_pending(&s->pend) && s->eod && !s->ds_end_sent) {
			if (smtp_cli_data_end(o->cli, o->sw->now)) {
				dp_smtp_msg_fail(s, 451, "4.4.2", "Error: downstream write failed");
				return;
			}
			s->ds_end_sent = true;
		}
	}
	dp_smtp_out_flush(o);
	if (s && !s->dead && s->paused && buf_pending(&s->pend) < PEND_HIGH / 2) {
		s->paused = false;
		dp_smtp_sess_pump(s);
	}
}

static void out_read(struct out *o)
{
	const uint8_t *p;
	size_t n;
	uint8_t tmp[16384];

	while (!o->dead && (n = tcps_conn_peek(o->conn, &p)) > 0) {
		if (o->tst >= T_HS) {
			if (dp_tls_put(o->tls, p, n)) {
				smtp_cli_closed(o->cli);
				dp_smtp_out_kill(o);
				return;
			}
		} else if (smtp_cli_input(o->cli, p, n, o->sw->now) < 0) {
			if (!o->dead)
				dp_smtp_out_kill(o);
			return;
		}
		if (o->dead)
			return;
		tcps_conn_consume(o->conn, n, o->sw->now);
		if (o->tst == T_WANT) /* what follows "220" is the handshake's */
			break;
	}
	if (o->tst == T_HS) {
		int r = dp_tls_handshake(o->tls);

		dp_smtp_cipher_flush(o->conn, o->tls, o->sw->now);
		if (r < 0) {
			o->sw->st.downstream_errors++;
			smtp_cli_closed(o->cli);
			dp_smtp_out_kill(o);
			return;
		}
		if (r == 1) {
			o->tst = T_UP;
			o->sw->st.downstream_tls++;
			smtp_cli_tls_done(o->cli, o->sw->now);
		}
	}
	while (!o->dead && o->tst == T_UP) {
		ssize_t r = dp_tls_read(o->tls, tmp, sizeof(tmp));

		if (r == 0)
			break;
		if (r < 0 || smtp_cli_input(o->cli, tmp, (size_t)r, o->sw->now) < 0) {
			if (!o->dead) {
				smtp_cli_closed(o->cli);
				dp_smtp_out_kill(o);
			}
			return;
		}
	}
	if (!o->dead && tcps_conn_eof(o->conn) && !tcps_conn_readable(o->conn)) {
		smtp_cli_closed(o->cli);
		dp_smtp_out_kill(o);
	}
}

static void o_connected(struct tcps_conn *c, void *ud)
{
	struct out *o = ud;

	enter(o->sw, tcps_conn_now(c));
	o->sw->st.downstream_connects++;
	smtp_cli_start(o->cli, o->sw->now);
	leave(o->sw);
}

static void o_readable(struct tcps_conn *c, void *ud)
{
	struct out *o = ud;
	struct dp_smtp_worker *sw = o->sw;

	enter(sw, tcps_conn_now(c));
	out_read(o);
	if (!o->dead)
		dp_smtp_out_pump(o);
	leave(sw);
}

static void o_writable(struct tcps_conn *c, void *ud)
{
	struct out *o = ud;

	enter(o->sw, tcps_conn_now(c));
	dp_smtp_out_pump(o);
	leave(o->sw);
}

static void o_error(struct tcps_conn *c, enum tcps_err err, void *ud)
{
	struct out *o = ud;

	enter(o->sw, tcps_conn_now(c));
	o->sw->st.downstream_errors++;
	smtp_cli_closed(o->cli);
	dp_smtp_out_kill(o);
	leave(o->sw);
}

static const struct tcps_conn_callbacks out_cbs = {
	.on_connected = o_connected,
	.on_readable = o_readable,
	.on_writable = o_writable,
	.on_error = o_error,
};

void dp_smtp_idle_remove(struct out *o)
{
	if (o->in_idle) {
		TAILQ_REMOVE(&o->sw->idle, o, ilink);
		o->in_idle = false;
	}
}

void dp_smtp_out_kill(struct out *o)
{
	struct dp_smtp_worker *sw = o->sw;
	struct sess *s = o->owner;

	if (o->dead)
		return;
	o->dead = true;
	dp_smtp_idle_remove(o);
	if (s) {
		/* on_msg_done normally detached the owner already. */
		o->owner = NULL;
		s->out = NULL;
		dp_smtp_msg_fail(s, 451, "4.4.2", "Error: downstream connection lost, try again later");
	}
	if (o->conn)
		tcps_conn_abort(o->conn, sw->now);
	o->conn = NULL;
	/* cli and tls are freed by dp_smtp_reap(): this may run inside a cli callback. */
	TAILQ_REMOVE(&sw->outs, o, link);
	TAILQ_INSERT_TAIL(&sw->dead_o, o, link);
	sw->nout--;
}

static void k_ready(struct smtp_cli *c, void *ud)
{
	struct out *o = ud;

	o->ready = true;
	if (o->owner && !o->begun) {
		int rc = dp_smtp_out_begin(o);

		if (rc && o->owner)
			dp_smtp_msg_fail(o->owner, 451, "4.3.0", "Error: downstream envelope: %s",
				 mxg_strerror(rc));
		return;
	}
	if (!o->owner && !o->in_idle && !o->quitting) {
		o->t_idle = o->sw->now;
		TAILQ_INSERT_HEAD(&o->sw->idle, o, ilink);
		o->in_idle = true;
	}
}

static void k_rcpt_reply(struct smtp_cli *c, size_t idx, const struct smtp_reply *r, void *ud)
{
	struct out *o = ud;
	struct sess *s = o->owner;
	const struct smtp_rcpt *env;
	size_t n;

	if (!s)
		return;
	env = sess_env(s, &n);
	if (idx >= n)
		return;
	s->rres[idx] = r->code;
	if (r->code >= 400) {
		s->sw->st.rcpt_refused_downstream++;
		dp_smtp_rc_put(s->sw, env[idx].addr, r);
	}
}

static void k_data_ready(struct smtp_cli *c, void *ud)
{
	struct out *o = ud;
	struct sess *s = o->owner;
	size_t ok = 0, n;

	if (!s)
		return;
	sess_env(s, &n);
	if (s->env_rcpt)
		n = s->env_required; /* a policy job: its bccs may be refused */
	for (size_t i = 0; i < n; i++)
		ok += s->rres[i] >= 200 && s->rres[i] < 300;
	if (ok < n) {
		dp_smtp_msg_fail(s, 451, "4.3.0", "Error: the downstream refused %zu of %zu recipients; "
			 "try again later", n - ok, n);
		return;
	}
	s->ds_ready = true;
	if (s->eod) { /* a policy job: the whole content is in pend */
		dp_smtp_out_pump(o);
		return;
	}
	if (s->data_held) {
		s->data_held = false;
		smtp_srv_reply_cmd(s->srv, 0, NULL, NULL); /* 354 */
		dp_smtp_sess_pump(s);
	}
}

static void k_msg_done(struct smtp_cli *c, const struct smtp_cli_result *r, void *ud)
{
	struct out *o = ud;
	struct sess *s = o->owner;
	const struct smtp_reply *f = r->final;
	char text[256];
	size_t nenv;

	bool reused = o->msgs > 0;

	o->begun = false;
	o->msgs++;
	if (r->fail != SMTP_CLI_OK && r->fail != SMTP_CLI_FAIL_REPLY)
		o->quitting = true; /* the session is ending: never hand it out again */
	if (!s)
		return;
	o->owner = NULL;
	s->out = NULL;
	/* A pooled session the downstream closed while idle fails the next
	 * message before the downstream saw any of it: not the message's
	 * fault, so it gets one fresh session (Postfix's smtp client does the
	 * same with its connection cache). */
	if (reused && !s->retried && !s->ds_ready && r->fail == SMTP_CLI_FAIL_CLOSED) {
		bool any = false;
		size_t n;

		sess_env(s, &n);
		for (size_t i = 0; i < n; i++)
			any |= s->rres[i] != 0;
		if (!any) {
			struct out *n = dp_smtp_out_get(s->sw, &o->dst, o->dport);

			s->retried = true;
			if (n) {
				n->owner = s;
				s->out = n;
				if (smtp_cli_state(n->cli) != SMTP_CLI_READY || !dp_smtp_out_begin(n))
					return;
				n->owner = NULL;
				s->out = NULL;
			}
		}
	}
	snprintf(text, sizeof(text), "%.*s", (int)(f->text_len > 200 ? 200 : f->text_len),
		 f->text ? f->text : "");
	sess_env(s, &nenv);
	if (r->delivered && s->ds_end_sent &&
	    (s->env_rcpt ? r->rcpt_ok >= s->env_required : r->rcpt_ok == nenv)) {
		char t[256];

		snprintf(t, sizeof(t), "Ok: delivered: %.200s", text);
		for (char *p = t; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		if (!dp_smtp_pol_delivered(s, t))
			dp_smtp_msg_answer_eod(s, 250, "2.0.0", t);
		return;
	}
	if (dp_smtp_pol_job_failed(s, text))
		return; /* a bcc-only job: counted, the message goes on */
	if (r->fail == SMTP_CLI_FAIL_REPLY && f->code >= 500 && !s->env_rcpt)
		dp_smtp_msg_fail(s, f->code, f->enh[0] ? f->enh : "5.0.0", "downstream: %s", text);
	else if (r->fail == SMTP_CLI_FAIL_REPLY && f->code >= 500)
		/* a policy job after others succeeded: never a bounce for all */
		dp_smtp_msg_fail(s, 451, "4.3.0", "downstream: %s", text);
	else if (r->fail == SMTP_CLI_FAIL_REPLY && f->code >= 400)
		dp_smtp_msg_fail(s, 451, f->enh[0] ? f->enh : "4.3.0", "downstream: %s", text);
	else if (r->fail == SMTP_CLI_FAIL_TIMEOUT)
		dp_smtp_msg_fail(s, 451, "4.4.2", "Error: downstream timeout, try again later");
	else if (r->fail == SMTP_CLI_FAIL_TLS)
		dp_smtp_msg_fail(s, 451, "4.7.5", "Error: downstream offers no TLS, try again later");
	else
		dp_smtp_msg_fail(s, 451, "4.4.2", "Error: downstream connection lost, try again later");
}

static int k_starttls(struct smtp_cli *c, void *ud)
{
	struct out *o = ud;

	o->tst = T_WANT;
	return 0;
}

static void k_closed(struct smtp_cli *c, enum smtp_cli_fail why, void *ud)
{
	struct out *o = ud;

	o->ready = false;
	dp_smtp_idle_remove(o);
	if (why != SMTP_CLI_OK && why != SMTP_CLI_FAIL_ABORT)
		o->sw->st.downstream_errors++;
	if (o->conn && !o->dead && why == SMTP_CLI_OK) {
		/* QUIT answered: close politely; the object goes with it. */
		tcps_conn_close(o->conn, o->sw->now);
		o->conn = NULL;
	}
	dp_smtp_out_kill(o);
}

static const struct smtp_cli_callbacks cli_cbs = {
	.on_ready = k_ready,
	.on_rcpt_reply = k_rcpt_reply,
	.on_data_ready = k_data_ready,
	.on_msg_done = k_msg_done,
	.on_starttls = k_starttls,
	.on_closed = k_closed,
};

/* The source address for the downstream: the port whose prefix holds it,
 * else the first port of its family. */
static bool pick_src(struct dp_worker *w, const struct mxg_ip *dst, struct mxg_ip *src,
		     unsigned *port_idx)
{
	bool found = false;

	for (unsigned i = 0; i < w->nifq; i++) {
		const struct tcps_if_conf *ic = tcps_if_conf(w->ifq[i].ifc);
		const struct mxg_prefix *p = dst->family == 4 ? &ic->v4 : &ic->v6;
		bool has = dst->family == 4 ? ic->has_v4 : ic->has_v6;

		if (!has)
			continue;
		if (!found || mxg_prefix_contains(p, dst)) {
			memset(src, 0, sizeof(*src));
			src->family = dst->family;
			memcpy(src->a, p->ip.a, dst->family == 4 ? 4 : 16);
			*port_idx = i;
			found = true;
			if (mxg_prefix_contains(p, dst))
				break;
		}
	}
	return found;
}

/* A local port whose RSS hash brings the downstream's replies to this
 * worker's queue (see the file comment). 0: let the stack choose. */
static uint16_t pick_lport(struct dp_worker *w, unsigned pi, const struct mxg_ip *src,
			   const struct mxg_ip *dst, uint16_t dport)
{
	const struct dp_ifq *q = &w->ifq[pi];
	struct rte_eth_dev_info info;
	struct rte_eth_rss_conf rc = {0};
	struct rte_eth_rss_reta_entry64 reta[8];
	uint8_t key[64];
	uint16_t nq = 0, base;
	unsigned nrxq_total;

	if (rte_eth_dev_info_get(q->port_id, &info) != 0)
		return 0;
	nrxq_total = w->ctx->port[pi].nrxq;
	if (nrxq_total <= 1)
		return 0;
	rc.rss_key = key;
	rc.rss_key_len = sizeof(key);
	memset(reta, 0, sizeof(reta));
	for (unsigned i = 0; i < RTE_DIM(reta); i++)
		reta[i].mask = UINT64_MAX;
	if (info.reta_size == 0 || info.reta_size > 512 ||
	    rte_eth_dev_rss_hash_conf_get(q->port_id, &rc) != 0 || rc.rss_key_len < 40 ||
	    rte_eth_dev_rss_reta_query(q->port_id, reta, info.reta_size) != 0) {
		if (!dp_smtp_g.rss_warned) {
			dp_smtp_g.rss_warned = true;
			MXG_WARN(COMP, "port %u: RSS key/RETA not readable: downstream sessions "
				 "use ephemeral ports; replies may reach another worker",
				 q->port_id);
		}
		return 0;
	}
	base = (uint16_t)(rte_rand() % 28000);
	for (unsigned t = 0; t < 4096; t++) {
		uint16_t lport = (uint16_t)(32768 + (base + t * 7) % 28000);
		uint32_t tuple[10], len, h;
		unsigned idx;

		if (dst->family == 4) {
			tuple[0] = rte_be_to_cpu_32(*(const uint32_t *)dst->a);
			tuple[1] = rte_be_to_cpu_32(*(const uint32_t *)src->a);
			tuple[2] = ((uint32_t)dport << 16) | lport;
			len = 3;
		} else {
			for (int k = 0; k < 4; k++) {
				tuple[k] = rte_be_to_cpu_32(*(const uint32_t *)(dst->a + 4 * k));
				tuple[4 + k] = rte_be_to_cpu_32(*(const uint32_t *)(src->a + 4 * k));
			}
			tuple[8] = ((uint32_t)dport << 16) | lport;
			len = 9;
		}
		h = rte_softrss(tuple, len, key);
		idx = h % info.reta_size;
		nq = reta[idx / RTE_ETH_RETA_GROUP_SIZE].reta[idx % RTE_ETH_RETA_GROUP_SIZE];
		for (uint16_t r = 0; r < q->nrxq; r++)
			if (q->rxq[r] == nq)
				return lport;
	}
	return 0;
}

static struct out *out_new(struct dp_smtp_worker *sw, const struct mxg_ip *dst, uint16_t dport)
{
	const struct dp_smtp_conf *cf = sw->c;
	struct smtp_cli_config cc;
	struct mxg_ip src;
	unsigned pi = 0;
	uint16_t lport;
	struct out *o;
	int rc;

	if (!pick_src(sw->w, dst, &src, &pi)) {
		MXG_WARN(COMP, "no port has an IPv%u address to reach the downstream",
			 dst->family);
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->sw = sw;
	o->dst = *dst;
	o->dport = dport;
	smtp_cli_config_init(&cc);
	cc.helo_name = cf->hostname;
	cc.flags = 0;
	if (cf->ds_tls != DP_SMTP_DS_TLS_NONE && dp_smtp_g.tls_cli)
		cc.flags |= SMTP_CLI_F_STARTTLS;
	if (cf->ds_tls == DP_SMTP_DS_TLS_REQUIRED)
		cc.flags |= SMTP_CLI_F_REQUIRE_TLS;
	if (cf->xforward)
		cc.flags |= SMTP_CLI_F_XFORWARD;
	cc.tmo_reply = cf->ds_reply_tmo;
	cc.tmo_eod = cf->ds_eod_tmo;
	cc.tmo_data = cf->tmo_data;
	o->cli = smtp_cli_new(NULL, &cc, &cli_cbs, o);
	if (!o->cli) {
		free(o);
		return NULL;
	}
	lport = pick_lport(sw->w, pi, &src, dst, dport);
	rc = tcps_connect(sw->tcp, &src, lport, dst, dport, TCPS_CC_CUBIC, &out_cbs, o, sw->now,
			  &o->conn);
	if (rc && lport)
		rc = tcps_connect(sw->tcp, &src, 0, dst, dport, TCPS_CC_CUBIC, &out_cbs, o, sw->now,
				  &o->conn);
	if (rc) {
		sw->st.downstream_errors++;
		smtp_cli_free(o->cli);
		free(o);
		return NULL;
	}
	o->t_open = sw->now;
	TAILQ_INSERT_TAIL(&sw->outs, o, link);
	sw->nout++;
	return o;
}

/* An idle pooled session, or a new one (NULL: pool full or no memory). */
static bool same_dst(const struct out *o, const struct mxg_ip *dst, uint16_t dport)
{
	return o->dport == dport && o->dst.family == dst->family &&
	       memcmp(o->dst.a, dst->a, dst->family == 4 ? 4 : 16) == 0;
}

struct out *dp_smtp_out_get(struct dp_smtp_worker *sw, const struct mxg_ip *dst,
			    uint16_t dport)
{
	struct out *o;

	if (!dst) {
		dst = &sw->c->ds_addr;
		dport = sw->c->ds_port;
	}
	TAILQ_FOREACH(o, &sw->idle, ilink)
		if (same_dst(o, dst, dport)) {
			dp_smtp_idle_remove(o);
			sw->st.downstream_reused++;
			return o;
		}
	/* An unowned session still starting, or finishing its previous
	 * message (a pipelined next message arrives before the downstream's
	 * session is READY again): k_ready begins the message. */
	TAILQ_FOREACH(o, &sw->outs, link)
		if (!o->owner && !o->dead && !o->quitting && !o->in_idle && same_dst(o, dst, dport)) {
			sw->st.downstream_reused += o->msgs > 0;
			return o;
		}
	if (sw->nout >= sw->c->ds_conns_max) {
		/* Make room: an idle session to another destination goes. */
		o = TAILQ_LAST(&sw->idle, out_list);
		if (!o)
			return NULL;
		dp_smtp_idle_remove(o);
		o->quitting = true;
		smtp_cli_closed(o->cli);
		dp_smtp_out_kill(o);
	}
	return out_new(sw, dst, dport);
}
