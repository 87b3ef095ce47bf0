"""Service keys from a keytab file as MIT Kerberos writes it (``kadmin ktadd``).

A provisioning server whose tickets come from an existing KDC (MIT's, in the
lab) gets its service key the usual way: the KDC's administrator exports it
to a keytab. This module reads the bytes of such a file (format version 2,
big-endian, the one MIT and Heimdal write; MIT's "keytab file format"
documentation) into entries, and turns the entries of one principal into the
key lookup :func:`pktcable.secure.krbap.verify_ap_req` takes. Sans-IO: the
caller reads the file.

Decoding is strict: a bad version, a length that runs past its record, or
trailing bytes are a :class:`KeytabError` with the offset and the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .krbap import KeyLookup, Principal
from .krbcrypto import Key

#: Version 2 (0x0502): every integer big-endian. Version 1 (0x0501) used the
#: writer's native byte order and counted the realm as a component: refused.
VERSION = b"\x05\x02"
#: A service's keytab holds a few keys; a megabyte is far beyond any real one.
MAX_SIZE = 1 << 20


class KeytabError(ValueError):
    def __init__(self, offset: int, field: str, why: str) -> None:
        super().__init__(f"keytab offset {offset}, {field}: {why}")
        self.offset, self.field, self.why = offset, field, why


@dataclass(frozen=True, slots=True)
class KeytabEntry:
    principal: Principal
    timestamp: int
    kvno: int
    key: Key


class _Reader:
    def __init__(self, data: bytes, start: int, end: int) -> None:
        self.data, self.offset, self.end = data, start, end

    def take(self, size: int, field: str) -> bytes:
        if self.offset + size > self.end:
            raise KeytabError(self.offset, field, f"needs {size} octets, {self.end - self.offset} left in the entry")
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def uint(self, size: int, field: str) -> int:
        return int.from_bytes(self.take(size, field), "big")

    def counted(self, field: str) -> bytes:
        return self.take(self.uint(2, field + " length"), field)


def _text(raw: bytes, offset: int, field: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KeytabError(offset, field, "not UTF-8") from None


def parse(data: bytes) -> list[KeytabEntry]:
    """Every entry of a version-2 keytab, holes (deleted entries) skipped."""
    if len(data) > MAX_SIZE:
        raise KeytabError(0, "file", f"{len(data)} octets: over the {MAX_SIZE}-octet limit")
    if data[:2] != VERSION:
        raise KeytabError(0, "version", f"{data[:2].hex() or 'nothing'}, expected 0502 (version 2)")
    entries, offset = [], 2
    while offset < len(data):
        if offset + 4 > len(data):
            raise KeytabError(offset, "entry size", "truncated")
        size = int.from_bytes(data[offset:offset + 4], "big", signed=True)
        offset += 4
        if offset + abs(size) > len(data):
            raise KeytabError(offset - 4, "entry size", f"{abs(size)} octets, {len(data) - offset} left")
        if size <= 0:  # a hole left by a removed entry: skip it
            offset += -size
            continue
        entries.append(_entry(_Reader(data, offset, offset + size)))
        offset += size
    return entries


def _entry(r: _Reader) -> KeytabEntry:
    count = r.uint(2, "component count")
    at = r.offset
    realm = _text(r.counted("realm"), at, "realm")
    components = []
    for i in range(count):
        at = r.offset
        components.append(_text(r.counted(f"component {i}"), at, f"component {i}"))
    name_type = r.uint(4, "name type")
    timestamp = r.uint(4, "timestamp")
    kvno = r.uint(1, "kvno")
    enctype = r.uint(2, "enctype")
    key = r.counted("key")
    if r.end - r.offset >= 4:  # a 32-bit kvno follows when the 8-bit one overflowed
        wide = r.uint(4, "32-bit kvno")
        kvno = wide or kvno
    return KeytabEntry(Principal(realm, tuple(components), name_type), timestamp, kvno, Key(enctype, key))


def lookup(entries: Iterable[KeytabEntry], service: Principal) -> KeyLookup:
    """``keys(etype, kvno)`` over ``service``'s entries (the name type is not compared:
    kadmin writes 1 for every principal). With kvno None, the newest key of the type."""
    mine = [e for e in entries if (e.principal.realm, e.principal.components) == (service.realm, service.components)]
    table = {(e.key.enctype, e.kvno): e.key for e in mine}
    newest: dict[int, tuple[int, Key]] = {}
    for e in mine:
        if e.key.enctype not in newest or e.kvno > newest[e.key.enctype][0]:
            newest[e.key.enctype] = (e.kvno, e.key)

    def keys(etype: int, kvno: int | None) -> Key | None:
        if kvno is None:
            found = newest.get(etype)
            return found[1] if found else None
        return table.get((etype, kvno))
    return keys
