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
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dh
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.utils import CryptographyDeprecationWarning

from . import krbcrypto, krbnames, pkinit

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


#: RFC 8636 section 7: the KDFs (SP 800-56A single-step, the hash named) the KDC takes.
KDFS: dict[str, type[hashes.SHA1 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "1.3.6.1.5.2.3.6.1": hashes.SHA1, "1.3.6.1.5.2.3.6.2": hashes.SHA256, "1.3.6.1.5.2.3.6.3": hashes.SHA512,
    "1.3.6.1.5.2.3.6.4": hashes.SHA384}


class _KdfAlgorithmId(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class _PkinitSuppPubInfo(core.Sequence):
    """RFC 8636 section 4: what binds the derived key to this very exchange."""

    _fields = [
        ("enctype", core.Integer, {"explicit": 0}),
        ("as-REQ", core.OctetString, {"explicit": 1}),
        ("pk-as-rep", core.OctetString, {"explicit": 2}),
    ]


class _OtherInfo(core.Sequence):
    """RFC 8636 section 4 / SP 800-56A: the KDF's OtherInfo."""

    _fields = [
        ("algorithmID", _KdfAlgorithmId),
        ("partyUInfo", core.OctetString, {"explicit": 0}),
        ("partyVInfo", core.OctetString, {"explicit": 1}),
        ("suppPubInfo", core.OctetString, {"explicit": 2, "optional": True}),
        ("suppPrivInfo", core.OctetString, {"explicit": 3, "optional": True}),
    ]


def choose_kdf(pack: Any) -> str | None:
    """The first KDF in the client's supportedKDFs (its order of preference) that this KDC
    takes, or None: the client sent none, and octetstring2key applies."""
    listed = [k["kdf-id"].dotted for k in pack["supportedKDFs"] or []]
    return next((oid for oid in listed if oid in KDFS), None)


def kdf_key(secret: bytes, kdf: str, enctype: int, *, client: bytes, server: bytes, request: bytes,
            pa_rep: bytes) -> krbcrypto.Key:
    """RFC 8636 section 4: ``cryptography``'s SP 800-56A concatenation KDF over the shared
    secret and an OtherInfo naming the client and server principals (DER of
    KRB5PrincipalName), the enctype, the whole AS-REQ and the PA-PK-AS-REP; then
    random-to-key."""
    supp = _PkinitSuppPubInfo({"enctype": enctype, "as-REQ": request, "pk-as-rep": pa_rep})
    other = _OtherInfo({"algorithmID": {"algorithm": kdf}, "partyUInfo": client, "partyVInfo": server,
                        "suppPubInfo": supp.dump()})
    need = krbcrypto.key_lengths(enctype)[0]
    derived = ConcatKDFHash(KDFS[kdf](), need, bytes(other.dump())).derive(secret)
    return krbcrypto.random_to_key(enctype, derived)


def reply(pack: Any, enctype: int, sign: Sign, body: Any, request: bytes) -> tuple[krbcrypto.Key, bytes]:
    """(reply key, PA-PK-AS-REP value) for a Diffie-Hellman AuthPack and the AS-REQ
    ``request`` it came in.

    The KDC's ephemeral key is fresh for every reply (no dhKeyExpiration, no reuse),
    so no serverDHNonce is needed, and a clientDHNonce (a device of key reuse, RFC
    4556 3.2.3.1) is refused. The reply key comes from the RFC 8636 KDF the client
    prefers among :data:`KDFS`, named in the reply; from octetstring2key for a
    client that lists none. The KDC's private value comes from ``cryptography``'s
    generator (its DH API takes no caller randomness)."""
    numbers, y = client_public(pack)
    if pack["clientDHNonce"].native is not None:
        raise DhRefusal("clientDHNonce is for DH key reuse, which this KDC does not do; send none")
    with ffdh():
        private = numbers.parameters().generate_private_key()
        peer = dh.DHPublicNumbers(y, numbers).public_key()
        # DHSharedSecret: big-endian, as long as the prime (cryptography pads it so already).
        secret = private.exchange(peer).rjust((numbers.p.bit_length() + 7) // 8, b"\x00")
    public_der = core.Integer(private.public_key().public_numbers().y).dump()
    info = pkinit.KDCDHKeyInfo({"subjectPublicKey": _bits(public_der), "nonce": body["nonce"].native})
    signed = sign(pkinit.ID_PKINIT_DHKEYDATA, bytes(info.dump()))
    kdf = choose_kdf(pack)
    rep_info: dict[str, Any] = {"dhSignedData": signed}
    if kdf is not None:
        rep_info["kdf"] = {"kdf-id": kdf}
    pa_rep = bytes(pkinit.PAPkAsRep({"dhInfo": rep_info}).dump())
    if kdf is None:
        return octetstring2key(secret, enctype), pa_rep
    realm = body["realm"].native
    return kdf_key(secret, kdf, enctype, client=_principal(realm, body["cname"]), server=_principal(realm, body["sname"]),
                   request=request, pa_rep=pa_rep), pa_rep


def _principal(realm: str, name: Any) -> bytes:
    return krbnames.principal_der(realm, name["name-type"].native, *name["name-string"].native)


def _bits(data: bytes) -> core.BitString:
    """A BIT STRING holding whole octets (KDCDHKeyInfo.subjectPublicKey: the DER of y)."""
    return core.BitString.load(b"\x03" + core.OctetString(b"\x00" + data).dump()[1:])
