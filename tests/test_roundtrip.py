"""Properties of whole config files over the full schema.

- random schema-valid configs: text -> binary -> text -> binary gives the same bytes;
- random and mutated binaries: decode raises only DecodeError, and what it
  accepts formats to text that compiles back to the same bytes.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pktcable.mibctx import MibContext
from tlv.binary import Node, encode_nodes
from tlv.config import compile_text, decode_file, format_file
from tlv.errors import DecodeError, EncodeError, TextSyntaxError
from tlv.formatter import format_config
from tlv.model import SubTable, TlvDef
from tlv.schema import CONFIG

from .conftest import COMPAT
from .strategies import row_strategy

KEY = b"DOCSIS"
CTX = MibContext()
# Rows the compiler writes itself or that change the kind of file.
NOT_RANDOM = {6, 7, 254}


def rows_of(table: SubTable, top: bool) -> list[TlvDef]:
    return [r for r in table.rows if not (top and r.code in NOT_RANDOM)]


@st.composite
def nodes(draw: st.DrawFn, table: SubTable, depth: int, top: bool = False) -> list[Node]:
    rows = rows_of(table, top)
    if not rows:
        return []
    out = []
    for row in draw(st.lists(st.sampled_from(rows), max_size=5 if top else 3)):
        if row.children is not None:
            if depth == 0:
                continue
            out.append(Node(row.code, children=draw(nodes(row.children, depth - 1)), defn=row))
        else:
            assert row.vtype is not None
            value = draw(row_strategy(row))
            out.append(Node(row.code, row.vtype.encode(value), defn=row, decoded=value))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nodes(CONFIG, depth=3, top=True))
def test_random_configs_round_trip(tree: list[Node]) -> None:
    try:
        encode_nodes(tree)
    except EncodeError:
        assume(False)  # an aggregate grew past 255 bytes: not a valid config
    assume(tree)  # an empty Main { } is not a config, here as in the reference
    text = format_config(tree, CTX)
    first = compile_text(text, ctx=CTX, key=KEY)
    cf = decode_file(first, key=KEY)
    assert cf.mic_ok is True and cf.problems == []
    second = compile_text(format_file(cf, CTX), ctx=CTX, key=KEY)
    assert first == second, text


SEEDS = [p.read_bytes() for p in sorted(Path(COMPAT).glob("*.bin"))]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, max(0, len(data) - 1)))
        op = draw(st.integers(0, 3))
        if op == 0 and data:
            data[i] = draw(st.integers(0, 255))
        elif op == 1:
            del data[i : i + draw(st.integers(1, 6))]
        elif op == 2:
            data[i:i] = draw(st.binary(min_size=1, max_size=6))
        else:
            del data[i:]
    return bytes(data)


@settings(max_examples=500, deadline=None)
@given(st.one_of(mutated(), st.binary(max_size=120)))
def test_mutated_bytes_raise_only_decode_error(data: bytes) -> None:
    try:
        cf = decode_file(data, key=KEY, strict=True)
    except DecodeError as exc:
        assert exc.offset >= 0
        return
    text = format_file(cf, CTX)
    try:
        # Leniently: a mutated value may break its MIB object's constraints,
        # which is a matter for the config's author, not for the round trip.
        again = compile_text(text, ctx=CTX, key=KEY, warnings=[])
    except (EncodeError, TextSyntaxError):
        # Only a file decode already reported (MICs missing or out of place)
        # may have no text form that the compiler would finish the same way.
        assert cf.problems
        return
    # Whatever the text cannot carry (a missing end marker, odd padding, a bad
    # MIC) is reported as a problem; with none, the bytes come back exactly.
    if not cf.problems:
        assert again == data


@settings(max_examples=200, deadline=None)
@given(
    st.lists(row_strategy(CONFIG.by_code(11)), max_size=6),  # type: ignore[arg-type]
    st.sampled_from(["none", "cablelabs", "ietf", "euro"]),
)
def test_random_mta_files_round_trip_with_hash(varbinds: list, hash_name: str) -> None:  # type: ignore[type-arg]
    snmp = CONFIG.by_code(11)
    delim = CONFIG.by_code(254)
    assert snmp is not None and snmp.vtype is not None and delim is not None
    tree = [Node(254, b"\x01", defn=delim, decoded=1)]
    tree += [Node(11, snmp.vtype.encode(vb), defn=snmp, decoded=vb) for vb in varbinds]
    tree.append(Node(254, b"\xff", defn=delim, decoded=255))
    text = format_config(tree, CTX)
    first = compile_text(text, ctx=CTX, hash=hash_name)
    cf = decode_file(first)
    assert cf.problems == []
    assert cf.hash_ok is (None if hash_name == "none" else True)
    assert compile_text(format_file(cf, CTX), ctx=CTX, hash="none") == first
