/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mime_decode.c - streaming transfer decoders: base64, quoted-printable,
 * uuencode (RFC 2045 6.7/6.8, POSIX uuencode).
 *
 * All three are written for hostile input: state lives in a caller-owned
 * struct, output is bounded by the input size plus a small constant, and bad
 * input is counted and skipped, never fatal.
 *
 * Decisions (what Thunderbird and Outlook show, which is what we must scan):
 *  - base64: whitespace is silently skipped; any other non-alphabet byte is
 *    skipped and counted (Thunderbird skips junk too). After '=' padding a
 *    new quantum may start: concatenated base64 blobs decode as their
 *    concatenation instead of stopping at the first '=' (a stop would let a
 *    payload hide after a padded decoy).
 *  - QP: "=XY" with hex digits in either case decodes; "=" followed by
 *    anything else is emitted literally and counted; whitespace before a
 *    line end is transport padding and dropped; "=" + optional whitespace +
 *    line end is a soft break. CRLF and LF line ends are kept as they came.
 *  - uuencode: the length character of each line is trusted only up to the
 *    characters actually present (short lines decode what they hold and
 *    count an error); lines longer than MIME_UU_LINE_MAX are counted and
 *    dropped. The zero-length line ("`") ends the data as uudecode reads
 *    it: the line after it should be "end"; another is counted and dropped.
 */
#include <string.h>

#include "mime_codec.h"

/* 0..63 for the alphabet, 64 for whitespace, 65 for '=', 66 for junk. */
static const uint8_t b64_tab[256] = {
#define J 66
	J, J, J, J, J, J, J, J, J, 64, 64, J, J, 64, J, J,
	J, J, J, J, J, J, J, J, J, J, J, J, J, J, J, J,
	64, J, J, J, J, J, J, J, J, J, J, 62, J, J, J, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, J, J, J, 65, J, J,
	J, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, J, J, J, J, J,
	J, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, J, J, J, J, J,
	J, J, J, J, J, J, J, J, J, J, J, J, J, J, J, J,
	J, J, J, J, J, J, J, J, J, J, J, J, J, J, J, J,
	J, J, J, J, J, J, J, J, J, J, J, J, J, J, J, J,
	J, J, J, J, J, J, J, J, J, J, J, J, J, J, J, J,
	J, J, J, J, J, J, J, J, J, J, J, J, J, J, J, J,
	J, J, J, J, J, J, J, J, J, J, J, J, J, J, J, J,
	J, J, J, J, J, J, J, J, J, J, J, J, J, J, J, J,
	J, J, J, J, J, J, J, J, J, J, J, J, J, J, J, J,
#undef J
};

/* Flushes a quantum ended by padding or the end of input. */
static size_t b64_flush(struct mime_b64 *st, uint8_t *out)
{
	size_t o = 0;

	switch (st->n) {
	case 0:
		break;
	case 1: /* 6 bits cannot make a byte */
		st->errors++;
		break;
	case 2:
		out[o++] = (uint8_t)(st->acc >> 4);
		break;
	case 3:
		out[o++] = (uint8_t)(st->acc >> 10);
		out[o++] = (uint8_t)(st->acc >> 2);
		break;
	}
	st->acc = 0;
	st->n = 0;
	return o;
}

size_t mime_b64_decode(struct mime_b64 *st, const uint8_t *in, size_t len, uint8_t *out)
{
	size_t o = 0;
	uint32_t acc = st->acc;
	unsigned n = st->n;
	size_t i = 0;

	/* Fast path: whole aligned quanta of four alphabet bytes. */
	while (i < len) {
		if (n == 0 && !st->pad) {
			while (i + 4 <= len) {
				uint8_t a = b64_tab[in[i]], b = b64_tab[in[i + 1]];
				uint8_t c = b64_tab[in[i + 2]], d = b64_tab[in[i + 3]];

				if ((a | b | c | d) & 0xc0)
					break;
				acc = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | d;
				out[o++] = (uint8_t)(acc >> 16);
				out[o++] = (uint8_t)(acc >> 8);
				out[o++] = (uint8_t)acc;
				i += 4;
			}
			acc = 0;
			if (i >= len)
				break;
		}
		uint8_t v = b64_tab[in[i++]];

		if (v < 64) {
			if (st->pad) {
				/* Data after padding: a new blob starts. */
				st->pad = 0;
			}
			acc = acc << 6 | v;
			if (++n == 4) {
				out[o++] = (uint8_t)(acc >> 16);
				out[o++] = (uint8_t)(acc >> 8);
				out[o++] = (uint8_t)acc;
				acc = 0;
				n = 0;
			}
		} else if (v == 64) {
			continue;
		} else if (v == 65) {
			if (!st->pad && n >= 2) {
				st->acc = acc;
				st->n = (uint8_t)n;
				o += b64_flush(st, out + o);
				acc = 0;
				n = 0;
			} else if (!st->pad && n < 2) {
				if (n == 1)
					st->errors++;
				acc = 0;
				n = 0;
			}
			st->pad = 1;
		} else {
			st->errors++;
		}
	}
	st->acc = acc;
	st->n = (uint8_t)n;
	return o;
}

size_t mime_b64_finish(struct mime_b64 *st, uint8_t *out)
{
	size_t o;

	if (st->n == 2 || st->n == 3)
		st->errors++; /* missing padding: decoded anyway */
	o = b64_flush(st, out);
	st->pad = 0;
	return o;
}

static inline int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Bytes that end a run of plain quoted-printable text. */
static const uint8_t qp_special[256] = {
	['='] = 1, [' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1,
};

/* Emits held whitespace (it turned out not to be trailing). */
static size_t qp_flush_ws(struct mime_qp *st, uint8_t *out)
{
	size_t n = st->nws;

	memcpy(out, st->ws, n);
	st->nws = 0;
	return n;
}

size_t mime_qp_decode(struct mime_qp *st, const uint8_t *in, size_t len, uint8_t *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];

		if (st->esc == 1) {
			/* After '=': hex digit, soft break, or junk. */
			if (st->esc_cr) {
				st->esc_cr = 0;
				st->esc = 0;
				if (c == '\n') {
					st->nws = 0;
					continue; /* "=\r\n": soft break */
				}
				/* "=\r" + other: keep literally */
				st->errors++;
				out[o++] = '=';
				o += qp_flush_ws(st, out + o);
				out[o++] = '\r';
				i--;
				continue;
			}
			if (hexval(c) >= 0) {
				st->hex = c;
				st->esc = 2;
				continue;
			}
			if (c == '\n') {
				st->esc = 0;
				st->nws = 0;
				continue; /* soft break (LF) */
			}
			if (c == '\r') {
				st->esc_cr = 1;
				continue;
			}
			if (c == ' ' || c == '\t') {
				/* "=  \n" is a soft break with padding: hold. */
				if (st->nws < MIME_QP_WS_MAX) {
					st->ws[st->nws++] = c;
					continue;
				}
			}
			/* '=' then junk: literal. */
			st->errors++;
			st->esc = 0;
			out[o++] = '=';
			o += qp_flush_ws(st, out + o);
			i--;
			continue;
		}
		if (st->esc == 2) {
			int h = hexval(st->hex), l = hexval(c);

			st->esc = 0;
			if (l >= 0) {
				out[o++] = (uint8_t)(h << 4 | l);
				continue;
			}
			st->errors++;
			out[o++] = '=';
			out[o++] = st->hex;
			i--;
			continue;
		}
		if (st->cr) {
			st->cr = 0;
			if (c == '\n') {
				st->nws = 0; /* trailing whitespace dropped */
				out[o++] = '\r';
				out[o++] = '\n';
				continue;
			}
			o += qp_flush_ws(st, out + o);
			out[o++] = '\r';
		}
		switch (c) {
		case '=':
			o += qp_flush_ws(st, out + o);
			/* "=XX" whole in this chunk (the common case, often
			 * several in a row: encoded UTF-8) decodes here; a split
			 * or damaged one goes through the states above */
			while (i + 2 < len && in[i] == '=') {
				int h = hexval(in[i + 1]), l = hexval(in[i + 2]);

				if (h < 0 || l < 0)
					break;
				out[o++] = (uint8_t)(h << 4 | l);
				i += 3;
			}
			if (i < len && in[i] == '=') {
				st->esc = 1;
			} else {
				i--; /* the byte after the last "=XX": its own turn */
			}
			break;
		case ' ':
		case '\t':
			if (st->nws == MIME_QP_WS_MAX)
				o += qp_flush_ws(st, out + o);
			st->ws[st->nws++] = c;
			break;
		case '\r':
			st->cr = 1;
			break;
		case '\n':
			st->nws = 0;
			out[o++] = '\n';
			break;
		default: {
			/* Copy a run of plain bytes at once. A blank with a
			 * plain byte behind it cannot be trailing whitespace:
			 * it stays in the run (words are not split). */
			size_t j = i + 1;

			o += qp_flush_ws(st, out + o);
			while (j < len) {
				if (!qp_special[in[j]]) {
					j++;
				} else if ((in[j] == ' ' || in[j] == '\t') && j + 1 < len &&
					   !qp_special[in[j + 1]]) {
					j += 2;
				} else {
					break;
				}
			}
			memcpy(out + o, in + i, j - i);
			o += j - i;
			i = j - 1;
			break;
		}
		}
	}
	return o;
}

size_t mime_qp_finish(struct mime_qp *st, uint8_t *out)
{
	size_t o = 0;

	if (st->esc == 2) {
		st->errors++;
		out[o++] = '=';
		out[o++] = st->hex;
	} else if (st->esc == 1 && st->esc_cr) {
		/* "=\r" at the very end: a soft break. */
	}
	if (st->cr)
		out[o++] = '\r';
	/* '=' at the end, and trailing whitespace: dropped. */
	st->esc = 0;
	st->esc_cr = 0;
	st->cr = 0;
	st->nws = 0;
	return o;
}

#define UU_DEC(c) ((uint8_t)(((c) - ' ') & 0x3f))

bool mime_uu_is_begin(const uint8_t *line, size_t len, char *name, size_t name_cap)
{
	size_t i = 6, m = 0, k = 0;

	if (len < 8 || memcmp(line, "begin ", 6) != 0)
		return false;
	while (i < len && line[i] >= '0' && line[i] <= '7' && m < 6) {
		i++;
		m++;
	}
	if (m < 3 || m > 4 || i >= len || line[i] != ' ')
		return false;
	while (i < len && line[i] == ' ')
		i++;
	if (i >= len)
		return false;
	while (len > i && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (name_cap) {
		for (; i < len && k + 1 < name_cap; i++)
			name[k++] = (char)line[i];
		name[k] = '\0';
	}
	return true;
}

/* Decodes one data line (no line end). Returns bytes written. */
static size_t uu_line(struct mime_uu *st, const uint8_t *l, size_t n, uint8_t *out)
{
	size_t o = 0, want, have, i;

	while (n && (l[n - 1] == '\r' || l[n - 1] == '\n'))
		n--;
	if (st->state == MIME_UU_SEARCH) {
		if (mime_uu_is_begin(l, n, st->name, sizeof(st->name)))
			st->state = MIME_UU_DATA;
		return 0;
	}
	if (st->state == MIME_UU_DONE)
		return 0;
	if (n >= 3 && memcmp(l, "end", 3) == 0 && (n == 3 || l[3] == ' ' || l[3] == '\t')) {
		st->state = MIME_UU_DONE;
		return 0;
	}
	if (st->state == MIME_UU_END) {
		st->state = MIME_UU_DONE; /* not "end" (a truncated one?) */
		st->errors++;
		return 0;
	}
	if (n == 0)
		return 0; /* blank lines are tolerated */
	want = UU_DEC(l[0]);
	if (want == 0) {
		/* "`" or " ": the zero-length last line ends the data, as
		 * uudecode reads it; the next line is "end", or is counted
		 * and dropped (a truncated "e" decoded as junk bytes before) */
		st->state = MIME_UU_END;
		return 0;
	}
	have = ((n - 1) / 4) * 3;
	if (have < want) {
		/* A short line (trailing spaces stripped by a mailer): decode
		 * what there is, padding with zero sextets. */
		if ((n - 1 + 3) / 4 * 3 < want)
			st->errors++;
	}
	for (i = 1; o < want; i += 4) {
		uint8_t c[4];

		for (int k = 0; k < 4; k++)
			c[k] = (i + k < n) ? UU_DEC(l[i + k]) : 0;
		out[o++] = (uint8_t)(c[0] << 2 | c[1] >> 4);
		if (o < want)
			out[o++] = (uint8_t)(c[1] << 4 | c[2] >> 2);
		if (o < want)
			out[o++] = (uint8_t)(c[2] << 6 | c[3]);
	}
	return o;
}

size_t mime_uu_decode(struct mime_uu *st, const uint8_t *in, size_t len, uint8_t *out)
{
	size_t o = 0;

	while (len) {
		const uint8_t *q = memchr(in, '\n', len);
		size_t n = q ? (size_t)(q - in) : len;

		if (st->overflow) {
			/* Skipping the rest of an over-long line. */
		} else if (st->nline + n > MIME_UU_LINE_MAX) {
			st->overflow = true;
			if (st->state == MIME_UU_DATA)
				st->errors++;
		} else if (q && st->nline == 0) {
			o += uu_line(st, in, n, out + o); /* whole line in place */
		} else {
			memcpy(st->line + st->nline, in, n);
			st->nline += (uint16_t)n;
			if (q) {
				o += uu_line(st, st->line, st->nline, out + o);
				st->nline = 0;
			}
		}
		if (!q)
			break;
		if (st->overflow) {
			st->overflow = false;
			st->nline = 0;
		}
		in = q + 1;
		len -= n + 1;
	}
	return o;
}

size_t mime_uu_finish(struct mime_uu *st, uint8_t *out)
{
	size_t o = 0;

	if (st->nline && !st->overflow)
		o = uu_line(st, st->line, st->nline, out);
	st->nline = 0;
	st->overflow = false;
	if (st->state == MIME_UU_DATA || st->state == MIME_UU_END)
		st->errors++; /* no "end" line */
	return o;
}
