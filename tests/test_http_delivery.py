"""HTTP(S) delivery on the shared resolver: curl as the real client, Range, HEAD, errors."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pktcable.delivery.http import HttpServer, RangeNotSatisfiable, make_ssl_context, parse_range
from pktcable.delivery.resolvers import ChainResolver, DirectoryResolver, MemoryResolver

from .delivery_util import LoopThread, loop_thread
from .peers import require

FIRMWARE = os.urandom(5 * 1024 * 1024)
CONFIG = os.urandom(4096)


@pytest.mark.parametrize(
    "header, size, span",
    [
        (None, 10, None),
        ("bytes=0-3", 10, (0, 4)),
        ("bytes=4-", 10, (4, 10)),
        ("bytes=-3", 10, (7, 10)),
        ("bytes=-30", 10, (0, 10)),
        ("bytes=5-100", 10, (5, 10)),
        ("bytes=5-2", 10, None),  # invalid: ignored
        ("bytes=0-1,4-5", 10, None),  # several ranges: the whole file
        ("items=0-1", 10, None),
        ("bytes=" + "9" * 50 + "-", 10, None),  # absurd numbers: ignored
    ],
)
def test_parse_range(header: str | None, size: int, span: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == span


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=-0", "bytes=99-100"])
def test_unsatisfiable_range(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 10)


def self_signed(tmp: Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HttpServer, HttpServer, str]]:
    tmp = tmp_path_factory.mktemp("http")
    root = tmp / "root"
    root.mkdir()
    (root / "fw.bin").write_bytes(FIRMWARE)
    (tmp / "secret").write_bytes(b"secret")
    resolver = ChainResolver([MemoryResolver({"mta-001122334455.cfg": CONFIG}), DirectoryResolver(root)])
    cert, key = self_signed(tmp)
    lt: LoopThread
    with loop_thread() as lt:
        http = HttpServer(resolver, "127.0.0.1", 0)
        https = HttpServer(resolver, "127.0.0.1", 0, make_ssl_context(cert, key))
        lt.run(http.start())
        lt.run(https.start())
        try:
            yield http, https, cert
        finally:
            lt.run(http.close())
            lt.run(https.close())


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([require("curl"), "--no-progress-meter", *args], capture_output=True, timeout=60)


def test_http_full_files(servers: tuple[HttpServer, HttpServer, str], tmp_path: Path) -> None:
    http, _, _ = servers
    base = f"http://127.0.0.1:{http.address[1]}"
    for name, content in (("mta-001122334455.cfg", CONFIG), ("fw.bin", FIRMWARE)):
        out = tmp_path / name
        result = curl("--fail", "-o", str(out), "-w", "%{http_version} %{size_download}", f"{base}/{name}")
        assert result.returncode == 0, result.stderr
        assert result.stdout.decode() == f"1.1 {len(content)}"
        assert out.read_bytes() == content


def test_https_with_the_servers_certificate(servers: tuple[HttpServer, HttpServer, str], tmp_path: Path) -> None:
    _, https, cert = servers
    out = tmp_path / "out"
    result = curl("--fail", "--cacert", cert, "-o", str(out), f"https://127.0.0.1:{https.address[1]}/fw.bin")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == FIRMWARE
    assert curl("--fail", "-o", str(out), f"https://127.0.0.1:{https.address[1]}/fw.bin").returncode == 60  # untrusted


def test_range_requests_resume_firmware(servers: tuple[HttpServer, HttpServer, str], tmp_path: Path) -> None:
    http, _, _ = servers
    url = f"http://127.0.0.1:{http.address[1]}/fw.bin"
    part = tmp_path / "part"
    part.write_bytes(FIRMWARE[:1_000_000])
    result = curl("--fail", "-C", "-", "-o", str(part), url)  # curl resumes with Range: bytes=1000000-
    assert result.returncode == 0, result.stderr
    assert part.read_bytes() == FIRMWARE
    result = curl("--fail", "-r", "100-199", "-D", "-", "-o", str(tmp_path / "r"), url)
    headers = result.stdout.decode().lower()
    assert "206" in headers.splitlines()[0]
    assert f"content-range: bytes 100-199/{len(FIRMWARE)}" in headers and "content-length: 100" in headers
    assert (tmp_path / "r").read_bytes() == FIRMWARE[100:200]
    result = curl("-r", f"{len(FIRMWARE)}-", "-o", "/dev/null", "-w", "%{http_code}", url)
    assert result.stdout == b"416"


def test_head_and_errors(servers: tuple[HttpServer, HttpServer, str]) -> None:
    http, _, _ = servers
    base = f"http://127.0.0.1:{http.address[1]}"
    headers = curl("-I", f"{base}/fw.bin").stdout.decode().lower()
    assert f"content-length: {len(FIRMWARE)}" in headers and "accept-ranges: bytes" in headers
    for path, code in (("/nope.cfg", "404"), ("/../secret", "403"), ("/%2e%2e/secret", "403"), ("//etc/passwd", "403")):
        result = curl("--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", base + path)
        assert result.stdout.decode() == code, path
