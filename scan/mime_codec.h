/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mime_codec.h - streaming decoders and text helpers of the scan engine.
 *
 * Every decoder keeps its state in a small struct the caller owns (no
 * allocation), so input may be split anywhere: feeding "QUJD" and then "RA=="
 * gives the same bytes as feeding "QUJDRA==". Each decode call writes at most
 * the documented bound into |out| (the caller's buffer) and returns the
 * number of bytes written. Bad input is counted in |errors|, never fatal.
 *
 *  base64   RFC 2045 6.8: whitespace ignored silently, other junk skipped
 *           and counted, '=' ends a quantum; data after padding restarts a
 *           new quantum (concatenated base64 as some mailers produce).
 *  QP       RFC 2045 6.7: soft breaks, trailing whitespace removed, bad
 *           escapes ("=ZZ", "=4" then junk) passed through literally and
 *           counted (what Thunderbird and Outlook show).
 *  uuencode POSIX uuencode lines; "begin MODE NAME" ... "end".
 *
 * Text helpers: mime_utf8 converts a declared charset to UTF-8 with iconv,
 * carrying incomplete multibyte sequences across chunks; an unknown charset
 * is read as ISO-8859-1 (flagged). mime_html reduces HTML to text plus its
 * links. RFC 2047 encoded words and RFC 2231 parameters are decoded by
 * mime_hdr_* (mime_header.c).
 */
#ifndef MXG_SCAN_MIME_CODEC_H
#define MXG_SCAN_MIME_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxg_mem.h"

/* ---- base64 ---- */
struct mime_b64 {
	uint32_t acc;     /* bits of the current quantum */
	uint8_t n;        /* sextets in acc (0..3) */
	uint8_t pad;      /* '=' seen in this quantum */
	uint32_t errors;  /* junk characters and broken quanta */
};

/* |out| must hold (len / 4 + 1) * 3 bytes. */
size_t mime_b64_decode(struct mime_b64 *st, const uint8_t *in, size_t len, uint8_t *out);
/* Ends the input: a partial quantum of 2 or 3 sextets yields 1 or 2 bytes
 * (lenient, counted as an error); |out| must hold 2 bytes. */
size_t mime_b64_finish(struct mime_b64 *st, uint8_t *out);

/* ---- quoted-printable ---- */
#define MIME_QP_WS_MAX 64 /* trailing-whitespace run held back at most */
struct mime_qp {
	uint8_t esc;              /* 0 none, 1 after '=', 2 after '=' + hex */
	uint8_t hex;              /* first hex digit (esc == 2) */
	uint8_t cr;               /* CR held (could start CRLF) */
	uint8_t esc_cr;           /* '=' followed by CR: soft break if LF follows */
	uint16_t nws;             /* held whitespace bytes */
	uint8_t ws[MIME_QP_WS_MAX];
	uint32_t errors;
};

/* |out| must hold len + MIME_QP_WS_MAX + 4 bytes. */
size_t mime_qp_decode(struct mime_qp *st, const uint8_t *in, size_t len, uint8_t *out);
/* Ends the input; |out| must hold 4 bytes. Trailing whitespace is dropped. */
size_t mime_qp_finish(struct mime_qp *st, uint8_t *out);

/* ---- uuencode ---- */
#define MIME_UU_LINE_MAX 256
enum mime_uu_state {
	MIME_UU_SEARCH = 0, /* looking for "begin " (x-uuencode parts) */
	MIME_UU_DATA,       /* inside begin ... end */
	MIME_UU_DONE,       /* "end" seen: the rest is ignored */
	MIME_UU_END,        /* zero-length line seen: the next line ends it
	                     * ("end" expected, anything else counted) */
};
struct mime_uu {
	enum mime_uu_state state;
	uint16_t nline;                    /* bytes in line */
	bool overflow;                     /* current line longer than the buffer */
	uint8_t line[MIME_UU_LINE_MAX];    /* current partial line */
	char name[256];                    /* file name from the begin line */
	uint32_t errors;
};

/* Decodes lines; |out| must hold len + MIME_UU_LINE_MAX bytes. */
size_t mime_uu_decode(struct mime_uu *st, const uint8_t *in, size_t len, uint8_t *out);
/* Ends the input (decodes a last unterminated line); |out| must hold
 * MIME_UU_LINE_MAX bytes. A missing "end" counts as an error. */
size_t mime_uu_finish(struct mime_uu *st, uint8_t *out);
/* True when |line| (|len| bytes, no line end) is "begin MODE NAME" with an
 * octal mode; copies NAME into |name| (NUL-terminated, truncated). */
bool mime_uu_is_begin(const uint8_t *line, size_t len, char *name, size_t name_cap);

/* ---- charset to UTF-8 ---- */
struct mime_utf8;

/* Creates a converter from |charset| (any case; NULL or "" means us-ascii,
 * read as UTF-8 passthrough with validation). Unknown charsets fall back to
 * ISO-8859-1 and set *unknown (when not NULL). Returns NULL when out of
 * memory. */
struct mime_utf8 *mime_utf8_new(const struct mxg_mem *mem, const char *charset, bool *unknown);
void mime_utf8_free(struct mime_utf8 *u);
/* Restarts |u| on a new text in |charset| (as mime_utf8_new, without
 * allocating; the iconv descriptor is kept when the charset is the same). */
void mime_utf8_reset(struct mime_utf8 *u, const char *charset, bool *unknown);
/* Zero copy: when |u| passes UTF-8 through and holds no carried bytes,
 * returns the length of the longest prefix of |in| that is complete, valid
 * UTF-8 (the caller may use those bytes as they are and convert only the
 * rest); else 0. */
size_t mime_utf8_pass_prefix(const struct mime_utf8 *u, const uint8_t *in, size_t len);
/* Converts |len| bytes; writes UTF-8 to |out| (capacity |cap|, at least 16)
 * and sets *used to the input bytes consumed (< len when |out| is full; call
 * again with the rest). An incomplete sequence at the end of |in| is kept
 * for the next call. Invalid sequences become U+FFFD and are counted. */
size_t mime_utf8_conv(struct mime_utf8 *u, const uint8_t *in, size_t len, size_t *used,
		      uint8_t *out, size_t cap);
/* Flushes a kept incomplete sequence (as U+FFFD, or as latin1 bytes when the
 * declared charset was UTF-8/ASCII); |out| must hold 32 bytes. */
size_t mime_utf8_finish(struct mime_utf8 *u, uint8_t *out);
uint32_t mime_utf8_errors(const struct mime_utf8 *u);
/* One-shot helper: converts |len| bytes of |charset| into |out| (capacity
 * |cap|, NUL-terminated, truncated at a character boundary). Returns the
 * length written. Used for header words; allocation by iconv only. */
size_t mime_utf8_oneshot(const char *charset, const uint8_t *in, size_t len, char *out,
			 size_t cap, bool *unknown);
/* True when |s| is valid UTF-8. */
bool mime_utf8_valid(const uint8_t *s, size_t len);

/* ---- HTML to text and links ---- */
struct mime_html;

struct mime_html_callbacks {
	/* Text with tags removed, entities decoded (UTF-8), script/style
	 * dropped, block tags as '\n'. Borrowed for the call. */
	void (*on_text)(const uint8_t *p, size_t n, void *ud);
	/* A value of href, src, action, background, formaction or poster,
	 * entity-decoded and trimmed; truncated at 4 KiB (|truncated| set).
	 * |url| is NUL-terminated after |n| bytes but may contain NUL. */
	void (*on_link)(const char *url, size_t n, bool truncated, void *ud);
	/* Optional (all three or none): a link value that is a data: URI
	 * (RFC 2397) is not reported to on_link but decoded, whatever its
	 * length: on_data_begin with its media type (type/subtype,
	 * lowercased, parameters dropped, "" when none, NUL-terminated, at
	 * most 127 bytes) and whether it is base64; on_data with the decoded
	 * bytes in pieces (percent-decoded, then base64-decoded); on_data_end
	 * with the count of base64 errors (junk skipped, broken quanta, as
	 * mime_b64). Every on_data_begin gets its on_data_end by the end of
	 * the value or mime_html_finish (not after mime_html_reset). */
	void (*on_data_begin)(const char *mediatype, size_t n, bool base64, void *ud);
	void (*on_data)(const uint8_t *p, size_t n, void *ud);
	void (*on_data_end)(uint32_t errors, void *ud);
};

struct mime_html *mime_html_new(const struct mxg_mem *mem, const struct mime_html_callbacks *cb,
				void *ud);
void mime_html_free(struct mime_html *h);
/* Feeds HTML (UTF-8 or ASCII-compatible). Never fails. */
void mime_html_feed(struct mime_html *h, const uint8_t *in, size_t len);
/* Ends the input: flushes held text, an unterminated tag is dropped. */
void mime_html_finish(struct mime_html *h);
/* Resets for a new document (keeps callbacks). */
void mime_html_reset(struct mime_html *h);

/* ---- header helpers (mime_header.c) ---- */
/* Decodes RFC 2047 encoded words in |in| into UTF-8 |out| (capacity |cap|,
 * NUL-terminated). Whitespace between adjacent encoded words is removed;
 * raw 8-bit bytes that are not UTF-8 are read as latin1. *errors (may be
 * NULL) counts broken words. Returns the length written. */
size_t mime_hdr_decode_2047(const char *in, size_t len, char *out, size_t cap, uint32_t *errors);

/* Tolerant parse of a Content-Type or Content-Disposition value. */
struct mime_hdr_param_cb {
	/* Called per parameter after RFC 2231 reassembly and decoding (value
	 * in UTF-8 for name/filename, raw otherwise). |name| lowercase. */
	void (*on_param)(const char *name, const char *value, void *ud);
};
/* Writes the lowercased "type/subtype" (or disposition type) into |tok|
 * (capacity |cap|) and reports parameters. Returns false when no token. */
bool mime_hdr_parse_params(const char *in, size_t len, char *tok, size_t cap,
			   const struct mime_hdr_param_cb *cb, void *ud);

#endif
