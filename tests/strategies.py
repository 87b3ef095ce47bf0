"""Hypothesis strategies producing valid values for each value type."""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from tlv import ber
from tlv import types as t
from tlv.model import TlvDef, ValueType

_v4 = st.builds(ipaddress.IPv4Address, st.integers(0, 2**32 - 1))
_v6 = st.builds(ipaddress.IPv6Address, st.integers(0, 2**128 - 1))
_mac = st.binary(min_size=6, max_size=6)
_oid = st.tuples(st.integers(0, 1), st.integers(0, 39)).flatmap(
    lambda head: st.lists(st.integers(0, 2**32 - 1), max_size=12).map(lambda tail: head + tuple(tail))
) | st.tuples(st.just(2), st.integers(0, 2**20)).flatmap(
    lambda head: st.lists(st.integers(0, 2**32 - 1), max_size=12).map(lambda tail: head + tuple(tail))
)


def strategy(vtype: ValueType, low: int | None = None, high: int | None = None) -> SearchStrategy:
    """Values ``vtype`` can encode; within ``low``..``high`` where the type measures."""
    if isinstance(vtype, t.UIntType):
        return st.integers(low or 0, vtype.max if high is None else min(high, vtype.max))
    if isinstance(vtype, t.VarBindType):
        return varbinds()
    if isinstance(vtype, t.SnmpWriteControlType):
        return st.tuples(_oid, st.integers(0, 1))
    if isinstance(vtype, t.HexType):
        if vtype.size is not None:
            return st.binary(min_size=vtype.size, max_size=vtype.size)
        return st.binary(min_size=low or 0, max_size=64 if high is None else min(high, 64))
    if isinstance(vtype, t.StringType):
        return st.binary(min_size=low or 0, max_size=64 if high is None else min(high, 64))
    if isinstance(vtype, t.LenZeroType):
        return st.none()
    if isinstance(vtype, t.EtherType):
        return _mac
    if isinstance(vtype, t.EtherMaskType):
        return st.tuples(_mac, _mac)
    if isinstance(vtype, t.IpType):
        return {4: _v4, 6: _v6, 0: _v4 | _v6}[vtype.version]
    if isinstance(vtype, t.CharIpIp6Type):
        return _v4 | _v6
    if isinstance(vtype, t.IpPortType):
        return st.tuples(_v4 | _v6, st.integers(0, 0xFFFF))
    if isinstance(vtype, t.IpListType):
        return st.lists(_v4 if vtype.version == 4 else _v6, min_size=1, max_size=8).map(tuple)
    if isinstance(vtype, t.Ip6PrefixListType):
        return st.lists(st.tuples(_v6, st.integers(0, 128)), min_size=1, max_size=8).map(tuple)
    if isinstance(vtype, t.NumberListType):
        lo = max(low or 1, 1) if vtype.counted else 1
        hi = (high if vtype.counted and high else 12)
        return st.lists(st.integers(0, vtype.max), min_size=lo, max_size=max(lo, hi)).map(tuple)
    if isinstance(vtype, t.DualQTagType):
        return st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
    if isinstance(vtype, t.OidType):
        return _oid
    raise NotImplementedError(f"no strategy for {vtype!r}")


_PRINTABLE = st.binary(max_size=40).filter(lambda b: all(0x20 <= c < 0x7F for c in b))
_SNMP_VALUES = {
    "Integer": st.integers(-(2**31), 2**31 - 1),
    "Unsigned32": st.integers(0, 2**32 - 1),
    "Counter32": st.integers(0, 2**32 - 1),
    "Counter64": st.integers(0, 2**64 - 1),
    "TimeTicks": st.integers(0, 2**32 - 1),
    "IPAddress": st.binary(min_size=4, max_size=4),
    "String": _PRINTABLE,
    # Decode calls an OCTET STRING with a non-printable byte a HexString.
    "HexString": st.binary(min_size=1, max_size=40).filter(lambda b: any(not 0x20 <= c < 0x7F for c in b)),
    "ObjectID": _oid,
    "Opaque": st.binary(max_size=20),
    "Null": st.none(),
}


@st.composite
def varbinds(draw: st.DrawFn) -> ber.VarBind:
    keyword = draw(st.sampled_from(sorted(_SNMP_VALUES)))
    return ber.VarBind(draw(_oid), ber.SNMP_TYPE_BY_KEYWORD[keyword.lower()], draw(_SNMP_VALUES[keyword]))


def row_strategy(row: TlvDef) -> SearchStrategy:
    """Values that a schema row accepts, limits included."""
    assert row.vtype is not None
    return strategy(row.vtype, row.low, row.high)
