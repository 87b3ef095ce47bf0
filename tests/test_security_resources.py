"""Bounded resources: what one sender can make the server spend.

BER decoding of SNMP datagrams (and of config-file VarBinds) is linear and
refuses OIDs beyond RFC 2578; the device store's step history is bounded by
count and age; the REST API refuses bodies that are too deep, too big or
carry non-finite numbers; `pktcable serve` raises its open-file limit.
"""

from __future__ import annotations

import asyncio
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pyasn1.codec.ber import encoder as asn_encoder
from pyasn1.type import univ
from pysnmp.proto import api

from pktcable.serve.app import Backoffice
from pktcable.serve.config import load
from pktcable.snmp import message as m
from pktcable.snmp.aio import open_endpoint
from pktcable.store.devices import Device, MemoryDeviceStore, Step
from tlv import ber

from .apiclient import bearer, demo_token
from .peers import CI, require
from .stores import PERSISTENT, device_opener
from .test_e2e import configs, free_port, free_tcp_port

P = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
DAY = 86400.0
UDP_MAX = 65507  # the largest UDP payload over IPv4


# -- BER / SNMP ------------------------------------------------------------------

def pysnmp_inform(varbinds: list[tuple[tuple[int, ...], Any]], community: bytes = b"public") -> bytes:
    """An INFORM encoded by pysnmp/pyasn1: an encoder independent of ours."""
    pdu = P.InformRequestPDU()
    P.apiPDU.set_defaults(pdu)
    P.apiPDU.set_request_id(pdu, 4242)
    P.apiPDU.set_varbinds(pdu, varbinds)
    msg = P.Message()
    P.apiMessage.set_defaults(msg)
    P.apiMessage.set_community(msg, community)
    P.apiMessage.set_pdu(msg, pdu)
    return bytes(asn_encoder.encode(msg))


def raw_inform(varbind_list: bytes) -> bytes:
    """An INFORM around hand-made VarBind bytes (for inputs no encoder will make)."""
    body = ber.tlv(ber.INTEGER, b"\x07") + ber.tlv(ber.INTEGER, b"\x00") + ber.tlv(ber.INTEGER, b"\x00")
    pdu = ber.tlv(m.PduType.INFORM, body + ber.tlv(ber.SEQUENCE, varbind_list))
    return ber.tlv(ber.SEQUENCE, ber.tlv(ber.INTEGER, b"\x01") + ber.tlv(ber.OCTET_STRING, b"public") + pdu)


def huge_subid_inform(size: int) -> bytes:
    """One OID whose last sub-identifier is ``size`` bytes long (a number of 7 * size bits)."""
    oid = ber.tlv(ber.OBJECT_IDENTIFIER, b"\x2b\x06" + b"\xff" * (size - 3) + b"\x7f")
    return raw_inform(ber.tlv(ber.SEQUENCE, oid + b"\x05\x00"))


def many_varbinds_inform(size: int) -> bytes:
    vb = ber.tlv(ber.SEQUENCE, ber.tlv(ber.OBJECT_IDENTIFIER, b"\x2b\x06") + b"\x05\x00")
    return raw_inform(vb * (size // len(vb)))


def many_arcs_inform(size: int) -> bytes:
    oid = ber.tlv(ber.OBJECT_IDENTIFIER, b"\x2b" + b"\x01" * size)
    return raw_inform(ber.tlv(ber.SEQUENCE, oid + b"\x05\x00"))


def deep_inform(size: int) -> bytes:
    """A VarBind value of SEQUENCEs nested size/5 deep (long-form lengths, so
    it can be written front to back)."""
    depth = size // 5
    levels = b"".join(b"\x30\x83" + (5 * (depth - i - 1)).to_bytes(3, "big") for i in range(depth))
    return raw_inform(ber.tlv(ber.SEQUENCE, ber.tlv(ber.OBJECT_IDENTIFIER, b"\x2b\x06") + levels))


def long_integer_inform(size: int) -> bytes:
    value = ber.tlv(ber.INTEGER, b"\x01" * size)
    return raw_inform(ber.tlv(ber.SEQUENCE, ber.tlv(ber.OBJECT_IDENTIFIER, b"\x2b\x06") + value))


def largest_good_inform(size: int) -> bytes:
    """What a legitimate sender may send at this size: the most VarBinds a
    message may carry, with string values sharing the rest."""
    count = getattr(m, "MAX_VARBINDS", 256)
    value = b"x" * (size // count - 24)
    vbs = [ber.VarBind((1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, i), ber.SNMP_TYPE_BY_KEYWORD["string"], value)
           for i in range(count)]
    return m.encode(m.Message(b"public", m.Pdu(m.PduType.INFORM, 1, tuple(vbs))))


def oid_contents(encoded: bytes) -> bytes:
    """The contents octets of a pyasn1-encoded OBJECT IDENTIFIER."""
    assert encoded[0] == ber.OBJECT_IDENTIFIER
    n = encoded[1] & 0x7F if encoded[1] & 0x80 else 0
    return encoded[2 + n:]


def test_oid_beyond_rfc2578_limits_is_a_typed_error_with_its_offset() -> None:
    # An arc of 2^32 and an OID of 129 arcs, as pyasn1 encodes them.
    too_big = oid_contents(asn_encoder.encode(univ.ObjectIdentifier((1, 3, 6, 1, 4, 1, 2**32))))
    with pytest.raises(ber.BerError) as caught:
        ber.decode_oid(too_big)
    assert "above 4294967295" in caught.value.reason and 6 <= caught.value.offset < len(too_big)
    too_long = oid_contents(asn_encoder.encode(univ.ObjectIdentifier((1, 3) + (1,) * 127)))
    with pytest.raises(ber.BerError, match="longer than 128 arcs") as caught:
        ber.decode_oid(too_long)
    assert caught.value.offset == len(too_long) - 1
    # The limits themselves are legal, and both directions agree on them.
    for arcs in ((1, 3, 6, 1, 4, 1, 2**32 - 1), (1, 3) + (1,) * 126, (2, 2**32 - 1, 5)):
        contents = oid_contents(asn_encoder.encode(univ.ObjectIdentifier(arcs)))
        assert ber.decode_oid(contents) == arcs and ber.encode_oid(arcs) == contents
    for arcs in ((1, 3, 6, 1, 4, 1, 2**32), (1, 3) + (1,) * 127):
        with pytest.raises(ValueError):
            ber.encode_oid(arcs)
    # A config file's SnmpMibObject goes through the same decoder.
    vb = ber.tlv(ber.SEQUENCE, ber.tlv(ber.OBJECT_IDENTIFIER, too_big) + b"\x05\x00")
    with pytest.raises(ber.BerError):
        ber.decode_varbind(vb)
    # In an SNMP message the offset is the offending byte of the datagram.
    data = pysnmp_inform([((1, 3, 6, 1, 4, 1, 2**32), P.Null(""))])
    with pytest.raises(m.SnmpDecodeError) as err:
        m.decode(data)
    assert data.index(too_big) <= err.value.offset < data.index(too_big) + len(too_big)


HOSTILE_INFORMS: dict[str, Callable[[], bytes]] = {
    "sub-identifier of 2^32 (pyasn1)": lambda: pysnmp_inform([((1, 3, 6, 1, 4, 1, 2**32), P.Null(""))]),
    "129 arcs (pyasn1)": lambda: pysnmp_inform([((1, 3) + (1,) * 127, P.Null(""))]),
    "4000 VarBinds (pyasn1)": lambda: pysnmp_inform([((1, 3, 6, 1, 4, 1, i), P.Null("")) for i in range(4000)]),
    "64 KB sub-identifier": lambda: huge_subid_inform(64000),
    "64 KB of arcs": lambda: many_arcs_inform(64000),
    "12800 nested SEQUENCEs": lambda: deep_inform(64000),
    "64 KB INTEGER": lambda: long_integer_inform(64000),
}


def test_hostile_informs_over_udp_are_counted_malformed_and_a_real_inform_still_answered() -> None:
    acted_on: list[m.Message] = []

    def entity(msg: m.Message, addr: tuple[str, int]) -> m.Message:
        acted_on.append(msg)
        return msg.response()

    async def scenario() -> None:
        server = await open_endpoint("127.0.0.1", 0, entity)
        attacker = await open_endpoint("127.0.0.66", 0, timeout=2.0, retries=3)
        try:
            good = (m.null_varbind((1, 3, 6, 1, 2, 1, 1, 3, 0)),)
            for n, (name, make) in enumerate(HOSTILE_INFORMS.items(), 1):
                data = make()
                assert len(data) <= UDP_MAX
                attacker.transport.sendto(data, server.address)  # type: ignore[union-attr]
                # Same socket, same order: once this is answered, the hostile datagram was handled.
                started = time.perf_counter()
                reply = await attacker.request(server.address, b"public", m.PduType.INFORM, good)
                elapsed = time.perf_counter() - started
                assert reply.pdu.type is m.PduType.RESPONSE and reply.pdu.varbinds == good
                assert server.stats.malformed == n, name
                # A 64 KB datagram costs the server far less than one retransmission timer.
                assert elapsed < 1.0 and attacker.stats.retransmissions == 0, (name, elapsed)
            assert server.stats.received == 2 * len(HOSTILE_INFORMS) and server.stats.internal_errors == 0
            assert [msg.pdu.varbinds for msg in acted_on] == [good] * len(HOSTILE_INFORMS)
        finally:
            attacker.close()
            server.close()

    asyncio.run(scenario())


def _best_of(data: bytes, runs: int = 10) -> float:
    """The fastest of ``runs`` decodes (the one least disturbed by other load)."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        try:
            m.decode(data)
        except m.SnmpDecodeError:
            pass
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("make", [huge_subid_inform, many_varbinds_inform, many_arcs_inform, deep_inform,
                                  long_integer_inform, largest_good_inform],
                         ids=lambda f: f.__name__)
def test_64kb_datagram_cannot_buy_quadratic_decoding(make: Callable[[int], bytes]) -> None:
    small, large = make(16000), make(64000)
    assert len(large) <= UDP_MAX
    t_small, t_large = _best_of(small), _best_of(large)
    # Generous for a loaded 2-core machine: the goal is well under 10 ms.
    assert t_large < 0.1, f"{len(large)} bytes took {t_large * 1000:.1f} ms"
    # Linear: 4 times the input may take up to 12 times as long (quadratic
    # would be 16); below a millisecond, timer noise dominates any ratio.
    assert t_large < max(12 * t_small, 0.001), f"16 KB: {t_small * 1e3:.2f} ms, 64 KB: {t_large * 1e3:.2f} ms"


# -- device store history ----------------------------------------------------------

def _traced(work: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``work``; returns its result and how many bytes it left allocated."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = work()
        return result, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_step_flood_for_one_device_keeps_only_its_newest_steps_in_memory() -> None:
    def flood() -> MemoryDeviceStore:
        store = MemoryDeviceStore()
        for i in range(100_000):
            store.record(Step("001122334455", float(i), "H-MTA-15", "EnrollmentReceived", f"127.0.0.{i % 250}"))
        return store

    store, grown = _traced(flood)
    history = store.history("001122334455")
    assert len(history) == 200 and history[0].at == 100_000 - 200 and history[-1].at == 99_999
    assert grown < 512 * 1024, f"100k steps of one device kept {grown} bytes"  # 200 steps need ~40 KB


@pytest.mark.parametrize("backend", PERSISTENT)
def test_step_flood_for_one_device_keeps_only_its_newest_steps(backend: str, request: pytest.FixtureRequest,
                                                               tmp_path: Path) -> None:
    opener = device_opener(backend, request, tmp_path)
    store = opener()
    try:
        store.put(Device("001122334455"))
        for i in range(100_000):
            store.record(Step("001122334455", float(i), "H-MTA-15", "EnrollmentReceived", ""))
            if i % 1000 == 999:
                store.commit()
    finally:
        store.close()
    again = opener()
    try:
        assert [s.at for s in again.history("001122334455")] == [float(i) for i in range(99_800, 100_000)]
        assert again.db.execute("SELECT count(*) FROM step").fetchone()[0] == 200
    finally:
        again.close()


def test_history_of_100k_forged_macs_is_bounded_and_ages_out() -> None:
    """Forged traffic names a new MAC each time: each costs a bounded amount
    until history_days pass, and then nothing."""
    store = MemoryDeviceStore()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100_000):
            store.record(Step(f"02{i:010x}", float(i), "H-MTA-15", "EnrollmentFromUnknownDevice", "127.0.0.66"))
        grown = tracemalloc.get_traced_memory()[0] - before
        gone = store.prune(100_000 + 30 * DAY)
        left = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 40 * 1024 * 1024, f"100k one-step histories took {grown} bytes (bound: 400 bytes each)"
    assert gone == 100_000 and store.steps == {}
    assert left < 256 * 1024, f"{left} bytes left after every step aged out"


@pytest.mark.parametrize("backend", PERSISTENT)
def test_history_past_its_age_is_pruned_but_recent_steps_stay(backend: str, request: pytest.FixtureRequest,
                                                              tmp_path: Path) -> None:
    store = device_opener(backend, request, tmp_path)()
    try:
        for i in range(50):
            store.record(Step(f"02{i:010x}", i * DAY, "CM-4", "LeaseAcked", ""))
        assert store.prune(40 * DAY - 0.5) == 10  # days 0..9 are older than 30 days
        assert store.history(f"02{9:010x}") == [] and len(store.history(f"02{10:010x}")) == 1
        assert store.db.execute("SELECT count(*) FROM step").fetchone()[0] == 40
    finally:
        store.close()


def test_serve_settings_bound_history_and_the_server_prunes_it(tmp_path: Path) -> None:
    settings = tmp_path / "serve.toml"
    settings.write_text("history_keep = 3\nhistory_days = 2\ncm_key = \"test-cmts-secret\"\n")
    cfg = load(settings)
    now = [10 * DAY]
    office = Backoffice(cfg, clock=lambda: now[0])
    try:
        for i in range(10):
            office.devices.record(Step("001122334455", now[0] + i, "CM-4", "LeaseAcked", str(i)))
        office.devices.commit()
        assert [s.detail for s in office.devices.history("001122334455")] == ["7", "8", "9"]
        now[0] += 2 * DAY + 60
        office._prune_history()
        assert office.devices.history("001122334455") == []
    finally:
        asyncio.run(office.close())


@pytest.mark.parametrize("line, problem", [
    ("history_keep = 0", "history_keep: must be"),
    ("history_keep = 2.5", "history_keep: must be"),
    ("history_days = 0", "history_days: must be"),
    ('history_days = "forever"', "history_days: must be"),
])
def test_bad_retention_setting_is_one_line_naming_it(tmp_path: Path, line: str, problem: str) -> None:
    settings = tmp_path / "serve.toml"
    settings.write_text(line + "\n")
    done = subprocess.run([sys.executable, "-m", "pktcable", "serve", "--config", str(settings), "--memory"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert problem in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


# -- REST API bodies -----------------------------------------------------------------

def with_api(scenario: Callable[[Backoffice, str, str], Awaitable[None]]) -> None:
    cfg, _ = configs(["HYBRID.2"])
    cfg.api_port = free_tcp_port()

    async def main() -> None:
        office = Backoffice(cfg)
        await office.start()
        try:
            await scenario(office, f"http://127.0.0.1:{cfg.api_port}", office.admin.create("ops", "operator"))
        finally:
            await office.close()

    asyncio.run(main())


async def curl_put(url: str, body: bytes, token: str) -> tuple[int, str]:
    """PUT ``body`` with curl; returns the status and the response body."""
    proc = await asyncio.create_subprocess_exec(
        require("curl"), "-sS", "-X", "PUT", "-H", "Content-Type: application/json", "-H",
        f"Authorization: Bearer {token}", "--data-binary", "@-",
        "-w", "\n%{http_code}", url, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(body), 60)
    assert proc.returncode == 0, err
    text, _, code = out.decode().rpartition("\n")
    return int(code), text


def test_deeply_nested_json_body_gets_400_not_500() -> None:
    async def scenario(office: Backoffice, base: str, token: str) -> None:
        url = f"{base}/api/v1/devices/001122334455"
        for depth in (33, 5000, 100_000):
            nested = b'{"vars": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
            status, text = await curl_put(url, nested, token)
            assert status == 400 and "nested deeper than 32" in text, (depth, status, text)
        assert office.devices.get("001122334455") is None
        # 32 levels are fine (the body object and vars are two of them).
        status, _ = await curl_put(url, b'{"vars": {"x": ' + b"[" * 30 + b"]" * 30 + b"}}", token)
        assert status == 201 and office.devices.get("001122334455") is not None

    with_api(scenario)


def test_non_finite_numbers_in_json_body_are_refused() -> None:
    async def scenario(office: Backoffice, base: str, token: str) -> None:
        url = f"{base}/api/v1/devices/001122334455"
        for number in (b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400"):
            status, text = await curl_put(url, b'{"vars": {"lines": ' + number + b"}}", token)
            assert status == 400 and "finite" in text, (number, status, text)
        async with aiohttp.ClientSession(headers=bearer(token)) as http:
            async with http.put(url, data=b'{"vars": {"lines": NaN}}', headers={"Content-Type": "application/json"}) as r:
                assert r.status == 400
            async with http.get(url) as r:
                assert r.status == 404  # nothing was stored
            async with http.put(url, json={"vars": {"lines": 2, "gain": 1.5e3}}) as r:
                assert r.status == 201 and (await r.json())["vars"] == {"lines": 2, "gain": 1500.0}

    with_api(scenario)


def test_oversized_json_body_is_refused_before_it_is_parsed() -> None:
    async def scenario(office: Backoffice, base: str, token: str) -> None:
        url = f"{base}/api/v1/devices/001122334455"
        big = b'{"vars": {"x": "' + b"a" * 512 * 1024 + b'"}}'
        status, _ = await curl_put(url, big, token)
        assert status == 413
        assert office.devices.get("001122334455") is None
        status, _ = await curl_put(url, b'{"vars": {"x": "' + b"a" * 100 * 1024 + b'"}}', token)
        assert status == 201

    with_api(scenario)


# -- open-file limit ----------------------------------------------------------------

LOW_SOFT_LIMIT = 128


def _lower_soft_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW_SOFT_LIMIT, hard))


def test_connection_flood_cannot_exhaust_serves_open_file_limit(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    flood = 3 * LOW_SOFT_LIMIT
    if soft < flood + 100 <= hard:  # this process holds the flood's client ends
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if hard < flood + 200:  # a machine limit, not a missing feature: CI's machine has room
        message = f"open-file hard limit {hard} too low to run a {flood}-connection flood"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    ports = {k: free_port() for k in ("dhcp", "relay", "tftp", "tod", "snmp", "agent")}
    api_port = free_tcp_port()
    settings = tmp_path / "serve.toml"
    settings.write_text("".join(f"{k}_port = {v}\n" for k, v in ports.items()) + f"http_port = 0\napi_port = {api_port}\n"
                        'cm_key = "test-cmts-secret"\n')
    server = subprocess.Popen([sys.executable, "-m", "pktcable", "serve", "--config", str(settings), "--memory"],
                              stderr=subprocess.PIPE, text=True, preexec_fn=_lower_soft_limit)
    ready = threading.Event()
    lines: list[str] = []
    tokens: list[str] = []

    def drain() -> None:
        assert server.stderr is not None
        for line in server.stderr:
            lines.append(line)
            token = demo_token(line)  # the run's operator token, after every address
            if token is not None:
                tokens.append(token)
                ready.set()
        ready.set()  # exited

    threading.Thread(target=drain, daemon=True).start()
    sockets: list[socket.socket] = []
    try:
        assert ready.wait(60) and server.poll() is None, "".join(lines)
        limits = Path(f"/proc/{server.pid}/limits").read_text()
        row = next(r for r in limits.splitlines() if r.startswith("Max open files")).split()
        assert int(row[3]) == int(row[4]) == hard, row
        # An operator's client, or a device, holding hundreds of idle connections.
        for _ in range(flood):
            s = socket.create_connection(("127.0.0.1", api_port), timeout=30)
            sockets.append(s)
        request = urllib.request.Request(f"http://127.0.0.1:{api_port}/api/v1/devices", headers=bearer(tokens[0]))
        with urllib.request.urlopen(request, timeout=20) as response:
            assert response.status == 200
    finally:
        for s in sockets:
            s.close()
        server.send_signal(signal.SIGINT)
        assert server.wait(30) == 0, "".join(lines)
    assert "Traceback" not in "".join(lines)

