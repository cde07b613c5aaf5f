/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mime_html.c - a small streaming HTML reducer: text for body rules and the
 * links for URL extraction.
 *
 * Not an HTML5 tree builder (that would be a large dependency for little
 * gain): a byte-at-a-time tokenizer with its state in the struct, so input
 * can be split anywhere. What it does:
 *  - tags are removed; block-level tags (p, br, div, tr, li, h1-h6, table,
 *    td, th, title, hr, blockquote, pre) become '\n' so words do not merge;
 *  - the content of script, style and template is dropped (it is not
 *    shown as text); comments and declarations are dropped;
 *  - character references are decoded in text and attribute values: the
 *    common named ones, &#NNN; and &#xHH; (with or without ';' as browsers
 *    accept); unknown names stay literal; code points 0, surrogates and
 *    values over U+10FFFF become U+FFFD;
 *  - the values of href, src, action, background, formaction and poster
 *    attributes are reported as links (entity-decoded, trimmed), so
 *    "h&#116;tp://" obfuscation is undone before URL rules run;
 *  - a link value that is a data: URI (RFC 2397) is decoded as a browser
 *    does (WHATWG URL and Fetch "data: URL processor"): entities first,
 *    leading controls and spaces skipped, tab/CR/LF removed anywhere, the
 *    scheme caseless, the media type up to the first ',', a '#' ends the
 *    URI (fragment), the body percent-decoded and then base64-decoded when
 *    the media type ends in ";base64" (spaces allowed after ';'). The
 *    decoded bytes stream out through on_data_begin/on_data/on_data_end
 *    whatever their length (they are not held, and not reported as a
 *    link); malformed base64 is what mime_b64 makes of it (junk skipped
 *    and counted). Without on_data_begin a data: URI is a link as before.
 * Bounds: tag names 16 bytes, attribute values 4 KiB (longer: truncated and
 * flagged), entities 32 bytes, data: media types 127 bytes; memory is one
 * fixed struct.
 *
 * Speed: the states that see most bytes consume runs, not bytes, with a
 * byte-class table (cls[]): text up to the next '<' or '&', tag and
 * attribute names up to their delimiter, whitespace between attributes,
 * link values up to their quote or '&', comments up to the next '>'
 * (the dashes before it decided from the run of '-' and '!' ending
 * there). Text runs of OUT_DIRECT bytes and more go to the callback in
 * place instead of through the output buffer. Same output as the
 * byte-at-a-time machine (the state after every byte is unchanged), in
 * fewer, larger pieces.
 */
#include <string.h>

#include "mime_codec.h"

#define VAL_MAX 4096
#define OUT_MAX 1024
#define OUT_DIRECT 256 /* text runs this long skip the output buffer */
#define DATA_BUF 1024  /* percent-decoded data: bytes batched for base64 */
#define MTYPE_MAX 127  /* data: media type kept (type/subtype) */

/* Byte classes (cls[]). */
#define C_SP 0x01    /* whitespace: ' ' \t \n \r \f */
#define C_NSTOP 0x02 /* ends a tag name: whitespace '/' '>' */
#define C_ASTOP 0x04 /* ends an attribute name: whitespace '/' '>' '=' */
#define C_USTOP 0x08 /* ends an unquoted value: whitespace '>' '&' */

static const uint8_t cls[256] = {
	[' '] = C_SP | C_NSTOP | C_ASTOP | C_USTOP, ['\t'] = C_SP | C_NSTOP | C_ASTOP | C_USTOP,
	['\n'] = C_SP | C_NSTOP | C_ASTOP | C_USTOP, ['\r'] = C_SP | C_NSTOP | C_ASTOP | C_USTOP,
	['\f'] = C_SP | C_NSTOP | C_ASTOP | C_USTOP,
	['/'] = C_NSTOP | C_ASTOP, ['>'] = C_NSTOP | C_ASTOP | C_USTOP,
	['='] = C_ASTOP, ['&'] = C_USTOP,
};

enum hstate {
	H_TEXT = 0,
	H_ENTITY,    /* after '&' in text */
	H_LT,        /* after '<' */
	H_TAGNAME,
	H_INTAG,     /* between attributes */
	H_ATTRNAME,
	H_AFTERNAME, /* attribute name read, maybe '=' next */
	H_BEFOREVAL,
	H_VAL_DQ,
	H_VAL_SQ,
	H_VAL_UQ,
	H_COMMENT,   /* <!-- ... --> */
	H_DECL,      /* <! ... > or <? ... > */
	H_RAW,       /* script/style content until </name */
};

/* data: URI reading of a link value (mime_html.dst). */
enum dstate {
	D_SCHEME = 0, /* matching "data:" (h->dmatch bytes so far) */
	D_NO,         /* not a data: URI: an ordinary link */
	D_HEAD,       /* media type, up to ',' */
	D_BODY,       /* payload: percent, then base64 decoding */
	D_END,        /* '#' or no ',' seen: the rest is ignored */
};

struct mime_html {
	const struct mxg_mem *mem;
	struct mime_html_callbacks cb;
	void *ud;
	enum hstate st;
	enum hstate ent_ret;        /* state to return to after an entity */
	bool end_tag;               /* "</" */
	bool link_attr;             /* current attribute is a link */
	bool val_trunc;
	char tag[17];
	uint8_t ntag;
	char attr[17];
	uint8_t nattr;
	char ent[33];
	uint8_t nent;
	uint8_t dashes;             /* comment end detection */
	char raw[17];               /* script/style: the closing name */
	uint8_t raw_match;          /* bytes of "</name" matched */
	uint32_t nval;
	/* data: URI of the current link value */
	uint8_t dst;                /* enum dstate */
	uint8_t dmatch;             /* bytes of "data:" matched */
	uint8_t b64m;               /* ";" SP* "base64" SP* suffix matcher */
	uint8_t pct;                /* 1 after '%', 2 after '%' + hex digit */
	uint8_t pct_hex;            /* that hex digit */
	bool dopen;                 /* on_data_begin called */
	bool dbase64;
	bool mt_done;               /* ';' ended the type/subtype */
	uint8_t nmt;
	char mtype[MTYPE_MAX + 1];
	struct mime_b64 b64;
	uint32_t ndpc;
	uint8_t dpc[DATA_BUF];          /* percent-decoded, not yet out */
	uint8_t dout[(DATA_BUF / 4 + 1) * 3];
	char val[VAL_MAX + 1];         /* + NUL for the callback */
	size_t nout;
	uint8_t out[OUT_MAX];
};

#define E(n, c) { n, sizeof(n) - 1, c }
static const struct {
	const char *name;
	uint8_t len;
	uint32_t cp;
} entities[] = {
	E("amp", '&'),     E("lt", '<'),      E("gt", '>'),      E("quot", '"'),
	E("apos", '\''),   E("nbsp", 0xa0),   E("copy", 0xa9),   E("reg", 0xae),
	E("trade", 0x2122), E("hellip", 0x2026), E("mdash", 0x2014), E("ndash", 0x2013),
	E("lsquo", 0x2018), E("rsquo", 0x2019), E("ldquo", 0x201c), E("rdquo", 0x201d),
	E("euro", 0x20ac), E("pound", 0xa3),  E("yen", 0xa5),    E("cent", 0xa2),
	E("sect", 0xa7),   E("deg", 0xb0),    E("middot", 0xb7), E("bull", 0x2022),
	E("shy", 0xad),    E("zwnj", 0x200c), E("zwj", 0x200d),  E("lrm", 0x200e),
	E("rlm", 0x200f),  E("auml", 0xe4),   E("ouml", 0xf6),   E("uuml", 0xfc),
	E("Auml", 0xc4),   E("Ouml", 0xd6),   E("Uuml", 0xdc),   E("szlig", 0xdf),
	E("eacute", 0xe9), E("egrave", 0xe8), E("agrave", 0xe0), E("ccedil", 0xe7),
	E("colon", ':'),   E("sol", '/'),     E("period", '.'),  E("commat", '@'),
	E("Tab", '\t'),    E("NewLine", '\n'),
};

static void out_flush(struct mime_html *h)
{
	if (h->nout && h->cb.on_text)
		h->cb.on_text(h->out, h->nout, h->ud);
	h->nout = 0;
}

static inline void out_put(struct mime_html *h, const uint8_t *p, size_t n)
{
	while (n) {
		size_t room = OUT_MAX - h->nout, k = n < room ? n : room;

		memcpy(h->out + h->nout, p, k);
		h->nout += k;
		p += k;
		n -= k;
		if (h->nout == OUT_MAX)
			out_flush(h);
	}
}

static size_t utf8_put(uint32_t cp, uint8_t *b)
{
	if (cp == 0 || (cp >= 0xd800 && cp < 0xe000) || cp > 0x10ffff)
		cp = 0xfffd;
	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	b[0] = (uint8_t)(0xf0 | cp >> 18);
	b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
	b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
	b[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decodes h->ent (without '&' and ';'); writes UTF-8 into |b| (8 bytes).
 * Returns 0 when the reference is unknown. */
static size_t ent_decode(const char *e, size_t n, uint8_t *b)
{
	if (n >= 2 && e[0] == '#') {
		uint32_t cp = 0;
		size_t i = 1;
		bool hex = false;

		if (e[1] == 'x' || e[1] == 'X') {
			hex = true;
			i = 2;
		}
		if (i >= n)
			return 0;
		for (; i < n; i++) {
			char c = e[i];
			int v;

			if (c >= '0' && c <= '9')
				v = c - '0';
			else if (hex && ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'))
				v = (c | 0x20) - 'a' + 10;
			else
				return 0;
			cp = cp * (hex ? 16 : 10) + (uint32_t)v;
			if (cp > 0x10ffff)
				cp = 0x110000;
		}
		return utf8_put(cp, b);
	}
	for (size_t k = 0; k < sizeof(entities) / sizeof(entities[0]); k++)
		if (entities[k].len == n && !memcmp(entities[k].name, e, n))
			return utf8_put(entities[k].cp, b);
	return 0;
}

/* ---- data: URIs ---- */

static inline char lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
}

static inline int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Hands the batched payload bytes on, base64-decoded when asked. */
static void data_flush(struct mime_html *h)
{
	size_t m;

	if (!h->ndpc)
		return;
	if (h->dbase64) {
		m = mime_b64_decode(&h->b64, h->dpc, h->ndpc, h->dout);
		if (m)
			h->cb.on_data(h->dout, m, h->ud);
	} else {
		h->cb.on_data(h->dpc, h->ndpc, h->ud);
	}
	h->ndpc = 0;
}

static inline void data_out(struct mime_html *h, uint8_t c)
{
	h->dpc[h->ndpc++] = c;
	if (h->ndpc == DATA_BUF)
		data_flush(h);
}

/* The media type ended at ',': the payload starts. */
static void data_begin(struct mime_html *h)
{
	size_t s = 0, e = h->nmt;

	while (s < e && (h->mtype[s] == ' ' || h->mtype[s] == '\f'))
		s++;
	while (e > s && (h->mtype[e - 1] == ' ' || h->mtype[e - 1] == '\f'))
		e--;
	h->mtype[e] = '\0';
	h->dbase64 = h->b64m >= 7;
	memset(&h->b64, 0, sizeof(h->b64));
	h->pct = 0;
	h->ndpc = 0;
	h->dopen = true;
	h->dst = D_BODY;
	h->cb.on_data_begin(h->mtype + s, e - s, h->dbase64, h->ud);
}

/* The bytes of a data: URI after "data:" (entity-decoded). */
static void data_put(struct mime_html *h, const uint8_t *p, size_t n)
{
	static const char b64w[] = "base64";

	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (c == '\t' || c == '\n' || c == '\r') /* removed by the URL parser */
			continue;
		if (h->dst == D_HEAD) {
			if (c == '#') {
				h->dst = D_END; /* a fragment before ',': no data */
			} else if (c == ',') {
				data_begin(h);
			} else {
				/* ";" SP* "base64" SP* at the end of the type */
				if (c == ';')
					h->b64m = 1;
				else if (h->b64m == 1 && c == ' ')
					;
				else if (h->b64m >= 1 && h->b64m <= 6 && lc(c) == b64w[h->b64m - 1])
					h->b64m++;
				else if (h->b64m >= 7 && (c == ' ' || c == '\f'))
					h->b64m = 8;
				else
					h->b64m = 0;
				if (c == ';')
					h->mt_done = true;
				else if (!h->mt_done && h->nmt < MTYPE_MAX)
					h->mtype[h->nmt++] = lc(c);
			}
			continue;
		}
		if (h->dst != D_BODY)
			return;
		if (c == '#') { /* the fragment is not data */
			h->dst = D_END;
			return;
		}
		if (h->pct == 0) {
			if (c == '%')
				h->pct = 1;
			else
				data_out(h, c);
		} else if (hexval(c) >= 0) {
			if (h->pct == 1) {
				h->pct = 2;
				h->pct_hex = c;
			} else {
				data_out(h, (uint8_t)(hexval(h->pct_hex) << 4 | hexval(c)));
				h->pct = 0;
			}
		} else {
			/* not an escape: '%' (and the digit) stay literal */
			data_out(h, '%');
			if (h->pct == 2)
				data_out(h, h->pct_hex);
			h->pct = 0;
			i--; /* c again, outside an escape */
		}
	}
}

/* The link value ended: the data: URI (if one began) ends too. */
static void data_end(struct mime_html *h)
{
	if (h->dopen) {
		if (h->pct) {
			data_out(h, '%');
			if (h->pct == 2)
				data_out(h, h->pct_hex);
		}
		data_flush(h);
		if (h->dbase64) {
			size_t m = mime_b64_finish(&h->b64, h->dout);

			if (m)
				h->cb.on_data(h->dout, m, h->ud);
		}
		h->cb.on_data_end(h->dbase64 ? h->b64.errors : 0, h->ud);
	}
	h->dopen = false;
	h->pct = 0;
	h->ndpc = 0;
	h->dst = D_SCHEME;
	h->dmatch = 0;
}

/* Matches "data:" at the start of a link value: leading controls and
 * spaces are skipped, tab/CR/LF anywhere, the scheme is caseless. The rest
 * of |p| after the ':' goes on as the URI's head. */
static void scheme_check(struct mime_html *h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];

		if ((h->dmatch == 0 && c <= 0x20) || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (lc(c) != "data:"[h->dmatch]) {
			h->dst = D_NO;
			return;
		}
		if (++h->dmatch == 5) {
			h->dst = D_HEAD;
			h->b64m = 0;
			h->nmt = 0;
			h->mt_done = false;
			data_put(h, p + i + 1, n - i - 1);
			return;
		}
	}
}

/* Appends to the attribute value (links only). */
static void val_put(struct mime_html *h, const uint8_t *p, size_t n)
{
	if (!h->link_attr)
		return;
	if (h->dst != D_NO) {
		if (h->dst == D_SCHEME) {
			scheme_check(h, p, n);
		} else {
			data_put(h, p, n);
			return;
		}
		if (h->dst != D_NO && h->dst != D_SCHEME)
			return; /* a data: URI: not kept as a link */
	}
	if (h->nval + n > VAL_MAX) {
		n = VAL_MAX - h->nval;
		h->val_trunc = true;
	}
	memcpy(h->val + h->nval, p, n);
	h->nval += (uint32_t)n;
}

static void emit(struct mime_html *h, enum hstate ctx, const uint8_t *p, size_t n)
{
	if (ctx == H_TEXT)
		out_put(h, p, n);
	else
		val_put(h, p, n);
}

/* Finishes an entity: |term| is the byte that ended it (';' consumed). */
static void ent_end(struct mime_html *h, bool semicolon)
{
	uint8_t b[8];
	size_t n = ent_decode(h->ent, h->nent, b);

	if (n) {
		emit(h, h->ent_ret, b, n);
	} else {
		emit(h, h->ent_ret, (const uint8_t *)"&", 1);
		emit(h, h->ent_ret, (const uint8_t *)h->ent, h->nent);
		if (semicolon)
			emit(h, h->ent_ret, (const uint8_t *)";", 1);
	}
	h->nent = 0;
	h->st = h->ent_ret;
}

static void link_end(struct mime_html *h)
{
	size_t s = 0, e = h->nval;

	if (!h->link_attr)
		return;
	if (h->dst != D_NO && h->dst != D_SCHEME) {
		data_end(h);
		h->link_attr = false;
		h->nval = 0;
		h->val_trunc = false;
		return;
	}
	h->dst = D_SCHEME;
	h->dmatch = 0;
	while (s < e && (h->val[s] == ' ' || h->val[s] == '\t' || h->val[s] == '\n' ||
			 h->val[s] == '\r'))
		s++;
	while (e > s && (h->val[e - 1] == ' ' || h->val[e - 1] == '\t' ||
			 h->val[e - 1] == '\n' || h->val[e - 1] == '\r'))
		e--;
	if (e > s && h->cb.on_link) {
		/* NUL-terminated for the callback (the value itself may
		 * hold a NUL byte from the input: use |n|). */
		h->val[e] = '\0';
		h->cb.on_link(h->val + s, e - s, h->val_trunc, h->ud);
	}
	h->link_attr = false;
	h->nval = 0;
	h->val_trunc = false;
}

static void attr_start_value(struct mime_html *h)
{
	const char *a = h->attr;

	h->attr[h->nattr] = '\0';
	/* href, src, action, background, formaction, poster, by length:
	 * most attributes are no link. The name is compared as a C string
	 * (a NUL byte from the input ends it), as it always was. */
	switch (h->nattr == 3 || h->nattr == 4 || h->nattr == 6 || h->nattr == 10 ?
		strlen(a) : 0) {
	case 3:
		h->link_attr = !memcmp(a, "src", 3);
		break;
	case 4:
		h->link_attr = !memcmp(a, "href", 4);
		break;
	case 6:
		h->link_attr = !memcmp(a, "action", 6) || !memcmp(a, "poster", 6);
		break;
	case 10:
		h->link_attr = !memcmp(a, "background", 10) || !memcmp(a, "formaction", 10);
		break;
	default:
		h->link_attr = false;
	}
	h->nval = 0;
	h->val_trunc = false;
	/* data: URIs are read only for a caller that takes them */
	h->dst = h->cb.on_data_begin ? D_SCHEME : D_NO;
	h->dmatch = 0;
}

/* Block-level tags (p, br, div, tr, li, h1-h6, table, td, th, title, hr,
 * blockquote, pre, ul, ol, dd, dt): they become '\n'. A switch on the
 * length: a tag ends every few bytes of HTML mail, and 22 strcmp calls per
 * tag showed in profiles. */
static bool is_block_tag(const char *t, size_t n)
{
	switch (n) {
	case 1:
		return t[0] == 'p';
	case 2:
		if (t[0] == 'h')
			return (t[1] >= '1' && t[1] <= '6') || t[1] == 'r';
		return !memcmp(t, "br", 2) || !memcmp(t, "tr", 2) || !memcmp(t, "li", 2) ||
		       !memcmp(t, "td", 2) || !memcmp(t, "th", 2) || !memcmp(t, "ul", 2) ||
		       !memcmp(t, "ol", 2) || !memcmp(t, "dd", 2) || !memcmp(t, "dt", 2);
	case 3:
		return !memcmp(t, "div", 3) || !memcmp(t, "pre", 3);
	case 5:
		return !memcmp(t, "table", 5) || !memcmp(t, "title", 5);
	case 10:
		return !memcmp(t, "blockquote", 10);
	default:
		return false;
	}
}

static void tag_end(struct mime_html *h)
{
	h->tag[h->ntag] = '\0';
	if (is_block_tag(h->tag, h->ntag))
		out_put(h, (const uint8_t *)"\n", 1);
	if (!h->end_tag && (h->ntag == 5 || h->ntag == 6 || h->ntag == 8) &&
	    (!strcmp(h->tag, "script") || !strcmp(h->tag, "style") ||
	     !strcmp(h->tag, "template"))) {
		memcpy(h->raw, h->tag, h->ntag + 1);
		h->raw_match = 0;
		h->st = H_RAW;
		return;
	}
	h->st = H_TEXT;
}

static inline bool is_sp(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Index of the first '<' or '&' in [i, len), or len: eight bytes at a
 * time (SWAR zero-byte test), text between tags is most of the input. */
static size_t text_stop(const uint8_t *in, size_t i, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;

	while (i + 8 <= len) {
		uint64_t x, a, b;

		memcpy(&x, in + i, 8);
		a = x ^ (ones * '<');
		b = x ^ (ones * '&');
		if ((((a - ones) & ~a) | ((b - ones) & ~b)) & highs)
			break;
		i += 8;
	}
	while (i < len && in[i] != '<' && in[i] != '&')
		i++;
	return i;
}

/* The comment's dash count after its bytes [i, k) (no '>' among them),
 * from |d| before i: every byte but '-' and '!' resets it, so only the
 * run of those two ending at k matters; it is replayed as the byte
 * machine would ('-' counts up to 2, '!' keeps a 2 and resets less). */
static uint8_t comment_dashes(const uint8_t *in, size_t i, size_t k, uint8_t d)
{
	size_t j = k;

	while (j > i && (in[j - 1] == '-' || in[j - 1] == '!'))
		j--;
	if (j > i)
		d = 0;
	for (; j < k; j++) {
		if (in[j] == '-')
			d = d < 2 ? d + 1 : d;
		else if (d < 2)
			d = 0;
	}
	return d;
}

void mime_html_feed(struct mime_html *h, const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];

		switch (h->st) {
		case H_TEXT: {
			size_t j = text_stop(in, i, len);

			if (j - i >= OUT_DIRECT && h->cb.on_text) {
				/* a long run goes on in place */
				out_flush(h);
				h->cb.on_text(in + i, j - i, h->ud);
			} else {
				out_put(h, in + i, j - i);
			}
			if (j == len) {
				i = len;
				break;
			}
			if (in[j] == '<') {
				h->st = H_LT;
			} else {
				h->ent_ret = H_TEXT;
				h->nent = 0;
				h->st = H_ENTITY;
			}
			i = j;
			break;
		}
		case H_ENTITY:
			if (c == ';') {
				ent_end(h, true);
			} else if (((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') ||
				   (c == '#' && h->nent == 0)) {
				if (h->nent < 32) {
					h->ent[h->nent++] = (char)c;
				} else {
					ent_end(h, false);
					i--;
				}
			} else {
				ent_end(h, false);
				i--; /* reprocess in the calling state */
			}
			break;
		case H_LT:
			h->end_tag = false;
			h->ntag = 0;
			if (c == '!') {
				h->st = H_DECL;
				h->dashes = 0;
				h->nent = 0; /* counts "--" after "<!" */
			} else if (c == '?') {
				h->st = H_DECL;
				h->nent = 2;
			} else if (c == '/') {
				h->end_tag = true;
				h->st = H_TAGNAME;
			} else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
				h->tag[h->ntag++] = lc(c);
				h->st = H_TAGNAME;
			} else {
				out_put(h, (const uint8_t *)"<", 1);
				h->st = H_TEXT;
				i--;
			}
			break;
		case H_TAGNAME:
			/* the name up to its delimiter, in one run */
			while (!(cls[c] & C_NSTOP)) {
				if (h->ntag < 16)
					h->tag[h->ntag++] = lc(c);
				if (++i == len)
					break;
				c = in[i];
			}
			if (i == len)
				break;
			if (c == '>')
				tag_end(h);
			else
				h->st = H_INTAG; /* whitespace or '/' */
			break;
		case H_INTAG:
			while (c == '/' || (cls[c] & C_SP)) {
				if (++i == len)
					break;
				c = in[i];
			}
			if (i == len)
				break;
			if (c == '>') {
				tag_end(h);
			} else {
				h->nattr = 0;
				h->attr[h->nattr++] = lc(c);
				h->st = H_ATTRNAME;
			}
			break;
		case H_ATTRNAME:
			while (!(cls[c] & C_ASTOP)) {
				if (h->nattr < 16)
					h->attr[h->nattr++] = lc(c);
				if (++i == len)
					break;
				c = in[i];
			}
			if (i == len)
				break;
			if (c == '=') {
				attr_start_value(h);
				h->st = H_BEFOREVAL;
			} else if (c == '>') {
				tag_end(h);
			} else if (is_sp(c)) {
				h->st = H_AFTERNAME;
			} else if (c == '/') {
				h->st = H_INTAG;
			} else if (h->nattr < 16) {
				h->attr[h->nattr++] = lc(c);
			}
			break;
		case H_AFTERNAME:
			if (c == '=') {
				attr_start_value(h);
				h->st = H_BEFOREVAL;
			} else if (c == '>') {
				tag_end(h);
			} else if (!is_sp(c)) {
				h->st = H_INTAG;
				i--;
			}
			break;
		case H_BEFOREVAL:
			if (c == '"') {
				h->st = H_VAL_DQ;
			} else if (c == '\'') {
				h->st = H_VAL_SQ;
			} else if (c == '>') {
				link_end(h);
				tag_end(h);
			} else if (!is_sp(c)) {
				h->st = H_VAL_UQ;
				i--;
			}
			break;
		case H_VAL_DQ:
		case H_VAL_SQ:
		case H_VAL_UQ: {
			uint8_t q = h->st == H_VAL_DQ ? '"' : h->st == H_VAL_SQ ? '\'' : 0;

			if (q && !h->link_attr) {
				/* not a link: the value is dropped, entities and
				 * all; jump to its closing quote */
				const uint8_t *e = memchr(in + i, q, len - i);

				if (!e) {
					i = len;
					break;
				}
				i = (size_t)(e - in);
				c = q;
			} else {
				/* the value up to its end or an entity, in one run */
				size_t j = i;

				if (q)
					while (j < len && in[j] != q && in[j] != '&')
						j++;
				else
					while (j < len && !(cls[in[j]] & C_USTOP))
						j++;
				val_put(h, in + i, j - i);
				if (j == len) {
					i = len;
					break;
				}
				i = j;
				c = in[i];
			}
			if ((q && c == q) || (!q && is_sp(c))) {
				link_end(h);
				h->st = H_INTAG;
			} else if (!q && c == '>') {
				link_end(h);
				tag_end(h);
			} else if (c == '&') {
				h->ent_ret = h->st;
				h->nent = 0;
				h->st = H_ENTITY;
			} else {
				val_put(h, &c, 1);
			}
			break;
		}
		case H_DECL:
			/* "<!--" opens a comment; anything else ends at '>'. */
			if (h->nent < 2 && c == '-') {
				if (++h->nent == 2) {
					h->st = H_COMMENT;
					h->dashes = 0;
				}
			} else if (c == '>') {
				h->st = H_TEXT;
			} else {
				h->nent = 2;
			}
			break;
		case H_COMMENT: {
			/* Skip fast to the next '>' and look at the dashes before
			 * it ("-->", and "--!>" as HTML5 allows). */
			const uint8_t *gt = memchr(in + i, '>', len - i);
			size_t k = gt ? (size_t)(gt - in) : len;

			h->dashes = comment_dashes(in, i, k, h->dashes);
			i = k;
			if (!gt)
				break;
			if (h->dashes >= 2) {
				h->st = H_TEXT;
				h->nent = 0;
			} else {
				h->dashes = 0;
			}
			break;
		}
		case H_RAW: {
			/* Matches "</" + raw name, case-insensitively. */
			size_t rl = strlen(h->raw);

			if (h->raw_match == 0) {
				const uint8_t *lt = memchr(in + i, '<', len - i);

				if (!lt) {
					i = len;
					break;
				}
				i = (size_t)(lt - in);
				h->raw_match = 1;
			} else if (h->raw_match == 1) {
				h->raw_match = c == '/' ? 2 : 0;
				if (c == '<')
					h->raw_match = 1;
			} else if ((size_t)h->raw_match - 2 < rl) {
				if (lc(c) == h->raw[h->raw_match - 2])
					h->raw_match++;
				else
					h->raw_match = c == '<' ? 1 : 0;
			} else {
				/* Name matched: needs a delimiter. */
				if (is_sp(c) || c == '>' || c == '/') {
					h->end_tag = true;
					memcpy(h->tag, h->raw, rl + 1);
					h->ntag = (uint8_t)rl;
					h->raw_match = 0;
					if (c == '>')
						tag_end(h);
					else
						h->st = H_INTAG;
				} else {
					h->raw_match = c == '<' ? 1 : 0;
				}
			}
			break;
		}
		}
	}
	out_flush(h);
}

void mime_html_finish(struct mime_html *h)
{
	if (h->st == H_ENTITY)
		ent_end(h, false);
	if (h->st == H_LT)
		out_put(h, (const uint8_t *)"<", 1);
	if (h->st == H_VAL_DQ || h->st == H_VAL_SQ || h->st == H_VAL_UQ)
		link_end(h);
	out_flush(h);
	h->st = H_TEXT;
}

void mime_html_reset(struct mime_html *h)
{
	h->st = H_TEXT;
	h->nout = 0;
	h->nval = 0;
	h->nent = 0;
	h->link_attr = false;
	h->raw_match = 0;
	h->dst = D_SCHEME;
	h->dmatch = 0;
	h->dopen = false;
	h->pct = 0;
	h->ndpc = 0;
}

struct mime_html *mime_html_new(const struct mxg_mem *mem, const struct mime_html_callbacks *cb,
				void *ud)
{
	struct mime_html *h;

	if (!mem)
		mem = mxg_mem_default();
	h = mxg_calloc(mem, 1, sizeof(*h));
	if (!h)
		return NULL;
	h->mem = mem;
	if (cb)
		h->cb = *cb;
	h->ud = ud;
	return h;
}

void mime_html_free(struct mime_html *h)
{
	if (h)
		mxg_free(h->mem, h);
}
