"""The simulated phone's own rules, without sockets: the Digest client against the server's
check, and which NOTIFY bodies name a profile a phone can fetch."""

from __future__ import annotations

import pytest

from pktcable.simulate.phone import notify_url, phone_mac
from pktcable.sip import grammar as g
from pktcable.sip.digest import DigestAuth, Verdict, authorization, parse_challenge


def test_the_digest_client_answers_the_servers_challenge() -> None:
    auth = DigestAuth("pktcable", b"k" * 32)
    challenge = parse_challenge(auth.challenge(1000.0))
    assert challenge is not None and challenge.qop == ("auth",) and not challenge.stale
    value = authorization(challenge, "SUBSCRIBE", "sip:MAC%3a02a000000001@h", "u", "pw", "c1")
    assert auth.check(value, "SUBSCRIBE", "u", "pw", 1001.0) is Verdict.OK
    assert auth.check(value, "SUBSCRIBE", "u", "other", 1001.0) is Verdict.WRONG
    assert auth.check(value, "NOTIFY", "u", "pw", 1001.0) is Verdict.WRONG  # the method is signed
    stale = parse_challenge(auth.challenge(1000.0, stale=True))
    assert stale is not None and stale.stale


@pytest.mark.parametrize("value", ["Basic realm=x", 'Digest realm="x"', 'Digest nonce="n"',
                                   'Digest realm="x", realm="y", nonce="n"', "Digest " + "a" * 3000])
def test_challenges_a_phone_cannot_answer(value: str) -> None:
    assert parse_challenge(value) is None


def test_only_md5_is_spoken() -> None:
    challenge = parse_challenge('Digest realm="x", nonce="n", algorithm=SHA-256')
    assert challenge is not None
    with pytest.raises(ValueError, match="SHA-256"):
        authorization(challenge, "SUBSCRIBE", "sip:a@b", "u", "p", "c")


URL = "http://127.0.0.1:8080/profiles/a.xml"
EXTERNAL = g.MediaType("message", "external-body", (("access-type", '"URL"'), ("URL", f'"{URL}"')))


@pytest.mark.parametrize(("ctype", "body", "url", "why"), [
    (EXTERNAL, b"Content-Type: application/xml\r\n\r\n", URL, ""),
    (g.MediaType("application", "url"), URL.encode() + b"\r\n", URL, ""),
    (None, b"", None, "without a Content-Type"),
    (g.MediaType("message", "external-body", (("access-type", '"ftp"'), ("URL", f'"{URL}"'))), b"", None,
     "access-type"),
    (g.MediaType("message", "external-body", (("access-type", '"URL"'),)), b"", None, "URL parameter"),
    (g.MediaType("application", "url"), b"file:///etc/passwd", None, "not http"),
    (g.MediaType("text", "plain"), URL.encode(), None, "names no profile"),
])
def test_the_notify_names_a_fetchable_profile_or_says_why_not(ctype: g.MediaType | None, body: bytes,
                                                            url: str | None, why: str) -> None:
    found, problem = notify_url(ctype, body)
    assert found == url and why in problem


def test_phone_macs_are_locally_administered_and_distinct() -> None:
    macs = {phone_mac(n) for n in range(1000)}
    assert len(macs) == 1000
    assert all(len(m) == 12 and int(m[:2], 16) & 0x02 and not int(m[:2], 16) & 0x01 for m in macs)
