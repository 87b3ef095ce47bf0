"""Config-file protection of the Secure flow (MTA-18/19/23), sans-IO.

In the Secure flow the provisioning server SETs three objects before the eMTA
downloads its file: ``pktcMtaDevProvConfigHash`` (SHA-1, 20 octets),
``pktcMtaDevProvConfigKey`` and, in the IETF tree, ``pktcMtaDevProvConfigEncryptAlg``
(PKTC-IETF-MTA-MIB ``PktcMtaDevProvEncryptAlg``: none(0), des64CbcMode(1),
t3Des192CbcMode(2), aes128CbcMode(3), aes256CbcMode(4); DEFVAL des64CbcMode). The
CableLabs tree has no algorithm object: its key is 0 octets (no encryption) or 8
(DES), following the SNMPv3 privacy the key management chose.

What the MIBs fix: CBC mode, an IV of zero (IETF compliance text for des64CbcMode),
the key lengths. What they leave to the security specification, whose text we could
not read (docs/secure.md, "Config file protection"), is decided here and named so a
lab can switch it:

* ``Padding.PKCS7`` (default): the plaintext is padded to the cipher's block with
  RFC 5652 6.3 padding (1 to 8/16 octets, each the pad's length). It is what
  ``openssl enc`` writes and checks, so an operator can decrypt a served file by hand,
  and a decryption with the wrong key is detected with high probability.
  ``Padding.ZERO``: zero octets up to the block boundary (none when the file already
  ends on one); a config file's parser skips them as pad TLVs after the end marker, so
  they are part of the file: the hash covers them and decryption keeps them.
* ``HashOver.PLAINTEXT`` (default): the SHA-1 is over the file as built (what the
  eMTA parses after decryption): the MIB calls it "the hash value of the contents of
  the configuration file" and, outside SNMP enrollment, the same hash sits inside
  the plaintext file. ``HashOver.CIPHERTEXT``: over the octets served.

Every primitive comes from ``cryptography``; DES is TripleDES with one key repeated
(EDE with K1 = K2 = K3 is single DES), as in :mod:`pktcable.snmp.usm`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum, IntEnum
from hmac import compare_digest

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

HASH_OCTETS = 20  # SHA-1


class EncryptAlg(IntEnum):
    """PktcMtaDevProvEncryptAlg (PKTC-IETF-MTA-MIB)."""

    NONE = 0
    DES64_CBC = 1
    T3DES192_CBC = 2
    AES128_CBC = 3
    AES256_CBC = 4

    @property
    def key_octets(self) -> int:
        return _KEY_OCTETS[self]

    @property
    def block_octets(self) -> int:
        return 1 if self is EncryptAlg.NONE else 16 if self >= EncryptAlg.AES128_CBC else 8


_KEY_OCTETS = {EncryptAlg.NONE: 0, EncryptAlg.DES64_CBC: 8, EncryptAlg.T3DES192_CBC: 24,
               EncryptAlg.AES128_CBC: 16, EncryptAlg.AES256_CBC: 32}


class Padding(Enum):
    PKCS7 = "pkcs7"
    ZERO = "zero"


class HashOver(Enum):
    PLAINTEXT = "plaintext"
    CIPHERTEXT = "ciphertext"


@dataclass(frozen=True, slots=True)
class Protection:
    """How files are protected; the server and the simulated eMTA must agree."""

    alg: EncryptAlg = EncryptAlg.DES64_CBC
    padding: Padding = Padding.PKCS7
    hash_over: HashOver = HashOver.PLAINTEXT


@dataclass(frozen=True, slots=True)
class ProtectedFile:
    """What the server serves (``data``) and SETs (``config_hash``, ``key``)."""

    data: bytes
    config_hash: bytes
    key: bytes
    alg: EncryptAlg


class FileProtectionError(ValueError):
    """A file the eMTA must reject (MTA-23): ``reason`` is a short name for reports."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def _cipher(alg: EncryptAlg, key: bytes) -> Cipher[modes.CBC]:
    if len(key) != alg.key_octets:
        raise FileProtectionError("bad-key", f"{alg.name} takes a {alg.key_octets}-octet key, not {len(key)}")
    iv = bytes(alg.block_octets)  # an IV of zero (PKTC-IETF-MTA-MIB compliance text)
    if alg is EncryptAlg.DES64_CBC:
        return Cipher(TripleDES(key * 3), modes.CBC(iv))
    if alg is EncryptAlg.T3DES192_CBC:
        return Cipher(TripleDES(key), modes.CBC(iv))
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def _run(ctx: CipherContext, data: bytes) -> bytes:
    return ctx.update(data) + ctx.finalize()


def protect(plaintext: bytes, key: bytes, protection: Protection = Protection()) -> ProtectedFile:
    """The served octets and the hash for ``plaintext`` under ``key`` (random octets of
    ``protection.alg.key_octets``, from the caller: this module draws no randomness)."""
    alg = protection.alg
    if alg is EncryptAlg.NONE:
        if key:
            raise FileProtectionError("bad-key", "no encryption takes an empty key")
        data = plaintext
    else:
        block = alg.block_octets
        if protection.padding is Padding.PKCS7:
            n = block - len(plaintext) % block
            padded = plaintext + bytes([n]) * n
        else:
            plaintext = plaintext + bytes(-len(plaintext) % block)
            padded = plaintext
        data = _run(_cipher(alg, key).encryptor(), padded)
    hashed = plaintext if protection.hash_over is HashOver.PLAINTEXT else data
    return ProtectedFile(data, hashlib.sha1(hashed).digest(), key, alg)


def unprotect(data: bytes, config_hash: bytes, key: bytes, protection: Protection = Protection()) -> bytes:
    """The eMTA's side: the plaintext of ``data`` after checking it against the SET hash
    and decrypting with the SET key; FileProtectionError names why a file is refused."""
    if len(config_hash) != HASH_OCTETS:
        raise FileProtectionError("bad-hash", f"pktcMtaDevProvConfigHash has {len(config_hash)} octets, not 20")
    alg = protection.alg
    if protection.hash_over is HashOver.CIPHERTEXT:
        _check_hash(data, config_hash, "the served octets")
    if alg is EncryptAlg.NONE:
        if key:
            raise FileProtectionError("bad-key", "a key was SET but the file is not encrypted")
        plaintext = data
    else:
        block = alg.block_octets
        if not data or len(data) % block:
            raise FileProtectionError("not-encrypted", f"{len(data)} octets is not a whole number of "
                                      f"{block}-octet {alg.name} blocks")
        padded = _run(_cipher(alg, key).decryptor(), data)
        plaintext = _unpad(padded, block, protection.padding)
    if protection.hash_over is HashOver.PLAINTEXT:
        _check_hash(plaintext, config_hash, "the decrypted file")
    return plaintext


def _unpad(padded: bytes, block: int, padding: Padding) -> bytes:
    if padding is Padding.ZERO:
        return padded  # the pad is zero octets the file's parser skips
    n = padded[-1]
    if not 1 <= n <= block or padded[-n:] != bytes([n]) * n:
        raise FileProtectionError("bad-padding", "the decrypted file does not end in valid padding "
                                  "(a wrong key, or a file not encrypted this way)")
    return padded[:-n]


def _check_hash(data: bytes, config_hash: bytes, what: str) -> None:
    digest = hashlib.sha1(data).digest()
    if not compare_digest(digest, config_hash):
        raise FileProtectionError("hash-mismatch", f"SHA-1 of {what} {digest.hex()} differs from the "
                                  f"SET pktcMtaDevProvConfigHash {config_hash.hex()}")
