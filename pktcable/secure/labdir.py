"""A lab PKI on disk: one folder of PEM files that ``pktcable pki`` makes and the
KDC, the key management and the simulator read.

Layout::

    pki.json                      realm, organization, FQDNs, key size, digest
    <profile>.pem / <profile>.key  one per CA and server profile of pki.PROFILES
    devices/<mac>.pem / .key       MTA device certificates, mac as 12 hex digits

Private keys are written unencrypted with mode 0600 (a lab, not an HSM); a
file is written to a temporary name and renamed, so a crash never leaves half
a key behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pktcable.compiling import write_all

from . import pki
from .pki import Issued, PkiError

INDEX = "pki.json"
DEVICES = "devices"


@dataclass(frozen=True)
class LabSettings:
    realm: str
    organization: str
    kdc_fqdn: str
    prov_fqdn: str
    manufacturer: str = "pktcable lab manufacturer"
    key_size: int = 2048
    digest: str = "sha256"

    def check(self) -> None:
        if not self.realm or self.realm != self.realm.upper():
            raise PkiError(f"realm {self.realm!r}: PacketCable realms are upper case (option 122.6)")
        for label, value in (("organization", self.organization), ("kdc-fqdn", self.kdc_fqdn),
                             ("prov-fqdn", self.prov_fqdn), ("manufacturer", self.manufacturer)):
            if not value or len(value) > 64:
                raise PkiError(f"{label} {value!r}: 1 to 64 characters")
        if self.key_size not in pki.KEY_SIZES:
            raise PkiError(f"key size {self.key_size}: use one of {', '.join(map(str, pki.KEY_SIZES))}")
        if self.digest not in pki.DIGESTS:
            raise PkiError(f"digest {self.digest}: use one of {', '.join(pki.DIGESTS)}")


class LabPki:
    """The hierarchy in one folder: create it once, then issue and import devices."""

    def __init__(self, folder: Path, settings: LabSettings) -> None:
        self.folder = folder
        self.settings = settings
        self._cache: dict[str, Issued] = {}

    # -- making -----------------------------------------------------------------------------
    @classmethod
    def create(cls, folder: Path, settings: LabSettings, *, now: dt.datetime) -> LabPki:
        settings.check()
        if (folder / INDEX).exists():
            raise PkiError(f"{folder}: already holds a PKI ({INDEX}); use another folder")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / DEVICES).mkdir(exist_ok=True)
        lab = cls(folder, settings)
        s = settings
        plan: list[tuple[str, x509.Name, list[x509.GeneralName]]] = [
            ("mta-root", pki.name("CableLabs-compatible lab", "MTA Root CA"), []),
            ("mta-manufacturer", pki.name(s.manufacturer, f"{s.manufacturer} MTA Manufacturer CA",
                                          unit="Lab"), []),
            ("sp-root", pki.name(s.organization, "IP Telephony Service Provider Root CA"), []),
            ("sp-ca", pki.name(s.organization, "Service Provider CA"), []),
            ("kdc", pki.name(s.organization, s.kdc_fqdn), pki.kdc_alt_names(s.realm, s.kdc_fqdn)),
            ("prov-server", pki.name(s.organization, s.prov_fqdn), [x509.DNSName(s.prov_fqdn)]),
            ("cvc-root", pki.name("CableLabs-compatible lab", "Code Verification Root CA"), []),
            ("manufacturer-cvc", pki.name(s.manufacturer, f"{s.manufacturer} Mfg CVC"), []),
            ("cosigner-cvc", pki.name(s.organization, f"{s.organization} Co-signer CVC"), []),
        ]
        for profile, subject, alt in plan:
            parent = pki.PROFILES[profile].issuer
            issued = pki.issue(profile, subject, pki.new_key(s.key_size), now=now,
                               serial=x509.random_serial_number(),
                               issuer=lab.get(parent) if parent else None, digest=s.digest, alt_names=alt)
            lab._write(profile, issued)
        _atomic(folder / INDEX, json.dumps(asdict(settings), indent=2).encode() + b"\n", 0o644)
        return lab

    @classmethod
    def open(cls, folder: Path) -> LabPki:
        try:
            data = json.loads((folder / INDEX).read_text())
            settings = LabSettings(**data)
        except FileNotFoundError:
            raise PkiError(f"{folder}: no PKI here ({INDEX} missing); make one with `pktcable pki init`") from None
        except (ValueError, TypeError) as exc:
            raise PkiError(f"{folder / INDEX}: not a PKI index ({exc})") from None
        return cls(folder, settings)

    def issue_device(self, mac: bytes, *, now: dt.datetime) -> Issued:
        """An MTA device certificate for ``mac``, signed by the lab's manufacturer CA."""
        issued = pki.issue("mta-device", pki.name(self.settings.manufacturer, pki.mac_text(mac), unit="eMTA"),
                           pki.new_key(self.settings.key_size), now=now, serial=x509.random_serial_number(),
                           issuer=self.get("mta-manufacturer"), digest=self.settings.digest)
        self._write_device(mac, issued.certificate, issued.key)
        return issued

    def import_device(self, cert: x509.Certificate, key: rsa.RSAPrivateKey | None, *,
                      now: dt.datetime, manufacturer_cas: Iterable[x509.Certificate] = ()) -> bytes:
        """Take a device certificate made elsewhere; it must chain to this lab's MTA Root
        (through this lab's manufacturer CA or one given) and match its key."""
        intermediates = [self.get("mta-manufacturer").certificate, *manufacturer_cas]
        pki.verify_chain(cert, intermediates, self.get("mta-root").certificate, now=now)
        mac = pki.device_mac(cert)
        if key is not None and key.public_key().public_numbers() != _rsa_numbers(cert):
            raise PkiError(f"{pki.mac_text(mac)}: the key does not belong to the certificate")
        self._write_device(mac, cert, key)
        return mac

    # -- reading ----------------------------------------------------------------------------
    def get(self, profile: str) -> Issued:
        if profile not in self._cache:
            cert = _load_cert(self.folder / f"{profile}.pem")
            key = _load_key(self.folder / f"{profile}.key")
            self._cache[profile] = Issued(profile, cert, key)
        return self._cache[profile]

    def device(self, mac: bytes, *, check_key: bool = True) -> Issued:
        """The device certificate and key of ``mac``. ``check_key=False`` skips OpenSSL's
        consistency check of the RSA key on load, which costs milliseconds per key: for a
        simulator playing thousands of the lab's own devices, whose keys it signs with
        (a broken key only makes its own signatures fail, which the KDC reports)."""
        stem = self.folder / DEVICES / mac.hex()
        return Issued("mta-device", _load_cert(stem.with_suffix(".pem")),
                      _load_key(stem.with_suffix(".key"), check=check_key))

    def devices(self) -> Iterator[bytes]:
        for path in sorted((self.folder / DEVICES).glob("*.pem")):
            try:
                yield bytes.fromhex(path.stem)
            except ValueError:
                continue

    # -- files ------------------------------------------------------------------------------
    def _write(self, profile: str, issued: Issued) -> None:
        _atomic(self.folder / f"{profile}.key", _key_pem(issued.key), 0o600)
        _atomic(self.folder / f"{profile}.pem", issued.certificate.public_bytes(serialization.Encoding.PEM), 0o644)
        self._cache[profile] = issued

    def _write_device(self, mac: bytes, cert: x509.Certificate, key: rsa.RSAPrivateKey | None) -> None:
        stem = self.folder / DEVICES / mac.hex()
        if key is not None:
            _atomic(stem.with_suffix(".key"), _key_pem(key), 0o600)
        _atomic(stem.with_suffix(".pem"), cert.public_bytes(serialization.Encoding.PEM), 0o644)


def read_pem_bundle(data: bytes, source: str) -> tuple[list[x509.Certificate], list[rsa.RSAPrivateKey]]:
    """Certificates and RSA keys of one PEM file (a device's cert + key, or a bundle)."""
    certs: list[x509.Certificate] = []
    keys: list[rsa.RSAPrivateKey] = []
    for block in _pem_blocks(data):
        try:
            if b"CERTIFICATE-----" in block.splitlines()[0]:
                certs.append(x509.load_pem_x509_certificate(block))
            elif b"PRIVATE KEY-----" in block.splitlines()[0]:
                key = serialization.load_pem_private_key(block, password=None)
                if not isinstance(key, rsa.RSAPrivateKey):
                    raise PkiError(f"{source}: a {type(key).__name__} key; PacketCable device keys are RSA")
                keys.append(key)
        except ValueError as exc:
            raise PkiError(f"{source}: unreadable PEM block ({exc})") from None
    if not certs:
        raise PkiError(f"{source}: no certificate in it")
    return certs, keys


def _pem_blocks(data: bytes) -> Iterator[bytes]:
    start = 0
    while (begin := data.find(b"-----BEGIN ", start)) >= 0:
        end = data.find(b"-----END ", begin)
        stop = data.find(b"-----", end + 9) if end >= 0 else -1
        if stop < 0:
            raise PkiError("a PEM block without its END line")
        yield data[begin:stop + 5]
        start = stop + 5


def _rsa_numbers(cert: x509.Certificate) -> rsa.RSAPublicNumbers:
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise PkiError(f"{cert.subject.rfc4514_string()}: not an RSA key")
    return public.public_numbers()


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise PkiError(f"{path}: missing") from None
    except ValueError as exc:
        raise PkiError(f"{path}: not a PEM certificate ({exc})") from None


def _load_key(path: Path, check: bool = True) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None,
                                                 unsafe_skip_rsa_key_validation=not check)
    except FileNotFoundError:
        raise PkiError(f"{path}: missing") from None
    except (ValueError, TypeError) as exc:
        raise PkiError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PkiError(f"{path}: not an RSA key")
    return key


def _atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)
