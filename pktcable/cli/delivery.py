"""``pktcable deliver``: serve config files and firmware by TFTP and HTTP(S), and the time by RFC 868.

Files come from a folder (``--root``), from templates built per device
(``--templates`` with ``--devices``), or both (templates first). TFTP always
runs; HTTP, HTTPS and Time of Day only when given a port. A port of 0 asks the
system for a free one.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from pktcable.exitcodes import ExitStatus

from .common import Command, fail, key_option, raise_fd_limit, read_key
from .logs import log_options, setup


def load_devices(path: str) -> list[Any]:
    """A JSON list of {"mac", "kind": "cm"|"mta", "template", "flow"?, "ip"?, "vars"?}."""
    from pktcable.flow import Flow
    from pktcable.store.devices import Device, normalize_mac

    try:
        rows = json.loads(Path(path).read_text())
        return [Device(mac=normalize_mac(r["mac"]), kind=r["kind"], template=r["template"], ip=r.get("ip", ""),
                       flow=r.get("flow", Flow.BASIC_1.value), vars=r.get("vars", {})) for r in rows]
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}", ExitStatus.IO)
    except (ValueError, KeyError, TypeError) as exc:
        fail(f"{path}: not a device list: {exc}", ExitStatus.VALUE)


@click.command("deliver", cls=Command, renamed={"--bind": "--address"})
@click.option("--root", type=click.Path(file_okay=False, exists=True), help="Serve the files below this folder.")
@click.option("--templates", type=click.Path(file_okay=False, exists=True),
              help="Jinja2 templates in the config language (needs --devices).")
@click.option("--devices", type=click.Path(dir_okay=False, exists=True), help="JSON list of devices for --templates.")
@key_option
@click.option("--hash", "hash_name", type=click.Choice(("cablelabs", "ietf", "euro", "none")), default="cablelabs",
              show_default=True, help="Config hash added to built MTA files.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--tftp-port", type=int, default=69, show_default=True, help="Serve TFTP on this port.")
@click.option("--http-port", type=int, help="Serve HTTP on this port.")
@click.option("--https-port", type=int, help="Serve HTTPS on this port (needs --cert and --cert-key).")
@click.option("--cert", type=click.Path(dir_okay=False, exists=True), help="PEM certificate (chain) for HTTPS.")
@click.option("--cert-key", type=click.Path(dir_okay=False, exists=True), help="PEM private key for HTTPS.")
@click.option("--tod-port", type=int, help="Serve RFC 868 time (UDP and TCP) on this port (37 is standard).")
@click.option("--max-sessions", type=int, default=4096, show_default=True, help="Concurrent TFTP transfers.")
@click.option("--max-per-client", type=click.IntRange(0), default=32, show_default=True,
              help="Concurrent TFTP transfers per client IP; more get a TFTP error (0: no limit, benchmarks only).")
@click.option("--max-blksize", type=click.IntRange(8, 65464), default=65464, show_default=True,
              help="Largest RFC 2348 block size a TFTP client may ask for; larger requests get this one.")
@click.option("--timeout", type=click.FloatRange(0.05, 255), default=1.0, show_default=True,
              help="TFTP retransmission interval in seconds (clients may ask for another).")
@click.option("--retries", type=click.IntRange(0, 100), default=5, show_default=True,
              help="TFTP retransmissions of one packet before the transfer is given up.")
@click.option("--max-timeout-option", type=click.IntRange(1, 255), default=5, show_default=True,
              help="Largest RFC 2349 timeout a TFTP client may ask for; a larger request is refused (left out "
                   "of the OACK) and --timeout applies.")
@click.option("--max-duration", type=click.FloatRange(1, min_open=False), default=60.0, show_default=True,
              help="Seconds one TFTP transfer may last, whatever its options; raise it for large images on slow links.")
@log_options()
def deliver_cmd(root: str | None, templates: str | None, devices: str | None, key_file: str | None,
                hash_name: str, address: str, tftp_port: int, http_port: int | None, https_port: int | None,
                cert: str | None, cert_key: str | None, tod_port: int | None, max_sessions: int,
                max_per_client: int, max_blksize: int, timeout: float, retries: int, max_timeout_option: int,
                max_duration: float, log_level: str, log_format: str | None, log_macs: tuple[str, ...]) -> None:
    """Serve config files and firmware by TFTP and HTTP(S), and Time of Day.

    Examples:

    \b
      pktcable deliver --root /srv/tftp
      pktcable deliver --address 127.0.0.1 --root /srv/tftp --tftp-port 10069 --http-port 8080 --tod-port 10037
      pktcable deliver --templates tests/data/delivery --devices devices.json --key /etc/pktcable/cm_key --log-level info
    """
    from pktcable.delivery.resolvers import ChainResolver, DirectoryResolver, InMemoryDevices, Resolver
    from pktcable.delivery.tftp import TransferConfig

    setup(log_level, log_format or "text", log_macs)
    resolvers: list[Resolver] = []
    if templates or devices:
        if not (templates and devices):
            fail("--templates and --devices go together", ExitStatus.USAGE)
        import jinja2

        from pktcable.delivery.resolvers import TemplateResolver

        resolvers.append(TemplateResolver(InMemoryDevices(load_devices(devices)), jinja2.FileSystemLoader(templates),
                                          cm_key=read_key(key_file), mta_hash=hash_name))
    if root:
        resolvers.append(DirectoryResolver(root))
    if not resolvers:
        fail("nothing to serve: give --root and/or --templates with --devices", ExitStatus.USAGE)
    if https_port is not None and not (cert and cert_key):
        fail("--https-port needs --cert and --cert-key", ExitStatus.USAGE)
    resolver = resolvers[0] if len(resolvers) == 1 else ChainResolver(resolvers)
    config = TransferConfig(max_blksize=max_blksize, timeout=timeout, max_retries=retries,
                            max_timeout_option=max_timeout_option, max_duration=max_duration)
    raise_fd_limit()
    try:
        asyncio.run(_serve(resolver, address, tftp_port, http_port, https_port, cert, cert_key, tod_port, config,
                           max_sessions, max_per_client))
    except KeyboardInterrupt:
        sys.exit(int(ExitStatus.INTERRUPTED))
    except OSError as exc:
        fail(f"cannot listen: {exc.strerror or exc}", ExitStatus.IO)


async def _serve(resolver: Any, address: str, tftp_port: int, http_port: int | None, https_port: int | None,
                 cert: str | None, cert_key: str | None, tod_port: int | None, config: Any, max_sessions: int,
                 max_per_client: int) -> None:
    from pktcable.delivery.http import HttpServer, make_ssl_context
    from pktcable.delivery.tftp_aio import TftpServer
    from pktcable.delivery.tod import TodServer

    tftp = TftpServer(resolver, address, tftp_port, config=config, max_sessions=max_sessions,
                      max_sessions_per_client=max_per_client)
    https_context = make_ssl_context(cert, cert_key) if https_port is not None and cert and cert_key else None
    others: list[Any] = []
    if http_port is not None:
        others.append(("http", HttpServer(resolver, address, http_port)))
    if https_port is not None:
        others.append(("https", HttpServer(resolver, address, https_port, https_context)))
    if tod_port is not None:
        others.append(("tod", TodServer(address, tod_port)))
    # SIGINT and SIGTERM stop the services cleanly, also when the shell that
    # started us in the background left SIGINT ignored (as serve does).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await tftp.start()  # its error names the service and port itself
    try:
        click.echo(f"tftp on {tftp.address[0]}:{tftp.address[1]}", err=True)
        for name, server in others:
            try:
                await server.start()
            except OSError as exc:
                raise OSError(exc.errno, f"{name} {address}:{server.port}: {(exc.strerror or str(exc)).lower()}") from exc
            click.echo(f"{name} on {server.address[0]}:{server.address[1]}", err=True)
        await stop.wait()
    finally:
        tftp.close()
        for _, server in others:
            await server.close()
