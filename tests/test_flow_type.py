"""One Flow type: every place that lists flows or their properties derives them from
pktcable.flow, so adding a flow means adding its member and its tables, nothing else.
And the shared SQLite setup of the stores (pktcable/store/sqlite.py)."""

from __future__ import annotations

import ast
import re
import sqlite3
import threading
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from click.testing import CliRunner

from dhcp.capabilities import FLOWS as TLV18
from dhcp.options import CCC, decode_space
from pktcable.cli.backoffice import simulate_cmd
from pktcable.cli.dhcp import dhcp_group
from pktcable.dhcpd import DhcpServer, Reservation
from pktcable.flow import MTA_TABLES, SERVER_TABLES, Family, Flow, realm_family
from pktcable.serve import apidevices as api
from pktcable.serve.config import RUNNABLE_REALMS, ServeConfig, load
from pktcable.settings import SettingError
from pktcable.simulate.identity import vendor_class
from pktcable.store import Lease, SqliteLeaseStore
from pktcable.store import sqlite as shared
from pktcable.store.devices import Device, SqliteDeviceStore, Step

from .dhcp_helpers import mac_of, opt60
from .test_dhcp_server import Harness, config

ROOT = Path(__file__).resolve().parent.parent
#: A flow's name as option 122.6 carries it (family, dot, number), in any case.
FLOW_NAME = re.compile(r"\b(?:" + "|".join(Family.__members__) + r")\.\d", re.IGNORECASE)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_no_code_outside_the_flow_package_names_a_flow() -> None:
    """A list of flows (or a flow's property keyed by its name) written out anywhere but
    pktcable/flow/ would go stale when a flow is added; docstrings may show examples."""
    flow_dir = ROOT / "pktcable" / "flow"
    offenders = []
    for package in ("pktcable", "dhcp"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if flow_dir in path.parents:
                continue
            tree = ast.parse(path.read_text(), str(path))
            skip = _docstrings(tree)
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip \
                        and FLOW_NAME.search(node.value):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert offenders == []


def test_every_flow_has_both_tables_and_its_family_bit_in_tlv_18() -> None:
    assert set(MTA_TABLES) == set(SERVER_TABLES) == set(Flow)
    bits = [family.value for family in Family]
    assert len(set(bits)) == len(bits) and all(bit & (bit - 1) == 0 for bit in bits)  # one bit each
    # The codec's names for the TLV 18 bits are the families.
    assert {bit: name.upper() for bit, name in TLV18.names.items()} == {f.value: f.name for f in Family}
    for flow in Flow:
        assert Flow.for_realm(flow.value) is flow and realm_family(flow.value) is flow.family
        assert flow.capability_bit == flow.family.value
    assert realm_family("PKTC.EXAMPLE.COM") is Family.SECURE  # a Kerberos realm
    assert Flow.for_realm("PKTC.EXAMPLE.COM") is Flow.SECURE and Flow.of("PKTC.EXAMPLE.COM") is Flow.SECURE
    # A mistyped flow is neither that flow nor a Kerberos realm.
    assert Flow.for_realm("basic.1") is None and Flow.for_realm("HYBRID.3") is None


def test_simulate_offers_exactly_the_flows_with_a_device_table() -> None:
    from pktcable.flow.sip import SIP_FLOW

    (choice,) = [p.type for p in simulate_cmd.params if p.name == "flow"]
    assert list(choice.choices) == [flow.value for flow in MTA_TABLES] + [SIP_FLOW]  # and the SIP phones' table
    result = CliRunner().invoke(simulate_cmd, ["--server", "127.0.0.1", "--flow", "BASIC.3"])
    assert result.exit_code == 2 and "BASIC.3" in result.output


def test_serve_and_the_api_take_exactly_the_flows_with_a_server_table(tmp_path: Path) -> None:
    # The Secure flow's realm is a Kerberos realm; serve does not offer one yet.
    assert RUNNABLE_REALMS == api.FLOWS == tuple(flow.value for flow in SERVER_TABLES if not flow.secure)
    assert ServeConfig().realms and all(Flow.for_realm(r) in SERVER_TABLES for r in ServeConfig().realms)
    settings = tmp_path / "serve.toml"
    for flow in RUNNABLE_REALMS:
        settings.write_text(f'realms = ["{flow}"]\n[[devices]]\nmac = "02:00:00:00:00:01"\nflow = "{flow}"\n')
        assert load(settings).realms == [flow]
    for wrong in ("BASIC.3", "hybrid.2"):
        settings.write_text(f'realms = ["{wrong}"]\n')
        with pytest.raises(SettingError, match=re.escape(f"realms[0]: {wrong!r} is not a flow serve can run")):
            load(settings)
    # A Kerberos realm needs the KDC and key management (tests/test_e2e_secure.py runs them).
    for realm in ("PKTC.EXAMPLE.COM", "SECURE"):
        settings.write_text(f'realms = ["{realm}"]\n')
        with pytest.raises(SettingError, match=re.escape(f"realms[0]: {realm!r} is a Kerberos realm")):
            load(settings)


@pytest.mark.parametrize("flow", list(Flow))
def test_mta_gets_the_flow_its_tlv_18_allows_and_a_file_name_only_in_basic(flow: Flow) -> None:
    """The realm choice reads the capability bit of each flow from Flow: an MTA that supports
    only ``flow`` is offered ``flow`` even when it comes last in the class's preference."""
    cfg = config()
    others = [f for f in Flow if f.family is not flow.family]
    cfg.classes[1].realms = ("PKTC.EXAMPLE.COM", *(f.value for f in others), flow.value)
    h = Harness(DhcpServer(cfg))
    ack, _ = h.dora(mac_of(7), [opt60(vendor_class("mta", flow.capability_bit))])
    # A Secure eMTA gets the class's first Kerberos realm.
    expected = "PKTC.EXAMPLE.COM" if flow.secure else flow.value
    assert {i.name: i.value for i in decode_space(CCC, ack.get(122) or b"")}["realm"] == expected
    assert bool(ack.file.rstrip(b"\0")) is flow.family.file_in_dhcp


def test_a_realm_that_mistypes_a_flow_is_refused() -> None:
    """``basic.1`` or ``HYBRID.3`` would go out as a Kerberos realm: the eMTA would try the
    Secure flow, or refuse the lease, and the operator would see nothing in the settings."""
    from pktcable.dhcpd.config import from_dict

    base = {"server": {"server_id": "192.0.2.1"}}
    for wrong in ("basic.1", "HYBRID.3"):
        with pytest.raises(SettingError, match=r"class\[0\]\.realms\[0\]: .*no flow"):
            from_dict({**base, "class": [{"name": "mta", "kind": "mta", "realms": [wrong]}]})
        with pytest.raises(SettingError, match=r"reservation\[0\]\.realm: .*no flow"):
            from_dict({**base, "reservation": [{"mac": "02:00:00:00:00:01", "realm": wrong}]})
    kept = from_dict({**base, "class": [{"name": "mta", "kind": "mta", "realms": ["PKTC.EXAMPLE.COM", "BASIC.1"]}]})
    assert kept.classes[0].realms == ("PKTC.EXAMPLE.COM", "BASIC.1")
    assert isinstance(Reservation("02:00:00:00:00:01", realm="BASIC.1"), Reservation)
    result = CliRunner().invoke(dhcp_group, ["option122", "--realm", "hybrid.2"])
    assert result.exit_code != 0 and "no flow" in result.output


def _pragmas(db: sqlite3.Connection) -> tuple[str, int, int, int]:
    return (db.execute("PRAGMA journal_mode").fetchone()[0], db.execute("PRAGMA synchronous").fetchone()[0],
            db.execute("PRAGMA cache_size").fetchone()[0], db.execute("PRAGMA busy_timeout").fetchone()[0])


def test_both_stores_open_their_files_the_same_way(tmp_path: Path) -> None:
    devices = SqliteDeviceStore(str(tmp_path / "devices.db"), synchronous="NORMAL")
    leases = SqliteLeaseStore(str(tmp_path / "leases.db"), synchronous="NORMAL")
    try:
        expected = ("wal", 1, -shared.CACHE_KIB, shared.BUSY_TIMEOUT_MS)  # synchronous NORMAL is 1
        assert _pragmas(devices.db) == _pragmas(leases.db) == expected
    finally:
        devices.close()
        leases.close()
    for store in (SqliteDeviceStore, SqliteLeaseStore):
        with pytest.raises(ValueError, match="synchronous must be FULL, NORMAL, EXTRA, not 'OFF'"):
            store(str(tmp_path / "x.db"), synchronous="OFF")


def test_old_files_get_the_added_columns_and_keep_their_rows(tmp_path: Path) -> None:
    path = tmp_path / "leases.db"
    old = sqlite3.connect(path)
    old.execute("""CREATE TABLE lease4 (address INTEGER PRIMARY KEY, client TEXT NOT NULL, mac TEXT NOT NULL,
        expires REAL NOT NULL, state TEXT NOT NULL, device_class TEXT NOT NULL, subnet TEXT NOT NULL,
        remote_id TEXT NOT NULL, hostname TEXT NOT NULL)""")
    old.execute("INSERT INTO lease4 VALUES (?,?,?,?,?,?,?,?,?)",
                (int(IPv4Address("10.2.0.10")), "01aa", "aa", 99.0, "bound", "mta", "10.2.0.0/24", "cm", "h"))
    old.commit()
    old.close()
    store = SqliteLeaseStore(str(path))
    try:
        (lease,) = store.load()
        assert (lease.mac, lease.giaddr, lease.circuit_id) == ("aa", "", "")
        store.put(Lease(IPv4Address("10.2.0.11"), "01bb", "bb", 1.0, giaddr="10.2.0.1", circuit_id="01"))
        store.commit()
    finally:
        store.close()
    again = SqliteLeaseStore(str(path))
    try:
        assert [(x.mac, x.giaddr) for x in again.load()] == [("aa", ""), ("bb", "10.2.0.1")]
    finally:
        again.close()


def test_a_second_writer_on_the_device_file_waits_instead_of_failing(tmp_path: Path) -> None:
    """``pktcable reset`` or a second tool on the same data dir holds the write lock for a
    moment: the server's batch waits for it (busy timeout) and is not lost."""
    path = str(tmp_path / "devices.db")
    store = SqliteDeviceStore(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    locked = threading.Event()
    release = threading.Timer(0.5, lambda: (other.execute("COMMIT"), locked.set()))
    release.start()
    try:
        store.put(Device("020000000001"))
        store.record(Step("020000000001", 1.0, "MTA-1", "LeaseAcked"))
        store.commit()  # blocks until the other writer commits; without a busy timeout: "database is locked"
        assert locked.is_set()
        assert store.get("020000000001") is not None and len(store.history("020000000001")) == 1
    finally:
        release.join()
        other.close()
        store.close()


def test_old_device_file_gets_added_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The device store upgrades through its migrations: a column a new migration adds is
    added to an existing file on open, with its default, rows kept."""
    from pktcable.store import devices

    path = str(tmp_path / "devices.db")
    store = SqliteDeviceStore(path)
    store.put(Device("020000000001", flow=Flow.BASIC_2.value))
    store.close()
    grown = shared.Schema(devices.SCHEMA.name, devices.SCHEMA.tables, devices.SCHEMA.migrations + (
        shared.Migration("note", ("ALTER TABLE device ADD COLUMN note TEXT NOT NULL DEFAULT 'x'",)),))
    monkeypatch.setattr(devices, "SCHEMA", grown)
    reopened = SqliteDeviceStore(path)
    try:
        assert [r[1] for r in reopened.db.execute("PRAGMA table_info(device)")][-1] == "note"
        assert reopened.db.execute("SELECT flow, note FROM device").fetchall() == [("BASIC.2", "x")]
        assert shared.file_version(reopened.db) == grown.version
    finally:
        reopened.close()
