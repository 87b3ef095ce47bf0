"""The sans-IO KDC (pktcable.secure.kdc) with a fake clock: a PKINIT AS-REQ from a lab
device gets a service ticket in both modes, read back by the client side; every
refusal is the KRB-ERROR code RFC 4120 / RFC 4556 name for it; hostile bytes never
raise; MIT kinit's own captured requests are served; tshark reads our replies."""

from __future__ import annotations

import datetime as dt
import random
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, core, keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dh
from hypothesis import given, settings
from hypothesis import strategies as st

from pktcable.secure import asclient, kdc, kdclab, krbcrypto, krbmsg, pki, pkinit, pkinit_dh, tickets
from pktcable.secure.kdc import ErrorCode, Kdc
from pktcable.secure.labdir import LabPki, LabSettings

from .pcap import udp_frame, write_pcap
from .peers import require

BORN = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
NOW = BORN + dt.timedelta(hours=1)
MAC = bytes.fromhex("0010180a0b0c")
REALM = "LAB.EXAMPLE.NET"
PROV = ("mtaprovsrvr", "prov.lab.example.net")
VECTORS = Path(__file__).parent / "data" / "kerberos"


def rng(seed: int = 7) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    made = LabPki.create(tmp_path_factory.mktemp("pki"), LabSettings(REALM, "Example Cable", "kdc.lab.example.net",
                                                                       "prov.lab.example.net", key_size=1024),
                         now=BORN)
    made.issue_device(MAC, now=BORN)
    return made


@pytest.fixture(scope="module")
def server(lab: LabPki) -> Kdc:
    return Kdc(kdclab.config(lab))


def request(lab: LabPki, *, mac: bytes = MAC, principal: str | None = None, now: dt.datetime = NOW,
            **kwargs: Any) -> bytes:
    device = lab.device(mac)
    kwargs.setdefault("service", PROV)
    kwargs.setdefault("realm", REALM)
    return asclient.build_as_req(device.certificate, device.key, [lab.get("mta-manufacturer").certificate],
                                 principal=principal or mac.hex(), now=now, nonce=kwargs.pop("nonce", 4242),
                                 **kwargs)


def refused(reply: bytes | None) -> tuple[int, str, Any]:
    assert reply is not None
    error = krbmsg.load(reply, krbmsg.KrbError)
    return error["error-code"].native, error["e-text"].native, error


def credentials(lab: LabPki, req: bytes, reply: bytes | None, **kwargs: Any) -> asclient.Credentials:
    assert reply is not None
    return asclient.read_as_rep(req, reply, lab.device(MAC).key, [lab.get("sp-root").certificate], now=NOW, **kwargs)


def open_ticket(lab: LabPki, creds: asclient.Credentials, service: tuple[str, ...] = PROV) -> Any:
    ticket = krbmsg.Ticket.load(creds.ticket, strict=True)
    key = kdclab.service_keys(lab)[service]
    assert ticket["enc-part"]["kvno"].native == key.kvno and ticket["enc-part"]["etype"].native == key.key.enctype
    part = krbmsg.EncTicketPart.load(krbcrypto.decrypt(key.key, krbcrypto.USAGE_TICKET,
                                                       ticket["enc-part"]["cipher"].native), strict=True)
    part.native  # noqa: B018 - every field parses
    return part


# -- the exchange that works ----------------------------------------------------------------------

def test_rsa_mode_issues_the_provisioning_server_ticket(lab: LabPki, server: Kdc) -> None:
    req = request(lab)
    answer = server.answer(req, NOW, rng())
    assert answer.code is None and answer.client == MAC.hex(), answer.text
    creds = credentials(lab, req, answer.reply)
    assert creds.part["sname"]["name-string"].native == list(PROV) and creds.part["srealm"].native == REALM
    assert creds.part["endtime"].native == NOW + dt.timedelta(hours=10)  # the client's till, under the policy's day
    part = open_ticket(lab, creds)
    assert part["cname"]["name-string"].native == [MAC.hex()] and part["crealm"].native == REALM
    assert (part["key"]["keytype"].native, part["key"]["keyvalue"].native) == (creds.session_key.enctype,
                                                                              creds.session_key.value)
    flags = part["flags"].native
    assert flags[tickets.FLAG_INITIAL] == flags[tickets.FLAG_PRE_AUTHENT] == 1
    assert flags[tickets.FLAG_FORWARDABLE] == flags[tickets.FLAG_RENEWABLE] == 0
    assert part["authtime"].native == NOW and part["endtime"].native == creds.part["endtime"].native
    assert creds.session_key.enctype == krbcrypto.AES256_CTS_HMAC_SHA1_96  # the client's first choice


def test_the_reply_binds_to_the_request(lab: LabPki, server: Kdc) -> None:
    """The asChecksum covers the whole AS-REQ: a reply to another request does not pass."""
    first, second = request(lab, nonce=1), request(lab, nonce=2)
    reply = server.handle(first, NOW, rng())
    assert reply is not None
    with pytest.raises(asclient.AsError, match="checksum"):
        credentials(lab, second, reply)


def test_a_tgt_and_the_lifetime_policy(lab: LabPki) -> None:
    policy = tickets.TicketPolicy(lifetime=dt.timedelta(hours=2), renew_lifetime=dt.timedelta(days=1))
    server = Kdc(kdclab.config(lab, policy=policy))
    req = request(lab, service=("krbtgt", REALM), lifetime=dt.timedelta(days=3))
    creds = credentials(lab, req, server.handle(req, NOW, rng()))
    assert creds.part["endtime"].native == NOW + dt.timedelta(hours=2)
    assert open_ticket(lab, creds, ("krbtgt", REALM))["cname"]["name-string"].native == [MAC.hex()]
    short = request(lab, lifetime=dt.timedelta(minutes=1))
    assert refused(server.handle(short, NOW, rng()))[0] == ErrorCode.KDC_ERR_NEVER_VALID


def test_renewable_ok_turns_a_long_till_into_renew_till() -> None:
    body = krbmsg.KDCReqBody({"kdc-options": tuple(1 if i == tickets.OPT_RENEWABLE_OK else 0 for i in range(32)),
                              "realm": REALM, "till": NOW + dt.timedelta(days=3), "nonce": 1, "etype": [18]})
    grant = tickets.decide(body, tickets.TicketPolicy(), now=NOW, session_key=krbcrypto.Key(18, b"k" * 32),
                           enc_pa_rep=False)
    assert grant.endtime == NOW + dt.timedelta(days=1) and grant.renew_till == NOW + dt.timedelta(days=3)
    assert tickets.FLAG_RENEWABLE in grant.flags


def test_diffie_hellman_mode(lab: LabPki, server: Kdc) -> None:
    p, g, q = pkinit_dh.GROUPS["modp2048"]
    with pkinit_dh.ffdh():
        private = dh.DHParameterNumbers(p, g, q).parameters().generate_private_key()
    req = request(lab, client_public_value=asclient.dh_public_value(private))
    answer = server.answer(req, NOW, rng())
    assert answer.code is None, answer.text
    creds = credentials(lab, req, answer.reply, dh_private=private)
    assert open_ticket(lab, creds)["cname"]["name-string"].native == [MAC.hex()]
    # With RFC 8636 KDFs offered, the KDC names the client's first that it takes and
    # derives the key with it; the client derives the same (MIT kinit too: test_kdc_mit).
    req = request(lab, client_public_value=asclient.dh_public_value(private),
                  supported_kdfs=("1.2.3.4", "1.3.6.1.5.2.3.6.3", "1.3.6.1.5.2.3.6.2"))
    reply = server.handle(req, NOW, rng())
    rep = krbmsg.load(reply or b"", krbmsg.ASRep)
    assert pkinit.PAPkAsRep.load(rep["padata"][0]["padata-value"].native).chosen["kdf"]["kdf-id"].dotted == \
        "1.3.6.1.5.2.3.6.3"
    assert credentials(lab, req, reply, dh_private=private).part["nonce"].native == 4242
    # Another group (same prime, generator 5) is refused with the groups this KDC takes.
    other = keys.PublicKeyInfo({"algorithm": {"algorithm": "dh", "parameters": {"p": p, "g": 5, "q": q}},
                                "public_key": core.Integer(12345)})
    code, text, error = refused(server.handle(request(lab, client_public_value=other), NOW, rng()))
    assert code == ErrorCode.KDC_ERR_DH_KEY_PARAMETERS_NOT_ACCEPTED, text
    typed = krbmsg.TypedData.load(error["e-data"].native, strict=True)
    assert typed[0]["data-type"].native == pkinit.TD_DH_PARAMETERS
    # Public values in the small subgroups of the safe prime would leak the KDC's key bits.
    for y in (1, p - 1, 0, p):
        weak = keys.PublicKeyInfo({"algorithm": {"algorithm": "dh", "parameters": {"p": p, "g": g, "q": q}},
                                   "public_key": core.Integer(y)})
        code, text, _ = refused(server.handle(request(lab, client_public_value=weak), NOW, rng()))
        assert code == ErrorCode.KDC_ERR_DH_KEY_PARAMETERS_NOT_ACCEPTED and "public value" in text


def test_a_mode_turned_off_is_refused(lab: LabPki) -> None:
    server = Kdc(kdclab.config(lab, modes=frozenset({kdc.MODE_DH})))
    code, text, _ = refused(server.handle(request(lab), NOW, rng()))
    assert code == ErrorCode.KDC_ERR_PREAUTH_FAILED and "RSA" in text


def test_the_rsa_envelope_cipher_follows_the_client(lab: LabPki, server: Kdc) -> None:
    for listed, expected in ((("2.16.840.1.101.3.4.1.2",), "aes128_cbc"), ((), "tripledes_3key")):
        req = request(lab, supported_cms_types=listed)
        rep = krbmsg.load(server.handle(req, NOW, rng()) or b"", krbmsg.ASRep)
        envelope = pkinit.PAPkAsRep.load(rep["padata"][0]["padata-value"].native).chosen.native
        algorithm = cms.ContentInfo.load(envelope)["content"]["encrypted_content_info"]["content_encryption_algorithm"]
        assert algorithm["algorithm"].native == expected
        credentials(lab, req, bytes(rep.dump()))


# -- the TGS exchange (MTA-11/12) -------------------------------------------------------------------

def tgt(lab: LabPki, server: Kdc, **kwargs: Any) -> asclient.Credentials:
    req = request(lab, service=("krbtgt", REALM), **kwargs)
    return credentials(lab, req, server.handle(req, NOW, rng()))


def test_a_tgt_buys_the_provisioning_server_ticket(lab: LabPki, server: Kdc) -> None:
    held = tgt(lab, server)
    later = NOW + dt.timedelta(minutes=30)
    req = asclient.build_tgs_req(held, principal=MAC.hex(), realm=REALM, service=PROV, now=later, nonce=77)
    answer = server.answer(req, later, rng(3))
    assert answer.code is None and answer.text == "TGS-REP" and answer.client == MAC.hex(), answer.text
    creds = asclient.read_tgs_rep(req, answer.reply or b"", held)
    part = open_ticket(lab, creds)
    assert part["cname"]["name-string"].native == [MAC.hex()]
    assert part["authtime"].native == NOW and part["starttime"].native == later  # the TGT's authtime
    assert part["endtime"].native == held.part["endtime"].native  # never past the TGT's end
    flags = part["flags"].native
    assert flags[tickets.FLAG_INITIAL] == 0 and flags[tickets.FLAG_PRE_AUTHENT] == 1
    assert creds.session_key.value != held.session_key.value


def test_tgs_refusals(lab: LabPki, server: Kdc) -> None:
    held = tgt(lab, server)

    def ask(at: dt.datetime, creds: asclient.Credentials = held, **kwargs: Any) -> int:
        kwargs.setdefault("service", PROV)
        req = asclient.build_tgs_req(creds, principal=kwargs.pop("principal", MAC.hex()), realm=REALM,
                                     now=kwargs.pop("now", at), nonce=5, **kwargs)
        return refused(server.handle(req, at, rng()))[0]

    assert ask(NOW + dt.timedelta(days=2)) == ErrorCode.KRB_AP_ERR_TKT_EXPIRED
    assert ask(NOW, now=NOW - dt.timedelta(minutes=10)) == ErrorCode.KRB_AP_ERR_SKEW
    assert ask(NOW, principal="0010180a0b0d") == ErrorCode.KRB_AP_ERR_BADMATCH
    assert ask(NOW, service=("mtaprovsrvr", "elsewhere")) == ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN
    # A service ticket is no TGT; a TGT with a forged session key does not open its authenticator.
    prov = credentials(lab, request(lab), server.handle(request(lab), NOW, rng()))
    assert ask(NOW, creds=prov) == ErrorCode.KRB_AP_ERR_NOT_US
    forged = asclient.Credentials(held.ticket, krbcrypto.Key(18, b"\x01" * 32), held.reply_key, held.part)
    assert ask(NOW, creds=forged) == ErrorCode.KRB_AP_ERR_MODIFIED
    # The req-body changed after the authenticator's checksum was made.
    req = krbmsg.load(asclient.build_tgs_req(held, principal=MAC.hex(), realm=REALM, service=PROV, now=NOW,
                                             nonce=5), krbmsg.TGSReq)
    req["req-body"]["nonce"] = 6
    assert refused(server.handle(bytes(req.dump(force=True)), NOW, rng()))[0] == ErrorCode.KRB_AP_ERR_MODIFIED


# -- refusals, each its code ---------------------------------------------------------------------

def test_no_pkinit_padata_asks_for_it(lab: LabPki, server: Kdc) -> None:
    code, _, error = refused(server.handle(request(lab, pkinit_padata=False), NOW, rng()))
    assert code == ErrorCode.KDC_ERR_PREAUTH_REQUIRED
    offered = krbmsg.MethodData.load(error["e-data"].native, strict=True)
    assert [p["padata-type"].native for p in offered] == [krbmsg.PA_PK_AS_REQ]
    assert error["cname"]["name-string"].native == [MAC.hex()] and error["stime"].native == NOW.replace(microsecond=0)


@pytest.mark.parametrize(("change", "code"), [
    ({"realm": "OTHER.REALM"}, ErrorCode.KDC_ERR_WRONG_REALM),
    ({"service": ("mtaprovsrvr", "elsewhere.example.net")}, ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN),
    ({"etypes": (23, 3)}, ErrorCode.KDC_ERR_ETYPE_NOSUPP),
    ({"principal": "0010180a0b0d"}, ErrorCode.KDC_ERR_CLIENT_NAME_MISMATCH),
    ({"now": NOW - dt.timedelta(minutes=6)}, ErrorCode.KRB_AP_ERR_SKEW),
], ids=["wrong-realm", "unknown-service", "etype", "name-mismatch", "skew"])
def test_request_refusals(lab: LabPki, server: Kdc, change: dict[str, Any], code: ErrorCode) -> None:
    got, text, _ = refused(server.handle(request(lab, **change), NOW, rng()))
    assert got == code, text


@pytest.mark.parametrize(("tamper", "code"), [
    (lambda a: a.update(paChecksum=b"\x00" * 20), ErrorCode.KRB_AP_ERR_MODIFIED),
    (lambda a: a.pop("paChecksum"), ErrorCode.KDC_ERR_PA_CHECKSUM_MUST_BE_INCLUDED),
    (lambda a: a.update(nonce=99), ErrorCode.KDC_ERR_PREAUTH_FAILED),
    (lambda a: a.update(paChecksum2={"checksum": b"\x01" * 32, "algorithmIdentifier": {"algorithm": "sha256"}}),
     ErrorCode.KRB_AP_ERR_MODIFIED),
], ids=["pa-checksum", "no-pa-checksum", "nonce", "pa-checksum2"])
def test_authenticator_refusals(lab: LabPki, server: Kdc, tamper: Callable[[dict[str, Any]], None],
                                code: ErrorCode) -> None:
    got, text, _ = refused(server.handle(request(lab, tamper=tamper), NOW, rng()))
    assert got == code, text


def test_a_forged_signature(lab: LabPki, server: Kdc) -> None:
    req = bytearray(request(lab))
    at = req.find(bytes.fromhex("a20402021092"))  # the PKAuthenticator's nonce 4242 ([2] INTEGER 0x1092)
    assert at > 0
    req[at + 5] ^= 0x01
    code, text, _ = refused(server.handle(bytes(req), NOW, rng()))
    assert code == ErrorCode.KDC_ERR_INVALID_SIG and "message digest" in text


def test_a_device_certificate_from_another_root(lab: LabPki, server: Kdc, tmp_path: Path) -> None:
    other = LabPki.create(tmp_path / "other", LabSettings(REALM, "Impostor", "kdc.x", "prov.x",
                                                          manufacturer="Impostor Devices", key_size=1024), now=BORN)
    other.issue_device(MAC, now=BORN)
    device = other.device(MAC)
    req = asclient.build_as_req(device.certificate, device.key, [other.get("mta-manufacturer").certificate],
                                principal=MAC.hex(), realm=REALM, service=PROV, now=NOW, nonce=1)
    code, text, _ = refused(server.handle(req, NOW, rng()))
    assert code == ErrorCode.KDC_ERR_CANT_VERIFY_CERTIFICATE, text


def test_an_expired_and_a_future_device_certificate(lab: LabPki, server: Kdc) -> None:
    device = lab.device(MAC)
    late = device.certificate.not_valid_after_utc + dt.timedelta(days=1)
    code, text, error = refused(server.handle(request(lab, now=late), late, rng()))
    assert code == ErrorCode.KDC_ERR_INVALID_CERTIFICATE and "outside its validity" in text
    typed = krbmsg.TypedData.load(error["e-data"].native, strict=True)
    assert typed[0]["data-type"].native == pkinit.TD_INVALID_CERTIFICATES
    named = pkinit.ExternalPrincipalIdentifiers.load(typed[0]["data-value"].native)
    serial = cms.IssuerAndSerialNumber.load(named[0]["issuerAndSerialNumber"].native)["serial_number"].native
    assert serial == device.certificate.serial_number
    early = BORN - dt.timedelta(hours=1)
    assert refused(server.handle(request(lab, now=early), early, rng()))[0] == ErrorCode.KDC_ERR_INVALID_CERTIFICATE


def _odd_device(lab: LabPki, *, eku: bool, issuer: pki.Issued) -> pki.Issued:
    key = pki.new_key(1024)
    builder = (x509.CertificateBuilder()
               .subject_name(pki.name(lab.settings.manufacturer, pki.mac_text(MAC), unit="eMTA"))
               .issuer_name(issuer.certificate.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(BORN).not_valid_after(BORN + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier("1.3.6.1.5.2.3.4")]),
                                        critical=False)
    return pki.Issued("mta-device", builder.sign(issuer.key, hashes.SHA256()), key)


def test_key_purpose_and_basic_constraints(lab: LabPki, server: Kdc) -> None:
    manufacturer = lab.get("mta-manufacturer")
    plain = _odd_device(lab, eku=False, issuer=manufacturer)

    def ask(device: pki.Issued, chain: list[x509.Certificate], kdc_: Kdc = server) -> bytes | None:
        return kdc_.handle(asclient.build_as_req(device.certificate, device.key, chain, principal=MAC.hex(),
                                                 realm=REALM, service=PROV, now=NOW, nonce=1), NOW, rng())

    assert refused(ask(plain, [manufacturer.certificate]))[0] == ErrorCode.KDC_ERR_INCONSISTENT_KEY_PURPOSE
    lenient = Kdc(kdclab.config(lab, require_eku=False))
    assert krbmsg.message_type(ask(plain, [manufacturer.certificate], lenient) or b"") == krbmsg.AS_REP
    # A device certificate signed by another device certificate (no CA): not trusted.
    signer = lab.device(MAC)
    forged = _odd_device(lab, eku=True, issuer=pki.Issued("mta-manufacturer", signer.certificate, signer.key))
    code, text, _ = refused(ask(forged, [signer.certificate, manufacturer.certificate]))
    assert code == ErrorCode.KDC_ERR_CLIENT_NOT_TRUSTED and "no CA" in text


def test_the_mapper_decides_who_is_admitted(lab: LabPki) -> None:
    server = Kdc(kdclab.config(lab, mapper=lambda cert: None))
    code, text, _ = refused(server.handle(request(lab), NOW, rng()))
    assert code == ErrorCode.KDC_ERR_CLIENT_NOT_TRUSTED and "not admitted" in text
    named = Kdc(kdclab.config(lab, mapper=lambda cert: f"mta-{pki.device_mac(cert).hex()}"))
    req = request(lab, principal=f"mta-{MAC.hex()}")
    assert credentials(lab, req, named.handle(req, NOW, rng())).part["nonce"].native == 4242


def test_bad_versions_and_messages(lab: LabPki, server: Kdc) -> None:
    msg = krbmsg.load(request(lab), krbmsg.ASReq)
    msg["pvno"] = 4
    assert refused(server.handle(bytes(msg.dump(force=True)), NOW, rng()))[0] == ErrorCode.KRB_AP_ERR_BADVERSION
    tgs = bytes(krbmsg.TGSReq({"pvno": 5, "msg-type": krbmsg.TGS_REQ, "req-body": msg["req-body"].native}).dump())
    assert refused(server.handle(tgs, NOW, rng()))[0] == ErrorCode.KDC_ERR_PADATA_TYPE_NOSUPP
    no_tgs = Kdc(kdclab.config(lab, tgs=False))
    assert refused(no_tgs.handle(tgs, NOW, rng()))[0] == ErrorCode.KDC_ERR_SVC_UNAVAILABLE
    code, text, _ = refused(server.handle(b"\x6a\x03\x02\x01\x05", NOW, rng()))
    assert code == ErrorCode.KRB_ERR_GENERIC and "ASReq" in text
    assert server.handle(b"GET / HTTP/1.0\r\n\r\n", NOW, rng()) is None
    ap = krbmsg.APRep({"pvno": 5, "msg-type": krbmsg.AP_REP_TYPE, "enc-part": {"etype": 18, "cipher": b"x"}})
    assert server.answer(bytes(ap.dump()), NOW, rng()).text.startswith("dropped")


def test_ber_is_refused_with_the_offset(lab: LabPki, server: Kdc) -> None:
    """RFC 4120 5.1: Kerberos messages are DER. A length in a longer form than needed, or
    an indefinite one, is BER that asn1crypto would take: the KDC refuses it first."""
    req = request(lab)
    assert req[1] == 0x82  # the outer length in two octets
    for ber, where in ((req[:1] + b"\x83\x00" + req[2:], "offset 1: length"),
                       (req[:1] + b"\x80" + req[4:] + b"\x00\x00", "offset 1: indefinite length")):
        code, text, _ = refused(server.handle(ber, NOW, rng()))
        assert code == ErrorCode.KRB_ERR_GENERIC and where in text, text
    # A constructed OCTET STRING (BER's chunked strings) inside a valid-looking request.
    with pytest.raises(krbmsg.KerberosDecodeError, match="universal tag 4 constructed"):
        krbmsg.check_der(bytes.fromhex("3006 2404 0402 0102".replace(" ", "")))


# -- hostile bytes ---------------------------------------------------------------------------------

def _never_raises(server: Kdc, data: bytes) -> None:
    reply = server.handle(data, NOW, rng())
    if reply is not None:
        assert isinstance(krbmsg.load(reply), (krbmsg.KrbError, krbmsg.ASRep))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_never_raise(server: Kdc, data: bytes) -> None:
    _never_raises(server, data)
    _never_raises(server, b"\x6a" + data)  # under the AS-REQ tag


@pytest.fixture(scope="module")
def valid_request(lab: LabPki) -> bytes:
    return request(lab)


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(0, 10_000), flip=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_cut_and_flipped_requests_never_raise(server: Kdc, valid_request: bytes, cut: int, flip: int,
                                              bit: int) -> None:
    req = valid_request
    _never_raises(server, req[:cut % len(req)])
    damaged = bytearray(req)
    damaged[flip % len(req)] ^= 1 << bit
    _never_raises(server, bytes(damaged))


# -- MIT kinit's own requests (tests/data/kerberos) ------------------------------------------------

@pytest.mark.parametrize("mode", ["rsa", "dh"])
def test_mit_kinits_captured_request_is_served(lab: LabPki, mode: str) -> None:
    """kinit's PKINIT AS-REQ as captured (device and CAs of the vectors' PKI, a KDC-side
    nonce, PA_AS_FRESHNESS, PA-REQ-ENC-PA-REP), at the time it was sent."""
    vec = VECTORS / "pki"

    def cert(name: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate((vec / name).read_bytes())

    raw = (VECTORS / f"{mode}-as-req-pkinit.der").read_bytes()
    msg = krbmsg.load(raw, krbmsg.ASReq)
    pa = [p["padata-value"].native for p in msg["padata"] if p["padata-type"].native == krbmsg.PA_PK_AS_REQ][0]
    signed = pkinit.PAPkAsReq.load(pa)["signedAuthPack"].native
    when = pkinit.AuthPack.load(pkinit.verify(signed, pkinit.ID_PKINIT_AUTHDATA)[0])["pkAuthenticator"]["ctime"].native
    config = kdclab.config(lab)
    config.mta_roots, config.intermediates = [cert("mta-root.pem")], [cert("mta-manufacturer.pem")]
    answer = Kdc(config).answer(raw, when, rng())
    assert answer.code is None, answer.text
    rep = krbmsg.load(answer.reply or b"", krbmsg.ASRep)
    if mode == "rsa":
        key = serialization.load_pem_private_key((vec / "devices" / f"{MAC.hex()}.key").read_bytes(), None)
        assert isinstance(key, pkinit.rsa.RSAPrivateKey)
        # The client checks our lab KDC's certificate at NOW (it was not yet issued at ``when``).
        creds = asclient.read_as_rep(raw, bytes(rep.dump()), key, [lab.get("sp-root").certificate], now=NOW)
        flags = creds.part["flags"].native
        assert flags[tickets.FLAG_ENC_PA_REP] == 1  # kinit asked for PA-REQ-ENC-PA-REP
        enc_pa = creds.part["encrypted-pa-data"]
        check = krbmsg.Checksum.load(enc_pa[0]["padata-value"].native)
        krbcrypto.verify_checksum(creds.reply_key, kdc.USAGE_AS_REQ, raw, check["cksumtype"].native,
                                  check["checksum"].native)


# -- tshark reads what we send ---------------------------------------------------------------------

def test_tshark_dissects_our_as_rep_and_errors(lab: LabPki, server: Kdc, tmp_path: Path) -> None:
    tshark = require("tshark")
    rep = server.handle(request(lab), NOW, rng())
    p, g, q = pkinit_dh.GROUPS["modp2048"]
    with pkinit_dh.ffdh():
        private = dh.DHParameterNumbers(p, g, q).parameters().generate_private_key()
    dh_rep = server.handle(request(lab, client_public_value=asclient.dh_public_value(private),
                                   supported_kdfs=("1.3.6.1.5.2.3.6.2",)), NOW, rng())
    held = tgt(lab, server)
    tgs_rep = server.handle(asclient.build_tgs_req(held, principal=MAC.hex(), realm=REALM, service=PROV, now=NOW,
                                                   nonce=9), NOW, rng())
    preauth = server.handle(request(lab, pkinit_padata=False), NOW, rng())
    expired = server.handle(request(lab, now=BORN + dt.timedelta(days=365 * 30)), BORN + dt.timedelta(days=365 * 30),
                            rng())
    assert rep and dh_rep and tgs_rep and preauth and expired

    def dissect(*messages: bytes) -> str:
        pcap = tmp_path / "kdc.pcap"
        write_pcap(pcap, [udp_frame(m, "10.0.0.1", "10.0.0.2", 88, 1024) for m in messages])
        return subprocess.run([tshark, "-r", str(pcap), "-V"], capture_output=True, text=True, timeout=120,
                              check=True).stdout

    def experts(text: str) -> list[str]:
        return sorted(line.strip() for line in text.splitlines() if "Expert Info" in line)

    text = dissect(rep, tgs_rep, preauth, expired)
    assert "Malformed" not in text and "Expert Info (Error" not in text, text
    # Wireshark's PKINIT dissector reads dhSignedData as an IMPLICIT ContentInfo (RFC 4556
    # says IMPLICIT OCTET STRING) and knows no RFC 8636 kdf: MIT krb5kdc's own DH reply
    # (tests/data/kerberos) draws the very same two warnings, and ours no other.
    dh_text = dissect(dh_rep)
    assert experts(dh_text) == experts(dissect((VECTORS / "dh-as-rep.der").read_bytes())), dh_text
    text += dh_text
    for expected in ("msg-type: krb-as-rep (11)", "encKeyPack", f"crealm: {REALM}", "mtaprovsrvr",
                     "dhSignedData", "msg-type: krb-tgs-rep (13)",
                     "error-code: eRR-PREAUTH-REQUIRED (25)", "padata-type: pA-PK-AS-REQ (16)",
                     "error-code: eRR-INVALID-CERTIFICATE (71)"):
        assert expected in text, expected


def test_a_certificate_with_an_unknown_version_is_refused_not_raised(server: Kdc, valid_request: bytes) -> None:
    """cryptography raises InvalidVersion (not a ValueError) for an X.509 version it does
    not know: found by the flipped-bit test above; every certificate's version 3 (the
    INTEGER 2 in [0]) is made 4 in turn."""
    marker = bytes.fromhex("a003020102")
    at = [i for i in range(len(valid_request)) if valid_request.startswith(marker, i)]
    assert at, "the request carries no v3 certificate"
    for i in at:
        damaged = bytearray(valid_request)
        damaged[i + 4] = 3
        _never_raises(server, bytes(damaged))
