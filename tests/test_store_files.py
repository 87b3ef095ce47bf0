"""Store files: schema versions and migrations, the data dir's lock, `pktcable store`."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from pktcable.cli import main
from pktcable.exitcodes import ExitStatus
from pktcable.serve import datadir
from pktcable.serve.app import Backoffice
from pktcable.store.devices import _TABLES as DEVICE_TABLES_V0
from pktcable.store.devices import SCHEMA as DEVICE_SCHEMA
from pktcable.store.devices import Device, SqliteDeviceStore, Step
from pktcable.store.leases import SqliteLeaseStore
from pktcable.store.query import DeviceQuery
from pktcable.store.sqlite import Migration, Schema, SchemaError, Table, connect, file_version

from .test_e2e import configs


def dump(path: Path) -> list[str]:
    db = sqlite3.connect(str(path))
    try:
        return list(db.iterdump()) + [f"user_version={file_version(db)}"]
    finally:
        db.close()


def version_0_devices(path: Path) -> None:
    """A devices.db as pktcable wrote it before schema versions: the version-0 tables, rows in them."""
    db = connect(str(path), DEVICE_TABLES_V0, synchronous="FULL")
    db.executemany("INSERT INTO device VALUES (?,?,?,?,?,?,?,?,?,?)", [
        ("0011223344a1", "mta", "", "HYBRID.2", "mta.txt", "{}", "10.1.0.10", "FAILED_SET", 7, 5.0),
        ("0011223344a2", "mta", "", "HYBRID.2", "mta.txt", '{"x": 1}', "10.1.0.9", "DONE", 1, 6.0),
        ("0011223344a3", "cm", "", "", "cm.txt", "{}", "", "", None, 7.0),
    ])
    db.execute("INSERT INTO step VALUES ('0011223344a1', 1.0, 'H-MTA-19', 'LocationSetFailed', '')")
    assert file_version(db) == 0
    db.close()


# --- migrations ------------------------------------------------------------------------------


def test_a_version_0_file_upgrades_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "devices.db"
    version_0_devices(path)
    store = SqliteDeviceStore(str(path))
    try:
        assert file_version(store.db) == DEVICE_SCHEMA.version >= 2
        # Version 1 numbered the addresses already there: 10.1.0.9 sorts before 10.1.0.10.
        assert [d.mac for d in store.query(DeviceQuery(sort="ip")).items] == \
            ["0011223344a3", "0011223344a2", "0011223344a1"]
        indexes = {row[0] for row in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"device_state", "device_updated", "device_ipnum", "device_kind"} <= indexes
        got = store.get("0011223344a2")
        assert got is not None and got.vars == {"x": 1} and got.result == 1
        assert [s.event for s in store.history("0011223344a1")] == ["LocationSetFailed"]
        plan = " ".join(str(r) for r in store.db.execute(
            "EXPLAIN QUERY PLAN SELECT mac FROM device ORDER BY state DESC, mac DESC LIMIT 5"))
        assert "device_state" in plan
    finally:
        store.close()
    again = SqliteDeviceStore(str(path))  # opening an up-to-date file changes nothing
    assert file_version(again.db) == DEVICE_SCHEMA.version
    again.close()


def test_a_file_from_a_newer_pktcable_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "devices.db"
    version_0_devices(path)
    db = sqlite3.connect(str(path))
    db.execute(f"PRAGMA user_version={DEVICE_SCHEMA.version + 1}")
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    before = path.read_bytes()
    with pytest.raises(SchemaError, match=f"version {DEVICE_SCHEMA.version + 1} is newer than this pktcable"):
        SqliteDeviceStore(str(path))
    assert path.read_bytes() == before  # not even switched to WAL


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    tables = (Table("t", "CREATE TABLE IF NOT EXISTS t (a INTEGER)"),)
    first = Schema("x", tables, (Migration("add b", ("ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT ''",)),))
    connect(str(path), first, synchronous="FULL").close()
    db = sqlite3.connect(str(path))
    db.execute("INSERT INTO t VALUES (1, 'one')")
    db.commit()
    db.close()
    before = dump(path)

    def half_done(db: sqlite3.Connection) -> None:
        db.execute("UPDATE t SET b = 'changed'")
        raise RuntimeError("migration bug")

    broken = Schema("x", tables, first.migrations + (
        Migration("index", ("CREATE INDEX t_b ON t (b)",)), Migration("rewrite", half_done)))
    with pytest.raises(RuntimeError, match="migration bug"):
        connect(str(path), broken, synchronous="FULL")
    assert dump(path) == before  # no index, no change, still version 1


def test_tables_alone_still_open_as_version_0(tmp_path: Path) -> None:
    tables = (Table("t", "CREATE TABLE IF NOT EXISTS t (a INTEGER)", added=(("b", "TEXT NOT NULL DEFAULT ''"),),
                    indexes=("CREATE INDEX IF NOT EXISTS t_a ON t (a)",)),)
    db = connect(str(tmp_path / "a.db"), tables, synchronous="NORMAL")
    assert file_version(db) == 0
    assert [r[1] for r in db.execute("PRAGMA table_info(t)")] == ["a", "b"]
    db.close()


# --- the data dir's lock ---------------------------------------------------------------------


def test_serve_holds_the_data_dir_shared(tmp_path: Path) -> None:
    cfg, _ = configs(["BASIC.1"])
    cfg.data_dir = str(tmp_path / "data")
    office = Backoffice(cfg)
    try:
        with pytest.raises(datadir.DataDirBusy, match="in use by a running pktcable serve"):
            datadir.lock(tmp_path / "data", exclusive=True)
        datadir.lock(tmp_path / "data", exclusive=False).release()  # readers are welcome
    finally:
        office.devices.close(), office.leases.close()
        assert office._data_lock is not None
        office._data_lock.release()
    datadir.lock(tmp_path / "data", exclusive=True).release()
    with datadir.lock(tmp_path / "data", exclusive=True):
        with pytest.raises(datadir.DataDirBusy, match="restore or migrate"):
            Backoffice(cfg)


# --- pktcable store --------------------------------------------------------------------------


def data_dir_with_stores(tmp_path: Path, devices: int = 50) -> Path:
    folder = datadir.prepare(tmp_path / "data")
    store = SqliteDeviceStore(str(folder / "devices.db"))
    for i in range(devices):
        store.put(Device(f"00000000{i:04x}", state="DONE", result=1, ip=f"10.1.0.{i % 250}", updated=float(i)))
        store.record(Step(f"00000000{i:04x}", float(i), "MTA-4", "LeaseAcked"))
    store.close()
    SqliteLeaseStore(str(folder / "leases.db")).close()
    (folder / "cm_key").write_text("secret\n")
    return folder


def rows(folder: Path) -> dict[str, list[tuple[object, ...]]]:
    out = {}
    for name, query in (("devices.db", "SELECT * FROM device ORDER BY mac"),
                        ("devices.db#step", "SELECT * FROM step ORDER BY rowid"),
                        ("leases.db", "SELECT * FROM lease4 ORDER BY address")):
        db = sqlite3.connect(str(folder / name.split("#")[0]))
        out[name] = db.execute(query).fetchall()
        db.close()
    return out


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["store", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_backup_while_a_writer_commits_then_restore_gives_identical_rows(tmp_path: Path) -> None:
    folder = data_dir_with_stores(tmp_path)
    archive = tmp_path / "b.tar"
    writer_store = SqliteDeviceStore(str(folder / "devices.db"))
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        while not stop.is_set():
            for _ in range(10):
                written[0] += 1
                writer_store.put(Device(f"aa{written[0]:010x}", state="LEASED", updated=float(written[0])))
            writer_store.commit()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 200:
            stop.wait(0.01)
        code, out = run("backup", "--data-dir", str(folder), "--to", str(archive))
    finally:
        stop.set()
        thread.join(timeout=60)
    assert code == 0, out
    writer_store.close()
    assert (archive.stat().st_mode & 0o777) == 0o600
    with tarfile.open(archive) as tar:
        assert tar.getnames()[0] == "manifest.json" and "cm_key" not in tar.getnames()
    # What the archive holds: a consistent copy taken while the writer wrote (whole batches of ten).
    code, out = run("restore", "--data-dir", str(tmp_path / "copy"), "--from", str(archive))
    assert code == 0, out
    copied = rows(tmp_path / "copy")
    new = [r for r in copied["devices.db"] if r[0].startswith("aa")]
    assert len(new) % 10 == 0 and len(new) >= 200
    # Restoring over the live dir (serve stopped) gives back exactly the archive's rows; cm_key stays.
    extra = SqliteDeviceStore(str(folder / "devices.db"))
    extra.put(Device("ffffffffffff"))
    extra.close()
    code, out = run("restore", "--data-dir", str(folder), "--from", str(archive))
    assert code == 0, out
    assert rows(folder) == copied
    assert (folder / "cm_key").read_text() == "secret\n"
    assert (folder.stat().st_mode & 0o777) == 0o700
    assert sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(".")) == []
    code, out = run("check", "--data-dir", str(folder))
    assert code == 0 and "devices.db: version" in out and ", ok" in out


def test_restore_is_refused_while_serve_holds_the_data_dir(tmp_path: Path) -> None:
    folder = data_dir_with_stores(tmp_path)
    archive = tmp_path / "b.tar"
    assert run("backup", "--data-dir", str(folder), "--to", str(archive))[0] == 0
    before = rows(folder)
    with datadir.lock(folder, exclusive=False):  # what serve holds
        code, out = run("restore", "--data-dir", str(folder), "--from", str(archive))
        assert code == ExitStatus.IO and "in use by a running pktcable serve" in out
        code, out = run("migrate", "--data-dir", str(folder))
        assert code == ExitStatus.IO
    assert rows(folder) == before
    assert run("restore", "--data-dir", str(folder), "--from", str(archive))[0] == 0


def tampered(archive: Path, target: Path, change: str) -> None:
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(target, "w") as out:
        for member, data in members:
            if change == "flip" and member.name == "devices.db":
                data = data[:5000] + bytes([data[5000] ^ 1]) + data[5001:]
            if change == "drop" and member.name == "leases.db":
                continue
            if change == "manifest" and member.name == "manifest.json":
                manifest = json.loads(data)
                manifest["files"][0]["sha256"] = hashlib.sha256(b"other").hexdigest()
                data = json.dumps(manifest).encode()
            if change == "path" and member.name == "leases.db":
                member.name = "../leases.db"
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))


@pytest.mark.parametrize("change", ["flip", "drop", "manifest", "path", "truncate", "not-tar"])
def test_a_damaged_archive_is_refused_and_nothing_changes(tmp_path: Path, change: str) -> None:
    folder = data_dir_with_stores(tmp_path)
    archive, bad = tmp_path / "b.tar", tmp_path / "bad.tar"
    assert run("backup", "--data-dir", str(folder), "--to", str(archive))[0] == 0
    if change == "truncate":
        bad.write_bytes(archive.read_bytes()[:archive.stat().st_size * 2 // 3])
    elif change == "not-tar":
        bad.write_bytes(b"hello" * 1000)
    else:
        tampered(archive, bad, change)
    extra = SqliteDeviceStore(str(folder / "devices.db"))
    extra.put(Device("ffffffffffff"))
    extra.close()
    before = rows(folder)
    code, out = run("restore", "--data-dir", str(folder), "--from", str(bad))
    assert code == ExitStatus.INVALID, out
    assert "nothing was changed" in out
    assert rows(folder) == before
    assert not (tmp_path / "leases.db").exists()
    assert sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(".")) == []


def test_migrate_upgrades_an_old_data_dir_and_prints_versions(tmp_path: Path) -> None:
    folder = datadir.prepare(tmp_path / "data")
    version_0_devices(folder / "devices.db")
    code, out = run("migrate", "--data-dir", str(folder))
    assert code == 0, out
    assert f"devices.db: version 0 -> {DEVICE_SCHEMA.version}" in out
    code, out = run("migrate", "--data-dir", str(folder))
    assert code == 0 and f"devices.db: version {DEVICE_SCHEMA.version}, up to date" in out


def test_exit_statuses_for_bad_arguments_and_bad_files(tmp_path: Path) -> None:
    assert run("migrate")[0] == ExitStatus.USAGE  # --data-dir missing
    assert run("backup", "--data-dir", str(tmp_path / "none"), "--to", str(tmp_path / "x"))[0] == ExitStatus.USAGE
    assert run("check", "--data-dir", str(tmp_path))[0] == ExitStatus.USAGE  # no store files
    assert run("restore", "--data-dir", str(tmp_path), "--from", str(tmp_path / "nope.tar"))[0] == ExitStatus.USAGE
    folder = data_dir_with_stores(tmp_path)
    db = sqlite3.connect(str(folder / "devices.db"))
    db.execute("PRAGMA user_version=99")
    db.close()
    code, out = run("migrate", "--data-dir", str(folder))
    assert code == ExitStatus.INVALID and "newer than this pktcable" in out
    code, out = run("check", "--data-dir", str(folder))
    assert code == ExitStatus.INVALID and "newer than this pktcable" in out
    (folder / "leases.db").write_bytes(b"not a database" * 100)
    code, out = run("check", "--data-dir", str(folder))
    assert code == ExitStatus.INVALID and "leases.db" in out


def test_help_ends_with_examples() -> None:
    for command in ([], ["migrate"], ["check"], ["backup"], ["restore"]):
        result = CliRunner().invoke(main, ["store", *command, "--help"])
        assert result.exit_code == 0
        assert "Examples:" in result.output and "pktcable store" in result.output.split("Examples:")[-1]


def test_serve_refuses_a_store_newer_than_itself_in_one_line(tmp_path: Path) -> None:
    from .test_settings import KEY, PORTS, one_line_exit_2
    from .test_settings import run as run_pktcable

    folder = data_dir_with_stores(tmp_path)
    db = sqlite3.connect(str(folder / "devices.db"))
    db.execute(f"PRAGMA user_version={DEVICE_SCHEMA.version + 5}")
    db.close()
    config = tmp_path / "serve.toml"
    config.write_text(PORTS + KEY + f'data_dir = "{folder}"\n')
    one_line_exit_2(run_pktcable("serve", "--config", str(config)), "data_dir", "devices.db",
                    "newer than this pktcable")


def test_every_registered_store_file_present_is_backed_up_and_restored(tmp_path: Path) -> None:
    folder = data_dir_with_stores(tmp_path)
    admin = connect(str(folder / "admin.db"), (Table("token", "CREATE TABLE IF NOT EXISTS token (name TEXT)"),),
                    synchronous="FULL")
    admin.execute("INSERT INTO token VALUES ('alice')")
    admin.close()
    (folder / "notes.db").write_bytes(b"not ours")  # not in the registry: never archived
    archive = tmp_path / "b.tar"
    assert run("backup", "--data-dir", str(folder), "--to", str(archive))[0] == 0
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["manifest.json", "devices.db", "leases.db", "admin.db"]
    code, out = run("migrate", "--data-dir", str(folder))
    assert code == 0 and "admin.db: version 0, up to date" in out  # its schema is registered (store/admin.py)
    code, out = run("restore", "--data-dir", str(tmp_path / "copy"), "--from", str(archive))
    assert code == 0 and "admin.db: version 0, restored" in out
    db = sqlite3.connect(str(tmp_path / "copy" / "admin.db"))
    assert db.execute("SELECT name FROM token").fetchall() == [("alice",)]
    db.close()


def test_a_restore_keeps_the_data_dir_owner(tmp_path: Path) -> None:
    """Root restores a service user's data dir: the files stay the service user's. (Run as
    another user, the data dir is that user's own and so are the files.)"""
    import os

    folder = data_dir_with_stores(tmp_path)
    archive = tmp_path / "b.tar"
    assert run("backup", "--data-dir", str(folder), "--to", str(archive))[0] == 0
    owner = (65534, 65534) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    for path in (folder, *folder.iterdir()):
        os.chown(path, *owner)
    assert run("restore", "--data-dir", str(folder), "--from", str(archive))[0] == 0
    for path in (folder, *folder.iterdir()):
        assert (path.stat().st_uid, path.stat().st_gid) == owner, path.name


def test_the_lock_file_belongs_to_the_data_dir_owner(tmp_path: Path) -> None:
    """Root running a store command on a service user's data dir leaves a lock file the
    service can open. (As another user, the data dir and the lock file are that user's.)"""
    import os

    folder = datadir.prepare(tmp_path / "data")
    owner = (65534, 65534) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    os.chown(folder, *owner)
    datadir.lock(folder, exclusive=True).release()
    st = (folder / "lock").stat()
    assert (st.st_uid, st.st_gid) == owner and (st.st_mode & 0o777) == 0o600


def test_reset_names_a_store_newer_than_itself(tmp_path: Path) -> None:
    folder = data_dir_with_stores(tmp_path)
    for name in ("devices.db", "leases.db"):
        db = sqlite3.connect(str(folder / name))
        db.execute("PRAGMA user_version=99")
        db.close()
    for extra in ([], ["--address", "127.0.0.1"]):  # the lease table first, else the device store
        result = CliRunner().invoke(main, ["reset", "001122334455", "--data-dir", str(folder), *extra])
        assert result.exit_code == ExitStatus.USAGE, result.output
        assert "newer than this pktcable" in result.output and "Traceback" not in result.output


def test_a_restore_keeps_the_firmware_catalogue_and_its_owner(tmp_path: Path) -> None:
    """The catalogue (firmware.db and its images in firmware/) is no store of the archive
    (docs/firmware.md): a restore of the device stores leaves it, folder and all, as it was."""
    import os

    from pktcable.store.firmware import SqliteFirmwareStore, make_image

    folder = data_dir_with_stores(tmp_path)
    archive = tmp_path / "b.tar"
    assert run("backup", "--data-dir", str(folder), "--to", str(archive))[0] == 0
    catalogue = SqliteFirmwareStore(folder)
    catalogue.add(make_image("ex.bin", "v", "m", "1", "1.0", b"image", "unsigned", 0.0), b"image")
    catalogue.close()
    owner = (65534, 65534) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    for path in (folder, *folder.rglob("*")):
        os.chown(path, *owner)
    assert run("restore", "--data-dir", str(folder), "--from", str(archive))[0] == 0
    again = SqliteFirmwareStore(folder)
    try:
        assert again.data("ex.bin") == b"image" and [i.filename for i in again.list()] == ["ex.bin"]
    finally:
        again.close()
    for path in (folder / "firmware", folder / "firmware" / "ex.bin"):
        assert (path.stat().st_uid, path.stat().st_gid) == owner, path
