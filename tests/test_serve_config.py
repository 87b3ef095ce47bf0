"""`pktcable serve` settings: the example file loads, mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from pktcable.serve.config import ServeConfig, load
from pktcable.serve.site import dhcp_config

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "serve.toml"


def test_example_loads() -> None:
    cfg = load(EXAMPLE)
    assert cfg.realms == ["HYBRID.2", "BASIC.2"] and cfg.auto_enroll is False
    assert {d["kind"] for d in cfg.devices} == {"cm", "mta"}
    dhcp = dhcp_config(cfg)
    mta = next(c for c in dhcp.classes if c.name == "mta")
    assert mta.realms == ("HYBRID.2", "BASIC.2") and mta.ccc["prov-timer"] == 10


def test_unknown_setting_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "x.toml"
    bad.write_text('adress = "127.0.0.1"\n')
    with pytest.raises(ValueError, match="adress"):
        load(bad)


def test_defaults_run_unprivileged() -> None:
    cfg = ServeConfig()
    assert min(cfg.dhcp_port, cfg.tftp_port, cfg.snmp_port, cfg.tod_port, cfg.agent_port) > 1024


@pytest.mark.parametrize("line", ['inform_community = ""', "auto_enroll = 1"])
def test_bad_trust_setting_is_named(tmp_path: Path, line: str) -> None:
    bad = tmp_path / "x.toml"
    bad.write_text(line + "\n")
    with pytest.raises(ValueError, match=line.split()[0]):
        load(bad)
