"""A small SNMPv2c command responder over a table of object instances (sans-IO).

The simulated eMTA answers GET, GETNEXT and SET on its PKTC-MTA-MIB objects
with it. Instances are kept sorted by OID; a SET is checked for every varbind
before any is applied (RFC 3416 4.2.5: all or nothing), and a hook may refuse
a value the way the MIB text says (inconsistentValue for the config-file
location in a Basic flow).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from tlv import ber
from tlv.ber import VarBind

from . import message as m

# (oid, new value) -> None to accept, or an ErrorStatus to refuse.
SetCheck = Callable[[tuple[int, ...], object], "m.ErrorStatus | None"]


@dataclass(slots=True)
class Instance:
    type: ber.SnmpType
    value: object
    writable: bool = False


class MibView:
    def __init__(self, communities: dict[bytes, bool], check: SetCheck | None = None) -> None:
        """``communities``: community -> may write."""
        self.communities = communities
        self.check = check
        self._objects: dict[tuple[int, ...], Instance] = {}
        self._order: list[tuple[int, ...]] = []

    def define(self, oid: tuple[int, ...], keyword: str, value: object, writable: bool = False) -> None:
        if oid not in self._objects:
            self._order.insert(bisect_right(self._order, oid), oid)
        self._objects[oid] = Instance(ber.SNMP_TYPE_BY_KEYWORD[keyword.lower()], value, writable)

    def value(self, oid: tuple[int, ...]) -> object:
        return self._objects[oid].value

    def _vb(self, oid: tuple[int, ...]) -> VarBind:
        inst = self._objects[oid]
        return VarBind(oid, inst.type, inst.value)  # type: ignore[arg-type]

    def handle(self, msg: m.Message) -> m.Message | None:
        """A request -> its Response; None for what must go unanswered
        (unknown community: RFC 3584 says drop, not answer)."""
        may_write = self.communities.get(msg.community)
        if may_write is None:
            return None
        kind = msg.pdu.type
        if kind == m.PduType.GET:
            return msg.response(tuple(self._get(vb.oid) for vb in msg.pdu.varbinds))
        if kind == m.PduType.GET_NEXT:
            return msg.response(tuple(self._next(vb.oid) for vb in msg.pdu.varbinds))
        if kind == m.PduType.SET:
            if not may_write:
                return msg.response(error_status=m.ErrorStatus.NO_ACCESS, error_index=1)
            return self._set(msg)
        return None

    def _get(self, oid: tuple[int, ...]) -> VarBind:
        if oid in self._objects:
            return self._vb(oid)
        under = any(o[: len(oid)] == oid or oid[: len(o) - 1] == o[:-1] for o in self._order)
        return VarBind(oid, m.NO_SUCH_INSTANCE if under else m.NO_SUCH_OBJECT, None)

    def _next(self, oid: tuple[int, ...]) -> VarBind:
        i = bisect_right(self._order, oid)
        if i >= len(self._order):
            return VarBind(oid, m.END_OF_MIB_VIEW, None)
        return self._vb(self._order[i])

    def _set(self, msg: m.Message) -> m.Message:
        for index, vb in enumerate(msg.pdu.varbinds, 1):
            inst = self._objects.get(vb.oid)
            error = None
            if inst is None:
                error = m.ErrorStatus.NO_CREATION
            elif not inst.writable:
                error = m.ErrorStatus.NOT_WRITABLE
            elif vb.type.tag != inst.type.tag:
                error = m.ErrorStatus.WRONG_TYPE
            elif self.check is not None:
                error = self.check(vb.oid, vb.value)
            if error is not None:
                return msg.response(error_status=error, error_index=index)
        for vb in msg.pdu.varbinds:
            self._objects[vb.oid].value = vb.value
        return msg.response()
