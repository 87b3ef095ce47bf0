"""DHCPv4 messages (RFC 2131 §2, RFC 2132 §9.3 overload, RFC 3396 long options).

The fixed BOOTP header is a table of fields; one ``struct`` is built from it.
Options are kept as the instances that were on the wire, in order, including
pads and the end option, so ``encode(decode(b)) == b`` for every accepted
``b``: nothing is dropped, merged or reordered. Readers ask :meth:`Message.get`,
which concatenates repeated instances of a code the way RFC 3396 §7 says
(options field first, then ``file``, then ``sname`` when option 52 says they
carry options).

Building goes the other way: :func:`build_options` splits a value longer than
255 bytes into several instances (RFC 3396 §5), and :func:`fit` moves options
that do not fit the client's maximum message size into ``file`` and ``sname``
behind option 52.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from ipaddress import IPv4Address

from .errors import DhcpDecodeError, DhcpEncodeError

#: (field, struct code, meaning) -- RFC 2131 §2, Figure 1.
HEADER_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("op", "B", "1 BOOTREQUEST, 2 BOOTREPLY"),
    ("htype", "B", "hardware address type (1 = Ethernet)"),
    ("hlen", "B", "hardware address length"),
    ("hops", "B", "relay agents passed"),
    ("xid", "I", "transaction id chosen by the client"),
    ("secs", "H", "seconds since the client began"),
    ("flags", "H", "bit 15: broadcast"),
    ("ciaddr", "4s", "client address (bound, renewing, rebinding)"),
    ("yiaddr", "4s", "'your' address: the one offered"),
    ("siaddr", "4s", "next server (TFTP of the config file)"),
    ("giaddr", "4s", "relay agent address"),
    ("chaddr", "16s", "client hardware address"),
    ("sname", "64s", "server host name, or options (overload 2)"),
    ("file", "128s", "boot file name, or options (overload 1)"),
)
HEADER = struct.Struct("!" + "".join(code for _, code, _ in HEADER_FIELDS))
MAGIC = b"\x63\x82\x53\x63"  # RFC 2131 §3, the "magic cookie"
FIXED = HEADER.size + len(MAGIC)  # 240
BROADCAST = 0x8000
PAD, END, OVERLOAD, MESSAGE_TYPE = 0, 255, 52, 53
SNAME_OFFSET, FILE_OFFSET = 44, 108
ZERO = IPv4Address(0)
#: Smallest datagram every client must accept (RFC 2131 §2) less IP and UDP headers.
MIN_MESSAGE = 576 - 28


class MessageType(IntEnum):
    """Option 53 values (RFC 2132 §9.6)."""

    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


@dataclass(slots=True)
class Option:
    """One option instance as it was on the wire (``code`` 0 and 255 have no length)."""

    code: int
    data: bytes = b""
    offset: int = -1


@dataclass(slots=True, eq=False)
class Message:
    op: int = 1
    htype: int = 1
    hlen: int = 6
    hops: int = 0
    xid: int = 0
    secs: int = 0
    flags: int = 0
    ciaddr: IPv4Address = ZERO
    yiaddr: IPv4Address = ZERO
    siaddr: IPv4Address = ZERO
    giaddr: IPv4Address = ZERO
    chaddr: bytes = bytes(16)
    sname: bytes = bytes(64)
    file: bytes = bytes(128)
    options: list[Option] = field(default_factory=list)
    #: Set when option 52 says the field carries options (then the raw field is derived).
    file_options: list[Option] | None = None
    sname_options: list[Option] | None = None
    #: Bytes after the end option (padding some clients add); kept for exact re-encoding.
    trailer: bytes = b""
    _index: dict[int, bytes] | None = field(default=None, repr=False)

    @property
    def mac(self) -> bytes:
        return self.chaddr[: min(self.hlen, 16)]

    @property
    def message_type(self) -> int | None:
        value = self.get(MESSAGE_TYPE)
        return value[0] if value and len(value) == 1 else None

    def instances(self) -> Iterable[Option]:
        """Every option in RFC 3396 order: options field, then file, then sname."""
        yield from self.options
        if self.file_options is not None:
            yield from self.file_options
        if self.sname_options is not None:
            yield from self.sname_options

    def get(self, code: int) -> bytes | None:
        """The value of ``code``, repeated instances concatenated (RFC 3396 §7)."""
        index = self._index
        if index is None:
            index = {}
            # Straight over the list when nothing is overloaded (nearly always): no generator.
            found = self.options if self.file_options is None and self.sname_options is None else \
                self.instances()
            for opt in found:
                c = opt.code
                if c != PAD and c != END:
                    index[c] = index[c] + opt.data if c in index else opt.data
            self._index = index
        return index.get(code)

    def codes(self) -> list[int]:
        """Distinct option codes in first-seen order."""
        self.get(PAD)
        assert self._index is not None
        return list(self._index)


def decode(data: bytes) -> Message:
    """Decode one datagram strictly; raises :class:`DhcpDecodeError` only."""
    if len(data) < FIXED:
        raise DhcpDecodeError(f"message is {len(data)} bytes; a DHCP message has at least {FIXED}", offset=0)
    if data[HEADER.size:FIXED] != MAGIC:
        raise DhcpDecodeError("no DHCP magic cookie (a plain BOOTP message?)", offset=HEADER.size)
    (op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, chaddr, sname, file) = HEADER.unpack_from(data)
    if op not in (1, 2):
        raise DhcpDecodeError(f"op {op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)", offset=0)
    options, end = _walk(data, FIXED, len(data))
    msg = Message(op, htype, hlen, hops, xid, secs, flags, _address(ci), _address(yi), _address(si),
                  _address(gi), chaddr, sname, file, options, trailer=data[end:])
    overload = [o.data for o in options if o.code == OVERLOAD]
    if overload:
        value = b"".join(overload)
        if len(value) != 1 or value[0] not in (1, 2, 3):
            raise DhcpDecodeError(f"option overload value {value.hex()} is not 1, 2 or 3", offset=FIXED,
                                  option=OVERLOAD)
        if value[0] & 1:
            msg.file_options = _field_options(data, FILE_OFFSET, 128)
        if value[0] & 2:
            msg.sname_options = _field_options(data, SNAME_OFFSET, 64)
    return msg


_ZERO_BYTES = bytes(4)


def _address(raw: bytes) -> IPv4Address:
    # Most of the four header addresses are 0.0.0.0: share one object for them.
    return ZERO if raw == _ZERO_BYTES else IPv4Address(raw)


def _field_options(data: bytes, start: int, size: int) -> list[Option]:
    options, end = _walk(data, start, start + size)
    if any(data[end:start + size]):
        raise DhcpDecodeError("non-zero bytes after the end option of an overloaded field", offset=end)
    return options


def _walk(data: bytes, pos: int, stop: int) -> tuple[list[Option], int]:
    """Option instances from ``pos`` up to the end option (or ``stop``); returns where reading ended."""
    options: list[Option] = []
    append = options.append
    while pos < stop:
        code = data[pos]
        if code == PAD:
            append(Option(PAD, b"", pos))
            pos += 1
            continue
        if code == END:
            append(Option(END, b"", pos))
            return options, pos + 1
        if pos + 1 >= stop:
            raise DhcpDecodeError("option length byte missing", offset=pos, option=code)
        end = pos + 2 + data[pos + 1]
        if end > stop:
            raise DhcpDecodeError(f"length {data[pos + 1]} runs past the end ({stop - pos - 2} bytes left)",
                                  offset=pos, option=code)
        append(Option(code, data[pos + 2:end], pos))
        pos = end
    return options, pos


def encode_options(options: Iterable[Option]) -> bytes:
    out = bytearray()
    for opt in options:
        code = opt.code
        if code == PAD or code == END:
            out.append(code)
            continue
        n = len(opt.data)
        if n > 255:
            raise DhcpEncodeError(f"an option instance holds at most 255 bytes, not {n} (use build_options)",
                                  option=code)
        out.append(code)
        out.append(n)
        out += opt.data
    return bytes(out)


def encode(msg: Message) -> bytes:
    """The datagram for ``msg``; exact inverse of :func:`decode`."""
    sname, file = msg.sname, msg.file
    if msg.file_options is not None:
        file = _pack_field(msg.file_options, 128, "file")
    if msg.sname_options is not None:
        sname = _pack_field(msg.sname_options, 64, "sname")
    if len(file) != 128 or len(sname) != 64 or len(msg.chaddr) != 16:
        raise DhcpEncodeError("chaddr, sname and file must be 16, 64 and 128 bytes")
    try:
        head = HEADER.pack(msg.op, msg.htype, msg.hlen, msg.hops, msg.xid, msg.secs, msg.flags,
                           msg.ciaddr.packed, msg.yiaddr.packed, msg.siaddr.packed, msg.giaddr.packed,
                           msg.chaddr, sname, file)
    except struct.error as exc:
        raise DhcpEncodeError(f"header field out of range: {exc}") from None
    return head + MAGIC + encode_options(msg.options) + msg.trailer


def _pack_field(options: list[Option], size: int, name: str) -> bytes:
    raw = encode_options(options)
    if len(raw) > size:
        raise DhcpEncodeError(f"options placed in {name} take {len(raw)} bytes; the field holds {size}")
    return raw.ljust(size, b"\0")


def build_options(values: Iterable[tuple[int, bytes]]) -> list[Option]:
    """Instances for (code, value) pairs; values over 255 bytes are split (RFC 3396 §5). No end option."""
    out: list[Option] = []
    for code, data in values:
        if code in (PAD, END):
            raise DhcpEncodeError("pad and end are not options with a value", option=code)
        if len(data) <= 255:
            out.append(Option(code, data))
            continue
        for i in range(0, len(data), 255):
            out.append(Option(code, data[i:i + 255]))
    return out


def fit(msg: Message, options: list[Option], max_size: int = MIN_MESSAGE) -> None:
    """Place ``options`` (no end option) in ``msg`` within ``max_size`` bytes.

    What does not fit the options field moves into ``file`` and then ``sname``
    behind option 52 (RFC 2131 §4.1, RFC 2132 §9.3), as long as those fields
    are empty; otherwise :class:`DhcpEncodeError`.
    """
    room = max(max_size, MIN_MESSAGE) - FIXED - 1  # the end option
    total = sum(1 if o.code == PAD else 2 + len(o.data) for o in options)
    if total <= room:
        msg.options = [*options, Option(END)]
        return
    room -= 3  # option 52 itself
    fields: list[tuple[str, int, list[Option]]] = [("options", room, []), ("file", 128 - 1, []),
                                                   ("sname", 64 - 1, [])]
    slot = 0
    used = 0
    for opt in options:
        size = 2 + len(opt.data)
        while slot < len(fields) and used + size > fields[slot][1]:
            slot, used = slot + 1, 0
        if slot == len(fields):
            raise DhcpEncodeError(f"options take {total} bytes; they do not fit even with overload")
        fields[slot][2].append(opt)
        used += size
    main, in_file, in_sname = (f[2] for f in fields)
    overload = (1 if in_file else 0) | (2 if in_sname else 0)
    if (in_file and any(msg.file)) or (in_sname and any(msg.sname)):
        raise DhcpEncodeError("options need the file/sname fields but they carry a name")
    msg.options = [Option(OVERLOAD, bytes((overload,))), *main, Option(END)]
    msg.file_options = [*in_file, Option(END)] if in_file else None
    msg.sname_options = [*in_sname, Option(END)] if in_sname else None
    msg._index = None


def max_message_size(request: Message) -> int:
    """The reply size limit a client asked for with option 57 (IP and UDP headers excluded)."""
    raw = request.get(57)
    if raw is None or len(raw) != 2:
        return MIN_MESSAGE
    return max(MIN_MESSAGE, min(int.from_bytes(raw, "big") - 28, 65535 - 28))
