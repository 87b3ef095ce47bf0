"""The PacketCable lab PKI: certificate profiles as a table, issuing and chain checks.

Three hierarchies, as the PacketCable security specification arranges them:

- MTA Root CA -> MTA Manufacturer CA -> MTA device certificates (the MTA's MAC
  address in the subject); the device sends its own and its manufacturer's
  certificate in the PKINIT AS-REQ, the KDC checks them against the MTA Root.
- IP Telephony Service Provider Root -> Service Provider CA -> the KDC and the
  provisioning server; the eMTA holds the root (pktcMtaDevTelephonyRootCertificate)
  and checks the KDC's certificate in the first AS-REP, and its Organization
  attribute against pktcMtaDevRealmOrgName.
- Code Verification Root -> manufacturer and co-signer code verification
  certificates (CVCs), for signed firmware.

Every profile is a row of :data:`PROFILES`; what the specification leaves to the
lab (key size, digest, lifetimes, the MAC's spelling in the subject) is a
documented choice in docs/secure.md. The functions take the time and the keys
as arguments, so tests can issue and check certificates at any instant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import krbnames

PrivateKey = rsa.RSAPrivateKey


class PkiError(Exception):
    """A certificate that does not chain, is out of its validity, or breaks its profile."""


# What went wrong in verify_chain, as types: a KDC answers each with its own
# Kerberos error code (RFC 4556 section 3.2.2), so it must not parse messages.
class NoPathError(PkiError):
    """No issuer chains the certificate to the trust anchor, or a signature is forged."""


class ValidityError(PkiError):
    """A certificate of the path is expired or not yet valid."""


class NotCaError(PkiError):
    """A signer of the path is no CA, or its path length is exceeded."""


class PurposeError(PkiError):
    """The leaf lacks the extended key usage asked for."""


@dataclass(frozen=True)
class Profile:
    """One kind of certificate: who issues it and what it may do."""

    name: str            # file stem and CLI name
    title: str           # what the specification calls it
    issuer: str | None   # profile that signs it; None: self-signed root
    ca: bool
    path_length: int | None = None
    days: int = 365 * 20
    eku: tuple[x509.ObjectIdentifier, ...] = ()
    key_usage: frozenset[str] = field(default_factory=frozenset)


_CA_USAGE = frozenset({"key_cert_sign", "crl_sign"})
_SIGN_USAGE = frozenset({"digital_signature"})
_TLS_USAGE = frozenset({"digital_signature", "key_encipherment"})

PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("mta-root", "MTA Root CA", None, True, 1, 365 * 30, (), _CA_USAGE),
    Profile("mta-manufacturer", "MTA Manufacturer CA", "mta-root", True, 0, 365 * 25, (), _CA_USAGE),
    Profile("mta-device", "MTA Device", "mta-manufacturer", False, None, 365 * 20,
            (x509.ObjectIdentifier(krbnames.ID_PKINIT_KPCLIENTAUTH),), _TLS_USAGE),
    Profile("sp-root", "IP Telephony Service Provider Root CA", None, True, 1, 365 * 30, (), _CA_USAGE),
    Profile("sp-ca", "Service Provider CA", "sp-root", True, 0, 365 * 10, (), _CA_USAGE),
    Profile("kdc", "Key Distribution Center", "sp-ca", False, None, 365 * 2,
            (x509.ObjectIdentifier(krbnames.ID_PKINIT_KPKDC),), _TLS_USAGE),
    Profile("prov-server", "Provisioning Server", "sp-ca", False, None, 365 * 2,
            (ExtendedKeyUsageOID.SERVER_AUTH,), _TLS_USAGE),
    Profile("cvc-root", "Code Verification Root CA", None, True, 0, 365 * 30, (), _CA_USAGE),
    Profile("manufacturer-cvc", "Manufacturer Code Verification Certificate", "cvc-root", False, None,
            365 * 10, (ExtendedKeyUsageOID.CODE_SIGNING,), _SIGN_USAGE),
    Profile("cosigner-cvc", "Co-signer Code Verification Certificate", "cvc-root", False, None,
            365 * 10, (ExtendedKeyUsageOID.CODE_SIGNING,), _SIGN_USAGE),
)}

#: cryptography no longer signs with SHA-1: a lab that needs SHA-1 chains imports them.
DIGESTS: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
KEY_SIZES = (1024, 2048, 4096)


@dataclass(frozen=True)
class Issued:
    profile: str
    certificate: x509.Certificate
    key: PrivateKey


def new_key(bits: int = 2048) -> PrivateKey:
    if bits not in KEY_SIZES:
        raise PkiError(f"key size {bits}: use one of {', '.join(map(str, KEY_SIZES))}")
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def mac_text(mac: bytes) -> str:
    """The MAC as the device certificate's CN spells it: ``00:11:22:AA:BB:CC``."""
    if len(mac) != 6:
        raise PkiError(f"a MAC address has 6 bytes, not {len(mac)}")
    return ":".join(f"{b:02X}" for b in mac)


def device_mac(cert: x509.Certificate) -> bytes:
    """The MAC address an MTA device certificate names in its CN."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    text = str(cns[0].value) if cns else ""
    try:
        mac = bytes.fromhex(text.replace(":", "").replace("-", ""))
    except ValueError:
        mac = b""
    if len(mac) != 6:
        raise PkiError(f"certificate {cert.subject.rfc4514_string()}: its CN is not a MAC address")
    return mac


def name(org: str, common: str, *, country: str = "US", unit: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, country),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common))
    return x509.Name(attrs)


def issue(profile: str, subject: x509.Name, key: PrivateKey, *, now: dt.datetime, serial: int,
          issuer: Issued | None = None, digest: str = "sha256",
          alt_names: Sequence[x509.GeneralName] = ()) -> Issued:
    """Sign a certificate of ``profile`` for ``key``; a root signs itself (issuer None)."""
    prof = PROFILES[profile]
    if (prof.issuer is None) != (issuer is None) or (issuer and issuer.profile != prof.issuer):
        raise PkiError(f"{prof.title} is issued by {prof.issuer or 'itself'}, "
                       f"not {issuer.profile if issuer else 'itself'}")
    if digest not in DIGESTS:
        raise PkiError(f"digest {digest}: use one of {', '.join(DIGESTS)}")
    signer_key = issuer.key if issuer else key
    issuer_name = issuer.certificate.subject if issuer else subject
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(serial)
               .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate a device clock a little behind
               .not_valid_after(now + dt.timedelta(days=prof.days))
               .add_extension(x509.BasicConstraints(ca=prof.ca, path_length=prof.path_length), critical=True)
               .add_extension(_key_usage(prof.key_usage), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    if prof.eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(prof.eku)), critical=False)
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(alt_names)), critical=False)
    cert = builder.sign(signer_key, DIGESTS[digest]())
    return Issued(profile, cert, key)


def _key_usage(usages: frozenset[str]) -> x509.KeyUsage:
    flags = {f: f in usages for f in ("digital_signature", "content_commitment", "key_encipherment",
                                      "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign")}
    return x509.KeyUsage(encipher_only=False, decipher_only=False, **flags)


def kdc_alt_names(realm: str, fqdn: str) -> list[x509.GeneralName]:
    """The KDC's principal krbtgt/REALM@REALM (RFC 4556 3.2.2) and its DNS name."""
    der = krbnames.principal_der(realm, krbnames.NT_SRV_INST, "krbtgt", realm)
    return [x509.OtherName(x509.ObjectIdentifier(krbnames.ID_PKINIT_SAN), der), x509.DNSName(fqdn)]


def organization(cert: x509.Certificate) -> str | None:
    """The subject's O attribute: what an eMTA compares with pktcMtaDevRealmOrgName."""
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(orgs[0].value) if orgs else None


def verify_chain(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
                 anchor: x509.Certificate, *, now: dt.datetime,
                 purpose: x509.ObjectIdentifier | None = None) -> list[x509.Certificate]:
    """Check leaf <- intermediates <- anchor at ``now``; return the path, leaf first.

    Each link: issuer name equals the signer's subject, the signature verifies with
    the signer's key, the signer is a CA within its path length, and every
    certificate is within its validity. ``purpose`` requires that EKU in the leaf.
    """
    path = [leaf]
    pool = list(intermediates)
    current = leaf
    while current.issuer != anchor.subject:
        nxt = next((c for c in pool if c.subject == current.issuer), None)
        if nxt is None:
            raise NoPathError(f"no issuer for {current.subject.rfc4514_string()} "
                           f"(issued by {current.issuer.rfc4514_string()}) that chains to "
                           f"{anchor.subject.rfc4514_string()}")
        pool.remove(nxt)
        path.append(nxt)
        current = nxt
    path.append(anchor)
    for depth, (child, signer) in enumerate(zip(path, path[1:], strict=False)):
        _check_signer(signer, below=depth)
        try:
            child.verify_directly_issued_by(signer)
        except (ValueError, TypeError) as exc:
            raise NoPathError(f"{child.subject.rfc4514_string()}: not issued by "
                           f"{signer.subject.rfc4514_string()} ({exc})") from None
        except Exception as exc:  # InvalidSignature carries no text
            raise NoPathError(f"{child.subject.rfc4514_string()}: bad signature by "
                           f"{signer.subject.rfc4514_string()} ({type(exc).__name__})") from None
    for cert in path:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise ValidityError(f"{cert.subject.rfc4514_string()}: outside its validity "
                           f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} .. {cert.not_valid_after_utc:%Y-%m-%d %H:%M}"
                           f" at {now:%Y-%m-%d %H:%M}")
    if purpose is not None:
        try:
            ekus = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            ekus = x509.ExtendedKeyUsage([])
        if purpose not in ekus:
            raise PurposeError(f"{leaf.subject.rfc4514_string()}: not for {purpose.dotted_string}")
    return path


def _check_signer(cert: x509.Certificate, *, below: int) -> None:
    """A signer must be a CA whose path length admits ``below`` CAs under it."""
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = x509.BasicConstraints(ca=False, path_length=None)
    if not bc.ca:
        raise NotCaError(f"{cert.subject.rfc4514_string()}: signs certificates but is no CA")
    if bc.path_length is not None and below > bc.path_length:
        raise NotCaError(f"{cert.subject.rfc4514_string()}: path length {bc.path_length} "
                       f"exceeded ({below} CAs below it)")
