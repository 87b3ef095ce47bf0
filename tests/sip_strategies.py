"""Hypothesis strategies for SIP values and messages (pktcable.sip)."""

from __future__ import annotations

from hypothesis import strategies as st

from pktcable.sip import grammar as g
from pktcable.sip.message import Request, Response

TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"

tokens = st.text(TOKEN_ALPHABET, min_size=1, max_size=12)
lower_tokens = tokens.map(str.lower)
quoted = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12).map(g.quote)
hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9\-]{0,8}(\.[a-z][a-z0-9\-]{0,8}){0,3}", fullmatch=True),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.just("[2001:db8::1]"),
)
ports = st.none() | st.integers(0, 65535)


ANY_VALUE: st.SearchStrategy[str | None] = st.none() | tokens | quoted


def params(values: st.SearchStrategy[str | None] = ANY_VALUE) -> st.SearchStrategy[g.Params]:
    return st.lists(st.tuples(lower_tokens, values), max_size=4, unique_by=lambda p: p[0]).map(tuple)


sip_uris = st.builds(
    g.SipUri, host=hosts, user=st.none() | st.from_regex(r"[A-Za-z0-9\-_.!~*'()%]{1,12}", fullmatch=True),
    port=ports, params=params(st.none() | tokens), scheme=st.sampled_from(["sip", "sips"]))
display_names = st.none() | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=16)
name_addrs = st.builds(g.NameAddr, uri=sip_uris, display=display_names, params=params())
branches = tokens.map(lambda t: g.BRANCH_COOKIE + t)
vias = st.builds(
    lambda transport, host, port, branch, extra: g.Via(
        transport, host, port, (("branch", branch),) + tuple(p for p in extra if p[0] != "branch")),
    st.sampled_from(["UDP", "TCP", "TLS"]), hosts, ports, branches,
    params(st.none() | tokens).map(lambda ps: tuple(p for p in ps if p[0] not in ("rport",))))
methods = st.sampled_from(["SUBSCRIBE", "NOTIFY", "OPTIONS", "REGISTER", "MESSAGE"]) | tokens.map(str.upper)
call_ids = st.from_regex(r"[A-Za-z0-9\-.]{1,20}(@[a-z0-9.]{1,10})?", fullmatch=True)
events = st.builds(g.Event, package=lower_tokens, params=params())
sub_states = st.builds(
    g.SubscriptionState, state=st.sampled_from(["active", "pending", "terminated"]),
    params=st.lists(st.sampled_from([("expires", "60"), ("reason", "timeout"), ("retry-after", "5")]),
                    max_size=3, unique=True).map(tuple))
media = st.builds(g.MediaType, type=lower_tokens, subtype=lower_tokens, params=params(tokens | quoted))
bodies = st.binary(max_size=64)


@st.composite
def messages(draw: st.DrawFn) -> Request | Response:
    method = draw(methods)
    common: list[tuple[str, object]] = [("Via", v) for v in draw(st.lists(vias, min_size=1, max_size=3))]
    common += [
        ("From", draw(name_addrs)), ("To", draw(name_addrs)), ("Call-ID", draw(call_ids)),
        ("CSeq", g.CSeq(draw(st.integers(0, 2**31 - 1)), method)),
    ]
    optional = draw(st.lists(st.sampled_from([
        ("Event", events), ("Subscription-State", sub_states), ("Content-Type", media),
        ("Expires", st.integers(0, 2**32 - 1)), ("Contact", name_addrs), ("Route", name_addrs),
        ("Accept", media), ("Allow-Events", tokens), ("Supported", tokens), ("X-Extra", tokens),
    ]), max_size=6, unique_by=lambda x: x[0]))
    for name, strategy in optional:
        common.append((name, draw(strategy)))
    body = draw(bodies)
    if draw(st.booleans()):
        common.insert(1, ("Max-Forwards", draw(st.integers(0, 255))))
        return Request(method=method, uri=draw(sip_uris), headers=tuple(common), body=body)
    return Response(status=draw(st.integers(100, 699)), reason=draw(st.from_regex(r"[A-Za-z ]{0,20}", fullmatch=True)),
                    headers=tuple(common), body=body)
