# SPDX-License-Identifier: BSD-3-Clause
"""mxgate-control's life: first start (cluster, schema, default policy,
admin token, certificate), second start (everything reused), an external
database, the database dying and coming back while the process keeps
running, and configuration errors."""

import os
import pwd
import stat
import subprocess

from ctlenv import Control, control_bin, wait_until

# The migrations this tree carries, in order: a fresh database applies all.
MIGRATIONS = sorted(f[:-4] for f in os.listdir(
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "control", "sql"))
    if f.endswith(".sql"))


def test_fresh_start_creates_cluster_and_schema(control):
    st = control.state
    mx = pwd.getpwnam("mxgate")
    pgdata = os.path.join(st, "pgdata")
    assert os.path.isfile(os.path.join(pgdata, "PG_VERSION"))
    assert os.stat(pgdata).st_uid == mx.pw_uid, "cluster must belong to mxgate, not root"
    err = control.stderr()
    assert "creating the internal PostgreSQL cluster" in err
    for m in MIGRATIONS:
        assert f"applied migration {m}" in err
    # secrets: token file 0600, never in the log; generated key 0600
    tok = os.path.join(st, "admin.token")
    assert stat.S_IMODE(os.stat(tok).st_mode) == 0o600
    assert control.token.startswith("mxg_") and len(control.token) == 68
    assert control.token not in err and control.token not in control.proc.output()
    assert stat.S_IMODE(os.stat(os.path.join(st, "tls", "api.key")).st_mode) == 0o600
    # the database holds only the token's hash
    assert control.psql("SELECT count(*) FROM admin_accounts") == "1"
    assert control.token not in control.psql("SELECT * FROM admin_accounts")
    # schema
    assert control.psql("SELECT version || ' ' || name FROM schema_migrations "
                        "ORDER BY version").splitlines() == \
        [f"{int(m[:4])} {m}" for m in MIGRATIONS]
    tables = set(control.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                 .split())
    for t in ("policy_rules", "address_lists", "list_entries", "local_domains",
              "quarantine", "nodes", "policy_versions", "admin_accounts", "settings"):
        assert t in tables
    assert control.psql("SELECT relkind FROM pg_class WHERE relname = 'message_log'") == "p"
    assert int(control.psql("SELECT count(*) FROM pg_inherits WHERE inhparent = "
                            "'message_log'::regclass")) >= 8, "daily partitions ahead"
    # default policy: viruses and archive bombs quarantined, everything logged
    rules = control.psql("SELECT name || '|' || (actions->0->>'type') FROM policy_rules "
                         "ORDER BY position").splitlines()
    assert rules == ["Quarantine viruses|quarantine", "Quarantine archive bombs|quarantine",
                     "Log everything|log"]
    s = control.status()
    assert s["db_ok"] is True and s["database"] == "internal"
    assert s["node"] == "testnode" and s["policy_version"] >= 1
    assert [n["name"] for n in s["nodes"]] == ["testnode"]
    # privileges dropped: the daemon itself runs as mxgate
    with open(f"/proc/{control.proc.pid}/status") as f:
        uids = [l for l in f if l.startswith("Uid:")][0].split()[1:]
    assert set(uids) == {str(mx.pw_uid)}


def test_second_start_reuses_cluster(tmpdir755):
    c = Control(tmpdir755).start()
    try:
        token = c.token
        applied = c.psql("SELECT applied_at FROM schema_migrations")
        code, rule = c.api("POST", "/policies", {
            "name": "survives restart", "conditions": [{"type": "any"}],
            "actions": [{"type": "deliver"}]})
        assert code == 201
    finally:
        assert c.stop() == 0
    # the cluster was stopped with the service
    assert not os.path.exists(os.path.join(c.state, "pgdata", "postmaster.pid"))
    c.start()
    try:
        err = c.stderr()
        assert "creating the internal PostgreSQL cluster" not in err
        assert "applied migration" not in err
        assert f"schema up to date (version {len(MIGRATIONS)})" in err
        assert c.psql("SELECT applied_at FROM schema_migrations") == applied
        assert c.token == token, "a second start must not replace the admin token"
        code, got = c.api("GET", f"/policies/{rule['id']}")
        assert code == 200 and got["name"] == "survives restart"
        assert c.psql("SELECT count(*) FROM policy_rules WHERE name = 'Quarantine viruses'") \
            == "1", "default policy installed once"
    finally:
        assert c.stop() == 0


def test_external_dsn(tmpdir755, external_pg):
    c = Control(tmpdir755, database=external_pg.dsn).start()
    try:
        assert not os.path.exists(os.path.join(c.state, "pgdata"))
        s = c.status()
        assert s["db_ok"] is True and s["database"] == "external"
        assert external_pg.psql("SELECT name FROM schema_migrations ORDER BY version") \
            .splitlines() == MIGRATIONS
        assert external_pg.psql("SELECT count(*) FROM policy_rules") == "3"
        r = c.ctl("policy", "list")
        assert r.returncode == 0 and "Quarantine viruses" in r.stdout
        assert external_pg.dsn not in c.stderr(), "the DSN may hold a password: never logged"
    finally:
        assert c.stop() == 0
    # the external database is not ours to stop
    assert external_pg.postmaster_pid() is not None


def test_database_killed_and_restarted(tmpdir755, external_pg):
    c = Control(tmpdir755, database=external_pg.dsn).start()
    try:
        wait_until(lambda: c.status()["db_ok"], 30, "db_ok true")
        pid = c.proc.pid
        external_pg.kill()
        wait_until(lambda: c.status()["db_ok"] is False, 30, "db_ok false after the kill")
        code, j = c.api("GET", "/policies")
        assert code == 503 and j["error"] == "database unavailable"
        code, _ = c.api("POST", "/config/import", {"version": 1, "policies": [],
                                                   "lists": [], "local_domains": []})
        assert code == 503
        r = c.ctl("policy", "list")
        assert r.returncode == 3 and "database unavailable" in r.stderr
        r = c.ctl("status")
        assert r.returncode == 0 and "DOWN" in r.stdout
        external_pg.start()
        wait_until(lambda: c.status()["db_ok"], 60, "reconnection (db_ok true)")
        code, rules = c.api("GET", "/policies")
        assert code == 200 and len(rules) == 3
        assert c.proc.alive and c.proc.pid == pid, "reconnected without a restart"
        assert "database connection restored" in c.stderr()
    finally:
        assert c.stop() == 0


def run_control(conf):
    return subprocess.run([control_bin(), "--config", conf], capture_output=True, text=True,
                          timeout=60)


def test_config_errors(tmpdir755):
    c = Control(tmpdir755, extra="colour = blue\n")
    r = run_control(c.conf)
    assert r.returncode == 2
    assert "colour: unknown key in [control]" in r.stderr
    c = Control(tmpdir755, extra="pg_port = 0\n")
    r = run_control(c.conf)
    assert r.returncode == 2 and "pg_port" in r.stderr
    c = Control(tmpdir755)
    with open(c.conf) as f:
        text = f.read().replace("api_listen = 127.0.0.1", "api_listen = ::1")
    with open(c.conf, "w") as f:
        f.write(text)
    r = run_control(c.conf)
    assert r.returncode == 2 and "api_listen" in r.stderr
    assert not os.path.exists(c.state), "nothing created before the config is valid"
