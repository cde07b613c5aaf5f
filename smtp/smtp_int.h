/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_int.h - private structures shared by the smtp/ sources.
 *
 * The growable output buffer (struct smtp_buf) is the only allocation on
 * the input path, and it grows geometrically, so a session allocates a few
 * times in its life, never per byte or per command.
 */
#ifndef SMTP_INT_H
#define SMTP_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "smtp.h"

struct smtp_buf {
	uint8_t *p;              /* storage, NULL until first use */
	size_t off;              /* first byte not yet drained */
	size_t len;              /* end of the data */
	size_t cap;              /* allocated bytes */
};

int smtp_buf_append(struct smtp_buf *b, const struct mxg_mem *m, const void *p, size_t n);
/* Appends "|code||sep||enh| |text|\r\n" (|enh| may be NULL or ""). */
int smtp_buf_reply(struct smtp_buf *b, const struct mxg_mem *m, int code, char sep,
		   const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
int smtp_buf_printf(struct smtp_buf *b, const struct mxg_mem *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline size_t smtp_buf_pending(const struct smtp_buf *b) { return b->len - b->off; }
void smtp_buf_consume(struct smtp_buf *b, size_t n);
void smtp_buf_free(struct smtp_buf *b, const struct mxg_mem *m);

/* Case-insensitive compare of |n| bytes of |p| with the NUL-terminated |kw|. */
bool smtp_kw_eq(const char *p, size_t n, const char *kw);
/* Parses a decimal uint64 from p[0..n). 0 or MXG_E_INVAL / MXG_E_RANGE. */
int smtp_parse_u64(const char *p, size_t n, uint64_t *out);
/* Copies |n| bytes into |dst| (size |cap|), replacing CR, LF and NUL by a
 * space (no reply injection), always NUL-terminating. */
void smtp_copy_text(char *dst, size_t cap, const char *p, size_t n);
/* True if p[0..n) is valid xtext (RFC 3461 4). */
bool smtp_xtext_valid(const char *p, size_t n);

/* MAIL/RCPT argument parsing (smtp_param.c). |arg| is "FROM:<path> params".
 * Returns 0, or a reply code (501, 555, 504) with *enh and *why set. */
int smtp_param_mail(const char *arg, size_t len, struct smtp_cmd *cmd,
		    uint32_t ext, const char **enh, const char **why);
int smtp_param_rcpt(const char *arg, size_t len, struct smtp_cmd *cmd,
		    uint32_t ext, const char **enh, const char **why);
/* XCLIENT/XFORWARD "NAME=v ADDR=v ..." into |peer|. |xclient| selects the
 * attribute set. 0 or 501 with *why set. */
int smtp_param_xattr(const char *arg, size_t len, bool xclient,
		     struct smtp_peer *peer, const char **why);

/* ------------------------------------------------------------ server */

enum srv_hold {
	HOLD_NONE = 0,
	HOLD_GREET,              /* SMTP_SRV_F_GREET_HOLD: smtp_srv_greet awaited */
	HOLD_CMD,                /* on_command returned SMTP_CB_PENDING */
	HOLD_EOD,                /* on_end_of_data: smtp_srv_reply_eod awaited */
};

/* DATA content scanner state; only CRLF "." CRLF ends the content. */
enum srv_dstate {
	D_BOL = 0,               /* after CRLF (or right after 354) */
	D_MID,                   /* inside a line */
	D_CR,                    /* inside a line, after CR */
	D_DOT,                   /* "." at the start of a line (withheld) */
	D_DOT_CR,                /* "." CR at the start of a line (withheld) */
};

struct srv_pending {             /* what a held command needs when answered */
	enum smtp_verb verb;
	const char *arg;         /* points into smtp_srv.line (kept while held) */
	size_t arg_len;
	enum smtp_body body;
	bool smtputf8;
	uint64_t size;
};

struct smtp_srv {
	const struct mxg_mem *mem;
	struct smtp_srv_callbacks cb;
	void *ud;
	struct smtp_srv_limits lim;
	uint32_t ext;            /* SMTP_EXT_* offered */
	uint32_t flags;          /* SMTP_SRV_F_* */
	char host[256];          /* our name in replies */

	enum smtp_srv_state st;
	enum srv_hold hold;
	bool started;
	bool in_cb;              /* inside on_command / on_end_of_data */
	bool reply_set;          /* smtp_srv_reply_* called inside the callback */
	int rcode;               /* that reply */
	char renh[16];
	char rtext[256];
	bool pause;              /* a callback returned SMTP_E_PAUSE */
	struct srv_pending pc;   /* the command being answered */
	mxg_tstamp now;          /* time of the latest call */
	mxg_tstamp t_start;      /* smtp_srv_start */
	mxg_tstamp last;         /* latest input (command/data timeouts) */

	/* session */
	bool helo_seen;          /* HELO or EHLO accepted */
	bool esmtp;              /* EHLO accepted */
	bool tls;                /* TLS is active */
	bool known;              /* XFORWARD/XCLIENT allowed */
	bool early_seen;         /* early talker reported */
	uint32_t ncmd;           /* commands this session */
	uint32_t nerr;           /* error replies this session */
	struct smtp_peer peer;   /* the (original) client */
	struct smtp_peer xpeer;  /* XCLIENT/XFORWARD attributes awaiting the answer */

	/* transaction */
	bool in_txn;             /* MAIL accepted */
	uint32_t nrcpt;          /* RCPT accepted */
	enum smtp_body body;
	bool smtputf8;
	bool bdat_mode;          /* BDAT used in this transaction */
	bool bdat_last;          /* the chunk being read is the last */
	bool bdat_discard;       /* chunk is read and dropped, then |bdat_err| */
	int bdat_err;            /* 503/554 owed after a discarded chunk */
	bool bdat_cr;            /* previous content byte was CR */
	uint64_t bdat_left;      /* bytes of the chunk still to read */
	uint64_t msg_size;       /* content bytes received */
	int reject;              /* enum smtp_abort, 0: none */
	bool long_seen;          /* a text line over 1000 octets was seen */
	const uint8_t *cls;      /* byte classes for the content scan */
	enum srv_dstate dst;
	uint32_t linelen;

	/* buffers */
	char *line;              /* command line, lim.line_max bytes */
	uint32_t line_len;
	bool line_discard;       /* over the limit: drop until LF */
	uint8_t *pbuf;           /* PROXY header prefix, SMTP_PROXY_MAX bytes */
	size_t plen;
	struct smtp_buf out;     /* replies not yet drained */
	uint64_t anom[SMTP_ANOM_MAX];
};

/* smtp_srv.c */
void srv_anomaly(struct smtp_srv *s, enum smtp_anomaly a);
int srv_reply(struct smtp_srv *s, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int srv_reply_err(struct smtp_srv *s, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void srv_close(struct smtp_srv *s);
void srv_reset_txn(struct smtp_srv *s, bool abort_cb);
void srv_data_begin(struct smtp_srv *s);
int srv_greeting(struct smtp_srv *s, const char *text);
int srv_bdat_done(struct smtp_srv *s);
/* smtp_srv_cmd.c */
int srv_process_line(struct smtp_srv *s, const char *line, size_t len, bool more);
int srv_finish_cmd(struct smtp_srv *s, int code, const char *enh, const char *text);
/* The command name of |v| from the dispatch table ("?" if none). */
const char *smtp_verb_name(enum smtp_verb v);

#endif
