"""The phones a server provisions: which profile each one has now, since when, and
under which URL it may fetch it.

A phone's profile URL is ``<base>/profiles/<mac>-<token>.xml``: the token is an
HMAC of the MAC under the server's secret, so one phone cannot guess another's
URL (a profile holds the line passwords). When the store knows the phone's
address (its SUBSCRIBE's source, or its lease), the profile goes to that
address only, as a cable modem's file goes to its leased address only.

``current(mac)`` builds the profile from the device's variables and remembers
its version and when that version first appeared (HTTP Last-Modified); a new
version is what the notifier announces. Only devices of kind ``sip`` have one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pktcable.delivery.http import Versioned
from pktcable.delivery.resolvers import AccessDenied, BuildFailed, NotFound
from pktcable.store.devices import Device

from .profiles import Profile, ProfileError, Profiles

KIND = "sip"
PREFIX = "profiles/"
_NAME = re.compile(r"(?P<mac>[0-9a-f]{12})-(?P<token>[0-9a-f]{32})\.xml")


@dataclass(frozen=True)
class Current:
    profile: Profile
    #: When this version was first built (seconds since the epoch): HTTP Last-Modified.
    since: float
    #: True when this call found a new version (the phone must be told).
    changed: bool


class PhoneBook:
    def __init__(self, profiles: Profiles, lookup: Callable[[str], Device | None], secret: bytes,
                 clock: Callable[[], float], extra: Callable[[Device], Mapping[str, Any]] | None = None) -> None:
        if len(secret) < 16:
            raise ValueError("the profile URL secret must be at least 16 bytes")
        self.profiles, self.lookup, self.secret, self.clock = profiles, lookup, secret, clock
        #: Variables the server adds to a phone's own (its firmware, from the rules); its own win.
        self.extra = extra
        self._versions: dict[str, tuple[str, float]] = {}
        #: Told the MAC of every profile :meth:`serve` hands out (the SIP server paces pushes by it).
        self.on_served: Callable[[str], None] | None = None

    def token(self, mac: str) -> str:
        return hmac.new(self.secret, mac.encode(), hashlib.sha256).hexdigest()[:32]

    def path(self, mac: str) -> str:
        """The profile's path on the HTTP server (no leading slash)."""
        return f"{PREFIX}{mac}-{self.token(mac)}.xml"

    def phone(self, mac: str) -> Device | None:
        device = self.lookup(mac)
        return device if device is not None and device.kind == KIND else None

    def current(self, mac: str) -> Current:
        """The phone's profile now; KeyError if ``mac`` is no known phone, ProfileError if it cannot be built."""
        device = self.phone(mac)
        if device is None:
            raise KeyError(mac)
        variables = device.vars if self.extra is None else {**self.extra(device), **device.vars}
        profile = self.profiles.build(mac, device.template, variables)
        known = self._versions.get(mac)
        if known is not None and known[0] == profile.version:
            return Current(profile, known[1], False)
        since = self.clock()
        self._versions[mac] = (profile.version, since)
        return Current(profile, since, known is not None)

    def version(self, mac: str) -> str | None:
        """The last version built for ``mac`` (None before the first)."""
        known = self._versions.get(mac)
        return None if known is None else known[0]

    def forget(self, mac: str) -> None:
        self._versions.pop(mac, None)

    def serve(self, name: str, client: tuple[str, int]) -> Current:
        """The profile an HTTP request for ``name`` (under :data:`PREFIX`) gets, or the
        resolver errors the delivery server turns into 404/403/500."""
        match = _NAME.fullmatch(name.removeprefix(PREFIX))
        if match is None:
            raise NotFound(name, "not a profile name")
        mac = match.group("mac")
        if not hmac.compare_digest(match.group("token"), self.token(mac)):
            raise NotFound(name, "wrong token")  # no hint that the MAC exists
        device = self.phone(mac)
        if device is None:
            raise NotFound(name, "no such phone")
        if device.ip and device.ip != client[0]:
            raise AccessDenied(name, f"phone {mac} is at {device.ip}, not {client[0]}")
        try:
            found = self.current(mac)
        except ProfileError as exc:
            raise BuildFailed(name, str(exc)) from None
        except KeyError:
            raise NotFound(name, "no such phone") from None
        if self.on_served is not None:
            self.on_served(mac)
        return found

    def serve_http(self, name: str, client: tuple[str, int]) -> Versioned:
        """:meth:`serve` in the delivery server's terms (a :data:`~pktcable.delivery.http.VersionedSource`)."""
        found = self.serve(name, client)
        return Versioned(found.profile.data, found.profile.etag, found.since, found.profile.content_type)
