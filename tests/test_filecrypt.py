"""Secure-flow config-file protection: round trips, the eMTA's refusals, and OpenSSL's
``enc`` as the independent peer that decrypts what the server serves and encrypts what
the eMTA must read."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pktcable.secure.filecrypt import (
    EncryptAlg,
    FileProtectionError,
    HashOver,
    Padding,
    Protection,
    protect,
    unprotect,
)
from tests.peers import require

# An MTA file's shape: TLV 254 = 1, one SNMP object, TLV 254 = 255.
MTA_FILE = bytes.fromhex("fe0101") + bytes.fromhex("0b0f300d06082b060102010105000402") + b"ab" + bytes.fromhex("fe01ff")
ENCRYPTED = [a for a in EncryptAlg if a is not EncryptAlg.NONE]
OPENSSL_CIPHER = {EncryptAlg.DES64_CBC: "des-cbc", EncryptAlg.T3DES192_CBC: "des-ede3-cbc",
                  EncryptAlg.AES128_CBC: "aes-128-cbc", EncryptAlg.AES256_CBC: "aes-256-cbc"}


def key_for(alg: EncryptAlg, seed: int = 1) -> bytes:
    return hashlib.sha256(bytes([seed, alg])).digest()[:alg.key_octets]


@pytest.mark.parametrize("alg", list(EncryptAlg))
@pytest.mark.parametrize("padding", list(Padding))
@pytest.mark.parametrize("hash_over", list(HashOver))
def test_round_trip(alg: EncryptAlg, padding: Padding, hash_over: HashOver) -> None:
    p = Protection(alg, padding, hash_over)
    key = key_for(alg)
    served = protect(MTA_FILE, key, p)
    assert len(served.data) % alg.block_octets == 0
    if alg is not EncryptAlg.NONE:
        assert MTA_FILE[3:12] not in served.data
    plain = unprotect(served.data, served.config_hash, key, p)
    assert plain.rstrip(b"\0") == MTA_FILE
    if hash_over is HashOver.PLAINTEXT:
        assert served.config_hash == hashlib.sha1(plain).digest()
    else:
        assert served.config_hash == hashlib.sha1(served.data).digest()


@given(st.binary(max_size=300), st.sampled_from(ENCRYPTED))
@settings(max_examples=60, deadline=None)
def test_any_file_round_trips_with_pkcs7(data: bytes, alg: EncryptAlg) -> None:
    key = key_for(alg, 7)
    served = protect(data, key, Protection(alg))
    assert unprotect(served.data, served.config_hash, key, Protection(alg)) == data


def test_the_mta_refuses_a_tampered_file() -> None:
    key = key_for(EncryptAlg.DES64_CBC)
    served = protect(MTA_FILE, key)
    tampered = bytearray(served.data)
    tampered[3] ^= 0x40  # the first block decrypts to garbage, the second changes by one bit
    with pytest.raises(FileProtectionError) as err:
        unprotect(bytes(tampered), served.config_hash, key)
    assert err.value.reason in ("hash-mismatch", "bad-padding")


def test_the_mta_refuses_a_wrong_key_and_a_wrong_hash() -> None:
    key = key_for(EncryptAlg.AES128_CBC)
    p = Protection(EncryptAlg.AES128_CBC)
    served = protect(MTA_FILE, key, p)
    with pytest.raises(FileProtectionError) as err:
        unprotect(served.data, served.config_hash, key_for(EncryptAlg.AES128_CBC, 2), p)
    assert err.value.reason in ("bad-padding", "hash-mismatch")
    with pytest.raises(FileProtectionError) as err:
        unprotect(served.data, hashlib.sha1(b"other").digest(), key, p)
    assert err.value.reason == "hash-mismatch"
    with pytest.raises(FileProtectionError) as err:
        unprotect(served.data, served.config_hash[:16], key, p)
    assert err.value.reason == "bad-hash"


def test_the_mta_refuses_a_plain_file_where_it_expects_an_encrypted_one() -> None:
    key = key_for(EncryptAlg.DES64_CBC)
    odd = MTA_FILE + b"\0"  # 25 octets: not whole DES blocks
    with pytest.raises(FileProtectionError) as err:
        unprotect(odd, hashlib.sha1(odd).digest(), key)
    assert err.value.reason == "not-encrypted"
    with pytest.raises(FileProtectionError) as err:  # 24 octets: "decrypts", to garbage
        unprotect(MTA_FILE, hashlib.sha1(MTA_FILE).digest(), key)
    assert err.value.reason in ("bad-padding", "hash-mismatch")


def test_key_lengths_follow_the_mib() -> None:
    assert [a.key_octets for a in EncryptAlg] == [0, 8, 24, 16, 32]
    with pytest.raises(FileProtectionError, match="8-octet key"):
        protect(MTA_FILE, bytes(16))
    with pytest.raises(FileProtectionError, match="empty key"):
        protect(MTA_FILE, bytes(8), Protection(EncryptAlg.NONE))
    with pytest.raises(FileProtectionError) as err:
        unprotect(MTA_FILE, hashlib.sha1(MTA_FILE).digest(), bytes(8), Protection(EncryptAlg.NONE))
    assert err.value.reason == "bad-key"


def _openssl(alg: EncryptAlg, key: bytes, data: bytes, decrypt: bool, tmp: Path) -> bytes:
    openssl = require("openssl")
    src, dst = tmp / "in.bin", tmp / "out.bin"
    src.write_bytes(data)
    providers = ["-provider", "legacy", "-provider", "default"] if alg is EncryptAlg.DES64_CBC else []
    subprocess.run([openssl, "enc", *providers, *(["-d"] if decrypt else []), f"-{OPENSSL_CIPHER[alg]}",
                    "-K", key.hex(), "-iv", "00" * alg.block_octets, "-in", str(src), "-out", str(dst)],
                   check=True, capture_output=True, timeout=30)
    return dst.read_bytes()


@pytest.mark.parametrize("alg", ENCRYPTED)
def test_openssl_decrypts_what_the_server_serves(alg: EncryptAlg, tmp_path: Path) -> None:
    key = key_for(alg, 3)
    served = protect(MTA_FILE, key, Protection(alg))
    assert _openssl(alg, key, served.data, True, tmp_path) == MTA_FILE


@pytest.mark.parametrize("alg", ENCRYPTED)
def test_the_mta_decrypts_what_openssl_encrypts(alg: EncryptAlg, tmp_path: Path) -> None:
    key = key_for(alg, 4)
    data = _openssl(alg, key, MTA_FILE, False, tmp_path)
    assert unprotect(data, hashlib.sha1(MTA_FILE).digest(), key, Protection(alg)) == MTA_FILE
