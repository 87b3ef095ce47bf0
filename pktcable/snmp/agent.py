"""A small SNMPv1/v2c command responder over a table of object instances (sans-IO).

The simulated eMTA answers GET, GETNEXT, GETBULK (RFC 3416 4.2.3) and SET on
its PKTC-MTA-MIB objects with it. Instances are kept sorted by OID; a SET is
checked for every varbind before any is applied (RFC 3416 4.2.5: all or
nothing), and a hook may refuse a value the way the MIB text says
(inconsistentValue for the config-file location in a Basic flow).

An SNMPv1 manager gets v1 semantics (RFC 3584 4.2, 4.4): no GetBulk (such a
message is dropped), no exception values (a missing object is noSuchName
with its index, the request's varbinds echoed), no Counter64 (such objects
are skipped by GETNEXT and noSuchName to GET), and the v2 SET errors mapped
to badValue, noSuchName or genErr.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from tlv import ber
from tlv.ber import VarBind

from . import message as m
from .usmengine import Accepted

# (oid, new value) -> None to accept, or an ErrorStatus to refuse.
SetCheck = Callable[[tuple[int, ...], object], "m.ErrorStatus | None"]

E = m.ErrorStatus
#: RFC 3584 4.4: the v1 error-status a v2 error becomes in a Response to a v1 SET.
V1_ERRORS: dict[int, m.ErrorStatus] = {
    **{e: E.BAD_VALUE for e in (E.WRONG_VALUE, E.WRONG_ENCODING, E.WRONG_TYPE, E.WRONG_LENGTH,
                                E.INCONSISTENT_VALUE)},
    **{e: E.NO_SUCH_NAME for e in (E.NO_ACCESS, E.NOT_WRITABLE, E.NO_CREATION, E.INCONSISTENT_NAME,
                                   E.AUTHORIZATION_ERROR)},
    **{e: E.GEN_ERR for e in (E.RESOURCE_UNAVAILABLE, E.COMMIT_FAILED, E.UNDO_FAILED)},
}
#: The largest Response a GetBulk is answered with (RFC 3416 4.2.3: fewer
#: repetitions rather than tooBig): an Ethernet MTU's UDP payload.
MAX_BULK_BYTES = 1472


@dataclass(slots=True)
class Instance:
    type: ber.SnmpType
    value: object
    writable: bool = False


class MibView:
    def __init__(self, communities: dict[bytes, bool], check: SetCheck | None = None,
                 users: dict[bytes, bool] | None = None) -> None:
        """``communities``: community -> may write; ``users``: SNMPv3 usmUserName -> may write."""
        self.communities = communities
        self.users = users if users is not None else {}
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
        if msg.version == m.VERSION_1:
            return self._handle_v1(msg, may_write)
        return self._handle_v2(msg, may_write)

    def handle_v3(self, request: Accepted) -> m.Pdu | None:
        """An SNMPv3 request that passed USM -> the PDU of its Response. Access is per
        user and needs authentication (the Secure flow's SA always authenticates); a
        user without access gets authorizationError (RFC 3412 4.2.2.1)."""
        wrapped = m.Message(b"", request.pdu)
        user = request.user
        may_write = self.users.get(user.name) if user is not None and request.message.authenticated else None
        if may_write is None:
            if request.pdu.type in (m.PduType.GET, m.PduType.GET_NEXT, m.PduType.GET_BULK, m.PduType.SET):
                return wrapped.response(error_status=E.AUTHORIZATION_ERROR).pdu
            return None
        reply = self._handle_v2(wrapped, may_write)
        return None if reply is None else reply.pdu

    def _handle_v2(self, msg: m.Message, may_write: bool) -> m.Message | None:
        kind = msg.pdu.type
        if kind == m.PduType.GET_BULK:
            return self._bulk(msg)
        if kind == m.PduType.GET:
            return msg.response(tuple(self._get(vb.oid) for vb in msg.pdu.varbinds))
        if kind == m.PduType.GET_NEXT:
            return msg.response(tuple(self._next(vb.oid) for vb in msg.pdu.varbinds))
        if kind == m.PduType.SET:
            if not may_write:
                return msg.response(error_status=m.ErrorStatus.NO_ACCESS, error_index=1)
            return self._set(msg)
        return None

    def _handle_v1(self, msg: m.Message, may_write: bool) -> m.Message | None:
        kind = msg.pdu.type
        if kind in (m.PduType.GET, m.PduType.GET_NEXT):
            found = []
            for index, vb in enumerate(msg.pdu.varbinds, 1):
                got = self._get(vb.oid) if kind == m.PduType.GET else self._next(vb.oid, v1=True)
                if got.type.tag in (m.NO_SUCH_OBJECT.tag, m.NO_SUCH_INSTANCE.tag, m.END_OF_MIB_VIEW.tag) or \
                        got.type.tag == ber.COUNTER64:
                    return msg.response(error_status=E.NO_SUCH_NAME, error_index=index)
                found.append(got)
            return msg.response(tuple(found))
        if kind == m.PduType.SET:
            reply = (msg.response(error_status=E.NO_ACCESS, error_index=1) if not may_write else self._set(msg))
            status = reply.pdu.error_status
            if status:
                return msg.response(error_status=V1_ERRORS.get(status, E(status)), error_index=reply.pdu.error_index)
            return reply
        return None  # GetBulk, INFORM, v2 traps: no v1 PDU; dropped (RFC 3584 4.2)

    def _bulk(self, msg: m.Message) -> m.Message:
        """RFC 3416 4.2.3: non-repeaters (in error-status) once, then up to
        max-repetitions (in error-index) rounds over the repeaters."""
        vbs = msg.pdu.varbinds
        non_repeaters = min(max(msg.pdu.error_status, 0), len(vbs))
        repetitions = max(msg.pdu.error_index, 0)
        out = [self._next(vb.oid) for vb in vbs[:non_repeaters]]
        last = [vb.oid for vb in vbs[non_repeaters:]]
        for _ in range(repetitions if last else 0):
            row = [self._next(oid) for oid in last]
            if len(out) + len(row) > m.MAX_VARBINDS:
                break
            out += row
            last = [vb.oid for vb in row]
            if all(vb.type.tag == m.END_OF_MIB_VIEW.tag for vb in row):
                break
        reply = msg.response(tuple(out))
        while len(out) > non_repeaters and len(m.encode(reply)) > MAX_BULK_BYTES:
            out = out[: max(non_repeaters, len(out) * 3 // 4)]
            reply = msg.response(tuple(out))
        return reply

    def _get(self, oid: tuple[int, ...]) -> VarBind:
        if oid in self._objects:
            return self._vb(oid)
        under = any(o[: len(oid)] == oid or oid[: len(o) - 1] == o[:-1] for o in self._order)
        return VarBind(oid, m.NO_SUCH_INSTANCE if under else m.NO_SUCH_OBJECT, None)

    def _next(self, oid: tuple[int, ...], v1: bool = False) -> VarBind:
        i = bisect_right(self._order, oid)
        # A v1 manager cannot read a Counter64: GETNEXT walks past it (RFC 3584 4.2.2.1).
        while v1 and i < len(self._order) and self._objects[self._order[i]].type.tag == ber.COUNTER64:
            i += 1
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
