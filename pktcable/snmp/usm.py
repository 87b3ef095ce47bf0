"""User-based Security Model primitives (RFC 3414, RFC 3826): users, keys, digests, ciphers.

Sans-IO and stateless: every function takes its keys, salts and engine values
as arguments. The protocol state (engine boots and time, salt counters,
statistics, discovery) lives in :mod:`pktcable.snmp.usmengine`.

A :class:`UsmUser` holds LOCALIZED keys: in the PacketCable Secure flow the
keys come from Kerberized key management (derived from the AP-REP subkey for
one device), never from a password, so there is nothing to localize.
:func:`password_to_key` and :func:`localize_key` (RFC 3414 A.2) serve users
who configure passwords and the RFC's test vectors.

Every primitive comes from ``cryptography``: HMAC-MD5/SHA-1, DES-CBC (as
TripleDES with one key repeated three times: EDE with K1 = K2 = K3 is single
DES, and ``cryptography`` deprecates 8-byte TripleDES keys) and AES-128-CFB
(CFB from ``cryptography``'s decrepit modules, where it moved: RFC 3826 fixes it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from hmac import compare_digest

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.hmac import HMAC

#: RFC 3414 12.6: the HMAC-*-96 digests are truncated to 12 octets.
DIGEST_LENGTH = 12
#: RFC 3414 A.2.1/A.2.2: the password is repeated to fill one megabyte before hashing.
PASSWORD_EXPANSION = 1_048_576
#: RFC 3411 SnmpEngineID: 5 to 32 octets; RFC 3414: usmUserName at most 32 octets.
ENGINE_ID_SIZES = range(5, 33)
MAX_USER_NAME = 32


#: IANA enterprise number of CableLabs: the default enterprise of the engine IDs we make.
CABLELABS_ENTERPRISE = 4491


class EngineIdFormat(Enum):
    """RFC 3411 SnmpEngineID formats (first bit set: enterprise number, format, data)."""

    IPV4 = 1
    IPV6 = 2
    MAC = 3
    TEXT = 4
    OCTETS = 5


def make_engine_id(fmt: EngineIdFormat, data: bytes, enterprise: int = CABLELABS_ENTERPRISE) -> bytes:
    """An RFC 3411 engine ID: 0x80000000 | enterprise, the format octet, the data. An eMTA's
    comes from its SA (key management's application data); this makes one for an engine
    of ours (a simulated eMTA: its MAC; the provisioning server: its address)."""
    if not 0 < enterprise < 2**31:
        raise UsmKeyError(f"an enterprise number is 1..2^31-1, not {enterprise}")
    engine_id = (0x80000000 | enterprise).to_bytes(4, "big") + bytes((fmt.value,)) + data
    if len(engine_id) not in ENGINE_ID_SIZES:
        raise UsmKeyError(f"an snmpEngineID has 5 to 32 octets, not {len(engine_id)}")
    return engine_id


class AuthProtocol(Enum):
    """usmUserAuthProtocol; the value is the hash's name (RFC 3414 6 and 7)."""

    NONE = "none"
    HMAC_MD5_96 = "md5"
    HMAC_SHA_96 = "sha1"

    @property
    def key_length(self) -> int:
        """Octets of a localized key: the hash's output (RFC 3414 6.2.1, 7.2.1)."""
        return {"none": 0, "md5": 16, "sha1": 20}[self.value]


class PrivProtocol(Enum):
    """usmUserPrivProtocol: CBC-DES (RFC 3414 8) and, as an extra, CFB128-AES-128 (RFC 3826)."""

    NONE = "none"
    DES = "des"
    AES_128 = "aes128"

    @property
    def key_length(self) -> int:
        """Octets of the localized privKey used: DES key + pre-IV, or the AES key."""
        return {"none": 0, "des": 16, "aes128": 16}[self.value]


def _hash(protocol: AuthProtocol) -> hashes.HashAlgorithm:
    if protocol is AuthProtocol.HMAC_MD5_96:
        return hashes.MD5()
    if protocol is AuthProtocol.HMAC_SHA_96:
        return hashes.SHA1()
    raise ValueError("no hash without an authentication protocol")


class UsmKeyError(ValueError):
    """A user record the USM cannot use (wrong key length, a name too long...)."""


@dataclass(frozen=True, slots=True)
class UsmUser:
    """One usmUserEntry as the security model needs it, with LOCALIZED keys.

    ``engine_id`` is the authoritative engine the keys are localized to: the
    agent's own for GET/SET, the notification receiver's for INFORMs; empty
    means "the engine discovery finds" (an INFORM sender's user before it
    knows the receiver). An SA from key management gives one pair of keys,
    used as they are (docs/secure.md, "SNMPv3")."""

    name: bytes
    engine_id: bytes
    auth: AuthProtocol = AuthProtocol.NONE
    auth_key: bytes = b""
    priv: PrivProtocol = PrivProtocol.NONE
    priv_key: bytes = b""

    def __post_init__(self) -> None:
        if len(self.name) > MAX_USER_NAME:
            raise UsmKeyError(f"usmUserName is at most {MAX_USER_NAME} octets, not {len(self.name)}")
        if self.engine_id and len(self.engine_id) not in ENGINE_ID_SIZES:
            raise UsmKeyError(f"an snmpEngineID has 5 to 32 octets, not {len(self.engine_id)}")
        if len(self.auth_key) != self.auth.key_length:
            raise UsmKeyError(f"{self.auth.name} needs a {self.auth.key_length}-octet localized authKey, "
                              f"not {len(self.auth_key)}")
        if self.priv is not PrivProtocol.NONE and self.auth is AuthProtocol.NONE:
            raise UsmKeyError("privacy without authentication is not a USM security level (RFC 3414 3.1.1)")
        # A SHA-1 localized privKey has 20 octets; DES and AES-128 use its first 16 (RFC 3414 8.1.1.1,
        # RFC 3826 3.1.2.1).
        if len(self.priv_key) < self.priv.key_length or (self.priv is PrivProtocol.NONE and self.priv_key):
            raise UsmKeyError(f"{self.priv.name} needs a localized privKey of at least "
                              f"{self.priv.key_length} octets, not {len(self.priv_key)}")

    @classmethod
    def from_passwords(cls, name: bytes, engine_id: bytes, auth: AuthProtocol, auth_password: bytes,
                       priv: PrivProtocol = PrivProtocol.NONE, priv_password: bytes = b"") -> UsmUser:
        """A user configured with passwords: keys made and localized per RFC 3414 A.2
        (the privKey with the authentication protocol's hash, RFC 3414 8.1.1.1)."""
        auth_key = localize_key(auth, password_to_key(auth, auth_password), engine_id)
        priv_key = b"" if priv is PrivProtocol.NONE else \
            localize_key(auth, password_to_key(auth, priv_password), engine_id)
        return cls(name, engine_id, auth, auth_key, priv, priv_key)

    def at_engine(self, engine_id: bytes) -> UsmUser:
        """The same keys, for ``engine_id`` (an SA's keys at the eMTA's or the server's engine)."""
        return replace(self, engine_id=engine_id)

    @property
    def level(self) -> tuple[bool, bool]:
        """(authenticates, encrypts): the highest securityLevel the user supports."""
        return self.auth is not AuthProtocol.NONE, self.priv is not PrivProtocol.NONE


def password_to_key(protocol: AuthProtocol, password: bytes) -> bytes:
    """RFC 3414 A.2.1/A.2.2: the hash of the password repeated to one megabyte (Ku)."""
    if not password:
        raise UsmKeyError("an empty password makes no key")
    digest = hashes.Hash(_hash(protocol))
    block = password * (64 // len(password) + 2)
    # Feed 64-octet chunks that continue the repetition where the last one stopped.
    for offset in range(0, PASSWORD_EXPANSION, 64):
        start = offset % len(password)
        digest.update(block[start : start + 64])
    return digest.finalize()


def localize_key(protocol: AuthProtocol, key: bytes, engine_id: bytes) -> bytes:
    """RFC 3414 2.6 / A.2: Kul = H(Ku || snmpEngineID || Ku)."""
    digest = hashes.Hash(_hash(protocol))
    digest.update(key + engine_id + key)
    return digest.finalize()


def sign(protocol: AuthProtocol, key: bytes, whole_message: bytes) -> bytes:
    """msgAuthenticationParameters (RFC 3414 6.3.1/7.3.1): the first 12 octets of
    HMAC over the whole message, its own 12 octets zeroed while computing."""
    mac = HMAC(key, _hash(protocol))
    mac.update(whole_message)
    return mac.finalize()[:DIGEST_LENGTH]


def digest_matches(protocol: AuthProtocol, key: bytes, zeroed_message: bytes, received: bytes) -> bool:
    """Constant-time comparison of a received digest with the one computed."""
    return compare_digest(sign(protocol, key, zeroed_message), received)


class DecryptionError(ValueError):
    """An encryptedPDU that cannot be decrypted (RFC 3414 8.3.2: usmStatsDecryptionErrors)."""


def _des(priv_key: bytes, salt: bytes) -> Cipher[modes.CBC]:
    # RFC 3414 8.1.1.1: the DES key is the first 8 octets of the privKey, the pre-IV the next
    # 8; the IV is the pre-IV XOR the salt (msgPrivacyParameters).
    iv = (int.from_bytes(priv_key[8:16], "big") ^ int.from_bytes(salt, "big")).to_bytes(8, "big")
    return Cipher(TripleDES(priv_key[:8] * 3), modes.CBC(iv))


def _aes(priv_key: bytes, boots: int, time: int, salt: bytes) -> Cipher[CFB]:
    # RFC 3826 3.1.2.1: IV = snmpEngineBoots || snmpEngineTime || the 64-bit salt, of the
    # authoritative engine as the message's security parameters carry them.
    iv = boots.to_bytes(4, "big") + time.to_bytes(4, "big") + salt
    return Cipher(algorithms.AES(priv_key[:16]), CFB(iv))


def encrypt(protocol: PrivProtocol, priv_key: bytes, plaintext: bytes, *, salt: bytes,
            boots: int, time: int) -> bytes:
    """The encryptedPDU octets of a serialized ScopedPDU. ``salt``: 8 octets made by the
    caller (DES: boots || a local counter; AES: a 64-bit counter), sent as msgPrivacyParameters."""
    if len(salt) != 8:
        raise ValueError("the privacy salt has 8 octets")
    if protocol is PrivProtocol.DES:
        # RFC 3414 8.1.1.2: padded to a multiple of 8; the padding is ignored by the receiver
        # (the ScopedPDU's own length says where it ends).
        padded = plaintext + b"\0" * (-len(plaintext) % 8)
        enc = _des(priv_key, salt).encryptor()
        return enc.update(padded) + enc.finalize()
    if protocol is PrivProtocol.AES_128:
        enc = _aes(priv_key, boots, time, salt).encryptor()
        return enc.update(plaintext) + enc.finalize()
    raise ValueError("no encryption without a privacy protocol")


def decrypt(protocol: PrivProtocol, priv_key: bytes, ciphertext: bytes, *, salt: bytes,
            boots: int, time: int) -> bytes:
    """The plaintext of an encryptedPDU, or :class:`DecryptionError`. A wrong key is not
    seen here (the cipher has no integrity): it shows as a ScopedPDU that does not parse."""
    if len(salt) != 8:
        raise DecryptionError(f"msgPrivacyParameters has {len(salt)} octets, not 8")
    if protocol is PrivProtocol.DES:
        if len(ciphertext) % 8:
            raise DecryptionError(f"a DES encryptedPDU is a multiple of 8 octets, not {len(ciphertext)}")
        dec = _des(priv_key, salt).decryptor()
    elif protocol is PrivProtocol.AES_128:
        dec = _aes(priv_key, boots, time, salt).decryptor()
    else:
        raise DecryptionError("an encrypted message for a user without privacy")
    return dec.update(ciphertext) + dec.finalize()
