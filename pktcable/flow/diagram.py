"""Mermaid state diagrams drawn from the flow tables, for docs/flows.md.

``python -m pktcable.flow.diagram`` rewrites docs/flows.md; a test fails when
the checked-in file differs, so the diagrams cannot drift from the tables.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

from .flows import Family, Flow
from .machine import FlowTable
from .sip import PHONE_TABLE
from .sip import SERVER_TABLE as SIP_SERVER_TABLE
from .tables import CM_TABLE, MTA_TABLES, SERVER_TABLES

DOC = Path(__file__).resolve().parents[2] / "docs" / "flows.md"

HEADER = """# Provisioning flows

The state machines that the simulator (device side) and the provisioning server
(server side) run, drawn from their transition tables in `pktcable/flow/tables.py`
(this file is generated: `python -m pktcable.flow.diagram`). Each state shows the
spec step it stands for (PKT-SP-PROV1.5 / ITU-T J.167 numbering: MTA-1 ... MTA-25, the
Hybrid steps from 15 on as H-MTA-n; the Secure flow adds MTA-5 ... MTA-14: the KDC, PKINIT,
key management). Final states show the `pktcMtaDevProvisioningState`
value they report (1 pass, 3 failConfigFileError, 7 failOtherReason). An event that a
table does not list for a state is an error (`InvalidTransition`, which the server
records, logs and counts as `pktcable_unexpected_events_total`), never ignored.
"""


CM_TEXT = """A cable modem (an eMTA's eCM or a plain CM) gets its lease and its DOCSIS config file
from the same server (CM-1 ... CM-6; ToD and registration with the CMTS, CM-7 ... CM-10, the
server does not see). Its device row carries the state below and, once final, the result an
eMTA's would (1 pass, 7 fail), so a CM's outcome means what an eMTA's does. Its steps are
recorded with the flow name `DOCSIS` in metrics labels.
"""


SIP_TEXT = """A SIP phone provisioned by the ua-profile event package (RFC 6080; docs/sip.md), as
`pktcable simulate --flow sip` plays it. RFC 6080 numbers no steps: the labels UA-1 ... UA-6 are
ours (UA-1 SUBSCRIBE, UA-2 the NOTIFY naming the profile, UA-3 GET, UA-4 schema check, UA-5
subscribed and refreshing, UA-6 a change NOTIFY and the conditional GET). SUBSCRIBED is not final:
the phone stays there, refreshing, and counts as enrolled. Final states show failOtherReason (7)
as the eMTA's do.
"""


SIP_SERVER_TEXT = """What `pktcable serve` keeps in a phone's device row (`state`; the empty word is KNOWN): the
notifier reports each event by name and this table says where it leaves the phone. The server does
not see the phone's own steps (its GET's schema check happens on the phone), and a phone may
subscribe again at any time, so no state is final and each event leads to the same state from
every state. The row's history keeps every event, those that change nothing too.
"""


def everywhere(table: FlowTable) -> dict[type, Enum]:
    """Event types with a row in every state, all to one target (a new run): one
    sentence in the text instead of an arrow from each state."""
    found: dict[type, Enum] = {}
    for kind in {kind for _, kind in table.transitions}:
        targets = {table.transitions.get((state, kind)) for state in table.states}
        if len(targets) == 1 and None not in targets:
            found[kind] = targets.pop()  # type: ignore[assignment]
    return found


def staying(table: FlowTable) -> list[type]:
    """Event types every state takes and stays in (recorded, nothing changes): one sentence
    in the text instead of a loop on each state."""
    kinds = {kind for _, kind in table.transitions}
    return sorted((kind for kind in kinds if all(table.transitions.get((state, kind)) is state
                                                 for state in table.states)), key=lambda k: k.__name__)


def mermaid(table: FlowTable) -> str:
    lines = ["```mermaid", "stateDiagram-v2"]
    for state, info in table.states.items():
        label = f"{state.name}<br/>{info.step}"
        if info.result is not None:
            label += f"<br/>state {info.result}"
        lines.append(f'    {state.name}: {label}')
    lines.append(f"    [*] --> {table.start.name}")
    anywhere = everywhere(table)
    stays = set(staying(table))
    for source, kind, target in table.edges():
        if kind in stays:
            continue  # the text says every state keeps it
        if kind in anywhere and source != table.start:
            continue  # drawn once, from the start state; the text says it holds in every state
        lines.append(f"    {source.name} --> {target.name}: {kind.__name__}")
    for state, info in table.states.items():
        if info.final:
            lines.append(f"    {state.name} --> [*]")
    lines.append("```")
    return "\n".join(lines)


def flow_list() -> str:
    """The flows and what sets each apart, from :class:`Flow` and the tables keyed by it."""
    lines = ["## The flows\n",
             "Listed once, in `pktcable/flow/flows.py`; the CLI, the settings check, the REST API, the",
             "DHCP server's realm choice, the simulator and the device store take them from there.\n",
             "| flow (option 122.6) | family | TLV 18 bit | config file named by | MTA-25 status INFORM "
             "| device table | server table |",
             "|---|---|---|---|---|---|---|"]
    for flow in Flow:
        named_by = "DHCP siaddr/file (hash in the file)" if flow.family.file_in_dhcp else \
            "SNMPv3 SET (location, hash, key; the file encrypted)" if flow.secure else "SNMP SET (location, hash)"
        realm = "a Kerberos realm (the flow goes by SECURE)" if flow.secure else flow.value
        lines.append(f"| {realm} | {flow.family.name.title()} | 0x{flow.capability_bit:04x} | {named_by} "
                     f"| {'yes' if flow.reports_status else 'no'} | {'yes' if flow in MTA_TABLES else 'no'} "
                     f"| {'yes' if flow in SERVER_TABLES else 'no'} |")
    unlisted = [family for family in Family if not any(flow.family is family for flow in Flow)]
    if unlisted:
        lines.append("")
        lines.append(f"Any other realm is a Kerberos realm: the {', '.join(f.name.title() for f in unlisted)} "
                     f"family (TLV 18 bit {', '.join(f'0x{f.value:04x}' for f in unlisted)}), not run yet.")
    return "\n".join(lines) + "\n"


def document() -> str:
    parts = [HEADER, flow_list()]
    sides = (("eMTA side", list(MTA_TABLES.values())), ("Provisioning-server side", list(SERVER_TABLES.values())),
             ("Cable-modem side (provisioning server)", [CM_TABLE]), ("SIP phone side", [PHONE_TABLE]),
             ("SIP server side", [SIP_SERVER_TABLE]))
    for title, tables in sides:
        parts.append(f"## {title}\n")
        if tables == [CM_TABLE]:
            parts.append(CM_TEXT)
        if tables == [PHONE_TABLE]:
            parts.append(SIP_TEXT)
        if tables == [SIP_SERVER_TABLE]:
            parts.append(SIP_SERVER_TEXT)
        for table in tables:
            parts.append(f"### {table.name}\n")
            if table.global_events:
                events = ", ".join(
                    f"`{kind.__name__}` -> {target.name}" for kind, target in table.global_events.items()
                )
                parts.append(f"In every state that is not final: {events}.\n")
            anywhere = everywhere(table)
            if anywhere:
                events = ", ".join(f"`{kind.__name__}` -> {target.name}"
                                   for kind, target in sorted(anywhere.items(), key=lambda i: i[0].__name__))
                parts.append(f"In every state, final ones too (a new run; drawn from {table.start.name} only): "
                             f"{events}.\n")
            stays = staying(table)
            if stays:
                parts.append(f"In every state, final ones too, {', '.join(f'`{k.__name__}`' for k in stays)} "
                             "are recorded and change nothing (not drawn).\n")
            if table.after_end:
                events = ", ".join(f"`{kind.__name__}`" for kind in sorted(table.after_end, key=lambda k: k.__name__))
                moves = {kind for (state, kind) in table.transitions if table.states[state].final} & table.after_end
                tail = " (but where an arrow below leads elsewhere)" if moves else ""
                parts.append(f"In a final state, {events} are recorded and change nothing{tail}.\n")
            if table.budget is not None:
                starts = ", ".join(f"`{kind.__name__}`" for kind in sorted(table.budget_from, key=lambda k: k.__name__))
                parts.append(
                    f"Provisioning budget: {table.budget:g} s for the whole run, from the event that starts it "
                    f"({starts}) to a final state; when it runs out, "
                    f"`{table.budget_event.__name__ if table.budget_event else ''}`.\n")
            waits = [f"{state.name} {info.timeout:g} s (`{info.on_timeout.__name__ if info.on_timeout else ''}`)"
                     for state, info in table.states.items() if info.timeout is not None]
            if waits:
                parts.append(f"States with a wait of their own: {', '.join(waits)}.\n")
            if table.timer_start is not None:
                parts.append(
                    f"The provisioning timer starts on entering {table.timer_start.name} and stops at "
                    f"`{table.timer_stop.__name__ if table.timer_stop else ''}`.\n"
                )
            parts.append(mermaid(table) + "\n")
    return "\n".join(parts)


def main() -> None:
    text = document()
    if "--check" in sys.argv:
        sys.exit(0 if DOC.exists() and DOC.read_text() == text else 1)
    DOC.write_text(text)


if __name__ == "__main__":
    main()
