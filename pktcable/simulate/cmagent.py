"""The simulated eCM's own SNMP agent: the docsDevSoftware group of DOCS-CABLE-DEVICE-MIB.

RFC 4639's software objects, read and written as a modem does: docsDevSwServer (the
deprecated IPv4 form) tied to docsDevSwServerAddressType/Address, docsDevSwFilename,
docsDevSwAdminStatus, docsDevSwOperStatus, docsDevSwCurrentVers and
docsDevSwServerTransportProtocol, with docsBpi2CodeDownloadStatusCode (RFC 4131) saying
why the last code file or CVC was taken or refused. A SET of docsDevSwAdminStatus to
upgradeFromMgt(1) starts the download (``on_upgrade``), by TFTP or, with
docsDevSwServerTransportProtocol http(2), by HTTP; the SET rules are the MIB's (nothing
of the group changes while a download is in progress) and the simulator's (it downloads
over IPv4 only).
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address

from pktcable.firmware.swmib import HTTP, OID, TFTP, AddressType, SwAdmin, SwOper, sw_oids
from pktcable.snmp import message as m
from pktcable.snmp.agent import MibView

from .cmsoftware import CmSoftware
from .identity import SYS_DESCR

SYS_DESCR_OID: OID = (1, 3, 6, 1, 2, 1, 1, 1, 0)
#: Address lengths of each InetAddressType (RFC 4001) the agent takes.
ADDRESS_LENGTHS: dict[int, tuple[int, ...]] = {AddressType.UNKNOWN: (0,), AddressType.IPV4: (4,), AddressType.IPV6: (16,),
                   AddressType.IPV4Z: (8,), AddressType.IPV6Z: (20,), AddressType.DNS: tuple(range(1, 256))}


class CmMib:
    """The objects and SET rules of one eCM's agent, shown from its :class:`CmSoftware`."""

    def __init__(self, software: CmSoftware, communities: dict[bytes, bool],
                 on_upgrade: Callable[[], None]) -> None:
        self.software = software
        self.on_upgrade = on_upgrade
        self.o = sw_oids()
        self.view = MibView(communities, self.check_set)
        self.view.define(SYS_DESCR_OID, "String", SYS_DESCR.encode())
        self.show()

    def show(self) -> None:
        """The MIB objects from the software's state (after each change of it)."""
        sw, v, o = self.software, self.view, self.o
        server = sw.server
        v.define(o.server, "IpAddress", server.packed if isinstance(server, IPv4Address) else bytes(4), writable=True)
        v.define(o.address_type, "Integer", 0 if server is None else 1 if server.version == 4 else 2, writable=True)
        v.define(o.address, "String", b"" if server is None else server.packed, writable=True)
        v.define(o.filename, "String", sw.filename.encode("utf-8")[:64], writable=True)
        v.define(o.admin, "Integer", int(sw.admin), writable=True)
        v.define(o.transport, "Integer", sw.transport, writable=True)
        v.define(o.oper, "Integer", int(sw.oper))
        v.define(o.current, "String", sw.version.encode("ascii"))
        status = None if sw.store is None else sw.store.status
        v.define(o.download_status, "Integer", 7 if status is None else int(status))  # other(7) until one
        # The words for the status: the last attempt's named refusal ("code-file-rejected: bad-signature").
        last = sw.last
        refusal = "" if last is None or last.outcome.value == "upgraded" else last.name
        v.define(o.download_string, "String", refusal.encode("utf-8")[:255])

    def check_set(self, oid: OID, value: object) -> m.ErrorStatus | None:
        o, sw = self.o, self.software
        if sw.oper is SwOper.IN_PROGRESS:
            return m.ErrorStatus.INCONSISTENT_VALUE  # RFC 4639: nothing changes while a download runs
        if oid == o.admin:
            if value not in (1, 2, 3):
                return m.ErrorStatus.WRONG_VALUE
            if value == SwAdmin.UPGRADE_FROM_MGT and (sw.store is None or not sw.enabled):
                # No CVC from this boot's config file: the modem may not download (docs/firmware.md).
                return m.ErrorStatus.INCONSISTENT_VALUE
        elif oid == o.filename and isinstance(value, bytes) and len(value) > 64:
            return m.ErrorStatus.WRONG_LENGTH
        elif oid == o.address_type and value not in ADDRESS_LENGTHS:
            return m.ErrorStatus.WRONG_VALUE
        elif oid == o.address and isinstance(value, bytes) and len(value) > 255:
            return m.ErrorStatus.WRONG_LENGTH
        elif oid == o.transport and value not in (TFTP, HTTP):
            return m.ErrorStatus.WRONG_VALUE
        return None

    def answer(self, msg: m.Message, addr: tuple[str, int]) -> m.Message | None:
        reply = self.view.handle(msg)
        if msg.pdu.type is m.PduType.SET and reply is not None and not reply.pdu.error_status:
            order = [vb.oid for vb in msg.pdu.varbinds]
            error = self._applied(set(order))
            if error is not None:  # the varbind to blame: the address (or its type, when it came alone)
                blamed = self.o.address if self.o.address in order else self.o.address_type
                return msg.response(error_status=error, error_index=order.index(blamed) + 1)
        return reply

    def _applied(self, written: set[OID]) -> m.ErrorStatus | None:
        """A SET that passed the per-object checks, into the software's state. The server's
        objects are tied (RFC 4639): docsDevSwServer sets the address, an IPv4 address sets
        docsDevSwServer; a type and an address that do not fit each other are refused."""
        o, sw, v = self.o, self.software, self.view
        if o.address in written or o.address_type in written:
            kind, raw = v.value(o.address_type), v.value(o.address)
            assert isinstance(kind, int) and isinstance(raw, bytes)
            if len(raw) not in ADDRESS_LENGTHS[kind]:
                self.show()  # undo: RFC 3416 4.2.5, all or nothing
                return m.ErrorStatus.INCONSISTENT_VALUE
            sw.server = IPv4Address(raw) if kind == 1 else IPv6Address(raw) if kind == 2 else None
        if o.server in written:
            raw = v.value(o.server)
            assert isinstance(raw, bytes)
            sw.server = IPv4Address(raw)
        if o.filename in written:
            raw = v.value(o.filename)
            assert isinstance(raw, bytes)
            sw.filename = raw.decode("utf-8", "replace")
        if o.transport in written:
            value = v.value(o.transport)
            assert isinstance(value, int)
            sw.transport = value
        start = False
        if o.admin in written:
            value = v.value(o.admin)
            assert isinstance(value, int)
            start = value == SwAdmin.UPGRADE_FROM_MGT
            if not start:
                sw.admin = SwAdmin(value)
        self.show()
        if start:
            self.on_upgrade()
        return None
