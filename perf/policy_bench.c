/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * policy_bench.c - cost of the compiled policy per message, beside the same
 * evaluation done by walking the JSON document, same run.
 *
 *	policy-bench [--runs N] [--duration S] [--smoke]
 *
 * For 10, 100 and 1,000 rules and for 1 and 10 recipients, measures the
 * wall time (CLOCK_MONOTONIC) of evaluating one message for every
 * recipient:
 *
 *  - compiled: pol_eval() per recipient on a snapshot from pol_snap_load()
 *              (control/pol.c: hash-set lists, JIT regexes, flat rules);
 *  - naive:    the peer. The same snapshot document kept as a jansson tree
 *              and walked per recipient: rule and condition fields looked
 *              up by name, type names compared as strings, list entries
 *              scanned linearly, the Subject found, unfolded and RFC 2047
 *              decoded per condition. Nothing is recompiled per message:
 *              the regexes are compiled (with JIT) once, before timing,
 *              and their pcre2_code pointers stashed in the tree.
 *
 * The rule mix (rule i, by i % 8): sender pattern, recipient pattern,
 * sender in a 1,000-entry list, caseless regex on the Subject, virus name
 * regex, DLP credit_card count, attachment type + name glob, message size;
 * plus a final log-everything rule. The message (a 3 KiB header and body,
 * 3 attachments, 3 card numbers, no virus) matches a few rules, so both
 * sides walk all of them. Both sides must reach the same fate, rule and
 * modification count for every recipient ("agree"), or the run fails.
 *
 * Output: one JSON object on stdout, samples in ns per message (best
 * practice: median of --runs), a summary on stderr. Single thread.
 */
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "mime_codec.h"
#include "pol.h"
#include "scan.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the workload ---- */

static char *make_doc(unsigned nrules)
{
	size_t cap = 1 << 22, o = 0;
	char *d = malloc(cap);

#define P(...) (o += (size_t)snprintf(d + o, cap - o, __VA_ARGS__))
	P("{\"format\": \"mxgate-policy\", \"version\": 1,"
	  " \"local_domains\": [\"corp.example\", \"corp2.example\"], \"lists\": ["
	  "{\"name\": \"blocked\", \"kind\": \"blocked_senders\", \"entries\": [");
	for (unsigned k = 0; k < 1000; k++)
		P("%s\"x%u@bad%u.test\"", k ? ", " : "", k, k % 97);
	P("]}], \"policies\": [");
	for (unsigned i = 0; i < nrules; i++) {
		const char *c, *a;
		char cb[256], ab[256];

		switch (i % 8) {
		case 0:
			snprintf(cb, sizeof(cb), "{\"type\": \"sender\", \"pattern\": \"*@spam%u.example\"}", i);
			a = "{\"type\": \"tag_subject\", \"tag\": \"[SPAM]\"}";
			break;
		case 1:
			snprintf(cb, sizeof(cb), "{\"type\": \"recipient\", \"pattern\": \"user%u@corp.example\"}", i);
			a = "{\"type\": \"insert_header\", \"name\": \"X-Rule\", \"value\": \"1\"}";
			break;
		case 2:
			snprintf(cb, sizeof(cb), "{\"type\": \"sender\", \"list\": \"blocked\"}");
			a = "{\"type\": \"delete\"}";
			break;
		case 3:
			snprintf(cb, sizeof(cb), "{\"type\": \"subject\", \"regex\": \"(?i)invoice\\\\s+#%u\\\\b\"}", i);
			a = "{\"type\": \"tag_subject\", \"tag\": \"[INV]\"}";
			break;
		case 4:
			snprintf(cb, sizeof(cb), "{\"type\": \"virus\", \"name_regex\": \"Trojan\\\\.Gen%u\"}", i);
			a = "{\"type\": \"quarantine\", \"area\": \"virus\"}";
			break;
		case 5:
			snprintf(cb, sizeof(cb), "{\"type\": \"dlp\", \"template\": \"credit_card\", \"min_count\": %u}", 4 + i % 7);
			a = "{\"type\": \"quarantine\", \"area\": \"dlp\"}";
			break;
		case 6:
			snprintf(cb, sizeof(cb), "{\"type\": \"attachment_type\", \"types\": [\"exec\"]}, "
				 "{\"type\": \"attachment_name\", \"pattern\": \"*.scr%u\"}", i);
			a = "{\"type\": \"strip_attachments\"}";
			break;
		default:
			snprintf(cb, sizeof(cb), "{\"type\": \"message_size\", \"min\": %u}", 10000000 + i);
			a = "{\"type\": \"log\", \"level\": \"full\"}";
			break;
		}
		c = cb;
		snprintf(ab, sizeof(ab), "%s", a);
		P("{\"id\": %u, \"name\": \"rule-%u\", \"position\": %u, \"scope\": \"both\","
		  " \"match\": \"all\", \"conditions\": [%s], \"exceptions\": [],"
		  " \"actions\": [%s], \"stop\": false}, ", i + 1, i, (i + 1) * 10, c, ab);
	}
	P("{\"id\": %u, \"name\": \"log-everything\", \"position\": 100000000,"
	  " \"conditions\": [{\"type\": \"any\"}],"
	  " \"actions\": [{\"type\": \"log\", \"level\": \"summary\"}]}]}", nrules + 1);
#undef P
	return d;
}

static char msgbuf[4096];
static size_t msglen;
static struct scan_part parts[4];
static struct scan_dlp_result dlp;
static struct scan_result scan;
static const char *rcpts[10];
static char rcpt_store[10][64];

static void make_msg(void)
{
	size_t o;

	o = (size_t)snprintf(msgbuf, sizeof(msgbuf),
			     "Received: from mx.sender.test (mx.sender.test [192.0.2.7])\r\n"
			     "\tby gw.corp.example with ESMTP id 4Xz; Mon, 1 Jan 2024 10:00:00 +0000\r\n"
			     "From: \"Sender\" <alice@sender.test>\r\n"
			     "To: user7@corp.example\r\n"
			     "Subject: =?UTF-8?Q?Quarterly_report_=E2=80=93_Q3?=\r\n"
			     "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
			     "Message-ID: <abc@sender.test>\r\n"
			     "MIME-Version: 1.0\r\n"
			     "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	while (o < 3000)
		o += (size_t)snprintf(msgbuf + o, sizeof(msgbuf) - o,
				      "Please find the figures attached. Regards.\r\n");
	msglen = o;
	parts[0] = (struct scan_part){ .parent = UINT32_MAX };
	parts[1] = (struct scan_part){ .parent = 0, .flags = SCAN_PF_LEAF | SCAN_PF_TEXT,
				       .ftype = SCAN_FT_TEXT, .detected_type = "text", .size = 900 };
	parts[2] = (struct scan_part){ .parent = 0, .flags = SCAN_PF_LEAF | SCAN_PF_ATTACHMENT,
				       .filename = "report.pdf", .ftype = SCAN_FT_PDF,
				       .detected_type = "pdf", .size = 80000 };
	parts[3] = (struct scan_part){ .parent = 0, .flags = SCAN_PF_LEAF | SCAN_PF_ATTACHMENT,
				       .filename = "figures.xlsx", .ftype = SCAN_FT_OFFICE,
				       .detected_type = "ooxml", .size = 40000 };
	dlp.kind_hits[SCAN_DLP_PAN] = 3;
	scan.parts = parts;
	scan.nparts = 4;
	scan.attachments = 2;
	scan.dlp = &dlp;
	scan.msg_size = msglen;
	for (unsigned i = 0; i < 10; i++) {
		snprintf(rcpt_store[i], sizeof(rcpt_store[i]), "user%u@%s", i * 3 + 1,
			 i % 3 == 2 ? "partner.test" : "corp.example");
		rcpts[i] = rcpt_store[i];
	}
}

/* ---- the peer: walk the JSON per message ---- */

static pcre2_match_data *md;

/* Compiles every regex once and stashes the code pointer as "_re". */
static void stash_regexes(json_t *doc)
{
	json_t *r, *c;
	size_t i, k;

	json_array_foreach(json_object_get(doc, "policies"), i, r) {
		json_array_foreach(json_object_get(r, "conditions"), k, c) {
			json_t *re = json_object_get(c, "regex");
			int ec;
			PCRE2_SIZE off;
			const char *type = json_string_value(json_object_get(c, "type"));
			bool caseless = strcmp(type, "subject") && strcmp(type, "body") &&
					strcmp(type, "header");

			if (!re)
				re = json_object_get(c, "name_regex");
			if (!re)
				continue;
			pcre2_code *code = pcre2_compile((PCRE2_SPTR)json_string_value(re),
							 PCRE2_ZERO_TERMINATED,
							 PCRE2_UTF | PCRE2_MATCH_INVALID_UTF |
								 (caseless ? PCRE2_CASELESS : 0),
							 &ec, &off, NULL);
			pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
			json_object_set_new(c, "_re", json_integer((json_int_t)(intptr_t)code));
		}
	}
}

static void free_regexes(json_t *doc)
{
	json_t *r, *c;
	size_t i, k;

	json_array_foreach(json_object_get(doc, "policies"), i, r)
		json_array_foreach(json_object_get(r, "conditions"), k, c)
			if (json_object_get(c, "_re"))
				pcre2_code_free((pcre2_code *)(intptr_t)json_integer_value(
					json_object_get(c, "_re")));
}

static bool naive_re(const json_t *c, const char *s, size_t n)
{
	pcre2_code *re = (pcre2_code *)(intptr_t)json_integer_value(json_object_get(c, "_re"));

	return pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, NULL) >= 0;
}

static bool naive_pat(const char *pat, const char *addr)
{
	const char *at = strrchr(addr, '@'), *pat_at = strchr(pat, '@');
	const char *dom = at ? at + 1 : "";

	if (!pat_at)
		return strcasecmp(pat, dom) == 0;
	if (pat_at == pat || (pat_at - pat == 1 && pat[0] == '*'))
		return strcasecmp(pat_at + 1, dom) == 0;
	return strcasecmp(pat, addr) == 0;
}

static bool naive_subject(const json_t *c)
{
	const char *p = msgbuf, *end = msgbuf + msglen;
	char raw[4096], dec[8192];

	while (p < end && !(p[0] == '\r' && p[1] == '\n')) {
		const char *e = p;
		size_t o = 0;

		for (;;) {
			const char *nl = memchr(e, '\n', (size_t)(end - e));

			e = nl ? nl + 1 : end;
			if (e >= end || (*e != ' ' && *e != '\t'))
				break;
		}
		if (strncasecmp(p, "Subject:", 8) == 0) {
			for (const char *q = p + 8; q < e && o < sizeof(raw); q++)
				if (*q != '\r' && *q != '\n')
					raw[o++] = *q;
			size_t s = 0;

			while (s < o && raw[s] == ' ')
				s++;
			size_t n = mime_hdr_decode_2047(raw + s, o - s, dec, sizeof(dec), NULL);

			return naive_re(c, dec, n);
		}
		p = e;
	}
	return false;
}

static bool naive_cond(const json_t *doc, const json_t *c, const char *sender, const char *rcpt)
{
	const char *type = json_string_value(json_object_get(c, "type"));
	const json_t *v;
	bool t = false;
	size_t i;

	if (!strcmp(type, "any")) {
		t = true;
	} else if (!strcmp(type, "sender") || !strcmp(type, "recipient")) {
		const char *addr = !strcmp(type, "sender") ? sender : rcpt;

		if ((v = json_object_get(c, "pattern"))) {
			t = naive_pat(json_string_value(v), addr);
		} else if ((v = json_object_get(c, "list"))) {
			json_t *l, *e;
			size_t k;

			json_array_foreach(json_object_get(doc, "lists"), i, l) {
				if (strcmp(json_string_value(json_object_get(l, "name")),
					   json_string_value(v)))
					continue;
				json_array_foreach(json_object_get(l, "entries"), k, e)
					if (naive_pat(json_string_value(e), addr))
						t = true;
			}
		} else {
			t = naive_re(c, addr, strlen(addr));
		}
	} else if (!strcmp(type, "subject")) {
		t = naive_subject(c);
	} else if (!strcmp(type, "virus")) {
		for (i = 0; i < scan.nviruses; i++)
			if (!json_object_get(c, "_re") ||
			    naive_re(c, scan.viruses[i].name, strlen(scan.viruses[i].name)))
				t = true;
	} else if (!strcmp(type, "dlp")) {
		json_int_t mc = json_object_get(c, "min_count") ?
					json_integer_value(json_object_get(c, "min_count")) : 1;

		t = !strcmp(json_string_value(json_object_get(c, "template")), "credit_card") &&
		    scan.dlp->kind_hits[SCAN_DLP_PAN] >= mc;
	} else if (!strcmp(type, "attachment_type")) {
		json_t *e;
		size_t k;

		for (i = 0; i < scan.nparts; i++) {
			if (!(parts[i].flags & SCAN_PF_ATTACHMENT))
				continue;
			json_array_foreach(json_object_get(c, "types"), k, e)
				if (!strcmp(json_string_value(e), scan_ftype_cat_name(parts[i].ftype)) ||
				    !strcmp(json_string_value(e), parts[i].detected_type))
					t = true;
		}
	} else if (!strcmp(type, "attachment_name")) {
		for (i = 0; i < scan.nparts; i++)
			if ((parts[i].flags & SCAN_PF_ATTACHMENT) &&
			    !fnmatch(json_string_value(json_object_get(c, "pattern")),
				     parts[i].filename, FNM_CASEFOLD))
				t = true;
	} else if (!strcmp(type, "message_size")) {
		json_int_t mn = json_integer_value(json_object_get(c, "min"));

		t = (json_int_t)msglen >= mn;
	}
	return json_is_true(json_object_get(c, "not")) ? !t : t;
}

struct nres {
	int fate;
	int64_t rule_id;
	unsigned nmods;
};

static void naive_eval(const json_t *doc, const char *sender, const char *rcpt, struct nres *o)
{
	const json_t *r, *c, *a, *ld;
	size_t i, k;
	bool inbound = false, decided = false;
	const char *at = strrchr(rcpt, '@');

	o->fate = POL_DELIVER;
	o->rule_id = 0;
	o->nmods = 0;
	json_array_foreach(json_object_get(doc, "local_domains"), i, ld)
		if (at && !strcasecmp(json_string_value(ld), at + 1))
			inbound = true;
	json_array_foreach(json_object_get(doc, "policies"), i, r) {
		const char *scope = json_string_value(json_object_get(r, "scope"));
		bool any = json_object_get(r, "match") &&
			   !strcmp(json_string_value(json_object_get(r, "match")), "any");
		bool m = !any;

		if (json_object_get(r, "enabled") && !json_is_true(json_object_get(r, "enabled")))
			continue;
		if (scope && strcmp(scope, "both") && strcmp(scope, inbound ? "inbound" : "outbound"))
			continue;
		json_array_foreach(json_object_get(r, "conditions"), k, c) {
			bool t = naive_cond(doc, c, sender, rcpt);

			if (any && t) {
				m = true;
				break;
			}
			if (!any && !t) {
				m = false;
				break;
			}
		}
		json_array_foreach(json_object_get(r, "exceptions"), k, c)
			if (m && naive_cond(doc, c, sender, rcpt))
				m = false;
		if (!m)
			continue;
		json_array_foreach(json_object_get(r, "actions"), k, a) {
			const char *t = json_string_value(json_object_get(a, "type"));
			int f = !strcmp(t, "deliver") ? POL_DELIVER : !strcmp(t, "delete") ? POL_DELETE
				: !strcmp(t, "quarantine") ? POL_QUARANTINE
				: !strcmp(t, "reroute") ? POL_REROUTE : -1;

			if (f >= 0 && !decided) {
				decided = true;
				o->fate = f;
				o->rule_id = json_integer_value(json_object_get(r, "id"));
			} else if (!strcmp(t, "tag_subject") || !strcmp(t, "insert_header") ||
				   !strcmp(t, "strip_attachments")) {
				o->nmods++;
			}
		}
		if (json_is_true(json_object_get(r, "stop")) ||
		    (decided && (o->fate == POL_DELETE || o->fate == POL_QUARANTINE)))
			break;
	}
	if (o->fate == POL_DELETE || o->fate == POL_QUARANTINE)
		o->nmods = 0;
}

/* ---- measurement ---- */

static volatile uint64_t sink;

static double run_compiled(const struct pol_snap *s, const struct pol_msg *m, double dur)
{
	struct pol_decision d;
	uint64_t n = 0;
	double t0 = now(), t;

	do {
		for (int k = 0; k < 64; k++, n++)
			for (size_t i = 0; i < m->nrcpt; i++) {
				pol_eval(s, m, i, &d);
				sink += (uint64_t)d.fate + d.ntag;
			}
		t = now() - t0;
	} while (t < dur);
	return t * 1e9 / (double)n;
}

static double run_naive(const json_t *doc, const struct pol_msg *m, double dur)
{
	struct nres r;
	uint64_t n = 0;
	double t0 = now(), t;

	do {
		for (int k = 0; k < 16; k++, n++)
			for (size_t i = 0; i < m->nrcpt; i++) {
				naive_eval(doc, m->sender, m->rcpt[i], &r);
				sink += (uint64_t)r.fate + r.nmods;
			}
		t = now() - t0;
	} while (t < dur);
	return t * 1e9 / (double)n;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const unsigned sizes[] = { 10, 100, 1000 };
	static const unsigned nrcpts[] = { 1, 10 };
	int runs = 5;
	double dur = 1.0;
	bool all_agree = true, first = true;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--duration") && i + 1 < argc)
			dur = atof(argv[++i]);
		else if (!strcmp(argv[i], "--smoke"))
			runs = 1, dur = 0.02;
		else {
			fprintf(stderr, "usage: policy-bench [--runs N] [--duration S] [--smoke]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > 100)
		runs = 5;
	make_msg();
	md = pcre2_match_data_create(1, NULL);
	printf("{\"bench\": \"policy\", \"runs\": %d, \"duration_s\": %.3f, \"msg_bytes\": %zu,"
	       " \"cases\": [", runs, dur, msglen);
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		char *text = make_doc(sizes[si]), err[512];
		struct pol_snap *s = pol_snap_load(text, strlen(text), err, sizeof(err));
		json_error_t je;
		json_t *doc = json_loads(text, 0, &je);

		if (!s || !doc) {
			fprintf(stderr, "policy-bench: %s\n", s ? je.text : err);
			return 1;
		}
		stash_regexes(doc);
		for (size_t ri = 0; ri < sizeof(nrcpts) / sizeof(nrcpts[0]); ri++) {
			struct pol_msg m = { .sender = "alice@sender.test", .rcpt = rcpts,
					     .nrcpt = nrcpts[ri], .msg = (const uint8_t *)msgbuf,
					     .len = msglen, .scan = &scan };
			double c[100], nv[100];
			bool agree = true;
			unsigned matched = 0;

			/* both sides decide the same for every recipient */
			for (size_t i = 0; i < m.nrcpt; i++) {
				struct pol_decision d;
				struct nres r;

				pol_eval(s, &m, i, &d);
				naive_eval(doc, m.sender, m.rcpt[i], &r);
				matched += d.nmatched;
				if ((int)d.fate != r.fate || d.rule_id != r.rule_id ||
				    d.ntag + d.nhdr + (d.strip ? 1u : 0u) != r.nmods)
					agree = false;
			}
			all_agree &= agree;
			for (int r = 0; r < runs; r++) {
				c[r] = run_compiled(s, &m, dur);
				nv[r] = run_naive(doc, &m, dur);
			}
			printf("%s{\"rules\": %u, \"rcpts\": %u, \"agree\": %s, \"matched\": %u,"
			       " \"compiled_ns\": [", first ? "" : ", ", sizes[si], nrcpts[ri],
			       agree ? "true" : "false", matched);
			first = false;
			for (int r = 0; r < runs; r++)
				printf("%s%.1f", r ? ", " : "", c[r]);
			printf("], \"naive_ns\": [");
			for (int r = 0; r < runs; r++)
				printf("%s%.1f", r ? ", " : "", nv[r]);
			printf("]}");
			qsort(c, (size_t)runs, sizeof(double), cmp_d);
			qsort(nv, (size_t)runs, sizeof(double), cmp_d);
			fprintf(stderr, "policy: %4u rules %2u rcpt: compiled %9.0f ns/msg, naive %10.0f "
				"ns/msg, naive/compiled %.1fx%s\n", sizes[si], nrcpts[ri], c[runs / 2],
				nv[runs / 2], nv[runs / 2] / c[runs / 2], agree ? "" : " DISAGREE");
		}
		free_regexes(doc);
		json_decref(doc);
		pol_snap_unref(s);
		free(text);
	}
	printf("], \"agree\": %s}\n", all_agree ? "true" : "false");
	pcre2_match_data_free(md);
	pol_thread_release();
	return all_agree ? 0 : 1;
}
