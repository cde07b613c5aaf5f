/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mxg_chan.c - control channel framing (see mxg_chan.h).
 */
#include <stdlib.h>
#include <string.h>

#include "mxg_chan.h"
#include "mxg_err.h"

void mxg_chan_hdr(uint8_t out[MXG_CHAN_HDR_LEN], enum mxg_chan_type type, size_t payload_len)
{
	mxg_chan_put32(out, (uint32_t)(payload_len + 1));
	out[4] = (uint8_t)type;
}

int mxg_chan_rx_feed(struct mxg_chan_rx *rx, const uint8_t *p, size_t n, mxg_chan_frame_fn *fn,
		     void *ud)
{
	size_t off = 0;
	int rc = 0;

	if (n) {
		if (rx->len + n > rx->cap) {
			size_t cap = rx->cap ? rx->cap : 64 * 1024;
			uint8_t *b;

			while (cap < rx->len + n)
				cap *= 2;
			b = realloc(rx->buf, cap);
			if (!b)
				return MXG_E_NOMEM;
			rx->buf = b;
			rx->cap = cap;
		}
		memcpy(rx->buf + rx->len, p, n);
		rx->len += n;
	}
	while (rx->len - off >= 4) {
		uint32_t flen = mxg_chan_get32(rx->buf + off);
		uint8_t type;

		if (flen == 0 || flen > MXG_CHAN_FRAME_MAX)
			return MXG_E_PROTO;
		if (rx->len - off < 4 + (size_t)flen)
			break;
		type = rx->buf[off + 4];
		if (type == 0 || type > MXG_CHAN_TYPE_MAX)
			return MXG_E_PROTO;
		rc = fn((enum mxg_chan_type)type, rx->buf + off + 5, flen - 1, ud);
		off += 4 + (size_t)flen;
		if (rc)
			break;
	}
	if (off) {
		memmove(rx->buf, rx->buf + off, rx->len - off);
		rx->len -= off;
	}
	/* A large frame once should not pin its buffer forever. */
	if (rx->len == 0 && rx->cap > 1024 * 1024) {
		free(rx->buf);
		rx->buf = NULL;
		rx->cap = 0;
	}
	return rc;
}

void mxg_chan_rx_free(struct mxg_chan_rx *rx)
{
	free(rx->buf);
	memset(rx, 0, sizeof(*rx));
}
