"""A small schema for codec tests that must not depend on the full DOCSIS tables."""

from __future__ import annotations

from tlv.model import SubTable, TlvDef, ValueType
from tlv.quoting import quote, unquote


class U8(ValueType):
    name = "uint8"

    def parse(self, text, ctx=None):  # type: ignore[no-untyped-def]
        return int(text)

    def encode(self, value):  # type: ignore[no-untyped-def]
        return bytes((value,))

    def decode(self, data):  # type: ignore[no-untyped-def]
        if len(data) != 1:
            raise ValueError("one byte")
        return data[0]

    def measure(self, value):  # type: ignore[no-untyped-def]
        return value


class Str(ValueType):
    name = "string"

    def parse(self, text, ctx=None):  # type: ignore[no-untyped-def]
        return unquote(text)

    def encode(self, value):  # type: ignore[no-untyped-def]
        return value

    def format(self, value, ctx=None):  # type: ignore[no-untyped-def]
        return quote(value)


U = U8()
FLOW = SubTable("Flow", [TlvDef(1, "Ref", U, low=1, high=9), TlvDef(7, "Priority", U, low=0, high=7)])
TOP = SubTable(
    "Top",
    [
        TlvDef(3, "NetworkAccess", U, low=0, high=1),
        TlvDef(9, "Filename", Str()),
        TlvDef(24, "Flow", children=FLOW),
        TlvDef(25, "OtherFlow", children=FLOW),
    ],
)
