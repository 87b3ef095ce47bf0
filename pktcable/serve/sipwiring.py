"""SIP phones in ``pktcable serve``: the ua-profile notifier beside the other services.

Phones are devices of kind ``sip`` in the store; their profiles are served by the
delivery HTTP server under ``/profiles/`` and announced by the notifier
(:mod:`pktcable.sip.service`). What a phone does lands in its step history and
its state (``subscribed``, ``unsubscribed``, ``profile-failed``), which the
server-side SIP flow table (:data:`pktcable.flow.sip.SERVER_TABLE`) drives, as an
eMTA's flow does. A change to a phone (the API, a SIGHUP reload) is announced to it
through :meth:`SipWiring.changed`, within ``sip_push_rate``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from pktcable.delivery.resolvers import PHONE_LAYOUTS
from pktcable.flow.sip import server_state
from pktcable.phones.book import KIND, PhoneBook
from pktcable.phones.profiles import ProfileError, Profiles
from pktcable.sip.service import SipProvisioningServer
from pktcable.store.devices import DeviceStore, Step

from .config import ServeConfig

log = logging.getLogger("pktcable.serve.sip")
#: Step label of the phones' history entries (no PacketCable flow step names them).
STEP = "SIP"


def url_key(cm_key: bytes) -> bytes:
    """The profile URL tokens' key, derived from the server's secret: stable across
    restarts (a phone may keep its URL), without one more secret file to keep."""
    return hmac.new(cm_key, b"pktcable sip profile url", hashlib.sha256).digest()


class SipWiring:
    def __init__(self, cfg: ServeConfig, devices: DeviceStore, cm_key: bytes, clock: Callable[[], float],
                 commit: Callable[[], None], record_file: Callable[[str, str, str, bytes], None]) -> None:
        self.devices, self.clock, self.commit, self.record_file = devices, clock, commit, record_file
        # The operator's layouts live in the templates folder's sip/ (not config templates).
        profiles = Profiles(Path(cfg.templates) / PHONE_LAYOUTS) if cfg.templates else Profiles()
        self.book = PhoneBook(profiles, devices.get, url_key(cm_key), clock)
        self.cfg = cfg
        self.server: SipProvisioningServer | None = None

    async def start(self, listen: str, advertise: str, http_url: str) -> None:
        cfg = self.cfg
        self.server = SipProvisioningServer(
            self.book, http_url, listen, cfg.sip_port, advertise, cfg.sip_transport, auth_secret=self.book.secret,
            allow_mac_auth=cfg.sip_mac_auth, push_rate=cfg.sip_push_rate, push_burst=max(1.0, cfg.sip_push_rate * 2),
            push_window=cfg.sip_push_window, on_step=self.on_step, multicast=cfg.sip_multicast)
        await self.server.start()

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

    @property
    def address(self) -> tuple[str, int] | None:
        return self.server.bound if self.server is not None else None

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
