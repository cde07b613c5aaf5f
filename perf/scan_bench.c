/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_bench.c - scan engine throughput beside raw Hyperscan, same run.
 *
 *	scan-bench [CORPUS_DIR [NRULES [ROUNDS]]]
 *
 * Loads every message listed in CORPUS_DIR/index.tsv (default
 * ../shared/corpus/spam-ham) into memory, takes NRULES (default 1000)
 * distinct words of 6-14 letters from the corpus itself as caseless keyword
 * rules on subject and body, and measures ROUNDS (default 3) passes of:
 *
 *  - session:  scan_session_new_ex (per-thread scratch) + feed(whole
 *              message) + finish + free per message: MIME parsing, decoding,
 *              charset conversion, HTML reduction, the virus database
 *              (built-in EICAR) over every decoded part, the rule database
 *              over the text, with SHA-256 per part (the default) and without;
 *  - peer:     hs_scan in block mode of the raw message bytes against one
 *              database holding the same keywords plus the EICAR string
 *              (the physical limit: no parsing, no decoding, one pass).
 *
 * MB/s are raw message bytes per second of wall time (CLOCK_MONOTONIC),
 * best of ROUNDS. Single thread. Prints one JSON object.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hs/hs.h>

#include "scan.h"

struct msg {
	uint8_t *p;
	size_t n;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t *load(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return p;
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects up to |want| distinct lowercase words of 6-14 letters. */
static size_t pick_words(const struct msg *m, size_t nm, char **out, size_t want)
{
	size_t n = 0, i, j, k;

	for (i = 0; i < nm && n < want * 4; i += 7) {
		const uint8_t *p = m[i].p;

		for (j = 0; j < m[i].n && n < want * 4;) {
			while (j < m[i].n && !isalpha(p[j]))
				j++;
			k = j;
			while (k < m[i].n && isalpha(p[k]))
				k++;
			if (k - j >= 6 && k - j <= 14) {
				char *w = strndup((const char *)p + j, k - j);
				size_t t;

				for (t = 0; w[t]; t++)
					w[t] = (char)tolower((unsigned char)w[t]);
				out[n++] = w;
			}
			j = k;
		}
	}
	qsort(out, n, sizeof(*out), cmpstr);
	for (i = 0, k = 0; i < n; i++) {
		if (k && !strcmp(out[k - 1], out[i])) {
			free(out[i]);
			continue;
		}
		out[k++] = out[i];
	}
	/* Spread the choice over the alphabet. */
	if (k > want) {
		size_t step = k / want;

		for (i = 0, j = 0; i < k; i++) {
			if (i % step == 0 && j < want)
				out[j++] = out[i];
			else
				free(out[i]);
		}
		k = j;
	}
	return k;
}

static int on_hs(unsigned int id, unsigned long long from, unsigned long long to,
		 unsigned int flags, void *ctx)
{
	(*(unsigned long *)ctx)++;
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "../shared/corpus/spam-ham";
	size_t want = argc > 2 ? (size_t)atol(argv[2]) : 1000;
	int rounds = argc > 3 ? atoi(argv[3]) : 3, r;
	char path[4096], line[4096], **words;
	struct msg *m = NULL;
	size_t nm = 0, cap = 0, total = 0, nw, i;
	struct scan_rule *rules;
	struct scan_config cfg = { 0 };
	struct scan_engine *e;
	struct scan_scratch *scr;
	struct scan_limits lim;
	hs_database_t *db = NULL;
	hs_scratch_t *hscr = NULL;
	hs_compile_error_t *cerr;
	const char **exprs;
	unsigned int *flags, *ids;
	double best_s = 1e9, best_s0 = 1e9, best_h = 1e9;
	unsigned long hits_s = 0, hits_h = 0, viruses = 0;
	FILE *idx;

	snprintf(path, sizeof(path), "%s/index.tsv", dir);
	idx = fopen(path, "r");
	if (!idx) {
		fprintf(stderr, "scan-bench: cannot open %s\n", path);
		return 2;
	}
	while (fgets(line, sizeof(line), idx)) {
		char *tab = strchr(line, '\t');

		if (!tab || !strncmp(line, "path\t", 5))
			continue;
		*tab = 0;
		snprintf(path, sizeof(path), "%s/%.2048s", dir, line);
		if (nm == cap) {
			cap = cap ? cap * 2 : 1024;
			m = realloc(m, cap * sizeof(*m));
		}
		m[nm].p = load(path, &m[nm].n);
		if (m[nm].p) {
			total += m[nm].n;
			nm++;
		}
	}
	fclose(idx);
	words = calloc(want * 4 + 1, sizeof(*words));
	nw = pick_words(m, nm, words, want);
	rules = calloc(nw, sizeof(*rules));
	for (i = 0; i < nw; i++)
		rules[i] = (struct scan_rule){ (uint32_t)i, SCAN_W_SUBJECT | SCAN_W_BODY,
					       SCAN_RF_LITERAL | SCAN_RF_CASELESS, words[i] };
	cfg.rules = rules;
	cfg.nrules = nw;
	e = scan_engine_build(&cfg, NULL, line, sizeof(line));
	if (!e) {
		fprintf(stderr, "%s\n", line);
		return 2;
	}
	scr = scan_scratch_new();
	scan_scratch_prepare(scr, e);

	/* The peer: same keywords + EICAR, block mode over raw bytes. */
	exprs = calloc(nw + 1, sizeof(*exprs));
	flags = calloc(nw + 1, sizeof(*flags));
	ids = calloc(nw + 1, sizeof(*ids));
	for (i = 0; i < nw; i++) {
		exprs[i] = words[i];
		flags[i] = HS_FLAG_CASELESS;
		ids[i] = (unsigned int)i;
	}
	exprs[nw] = "X5O!P%@AP\\[4\\\\PZX54\\(P\\^\\)7CC\\)7\\}\\$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!"
		    "\\$H\\+H\\*";
	ids[nw] = (unsigned int)nw;
	if (hs_compile_multi(exprs, flags, ids, (unsigned int)nw + 1, HS_MODE_BLOCK, NULL, &db,
			     &cerr) != HS_SUCCESS) {
		fprintf(stderr, "peer compile: %s\n", cerr->message);
		return 2;
	}
	hs_alloc_scratch(db, &hscr);

	for (r = 0; r < rounds; r++) {
		double t0;
		int variant;

		for (variant = 0; variant < 2; variant++) {
			scan_limits_default(&lim);
			if (variant)
				lim.hash_algs = 0;
			t0 = now();
			for (i = 0; i < nm; i++) {
				struct scan_session *s = scan_session_new_ex(e, NULL, &lim, scr);
				const struct scan_result *res;

				scan_session_feed(s, m[i].p, m[i].n);
				res = scan_session_finish(s);
				if (r == 0 && variant == 0) {
					size_t k;

					viruses += res->nviruses;
					for (k = 0; k < res->nrules; k++)
						hits_s += res->rules[k].count;
				}
				scan_session_free(s);
			}
			t0 = now() - t0;
			if (variant == 0 && t0 < best_s)
				best_s = t0;
			if (variant == 1 && t0 < best_s0)
				best_s0 = t0;
		}
		t0 = now();
		for (i = 0; i < nm; i++) {
			unsigned long h = 0;

			hs_scan(db, (const char *)m[i].p, (unsigned int)m[i].n, 0, hscr, on_hs, &h);
			if (r == 0)
				hits_h += h;
		}
		t0 = now() - t0;
		if (t0 < best_h)
			best_h = t0;
	}
	printf("{\"messages\": %zu, \"bytes\": %zu, \"rules\": %zu, "
	       "\"session_mbps\": %.1f, \"session_nohash_mbps\": %.1f, \"hs_block_mbps\": %.1f, "
	       "\"ratio\": %.2f, \"ratio_nohash\": %.2f, \"session_msgs_per_s\": %.0f, "
	       "\"rule_matches_session\": %lu, \"matches_hs_raw\": %lu, \"viruses\": %lu}\n",
	       nm, total, nw, total / best_s / 1e6, total / best_s0 / 1e6, total / best_h / 1e6,
	       best_h / best_s, best_h / best_s0, nm / best_s, hits_s, hits_h, viruses);
	hs_free_scratch(hscr);
	hs_free_database(db);
	scan_scratch_free(scr);
	scan_engine_unref(e);
	for (i = 0; i < nw; i++)
		free(words[i]);
	free(words);
	free(rules);
	free(exprs);
	free(flags);
	free(ids);
	for (i = 0; i < nm; i++)
		free(m[i].p);
	free(m);
	return 0;
}
