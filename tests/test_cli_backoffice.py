"""`pktcable serve` and `pktcable simulate` as a person runs them: two processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .apiclient import bearer, data_dir_token
from .test_e2e import free_port, free_tcp_port


def test_serve_and_simulate_processes(tmp_path: Path) -> None:
    ports = {k: free_port() for k in ("dhcp", "relay", "tftp", "tod", "snmp", "agent")}
    api = free_tcp_port()
    settings = tmp_path / "serve.toml"
    settings.write_text("\n".join([
        f"dhcp_port = {ports['dhcp']}", f"relay_port = {ports['relay']}", f"tftp_port = {ports['tftp']}",
        f"tod_port = {ports['tod']}", f"snmp_port = {ports['snmp']}", f"agent_port = {ports['agent']}",
        "http_port = 0", f"api_port = {api}", 'realms = ["HYBRID.2", "BASIC.2"]', "",
    ]))
    token = data_dir_token(tmp_path / "data")
    log = (tmp_path / "serve.log").open("w")
    # The simulated devices are in no store: the demo's --auto-enroll provisions them.
    server = subprocess.Popen([sys.executable, "-m", "pktcable", "serve", "--config", str(settings),
                               "--data-dir", str(tmp_path / "data"), "--auto-enroll"], stderr=log)
    try:
        for _ in range(100):
            if "store" in (tmp_path / "serve.log").read_text():
                break
            time.sleep(0.1)
        common = ["--server", "127.0.0.1", "--dhcp-port", str(ports["dhcp"]), "--relay-port", str(ports["relay"]),
                  "--snmp-port", str(ports["snmp"]), "--agent-port", str(ports["agent"]),
                  "--tftp-port", str(ports["tftp"]), "--tod-port", str(ports["tod"]), "--quiet"]
        for flow, first in (("hybrid.2", 0), ("basic.2", 100)):
            report = tmp_path / f"{flow}.json"
            done = subprocess.run([sys.executable, "-m", "pktcable", "simulate", "--flow", flow, "--count", "10",
                                   "--first", str(first), "--report", str(report), *common],
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
            data = json.loads(report.read_text())
            assert data["passed"] == 10 and data["deviations"] == [] and data["flow"] == flow.upper()
            assert "Traceback" not in done.stderr
        request = urllib.request.Request(f"http://127.0.0.1:{api}/api/v1/devices?kind=mta&limit=1000",
                                         headers=bearer(token))
        with urllib.request.urlopen(request, timeout=30) as response:
            devices = json.loads(response.read())["items"]
        assert sum(d["kind"] == "mta" and d["state"] == "DONE" for d in devices) == 20
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(30) == 0
        log.close()
    # Everything the server learned is in its SQLite files.
    from pktcable.store.devices import SqliteDeviceStore

    store = SqliteDeviceStore(str(tmp_path / "data" / "devices.db"))
    try:
        assert sum(d.kind == "mta" and d.result == 1 for d in store.devices()) == 20
    finally:
        store.close()
