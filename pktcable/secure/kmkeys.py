"""Keys of Kerberized key management: the message HMACs and the SNMPv3 keys.

Which key signs which KM message, and how the SNMPv3 keys come from the AP
Reply's subkey, is specified in the PacketCable security specification,
which was not available to this project; :func:`derive_key` is the one place
that reading lives (its docstring and docs/secure.md say what was chosen and
why). HMAC-SHA-1 itself comes from ``cryptography``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, hmac

from pktcable.snmp.usm import AuthProtocol, PrivProtocol, UsmUser

from . import kmcodec as km

#: Labels of the keys derived from a Kerberos key (ASCII, never sent).
LABEL_AP_REQUEST_HMAC = b"PacketCable KM AP Request HMAC"
LABEL_AP_REPLY_HMAC = b"PacketCable KM AP Reply HMAC"
LABEL_SNMP_AUTH = b"PacketCable SNMPv3 authentication key"
LABEL_SNMP_PRIV = b"PacketCable SNMPv3 privacy key"

#: SNMPv3 ciphersuite codes -> USM protocols; each key is as long as the protocol's
#: localized key (HMAC-MD5 16, HMAC-SHA 20; DES 16: the DES key then the pre-IV,
#: RFC 3414 8.1.1.1; NULL none).
SNMP_AUTH = {km.SNMP_AUTH_MD5: AuthProtocol.HMAC_MD5_96, km.SNMP_AUTH_SHA1: AuthProtocol.HMAC_SHA_96}
SNMP_PRIV = {km.SNMP_PRIV_NULL: PrivProtocol.NONE, km.SNMP_PRIV_DES: PrivProtocol.DES}


def _hmac_sha1(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA1())  # noqa: S303 - HMAC-SHA-1 is what the KM format carries
    mac.update(data)
    return mac.finalize()


def derive_key(secret: bytes, label: bytes, length: int) -> bytes:
    """``length`` octets derived from a Kerberos key's octets ``secret`` for the purpose ``label``.

    The function is P_SHA-1 of TLS 1.0 (RFC 2246 section 5):
    A(0) = label, A(i) = HMAC-SHA-1(secret, A(i-1)), output = HMAC-SHA-1(secret, A(1) + label)
    + HMAC-SHA-1(secret, A(2) + label) + ..., truncated to ``length``: a standard
    HMAC-SHA-1 expansion, in keeping with the KM format's SHA-1 HMAC. PacketCable's
    security specification, which defines the real derivation, was not available
    (docs/secure.md, "HMACs and key derivation"); the labels are this project's
    (``LABEL_*``), each naming the key's one use, so that no two purposes share a
    key. Interoperating with a device built to the specification may need another
    function or other labels: they live here and nowhere else.
    """
    if length < 0 or not secret:
        raise ValueError("a derived key needs a secret and a non-negative length")
    out, a = b"", label
    while len(out) < length:
        a = _hmac_sha1(secret, a)
        out += _hmac_sha1(secret, a + label)
    return out[:length]


def km_hmac(key: bytes, signed: bytes) -> bytes:
    """The 20-octet SHA-1 HMAC of a KM message (its octets before the HMAC field)."""
    return _hmac_sha1(key, signed)


def ap_request_hmac_key(session_key: bytes) -> bytes:
    """AP Request: keyed from the ticket's session key, which only the MTA and (after
    decrypting the ticket) the server hold, so the unencrypted fields around the AP-REQ
    (nonce, engine, user, ciphersuites) cannot be changed in flight."""
    return derive_key(session_key, LABEL_AP_REQUEST_HMAC, 20)


def ap_reply_hmac_key(subkey: bytes) -> bytes:
    """AP Reply and Security Parameter Recovered: keyed from the new subkey, so the
    HMAC also proves that the sender holds the key the SNMPv3 keys come from."""
    return derive_key(subkey, LABEL_AP_REPLY_HMAC, 20)


@dataclass(frozen=True, slots=True)
class SnmpSa:
    """The outcome of one key-management exchange: an SNMPv3 USM user with its keys,
    already localized to the MTA's engine (they are derived per exchange, not from a
    password, so RFC 3414's password-to-key step does not apply)."""

    engine_id: bytes           # the MTA's snmpEngineID (the authoritative engine)
    user_name: str             # usmUserName, as the MTA sent it
    auth: AuthProtocol         # HMAC_MD5_96 | HMAC_SHA_96
    auth_key: bytes
    priv: PrivProtocol         # NONE | DES
    priv_key: bytes            # empty with PrivProtocol.NONE
    lifetime: int              # seconds the keys are valid from ``established``
    grace_period: int          # seconds before the end at which a new exchange starts
    established: float         # POSIX time of the exchange
    engine_boots: int = 0      # the MTA's boots and time as it sent them
    engine_time: int = 0
    #: The Kerberos client of the ticket (``name@REALM``; the server's side: as it verified
    #: it): the device the association belongs to.
    client: str = ""

    @property
    def expires(self) -> float:
        return self.established + self.lifetime

    @property
    def renew_at(self) -> float:
        return self.established + max(self.lifetime - self.grace_period, 0)

    def usm_user(self) -> UsmUser:
        """The SA as the USM's user record, at the MTA's engine (the authoritative one
        for the server's GET/SET; ``.at_engine(...)`` moves the same keys elsewhere,
        docs/secure.md "Who is authoritative")."""
        return UsmUser(self.user_name.encode("ascii"), self.engine_id, self.auth, self.auth_key, self.priv,
                       self.priv_key)


def snmp_sa(subkey: bytes, suite: km.Ciphersuite, mta: km.SnmpAppData, *, lifetime: int, grace_period: int,
            now: float, client: str = "") -> SnmpSa:
    """The SA both sides compute from the AP Reply's subkey and the selected ciphersuite."""
    code_auth, code_priv = suite
    if code_auth not in SNMP_AUTH or code_priv not in SNMP_PRIV:
        raise ValueError(f"ciphersuite {code_auth:#04x}/{code_priv:#04x} is not an SNMPv3 one")
    auth, priv = SNMP_AUTH[code_auth], SNMP_PRIV[code_priv]
    priv_key = derive_key(subkey, LABEL_SNMP_PRIV, priv.key_length) if priv is not PrivProtocol.NONE else b""
    return SnmpSa(mta.engine_id, mta.user_name, auth, derive_key(subkey, LABEL_SNMP_AUTH, auth.key_length),
                  priv, priv_key, lifetime, grace_period, now, mta.engine_boots, mta.engine_time, client)
