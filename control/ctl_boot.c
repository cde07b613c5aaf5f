/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_boot.c - start-up sequence against PostgreSQL (see ctl_boot.h).
 *
 * Blocking libpq is right here and only here: nothing else can happen until
 * the schema is known, and the code reads top to bottom. Everything after
 * start goes through the asynchronous connection (ctl_db.c).
 *
 * The first administrator token: generated, written to
 * state_dir/admin.token.tmp (0600), its hash inserted in the migration
 * transaction, and the file renamed into place only after COMMIT. If the
 * commit fails the file is removed, so a token on disk always works.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "ctl_boot.h"
#include "ctl_token.h"
#include "ctl_valid.h"
#include "mxg_err.h"
#include "mxg_log.h"

#define COMP "boot"
#define LOCK_KEY "7302, 0"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Server NOTICEs ("relation already exists, skipping") are debug chatter:
 * keep them out of stderr unless asked for. */
static void on_notice(void *arg, const char *msg)
{
	MXG_DEBUG(COMP, "server: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* Connects, retrying until |deadline| (the server may still be starting:
 * an external one restarted with us, or ours replaying its WAL). */
static PGconn *connect_wait(const char *conninfo, double deadline)
{
	PGconn *conn;
	struct timespec pause = { 0, 200 * 1000 * 1000 };
	bool said = false;

	for (;;) {
		conn = PQconnectdb(conninfo);
		if (PQstatus(conn) == CONNECTION_OK) {
			PQsetNoticeProcessor(conn, on_notice, NULL);
			return conn;
		}
		if (now_s() >= deadline) {
			/* libpq's message names host/port, never the password */
			MXG_ERR(COMP, "database unreachable: %s", PQerrorMessage(conn));
			PQfinish(conn);
			return NULL;
		}
		if (!said) {
			MXG_NOTICE(COMP, "waiting for the database: %s", PQerrorMessage(conn));
			said = true;
		}
		PQfinish(conn);
		nanosleep(&pause, NULL);
	}
}

static bool exec_ok(PGconn *conn, const char *sql, const char *what)
{
	PGresult *r = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(r);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		MXG_ERR(COMP, "%s: %s", what, PQresultErrorMessage(r));
	PQclear(r);
	return ok;
}

/* Replaces "dbname=mxgate" with "dbname=postgres" in our own conninfo. */
static int ensure_database(const char *conninfo, double deadline)
{
	char ci[PATH_MAX + 300];
	const char *p = strstr(conninfo, "dbname=mxgate");
	PGconn *conn;
	PGresult *r;
	int rc = 0;

	if (!p || strlen(conninfo) + 4 >= sizeof(ci))
		return MXG_E_INVAL;
	snprintf(ci, sizeof(ci), "%.*sdbname=postgres%s", (int)(p - conninfo), conninfo,
		 p + strlen("dbname=mxgate"));
	conn = connect_wait(ci, deadline);
	if (!conn)
		return MXG_E_IO;
	r = PQexec(conn, "SELECT 1 FROM pg_database WHERE datname = 'mxgate'");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		MXG_ERR(COMP, "pg_database: %s", PQresultErrorMessage(r));
		rc = MXG_E_IO;
	} else if (PQntuples(r) == 0) {
		if (exec_ok(conn, "CREATE DATABASE mxgate ENCODING 'UTF8' TEMPLATE template0",
			    "CREATE DATABASE"))
			MXG_NOTICE(COMP, "created database mxgate");
		else
			rc = MXG_E_IO;
	}
	PQclear(r);
	PQfinish(conn);
	return rc;
}

/* Applies missing migrations inside the open transaction. Sets *fresh if
 * the schema was empty. Returns 0 or MXG_E_IO. */
static int migrate(PGconn *conn, bool *fresh, unsigned *applied)
{
	PGresult *r;
	bool have[256] = { false };
	int n;

	*applied = 0;
	if (!exec_ok(conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
			   "version integer PRIMARY KEY, name text NOT NULL, "
			   "applied_at timestamptz NOT NULL DEFAULT now())",
		     "schema_migrations"))
		return MXG_E_IO;
	r = PQexec(conn, "SELECT version FROM schema_migrations");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		MXG_ERR(COMP, "schema_migrations: %s", PQresultErrorMessage(r));
		PQclear(r);
		return MXG_E_IO;
	}
	n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		long v = strtol(PQgetvalue(r, i, 0), NULL, 10);

		if (v > 0 && v < 256)
			have[v] = true;
		if (v > (long)ctl_nmigrations) {
			MXG_ERR(COMP, "the database has schema version %ld, newer than this "
				"build knows (%u): refusing to run", v, ctl_nmigrations);
			PQclear(r);
			return MXG_E_IO;
		}
	}
	PQclear(r);
	*fresh = n == 0;
	for (unsigned i = 0; i < ctl_nmigrations; i++) {
		const struct ctl_migration *m = &ctl_migrations[i];
		char v[16];
		const char *params[2] = { v, m->name };

		if (m->version < 256 && have[m->version])
			continue;
		if (!exec_ok(conn, m->sql, m->name))
			return MXG_E_IO;
		snprintf(v, sizeof(v), "%u", m->version);
		r = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) "
				 "VALUES ($1, $2)", 2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			MXG_ERR(COMP, "recording %s: %s", m->name, PQresultErrorMessage(r));
			PQclear(r);
			return MXG_E_IO;
		}
		PQclear(r);
		MXG_NOTICE(COMP, "applied migration %s", m->name);
		(*applied)++;
	}
	if (*applied == 0)
		MXG_INFO(COMP, "schema up to date (version %u)", ctl_nmigrations);
	return 0;
}

static int default_policy(PGconn *conn)
{
	json_error_t je;
	struct ctl_verrs v = { 0 };
	json_t *in = json_loads(ctl_default_config, 0, &je), *doc;
	char *text;
	PGresult *r;
	int rc = 0;

	doc = in ? ctl_doc_validate(in, &v) : NULL;
	json_decref(in);
	if (!doc) {
		MXG_ERR(COMP, "built-in default policy invalid (a bug)");
		return MXG_E_INTERNAL;
	}
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!text)
		return MXG_E_NOMEM;
	r = PQexecParams(conn, "SELECT mxg_config_import($1::jsonb)", 1, NULL,
			 (const char *const *)&text, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		MXG_ERR(COMP, "default policy: %s", PQresultErrorMessage(r));
		rc = MXG_E_IO;
	} else {
		MXG_NOTICE(COMP, "installed the default policy (viruses and archive bombs "
			   "quarantined, everything logged)");
	}
	PQclear(r);
	free(text);
	return rc;
}

/* Creates the first admin token if there is no admin account (or |reset|).
 * Sets *pending when a token file awaits the commit. */
static int admin_token(PGconn *conn, const char *path, bool reset, bool *pending)
{
	char tok[CTL_TOKEN_LEN + 1], hex[2 * CTL_TOKEN_HASH_LEN + 1];
	uint8_t h[CTL_TOKEN_HASH_LEN];
	const char *params[1] = { hex };
	PGresult *r;
	bool need;

	*pending = false;
	if (reset && !exec_ok(conn, "DELETE FROM admin_accounts WHERE name = 'admin'",
			      "revoking the admin token"))
		return MXG_E_IO;
	r = PQexec(conn, "SELECT count(*) FROM admin_accounts");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		MXG_ERR(COMP, "admin_accounts: %s", PQresultErrorMessage(r));
		PQclear(r);
		return MXG_E_IO;
	}
	need = strcmp(PQgetvalue(r, 0, 0), "0") == 0 || reset;
	PQclear(r);
	if (!need)
		return 0;
	if (ctl_token_new(tok) != 0) {
		MXG_ERR(COMP, "random number generator failed");
		return MXG_E_IO;
	}
	ctl_token_hash(tok, strlen(tok), h);
	for (int i = 0; i < CTL_TOKEN_HASH_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	if (ctl_token_file_write(path, tok) != 0) {
		explicit_bzero(tok, sizeof(tok));
		return MXG_E_IO;
	}
	explicit_bzero(tok, sizeof(tok));
	*pending = true;
	r = PQexecParams(conn, "INSERT INTO admin_accounts (name, role, token_sha256) "
			 "VALUES ('admin', 'admin', decode($1, 'hex'))", 1, NULL, params,
			 NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		MXG_ERR(COMP, "creating the admin account: %s", PQresultErrorMessage(r));
		PQclear(r);
		return MXG_E_IO;
	}
	PQclear(r);
	return 0;
}

static int load_state(struct ctl *c, PGconn *conn)
{
	PGresult *r = PQexec(conn, CTL_TOKEN_SQL);
	char port[16];
	const char *params[4] = { c->conf.node_name, CTL_VERSION, c->conf.api_host, port };
	int rc = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || ctl_token_load(c, r) != 0) {
		MXG_ERR(COMP, "loading tokens: %s", PQresultErrorMessage(r));
		rc = MXG_E_IO;
	}
	PQclear(r);
	if (rc)
		return rc;
	if (c->ntokens == 0)
		MXG_WARN(COMP, "no enabled administrator: the API will refuse every request");
	snprintf(port, sizeof(port), "%u", c->conf.api_port);
	r = PQexecParams(conn,
			 "INSERT INTO nodes (name, version, api, started_at, heartbeat_at, "
			 "policy_version) VALUES ($1, $2, $3 || ':' || $4, now(), now(), "
			 "(SELECT max(version) FROM policy_versions)) ON CONFLICT (name) DO "
			 "UPDATE SET version = EXCLUDED.version, api = EXCLUDED.api, "
			 "started_at = now(), heartbeat_at = now(), "
			 "policy_version = EXCLUDED.policy_version "
			 "RETURNING COALESCE(policy_version, 0)",
			 4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		MXG_ERR(COMP, "registering node: %s", PQresultErrorMessage(r));
		rc = MXG_E_IO;
	} else {
		c->policy_version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	}
	PQclear(r);
	if (!rc && !exec_ok(conn, "SELECT mxg_maintain()", "maintenance"))
		rc = MXG_E_IO;
	return rc;
}

int ctl_boot_run(struct ctl *c, bool internal, bool reset_token)
{
	double deadline = now_s() + c->conf.start_timeout;
	char tokpath[PATH_MAX + 16];
	bool fresh = false, pending = false;
	unsigned applied = 0;
	PGconn *conn;
	int rc;

	if (internal && (rc = ensure_database(c->conninfo, deadline)))
		return rc;
	conn = connect_wait(c->conninfo, deadline);
	if (!conn)
		return MXG_E_IO;
	snprintf(tokpath, sizeof(tokpath), "%s/admin.token", c->conf.state_dir);
	rc = MXG_E_IO;
	if (!exec_ok(conn, "BEGIN", "BEGIN") ||
	    !exec_ok(conn, "SELECT pg_advisory_xact_lock(" LOCK_KEY ")", "migration lock"))
		goto out;
	if (migrate(conn, &fresh, &applied) != 0)
		goto rollback;
	if (fresh && default_policy(conn) != 0)
		goto rollback;
	if (admin_token(conn, tokpath, reset_token, &pending) != 0)
		goto rollback;
	if (!exec_ok(conn, "COMMIT", "COMMIT"))
		goto out;
	if (pending) {
		if (ctl_token_file_commit(tokpath, 1) != 0)
			goto out_nofile;
		pending = false;
		MXG_NOTICE(COMP, "administrator token written to %s (mode 0600)", tokpath);
	}
	rc = load_state(c, conn);
	goto out;
rollback:
	exec_ok(conn, "ROLLBACK", "ROLLBACK");
out:
	if (pending)
		ctl_token_file_commit(tokpath, 0);
out_nofile:
	PQfinish(conn);
	return rc;
}
