/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_bench.c - scan engine throughput beside raw Hyperscan and clamscan,
 * measured in the same run.
 *
 *	scan-bench [--corpus DIR] [--rules N] [--rounds R] [--sigs LIST]
 *	           [--clamscan PATH] [--clam-rounds R] [--concurrent K]
 *	           [--only reset] [--max-msgs N]
 *
 *	--corpus DIR     messages listed in DIR/index.tsv (default
 *	                 ../shared/corpus/spam-ham), loaded into memory
 *	--rules N        N distinct words of 6-14 letters taken from the corpus
 *	                 (default 1000): caseless keyword rules on subject and
 *	                 body for the session, the same words for the peers
 *	--rounds R       measured passes per variant (default 5), interleaved:
 *	                 every round runs each variant once, so a noisy
 *	                 neighbour hits all of them alike; medians reported
 *	--sigs LIST      a file naming ClamAV signature files, one per line
 *	                 (default: none; the clamscan comparison is skipped
 *	                 without it). Loaded into our engine and given to
 *	                 clamscan (-d each), plus a generated .ndb holding the
 *	                 N keywords as hex body signatures, so both sides run a
 *	                 body matcher of the same size.
 *	--clamscan PATH  the clamscan binary (default /usr/bin/clamscan; "none"
 *	                 skips it)
 *	--clam-rounds R  clamscan passes over the corpus (default 1: ~1 min)
 *	--concurrent K   sessions fed in parallel for the memory figure
 *	                 (default 256)
 *	--only reset     the reset variant alone (for profilers: callgrind,
 *	                 perf record); the other figures print as 0
 *	--max-msgs N     the first N messages of the index only
 *
 * Variants (each a pass over every message, single thread):
 *
 *  new      scan_session_new_ex (per-thread scratch) + feed(whole message)
 *           + finish + free per message;
 *  reset    one session, scan_session_reset per message (the dataplane's
 *           way: one session per lcore);
 *  nohash   reset, without the inventory SHA-256 (hash_algs 0);
 *  hs       the peer: hs_scan in block mode over the raw message bytes
 *           against one database holding the same keywords plus the EICAR
 *           string (the physical limit: no parsing, no decoding, one pass);
 *  sigs     reset session on an engine built from --sigs + the keyword
 *           .ndb (no content rules), beside
 *  clamscan the same signature files over the same messages (as files,
 *           --file-list), its CPU time (user + sys of the child) minus that
 *           of loading the same databases and scanning one empty file.
 *
 * The session runs the whole pipeline: MIME parsing, transfer decoding,
 * charset conversion, HTML reduction, URL extraction, the virus database
 * (built-in EICAR) over every decoded part, the rule database over the
 * text, true typing, SHA-256 per part (except nohash).
 *
 * Times are CPU time of the measuring thread (CLOCK_THREAD_CPUTIME_ID;
 * "per core", robust against the neighbours of a shared VM); wall-clock
 * figures are printed beside them. MB/s are raw message bytes (10^6) per
 * second. Ratios are taken per round (same round, same conditions) and
 * their median reported.
 *
 * Allocations: every session gets a counting struct mxg_mem; the reset
 * variant reports the allocator calls per message once warm (rounds after
 * the first). Memory: K sessions are fed the corpus interleaved in 4 KiB
 * chunks (K messages in flight); reported are the peak bytes live in the
 * sessions' allocator per session (max and median) and the growth of the
 * process's peak RSS (VmHWM, reset through /proc/self/clear_refs) per
 * message in flight, which includes Hyperscan streams, digest contexts
 * and everything else outside our allocator.
 *
 * Prints one JSON object on stdout, a summary on stderr.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hs/hs.h>

#include "scan.h"

#define MAXR 64
#define CHUNK 4096

struct msg {
	uint8_t *p;
	size_t n;
};

/* ---- counting allocator: calls, live bytes and their peak ---- */

struct cmem {
	unsigned long calls; /* malloc + calloc + realloc */
	size_t live, peak;
};

struct chdr {
	size_t n;
	size_t pad;
};

static void *c_malloc(size_t n, void *ud)
{
	struct cmem *c = ud;
	struct chdr *h = malloc(sizeof(*h) + n);

	c->calls++;
	if (!h)
		return NULL;
	h->n = n;
	c->live += n;
	if (c->live > c->peak)
		c->peak = c->live;
	return h + 1;
}

static void *c_calloc(size_t n, size_t sz, void *ud)
{
	void *p;

	if (sz && n > SIZE_MAX / sz)
		return NULL;
	p = c_malloc(n * sz, ud);
	if (p)
		memset(p, 0, n * sz);
	return p;
}

static void c_free(void *p, void *ud)
{
	struct cmem *c = ud;
	struct chdr *h;

	if (!p)
		return;
	h = (struct chdr *)p - 1;
	c->live -= h->n;
	free(h);
}

static void *c_realloc(void *p, size_t n, void *ud)
{
	struct cmem *c = ud;
	struct chdr *h, *q;
	size_t old;

	if (!p)
		return c_malloc(n, ud);
	c->calls++;
	h = (struct chdr *)p - 1;
	old = h->n;
	q = realloc(h, sizeof(*q) + n);
	if (!q)
		return NULL;
	q->n = n;
	c->live = c->live - old + n;
	if (c->live > c->peak)
		c->peak = c->live;
	return q + 1;
}

static void cmem_init(struct cmem *c, struct mxg_mem *m)
{
	memset(c, 0, sizeof(*c));
	*m = (struct mxg_mem){ c, c_malloc, c_calloc, c_realloc, c_free };
}

/* ---- helpers ---- */

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double t[MAXR];

	if (n <= 0)
		return 0;
	memcpy(t, v, (size_t)n * sizeof(*t));
	qsort(t, (size_t)n, sizeof(*t), cmpd);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
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
	p = n >= 0 ? malloc((size_t)n + 1) : NULL;
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

/* Peak RSS (VmHWM) or current RSS (VmRSS) in bytes, 0 if unknown. */
static size_t vm_kb(const char *key)
{
	char line[256];
	size_t kb = 0, kl = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl))
			kb = (size_t)strtoul(line + kl, NULL, 10);
	fclose(f);
	return kb * 1024;
}

static void reset_hwm(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "5", 1) != 1) {
			/* kernels before 4.0: VmHWM stays the process's peak */
		}
		close(fd);
	}
}

/* One pass of a session variant; returns CPU seconds, *wall the wall time.
 * |s| non-NULL: reset per message, else new + free per message. */
struct pass {
	struct scan_engine *e;
	struct scan_scratch *scr;
	const struct scan_limits *lim;
	const struct mxg_mem *mem;
	unsigned long rule_hits, viruses, urls, parts;
};

static double session_pass(struct pass *ps, struct scan_session *s, const struct msg *m,
			   size_t nm, double *wall)
{
	double t0 = cpu_now(), w0 = wall_now();
	size_t i, k;

	ps->rule_hits = ps->viruses = ps->urls = ps->parts = 0;
	for (i = 0; i < nm; i++) {
		struct scan_session *x = s;
		const struct scan_result *res;

		if (x)
			scan_session_reset(x, NULL);
		else
			x = scan_session_new_ex(ps->e, ps->mem, ps->lim, ps->scr);
		if (!x) {
			fprintf(stderr, "scan-bench: out of memory\n");
			exit(2);
		}
		scan_session_feed(x, m[i].p, m[i].n);
		res = scan_session_finish(x);
		ps->viruses += res->nviruses;
		ps->urls += res->nurls;
		ps->parts += res->nparts;
		for (k = 0; k < res->nrules; k++)
			ps->rule_hits += res->rules[k].count;
		if (!s)
			scan_session_free(x);
	}
	*wall = wall_now() - w0;
	return cpu_now() - t0;
}

/* ---- clamscan: CPU time (user + sys) of one run ---- */

static double run_clamscan(const char *bin, char *const *dargs, int nd, const char *list,
			   const char *one, double *wall, unsigned long *found)
{
	char **argv = calloc((size_t)nd * 2 + 8, sizeof(*argv));
	int p[2], a = 0, i, st;
	struct rusage ru;
	double w0 = wall_now();
	char buf[4096];
	char flarg[4200];
	pid_t pid;
	FILE *f;

	argv[a++] = (char *)bin;
	argv[a++] = "--no-summary";
	argv[a++] = "--infected";
	for (i = 0; i < nd; i++) {
		argv[a++] = "-d";
		argv[a++] = dargs[i];
	}
	if (list) {
		snprintf(flarg, sizeof(flarg), "--file-list=%s", list);
		argv[a++] = flarg;
	} else {
		argv[a++] = (char *)one;
	}
	argv[a] = NULL;
	if (pipe(p)) {
		free(argv);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		i = open("/dev/null", O_WRONLY);
		dup2(i, 2);
		execv(bin, argv);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	*found = 0;
	while (f && fgets(buf, sizeof(buf), f))
		if (strstr(buf, " FOUND"))
			(*found)++;
	if (f)
		fclose(f);
	if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) > 1) {
		free(argv);
		return -1;
	}
	free(argv);
	*wall = wall_now() - w0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---- memory with K messages in flight ---- */

struct memres {
	size_t peak_max, peak_med, rss_per_msg;
	int k;
};

static int cmpsz(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static void mem_run(struct scan_engine *e, struct scan_scratch *scr, const struct scan_limits *lim,
		    const struct msg *m, size_t nm, int k, struct memres *out)
{
	struct scan_session **ss = calloc((size_t)k, sizeof(*ss));
	struct cmem *cm = calloc((size_t)k, sizeof(*cm));
	struct mxg_mem *mm = calloc((size_t)k, sizeof(*mm));
	size_t *cur = calloc((size_t)k, sizeof(*cur)), *off = calloc((size_t)k, sizeof(*off));
	size_t *peaks = calloc((size_t)k, sizeof(*peaks));
	size_t next = 0, rss0, hwm, active;
	int i;

	/* Warm every session on one message first, so the figure is the
	 * steady state of a long-lived session, not its first growth. */
	for (i = 0; i < k; i++) {
		cmem_init(&cm[i], &mm[i]);
		ss[i] = scan_session_new_ex(e, &mm[i], lim, scr);
		if (!ss[i]) {
			fprintf(stderr, "scan-bench: out of memory\n");
			exit(2);
		}
	}
	rss0 = vm_kb("VmRSS:");
	reset_hwm();
	for (i = 0; i < k; i++) {
		cur[i] = next < nm ? next++ : SIZE_MAX;
		off[i] = 0;
		cm[i].peak = cm[i].live;
	}
	do {
		active = 0;
		for (i = 0; i < k; i++) {
			const struct msg *x;
			size_t n;

			if (cur[i] == SIZE_MAX)
				continue;
			active++;
			x = &m[cur[i]];
			n = x->n - off[i] < CHUNK ? x->n - off[i] : CHUNK;
			scan_session_feed(ss[i], x->p + off[i], n);
			off[i] += n;
			if (off[i] < x->n)
				continue;
			scan_session_finish(ss[i]);
			if (cm[i].peak > peaks[i])
				peaks[i] = cm[i].peak;
			scan_session_reset(ss[i], NULL);
			cm[i].peak = cm[i].live;
			cur[i] = next < nm ? next++ : SIZE_MAX;
			off[i] = 0;
		}
	} while (active);
	hwm = vm_kb("VmHWM:");
	qsort(peaks, (size_t)k, sizeof(*peaks), cmpsz);
	out->k = k;
	out->peak_max = peaks[k - 1];
	out->peak_med = peaks[k / 2];
	out->rss_per_msg = hwm > rss0 ? (hwm - rss0) / (size_t)k : 0;
	for (i = 0; i < k; i++)
		scan_session_free(ss[i]);
	free(ss);
	free(cm);
	free(mm);
	free(cur);
	free(off);
	free(peaks);
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr, "usage: scan-bench [--corpus DIR] [--rules N] [--rounds R] [--sigs LIST]\n"
			"                  [--clamscan PATH|none] [--clam-rounds R] [--concurrent K]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *dir = "../shared/corpus/spam-ham", *siglist = NULL;
	const char *clam = "/usr/bin/clamscan";
	size_t want = 1000, nm = 0, cap = 0, total = 0, nw, i;
	int rounds = 5, clam_rounds = 1, conc = 256, r, a, nsig = 0;
	bool only_reset = false;
	size_t max_msgs = SIZE_MAX;
	char path[4096], line[4096], **words, *sigs[256];
	char tmpdir[] = "/tmp/scan-bench-XXXXXX", ndb[4200], flist[4200];
	struct msg *m = NULL;
	struct scan_rule *rules;
	struct scan_config cfg = { 0 };
	struct scan_engine *e, *es = NULL;
	struct scan_scratch *scr;
	struct scan_limits lim, lim0;
	struct scan_session *rs, *rs0, *rsig = NULL;
	struct cmem cm_reset, cm_nohash, cm_sig;
	struct mxg_mem mem_reset, mem_nohash, mem_sig;
	hs_database_t *db = NULL;
	hs_scratch_t *hscr = NULL;
	hs_compile_error_t *cerr;
	const char **exprs;
	unsigned int *flags, *ids;
	double t_new[MAXR], t_reset[MAXR], t_nohash[MAXR], t_hs[MAXR], t_sig[MAXR];
	double w_new[MAXR], w_reset[MAXR], w_hs[MAXR], r_reset[MAXR], r_nohash[MAXR];
	double r_new[MAXR], t_clam[MAXR], w_clam[MAXR], clam_load = 0, clam_load_w = 0;
	unsigned long hits_h = 0, clam_found = 0, allocs_steady = 0;
	struct pass pn, pr, p0, psig;
	struct memres mr = { 0 };
	FILE *idx, *f;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--corpus") && a + 1 < argc)
			dir = argv[++a];
		else if (!strcmp(argv[a], "--rules") && a + 1 < argc)
			want = (size_t)atol(argv[++a]);
		else if (!strcmp(argv[a], "--rounds") && a + 1 < argc)
			rounds = atoi(argv[++a]);
		else if (!strcmp(argv[a], "--sigs") && a + 1 < argc)
			siglist = argv[++a];
		else if (!strcmp(argv[a], "--clamscan") && a + 1 < argc)
			clam = argv[++a];
		else if (!strcmp(argv[a], "--clam-rounds") && a + 1 < argc)
			clam_rounds = atoi(argv[++a]);
		else if (!strcmp(argv[a], "--concurrent") && a + 1 < argc)
			conc = atoi(argv[++a]);
		else if (!strcmp(argv[a], "--only") && a + 1 < argc && !strcmp(argv[a + 1], "reset"))
			only_reset = ++a > 0;
		else if (!strcmp(argv[a], "--max-msgs") && a + 1 < argc)
			max_msgs = (size_t)atol(argv[++a]);
		else
			usage();
	}
	if (rounds < 2 || rounds > MAXR || clam_rounds < 0 || clam_rounds > MAXR || conc < 1 ||
	    !want)
		usage();

	snprintf(path, sizeof(path), "%s/index.tsv", dir);
	idx = fopen(path, "r");
	if (!idx) {
		fprintf(stderr, "scan-bench: cannot open %s\n", path);
		return 2;
	}
	while (nm < max_msgs && fgets(line, sizeof(line), idx)) {
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
	if (!nm) {
		fprintf(stderr, "scan-bench: no messages in %s\n", dir);
		return 2;
	}
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
		fprintf(stderr, "scan-bench: %s\n", line);
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
		fprintf(stderr, "scan-bench: peer compile: %s\n", cerr->message);
		return 2;
	}
	hs_alloc_scratch(db, &hscr);

	/* Signature files: ours and clamscan's, plus the keywords as .ndb. */
	if (siglist) {
		struct scan_sigset *set = scan_sigset_new(NULL);

		if (!mkdtemp(tmpdir)) {
			perror("scan-bench: mkdtemp");
			return 2;
		}
		snprintf(ndb, sizeof(ndb), "%s/keywords.ndb", tmpdir);
		f = fopen(ndb, "w");
		for (i = 0; f && i < nw; i++) {
			const char *w = words[i];

			fprintf(f, "Bench.Keyword.%zu:0:*:", i);
			for (; *w; w++)
				fprintf(f, "%02x", (unsigned char)*w);
			fputc('\n', f);
		}
		if (!f || fclose(f)) {
			fprintf(stderr, "scan-bench: cannot write %s\n", ndb);
			return 2;
		}
		sigs[nsig++] = ndb;
		f = fopen(siglist, "r");
		if (!f) {
			fprintf(stderr, "scan-bench: cannot open %s\n", siglist);
			return 2;
		}
		while (fgets(line, sizeof(line), f) && nsig < 255) {
			line[strcspn(line, "\r\n")] = 0;
			if (line[0])
				sigs[nsig++] = strdup(line);
		}
		fclose(f);
		for (a = 0; a < nsig; a++)
			if (scan_sigset_load_file(set, sigs[a]) < 0) {
				fprintf(stderr, "scan-bench: cannot load %s\n", sigs[a]);
				return 2;
			}
		es = scan_engine_build(NULL, set, line, sizeof(line));
		if (!es) {
			fprintf(stderr, "scan-bench: %s\n", line);
			return 2;
		}
		scan_scratch_prepare(scr, es);
		snprintf(flist, sizeof(flist), "%s/files", tmpdir);
		f = fopen(flist, "w");
		snprintf(path, sizeof(path), "%s/index.tsv", dir);
		idx = fopen(path, "r");
		while (f && idx && fgets(line, sizeof(line), idx)) {
			char *tab = strchr(line, '\t');

			if (!tab || !strncmp(line, "path\t", 5))
				continue;
			*tab = 0;
			fprintf(f, "%s/%s\n", dir, line);
		}
		if (idx)
			fclose(idx);
		if (f)
			fclose(f);
	}

	scan_limits_default(&lim);
	lim0 = lim;
	lim0.hash_algs = 0;
	cmem_init(&cm_reset, &mem_reset);
	cmem_init(&cm_nohash, &mem_nohash);
	cmem_init(&cm_sig, &mem_sig);
	rs = scan_session_new_ex(e, &mem_reset, &lim, scr);
	rs0 = scan_session_new_ex(e, &mem_nohash, &lim0, scr);
	if (es)
		rsig = scan_session_new_ex(es, &mem_sig, &lim, scr);
	if (!rs || !rs0 || (es && !rsig)) {
		fprintf(stderr, "scan-bench: out of memory\n");
		return 2;
	}
	pn = (struct pass){ .e = e, .scr = scr, .lim = &lim, .mem = NULL };
	pr = pn;
	p0 = pn;
	psig = (struct pass){ .e = es, .scr = scr, .lim = &lim };

	/* Round 0 warms every session (not reported); then |rounds|. */
	for (r = -1; r < rounds; r++) {
		unsigned long c0 = cm_reset.calls;
		double w, t, wh;

		if (only_reset) {
			t_reset[r < 0 ? 0 : r] = session_pass(&pr, rs, m, nm, &w);
			if (r >= 0)
				allocs_steady += cm_reset.calls - c0;
			t_new[r < 0 ? 0 : r] = t_nohash[r < 0 ? 0 : r] = t_hs[r < 0 ? 0 : r] = 1e9;
			w_new[r < 0 ? 0 : r] = w_reset[r < 0 ? 0 : r] = w_hs[r < 0 ? 0 : r] = 1e9;
			r_new[r < 0 ? 0 : r] = r_reset[r < 0 ? 0 : r] = r_nohash[r < 0 ? 0 : r] = 0;
			t_sig[r < 0 ? 0 : r] = 1e9;
			continue;
		}
		t = session_pass(&pn, NULL, m, nm, &w);
		if (r >= 0) {
			t_new[r] = t;
			w_new[r] = w;
		}
		t = session_pass(&pr, rs, m, nm, &w);
		if (r >= 0) {
			t_reset[r] = t;
			w_reset[r] = w;
			allocs_steady += cm_reset.calls - c0;
		}
		t = session_pass(&p0, rs0, m, nm, &w);
		if (r >= 0)
			t_nohash[r] = t;
		if (rsig) {
			t = session_pass(&psig, rsig, m, nm, &w);
			if (r >= 0)
				t_sig[r] = t;
		}
		t = cpu_now();
		wh = wall_now();
		hits_h = 0;
		for (i = 0; i < nm; i++) {
			unsigned long h = 0;

			hs_scan(db, (const char *)m[i].p, (unsigned int)m[i].n, 0, hscr, on_hs, &h);
			hits_h += h;
		}
		if (r >= 0) {
			t_hs[r] = cpu_now() - t;
			w_hs[r] = wall_now() - wh;
			r_new[r] = t_hs[r] / t_new[r];
			r_reset[r] = t_hs[r] / t_reset[r];
			r_nohash[r] = t_hs[r] / t_nohash[r];
		}
	}

	if (!only_reset && rsig && strcmp(clam, "none") && access(clam, X_OK) == 0 && clam_rounds > 0) {
		unsigned long fnd;
		char empty[4200];

		snprintf(empty, sizeof(empty), "%s/empty", tmpdir);
		f = fopen(empty, "w");
		if (f)
			fclose(f);
		for (r = 0; r < clam_rounds; r++) {
			double lw, lt = run_clamscan(clam, sigs, nsig, NULL, empty, &lw, &fnd);

			t_clam[r] = run_clamscan(clam, sigs, nsig, flist, NULL, &w_clam[r], &clam_found);
			if (t_clam[r] < 0 || lt < 0) {
				fprintf(stderr, "scan-bench: clamscan failed\n");
				clam_rounds = 0;
				break;
			}
			clam_load += lt / clam_rounds;
			clam_load_w += lw / clam_rounds;
			t_clam[r] -= lt;
			w_clam[r] -= lw;
		}
		unlink(empty);
	} else {
		clam_rounds = 0;
	}

	if (!only_reset)
		mem_run(e, scr, &lim, m, nm, conc, &mr);

	{
		double mb = total / 1e6;
		double s_new = mb / median(t_new, rounds), s_reset = mb / median(t_reset, rounds);
		double s_nohash = mb / median(t_nohash, rounds), s_hs = mb / median(t_hs, rounds);
		double s_sig = rsig ? mb / median(t_sig, rounds) : 0;
		double s_clam = clam_rounds ? mb / median(t_clam, clam_rounds) : 0;
		double apm = (double)allocs_steady / ((double)nm * rounds);

		printf("{\"machine_note\": \"CPU seconds of the measuring thread; medians of %d "
		       "rounds\",\n", rounds);
		printf(" \"messages\": %zu, \"bytes\": %zu, \"rules\": %zu, \"rounds\": %d,\n", nm,
		       total, nw, rounds);
		printf(" \"session_new_mbps\": %.1f, \"session_reset_mbps\": %.1f, "
		       "\"session_reset_nohash_mbps\": %.1f, \"hs_block_mbps\": %.1f,\n",
		       s_new, s_reset, s_nohash, s_hs);
		printf(" \"ratio_new\": %.3f, \"ratio_reset\": %.3f, \"ratio_reset_nohash\": %.3f,\n",
		       median(r_new, rounds), median(r_reset, rounds), median(r_nohash, rounds));
		printf(" \"wall_session_new_mbps\": %.1f, \"wall_session_reset_mbps\": %.1f, "
		       "\"wall_hs_block_mbps\": %.1f,\n",
		       mb / median(w_new, rounds), mb / median(w_reset, rounds),
		       mb / median(w_hs, rounds));
		printf(" \"session_reset_msgs_per_s\": %.0f, \"allocs_per_msg_reset\": %.3f,\n",
		       nm / median(t_reset, rounds), apm);
		printf(" \"rule_matches_session\": %lu, \"matches_hs_raw\": %lu, \"viruses\": %lu, "
		       "\"urls\": %lu, \"parts\": %lu,\n", pr.rule_hits, hits_h, pr.viruses, pr.urls,
		       pr.parts);
		printf(" \"sig_files\": %d, \"sig_session_mbps\": %.1f, \"sig_session_hits\": %lu, "
		       "\"clamscan_rounds\": %d, \"clamscan_mbps\": %.2f, \"clamscan_load_cpu_s\": "
		       "%.3f, \"clamscan_found\": %lu, \"ratio_vs_clamscan\": %.1f,\n",
		       nsig, s_sig, psig.viruses, clam_rounds, s_clam, clam_load, clam_found,
		       s_clam > 0 ? s_sig / s_clam : 0);
		printf(" \"concurrent\": %d, \"mem_peak_per_session_max\": %zu, "
		       "\"mem_peak_per_session_median\": %zu, \"rss_per_concurrent_msg\": %zu}\n",
		       mr.k, mr.peak_max, mr.peak_med, mr.rss_per_msg);
		fprintf(stderr,
			"scan-bench: %zu msgs %.1f MB; CPU MB/s: new %.1f reset %.1f nohash %.1f "
			"hs %.1f; ratio reset/hs %.3f; allocs/msg (reset) %.3f; sigs %.1f vs "
			"clamscan %.2f; mem/session peak max %zu med %zu, RSS/msg in flight %zu\n",
			nm, mb, s_new, s_reset, s_nohash, s_hs, median(r_reset, rounds), apm, s_sig,
			s_clam, mr.peak_max, mr.peak_med, mr.rss_per_msg);
	}

	scan_session_free(rs);
	scan_session_free(rs0);
	scan_session_free(rsig);
	hs_free_scratch(hscr);
	hs_free_database(db);
	scan_scratch_free(scr);
	scan_engine_unref(e);
	scan_engine_unref(es);
	if (siglist) {
		unlink(ndb);
		unlink(flist);
		rmdir(tmpdir);
		for (a = 1; a < nsig; a++)
			free(sigs[a]);
	}
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
