"""Real TFTP clients against our server: Debian's tftp-hpa ``tftp`` and ``curl tftp://``.

A generated MTA/CM config and a 5 MB firmware image must arrive byte-identical.
A missing client skips locally and fails in CI (CI=true).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest

from pktcable.delivery.resolvers import ChainResolver, Device, DirectoryResolver, InMemoryDevices, TemplateResolver
from pktcable.delivery.tftp_aio import TftpServer

from .conftest import DATA
from .delivery_util import loop_thread
from .peers import require

MTA = "mta-001122334455.cfg"
CM = "cm-00112233aa55.cfg"
FIRMWARE = os.urandom(5 * 1024 * 1024 + 123)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, mib_ctx: object) -> Iterator[tuple[TftpServer, dict[str, bytes]]]:
    root = tmp_path_factory.mktemp("tftproot")
    (root / "fw.bin").write_bytes(FIRMWARE)
    (root / "small.bin").write_bytes(FIRMWARE[: 600 * 1024])
    devices = InMemoryDevices([
        Device("001122334455", kind="mta", template="mta.cfg.j2", flow="BASIC.1",
               vars={"lines": [9, 10], "call_agent": "ca@cms.example.net", "org": "Example Cable"}),
        Device("00112233aa55", kind="cm", template="cm.cfg.j2", flow="BASIC.1", vars={"max_cpe": 4, "up": 10_000_000, "down": 100_000_000}),
    ])
    templates = TemplateResolver(devices, jinja2.FileSystemLoader(DATA / "delivery"), ctx=mib_ctx,  # type: ignore[arg-type]
                                 cm_key=b"shared-secret")
    resolver = ChainResolver([templates, DirectoryResolver(root)])
    expected = {MTA: templates.resolve(MTA, ("127.0.0.1", 0)), CM: templates.resolve(CM, ("127.0.0.1", 0)),
                "fw.bin": FIRMWARE, "small.bin": FIRMWARE[: 600 * 1024]}
    with loop_thread() as lt:
        server = TftpServer(resolver, "127.0.0.1", 0)
        lt.run(server.start())
        try:
            yield server, expected
        finally:
            lt.call(server.close)


@pytest.mark.parametrize("name", [MTA, CM, "fw.bin"])
def test_tftp_hpa_client(served: tuple[TftpServer, dict[str, bytes]], tmp_path: Path, name: str) -> None:
    tftp = require("tftp")
    server, expected = served
    out = tmp_path / "out"
    # tftp-hpa reports errors on stdout and exits 0; only the file tells.
    result = subprocess.run([tftp, "127.0.0.1", str(server.address[1]), "-m", "binary", "-c", "get", name, str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.read_bytes() == expected[name]


def test_tftp_hpa_client_missing_file(served: tuple[TftpServer, dict[str, bytes]], tmp_path: Path) -> None:
    tftp = require("tftp")
    server, _ = served
    result = subprocess.run([tftp, "127.0.0.1", str(server.address[1]), "-m", "binary", "-c", "get", "nope.cfg",
                             str(tmp_path / "x")], capture_output=True, text=True, timeout=30)
    assert "Error code 1" in result.stdout + result.stderr


@pytest.mark.parametrize("name, blksize", [(MTA, None), (MTA, 1468), (CM, 512), ("fw.bin", None), ("fw.bin", 1468),
                                           ("fw.bin", 65464), ("small.bin", 8)])
def test_curl_tftp(served: tuple[TftpServer, dict[str, bytes]], tmp_path: Path, name: str, blksize: int | None) -> None:
    """blksize 8 on 600 KiB is 76,800 blocks: the block number wraps past 65535."""
    curl = require("curl")
    server, expected = served
    out = tmp_path / "out"
    args = [curl, "--no-progress-meter", "--fail", "-o", str(out), f"tftp://127.0.0.1:{server.address[1]}/{name}"]
    if blksize:
        args[1:1] = ["--tftp-blksize", str(blksize)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == expected[name]


def test_curl_tftp_refusals(served: tuple[TftpServer, dict[str, bytes]], tmp_path: Path) -> None:
    curl = require("curl")
    server, _ = served
    for name, code in (("nope.cfg", 68), ("../etc/passwd", 69)):  # curl: 68 not found, 69 permission problem
        result = subprocess.run([curl, "--no-progress-meter", "--path-as-is", "-o", str(tmp_path / "x"),
                                 f"tftp://127.0.0.1:{server.address[1]}/{name}"], capture_output=True, timeout=30)
        assert result.returncode == code, name
