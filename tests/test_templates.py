"""The default config templates render and compile; values cannot inject statements."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from pktcable.templates import environment
from tlv.config import compile_text, decode_file, format_file


def test_default_mta_template(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    text = environment().get_template("mta.txt").render(mac="001122334455", flow="BASIC.1", lines=1)
    data = compile_text(text, ctx=mib_ctx, hash="cablelabs")
    out = format_file(decode_file(data), mib_ctx)
    assert "pktcNcsEndPntConfigCallAgentId.9" in out and ".10 " not in out
    assert "pktcMtaDevRealmOrgName.'BASIC.1'" in out


def test_default_cm_template(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    text = environment().get_template("cm.txt").render(mac="001122334455", max_cpe=2)
    cf = decode_file(compile_text(text, ctx=mib_ctx, key=b"secret"), key=b"secret")
    assert cf.mic_ok is True and "MaxCPE 2;" in format_file(cf, mib_ctx)


def test_quoted_values_cannot_inject(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    hostile = 'x"; NetworkAccess 0; SnmpMibObject sysContact.0 String "y'
    text = environment().get_template("cm.txt").render(mac="m", contact=hostile)
    cf = decode_file(compile_text(text, ctx=mib_ctx, key=b"k"))
    assert [n.value for n in cf.nodes if n.code == 3] == [b"\x01"]
    (snmp,) = [n for n in cf.nodes if n.code == 11]
    assert snmp.decoded.value == hostile.encode()


def test_missing_variable_is_an_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        environment().get_template("mta.txt").render(mac="001122334455")  # no flow


def test_operator_folder_overrides(tmp_path: Path) -> None:
    (tmp_path / "mta.txt").write_text("Main { MtaConfigDelimiter 1; MtaConfigDelimiter 255; }")
    assert environment(tmp_path).get_template("mta.txt").render().startswith("Main")
