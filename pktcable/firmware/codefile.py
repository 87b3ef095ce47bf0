"""DOCSIS code files: a firmware image signed as CMS SignedData, made and checked (sans-IO).

A code file (DOCSIS Security specification, "Secure Software Download"; facts and
sources in docs/firmware.md) is a DER ContentInfo of SignedData whose content, of
type id-data, is the image itself. The manufacturer signs it with the key of its
code verification certificate (CVC) and puts the CVC in ``certificates``; an
operator may co-sign with its own CVC, a second SignerInfo. Each SignerInfo carries
the signed attributes contentType, signingTime and messageDigest.

:func:`verify` plays the device: strict DER within size limits, every signature,
each CVC's chain to the CVC root with extended key usage id-kp-codeSigning, the
signer's organization against the one the device expects, and the signing time and
CVC validity start against the device's stored codeAccessStart and cvcAccessStart.
A refusal is a :class:`CodeFileError` with a reason name from :data:`REASONS`, the
field path and, where there is one, the byte offset. Times and keys are arguments.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from asn1crypto import cms
from asn1crypto import x509 as asn1x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from pktcable.secure import pki

from . import der

#: Why a code file is refused; the device logs the name, a test asserts it.
REASONS: dict[str, str] = {
    "malformed": "not a strict-DER CMS SignedData code file within the limits (offset and field say where)",
    "bad-signature": "a signature, or the message digest it signs, does not match the image",
    "cvc-untrusted": "a signer's CVC is absent or does not chain to the CVC root",
    "cvc-expired": "a CVC is outside its validity at the check time or at its signing time",
    "not-code-signing": "a CVC without the extended key usage id-kp-codeSigning",
    "wrong-manufacturer": "no signature by a CVC whose subject O is the device's manufacturer",
    "missing-cosigner": "the device expects a co-signer and no signature is by its CVC",
    "unexpected-signer": "two signatures by one organization, or a third party where a co-signer is named",
    "stale-signing-time": "a signing time earlier than the device's codeAccessStart",
    "stale-cvc": "a CVC whose validity starts earlier than the device's cvcAccessStart",
}

MAX_CODE_FILE = 128 * 1024 * 1024  # larger than any cable modem image; a bound on what is read
MAX_CERTIFICATES = 8               # two CVCs and their chains (DOCSIS 3.1 carries chains)
MAX_SIGNERS = 2                    # manufacturer and co-signer

#: Digests a signer may use: SHA-1 for DOCSIS 3.0 code files, SHA-256 and up otherwise.
DIGESTS: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
#: Signature algorithms by asn1crypto name: rsaEncryption (what DOCSIS and OpenSSL write)
#: or the sha*WithRSAEncryption names, which must agree with the digest.
_RSA_ALGORITHMS = {"rsassa_pkcs1v15": None, "sha1_rsa": "sha1", "sha256_rsa": "sha256",
                   "sha384_rsa": "sha384", "sha512_rsa": "sha512"}


class CodeFileError(ValueError):
    """A code file refused: ``reason`` is a key of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str, *, path: str = "", offset: int | None = None) -> None:
        assert reason in REASONS, reason
        where = " ".join(p for p in (path, f"at offset {offset}" if offset is not None else "") if p)
        super().__init__(f"{reason}: {where + ': ' if where else ''}{detail}")
        self.reason = reason
        self.detail = detail
        self.path = path
        self.offset = offset


@dataclass(frozen=True)
class Signer:
    """A CVC and its private key: who signs."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey


@dataclass(frozen=True)
class AccessStart:
    """What a device stores per signer: codeAccessStart and cvcAccessStart."""

    code: dt.datetime
    cvc: dt.datetime


@dataclass(frozen=True)
class AccessState:
    """The device's stored times; ``cosigner`` None: none stored yet, any time passes."""

    manufacturer: AccessStart
    cosigner: AccessStart | None = None


@dataclass(frozen=True)
class CvcTrust:
    """What the device trusts: the CVC root, its manufacturer's organization name and,
    when the operator requires co-signed code, the co-signer's organization name."""

    root: x509.Certificate
    manufacturer: str
    cosigner: str | None = None
    #: DOCSIS judges a CVC's validity at the signing time only, so a device without a
    #: clock can check it; True also refuses a CVC outside its validity at ``now``.
    check_clock: bool = False


@dataclass(frozen=True)
class Signature:
    role: str                  # "manufacturer" or "co-signer"
    organization: str
    cvc: x509.Certificate
    signing_time: dt.datetime


@dataclass(frozen=True)
class Verified:
    """An accepted code file: the image, who signed, and the times to store once installed."""

    image: bytes
    manufacturer: Signature
    cosigner: Signature | None
    state: AccessState
    #: A co-signature the device does not require: its signature over the image verified,
    #: its CVC not judged (a modem configured without a co-signer ignores it).
    ignored: Signature | None = None


# -- making -----------------------------------------------------------------------------------

def sign(image: bytes, manufacturer_cvc: x509.Certificate, key: rsa.RSAPrivateKey, *,
         signing_time: dt.datetime, cosigner: Signer | None = None,
         cosigning_time: dt.datetime | None = None, digest: str = "sha256") -> bytes:
    """The code file of ``image`` signed by the manufacturer's CVC key, and by ``cosigner``
    too when given (at ``cosigning_time``, by default the same ``signing_time``)."""
    signers = [(Signer(manufacturer_cvc, key), signing_time)]
    if cosigner is not None:
        signers.append((cosigner, cosigning_time or signing_time))
    infos = [_signer_info(image, s, when, digest) for s, when in signers]
    return _assemble(image, [_asn1_cert(s.certificate) for s, _ in signers], infos)


def cosign(code_file: bytes, cosigner: Signer, *, signing_time: dt.datetime, digest: str = "sha256") -> bytes:
    """Add a co-signer's signature and CVC to a manufacturer's code file (the operator's
    step). The file must be well formed with one signature; check it with :func:`verify`."""
    tree = _walk(code_file, MAX_CODE_FILE)
    signed, image = _parse(code_file, tree)
    infos = list(signed["signer_infos"])
    if len(infos) != 1:
        raise CodeFileError("malformed", f"{len(infos)} signatures; a co-signer signs a file with one",
                            path="signerInfos", offset=_node(tree, -1).offset)
    certs = [c.chosen for c in signed["certificates"] or []]
    return _assemble(image, [*certs, _asn1_cert(cosigner.certificate)],
                     [*infos, _signer_info(image, cosigner, signing_time, digest)])


def _signer_info(image: bytes, signer: Signer, when: dt.datetime, digest: str) -> cms.SignerInfo:
    if digest not in DIGESTS:
        raise ValueError(f"digest {digest}: use one of {', '.join(DIGESTS)}")
    if when.tzinfo is None:
        raise ValueError("signing time: give an aware UTC time")
    when = when.astimezone(dt.UTC).replace(microsecond=0)
    h = hashes.Hash(DIGESTS[digest]())
    h.update(image)
    # RFC 5652 11.3: UTCTime for 1950-2049, GeneralizedTime outside.
    time = cms.Time(name="utc_time" if 1950 <= when.year < 2050 else "generalized_time", value=when)
    attrs = cms.CMSAttributes([  # asn1crypto sorts a SET OF as DER wants
        {"type": "content_type", "values": ["data"]},
        {"type": "signing_time", "values": [time]},
        {"type": "message_digest", "values": [h.finalize()]},
    ])
    # The signature covers the attributes as a SET OF (tag 0x31), not as the [0] they travel in.
    signature = signer.key.sign(b"\x31" + attrs.dump()[1:], padding.PKCS1v15(), DIGESTS[digest]())
    cert = _asn1_cert(signer.certificate)
    return cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": cert.issuer, "serial_number": cert.serial_number})}),
        "digest_algorithm": {"algorithm": digest},
        "signed_attrs": attrs,
        "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
        "signature": signature,
    })


def _assemble(image: bytes, certs: Sequence[asn1x509.Certificate], infos: Sequence[cms.SignerInfo]) -> bytes:
    digests = sorted({i["digest_algorithm"]["algorithm"].native for i in infos})
    # RFC 5652 5.1: version 1 for id-data content, X.509 certificates and issuerAndSerialNumber
    # signers; 3 once a signer (a co-signed vendor file) is named by subjectKeyIdentifier.
    version = "v3" if any(i["version"].native == "v3" for i in infos) else "v1"
    signed = cms.SignedData({
        "version": version,
        "digest_algorithms": [{"algorithm": d} for d in digests],
        "encap_content_info": {"content_type": "data", "content": image},
        "certificates": list(certs),
        "signer_infos": list(infos),
    })
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


def _asn1_cert(cert: x509.Certificate) -> asn1x509.Certificate:
    return asn1x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


# -- checking ---------------------------------------------------------------------------------

def verify(code_file: bytes, trust: CvcTrust, now: dt.datetime | None, state: AccessState, *,
           max_size: int = MAX_CODE_FILE) -> Verified:
    """Check ``code_file`` as a device holding ``trust`` and ``state`` would. The chains are
    judged at each signing time, as DOCSIS does; ``now`` (the device's time, None when it
    has none) counts only with ``trust.check_clock``.
    Returns the image, who signed and the access times to store after installing it."""
    try:
        return _verify(code_file, trust, now, state, max_size)
    except CodeFileError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError,
            UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        # asn1crypto and cryptography parse lazily: damage inside a certificate's name or
        # extensions may surface only where a check first reads it. Still a refusal.
        raise CodeFileError("malformed", f"{type(exc).__name__}: {exc}", path="certificates") from None


def signer_cvcs(code_file: bytes, *, max_size: int = MAX_CODE_FILE) -> list[tuple[str, bytes]]:
    """(organization, DER) of each signer's CVC, in SignerInfo order: what a back office
    puts in a CM config file's TLV 32/33 to enable the file's download. Nothing is
    verified here (the catalogue judged the file when it was added); a file that does not
    parse, or a SignerInfo whose CVC is not in ``certificates``, is a CodeFileError."""
    try:
        tree = _walk(code_file, max_size)
        signed, _ = _parse(code_file, tree)
        certs = _certificates(signed, tree)
        found = []
        for index, info in enumerate(signed["signer_infos"]):
            cert = _signer_cert(info, certs)
            if cert is None:
                raise CodeFileError("cvc-untrusted", "the signer's CVC is not in the file",
                                    path=f"signerInfos[{index}].sid")
            found.append((pki.organization(cert) or "", cert.public_bytes(serialization.Encoding.DER)))
        return found
    except CodeFileError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError,
            UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        raise CodeFileError("malformed", f"{type(exc).__name__}: {exc}", path="certificates") from None


def _verify(code_file: bytes, trust: CvcTrust, now: dt.datetime | None, state: AccessState,
            max_size: int) -> Verified:
    tree = _walk(code_file, max_size)
    signed, image = _parse(code_file, tree)
    certs = _certificates(signed, tree)
    signatures = [_check_signer(info, i, image, certs, tree) for i, info in enumerate(signed["signer_infos"])]
    manufacturer: Signature | None = None
    cosigner: Signature | None = None
    ignored: Signature | None = None
    unexpected: list[int] = []
    for index, (cert, when) in enumerate(signatures):
        org = pki.organization(cert) or ""
        if org == trust.manufacturer and manufacturer is None:
            manufacturer = Signature("manufacturer", org, cert, when)
        elif trust.cosigner is not None and org == trust.cosigner and cosigner is None:
            cosigner = Signature("co-signer", org, cert, when)
        elif trust.cosigner is None and org != trust.manufacturer and ignored is None:
            # An operator co-signs one image for all its modems; one whose config file
            # named no co-signer checks the manufacturer's signature alone.
            ignored = Signature("co-signer (not required)", org, cert, when)
        else:
            unexpected.append(index)
    everyone = dict(path="signerInfos", offset=_node(tree, -1).offset)
    orgs = ", ".join(repr(pki.organization(c) or "") for c, _ in signatures)
    if manufacturer is None:
        _fail("wrong-manufacturer", f"signed by {orgs}, none of them the manufacturer {trust.manufacturer!r}",
              everyone)
    if trust.cosigner is not None and cosigner is None:
        _fail("missing-cosigner", f"signed by {orgs}, none of them the co-signer {trust.cosigner!r}", everyone)
    for index in unexpected:
        cert = signatures[index][0]
        _fail("unexpected-signer", f"signed again by {cert.subject.rfc4514_string()}: the device takes code "
              f"from {trust.manufacturer!r}" + (f" co-signed by {trust.cosigner!r}" if trust.cosigner else ""),
              dict(path=f"signerInfos[{index}]", offset=_node(tree, -1, index).offset))
    for sig, access in ((manufacturer, state.manufacturer), (cosigner, state.cosigner)):
        if sig is not None:
            index = next(i for i, (c, _) in enumerate(signatures) if c is sig.cvc)
            at = dict(path=f"signerInfos[{index}]", offset=_node(tree, -1, index).offset)
            _check_cvc(sig.cvc, [c for c in certs if c is not sig.cvc], trust.root,
                       now if trust.check_clock else None, sig.signing_time, access, at)
    new = AccessState(_access(manufacturer), _access(cosigner) if cosigner else state.cosigner)
    return Verified(image, manufacturer, cosigner, new, ignored)


def _access(sig: Signature) -> AccessStart:
    """After an install the device remembers the signing time and the CVC's validity start."""
    return AccessStart(sig.signing_time, sig.cvc.not_valid_before_utc)


def _check_cvc(cert: x509.Certificate, others: list[x509.Certificate], root: x509.Certificate,
               now: dt.datetime | None, when: dt.datetime, access: AccessStart | None, at: dict[str, object]) -> None:
    name = cert.subject.rfc4514_string()
    for moment in (when, now) if now is not None else (when,):
        try:
            pki.verify_chain(cert, others, root, now=moment, purpose=ExtendedKeyUsageOID.CODE_SIGNING)
        except pki.ValidityError as exc:
            label = "the signing time" if moment is when else "the device's time"
            _fail("cvc-expired", f"at {label}: {exc}", at)
        except pki.PurposeError as exc:
            _fail("not-code-signing", str(exc), at)
        except pki.PkiError as exc:  # no path, forged, a signer that is no CA
            _fail("cvc-untrusted", str(exc), at)
    if access is not None and when < access.code:
        _fail("stale-signing-time", f"signed at {when:%Y-%m-%d %H:%M:%S}Z, before codeAccessStart "
              f"{access.code:%Y-%m-%d %H:%M:%S}Z", at)
    if access is not None and cert.not_valid_before_utc < access.cvc:
        _fail("stale-cvc", f"{name} valid from {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S}Z, before "
              f"cvcAccessStart {access.cvc:%Y-%m-%d %H:%M:%S}Z", at)


def _fail(reason: str, detail: str, at: dict[str, object]) -> NoReturn:
    path, offset = at.get("path"), at.get("offset")
    raise CodeFileError(reason, detail, path=str(path or ""), offset=offset if isinstance(offset, int) else None)


def _walk(data: bytes, max_size: int) -> der.Node:
    if len(data) > max_size:
        raise CodeFileError("malformed", f"{len(data)} bytes, more than the limit of {max_size}", offset=0)
    try:
        return der.walk(data)
    except der.DerError as exc:
        raise CodeFileError("malformed", exc.why, path="DER", offset=exc.offset) from None


def _node(tree: der.Node, *indexes: int) -> der.Node:
    """A node of the SignedData (inside ContentInfo [0]); negative indexes count from the end."""
    node = tree.child(1, 0) or tree
    for i in indexes:
        if not node.children:
            return node
        node = node.children[i] if -len(node.children) <= i < len(node.children) else node
    return node


def _parse(data: bytes, tree: der.Node) -> tuple[cms.SignedData, bytes]:
    """The SignedData and its image; every structural refusal is ``malformed``."""
    path, offset = "contentType", tree.offset
    try:
        info = cms.ContentInfo.load(data, strict=True)
        if info["content_type"].native != "signed_data":
            raise ValueError(f"a {info['content_type'].native}, not signed data")
        path, offset = "signedData", _node(tree).offset
        signed = info["content"]
        if signed["version"].native not in ("v1", "v3"):
            raise ValueError(f"version {signed['version'].native}")
        path, offset = "encapContentInfo", _node(tree, 2).offset
        encap = signed["encap_content_info"]
        if encap["content_type"].native != "data":
            raise ValueError(f"content type {encap['content_type'].native}, not id-data")
        image = encap["content"].native
        if not isinstance(image, bytes):
            raise ValueError("no image inside (a detached signature is no code file)")
        path, offset = "signerInfos", _node(tree, -1).offset
        count = len(signed["signer_infos"])
        if not 1 <= count <= MAX_SIGNERS:
            raise ValueError(f"{count} signatures; a code file has 1 to {MAX_SIGNERS}")
        path, offset = "digestAlgorithms", _node(tree, 1).offset
        listed = {d["algorithm"].native for d in signed["digest_algorithms"]}
        for i, info_ in enumerate(signed["signer_infos"]):
            path, offset = f"signerInfos[{i}]", _node(tree, -1, i).offset
            info_.native  # noqa: B018 - parse every field now, while the path is known
            # RFC 5652 5.3: version 1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier.
            want = "v1" if info_["sid"].name == "issuer_and_serial_number" else "v3"
            if info_["version"].native != want:
                raise ValueError(f"version {info_['version'].native} with a {info_['sid'].name} (RFC 5652 5.3: {want})")
            if info_["digest_algorithm"]["algorithm"].native not in listed:
                raise ValueError(f"digest {info_['digest_algorithm']['algorithm'].native} is not in digestAlgorithms")
        return signed, image
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        raise CodeFileError("malformed", str(exc) or type(exc).__name__, path=path, offset=offset) from None


def _certificates(signed: cms.SignedData, tree: der.Node) -> list[x509.Certificate]:
    holder = next((n for n in _node(tree).children if n.tag == 0xA0), None)
    choices = list(signed["certificates"] or [])
    if len(choices) > MAX_CERTIFICATES:
        raise CodeFileError("malformed", f"{len(choices)} certificates, more than {MAX_CERTIFICATES}",
                            path="certificates", offset=holder.offset if holder else None)
    certs = []
    for i, choice in enumerate(choices):
        node = holder.child(i) if holder else None
        try:
            if choice.name != "certificate":
                raise ValueError(f"a {choice.name}, not an X.509 certificate")
            with warnings.catch_warnings():
                # What cryptography still loads but warns about (a serial number that is not
                # positive, RFC 5280 4.1.2.2; a country name not 2 letters) is refused here,
                # not printed: the fields a check reads later are read now, under the filter.
                warnings.simplefilter("error")
                cert = x509.load_der_x509_certificate(choice.chosen.dump())
                cert.serial_number, cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()  # noqa: B018
            certs.append(cert)
        except (ValueError, x509.InvalidVersion, UnsupportedAlgorithm, Warning) as exc:
            raise CodeFileError("malformed", str(exc), path=f"certificates[{i}]",
                                offset=node.offset if node else None) from None
    return certs


def _check_signer(info: cms.SignerInfo, index: int, image: bytes, certs: list[x509.Certificate],
                  tree: der.Node) -> tuple[x509.Certificate, dt.datetime]:
    """One SignerInfo's signature over the image: (the signer's CVC, its signing time)."""
    node = _node(tree, -1, index)
    at: dict[str, object] = dict(path=f"signerInfos[{index}]", offset=node.offset)
    try:
        cert = _signer_cert(info, certs)
        digest = info["digest_algorithm"]["algorithm"].native
        algorithm = info["signature_algorithm"]["algorithm"].native
        attrs = info["signed_attrs"]
        values = {a["type"].native: a["values"].native for a in attrs} if attrs else {}
        signature = info["signature"].native
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        _fail("malformed", str(exc), at)
    if cert is None:
        _fail("cvc-untrusted", "the signer's CVC is not among the code file's certificates", at)
    if digest not in DIGESTS or algorithm not in _RSA_ALGORITHMS or _RSA_ALGORITHMS[algorithm] not in (None, digest):
        _fail("malformed", f"digest {digest} with signature {algorithm}: not accepted", at)
    for attr in ("content_type", "message_digest", "signing_time"):
        if len(values.get(attr) or ()) != 1:
            _fail("malformed", f"the signed attribute {attr} is missing or repeated", at)
    if values["content_type"] != ["data"]:
        _fail("malformed", f"the signed content type is {values['content_type'][0]}, not id-data", at)
    when = values["signing_time"][0]
    if not isinstance(when, dt.datetime) or when.tzinfo is None:
        _fail("malformed", "signing time is not a UTC time", at)
    h = hashes.Hash(DIGESTS[digest]())
    h.update(image)
    if values["message_digest"] != [h.finalize()]:
        _fail("bad-signature", f"the message digest signed by {cert.subject.rfc4514_string()} is not the image's", at)
    try:
        public = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        _fail("malformed", f"{cert.subject.rfc4514_string()}: its public key is unreadable ({exc})", at)
    if not isinstance(public, rsa.RSAPublicKey):
        _fail("malformed", f"{cert.subject.rfc4514_string()}: not an RSA key", at)
    try:
        public.verify(signature, b"\x31" + attrs.dump()[1:], padding.PKCS1v15(), DIGESTS[digest]())
    except (InvalidSignature, ValueError):
        _fail("bad-signature", f"the signature by {cert.subject.rfc4514_string()} does not verify", at)
    return cert, when.astimezone(dt.UTC)


def _signer_cert(info: cms.SignerInfo, certs: list[x509.Certificate]) -> x509.Certificate | None:
    sid = info["sid"]
    if sid.name == "issuer_and_serial_number":
        issuer, serial = sid.chosen["issuer"].dump(), sid.chosen["serial_number"].native
        return next((c for c in certs if c.serial_number == serial and c.issuer.public_bytes() == issuer), None)
    ski = sid.chosen.native  # subjectKeyIdentifier [0]
    for c in certs:
        try:
            if c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == ski:
                return c
        except x509.ExtensionNotFound:
            continue
    return None
