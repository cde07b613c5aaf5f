/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_sig_ldb.c - logical expressions of ClamAV .ldb signatures.
 *
 * Grammar (ClamAV LogicalSignatures.md; & binds tighter than |, which the
 * manual leaves open and real signatures parenthesise anyway):
 *
 *	expr    := and ('|' and)*
 *	and     := unary ('&' unary)*
 *	unary   := primary [('=' | '>' | '<') X [',' Y]]
 *	primary := SUBSIG-INDEX | '(' expr ')'
 *
 * Evaluation at end of file from per-subsignature match counts: a node has
 * a truth value, a match count (sum over its subsignatures) and a number of
 * distinct subsignatures matched. Without modifier, a subsignature is true
 * when it matched; & and | combine truth values. With a modifier the node
 * is true when count =, > or < X and, given Y, at least Y distinct
 * subsignatures matched ("A=0" is negation).
 *
 * Bounds: SIG_MAX_NODES nodes, nesting depth 32 (parse recursion).
 */
#include <string.h>

#include "scan_sig_int.h"

struct lxp {
	const char *p, *end;
	struct lx_node *nodes;
	uint16_t n, cap;
	int maxsub;
	int depth;
	const char *why;
};

static int lx_or(struct lxp *x);

static int node(struct lxp *x)
{
	if (x->n >= x->cap) {
		x->why = "expression too large";
		return -1;
	}
	memset(&x->nodes[x->n], 0, sizeof(x->nodes[0]));
	return x->n++;
}

static bool num(struct lxp *x, uint32_t *v)
{
	uint64_t a = 0;
	const char *s = x->p;

	while (x->p < x->end && *x->p >= '0' && *x->p <= '9') {
		a = a * 10 + (uint64_t)(*x->p - '0');
		if (a > 1000000) {
			x->why = "number too large";
			return false;
		}
		x->p++;
	}
	if (x->p == s) {
		x->why = "number expected";
		return false;
	}
	*v = (uint32_t)a;
	return true;
}

static int lx_unary(struct lxp *x)
{
	int r;

	if (x->p >= x->end) {
		x->why = "unexpected end of expression";
		return -1;
	}
	if (*x->p == '(') {
		if (++x->depth > 32) {
			x->why = "expression nested too deep";
			return -1;
		}
		x->p++;
		r = lx_or(x);
		if (r < 0)
			return -1;
		if (x->p >= x->end || *x->p != ')') {
			x->why = "missing ')'";
			return -1;
		}
		x->p++;
		x->depth--;
	} else {
		uint32_t v;

		if (!num(x, &v))
			return -1;
		if (v >= SIG_MAX_SUBS) {
			x->why = "subsignature index over 63";
			return -1;
		}
		r = node(x);
		if (r < 0)
			return -1;
		x->nodes[r].op = LX_SUB;
		x->nodes[r].sub = (uint16_t)v;
		if ((int)v > x->maxsub)
			x->maxsub = (int)v;
	}
	if (x->p < x->end && (*x->p == '=' || *x->p == '>' || *x->p == '<')) {
		struct lx_node *nd = &x->nodes[r];
		char c = *x->p++;

		if (nd->cmp != LX_NONE) {
			int w = node(x);

			/* "(A>1)=0": wrap in a one-child OR so each node has one modifier. */
			if (w < 0)
				return -1;
			x->nodes[w].op = LX_OR;
			x->nodes[w].a = x->nodes[w].b = (uint16_t)r;
			r = w;
			nd = &x->nodes[r];
		}
		nd->cmp = c == '=' ? LX_EQ : c == '>' ? LX_GT : LX_LT;
		if (!num(x, &nd->x))
			return -1;
		if (x->p < x->end && *x->p == ',') {
			x->p++;
			if (!num(x, &nd->y))
				return -1;
		}
	}
	return r;
}

static int lx_bin(struct lxp *x, char opc, enum lx_op op, int (*sub)(struct lxp *))
{
	int l = sub(x), r, n;

	while (l >= 0 && x->p < x->end && *x->p == opc) {
		x->p++;
		r = sub(x);
		if (r < 0)
			return -1;
		n = node(x);
		if (n < 0)
			return -1;
		x->nodes[n].op = (uint8_t)op;
		x->nodes[n].a = (uint16_t)l;
		x->nodes[n].b = (uint16_t)r;
		l = n;
	}
	return l;
}

static int lx_and(struct lxp *x)
{
	return lx_bin(x, '&', LX_AND, lx_unary);
}

static int lx_or(struct lxp *x)
{
	return lx_bin(x, '|', LX_OR, lx_and);
}

int lx_parse(const char *expr, size_t len, struct lx_node *nodes, uint16_t cap,
	     uint16_t *nnodes, int *maxsub, const char **why)
{
	struct lxp x = { .p = expr, .end = expr + len, .nodes = nodes, .cap = cap, .maxsub = -1 };
	int r;

	r = lx_or(&x);
	if (r >= 0 && x.p != x.end) {
		x.why = "junk after expression";
		r = -1;
	}
	if (r < 0) {
		*why = x.why ? x.why : "bad expression";
		return -1;
	}
	*nnodes = x.n;
	*maxsub = x.maxsub;
	return r;
}

struct lxv {
	bool t;
	uint32_t count, distinct;
};

static struct lxv ev(const struct lx_node *nodes, uint16_t i, const uint32_t *counts, int depth)
{
	const struct lx_node *n = &nodes[i];
	struct lxv v = { false, 0, 0 }, a, b;

	if (depth > 64)
		return v;
	if (n->op == LX_SUB) {
		v.count = counts[n->sub];
		v.distinct = v.count > 0;
		v.t = v.count > 0;
	} else {
		a = ev(nodes, n->a, counts, depth + 1);
		if (n->a == n->b) {
			v = a;
		} else {
			b = ev(nodes, n->b, counts, depth + 1);
			v.count = a.count + b.count;
			v.distinct = a.distinct + b.distinct;
			v.t = n->op == LX_AND ? (a.t && b.t) : (a.t || b.t);
		}
	}
	switch (n->cmp) {
	case LX_EQ:
		v.t = v.count == n->x;
		break;
	case LX_GT:
		v.t = v.count > n->x;
		break;
	case LX_LT:
		v.t = v.count < n->x;
		break;
	default:
		return v;
	}
	if (n->y && v.distinct < n->y)
		v.t = false;
	return v;
}

bool lx_eval(const struct lx_node *nodes, uint16_t root, const uint32_t *counts)
{
	return ev(nodes, root, counts, 0).t;
}
