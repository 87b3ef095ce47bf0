"""What the DHCP worker process tells the main process, and the main process's
copy of the lease table built from it.

With ``dhcp_workers = 1`` (docs/serve.md) the DHCP server (socket, engine,
lease store) runs in a process of its own. Every INFORM and every file request
the main process serves asks who holds an address now (the lease gate), so the
main process keeps a mirror of the lease table (:class:`LeaseMirror`) fed by a
stream of lease records over a socket pair, and the gate stays a local lookup
instead of a round trip per request.

The stream is frames, each ``length (u32) | kind (u8) | body``, big-endian:

=========  ==========================================================================
kind       body
=========  ==========================================================================
BOUND      a lease (below), then the ACK's facts: kind, version, realm, renewal,
           option 60 as the REQUEST sent it (what the device can do), and option
           43's report (vendor, model, hardware and software version)
RELEASED   a lease
DECLINED   a lease (the quarantine row that replaced the holder's)
SNAPSHOT   a lease, at start-up: the worker's lease table, row by row
READY      nothing: the snapshot is complete, the worker serves
STATS      the worker's DHCP counters as JSON (once a second: scrape-time figures)
SYNC       nothing: the answer to the parent's sync request (one octet ``S`` on the
           stream's other direction); every record written before it has been read
=========  ==========================================================================

A lease is ``address (u32) | expires (f64) | state (u8)``, the lengths of its
text fields (u16 each), then the fields (UTF-8); a BOUND record's facts follow
the same shape (flags, lengths, texts). One ``struct`` call reads each head: the
main process decodes two records per device. Expiry needs no record: every lease carries its
expiry time, and the mirror answers by the clock as the engine does.

Sans-IO: :func:`encode` gives bytes, :class:`FrameReader` takes bytes; neither
touches a socket or a clock. The peer is our own worker, but its bytes are
still checked: a damaged frame raises :class:`WireError` (offset, field, why),
and the reader refuses a frame longer than :data:`MAX_FRAME`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from enum import IntEnum
from ipaddress import IPv4Address
from typing import Any

from dhcp.capabilities import VendorClass
from pktcable.dhcpd.engine import mac_key
from pktcable.dhcpd.events import DeviceReport, Event, LeaseBound, LeaseDeclined, LeaseReleased
from pktcable.dhcpd.limits import VENDOR_CACHE_LIMIT, ClearingCache
from pktcable.dhcpd.policy import vendor_class
from pktcable.store import Lease, LeaseState

#: A frame larger than this is damage, not a lease (the largest lease is a few hundred octets;
#: STATS, with every drop reason, a few kilobytes).
MAX_FRAME = 1 << 20
_HEAD = struct.Struct("!IB")
#: LeaseState by its number on the wire, in a fixed order (never Enum iteration order by accident).
STATES = (LeaseState.BOUND, LeaseState.RELEASED, LeaseState.DECLINED)
_STATE_NUMBER = {state: i for i, state in enumerate(STATES)}
#: The lease's text fields, in wire order.
LEASE_TEXT = ("client", "mac", "device_class", "subnet", "remote_id", "hostname", "giaddr", "circuit_id")
#: The lease's head: address, expires, state, then each text field's length.
_LEASE = struct.Struct("!IdB" + "H" * len(LEASE_TEXT))
#: The ACK's facts after the lease of a BOUND record: flags (0 or 1), then text fields.
BOUND_FLAGS = ("renewal", "has_realm", "has_option60", "has_report")
BOUND_TEXT = ("kind", "version", "realm", "option60", "vendor", "model", "hw_version", "sw_version")
_FACTS = struct.Struct("!" + "B" * len(BOUND_FLAGS) + "H" * len(BOUND_TEXT))


if tuple(f.name for f in fields(Lease) if f.name not in ("address", "expires", "state")) != LEASE_TEXT or \
        [f.name for f in fields(Lease)][:5] != ["address", "client", "mac", "expires", "state"]:
    raise ImportError("pktcable.store.Lease changed its fields: update LEASE_TEXT and _Body.lease")


class Kind(IntEnum):
    BOUND = 1
    RELEASED = 2
    DECLINED = 3
    SNAPSHOT = 4
    READY = 5
    STATS = 6
    SYNC = 7


class WireError(ValueError):
    """A frame that does not decode: where (octet offset in the stream), which field, why."""

    def __init__(self, offset: int, path: str, why: str) -> None:
        super().__init__(f"lease stream offset {offset}: {path}: {why}")
        self.offset, self.path, self.why = offset, path, why


@dataclass(frozen=True, slots=True)
class Record:
    kind: Kind
    lease: Lease | None = None
    #: BOUND: the event as the in-process server would have given it.
    event: LeaseBound | None = None
    #: STATS: the worker's counters.
    stats: dict[str, Any] = field(default_factory=dict)


# -- encoding ---------------------------------------------------------------------------------------

def _texts(values: tuple[str, ...]) -> tuple[list[int], bytes]:
    raw = [value.encode("utf-8", "surrogateescape") for value in values]
    lengths = [len(r) for r in raw]
    if max(lengths, default=0) > 0xFFFF:
        raise ValueError(f"{max(lengths)} octets do not fit a u16 length")
    return lengths, b"".join(raw)


def _lease(lease: Lease) -> bytes:
    lengths, texts = _texts(tuple(getattr(lease, name) for name in LEASE_TEXT))
    return _LEASE.pack(int(lease.address), lease.expires, _STATE_NUMBER[lease.state], *lengths) + texts


def _frame(kind: Kind, body: bytes) -> bytes:
    return _HEAD.pack(len(body) + 1, kind) + body


def encode_lease(kind: Kind, lease: Lease) -> bytes:
    return _frame(kind, _lease(lease))


_NO_REPORT = DeviceReport()


def encode_bound(event: LeaseBound) -> bytes:
    vendor = event.vendor
    option60 = None if vendor is None else vendor.text
    report = event.report or _NO_REPORT
    flags = (event.renewal, event.realm is not None, option60 is not None, event.report is not None)
    lengths, texts = _texts((event.kind, event.version, event.realm or "", option60 or "", report.vendor,
                             report.model, report.hw_version, report.sw_version))
    return _frame(Kind.BOUND, _lease(event.lease) + _FACTS.pack(*flags, *lengths) + texts)


def encode_event(event: Event) -> bytes:
    """The record of one core event the main process needs; b"" for the others (drops, ...)."""
    if isinstance(event, LeaseBound):
        return encode_bound(event)
    if isinstance(event, LeaseReleased):
        return encode_lease(Kind.RELEASED, event.lease)
    return b""


def encode_round(events: Iterable[Event], by_address: Mapping[IPv4Address, Lease]) -> bytes:
    """The records of one round of the core's events; ``by_address`` is the engine's table after
    the round (a DECLINE's record is the quarantine row that replaced the holder's lease)."""
    out = []
    for event in events:
        if isinstance(event, LeaseDeclined):
            row = by_address.get(event.address)
            if row is not None:
                out.append(encode_lease(Kind.DECLINED, row))
        else:
            out.append(encode_event(event))
    return b"".join(out)


def encode_stats(stats: Mapping[str, Any]) -> bytes:
    return _frame(Kind.STATS, json.dumps(stats, separators=(",", ":")).encode())


def encode_ready() -> bytes:
    return _frame(Kind.READY, b"")


#: The parent's request for a SYNC record (the only octet it ever sends the worker).
SYNC_REQUEST = b"S"


def encode_sync() -> bytes:
    return _frame(Kind.SYNC, b"")


# -- decoding ---------------------------------------------------------------------------------------

class _Body:
    """A cursor over one frame's body; errors name the stream offset and field."""

    def __init__(self, data: bytes, base: int) -> None:
        self.data, self.pos, self.base = data, 0, base

    def take(self, n: int, path: str) -> bytes:
        if self.pos + n > len(self.data):
            raise WireError(self.base + self.pos, path, f"needs {n} octets, {len(self.data) - self.pos} left")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def texts(self, names: tuple[str, ...], lengths: tuple[int, ...], path: str) -> list[str]:
        data, pos, out = self.data, self.pos, []
        for name, n in zip(names, lengths, strict=True):
            if pos + n > len(data):
                raise WireError(self.base + pos, f"{path}.{name}", f"needs {n} octets, {len(data) - pos} left")
            out.append(data[pos:pos + n].decode("utf-8", "surrogateescape"))  # any octets decode
            pos += n
        self.pos = pos
        return out

    def lease(self, path: str) -> Lease:
        address, expires, state, *lengths = _LEASE.unpack(self.take(_LEASE.size, f"{path}.address"))
        if state >= len(STATES):
            raise WireError(self.base + self.pos - _LEASE.size + 12, f"{path}.state", f"no lease state {state}")
        texts = self.texts(LEASE_TEXT, tuple(lengths), path)
        # Positional, in Lease's own field order (checked below, at import): the fastest construction.
        return Lease(IPv4Address(address), texts[0], texts[1], expires, STATES[state], *texts[2:])

    def done(self, path: str) -> None:
        if self.pos != len(self.data):
            raise WireError(self.base + self.pos, path, f"{len(self.data) - self.pos} octets after the record")


def _bound(body: _Body, vendors: ClearingCache[bytes, VendorClass]) -> Record:
    lease = body.lease("bound.lease")
    renewal, has_realm, has_option60, has_report, *lengths = _FACTS.unpack(body.take(_FACTS.size, "bound.renewal"))
    for i, (name, flag) in enumerate(zip(BOUND_FLAGS, (renewal, has_realm, has_option60, has_report), strict=True)):
        if flag > 1:
            raise WireError(body.base + body.pos - _FACTS.size + i, f"bound.{name}", f"flag {flag} is neither 0 nor 1")
    kind, version, realm, option60, *report = body.texts(BOUND_TEXT, tuple(lengths), "bound")
    vendor = vendor_class(option60.encode("utf-8", "surrogateescape"), vendors) if has_option60 else None
    event = LeaseBound(lease, kind, version, realm if has_realm else None, vendor, bool(renewal),
                       DeviceReport(*report) if has_report else None)
    return Record(Kind.BOUND, lease, event)


class FrameReader:
    """Bytes of the stream in, whole records out (a frame may arrive in pieces)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        #: Stream offset of the buffer's first octet (for the errors).
        self._offset = 0
        #: Option 60 decoded once per distinct string (a model's devices all send the same), as the core does.
        self._vendors: ClearingCache[bytes, VendorClass] = ClearingCache(VENDOR_CACHE_LIMIT)

    def feed(self, data: bytes) -> Iterator[Record]:
        buf = self._buffer
        buf += data
        start = 0
        try:
            while len(buf) - start >= _HEAD.size:
                length, kind = _HEAD.unpack_from(buf, start)
                at = self._offset + start
                if length < 1 or length > MAX_FRAME:
                    raise WireError(at, "frame.length", f"{length} is not between 1 and {MAX_FRAME}")
                if len(buf) - start < 4 + length:
                    break
                body = _Body(bytes(buf[start + _HEAD.size:start + 4 + length]), at + _HEAD.size)
                start += 4 + length
                yield _record(kind, body, at, self._vendors)
        finally:
            del buf[:start]
            self._offset += start


def _record(kind: int, body: _Body, at: int, vendors: ClearingCache[bytes, VendorClass]) -> Record:
    if kind == Kind.BOUND:
        record = _bound(body, vendors)
    elif kind in (Kind.RELEASED, Kind.DECLINED, Kind.SNAPSHOT):
        record = Record(Kind(kind), body.lease(f"{Kind(kind).name.lower()}.lease"))
    elif kind in (Kind.READY, Kind.SYNC):
        record = Record(Kind(kind))
    elif kind == Kind.STATS:
        raw = body.take(len(body.data), "stats")
        try:
            stats = json.loads(raw)
        except ValueError as exc:
            raise WireError(body.base, "stats", f"not JSON: {exc}") from None
        if not isinstance(stats, dict):
            raise WireError(body.base, "stats", "not a JSON object")
        return Record(Kind.STATS, stats=stats)
    else:
        raise WireError(at + 4, "frame.kind", f"no record kind {kind}")
    body.done(record.kind.name.lower())
    return record


# -- the main process's copy ------------------------------------------------------------------------

class LeaseMirror:
    """The lease table as the worker last told it: the lookups the main process
    makes of the DHCP engine (:class:`~pktcable.dhcpd.engine.LeaseEngine`'s
    ``bound_lease`` and ``by_address``), answered the same way, from the same rows.

    A new worker (at start, or after a restart) sends its whole table first; it
    replaces this one only when complete (READY), so lookups never see half a table."""

    def __init__(self) -> None:
        self.by_address: dict[IPv4Address, Lease] = {}
        self.by_mac: dict[str, Lease] = {}
        self._incoming: LeaseMirror | None = None

    def bound_lease(self, mac: str, now: float) -> Lease | None:
        """The lease this MAC holds now (bound, unexpired, still its address's lease), or None."""
        lease = self.by_mac.get(mac_key(mac))
        if lease is None or lease.state is not LeaseState.BOUND or lease.expires <= now or \
                self.by_address.get(lease.address) is not lease:
            return None
        return lease

    def put(self, lease: Lease) -> None:
        """A lease as the engine now has it (bound, renewed, released, or the quarantine row of a decline)."""
        old = self.by_address.get(lease.address)
        if old is not None and old.mac and self.by_mac.get(mac_key(old.mac)) is old:
            del self.by_mac[mac_key(old.mac)]
        self.by_address[lease.address] = lease
        if lease.mac and lease.state is not LeaseState.DECLINED:
            previous = self.by_mac.get(mac_key(lease.mac))
            if previous is not None and previous.address != lease.address and previous.state is LeaseState.BOUND:
                # The engine released the client's old binding when it bound a new address (engine.bind).
                previous.state, previous.expires = LeaseState.RELEASED, min(previous.expires, lease.expires)
            self.by_mac[mac_key(lease.mac)] = lease

    def learn(self, lease: Lease) -> None:
        """A binding another node made (read from the shared table), kept as the worker's
        records are until the worker tells of the address itself."""
        self.put(lease)

    def apply(self, record: Record) -> None:
        """A record of the stream; STATS is the caller's."""
        if record.kind is Kind.SNAPSHOT:
            if self._incoming is None:
                self._incoming = LeaseMirror()
            assert record.lease is not None
            self._incoming.put(record.lease)
        elif record.kind is Kind.READY:
            incoming, self._incoming = self._incoming or LeaseMirror(), None
            self.by_address, self.by_mac = incoming.by_address, incoming.by_mac
        elif record.lease is not None:
            self.put(record.lease)
