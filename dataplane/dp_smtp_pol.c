/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_smtp_pol.c - the policy's part of the SMTP proxy: per-recipient
 * decisions at the end of data, the dispositions they lead to, and the
 * tracking record of every message (issue 6; design of the proxy in
 * dp_smtp.c, of the policy in control/pol.h, of the channel in dp_ctl.h).
 *
 * THE WHOLE MESSAGE IS HELD
 *	While the content streams to the downstream, the proxy also keeps it
 *	(sess.hold): the policy may decide, at the end of data, to quarantine
 *	it, to modify it, or to deliver it differently per recipient, and all
 *	of these need the bytes. Memory: at most max_message_size per message
 *	and hold_memory_max_mb per worker; beyond that the message gets 451
 *	4.3.1 (the client retries), never a partial treatment. Without a
 *	control plane nothing is held: the built-in policy needs no bytes.
 *
 * AT THE END OF DATA (dp_smtp_pol_eod)
 *	Every recipient is evaluated with the message's one snapshot. Then:
 *	- everyone "deliver", nothing to modify: the fast path - the content
 *	  already streamed, the downstream gets its end of data (dp_smtp.c);
 *	- everyone "reject" (the built-in policy only): 550;
 *	- otherwise the streamed transaction is dropped (closing that
 *	  downstream session: never an end of data) and the recipients are
 *	  grouped by identical decisions into jobs, run one after the other:
 *	  quarantine jobs first (the message and its metadata go to
 *	  mxgate-control, which commits them to PostgreSQL before answering),
 *	  then deliveries (a fresh downstream transaction per job, with the
 *	  job's recipients and bccs, the message rewritten by scan/
 *	  mime_rewrite.c when tags, headers or stripping apply), delete jobs
 *	  cost nothing. When every job succeeded the client gets 250; the first
 *	  failure answers 451 (4.x.x) for the whole message: the client keeps
 *	  it and retries. The recipients of jobs done before the failure may
 *	  then get it twice - the SMTP trade-off that never loses mail.
 *
 * TRACKING
 *	When the client gets its final answer for a message (any code), one
 *	record goes up the channel (dp_ctl_track): envelope, subject,
 *	message-id, size, the scan's findings, the snapshot version, and per
 *	recipient the action, the rule, the downstream's reply or the
 *	quarantine id. Notifications the rules asked for ride along in it;
 *	mxgate-control renders and sends them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <rte_random.h>

#include "dp_ctl.h"
#include "dp_smtp_int.h"
#include "mime_rewrite.h"
#include "mxg_log.h"
#include "pol.h"
#include "scan.h"
#include "scan_dlp.h"

#define COMP "smtp"
#define QUAR_TMO (120 * MXG_NSEC_PER_SEC)

enum job_kind { J_QUAR, J_DELIVER };

struct job {
	enum job_kind kind;
	bool bcc_only;                /* a delete/quarantine group's bccs */
	size_t first;                 /* representative recipient */
	size_t *ri;                   /* recipients (indexes into s->rcpt) */
	size_t n;
};

struct rres {                         /* per recipient, for the record */
	const char *action;           /* "deliver", "quarantine", ... */
	uint64_t qid;
	char reply[160];
};

struct dp_smtp_pol {
	struct pol_decision *dec;     /* [nrcpt] */
	struct rres *rr;              /* [nrcpt] */
	struct job *jobs;
	unsigned njobs, cur;
	bool jobs_mode;
	uint64_t quar_req;
	mxg_tstamp quar_deadline;
	json_t *verdicts;             /* the scan's findings */
	const char *verdict;          /* one word for the record */
	char reason[128];             /* the scan's worst finding, or "" */
};

/* ------------------------------------------------------------ helpers */

/* Copies |in| into |out| (cap bytes) as valid UTF-8: every byte that does
 * not start a complete, well-formed sequence becomes '?', and the copy is
 * never cut inside a character. JSON (jansson) refuses anything else, and
 * a Latin-1 Subject or an 8-bit HELO must not cost a record. */
static const char *u8(const char *in, char *out, size_t cap)
{
	const uint8_t *s = (const uint8_t *)(in ? in : "");
	size_t o = 0;

	while (*s && o + 1 < cap) {
		size_t n = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 && *s >= 0xc2 ? 2 :
			   (*s & 0xf0) == 0xe0 ? 3 : (*s & 0xf8) == 0xf0 && *s <= 0xf4 ? 4 : 0;
		size_t k;

		for (k = 1; n && k < n; k++)
			if ((s[k] & 0xc0) != 0x80)
				n = 0;
		if (n == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0)))
			n = 0; /* overlong, surrogate */
		if (n == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90)))
			n = 0; /* overlong, beyond U+10FFFF */
		if (!n) {
			out[o++] = '?';
			s++;
			continue;
		}
		if (o + n >= cap)
			break;
		memcpy(out + o, s, n);
		o += n;
		s += n;
	}
	out[o] = '\0';
	return out;
}

static double wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts); /* vDSO: no system call */
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *scan_word(const struct scan_result *r)
{
	if (!r)
		return "unscanned";
	if (r->nviruses)
		return "virus";
	if (r->archive_verdict == SCAN_ARCHIVE_BOMB || r->archive_verdict == SCAN_ARCHIVE_TOO_DEEP)
		return "archive_bomb";
	if (r->dlp && (r->dlp->kind_hits[SCAN_DLP_PAN] || r->dlp->kind_hits[SCAN_DLP_IBAN] ||
		       r->dlp->kind_hits[SCAN_DLP_MYNUMBER] || r->dlp->kind_hits[SCAN_DLP_SSN]))
		return "dlp"; /* e-mail addresses and phone numbers alone are not */
	if (r->ncf_hits)
		return "content";
	return "clean";
}

static json_t *scan_json(const struct scan_result *r)
{
	json_t *j = json_object(), *v;

	if (!j || !r)
		return j;
	v = json_array();
	for (size_t i = 0; i < r->nviruses && i < 16; i++)
		json_array_append_new(v, json_string(r->viruses[i].name));
	json_object_set_new(j, "viruses", v);
	json_object_set_new(j, "parts", json_integer((json_int_t)r->nparts));
	json_object_set_new(j, "attachments", json_integer(r->attachments));
	json_object_set_new(j, "urls", json_integer((json_int_t)r->nurls));
	json_object_set_new(j, "archive", json_string(scan_archive_verdict_name(r->archive_verdict)));
	v = json_object(); /* detector -> occurrences, the non-zero ones */
	for (int k = 0; r->dlp && k < SCAN_DLP_CUSTOM; k++)
		if (r->dlp->kind_hits[k])
			json_object_set_new(v, scan_dlp_kind_name(k),
					    json_integer(r->dlp->kind_hits[k]));
	json_object_set_new(j, "dlp", v);
	json_object_set_new(j, "content_filters", json_integer((json_int_t)r->ncf_hits));
	return j;
}

static void pol_free(struct dp_smtp_pol *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->njobs; i++)
		free(p->jobs[i].ri);
	free(p->jobs);
	free(p->dec);
	free(p->rr);
	json_decref(p->verdicts);
	free(p);
}

void dp_smtp_pol_clear(struct sess *s)
{
	pol_free(s->pol);
	s->pol = NULL;
	pol_snap_unref(s->snap);
	s->snap = NULL;
	free(s->env_rcpt);
	s->env_rcpt = NULL;
	s->env_nrcpt = 0;
	s->env_size = 0;
	if (s->hold.cap)
		s->sw->hold_bytes -= s->hold.cap;
	buf_free(&s->hold);
}

int dp_smtp_pol_hold(struct sess *s, const uint8_t *p, size_t n)
{
	size_t before = s->hold.cap, cap = before ? before : 4096;

	/* Without a control plane the policy is the built-in one (dp_ctl.c):
	 * it delivers or rejects, never quarantines or rewrites, and has no
	 * header, body or size condition; no tracking record is written. Nobody
	 * would read the copy: a whole extra pass over every message byte
	 * (and its buffer growth) saved. */
	if (!dp_ctl_enabled())
		return 0;
	while (cap < s->hold.len + n) /* what buf_add will grow to */
		cap *= 2;
	if (s->sw->hold_bytes - before + cap > s->sw->c->hold_memory_max)
		return MXG_E_RANGE;
	if (buf_add(&s->hold, p, n))
		return MXG_E_NOMEM;
	s->sw->hold_bytes += s->hold.cap - before;
	return 0;
}

/* ------------------------------------------------------------ tracking */

static void track(struct sess *s, int code, const char *enh, const char *text)
{
	struct dp_smtp_pol *p = s->pol;
	const struct smtp_peer *pe = smtp_srv_peer(s->srv);
	const struct mxg_ip *ip = pe->addr.family ? &pe->addr : &s->caddr;
	char ipb[64], raw[512], subj[512], mid[256], reply[320], helo[256], from[512], rb[512];
	json_t *j, *rc, *nt;
	char *out;

	if (!dp_ctl_enabled() || !s->uuid[0])
		return;
	snprintf(raw, sizeof(raw), "%d %s%s%s", code, enh ? enh : "", enh && *enh ? " " : "",
		 text ? text : "");
	u8(raw, reply, sizeof(reply));
	pol_header_get(s->hold.p, s->hold.len, "Subject", raw, sizeof(raw));
	u8(raw, subj, sizeof(subj));
	pol_header_get(s->hold.p, s->hold.len, "Message-ID", raw, sizeof(raw));
	u8(raw, mid, sizeof(mid));
	j = json_pack("{s:s, s:f, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:b}",
		      "uuid", s->uuid, "ts", wall_seconds(),
		      "node", dp_ctl_node(), "client_ip", mxg_ip_str(ip, ipb, sizeof(ipb)),
		      "helo", u8(pe->helo, helo, sizeof(helo)),
		      "sender", u8(s->from, from, sizeof(from)), "subject", subj,
		      "message_id", mid, "size", (json_int_t)s->hold.len,
		      "policy_version", s->snap ? json_integer(pol_snap_version(s->snap))
						: json_null(),
		      "reprocess", s->reprocess);
	if (!j) {
		s->sw->st.track_failed++;
		return;
	}
	{
		json_t *vd = p && p->verdicts ? json_incref(p->verdicts) : json_object();

		/* a "score" DNSBL zone listed the client (dp_smtp.c) */
		if (vd && s->dnsbl_zone[0])
			json_object_set_new(vd, "dnsbl", json_pack("{s:s, s:s}", "zone",
								   s->dnsbl_zone, "code",
								   s->dnsbl_code));
		json_object_set_new(j, "verdicts", vd);
	}
	json_object_set_new(j, "timings", json_pack("{s:f}", "total_ms",
						    (double)(s->sw->now - s->t_data) / 1e6));
	rc = json_array();
	nt = json_array();
	for (size_t i = 0; i < s->nrcpt; i++) {
		const struct pol_decision *d = p ? &p->dec[i] : NULL;
		const struct rres *r = p ? &p->rr[i] : NULL;
		const char *action = code >= 500 ? "reject" : code >= 400 ? "tempfail"
			: r && r->action ? r->action : "deliver";
		json_t *e, *m = json_array();

		for (unsigned k = 0; d && k < d->nmatched; k++)
			json_array_append_new(m, json_integer(d->matched[k]));
		e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "rcpt", u8(s->rcpt[i].addr, rb, sizeof(rb)),
			      "direction", d && d->outbound ? "outbound" : "inbound",
			      "action", action, "verdict", p ? p->verdict : "unscanned",
			      "downstream_reply", r && r->reply[0] && code < 400 ? r->reply : reply,
			      "matched", m);
		if (!e)
			continue;
		json_object_set_new(e, "rule_id", d && d->rule_id ? json_integer(d->rule_id) : json_null());
		json_object_set_new(e, "rule_name", d && d->rule_id ? json_string(d->rule_name)
								    : json_null());
		json_object_set_new(e, "quarantine_id", r && r->qid ? json_integer((json_int_t)r->qid)
								    : json_null());
		json_array_append_new(rc, e);
		/* notifications: only for a message the client handed over */
		for (unsigned k = 0; d && code < 400 && k < d->nnotify; k++) {
			static const char *const to[] = {"sender", "recipient", "admin"};

			json_array_append_new(nt, json_pack("{s:s, s:s, s:I, s:s, s:[s]}",
				"to", to[d->notify[k].to], "template", d->notify[k].tmpl,
				"rule_id", (json_int_t)d->notify[k].rule_id, "rule_name", d->rule_name,
				"recipients", rb));
		}
	}
	json_object_set_new(j, "recipients", rc);
	json_object_set_new(j, "notify", nt);
	out = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (out) {
		dp_ctl_track(s->sw->w, out, strlen(out));
		free(out);
	}
}

void dp_smtp_pol_final(struct sess *s, int code, const char *enh, const char *text)
{
	if (s->msg)
		track(s, code, enh, text);
}

/* ------------------------------------------------------------ jobs */

static void job_next(struct sess *s);

static int quar_meta(struct sess *s, const struct job *jb, char **out)
{
	const struct pol_decision *d = &s->pol->dec[jb->first];
	const struct smtp_peer *pe = smtp_srv_peer(s->srv);
	const struct mxg_ip *ip = pe->addr.family ? &pe->addr : &s->caddr;
	char ipb[64], raw[512], subj[512], mid[256], helo[256], from[512], rb[512];
	json_t *j, *r = json_array();

	for (size_t k = 0; k < jb->n; k++)
		json_array_append_new(r, json_string(u8(s->rcpt[jb->ri[k]].addr, rb, sizeof(rb))));
	pol_header_get(s->hold.p, s->hold.len, "Subject", raw, sizeof(raw));
	u8(raw, subj, sizeof(subj));
	pol_header_get(s->hold.p, s->hold.len, "Message-ID", raw, sizeof(raw));
	u8(raw, mid, sizeof(mid));
	j = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:I, s:s, s:I, s:s, s:I, s:s, s:s}",
		      "uuid", s->uuid, "client_ip", mxg_ip_str(ip, ipb, sizeof(ipb)),
		      "helo", u8(pe->helo, helo, sizeof(helo)), "sender", u8(s->from, from, sizeof(from)),
		      "recipients", r,
		      "subject", subj, "message_id", mid, "size", (json_int_t)s->hold.len,
		      "reason", s->pol->reason[0] ? s->pol->reason : s->pol->verdict, "rule_id", (json_int_t)d->rule_id,
		      "rule_name", d->rule_name ? d->rule_name : "",
		      "policy_version", (json_int_t)pol_snap_version(s->snap),
		      "area", d->area && *d->area ? d->area : "default", "node", dp_ctl_node());
	if (!j)
		return MXG_E_NOMEM; /* every string is valid UTF-8: only memory */
	*out = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return *out ? 0 : MXG_E_NOMEM;
}

static void job_quarantine(struct sess *s, struct job *jb)
{
	char *meta = NULL;
	uint64_t req;

	if (quar_meta(s, jb, &meta)) {
		dp_smtp_msg_fail(s, 451, "4.3.0", "Error: out of memory, try again later");
		return;
	}
	req = dp_ctl_quarantine(s->sw->w, meta, strlen(meta), s->hold.p, s->hold.len);
	free(meta);
	if (!req) {
		s->sw->st.quarantine_failed++;
		dp_smtp_msg_fail(s, 451, "4.3.0", "Error: quarantine unavailable, try again later");
		return;
	}
	s->pol->quar_req = req;
	s->pol->quar_deadline = s->sw->now + QUAR_TMO;
}

void dp_smtp_pol_ack(struct dp_worker *w, const struct dp_ctl_ack *a, mxg_tstamp now)
{
	struct dp_smtp_worker *sw = w->smtp;
	struct sess *s;

	if (a->kind == DP_CTL_ACK_DNSBL) {
		dp_smtp_dnsbl_ack(w, a, now);
		return;
	}
	if (!sw)
		return;
	w->tcp_deadline = 0; /* output sent from here may arm TCP timers */
	enter(sw, now);
	TAILQ_FOREACH(s, &sw->sessions, link) {
		struct dp_smtp_pol *p = s->pol;

		if (!p || p->quar_req != a->req || s->dead)
			continue;
		p->quar_req = 0;
		if (!a->ok) {
			sw->st.quarantine_failed++;
			dp_smtp_msg_fail(s, 451, "4.3.0", "Error: quarantine failed (%s), try again later",
					 a->err);
			break;
		}
		sw->st.quarantined++;
		{
			struct job *jb = &p->jobs[p->cur];

			for (size_t k = 0; k < jb->n; k++)
				p->rr[jb->ri[k]].qid = a->qid;
		}
		p->cur++;
		job_next(s);
		break;
	}
	leave(sw);
}

void dp_smtp_pol_timer(struct sess *s)
{
	struct dp_smtp_pol *p = s->pol;

	if (p && p->quar_req && s->sw->now > p->quar_deadline) {
		p->quar_req = 0; /* a late answer finds nobody: the copy stays, the
				  * client retries (a duplicate, never a loss) */
		s->sw->st.quarantine_failed++;
		dp_smtp_msg_fail(s, 451, "4.3.0", "Error: quarantine timed out, try again later");
	}
}

/* Builds the delivery of job |jb|: its envelope and content. */
static int job_deliver_prepare(struct sess *s, struct job *jb)
{
	const struct pol_decision *d = &s->pol->dec[jb->first];
	const struct scan_result *r = s->scan_res;
	size_t n = jb->n + d->nbcc;
	struct smtp_rcpt *env = calloc(n, sizeof(*env));
	uint8_t *out = NULL;
	size_t olen = 0;
	int rc = 0;

	if (!env)
		return MXG_E_NOMEM;
	for (size_t k = 0; k < jb->n; k++)
		env[k] = s->rcpt[jb->ri[k]];
	for (unsigned k = 0; k < d->nbcc; k++)
		env[jb->n + k].addr = d->bcc[k];
	free(s->env_rcpt);
	s->env_rcpt = env;
	s->env_nrcpt = n;
	s->env_required = jb->n;
	free(s->rres);
	s->rres = calloc(n, sizeof(*s->rres));
	if (!s->rres)
		return MXG_E_NOMEM;
	buf_free(&s->pend);
	if (pol_decision_modifies(d) && !jb->bcc_only) {
		const char *paths[64];
		struct mime_rw_header hdr[POL_MAX_MODS];
		struct mime_rw rw = {.tags = d->tag, .ntags = d->ntag, .hdr = hdr, .nhdr = d->nhdr,
				     .strip = paths, .notice = d->strip_notice};

		for (unsigned k = 0; k < d->nhdr; k++) {
			hdr[k].name = d->hdr[k].name;
			hdr[k].value = d->hdr[k].value;
		}
		for (size_t i = 0; d->strip && r && i < r->nparts && rw.nstrip < 64; i++) {
			const struct scan_part *pt = &r->parts[i];

			if (pt->flags & SCAN_PF_MEMBER)
				continue;
			if ((i < 64 && (d->strip_parts >> i & 1)) ||
			    (d->strip_all && (pt->flags & SCAN_PF_ATTACHMENT)))
				paths[rw.nstrip++] = pt->path;
		}
		rc = mime_rewrite(s->hold.p, s->hold.len, &rw, &out, &olen);
		if (rc)
			return rc;
		rc = buf_add(&s->pend, out, olen);
		free(out);
		s->env_size = olen;
	} else {
		rc = buf_add(&s->pend, s->hold.p, s->hold.len);
		s->env_size = s->hold.len;
	}
	return rc;
}

static void job_deliver(struct sess *s, struct job *jb)
{
	const struct pol_decision *d = &s->pol->dec[jb->first];
	struct mxg_ip dst, *pdst = NULL;
	struct out *o;
	int rc;

	if (d->fate == POL_REROUTE) {
		/* The dataplane resolves no names: reroute needs an address. */
		if (mxg_ip_parse(d->reroute_host, &dst) != 0) {
			dp_smtp_msg_fail(s, 451, "4.4.3", "Error: reroute host %s is not an address, "
					 "try again later", d->reroute_host);
			return;
		}
		pdst = &dst;
	}
	rc = job_deliver_prepare(s, jb);
	if (rc == MXG_E_INVAL) {
		/* The rewriter refuses what it cannot modify safely: the
		 * original is never delivered in its place - it is kept. */
		for (size_t k = 0; k < jb->n; k++)
			s->pol->rr[jb->ri[k]].action = "quarantine";
		snprintf(s->pol->reason, sizeof(s->pol->reason), "could not be modified safely");
		jb->kind = J_QUAR;
		job_quarantine(s, jb);
		return;
	}
	if (rc) {
		dp_smtp_msg_fail(s, 451, "4.3.0", "Error: local resources exhausted, try again later");
		return;
	}
	s->ds_ready = s->ds_end_sent = s->retried = false;
	o = dp_smtp_out_get(s->sw, pdst, pdst ? d->reroute_port : 0);
	if (!o) {
		dp_smtp_msg_fail(s, 451, "4.3.0", "Error: downstream busy, try again later");
		return;
	}
	o->owner = s;
	s->out = o;
	if (smtp_cli_state(o->cli) == SMTP_CLI_READY && (rc = dp_smtp_out_begin(o)))
		dp_smtp_msg_fail(s, 451, "4.3.0", "Error: downstream envelope: %s", mxg_strerror(rc));
}

static void job_next(struct sess *s)
{
	struct dp_smtp_pol *p = s->pol;
	char t[256];

	if (s->failed || s->dead)
		return;
	if (p->cur < p->njobs) {
		struct job *jb = &p->jobs[p->cur];

		if (jb->kind == J_QUAR)
			job_quarantine(s, jb);
		else
			job_deliver(s, jb);
		return;
	}
	{
		unsigned q = 0, dl = 0, del = 0;

		for (size_t i = 0; i < s->nrcpt; i++) {
			const char *a = p->rr[i].action;

			q += a && !strcmp(a, "quarantine");
			dl += a && !strcmp(a, "deliver");
			del += a && !strcmp(a, "delete");
		}
		snprintf(t, sizeof(t), "Ok: %u delivered, %u quarantined, %u deleted by policy", dl, q,
			 del);
	}
	dp_smtp_msg_answer_eod(s, 250, "2.0.0", t);
}

bool dp_smtp_pol_job_failed(struct sess *s, const char *why)
{
	struct dp_smtp_pol *p = s->pol;

	if (!p || !p->jobs_mode || p->cur >= p->njobs || !p->jobs[p->cur].bcc_only)
		return false;
	MXG_WARN(COMP, "message %s: bcc copy not delivered: %s", s->uuid, why);
	s->sw->st.bcc_failed++;
	p->cur++;
	job_next(s);
	return true;
}

bool dp_smtp_pol_delivered(struct sess *s, const char *reply)
{
	struct dp_smtp_pol *p = s->pol;
	struct job *jb;

	if (!p || !p->jobs_mode)
		return false;
	jb = &p->jobs[p->cur];
	for (size_t k = 0; k < jb->n; k++)
		snprintf(p->rr[jb->ri[k]].reply, sizeof(p->rr[0].reply), "%s", reply);
	p->cur++;
	job_next(s);
	return true;
}

/* ------------------------------------------------------------ end of data */

static const char *fate_action(enum pol_fate f)
{
	switch (f) {
	case POL_DELETE: return "delete";
	case POL_QUARANTINE: return "quarantine";
	case POL_REJECT: return "reject";
	case POL_REROUTE: return "reroute";
	default: return "deliver";
	}
}

/* Groups the recipients by identical decisions into jobs: quarantine
 * groups first (durable before anything is delivered), then deliveries,
 * then the bcc copies of quarantine and delete groups (a refused bcc never
 * fails the message). Delete groups cost nothing else. */
static int jobs_build(struct sess *s)
{
	struct dp_smtp_pol *p = s->pol;
	bool *done = calloc(s->nrcpt ? s->nrcpt : 1, sizeof(*done));
	size_t *bcc_of = calloc(s->nrcpt ? s->nrcpt : 1, sizeof(*bcc_of)); /* group leaders */
	size_t nbcc = 0;
	int rc = MXG_E_NOMEM;

	p->jobs = calloc(2 * (s->nrcpt ? s->nrcpt : 1), sizeof(*p->jobs));
	if (!done || !bcc_of || !p->jobs)
		goto out;
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < s->nrcpt; i++) {
			const struct pol_decision *d = &p->dec[i];
			enum pol_fate want = pass == 0 ? POL_QUARANTINE : pass == 2 ? POL_DELETE
								: d->fate;
			struct job *jb;

			if (done[i] || d->fate != want ||
			    (pass == 1 && (d->fate == POL_QUARANTINE || d->fate == POL_DELETE)))
				continue;
			if (d->nbcc && pass != 1)
				bcc_of[nbcc++] = i;
			if (pass == 2) { /* delete: only marks the group done */
				for (size_t k = i; k < s->nrcpt; k++)
					done[k] |= pol_decision_same(d, &p->dec[k]);
				continue;
			}
			jb = &p->jobs[p->njobs++];
			jb->kind = pass == 0 ? J_QUAR : J_DELIVER;
			jb->first = i;
			jb->ri = malloc(s->nrcpt * sizeof(*jb->ri));
			if (!jb->ri)
				goto out;
			for (size_t k = i; k < s->nrcpt; k++)
				if (!done[k] && pol_decision_same(d, &p->dec[k])) {
					jb->ri[jb->n++] = k;
					done[k] = true;
				}
		}
	}
	for (size_t g = 0; g < nbcc; g++) {
		struct job *jb = &p->jobs[p->njobs++];

		jb->kind = J_DELIVER;
		jb->bcc_only = true;
		jb->first = bcc_of[g];
	}
	rc = 0;
out:
	free(done);
	free(bcc_of);
	return rc;
}

bool dp_smtp_pol_eod(struct sess *s, const struct dp_scan_result *sr)
{
	struct dp_smtp_worker *sw = s->sw;
	struct dp_smtp_pol *p;
	const char **addrs;
	bool *local, fast = true, all_reject = true;
	struct pol_msg m;
	int rc;

	if (!s->snap) {
		dp_smtp_msg_fail(s, 451, "4.3.0", "Error: no policy loaded yet, try again later");
		return true;
	}
	p = calloc(1, sizeof(*p));
	addrs = calloc(s->nrcpt ? s->nrcpt : 1, sizeof(*addrs) + sizeof(bool));
	local = (bool *)(addrs + (s->nrcpt ? s->nrcpt : 1));
	if (p) {
		p->dec = calloc(s->nrcpt ? s->nrcpt : 1, sizeof(*p->dec));
		p->rr = calloc(s->nrcpt ? s->nrcpt : 1, sizeof(*p->rr));
	}
	s->pol = p;
	if (!p || !addrs || !p->dec || !p->rr) {
		free(addrs);
		dp_smtp_msg_fail(s, 451, "4.3.0", "Error: local resources exhausted, try again later");
		return true;
	}
	s->scan_res = sr->result;
	p->verdicts = scan_json(sr->result);
	p->verdict = scan_word(sr->result);
	snprintf(p->reason, sizeof(p->reason), "%s", sr->reason);
	for (size_t i = 0; i < s->nrcpt; i++) {
		addrs[i] = s->rcpt[i].addr;
		local[i] = dp_smtp_domain_local(addrs[i]);
	}
	m = (struct pol_msg){.client = &s->caddr, .sender = s->from ? s->from : "",
			     .rcpt = addrs, .rcpt_local = local, .nrcpt = s->nrcpt, .msg = s->hold.p,
			     .len = s->hold.len, .scan = sr->result, .reprocess = s->reprocess};
	{
		const struct smtp_peer *pe = smtp_srv_peer(s->srv);

		if (pe->addr.family)
			m.client = &pe->addr;
	}
	for (size_t i = 0; i < s->nrcpt; i++) {
		struct pol_decision *d = &p->dec[i];

		pol_eval(s->snap, &m, i, d);
		p->rr[i].action = fate_action(d->fate);
		if (d->fate != POL_DELIVER || pol_decision_modifies(d) || d->nbcc)
			fast = false;
		if (d->fate != POL_REJECT)
			all_reject = false;
	}
	free(addrs);
	sw->st.policy_evaluations++;
	if (fast)
		return false;
	if (all_reject) {
		dp_smtp_msg_fail(s, 550, "5.7.1", "Message rejected: %s",
				 sr->reason[0] ? sr->reason : "by policy");
		return true;
	}
	/* The streamed transaction will not be ended: drop it. */
	dp_smtp_msg_release_ds(s);
	p->jobs_mode = true;
	for (size_t i = 0; i < s->nrcpt; i++)
		if (p->dec[i].fate == POL_REJECT) {
			/* mixed with other fates: the built-in policy never does */
			dp_smtp_msg_fail(s, 451, "4.3.0", "Error: policy rejects %s only, "
					 "try again later", s->rcpt[i].addr);
			return true;
		}
	rc = jobs_build(s);
	if (rc) {
		dp_smtp_msg_fail(s, 451, "4.3.0", "Error: local resources exhausted, try again later");
		return true;
	}
	sw->st.policy_jobs += p->njobs;
	job_next(s);
	return true;
}

void dp_smtp_pol_begin(struct sess *s)
{
	uint64_t a = rte_rand(), b = rte_rand();

	snprintf(s->uuid, sizeof(s->uuid), "%016llx%016llx", (unsigned long long)a,
		 (unsigned long long)b);
	s->t_data = s->sw->now;
	s->snap = pol_snap_ref(dp_ctl_policy(s->sw->w));
}
