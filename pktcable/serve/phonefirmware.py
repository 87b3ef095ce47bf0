"""SIP phones' firmware in ``pktcable serve``: the firmware rules' image in each phone's
profile, and a change NOTIFY to the phones whose image a rule change moved.

- What a phone runs comes from its SUBSCRIBE (the ua-profile Event's vendor, model and
  version, RFC 6080 §6.1.2), kept in the firmware store as a modem's option 43 is
  (serve/upgrades.py ``phone_report``). The rules decide from that
  (:func:`~pktcable.firmware.rules.target_for`), so a phone is matched by vendor and
  model; the package names no hardware version, so rules for phones use ``*`` there.
- The image offered goes into the profile as the variables ``firmware_url`` (the catalogue's URL on the server that serves the profiles),
  ``firmware_version`` and ``firmware_sha256``; each layout writes them in its own element
  (pktcable/phones/firmware.py). A phone whose own variables name a ``firmware_url`` is
  pinned to it: the rules add nothing to its profile. A phone that runs its target, or
  is outside the rollout's stage or window, is offered nothing, and its profile names no
  firmware (what a phone takes as "keep what you run").
- A rule change (the API tells at once; the CLI, or another serve sharing the store, is
  seen when the rules are next read, every :data:`~pktcable.serve.upgrades.RULES_TTL`
  seconds), and a maintenance window opening or closing, starts a sweep: every phone whose
  profile was built is decided again, and those whose firmware changed are queued for the
  change NOTIFY, through the notifier's rate limit. Phones whose image did not move are
  not told anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from pktcable.firmware.rules import Rule, RuleError, Window
from pktcable.sip.uaprofile import UaProfile
from pktcable.store.devices import Device
from pktcable.store.firmware import FirmwareImage

from .upgrades import RULES_TTL, Upgrades

log = logging.getLogger("pktcable.serve.sip")
#: Phones decided per slice of a sweep before the event loop gets its turn again.
SWEEP_SLICE = 500
Offer = tuple[tuple[str, str], ...]


class PhoneFirmware:
    def __init__(self, upgrades: Upgrades, lookup: Callable[[str], Device | None],
                 notify: Callable[[Iterable[str]], None], clock: Callable[[], float]) -> None:
        self.upgrades, self.lookup, self.notify, self.clock = upgrades, lookup, notify, clock
        #: The catalogue's base URL (set when the server knows where it serves it); None: no firmware.
        self.base: str | None = None
        #: mac -> the firmware variables its profile was last built with: what a sweep compares.
        self._offered: dict[str, Offer] = {}
        self._seen: object = None
        self._sweep: asyncio.Task[None] | None = None
        self._again = False
        self._watch: asyncio.Task[None] | None = None
        #: Sweeps run, and phones queued by them (what a test or an operator reads).
        self.sweeps = 0
        self.queued = 0

    # -- the profile's variables ---------------------------------------------------------------
    def variables(self, device: Device) -> dict[str, Any]:
        """What the phone's profile adds to its variables (PhoneBook's ``extra``)."""
        offer = self._offer(device)
        self._offered[device.mac] = offer
        return dict(offer)

    def _offer(self, device: Device, images: dict[str, FirmwareImage | None] | None = None) -> Offer:
        if self.base is None or "firmware_url" in device.vars:
            return ()
        image = self.upgrades.phone_image(device.mac, images)
        if image is None:
            return ()
        return (("firmware_url", self.base + image.filename), ("firmware_version", image.version),
                ("firmware_sha256", image.sha256))

    def report(self, mac: str, ua: UaProfile) -> None:
        """A phone's SUBSCRIBE: what it says it runs (ProvisioningCore's ``on_report``). A store
        that fails the write costs the record, not the SUBSCRIBE: it is answered all the same."""
        try:
            self.upgrades.phone_report(mac, ua.vendor, ua.model, ua.version)
        except Exception:
            log.exception("%s ua-profile: could not record the reported firmware", mac, extra={"mac": mac})

    def forget(self, mac: str) -> None:
        self._offered.pop(mac, None)

    # -- rule changes --------------------------------------------------------------------------
    def rules_changed(self) -> None:
        """The rules changed (this serve's API): sweep now (a sweep under way runs once more)."""
        self.upgrades.changed()
        self._start_sweep()

    def start(self, base: str) -> None:
        self.base = base
        self._seen = self._state()
        self._watch = asyncio.ensure_future(self._watching())

    async def _watching(self) -> None:
        while True:
            await asyncio.sleep(RULES_TTL)
            try:
                state = self._state()
            except Exception:  # a store that fails a read now is tried again next time
                log.exception("firmware rules: could not read them")
                continue
            if state != self._seen:
                self._start_sweep()

    def _state(self) -> object:
        """What a phone's firmware depends on besides itself: the rules, and which of their
        maintenance windows are open now."""
        rules = self.upgrades.rules()
        now = self.clock()
        return tuple(rules), tuple(_open(rule, now) for rule in rules)

    def _start_sweep(self) -> None:
        if self._sweep is not None and not self._sweep.done():
            self._again = True
            return
        self._sweep = asyncio.ensure_future(self._sweeping())

    async def _sweeping(self) -> None:
        while True:
            self._again = False
            try:
                self._seen = self._state()
                await self.sweep()
            except Exception:  # a store that fails now: the watch sees the change still pending and retries
                log.exception("firmware rules: the phones' sweep failed")
                self._seen = None
                return
            if not self._again:
                return

    async def sweep(self) -> list[str]:
        """Decide every phone whose profile was built again; queue the change NOTIFY for those
        whose firmware moved. Returns their MACs."""
        self.sweeps += 1
        moved: list[str] = []
        images: dict[str, FirmwareImage | None] = {}  # the catalogue read once per image, not per phone
        macs = list(self._offered)
        for start in range(0, len(macs), SWEEP_SLICE):
            for mac in macs[start:start + SWEEP_SLICE]:
                device = self.lookup(mac)
                if device is None:
                    self._offered.pop(mac, None)
                elif self._offer(device, images) != self._offered.get(mac):
                    moved.append(mac)
            await asyncio.sleep(0)
        if moved:
            self.queued += len(moved)
            log.info("firmware rules: %d phone(s) get a new profile", len(moved))
            self.notify(moved)
        return moved

    async def close(self) -> None:
        for task in (self._watch, self._sweep):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass


def _open(rule: Rule, now: float) -> bool | None:
    if not rule.window:
        return None
    try:
        return Window.parse(rule.window).contains(now)
    except RuleError:
        return None
