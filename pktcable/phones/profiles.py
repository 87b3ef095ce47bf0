"""SIP phone profiles: per-device XML from Jinja2 templates and device variables,
validated against an XML Schema before anyone can fetch it.

A layout (:data:`LAYOUTS`) is a template, its schema and a content type: our own
vendor-neutral ``generic`` one, and the subsets we emit of two real families'
public formats (``polycom``: parameters as attributes; ``snom``: XML settings).
Device variables are checked and normalized first (:func:`profile_vars`), so a
template only ever sees typed values; Jinja2 escapes every value for XML, so a
display name cannot add elements. The rendered bytes are then parsed without
entities or network access and checked against the layout's schema: a profile
the schema refuses is never served (:class:`ProfileError`).

A profile's version is the SHA-256 of its bytes: the HTTP ETag, and what the
notifier compares to know that a phone must be told of a change.

A phone's profile is asked for several times per version (its SUBSCRIBE, the
NOTIFY, its GET, a change push, the GET after it), so the last one built per
phone is kept (least recently used dropped beyond ``cache_size``) and reused
while the layout, the variables and the template are the same: one render and
schema check per version, not five.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from lxml import etree

#: The shipped templates and schemas.
SHIPPED = Path(__file__).resolve().parent.parent / "templates" / "sip"
#: Largest profile served: a phone's whole settings fit in a few kilobytes.
MAX_PROFILE_BYTES = 256 * 1024
MAX_LINES = 4


class ProfileError(Exception):
    """A profile cannot be built: ``field`` names the variable (or ``schema``/``template``)."""

    def __init__(self, mac: str, field: str, reason: str) -> None:
        super().__init__(f"profile of {mac}: {field}: {reason}")
        self.mac, self.field, self.reason = mac, field, reason


@dataclass(frozen=True)
class Layout:
    name: str
    template: str
    schema: str
    content_type: str


LAYOUTS: dict[str, Layout] = {
    layout.name: layout for layout in (
        Layout("generic", "generic.xml.j2", "generic.xsd", "application/xml"),
        Layout("polycom", "polycom.xml.j2", "polycom.xsd", "application/xml"),
        Layout("snom", "snom.xml.j2", "snom.xsd", "application/xml"),
    )
}


@dataclass(frozen=True)
class Codec:
    name: str
    payload_type: int  # RFC 3551 static payload type (what snom's codecN_name takes)
    polycom: str  # the voice.codecPref.<name> parameter


CODECS: dict[str, Codec] = {c.name: c for c in (
    Codec("PCMU", 0, "G711_Mu"),
    Codec("PCMA", 8, "G711_A"),
    Codec("G722", 9, "G722"),
    Codec("G729", 18, "G729_AB"),
)}
#: Features a profile can switch; every layout writes each of them.
FEATURES = ("call_waiting", "dnd")
TRANSPORTS = ("udp", "tcp", "tls")
DEFAULTS: dict[str, Any] = {"codecs": ["PCMU", "PCMA"], "transport": "udp", "registrar_port": 5060}

_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")
_USER = re.compile(r"[A-Za-z0-9_.!~*'()&=+$,;?/\-]{1,64}")
_URL = re.compile(r"https?://[\x21-\x7e]{1,1000}")
#: An image's version as the catalogue keeps it (1 to 64 printable characters).
_VERSION = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TEXT_MAX = 128


@dataclass(frozen=True)
class Profile:
    mac: str
    layout: str
    data: bytes
    content_type: str

    @property
    def version(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def etag(self) -> str:
        return f'"{self.version[:32]}"'


def _text(mac: str, name: str, value: object, *, pattern: re.Pattern[str] | None = None,
          allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ProfileError(mac, name, f"must be a string, not {type(value).__name__}")
    if not value and allow_empty:
        return value
    if pattern is not None and not pattern.fullmatch(value):
        raise ProfileError(mac, name, f"{value!r} is not allowed here")
    if len(value) > _TEXT_MAX or any(ord(c) < 0x20 for c in value):
        raise ProfileError(mac, name, "too long or has control characters")
    return value


def profile_vars(mac: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The template context from a phone's device variables, every value checked:

    ``registrar`` (host), ``registrar_port``, ``transport`` (udp/tcp/tls), ``lines``
    (1-4 objects: ``user``, ``password``, optional ``display_name``, ``auth_user``),
    ``codecs`` (names of :data:`CODECS`, in preference order), optional
    ``firmware_url`` (with, optionally, the image's ``firmware_version`` and ``firmware_sha256``:
    what pktcable/phones/firmware.py reads back), ``ntp_server`` and ``features`` (booleans
    named in :data:`FEATURES`).
    Unknown keys are refused: a misspelt variable must not silently do nothing."""
    known = {"registrar", "registrar_port", "transport", "lines", "codecs", "firmware_url", "firmware_version",
             "firmware_sha256", "ntp_server", "features", "sip_password"}
    unknown = sorted(set(variables) - known)
    if unknown:
        raise ProfileError(mac, unknown[0], "unknown variable")
    v = {**DEFAULTS, **variables}
    if "registrar" not in v:
        raise ProfileError(mac, "registrar", "missing")
    host = _text(mac, "registrar", v["registrar"], pattern=_HOST)
    port = v["registrar_port"]
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ProfileError(mac, "registrar_port", f"must be a port number, not {port!r}")
    transport = v["transport"]
    if transport not in TRANSPORTS:
        raise ProfileError(mac, "transport", f"must be one of {', '.join(TRANSPORTS)}")
    raw_lines = v.get("lines")
    if not isinstance(raw_lines, list) or not 0 < len(raw_lines) <= MAX_LINES:
        raise ProfileError(mac, "lines", f"must be a list of 1 to {MAX_LINES} lines")
    lines = []
    for i, line in enumerate(raw_lines, 1):
        where = f"lines[{i}]"
        if not isinstance(line, dict) or set(line) - {"user", "password", "display_name", "auth_user"}:
            raise ProfileError(mac, where, "must be an object of user, password, display_name, auth_user")
        user = _text(mac, f"{where}.user", line.get("user"), pattern=_USER)
        lines.append({"user": user,
                      "password": _text(mac, f"{where}.password", line.get("password")),
                      "display_name": _text(mac, f"{where}.display_name", line.get("display_name", ""),
                                            allow_empty=True),
                      "auth_user": _text(mac, f"{where}.auth_user", line.get("auth_user", user), pattern=_USER)})
    names = v["codecs"]
    if not isinstance(names, list) or not names or len(set(names)) != len(names) \
            or any(n not in CODECS for n in names):
        raise ProfileError(mac, "codecs", f"must list distinct codecs of {', '.join(CODECS)}")
    codecs = [CODECS[n] for n in names]
    # Polycom ranks every codec: 1 = first choice, 0 = disabled.
    all_codecs = [{"polycom": c.polycom, "preference": codecs.index(c) + 1 if c in codecs else 0}
                  for c in CODECS.values()]
    features = v.get("features", {})
    if not isinstance(features, dict) or any(k not in FEATURES or not isinstance(b, bool)
                                             for k, b in features.items()):
        raise ProfileError(mac, "features", f"must map {', '.join(FEATURES)} to true/false")
    firmware = v.get("firmware_url")
    image = {name: _text(mac, f"firmware_{name}", v[f"firmware_{name}"], pattern=pattern)
             for name, pattern in (("version", _VERSION), ("sha256", _SHA256)) if v.get(f"firmware_{name}") is not None}
    if image and firmware is None:
        raise ProfileError(mac, sorted(f"firmware_{n}" for n in image)[0], "given without firmware_url")
    ntp = v.get("ntp_server")
    return {
        "mac": mac, "registrar": {"host": host, "port": port, "transport": transport}, "lines": lines,
        "codecs": [{"name": c.name, "payload_type": c.payload_type} for c in codecs], "all_codecs": all_codecs,
        "features": {name: bool(features.get(name, False)) for name in FEATURES},
        "firmware_url": None if firmware is None else _text(mac, "firmware_url", firmware, pattern=_URL),
        "firmware_version": image.get("version"), "firmware_sha256": image.get("sha256"),
        "ntp_server": None if ntp is None else _text(mac, "ntp_server", ntp, pattern=_HOST),
    }


class Profiles:
    """Builds and validates profiles from the templates in ``folders`` (the first
    that has a file wins: an operator's folder first, then :data:`SHIPPED`)."""

    def __init__(self, *folders: Path, cache_size: int = 16_384) -> None:
        self.folders = tuple(folders) + (SHIPPED,)
        self.cache_size = cache_size
        #: mac -> (layout, variables as canonical JSON, the template object, the profile built).
        self._built: OrderedDict[str, tuple[str, str, jinja2.Template, Profile]] = OrderedDict()
        #: Profiles rendered and checked (cache misses): what a benchmark reads.
        self.builds = 0
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(f) for f in self.folders]),
            autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        self._parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)

    def schema(self, layout: str) -> Any:
        return _load_schema(self._find(LAYOUTS[layout].schema))

    def schema_path(self, layout: str) -> Path:
        return self._find(LAYOUTS[layout].schema)

    def _find(self, name: str) -> Path:
        for folder in self.folders:
            if (folder / name).is_file():
                return folder / name
        raise FileNotFoundError(name)

    def build(self, mac: str, layout: str, variables: Mapping[str, Any]) -> Profile:
        """The validated profile of ``mac``; :class:`ProfileError` says why not."""
        spec = LAYOUTS.get(layout or "generic")
        if spec is None:
            raise ProfileError(mac, "template", f"unknown layout {layout!r} (one of {', '.join(LAYOUTS)})")
        try:
            # Jinja2 hands out a new Template object once the file changed on disk (auto_reload):
            # an edited template is thus a cache miss like edited variables.
            template = self.env.get_template(spec.template)
        except jinja2.TemplateError as exc:
            raise ProfileError(mac, "template", str(exc)) from None
        key = json.dumps(variables, sort_keys=True, default=repr)
        hit = self._built.get(mac)
        if hit is not None and hit[0] == spec.name and hit[1] == key and hit[2] is template:
            self._built.move_to_end(mac)
            return hit[3]
        context = profile_vars(mac, variables)
        try:
            text = template.render(context)
        except jinja2.TemplateError as exc:
            raise ProfileError(mac, "template", str(exc)) from None
        data = text.encode("utf-8")
        if len(data) > MAX_PROFILE_BYTES:
            raise ProfileError(mac, "template", f"{len(data)} bytes, more than {MAX_PROFILE_BYTES}")
        self.validate(mac, spec.name, data)
        self.builds += 1
        profile = Profile(mac, spec.name, data, spec.content_type)
        self._built[mac] = (spec.name, key, template, profile)
        self._built.move_to_end(mac)
        if len(self._built) > self.cache_size:
            self._built.popitem(last=False)
        return profile

    def validate(self, mac: str, layout: str, data: bytes) -> None:
        try:
            doc = etree.fromstring(data, self._parser)
        except etree.XMLSyntaxError as exc:
            raise ProfileError(mac, "schema", f"not well-formed XML: {exc}") from None
        schema = self.schema(layout)
        if not schema.validate(doc):
            err = schema.error_log.last_error
            raise ProfileError(mac, "schema", f"line {err.line}: {err.message}")


@cache
def _load_schema(path: Path) -> Any:
    # Schemas are loaded once per path: libxml2 compiles them into an automaton.
    return etree.XMLSchema(etree.parse(str(path), etree.XMLParser(no_network=True, resolve_entities=False)))
