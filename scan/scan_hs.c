/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_hs.c - compiling, serialising and deserialising Hyperscan
 * databases with per-expression rejection (see scan_hs.h).
 *
 * Retry strategy: a syntax pass with hs_expression_ext_info() per
 * expression (microseconds each) removes what cannot parse; the multi
 * compile then reports at most the odd resource-limit failure, one per
 * attempt; after 16 such retries the remaining expressions are compiled one
 * by one to find the culprits, so the worst case stays bounded.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mxg_err.h"
#include "scan_hs.h"

static void fill_ext(const struct scan_hs_expr *e, hs_expr_ext_t *x)
{
	memset(x, 0, sizeof(*x));
	if (e->min_off) {
		x->flags |= HS_EXT_FLAG_MIN_OFFSET;
		x->min_offset = e->min_off;
	}
	if (e->max_off) {
		x->flags |= HS_EXT_FLAG_MAX_OFFSET;
		x->max_offset = e->max_off;
	}
}

static hs_error_t compile_set(const struct scan_hs_expr *ex, const size_t *idx, size_t n,
			      unsigned int mode, hs_database_t **db, hs_compile_error_t **err)
{
	const char **exprs = calloc(n, sizeof(*exprs));
	unsigned int *flags = calloc(n, sizeof(*flags)), *ids = calloc(n, sizeof(*ids));
	hs_expr_ext_t *ext = calloc(n, sizeof(*ext));
	const hs_expr_ext_t **extp = calloc(n, sizeof(*extp));
	hs_error_t r = HS_NOMEM;
	size_t i;

	*err = NULL;
	if (!exprs || !flags || !ids || !ext || !extp)
		goto out;
	for (i = 0; i < n; i++) {
		const struct scan_hs_expr *e = &ex[idx[i]];

		exprs[i] = e->expr;
		flags[i] = e->flags;
		ids[i] = e->id;
		fill_ext(e, &ext[i]);
		extp[i] = &ext[i];
	}
	r = hs_compile_ext_multi(exprs, flags, ids, extp, (unsigned int)n, mode, NULL, db, err);
out:
	free(exprs);
	free(flags);
	free(ids);
	free(ext);
	free(extp);
	return r;
}

int scan_hs_compile(const struct scan_hs_expr *ex, size_t n, unsigned int mode,
		    scan_hs_reject_fn *cb, void *ud, hs_database_t **db)
{
	size_t *idx, m = 0, i, tries = 0;
	hs_compile_error_t *err;
	int rc = 0;

	*db = NULL;
	if (n == 0)
		return 0;
	idx = calloc(n, sizeof(*idx));
	if (!idx)
		return MXG_E_NOMEM;
	for (i = 0; i < n; i++) {
		hs_expr_info_t *info = NULL;
		hs_expr_ext_t x;

		fill_ext(&ex[i], &x);
		if (hs_expression_ext_info(ex[i].expr, ex[i].flags, &x, &info, &err) !=
		    HS_SUCCESS) {
			if (cb)
				cb(i, err ? err->message : "invalid expression", ud);
			hs_free_compile_error(err);
			continue;
		}
		free(info);
		idx[m++] = i;
	}
	while (m > 0) {
		hs_error_t r = compile_set(ex, idx, m, mode, db, &err);

		if (r == HS_SUCCESS)
			break;
		if (r == HS_NOMEM) {
			rc = MXG_E_NOMEM;
			hs_free_compile_error(err);
			break;
		}
		if (err && err->expression >= 0 && (size_t)err->expression < m && tries < 16) {
			size_t bad = (size_t)err->expression;

			if (cb)
				cb(idx[bad], err->message, ud);
			memmove(&idx[bad], &idx[bad + 1], (m - bad - 1) * sizeof(*idx));
			m--;
			tries++;
		} else {
			/* Whole-set failure or too many retries: find culprits one by one. */
			size_t k = 0;

			for (i = 0; i < m; i++) {
				hs_database_t *one = NULL;
				hs_compile_error_t *e1 = NULL;

				if (compile_set(ex, &idx[i], 1, mode, &one, &e1) == HS_SUCCESS) {
					idx[k++] = idx[i];
					hs_free_database(one);
				} else if (cb) {
					cb(idx[i], e1 ? e1->message : "rejected", ud);
				}
				hs_free_compile_error(e1);
			}
			if (k == m) { /* each compiles alone, not together */
				if (cb)
					cb(idx[0], err ? err->message : "set rejected", ud);
				k = 0;
			}
			m = k;
			tries = 0;
		}
		hs_free_compile_error(err);
	}
	free(idx);
	return rc;
}

int scan_hs_serialize(const hs_database_t *db, char **buf, size_t *len)
{
	return hs_serialize_database(db, buf, len) == HS_SUCCESS ? 0 : MXG_E_NOMEM;
}

int scan_hs_deserialize(const char *buf, size_t len, hs_database_t **db)
{
	hs_error_t r = hs_deserialize_database(buf, len, db);

	if (r == HS_SUCCESS)
		return 0;
	return r == HS_NOMEM ? MXG_E_NOMEM : MXG_E_INVAL;
}

int scan_hs_roundtrip(hs_database_t **db)
{
	hs_database_t *n = NULL;
	char *buf;
	size_t len;
	int rc;

	if (!*db)
		return 0;
	rc = scan_hs_serialize(*db, &buf, &len);
	if (rc)
		return rc;
	rc = scan_hs_deserialize(buf, len, &n);
	free(buf);
	if (rc)
		return rc;
	hs_free_database(*db);
	*db = n;
	return 0;
}
