"""The store setting and the PostgreSQL backend: URLs, schema versions in the database,
what only a shared server can do (two clients, two openers at once), serve on it, and
the API's token store on both backends."""

from __future__ import annotations

import subprocess
import sys
import threading
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pktcable.cli import main
from pktcable.serve.config import ServeConfig, check
from pktcable.settings import SettingError
from pktcable.store.admin import AdminError, AdminStore
from pktcable.store.devices import SCHEMA as DEVICE_SCHEMA
from pktcable.store.devices import Device, Step
from pktcable.store.firmware import SCHEMA as FIRMWARE_SCHEMA
from pktcable.store.leases import SCHEMA as LEASE_SCHEMA
from pktcable.store.leases import Lease
from pktcable.store.pg import StoreUrlError, parse_store, redact
from pktcable.store.sqlite import Migration, Schema, SchemaError

from .stores import PERSISTENT, device_opener, location

# --- the setting -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "backend"), [
    (None, "sqlite"), ("", "sqlite"), ("sqlite:", "sqlite"),
    ("postgresql:///pktcable?host=/run/postgresql", "postgresql"),
    ("postgresql://pk:secret@db.example.net:5433/pktcable?sslmode=require", "postgresql"),
    ("postgres://db.example.net/pktcable", "postgresql"),
])
def test_store_urls_name_a_backend(text: str | None, backend: str) -> None:
    pytest.importorskip("psycopg")
    assert parse_store(text).backend == backend


@pytest.mark.parametrize("text", ["mysql://db/x", "sqlite:///var/x.db", "postgresql:/x", "/var/lib/pktcable",
                                  "postgresql://h/db?nosuchoption=1", "postgresql://" + "h" * 3000])
def test_other_store_urls_are_refused(text: str) -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StoreUrlError):
        parse_store(text)


def test_passwords_never_show() -> None:
    assert redact("postgresql://pk:s3cr3t@db/x") == "postgresql://pk:***@db/x"
    assert redact("postgresql://db/x?sslmode=require&password=s3cr3t") == "postgresql://db/x?sslmode=require&password=***"
    assert redact("postgresql:///x?host=/run/postgresql") == "postgresql:///x?host=/run/postgresql"
    with pytest.raises(StoreUrlError) as caught:
        parse_store("mysql://pk:s3cr3t@db/x")
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize("url", ["postgresql://pk:s3%zzcr3t@db/x", "postgresql://db/x?password=s3%zzcr3t",
                                 "postgresql://db/x?password=s3cr3t&nosuch=1", "postgresql://pk:s3cr3t@db/x?x=%zz"])
def test_libpqs_own_message_never_shows_the_password(url: str) -> None:
    """libpq quotes the token it cannot parse, which may be the password: blotted out."""
    pytest.importorskip("psycopg")
    with pytest.raises(StoreUrlError) as caught:
        parse_store(url)
    assert "s3" not in str(caught.value) and "cr3t" not in str(caught.value), str(caught.value)


def test_a_bad_store_setting_names_the_key() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(SettingError) as caught:
        check(ServeConfig(store="mysql://db/x"))
    assert caught.value.key == "store"


def serve(tmp_path: Path, store: str, *extra: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "serve.toml"
    config.write_text(f"store = {store!r}\ncm_key = 'k'\napi_port = 0\ndhcp_port = 0\ntftp_port = 0\nhttp_port = 0\n"
                      "tod_port = 0\nsnmp_port = 0\n")
    return subprocess.run([sys.executable, "-m", "pktcable", "serve", "--config", str(config), "--data-dir",
                           str(tmp_path / "data"), *extra], capture_output=True, text=True, timeout=120)


def test_serve_exits_2_in_one_line_for_a_bad_or_unreachable_store(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    bad = serve(tmp_path, "mysql://pk:s3cr3t@db/x")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "store" in bad.stderr
    nobody = tmp_path / "no-server"
    nobody.mkdir()
    gone = serve(tmp_path, f"postgresql://pk:s3cr3t@/pktcable?host={nobody}&connect_timeout=5")
    assert gone.returncode == 2, gone.stderr
    assert gone.stderr.count("\n") == 1 and gone.stderr.startswith(f"pktcable: {tmp_path / 'serve.toml'}: store: ")
    assert "s3cr3t" not in gone.stderr + gone.stdout and "***" in gone.stderr


# --- schema versions -----------------------------------------------------------------------------


def test_a_new_database_gets_every_store_at_its_version(pg_url: str) -> None:
    import psycopg

    from pktcable.store.backend import open_postgresql
    from pktcable.store.devices import Retention
    from pktcable.store.pg import version

    stores = open_postgresql(pg_url, Retention())
    for store in (stores.devices, stores.leases, stores.built, stores.admin):
        store.close()
    with psycopg.connect(pg_url, autocommit=True) as db:
        assert version(db, DEVICE_SCHEMA) == DEVICE_SCHEMA.version >= 3
        assert version(db, LEASE_SCHEMA) == LEASE_SCHEMA.version
        tables = {r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
        assert {"device", "step", "built_file", "lease4", "token", "audit", "pktcable_schema"} <= tables
        indexes = {r[0] for r in db.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
        assert {"device_state", "device_updated", "device_ipnum", "device_kind", "step_mac", "step_at"} <= indexes


def test_a_database_from_a_newer_pktcable_is_refused_and_left_alone(pg_url: str) -> None:
    import psycopg

    from pktcable.store.pg_devices import PgDeviceStore

    PgDeviceStore(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("UPDATE pktcable_schema SET version = 99 WHERE store = 'devices'")
    with pytest.raises(SchemaError, match="version 99"):
        PgDeviceStore(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as db:
        assert db.execute("SELECT version FROM pktcable_schema WHERE store = 'devices'").fetchone() == (99,)


def test_a_failing_migration_leaves_the_database_as_it_was(pg_url: str) -> None:
    import psycopg

    from pktcable.store.pg import connect, version

    good = Schema("devices", DEVICE_SCHEMA.tables, DEVICE_SCHEMA.migrations)
    connect(pg_url, good).close()
    broken = Schema("devices", DEVICE_SCHEMA.tables, (*DEVICE_SCHEMA.migrations, Migration(
        "half done", ("CREATE TABLE extra (x INTEGER)", "ALTER TABLE no_such_table ADD COLUMN y INTEGER"))))
    with pytest.raises(psycopg.errors.UndefinedTable):
        connect(pg_url, broken)
    with psycopg.connect(pg_url, autocommit=True) as db:
        assert version(db, good) == good.version
        assert db.execute("SELECT to_regclass('extra')").fetchone() == (None,)


def test_two_servers_opening_one_new_database_at_once_upgrade_it_once(pg_url: str) -> None:
    from pktcable.store.pg_devices import PgDeviceStore

    errors: list[BaseException] = []
    opened: list[Any] = []

    def open_one() -> None:
        try:
            opened.append(PgDeviceStore(pg_url))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(opened) == 4
    opened[0].put(Device("001122334455"))
    opened[0].flush()  # written (commit hands the batch to the writer thread)
    assert opened[1].get("001122334455") is not None
    for s in opened:
        s.close()


def test_store_migrate_with_a_url(pg_url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["store", "migrate", "--store", pg_url])
    assert first.exit_code == 0, first.output
    assert f"devices: version 0 -> {DEVICE_SCHEMA.version}" in first.output
    again = runner.invoke(main, ["store", "migrate", "--store", pg_url])
    assert again.exit_code == 0 and f"devices: version {DEVICE_SCHEMA.version}, up to date" in again.output
    both = runner.invoke(main, ["store", "migrate", "--store", pg_url, "--data-dir", "x"])
    assert both.exit_code == 2


def test_store_check_with_a_url(pg_url: str) -> None:
    import psycopg

    runner = CliRunner()
    empty = runner.invoke(main, ["store", "check", "--store", pg_url])
    assert empty.exit_code == 1 and "devices: version -1: not in this database" in empty.output
    assert runner.invoke(main, ["store", "migrate", "--store", pg_url]).exit_code == 0
    ok = runner.invoke(main, ["store", "check", "--store", pg_url])
    assert ok.exit_code == 0, ok.output
    assert ok.output.splitlines() == [f"devices: version {DEVICE_SCHEMA.version}, ok",
                                      f"leases: version {LEASE_SCHEMA.version}, ok", "admin: version 0, ok",
                                      f"firmware: version {FIRMWARE_SCHEMA.version}, ok"]
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("UPDATE pktcable_schema SET version = 99 WHERE store = 'leases'")
    newer = runner.invoke(main, ["store", "check", "--store", pg_url])
    assert newer.exit_code == 1 and "leases: version 99: version 99 is newer" in newer.output


# --- what a database shared by servers must hold -----------------------------------------------


def test_one_address_is_one_row_and_the_last_write_holds_it(pg_url: str) -> None:
    import psycopg

    from pktcable.store.pg_leases import PgLeaseStore

    a, b = PgLeaseStore(pg_url), PgLeaseStore(pg_url)
    address = IPv4Address("10.1.0.10")
    a.put(Lease(address, "01aa", "aa:00:00:00:00:01", 2000.0))
    a.commit()
    b.put(Lease(address, "01bb", "bb:00:00:00:00:02", 3000.0))
    b.commit()
    (row,) = PgLeaseStore(pg_url).load()
    assert (row.client, row.expires) == ("01bb", 3000.0)
    with psycopg.connect(pg_url, autocommit=True) as db, pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("INSERT INTO lease4 SELECT * FROM lease4")
    a.close()
    b.close()


@pytest.mark.parametrize("backend", PERSISTENT)
def test_a_nul_in_client_text_does_not_stop_a_commit(backend: str, request: pytest.FixtureRequest,
                                                     tmp_path: Path) -> None:
    """A DHCP host name is the client's bytes decoded: U+0000 is possible. SQLite keeps it;
    PostgreSQL text cannot hold it, so it is stored as U+FFFD, and the batch is written."""
    from .stores import lease_opener

    leases = lease_opener(backend, request, tmp_path)()
    leases.put(Lease(IPv4Address("10.1.0.11"), "01cc", "cc:00:00:00:00:03", 2000.0, hostname="a\x00b"))
    leases.commit()
    (row,) = leases.load()
    assert row.hostname == ("a\x00b" if backend == "sqlite" else "a\ufffdb")
    leases.close()
    devices = device_opener(backend, request, tmp_path)()
    devices.put(Device("001122334466", vars={"x": "a\x00b"}))
    devices.record(Step("001122334466", 1.0, "MTA-4", "LeaseAcked", "c\x00d"))
    devices.commit()
    assert devices.get("001122334466").vars == {"x": "a\x00b"}  # type: ignore[union-attr]  # JSON escapes it
    assert devices.history("001122334466")[0].detail in ("c\x00d", "c\ufffdd")
    devices.close()


# --- the API's tokens and audit log on both backends ---------------------------------------------


def admin_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: Any = None) -> AdminStore:
    kw = {"clock": clock} if clock else {}
    if backend == "postgresql":
        from pktcable.store.pg_admin import PgAdminStore

        return PgAdminStore(location(backend, request, tmp_path, ""), **kw)
    return AdminStore(str(tmp_path / "admin.db"), **kw)


@pytest.mark.parametrize("backend", PERSISTENT)
def test_tokens_and_audit_log(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    now = [1000.0]
    admin = admin_store(backend, request, tmp_path, clock=lambda: now[0])
    token = admin.create("alice", "operator")
    with pytest.raises(AdminError, match="in use"):
        admin.create("alice", "read")
    with pytest.raises(AdminError, match="role"):
        admin.create("carol", "admin")
    found = admin.authenticate(token)
    assert found is not None and found.name == "alice" and found.role == "operator"
    assert admin.authenticate(token + "x") is None and admin.authenticate("nope") is None
    assert admin.tokens()[0].last_used == 1000.0
    admin.revoke("alice")
    with pytest.raises(AdminError, match="no token"):
        admin.revoke("alice")
    assert admin.authenticate(token) is None
    again = admin.create("alice", "read")
    assert admin.authenticate(again).role == "read"  # type: ignore[union-attr]
    for n in range(5):
        now[0] += 1
        admin.audit("alice", "operator", "device.put", f"00112233445{n}", None, {"n": n}, "127.0.0.1")
    newest = admin.entries(2)
    assert [e.after for e in newest] == [{"n": 4}, {"n": 3}] and newest[0].before is None
    older = admin.entries(10, before_id=newest[-1].id, since=1002.0)
    assert [e.after for e in older] == [{"n": 2}, {"n": 1}]
    admin.close()


# --- serve on PostgreSQL ---------------------------------------------------------------------------


def test_a_back_office_keeps_everything_in_the_database(pg_url: str, tmp_path: Path) -> None:
    from pktcable.serve.app import Backoffice
    from pktcable.store.built import BuiltFile
    from pktcable.store.pg_admin import PgAdminStore
    from pktcable.store.pg_devices import PgBuiltFiles, PgDeviceStore
    from pktcable.store.pg_leases import PgLeaseStore

    cfg = check(ServeConfig(data_dir=str(tmp_path / "data"), store=pg_url))
    office = Backoffice(cfg)
    try:
        assert isinstance(office.devices, PgDeviceStore) and isinstance(office.leases, PgLeaseStore)
        assert isinstance(office.built, PgBuiltFiles) and isinstance(office.admin, PgAdminStore)
        office.devices.put(Device("001122334455", state="DONE", result=1))
        office.devices.commit()
        office.built.put(BuiltFile.of("001122334455", "mta", "mta-001122334455.cfg", 5.0, b"\x00\x01cfg"))
        office.built.commit()
    finally:
        office.devices.close()
        office.leases.close()
        office.built.close()
        office.admin.close()
    assert not list(Path(tmp_path / "data").glob("*.db"))  # no SQLite file beside them
    again = PgDeviceStore(pg_url)
    assert again.get("001122334455").state == "DONE"  # type: ignore[union-attr]
    again.close()
    files = PgBuiltFiles(pg_url)
    assert [f.data for f in files.of("001122334455")] == [b"\x00\x01cfg"]
    files.close()


def test_token_command_on_a_postgresql_store(pg_url: str) -> None:
    import json

    from pktcable.store.pg_admin import PgAdminStore

    runner = CliRunner()
    made = runner.invoke(main, ["token", "create", "--store", pg_url, "--name", "alice", "--role", "operator"])
    assert made.exit_code == 0, made.output
    token = made.output.strip()
    admin = PgAdminStore(pg_url)
    assert admin.authenticate(token).name == "alice"  # type: ignore[union-attr]
    listed = runner.invoke(main, ["token", "list", "--store", pg_url, "--json"])
    assert [row["name"] for row in json.loads(listed.output)] == ["alice"] and token not in listed.output
    assert runner.invoke(main, ["token", "revoke", "--store", pg_url, "--name", "alice"]).exit_code == 0
    assert admin.authenticate(token) is None
    admin.close()
    neither = runner.invoke(main, ["token", "list"])
    assert neither.exit_code == 2


def test_serve_and_simulate_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """A HYBRID.2 run of 20 eMTAs against a serve whose stores are PostgreSQL's: every device
    passes, and what the server wrote is in the database (devices, history, leases, files)."""
    import asyncio

    import psycopg

    from pktcable.flow import Flow
    from pktcable.serve.app import Backoffice
    from pktcable.simulate.report import summarize
    from pktcable.simulate.runner import simulate
    from pktcable.store.pg_leases import PgLeaseStore

    from .test_e2e import configs, run

    cfg, sim = configs([Flow.HYBRID_2.value], data_dir=str(tmp_path / "data"), store=pg_url)
    check(cfg)

    async def scenario(office: Backoffice) -> list[str]:
        results, elapsed = await simulate(sim, Flow.HYBRID_2, 20)
        report = summarize(results, elapsed)
        assert report["passed"] == 20, report["failures"]
        office.devices.commit()
        await asyncio.sleep(0)
        return [r.mta_mac for r in results]

    macs = run(cfg, scenario)
    with psycopg.connect(pg_url, autocommit=True) as db:
        states = dict(db.execute("SELECT mac, state FROM device WHERE kind = 'mta'").fetchall())
        assert {mac: states.get(mac) for mac in macs} == {mac: "DONE" for mac in macs}
        steps = db.execute("SELECT count(DISTINCT mac) FROM step WHERE event = 'LeaseAcked'").fetchone()
        assert steps is not None and steps[0] >= 20
        built = db.execute("SELECT count(*) FROM built_file WHERE kind = 'mta'").fetchone()
        assert built is not None and built[0] == 20
    leases = list(PgLeaseStore(pg_url).load())
    assert len({lease.address for lease in leases}) == len(leases) >= 40  # a modem and an eMTA each


def test_a_store_whose_connection_the_server_dropped_opens_it_again(pg_url: str) -> None:
    """A PostgreSQL restart or failover ends the store's connection: the call that finds it
    broken fails (its batch is not acknowledged), the next one reconnects and works."""
    import psycopg

    from pktcable.store.pg_leases import PgLeaseStore

    leases = PgLeaseStore(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pktcable' "
                      "AND pid <> pg_backend_pid() AND query NOT LIKE '%%pg_terminate_backend%%'")
    leases.put(Lease(IPv4Address("10.1.0.12"), "01dd", "dd:00:00:00:00:04", 2000.0))
    with pytest.raises(psycopg.OperationalError):
        leases.commit()
    leases.put(Lease(IPv4Address("10.1.0.13"), "01ee", "ee:00:00:00:00:05", 2000.0))
    leases.commit()
    assert [str(row.address) for row in leases.load()] == ["10.1.0.13"]
    leases.close()


def test_a_version_0_database_upgrades_with_its_rows(pg_url: str) -> None:
    """The migrations are one list for both backends: a PostgreSQL database at version 0
    with devices in it goes through each step (version 1 numbers the addresses)."""
    import psycopg

    from pktcable.store.pg import connect, version
    from pktcable.store.pg_devices import PgDeviceStore
    from pktcable.store.query import DeviceQuery

    connect(pg_url, Schema("devices", DEVICE_SCHEMA.tables)).close()
    with psycopg.connect(pg_url, autocommit=True) as db:
        assert version(db, DEVICE_SCHEMA) == 0
        db.cursor().executemany("INSERT INTO device VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", [
            ("0011223344a1", "mta", "", "HYBRID.2", "mta.txt", "{}", "10.1.0.10", "FAILED_SET", 7, 5.0),
            ("0011223344a2", "mta", "", "HYBRID.2", "mta.txt", '{"x": 1}', "10.1.0.9", "DONE", 1, 6.0),
            ("0011223344a3", "cm", "", "", "cm.txt", "{}", "", "", None, 7.0),
        ])
    store = PgDeviceStore(pg_url)
    try:
        assert version(store.db, DEVICE_SCHEMA) == DEVICE_SCHEMA.version
        assert [d.ip for d in store.query(DeviceQuery(sort="ip")).items] == ["", "10.1.0.9", "10.1.0.10"]
        assert store.get("0011223344a2").vars == {"x": 1}  # type: ignore[union-attr]
    finally:
        store.close()


def test_a_dhcp_workers_lease_table_name_is_told_apart() -> None:
    """The DHCP worker gets the lease table's name: a SQLite file, or the store URL."""
    from pktcable.store.pg import names_postgresql

    assert names_postgresql("postgresql:///pktcable?host=/run/postgresql")
    assert names_postgresql("postgres://db.example.net/pktcable")
    assert not names_postgresql("/var/lib/pktcable/leases.db") and not names_postgresql(None)
    assert not names_postgresql("postgresql.db") and not names_postgresql("")


def test_serve_on_postgresql_never_shows_the_password(pg_url: str, tmp_path: Path) -> None:
    """The test server trusts its socket, so a password in the URL is accepted and unused:
    serve starts, says where its store is with *** for the password, and prints the
    password nowhere, in debug logs neither."""
    import time

    from .procs import FAULT_ENV, stop

    url = pg_url.replace("postgresql://postgres@", "postgresql://postgres:s3cr3t@")
    config = tmp_path / "serve.toml"
    config.write_text(f"store = {url!r}\ncm_key = 'k'\napi_port = 0\ndhcp_port = 0\ntftp_port = 0\n"
                      "http_port = 0\ntod_port = 0\nsnmp_port = 0\n")
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pktcable", "serve", "--config", str(config), "--data-dir",
                                 str(tmp_path / "data"), "--log-level", "debug"], env=FAULT_ENV,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while "store " not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
    finally:
        assert stop(proc) == 0, log.read_text()
    text = log.read_text()
    assert "store postgresql://postgres:***@/postgres?host=" in text
    assert "s3cr3t" not in text


def test_reset_by_mac_finds_the_address_in_the_postgresql_lease_table(pg_url: str) -> None:
    """``pktcable reset --store URL``: the SET goes to the address the PostgreSQL lease table
    gives the MAC now; a MAC without a current lease is exit 2."""
    import asyncio
    import time

    from pktcable.flow import Flow
    from pktcable.simulate.emta import SimulatedMta
    from pktcable.simulate.identity import Identity
    from pktcable.store.pg_leases import PgLeaseStore

    from .test_e2e import configs

    _, sim = configs(["HYBRID.2"])
    identity = Identity.make(5)
    mac = identity.mta_mac.hex(":")
    leases = PgLeaseStore(pg_url)
    leases.put(Lease(IPv4Address("127.0.0.1"), "01" + identity.mta_mac.hex(), mac, time.time() + 3600,
                     device_class="mta"))
    leases.commit()
    leases.close()

    async def scenario() -> tuple[int, str, bool]:
        mta = SimulatedMta(identity, Flow.HYBRID_2, sim, relay=None)  # type: ignore[arg-type]
        await mta.start_agent(IPv4Address("127.0.0.1"))
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pktcable", "reset", "--mac", mac, "--store", pg_url,
                "--agent-port", str(sim.agent_port), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await proc.communicate()
            return proc.returncode or 0, out.decode() + err.decode(), mta.reset_requested
        finally:
            for ep in (mta.agent, mta.informer):
                ep.close()  # type: ignore[union-attr]

    code, out, requested = asyncio.run(scenario())
    assert code == 0 and "acknowledged" in out and requested, out
    other = subprocess.run([sys.executable, "-m", "pktcable", "reset", "--mac", "02:00:00:00:00:99", "--store", pg_url],
                           capture_output=True, text=True, timeout=120)
    assert other.returncode == 2 and "no current lease" in other.stderr


def test_commits_to_postgresql_are_timed_in_the_metrics(pg_url: str, tmp_path: Path) -> None:
    import asyncio

    from pktcable.serve.app import Backoffice

    office = Backoffice(check(ServeConfig(data_dir=str(tmp_path / "data"), store=pg_url)))
    try:
        office.devices.put(Device("001122334455"))
        office.devices.flush()  # the writer thread observes the write once it is made
        count = office.metrics_registry.registry.get_sample_value("pktcable_store_commit_seconds_count",
                                                                  {"store": "devices"})
    finally:
        asyncio.run(office.close())
    assert count == 1.0
