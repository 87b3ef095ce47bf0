"""PKINIT structures (RFC 4556 section 3.2 and appendix A) as asn1crypto classes.

The AS-REQ's PA-PK-AS-REQ carries a CMS SignedData (asn1crypto.cms) whose
content, of type id-pkinit-authData, is an AuthPack signed with the MTA's
device key; the KDC answers with a PA-PK-AS-REP. The module is EXPLICIT TAGS
except where RFC 4556 writes IMPLICIT, as here.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from asn1crypto import cms, core, keys
from asn1crypto import x509 as asn1x509
from asn1crypto.algos import DigestAlgorithm
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sympadding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .krbmsg import Checksum, EncryptionKey, KerberosTime

#: RFC 4556 section 3.1: content types of the CMS structures.
ID_PKINIT_AUTHDATA = "1.3.6.1.5.2.3.1"
ID_PKINIT_DHKEYDATA = "1.3.6.1.5.2.3.2"
ID_PKINIT_RKEYDATA = "1.3.6.1.5.2.3.3"
#: RFC 4556 section 3.2.3: the e-data (TYPED-DATA) types of the KDC's PKINIT errors.
TD_TRUSTED_CERTIFIERS, TD_INVALID_CERTIFICATES, TD_DH_PARAMETERS = 104, 105, 109
#: RFC 4556 section 3.2.3.2: the key usage of the RSA reply's asChecksum.
USAGE_PKINIT_AS_CHECKSUM = 6


class PAChecksum2(core.Sequence):
    _fields = [
        ("checksum", core.OctetString, {"explicit": 0}),
        ("algorithmIdentifier", DigestAlgorithm, {"explicit": 1}),
    ]


class PKAuthenticator(core.Sequence):
    _fields = [
        ("cusec", core.Integer, {"explicit": 0}),
        ("ctime", KerberosTime, {"explicit": 1}),
        ("nonce", core.Integer, {"explicit": 2}),
        ("paChecksum", core.OctetString, {"explicit": 3, "optional": True}),
        # RFC 8070: the KDC's PA_AS_FRESHNESS token echoed back; MIT kinit 1.20 sends it.
        ("freshnessToken", core.OctetString, {"explicit": 4, "optional": True}),
        # RFC 8636 section 4: a checksum of the req-body with a named digest (SHA-2).
        ("paChecksum2", PAChecksum2, {"explicit": 5, "optional": True}),
    ]


class AlgorithmIdentifiers(core.SequenceOf):
    _child_spec = DigestAlgorithm  # AlgorithmIdentifier: an OID and optional parameters


class KDFAlgorithmId(core.Sequence):
    """RFC 8636 section 6: a key derivation function for the DH reply key."""

    _fields = [("kdf-id", core.ObjectIdentifier, {"explicit": 0})]


class KDFAlgorithmIds(core.SequenceOf):
    _child_spec = KDFAlgorithmId


class AuthPack(core.Sequence):
    _fields = [
        ("pkAuthenticator", PKAuthenticator, {"explicit": 0}),
        ("clientPublicValue", keys.PublicKeyInfo, {"explicit": 1, "optional": True}),
        ("supportedCMSTypes", AlgorithmIdentifiers, {"explicit": 2, "optional": True}),
        ("clientDHNonce", core.OctetString, {"explicit": 3, "optional": True}),
        # RFC 8636: the client's KDFs, in preference order; MIT kinit sends them in both modes.
        ("supportedKDFs", KDFAlgorithmIds, {"explicit": 4, "optional": True}),
    ]


class ExternalPrincipalIdentifier(core.Sequence):
    _fields = [
        ("subjectName", core.OctetString, {"implicit": 0, "optional": True}),
        ("issuerAndSerialNumber", core.OctetString, {"implicit": 1, "optional": True}),
        ("subjectKeyIdentifier", core.OctetString, {"implicit": 2, "optional": True}),
    ]


class ExternalPrincipalIdentifiers(core.SequenceOf):
    _child_spec = ExternalPrincipalIdentifier


class PAPkAsReq(core.Sequence):
    _fields = [
        ("signedAuthPack", core.OctetString, {"implicit": 0}),  # DER of a CMS ContentInfo
        ("trustedCertifiers", ExternalPrincipalIdentifiers, {"explicit": 1, "optional": True}),
        ("kdcPkId", core.OctetString, {"implicit": 2, "optional": True}),
    ]


class DHRepInfo(core.Sequence):
    _fields = [
        ("dhSignedData", core.OctetString, {"implicit": 0}),
        ("serverDHNonce", core.OctetString, {"explicit": 1, "optional": True}),
        ("kdf", KDFAlgorithmId, {"explicit": 2, "optional": True}),  # RFC 8636: the KDF the KDC chose
    ]


class PAPkAsRep(core.Choice):
    _alternatives = [
        ("dhInfo", DHRepInfo, {"explicit": 0}),
        ("encKeyPack", core.OctetString, {"implicit": 1}),  # DER of a CMS EnvelopedData ContentInfo
    ]


class KDCDHKeyInfo(core.Sequence):
    _fields = [
        ("subjectPublicKey", core.BitString, {"explicit": 0}),
        ("nonce", core.Integer, {"explicit": 1}),
        ("dhKeyExpiration", KerberosTime, {"explicit": 2, "optional": True}),
    ]


class ReplyKeyPack(core.Sequence):
    _fields = [
        ("replyKey", EncryptionKey, {"explicit": 0}),
        ("asChecksum", Checksum, {"explicit": 1}),
    ]


class PkinitError(ValueError):
    """A signed PKINIT structure that does not verify, with the reason."""


def sign(content_type: str, content: bytes, cert: x509.Certificate, key: rsa.RSAPrivateKey,
         chain: Sequence[x509.Certificate] = (), *, digest: str = "sha256") -> bytes:
    """A CMS ContentInfo (RFC 5652) of SignedData over ``content``, signed by ``key`` with
    ``cert`` and ``chain`` included; signed attributes content-type and message-digest.
    The signature itself is ``cryptography``'s (PKCS#1 v1.5, as RFC 4556 profiles it)."""
    hash_cls = _HASHES[digest]
    h = hashes.Hash(hash_cls())
    h.update(content)
    attrs = cms.CMSAttributes([
        {"type": "content_type", "values": [content_type]},
        {"type": "message_digest", "values": [h.finalize()]},
    ])
    signature = key.sign(b"\x31" + attrs.dump()[1:], padding.PKCS1v15(), hash_cls())  # signed as a SET OF
    der_cert = asn1x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    signer = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": der_cert.issuer, "serial_number": der_cert.serial_number})}),
        "digest_algorithm": {"algorithm": digest},
        "signed_attrs": attrs,
        "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
        "signature": signature,
    })
    signed = cms.SignedData({
        "version": "v3",
        "digest_algorithms": [{"algorithm": digest}],
        "encap_content_info": {"content_type": content_type, "content": content},
        "certificates": [der_cert] + [asn1x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
                                      for c in chain],
        "signer_infos": [signer],
    })
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


Verified = tuple[bytes, x509.Certificate, list[x509.Certificate]]


def verify(der: bytes, content_type: str) -> Verified:
    """Check a SignedData ContentInfo's one signature; return (content, signer certificate,
    the other certificates it carries). The caller checks the signer's chain and identity."""
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise PkinitError(f"a {info['content_type'].native}, not signed data")
        signed = info["content"]
    except PkinitError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise PkinitError(f"not a CMS SignedData: {exc}") from None
    return _verify_signed(signed, content_type)


def verify_signed_data(der: bytes, content_type: str) -> Verified:
    """As :func:`verify`, for a bare SignedData (no ContentInfo around it): what the
    EnvelopedData of an RSA-mode reply (PA-PK-AS-REP encKeyPack, RFC 4556 3.2.3.2)
    decrypts to, as MIT krb5kdc sends it (tests/data/kerberos)."""
    try:
        signed = cms.SignedData.load(der, strict=True)
    except (ValueError, TypeError) as exc:
        raise PkinitError(f"not a CMS SignedData: {exc}") from None
    return _verify_signed(signed, content_type)


def _verify_signed(signed: cms.SignedData, content_type: str) -> Verified:
    # asn1crypto and cryptography parse lazily: damage deep in a SignerInfo or a
    # certificate surfaces as ValueError wherever a field is first read. Every such
    # failure of a received structure is a PkinitError, never a crash of the caller.
    try:
        return _verify_signed_parts(signed, content_type)
    except PkinitError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise PkinitError(f"a malformed CMS SignedData: {exc}") from None


def _verify_signed_parts(signed: cms.SignedData, content_type: str) -> Verified:
    try:
        encap = signed["encap_content_info"]
        if encap["content_type"].dotted != content_type:
            raise PkinitError(f"content type {encap['content_type'].dotted}, expected {content_type}")
        content = encap["content"].native
        with warnings.catch_warnings():
            # What cryptography still loads but warns about (a serial number that is not
            # positive, RFC 5280 4.1.2.2) is refused here, not printed for every request.
            warnings.simplefilter("error")
            certs = [x509.load_der_x509_certificate(c.chosen.dump()) for c in signed["certificates"] or []]
            for cert in certs:
                cert.serial_number, cert.issuer.public_bytes()  # noqa: B018
        infos = list(signed["signer_infos"])
    except PkinitError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, x509.InvalidVersion, UnsupportedAlgorithm,
            Warning) as exc:
        raise PkinitError(f"not a CMS SignedData: {exc}") from None
    if len(infos) != 1 or not isinstance(content, bytes):
        raise PkinitError(f"{len(infos)} signers and {'a' if isinstance(content, bytes) else 'no'} content; "
                          "expected one signer over content carried inside")
    signer = infos[0]
    sid = signer["sid"].chosen
    match = [c for c in certs if isinstance(sid, cms.IssuerAndSerialNumber)
             and c.serial_number == sid["serial_number"].native
             and c.issuer.public_bytes() == sid["issuer"].dump()]
    if not match:
        raise PkinitError("the signer's certificate is not among the certificates sent")
    cert = match[0]
    digest = signer["digest_algorithm"]["algorithm"].native
    if digest not in _HASHES:
        raise PkinitError(f"digest {digest} is not accepted")
    attrs = signer["signed_attrs"]
    values = {a["type"].native: a["values"].native for a in attrs} if attrs else {}
    h = hashes.Hash(_HASHES[digest]())
    h.update(content)
    if values.get("content_type") != [encap["content_type"].native] or values.get("message_digest") != [h.finalize()]:
        raise PkinitError("the signed attributes do not match the content (content type or message digest)")
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise PkinitError("the signer's key is not RSA")
    try:
        public.verify(signer["signature"].native, b"\x31" + attrs.dump()[1:], padding.PKCS1v15(),
                      _HASHES[digest]())
    except InvalidSignature:
        raise PkinitError(f"bad signature by {cert.subject.rfc4514_string()}") from None
    return content, cert, [c for c in certs if c is not cert]


_HASHES: dict[str, type[hashes.SHA1 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


def open_enveloped(der: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """The content of a PA-PK-AS-REP encKeyPack (RFC 4556 3.2.3.2): a CMS EnvelopedData
    whose one recipient is the client's RSA key (RSAES-PKCS1-v1_5 key transport), the
    content encrypted with 3DES-CBC (what MIT's KDC chooses) or AES-CBC. Returns the
    encrypted content, a SignedData of ReplyKeyPack (see :func:`verify_signed_data`).
    PkinitError for anything else, a wrong key or damaged data."""
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "enveloped_data":
            raise PkinitError(f"a {info['content_type'].native}, not enveloped data")
        envelope = info["content"]
        recipients = list(envelope["recipient_infos"])
        encrypted = envelope["encrypted_content_info"]
        algorithm = encrypted["content_encryption_algorithm"]
        name, iv = algorithm["algorithm"].native, algorithm["parameters"].native
        ciphertext = encrypted["encrypted_content"].native
    except PkinitError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise PkinitError(f"not a CMS EnvelopedData: {exc}") from None
    if len(recipients) != 1 or recipients[0].name != "ktri":
        raise PkinitError("expected one key-transport recipient")
    transport = recipients[0].chosen
    if transport["key_encryption_algorithm"]["algorithm"].native != "rsaes_pkcs1v15":
        raise PkinitError(f"key transport {transport['key_encryption_algorithm']['algorithm'].native} "
                          "is not accepted (RSAES-PKCS1-v1_5 only)")
    ciphers = _CONTENT_CIPHERS.get(name)
    if ciphers is None or not isinstance(iv, bytes) or not isinstance(ciphertext, bytes):
        raise PkinitError(f"content encryption {name} is not accepted")
    try:
        content_key = key.decrypt(transport["encrypted_key"].native, padding.PKCS1v15())
        decryptor = Cipher(ciphers(content_key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = sympadding.PKCS7(ciphers.block_size).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:  # wrong key (PKCS#1 or key length), bad padding after a wrong key or damage
        raise PkinitError("the envelope does not open with this key (wrong key or damaged data)") from None


_CONTENT_CIPHERS: dict[str, Any] = {"tripledes_3key": TripleDES, "aes128_cbc": algorithms.AES,
                                    "aes256_cbc": algorithms.AES}

#: Content encryptions a KDC may choose for the RSA reply, by asn1crypto name: (cipher, key bytes).
SEAL_CIPHERS: dict[str, tuple[Any, int]] = {"aes256_cbc": (algorithms.AES, 32), "aes128_cbc": (algorithms.AES, 16),
                                             "tripledes_3key": (TripleDES, 24)}


def seal_enveloped(content: bytes, content_type: str, recipient: x509.Certificate, cipher: str,
                   random: Any) -> bytes:
    """The inverse of :func:`open_enveloped`: a ContentInfo of EnvelopedData carrying
    ``content`` (of ``content_type``) to the one ``recipient``, its content key sent
    with RSAES-PKCS1-v1_5 (RFC 4556 3.2.3.2 key transport), the content encrypted
    with ``cipher`` (a :data:`SEAL_CIPHERS` name) in CBC mode. ``random(n)`` gives
    the content key and IV, so a caller decides where randomness comes from."""
    algorithm, size = SEAL_CIPHERS[cipher]
    public = recipient.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise PkinitError(f"{recipient.subject.rfc4514_string()}: not an RSA key, no key transport to it")
    content_key, iv = random(size), random(algorithm.block_size // 8)
    padder = sympadding.PKCS7(algorithm.block_size).padder()
    encryptor = Cipher(algorithm(content_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(content) + padder.finalize()) + encryptor.finalize()
    der_cert = asn1x509.Certificate.load(recipient.public_bytes(serialization.Encoding.DER))
    envelope = cms.EnvelopedData({
        "version": "v0",
        "recipient_infos": [cms.RecipientInfo({"ktri": cms.KeyTransRecipientInfo({
            "version": "v0",
            "rid": cms.RecipientIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
                "issuer": der_cert.issuer, "serial_number": der_cert.serial_number})}),
            "key_encryption_algorithm": {"algorithm": "rsaes_pkcs1v15"},
            "encrypted_key": public.encrypt(content_key, padding.PKCS1v15()),
        })})],
        "encrypted_content_info": {
            "content_type": content_type,
            "content_encryption_algorithm": {"algorithm": cipher, "parameters": iv},
            "encrypted_content": ciphertext,
        },
    })
    return bytes(cms.ContentInfo({"content_type": "enveloped_data", "content": envelope}).dump())


def bare_signed_data(content_info: bytes) -> bytes:
    """The SignedData inside a ContentInfo from :func:`sign`, without the wrapper: what
    an RSA reply's envelope holds (MIT's clients and KDC expect it bare)."""
    info = cms.ContentInfo.load(content_info, strict=True)
    return bytes(info["content"].untag().dump())
