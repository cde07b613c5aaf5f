"""iputils ping, run inside a namespace, with its summary parsed."""

import re
from dataclasses import dataclass

from .net import run

_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")


@dataclass
class PingResult:
    transmitted: int
    received: int
    returncode: int
    output: str

    @property
    def loss(self):
        return self.transmitted - self.received

    def __str__(self):
        return (f"{self.received}/{self.transmitted} received (rc {self.returncode})\n"
                + self.output[-2000:])


def ping(netns, addr, count=1, interval=None, flood=False, size=None, deadline=None,
         wait=2, iface=None, timeout=None):
    """Pings |addr| |count| times from |netns|. |interval| in seconds
    (root may go below 0.2), |flood| for -f, |deadline| (-w) bounds the run.
    Returns a PingResult."""
    argv = ["ping", "-q", "-n", "-c", str(count), "-W", str(wait)]
    argv += ["-6"] if ":" in str(addr) else ["-4"]
    if flood:
        argv.append("-f")
    elif interval is not None:
        argv += ["-i", str(interval)]
    if size is not None:
        argv += ["-s", str(size)]
    if iface is not None:
        argv += ["-I", iface]
    if deadline is None:
        per = 0.01 if flood else (interval if interval is not None else 1.0)
        deadline = int(count * max(per, 0.001) * 3) + 20
    argv += ["-w", str(deadline), str(addr)]
    p = run(argv, netns=netns, check=False, timeout=timeout or deadline + 30)
    m = _SUMMARY.search(p.stdout)
    if not m:
        return PingResult(0, 0, p.returncode, p.stdout + p.stderr)
    return PingResult(int(m.group(1)), int(m.group(2)), p.returncode, p.stdout + p.stderr)
