"""``pktcable sip``: the SIP phones' provisioning server on its own (docs/sip.md)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from pktcable.exitcodes import ExitStatus

from .common import fail
from .logs import log_options, setup


@click.group("sip")
def sip_group() -> None:
    """SIP phones: the ua-profile provisioning server (RFC 6080) with the phones'
    XML profiles over HTTP (docs/sip.md).

    Examples:

    \b
      pktcable sip serve --phones phones.json --address 127.0.0.1 --sip-port 5070 --http-port 8080
      pktcable sip serve --phones phones.json --address 0.0.0.0 --advertise 10.0.0.1 --no-mac-auth
    """


def load_phones(path: Path) -> list[Any]:
    """The phones file: a JSON list of {"mac", "template", "vars", "ip"} objects (ValueError says why not)."""
    from pktcable.store.devices import Device, normalize_mac

    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
    if not isinstance(rows, list):
        raise ValueError(f"{path}: a JSON list of phones expected")
    phones = []
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict) or set(row) - {"mac", "template", "vars", "ip"} or "mac" not in row:
            raise ValueError(f"{path}: phone {n}: an object of mac, template, vars, ip expected")
        if not isinstance(row.get("vars", {}), dict):
            raise ValueError(f"{path}: phone {n}: vars must be an object")
        phones.append(Device(normalize_mac(str(row["mac"])), kind="sip", template=str(row.get("template", "generic")),
                             vars=row.get("vars", {}), ip=str(row.get("ip", ""))))
    return phones


@sip_group.command("serve")
@click.option("--phones", "phones_file", required=True, type=click.Path(dir_okay=False, exists=True),
              help="JSON list of phones (mac, template, vars, ip); SIGHUP re-reads it and notifies the changed.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on (SIP and HTTP).")
@click.option("--advertise", default=None, help="Address phones reach us at (needed with a wildcard --address).")
@click.option("--sip-port", type=click.IntRange(0, 65535), default=5060, show_default=True,
              help="Port of the SUBSCRIBE/NOTIFY service.")
@click.option("--sip-transport", type=click.Choice(["udp", "tcp", "tls"]), default="udp", show_default=True,
              help="SIP transport of that port (tls: with --cert/--cert-key).")
@click.option("--http-port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port of the HTTP server that serves the profiles.")
@click.option("--cert", type=click.Path(dir_okay=False, exists=True), default=None,
              help="PEM certificate (chain): the profiles are served over HTTPS, and SIP over TLS takes it too.")
@click.option("--cert-key", type=click.Path(dir_okay=False, exists=True), default=None,
              help="PEM private key for HTTPS.")
@click.option("--templates", type=click.Path(file_okay=False, exists=True), default=None,
              help="Folder whose <layout>.xml.j2 / <layout>.xsd override the shipped ones.")
@click.option("--secret-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Key (>= 16 bytes) of the profile URL tokens; without it a random one per run.")
@click.option("--multicast", is_flag=True,
              help="Also answer the plug-and-play SUBSCRIBE phones multicast to 224.0.1.75 (UDP).")
@click.option("--no-mac-auth", is_flag=True, help="Refuse phones without a sip_password (digest only).")
@click.option("--push-rate", type=click.FloatRange(0.1, 100_000), default=50.0, show_default=True,
              help="Change NOTIFYs per second at most (bursts of twice that).")
@click.option("--push-window", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Pushes in flight at most (NOTIFY unanswered, or the phone's GET awaited).")
@log_options()
def serve_cmd(phones_file: str, address: str, advertise: str | None, sip_port: int, sip_transport: str,
              http_port: int, cert: str | None, cert_key: str | None, templates: str | None,
              secret_file: str | None, multicast: bool, no_mac_auth: bool, push_rate: float,
              push_window: int, log_level: str, log_format: str | None, log_macs: tuple[str, ...]) -> None:
    """Serve SIP phones their profiles: ua-profile SUBSCRIBE/NOTIFY and HTTP with ETags.

    Examples:

    \b
      pktcable sip serve --phones phones.json --address 127.0.0.1 --sip-port 5070 --http-port 8080
      pktcable sip serve --phones phones.json --address 0.0.0.0 --advertise 10.0.0.1 --no-mac-auth
    """
    import secrets

    from pktcable.phones.profiles import ProfileError, Profiles

    setup(log_level, log_format or "text", log_macs)
    try:
        phones = load_phones(Path(phones_file))
        secret = Path(secret_file).read_bytes().strip() if secret_file else secrets.token_bytes(32)
        if len(secret) < 16:
            raise ValueError(f"{secret_file}: the key must be at least 16 bytes")
    except (ValueError, OSError) as exc:
        fail(f"--phones/--secret-file: {exc}", ExitStatus.USAGE)
    if (advertise or address) in ("0.0.0.0", "::"):
        fail("--advertise: needed when --address is a wildcard", ExitStatus.USAGE)
    if (cert is None) != (cert_key is None):
        fail("--cert/--cert-key: HTTPS needs both", ExitStatus.USAGE)
    ssl_context = None
    if cert is not None and cert_key is not None:
        from pktcable.delivery.http import make_ssl_context

        try:
            ssl_context = make_ssl_context(cert, cert_key)
        except (OSError, ValueError) as exc:
            fail(f"--cert/--cert-key: {exc}", ExitStatus.USAGE)
    if sip_transport == "tls" and ssl_context is None:
        fail("--sip-transport tls: needs --cert and --cert-key", ExitStatus.USAGE)
    if multicast and sip_transport != "udp":
        fail("--multicast: the PnP SUBSCRIBE comes over UDP (--sip-transport udp)", ExitStatus.USAGE)
    profiles = Profiles(Path(templates)) if templates else Profiles()
    for phone in phones:  # every profile must build before anything is served
        try:
            profiles.build(phone.mac, phone.template, phone.vars)
        except ProfileError as exc:
            fail(f"--phones: {exc}", ExitStatus.USAGE)
    try:
        asyncio.run(_serve(phones, Path(phones_file), profiles, secret, address, advertise, sip_port, sip_transport,
                           http_port, not no_mac_auth, push_rate, push_window, multicast, ssl_context))
    except KeyboardInterrupt:
        sys.exit(int(ExitStatus.INTERRUPTED))
    except OSError as exc:
        fail(f"cannot listen on {address}: {exc.strerror or exc}", ExitStatus.IO)


async def _serve(phones: list[Any], path: Path, profiles: Any, secret: bytes, address: str, advertise: str | None,
                 sip_port: int, transport: str, http_port: int, mac_auth: bool, push_rate: float,
                 push_window: int, multicast: bool, ssl_context: Any) -> None:
    from pktcable.delivery.http import HttpServer
    from pktcable.delivery.resolvers import MemoryResolver
    from pktcable.phones.book import PhoneBook
    from pktcable.phones.profiles import ProfileError
    from pktcable.sip.service import PNP_GROUP, SipProvisioningServer
    from pktcable.store.devices import MemoryDeviceStore, Step

    store = MemoryDeviceStore()
    for phone in phones:
        store.put(phone)
    book = PhoneBook(profiles, store.get, secret, time.time)

    def on_step(mac: str, event: str, detail: str) -> None:
        store.record(Step(mac, time.time(), "SIP", event, detail))
        click.echo(f"{mac} {event} {detail}".rstrip(), err=True)

    http = HttpServer(MemoryResolver({}), address, http_port, ssl_context=ssl_context,
                      versioned=("profiles/", book.serve_http))
    await http.start()
    host = advertise or address
    url_host = f"[{host}]" if ":" in host else host
    scheme = "https" if ssl_context is not None else "http"
    sip = SipProvisioningServer(book, f"{scheme}://{url_host}:{http.address[1]}/", address, sip_port, advertise,
                                transport, auth_secret=secret, allow_mac_auth=mac_auth, push_rate=push_rate,
                                push_burst=max(1.0, push_rate * 2), push_window=push_window, on_step=on_step, multicast=multicast,
                                ssl_context=ssl_context if transport == "tls" else None)
    await sip.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def reload() -> None:
        try:
            fresh = load_phones(path)
            for phone in fresh:
                profiles.build(phone.mac, phone.template, phone.vars)
        except (ValueError, OSError, ProfileError) as exc:
            click.echo(f"reload refused, phones unchanged: {exc}", err=True)
            return
        for phone in fresh:
            store.put(phone)
        sip.notify_change(p.mac for p in fresh)  # only phones whose profile changed are told
        click.echo(f"reloaded {len(fresh)} phones", err=True)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload)
    assert sip.bound is not None
    pnp = f" and {PNP_GROUP}:{sip.bound[1]}" if multicast else ""
    click.echo(f"sip provisioning on {address}:{sip.bound[1]}{pnp} ({transport}), profiles on {scheme} "
               f"{address}:{http.address[1]}, {len(phones)} phones", err=True)
    try:
        await stop.wait()
    finally:
        counters = {**sip.stats(), **{f"http-{k}": v for k, v in sorted(http.responses.items())},
                    "profile-builds": profiles.builds}
        click.echo("counters: " + " ".join(f"{k}={v}" for k, v in sorted(counters.items())), err=True)
        await sip.close()
        await http.close()
