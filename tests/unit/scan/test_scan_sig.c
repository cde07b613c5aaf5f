/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_sig.c - ClamAV signature loaders (scan_sig.c, scan_sig_ldb.c,
 * scan_sig_cvd.c): every line format with good and malformed lines (errors
 * carry file:line), reasons for what cannot be expressed, logical
 * expressions, .ndb wildcard semantics checked by scanning crafted buffers,
 * and a CVD container built in the test (tar.gz + header with MD5).
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
#include <openssl/evp.h>

#include "mxg_err.h"
#include "scan.h"
#include "scan_sig_int.h"
#include "scan_test.h"

static struct scan_sigset *load(enum scan_sig_fmt fmt, const char *name, const char *text)
{
	struct scan_sigset *s = scan_sigset_new(NULL);

	assert_non_null(s);
	assert_int_equal(scan_sigset_load_buf(s, fmt, name, (const uint8_t *)text, strlen(text)),
			 0);
	return s;
}

static bool has_error(const struct scan_sigset *s, const char *prefix)
{
	size_t i;

	for (i = 0; i < scan_sigset_nerrors(s); i++)
		if (!strncmp(scan_sigset_error(s, i), prefix, strlen(prefix)))
			return true;
	return false;
}

static void test_scan_sig_hdb(void **state)
{
	struct scan_sigset *s = load(SCAN_SIG_HDB, "t.hdb",
		"# comment\n"
		"44d88612fea8a8f36de82e1278abb02f:68:Eicar-MD5\n"
		"3395856ce81f2b7382dee72602f798b642f14140:68:Eicar-SHA1:73\n"
		"\n"
		"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:*:Eicar-SHA256:73\n"
		"44d88612fea8a8f36de82e1278abb02:68:TooShort\n"
		"44d88612fea8a8f36de82e1278abb02f:6x8:BadSize\n"
		"44d88612fea8a8f36de82e1278abb02f:68\n"
		"zzd88612fea8a8f36de82e1278abb02f:68:BadHex\n"
		"44d88612fea8a8f36de82e1278abb02f:68:Future:999\n");
	const struct scan_sig_stats *st = scan_sigset_stats(s);

	assert_int_equal(st->lines[SCAN_SIG_HDB], 8);
	assert_int_equal(st->loaded[SCAN_SIG_HDB], 3);
	assert_int_equal(st->rejected[SCAN_SIG_HDB], 5);
	assert_int_equal(st->reason[SCAN_SIG_R_MALFORMED], 4);
	assert_int_equal(st->reason[SCAN_SIG_R_FLEVEL], 1);
	assert_true(has_error(s, "t.hdb:6: malformed: hash length"));
	assert_true(has_error(s, "t.hdb:7: malformed: bad size"));
	assert_true(has_error(s, "t.hdb:8: malformed"));
	assert_true(has_error(s, "t.hdb:9: malformed: bad hex"));
	assert_true(has_error(s, "t.hdb:10: flevel"));
	assert_int_equal(s->hash_algs, SCAN_HASH_MD5 | SCAN_HASH_SHA1 | SCAN_HASH_SHA256);
	scan_sigset_free(s);
}

static void test_scan_sig_mdb_parse(void **state)
{
	struct scan_sigset *s = load(SCAN_SIG_MDB, "t.mdb",
		"45056:3ea7d00dedd30bcdf46191358c36ffa4:Eicar-Test-Signature\n"
		"*:3ea7d00dedd30bcdf46191358c36ffa4:Star:73\n"
		"45056:3ea7d00dedd30bcdf4619135:Short\n");
	const struct scan_sig_stats *st = scan_sigset_stats(s);

	assert_int_equal(st->loaded[SCAN_SIG_MDB], 2);
	assert_int_equal(st->reason[SCAN_SIG_R_PE_SECTION], 0);
	assert_int_equal(st->reason[SCAN_SIG_R_MALFORMED], 1);
	assert_int_equal(s->nshashes, 2);
	assert_int_equal(s->nhashes, 0);
	assert_int_equal(s->sect_algs, SCAN_HASH_MD5);
	assert_int_equal(s->hash_algs, 0); /* no whole-file digest needed */
	sig_finalize(s);
	{
		uint8_t d[32] = { 0x3e, 0xa7, 0xd0, 0x0d, 0xed, 0xd3, 0x0b, 0xcd,
				  0xf4, 0x61, 0x91, 0x35, 0x8c, 0x36, 0xff, 0xa4 };

		assert_true(sig_shash_find(s, SCAN_HASH_MD5, d, 45056) >= 0);
		assert_true(sig_shash_find(s, SCAN_HASH_MD5, d, 7) >= 0); /* the '*' one */
		assert_true(sig_hash_find(s, SCAN_HASH_MD5, d, 45056) < 0);
		d[0] ^= 1;
		assert_true(sig_shash_find(s, SCAN_HASH_MD5, d, 45056) < 0);
	}
	scan_sigset_free(s);
	s = load(SCAN_SIG_MSB, "t.msb",
		 "45056:f9b304ced34fcce3ab75c6dc58ad59e4d62177ffed35494f79f09bc4e8986c16:E\n"
		 "*:45f9f37f318a50c62d3f26699f2415338ddc1f81:F:73\n");
	assert_int_equal(scan_sigset_stats(s)->loaded[SCAN_SIG_MSB], 2);
	assert_int_equal(s->sect_algs, SCAN_HASH_SHA1 | SCAN_HASH_SHA256);
	scan_sigset_free(s);
}

static void test_scan_sig_ndb_parse(void **state)
{
	struct scan_sigset *s = load(SCAN_SIG_NDB, "t.ndb",
		"A:0:*:414243\n"                      /* 1 ok */
		"B:1:0:4d5a??00{2-4}41(42|4344)*45\n" /* 2 ok */
		"C:0:EOF-10:41424344\n"               /* 3 ok, eof */
		"D:0:EOF-10:4142*44\n"                /* 4 eof varlen */
		"E:1:EP+10:414243\n"                  /* 5 ok, pe offset */
		"F:1:S2+4:414243\n"                   /* 6 ok, pe offset */
		"G:0:*:41!(4243|44)45\n"              /* 7 neg multibyte */
		"H:0:*:41!(42|44)45\n"                /* 8 ok */
		"I:8:*:414243\n"                      /* 9 target */
		"J:0:*:4142g3\n"                      /* 10 malformed */
		"K:0:*:41{3\n"                        /* 11 malformed */
		"L:0:*:41(42\n"                       /* 12 malformed */
		"M:0\n"                               /* 13 malformed */
		"N:3:*:3c736372697074(B)\n"           /* 14 approx */
		"O:0:*:414243:0:38\n"                 /* 15 old engines only */
		"P:0:$12:626262\n"                    /* 16 macro member */
		"Q:0:10,5:4142?3a?\n"                 /* 17 ok */
		"R:0:*:????\n"                        /* 18 no static byte */
		"S:0:EP+10:414243\n"                  /* 19 pe offset, not target 1 */
		"T:1:VI:414243\n"                     /* 20 version info: unsupported */
		"U:1:SE1:414243\n"                    /* 21 ok, whole section 1 */
		"V:1:SL+3,7:414243\n"                 /* 22 ok, last section */
		"W:1:EP-4:4142\n");                   /* 23 ok, before the entry point */
	const struct scan_sig_stats *st = scan_sigset_stats(s);

	assert_int_equal(st->lines[SCAN_SIG_NDB], 23);
	assert_int_equal(st->loaded[SCAN_SIG_NDB], 11);
	assert_int_equal(st->approx[SCAN_SIG_NDB], 1);
	assert_int_equal(st->reason[SCAN_SIG_R_EOF_VARLEN], 1);
	assert_int_equal(st->reason[SCAN_SIG_R_PE_OFFSET], 2);
	assert_int_equal(st->reason[SCAN_SIG_R_NEG_ALT], 1);
	assert_int_equal(st->reason[SCAN_SIG_R_TARGET], 1);
	assert_int_equal(st->reason[SCAN_SIG_R_MALFORMED], 5);
	assert_int_equal(st->reason[SCAN_SIG_R_FLEVEL], 1);
	assert_int_equal(st->reason[SCAN_SIG_R_LDB_MACRO], 1);
	assert_true(has_error(s, "t.ndb:4: eof-offset-variable-length"));
	assert_true(has_error(s, "t.ndb:10: malformed: bad hex"));
	assert_true(has_error(s, "t.ndb:12: malformed: unterminated group"));
	assert_true(has_error(s, "t.ndb:19: pe-relative-offset"));
	assert_true(has_error(s, "t.ndb:20: pe-relative-offset"));
	assert_int_equal(s->npats, 11);
	assert_int_equal(s->ndefs, 11);
	/* PE-relative offsets: kind, section, displacement, shift. */
	assert_int_equal(s->npe, 5);
	assert_int_equal(s->pats[3].pe, SIG_PE_EP);
	assert_int_equal(s->pats[3].pe_n, 10);
	assert_int_equal(s->pats[3].min_off, 0);
	assert_int_equal(s->pats[4].pe, SIG_PE_S);
	assert_int_equal(s->pats[4].pe_x, 2);
	assert_int_equal(s->pats[4].pe_n, 4);
	assert_int_equal(s->pats[8].pe, SIG_PE_SE);
	assert_int_equal(s->pats[8].pe_x, 1);
	assert_int_equal(s->pats[9].pe, SIG_PE_SL);
	assert_int_equal(s->pats[9].pe_n, 3);
	assert_int_equal(s->pats[9].pe_shift, 7);
	assert_int_equal(s->pats[10].pe, SIG_PE_EP);
	assert_int_equal(s->pats[10].pe_n, -4);
	/* EOF pattern carries its length for the end check. */
	assert_int_equal(s->pats[2].eof, 1);
	assert_int_equal(s->pats[2].fixed_len, 4);
	/* Fixed-length absolute offset uses Hyperscan min/max offsets. */
	assert_int_equal(s->pats[7].min_off, 10 + 4);
	assert_int_equal(s->pats[7].max_off, 15 + 4);
	scan_sigset_free(s);
}

static void test_scan_sig_hex_regex(void **state)
{
	static const struct {
		const char *hex;
		uint32_t mods;
		const char *re;
		uint32_t fixed;
	} v[] = {
		{ "4142", 0, "\\x41\\x42", 2 },
		{ "41??42", 0, "\\x41.\\x42", 3 },
		{ "414?", 0, "\\x41[\\x40-\\x4f]", 2 },
		{ "41*42", 0, "\\x41.*\\x42", 0 },
		{ "41{3}42", 0, "\\x41.{3}\\x42", 5 },
		{ "41{-3}42", 0, "\\x41.{0,3}\\x42", 0 },
		{ "41{3-}42", 0, "\\x41.{3,}\\x42", 0 },
		{ "41[1-2]42", 0, "\\x41.{1,2}\\x42", 0 },
		{ "41(42|43)", 0, "\\x41(?:\\x42|\\x43)", 2 },
		{ "41!(42|43)", 0, "\\x41[^\\x42\\x43]", 2 },
		{ "4142", HEXM_WIDE, "\\x41\\x00\\x42\\x00", 4 },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct sig_str o = { .mem = mxg_mem_default() };
		uint32_t fixed = 99;
		bool approx = false;
		const char *why;

		assert_int_equal(sig_hex_to_regex(v[i].hex, strlen(v[i].hex), v[i].mods, &o, &fixed,
						  &approx, &why), 0);
		assert_string_equal(o.p, v[i].re);
		assert_int_equal(fixed, v[i].fixed);
		free(o.p);
	}
}

static void test_scan_sig_lx(void **state)
{
	struct lx_node n[SIG_MAX_NODES];
	uint16_t nn;
	int maxsub, root;
	const char *why;
	uint32_t c[8] = { 0 };

#define PARSE(e) lx_parse(e, strlen(e), n, SIG_MAX_NODES, &nn, &maxsub, &why)
	root = PARSE("0&1&2");
	assert_true(root >= 0);
	assert_int_equal(maxsub, 2);
	c[0] = c[1] = 1;
	assert_false(lx_eval(n, (uint16_t)root, c));
	c[2] = 1;
	assert_true(lx_eval(n, (uint16_t)root, c));

	root = PARSE("((0|1|2)>5,2)&(3|1)");
	assert_true(root >= 0);
	memset(c, 0, sizeof(c));
	c[0] = 6;
	c[3] = 1;
	assert_false(lx_eval(n, (uint16_t)root, c)); /* only one distinct */
	c[1] = 1;
	assert_true(lx_eval(n, (uint16_t)root, c));

	root = PARSE("0&1=0");
	memset(c, 0, sizeof(c));
	c[0] = 1;
	assert_true(lx_eval(n, (uint16_t)root, c));
	c[1] = 1;
	assert_false(lx_eval(n, (uint16_t)root, c));

	root = PARSE("(0|1)=2");
	memset(c, 0, sizeof(c));
	c[0] = 1;
	c[1] = 1;
	assert_true(lx_eval(n, (uint16_t)root, c));
	c[1] = 2;
	assert_false(lx_eval(n, (uint16_t)root, c));
	root = PARSE("0<3");
	assert_true(lx_eval(n, (uint16_t)root, c));

	assert_int_equal(PARSE("0&"), -1);
	assert_int_equal(PARSE("(0|1"), -1);
	assert_int_equal(PARSE("0)"), -1);
	assert_int_equal(PARSE("64"), -1);
	assert_int_equal(PARSE("0>"), -1);
	assert_int_equal(PARSE(""), -1);
#undef PARSE
}

static void test_scan_sig_ldb_parse(void **state)
{
	struct scan_sigset *s = load(SCAN_SIG_LDB, "t.ldb",
		"A;Engine:51-255,Target:1;0&1&2&3&4;5a2070242129;76375f26762566;2c5e7d522c787a6d64;413346382678;484f753c2e38\n"
		"B;Target:0;0&1;41414141::i;68656c6c6f::wa\n"
		"C;Engine:51-255,Target:1,IconGroup1:TEST;0;434c414d\n"
		"D;Target:0;0&1;616161;${6-7}12$\n"
		"E;Target:0;0&1;616161;0(>>5#hb2#=123)\n"
		"F;Target:0;0&1;616161;0/abc[0-9]+/i\n"
		"G;Target:0;0&2;616161;626262\n"
		"H;Target:0;0&1;616161\n"
		"I;Target:0,FileSize:10-20;0;EOF-4:61626364\n"
		"J;Engine:300-400,Target:0;0;616161\n"
		"K;Target:0;0;616161::q\n"
		"L;Target:0;0&(1;616161;626262\n");
	const struct scan_sig_stats *st = scan_sigset_stats(s);

	assert_int_equal(st->lines[SCAN_SIG_LDB], 12);
	assert_int_equal(st->loaded[SCAN_SIG_LDB], 4); /* A B F I */
	assert_int_equal(st->reason[SCAN_SIG_R_LDB_ATTR], 1);
	assert_int_equal(st->reason[SCAN_SIG_R_LDB_MACRO], 1);
	assert_int_equal(st->reason[SCAN_SIG_R_LDB_BYTECMP], 1);
	assert_int_equal(st->reason[SCAN_SIG_R_FLEVEL], 1);
	assert_int_equal(st->reason[SCAN_SIG_R_MALFORMED], 4);
	assert_true(has_error(s, "t.ldb:7: malformed: expression refers"));
	assert_true(has_error(s, "t.ldb:12: malformed"));
	/* Rejected lines left nothing behind. */
	assert_int_equal(s->ndefs, 4);
	assert_int_equal(s->npats, 5 + 2 + 2 + 1);
	assert_int_equal(s->defs[3].fsize_min, 10);
	assert_int_equal(s->defs[3].fsize_max, 20);
	assert_int_equal(s->defs[2].pcre_trig[1] != 0, 1);
	scan_sigset_free(s);
}

/* ---- semantics: scan crafted buffers ---- */

static struct scan_engine *engine_of(enum scan_sig_fmt fmt, const char *text)
{
	struct scan_sigset *s = load(fmt, "sem", text);
	char err[128];
	struct scan_engine *e = scan_engine_build(NULL, s, err, sizeof(err));

	assert_non_null(e);
	return e;
}

/* Names of the viruses found in |buf|, space separated, into |out|. */
static void scan_buf(struct scan_engine *e, const void *buf, size_t len, char *out, size_t cap)
{
	struct scan_session *ss = scan_session_new(e, NULL, NULL);
	const struct scan_result *r;
	size_t i;

	assert_non_null(ss);
	assert_int_equal(scan_session_scan_file(ss, "f", buf, len), 0);
	r = scan_session_finish(ss);
	out[0] = 0;
	for (i = 0; i < r->nviruses; i++) {
		strncat(out, r->viruses[i].name, cap - strlen(out) - 2);
		strcat(out, " ");
	}
	assert_int_equal(r->flags & SCAN_R_ERROR, 0);
	scan_session_free(ss);
}

static bool found(struct scan_engine *e, const void *buf, size_t len, const char *name)
{
	char out[512], pat[64];

	scan_buf(e, buf, len, out, sizeof(out));
	snprintf(pat, sizeof(pat), "%s ", name);
	return strstr(out, pat) != NULL;
}

#define F(e, str, name) found(e, str, sizeof(str) - 1, name)

static void test_scan_sig_ndb_semantics(void **state)
{
	struct scan_engine *e = engine_of(SCAN_SIG_NDB,
		"Wild:0:*:41??43\n"
		"Nib:0:*:4?5a\n"
		"Nib2:0:*:?15a\n"
		"Star:0:*:5858*5959\n"
		"Range:0:*:61{2-3}62\n"
		"Exact:0:*:63{2}64\n"
		"Upto:0:*:65{-1}66\n"
		"Alt:0:*:70(7172|73)74\n"
		"Neg:0:*:75!(76|77)78\n"
		"Abs:0:2:4d4e\n"
		"AbsShift:0:2,2:4f50\n"
		"Eof:0:EOF-3:515253\n"
		"PE:1:*:525354\n");

	assert_true(F(e, "xxAbCxx", "Wild"));
	assert_false(F(e, "xxACxx", "Wild"));
	assert_true(F(e, "IZ", "Nib"));
	assert_true(F(e, "OZ", "Nib"));
	assert_false(F(e, "PZ", "Nib"));
	assert_true(F(e, "QZ", "Nib2")); /* 0x51 */
	assert_true(F(e, "aZ", "Nib2")); /* 0x61 */
	assert_false(F(e, "RZ", "Nib2"));
	assert_true(F(e, "XX..........YY", "Star"));
	assert_true(F(e, "XXYY", "Star"));
	assert_false(F(e, "XX", "Star"));
	assert_true(F(e, "a12b", "Range"));
	assert_true(F(e, "a123b", "Range"));
	assert_false(F(e, "a1b", "Range"));
	assert_false(F(e, "a1234b", "Range"));
	assert_true(F(e, "c12d", "Exact"));
	assert_false(F(e, "c1d", "Exact"));
	assert_true(F(e, "ef", "Upto"));
	assert_true(F(e, "e1f", "Upto"));
	assert_false(F(e, "e12f", "Upto"));
	assert_true(F(e, "pqrt", "Alt"));
	assert_true(F(e, "pst", "Alt"));
	assert_false(F(e, "pqt", "Alt"));
	assert_true(F(e, "uxx", "Neg"));
	assert_false(F(e, "uvx", "Neg"));
	assert_false(F(e, "uwx", "Neg"));
	assert_true(F(e, "..MN..", "Abs"));
	assert_false(F(e, ".MN...", "Abs"));
	assert_false(F(e, "...MN.", "Abs"));
	assert_true(F(e, "..OP..", "AbsShift"));
	assert_true(F(e, "....OP", "AbsShift"));
	assert_false(F(e, ".....OP", "AbsShift"));
	assert_true(F(e, "xxxxQRS", "Eof"));
	assert_false(F(e, "xxxxQRSx", "Eof"));
	assert_false(F(e, "QRSxxxx", "Eof"));
	assert_true(F(e, "MZ..RST", "PE"));
	assert_false(F(e, "ZM..RST", "PE"));
	/* EICAR is built in. */
	assert_true(found(e, sig_eicar, SIG_EICAR_LEN, SIG_EICAR_NAME));
	scan_engine_unref(e);
}

static void test_scan_sig_ldb_semantics(void **state)
{
	struct scan_engine *e = engine_of(SCAN_SIG_LDB,
		"And;Target:0;0&1;616161;626262\n"
		"Count;Target:0;0>2;636363\n"
		"Nocase;Target:0;0;41424344::i\n"
		"Wide;Target:0;0;414243::w\n"
		"Full;Target:0;0;68656c6c6f::f\n"
		"Pcre;Target:0;0&1;787878;0/y+z{2}/\n"
		"Size;Target:0,FileSize:4-6;0;717171\n"
		"Eof;Target:0;0;EOF-2:7a7a\n");

	assert_true(F(e, "aaa..bbb", "And"));
	assert_false(F(e, "aaa....", "And"));
	assert_false(F(e, "ccc ccc", "Count"));
	assert_true(F(e, "ccc ccc ccc", "Count"));
	assert_true(F(e, "abcd", "Nocase"));
	assert_true(F(e, "A\0B\0C\0", "Wide"));
	assert_false(F(e, "ABC", "Wide"));
	assert_true(F(e, "say hello!", "Full"));
	assert_false(F(e, "sayhello!", "Full"));
	assert_true(F(e, "xxx yyzz", "Pcre"));
	assert_false(F(e, "yyzz", "Pcre"));
	assert_true(F(e, "qqq.", "Size"));
	assert_false(F(e, "qqq....", "Size"));
	assert_true(F(e, "...zz", "Eof"));
	assert_false(F(e, "..zz.", "Eof"));
	scan_engine_unref(e);
}

static void test_scan_sig_hash_semantics(void **state)
{
	struct scan_engine *e = engine_of(SCAN_SIG_HDB,
		"44d88612fea8a8f36de82e1278abb02f:68:Eicar-MD5\n"
		"3395856ce81f2b7382dee72602f798b642f14140:*:Eicar-SHA1:73\n"
		"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:67:WrongSize\n");
	char out[256];

	scan_buf(e, sig_eicar, SIG_EICAR_LEN, out, sizeof(out));
	assert_non_null(strstr(out, "Eicar-MD5 "));
	assert_non_null(strstr(out, "Eicar-SHA1 "));
	assert_null(strstr(out, "WrongSize"));
	scan_engine_unref(e);
}

/* ---- CVD ---- */

static size_t make_tgz(uint8_t *out, size_t cap, const char *const *names,
		       const char *const *bodies, size_t n)
{
	struct archive *a = archive_write_new();
	size_t used = 0, i;

	archive_write_add_filter_gzip(a);
	archive_write_set_format_ustar(a);
	archive_write_set_bytes_in_last_block(a, 1);
	assert_int_equal(archive_write_open_memory(a, out, cap, &used), ARCHIVE_OK);
	for (i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();

		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_size(e, (la_int64_t)strlen(bodies[i]));
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, bodies[i], strlen(bodies[i])),
				 (ssize_t)strlen(bodies[i]));
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

static size_t make_cvd(uint8_t *buf, size_t cap, bool corrupt)
{
	static const char *const names[] = { "x.hdb", "x.ndb", "x.ldb", "x.info", "x.fp" };
	static const char *const bodies[] = {
		"44d88612fea8a8f36de82e1278abb02f:68:Cvd-Eicar-MD5\n",
		"Cvd-Body:0:*:434c414d41562d54455354\nBroken:0:*:zz\n",
		"Cvd-Logic;Target:0;0&1;4142;4344\n",
		"info\n",
		"fp\n",
	};
	unsigned char md[16];
	unsigned int mdlen;
	char hdr[513], hex[33];
	size_t n, i;

	n = make_tgz(buf + 512, cap - 512, names, bodies, 5);
	EVP_Digest(buf + 512, n, md, &mdlen, EVP_md5(), NULL);
	for (i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	if (corrupt)
		hex[0] = hex[0] == '0' ? '1' : '0';
	memset(hdr, ' ', 512);
	i = (size_t)snprintf(hdr, sizeof(hdr), "ClamAV-VDB:01 Jan 2024 00-00 +0000:1:4:90:%s:sig:test:0",
			     hex);
	hdr[i] = ' ';
	memcpy(buf, hdr, 512);
	return n + 512;
}

static void test_scan_sig_cvd(void **state)
{
	static uint8_t buf[65536];
	size_t n = make_cvd(buf, sizeof(buf), false);
	struct scan_sigset *s = scan_sigset_new(NULL);
	const struct scan_sig_stats *st;
	struct scan_engine *e;
	char out[256];

	assert_int_equal(scan_sigset_load_buf(s, SCAN_SIG_CVD, "t.cvd", buf, n), 0);
	st = scan_sigset_stats(s);
	assert_int_equal(st->files, 3);
	assert_int_equal(st->files_unsupported, 2);
	assert_int_equal(st->loaded[SCAN_SIG_HDB], 1);
	assert_int_equal(st->loaded[SCAN_SIG_NDB], 1);
	assert_int_equal(st->rejected[SCAN_SIG_NDB], 1);
	assert_int_equal(st->loaded[SCAN_SIG_LDB], 1);
	assert_true(has_error(s, "t.cvd/x.ndb:2: malformed"));
	e = scan_engine_build(NULL, s, NULL, 0);
	assert_non_null(e);
	scan_buf(e, "..CLAMAV-TEST..AB..CD", 21, out, sizeof(out));
	assert_non_null(strstr(out, "Cvd-Body "));
	assert_non_null(strstr(out, "Cvd-Logic "));
	scan_engine_unref(e);

	/* Bad MD5, truncated, not a CVD. */
	n = make_cvd(buf, sizeof(buf), true);
	s = scan_sigset_new(NULL);
	assert_int_equal(scan_sigset_load_buf(s, SCAN_SIG_CVD, "bad.cvd", buf, n), MXG_E_INVAL);
	assert_true(has_error(s, "bad.cvd:0: malformed: CVD MD5 mismatch"));
	assert_int_equal(scan_sigset_load_buf(s, SCAN_SIG_CVD, "short.cvd", buf, 100),
			 MXG_E_INVAL);
	n = make_cvd(buf, sizeof(buf), false);
	memcpy(buf + 512 + 40, "garbage!", 8); /* MD5 now wrong too */
	assert_int_equal(scan_sigset_load_buf(s, SCAN_SIG_CVD, "g.cvd", buf, n), MXG_E_INVAL);
	scan_sigset_free(s);
}

/* The freshclam test containers shipped in the corpus. */
static void test_scan_sig_cvd_corpus(void **state)
{
	char path[512];
	int i, loaded = 0;

	for (i = 1; i <= 6; i++) {
		struct scan_sigset *s = scan_sigset_new(NULL);
		const struct scan_sig_stats *st;
		int rc;

		snprintf(path, sizeof(path),
			 "%s/virus/clamav-unit-tests/signatures/freshclam_testfiles/test-%d.cvd",
			 CORPUS_DIR, i);
		rc = scan_sigset_load_file(s, path);
		if (rc == MXG_E_IO) {
			scan_sigset_free(s);
			continue;
		}
		assert_int_equal(rc, 0);
		st = scan_sigset_stats(s);
		print_message("test-%d.cvd: files %u (unsupported %u) hdb %u/%u hsb %u/%u "
			      "ndb %u/%u ldb %u/%u mdb rej %u msb rej %u\n", i, st->files,
			      st->files_unsupported, st->loaded[SCAN_SIG_HDB],
			      st->lines[SCAN_SIG_HDB], st->loaded[SCAN_SIG_HSB],
			      st->lines[SCAN_SIG_HSB], st->loaded[SCAN_SIG_NDB],
			      st->lines[SCAN_SIG_NDB], st->loaded[SCAN_SIG_LDB],
			      st->lines[SCAN_SIG_LDB], st->rejected[SCAN_SIG_MDB],
			      st->rejected[SCAN_SIG_MSB]);
		loaded++;
		scan_sigset_free(s);
	}
	if (!loaded)
		skip(); /* corpus absent */
}

static void test_scan_sig_failmem(void **state)
{
	static const char text[] =
		"A;Target:0;0&1;616161;0/abc/\nB:0:*:41??42\n";
	unsigned long n;

	for (n = 1; n < 200; n++) {
		struct failmem fm;
		struct scan_sigset *s;
		int rc;

		failmem_init(&fm, n);
		s = scan_sigset_new(&fm.mem);
		if (!s) {
			assert_int_equal(fm.live, 0);
			continue;
		}
		rc = scan_sigset_load_buf(s, SCAN_SIG_LDB, "a", (const uint8_t *)text, 40);
		if (rc == 0)
			rc = scan_sigset_load_buf(s, SCAN_SIG_NDB, "b",
						  (const uint8_t *)text + 40, strlen(text) - 40);
		scan_sigset_free(s);
		assert_int_equal(fm.live, 0);
		if (rc == 0 && fm.n < n)
			break;
	}
	assert_true(n < 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_sig_hdb),
		cmocka_unit_test(test_scan_sig_mdb_parse),
		cmocka_unit_test(test_scan_sig_ndb_parse),
		cmocka_unit_test(test_scan_sig_hex_regex),
		cmocka_unit_test(test_scan_sig_lx),
		cmocka_unit_test(test_scan_sig_ldb_parse),
		cmocka_unit_test(test_scan_sig_ndb_semantics),
		cmocka_unit_test(test_scan_sig_ldb_semantics),
		cmocka_unit_test(test_scan_sig_hash_semantics),
		cmocka_unit_test(test_scan_sig_cvd),
		cmocka_unit_test(test_scan_sig_cvd_corpus),
		cmocka_unit_test(test_scan_sig_failmem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
