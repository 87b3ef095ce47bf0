"""One-time file names shared by several serve nodes: a name one node built is served by
another, once, to its lease holder only, and never after it expired.

The rules are held first against a store in memory (fake clock, counted look-ups), then
with two back offices on one PostgreSQL database, driven as the entity drives one
(build, publish) and asked for the file as TFTP/HTTP ask the gate.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from pktcable.delivery.onetime import MISSES_KEPT, SHARED_SWEEP_EVERY, Issued, OneTimeNames, SharedNamesError
from pktcable.delivery.resolvers import NotFound
from pktcable.serve.api import metrics_text
from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig, check
from pktcable.store.devices import Device
from pktcable.store.leases import Lease

from .promtext import value

HOLDER = "127.100.0.20"


class MemoryShared:
    """The SharedNames rules in a dict, each call counted; ``down`` makes every call fail."""

    def __init__(self) -> None:
        self.rows: dict[str, Issued] = {}
        self.calls: dict[str, int] = {"put": 0, "find": 0, "spend": 0, "sweep": 0}
        self.down = False

    def _call(self, op: str) -> None:
        self.calls[op] += 1
        if self.down:
            raise SharedNamesError("connection refused")

    def put(self, name: str, issued: Issued) -> None:
        self._call("put")
        for other in [n for n, i in self.rows.items() if (i.target, i.client_ip) == (issued.target, issued.client_ip)]:
            del self.rows[other]
        self.rows[name] = replace(issued)

    def find(self, name: str, now: float) -> Issued | None:
        self._call("find")
        row = self.rows.get(name)
        return replace(row, shared=False) if row is not None and row.expires > now else None

    def spend(self, name: str) -> bool:
        self._call("spend")
        return self.rows.pop(name, None) is not None

    def sweep(self, now: float) -> int:
        self._call("sweep")
        gone = [n for n, i in self.rows.items() if i.expires <= now]
        for name in gone:
            del self.rows[name]
        return len(gone)


def test_a_name_built_on_one_node_is_served_once_by_any_node() -> None:
    shared = MemoryShared()
    a, b = OneTimeNames(shared=shared), OneTimeNames(shared=shared)
    name = a.issue("mta-0000000000aa.cfg", HOLDER, 100.0, data=b"the hashed bytes")
    assert name in shared.rows  # written before issue returned (before the SET goes out)
    assert b.claim(name, "127.100.0.99", 101.0) is None  # another address: refused, not spent
    issued = b.claim(name, HOLDER, 101.0)
    assert issued is not None and (issued.target, issued.data) == ("mta-0000000000aa.cfg", b"the hashed bytes")
    assert b.adopted == 1 and name not in shared.rows
    assert b.spent_target(name) == "mta-0000000000aa.cfg" and a.spent_target(name) is None
    assert a.claim(name, HOLDER, 102.0) is None  # spent on B: A, which built it, refuses it too
    assert b.claim(name, HOLDER, 102.0) is None


def test_a_newer_name_for_the_device_replaces_the_older_on_every_node() -> None:
    shared = MemoryShared()
    a, b = OneTimeNames(shared=shared), OneTimeNames(shared=shared)
    old = a.issue("mta-0000000000aa.cfg", HOLDER, 100.0, data=b"old")
    new = a.issue("mta-0000000000aa.cfg", HOLDER, 110.0, data=b"new")
    assert b.claim(old, HOLDER, 111.0) is None
    issued = b.claim(new, HOLDER, 111.0)
    assert issued is not None and issued.data == b"new"


def test_an_expired_name_is_served_by_no_node_and_swept() -> None:
    shared = MemoryShared()
    a, b = OneTimeNames(lifetime=60.0, shared=shared), OneTimeNames(lifetime=60.0, shared=shared)
    name = a.issue("mta-0000000000aa.cfg", HOLDER, 100.0, data=b"x")
    assert b.find(name, 159.0) is not None  # held by B now
    assert b.claim(name, HOLDER, 160.0) is None and a.claim(name, HOLDER, 160.0) is None
    a.expire(160.0)
    assert shared.rows == {}  # the sweep deleted the row
    sweeps = shared.calls["sweep"]
    a.expire(160.0 + SHARED_SWEEP_EVERY / 2)
    assert shared.calls["sweep"] == sweeps  # one sweep per interval, not per tick
    a.expire(160.0 + SHARED_SWEEP_EVERY)
    assert shared.calls["sweep"] == sweeps + 1


def test_an_unknown_name_costs_one_look_up() -> None:
    shared = MemoryShared()
    b = OneTimeNames(shared=shared)
    for _ in range(3):  # the TFTP gate, the resolver and a retransmission each ask
        assert b.find("x-00112233445566778899.cfg", 1.0) is None
        assert b.claim("x-00112233445566778899.cfg", HOLDER, 1.0) is None
    assert shared.calls["find"] == 1
    assert b.find("firmware.bin", 1.0) is None and shared.calls["find"] == 1  # not a one-time name: not asked
    for i in range(MISSES_KEPT + 10):  # the memory of misses is bounded
        b.find(f"x-{i:020x}.cfg", 1.0)
    assert len(b._misses) == MISSES_KEPT


def test_a_node_cut_off_from_the_database_serves_its_own_names() -> None:
    shared = MemoryShared()
    a, b = OneTimeNames(shared=shared), OneTimeNames(shared=shared)
    shared.down = True
    name = a.issue("mta-0000000000aa.cfg", HOLDER, 100.0, data=b"mine")
    assert a.shared_errors["put"] == 1
    assert b.claim(name, HOLDER, 101.0) is None and b.shared_errors["find"] == 1
    assert name not in b._misses  # a failed look-up is no proof the name does not exist
    issued = a.claim(name, HOLDER, 101.0)
    assert issued is not None and issued.data == b"mine"  # not in the store: no spend asked
    assert shared.calls["spend"] == 0
    shared.down = False
    written = a.issue("mta-0000000000bb.cfg", HOLDER, 102.0, data=b"two")
    shared.down = True
    issued = a.claim(written, HOLDER, 103.0)
    assert issued is not None and a.shared_errors["spend"] == 1  # the database is away: served from memory
    failed = a.shared_errors["sweep"]  # issue sweeps too (the first at 100)
    a.expire(200.0)
    assert a.shared_errors["sweep"] == failed + 1


def test_without_a_shared_store_nothing_changes() -> None:
    names = OneTimeNames()
    name = names.issue("mta-0000000000aa.cfg", HOLDER, 0.0, data=b"x")
    assert names.find(name, 1.0) is names.get(name, 1.0)
    assert names.find("x-unknown.cfg", 1.0) is None and names.adopted == 0


# --- two back offices on one PostgreSQL ---------------------------------------------------------------------------


def _office(pg_url: str, folder: Path, now: list[float]) -> Backoffice:
    cfg = check(ServeConfig(data_dir=str(folder), store=pg_url, cm_key="test-cmts-secret"))
    return Backoffice(cfg, clock=lambda: now[0])


def test_another_node_serves_the_one_time_file_to_the_lease_holder(pg_url: str, tmp_path: Path) -> None:
    now = [1000.0]
    a = _office(pg_url, tmp_path / "a", now)
    b = _office(pg_url, tmp_path / "b", now)
    try:
        mta = Device("00aa00000001", kind="mta", flow="HYBRID.2", template="mta.txt", ip=HOLDER)
        a.devices.put(mta)
        a.devices.commit()
        # Node A bound the eMTA's lease (in the shared table) and built its file (MTA-15/18):
        # B's memory knows neither.
        assert a.leases is not None
        a.leases.put(Lease(IPv4Address(HOLDER), "01:00:aa:00:00:00:01", "00:aa:00:00:00:01", now[0] + 3600))
        assert a.leases.commit(now[0]) == []
        data = a.build(mta)
        url = a.publish(mta, data, HOLDER)
        name = url.rsplit("/", 1)[1]
        assert b.lease_view.bound_lease(mta.mac, now[0]) is None and b.names.get(name, now[0]) is None

        now[0] += 5
        with pytest.raises(NotFound):
            b.files.resolve(name, ("127.100.0.21", 40000))  # another address: told it does not exist
        assert b.files.refused["other-address"] == 1
        assert b.files.resolve(name, (HOLDER, 40001)) == data  # byte for byte what A hashed
        b._delivered(name, (HOLDER, 40001), True)  # as B's TFTP server reports the transfer's end
        b.commit_now()
        served = [s for s in a.devices.history(mta.mac) if s.event == "FileServed"]
        assert [(s.step, s.detail) for s in served] == [("MTA-23", name)]  # recorded by B, seen by every node
        with pytest.raises(NotFound):
            b.files.resolve(name, (HOLDER, 40002))  # one download
        with pytest.raises(NotFound):
            a.files.resolve(name, (HOLDER, 40003))  # whichever node is asked

        # A name that outlived its 60 s: no node serves it, and the sweep deletes its row.
        late = a.publish(mta, data, HOLDER).rsplit("/", 1)[1]
        now[0] += 61
        with pytest.raises(NotFound):
            b.files.resolve(late, (HOLDER, 40004))
        assert b.names.adopted == 1  # the expired row was never taken up
        text = metrics_text(b)
        assert value(text, "pktcable_onetime_names_adopted_total") == 1
        assert value(text, "pktcable_onetime_shared_errors_total", operation="find") == 0
        b.names.expire(now[0])
        assert b._shared_names is not None and b._shared_names.db.execute(
            "SELECT count(*) FROM onetime_name").fetchone() == (0,)

        # A lease that ran out (or moved) keeps the file from its old address on B too.
        gone = a.publish(mta, data, HOLDER).rsplit("/", 1)[1]
        a.leases.put(Lease(IPv4Address(HOLDER), "01:00:aa:00:00:00:01", "00:aa:00:00:00:01", now[0] - 1))
        a.leases.commit(now[0])
        with pytest.raises(NotFound):
            b.files.resolve(gone, (HOLDER, 40005))
        assert b.files.refused["no-lease"] == 1
    finally:
        asyncio.run(a.close())
        asyncio.run(b.close())


def test_a_sqlite_node_keeps_its_names_in_memory(tmp_path: Path) -> None:
    office = Backoffice(check(ServeConfig(data_dir=str(tmp_path / "data"), cm_key="test-cmts-secret")))
    try:
        assert office.names.shared is None and office._shared_names is None
        assert "pktcable_onetime_names_adopted_total" not in metrics_text(office)
    finally:
        asyncio.run(office.close())


def test_the_survivor_sends_the_file_over_tftp_after_the_builder_is_gone(pg_url: str, tmp_path: Path) -> None:
    """Real sockets: node A builds and publishes an eMTA's file, then is gone; the eMTA's
    RRQ for the name (from its leased address) reaches node B's TFTP server."""
    from pktcable.simulate.net import DownloadError, tftp_get

    from .test_e2e import configs

    now = [1000.0]
    a = _office(pg_url, tmp_path / "a", now)
    mta = Device("00aa00000002", kind="mta", flow="HYBRID.2", template="mta.txt", ip=HOLDER)
    a.devices.put(mta)
    a.devices.commit()
    assert a.leases is not None
    a.leases.put(Lease(IPv4Address(HOLDER), "01:00:aa:00:00:00:02", "00:aa:00:00:00:02", now[0] + 3600))
    assert a.leases.commit(now[0]) == []
    data = a.build(mta)
    name = a.publish(mta, data, HOLDER).rsplit("/", 1)[1]
    asyncio.run(a.close())

    cfg, _ = configs(["HYBRID.2"], data_dir=str(tmp_path / "b"), store=pg_url)

    async def main() -> None:
        b = Backoffice(check(cfg), clock=lambda: now[0])
        await b.start()
        try:
            server = b.addresses()["tftp"]
            with pytest.raises(DownloadError):
                await tftp_get(server, name, local_host="127.100.0.21", timeout=2.0, retries=1)
            assert await tftp_get(server, name, local_host=HOLDER, timeout=2.0) == data
            with pytest.raises(DownloadError):
                await tftp_get(server, name, local_host=HOLDER, timeout=2.0, retries=1)  # spent
            b.commit_now()
            served = [s for s in b.devices.history(mta.mac) if s.event == "FileServed"]
            assert [(s.step, s.detail) for s in served] == [("MTA-23", name)]
        finally:
            await b.close()

    asyncio.run(main())


def test_the_table_survives_a_dropped_connection_and_writes_without_a_flush(pg_url: str,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    """A dropped connection fails one call (SharedNamesError: the node serves from memory),
    the next opens it again; each connection writes with synchronous_commit off."""
    import psycopg

    from pktcable.store.pg_names import PgSharedNames

    store = PgSharedNames(pg_url)
    store.put("x-1.cfg", Issued("mta-0000000000aa.cfg", HOLDER, 2000.0, b"one"))
    assert store.db.execute("SHOW synchronous_commit").fetchone() == ("off",)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pktcable' "
                      "AND pid <> pg_backend_pid() AND query NOT LIKE '%%pg_terminate_backend%%'")
    with pytest.raises(SharedNamesError):
        store.find("x-1.cfg", 1000.0)
    found = store.find("x-1.cfg", 1000.0)
    told = [r.getMessage() for r in caplog.records if r.name == "pktcable.store.onetime"]
    assert len(told) == 2 and "serves the names it built from memory" in told[0] and "again" in told[1]
    assert "password" not in told[0]
    assert found is not None and (found.target, found.data, found.shared) == ("mta-0000000000aa.cfg", b"one", True)
    assert store.db.execute("SHOW synchronous_commit").fetchone() == ("off",)
    assert store.spend("x-1.cfg") and not store.spend("x-1.cfg")
    store.close()
