"""The ua-profile event package parameters (RFC 6080 §6.1.2): what a phone tells
the notifier about itself in the Event header of its SUBSCRIBE.

``profile-type`` is a token (device, user, local-network, application or an
extension); vendor, model and version are quoted-strings; ``appids`` a quoted
comma list; ``effective-by`` seconds. Phones in the field quote profile-type
too (``profile-type="device"``), so parsing accepts a token or a quoted-string
for every text parameter, and producing writes the RFC's forms.
"""

from __future__ import annotations

from dataclasses import dataclass

from pktcable.sip import grammar as g
from pktcable.sip.errors import SipValueError

PACKAGE = "ua-profile"
PROFILE_TYPES = ("device", "user", "local-network", "application")


@dataclass(frozen=True)
class UaProfile:
    profile_type: str
    vendor: str | None = None
    model: str | None = None
    version: str | None = None
    appids: tuple[str, ...] = ()
    effective_by: int | None = None
    network_user: str | None = None
    profile_name: str | None = None
    #: Extension parameters, as written.
    other: g.Params = ()

    def to_event(self) -> g.Event:
        params: list[tuple[str, str | None]] = [("profile-type", self.profile_type)]
        for name, value in (("vendor", self.vendor), ("model", self.model), ("version", self.version),
                            ("network-user", self.network_user), ("profile-name", self.profile_name)):
            if value is not None:
                params.append((name, g.quote(value)))
        if self.appids:
            params.append(("appids", g.quote(",".join(self.appids))))
        if self.effective_by is not None:
            params.append(("effective-by", str(self.effective_by)))
        return g.Event(PACKAGE, tuple(params) + self.other)


_KNOWN = ("profile-type", "vendor", "model", "version", "appids", "effective-by", "network-user", "profile-name")


def from_event(event: g.Event) -> UaProfile:
    """The ua-profile parameters of ``event``; SipValueError when they break RFC 6080."""
    if event.package != PACKAGE:
        raise SipValueError(f"event package is {event.package!r}, not {PACKAGE}")
    raw = g.param(event.params, "profile-type")
    if not raw:
        raise SipValueError("ua-profile needs a profile-type parameter")
    profile_type = g.unquote(raw).lower()
    if not g.is_token(profile_type):
        raise SipValueError(f"bad profile-type {raw!r}")

    def text(name: str) -> str | None:
        value = g.param(event.params, name)
        return None if value is None else g.unquote(value)

    effective = text("effective-by")
    if effective is not None and not (effective.isascii() and effective.isdigit()):
        raise SipValueError(f"effective-by must be seconds, got {effective!r}")
    appids = text("appids")
    return UaProfile(
        profile_type=profile_type, vendor=text("vendor"), model=text("model"), version=text("version"),
        appids=tuple(a.strip() for a in appids.split(",") if a.strip()) if appids else (),
        effective_by=int(effective) if effective is not None else None,
        network_user=text("network-user"), profile_name=text("profile-name"),
        other=tuple(p for p in event.params if p[0] not in _KNOWN))
