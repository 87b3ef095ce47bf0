"""``pktcable serve`` and ``pktcable simulate``."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

import click

from pktcable.exitcodes import ExitStatus
from pktcable.flow import MTA_TABLES

from .common import fail, raise_fd_limit

#: The flows the simulator can play: those with a device-side table.
SIMULATED_FLOWS = [flow.value for flow in MTA_TABLES]


@click.command("serve")
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
@click.option("-v", "--verbose", is_flag=True, help="Log every step of every device.")
def serve_cmd(config_file: str | None, address: str | None, interface: str | None, data_dir: str | None,
              memory: bool, demo: bool, realms: tuple[str, ...], auto_enroll: bool | None, verbose: bool) -> None:
    """Run the back office: DHCP, TFTP/HTTP/ToD, the SNMP provisioning entity, the device store.

    SIGHUP reads --config again and applies its [[devices]] and templates; other
    changed settings are logged and wait for a restart. With --memory or --demo, one
    operator token for the API is made for the run and shown in the dashboard URL."""
    import os
    import secrets
    import sqlite3
    from ipaddress import IPv4Interface

    from pktcable.serve.config import ServeConfig, check, read
    from pktcable.settings import SettingError

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log = logging.getLogger("pktcable.serve")
    # Settings the command line gives, by the flag that gave them: an error about one names the flag.
    given = {key: flag for key, flag, value in (("address", "--address", address), ("interface", "--interface", interface),
                                                ("data_dir", "--data-dir", data_dir), ("realms", "--realm", realms))
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
        elif cfg.data_dir is None:
            base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
            cfg.data_dir = os.path.join(base, "pktcable")
        if realms:
            cfg.realms = list(realms)
        if auto_enroll is not None:
            cfg.auto_enroll = auto_enroll
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
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # before the lines that tell a supervisor we are up
            loop.add_signal_handler(sig, stop.set)
        # Its default action ends the process: a supervisor's "reload" must never stop provisioning.
        loop.add_signal_handler(signal.SIGHUP, reload, office)
        for name, (host, port) in office.addresses().items():
            click.echo(f"{name} {host}:{port}", err=True)
        click.echo(f"store {cfg.data_dir or 'in memory'}", err=True)
        api = office.addresses().get("api")
        if api is not None:
            url = f"{'https' if cfg.api_cert else 'http'}://{api[0]}:{api[1]}/"
            if cfg.data_dir is None:
                # Nothing outlives this run, so neither does its one operator token; the
                # fragment (#) stays in the browser: it is never sent, nor logged by a proxy.
                click.echo(f"dashboard {url}#token={office.admin.create('operator', 'operator')}", err=True)
            elif not office.admin.tokens():
                click.echo(f"dashboard {url} (no API token yet: pktcable token create --data-dir "
                           f"{cfg.data_dir} --name NAME --role operator)", err=True)
        await stop.wait()
        await office.close()

    raise_fd_limit()
    asyncio.run(run())


@click.command("simulate")
@click.option("--server", required=True, help="The DHCP server (relayed to, as a CMTS does).")
@click.option("--flow", type=click.Choice(SIMULATED_FLOWS, case_sensitive=False),
              required=True)
@click.option("--count", type=click.IntRange(1), default=1, show_default=True)
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
@click.option("--quiet", is_flag=True, help="No progress bar.")
def simulate_cmd(server: str, flow: str, count: int, rate: float | None, report_file: str | None, relay: str,
                 dhcp_port: int, relay_port: int, snmp_port: int, agent_port: int, tftp_port: int, tod_port: int,
                 first: int, mib_tree: str, declare_mib: bool, http: bool, quiet: bool) -> None:
    """Play eCM + eMTA devices through a PacketCable flow against a provisioning system and report
    every step against the spec. Each eMTA answers SNMP on its leased address, so the addresses
    handed out must be local to this machine (the default pools of `pktcable serve` are on loopback)."""
    import socket

    from pktcable.flow import Flow
    from pktcable.simulate.emta import SimConfig
    from pktcable.simulate.report import render, summarize
    from pktcable.simulate.runner import simulate
    from pktcable.snmp.pktc import Tree

    try:
        server = socket.gethostbyname(server)
    except OSError as exc:
        fail(f"--server {server}: {exc.strerror or exc}", ExitStatus.USAGE)
    config = SimConfig(server=server, dhcp_port=dhcp_port, relay=relay, relay_port=relay_port, snmp_port=snmp_port,
                       agent_port=agent_port, tftp_port=tftp_port, tod_port=tod_port, tree=Tree(mib_tree),
                       http=http, declare_mib=declare_mib)
    chosen = Flow.of(flow.upper())
    done = [0]
    show = not quiet and sys.stderr.isatty()

    def progress(_: object) -> None:
        done[0] += 1
        if show and (done[0] % max(1, count // 50) == 0 or done[0] == count):
            bar = "#" * (40 * done[0] // count)
            sys.stderr.write(f"\r[{bar:40}] {done[0]}/{count}")
            sys.stderr.flush()

    try:
        results, elapsed = asyncio.run(simulate(config, chosen, count, rate, first, progress))
    except OSError as exc:
        fail(f"cannot open the relay socket {relay}:{relay_port}: {exc.strerror or exc}", ExitStatus.IO)
    if show:
        sys.stderr.write("\n")
    summary = summarize(results, elapsed)
    click.echo(render(summary, chosen.value))
    if report_file:
        Path(report_file).write_text(json.dumps({"flow": chosen.value, **summary}, indent=2) + "\n")
    sys.exit(int(ExitStatus.OK if summary["failed"] == 0 else ExitStatus.INVALID))


@click.command("reset")
@click.argument("mac")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="The serve data folder: the eMTA's address is the one its current DHCP lease names.")
@click.option("--address", help="Send the SET to this address instead (an operator's override).")
@click.option("--agent-port", type=int, default=161, show_default=True)
@click.option("--community", default="private", show_default=True, help="Write community of the eMTA.")
@click.option("--tree", type=click.Choice(["cablelabs", "ietf", "euro"]), default="cablelabs", show_default=True)
def reset_cmd(mac: str, data_dir: str | None, address: str | None, agent_port: int, community: str,
              tree: str) -> None:
    """SET pktcMtaDevResetNow on an eMTA found by MAC: it restarts provisioning at MTA-1.

    The SET goes to the address the serve data folder's DHCP lease table gives
    the MAC now, not to the last address the device store saw (that one may
    have been leased to another device since)."""
    import time

    from pktcable.provision.entity import EntityConfig, ProvisioningEntity
    from pktcable.snmp.aio import open_endpoint
    from pktcable.snmp.pktc import Tree
    from pktcable.store.devices import MemoryDeviceStore, SqliteDeviceStore, normalize_mac

    try:
        key = normalize_mac(mac)
    except ValueError as exc:
        fail(str(exc), ExitStatus.USAGE)
    if data_dir is None and address is None:
        fail("give --data-dir (to find the device's lease) or --address", ExitStatus.USAGE)
    target = address if address is not None else _leased_address(Path(data_dir), key)  # type: ignore[arg-type]
    store = SqliteDeviceStore(str(Path(data_dir) / "devices.db")) if data_dir else MemoryDeviceStore()

    async def run() -> bool:
        endpoint = await open_endpoint("0.0.0.0", 0, timeout=1.0, retries=2)
        try:
            entity = ProvisioningEntity(store, None, endpoint, time.time,  # type: ignore[arg-type]
                                        EntityConfig(write_community=community.encode(), agent_port=agent_port),
                                        leased_address=lambda m: target if m == key else None)
            return await entity.reset(key, Tree(tree))
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


def _leased_address(data_dir: Path, mac: str) -> str:
    """The address the lease table of a serve data folder gives ``mac`` now (exits 2 when none)."""
    import time

    from pktcable.dhcpd.engine import LeaseEngine
    from pktcable.store import SqliteLeaseStore

    path = data_dir / "leases.db"
    if not path.is_file():
        fail(f"--data-dir {data_dir}: no lease table (leases.db); give --address to reset anyway", ExitStatus.USAGE)
    leases = SqliteLeaseStore(str(path))
    try:
        lease = LeaseEngine(leases, {}, 0.0, 0.0).bound_lease(mac, time.time())
    finally:
        leases.close()
    if lease is None:
        fail(f"{mac}: no current lease in {path}; give --address to reset anyway", ExitStatus.USAGE)
    return str(lease.address)
