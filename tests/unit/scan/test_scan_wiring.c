/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_wiring.c - the components wired into the scan session, through
 * whole messages on an engine with the full configuration (Hyperscan rules,
 * DLP templates, content filters, URL extraction):
 *  - a macro-enabled OOXML document named .txt: true type office, macros,
 *    name mismatch; its XML member's text reaches DLP;
 *  - card numbers split by quoted-printable soft line breaks: DLP hit;
 *  - HTML with obfuscated links (entities, case, default port, percent
 *    escapes, defanged text, numeric IP): normalised URLs with hosts;
 *  - content filters on subject, a named header, attachment name, size and
 *    count, body; Hyperscan header rules;
 *  - EICAR in a multipart preamble and epilogue: detected (every split);
 *  - one session reset across 1000 messages gives the results of fresh
 *    sessions, also across an engine swap;
 *  - the failing allocator over every allocation of a full-config session.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <openssl/evp.h>

#include "mxg_err.h"
#include "scan.h"
#include "scan_sig_int.h"
#include "scan_test.h"

/* ---- engine with the full configuration ---- */

enum { CF_SUBJECT = 0, CF_MAILER, CF_EXE, CF_BIG, CF_MANY, CF_BODY };

static const struct scan_rule hs_rules[] = {
	{ 1, SCAN_W_HEADER, SCAN_RF_CASELESS, "^x-mailer: badmailer" },
	{ 2, SCAN_W_BODY, SCAN_RF_LITERAL | SCAN_RF_CASELESS, "wire transfer" },
	{ 3, SCAN_W_ATTACH_NAME, SCAN_RF_CASELESS, "\\.exe$" },
};

static struct scan_engine *engine_full(void)
{
	struct scan_config cfg = { .rules = hs_rules,
				   .nrules = sizeof(hs_rules) / sizeof(hs_rules[0]) };
	struct scan_dlp *d = scan_dlp_new(NULL);
	struct scan_cfilter *cf = scan_cfilter_new(NULL);
	static const char *const subj[] = { "invoice" };
	static const char *const mailer[] = { "^BadMailer" };
	static const char *const exe[] = { "\\.exe$" };
	static const char *const body[] = { "wire transfer" };
	static const uint32_t kw = SCAN_PAT_CASELESS, re = SCAN_PAT_REGEX | SCAN_PAT_CASELESS;
	struct scan_engine *e;
	char err[256];
	int r;

	assert_non_null(d);
	assert_non_null(cf);
	assert_int_equal(scan_dlp_add_template(d, "pci", SCAN_DLP_BIT(SCAN_DLP_PAN), 1), 0);
	assert_int_equal(scan_dlp_add_template(d, "iban", SCAN_DLP_BIT(SCAN_DLP_IBAN), 2), 1);
	assert_int_equal(scan_dlp_compile(d, err, sizeof(err)), 0);
	r = scan_cfilter_add_rule(cf, "subject-invoice", SCAN_CF_ANY);
	assert_int_equal(r, CF_SUBJECT);
	assert_int_equal(scan_cfilter_add_text(cf, r, 1u << SCAN_CF_SUBJECT, NULL, subj, &kw, 1), 0);
	r = scan_cfilter_add_rule(cf, "bad-mailer", SCAN_CF_ANY);
	assert_int_equal(scan_cfilter_add_text(cf, r, 1u << SCAN_CF_HEADER, "X-Mailer", mailer,
					       &re, 1), 0);
	r = scan_cfilter_add_rule(cf, "exe-name", SCAN_CF_ANY);
	assert_int_equal(scan_cfilter_add_text(cf, r, 1u << SCAN_CF_ATTACH_NAME, NULL, exe, &re,
					       1), 0);
	r = scan_cfilter_add_rule(cf, "big-attachment", SCAN_CF_ANY);
	assert_int_equal(scan_cfilter_add_attach_size(cf, r, 100, 0), 0);
	r = scan_cfilter_add_rule(cf, "many-attachments", SCAN_CF_ANY);
	assert_int_equal(scan_cfilter_add_attach_count(cf, r, 5), 0);
	r = scan_cfilter_add_rule(cf, "body-wire", SCAN_CF_ANY);
	assert_int_equal(r, CF_BODY);
	assert_int_equal(scan_cfilter_add_text(cf, r, 1u << SCAN_CF_BODY, NULL, body, &kw, 1), 0);
	assert_int_equal(scan_cfilter_compile(cf, err, sizeof(err)), 0);
	cfg.dlp = d;
	cfg.cfilter = cf;
	e = scan_engine_build(&cfg, NULL, err, sizeof(err));
	assert_non_null(e);
	return e;
}

/* ---- message builders ---- */

static void add_b64(struct sbuf *b, const uint8_t *p, size_t n)
{
	unsigned char line[128];

	for (size_t i = 0; i < n; i += 57) {
		int k = EVP_EncodeBlock(line, p + i, (int)(n - i < 57 ? n - i : 57));

		sbuf_add(b, line, (size_t)k);
		sbuf_add(b, "\r\n", 2);
	}
}

static void zip_add(struct archive *a, const char *name, const void *data, size_t n)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, (la_int64_t)n);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, data, n), (ssize_t)n);
	archive_entry_free(e);
}

/* A minimal .docm: content types, the document (with a card number in its
 * text) and a VBA project. */
static size_t make_docm(uint8_t *out, size_t cap)
{
	static const char ct[] = "<?xml version=\"1.0\"?><Types xmlns=\"x\"/>";
	static const char doc[] =
		"<?xml version=\"1.0\"?><w:document><w:body><w:p><w:t>Pay with card "
		"4111 1111 1111 1111 today</w:t></w:p></w:body></w:document>";
	static const uint8_t vba[64] = { 0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1 };
	struct archive *a = archive_write_new();
	size_t used = 0;

	archive_write_set_format_zip(a);
	assert_int_equal(archive_write_open_memory(a, out, cap, &used), ARCHIVE_OK);
	zip_add(a, "[Content_Types].xml", ct, sizeof(ct) - 1);
	zip_add(a, "word/document.xml", doc, sizeof(doc) - 1);
	zip_add(a, "word/vbaProject.bin", vba, sizeof(vba));
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

static void msg_docm(struct sbuf *b)
{
	uint8_t zip[8192];
	size_t n = make_docm(zip, sizeof(zip));

	sbuf_printf(b, "From: a@example.com\r\nSubject: notes\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: multipart/mixed; boundary=\"D\"\r\n\r\n"
		       "--D\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
		       "--D\r\nContent-Type: text/plain; name=\"notes.txt\"\r\n"
		       "Content-Transfer-Encoding: base64\r\n"
		       "Content-Disposition: attachment; filename=\"notes.txt\"\r\n\r\n");
	add_b64(b, zip, n);
	sbuf_printf(b, "--D--\r\n");
}

static void msg_qp_cards(struct sbuf *b)
{
	/* 4111 1111 1111 1111 and 5500-0000-0000-0004, each cut by a soft
	 * line break; 4111 1111 1111 1112 fails Luhn. */
	sbuf_printf(b, "From: a@example.com\r\nSubject: order\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: text/plain; charset=iso-8859-1\r\n"
		       "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		       "Card: 4111 11=\r\n11 1111 1111, expires 12/29.=0D=0A\r\n"
		       "Second: 5500-0000-=\r\n0000-0004 and a wrong one 4111 1111 1111 1112.\r\n");
}

static void msg_html_links(struct sbuf *b)
{
	sbuf_printf(b, "From: a@example.com\r\nSubject: links\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: text/html; charset=utf-8\r\n\r\n"
		       "<html><body><a href=\"h&#116;tp://Evil.Example.COM:80/a/../b/%%7Euser\">"
		       "click</a> <A HREF='HTTPS://user:pw@bank.example.net@phish.example.org/'>"
		       "bank</A> <img src=\"http://3232235777/p.gif\">\r\n"
		       "<p>or type hxxp://bad[.]example[.]org/x in your browser</p>"
		       "<a href=\"mailto:x@example.com\">mail</a></body></html>\r\n");
}

static void msg_cfilter(struct sbuf *b)
{
	sbuf_printf(b, "From: a@example.com\r\nSubject: =?utf-8?q?Your_INVOICE?=\r\n"
		       "X-Mailer: BadMailer 1.0\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: multipart/mixed; boundary=\"C\"\r\n\r\n"
		       "--C\r\nContent-Type: text/plain\r\n\r\nplease do the Wire Transfer\r\n"
		       "--C\r\nContent-Type: application/octet-stream\r\n"
		       "Content-Disposition: attachment; filename=\"setup.EXE\"\r\n\r\n"
		       "MZ%0200d\r\n--C--\r\n", 0);
}

static void msg_preamble(struct sbuf *b)
{
	sbuf_printf(b, "Subject: pre\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: multipart/mixed; boundary=\"P\"\r\n\r\n"
		       "%s\r\n"
		       "--P\r\nContent-Type: text/plain\r\n\r\nclean\r\n"
		       "--P--\r\n", sig_eicar);
}

static void msg_epilogue(struct sbuf *b)
{
	sbuf_printf(b, "Subject: epi\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: multipart/mixed; boundary=\"E\"\r\n\r\n"
		       "--E\r\nContent-Type: text/plain\r\n\r\nclean\r\n"
		       "--E--\r\nvisit http://epilogue.example.com/ %s\r\n", sig_eicar);
}

/* ---- helpers ---- */

static struct scan_session *run(struct scan_engine *e, const struct sbuf *m, size_t split)
{
	struct scan_session *s = scan_session_new(e, NULL, NULL);

	assert_non_null(s);
	if (split && split < m->n) {
		assert_int_equal(scan_session_feed(s, (const uint8_t *)m->p, split), 0);
		assert_int_equal(scan_session_feed(s, (const uint8_t *)m->p + split, m->n - split),
				 0);
	} else {
		assert_int_equal(scan_session_feed(s, (const uint8_t *)m->p, m->n), 0);
	}
	return s;
}

static bool has_virus(const struct scan_result *r, const char *name, uint32_t *part)
{
	for (size_t i = 0; i < r->nviruses; i++)
		if (!strcmp(r->viruses[i].name, name)) {
			if (part)
				*part = r->viruses[i].part;
			return true;
		}
	return false;
}

static bool cf_hit(const struct scan_result *r, uint32_t rule)
{
	for (size_t i = 0; i < r->ncf_hits; i++)
		if (r->cf_hits[i].rule == rule)
			return true;
	return false;
}

static const struct scan_url_entry *url_find(const struct scan_result *r, const char *url)
{
	for (size_t i = 0; i < r->nurls; i++) {
		const struct scan_url_entry *u = scan_result_url(r, i);

		if (!strcmp(u->url, url))
			return u;
	}
	return NULL;
}

static const struct scan_part *part_named(const struct scan_result *r, const char *name)
{
	for (size_t i = 0; i < r->nparts; i++)
		if (r->parts[i].filename && !strcmp(r->parts[i].filename, name))
			return &r->parts[i];
	return NULL;
}

/* ---- tests ---- */

static void test_wiring_docm_named_txt(void **state)
{
	struct scan_engine *e = engine_full();
	struct sbuf m = { 0 };
	struct scan_session *s;
	const struct scan_result *r;
	const struct scan_part *p, *x;

	msg_docm(&m);
	s = run(e, &m, 0);
	r = scan_session_finish(s);
	assert_int_equal(r->flags & SCAN_R_ERROR, 0);
	p = part_named(r, "notes.txt");
	assert_non_null(p);
	assert_true(p->flags & SCAN_PF_ATTACHMENT);
	assert_int_equal(p->ftype, SCAN_FT_OFFICE);
	assert_string_equal(p->detected_type, "ooxml");
	assert_true(p->ftype_flags & SCAN_FTF_MACROS);
	assert_true(p->ftype_flags & SCAN_FTF_NAME_MISMATCH);
	assert_string_equal(p->declared_type, "txt");
	assert_non_null(p->true_mime);
	assert_true(r->ftype_flags & SCAN_FTF_MACROS);
	assert_int_equal(r->attachments, 1);
	/* the members are in the inventory; the XML text reached DLP */
	x = part_named(r, "word/document.xml");
	assert_non_null(x);
	assert_true(x->flags & SCAN_PF_MEMBER);
	assert_int_equal(x->ftype, SCAN_FT_HTML);
	assert_true(x->flags & SCAN_PF_TEXT_EXTRACTED);
	assert_non_null(r->dlp);
	assert_int_equal(r->dlp->tmpl_hits[0], 1);
	assert_true(r->dlp_matched & 1);
	assert_true(r->flags & SCAN_R_DLP);
	/* the inline body is typed text */
	assert_int_equal(r->parts[1].ftype, SCAN_FT_TEXT);
	assert_int_equal(r->parts[1].flags & SCAN_PF_ATTACHMENT, 0);
	scan_session_free(s);
	sbuf_free(&m);
	scan_engine_unref(e);
}

static void test_wiring_dlp_qp_split(void **state)
{
	struct scan_engine *e = engine_full();
	struct sbuf m = { 0 };

	msg_qp_cards(&m);
	for (size_t k = 0; k <= m.n; k += 3) {
		struct scan_session *s = run(e, &m, k);
		const struct scan_result *r = scan_session_finish(s);

		assert_non_null(r->dlp);
		if (r->dlp->tmpl_hits[0] != 2)
			fail_msg("split %zu: %u card hits, want 2", k, r->dlp->tmpl_hits[0]);
		assert_int_equal(r->dlp->kind_hits[SCAN_DLP_PAN], 2);
		assert_true(r->dlp_matched & 1);
		assert_false(r->dlp_matched & 2);
		assert_true(r->flags & SCAN_R_DLP);
		scan_session_free(s);
	}
	sbuf_free(&m);
	scan_engine_unref(e);
}

static void test_wiring_html_urls(void **state)
{
	struct scan_engine *e = engine_full();
	struct sbuf m = { 0 };

	msg_html_links(&m);
	for (size_t k = 0; k <= m.n; k += 5) {
		struct scan_session *s = run(e, &m, k);
		const struct scan_result *r = scan_session_finish(s);
		const struct scan_url_entry *u;

		u = url_find(r, "http://evil.example.com/b/~user");
		if (!u) {
			for (size_t i = 0; i < r->nurls; i++)
				print_message("url %s\n", scan_result_url(r, i)->url);
			fail_msg("split %zu: entity-obfuscated link not normalised", k);
		}
		assert_string_equal(u->host, "evil.example.com");
		assert_true(u->flags & SCAN_URLF_HTML);
		u = url_find(r, "https://phish.example.org/");
		assert_non_null(u);
		assert_true(u->flags & SCAN_URLF_USERINFO);
		u = url_find(r, "http://192.168.1.1/p.gif");
		assert_non_null(u);
		assert_true(u->flags & SCAN_URLF_NUMERIC_IP);
		u = url_find(r, "http://bad.example.org/x");
		assert_non_null(u);
		assert_true(u->flags & SCAN_URLF_DEFANGED);
		assert_string_equal(u->domain, "example.org");
		assert_int_equal(r->nurls, 4); /* mailto: is not a web URL */
		scan_session_free(s);
	}
	sbuf_free(&m);
	scan_engine_unref(e);
}

static void test_wiring_cfilter(void **state)
{
	struct scan_engine *e = engine_full();
	struct sbuf m = { 0 };
	struct scan_engine_info info;
	struct scan_session *s;
	const struct scan_result *r;
	const struct scan_part *p;
	bool hs_header = false, hs_body = false, hs_name = false;

	scan_engine_info(e, &info);
	assert_int_equal(info.cf_rules, 6);
	assert_int_equal(info.dlp_templates, 2);
	msg_cfilter(&m);
	s = run(e, &m, 0);
	r = scan_session_finish(s);
	assert_true(r->flags & SCAN_R_CFILTER);
	assert_true(cf_hit(r, CF_SUBJECT));
	assert_true(cf_hit(r, CF_MAILER));
	assert_true(cf_hit(r, CF_EXE));
	assert_true(cf_hit(r, CF_BIG));
	assert_false(cf_hit(r, CF_MANY));
	assert_true(cf_hit(r, CF_BODY));
	assert_int_equal(r->attachments, 1);
	p = part_named(r, "setup.EXE");
	assert_non_null(p);
	assert_int_equal(p->size, 202);
	assert_int_equal(p->ftype, SCAN_FT_EXEC);
	assert_true(r->msg_size == m.n);
	for (size_t i = 0; i < r->nrules; i++) {
		hs_header |= r->rules[i].rule_id == 1 && r->rules[i].where == SCAN_W_HEADER;
		hs_body |= r->rules[i].rule_id == 2 && r->rules[i].where == SCAN_W_BODY;
		hs_name |= r->rules[i].rule_id == 3 && r->rules[i].where == SCAN_W_ATTACH_NAME;
	}
	assert_true(hs_header && hs_body && hs_name);
	scan_session_free(s);
	sbuf_free(&m);
	scan_engine_unref(e);
}

static void check_raw_eicar(void (*build)(struct sbuf *), const char *label)
{
	struct scan_engine *e = engine_full();
	struct sbuf m = { 0 };

	build(&m);
	for (size_t k = 0; k <= m.n; k++) {
		struct scan_session *s = run(e, &m, k);
		const struct scan_result *r = scan_session_finish(s);
		uint32_t part = UINT32_MAX;

		if (!has_virus(r, SIG_EICAR_NAME, &part))
			fail_msg("%s: EICAR missed at split %zu", label, k);
		assert_int_equal(part, 0); /* the multipart that holds the bytes */
		assert_true(r->parts[0].flags & SCAN_PF_RAW);
		assert_int_equal(r->flags & SCAN_R_ERROR, 0);
		scan_session_free(s);
	}
	sbuf_free(&m);
	scan_engine_unref(e);
}

static void test_wiring_eicar_preamble(void **state)
{
	check_raw_eicar(msg_preamble, "preamble");
}

static void test_wiring_eicar_epilogue(void **state)
{
	struct scan_engine *e = engine_full();
	struct sbuf m = { 0 };
	struct scan_session *s;
	const struct scan_result *r;

	check_raw_eicar(msg_epilogue, "epilogue");
	/* the epilogue's text reached the URL extractor too */
	msg_epilogue(&m);
	s = run(e, &m, 0);
	r = scan_session_finish(s);
	assert_non_null(url_find(r, "http://epilogue.example.com/"));
	scan_session_free(s);
	sbuf_free(&m);
	scan_engine_unref(e);
}

/* A text digest of everything a result says (pointers excluded). */
static void digest(const struct scan_result *r, struct sbuf *o)
{
	sbuf_printf(o, "flags %x err %d parts %zu vir %zu rules %zu att %u size %llu ft %x "
		       "arch %x/%d/%d urls %zu/%u cf %zu dlp %llx\n",
		    r->flags, r->error, r->nparts, r->nviruses, r->nrules, r->attachments,
		    (unsigned long long)r->msg_size, r->ftype_flags, r->archive_flags,
		    r->archive_verdict, r->archive_limit, r->nurls, r->urls_dropped, r->ncf_hits,
		    (unsigned long long)r->dlp_matched);
	for (size_t i = 0; i < r->nparts; i++) {
		const struct scan_part *p = &r->parts[i];

		sbuf_printf(o, " %s %u %x %x %s %s %s %s %d %x %s %llu", p->path, p->parent,
			    p->flags, p->mime_flags, p->ctype ? p->ctype : "-",
			    p->filename ? p->filename : "-",
			    p->declared_type ? p->declared_type : "-",
			    p->detected_type ? p->detected_type : "-", p->ftype, p->ftype_flags,
			    p->true_mime ? p->true_mime : "-", (unsigned long long)p->size);
		for (int k = 0; k < 32; k++)
			sbuf_printf(o, "%02x", p->sha256[k]);
		sbuf_printf(o, "\n");
	}
	for (size_t i = 0; i < r->nviruses; i++)
		sbuf_printf(o, " v %s %u %d\n", r->viruses[i].name, r->viruses[i].part,
			    r->viruses[i].kind);
	for (size_t i = 0; i < r->nrules; i++)
		sbuf_printf(o, " r %u %u %u %u %llu\n", r->rules[i].rule_id, r->rules[i].where,
			    r->rules[i].part, r->rules[i].count,
			    (unsigned long long)r->rules[i].som);
	for (size_t i = 0; i < r->nurls; i++) {
		const struct scan_url_entry *u = scan_result_url(r, i);

		sbuf_printf(o, " u %s %s %s %x %u\n", u->url, u->host, u->domain, u->flags,
			    u->count);
	}
	for (size_t i = 0; i < r->ncf_hits; i++)
		sbuf_printf(o, " c %u %d\n", r->cf_hits[i].rule, r->cf_hits[i].field);
	if (r->dlp)
		for (int t = 0; t < 2; t++)
			sbuf_printf(o, " d %u\n", r->dlp->tmpl_hits[t]);
}

/* Messages for the reuse test: ours plus, when present, the corpus. */
struct msgset {
	struct sbuf *v;
	size_t n, cap;
};

static void set_add(struct msgset *ms, void (*build)(struct sbuf *))
{
	if (ms->n == ms->cap) {
		ms->cap = ms->cap ? ms->cap * 2 : 64;
		ms->v = realloc(ms->v, ms->cap * sizeof(*ms->v));
	}
	memset(&ms->v[ms->n], 0, sizeof(ms->v[0]));
	build(&ms->v[ms->n++]);
}

static void set_add_corpus(struct msgset *ms, size_t want)
{
	const char *root = getenv("MXG_CORPUS") ? getenv("MXG_CORPUS") : CORPUS_DIR;
	char path[4096], line[4096];
	FILE *idx;
	size_t got = 0;

	snprintf(path, sizeof(path), "%s/spam-ham/index.tsv", root);
	idx = fopen(path, "r");
	if (!idx)
		return;
	while (got < want && fgets(line, sizeof(line), idx)) {
		char *tab = strchr(line, '\t');
		uint8_t *p;
		size_t n;

		if (!tab || !strncmp(line, "path\t", 5))
			continue;
		*tab = 0;
		snprintf(path, sizeof(path), "%s/spam-ham/%.2048s", root, line);
		p = load_file(path, &n);
		if (!p)
			continue;
		if (ms->n == ms->cap) {
			ms->cap = ms->cap ? ms->cap * 2 : 64;
			ms->v = realloc(ms->v, ms->cap * sizeof(*ms->v));
		}
		memset(&ms->v[ms->n], 0, sizeof(ms->v[0]));
		sbuf_add(&ms->v[ms->n++], p, n);
		free(p);
		got++;
	}
	fclose(idx);
}

static void test_wiring_reset_1000(void **state)
{
	struct scan_engine *e = engine_full(), *e2 = engine_full();
	struct scan_scratch *scr = scan_scratch_new();
	struct msgset ms = { 0 };
	struct scan_session *reused;
	size_t i, diffs = 0;

	assert_non_null(scr);
	assert_int_equal(scan_scratch_prepare(scr, e), 0);
	assert_int_equal(scan_scratch_prepare(scr, e2), 0);
	set_add(&ms, msg_docm);
	set_add(&ms, msg_qp_cards);
	set_add(&ms, msg_html_links);
	set_add(&ms, msg_cfilter);
	set_add(&ms, msg_preamble);
	set_add(&ms, msg_epilogue);
	set_add_corpus(&ms, 200);
	reused = scan_session_new_ex(e, NULL, NULL, scr);
	assert_non_null(reused);
	for (i = 0; i < 1000; i++) {
		const struct sbuf *m = &ms.v[(i * 7) % ms.n];
		struct scan_engine *ei = i < 500 ? e : e2;
		struct scan_session *fresh = scan_session_new_ex(ei, NULL, NULL, scr);
		struct sbuf a = { 0 }, b = { 0 };
		const struct scan_result *ra, *rb;

		assert_non_null(fresh);
		if (i % 97 == 5) {
			/* a message abandoned half-way: reset must forget it */
			assert_int_equal(scan_session_reset(reused, ei), 0);
			assert_int_equal(scan_session_feed(reused, (const uint8_t *)m->p, m->n / 2),
					 0);
		}
		assert_int_equal(scan_session_reset(reused, ei), 0);
		assert_int_equal(scan_session_feed(reused, (const uint8_t *)m->p, m->n), 0);
		assert_int_equal(scan_session_feed(fresh, (const uint8_t *)m->p, m->n), 0);
		ra = scan_session_finish(reused);
		rb = scan_session_finish(fresh);
		assert_int_equal(ra->generation, rb->generation);
		digest(ra, &a);
		digest(rb, &b);
		if (strcmp(a.p, b.p)) {
			if (!diffs++)
				print_message("message %zu differs:\nreused:\n%s\nfresh:\n%s\n", i, a.p,
					      b.p);
		}
		sbuf_free(&a);
		sbuf_free(&b);
		scan_session_free(fresh);
	}
	print_message("reset: 1000 messages (%zu distinct), %zu differences\n", ms.n, diffs);
	assert_int_equal(diffs, 0);
	scan_session_free(reused);
	for (i = 0; i < ms.n; i++)
		sbuf_free(&ms.v[i]);
	free(ms.v);
	scan_scratch_free(scr);
	scan_engine_unref(e);
	scan_engine_unref(e2);
}

static void test_wiring_failmem(void **state)
{
	struct scan_engine *e = engine_full();
	struct scan_scratch *scr = scan_scratch_new();
	struct sbuf m = { 0 };
	unsigned long n;
	bool done = false;

	assert_int_equal(scan_scratch_prepare(scr, e), 0);
	/* Concatenated messages are one odd MIME stream that still reaches
	 * every component: archives, text, HTML links, DLP, filters, raw. */
	msg_preamble(&m);
	msg_docm(&m);
	msg_html_links(&m);
	msg_qp_cards(&m);
	msg_cfilter(&m);
	for (n = 1; n < 5000 && !done; n++) {
		struct failmem fm;
		struct scan_session *s;
		const struct scan_result *r;

		failmem_init(&fm, n);
		s = scan_session_new_ex(e, &fm.mem, NULL, scr);
		if (s) {
			(void)scan_session_feed(s, (const uint8_t *)m.p, m.n);
			r = scan_session_finish(s);
			if (!(r->flags & SCAN_R_ERROR))
				done = fm.n < n;
			/* a second message on the same session, after the failure */
			if (scan_session_reset(s, NULL) == 0) {
				(void)scan_session_feed(s, (const uint8_t *)m.p, m.n);
				(void)scan_session_finish(s);
			}
			scan_session_free(s);
		}
		assert_int_equal(fm.live, 0);
	}
	assert_true(done);
	print_message("failmem: %lu allocation points exercised\n", n - 1);
	sbuf_free(&m);
	scan_scratch_free(scr);
	scan_engine_unref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wiring_docm_named_txt),
		cmocka_unit_test(test_wiring_dlp_qp_split),
		cmocka_unit_test(test_wiring_html_urls),
		cmocka_unit_test(test_wiring_cfilter),
		cmocka_unit_test(test_wiring_eicar_preamble),
		cmocka_unit_test(test_wiring_eicar_epilogue),
		cmocka_unit_test(test_wiring_reset_1000),
		cmocka_unit_test(test_wiring_failmem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
