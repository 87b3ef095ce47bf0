"""``pktcable sip serve``: a settings mistake is one line on stderr and exit 2, before anything listens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pktcable.cli import main

MAC = "0004f2000001"
GOOD = {"mac": MAC, "vars": {"registrar": "sip.example.net", "lines": [{"user": "1", "password": "x"}]}}


@pytest.mark.parametrize(("phones", "args", "words"), [
    ("[", [], ["phones.json:1:2"]),
    (json.dumps({"mac": MAC}), [], ["JSON list"]),
    (json.dumps([{"mac": "nope"}]), [], ["not a MAC"]),
    (json.dumps([{**GOOD, "colour": 1}]), [], ["phone 1", "mac, template, vars, ip"]),
    (json.dumps([{**GOOD, "vars": {**GOOD["vars"], "transport": "sctp"}}]), [], [MAC, "transport"]),
    (json.dumps([{**GOOD, "template": "cisco"}]), [], ["unknown layout"]),
    (json.dumps([GOOD]), ["--address", "0.0.0.0"], ["--advertise"]),
])
def test_mistakes_are_one_line_and_exit_2(tmp_path: Path, phones: str, args: list[str], words: list[str]) -> None:
    path = tmp_path / "phones.json"
    path.write_text(phones)
    result = CliRunner().invoke(main, ["sip", "serve", "--phones", str(path), *args], prog_name="pktcable")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), result.stderr
