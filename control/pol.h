/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pol.h - the compiled policy: an immutable snapshot the dataplane evaluates
 * per recipient at the end of every message (issue 6).
 *
 * mxgate-control compiles the rules, lists and local domains stored in
 * PostgreSQL into one snapshot document (JSON, built by SQL function
 * mxg_policy_snapshot(), see control/sql/) and ships it over the control
 * channel. pol_snap_load() turns it into this in-memory form: regular
 * expressions compiled with PCRE2 (JIT where available), address lists as
 * hash sets, rules in evaluation order, disabled rules left out. A snapshot
 * is immutable once loaded and reference counted: the dataplane's service
 * thread loads the next one while workers keep evaluating the current one,
 * and a message is evaluated by exactly one snapshot (its version goes into
 * the tracking record).
 *
 * Sans-IO and no DPDK: linked by the dataplane, the unit tests and the
 * benchmark (perf/policy_bench.c).
 *
 * SNAPSHOT DOCUMENT
 *	{"format": "mxgate-policy", "version": N,
 *	 "local_domains": ["example.com", ...],
 *	 "lists": [{"name", "kind", "entries": [...]}, ...],
 *	 "policies": [rule, ...]}       rules as ctl_valid.c normalises them,
 *	                                 plus "id"; ordered by (position, id)
 *
 * EVALUATION (per recipient)
 *	Direction: the recipient's domain (or a parent domain) is in
 *	local_domains, or the caller says it is local (rcpt_local) -> inbound,
 *	else outbound. A rule applies when its scope is that direction or
 *	"both". It matches when its conditions hold ("all": every one, "any":
 *	at least one; "not" negates one condition) and none of its exceptions
 *	holds. Rules are walked in order:
 *	  - the first matching rule with a terminal action (deliver, delete,
 *	    quarantine, reroute) decides the fate; later matching rules add
 *	    only non-terminal actions (tag_subject, insert_header,
 *	    strip_attachments, notify, bcc, log);
 *	  - a matching rule with "stop": true ends the walk;
 *	  - a fate of delete or quarantine ends the walk (nothing will be
 *	    delivered to modify); notify actions of the deciding rule count.
 *	No terminal action matched: deliver.
 *	Reprocessing (a message released from quarantine, port 10024): only
 *	rules whose every condition is virus, archive_bomb or
 *	archive_encrypted apply - the virus checks run again, nothing else.
 *
 * CONDITIONS AND THEIR INPUTS
 *	sender/recipient: envelope addresses, case-insensitive; pattern
 *	"user@dom", "*@dom", "@dom", "dom", "*@*.dom"; regex; list (addresses
 *	or domains or approved/blocked senders: an entry "user@dom" matches the
 *	address, "dom" or "@dom" the domain).
 *	virus (name_regex), archive_bomb, archive_encrypted, dlp (template,
 *	min_count), attachment_type (true types: scan_part.detected_type or its
 *	category name), attachment_name (glob or regex over file names),
 *	attachment_size, attachment_count, message_size: from the scan result.
 *	subject, header (name + regex): the message's header block, unfolded
 *	and RFC 2047-decoded. body: the scan's body text (scan_result.text,
 *	kept when the session's scan_limits.keep_text is set; the dataplane
 *	sets it to POL_BODY_MAX): every text part decoded from base64 or
 *	quoted-printable, converted to UTF-8 from its charset, HTML reduced to
 *	text, parts in MIME order separated by "\n" - what the scan's body
 *	rules and content filters see. A message without a scan result, or
 *	whose result has no text (keep_text 0), falls back to the raw message
 *	body after the header block. Either way the first POL_BODY_MAX bytes.
 *	spam_score, graymail: false until anti-spam lands (never an error).
 *
 * INTERPRETATIONS (pol.c implements these; tests/unit/control/test_pol.c
 * pins them)
 *	- Patterns: "dom", "@dom" and "*@dom" match that domain only;
 *	  "*@*.dom" (and "*.dom") strict subdomains only; "user@*" the local
 *	  part at any domain; other wildcards are fnmatch globs. The null
 *	  sender "" matches no pattern and no list entry (a regex sees "").
 *	  Lists: "user@dom" the address, "dom"/"@dom"/"*@dom" the domain,
 *	  "*@*.dom" its subdomains.
 *	- Regexes on addresses, file names and virus names are caseless;
 *	  subject/header/body regexes are as written (use "(?i)").
 *	- attachment_type and attachment_name look at MIME attachments and at
 *	  files extracted from archives (a member's match names its top-level
 *	  attachment in strip_parts); attachment_size looks at top-level
 *	  attachments; attachment_count is scan_result.attachments. A type
 *	  token matches scan_part.detected_type or scan_ftype_cat_name(ftype).
 *	- archive_bomb: verdict BOMB or TOO_DEEP; archive_encrypted: an
 *	  encrypted archive member (SCAN_ARF_ENCRYPTED).
 *	- dlp: the count of the scan_dlp detector behind the template
 *	  (credit_card PAN, iban IBAN, us_ssn SSN, email_address EMAIL,
 *	  phone_number PHONE) >= min_count (default 1). uk_nino and swift_bic
 *	  have no detector yet: always false.
 *	- message_size: pol_msg.len (known without a scan).
 *	- "not" negates after the "not scanned -> false" rule: "not virus" on
 *	  an unscanned message is true.
 *	- A fate of delete, quarantine or reject ends the walk and drops the
 *	  modifications of the bytes (tags, headers, strip) from the decision,
 *	  also those added by earlier rules; notify, bcc and log stay.
 *	- pol_decision_same() compares fate, area, reroute destination, tags,
 *	  headers, strip (parts, notice), notify (to, template) and bcc; not
 *	  rule_id, rule_name, outbound, log_full or matched[].
 *	- strip_parts is computed per rule that carries strip_attachments.
 *	- Quarantine without "area": "default". reroute without "port": 25.
 *	  area/reroute_host/rule_name/strip_notice are "" when not set (never
 *	  NULL).
 */
#ifndef POL_H
#define POL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxg_addr.h"

struct scan_result;
struct pol_snap;

/* Loads a snapshot document (|len| bytes of JSON). Returns the snapshot
 * with one reference, or NULL with |err| filled ("policies[3].conditions[0]
 * .regex: ..." style: the field and the reason). */
struct pol_snap *pol_snap_load(const char *json, size_t len, char *err, size_t errlen);
/* The document is validated with control/ctl_valid.c (ctl_list_validate,
 * ctl_rule_validate), exactly as the API validates it; a snapshot also
 * needs "id" on every rule. Unknown top-level fields are errors. */
struct pol_snap *pol_snap_ref(struct pol_snap *s);   /* atomic; any thread */
void pol_snap_unref(struct pol_snap *s);             /* NULL is fine */
int64_t pol_snap_version(const struct pol_snap *s);
size_t pol_snap_rules(const struct pol_snap *s);     /* rules loaded (enabled) */
/* Regex matches that ended in a PCRE2 error or resource limit (counted as
 * not matching) over the snapshot's life; any thread. */
uint64_t pol_snap_regex_errors(const struct pol_snap *s);

/* pol_eval() allocates nothing per call, except that the first regex
 * match on a thread creates that thread's pcre2_match_data (kept and
 * reused; freed at thread exit). A worker may call this to free it
 * earlier (e.g. before its lcore stops); the next match re-creates it. */
void pol_thread_release(void);

#define POL_BODY_MAX (1u << 20)  /* body bytes a "body" regex sees (1 MiB):
                                  * scan text kept, or raw body */

/* The built-in policy used without a control plane (with one, the proxy
 * answers 451 until the first snapshot arrives): version 0, viruses and archive bombs (or archives too deep to
 * scan) get POL_REJECT (without a control plane there is nowhere to
 * quarantine), everything else is delivered. */
struct pol_snap *pol_snap_builtin(void);

/* One message, as the proxy knows it at the end of data. Borrowed. */
struct pol_msg {
	const struct mxg_ip *client;       /* original client (may be NULL) */
	const char *sender;                /* envelope sender ("" for <>) */
	const char *const *rcpt;           /* envelope recipients */
	const bool *rcpt_local;            /* per recipient: local by the
	                                    * caller's own domains (may be NULL) */
	size_t nrcpt;
	const uint8_t *msg;                /* the whole message as received
	                                    * (after dot-unstuffing) */
	size_t len;
	const struct scan_result *scan;    /* NULL: not scanned (all scan
	                                    * conditions false) */
	bool reprocess;                    /* released from quarantine */
};

enum pol_fate {
	POL_DELIVER = 0,
	POL_DELETE,
	POL_QUARANTINE,
	POL_REROUTE,
	POL_REJECT,                  /* 550 to the client: only the built-in
	                              * policy decides this (no quarantine
	                              * without a control plane) */
};

#define POL_MAX_MODS 16      /* tags / headers / notifications / bccs kept */
#define POL_MAX_MATCHED 32   /* matched rules recorded */

enum pol_notify_to { POL_NOTIFY_SENDER = 0, POL_NOTIFY_RECIPIENT, POL_NOTIFY_ADMIN };

struct pol_header {              /* insert_header */
	const char *name, *value;
};

struct pol_notify {
	enum pol_notify_to to;
	const char *tmpl;            /* template name */
	int64_t rule_id;
};

/* What one recipient's evaluation decided. Strings point into the snapshot
 * (valid while the caller holds its reference). Compare two with
 * pol_decision_same() to group recipients that get the same treatment. */
struct pol_decision {
	enum pol_fate fate;
	bool outbound;               /* the direction this recipient had */
	int64_t rule_id;             /* the rule that decided the fate; 0: none */
	const char *rule_name;       /* "" when none */
	const char *area;            /* quarantine area ("default") */
	const char *reroute_host;    /* POL_REROUTE */
	uint16_t reroute_port;
	/* modifications, in rule order */
	const char *tag[POL_MAX_MODS];       /* subject tags (prefixes) */
	unsigned ntag;
	struct pol_header hdr[POL_MAX_MODS];
	unsigned nhdr;
	bool strip;                  /* strip_attachments */
	const char *strip_notice;    /* the rule's notice ("" = built-in text) */
	uint64_t strip_parts;        /* bit i: scan part i to strip (the parts
	                              * matching the rule's attachment or virus
	                              * conditions, else every attachment) */
	bool strip_all;              /* also parts beyond 63: every attachment */
	struct pol_notify notify[POL_MAX_MODS];
	unsigned nnotify;
	const char *bcc[POL_MAX_MODS];
	unsigned nbcc;
	bool log_full;
	/* every matched rule, for the tracking record */
	int64_t matched[POL_MAX_MATCHED];
	unsigned nmatched;
};

/* Evaluates |s| for recipient |i| of |m|. Never fails (a regex that hits a
 * PCRE2 resource limit counts as not matching, and is counted). */
void pol_eval(const struct pol_snap *s, const struct pol_msg *m, size_t i,
	      struct pol_decision *out);

/* True if |a| and |b| treat the message the same way (fate, destination and
 * modifications; not the matched-rule bookkeeping). */
bool pol_decision_same(const struct pol_decision *a, const struct pol_decision *b);

/* True if the decision changes the message's bytes. */
static inline bool pol_decision_modifies(const struct pol_decision *d)
{
	return d->ntag || d->nhdr || d->strip;
}

const char *pol_fate_name(enum pol_fate f);

/* The first header field |name| of |msg| as the header conditions see it:
 * unfolded, trimmed, RFC 2047-decoded to UTF-8, NUL-terminated in |out|
 * ("" when absent). Returns its length. For logs and tracking records. */
size_t pol_header_get(const uint8_t *msg, size_t len, const char *name, char *out,
		      size_t cap);   /* "deliver", "delete", ... */

#endif
