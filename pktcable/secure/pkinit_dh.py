"""PKINIT's Diffie-Hellman reply (RFC 4556 section 3.2.3.1), the KDC's side.

The client sends its public value with the group's domain parameters in the
AuthPack's ``clientPublicValue``; the KDC answers with its own public value in a
KDCDHKeyInfo it signs, and both derive the reply key from the shared secret with
RFC 4556's octetstring2key. The arithmetic is ``cryptography``'s (finite-field
DH); the one construction RFC 4556 defines itself — a SHA-1 counter over the
secret, truncated, then the enctype's random-to-key from MIT's library — is the
only code here that touches key material.

Only well-known groups are accepted: a client-chosen prime would have to be
checked for primality and safety at every request (costly, and a way to make a
KDC work for nothing). The table holds RFC 3526's 2,048-bit MODP group 14, the
group MIT kinit uses by default (pkinit_dh_min_bits = 2048).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from asn1crypto import core, keys
from cryptography.hazmat.primitives.asymmetric import dh
from cryptography.utils import CryptographyDeprecationWarning

from . import krbcrypto, pkinit

#: RFC 3526 section 3: the 2,048-bit MODP group (g = 2), q = (p - 1) / 2.
MODP_2048_P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF", 16)
GROUPS: dict[str, tuple[int, int, int]] = {"modp2048": (MODP_2048_P, 2, (MODP_2048_P - 1) // 2)}

Sign = Callable[[str, bytes], bytes]


@contextmanager
def ffdh() -> Iterator[None]:
    """``cryptography`` 46+ marks finite-field DH deprecated. RFC 4556's DH mode is FFDH
    and MIT kinit's default, so the KDC keeps it, quietly; when the library drops it,
    RSA mode stays (and RFC 5349's ECDH would be the successor)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        yield


class DhRefusal(ValueError):
    """Domain parameters or a public value the KDC does not take."""


def accepted_parameters() -> bytes:
    """TD-DH-PARAMETERS' value (RFC 4556 3.2.2): the groups this KDC takes, as a
    SEQUENCE OF AlgorithmIdentifier with dhpublicnumber and the domain parameters."""
    ids = [{"algorithm": "dh", "parameters": keys.DomainParameters({"p": p, "g": g, "q": q})}
           for p, g, q in GROUPS.values()]
    return bytes(_AlgorithmIdentifiers(ids).dump())


class _AlgorithmIdentifiers(core.SequenceOf):
    _child_spec = keys.PublicKeyAlgorithm


def client_public(pack: Any) -> tuple[dh.DHParameterNumbers, int]:
    """The client's group (one of :data:`GROUPS`) and public value y, checked."""
    info = pack["clientPublicValue"]
    try:
        if info["algorithm"]["algorithm"].native != "dh":
            raise DhRefusal(f"clientPublicValue is {info['algorithm']['algorithm'].native}, not dhpublicnumber")
        params = info["algorithm"]["parameters"].native
        y = info["public_key"].parsed.native
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DhRefusal(f"clientPublicValue: {exc}") from None
    group = (params["p"], params["g"], params["q"]) if isinstance(params, dict) else None
    if group not in GROUPS.values() or group is None:
        raise DhRefusal("the client's Diffie-Hellman group is not one this KDC takes (RFC 3526 group 14)")
    p, g, q = group
    # A value outside the prime-order subgroup would leak bits of the KDC's key. Every
    # accepted group is a safe prime (p = 2q + 1), whose only small subgroups are {1}
    # and {1, p - 1}: excluding those values is the whole check (RFC 7919 section 5.1).
    if not isinstance(y, int) or not 1 < y < p - 1:
        raise DhRefusal("the client's public value is 0, 1, p - 1 or outside the group")
    with ffdh():
        return dh.DHParameterNumbers(p, g, q), y


def octetstring2key(secret: bytes, enctype: int) -> krbcrypto.Key:
    """RFC 4556 3.2.3.1: SHA-1 over a one-octet counter and the secret, the outputs
    concatenated and cut to the enctype's random-to-key input, then random-to-key."""
    need = krbcrypto.key_lengths(enctype)[0]
    out = b""
    counter = 0
    while len(out) < need:
        out += hashlib.sha1(bytes([counter]) + secret).digest()  # noqa: S324 - RFC 4556 names SHA-1
        counter += 1
    return krbcrypto.random_to_key(enctype, out[:need])


def reply(pack: Any, enctype: int, sign: Sign, body: Any) -> tuple[krbcrypto.Key, bytes]:
    """(reply key, PA-PK-AS-REP value) for a Diffie-Hellman AuthPack.

    The KDC's ephemeral key is fresh for every reply (no dhKeyExpiration, no reuse),
    so no serverDHNonce is needed; no clientDHNonce is taken into the key either,
    for the same reason (RFC 4556 3.2.3.1 makes the nonces a device of key reuse).
    No RFC 8636 KDF is chosen: the reply names none and both sides use
    octetstring2key, which RFC 8636 keeps as the default. The KDC's private value comes
    from ``cryptography``'s generator (its DH API takes no caller randomness)."""
    numbers, y = client_public(pack)
    if pack["clientDHNonce"].native is not None:
        raise DhRefusal("clientDHNonce is for DH key reuse, which this KDC does not do; send none")
    with ffdh():
        private = numbers.parameters().generate_private_key()
        peer = dh.DHPublicNumbers(y, numbers).public_key()
        # DHSharedSecret: big-endian, as long as the prime (cryptography pads it so already).
        secret = private.exchange(peer).rjust((numbers.p.bit_length() + 7) // 8, b"\x00")
    key = octetstring2key(secret, enctype)
    public_der = core.Integer(private.public_key().public_numbers().y).dump()
    info = pkinit.KDCDHKeyInfo({"subjectPublicKey": _bits(public_der), "nonce": body["nonce"].native})
    signed = sign(pkinit.ID_PKINIT_DHKEYDATA, bytes(info.dump()))
    return key, bytes(pkinit.PAPkAsRep({"dhInfo": {"dhSignedData": signed}}).dump())


def _bits(data: bytes) -> core.BitString:
    """A BIT STRING holding whole octets (KDCDHKeyInfo.subjectPublicKey: the DER of y)."""
    return core.BitString.load(b"\x03" + core.OctetString(b"\x00" + data).dump()[1:])
