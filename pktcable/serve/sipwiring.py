"""SIP phones in ``pktcable serve``: the ua-profile notifier beside the other services.

Phones are devices of kind ``sip`` in the store; their profiles are served by the
delivery HTTP server under ``/profiles/`` and announced by the notifier
(:mod:`pktcable.sip.service`). What a phone does lands in its step history and
its state (``subscribed``, ``unsubscribed``, ``profile-failed``), which the
server-side SIP flow table (:data:`pktcable.flow.sip.SERVER_TABLE`) drives, as an
eMTA's flow does. A change to a phone (the API, a SIGHUP reload, a firmware rule:
serve/phonefirmware.py) is announced to it through :meth:`SipWiring.changed`, within
``sip_push_rate``.

With ``sip_cert``/``sip_key`` the SIP port may speak TLS (``sip_transport = "tls"``) and the
profiles may have an HTTPS listener of their own (``sip_https_port``); the NOTIFYs then name
``https://`` URLs and the delivery server's plain HTTP no longer serves them. Every fetch of
a profile is a ``ProfileFetched`` step, from which (with :meth:`SipWiring.live`) the API and
the dashboard show the version a phone holds against the one served (serve/phonestatus.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from pktcable.delivery.catalogue import CatalogueResolver
from pktcable.delivery.http import HttpServer, Versioned, VersionedSource
from pktcable.delivery.resolvers import PHONE_LAYOUTS, MemoryResolver
from pktcable.flow.sip import server_state
from pktcable.phones.book import KIND, PREFIX, PhoneBook
from pktcable.phones.profiles import ProfileError, Profiles
from pktcable.sip.service import SipProvisioningServer
from pktcable.store.devices import DeviceStore, Step

from .config import ServeConfig, sip_ssl
from .phonefirmware import PhoneFirmware
from .phonestatus import FETCHED, PhoneLive
from .site import Site, naming
from .upgrades import Upgrades

log = logging.getLogger("pktcable.serve.sip")
#: Step label of the phones' history entries (no PacketCable flow step names them).
STEP = "SIP"


def url_key(cm_key: bytes) -> bytes:
    """The profile URL tokens' key, derived from the server's secret: stable across
    restarts (a phone may keep its URL), without one more secret file to keep."""
    return hmac.new(cm_key, b"pktcable sip profile url", hashlib.sha256).digest()


class SipWiring:
    def __init__(self, cfg: ServeConfig, devices: DeviceStore, cm_key: bytes, clock: Callable[[], float],
                 commit: Callable[[], None], record_file: Callable[[str, str, str, bytes], None],
                 upgrades: Upgrades | None = None) -> None:
        self.devices, self.clock, self.commit, self.record_file = devices, clock, commit, record_file
        #: The firmware rules' image in each phone's profile (serve/phonefirmware.py), when there are rules.
        self.firmware = PhoneFirmware(upgrades, devices.get, self.changed, clock) if upgrades is not None else None
        # The operator's layouts live in the templates folder's sip/ (not config templates).
        profiles = Profiles(Path(cfg.templates) / PHONE_LAYOUTS) if cfg.templates else Profiles()
        self.book = PhoneBook(profiles, devices.get, url_key(cm_key), clock,
                              extra=self.firmware.variables if self.firmware is not None else None)
        self.cfg = cfg
        #: SIP over TLS and the profiles' HTTPS take the same certificate (sip_cert, sip_key).
        self.ssl_context = sip_ssl(cfg)
        self.server: SipProvisioningServer | None = None
        #: The profiles' own HTTPS listener (sip_https_port), or None: they ride on the delivery server.
        self.https: HttpServer | None = None

    def plain_route(self) -> tuple[str, VersionedSource] | None:
        """The profiles' route on the delivery server's plain HTTP: none once they have HTTPS,
        since a profile holds the line passwords and would otherwise still go in clear."""
        return None if self.cfg.sip_https_port else (PREFIX, self.serve_http)

    def serve_http(self, name: str, client: tuple[str, int]) -> Versioned:
        """The profile for an HTTP(S) request, and a ``ProfileFetched`` step in the phone's
        history naming the version it now holds (a 304 to its ETag counts: it holds it)."""
        found = self.book.serve_http(name, client)
        mac = name.removeprefix(PREFIX)[:12]  # the name passed the book's check: <mac>-<token>.xml
        version = self.book.version(mac) or ""
        self.devices.record(Step(mac, self.clock(), STEP, FETCHED, f"profile {version[:16]} by {client[0]}"))
        self.commit()
        return found

    def live(self, mac: str) -> PhoneLive:
        """What the running service knows of the phone now (phonestatus.py turns it into the API's view)."""
        core = self.server.core if self.server is not None else None
        state = core.phones.get(mac) if core is not None else None
        expires = None
        if state is not None and state.subscription is not None and state.expires_at is not None:
            # The notifier keeps the loop's monotonic time; the API speaks in seconds since the epoch.
            expires = self.clock() + state.expires_at - asyncio.get_running_loop().time()
        try:
            served, problem = self.book.current(mac).profile.version[:16], None
        except ProfileError as exc:
            served, problem = None, str(exc)
        except KeyError:
            served, problem = None, None
        return PhoneLive(expires is not None, expires, served, problem, state is not None and state.unreachable)

    async def start(self, site: Site, http: HttpServer | None) -> None:
        """The HTTPS listener (when set), then the SIP port; NOTIFYs name https:// URLs when
        the profiles are on HTTPS (the certificate must name the advertised address)."""
        cfg = self.cfg
        firmware = self.firmware
        if cfg.sip_https_port:
            # The firmware catalogue rides on the profiles' HTTPS too: the phones' one server.
            images = CatalogueResolver(firmware.upgrades.store) if firmware is not None else MemoryResolver({})
            self.https = HttpServer(images, site.listen, cfg.sip_https_port, ssl_context=self.ssl_context,
                                    header_timeout=cfg.http_header_timeout, versioned=(PREFIX, self.serve_http))
            with naming("sip https", site.listen, cfg.sip_https_port):
                await self.https.start()
            url = f"https://{site.url_host(self.https.address[1], 443)}/"
        else:
            assert http is not None, "checked by the settings: sip_port needs http_port or sip_https_port"
            url = f"http://{site.url_host(http.address[1], 80)}/"
        self.server = SipProvisioningServer(
            self.book, url, site.listen, cfg.sip_port, str(site.advertise), cfg.sip_transport,
            auth_secret=self.book.secret, allow_mac_auth=cfg.sip_mac_auth, push_rate=cfg.sip_push_rate,
            push_burst=max(1.0, cfg.sip_push_rate * 2), push_window=cfg.sip_push_window, on_step=self.on_step,
            multicast=cfg.sip_multicast, ssl_context=self.ssl_context if cfg.sip_transport == "tls" else None,
            on_report=firmware.report if firmware is not None else lambda mac, ua: None)
        with naming("sip", site.listen, cfg.sip_port):
            await self.server.start()
        if firmware is not None:
            firmware.start(url)  # the catalogue's images are at the root of the profiles' server

    def on_step(self, mac: str, event: str, detail: str) -> None:
        version = self.book.version(mac)
        if event == "Notified" and version:
            detail = f"{detail}, profile {version[:16]}"
            try:  # the profile the phone was told of, kept as a modem's last file is (the API shows it)
                self.record_file(mac, KIND, f"{mac}.xml", self.book.current(mac).profile.data)
            except (KeyError, ProfileError):
                pass  # gone or broken since: its ProfileFailed step says so
        self.devices.record(Step(mac, self.clock(), STEP, event, detail))
        device = self.devices.get(mac)
        # The server-side flow table (pktcable/flow/sip.py) says where the event leaves the phone.
        target = server_state(device.state, event) if device is not None else None
        if target is None and device is not None:
            log.warning("%s sip event %s is not in the server's flow table", mac, event, extra={"mac": mac})
        if target is not None and device is not None and device.state != target.value:
            device.state, device.updated = target.value, self.clock()
            self.devices.put(device)
        self.commit()
        log.info("%s sip %s %s", mac, event, detail, extra={"mac": mac})

    def changed(self, macs: Iterable[str]) -> None:
        """These devices may have a new profile: the phones among them whose profile did change are told."""
        if self.server is not None:
            self.server.notify_change(m for m in macs if self.book.phone(m) is not None)

    def all_phones(self) -> list[str]:
        return [d.mac for d in self.devices.devices() if d.kind == KIND]

    def addresses(self) -> dict[str, tuple[str, int]]:
        out = {"sip": self.server.bound} if self.server is not None and self.server.bound is not None else {}
        if self.https is not None:
            out["sip_https"] = self.https.address
        return out

    def rules_changed(self) -> None:
        """The firmware rules changed (this serve's API): the phones whose image moved are told."""
        if self.firmware is not None:
            self.firmware.rules_changed()

    async def close(self) -> None:
        if self.firmware is not None:
            await self.firmware.close()
        if self.server is not None:
            await self.server.close()
        if self.https is not None:
            await self.https.close()
