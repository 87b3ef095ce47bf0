"""Logging of the long-running commands: levels, JSON lines, following chosen devices."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from click.testing import CliRunner

from pktcable.cli import main
from pktcable.cli.logs import setup
from pktcable.dhcpd.events import LeaseBound
from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig, load
from pktcable.store.leases import Lease

A, B = "00a0bc0000aa", "00a0bc0000bb"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_parse_and_carry_the_device(restore_logging: None) -> None:
    out = io.StringIO()
    setup("info", "json", stream=out)
    log = logging.getLogger("pktcable.test")
    log.info("lease %s\nsecond line", "10.1.0.5", extra={"mac": A})
    log.debug("not at info")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("caught")
    first, second = lines(out)
    assert first["level"] == "info" and first["logger"] == "pktcable.test" and first["mac"] == A
    assert first["message"] == "lease 10.1.0.5\nsecond line" and first["time"].endswith("Z")
    assert "mac" not in second and second["level"] == "error" and "ValueError: boom" in second["exception"]


def test_followed_devices_log_at_debug_and_the_others_at_the_level(restore_logging: None) -> None:
    out = io.StringIO()
    setup("warning", "json", [A], stream=out)
    log = logging.getLogger("pktcable.test")
    log.debug("a debug", extra={"mac": A})
    log.debug("b debug", extra={"mac": B})
    log.info("b info", extra={"mac": B})
    log.info("no device")
    log.warning("b warning", extra={"mac": B})
    assert [line["message"] for line in lines(out)] == ["a debug", "b warning"]


def test_the_back_office_logs_a_followed_cm_s_steps_and_not_another_s(restore_logging: None) -> None:
    out = io.StringIO()
    setup("warning", "json", [A], stream=out)
    office = Backoffice(ServeConfig(cm_key="test-cmts-secret", auto_enroll=True))

    async def storm() -> None:
        for n, mac in enumerate((A, B)):
            lease = Lease(IPv4Address(f"10.1.0.{5 + n}"), "01" + mac, mac, office.clock() + 3600, device_class="cm")
            office.dhcp.engine.bind(lease)
            office._guarded_dhcp(LeaseBound(lease, "cm", "", None, None))
            office._guarded_delivered(f"cm-{mac}.cfg", (f"10.1.0.{5 + n}", 1000), True)

    try:
        asyncio.run(storm())
    finally:
        asyncio.run(office.close())
    got = lines(out)
    assert got and all(line["mac"] == A for line in got)
    assert {line["level"] for line in got} >= {"debug", "info"}
    assert any("CM-5/6 FileServed -> CONFIG_SERVED" in line["message"] for line in got)


@pytest.mark.parametrize("line", ['log_level = "verbose"', 'log_format = "xml"'])
def test_bad_log_setting_is_named(tmp_path: Path, line: str) -> None:
    bad = tmp_path / "x.toml"
    bad.write_text(line + "\n")
    with pytest.raises(ValueError, match=line.split()[0]):
        load(bad)


def test_a_bad_log_setting_stops_serve_with_one_line_and_status_2(tmp_path: Path) -> None:
    bad = tmp_path / "x.toml"
    bad.write_text('log_level = "loud"\n')
    result = CliRunner().invoke(main, ["serve", "--config", str(bad), "--memory"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "log_level" in result.stderr, result.stderr
