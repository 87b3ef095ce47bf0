"""CVCs in the CM config file (TLV 32/33) beside the upgrade's TLV 9 and 21: compiled by the
config-file compiler, joined again by its decoder, checked and taken by configcvc, and then
the code file they enable verifies with the times they set."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from pktcable.firmware import codefile as cf
from pktcable.firmware.configcvc import accept_cvc
from pktcable.secure import pki
from pktcable.secure.labdir import LabPki
from tlv.config import compile_text
from tlv.configfile import decode_file

from .test_firmware import IMAGE, MFG, NOW, OPERATOR, SETTINGS, SIGNED, cvc

KEY = b"shared-secret"
EARLY = cf.AccessState(cf.AccessStart(NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=30)))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki.create(tmp_path_factory.mktemp("pki"), SETTINGS, now=NOW)


def der_of(lab: LabPki, profile: str) -> bytes:
    return lab.get(profile).certificate.public_bytes(Encoding.DER)


def trust(lab: LabPki) -> cf.CvcTrust:
    return cf.CvcTrust(lab.get("cvc-root").certificate, MFG)


def test_cm_file_carries_the_upgrade_and_its_cvcs(lab: LabPki, tmp_path: Path) -> None:
    (tmp_path / "mfg.der").write_bytes(der_of(lab, "manufacturer-cvc"))
    (tmp_path / "co.der").write_bytes(der_of(lab, "cosigner-cvc"))
    text = ('Main {\n\tNetworkAccess 1;\n\tSwUpgradeServer 10.1.1.1;\n\tSwUpgradeFilename "fw-1.2.3.p7";\n'
            '\tManufacturerCVC "mfg.der";\n\tCoSignerCVC "co.der";\n}\n')
    binary = compile_text(text, key=KEY, loader=lambda name: (tmp_path / name).read_bytes())
    cfile = decode_file(binary, key=KEY)
    assert cfile.mic_ok
    top = {n.code: n.value for n in cfile.decoded.nodes if n.children is None}
    assert top[9] == b"fw-1.2.3.p7" and top[21] == bytes([10, 1, 1, 1])
    cvcs = {c.code: c.data for c in cfile.certificates}
    assert cvcs == {32: der_of(lab, "manufacturer-cvc"), 33: der_of(lab, "cosigner-cvc")}
    # The modem takes both CVCs: the operator becomes the co-signer it requires...
    t, state = accept_cvc(cvcs[32], "manufacturer", trust(lab), EARLY)
    t, state = accept_cvc(cvcs[33], "co-signer", t, state)
    assert t.cosigner == OPERATOR
    start = lab.get("cosigner-cvc").certificate.not_valid_before_utc
    assert state.cosigner == cf.AccessStart(start, start)
    assert state.manufacturer.cvc == lab.get("manufacturer-cvc").certificate.not_valid_before_utc
    assert state.manufacturer.code == EARLY.manufacturer.code  # a CVC moves cvcAccessStart only
    # ...so the manufacturer-only file is refused and the co-signed one installs.
    m, co = lab.get("manufacturer-cvc"), lab.get("cosigner-cvc")
    alone = cf.sign(IMAGE, m.certificate, m.key, signing_time=SIGNED)
    with pytest.raises(cf.CodeFileError) as info:
        cf.verify(alone, t, None, state)
    assert info.value.reason == "missing-cosigner"
    both = cf.cosign(alone, cf.Signer(co.certificate, co.key), signing_time=SIGNED)
    assert cf.verify(both, t, None, state).image == IMAGE


def refused(data: bytes, role: str, t: cf.CvcTrust, state: cf.AccessState = EARLY) -> cf.CodeFileError:
    with pytest.raises(cf.CodeFileError) as info:
        accept_cvc(data, role, t, state)
    return info.value


def test_config_cvc_refusals(lab: LabPki) -> None:
    root = lab.get("cvc-root")
    t = trust(lab)
    foreign = pki.issue("cvc-root", pki.name("Elsewhere", "Other Root"), pki.new_key(1024), now=NOW, serial=9)
    cases = {
        "cvc-untrusted": cvc(foreign, MFG).certificate,
        "not-code-signing": cvc(root, MFG, eku=ExtendedKeyUsageOID.SERVER_AUTH).certificate,
        "wrong-manufacturer": cvc(root, "Another Vendor").certificate,
    }
    for reason, cert in cases.items():
        err = refused(cert.public_bytes(Encoding.DER), "manufacturer", t)
        assert (err.reason, err.path) == (reason, "TLV 32"), err
    later = cf.AccessState(cf.AccessStart(NOW, NOW + dt.timedelta(days=1)))
    assert refused(der_of(lab, "manufacturer-cvc"), "manufacturer", t, later).reason == "stale-cvc"
    damaged = der_of(lab, "manufacturer-cvc")[:-1]
    err = refused(damaged, "manufacturer", t)
    assert err.reason == "malformed" and err.offset == 0 and "past the end" in err.detail
    with pytest.raises(ValueError):
        accept_cvc(der_of(lab, "manufacturer-cvc"), "operator", t, EARLY)


def test_config_cvc_moves_cvc_access_start_forward_only(lab: LabPki) -> None:
    root = lab.get("cvc-root")
    newer = cvc(root, MFG, not_before=NOW + dt.timedelta(days=10))
    t, state = accept_cvc(newer.certificate.public_bytes(Encoding.DER), "manufacturer", trust(lab), EARLY)
    assert state.manufacturer.cvc == NOW + dt.timedelta(days=10)
    # The older lab CVC is refused from now on, in a config file and in a code file.
    assert refused(der_of(lab, "manufacturer-cvc"), "manufacturer", t, state).reason == "stale-cvc"
    m = lab.get("manufacturer-cvc")
    old = cf.sign(IMAGE, m.certificate, m.key, signing_time=SIGNED)
    with pytest.raises(cf.CodeFileError) as info:
        cf.verify(old, t, None, dataclasses.replace(state, manufacturer=cf.AccessStart(NOW, state.manufacturer.cvc)))
    assert info.value.reason == "stale-cvc"
    # The same CVC again changes nothing.
    assert accept_cvc(newer.certificate.public_bytes(Encoding.DER), "manufacturer", t, state) == (t, state)


def test_a_new_cosigner_replaces_the_old_one(lab: LabPki) -> None:
    root = lab.get("cvc-root")
    t, state = accept_cvc(der_of(lab, "cosigner-cvc"), "co-signer", trust(lab), EARLY)
    assert t.cosigner == OPERATOR
    other = cvc(root, "Other Operator", not_before=NOW + dt.timedelta(days=60))
    t2, state2 = accept_cvc(other.certificate.public_bytes(Encoding.DER), "co-signer", t, state)
    start = NOW + dt.timedelta(days=60)
    assert t2.cosigner == "Other Operator" and state2.cosigner == cf.AccessStart(start, start)
    assert state2.manufacturer == state.manufacturer


def test_config_cvc_and_the_devices_clock(lab: LabPki) -> None:
    late = NOW + dt.timedelta(days=365 * 11)
    cert = der_of(lab, "manufacturer-cvc")
    assert accept_cvc(cert, "manufacturer", trust(lab), EARLY, now=late)  # DOCSIS: no clock needed
    strict = dataclasses.replace(trust(lab), check_clock=True)
    with pytest.raises(cf.CodeFileError) as info:
        accept_cvc(cert, "manufacturer", strict, EARLY, now=late)
    assert info.value.reason == "cvc-expired"
