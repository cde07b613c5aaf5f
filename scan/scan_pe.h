/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_pe.h - a strict PE/COFF header parser over a whole file buffer.
 *
 * Reads the DOS header (MZ, e_lfanew), the PE signature, the COFF file
 * header, the optional header (PE32 or PE32+: entry point, alignments,
 * header size) and the section table. Every read is bounds-checked against
 * the buffer; a header that does not fit, an unknown optional-header magic,
 * more than SCAN_PE_MAX_SECTIONS sections or a section table outside the
 * file is an error. Sections whose raw bytes lie (partly) beyond the end of
 * the buffer are kept with their raw size clamped to what the buffer holds
 * (flag SCAN_PE_SF_TRUNC): a signature over them can then only miss.
 * As the Windows loader and ClamAV do, when FileAlignment is a multiple of
 * 512 (up to 64 KiB) raw offsets are aligned down and raw sizes rounded up
 * to it (clam.exe has PointerToRawData 1: its section starts at 0).
 *
 * Nothing is allocated; the result lives in the caller's struct scan_pe.
 * Used by the session for ClamAV's PE section hashes (.mdb/.msb) and
 * PE-relative body-signature offsets (EP, Sx, SEx, SL).
 */
#ifndef MXG_SCAN_PE_H
#define MXG_SCAN_PE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCAN_PE_MAX_SECTIONS 96 /* ClamAV's limit too */

#define SCAN_PE_SF_TRUNC 0x1u   /* raw bytes cut by the end of the buffer */

struct scan_pe_section {
	char name[9];         /* NUL-terminated, up to 8 bytes of the header */
	uint8_t flags;        /* SCAN_PE_SF_* */
	uint32_t vaddr;       /* VirtualAddress (RVA) */
	uint32_t vsize;       /* VirtualSize */
	uint32_t raw_off;     /* PointerToRawData, aligned down to FileAlignment */
	uint32_t raw_size;    /* SizeOfRawData rounded up to FileAlignment, then
	                       * clamped to the buffer (0: no raw bytes) */
	uint32_t raw_off_hdr; /* PointerToRawData as written */
	uint32_t raw_size_hdr; /* SizeOfRawData as written */
	uint32_t chars;       /* Characteristics */
};

struct scan_pe {
	bool pe32plus;        /* optional header magic 0x20b */
	uint16_t machine;
	uint16_t chars;       /* COFF characteristics (0x2000: DLL) */
	uint16_t nsections;
	uint32_t lfanew;      /* offset of "PE\0\0" */
	uint32_t ep_rva;      /* AddressOfEntryPoint */
	bool ep_valid;        /* ep_off is inside the buffer */
	uint64_t ep_off;      /* entry point as a file offset */
	uint32_t file_align, sect_align, hdr_size;
	struct scan_pe_section sec[SCAN_PE_MAX_SECTIONS];
};

/* Parses the PE headers of |buf| (|len| bytes, the whole file or at least
 * its headers). Returns 0, or MXG_E_INVAL when |buf| is not a well-formed
 * PE (never reads outside buf[0..len)). */
int scan_pe_parse(const uint8_t *buf, size_t len, struct scan_pe *pe);

/* File offset of |rva|: inside a section's raw data, or inside the headers
 * (rva < hdr_size). -1 when no raw byte of the file maps to it. */
int64_t scan_pe_rva_to_off(const struct scan_pe *pe, uint32_t rva, size_t len);

#endif
