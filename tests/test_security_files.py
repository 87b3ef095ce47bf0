"""Config files, the CMTS secret and the data dir against hosts on the cable network.

A device's file goes only to the address its lease is on (a CM's also to the
relay its lease came through); every other loopback address plays another host
(127.0.0.66 is the attacker). Real peers fetch: tftp-hpa ``tftp`` and ``curl``
(HTTP, and TFTP where a source address must be chosen: ``--interface``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pktcable.delivery.http import HttpServer
from pktcable.delivery.resolvers import MemoryResolver, OneTimeNames
from pktcable.flow import Flow
from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig
from pktcable.simulate.identity import Identity
from pktcable.simulate.runner import simulate
from pktcable.store.devices import Device
from tlv.config import decode_file

from .delivery_util import LoopThread, loop_thread
from .peers import require
from .promtext import value
from .test_e2e import configs, free_port, free_tcp_port

ATTACKER = "127.0.0.66"


# --- the peers ------------------------------------------------------------------------------------------------


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([require("curl"), "--no-progress-meter", *args], capture_output=True, timeout=60)


def http_get(url: str, source: str, out: Path, head: bool = False) -> int:
    """The HTTP status curl saw fetching ``url`` from ``source``."""
    result = curl("--interface", source, "-o", str(out), "-w", "%{http_code}", *(["-I"] if head else []), url)
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def tftp_curl(port: int, name: str, source: str, out: Path) -> bytes | None:
    """The file by TFTP from ``source`` (curl binds it), or None when refused."""
    out.unlink(missing_ok=True)
    result = curl("--interface", source, "--fail", "-o", str(out), f"tftp://127.0.0.1:{port}/{name}")
    return out.read_bytes() if result.returncode == 0 else None


def tftp_hpa(port: int, name: str, out: Path) -> tuple[bytes | None, str]:
    """tftp-hpa from 127.0.0.1 (it cannot choose its source): (file or None, what it printed)."""
    out.unlink(missing_ok=True)
    result = subprocess.run([require("tftp"), "127.0.0.1", str(port), "-m", "binary", "-c", "get", name, str(out)],
                            capture_output=True, text=True, timeout=60)
    got = out.read_bytes() if out.exists() and out.stat().st_size else None  # tftp-hpa exits 0 on errors
    return got, result.stdout + result.stderr


# --- a running back office with two provisioned BASIC.1 devices ------------------------------------------------


@dataclass
class Site:
    office: Backoffice
    lt: LoopThread
    cm_mac: str
    mta_mac: str
    cm_ip: str
    mta_ip: str
    spare_mta_mac: str  # a second eMTA, for tests that take its lease away
    spare_mta_ip: str
    builds: list[Any]

    @property
    def tftp_port(self) -> int:
        return self.office.tftp.address[1]

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.office.http.address[1]}"  # type: ignore[union-attr]

    def leased(self, mac: str) -> str:
        lease = self.lt.call(self.office.dhcp.engine.bound_lease, mac, time.time())
        assert lease is not None, mac
        return str(lease.address)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    cfg, sim = configs(["BASIC.1"])
    cfg.http_port = free_tcp_port()

    async def start() -> Backoffice:
        office = Backoffice(cfg)
        await office.start()
        return office

    with loop_thread() as lt:
        office = lt.run(start())
        try:
            results, _ = lt.run(simulate(sim, Flow.BASIC_1, 2))
            assert all(r.passed for r in results), [r.deviations for r in results]
            builds: list[Any] = []
            build = office.templates.build

            def counted(*args: Any, **kw: Any) -> bytes:
                builds.append(args)
                return build(*args, **kw)

            office.templates.build = counted  # type: ignore[method-assign]
            first, second = results
            cm_mac = Identity.make(first.index).cm_mac.hex()
            s = Site(office, lt, cm_mac, first.mta_mac, "", "", second.mta_mac, "", builds)
            s.cm_ip, s.mta_ip, s.spare_mta_ip = s.leased(cm_mac), s.leased(first.mta_mac), s.leased(second.mta_mac)
            assert ATTACKER not in (s.cm_ip, s.mta_ip, s.spare_mta_ip, "127.0.0.1")
            yield s
        finally:
            lt.run(office.close())


def refusals(site: Site) -> dict[str, int]:
    gate = getattr(site.office, "files", None)  # read before an attack, so the attack is what fails a test
    return dict(gate.refused) if gate is not None else {}


def expected(site: Site, mac: str) -> bytes:
    device = site.lt.call(site.office.devices.get, mac)
    return site.lt.call(site.office.templates.build, device, device.ip)


# --- who gets a file --------------------------------------------------------------------------------------------


def test_mta_file_by_mac_over_tftp_from_a_host_without_the_lease_gets_nothing(site: Site, tmp_path: Path) -> None:
    name = f"mta-{site.mta_mac}.cfg"
    before, refused = len(site.builds), sum(refusals(site).values())
    got, said = tftp_hpa(site.tftp_port, name, tmp_path / "stolen")  # from 127.0.0.1: the relay, not the eMTA
    assert got is None and "Error code 1" in said, said
    assert len(site.builds) == before, "a file was built for a refused request"
    assert sum(refusals(site).values()) == refused + 1
    # The eMTA itself, from its leased address, gets its file.
    assert tftp_curl(site.tftp_port, name, site.mta_ip, tmp_path / "own") == expected(site, site.mta_mac)


def test_cm_file_from_a_host_that_is_neither_the_cm_nor_its_relay_gets_nothing(site: Site, tmp_path: Path) -> None:
    name = f"cm-{site.cm_mac}.cfg"
    refused = refusals(site).get("other-address", 0)
    assert tftp_curl(site.tftp_port, name, ATTACKER, tmp_path / "t") is None
    assert http_get(f"{site.http}/{name}", ATTACKER, tmp_path / "h") == 404
    assert refusals(site)["other-address"] == refused + 2
    want = expected(site, site.cm_mac)
    assert tftp_curl(site.tftp_port, name, site.cm_ip, tmp_path / "own") == want
    # The relay (giaddr 127.0.0.1, the simulated CMTS) may fetch it: DOCSIS TFTP proxying.
    got, said = tftp_hpa(site.tftp_port, name, tmp_path / "proxied")
    assert got == want, said
    assert decode_file(want, key=b"test-cmts-secret").mic_ok is True


def test_config_file_over_http_from_a_host_without_the_lease_gets_404(site: Site, tmp_path: Path) -> None:
    url = f"{site.http}/mta-{site.mta_mac}.cfg"
    before = len(site.builds)
    assert http_get(url, ATTACKER, tmp_path / "x") == 404
    assert http_get(url, ATTACKER, tmp_path / "x", head=True) == 404
    assert len(site.builds) == before
    assert http_get(url, site.mta_ip, tmp_path / "own") == 200
    assert (tmp_path / "own").read_bytes() == expected(site, site.mta_mac)


def test_released_address_gets_no_file_by_address_nor_by_one_time_name(site: Site, tmp_path: Path) -> None:
    """Once the eMTA's lease is gone, whoever sends from its old address gets
    neither ``mta.cfg`` (the file of the device at the asking address) nor a
    one-time name issued before."""
    office, mac, ip = site.office, site.spare_mta_mac, site.spare_mta_ip
    device = site.lt.call(office.devices.get, mac)
    url = site.lt.call(office.publish, device, expected(site, mac), ip)
    name = url.rsplit("/", 1)[1]
    assert tftp_curl(site.tftp_port, "mta.cfg", ip, tmp_path / "a") == expected(site, mac)  # still leased: served
    lease = site.lt.call(office.dhcp.engine.bound_lease, mac, time.time())
    site.lt.call(office.dhcp.engine.release, lease, time.time())
    assert tftp_curl(site.tftp_port, "mta.cfg", ip, tmp_path / "b") is None
    assert tftp_curl(site.tftp_port, name, ip, tmp_path / "c") is None
    assert refusals(site)["no-lease"] >= 2
    from pktcable.serve.api import metrics_text

    assert (value(site.lt.call(metrics_text, office), "pktcable_file_refusals_total", reason="no-lease") or 0) >= 2


def test_head_request_does_not_spend_a_one_time_name(site: Site, tmp_path: Path) -> None:
    office = site.office
    data = expected(site, site.mta_mac)
    device = site.lt.call(office.devices.get, site.mta_mac)
    name = site.lt.call(office.publish, device, data, site.mta_ip).rsplit("/", 1)[1]
    url = f"{site.http}/{name}"
    head = curl("--interface", site.mta_ip, "-I", "-s", url)
    assert head.returncode == 0 and b" 200 " in head.stdout.splitlines()[0], head.stdout
    assert f"content-length: {len(data)}".encode() in head.stdout.lower()
    assert http_get(url, site.mta_ip, tmp_path / "f") == 200  # the HEAD left the name for the download
    assert (tmp_path / "f").read_bytes() == data
    assert http_get(url, site.mta_ip, tmp_path / "g") == 404  # and the download spent it


# --- the one-time table is bounded and its bytes expire with the names ------------------------------------------


def test_unfetched_one_time_files_expire_with_their_names() -> None:
    """100,000 published files that nobody fetches, 6 ms apart: only the last
    minute's names (and their bytes) stay. Bound: 32 MB for 100 MB published."""
    now = [1000.0]
    cfg, _ = configs(["HYBRID.2"])
    office = Backoffice(cfg, clock=lambda: now[0])
    try:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for i in range(100_000):
            now[0] += 0.006
            office.publish(Device(f"{i:012x}", kind="mta"), i.to_bytes(4, "big") * 256, "127.100.0.9")
        grown = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        assert grown < 32 << 20, f"{grown >> 20} MB"
        assert len(office.names) <= 60 / 0.006 + 1
        assert office.names.held_bytes <= (60 / 0.006 + 1) * 1024
    finally:
        tracemalloc.stop()
        office.devices.close()
        office.leases.close()


def test_issue_flood_keeps_the_table_within_its_count_and_byte_bounds() -> None:
    names = OneTimeNames(max_names=1000, max_bytes=300_000)
    for i in range(20_000):  # no time passes: nothing expires, so only the bounds hold it
        names.issue(f"mta-{i:012x}.cfg", "127.100.0.9", 0.0, data=bytes(500))
        assert len(names) <= 1000 and names.held_bytes <= 300_000
    assert names.evicted == 20_000 - len(names)
    last = names.issue("mta-000000000001.cfg", "127.100.0.1", 0.0, data=b"new")
    assert names.claim(last, "127.100.0.1", 1.0) is not None  # the newest names are the ones kept


def test_a_new_name_for_the_same_file_and_client_retires_the_older_one() -> None:
    names = OneTimeNames()
    old = names.issue("mta-0a0000000001.cfg", "127.100.0.9", 0.0, data=b"old")
    new = names.issue("mta-0a0000000001.cfg", "127.100.0.9", 1.0, data=b"new")
    assert names.claim(old, "127.100.0.9", 2.0) is None
    assert names.claim(new, "127.100.0.9", 2.0).data == b"new"  # type: ignore[union-attr]
    assert names.held_bytes == 0


# --- the CMTS shared secret and the data dir --------------------------------------------------------------------


def data_dir_config(tmp: Path, **kw: Any) -> ServeConfig:
    cfg, _ = configs(["BASIC.1"], cm_key=None, **kw)
    cfg.data_dir = str(tmp / "data")
    return cfg


def cm_file(office: Backoffice) -> bytes:
    return office.templates.build(Device("0a0000000001", kind="cm", template="cm.txt"))


def test_cm_files_are_not_signed_with_a_known_default_secret(tmp_path: Path) -> None:
    """Anyone who knows the default word could make CM files the CMTS accepts."""
    files, keys = [], []
    for n in (1, 2):
        office = Backoffice(data_dir_config(tmp_path / str(n)))
        try:
            files.append(cm_file(office))
            keys.append((tmp_path / str(n) / "data" / "cm_key").read_bytes().rstrip(b"\n"))
        finally:
            office.devices.close()
            office.leases.close()
    for data, key in zip(files, keys, strict=True):
        assert decode_file(data, key=b"pktcable").mic_ok is False
        assert decode_file(data, key=key).mic_ok is True
        assert len(key) >= 32
    assert keys[0] != keys[1]  # generated per data dir, not a constant


def test_generated_secret_is_kept_private_and_reused_on_restart(tmp_path: Path) -> None:
    cfg = data_dir_config(tmp_path)
    first = Backoffice(cfg)
    first.devices.close(), first.leases.close()
    key_file = Path(cfg.data_dir or "") / "cm_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes()
    again = Backoffice(cfg)
    try:
        assert key_file.read_bytes() == key
        assert decode_file(cm_file(again), key=key.rstrip(b"\n")).mic_ok is True
    finally:
        again.devices.close(), again.leases.close()


def test_data_dir_and_every_file_serve_makes_in_it_are_private(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """Other local users can read nothing: the folder is 0700, the stores (with
    their -wal and -shm) and the secret 0600, even under a permissive umask;
    and the secret is in no log line."""
    cfg, sim = configs(["BASIC.1"], cm_key=None)
    cfg.data_dir = str(tmp_path / "var" / "pktcable")
    old = os.umask(0o022)
    caplog.set_level("DEBUG")

    async def main() -> None:
        office = Backoffice(cfg)
        await office.start()
        try:
            (r,), _ = await simulate(sim, Flow.BASIC_1, 1)
            assert r.passed, r.deviations
            office.devices.commit()
            office.leases.commit()
            folder = Path(cfg.data_dir or "")
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            made = sorted(p.name for p in folder.iterdir())
            assert {"cm_key", "devices.db", "devices.db-wal", "devices.db-shm", "leases.db"} <= set(made), made
            for path in folder.rglob("*"):  # files 0600, folders (the firmware catalogue's) 0700
                want = 0o700 if path.is_dir() else 0o600
                assert stat.S_IMODE(path.stat().st_mode) == want, path.name
        finally:
            await office.close()

    try:
        asyncio.run(main())
    finally:
        os.umask(old)
    secret = (Path(cfg.data_dir or "") / "cm_key").read_text().strip()
    assert secret and secret not in caplog.text


def serve_process(tmp_path: Path, *args: str, extra: str = "") -> subprocess.Popen[str]:
    ports = {k: free_port() for k in ("dhcp", "relay", "tftp", "tod", "snmp", "agent")}
    settings = tmp_path / "serve.toml"
    settings.write_text("\n".join([*(f"{k}_port = {v}" for k, v in ports.items()), "http_port = 0", "api_port = 0",
                                   extra, ""]))
    return subprocess.Popen([sys.executable, "-m", "pktcable", "serve", "--config", str(settings), *args],
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], budget: float = 30) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"serve kept running: {err}")
    return proc.returncode, err


def test_serve_without_a_data_dir_or_a_secret_refuses_to_start(tmp_path: Path) -> None:
    code, err = finish(serve_process(tmp_path, "--memory"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cm_key" in err, err


def test_world_readable_cm_key_file_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "cmts.key"
    key.write_text("s3cret\n")
    key.chmod(0o644)
    code, err = finish(serve_process(tmp_path, "--memory", extra=f'cm_key_file = "{key}"'))
    assert code == 2 and "cm_key_file" in err and "readable" in err, err


def test_demo_runs_on_loopback_only_with_a_secret_of_its_own(tmp_path: Path) -> None:
    code, err = finish(serve_process(tmp_path, "--demo", "--address", "192.0.2.1"))
    assert code == 2 and "loopback" in err, err
    proc = serve_process(tmp_path, "--demo")
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:  # the services it listens on, then "store in memory"
        lines.append(line)
        if line.startswith("store"):
            break
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc)
    assert code == 0 and lines[-1].strip() == "store in memory", "".join(lines) + err


# --- HTTP: a request head must come in time ---------------------------------------------------------------------


def open_slow(address: tuple[str, int], first: bytes) -> socket.socket:
    sock = socket.create_connection(address, timeout=30)
    if first:
        sock.sendall(first)
    return sock


def closed_within(sock: socket.socket, budget: float) -> float | None:
    """Seconds until the server closed ``sock`` (None: still open after ``budget``)."""
    start = time.monotonic()
    sock.settimeout(budget)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        return None
    except ConnectionResetError:
        data = b""
    assert data == b"", data  # no answer to a request that never ended
    return time.monotonic() - start


@pytest.fixture()
def http_server() -> Iterator[tuple[HttpServer, LoopThread]]:
    with loop_thread() as lt:
        server = HttpServer(MemoryResolver({"fw.bin": os.urandom(300_000)}), "127.0.0.1", 0)
        lt.run(server.start())
        try:
            yield server, lt
        finally:
            lt.run(server.close())


def test_client_that_never_finishes_its_request_head_is_cut_off(http_server: tuple[HttpServer, LoopThread],
                                                                 tmp_path: Path) -> None:
    server, _ = http_server
    silent = open_slow(server.address, b"")
    partial = open_slow(server.address, b"GET /fw.bin HTTP/1.1\r\nHost: x\r\n")
    try:
        # Meanwhile a real client downloads.
        result = curl("--fail", "-o", str(tmp_path / "fw"), f"http://127.0.0.1:{server.address[1]}/fw.bin")
        assert result.returncode == 0 and (tmp_path / "fw").stat().st_size == 300_000, result.stderr
        assert closed_within(partial, 20) is not None
        assert closed_within(silent, 20) is not None
        assert server.cut_off == 2
    finally:
        silent.close()
        partial.close()


def test_trickled_request_head_does_not_buy_more_time(http_server: tuple[HttpServer, LoopThread]) -> None:
    server, _ = http_server
    sock = open_slow(server.address, b"G")
    try:
        start = time.monotonic()
        request = b"ET /fw.bin HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200
        for byte in request:  # one byte every 100 ms: 20 s for the whole head
            try:
                sock.sendall(bytes((byte,)))
            except (BrokenPipeError, ConnectionResetError):
                break
            sock.settimeout(0.1)
            try:
                if sock.recv(4096) == b"":
                    break
            except TimeoutError:
                continue
        else:
            pytest.fail("the server waited for the whole trickled head")
        assert time.monotonic() - start < 15
    finally:
        sock.close()


def test_serve_applies_its_http_header_timeout(tmp_path: Path) -> None:
    cfg, _ = configs(["BASIC.1"], http_header_timeout=0.5)
    cfg.http_port = free_tcp_port()

    async def main() -> float | None:
        office = Backoffice(cfg)
        await office.start()
        try:
            sock = await asyncio.to_thread(open_slow, ("127.0.0.1", cfg.http_port), b"GET / HTTP/1.1\r\n")
            try:
                return await asyncio.to_thread(closed_within, sock, 10)
            finally:
                sock.close()
        finally:
            await office.close()

    took = asyncio.run(main())
    assert took is not None and took < 5



def test_api_client_that_never_finishes_its_request_head_is_cut_off() -> None:
    # The operators' API listens behind the same request-head deadline as the file server.
    cfg, _ = configs(["BASIC.1"], http_header_timeout=0.5)
    cfg.api_port = free_tcp_port()

    async def main() -> tuple[float | None, float | None]:
        office = Backoffice(cfg)
        await office.start()
        try:
            host, port = office.addresses()["api"]
            silent = await asyncio.to_thread(open_slow, (host, port), b"")
            partial = await asyncio.to_thread(open_slow, (host, port), b"GET /api/v1/devices HTTP/1.1\r\n")
            try:
                return (await asyncio.to_thread(closed_within, silent, 10),
                        await asyncio.to_thread(closed_within, partial, 10))
            finally:
                silent.close()
                partial.close()
        finally:
            await office.close()

    silent, partial = asyncio.run(main())
    assert silent is not None and silent < 5
    assert partial is not None and partial < 5
