"""Option spaces: named tables of option rows, and one walker for all of them.

A row (:class:`OptionDef`) is code, name, value type or the name of the
sub-option space its value holds, and the spec it comes from -- the shape of
Kea's option definitions. Spaces are registered by name and shared: the
CableLabs vendor space hangs under option 125 and under relay sub-option 82.9
by name, never by copying rows.

Two layouts exist. ``tlv``: ``code(1) len(1) value`` repeated (options 43, 82,
122, 177 and the vendor spaces). ``enterprise``: ``enterprise(4) len(1) data``
blocks, each block's data read in the space registered for that enterprise
number (RFC 3925 option 125, RFC 4243 relay sub-option 9).

Decoding is strict and lossless: every sub-option is kept in order, repeats
too; an unknown code keeps its raw bytes; a value that does not fit its type
raises :class:`DhcpDecodeError` with the option, sub-option and byte offset.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import DhcpDecodeError, DhcpEncodeError
from .types import BYTES, ValueType


@dataclass(frozen=True, slots=True)
class OptionDef:
    code: int
    name: str
    type: ValueType | None = None
    #: Name of the sub-option space the value holds (then ``type`` is None).
    space: str | None = None
    ref: str = ""


@dataclass(slots=True)
class OptionSpace:
    name: str
    rows: tuple[OptionDef, ...]
    layout: str = "tlv"
    #: Codes 0 and 255 are lone pad/end bytes in this space (option 43, RFC 2132 §8.4).
    pads: bool = False
    by_code: dict[int, OptionDef] = field(init=False)
    by_name: dict[str, OptionDef] = field(init=False)

    def __post_init__(self) -> None:
        self.by_code = {r.code: r for r in self.rows}
        self.by_name = {r.name: r for r in self.rows}
        assert len(self.by_code) == len(self.rows), f"duplicate code in space {self.name}"

    def row(self, key: int | str) -> OptionDef:
        """The row for a code or name; an unknown code gets a raw-bytes row."""
        if isinstance(key, str):
            row = self.by_name.get(key)
            if row is None and key.isdigit():
                key = int(key)
            elif row is None:
                raise DhcpEncodeError(f"no option {key!r} in space {self.name}")
            else:
                return row
        return self.by_code.get(key) or OptionDef(key, f"{self.name}-{key}", BYTES)


@dataclass(frozen=True, slots=True)
class Item:
    """One decoded option or sub-option instance."""

    code: int
    name: str
    #: Typed value; raw bytes when the code is unknown; a list of Items for a
    #: sub-option space; a list of VendorBlocks for an enterprise space.
    value: Any
    known: bool = True


@dataclass(frozen=True, slots=True)
class VendorBlock:
    enterprise: int
    items: list[Item] | bytes


SPACES: dict[str, OptionSpace] = {}
#: (space of the blocks, enterprise number) -> space of the block's data.
ENTERPRISES: dict[tuple[str, int], str] = {}


def register(*spaces: OptionSpace) -> None:
    for space in spaces:
        SPACES[space.name] = space


def decode_value(row: OptionDef, data: bytes, base: int, option: int | None, sub: int | None) -> Any:
    """Typed value of one instance; offsets in errors count from ``base``."""
    if row.space is not None:
        return decode_space(SPACES[row.space], data, base, option if option is not None else row.code)
    assert row.type is not None
    try:
        return row.type.decode(data)
    except DhcpDecodeError as exc:  # a type that reports its own offsets (option 60)
        raise DhcpDecodeError(exc.reason, offset=base + exc.offset, option=option,
                              sub_option=exc.sub_option if exc.sub_option is not None else sub) from None
    except (ValueError, UnicodeError) as exc:
        raise DhcpDecodeError(f"{row.name}: {exc}", offset=base, option=option, sub_option=sub) from None


def decode_space(space: OptionSpace, data: bytes, base: int = 0, option: int | None = None) -> list[Any]:
    if space.layout == "enterprise":
        return _decode_blocks(space, data, base, option)
    items: list[Item] = []
    pos, n = 0, len(data)
    while pos < n:
        code = data[pos]
        if space.pads and code in (0, 255):
            items.append(Item(code, "pad" if code == 0 else "end", b""))
            pos += 1
            continue
        if pos + 2 > n:
            raise DhcpDecodeError("sub-option length byte missing", offset=base + pos, option=option,
                                  sub_option=code)
        end = pos + 2 + data[pos + 1]
        if end > n:
            raise DhcpDecodeError(f"sub-option length {data[pos + 1]} runs past its option ({n - pos - 2} left)",
                                  offset=base + pos, option=option, sub_option=code)
        row = space.by_code.get(code)
        value = data[pos + 2:end]
        if row is None:
            items.append(Item(code, f"{space.name}-{code}", bytes(value), known=False))
        else:
            items.append(Item(code, row.name, decode_value(row, value, base + pos + 2, option, code)))
        pos = end
    return items


def _decode_blocks(space: OptionSpace, data: bytes, base: int, option: int | None) -> list[VendorBlock]:
    blocks: list[VendorBlock] = []
    pos, n = 0, len(data)
    while pos < n:
        if pos + 5 > n:
            raise DhcpDecodeError("enterprise block header truncated (4-byte number and length)",
                                  offset=base + pos, option=option)
        enterprise = int.from_bytes(data[pos:pos + 4], "big")
        end = pos + 5 + data[pos + 4]
        if end > n:
            raise DhcpDecodeError(f"enterprise {enterprise} data length {data[pos + 4]} runs past its option",
                                  offset=base + pos, option=option)
        inner = ENTERPRISES.get((space.name, enterprise))
        value = data[pos + 5:end]
        if inner is None:
            blocks.append(VendorBlock(enterprise, bytes(value)))
        else:
            blocks.append(VendorBlock(enterprise, decode_space(SPACES[inner], value, base + pos + 5, option)))
        pos = end
    return blocks


def encode_space(space: OptionSpace, items: Iterable[Any], option: int | None = None) -> bytes:
    """Sub-options back to bytes. ``items``: Items, VendorBlocks or (code-or-name, value) pairs."""
    out = bytearray()
    for entry in items:
        if space.layout == "enterprise":
            out += _encode_block(space, entry, option)
            continue
        key, value = (entry.code, entry.value) if isinstance(entry, Item) else entry
        row = space.row(key)
        if space.pads and row.code in (0, 255) and row.code not in space.by_code:
            out.append(row.code)
            continue
        data = encode_value(row, value, option)
        if len(data) > 255:
            raise DhcpEncodeError(f"{row.name} is {len(data)} bytes; a sub-option holds 255", option=option,
                                  sub_option=row.code)
        out += bytes((row.code, len(data))) + data
    return bytes(out)


def encode_value(row: OptionDef, value: Any, option: int | None = None) -> bytes:
    if row.space is not None:
        if isinstance(value, bytes):
            return value
        return encode_space(SPACES[row.space], value, option if option is not None else row.code)
    assert row.type is not None
    try:
        return row.type.encode(value)
    except (ValueError, TypeError, UnicodeError) as exc:
        sub = None if option is None or option == row.code else row.code
        raise DhcpEncodeError(f"{row.name}: {exc}", option=option if option is not None else row.code,
                              sub_option=sub) from None


def _encode_block(space: OptionSpace, block: Any, option: int | None) -> bytes:
    if isinstance(block, tuple):
        block = VendorBlock(*block)
    if not isinstance(block, VendorBlock):
        raise DhcpEncodeError(f"expected an (enterprise, items) block, not {block!r}", option=option)
    if isinstance(block.items, bytes):
        data = block.items
    else:
        inner = ENTERPRISES.get((space.name, block.enterprise))
        if inner is None:
            raise DhcpEncodeError(f"no sub-option space for enterprise {block.enterprise}", option=option)
        data = encode_space(SPACES[inner], block.items, option)
    if len(data) > 255:
        raise DhcpEncodeError(f"enterprise {block.enterprise} data is {len(data)} bytes; at most 255", option=option)
    return block.enterprise.to_bytes(4, "big") + bytes((len(data),)) + data
