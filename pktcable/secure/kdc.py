"""A sans-IO Kerberos KDC for the Secure flow's AS exchange with PKINIT (MTA-9/MTA-10).

:meth:`Kdc.answer` takes the bytes of one request, the time and a source of
random bytes, and returns the bytes to send back: an AS-REP, a KRB-ERROR, or
nothing (bytes that are not a KDC request at all are dropped, so a forged
source address cannot turn the KDC into a reflector). It never opens a socket,
reads a clock or a file: :mod:`pktcable.secure.kdcnet` carries it over UDP/TCP.

What it checks, in order, each failure its RFC 4120 / RFC 4556 error code
(:class:`ErrorCode`): DER, pvno, realm, the service principal, the client name,
the enctypes, PKINIT padata present, the CMS signature, the device certificate's
chain to an MTA Root at ``now`` (validity, basic constraints, EKU), the mapping
of the certificate to the client principal, paChecksum (and RFC 8636
paChecksum2), the nonce and the client's clock. The reply key travels in RSA
key transport (RFC 4556 3.2.3.2) or Diffie-Hellman (3.2.3.1,
:mod:`pktcable.secure.pkinit_dh`), as :attr:`KdcConfig.modes` allows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import krbcrypto, krbmsg, krbnames, pki, pkinit, tickets

Random = Callable[[int], bytes]
#: Maps a verified device certificate to its client principal (one component), or None
#: when the device is not admitted. `pktcable serve` may consult its device store.
PrincipalMapper = Callable[[x509.Certificate], "str | None"]


class ErrorCode(IntEnum):
    """RFC 4120 section 7.5.9 and RFC 4556 section 3.1.3: the codes this KDC sends."""

    KDC_ERR_C_PRINCIPAL_UNKNOWN = 6
    KDC_ERR_S_PRINCIPAL_UNKNOWN = 7
    KDC_ERR_NEVER_VALID = 11
    KDC_ERR_ETYPE_NOSUPP = 14
    KDC_ERR_PREAUTH_FAILED = 24
    KDC_ERR_PREAUTH_REQUIRED = 25
    KDC_ERR_PADATA_TYPE_NOSUPP = 16
    KDC_ERR_SVC_UNAVAILABLE = 29
    KRB_AP_ERR_TKT_EXPIRED = 32
    KRB_AP_ERR_TKT_NYV = 33
    KRB_AP_ERR_NOT_US = 35
    KRB_AP_ERR_BADMATCH = 36
    KRB_AP_ERR_SKEW = 37
    KRB_AP_ERR_BADVERSION = 39
    KRB_AP_ERR_MODIFIED = 41
    KRB_AP_ERR_INAPP_CKSUM = 50
    KRB_ERR_RESPONSE_TOO_BIG = 52
    KRB_ERR_GENERIC = 60
    KDC_ERR_CLIENT_NOT_TRUSTED = 62
    KDC_ERR_INVALID_SIG = 64
    KDC_ERR_DH_KEY_PARAMETERS_NOT_ACCEPTED = 65
    KDC_ERR_WRONG_REALM = 68
    KDC_ERR_CANT_VERIFY_CERTIFICATE = 70
    KDC_ERR_INVALID_CERTIFICATE = 71
    KDC_ERR_CLIENT_NAME_MISMATCH = 75
    KDC_ERR_INCONSISTENT_KEY_PURPOSE = 77
    KDC_ERR_PA_CHECKSUM_MUST_BE_INCLUDED = 79


#: Which verify_chain failure is which PKINIT error (RFC 4556 3.2.2: the KDC "MUST
#: return" CANT_VERIFY when it cannot build the path, INVALID when a certificate of it
#: is bad, CLIENT_NOT_TRUSTED when policy refuses it; RFC 4556 3.2.4: the EKU).
CHAIN_ERRORS: dict[type[pki.PkiError], ErrorCode] = {
    pki.NoPathError: ErrorCode.KDC_ERR_CANT_VERIFY_CERTIFICATE,
    pki.ValidityError: ErrorCode.KDC_ERR_INVALID_CERTIFICATE,
    pki.NotCaError: ErrorCode.KDC_ERR_CLIENT_NOT_TRUSTED,
    pki.PurposeError: ErrorCode.KDC_ERR_INCONSISTENT_KEY_PURPOSE,
}

MODE_RSA, MODE_DH = "rsa", "dh"
#: RSA reply content encryption, best first; chosen among the client's supportedCMSTypes.
SEAL_PREFERENCE = (("aes256_cbc", "2.16.840.1.101.3.4.1.42"), ("aes128_cbc", "2.16.840.1.101.3.4.1.2"),
                   ("tripledes_3key", "1.2.840.113549.3.7"))
#: RFC 8636 paChecksum2 digests accepted (SHA-1 lives on only in the legacy paChecksum).
CHECKSUM2_DIGESTS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


def mac_principal(cert: x509.Certificate) -> str | None:
    """The default mapping: the device certificate's CN names the MAC; the principal is
    the MAC as 12 lower-case hex digits (docs/secure.md, "Principal mapping")."""
    try:
        return pki.device_mac(cert).hex()
    except pki.PkiError:
        return None


@dataclass(frozen=True)
class ServiceKey:
    """A service principal's long-term key and its version number (kvno)."""

    key: krbcrypto.Key
    kvno: int = 1


@dataclass
class KdcConfig:
    realm: str
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey
    #: The certificates between the KDC's and the telephony root (SP CA), sent in replies.
    chain: Sequence[x509.Certificate]
    #: MTA Roots: the trust anchors of device certificates.
    mta_roots: Sequence[x509.Certificate]
    #: Services by name components, e.g. ("mtaprovsrvr", "prov.example.net"), ("krbtgt", REALM).
    services: Mapping[tuple[str, ...], ServiceKey]
    #: Manufacturer CAs the KDC knows, for devices that send only their own certificate.
    intermediates: Sequence[x509.Certificate] = ()
    #: Session and reply key enctypes offered, in no particular order (the client's list orders).
    enctypes: frozenset[int] = frozenset({krbcrypto.AES256_CTS_HMAC_SHA1_96, krbcrypto.AES128_CTS_HMAC_SHA1_96,
                                          krbcrypto.AES128_CTS_HMAC_SHA256_128,
                                          krbcrypto.AES256_CTS_HMAC_SHA384_192})
    policy: tickets.TicketPolicy = field(default_factory=tickets.TicketPolicy)
    #: pktcMtaDevCmsMaxClockSkew's default (300 s); the MIB allows 1..1800 s.
    max_skew: dt.timedelta = dt.timedelta(seconds=300)
    modes: frozenset[str] = frozenset({MODE_RSA, MODE_DH})
    mapper: PrincipalMapper = mac_principal
    #: Serve TGS-REQs (MTA-11/12) for holders of this KDC's TGTs.
    tgs: bool = True
    #: Require id-pkinit-KPClientAuth in device certificates (RFC 4556 3.2.4); factory
    #: certificates older than RFC 4556 lack it, and a setting turns the check off.
    require_eku: bool = True

    def check(self) -> None:
        if not self.realm or self.realm != self.realm.upper():
            raise ValueError(f"realm {self.realm!r}: PacketCable realms are upper case (option 122.6)")
        if not self.mta_roots:
            raise ValueError("at least one MTA Root certificate is needed to verify devices")
        if not self.modes or self.modes - {MODE_RSA, MODE_DH}:
            raise ValueError(f"modes {sorted(self.modes)}: choose among rsa, dh")
        if not dt.timedelta(seconds=1) <= self.max_skew <= dt.timedelta(seconds=1800):
            raise ValueError(f"clock skew {self.max_skew}: 1 to 1800 s (pktcMtaDevCmsMaxClockSkew)")
        unknown = [e for e in self.enctypes if e not in krbcrypto.ENCTYPES]
        if unknown or not self.enctypes:
            raise ValueError(f"enctypes {unknown or 'none'}: choose among {sorted(krbcrypto.ENCTYPES)}")
        for name, service in self.services.items():
            if service.key.enctype not in krbcrypto.ENCTYPES:
                raise ValueError(f"{'/'.join(name)}: key enctype {service.key.enctype} is not supported")


class Refusal(Exception):
    """Why a request is refused: the KRB-ERROR to send."""

    def __init__(self, code: ErrorCode, text: str, e_data: bytes | None = None) -> None:
        super().__init__(f"{code.name} ({int(code)}): {text}")
        self.code, self.text, self.e_data = code, text, e_data


@dataclass(frozen=True)
class Answer:
    """One request's outcome: the bytes to send (None: drop), and for logs and metrics
    the error code (None: an AS-REP or TGS-REP), the reason and the client, when known."""

    reply: bytes | None
    code: int | None
    text: str
    client: str | None = None


@dataclass
class _Request:
    """What is known of a request so far, for the KRB-ERROR's optional fields."""

    raw: bytes
    msg: Any = None
    body: Any = None
    client: str | None = None


class Kdc:
    def __init__(self, config: KdcConfig) -> None:
        config.check()
        self.config = config

    def handle(self, request: bytes, now: dt.datetime, random: Random) -> bytes | None:
        """The reply to ``request`` (an AS-REP or a KRB-ERROR), or None to drop it."""
        return self.answer(request, now, random).reply

    def answer(self, request: bytes, now: dt.datetime, random: Random) -> Answer:
        try:
            tag = krbmsg.message_type(request)
        except krbmsg.KerberosDecodeError as exc:
            return Answer(None, None, f"dropped: {exc}")
        if tag not in (krbmsg.AS_REQ, krbmsg.TGS_REQ):
            return Answer(None, None, f"dropped: APPLICATION {tag} is not a KDC request")
        state = _Request(request)
        try:
            reply = self._serve(state, tag, now, random)
        except Refusal as refusal:
            return Answer(self._error(state, refusal, now), int(refusal.code), refusal.text, state.client)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            # Last resort: a lazily parsed field that no check above anticipated. The
            # sender gets a generic error and the log the reason; the KDC goes on.
            generic = Refusal(ErrorCode.KRB_ERR_GENERIC, f"malformed request ({type(exc).__name__}: {exc})")
            return Answer(self._error(state, generic, now), int(generic.code), generic.text, state.client)
        return Answer(reply, None, "AS-REP" if tag == krbmsg.AS_REQ else "TGS-REP", state.client)

    # -- checks, in the order a KDC meets them -------------------------------------------------
    def _serve(self, state: _Request, tag: int, now: dt.datetime, random: Random) -> bytes:
        kind = krbmsg.ASReq if tag == krbmsg.AS_REQ else krbmsg.TGSReq
        try:
            krbmsg.check_der(state.raw)
            state.msg = krbmsg.load(state.raw, kind)
        except krbmsg.KerberosDecodeError as exc:
            raise Refusal(ErrorCode.KRB_ERR_GENERIC, f"undecodable {'AS' if tag == krbmsg.AS_REQ else 'TGS'}-REQ: "
                          f"{exc}") from None
        msg = state.msg
        state.body = body = msg["req-body"]
        if msg["pvno"].native != 5:
            raise Refusal(ErrorCode.KRB_AP_ERR_BADVERSION, f"pvno {msg['pvno'].native}, not 5")
        if tag == krbmsg.TGS_REQ:
            if not self.config.tgs:
                raise Refusal(ErrorCode.KDC_ERR_SVC_UNAVAILABLE, "no TGS exchange here: ask for the service "
                              "ticket in the AS-REQ (option 122.7 = 0)")
            from . import tgs  # imported on first use: only a TGT holder needs it

            reply, state.client = tgs.serve(self, msg, now, random)
            return reply
        if body["realm"].native != self.config.realm:
            raise Refusal(ErrorCode.KDC_ERR_WRONG_REALM, f"realm {body['realm'].native!r}: this KDC "
                          f"serves {self.config.realm}")
        sname = body["sname"].native
        service = self.config.services.get(tuple(sname["name-string"])) if sname else None
        if service is None:
            shown = "/".join(sname["name-string"]) if sname else "(none)"
            raise Refusal(ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN, f"service {shown} is unknown")
        cname = body["cname"].native
        if not cname or len(cname["name-string"]) != 1:
            raise Refusal(ErrorCode.KDC_ERR_C_PRINCIPAL_UNKNOWN, "the AS-REQ names no one-component client")
        state.client = cname["name-string"][0]
        # The client lists its enctypes best first (RFC 4120 3.1.3): its first one we offer.
        session = [e for e in body["etype"].native if e in self.config.enctypes]
        if not session:
            raise Refusal(ErrorCode.KDC_ERR_ETYPE_NOSUPP, f"none of the enctypes {body['etype'].native} "
                          f"is offered (this KDC: {sorted(self.config.enctypes)})")
        padata = {p["padata-type"].native: p["padata-value"].native for p in msg["padata"] or []}
        if krbmsg.PA_PK_AS_REQ not in padata:
            raise Refusal(ErrorCode.KDC_ERR_PREAUTH_REQUIRED, "PKINIT pre-authentication is required",
                          bytes(krbmsg.MethodData([{"padata-type": krbmsg.PA_PK_AS_REQ,
                                                    "padata-value": b""}]).dump()))
        pack, signer = self._verify_pkinit(state, padata[krbmsg.PA_PK_AS_REQ], now)
        return self._issue(state, pack, signer, session[0], service, padata, now, random)

    def _verify_pkinit(self, state: _Request, value: bytes, now: dt.datetime) -> tuple[Any, x509.Certificate]:
        try:
            pa = pkinit.PAPkAsReq.load(value, strict=True)
            signed = pa["signedAuthPack"].native
        except (ValueError, TypeError) as exc:
            raise Refusal(ErrorCode.KDC_ERR_PREAUTH_FAILED, f"PA-PK-AS-REQ: {exc}") from None
        try:
            content, signer, others = pkinit.verify(signed, pkinit.ID_PKINIT_AUTHDATA)
        except pkinit.PkinitError as exc:
            raise Refusal(ErrorCode.KDC_ERR_INVALID_SIG, f"signedAuthPack: {exc}") from None
        try:
            # cryptography parses a certificate's fields lazily: damage surfaces here, not
            # in the middle of the path building.
            for cert in (signer, *others):
                cert.subject, cert.issuer, cert.extensions  # noqa: B018
            subject = signer.subject.rfc4514_string()
        except ValueError as exc:
            raise Refusal(ErrorCode.KDC_ERR_INVALID_CERTIFICATE, f"unreadable certificate: {exc}") from None
        self._verify_chain(signer, others, now)
        principal = self.config.mapper(signer)
        if principal is None:
            raise Refusal(ErrorCode.KDC_ERR_CLIENT_NOT_TRUSTED, f"{subject}: this device is not admitted")
        if principal != state.client:
            raise Refusal(ErrorCode.KDC_ERR_CLIENT_NAME_MISMATCH,
                          f"{subject} is {principal}, not {state.client}")
        try:
            pack = pkinit.AuthPack.load(content, strict=True)
            pack.native  # noqa: B018 - forces the lazy parse of every field
        except (ValueError, TypeError) as exc:
            raise Refusal(ErrorCode.KDC_ERR_PREAUTH_FAILED, f"AuthPack: {exc}") from None
        self._verify_authenticator(state, pack["pkAuthenticator"], now)
        return pack, signer

    def _verify_chain(self, signer: x509.Certificate, others: list[x509.Certificate], now: dt.datetime) -> None:
        purpose = x509.ObjectIdentifier(krbnames.ID_PKINIT_KPCLIENTAUTH) if self.config.require_eku else None
        pool = [*others, *self.config.intermediates]
        failure: pki.PkiError | None = None
        for root in self.config.mta_roots:
            try:
                pki.verify_chain(signer, pool, root, now=now, purpose=purpose)
                return
            except pki.PkiError as exc:
                # A root that got as far as building the path explains better than one that did not.
                if failure is None or isinstance(failure, pki.NoPathError):
                    failure = exc
        assert failure is not None
        code = CHAIN_ERRORS.get(type(failure), ErrorCode.KDC_ERR_CANT_VERIFY_CERTIFICATE)
        e_data = None
        if code == ErrorCode.KDC_ERR_INVALID_CERTIFICATE:
            # RFC 4556 3.2.2: TD-INVALID-CERTIFICATES names the device certificate.
            e_data = _typed_data(pkinit.TD_INVALID_CERTIFICATES, bytes(pkinit.ExternalPrincipalIdentifiers([
                {"issuerAndSerialNumber": _issuer_and_serial(signer)}]).dump()))
        raise Refusal(code, str(failure), e_data)

    def _verify_authenticator(self, state: _Request, auth: Any, now: dt.datetime) -> None:
        body_der = krbmsg.req_body_der(state.msg)
        checksum = auth["paChecksum"].native
        if checksum is None:
            raise Refusal(ErrorCode.KDC_ERR_PA_CHECKSUM_MUST_BE_INCLUDED, "the PKAuthenticator has no paChecksum")
        if not hmac.compare_digest(checksum, hashlib.sha1(body_der).digest()):  # noqa: S324 - RFC 4556 3.2.1
            raise Refusal(ErrorCode.KRB_AP_ERR_MODIFIED, "paChecksum is not the SHA-1 of the req-body")
        second = auth["paChecksum2"]
        if second.native is not None:
            name = second["algorithmIdentifier"]["algorithm"].native
            digest = CHECKSUM2_DIGESTS.get(name)
            if digest is None:
                raise Refusal(ErrorCode.KRB_AP_ERR_MODIFIED, f"paChecksum2 digest {name} is not accepted")
            if not hmac.compare_digest(second["checksum"].native, digest(body_der).digest()):
                raise Refusal(ErrorCode.KRB_AP_ERR_MODIFIED, f"paChecksum2 is not the {name} of the req-body")
        if auth["nonce"].native != state.body["nonce"].native:
            raise Refusal(ErrorCode.KDC_ERR_PREAUTH_FAILED, f"PKAuthenticator nonce {auth['nonce'].native} is "
                          f"not the request's {state.body['nonce'].native}")
        ctime = auth["ctime"].native + dt.timedelta(microseconds=auth["cusec"].native)
        if abs(ctime - now) > self.config.max_skew:
            raise Refusal(ErrorCode.KRB_AP_ERR_SKEW, f"client time {ctime:%Y-%m-%dT%H:%M:%SZ} is more than "
                          f"{self.config.max_skew.total_seconds():g} s from {now:%Y-%m-%dT%H:%M:%SZ}")

    # -- the reply ---------------------------------------------------------------------------------
    def _issue(self, state: _Request, pack: Any, signer: x509.Certificate, enctype: int, service: ServiceKey,
               padata: dict[int, bytes], now: dt.datetime, random: Random) -> bytes:
        dh = pack["clientPublicValue"].native is not None
        mode = MODE_DH if dh else MODE_RSA
        if mode not in self.config.modes:
            raise Refusal(ErrorCode.KDC_ERR_PREAUTH_FAILED, f"PKINIT {mode.upper()} mode is turned off here")
        if dh:
            from . import pkinit_dh  # imported on first use: only Diffie-Hellman clients need it

            try:
                reply_key, pa_rep = pkinit_dh.reply(pack, enctype, self._sign, state.body, state.raw)
            except pkinit_dh.DhRefusal as exc:
                raise Refusal(ErrorCode.KDC_ERR_DH_KEY_PARAMETERS_NOT_ACCEPTED, str(exc),
                              _typed_data(pkinit.TD_DH_PARAMETERS, pkinit_dh.accepted_parameters())) from None
        else:
            reply_key = tickets.new_key(enctype, random)
            pa_rep = self._rsa_reply(state.raw, reply_key, pack, signer, random)
        enc_pa = []
        if krbmsg.PA_REQ_ENC_PA_REP in padata:
            # RFC 6806 section 11: proves to the client that nothing in its request was changed.
            ctype, value = krbcrypto.checksum(reply_key, USAGE_AS_REQ, state.raw)
            enc_pa.append((krbmsg.PA_REQ_ENC_PA_REP,
                           bytes(krbmsg.Checksum({"cksumtype": ctype, "checksum": value}).dump())))
        try:
            grant = tickets.decide(state.body, self.config.policy, now=now,
                                   session_key=tickets.new_key(enctype, random), enc_pa_rep=bool(enc_pa))
        except tickets.NeverValid as exc:
            raise Refusal(ErrorCode.KDC_ERR_NEVER_VALID, str(exc)) from None
        ticket = tickets.ticket(grant, state.body, realm=self.config.realm, service_key=service.key,
                                kvno=service.kvno)
        rep = krbmsg.ASRep({
            "pvno": 5, "msg-type": krbmsg.AS_REP,
            "padata": [{"padata-type": krbmsg.PA_PK_AS_REP, "padata-value": pa_rep}],
            "crealm": self.config.realm, "cname": state.body["cname"].native, "ticket": ticket,
            "enc-part": tickets.enc_as_rep_part(grant, state.body, realm=self.config.realm, reply_key=reply_key,
                                                encrypted_pa_data=enc_pa),
        })
        return bytes(rep.dump())

    def _sign(self, content_type: str, content: bytes) -> bytes:
        return pkinit.sign(content_type, content, self.config.certificate, self.config.key, self.config.chain)

    def _rsa_reply(self, request: bytes, reply_key: krbcrypto.Key, pack: Any, device: x509.Certificate,
                   random: Random) -> bytes:
        """RFC 4556 3.2.3.2: ReplyKeyPack (the reply key and a checksum binding it to this
        very AS-REQ), signed by the KDC, enveloped to the device certificate's key."""
        ctype, value = krbcrypto.checksum(reply_key, pkinit.USAGE_PKINIT_AS_CHECKSUM, request)
        key_pack = pkinit.ReplyKeyPack({"replyKey": {"keytype": reply_key.enctype, "keyvalue": reply_key.value},
                                        "asChecksum": {"cksumtype": ctype, "checksum": value}})
        signed = pkinit.bare_signed_data(self._sign(pkinit.ID_PKINIT_RKEYDATA, bytes(key_pack.dump())))
        cipher = _seal_cipher(pack)
        try:
            envelope = pkinit.seal_enveloped(signed, "signed_data", device, cipher, random)
        except pkinit.PkinitError as exc:
            raise Refusal(ErrorCode.KDC_ERR_PREAUTH_FAILED, str(exc)) from None
        return bytes(pkinit.PAPkAsRep({"encKeyPack": envelope}).dump())

    def error_for(self, request: Any, refusal: Refusal, now: dt.datetime) -> bytes:
        """A KRB-ERROR answering a decoded AS-REQ (or None) outside :meth:`answer`: what the
        transport sends when the reply cannot travel (KRB_ERR_RESPONSE_TOO_BIG)."""
        return self._error(_Request(b"", request, request["req-body"] if request is not None else None), refusal,
                           now)

    def _error(self, state: _Request, refusal: Refusal, now: dt.datetime) -> bytes:
        body = state.body
        sname = body["sname"].native if body is not None and body["sname"].native else None
        cname = body["cname"].native if body is not None and body["cname"].native else None
        error = krbmsg.KrbError({
            "pvno": 5, "msg-type": krbmsg.KRB_ERROR_TYPE,
            "stime": now, "susec": now.microsecond, "error-code": int(refusal.code),
            "crealm": self.config.realm if cname else None, "cname": cname,
            "realm": self.config.realm,
            "sname": sname or {"name-type": krbnames.NT_SRV_INST, "name-string": ["krbtgt", self.config.realm]},
            "e-text": refusal.text[:MAX_E_TEXT], "e-data": refusal.e_data,
        })
        return bytes(error.dump())


#: RFC 6806 section 11: the key usage of the PA-REQ-ENC-PA-REP checksum.
USAGE_AS_REQ = 56
#: A KRB-ERROR's e-text is for people; long reasons are cut so an error stays one datagram.
MAX_E_TEXT = 200


def _seal_cipher(pack: Any) -> str:
    """The RSA reply's content encryption: the first of ours the client lists in
    supportedCMSTypes; 3DES when it lists none (RFC 4556's one mandatory cipher)."""
    listed = {a["algorithm"].dotted for a in pack["supportedCMSTypes"] or []}
    return next((name for name, oid in SEAL_PREFERENCE if oid in listed), "tripledes_3key")


def _typed_data(kind: int, value: bytes) -> bytes:
    return bytes(krbmsg.TypedData([{"data-type": kind, "data-value": value}]).dump())


def _issuer_and_serial(cert: x509.Certificate) -> bytes:
    der = asn1x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    return bytes(cms.IssuerAndSerialNumber({"issuer": der.issuer, "serial_number": der.serial_number}).dump())
