"""The multicast plug-and-play SUBSCRIBE (224.0.1.75) against ``pktcable sip serve
--multicast``, on a link of its own (two network namespaces joined by a veth pair,
root only): SIPp as the phone multicasts the SUBSCRIBE, the server answers 200 and a
NOTIFY with the profile URL from its unicast address."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .netns import Link, run
from .peers import require

DATA = Path(__file__).parent / "data" / "sip"
MAC = "0004f2a0b0e1"
BUDGET = 30.0


def test_sipp_phone_multicasts_its_subscribe_and_gets_the_url(tmp_path: Path) -> None:
    require("sipp", "ip", root=True)
    link = Link(prefix="sp")
    link.up()
    try:
        run("ip", "-n", link.cli, "addr", "add", "192.0.2.2/24", "dev", link.cdev)
        # Multicast leaves by the veth (the namespaces have no default route).
        run("ip", "-n", link.cli, "route", "add", "224.0.0.0/4", "dev", link.cdev)
        phones = tmp_path / "phones.json"
        phones.write_text(json.dumps([{"mac": MAC, "vars": {"registrar": "sip.example.net",
                                                            "lines": [{"user": "1", "password": "x"}]}}]))
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        server = link.start(link.srv, sys.executable, "-m", "pktcable", "sip", "serve", "--phones", str(phones),
                            "--address", "192.0.2.1", "--sip-port", "5060", "--http-port", "8080", "--multicast",
                            env=env)
        assert server.stderr is not None
        line = server.stderr.readline().decode()
        assert "224.0.1.75:5060" in line, line + (server.stderr.read().decode() if server.poll() is not None else "")
        phone = subprocess.run(
            ["ip", "netns", "exec", link.cli, "sipp", "224.0.1.75:5060", "-sf", str(DATA / "uac_pnp.xml"),
             "-key", "mac", MAC, "-i", "192.0.2.2", "-p", "5062", "-m", "1", "-timeout", "20", "-timeout_error",
             "-trace_err", "-nostdin"], cwd=str(tmp_path), stdin=subprocess.DEVNULL, capture_output=True,
            timeout=BUDGET + 15)
        errors = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*_errors.log"))
        assert phone.returncode == 0, phone.stdout.decode(errors="replace")[-3000:] + errors[-3000:]
    finally:
        link.down()
