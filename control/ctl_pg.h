/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_pg.h - the internal PostgreSQL cluster and the unprivileged user.
 *
 * PostgreSQL refuses to run as root, and a mail gateway's control plane
 * should not run as root either: when started as root, mxgate-control
 * creates the system user (conf.user, default "mxgate") if needed, runs
 * initdb and pg_ctl as that user, and finally drops its own privileges to it
 * (ctl_pg_drop_privileges) once the files only root may read (TLS key) are
 * loaded and the API socket is bound.
 *
 * Layout under state_dir (created here):
 *	pgdata/   the cluster, mode 0700, owned by the user
 *	run/      the Unix socket (.s.PGSQL.<pg_port>), mode 0700: only the
 *	          user and root can connect, which is why "trust" is the local
 *	          authentication; TCP is not listened on at all
 *	log/      postgresql.log and pg_ctl.log
 *
 * The calls block (fork, exec, waitpid): they run at start and at shutdown,
 * outside the event loop's hot path.
 */
#ifndef CTL_PG_H
#define CTL_PG_H

#include <stdbool.h>
#include <sys/types.h>

#include "ctl.h"

struct ctl_user {
	uid_t uid;
	gid_t gid;
	bool switch_to; /* we are root and will run things as uid/gid */
};

/* Looks up conf->user and creates it (useradd --system) if missing and we
 * are root. When not root, |u| is the current user and switch_to false.
 * Returns 0 or MXG_E_IO (message logged). */
int ctl_user_ensure(const struct ctl_conf *conf, struct ctl_user *u);

/* Creates state_dir (0755) if missing. Returns 0 or MXG_E_IO. */
int ctl_state_dir_ensure(const struct ctl_conf *conf, const struct ctl_user *u);

/* Creates the cluster if state_dir/pgdata has none (initdb), writes its
 * mxgate.conf (socket directory, port, no TCP), and starts it with pg_ctl
 * unless it is already running. Sets *|created| when initdb ran. Fills
 * |conninfo| (len bytes) for database "mxgate". Returns 0 or MXG_E_IO with
 * the reason logged. */
int ctl_pg_start(const struct ctl_conf *conf, const struct ctl_user *u, bool *created,
		 char *conninfo, size_t len);

/* Stops the cluster (pg_ctl stop -m fast). Returns 0 or MXG_E_IO. */
int ctl_pg_stop(const struct ctl_conf *conf, const struct ctl_user *u);

/* True if the cluster's postmaster runs (pg_ctl status). */
bool ctl_pg_running(const struct ctl_conf *conf, const struct ctl_user *u);

/* Drops to u->uid/u->gid for good (no-op unless u->switch_to).
 * Returns 0 or MXG_E_IO. */
int ctl_pg_drop_privileges(struct ctl_user *u);

#endif
