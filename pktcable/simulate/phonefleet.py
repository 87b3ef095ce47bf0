"""Many simulated SIP phones at once: enrollment, then (while they stay subscribed) the
propagation of a profile change to every one of them."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from types import TracebackType

import aiohttp

from pktcable.phones.profiles import Profiles

from .config import DeviceResult
from .phone import PhoneConfig, SimulatedPhone


class PhoneFleet:
    """``async with PhoneFleet(config, count) as fleet: await fleet.enroll()``; the phones stay
    subscribed (refreshing, taking updates) until the block ends."""

    def __init__(self, config: PhoneConfig, count: int, first: int = 0, rate: float | None = None,
                 progress: Callable[[DeviceResult], None] | None = None) -> None:
        self.config, self.count, self.first, self.rate, self.progress = config, count, first, rate, progress
        self.phones: list[SimulatedPhone] = []
        self.http: aiohttp.ClientSession | None = None
        self.profiles = Profiles()

    async def __aenter__(self) -> PhoneFleet:
        # One connection pool for every phone; a real phone has its own, but the server sees the
        # same requests either way and the simulator's machine is spared thousands of sockets.
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def enroll(self) -> float:
        """Start every phone (``rate`` per second, or all at once); seconds until each is
        subscribed with a valid profile or has failed."""
        assert self.http is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n in range(self.count):
            if self.rate:
                delay = start + n / self.rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            phone = SimulatedPhone(self.first + n, self.config, self.http, self.profiles)
            self.phones.append(phone)
            if self.progress is not None:
                phone.enrolled.add_done_callback(self._reporter(phone))
            await phone.start()
        await asyncio.gather(*(p.enrolled for p in self.phones))
        return loop.time() - start

    def _reporter(self, phone: SimulatedPhone) -> Callable[[asyncio.Future[None]], None]:
        progress = self.progress
        assert progress is not None
        return lambda _: progress(phone.result)

    @property
    def results(self) -> list[DeviceResult]:
        return [p.result for p in self.phones]

    def stats(self) -> Counter[str]:
        """The phones' counters summed (NOTIFYs received and answered, GETs by outcome), their
        sockets' (datagrams, retransmissions) and how many phones are in each flow state."""
        total: Counter[str] = Counter()
        for p in self.phones:
            total.update(p.counters)
            if p.sock is not None:
                total.update({f"transport-{k}": v for k, v in p.sock.counters.items()})
            if p.machine is not None:
                total[f"state-{p.machine.state.name}"] += 1
        return total

    async def propagation(self, since: float, timeout: float) -> list[float | None]:
        """Seconds from ``since`` (loop time of a profile change) until each enrolled phone took a
        version it did not have before; None for a phone that had not within ``timeout``."""
        loop = asyncio.get_running_loop()
        enrolled = [p for p in self.phones if p.result.passed]
        # What each phone held at ``since`` (the change may be in by the time this is called).
        before = {p.mac: next((v for t, v in reversed(p.versions) if t < since), "") for p in enrolled}

        def took(p: SimulatedPhone) -> float | None:
            return next((t - since for t, v in p.versions if t >= since and v != before[p.mac]), None)

        deadline = loop.time() + timeout
        while loop.time() < deadline and any(took(p) is None for p in enrolled):
            await asyncio.sleep(0.05)
        return [took(p) for p in enrolled]

    async def close(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.phones))
        if self.http is not None:
            await self.http.close()
            self.http = None


def updates(phones: list[SimulatedPhone]) -> dict[str, float | int]:
    """What the phones' later profile versions show: how many phones took a changed one, and the
    seconds from the first such phone to the last (the spread of a change pushed while they were
    held: the server's push rate at work; the change's own time is the server's to know)."""
    taken = [t for p in phones for t, _ in p.versions[1:2]]
    return {"phones": len(taken), "spread_s": round(max(taken) - min(taken), 3) if taken else 0.0}


async def simulate_phones(config: PhoneConfig, count: int, rate: float | None = None, first: int = 0,
                          progress: Callable[[DeviceResult], None] | None = None,
                          hold: float = 0.0) -> tuple[list[DeviceResult], float, dict[str, float | int]]:
    """Enroll ``count`` phones; keep them subscribed ``hold`` seconds more (refreshes and any
    change NOTIFYs happen meanwhile, and show in the results' steps); their results, the
    seconds enrollment took and :func:`updates`."""
    async with PhoneFleet(config, count, first, rate, progress) as fleet:
        elapsed = await fleet.enroll()
        if hold > 0:
            await asyncio.sleep(hold)
        return fleet.results, elapsed, updates(fleet.phones)
