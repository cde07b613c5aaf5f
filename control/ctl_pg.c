/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_pg.c - initdb/pg_ctl for the internal cluster, the system user and the
 * privilege drop (see ctl_pg.h).
 *
 * Children are started with fork+execve, a fixed environment and argv
 * (never a shell), every descriptor above 2 closed, stdout/stderr to
 * state_dir/log/pg_ctl.log. The PostgreSQL configuration that matters for
 * safety (no TCP listener, socket in a 0700 directory) is written to
 * pgdata/mxgate.conf at every start and included from postgresql.conf, so an
 * operator's own postgresql.conf edits survive and ours cannot be lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl_pg.h"
#include "mxg_err.h"
#include "mxg_log.h"

#define PG_BIN "/usr/lib/postgresql/15/bin"
#define COMP "pg"

/* Runs argv[0] with |argv| as |u| (when switching) and waits.
 * Returns the exit status, or -1 if it could not run or was killed. */
static int run(const struct ctl_conf *conf, const struct ctl_user *u, char *const argv[],
	       bool quiet)
{
	char logp[PATH_MAX + 32];
	char *envp[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", "LANG=C", NULL, NULL };
	char home[PATH_MAX + 8];
	pid_t pid;
	int st, fd;

	snprintf(logp, sizeof(logp), "%s/log/pg_ctl.log", conf->state_dir);
	snprintf(home, sizeof(home), "HOME=%s", conf->state_dir);
	envp[3] = home;
	pid = fork();
	if (pid < 0) {
		MXG_ERR(COMP, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close_range(3, ~0u, 0);
		/* Switch first, so the log file belongs to the user (who keeps
		 * appending to it after we drop our own privileges). */
		if (u->switch_to &&
		    (setgroups(0, NULL) || setresgid(u->gid, u->gid, u->gid) ||
		     setresuid(u->uid, u->uid, u->uid)))
			_exit(126);
		fd = open(logp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
		if (fd < 0)
			fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		dup2(fd, 1);
		dup2(fd, 2);
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		dup2(fd, 0);
		if (chdir(conf->state_dir))
			_exit(126);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st)) {
		if (WEXITSTATUS(st) != 0 && !quiet)
			MXG_ERR(COMP, "%s exited with %d (see %s)", argv[0], WEXITSTATUS(st), logp);
		return WEXITSTATUS(st);
	}
	if (!quiet)
		MXG_ERR(COMP, "%s killed by signal %d", argv[0], WTERMSIG(st));
	return -1;
}

int ctl_user_ensure(const struct ctl_conf *conf, struct ctl_user *u)
{
	struct passwd *pw;

	memset(u, 0, sizeof(*u));
	if (geteuid() != 0) {
		u->uid = geteuid();
		u->gid = getegid();
		return 0;
	}
	pw = getpwnam(conf->user);
	if (!pw) {
		char *const argv[] = { "/usr/sbin/useradd", "--system", "--user-group",
				       "--no-create-home", "--home-dir", "/nonexistent",
				       "--shell", "/usr/sbin/nologin", "--comment",
				       "mxgate control plane", (char *)conf->user, NULL };
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			close_range(3, ~0u, 0);
			execv(argv[0], argv);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0) {
			MXG_ERR(COMP, "useradd %s failed", conf->user);
			return MXG_E_IO;
		}
		MXG_NOTICE(COMP, "created system user %s", conf->user);
		pw = getpwnam(conf->user);
		if (!pw) {
			MXG_ERR(COMP, "user %s still missing after useradd", conf->user);
			return MXG_E_IO;
		}
	}
	if (pw->pw_uid == 0) {
		MXG_ERR(COMP, "user %s is root; PostgreSQL refuses to run as root", conf->user);
		return MXG_E_IO;
	}
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	u->switch_to = true;
	return 0;
}

/* mkdir -m |mode| and chown to |u|; fixes mode/owner if it exists. */
static int mkdir_owned(const char *path, mode_t mode, const struct ctl_user *u, bool own)
{
	struct stat sb;

	if (mkdir(path, mode) != 0 && errno != EEXIST) {
		MXG_ERR(COMP, "mkdir %s: %s", path, strerror(errno));
		return MXG_E_IO;
	}
	if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		MXG_ERR(COMP, "%s is not a directory", path);
		return MXG_E_IO;
	}
	if (own && u->switch_to && (sb.st_uid != u->uid || sb.st_gid != u->gid) &&
	    chown(path, u->uid, u->gid) != 0) {
		MXG_ERR(COMP, "chown %s: %s", path, strerror(errno));
		return MXG_E_IO;
	}
	if ((sb.st_mode & 07777) != mode && chmod(path, mode) != 0) {
		MXG_ERR(COMP, "chmod %s: %s", path, strerror(errno));
		return MXG_E_IO;
	}
	return 0;
}

int ctl_state_dir_ensure(const struct ctl_conf *conf, const struct ctl_user *u)
{
	char p[PATH_MAX + 16];
	int rc;

	/* root-owned and world-traversable: the user must reach pgdata/run */
	if ((rc = mkdir_owned(conf->state_dir, 0755, u, false)))
		return rc;
	snprintf(p, sizeof(p), "%s/log", conf->state_dir);
	return mkdir_owned(p, 0750, u, true);
}

static int write_pg_conf(const struct ctl_conf *conf, const struct ctl_user *u)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/pgdata/mxgate.conf", conf->state_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		MXG_ERR(COMP, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return MXG_E_IO;
	}
	/* state_dir has no quote or backslash (ctl_conf.c) */
	fprintf(f, "# Written by mxgate-control at every start: do not edit.\n"
		   "listen_addresses = ''\n"
		   "unix_socket_directories = '%s/run'\n"
		   "unix_socket_permissions = 0700\n"
		   "port = %u\n"
		   "max_connections = 50\n"
		   "logging_collector = off\n"
		   "log_line_prefix = '%%m [%%p] '\n",
		conf->state_dir, conf->pg_port);
	if (fclose(f) != 0 || (u->switch_to && chown(tmp, u->uid, u->gid) != 0) ||
	    rename(tmp, path) != 0) {
		MXG_ERR(COMP, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return MXG_E_IO;
	}
	return 0;
}

static int include_conf(const struct ctl_conf *conf)
{
	char path[PATH_MAX + 32], line[256];
	FILE *f;
	bool found = false;

	snprintf(path, sizeof(path), "%s/pgdata/postgresql.conf", conf->state_dir);
	f = fopen(path, "r+e");
	if (!f) {
		MXG_ERR(COMP, "%s: %s", path, strerror(errno));
		return MXG_E_IO;
	}
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "include_if_exists = 'mxgate.conf'", 33) == 0)
			found = true;
	if (!found)
		fprintf(f, "\n# mxgate: socket, port and listeners\n"
			   "include_if_exists = 'mxgate.conf'\n");
	if (fclose(f) != 0) {
		MXG_ERR(COMP, "%s: %s", path, strerror(errno));
		return MXG_E_IO;
	}
	return 0;
}

bool ctl_pg_running(const struct ctl_conf *conf, const struct ctl_user *u)
{
	char data[PATH_MAX + 16];
	char *const argv[] = { PG_BIN "/pg_ctl", "-D", data, "status", NULL };

	snprintf(data, sizeof(data), "%s/pgdata", conf->state_dir);
	return run(conf, u, argv, true) == 0;
}

int ctl_pg_start(const struct ctl_conf *conf, const struct ctl_user *u, bool *created,
		 char *conninfo, size_t len)
{
	char data[PATH_MAX + 16], ver[PATH_MAX + 32], runp[PATH_MAX + 16];
	char logp[PATH_MAX + 32], lopt[PATH_MAX + 40];
	struct stat sb;
	int rc;

	*created = false;
	snprintf(data, sizeof(data), "%s/pgdata", conf->state_dir);
	snprintf(ver, sizeof(ver), "%s/PG_VERSION", data);
	snprintf(runp, sizeof(runp), "%s/run", conf->state_dir);
	snprintf(logp, sizeof(logp), "%s/log/postgresql.log", conf->state_dir);
	if ((rc = mkdir_owned(runp, 0700, u, true)))
		return rc;
	if (stat(ver, &sb) != 0) {
		char uopt[80];
		char *const argv[] = { PG_BIN "/initdb", "-D", data, uopt, "-E", "UTF8",
				       "--no-locale", "--auth-local=trust",
				       "--auth-host=reject", NULL };

		if ((rc = mkdir_owned(data, 0700, u, true)))
			return rc;
		snprintf(uopt, sizeof(uopt), "--username=%s", conf->user);
		MXG_NOTICE(COMP, "creating the internal PostgreSQL cluster in %s", data);
		if (run(conf, u, argv, false) != 0)
			return MXG_E_IO;
		*created = true;
	}
	if ((rc = include_conf(conf)) || (rc = write_pg_conf(conf, u)))
		return rc;
	if (ctl_pg_running(conf, u)) {
		MXG_NOTICE(COMP, "internal PostgreSQL already running; reusing it");
	} else {
		char *const argv[] = { PG_BIN "/pg_ctl", "-D", data, lopt, "-w", "-t", "120",
				       "start", NULL };

		snprintf(lopt, sizeof(lopt), "--log=%s", logp);
		if (run(conf, u, argv, false) != 0) {
			MXG_ERR(COMP, "could not start PostgreSQL (see %s)", logp);
			return MXG_E_IO;
		}
		MXG_NOTICE(COMP, "internal PostgreSQL started (socket %s, port %u)", runp,
			   conf->pg_port);
	}
	snprintf(conninfo, len, "host=%s port=%u dbname=mxgate user=%s "
		 "application_name=mxgate-control", runp, conf->pg_port, conf->user);
	return 0;
}

int ctl_pg_stop(const struct ctl_conf *conf, const struct ctl_user *u)
{
	char data[PATH_MAX + 16];
	char *const argv[] = { PG_BIN "/pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "60",
			       "stop", NULL };

	snprintf(data, sizeof(data), "%s/pgdata", conf->state_dir);
	if (!ctl_pg_running(conf, u))
		return 0;
	if (run(conf, u, argv, false) != 0)
		return MXG_E_IO;
	MXG_NOTICE(COMP, "internal PostgreSQL stopped");
	return 0;
}

int ctl_pg_drop_privileges(struct ctl_user *u)
{
	uid_t r, e, s;

	if (!u->switch_to)
		return 0;
	if (setgroups(0, NULL) || setresgid(u->gid, u->gid, u->gid) ||
	    setresuid(u->uid, u->uid, u->uid)) {
		MXG_ERR(COMP, "dropping privileges: %s", strerror(errno));
		return MXG_E_IO;
	}
	if (getresuid(&r, &e, &s) || r != u->uid || e != u->uid || s != u->uid ||
	    setuid(0) == 0) {
		MXG_ERR(COMP, "privileges not dropped");
		return MXG_E_IO;
	}
	u->switch_to = false; /* children now inherit our identity */
	return 0;
}
