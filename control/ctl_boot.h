/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_boot.h - what happens once at start, synchronously, before the event
 * loop runs: wait for the database, create the "mxgate" database in the
 * internal cluster, apply the numbered migrations, install the default
 * policy on a fresh schema, create the first administrator token, load the
 * token cache and register this node.
 *
 * Migrations (control/sql/NNNN_name.sql, embedded by gen_sql.py) run in ONE
 * transaction holding an advisory lock, so two nodes starting together
 * against the same database apply each migration exactly once, and a failed
 * migration leaves the schema as it was. schema_migrations records them.
 */
#ifndef CTL_BOOT_H
#define CTL_BOOT_H

#include <stdbool.h>

#include "ctl.h"

struct ctl_migration {
	unsigned version; /* NNNN */
	const char *name; /* "NNNN_name" */
	const char *sql;
};

extern const struct ctl_migration ctl_migrations[];
extern const unsigned ctl_nmigrations;

/* Runs the start-up sequence against c->conninfo. |internal| creates
 * database "mxgate" if needed (through database "postgres");
 * |reset_token| revokes the "admin" account's token and issues a new one.
 * Waits up to c->conf.start_timeout seconds for the server to accept
 * connections. Returns 0, or MXG_E_IO with the reason logged. */
int ctl_boot_run(struct ctl *c, bool internal, bool reset_token);

#endif
