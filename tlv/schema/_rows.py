"""Shorthand for schema rows, so each table reads as a list of one-liners."""

from __future__ import annotations

from tlv.model import SubTable, TlvDef, ValueType


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
