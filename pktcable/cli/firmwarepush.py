"""``pktcable firmware push`` (upgrade a modem now, by SNMP) and ``pktcable firmware
lab-image`` (an image the simulated modem installs): docs/firmware.md."""

from __future__ import annotations

import asyncio
import json
import sys
from ipaddress import ip_address

import click

from pktcable.exitcodes import ExitStatus

from .common import fail, write_output


@click.command("push")
@click.option("--device-address", required=True, help="The cable modem's address (its SNMP agent).")
@click.option("--agent-port", type=click.IntRange(1, 65535), default=161, show_default=True,
              help="The modem's SNMP agent port.")
@click.option("--community", default="private", show_default=True, help="Write community of the modem.")
@click.option("--server", required=True, help="The server the modem downloads the code file from (an address).")
@click.option("--transport", type=click.Choice(["tftp", "http"]),
              help="SET docsDevSwServerTransportProtocol too: download by TFTP, or by HTTP from the server's port 80 "
                   "(default: leave the modem's as it is; most download by TFTP).")
@click.option("--filename", required=True, help="The code file's name on that server (docsDevSwFilename).")
@click.option("--budget", type=click.FloatRange(1), default=600.0, show_default=True,
              help="Seconds the whole push may take (download, verify, flash, reboot).")
@click.option("--poll-every", type=click.FloatRange(0.1), default=2.0, show_default=True,
              help="Seconds between reads of docsDevSwOperStatus.")
@click.option("--legacy", is_flag=True,
              help="SET docsDevSwServer (older modems) instead of docsDevSwServerAddressType/Address.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON object.")
def push_cmd(device_address: str, agent_port: int, community: str, server: str, transport: str | None,
             filename: str, budget: float, poll_every: float, legacy: bool, as_json: bool) -> None:
    """Upgrade a cable modem now: SET the server, file name and docsDevSwAdminStatus
    upgradeFromMgt(1), then poll docsDevSwOperStatus until completeFromMgt(3) or failed(4).

    Prints the outcome (completed, failed, refused, busy, unreachable, timed-out) and the
    version before and after; exits 0 when completed, 1 otherwise.

    Examples:

    \b
      pktcable firmware push --device-address 10.1.0.5 --server 10.0.0.1 --filename fw-2.0.0.p7
      pktcable firmware push --device-address 127.0.0.1 --agent-port 1161 --server 127.0.0.1 --filename fw-2.0.0.p7 --legacy --json
      pktcable firmware push --device-address 10.1.0.5 --server 10.0.0.1 --transport http --filename fw-2.0.0.p7
    """
    from pktcable.firmware.push import Push
    from pktcable.provision.swpush import push_firmware, v2c
    from pktcable.snmp.aio import open_endpoint

    try:
        where = ip_address(server)
        target = str(ip_address(device_address))
    except ValueError as exc:
        fail(f"--server/--device-address: {exc}", ExitStatus.USAGE)
    from pktcable.firmware.swmib import HTTP, TFTP

    kind = None if transport is None else HTTP if transport == "http" else TFTP
    try:
        Push(where, filename, 0.0, poll_every, legacy, kind)  # its checks, before any packet
    except ValueError as exc:
        fail(str(exc), ExitStatus.USAGE)

    async def run() -> object:
        endpoint = await open_endpoint("0.0.0.0" if where.version == 4 else "::", 0, timeout=1.0, retries=2)
        try:
            return await push_firmware(v2c(endpoint, (target, agent_port), community.encode()), where, filename,
                                       budget=budget, poll_every=poll_every, legacy=legacy, transport=kind)
        finally:
            endpoint.close()

    try:
        done = asyncio.run(run())
    except OSError as exc:
        fail(f"SNMP: {exc.strerror or exc}", ExitStatus.IO)
    from pktcable.firmware.push import Done

    assert isinstance(done, Done)
    if as_json:
        click.echo(json.dumps({"outcome": done.outcome.value, "detail": done.detail,
                               "version_before": done.version_before, "version": done.version,
                               "oper_status": done.oper}))
    else:
        click.echo(f"{target}: {done.outcome.value}: {done.detail} (version {done.version_before or '?'}"
                   f" -> {done.version or '?'})")
    sys.exit(int(ExitStatus.OK if done.ok else ExitStatus.INVALID))


@click.command("lab-image")
@click.option("--version", "image_version", required=True,
              help="The version the simulated modem reports once it runs the image (1-64 printable characters).")
@click.option("--size", type=click.IntRange(0, 64 * 1024 * 1024), default=0, show_default=True,
              help="Bytes of payload after the header (a real image's size, to time a download).")
@click.option("-o", "--output", required=True, help="Output file ('-' for stdout).")
def lab_image_cmd(image_version: str, size: int, output: str) -> None:
    """Write a firmware image the simulated cable modem installs (`pktcable simulate`):
    its version in a one-line header, then ``--size`` bytes. Sign it with `firmware sign`.

    Examples:

    \b
      pktcable firmware lab-image --version 2.0.0 --size 1048576 -o fw-2.0.0.bin
      pktcable firmware lab-image --version 2.0.0-beta -o -
    """
    from pktcable.firmware.labimage import ImageError, make_image

    try:
        image = make_image(image_version, (bytes(range(256)) * (size // 256 + 1))[:size])
    except ImageError as exc:
        fail(f"--version {image_version!r}: {exc}", ExitStatus.USAGE)
    write_output(output, image)

