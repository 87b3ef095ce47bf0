"""Shorthand for schema rows, so each table reads as a list of one-liners,
and the named sub-tables the schema modules share."""

from __future__ import annotations

from collections.abc import Sequence

from tlv.model import SubTable, TlvDef, ValueType

# Every sub-table of the schema by name: one object per name, whichever
# module names it first (its own, or one that refers to it with ``later``).
_NAMED: dict[str, SubTable] = {}


def row(
    code: int,
    name: str,
    vtype: ValueType,
    low: int | None = None,
    high: int | None = None,
    *,
    spec: str = "",
) -> TlvDef:
    """A value row. Limits are given only where the reference checks them
    (its 0/0 means "unchecked" and is written as no limits here)."""
    return TlvDef(code, name, vtype, None, low, high, spec)


def block(code: int, name: str, children: SubTable, *, spec: str = "") -> TlvDef:
    """An aggregate row whose value is the TLVs of ``children``."""
    return TlvDef(code, name, None, children, None, None, spec)


def sub(name: str, rows: Sequence[TlvDef], *, vendor_scope: int | None = None) -> SubTable:
    """The sub-table ``name`` with ``rows``; the object ``later`` handed out
    for it, if another module referred to it first."""
    known = _NAMED.get(name)
    if known is None:
        known = _NAMED[name] = SubTable(name, rows, vendor_scope)
    else:
        known.fill(rows, vendor_scope)
    return known


def later(name: str, module: str) -> SubTable:
    """The sub-table ``name`` that ``tlv.schema.<module>`` defines, without
    importing that module until a parse or decode reads the table's rows:
    an MTA file (SNMP objects only) never loads the service-flow,
    classifier, vendor or management tables, a CM file only those of the
    blocks it writes."""
    known = _NAMED.get(name)
    if known is None:
        known = _NAMED[name] = SubTable.deferred(name, f"tlv.schema.{module}")
    return known
