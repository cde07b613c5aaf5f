"""Self-tests of the harness (tests/lib/mxgtest): whatever a test creates
is removed when it fails, when the run is interrupted (SIGINT/SIGTERM), and
-- for a run that was SIGKILLed -- by the next run's sweep. Needs no
dataplane."""

import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

from mxgtest import names
from mxgtest.net import Netem, Netns, Tap, VethPair, netem_available, run
from mxgtest.proc import Process, ProcessExited

LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib")


def netns_exists(name):
    return name in run(["ip", "netns", "list"]).stdout.split()


def test_resources_removed_after_exception():
    created = {}
    with pytest.raises(RuntimeError, match="boom"):
        with Netns() as a, Netns() as b:
            created["ns"] = (a.name, b.name)
            with VethPair(a, b) as v, Tap(a) as t:
                created["veth"], created["tap"] = v, t
                a.link_up(v.a)
                assert a.link_exists(t.name) and b.link_exists(v.b)
                raise RuntimeError("boom")
    for ns in created["ns"]:
        assert not netns_exists(ns)


def test_netem_removed_on_exit(netns):
    if not netem_available():
        pytest.skip("kernel without netem (CONFIG_NET_SCH_NETEM): link impairment "
                    "tests cannot run here")
    with Tap(netns) as t:
        netns.link_up(t.name)
        with Netem(netns, t.name, "delay 2ms loss 0.1%"):
            qd = run(["tc", "-n", netns.name, "qdisc", "show", "dev", t.name]).stdout
            assert "netem" in qd
        qd = run(["tc", "-n", netns.name, "qdisc", "show", "dev", t.name]).stdout
        assert "netem" not in qd
    assert not netns.link_exists(t.name)


def test_process_lines_and_stop():
    p = Process(["sh", "-c", "echo starting; echo ready-now; exec sleep 60"], name="sleeper")
    with p:
        assert p.wait_for_line("ready-now", timeout=10) == "ready-now"
        m = p.wait_for_line(re.compile(r"^start(\w+)"), timeout=1)
        assert m.group(1) == "ing"
    assert p.returncode == -signal.SIGTERM
    assert not p.killed


def test_process_exit_before_line_is_reported():
    with Process(["sh", "-c", "echo oops >&2; exit 3"], name="quitter") as p:
        with pytest.raises(ProcessExited, match="exited with 3"):
            p.wait_for_line("never", timeout=10)
        assert "oops" in p.output("stderr")


def test_process_in_netns_sees_only_its_links(netns):
    with VethPair(netns, None) as v:
        with Process(["ip", "-o", "link"], netns=netns) as p:
            p.wait(10)
        out = p.output()
        assert v.a in out and v.b not in out


CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {lib!r})
    from mxgtest import install_signal_handlers, Netns, VethPair, Process
    install_signal_handlers()
    with Netns() as a, Netns() as b, VethPair(a, b) as v:
        p = Process(["sleep", "300"], netns=a).start()
        print("NAMES", a.name, b.name, v.a, p.pid, flush=True)
        time.sleep(300)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL],
                         ids=["SIGTERM", "SIGINT", "SIGKILL"])
def test_interrupted_run_leaves_nothing(tmp_path, sig):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(lib=LIB))
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = child.stdout.readline()
        assert line.startswith("NAMES"), line + child.stderr.read()
        _, ns_a, ns_b, veth, pid = line.split()
        assert netns_exists(ns_a) and netns_exists(ns_b)
        os.kill(child.pid, sig)
        child.wait(30)
        if sig == signal.SIGKILL:
            # Nothing ran in the child: its peer died with it (parent-death
            # signal) and the next run's sweep removes the rest.
            child_pid = int(re.match(r"mxg(\d+)-", ns_a).group(1))
            assert child_pid == child.pid
            removed = names.sweep_stale(own_ok=True)
            assert f"netns {ns_a}" in removed and f"netns {ns_b}" in removed
        assert not netns_exists(ns_a) and not netns_exists(ns_b)
        assert not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
