"""The simulated eMTA's own MIB: the PKTC-MTA-MIB objects its agent answers.

Kept up from the ACK on, in every flow (an operator reads a Basic eMTA too,
and a reset must reach a provisioned one): device identity, the config-file
location and hash the server SETs (Hybrid) or the ACK names (Basic),
pktcMtaDevProvisioningState as provisioning goes, pktcMtaDevResetNow, and
one pktcMtaDevErrorOidsTable row per config-file object the device could
not apply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

from pktcable.flow import ProvisioningState
from pktcable.snmp import message as m
from pktcable.snmp import pktc
from pktcable.snmp.agent import MibView
from pktcable.snmp.usmengine import Accepted

from .identity import SOFTWARE_VERSION, SYS_DESCR
from .mtafile import ErrorRow

OID = tuple[int, ...]
# A Euro PacketCable eMTA has the CableLabs objects (its own OIDs are only the notifications and the hash).
_MODULE = {pktc.Tree.CABLELABS: "PKTC-MTA-MIB", pktc.Tree.IETF: "PKTC-IETF-MTA-MIB", pktc.Tree.EURO: "PKTC-MTA-MIB"}
#: The error table's columns (the CableLabs tree calls the value column ...Given, RFC 4682 ...Value).
_ERROR_COLUMNS = {pktc.Tree.CABLELABS: ("pktcMtaDevErrorOid", "pktcMtaDevErrorGiven", "pktcMtaDevErrorReason"),
                  pktc.Tree.IETF: ("pktcMtaDevErrorOid", "pktcMtaDevErrorValue", "pktcMtaDevErrorReason"),
                  pktc.Tree.EURO: ("pktcMtaDevErrorOid", "pktcMtaDevErrorGiven", "pktcMtaDevErrorReason")}


@cache
def error_columns(tree: pktc.Tree) -> tuple[OID, OID, OID]:
    from pktcable.mibdata import default_registry

    reg = default_registry()
    a, b, c = (reg.resolve(f"{_MODULE[tree]}::{name}") for name in _ERROR_COLUMNS[tree])
    return a, b, c


class MtaMib:
    """The objects and the SET rules of one eMTA's agent."""

    def __init__(self, tree: pktc.Tree, communities: dict[bytes, bool], *, mac: bytes, serial: str,
                 correlation_id: int, type_identifier: str, hybrid: bool,
                 on_set: Callable[[set[OID]], None], users: dict[bytes, bool] | None = None) -> None:
        """``users``: SNMPv3 usmUserName -> may write (the Secure flow's SA user)."""
        self.tree = tree
        self.o = pktc.oids(tree)
        self.hybrid = hybrid
        self.on_set = on_set
        self.view = MibView(communities, self.check_set, users)
        v, o = self.view, self.o
        v.define(o.sys_descr, "String", SYS_DESCR.encode())
        v.define(o.sw_version, "String", SOFTWARE_VERSION.encode())
        v.define(o.type_identifier, "String", type_identifier.encode())
        v.define(o.mac, "String", mac)
        v.define(o.serial_number, "String", serial.encode())
        v.define(o.correlation_id, "Integer", correlation_id)
        v.define(o.provisioning_state, "Integer", int(ProvisioningState.IN_PROGRESS))
        v.define(o.config_file, "String", b"", writable=True)
        v.define(o.config_hash, "String", b"", writable=True)
        v.define(o.reset_now, "Integer", 2, writable=True)

    def check_set(self, oid: OID, value: object) -> m.ErrorStatus | None:
        o = self.o
        if oid == o.config_file and not self.hybrid:
            # PKTC-MTA-MIB: in a Basic flow the location is the ACK's siaddr/file.
            return m.ErrorStatus.INCONSISTENT_VALUE
        if oid == o.config_hash and isinstance(value, bytes) and len(value) not in (0, 16, 20):
            return m.ErrorStatus.WRONG_LENGTH
        if oid == o.reset_now and value not in (1, 2):
            return m.ErrorStatus.WRONG_VALUE
        return None

    def answer(self, msg: m.Message, addr: tuple[str, int]) -> m.Message | None:
        reply = self.view.handle(msg)
        self._applied(msg.pdu, None if reply is None else reply.pdu)
        return reply

    def answer_v3(self, request: Accepted, addr: tuple[str, int]) -> m.Pdu | None:
        """The same objects and SET rules over SNMPv3 (an endpoint's ``v3_handler``)."""
        reply = self.view.handle_v3(request)
        self._applied(request.pdu, reply)
        return reply

    def _applied(self, request: m.Pdu, reply: m.Pdu | None) -> None:
        if request.type is m.PduType.SET and reply is not None and not reply.error_status:
            written = {vb.oid for vb in request.varbinds}
            if self.o.reset_now in written and self.view.value(self.o.reset_now) == 1:
                self.view.define(self.o.reset_now, "Integer", 2, writable=True)  # reads back false(2)
            self.on_set(written)

    def set_state(self, state: int) -> None:
        self.view.define(self.o.provisioning_state, "Integer", state)

    def set_location(self, url: str) -> None:
        self.view.define(self.o.config_file, "String", url.encode("latin-1"), writable=True)

    def set_errors(self, rows: Sequence[ErrorRow]) -> None:
        oid_col, given_col, reason_col = error_columns(self.tree)
        for index, row in enumerate(rows, 1):
            self.view.define((*oid_col, index), "String", row.oid.encode())
            self.view.define((*given_col, index), "String", row.given.encode("utf-8", "replace")[:255])
            self.view.define((*reason_col, index), "String", row.reason.encode())

    def value(self, oid: OID) -> object:
        return self.view.value(oid)
