/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_ftype.h - true file type of an attachment, whatever its name says.
 *
 * Two layers:
 *  - our own sniffers decide what policy cares about and name the MIME
 *    type themselves: PE (MZ + PE\0\0, DLL flag), ELF, Mach-O (thin and fat);
 *    scripts (shebang, and by content or name: .js/.jse/.vbs/.vbe/.wsf/
 *    .ps1/.hta/.bat/.cmd heuristics); Office documents with macros (OOXML
 *    zip holding vbaProject.bin, read with libarchive from memory; OLE2
 *    compound files with a "VBA"/"_VBA_PROJECT"/"Macros" directory entry);
 *    PDF with JavaScript (/JS, /JavaScript, /OpenAction, /AA names, also in
 *    the #xx hex-escaped form such as /#4A#53) and /Encrypt; archives;
 *    images; HTML/XML markup and plain text.
 *  - libmagic (magic_buffer with MAGIC_MIME_TYPE) is asked only about
 *    binary data none of the sniffers names (media, fonts, unknown): a
 *    magic_buffer() call costs 0.3-0.5 ms whatever the input. A magic_t is
 *    not thread-safe: each struct scan_ftype owns one (one per lcore);
 *    libmagic allocates with libc malloc and reads its compiled database
 *    (/usr/share/misc/magic.mgc, ~5 ms) at the first file that needs it.
 *
 * Detection works on the whole file in memory (a zip's members and a PDF's
 * objects can be anywhere); limits bound the work: libmagic sees at most
 * magic_bytes, the PDF and OLE2 scans at most scan_bytes, the OOXML walk at
 * most max_zip_members entries.
 */
#ifndef MXG_SCAN_FTYPE_H
#define MXG_SCAN_FTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxg_mem.h"

struct scan_ftype;

/* What policy rules match on. */
enum scan_ftype_cat {
	SCAN_FT_UNKNOWN = 0, /* binary data of no known type */
	SCAN_FT_TEXT,        /* plain text */
	SCAN_FT_HTML,        /* HTML/XML markup */
	SCAN_FT_EXEC,        /* PE, ELF, Mach-O, MSI, Java class */
	SCAN_FT_SCRIPT,      /* shebang, JS, VBS, PowerShell, HTA, batch */
	SCAN_FT_OFFICE,      /* OOXML, OLE2 (doc/xls/ppt/msg), ODF, RTF */
	SCAN_FT_PDF,
	SCAN_FT_ARCHIVE,     /* zip, rar, 7z, gzip, bzip2, xz, tar, cab, ... */
	SCAN_FT_IMAGE,
	SCAN_FT_MEDIA,       /* audio and video */
	SCAN_FT_MAX
};

/* Result flags. */
#define SCAN_FTF_MACROS 0x0001u     /* VBA project / macro storage present */
#define SCAN_FTF_JS 0x0002u         /* PDF JavaScript or auto-action */
#define SCAN_FTF_ENCRYPTED 0x0004u  /* encrypted zip member, PDF /Encrypt, OLE2 EncryptedPackage */
#define SCAN_FTF_DLL 0x0008u        /* PE with IMAGE_FILE_DLL */
#define SCAN_FTF_NAME_MISMATCH 0x0010u /* the file name's extension hides the category */
#define SCAN_FTF_AUTOACTION 0x0020u /* PDF /OpenAction or /AA, or /Launch */
#define SCAN_FTF_TRUNCATED 0x0040u  /* a scan stopped at a limit */

struct scan_ftype_limits {
	size_t magic_bytes;       /* bytes handed to libmagic (default 1 MiB) */
	size_t scan_bytes;        /* bytes scanned by PDF/OLE2/script sniffers (64 MiB) */
	uint32_t max_zip_members; /* OOXML entries examined (2000) */
};

struct scan_ftype_result {
	enum scan_ftype_cat cat;
	uint32_t flags;       /* SCAN_FTF_* */
	char mime[96];        /* libmagic's MIME type, or ours when it had none */
	char kind[24];        /* short type: "pe", "elf", "macho", "ooxml", "ole2",
			       * "pdf", "zip", "js", "vbs", "ps1", "hta", "bat",
			       * "shebang", "png"... ("" when unknown) */
};

/* Creates a detector (libmagic's database is loaded at first need; when it
 * cannot be, such files get application/octet-stream and SCAN_FT_UNKNOWN).
 * |mem| may be NULL; |limits| may be NULL (defaults). Returns NULL when out
 * of memory. */
struct scan_ftype *scan_ftype_new(const struct mxg_mem *mem, const struct scan_ftype_limits *limits);
void scan_ftype_free(struct scan_ftype *ft);

/* Detects the type of |len| bytes at |buf| (borrowed; the whole file, or
 * its prefix with |complete| false) named |filename| (may be NULL; used for
 * script heuristics and SCAN_FTF_NAME_MISMATCH). Fills |out|. Returns 0 or
 * MXG_E_NOMEM. Not thread-safe for one |ft|. */
int scan_ftype_detect(struct scan_ftype *ft, const uint8_t *buf, size_t len, bool complete,
		      const char *filename, struct scan_ftype_result *out);

/* Static name of a category ("exec", "script", ...). */
const char *scan_ftype_cat_name(enum scan_ftype_cat c);

#endif
