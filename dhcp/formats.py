"""Option values written for other servers: hex, ISC dhcpd statements, Kea JSON.

``pktcable dhcp option122`` prints these so operators stop hand-typing hex.
The ISC form declares the ``ccc`` option space with one typed row per
sub-option used (types from the same table the codec uses) and then sets the
values. The Kea form is an ``option-data`` entry carrying the encoded bytes
(``csv-format: false``), which every Kea version accepts for option 122 since
its typed definitions lack the type-byte form of sub-option 3.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .options import SPACES, encode_space
from .options.space import OptionSpace, encode_value

#: ISC option type per value type name, where the table's type has a native ISC form.
_ISC_TYPES = {"ipv4": "ip-address", "ipv4-list": "array of ip-address", "uint8": "unsigned integer 8",
              "uint16": "unsigned integer 16", "uint32": "unsigned integer 32", "bool": "boolean",
              "bits16": "unsigned integer 16"}


def encode_suboptions(space: str, values: Sequence[tuple[str | int, Any]]) -> bytes:
    return encode_space(SPACES[space], values)


def to_hex(value: bytes) -> str:
    return value.hex()


def to_isc(code: int, space_name: str, values: Sequence[tuple[str | int, Any]], option_name: str) -> str:
    space = SPACES[space_name]
    lines = [f"option space {space_name} code width 1 length width 1;"]
    used = [space.row(key) for key, _ in values]
    for row in used:
        isc = _ISC_TYPES.get(row.type.name if row.type else "", "string")
        lines.append(f"option {space_name}.{row.name} code {row.code} = {isc};")
    lines.append(f"option {option_name} code {code} = encapsulate {space_name};")
    for row, (_, value) in zip(used, values, strict=True):
        lines.append(f"option {space_name}.{row.name} {_isc_value(space, row.name, value, code)};")
    return "\n".join(lines)


def _isc_value(space: OptionSpace, name: str, value: Any, code: int) -> str:
    row = space.row(name)
    kind = row.type.name if row.type else ""
    if kind in ("ipv4", "uint8", "uint16", "uint32", "bits16"):
        return str(int(value) if kind != "ipv4" else value)
    if kind == "bool":
        return "true" if value else "false"
    if kind == "ipv4-list":
        return ", ".join(str(v) for v in ([value] if not isinstance(value, list) else value))
    return encode_value(row, value, code).hex(":")


def to_kea(code: int, data: bytes, name: str) -> str:
    entry = {"code": code, "space": "dhcp4", "csv-format": False, "data": data.hex().upper()}
    return json.dumps(entry, indent=2)
