"""The OID registry checked against an independent MIB parser: net-snmp.

net-snmp's ``snmptranslate`` loads the bundled MIB modules (mibs/src/) and
dumps every object it knows: ``-Tz`` lists labels and OIDs, then one ``-Td
-OS`` run over all those OIDs says each object's module and its definition.
Both directions are compared with the generated registry: each (module, name)
net-snmp knows resolves to the same OID in the registry, and each registry
record of those modules is a node net-snmp knows under the same name.

The registry is generated from a larger MIB set than the repository bundles;
set PKTCABLE_MIB_SOURCES to its folders (``dir:dir:...``, as given to
``python -m pktcable.mibcompile --generate``) to check every module.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from mibs import Registry, default_registry
from tests.peers import require

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "mibs" / "src"

# Differences that are net-snmp's, not the registry's: (module, name) -> why.
# Keep each entry justified; a new difference is a registry bug until shown
# otherwise.  Entries for modules outside mibs/src matter only when
# PKTCABLE_MIB_SOURCES names the full set.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    ("SNMPv2-SMI", "iso"): "net-snmp's tree roots are built in; -Tz lists only the nodes below them",
    ("Job-Monitoring-MIB", "pwg"): "net-snmp turns the name-and-number arcs of an OID value "
                                   "({ enterprises pwg(2699) mibs(1) ... }) into objects; they define nothing",
    ("Job-Monitoring-MIB", "mibs"): "as pwg",
    # One OID, two names in one module: net-snmp keeps the later definition
    # in the file; the generator sees the module's objects in OID order.
    ("ISDN-MIB", "isdnMibConformance"): "same OID as isdnMibTrapPrefix",
    ("ISDN-MIB", "isdnMibTrapPrefix"): "same OID as isdnMibConformance",
    ("BGP4-MIB", "bgpNotification"): "net-snmp names RFC1269-MIB's trap node 15.0 with a synthetic label",
    ("IANA-MAU-MIB", "snmpDot3MauMgt"): "as pwg ({ mib-2 snmpDot3MauMgt(26) 4 }); MAU-MIB defines it",
}
# Modules net-snmp loads and the registry's generator rejects.
KNOWN_MODULE_DIFFERENCES: dict[str, str] = {
    "CLAB-ANI-DEV-MIB": "BITS labels that start with a capital (Group1(2)) are invalid SMI; "
                        "net-snmp's lenient label parsing accepts them, the generator rejects the module",
}


def _known(module: str, name: str) -> bool:
    # net-snmp gives unnamed arcs it creates a synthetic label: "parent.N" for
    # an intermediate arc of an OID value, "parent#" for an SMIv1 trap's
    # enterprise.0 node.  They are not objects of any module.
    return ((module, name) in KNOWN_DIFFERENCES or module in KNOWN_MODULE_DIFFERENCES
            or "." in name or name.endswith("#"))


_HEADER_RE = re.compile(r"^([A-Za-z][\w-]*)::(\S+)$")
_END_RE = re.compile(r"^::= \{.*\}$", re.M)  # the last line of each -Td block
_CHUNK = 4000  # OIDs per snmptranslate run, well under the argument limits


@dataclass(frozen=True)
class Node:
    module: str
    name: str
    oid: tuple[int, ...]
    definition: str  # the -Td text: SYNTAX, MAX-ACCESS, INDEX, ...


def _dirs() -> list[str]:
    configured = os.environ.get("PKTCABLE_MIB_SOURCES", "")
    return [d for d in configured.split(":") if d] or [str(BUNDLED)]


def _snmptranslate(tool: str, dirs: list[str], *args: str) -> str:
    # Isolated from the machine's snmp.conf and MIB environment, so only the
    # given folders are read.
    env = {**os.environ, "SNMPCONFPATH": "/nonexistent", "MIBS": "", "MIBDIRS": ""}
    result = subprocess.run(
        [tool, "-M", ":".join(dirs), "-m", "ALL", "-Pu", *args],
        capture_output=True, text=True, encoding="latin-1", env=env, check=False, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def net_snmp_nodes(tool: str, dirs: list[str]) -> list[Node]:
    oids = []
    for line in _snmptranslate(tool, dirs, "-Tz").splitlines():
        _label, _, rest = line.partition('"\t\t\t"')
        oids.append(rest.rstrip('"'))
    nodes: list[Node] = []
    for start in range(0, len(oids), _CHUNK):
        chunk = oids[start:start + _CHUNK]
        text = _snmptranslate(tool, dirs, "-Td", "-OS", *("." + oid for oid in chunk))
        # One block per OID, in order: "MODULE::label", the definition, then
        # the "::= { ... }" line and a blank line.
        blocks = [b.lstrip("\n") for b in _END_RE.split(text)][:-1]
        assert len(blocks) == len(chunk), "unexpected snmptranslate -Td output"
        for oid, block in zip(chunk, blocks, strict=True):
            header, _, definition = block.partition("\n")
            match = _HEADER_RE.match(header)
            assert match is not None, header
            nodes.append(Node(match.group(1), match.group(2),
                              tuple(int(a) for a in oid.split(".")), definition))
    return nodes


def registry_records(reg: Registry, modules: set[str]) -> list[tuple[str, str, tuple[int, ...]]]:
    packed = reg._packed
    assert packed is not None
    out = []
    for index in range(packed.size):
        module = packed.module_of(index)
        if module in modules:
            out.append((module, packed.name(index), packed.oid(index)))
    return out


@pytest.fixture(scope="module")
def nodes() -> list[Node]:
    tool = require("snmptranslate")
    return net_snmp_nodes(tool, _dirs())


@pytest.fixture(scope="module")
def reg() -> Registry:
    return default_registry()


def test_net_snmp_loads_the_bundled_modules(nodes: list[Node]) -> None:
    modules = {node.module for node in nodes}
    bundled = {"SNMPv2-SMI", "SNMPv2-MIB", "IF-MIB", "RFC1213-MIB",
               "SNMP-FRAMEWORK-MIB", "INET-ADDRESS-MIB", "IANAifType-MIB"}
    assert bundled <= modules
    assert len(nodes) > 300


def test_every_net_snmp_name_resolves_to_its_oid(nodes: list[Node], reg: Registry) -> None:
    wrong = []
    for node in nodes:
        if _known(node.module, node.name):
            continue
        obj = reg.object(f"{node.module}::{node.name}")
        if obj is None or obj.oid != node.oid:
            found = "missing" if obj is None else ".".join(map(str, obj.oid))
            wrong.append(f"{node.module}::{node.name} net-snmp {'.'.join(map(str, node.oid))}, registry {found}")
    assert not wrong, "\n".join(wrong)


def test_every_net_snmp_oid_formats_to_its_name(nodes: list[Node], reg: Registry) -> None:
    # The name the registry prints for an OID is the one docsis (net-snmp)
    # prints when both load the same modules.
    loaded = {node.module for node in nodes}
    wrong = []
    for node in nodes:
        if _known(node.module, node.name):
            continue
        obj = reg.lookup(node.oid)
        if obj is not None and obj.oid == node.oid and obj.module not in loaded:
            continue  # the registry's name comes from a module outside this set
        if obj is None or obj.oid != node.oid or obj.name != node.name:
            found = "nothing" if obj is None else f"{obj.module}::{obj.name} {'.'.join(map(str, obj.oid))}"
            wrong.append(f"{'.'.join(map(str, node.oid))}: net-snmp {node.module}::{node.name}, registry {found}")
    assert not wrong, "\n".join(wrong)


def test_every_registry_record_is_known_to_net_snmp(nodes: list[Node], reg: Registry) -> None:
    # net-snmp names each node after one module; a name defined in several
    # modules (RFC1213-MIB and IF-MIB) is therefore matched by OID and label.
    by_oid = {node.oid: node for node in nodes}
    wrong = []
    for module, name, oid in registry_records(reg, {node.module for node in nodes}):
        if _known(module, name):
            continue
        node = by_oid.get(oid)
        # Another record named later at the same OID shadows this one: the
        # OID test above checks that the registry prints that name.
        shadowed = node is not None and node.name != name and reg.lookup(oid) != reg.object(f"{module}::{name}")
        if node is None or (node.name != name and not shadowed):
            found = "nothing" if node is None else f"{node.module}::{node.name}"
            wrong.append(f"{module}::{name} {'.'.join(map(str, oid))}: net-snmp has {found}")
    assert not wrong, "\n".join(wrong)


_SYNTAX_RE = re.compile(r"^\s*SYNTAX\t[^{(]*\(([-0-9. |]+)\)\s*$", re.M)


def _net_snmp_ranges(definition: str) -> tuple[tuple[int, int], ...] | None:
    """The ranges -Td prints after an object's SYNTAX (value ranges of an
    integer, SIZE of a string: net-snmp prints both as ``(a..b | c)``)."""
    match = _SYNTAX_RE.search(definition)
    if match is None:
        return None
    pairs = []
    for item in match.group(1).split("|"):
        low, sep, high = item.strip().partition("..")
        pairs.append((int(low), int(high if sep else low)))
    return tuple(pairs)


def test_constraints_match_net_snmp(nodes: list[Node], reg: Registry) -> None:
    # Where net-snmp states a range or SIZE for an object, the registry has
    # the same one: these are what compile and validate check values against.
    # (net-snmp does not always show a range a TC carries, e.g. ifIndex's
    # InterfaceIndex; the registry follows the TC chain, so it may know more.)
    wrong = []
    checked = 0
    for node in nodes:
        expected = _net_snmp_ranges(node.definition)
        if expected is None or _known(node.module, node.name):
            continue
        obj = reg.object(f"{node.module}::{node.name}")
        if obj is None or obj.oid != node.oid or obj.enums:
            continue
        checked += 1
        if obj.ranges != expected:
            wrong.append(f"{node.module}::{node.name}: net-snmp {expected}, registry {obj.ranges}")
    assert checked >= 20  # the bundled set (mibs/src) has a few dozen
    assert not wrong, "\n".join(wrong)
