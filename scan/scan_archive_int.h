/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_archive_int.h - the seam between scan_archive.c and the container
 * decoders written here (scan_szdd.c, scan_binhex.c, ...). Private to scan/.
 *
 * libarchive does not read every container mail carries (MS COMPRESS SZDD,
 * BinHex 4.0, ...). Those are decoded by our own code, and their members go
 * through the same delivery as libarchive's: the same callbacks, the same
 * limits (members, per-member and total bytes, ratio, work budget) and the
 * same recursion (a member that is itself an archive is expanded, depth
 * counted). A decoder never decides a limit itself: it pushes decoded bytes
 * and stops when sa_data() says so.
 *
 * A decoder works on the whole input held in memory (borrowed), checks
 * every read against its length, and reports bad input with sa_error() and
 * a static message naming the format and the fault ("szdd: truncated
 * header"); the archive is then CORRUPT (what could be decoded before the
 * fault is still delivered and scanned).
 */
#ifndef MXG_SCAN_ARCHIVE_INT_H
#define MXG_SCAN_ARCHIVE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Delivery context of one open container (defined in scan_archive.c). One
 * member at a time: sa_begin, sa_data..., sa_end. */
struct sa_ctx;

/* Starts member |name| (copied; may be "") with |declared| bytes (-1:
 * unknown). Returns 0 when its data is wanted, 1 when not (limit or the
 * owner skips it: produce nothing, still call sa_end), or a negative
 * MXG_E_* code (abort: return it). */
int sa_begin(struct sa_ctx *c, const char *name, int64_t declared);

/* sa_begin with SCAN_AMF_* |flags| known from the header (ENCRYPTED: the
 * member is counted and flagged like libarchive's encrypted entries, its
 * data is not wanted: returns 1). */
int sa_begin_flags(struct sa_ctx *c, const char *name, int64_t declared, uint32_t flags);

/* Decoded bytes of the current member (borrowed). Returns 0 to go on, 1
 * when the member was cut by a limit (stop producing it, call sa_end), or
 * a negative code (abort: call sa_end with it, then return it). */
int sa_data(struct sa_ctx *c, const uint8_t *p, size_t n);

/* Ends the current member; |flags| adds SCAN_AMF_* (CORRUPT when its data
 * was damaged). |rc| is the code that ended it (0 or the negative code of
 * sa_data). Recurses into it when it is an archive. Returns 0 or a
 * negative code. */
int sa_end(struct sa_ctx *c, uint32_t flags, int rc);

/* Reports bad input: the container is CORRUPT, |msg| (static) becomes the
 * result's error when it is the first. */
void sa_error(struct sa_ctx *c, const char *msg);

/* True when a limit stopped the expansion: decoders return 0 at once. */
bool sa_stopped(const struct sa_ctx *c);

/* Charges |n| bytes of decoding work to the expansion's work budget (the
 * container's input is charged once before the decoder runs; a decoder
 * that reads input again, or reads input that produces nothing - members
 * sharing data, empty blocks, frames decoded again after a seek - charges
 * what it reads). Returns 0 to go on, 1 when the budget is exhausted (the
 * expansion is stopped: finish the current member and return). */
int sa_charge(struct sa_ctx *c, uint64_t n);

/* What an expand function returns when, past its sniff, the input turns
 * out not to be its format (nothing delivered): the input then goes to
 * libarchive as if the sniff had said no. */
#define SA_NOT_MINE 1000 /* no sa_* function returns it */

/* A scratch output buffer of *cap bytes the decoder may fill between two
 * sa_data() calls (it is reused by nested levels inside sa_end). */
uint8_t *sa_chunk(struct sa_ctx *c, size_t *cap);

/* The container's own name (last path element), for a member that has
 * none (SZDD: "x.ex_" -> "x.ex"). */
const char *sa_name(const struct sa_ctx *c);

/* ---- the decoders: sniff (first |n| bytes) and expand (whole input) ---- */

/* MS COMPRESS (compress.exe / expand.exe) SZDD: LZSS, 4 KiB window. */
bool scan_szdd_sniff(const uint8_t *p, size_t n);
int scan_szdd_expand(struct sa_ctx *c, const uint8_t *p, size_t n);

/* BinHex 4.0 (RFC 1741): 6-bit text, 0x90 run-length encoding, data and
 * resource forks with CRC-16. */
bool scan_binhex_sniff(const uint8_t *p, size_t n);
int scan_binhex_expand(struct sa_ctx *c, const uint8_t *p, size_t n);

/* TNEF (winmail.dat): attAttachData blocks named by attAttachTitle. */
bool scan_tnef_sniff(const uint8_t *p, size_t n);
int scan_tnef_expand(struct sa_ctx *c, const uint8_t *p, size_t n);

/* OneNote sections: FileDataStoreObjects (embedded files). */
bool scan_onenote_sniff(const uint8_t *p, size_t n);
int scan_onenote_expand(struct sa_ctx *c, const uint8_t *p, size_t n);

/* RTF: \objdata OLE1 objects (the file of a Package, else native data). */
bool scan_rtf_sniff(const uint8_t *p, size_t n);
int scan_rtf_expand(struct sa_ctx *c, const uint8_t *p, size_t n);

/* PDF: embedded files and FlateDecode streams (inflated). The sniff looks
 * for "%PDF-" in the first 1 KiB (readers allow junk before it; see also
 * scan_pdf_magic in scan_archive.h). */
bool scan_pdf_sniff(const uint8_t *p, size_t n);
int scan_pdf_expand(struct sa_ctx *c, const uint8_t *p, size_t n);

/* OLE2 compound files: every stream, and Ole10Native packages' files. */
bool scan_ole2_sniff(const uint8_t *p, size_t n);
int scan_ole2_expand(struct sa_ctx *c, const uint8_t *p, size_t n);

/* ZIP with a Deflate64 (9) or Implode (6) member, which libarchive 3.6
 * cannot read: the whole archive (every method) is delivered by us. */
bool scan_zipx_sniff(const uint8_t *p, size_t n);
int scan_zipx_expand(struct sa_ctx *c, const uint8_t *p, size_t n);

/* ARJ: stored, LZ77 + static Huffman (methods 1-3), "fastest" (4). */
bool scan_arj_sniff(const uint8_t *p, size_t n);
int scan_arj_expand(struct sa_ctx *c, const uint8_t *p, size_t n);

/* Symbian SIS (EPOC release 3 to 6): file records, zlib-compressed. */
bool scan_sis_sniff(const uint8_t *p, size_t n);
int scan_sis_expand(struct sa_ctx *c, const uint8_t *p, size_t n);

/* NSIS installers: the archive after the PE stub (LZMA or deflate, solid
 * or not): the script's header block and every file's data block. */
bool scan_nsis_sniff(const uint8_t *p, size_t n);
int scan_nsis_expand(struct sa_ctx *c, const uint8_t *p, size_t n);

/* Compiled HTML Help (.chm, ITSF): every file of the directory; section 0
 * stored, section 1 LZX (scan_lzx.c). */
bool scan_chm_sniff(const uint8_t *p, size_t n);
int scan_chm_expand(struct sa_ctx *c, const uint8_t *p, size_t n);

#endif
