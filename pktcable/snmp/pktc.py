"""The PacketCable MTA objects the provisioning exchange uses, per MIB tree.

An eMTA implements the CableLabs PKTC-MTA-MIB (1.3.6.1.4.1.4491.2.2.1), the
IETF PKTC-IETF-MTA-MIB (RFC 4682, 1.3.6.1.2.1.140) or the Euro PacketCable
MTA MIB (1.3.6.1.4.1.7432.1); the notifications and the SET targets differ in
their OIDs, and the IETF tree names the MAC ifPhysAddress.1 instead of
pktcMtaDevMacAddress.0 (RFC 4682). CableLabs and IETF OIDs come from the
OID registry, resolved once.

The Euro module is not in the registry: only its notifications
(pktcMtaDevProvisioningEnrollment = 7432.1.2.0.1, ...Status = 7432.1.2.0.2),
pktcMtaDevConfigFile (7432.1.1.2.7.0), pktcMtaDevProvConfigHash
(7432.1.1.2.9.0) and pktcMtaDevResetNow (7432.1.1.1.1.0) are known from
deployed servers. So a Euro notification is read by position: RFC 3416
section 4.2.6 puts a notification's varbinds in the order of its OBJECTS
clause, which the Euro module shares with the other two (enrollment: sysDescr,
SwCurrentVers, TypeIdentifier, MAC, CorrelationId; status: MAC, CorrelationId,
ProvisioningState). The OIDs this module *sends* for those Euro objects
(:data:`EURO_ASSUMED`) follow RFC 4682's layout under the Euro root, and are
an assumption no parser here depends on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from tlv import ber
from tlv.ber import VarBind

from . import message as m

OID = tuple[int, ...]


class Tree(StrEnum):
    """The MIB tree an eMTA implements; the value is also the name of its
    in-file hash OID in tlv.config.HASH_OIDS."""

    CABLELABS = "cablelabs"
    IETF = "ietf"
    EURO = "euro"


_MODULE = {Tree.CABLELABS: "PKTC-MTA-MIB", Tree.IETF: "PKTC-IETF-MTA-MIB"}


@dataclass(frozen=True, slots=True)
class MtaOids:
    tree: Tree
    enrollment: OID
    status: OID
    config_file: OID
    config_hash: OID
    reset_now: OID
    mac: OID
    correlation_id: OID
    provisioning_state: OID
    sw_version: OID
    type_identifier: OID
    serial_number: OID
    sys_descr: OID = (1, 3, 6, 1, 2, 1, 1, 1, 0)
    #: Secure flow (MTA-19): the file's key, and (IETF tree only) its algorithm.
    config_key: OID | None = None
    encrypt_alg: OID | None = None


#: The Euro PacketCable MTA MIB root (enterprise 7432, Excentis): objects under .1, notifications under .2.0.
EURO_ROOT: OID = (1, 3, 6, 1, 4, 1, 7432, 1)
#: Euro objects whose OIDs are assumed (RFC 4682's arcs under the Euro root); see the module text.
EURO_ASSUMED = frozenset({"mac", "correlation_id", "provisioning_state", "sw_version", "type_identifier",
                          "serial_number"})


def _euro() -> MtaOids:
    base, server = EURO_ROOT + (1, 1), EURO_ROOT + (1, 2)
    return MtaOids(
        tree=Tree.EURO,
        enrollment=EURO_ROOT + (2, 0, 1),
        status=EURO_ROOT + (2, 0, 2),
        config_file=server + (7, 0),
        config_hash=server + (9, 0),
        reset_now=base + (1, 0),
        mac=(1, 3, 6, 1, 2, 1, 2, 2, 1, 6, 1),  # ifPhysAddress.1, as on RFC 4682 eMTAs
        correlation_id=EURO_ROOT + (1, 3, 3, 0),
        provisioning_state=base + (8, 0),
        sw_version=base + (3, 0),
        type_identifier=base + (7, 0),
        serial_number=base + (2, 0),
    )


@cache
def oids(tree: Tree) -> MtaOids:
    if tree is Tree.EURO:
        return _euro()
    from pktcable.mibdata import default_registry

    reg = default_registry()
    mod = _MODULE[tree]

    def r(name: str) -> OID:
        return reg.resolve(f"{mod}::{name}")

    return MtaOids(
        tree=tree,
        enrollment=r("pktcMtaDevProvisioningEnrollment"),
        status=r("pktcMtaDevProvisioningStatus"),
        config_file=r("pktcMtaDevConfigFile.0"),
        config_hash=r("pktcMtaDevProvConfigHash.0"),
        reset_now=r("pktcMtaDevResetNow.0"),
        mac=r("pktcMtaDevMacAddress.0") if tree is Tree.CABLELABS else reg.resolve("ifPhysAddress.1"),
        correlation_id=r("pktcMtaDevCorrelationId.0"),
        provisioning_state=r("pktcMtaDevProvisioningState.0"),
        sw_version=r("pktcMtaDevSwCurrentVers.0"),
        type_identifier=r("pktcMtaDevTypeIdentifier.0"),
        serial_number=r("pktcMtaDevSerialNumber.0"),
        config_key=r("pktcMtaDevProvConfigKey.0"),
        encrypt_alg=r("pktcMtaDevProvConfigEncryptAlg.0") if tree is Tree.IETF else None,
    )


def tree_of_notification(oid: OID) -> Tree | None:
    for tree in Tree:
        o = oids(tree)
        if oid in (o.enrollment, o.status):
            return tree
    return None


_STRING = ber.SNMP_TYPE_BY_KEYWORD["string"]
_INTEGER = ber.SNMP_TYPE_BY_KEYWORD["integer"]


@dataclass(frozen=True, slots=True)
class Enrollment:
    """MTA-15: pktcMtaDevProvisioningEnrollment."""

    tree: Tree
    sys_descr: bytes
    sw_version: bytes
    type_identifier: bytes
    mac: bytes
    correlation_id: int

    def varbinds(self, uptime: int) -> tuple[VarBind, ...]:
        o = oids(self.tree)
        return m.notification(o.enrollment, uptime, [
            VarBind(o.sys_descr, _STRING, self.sys_descr),
            VarBind(o.sw_version, _STRING, self.sw_version),
            VarBind(o.type_identifier, _STRING, self.type_identifier),
            VarBind(o.mac, _STRING, self.mac),
            VarBind(o.correlation_id, _INTEGER, self.correlation_id),
        ])


@dataclass(frozen=True, slots=True)
class Status:
    """MTA-25: pktcMtaDevProvisioningStatus."""

    tree: Tree
    mac: bytes
    correlation_id: int
    state: int

    def varbinds(self, uptime: int) -> tuple[VarBind, ...]:
        o = oids(self.tree)
        return m.notification(o.status, uptime, [
            VarBind(o.mac, _STRING, self.mac),
            VarBind(o.correlation_id, _INTEGER, self.correlation_id),
            VarBind(o.provisioning_state, _INTEGER, self.state),
        ])


class NotificationError(ValueError):
    """An INFORM that is not a well-formed PacketCable notification."""


def parse_notification(varbinds: tuple[VarBind, ...]) -> Enrollment | Status:
    """The enrollment or status INFORM's varbinds -> its facts (by OID, in
    any order after the two header varbinds)."""
    if len(varbinds) < 2 or varbinds[1].oid != m.SNMP_TRAP_OID:
        raise NotificationError("not an SNMPv2 notification (snmpTrapOID.0 missing)")
    trap = varbinds[1].value
    tree = tree_of_notification(trap) if isinstance(trap, tuple) else None
    if tree is None:
        raise NotificationError(f"not a PacketCable MTA notification: {trap!r}")
    o = oids(tree)
    if tree is Tree.EURO:
        # By position (the OBJECTS order); see the module text.
        expected = ((o.sys_descr, o.sw_version, o.type_identifier, o.mac, o.correlation_id) if trap == o.enrollment
                    else (o.mac, o.correlation_id, o.provisioning_state))
        if len(varbinds) - 2 < len(expected):
            raise NotificationError(f"a Euro notification with {len(varbinds) - 2} varbinds, "
                                    f"not the {len(expected)} of its OBJECTS clause")
        values = {oid: vb.value for oid, vb in zip(expected, varbinds[2:], strict=False)}
    else:
        values = {vb.oid: vb.value for vb in varbinds[2:]}

    def need(oid: OID, kind: type) -> object:
        value = values.get(oid)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise NotificationError(f"varbind {'.'.join(map(str, oid))} missing or of the wrong type")
        return value

    if trap == o.enrollment:
        return Enrollment(tree, need(o.sys_descr, bytes), need(o.sw_version, bytes),  # type: ignore[arg-type]
                          need(o.type_identifier, bytes), need(o.mac, bytes),  # type: ignore[arg-type]
                          need(o.correlation_id, int))  # type: ignore[arg-type]
    return Status(tree, need(o.mac, bytes), need(o.correlation_id, int),  # type: ignore[arg-type]
                  need(o.provisioning_state, int))  # type: ignore[arg-type]


#: Capability TLV 23 (MIB support, option 60): organisation octet of each 3-octet entry -> tree.
MIB_SUPPORT_ORG = {0: Tree.CABLELABS, 1: Tree.IETF, 2: Tree.EURO}
#: The bit every organisation uses for its MTA MIB in TLV 23 entries.
MIB_SUPPORT_MTA = 0x01


def tree_of_mib_support(value: bytes) -> Tree | None:
    """The MTA MIB tree capability TLV 23 declares, or None when it declares
    none or more than one (then another signal must decide).

    The value is a run of 3-octet entries ``02 org bits`` (CL-SP-CANN-DHCP-Reg); a
    value that is not a whole number of entries declares nothing usable.
    """
    if not value or len(value) % 3:
        return None
    trees = {MIB_SUPPORT_ORG[value[i + 1]] for i in range(0, len(value), 3)
             if value[i + 1] in MIB_SUPPORT_ORG and value[i + 2] & MIB_SUPPORT_MTA}
    return trees.pop() if len(trees) == 1 else None
