"""``pktcable kdc``: the Secure flow's Kerberos KDC with PKINIT, on its own (docs/secure.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import sys
from pathlib import Path
from typing import Any

import click

from pktcable.exitcodes import ExitStatus

from .common import fail
from .logs import log_options, setup


@click.group("kdc")
def kdc_group() -> None:
    """The Kerberos KDC of the Secure flow: PKINIT AS exchange (MTA-9/MTA-10) for the
    devices of a lab PKI, tickets for the provisioning server and krbtgt.

    Examples:

    \b
      pktcable kdc serve --dir lab-pki --address 127.0.0.1 --port 8888
      pktcable kdc serve --dir lab-pki --modes rsa --lifetime 12 --max-skew 600
    """


@kdc_group.command("serve")
@click.option("--dir", "folder", required=True, type=click.Path(file_okay=False),
              help="The lab PKI folder (`pktcable pki init`); service keys go to its kdc-keys.json.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on (UDP and TCP).")
@click.option("--port", type=click.IntRange(0, 65535), default=88, show_default=True,
              help="Port for UDP and TCP (0: a free one).")
@click.option("--modes", default="rsa,dh", show_default=True,
              help="PKINIT modes offered: rsa (key transport), dh (Diffie-Hellman), or both.")
@click.option("--lifetime", type=click.FloatRange(0.5, 24 * 30), default=24.0, show_default=True,
              help="Longest ticket lifetime, in hours.")
@click.option("--renew", type=click.FloatRange(0, 24 * 365), default=24.0 * 7, show_default=True,
              help="Longest renewable life, in hours (0: no renewable tickets).")
@click.option("--max-skew", type=click.IntRange(1, 1800), default=300, show_default=True,
              help="Seconds a device clock may differ (pktcMtaDevCmsMaxClockSkew).")
@click.option("--no-eku-check", is_flag=True,
              help="Admit device certificates without id-pkinit-KPClientAuth (factory certificates before RFC 4556).")
@click.option("--rate", type=click.FloatRange(0.1, 10_000), default=5.0, show_default=True,
              help="Requests per second per source address (bursts of 4x that).")
@log_options()
def serve_cmd(folder: str, address: str, port: int, modes: str, lifetime: float, renew: float, max_skew: int,
              no_eku_check: bool, rate: float, log_level: str, log_format: str | None,
              log_macs: tuple[str, ...]) -> None:
    """Run the KDC for a lab PKI until interrupted.

    Examples:

    \b
      pktcable kdc serve --dir lab-pki --address 127.0.0.1 --port 8888
      pktcable kdc serve --dir lab-pki --address 0.0.0.0 --modes rsa --no-eku-check --log-level info
    """
    from pktcable.secure import kdc, kdclab, tickets
    from pktcable.secure.kdcnet import KdcServer, NetLimits
    from pktcable.secure.labdir import LabPki
    from pktcable.secure.pki import PkiError

    setup(log_level, log_format or "text", log_macs)
    chosen = frozenset(m.strip() for m in modes.split(",") if m.strip())
    if not chosen or chosen - {kdc.MODE_RSA, kdc.MODE_DH}:
        fail(f"--modes {modes!r}: rsa, dh or both (rsa,dh)", ExitStatus.USAGE)
    policy = tickets.TicketPolicy(lifetime=dt.timedelta(hours=lifetime), renew_lifetime=dt.timedelta(hours=renew))
    try:
        lab = LabPki.open(Path(folder))
        config = kdclab.config(lab, policy=policy, modes=chosen, max_skew=dt.timedelta(seconds=max_skew),
                               require_eku=not no_eku_check)
        server = kdc.Kdc(config)
    except (PkiError, ValueError, OSError) as exc:
        fail(f"--dir: {exc}", ExitStatus.USAGE)
    limits = NetLimits(rate=rate, burst=max(1, int(rate * 4)))
    try:
        asyncio.run(_serve(KdcServer(server, address, port, limits=limits)))
    except KeyboardInterrupt:
        sys.exit(int(ExitStatus.INTERRUPTED))
    except OSError as exc:
        fail(f"cannot listen on {address}:{port}: {exc.strerror or exc}", ExitStatus.IO)


async def _serve(server: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    try:
        realm = server.kdc.config.realm
        click.echo(f"kdc for {realm} on {server.address[0]}:{server.address[1]} (udp, tcp)", err=True)
        await stop.wait()
    finally:
        await server.close()
