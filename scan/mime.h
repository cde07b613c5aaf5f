/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mime.h - streaming, sans-IO MIME parser of the scan engine.
 *
 * The SMTP/POP3 engines feed the message (after dot-unstuffing) in chunks of
 * any size; the parser reports what it finds through one callback as a small
 * event vocabulary (compare Suricata's MimeSmtpParserResult):
 *
 *	MIME_EV_HEADER       one unfolded header field of the part being read
 *	MIME_EV_PART_BEGIN   the part's header block ended; metadata is complete
 *	MIME_EV_BODY_CHUNK   transfer-decoded bytes of a leaf part (streaming)
 *	MIME_EV_PREAMBLE     raw bytes before the first boundary of a multipart
 *	MIME_EV_EPILOGUE     raw bytes after the close delimiter of a multipart
 *	MIME_EV_UNPARSED     raw bytes the parser no longer interprets (a limit)
 *	MIME_EV_ANOMALY      the message broke a rule or a limit (never fatal)
 *	MIME_EV_PART_END     the part is complete (sizes, decode errors)
 *
 * Order: the HEADER events of a part come before its PART_BEGIN (metadata is
 * only known once the header block has ended, and headers are not buffered);
 * children's events nest between the PART_BEGIN and PART_END of their parent.
 * How consecutive BODY_CHUNK events split the bytes depends on how the input
 * was chunked; everything else is independent of the chunking.
 *
 * Part paths follow the mime4j/IMAP reading: the message itself is "1", the
 * n-th child of a multipart with path P is "P.n", and the message inside a
 * message/rfc822 part P is "P.1". A uuencoded file found inside a text part
 * P becomes a synthetic leaf "P.uN" (flag MIME_PF_UUENCODE).
 *
 * Allocation goes through the struct mxg_mem given at create; limits are per
 * instance (struct mime_limits), never global. Charset conversion uses
 * glibc's iconv, which allocates its conversion state with libc malloc.
 */
#ifndef MXG_SCAN_MIME_H
#define MXG_SCAN_MIME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mxg_mem.h"

struct mime_parser;

/* Per-instance limits. Exceeding one is reported as an anomaly and a result
 * flag; the parser keeps going in a bounded way and never stops silently. */
struct mime_limits {
	uint32_t max_header_line;   /* bytes of one unfolded header field (truncated beyond) */
	uint32_t max_headers;       /* HEADER events per part (more are counted, not sent) */
	uint32_t max_parts;         /* parts per message; beyond: rest is MIME_EV_UNPARSED */
	uint32_t max_depth;         /* nesting of multipart/message; beyond: a leaf */
	uint64_t max_decoded_bytes; /* total BODY_CHUNK bytes; beyond: bodies dropped */
};

/* Fills |l| with defaults: 16 KiB header line, 1000 headers per part, 5000
 * parts, depth 32, 256 MiB decoded bytes. */
void mime_limits_default(struct mime_limits *l);

enum mime_kind {
	MIME_KIND_LEAF = 0,  /* a body delivered as BODY_CHUNK events */
	MIME_KIND_MULTIPART, /* container of parts separated by a boundary */
	MIME_KIND_MESSAGE,   /* message/rfc822 (or global): one child, "P.1" */
};

enum mime_cte {
	MIME_CTE_7BIT = 0, /* also the default and any unknown value */
	MIME_CTE_8BIT,
	MIME_CTE_BINARY,
	MIME_CTE_BASE64,
	MIME_CTE_QP,
	MIME_CTE_UUENCODE, /* x-uuencode, x-uue, uuencode, and synthetic parts */
};

enum mime_disposition {
	MIME_DISP_NONE = 0, /* no Content-Disposition */
	MIME_DISP_INLINE,
	MIME_DISP_ATTACHMENT,
	MIME_DISP_OTHER, /* present but neither of the above */
};

/* Part flags (struct mime_part.flags). */
#define MIME_PF_UUENCODE 0x0001u   /* synthetic part: uuencoded file in a text part */
#define MIME_PF_CT_DEFAULT 0x0002u /* no usable Content-Type: default applied */
#define MIME_PF_CT_DUP 0x0004u     /* more than one Content-Type header */
#define MIME_PF_CS_UNKNOWN 0x0008u /* charset unknown to iconv: read as latin1 */
#define MIME_PF_NO_BOUNDARY 0x0010u /* multipart without boundary: read as a leaf */
#define MIME_PF_TOO_DEEP 0x0020u   /* container beyond max_depth: read as a leaf */
#define MIME_PF_TRUNCATED 0x0040u  /* decoded bytes were dropped (max_decoded_bytes) */
#define MIME_PF_NO_CLOSE 0x0080u   /* multipart ended without its close delimiter */
#define MIME_PF_ENCODED_MSG 0x0100u /* message/rfc822 with base64/QP (decoded, parsed) */

#define MIME_PATH_MAX 192

/* Metadata of one part. Lent out: valid during the callback only. Strings are
 * NUL-terminated, lowercase where the RFC makes them case-insensitive, and
 * UTF-8 where they come from the sender (file names). */
struct mime_part {
	char path[MIME_PATH_MAX];        /* "1", "1.2", "1.2.u1" */
	const struct mime_part *parent;  /* NULL for the message itself */
	uint32_t index;                  /* 0-based order of PART_BEGIN in the message */
	uint32_t depth;                  /* 0 for the message */
	enum mime_kind kind;
	char ctype[128];                 /* "type/subtype", lowercase */
	char charset[64];                /* lowercase, "" when none given */
	const char *boundary;            /* multipart only (as declared; several
	                                  * different ones '\n'-separated), else NULL */
	const char *filename;            /* filename= (2231/2047 decoded), else name=; or NULL */
	const char *alt_filename;        /* the other of name=/filename= when it differs, or NULL */
	enum mime_disposition disposition;
	enum mime_cte cte;
	uint32_t flags;                  /* MIME_PF_* */
	uint32_t nheaders;               /* header fields seen (including over the limit) */
	uint32_t nchildren;              /* parts directly inside (so far) */
	uint64_t raw_size;               /* body bytes as transmitted (without boundaries) */
	uint64_t decoded_size;           /* BODY_CHUNK bytes delivered */
	uint32_t decode_errors;          /* bad base64/QP/uu input seen while decoding */
};

/* Anomalies: the peer misbehaved. Counted per message, each also an event. */
enum mime_anomaly {
	MIME_ANOM_BARE_LF = 0,        /* line ended by LF alone (reported once) */
	MIME_ANOM_HEADER_NO_COLON,    /* header line without a field name */
	MIME_ANOM_HEADER_LONG,        /* header field over max_header_line: truncated */
	MIME_ANOM_HEADERS_MANY,       /* over max_headers in one part */
	MIME_ANOM_HEADERS_NO_END,     /* header block ended by a boundary or end of input */
	MIME_ANOM_CT_DUP,             /* duplicate Content-Type */
	MIME_ANOM_CT_BAD,             /* unparseable Content-Type */
	MIME_ANOM_CTE_DUP,            /* duplicate Content-Transfer-Encoding */
	MIME_ANOM_CTE_UNKNOWN,        /* unknown transfer encoding: passthrough */
	MIME_ANOM_CTE_ON_MULTIPART,   /* encoded multipart (encoding ignored) */
	MIME_ANOM_PARAM_DUP,          /* duplicate or conflicting name/filename */
	MIME_ANOM_NO_BOUNDARY,        /* multipart without boundary parameter */
	MIME_ANOM_BOUNDARY_NOT_FOUND, /* multipart whose boundary never appeared */
	MIME_ANOM_BOUNDARY_SUFFIX,    /* "--boundary" followed by junk: not a delimiter */
	MIME_ANOM_MISSING_CLOSE,      /* multipart closed by end of input or outer boundary */
	MIME_ANOM_PART_AFTER_CLOSE,   /* delimiter after the close delimiter: part reopened */
	MIME_ANOM_BASE64,             /* bad base64 input */
	MIME_ANOM_QP,                 /* bad quoted-printable input */
	MIME_ANOM_UUENCODE,           /* bad or unterminated uuencode */
	MIME_ANOM_CHARSET_UNKNOWN,    /* charset unknown: latin1 assumed */
	MIME_ANOM_ENCODED_WORD,       /* broken RFC 2047 encoded word */
	MIME_ANOM_LIMIT_PARTS,        /* max_parts reached */
	MIME_ANOM_LIMIT_DEPTH,        /* max_depth reached */
	MIME_ANOM_LIMIT_DECODED,      /* max_decoded_bytes reached */
	MIME_ANOM_NUL,                /* NUL byte in headers */
	MIME_ANOM_MAX
};

/* Result flags (struct mime_result.flags): the verdict-relevant summary. */
#define MIME_RF_MALFORMED 0x01u   /* any structural anomaly */
#define MIME_RF_LIMIT 0x02u       /* any limit was exceeded */
#define MIME_RF_TRUNCATED 0x04u   /* some decoded bytes were not delivered */
#define MIME_RF_DECODE_ERR 0x08u  /* base64/QP/uu errors */
#define MIME_RF_UUENCODE 0x10u    /* uuencoded content found */
#define MIME_RF_UNPARSED 0x20u    /* MIME_EV_UNPARSED bytes were sent */

struct mime_result {
	uint32_t flags;                       /* MIME_RF_* */
	uint32_t parts;                       /* PART_BEGIN events */
	uint32_t leaves;                      /* of which leaves */
	uint32_t max_depth;                   /* deepest part seen */
	uint64_t input_bytes;                 /* bytes fed */
	uint64_t decoded_bytes;               /* BODY_CHUNK bytes delivered */
	uint32_t anomalies[MIME_ANOM_MAX];    /* count per anomaly */
};

enum mime_event_type {
	MIME_EV_HEADER = 1,
	MIME_EV_PART_BEGIN,
	MIME_EV_BODY_CHUNK,
	MIME_EV_PREAMBLE,
	MIME_EV_EPILOGUE,
	MIME_EV_UNPARSED,
	MIME_EV_ANOMALY,
	MIME_EV_PART_END,
};

/* One event. Lent out: every pointer is valid during the callback only. */
struct mime_event {
	enum mime_event_type type;
	const struct mime_part *part; /* the part concerned (never NULL) */
	const char *name;             /* HEADER: field name as sent ("" for a junk line) */
	size_t name_len;
	const uint8_t *data;          /* HEADER: unfolded raw value; chunks: the bytes */
	size_t len;
	enum mime_anomaly anomaly;    /* ANOMALY only */
};

struct mime_callbacks {
	/* Returns 0 to go on, or a negative MXG_E_* code: the feed stops and
	 * returns it, and the parser only accepts mime_parser_free() after. */
	int (*on_event)(struct mime_parser *p, const struct mime_event *ev, void *ud);
};

/* Creates a parser. |mem| may be NULL (libc); |limits| may be NULL
 * (defaults) and is copied; |cb| is copied; |ud| is passed back. Returns
 * NULL when out of memory. */
struct mime_parser *mime_parser_new(const struct mxg_mem *mem,
				    const struct mime_limits *limits,
				    const struct mime_callbacks *cb, void *ud);

void mime_parser_free(struct mime_parser *p);

/* Forgets the message and starts a new one with the same callbacks and
 * limits, keeping the parser's buffers (no allocation on the next message
 * unless it needs more). Also valid on a parser that failed. */
void mime_parser_reset(struct mime_parser *p);

/* Consumes all |len| bytes of |in| (borrowed). Returns 0, MXG_E_NOMEM (the
 * parser is then dead), or the negative code a callback returned. */
int mime_parser_feed(struct mime_parser *p, const uint8_t *in, size_t len);

/* End of input: flushes held bytes, closes every open part (PART_END events).
 * Returns 0 or a negative code as mime_parser_feed(). Call once. */
int mime_parser_finish(struct mime_parser *p);

/* Message-level results, valid after mime_parser_finish() (and, partially,
 * at any time). Lent out until mime_parser_free(). */
const struct mime_result *mime_parser_result(const struct mime_parser *p);

/* Static names for logs and test traces. */
const char *mime_anomaly_name(enum mime_anomaly a);
const char *mime_cte_name(enum mime_cte c);
const char *mime_disposition_name(enum mime_disposition d);

#endif
