"""MIT Kerberos accepts the lab PKI: ``kinit`` with a device certificate from
``pktcable pki devices`` gets a ticket from ``krb5kdc`` configured with the lab's
KDC certificate and MTA Root, in both PKINIT modes; certificates from another PKI,
expired ones and unmapped subjects are refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pktcable.secure import krbcrypto, krbmsg, krbnames, pki, pkinit
from pktcable.secure.labdir import LabPki, LabSettings

from .krbpeers import KINIT_BUDGET, MitKdc, mit_kdc, require_mit

REALM = "LAB.EXAMPLE.NET"
MAC = bytes.fromhex("0010180a0b0c")
OTHER_MAC = bytes.fromhex("0010180a0b0d")


def _now() -> dt.datetime:
    # Real clocks: krb5kdc and kinit check certificate validity against the system time.
    return dt.datetime.now(dt.UTC)


def _lab(folder: Path, manufacturer: str = "pktcable lab manufacturer") -> LabPki:
    lab = LabPki.create(folder, LabSettings(REALM, "Example Cable", "kdc.lab.example.net", "prov.lab.example.net",
                                            manufacturer=manufacturer), now=_now())
    return lab


def _files(lab: LabPki, mac: bytes) -> tuple[Path, Path]:
    stem = lab.folder / "devices" / mac.hex()
    return stem.with_suffix(".pem"), stem.with_suffix(".key")


@pytest.fixture(scope="module")
def kdc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MitKdc]:
    require_mit()
    lab = _lab(tmp_path_factory.mktemp("pki"))
    lab.issue_device(MAC, now=_now())
    lab.issue_device(OTHER_MAC, now=_now())
    with mit_kdc(tmp_path_factory.mktemp("kdc"), lab) as running:
        running.add_device(MAC)
        yield running


def _explain(kdc: MitKdc, output: str) -> str:
    return f"kinit:\n{output}\nKDC log:\n{kdc.log()}"


@pytest.mark.parametrize("rsa", [False, True], ids=["diffie-hellman", "rsa-key-transport"])
def test_kinit_gets_a_ticket_with_a_lab_device_certificate(kdc: MitKdc, rsa: bool) -> None:
    cert, key = _files(kdc.lab, MAC)
    run = kdc.kinit(cert, key, MAC.hex(), rsa=rsa)
    assert run.ok, _explain(kdc, run.output)
    # The mode the trace names is the one that was used; the client checked the KDC's
    # certificate through its id-pkinit-san (krbtgt/REALM), as the lab PKI issues it.
    assert ("PKINIT client verified RSA reply" if rsa else "PKINIT client verified DH reply") in run.output
    assert f"id-pkinit-san in KDC cert: krbtgt/{REALM}@{REALM}" in run.output
    tickets = kdc.klist(run.ccache)
    assert f"Default principal: {MAC.hex()}@{REALM}" in tickets
    assert f"krbtgt/{REALM}@{REALM}" in tickets


def test_kinit_over_udp_as_an_emta_sends_it(kdc: MitKdc) -> None:
    cert, key = _files(kdc.lab, MAC)
    run = kdc.kinit(cert, key, MAC.hex(), udp=True)
    assert run.ok, _explain(kdc, run.output)
    # The ~4 kB PKINIT request itself went out by UDP (MIT may also try TCP if the
    # KDC is slow to answer on a loaded machine; that is not what is checked here).
    lines = run.output.splitlines()
    big = [i for i, line in enumerate(lines) if re.search(r"Sending request \(\d{4,} bytes\)", line)]
    assert big, _explain(kdc, run.output)
    assert any("Sending initial UDP request" in line for line in lines[big[0]:big[0] + 4]), run.output


def test_a_failed_kadmin_query_is_an_error(kdc: MitKdc) -> None:
    """kadmin.local exits 0 on errors: the harness reads its stderr instead."""
    with pytest.raises(AssertionError, match="already exists"):
        kdc.add_device(MAC)
    with pytest.raises(AssertionError, match="does not exist"):
        kdc.admin("set_string nosuch0000 pkinit_cert_match x")


def test_a_device_without_a_mapping_is_refused(kdc: MitKdc) -> None:
    """The device certificate carries no id-pkinit-san, so without the pkinit_cert_match
    rule MIT cannot tie it to the principal: the mapping is what authorizes it."""
    kdc.admin(f"addprinc -nokey +requires_preauth {OTHER_MAC.hex()}")
    cert, key = _files(kdc.lab, OTHER_MAC)
    run = kdc.kinit(cert, key, OTHER_MAC.hex())
    assert not run.ok
    assert "Client name mismatch" in run.output, _explain(kdc, run.output)


def test_the_mapping_takes_the_certificate_of_its_own_mac_only(kdc: MitKdc) -> None:
    """OTHER_MAC's certificate (same manufacturer, valid chain) cannot log in as MAC."""
    cert, key = _files(kdc.lab, OTHER_MAC)
    run = kdc.kinit(cert, key, MAC.hex())
    assert not run.ok
    # The rule exists and fails (the unmapped case above has no rule: name mismatch).
    assert "Certificate mismatch" in run.output, _explain(kdc, run.output)


def test_a_device_certificate_from_another_pki_is_refused(kdc: MitKdc, tmp_path: Path) -> None:
    """A certificate for the same MAC from another MTA Root: the client can build its
    chain (it trusts the other root), the KDC cannot (it trusts only the lab's)."""
    other = _lab(tmp_path / "other", manufacturer="Impostor Devices")
    other.issue_device(MAC, now=_now())
    cert, key = _files(other, MAC)
    run = kdc.kinit(cert, key, MAC.hex(), anchors=[other.folder / "mta-root.pem"],
                    pool=[other.folder / "mta-manufacturer.pem"])
    assert not run.ok
    # RFC 4556 KDC_ERR_CANT_VERIFY_CERTIFICATE (70), after the client sent its request.
    assert "PKINIT client making DH request" in run.output, "the client refused before asking the KDC"
    assert "Can't verify certificate" in run.output, _explain(kdc, run.output)
    assert "Failed to verify received certificate" in kdc.log()


def test_kinit_refuses_to_send_an_expired_device_certificate(kdc: MitKdc, tmp_path: Path) -> None:
    lab = kdc.lab
    born = _now() - dt.timedelta(days=pki.PROFILES["mta-device"].days + 2)
    mac = bytes.fromhex("0010180a0b0e")
    old = pki.issue("mta-device", pki.name(lab.settings.manufacturer, pki.mac_text(mac), unit="eMTA"),
                    pki.new_key(2048), now=born, serial=x509.random_serial_number(),
                    issuer=lab.get("mta-manufacturer"))
    assert old.certificate.not_valid_after_utc < _now()
    cert, key = tmp_path / "old.pem", tmp_path / "old.key"
    cert.write_bytes(old.certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(old.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    kdc.add_device(mac)
    run = kdc.kinit(cert, key, mac.hex())
    assert not run.ok
    # MIT's client checks its own chain before it signs, so the expired certificate never
    # reaches the KDC: kinit cannot test the KDC's side of this check.
    assert "Failed to verify own certificate (depth 0): certificate has expired" in run.output, \
        _explain(kdc, run.output)


def _device_without_eku(lab: LabPki, mac: bytes, folder: Path) -> tuple[Path, Path]:
    """A device certificate with no extended key usage at all, as a factory certificate
    made before RFC 4556 may be (unverified for real PacketCable devices)."""
    now, key, issuer = _now(), pki.new_key(2048), lab.get("mta-manufacturer")
    made = (x509.CertificateBuilder()
            .subject_name(pki.name(lab.settings.manufacturer, pki.mac_text(mac), unit="eMTA"))
            .issuer_name(issuer.certificate.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(issuer.key, hashes.SHA256()))
    cert, key_file = folder / "no-eku.pem", folder / "no-eku.key"
    cert.write_bytes(made.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert, key_file


def test_a_device_certificate_without_the_pkinit_eku_needs_eku_checking_off(kdc: MitKdc, tmp_path: Path) -> None:
    """MIT's KDC requires id-pkinit-KPClientAuth in the client certificate by default;
    ``pkinit_eku_checking = none`` in kdc.conf admits certificates without it."""
    mac = bytes.fromhex("0010180a0b10")
    cert, key = _device_without_eku(kdc.lab, mac, tmp_path)
    kdc.add_device(mac)
    run = kdc.kinit(cert, key, mac.hex())
    assert not run.ok and "Inconsistent key purpose" in run.output, _explain(kdc, run.output)
    with mit_kdc(tmp_path / "kdc", kdc.lab, {"pkinit_eku_checking": "none"}) as lenient:
        lenient.add_device(mac)
        run = lenient.kinit(cert, key, mac.hex())
        assert run.ok, _explain(lenient, run.output)


# -- krb5kdc serves an AS-REQ built with pktcable.secure (RSA key transport) -------------------

def _our_as_req(cert: x509.Certificate, key: rsa.RSAPrivateKey, chain: list[x509.Certificate],
                principal: str, *, now: dt.datetime, nonce: int) -> bytes:
    """A PKINIT AS-REQ in RSA mode (an AuthPack without clientPublicValue), as an eMTA's:
    cname = the device principal, sname = krbtgt/REALM, one PA-PK-AS-REQ."""
    body = krbmsg.KDCReqBody({
        "kdc-options": (0,) * 32, "cname": {"name-type": krbnames.NT_PRINCIPAL, "name-string": [principal]},
        "realm": REALM, "sname": {"name-type": krbnames.NT_SRV_INST, "name-string": ["krbtgt", REALM]},
        "till": now + dt.timedelta(hours=8), "nonce": nonce,
        "etype": [krbcrypto.AES256_CTS_HMAC_SHA1_96, krbcrypto.AES128_CTS_HMAC_SHA1_96]})
    pack = pkinit.AuthPack({"pkAuthenticator": {
        "cusec": now.microsecond, "ctime": now, "nonce": nonce,
        "paChecksum": hashlib.sha1(body.dump()).digest()}})
    signed = pkinit.sign(pkinit.ID_PKINIT_AUTHDATA, pack.dump(), cert, key, chain)
    return bytes(krbmsg.ASReq({
        "pvno": 5, "msg-type": krbmsg.AS_REQ,
        "padata": [{"padata-type": krbmsg.PA_PK_AS_REQ,
                    "padata-value": pkinit.PAPkAsReq({"signedAuthPack": signed}).dump()}],
        "req-body": body}).dump())


def _exchange(kdc: MitKdc, request: bytes) -> Any:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(KINIT_BUDGET)
        s.sendto(request, ("127.0.0.1", kdc.port))
        reply, _ = s.recvfrom(65535)
    return krbmsg.load(reply)


def test_krb5kdc_answers_our_rsa_mode_as_req(kdc: MitKdc) -> None:
    lab = kdc.lab
    device = lab.device(MAC)
    now = _now()
    reply = _exchange(kdc, _our_as_req(device.certificate, device.key, [lab.get("mta-manufacturer").certificate],
                                       MAC.hex(), now=now, nonce=424242))
    assert isinstance(reply, krbmsg.ASRep), f"{reply.native}\n{kdc.log()}"
    pa = [p["padata-value"].native for p in reply["padata"] if p["padata-type"].native == krbmsg.PA_PK_AS_REP]
    answer = pkinit.PAPkAsRep.load(pa[0], strict=True)
    assert answer.name == "encKeyPack"  # RSA mode, chosen by the absent clientPublicValue
    content, signer, _ = pkinit.verify_signed_data(pkinit.open_enveloped(answer.chosen.native, device.key),
                                                   pkinit.ID_PKINIT_RKEYDATA)
    assert signer == lab.get("kdc").certificate
    key_pack = pkinit.ReplyKeyPack.load(content, strict=True)
    reply_key = krbcrypto.Key(key_pack["replyKey"]["keytype"].native, key_pack["replyKey"]["keyvalue"].native)
    part = krbmsg.load_enc_kdc_rep_part(krbcrypto.decrypt(reply_key, krbcrypto.USAGE_AS_REP_ENC_PART,
                                                          reply["enc-part"]["cipher"].native))
    assert part["nonce"].native == 424242
    assert reply["cname"]["name-string"].native == [MAC.hex()]


def test_krb5kdc_refuses_an_expired_device_certificate(kdc: MitKdc) -> None:
    """The KDC side of the expiry check, which kinit cannot reach (see above)."""
    lab = kdc.lab
    mac = bytes.fromhex("0010180a0b0f")
    born = _now() - dt.timedelta(days=pki.PROFILES["mta-device"].days + 2)
    old = pki.issue("mta-device", pki.name(lab.settings.manufacturer, pki.mac_text(mac), unit="eMTA"),
                    pki.new_key(2048), now=born, serial=x509.random_serial_number(),
                    issuer=lab.get("mta-manufacturer"))
    kdc.add_device(mac)
    reply = _exchange(kdc, _our_as_req(old.certificate, old.key, [lab.get("mta-manufacturer").certificate],
                                       mac.hex(), now=_now(), nonce=5))
    assert isinstance(reply, krbmsg.KrbError), reply.native
    # RFC 4556 KDC_ERR_INVALID_CERTIFICATE (71); the log says why.
    assert reply["error-code"].native == 71, f"{reply.native}\n{kdc.log()}"
    assert "certificate has expired" in kdc.log()
