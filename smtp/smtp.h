/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp.h - sans-IO SMTP engines: server (inbound) and client (downstream),
 * the PROXY protocol header parser and the IMSS-style client address list.
 *
 * No sockets, no clock, no TLS library: bytes in, events and bytes out, time
 * passed in (STYLE.md 2.1). The dataplane wraps the engines around tcpstack
 * and OpenSSL memory BIOs; tests wrap them around scripts.
 *
 * Ownership (STYLE.md 2.3): every |in| pointer is borrowed for the call only;
 * every pointer handed to a callback (commands, chunks, replies) is borrowed
 * for the callback only - copy what you keep; *_output() lends a pointer that
 * is valid until the next call on the same engine.
 *
 * Return codes: 0 or a count on success; negative MXG_E_* (mxg_err.h) on
 * failure. Codes at or below MXG_E_FATAL mean the session is dead: close the
 * connection. Callbacks return 0, SMTP_CB_PENDING (decide later) or a
 * negative code (SMTP_E_PAUSE: stop consuming input now; fatal: abort).
 */
#ifndef SMTP_H
#define SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mxg_addr.h"
#include "mxg_err.h"
#include "mxg_mem.h"
#include "mxg_time.h"

struct smtp_srv;
struct smtp_cli;
struct smtp_acl;

#define SMTP_CB_PENDING 1    /* callback: the caller answers later */
#define SMTP_E_PAUSE (-30)   /* callback: stop consuming input, not fatal */

/* ---------------------------------------------------------------- common */

enum smtp_verb {
	SMTP_VERB_NONE = 0, SMTP_VERB_HELO, SMTP_VERB_EHLO, SMTP_VERB_MAIL,
	SMTP_VERB_RCPT, SMTP_VERB_DATA, SMTP_VERB_BDAT, SMTP_VERB_RSET,
	SMTP_VERB_NOOP, SMTP_VERB_QUIT, SMTP_VERB_HELP, SMTP_VERB_VRFY,
	SMTP_VERB_EXPN, SMTP_VERB_STARTTLS, SMTP_VERB_XFORWARD,
	SMTP_VERB_XCLIENT, SMTP_VERB_MAX
};

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME,
		 SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };
#define SMTP_NOTIFY_NEVER   0x01
#define SMTP_NOTIFY_SUCCESS 0x02
#define SMTP_NOTIFY_FAILURE 0x04
#define SMTP_NOTIFY_DELAY   0x08

/* A parsed command, handed to on_command. Strings are not NUL-terminated. */
struct smtp_cmd {
	enum smtp_verb verb;
	const char *arg;         /* text after the verb and its space */
	size_t arg_len;
	const char *path;        /* MAIL/RCPT: address inside <>; "" = null sender */
	size_t path_len;
	uint64_t size;           /* MAIL SIZE= (0: absent); BDAT chunk size */
	enum smtp_body body;     /* MAIL BODY= */
	bool smtputf8;           /* MAIL SMTPUTF8 */
	bool bdat_last;          /* BDAT ... LAST */
	enum smtp_ret ret;       /* MAIL RET= (RFC 3461) */
	const char *envid;       /* MAIL ENVID=, xtext as received */
	size_t envid_len;
	uint8_t notify;          /* RCPT NOTIFY= bits (0: absent) */
	const char *orcpt;       /* RCPT ORCPT=, "type;xtext" as received */
	size_t orcpt_len;
};

/* The original client, as told by the connection, PROXY, XCLIENT or XFORWARD. */
struct smtp_peer {
	struct mxg_ip addr;      /* family 0: unknown */
	uint16_t port;
	char name[256];          /* reverse name or "" */
	char helo[256];          /* HELO/EHLO name as the peer gave it */
	char proto[16];          /* "SMTP"/"ESMTP" */
	char source[8];          /* XFORWARD SOURCE: "LOCAL"/"REMOTE" or "" */
};

/* Anomalies: the peer misbehaved. Counted and reported, never an error. */
enum smtp_anomaly {
	SMTP_ANOM_BARE_LF = 0,   /* LF without CR (command or content) */
	SMTP_ANOM_BARE_CR,       /* CR without LF */
	SMTP_ANOM_NUL,           /* NUL byte */
	SMTP_ANOM_LINE_TOO_LONG, /* command line over the limit, text line > 1000 */
	SMTP_ANOM_8BIT,          /* 8-bit content in a 7-bit transaction */
	SMTP_ANOM_EARLY_TALKER,  /* input before the greeting */
	SMTP_ANOM_PIPELINING,    /* input after a command that ends a group */
	SMTP_ANOM_TLS_INJECT,    /* plaintext pipelined after STARTTLS (discarded) */
	SMTP_ANOM_PROXY_INVALID, /* malformed PROXY header */
	SMTP_ANOM_BAD_COMMAND,   /* unknown command or syntax error */
	SMTP_ANOM_MAX
};

/* Why a message in progress was dropped by the engine (on_data_abort). */
enum smtp_abort {
	SMTP_ABORT_BARE_NL = 1,  /* bare CR or LF in content: 550 5.6.0 at the end */
	SMTP_ABORT_NUL,          /* NUL in content: 550 5.6.0 at the end */
	SMTP_ABORT_SIZE,         /* over msg_size_max: 552 5.3.4 at the end */
	SMTP_ABORT_TIMEOUT,      /* data timeout, session closing */
	SMTP_ABORT_RESET,        /* RSET/EHLO/QUIT between BDAT chunks */
};

const char *smtp_anomaly_name(enum smtp_anomaly a);

/* ---------------------------------------------------------------- server */

#define SMTP_EXT_PIPELINING  0x0001
#define SMTP_EXT_SIZE        0x0002
#define SMTP_EXT_8BITMIME    0x0004
#define SMTP_EXT_SMTPUTF8    0x0008
#define SMTP_EXT_ENHANCED    0x0010  /* ENHANCEDSTATUSCODES */
#define SMTP_EXT_CHUNKING    0x0020
#define SMTP_EXT_DSN         0x0040
#define SMTP_EXT_STARTTLS    0x0080
#define SMTP_EXT_XFORWARD    0x0100  /* offered to known hosts only */
#define SMTP_EXT_XCLIENT     0x0200  /* offered to known hosts only */
#define SMTP_EXT_DEFAULT     0x03ff

#define SMTP_SRV_F_PROXY       0x01  /* expect a PROXY v1/v2 header first */
#define SMTP_SRV_F_GREET_HOLD  0x02  /* caller sends the greeting (smtp_srv_greet) */
#define SMTP_SRV_F_VRFY_252    0x04  /* VRFY/EXPN answer 252 (else 502) */
#define SMTP_SRV_F_KNOWN_HOST  0x08  /* XFORWARD/XCLIENT allowed */
#define SMTP_SRV_F_TLS         0x10  /* session is already TLS (port 465 style) */

struct smtp_srv_limits {        /* 0 in any field: the default in brackets */
	uint32_t line_max;       /* command line incl. CRLF, >= 512 [2048] */
	uint32_t rcpt_max;       /* recipients per message [1000] */
	uint64_t msg_size_max;   /* bytes after unstuffing [52428800] */
	uint32_t cmd_max;        /* commands per session [10000] */
	uint32_t err_max;        /* error replies per session [20] */
	uint32_t out_max;        /* reply bytes buffered before input pauses [65536] */
	mxg_tstamp tmo_greeting; /* PROXY header / held greeting [30 s] */
	mxg_tstamp tmo_command;  /* waiting for a command [300 s] */
	mxg_tstamp tmo_data;     /* between two pieces of DATA/BDAT content [180 s] */
};

struct smtp_srv_config {
	const char *hostname;    /* in greeting and replies; copied [localhost] */
	uint32_t ext;            /* SMTP_EXT_* to offer */
	uint32_t flags;          /* SMTP_SRV_F_* */
	struct smtp_srv_limits limits;
};

struct smtp_proxy_info;

struct smtp_srv_callbacks {
	/* A valid command, before the engine answers it. For EHLO, HELO, MAIL,
	 * RCPT, DATA, VRFY, EXPN, XFORWARD and XCLIENT the return value may be
	 * SMTP_CB_PENDING (answer with smtp_srv_reply_cmd later), or the callback
	 * may call smtp_srv_reply_cmd itself; 0 accepts with the default reply.
	 * For the other verbs the call is informational. May be NULL. */
	int (*on_command)(struct smtp_srv *s, const struct smtp_cmd *cmd, void *ud);
	/* Message content as it streams: unstuffed DATA or raw BDAT bytes. */
	int (*on_data_chunk)(struct smtp_srv *s, const uint8_t *p, size_t n, void *ud);
	/* The whole message was received; answer with smtp_srv_reply_eod (now
	 * or later). Commands pipelined behind it wait for that answer. */
	int (*on_end_of_data)(struct smtp_srv *s, void *ud);
	/* The engine dropped the message in progress: forget what was streamed. */
	void (*on_data_abort)(struct smtp_srv *s, enum smtp_abort why, void *ud);
	int (*on_anomaly)(struct smtp_srv *s, enum smtp_anomaly a, void *ud);
	/* "220 Ready to start TLS" is queued: drain the output in plaintext, then
	 * run the handshake and call smtp_srv_tls_done. Input until then is
	 * discarded. */
	int (*on_starttls)(struct smtp_srv *s, void *ud);
	/* A valid PROXY header was read (the peer is already updated). */
	int (*on_proxy)(struct smtp_srv *s, const struct smtp_proxy_info *pi, void *ud);
};

enum smtp_srv_state {
	SMTP_ST_PROXY = 0,       /* waiting for the PROXY header */
	SMTP_ST_GREETING,        /* greeting not yet sent */
	SMTP_ST_COMMAND,         /* reading commands */
	SMTP_ST_DATA,            /* reading DATA content */
	SMTP_ST_BDAT,            /* reading a BDAT chunk */
	SMTP_ST_TLS_WAIT,        /* STARTTLS accepted, waiting for smtp_srv_tls_done */
	SMTP_ST_CLOSED,          /* drain the output, then close */
};

/* Fills |cfg| with the defaults (all extensions, no flags, default limits). */
void smtp_srv_config_init(struct smtp_srv_config *cfg);

/* Creates a server session. |mem| may be NULL (libc); |cfg| and |cb| are
 * copied. Returns NULL on allocation failure or an invalid |cfg|. */
struct smtp_srv *smtp_srv_new(const struct mxg_mem *mem,
			      const struct smtp_srv_config *cfg,
			      const struct smtp_srv_callbacks *cb, void *ud);
void smtp_srv_free(struct smtp_srv *s);

/* The connection is up: queue the greeting (unless PROXY or GREET_HOLD)
 * and arm the first timer. |peer| (may be NULL) is the TCP peer. 0 or
 * MXG_E_NOMEM. */
int smtp_srv_start(struct smtp_srv *s, const struct mxg_ip *peer, uint16_t port,
		   mxg_tstamp now);
/* With SMTP_SRV_F_GREET_HOLD: send the greeting. |code| 220 greets, 421,
 * 450 or 554 refuse the session (then closed). |text| may be NULL. 0, MXG_E_INVAL
 * (wrong state or code) or MXG_E_NOMEM. */
int smtp_srv_greet(struct smtp_srv *s, int code, const char *text, mxg_tstamp now);
/* smtp_srv_greet with the enhanced status code of a refusal (|enh| NULL:
 * 4.3.2 for 421, 4.7.1 for 450, 5.7.1 for 554), e.g. 421 4.7.0 for a throttled client. */
int smtp_srv_greet_enh(struct smtp_srv *s, int code, const char *enh, const char *text,
		       mxg_tstamp now);

/* Consumes up to |len| bytes. Returns the number consumed, or a negative
 * MXG_E_* code. Fewer than |len| are consumed when a callback paused, when
 * an answer is pending (smtp_srv_blocked), or when the output exceeds
 * out_max: feed the rest again after the reply or after draining. In the
 * TLS_WAIT and CLOSED states all input is consumed and discarded. */
ssize_t smtp_srv_input(struct smtp_srv *s, const uint8_t *in, size_t len,
		       mxg_tstamp now);
/* Sets *out to pending reply bytes, valid until the next smtp_srv_* call. */
size_t smtp_srv_output(struct smtp_srv *s, const uint8_t **out);
void smtp_srv_output_consumed(struct smtp_srv *s, size_t n);
/* Next deadline, MXG_TS_NONE for none. */
mxg_tstamp smtp_srv_deadline(const struct smtp_srv *s);
/* Handles an expired deadline: queues "421 4.4.2 ... timeout" and closes.
 * Returns 1 if the session timed out, 0 if not yet. */
int smtp_srv_on_timer(struct smtp_srv *s, mxg_tstamp now);

/* Answers a command held by SMTP_CB_PENDING (or sets the answer from inside
 * on_command). |code| 0 means the default reply; |enh| ("5.7.1") and |text|
 * may be NULL. A 2xx/3xx lets the command take effect. 0 or MXG_E_INVAL. */
int smtp_srv_reply_cmd(struct smtp_srv *s, int code, const char *enh, const char *text);
/* Answers end of data (the downstream's verdict). 0 or MXG_E_INVAL. */
int smtp_srv_reply_eod(struct smtp_srv *s, int code, const char *enh, const char *text);
/* TLS is up: the session restarts without greeting (RFC 3207 4.2). */
int smtp_srv_tls_done(struct smtp_srv *s, mxg_tstamp now);

void smtp_srv_set_known_host(struct smtp_srv *s, bool known);
enum smtp_srv_state smtp_srv_state(const struct smtp_srv *s);
/* True once nothing more will be read: drain the output, then close. */
bool smtp_srv_want_close(const struct smtp_srv *s);
/* True while an answer from the caller is awaited (input not consumed). */
bool smtp_srv_blocked(const struct smtp_srv *s);
bool smtp_srv_tls_active(const struct smtp_srv *s);
const struct smtp_peer *smtp_srv_peer(const struct smtp_srv *s);
uint64_t smtp_srv_anomalies(const struct smtp_srv *s, enum smtp_anomaly a);
/* Current transaction: recipients accepted, message bytes received. */
uint32_t smtp_srv_rcpt_count(const struct smtp_srv *s);
uint64_t smtp_srv_msg_size(const struct smtp_srv *s);

/* ----------------------------------------------------------------- PROXY */

struct smtp_proxy_info {
	uint8_t version;         /* 1 or 2 */
	bool local;              /* v1 UNKNOWN, v2 LOCAL/UNSPEC/UNIX: no addresses */
	struct mxg_ip src, dst;
	uint16_t sport, dport;
};

#define SMTP_PROXY_MAX (16 + 1024) /* largest v2 header accepted */

/* Parses a PROXY v1 or v2 header at the start of |p|. Returns the header
 * length (> 0) when complete, 0 when more bytes are needed, MXG_E_INVAL
 * when malformed (or longer than SMTP_PROXY_MAX). */
int smtp_proxy_parse(const uint8_t *p, size_t n, struct smtp_proxy_info *out);

/* ------------------------------------------------------------ address ACL */

/* smtp_allow_client_ip: "a.b.c.d", "a.b.c.d/n", "a.b.c.d-e", "a.b.c.d-a.b.c.e",
 * "2001:db8::1", "2001:db8::/32", "2001:db8::1-ff" (last group), separated
 * by commas, semicolons or white space. */
struct smtp_acl *smtp_acl_new(const struct mxg_mem *mem);
void smtp_acl_free(struct smtp_acl *a);
/* Adds one entry. 0, MXG_E_INVAL or MXG_E_NOMEM. */
int smtp_acl_add(struct smtp_acl *a, const char *entry, size_t len);
/* Adds every entry of |list|. On MXG_E_INVAL *err_off (may be NULL) is the
 * offset of the bad entry; entries before it stay added. */
int smtp_acl_parse(struct smtp_acl *a, const char *list, size_t *err_off);
bool smtp_acl_match(const struct smtp_acl *a, const struct mxg_ip *ip);
size_t smtp_acl_count(const struct smtp_acl *a);

/* ---------------------------------------------------------------- client */

#define SMTP_CLI_F_STARTTLS     0x01 /* STARTTLS when offered */
#define SMTP_CLI_F_REQUIRE_TLS  0x02 /* fail the session if STARTTLS is not offered */
#define SMTP_CLI_F_NO_PIPELINING 0x04
#define SMTP_CLI_F_NO_CHUNKING  0x08
#define SMTP_CLI_F_XFORWARD     0x10 /* send XFORWARD when offered */

struct smtp_cli_config {
	const char *helo_name;   /* copied [localhost] */
	uint32_t flags;          /* SMTP_CLI_F_* */
	uint32_t reply_line_max; /* [2048] */
	uint32_t reply_lines_max;/* [128] */
	uint32_t out_max;        /* output bytes before data writes are refused [65536] */
	mxg_tstamp tmo_reply;    /* greeting, EHLO, envelope, 354 [300 s] */
	mxg_tstamp tmo_data;     /* between content writes [180 s] */
	mxg_tstamp tmo_eod;      /* final reply after the end of data [600 s] */
};

/* A reply as parsed; text lines joined by '\n', codes stripped. */
struct smtp_reply {
	int code;                /* 0 when synthesized for a local failure */
	char enh[16];            /* "2.1.5" or "" */
	const char *text;
	size_t text_len;
	unsigned lines;
};

struct smtp_rcpt {
	const char *addr;        /* without <>; NUL-terminated */
	uint8_t notify;          /* SMTP_NOTIFY_* or 0 */
	const char *orcpt;       /* "rfc822;xtext" or NULL */
};

struct smtp_xforward {           /* any field NULL: not sent */
	const char *name, *addr, *port, *proto, *helo, *source;
};

struct smtp_envelope {
	const char *mail_from;   /* without <>; "" for the null sender */
	uint64_t size;           /* SIZE= hint, 0 for none */
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	const char *envid;       /* xtext or NULL */
	const struct smtp_rcpt *rcpt;
	size_t nrcpt;
	const struct smtp_xforward *xforward; /* NULL: none */
};

enum smtp_cli_fail {
	SMTP_CLI_OK = 0,
	SMTP_CLI_FAIL_REPLY,     /* the server refused (see the reply) */
	SMTP_CLI_FAIL_TIMEOUT,   /* no reply in time */
	SMTP_CLI_FAIL_CLOSED,    /* connection lost (smtp_cli_closed) */
	SMTP_CLI_FAIL_PROTO,     /* malformed reply */
	SMTP_CLI_FAIL_ABORT,     /* smtp_cli_msg_abort */
	SMTP_CLI_FAIL_TLS,       /* TLS required but not offered */
};

struct smtp_cli_result {
	bool delivered;          /* final 2xx and at least one recipient accepted */
	enum smtp_cli_fail fail;
	uint32_t rcpt_ok;        /* recipients the server accepted */
	const struct smtp_reply *final; /* final reply (code 0 if none came) */
};

struct smtp_cli_callbacks {
	/* The session is idle: smtp_cli_msg_begin or smtp_cli_quit may follow. */
	void (*on_ready)(struct smtp_cli *c, void *ud);
	/* Reply to RCPT number |idx| of the current message. */
	void (*on_rcpt_reply)(struct smtp_cli *c, size_t idx, const struct smtp_reply *r, void *ud);
	/* Content may now be written (354 received or BDAT mode). */
	void (*on_data_ready)(struct smtp_cli *c, void *ud);
	/* The message is finished, delivered or not. Always called once per
	 * smtp_cli_msg_begin, also on timeout, disconnect and abort. */
	void (*on_msg_done)(struct smtp_cli *c, const struct smtp_cli_result *r, void *ud);
	/* "220" to STARTTLS: drain output, handshake, then smtp_cli_tls_done. */
	int (*on_starttls)(struct smtp_cli *c, void *ud);
	/* The session ended (after QUIT, 421, failure). */
	void (*on_closed)(struct smtp_cli *c, enum smtp_cli_fail why, void *ud);
};

enum smtp_cli_state {
	SMTP_CLI_GREETING = 0, SMTP_CLI_EHLO, SMTP_CLI_HELO, SMTP_CLI_STARTTLS,
	SMTP_CLI_TLS_WAIT, SMTP_CLI_READY, SMTP_CLI_ENVELOPE, SMTP_CLI_CONTENT,
	SMTP_CLI_EOD, SMTP_CLI_QUIT, SMTP_CLI_CLOSED
};

void smtp_cli_config_init(struct smtp_cli_config *cfg);
struct smtp_cli *smtp_cli_new(const struct mxg_mem *mem,
			      const struct smtp_cli_config *cfg,
			      const struct smtp_cli_callbacks *cb, void *ud);
void smtp_cli_free(struct smtp_cli *c);
/* The TCP connection is up: wait for the greeting. */
int smtp_cli_start(struct smtp_cli *c, mxg_tstamp now);
/* Consumes server replies. Returns |len|, or a negative MXG_E_* when the
 * session failed (callbacks already told the caller). */
ssize_t smtp_cli_input(struct smtp_cli *c, const uint8_t *in, size_t len, mxg_tstamp now);
size_t smtp_cli_output(struct smtp_cli *c, const uint8_t **out);
void smtp_cli_output_consumed(struct smtp_cli *c, size_t n);
mxg_tstamp smtp_cli_deadline(const struct smtp_cli *c);
/* Returns 1 if the session timed out (message failed, session closed). */
int smtp_cli_on_timer(struct smtp_cli *c, mxg_tstamp now);
int smtp_cli_tls_done(struct smtp_cli *c, mxg_tstamp now);

/* Starts a message (state READY). |env| is copied. 0, MXG_E_INVAL or
 * MXG_E_NOMEM. */
int smtp_cli_msg_begin(struct smtp_cli *c, const struct smtp_envelope *env, mxg_tstamp now);
/* Writes content (after on_data_ready). DATA mode dot-stuffs and turns a
 * bare CR or LF into CRLF, so the downstream cannot see a line end (or an
 * end of data) that the gateway did not. Returns the bytes taken (fewer
 * when the output holds out_max bytes), or MXG_E_INVAL in a wrong state. */
ssize_t smtp_cli_data_write(struct smtp_cli *c, const uint8_t *p, size_t n, mxg_tstamp now);
/* Ends the content: CRLF.CRLF or BDAT 0 LAST. */
int smtp_cli_data_end(struct smtp_cli *c, mxg_tstamp now);
/* Gives up the current message (not delivered). Before content: RSET; during
 * content the session can only be closed (want_close). */
int smtp_cli_msg_abort(struct smtp_cli *c, mxg_tstamp now);
/* Sends QUIT (state READY) and closes after 221. */
int smtp_cli_quit(struct smtp_cli *c, mxg_tstamp now);
/* The connection was lost: the message in progress is not delivered. */
void smtp_cli_closed(struct smtp_cli *c);

enum smtp_cli_state smtp_cli_state(const struct smtp_cli *c);
bool smtp_cli_want_close(const struct smtp_cli *c);
/* Extensions the server offered (SMTP_EXT_*), valid after EHLO. */
uint32_t smtp_cli_server_ext(const struct smtp_cli *c);
uint64_t smtp_cli_server_size(const struct smtp_cli *c);

#endif
