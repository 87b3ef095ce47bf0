"""Keyword tables: integrity, sharing, the reference's table, encoded vectors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import row_strategy
from tlv import types as t
from tlv.model import SubTable, TlvDef
from tlv.schema import ALL_TABLES, CONFIG, keyword_rows

TSV = Path(__file__).parent / "data" / "docsis-keywords.tsv"

# Reference rows that are not table rows here (the compiler core handles them).
NOT_ROWS = {
    "/* Pad */", "/*EndOfDataMkr*/", "GenericTLV", "DigitMap", "ManufacturerCVC",
    "CoSignerCVC", "ManufacturerCVCChainFile", "CoSignerCVCChainFile",
}
# Documented departures from the reference's table (see the schema comments).
RENAMED = {"94": "DownstreamEHQoSASF"}  # the reference reuses TLV 93's name
LIMITS = {  # the limits the reference actually applies (it resolves names globally)
    "23.10.3": (3, 3), "23.11.2": (0, 4096), "23.12.1": (3, 3), "202.54.3": (1, 2),
}
SPECIAL_TYPES = {"6": "md5", "7": "md5", "10": "snmp_write_control", "11": "snmp_varbind",
                 "202.11": "snmp_varbind"}


def lookup(path: str) -> TlvDef:
    table: SubTable | None = CONFIG
    row = None
    for code in path.split("."):
        assert table is not None, f"{path}: not an aggregate above"
        row = table.by_code(int(code))
        assert row is not None, f"{path}: no row"
        table = row.children
    assert row is not None
    return row


# --- integrity ------------------------------------------------------------------------


def test_tables_are_consistent() -> None:
    for name, table in ALL_TABLES.items():
        assert table.name == name
        codes = [r.code for r in table]
        names = [r.name.lower() for r in table]
        assert len(set(codes)) == len(codes), f"{name}: duplicate code"
        assert len(set(names)) == len(names), f"{name}: duplicate keyword"
        for r in table:
            assert 0 < r.code < 256
            assert (r.vtype is None) != (r.children is None), f"{name}.{r.name}"
            assert r.children is None or r.children is ALL_TABLES[r.children.name]
            if r.vtype is None:
                assert r.low is None and r.high is None
            assert (r.low is None) == (r.high is None)
            assert r.spec, f"{name}.{r.name} has no spec reference"


def test_keyword_rows_walk_every_shared_table_in_place() -> None:
    rows = list(keyword_rows())
    assert len(rows) == 1539  # 1,548 reference rows - 8 core-handled - 1 duplicate
    assert len({p for p, _ in rows}) == len(rows)
    assert ("24.7", CONFIG.by_code(24).children.by_name("TrafficPriority")) in rows  # type: ignore[union-attr]
    reached = {r.children.name for _, r in rows if r.children is not None} | {"Config"}
    assert reached == set(ALL_TABLES)


def test_deferred_tables_fill_in_place_once() -> None:
    table = SubTable.deferred("Flow", "tests.minischema")  # defines no table of that name
    assert table.pending and table.name == "Flow"
    with pytest.raises(LookupError, match="does not define the sub-table Flow"):
        table.by_code(1)
    row = TlvDef(1, "Ref", t.UCHAR, spec="x")
    table.fill([row], 8)
    assert not table.pending and table.by_name("ref") is row and table.vendor_scope == 8 and list(table) == [row]
    with pytest.raises(ValueError, match="two different sub-tables are named Flow"):
        table.fill([row], None)
    # The schema's deferred tables are the objects their modules define.
    from tlv.schema import serviceflow
    assert lookup("24").children is serviceflow.US_SERVICE_FLOW and not serviceflow.US_SERVICE_FLOW.pending


def test_shared_sub_tables_are_one_object() -> None:
    assert lookup("22").children is lookup("23").children
    nested = lookup("22.43").children
    for path in ("23.43", "24.43", "25.43", "26.43", "60.43"):
        assert lookup(path).children is nested
    l2vpn = lookup("43.5").children
    for top in ("22", "23", "24", "25", "26", "60"):
        assert lookup(f"{top}.43.5").children is l2vpn
    for path in ("22.14", "23.14", "60.14"):
        assert lookup(path).children is lookup("22.14").children
    assert lookup("24.40").children is lookup("25.40").children
    assert lookup("93.47").children is lookup("94.47").children
    assert lookup("23.11").children is lookup("22.11").children
    assert lookup("60.11").children is not lookup("22.11").children  # other keywords there


def test_special_rows() -> None:
    assert CONFIG.by_code(0) is None and CONFIG.by_code(255) is None
    assert CONFIG.by_name("CmMic").vtype is t.MD5_DIGEST  # type: ignore[union-attr]
    assert CONFIG.by_name("CmtsMic").code == 7  # type: ignore[union-attr]
    assert isinstance(lookup("10").vtype, t.SnmpWriteControlType)
    assert isinstance(lookup("11").vtype, t.VarBindType)
    assert isinstance(lookup("202.11").vtype, t.VarBindType)
    assert lookup("64").name == "CMTSStaticMulticastSessionEncodings"
    assert (lookup("254").low, lookup("254").high) == (1, 255)
    assert lookup("94").name == "DownstreamEHQoSASF" and lookup("93").name == "UpstreamEHQoSASF"
    assert [r.code for r in lookup("74.4.2").children] == [1, 2, 3, 4]  # type: ignore[union-attr]
    for name in ("DigitMap", "ManufacturerCVC", "GenericTLV", "ManufacturerCVCChainFile"):
        assert CONFIG.by_name(name) is None
    for code in (32, 33, 81, 82):
        assert lookup(str(code)).vtype is t.HEXSTR


def test_range_checks() -> None:
    def check(path: str, text: str) -> str | None:
        r = lookup(path)
        assert r.vtype is not None
        return r.check_range(r.vtype.parse(text))

    assert check("18", "16") is None
    assert check("18", "255") is not None  # MaxCPE 1..254
    assert check("28", "65535") is None  # MaxClassifiers unchecked
    assert check("22.43.8", "0x0010a5") is None
    assert check("22.43.8", "0x0010") is not None  # VendorIdentifier is 3 bytes
    assert check("24.4", '"x"') is not None  # ServiceClassName 2..16 characters
    assert check("37", "1,2,3") is not None  # SubMgmtFilters needs 4..10 numbers
    assert check("22.43.5.26", "0") is None  # uint24 limits are never checked


@pytest.mark.parametrize("path", [p for p, r in keyword_rows() if r.vtype is not None][::7])
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_rows_accept_values_within_limits(path: str, data: st.DataObject) -> None:
    row = lookup(path)
    assert row.vtype is not None
    value = data.draw(row_strategy(row))
    assert row.check_range(value) is None
    assert row.vtype.decode(row.vtype.encode(value)) == value


# --- the reference's complete keyword table ----------------------------------------------


def test_every_reference_row_is_present() -> None:
    with TSV.open(newline="") as f:
        lines = [line for line in f if not line.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t"))
    assert len(rows) == 1548
    checked = 0
    for ref in rows:
        kw, path = ref["keyword"], ref["tlv_path"]
        if kw in NOT_ROWS and ref["parent_keyword"] == "(top)":
            continue
        row = lookup(path)
        assert row.code == int(ref["code"]), path
        assert row.name == RENAMED.get(path, kw), path
        parent = CONFIG if "." not in path else lookup(path.rsplit(".", 1)[0]).children
        assert parent is not None and parent.by_name(row.name) is row, path
        low, high = int(ref["low_limit"]), int(ref["high_limit"])
        want = LIMITS.get(path, (None, None) if (low, high) == (0, 0) else (low, high))
        assert (row.low, row.high) == want, path
        enc = ref["encode_type"]
        if path in SPECIAL_TYPES:
            assert row.vtype is not None and row.vtype.name == SPECIAL_TYPES[path], path
        elif enc == "nothing":
            assert row.children is not None, path
        else:
            assert row.vtype is t.BY_NAME[enc], path
        checked += 1
    assert checked == 1540  # includes the reference's duplicate 24.39 row


# --- encoded vectors (sub-TLV bytes from the reference's output) ------------------------


def encode_block(keyword: str, statements: list[tuple[str, str]]) -> bytes:
    outer = CONFIG.by_name(keyword)
    assert outer is not None and outer.children is not None
    body = b""
    for name, text in statements:
        r = outer.children.by_name(name)
        assert r is not None and r.vtype is not None, name
        value = r.vtype.parse(text)
        assert r.check_range(value) is None
        data = r.vtype.encode(value)
        body += bytes((r.code, len(data))) + data
    return bytes((outer.code, len(body))) + body


def test_baseline_privacy_vector() -> None:
    got = encode_block(
        "BaselinePrivacy",
        [("AuthTimeout", "10"), ("ReAuthTimeout", "10"), ("AuthGraceTime", "600"),
         ("OperTimeout", "1"), ("ReKeyTimeout", "1"), ("TEKGraceTime", "600"),
         ("AuthRejectTimeout", "60")],
    )
    assert got.hex() == (
        "112a" "01040000000a" "02040000000a" "030400000258" "040400000001"
        "050400000001" "060400000258" "07040000003c"
    )


def test_us_service_flow_vector() -> None:
    got = encode_block(
        "UsServiceFlow",
        [("UsServiceFlowRef", "1"), ("QosParamSetType", "7"), ("TrafficPriority", "2"),
         ("MaxRateSustained", "10000000"), ("MaxTrafficBurst", "1522"), ("SchedulingType", "2")],
    )
    assert got.hex() == "1819" "01020001" "060107" "070102" "080400989680" "0904000005f2" "0f0102"


def test_snmpv3_trap_receiver_oid_vector() -> None:
    r = lookup("38.6")
    assert r.name == "SnmpV3TrapRxFilterOID"
    data = r.vtype.encode(r.vtype.parse(".1.3.6.1"))  # type: ignore[union-attr]
    assert (bytes((r.code, len(data))) + data).hex() == "060506032b0601"
