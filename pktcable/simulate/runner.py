"""Run many simulated devices at once (a boot storm) and collect results."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pktcable.flow import Flow

from . import net
from .emta import DeviceResult, SimConfig, SimulatedMta
from .identity import Identity


async def simulate(config: SimConfig, flow: Flow, count: int, rate: float | None = None, first: int = 0,
                   progress: Callable[[DeviceResult], None] | None = None,
                   gate: Callable[[], Awaitable[None]] | None = None,
                   relay_stats: net.RelayStats | None = None) -> tuple[list[DeviceResult], float]:
    """Start ``count`` devices (``rate`` per second, or all at once) and
    return their results in index order with the elapsed seconds.

    Each device stays up after its walk (its agent answering, a reset
    walking again) until every device has finished its first walk, and
    ``config.hold`` seconds more; then the runner stops them all. ``gate``, when given, is awaited once the relay is
    open and before the first device starts (workers start together);
    ``relay_stats``, when given, gets the relay's counts at the end."""
    loop = asyncio.get_running_loop()
    relay = await net.open_relay((config.relay, config.relay_port),
                                 [(server, config.dhcp_port) for server in (config.server, *config.also_servers)])
    if gate is not None:
        try:
            await gate()
        except BaseException:
            relay.close()
            raise
    kind: type[SimulatedMta] = SimulatedMta
    if flow.secure:  # its Kerberos and certificate libraries only when asked for
        from .mtasecure import SecureMta

        kind = SecureMta
    start = loop.time()
    tasks: list[asyncio.Task[DeviceResult]] = []
    devices: list[SimulatedMta] = []
    try:
        for n in range(count):
            if rate:
                delay = start + n / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            device = kind(Identity.make(first + n, config.seed), flow, config, relay)
            devices.append(device)
            tasks.append(asyncio.ensure_future(device.run()))
            if progress is not None:
                device.finished.add_done_callback(lambda f: f.cancelled() or progress(f.result()))
        # A device's run that failed still resolves its finished future (run's finally).
        await asyncio.wait([asyncio.ensure_future(_first(d)) for d in devices])
        if config.hold:
            await asyncio.sleep(config.hold)
        for device in devices:
            device.stop()
        results = list(await asyncio.gather(*tasks))
    finally:
        for device in devices:
            device.stop()
        if relay_stats is not None:
            for name in net.RelayStats.__dataclass_fields__:
                setattr(relay_stats, name, getattr(relay_stats, name) + getattr(relay.stats, name))
        relay.close()
        await asyncio.sleep(0)  # let the transport really close: the port may be reused at once
    return results, loop.time() - start


async def _first(device: SimulatedMta) -> None:
    await asyncio.shield(device.finished)
