/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_ftype.c - true file type: libmagic plus policy sniffers.
 *
 * ORDER
 *	Magic numbers we trust decide first (PE, ELF, Mach-O, OLE2, zip,
 *	PDF, RTF, images, archives); then script heuristics and an HTML/XML
 *	sniff on text. libmagic is asked only about what is left (binary data
 *	none of these names: media, fonts, unknown): one magic_buffer() costs
 *	0.3-0.5 ms on this machine whatever the input, more than scanning a
 *	whole message, so it must not run per part. What we classify gets its
 *	MIME string from our table. The magic_t is opened at the first such
 *	file, not at create (magic_load costs about 5 ms); when it cannot be
 *	opened the MIME string stays application/octet-stream. libmagic runs
 *	with MAGIC_NO_CHECK_COMPRESS (it must not decompress attachments:
 *	scan_archive does, with limits).
 *
 * OLE2
 *	Directory entries are found by shape, not by walking the FAT: every
 *	128-byte slot after the 512-byte header is tested for a valid entry
 *	(UTF-16LE name with a matching length, type storage/stream/root,
 *	colour red/black). A damaged FAT therefore cannot hide a "Macros"
 *	storage; the cost is one pass over at most scan_bytes.
 *
 * PDF
 *	Names are read as PDF names with #xx escapes decoded (/J#61vaScript is
 *	/JavaScript), anywhere in the file (objects may be in any order;
 *	compressed object streams are not inflated: documented gap).
 */
#include <archive.h>
#include <archive_entry.h>
#include <magic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mxg_err.h"
#include "scan_archive.h"
#include "scan_ftype.h"

struct scan_ftype {
	const struct mxg_mem *mem;
	struct scan_ftype_limits lim;
	magic_t magic;      /* NULL until first needed */
	bool magic_failed;  /* magic_open/magic_load failed once: do not retry */
};

struct scan_ftype *scan_ftype_new(const struct mxg_mem *mem, const struct scan_ftype_limits *limits)
{
	struct scan_ftype *ft;

	if (mem == NULL)
		mem = mxg_mem_default();
	ft = mxg_calloc(mem, 1, sizeof(*ft));
	if (ft == NULL)
		return NULL;
	ft->mem = mem;
	ft->lim.magic_bytes = 1 << 20;
	ft->lim.scan_bytes = 64 << 20;
	ft->lim.max_zip_members = 2000;
	if (limits != NULL)
		ft->lim = *limits;
	return ft;
}

/* libmagic's MIME type of |buf|, or NULL (not loadable, or no answer). */
static const char *magic_mime(struct scan_ftype *ft, const uint8_t *buf, size_t len)
{
	size_t bm;

	if (ft->magic == NULL && !ft->magic_failed) {
		ft->magic = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR);
		if (ft->magic == NULL || magic_load(ft->magic, NULL) != 0) {
			if (ft->magic != NULL)
				magic_close(ft->magic);
			ft->magic = NULL;
			ft->magic_failed = true;
			return NULL;
		}
		bm = ft->lim.magic_bytes;
		magic_setparam(ft->magic, MAGIC_PARAM_BYTES_MAX, &bm);
	}
	if (ft->magic == NULL)
		return NULL;
	return magic_buffer(ft->magic, buf, len < ft->lim.magic_bytes ? len : ft->lim.magic_bytes);
}

void scan_ftype_free(struct scan_ftype *ft)
{
	if (ft == NULL)
		return;
	if (ft->magic != NULL)
		magic_close(ft->magic);
	mxg_free(ft->mem, ft);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

static void set(struct scan_ftype_result *r, enum scan_ftype_cat c, const char *kind)
{
	r->cat = c;
	snprintf(r->kind, sizeof(r->kind), "%s", kind);
}

/* Case-insensitive search of |pat| in [p, p+n). */
static bool has(const uint8_t *p, size_t n, const char *pat)
{
	size_t k = strlen(pat);
	uint8_t c0 = (uint8_t)(pat[0] | 0x20);

	for (size_t i = 0; k > 0 && i + k <= n; i++)
		if ((p[i] | 0x20) == c0 && strncasecmp((const char *)p + i, pat, k) == 0)
			return true;
	return false;
}

/* ---- executables ---- */

static bool sniff_exec(const uint8_t *p, size_t n, struct scan_ftype_result *r)
{
	if (n >= 64 && p[0] == 'M' && p[1] == 'Z') {
		uint32_t off = le32(p + 0x3c);

		if ((uint64_t)off + 24 <= n && memcmp(p + off, "PE\0\0", 4) == 0) {
			uint16_t ch = (uint16_t)(p[off + 22] | p[off + 23] << 8);

			set(r, SCAN_FT_EXEC, "pe");
			if (ch & 0x2000)
				r->flags |= SCAN_FTF_DLL;
		} else {
			set(r, SCAN_FT_EXEC, "mz");
		}
		return true;
	}
	if (n >= 16 && memcmp(p, "\x7f" "ELF", 4) == 0) {
		set(r, SCAN_FT_EXEC, "elf");
		return true;
	}
	if (n >= 8) {
		uint32_t m = be32(p);

		if (m == 0xfeedface || m == 0xfeedfacf || m == 0xcefaedfe || m == 0xcffaedfe) {
			set(r, SCAN_FT_EXEC, "macho");
			return true;
		}
		if (m == 0xcafebabe) {
			/* fat Mach-O has a few architectures; a Java class
			 * file has its version (>= 45) there */
			set(r, SCAN_FT_EXEC, be32(p + 4) < 30 ? "macho" : "class");
			return true;
		}
	}
	return false;
}

/* ---- OLE2 ---- */

/* Root storage CLSID of Windows Installer packages (.msi, .msp):
 * {000C1084-0000-0000-C000-000000000046}, {000C1086-...} as stored. */
static bool msi_clsid(const uint8_t *c)
{
	static const uint8_t tail[12] = { 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46 };

	return (c[0] == 0x84 || c[0] == 0x86) && c[1] == 0x10 && c[2] == 0x0c && c[3] == 0 &&
	       memcmp(c + 4, tail, sizeof(tail)) == 0;
}

/* Returns true when the root storage says Windows Installer. */
static bool sniff_ole2(const uint8_t *p, size_t n, struct scan_ftype_result *r)
{
	bool vba = false, dir = false, msi = false;

	for (size_t off = 512; off + 128 <= n; off += 128) {
		const uint8_t *e = p + off;
		unsigned nl = (unsigned)(e[64] | e[65] << 8);
		char name[33];
		bool ok = true;

		if (nl < 4 || nl > 64 || (nl & 1) || (e[66] != 1 && e[66] != 2 && e[66] != 5) ||
		    e[67] > 1 || e[nl - 2] != 0 || e[nl - 1] != 0)
			continue;
		for (unsigned i = 0; i < nl / 2 - 1; i++) {
			uint8_t lo = e[2 * i], hi = e[2 * i + 1];

			if (hi != 0 || lo == 0) {
				ok = false;
				break;
			}
			name[i] = (char)lo;
		}
		if (!ok)
			continue;
		name[nl / 2 - 1] = '\0';
		if (e[66] == 5 && msi_clsid(e + 0x50))
			msi = true;
		/* a "VBA" storage alone is no project (Publisher files carry an
		 * empty one): it needs its "dir" stream */
		if (strcasecmp(name, "_VBA_PROJECT") == 0 || strcasecmp(name, "_VBA_PROJECT_CUR") == 0 ||
		    strcasecmp(name, "Macros") == 0)
			r->flags |= SCAN_FTF_MACROS;
		else if (strcasecmp(name, "VBA") == 0 && e[66] == 1)
			vba = true;
		else if (strcasecmp(name, "dir") == 0 && e[66] == 2)
			dir = true;
		else if (strcasecmp(name, "EncryptedPackage") == 0 ||
			 strcasecmp(name, "EncryptionInfo") == 0)
			r->flags |= SCAN_FTF_ENCRYPTED;
	}
	if (vba && dir)
		r->flags |= SCAN_FTF_MACROS;
	return msi;
}

/* ---- zip-based: OOXML, ODF, JAR/APK ---- */

static void sniff_zip(struct scan_ftype *ft, const uint8_t *p, size_t n,
		      struct scan_ftype_result *r)
{
	struct archive *ar = archive_read_new();
	struct archive_entry *e;
	bool ooxml = false, odf = false, jar = false, apk = false;
	uint32_t k = 0;

	set(r, SCAN_FT_ARCHIVE, "zip");
	if (ar == NULL)
		return;
	archive_read_support_format_zip(ar);
	if (archive_read_open_memory(ar, p, n) != ARCHIVE_OK)
		goto out;
	while (k++ < ft->lim.max_zip_members) {
		int h = archive_read_next_header(ar, &e);
		const char *name;
		size_t nl;

		if (h == ARCHIVE_EOF || h == ARCHIVE_FATAL)
			break;
		if (h < ARCHIVE_WARN)
			continue;
		name = archive_entry_pathname(e);
		if (name == NULL)
			continue;
		nl = strlen(name);
		if (archive_entry_is_encrypted(e) > 0)
			r->flags |= SCAN_FTF_ENCRYPTED;
		if (strcmp(name, "[Content_Types].xml") == 0)
			ooxml = true;
		else if (strcmp(name, "mimetype") == 0 || strcmp(name, "content.xml") == 0)
			odf = true;
		else if (strcmp(name, "AndroidManifest.xml") == 0 || strcmp(name, "classes.dex") == 0)
			apk = true;
		else if (strcasecmp(name, "META-INF/MANIFEST.MF") == 0)
			jar = true;
		if (nl >= 14 && strcasecmp(name + nl - 14, "vbaProject.bin") == 0)
			r->flags |= SCAN_FTF_MACROS;
		if (strncmp(name, "Basic/", 6) == 0 && nl > 6 && strcmp(name + nl - 4, ".xml") == 0 &&
		    strstr(name, "script-") == NULL)
			r->flags |= SCAN_FTF_MACROS; /* ODF StarBasic module */
	}
	if (k > ft->lim.max_zip_members)
		r->flags |= SCAN_FTF_TRUNCATED;
	if (ooxml)
		set(r, SCAN_FT_OFFICE, "ooxml");
	else if (odf)
		set(r, SCAN_FT_OFFICE, "odf");
	else if (apk)
		set(r, SCAN_FT_EXEC, "apk");
	else if (jar)
		set(r, SCAN_FT_EXEC, "jar");
out:
	archive_read_free(ar);
}

/* ---- PDF ---- */

static int hexv(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool pdf_delim(uint8_t c)
{
	return c <= 0x20 || strchr("()<>[]{}/%", c) != NULL;
}

static void sniff_pdf(const uint8_t *p, size_t n, struct scan_ftype_result *r)
{
	for (size_t i = 0; i < n; i++) {
		char name[24];
		size_t k = 0, j = i + 1;

		if (p[i] != '/')
			continue;
		while (j < n && !pdf_delim(p[j]) && k < sizeof(name) - 1) {
			uint8_t c = p[j++];

			if (c == '#' && j + 1 < n && hexv(p[j]) >= 0 && hexv(p[j + 1]) >= 0) {
				c = (uint8_t)(hexv(p[j]) << 4 | hexv(p[j + 1]));
				j += 2;
			}
			name[k++] = (char)c;
		}
		name[k] = '\0';
		if (j < n && !pdf_delim(p[j]))
			continue; /* longer than any name we look for */
		if (strcmp(name, "JS") == 0 || strcmp(name, "JavaScript") == 0)
			r->flags |= SCAN_FTF_JS;
		else if (strcmp(name, "OpenAction") == 0 || strcmp(name, "AA") == 0 ||
			 strcmp(name, "Launch") == 0)
			r->flags |= SCAN_FTF_AUTOACTION;
		else if (strcmp(name, "Encrypt") == 0)
			r->flags |= SCAN_FTF_ENCRYPTED;
		i = j - 1;
	}
}

/* ---- images ---- */

static const char *image_kind(const uint8_t *p, size_t n)
{
	if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "png";
	if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
		return "jpeg";
	if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
		return "gif";
	if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
		return "webp";
	if (n >= 4 && (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0))
		return "tiff";
	if (n >= 26 && p[0] == 'B' && p[1] == 'M' && le32(p + 14) >= 12 && le32(p + 14) <= 124)
		return "bmp";
	return NULL;
}

/* ---- scripts ---- */

static const char *ext_of(const char *name)
{
	const char *dot = name ? strrchr(name, '.') : NULL;

	return dot && dot[1] ? dot + 1 : "";
}

static const struct {
	const char *ext;
	enum scan_ftype_cat cat;
	const char *kind; /* script kind for SCRIPT */
} exts[] = {
	{ "js", SCAN_FT_SCRIPT, "js" },     { "jse", SCAN_FT_SCRIPT, "js" },
	{ "vbs", SCAN_FT_SCRIPT, "vbs" },   { "vbe", SCAN_FT_SCRIPT, "vbs" },
	{ "ps1", SCAN_FT_SCRIPT, "ps1" },   { "psm1", SCAN_FT_SCRIPT, "ps1" },
	{ "hta", SCAN_FT_SCRIPT, "hta" },   { "bat", SCAN_FT_SCRIPT, "bat" },
	{ "cmd", SCAN_FT_SCRIPT, "bat" },   { "wsf", SCAN_FT_SCRIPT, "wsf" },
	{ "sh", SCAN_FT_SCRIPT, "sh" },     { "py", SCAN_FT_SCRIPT, "py" },
	{ "exe", SCAN_FT_EXEC, NULL },      { "dll", SCAN_FT_EXEC, NULL },
	{ "scr", SCAN_FT_EXEC, NULL },      { "com", SCAN_FT_EXEC, NULL },
	{ "msi", SCAN_FT_EXEC, NULL },      { "sys", SCAN_FT_EXEC, NULL },
	{ "txt", SCAN_FT_TEXT, NULL },      { "csv", SCAN_FT_TEXT, NULL },
	{ "log", SCAN_FT_TEXT, NULL },      { "htm", SCAN_FT_HTML, NULL },
	{ "html", SCAN_FT_HTML, NULL },     { "pdf", SCAN_FT_PDF, NULL },
	{ "jpg", SCAN_FT_IMAGE, NULL },     { "jpeg", SCAN_FT_IMAGE, NULL },
	{ "png", SCAN_FT_IMAGE, NULL },     { "gif", SCAN_FT_IMAGE, NULL },
	{ "bmp", SCAN_FT_IMAGE, NULL },     { "doc", SCAN_FT_OFFICE, NULL },
	{ "docx", SCAN_FT_OFFICE, NULL },   { "docm", SCAN_FT_OFFICE, NULL },
	{ "xls", SCAN_FT_OFFICE, NULL },    { "xlsx", SCAN_FT_OFFICE, NULL },
	{ "xlsm", SCAN_FT_OFFICE, NULL },   { "ppt", SCAN_FT_OFFICE, NULL },
	{ "pptx", SCAN_FT_OFFICE, NULL },   { "rtf", SCAN_FT_OFFICE, NULL },
	{ "odt", SCAN_FT_OFFICE, NULL },    { "zip", SCAN_FT_ARCHIVE, NULL },
	{ "rar", SCAN_FT_ARCHIVE, NULL },   { "7z", SCAN_FT_ARCHIVE, NULL },
	{ "gz", SCAN_FT_ARCHIVE, NULL },    { "tgz", SCAN_FT_ARCHIVE, NULL },
	{ "tar", SCAN_FT_ARCHIVE, NULL },   { "cab", SCAN_FT_ARCHIVE, NULL },
};

static int ext_index(const char *name)
{
	const char *e = ext_of(name);

	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (strcasecmp(e, exts[i].ext) == 0)
			return (int)i;
	return -1;
}

/* Script kind of a text by content, or by name; NULL when none. */
static const char *script_kind(const uint8_t *p, size_t n, const char *filename)
{
	int ei = ext_index(filename);

	if (n >= 2 && p[0] == '#' && p[1] == '!')
		return "shebang";
	if (has(p, n, "<hta:application"))
		return "hta";
	if (ei >= 0 && exts[ei].cat == SCAN_FT_SCRIPT)
		return exts[ei].kind;
	if (has(p, n, "CreateObject(") && (has(p, n, "WScript.") || has(p, n, "Shell.Application")))
		return has(p, n, "ActiveXObject") ? "js" : "vbs";
	if (has(p, n, "new ActiveXObject(") || (has(p, n, "String.fromCharCode") && has(p, n, "eval(")))
		return "js";
	if ((has(p, n, "powershell") && (has(p, n, " -enc") || has(p, n, " -e ") ||
					 has(p, n, "-windowstyle hidden"))) ||
	    has(p, n, "Invoke-Expression") || has(p, n, "FromBase64String(") ||
	    has(p, n, "Net.WebClient") || has(p, n, "DownloadString("))
		return "ps1";
	if (n >= 9 && strncasecmp((const char *)p, "@echo off", 9) == 0)
		return "bat";
	return NULL;
}

/* HTML or XML markup near the start of a text (what mail clients render
 * as a page): a doctype, <html, <head, <body, <?xml, or a few tags that
 * only HTML has (a fragment such as "<a href=...>", as ClamAV's file type
 * table reads it: its links and data: URIs are then looked at). */
static const char *markup_kind(const uint8_t *p, size_t n)
{
	size_t lim = n < 1024 ? n : 1024;

	while (lim > 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == 0xef ||
			   *p == 0xbb || *p == 0xbf)) {
		p++;
		lim--;
	}
	if (lim >= 5 && strncasecmp((const char *)p, "<?xml", 5) == 0)
		return "text/xml";
	if (has(p, lim, "<!doctype html") || has(p, lim, "<html") || has(p, lim, "<head") ||
	    has(p, lim, "<body") || has(p, lim, "<a href") || has(p, lim, "<img ") ||
	    has(p, lim, "<iframe") || has(p, lim, "<form") || has(p, lim, "<meta ") ||
	    has(p, lim, "<div") || has(p, lim, "<table"))
		return "text/html";
	return NULL;
}

static bool looks_text(const uint8_t *p, size_t n)
{
	size_t lim = n < 8192 ? n : 8192;

	for (size_t i = 0; i < lim; i++)
		if (p[i] == 0 || (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r' &&
				  p[i] != '\f' && p[i] != 0x1b))
			return false;
	return true;
}

/* Our MIME type for a kind we named (libmagic is not asked then). */
static const char *kind_mime(const struct scan_ftype_result *r)
{
	static const struct {
		const char *kind, *mime;
	} m[] = {
		{ "pe", "application/vnd.microsoft.portable-executable" },
		{ "mz", "application/x-dosexec" }, { "elf", "application/x-executable" },
		{ "macho", "application/x-mach-binary" }, { "class", "application/x-java-applet" },
		{ "msi", "application/x-msi" }, { "ole2", "application/x-ole-storage" },
		{ "ooxml", "application/vnd.openxmlformats-officedocument" },
		{ "odf", "application/vnd.oasis.opendocument" },
		{ "apk", "application/vnd.android.package-archive" },
		{ "jar", "application/java-archive" }, { "zip", "application/zip" },
		{ "pdf", "application/pdf" }, { "rtf", "text/rtf" }, { "png", "image/png" },
		{ "jpeg", "image/jpeg" }, { "gif", "image/gif" }, { "webp", "image/webp" },
		{ "tiff", "image/tiff" }, { "bmp", "image/bmp" }, { "gzip", "application/gzip" },
		{ "bzip2", "application/x-bzip2" }, { "xz", "application/x-xz" },
		{ "7z", "application/x-7z-compressed" }, { "rar", "application/vnd.rar" },
		{ "cab", "application/vnd.ms-cab-compressed" }, { "tar", "application/x-tar" },
		{ "szdd", "application/x-ms-compress-szdd" }, { "tnef", "application/vnd.ms-tnef" },
		{ "onenote", "application/onenote" }, { "cpio", "application/x-cpio" },
		{ "iso9660", "application/x-iso9660-image" }, { "binhex", "application/mac-binhex40" },
		{ "js", "text/javascript" }, { "vbs", "text/vbscript" },
		{ "ps1", "text/x-powershell" }, { "hta", "application/hta" },
		{ "bat", "text/x-msdos-batch" }, { "wsf", "text/xml" },
		{ "shebang", "text/x-shellscript" }, { "sh", "text/x-shellscript" },
		{ "py", "text/x-python" }, { "empty", "application/x-empty" },
		{ "text", "text/plain" }, { "html", "text/html" },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (strcmp(r->kind, m[i].kind) == 0)
			return m[i].mime;
	return NULL;
}

/* Archive kind by magic (scan_archive_sniff said yes). */
static const char *archive_kind(const uint8_t *p, size_t n)
{
	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return "gzip";
	if (n >= 3 && memcmp(p, "BZh", 3) == 0)
		return "bzip2";
	if (n >= 6 && memcmp(p, "\xfd" "7zXZ\0", 6) == 0)
		return "xz";
	if (n >= 6 && memcmp(p, "7z\xbc\xaf\x27\x1c", 6) == 0)
		return "7z";
	if (n >= 4 && memcmp(p, "Rar!", 4) == 0)
		return "rar";
	if (n >= 4 && memcmp(p, "MSCF", 4) == 0)
		return "cab";
	if (n >= 262 && memcmp(p + 257, "ustar", 5) == 0)
		return "tar";
	if (n >= 4 && memcmp(p, "PK", 2) == 0)
		return "zip";
	if (n >= 8 && memcmp(p, "SZDD\x88\xf0\x27\x33", 8) == 0)
		return "szdd";
	if (n >= 4 && memcmp(p, "\x78\x9f\x3e\x22", 4) == 0)
		return "tnef";
	if (n >= 16 && memcmp(p, "\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d", 8) == 0)
		return "onenote";
	if (n >= 6 && (memcmp(p, "0707", 4) == 0 || (p[0] == 0xc7 && p[1] == 0x71) ||
		       (p[0] == 0x71 && p[1] == 0xc7)))
		return "cpio";
	if (n >= 0x8006 && memcmp(p + 0x8001, "CD001", 5) == 0)
		return "iso9660";
	if (memmem(p, n < 300 ? n : 300, "(This file must be converted with BinHex", 40) != NULL)
		return "binhex";
	return "archive";
}

int scan_ftype_detect(struct scan_ftype *ft, const uint8_t *buf, size_t len, bool complete,
		      const char *filename, struct scan_ftype_result *out)
{
	const char *mime = NULL;
	size_t sn = len < ft->lim.scan_bytes ? len : ft->lim.scan_bytes;
	const char *k;
	int ei;

	memset(out, 0, sizeof(*out));
	if (sn < len)
		out->flags |= SCAN_FTF_TRUNCATED;

	if (len == 0) {
		set(out, SCAN_FT_TEXT, "empty");
	} else if (sniff_exec(buf, len, out)) {
		/* done */
	} else if (len >= 8 && memcmp(buf, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8) == 0) {
		set(out, SCAN_FT_OFFICE, "ole2");
		if (sniff_ole2(buf, sn, out))
			set(out, SCAN_FT_EXEC, "msi");
	} else if (len >= 4 && memcmp(buf, "PK\x03\x04", 4) == 0) {
		sniff_zip(ft, buf, len, out);
	} else if (scan_pdf_magic(buf, len < 1024 ? len : 1024)) {
		set(out, SCAN_FT_PDF, "pdf");
		sniff_pdf(buf, sn, out);
	} else if (len >= 5 && memcmp(buf, "{\\rtf", 5) == 0) {
		set(out, SCAN_FT_OFFICE, "rtf");
	} else if ((k = image_kind(buf, len)) != NULL) {
		set(out, SCAN_FT_IMAGE, k);
	} else if (scan_archive_sniff(buf, len)) {
		set(out, SCAN_FT_ARCHIVE, archive_kind(buf, len));
	} else if (looks_text(buf, len)) {
		/* script heuristics look at the first MiB only */
		k = script_kind(buf, sn < (1u << 20) ? sn : (1u << 20), filename);
		if (k != NULL) {
			set(out, SCAN_FT_SCRIPT, k);
		} else if ((mime = markup_kind(buf, len)) != NULL) {
			set(out, SCAN_FT_HTML, "html");
		} else {
			set(out, SCAN_FT_TEXT, "text");
		}
	} else {
		/* binary data none of our sniffers knows: ask libmagic */
		mime = magic_mime(ft, buf, len);
		if (mime == NULL)
			set(out, SCAN_FT_UNKNOWN, "");
		else if (strncmp(mime, "image/", 6) == 0)
			set(out, SCAN_FT_IMAGE, mime + 6);
		else if (strncmp(mime, "audio/", 6) == 0 || strncmp(mime, "video/", 6) == 0)
			set(out, SCAN_FT_MEDIA, mime + 6);
		else if (strncmp(mime, "text/", 5) == 0)
			set(out, strcmp(mime, "text/html") == 0 ? SCAN_FT_HTML : SCAN_FT_TEXT,
			    strcmp(mime, "text/html") == 0 ? "html" : "text");
		else
			set(out, SCAN_FT_UNKNOWN, "");
	}
	if (mime == NULL)
		mime = kind_mime(out);
	snprintf(out->mime, sizeof(out->mime), "%s", mime ? mime : "application/octet-stream");
	(void)complete;
	ei = ext_index(filename);
	if (ei >= 0 && exts[ei].cat != out->cat && out->cat != SCAN_FT_UNKNOWN &&
	    !(exts[ei].cat == SCAN_FT_TEXT && out->cat == SCAN_FT_HTML) &&
	    !(exts[ei].cat == SCAN_FT_OFFICE && out->cat == SCAN_FT_ARCHIVE))
		out->flags |= SCAN_FTF_NAME_MISMATCH;
	return 0;
}

const char *scan_ftype_cat_name(enum scan_ftype_cat c)
{
	static const char *const n[] = {
		[SCAN_FT_UNKNOWN] = "unknown", [SCAN_FT_TEXT] = "text",   [SCAN_FT_HTML] = "html",
		[SCAN_FT_EXEC] = "exec",       [SCAN_FT_SCRIPT] = "script", [SCAN_FT_OFFICE] = "office",
		[SCAN_FT_PDF] = "pdf",         [SCAN_FT_ARCHIVE] = "archive", [SCAN_FT_IMAGE] = "image",
		[SCAN_FT_MEDIA] = "media",
	};

	return (unsigned)c < SCAN_FT_MAX ? n[c] : "?";
}
