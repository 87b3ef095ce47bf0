"""TFTP read transfers without I/O: the packet codec and one transfer's state machine.

Specs: RFC 1350 (the protocol), RFC 2347 (option extension, OACK, error 8),
RFC 2348 (blksize), RFC 2349 (timeout, tsize). Only RRQ is served; a server
that builds config files has nothing to receive.

The caller owns sockets and clocks (aioquic style): it feeds datagrams with
``receive_datagram(data, addr, now)``, sends what ``datagrams_to_send()``
returns, and calls ``handle_timer(now)`` once ``get_timer()`` has passed.

Packet layouts (RFC 1350 §5, RFC 2347):

    RRQ/WRQ  | 01/02 | filename | 0 | mode | 0 | opt1 | 0 | value1 | 0 | ...
    DATA     | 03 | block (2) | data (0..blksize)
    ACK      | 04 | block (2)
    ERROR    | 05 | ErrorCode (2) | ErrMsg | 0
    OACK     | 06 | opt1 | 0 | value1 | 0 | ...
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum, IntEnum, unique

Address = tuple[str, int]

#: RFC 2347 §"Packet Formats": a request (with its options) fits in 512 octets.
MAX_REQUEST = 512
#: RFC 1350 block size, used when the client asks for no other.
DEFAULT_BLKSIZE = 512
#: RFC 2348 range of blksize: 8..65464 (65464 = 65535 - IPv4 and UDP headers and the 4-octet TFTP header).
MIN_BLKSIZE, MAX_BLKSIZE = 8, 65464
#: RFC 2349 range of the timeout option, in seconds.
MIN_TIMEOUT, MAX_TIMEOUT = 1, 255
#: The largest timeout option granted by default: a longer one only lets a silent client hold a session.
DEFAULT_MAX_TIMEOUT_OPTION = 5
#: The default bound on one transfer's life, whatever its options and progress.
DEFAULT_MAX_DURATION = 60.0
# Option values are decimal numbers; anything longer is hostile, not a number we could honour.
_MAX_VALUE_DIGITS = 10

_HEADER = struct.Struct("!HH")


@unique
class Opcode(IntEnum):
    RRQ = 1
    WRQ = 2
    DATA = 3
    ACK = 4
    ERROR = 5
    OACK = 6  # RFC 2347


@unique
class ErrorCode(IntEnum):
    NOT_DEFINED = 0
    FILE_NOT_FOUND = 1
    ACCESS_VIOLATION = 2
    DISK_FULL = 3
    ILLEGAL_OPERATION = 4
    UNKNOWN_TID = 5
    FILE_EXISTS = 6
    NO_SUCH_USER = 7
    OPTION_REFUSED = 8  # RFC 2347: the option negotiation was refused


class TftpError(Exception):
    """Root of the TFTP errors."""


class MalformedPacket(TftpError):
    """A datagram that is not a well-formed TFTP packet; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Request:
    opcode: Opcode  # RRQ or WRQ
    filename: str
    mode: str  # lower case: "netascii", "octet" or "mail"
    #: option names lower-cased (RFC 2347: case-insensitive), in request order.
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Data:
    block: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    block: int


@dataclass(frozen=True, slots=True)
class Error:
    code: int  # an ErrorCode, but peers send others too and we must not choke on them
    message: str


@dataclass(frozen=True, slots=True)
class OptionAck:
    options: tuple[tuple[str, str], ...]


Packet = Request | Data | Ack | Error | OptionAck


# --- decoding ---------------------------------------------------------------------------------------------------


_PRINTABLE = bytes(range(0x20, 0x7F))


def _text(raw: bytes, what: str) -> str:
    # netascii strings (RFC 764 printable ASCII). Control bytes in a file name
    # are never legitimate and only serve to confuse logs and file systems.
    # (What is left once the printable bytes are deleted: one C call, not a loop per byte.)
    if raw.translate(None, _PRINTABLE):
        raise MalformedPacket(f"{what} is not printable ASCII")
    return raw.decode("ascii")


def _strings(body: bytes, what: str) -> list[bytes]:
    if not body.endswith(b"\0"):
        raise MalformedPacket(f"{what} is not NUL-terminated")
    return body[:-1].split(b"\0")


def decode_request(data: bytes) -> Request:
    if len(data) > MAX_REQUEST:
        raise MalformedPacket(f"request of {len(data)} octets (at most {MAX_REQUEST})")
    op = int.from_bytes(data[:2], "big")
    if op not in (Opcode.RRQ, Opcode.WRQ):
        raise MalformedPacket(f"opcode {op} is not a request")
    opcode = Opcode(op)
    fields = _strings(data[2:], "request")
    if len(fields) < 2:
        raise MalformedPacket("request without a mode")
    if len(fields) % 2:
        raise MalformedPacket("option without a value")
    filename = _text(fields[0], "file name")
    if not filename:
        raise MalformedPacket("empty file name")
    mode = _text(fields[1], "mode").lower()
    if mode not in ("netascii", "octet", "mail"):
        raise MalformedPacket(f"unknown transfer mode {mode!r}")
    options: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i in range(2, len(fields), 2):
        name = _text(fields[i], "option name").lower()
        if not name:
            raise MalformedPacket("empty option name")
        if name in seen:
            # Which copy would count is unspecified; refuse rather than guess.
            raise MalformedPacket(f"option {name!r} given twice")
        seen.add(name)
        options.append((name, _text(fields[i + 1], f"value of {name}")))
    return Request(opcode, filename, mode, tuple(options))


def decode(data: bytes) -> Packet:
    """One datagram -> one packet, or :class:`MalformedPacket`. Never anything else."""
    if len(data) < 4:
        raise MalformedPacket(f"datagram of {len(data)} octets is too short")
    op = int.from_bytes(data[:2], "big")
    if op in (Opcode.RRQ, Opcode.WRQ):
        return decode_request(data)
    if op == Opcode.DATA:
        return Data(int.from_bytes(data[2:4], "big"), data[4:])
    if op == Opcode.ACK:
        if len(data) != 4:
            raise MalformedPacket(f"ACK of {len(data)} octets")
        return Ack(int.from_bytes(data[2:4], "big"))
    if op == Opcode.ERROR:
        # Peers' messages are informative only: decode leniently but never fail on them.
        message = data[4:].split(b"\0", 1)[0].decode("ascii", "replace")
        return Error(int.from_bytes(data[2:4], "big"), message)
    if op == Opcode.OACK:
        fields = _strings(data[2:], "OACK")
        if len(fields) % 2:
            raise MalformedPacket("option without a value")
        pairs = [(_text(fields[i], "option").lower(), _text(fields[i + 1], "value")) for i in range(0, len(fields), 2)]
        return OptionAck(tuple(pairs))
    raise MalformedPacket(f"unknown opcode {op}")


# --- encoding ---------------------------------------------------------------------------------------------------


def encode_request(opcode: Opcode, filename: str, mode: str = "octet", options: dict[str, str] | None = None) -> bytes:
    parts = [filename, mode] + [s for kv in (options or {}).items() for s in kv]
    return opcode.to_bytes(2, "big") + b"".join(p.encode("ascii") + b"\0" for p in parts)


def encode_data(block: int, payload: bytes) -> bytes:
    return _HEADER.pack(Opcode.DATA, block) + payload


def encode_ack(block: int) -> bytes:
    return _HEADER.pack(Opcode.ACK, block)


def encode_error(code: ErrorCode, message: str) -> bytes:
    return _HEADER.pack(Opcode.ERROR, code) + message.encode("ascii", "replace") + b"\0"


def encode_oack(options: dict[str, str]) -> bytes:
    return Opcode.OACK.to_bytes(2, "big") + b"".join(s.encode("ascii") + b"\0" for kv in options.items() for s in kv)


def to_netascii(content: bytes) -> bytes:
    """RFC 764 line ends: LF -> CR LF and a bare CR -> CR NUL (what netascii mode sends)."""
    return content.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")


def netascii_size(content: bytes) -> int:
    """Length of ``to_netascii(content)`` without building it: every CR and LF gains one octet."""
    return len(content) + content.count(b"\r") + content.count(b"\n")


class OctetReader:
    """The file as it is, read block by block (slices of the shared content)."""

    __slots__ = ("_source", "_pos")

    def __init__(self, source: bytes) -> None:
        self._source = source
        self._pos = 0

    def read(self, n: int) -> bytes:
        start = self._pos
        self._pos = min(start + n, len(self._source))
        return self._source[start:self._pos]


class NetasciiReader:
    """The netascii form of the file, converted as it is read.

    A converted copy per transfer would let every netascii RRQ for a firmware
    image cost the image's size again. The conversion maps each octet on its
    own (no state crosses octets), so converting a block's worth at a time is
    exact, and a transfer holds at most about two blocks of converted text.
    """

    __slots__ = ("_source", "_pos", "_pending")

    def __init__(self, source: bytes) -> None:
        self._source = source
        self._pos = 0
        self._pending = b""  # converted octets not yet sent: at most one expansion's worth per source octet

    def read(self, n: int) -> bytes:
        out = self._pending
        while len(out) < n and self._pos < len(self._source):
            # n source octets make at least n converted ones: one slice per block is enough.
            chunk = self._source[self._pos:self._pos + n]
            self._pos += len(chunk)
            out += to_netascii(chunk)
        self._pending = out[n:]
        return out[:n]


# --- option negotiation -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransferConfig:
    """What the server allows; per-transfer values come from negotiation."""

    #: largest blksize granted; lower it to the path MTU (1468 for Ethernet) if fragments are unwelcome.
    max_blksize: int = MAX_BLKSIZE
    #: retransmission interval when the client does not ask for one (RFC 2349 timeout).
    timeout: float = 1.0
    #: retransmissions of one packet before the transfer is given up.
    max_retries: int = 5
    #: a transfer older than this ends whatever its options and progress (slow-drip clients).
    #: Raise it for large firmware images over slow links.
    max_duration: float = DEFAULT_MAX_DURATION
    #: honour the client's RFC 2349 timeout option.
    accept_timeout_option: bool = True
    #: the largest RFC 2349 timeout granted; a larger one is left out of the OACK and ``timeout`` applies.
    max_timeout_option: int = DEFAULT_MAX_TIMEOUT_OPTION


@dataclass(frozen=True, slots=True)
class Negotiated:
    blksize: int
    timeout: float
    #: options to send back in an OACK, in the request's order; empty means no OACK (RFC 2347).
    oack: dict[str, str]


def _number(value: str) -> int | None:
    if not value.isdigit() or len(value) > _MAX_VALUE_DIGITS or not value.isascii():
        return None
    return int(value)


def negotiate(request: Request, size: int, config: TransferConfig) -> Negotiated:
    """Grant what the server can of the request's options; ignore the rest.

    RFC 2347 lets a server leave out any option it does not accept; the client
    then falls back to RFC 1350 defaults. Out-of-range or non-numeric values are
    therefore ignored rather than answered with error 8, which would end the
    transfer of a device that merely asked for too much.

    A timeout above ``config.max_timeout_option`` is refused that way too: RFC
    2349 does not let the server answer with a smaller value, and granting it
    would let a client that never ACKs hold its session for (retries + 1) times
    up to 255 seconds.
    """
    blksize, timeout = DEFAULT_BLKSIZE, config.timeout
    oack: dict[str, str] = {}
    for name, value in request.options:
        number = _number(value)
        if number is None:
            continue
        if name == "blksize" and number >= MIN_BLKSIZE:
            blksize = min(number, config.max_blksize)  # RFC 2348: the server may answer with a smaller size
            oack[name] = str(blksize)
        elif name == "tsize" and number == 0:  # RFC 2349: a reading client sends 0 and learns the size
            oack[name] = str(size)
        elif (name == "timeout" and config.accept_timeout_option
              and MIN_TIMEOUT <= number <= min(MAX_TIMEOUT, config.max_timeout_option)):
            timeout = float(number)
            oack[name] = value  # RFC 2349: the server must not answer with a different value
    return Negotiated(blksize, timeout, oack)


def _asks_tsize(request: Request) -> bool:
    return any(name == "tsize" for name, _ in request.options)


_DONE = OctetReader(b"")


# --- one read transfer ------------------------------------------------------------------------------------------


class TransferState(Enum):
    #: OACK sent, waiting for ACK 0 (RFC 2347).
    OPTIONS_SENT = "options-sent"
    #: DATA sent, waiting for its ACK.
    SENDING = "sending"
    COMPLETE = "complete"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class TransferCompleted:
    size: int
    blocks: int


@dataclass(frozen=True, slots=True)
class TransferFailed:
    reason: str


class ReadTransfer:
    """Serves one RRQ: lock-step DATA/ACK with retransmission on the timer only.

    Duplicate and stale ACKs are ignored, never answered with a resend: answering
    them doubles every later packet (the "Sorcerer's Apprentice" bug, RFC 1123
    §4.2.3.1). Block numbers wrap from 65535 to 0, as curl and tftp-hpa expect,
    so images larger than 65535 blocks go through.
    """

    __slots__ = ("peer", "request", "state", "result", "blksize", "timeout", "_reader", "_sent", "_final",
                 "_block", "_packet", "_deadline", "_retries", "_expires", "_max_retries", "_out")

    def __init__(self, peer: Address, request: Request, content: bytes, now: float,
                 config: TransferConfig = TransferConfig()) -> None:
        self.peer = peer
        self.request = request
        netascii = request.mode == "netascii"
        # The content is shared with the resolver's cache and other transfers: read it, never copy it.
        self._reader: OctetReader | NetasciiReader = NetasciiReader(content) if netascii else OctetReader(content)
        # Counting the netascii size reads the whole file: only for a client that asks (tsize).
        size = netascii_size(content) if netascii and _asks_tsize(request) else len(content)
        agreed = negotiate(request, size, config)
        self.blksize = agreed.blksize
        self.timeout = agreed.timeout
        self._sent = 0
        # The last block is the first short one: an exact multiple ends with an empty block.
        self._final = False
        self._max_retries = config.max_retries
        self._expires = now + config.max_duration
        self._out: list[tuple[bytes, Address]] = []
        self._retries = 0
        self.result: TransferCompleted | TransferFailed | None = None
        if agreed.oack:
            self.state = TransferState.OPTIONS_SENT
            self._block = 0
            self._send(encode_oack(agreed.oack), now)
        else:
            self.state = TransferState.SENDING
            self._block = 1
            self._send_block(now)

    # -- the caller's interface

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        if self.result is not None:
            return
        if addr != self.peer:
            # RFC 1350 §4: a packet from a foreign TID gets error 5 and leaves the transfer alone.
            self._out.append((encode_error(ErrorCode.UNKNOWN_TID, "unknown transfer ID"), addr))
            return
        try:
            packet = decode(data)
        except MalformedPacket as exc:
            self._fail(f"malformed packet from client: {exc.reason}", ErrorCode.ILLEGAL_OPERATION)
            return
        if isinstance(packet, Ack):
            self._on_ack(packet.block, now)
        elif isinstance(packet, Error):
            self._finish(TransferFailed(f"client sent error {packet.code}: {packet.message}"))
        else:
            self._fail(f"unexpected {type(packet).__name__} during a read transfer", ErrorCode.ILLEGAL_OPERATION)

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return None if self.result is not None else min(self._deadline, self._expires)

    def handle_timer(self, now: float) -> None:
        if self.result is not None or now < min(self._deadline, self._expires):
            return
        if now >= self._expires:
            self._fail("transfer took too long", ErrorCode.NOT_DEFINED)
        elif self._retries >= self._max_retries:
            # The client is gone; an ERROR would go nowhere useful.
            self._finish(TransferFailed(f"no ACK for block {self._block} after {self._retries} retransmissions"))
        else:
            self._retries += 1
            self._send(self._packet, now)

    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def sent_last_block(self) -> bool:
        """The last DATA block is out and only its ACK is missing."""
        return self.result is None and self.state is TransferState.SENDING and self._final

    # -- internals

    def _on_ack(self, block: int, now: float) -> None:
        if block != self._block & 0xFFFF:
            return  # duplicate, stale or not yet sent: never a reason to transmit
        if self.state is TransferState.SENDING and self._final:
            self._finish(TransferCompleted(self._sent, self._block))
            return
        self.state = TransferState.SENDING
        self._block += 1
        self._retries = 0
        self._send_block(now)

    def _send_block(self, now: float) -> None:
        payload = self._reader.read(self.blksize)
        self._sent += len(payload)
        self._final = len(payload) < self.blksize
        self._send(encode_data(self._block & 0xFFFF, payload), now)

    def _send(self, packet: bytes, now: float) -> None:
        self._packet = packet
        self._deadline = now + self.timeout
        self._out.append((packet, self.peer))

    def _fail(self, reason: str, code: ErrorCode) -> None:
        self._out.append((encode_error(code, reason), self.peer))
        self._finish(TransferFailed(reason))

    def _finish(self, result: TransferCompleted | TransferFailed) -> None:
        self.result = result
        self.state = TransferState.COMPLETE if isinstance(result, TransferCompleted) else TransferState.FAILED
        self._reader = _DONE  # let go of a firmware image as soon as its transfer ends
