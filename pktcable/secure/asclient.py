"""The eMTA's side of the PKINIT AS exchange (MTA-9/MTA-10), sans-IO: build the AS-REQ,
and read the AS-REP down to the service ticket and its session key.

:func:`build_as_req` signs an AuthPack with the device key (RSA key transport
when no Diffie-Hellman key is given, RFC 4556 3.2.1); :func:`read_as_rep` opens
the reply, checks the KDC's signature and certificate chain to the telephony
root the eMTA holds (``pktcMtaDevTelephonyRootCertificate``), the asChecksum
that binds the reply to the request, and the nonce, and returns
:class:`Credentials`. A KRB-ERROR becomes :class:`KdcRefused` with its code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import core, keys
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dh, rsa

from . import krbcrypto, krbmsg, krbnames, pki, pkinit


class AsError(Exception):
    """A reply the client cannot accept: damaged, forged, or not for its request."""


class KdcRefused(AsError):
    """The KDC answered with a KRB-ERROR."""

    def __init__(self, code: int, text: str, e_data: bytes | None) -> None:
        super().__init__(f"KRB-ERROR {code}: {text}")
        self.code, self.text, self.e_data = code, text, e_data


@dataclass(frozen=True)
class Credentials:
    ticket: bytes           # the Ticket's DER, for an AP-REQ
    session_key: krbcrypto.Key
    reply_key: krbcrypto.Key
    part: Any               # the decrypted EncKDCRepPart (times, flags, sname)


def build_as_req(cert: x509.Certificate, key: rsa.RSAPrivateKey, chain: Sequence[x509.Certificate], *,  # noqa: PLR0913
                 principal: str, realm: str, service: Sequence[str], now: dt.datetime, nonce: int,
                 etypes: Sequence[int] = (krbcrypto.AES256_CTS_HMAC_SHA1_96, krbcrypto.AES128_CTS_HMAC_SHA1_96),
                 lifetime: dt.timedelta = dt.timedelta(hours=10), pkinit_padata: bool = True,
                 client_public_value: Any = None, supported_cms_types: Sequence[str] = (),
                 supported_kdfs: Sequence[str] = (),
                 tamper: Callable[[dict[str, Any]], None] | None = None) -> bytes:
    """A PKINIT AS-REQ for ``service`` (e.g. ("mtaprovsrvr", fqdn)) as the device
    ``principal``; ``supported_cms_types`` are the dotted OIDs of the content
    encryptions the client takes in an RSA reply, ``supported_kdfs`` those of the RFC
    8636 KDFs it takes for a Diffie-Hellman reply key. ``tamper`` may change the PKAuthenticator (a dict of its fields)
    before it is signed: tests play a dishonest or broken client with it."""
    body = krbmsg.KDCReqBody({
        "kdc-options": (0,) * 32, "cname": {"name-type": krbnames.NT_PRINCIPAL, "name-string": [principal]},
        "realm": realm, "sname": {"name-type": krbnames.NT_SRV_INST, "name-string": list(service)},
        "till": now + lifetime, "nonce": nonce, "etype": list(etypes)})
    padata = []
    if pkinit_padata:
        authenticator = {"cusec": now.microsecond, "ctime": now, "nonce": nonce,
                         "paChecksum": hashlib.sha1(body.dump()).digest()}  # noqa: S324 - RFC 4556 3.2.1
        if tamper is not None:
            tamper(authenticator)
        pack = pkinit.AuthPack({
            "pkAuthenticator": authenticator,
            "clientPublicValue": client_public_value,
            "supportedCMSTypes": [{"algorithm": a} for a in supported_cms_types] or None,
            "supportedKDFs": [{"kdf-id": k} for k in supported_kdfs] or None})
        signed = pkinit.sign(pkinit.ID_PKINIT_AUTHDATA, bytes(pack.dump()), cert, key, chain)
        padata.append({"padata-type": krbmsg.PA_PK_AS_REQ,
                       "padata-value": pkinit.PAPkAsReq({"signedAuthPack": signed}).dump()})
    return bytes(krbmsg.ASReq({"pvno": 5, "msg-type": krbmsg.AS_REQ, "padata": padata or None,
                               "req-body": body}).dump())


def read_error(reply: bytes) -> KdcRefused | None:
    """The KRB-ERROR in ``reply`` as an exception to raise, or None when it is none."""
    if krbmsg.message_type(reply) != krbmsg.KRB_ERROR_TYPE:
        return None
    error = krbmsg.load(reply, krbmsg.KrbError)
    return KdcRefused(error["error-code"].native, error["e-text"].native or "", error["e-data"].native)


def dh_public_value(private: dh.DHPrivateKey) -> keys.PublicKeyInfo:
    """An AuthPack's clientPublicValue for a Diffie-Hellman request (RFC 4556 3.2.3.1)."""
    numbers = private.parameters().parameter_numbers()
    return keys.PublicKeyInfo({
        "algorithm": {"algorithm": "dh", "parameters": {"p": numbers.p, "g": numbers.g, "q": numbers.q}},
        "public_key": core.Integer(private.public_key().public_numbers().y)})


def read_as_rep(request: bytes, reply: bytes, key: rsa.RSAPrivateKey, telephony_roots: Sequence[x509.Certificate],
                *, now: dt.datetime, dh_private: dh.DHPrivateKey | None = None) -> Credentials:
    """Open the AS-REP to ``request``: RSA mode with the device ``key``, Diffie-Hellman
    mode with ``dh_private`` (the key whose public value the request carried). The
    KDC's certificate must chain to one of ``telephony_roots`` at ``now`` and carry
    id-pkinit-KPKdc; an RSA reply must bind itself to the request (asChecksum)."""
    refused = read_error(reply)
    if refused is not None:
        raise refused
    try:
        rep = krbmsg.load(reply, krbmsg.ASRep)
        req = krbmsg.load(request, krbmsg.ASReq)
        values = [p["padata-value"].native for p in rep["padata"] or []
                  if p["padata-type"].native == krbmsg.PA_PK_AS_REP]
        if len(values) != 1:
            raise AsError(f"{len(values)} PA-PK-AS-REP in the reply, expected one")
        answer = pkinit.PAPkAsRep.load(values[0], strict=True)
        enctype = rep["enc-part"]["etype"].native
        if answer.name == "dhInfo":
            if dh_private is None:
                raise AsError("a Diffie-Hellman reply to an RSA-mode request")
            content, signer, others = pkinit.verify(answer.chosen["dhSignedData"].native, pkinit.ID_PKINIT_DHKEYDATA)
            reply_key = _dh_reply_key(content, dh_private, enctype, req, request, values[0], answer.chosen["kdf"])
        else:
            content, signer, others = pkinit.verify_signed_data(
                pkinit.open_enveloped(answer.chosen.native, key), pkinit.ID_PKINIT_RKEYDATA)
            reply_key = _rsa_reply_key(content, request)
    except (krbmsg.KerberosDecodeError, pkinit.PkinitError, krbcrypto.KerberosCryptoError, ValueError) as exc:
        raise AsError(f"AS-REP: {exc}") from None
    _check_kdc(signer, others, telephony_roots, now)
    try:
        part = krbmsg.load_enc_kdc_rep_part(krbcrypto.decrypt(reply_key, krbcrypto.USAGE_AS_REP_ENC_PART,
                                                              rep["enc-part"]["cipher"].native))
    except (krbcrypto.KerberosCryptoError, krbmsg.KerberosDecodeError) as exc:
        raise AsError(f"AS-REP enc-part: {exc}") from None
    if part["nonce"].native != req["req-body"]["nonce"].native:
        raise AsError(f"AS-REP nonce {part['nonce'].native} is not the request's")
    session = krbcrypto.Key(part["key"]["keytype"].native, part["key"]["keyvalue"].native)
    return Credentials(bytes(rep["ticket"].untag().dump()), session, reply_key, part)


def _rsa_reply_key(content: bytes, request: bytes) -> krbcrypto.Key:
    pack = pkinit.ReplyKeyPack.load(content, strict=True)
    reply_key = krbcrypto.Key(pack["replyKey"]["keytype"].native, pack["replyKey"]["keyvalue"].native)
    check = pack["asChecksum"]
    krbcrypto.verify_checksum(reply_key, pkinit.USAGE_PKINIT_AS_CHECKSUM, request,
                              check["cksumtype"].native, check["checksum"].native)
    return reply_key


def _dh_reply_key(content: bytes, private: dh.DHPrivateKey, enctype: int, req: Any, request: bytes, pa_rep: bytes,
                  kdf: Any) -> krbcrypto.Key:
    from .pkinit_dh import KDFS, ffdh, kdf_key, octetstring2key

    info = pkinit.KDCDHKeyInfo.load(content, strict=True)
    if info["nonce"].native != req["req-body"]["nonce"].native:
        raise AsError("KDCDHKeyInfo nonce is not the request's")
    bits = info["subjectPublicKey"].contents
    y = core.Integer.load(bits[1:], strict=True).native  # first octet: the unused-bit count
    numbers = private.parameters().parameter_numbers()
    with ffdh():
        peer = dh.DHPublicNumbers(y, numbers).public_key()
        secret = private.exchange(peer).rjust((numbers.p.bit_length() + 7) // 8, b"\x00")
    if kdf.native is None:
        return octetstring2key(secret, enctype)
    oid = kdf["kdf-id"].dotted
    if oid not in KDFS:
        raise AsError(f"the KDC chose KDF {oid}, which this client did not offer")
    body = req["req-body"]
    realm = body["realm"].native
    return kdf_key(secret, oid, enctype, pa_rep=pa_rep, request=request,
                   client=krbnames.principal_der(realm, body["cname"]["name-type"].native,
                                                 *body["cname"]["name-string"].native),
                   server=krbnames.principal_der(realm, body["sname"]["name-type"].native,
                                                 *body["sname"]["name-string"].native))


def _check_kdc(signer: x509.Certificate, others: list[x509.Certificate], roots: Sequence[x509.Certificate],
               now: dt.datetime) -> None:
    purpose = x509.ObjectIdentifier(krbnames.ID_PKINIT_KPKDC)
    reasons = []
    for root in roots:
        try:
            pki.verify_chain(signer, others, root, now=now, purpose=purpose)
            return
        except pki.PkiError as exc:
            reasons.append(str(exc))
    raise AsError(f"the KDC's certificate is not trusted: {'; '.join(reasons) or 'no telephony root'}")


#: RFC 4120 7.5.1: key usages of the TGS exchange (client side).
_USAGE_TGS_CKSUM, _USAGE_TGS_AUTHENTICATOR, _USAGE_TGS_REP = 6, 7, 8


def build_tgs_req(tgt: Credentials, *, principal: str, realm: str, service: Sequence[str], now: dt.datetime,
                  nonce: int, lifetime: dt.timedelta = dt.timedelta(hours=10),
                  etypes: Sequence[int] = (krbcrypto.AES256_CTS_HMAC_SHA1_96,)) -> bytes:
    """A TGS-REQ for ``service`` with the TGT ``tgt`` (MTA-11): an AP-REQ in PA-TGS-REQ whose
    authenticator, in the TGT's session key, carries a checksum of the req-body."""
    body = krbmsg.KDCReqBody({
        "kdc-options": (0,) * 32, "realm": realm,
        "sname": {"name-type": krbnames.NT_SRV_INST, "name-string": list(service)},
        "till": now + lifetime, "nonce": nonce, "etype": list(etypes)})
    ctype, value = krbcrypto.checksum(tgt.session_key, _USAGE_TGS_CKSUM, bytes(body.dump()))
    authenticator = krbmsg.Authenticator({
        "authenticator-vno": 5, "crealm": realm, "cname": {"name-type": krbnames.NT_PRINCIPAL, "name-string": [principal]},
        "cksum": {"cksumtype": ctype, "checksum": value}, "cusec": now.microsecond, "ctime": now})
    ap = krbmsg.APReq({
        "pvno": 5, "msg-type": krbmsg.AP_REQ_TYPE, "ap-options": (0,) * 32,
        "ticket": krbmsg.Ticket.load(tgt.ticket),
        "authenticator": {"etype": tgt.session_key.enctype, "cipher": krbcrypto.encrypt(
            tgt.session_key, _USAGE_TGS_AUTHENTICATOR, bytes(authenticator.dump()))}})
    return bytes(krbmsg.TGSReq({"pvno": 5, "msg-type": krbmsg.TGS_REQ,
                                "padata": [{"padata-type": krbmsg.PA_TGS_REQ, "padata-value": ap.dump()}],
                                "req-body": body}).dump())


def read_tgs_rep(request: bytes, reply: bytes, tgt: Credentials) -> Credentials:
    """The service ticket of a TGS-REP (MTA-12), its part decrypted with the TGT's session key."""
    refused = read_error(reply)
    if refused is not None:
        raise refused
    try:
        rep = krbmsg.load(reply, krbmsg.TGSRep)
        req = krbmsg.load(request, krbmsg.TGSReq)
        part = krbmsg.load_enc_kdc_rep_part(krbcrypto.decrypt(tgt.session_key, _USAGE_TGS_REP,
                                                              rep["enc-part"]["cipher"].native))
    except (krbmsg.KerberosDecodeError, krbcrypto.KerberosCryptoError) as exc:
        raise AsError(f"TGS-REP: {exc}") from None
    if part["nonce"].native != req["req-body"]["nonce"].native:
        raise AsError(f"TGS-REP nonce {part['nonce'].native} is not the request's")
    session = krbcrypto.Key(part["key"]["keytype"].native, part["key"]["keyvalue"].native)
    return Credentials(bytes(rep["ticket"].untag().dump()), session, tgt.session_key, part)
