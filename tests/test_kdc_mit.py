"""MIT kinit against OUR KDC (`pktcable kdc serve`), over UDP and TCP, in both PKINIT
modes: the device certificate of a lab PKI gets a ticket for the provisioning
server and the TGT, and `klist -e` shows principal, service and enctype. A device
certificate from another MTA Root and a request for another realm end in the
named refusals. Also the transport itself: our client over TCP, limits, and
bytes that are no request."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pktcable.secure import asclient, kdclab, krbmsg
from pktcable.secure.kdc import ErrorCode, Kdc
from pktcable.secure.kdcnet import KdcServer, NetLimits, RateLimiter
from pktcable.secure.labdir import LabPki, LabSettings

from .krbpeers import KINIT_BUDGET, START_BUDGET, client_conf, require_mit
from .ports import free_port
from .procs import FAULT_ENV, stop

ROOT = Path(__file__).resolve().parent.parent
REALM = "LAB.EXAMPLE.NET"
PROV_FQDN = "prov.lab.example.net"
MAC = bytes.fromhex("0010180a0b0c")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)  # kinit checks certificates against the real clock


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    made = LabPki.create(tmp_path_factory.mktemp("pki"), LabSettings(REALM, "Example Cable", "kdc.lab.example.net",
                                                                       PROV_FQDN), now=_now())
    made.issue_device(MAC, now=_now())
    return made


@dataclass
class OurKdc:
    proc: subprocess.Popen[str]
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def our_kdc(lab: LabPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OurKdc]:
    """`python -m pktcable kdc serve` as a child, on a free port, logging to a file."""
    port = free_port()
    log = tmp_path_factory.mktemp("kdc") / "kdc.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pktcable", "kdc", "serve", "--dir", str(lab.folder),
                                 "--address", "127.0.0.1", "--port", str(port), "--log-level", "info"],
                                env={**FAULT_ENV, "PYTHONPATH": str(ROOT)}, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, cwd=ROOT)
    running = OurKdc(proc, port, log)
    deadline = time.monotonic() + START_BUDGET
    while "kdc for" not in running.output():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise AssertionError(f"our KDC did not start:\n{running.output()}")
        time.sleep(0.1)
    yield running
    assert stop(proc) in (0, 130), running.output()


@dataclass
class Run:
    ok: bool
    output: str
    ccache: Path


def kinit(lab: LabPki, kdc: OurKdc, folder: Path, *, udp: bool, rsa: bool = False, service: str | None = None,
          principal: str = f"{MAC.hex()}@{REALM}", cert_lab: LabPki | None = None) -> Run:
    require_mit()
    other = cert_lab or lab
    conf = folder / "krb5.conf"
    realm = principal.rpartition("@")[2]
    conf.write_text(client_conf(realm, kdc.port, udp=udp,
                                anchors=[lab.folder / "sp-root.pem", other.folder / "mta-root.pem"],
                                pool=[lab.folder / "sp-ca.pem", other.folder / "mta-manufacturer.pem"]))
    device = other.folder / "devices" / MAC.hex()
    ccache = folder / "cc"
    argv = ["kinit", "-X", f"X509_user_identity=FILE:{device}.pem,{device}.key"]
    if rsa:
        argv += ["-X", "flag_RSA_PROTOCOL=yes"]
    if service:
        argv += ["-S", service]
    env = {**os.environ, "KRB5_CONFIG": str(conf), "KRB5CCNAME": f"FILE:{ccache}", "KRB5_TRACE": "/dev/stderr"}
    try:
        done = subprocess.run([*argv, principal], env=env, capture_output=True, text=True, timeout=KINIT_BUDGET,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"kinit hung; our KDC:\n{kdc.output()}") from None
    return Run(done.returncode == 0, done.stdout + done.stderr, ccache)


def klist(run: Run) -> str:
    return subprocess.run(["klist", "-e", "-c", f"FILE:{run.ccache}"], capture_output=True, text=True,
                          timeout=KINIT_BUDGET, check=False).stdout


@pytest.mark.parametrize("udp", [True, False], ids=["udp", "tcp"])
@pytest.mark.parametrize("rsa", [True, False], ids=["rsa", "dh"])
def test_kinit_gets_the_provisioning_server_ticket(lab: LabPki, our_kdc: OurKdc, tmp_path: Path, udp: bool,
                                                   rsa: bool) -> None:
    service = f"mtaprovsrvr/{PROV_FQDN}"
    run = kinit(lab, our_kdc, tmp_path, udp=udp, rsa=rsa, service=service)
    assert run.ok, f"{run.output}\nour KDC:\n{our_kdc.output()}"
    assert ("PKINIT client verified RSA reply" if rsa else "PKINIT client verified DH reply") in run.output
    if not rsa:  # kinit offered RFC 8636 KDFs: ours named SHA-256's, and kinit's key matched ours
        assert "PKINIT client used KDF 2B06010502030602 to compute reply key" in run.output, run.output
    # The big PKINIT request went by the transport asked for (the first, small one is always UDP).
    transport = "UDP" if udp else "TCP"
    assert any(f"Sending {'initial ' if udp else ''}{transport} request" in line or
               (not udp and "Initiating TCP connection" in line) for line in run.output.splitlines()), run.output
    listing = klist(run)
    assert f"Default principal: {MAC.hex()}@{REALM}" in listing, listing
    assert f"{service}@{REALM}" in listing, listing
    assert "Etype (skey, tkt): aes256-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96" in listing, listing


def test_kinit_gets_a_tgt(lab: LabPki, our_kdc: OurKdc, tmp_path: Path) -> None:
    run = kinit(lab, our_kdc, tmp_path, udp=True)
    assert run.ok, f"{run.output}\nour KDC:\n{our_kdc.output()}"
    assert f"krbtgt/{REALM}@{REALM}" in klist(run)


def test_kvno_uses_the_tgt_for_the_provisioning_server_ticket(lab: LabPki, our_kdc: OurKdc, tmp_path: Path) -> None:
    """Option 122.7 = 1: the eMTA fetches a TGT, then a TGS-REQ (MTA-11/12) buys the
    provisioning server's ticket; MIT's kvno plays the second step."""
    run = kinit(lab, our_kdc, tmp_path, udp=True)
    assert run.ok, run.output
    service = f"mtaprovsrvr/{PROV_FQDN}"
    env = {**os.environ, "KRB5_CONFIG": str(tmp_path / "krb5.conf"), "KRB5CCNAME": f"FILE:{run.ccache}",
           "KRB5_TRACE": "/dev/stderr"}
    done = subprocess.run(["kvno", service], env=env, capture_output=True, text=True, timeout=KINIT_BUDGET,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\nour KDC:\n{our_kdc.output()}"
    assert f"{service}@{REALM}: kvno = 1" in done.stdout
    # MIT asks with a subkey in the authenticator: the reply is encrypted in it (usage 9).
    assert "Generated subkey for TGS request" in done.stderr and "TGS request result: 0/Success" in done.stderr
    listing = klist(run)
    assert f"krbtgt/{REALM}@{REALM}" in listing and f"{service}@{REALM}" in listing, listing


def test_kinit_with_a_device_from_another_root_is_refused(lab: LabPki, our_kdc: OurKdc, tmp_path: Path) -> None:
    other = LabPki.create(tmp_path / "other", LabSettings(REALM, "Impostor", "kdc.x", "prov.x",
                                                          manufacturer="Impostor Devices"), now=_now())
    other.issue_device(MAC, now=_now())
    run = kinit(lab, our_kdc, tmp_path, udp=True, cert_lab=other)
    assert not run.ok
    assert "PKINIT client making DH request" in run.output, "the client refused before asking the KDC"
    # MIT's text for KDC_ERR_CANT_VERIFY_CERTIFICATE (70), from our KRB-ERROR.
    assert "Can't verify certificate" in run.output, f"{run.output}\nour KDC:\n{our_kdc.output()}"


def test_kinit_for_another_realm_is_refused(lab: LabPki, our_kdc: OurKdc, tmp_path: Path) -> None:
    run = kinit(lab, our_kdc, tmp_path, udp=True, principal=f"{MAC.hex()}@OTHER.EXAMPLE.NET")
    assert not run.ok
    # MIT's text for KDC_ERR_WRONG_REALM (68), the code our KRB-ERROR carries.
    assert "Received error from KDC: -1765328316/Realm not local to KDC" in run.output, \
        f"{run.output}\nour KDC:\n{our_kdc.output()}"


# -- the transport, in process ---------------------------------------------------------------------

class Running:
    """A KdcServer on its own event loop thread, so blocking sockets can talk to it."""

    def __init__(self, server: KdcServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(server.start(), self.loop).result(START_BUDGET)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(START_BUDGET)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(START_BUDGET)
        self.loop.close()


@pytest.fixture
def running(lab: LabPki) -> Iterator[Running]:
    served = Running(KdcServer(Kdc(kdclab.config(lab)), "127.0.0.1", 0,
                               limits=NetLimits(rate=1000, burst=1000, max_request=8192)))
    yield served
    served.close()


def _request(lab: LabPki, nonce: int = 1) -> bytes:
    device = lab.device(MAC)
    return asclient.build_as_req(device.certificate, device.key, [lab.get("mta-manufacturer").certificate],
                                 principal=MAC.hex(), realm=REALM, service=("mtaprovsrvr", PROV_FQDN),
                                 now=_now(), nonce=nonce)


def _tcp(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=KINIT_BUDGET) as s:
        s.sendall(payload)
        head = s.recv(4, socket.MSG_WAITALL)
        if len(head) < 4:
            return b""
        (length,) = struct.unpack("!I", head)
        return s.recv(length, socket.MSG_WAITALL)


def test_our_client_over_tcp_and_udp(lab: LabPki, running: Running) -> None:
    port = running.server.port
    for nonce, via_tcp in ((11, True), (12, False)):
        req = _request(lab, nonce)
        if via_tcp:
            reply = _tcp(port, struct.pack("!I", len(req)) + req)
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(KINIT_BUDGET)
                s.sendto(req, ("127.0.0.1", port))
                reply = s.recvfrom(65535)[0]
        creds = asclient.read_as_rep(req, reply, lab.device(MAC).key, [lab.get("sp-root").certificate], now=_now())
        assert creds.part["nonce"].native == nonce
    assert running.server.counts["as-rep"] == 2


def test_the_transport_survives_hostile_input(lab: LabPki, running: Running) -> None:
    port = running.server.port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2.0)
        s.sendto(b"\x00" * 40, ("127.0.0.1", port))          # no Kerberos message: dropped
        s.sendto(b"\x6a" + b"\xff" * 9000, ("127.0.0.1", port))  # over the size limit: dropped
        s.sendto(b"\x6a\x03\x02\x01\x05", ("127.0.0.1", port))    # a broken AS-REQ: KRB_ERR_GENERIC
        reply = s.recvfrom(65535)[0]
    assert krbmsg.load(reply, krbmsg.KrbError)["error-code"].native == ErrorCode.KRB_ERR_GENERIC
    # TCP: the reserved high bit and an oversized length close the connection unanswered.
    assert _tcp(port, struct.pack("!I", 0x80000010) + b"x" * 16) == b""
    assert _tcp(port, struct.pack("!I", 1 << 20)) == b""
    counts = running.server.counts
    deadline = time.monotonic() + KINIT_BUDGET
    while counts["dropped"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counts["dropped"] == 1 and counts["too-large"] == 3 and counts[f"error-{ErrorCode.KRB_ERR_GENERIC}"] == 1
    test_our_client_over_tcp_and_udp(lab, running)  # and it still serves


def test_a_reply_too_big_for_udp(lab: LabPki) -> None:
    served = Running(KdcServer(Kdc(kdclab.config(lab)), "127.0.0.1", 0, limits=NetLimits(max_udp_reply=1000)))
    try:
        req = _request(lab)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(KINIT_BUDGET)
            s.sendto(req, ("127.0.0.1", served.server.port))
            reply = s.recvfrom(65535)[0]
        assert krbmsg.load(reply, krbmsg.KrbError)["error-code"].native == ErrorCode.KRB_ERR_RESPONSE_TOO_BIG
    finally:
        served.close()


def test_the_rate_limiter() -> None:
    limiter = RateLimiter(rate=2.0, burst=3, max_sources=2)
    assert [limiter.allow("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("a", 0.5)  # one token back after half a second at 2/s
    assert not limiter.allow("a", 0.5)
    limiter.allow("b", 0.5)
    limiter.allow("c", 0.5)
    assert len(limiter) == 2  # "a", the stalest, forgotten
    assert limiter.allow("a", 0.5)


@pytest.mark.parametrize(("args", "message"), [
    (["--dir", "no-such-pki"], "--dir: no-such-pki: no PKI here"),
    (["--modes", "rsa,ecdh"], "--modes 'rsa,ecdh': rsa, dh or both"),
], ids=["no-pki", "bad-mode"])
def test_settings_errors_are_one_line_and_exit_2(lab: LabPki, args: list[str], message: str, tmp_path: Path) -> None:
    full = ["--dir", str(lab.folder), *args] if args[0] != "--dir" else args
    done = subprocess.run([sys.executable, "-m", "pktcable", "kdc", "serve", *full, "--port", "0"],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path, capture_output=True, text=True,
                          timeout=START_BUDGET, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_one_source_cannot_hold_every_tcp_connection(lab: LabPki) -> None:
    served = Running(KdcServer(Kdc(kdclab.config(lab)), "127.0.0.1", 0,
                               limits=NetLimits(max_connections_per_source=2, tcp_timeout=30.0)))
    try:
        port = served.server.port
        held = [socket.create_connection(("127.0.0.1", port), timeout=KINIT_BUDGET) for _ in range(2)]
        try:
            # The third from the same address is closed unanswered; the two held stay usable.
            assert _tcp(port, b"") == b""
            req = _request(lab, 31)
            held[0].sendall(struct.pack("!I", len(req)) + req)
            (length,) = struct.unpack("!I", held[0].recv(4, socket.MSG_WAITALL))
            reply = held[0].recv(length, socket.MSG_WAITALL)
            assert krbmsg.message_type(reply) == krbmsg.AS_REP
            assert served.server.counts["busy"] == 1
        finally:
            for s in held:
                s.close()
    finally:
        served.close()
