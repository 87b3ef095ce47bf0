"""Runs a firmware push (pktcable.firmware.push) over SNMP: the thin asyncio part.

The state machine decides what to send and when; this sends it with an
:class:`~pktcable.snmp.aio.SnmpEndpoint` (SNMPv2c with a community, or SNMPv3 with a
USM user) and sleeps on the event loop's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address, IPv6Address

from pktcable.firmware.push import Done, Push, Send, Sleep
from pktcable.snmp import message as m
from pktcable.snmp.aio import Address, SnmpEndpoint
from pktcable.snmp.usm import UsmUser

#: Sends one PDU and returns its Response PDU; raises TimeoutError when none comes.
Sender = Callable[[m.PduType, tuple[m.VarBind, ...]], Awaitable[m.Pdu]]


def v2c(endpoint: SnmpEndpoint, address: Address, community: bytes) -> Sender:
    async def send(kind: m.PduType, varbinds: tuple[m.VarBind, ...]) -> m.Pdu:
        return (await endpoint.request(address, community, kind, varbinds)).pdu
    return send


def v3(endpoint: SnmpEndpoint, address: Address, user: UsmUser) -> Sender:
    async def send(kind: m.PduType, varbinds: tuple[m.VarBind, ...]) -> m.Pdu:
        return await endpoint.request_v3(address, user, kind, varbinds)
    return send


async def push_firmware(send: Sender, server: IPv4Address | IPv6Address, filename: str, *,
                        budget: float = 600.0, poll_every: float = 2.0, legacy: bool = False,
                        transport: int | None = None) -> Done:
    """Push ``filename`` from ``server`` to the modem ``send`` reaches; the outcome within
    ``budget`` seconds (a modem downloads, verifies, writes flash and reboots: minutes)."""
    loop = asyncio.get_running_loop()
    push = Push(server, filename, loop.time() + budget, poll_every, legacy, transport)
    action = push.start(loop.time())
    while not isinstance(action, Done):
        if isinstance(action, Send):
            try:
                response: m.Pdu | None = await send(m.PduType.SET if action.set else m.PduType.GET,
                                                    action.varbinds)
            except (TimeoutError, OSError):  # a UsmFailure (refused credentials) is raised to the caller
                response = None
            action = push.answered(response, loop.time())
        elif isinstance(action, Sleep):
            await asyncio.sleep(max(0.0, action.until - loop.time()))
            action = push.woke(loop.time())
    return action
