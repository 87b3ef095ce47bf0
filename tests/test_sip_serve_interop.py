"""``pktcable sip serve`` against real peers: SIPp plays the phone (SUBSCRIBE -> 200 ->
NOTIFY with the profile URL -> 200), curl fetches the URL, xmllint validates the
profile against the shipped schema, curl's conditional GET gets 304, and after a
variable edit (SIGHUP re-reads the phones file) the phone gets the change NOTIFY."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pktcable.phones.book import PhoneBook
from pktcable.phones.profiles import SHIPPED, Profiles

from .peers import require
from .ports import free_port
from .procs import stop

DATA = Path(__file__).parent / "data" / "sip"
MAC = "0004f2a0b0c1"
SECRET = b"interop-test-profile-url-key"
BUDGET = 30.0
PHONE = {"mac": MAC, "template": "generic",
         "vars": {"registrar": "sip.example.net", "lines": [{"user": "2001", "password": "pw", "display_name": "Lab"}],
                  "codecs": ["PCMU"]}}


MAC2 = "0004f2a0b0c3"
PHONE2 = {"mac": MAC2, "template": "snom",
          "vars": {**PHONE["vars"], "sip_password": "digest-pw"}}  # type: ignore[dict-item]


class Server:
    """``python -m pktcable sip serve`` with its stderr read line by line."""

    def __init__(self, tmp: Path, phones: list[dict[str, object]], transport: str = "udp",
                 extra: tuple[str, ...] = ()) -> None:
        self.transport = transport
        self.phones_file = tmp / "phones.json"
        self.phones_file.write_text(json.dumps(phones))
        (tmp / "key").write_bytes(SECRET)
        self.sip_port, self.http_port = free_port(), free_port()
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pktcable", "sip", "serve", "--phones", str(self.phones_file),
             "--address", "127.0.0.1", "--sip-port", str(self.sip_port), "--http-port", str(self.http_port),
             "--secret-file", str(tmp / "key"), "--sip-transport", transport, *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("sip provisioning on")

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip())
                self._cond.notify_all()

    def wait_for(self, text: str, count: int = 1) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: sum(text in ln for ln in self.lines) >= count or
                                     self.proc.poll() is not None, BUDGET)
        assert ok and self.proc.poll() is None, "\n".join(self.lines)

    def url(self, mac: str = MAC) -> str:
        book = PhoneBook(Profiles(), lambda mac: None, SECRET, time.time)
        return f"http://127.0.0.1:{self.http_port}/{book.path(mac)}"

    def close(self) -> None:
        stop(self.proc)


def sipp(scenario: str, server: Server, cwd: Path, *extra: str, mac: str = MAC) -> subprocess.Popen[bytes]:
    transport = ("-t", "t1") if server.transport == "tcp" else ()
    return subprocess.Popen(
        ["sipp", f"127.0.0.1:{server.sip_port}", "-sf", str(DATA / scenario), "-key", "mac", mac, *transport, *extra,
         "-p", str(free_port()), "-m", "1", "-i", "127.0.0.1", "-timeout", "30", "-timeout_error", "-trace_err",
         "-nostdin"], cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen[bytes], cwd: Path) -> None:
    out, _ = proc.communicate(timeout=BUDGET + 15)
    errors = "".join(p.read_text(errors="replace") for p in cwd.glob("*_errors.log"))
    assert proc.returncode == 0, out.decode(errors="replace")[-3000:] + errors[-3000:]


def curl(*args: str) -> tuple[str, str]:
    run = subprocess.run(["curl", "-sS", "-D", "-", "-o", "/dev/null", "-w", "%{http_code}", *args],
                         capture_output=True, text=True, timeout=BUDGET)
    assert run.returncode == 0, run.stderr
    return run.stdout[-3:], run.stdout[:-3]


@pytest.fixture(params=["udp", "tcp"])
def server(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    require("sipp", "curl", "xmllint")
    srv = Server(tmp_path, [PHONE, PHONE2], request.param)
    yield srv
    srv.close()


def test_sipp_phone_gets_its_profile_url_and_curl_and_xmllint_take_it(server: Server, tmp_path: Path) -> None:
    finish(sipp("uac_profile_server.xml", server, tmp_path), tmp_path)
    server.wait_for(f"{MAC} Notified")
    profile = tmp_path / "profile.xml"
    run = subprocess.run(["curl", "-sS", "-f", "-o", str(profile), server.url()], capture_output=True, text=True,
                         timeout=BUDGET)
    assert run.returncode == 0, run.stderr
    lint = subprocess.run(["xmllint", "--noout", "--schema", str(SHIPPED / "generic.xsd"), str(profile)],
                          capture_output=True, text=True, timeout=BUDGET)
    assert lint.returncode == 0, lint.stderr
    assert b"<user>2001</user>" in profile.read_bytes()
    status, head = curl(server.url())
    assert status == "200"
    etag = next(ln.split(":", 1)[1].strip() for ln in head.splitlines() if ln.lower().startswith("etag:"))
    assert curl("-H", f"If-None-Match: {etag}", server.url())[0] == "304"
    assert curl(server.url().replace(MAC, "0004f2a0b0c2"))[0] == "404"


def test_sipp_phone_receives_the_change_notify_after_a_variable_edit(server: Server, tmp_path: Path) -> None:
    phone = sipp("uac_profile_change.xml", server, tmp_path)
    server.wait_for(f"{MAC} Notified")
    edited = json.loads(json.dumps(PHONE))
    edited["vars"]["codecs"] = ["G722", "PCMU"]
    server.phones_file.write_text(json.dumps([edited]))
    server.proc.send_signal(signal.SIGHUP)
    finish(phone, tmp_path)
    server.wait_for(f"{MAC} Notified", count=2)
    status, _ = curl(server.url())
    assert status == "200"


def test_sipp_phone_answers_the_digest_challenge_and_gets_its_snom_profile(server: Server, tmp_path: Path) -> None:
    # A wrong password first: refused with 403 after the challenge, so the scenario fails.
    bad = sipp("uac_profile_digest.xml", server, tmp_path, "-au", MAC2, "-ap", "guess", mac=MAC2)
    bad.communicate(timeout=BUDGET + 15)
    assert bad.returncode != 0
    server.wait_for(f"{MAC2} AuthFailed")
    for log in tmp_path.glob("*_errors.log"):
        log.unlink()
    finish(sipp("uac_profile_digest.xml", server, tmp_path, "-au", MAC2, "-ap", "digest-pw", mac=MAC2), tmp_path)
    server.wait_for(f"{MAC2} Notified")
    profile = tmp_path / "snom.xml"
    run = subprocess.run(["curl", "-sS", "-f", "-o", str(profile), server.url(MAC2)], capture_output=True, text=True,
                         timeout=BUDGET)
    assert run.returncode == 0, run.stderr
    lint = subprocess.run(["xmllint", "--noout", "--schema", str(SHIPPED / "snom.xsd"), str(profile)],
                          capture_output=True, text=True, timeout=BUDGET)
    assert lint.returncode == 0, lint.stderr


def test_profiles_over_https_with_validators(tmp_path: Path) -> None:
    from .sip_peers import tls_contexts

    require("curl")
    tls_contexts(tmp_path)  # cert.pem / key.pem for prov.test
    srv = Server(tmp_path, [PHONE], extra=("--cert", str(tmp_path / "cert.pem"), "--cert-key", str(tmp_path / "key.pem")))
    try:
        assert any("profiles on https" in line for line in srv.lines)
        url = srv.url().replace("http://127.0.0.1", "https://prov.test")
        tls = ("--cacert", str(tmp_path / "cert.pem"), "--resolve", f"prov.test:{srv.http_port}:127.0.0.1")
        status, head = curl(*tls, url)
        assert status == "200"
        etag = next(ln.split(":", 1)[1].strip() for ln in head.splitlines() if ln.lower().startswith("etag:"))
        assert curl(*tls, "-H", f"If-None-Match: {etag}", url)[0] == "304"
    finally:
        srv.close()


def test_openssl_phone_subscribes_over_tls_and_gets_an_https_url(tmp_path: Path) -> None:
    """Debian's SIPp has no TLS: openssl s_client is the phone's TLS stack; it verifies our
    certificate, carries a SUBSCRIBE in and prints the 200 and the NOTIFY."""
    from pktcable.sip import grammar as g
    from pktcable.sip.message import Request, Response, StreamFramer

    from .sip_peers import tls_contexts

    require("openssl")
    tls_contexts(tmp_path)
    certs = ("--cert", str(tmp_path / "cert.pem"), "--cert-key", str(tmp_path / "key.pem"))
    srv = Server(tmp_path, [PHONE], "tls", certs)
    try:
        subscribe = (f"SUBSCRIBE sip:MAC%3a{MAC}@127.0.0.1:{srv.sip_port};transport=tls SIP/2.0\r\n"
                     f"Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKtls1;rport\r\n"
                     f"From: <sip:MAC%3a{MAC}@127.0.0.1>;tag=t1\r\nTo: <sip:MAC%3a{MAC}@127.0.0.1>\r\n"
                     f"Call-ID: tls1@phone\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:{MAC}@127.0.0.1:5061;transport=tls>\r\n"
                     f"Max-Forwards: 70\r\nEvent: ua-profile;profile-type=device\r\nExpires: 600\r\n"
                     f"Content-Length: 0\r\n\r\n").encode()
        proc = subprocess.Popen(["openssl", "s_client", "-quiet", "-connect", f"127.0.0.1:{srv.sip_port}",
                                 "-servername", "prov.test", "-CAfile", str(tmp_path / "cert.pem"),
                                 "-verify_return_error"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(subscribe)
            proc.stdin.flush()
            framer, got = StreamFramer(), []
            deadline = time.monotonic() + BUDGET
            while len(got) < 2:
                assert time.monotonic() < deadline, got
                # select: a server that never answers fails the test instead of blocking it
                if not select.select([proc.stdout], [], [], 1.0)[0]:
                    continue
                chunk = os.read(proc.stdout.fileno(), 4096)
                assert chunk, got
                got += framer.feed(chunk)
            ok, notify = got[:2]
            assert isinstance(ok, Response) and ok.status == 200
            assert isinstance(notify, Request) and notify.method == "NOTIFY"
            ctype = notify.need("Content-Type", g.MediaType)
            assert g.unquote(g.param(ctype.params, "url") or "").startswith(f"https://127.0.0.1:{srv.http_port}/")
        finally:
            proc.kill()
            proc.wait()
    finally:
        srv.close()
