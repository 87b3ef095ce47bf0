"""SIP over TLS and the profiles over HTTPS inside ``pktcable serve`` (sip_transport = "tls",
sip_cert, sip_key, sip_https_port): the settings are checked (one line naming the setting,
exit 2), ``openssl s_client`` plays the phone's TLS stack and verifies our certificate,
the NOTIFY names an https:// URL on sip_https_port, curl fetches it there with --cacert
(and gets 304 with the ETag), and the delivery server's plain HTTP no longer has it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig, check
from pktcable.sip import grammar as g
from pktcable.sip.message import Request, Response, StreamFramer

from .peers import require
from .sip_peers import tls_contexts
from .test_e2e import configs, free_tcp_port

MAC = "0004f2a0b0e1"
VARS = {"registrar": "sip.example.net", "lines": [{"user": "4001", "password": "pw"}]}
BUDGET = 30.0


@pytest.mark.parametrize(("lines", "problem"), [
    ('sip_port = 5071\nsip_transport = "tls"', "sip_transport: tls needs the server's certificate"),
    ("sip_port = 5071\nsip_https_port = 5443", "sip_https_port: HTTPS needs the server's certificate"),
    ('sip_port = 5071\nsip_cert = "{tmp}/cert.pem"', "sip_key: set sip_cert and sip_key together"),
    ('sip_port = 5071\nsip_cert = "{tmp}/cert.pem"\nsip_key = "{tmp}/nope.pem"', "sip_key: {tmp}/nope.pem: no such"),
    ('sip_port = 5071\nsip_cert = "{tmp}/key.pem"\nsip_key = "{tmp}/key.pem"', "sip_cert: {tmp}/key.pem with"),
])
def test_bad_tls_settings_are_one_line_naming_them(tmp_path: Path, lines: str, problem: str) -> None:
    tls_contexts(tmp_path)
    settings = tmp_path / "serve.toml"
    settings.write_text(lines.format(tmp=tmp_path) + "\n")
    done = subprocess.run([sys.executable, "-m", "pktcable", "serve", "--config", str(settings), "--memory"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert problem.format(tmp=tmp_path) in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize(("setting", "words"), [
    ({"sip_https_port": 5443}, ["sip_https_port", "needs sip_port"]),
    ({"sip_port": 5071, "http_port": 0}, ["sip_port", "http_port or sip_https_port"]),
    ({"sip_port": 5071, "sip_transport": "tls", "sip_multicast": True}, ["sip_multicast", "udp"]),
    ({"sip_port": 5071, "sip_https_port": 10080}, ["sip_https_port", "10080 is also http_port"]),
])
def test_tls_settings_that_cannot_work_are_named(tmp_path: Path, setting: dict[str, object],
                                                 words: list[str]) -> None:
    tls_contexts(tmp_path)
    certs = {"sip_cert": str(tmp_path / "cert.pem"), "sip_key": str(tmp_path / "key.pem")}
    with pytest.raises(ValueError) as info:
        check(ServeConfig(cm_key="k", **certs, **setting))  # type: ignore[arg-type]
    assert all(w in str(info.value) for w in words), str(info.value)


def _subscribe(port: int) -> bytes:
    return (f"SUBSCRIBE sip:MAC%3a{MAC}@127.0.0.1:{port};transport=tls SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKservetls1;rport\r\n"
            f"From: <sip:MAC%3a{MAC}@127.0.0.1>;tag=t1\r\nTo: <sip:MAC%3a{MAC}@127.0.0.1>\r\n"
            f"Call-ID: servetls1@phone\r\nCSeq: 1 SUBSCRIBE\r\n"
            f"Contact: <sip:{MAC}@127.0.0.1:5061;transport=tls>\r\nMax-Forwards: 70\r\n"
            f"Event: ua-profile;profile-type=device\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n").encode()


async def _curl(*args: str) -> tuple[str, str]:
    proc = await asyncio.create_subprocess_exec("curl", "-sS", "-D", "-", "-o", "/dev/null", "-w", "%{http_code}",
                                                *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), BUDGET)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    return text[-3:], text[:-3]


def test_openssl_phone_over_tls_gets_an_https_url_that_curl_fetches(tmp_path: Path) -> None:
    require("openssl", "curl")
    tls_contexts(tmp_path)  # cert.pem / key.pem for prov.test
    cfg, _ = configs(["HYBRID.2"], auto_enroll=False)
    cfg.http_port, cfg.sip_port, cfg.sip_https_port = free_tcp_port(), free_tcp_port(), free_tcp_port()
    cfg.sip_transport, cfg.sip_cert, cfg.sip_key = "tls", str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    cfg.devices = [{"mac": MAC, "kind": "sip", "template": "generic", "vars": VARS}]

    async def main() -> None:
        office = Backoffice(check(cfg))
        await office.start()
        try:
            assert office.addresses()["sip_https"][1] == cfg.sip_https_port
            phone = await asyncio.create_subprocess_exec(
                "openssl", "s_client", "-quiet", "-connect", f"127.0.0.1:{cfg.sip_port}", "-servername", "prov.test",
                "-CAfile", str(tmp_path / "cert.pem"), "-verify_return_error",
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                assert phone.stdin is not None and phone.stdout is not None
                phone.stdin.write(_subscribe(cfg.sip_port))
                await phone.stdin.drain()
                framer, got = StreamFramer(), []
                while len(got) < 2:
                    chunk = await asyncio.wait_for(phone.stdout.read(4096), BUDGET)
                    assert chunk, got
                    got += framer.feed(chunk)
                ok, notify = got[:2]
                assert isinstance(ok, Response) and ok.status == 200
                assert isinstance(notify, Request) and notify.method == "NOTIFY"
                ctype = notify.need("Content-Type", g.MediaType)
                url = g.unquote(g.param(ctype.params, "url") or "")
            finally:
                phone.kill()
                await phone.wait()
            assert url.startswith(f"https://127.0.0.1:{cfg.sip_https_port}/profiles/{MAC}-"), url
            # The certificate names prov.test: curl reaches the same listener by that name.
            named = url.replace("https://127.0.0.1", "https://prov.test")
            tls = ("--cacert", str(tmp_path / "cert.pem"), "--resolve", f"prov.test:{cfg.sip_https_port}:127.0.0.1")
            status, head = await _curl(*tls, named)
            assert status == "200", head
            etag = next(ln.split(":", 1)[1].strip() for ln in head.splitlines() if ln.lower().startswith("etag:"))
            assert (await _curl(*tls, "-H", f"If-None-Match: {etag}", named))[0] == "304"
            # Without the CA, curl refuses the certificate: it is TLS, not a plain port.
            proc = await asyncio.create_subprocess_exec("curl", "-sS", "-o", "/dev/null", named, "--resolve",
                                                        f"prov.test:{cfg.sip_https_port}:127.0.0.1",
                                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            await asyncio.wait_for(proc.communicate(), BUDGET)
            assert proc.returncode != 0
            # A profile holds the line passwords: once on HTTPS it is no longer on plain HTTP.
            plain = url.replace(f"https://127.0.0.1:{cfg.sip_https_port}", f"http://127.0.0.1:{cfg.http_port}")
            assert (await _curl(plain))[0] == "404"
            events = [s.event for s in office.devices.history(MAC)]
            assert "Subscribed" in events
        finally:
            await office.close()

    asyncio.run(main())

