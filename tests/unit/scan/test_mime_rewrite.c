/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_mime_rewrite.c - the message rewriter (scan/mime_rewrite.c).
 *
 * 1. Paths: for hand-written messages (mixed with attachments, alternative
 *    inside mixed, message/rfc822 plain and base64, digest, missing close
 *    delimiter, preamble/epilogue, LF-only, junk and folded headers) and for
 *    every file of ../shared/corpus (mime/ and spam-ham/), the parts the
 *    rewriter walks must be the parts a real scan session reports
 *    (struct scan_part: same paths, same order, leaf or not), and the
 *    streaming parser's PART_BEGIN events agree too.
 * 2. Byte-exact rewrites of the hand cases against expected output.
 * 3. Subject tags: plain, folded, RFC 2047 encoded, already tagged, no
 *    Subject, non-ASCII tags; applying twice changes nothing more.
 * 4. Prepended fields: folding at 78 columns, RFC 2047 round trip, bad names.
 * 5. Every part of every corpus message stripped alone: the real parser
 *    must see the same parts minus the stripped one's inside, the stripped
 *    one as text/plain, and nothing changed outside the replaced range.
 * The corpus tests skip with a message when ../shared is absent
 * (MXG_CORPUS overrides its location).
 */
#include <ftw.h>
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
#include "mime_rewrite.h"
#include "mxg_err.h"
#include "scan.h"
#include "scan_test.h"

#ifndef CORPUS_DIR
#define CORPUS_DIR "../shared/corpus"
#endif

static const char *corpus(void)
{
	const char *e = getenv("MXG_CORPUS");

	return e ? e : CORPUS_DIR;
}

/* ---- part lists ---- */

struct plist {
	char (*path)[MIME_PATH_MAX];
	int *kind;    /* enum mime_kind, or for scan parts 1 = leaf, 0 = not */
	bool *enc;
	char (*ctype)[128];
	size_t n, cap;
};

static void pl_add(struct plist *l, const char *path, int kind, bool enc, const char *ctype)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->path = realloc(l->path, l->cap * sizeof(*l->path));
		l->kind = realloc(l->kind, l->cap * sizeof(*l->kind));
		l->enc = realloc(l->enc, l->cap * sizeof(*l->enc));
		l->ctype = realloc(l->ctype, l->cap * sizeof(*l->ctype));
		assert_non_null(l->path);
		assert_non_null(l->kind);
		assert_non_null(l->enc);
		assert_non_null(l->ctype);
	}
	snprintf(l->path[l->n], MIME_PATH_MAX, "%s", path);
	snprintf(l->ctype[l->n], 128, "%s", ctype ? ctype : "");
	l->kind[l->n] = kind;
	l->enc[l->n] = enc;
	l->n++;
}

static void pl_free(struct plist *l)
{
	free(l->path);
	free(l->kind);
	free(l->enc);
	free(l->ctype);
	memset(l, 0, sizeof(*l));
}

static void on_walk(const char *path, enum mime_kind kind, bool enc, void *ud)
{
	pl_add(ud, path, (int)kind, enc, NULL);
}

static void walk_list(const uint8_t *m, size_t n, struct plist *l)
{
	assert_int_equal(mime_rewrite_walk(m, n, NULL, on_walk, l), 0);
}

/* The streaming parser's parts (uuencoded synthetic leaves left out). */
static int on_pev(struct mime_parser *p, const struct mime_event *ev, void *ud)
{
	(void)p;
	if (ev->type == MIME_EV_PART_BEGIN && !(ev->part->flags & MIME_PF_UUENCODE)) {
		bool enc = false;

		for (const struct mime_part *u = ev->part->parent; u; u = u->parent)
			if (u->flags & MIME_PF_ENCODED_MSG)
				enc = true;
		pl_add(ud, ev->part->path, (int)ev->part->kind, enc, ev->part->ctype);
	}
	return 0;
}

static void parser_list(const uint8_t *m, size_t n, struct plist *l)
{
	struct mime_callbacks cb = { .on_event = on_pev };
	struct mime_parser *p = mime_parser_new(NULL, NULL, &cb, l);

	assert_non_null(p);
	assert_int_equal(mime_parser_feed(p, m, n), 0);
	assert_int_equal(mime_parser_finish(p), 0);
	mime_parser_free(p);
}

static struct scan_engine *engine(void)
{
	static struct scan_engine *e;
	char err[256];
	struct scan_config cfg = { 0 };

	if (!e)
		e = scan_engine_build(&cfg, NULL, err, sizeof(err));
	assert_non_null(e);
	return e;
}

/* The scan session's inventory: MIME parts only (no archive members, no
 * uuencoded files); kind 1 for a leaf. */
static void scan_list(const uint8_t *m, size_t n, struct plist *l)
{
	struct scan_session *s = scan_session_new(engine(), NULL, NULL);
	const struct scan_result *r;

	assert_non_null(s);
	assert_int_equal(scan_session_feed(s, m, n), 0);
	r = scan_session_finish(s);
	for (size_t i = 0; i < r->nparts; i++) {
		const struct scan_part *p = &r->parts[i];

		if (strchr(p->path, '/') || strstr(p->path, ".u") || (p->flags & SCAN_PF_MEMBER))
			continue;
		pl_add(l, p->path, (p->flags & SCAN_PF_LEAF) ? 1 : 0, false, p->ctype);
	}
	scan_session_free(s);
}

/* Walk = parser = scan session, or a message naming |what|. */
static bool same_parts(const char *what, const uint8_t *m, size_t n, bool with_scan)
{
	struct plist w = { 0 }, p = { 0 }, s = { 0 };
	bool ok = true;

	walk_list(m, n, &w);
	parser_list(m, n, &p);
	if (w.n != p.n) {
		print_error("%s: walk %zu parts, parser %zu\n", what, w.n, p.n);
		ok = false;
	}
	for (size_t i = 0; ok && i < w.n; i++) {
		if (strcmp(w.path[i], p.path[i]) || w.kind[i] != p.kind[i] || w.enc[i] != p.enc[i]) {
			print_error("%s: part %zu walk %s/%d parser %s/%d\n", what, i, w.path[i],
				    w.kind[i], p.path[i], p.kind[i]);
			ok = false;
		}
	}
	if (ok && with_scan) {
		scan_list(m, n, &s);
		if (s.n != w.n) {
			print_error("%s: walk %zu parts, scan %zu\n", what, w.n, s.n);
			ok = false;
		}
		for (size_t i = 0; ok && i < w.n; i++) {
			if (strcmp(w.path[i], s.path[i]) ||
			    (w.kind[i] == MIME_KIND_LEAF) != (s.kind[i] == 1)) {
				print_error("%s: part %zu walk %s scan %s\n", what, i, w.path[i],
					    s.path[i]);
				ok = false;
			}
		}
	}
	pl_free(&w);
	pl_free(&p);
	pl_free(&s);
	return ok;
}

/* ---- hand-written messages ---- */

#define MIXED                                                                               \
	"From: a@example.com\r\n"                                                           \
	"To: b@example.net\r\n"                                                             \
	"Subject: report\r\n"                                                               \
	"MIME-Version: 1.0\r\n"                                                             \
	"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"                                \
	"\r\n"                                                                              \
	"This is a preamble.\r\n"                                                           \
	"--XX\r\n"                                                                          \
	"Content-Type: text/plain\r\n"                                                      \
	"\r\n"                                                                              \
	"hello\r\n"                                                                         \
	"--XX\r\n"                                                                          \
	"Content-Type: application/octet-stream; name=\"evil.exe\"\r\n"                     \
	"Content-Disposition: attachment; filename=\"evil.exe\"\r\n"                        \
	"Content-Transfer-Encoding: base64\r\n"                                             \
	"\r\n"                                                                              \
	"TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n"  \
	"--XX\r\n"                                                                          \
	"Content-Type: application/pdf; name=\"doc.pdf\"\r\n"                               \
	"Content-Transfer-Encoding: base64\r\n"                                             \
	"\r\n"                                                                              \
	"JVBERi0xLjQK\r\n"                                                                  \
	"--XX--\r\n"                                                                        \
	"epilogue\r\n"

#define NOTICE_EVIL                                                                         \
	"Content-Type: text/plain; charset=utf-8\r\n"                                       \
	"Content-Disposition: inline\r\n"                                                   \
	"Content-Transfer-Encoding: quoted-printable\r\n"                                   \
	"\r\n"                                                                              \
	"Removed: evil.exe"

static const char msg_nested[] =
	"Subject: nested\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"A\"\r\n"
	"\r\n"
	"--A\r\n"
	"Content-Type: multipart/alternative; boundary=\"B\"\r\n"
	"\r\n"
	"--B\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"text\r\n"
	"--B\r\n"
	"Content-Type: text/html\r\n"
	"\r\n"
	"<p>text</p>\r\n"
	"--B--\r\n"
	"--A\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inner\r\n"
	"Content-Type: multipart/mixed; boundary=\"C\"\r\n"
	"\r\n"
	"--C\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"inner text\r\n"
	"--C\r\n"
	"Content-Type: application/zip; name=\"x.zip\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"UEsDBAo=\r\n"
	"--C--\r\n"
	"\r\n"
	"--A\r\n"
	"Content-Type: message/rfc822\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	/* "Subject: b64\r\nContent-Type: multipart/mixed; boundary=D\r\n\r\n--D\r\n\r\nx\r\n--D--\r\n" */
	"U3ViamVjdDogYjY0DQpDb250ZW50LVR5cGU6IG11bHRpcGFydC9taXhlZDsgYm91bmRhcnk9RA0K\r\n"
	"DQotLUQNCg0KeA0KLS1ELS0NCg==\r\n"
	"--A--\r\n";

static const char msg_single[] =
	"Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	"From: a@example.com\r\n"
	"Subject: single\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: application/octet-stream;\r\n"
	"\tname=\"run.js\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"X-Other: kept\r\n"
	"\r\n"
	"YWxlcnQoMSk=\r\n";

static const char msg_noclose[] =
	"Subject: no close\r\n"
	"Content-Type: multipart/mixed; boundary=\"Z\"\r\n"
	"\r\n"
	"--Z\r\n"
	"\r\n"
	"first\r\n"
	"--Z\r\n"
	"Content-Type: application/x-msdownload; name=\"a.exe\"\r\n"
	"\r\n"
	"MZ...\r\n";

static const char msg_lf[] =
	"Subject: lf only\n"
	"Content-Type: multipart/mixed; boundary=\"L\"\n"
	"\n"
	"--L\n"
	"\n"
	"body\n"
	"--L\n"
	"Content-Type: application/octet-stream; name=\"b.bin\"\n"
	"\n"
	"xx\n"
	"--L--\n";

static const char msg_digest[] =
	"Subject: digest\r\n"
	"Content-Type: multipart/digest; boundary=\"G\"\r\n"
	"\r\n"
	"--G\r\n"
	"\r\n"
	"Subject: one\r\n"
	"\r\n"
	"1\r\n"
	"--G\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"2\r\n"
	"--G--\r\n";

/* Odd but legal-ish: junk field, header ended by a boundary, boundary with
 * suffix, outer boundary closing an inner multipart, part after close. */
static const char msg_odd[] =
	"From someone Mon Jan  1 00:00:00 2024\r\n"
	"Subject: odd\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Type: multipart/mixed; boundary=\"O\"\r\n"
	"\r\n"
	"--O\r\n"
	"Content-Type: multipart/related; boundary=\"I\"\r\n"
	"\r\n"
	"--I\r\n"
	"Content-Type: image/png\r\n"
	"--I junk\r\n"
	"\r\n"
	"png\r\n"
	"--O\r\n"
	"not a header line\r\n"
	"--O--\r\n"
	"--O\r\n"
	"Content-Type: text/plain; name=after.txt\r\n"
	"\r\n"
	"reopened\r\n";

static const char msg_nohdr[] = "just a body line\r\nand another\r\n";

struct hcase {
	const char *name;
	const char *msg;
};

static const struct hcase hcases[] = {
	{ "mixed", MIXED },        { "nested", msg_nested }, { "single", msg_single },
	{ "noclose", msg_noclose }, { "lf", msg_lf },         { "digest", msg_digest },
	{ "odd", msg_odd },        { "nohdr", msg_nohdr },   { "empty", "" },
};

static void test_paths_hand(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hcases) / sizeof(hcases[0]); i++)
		assert_true(same_parts(hcases[i].name, (const uint8_t *)hcases[i].msg,
				       strlen(hcases[i].msg), true));
}

static void test_paths_expected(void **state)
{
	struct plist w = { 0 };
	static const char *const want[] = {
		"1", "1.1", "1.1.1", "1.1.2", "1.2", "1.2.1", "1.2.1.1", "1.2.1.2",
		"1.3", "1.3.1", "1.3.1.1",
	};

	(void)state;
	walk_list((const uint8_t *)msg_nested, strlen(msg_nested), &w);
	assert_int_equal(w.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < w.n; i++)
		assert_string_equal(w.path[i], want[i]);
	assert_false(w.enc[8]);
	assert_true(w.enc[9] && w.enc[10]);
	pl_free(&w);
}

/* ---- rewrites ---- */

static char *rewrite_ok(const char *msg, const struct mime_rw *rw, size_t *n)
{
	uint8_t *out = NULL;
	char *s;
	int rc = mime_rewrite((const uint8_t *)msg, strlen(msg), rw, &out, n);

	assert_int_equal(rc, 0);
	s = malloc(*n + 1);
	assert_non_null(s);
	memcpy(s, out, *n);
	s[*n] = '\0';
	free(out);
	return s;
}

static void expect_rw(const char *msg, const struct mime_rw *rw, const char *want)
{
	size_t n;
	char *out = rewrite_ok(msg, rw, &n);

	if (n != strlen(want) || memcmp(out, want, n) != 0)
		fail_msg("rewrite differs\n--- got\n%s\n--- want\n%s", out, want);
	free(out);
}

static void test_identity(void **state)
{
	struct mime_rw none = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(hcases) / sizeof(hcases[0]); i++)
		expect_rw(hcases[i].msg, &none, hcases[i].msg);
	expect_rw(MIXED, NULL, MIXED);
}

static void test_strip_mixed(void **state)
{
	static const char *const strip[] = { "1.2" };
	struct mime_rw rw = { .strip = strip, .nstrip = 1, .notice = "Removed: %f" };
	static const char want[] =
		"From: a@example.com\r\n"
		"To: b@example.net\r\n"
		"Subject: report\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
		"\r\n"
		"This is a preamble.\r\n"
		"--XX\r\n"
		"Content-Type: text/plain\r\n"
		"\r\n"
		"hello\r\n"
		"--XX\r\n" NOTICE_EVIL "\r\n"
		"--XX\r\n"
		"Content-Type: application/pdf; name=\"doc.pdf\"\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"\r\n"
		"JVBERi0xLjQK\r\n"
		"--XX--\r\n"
		"epilogue\r\n";

	(void)state;
	expect_rw(MIXED, &rw, want);
}

static void test_strip_two_and_default_notice(void **state)
{
	static const char *const strip[] = { "1.3", "1.2" };
	struct mime_rw rw = { .strip = strip, .nstrip = 2 };
	size_t n;
	char *out = rewrite_ok(MIXED, &rw, &n);

	/* Default text, QP, the PDF name in the second notice. */
	assert_non_null(strstr(out, "The attachment \"evil.exe\" was removed"));
	assert_non_null(strstr(out, "The attachment \"doc.pdf\" was removed"));
	assert_null(strstr(out, "TVqQ"));
	assert_null(strstr(out, "JVBERi"));
	assert_true(same_parts("two", (const uint8_t *)out, n, true));
	free(out);
}

static void test_strip_nested(void **state)
{
	static const char *const s1[] = { "1.1.2" };
	static const char *const s2[] = { "1.2.1.2" };
	static const char *const s3[] = { "1.2" };
	static const char *const s4[] = { "1.3.1.1" }; /* inside a base64 message */
	static const char *const s5[] = { "1.9" };
	static const char *const s6[] = { "1.1.1.u1" };
	struct mime_rw rw = { .notice = "x" };
	const char *m = msg_nested;
	size_t n;
	char *out;
	uint8_t *o = NULL;

	(void)state;
	rw.strip = s1;
	rw.nstrip = 1;
	out = rewrite_ok(m, &rw, &n);
	assert_null(strstr(out, "<p>text</p>"));
	assert_non_null(strstr(out, "--B\r\nContent-Type: text/plain; charset=utf-8\r\n"
				    "Content-Disposition: inline\r\n"
				    "Content-Transfer-Encoding: quoted-printable\r\n\r\nx\r\n--B--"));
	assert_int_equal(n, strlen(m) - strlen("Content-Type: text/html\r\n\r\n<p>text</p>") +
				    strlen("Content-Type: text/plain; charset=utf-8\r\n"
					   "Content-Disposition: inline\r\n"
					   "Content-Transfer-Encoding: quoted-printable\r\n\r\nx"));
	free(out);

	rw.strip = s2; /* inside message/rfc822 */
	out = rewrite_ok(m, &rw, &n);
	assert_null(strstr(out, "UEsDBAo="));
	assert_non_null(strstr(out, "--C\r\nContent-Type: text/plain; charset=utf-8\r\n"));
	assert_non_null(strstr(out, "\r\n\r\nx\r\n--C--\r\n"));
	assert_true(same_parts("nested-s2", (const uint8_t *)out, n, true));
	free(out);

	rw.strip = s3; /* the message/rfc822 part as a whole */
	out = rewrite_ok(m, &rw, &n);
	assert_null(strstr(out, "inner"));
	free(out);

	rw.strip = s4;
	assert_int_equal(mime_rewrite((const uint8_t *)m, strlen(m), &rw, &o, &n), MXG_E_INVAL);
	assert_null(o);
	rw.strip = s5;
	assert_int_equal(mime_rewrite((const uint8_t *)m, strlen(m), &rw, &o, &n), MXG_E_INVAL);
	rw.strip = s6;
	assert_int_equal(mime_rewrite((const uint8_t *)m, strlen(m), &rw, &o, &n), MXG_E_INVAL);
}

static void test_strip_single(void **state)
{
	static const char *const strip[] = { "1" };
	struct mime_rw rw = { .strip = strip, .nstrip = 1, .notice = "Removed %f." };
	static const char want[] =
		"Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
		"From: a@example.com\r\n"
		"Subject: single\r\n"
		"MIME-Version: 1.0\r\n"
		"X-Other: kept\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Disposition: inline\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"Removed run.js.\r\n";
	static const char nohdr_want[] =
		"MIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Disposition: inline\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"Removed unnamed.\r\n";

	(void)state;
	expect_rw(msg_single, &rw, want);
	expect_rw(msg_nohdr, &rw, nohdr_want);
}

static void test_strip_inner_message_root(void **state)
{
	static const char *const strip[] = { "1.2.1" };
	struct mime_rw rw = { .strip = strip, .nstrip = 1, .notice = "gone" };
	size_t n;
	char *out = rewrite_ok(msg_nested, &rw, &n);

	/* The inner message keeps its Subject, loses its body. */
	assert_non_null(strstr(out, "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n"
				    "MIME-Version: 1.0\r\n"
				    "Content-Type: text/plain; charset=utf-8\r\n"));
	assert_null(strstr(out, "inner text"));
	assert_non_null(strstr(out, "\r\n\r\ngone\r\n\r\n--A\r\n"));
	free(out);
}

static void test_strip_noclose_and_lf(void **state)
{
	static const char *const s1[] = { "1.2" };
	struct mime_rw rw = { .strip = s1, .nstrip = 1, .notice = "cut" };
	static const char want_noclose[] =
		"Subject: no close\r\n"
		"Content-Type: multipart/mixed; boundary=\"Z\"\r\n"
		"\r\n"
		"--Z\r\n"
		"\r\n"
		"first\r\n"
		"--Z\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Disposition: inline\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"cut\r\n";
	static const char want_lf[] =
		"Subject: lf only\n"
		"Content-Type: multipart/mixed; boundary=\"L\"\n"
		"\n"
		"--L\n"
		"\n"
		"body\n"
		"--L\n"
		"Content-Type: text/plain; charset=utf-8\n"
		"Content-Disposition: inline\n"
		"Content-Transfer-Encoding: quoted-printable\n"
		"\n"
		"cut\n"
		"--L--\n";

	(void)state;
	expect_rw(msg_noclose, &rw, want_noclose);
	expect_rw(msg_lf, &rw, want_lf);
}

static void test_strip_odd(void **state)
{
	static const char *const s1[] = { "1.1.1" }; /* header ended by a boundary */
	static const char *const s2[] = { "1.3" };   /* part after the close delimiter */
	static const char *const s3[] = { "1.1" };
	struct mime_rw rw = { .nstrip = 1, .notice = "n" };
	size_t n;
	char *out;

	(void)state;
	rw.strip = s1;
	out = rewrite_ok(msg_odd, &rw, &n);
	assert_non_null(strstr(out, "--I\r\nContent-Type: text/plain; charset=utf-8\r\n"
				    "Content-Disposition: inline\r\n"
				    "Content-Transfer-Encoding: quoted-printable\r\n\r\nn\r\n--I junk"));
	free(out);
	rw.strip = s2;
	out = rewrite_ok(msg_odd, &rw, &n);
	assert_null(strstr(out, "reopened"));
	free(out);
	rw.strip = s3;
	out = rewrite_ok(msg_odd, &rw, &n);
	assert_null(strstr(out, "png"));
	assert_null(strstr(out, "--I"));
	free(out);
}

static void test_notice_qp(void **state)
{
	static const char *const strip[] = { "1.2" };
	struct mime_rw rw = {
		.strip = strip, .nstrip = 1,
		.notice = "--XX\n.dot 100%% = \xc3\xa9t\xc3\xa9 %f \nline",
	};
	size_t n;
	char *out = rewrite_ok(MIXED, &rw, &n);

	assert_non_null(strstr(out, "\r\n\r\n=2D-XX\r\n=2Edot 100% =3D =C3=A9t=C3=A9 evil.exe=20\r\n"
				    "line\r\n--XX\r\n"));
	free(out);
}

/* ---- Subject ---- */

/* The decoded, unfolded value of the first Subject field of |m|. */
static char *subject_of(const char *m)
{
	const char *s = strstr(m, "\nSubject:");
	static char dec[2048];
	char raw[2048];
	size_t k = 0;

	if (!s && !strncmp(m, "Subject:", 8))
		s = m - 1;
	assert_non_null(s);
	s += 9;
	for (; *s; s++) {
		if (*s == '\r')
			continue;
		if (*s == '\n') {
			if (s[1] == ' ' || s[1] == '\t')
				continue;
			break;
		}
		raw[k++] = *s;
	}
	raw[k] = '\0';
	mime_hdr_decode_2047(raw, k, dec, sizeof(dec), NULL);
	return dec + strspn(dec, " \t");
}

static void check_lines_max(const char *out)
{
	const char *end = strstr(out, "\r\n\r\n");
	const char *l = out;

	if (!end)
		end = out + strlen(out);
	while (l < end) {
		const char *e = strstr(l, "\r\n");

		if (!e || e > end)
			e = end;
		if (e - l > 78)
			fail_msg("line over 78: %.*s", (int)(e - l), l);
		l = e + 2;
	}
}

static void test_subject_tags(void **state)
{
	static const char *const t1[] = { "[SPAM]" };
	static const char *const t2[] = { "[SPAM]", "[EXT]" };
	static const char *const tu[] = { "[\xd0\xa1\xd0\x9f\xd0\x90\xd0\x9c]" }; /* [СПАМ] */
	struct mime_rw rw = { .tags = t1, .ntags = 1 };
	size_t n;
	char *out, *again;

	(void)state;
	expect_rw("Subject: hello\r\n\r\nbody\r\n", &rw, "Subject: [SPAM] hello\r\n\r\nbody\r\n");
	expect_rw("Subject:hello\r\n\r\n", &rw, "Subject: [SPAM] hello\r\n\r\n");
	expect_rw("Subject:\r\n\r\n", &rw, "Subject: [SPAM]\r\n\r\n");
	/* Folded: the fold stays. */
	expect_rw("To: x\r\nSubject: a long\r\n subject\r\n\r\n", &rw,
		  "To: x\r\nSubject: [SPAM] a long\r\n subject\r\n\r\n");
	/* Already tagged (plain, and inside an encoded word). */
	expect_rw("Subject: [SPAM] hi\r\n\r\n", &rw, "Subject: [SPAM] hi\r\n\r\n");
	expect_rw("Subject: =?utf-8?q?=5BSPAM=5D_hi?=\r\n\r\n", &rw,
		  "Subject: =?utf-8?q?=5BSPAM=5D_hi?=\r\n\r\n");
	/* Encoded subject: the tag goes before the untouched word. */
	expect_rw("Subject: =?utf-8?B?0J/RgNC40LLQtdGC?=\r\n\r\n", &rw,
		  "Subject: [SPAM] =?utf-8?B?0J/RgNC40LLQtdGC?=\r\n\r\n");
	/* No Subject: one on top. */
	expect_rw("From: a\r\n\r\nb\r\n", &rw, "Subject: [SPAM]\r\nFrom: a\r\n\r\nb\r\n");
	expect_rw("no header\r\n", &rw, "Subject: [SPAM]\r\n\r\nno header\r\n");
	expect_rw("", &rw, "Subject: [SPAM]\r\n\r\n");
	/* Two tags; one present. */
	rw.tags = t2;
	rw.ntags = 2;
	expect_rw("Subject: [EXT] x\r\n\r\n", &rw, "Subject: [SPAM] [EXT] x\r\n\r\n");
	expect_rw("Subject: [EXT] [SPAM] x\r\n\r\n", &rw, "Subject: [EXT] [SPAM] x\r\n\r\n");
	expect_rw("Subject: x\r\n\r\n", &rw, "Subject: [SPAM] [EXT] x\r\n\r\n");
	/* Long first line: fold after the tag. */
	out = rewrite_ok("Subject: 0123456789012345678901234567890123456789012345678901234567890123456\r\n"
			 "\r\n", &rw, &n);
	assert_string_equal(out, "Subject: [SPAM] [EXT]\r\n"
				 " 0123456789012345678901234567890123456789012345678901234567890123456\r\n"
				 "\r\n");
	free(out);
	/* Non-ASCII tag before an encoded subject: words kept, the space
	 * inside the tag's word. */
	rw.tags = tu;
	rw.ntags = 1;
	out = rewrite_ok("Subject: =?utf-8?B?0J/RgNC40LLQtdGC?=\r\n\r\n", &rw, &n);
	assert_non_null(strstr(out, "=?utf-8?B?0J/RgNC40LLQtdGC?=\r\n"));
	assert_string_equal(subject_of(out), "[\xd0\xa1\xd0\x9f\xd0\x90\xd0\x9c] "
					     "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	check_lines_max(out);
	/* Twice: unchanged. */
	again = rewrite_ok(out, &rw, &n);
	assert_string_equal(again, out);
	free(again);
	free(out);
	out = rewrite_ok("Subject: plain text\r\n\r\n", &rw, &n);
	assert_string_equal(subject_of(out), "[\xd0\xa1\xd0\x9f\xd0\x90\xd0\x9c] plain text");
	free(out);
	/* A multipart keeps its bytes. */
	rw.tags = t1;
	out = rewrite_ok(MIXED, &rw, &n);
	assert_int_equal(n, strlen(MIXED) + 7);
	assert_non_null(strstr(out, "Subject: [SPAM] report\r\n"));
	free(out);
}

/* ---- prepended fields ---- */

static void test_header_insert(void **state)
{
	static const char longv[] =
		"one two three four five six seven eight nine ten eleven twelve thirteen "
		"fourteen fifteen sixteen seventeen eighteen nineteen twenty";
	static const char utf[] = "Vir\xc3\xbcs gefunden: \xe2\x80\x9c" "Eicar\xe2\x80\x9d in "
				  "Anhang \xc3\xa4\xc3\xb6\xc3\xbc \xc3\xa4\xc3\xb6\xc3\xbc "
				  "\xc3\xa4\xc3\xb6\xc3\xbc \xc3\xa4\xc3\xb6\xc3\xbc \xc3\xa4\xc3\xb6\xc3\xbc";
	struct mime_rw_header h[] = {
		{ "X-Spam-Flag", "YES" },
		{ "X-Long", longv },
		{ "X-Utf", utf },
		{ "X-Inject", "a\r\nBcc: evil@example.com" },
	};
	struct mime_rw rw = { .hdr = h, .nhdr = 4 };
	struct mime_rw_header bad[] = { { "Content-Type", "text/html" } };
	struct mime_rw_header bad2[] = { { "X Bad", "v" } };
	struct mime_rw rwb = { .hdr = bad, .nhdr = 1 };
	size_t n;
	char *out;
	uint8_t *o = NULL;

	(void)state;
	out = rewrite_ok(MIXED, &rw, &n);
	check_lines_max(out);
	assert_true(!strncmp(out, "X-Spam-Flag: YES\r\nX-Long: one two", 33));
	assert_non_null(strstr(out, "X-Inject: a  Bcc: evil@example.com\r\nFrom: a@example.com\r\n"));
	assert_null(strstr(out, "\nBcc:"));
	/* Round trip of the encoded value. */
	{
		const char *s = strstr(out, "X-Utf:") + 6;
		char raw[1024], dec[1024];
		size_t k = 0;

		for (; !(s[0] == '\r' && s[2] != ' '); s++)
			if (*s != '\r' && *s != '\n')
				raw[k++] = *s;
		raw[k] = '\0';
		mime_hdr_decode_2047(raw, k, dec, sizeof(dec), NULL);
		assert_string_equal(dec + 1, utf);
	}
	/* The long value unfolds to itself. */
	{
		const char *s = strstr(out, "X-Long: ") + 8;
		char raw[1024];
		size_t k = 0;

		for (; !(s[0] == '\r' && s[2] != ' '); s++)
			if (*s != '\r' && *s != '\n')
				raw[k++] = *s;
		raw[k] = '\0';
		assert_string_equal(raw, longv);
	}
	assert_true(same_parts("hdr", (const uint8_t *)out, n, false));
	free(out);
	/* A message without a header block gets one, its body stays a body. */
	out = rewrite_ok(msg_nohdr, &rw, &n);
	assert_non_null(strstr(out, "\r\n\r\njust a body line\r\n"));
	free(out);
	assert_int_equal(mime_rewrite((const uint8_t *)MIXED, strlen(MIXED), &rwb, &o, &n),
			 MXG_E_INVAL);
	rwb.hdr = bad2;
	assert_int_equal(mime_rewrite((const uint8_t *)MIXED, strlen(MIXED), &rwb, &o, &n),
			 MXG_E_INVAL);
}

static void test_all_at_once(void **state)
{
	static const char *const tags[] = { "[SPAM]" };
	static const char *const strip[] = { "1", "1.2" };
	struct mime_rw_header h[] = { { "X-Spam", "yes" } };
	struct mime_rw rw = { .tags = tags, .ntags = 1, .hdr = h, .nhdr = 1,
			      .strip = strip, .nstrip = 2, .notice = "n" };
	static const char want[] =
		"X-Spam: yes\r\n"
		"From: a@example.com\r\n"
		"To: b@example.net\r\n"
		"Subject: [SPAM] report\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Disposition: inline\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"n\r\n";

	(void)state;
	expect_rw(MIXED, &rw, want);
}

/* ---- corpus ---- */

struct cstat {
	int files, bad, stripped, refused;
	bool strip_all;
};

static struct cstat *cst;

static void strip_each(const char *fpath, const uint8_t *m, size_t n)
{
	struct plist in = { 0 };
	size_t tried = 0;

	parser_list(m, n, &in);
	for (size_t i = 0; i < in.n && tried < 12; i++) {
		const char *sp[1] = { in.path[i] };
		struct mime_rw rw = { .strip = sp, .nstrip = 1, .notice = "removed %f" };
		uint8_t *out = NULL;
		size_t on = 0;
		struct plist o = { 0 };
		int rc;

		if (in.enc[i])
			continue;
		tried++;
		rc = mime_rewrite(m, n, &rw, &out, &on);
		if (rc == MXG_E_INVAL) {
			if (getenv("MXG_VERBOSE"))
				print_message("refused: %s strip %s\n", fpath, in.path[i]);
			cst->refused++;
			continue;
		}
		assert_int_equal(rc, 0);
		cst->stripped++;
		parser_list(out, on, &o);
		/* The same parts, minus the inside of the stripped one. */
		size_t j = 0, pl = strlen(in.path[i]);

		for (size_t k = 0; k < in.n; k++) {
			if (k != i && !strncmp(in.path[k], in.path[i], pl) && in.path[k][pl] == '.')
				continue;
			if (j >= o.n || strcmp(in.path[k], o.path[j]) != 0) {
				print_error("%s: strip %s: part %s missing after\n", fpath,
					    in.path[i], in.path[k]);
				cst->bad++;
				break;
			}
			if (k == i && (strcmp(o.ctype[j], "text/plain") || o.kind[j] != 0)) {
				print_error("%s: strip %s: not a notice\n", fpath, in.path[i]);
				cst->bad++;
			}
			j++;
		}
		free(out);
		pl_free(&o);
	}
	pl_free(&in);
}

static int on_file(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	size_t n;
	uint8_t *m;
	uint8_t *out = NULL;
	size_t on = 0;
	struct mime_rw none = { 0 };

	(void)ftw;
	if (type != FTW_F || sb->st_size > (8 << 20))
		return 0;
	m = load_file(fpath, &n);
	if (!m)
		return 0;
	cst->files++;
	if (!same_parts(fpath, m, n, !cst->strip_all))
		cst->bad++;
	assert_int_equal(mime_rewrite(m, n, &none, &out, &on), 0);
	assert_true(on == n && !memcmp(out, m, n));
	free(out);
	if (cst->strip_all)
		strip_each(fpath, m, n);
	free(m);
	return 0;
}

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void run_corpus(const char *const *dirs, size_t nd, bool strip_all)
{
	struct cstat s = { .strip_all = strip_all };
	int found = 0;

	cst = &s;
	for (size_t i = 0; i < nd; i++) {
		char root[1024];

		snprintf(root, sizeof(root), "%s/%s", corpus(), dirs[i]);
		if (!is_dir(root))
			continue;
		found++;
		nftw(root, on_file, 16, FTW_PHYS);
	}
	if (!found) {
		print_message("[ SKIP     ] corpus absent: %s (set MXG_CORPUS)\n", corpus());
		skip();
	}
	print_message("[ corpus   ] %d files, %d disagreements, %d strips, %d refused\n", s.files,
		      s.bad, s.stripped, s.refused);
	assert_true(s.files > 0);
	assert_int_equal(s.bad, 0);
}

static void test_corpus_paths(void **state)
{
	static const char *const dirs[] = { "mime", "spam-ham" };

	(void)state;
	run_corpus(dirs, 2, false);
}

static void test_corpus_strip(void **state)
{
	static const char *const dirs[] = { "mime" };

	(void)state;
	run_corpus(dirs, 1, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths_hand),
		cmocka_unit_test(test_paths_expected),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_strip_mixed),
		cmocka_unit_test(test_strip_two_and_default_notice),
		cmocka_unit_test(test_strip_nested),
		cmocka_unit_test(test_strip_single),
		cmocka_unit_test(test_strip_inner_message_root),
		cmocka_unit_test(test_strip_noclose_and_lf),
		cmocka_unit_test(test_strip_odd),
		cmocka_unit_test(test_notice_qp),
		cmocka_unit_test(test_subject_tags),
		cmocka_unit_test(test_header_insert),
		cmocka_unit_test(test_all_at_once),
		cmocka_unit_test(test_corpus_paths),
		cmocka_unit_test(test_corpus_strip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
