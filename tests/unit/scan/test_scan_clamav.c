/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_clamav.c - the ClamAV material of ../shared/corpus/virus, read
 * in place (never copied into the repository); skipped with a message when
 * the corpus is absent.
 *
 *  - every sample signature database is loaded; statistics per format and
 *    per rejection reason are printed (nothing dropped silently: lines =
 *    loaded + rejected);
 *  - the XOR-obfuscated scan files are decoded in memory and scanned with
 *    the signatures shipped there (clamav.hdb: the SHA-256 of clam.exe);
 *    mails (.eml, .mail, mbox) are fed as messages, the rest as files; the
 *    detection count is compared with expected_detections.tsv (upstream
 *    expectation and Debian clamscan 1.4.6's observed result) and the set
 *    of detected files must be exactly xor_detected[];
 *  - PE section hashes and EP-relative offsets on clam.exe (bare and in
 *    archives);
 *  - the decoded mails and the Debian clamav-testfiles mail formats as
 *    messages; /usr/share/clamav-testfiles when installed; the EICAR file.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "mxg_err.h"
#include "scan.h"
#include "scan_test.h"

#define VDIR CORPUS_DIR "/virus"
#define UDIR VDIR "/clamav-unit-tests"
#define SIGDIR UDIR "/signatures"

static bool corpus_present(void)
{
	struct stat st;

	return stat(SIGDIR "/clamav.hdb", &st) == 0;
}

static int load_dir(struct scan_sigset *s, const char *dir, int *files)
{
	struct dirent **ents;
	int n, i;

	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return 0;
	for (i = 0; i < n; i++) {
		char path[1024];
		struct stat st;

		if (ents[i]->d_name[0] == '.') {
			free(ents[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		free(ents[i]);
		if (stat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			load_dir(s, path, files);
			continue;
		}
		if (strstr(path, ".sign") || strstr(path, ".cdiff") || strstr(path, ".md") ||
		    strstr(path, "README"))
			continue;
		/* Containers: only the newest, the others repeat it. */
		if (strstr(path, ".cvd") && !strstr(path, "test-6.cvd"))
			continue;
		(void)scan_sigset_load_file(s, path);
		(*files)++;
	}
	free(ents);
	return 0;
}

static struct scan_engine *corpus_engine(bool print)
{
	struct scan_sigset *s = scan_sigset_new(NULL);
	const struct scan_sig_stats *st;
	struct scan_engine_info info;
	struct scan_engine *e;
	char err[128];
	int files = 0, f, r;

	assert_non_null(s);
	load_dir(s, SIGDIR, &files);
	st = scan_sigset_stats(s);
	for (f = 0; f < SCAN_SIG_FMT_MAX; f++)
		assert_int_equal(st->lines[f], st->loaded[f] + st->rejected[f]);
	e = scan_engine_build(NULL, s, err, sizeof(err));
	assert_non_null(e);
	scan_engine_info(e, &info);
	if (print) {
		st = &info.sigs;
		print_message("signature files seen %d, loaded %u, unsupported formats %u\n", files,
			      st->files, st->files_unsupported);
		for (f = 0; f < SCAN_SIG_FMT_MAX; f++)
			print_message("  %s: lines %u loaded %u (approx %u) rejected %u\n",
				      scan_sig_fmt_name((enum scan_sig_fmt)f), st->lines[f],
				      st->loaded[f], st->approx[f], st->rejected[f]);
		for (r = 0; r < SCAN_SIG_R_MAX; r++)
			if (st->reason[r])
				print_message("  rejected %-30s %u\n",
					      scan_sig_reason_name((enum scan_sig_reason)r),
					      st->reason[r]);
		print_message("  body patterns %u, hash sigs %u, PE section sigs %u, databases "
			      "%zu bytes\n", info.body_patterns, info.hash_sigs,
			      info.pe_section_sigs, info.db_bytes);
		/* docs/scan.md's table: PE section hashes and PE-relative ndb
		 * offsets load; VI offsets and ldb PE attributes do not. */
		assert_int_equal(st->loaded[SCAN_SIG_MDB], st->lines[SCAN_SIG_MDB]);
		assert_int_equal(st->loaded[SCAN_SIG_MSB], st->lines[SCAN_SIG_MSB]);
		assert_int_equal(st->lines[SCAN_SIG_NDB], 26);
		assert_int_equal(st->loaded[SCAN_SIG_NDB], 17);
		assert_int_equal(st->reason[SCAN_SIG_R_PE_OFFSET], 8);
		assert_int_equal(info.pe_section_sigs, st->lines[SCAN_SIG_MDB] +
				 st->lines[SCAN_SIG_MSB]);
	}
	return e;
}

static bool is_mail(const char *name)
{
	return strstr(name, ".eml") || strstr(name, ".mail") || strstr(name, "mbox") ||
	       strstr(name, "binhex") || strstr(name, ".tnef");
}

/* Scans |buf| as a message or a file; returns the first virus name or NULL
 * (static storage). */
static const char *scan_one(struct scan_engine *e, const char *name, const uint8_t *buf,
			    size_t len, bool mail)
{
	static char found[128];
	struct scan_session *s = scan_session_new(e, NULL, NULL);
	const struct scan_result *r;

	assert_non_null(s);
	if (mail)
		(void)scan_session_feed(s, buf, len);
	else
		assert_int_equal(scan_session_scan_file(s, name, buf, len), 0);
	r = scan_session_finish(s);
	assert_int_equal(r->flags & SCAN_R_ERROR, 0);
	found[0] = 0;
	if (r->nviruses)
		snprintf(found, sizeof(found), "%s", r->viruses[0].name);
	scan_session_free(s);
	return found[0] ? found : NULL;
}

static void test_scan_clamav_sigs(void **state)
{
	if (!corpus_present()) {
		print_message("SKIP: %s absent\n", SIGDIR);
		skip();
	}
	scan_engine_unref(corpus_engine(true));
}

/* Expected results of expected_detections.tsv: 1 when detected. */
static int tsv_lookup(const char *xorname, int *debian)
{
	FILE *f = fopen(UDIR "/expected_detections.tsv", "r");
	char line[1024];
	int up = -1;

	*debian = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *fld[8], *save = NULL, *t;
		int n = 0;

		for (t = strtok_r(line, "\t\n", &save); t && n < 8; t = strtok_r(NULL, "\t\n", &save))
			fld[n++] = t;
		if (n >= 7 && !strcmp(fld[0], xorname)) {
			up = strstr(fld[5], "UNOFFICIAL") != NULL;
			*debian = strstr(fld[6], "UNOFFICIAL") != NULL;
			break;
		}
	}
	fclose(f);
	return up;
}

/* The xor samples detected today with the sample databases: the test fails
 * when one of them is lost (or when a new one appears: update the list and
 * docs/scan.md). The PE section hashes and PE-relative offsets of
 * pe_allmatch/ describe its test.exe, which is not among the samples.
 * Containers are found by extracting clam.exe exactly: libarchive (zip,
 * 7z, rar v3, cab, cpio in all four forms, iso9660/Joliet, tar.gz nested
 * 8 deep), our decoders (SZDD, BinHex, TNEF, OneNote with its web
 * export, RTF, PDF, OLE2 with PowerPoint objects, ZIP with Deflate64 or
 * Implode members, ARJ, SIS, NSIS, CHM), the HTML reducer (a base64 data:
 * URI in a link) and the MIME parser (base64, uuencode, and the evasions:
 * comments in field names, two boundaries). */
static const char *const xor_detected[] = {
	"clam-nsis.exe",
	"clam-v3.rar",
	"clam.7z",
	"clam.arj",
	"clam.bin-be.cpio",
	"clam.bin-le.cpio",
	"clam.bz2.zip",
	"clam.cab",
	"clam.chm",
	"clam.d64.zip",
	"clam.exe.binhex",
	"clam.exe.2007.one",
	"clam.exe.2010.one",
	"clam.exe.webapp-export.one",
	"clam.exe.bz2",
	"clam.exe.html",
	"clam.exe.mbox.base64",
	"clam.exe.mbox.uu",
	"clam.exe.rtf",
	"clam.exe.szdd",
	"clam.exe",
	"clam.exe_and_mail.tar.gz",
	"clam.impl.zip",
	"clam.iso",
	"clam.mail-boundary-content-disposition.eml",
	"clam.mail-comment-header-name.eml",
	"clam.mail-disposition-rfc2231-boundary.eml",
	"clam.mail-multiple-boundaries.eml",
	"clam.mail-multiple-content-type.eml",
	"clam.mail-nested-comment-header-name.eml",
	"clam.mail-semicolon-boundary.eml",
	"clam.mail",
	"clam.newc.cpio",
	"clam.odc.cpio",
	"clam.ole.doc",
	"clam.pdf",
	"clam.ppt",
	"clam.sis",
	"clam.split.oneseg.zip",
	"clam.tar.gz",
	"clam.tnef",
	"clam.zip",
	"clam_cache_emax.tgz",
	"clamjol.iso",
};

static bool xor_expected(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(xor_detected) / sizeof(xor_detected[0]); i++)
		if (!strcmp(xor_detected[i], name))
			return true;
	return false;
}

static void test_scan_clamav_xor(void **state)
{
	struct scan_engine *e;
	struct dirent **ents;
	int n, i, total = 0, hit = 0, exp_up = 0, exp_deb = 0, beat = 0;

	if (!corpus_present()) {
		print_message("SKIP: %s absent\n", SIGDIR);
		skip();
	}
	e = corpus_engine(false);
	n = scandir(UDIR "/clamav_hdb_scanfiles", &ents, NULL, alphasort);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		char path[1024], name[256];
		const char *v;
		uint8_t *buf;
		size_t len;
		int up, deb;

		if (!strstr(ents[i]->d_name, ".xor")) {
			free(ents[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/clamav_hdb_scanfiles/%s", UDIR, ents[i]->d_name);
		snprintf(name, sizeof(name), "%.*s", (int)(strlen(ents[i]->d_name) - 4),
			 ents[i]->d_name);
		buf = load_file(path, &len);
		assert_non_null(buf);
		clamav_xor(buf, len);
		v = scan_one(e, name, buf, len, is_mail(name));
		up = tsv_lookup(ents[i]->d_name, &deb);
		total++;
		hit += v != NULL;
		exp_up += up == 1;
		exp_deb += deb == 1;
		if (v && deb == 0)
			beat++;
		print_message("  %-48s %-22s (clamscan %s)\n", name, v ? v : "-",
			      deb == 1 ? "found" : deb == 0 ? "missed" : "?");
		if ((v != NULL) != xor_expected(name))
			fail_msg("%s: %s, expected %s", name, v ? "detected" : "not detected",
				 v ? "no detection" : "a detection");
		free(buf);
		free(ents[i]);
	}
	free(ents);
	print_message("xor scan files: %d, detected %d; upstream expects %d, Debian clamscan "
		      "1.4.6 found %d; we found %d that clamscan missed\n",
		      total, hit, exp_up, exp_deb, beat);
	/* Exactly the list above. */
	assert_int_equal(total, 56);
	assert_int_equal(hit, (int)(sizeof(xor_detected) / sizeof(xor_detected[0])));
	scan_engine_unref(e);
}

/* PE signatures on the real samples: a section hash (.mdb) of clam.exe's
 * one section (PointerToRawData 1, aligned to 0: the first 512 bytes) and
 * an EP+0 body signature (its entry point is at file offset 0x40), with no
 * whole-file hash loaded: clam.exe and the archives holding it are found. */
static void test_scan_clamav_pe_sigs(void **state)
{
	static const char *const files[] = { "clam.exe", "clam.zip", "clam.7z" };
	static const char *const sigs[] = {
		"512:23db1dd3f77fae25610b6a32701313ae:Test.ClamExe.Section",
		"Test.ClamExe.EP:1:EP+0:bb7110400033c050508bf3535350b029",
		"Test.ClamExe.EPMiss:1:EP+1:bb7110400033c050508bf3535350b029",
	};
	struct scan_sigset *ss;
	struct scan_engine *e;
	size_t i, k;

	if (!corpus_present()) {
		print_message("SKIP: %s absent\n", SIGDIR);
		skip();
	}
	ss = scan_sigset_new(NULL);
	assert_non_null(ss);
	assert_int_equal(scan_sigset_add_line(ss, SCAN_SIG_MDB, sigs[0], strlen(sigs[0])), 0);
	assert_int_equal(scan_sigset_add_line(ss, SCAN_SIG_NDB, sigs[1], strlen(sigs[1])), 0);
	assert_int_equal(scan_sigset_add_line(ss, SCAN_SIG_NDB, sigs[2], strlen(sigs[2])), 0);
	e = scan_engine_build(NULL, ss, NULL, 0);
	assert_non_null(e);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct scan_session *s = scan_session_new(e, NULL, NULL);
		const struct scan_result *r;
		bool sect = false, ep = false;
		uint8_t *buf;
		size_t len;

		buf = load_clamav_xor(files[i], &len);
		assert_non_null(buf);
		assert_non_null(s);
		assert_int_equal(scan_session_scan_file(s, files[i], buf, len), 0);
		r = scan_session_finish(s);
		for (k = 0; k < r->nviruses; k++) {
			sect |= !strcmp(r->viruses[k].name, "Test.ClamExe.Section");
			ep |= !strcmp(r->viruses[k].name, "Test.ClamExe.EP");
			assert_string_not_equal(r->viruses[k].name, "Test.ClamExe.EPMiss");
		}
		print_message("  %-12s section hash %s, EP+0 %s\n", files[i], sect ? "found" : "-",
			      ep ? "found" : "-");
		assert_true(sect && ep);
		scan_session_free(s);
		free(buf);
	}
	scan_engine_unref(e);
}

static int scan_dir_mails(struct scan_engine *e, const char *dir, int *total, bool all_mail)
{
	struct dirent **ents;
	int n, i, hit = 0;

	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return -1;
	for (i = 0; i < n; i++) {
		char path[1024];
		const char *v;
		uint8_t *buf;
		size_t len;
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (ents[i]->d_name[0] == '.' || stat(path, &st) || !S_ISREG(st.st_mode) ||
		    strstr(path, ".md") || strstr(path, ".tsv") || strstr(path, ".txt")) {
			free(ents[i]);
			continue;
		}
		buf = load_file(path, &len);
		if (buf) {
			v = scan_one(e, ents[i]->d_name, buf, len,
				     all_mail || is_mail(ents[i]->d_name));
			print_message("  %-48s %s\n", ents[i]->d_name, v ? v : "-");
			hit += v != NULL;
			(*total)++;
			free(buf);
		}
		free(ents[i]);
	}
	free(ents);
	return hit;
}

static void test_scan_clamav_mails(void **state)
{
	struct scan_engine *e;
	int total = 0, hit;
	uint8_t *buf;
	size_t len;

	if (!corpus_present()) {
		print_message("SKIP: %s absent\n", SIGDIR);
		skip();
	}
	e = corpus_engine(false);
	hit = scan_dir_mails(e, UDIR "/decoded-mail", &total, true);
	print_message("decoded mails: %d/%d detected\n", hit, total);
	assert_int_equal(hit, total); /* every decoded mail, evasions included */
	total = 0;
	hit = scan_dir_mails(e, VDIR "/clamav-testfiles-debian", &total, true);
	print_message("debian mail-format files: %d/%d detected\n", hit, total);
	assert_int_equal(hit, total); /* base64, uu, BinHex, TNEF, plain */
	total = 0;
	hit = scan_dir_mails(e, "/usr/share/clamav-testfiles", &total, false);
	if (hit >= 0)
		print_message("/usr/share/clamav-testfiles: %d/%d detected\n", hit, total);
	buf = load_file(VDIR "/eicar/eicar.com.txt", &len);
	if (buf) {
		assert_non_null(scan_one(e, "eicar.com.txt", buf, len, false));
		free(buf);
	}
	scan_engine_unref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_clamav_sigs),
		cmocka_unit_test(test_scan_clamav_xor),
		cmocka_unit_test(test_scan_clamav_pe_sigs),
		cmocka_unit_test(test_scan_clamav_mails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
