"""The firmware catalogue: store backends, signature verdicts, and delivery by TFTP and HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pktcable.cli import main
from pktcable.delivery.catalogue import CatalogueResolver
from pktcable.delivery.http import HttpServer
from pktcable.delivery.resolvers import NotFound
from pktcable.delivery.tftp_aio import TftpServer
from pktcable.firmware import codefile as cf
from pktcable.secure.labdir import LabPki, LabSettings
from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig, check, firmware_trust
from pktcable.serve.officeview import OfficeView
from pktcable.settings import SettingError
from pktcable.store.firmware import (
    Duplicate,
    FirmwareError,
    FirmwareImage,
    FirmwareStore,
    MemoryFirmwareStore,
    SqliteFirmwareStore,
    make_image,
    signature_status,
)

from .apiclient import serving
from .conftest import DATA
from .delivery_util import loop_thread
from .peers import require

IMAGE = os.urandom(700 * 1024 + 17)  # more than one TFTP block window, not a multiple of 512


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FirmwareStore]:
    made: FirmwareStore
    if request.param == "postgresql":
        from pktcable.store.pg_firmware import PgFirmwareStore

        made = PgFirmwareStore(request.getfixturevalue("pg_url"))
    else:
        made = MemoryFirmwareStore() if request.param == "memory" else SqliteFirmwareStore(tmp_path)
    yield made
    made.close()


def image(filename: str = "cm-1.0.bin", version: str = "1.0", data: bytes = IMAGE, **kw: str) -> FirmwareImage:
    fields = {"vendor": "Example Vendor", "model": "EX-100", "hw_version": "2"} | kw
    return make_image(filename, fields["vendor"], fields["model"], fields["hw_version"], version, data,
                      "unsigned", 1_700_000_000.0)


def test_add_list_get_data_delete(store: FirmwareStore) -> None:
    first = image()
    store.add(first, IMAGE)
    second = image("cm-0.9.bin", "0.9", b"older")
    store.add(second, b"older")
    assert [i.version for i in store.list()] == ["0.9", "1.0"]
    got = store.get("cm-1.0.bin")
    assert got == first and got.size == len(IMAGE) and got.sha256 == hashlib.sha256(IMAGE).hexdigest()
    assert store.data("cm-1.0.bin") == IMAGE
    assert store.data("nope.bin") is None and store.get("nope.bin") is None
    assert store.delete("cm-1.0.bin") and not store.delete("cm-1.0.bin")
    assert store.data("cm-1.0.bin") is None
    assert [i.filename for i in store.list()] == ["cm-0.9.bin"]


def test_duplicates_refused(store: FirmwareStore) -> None:
    store.add(image(), IMAGE)
    with pytest.raises(Duplicate) as same_name:
        store.add(image(version="2.0"), IMAGE)
    assert same_name.value.field == "filename"
    with pytest.raises(Duplicate) as same_version:
        store.add(image("other.bin"), IMAGE)
    assert same_version.value.field == "version"
    store.add(image("other.bin", hw_version="3"), IMAGE)  # another hardware version is another image
    assert len(store.list()) == 2


@pytest.mark.parametrize("name", ["../x.bin", "a/b.bin", ".hidden", "a..b", "", "x" * 129, "sp ace.bin", "é.bin"])
def test_unsafe_filenames_refused(name: str) -> None:
    with pytest.raises(FirmwareError) as err:
        image(name)
    assert err.value.field == "filename"


def test_size_and_field_limits() -> None:
    with pytest.raises(FirmwareError, match="size: 11 bytes is over the limit of 10"):
        make_image("a.bin", "v", "m", "1", "1", b"x" * 11, "unsigned", 0.0, max_bytes=10)
    with pytest.raises(FirmwareError, match="size: the image is empty"):
        make_image("a.bin", "v", "m", "1", "1", b"", "unsigned", 0.0)
    with pytest.raises(FirmwareError) as err:
        make_image("a.bin", "v", "m\n", "1", "1", b"x", "unsigned", 0.0)
    assert err.value.field == "model"


def test_sqlite_files_private_and_rows_survive_reopen(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o700)
    store = SqliteFirmwareStore(tmp_path)
    store.add(image(), IMAGE)
    store.close()
    folder = tmp_path / "firmware"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "cm-1.0.bin").stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == ["cm-1.0.bin"]  # no temporary file left
    again = SqliteFirmwareStore(tmp_path)
    assert again.data("cm-1.0.bin") == IMAGE and again.list()[0].filename == "cm-1.0.bin"
    # A duplicate row leaves neither a row nor a file behind.
    with pytest.raises(Duplicate):
        again.add(image("dup.bin"), IMAGE)
    assert not (folder / "dup.bin").exists()
    # A stray file in the folder is not served: only catalogued names are.
    (folder / "stray.bin").write_bytes(b"x")
    assert again.data("stray.bin") is None
    again.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    settings = LabSettings("LAB.EXAMPLE.NET", "Example Cable", "kdc.lab.example.net", "prov.lab.example.net",
                           manufacturer="Example Vendor", key_size=1024)
    return LabPki.create(tmp_path_factory.mktemp("pki"), settings, now=dt.datetime.now(dt.UTC))


def test_signature_status(lab: LabPki) -> None:
    mfg = lab.get("manufacturer-cvc")
    when = dt.datetime.now(dt.UTC).replace(microsecond=0)
    signed = cf.sign(IMAGE, mfg.certificate, mfg.key, signing_time=when)
    org = "Example Vendor"
    trust = cf.CvcTrust(lab.get("cvc-root").certificate, org)
    assert signature_status(signed, trust, None) == f"signed by {org}"
    assert signature_status(IMAGE, trust, None) == "unsigned"  # a raw image, not CMS at all
    assert signature_status(IMAGE, None, None) == "unsigned"
    assert signature_status(signed, None, None) == "not checked"  # no trust to judge it by
    assert signature_status(signed, cf.CvcTrust(trust.root, "Someone Else"), None) == "refused: wrong-manufacturer"
    tampered = signed.replace(IMAGE[:64], bytes(64))
    assert signature_status(tampered, trust, None) == "refused: bad-signature"


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteFirmwareStore]:
    made = SqliteFirmwareStore(tmp_path_factory.mktemp("catalogue"))
    made.add(image(), IMAGE)
    yield made
    made.close()


def test_resolver(catalogue: SqliteFirmwareStore) -> None:
    resolver = CatalogueResolver(catalogue)
    assert resolver.resolve("cm-1.0.bin", ("127.0.0.1", 1)) == IMAGE
    assert resolver.resolve("/cm-1.0.bin", ("127.0.0.1", 1)) == IMAGE
    for name in ("nope.bin", "../firmware.db", "firmware.db"):
        with pytest.raises(NotFound):
            resolver.resolve(name, ("127.0.0.1", 1))


def test_tftp_hpa_fetches_a_catalogued_image(catalogue: SqliteFirmwareStore, tmp_path: Path) -> None:
    tftp = require("tftp")
    out = tmp_path / "out"
    with loop_thread() as lt:
        server = TftpServer(CatalogueResolver(catalogue), "127.0.0.1", 0)
        lt.run(server.start())
        try:
            result = subprocess.run([tftp, "127.0.0.1", str(server.address[1]), "-m", "binary", "-c", "get",
                                     "cm-1.0.bin", str(out)], capture_output=True, text=True, timeout=120)
        finally:
            lt.call(server.close)
    assert result.returncode == 0, result.stdout + result.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == catalogue.list()[0].sha256


def test_curl_fetches_a_catalogued_image_by_http(catalogue: SqliteFirmwareStore, tmp_path: Path) -> None:
    curl = require("curl")
    out = tmp_path / "out"
    with loop_thread() as lt:
        server = HttpServer(CatalogueResolver(catalogue), "127.0.0.1", 0)
        lt.run(server.start())
        try:
            base = f"http://127.0.0.1:{server.address[1]}"
            result = subprocess.run([curl, "--no-progress-meter", "--fail", "-o", str(out), f"{base}/cm-1.0.bin"],
                                    capture_output=True, timeout=60)
            missing = subprocess.run([curl, "--no-progress-meter", "-o", os.devnull, "-w", "%{http_code}",
                                      f"{base}/firmware.db"], capture_output=True, timeout=60)
        finally:
            lt.run(server.close())
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == catalogue.list()[0].sha256
    assert missing.stdout == b"404"


def test_cli_add_and_list(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "dd")
    signed = str(DATA / "firmware" / "openssl-sha256.p7")
    common = ["--data-dir", data_dir, "--vendor", "Example Vendor", "--model", "EX-100", "--hw-version", "2"]
    runner = CliRunner()
    added = runner.invoke(main, ["firmware", "add", *common, "--version", "1.1", "--root",
                                 str(DATA / "firmware" / "cvc-root.pem"), "--manufacturer", "Example Vendor",
                                 "--json", signed])
    assert added.exit_code == 0, added.output
    raw = tmp_path / "raw.bin"
    raw.write_bytes(b"raw image")
    assert runner.invoke(main, ["firmware", "add", *common, "--version", "1.0", str(raw)]).exit_code == 0
    again = runner.invoke(main, ["firmware", "add", *common, "--version", "1.0", "--filename", "x.bin", str(raw)])
    assert again.exit_code == 1 and "already in the catalogue" in again.output
    bad = runner.invoke(main, ["firmware", "add", *common, "--version", "2", "--filename", "../x", str(raw)])
    assert bad.exit_code == 2 and "--filename" in bad.output
    listed = runner.invoke(main, ["firmware", "list", "--data-dir", data_dir, "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["filename"], r["version"], r["signature"]) for r in rows] == [
        ("raw.bin", "1.0", "unsigned"), ("openssl-sha256.p7", "1.1", "signed by Example Vendor")]
    assert rows[1]["sha256"] == hashlib.sha256(Path(signed).read_bytes()).hexdigest()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_serve_judges_uploads_and_serves_them_after_a_restart(backend: str, request: pytest.FixtureRequest,
                                                              tmp_path: Path) -> None:
    signed = (DATA / "firmware" / "openssl-sha256.p7").read_bytes()
    store_url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    cfg = ServeConfig(data_dir=str(tmp_path / "data"), store=store_url, cm_key="test-cmts-secret", api_port=0,
                      firmware_cvc_root=str(DATA / "firmware" / "cvc-root.pem"), firmware_manufacturer="Example Vendor")
    office = Backoffice(cfg)

    async def upload() -> tuple[int, Any]:
        async with serving(OfficeView(office)) as (call, _):
            query = "filename=ex-1.1.p7&vendor=Example%20Vendor&model=EX-100&hw_version=2&version=1.1"
            result: tuple[int, Any] = await call("POST", f"/api/v1/firmware?{query}", data=signed,
                                                 headers={"Content-Type": "application/octet-stream"})
            return result

    try:
        status, added = asyncio.run(upload())
        assert status == 201 and added["signature"] == "signed by Example Vendor", added
    finally:
        asyncio.run(office.close())
    again = Backoffice(cfg)
    try:
        # Through the whole chain TFTP and HTTP use (one-time names, templates, the holders' gate).
        assert again.files.resolve("ex-1.1.p7", ("192.0.2.9", 1000)) == signed
        # PostgreSQL keeps the bytes in the row, not in the data dir.
        assert (tmp_path / "data" / "firmware" / "ex-1.1.p7").exists() == (backend == "sqlite")
        with pytest.raises(NotFound):
            again.files.resolve("firmware.db", ("192.0.2.9", 1000))
    finally:
        asyncio.run(again.close())


@pytest.mark.parametrize("settings, named", [
    ({"firmware_cvc_root": str(DATA / "firmware" / "cvc-root.pem")}, "firmware_manufacturer"),
    ({"firmware_manufacturer": "Example Vendor"}, "firmware_cvc_root"),
    ({"firmware_cosigner": "Example Cable"}, "firmware_cosigner"),
    ({"firmware_cvc_root": "/nonexistent/root.pem", "firmware_manufacturer": "V"}, "firmware_cvc_root"),
    ({"firmware_cvc_root": str(DATA / "firmware" / "image.bin"), "firmware_manufacturer": "V"}, "firmware_cvc_root"),
    ({"firmware_max_bytes": 0}, "firmware_max_bytes"),
    ({"firmware_max_bytes": 129 * 1024 * 1024}, "firmware_max_bytes"),
    ({"firmware_cvc_always": True}, "firmware_cvc_always"),  # which CVCs, then?
    ({"firmware_check_after": -1}, "firmware_check_after"),
])
def test_bad_firmware_settings_are_named(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(SettingError) as err:
        check(ServeConfig(cm_key="k", **settings))
    assert err.value.key == named, err.value


def test_firmware_settings_give_the_trust() -> None:
    cfg = check(ServeConfig(cm_key="k", firmware_cvc_root=str(DATA / "firmware" / "cvc-root.pem"),
                            firmware_manufacturer="Example Vendor", firmware_cosigner="Example Cable"))
    trust = firmware_trust(cfg)
    assert trust is not None and (trust.manufacturer, trust.cosigner) == ("Example Vendor", "Example Cable")
    assert firmware_trust(check(ServeConfig(cm_key="k"))) is None


def test_resolver_caches_by_sha256_and_refuses_a_damaged_file(tmp_path: Path) -> None:
    from pktcable.delivery.resolvers import BuildFailed

    store = SqliteFirmwareStore(tmp_path)
    store.add(image("a.bin", "1", b"a" * 100), b"a" * 100)
    store.add(image("b.bin", "2", b"b" * 100), b"b" * 100)
    resolver = CatalogueResolver(store, cache_bytes=150)
    client = ("127.0.0.1", 1)
    assert resolver.resolve("a.bin", client) == b"a" * 100
    (tmp_path / "firmware" / "a.bin").write_bytes(b"x" * 100)  # damaged on disk after it was cached
    assert resolver.resolve("a.bin", client) == b"a" * 100  # the checked copy is served
    assert resolver.resolve("b.bin", client) == b"b" * 100  # evicts a.bin: 200 bytes > 150
    with pytest.raises(BuildFailed, match="SHA-256"):
        resolver.resolve("a.bin", client)
    # Deleted and added again with other bytes: read anew, not the cached copy.
    store.delete("b.bin")
    store.add(image("b.bin", "2", b"c" * 10), b"c" * 10)
    assert resolver.resolve("b.bin", client) == b"c" * 10
    store.delete("b.bin")
    with pytest.raises(NotFound):
        resolver.resolve("b.bin", client)
    store.close()


def test_cli_on_a_postgresql_store_and_usage_errors(pg_url: str, tmp_path: Path) -> None:
    raw = tmp_path / "raw.bin"
    raw.write_bytes(b"raw image")
    runner = CliRunner()
    fields = ["--vendor", "V", "--model", "M", "--hw-version", "1", "--version", "1"]
    added = runner.invoke(main, ["firmware", "add", "--store", pg_url, *fields, str(raw)])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(main, ["firmware", "list", "--store", pg_url, "--json"])
    assert [r["filename"] for r in json.loads(listed.output)] == ["raw.bin"]
    for where in ([], ["--store", pg_url, "--data-dir", str(tmp_path)]):
        both = runner.invoke(main, ["firmware", "list", *where])
        assert both.exit_code == 2 and "give --data-dir or --store URL" in both.output
    (tmp_path / "dd").mkdir()
    (tmp_path / "dd" / "firmware.db").write_bytes(b"not a database" * 100)
    bad = runner.invoke(main, ["firmware", "list", "--data-dir", str(tmp_path / "dd")])
    assert bad.exit_code == 2 and "--data-dir" in bad.output
