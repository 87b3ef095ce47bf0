"""RFC 3261 §25 value grammar as far as provisioning needs it: tokens, quoted
strings, parameters, SIP URIs and name-addr/addr-spec, and the header values
built from them (Via, CSeq, Event, Subscription-State, media types).

Every parser takes the header value text (already unfolded and trimmed) and
returns a frozen dataclass, or raises :class:`SipValueError` saying why; every
value's ``__str__`` is its wire form, so ``parse(str(v)) == v``. Parameter names
are case-insensitive (§7.3.1), so they are kept lower-cased; values are kept as
written (a quoted-string keeps its quotes) because some are case-sensitive
(tags, branches).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pktcable.sip.errors import SipValueError

#: RFC 3261 token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~".
TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
#: quoted-string with quoted-pair escapes (§25.1); no raw CR or LF inside.
QUOTED_RE = re.compile(r'"(?:[^"\\\r\n]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*"')
#: gen-value = token / host / quoted-string; host adds ":" and "[]" for IPv6 literals.
_PVALUE_RE = re.compile(QUOTED_RE.pattern + r"|[A-Za-z0-9\-.!%*_+`'~:\[\]]+")
_WS = " \t"
#: One parameter: separator, name, optional "=" value, LWS allowed around each, and the
#: parameter must end where the next separator, LWS or the text does.
_PARAM_RE = re.compile(r"[ \t]*;[ \t]*(" + TOKEN_RE.pattern + r")(?:[ \t]*=[ \t]*(" + _PVALUE_RE.pattern
                       + r"))?(?=[ \t;]|$)")
#: RFC 3261 §8.1.1.7: a branch starting with this cookie was made by an RFC 3261 element.
BRANCH_COOKIE = "z9hG4bK"

Params = tuple[tuple[str, str | None], ...]


def is_token(text: str) -> bool:
    return TOKEN_RE.fullmatch(text) is not None


def quote(text: str) -> str:
    """``text`` as a quoted-string (backslash before ``"`` and ``\\``)."""
    if "\r" in text or "\n" in text:
        raise SipValueError("a quoted-string cannot hold CR or LF")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(value: str) -> str:
    """The text of a quoted-string, or ``value`` itself when it is a bare token."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def split_commas(value: str) -> list[str]:
    """Split a multi-value header on commas outside quoted strings and <...>."""
    if '"' not in value and "<" not in value:
        parts = [p.strip(_WS) for p in value.split(",")]
        if not all(parts):
            raise SipValueError("empty element in a comma-separated list")
        return parts
    parts = []
    start = 0
    in_quote = in_angle = False
    i = 0
    while i < len(value):
        c = value[i]
        if in_quote:
            if c == "\\":
                i += 1
            elif c == '"':
                in_quote = False
        elif c == '"':
            in_quote = True
        elif c == "<":
            in_angle = True
        elif c == ">":
            in_angle = False
        elif c == "," and not in_angle:
            parts.append(value[start:i].strip(_WS))
            start = i + 1
        i += 1
    if in_quote:
        raise SipValueError("unterminated quoted-string")
    parts.append(value[start:].strip(_WS))
    if any(not p for p in parts):
        raise SipValueError("empty element in a comma-separated list")
    return parts


def parse_params(text: str) -> Params:
    """``;name[=value]...`` (leading separator included, LWS allowed around it)."""
    if not text:
        return ()
    params: list[tuple[str, str | None]] = []
    i, n = 0, len(text)
    while i < n:
        m = _PARAM_RE.match(text, i)
        if m is None:
            rest = text[i:].lstrip(_WS)
            if not rest:
                break
            if rest[0] != ";":
                raise SipValueError(f"expected ';' before a parameter, found {rest[0]!r}")
            raise SipValueError(f"parameter name or value expected at {rest[:20]!r}")
        name = m.group(1).lower()
        if any(name == p for p, _ in params):
            raise SipValueError(f"parameter {name!r} appears twice")
        params.append((name, m.group(2)))
        i = m.end()
    return tuple(params)


def format_params(params: Params) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)


def param(params: Params, name: str) -> str | None:
    """The value of ``name`` ("" for a flag parameter), None when absent."""
    for k, v in params:
        if k == name:
            return "" if v is None else v
    return None


def _digits(text: str, what: str, maximum: int) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise SipValueError(f"{what} must be decimal digits, got {text!r}")
    value = int(text)
    if value > maximum:
        raise SipValueError(f"{what} {value} is over {maximum}")
    return value


# --- URIs (§19.1, §25.1) ------------------------------------------------------------------

_HOST_RE = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+")
_USER_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%:]+")
_BAD_URI_RE = re.compile(r'[ \t<>"]')
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")


def _hostport(text: str) -> tuple[str, int | None]:
    m = _HOST_RE.match(text)
    if m is None:
        raise SipValueError(f"bad host in {text!r}")
    host, rest = m.group(), text[m.end():]
    if not rest:
        return host, None
    if rest[0] != ":":
        raise SipValueError(f"unexpected {rest!r} after host {host!r}")
    return host, _digits(rest[1:], "port", 65535)


@dataclass(frozen=True)
class SipUri:
    """sip: or sips: URI; ``user`` keeps user[:password] as written."""

    host: str
    user: str | None = None
    port: int | None = None
    params: Params = ()
    headers: str | None = None
    scheme: str = "sip"

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user is not None else ""
        port = f":{self.port}" if self.port is not None else ""
        headers = f"?{self.headers}" if self.headers is not None else ""
        return f"{self.scheme}:{user}{self.host}{port}{format_params(self.params)}{headers}"


@dataclass(frozen=True)
class OtherUri:
    """An absoluteURI of another scheme (tel:, http:, urn: ...), kept as written."""

    text: str

    @property
    def scheme(self) -> str:
        return self.text.split(":", 1)[0].lower()

    def __str__(self) -> str:
        return self.text


Uri = SipUri | OtherUri


#: The usual sip:/sips: URI in one match (userinfo without '?', host, port, params,
#: headers); anything it does not match takes the step-by-step path below, which
#: accepts the same language and says what is wrong.
_SIP_URI_RE = re.compile(r"(sips?):(?:([A-Za-z0-9\-_.!~*'()&=+$,;/%:]+)@)?(" + _HOST_RE.pattern
                         + r")(?::([0-9]{1,5}))?(;[^?]*)?(?:\?(.*))?", re.I)


def parse_uri(text: str) -> Uri:
    fast = _SIP_URI_RE.fullmatch(text)
    if fast is not None and not _BAD_URI_RE.search(text):
        f_scheme, f_user, f_host, f_port, f_params, f_headers = fast.groups()
        if f_port is None or int(f_port) <= 65535:
            return SipUri(host=f_host, user=f_user, port=int(f_port) if f_port is not None else None,
                          params=parse_params(f_params) if f_params else (), headers=f_headers,
                          scheme=f_scheme.lower())
    m = _SCHEME_RE.match(text)
    if m is None or m.end() >= len(text) or text[m.end()] != ":":
        raise SipValueError(f"not an absolute URI: {text[:40]!r}")
    scheme = m.group().lower()
    rest = text[m.end() + 1:]
    if not rest or _BAD_URI_RE.search(rest):
        raise SipValueError(f"bad characters in URI {text[:40]!r}")
    if scheme not in ("sip", "sips"):
        return OtherUri(text)
    headers: str | None = None
    if "?" in rest:
        rest, headers = rest.split("?", 1)
    user: str | None = None
    if "@" in rest:
        user, rest = rest.rsplit("@", 1)
        if not _USER_RE.fullmatch(user):
            raise SipValueError(f"bad userinfo {user!r}")
    hostport, sep, ptext = rest.partition(";")
    host, port = _hostport(hostport)
    return SipUri(host=host, user=user, port=port, params=parse_params(sep + ptext), headers=headers,
                  scheme=scheme)


@dataclass(frozen=True)
class NameAddr:
    """From/To/Contact/Route values: display name, URI and header parameters (tag ...)."""

    uri: Uri
    display: str | None = None
    params: Params = ()

    @property
    def tag(self) -> str | None:
        return param(self.params, "tag")

    def with_tag(self, tag: str) -> NameAddr:
        rest = tuple(p for p in self.params if p[0] != "tag")
        return NameAddr(self.uri, self.display, rest + (("tag", tag),))

    def __str__(self) -> str:
        display = quote(self.display) + " " if self.display is not None else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"


def parse_name_addr(text: str) -> NameAddr:
    display: str | None = None
    rest = text
    if rest.startswith('"'):
        m = QUOTED_RE.match(rest)
        if m is None:
            raise SipValueError("unterminated display name")
        display = unquote(m.group())
        rest = rest[m.end():].lstrip(_WS)
        if not rest.startswith("<"):
            raise SipValueError("a quoted display name must be followed by <URI>")
    elif "<" in rest:
        before, _, _ = rest.partition("<")
        words = before.split()
        if any(not is_token(w) for w in words):
            raise SipValueError(f"bad display name {before.strip()!r}")
        display = " ".join(words) or None
        rest = rest[len(before):]
    if rest.startswith("<"):
        end = rest.find(">")
        if end < 0:
            raise SipValueError("missing '>' after the URI")
        uri, ptext = parse_uri(rest[1:end]), rest[end + 1:]
    else:
        # addr-spec: parameters after the URI belong to the header (§20.10), so the URI
        # ends at the first ';' and may carry no parameters or headers of its own.
        utext, sep, ptext = rest.partition(";")
        ptext = sep + ptext
        if "?" in utext:
            raise SipValueError("a URI with headers must be enclosed in <>")
        uri = parse_uri(utext.rstrip(_WS))
    return NameAddr(uri, display, parse_params(ptext))


# --- Header values --------------------------------------------------------------------------


@dataclass(frozen=True)
class Via:
    """One Via value: ``SIP/2.0/<transport> host[:port];params`` (§20.42, RFC 3581)."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    @property
    def branch(self) -> str | None:
        return param(self.params, "branch")

    @property
    def received(self) -> str | None:
        return param(self.params, "received")

    @property
    def rport(self) -> int | None:
        """The rport value filled in by a server; None when absent or empty."""
        value = param(self.params, "rport")
        return int(value) if value else None

    @property
    def wants_rport(self) -> bool:
        return param(self.params, "rport") is not None

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return self.host.lower(), self.port

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"


_VIA_RE = re.compile(r"SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*(" + TOKEN_RE.pattern + r")[ \t]+", re.I)


def parse_via(text: str) -> Via:
    m = _VIA_RE.match(text)
    if m is None:
        raise SipValueError("Via must start with SIP/2.0/<transport>")
    hostport, sep, ptext = text[m.end():].partition(";")
    host, port = _hostport(hostport.rstrip(_WS))
    params = parse_params(sep + ptext)
    rport = param(params, "rport")
    if rport:
        _digits(rport, "rport", 65535)
    return Via(m.group(1).upper(), host, port, params)


@dataclass(frozen=True)
class CSeq:
    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(text: str) -> CSeq:
    parts = text.split()
    if len(parts) != 2 or not is_token(parts[1]):
        raise SipValueError("CSeq must be '<number> <method>'")
    # §8.1.1.5: the sequence number is a 32-bit unsigned integer below 2**31.
    return CSeq(_digits(parts[0], "CSeq number", 2**31 - 1), parts[1])


def parse_uint32(text: str) -> int:
    return _digits(text, "value", 2**32 - 1)


def parse_max_forwards(text: str) -> int:
    return _digits(text, "Max-Forwards", 255)


@dataclass(frozen=True)
class Event:
    """Event header (RFC 6665 §8.2.1): package name and parameters (``id`` ...)."""

    package: str
    params: Params = ()

    @property
    def id(self) -> str | None:
        return param(self.params, "id")

    def __str__(self) -> str:
        return self.package + format_params(self.params)


def parse_event(text: str) -> Event:
    name, sep, ptext = text.partition(";")
    name = name.strip(_WS)
    if not is_token(name):
        raise SipValueError(f"bad event package {name!r}")
    # Event package names compare case-insensitively (RFC 6665 §8.2.1 token matching).
    return Event(name.lower(), parse_params(sep + ptext))


@dataclass(frozen=True)
class SubscriptionState:
    """Subscription-State (RFC 6665 §8.2.3): active / pending / terminated + params."""

    state: str
    params: Params = ()

    @property
    def expires(self) -> int | None:
        value = param(self.params, "expires")
        return int(value) if value else None

    @property
    def reason(self) -> str | None:
        return param(self.params, "reason")

    @property
    def retry_after(self) -> int | None:
        value = param(self.params, "retry-after")
        return int(value) if value else None

    def __str__(self) -> str:
        return self.state + format_params(self.params)


def parse_subscription_state(text: str) -> SubscriptionState:
    name, sep, ptext = text.partition(";")
    name = name.strip(_WS)
    if not is_token(name):
        raise SipValueError(f"bad substate {name!r}")
    params = parse_params(sep + ptext)
    for key in ("expires", "retry-after"):
        value = param(params, key)
        if value is not None:
            _digits(value, key, 2**32 - 1)
    return SubscriptionState(name.lower(), params)


@dataclass(frozen=True)
class MediaType:
    """Content-Type / Accept value: type/subtype and parameters."""

    type: str
    subtype: str
    params: Params = ()

    @property
    def mime(self) -> str:
        return f"{self.type}/{self.subtype}"

    def __str__(self) -> str:
        return self.mime + format_params(self.params)


def parse_media_type(text: str) -> MediaType:
    name, sep, ptext = text.partition(";")
    kind, slash, sub = name.strip(_WS).partition("/")
    kind, sub = kind.strip(_WS), sub.strip(_WS)
    if not slash or not is_token(kind) or not is_token(sub):
        raise SipValueError(f"bad media type {name.strip()!r}")
    return MediaType(kind.lower(), sub.lower(), parse_params(sep + ptext))


def parse_token(text: str) -> str:
    if not is_token(text):
        raise SipValueError(f"not a token: {text[:40]!r}")
    return text


def parse_call_id(text: str) -> str:
    # callid = word [ "@" word ]; word allows a few separators beyond token characters.
    if not re.fullmatch(r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+(@[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+)?",
                        text):
        raise SipValueError(f"bad Call-ID {text[:40]!r}")
    return text


def parse_text(text: str) -> str:
    """Any other header: kept as the (unfolded) text."""
    return text
