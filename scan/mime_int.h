/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mime_int.h - the MIME reading decisions shared by the streaming parser
 * (mime_parser.c) and the rewriter (mime_rewrite.c). Private to scan/.
 *
 * The rewriter walks a whole message to find the parts the parser reported
 * and must name them exactly as the parser does: a part that one of the two
 * reads differently could hide from the scanner or from the rewriter. So
 * every decision that shapes the part tree is made here, once:
 *
 *	- limits as applied (mime_limits_norm, mime_hline_cap);
 *	- header lines: field, fold, junk or start of the body (mime_hline_kind,
 *	  mime_is_field), and the split of an unfolded field into name and
 *	  value (mime_field_split, mime_field_id);
 *	- field values: Content-Type (mime_ct_parse and which of several wins,
 *	  mime_ct_replaces), Content-Transfer-Encoding (mime_cte_parse), the
 *	  parameters of both and of Content-Disposition (mime_params_get);
 *	- the kind of a part once its header block ended (mime_ct_default,
 *	  mime_part_kind, mime_cte_encoded);
 *	- delimiter lines (mime_cand_max, mime_match_boundary) and part paths
 *	  (mime_path_fmt).
 *
 * The parser keeps its streaming state machine and anomalies, the rewriter
 * its offsets; only the decisions live here. mime_params_get, mime_ct_parse
 * and mime_cte_parse are in mime_header.c, mime_match_boundary and
 * mime_part_kind in mime_parser.c; the rest are small inline helpers.
 */
#ifndef MXG_SCAN_MIME_INT_H
#define MXG_SCAN_MIME_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mime.h"

#define MIME_FN_MAX 512        /* a file name parameter, truncated beyond */
#define MIME_CAND_TAIL_MAX 1024 /* text after a boundary on its line */
#define MIME_ROOT_PATH "1"     /* path of the message itself */

/* ---- limits ---- */

/* Copies |src| (NULL: the defaults) into |dst| as both readers apply it:
 * a header line is never cut below 256 bytes. */
static inline void mime_limits_norm(struct mime_limits *dst, const struct mime_limits *src)
{
	if (src)
		*dst = *src;
	else
		mime_limits_default(dst);
	if (dst->max_header_line < 256)
		dst->max_header_line = 256;
}

/* Bytes of one raw header line kept (line end included); the rest of a
 * longer line is dropped. */
static inline size_t mime_hline_cap(const struct mime_limits *l)
{
	return (size_t)l->max_header_line + 2;
}

/* ---- paths ---- */

/* Writes "|base||sep||n|" into a MIME_PATH_MAX buffer (truncated). */
static inline void mime_path_fmt(char *dst, const char *base, const char *sep, unsigned n)
{
	if (snprintf(dst, MIME_PATH_MAX, "%s%s%u", base, sep, n) >= MIME_PATH_MAX)
		dst[MIME_PATH_MAX - 2] = '+'; /* visibly truncated */
}

/* ---- ASCII ---- */

/* Does |a| (|n| bytes) start with the lowercase literal |lit|, ignoring
 * ASCII case? */
static inline bool mime_iprefix(const uint8_t *a, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	if (n < l)
		return false;
	for (size_t i = 0; i < l; i++) {
		uint8_t c = a[i];

		if (c >= 'A' && c <= 'Z')
			c += 32;
		if (c != (uint8_t)lit[i])
			return false;
	}
	return true;
}

/* Is |a| (|n| bytes) the lowercase literal |lit|, ignoring ASCII case? */
static inline bool mime_ieq(const uint8_t *a, size_t n, const char *lit)
{
	return n == strlen(lit) && mime_iprefix(a, n, lit);
}

/* ---- header lines ---- */

/* A byte of a field name: printable ASCII except ':'. */
static inline bool mime_is_hname_char(uint8_t c)
{
	return c > ' ' && c < 127 && c != ':';
}

/* Is |l| (|n| bytes, no line end) "name:..." with a plausible field name?
 * Whitespace before the colon is accepted ("Subject : x"). */
static inline bool mime_is_field(const uint8_t *l, size_t n)
{
	size_t i = 0;

	while (i < n && mime_is_hname_char(l[i]))
		i++;
	if (i == 0)
		return false;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	return i < n && l[i] == ':';
}

/* What a line of a header block is (a delimiter line is checked first). */
enum mime_hline {
	MIME_HL_END = 0, /* the empty line: the body follows */
	MIME_HL_FOLD,    /* whitespace first: continues the pending field */
	MIME_HL_FIELD,   /* a new field */
	MIME_HL_JUNK,    /* no field, but inside the block: a field with no name,
	                  * never folded into (MIME_ANOM_HEADER_NO_COLON) */
	MIME_HL_BODY,    /* no field and none before it: the body starts here */
};

/* Classifies the header-block line |l| (|n| bytes, no line end). |first|:
 * the very first line of the message (an mbox "From " line there is junk);
 * |pending|: a field is being unfolded; |fields|: the part has a field. */
static inline enum mime_hline mime_hline_kind(const uint8_t *l, size_t n, bool first,
					      bool pending, bool fields)
{
	if (n == 0)
		return MIME_HL_END;
	if ((l[0] == ' ' || l[0] == '\t') && pending)
		return MIME_HL_FOLD; /* the line break goes, the whitespace stays */
	if (mime_is_field(l, n))
		return MIME_HL_FIELD;
	if ((first && n >= 5 && !memcmp(l, "From ", 5)) || pending || fields)
		return MIME_HL_JUNK;
	return MIME_HL_BODY;
}

/* The fields whose value the readers interpret. */
enum mime_fld {
	MIME_FLD_OTHER = 0,
	MIME_FLD_CT,  /* Content-Type */
	MIME_FLD_CTE, /* Content-Transfer-Encoding */
	MIME_FLD_CD,  /* Content-Disposition */
};

/* Splits the unfolded field |h| (|n| bytes): the name is [0, *ne) without
 * the whitespace before the colon, the value [*vs, *ve) without the
 * whitespace around it. A line without a colon has no name (*ne = 0) and
 * is all value. */
static inline void mime_field_split(const uint8_t *h, size_t n, size_t *ne, size_t *vs,
				    size_t *ve)
{
	size_t c = 0;

	while (c < n && h[c] != ':')
		c++;
	*ne = c;
	while (*ne > 0 && (h[*ne - 1] == ' ' || h[*ne - 1] == '\t'))
		(*ne)--;
	if (c >= n) {
		*ne = 0; /* junk line: empty name, whole line as value */
		*vs = 0;
	} else {
		*vs = c + 1;
		while (*vs < n && (h[*vs] == ' ' || h[*vs] == '\t'))
			(*vs)++;
	}
	while (n > *vs && (h[n - 1] == ' ' || h[n - 1] == '\t' || h[n - 1] == '\r'))
		n--;
	*ve = n;
}

/* Which interpreted field the name |h| (|ne| bytes) is. RFC 5322 allows
 * no comment in a field name, but "Content-Type(x): multipart/..." is read
 * as Content-Type, comments (nested) and blanks dropped: ClamAV reads it
 * so, a lenient client may too, and the other reading (one text body)
 * still has its bytes scanned as the multipart's preamble. */
static inline enum mime_fld mime_field_id(const uint8_t *h, size_t ne)
{
	uint8_t nm[32];
	size_t k = 0, depth = 0;

	if (ne > 0 && memchr(h, '(', ne) != NULL) {
		for (size_t i = 0; i < ne; i++) {
			if (h[i] == '(') {
				depth++;
			} else if (h[i] == ')' && depth > 0) {
				depth--;
			} else if (depth == 0 && h[i] != ' ' && h[i] != '\t') {
				if (k == sizeof(nm))
					return MIME_FLD_OTHER;
				nm[k++] = h[i];
			}
		}
		h = nm;
		ne = k;
	}
	if (mime_ieq(h, ne, "content-type"))
		return MIME_FLD_CT;
	if (mime_ieq(h, ne, "content-transfer-encoding"))
		return MIME_FLD_CTE;
	if (mime_ieq(h, ne, "content-disposition"))
		return MIME_FLD_CD;
	return MIME_FLD_OTHER;
}

/* ---- field values (mime_header.c) ---- */

/* The parameters the readers use, first occurrence wins; except boundary:
 * several different boundary= values are all kept, '\n'-separated (both
 * readings of such a multipart are exposed, mime_match_boundary). */
struct mime_params {
	char boundary[4096];
	char charset[64];          /* lowercase, without spaces and quotes */
	char name[MIME_FN_MAX];    /* the parameter asked for */
	bool have_b, have_cs, have_name;
	bool dup_name;             /* the asked parameter again, with another value */
	const char *want;          /* "name" or "filename" */
};

/* Parses the value |v| (|n| bytes) of a Content-Type or Content-Disposition
 * field: the lowercase type token into |tok| (capacity |cap|), boundary=,
 * charset= and the parameter |want| into |c|. */
void mime_params_get(const char *v, size_t n, char *tok, size_t cap, const char *want,
		     struct mime_params *c);

/* A parsed Content-Type value. */
struct mime_ct {
	char type[128];          /* "type/subtype", lowercase */
	struct mime_params prm;  /* name= is prm.name */
	bool bnd;                /* a non-empty boundary= */
	bool multipart;          /* multipart/... with a non-empty boundary= */
};

/* Parses the Content-Type value |v| (|n| bytes). Returns false when it is
 * unusable (not one "type/subtype" token): the field then does not count. */
bool mime_ct_parse(const char *v, size_t n, struct mime_ct *ct);

/* Does a usable Content-Type (|mp|: ct.multipart) replace what the part
 * has (|have_ct|, |have_mp|)? The first wins, except that a multipart with
 * a boundary beats an earlier non-multipart (every part is then exposed,
 * and the other reading's bytes still go out as preamble and epilogue). */
static inline bool mime_ct_replaces(bool have_ct, bool have_mp, bool mp)
{
	return !have_ct || (mp && !have_mp);
}

/* Adds |b| (|bl| bytes) to the '\n'-separated boundary list |list| (of
 * capacity |cap|) unless it is there. False when it was there or does
 * not fit. */
static inline bool mime_bnd_add(char *list, size_t cap, const char *b, size_t bl)
{
	size_t ll = strlen(list);

	for (const char *a = list; *a;) {
		size_t al = strcspn(a, "\n");

		if (al == bl && !memcmp(a, b, bl))
			return false;
		a += al + (a[al] == '\n');
	}
	if (!bl || ll + 1 + bl + 1 > cap)
		return false;
	if (ll)
		list[ll++] = '\n';
	memcpy(list + ll, b, bl);
	list[ll + bl] = '\0';
	return true;
}

/* A second multipart Content-Type (|ct|) on a part that is already a
 * multipart with boundary |cur|: when its boundary differs, both delimit
 * the part (every part either reading shows is exposed): |ct|'s boundary
 * becomes "cur\nnew" and true is returned (|ct| then replaces). */
static inline bool mime_ct_merge(struct mime_ct *ct, const char *cur, bool have_mp)
{
	char nb[sizeof(ct->prm.boundary)];

	if (!have_mp || !ct->multipart || !cur)
		return false;
	snprintf(nb, sizeof(nb), "%s", cur);
	if (!mime_bnd_add(nb, sizeof(nb), ct->prm.boundary, strlen(ct->prm.boundary)))
		return false;
	memcpy(ct->prm.boundary, nb, sizeof(nb));
	return true;
}

/* The encoding named by a Content-Transfer-Encoding value |v| (|n|
 * bytes). *known is false for an unknown name (then read as 7bit). */
enum mime_cte mime_cte_parse(const char *v, size_t n, bool *known);

/* ---- parts (mime_parser.c) ---- */

/* The Content-Type of a part without a usable one (RFC 2046 5.1.5). */
static inline const char *mime_ct_default(bool in_digest)
{
	return in_digest ? "message/rfc822" : "text/plain";
}

/* Is the body under |cte| transfer-decoded before it is read? */
static inline bool mime_cte_encoded(enum mime_cte cte)
{
	return cte == MIME_CTE_BASE64 || cte == MIME_CTE_QP || cte == MIME_CTE_UUENCODE;
}

/* The kind of a part whose header block ended, from its Content-Type
 * |ctype|, whether it has a boundary |bnd|, and its |depth|. A multipart
 * without boundary, and a container at |max_depth|, are leaves:
 * MIME_PF_NO_BOUNDARY or MIME_PF_TOO_DEEP is then added to *flags. */
enum mime_kind mime_part_kind(const char *ctype, bool bnd, uint32_t depth, uint32_t max_depth,
			      uint32_t *flags);

/* ---- delimiters (mime_parser.c) ---- */

/* Longest line (line end included) that may be a delimiter when the
 * longest boundary on the stack is |max_blen|; a longer one is body. */
static inline size_t mime_cand_max(size_t max_blen)
{
	return max_blen + 4 + MIME_CAND_TAIL_MAX;
}

/* The open entities of one stack, innermost first. |next| returns the one
 * enclosing |cur| (the innermost for NULL), or NULL past the outermost; it
 * sets *b and *blen to the entity's boundary, or *blen to 0 when it takes
 * no delimiter (not a begun multipart). */
struct mime_bstack {
	const void *(*next)(const void *ud, const void *cur, const char **b, size_t *blen);
	const void *ud;
};

/* The entity of |s| whose delimiter the line |l| (|n| bytes, no line end)
 * is, or NULL; *close is set for a close delimiter, *suffix when only a
 * prefix matched (MIME_ANOM_BOUNDARY_SUFFIX). Exact matches (after
 * trailing whitespace) win anywhere on the stack; then, as RFC 2046 5.1.1
 * asks, a prefix match, innermost first. */
const void *mime_match_boundary(const struct mime_bstack *s, const uint8_t *l, size_t n,
				bool *close, bool *suffix);

#endif
