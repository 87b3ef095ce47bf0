"""Digest authentication (server side): parsing, verdicts, hostile values."""

from __future__ import annotations

import pytest

from pktcable.sip.digest import Credentials, DigestAuth, Verdict, expected_response, parse_authorization


def test_rfc_2617_section_3_5_example() -> None:
    # The worked example of RFC 2617 §3.5 (qop=auth): the response it gives.
    c = Credentials("Mufasa", "testrealm@host.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "/dir/index.html", "",
                    qop="auth", nc="00000001", cnonce="0a4f113b")
    assert expected_response(c, "GET", "Circle Of Life") == "6629fae49393a05397450978507c4ef1"


def _authorization(auth: DigestAuth, now: float, password: str, user: str = "phone") -> str:
    challenge = auth.challenge(now)
    nonce = challenge.split('nonce="')[1].split('"')[0]
    c = Credentials(user, auth.realm, nonce, "sip:prov", "", qop="auth", nc="00000001", cnonce="c")
    return (f'Digest username="{user}", realm="{auth.realm}", nonce="{nonce}", uri="sip:prov", '
            f'response="{expected_response(c, "SUBSCRIBE", password)}", qop=auth, nc=00000001, cnonce="c"')


def test_verdicts() -> None:
    auth = DigestAuth("prov.test", b"s" * 32, lifetime=300)
    good = _authorization(auth, 1000.0, "pw")
    assert auth.check(good, "SUBSCRIBE", "phone", "pw", 1001.0) is Verdict.OK
    assert auth.check(good, "SUBSCRIBE", "phone", "other", 1001.0) is Verdict.WRONG
    assert auth.check(good, "SUBSCRIBE", "someone", "pw", 1001.0) is Verdict.WRONG
    assert auth.check(good, "SUBSCRIBE", "phone", "pw", 1301.0) is Verdict.STALE
    assert auth.check(None, "SUBSCRIBE", "phone", "pw", 1001.0) is Verdict.MISSING
    forged = DigestAuth("prov.test", b"x" * 32)  # a nonce another key made is not ours
    assert auth.check(_authorization(forged, 1000.0, "pw"), "SUBSCRIBE", "phone", "pw", 1001.0) is Verdict.MISSING


@pytest.mark.parametrize("value", [
    "Basic dXNlcjpwdw==", "Digest", 'Digest username="a"', 'Digest username="a", username="b", realm="r", '
    'nonce="n", uri="u", response="r"', "Digest " + "x" * 5000, 'Digest username="é", realm="r", nonce="ñ.ü", '
    'uri="u", response="ö"',
])
def test_hostile_authorization_values_never_raise(value: str) -> None:
    auth = DigestAuth("r", b"s" * 32)
    assert auth.check(value, "SUBSCRIBE", "a", "pw", 0.0) in (Verdict.MISSING, Verdict.WRONG)
    parse_authorization(value)
