"""Typed views of whole messages and their text explanation (``pktcable dhcp decode``)."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address
from typing import Any

from .capabilities import VendorClass
from .errors import DhcpDecodeError
from .message import END, PAD, Message, MessageType
from .options import DHCP4, SPACES, Item, OptionDef, VendorBlock, decode_value
from .options.tables import CABLELABS_VENDOR_PREFIXES, CODECS_NOTE
from .options.types import BYTES, ValueType


def decode_options(msg: Message) -> list[Item]:
    """Every option of ``msg`` typed (RFC 3396 concatenation applied), in first-seen order.

    Option 43 is read as CableLabs sub-options only when option 60 carries a
    cable prefix; otherwise it stays raw bytes (its meaning is vendor-defined).
    """
    vendor = msg.get(60) or b""
    cable = vendor.startswith(tuple(p.encode() for p in CABLELABS_VENDOR_PREFIXES))
    offsets = {o.code: o.offset + 2 for o in reversed(list(msg.instances())) if o.code not in (PAD, END)}
    items = []
    for code in msg.codes():
        data = msg.get(code)
        assert data is not None
        row = DHCP4.by_code.get(code)
        if row is None or (code == 43 and not cable):
            items.append(Item(code, row.name if row else f"option-{code}", data, known=False))
            continue
        items.append(Item(code, row.name, decode_value(row, data, offsets.get(code, 0), code, None)))
    return items


def decode_option(code: int, data: bytes) -> Item:
    """One option value on its own (offsets count from the start of ``data``)."""
    row = DHCP4.by_code.get(code)
    if row is None:
        return Item(code, f"option-{code}", data, known=False)
    return Item(code, row.name, decode_value(row, data, 0, code, None))


def explain_message(msg: Message) -> Iterator[str]:
    kind = msg.message_type
    name = MessageType(kind).name if kind is not None and kind in MessageType._value2member_map_ else f"type {kind}"
    yield f"DHCP{name} op={msg.op} xid=0x{msg.xid:08x} flags=0x{msg.flags:04x} hops={msg.hops} secs={msg.secs}"
    yield f"  chaddr {msg.mac.hex(':')} ciaddr {msg.ciaddr} yiaddr {msg.yiaddr} siaddr {msg.siaddr} giaddr {msg.giaddr}"
    if msg.sname_options is None and msg.sname.rstrip(b"\0"):
        yield f"  sname {msg.sname.rstrip(bytes(1)).decode('latin-1')!r}"
    if msg.file_options is None and msg.file.rstrip(b"\0"):
        yield f"  file {msg.file.rstrip(bytes(1)).decode('latin-1')!r}"
    for item in decode_options(msg):
        yield from explain_item(item, DHCP4.by_code.get(item.code), 1)


def explain_item(item: Item, row: OptionDef | None, depth: int) -> Iterator[str]:
    pad = "  " * depth
    label = f"{pad}{item.code} {item.name}"
    value = item.value
    if row is not None and row.space is not None and isinstance(value, list):
        yield label
        space = SPACES[row.space]
        for sub in value:
            if isinstance(sub, VendorBlock):
                yield from _explain_block(sub, space.name, depth + 1)
            else:
                yield from explain_item(sub, space.by_code.get(sub.code), depth + 1)
        return
    if isinstance(value, VendorClass):
        yield f"{label}: {value.text}"
        if value.kind:
            yield f"{pad}  device: {value.kind} {value.version}"
        space = SPACES["pktc-mta-capabilities" if value.kind == "mta" else "docsis-modem-capabilities"]
        for cap in value.capabilities or ():
            yield from explain_item(cap, space.by_code.get(cap.code), depth + 1)
        return
    vtype: ValueType = row.type if row is not None and row.type is not None else BYTES
    text = _format(vtype, value, row)
    yield f"{label}: {text}" + ("" if item.known else " (unknown, raw)")


def _explain_block(block: VendorBlock, space: str, depth: int) -> Iterator[str]:
    pad = "  " * depth
    if isinstance(block.items, bytes):
        yield f"{pad}enterprise {block.enterprise}: {block.items.hex()} (raw)"
        return
    from .options import ENTERPRISES

    inner = SPACES[ENTERPRISES[(space, block.enterprise)]]
    yield f"{pad}enterprise {block.enterprise}"
    for sub in block.items:
        yield from explain_item(sub, inner.by_code.get(sub.code), depth + 1)


def _format(vtype: ValueType, value: Any, row: OptionDef | None) -> str:
    if isinstance(value, bytes):
        return value.hex() or "(empty)"
    if isinstance(value, list) and value and isinstance(value[0], Item):
        return "; ".join(f"{i.name}={i.value}" for i in value)
    text = vtype.format(value)
    if row is not None and row.name == "codecs":
        text += " (" + ", ".join(CODECS_NOTE.get(v, "?") for v in value) + ")"
    if row is not None and row.name == "prov-server":  # "10.0.0.1" can be either: say which
        text += " (IPv4 form)" if isinstance(value, IPv4Address) else " (FQDN form)"
    return text


#: Options whose bare body (what ``pktcable dhcp option122`` prints) a run of
#: options that does not decode is tried as, in this order.
BODY_GUESSES = (122,)


def explain_hex(data: bytes, option: int | None = None) -> Iterator[str]:
    """A whole message, or else a run of options (``code len value`` ...), or
    else the bare body of one of :data:`BODY_GUESSES`; with ``option``, the
    body of that option. A run that decodes neither way raises its own error."""
    from .message import FIXED, MAGIC, decode

    if option is not None:
        yield from explain_body(option, data)
        return
    if len(data) >= FIXED and data[FIXED - 4:FIXED] == MAGIC:
        yield from explain_message(decode(data))
        return
    try:
        lines = list(_explain_options(data))
    except DhcpDecodeError as exc:
        for code in BODY_GUESSES:
            try:
                lines = list(explain_body(code, data))
            except DhcpDecodeError:
                continue
            lines[0] += " (bare option body)"
            break
        else:
            raise exc from None
    yield from lines


def explain_body(code: int, data: bytes) -> Iterator[str]:
    """The value of option ``code`` alone, without its code and length octets."""
    if code not in DHCP4.by_code:
        raise DhcpDecodeError(f"option {code} is not in the dhcp4 table", offset=0, option=code)
    item = decode_option(code, data)
    yield from explain_item(item, DHCP4.by_code[code], 0)


def _explain_options(data: bytes) -> Iterator[str]:
    from .message import _walk

    options, _ = _walk(data, 0, len(data))
    for opt in options:
        if opt.code in (PAD, END):
            continue
        item = decode_option(opt.code, opt.data)
        yield from explain_item(item, DHCP4.by_code.get(opt.code), 0)


def explain_capture(data: bytes) -> Iterator[str]:
    """Every DHCP message of a pcap/pcapng capture, headed by its frame and addresses."""
    from .capture import datagrams
    from .message import FIXED, MAGIC, decode

    seen = 0
    for dgram in datagrams(data):
        payload = dgram.payload
        if len(payload) < FIXED or payload[FIXED - 4:FIXED] != MAGIC:
            continue  # UDP, but not BOOTP/DHCP
        seen += 1
        yield f"frame {dgram.frame}: {dgram.src[0]}:{dgram.src[1]} -> {dgram.dst[0]}:{dgram.dst[1]}"
        try:
            yield from explain_message(decode(payload))
        except DhcpDecodeError as exc:
            raise DhcpDecodeError(f"frame {dgram.frame}: {exc.reason}", offset=exc.offset, option=exc.option,
                                  sub_option=exc.sub_option) from None
    if not seen:
        raise DhcpDecodeError("the capture holds no DHCP message", offset=0)
