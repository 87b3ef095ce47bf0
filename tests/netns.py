"""Network namespaces for interop tests: two of them joined by a veth pair, so
that a server and real DHCP clients meet on a link of their own (root only)."""

from __future__ import annotations

import os
import signal
import subprocess


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


class Link:
    """Two namespaces joined by a veth pair: server side ``server_address`` (192.0.2.1/24),
    client side unnumbered. Names carry the pid (and ``prefix``, one per test module), so
    that concurrent test runs on one host do not collide."""

    def __init__(self, prefix: str = "pk", server_address: str = "192.0.2.1/24") -> None:
        tag = f"{os.getpid() % 100000}"
        self.srv, self.cli = f"{prefix}ds{tag}", f"{prefix}dc{tag}"
        self.sdev, self.cdev = f"{prefix}vs{tag}", f"{prefix}vc{tag}"
        self.server_address = server_address
        self.procs: list[subprocess.Popen[bytes]] = []

    def up(self) -> None:
        run("ip", "netns", "add", self.srv)
        run("ip", "netns", "add", self.cli)
        run("ip", "link", "add", self.sdev, "type", "veth", "peer", "name", self.cdev)
        run("ip", "link", "set", self.sdev, "netns", self.srv)
        run("ip", "link", "set", self.cdev, "netns", self.cli)
        run("ip", "-n", self.srv, "addr", "add", self.server_address, "dev", self.sdev)
        for ns, dev in ((self.srv, self.sdev), (self.cli, self.cdev)):
            run("ip", "-n", ns, "link", "set", dev, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")

    def start(self, ns: str, *args: str, **kw) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, **kw)
        self.procs.append(proc)
        return proc

    def down(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        for ns in (self.srv, self.cli):
            # Whatever still runs in the namespace (a daemonized dhclient) goes with it.
            pids = run("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run("ip", "netns", "del", ns, check=False)
