"""Asking a cable modem why it did not take the image its file offered (docs/firmware.md,
"Why a modem did not upgrade"); the rules are pktcable.firmware.swcheck's.

When a CM file carrying TLV 9 has been delivered, ``firmware_check_after`` seconds later
serve looks at the version the modem has reported since (option 43.6 at its reboot): the
offered one, and there is nothing to ask. Otherwise it GETs docsDevSoftware and the BPI+
download status from the modem's agent, at the address leased to it now, on the
``agent_port`` with the ``write_community`` (serve's pushes reach the same agent so), and
records the answer on the device's history as a ``CM-SWDL`` step. A download still in
progress, or an agent that did not answer, is asked again after the same delay, at most
:data:`MAX_ASKS` times in all.

Bounded: at most :data:`MAX_PENDING` modems wait for their check (an offer beyond is
counted, not checked) and :data:`MAX_ASKING` GETs are out at once; a new offer to a modem
replaces its pending check.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pktcable.firmware.swcheck import Check, judge, request
from pktcable.snmp import message as m
from pktcable.store.devices import Step

if TYPE_CHECKING:
    from .app import Backoffice

log = logging.getLogger("pktcable.serve")
MAX_PENDING = 100_000
MAX_ASKING = 32
MAX_ASKS = 3
STEP = "CM-SWDL"
#: What ``SwChecks.counts`` counts: each check's verdict, and the checks not made.
OUTCOMES = (*(c.value for c in Check), "reported", "skipped")


@dataclass(frozen=True)
class Offer:
    """The image a CM file offered (TLV 9), and the version it holds."""

    image: str
    version: str


class SwChecks:
    """``file_served(mac)`` when a modem's file went out; ``close()`` at the end.

    ``take_offer(mac)``: the offer the modem's last built file made, if any (once);
    ``reported(mac)``: the software version the modem last reported; ``leased(mac)``: its
    address now (None without a lease); ``ask(address)``: the Response to the GET of
    :func:`pktcable.firmware.swcheck.request` from the agent there (TimeoutError or OSError
    when none comes); ``record`` and ``commit``: the device store's."""

    def __init__(self, after: float, *, take_offer: Callable[[str], Offer | None],
                 reported: Callable[[str], str | None],
                 leased: Callable[[str], str | None], ask: Callable[[str], Awaitable[m.Pdu]],
                 record: Callable[[Step], None], commit: Callable[[], None],
                 clock: Callable[[], float]) -> None:
        self.after, self.take_offer = after, take_offer
        self.reported, self.leased, self.ask = reported, leased, ask
        self.record, self.commit, self.clock = record, commit, clock
        self.counts: Counter[str] = Counter()
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._asking = asyncio.Semaphore(MAX_ASKING)

    def file_served(self, mac: str) -> None:
        offer = self.take_offer(mac)
        if offer is not None:
            self.served(mac, offer)

    def served(self, mac: str, offer: Offer, asks: int = 0) -> None:
        old = self._pending.pop(mac, None)
        if old is not None:
            old.cancel()
        elif len(self._pending) >= MAX_PENDING:
            self.counts["skipped"] += 1
            return
        loop = asyncio.get_running_loop()
        self._pending[mac] = loop.call_later(self.after, self._due, mac, offer, asks + 1)

    def _due(self, mac: str, offer: Offer, ask: int) -> None:
        self._pending.pop(mac, None)
        task = asyncio.ensure_future(self._check(mac, offer, ask))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check(self, mac: str, offer: Offer, ask: int) -> None:
        if self.reported(mac) == offer.version:
            self.counts["reported"] += 1  # it upgraded and rebooted: its report says so
            return
        address = self.leased(mac)
        if address is None:
            self._verdict(mac, offer, Check.UNANSWERED, "no current lease: no address to ask", ask)
            return
        async with self._asking:
            try:
                response: m.Pdu | None = await self.ask(address)
            except (TimeoutError, OSError):
                response = None
        verdict = judge(response, offer.image, offer.version)
        self._verdict(mac, offer, verdict.check, f"{verdict.detail} (at {address})", ask, verdict.again)

    def _verdict(self, mac: str, offer: Offer, check: Check, detail: str, ask: int, again: bool = False) -> None:
        self.counts[check.value] += 1
        text = f"offered {offer.image} ({offer.version}): {detail}"
        if again and ask < MAX_ASKS:
            text += f"; asked again in {self.after:g} s"
            self.served(mac, offer, ask)
        self.record(Step(mac, self.clock(), STEP, check.value, text))
        self.commit()
        level = logging.INFO if check in (Check.UPGRADED, Check.IN_PROGRESS) else logging.WARNING
        log.log(level, "%s firmware %s: %s", mac, check.value, text, extra={"mac": mac})

    async def close(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def for_office(office: Backoffice, commit: Callable[[], None]) -> SwChecks | None:
    """The back office's checks (None with ``firmware_check_after = 0``): its SNMP endpoint,
    the modems' agent port and the write community, its firmware and device stores."""
    cfg, snmp = office.cfg, office.snmp
    if not cfg.firmware_check_after or snmp is None:
        return None
    port, community, varbinds = cfg.agent_port, cfg.write_community.encode(), request()

    async def ask(address: str) -> m.Pdu:
        return (await snmp.request((address, port), community, m.PduType.GET, varbinds)).pdu

    def reported(mac: str) -> str | None:
        device = office.upgrades.store.device(mac)
        return None if device is None else device.sw_version

    return SwChecks(cfg.firmware_check_after, take_offer=office.upgrades.take_offer, reported=reported,
                    leased=office.leased_address, ask=ask, record=office.devices.record, commit=commit,
                    clock=office.clock)
