"""Kerberos and PKINIT structures: round trips, strict decoding, CMS signatures that an
attacker tampers with, and tshark as the independent dissector of what we encode."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms
from asn1crypto import x509 as asn1x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from pktcable.secure import krbmsg, pki, pkinit
from pktcable.secure.labdir import LabPki, LabSettings

from .pcap import udp_frame, write_pcap
from .peers import require

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
MAC = bytes.fromhex("021001000001")
REALM = "LAB.EXAMPLE.NET"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    made = LabPki.create(tmp_path_factory.mktemp("pki"), LabSettings(REALM, "Op", "kdc.lab", "prov.lab",
                                                                       key_size=1024), now=NOW)
    made.issue_device(MAC, now=NOW)
    return made


def auth_pack(nonce: int = 77) -> bytes:
    return bytes(pkinit.AuthPack({"pkAuthenticator": {"cusec": 5, "ctime": NOW, "nonce": nonce,
                                                      "paChecksum": b"\x01" * 20}}).dump())


def as_req(lab: LabPki, nonce: int = 77) -> bytes:
    device = lab.device(MAC)
    signed = pkinit.sign(pkinit.ID_PKINIT_AUTHDATA, auth_pack(nonce), device.certificate, device.key,
                         [lab.get("mta-manufacturer").certificate])
    pa = pkinit.PAPkAsReq({"signedAuthPack": signed})
    body = {"kdc-options": (0, 1, 0, 0), "cname": {"name-type": 1, "name-string": [pki.mac_text(MAC)]},
            "realm": REALM, "sname": {"name-type": 2, "name-string": ["mtaprovsrvr", "prov.lab"]},
            "till": NOW + dt.timedelta(days=1), "nonce": nonce, "etype": [18, 17]}
    return bytes(krbmsg.ASReq({"pvno": 5, "msg-type": krbmsg.AS_REQ, "padata": [
        {"padata-type": krbmsg.PA_PK_AS_REQ, "padata-value": pa.dump()}], "req-body": body}).dump())


def krb_error(code: int = 62) -> bytes:
    return bytes(krbmsg.KrbError({"pvno": 5, "msg-type": krbmsg.KRB_ERROR_TYPE, "stime": NOW, "susec": 0,
                                  "error-code": code, "realm": REALM,
                                  "sname": {"name-type": 2, "name-string": ["krbtgt", REALM]},
                                  "e-text": "client not trusted"}).dump())


def test_as_req_round_trip_and_pkinit_signature(lab: LabPki) -> None:
    der = as_req(lab)
    msg = krbmsg.load(der)
    assert isinstance(msg, krbmsg.ASReq) and msg.dump() == der
    assert msg["req-body"]["sname"].native == {"name-type": 2, "name-string": ["mtaprovsrvr", "prov.lab"]}
    assert msg["req-body"]["till"].native == NOW + dt.timedelta(days=1)
    padata = msg["padata"][0]
    assert padata["padata-type"].native == krbmsg.PA_PK_AS_REQ
    signed = pkinit.PAPkAsReq.load(padata["padata-value"].native)["signedAuthPack"].native
    content, signer, carried = pkinit.verify(signed, pkinit.ID_PKINIT_AUTHDATA)
    assert content == auth_pack() and pki.device_mac(signer) == MAC
    # what a KDC does next: the signer must chain to the MTA Root through what the device sent
    pki.verify_chain(signer, carried, lab.get("mta-root").certificate, now=NOW)
    assert pkinit.AuthPack.load(content)["pkAuthenticator"]["nonce"].native == 77


def test_kerberos_time_has_no_fraction() -> None:
    t = krbmsg.KerberosTime(NOW.replace(microsecond=123456))
    assert t.contents == b"20261203120000Z"


def test_tampered_signed_auth_packs_are_refused(lab: LabPki) -> None:
    """An attacker on the path edits the AuthPack, re-signs with its own key under the
    device's name, or strips the signer's certificate: each is refused with the reason."""
    device = lab.device(MAC)
    good = pkinit.sign(pkinit.ID_PKINIT_AUTHDATA, auth_pack(), device.certificate, device.key)
    # the nonce changed after signing (same length, so only the digest tells)
    edited = good.replace(auth_pack(77), auth_pack(78))
    assert edited != good
    with pytest.raises(pkinit.PkinitError, match="message digest"):
        pkinit.verify(edited, pkinit.ID_PKINIT_AUTHDATA)
    # signed by another key, with the device's certificate attached
    other = pki.new_key(1024)
    forged = pkinit.sign(pkinit.ID_PKINIT_AUTHDATA, auth_pack(), device.certificate, other)
    with pytest.raises(pkinit.PkinitError, match="bad signature"):
        pkinit.verify(forged, pkinit.ID_PKINIT_AUTHDATA)
    with pytest.raises(pkinit.PkinitError, match="content type 1.3.6.1.5.2.3.1, expected 1.3.6.1.5.2.3.2"):
        pkinit.verify(good, pkinit.ID_PKINIT_DHKEYDATA)
    # the signer's certificate left out: only the manufacturer CA's travels
    info = cms.ContentInfo.load(good)
    mfr = lab.get("mta-manufacturer").certificate.public_bytes(serialization.Encoding.DER)
    info["content"]["certificates"] = [asn1x509.Certificate.load(mfr)]
    with pytest.raises(pkinit.PkinitError, match="not among the certificates sent"):
        pkinit.verify(info.dump(force=True), pkinit.ID_PKINIT_AUTHDATA)
    with pytest.raises(pkinit.PkinitError, match="not a CMS SignedData"):
        pkinit.verify(b"\x30\x03\x02\x01\x01", pkinit.ID_PKINIT_AUTHDATA)


def test_strict_decoding_names_the_problem(lab: LabPki) -> None:
    der = as_req(lab)
    with pytest.raises(krbmsg.KerberosDecodeError, match="ASReq"):
        krbmsg.load(der + b"\x00")  # trailing garbage
    with pytest.raises(krbmsg.KerberosDecodeError):
        krbmsg.load(der[:-5])  # truncated
    with pytest.raises(krbmsg.KerberosDecodeError, match="offset 0: not a Kerberos message"):
        krbmsg.load(b"\x30\x00")
    with pytest.raises(krbmsg.KerberosDecodeError, match="APPLICATION 9 is not a message"):
        krbmsg.load(b"\x69\x00")
    # an AS-REQ body under the TGS-REQ tag: msg-type disagrees with the tag
    with pytest.raises(krbmsg.KerberosDecodeError, match="msg-type 10 under APPLICATION 12"):
        krbmsg.load(bytes([0x6C]) + der[1:])
    assert isinstance(krbmsg.load(krb_error()), krbmsg.KrbError)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_escapes_as_another_exception(data: bytes) -> None:
    try:
        krbmsg.load(data)
    except krbmsg.KerberosDecodeError:
        pass


@settings(max_examples=50, deadline=None)
@given(nonce=st.integers(0, 2**32 - 1), names=st.lists(st.text("abcdefghij.-0123456789", min_size=1, max_size=20),
                                                        min_size=1, max_size=3))
def test_ap_rep_and_safe_round_trip(nonce: int, names: list[str]) -> None:
    rep = krbmsg.APRep({"pvno": 5, "msg-type": krbmsg.AP_REP_TYPE,
                        "enc-part": {"etype": 18, "cipher": nonce.to_bytes(4, "big") * 4}})
    assert krbmsg.load(rep.dump()).native == rep.native
    safe = krbmsg.KrbSafe({"pvno": 5, "msg-type": krbmsg.KRB_SAFE_TYPE,
                           "safe-body": {"user-data": b"\x01" + nonce.to_bytes(4, "big"), "seq-number": nonce,
                                         "s-address": {"addr-type": 2, "address": b"\x0a\x00\x00\x01"}},
                           "cksum": {"cksumtype": 16, "checksum": b"\x00" * 12}})
    assert krbmsg.load(safe.dump()).native == safe.native
    err = krbmsg.KrbError({"pvno": 5, "msg-type": krbmsg.KRB_ERROR_TYPE, "stime": NOW, "susec": 0,
                           "error-code": 6, "realm": REALM, "sname": {"name-type": 2, "name-string": names}})
    assert krbmsg.load(err.dump())["sname"]["name-string"].native == names


def test_tshark_dissects_our_kerberos_and_pkinit(lab: LabPki, tmp_path: Path) -> None:
    """Wireshark's Kerberos and CMS dissectors, which we did not write, read every field we set."""
    tshark = require("tshark")
    pcap = tmp_path / "krb.pcap"
    write_pcap(pcap, [udp_frame(as_req(lab, nonce=4242), "10.0.0.2", "10.0.0.1", 1024, 88),
                      udp_frame(krb_error(), "10.0.0.1", "10.0.0.2", 88, 1024)])
    text = subprocess.run([tshark, "-r", str(pcap), "-V"], capture_output=True, text=True, timeout=120,
                          check=True).stdout
    assert "Malformed" not in text and "Expert Info (Error" not in text, text
    for expected in ("msg-type: krb-as-req (10)", "signedAuthPack (id-signedData)",
                     "eContentType: 1.3.6.1.5.2.3.1 (id-pkauthdata)", "pkAuthenticator", "cusec: 5",
                     "nonce: 4242", f"realm: {REALM}", "msg-type: krb-error (30)",
                     "error-code: eRROR-CLIENT-NOT-TRUSTED (62)", "e-text: client not trusted"):
        assert expected in text, expected
