/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_test.h - helpers shared by the scan unit tests: a failing allocator,
 * an event trace (text) of a parse, file loading and chunked feeding.
 */
#ifndef MXG_TEST_SCAN_TEST_H
#define MXG_TEST_SCAN_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mime.h"
#include "mxg_mem.h"

/* An allocator that fails the |fail_at|-th allocation (1-based; 0 never)
 * and counts live blocks. */
struct failmem {
	struct mxg_mem mem;
	unsigned long n;        /* allocations attempted */
	unsigned long fail_at;  /* which one fails */
	long live;              /* blocks not freed */
};
void failmem_init(struct failmem *f, unsigned long fail_at);

/* A growable string. */
struct sbuf {
	char *p;
	size_t n, cap;
};
void sbuf_add(struct sbuf *b, const void *d, size_t n);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_free(struct sbuf *b);

/* Container decoder tests: the members of one expansion as
 * "name:bytes<sep>name:bytes<sep>..." in |list|. */
struct scan_archive_result;
struct arch_got {
	struct sbuf list;
	unsigned begins, ends;
	const char *sep;
};
/* Expands |p| as file |name| with the default limits; asserts that the
 * call succeeds and that every begun member ended. */
void got_expand(const void *p, size_t n, const char *name, const char *sep, struct arch_got *g,
		struct scan_archive_result *res);

/* Chunking modes of trace_parse(). */
enum feed_mode {
	FEED_WHOLE = 0,  /* one call */
	FEED_BYTE,       /* one byte per call */
	FEED_SPLIT,      /* two calls split at |split| */
};

/* Parses |msg| with |lim| (NULL: defaults), chunked as |mode|, and returns
 * the normalised event trace in |out| (consecutive body chunks of a part
 * joined). |mem| may be NULL. Returns the parser's final return code. */
int trace_parse(const uint8_t *msg, size_t len, enum feed_mode mode, size_t split,
		const struct mime_limits *lim, const struct mxg_mem *mem, struct sbuf *out);

/* Reads a whole file (NUL-terminated, *len without it); NULL on error. */
uint8_t *load_file(const char *path, size_t *len);

/* ClamAV's test files, stored XOR-obfuscated in the shared corpus
 * (CLAMAV_XOR_DIR/NAME.xor): clamav_xor() decodes in place (the key
 * repeats from offset 0), load_clamav_xor() reads and decodes NAME; NULL
 * when absent (the corpus is optional: callers skip). */
#define CLAMAV_XOR_DIR CORPUS_DIR "/virus/clamav-unit-tests/clamav_hdb_scanfiles"
void clamav_xor(uint8_t *p, size_t n);
uint8_t *load_clamav_xor(const char *name, size_t *len);

#endif
