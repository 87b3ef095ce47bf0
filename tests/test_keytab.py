"""The keytab reader: version-2 files as MIT writes them (its own keytabs are read in
tests/test_km_mit.py against klist and minikerberos), holes, the 32-bit kvno, and
damage as a KeytabError with offset and field."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pktcable.secure import keytab
from pktcable.secure.krbap import Principal
from pktcable.secure.krbcrypto import Key

SERVICE = Principal("LAB.EXAMPLE.NET", ("mtaprovsrvr", "prov.lab.example.net"), 1)


def _counted(raw: bytes) -> bytes:
    return struct.pack(">H", len(raw)) + raw


def _entry(p: Principal, kvno: int, key: Key, *, wide: int | None = None, timestamp: int = 1_700_000_000) -> bytes:
    body = (struct.pack(">H", len(p.components)) + _counted(p.realm.encode())
            + b"".join(_counted(c.encode()) for c in p.components) + struct.pack(">IIB", p.name_type, timestamp,
                                                                                  kvno & 0xFF)
            + struct.pack(">H", key.enctype) + _counted(key.value))
    if wide is not None:
        body += struct.pack(">I", wide)
    return struct.pack(">i", len(body)) + body


def test_entries_holes_and_wide_kvno() -> None:
    k1, k2, k3 = Key(18, bytes(range(32))), Key(17, bytes(range(16))), Key(18, bytes(range(1, 33)))
    data = (keytab.VERSION + _entry(SERVICE, 2, k1) + struct.pack(">i", -9) + bytes(9)
            + _entry(SERVICE, 2, k2, wide=2) + _entry(SERVICE, 300, k3, wide=300)
            + _entry(Principal("LAB.EXAMPLE.NET", ("other",)), 2, Key(18, bytes(32))))
    entries = keytab.parse(data)
    assert [(e.kvno, e.key) for e in entries[:3]] == [(2, k1), (2, k2), (300, k3)]
    assert entries[0].principal == SERVICE and entries[0].timestamp == 1_700_000_000
    keys = keytab.lookup(entries, SERVICE)
    assert keys(18, 2) == k1 and keys(17, 2) == k2 and keys(18, 300) == k3
    assert keys(18, None) == k3  # the newest of the type
    assert keys(18, 3) is None and keys(16, None) is None
    assert keytab.lookup(entries, Principal("LAB.EXAMPLE.NET", ("nobody",)))(18, None) is None


@pytest.mark.parametrize(("data", "offset", "field"), [
    (b"\x05\x01" + bytes(8), 0, "version"),
    (b"", 0, "version"),
    (keytab.VERSION + b"\x00\x00", 2, "entry size"),
    (keytab.VERSION + struct.pack(">i", 100) + bytes(10), 2, "entry size"),
    (keytab.VERSION + struct.pack(">i", 4) + b"\x00\x01\x00\x09", 10, "realm"),
])
def test_damage_names_offset_and_field(data: bytes, offset: int, field: str) -> None:
    with pytest.raises(keytab.KeytabError) as caught:
        keytab.parse(data)
    assert (caught.value.offset, caught.value.field) == (offset, field), str(caught.value)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_is_only_ever_a_keytab_error(tail: bytes) -> None:
    try:
        keytab.parse(keytab.VERSION + tail)
    except keytab.KeytabError:
        pass
