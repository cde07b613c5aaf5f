#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""perf/run.py - the one entry point for every mxgate benchmark.

    /usr/bin/python3 perf/run.py [--build DIR] [--runs N] [--duration S]
                                 [--only NAME ...] [--out DIR] [--smoke] [--list]

Each benchmark is a function registered with @benchmark(NAME). It runs our
program and its peer in the same invocation and returns figures, each built
with figure(): name, unit, which direction is better, our median/min/max over
N runs, the peer's, and the ratio ours/peer. run.py adds the machine (CPU,
cores, kernel, DPDK, build type), the UTC date and the git revision, writes
perf/results/<UTC date>-<rev>.json and draws perf/results/latest.svg.

--smoke runs every benchmark for a moment (about 10 s in all) to prove the
programs start, answer correctly and produce JSON; it writes to
<build>/perf-smoke/ and never touches perf/results/. CI runs only that, and
no timing is ever asserted: the exit status is non-zero only when a program
failed or its output was wrong (e.g. invalid echo replies).

Adding a benchmark (later issues): write a function taking a Ctx and
returning a list of figure(...) dicts, decorate it with @benchmark("name"),
keep its peer in the same function, and describe the method in
perf/README.md. Use ctx.dpdk_prefix() for any DPDK process (unique
--file-prefix, runtime directory removed afterwards) and ctx.run() to start
programs (Ctrl-C is forwarded as SIGINT so they clean up).

Nothing here sends traffic off the machine: DPDK runs on in-process rings and
virtual devices (net_ring, net_null), with --no-huge and --no-pci.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTPMD = "/usr/bin/dpdk-testpmd"

BENCHMARKS = {}


def benchmark(name):
    """Registers a benchmark function under |name| (runs in registration order)."""
    def reg(fn):
        BENCHMARKS[name] = fn
        return fn
    return reg


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------

def summary(samples):
    """Median, min, max of per-run samples."""
    samples = [float(x) for x in samples]
    if not samples:
        raise BenchError("no samples")
    return {"value": statistics.median(samples), "min": min(samples), "max": max(samples),
            "runs": len(samples), "samples": samples}


def figure(name, unit, better, ours, peer, peer_name, what, details=None):
    """One result: |ours| and |peer| are lists of per-run samples (or a single
    value). |better| is "higher" or "lower". ratio = ours / peer, so for
    "higher" figures a ratio below 1 means we are slower than the peer, for
    "lower" figures (cycles) a ratio above 1 means we spend more."""
    o = summary(ours if isinstance(ours, (list, tuple)) else [ours])
    p = summary(peer if isinstance(peer, (list, tuple)) else [peer])
    p["name"] = peer_name
    o.update({"name": name, "unit": unit, "better": better, "what": what, "peer": p,
              "ratio": o["value"] / p["value"] if p["value"] else None,
              "details": details or {}})
    return o


# ---------------------------------------------------------------------------
# Context: options, processes, DPDK runtime directories
# ---------------------------------------------------------------------------

class Ctx:
    def __init__(self, args):
        self.build = os.path.abspath(args.build)
        self.smoke = args.smoke
        self.runs = args.runs
        self.duration = args.duration
        self.warmup = args.warmup
        self.quick = args.quick
        # A smoke run measures nothing: never retry windows there.
        self.max_wait = 100.0 if args.smoke else args.max_wait
        self.max_tries = 1 if args.smoke else args.max_tries
        self.verbose = args.verbose
        self.raw = {}          # benchmark name -> raw outputs kept in the JSON
        self._seq = 0

    def log(self, msg):
        print(f"perf: {msg}", file=sys.stderr, flush=True)

    def binary(self, rel):
        path = os.path.join(self.build, rel)
        if not os.access(path, os.X_OK):
            raise BenchError(f"{path} not found: build it first (ninja -C {self.build})")
        return path

    def dpdk_prefix(self, tag):
        """A --file-prefix unique to this invocation and run."""
        self._seq += 1
        return f"mxg-perf-{os.getpid()}-{self._seq}-{tag}"

    @staticmethod
    def dpdk_cleanup(prefix):
        base = "/var/run/dpdk" if os.geteuid() == 0 else os.path.join(
            os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "dpdk")
        shutil.rmtree(os.path.join(base, prefix), ignore_errors=True)

    def run(self, cmd, timeout, stdout=subprocess.PIPE):
        """Runs |cmd|; returns (rc, stdout, stderr). Ctrl-C is passed on as
        SIGINT, so a DPDK process releases its resources before we go."""
        if self.verbose:
            self.log("$ " + " ".join(cmd))
        p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except (KeyboardInterrupt, subprocess.TimeoutExpired) as e:
            stop(p)
            if isinstance(e, KeyboardInterrupt):
                raise
            raise BenchError(f"{os.path.basename(cmd[0])} did not finish in {timeout:.0f} s")
        return p.returncode, out, err


def stop(p, grace=10):
    if p.poll() is not None:
        return
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def thread_waits(pid):
    """{thread name: runqueue wait ns} for every thread of |pid| (schedstat)."""
    res = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return res
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                res[f"{name}/{tid}"] = int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return res


# ---------------------------------------------------------------------------
# Machine, revision
# ---------------------------------------------------------------------------

def sh(cmd, cwd=None):
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_info(build):
    cpu, flags = "unknown", ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu == "unknown":
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = line.split(":", 1)[1]
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "virtualized": " hypervisor " in f" {flags} ",
        "kernel": platform.release(),
        "os": "Debian " + (open("/etc/debian_version").read().strip()
                           if os.path.exists("/etc/debian_version") else "?"),
        "hostname": platform.node(),
        "dpdk_build": sh(["pkg-config", "--modversion", "libdpdk"]),
        "dpdk_testpmd": sh(["dpkg-query", "-W", "-f=${Version}", "dpdk"]),
        "python": platform.python_version(),
    }
    try:
        with open(os.path.join(build, "meson-info", "intro-buildoptions.json")) as f:
            opts = {o["name"]: o["value"] for o in json.load(f)}
        info["build"] = {k: opts.get(k) for k in ("buildtype", "optimization", "b_sanitize")}
        info["compiler"] = sh(["cc", "--version"]).splitlines()[0]
    except (OSError, ValueError, IndexError):
        info["build"] = None
    return info


def git_rev():
    rev = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]) or "norev"
    # --no-optional-locks: reading the status must not rewrite the index.
    dirty = bool(sh(["git", "--no-optional-locks", "-C", REPO, "status", "--porcelain",
                     "--untracked-files=no"]))
    return rev, dirty


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


# ---------------------------------------------------------------------------
# Benchmark: dataplane echo vs dpdk-testpmd io forwarding
# ---------------------------------------------------------------------------

def dp_bench(ctx, mode, family, size):
    """One mxgate-dp-bench invocation; returns its JSON."""
    exe = ctx.binary("perf/mxgate-dp-bench")
    prefix = ctx.dpdk_prefix(f"dp{mode}{family}-{size}")
    if ctx.smoke:
        runs, dur, warm = 1, 0.3, 0.2
    else:
        runs, dur, warm = ctx.runs, ctx.duration, ctx.warmup
    cmd = [exe, "--mode", mode, "--family", str(family), "--size", str(size),
           "--runs", str(runs), "--duration", str(dur), "--warmup", str(warm),
           "--max-wait", str(ctx.max_wait), "--max-windows", str(min(100, runs * ctx.max_tries)),
           "--file-prefix", prefix]
    try:
        rc, out, err = ctx.run(cmd, timeout=warm + ctx.max_tries * runs * dur + 60)
    finally:
        ctx.dpdk_cleanup(prefix)
    try:
        res = json.loads(out)
    except ValueError:
        raise BenchError(f"mxgate-dp-bench {mode} IPv{family} {size}B (exit {rc}): "
                         f"no JSON; stderr: {err.strip()[-800:]}")
    res["exit"] = rc
    ctx.log(err.strip().splitlines()[-1] if err.strip() else f"dp_bench exit {rc}")
    if rc != 0 or not res["validation"]["ok"]:
        res["error"] = (f"mxgate-dp-bench {mode} IPv{family} {size}B: exit {rc}, "
                        f"validation {res['validation']}, dataplane {res.get('dataplane')}")
    return res


STATS_BLOCK = "Port statistics ===="


def testpmd_blocks(text, nports):
    """Per-second totals of Rx-pps over all ports from --stats-period output."""
    blocks = []
    for chunk in text.split(STATS_BLOCK)[1:]:
        pps = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", chunk)]
        if len(pps) == nports:
            blocks.append(sum(pps))
    return blocks


def fwd_wait_ns(pid):
    """Runqueue wait of testpmd's forwarding lcore thread(s), in ns."""
    return sum(v for k, v in thread_waits(pid).items()
               if k.startswith(("rte-worker", "lcore-worker")))


def testpmd(ctx, size):
    """dpdk-testpmd --forward-mode=io between two net_null ports on one
    forwarding lcore (lcore 1; lcore 0 only prints statistics every second).
    The per-second Rx-pps of both ports are summed; a window is |secs| such
    seconds, discarded like dp_bench's when the forwarding thread waited for
    a CPU more than --max-wait. Returns per-window Mpps and testpmd's own
    cycles/packet (--record-core-cycles, whole run) times the share of the
    run its forwarding thread was on a CPU: testpmd counts a preempted
    iteration's cycles, dp_bench leaves such polls out (PREEMPT_US)."""
    if not os.access(TESTPMD, os.X_OK):
        raise BenchError(f"{TESTPMD} not found (Debian package dpdk)")
    nports = 2
    if ctx.smoke:
        runs, secs, warm = 1, 1, 0
    else:
        runs, secs, warm = ctx.runs, max(1, round(ctx.duration)), max(1, round(ctx.warmup))
    max_windows = runs * ctx.max_tries
    prefix = ctx.dpdk_prefix(f"testpmd-{size}")
    cmd = [TESTPMD, "--no-huge", "-m", "512", "--no-pci", "--no-telemetry",
           "--log-level=lib.eal:warning", "-l", "0,1", "--main-lcore", "0",
           "--file-prefix", prefix,
           f"--vdev=net_null0,size={size}", f"--vdev=net_null1,size={size}",
           "--", "--forward-mode=io", "--nb-cores=1", "--burst=32",
           "--rxd=1024", "--txd=1024", "--total-num-mbufs=16384",
           "--stats-period=1", "--record-core-cycles", "-a"]
    log = tempfile.TemporaryFile(mode="w+")
    if ctx.verbose:
        ctx.log("$ " + " ".join(cmd))
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
    seen = {}        # block index -> (forwarding thread wait ns, time seen)
    windows = []     # (mpps, wait fraction or None)
    try:
        # The first block reads 0 (nothing to diff against yet), then come
        # the warm-up seconds, then the windows.
        deadline = time.monotonic() + 1 + warm + max_windows * secs + 60
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            log.seek(0)
            blocks = testpmd_blocks(log.read(), nports)
            if blocks and len(blocks) - 1 not in seen:
                seen[len(blocks) - 1] = (fwd_wait_ns(p.pid), time.monotonic())
            first = next((i for i, v in enumerate(blocks) if v > 0), None)
            if first is None:
                continue
            windows = []
            s0 = first + warm
            while s0 + secs <= len(blocks) and len(windows) < max_windows:
                a, z = seen.get(s0 - 1), seen.get(s0 + secs - 1)
                wait = (z[0] - a[0]) / ((z[1] - a[1]) * 1e9) if a and z and z[1] > a[1] else None
                windows.append((statistics.mean(blocks[s0:s0 + secs]) / 1e6, wait))
                s0 += secs
            clean = [w for w in windows if w[1] is not None and w[1] * 100 <= ctx.max_wait]
            if len(clean) >= runs or len(windows) >= max_windows:
                break
        end = (fwd_wait_ns(p.pid), time.monotonic())
    except KeyboardInterrupt:
        stop(p)
        ctx.dpdk_cleanup(prefix)
        raise
    stop(p)
    ctx.dpdk_cleanup(prefix)
    log.seek(0)
    text = log.read()
    log.close()
    # Share of the run the forwarding thread spent preempted: testpmd's
    # cycle count includes that time, ours leaves preempted polls out.
    run_wait = 0.0
    if seen and end[1] > seen[min(seen)][1]:
        a = seen[min(seen)]
        run_wait = min(1.0, max(0.0, (end[0] - a[0]) / ((end[1] - a[1]) * 1e9)))
    if not windows:
        raise BenchError(f"dpdk-testpmd (exit {p.returncode}) printed too few statistics; "
                         f"output tail: {text.strip()[-800:]}")
    clean = [w for w in windows if w[1] is not None and w[1] * 100 <= ctx.max_wait]
    use = clean[:runs] or windows
    m = re.search(r"CPU cycles/packet=([\d.]+).*?at (\d+) MHz", text)
    if not m:
        raise BenchError("dpdk-testpmd printed no 'CPU cycles/packet' line")
    res = {"mpps": [w[0] for w in use],
           "cycles_per_pkt": float(m.group(1)) * (1 - run_wait),
           "cycles_per_pkt_reported": float(m.group(1)),
           "run_runq_wait_pct": round(100 * run_wait, 3),
           "tsc_mhz": int(m.group(2)), "windows": len(windows), "clean_windows": len(clean),
           "runq_wait_pct": [None if w[1] is None else round(100 * w[1], 3) for w in windows],
           "all_mpps": [w[0] for w in windows], "exit": p.returncode}
    ctx.log(f"dpdk-testpmd io net_null {size}B: {statistics.median(res['mpps']):.2f} Mpps, "
            f"{res['cycles_per_pkt']:.1f} cycles/pkt ({len(clean)} of {len(windows)} windows "
            f"clean)")
    return res


def dp_details(ctx, r):
    keep = ("worker_busy_pct", "gen_busy_pct", "worker_runq_wait_pct", "gen_runq_wait_pct",
            "pkts_per_busy_poll")
    d = {k: r[k]["median"] for k in keep if k in r}
    d["cycles_per_pkt_samples"] = r["cycles_per_pkt"]["samples"]
    # What one core would sustain if it were never short of packets nor of
    # CPU: robust on a busy machine, unlike the measured Mpps.
    d["capacity_mpps"] = r["tsc_hz"] / r["cycles_per_pkt"]["median"] / 1e6 \
        if r["cycles_per_pkt"]["median"] else None
    d["windows"] = {"used": r["runs"], "measured": r["windows"], "clean": r["clean_windows"]}
    # disturbed: no clean window, the figures measure the machine;
    # short: fewer clean windows than --runs, the median rests on fewer runs.
    d["disturbed"] = r["clean_windows"] == 0 and not ctx.smoke
    d["short"] = r["clean_windows"] < ctx.runs and not ctx.smoke
    d["validation"] = r["validation"]
    d["dataplane"] = r.get("dataplane")
    return d


@benchmark("dataplane")
def bench_dataplane(ctx):
    """Echo rate of the dataplane worker (dp_worker_poll: rx -> tcps_if ICMP
    echo -> tx) on net_ring, its own null loop, and dpdk-testpmd io-forward
    on net_null: per core, same run."""
    sizes = [64] if ctx.smoke or ctx.quick else [64, 1514]
    families = [4, 6]
    figs, errors, raw = [], [], {}
    peer = {}
    for size in sizes:
        peer[size] = testpmd(ctx, size)
        raw[f"testpmd_{size}"] = peer[size]
    null = dp_bench(ctx, "null", 4, 64)
    raw["null_64"] = null
    echo = {}
    for size in sizes:
        for fam in families:
            echo[(fam, size)] = r = dp_bench(ctx, "echo", fam, size)
            raw[f"echo{fam}_{size}"] = r
    for r in [null] + list(echo.values()):
        if "error" in r:
            errors.append(r["error"])
    if "error" in null:
        null = None

    peer_name = "dpdk-testpmd io, net_null x2, 1 fwd core"
    for (fam, size), r in echo.items():
        if "error" in r:
            continue
        d = dp_details(ctx, r)
        if null and size == 64:
            d["l2l3_cycles_per_pkt"] = (r["cycles_per_pkt"]["median"]
                                        - null["cycles_per_pkt"]["median"])
        tp = peer[size]
        d["peer_capacity_mpps"] = tp["tsc_mhz"] / tp["cycles_per_pkt"]
        d["peer_windows"] = {"used": len(tp["mpps"]), "measured": tp["windows"],
                             "clean": tp["clean_windows"]}
        d["disturbed"] = d["disturbed"] or (tp["clean_windows"] == 0 and not ctx.smoke)
        d["short"] = d["short"] or (tp["clean_windows"] < ctx.runs and not ctx.smoke)
        figs.append(figure(
            f"dp_echo_ipv{fam}_{size}B_mpps", "Mpps", "higher",
            r["mpps"]["samples"], tp["mpps"], peer_name,
            f"ICMP{'v6' if fam == 6 else ''} echo replies/s of one dataplane worker "
            f"({size}-byte frames) vs testpmd bare io forwarding", d))
        figs.append(figure(
            f"dp_echo_ipv{fam}_{size}B_cycles", "cycles/pkt", "lower",
            r["cycles_per_pkt"]["samples"], tp["cycles_per_pkt"], peer_name,
            f"worker TSC cycles per echoed packet ({size} B) vs testpmd io cycles per "
            f"forwarded packet",
            {"worker_busy_pct": d.get("worker_busy_pct"), "disturbed": d["disturbed"],
             "short": d["short"]}))
    if null:
        d = dp_details(ctx, null)
        d["disturbed"] = d["disturbed"] or (peer[64]["clean_windows"] == 0 and not ctx.smoke)
        d["short"] = d["short"] or (peer[64]["clean_windows"] < ctx.runs and not ctx.smoke)
        figs.append(figure(
            "dp_null_64B_mpps", "Mpps", "higher", null["mpps"]["samples"], peer[64]["mpps"],
            peer_name, "like for like: the same harness with the worker doing bare "
            "rx_burst->tx_burst (no L2/L3) vs testpmd io", d))
        figs.append(figure(
            "dp_null_64B_cycles", "cycles/pkt", "lower", null["cycles_per_pkt"]["samples"],
            peer[64]["cycles_per_pkt"], peer_name,
            "worker cycles per packet for bare rx->tx on the ring port vs testpmd io on "
            "net_null", {"worker_busy_pct": d.get("worker_busy_pct"),
                         "disturbed": d["disturbed"], "short": d["short"]}))
    ctx.raw["dataplane"] = raw
    if errors:
        raise BenchError("; ".join(errors), figs)
    return figs


# ---------------------------------------------------------------------------
# Benchmark: compiled policy vs walking the snapshot's JSON per message
# ---------------------------------------------------------------------------

@benchmark("policy")
def bench_policy(ctx):
    """Policy evaluation cost per message (perf/policy_bench.c): pol_eval on
    the compiled snapshot vs the same evaluation walking the JSON document
    with jansson, for 10/100/1000 rules and 1/10 recipients. No DPDK."""
    exe = ctx.binary("perf/policy-bench")
    if ctx.smoke:
        args = ["--smoke"]
    else:
        # 12 timed loops per run (6 cases, 2 sides): keep a run short
        args = ["--runs", str(ctx.runs), "--duration", str(min(ctx.duration, 0.5))]
    rc, out, err = ctx.run([exe] + args, timeout=600)
    if rc != 0 and not out.strip():
        raise BenchError(f"policy-bench exited {rc}: {err.strip()[-300:]}")
    try:
        r = json.loads(out)
    except ValueError:
        raise BenchError(f"policy-bench: no JSON on stdout ({err.strip()[-300:]})")
    ctx.raw["policy"] = r
    figs = []
    peer_name = "same rules walked as JSON (jansson), regexes precompiled"
    for c in r["cases"]:
        figs.append(figure(
            f"policy_{c['rules']}rules_{c['rcpts']}rcpt", "ns/msg", "lower",
            c["compiled_ns"], c["naive_ns"], peer_name,
            f"wall time to evaluate one message for {c['rcpts']} recipient(s) against "
            f"{c['rules']} rules (mixed: addresses, 1000-entry list, subject regex, "
            f"virus, DLP, attachments, size)",
            {"agree": c["agree"], "matched": c["matched"]}))
    if rc != 0 or not r.get("agree"):
        raise BenchError("policy-bench: the compiled and the JSON evaluation disagree", figs)
    return figs


# ---------------------------------------------------------------------------
# Chart
# ---------------------------------------------------------------------------

def draw(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"     # text stays text: small, diffable SVG
    plt.rcParams["svg.hashsalt"] = "mxgate"
    figs = result["figures"]
    units = []
    for f in figs:
        if f["unit"] not in units:
            units.append(f["unit"])
    if not figs:
        return
    fig, axes = plt.subplots(len(units), 1, figsize=(11, 3.6 * len(units)), squeeze=False)
    for ax, unit in zip(axes[:, 0], units):
        sel = [f for f in figs if f["unit"] == unit]
        xs = range(len(sel))
        w = 0.38
        for off, key, color in ((-w / 2, None, "#2b6cb0"), (w / 2, "peer", "#a0aec0")):
            vals = [(f[key] if key else f) for f in sel]
            v = [x["value"] for x in vals]
            lo = [x["value"] - x["min"] for x in vals]
            hi = [x["max"] - x["value"] for x in vals]
            bars = ax.bar([x + off for x in xs], v, w, yerr=[lo, hi], capsize=3, color=color)
            for bar, f in zip(bars, sel):
                if f["details"].get("disturbed"):
                    bar.set_hatch("//")
                    bar.set_edgecolor("white")
        for x, f in zip(xs, sel):
            if f["ratio"] is not None:
                top = max(f["max"], f["peer"]["max"])
                ax.annotate(f"{f['ratio']:.2f}x", (x, top), ha="center", va="bottom",
                            fontsize=8, xytext=(0, 2), textcoords="offset points")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.1)   # room for the ratio labels
        ax.set_xticks(list(xs))
        ax.set_xticklabels([f["name"] for f in sel], rotation=15, ha="right", fontsize=8)
        better = sel[0]["better"]
        ax.set_ylabel(f"{unit} ({better} is better)")
        ax.grid(axis="y", alpha=0.3)
    from matplotlib.patches import Patch
    fig.legend(handles=[Patch(color="#2b6cb0", label="mxgate"),
                        Patch(color="#a0aec0", label="peer")], loc="upper right", fontsize=8)
    m = result["machine"]
    peers = sorted({f["peer"]["name"] for f in figs})
    hatched = any(f["details"].get("disturbed") for f in figs)
    fig.suptitle(f"mxgate {result['git']['rev']}{'-dirty' if result['git']['dirty'] else ''} "
                 f"{result['date']}  |  {m['cpu']}, {m['cpus']} CPUs, {m['kernel']}, "
                 f"DPDK {m['dpdk_build']}\npeer: {'; '.join(peers)}  "
                 f"(bars: median, whiskers: min..max, label: ours/peer"
                 f"{'; hatched: disturbed by other processes' if hatched else ''})",
                 fontsize=9, x=0.45)
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})
    plt.close(fig)


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def on_term(sig, frame):
    raise KeyboardInterrupt


def main():
    # Started in the background, a shell leaves SIGINT ignored: take it back,
    # and treat SIGTERM alike, so DPDK children are always stopped cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)
    ap = argparse.ArgumentParser(description="Run every mxgate benchmark (see perf/README.md).")
    ap.add_argument("--build", default=os.path.join(REPO, "build"),
                    help="meson build directory holding the binaries (default: <repo>/build)")
    ap.add_argument("--runs", type=int, default=5, help="measured runs per figure (default 5)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per run (default 5)")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds before the first run")
    ap.add_argument("--max-wait", type=float, default=3.0, metavar="PCT",
                    help="discard a run in which a measured lcore waited for a CPU more "
                    "than PCT%% of the time (other processes) and measure another")
    ap.add_argument("--max-tries", type=int, default=3, metavar="F",
                    help="measure at most F x --runs windows per case (default 3)")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run only this benchmark (repeatable)")
    ap.add_argument("--quick", action="store_true", help="fewer cases (64-byte frames only)")
    ap.add_argument("--out", help="results directory (default perf/results, "
                    "or <build>/perf-smoke with --smoke)")
    ap.add_argument("--smoke", action="store_true",
                    help="a few seconds in all: check that the programs work and write JSON")
    ap.add_argument("--no-chart", action="store_true")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.list:
        for name, fn in BENCHMARKS.items():
            print(f"{name}: {' '.join((fn.__doc__ or '').split())}")
        return 0
    if args.runs < 1 or args.duration <= 0 or args.max_tries < 1:
        ap.error("--runs, --duration and --max-tries must be positive")
    names = args.only or list(BENCHMARKS)
    for n in names:
        if n not in BENCHMARKS:
            ap.error(f"unknown benchmark {n!r} (--list)")
    if not os.path.isdir(os.path.join(args.build, "meson-info")):
        ap.error(f"{args.build} is not a meson build directory (--build)")
    ctx = Ctx(args)
    out_dir = args.out or (os.path.join(ctx.build, "perf-smoke") if args.smoke
                           else os.path.join(REPO, "perf", "results"))
    os.makedirs(out_dir, exist_ok=True)

    now = datetime.datetime.now(datetime.timezone.utc)
    rev, dirty = git_rev()
    result = {
        "schema": 1,
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": {"rev": rev, "dirty": dirty},
        "smoke": args.smoke,
        "settings": {"runs": 1 if args.smoke else args.runs, "max_wait_pct": args.max_wait,
                     "max_tries": args.max_tries,
                     "duration_s": None if args.smoke else args.duration,
                     "warmup_s": None if args.smoke else args.warmup, "build": ctx.build},
        "machine": machine_info(ctx.build),
        "loadavg_start": loadavg(),
        "benchmarks": {},
        "figures": [],
    }
    failed = 0
    for name in names:
        t0 = time.monotonic()
        ctx.log(f"{name}: running")
        entry = {"ok": True, "error": None}
        try:
            figs = BENCHMARKS[name](ctx)
        except BenchError as e:
            entry.update(ok=False, error=str(e.args[0]))
            figs = e.args[1] if len(e.args) > 1 else []
            failed += 1
            ctx.log(f"{name}: FAILED: {e.args[0]}")
        except KeyboardInterrupt:
            ctx.log("interrupted")
            return 130
        entry["seconds"] = round(time.monotonic() - t0, 1)
        entry["raw"] = ctx.raw.get(name)
        result["benchmarks"][name] = entry
        for f in figs:
            f["benchmark"] = name
        result["figures"].extend(figs)
    result["loadavg_end"] = loadavg()

    path = os.path.join(out_dir, f"{now.strftime('%Y-%m-%dT%H%M%SZ')}-{rev}"
                        f"{'-dirty' if dirty else ''}{'-smoke' if args.smoke else ''}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)
    ctx.log(f"wrote {os.path.relpath(path)}")
    for f in result["figures"]:
        ratio = f"{f['ratio']:.3f}" if f["ratio"] is not None else "-"
        print(f"{f['name']:<28} {f['value']:10.2f} {f['unit']:<11} "
              f"[{f['min']:.2f}..{f['max']:.2f}]  peer {f['peer']['value']:10.2f}  "
              f"ratio {ratio}")
    disturbed = [f["name"] for f in result["figures"] if f["details"].get("disturbed")]
    short = [f["name"] for f in result["figures"] if f["details"].get("short")]
    if short:
        ctx.log(f"note: {', '.join(short)}: fewer clean runs than --runs (busy machine)")
    if disturbed:
        ctx.log(f"WARNING: {len(disturbed)} figures come only from runs where other processes "
                f"took the CPUs (runqueue wait > {ctx.max_wait}%): they measure the machine; "
                f"re-run on a quiet box")
    if not args.no_chart:
        chart = os.path.join(out_dir, "latest.svg")
        try:
            draw(result, chart)
            ctx.log(f"wrote {os.path.relpath(chart)}")
        except ImportError as e:
            ctx.log(f"no chart: {e} (apt-get install python3-matplotlib)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
