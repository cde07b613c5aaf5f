/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tests for control/pol.c: the compiled policy. Snapshots are written as
 * JSON text, scan results are built by hand (struct scan_result with its
 * parts, viruses and DLP counts), messages are plain text. Every load error
 * checks the JSON path the operator sees; every condition type is checked
 * true and false; the walk (first terminal wins, accumulation, stop, the
 * end at delete/quarantine), scope, reprocessing, pol_decision_same, the
 * built-in policy and the reference count each have a test. The default
 * rules of control/sql/0002_policy.sql are read from the file itself and
 * must pass ctl_rule_validate unchanged.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ctl_valid.h"
#include "pol.h"
#include "scan.h"

/* ---- helpers ---- */

static char doc_buf[65536];

/* A snapshot document with |rules| (the inside of "policies": [...]),
 * |lists| and |domains| (insides of their arrays). */
static const char *doc(const char *rules, const char *lists, const char *domains)
{
	snprintf(doc_buf, sizeof(doc_buf),
		 "{\"format\": \"mxgate-policy\", \"version\": 7, \"local_domains\": [%s],"
		 " \"lists\": [%s], \"policies\": [%s]}",
		 domains ? domains : "\"example.com\"", lists ? lists : "", rules);
	return doc_buf;
}

static struct pol_snap *load_ok(const char *text)
{
	char err[512];
	struct pol_snap *s = pol_snap_load(text, strlen(text), err, sizeof(err));

	if (!s)
		print_error("unexpected load error: %s\n", err);
	assert_non_null(s);
	return s;
}

static void load_bad(const char *text, const char *want)
{
	char err[512];
	struct pol_snap *s = pol_snap_load(text, strlen(text), err, sizeof(err));

	if (s || strncmp(err, want, strlen(want)) != 0)
		print_error("got: %s\nwant: %s...\n", s ? "(loaded)" : err, want);
	assert_null(s);
	assert_true(strncmp(err, want, strlen(want)) == 0);
}

/* A one-rule snapshot: |conds| (inside the conditions array) -> quarantine. */
static struct pol_snap *one_rule(const char *conds)
{
	char r[4096];

	snprintf(r, sizeof(r),
		 "{\"id\": 5, \"name\": \"r\", \"conditions\": [%s],"
		 " \"actions\": [{\"type\": \"quarantine\"}]}", conds);
	return load_ok(doc(r, "{\"name\": \"vip\", \"kind\": \"addresses\", \"entries\":"
			      " [\"boss@corp.test\", \"partner.test\", \"@friend.test\","
			      " \"*@*.sub.test\", \"postmaster@*\", \"a?c@glob.test\"]},"
			      "{\"name\": \"doms\", \"kind\": \"domains\", \"entries\":"
			      " [\"dom.test\"]}", NULL));
}

static const char PLAIN_MSG[] =
	"From: Alice <alice@example.net>\r\n"
	"To: bob@example.com\r\n"
	"Subject: =?UTF-8?B?SGVsbG8gV8O2cmxk?= and\r\n"
	" more\r\n"
	"X-Spam-Flag: YES\r\n"
	"X-Long: first\r\n"
	"\tsecond\r\n"
	"\r\n"
	"Body text with the word Confidential in it.\r\n";

struct tmsg {
	struct pol_msg m;
	const char *rcpt[10];
	bool local[10];
};

static void tmsg_init(struct tmsg *t, const char *sender, const char *rcpt,
		      const struct scan_result *scan)
{
	memset(t, 0, sizeof(*t));
	t->rcpt[0] = rcpt;
	t->m.sender = sender;
	t->m.rcpt = t->rcpt;
	t->m.nrcpt = 1;
	t->m.msg = (const uint8_t *)PLAIN_MSG;
	t->m.len = sizeof(PLAIN_MSG) - 1;
	t->m.scan = scan;
}

/* Evaluates |s| for a message from |sender| to |rcpt| with |scan|. */
static struct pol_decision eval1(const struct pol_snap *s, const char *sender, const char *rcpt,
				 const struct scan_result *scan)
{
	struct tmsg t;
	struct pol_decision d;

	tmsg_init(&t, sender, rcpt, scan);
	pol_eval(s, &t.m, 0, &d);
	return d;
}

/* True if the one-rule snapshot with |conds| matches. */
static bool holds(const char *conds, const char *sender, const char *rcpt,
		  const struct scan_result *scan)
{
	struct pol_snap *s = one_rule(conds);
	struct pol_decision d = eval1(s, sender, rcpt, scan);

	pol_snap_unref(s);
	return d.fate == POL_QUARANTINE;
}

#define HOLDS(c) holds(c, "alice@example.net", "bob@example.com", &scan)

/* A scanned message: 0 root multipart, 1 text body, 2 invoice.pdf,
 * 3 archive.zip, 4 its member dir/evil.exe, 5 notes.txt. */
static struct scan_part parts[6];
static struct scan_virus_hit viruses[1];
static struct scan_dlp_result dlp;
static struct scan_result scan;

static void scan_init(bool virus)
{
	memset(parts, 0, sizeof(parts));
	memset(&dlp, 0, sizeof(dlp));
	parts[0] = (struct scan_part){ .parent = UINT32_MAX, .flags = 0 };
	parts[1] = (struct scan_part){ .parent = 0, .flags = SCAN_PF_LEAF | SCAN_PF_TEXT,
				       .ftype = SCAN_FT_TEXT, .detected_type = "text", .size = 40 };
	parts[2] = (struct scan_part){ .parent = 0, .flags = SCAN_PF_LEAF | SCAN_PF_ATTACHMENT,
				       .filename = "Invoice.PDF", .ftype = SCAN_FT_PDF,
				       .detected_type = "pdf", .size = 50000 };
	parts[3] = (struct scan_part){ .parent = 0, .flags = SCAN_PF_LEAF | SCAN_PF_ATTACHMENT,
				       .filename = "archive.zip", .ftype = SCAN_FT_ARCHIVE,
				       .detected_type = "zip", .size = 3000 };
	parts[4] = (struct scan_part){ .parent = 3, .flags = SCAN_PF_LEAF | SCAN_PF_MEMBER,
				       .filename = "dir/evil.exe", .ftype = SCAN_FT_EXEC,
				       .detected_type = "pe", .size = 9000000 };
	parts[5] = (struct scan_part){ .parent = 0, .flags = SCAN_PF_LEAF | SCAN_PF_ATTACHMENT,
				       .filename = "notes.txt", .ftype = SCAN_FT_TEXT,
				       .detected_type = "text", .size = 100 };
	viruses[0] = (struct scan_virus_hit){ "Win.Trojan.Agent-1", 4, SCAN_VK_BODY };
	dlp.kind_hits[SCAN_DLP_PAN] = 3;
	dlp.kind_hits[SCAN_DLP_EMAIL] = 1;
	memset(&scan, 0, sizeof(scan));
	scan.parts = parts;
	scan.nparts = 6;
	scan.viruses = viruses;
	scan.nviruses = virus ? 1 : 0;
	scan.attachments = 3;
	scan.dlp = &dlp;
	scan.msg_size = sizeof(PLAIN_MSG) - 1;
}

/* ---- load ---- */

static void test_load_errors(void **st)
{
	(void)st;
	load_bad("{", "not JSON");
	load_bad("[]", "the snapshot must be a JSON object");
	load_bad("{\"format\": \"mxgate-config\", \"version\": 1, \"local_domains\": [],"
		 " \"lists\": [], \"policies\": []}", "format:");
	load_bad("{\"format\": \"mxgate-policy\", \"local_domains\": [], \"lists\": [],"
		 " \"policies\": []}", "version: required");
	load_bad("{\"format\": \"mxgate-policy\", \"version\": 1, \"lists\": [],"
		 " \"policies\": [], \"extra\": 1, \"local_domains\": []}", "extra: unknown");
	load_bad(doc("", NULL, "\"bad domain!\""), "local_domains[0]:");
	load_bad(doc("{\"name\": \"x\", \"conditions\": [{\"type\": \"any\"}],"
		     " \"actions\": [{\"type\": \"deliver\"}]}", NULL, NULL),
		 "policies[0].id: required");
	load_bad(doc("{\"id\": 1, \"name\": \"a\", \"conditions\": [{\"type\": \"any\"}],"
		     " \"actions\": [{\"type\": \"deliver\"}]},"
		     "{\"id\": 2, \"name\": \"b\", \"conditions\": [{\"type\": \"any\"},"
		     " {\"type\": \"subject\", \"regex\": \"(unclosed\"}],"
		     " \"actions\": [{\"type\": \"deliver\"}]}", NULL, NULL),
		 "policies[1].conditions[1].regex: does not compile");
	load_bad(doc("{\"id\": 1, \"name\": \"a\", \"conditions\":"
		     " [{\"type\": \"sender\", \"list\": \"nope\"}],"
		     " \"actions\": [{\"type\": \"deliver\"}]}", NULL, NULL),
		 "policies[0].conditions[0].list: unknown list 'nope'");
	load_bad(doc("{\"id\": 1, \"name\": \"a\", \"conditions\": [{\"type\": \"frobnicate\"}],"
		     " \"actions\": [{\"type\": \"deliver\"}]}", NULL, NULL),
		 "policies[0].conditions[0].type: unknown condition type");
	load_bad(doc("{\"id\": 1, \"name\": \"a\", \"conditions\": [{\"type\": \"any\"}],"
		     " \"exceptions\": [{\"type\": \"dlp\", \"template\": \"x\"}],"
		     " \"actions\": [{\"type\": \"deliver\"}]}", NULL, NULL),
		 "policies[0].exceptions[0].template:");
	load_bad(doc("{\"id\": 1, \"name\": \"a\", \"conditions\": [{\"type\": \"any\"}],"
		     " \"actions\": [{\"type\": \"deliver\"}, {\"type\": \"delete\"}]}", NULL, NULL),
		 "policies[0].actions: has 2 terminal actions");
	load_bad(doc("", "{\"name\": \"l\", \"kind\": \"addresses\", \"entries\":"
		     " [\"ok@x.test\", \"a@@b\"]}", NULL), "lists[0].entries[1]:");
	load_bad(doc("", "{\"name\": \"l\", \"kind\": \"domains\", \"entries\": []},"
		     "{\"name\": \"l\", \"kind\": \"domains\", \"entries\": []}", NULL),
		 "lists[1].name: duplicate");
}

static void test_load_order_and_disabled(void **st)
{
	struct pol_snap *s;
	struct pol_decision d;

	(void)st;
	s = load_ok(doc("{\"id\": 1, \"name\": \"late\", \"position\": 50,"
			" \"conditions\": [{\"type\": \"any\"}], \"actions\": [{\"type\": \"delete\"}]},"
			"{\"id\": 9, \"name\": \"off\", \"position\": 1, \"enabled\": false,"
			" \"conditions\": [{\"type\": \"any\"}], \"actions\": [{\"type\": \"delete\"}]},"
			"{\"id\": 3, \"name\": \"tie-b\", \"position\": 20,"
			" \"conditions\": [{\"type\": \"any\"}],"
			" \"actions\": [{\"type\": \"tag_subject\", \"tag\": \"[b]\"}]},"
			"{\"id\": 2, \"name\": \"tie-a\", \"position\": 20,"
			" \"conditions\": [{\"type\": \"any\"}],"
			" \"actions\": [{\"type\": \"reroute\", \"host\": \"mx.test\"}]}",
			NULL, NULL));
	assert_int_equal(pol_snap_rules(s), 3);
	assert_int_equal(pol_snap_version(s), 7);
	d = eval1(s, "a@x.test", "b@example.com", NULL);
	/* (20, 2) before (20, 3) before (50, 1); the disabled rule is gone */
	assert_int_equal(d.fate, POL_REROUTE);
	assert_int_equal(d.rule_id, 2);
	assert_string_equal(d.rule_name, "tie-a");
	assert_string_equal(d.reroute_host, "mx.test");
	assert_int_equal(d.reroute_port, 25);
	assert_int_equal(d.ntag, 1);
	assert_string_equal(d.tag[0], "[b]");
	assert_int_equal(d.nmatched, 3);
	assert_int_equal(d.matched[0], 2);
	assert_int_equal(d.matched[1], 3);
	assert_int_equal(d.matched[2], 1);
	pol_snap_unref(s);
}

/* ---- conditions ---- */

static void test_cond_addresses(void **st)
{
	(void)st;
	scan_init(false);
	assert_true(HOLDS("{\"type\": \"sender\", \"pattern\": \"Alice@Example.NET\"}"));
	assert_false(HOLDS("{\"type\": \"sender\", \"pattern\": \"alicia@example.net\"}"));
	assert_true(HOLDS("{\"type\": \"sender\", \"pattern\": \"*@example.net\"}"));
	assert_true(HOLDS("{\"type\": \"sender\", \"pattern\": \"@example.net\"}"));
	assert_true(HOLDS("{\"type\": \"sender\", \"pattern\": \"example.net\"}"));
	assert_false(HOLDS("{\"type\": \"sender\", \"pattern\": \"*@*.example.net\"}"));
	assert_true(holds("{\"type\": \"sender\", \"pattern\": \"*@*.example.net\"}",
			  "x@mail.Example.net", "bob@example.com", NULL));
	assert_false(holds("{\"type\": \"sender\", \"pattern\": \"example.net\"}",
			   "x@mail.example.net", "bob@example.com", NULL));
	assert_true(HOLDS("{\"type\": \"sender\", \"pattern\": \"alice@*\"}"));
	assert_true(HOLDS("{\"type\": \"sender\", \"pattern\": \"*@*\"}"));
	assert_true(HOLDS("{\"type\": \"sender\", \"pattern\": \"al*e@example.net\"}"));
	assert_false(HOLDS("{\"type\": \"sender\", \"pattern\": \"bo*@example.net\"}"));
	assert_true(HOLDS("{\"type\": \"sender\", \"regex\": \"^ALICE@\"}"));
	assert_false(HOLDS("{\"type\": \"sender\", \"regex\": \"^bob@\"}"));
	/* the null sender matches no pattern */
	assert_false(holds("{\"type\": \"sender\", \"pattern\": \"*@*\"}", "", "b@example.com",
			   NULL));
	assert_true(holds("{\"type\": \"sender\", \"regex\": \"^$\"}", "", "b@example.com",
			  NULL));
	assert_true(HOLDS("{\"type\": \"recipient\", \"pattern\": \"bob@example.com\"}"));
	assert_false(HOLDS("{\"type\": \"recipient\", \"pattern\": \"alice@example.net\"}"));

	/* lists: address, domain, @domain, *@*.sub, user@*, glob, domains kind */
	const char *l = "{\"type\": \"sender\", \"list\": \"vip\"}";

	assert_true(holds(l, "BOSS@corp.test", "b@example.com", NULL));
	assert_false(holds(l, "other@corp.test", "b@example.com", NULL));
	assert_true(holds(l, "any@partner.test", "b@example.com", NULL));
	assert_false(holds(l, "any@x.partner.test", "b@example.com", NULL));
	assert_true(holds(l, "any@friend.test", "b@example.com", NULL));
	assert_true(holds(l, "any@a.sub.test", "b@example.com", NULL));
	assert_false(holds(l, "any@sub.test", "b@example.com", NULL));
	assert_true(holds(l, "postmaster@anything.test", "b@example.com", NULL));
	assert_true(holds(l, "abc@glob.test", "b@example.com", NULL));
	assert_false(holds(l, "abbc@glob.test", "b@example.com", NULL));
	assert_false(holds(l, "", "b@example.com", NULL));
	assert_true(holds("{\"type\": \"recipient\", \"list\": \"doms\"}", "a@x.test",
			  "u@DOM.test", NULL));
	assert_false(holds("{\"type\": \"recipient\", \"list\": \"doms\"}", "a@x.test",
			   "u@dom2.test", NULL));
}

static void test_cond_scan(void **st)
{
	(void)st;
	scan_init(true);
	assert_true(HOLDS("{\"type\": \"virus\"}"));
	assert_true(HOLDS("{\"type\": \"virus\", \"name_regex\": \"^win\\\\.trojan\"}"));
	assert_false(HOLDS("{\"type\": \"virus\", \"name_regex\": \"Eicar\"}"));
	scan_init(false);
	assert_false(HOLDS("{\"type\": \"virus\"}"));

	assert_false(HOLDS("{\"type\": \"archive_bomb\"}"));
	assert_false(HOLDS("{\"type\": \"archive_encrypted\"}"));
	scan.archive_flags = SCAN_ARF_BOMB;
	scan.archive_verdict = SCAN_ARCHIVE_BOMB;
	assert_true(HOLDS("{\"type\": \"archive_bomb\"}"));
	assert_false(HOLDS("{\"type\": \"archive_encrypted\"}"));
	scan.archive_flags = SCAN_ARF_TOO_DEEP;
	scan.archive_verdict = SCAN_ARCHIVE_TOO_DEEP;
	assert_true(HOLDS("{\"type\": \"archive_bomb\"}"));
	scan.archive_flags = SCAN_ARF_ENCRYPTED;
	scan.archive_verdict = SCAN_ARCHIVE_ENCRYPTED;
	assert_true(HOLDS("{\"type\": \"archive_encrypted\"}"));
	assert_false(HOLDS("{\"type\": \"archive_bomb\"}"));
	scan_init(false);

	assert_true(HOLDS("{\"type\": \"dlp\", \"template\": \"credit_card\"}"));
	assert_true(HOLDS("{\"type\": \"dlp\", \"template\": \"credit_card\", \"min_count\": 3}"));
	assert_false(HOLDS("{\"type\": \"dlp\", \"template\": \"credit_card\", \"min_count\": 4}"));
	assert_true(HOLDS("{\"type\": \"dlp\", \"template\": \"email_address\"}"));
	assert_false(HOLDS("{\"type\": \"dlp\", \"template\": \"iban\"}"));
	dlp.kind_hits[SCAN_DLP_IBAN] = 1;
	dlp.kind_hits[SCAN_DLP_SSN] = 1;
	dlp.kind_hits[SCAN_DLP_PHONE] = 1;
	assert_true(HOLDS("{\"type\": \"dlp\", \"template\": \"iban\"}"));
	assert_true(HOLDS("{\"type\": \"dlp\", \"template\": \"us_ssn\"}"));
	assert_true(HOLDS("{\"type\": \"dlp\", \"template\": \"phone_number\"}"));
	/* no detector behind these two yet */
	assert_false(HOLDS("{\"type\": \"dlp\", \"template\": \"uk_nino\"}"));
	assert_false(HOLDS("{\"type\": \"dlp\", \"template\": \"swift_bic\"}"));
	scan.dlp = NULL;
	assert_false(HOLDS("{\"type\": \"dlp\", \"template\": \"credit_card\"}"));
	scan_init(false);

	/* true types: category name or detected kind, members included */
	assert_true(HOLDS("{\"type\": \"attachment_type\", \"types\": [\"exec\"]}"));
	assert_true(HOLDS("{\"type\": \"attachment_type\", \"types\": [\"image\", \"pe\"]}"));
	assert_true(HOLDS("{\"type\": \"attachment_type\", \"types\": [\"pdf\"]}"));
	assert_false(HOLDS("{\"type\": \"attachment_type\", \"types\": [\"image\", \"office\"]}"));
	/* the text body is no attachment */
	parts[5].flags &= ~SCAN_PF_ATTACHMENT;
	assert_false(HOLDS("{\"type\": \"attachment_type\", \"types\": [\"text\"]}"));
	scan_init(false);

	assert_true(HOLDS("{\"type\": \"attachment_name\", \"pattern\": \"*.pdf\"}"));
	assert_true(HOLDS("{\"type\": \"attachment_name\", \"pattern\": \"evil.exe\"}"));
	assert_false(HOLDS("{\"type\": \"attachment_name\", \"pattern\": \"*.scr\"}"));
	assert_true(HOLDS("{\"type\": \"attachment_name\", \"regex\": \"\\\\.EXE$\"}"));
	assert_false(HOLDS("{\"type\": \"attachment_name\", \"regex\": \"\\\\.(scr|js)$\"}"));

	assert_true(HOLDS("{\"type\": \"attachment_size\", \"min\": 40000}"));
	/* members are not measured: 9 MB evil.exe is inside the 3 KB zip */
	assert_false(HOLDS("{\"type\": \"attachment_size\", \"min\": 1000000}"));
	assert_true(HOLDS("{\"type\": \"attachment_size\", \"max\": 100}"));
	assert_false(HOLDS("{\"type\": \"attachment_size\", \"min\": 101, \"max\": 2999}"));

	assert_true(HOLDS("{\"type\": \"attachment_count\", \"min\": 3}"));
	assert_true(HOLDS("{\"type\": \"attachment_count\", \"min\": 1, \"max\": 3}"));
	assert_false(HOLDS("{\"type\": \"attachment_count\", \"min\": 4}"));
	assert_false(HOLDS("{\"type\": \"attachment_count\", \"max\": 2}"));

	assert_true(HOLDS("{\"type\": \"message_size\", \"min\": 100}"));
	assert_false(HOLDS("{\"type\": \"message_size\", \"min\": 100000}"));
	assert_true(HOLDS("{\"type\": \"message_size\", \"max\": 100000}"));

	assert_false(HOLDS("{\"type\": \"spam_score\", \"min\": 0}"));
	assert_false(HOLDS("{\"type\": \"graymail\"}"));
	assert_true(HOLDS("{\"type\": \"graymail\", \"not\": true}"));
	assert_true(HOLDS("{\"type\": \"any\"}"));

	/* not scanned: scan conditions are false, "not" of them true */
	assert_false(holds("{\"type\": \"attachment_count\", \"min\": 0}", "a@x.test",
			   "b@example.com", NULL));
	assert_false(holds("{\"type\": \"virus\"}", "a@x.test", "b@example.com", NULL));
	assert_true(holds("{\"type\": \"virus\", \"not\": true}", "a@x.test", "b@example.com",
			  NULL));
}

static void test_cond_content(void **st)
{
	(void)st;
	scan_init(false);
	/* RFC 2047 decoded and unfolded */
	assert_true(HOLDS("{\"type\": \"subject\", \"regex\": \"^Hello Wörld and more$\"}"));
	assert_false(HOLDS("{\"type\": \"subject\", \"regex\": \"UTF-8\"}"));
	assert_false(HOLDS("{\"type\": \"subject\", \"regex\": \"hello\"}"));
	assert_true(HOLDS("{\"type\": \"subject\", \"regex\": \"(?i)hello\"}"));
	assert_true(HOLDS("{\"type\": \"header\", \"name\": \"x-spam-flag\", \"regex\": \"^YES$\"}"));
	assert_false(HOLDS("{\"type\": \"header\", \"name\": \"X-Spam-Flag\", \"regex\": \"NO\"}"));
	assert_true(HOLDS("{\"type\": \"header\", \"name\": \"X-Long\","
			  " \"regex\": \"^first\\tsecond$\"}"));
	assert_false(HOLDS("{\"type\": \"header\", \"name\": \"X-Missing\", \"regex\": \"\"}"));
	assert_true(HOLDS("{\"type\": \"header\", \"name\": \"To\", \"regex\": \"bob@\"}"));
	assert_true(HOLDS("{\"type\": \"body\", \"regex\": \"Confidential\"}"));
	/* headers are not body */
	assert_false(HOLDS("{\"type\": \"body\", \"regex\": \"X-Spam-Flag\"}"));
	assert_false(HOLDS("{\"type\": \"body\", \"regex\": \"Secret\"}"));
}

/* With the scan's body text, a body condition matches it (decoded, UTF-8,
 * reduced) and not the raw bytes; without it, the raw body. */
static void test_cond_body_scan_text(void **st)
{
	static const char raw[] = "Subject: b64\r\nMIME-Version: 1.0\r\n"
				  "Content-Type: text/plain; charset=utf-8\r\n"
				  "Content-Transfer-Encoding: base64\r\n\r\n"
				  "UHJvamVjdCBGYWxjb24gc3RhcnRzIE1vbmRheQ==\r\n";
	static const char text[] = "Project Falcon starts Monday\r\n";
	struct pol_snap *yes = one_rule("{\"type\": \"body\", \"regex\": \"(?i)project\\\\s+falcon\"}");
	struct pol_snap *b64 = one_rule("{\"type\": \"body\", \"regex\": \"UHJvamVjdCBG\"}");
	struct pol_snap *none = one_rule("{\"type\": \"body\", \"regex\": \"Falcon\","
					 " \"not\": true}");
	struct pol_decision d;
	struct tmsg t;

	(void)st;
	scan_init(false);
	tmsg_init(&t, "a@x.test", "b@example.com", &scan);
	t.m.msg = (const uint8_t *)raw;
	t.m.len = sizeof(raw) - 1;
	/* no text in the result (keep_text 0): the raw body */
	pol_eval(yes, &t.m, 0, &d);
	assert_int_equal(d.fate, POL_DELIVER);
	pol_eval(b64, &t.m, 0, &d);
	assert_int_equal(d.fate, POL_QUARANTINE);
	/* the kept text */
	scan.text = (const uint8_t *)text;
	scan.text_len = sizeof(text) - 1;
	pol_eval(yes, &t.m, 0, &d);
	assert_int_equal(d.fate, POL_QUARANTINE);
	pol_eval(b64, &t.m, 0, &d);
	assert_int_equal(d.fate, POL_DELIVER);
	pol_eval(none, &t.m, 0, &d);
	assert_int_equal(d.fate, POL_DELIVER);
	/* text_len bounds the match, not a NUL */
	scan.text_len = 10; /* "Project Fa" */
	pol_eval(yes, &t.m, 0, &d);
	assert_int_equal(d.fate, POL_DELIVER);
	pol_eval(none, &t.m, 0, &d);
	assert_int_equal(d.fate, POL_QUARANTINE);
	/* kept but empty (no text part): empty, no fallback to the raw body */
	scan.text = (const uint8_t *)"";
	scan.text_len = 0;
	pol_eval(b64, &t.m, 0, &d);
	assert_int_equal(d.fate, POL_DELIVER);
	/* unscanned: the raw body */
	t.m.scan = NULL;
	pol_eval(b64, &t.m, 0, &d);
	assert_int_equal(d.fate, POL_QUARANTINE);
	scan_init(false);
	pol_snap_unref(yes);
	pol_snap_unref(b64);
	pol_snap_unref(none);
}

static void test_regex_limit_counted(void **st)
{
	static char msg[8192];
	struct pol_snap *s;
	struct tmsg t;
	struct pol_decision d;
	size_t n;

	(void)st;
	n = (size_t)snprintf(msg, sizeof(msg), "Subject: x\r\n\r\n");
	memset(msg + n, 'a', 4000);
	n += 4000;
	msg[n++] = '!';
	s = one_rule("{\"type\": \"body\", \"regex\": \"(a+)+$\"}");
	tmsg_init(&t, "a@x.test", "b@example.com", NULL);
	t.m.msg = (const uint8_t *)msg;
	t.m.len = n;
	pol_eval(s, &t.m, 0, &d);
	assert_int_equal(d.fate, POL_DELIVER);
	assert_true(pol_snap_regex_errors(s) >= 1);
	pol_snap_unref(s);
}

static void test_all_any_not_exceptions(void **st)
{
	(void)st;
	scan_init(false);
	struct pol_snap *s;
	const char *two = "{\"type\": \"sender\", \"pattern\": \"*@example.net\"},"
			  "{\"type\": \"recipient\", \"pattern\": \"nobody@example.com\"}";
	char r[2048];

	/* all: one false -> no match; any: one true -> match */
	snprintf(r, sizeof(r), "{\"id\": 1, \"name\": \"all\", \"conditions\": [%s],"
		 " \"actions\": [{\"type\": \"delete\"}]}", two);
	s = load_ok(doc(r, NULL, NULL));
	assert_int_equal(eval1(s, "a@example.net", "bob@example.com", &scan).fate, POL_DELIVER);
	assert_int_equal(eval1(s, "a@example.net", "nobody@example.com", &scan).fate, POL_DELETE);
	pol_snap_unref(s);
	snprintf(r, sizeof(r), "{\"id\": 1, \"name\": \"any\", \"match\": \"any\","
		 " \"conditions\": [%s], \"actions\": [{\"type\": \"delete\"}]}", two);
	s = load_ok(doc(r, NULL, NULL));
	assert_int_equal(eval1(s, "a@example.net", "bob@example.com", &scan).fate, POL_DELETE);
	assert_int_equal(eval1(s, "a@other.test", "nobody@example.com", &scan).fate, POL_DELETE);
	assert_int_equal(eval1(s, "a@other.test", "bob@example.com", &scan).fate, POL_DELIVER);
	pol_snap_unref(s);

	/* not */
	assert_true(holds("{\"type\": \"sender\", \"pattern\": \"*@example.net\", \"not\": true}",
			  "a@other.test", "b@example.com", NULL));
	assert_false(holds("{\"type\": \"sender\", \"pattern\": \"*@example.net\", \"not\": true}",
			   "a@example.net", "b@example.com", NULL));

	/* exceptions: any one holding cancels the rule */
	s = load_ok(doc("{\"id\": 1, \"name\": \"ex\", \"conditions\": [{\"type\": \"any\"}],"
			" \"exceptions\": [{\"type\": \"sender\", \"pattern\": \"boss@corp.test\"},"
			" {\"type\": \"subject\", \"regex\": \"^URGENT\"}],"
			" \"actions\": [{\"type\": \"delete\"}]}", NULL, NULL));
	assert_int_equal(eval1(s, "boss@corp.test", "b@example.com", NULL).fate, POL_DELIVER);
	assert_int_equal(eval1(s, "x@corp.test", "b@example.com", NULL).fate, POL_DELETE);
	pol_snap_unref(s);
	s = load_ok(doc("{\"id\": 1, \"name\": \"ex\", \"conditions\": [{\"type\": \"any\"}],"
			" \"exceptions\": [{\"type\": \"subject\", \"regex\": \"Hello\"}],"
			" \"actions\": [{\"type\": \"delete\"}]}", NULL, NULL));
	assert_int_equal(eval1(s, "x@corp.test", "b@example.com", NULL).fate, POL_DELIVER);
	pol_snap_unref(s);
}

static void test_scope(void **st)
{
	struct pol_snap *s;
	struct pol_decision d;
	struct tmsg t;

	(void)st;
	s = load_ok(doc("{\"id\": 1, \"name\": \"in\", \"scope\": \"inbound\","
			" \"conditions\": [{\"type\": \"any\"}],"
			" \"actions\": [{\"type\": \"tag_subject\", \"tag\": \"[in]\"}]},"
			"{\"id\": 2, \"name\": \"out\", \"scope\": \"outbound\","
			" \"conditions\": [{\"type\": \"any\"}],"
			" \"actions\": [{\"type\": \"tag_subject\", \"tag\": \"[out]\"}]},"
			"{\"id\": 3, \"name\": \"both\", \"scope\": \"both\","
			" \"conditions\": [{\"type\": \"any\"}],"
			" \"actions\": [{\"type\": \"tag_subject\", \"tag\": \"[both]\"}]}",
			NULL, "\"example.com\", \"Corp.Test\""));
	d = eval1(s, "a@x.test", "u@example.com", NULL);
	assert_false(d.outbound);
	assert_int_equal(d.ntag, 2);
	assert_string_equal(d.tag[0], "[in]");
	assert_string_equal(d.tag[1], "[both]");
	d = eval1(s, "a@x.test", "u@mail.corp.TEST", NULL); /* parent domain */
	assert_false(d.outbound);
	assert_string_equal(d.tag[0], "[in]");
	d = eval1(s, "a@x.test", "u@notexample.com", NULL);
	assert_true(d.outbound);
	assert_int_equal(d.ntag, 2);
	assert_string_equal(d.tag[0], "[out]");
	d = eval1(s, "a@x.test", "postmaster", NULL); /* no domain: outbound */
	assert_true(d.outbound);
	/* the caller's own domains */
	tmsg_init(&t, "a@x.test", "u@elsewhere.test", NULL);
	t.local[0] = true;
	t.m.rcpt_local = t.local;
	pol_eval(s, &t.m, 0, &d);
	assert_false(d.outbound);
	assert_string_equal(d.tag[0], "[in]");
	pol_snap_unref(s);
}

/* ---- the walk ---- */

static void test_walk(void **st)
{
	struct pol_snap *s;
	struct pol_decision d;

	(void)st;
	scan_init(false);
	/* first terminal wins, non-terminal actions accumulate in rule order */
	s = load_ok(doc(
		"{\"id\": 1, \"name\": \"hdr\", \"position\": 1, \"conditions\": [{\"type\": \"any\"}],"
		" \"actions\": [{\"type\": \"insert_header\", \"name\": \"X-A\", \"value\": \"1\"},"
		" {\"type\": \"log\", \"level\": \"full\"}]},"
		"{\"id\": 2, \"name\": \"reroute\", \"position\": 2,"
		" \"conditions\": [{\"type\": \"sender\", \"pattern\": \"*@x.test\"}],"
		" \"actions\": [{\"type\": \"reroute\", \"host\": \"[192.0.2.1]\", \"port\": 2525},"
		" {\"type\": \"notify\", \"to\": \"admin\", \"template\": \"rr\"}]},"
		"{\"id\": 3, \"name\": \"del\", \"position\": 3, \"conditions\": [{\"type\": \"any\"}],"
		" \"actions\": [{\"type\": \"delete\"}, {\"type\": \"tag_subject\", \"tag\": \"[3]\"},"
		" {\"type\": \"bcc\", \"address\": \"audit@corp.test\"}]},"
		"{\"id\": 4, \"name\": \"stopper\", \"position\": 4, \"stop\": true,"
		" \"conditions\": [{\"type\": \"any\"}],"
		" \"actions\": [{\"type\": \"tag_subject\", \"tag\": \"[4]\"}]},"
		"{\"id\": 5, \"name\": \"after-stop\", \"position\": 5,"
		" \"conditions\": [{\"type\": \"any\"}],"
		" \"actions\": [{\"type\": \"tag_subject\", \"tag\": \"[5]\"}]}", NULL, NULL));
	d = eval1(s, "a@x.test", "b@example.com", NULL);
	assert_int_equal(d.fate, POL_REROUTE);
	assert_int_equal(d.rule_id, 2);
	assert_string_equal(d.reroute_host, "[192.0.2.1]");
	assert_int_equal(d.reroute_port, 2525);
	assert_int_equal(d.nhdr, 1);
	assert_string_equal(d.hdr[0].name, "X-A");
	assert_string_equal(d.hdr[0].value, "1");
	assert_true(d.log_full);
	assert_int_equal(d.nnotify, 1);
	assert_int_equal(d.notify[0].to, POL_NOTIFY_ADMIN);
	assert_string_equal(d.notify[0].tmpl, "rr");
	assert_int_equal(d.notify[0].rule_id, 2);
	/* rule 3's delete is ignored (decided), its tag and bcc count */
	assert_int_equal(d.ntag, 2);
	assert_string_equal(d.tag[0], "[3]");
	assert_string_equal(d.tag[1], "[4]");
	assert_int_equal(d.nbcc, 1);
	assert_string_equal(d.bcc[0], "audit@corp.test");
	/* stop ended the walk: rule 5 never ran */
	assert_int_equal(d.nmatched, 4);
	assert_true(pol_decision_modifies(&d));

	/* sender not rerouted: rule 3 deletes, the walk ends, mods dropped */
	d = eval1(s, "a@y.test", "b@example.com", NULL);
	assert_int_equal(d.fate, POL_DELETE);
	assert_int_equal(d.rule_id, 3);
	assert_string_equal(d.rule_name, "del");
	assert_int_equal(d.ntag, 0);
	assert_int_equal(d.nhdr, 0);
	assert_false(pol_decision_modifies(&d));
	assert_int_equal(d.nbcc, 1);
	assert_true(d.log_full);
	assert_int_equal(d.nmatched, 2);
	assert_int_equal(d.matched[1], 3);
	pol_snap_unref(s);

	/* deliver is terminal but does not end the walk; quarantine keeps the
	 * deciding rule's notify, area default */
	s = load_ok(doc(
		"{\"id\": 1, \"name\": \"ok\", \"position\": 1,"
		" \"conditions\": [{\"type\": \"sender\", \"pattern\": \"*@trusted.test\"}],"
		" \"actions\": [{\"type\": \"deliver\"}]},"
		"{\"id\": 2, \"name\": \"q\", \"position\": 2, \"conditions\": [{\"type\": \"any\"}],"
		" \"actions\": [{\"type\": \"quarantine\"},"
		" {\"type\": \"notify\", \"to\": \"recipient\", \"template\": \"q\"}]},"
		"{\"id\": 3, \"name\": \"tag\", \"position\": 3, \"conditions\": [{\"type\": \"any\"}],"
		" \"actions\": [{\"type\": \"tag_subject\", \"tag\": \"[t]\"}]}", NULL, NULL));
	d = eval1(s, "a@trusted.test", "b@example.com", NULL);
	assert_int_equal(d.fate, POL_DELIVER);
	assert_int_equal(d.rule_id, 1);
	assert_int_equal(d.ntag, 1);
	assert_int_equal(d.nnotify, 1);
	assert_int_equal(d.nmatched, 3);
	d = eval1(s, "a@other.test", "b@example.com", NULL);
	assert_int_equal(d.fate, POL_QUARANTINE);
	assert_string_equal(d.area, "default");
	assert_int_equal(d.nnotify, 1);
	assert_int_equal(d.notify[0].to, POL_NOTIFY_RECIPIENT);
	assert_int_equal(d.ntag, 0);
	assert_int_equal(d.nmatched, 1);
	pol_snap_unref(s);

	/* nothing matched: deliver, no rule */
	s = one_rule("{\"type\": \"virus\"}");
	d = eval1(s, "a@x.test", "b@example.com", &scan);
	assert_int_equal(d.fate, POL_DELIVER);
	assert_int_equal(d.rule_id, 0);
	assert_string_equal(d.rule_name, "");
	assert_int_equal(d.nmatched, 0);
	pol_snap_unref(s);
}

static void test_strip_parts(void **st)
{
	struct pol_snap *s;
	struct pol_decision d;

	(void)st;
	scan_init(true);
	s = load_ok(doc(
		"{\"id\": 1, \"name\": \"exe\", \"position\": 1,"
		" \"conditions\": [{\"type\": \"attachment_type\", \"types\": [\"exec\"]}],"
		" \"actions\": [{\"type\": \"strip_attachments\", \"notice\": \"removed\"}]},"
		"{\"id\": 2, \"name\": \"big\", \"position\": 2,"
		" \"conditions\": [{\"type\": \"message_size\", \"min\": 1}],"
		" \"actions\": [{\"type\": \"strip_attachments\"}]}", NULL, NULL));
	d = eval1(s, "a@x.test", "b@example.com", &scan);
	assert_true(d.strip);
	assert_string_equal(d.strip_notice, "removed");
	/* rule 1: the zip holding evil.exe (part 3); rule 2 (no part
	 * condition): every top-level attachment (2, 3, 5) */
	assert_int_equal(d.strip_parts, (1u << 2) | (1u << 3) | (1u << 5));
	assert_false(d.strip_all);
	pol_snap_unref(s);

	s = load_ok(doc("{\"id\": 1, \"name\": \"v\", \"match\": \"any\","
			" \"conditions\": [{\"type\": \"virus\"},"
			" {\"type\": \"attachment_name\", \"pattern\": \"*.pdf\"}],"
			" \"actions\": [{\"type\": \"strip_attachments\"}]}", NULL, NULL));
	d = eval1(s, "a@x.test", "b@example.com", &scan);
	assert_string_equal(d.strip_notice, "");
	assert_int_equal(d.strip_parts, (1u << 2) | (1u << 3));
	/* not scanned: every attachment, unknown -> strip_all */
	pol_snap_unref(s);
	s = load_ok(doc("{\"id\": 1, \"name\": \"all\", \"conditions\": [{\"type\": \"any\"}],"
			" \"actions\": [{\"type\": \"strip_attachments\"}]}", NULL, NULL));
	d = eval1(s, "a@x.test", "b@example.com", NULL);
	assert_true(d.strip);
	assert_true(d.strip_all);
	pol_snap_unref(s);
}

static void test_reprocess(void **st)
{
	struct pol_snap *s;
	struct tmsg t;
	struct pol_decision d;

	(void)st;
	scan_init(true);
	s = load_ok(doc(
		"{\"id\": 1, \"name\": \"allow\", \"position\": 1,"
		" \"conditions\": [{\"type\": \"any\"}], \"actions\": [{\"type\": \"deliver\"}]},"
		"{\"id\": 2, \"name\": \"mixed\", \"position\": 2,"
		" \"conditions\": [{\"type\": \"virus\"}, {\"type\": \"sender\", \"pattern\": \"*@*\"}],"
		" \"actions\": [{\"type\": \"delete\"}]},"
		"{\"id\": 3, \"name\": \"virus\", \"position\": 3, \"match\": \"any\","
		" \"conditions\": [{\"type\": \"virus\"}, {\"type\": \"archive_bomb\"}],"
		" \"actions\": [{\"type\": \"quarantine\", \"area\": \"virus\"}]}", NULL, NULL));
	tmsg_init(&t, "a@x.test", "b@example.com", &scan);
	pol_eval(s, &t.m, 0, &d);
	assert_int_equal(d.fate, POL_DELIVER); /* rule 1 decides normally */
	t.m.reprocess = true;
	pol_eval(s, &t.m, 0, &d);
	assert_int_equal(d.fate, POL_QUARANTINE);
	assert_int_equal(d.rule_id, 3);
	assert_string_equal(d.area, "virus");
	assert_int_equal(d.nmatched, 1);
	scan.nviruses = 0;
	pol_eval(s, &t.m, 0, &d);
	assert_int_equal(d.fate, POL_DELIVER);
	assert_int_equal(d.nmatched, 0);
	pol_snap_unref(s);
}

static void test_multi_rcpt_and_same(void **st)
{
	struct pol_snap *s;
	struct tmsg t;
	struct pol_decision d[4];

	(void)st;
	s = load_ok(doc(
		"{\"id\": 1, \"name\": \"tag-a\", \"conditions\":"
		" [{\"type\": \"recipient\", \"pattern\": \"*@a.example.com\"}],"
		" \"actions\": [{\"type\": \"tag_subject\", \"tag\": \"[x]\"}]},"
		"{\"id\": 2, \"name\": \"tag-b\", \"conditions\":"
		" [{\"type\": \"recipient\", \"pattern\": \"*@b.example.com\"}],"
		" \"actions\": [{\"type\": \"tag_subject\", \"tag\": \"[x]\"}]},"
		"{\"id\": 3, \"name\": \"log\", \"conditions\":"
		" [{\"type\": \"recipient\", \"pattern\": \"c@b.example.com\"}],"
		" \"actions\": [{\"type\": \"log\", \"level\": \"full\"}]}", NULL, NULL));
	tmsg_init(&t, "s@x.test", "u@a.example.com", NULL);
	t.rcpt[1] = "v@b.example.com";
	t.rcpt[2] = "w@example.com";
	t.rcpt[3] = "c@b.example.com";
	t.m.nrcpt = 4;
	for (size_t i = 0; i < 4; i++)
		pol_eval(s, &t.m, i, &d[i]);
	/* same treatment from different rules (and bookkeeping) */
	assert_int_not_equal(d[0].matched[0], d[1].matched[0]);
	assert_true(pol_decision_same(&d[0], &d[1]));
	assert_true(pol_decision_same(&d[1], &d[3]));
	assert_false(pol_decision_same(&d[0], &d[2]));
	d[1].fate = POL_QUARANTINE;
	assert_false(pol_decision_same(&d[0], &d[1]));
	d[1] = d[0];
	d[1].hdr[0] = (struct pol_header){ "X", "1" };
	d[1].nhdr = 1;
	assert_false(pol_decision_same(&d[0], &d[1]));
	d[1] = d[0];
	d[1].strip = true;
	assert_false(pol_decision_same(&d[0], &d[1]));
	d[0].strip = true;
	assert_true(pol_decision_same(&d[0], &d[1]));
	d[1].strip_parts = 4;
	assert_false(pol_decision_same(&d[0], &d[1]));
	pol_snap_unref(s);

	assert_string_equal(pol_fate_name(POL_DELIVER), "deliver");
	assert_string_equal(pol_fate_name(POL_DELETE), "delete");
	assert_string_equal(pol_fate_name(POL_QUARANTINE), "quarantine");
	assert_string_equal(pol_fate_name(POL_REROUTE), "reroute");
	assert_string_equal(pol_fate_name(POL_REJECT), "reject");
}

static void test_builtin(void **st)
{
	struct pol_snap *s = pol_snap_builtin();
	struct pol_decision d;

	(void)st;
	assert_non_null(s);
	assert_int_equal(pol_snap_version(s), 0);
	assert_int_equal(pol_snap_rules(s), 2);
	scan_init(false);
	d = eval1(s, "a@x.test", "b@y.test", &scan);
	assert_int_equal(d.fate, POL_DELIVER);
	d = eval1(s, "a@x.test", "b@y.test", NULL);
	assert_int_equal(d.fate, POL_DELIVER);
	scan_init(true);
	d = eval1(s, "a@x.test", "b@y.test", &scan);
	assert_int_equal(d.fate, POL_REJECT);
	assert_true(d.rule_id != 0);
	scan_init(false);
	scan.archive_flags = SCAN_ARF_BOMB;
	scan.archive_verdict = SCAN_ARCHIVE_BOMB;
	d = eval1(s, "a@x.test", "b@y.test", &scan);
	assert_int_equal(d.fate, POL_REJECT);
	pol_snap_unref(s);
}

struct worker_arg {
	struct pol_snap *s;
	int n;
};

static void *worker(void *p)
{
	struct worker_arg *a = p;
	struct tmsg t;
	struct pol_decision d;
	int ok = 1;

	tmsg_init(&t, "a@x.test", "b@example.com", NULL);
	for (int i = 0; i < a->n; i++) {
		pol_eval(a->s, &t.m, 0, &d);
		ok &= d.fate == POL_DELETE;
	}
	pol_snap_unref(a->s); /* the thread's reference */
	return ok ? p : NULL;
}

static void test_refcount_threads(void **st)
{
	struct pol_snap *s = load_ok(doc("{\"id\": 1, \"name\": \"hello\", \"conditions\":"
					 " [{\"type\": \"subject\", \"regex\": \"Hello\"}],"
					 " \"actions\": [{\"type\": \"delete\"}]}", NULL, NULL));
	pthread_t th[4];
	struct worker_arg a[4];
	void *ret;

	(void)st;
	assert_ptr_equal(pol_snap_ref(s), s);
	pol_snap_unref(s);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct worker_arg){ pol_snap_ref(s), 2000 };
		assert_int_equal(pthread_create(&th[i], NULL, worker, &a[i]), 0);
	}
	pol_snap_unref(s); /* the loader's: workers keep it alive */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_non_null(ret);
	}
	pol_snap_unref(NULL);
	pol_thread_release();
	pol_thread_release();
}

/* ---- the SQL side ---- */

/* What mxg_policy_snapshot() returns for a policy with a list, a local
 * domain and three rules (jsonb orders keys by length, then bytes). */
static const char SQL_SHAPE[] =
	"{\"lists\": [{\"kind\": \"approved_senders\", \"name\": \"approved_senders\","
	"  \"entries\": [\"*@*.partner.test\", \"boss@corp.test\"], \"description\": \"\"},"
	" {\"kind\": \"domains\", \"name\": \"blocked-doms\", \"entries\": [\"spam.test\"],"
	"  \"description\": \"known spammers\"}],"
	" \"format\": \"mxgate-policy\", \"version\": 42,"
	" \"policies\": [{\"id\": 1, \"name\": \"virus-quarantine\", \"stop\": false,"
	"  \"match\": \"all\", \"scope\": \"both\", \"actions\": [{\"type\": \"quarantine\"}],"
	"  \"enabled\": true, \"position\": 10, \"conditions\": [{\"type\": \"virus\"}],"
	"  \"exceptions\": [], \"description\": \"Messages with a virus go to the quarantine.\"},"
	" {\"id\": 4, \"name\": \"blocked\", \"stop\": true, \"match\": \"any\","
	"  \"scope\": \"inbound\", \"actions\": [{\"type\": \"delete\"}], \"enabled\": true,"
	"  \"position\": 15, \"conditions\": [{\"list\": \"blocked-doms\", \"type\": \"sender\"}],"
	"  \"exceptions\": [{\"list\": \"approved_senders\", \"type\": \"sender\"}],"
	"  \"description\": \"\"},"
	" {\"id\": 3, \"name\": \"log-everything\", \"stop\": false, \"match\": \"all\","
	"  \"scope\": \"both\", \"actions\": [{\"type\": \"log\", \"level\": \"summary\"}],"
	"  \"enabled\": true, \"position\": 1000, \"conditions\": [{\"type\": \"any\"}],"
	"  \"exceptions\": [], \"description\": \"\"}],"
	" \"local_domains\": [\"example.com\"]}";

static void test_sql_snapshot_shape(void **st)
{
	struct pol_snap *s = load_ok(SQL_SHAPE);
	struct pol_decision d;

	(void)st;
	assert_int_equal(pol_snap_version(s), 42);
	assert_int_equal(pol_snap_rules(s), 3);
	d = eval1(s, "x@spam.test", "u@example.com", NULL);
	assert_int_equal(d.fate, POL_DELETE);
	assert_int_equal(d.rule_id, 4);
	d = eval1(s, "boss@corp.test", "u@example.com", NULL);
	assert_int_equal(d.fate, POL_DELIVER);
	assert_int_equal(d.nmatched, 1);
	assert_int_equal(d.matched[0], 3);
	d = eval1(s, "x@spam.test", "u@outside.test", NULL); /* inbound only */
	assert_int_equal(d.fate, POL_DELIVER);
	pol_snap_unref(s);
}

/* The out-of-the-box policy (ctl_default_config, imported by ctl_boot.c
 * into a fresh database) compiles and does what it says. */
extern const char ctl_default_config[];

static void test_default_policy(void **st)
{
	static char snap[65536];
	size_t i;
	json_t *doc, *arr, *rule;
	json_error_t je;
	struct ctl_verrs v = { 0 };
	struct pol_snap *s;
	struct pol_decision d;

	(void)st;
	doc = json_loads(ctl_default_config, 0, &je);
	assert_non_null(doc);
	arr = ctl_doc_validate(doc, &v);
	if (!arr)
		print_error("default policy: %s: %s\n", v.e[0].field, v.e[0].msg);
	assert_non_null(arr);
	json_decref(doc);
	doc = arr;
	arr = json_incref(json_object_get(doc, "policies"));
	json_decref(doc);
	assert_int_equal(json_array_size(arr), 3);
	/* as mxg_policy_snapshot() returns them: with an id */
	json_array_foreach(arr, i, rule)
		json_object_set_new(rule, "id", json_integer((json_int_t)i + 1));
	char *rules = json_dumps(arr, JSON_COMPACT);

	assert_non_null(rules);
	snprintf(snap, sizeof(snap),
		 "{\"format\": \"mxgate-policy\", \"version\": 1, \"local_domains\": [],"
		 " \"lists\": [], \"policies\": %s}", rules);
	free(rules);
	json_decref(arr);
	s = load_ok(snap);
	assert_int_equal(pol_snap_rules(s), 3);
	scan_init(true);
	d = eval1(s, "a@x.test", "b@y.test", &scan);
	assert_int_equal(d.fate, POL_QUARANTINE);
	assert_int_equal(d.rule_id, 1);
	assert_int_equal(d.nmatched, 1);
	scan_init(false);
	scan.archive_flags = SCAN_ARF_BOMB;
	d = eval1(s, "a@x.test", "b@y.test", &scan);
	assert_int_equal(d.fate, POL_QUARANTINE);
	assert_int_equal(d.rule_id, 2);
	scan_init(false);
	d = eval1(s, "a@x.test", "b@y.test", &scan);
	assert_int_equal(d.fate, POL_DELIVER);
	assert_int_equal(d.nmatched, 1);
	assert_int_equal(d.matched[0], 3);
	assert_false(d.log_full);
	pol_snap_unref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_order_and_disabled),
		cmocka_unit_test(test_cond_addresses),
		cmocka_unit_test(test_cond_scan),
		cmocka_unit_test(test_cond_content),
		cmocka_unit_test(test_cond_body_scan_text),
		cmocka_unit_test(test_regex_limit_counted),
		cmocka_unit_test(test_all_any_not_exceptions),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_strip_parts),
		cmocka_unit_test(test_reprocess),
		cmocka_unit_test(test_multi_rcpt_and_same),
		cmocka_unit_test(test_builtin),
		cmocka_unit_test(test_refcount_threads),
		cmocka_unit_test(test_sql_snapshot_shape),
		cmocka_unit_test(test_default_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
