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

struct scan_archive_result;
/* Container decoder tests: every member of one expansion, one by one.
 * The first ARCH_MEMBERS_MAX members are kept (nested members are told
 * apart: data and flags go to the member begun last and not yet ended);
 * the counts and totals cover all of them. */
#define ARCH_MEMBERS_MAX 16
struct arch_member {
	char name[128];
	struct sbuf data;      /* every byte delivered */
	uint32_t flags;        /* SCAN_AMF_* at its end */
	int64_t declared;      /* declared_size at its begin */
};
struct arch_members {
	struct arch_member m[ARCH_MEMBERS_MAX];
	unsigned begins, ends;
	uint32_t flags;        /* all members' flags ORed */
	uint64_t bytes;        /* all members' data bytes */
	struct sbuf list;      /* made by members_list() */
	unsigned open[32];     /* members begun and not ended (internal) */
	unsigned depth;
};
struct scan_archive_limits;
/* Expands |p| as file |name| with |lim| (NULL: the defaults); asserts that
 * the call succeeds and that every begun member ended. */
void members_expand(const void *p, size_t n, const char *name,
		    const struct scan_archive_limits *lim, struct arch_members *g,
		    struct scan_archive_result *res);
void members_free(struct arch_members *g);
/* Member |i| was kept, is named |name| and holds exactly |d|, |n| bytes. */
bool members_is(const struct arch_members *g, unsigned i, const char *name, const void *d,
		size_t n);
/* The index of the first kept member named |name|; -1 when none. */
int members_find(const struct arch_members *g, const char *name);
/* Expands |p| as file |name|: asserts a CORRUPT verdict with the error
 * |err|, one decode error and |bytes| data bytes delivered in all. */
void members_corrupt(const void *p, size_t n, const char *name, const char *err,
		     uint64_t bytes);
/* Expands |p| as file |name| with |lim|: asserts the verdict BOMB by the
 * per-member byte limit, exactly lim->max_member_bytes delivered in all
 * and the cut member flagged TRUNCATED. */
void members_cut(const void *p, size_t n, const char *name,
		 const struct scan_archive_limits *lim);
/* All members as "name:bytes<sep>name:bytes<sep>..." (asserts that all
 * were kept); valid until the next call or members_free(). */
const char *members_list(struct arch_members *g, const char *sep);

/* Little-endian stores into |p|. */
void put_le16(uint8_t *p, unsigned v);
void put_le32(uint8_t *p, uint32_t v);
void put_le64(uint8_t *p, uint64_t v);

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
