/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_notify.c - notifications: the policy's "notify" actions, turned into
 * mail (see ctl_notify.h).
 *
 * INPUT
 *	The channel (ctl_chan.c) hands every tracking record whose "notify"
 *	array is not empty to ctl_notify_submit. The dataplane writes one
 *	element per recipient and notify action, {"to": "sender" | "recipient"
 *	| "admin", "template", "rule_id", "rule_name", "recipients": [...]}, so
 *	elements with the same (to, template, rule_id) are merged first: the
 *	sender of a message to 50 recipients gets one notification naming the
 *	50, not 50. Then:
 *	  sender     one message to the envelope sender;
 *	  recipient  one message per concerned recipient (each sees only
 *	             itself: recipients do not learn of each other);
 *	  admin      one message to [control] admin_address (none when empty).
 *
 * NO LOOPS, NO BACKSCATTER (RFC 3834)
 *	- The null sender <> is never notified (it is a bounce or another
 *	  automatic message; answering it is how mail loops start).
 *	- A record that says its message was itself automatic, "auto_submitted"
 *	  present and not "no" (the Auto-Submitted header field), gets no
 *	  notification at all. The dataplane's tracking record does not carry
 *	  that field today, so in practice the check is dormant and the null
 *	  sender rule is what applies; it works as soon as the field is sent.
 *	- Our notifications have the null envelope sender (RFC 3834 3.3: no
 *	  automatic answer and no bounce comes back), "Auto-Submitted:
 *	  auto-generated" and "X-Auto-Response-Suppress: All".
 *	- They go to [control] notify_smtp, by default the downstream MTA
 *	  (127.0.0.1:10026), not to the dataplane's scanning ports: our own
 *	  text needs no scan, and a notification that quotes what triggered a
 *	  rule (a virus name, a DLP subject) must not be caught by the same rule
 *	  and notify again. Released quarantine, by contrast, goes to the
 *	  reprocessing port (ctl_release.c): those are the sender's bytes.
 *
 * TEMPLATES
 *	Table notification_templates (sql/0003_notify.sql): name, subject,
 *	body. Fetched per notification (the same query returns "default" when
 *	the name is unknown; a warning is logged); if even "default" is gone, a
 *	built-in text is used. Placeholders: %SENDER% (or "<>"), %RECIPIENTS%
 *	(the concerned ones, comma separated), %SUBJECT%, %RULE%, %RULE_ID%,
 *	%ACTION% and %VERDICT% (of the concerned recipients), %VIRUS% (names
 *	from verdicts.viruses, "none"), %MSGID%, %CLIENTIP%, %UUID%, %DATE%,
 *	%NODE%, %TO%, %TEMPLATE%; %% is '%'; anything else is left as written.
 *
 * THE MESSAGE
 *	From: notify_from; To: the one recipient; Subject (control characters
 *	blanked, at most 900 bytes cut on a UTF-8 boundary, RFC 2047
 *	B-encoded when not ASCII); Date; Message-ID (random, @ notify_from's
 *	domain); Auto-Submitted; MIME-Version; text/plain; charset=UTF-8, 7bit
 *	when the body is short-lined ASCII, quoted-printable otherwise. Every
 *	line ends in CRLF.
 *
 * BOUNDS
 *	At most notify_concurrency notifications in flight (template fetch,
 *	SMTP, or waiting to retry) and notify_queue waiting; beyond that a
 *	notification is dropped and counted ("dropped", logged at the first and
 *	every 100th). A failure is retried twice, after 5 s and 30 s: a 5xx
 *	answer is final at once. Then it is logged and counted ("failed"),
 *	never retried forever.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ctl_db.h"
#include "ctl_notify.h"
#include "ctl_smtp.h"
#include "mxg_err.h"
#include "mxg_log.h"

#define COMP "notify"
#define TRIES 3
#define SUBJECT_MAX 900
#define VALUE_MAX 4096    /* one placeholder's value */
#define ADDR_MAX 320

static const unsigned backoff_s[TRIES - 1] = { 5, 30 };

#define TMPL_SQL                                                                        \
	"SELECT name, subject, body FROM notification_templates "                       \
	"WHERE name = $1 OR name = 'default' ORDER BY name = $1 DESC LIMIT 1"

static const char builtin_subject[] = "Notification from the mail gateway";
static const char builtin_body[] =
	"This is an automatic notification from the mail gateway %NODE%.\n\n"
	"Rule \"%RULE%\" matched a message (action: %ACTION%).\n\n"
	"  Sender:     %SENDER%\n"
	"  Recipients: %RECIPIENTS%\n"
	"  Subject:    %SUBJECT%\n"
	"  Message-ID: %MSGID%\n";

enum jstate { J_QUEUED, J_DB, J_SMTP, J_WAIT };

struct job {
	TAILQ_ENTRY(job) link;   /* the queue, or the busy list */
	struct ctl_notify *n;    /* NULL: orphaned by ctl_notify_fini */
	enum jstate st;
	char tmpl[65];
	char to[ADDR_MAX + 1];
	json_t *vars;            /* placeholder name -> value */
	unsigned tries;
	struct event *retry;
	char *msg;               /* rendered, kept for the retries */
	size_t len;
};

TAILQ_HEAD(jobq, job);

struct ctl_notify {
	struct ctl *c;
	struct jobq queue, busy;
	size_t nqueued, nbusy;
	bool pumping, admin_warned;
	uint64_t submitted, sent, failed, dropped, skipped;
};

/* ------------------------------------------------------------ strings */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_fmt(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Largest length <= |max| that does not cut a UTF-8 sequence of |s|. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

/* An address we can put in a header and an envelope. */
static bool addr_ok(const char *a)
{
	size_t n = strlen(a);

	if (n == 0 || n > ADDR_MAX || strcmp(a, "<>") == 0)
		return false;
	for (; *a; a++)
		if ((unsigned char)*a <= 32 || *a == '<' || *a == '>' || *a == 127 || *a == ',')
			return false;
	return true;
}

/* ------------------------------------------------------------ rendering */

/* Replaces %NAME% from |vars| in |tpl|. */
static void render(struct sbuf *out, const char *tpl, json_t *vars)
{
	const char *p = tpl, *pc;

	while ((pc = strchr(p, '%'))) {
		const char *end = strchr(pc + 1, '%');
		size_t nl = end ? (size_t)(end - pc - 1) : 0;
		char name[33];
		const char *v;

		sb_add(out, p, (size_t)(pc - p));
		if (end && nl == 0) {
			sb_add(out, "%", 1);
			p = end + 1;
			continue;
		}
		if (!end || nl >= sizeof(name) || strspn(pc + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != nl) {
			sb_add(out, "%", 1);
			p = pc + 1;
			continue;
		}
		memcpy(name, pc + 1, nl);
		name[nl] = '\0';
		v = json_string_value(json_object_get(vars, name));
		if (v)
			sb_str(out, v);
		else
			sb_add(out, pc, nl + 2);
		p = end + 1;
	}
	sb_str(out, p);
}

/* "Subject: ..." with its CRLF: blanked, bounded, RFC 2047 when needed. */
static void put_subject(struct sbuf *m, const char *s)
{
	char t[SUBJECT_MAX + 1];
	size_t n = utf8_cut(s, strlen(s), SUBJECT_MAX), i;
	bool ascii = true;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		t[i] = (ch < 32 || ch == 127) ? ' ' : (char)ch;
		if (ch >= 128)
			ascii = false;
	}
	t[n] = '\0';
	sb_str(m, "Subject: ");
	if (ascii) {
		sb_str(m, t);
	} else {
		/* encoded words of at most 45 bytes (75 characters encoded) */
		for (i = 0; i < n;) {
			unsigned char enc[64];
			size_t k = utf8_cut(t + i, n - i, 45);

			if (k == 0)
				k = 1;
			EVP_EncodeBlock(enc, (const unsigned char *)t + i, (int)k);
			sb_fmt(m, "%s=?UTF-8?B?%s?=", i ? "\r\n " : "", (const char *)enc);
			i += k;
		}
	}
	sb_str(m, "\r\n");
}

/* The body, lines normalised to CRLF; 7bit or quoted-printable. */
static void put_body(struct sbuf *m, const char *b)
{
	bool qp = false;
	size_t col = 0;
	const char *p, *e;

	for (p = b; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == '\n') {
			col = 0;
			continue;
		}
		if (ch >= 128 || (ch < 32 && ch != '\t' && ch != '\r') || ch == 127 || ++col > 998)
			qp = true;
	}
	sb_fmt(m, "Content-Transfer-Encoding: %s\r\n\r\n", qp ? "quoted-printable" : "7bit");
	for (p = b; *p; p = *e ? e + 1 : e) {
		size_t len;

		e = strchr(p, '\n');
		if (!e)
			e = p + strlen(p);
		len = (size_t)(e - p);
		if (len && p[len - 1] == '\r')
			len--;
		if (!*e && len == 0)
			break; /* the text ended with a line end */
		if (!qp) {
			sb_add(m, p, len);
		} else {
			col = 0;
			for (size_t i = 0; i < len; i++) {
				unsigned char ch = (unsigned char)p[i];
				bool lit = (ch >= 33 && ch <= 126 && ch != '=') ||
					   ((ch == ' ' || ch == '\t') && i + 1 < len);
				char tok[4];
				size_t tl;

				if (lit) {
					tok[0] = (char)ch;
					tl = 1;
				} else {
					snprintf(tok, sizeof(tok), "=%02X", ch);
					tl = 3;
				}
				if (col + tl > 75) {
					sb_str(m, "=\r\n");
					col = 0;
				}
				sb_add(m, tok, tl);
				col += tl;
			}
		}
		sb_str(m, "\r\n");
	}
}

/* Builds the whole message of |j| from a template. */
static int compose(struct ctl_notify *n, struct job *j, const char *subject, const char *body)
{
	const char *from = n->c->conf.notify_from, *dom = strrchr(from, '@');
	struct sbuf s = { 0 }, bd = { 0 }, m = { 0 };
	unsigned char rnd[12];
	char date[64], id[32];
	struct tm tm;
	time_t now = time(NULL);

	render(&s, subject, j->vars);
	render(&bd, body, j->vars);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	sb_fmt(&m, "From: mxgate <%s>\r\n", from);
	sb_fmt(&m, "To: <%s>\r\n", j->to);
	put_subject(&m, s.p ? s.p : "");
	sb_fmt(&m, "Date: %s\r\n", date);
	sb_fmt(&m, "Message-ID: <%lld.%s.notify@%s>\r\n", (long long)now, id,
	       dom ? dom + 1 : "localhost");
	sb_str(&m, "Auto-Submitted: auto-generated\r\n");
	sb_str(&m, "X-Auto-Response-Suppress: All\r\n");
	sb_fmt(&m, "X-Mxgate-Notification: %s\r\n", j->tmpl);
	sb_str(&m, "MIME-Version: 1.0\r\n");
	sb_str(&m, "Content-Type: text/plain; charset=UTF-8\r\n");
	put_body(&m, bd.p ? bd.p : "");
	free(s.p);
	free(bd.p);
	if (m.oom || s.oom || bd.oom) {
		free(m.p);
		return MXG_E_NOMEM;
	}
	j->msg = m.p;
	j->len = m.len;
	return 0;
}

/* ------------------------------------------------------------ variables */

/* Appends |v| to the ", "-separated |b| unless already there. */
static void list_add(struct sbuf *b, const char *v)
{
	const char *p = b->p;
	size_t vl = strlen(v);

	if (!vl)
		return;
	while (p && (p = strstr(p, v))) {
		if ((p == b->p || p[-1] == ' ') && (p[vl] == ',' || p[vl] == '\0'))
			return;
		p++;
	}
	if (b->len + vl > VALUE_MAX)
		return;
	if (b->len)
		sb_str(b, ", ");
	sb_str(b, v);
}

static const char *jstr(json_t *o, const char *k, const char *def)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : def;
}

static void set_var(json_t *vars, const char *name, const char *v)
{
	size_t n = strlen(v);

	if (n > VALUE_MAX)
		json_object_set_new(vars, name, json_stringn(v, utf8_cut(v, n, VALUE_MAX)));
	else
		json_object_set_new(vars, name, json_string(v));
}

/* The record entry of recipient |addr| (case-insensitive), or NULL. */
static json_t *rcpt_entry(json_t *record, const char *addr)
{
	json_t *rs = json_object_get(record, "recipients"), *e;
	size_t i;

	json_array_foreach(rs, i, e) {
		const char *a = json_is_string(e) ? json_string_value(e) : jstr(e, "rcpt", NULL);

		if (!a)
			a = jstr(e, "address", NULL);
		if (a && strcasecmp(a, addr) == 0)
			return e;
	}
	return NULL;
}

static json_t *make_vars(struct ctl_notify *n, json_t *record, json_t *grp, json_t *concerned,
			 const char *to)
{
	json_t *vars = json_object(), *e, *viruses;
	struct sbuf rc = { 0 }, act = { 0 }, ver = { 0 }, vir = { 0 };
	const char *sender = jstr(record, "sender", "");
	char date[64], rid[24];
	json_t *ts = json_object_get(record, "ts");
	time_t t = json_is_number(ts) ? (time_t)json_number_value(ts) : time(NULL);
	struct tm tm;
	size_t i;

	if (!vars)
		return NULL;
	json_array_foreach(concerned, i, e) {
		const char *a = json_string_value(e);
		json_t *re;

		if (!a)
			continue;
		list_add(&rc, a);
		re = rcpt_entry(record, a);
		list_add(&act, jstr(re, "action", ""));
		list_add(&ver, jstr(re, "verdict", ""));
	}
	viruses = json_object_get(json_object_get(record, "verdicts"), "viruses");
	json_array_foreach(viruses, i, e)
		if (json_is_string(e))
			list_add(&vir, json_string_value(e));
	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	snprintf(rid, sizeof(rid), "%lld",
		 (long long)json_integer_value(json_object_get(grp, "rule_id")));
	set_var(vars, "SENDER", *sender ? sender : "<>");
	set_var(vars, "RECIPIENTS", rc.p && !rc.oom ? rc.p : "");
	set_var(vars, "SUBJECT", jstr(record, "subject", ""));
	set_var(vars, "RULE", jstr(grp, "rule_name", ""));
	set_var(vars, "RULE_ID", rid);
	set_var(vars, "ACTION", act.p && !act.oom ? act.p : "");
	set_var(vars, "VERDICT", ver.p && !ver.oom ? ver.p : "");
	set_var(vars, "VIRUS", vir.p && !vir.oom ? vir.p : "none");
	set_var(vars, "MSGID", jstr(record, "message_id", ""));
	set_var(vars, "CLIENTIP", jstr(record, "client_ip", ""));
	set_var(vars, "UUID", jstr(record, "uuid", ""));
	set_var(vars, "DATE", date);
	set_var(vars, "NODE", jstr(record, "node", n->c->conf.node_name));
	set_var(vars, "TO", to);
	set_var(vars, "TEMPLATE", jstr(grp, "template", "default"));
	free(rc.p);
	free(act.p);
	free(ver.p);
	free(vir.p);
	return vars;
}

/* ------------------------------------------------------------ the queue */

static void pump(struct ctl_notify *n);
static void start(struct job *j);

static void job_free(struct job *j)
{
	if (j->retry)
		event_free(j->retry);
	json_decref(j->vars);
	free(j->msg);
	free(j);
}

/* The job is over (sent or given up): frees it, starts the next. */
static void done(struct job *j)
{
	struct ctl_notify *n = j->n;

	TAILQ_REMOVE(&n->busy, j, link);
	n->nbusy--;
	job_free(j);
	pump(n);
}

static void fail_try(struct job *j, bool final, const char *why)
{
	struct ctl_notify *n = j->n;

	j->tries++;
	if (final || j->tries >= TRIES) {
		n->failed++;
		MXG_WARN(COMP, "notification to %s (template %s) not sent after %u %s: %s", j->to,
			 j->tmpl, j->tries, j->tries == 1 ? "try" : "tries", why);
		done(j);
		return;
	}
	MXG_INFO(COMP, "notification to %s (template %s): %s; retry in %u s", j->to, j->tmpl,
		 why, backoff_s[j->tries - 1]);
	j->st = J_WAIT;
	event_add(j->retry, &(struct timeval){ backoff_s[j->tries - 1], 0 });
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	start(arg);
}

static void on_sent(const struct ctl_smtp_result *r, void *ud)
{
	struct job *j = ud;

	if (!j->n) { /* orphaned at shutdown */
		job_free(j);
		return;
	}
	if (r->ok) {
		j->n->sent++;
		MXG_INFO(COMP, "notification to %s (template %s) sent: %s", j->to, j->tmpl,
			 r->text);
		done(j);
		return;
	}
	fail_try(j, r->code >= 500, r->text);
}

static void send_job(struct job *j)
{
	struct ctl *c = j->n->c;
	const char *rcpt[1] = { j->to };
	int rc;

	j->st = J_SMTP;
	rc = ctl_smtp_send(c, c->conf.notify_host, c->conf.notify_port, "", rcpt, 1,
			   (const uint8_t *)j->msg, j->len, on_sent, j);
	if (rc)
		fail_try(j, true, mxg_strerror(rc));
}

static void on_tmpl(enum ctl_db_status st, PGresult *res, void *ud)
{
	struct job *j = ud;
	const char *subject = builtin_subject, *body = builtin_body;

	if (!j->n) {
		job_free(j);
		return;
	}
	if (st == CTL_DB_DOWN) {
		fail_try(j, false, "database unavailable (template)");
		return;
	}
	if (st == CTL_DB_SQL) {
		MXG_WARN(COMP, "template %s: %s", j->tmpl, PQresultErrorMessage(res));
		fail_try(j, false, "database error (template)");
		return;
	}
	if (PQntuples(res) == 1) {
		if (strcmp(PQgetvalue(res, 0, 0), j->tmpl) != 0)
			MXG_WARN(COMP, "unknown notification template '%s': using 'default'",
				 j->tmpl);
		subject = PQgetvalue(res, 0, 1);
		body = PQgetvalue(res, 0, 2);
	} else {
		MXG_WARN(COMP, "no notification template '%s' and no 'default': using the "
			 "built-in text", j->tmpl);
	}
	if (compose(j->n, j, subject, body) != 0) {
		fail_try(j, true, "out of memory");
		return;
	}
	send_job(j);
}

static void start(struct job *j)
{
	const char *p[1] = { j->tmpl };

	if (j->msg) {
		send_job(j);
		return;
	}
	j->st = J_DB;
	if (ctl_db_query(j->n->c->db, TMPL_SQL, 1, p, false, on_tmpl, j) != 0)
		fail_try(j, false, "database unavailable (template)");
}

static void pump(struct ctl_notify *n)
{
	struct job *j;

	if (n->pumping)
		return;
	n->pumping = true;
	while (n->nbusy < n->c->conf.notify_concurrency && (j = TAILQ_FIRST(&n->queue))) {
		TAILQ_REMOVE(&n->queue, j, link);
		n->nqueued--;
		TAILQ_INSERT_TAIL(&n->busy, j, link);
		n->nbusy++;
		start(j);
	}
	n->pumping = false;
}

static void enqueue(struct ctl_notify *n, json_t *record, json_t *grp, json_t *concerned,
		    const char *to)
{
	const char *tmpl = jstr(grp, "template", "default");
	struct job *j;

	if (!addr_ok(to)) {
		n->skipped++;
		MXG_INFO(COMP, "notification (template %s): no usable address '%.64s'", tmpl, to);
		return;
	}
	if (n->nqueued >= n->c->conf.notify_queue) {
		if (n->dropped++ % 100 == 0)
			MXG_WARN(COMP, "notification queue full (%u): dropped %llu so far",
				 n->c->conf.notify_queue, (unsigned long long)n->dropped);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->vars = make_vars(n, record, grp, concerned, to)) ||
	    !(j->retry = evtimer_new(n->c->base, on_retry, j))) {
		if (j)
			job_free(j);
		n->dropped++;
		return;
	}
	j->n = n;
	snprintf(j->tmpl, sizeof(j->tmpl), "%s", tmpl);
	for (char *p = j->tmpl; *p; p++) /* it goes into a header too */
		if ((unsigned char)*p < 32 || (unsigned char)*p >= 127)
			*p = '_';
	snprintf(j->to, sizeof(j->to), "%s", to);
	TAILQ_INSERT_TAIL(&n->queue, j, link);
	n->nqueued++;
	n->submitted++;
}

/* Adds the strings of |from| to |to|, once each (case-insensitive). */
static void merge_addrs(json_t *to, json_t *from)
{
	json_t *e, *x;
	size_t i, k;

	json_array_foreach(from, i, e) {
		bool seen = false;

		if (!json_is_string(e) || !json_string_length(e))
			continue;
		json_array_foreach(to, k, x)
			if (strcasecmp(json_string_value(x), json_string_value(e)) == 0)
				seen = true;
		if (!seen)
			json_array_append(to, e);
	}
}

void ctl_notify_submit(struct ctl *c, json_t *record)
{
	struct ctl_notify *n = c->notify;
	json_t *nt = json_object_get(record, "notify"), *groups, *e, *g = NULL;
	const char *sender = jstr(record, "sender", ""), *auto_sub;
	bool null_sender = !*sender || strcmp(sender, "<>") == 0;
	size_t i;

	if (!n || !json_array_size(nt))
		return;
	auto_sub = jstr(record, "auto_submitted", NULL);
	if (auto_sub && *auto_sub && strcasecmp(auto_sub, "no") != 0) {
		n->skipped += json_array_size(nt);
		MXG_DEBUG(COMP, "message %s is Auto-Submitted: %s: no notification",
			  jstr(record, "uuid", "?"), auto_sub);
		return;
	}
	/* merge the per-recipient elements: (to, template, rule_id) */
	groups = json_array();
	if (!groups) {
		n->dropped += json_array_size(nt);
		return;
	}
	json_array_foreach(nt, i, e) {
		const char *to = jstr(e, "to", ""), *tm = jstr(e, "template", "default");
		json_int_t rid = json_integer_value(json_object_get(e, "rule_id"));
		size_t k;

		json_array_foreach(groups, k, g)
			if (strcmp(jstr(g, "to", ""), to) == 0 &&
			    strcmp(jstr(g, "template", ""), tm) == 0 &&
			    json_integer_value(json_object_get(g, "rule_id")) == rid)
				break;
		if (k == json_array_size(groups)) {
			g = json_pack("{s:s, s:s, s:I, s:s, s:[]}", "to", to, "template", tm,
				      "rule_id", rid, "rule_name", jstr(e, "rule_name", ""),
				      "recipients");
			if (!g)
				continue;
			json_array_append_new(groups, g);
		}
		merge_addrs(json_object_get(g, "recipients"), json_object_get(e, "recipients"));
	}
	json_array_foreach(groups, i, g) {
		const char *to = jstr(g, "to", "");
		json_t *rc = json_object_get(g, "recipients");

		if (!json_array_size(rc)) { /* none named: the whole message's */
			json_t *rs = json_object_get(record, "recipients"), *r;
			size_t k;

			json_array_foreach(rs, k, r) {
				const char *a = json_is_string(r) ? json_string_value(r)
								  : jstr(r, "rcpt", jstr(r, "address", NULL));

				if (a)
					json_array_append_new(rc, json_string(a));
			}
		}
		if (strcmp(to, "sender") == 0) {
			if (null_sender) {
				n->skipped++; /* RFC 3834: never answer <> */
				continue;
			}
			enqueue(n, record, g, rc, sender);
		} else if (strcmp(to, "admin") == 0) {
			if (!c->conf.admin_address[0]) {
				n->skipped++;
				if (!n->admin_warned)
					MXG_WARN(COMP, "an 'admin' notification was asked for but "
						 "[control] admin_address is not set");
				n->admin_warned = true;
				continue;
			}
			enqueue(n, record, g, rc, c->conf.admin_address);
		} else if (strcmp(to, "recipient") == 0) {
			json_t *r;
			size_t k;

			json_array_foreach(rc, k, r) {
				json_t *one = json_pack("[O]", r);

				if (one)
					enqueue(n, record, g, one, json_string_value(r));
				json_decref(one);
			}
		} else {
			n->skipped++;
			MXG_INFO(COMP, "notification to '%.32s': unknown target", to);
		}
	}
	json_decref(groups);
	pump(n);
}

json_t *ctl_notify_stats(const struct ctl *c)
{
	const struct ctl_notify *n = c->notify;

	if (!n)
		return NULL;
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "queued", (json_int_t)n->nqueued,
			 "in_flight", (json_int_t)n->nbusy, "submitted", (json_int_t)n->submitted,
			 "sent", (json_int_t)n->sent, "failed", (json_int_t)n->failed,
			 "dropped", (json_int_t)n->dropped, "skipped", (json_int_t)n->skipped);
}

int ctl_notify_init(struct ctl *c)
{
	struct ctl_notify *n = calloc(1, sizeof(*n));

	if (!n)
		return MXG_E_NOMEM;
	n->c = c;
	TAILQ_INIT(&n->queue);
	TAILQ_INIT(&n->busy);
	c->notify = n;
	return 0;
}

void ctl_notify_fini(struct ctl *c)
{
	struct ctl_notify *n = c->notify;
	struct job *j;

	if (!n)
		return;
	while ((j = TAILQ_FIRST(&n->queue))) {
		TAILQ_REMOVE(&n->queue, j, link);
		job_free(j);
	}
	while ((j = TAILQ_FIRST(&n->busy))) {
		TAILQ_REMOVE(&n->busy, j, link);
		if (j->st == J_WAIT) {
			job_free(j);
		} else {
			j->n = NULL; /* its database or SMTP callback frees it */
			if (j->retry) {
				event_free(j->retry);
				j->retry = NULL;
			}
		}
	}
	if (n->submitted)
		MXG_INFO(COMP, "notifications: %llu sent, %llu failed, %llu dropped, %llu skipped",
			 (unsigned long long)n->sent, (unsigned long long)n->failed,
			 (unsigned long long)n->dropped, (unsigned long long)n->skipped);
	free(n);
	c->notify = NULL;
}
