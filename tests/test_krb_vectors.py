"""Golden vectors: the AS exchanges MIT kinit and MIT krb5kdc 1.20 had over UDP with
the lab PKI in tests/data/kerberos (how they were made: its README.md), decoded with
pktcable.secure's classes and checked down to the signatures, the checksums and, in
RSA mode, the ticket's encrypted part. No MIT tool is needed to run these tests."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pktcable.secure import krbcrypto, krbmsg, krbnames, pki, pkinit

DATA = Path(__file__).parent / "data" / "kerberos"
PKI = DATA / "pki"
MAC = bytes.fromhex("0010180a0b0c")
REALM = "LAB.EXAMPLE.NET"
MODES = ("dh", "rsa")
#: RFC 4120 7.5.9 / 7.5.2: KDC_ERR_PREAUTH_REQUIRED; RFC 8070: PA_AS_FRESHNESS.
KDC_ERR_PREAUTH_REQUIRED = 25
PA_AS_FRESHNESS = 150
#: RFC 4556 3.2.3.2: the key usage of the RSA reply's asChecksum.
USAGE_PKINIT_AS_CHECKSUM = 6
#: RFC 6806 section 11: the KDC's checksum of the AS-REQ in the encrypted part, and its key usage.
PA_REQ_ENC_PA_REP = 149
USAGE_AS_REQ = 56
#: RFC 8636 section 7: id-pkinit-kdf-sha1/-sha256/-sha512.
KDF_OIDS = {"1.3.6.1.5.2.3.6.1", "1.3.6.1.5.2.3.6.2", "1.3.6.1.5.2.3.6.3"}
DH_PUBLIC_NUMBER = "1.2.840.10046.2.1"  # RFC 3279 dhpublicnumber


def vector(mode: str, name: str) -> bytes:
    return (DATA / f"{mode}-{name}.der").read_bytes()


def cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((PKI / f"{name}.pem").read_bytes())


def device_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((PKI / "devices" / f"{MAC.hex()}.key").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def padata(message: Any, kind: int) -> bytes:
    values = [p["padata-value"].native for p in message["padata"] if p["padata-type"].native == kind]
    assert len(values) == 1, f"padata {kind}: {len(values)} of them"
    return bytes(values[0])


def auth_pack(mode: str) -> tuple[Any, pkinit.AuthPack, x509.Certificate, list[x509.Certificate]]:
    req = krbmsg.load(vector(mode, "as-req-pkinit"), krbmsg.ASReq)
    pa = pkinit.PAPkAsReq.load(padata(req, krbmsg.PA_PK_AS_REQ), strict=True)
    content, signer, others = pkinit.verify(pa["signedAuthPack"].native, pkinit.ID_PKINIT_AUTHDATA)
    return req, pkinit.AuthPack.load(content, strict=True), signer, others


@pytest.mark.parametrize("mode", MODES)
def test_every_message_decodes_strictly(mode: str) -> None:
    first = krbmsg.load(vector(mode, "as-req"))
    assert isinstance(first, krbmsg.ASReq)
    assert krbmsg.PA_PK_AS_REQ not in [p["padata-type"].native for p in first["padata"]]
    assert first["req-body"]["cname"].native == {"name-type": krbnames.NT_PRINCIPAL, "name-string": [MAC.hex()]}
    error = krbmsg.load(vector(mode, "krb-error"))
    assert isinstance(error, krbmsg.KrbError)
    assert error["error-code"].native == KDC_ERR_PREAUTH_REQUIRED
    offered = krbmsg.MethodData.load(error["e-data"].native, strict=True)
    assert krbmsg.PA_PK_AS_REQ in [p["padata-type"].native for p in offered]
    assert isinstance(krbmsg.load(vector(mode, "as-req-pkinit")), krbmsg.ASReq)
    rep = krbmsg.load(vector(mode, "as-rep"))
    assert isinstance(rep, krbmsg.ASRep)
    assert rep["cname"]["name-string"].native == [MAC.hex()] and rep["crealm"].native == REALM
    assert rep["ticket"]["sname"]["name-string"].native == ["krbtgt", REALM]


@pytest.mark.parametrize("mode", MODES)
def test_the_signed_auth_pack_is_the_lab_devices(mode: str) -> None:
    req, pack, signer, others = auth_pack(mode)
    assert signer == cert(f"devices/{MAC.hex()}")
    assert pki.device_mac(signer) == MAC
    # kinit sends the manufacturer CA with its certificate, as a PacketCable MTA does.
    assert cert("mta-manufacturer") in others
    sent = pack["pkAuthenticator"]["ctime"].native
    pki.verify_chain(signer, others, cert("mta-root"), now=sent,
                     purpose=x509.ObjectIdentifier(krbnames.ID_PKINIT_KPCLIENTAUTH))


@pytest.mark.parametrize("mode", MODES)
def test_the_auth_pack_fields_mit_sends(mode: str) -> None:
    req, pack, _, _ = auth_pack(mode)
    authenticator = pack["pkAuthenticator"]
    # paChecksum is SHA-1 over the request body exactly as sent (RFC 4556 3.2.1).
    assert authenticator["paChecksum"].native == hashlib.sha1(krbmsg.req_body_der(req)).digest()
    assert authenticator["paChecksum"].native != hashlib.sha1(req["req-body"].dump()).digest()
    # RFC 8070: the token the KDC offered in its PREAUTH_REQUIRED error comes back signed.
    error = krbmsg.load(vector(mode, "krb-error"))
    offered = {p["padata-type"].native: p["padata-value"].native
               for p in krbmsg.MethodData.load(error["e-data"].native)}
    assert authenticator["freshnessToken"].native == offered[PA_AS_FRESHNESS]
    assert {k["kdf-id"].dotted for k in pack["supportedKDFs"]} <= KDF_OIDS
    assert len(pack["supportedKDFs"]) >= 1
    # Only fields the classes name: nothing left over as an unnamed extension.
    assert all(not name.isdigit() for name in pack.native) and all(not n.isdigit() for n in authenticator.native)
    if mode == "dh":
        assert pack["clientPublicValue"]["algorithm"]["algorithm"].dotted == DH_PUBLIC_NUMBER
    else:  # RSA key transport: no client public value is what selects it (RFC 4556 3.2.3)
        assert pack["clientPublicValue"].native is None


def test_the_dh_reply_is_signed_by_the_lab_kdc() -> None:
    _, pack, _, _ = auth_pack("dh")
    rep = krbmsg.load(vector("dh", "as-rep"), krbmsg.ASRep)
    reply = pkinit.PAPkAsRep.load(padata(rep, krbmsg.PA_PK_AS_REP), strict=True)
    assert reply.name == "dhInfo"
    info = reply.chosen
    content, signer, others = pkinit.verify(info["dhSignedData"].native, pkinit.ID_PKINIT_DHKEYDATA)
    assert signer == cert("kdc")
    pki.verify_chain(signer, others, cert("sp-root"), now=pack["pkAuthenticator"]["ctime"].native,
                     purpose=x509.ObjectIdentifier(krbnames.ID_PKINIT_KPKDC))
    key_info = pkinit.KDCDHKeyInfo.load(content, strict=True)
    assert key_info["nonce"].native == pack["pkAuthenticator"]["nonce"].native
    assert info["kdf"]["kdf-id"].dotted in {k["kdf-id"].dotted for k in pack["supportedKDFs"]}
    assert all(not name.isdigit() for name in info.native)


def test_the_rsa_reply_opens_with_the_device_key_down_to_the_ticket_session() -> None:
    raw_req = vector("rsa", "as-req-pkinit")
    req, pack, _, _ = auth_pack("rsa")
    rep = krbmsg.load(vector("rsa", "as-rep"), krbmsg.ASRep)
    reply = pkinit.PAPkAsRep.load(padata(rep, krbmsg.PA_PK_AS_REP), strict=True)
    assert reply.name == "encKeyPack"
    signed = pkinit.open_enveloped(reply.chosen.native, device_key())
    # The envelope holds a bare SignedData, not a ContentInfo: pkinit.verify_signed_data.
    with pytest.raises(pkinit.PkinitError):
        pkinit.verify(signed, pkinit.ID_PKINIT_RKEYDATA)
    content, signer, others = pkinit.verify_signed_data(signed, pkinit.ID_PKINIT_RKEYDATA)
    assert signer == cert("kdc")
    pki.verify_chain(signer, others, cert("sp-root"), now=pack["pkAuthenticator"]["ctime"].native,
                     purpose=x509.ObjectIdentifier(krbnames.ID_PKINIT_KPKDC))
    key_pack = pkinit.ReplyKeyPack.load(content, strict=True)
    reply_key = krbcrypto.Key(key_pack["replyKey"]["keytype"].native, key_pack["replyKey"]["keyvalue"].native)
    # asChecksum binds the reply to the whole AS-REQ as sent (RFC 4556 3.2.3.2).
    checksum = key_pack["asChecksum"]
    krbcrypto.verify_checksum(reply_key, USAGE_PKINIT_AS_CHECKSUM, raw_req, checksum["cksumtype"].native,
                              checksum["checksum"].native)
    with pytest.raises(krbcrypto.KerberosCryptoError):
        krbcrypto.verify_checksum(reply_key, USAGE_PKINIT_AS_CHECKSUM, vector("dh", "as-req-pkinit"),
                                  checksum["cksumtype"].native, checksum["checksum"].native)
    enc = rep["enc-part"]
    assert enc["etype"].native == reply_key.enctype
    plain = krbcrypto.decrypt(reply_key, krbcrypto.USAGE_AS_REP_ENC_PART, enc["cipher"].native)
    # MIT sends the AS-REP's encrypted part as an EncTGSRepPart (RFC 4120 5.4.2, note).
    assert krbmsg.message_type(plain) == krbmsg.ENC_TGS_REP_PART
    with pytest.raises(ValueError, match="should have been 25, but 26"):
        krbmsg.EncASRepPart.load(plain).native  # noqa: B018
    part = krbmsg.load_enc_kdc_rep_part(plain)
    assert part["nonce"].native == req["req-body"]["nonce"].native
    # RFC 6806 encrypted-pa-data: PA-REQ-ENC-PA-REP (149), a checksum of the AS-REQ as sent.
    enc_pa = krbmsg.Checksum.load(padata({"padata": part["encrypted-pa-data"]}, PA_REQ_ENC_PA_REP), strict=True)
    krbcrypto.verify_checksum(reply_key, USAGE_AS_REQ, raw_req, enc_pa["cksumtype"].native,
                              enc_pa["checksum"].native)
    assert part["sname"]["name-string"].native == ["krbtgt", REALM]
    assert part["endtime"].native > pack["pkAuthenticator"]["ctime"].native + dt.timedelta(hours=1)


def test_a_tampered_auth_pack_no_longer_verifies() -> None:
    req = krbmsg.load(vector("dh", "as-req-pkinit"), krbmsg.ASReq)
    signed = bytearray(pkinit.PAPkAsReq.load(padata(req, krbmsg.PA_PK_AS_REQ))["signedAuthPack"].native)
    _, pack, _, _ = auth_pack("dh")
    nonce = pack["pkAuthenticator"]["nonce"].dump()
    at = bytes(signed).find(nonce)
    assert at > 0
    signed[at + len(nonce) - 1] ^= 0x01  # the nonce's last octet
    with pytest.raises(pkinit.PkinitError, match="message digest"):
        pkinit.verify(bytes(signed), pkinit.ID_PKINIT_AUTHDATA)


def test_an_enc_part_of_another_kind_or_cut_short_is_refused() -> None:
    with pytest.raises(krbmsg.KerberosDecodeError, match="APPLICATION 10 is not an EncKDCRepPart"):
        krbmsg.load_enc_kdc_rep_part(vector("rsa", "as-req"))
    part = bytes(krbmsg.EncASRepPart({
        "key": {"keytype": 18, "keyvalue": b"k" * 32}, "last-req": [], "nonce": 7, "flags": (0,) * 32,
        "authtime": dt.datetime(2026, 12, 3, tzinfo=dt.UTC), "endtime": dt.datetime(2026, 12, 4, tzinfo=dt.UTC),
        "srealm": REALM, "sname": {"name-type": 2, "name-string": ["krbtgt", REALM]}}).dump())
    assert krbmsg.load_enc_kdc_rep_part(part)["nonce"].native == 7
    with pytest.raises(krbmsg.KerberosDecodeError, match="EncASRepPart"):
        krbmsg.load_enc_kdc_rep_part(part[:-3])


def test_the_rsa_envelope_refuses_a_wrong_key_and_damage() -> None:
    """Someone else's key, a flipped byte in the 3DES content, or a SignedData where an
    EnvelopedData belongs: each is a PkinitError with the reason, never a crash."""
    rep = krbmsg.load(vector("rsa", "as-rep"), krbmsg.ASRep)
    envelope = pkinit.PAPkAsRep.load(padata(rep, krbmsg.PA_PK_AS_REP), strict=True).chosen.native
    with pytest.raises(pkinit.PkinitError, match="does not open with this key"):
        pkinit.open_enveloped(envelope, pki.new_key(2048))
    info = cms.ContentInfo.load(envelope)
    content = bytearray(info["content"]["encrypted_content_info"]["encrypted_content"].native)
    content[-1] ^= 0xFF  # the last block holds the padding
    info["content"]["encrypted_content_info"]["encrypted_content"] = bytes(content)
    with pytest.raises(pkinit.PkinitError, match="does not open"):
        pkinit.open_enveloped(info.dump(force=True), device_key())
    with pytest.raises(pkinit.PkinitError, match="not enveloped data"):
        pkinit.open_enveloped(vector_signed_data(), device_key())


def vector_signed_data() -> bytes:
    """A ContentInfo of signed data (the RSA-mode AS-REQ's signedAuthPack)."""
    req = krbmsg.load(vector("rsa", "as-req-pkinit"), krbmsg.ASReq)
    return bytes(pkinit.PAPkAsReq.load(padata(req, krbmsg.PA_PK_AS_REQ))["signedAuthPack"].native)
