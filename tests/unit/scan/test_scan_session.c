/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_session.c - the scan session (scan_session.c, scan_engine.c,
 * scan_hs.c): EICAR in a plain body, base64 and QP attachments, nested
 * multiparts and message/rfc822, a zip; every message fed whole, one byte
 * per call and split at every offset; content rules on subject, headers,
 * body (HTML reduced) and file names; rejected rules reported; the part
 * inventory; hot reload (old sessions finish on the old engine, 100 swaps
 * under a running reader); the failing allocator; the body text kept for
 * the caller (keep_text: decoded, converted, reduced, capped, reused).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "mxg_err.h"
#include "scan.h"
#include "scan_sig_int.h"
#include "scan_test.h"

/* ---- message builders ---- */

static void add_b64(struct sbuf *b, const uint8_t *p, size_t n)
{
	unsigned char line[128];
	size_t i;

	for (i = 0; i < n; i += 57) {
		int k = EVP_EncodeBlock(line, p + i, (int)(n - i < 57 ? n - i : 57));

		sbuf_add(b, line, (size_t)k);
		sbuf_add(b, "\r\n", 2);
	}
}

static void msg_plain(struct sbuf *b)
{
	sbuf_printf(b, "From: a@example.com\r\nSubject: hello\r\n\r\nsee:\r\n%s\r\n", sig_eicar);
}

static void msg_b64(struct sbuf *b)
{
	sbuf_printf(b, "From: a@example.com\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
		       "--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
		       "--XX\r\nContent-Type: application/octet-stream; name=\"e.txt\"\r\n"
		       "Content-Transfer-Encoding: base64\r\n"
		       "Content-Disposition: attachment; filename=\"e.txt\"\r\n\r\n");
	add_b64(b, (const uint8_t *)sig_eicar, SIG_EICAR_LEN);
	sbuf_printf(b, "--XX--\r\n");
}

static void msg_qp(struct sbuf *b)
{
	/* '!' as =21, '=' soft breaks in the middle. */
	sbuf_printf(b, "Subject: qp\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
		       "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		       "X5O=21P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STAND=\r\n"
		       "ARD-ANTIVIRUS-TEST-FILE=21$H+H*\r\n");
}

static void msg_nested(struct sbuf *b)
{
	sbuf_printf(b, "Subject: nested\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: multipart/mixed; boundary=\"A\"\r\n\r\n"
		       "--A\r\nContent-Type: multipart/alternative; boundary=\"B\"\r\n\r\n"
		       "--B\r\nContent-Type: text/plain\r\n\r\ntext\r\n"
		       "--B\r\nContent-Type: message/rfc822\r\n\r\n"
		       "Subject: inner\r\nContent-Type: multipart/mixed; boundary=\"C\"\r\n\r\n"
		       "--C\r\nContent-Type: application/x-foo\r\n"
		       "Content-Transfer-Encoding: base64\r\n\r\n");
	add_b64(b, (const uint8_t *)sig_eicar, SIG_EICAR_LEN);
	sbuf_printf(b, "--C--\r\n\r\n--B--\r\n--A--\r\n");
}

static size_t make_zip(uint8_t *out, size_t cap, const char *name, const void *data, size_t n,
		       int nest)
{
	uint8_t inner[8192];
	size_t used = 0;
	struct archive *a;
	struct archive_entry *e;

	if (nest > 0) {
		n = make_zip(inner, sizeof(inner), name, data, n, nest - 1);
		data = inner;
		name = "inner.zip";
	}
	a = archive_write_new();
	archive_write_set_format_zip(a);
	assert_int_equal(archive_write_open_memory(a, out, cap, &used), ARCHIVE_OK);
	e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, (la_int64_t)n);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, data, n), (ssize_t)n);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

static void msg_zip(struct sbuf *b, int nest)
{
	uint8_t zip[16384];
	size_t n = make_zip(zip, sizeof(zip), "eicar.com", sig_eicar, SIG_EICAR_LEN, nest);

	sbuf_printf(b, "Subject: zip\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: multipart/mixed; boundary=\"Z\"\r\n\r\n"
		       "--Z\r\nContent-Type: application/zip; name=\"a.zip\"\r\n"
		       "Content-Transfer-Encoding: base64\r\n\r\n");
	add_b64(b, zip, n);
	sbuf_printf(b, "--Z--\r\n");
}

static void msg_zip1(struct sbuf *b)
{
	msg_zip(b, 0);
}

static void msg_zip5(struct sbuf *b)
{
	msg_zip(b, 4); /* five nested zips */
}

/* ---- helpers ---- */

static struct scan_engine *engine_rules(const struct scan_rule *r, size_t n, uint32_t *rejected)
{
	struct scan_config cfg = { .rules = r, .nrules = n };
	struct scan_engine_info info;
	struct scan_engine *e;
	char err[128];

	e = scan_engine_build(&cfg, NULL, err, sizeof(err));
	assert_non_null(e);
	scan_engine_info(e, &info);
	if (rejected)
		*rejected = info.rules_rejected;
	return e;
}

static bool has_virus(const struct scan_result *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nviruses; i++)
		if (!strcmp(r->viruses[i].name, name))
			return true;
	return false;
}

static const struct scan_rule_hit *rule_hit(const struct scan_result *r, uint32_t id,
					    uint32_t where)
{
	size_t i;

	for (i = 0; i < r->nrules; i++)
		if (r->rules[i].rule_id == id && r->rules[i].where == where)
			return &r->rules[i];
	return NULL;
}

/* Feeds |m| split at |split| (whole if >= len) or byte by byte (split 0). */
static struct scan_session *run(struct scan_engine *e, const struct sbuf *m, size_t split,
				bool bytes)
{
	struct scan_session *s = scan_session_new(e, NULL, NULL);
	size_t i;

	assert_non_null(s);
	if (bytes) {
		for (i = 0; i < m->n; i++)
			assert_int_equal(scan_session_feed(s, (const uint8_t *)m->p + i, 1), 0);
	} else if (split < m->n) {
		assert_int_equal(scan_session_feed(s, (const uint8_t *)m->p, split), 0);
		assert_int_equal(scan_session_feed(s, (const uint8_t *)m->p + split, m->n - split),
				 0);
	} else {
		assert_int_equal(scan_session_feed(s, (const uint8_t *)m->p, m->n), 0);
	}
	return s;
}

static void check_eicar_every_split(void (*build)(struct sbuf *), const char *label)
{
	struct scan_engine *e = engine_rules(NULL, 0, NULL);
	struct sbuf m = { 0 };
	size_t k;

	build(&m);
	for (k = 0; k <= m.n + 1; k++) {
		struct scan_session *s = run(e, &m, k, k == m.n + 1);
		const struct scan_result *r = scan_session_finish(s);

		if (!has_virus(r, SIG_EICAR_NAME))
			fail_msg("%s: EICAR missed at split %zu", label, k);
		assert_int_equal(r->flags & SCAN_R_ERROR, 0);
		scan_session_free(s);
	}
	sbuf_free(&m);
	scan_engine_unref(e);
}

static void test_scan_session_eicar_plain(void **state)
{
	check_eicar_every_split(msg_plain, "plain");
}

static void test_scan_session_eicar_b64(void **state)
{
	check_eicar_every_split(msg_b64, "base64");
}

static void test_scan_session_eicar_qp(void **state)
{
	check_eicar_every_split(msg_qp, "qp");
}

static void test_scan_session_eicar_nested(void **state)
{
	check_eicar_every_split(msg_nested, "nested");
}

static void test_scan_session_eicar_zip(void **state)
{
	check_eicar_every_split(msg_zip1, "zip");
}

static void test_scan_session_eicar_zip5(void **state)
{
	struct scan_engine *e = engine_rules(NULL, 0, NULL);
	struct sbuf m = { 0 };
	struct scan_session *s;
	const struct scan_result *r;
	size_t i;

	msg_zip5(&m);
	s = run(e, &m, SIZE_MAX, false);
	r = scan_session_finish(s);
	assert_true(has_virus(r, SIG_EICAR_NAME));
	for (i = 0; i < r->nviruses; i++)
		if (!strcmp(r->viruses[i].name, SIG_EICAR_NAME)) {
			const struct scan_part *p = &r->parts[r->viruses[i].part];

			assert_true(p->flags & SCAN_PF_MEMBER);
			assert_string_equal(p->filename, "eicar.com");
		}
	scan_session_free(s);
	sbuf_free(&m);
	scan_engine_unref(e);
}

static const struct scan_rule rules[];
static const size_t nrules;

static void test_scan_session_inventory(void **state)
{
	struct scan_engine *e = engine_rules(rules, nrules, NULL);
	struct sbuf m = { 0 };
	struct scan_session *s;
	const struct scan_result *r;
	const struct scan_part *p;
	static const uint8_t sha256[32] = {
		0x27, 0x5a, 0x02, 0x1b, 0xbf, 0xb6, 0x48, 0x9e, 0x54, 0xd4, 0x71,
		0x89, 0x9f, 0x7d, 0xb9, 0xd1, 0x66, 0x3f, 0xc6, 0x95, 0xec, 0x2f,
		0xe2, 0xa2, 0xc4, 0x53, 0x8a, 0xab, 0xf6, 0x51, 0xfd, 0x0f,
	};

	msg_b64(&m);
	s = run(e, &m, SIZE_MAX, false);
	r = scan_session_finish(s);
	assert_int_equal(r->nparts, 3);
	assert_string_equal(r->parts[0].path, "1");
	assert_string_equal(r->parts[0].ctype, "multipart/mixed");
	assert_int_equal(r->parts[0].parent, UINT32_MAX);
	assert_string_equal(r->parts[1].path, "1.1");
	assert_true(r->parts[1].flags & SCAN_PF_TEXT);
	p = &r->parts[2];
	assert_string_equal(p->path, "1.2");
	assert_int_equal(p->parent, 0);
	assert_string_equal(p->filename, "e.txt");
	assert_string_equal(p->declared_type, "txt");
	assert_int_equal(p->size, SIG_EICAR_LEN);
	assert_true(p->hashes & SCAN_HASH_SHA256);
	assert_memory_equal(p->sha256, sha256, 32);
	assert_int_equal(r->nviruses, 1);
	assert_int_equal(r->viruses[0].part, 2);
	assert_int_equal(r->viruses[0].kind, SCAN_VK_BUILTIN);
	scan_session_free(s);
	sbuf_free(&m);
	scan_engine_unref(e);
}

/* ---- content rules ---- */

static const struct scan_rule rules[] = {
	{ 1, SCAN_W_SUBJECT, SCAN_RF_LITERAL | SCAN_RF_CASELESS, "viagra" },
	{ 2, SCAN_W_BODY, SCAN_RF_CASELESS, "cheap\\s+pills" },
	{ 3, SCAN_W_HEADER, SCAN_RF_CASELESS, "^x-spam-flag: yes" },
	{ 4, SCAN_W_ATTACH_NAME, SCAN_RF_CASELESS, "\\.exe$" },
	{ 5, SCAN_W_BODY, SCAN_RF_LITERAL, "secret" },
	{ 6, SCAN_W_BODY, 0, "(?<=x)bad" },            /* lookbehind: rejected */
	{ 7, SCAN_W_BODY | SCAN_W_SUBJECT, SCAN_RF_UTF8 | SCAN_RF_CASELESS, "grüße" },
	{ 8, SCAN_W_BODY, SCAN_RF_SOM, "marker" },
	{ 9, SCAN_W_HEADER, SCAN_RF_LITERAL, "never-there" },
	{ 10, SCAN_W_BODY, SCAN_RF_LITERAL, "a.b" },  /* literal dot */
};
static const size_t nrules = sizeof(rules) / sizeof(rules[0]);

static void msg_rules(struct sbuf *b)
{
	sbuf_printf(b, "From: x@example.com\r\nSubject: =?utf-8?q?Buy_VIAGRA_Gr=C3=BC=C3=9Fe?=\r\n"
		       "X-Spam-Flag: YES\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: multipart/mixed; boundary=\"R\"\r\n\r\n"
		       "--R\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
		       "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		       "<p>Cheap   <b>pills</b> and a <i>sec</i>ret, gr=FC=DFe, xbad,"
		       " the marker. axb</p>\r\n"
		       "--R\r\nContent-Type: application/octet-stream\r\n"
		       "Content-Disposition: attachment; filename=\"setup.EXE\"\r\n\r\nMZ\r\n"
		       "--R--\r\n");
}

static void test_scan_session_rules(void **state)
{
	uint32_t rejected = 0;
	struct scan_engine *e = engine_rules(rules, sizeof(rules) / sizeof(rules[0]), &rejected);
	struct sbuf m = { 0 };
	size_t k;

	assert_int_equal(rejected, 1);
	msg_rules(&m);
	for (k = 1; k <= m.n + 1; k += 7) {
		struct scan_session *s = run(e, &m, k, k == m.n + 1);
		const struct scan_result *r = scan_session_finish(s);
		const struct scan_rule_hit *h;

		assert_non_null(rule_hit(r, 1, SCAN_W_SUBJECT));
		assert_non_null(rule_hit(r, 2, SCAN_W_BODY));
		assert_non_null(rule_hit(r, 3, SCAN_W_HEADER));
		h = rule_hit(r, 4, SCAN_W_ATTACH_NAME);
		assert_non_null(h);
		assert_string_equal(r->parts[h->part].filename, "setup.EXE");
		assert_non_null(rule_hit(r, 5, SCAN_W_BODY));
		assert_null(rule_hit(r, 6, SCAN_W_BODY));
		assert_non_null(rule_hit(r, 7, SCAN_W_BODY));
		assert_non_null(rule_hit(r, 7, SCAN_W_SUBJECT));
		h = rule_hit(r, 8, SCAN_W_BODY);
		assert_non_null(h);
		assert_true(h->som > 0);
		assert_null(rule_hit(r, 9, SCAN_W_HEADER));
		assert_null(rule_hit(r, 10, SCAN_W_BODY));
		assert_true(r->flags & SCAN_R_RULE);
		assert_false(r->flags & SCAN_R_VIRUS);
		scan_session_free(s);
	}
	sbuf_free(&m);
	scan_engine_unref(e);
}

static uint32_t reject_calls;

static void on_reject(uint32_t id, const char *sig, const char *msg, void *ud)
{
	reject_calls++;
	assert_int_equal(id, 6);
	assert_null(sig);
	assert_non_null(msg);
}

static void test_scan_session_reject_report(void **state)
{
	struct scan_config cfg = { .rules = rules, .nrules = sizeof(rules) / sizeof(rules[0]),
				   .on_reject = on_reject };
	struct scan_engine *e;

	reject_calls = 0;
	e = scan_engine_build(&cfg, NULL, NULL, 0);
	assert_non_null(e);
	assert_int_equal(reject_calls, 1);
	scan_engine_unref(e);
}

/* ---- hot reload ---- */

static struct scan_engine *engine_word(uint32_t id)
{
	struct scan_rule r = { id, SCAN_W_BODY, SCAN_RF_LITERAL, "alpha" };

	return engine_rules(&r, 1, NULL);
}

static uint32_t scan_alpha(struct scan_engine *e, uint64_t *gen)
{
	static const char m[] = "Subject: x\r\n\r\nalpha\r\n";
	struct scan_session *s = scan_session_new(e, NULL, NULL);
	const struct scan_result *r;
	uint32_t id;

	assert_non_null(s);
	assert_int_equal(scan_session_feed(s, (const uint8_t *)m, sizeof(m) - 1), 0);
	r = scan_session_finish(s);
	assert_int_equal(r->nrules, 1);
	id = r->rules[0].rule_id;
	*gen = r->generation;
	scan_session_free(s);
	return id;
}

static void test_scan_session_reload(void **state)
{
	struct scan_engine *a = engine_word(1), *b = engine_word(2), *x, *y;
	struct scan_engine_slot *slot = scan_engine_slot_new(NULL, scan_engine_ref(a));
	struct scan_engine_info ia, ib;
	struct scan_session *old;
	static const char part1[] = "Subject: x\r\n\r\nal";
	static const char part2[] = "pha\r\n";
	const struct scan_result *r;
	uint64_t g;

	scan_engine_info(a, &ia);
	scan_engine_info(b, &ib);
	assert_true(ib.generation > ia.generation);
	x = scan_engine_slot_acquire(slot);
	assert_ptr_equal(x, a);
	old = scan_session_new(x, NULL, NULL);
	scan_engine_unref(x); /* the session holds its own reference */
	assert_int_equal(scan_session_feed(old, (const uint8_t *)part1, sizeof(part1) - 1), 0);
	scan_engine_slot_swap(slot, scan_engine_ref(b));
	scan_engine_unref(a); /* only the old session keeps engine a alive now */
	y = scan_engine_slot_acquire(slot);
	assert_ptr_equal(y, b);
	assert_int_equal(scan_alpha(y, &g), 2);
	assert_int_equal(g, ib.generation);
	assert_int_equal(scan_session_feed(old, (const uint8_t *)part2, sizeof(part2) - 1), 0);
	r = scan_session_finish(old);
	assert_int_equal(r->nrules, 1);
	assert_int_equal(r->rules[0].rule_id, 1);
	assert_int_equal(r->generation, ia.generation);
	scan_session_free(old); /* frees engine a */
	scan_engine_unref(y);
	scan_engine_unref(b);
	scan_engine_slot_free(slot);
}

struct stress {
	struct scan_engine_slot *slot;
	struct scan_engine *eng[14];
	uint64_t gen[14];
	volatile int stop;
	volatile unsigned long scanned;
	unsigned long bad;
};

static void *reader(void *arg)
{
	struct stress *st = arg;

	while (!st->stop) {
		struct scan_engine *e = scan_engine_slot_acquire(st->slot);
		uint64_t g;
		uint32_t id = scan_alpha(e, &g), k;
		bool ok = false;

		/* Engine k reports rule id k + 1: id and generation must agree,
		 * so the message saw exactly one complete engine. */
		for (k = 0; k < 14; k++)
			if (st->gen[k] == g && id == k + 1)
				ok = true;
		if (!ok)
			st->bad++;
		st->scanned++;
		scan_engine_unref(e);
	}
	return NULL;
}

static void test_scan_session_reload_stress(void **state)
{
	struct stress st = { 0 };
	struct scan_engine_info info;
	pthread_t t;
	int i;

	for (i = 0; i < 14; i++) {
		st.eng[i] = engine_word((uint32_t)i + 1);
		scan_engine_info(st.eng[i], &info);
		st.gen[i] = info.generation;
	}
	st.slot = scan_engine_slot_new(NULL, scan_engine_ref(st.eng[0]));
	assert_int_equal(pthread_create(&t, NULL, reader, &st), 0);
	for (i = 1; i <= 100; i++) {
		/* Engines 4..13 are installed once each and then dropped by the
		 * test, so the slot's reference is the last one: freed on swap
		 * while the reader may be scanning with it. */
		int k = i % 10 ? i % 4 : 4 + i / 10 - 1;
		struct scan_engine *n = k < 4 ? scan_engine_ref(st.eng[k]) : st.eng[k];

		if (k >= 4)
			st.eng[k] = NULL;
		scan_engine_slot_swap(st.slot, n);
		while (st.scanned < (unsigned long)i / 2)
			;
	}
	st.stop = 1;
	pthread_join(t, NULL);
	print_message("reload stress: 100 swaps, %lu messages, %lu inconsistent\n", st.scanned,
		      st.bad);
	assert_true(st.scanned >= 50);
	assert_int_equal(st.bad, 0);
	scan_engine_slot_free(st.slot);
	for (i = 0; i < 14; i++)
		scan_engine_unref(st.eng[i]);
}

/* ---- body text kept for the caller (scan_limits.keep_text) ---- */

/* A base64 text/plain part, a quoted-printable ISO-8859-1 part and an HTML
 * part. */
static void msg_text3(struct sbuf *b)
{
	static const char plain[] = "Project Falcon starts monday\r\n";

	sbuf_printf(b, "From: a@example.com\r\nSubject: text\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: multipart/mixed; boundary=\"T\"\r\n\r\n"
		       "--T\r\nContent-Type: text/plain; charset=utf-8\r\n"
		       "Content-Transfer-Encoding: base64\r\n\r\n");
	add_b64(b, (const uint8_t *)plain, sizeof(plain) - 1);
	sbuf_printf(b, "--T\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
		       "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		       "Caf=E9 cr=E8me br=FBl=E9e, tr=\r\nes bien\r\n"
		       "--T\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
		       "<html><head><style>p {color: red}</style></head><body>"
		       "<p>Hello <b>big</b> world</p><a href=\"http://x.example/\">click</a>"
		       "</body></html>\r\n"
		       "--T--\r\n");
}

/* ---- data: URIs in HTML (mime_html, SCAN_PF_EMBEDDED) ---- */

static void html_head(struct sbuf *b)
{
	sbuf_printf(b, "From: a@example.com\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>hi</p>");
}

/* EICAR base64 without line breaks (a data: URI is one line). */
static void add_b64_flat(struct sbuf *b, const uint8_t *p, size_t n)
{
	unsigned char out[256];
	int k = EVP_EncodeBlock(out, p, (int)n);

	sbuf_add(b, out, (size_t)k);
}

static void msg_data_href(struct sbuf *b)
{
	html_head(b);
	sbuf_printf(b, "<a href=\"data:application/octet-stream;base64,");
	add_b64_flat(b, (const uint8_t *)sig_eicar, SIG_EICAR_LEN);
	sbuf_printf(b, "\">x</a></body></html>\r\n");
}

static void msg_data_img(struct sbuf *b)
{
	html_head(b);
	sbuf_printf(b, "<img alt=x src='DATA:image/png ; Base64,\r\n");
	add_b64_flat(b, (const uint8_t *)sig_eicar, SIG_EICAR_LEN);
	sbuf_printf(b, "'></body></html>\r\n");
}

/* Every byte as %XX: the raw HTML does not hold the signature. */
static void msg_data_pct(struct sbuf *b)
{
	html_head(b);
	sbuf_printf(b, "<a href=data:,");
	for (size_t i = 0; i < SIG_EICAR_LEN; i++)
		sbuf_printf(b, "%%%02X", (uint8_t)sig_eicar[i]);
	sbuf_printf(b, ">x</a>\r\n");
}

/* Junk in the base64 (skipped and counted as by the MIME decoder), the
 * payload split by entities and a folded line. */
static void msg_data_junk(struct sbuf *b)
{
	struct sbuf e = { 0 };

	add_b64_flat(&e, (const uint8_t *)sig_eicar, SIG_EICAR_LEN);
	html_head(b);
	sbuf_printf(b, "<a href=\"data:;base64,%.*s!!*&#x2a;\r\n%s\">x</a>\r\n", 20, e.p,
		    e.p + 20);
	sbuf_free(&e);
}

/* The virus hit is on the embedded part, a child of the HTML part. */
static void check_embedded_hit(const struct scan_result *r, const char *label)
{
	size_t i;

	for (i = 0; i < r->nviruses; i++) {
		const struct scan_part *p = &r->parts[r->viruses[i].part];

		if (!strcmp(r->viruses[i].name, SIG_EICAR_NAME) && (p->flags & SCAN_PF_EMBEDDED)) {
			assert_true(p->flags & SCAN_PF_LEAF);
			assert_int_equal(p->size, SIG_EICAR_LEN);
			assert_true(p->parent < r->nparts);
			assert_int_equal(r->parts[p->parent].ftype, SCAN_FT_HTML);
			return;
		}
	}
	fail_msg("%s: EICAR not found in an embedded part", label);
}

static void test_scan_session_data_uri(void **state)
{
	static const struct {
		void (*build)(struct sbuf *);
		const char *label, *ctype;
	} cases[] = {
		{ msg_data_href, "href base64", "application/octet-stream" },
		{ msg_data_img, "img src base64", "image/png" },
		{ msg_data_pct, "percent-encoded", "text/plain" },
		{ msg_data_junk, "junk in base64", "text/plain" },
	};
	struct scan_engine *e = engine_rules(NULL, 0, NULL);
	struct scan_limits lim;
	size_t c, k;

	(void)state;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct sbuf m = { 0 };

		cases[c].build(&m);
		/* the signature is not in the message as it stands */
		assert_null(memmem(m.p, m.n, sig_eicar, 20));
		for (k = 0; k <= m.n + 1; k++) {
			struct scan_session *s = run(e, &m, k, k == m.n + 1);
			const struct scan_result *r = scan_session_finish(s);

			check_embedded_hit(r, cases[c].label);
			assert_int_equal(r->flags & (SCAN_R_ERROR | SCAN_R_LIMIT), 0);
			assert_int_equal(r->nparts, 2);
			assert_string_equal(r->parts[1].path, "1/data1");
			assert_string_equal(r->parts[1].ctype, cases[c].ctype);
			scan_session_free(s);
		}
		/* no text consumer at all: the HTML is still reduced for them */
		scan_limits_default(&lim);
		lim.url.max_urls = 0;
		{
			struct scan_session *s = scan_session_new(e, NULL, &lim);

			assert_non_null(s);
			assert_int_equal(scan_session_feed(s, (const uint8_t *)m.p, m.n), 0);
			check_embedded_hit(scan_session_finish(s), cases[c].label);
			scan_session_free(s);
		}
		sbuf_free(&m);
	}
	scan_engine_unref(e);
}

/* An HTML file (scan_session_scan_file, as an archive member or a file
 * with no MIME around it): its data: URIs are scanned too. */
static void test_scan_session_data_uri_file(void **state)
{
	struct scan_engine *e = engine_rules(NULL, 0, NULL);
	struct scan_session *s = scan_session_new(e, NULL, NULL);
	const struct scan_result *r;
	struct sbuf m = { 0 };

	(void)state;
	sbuf_printf(&m, "<a href=\"data:application/x-msdownload;base64,");
	add_b64_flat(&m, (const uint8_t *)sig_eicar, SIG_EICAR_LEN);
	sbuf_printf(&m, "\">t</a>\n");
	assert_non_null(s);
	assert_int_equal(scan_session_scan_file(s, "page.bin", (const uint8_t *)m.p, m.n), 0);
	r = scan_session_finish(s);
	assert_int_equal(r->parts[0].ftype, SCAN_FT_HTML);
	check_embedded_hit(r, "file");
	scan_session_free(s);
	sbuf_free(&m);
	scan_engine_unref(e);
}

/* Malformed data: URIs (no ',', a fragment first, broken base64, an
 * unterminated value), the size cut and max_files. */
static void test_scan_session_data_uri_limits(void **state)
{
	struct scan_engine *e = engine_rules(NULL, 0, NULL);
	struct scan_limits lim;
	struct sbuf m = { 0 };
	const struct scan_result *r;
	struct scan_session *s;

	(void)state;
	/* malformed: nothing found, nothing breaks; the ones with a ',' are
	 * parts of their own */
	html_head(&m);
	sbuf_printf(&m, "<a href=\"data:text/plain\"><a href=\"data:#,QUJD\">"
		       "<a href=\"data:;base64,====!!!!\"><img src=\"data:;base64,QUJ");
	s = run(e, &m, m.n, false);
	r = scan_session_finish(s);
	assert_int_equal(r->nviruses, 0);
	assert_int_equal(r->flags & (SCAN_R_ERROR | SCAN_R_LIMIT), 0);
	assert_int_equal(r->nparts, 3);
	assert_int_equal(r->parts[1].flags & SCAN_PF_EMBEDDED, SCAN_PF_EMBEDDED);
	assert_int_equal(r->parts[1].size, 0);
	assert_int_equal(r->parts[2].size, 2); /* "QUJ": "AB", lenient */
	scan_session_free(s);
	sbuf_free(&m);

	/* oversize: cut at max_member_bytes, flagged, not whole */
	msg_data_href(&m);
	scan_limits_default(&lim);
	lim.archive.max_member_bytes = 32;
	s = scan_session_new(e, NULL, &lim);
	assert_non_null(s);
	assert_int_equal(scan_session_feed(s, (const uint8_t *)m.p, m.n), 0);
	r = scan_session_finish(s);
	assert_false(has_virus(r, SIG_EICAR_NAME));
	assert_true(r->flags & SCAN_R_LIMIT);
	assert_int_equal(r->parts[1].size, 32);
	scan_session_free(s);
	lim.archive.max_member_bytes = SIG_EICAR_LEN;
	s = scan_session_new(e, NULL, &lim);
	assert_int_equal(scan_session_feed(s, (const uint8_t *)m.p, m.n), 0);
	r = scan_session_finish(s);
	assert_true(has_virus(r, SIG_EICAR_NAME));
	assert_int_equal(r->flags & SCAN_R_LIMIT, 0);
	scan_session_free(s);

	/* max_files: the HTML part is file 1, its data: URI would be 2 */
	scan_limits_default(&lim);
	lim.max_files = 1;
	s = scan_session_new(e, NULL, &lim);
	assert_int_equal(scan_session_feed(s, (const uint8_t *)m.p, m.n), 0);
	r = scan_session_finish(s);
	assert_false(has_virus(r, SIG_EICAR_NAME));
	assert_true(r->flags & SCAN_R_LIMIT);
	assert_int_equal(r->files_not_scanned, 1);
	assert_true(r->parts[1].flags & SCAN_PF_NOT_SCANNED);
	scan_session_free(s);
	sbuf_free(&m);
	scan_engine_unref(e);
}

static struct scan_session *run_keep(struct scan_engine *e, const struct mxg_mem *mem,
				     uint32_t keep)
{
	struct scan_limits lim;
	struct scan_session *s;

	scan_limits_default(&lim);
	lim.keep_text = keep;
	s = scan_session_new(e, mem, &lim);
	assert_non_null(s);
	return s;
}

static void feed_all(struct scan_session *s, const struct sbuf *m, bool bytes)
{
	size_t i;

	if (!bytes) {
		assert_int_equal(scan_session_feed(s, (const uint8_t *)m->p, m->n), 0);
		return;
	}
	for (i = 0; i < m->n; i++)
		assert_int_equal(scan_session_feed(s, (const uint8_t *)m->p + i, 1), 0);
}

static void test_scan_session_keep_text(void **state)
{
	static const char want_head[] = "Project Falcon starts monday\r\n\n"
					"Caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e, tres bien\n";
	struct scan_engine *e = engine_rules(NULL, 0, NULL);
	struct sbuf m = { 0 }, full = { 0 };
	const struct scan_result *r;
	struct scan_session *s;
	struct failmem fm;
	const char *html, *cafe;
	unsigned long allocs;
	size_t cut;
	int round;

	msg_text3(&m);

	/* Off by default. */
	s = scan_session_new(e, NULL, NULL);
	assert_non_null(s);
	feed_all(s, &m, false);
	r = scan_session_finish(s);
	assert_null(r->text);
	assert_int_equal(r->text_len, 0);
	assert_false(r->text_truncated);
	scan_session_free(s);

	/* Decoded, converted, reduced; the same whole or byte by byte. */
	for (round = 0; round < 2; round++) {
		s = run_keep(e, NULL, 1u << 20);
		feed_all(s, &m, round == 1);
		r = scan_session_finish(s);
		assert_int_equal(r->flags & SCAN_R_ERROR, 0);
		assert_non_null(r->text);
		assert_false(r->text_truncated);
		assert_true(r->text_len > sizeof(want_head) - 1);
		assert_memory_equal(r->text, want_head, sizeof(want_head) - 1);
		html = (const char *)r->text + sizeof(want_head) - 1;
		sbuf_free(&full);
		sbuf_add(&full, html, r->text_len - (sizeof(want_head) - 1));
		sbuf_add(&full, "", 1);
		assert_non_null(strstr(full.p, "Hello"));
		assert_non_null(strstr(full.p, "big"));
		assert_non_null(strstr(full.p, "world"));
		assert_non_null(strstr(full.p, "click"));
		assert_null(strchr(full.p, '<'));
		assert_null(strstr(full.p, "color"));
		assert_null(strstr(full.p, "href"));
		assert_null(memmem(r->text, r->text_len, "UHJvamVjdCBG", 12)); /* no base64 */
		assert_null(memmem(r->text, r->text_len, "=E9", 3));           /* no QP */
		sbuf_free(&full);
		sbuf_add(&full, r->text, r->text_len);
		scan_session_free(s);
	}

	/* The cap: cut at a character boundary, flagged. */
	s = run_keep(e, NULL, 10);
	feed_all(s, &m, false);
	r = scan_session_finish(s);
	assert_int_equal(r->flags & SCAN_R_ERROR, 0);
	assert_int_equal(r->text_len, 10);
	assert_memory_equal(r->text, "Project Fa", 10);
	assert_true(r->text_truncated);
	scan_session_free(s);
	cafe = memmem(full.p, full.n, "\xc3\xa9", 2);
	assert_non_null(cafe);
	cut = (size_t)(cafe - full.p);
	s = run_keep(e, NULL, (uint32_t)cut + 1); /* in the middle of the e-acute */
	feed_all(s, &m, false);
	r = scan_session_finish(s);
	assert_int_equal(r->text_len, cut);
	assert_memory_equal(r->text, full.p, cut);
	assert_true(r->text_truncated);
	scan_session_free(s);
	s = run_keep(e, NULL, (uint32_t)full.n); /* exactly enough */
	feed_all(s, &m, false);
	r = scan_session_finish(s);
	assert_int_equal(r->text_len, full.n);
	assert_false(r->text_truncated);
	scan_session_free(s);

	/* A message without text: empty, not NULL. */
	{
		struct sbuf z = { 0 };

		sbuf_printf(&z, "Subject: bin\r\nMIME-Version: 1.0\r\n"
				"Content-Type: application/octet-stream\r\n"
				"Content-Transfer-Encoding: base64\r\n\r\n");
		add_b64(&z, (const uint8_t *)"Project Falcon", 14);
		s = run_keep(e, NULL, 4096);
		feed_all(s, &z, false);
		r = scan_session_finish(s);
		assert_non_null(r->text);
		assert_int_equal(r->text_len, 0);
		scan_session_free(s);
		sbuf_free(&z);
	}

	/* Reused across messages: the same text in the same buffer, and no
	 * allocation for it once warm (the session's own per-message
	 * allocations, the same with keep_text 0, are subtracted). */
	for (round = 0; round < 2; round++) {
		const uint8_t *first = NULL;
		unsigned long before = 0;
		int k;

		failmem_init(&fm, 0);
		s = run_keep(e, &fm.mem, round ? 1u << 20 : 0);
		for (k = 0; k < 4; k++) {
			if (k)
				assert_int_equal(scan_session_reset(s, NULL), 0);
			if (k == 2)
				before = fm.n;
			feed_all(s, &m, false);
			r = scan_session_finish(s);
			if (!round)
				continue;
			assert_int_equal(r->text_len, full.n);
			assert_memory_equal(r->text, full.p, full.n);
			if (!first)
				first = r->text;
			assert_ptr_equal(r->text, first);
		}
		if (!round)
			allocs = fm.n - before;
		else
			assert_int_equal(fm.n - before, allocs);
		scan_session_free(s);
		assert_int_equal(fm.live, 0);
	}

	sbuf_free(&full);
	sbuf_free(&m);
	scan_engine_unref(e);
}

/* ---- steady state: a warm session allocates nothing ---- */

static void msg_html_urls(struct sbuf *b)
{
	sbuf_printf(b, "Subject: links\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: multipart/alternative;\r\n"
		       " boundary=\"%s\"\r\n\r\n"
		       "--%s\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
		       "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		       "see http://Example.COM:80/a/./b/../c?x=%%41 and hxxp://evil[.]example=\r\n"
		       ".net/p and www.shop.example.co.uk/ caf=E9\r\n",
		       "b-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789-0123"
		       "456789", /* longer than the first boundary buffer */
		       "b-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789-0123"
		       "456789");
	sbuf_printf(b, "--%s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
		       "<html><head><style>p{}</style><!-- a -- b --></head><body>"
		       "<p>Hello&nbsp;<a href=\"h&#116;tp://[::1]:8080/x\">x</a>"
		       "<img src='http://0x7f.1/i.png'> <a href=http://b%%61d.example/>y</a>"
		       "&amp;&unknown; &#x41;</p></body></html>\r\n"
		       "--%s--\r\n",
		       "b-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789-0123"
		       "456789",
		       "b-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789-0123"
		       "456789");
}

/* 150 named parts: more strings than one arena block holds. */
static void msg_many_parts(struct sbuf *b)
{
	int i;

	sbuf_printf(b, "Subject: many\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: multipart/mixed; boundary=\"M\"\r\n\r\n");
	for (i = 0; i < 150; i++)
		sbuf_printf(b, "--M\r\nContent-Type: application/x-part-%03d\r\n"
			       "Content-Disposition: attachment;\r\n"
			       " filename=\"a-rather-long-attachment-file-name-%03d.dat\"\r\n\r\n"
			       "part %d\r\n", i, i, i);
	sbuf_printf(b, "--M--\r\n");
}

/* The dataplane keeps one session per lcore and resets it per message: once
 * every buffer has grown (parser frames and inner parsers, boundary
 * storage, URL pool and table, hit vectors, arena), the same messages
 * again must not call the allocator at all. */
static void test_scan_session_warm_no_alloc(void **state)
{
	static void (*const build[])(struct sbuf *) = {
		msg_html_urls, msg_b64, msg_qp, msg_nested, msg_rules, msg_zip1, msg_plain,
		msg_many_parts,
	};
	struct scan_engine *e = engine_rules(rules, sizeof(rules) / sizeof(rules[0]), NULL);
	struct sbuf m[sizeof(build) / sizeof(build[0])] = { { 0 } };
	size_t nurls[sizeof(build) / sizeof(build[0])], i;
	struct scan_session *s;
	struct failmem fm;
	unsigned long warm;
	int pass;

	failmem_init(&fm, 0); /* counts, never fails */
	s = scan_session_new(e, &fm.mem, NULL);
	assert_non_null(s);
	for (i = 0; i < sizeof(build) / sizeof(build[0]); i++)
		build[i](&m[i]);
	for (pass = 0; pass < 3; pass++) {
		warm = fm.n;
		for (i = 0; i < sizeof(build) / sizeof(build[0]); i++) {
			const struct scan_result *r;

			assert_int_equal(scan_session_reset(s, NULL), 0);
			assert_int_equal(scan_session_feed(s, (const uint8_t *)m[i].p, m[i].n), 0);
			r = scan_session_finish(s);
			assert_false(r->flags & SCAN_R_ERROR);
			if (pass == 0)
				nurls[i] = r->nurls;
			else
				assert_int_equal(r->nurls, nurls[i]);
		}
		if (pass > 0)
			assert_int_equal(fm.n - warm, 0); /* not one allocator call */
	}
	assert_int_equal(nurls[0], 6);
	scan_session_free(s);
	assert_int_equal(fm.live, 0);
	for (i = 0; i < sizeof(build) / sizeof(build[0]); i++)
		sbuf_free(&m[i]);
	scan_engine_unref(e);
}

/* ---- failing allocator ---- */

static void test_scan_session_failmem(void **state)
{
	struct scan_engine *e = engine_rules(rules, sizeof(rules) / sizeof(rules[0]), NULL);
	struct sbuf m = { 0 };
	unsigned long n;
	bool done = false;

	msg_rules(&m);
	msg_zip1(&m); /* two messages concatenated: still one MIME stream */
	for (n = 1; n < 2000 && !done; n++) {
		struct failmem fm;
		struct scan_session *s;
		const struct scan_result *r;

		failmem_init(&fm, n);
		s = scan_session_new(e, &fm.mem, NULL);
		if (s) {
			(void)scan_session_feed(s, (const uint8_t *)m.p, m.n);
			r = scan_session_finish(s);
			if (!(r->flags & SCAN_R_ERROR) && fm.n < n)
				done = true;
			else if (!(r->flags & SCAN_R_ERROR))
				done = fm.n < n;
			scan_session_free(s);
		}
		assert_int_equal(fm.live, 0);
	}
	assert_true(done);
	print_message("failmem: %lu allocation points exercised\n", n - 1);
	sbuf_free(&m);
	scan_engine_unref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_session_eicar_plain),
		cmocka_unit_test(test_scan_session_eicar_b64),
		cmocka_unit_test(test_scan_session_eicar_qp),
		cmocka_unit_test(test_scan_session_eicar_nested),
		cmocka_unit_test(test_scan_session_eicar_zip),
		cmocka_unit_test(test_scan_session_eicar_zip5),
		cmocka_unit_test(test_scan_session_data_uri),
		cmocka_unit_test(test_scan_session_data_uri_file),
		cmocka_unit_test(test_scan_session_data_uri_limits),
		cmocka_unit_test(test_scan_session_inventory),
		cmocka_unit_test(test_scan_session_rules),
		cmocka_unit_test(test_scan_session_reject_report),
		cmocka_unit_test(test_scan_session_reload),
		cmocka_unit_test(test_scan_session_reload_stress),
		cmocka_unit_test(test_scan_session_failmem),
		cmocka_unit_test(test_scan_session_keep_text),
		cmocka_unit_test(test_scan_session_warm_no_alloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
