"""The PacketCable MTA objects the provisioning exchange uses, per MIB tree.

An eMTA implements either the CableLabs PKTC-MTA-MIB (1.3.6.1.4.1.4491.2.2.1)
or the IETF PKTC-IETF-MTA-MIB (RFC 4682, 1.3.6.1.2.1.140); the two
notifications and the SET targets differ only in their OIDs, and the IETF
tree names the MAC ifPhysAddress.1 instead of pktcMtaDevMacAddress.0
(mibs.md §4). OIDs come from the OID registry, resolved once.
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
    CABLELABS = "cablelabs"
    IETF = "ietf"


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


@cache
def oids(tree: Tree) -> MtaOids:
    from mibs import default_registry

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
    tree = tree_of_notification(trap)  # type: ignore[arg-type]
    if tree is None:
        raise NotificationError(f"not a PacketCable MTA notification: {trap}")
    o = oids(tree)
    values = {vb.oid: vb.value for vb in varbinds[2:]}

    def need(oid: OID, kind: type) -> object:
        value = values.get(oid)
        if not isinstance(value, kind):
            raise NotificationError(f"varbind {'.'.join(map(str, oid))} missing or of the wrong type")
        return value

    if trap == o.enrollment:
        return Enrollment(tree, need(o.sys_descr, bytes), need(o.sw_version, bytes),  # type: ignore[arg-type]
                          need(o.type_identifier, bytes), need(o.mac, bytes),  # type: ignore[arg-type]
                          need(o.correlation_id, int))  # type: ignore[arg-type]
    return Status(tree, need(o.mac, bytes), need(o.correlation_id, int),  # type: ignore[arg-type]
                  need(o.provisioning_state, int))  # type: ignore[arg-type]
