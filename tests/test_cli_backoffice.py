"""`pktcable serve` and `pktcable simulate` as a person runs them: two processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pktcable.simulate.identity import Identity

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
    followed = Identity.make(3).mta_mac.hex()
    # The simulated devices are in no store: the demo's --auto-enroll provisions them.
    server = subprocess.Popen([sys.executable, "-m", "pktcable", "serve", "--config", str(settings),
                               "--data-dir", str(tmp_path / "data"), "--auto-enroll", "--log-format", "json",
                               "--mac", ":".join(followed[i:i + 2] for i in range(0, 12, 2))], stderr=log)
    try:
        for _ in range(100):
            if "store" in (tmp_path / "serve.log").read_text():
                break
            time.sleep(0.1)
        common = ["--server", "127.0.0.1", "--dhcp-port", str(ports["dhcp"]), "--relay-port", str(ports["relay"]),
                  "--snmp-port", str(ports["snmp"]), "--agent-port", str(ports["agent"]),
                  "--tftp-port", str(ports["tftp"]), "--tod-port", str(ports["tod"])]
        for flow, first, quiet in (("hybrid.2", 0, ["--quiet"]), ("basic.2", 100, [])):
            report = tmp_path / f"{flow}.json"
            done = subprocess.run([sys.executable, "-m", "pktcable", "simulate", "--flow", flow, "--count", "10",
                                   "--first", str(first), "--report", str(report), *common, *quiet],
                                  capture_output=True, text=True, timeout=120)
            # stderr is a pipe: progress as lines (the last at the end), none with --quiet.
            progress = [line for line in done.stderr.splitlines() if line.startswith("simulate: ")]
            assert progress[-1:] == ([] if quiet else ["simulate: 10/10 done, 10 passed, 0 failed, " +
                                                       progress[-1].split(", ", 3)[3]]), done.stderr
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
    # JSON log lines (the start-up lines are for a person); below warning, only the followed eMTA's.
    records = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines() if line.startswith("{")]
    quiet = [r for r in records if r["level"] in ("debug", "info")]
    assert quiet and all(r.get("mac") == followed for r in quiet), quiet[:5]
    assert any(r["message"].startswith(f"{followed} H-MTA-25 StatusReceived") for r in quiet)
    # Everything the server learned is in its SQLite files.
    from pktcable.store.devices import SqliteDeviceStore

    store = SqliteDeviceStore(str(tmp_path / "data" / "devices.db"))
    try:
        assert sum(d.kind == "mta" and d.result == 1 for d in store.devices()) == 20
    finally:
        store.close()
