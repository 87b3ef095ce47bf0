"""``pktcable serve`` and ``pktcable simulate``."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sqlite3
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pktcable.exitcodes import ExitStatus
from pktcable.flow import MTA_TABLES
from pktcable.flow.sip import SIP_FLOW

from .common import Command, HiddenArgument, fail, raise_fd_limit, warn_deprecated
from .logs import log_options, setup

if TYPE_CHECKING:
    from pktcable.simulate.config import DeviceResult
    from pktcable.simulate.progress import Progress

#: The flows the simulator can play: those with a device-side table (Secure with --pki), and the
#: SIP phones' ua-profile flow (pktcable/flow/sip.py).
SIMULATED_FLOWS = [flow.value for flow in MTA_TABLES] + [SIP_FLOW]
#: simulate --fault: the Secure eMTA's injected faults (pktcable.simulate.mtasecure.FAULTS).
SECURE_FAULTS = ("ap-hmac", "usm-keys")


@click.command("serve", cls=Command)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Settings (TOML); see docs/serve.md.")
@click.option("--address", help="Listen and advertised address: A.B.C.D, A.B.C.D/prefix, or 0.0.0.0 with "
              "--interface (default 127.0.0.1; see docs/deploy.md).")
@click.option("--interface", help="Serve DHCP clients attached to this link directly (their broadcasts).")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="SQLite files for devices and leases (default: $XDG_DATA_HOME/pktcable).")
@click.option("--memory", is_flag=True, help="Keep devices and leases in memory only.")
@click.option("--demo", is_flag=True,
              help="Loopback demo: everything in memory, a random CMTS shared secret for this run only.")
@click.option("--realm", "realms", multiple=True, help="MTA realms to offer, in order (repeatable).")
@click.option("--auto-enroll/--no-auto-enroll", default=None,
              help="Provision devices the store does not know (default: off, or auto_enroll of --config).")
@click.option("-v", "--verbose", is_flag=True, help="Log every step of every device (--log-level info).")
@log_options(default_level=None)
def serve_cmd(config_file: str | None, address: str | None, interface: str | None, data_dir: str | None,
              memory: bool, demo: bool, realms: tuple[str, ...], auto_enroll: bool | None, verbose: bool,
              log_level: str | None, log_format: str | None, log_macs: tuple[str, ...]) -> None:
    """Run the back office: DHCP, TFTP/HTTP/ToD, the SNMP provisioning entity, the device store.

    SIGHUP reads --config again and applies its [[devices]] and templates; other
    changed settings are logged and wait for a restart. Logs go to stderr: the
    level and format from the flags, else the settings (log_level, log_format).
    With --memory or --demo, one operator token for the API is made for the run
    and shown in the dashboard URL.

    Examples:

    \b
      pktcable serve --demo --auto-enroll
      pktcable serve --config examples/serve.toml --data-dir /var/lib/pktcable --log-format json
      pktcable serve --config /etc/pktcable/production.toml --address 0.0.0.0 --interface eth1
      pktcable serve --config examples/serve.toml --mac 00:11:22:33:44:55 --mac 001122334456
    """
    import os
    import secrets
    from ipaddress import IPv4Interface

    from pktcable.serve.config import ServeConfig, check, read
    from pktcable.settings import SettingError
    from pktcable.store.pg import redact

    log = logging.getLogger("pktcable.serve")
    # Settings the command line gives, by the flag that gave them: an error about one names the flag.
    given = {key: flag for key, flag, value in (("address", "--address", address), ("interface", "--interface", interface),
                                                ("data_dir", "--data-dir", data_dir), ("realms", "--realm", realms),
                                                ("log_level", "--log-level", log_level),
                                                ("log_format", "--log-format", log_format))
             if value}
    demo_key = secrets.token_urlsafe(32)  # this run only, shown nowhere

    def settings() -> ServeConfig:
        """The file's settings with the flags applied, checked; raises SettingError."""
        cfg = read(config_file) if config_file else ServeConfig()
        if address:
            cfg.address = address
        if interface:
            cfg.interface = interface
        if data_dir:
            cfg.data_dir = data_dir
        if demo:
            if data_dir:
                raise SettingError("--demo keeps everything in memory: drop --data-dir")
            try:
                loopback = IPv4Interface(cfg.address).ip.is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                raise SettingError(f"--demo: address {cfg.address} is not a loopback address")
            if cfg.cm_key is None and cfg.cm_key_file is None:
                cfg.cm_key = demo_key
        if memory or demo:
            cfg.data_dir = None
            cfg.store = None  # in memory means the stores too
        elif cfg.data_dir is None:
            base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
            cfg.data_dir = os.path.join(base, "pktcable")
        if realms:
            cfg.realms = list(realms)
        if auto_enroll is not None:
            cfg.auto_enroll = auto_enroll
        if log_level or verbose:
            cfg.log_level = log_level or "info"
        if log_format:
            cfg.log_format = log_format
        return check(cfg, given)

    def why(exc: SettingError) -> str:
        """One line: the settings file, then the key; a flag's or a file's own problem without the file."""
        if not config_file or not exc.key or exc.key.startswith("-") or exc.key == config_file:
            return str(exc)
        return f"{config_file}: {exc}"

    try:
        cfg = settings()
    except SettingError as exc:
        fail(why(exc), ExitStatus.USAGE)
    setup(cfg.log_level, cfg.log_format, log_macs)
    from pktcable.serve.app import Backoffice  # after the settings: a mistake in them is told at once

    def reload(office: Backoffice) -> None:
        if config_file is None:
            log.warning("SIGHUP: no --config to read again; ignored")
            return
        try:
            new = settings()
        except SettingError as exc:
            log.error("SIGHUP: %s; the running settings stay", why(exc))
            return
        waiting = office.reload(new)
        log.warning("SIGHUP: %s read again: %d devices, templates %s", config_file, len(new.devices),
                    new.templates or "shipped")
        if waiting:
            log.warning("SIGHUP: changed %s: restart to apply", ", ".join(waiting))

    async def run() -> None:
        try:
            office = Backoffice(cfg)
        except SettingError as exc:
            fail(why(exc), ExitStatus.USAGE)
        except sqlite3.Error as exc:  # a file in the data dir that is no SQLite database of ours
            fail(f"data_dir: {cfg.data_dir}: {exc}", ExitStatus.USAGE)
        try:
            await office.start()
        except OSError as exc:
            await office.close()
            fail(f"cannot listen: {exc.strerror or exc}", ExitStatus.IO)
        from pktcable.serve import nodes

        try:  # a shared database: this node's row, and its heartbeat (serve/nodes.py)
            await nodes.start_node(office)
        except Exception as exc:  # noqa: BLE001 - the database went away since the stores opened
            await office.close()
            fail(f"store: node table not written: {exc}", ExitStatus.IO)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # before the lines that tell a supervisor we are up
            loop.add_signal_handler(sig, stop.set)
        # Its default action ends the process: a supervisor's "reload" must never stop provisioning.
        loop.add_signal_handler(signal.SIGHUP, reload, office)
        for name, (host, port) in office.addresses().items():
            click.echo(f"{name} {host}:{port}", err=True)
        postgresql = cfg.store not in (None, "", "sqlite:")
        click.echo(f"store {redact(cfg.store or '') if postgresql else cfg.data_dir or 'in memory'}", err=True)
        api = office.addresses().get("api")
        if api is not None:
            url = f"{'https' if cfg.api_cert else 'http'}://{api[0]}:{api[1]}/"
            if cfg.data_dir is None:
                # Nothing outlives this run, so neither does its one operator token; the
                # fragment (#) stays in the browser: it is never sent, nor logged by a proxy.
                click.echo(f"dashboard {url}#token={office.admin.create('operator', 'operator')}", err=True)
            elif not office.admin.tokens():
                where = f"--store '{redact(cfg.store or '')}'" if postgresql else f"--data-dir {cfg.data_dir}"
                click.echo(f"dashboard {url} (no API token yet: pktcable token create {where} --name NAME "
                           "--role operator)", err=True)
        failed = office.dhcp_service.failed if office.dhcp_service is not None else None
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
        if failed is not None:
            waits.append(failed)
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        await nodes.stop_node(office)
        await office.close()
        if failed is not None and failed.done():  # the DHCP worker kept dying: logged; a supervisor restarts us
            sys.exit(int(ExitStatus.SERVICE))

    raise_fd_limit()
    asyncio.run(run())


@click.command("simulate", cls=Command)
@click.option("--server", "servers", required=True, multiple=True,
              help="The DHCP server (relayed to, as a CMTS does); repeated: each request goes to every one "
                   "(a CMTS with several helper addresses) and a device takes the first answer.")
@click.option("--flow", type=click.Choice(SIMULATED_FLOWS, case_sensitive=False), required=True,
              help="The provisioning flow every device plays.")
@click.option("--count", type=click.IntRange(1), default=1, show_default=True, help="How many eCM + eMTA pairs.")
@click.option("--rate", type=float, help="Devices started per second (default: all at once).")
@click.option("--report", "report_file", type=click.Path(dir_okay=False), help="Write the compliance report (JSON).")
@click.option("--relay", default="127.0.0.1", show_default=True, help="giaddr: the simulated CMTS's address.")
@click.option("--dhcp-port", type=int, default=10067, show_default=True, help="The server's DHCP port (67 in production).")
@click.option("--relay-port", type=int, default=10068, show_default=True, help="Where replies to the relay arrive.")
@click.option("--snmp-port", type=int, default=10162, show_default=True, help="Where INFORMs go (162 in production).")
@click.option("--agent-port", type=int, default=10161, show_default=True, help="The eMTAs' agent port (161).")
@click.option("--tftp-port", type=int, default=10069, show_default=True, help="For URLs without a port (69).")
@click.option("--tod-port", type=int, default=10037, show_default=True, help="The ToD port (37).")
@click.option("--first", type=int, default=0, help="Index of the first device (MACs follow from it).")
@click.option("--mib-tree", type=click.Choice(["cablelabs", "ietf", "euro"]), default="cablelabs", show_default=True,
              help="Which PKTC MTA MIB the eMTAs implement (their INFORMs and agent objects).")
@click.option("--declare-mib", is_flag=True, help="Declare that MIB in option 60 (capability 23, MIB support).")
@click.option("--http", "http", is_flag=True,
              help="Declare HTTP file download in option 60 (capability 4); else an http:// URL is a server error.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes sharing the devices, each relaying from its own address (--relay, +1, +2 ...).")
@click.option("--device-budget", type=click.FloatRange(0, min_open=True),
              help="Seconds each device keeps trying: a failed walk starts over after a back-off (default: one walk).")
@click.option("--dhcp-timeout", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
              help="First DHCP retransmission wait, doubling to 16 of them, each +-1/4 (RFC 2131: 4).")
@click.option("--dhcp-retries", type=click.IntRange(0, 16), default=3, show_default=True,
              help="DHCP retransmissions of one message before the exchange gives up.")
@click.option("--pki", "pki", type=click.Path(file_okay=False, exists=True),
              help="Secure flow: the lab PKI folder (pktcable pki init; devices by MAC from pki devices --count).")
@click.option("--kdc-port", type=click.IntRange(1, 65535), default=10188, show_default=True,
              help="Secure: the KDC's port at the 122.10 address (88 in production).")
@click.option("--km-port", type=click.IntRange(1, 65535), default=11293, show_default=True,
              help="Secure: key management at the provisioning server (1293 in production).")
@click.option("--fault", type=click.Choice(SECURE_FAULTS),
              help="Secure: inject a fault (ap-hmac: wrong AP Request HMAC; usm-keys: wrong SNMPv3 key).")
@click.option("--sip-port", type=click.IntRange(1, 65535), default=5060, show_default=True,
              help="SIP phones (--flow sip): the ua-profile notifier's port.")
@click.option("--sip-transport", type=click.Choice(["udp", "tcp"]), default="udp", show_default=True,
              help="SIP phones: the transport they SUBSCRIBE over.")
@click.option("--sip-password", help="SIP phones: the Digest password they answer a challenge with (default: none).")
@click.option("--sip-user", help="SIP phones: the Digest username (default: the phone's MAC).")
@click.option("--sip-layout", default="generic", show_default=True,
              help="SIP phones: the profile layout whose schema they validate against (generic, polycom, snom).")
@click.option("--hold", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Seconds the devices stay up after the run: SIP phones subscribed (refreshing, taking changes), "
                   "eCMs and eMTAs with their agents answering (a server asking after the flow is answered).")
@click.option("--cm-version", default="1.0.0", show_default=True,
              help="The eCMs' software version (DHCP option 43.6), until an upgrade installs another; "
                   "SIP phones report it in their SUBSCRIBE.")
@click.option("--cm-image", default="", help="The file name of the image the eCMs run (a CM file's TLV 9 naming "
                                             "another starts an upgrade; default: none, any name does).")
@click.option("--cvc-root", type=click.Path(dir_okay=False),
              help="The CVC root (PEM or DER) the eCMs check code files against; without it they install nothing "
                   "(SIP phones: they then take unsigned images).")
@click.option("--manufacturer", default="", help="The eCMs' manufacturer organization (a code file's and TLV 32's CVC).")
@click.option("--cm-agent-port", type=click.IntRange(1, 65535),
              help="Each eCM answers SNMP (docsDevSoftware: upgrades from management) here on its leased address.")
@click.option("--cm-http-port", type=click.IntRange(1, 65535), default=80, show_default=True,
              help="The port an eCM told to download by HTTP (docsDevSwServerTransportProtocol) connects to.")
@click.option("--cm-state", type=click.Path(dir_okay=False),
              help="A JSON file of the software each eCM runs, read at the start and written at the end: the "
                   "next run's devices boot the images this run's installed (a staged rollout's reboots).")
@click.option("--quiet", is_flag=True, help="No progress (a bar on a terminal, else a line every 5 s).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (what --report writes), not as a table.")
def simulate_cmd(servers: tuple[str, ...], flow: str, count: int, rate: float | None, report_file: str | None, relay: str,
                 dhcp_port: int, relay_port: int, snmp_port: int, agent_port: int, tftp_port: int, tod_port: int,
                 first: int, mib_tree: str, declare_mib: bool, http: bool, workers: int, device_budget: float | None,
                 dhcp_timeout: float, dhcp_retries: int, pki: str | None, kdc_port: int, km_port: int,
                 fault: str | None, sip_port: int, sip_transport: str, sip_password: str | None,
                 sip_user: str | None, sip_layout: str, hold: float, cm_version: str, cm_image: str,
                 cvc_root: str | None, manufacturer: str, cm_agent_port: int | None, cm_http_port: int,
                 cm_state: str | None,
                 quiet: bool, as_json: bool) -> None:
    """Play eCM + eMTA devices through a PacketCable flow against a provisioning system and report
    every step against the spec. Each eMTA answers SNMP on its leased address, so the addresses
    handed out must be local to this machine (the default pools of `pktcable serve` are on loopback).

    While it runs, stderr shows the progress: a bar with the rate, passed and failed so far and the
    time left on a terminal; otherwise one line every 5 seconds and one at the end.

    Examples:

    \b
      pktcable simulate --server 127.0.0.2 --server 127.0.0.3 --flow hybrid.2 --count 10000 --rate 1000 --workers 2 --device-budget 300
      pktcable simulate --server 127.0.0.1 --flow secure --pki lab-pki --count 10
      pktcable simulate --server 127.0.0.1 --flow sip --sip-port 5070 --count 200 --hold 60
      pktcable simulate --server 127.0.0.1 --flow basic.1 --count 1000 --cvc-root lab-pki/cvc-root.pem --manufacturer "Example Vendor" --cm-image fw-1.0.0.p7 --cm-state cm-state.json --cm-agent-port 1161
    """
    import socket
    import time

    from pktcable.flow import Flow
    from pktcable.simulate.emta import SimConfig
    from pktcable.simulate.net import RelayStats
    from pktcable.simulate.progress import Progress
    from pktcable.simulate.report import render, summarize
    from pktcable.simulate.runner import simulate
    from pktcable.simulate.workers import WorkerError, run_workers, shares
    from pktcable.snmp.pktc import Tree

    resolved = []
    for name in servers:
        try:
            resolved.append(socket.gethostbyname(name))
        except OSError as exc:
            fail(f"--server {name}: {exc.strerror or exc}", ExitStatus.USAGE)
    server, also = resolved[0], tuple(resolved[1:])
    if flow.upper() == SIP_FLOW:
        from pktcable.simulate.phone import PhoneConfig

        if workers > 1 or pki is not None or fault is not None or also:
            fail("--flow sip runs in one process, with one --server, without --pki or --fault", ExitStatus.USAGE)

        # The phones run --cm-version and check signed images against --cvc-root, as the eCMs do.
        phones = PhoneConfig(server, sip_port, sip_transport, password=sip_password, user=sip_user,
                             layout=sip_layout, version=cm_version, cvc_root=cvc_root, manufacturer=manufacturer)
        _simulate_phones(phones, count, rate, first, hold, report_file, quiet, as_json)
        return
    config = SimConfig(server=server, also_servers=also, dhcp_port=dhcp_port, relay=relay, relay_port=relay_port, snmp_port=snmp_port,
                       agent_port=agent_port, tftp_port=tftp_port, tod_port=tod_port, tree=Tree(mib_tree),
                       http=http, declare_mib=declare_mib, device_budget=device_budget, dhcp_timeout=dhcp_timeout,
                       dhcp_retries=dhcp_retries, pki=pki, kdc_port=kdc_port, km_port=km_port,
                       secure_fault=fault or "", cm_version=cm_version, cm_image=cm_image, cvc_root=cvc_root,
                       manufacturer=manufacturer, cm_agent_port=cm_agent_port, cm_http_port=cm_http_port,
                       cm_state=cm_state, hold=hold)
    from pktcable.simulate import cmstate

    try:
        saved = {} if cm_state is None else cmstate.load(cm_state)
    except (OSError, cmstate.StateError) as exc:
        fail(f"--cm-state {cm_state}: {exc}", ExitStatus.USAGE)
    from pktcable.firmware.labimage import ImageError, make_image

    try:
        make_image(cm_version)
    except ImageError as exc:
        fail(f"--cm-version {cm_version!r}: {exc}", ExitStatus.USAGE)
    if cvc_root is not None:
        from pktcable.simulate.cmsoftware import load_root

        try:
            load_root(cvc_root)
        except (OSError, ValueError) as exc:
            fail(f"--cvc-root {cvc_root}: {exc}", ExitStatus.USAGE)
        if not manufacturer:
            fail("--cvc-root needs --manufacturer (the organization the eCMs' code files must name)", ExitStatus.USAGE)
    chosen = Flow.of(flow.upper())
    if chosen.secure and pki is None:
        fail("--flow secure needs --pki (the lab PKI folder holding the devices' certificates)", ExitStatus.USAGE)
    if not chosen.secure and (pki is not None or fault is not None):
        fail("--pki and --fault are for --flow secure", ExitStatus.USAGE)
    if chosen.secure and pki is not None:
        from pktcable.simulate.identity import Identity
        from pktcable.simulate.mtasecure import pki_problem

        problem = pki_problem(pki, [Identity.make(first + n, config.seed).mta_mac for n in range(count)])
        if problem:
            fail(f"--pki {problem}", ExitStatus.USAGE)
    raise_fd_limit()  # every device that got its lease keeps its agent's socket until the run ends

    def write(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    shown = None if quiet else Progress(count, write, time.monotonic, terminal=sys.stderr.isatty())
    stats = RelayStats()

    def progress(passed: bool) -> None:
        if shown is not None:
            shown.device(passed)

    async def run() -> tuple[list[DeviceResult], float]:
        ticking = asyncio.ensure_future(_tick(shown)) if shown is not None else None
        try:
            if workers > 1:
                return await run_workers(config, chosen, shares(count, rate, first, relay, workers), progress, stats)
            return await simulate(config, chosen, count, rate, first, lambda r: progress(r.passed), None, stats)
        finally:
            if ticking is not None:
                ticking.cancel()

    try:
        results, elapsed = asyncio.run(run())
    except WorkerError as exc:
        fail(str(exc), ExitStatus.IO)
    except OSError as exc:
        fail(f"cannot open the relay socket {relay}:{relay_port}: {exc.strerror or exc}", ExitStatus.IO)
    if cm_state is not None:
        # Atomically: a run stopped while writing leaves the last state, not half of one.
        state = cmstate.updated(saved, ((r.cm_mac, r.cm_version, r.cm_image, r.cm_access) for r in results))
        partial = Path(cm_state + ".new")
        partial.write_bytes(cmstate.dump(state))
        partial.replace(cm_state)
    summary = summarize(results, elapsed)
    # The relay's datagrams: received far below sent means the server dropped (or never answered) requests.
    report = json.dumps({"flow": chosen.value, "workers": workers, **summary, "relay": asdict(stats)}, indent=2) + "\n"
    click.echo(report if as_json else render(summary, chosen.value), nl=not as_json)
    if report_file:
        Path(report_file).write_text(report)
    sys.exit(int(ExitStatus.OK if summary["failed"] == 0 else ExitStatus.INVALID))


def _simulate_phones(config: Any, count: int, rate: float | None, first: int, hold: float,
                     report_file: str | None, quiet: bool, as_json: bool) -> None:
    """simulate --flow sip: SIP phones against a ua-profile notifier (docs/sip.md)."""
    import time

    from pktcable.phones.profiles import LAYOUTS
    from pktcable.simulate.phonefleet import simulate_phones
    from pktcable.simulate.progress import Progress
    from pktcable.simulate.report import render, summarize

    if config.layout not in LAYOUTS:
        fail(f"--sip-layout must be one of {', '.join(LAYOUTS)}, not {config.layout!r}", ExitStatus.USAGE)
    raise_fd_limit()  # a socket per phone

    def write(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    shown = None if quiet else Progress(count, write, time.monotonic, terminal=sys.stderr.isatty())

    async def run() -> tuple[list[DeviceResult], float, dict[str, float | int]]:
        ticking = asyncio.ensure_future(_tick(shown)) if shown is not None else None
        try:
            return await simulate_phones(config, count, rate, first,
                                         None if shown is None else lambda r: shown.device(r.passed), hold)
        finally:
            if ticking is not None:
                ticking.cancel()

    try:
        results, elapsed, changed = asyncio.run(run())
    except OSError as exc:
        fail(f"cannot reach the SIP server {config.server}:{config.sip_port}: {exc.strerror or exc}", ExitStatus.IO)
    summary = summarize(results, elapsed)
    report = json.dumps({"flow": "SIP", **summary, "updates": changed}, indent=2) + "\n"
    text = render(summary, "SIP")
    if hold:
        text += (f"\nprofile updates while held {hold:g} s: {changed['phones']} phones took a new version, "
                 f"{changed['spread_s']} s from the first to the last")
    click.echo(report if as_json else text, nl=not as_json)
    if report_file:
        Path(report_file).write_text(report)
    sys.exit(int(ExitStatus.OK if summary["failed"] == 0 else ExitStatus.INVALID))


async def _tick(progress: Progress) -> None:
    """A progress line even while no device finishes (a stalled server shows as one)."""
    while True:
        await asyncio.sleep(1.0)
        progress.tick()


@click.command("reset", cls=Command, renamed={"--address": "--device-address", "--tree": "--mib-tree"})
@click.argument("mac_operand", metavar="MAC", required=False, cls=HiddenArgument)
@click.option("--mac", help="The eMTA's MAC address (any separators).")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="The serve data folder: the eMTA's address is the one its current DHCP lease names.")
@click.option("--store", "store_url", metavar="URL",
              help="The serve store setting's PostgreSQL URL, instead of --data-dir: the lease and device tables there.")
@click.option("--device-address", help="Send the SET to this address of the eMTA instead (an operator's override).")
@click.option("--agent-port", type=int, default=161, show_default=True, help="The eMTA's SNMP agent port.")
@click.option("--community", default="private", show_default=True, help="Write community of the eMTA.")
@click.option("--mib-tree", type=click.Choice(["cablelabs", "ietf", "euro"]), default="cablelabs", show_default=True,
              help="Which PKTC MTA MIB the eMTA implements (the OID of pktcMtaDevResetNow).")
def reset_cmd(mac_operand: str | None, mac: str | None, data_dir: str | None, store_url: str | None,
              device_address: str | None, agent_port: int, community: str, mib_tree: str) -> None:
    """SET pktcMtaDevResetNow on an eMTA found by MAC: it restarts provisioning at MTA-1.

    The SET goes to the address the serve data folder's DHCP lease table gives
    the MAC now, not to the last address the device store saw (that one may
    have been leased to another device since).

    Examples:

    \b
      pktcable reset --mac 00:11:22:33:44:aa --data-dir /var/lib/pktcable
      pktcable reset --mac 0011223344aa --device-address 10.1.0.5 --mib-tree ietf
      pktcable reset --mac 0011223344aa --store 'postgresql:///pktcable?host=/run/postgresql'
    """
    import time

    from pktcable.provision.entity import EntityConfig, ProvisioningEntity
    from pktcable.snmp.aio import open_endpoint
    from pktcable.snmp.pktc import Tree
    from pktcable.store.devices import MemoryDeviceStore, SqliteDeviceStore, normalize_mac

    if mac_operand is not None:  # the old spelling: `pktcable reset MAC`
        if mac is not None:
            fail("give the MAC once, as --mac", ExitStatus.USAGE)
        warn_deprecated("a MAC as an operand", "--mac MAC")
        mac = mac_operand
    if mac is None:
        fail("give the eMTA's --mac", ExitStatus.USAGE)
    try:
        key = normalize_mac(mac)
    except ValueError as exc:
        fail(str(exc), ExitStatus.USAGE)
    if data_dir is not None and store_url is not None:
        fail("give --data-dir or --store, not both", ExitStatus.USAGE)
    if data_dir is None and store_url is None and device_address is None:
        fail("give --data-dir or --store (to find the device's lease) or --device-address", ExitStatus.USAGE)
    store: Any
    if store_url is not None:
        target, store = _postgresql_reset_target(store_url, key, device_address)
    else:
        target = (device_address if device_address is not None
                  else _leased_address(Path(data_dir), key))  # type: ignore[arg-type]
        try:
            store = SqliteDeviceStore(str(Path(data_dir) / "devices.db")) if data_dir else MemoryDeviceStore()
        except sqlite3.Error as exc:  # not a store of ours, or one newer than this pktcable
            fail(f"--data-dir {data_dir}: {exc}", ExitStatus.USAGE)

    async def run() -> bool:
        endpoint = await open_endpoint("0.0.0.0", 0, timeout=1.0, retries=2)
        try:
            entity = ProvisioningEntity(store, None, endpoint, time.time,  # type: ignore[arg-type]
                                        EntityConfig(write_community=community.encode(), agent_port=agent_port),
                                        leased_address=lambda m: target if m == key else None)
            return await entity.reset(key, Tree(mib_tree))
        finally:
            endpoint.close()

    try:
        ok = asyncio.run(run())
    except KeyError as exc:
        fail(str(exc).strip("'\""), ExitStatus.USAGE)
    finally:
        store.close()
    click.echo(f"{key}: reset {'acknowledged' if ok else 'not acknowledged'}")
    sys.exit(int(ExitStatus.OK if ok else ExitStatus.INVALID))


def _postgresql_reset_target(url: str, mac: str, device_address: str | None) -> tuple[str, Any]:
    """The address the PostgreSQL lease table gives ``mac`` now (or ``device_address``), and
    the device store there; exits 2 for a bad URL, no current lease, 6 for no server."""
    import time

    from pktcable.dhcpd.engine import LeaseEngine
    from pktcable.store.pg import StoreUnavailable, StoreUrlError, explain, parse_store, redact
    from pktcable.store.sqlite import SchemaError

    try:
        parse_store(url)
        import psycopg

        from pktcable.store.pg_devices import PgDeviceStore
        from pktcable.store.pg_leases import PgLeaseStore

        if device_address is None:
            leases = PgLeaseStore(url)
            try:
                lease = LeaseEngine(leases, {}, 0.0, 0.0).bound_lease(mac, time.time())
            finally:
                leases.close()
            if lease is None:
                fail(f"{mac}: no current lease in {redact(url)}; give --device-address to reset anyway",
                     ExitStatus.USAGE)
            device_address = str(lease.address)
        return device_address, PgDeviceStore(url)
    except StoreUrlError as exc:
        fail(f"--store: {exc}", ExitStatus.USAGE)
    except StoreUnavailable as exc:
        fail(f"--store {exc}", ExitStatus.IO)
    except (SchemaError, psycopg.Error) as exc:
        fail(f"--store {explain(exc, url)}", ExitStatus.USAGE)


def _leased_address(data_dir: Path, mac: str) -> str:
    """The address the lease table of a serve data folder gives ``mac`` now (exits 2 when none)."""
    import time

    from pktcable.dhcpd.engine import LeaseEngine
    from pktcable.store import SqliteLeaseStore

    path = data_dir / "leases.db"
    if not path.is_file():
        fail(f"--data-dir {data_dir}: no lease table (leases.db); give --device-address to reset anyway",
             ExitStatus.USAGE)
    try:
        leases = SqliteLeaseStore(str(path))
    except sqlite3.Error as exc:  # not a store of ours, or one newer than this pktcable
        fail(f"--data-dir {data_dir}: {exc}", ExitStatus.USAGE)
    try:
        lease = LeaseEngine(leases, {}, 0.0, 0.0).bound_lease(mac, time.time())
    finally:
        leases.close()
    if lease is None:
        fail(f"{mac}: no current lease in {path}; give --device-address to reset anyway", ExitStatus.USAGE)
    return str(lease.address)
