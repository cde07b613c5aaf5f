/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_valid.h - the policy model's schema, checked in C before anything
 * reaches PostgreSQL.
 *
 * Three documents are validated here, all as jansson values:
 *  - a rule (POST/PUT /api/v1/policies, and each element of an import);
 *  - an address list (PUT /api/v1/lists/NAME, and each list of an import);
 *  - the whole configuration document (POST /api/v1/config/import).
 *
 * Validation is by table (see ctl_valid.c): every condition and action type
 * lists its fields with their value type; unknown types and unknown keys are
 * errors, regular expressions are compiled with PCRE2, numbers are range
 * checked. Every error names the field by its JSON path, e.g.
 * "policies[2].conditions[0].regex", so an operator can find it in the file.
 *
 * Validators also normalise: the rule they return carries every default
 * (enabled, scope, match, exceptions, stop, position), so that what is stored
 * and exported is canonical and an export re-imported is the same document.
 *
 * No I/O and no global state: this file is what the unit tests exercise.
 */
#ifndef CTL_VALID_H
#define CTL_VALID_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define CTL_VERR_MAX 16 /* errors kept per document (the first ones) */

struct ctl_verr {
	char field[160]; /* JSON path of the offending value ("" = document) */
	char msg[256];   /* what is wrong, in English */
};

struct ctl_verrs {
	unsigned n;                       /* errors found (may exceed CTL_VERR_MAX) */
	struct ctl_verr e[CTL_VERR_MAX];  /* the first min(n, CTL_VERR_MAX) */
};

/* Limits of the model (also enforced by CHECK constraints in SQL). */
#define CTL_NAME_MAX 128      /* rule name */
#define CTL_LIST_NAME_MAX 64  /* list name: [a-z0-9_-] */
#define CTL_LIST_ENTRIES_MAX 100000
#define CTL_RULES_MAX 10000
#define CTL_PATTERN_MAX 320   /* address pattern / domain */
#define CTL_REGEX_MAX 4096

/* Adds an error (formatted message) for |field|; keeps the first
 * CTL_VERR_MAX and counts the rest. */
void ctl_verr_add(struct ctl_verrs *v, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Validates one rule |in| (borrowed). |path| prefixes field names ("" for a
 * rule on its own, "policies[3]" inside a document). |def_position| is used
 * when the rule has no "position". If |lists| (borrowed, may be NULL) is an
 * object whose keys are the known list names, "list" references are checked
 * against it.
 * Returns a new normalised rule (caller owns, json_decref) or NULL with the
 * errors added to |v|. */
json_t *ctl_rule_validate(const json_t *in, const char *path, long def_position,
			  const json_t *lists, struct ctl_verrs *v);

/* Validates an address list body |in| (borrowed) named |name| (NULL when the
 * name is inside the object, as in an import). |require_kind|: "kind" must be
 * present (a list being created). Returns a new normalised list
 * {name, kind, description, entries (sorted, unique)} or NULL with errors. */
json_t *ctl_list_validate(const json_t *in, const char *name, bool require_kind,
			  const char *path, struct ctl_verrs *v);

/* Validates a whole configuration document |in| (borrowed):
 * {"format": "mxgate-config", "version": 1, "policies": [...],
 *  "lists": [...], "local_domains": [...]}. Returns the normalised document
 * (caller owns) or NULL with every error found (up to CTL_VERR_MAX). */
json_t *ctl_doc_validate(const json_t *in, struct ctl_verrs *v);

/* True if |s| is a valid list name. */
bool ctl_list_name_ok(const char *s);
/* True if |s| is a plausible DNS domain (letters, digits, '-', dots). */
bool ctl_domain_ok(const char *s);

/* Formats the errors of |v| as a JSON object
 * {"error": "<first field>: <first message>", "errors": [{field, message}]}
 * (caller owns). */
json_t *ctl_verrs_json(const struct ctl_verrs *v, const char *what);

/* The configuration a fresh installation starts with (viruses and archive
 * bombs quarantined, everything logged), as a JSON text. */
extern const char ctl_default_config[];

#endif
