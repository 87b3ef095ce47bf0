"""Two back offices on one PostgreSQL store: node A leased an eMTA and ran its flow up to
the SET; the eMTA's final status INFORM reaches node B (one service address in front of
both), whose memory holds neither the lease nor the run. B learns the lease from the
shared table, answers the INFORM over its real UDP socket, and records the outcome on
the device row every node reads."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from pktcable.serve.api import metrics_text
from pktcable.serve.app import Backoffice
from pktcable.serve.config import check
from pktcable.snmp import message as m
from pktcable.snmp import pktc
from pktcable.store.devices import Device
from pktcable.store.leases import Lease

from .promtext import value
from .test_e2e import configs
from .test_onetime_shared import _office

HOLDER = "127.100.0.30"
MAC = "00aa00000003"
PASS = 1  # pktcMtaDevProvisioningState pass


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.replies.put_nowait(data)


def _status(request_id: int) -> bytes:
    note = pktc.Status(pktc.Tree.CABLELABS, bytes.fromhex(MAC), 77, PASS)
    return m.encode(m.Message(b"public", m.Pdu(m.PduType.INFORM, request_id, note.varbinds(100))))


@pytest.mark.parametrize("dhcp_workers", [0, 1], ids=["in-process", "worker"])
def test_a_status_inform_reaching_the_node_that_did_not_lease_it_records_the_outcome(
        pg_url: str, tmp_path: Path, dhcp_workers: int) -> None:
    """With the DHCP core in serve's process or in a worker (whose lease records the node
    mirrors: the node asks the shared table itself)."""
    now = [1000.0]
    cfg, _ = configs(["HYBRID.2"], data_dir=str(tmp_path / "b"), store=pg_url, auto_enroll=False,
                     dhcp_workers=dhcp_workers)
    a = _office(pg_url, tmp_path / "a", now)

    async def main() -> None:
        b = Backoffice(check(cfg), clock=lambda: now[0])
        await b.start()
        transport = None
        try:
            # Node A leases the eMTA after B started (B's memory never loaded it) and runs its
            # flow up to the SET: the binding in the shared lease table, the device row as the
            # run left it (its status INFORM is all that is missing).
            a.devices.put(Device(MAC, kind="mta", flow="HYBRID.2", template="mta.txt", ip=HOLDER,
                                 state="LOCATION_SET"))
            a.devices.commit()
            assert a.leases is not None
            a.leases.put(Lease(IPv4Address(HOLDER), "01:00:aa:00:00:00:03", "00:aa:00:00:00:03", now[0] + 3600))
            assert a.leases.commit(now[0]) == []
            await a.close()
            assert b.lease_view.bound_lease(MAC, now[0]) is None  # B's memory: no such lease
            loop = asyncio.get_running_loop()
            transport, inbox = await loop.create_datagram_endpoint(_Inbox, local_addr=(HOLDER, 0))
            transport.sendto(_status(41), b.addresses()["snmp"])
            reply = m.decode(await asyncio.wait_for(inbox.replies.get(), 10.0))
            assert reply.pdu.type is m.PduType.RESPONSE and reply.pdu.request_id == 41
            b.commit_now()
            device = b.devices.get(MAC)
            assert device is not None and (device.state, device.result) == ("DONE", PASS)
            events = [step.event for step in b.devices.history(MAC)]
            assert events[-2:] == ["RunTakenUp", "StatusReceived"]
            assert b.entity is not None and b.entity.shared_rounds is not None
            assert b.entity.shared_rounds.queries == 1 and b.entity.rejected.total() == 0
            # Learned: the lease is in B's memory now, and a re-sent copy needs no query.
            lease = b.lease_view.bound_lease(MAC, now[0])
            assert lease is not None and str(lease.address) == HOLDER
            transport.sendto(_status(42), b.addresses()["snmp"])
            reply = m.decode(await asyncio.wait_for(inbox.replies.get(), 10.0))
            assert reply.pdu.request_id == 42 and b.entity.shared_rounds.queries == 1
            text = metrics_text(b)
            assert value(text, "pktcable_shared_lease_lookups_total", outcome="query") == 1
            assert value(text, "pktcable_shared_lease_lookups_total", outcome="learned") == 1
        finally:
            if transport is not None:
                transport.close()
            await b.close()

    asyncio.run(main())
    # Seen by every node: a fresh node reads the outcome from the shared row.
    c = _office(pg_url, tmp_path / "c", now)
    try:
        device = c.devices.get(MAC)
        assert device is not None and (device.state, device.result) == ("DONE", PASS)
    finally:
        asyncio.run(c.close())


def test_a_sqlite_node_asks_no_shared_table(tmp_path: Path) -> None:
    cfg, _ = configs(["HYBRID.2"], data_dir=str(tmp_path / "n"))

    async def main() -> None:
        office = Backoffice(check(cfg))
        await office.start()
        try:
            assert office.entity is not None and office.entity.shared_rounds is None
            assert "pktcable_shared_lease_lookups_total" not in metrics_text(office)
        finally:
            await office.close()

    asyncio.run(main())


def test_the_holders_of_some_addresses_are_their_bound_unexpired_rows(pg_url: str) -> None:
    from pktcable.store.leases import LeaseState
    from pktcable.store.pg_leases import PgLeaseStore

    store = PgLeaseStore(pg_url)
    try:
        rows = {"127.100.1.1": (LeaseState.BOUND, 2000.0), "127.100.1.2": (LeaseState.BOUND, 900.0),
                "127.100.1.3": (LeaseState.RELEASED, 2000.0), "127.100.1.4": (LeaseState.DECLINED, 2000.0),
                "127.100.1.5": (LeaseState.BOUND, 3000.0)}
        for n, (address, (state, expires)) in enumerate(rows.items()):
            store.put(Lease(IPv4Address(address), f"01:{n:02x}", f"00:aa:00:00:01:{n:02x}", expires, state))
        store.commit()
        asked = [IPv4Address(a) for a in ("127.100.1.1", "127.100.1.2", "127.100.1.3", "127.100.1.4", "127.100.9.9")]
        found = store.holders_of(asked, 1000.0)
        assert [str(lease.address) for lease in found] == ["127.100.1.1"]  # not 1.5: not asked about
        assert store.holders_of([], 1000.0) == []
    finally:
        store.close()
