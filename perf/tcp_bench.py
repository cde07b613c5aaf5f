#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""perf/tcp_bench.py - tcpstack through the dataplane vs the Linux kernel
TCP stack, same topology type, same client, same invocation (issue 3,
"Benchmark").

    /usr/bin/python3 perf/tcp_bench.py [--build DIR] [--runs N] [--duration S]
                                       [--pmd af_xdp|tap] [--smoke] [--out FILE]
                                       [--profile DIR] [--dp-opt KEY=VALUE]

Topology (both sides, built with tests/lib/mxgtest, all in namespaces of
this run, 198.18.60-61.0/24 and 2001:db8:3c-3d::/64):

  ours:  client ns --veth--> ns_dp: mxgate-dataplane (net_af_xdp on the
         veth, 1 worker lcore, test_services = yes: RFC 863 discard :9,
         RFC 862 echo :7), adaptive idle as shipped
  peer:  client ns --veth--> server ns: `tcpb serve` (one thread, epoll,
         kernel sockets: discard :9, echo :7)

The client is the same program on both: `tcpb` (C, embedded below and
compiled with cc at start), pinned to CPU 0; the kernel server is pinned to
CPU 1, where the dataplane's worker lcore runs. The client's veth has
transmit checksum offload (hence TSO) off on BOTH sides: the AF_XDP path
needs it (tests/integration/tcp/tcputil.py explains why), and the peer gets
the same client so the comparison holds the client constant. The kernel
peer's own veth keeps its defaults (GRO off as veth ships, GSO on).

Both servers are up for the whole run and the runs are interleaved (run
i: ours bulk, kernel bulk, ours cps, kernel cps), so drift in the load of
a shared machine hits both alike; the side not measured is SIGSTOPped.

Figures (median/min/max of N runs, ratio ours/peer):
  tcp_bulk_<pmd>_MBps      client -> discard, 64 KiB writes for S seconds,
                           bytes / time until the server's FIN (MB/s)
  tcp_conn_<pmd>_cps       connections/s: 64 in flight, each connects,
                           sends 32 B, reads the echo, closes (FIN first
                           from the client; the server side finishes its
                           LAST_ACK asynchronously)
  tcp_bulk_<pmd>_{server,total}_cycles_per_pkt, _total_cycles_per_kB,
  tcp_conn_<pmd>_server_cycles_per_{conn,pkt}, _total_cycles_per_conn
                           cycles = on-CPU time x the clock of
                           /proc/cpuinfo (no PMU in the VM); server = the
                           dataplane's worker thread or the tcpb serve
                           thread (schedstat), total = server + the tcpb
                           client (rusage); packets = rx + tx of the
                           client's veth. On a veth the sender's syscall
                           runs the receiver's softirq: the worker's TX
                           kick carries the client's ACK processing and
                           next transmit (docs/tcp.md, "Benchmark").
JSON: {"figures": [...]} with run.py's figure() fields; run.py can register
bench_tcp (see the note at the end of this file).

What bounds the numbers here: 2 vCPUs shared by the client, the server
and the kernel's softirq work (for the kernel peer, the receive path runs
on the client's CPU, in the veth's backlog); veth is a memory copy per
frame; AF_XDP on veth runs in copy mode (XDP_COPY: one copy each way in
the kernel plus sendto() per TX burst); the dataplane's adaptive idle sleeps
up to idle_max_us when the queue is empty. None of this is a NIC: the
figures compare the stacks on this box, not line rate.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

TCPB_C = r"""/* tcpb - kernel-socket peer and client of perf/tcp_bench.py (embedded there). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds of this process (user + system, which includes the
 * softirq work the kernel does on our behalf in syscall context). */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *sl)
{
	struct addrinfo h = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *r;
	char p[16];
	snprintf(p, sizeof(p), "%d", port);
	if (getaddrinfo(host, p, &h, &r))
		return -1;
	memcpy(ss, r->ai_addr, r->ai_addrlen);
	*sl = r->ai_addrlen;
	freeaddrinfo(r);
	return 0;
}

/* serve ADDR: echo on 7, discard on 9, one thread, epoll. */
static int serve(const char *addr)
{
	int ep = epoll_create1(0), one = 1;
	int lfd[2], ports[2] = {7, 9};
	static char buf[1 << 16];
	struct epoll_event ev, evs[256];

	for (int i = 0; i < 2; i++) {
		struct sockaddr_storage ss;
		socklen_t sl;
		if (resolve(addr, ports[i], &ss, &sl))
			return 2;
		lfd[i] = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
		setsockopt(lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(lfd[i], (struct sockaddr *)&ss, sl) || listen(lfd[i], 4096)) {
			perror("bind/listen");
			return 2;
		}
		ev.events = EPOLLIN;
		ev.data.u64 = (uint64_t)i << 32 | (uint32_t)lfd[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &ev);
	}
	printf("tcpb: serving\n");
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int k = 0; k < n; k++) {
			int fd = (int)(uint32_t)evs[k].data.u64, kind = (int)(evs[k].data.u64 >> 32);
			if (fd == lfd[0] || fd == lfd[1]) {
				int c;
				while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					ev.events = EPOLLIN;
					ev.data.u64 = (uint64_t)kind << 32 | (uint32_t)c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(fd, buf, sizeof(buf));
				if (r > 0) {
					/* echo: blocking-ish write of what was read (the
					 * client reads concurrently) */
					ssize_t off = 0;
					while (kind == 0 && off < r) {
						ssize_t w = write(fd, buf + off, r - off);
						if (w > 0)
							off += w;
						else if (w < 0 && errno != EAGAIN)
							break;
					}
					continue;
				}
				if (r == 0 || errno != EAGAIN)
					close(fd);
				break;
			}
		}
	}
}

/* bulk ADDR PORT SECONDS: writes 64 KiB chunks for SECONDS, then shuts
 * down and waits for the server's FIN; prints bytes and seconds. */
static int bulk(const char *addr, int port, double secs)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	static char buf[1 << 16];
	long long sent = 0;
	int fd;
	double t0, t1;

	if (resolve(addr, port, &ss, &sl))
		return 2;
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&ss, sl)) {
		perror("connect");
		return 1;
	}
	memset(buf, 0x5a, sizeof(buf));
	t0 = now();
	while ((t1 = now()) - t0 < secs) {
		ssize_t w = write(fd, buf, sizeof(buf));
		if (w <= 0) {
			perror("write");
			return 1;
		}
		sent += w;
	}
	shutdown(fd, SHUT_WR);
	if (read(fd, buf, sizeof(buf)) != 0) {
		fprintf(stderr, "no orderly EOF\n");
		return 1;
	}
	t1 = now();
	printf("{\"bytes\": %lld, \"seconds\": %.6f, \"cpu_s\": %.6f}\n", sent, t1 - t0,
	       cpu_s());
	return 0;
}

/* cps ADDR PORT SECONDS CONC: keeps CONC connections in flight; each
 * connects, sends 32 bytes, reads them back, closes (FIN). Counts
 * completed connections. */
struct cc { int fd; int got; };
static int cps(const char *addr, int port, double secs, int conc)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int ep = epoll_create1(0);
	struct cc *c = calloc(conc, sizeof(*c));
	struct epoll_event ev, evs[256];
	char msg[32], buf[64];
	long long done = 0, errs = 0;
	double t0;

	memset(msg, 'x', sizeof(msg));
	if (resolve(addr, port, &ss, &sl))
		return 2;
	t0 = now();
#define START(i) do { \
	c[i].fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0); c[i].got = -1; \
	connect(c[i].fd, (struct sockaddr *)&ss, sl); \
	ev.events = EPOLLOUT; ev.data.u32 = i; epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev); } while (0)
	for (int i = 0; i < conc; i++)
		START(i);
	while (now() - t0 < secs) {
		int n = epoll_wait(ep, evs, 256, 100);
		for (int k = 0; k < n; k++) {
			int i = evs[k].data.u32;
			int err = 0;
			socklen_t el = sizeof(err);
			if (c[i].got < 0) {
				getsockopt(c[i].fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err || write(c[i].fd, msg, sizeof(msg)) != sizeof(msg)) {
					errs++;
					close(c[i].fd);
					START(i);
					continue;
				}
				c[i].got = 0;
				ev.events = EPOLLIN;
				ev.data.u32 = i;
				epoll_ctl(ep, EPOLL_CTL_MOD, c[i].fd, &ev);
				continue;
			}
			ssize_t r = read(c[i].fd, buf, sizeof(buf));
			if (r > 0)
				c[i].got += r;
			if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
				errs++;
				close(c[i].fd);
				START(i);
				continue;
			}
			if (c[i].got >= (int)sizeof(msg)) {
				done++;
				close(c[i].fd);
				START(i);
			}
		}
	}
	printf("{\"conns\": %lld, \"errors\": %lld, \"seconds\": %.6f, \"cpu_s\": %.6f}\n",
	       done, errs, now() - t0, cpu_s());
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && !strcmp(argv[1], "serve"))
		return serve(argv[2]);
	if (argc >= 5 && !strcmp(argv[1], "bulk"))
		return bulk(argv[2], atoi(argv[3]), atof(argv[4]));
	if (argc >= 6 && !strcmp(argv[1], "cps"))
		return cps(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]));
	fprintf(stderr, "usage: tcpb serve ADDR | bulk ADDR PORT S | cps ADDR PORT S CONC\n");
	return 2;
}
"""


def summary(samples):
    samples = [float(x) for x in samples]
    return {"value": statistics.median(samples), "min": min(samples), "max": max(samples),
            "runs": len(samples), "samples": samples}


def figure(name, unit, better, ours, peer, peer_name, what, details=None):
    """Same fields as perf/run.py figure()."""
    o, p = summary(ours), summary(peer)
    p["name"] = peer_name
    o.update({"name": name, "unit": unit, "better": better, "what": what, "peer": p,
              "ratio": o["value"] / p["value"] if p["value"] else None,
              "details": details or {}})
    return o


class BenchError(Exception):
    pass


def build_tcpb(tmp):
    src = os.path.join(tmp, "tcpb.c")
    exe = os.path.join(tmp, "tcpb")
    with open(src, "w") as f:
        f.write(TCPB_C)
    subprocess.run(["cc", "-O2", "-o", exe, src], check=True)
    return exe


def cpu_hz():
    """Clock used to turn CPU time into cycles. This VM has no PMU
    (`perf stat -e cycles` says <not supported>), so cycles are on-CPU
    nanoseconds (schedstat, rusage) times the clock the kernel reports."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) * 1e6
    raise BenchError("no 'cpu MHz' in /proc/cpuinfo")


def thread_cpu_ns(pid, tid):
    """Nanoseconds thread |tid| of |pid| has run on a CPU (schedstat field 1:
    exact, unlike the 10 ms ticks of stat's utime/stime)."""
    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
        return int(f.read().split()[0])


def thread_user_s(pid, tid):
    """User-mode CPU seconds of the thread (stat field 14, clock ticks):
    for ours the dataplane's own work (tcpstack, PMD rings), without the
    kernel work its syscalls carry (a veth runs the receiver's softirq in
    the sender's syscall)."""
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / os.sysconf("SC_CLK_TCK")


def worker_tid(pid):
    """The dataplane's worker lcore thread (DPDK 22.11 names it rte-worker-N)."""
    for tid in sorted(os.listdir(f"/proc/{pid}/task")):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            if f.read().startswith(("rte-worker", "lcore-worker")):
                return int(tid)
    raise BenchError(f"no rte-worker thread in dataplane pid {pid}")


def link_pkts(ns, dev):
    """rx + tx packets of |dev| in |ns| (the client's veth: same count on
    both sides of the comparison, whatever the server is)."""
    p = subprocess.run(["ip", "-n", str(ns), "-j", "-s", "link", "show", "dev", dev],
                       capture_output=True, text=True, check=True)
    st = json.loads(p.stdout)[0]["stats64"]
    return st["rx"]["packets"] + st["tx"]["packets"]


class Side:
    """One server under test: where its client runs, which thread serves,
    and how to keep it out of the other side's measurement."""

    def __init__(self, name, ns, dev, addr, pid, tid, freeze):
        self.name, self.ns, self.dev, self.addr = name, ns, dev, addr
        self.pid, self.tid, self.freeze = pid, tid, freeze

    def pause(self):
        # Only the polling dataplane needs it: an idle adaptive worker
        # still wakes every idle_max_us, on the kernel server's CPU.
        if self.freeze:
            os.kill(self.pid, signal.SIGSTOP)

    def resume(self):
        if self.freeze:
            os.kill(self.pid, signal.SIGCONT)


def run_client(ns, tcpb, args, timeout):
    p = subprocess.run(["ip", "netns", "exec", str(ns), "taskset", "-c", "0", tcpb] + args,
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise BenchError(f"tcpb {' '.join(args)}: {p.stderr.strip()}")
    return json.loads(p.stdout)


def one(side, tcpb, args, duration, hz, profile=None):
    """Runs one client invocation against |side| and returns its result
    with the server thread's and the client's cycles and the packets."""
    pk0, s0 = link_pkts(side.ns, side.dev), thread_cpu_ns(side.pid, side.tid)
    u0 = thread_user_s(side.pid, side.tid)
    prof = None
    if profile:
        prof = subprocess.Popen(["perf", "record", "-q", "-F", "4999", "-g", "-t",
                                 str(side.tid), "-o", profile],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r = run_client(side.ns, tcpb, args + [str(duration)] + (["64"] if args[0] == "cps"
                                                                 else []), duration + 60)
    finally:
        if prof:
            prof.send_signal(signal.SIGINT)
            prof.wait(timeout=60)
    s1, pk1 = thread_cpu_ns(side.pid, side.tid), link_pkts(side.ns, side.dev)
    r["pkts"] = pk1 - pk0
    r["server_cycles"] = (s1 - s0) * 1e-9 * hz
    r["server_user_cycles"] = (thread_user_s(side.pid, side.tid) - u0) * hz
    r["client_cycles"] = r["cpu_s"] * hz
    return r


def measure(sides, tcpb, runs, duration, hz, profile_dir=None):
    """Interleaved: run i measures every side's bulk and then every side's
    connection rate before run i + 1, so slow drift in the load of this
    shared machine hits both sides alike. The side not measured is paused
    (Side.pause)."""
    res = {s.name: {"bulk": [], "cps": []} for s in sides}
    for s in sides:
        s.pause()
    for i in range(runs):
        for kind, args in (("bulk", ["bulk", None, "9"]), ("cps", ["cps", None, "7"])):
            for s in sides:
                a = list(args)
                a[1] = s.addr
                prof = None
                if profile_dir and i == 0 and s.freeze:
                    prof = os.path.join(profile_dir, f"tcp_{kind}.perf.data")
                s.resume()
                try:
                    r = one(s, tcpb, a, duration, hz, prof)
                finally:
                    s.pause()
                if kind == "cps" and r["conns"] == 0:
                    raise BenchError(f"no connection completed against {s.name}: {r}")
                res[s.name][kind].append(r)
    for s in sides:
        s.resume()
    return res


def client_sysctls(ns):
    # client-side TIME_WAIT reuse: the connection test opens ~10^5
    # connections from one address (identical on both sides)
    ns.sysctl("net.ipv4.tcp_tw_reuse", 1)
    ns.sysctl("net.ipv4.ip_local_port_range", "10000 65000")


def ours(stack, args, workdir):
    from mxgtest.topo import AfXdpGateway, TapGateway
    dp = {"test_services": "yes", "eal_args": "--no-huge -m 256 --no-pci -l 0,1"}
    dp.update(args.dp_opt)
    binary = os.path.join(args.build, "dataplane", "mxgate-dataplane")
    if args.pmd == "af_xdp":
        gw = AfXdpGateway(binary, workdir, os.path.join(args.build, "bpf", "xpf.bpf.o"),
                          subnet=60, dataplane=dp)
    else:
        gw = TapGateway(binary, workdir, subnet=60, dataplane=dp)
    stack.enter_context(gw)
    if gw.kind == "af_xdp":
        gw.peer_ns.exec(["ethtool", "-K", gw.peer_dev, "tx", "off"])
    client_sysctls(gw.peer_ns)
    return gw, Side("ours", gw.peer_ns, gw.peer_dev, gw.gw4, gw.dp.pid,
                    worker_tid(gw.dp.pid), True)


def peer(stack, tcpb):
    from mxgtest.net import Netns, VethPair
    from mxgtest.proc import Process
    srv = stack.enter_context(Netns())
    cli = stack.enter_context(Netns())
    v = stack.enter_context(VethPair(srv, cli))
    srv.add_addr(v.a, "198.18.61.1/24")
    cli.add_addr(v.b, "198.18.61.2/24")
    srv.link_up(v.a)
    cli.link_up(v.b)
    cli.exec(["ethtool", "-K", v.b, "tx", "off"])
    client_sysctls(cli)
    p = Process(["taskset", "-c", "1", tcpb, "serve", "198.18.61.1"], name="tcpb-serve",
                netns=str(srv))
    p.start()
    stack.callback(p.stop)
    p.wait_for_line("tcpb: serving", timeout=10)
    return Side("kernel", cli, v.b, "198.18.61.1", p.pid, p.pid, False)


def per(rs, what, unit_key):
    return [r[what] / r[unit_key] for r in rs]


def bench_tcp(args, log=print):
    import contextlib
    tmp = tempfile.mkdtemp(prefix="mxg-tcpbench-")
    hz = cpu_hz()
    try:
        tcpb = build_tcpb(tmp)
        with contextlib.ExitStack() as stack:
            log(f"tcp_bench: ours ({args.pmd}) and the kernel peer, {args.runs} x "
                f"{args.duration} s interleaved ...")
            gw, so = ours(stack, args, tmp)
            sp = peer(stack, tcpb)
            before = gw.dp.query("/mxgate/tcp")
            res = measure([so, sp], tcpb, args.runs, args.duration, hz, args.profile)
            after = gw.dp.query("/mxgate/tcp")
            tcp = {k: after[k] - before[k] for k in after if isinstance(after[k], int)}
            workers = gw.dp.query("/mxgate/workers")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.profile:
        report_profiles(args.profile, log)
    o, k = res["ours"], res["kernel"]
    peer_name = "Linux kernel TCP, tcpb epoll server (1 thread, CPU 1), veth"
    d = {"ours": {"raw": o, "tcpstack": tcp, "workers": workers}, "peer": {"raw": k},
         "pmd": args.pmd, "duration_s": args.duration, "cpu_hz": hz,
         "cycles": "on-CPU time x cpu_hz (no PMU in this VM); server = the dataplane's "
                   "worker thread / the tcpb serve thread; client = tcpb's rusage; "
                   "packets = rx + tx of the client's veth"}
    mbps = lambda rs: [r["bytes"] / r["seconds"] / 1e6 for r in rs]
    cps = lambda rs: [r["conns"] / r["seconds"] for r in rs]
    tot = lambda rs, u: [(r["server_cycles"] + r["client_cycles"]) / r[u] for r in rs]
    p = args.pmd
    return [
        figure(f"tcp_bulk_{p}_MBps", "MB/s", "higher", mbps(o["bulk"]), mbps(k["bulk"]),
               peer_name, "bulk client->discard throughput through mxgate-dataplane "
               f"(tcpstack, {p} on veth, 1 worker) vs the kernel's TCP", d),
        figure(f"tcp_conn_{p}_cps", "conn/s", "higher", cps(o["cps"]), cps(k["cps"]),
               peer_name, "connection setup + 32 B echo + close, 64 in flight, vs the "
               "kernel's TCP", {"pmd": p}),
        figure(f"tcp_bulk_{p}_server_cycles_per_pkt", "cycles/pkt", "lower",
               per(o["bulk"], "server_cycles", "pkts"), per(k["bulk"], "server_cycles", "pkts"),
               peer_name, "bulk: cycles of the serving thread per packet on the link "
               "(data in + ACKs out)", {"pmd": p}),
        figure(f"tcp_bulk_{p}_total_cycles_per_pkt", "cycles/pkt", "lower",
               tot(o["bulk"], "pkts"), tot(k["bulk"], "pkts"), peer_name,
               "bulk: serving thread + client process cycles per packet", {"pmd": p}),
        figure(f"tcp_bulk_{p}_total_cycles_per_kB", "cycles/kB", "lower",
               [x * 1e3 for x in tot(o["bulk"], "bytes")],
               [x * 1e3 for x in tot(k["bulk"], "bytes")], peer_name,
               "bulk: serving thread + client process cycles per kB of payload "
               "(independent of how many ACKs each side sends)", {"pmd": p}),
        figure(f"tcp_conn_{p}_server_cycles_per_conn", "cycles/conn", "lower",
               per(o["cps"], "server_cycles", "conns"), per(k["cps"], "server_cycles", "conns"),
               peer_name, "connection test: cycles of the serving thread per completed "
               "connection", {"pmd": p}),
        figure(f"tcp_conn_{p}_server_cycles_per_pkt", "cycles/pkt", "lower",
               per(o["cps"], "server_cycles", "pkts"), per(k["cps"], "server_cycles", "pkts"),
               peer_name, "connection test: cycles of the serving thread per packet",
               {"pmd": p}),
        figure(f"tcp_conn_{p}_total_cycles_per_conn", "cycles/conn", "lower",
               tot(o["cps"], "conns"), tot(k["cps"], "conns"), peer_name,
               "connection test: serving thread + client process cycles per connection",
               {"pmd": p, "ours_user_cycles_per_conn": statistics.median(
                   per(o["cps"], "server_user_cycles", "conns")),
                "ours_user_cycles_per_bulk_pkt": statistics.median(
                   per(o["bulk"], "server_user_cycles", "pkts")),
                "note": "user: the dataplane worker's user-mode cycles only (tcpstack, "
                        "dataplane, PMD), from 10 ms ticks"}),
    ]


def report_profiles(d, log):
    for kind in ("bulk", "cps"):
        f = os.path.join(d, f"tcp_{kind}.perf.data")
        if not os.path.exists(f):
            continue
        out = os.path.join(d, f"tcp_{kind}.perf.txt")
        with open(out, "w") as o:
            subprocess.run(["perf", "report", "-i", f, "--stdio", "--no-children",
                            "--sort", "dso,symbol", "--percent-limit", "0.5", "-g", "none"],
                           stdout=o, stderr=subprocess.DEVNULL)
        log(f"tcp_bench: worker profile of {kind}: {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--pmd", choices=["af_xdp", "tap"], default="af_xdp")
    ap.add_argument("--smoke", action="store_true", help="1 run of 0.5 s: it works, JSON")
    ap.add_argument("--out", help="write the JSON here too")
    ap.add_argument("--profile", metavar="DIR",
                    help="perf record the worker thread during the first run of ours "
                         "(DIR/tcp_{bulk,cps}.perf.data and .perf.txt)")
    ap.add_argument("--dp-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="extra [dataplane] config key for ours (e.g. idle=busy)")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.dp_opt = dict(kv.split("=", 1) for kv in args.dp_opt)
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
        args.profile = os.path.abspath(args.profile)
    if args.smoke:
        args.runs, args.duration = 1, 0.5
    from mxgtest.cleanup import install_signal_handlers
    install_signal_handlers()
    figs = bench_tcp(args, log=lambda m: print(m, file=sys.stderr, flush=True))
    res = {"schema": 1, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "smoke": args.smoke, "figures": figs}
    text = json.dumps(res, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    for f in figs:
        print(f"{f['name']:<38} {f['value']:12.1f} {f['unit']:<11} peer "
              f"{f['peer']['value']:12.1f}  ratio {f['ratio']:.3f}", file=sys.stderr)
    return 0


# Registering in perf/run.py (owned by its author; a note, not done here):
#   import tcp_bench                                   # perf/ is run.py's dir
#   @benchmark("tcp")
#   def bench_tcp(ctx):
#       a = argparse.Namespace(build=ctx.build, pmd="af_xdp", profile=None, dp_opt={},
#                              runs=1 if ctx.smoke else ctx.runs,
#                              duration=0.5 if ctx.smoke else ctx.duration)
#       figs = tcp_bench.bench_tcp(a, log=ctx.log)
#       return figs
# The figure dicts already carry run.py's fields.

if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"tcp_bench: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
