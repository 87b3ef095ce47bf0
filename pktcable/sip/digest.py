"""HTTP Digest authentication for SIP requests (RFC 3261 §22.4, RFC 7616/2617), server side, sans-IO.

The server challenges with ``WWW-Authenticate: Digest realm, nonce, qop="auth",
algorithm=MD5`` (MD5: what phones in the field implement; RFC 8760's SHA-256
is offered by few). Nonces are stateless: the issue time and an HMAC of it
under the server's secret, so any number of phones can be challenged without a
table, and a nonce older than ``lifetime`` is refused with ``stale=true`` (the
phone retries with the new nonce without asking its user). Within its lifetime
a nonce may be reused (nc is not tracked): the window a captured request can be
replayed in is the nonce lifetime, and SUBSCRIBE replays only refresh a
subscription the phone already has.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import Enum

from pktcable.sip import grammar as g

#: Seconds a nonce is good for.
NONCE_LIFETIME = 300.0
_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9\-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]+)\s*(?:,|$)')
MAX_HEADER = 2048


@dataclass(frozen=True)
class Credentials:
    """The parameters of one ``Authorization: Digest`` value (RFC 7616 §3.4)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None


def parse_authorization(value: str) -> Credentials | None:
    """The Digest credentials in ``value``, or None if it is not a well-formed Digest value."""
    if len(value) > MAX_HEADER:
        return None
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if m is None:
            return None
        name = m.group(1).lower()
        if name in params:
            return None  # a repeated parameter is ambiguous: refuse it
        raw = m.group(2)
        params[name] = g.unquote(raw) if raw.startswith('"') else raw
        pos = m.end()
    try:
        return Credentials(username=params["username"], realm=params["realm"], nonce=params["nonce"],
                           uri=params["uri"], response=params["response"].lower(),
                           algorithm=params.get("algorithm", "MD5"), qop=params.get("qop"),
                           nc=params.get("nc"), cnonce=params.get("cnonce"))
    except KeyError:
        return None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def expected_response(c: Credentials, method: str, password: str) -> str:
    ha1 = _md5(f"{c.username}:{c.realm}:{password}")
    ha2 = _md5(f"{method}:{c.uri}")
    if c.qop is None:  # RFC 2069 compatibility form
        return _md5(f"{ha1}:{c.nonce}:{ha2}")
    return _md5(f"{ha1}:{c.nonce}:{c.nc}:{c.cnonce}:{c.qop}:{ha2}")


class Verdict(Enum):
    OK = "ok"
    MISSING = "missing"  # no usable credentials: challenge
    STALE = "stale"  # right password, old nonce: challenge with stale=true
    WRONG = "wrong"  # 403 after a challenge was answered wrongly


class DigestAuth:
    def __init__(self, realm: str, secret: bytes, lifetime: float = NONCE_LIFETIME) -> None:
        self.realm, self.secret, self.lifetime = realm, secret, lifetime

    def nonce(self, now: float) -> str:
        stamp = f"{int(now * 1000):x}"
        mac = hmac.new(self.secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{stamp}.{mac}"

    def challenge(self, now: float, stale: bool = False) -> str:
        """The ``WWW-Authenticate`` value."""
        value = f'Digest realm={g.quote(self.realm)}, nonce="{self.nonce(now)}", qop="auth", algorithm=MD5'
        return value + ", stale=true" if stale else value

    def _nonce_age(self, nonce: str, now: float) -> float | None:
        stamp, _, mac = nonce.partition(".")
        good = hmac.new(self.secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
        # Bytes: compare_digest refuses non-ASCII text, and this text is the sender's.
        if not hmac.compare_digest(mac.encode(), good.encode()) or not re.fullmatch(r"[0-9a-f]{1,16}", stamp):
            return None
        return now - int(stamp, 16) / 1000

    def check(self, authorization: str | None, method: str, username: str, password: str, now: float) -> Verdict:
        """A :class:`Verdict` for ``authorization`` against ``username``'s ``password``."""
        if authorization is None:
            return Verdict.MISSING
        c = parse_authorization(authorization)
        if c is None or c.realm != self.realm or c.algorithm.upper() != "MD5":
            return Verdict.MISSING
        if c.qop is not None and (c.qop != "auth" or c.nc is None or c.cnonce is None):
            return Verdict.MISSING
        age = self._nonce_age(c.nonce, now)
        if age is None:
            return Verdict.MISSING  # not our nonce (or forged): a fresh challenge
        if c.username != username or \
                not hmac.compare_digest(c.response.encode(), expected_response(c, method, password).encode()):
            return Verdict.WRONG
        if not 0 <= age <= self.lifetime:
            return Verdict.STALE
        return Verdict.OK


# --- client side (the simulated phone) ---------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """The parameters of one ``WWW-Authenticate: Digest`` value (RFC 7616 §3.3)."""

    realm: str
    nonce: str
    qop: tuple[str, ...] = ()
    algorithm: str = "MD5"
    stale: bool = False
    opaque: str | None = None


def parse_challenge(value: str) -> Challenge | None:
    """The Digest challenge in ``value``, or None when it is not one a phone can answer."""
    if len(value) > MAX_HEADER:
        return None
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    rest, pos = rest.strip(), 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if m is None or m.group(1).lower() in params:
            return None
        raw = m.group(2)
        params[m.group(1).lower()] = g.unquote(raw) if raw.startswith('"') else raw
        pos = m.end()
    if "realm" not in params or "nonce" not in params:
        return None
    return Challenge(realm=params["realm"], nonce=params["nonce"],
                     qop=tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip()),
                     algorithm=params.get("algorithm", "MD5"), stale=params.get("stale", "").lower() == "true",
                     opaque=params.get("opaque"))


def authorization(challenge: Challenge, method: str, uri: str, username: str, password: str,
                  cnonce: str, nc: int = 1) -> str:
    """The ``Authorization`` value answering ``challenge`` (qop=auth when offered, else RFC 2069's
    form); ValueError for an algorithm other than MD5 (all that this client speaks)."""
    if challenge.algorithm.upper() != "MD5":
        raise ValueError(f"digest algorithm {challenge.algorithm} is not supported")
    qop = "auth" if "auth" in challenge.qop else None
    creds = Credentials(username=username, realm=challenge.realm, nonce=challenge.nonce, uri=uri, response="",
                        qop=qop, nc=f"{nc:08x}" if qop else None, cnonce=cnonce if qop else None)
    parts = [f"username={g.quote(username)}", f"realm={g.quote(challenge.realm)}", f"nonce={g.quote(challenge.nonce)}",
             f"uri={g.quote(uri)}", f'response="{expected_response(creds, method, password)}"', "algorithm=MD5"]
    if qop:
        parts += [f"qop={qop}", f"nc={creds.nc}", f"cnonce={g.quote(cnonce)}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={g.quote(challenge.opaque)}")
    return "Digest " + ", ".join(parts)
