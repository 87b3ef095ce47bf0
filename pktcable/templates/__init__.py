"""Config templates: Jinja2 text in the config language, rendered per device.

``environment(folder)`` looks in the operator's folder first, then in the
defaults shipped here (``cm.txt``, ``mta.txt``). Undefined variables are
errors, not empty strings. A device variable reaches the file only through a
typed filter (:data:`FILTERS`): each checks that the value is of its type and
writes it in the config language's form for that type, so a variable can never
add statements; a value of the wrong type raises :class:`ValueTypeError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import jinja2

from tlv.quoting import quote

DEFAULTS = Path(__file__).resolve().parent

#: The widest integer the ``integer`` filter passes without bounds (Counter64's range).
INTEGER_RANGE = (-(2**63), 2**64 - 1)
#: Longest string index in an OID (``Name.'index'``): one arc per character, and OIDs have at most 128 arcs.
INDEX_MAX = 100
_DECIMAL = re.compile(r"-?[0-9]{1,20}")
_MAC = re.compile(r"[0-9a-fA-F]{12}|[0-9a-fA-F]{2}(?:([:\-])[0-9a-fA-F]{2})(?:\1[0-9a-fA-F]{2}){4}"
                  r"|[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}")
_INDEX = re.compile(r"[\x20-\x26\x28-\x7e]+")  # printable ASCII but the quote that ends the index
#: A call agent id (NCS: ``local@host``, the host an FQDN or a bracketed IPv4 address).
_CALL_AGENT = re.compile(r"(?P<local>[^@\s]{1,64})@(?P<host>\[[0-9.]{7,15}\]|(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                         r"[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)")
CMS_MAX = 255  # pktcMtaDevCmsFqdn: SnmpAdminString (1..255)


class ValueTypeError(ValueError):
    """A template value is not of the type its filter writes."""

    def __init__(self, filter_name: str, value: Any, why: str) -> None:
        self.filter_name = filter_name
        self.value = value
        self.why = why
        shown = repr(value)
        super().__init__(f"{why} (filter {filter_name}, value {shown[:60] + '...' if len(shown) > 60 else shown})")


def _defined(value: Any) -> Any:
    """An undefined variable is the template's error, not a type error (StrictUndefined raises here)."""
    if isinstance(value, jinja2.Undefined):
        str(value)
    return value


def integer(value: Any, low: int | None = None, high: int | None = None) -> str:
    """An int, or a string of decimal digits, within [low, high] -> its decimal text."""
    value = _defined(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueTypeError("integer", value, f"not an integer but a {type(value).__name__}")
    if isinstance(value, str):
        if _DECIMAL.fullmatch(value) is None:
            raise ValueTypeError("integer", value, "not a decimal integer")
        value = int(value)
    lo = INTEGER_RANGE[0] if low is None else low
    hi = INTEGER_RANGE[1] if high is None else high
    if not lo <= value <= hi:
        raise ValueTypeError("integer", value, f"outside {lo}..{hi}")
    return str(value)


def quoted(value: Any) -> str:
    """Printable text (tabs allowed) -> a quoted config string. Control
    characters such as line breaks are refused: no provisioning text needs
    them, and an operator's template may use ``q`` for arbitrary bytes."""
    value = _defined(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueTypeError("quoted", value, f"not text but a {type(value).__name__}")
    text = str(value)
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in text):
        raise ValueTypeError("quoted", value, "control characters in text")
    return quote(text.encode("utf-8"))


def q(value: Any) -> str:
    """Any value as a quoted config-language string, every byte escaped as needed."""
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return quote(data)


def ip(value: Any) -> str:
    """A dotted IPv4 address."""
    value = _defined(value)
    try:
        return str(IPv4Address(value if isinstance(value, str) else ""))
    except ValueError:
        raise ValueTypeError("ip", value, "not a dotted IPv4 address") from None


def mac(value: Any) -> str:
    """A MAC address in any usual spelling -> ``aa:bb:cc:dd:ee:ff``."""
    value = _defined(value)
    if not isinstance(value, str) or _MAC.fullmatch(value) is None:
        raise ValueTypeError("mac", value, "not a MAC address")
    key = "".join(c for c in value.lower() if c not in ":-.")
    return ":".join(key[i:i + 2] for i in range(0, 12, 2))


def index(value: Any) -> str:
    """A string table index of an OID, quoted: ``pktcMtaDevRealmOrgName.{{ realm | index }}``."""
    value = _defined(value)
    if not isinstance(value, str) or _INDEX.fullmatch(value) is None or len(value) > INDEX_MAX:
        raise ValueTypeError("index", value, f"not 1..{INDEX_MAX} printable ASCII characters without a quote")
    return f"'{value}'"


def cms(value: Any) -> str:
    """A call agent id (``ca@cms.example.net``, ``ca@[10.0.0.1]``) -> the CMS it names
    (``cms.example.net``, ``[10.0.0.1]``), the key of the eMTA's CMS table row."""
    value = _defined(value)
    match = _CALL_AGENT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueTypeError("cms", value, "not a call agent id local@fqdn or local@[IPv4]")
    host = match.group("host")
    if host.startswith("["):
        try:
            IPv4Address(host[1:-1])
        except ValueError:
            raise ValueTypeError("cms", value, "CMS address is not a dotted IPv4 address") from None
    if len(host) > CMS_MAX:
        raise ValueTypeError("cms", value, f"CMS name longer than {CMS_MAX} characters")
    return host


def tree(value: Any) -> str:
    """An eMTA MIB tree name: cablelabs, ietf or euro."""
    from pktcable.snmp.pktc import Tree

    value = _defined(value)
    if not isinstance(value, str) or value not in set(Tree):
        raise ValueTypeError("tree", value, f"not a MIB tree ({', '.join(Tree)})")
    return value


#: The typed filters, by the name templates use.
FILTERS: dict[str, Callable[..., str]] = {"integer": integer, "quoted": quoted, "ip": ip, "mac": mac,
                                          "index": index, "q": q, "cms": cms, "tree": tree}


def environment(folder: str | Path | None = None, loader: jinja2.BaseLoader | None = None) -> jinja2.Environment:
    """Templates from ``loader`` or ``folder`` first, then the shipped defaults."""
    loaders: list[jinja2.BaseLoader] = []
    if loader is not None:
        loaders.append(loader)
    if folder is not None:
        loaders.append(jinja2.FileSystemLoader(str(folder)))
    loaders.append(jinja2.FileSystemLoader(str(DEFAULTS)))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
                             autoescape=False, keep_trailing_newline=True)
    env.filters.update(FILTERS)
    return env
