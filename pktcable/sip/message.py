"""SIP messages (RFC 3261 §7), sans-IO: bytes in, typed messages out, and back.

The parser is strict: CRLF line ends only, the header section in UTF-8, every
known header checked against its grammar (see :mod:`pktcable.sip.headers`),
the headers §8.1.1 requires present, Content-Length equal to the body. Every
refusal is a :class:`SipParseError` with line, column, byte offset and header.
Input comes from the network, so :class:`Limits` bounds the message size, the
number of header fields and the length of one (unfolded) header line before
anything is decoded.

Content-Length is framing, not content (as in h11): the parser checks it and
leaves it out of ``headers``; the serializer always writes it from the body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TypeVar

from pktcable.sip import grammar as g
from pktcable.sip import headers as h
from pktcable.sip.errors import SipBuildError, SipLimitError, SipParseError, SipValueError

T = TypeVar("T")
Header = tuple[str, object]

SIP_VERSION = "SIP/2.0"
_REQUEST_LINE = re.compile(r"(" + g.TOKEN_RE.pattern + r") (\S+) (SIP/2\.0)")
_STATUS_LINE = re.compile(r"(SIP/2\.0) ([1-6][0-9][0-9]) ([^\r\n]*)")
_HEADER_NAME = re.compile(g.TOKEN_RE.pattern + r"[ \t]*:")
#: §8.1.1: every request carries these; responses copy them (Max-Forwards excepted).
REQUIRED = ("To", "From", "CSeq", "Call-ID", "Via")


@dataclass(frozen=True)
class Limits:
    """Bounds for hostile input; the defaults fit any provisioning exchange."""

    #: One message, headers and body (a UDP datagram cannot be larger anyway).
    max_message: int = 65_535
    max_headers: int = 100
    #: One header field after unfolding, name included.
    max_header_line: int = 8_192
    #: RFC 3261 §18.3 says to discard datagram bytes beyond Content-Length; by default
    #: that is refused instead, since it is where smuggled or truncated data shows.
    discard_datagram_trailer: bool = False


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class _Message:
    headers: tuple[Header, ...] = ()
    body: bytes = b""

    def get_all(self, name: str) -> list[object]:
        key = h.canonical(name).lower()
        return [v for n, v in self.headers if n.lower() == key]

    def get(self, name: str) -> object | None:
        values = self.get_all(name)
        return values[0] if values else None

    def typed(self, name: str, kind: type[T]) -> T | None:
        value = self.get(name)
        if value is not None and not isinstance(value, kind):
            raise SipBuildError(f"{name} holds {type(value).__name__}, not {kind.__name__}")
        return value

    def need(self, name: str, kind: type[T]) -> T:
        value = self.typed(name, kind)
        if value is None:
            raise SipBuildError(f"the message has no {name}")
        return value

    @property
    def vias(self) -> list[g.Via]:
        return [v for v in self.get_all("Via") if isinstance(v, g.Via)]

    @property
    def top_via(self) -> g.Via:
        return self.need("Via", g.Via)

    @property
    def cseq(self) -> g.CSeq:
        return self.need("CSeq", g.CSeq)

    @property
    def call_id(self) -> str:
        return self.need("Call-ID", str)

    @property
    def from_(self) -> g.NameAddr:
        return self.need("From", g.NameAddr)

    @property
    def to(self) -> g.NameAddr:
        return self.need("To", g.NameAddr)

    def with_header(self: M, name: str, value: object) -> M:
        """A copy with every ``name`` header replaced by one ``value`` (appended if new)."""
        key = h.canonical(name)
        out: list[Header] = []
        done = False
        for n, v in self.headers:
            if n.lower() == key.lower():
                if not done:
                    out.append((key, value))
                    done = True
            else:
                out.append((n, v))
        if not done:
            out.append((key, value))
        return replace(self, headers=tuple(out))


M = TypeVar("M", bound=_Message)


@dataclass(frozen=True, kw_only=True)
class Request(_Message):
    method: str
    uri: g.Uri

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"


@dataclass(frozen=True, kw_only=True)
class Response(_Message):
    status: int
    reason: str

    def start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"


Message = Request | Response


# --- Serializing ------------------------------------------------------------------------------


def serialize(msg: Message, *, compact: bool = False) -> bytes:
    """Wire bytes of ``msg``; consecutive values of a list header share one line."""
    lines = [msg.start_line()]
    i, items = 0, msg.headers
    while i < len(items):
        name, value = items[i]
        if name.lower() == "content-length":
            i += 1
            continue
        row = h.lookup(name)
        values = [value]
        if row is not None and row.multi:
            while i + 1 < len(items) and items[i + 1][0].lower() == name.lower():
                i += 1
                values.append(items[i][1])
        text = ", ".join(str(v) for v in values if v != "")
        if "\r" in text or "\n" in text:
            raise SipBuildError(f"header {name} value holds a line break")
        lines.append(f"{h.compact(name) if compact else name}: {text}")
        i += 1
    lines.append(f"{'l' if compact else 'Content-Length'}: {len(msg.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + msg.body


# --- Parsing ----------------------------------------------------------------------------------


class _Pos:
    """Turns a byte offset into line/column for errors (only computed on error)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def error(self, reason: str, offset: int, header: str | None = None,
              kind: type[SipParseError] = SipParseError) -> SipParseError:
        line = self.data.count(b"\n", 0, offset) + 1
        column = offset - (self.data.rfind(b"\n", 0, offset) + 1) + 1
        return kind(reason, offset=offset, line=line, column=column, header=header)


@dataclass
class _Head:
    start: Message
    headers: list[Header]
    content_length: int | None
    body_start: int


def _parse_head(data: bytes, end: int, limits: Limits) -> _Head:
    """Start line and headers of ``data[:end]`` (``end`` = offset of the blank line)."""
    pos = _Pos(data)
    try:
        text = data[:end].decode("utf-8")
    except UnicodeDecodeError as e:
        raise pos.error("header section is not UTF-8", e.start) from None
    raw_lines = text.split("\r\n")

    def offset(index: int, column: int = 0) -> int:
        # Only on error: byte offset of a character in a line (lines are CRLF-separated).
        return sum(len(line.encode()) + 2 for line in raw_lines[:index]) + len(raw_lines[index][:column].encode())

    for index, line in enumerate(raw_lines):
        if "\r" in line or "\n" in line:
            col = min(i for i in (line.find("\r"), line.find("\n")) if i >= 0)
            raise pos.error("bare CR or LF (lines must end in CRLF)", offset(index, col))
    start = _parse_start(raw_lines[0], pos)
    # Unfold (§7.3.1): a line starting with SP/HT continues the previous field.
    fields: list[tuple[str, int]] = []
    for index in range(1, len(raw_lines)):
        line = raw_lines[index]
        if line[:1] in (" ", "\t"):
            if not fields:
                raise pos.error("continuation line before any header", offset(index))
            fields[-1] = (fields[-1][0] + " " + line.strip(" \t"), fields[-1][1])
        else:
            fields.append((line, index))
        if len(fields[-1][0]) > limits.max_header_line:
            raise pos.error(f"header line over {limits.max_header_line} characters", offset(index),
                            kind=SipLimitError)
    if len(fields) > limits.max_headers:
        raise pos.error(f"more than {limits.max_headers} header fields", offset(fields[limits.max_headers][1]),
                        kind=SipLimitError)
    parsed: list[Header] = []
    #: Canonical name -> (line index, column of the value) of its first occurrence.
    seen: dict[str, tuple[int, int]] = {}
    content_length: int | None = None
    for line, index in fields:
        m = _HEADER_NAME.match(line)
        if m is None:
            raise pos.error("expected 'Name: value'", offset(index))
        name = line[:m.end() - 1].rstrip(" \t")
        rest = line[m.end():]
        value = rest.strip(" \t")
        row = h.lookup(name)
        if row is None:
            parsed.append((name, value))
            continue
        where = (index, m.end() + len(rest) - len(rest.lstrip(" \t")))
        if row.name in seen and not row.multi:
            raise pos.error("header appears twice", offset(index), row.name)
        seen.setdefault(row.name, where)
        try:
            if row.multi and not value and row.may_be_empty:
                parsed.append((row.name, ""))
                continue
            if row.multi:
                for part in g.split_commas(value):
                    parsed.append((row.name, row.parse(part)))
                continue
            if not value:
                raise SipValueError("empty value")
            parsed_value = row.parse(value)
        except SipValueError as e:
            raise pos.error(str(e), offset(*where), row.name) from None
        if row.name == "Content-Length":
            content_length = parsed_value  # type: ignore[assignment]
        else:
            parsed.append((row.name, parsed_value))
    for name in REQUIRED:
        if name not in seen:
            raise pos.error(f"required header {name} is missing", end)
    if isinstance(start, Request):
        if "Max-Forwards" not in seen:
            raise pos.error("required header Max-Forwards is missing", end)
        cseq = next(v for n, v in parsed if n == "CSeq")
        if isinstance(cseq, g.CSeq) and cseq.method != start.method:
            raise pos.error(f"CSeq method {cseq.method} differs from the request's {start.method}",
                            offset(*seen["CSeq"]), "CSeq")
    return _Head(start, parsed, content_length, end + 4)


def _parse_start(line: str, pos: _Pos) -> Message:
    m = _STATUS_LINE.fullmatch(line)
    if m is not None:
        return Response(status=int(m.group(2)), reason=m.group(3))
    m = _REQUEST_LINE.fullmatch(line)
    if m is None:
        raise pos.error("not a Request-Line or Status-Line", 0)
    try:
        uri = g.parse_uri(m.group(2))
    except SipValueError as e:
        raise pos.error(f"Request-URI: {e}", m.start(2)) from None
    return Request(method=m.group(1), uri=uri)


def _header_end(data: bytes, limits: Limits) -> int:
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if len(data) > limits.max_message:
            raise _Pos(data).error(f"message over {limits.max_message} bytes", limits.max_message,
                                   kind=SipLimitError)
        raise _Pos(data).error("no empty line ending the header section", len(data))
    return end


def _finish(head: _Head, body: bytes) -> Message:
    return replace(head.start, headers=tuple(head.headers), body=body)


def parse_datagram(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Message:
    """One SIP message from one UDP datagram (no Content-Length: the rest is the body)."""
    if len(data) > limits.max_message:
        raise SipLimitError(f"message over {limits.max_message} bytes", offset=limits.max_message)
    head = _parse_head(data, _header_end(data, limits), limits)
    rest = len(data) - head.body_start
    length = head.content_length
    if length is None:
        return _finish(head, data[head.body_start:])
    if length > rest:
        raise _Pos(data).error(f"Content-Length {length} but {rest} bytes follow", len(data), "Content-Length")
    if length < rest and not limits.discard_datagram_trailer:
        raise _Pos(data).error(f"{rest - length} bytes after the Content-Length {length} body",
                               head.body_start + length, "Content-Length")
    return _finish(head, data[head.body_start:head.body_start + length])


class StreamFramer:
    """Cuts a TCP/TLS byte stream into messages, strictly by Content-Length (§18.3).

    ``feed(data)`` returns the messages completed so far. The buffer never holds
    more than one message's limit; a framing error raises and leaves the framer
    unusable, because a stream cannot be resynchronized (the connection is closed).
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._buf = bytearray()
        self._head: _Head | None = None
        self.broken = False

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        if self.broken:
            raise SipParseError("the stream already failed to parse")
        self._buf += data
        out: list[Message] = []
        try:
            while True:
                msg = self._next()
                if msg is None:
                    return out
                out.append(msg)
        except SipParseError:
            self.broken = True
            raise

    def _next(self) -> Message | None:
        if self._head is None:
            # §7.5: CRLFs before a start line are ignored on streams (keep-alives).
            while self._buf[:2] == b"\r\n":
                del self._buf[:2]
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > self.limits.max_message:
                    raise SipLimitError(f"header section over {self.limits.max_message} bytes",
                                        offset=self.limits.max_message)
                return None
            head = _parse_head(bytes(self._buf[:end + 4]), end, self.limits)
            if head.content_length is None:
                raise _Pos(bytes(self._buf)).error("Content-Length is required on a stream", end)
            if head.body_start + head.content_length > self.limits.max_message:
                raise SipLimitError(f"message over {self.limits.max_message} bytes", offset=end,
                                    header="Content-Length")
            self._head = head
        need = self._head.body_start + (self._head.content_length or 0)
        if len(self._buf) < need:
            return None
        body = bytes(self._buf[self._head.body_start:need])
        msg = _finish(self._head, body)
        del self._buf[:need]
        self._head = None
        return msg


# --- Building -------------------------------------------------------------------------------

#: Reason phrases for the statuses this package sends (§21, RFC 6665 §8.3).
REASONS = {100: "Trying", 200: "OK", 202: "Accepted", 400: "Bad Request", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 420: "Bad Extension",
           423: "Interval Too Brief", 481: "Call/Transaction Does Not Exist", 483: "Too Many Hops",
           489: "Bad Event", 500: "Server Internal Error", 503: "Service Unavailable"}


def make_response(request: Request, status: int, *, to_tag: str | None = None,
                  extra: tuple[Header, ...] = (), body: bytes = b"", reason: str | None = None) -> Response:
    """A response to ``request`` per §8.2.6: Via, From, To, Call-ID and CSeq copied,
    a To tag added when the request had none and ``to_tag`` is given."""
    copied: list[Header] = [(n, v) for n, v in request.headers
                            if n in ("Via", "From", "To", "Call-ID", "CSeq", "Record-Route")]
    if to_tag is not None and request.to.tag is None:
        copied = [(n, request.to.with_tag(to_tag) if n == "To" else v) for n, v in copied]
    if status >= 300 or request.method not in ("SUBSCRIBE", "NOTIFY", "INVITE"):
        # Record-Route is only echoed in dialog-creating 2xx responses (§12.1.1).
        copied = [(n, v) for n, v in copied if n != "Record-Route"]
    return Response(status=status, reason=reason or REASONS.get(status, "Unknown"),
                    headers=tuple(copied) + extra, body=body)
