/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mxg_mem.h - the allocator handed to every *_new().
 *
 * Engines never call malloc directly: they take a const struct mxg_mem * at
 * create time (like nghttp2_mem). The dataplane passes per-lcore allocators,
 * tests pass one that fails the n-th allocation (tests/unit/common/failmem.h).
 * A NULL mxg_mem means mxg_mem_default() (libc).
 */
#ifndef MXG_MEM_H
#define MXG_MEM_H

#include <stddef.h>

struct mxg_mem {
	void *ud;                                                /* allocator state */
	void *(*malloc)(size_t size, void *ud);                  /* NULL on failure */
	void *(*calloc)(size_t n, size_t size, void *ud);        /* zeroed, NULL on failure */
	void *(*realloc)(void *p, size_t size, void *ud);        /* NULL on failure, p kept */
	void (*free)(void *p, void *ud);                         /* p may be NULL */
};

/* The libc allocator. Never NULL. */
const struct mxg_mem *mxg_mem_default(void);

static inline void *mxg_malloc(const struct mxg_mem *m, size_t n)
{
	return m->malloc(n, m->ud);
}
static inline void *mxg_calloc(const struct mxg_mem *m, size_t n, size_t sz)
{
	return m->calloc(n, sz, m->ud);
}
static inline void *mxg_realloc(const struct mxg_mem *m, void *p, size_t n)
{
	return m->realloc(p, n, m->ud);
}
static inline void mxg_free(const struct mxg_mem *m, void *p)
{
	m->free(p, m->ud);
}

#endif
