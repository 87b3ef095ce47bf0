"""``pktcable`` command line.

Commands are a lazy table (name -> module:attribute) so that ``--help`` and a
quick ``compile`` never import the servers. Every error reaches the user as one
line on stderr that says where and why, with a status from
:mod:`pktcable.exitcodes`; bad input never produces a traceback.
"""

from __future__ import annotations

import importlib

import click

COMMANDS: dict[str, tuple[str, str]] = {
    "compile": ("pktcable.cli.config:compile_cmd", "Compile config text to binary CM or MTA files."),
    "decode": ("pktcable.cli.config:decode_cmd", "Print a binary config file as text."),
    "deliver": ("pktcable.cli.delivery:deliver_cmd", "Serve config files and firmware by TFTP/HTTP, and Time of Day."),
    "dhcp": ("pktcable.cli.dhcp:dhcp_group", "DHCP options (option122, decode) and the DHCPv4 server (serve)."),
    "firmware": ("pktcable.cli.firmware:firmware_group", "Firmware images as signed DOCSIS code files: sign, cosign, verify; the catalogue: add, list; rollout rules; push by SNMP."),
    "kdc": ("pktcable.cli.kdc:kdc_group", "The Secure flow's Kerberos KDC (PKINIT) for a lab PKI."),
    "pki": ("pktcable.cli.pki:pki_group", "A lab PacketCable PKI: CAs, KDC, provisioning-server and device certs."),
    "reset": ("pktcable.cli.backoffice:reset_cmd", "Reset an eMTA found by MAC (SET pktcMtaDevResetNow)."),
    "serve": ("pktcable.cli.backoffice:serve_cmd", "Run the back office (DHCP, TFTP/HTTP/ToD, SNMP, store)."),
    "sip": ("pktcable.cli.sip:sip_group", "SIP phones: the ua-profile provisioning server (serve)."),
    "simulate": ("pktcable.cli.backoffice:simulate_cmd", "Play eCM/eMTA devices through a flow; report compliance."),
    "store": ("pktcable.cli.store:store_group", "The data dir's stores: migrate, check, backup, restore."),
    "token": ("pktcable.cli.token:token_group", "API tokens: create (shown once), list, revoke."),
    "validate": ("pktcable.cli.config:validate_cmd", "Check config files, listing every problem."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        module, _, attr = entry[0].partition(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pktcable")
def main() -> None:
    """pktcable: DOCSIS and PacketCable provisioning tools.

    One name per concept across the commands (--data-dir, --address, --config,
    --mac, --mib-tree, ...): docs/cli.md.

    Examples:

    \b
      pktcable compile tests/data/docsis-compat/mta_vendor.txt --hash cablelabs -o mta.bin
      pktcable serve --demo --auto-enroll
      pktcable simulate --server 127.0.0.1 --flow hybrid.2 --count 100
      pktcable dhcp option122 --realm BASIC.1 --prov-server prov.example.net
    """
