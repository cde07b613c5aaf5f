/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the control channel's reassembly (common/mxg_chan.c).
 *
 * Input: byte 0 says which frames' callbacks return non-zero (bit k: the
 * frames whose number mod 8 is k), byte 1 how many chunk sizes follow
 * (1..8), then the chunk sizes (0: an empty feed), then the byte stream,
 * fed in chunks of those sizes in turn. A shadow parser walks the same
 * stream: every delivered frame must be the next whole frame of the
 * stream (declared length = payload length + 1, type and bytes as sent),
 * MXG_E_PROTO must come exactly at a bad length or type, and at the end
 * the buffer holds exactly the bytes not yet delivered.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mxg_chan.h"
#include "mxg_err.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

struct shadow {
	const uint8_t *s;    /* the whole stream */
	size_t fed;          /* bytes fed so far */
	size_t off;          /* start of the next frame to deliver */
	unsigned ndel;
	uint8_t stopmask;
};

static int on_frame(enum mxg_chan_type type, const uint8_t *payload, size_t len, void *ud)
{
	struct shadow *sh = ud;
	uint32_t flen;

	CHECK(sh->fed - sh->off >= 4);
	flen = mxg_chan_get32(sh->s + sh->off);
	CHECK(flen >= 1 && flen <= MXG_CHAN_FRAME_MAX);
	CHECK(sh->fed - sh->off >= 4 + (size_t)flen);      /* whole */
	CHECK(len == (size_t)flen - 1);                     /* fits the declared length */
	CHECK(type >= 1 && type <= MXG_CHAN_TYPE_MAX);
	CHECK((uint8_t)type == sh->s[sh->off + 4]);
	CHECK(len == 0 || memcmp(payload, sh->s + sh->off + 5, len) == 0);
	sh->off += 4 + (size_t)flen;
	sh->ndel++;
	return (sh->stopmask >> (sh->ndel & 7)) & 1;
}

/* True if the shadow parser sees a protocol error at its next frame. */
static int shadow_bad(const struct shadow *sh)
{
	uint32_t flen;

	if (sh->fed - sh->off < 4)
		return 0;
	flen = mxg_chan_get32(sh->s + sh->off);
	if (flen == 0 || flen > MXG_CHAN_FRAME_MAX)
		return 1;
	if (sh->fed - sh->off < 4 + (size_t)flen)
		return 0;
	return sh->s[sh->off + 4] == 0 || sh->s[sh->off + 4] > MXG_CHAN_TYPE_MAX;
}

/* True if a whole frame waits in the shadow stream. */
static int shadow_ready(const struct shadow *sh)
{
	return sh->fed - sh->off >= 4 &&
	       sh->fed - sh->off >= 4 + (size_t)mxg_chan_get32(sh->s + sh->off);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mxg_chan_rx rx = {0};
	struct shadow sh = {0};
	const uint8_t *chunks;
	size_t nchunks, n, pos = 0, ci = 0;
	int rc = 0;

	if (size < 3)
		return 0;
	sh.stopmask = data[0];
	nchunks = 1 + data[1] % 8;
	if (size < 2 + nchunks)
		return 0;
	chunks = data + 2;
	sh.s = data + 2 + nchunks;
	n = size - 2 - nchunks;

	while (pos < n || rc > 0) {
		size_t c = 0;

		if (rc == 0) {
			c = chunks[ci++ % nchunks];
			if (c > n - pos)
				c = n - pos;
		}
		/* rc > 0: the callback stopped; resume with an empty feed */
		sh.fed += c;
		rc = mxg_chan_rx_feed(&rx, sh.s + pos, c, on_frame, &sh);
		pos += c;
		if (rc < 0)
			break;
		CHECK(rc == 0 || rc == 1);
		/* delivered up to the last whole frame, unless stopped */
		if (rc == 0)
			CHECK(!shadow_ready(&sh));
		CHECK(rx.len == sh.fed - sh.off);
		CHECK(rx.len <= rx.cap);
		if (ci > 4 * (n + 8))   /* only empty feeds (all sizes 0) */
			break;
	}
	if (rc < 0) {
		CHECK(rc == MXG_E_PROTO);
		CHECK(shadow_bad(&sh));
	} else {
		CHECK(!shadow_bad(&sh));
		CHECK(rx.len == sh.fed - sh.off);
	}
	mxg_chan_rx_free(&rx);
	CHECK(rx.buf == NULL && rx.len == 0 && rx.cap == 0);
	return 0;
}
