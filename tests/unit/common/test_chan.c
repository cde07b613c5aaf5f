/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tests for common/mxg_chan.c: the control channel's framing. A stream of
 * frames is fed whole, byte by byte and in random chunks (fixed seed), and
 * must come out as the same frames; a callback's non-zero return stops the
 * delivery and keeps the rest for the next feed; bad lengths and types are
 * MXG_E_PROTO; the header helpers round-trip; the buffer of a large frame
 * is released once it is consumed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mxg_chan.h"
#include "mxg_err.h"

/* ---- helpers ---- */

#define MAXF 64

/* What the callback saw. */
struct got {
	unsigned n;
	enum mxg_chan_type type[MAXF];
	size_t len[MAXF];
	uint8_t *data[MAXF];
	unsigned stop_at;  /* return stop_rc from call number stop_at (1-based) */
	int stop_rc;
};

static int on_frame(enum mxg_chan_type type, const uint8_t *payload, size_t len, void *ud)
{
	struct got *g = ud;

	assert_true(g->n < MAXF);
	g->type[g->n] = type;
	g->len[g->n] = len;
	g->data[g->n] = malloc(len ? len : 1);
	assert_non_null(g->data[g->n]);
	if (len)
		memcpy(g->data[g->n], payload, len);
	g->n++;
	return g->stop_at && g->n == g->stop_at ? g->stop_rc : 0;
}

static void got_free(struct got *g)
{
	for (unsigned i = 0; i < g->n; i++)
		free(g->data[i]);
	memset(g, 0, sizeof(*g));
}

/* A stream of frames: their types, payloads and the encoded bytes. */
struct stream {
	unsigned n;
	enum mxg_chan_type type[MAXF];
	size_t len[MAXF];
	size_t off[MAXF];  /* payload offset in bytes[] */
	uint8_t *bytes;
	size_t size;
};

static void stream_add(struct stream *s, enum mxg_chan_type type, const void *payload,
		       size_t len)
{
	uint8_t *b = realloc(s->bytes, s->size + MXG_CHAN_HDR_LEN + len);

	assert_non_null(b);
	assert_true(s->n < MAXF);
	s->bytes = b;
	mxg_chan_hdr(b + s->size, type, len);
	if (len)
		memcpy(b + s->size + MXG_CHAN_HDR_LEN, payload, len);
	s->type[s->n] = type;
	s->len[s->n] = len;
	s->off[s->n] = s->size + MXG_CHAN_HDR_LEN;
	s->n++;
	s->size += MXG_CHAN_HDR_LEN + len;
}

/* Frames of every type, with empty, short and 70 KiB (above the initial
 * 64 KiB buffer) payloads. */
static void stream_mixed(struct stream *s)
{
	static uint8_t big[70000];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	memset(s, 0, sizeof(*s));
	stream_add(s, MXG_CHAN_HELLO, "{\"node\": \"n1\"}", 14);
	stream_add(s, MXG_CHAN_POLICY, "", 0);
	stream_add(s, MXG_CHAN_POLICY_ACK, "x", 1);
	stream_add(s, MXG_CHAN_QUAR, big, sizeof(big));
	stream_add(s, MXG_CHAN_TRACK, "\0\1\2\3", 4);
	stream_add(s, MXG_CHAN_QUAR_ACK, big + 5, 1000);
	stream_add(s, MXG_CHAN_HELLO, "last", 4);
}

static void stream_free(struct stream *s)
{
	free(s->bytes);
	memset(s, 0, sizeof(*s));
}

/* |g| holds exactly the frames of |s|, from frame |first| on. */
static void check_frames(const struct stream *s, const struct got *g, unsigned first)
{
	assert_int_equal(g->n, s->n - first);
	for (unsigned i = 0; i < g->n; i++) {
		assert_int_equal(g->type[i], s->type[first + i]);
		assert_int_equal(g->len[i], s->len[first + i]);
		if (s->len[first + i])
			assert_memory_equal(g->data[i], s->bytes + s->off[first + i],
					    s->len[first + i]);
	}
}

/* ---- delivery ---- */

static void test_whole(void **st)
{
	struct mxg_chan_rx rx = {0};
	struct stream s;
	struct got g = {0};

	(void)st;
	stream_mixed(&s);
	/* several frames in one feed */
	assert_int_equal(mxg_chan_rx_feed(&rx, s.bytes, s.size, on_frame, &g), 0);
	check_frames(&s, &g, 0);
	assert_int_equal(rx.len, 0);
	/* a feed of nothing delivers nothing */
	got_free(&g);
	assert_int_equal(mxg_chan_rx_feed(&rx, NULL, 0, on_frame, &g), 0);
	assert_int_equal(g.n, 0);
	mxg_chan_rx_free(&rx);
	assert_null(rx.buf);
	stream_free(&s);
}

static void test_byte_by_byte(void **st)
{
	struct mxg_chan_rx rx = {0};
	struct stream s;
	struct got g = {0};

	(void)st;
	stream_mixed(&s);
	for (size_t i = 0; i < s.size; i++) {
		unsigned before = g.n;

		assert_int_equal(mxg_chan_rx_feed(&rx, s.bytes + i, 1, on_frame, &g), 0);
		/* a frame comes out exactly with its last byte */
		for (unsigned k = 0; k < s.n; k++)
			if (s.off[k] + s.len[k] == i + 1)
				assert_int_equal(g.n, before + 1);
		assert_true(g.n == before || g.n == before + 1);
	}
	check_frames(&s, &g, 0);
	assert_int_equal(rx.len, 0);
	got_free(&g);
	mxg_chan_rx_free(&rx);
	stream_free(&s);
}

static void test_random_chunks(void **st)
{
	struct stream s;

	(void)st;
	stream_mixed(&s);
	srand(20240601);
	for (int round = 0; round < 200; round++) {
		struct mxg_chan_rx rx = {0};
		struct got g = {0};
		size_t i = 0;
		/* small chunks in some rounds, large ones in others */
		size_t maxc = round % 3 == 0 ? 8 : round % 3 == 1 ? 300 : 40000;

		while (i < s.size) {
			size_t c = 1 + (size_t)rand() % maxc;

			if (c > s.size - i)
				c = s.size - i;
			assert_int_equal(mxg_chan_rx_feed(&rx, s.bytes + i, c, on_frame, &g), 0);
			i += c;
		}
		check_frames(&s, &g, 0);
		assert_int_equal(rx.len, 0);
		got_free(&g);
		mxg_chan_rx_free(&rx);
	}
	stream_free(&s);
}

/* ---- the callback's return value ---- */

static void test_callback_stops(void **st)
{
	struct mxg_chan_rx rx = {0};
	struct stream s;
	struct got g = {0};
	unsigned done = 0;

	(void)st;
	stream_mixed(&s);
	/* the 2nd frame's callback says stop: frames 1-2 delivered, the rest
	 * (a whole 5 more frames) kept */
	g.stop_at = 2;
	g.stop_rc = 42;
	assert_int_equal(mxg_chan_rx_feed(&rx, s.bytes, s.size, on_frame, &g), 42);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.type[0], MXG_CHAN_HELLO);
	assert_int_equal(g.type[1], MXG_CHAN_POLICY);
	assert_int_equal(rx.len, s.size - s.off[2] + MXG_CHAN_HDR_LEN);
	done = g.n;
	got_free(&g);

	/* an empty feed resumes: stop again at the 1st of the rest */
	g.stop_at = 1;
	g.stop_rc = MXG_E_AGAIN;
	assert_int_equal(mxg_chan_rx_feed(&rx, NULL, 0, on_frame, &g), MXG_E_AGAIN);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.type[0], s.type[done]);
	assert_int_equal(g.len[0], s.len[done]);
	done += g.n;
	got_free(&g);

	/* the remaining frames, then more bytes in the same feed */
	{
		uint8_t extra[MXG_CHAN_HDR_LEN + 3];

		mxg_chan_hdr(extra, MXG_CHAN_TRACK, 3);
		memcpy(extra + MXG_CHAN_HDR_LEN, "abc", 3);
		assert_int_equal(mxg_chan_rx_feed(&rx, extra, sizeof(extra), on_frame, &g), 0);
		assert_int_equal(g.n, s.n - done + 1);
		for (unsigned i = 0; i < s.n - done; i++) {
			assert_int_equal(g.type[i], s.type[done + i]);
			assert_int_equal(g.len[i], s.len[done + i]);
			if (s.len[done + i])
				assert_memory_equal(g.data[i], s.bytes + s.off[done + i],
						    s.len[done + i]);
		}
		assert_int_equal(g.type[g.n - 1], MXG_CHAN_TRACK);
		assert_int_equal(g.len[g.n - 1], 3);
		assert_memory_equal(g.data[g.n - 1], "abc", 3);
	}
	assert_int_equal(rx.len, 0);
	got_free(&g);
	mxg_chan_rx_free(&rx);

	/* stop on the last frame of a feed with a partial frame behind it:
	 * the partial frame stays and completes later */
	{
		uint8_t b[2 * MXG_CHAN_HDR_LEN + 4];

		mxg_chan_hdr(b, MXG_CHAN_HELLO, 2);
		memcpy(b + MXG_CHAN_HDR_LEN, "hi", 2);
		mxg_chan_hdr(b + MXG_CHAN_HDR_LEN + 2, MXG_CHAN_TRACK, 2);
		memcpy(b + 2 * MXG_CHAN_HDR_LEN + 2, "yo", 2);
		g.stop_at = 1;
		g.stop_rc = 1;
		assert_int_equal(mxg_chan_rx_feed(&rx, b, sizeof(b) - 1, on_frame, &g), 1);
		assert_int_equal(g.n, 1);
		assert_int_equal(rx.len, MXG_CHAN_HDR_LEN + 1);
		got_free(&g);
		assert_int_equal(mxg_chan_rx_feed(&rx, b + sizeof(b) - 1, 1, on_frame, &g), 0);
		assert_int_equal(g.n, 1);
		assert_int_equal(g.type[0], MXG_CHAN_TRACK);
		assert_memory_equal(g.data[0], "yo", 2);
		got_free(&g);
		mxg_chan_rx_free(&rx);
	}
	stream_free(&s);
}

/* ---- protocol errors ---- */

static int feed_bytes(const uint8_t *b, size_t n, struct got *g)
{
	struct mxg_chan_rx rx = {0};
	int rc = mxg_chan_rx_feed(&rx, b, n, on_frame, g);

	mxg_chan_rx_free(&rx);
	return rc;
}

static void test_proto_errors(void **st)
{
	uint8_t b[16];
	struct got g = {0};

	(void)st;
	/* length 0: an error as soon as the length is known, no type needed */
	mxg_chan_put32(b, 0);
	assert_int_equal(feed_bytes(b, 4, &g), MXG_E_PROTO);
	/* above MXG_CHAN_FRAME_MAX: an error before the frame arrives */
	mxg_chan_put32(b, MXG_CHAN_FRAME_MAX + 1);
	assert_int_equal(feed_bytes(b, 4, &g), MXG_E_PROTO);
	mxg_chan_put32(b, UINT32_MAX);
	assert_int_equal(feed_bytes(b, 4, &g), MXG_E_PROTO);
	/* exactly MXG_CHAN_FRAME_MAX: fine (incomplete) */
	mxg_chan_put32(b, MXG_CHAN_FRAME_MAX);
	b[4] = MXG_CHAN_QUAR;
	assert_int_equal(feed_bytes(b, 5, &g), 0);
	/* type 0 and type > MXG_CHAN_TYPE_MAX */
	mxg_chan_put32(b, 1);
	b[4] = 0;
	assert_int_equal(feed_bytes(b, 5, &g), MXG_E_PROTO);
	b[4] = MXG_CHAN_TYPE_MAX + 1;
	assert_int_equal(feed_bytes(b, 5, &g), MXG_E_PROTO);
	b[4] = 0xff;
	assert_int_equal(feed_bytes(b, 5, &g), MXG_E_PROTO);
	assert_int_equal(g.n, 0);
	/* the smallest valid frames: empty payloads of the first and last type */
	b[4] = 1;
	assert_int_equal(feed_bytes(b, 5, &g), 0);
	b[4] = MXG_CHAN_TYPE_MAX;
	assert_int_equal(feed_bytes(b, 5, &g), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.type[0], 1);
	assert_int_equal(g.type[1], MXG_CHAN_TYPE_MAX);
	assert_int_equal(g.len[0], 0);
	got_free(&g);
	/* a good frame, then a bad one in the same feed: the good one was
	 * delivered, then the error */
	mxg_chan_hdr(b, MXG_CHAN_HELLO, 1);
	b[5] = 'a';
	mxg_chan_put32(b + 6, 1);
	b[10] = MXG_CHAN_TYPE_MAX + 1;
	assert_int_equal(feed_bytes(b, 11, &g), MXG_E_PROTO);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.len[0], 1);
	got_free(&g);
	/* a bad length split over feeds */
	{
		struct mxg_chan_rx rx = {0};

		mxg_chan_put32(b, MXG_CHAN_FRAME_MAX + 1);
		assert_int_equal(mxg_chan_rx_feed(&rx, b, 3, on_frame, &g), 0);
		assert_int_equal(mxg_chan_rx_feed(&rx, b + 3, 1, on_frame, &g), MXG_E_PROTO);
		mxg_chan_rx_free(&rx);
	}
	assert_int_equal(g.n, 0);
}

/* ---- helpers ---- */

static void test_header_helpers(void **st)
{
	static const uint64_t v64[] = {0, 1, 0xff, 0x0102030405060708ull, UINT64_MAX,
				       0x8000000000000000ull};
	static const uint32_t v32[] = {0, 1, 0x7f, 0x01020304u, UINT32_MAX, 0x80000000u};
	uint8_t b[8], h[MXG_CHAN_HDR_LEN];

	(void)st;
	for (size_t i = 0; i < sizeof(v64) / sizeof(v64[0]); i++) {
		mxg_chan_put64(b, v64[i]);
		assert_true(mxg_chan_get64(b) == v64[i]);
	}
	mxg_chan_put64(b, 0x0102030405060708ull);
	for (int i = 0; i < 8; i++)
		assert_int_equal(b[i], i + 1); /* big endian */
	for (size_t i = 0; i < sizeof(v32) / sizeof(v32[0]); i++) {
		mxg_chan_put32(b, v32[i]);
		assert_int_equal(mxg_chan_get32(b), v32[i]);
	}
	mxg_chan_put32(b, 0x01020304u);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[3], 4);

	/* the header counts the type byte in the length */
	mxg_chan_hdr(h, MXG_CHAN_QUAR_ACK, 0);
	assert_int_equal(mxg_chan_get32(h), 1);
	assert_int_equal(h[4], MXG_CHAN_QUAR_ACK);
	mxg_chan_hdr(h, MXG_CHAN_POLICY, 0x123456);
	assert_int_equal(mxg_chan_get32(h), 0x123457);
	assert_int_equal(h[4], MXG_CHAN_POLICY);
	mxg_chan_hdr(h, MXG_CHAN_QUAR, MXG_CHAN_FRAME_MAX - 1);
	assert_int_equal(mxg_chan_get32(h), MXG_CHAN_FRAME_MAX);
}

/* ---- the buffer ---- */

static void test_large_frame_released(void **st)
{
	struct mxg_chan_rx rx = {0};
	struct got g = {0};
	size_t len = 3u * 1024 * 1024;
	uint8_t *p = malloc(MXG_CHAN_HDR_LEN + len);
	uint8_t small[MXG_CHAN_HDR_LEN + 2];

	(void)st;
	assert_non_null(p);
	mxg_chan_hdr(p, MXG_CHAN_QUAR, len);
	for (size_t i = 0; i < len; i++)
		p[MXG_CHAN_HDR_LEN + i] = (uint8_t)(i >> 3);
	/* in two feeds: the buffer grows past 1 MiB */
	assert_int_equal(mxg_chan_rx_feed(&rx, p, len / 2, on_frame, &g), 0);
	assert_int_equal(g.n, 0);
	assert_true(rx.cap >= len / 2);
	assert_int_equal(mxg_chan_rx_feed(&rx, p + len / 2, MXG_CHAN_HDR_LEN + len - len / 2,
					  on_frame, &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.len[0], len);
	assert_memory_equal(g.data[0], p + MXG_CHAN_HDR_LEN, len);
	/* consumed: released */
	assert_null(rx.buf);
	assert_int_equal(rx.cap, 0);
	assert_int_equal(rx.len, 0);
	got_free(&g);

	/* the large frame followed by part of a small one: kept (the bytes
	 * are needed) until the small one is complete */
	mxg_chan_hdr(small, MXG_CHAN_HELLO, 2);
	small[5] = 'o';
	small[6] = 'k';
	{
		uint8_t *q = malloc(MXG_CHAN_HDR_LEN + len + 3);

		assert_non_null(q);
		memcpy(q, p, MXG_CHAN_HDR_LEN + len);
		memcpy(q + MXG_CHAN_HDR_LEN + len, small, 3);
		assert_int_equal(mxg_chan_rx_feed(&rx, q, MXG_CHAN_HDR_LEN + len + 3, on_frame,
						  &g), 0);
		free(q);
	}
	assert_int_equal(g.n, 1);
	assert_int_equal(rx.len, 3);
	assert_non_null(rx.buf);
	assert_int_equal(mxg_chan_rx_feed(&rx, small + 3, sizeof(small) - 3, on_frame, &g), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.len[1], 2);
	assert_memory_equal(g.data[1], "ok", 2);
	assert_null(rx.buf);
	assert_int_equal(rx.cap, 0);
	got_free(&g);

	/* small frames keep their (64 KiB) buffer */
	assert_int_equal(mxg_chan_rx_feed(&rx, small, sizeof(small), on_frame, &g), 0);
	assert_int_equal(g.n, 1);
	assert_non_null(rx.buf);
	assert_true(rx.cap <= 1024 * 1024);
	got_free(&g);
	mxg_chan_rx_free(&rx);
	assert_null(rx.buf);
	assert_int_equal(rx.len, 0);
	assert_int_equal(rx.cap, 0);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_random_chunks),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_proto_errors),
		cmocka_unit_test(test_header_helpers),
		cmocka_unit_test(test_large_frame_released),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
