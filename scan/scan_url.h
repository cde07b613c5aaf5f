/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_url.h - URL extraction, de-obfuscation and normalisation.
 *
 * Sources: plain text streamed in chunks (scan_url_feed), and links the HTML
 * reducer reports (mime_html on_link -> scan_url_add). Each URL is
 * normalised, deduplicated (occurrences counted) and kept with its host and
 * a registrable-domain guess for reputation lookups.
 *
 * Extraction from text: "scheme://" for http, https, ftp and the defanged
 * spellings hxxp, hxxps, hXXp, h**p, fxp (also "[:]//", "[://]"); and "www."
 * at a word start (http assumed). Defanged dots "[.]", "(.)", "{.}",
 * "[dot]", "(dot)" are read as "." (with or without surrounding spaces).
 * A URL ends at whitespace, a quote or angle bracket; trailing punctuation
 * ".,;:!?'" and unbalanced ')' ']' '}' are dropped.
 *
 * Normalisation (RFC 3986 section 6 plus what browsers do):
 *  - scheme lowercased (defanged forms mapped), '\' read as '/';
 *  - userinfo removed (flag SCAN_URLF_USERINFO: "http://bank.com@evil/");
 *  - host percent-decoded, lowercased, trailing dot removed, ideographic
 *    full stops (U+3002, U+FF0E, U+FF61) read as '.', non-ASCII labels
 *    encoded to punycode "xn--" (RFC 3492) with ASCII-only lowercasing (no
 *    UTS #46 mapping: no libidn), flag SCAN_URLF_IDN;
 *  - IPv4 hosts in decimal, hex, octal or short forms (WHATWG rules:
 *    "http://3232235777/", "0xC0.0250.1.1") written as dotted quads (flag
 *    SCAN_URLF_NUMERIC_IP when the form was not already canonical);
 *  - default port (http 80, https 443, ftp 21) removed;
 *  - percent-encoded unreserved characters decoded, other escapes
 *    uppercased; dot segments removed; empty path becomes "/";
 *  - fragment dropped (never sent to the server).
 * Registrable domain: a guess without the Public Suffix List: the last two
 * labels, or three when the second-level label is a common generic SLD
 * under a two-letter ccTLD (co.uk, com.au, ne.jp, ...); an IP host is its
 * own domain.
 *
 * Limits per instance: URLs kept (further distinct ones are counted in
 * dropped) and URL length (longer ones are truncated and flagged).
 */
#ifndef MXG_SCAN_URL_H
#define MXG_SCAN_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxg_mem.h"

/* URL flags. */
#define SCAN_URLF_HTML 0x0001u       /* seen as an HTML link */
#define SCAN_URLF_TEXT 0x0002u       /* seen in text */
#define SCAN_URLF_DEFANGED 0x0004u   /* hxxp, [.], [:] ... */
#define SCAN_URLF_USERINFO 0x0008u   /* user:pass@ before the host */
#define SCAN_URLF_IP 0x0010u         /* the host is an IP literal */
#define SCAN_URLF_NUMERIC_IP 0x0020u /* IPv4 in decimal/hex/octal/short form */
#define SCAN_URLF_IDN 0x0040u        /* non-ASCII host, punycoded */
#define SCAN_URLF_PCT_HOST 0x0080u   /* percent-encoding in the host */
#define SCAN_URLF_PORT 0x0100u       /* non-default port */
#define SCAN_URLF_TRUNCATED 0x0200u  /* longer than max_len */
#define SCAN_URLF_NO_SCHEME 0x0400u  /* "www." form, http assumed */

struct scan_url_limits {
	uint32_t max_urls; /* distinct URLs kept (default 512) */
	uint32_t max_len;  /* bytes of one URL (default 2048, at most 4096) */
};

struct scan_url_entry {
	const char *url;    /* normalised URL */
	const char *host;   /* lowercase ASCII host (IPv6 without brackets) */
	const char *domain; /* registrable-domain guess */
	uint16_t port;      /* explicit non-default port, else 0 */
	uint32_t flags;     /* SCAN_URLF_* (union over occurrences) */
	uint32_t count;     /* occurrences */
};

struct scan_url;

struct scan_url *scan_url_new(const struct mxg_mem *mem, const struct scan_url_limits *limits);
void scan_url_free(struct scan_url *u);
/* Forgets every URL for a new message. */
void scan_url_reset(struct scan_url *u);

/* Streams text (UTF-8, any chunking, borrowed). Returns 0 or MXG_E_NOMEM. */
int scan_url_feed(struct scan_url *u, const uint8_t *p, size_t n);
/* Ends the current text (flushes a URL at its end). */
int scan_url_feed_end(struct scan_url *u);
/* Adds one URL as found elsewhere (an HTML href); |flags| is OR-ed in
 * (SCAN_URLF_HTML for links). Relative and non-web URLs (mailto:, cid:,
 * javascript:, data:) are ignored and return 0. Returns 1 when the URL was
 * new, 0 when known or ignored, MXG_E_NOMEM. */
int scan_url_add(struct scan_url *u, const char *url, size_t n, uint32_t flags);

size_t scan_url_count(const struct scan_url *u);
/* URL |i| in order of first appearance; lent out until reset/free. */
const struct scan_url_entry *scan_url_get(const struct scan_url *u, size_t i);
/* Distinct URLs not kept because of max_urls. */
uint32_t scan_url_dropped(const struct scan_url *u);

/* Normalises one absolute URL (defanged forms accepted) into |out|
 * (capacity |cap|, NUL-terminated); *flags gets SCAN_URLF_* (may be NULL).
 * Returns the length, or -1 when it is not an http/https/ftp URL with a
 * host, or -2 when |cap| is too small. No allocation. */
int scan_url_normalize(const char *in, size_t n, char *out, size_t cap, uint32_t *flags);
/* Writes the registrable-domain guess of lowercase |host| into |out|. */
size_t scan_url_domain(const char *host, char *out, size_t cap);

#endif
