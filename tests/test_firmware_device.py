"""The modem's Secure Software Download decisions (pktcable.firmware.device): a CM file's
upgrade TLVs, the CVCs it carries, and installing the code files, with the status a modem
shows in docsBpi2CodeDownloadStatusCode."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from pktcable.firmware import codefile as cf
from pktcable.firmware.device import CodeStore, DownloadStatus, install, take_config, upgrade_of
from pktcable.secure.labdir import LabPki
from tlv.config import compile_text
from tlv.configfile import ConfigFile, decode_file

from .test_firmware import IMAGE, MFG, NOW, SETTINGS, SIGNED, cvc

KEY = b"shared-secret"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki.create(tmp_path_factory.mktemp("pki"), SETTINGS, now=NOW)


def cm_file(tmp_path: Path, lines: str, files: dict[str, bytes]) -> ConfigFile:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    text = "Main {\n\tNetworkAccess 1;\n" + lines + "}\n"
    binary = compile_text(text, key=KEY, loader=lambda name: (tmp_path / name).read_bytes())
    return decode_file(binary, key=KEY)


def factory_store(lab: LabPki) -> CodeStore:
    """As a manufacturer initializes it: both times at the start of its latest CVC."""
    start = lab.get("manufacturer-cvc").certificate.not_valid_before_utc
    return CodeStore(cf.CvcTrust(lab.get("cvc-root").certificate, MFG),
                     cf.AccessState(cf.AccessStart(start, start)), running="fw-1.0.0.p7")


def test_upgrade_cycle(lab: LabPki, tmp_path: Path) -> None:
    mfg = lab.get("manufacturer-cvc")
    cfile = cm_file(tmp_path, '\tSwUpgradeServer 10.1.1.1;\n\tSwUpgradeFilename "fw-1.2.3.p7";\n'
                              '\tManufacturerCVC "mfg.der";\n',
                    {"mfg.der": mfg.certificate.public_bytes(Encoding.DER)})
    upgrade = upgrade_of(cfile)
    assert upgrade.filename == "fw-1.2.3.p7" and upgrade.server == ipaddress.IPv4Address("10.1.1.1")
    assert upgrade.manufacturer_cvc == mfg.certificate.public_bytes(Encoding.DER) and upgrade.cosigner_cvc is None
    store, due, err = take_config(factory_store(lab), upgrade)
    assert due and err is None and store.status == DownloadStatus.CONFIG_FILE_CVC_VERIFIED
    code = cf.sign(IMAGE, mfg.certificate, mfg.key, signing_time=SIGNED)
    store, got = install(store, "fw-1.2.3.p7", code, NOW)
    assert isinstance(got, cf.Verified) and got.image == IMAGE
    assert store.running == "fw-1.2.3.p7" and store.status == DownloadStatus.CODE_FILE_VERIFIED
    assert store.state.manufacturer.code == SIGNED
    # The same config file again: the CVC is processed, no download is due.
    store, due, err = take_config(store, upgrade)
    assert not due and err is None
    # An older image (a downgrade signed before the installed one) is refused; the modem keeps running.
    older = cf.sign(IMAGE + b"old", mfg.certificate, mfg.key, signing_time=SIGNED - dt.timedelta(hours=1))
    store, got = install(store, "fw-1.1.0.p7", older, NOW)
    assert isinstance(got, cf.CodeFileError) and got.reason == "stale-signing-time"
    assert store.running == "fw-1.2.3.p7" and store.status == DownloadStatus.CODE_FILE_REJECTED


def test_no_cvc_in_the_config_file_no_download(lab: LabPki, tmp_path: Path) -> None:
    cfile = cm_file(tmp_path, '\tSwUpgradeServer 10.1.1.1;\n\tSwUpgradeFilename "fw-1.2.3.p7";\n', {})
    store = factory_store(lab)
    assert take_config(store, upgrade_of(cfile)) == (store, False, None)


def test_a_refused_cvc_stops_the_download(lab: LabPki, tmp_path: Path) -> None:
    other = cvc(lab.get("cvc-root"), "Another Vendor")
    cfile = cm_file(tmp_path, '\tSwUpgradeFilename "fw-1.2.3.p7";\n\tManufacturerCVC "other.der";\n',
                    {"other.der": other.certificate.public_bytes(Encoding.DER)})
    store, due, err = take_config(factory_store(lab), upgrade_of(cfile))
    assert not due and err is not None and err.reason == "wrong-manufacturer"
    assert store.status == DownloadStatus.CONFIG_FILE_CVC_REJECTED


def test_a_cosigner_cvc_makes_cosigned_code_mandatory(lab: LabPki, tmp_path: Path) -> None:
    co, mfg = lab.get("cosigner-cvc"), lab.get("manufacturer-cvc")
    cfile = cm_file(tmp_path, '\tSwUpgradeServer6 2001:db8::1;\n\tSwUpgradeFilename "fw-2.0.0.p7";\n'
                              '\tCoSignerCVC "co.der";\n', {"co.der": co.certificate.public_bytes(Encoding.DER)})
    upgrade = upgrade_of(cfile)
    assert upgrade.server == ipaddress.IPv6Address("2001:db8::1")
    store, due, _ = take_config(factory_store(lab), upgrade)
    assert due and store.trust.cosigner == SETTINGS.organization
    alone = cf.sign(IMAGE, mfg.certificate, mfg.key, signing_time=SIGNED)
    refused, got = install(store, "fw-2.0.0.p7", alone, None)
    assert isinstance(got, cf.CodeFileError) and got.reason == "missing-cosigner"
    both = cf.cosign(alone, cf.Signer(co.certificate, co.key), signing_time=SIGNED)
    store, got = install(refused, "fw-2.0.0.p7", both, None)
    assert isinstance(got, cf.Verified) and store.running == "fw-2.0.0.p7"
