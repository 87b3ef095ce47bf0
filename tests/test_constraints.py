"""MIB constraints of SnmpMibObject values: type, enum, range, SIZE, index.

Real CableLabs and DOCSIS objects from the generated registry; each case is
an error at file:line:col by default and a warning (same bytes as written)
when lenient.
"""

from __future__ import annotations

import pytest

from tlv.config import compile_text
from tlv.errors import EncodeError

MTA = "Main\n{\n\tMtaConfigDelimiter 1;\n\t%s\n\tMtaConfigDelimiter 255;\n}\n"

# (statement, the token the error points at, message after "t:4:<col>: ")
CASES = [
    # enum value not in the list: RowStatus is active(1)..destroy(6)
    ("SnmpMibObject docsDevFilterIpStatus.1 Integer 9;", " 9;",
     "9 is not a value of docsDevFilterIpStatus: one of active(1), notInService(2), "
     "notReady(3), createAndGo(4), createAndWait(5), destroy(6)"),
    # string longer than its SIZE (1..64)
    ("SnmpMibObject pktcMtaDevRealmOrgName.'R' String \"%s\";" % ("x" * 65), '"x',
     "65 bytes do not fit the SIZE of pktcMtaDevRealmOrgName (1..64 bytes)"),
    # SIZE (16 | 20): the config hash
    ("SnmpMibObject pktcMtaDevProvConfigHash.0 HexString 0x0102;", "0x",
     "2 bytes do not fit the SIZE of pktcMtaDevProvConfigHash (16 or 20 bytes)"),
    # integer out of its range (Integer32 (0..63))
    ("SnmpMibObject pktcSigDefCallSigTos.0 Integer 64;", "64",
     "64 is outside the range of pktcSigDefCallSigTos (0..63)"),
    # index out of its range: docsDevFilterIpIndex is (1..2147483647)
    ("SnmpMibObject docsDevFilterIpStatus.0 Integer 4;", "docs",
     "index 1 of docsDevFilterIpStatus: 0 is outside its range (1..2147483647)"),
    # the wrong type for the object
    ("SnmpMibObject pktcSigDefCallSigTos.0 String \"40\";", "String",
     "pktcSigDefCallSigTos is INTEGER, not String"),
    ("SnmpMibObject docsDevNmAccessIp.1 Integer 1;", "Integer",
     "docsDevNmAccessIp is IpAddress, not Integer"),
]


def located(statement: str, marker: str, message: str) -> str:
    # The statement sits on line 4 after one tab (column 1).
    col = statement.index(marker) + 2 + (1 if marker.startswith(" ") else 0)
    return f"t:4:{col}: TLV 11: SnmpMibObject: {message}"


@pytest.mark.parametrize(("statement", "marker", "message"), CASES)
def test_constraint_break_is_an_error(statement: str, marker: str, message: str, mib_ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EncodeError) as info:
        compile_text(MTA % statement, source="t", ctx=mib_ctx)
    assert str(info.value) == located(statement, marker, message)


@pytest.mark.parametrize(("statement", "marker", "message"), CASES)
def test_constraint_break_is_a_warning_when_lenient(statement: str, marker: str, message: str, mib_ctx) -> None:  # type: ignore[no-untyped-def]
    warnings: list[EncodeError] = []
    data = compile_text(MTA % statement, source="t", ctx=mib_ctx, warnings=warnings)
    assert [str(w) for w in warnings] == [located(statement, marker, message)]
    # Compiled as written: the OID resolved, the value encoded unchanged.
    oid = mib_ctx.resolve_oid(statement.split()[1])
    numeric = statement.replace(statement.split()[1], "." + ".".join(map(str, oid)), 1)
    assert data == compile_text(MTA % numeric, source="t", ctx=None)


def test_values_within_their_constraints_pass(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    ok = [
        "SnmpMibObject docsDevFilterIpStatus.1 Integer 4;",
        "SnmpMibObject docsDevFilterIpStatus.1 Integer createAndGo;",
        "SnmpMibObject pktcMtaDevRealmOrgName.'R' String \"%s\";" % ("x" * 64),
        "SnmpMibObject pktcMtaDevProvConfigHash.0 HexString 0x%s;" % ("ab" * 20),
        "SnmpMibObject pktcSigDefCallSigTos.0 Integer 63;",
        "SnmpMibObject docsDevFilterIpStatus.2147483647 Integer 4;",
        "SnmpMibObject .1.3.6.1.4.1.99999.1.0 Integer 12345;",  # no MIB: nothing to check
    ]
    for statement in ok:
        compile_text(MTA % statement, source="t", ctx=mib_ctx)


def test_every_problem_of_a_file_is_listed(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    text = MTA % "\n\t".join(statement for statement, _, _ in CASES)
    errors: list = []  # type: ignore[type-arg]
    with pytest.raises(EncodeError):
        compile_text(text, source="t", ctx=mib_ctx, errors=errors)
    assert len(errors) == len(CASES)
    assert [e.line for e in errors] == list(range(4, 4 + len(CASES)))


def test_cli_compile_and_validate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from pktcable.cli import main

    src = tmp_path / "m.txt"
    src.write_text(MTA % CASES[0][0])
    runner = CliRunner()
    out = tmp_path / "m.bin"
    strict = runner.invoke(main, ["compile", str(src), "-o", str(out)])
    assert strict.exit_code != 0 and not out.exists()
    assert "9 is not a value of docsDevFilterIpStatus" in strict.output
    lenient = runner.invoke(main, ["compile", "--lenient", str(src), "-o", str(out)])
    assert lenient.exit_code == 0 and out.exists()
    assert "warning:" in lenient.output and f"{src}:4:48" in lenient.output
    assert runner.invoke(main, ["validate", str(src)]).exit_code == 1
    checked = runner.invoke(main, ["validate", "--lenient", str(src)])
    assert checked.exit_code == 0 and "warning:" in checked.output
