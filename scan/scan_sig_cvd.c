/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_sig_cvd.c - loading signature files and CVD/CLD containers.
 *
 * CVD layout (ClamAV DatabaseInfo / freshclam): a 512-byte header, space
 * padded,
 *
 *	ClamAV-VDB:BUILD-TIME:VERSION:SIGS:FLEVEL:MD5:DSIG:BUILDER:STIME
 *
 * followed by a tar archive, gzip-compressed for .cvd (a .cld written by
 * freshclam may be plain tar). MD5 is the digest of everything after the
 * header and is checked. DSIG is an RSA signature over the MD5 with Talos'
 * key: not verified here (documented in scan_sig.h). Members are loaded by
 * extension; members of other formats (.info, .cfg, .fp, .sfp, .idb, .cdb,
 * .crb, .wdb, .pdb, .gdb, .ftm, COPYING ...) are counted in
 * files_unsupported. libarchive detects gzip/bzip2/xz and tar itself.
 * Member size is capped at 256 MiB (a corrupt header must not make us
 * allocate without bound).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "mxg_err.h"
#include "scan_sig_int.h"

#define CVD_HDR 512
#define CVD_MEMBER_MAX (256u << 20)

int scan_sigset_load_buf(struct scan_sigset *s, enum scan_sig_fmt fmt, const char *name,
			 const uint8_t *buf, size_t len)
{
	const char *p = (const char *)buf, *end = p + len, *prev = s->cur_name;
	uint32_t prev_line = s->cur_line;
	int rc = 0;

	if (fmt == SCAN_SIG_CVD)
		return sig_load_cvd(s, name, buf, len);
	if ((unsigned)fmt >= SCAN_SIG_FMT_MAX)
		return MXG_E_INVAL;
	s->cur_name = name ? name : "-";
	s->cur_line = 0;
	s->st.files++;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t n = (size_t)(le - p);

		s->cur_line++;
		while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n && p[0] != '#') {
			rc = scan_sigset_add_line(s, fmt, p, n);
			if (rc < 0)
				break;
			rc = 0;
		}
		p = nl ? nl + 1 : end;
	}
	s->cur_name = prev;
	s->cur_line = prev_line;
	return rc;
}

static int hexv(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Checks the header; returns 0 or MXG_E_INVAL with a logged error. */
static int cvd_header(struct scan_sigset *s, const uint8_t *buf, size_t len)
{
	char hdr[CVD_HDR + 1], *f[10], *save = NULL, *t;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t nf = 0, i;

	if (len < CVD_HDR || memcmp(buf, "ClamAV-VDB:", 11)) {
		sig_error(s, SCAN_SIG_R_MALFORMED, "not a CVD/CLD (no ClamAV-VDB header)");
		return MXG_E_INVAL;
	}
	memcpy(hdr, buf, CVD_HDR);
	hdr[CVD_HDR] = 0;
	for (t = strtok_r(hdr, ":", &save); t && nf < 10; t = strtok_r(NULL, ":", &save))
		f[nf++] = t;
	if (nf < 6) {
		sig_error(s, SCAN_SIG_R_MALFORMED, "CVD header has %zu fields", nf);
		return MXG_E_INVAL;
	}
	if (strlen(f[5]) != 32)
		return 0; /* CLD files may carry no usable MD5 */
	if (!EVP_Digest(buf + CVD_HDR, len - CVD_HDR, md, &mdlen, EVP_md5(), NULL) ||
	    mdlen != 16)
		return MXG_E_INVAL;
	for (i = 0; i < 16; i++) {
		int h = hexv(f[5][2 * i]), l = hexv(f[5][2 * i + 1]);

		if (h < 0 || l < 0 || md[i] != (h << 4 | l)) {
			sig_error(s, SCAN_SIG_R_MALFORMED, "CVD MD5 mismatch (corrupt container)");
			return MXG_E_INVAL;
		}
	}
	return 0;
}

int sig_load_cvd(struct scan_sigset *s, const char *name, const uint8_t *buf, size_t len)
{
	struct archive *a;
	struct archive_entry *e;
	const char *prev = s->cur_name;
	uint8_t *mb = NULL;
	int rc = 0, r;

	s->cur_name = name ? name : "-";
	s->cur_line = 0;
	rc = cvd_header(s, buf, len);
	if (rc) {
		s->cur_name = prev;
		return rc;
	}
	a = archive_read_new();
	if (!a) {
		s->cur_name = prev;
		return MXG_E_NOMEM;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, buf + CVD_HDR, len - CVD_HDR) != ARCHIVE_OK) {
		sig_error(s, SCAN_SIG_R_MALFORMED, "CVD archive: %s", archive_error_string(a));
		rc = MXG_E_INVAL;
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *mname = archive_entry_pathname(e);
		enum scan_sig_fmt fmt = mname ? scan_sig_fmt_of(mname) : SCAN_SIG_UNKNOWN;
		int64_t sz = archive_entry_size(e);
		char full[256];
		ssize_t got;
		size_t have = 0;

		if (fmt >= SCAN_SIG_FMT_MAX) {
			s->st.files_unsupported++;
			continue;
		}
		if (sz < 0 || sz > (int64_t)CVD_MEMBER_MAX) {
			sig_error(s, SCAN_SIG_R_MALFORMED, "member %s: bad size", mname);
			rc = MXG_E_INVAL;
			goto out;
		}
		mb = mxg_malloc(s->mem, (size_t)sz + 1);
		if (!mb) {
			rc = MXG_E_NOMEM;
			goto out;
		}
		while (have < (size_t)sz &&
		       (got = archive_read_data(a, mb + have, (size_t)sz - have)) > 0)
			have += (size_t)got;
		if (have != (size_t)sz) {
			sig_error(s, SCAN_SIG_R_MALFORMED, "member %s: truncated", mname);
			rc = MXG_E_INVAL;
			goto out;
		}
		snprintf(full, sizeof(full), "%s/%s", s->cur_name, mname);
		rc = scan_sigset_load_buf(s, fmt, full, mb, have);
		mxg_free(s->mem, mb);
		mb = NULL;
		if (rc)
			goto out;
	}
	if (r != ARCHIVE_EOF) {
		sig_error(s, SCAN_SIG_R_MALFORMED, "CVD archive: %s", archive_error_string(a));
		rc = MXG_E_INVAL;
	}
out:
	mxg_free(s->mem, mb);
	archive_read_free(a);
	s->cur_name = prev;
	return rc;
}

int scan_sigset_load_file(struct scan_sigset *s, const char *path)
{
	enum scan_sig_fmt fmt = scan_sig_fmt_of(path);
	struct stat st;
	uint8_t *buf;
	size_t have = 0;
	int fd, rc;

	if (fmt == SCAN_SIG_UNKNOWN) {
		s->st.files_unsupported++;
		return MXG_E_INVAL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return MXG_E_IO;
	if (fstat(fd, &st) || st.st_size < 0 || (uint64_t)st.st_size > (1ull << 32)) {
		close(fd);
		return MXG_E_IO;
	}
	buf = mxg_malloc(s->mem, (size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return MXG_E_NOMEM;
	}
	while (have < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + have, (size_t)st.st_size - have);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	close(fd);
	if (have != (size_t)st.st_size) {
		mxg_free(s->mem, buf);
		return MXG_E_IO;
	}
	rc = scan_sigset_load_buf(s, fmt, path, buf, have);
	mxg_free(s->mem, buf);
	return rc;
}
