/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_main.c - mxgate-control: start-up, the event loop, shutdown.
 *
 *	mxgate-control [--config PATH] [--log-level LEVEL] [--reset-admin-token]
 *
 * Start-up, in this order because each step needs the one before:
 *  1. configuration ([control] section; unknown keys rejected);
 *  2. the unprivileged user (created if missing) and state_dir;
 *  3. TLS certificate (generated if not configured) and server context;
 *  4. internal database: initdb on first start, pg_ctl start (as the user);
 *  5. bootstrap (ctl_boot.c): migrations, default policy, first admin token;
 *  6. the HTTPS listener and the control channel's socket (ctl_chan.c),
 *     then the privilege drop to the user;
 *  7. the asynchronous database connection, timers and signals.
 * Then, once the asynchronous connection is up, "mxgate-control: ready" on
 * stdout (tests and scripts wait for it).
 *
 * SIGINT/SIGTERM: pending requests are answered, the internal database is
 * stopped (pg_ctl stop -m fast), exit 0. Exit 2: usage or configuration
 * error; 1: start-up failed.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "ctl.h"
#include "ctl_boot.h"
#include "ctl_chan.h"
#include "ctl_conf.h"
#include "ctl_db.h"
#include "ctl_http.h"
#include "ctl_notify.h"
#include "ctl_pg.h"
#include "ctl_dnsbl.h"
#include "ctl_prof.h"
#include "ctl_smtp.h"
#include "ctl_tls.h"
#include "ctl_token.h"
#include "mxg_conf.h"
#include "mxg_err.h"
#include "mxg_log.h"

#define COMP "control"
#define TICK_S 10
#define MAINT_TICKS 360 /* hourly */

static void usage(FILE *f)
{
	fprintf(f, "usage: mxgate-control [--config PATH] [--log-level LEVEL] "
		   "[--reset-admin-token]\n"
		   "  --config PATH         configuration file (default /etc/mxgate/mxgate.conf)\n"
		   "  --log-level LEVEL     err, warn, notice, info, debug (overrides log_level)\n"
		   "  --reset-admin-token   revoke the admin token and write a new one to\n"
		   "                        STATE_DIR/admin.token\n");
}

static void on_ignore(enum ctl_db_status st, PGresult *res, void *ud)
{
}

static void on_tokens(enum ctl_db_status st, PGresult *res, void *ud)
{
	struct ctl *c = ud;

	c->token_refresh_busy = false;
	if (st == CTL_DB_OK)
		ctl_token_load(c, res);
}

static void refresh(struct ctl *c)
{
	char pv[24];
	const char *p[2] = { c->conf.node_name, pv };

	if (!c->token_refresh_busy &&
	    ctl_db_query(c->db, CTL_TOKEN_SQL, 0, NULL, false, on_tokens, c) == 0)
		c->token_refresh_busy = true;
	snprintf(pv, sizeof(pv), "%lld", (long long)c->policy_version);
	ctl_db_query(c->db, "UPDATE nodes SET heartbeat_at = now(), policy_version = $2 "
			    "WHERE name = $1", 2, p, false, on_ignore, NULL);
}

static void on_db_state(bool up, void *ud)
{
	struct ctl *c = ud;

	if (!up)
		return;
	refresh(c);
	ctl_chan_policy_changed(c->chan, 0); /* NOTIFYs may have been missed */
	ctl_chan_blocklist_changed(c->chan, 0);
	ctl_prof_reload(c);
	ctl_dnsbl_reload(c);
	if (!c->ready) {
		/* "ready" means serving with the database: status says db_ok */
		c->ready = true;
		MXG_NOTICE(COMP, "node %s ready (policy version %lld)", c->conf.node_name,
			   (long long)c->policy_version);
		printf("mxgate-control: ready\n");
		fflush(stdout);
	}
}

static void on_notify(const char *chan, const char *payload, void *ud)
{
	struct ctl *c = ud;
	long long v = strtoll(payload, NULL, 10);

	if (strcmp(chan, "mxg_blocklist") == 0) {
		ctl_chan_blocklist_changed(c->chan, v);
		return;
	}
	if (strcmp(chan, "mxg_settings") == 0) {
		ctl_prof_reload(c);
		ctl_dnsbl_reload(c);
		return;
	}
	if (strcmp(chan, "mxg_policy") != 0)
		return;
	if (v > c->policy_version) {
		c->policy_version = v;
		MXG_INFO(COMP, "policy version %lld", v);
	}
	ctl_chan_policy_changed(c->chan, v);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *c = arg;

	if (!ctl_db_ok(c->db))
		return;
	refresh(c);
	ctl_prof_tick(c);
	if (++c->ticks % MAINT_TICKS == 0)
		ctl_db_query(c->db, "SELECT mxg_maintain(), mxg_blocklist_purge()", 0, NULL, false,
			     on_ignore, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct ctl *c = arg;

	MXG_NOTICE(COMP, "signal %d: shutting down", (int)sig);
	event_base_loopbreak(c->base);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "reset-admin-token", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg = "/etc/mxgate/mxgate.conf", *lvl_opt = NULL;
	static struct ctl ctl;
	struct ctl *c = &ctl;
	struct mxg_conf *conf = NULL;
	struct ctl_user user;
	struct event *ev_int = NULL, *ev_term = NULL;
	struct timeval tick = { TICK_S, 0 };
	struct ctl_db_hooks hooks = { on_db_state, on_notify, c };
	char err[512], cert[PATH_MAX], key[PATH_MAX];
	bool reset = false, created = false, pg_started = false;
	SSL_CTX *ssl = NULL;
	int o, rc = 1;

	while ((o = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': cfg = optarg; break;
		case 'l': lvl_opt = optarg; break;
		case 'r': reset = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("mxgate-control %s\n", CTL_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (lvl_opt && mxg_log_level_parse(lvl_opt) < 0) {
		fprintf(stderr, "mxgate-control: --log-level: unknown level '%s'\n", lvl_opt);
		return 2;
	}
	if (mxg_conf_load(cfg, &conf, err, sizeof(err)) != 0 ||
	    ctl_conf_read(conf, &c->conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxgate-control: %s\n", err);
		mxg_conf_free(conf);
		return 2;
	}
	mxg_conf_free(conf);
	mxg_log_set_level(lvl_opt ? mxg_log_level_parse(lvl_opt) : c->conf.log_level);
	umask(027);
	signal(SIGPIPE, SIG_IGN);
	c->started = time(NULL);

	if (ctl_user_ensure(&c->conf, &user) || ctl_state_dir_ensure(&c->conf, &user))
		goto out;
	if (ctl_tls_files(&c->conf, cert, key) || !(ssl = ctl_tls_server_ctx(cert, key)))
		goto out;
	if (c->conf.internal) {
		if (ctl_pg_start(&c->conf, &user, &created, c->conninfo, sizeof(c->conninfo)))
			goto out;
		pg_started = true;
	} else {
		if (strlen(c->conf.dsn) >= sizeof(c->conninfo)) {
			MXG_ERR(COMP, "database: connection string too long");
			goto out;
		}
		snprintf(c->conninfo, sizeof(c->conninfo), "%s", c->conf.dsn);
		MXG_NOTICE(COMP, "using an external database");
	}
	if (ctl_boot_run(c, c->conf.internal, reset))
		goto out;

	c->base = event_base_new();
	if (!c->base || ctl_smtp_init(c) || ctl_notify_init(c) || ctl_prof_init(c) ||
	    ctl_dnsbl_init(c))
		goto out;
	c->http = ctl_http_new(c, ssl, c->conf.api_host, c->conf.api_port);
	ssl = NULL; /* owned by the server now */
	if (!c->http)
		goto out;
	c->chan = ctl_chan_new(c, &user);
	if (!c->chan || ctl_pg_drop_privileges(&user))
		goto out;
	c->db = ctl_db_new(c->base, c->conninfo, &hooks);
	c->ev_timer = event_new(c->base, -1, EV_PERSIST, on_tick, c);
	ev_int = evsignal_new(c->base, SIGINT, on_signal, c);
	ev_term = evsignal_new(c->base, SIGTERM, on_signal, c);
	if (!c->db || !c->ev_timer || !ev_int || !ev_term || ctl_chan_start(c->chan))
		goto out;
	event_add(c->ev_timer, &tick);
	event_add(ev_int, NULL);
	event_add(ev_term, NULL);

	event_base_dispatch(c->base);
	rc = 0;
out:
	ctl_notify_fini(c);  /* before smtp and db: their callbacks free its jobs */
	ctl_smtp_fini(c);    /* answers releases in flight, before the HTTP server goes */
	ctl_db_free(c->db); /* answers what is still pending (503) */
	ctl_chan_free(c->chan); /* after c->db: its policy query calls back */
	ctl_prof_fini(c);       /* after c->db: its inserts call back */
	ctl_dnsbl_fini(c);
	ctl_http_free(c->http);
	if (c->ev_timer)
		event_free(c->ev_timer);
	if (ev_int)
		event_free(ev_int);
	if (ev_term)
		event_free(ev_term);
	if (c->base) {
		/* A bufferevent freed from inside its own deferred callback (an
		 * SMTP release finishing as SIGTERM arrives) is released by
		 * callbacks still queued; event_base_free() would cancel them
		 * without dropping their references (LeakSanitizer). Every
		 * component is gone, so only libevent's own callbacks run. */
		for (int pass = 0; pass < 3; pass++)
			event_base_loop(c->base, EVLOOP_NONBLOCK);
		event_base_free(c->base);
	}
	SSL_CTX_free(ssl);
	if (pg_started && ctl_pg_stop(&c->conf, &user) != 0)
		rc = 1;
	explicit_bzero(c->conninfo, sizeof(c->conninfo));
	ctl_conf_clear(&c->conf);
	free(c->tokens);
	if (rc)
		MXG_ERR(COMP, "start-up failed");
	return rc;
}
