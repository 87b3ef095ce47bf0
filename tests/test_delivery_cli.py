"""``pktcable deliver``: starts the services, serves, refuses bad usage without a traceback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pktcable.cli import main

from .conftest import DATA
from .delivery_util import tftp_get
from .procs import FAULT_ENV, stop


def test_usage_errors(tmp_path: Path) -> None:
    for args in (["deliver"], ["deliver", "--templates", str(DATA / "delivery")],
                 ["deliver", "--root", str(tmp_path), "--https-port", "0"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and "Traceback" not in result.stderr, result.stderr


def _ignore_sigint() -> None:
    # What a non-interactive shell does to a command it starts with '&'.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serves_templates_and_files_and_stops_cleanly_on_its_signal(tmp_path: Path, sig: int) -> None:
    """Started in the background by a script (SIGINT inherited as ignored, as
    a shell leaves it for '&'), deliver still stops on SIGINT, and on a
    supervisor's SIGTERM it closes its services and exits 0 (it used to ignore
    the one and die of the other)."""
    (tmp_path / "fw.bin").write_bytes(b"firmware" * 1000)
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps([{"mac": "00:11:22:33:44:55", "kind": "mta", "template": "mta.cfg.j2",
                                    "vars": {"lines": [9], "call_agent": "ca@x.example", "org": "X"}}]))
    proc = subprocess.Popen([sys.executable, "-m", "pktcable", "deliver", "--root", str(tmp_path), "--templates",
                             str(DATA / "delivery"), "--devices", str(devices), "--tftp-port", "0", "--tod-port", "0",
                             "--http-port", "0"], stderr=subprocess.PIPE, text=True, env=FAULT_ENV,
                            preexec_fn=_ignore_sigint)
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline() for _ in range(3)]
        assert [line.split()[0] for line in lines] == ["tftp", "http", "tod"], lines
        port = int(lines[0].rsplit(":", 1)[1])
        assert tftp_get(("127.0.0.1", port), "fw.bin") == b"firmware" * 1000
        assert b"ca@x.example" in tftp_get(("127.0.0.1", port), "mta-001122334455.cfg", {"blksize": "1468"})
    finally:
        assert stop(proc, sig) == 0
