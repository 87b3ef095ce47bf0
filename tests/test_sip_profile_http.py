"""Phone profiles over HTTP: only to known phones at the right URL, ETag/Last-Modified -> 304."""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Iterator

import aiohttp
import pytest
from multidict import CIMultiDict

from pktcable.delivery.http import HttpServer, not_modified
from pktcable.delivery.resolvers import MemoryResolver
from pktcable.phones.book import PhoneBook
from pktcable.phones.profiles import Profiles
from pktcable.store.devices import Device, MemoryDeviceStore

MAC = "0004f2000001"
VARS = {"registrar": "sip.example.net", "lines": [{"user": "1001", "password": "secret"}]}
SECRET = b"0123456789abcdef0123"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, False),
    ({"If-None-Match": '"abc"'}, True),
    ({"If-None-Match": 'W/"abc"'}, True),  # weak comparison for GET
    ({"If-None-Match": '"x", "abc"'}, True),
    ({"If-None-Match": "*"}, True),
    ({"If-None-Match": '"other"'}, False),
    # If-None-Match decides alone when present, even against a later date.
    ({"If-None-Match": '"other"', "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, False),
    ({"If-Modified-Since": email.utils.formatdate(1000, usegmt=True)}, True),
    ({"If-Modified-Since": email.utils.formatdate(999, usegmt=True)}, False),
    ({"If-Modified-Since": "yesterday"}, False),
])
def test_not_modified(headers: dict[str, str], expected: bool) -> None:
    assert not_modified(headers, '"abc"', 1000.4) is expected


@pytest.fixture
def setup() -> Iterator[tuple[MemoryDeviceStore, PhoneBook, Clock]]:
    store = MemoryDeviceStore()
    store.put(Device(MAC, kind="sip", template="generic", vars=dict(VARS)))
    store.put(Device("00aabbccddee", kind="mta"))
    clock = Clock()
    yield store, PhoneBook(Profiles(), store.get, SECRET, clock), clock


async def _get(url: str, **headers: str) -> tuple[int, bytes, CIMultiDict[str]]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as r:
        return r.status, await r.read(), CIMultiDict(r.headers)


def test_profile_served_with_validators_then_304_then_new_version(
        setup: tuple[MemoryDeviceStore, PhoneBook, Clock]) -> None:
    store, book, clock = setup

    async def run() -> None:
        server = HttpServer(MemoryResolver({}), "127.0.0.1", 0, versioned=("profiles/", book.serve_http))
        await server.start()
        try:
            base = f"http://127.0.0.1:{server.address[1]}/"
            status, body, headers = await _get(base + book.path(MAC))
            assert status == 200 and b"<user>1001</user>" in body
            etag, modified = headers["ETag"], headers["Last-Modified"]
            assert etag == book.current(MAC).profile.etag
            assert headers["Content-Type"].startswith("application/xml")
            assert (await _get(base + book.path(MAC), **{"If-None-Match": etag}))[0] == 304
            assert (await _get(base + book.path(MAC), **{"If-Modified-Since": modified}))[0] == 304
            # A variable edit: a new version, a new ETag and a later Last-Modified.
            clock.now += 60
            device = store.get(MAC)
            assert device is not None
            device.vars["codecs"] = ["PCMA"]
            store.put(device)
            status, body, headers = await _get(base + book.path(MAC), **{"If-None-Match": etag})
            assert status == 200 and headers["ETag"] != etag and b"PCMA" in body
            assert email.utils.parsedate_to_datetime(headers["Last-Modified"]).timestamp() == int(clock.now)
        finally:
            await server.close()
    asyncio.run(run())


def test_profiles_only_for_known_phones_at_their_url_and_address(
        setup: tuple[MemoryDeviceStore, PhoneBook, Clock]) -> None:
    store, book, _ = setup

    async def run() -> None:
        server = HttpServer(MemoryResolver({}), "127.0.0.1", 0, versioned=("profiles/", book.serve_http))
        await server.start()
        try:
            base = f"http://127.0.0.1:{server.address[1]}/"
            assert (await _get(base + f"profiles/{MAC}-{'0' * 32}.xml"))[0] == 404  # wrong token
            assert (await _get(base + book.path("00aabbccddee")))[0] == 404  # an eMTA is no phone
            assert (await _get(base + book.path("001122334455")))[0] == 404  # unknown
            device = store.get(MAC)
            assert device is not None
            device.ip = "10.9.9.9"  # the phone is known at another address
            store.put(device)
            assert (await _get(base + book.path(MAC)))[0] == 403
            device.ip, device.vars["transport"] = "", "sctp"  # a profile that cannot be built
            store.put(device)
            assert (await _get(base + book.path(MAC)))[0] == 500
        finally:
            await server.close()
    asyncio.run(run())
