/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_pe.c - the PE/COFF header parser (scan_pe.c): hand-built
 * headers (PE32, PE32+, entry point in a section and in the headers,
 * FileAlignment applied, truncated sections), every malformation we check
 * (each prefix of a valid file, bad magics, section count, table outside
 * the file), byte flips over a valid header (must never read out of
 * bounds: the sanitizers watch), PE section hash signatures (.mdb/.msb)
 * and PE-relative .ndb offsets (EP, Sx, SEx, SL) matched by a scan
 * session, and the PE samples of the ClamAV corpus
 * (packed, but their headers are intact).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "mxg_err.h"
#include "scan.h"
#include "scan_pe.h"
#include "scan_test.h"

#define UDIR CORPUS_DIR "/virus/clamav-unit-tests"

static void w16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void w32(uint8_t *p, uint32_t v)
{
	w16(p, (uint16_t)v);
	w16(p + 2, (uint16_t)(v >> 16));
}

/* A PE with |ns| sections at lfanew 0x80: section i has RVA 0x1000*(i+1),
 * raw offset 0x200*(i+1), raw size 0x200. Returns its length (0x200*(ns+1)). */
static size_t build_pe(uint8_t *b, size_t cap, uint16_t ns, bool plus, uint32_t ep)
{
	size_t len = 0x200u * (ns + 1u), opt = 0x80 + 24, optlen = plus ? 240 : 224, sect, i;

	assert_true(len <= cap);
	memset(b, 0, len);
	b[0] = 'M';
	b[1] = 'Z';
	w32(b + 0x3c, 0x80);
	memcpy(b + 0x80, "PE\0\0", 4);
	w16(b + 0x84, plus ? 0x8664 : 0x14c);
	w16(b + 0x86, ns);
	w16(b + 0x94, (uint16_t)optlen);
	w16(b + opt, plus ? 0x20b : 0x10b);
	w32(b + opt + 16, ep);
	w32(b + opt + 32, 0x1000);
	w32(b + opt + 36, 0x200);
	w32(b + opt + 60, 0x200);
	sect = opt + optlen;
	for (i = 0; i < ns; i++) {
		uint8_t *h = b + sect + 40 * i;

		snprintf((char *)h, 9, ".s%zu", i);
		w32(h + 8, 0x180);
		w32(h + 12, 0x1000u * (uint32_t)(i + 1));
		w32(h + 16, 0x200);
		w32(h + 20, 0x200u * (uint32_t)(i + 1));
		memset(b + 0x200 * (i + 1), (int)('a' + i), 0x200);
	}
	return len;
}

static void test_pe_built(void **state)
{
	static uint8_t b[0x200 * 5];
	struct scan_pe pe;
	size_t len;

	len = build_pe(b, sizeof(b), 3, false, 0x2010);
	assert_int_equal(scan_pe_parse(b, len, &pe), 0);
	assert_false(pe.pe32plus);
	assert_int_equal(pe.nsections, 3);
	assert_string_equal(pe.sec[1].name, ".s1");
	assert_int_equal(pe.sec[2].raw_off, 0x600);
	assert_int_equal(pe.sec[2].raw_size, 0x200);
	assert_int_equal(pe.sec[2].vaddr, 0x3000);
	assert_true(pe.ep_valid);
	assert_int_equal(pe.ep_off, 0x410);

	len = build_pe(b, sizeof(b), 4, true, 0x40);
	assert_int_equal(scan_pe_parse(b, len, &pe), 0);
	assert_true(pe.pe32plus);
	assert_int_equal(pe.ep_off, 0x40); /* in the headers */
	/* Beyond the raw data of a section (virtual tail) or of the file. */
	assert_int_equal(scan_pe_rva_to_off(&pe, 0x1200, len), -1);
	assert_int_equal(scan_pe_rva_to_off(&pe, 0x9000, len), -1);
	assert_int_equal(scan_pe_rva_to_off(&pe, 0x4001, len), 0x801);

	/* FileAlignment applied: raw offset 0x201 -> 0x200, size 0x101 -> 0x200. */
	build_pe(b, sizeof(b), 2, false, 0x1000);
	w32(b + 0x80 + 24 + 224 + 16, 0x101);
	w32(b + 0x80 + 24 + 224 + 20, 0x201);
	assert_int_equal(scan_pe_parse(b, 0x600, &pe), 0);
	assert_int_equal(pe.sec[0].raw_off, 0x200);
	assert_int_equal(pe.sec[0].raw_off_hdr, 0x201);
	assert_int_equal(pe.sec[0].raw_size, 0x200);

	/* Entry point in a section whose raw data is cut by the file end. */
	len = build_pe(b, sizeof(b), 3, false, 0x3100);
	assert_int_equal(scan_pe_parse(b, len - 0x180, &pe), 0);
	assert_int_equal(pe.sec[2].raw_size, 0x80);
	assert_true(pe.sec[2].flags & SCAN_PE_SF_TRUNC);
	assert_false(pe.ep_valid);
	/* A section starting beyond the end. */
	assert_int_equal(scan_pe_parse(b, 0x500, &pe), 0);
	assert_int_equal(pe.sec[2].raw_size, 0);
	assert_true(pe.sec[2].flags & SCAN_PE_SF_TRUNC);
}

static void test_pe_malformed(void **state)
{
	static uint8_t b[0x200 * 5];
	struct scan_pe pe;
	size_t len, hdr = 0x80 + 24 + 224 + 3 * 40, i;

	len = build_pe(b, sizeof(b), 3, false, 0x1000);
	/* Every prefix shorter than the section table is an error, longer ones
	 * parse (sections clamped). */
	for (i = 0; i <= len; i++)
		assert_int_equal(scan_pe_parse(b, i, &pe) == 0, i >= hdr);
	assert_int_equal(scan_pe_parse(NULL, 0, &pe), MXG_E_INVAL);
	b[1] = 'Y';
	assert_int_equal(scan_pe_parse(b, len, &pe), MXG_E_INVAL);
	b[1] = 'Z';
	b[0x81] = 'X';
	assert_int_equal(scan_pe_parse(b, len, &pe), MXG_E_INVAL);
	b[0x81] = 'E';
	w16(b + 0x80 + 24, 0x107); /* ROM image magic */
	assert_int_equal(scan_pe_parse(b, len, &pe), MXG_E_INVAL);
	w16(b + 0x80 + 24, 0x10b);
	w16(b + 0x86, 0);
	assert_int_equal(scan_pe_parse(b, len, &pe), MXG_E_INVAL);
	w16(b + 0x86, SCAN_PE_MAX_SECTIONS + 1);
	assert_int_equal(scan_pe_parse(b, len, &pe), MXG_E_INVAL);
	w16(b + 0x86, 3);
	w32(b + 0x3c, 0xfffffff0); /* e_lfanew far beyond, 32-bit wrap */
	assert_int_equal(scan_pe_parse(b, len, &pe), MXG_E_INVAL);
	w32(b + 0x3c, 0x80);
	w16(b + 0x94, 0xffff); /* optional header beyond the file */
	assert_int_equal(scan_pe_parse(b, len, &pe), MXG_E_INVAL);
	w16(b + 0x94, 16); /* too short for the fields we read */
	assert_int_equal(scan_pe_parse(b, len, &pe), MXG_E_INVAL);
	w16(b + 0x94, 224);
	assert_int_equal(scan_pe_parse(b, len, &pe), 0);

	/* Byte flips over the headers, every parse on an exact-size copy. */
	for (i = 0; i < hdr * 8; i++) {
		uint8_t *c = malloc(len);
		size_t k;

		assert_non_null(c);
		memcpy(c, b, len);
		c[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (scan_pe_parse(c, len, &pe) == 0) {
			assert_true(pe.nsections >= 1 && pe.nsections <= SCAN_PE_MAX_SECTIONS);
			for (k = 0; k < pe.nsections; k++)
				assert_true((uint64_t)pe.sec[k].raw_off + pe.sec[k].raw_size <= len ||
					    !pe.sec[k].raw_size);
			assert_true(!pe.ep_valid || pe.ep_off < len);
		}
		free(c);
	}
}

static void hexdig(const EVP_MD *md, const uint8_t *p, size_t n, char *out)
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0, i;

	assert_true(EVP_Digest(p, n, d, &dl, md, NULL));
	for (i = 0; i < dl; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* Returns the first virus name found in |b| scanned as a file, or NULL. */
static const char *scan_pe_file(struct scan_engine *e, const uint8_t *b, size_t len,
				uint32_t *flags)
{
	static char name[64];
	struct scan_session *s = scan_session_new(e, NULL, NULL);
	const struct scan_result *r;

	assert_non_null(s);
	assert_int_equal(scan_session_scan_file(s, "x.exe", b, len), 0);
	r = scan_session_finish(s);
	*flags = r->flags;
	name[0] = 0;
	if (r->nviruses) {
		assert_int_equal(r->viruses[0].kind, SCAN_VK_HASH);
		snprintf(name, sizeof(name), "%s", r->viruses[0].name);
	}
	scan_session_free(s);
	return name[0] ? name : NULL;
}

/* Section hashes end to end: mdb (MD5, fixed size) on section 1, msb
 * (SHA256, any size) on section 2 of a hand-built PE; one changed byte in
 * a section, a wrong size, a non-PE file with the same bytes: no hit. */
static void test_pe_section_sigs(void **state)
{
	static uint8_t b[0x200 * 5];
	struct scan_sigset *ss = scan_sigset_new(NULL);
	struct scan_engine *e;
	char line[256], hx[2 * EVP_MAX_MD_SIZE + 1];
	const char *v;
	uint32_t fl;
	size_t len;

	len = build_pe(b, sizeof(b), 4, false, 0x1000);
	assert_non_null(ss);
	hexdig(EVP_md5(), b + 0x400, 0x200, hx);
	snprintf(line, sizeof(line), "512:%s:Test.Sect.MD5", hx);
	assert_int_equal(scan_sigset_add_line(ss, SCAN_SIG_MDB, line, strlen(line)), 0);
	snprintf(line, sizeof(line), "513:%s:Test.Sect.WrongSize", hx);
	assert_int_equal(scan_sigset_add_line(ss, SCAN_SIG_MDB, line, strlen(line)), 0);
	hexdig(EVP_sha256(), b + 0x600, 0x200, hx);
	snprintf(line, sizeof(line), "*:%s:Test.Sect.SHA256:73", hx);
	assert_int_equal(scan_sigset_add_line(ss, SCAN_SIG_MSB, line, strlen(line)), 0);
	e = scan_engine_build(NULL, ss, NULL, 0);
	assert_non_null(e);

	v = scan_pe_file(e, b, len, &fl);
	assert_non_null(v);
	assert_true(!strcmp(v, "Test.Sect.MD5") || !strcmp(v, "Test.Sect.SHA256"));
	b[0x401] ^= 1; /* section 1 changed: section 2 still matches */
	v = scan_pe_file(e, b, len, &fl);
	assert_non_null(v);
	assert_string_equal(v, "Test.Sect.SHA256");
	b[0x601] ^= 1;
	assert_null(scan_pe_file(e, b, len, &fl));
	b[0x401] ^= 1;
	b[0x601] ^= 1;
	b[0] = 'X'; /* not a PE */
	assert_null(scan_pe_file(e, b, len, &fl));
	b[0] = 'M';
	/* Headers broken (no PE signature): not parsed, no hit, no error. */
	b[0x80] = 'X';
	assert_null(scan_pe_file(e, b, len, &fl));
	assert_int_equal(fl & SCAN_R_ERROR, 0);
	b[0x80] = 'P';
	assert_non_null(scan_pe_file(e, b, len, &fl));
	scan_engine_unref(e);
}

static void hexstr(const char *str, char *out)
{
	size_t i;

	for (i = 0; str[i]; i++)
		sprintf(out + 2 * i, "%02x", (unsigned char)str[i]);
}

/* All virus names found in |b| (a file), as " name1 name2 ... ". */
static void scan_names(struct scan_engine *e, const uint8_t *b, size_t len, char *out,
		       size_t cap)
{
	struct scan_session *s = scan_session_new(e, NULL, NULL);
	const struct scan_result *r;
	size_t i, o = 0;

	assert_non_null(s);
	assert_int_equal(scan_session_scan_file(s, "x.exe", b, len), 0);
	r = scan_session_finish(s);
	assert_int_equal(r->flags & SCAN_R_ERROR, 0);
	out[0] = 0;
	for (i = 0; i < r->nviruses && o < cap; i++) {
		assert_int_equal(r->viruses[i].kind, SCAN_VK_BODY);
		o += (size_t)snprintf(out + o, cap - o, " %s", r->viruses[i].name);
	}
	scan_session_free(s);
}

/* PE-relative offsets of .ndb signatures end to end: EP+n, EP-n, Sx+n,
 * SEx, SL+n,s on a hand-built PE; the same bytes at the wrong anchor (or
 * in a file that is not a PE) do not match. */
static void test_pe_offsets(void **state)
{
	static uint8_t b[0x200 * 5];
	static const char *const lines[] = {
		"Ep:1:EP+0:%s",      /* MARKEP at the entry point 0x410 */
		"EpMiss:1:EP+1:%s",
		"EpNeg:1:EP-16:62626262", /* section 1 (0x400) is all 'b' */
		"S2:1:S2+16:%s",     /* MARK2 at 0x610 */
		"S2Miss:1:S1+16:%s",
		"SE3:1:SE3:%s",      /* MARK3 at 0x864 */
		"SE0Miss:1:SE0:%s",
		"SL:1:SL+0,200:%s",
		"SLMiss:1:SL+0,99:%s",
	};
	static const char *const marks[] = { "MARKEP", "MARKEP", "", "MARK2", "MARK2",
					     "MARK3", "MARK3", "MARK3", "MARK3" };
	struct scan_sigset *ss = scan_sigset_new(NULL);
	struct scan_engine *e;
	char line[256], hx[64], names[512];
	size_t len, i;

	assert_non_null(ss);
	len = build_pe(b, sizeof(b), 4, false, 0x2010);
	memcpy(b + 0x410, "MARKEP", 6);
	memcpy(b + 0x610, "MARK2", 5);
	memcpy(b + 0x864, "MARK3", 5);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		hexstr(marks[i], hx);
		snprintf(line, sizeof(line), lines[i], hx);
		assert_int_equal(scan_sigset_add_line(ss, SCAN_SIG_NDB, line, strlen(line)), 0);
	}
	e = scan_engine_build(NULL, ss, NULL, 0);
	assert_non_null(e);
	scan_names(e, b, len, names, sizeof(names));
	print_message("  found:%s\n", names);
	assert_non_null(strstr(names, " Ep"));
	assert_non_null(strstr(names, " EpNeg"));
	assert_non_null(strstr(names, " S2"));
	assert_non_null(strstr(names, " SE3"));
	assert_non_null(strstr(names, " SL"));
	assert_null(strstr(names, "Miss"));
	/* Not a PE: nothing (target 1 needs MZ; offsets need the headers). */
	b[0x80] = 'X';
	scan_names(e, b, len, names, sizeof(names));
	assert_string_equal(names, "");
	b[0x80] = 'P';
	scan_engine_unref(e);
}

static const uint8_t xor_key[] =
	"bhcftqarohcdiayfohalohkgmoefxrrgfnczssgybajvkzjaahpfrlqsratkhhfvpxytculmwgmtyzujlbjl"
	"grhtwxhzpjazlibbwepffyjyfkjwzyofgpopoueurinpdujkphxwhnaxfkaiwrpzdqsnwughtejr";

static void test_pe_corpus(void **state)
{
	/* name, sections, entry point RVA */
	static const struct {
		const char *name;
		uint16_t ns;
		uint32_t ep;
	} exp[] = {
		{ "clam-aspack.exe", 6, 0x5001 }, { "clam-fsg.exe", 4, 0x1020 },
		{ "clam-mew.exe", 2, 0x63ff },    { "clam-nsis.exe", 5, 0x30b4 },
		{ "clam-pespin.exe", 5, 0x5087 }, { "clam-petite.exe", 4, 0x5042 },
		{ "clam-upack.exe", 3, 0x1018 },  { "clam-upx.exe", 3, 0x6320 },
		{ "clam-wwpack.exe", 5, 0x5000 }, { "clam-yc.exe", 4, 0x8060 },
		{ "clam.ea05.exe", 3, 0x88070 },  { "clam.ea06.exe", 3, 0x99190 },
		{ "clam.exe", 1, 0x1040 },
	};
	struct stat st;
	size_t i, k;

	if (stat(UDIR "/clamav_hdb_scanfiles", &st)) {
		print_message("SKIP: corpus absent\n");
		skip();
	}
	for (i = 0; i < sizeof(exp) / sizeof(exp[0]); i++) {
		char path[512];
		struct scan_pe pe;
		uint8_t *b;
		size_t len;

		snprintf(path, sizeof(path), UDIR "/clamav_hdb_scanfiles/%s.xor", exp[i].name);
		b = load_file(path, &len);
		assert_non_null(b);
		for (k = 0; k < len; k++)
			b[k] ^= xor_key[k % (sizeof(xor_key) - 1)];
		assert_int_equal(scan_pe_parse(b, len, &pe), 0);
		assert_int_equal(pe.nsections, exp[i].ns);
		assert_int_equal(pe.ep_rva, exp[i].ep);
		print_message("  %-18s sections %u ep rva 0x%x off %s0x%llx\n", exp[i].name,
			      pe.nsections, pe.ep_rva, pe.ep_valid ? "" : "(none) ",
			      (unsigned long long)pe.ep_off);
		if (!strcmp(exp[i].name, "clam.exe")) {
			/* PointerToRawData 1, aligned down: the section is the file's
			 * first 512 bytes; EP RVA 0x1040 -> offset 0x40. */
			assert_string_equal(pe.sec[0].name, "[CLAMAV]");
			assert_int_equal(pe.sec[0].raw_off, 0);
			assert_int_equal(pe.sec[0].raw_size, 512);
			assert_true(pe.ep_valid);
			assert_int_equal(pe.ep_off, 0x40);
		}
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pe_built),
		cmocka_unit_test(test_pe_malformed),
		cmocka_unit_test(test_pe_section_sigs),
		cmocka_unit_test(test_pe_offsets),
		cmocka_unit_test(test_pe_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
