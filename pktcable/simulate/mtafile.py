"""What a strict eMTA makes of a config file it downloaded (sans-IO).

The verdict is the ``pktcMtaDevProvisioningState`` value the device would
report (PKT-SP-PROV1.5, PKTC-MTA-MIB): a file it cannot use at all (empty,
without the TLV 254 delimiters, undecodable, a wrong hash, a mandatory
object of the wrong type) is ``failConfigFileError(3)``; a usable file with
optional objects it cannot apply (unknown, from another MIB tree, of the
wrong type or out of their enumeration) is ``passWithWarnings(4)``, one
``pktcMtaDevErrorOidsTable`` row per object; anything else is ``pass(1)``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache

from mibs.constraints import TAG_OF_SYNTAX
from mibs.objects import (
    COLUMN,
    INTEGER,
    SCALAR,
    MibObject,
)
from pktcable.flow import ProvisioningState
from pktcable.snmp.pktc import Tree
from tlv import ber
from tlv.binary import LONG_SNMP, MTA_DELIMITER
from tlv.config import HASH_BY_OID, SNMP_OBJECT, decode_file
from tlv.errors import DecodeError

#: Objects an eMTA config file must set correctly or be rejected
#: (PKT-SP-PROV1.5 MTA configuration file: pktcMtaDevEnabled is mandatory).
MANDATORY = frozenset({"pktcMtaDevEnabled"})
#: MIB modules of the other tree: a CableLabs eMTA does not implement the
#: IETF objects, nor an IETF eMTA the CableLabs ones (issue: "config files
#: follow the eMTA's MIB tree").
FOREIGN_MODULES: dict[Tree, frozenset[str]] = {
    Tree.CABLELABS: frozenset({"PKTC-IETF-MTA-MIB", "PKTC-IETF-SIG-MIB"}),
    Tree.IETF: frozenset({"PKTC-MTA-MIB", "PKTC-SIG-MIB"}),
    # A Euro PacketCable eMTA implements the CableLabs objects; only its hash object differs.
    Tree.EURO: frozenset({"PKTC-IETF-MTA-MIB", "PKTC-IETF-SIG-MIB"}),
}
#: The eMTA's error table holds at most this many rows (PKTC-MTA-MIB
#: pktcMtaDevErrorOidIndex 1..1024; the last one says "too many errors").
MAX_ERROR_ROWS = 1024


@dataclass(frozen=True, slots=True)
class ErrorRow:
    """One pktcMtaDevErrorOidsTable row: the OID as text, the value given, why."""

    oid: str
    given: str
    reason: str


@dataclass(slots=True)
class Verdict:
    state: ProvisioningState
    #: Why the file was rejected or warned about, one line each.
    problems: list[str] = field(default_factory=list)
    errors: list[ErrorRow] = field(default_factory=list)
    #: Deviations of the server that leave the verdict as it is.
    notes: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.state in (ProvisioningState.PASS, ProvisioningState.PASS_WITH_WARNINGS,
                              ProvisioningState.PASS_WITH_INCOMPLETE_PARSING)


def _fail(reason: str) -> Verdict:
    return Verdict(ProvisioningState.FAIL_CONFIG_FILE_ERROR, [reason])


def _dotted(oid: tuple[int, ...]) -> str:
    return ".".join(map(str, oid))


def _enum_ok(obj: MibObject, vb: ber.VarBind) -> bool:
    return not obj.enums or obj.syntax != INTEGER or any(v == vb.value for _, v in obj.enums)


#: Distinct (file, hash, tree, flow) verdicts kept: a storm's devices mostly
#: fetch the same bytes, and checking them is a pure function of its inputs.
CHECKED = 256


@lru_cache(maxsize=CHECKED)
def check_cached(data: bytes, tree: Tree, hybrid: bool, set_hash: bytes, strict: bool) -> Verdict:
    """:func:`check`, remembered: the simulator's devices share one verdict
    per distinct input (the caller must not change it)."""
    return check(data, tree, hybrid=hybrid, set_hash=set_hash, strict=strict)


def check(data: bytes, tree: Tree, *, hybrid: bool, set_hash: bytes = b"", strict: bool = True) -> Verdict:
    """The verdict on ``data``: ``set_hash`` is pktcMtaDevProvConfigHash as
    SET by the server (Hybrid); a Basic file carries its hash inside."""
    if not data:
        return _fail("the config file is empty")
    if data[0] != MTA_DELIMITER:
        return _fail(f"the config file starts with TLV {data[0]}, not the TLV 254 = 1 delimiter")
    if hybrid:
        # PKTC-MTA-MIB pktcMtaDevProvConfigHash: SHA-1, or MD5 for a 16-byte value.
        digest = (hashlib.md5 if len(set_hash) == 16 else hashlib.sha1)(data).digest()
        if digest != set_hash:
            return _fail(f"SHA-1 of the file {digest.hex()} differs from the SET hash {set_hash.hex()}")
    try:
        cf = decode_file(data)
    except DecodeError as exc:
        return _fail(f"config file does not decode: {exc}")
    nodes = cf.nodes
    delimiters = [n for n in nodes if n.code == MTA_DELIMITER]
    if (len(nodes) < 2 or nodes[0].value != b"\x01" or nodes[-1].code != MTA_DELIMITER
            or nodes[-1].value != b"\xff" or len(delimiters) != 2):
        return _fail("an MTA file starts with TLV 254 = 1, ends with TLV 254 = 255 and has no other TLV 254")
    verdict = Verdict(ProvisioningState.PASS)
    if not hybrid:
        if cf.hash_ok is None or (strict and cf.hash_name != tree.value):
            where = f" (only the {cf.hash_name} tree's object, which this {tree.value} eMTA lacks)" \
                if cf.hash_ok is not None else ""
            return _fail(f"Basic-flow file hash missing{where}")
        if not cf.hash_ok:
            return _fail("Basic-flow file hash wrong")
    elif cf.hash_ok is not None:
        verdict.notes.append("a Hybrid-flow config file carries its own hash object")
    from pktcable.mibdata import default_registry

    registry = default_registry()
    seen: set[str] = set()
    for node in nodes[1:-1]:
        if node.code not in (SNMP_OBJECT, LONG_SNMP):
            verdict.problems.append(f"offset {node.offset}: TLV {node.code} is not an SNMP object; ignored")
            continue
        try:
            vb = node.decoded if isinstance(node.decoded, ber.VarBind) else ber.decode_varbind(node.value)
        except ValueError as exc:
            return _fail(f"offset {node.offset}: SNMP object does not decode: {exc}")
        if vb.oid in HASH_BY_OID:
            continue
        obj = registry.lookup(vb.oid)
        reason = ""
        if obj is None or obj.kind not in (SCALAR, COLUMN) or len(vb.oid) <= len(obj.oid):
            reason = "NOT A KNOWN OBJECT INSTANCE"
        elif strict and obj.module in FOREIGN_MODULES[tree]:
            reason = f"OBJECT OF THE {obj.module} TREE, NOT IMPLEMENTED BY THIS EMTA"
        elif obj.syntax in TAG_OF_SYNTAX and vb.type.tag != TAG_OF_SYNTAX[obj.syntax]:
            reason = f"WRONG TYPE {vb.type.keyword}, {obj.name} IS {obj.syntax}"
        elif not _enum_ok(obj, vb):
            reason = "VALUE NOT IN RANGE"
        if obj is not None and reason == "":
            seen.add(obj.name)
            continue
        name = obj.name if obj is not None else _dotted(vb.oid)
        line = f"offset {node.offset}: {name} ({_dotted(vb.oid)}): {reason.lower()}"
        if obj is not None and obj.name in MANDATORY and obj.module not in FOREIGN_MODULES[tree]:
            return _fail(f"{line} (a mandatory object)")
        verdict.problems.append(line)
        if len(verdict.errors) < MAX_ERROR_ROWS:
            verdict.errors.append(ErrorRow(_dotted(vb.oid), str(vb.value), reason))
    if strict:
        missing = sorted(MANDATORY - seen)
        if missing:
            return _fail(f"mandatory object(s) {', '.join(missing)} missing")
    if verdict.problems:
        verdict.state = ProvisioningState.PASS_WITH_WARNINGS
    return verdict
