/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan_dlp.h - DLP templates with validators, streaming over UTF-8 text.
 *
 * Built-in detectors (each a candidate shape plus a validator):
 *  PAN       13-19 digits, contiguous or grouped 4-4-4-4(-3), 4-6-5, 4-6-4
 *            with one consistent separator (space or '-'); Luhn; issuer
 *            ranges: Visa 4, Mastercard 51-55 and 2221-2720, Amex 34/37,
 *            Discover 6011/644-649/65, JCB 3528-3589, Diners 300-305/36/38/39,
 *            UnionPay 62 (and 81), Maestro 50/56-69; no digit or letter
 *            directly around the number.
 *  IBAN      2 letters, 2 check digits, country BBAN length (ISO 13616
 *            registry), compact or in groups of 4 with spaces; mod 97 == 1.
 *  MYNUMBER  Japanese individual number: 12 digits (or 4-4-4), check digit
 *            per the Cabinet Office ordinance.
 *  SSN       US SSN "AAA-GG-SSSS" (or spaces); area not 000, 666, 9xx; group
 *            not 00; serial not 0000. Undashed 9-digit runs are not taken
 *            (too many false positives).
 *  EMAIL     local@domain with a dotted domain and a 2+ letter TLD.
 *  PHONE     conservative: E.164 "+CC..." (8-15 digits, separators allowed),
 *            NANP "(NXX) NXX-XXXX" / "NXX-NXX-XXXX" / "NXX.NXX.XXXX".
 * Custom lists: keywords and regexes per template (struct scan_plist, the
 * list format of scan_cfilter.h: the Hyperscan side compiles the same list).
 *
 * A template names a set of detectors and custom patterns and a threshold:
 * it matches when the number of hits of its detectors and patterns (every
 * occurrence counts) reaches the threshold.
 *
 * Streaming: text arrives in chunks of any size; a stream keeps a window of
 * the last SCAN_DLP_WINDOW bytes, so a number split between two chunks (at
 * any offset) is found exactly once. Custom pattern matches longer than
 * SCAN_DLP_SPAN bytes across a boundary are missed (documented limit).
 * Memory per stream: one buffer of SCAN_DLP_WINDOW + SCAN_DLP_CHUNK bytes.
 *
 * The compiled struct scan_dlp is immutable and may be shared; streams are
 * per owner.
 */
#ifndef MXG_SCAN_DLP_H
#define MXG_SCAN_DLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxg_mem.h"
#include "scan_cfilter.h"

enum scan_dlp_kind {
	SCAN_DLP_PAN = 0,
	SCAN_DLP_IBAN,
	SCAN_DLP_MYNUMBER,
	SCAN_DLP_SSN,
	SCAN_DLP_EMAIL,
	SCAN_DLP_PHONE,
	SCAN_DLP_CUSTOM, /* a keyword or regex of a template's list */
	SCAN_DLP_KIND_MAX
};
#define SCAN_DLP_BIT(k) (1u << (k))

enum scan_dlp_brand {
	SCAN_DLP_BRAND_NONE = 0,
	SCAN_DLP_BRAND_VISA,
	SCAN_DLP_BRAND_MASTERCARD,
	SCAN_DLP_BRAND_AMEX,
	SCAN_DLP_BRAND_DISCOVER,
	SCAN_DLP_BRAND_JCB,
	SCAN_DLP_BRAND_DINERS,
	SCAN_DLP_BRAND_UNIONPAY,
	SCAN_DLP_BRAND_MAESTRO,
};

#define SCAN_DLP_WINDOW 1024 /* carried bytes between chunks */
#define SCAN_DLP_CHUNK 4096  /* new bytes gathered before a pass */
#define SCAN_DLP_SPAN 512    /* longest custom match found across chunks */
#define SCAN_DLP_MAX_TEMPLATES 64

struct scan_dlp;

struct scan_dlp *scan_dlp_new(const struct mxg_mem *mem);
void scan_dlp_free(struct scan_dlp *d);
/* Adds a template: |name| (copied), |kinds| a mask of SCAN_DLP_BIT(kind)
 * (SCAN_DLP_CUSTOM implied by patterns), |threshold| >= 1. Returns its
 * index, MXG_E_RANGE (over SCAN_DLP_MAX_TEMPLATES) or MXG_E_NOMEM. */
int scan_dlp_add_template(struct scan_dlp *d, const char *name, uint32_t kinds,
			  uint32_t threshold);
/* Adds a keyword or regex (SCAN_PAT_* |flags|) to template |tmpl|. */
int scan_dlp_add_pattern(struct scan_dlp *d, int tmpl, const char *expr, uint32_t flags);
/* Compiles; returns 0, MXG_E_INVAL (PCRE2 message in |err|) or NOMEM. */
int scan_dlp_compile(struct scan_dlp *d, char *err, size_t errcap);
size_t scan_dlp_template_count(const struct scan_dlp *d);
const char *scan_dlp_template_name(const struct scan_dlp *d, size_t t);
/* Every custom pattern (id = template index), for the Hyperscan side. */
const struct scan_plist *scan_dlp_plist(const struct scan_dlp *d);

/* One hit, reported through the optional callback. Lent out. */
struct scan_dlp_match {
	enum scan_dlp_kind kind;
	enum scan_dlp_brand brand;  /* PAN only */
	uint32_t pattern;           /* CUSTOM: index in scan_dlp_plist() */
	uint64_t offset;            /* byte offset of the match in the stream */
	const char *text;           /* the matched text (not NUL-terminated) */
	size_t len;
};

struct scan_dlp_callbacks {
	/* Return 0 to go on, negative to stop the feed with that code. */
	int (*on_match)(const struct scan_dlp_match *m, void *ud);
};

struct scan_dlp_result {
	uint32_t kind_hits[SCAN_DLP_KIND_MAX];       /* occurrences per detector */
	uint32_t tmpl_hits[SCAN_DLP_MAX_TEMPLATES];  /* counted toward each template */
	uint64_t matched;      /* bit t: template t reached its threshold */
	uint64_t bytes;        /* text bytes fed */
	uint32_t limited;      /* regex matches abandoned at the match limit */
};

struct scan_dlp_stream;

/* Creates a stream over the compiled |d| (borrowed; must outlive it).
 * |cb| may be NULL. Returns NULL when out of memory. */
struct scan_dlp_stream *scan_dlp_stream_new(const struct scan_dlp *d, const struct mxg_mem *mem,
					    const struct scan_dlp_callbacks *cb, void *ud);
void scan_dlp_stream_free(struct scan_dlp_stream *s);
/* Feeds |n| bytes of UTF-8 text (borrowed). Returns 0 or a negative code
 * from the callback / MXG_E_NOMEM. */
int scan_dlp_stream_feed(struct scan_dlp_stream *s, const uint8_t *p, size_t n);
/* Ends the text (the next feed starts a new text: no match spans them). */
int scan_dlp_stream_finish(struct scan_dlp_stream *s);
/* Clears counts and window for a new message. */
void scan_dlp_stream_reset(struct scan_dlp_stream *s);
/* Counts so far; final after scan_dlp_stream_finish(). Lent out. */
const struct scan_dlp_result *scan_dlp_stream_result(const struct scan_dlp_stream *s);

/* Validators (digits as ASCII, no separators). */
bool scan_dlp_luhn(const char *digits, size_t n);
enum scan_dlp_brand scan_dlp_card_brand(const char *digits, size_t n);
/* |s|: compact IBAN (no spaces), letters in either case. */
bool scan_dlp_iban_valid(const char *s, size_t n);
bool scan_dlp_mynumber_valid(const char *digits12);
bool scan_dlp_ssn_valid(const char *digits9);
const char *scan_dlp_kind_name(enum scan_dlp_kind k);
const char *scan_dlp_brand_name(enum scan_dlp_brand b);

#endif
