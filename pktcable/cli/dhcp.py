"""``pktcable dhcp option122 | decode | serve``."""

from __future__ import annotations

import sys
from typing import Any

import click

from pktcable.exitcodes import ExitStatus
from pktcable.flow import Flow
from pktcable.flow.flows import realm_problem

from .common import Command, deprecated_option, fail, read_input
from .logs import log_options, setup


@click.group("dhcp")
def dhcp_group() -> None:
    """DHCP option codecs and the provisioning DHCPv4 server.

    Examples:

    \b
      pktcable dhcp option122 --realm BASIC.1 --prov-server prov.example.net --timer 10
      pktcable dhcp decode --option 122 0313000470726f76076578616d706c65036e657400
      pktcable dhcp serve --config dhcpd.toml --address 127.0.0.1 --port 10067
    """


@dhcp_group.command("option122", cls=Command)
@click.option("--dhcp-server-1", "dhcp1", help="122.1 primary DHCP server for the eMTA (to the CM).")
@click.option("--dhcp-server-2", "dhcp2", help="122.2 secondary DHCP server (to the CM).")
@click.option("--prov-server", help="122.3 provisioning server: an FQDN or an IPv4 address.")
@click.option("--as-backoff", help="122.4 AS-REQ backoff: nominal,maximum,retries.")
@click.option("--ap-backoff", help="122.5 AP-REQ backoff: nominal,maximum,retries.")
@click.option("--realm", help=f"122.6 {', '.join(Flow)} or a Kerberos realm.")
@click.option("--use-tgt/--no-tgt", default=None, help="122.7 ticket granting server utilization.")
@click.option("--timer", type=int, help="122.8 provisioning timer in minutes.")
@click.option("--ticket-control", type=int, help="122.9 bits: 1 prov server ticket, 2 CMS tickets.")
@click.option("--kdc", multiple=True, help="122.10 KDC address (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["hex", "isc", "kea"]), default="hex", show_default=True,
              help="Print the option as hex bytes, ISC dhcpd statements or a Kea option-data entry.")
def option122_cmd(dhcp1: str | None, dhcp2: str | None, prov_server: str | None, as_backoff: str | None,
                  ap_backoff: str | None, realm: str | None, use_tgt: bool | None, timer: int | None,
                  ticket_control: int | None, kdc: tuple[str, ...], fmt: str) -> None:
    """Build option 122 (CableLabs Client Configuration) as hex, ISC dhcpd or Kea config.

    Examples:

    \b
      pktcable dhcp option122 --realm BASIC.1 --prov-server prov.example.net --timer 10
      pktcable dhcp option122 --dhcp-server-1 10.0.0.1 --prov-server 10.0.0.2 --format isc
      pktcable dhcp option122 --realm HYBRID.2 --prov-server prov.example.net --kdc 10.0.0.3 --format kea
    """
    from dhcp.errors import DhcpEncodeError
    from dhcp.formats import encode_suboptions, to_isc, to_kea
    from dhcp.options import CCC

    given: list[tuple[str, str | None | bool | int | tuple[str, ...]]] = [
        ("dhcp-server-1", dhcp1), ("dhcp-server-2", dhcp2), ("prov-server", prov_server),
        ("as-req-backoff", as_backoff), ("ap-req-backoff", ap_backoff), ("realm", realm), ("use-tgt", use_tgt),
        ("prov-timer", timer), ("ticket-control", ticket_control), ("kdc-servers", ",".join(kdc) or None)]
    problem = realm_problem(realm) if realm is not None else None
    if problem:
        fail(f"option 122.6 realm: {problem}", ExitStatus.VALUE)
    values: list[tuple[str, Any]] = []
    for name, raw in given:
        if raw is None:
            continue
        row = CCC.by_name[name]
        assert row.type is not None
        try:
            values.append((name, row.type.parse(raw) if isinstance(raw, str) else raw))
        except ValueError as exc:
            fail(f"option 122.{row.code} {name}: {exc}", ExitStatus.VALUE)
    if not values:
        fail("give at least one sub-option (see --help)", ExitStatus.USAGE)
    try:
        data = encode_suboptions("ccc", values)
        if fmt == "hex":
            click.echo(data.hex())
        elif fmt == "isc":
            click.echo(to_isc(122, "ccc", values, "ccc-encapsulation"))
        else:
            click.echo(to_kea(122, data, "cablelabs-client-configuration"))
    except DhcpEncodeError as exc:
        fail(str(exc), ExitStatus.VALUE)


@dhcp_group.command("decode", cls=Command)
@click.argument("source", metavar="HEX|FILE")
@click.option("--file", "is_file", is_flag=True,
              help="The argument names a file ('-' for stdin): a pcap/pcapng capture, raw bytes or hex text.")
@click.option("--option", "option", metavar="CODE|NAME",
              help="Read the input as the body of this one option (e.g. 122: what 'dhcp option122' prints).")
def decode_cmd(source: str, is_file: bool, option: str | None) -> None:
    """Explain a DHCP message, a run of options (code len value ...), a bare option
    body (option 122 is recognised on its own), or every DHCP message of a capture.

    Examples:

    \b
      pktcable dhcp decode 3501013d0701001122334455
      pktcable dhcp decode 0313000470726f76076578616d706c65036e657400
      pktcable dhcp decode --option 122 0313000470726f76076578616d706c65036e657400
    """
    from pathlib import Path

    from dhcp.capture import is_capture
    from dhcp.describe import explain_capture, explain_hex
    from dhcp.errors import DhcpDecodeError
    from dhcp.options import DHCP4

    code = None
    if option is not None:
        row = DHCP4.by_code.get(int(option)) if option.isdigit() else DHCP4.by_name.get(option)
        if row is None:
            fail(f"--option {option}: not a known DHCP option code or name", ExitStatus.USAGE)
        code = row.code
    text = source.strip()
    if is_file or source == "-" or (not _is_hex(text) and Path(source).is_file()):
        data = read_input(source)
        if not is_capture(data) and _is_hex(data.decode("latin-1").strip()):
            data = _unhex(data.decode("latin-1"))  # hex text, e.g. piped from 'dhcp option122'
    elif not _is_hex(text):
        fail(f"{source!r} is neither hex nor a readable file", ExitStatus.USAGE)
    else:
        data = _unhex(text)
    if not data:
        fail("empty input: nothing to decode", ExitStatus.USAGE)
    try:
        lines = explain_capture(data) if is_capture(data) and code is None else explain_hex(data, code)
        for line in lines:
            click.echo(line)
    except DhcpDecodeError as exc:
        fail(str(exc), ExitStatus.DECODE)


def _is_hex(text: str) -> bool:
    digits = "".join(text.replace(":", "").split())
    return len(digits) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in digits)


def _unhex(text: str) -> bytes:
    return bytes.fromhex("".join(text.replace(":", "").split()))


@dhcp_group.command("serve", cls=Command, renamed={"--listen": "--address"})
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Server config (TOML).")
@click.option("--address", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=67, show_default=True,
              help="UDP port to listen on (0: a free one).")
@click.option("--interface", help="Serve this link directly (SO_BINDTODEVICE; broadcast clients).")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Keep the leases in leases.db in this folder, as `pktcable serve` does (default: in memory only).")
@deprecated_option("--db", "--data-dir DIR (the folder of leases.db)", "db_file")
@click.option("--synchronous", type=click.Choice(["FULL", "NORMAL"]), default="FULL", show_default=True,
              help="FULL survives power loss; NORMAL survives a crash of the server process.")
@click.option("--quiet", is_flag=True, help="No start-up line.")
@log_options()
def serve_cmd(config_file: str | None, address: str, port: int, interface: str | None, data_dir: str | None,
              db_file: str | None, synchronous: str, quiet: bool, log_level: str, log_format: str | None,
              log_macs: tuple[str, ...]) -> None:
    """Run the provisioning DHCPv4 server.

    Examples:

    \b
      pktcable dhcp serve --config dhcpd.toml --address 127.0.0.1 --port 10067 --log-level info
      pktcable dhcp serve --config /etc/pktcable/dhcpd.toml --interface eth1 --data-dir /var/lib/pktcable
    """
    import asyncio
    import signal
    import sqlite3

    from pktcable.dhcpd import DhcpServer
    from pktcable.dhcpd.config import load_toml
    from pktcable.dhcpd.transport import serve
    from pktcable.store import MemoryLeaseStore, SqliteLeaseStore

    setup(log_level, log_format or "text", log_macs)
    if config_file is None:
        fail("--config FILE.toml is required", ExitStatus.USAGE)
    if data_dir and db_file:
        fail("--db is the old spelling of --data-dir: give one of them", ExitStatus.USAGE)
    if interface is not None:
        import socket

        try:
            socket.if_nametoindex(interface)
        except OSError:
            fail(f"--interface {interface}: no such network interface", ExitStatus.USAGE)
    try:
        config = load_toml(config_file)
    except OSError as exc:
        fail(f"cannot read {config_file}: {exc.strerror or exc}", ExitStatus.IO)
    except ValueError as exc:  # a bad setting (SettingError names it), or TOML syntax (line and column)
        fail(f"{config_file}: {exc}", ExitStatus.USAGE)
    flag, db = "--db", db_file
    if data_dir:
        from pktcable.serve import datadir
        from pktcable.settings import SettingError

        try:  # the folder and file as serve makes them: 0700, 0600
            flag, db = "--data-dir", str(datadir.private_file(datadir.prepare(data_dir) / "leases.db"))
        except SettingError as exc:
            fail(f"--data-dir {data_dir}: {str(exc).partition(': ')[2]}", ExitStatus.USAGE)
    try:
        store = SqliteLeaseStore(db, synchronous=synchronous) if db else MemoryLeaseStore()
    except sqlite3.Error as exc:  # a folder that is not there, or a file that is no lease table
        fail(f"{flag} {db}: {exc}", ExitStatus.USAGE)
    server = DhcpServer(config, store)
    link = config.server_id if interface else None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        ready = asyncio.Event()
        task = asyncio.create_task(serve(server, address, port, interface=interface, link=link, ready=ready,
                                         stop=stop))
        started = asyncio.create_task(ready.wait())
        await asyncio.wait((task, started), return_when=asyncio.FIRST_COMPLETED)
        if task.done():  # it could not open its socket: its error, not a wait for ever
            started.cancel()
            await task
        if not quiet:
            click.echo(f"pktcable dhcp: serving on {address}:{port}", err=True)
        await task

    try:
        asyncio.run(main())
    except OSError as exc:
        fail(f"cannot serve on {address}:{port}: {exc.strerror or exc}", ExitStatus.IO)
    counts = ", ".join(f"{k}={v}" for k, v in sorted(server.metrics.items()))
    click.echo(f"pktcable dhcp: stopped ({counts})", err=True)
    sys.exit(0)


