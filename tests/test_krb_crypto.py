"""Kerberos encryption through MIT's library: round trips, refusals of tampered data, and
minikerberos (an independent implementation of RFC 3961/3962) as the oracle."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from minikerberos.protocol import encryption  # test extra: the independent implementation

from pktcable.secure import krbcrypto as kc

AES = (kc.AES128_CTS_HMAC_SHA1_96, kc.AES256_CTS_HMAC_SHA1_96)


@settings(max_examples=60, deadline=None)
@given(enctype=st.sampled_from(AES + (kc.AES128_CTS_HMAC_SHA256_128, kc.AES256_CTS_HMAC_SHA384_192)),
       usage=st.integers(1, 30), plain=st.binary(max_size=300))
def test_round_trip_and_refusals(enctype: int, usage: int, plain: bytes) -> None:
    key = kc.random_key(enctype)
    cipher = kc.encrypt(key, usage, plain)
    assert kc.decrypt(key, usage, cipher) == plain
    assert cipher != kc.encrypt(key, usage, plain)  # a fresh confounder each time
    with pytest.raises(kc.KerberosCryptoError):
        kc.decrypt(key, usage + 1, cipher)  # another message's usage
    with pytest.raises(kc.KerberosCryptoError):
        kc.decrypt(kc.random_key(enctype), usage, cipher)  # another key
    flipped = bytearray(cipher)
    flipped[len(flipped) // 2] ^= 1
    with pytest.raises(kc.KerberosCryptoError):
        kc.decrypt(key, usage, bytes(flipped))  # one bit changed on the way


def test_checksums_are_keyed() -> None:
    key = kc.random_key(kc.AES256_CTS_HMAC_SHA1_96)
    kind, value = kc.checksum(key, kc.USAGE_KRB_SAFE_CKSUM, b"MTA-FQDN request")
    assert kind == 16 and len(value) == 12  # hmac-sha1-96-aes256, RFC 3962
    kc.verify_checksum(key, kc.USAGE_KRB_SAFE_CKSUM, b"MTA-FQDN request", kind, value)
    with pytest.raises(kc.KerberosCryptoError, match="does not verify"):
        kc.verify_checksum(key, kc.USAGE_KRB_SAFE_CKSUM, b"MTA-FQDN requesT", kind, value)
    with pytest.raises(kc.KerberosCryptoError, match="does not verify"):
        kc.verify_checksum(kc.random_key(kc.AES256_CTS_HMAC_SHA1_96), kc.USAGE_KRB_SAFE_CKSUM,
                           b"MTA-FQDN request", kind, value)


def test_unknown_enctype_is_an_error_not_a_crash() -> None:
    with pytest.raises(kc.KerberosCryptoError, match="enctype 4242"):
        kc.encrypt(kc.Key(4242, b"\0" * 16), 3, b"x")
    with pytest.raises(kc.KerberosCryptoError):
        kc.decrypt(kc.Key(kc.AES128_CTS_HMAC_SHA1_96, b"\0" * 16), 3, b"short")


@pytest.mark.parametrize("enctype", AES)
def test_minikerberos_reads_ours_and_we_read_its(enctype: int) -> None:
    """An implementation we did not write (pure Python, RFC 3962) agrees with MIT's both ways."""
    key = kc.random_key(enctype)
    theirs = encryption._enctype_table[enctype]
    plain = b"EncASRepPart " * 9
    assert theirs.decrypt(encryption.Key(enctype, key.value), kc.USAGE_AS_REP_ENC_PART,
                          kc.encrypt(key, kc.USAGE_AS_REP_ENC_PART, plain)) == plain
    cipher = theirs.encrypt(encryption.Key(enctype, key.value), kc.USAGE_AP_REP_ENC_PART, plain, os.urandom(16))
    assert kc.decrypt(key, kc.USAGE_AP_REP_ENC_PART, cipher) == plain
