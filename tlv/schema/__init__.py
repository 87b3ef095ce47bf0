"""The keyword tables of the config language, as data.

``CONFIG`` is the top level of a config file; the tables of its blocks
are read from their modules the first time a file uses them. Sub-tables are named objects
shared by every aggregate that has the same children (the classifier
encodings under TLV 22 and 23, the TLV 43 set under 22 ... 60), so a change
made once applies everywhere. ``ALL_TABLES`` lists each table once by name;
``keyword_rows`` walks the tree with dotted TLV paths for documentation.
"""

from __future__ import annotations

from collections.abc import Iterator

from tlv.model import SubTable, TlvDef
from tlv.schema.config import CONFIG


def _collect(table: SubTable, seen: dict[str, SubTable]) -> None:
    known = seen.get(table.name)
    if known is not None:
        if known is not table:
            raise ValueError(f"two different sub-tables are named {table.name}")
        return
    seen[table.name] = table
    for r in table:
        if r.children is not None:
            _collect(r.children, seen)


def __getattr__(name: str) -> dict[str, SubTable]:
    # ALL_TABLES walks every table, which imports every schema module: only
    # for whoever asks (documentation, tests), not for a compile.
    if name == "ALL_TABLES":
        tables: dict[str, SubTable] = {}
        _collect(CONFIG, tables)
        globals()["ALL_TABLES"] = tables
        return tables
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def keyword_rows(table: SubTable = CONFIG, prefix: str = "") -> Iterator[tuple[str, TlvDef]]:
    """Every row reachable from ``table`` as (dotted TLV path, row), depth first.

    A shared sub-table is listed once under each aggregate that uses it.
    """
    for r in table:
        path = f"{prefix}{r.code}"
        yield path, r
        if r.children is not None:
            yield from keyword_rows(r.children, path + ".")


__all__ = ["ALL_TABLES", "CONFIG", "keyword_rows"]
