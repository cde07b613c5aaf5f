/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_test.h - helpers shared by the smtp unit tests: a failing allocator
 * (fail the n-th allocation, as nghttp2's failmalloc test does), escape
 * decoding for readable test text, and a growable byte string.
 */
#ifndef SMTP_TEST_H
#define SMTP_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxg_mem.h"

struct failmem {
	struct mxg_mem mem;
	long fail_at;            /* 1-based allocation to fail, 0: never */
	long count;              /* allocations so far */
	long failed;             /* failures returned */
};

static void *fm_malloc(size_t n, void *ud)
{
	struct failmem *f = ud;

	if (++f->count == f->fail_at) {
		f->failed++;
		return NULL;
	}
	return malloc(n);
}

static void *fm_calloc(size_t n, size_t sz, void *ud)
{
	struct failmem *f = ud;

	if (++f->count == f->fail_at) {
		f->failed++;
		return NULL;
	}
	return calloc(n, sz);
}

static void *fm_realloc(void *p, size_t n, void *ud)
{
	struct failmem *f = ud;

	if (++f->count == f->fail_at) {
		f->failed++;
		return NULL;
	}
	return realloc(p, n);
}

static void fm_free(void *p, void *ud)
{
	(void)ud;
	free(p);
}

static inline void failmem_init(struct failmem *f, long fail_at)
{
	memset(f, 0, sizeof(*f));
	f->mem.ud = f;
	f->mem.malloc = fm_malloc;
	f->mem.calloc = fm_calloc;
	f->mem.realloc = fm_realloc;
	f->mem.free = fm_free;
	f->fail_at = fail_at;
}

struct bstr {
	char *p;
	size_t len, cap;
};

static inline void bstr_add(struct bstr *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static inline void bstr_adds(struct bstr *b, const char *s) { bstr_add(b, s, strlen(s)); }
static inline void bstr_reset(struct bstr *b) { b->len = 0; if (b->p) b->p[0] = '\0'; }
static inline void bstr_free(struct bstr *b) { free(b->p); memset(b, 0, sizeof(*b)); }

static inline int hexdig(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Appends |s| with C escapes decoded: \r \n \t \0 \\ \xHH. */
static inline void bstr_add_esc(struct bstr *b, const char *s)
{
	for (; *s; s++) {
		char c = *s;

		if (c == '\\' && s[1]) {
			s++;
			switch (*s) {
			case 'r': c = '\r'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '0': c = '\0'; break;
			case '\\': c = '\\'; break;
			case 'x':
				if (hexdig(s[1]) >= 0 && hexdig(s[2]) >= 0) {
					c = (char)(hexdig(s[1]) * 16 + hexdig(s[2]));
					s += 2;
				}
				break;
			default: c = *s; break;
			}
		}
		bstr_add(b, &c, 1);
	}
}

/* Appends |s| as hex pairs (white space ignored). */
static inline void bstr_add_hex(struct bstr *b, const char *s)
{
	while (*s) {
		if (hexdig(s[0]) >= 0 && hexdig(s[1]) >= 0) {
			char c = (char)(hexdig(s[0]) * 16 + hexdig(s[1]));

			bstr_add(b, &c, 1);
			s += 2;
		} else {
			s++;
		}
	}
}

/* Printable rendering for failure messages. */
static inline void print_esc(FILE *f, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r')
			fputs("\\r", f);
		else if (c == '\n')
			fputs("\\n\n", f);
		else if (c < 32 || c > 126)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

#endif
