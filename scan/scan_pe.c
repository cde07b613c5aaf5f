/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_pe.c - strict, bounds-checked PE/COFF header parser (scan_pe.h).
 *
 * Layout (Microsoft PE format): DOS header with e_lfanew at 0x3c; "PE\0\0";
 * COFF header (20 bytes: Machine, NumberOfSections, TimeDateStamp,
 * PointerToSymbolTable, NumberOfSymbols, SizeOfOptionalHeader,
 * Characteristics); optional header (magic 0x10b PE32 / 0x20b PE32+,
 * AddressOfEntryPoint at +16, SectionAlignment +32, FileAlignment +36,
 * SizeOfHeaders +60); then NumberOfSections 40-byte section headers at
 * optional header + SizeOfOptionalHeader.
 *
 * Offsets are computed in 64 bits and compared with the buffer length
 * before every read, so no header field can make us read out of bounds.
 */
#include <string.h>

#include "mxg_err.h"
#include "scan_pe.h"

#define PE_COFF_LEN 20
#define PE_SECT_LEN 40

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int scan_pe_parse(const uint8_t *buf, size_t len, struct scan_pe *pe)
{
	uint64_t coff, opt, sect, end;
	uint16_t optlen, magic, i;
	int64_t ep;
	bool falign_ok;

	memset(pe, 0, sizeof(*pe));
	if (!buf || len < 0x40 || buf[0] != 'M' || buf[1] != 'Z')
		return MXG_E_INVAL;
	pe->lfanew = rd32(buf + 0x3c);
	coff = (uint64_t)pe->lfanew + 4;
	/* Packers put the PE header inside the DOS header (MEW: 0x0c). */
	if (coff + PE_COFF_LEN > len)
		return MXG_E_INVAL;
	if (memcmp(buf + pe->lfanew, "PE\0\0", 4))
		return MXG_E_INVAL;
	pe->machine = rd16(buf + coff);
	pe->nsections = rd16(buf + coff + 2);
	optlen = rd16(buf + coff + 16);
	pe->chars = rd16(buf + coff + 18);
	if (pe->nsections == 0 || pe->nsections > SCAN_PE_MAX_SECTIONS)
		return MXG_E_INVAL;
	opt = coff + PE_COFF_LEN;
	if (optlen < 64 || opt + optlen > len)
		return MXG_E_INVAL;
	magic = rd16(buf + opt);
	if (magic == 0x10b)
		pe->pe32plus = false;
	else if (magic == 0x20b)
		pe->pe32plus = true;
	else
		return MXG_E_INVAL;
	pe->ep_rva = rd32(buf + opt + 16);
	pe->sect_align = rd32(buf + opt + 32);
	pe->file_align = rd32(buf + opt + 36);
	pe->hdr_size = rd32(buf + opt + 60);
	/* FileAlignment: a multiple of 512 up to 64 KiB, else not applied. */
	falign_ok = pe->file_align && pe->file_align % 0x200 == 0 && pe->file_align <= 0x10000;
	sect = opt + optlen;
	end = sect + (uint64_t)pe->nsections * PE_SECT_LEN;
	if (end > len)
		return MXG_E_INVAL;
	for (i = 0; i < pe->nsections; i++) {
		const uint8_t *h = buf + sect + (uint64_t)i * PE_SECT_LEN;
		struct scan_pe_section *s = &pe->sec[i];
		uint64_t rend, rsz;

		memcpy(s->name, h, 8);
		s->name[8] = 0;
		s->vsize = rd32(h + 8);
		s->vaddr = rd32(h + 12);
		s->raw_size_hdr = rd32(h + 16);
		s->chars = rd32(h + 36);
		s->raw_off_hdr = rd32(h + 20);
		s->raw_off = s->raw_off_hdr;
		rsz = s->raw_size_hdr;
		if (falign_ok) { /* as the loader and ClamAV do */
			s->raw_off -= s->raw_off % pe->file_align;
			rsz = ((uint64_t)rsz + pe->file_align - 1) / pe->file_align * pe->file_align;
		}
		rend = (uint64_t)s->raw_off + rsz;
		if (!rsz) {
			s->raw_size = 0;
		} else if (s->raw_off >= len) {
			s->raw_size = 0;
			s->flags |= SCAN_PE_SF_TRUNC;
		} else if (rend > len) {
			s->raw_size = (uint32_t)(len - s->raw_off);
			s->flags |= SCAN_PE_SF_TRUNC;
		} else {
			s->raw_size = (uint32_t)rsz;
		}
	}
	ep = scan_pe_rva_to_off(pe, pe->ep_rva, len);
	pe->ep_valid = ep >= 0;
	pe->ep_off = ep >= 0 ? (uint64_t)ep : 0;
	return 0;
}

int64_t scan_pe_rva_to_off(const struct scan_pe *pe, uint32_t rva, size_t len)
{
	uint16_t i;

	for (i = 0; i < pe->nsections; i++) {
		const struct scan_pe_section *s = &pe->sec[i];
		uint32_t span = s->vsize > s->raw_size_hdr ? s->vsize : s->raw_size_hdr;
		uint64_t off;

		if (rva < s->vaddr || (uint64_t)rva >= (uint64_t)s->vaddr + span)
			continue;
		off = (uint64_t)s->raw_off + (rva - s->vaddr);
		if (rva - s->vaddr >= s->raw_size || off >= len)
			return -1; /* in the section, but no raw byte (bss, cut) */
		return (int64_t)off;
	}
	if (rva < pe->hdr_size && rva < len)
		return rva;
	return -1;
}
