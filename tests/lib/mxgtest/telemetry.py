"""Client of DPDK telemetry v2 (/var/run/dpdk/<prefix>/dpdk_telemetry.v2).

Protocol: AF_UNIX SOCK_SEQPACKET; on connect the server sends one JSON
object (version, pid, max_output_len); each command string sent gets one
JSON reply {"<command>": value}. query() returns value.
"""

import json
import os
import socket
import time

RUNTIME_DIR = "/var/run/dpdk"


def socket_path(prefix):
    return os.path.join(RUNTIME_DIR, prefix, "dpdk_telemetry.v2")


class TelemetryError(RuntimeError):
    pass


class Telemetry:
    def __init__(self, path, timeout=10.0):
        """Connects to |path|; the socket may not exist yet while the EAL
        starts, so connection is retried until |timeout| expires."""
        self.path = path
        deadline = time.monotonic() + timeout
        last = None
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.settimeout(max(1.0, timeout))
            try:
                s.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError) as e:
                s.close()
                last = e
                if time.monotonic() >= deadline:
                    raise TelemetryError(f"telemetry {path}: {last}") from e
                time.sleep(0.05)   # polling a condition with a deadline
        self.sock = s
        self.info = self._recv()
        self.max_len = int(self.info.get("max_output_len", 16384))

    def _recv(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise TelemetryError(f"telemetry {self.path}: connection closed")
        return json.loads(data.decode())

    def query(self, command):
        self.sock.send(command.encode())
        reply = self._recv()
        key = command.split(",", 1)[0]
        if key not in reply:
            raise TelemetryError(f"telemetry {command!r}: unexpected reply {reply!r}")
        return reply[key]

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
