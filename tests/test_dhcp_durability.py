"""``kill -9`` of the server at any moment loses no acknowledged lease.

A fake relay on loopback runs DORA for many clients as fast as the server
answers; the server process is killed with SIGKILL at a different moment in
each round. Every ACK that reached the relay must be in the SQLite file.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from dhcp.message import decode

from . import ports
from .dhcp_helpers import mac_of, request

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """
[server]
server_id = "127.0.0.1"
relay_port = {relay_port}

[[subnet]]
network = "127.0.0.0/8"
[[subnet.pool]]
start = "127.1.0.0"
end = "127.1.255.255"
"""


def free_udp_port() -> int:
    return ports.free_port("127.0.0.1")


@pytest.mark.parametrize("kill_after", [0.15, 0.4, 0.9])
def test_kill_9_loses_no_acknowledged_lease(tmp_path: Path, kill_after: float) -> None:
    relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    relay.bind(("127.0.0.1", 0))
    relay.settimeout(0.05)
    port = free_udp_port()
    cfg = tmp_path / "dhcpd.toml"
    cfg.write_text(CONFIG.format(relay_port=relay.getsockname()[1]))
    db = tmp_path / "leases.db"
    server = subprocess.Popen([sys.executable, "-m", "pktcable", "dhcp", "serve", "--config", str(cfg), "--address",
                               "127.0.0.1", "--port", str(port), "--data-dir", str(tmp_path)], cwd=ROOT,
                              stderr=subprocess.PIPE, start_new_session=True)
    acked: dict[IPv4Address, str] = {}
    try:
        assert server.stderr is not None
        assert "serving" in server.stderr.readline().decode()
        deadline = time.monotonic() + kill_after
        n = 0
        killed = False
        while not killed or time.monotonic() < deadline + 0.3:
            if not killed and time.monotonic() >= deadline:
                os.kill(server.pid, signal.SIGKILL)
                killed = True
            if not killed:
                for _ in range(16):  # a window of clients in flight
                    n += 1
                    relay.sendto(request(1, mac_of(n), xid=n, giaddr="127.0.0.1"), ("127.0.0.1", port))
            try:
                data, _ = relay.recvfrom(2048)
            except TimeoutError:
                continue
            msg = decode(data)
            if msg.message_type == 2 and not killed:
                relay.sendto(request(3, msg.mac, xid=msg.xid, giaddr="127.0.0.1",
                                     options=[(50, msg.yiaddr.packed), (54, msg.get(54) or b"")]),
                             ("127.0.0.1", port))
            elif msg.message_type == 5:
                acked[msg.yiaddr] = msg.mac.hex(":")
        server.wait(5)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        relay.close()
    assert acked, "no ACK before the kill; the server did not run"
    rows = {IPv4Address(a): (mac, state) for a, mac, state in
            sqlite3.connect(db).execute("SELECT address, mac, state FROM lease4")}
    lost = {a: m for a, m in acked.items() if rows.get(a) != (m, "bound")}
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged leases missing after kill -9"
    assert len(rows) >= len(acked)
