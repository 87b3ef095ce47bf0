"""Kerberos encryption and checksums (RFC 3961 profiles) from MIT krb5's library.

The Kerberos encryption types are constructions of their own (n-fold key
derivation, AES in CBC with ciphertext stealing, truncated HMACs; RFC 3961,
3962, 8009) that ``cryptography`` does not offer. Rather than write them, this
module calls MIT krb5's public C API (``krb5_c_encrypt``, ``krb5_c_decrypt``,
``krb5_c_make_checksum``, ``krb5_c_verify_checksum``, ``krb5_c_make_random_key``)
in ``libkrb5.so.3`` (Debian package libkrb5-3) through ctypes: the reference
implementation, 9x faster than the pure-Python alternative measured
(docs/secure.md, "Libraries"). The structures below are krb5.h's public ones.

Everything is a pure function of its arguments (plus the library's own
randomness for confounders and keys): no files, sockets or global settings.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass
from typing import Any

#: RFC 3961 section 8 / RFC 8009: the encryption types the Secure flow may negotiate.
AES128_CTS_HMAC_SHA1_96 = 17
AES256_CTS_HMAC_SHA1_96 = 18
AES128_CTS_HMAC_SHA256_128 = 19
AES256_CTS_HMAC_SHA384_192 = 20
DES3_CBC_SHA1 = 16
ENCTYPES = {AES128_CTS_HMAC_SHA1_96: "aes128-cts-hmac-sha1-96", AES256_CTS_HMAC_SHA1_96: "aes256-cts-hmac-sha1-96",
            AES128_CTS_HMAC_SHA256_128: "aes128-cts-hmac-sha256-128",
            AES256_CTS_HMAC_SHA384_192: "aes256-cts-hmac-sha384-192", DES3_CBC_SHA1: "des3-cbc-sha1"}

#: RFC 4120 section 7.5.1: key usage numbers of the messages the Secure flow protects.
USAGE_AS_REP_ENC_PART = 3
USAGE_TICKET = 2
USAGE_TGS_REP_ENC_PART_SESSION = 8
USAGE_AP_REQ_AUTHENTICATOR = 11
USAGE_AP_REP_ENC_PART = 12
USAGE_KRB_SAFE_CKSUM = 15


class KerberosCryptoError(Exception):
    """Decryption or checksum failure (wrong key, wrong usage, tampered data), or no library."""


@dataclass(frozen=True)
class Key:
    enctype: int
    value: bytes


class _Data(ctypes.Structure):
    _fields_ = [("magic", ctypes.c_int32), ("length", ctypes.c_uint), ("data", ctypes.c_void_p)]


class _KeyBlock(ctypes.Structure):
    _fields_ = [("magic", ctypes.c_int32), ("enctype", ctypes.c_int32), ("length", ctypes.c_uint),
                ("contents", ctypes.c_void_p)]


class _EncData(ctypes.Structure):
    _fields_ = [("magic", ctypes.c_int32), ("enctype", ctypes.c_int32), ("kvno", ctypes.c_uint), ("ciphertext", _Data)]


class _Checksum(ctypes.Structure):
    _fields_ = [("magic", ctypes.c_int32), ("checksum_type", ctypes.c_int32), ("length", ctypes.c_uint),
                ("contents", ctypes.c_void_p)]


class _Library:
    """libkrb5 and one context (MIT's crypto functions are thread-safe with a shared context)."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("krb5") or "libkrb5.so.3"
        try:
            self.lib: Any = ctypes.CDLL(name)
        except OSError as exc:
            raise KerberosCryptoError(f"MIT krb5's library is missing ({name}: {exc}); install libkrb5-3") from None
        self.ctx = ctypes.c_void_p()
        rc = self.lib.krb5_init_context(ctypes.byref(self.ctx))
        if rc:
            raise KerberosCryptoError(f"krb5_init_context failed ({rc})")
        self.lib.krb5_get_error_message.restype = ctypes.c_void_p

    def check(self, rc: int, what: str) -> None:
        if rc:
            ptr = self.lib.krb5_get_error_message(self.ctx, ctypes.c_int32(rc))
            text = ctypes.string_at(ptr).decode(errors="replace") if ptr else str(rc)
            if ptr:
                self.lib.krb5_free_error_message(self.ctx, ctypes.c_void_p(ptr))
            raise KerberosCryptoError(f"{what}: {text}")


_lock = threading.Lock()
_library: _Library | None = None


def _lib() -> _Library:
    global _library
    with _lock:
        if _library is None:
            _library = _Library()
        return _library


def _keyblock(key: Key) -> tuple[_KeyBlock, Any]:
    buf = ctypes.create_string_buffer(key.value, len(key.value))
    return _KeyBlock(0, key.enctype, len(key.value), ctypes.cast(buf, ctypes.c_void_p)), buf


def _data(data: bytes) -> tuple[_Data, Any]:
    buf = ctypes.create_string_buffer(data, max(len(data), 1))
    return _Data(0, len(data), ctypes.cast(buf, ctypes.c_void_p)), buf


def encrypt(key: Key, usage: int, plaintext: bytes) -> bytes:
    """The ``cipher`` of an EncryptedData: confounder, data and integrity check, per the key's enctype."""
    lib = _lib()
    size = ctypes.c_size_t()
    lib.check(lib.lib.krb5_c_encrypt_length(lib.ctx, ctypes.c_int32(key.enctype), ctypes.c_size_t(len(plaintext)),
                                            ctypes.byref(size)), f"enctype {key.enctype}")
    block, kbuf = _keyblock(key)
    data, dbuf = _data(plaintext)
    out = ctypes.create_string_buffer(size.value)
    enc = _EncData(0, key.enctype, 0, _Data(0, size.value, ctypes.cast(out, ctypes.c_void_p)))
    lib.check(lib.lib.krb5_c_encrypt(lib.ctx, ctypes.byref(block), ctypes.c_int32(usage), None, ctypes.byref(data),
                                     ctypes.byref(enc)), f"encrypt ({ENCTYPES.get(key.enctype, key.enctype)})")
    return out.raw[:enc.ciphertext.length]


def decrypt(key: Key, usage: int, ciphertext: bytes) -> bytes:
    """The plaintext of an EncryptedData's cipher; KerberosCryptoError when the key, the usage or
    the data is not what it was encrypted with (the integrity check fails)."""
    lib = _lib()
    block, kbuf = _keyblock(key)
    cipher, cbuf = _data(ciphertext)
    enc = _EncData(0, key.enctype, 0, cipher)
    out = ctypes.create_string_buffer(max(len(ciphertext), 1))
    plain = _Data(0, len(ciphertext), ctypes.cast(out, ctypes.c_void_p))
    lib.check(lib.lib.krb5_c_decrypt(lib.ctx, ctypes.byref(block), ctypes.c_int32(usage), None, ctypes.byref(enc),
                                     ctypes.byref(plain)), "decrypt")
    return out.raw[:plain.length]


def random_key(enctype: int) -> Key:
    """A fresh session key or subkey of ``enctype`` from the library's random source."""
    lib = _lib()
    block = _KeyBlock()
    lib.check(lib.lib.krb5_c_make_random_key(lib.ctx, ctypes.c_int32(enctype), ctypes.byref(block)),
              f"random key of enctype {enctype}")
    try:
        return Key(enctype, ctypes.string_at(block.contents, block.length))
    finally:
        lib.lib.krb5_free_keyblock_contents(lib.ctx, ctypes.byref(block))


def key_lengths(enctype: int) -> tuple[int, int]:
    """(random bytes the enctype's random-to-key takes, bytes of its key), RFC 3961 section 3."""
    lib = _lib()
    nbytes, length = ctypes.c_size_t(), ctypes.c_size_t()
    lib.check(lib.lib.krb5_c_keylengths(lib.ctx, ctypes.c_int32(enctype), ctypes.byref(nbytes), ctypes.byref(length)),
              f"enctype {enctype}")
    return nbytes.value, length.value


def random_to_key(enctype: int, data: bytes) -> Key:
    """RFC 3961 random-to-key: a key of ``enctype`` from exactly :func:`key_lengths`[0]
    bytes. A KDC makes its session keys from the random bytes it is given (sans-IO, so
    tests can fix them), and PKINIT's Diffie-Hellman reply key ends with this step."""
    lib = _lib()
    nbytes, length = key_lengths(enctype)
    if len(data) != nbytes:
        raise KerberosCryptoError(f"random-to-key for enctype {enctype} takes {nbytes} bytes, not {len(data)}")
    inp, ibuf = _data(data)
    out = ctypes.create_string_buffer(length)
    block = _KeyBlock(0, enctype, length, ctypes.cast(out, ctypes.c_void_p))
    lib.check(lib.lib.krb5_c_random_to_key(lib.ctx, ctypes.c_int32(enctype), ctypes.byref(inp), ctypes.byref(block)),
              f"random-to-key ({ENCTYPES.get(enctype, enctype)})")
    return Key(enctype, out.raw[:block.length])


def checksum(key: Key, usage: int, data: bytes, cksumtype: int = 0) -> tuple[int, bytes]:
    """(checksum type, checksum) keyed with ``key``; type 0: the enctype's mandatory one."""
    lib = _lib()
    block, kbuf = _keyblock(key)
    inp, ibuf = _data(data)
    out = _Checksum()
    lib.check(lib.lib.krb5_c_make_checksum(lib.ctx, ctypes.c_int32(cksumtype), ctypes.byref(block),
                                           ctypes.c_int32(usage), ctypes.byref(inp), ctypes.byref(out)), "checksum")
    try:
        return out.checksum_type, ctypes.string_at(out.contents, out.length)
    finally:
        lib.lib.krb5_free_checksum_contents(lib.ctx, ctypes.byref(out))


def verify_checksum(key: Key, usage: int, data: bytes, cksumtype: int, value: bytes) -> None:
    """KerberosCryptoError unless ``value`` is the keyed checksum of ``data``."""
    lib = _lib()
    block, kbuf = _keyblock(key)
    inp, ibuf = _data(data)
    vbuf = ctypes.create_string_buffer(value, max(len(value), 1))
    given = _Checksum(0, cksumtype, len(value), ctypes.cast(vbuf, ctypes.c_void_p))
    valid = ctypes.c_uint(0)
    lib.check(lib.lib.krb5_c_verify_checksum(lib.ctx, ctypes.byref(block), ctypes.c_int32(usage), ctypes.byref(inp),
                                             ctypes.byref(given), ctypes.byref(valid)), "verify checksum")
    if not valid.value:
        raise KerberosCryptoError("checksum does not verify (wrong key, usage or data)")
