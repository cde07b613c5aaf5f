/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pkt_driver.c - packetdrill-syntax script interpreter (see pkt_driver.h).
 *
 * Addresses: the stack is 192.168.0.1 (or 2001:db8::1), the remote peer
 * 192.0.2.1 (2001:db8::2). listen() binds port 8080 and the scripted peer
 * uses port 40000; connect() goes to the peer's port 8080 from local port
 * 40000. Sequence numbers are relative as in packetdrill: inbound SEQ to the
 * peer's ISN (remote_isn, default 1000000000), outbound SEQ and inbound ACK
 * to our ISN, learned from the first SYN/SYN-ACK we send. Inbound TS ecr is
 * shifted by the offset between our first TSval and the script's. Timing:
 * an outbound segment must leave within +-tolerance (10 ms) of its line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxg_err.h"
#include "pkt_driver.h"
#include "tcps.h"
#include "tcps_net.h" /* tcps_l4_csum */

#define MAXQ 256
#define MAXFD 64
#define SEGMAX 65000

struct cap {
	uint8_t b[SEGMAX];
	uint16_t len;
	mxg_tstamp ts;
};

struct fdent {
	int kind; /* 0 none, 1 socket, 2 listener, 3 conn */
	struct tcps_listener *l;
	struct tcps_conn *c;
	enum tcps_err err;
	bool nonblock;
	bool rd_shut; /* shutdown(SHUT_RD or SHUT_RDWR): reads return 0 */
};

struct drv {
	struct tcps_stack *s;
	struct tcps_stack_conf cf;
	struct tcps_listen_conf lc;
	struct cap *q;
	int qh, qn;
	mxg_tstamp now;
	double prev_t;
	mxg_tstamp tol;
	struct mxg_ip laddr, raddr;
	uint16_t lport, rport;
	uint32_t our_iss, rem_isn;
	uint32_t last_ack;     /* last inbound ACK number of the script */
	bool have_iss;
	int64_t ts_delta;
	bool have_ts;
	bool ignore_win;
	bool lenient;   /* packetdrill semantics: unexpected output only fails at the next ">" */
	bool started;
	struct fdent fd[MAXFD];
	struct tcps_conn *acq[MAXFD];
	int nacq;
	uint64_t wr_off; /* pattern offset for writes */
	int line;
	char *why;
	size_t whylen;
	int verbose;
	struct tcps_io_ops ops;
};

static struct drv *cur; /* callbacks have no ud for the error callback map */

static int fail(struct drv *d, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(d->why, d->whylen, "line %d: ", d->line);

	va_start(ap, fmt);
	vsnprintf(d->why + n, d->whylen - (size_t)n, fmt, ap);
	va_end(ap);
	return PKT_FAIL;
}

static int na(struct drv *d, const char *what)
{
	snprintf(d->why, d->whylen, "line %d: not applicable: %s", d->line, what);
	return PKT_NA;
}

static int io_output(void *io, const struct mxg_ip *src, const struct mxg_ip *dst,
		     const uint8_t *seg, uint16_t len, mxg_tstamp now)
{
	struct drv *d = io;
	struct cap *c;

	if (d->qn == MAXQ)
		return MXG_E_NOBUFS;
	c = &d->q[(d->qh + d->qn) % MAXQ];
	memcpy(c->b, seg, len);
	c->len = len;
	c->ts = now;
	d->qn++;
	return 0;
}

/* ---- callbacks ---- */

static struct fdent *fd_of(struct drv *d, struct tcps_conn *c)
{
	for (int i = 0; i < MAXFD; i++)
		if (d->fd[i].kind == 3 && d->fd[i].c == c)
			return &d->fd[i];
	return NULL;
}

static void on_error(struct tcps_conn *c, enum tcps_err err, void *ud)
{
	struct drv *d = ud;
	struct fdent *f = fd_of(d, c);

	if (f)
		f->err = err;
	for (int i = 0; i < d->nacq; i++)
		if (d->acq[i] == c) {
			/* reset before accept(): Linux drops it from the queue */
			tcps_conn_close(c, d->now);
			d->acq[i] = d->acq[--d->nacq];
			return;
		}
}

static const struct tcps_conn_callbacks conn_cbs = {.on_error = on_error};

static int on_accept(struct tcps_listener *l, struct tcps_conn *c, void *ud)
{
	struct drv *d = ud;

	if (d->nacq == MAXFD)
		return -1;
	d->acq[d->nacq++] = c;
	tcps_conn_set_callbacks(c, &conn_cbs, d);
	return 0;
}

static const struct tcps_listener_callbacks lcbs = {.on_accept = on_accept};

/* ---- time ---- */

static void advance_to(struct drv *d, mxg_tstamp t)
{
	mxg_tstamp dl;

	while ((dl = tcps_stack_deadline(d->s)) != MXG_TS_NONE && dl <= t) {
		if (dl > d->now)
			d->now = dl;
		tcps_stack_on_timer(d->s, d->now);
	}
	if (t > d->now)
		d->now = t;
}

/* Steps timers until an output appears or |t| is reached. */
static void advance_until_output(struct drv *d, mxg_tstamp t)
{
	mxg_tstamp dl;

	while (d->qn == 0 && (dl = tcps_stack_deadline(d->s)) != MXG_TS_NONE && dl <= t) {
		if (dl > d->now)
			d->now = dl;
		tcps_stack_on_timer(d->s, d->now);
	}
}

/* ---- small parsing helpers ---- */

static char *skip_ws(char *p)
{
	while (*p && isspace((unsigned char)*p))
		p++;
	return p;
}

static int parse_cstr(const char *p, char *out, size_t max, const char **end)
{
	size_t n = 0;

	if (*p != '"')
		return -1;
	p++;
	while (*p && *p != '"') {
		char ch = *p++;

		if (ch == '\\') {
			ch = *p++;
			switch (ch) {
			case 'r': ch = '\r'; break;
			case 'n': ch = '\n'; break;
			case 't': ch = '\t'; break;
			case '0': ch = '\0'; break;
			case 'x': {
				unsigned v = 0;

				for (int i = 0; i < 2 && isxdigit((unsigned char)*p); i++, p++)
					v = v * 16 + (unsigned)(isdigit((unsigned char)*p) ? *p - '0'
								: (tolower(*p) - 'a' + 10));
				ch = (char)v;
				break;
			}
			default: break;
			}
		}
		if (n < max)
			out[n++] = ch;
	}
	if (*p != '"')
		return -1;
	*end = p + 1;
	return (int)n;
}

/* ---- segments ---- */

struct opt_item {
	int kind; /* 0 eol, 1 nop, 2 mss, 3 ws, 4 sackok, 5 sack, 8 ts, -1 any */
	uint32_t a, b;
	int nsack;
	uint32_t sl[4], sr[4];
};

struct segspec {
	uint8_t flags;
	uint32_t seq, end, len;
	bool has_ack, has_win;
	uint32_t ack, win;
	bool opts_given, opts_any;
	struct opt_item opt[20];
	int nopt;
	bool has_data;
	char data[SEGMAX];
	int datalen;
};

static int parse_opts(struct drv *d, char *p, struct segspec *sp)
{
	char *tok, *save = NULL;

	sp->opts_given = true;
	sp->nopt = 0;
	if (strcmp(skip_ws(p), "...") == 0) {
		sp->opts_any = true;
		return 0;
	}
	for (tok = strtok_r(p, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct opt_item *o = &sp->opt[sp->nopt];
		char name[32];
		unsigned a = 0, b = 0;

		tok = skip_ws(tok);
		if (sp->nopt == 20)
			return fail(d, "too many options");
		memset(o, 0, sizeof(*o));
		if (sscanf(tok, "%31s", name) != 1)
			continue;
		if (strcmp(name, "nop") == 0) {
			o->kind = 1;
		} else if (strcmp(name, "eol") == 0) {
			o->kind = 0;
		} else if (strcmp(name, "mss") == 0 && sscanf(tok, "mss %u", &a) == 1) {
			o->kind = 2;
			o->a = a;
		} else if (strcmp(name, "wscale") == 0 && sscanf(tok, "wscale %u", &a) == 1) {
			o->kind = 3;
			o->a = a;
		} else if (strcmp(name, "sackOK") == 0) {
			o->kind = 4;
		} else if (strcmp(name, "TS") == 0 &&
			   sscanf(tok, "TS val %u ecr %u", &a, &b) == 2) {
			o->kind = 8;
			o->a = a;
			o->b = b;
		} else if (strcmp(name, "sack") == 0) {
			char *q = tok + 4;

			o->kind = 5;
			while (o->nsack < 4 && sscanf(q, " %u:%u", &a, &b) == 2) {
				o->sl[o->nsack] = a;
				o->sr[o->nsack] = b;
				o->nsack++;
				q = skip_ws(q);
				while (*q && !isspace((unsigned char)*q))
					q++;
			}
		} else if (strcmp(name, "unknown") == 0 &&
			   sscanf(tok, "unknown %u %u", &a, &b) == 2) {
			o->kind = 100; /* raw kind a, length byte b: may be malformed */
			o->a = a;
			o->b = b;
		} else {
			return na(d, "TCP option not supported by the driver");
		}
		sp->nopt++;
	}
	return 0;
}

static int parse_seg(struct drv *d, char *p, struct segspec *sp)
{
	char fl[16];
	int n = 0;

	memset(sp, 0, sizeof(*sp));
	if (sscanf(p, "%15s %n", fl, &n) != 1)
		return fail(d, "bad segment");
	for (char *f = fl; *f; f++) {
		switch (*f) {
		case 'S': sp->flags |= 0x02; break;
		case 'F': sp->flags |= 0x01; break;
		case 'R': sp->flags |= 0x04; break;
		case 'P': sp->flags |= 0x08; break;
		case '.': sp->flags |= 0x10; break;
		case 'U': sp->flags |= 0x20; break;
		case '-': break;
		case 'E': case 'W': return na(d, "ECN");
		default: return fail(d, "bad flags %s", fl);
		}
	}
	p += n;
	if (sscanf(p, "%u:%u(%u)%n", &sp->seq, &sp->end, &sp->len, &n) != 3)
		return fail(d, "bad seq range");
	p += n;
	for (;;) {
		p = skip_ws(p);
		if (*p == 0)
			break;
		if (strncmp(p, "ack ", 4) == 0) {
			sp->has_ack = true;
			sp->ack = (uint32_t)strtoul(p + 4, &p, 10);
		} else if (strncmp(p, "win ", 4) == 0) {
			sp->has_win = true;
			sp->win = (uint32_t)strtoul(p + 4, &p, 10);
		} else if (strncmp(p, "urg ", 4) == 0) {
			strtoul(p + 4, &p, 10);
		} else if (*p == '<') {
			char *e = strchr(p, '>');
			int rc;

			if (e == NULL)
				return fail(d, "unterminated options");
			*e = 0;
			rc = parse_opts(d, p + 1, sp);
			if (rc)
				return rc;
			p = e + 1;
		} else if (strncmp(p, "data ", 5) == 0) {
			const char *e;

			sp->datalen = parse_cstr(skip_ws(p + 5), sp->data, sizeof(sp->data), &e);
			if (sp->datalen < 0)
				return fail(d, "bad data string");
			sp->has_data = true;
			p = (char *)e;
		} else if (*p == '(' || strncmp(p, "//", 2) == 0) {
			break; /* trailing comment / ignored annotation */
		} else {
			return na(d, "segment attribute not supported");
		}
	}
	if (sp->has_data && (uint32_t)sp->datalen != sp->len)
		return fail(d, "data length %d != %u", sp->datalen, sp->len);
	return 0;
}

static inline void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}
static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static int inject(struct drv *d, struct segspec *sp)
{
	uint8_t b[SEGMAX];
	unsigned ol = 0, hl;
	uint8_t *o = b + 20;

	for (int i = 0; i < sp->nopt; i++) {
		struct opt_item *it = &sp->opt[i];

		switch (it->kind) {
		case 0: o[ol++] = 0; break;
		case 1: o[ol++] = 1; break;
		case 2: o[ol++] = 2; o[ol++] = 4; put16(o + ol, (uint16_t)it->a); ol += 2; break;
		case 3: o[ol++] = 3; o[ol++] = 3; o[ol++] = (uint8_t)it->a; break;
		case 4: o[ol++] = 4; o[ol++] = 2; break;
		case 8:
			o[ol++] = 8;
			o[ol++] = 10;
			put32(o + ol, it->a);
			put32(o + ol + 4, it->b + (uint32_t)(d->have_ts ? d->ts_delta : 0));
			ol += 8;
			break;
		case 100:
			o[ol++] = (uint8_t)it->a;
			o[ol++] = (uint8_t)it->b;
			for (unsigned k = 2; k < it->b && ol < 40; k++)
				o[ol++] = 0;
			break;
		case 5:
			o[ol++] = 5;
			o[ol++] = (uint8_t)(2 + 8 * it->nsack);
			for (int k = 0; k < it->nsack; k++) {
				put32(o + ol, it->sl[k] + d->our_iss);
				put32(o + ol + 4, it->sr[k] + d->our_iss);
				ol += 8;
			}
			break;
		}
		if (ol > 40)
			return fail(d, "options too long");
	}
	while (ol % 4)
		o[ol++] = 0;
	hl = 20 + ol;
	put16(b, d->rport);
	put16(b + 2, d->lport);
	put32(b + 4, sp->seq + d->rem_isn);
	if (sp->has_ack)
		d->last_ack = sp->ack;
	else if (sp->flags & 0x10)
		sp->ack = d->last_ack; /* "." without "ack N": the last one used */
	put32(b + 8, (sp->flags & 0x10) ? sp->ack + d->our_iss : 0);
	b[12] = (uint8_t)((hl / 4) << 4);
	b[13] = sp->flags;
	put16(b + 14, (uint16_t)(sp->has_win ? sp->win : 65535));
	put16(b + 16, 0);
	put16(b + 18, 0);
	if (hl + sp->len > sizeof(b))
		return fail(d, "segment too long");
	for (uint32_t i = 0; i < sp->len; i++)
		b[hl + i] = sp->has_data ? (uint8_t)sp->data[i]
					 : (uint8_t)('a' + (sp->seq + i - 1) % 26);
	put16(b + 16, tcps_l4_csum(&d->raddr, &d->laddr, 6, b, (uint16_t)(hl + sp->len)));
	tcps_stack_input(d->s, &d->raddr, &d->laddr, b, (uint16_t)(hl + sp->len), d->now);
	return 0;
}

static void render(struct drv *d, const struct cap *c, char *out, size_t n)
{
	const uint8_t *b = c->b;
	unsigned hl = (unsigned)(b[12] >> 4) * 4;
	int k = snprintf(out, n, "%s%s%s%s%s %u:%u(%u) ack %u win %u <", (b[13] & 2) ? "S" : "",
			 (b[13] & 1) ? "F" : "", (b[13] & 4) ? "R" : "", (b[13] & 8) ? "P" : "",
			 (b[13] & 0x10) ? "." : "", get32(b + 4) - d->our_iss,
			 get32(b + 4) - d->our_iss + (c->len - hl), c->len - hl,
			 get32(b + 8) - d->rem_isn, get16(b + 14));

	for (unsigned i = 20; i < hl && (size_t)k < n;) {
		uint8_t kind = b[i];

		if (kind == 0) {
			break;
		} else if (kind == 1) {
			k += snprintf(out + k, n - (size_t)k, "nop,");
			i++;
			continue;
		}
		switch (kind) {
		case 2: k += snprintf(out + k, n - (size_t)k, "mss %u,", get16(b + i + 2)); break;
		case 3: k += snprintf(out + k, n - (size_t)k, "wscale %u,", b[i + 2]); break;
		case 4: k += snprintf(out + k, n - (size_t)k, "sackOK,"); break;
		case 8:
			k += snprintf(out + k, n - (size_t)k, "TS val %u ecr %u,", get32(b + i + 2),
				      get32(b + i + 6));
			break;
		case 5:
			k += snprintf(out + k, n - (size_t)k, "sack");
			for (unsigned j = 0; j < (b[i + 1] - 2u) / 8; j++)
				k += snprintf(out + k, n - (size_t)k, " %u:%u",
					      get32(b + i + 2 + 8 * j) - d->rem_isn,
					      get32(b + i + 6 + 8 * j) - d->rem_isn);
			k += snprintf(out + k, n - (size_t)k, ",");
			break;
		}
		i += b[i + 1] ? b[i + 1] : 1;
	}
	if ((size_t)k < n)
		snprintf(out + k, n - (size_t)k, ">");
}

static int expect(struct drv *d, struct segspec *sp, mxg_tstamp t0, mxg_tstamp t1, bool any_time)
{
	struct cap *c;
	const uint8_t *b;
	unsigned hl, plen;
	uint32_t seq, ack;
	char got[512];
	int oi = 0;

	if (d->qn == 0) {
		advance_to(d, t0 > d->tol ? t0 - d->tol : 0);
		advance_until_output(d, any_time ? t1 + 3600 * MXG_NSEC_PER_SEC : t1 + d->tol);
	}
	if (d->qn == 0)
		return fail(d, "expected outbound segment, none sent");
	c = &d->q[d->qh];
	d->qh = (d->qh + 1) % MAXQ;
	d->qn--;
	b = c->b;
	hl = (unsigned)(b[12] >> 4) * 4;
	plen = c->len - hl;
	/* packetdrill sees TSO/GSO super-segments: merge back-to-back data
	 * segments sent at the same instant until the expected length */
	while (plen < sp->len && plen > 0 && d->qn > 0) {
		struct cap *nx = &d->q[d->qh];
		unsigned nhl = (unsigned)(nx->b[12] >> 4) * 4;
		unsigned nlen = nx->len - nhl;

		if (nx->ts != c->ts || nlen == 0 || get32(nx->b + 4) != get32(b + 4) + plen ||
		    (nx->b[13] & 0x07) || c->len + nlen > SEGMAX)
			break;
		memcpy(c->b + c->len, nx->b + nhl, nlen);
		c->len = (uint16_t)(c->len + nlen);
		c->b[13] |= nx->b[13] & 0x09; /* PSH, FIN of the last */
		plen += nlen;
		d->qh = (d->qh + 1) % MAXQ;
		d->qn--;
	}
	seq = get32(b + 4);
	ack = get32(b + 8);
	if ((sp->flags & 0x02) && !d->have_iss) {
		d->our_iss = seq - sp->seq;
		d->have_iss = true;
	}
	render(d, c, got, sizeof(got));
	if (d->verbose)
		fprintf(stderr, "  > %.3f %s\n", (double)c->ts / 1e9, got);
	if (!any_time && (c->ts + d->tol < t0 || c->ts > t1 + d->tol))
		return fail(d, "segment sent at %.3f s, expected %.3f s: %s", (double)c->ts / 1e9,
			    (double)t0 / 1e9, got);
	if (b[13] != sp->flags)
		return fail(d, "flags differ: got %s", got);
	if (seq - d->our_iss != sp->seq)
		return fail(d, "seq differs: got %s", got);
	if ((sp->flags & 0x10) && sp->has_ack && ack - d->rem_isn != sp->ack)
		return fail(d, "ack differs: got %s", got);
	if (plen != sp->len)
		return fail(d, "length differs: got %s", got);
	if (sp->has_win && !d->ignore_win && get16(b + 14) != sp->win)
		return fail(d, "window differs: got %s", got);
	if (!sp->opts_given || sp->opts_any)
		return 0;
	for (unsigned i = 20; i < hl;) {
		uint8_t kind = b[i];
		struct opt_item *e;
		unsigned ol = kind <= 1 ? 1 : b[i + 1];

		if (kind == 0 && oi == sp->nopt)
			break; /* padding */
		if (oi >= sp->nopt)
			return fail(d, "extra options: got %s", got);
		e = &sp->opt[oi++];
		if (e->kind != kind)
			return fail(d, "options differ: got %s", got);
		switch (kind) {
		case 2:
			if (get16(b + i + 2) != e->a)
				return fail(d, "mss differs: got %s", got);
			break;
		case 3:
			if (b[i + 2] != e->a && !d->ignore_win)
				return fail(d, "wscale differs: got %s", got);
			break;
		case 8:
			if (!d->have_ts) {
				d->ts_delta = (int64_t)(uint32_t)(get32(b + i + 2) - e->a);
				d->have_ts = true;
			}
			if (get32(b + i + 6) != e->b)
				return fail(d, "TS ecr differs: got %s", got);
			break;
		case 5:
			if ((b[i + 1] - 2) / 8 != e->nsack)
				return fail(d, "SACK blocks differ: got %s", got);
			for (int k = 0; k < e->nsack; k++)
				if (get32(b + i + 2 + 8 * k) - d->rem_isn != e->sl[k] ||
				    get32(b + i + 6 + 8 * k) - d->rem_isn != e->sr[k])
					return fail(d, "SACK blocks differ: got %s", got);
			break;
		}
		if (kind == 0)
			break;
		i += ol;
	}
	if (oi != sp->nopt)
		return fail(d, "missing options: got %s", got);
	return 0;
}

/* ---- syscalls ---- */

static const char *err_name(enum tcps_err e)
{
	switch (e) {
	case TCPS_ERR_RESET: return "ECONNRESET";
	case TCPS_ERR_REFUSED: return "ECONNREFUSED";
	case TCPS_ERR_TIMEOUT: return "ETIMEDOUT";
	case TCPS_ERR_KEEPALIVE: return "ETIMEDOUT";
	case TCPS_ERR_NOMEM: return "ENOMEM";
	}
	return "EIO";
}

static int check_ret(struct drv *d, const char *call, long got, const char *got_err, long want,
		     const char *want_err)
{
	if (want < 0 && got < 0) {
		if (want_err[0] && strcmp(want_err, got_err) != 0)
			return fail(d, "%s: errno %s, expected %s", call, got_err, want_err);
		return 0;
	}
	if (got != want)
		return fail(d, "%s returned %ld (%s), expected %ld", call, got, got < 0 ? got_err : "",
			    want);
	return 0;
}

static struct fdent *getfd(struct drv *d, int fd)
{
	return fd >= 0 && fd < MAXFD ? &d->fd[fd] : NULL;
}

static int syscall_line(struct drv *d, char *p)
{
	char name[32], *args, *close_par, *eq;
	char argv[6][128];
	int argc = 0, depth = 0, n;
	long want = 0, got = 0;
	char want_err[32] = "", got_err[32] = "";
	struct fdent *f;
	const char *start;

	if (sscanf(p, "%31[a-z_0-9](%n", name, &n) != 1)
		return fail(d, "cannot parse: %s", p);
	if (strcmp(name, "sendmsg") == 0 || strcmp(name, "recvmsg") == 0 ||
	    strcmp(name, "sendfile") == 0 || strcmp(name, "splice") == 0)
		return na(d, name);
	args = p + n;
	for (close_par = args; *close_par; close_par++) {
		if (*close_par == '(' || *close_par == '[' || *close_par == '{')
			depth++;
		if (*close_par == ')' || *close_par == ']' || *close_par == '}') {
			if (depth == 0)
				break;
			depth--;
		}
	}
	if (*close_par != ')')
		return na(d, "call spanning lines");
	*close_par = 0;
	eq = strchr(close_par + 1, '=');
	if (eq) {
		want = strtol(eq + 1, &eq, 0);
		if (want < 0)
			sscanf(eq, " %31[A-Z0-9_]", want_err);
	}
	/* split arguments at top-level commas */
	depth = 0;
	start = args;
	for (char *q = args;; q++) {
		if (*q == '(' || *q == '[' || *q == '{')
			depth++;
		if (*q == ')' || *q == ']' || *q == '}')
			depth--;
		if ((*q == ',' && depth == 0) || *q == 0) {
			if (argc < 6) {
				size_t l = (size_t)(q - start);

				if (l > 127)
					l = 127;
				memcpy(argv[argc], start, l);
				argv[argc][l] = 0;
				argc++;
			}
			if (*q == 0)
				break;
			start = q + 1;
		}
	}
	f = getfd(d, argc ? atoi(argv[0]) : -1);

	if (strcmp(name, "socket") == 0) {
		if (strstr(p, "SOCK_STREAM") == NULL || want < 0)
			return na(d, "non-TCP socket");
		f = getfd(d, (int)want);
		if (f == NULL)
			return fail(d, "bad fd");
		memset(f, 0, sizeof(*f));
		f->kind = 1;
		return 0;
	}
	if (f == NULL)
		return fail(d, "bad fd");
	if (strcmp(name, "bind") == 0)
		return 0;
	if (strcmp(name, "setsockopt") == 0) {
		if (strstr(argv[2], "SO_REUSEADDR") || strstr(argv[2], "TCP_NODELAY") ||
		    strstr(argv[2], "SO_REUSEPORT"))
			return 0;
		return na(d, "setsockopt option");
	}
	if (strcmp(name, "fcntl") == 0) {
		if (strstr(p, "O_NONBLOCK"))
			f->nonblock = true;
		if (strstr(argv[1], "F_SETFL") || strstr(argv[1], "F_GETFL"))
			return 0;
		return na(d, "fcntl");
	}
	if (strcmp(name, "listen") == 0) {
		struct mxg_ip any = d->laddr;
		int err;

		d->lc.backlog = (uint16_t)(atoi(argv[1]) > 0 ? atoi(argv[1]) : 1);
		if (d->lc.backlog < 1)
			d->lc.backlog = 1;
		(void)any;
		f->l = tcps_listen(d->s, &d->laddr, d->lport, &d->lc, &lcbs, d, &err);
		if (f->l == NULL)
			return fail(d, "listen failed: %d", err);
		f->kind = 2;
		return check_ret(d, name, 0, "", want, want_err);
	}
	if (strcmp(name, "accept") == 0 || strcmp(name, "accept4") == 0) {
		struct fdent *nf = getfd(d, (int)want);

		if (want < 0)
			return check_ret(d, name, d->nacq ? 0 : -1, "EAGAIN", want, want_err);
		if (d->nacq == 0)
			return fail(d, "accept: no connection established");
		if (nf == NULL)
			return fail(d, "bad fd");
		memset(nf, 0, sizeof(*nf));
		nf->kind = 3;
		nf->c = d->acq[0];
		memmove(&d->acq[0], &d->acq[1], (size_t)(--d->nacq) * sizeof(d->acq[0]));
		return 0;
	}
	if (strcmp(name, "connect") == 0) {
		int rc = tcps_connect(d->s, &d->laddr, d->lport, &d->raddr, d->rport,
				      d->lc.cc, &conn_cbs, d, d->now, &f->c);

		if (rc < 0)
			return fail(d, "connect failed: %d", rc);
		f->kind = 3;
		return 0; /* 0 (blocking) and -1 EINPROGRESS both fine */
	}
	if (strcmp(name, "write") == 0 || strcmp(name, "send") == 0 ||
	    strcmp(name, "sendto") == 0) {
		long len = atol(argv[2]);
		uint8_t *buf;

		if (f->kind != 3)
			return na(d, "write on an unconnected socket (TFO)");
		if (strstr(argv[1], "0x") || strstr(argv[1], "NULL"))
			return na(d, "invalid buffer pointer");
		if (strstr(p, "MSG_") && !strstr(p, ", 0"))
			return na(d, "send flags");
		if (f->err) {
			got = -1;
			snprintf(got_err, sizeof(got_err), "%s", err_name(f->err));
		} else {
			buf = malloc((size_t)len + 1);
			for (long i = 0; i < len; i++)
				buf[i] = (uint8_t)('A' + (d->wr_off + (uint64_t)i) % 26);
			got = tcps_conn_send(f->c, buf, (size_t)len, d->now);
			free(buf);
			if (got == MXG_E_AGAIN || got == 0) {
				got = -1;
				snprintf(got_err, sizeof(got_err), "EAGAIN");
			} else if (got < 0) {
				got = -1;
				snprintf(got_err, sizeof(got_err), "EPIPE");
			} else {
				d->wr_off += (uint64_t)got;
			}
		}
		return check_ret(d, name, got, got_err, want, want_err);
	}
	if (strcmp(name, "read") == 0 || strcmp(name, "recv") == 0 ||
	    strcmp(name, "recvfrom") == 0) {
		long len = atol(argv[2]);
		uint8_t *buf;

		if (f->kind != 3)
			return fail(d, "read on non-connection");
		buf = malloc((size_t)len + 1);
		got = (long)tcps_conn_recv(f->c, buf, (size_t)len, d->now);
		free(buf);
		if (got == 0 && f->rd_shut) {
			got = 0;
		} else if (got == 0 && f->err) {
			got = -1;
			snprintf(got_err, sizeof(got_err), "%s", err_name(f->err));
		} else if (got == 0 && !tcps_conn_eof(f->c)) {
			got = -1;
			snprintf(got_err, sizeof(got_err), "EAGAIN");
		}
		return check_ret(d, name, got, got_err, want, want_err);
	}
	if (strcmp(name, "ioctl") == 0 && strstr(argv[1], "SIOCINQ")) {
		long n = strtol(strchr(argv[2], '[') ? strchr(argv[2], '[') + 1 : argv[2], NULL, 10);

		if (f->kind != 3)
			return fail(d, "ioctl on non-connection");
		if ((long)tcps_conn_readable(f->c) != n)
			return fail(d, "SIOCINQ %zu, expected %ld", tcps_conn_readable(f->c), n);
		return 0;
	}
	if (strcmp(name, "shutdown") == 0) {
		if (f->kind != 3)
			return fail(d, "shutdown on non-connection");
		if (strstr(argv[1], "SHUT_RD"))
			f->rd_shut = true;
		if (strstr(argv[1], "SHUT_RD") && !strstr(argv[1], "SHUT_RDWR"))
			return 0;
		got = tcps_conn_shutdown(f->c, d->now) < 0 ? -1 : 0;
		return check_ret(d, name, got, "ENOTCONN", want, want_err);
	}
	if (strcmp(name, "close") == 0) {
		if (f->kind == 2)
			tcps_listener_close(f->l);
		else if (f->kind == 3)
			tcps_conn_close(f->c, d->now);
		memset(f, 0, sizeof(*f));
		return check_ret(d, name, 0, "", want, want_err);
	}
	return na(d, name);
}

/* ---- our directives ---- */

struct statname {
	const char *name;
	size_t off;
};

#define ST(x) {#x, offsetof(struct tcps_stats, x)}
static const struct statname stats_tab[] = {
	ST(rx_segs), ST(tx_segs), ST(rx_bad_csum), ST(rx_malformed), ST(rx_no_conn), ST(rx_paws),
	ST(rx_out_of_window), ST(rx_ooo), ST(rx_ooo_drop), ST(rx_dup_bytes), ST(challenge_acks),
	ST(challenge_ack_limited), ST(rst_sent), ST(rst_rcvd), ST(syncookies_sent),
	ST(syncookies_ok), ST(syncookies_bad), ST(listen_overflow), ST(conn_limit),
	ST(mem_limit), ST(retransmits), ST(rto_fired), ST(fast_retransmits), ST(rack_lost), ST(tlp_probes),
	ST(spurious_undos), ST(dsack_rcvd), ST(dsack_sent), ST(persist_probes),
	ST(keepalive_probes), ST(tx_errors), ST(active_opens), ST(passive_opens), ST(conns),
	ST(mem_used),
};

static int directive(struct drv *d, char *p)
{
	char name[32], arg[64];
	int fd = -1, n = 0;
	struct fdent *f;

	if (sscanf(p, "%%%31s %n", name, &n) != 1)
		return fail(d, "bad directive");
	p += n;
	if (strcmp(name, "stat") == 0) {
		unsigned long long want;

		if (sscanf(p, "%63s %llu", arg, &want) != 2)
			return fail(d, "bad %%stat");
		for (size_t i = 0; i < sizeof(stats_tab) / sizeof(stats_tab[0]); i++)
			if (strcmp(stats_tab[i].name, arg) == 0) {
				uint64_t v = *(const uint64_t *)((const char *)tcps_stack_stats(d->s) +
								 stats_tab[i].off);

				if (v != want)
					return fail(d, "stat %s = %llu, expected %llu", arg,
						    (unsigned long long)v, want);
				return 0;
			}
		return fail(d, "unknown stat %s", arg);
	}
	if (strcmp(name, "rport") == 0) {
		d->rport = (uint16_t)strtoul(p, NULL, 10); /* next segments from this peer port */
		return 0;
	}
	if (strcmp(name, "newconn") == 0) {
		d->have_iss = false; /* learn our ISN/TSval again (another connection) */
		d->have_ts = false;
		return 0;
	}
	if (strcmp(name, "noout") == 0) {
		if (d->qn)
			return fail(d, "unexpected outbound segment");
		return 0;
	}
	fd = (int)strtol(p, &p, 10);
	f = getfd(d, fd);
	if (f == NULL || f->kind != 3)
		return fail(d, "%%%s: fd %d is not a connection", name, fd);
	p = skip_ws(p);
	if (strcmp(name, "state") == 0) {
		sscanf(p, "%63s", arg);
		if (strcmp(tcps_state_name(tcps_conn_state(f->c)), arg) != 0)
			return fail(d, "state %s, expected %s",
				    tcps_state_name(tcps_conn_state(f->c)), arg);
		return 0;
	}
	if (strcmp(name, "readable") == 0) {
		size_t want = strtoul(p, NULL, 10);

		if (tcps_conn_readable(f->c) != want)
			return fail(d, "readable %zu, expected %zu", tcps_conn_readable(f->c), want);
		return 0;
	}
	if (strcmp(name, "eof") == 0)
		return tcps_conn_eof(f->c) ? 0 : fail(d, "no EOF");
	if (strcmp(name, "error") == 0) {
		static const char *const en[] = {"none", "reset", "refused", "timeout", "keepalive",
						  "nomem"};

		sscanf(p, "%63s", arg);
		if (strcmp(en[f->err], arg) != 0)
			return fail(d, "error %s, expected %s", en[f->err], arg);
		return 0;
	}
	if (strcmp(name, "read") == 0) {
		char want[4096], got[4096];
		const char *e;
		int wl = parse_cstr(p, want, sizeof(want), &e);
		size_t gl;

		if (wl < 0)
			return fail(d, "bad %%read string");
		gl = tcps_conn_recv(f->c, (uint8_t *)got, (size_t)wl, d->now);
		if (gl != (size_t)wl || memcmp(got, want, gl) != 0)
			return fail(d, "read \"%.*s\", expected \"%.*s\"", (int)gl, got, wl, want);
		return 0;
	}
	return fail(d, "unknown directive %s", name);
}

static int conf_line(struct drv *d, char *p)
{
	char key[32];
	unsigned long long v = 1;
	struct tcps_stack_conf *cf = &d->cf;

	if (d->started)
		return fail(d, "%%conf after the first event");
	if (sscanf(p, "%%conf %31s %llu", key, &v) < 1)
		return fail(d, "bad %%conf");
#define MS(x) ((mxg_tstamp)(x) * MXG_NSEC_PER_MSEC)
	if (!strcmp(key, "rcvbuf")) cf->rcvbuf = (uint32_t)v;
	else if (!strcmp(key, "sndbuf")) cf->sndbuf = (uint32_t)v;
	else if (!strcmp(key, "mtu")) cf->mtu = (uint16_t)v;
	else if (!strcmp(key, "time_wait_ms")) cf->time_wait = MS(v);
	else if (!strcmp(key, "rto_min_ms")) cf->rto_min = MS(v);
	else if (!strcmp(key, "rto_init_ms")) cf->rto_init = MS(v);
	else if (!strcmp(key, "rto_max_ms")) cf->rto_max = MS(v);
	else if (!strcmp(key, "delack_ms")) cf->delack = MS(v);
	else if (!strcmp(key, "fin_wait2_ms")) cf->fin_wait2 = MS(v);
	else if (!strcmp(key, "backlog")) d->lc.backlog = (uint16_t)v;
	else if (!strcmp(key, "max_conns")) cf->max_conns = (uint32_t)v;
	else if (!strcmp(key, "mem_max")) cf->mem_max = v;
	else if (!strcmp(key, "ooo_max")) cf->ooo_max_ranges = (uint16_t)v;
	else if (!strcmp(key, "keepalive_ms")) cf->keepalive_idle = MS(v);
	else if (!strcmp(key, "keepalive_intvl_ms")) cf->keepalive_intvl = MS(v);
	else if (!strcmp(key, "keepalive_cnt")) cf->keepalive_cnt = (uint8_t)v;
	else if (!strcmp(key, "syn_retries")) cf->syn_retries = (uint8_t)v;
	else if (!strcmp(key, "max_retries")) cf->max_retries = (uint8_t)v;
	else if (!strcmp(key, "challenge_rate")) cf->challenge_ack_per_sec = (uint32_t)v;
	else if (!strcmp(key, "remote_isn")) d->rem_isn = (uint32_t)v;
	else if (!strcmp(key, "tolerance_ms")) d->tol = MS(v);
	else if (!strcmp(key, "no_ts")) cf->no_timestamps = true;
	else if (!strcmp(key, "no_sack")) cf->no_sack = true;
	else if (!strcmp(key, "no_ws")) cf->no_wscale = true;
	else if (!strcmp(key, "no_cookies")) d->lc.no_syncookies = true;
	else if (!strcmp(key, "no_quickack")) cf->no_quickack = true;
	else if (!strcmp(key, "no_tlp")) cf->no_tlp = true;
	else if (!strcmp(key, "cubic")) d->lc.cc = TCPS_CC_CUBIC;
	else if (!strcmp(key, "ignore_win")) d->ignore_win = true;
	else if (!strcmp(key, "ipv6")) {
		mxg_ip_parse("2001:db8::1", &d->laddr);
		mxg_ip_parse("2001:db8::2", &d->raddr);
	} else
		return fail(d, "unknown %%conf %s", key);
#undef MS
	return 0;
}

static int start(struct drv *d)
{
	if (d->started)
		return 0;
	d->s = tcps_stack_new(&d->cf, &d->ops, d, NULL);
	if (d->s == NULL)
		return fail(d, "tcps_stack_new failed");
	d->started = true;
	return 0;
}

/* strtod that does not swallow the first dot of "0...0.2" */
static double num(const char *p, char **end)
{
	char buf[64];
	size_t n = 0;

	while (n < sizeof(buf) - 1 && (isdigit((unsigned char)p[n]) ||
				       (p[n] == '.' && p[n + 1] != '.')))
		n++;
	memcpy(buf, p, n);
	buf[n] = 0;
	*end = (char *)p + n;
	return n ? strtod(buf, NULL) : 0;
}

/* Parses the time prefix. Returns the rest of the line. */
static char *parse_time(struct drv *d, char *p, double *t0, double *t1, bool *any)
{
	bool rel = false;
	double a;
	char *e;

	*any = false;
	if (*p == '~')
		p++; /* "about": our tolerance applies anyway */
	if (*p == '*') {
		*any = true;
		*t0 = *t1 = d->prev_t;
		return p + 1;
	}
	if (*p == '+') {
		rel = true;
		p++;
	}
	a = num(p, &e);
	if (e == p)
		return NULL;
	*t0 = rel ? d->prev_t + a : a;
	*t1 = *t0;
	p = e;
	if (strncmp(p, "...", 3) == 0 || *p == '~') {
		const char *q = p + (*p == '~' ? 1 : 3);
		bool rel2 = *q == '+';
		double b = num(q + rel2, &e);

		if (e != q + rel2) {
			*t1 = (rel || rel2) ? d->prev_t + b : b;
			if (*t1 < *t0)
				*t1 = *t0;
			p = e;
		}
	}
	return p;
}

static int shell_line(struct drv *d, const char *p)
{
	if (strstr(p, "tc qdisc") || strstr(p, "ethtool"))
		return na(d, "link emulation (tc/ethtool)");
	if (d->started)
		return 0;
	if (strstr(p, "tcp_timestamps=0"))
		d->cf.no_timestamps = true;
	if (strstr(p, "tcp_sack=0"))
		d->cf.no_sack = true;
	if (strstr(p, "tcp_window_scaling=0"))
		d->cf.no_wscale = true;
	if (strstr(p, "tcp_ecn=1") || strstr(p, "tcp_fastopen="))
		return na(d, "sysctl (ECN / TFO)");
	return 0;
}

static int run_line(struct drv *d, char *line)
{
	char *p = skip_ws(line), *c;
	double t0, t1;
	bool any;
	int rc;
	mxg_tstamp T0, T1;

	/* strip comments */
	for (c = p; *c; c++) {
		if (c[0] == '/' && c[1] == '/') {
			*c = 0;
			break;
		}
		if (c[0] == '"') { /* skip strings */
			c++;
			while (*c && *c != '"') {
				if (*c == '\\' && c[1])
					c++;
				c++;
			}
			if (!*c)
				break;
		}
	}
	p = skip_ws(p);
	if (*p == 0)
		return 0;
	if (*p == '`') {
		/* shell command (defaults.sh, sysctls): a few sysctls map
		 * to our conf; a block may span lines (see pkt_run_file) */
		return shell_line(d, p);
	}
	if (strncmp(p, "--", 2) == 0) {
		unsigned long v;

		if (sscanf(p, "--tolerance_usecs=%lu", &v) == 1)
			d->tol = (mxg_tstamp)v * MXG_NSEC_PER_USEC;
		return 0; /* other packetdrill command-line flags */
	}
	if (strncmp(p, "%conf", 5) == 0)
		return conf_line(d, p);
	if ((rc = start(d)) != 0)
		return rc;
	p = parse_time(d, p, &t0, &t1, &any);
	if (p == NULL)
		return na(d, "unsupported line");
	p = skip_ws(p);
	if (t1 > t0 && *p != '>' && *p != '<' && strncmp(p, "connect", 7) != 0)
		return na(d, "blocking system call spanning time");
	if (t1 > t0 && *p != '>')
		t1 = t0;
	T0 = (mxg_tstamp)(t0 * 1e9 + 0.5);
	T1 = (mxg_tstamp)(t1 * 1e9 + 0.5);
	d->prev_t = t1;
	if (*p == '>') {
		struct segspec sp;

		if ((rc = parse_seg(d, p + 1, &sp)) != 0)
			return rc;
		return expect(d, &sp, T0, T1, any);
	}
	if (*p == '`')
		return shell_line(d, p);
	/* everything else happens at T: first run the timers up to it, and
	 * no segment may have been sent that the script did not expect */
	advance_to(d, T1 > d->tol ? T1 - d->tol : 0);
	if (d->qn && !d->lenient) {
		char got[512];

		render(d, &d->q[d->qh], got, sizeof(got));
		return fail(d, "unexpected outbound segment: %s", got);
	}
	advance_to(d, T1);
	if (*p == '<') {
		struct segspec sp;

		if ((rc = parse_seg(d, p + 1, &sp)) != 0)
			return rc;
		return inject(d, &sp);
	}
	if (*p == '%')
		return directive(d, p);
	return syscall_line(d, p);
}

enum pkt_result pkt_run_file(const char *path, char *why, size_t whylen, int verbose)
{
	FILE *fp = fopen(path, "r");
	struct drv *d;
	char line[8192];
	int rc = 0;

	if (fp == NULL) {
		snprintf(why, whylen, "cannot open %s", path);
		return PKT_FAIL;
	}
	d = calloc(1, sizeof(*d));
	d->q = calloc(MAXQ, sizeof(*d->q));
	cur = d;
	for (int i = 0; i < 16; i++)
		d->cf.secret[i] = (uint8_t)(i * 37 + 11);
	d->ops.output = io_output;
	d->why = why;
	d->whylen = whylen;
	d->verbose = verbose;
	d->tol = 10 * MXG_NSEC_PER_MSEC;
	d->rem_isn = 1000000000u;
	d->lport = 8080;
	d->rport = 40000;
	d->ignore_win = getenv("TCPS_IGNORE_WIN") != NULL;
	d->lenient = getenv("TCPS_LENIENT") != NULL;
	if (getenv("TCPS_RCVBUF"))
		d->cf.rcvbuf = (uint32_t)strtoul(getenv("TCPS_RCVBUF"), NULL, 0);
	mxg_ip_parse("192.168.0.1", &d->laddr);
	mxg_ip_parse("192.0.2.1", &d->raddr);
	why[0] = 0;
	while (fgets(line, sizeof(line), fp)) {
		d->line++;
		line[strcspn(line, "\r\n")] = 0;
		/* a block comment spanning lines */
		if (strstr(line, "/*")) {
			char *e = strstr(line, "*/");

			while (e == NULL && fgets(line, sizeof(line), fp)) {
				d->line++;
				e = strstr(line, "*/");
			}
			continue;
		}
		{
			char *bt = strchr(line, '`');

			if (bt && strchr(bt + 1, '`') == NULL) {
				/* multi-line shell block: feed it whole */
				char *blk = strdup(line), more[8192];
				int brk = 0;

				while (!brk && fgets(more, sizeof(more), fp)) {
					size_t l = strlen(blk);

					d->line++;
					brk = strchr(more, '`') != NULL;
					blk = realloc(blk, l + strlen(more) + 2);
					strcpy(blk + l, more);
				}
				rc = shell_line(d, blk);
				free(blk);
				if (rc)
					break;
				continue;
			}
		}
		if (strstr(line, "%{")) {
			/* packetdrill python assertions on tcp_info: skipped */
			while (strstr(line, "}%") == NULL && fgets(line, sizeof(line), fp))
				d->line++;
			continue;
		}
		if (strstr(line, "FASTOPEN") || strstr(line, "MSG_ZEROCOPY")) {
			rc = na(d, "TCP Fast Open / zerocopy");
			break;
		}
		if (verbose)
			fprintf(stderr, "%4d %s\n", d->line, line);
		rc = run_line(d, line);
		if (rc)
			break;
	}
	fclose(fp);
	if (rc == 0 && !d->started)
		rc = start(d);
	tcps_stack_free(d->s);
	free(d->q);
	free(d);
	cur = NULL;
	return rc == 0 ? PKT_PASS : (enum pkt_result)rc;
}
