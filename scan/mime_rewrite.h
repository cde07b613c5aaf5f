/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mime_rewrite.h - the message rewriter behind the policy's "modify and
 * deliver" actions: Subject tags, prepended header fields, and attachments
 * replaced by a notice. Sans-IO: a whole message in memory in, a new one out.
 *
 * The rewriter never re-serializes a message. It walks the complete buffer
 * once with the same line rules as the streaming parser (mime_parser.c), so
 * that it finds exactly the parts the scan reported under the same paths
 * ("1", "1.2", "1.2.1" ...: see mime.h), and then splices a few byte ranges:
 * everything it was not asked to change is copied byte for byte (boundaries,
 * preamble, epilogue, other parts, line ends, even broken syntax).
 *
 *  - Tags: each tag of |tags| is prepended to the first Subject field of the
 *    top-level header block unless the decoded (RFC 2047, unfolded) subject
 *    already starts with it (after any other of the tags: tagging twice is a
 *    no-op). The original field text, encoded words and folding stay as
 *    they are; the tags are inserted after "Subject:" (as RFC 2047 encoded
 *    words when not ASCII). No Subject: "Subject: TAGS" is prepended.
 *  - Header fields |hdr| are prepended to the top-level header block in
 *    order (like Postfix header_checks PREPEND), folded at 78 columns and
 *    RFC 2047 encoded (UTF-8, B) when not ASCII. Control characters in
 *    values become spaces; a field name must be printable ASCII without ':'
 *    and must not be a Content-* or MIME-Version field.
 *  - Strip: every part whose path is listed is replaced in place by a
 *    text/plain; charset=utf-8, Content-Disposition: inline part carrying the
 *    notice (quoted-printable). The part's own bytes - header and body,
 *    between the line end after the delimiter before it and the line end
 *    before the delimiter after it - are all that changes. A part that is
 *    the top of a (sub)message ("1", or "P.1" inside message/rfc822 P)
 *    keeps its non-Content-* fields: its Content-* fields are removed and
 *    the body replaced. A container may be stripped (everything inside
 *    goes); a listed path inside another listed one is ignored.
 *
 * Safety: the result is walked again and must show the same parts, in the
 * same order and with the same body bytes, except the stripped ones (now
 * text/plain leaves) and what was inside them; otherwise MXG_E_INVAL.
 * Line ends of added text follow the message (CRLF, or LF when its first
 * line ends with a bare LF).
 */
#ifndef MXG_SCAN_MIME_REWRITE_H
#define MXG_SCAN_MIME_REWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mime.h"

struct mime_rw_header {
	const char *name;  /* "X-Spam-Flag" */
	const char *value; /* UTF-8 */
};

struct mime_rw {
	const char *const *tags;          /* Subject prefixes ("[SPAM]"), UTF-8 */
	size_t ntags;
	const struct mime_rw_header *hdr; /* fields prepended, in this order */
	size_t nhdr;
	const char *const *strip;         /* paths of parts to replace by the notice */
	size_t nstrip;
	const char *notice;               /* UTF-8; "%f" = the removed file name, "%%" = "%";
	                                   * NULL or "": a built-in English text */
	const struct mime_limits *limits; /* the scan's MIME limits (NULL: defaults), so
	                                   * the paths agree where a limit applies */
};

/* Rewrites |msg| (|len| bytes, a whole RFC 5322 message as received, after
 * dot-unstuffing). On success returns 0 and *out (malloc'ed, the caller
 * frees) of *outlen bytes. When |rw| asks for nothing the output equals the
 * input.
 *
 * Errors (*out is then NULL):
 *   MXG_E_NOMEM  out of memory: the caller tempfails (4xx), the sender retries.
 *   MXG_E_INVAL  the rewrite cannot be done safely: a path to strip does not
 *                exist, lies inside a transfer-encoded message/rfc822 or is a
 *                uuencoded file inside a text part ("P.uN"), the message went
 *                over a MIME limit (max_parts) while parts were to be
 *                stripped, a bad field name, or the check of the result
 *                failed. The message must then not be delivered as is: the
 *                caller quarantines it (the action asked to remove content
 *                that stays in it), never delivers the original.
 */
int mime_rewrite(const uint8_t *msg, size_t len, const struct mime_rw *rw, uint8_t **out,
		 size_t *outlen);

/* The parts the rewriter finds in |msg|, in the order the parser begins
 * them: |fn| gets each path, kind, and whether the part lies inside a
 * transfer-encoded message/rfc822 (then it cannot be stripped). For tests
 * and logs. |lim| as in struct mime_rw. Returns 0 or MXG_E_NOMEM. */
int mime_rewrite_walk(const uint8_t *msg, size_t len, const struct mime_limits *lim,
		      void (*fn)(const char *path, enum mime_kind kind, bool encoded, void *ud),
		      void *ud);

#endif
