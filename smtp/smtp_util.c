/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_util.c - output buffer, reply formatting and small text helpers
 * shared by the SMTP server and client engines.
 *
 * Replies are formatted as "CODE[-| ]X.Y.Z text\r\n" (RFC 5321 4.2,
 * RFC 2034 enhanced status codes). Text that came from the caller or from
 * the peer goes through smtp_copy_text, which replaces CR, LF and NUL so no
 * one can inject a reply line.
 */
#include <stdio.h>

#include "smtp_int.h"

static int buf_reserve(struct smtp_buf *b, const struct mxg_mem *m, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (b->off && b->off == b->len) {
		b->off = 0;
		b->len = 0;
	}
	if (b->cap - b->len >= n)
		return 0;
	/* Compact before growing: drained bytes are dead. */
	if (b->off) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= n)
			return 0;
	}
	need = b->len + n;
	cap = b->cap ? b->cap : 512;
	while (cap < need)
		cap *= 2;
	p = mxg_realloc(m, b->p, cap);
	if (!p)
		return MXG_E_NOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int smtp_buf_append(struct smtp_buf *b, const struct mxg_mem *m, const void *p, size_t n)
{
	int rc;

	if (n == 0)
		return 0;
	rc = buf_reserve(b, m, n);
	if (rc)
		return rc;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int buf_vprintf(struct smtp_buf *b, const struct mxg_mem *m, const char *fmt, va_list ap)
{
	char tmp[1024];
	int n;

	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	if (n < 0)
		return MXG_E_INTERNAL;
	if ((size_t)n >= sizeof(tmp))
		n = sizeof(tmp) - 1; /* replies are short; truncate, never overflow */
	return smtp_buf_append(b, m, tmp, (size_t)n);
}

int smtp_buf_printf(struct smtp_buf *b, const struct mxg_mem *m, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, m, fmt, ap);
	va_end(ap);
	return rc;
}

int smtp_buf_reply(struct smtp_buf *b, const struct mxg_mem *m, int code, char sep,
		   const char *enh, const char *fmt, ...)
{
	char line[600];
	va_list ap;
	int n;

	if (enh && *enh)
		n = snprintf(line, sizeof(line), "%03d%c%s ", code, sep, enh);
	else
		n = snprintf(line, sizeof(line), "%03d%c", code, sep);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\r';
	line[n++] = '\n';
	return smtp_buf_append(b, m, line, (size_t)n);
}

void smtp_buf_consume(struct smtp_buf *b, size_t n)
{
	size_t pend = b->len - b->off;

	if (n > pend)
		n = pend;
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

void smtp_buf_free(struct smtp_buf *b, const struct mxg_mem *m)
{
	mxg_free(m, b->p);
	b->p = NULL;
	b->off = b->len = b->cap = 0;
}

bool smtp_kw_eq(const char *p, size_t n, const char *kw)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char a = p[i], k = kw[i];

		if (k == '\0')
			return false;
		if (a >= 'a' && a <= 'z')
			a = (char)(a - 32);
		if (k >= 'a' && k <= 'z')
			k = (char)(k - 32);
		if (a != k)
			return false;
	}
	return kw[n] == '\0';
}

int smtp_parse_u64(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 20)
		return MXG_E_INVAL;
	for (i = 0; i < n; i++) {
		unsigned d;

		if (p[i] < '0' || p[i] > '9')
			return MXG_E_INVAL;
		d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return MXG_E_RANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

void smtp_copy_text(char *dst, size_t cap, const char *p, size_t n)
{
	size_t i;

	if (cap == 0)
		return;
	if (n >= cap)
		n = cap - 1;
	for (i = 0; i < n; i++) {
		char c = p[i];

		dst[i] = (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
	}
	dst[n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1; /* RFC 3461: upper-case hex only */
}

bool smtp_xtext_valid(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '+') {
			if (i + 2 >= n || hexval(p[i + 1]) < 0 || hexval(p[i + 2]) < 0)
				return false;
			i += 2;
			continue;
		}
		if (c < 33 || c > 126 || c == '=')
			return false;
	}
	return true;
}

const char *smtp_anomaly_name(enum smtp_anomaly a)
{
	static const char *const names[SMTP_ANOM_MAX] = {
		[SMTP_ANOM_BARE_LF] = "bare_lf",
		[SMTP_ANOM_BARE_CR] = "bare_cr",
		[SMTP_ANOM_NUL] = "nul",
		[SMTP_ANOM_LINE_TOO_LONG] = "line_too_long",
		[SMTP_ANOM_8BIT] = "8bit",
		[SMTP_ANOM_EARLY_TALKER] = "early_talker",
		[SMTP_ANOM_PIPELINING] = "pipelining",
		[SMTP_ANOM_TLS_INJECT] = "tls_inject",
		[SMTP_ANOM_PROXY_INVALID] = "proxy_invalid",
		[SMTP_ANOM_BAD_COMMAND] = "bad_command",
	};

	if ((unsigned)a >= SMTP_ANOM_MAX)
		return "unknown";
	return names[a];
}
