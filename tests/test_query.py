"""Device queries: filters, sorts, keyset pages, summaries; memory, SQLite and PostgreSQL alike."""

from __future__ import annotations

import random
import tempfile
import threading
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pktcable.flow import FINAL_STATES, SERVER_TABLES, Flow
from pktcable.flow.tables import ServerState
from pktcable.store.devices import Device, DeviceStore, MemoryDeviceStore, SqliteDeviceStore
from pktcable.store.query import (
    FAIL_RESULTS,
    MAX_LIMIT,
    PASS_RESULTS,
    SORTS,
    DeviceQuery,
    Page,
    QueryError,
    failed_step,
    outcome,
    parse_query,
)

from .stores import PERSISTENT, device_opener

MTA_STATES = ["", "LEASED", "ENROLLED", "FAILED_SET", "FAILED_BUILD", "DONE", "TIMED_OUT", "FILE_DELIVERED"]
CM_STATES = ["", "LEASED", "CONFIG_SERVED", "CONFIG_FAILED"]
STATES = MTA_STATES + CM_STATES[2:]
#: Those of STATES that end a run (the flow tables say so; written out here to check them).
ENDS = {"FAILED_SET", "FAILED_BUILD", "DONE", "TIMED_OUT", "FILE_DELIVERED", "CONFIG_SERVED", "CONFIG_FAILED"}


@pytest.fixture(params=["memory", *PERSISTENT])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeviceStore]:
    s: DeviceStore = device_opener(request.param, request, tmp_path)()
    yield s
    s.close()


def result_for(state: str, rng: random.Random) -> int | None:
    if state in ("FAILED_SET", "FAILED_BUILD", "TIMED_OUT", "CONFIG_FAILED"):
        return 7
    if state == "CONFIG_SERVED":
        return 1
    if state == "DONE":
        return rng.choice([1, 1, 4, 3])
    return None


def fleet(n: int, seed: int = 7) -> list[Device]:
    rng = random.Random(seed)
    devices = []
    for i in range(n):
        kind = "cm" if i % 5 == 0 else "mta"
        state = rng.choice(CM_STATES if kind == "cm" else MTA_STATES)
        ip = "" if kind == "cm" or i % 7 == 0 else f"10.{1 + i % 3}.{(i // 250) % 256}.{i % 250}"
        devices.append(Device(f"00{rng.randrange(16**10):010x}", kind=kind, flow="" if kind == "cm" else
                              rng.choice(["HYBRID.2", "HYBRID.1", "BASIC.2"]), ip=ip, state=state,
                              result=result_for(state, rng), updated=1000.0 + rng.randrange(500) / 4))
    return devices


def fill(store: DeviceStore, devices: list[Device]) -> None:
    for d in devices:
        store.put(d)
    store.commit()


def every_page(store: DeviceStore, **kw: Any) -> list[Page]:
    pages = [store.query(DeviceQuery(**kw))]
    while pages[-1].next is not None:
        pages.append(store.query(DeviceQuery(**kw, cursor=pages[-1].next)))
        assert len(pages) < 10_000
    return pages


def macs(pages: list[Page]) -> list[str]:
    return [d.mac for p in pages for d in p.items]


# --- what a state means ---------------------------------------------------------------------


def test_outcome_from_state_and_result() -> None:
    assert outcome("", None) == "new" and outcome("", 7) == "new"
    assert [outcome("DONE", r) for r in PASS_RESULTS] == ["pass"] * 3
    assert [outcome("FAILED_SET", r) for r in FAIL_RESULTS] == ["fail"] * 3
    assert outcome("LEASED", None) == "pending"
    # Its run ended without a passing result (inProgress is no pass).
    assert outcome("DONE", 2) == "fail"
    # A .1 flow's last state reports nothing: the server delivered all the flow asks.
    assert outcome("FILE_DELIVERED", None) == "pass"
    # Booted again after a pass: the old result does not make the new run pass.
    assert outcome("LEASED", 1) == "pending"
    # A CM's states mean the same.
    assert [outcome("CONFIG_SERVED", 1), outcome("CONFIG_FAILED", 7)] == ["pass", "fail"]


def test_failed_step_comes_from_the_flow_server_table() -> None:
    for flow, table in SERVER_TABLES.items():
        for state, info in table.states.items():
            failing = info.final and info.result in FAIL_RESULTS
            assert failed_step("mta", flow.value, state.name) == (info.step if failing else None)
            assert failed_step("mta", flow.value, state.name, info.result) == (info.step if failing else None)
    hybrid = SERVER_TABLES[Flow.HYBRID_2].states
    assert failed_step("mta", "HYBRID.2", "FAILED_SET") == hybrid[ServerState.FAILED_SET].step == "H-MTA-19"
    # A status INFORM reporting a failure: DONE with a failing result failed at DONE's step.
    assert failed_step("mta", "HYBRID.2", "DONE", 3) == hybrid[ServerState.DONE].step
    assert failed_step("mta", "HYBRID.2", "DONE", 1) is None
    assert failed_step("cm", "", "FAILED_SET", 7) is None
    # A CM's failure is the CM table's, whatever flow its row carries.
    assert failed_step("cm", "", "CONFIG_FAILED", 7) == failed_step("cm", "HYBRID.2", "CONFIG_FAILED") == "CM-5/6"
    assert failed_step("cm", "", "CONFIG_SERVED", 1) is None
    assert failed_step("mta", "NO.SUCH", "FAILED_SET", 7) is None
    assert failed_step("mta", "BASIC.1", "FAILED_SET", 7) is None  # not a state of the Basic tables


def test_the_states_that_end_a_run_are_the_tables_final_ones() -> None:
    assert ENDS == FINAL_STATES & set(STATES)


# --- filters ---------------------------------------------------------------------------------


FILTERS: list[tuple[dict[str, Any], Any]] = [
    ({"kind": "cm"}, lambda d: d.kind == "cm"),
    ({"flow": "HYBRID.1"}, lambda d: d.flow == "HYBRID.1"),
    ({"states": ("FAILED_SET", "DONE")}, lambda d: d.state in ("FAILED_SET", "DONE")),
    ({"outcome": "fail"}, lambda d: d.state in ENDS and d.result is not None and d.result not in (1, 4, 5)),
    ({"outcome": "pass"}, lambda d: d.state in ENDS and d.result in (None, 1, 4, 5)),
    ({"outcome": "pending"}, lambda d: d.state not in ENDS and d.state != ""),
    ({"outcome": "new"}, lambda d: d.state == ""),
    ({"failed_step": "H-MTA-19"}, lambda d: d.kind == "mta" and d.flow.startswith("HYBRID")
     and d.state == "FAILED_SET"),
    ({"failed_step": "MTA-1...25"}, lambda d: d.kind == "mta" and d.state == "TIMED_OUT"),
    ({"failed_step": "H-MTA-25"}, lambda d: d.kind == "mta" and d.flow == "HYBRID.2" and d.state == "DONE"
     and d.result == 3),
    ({"failed_step": "CM-5/6"}, lambda d: d.kind == "cm" and d.state == "CONFIG_FAILED" and d.result in (None, 3, 6, 7)),
    ({"mac_prefix": "00:1"}, lambda d: d.mac.startswith("001")),
    ({"address": "10.2."}, lambda d: d.ip.startswith("10.2.")),
    ({"address": "10.1.0.3"}, lambda d: d.ip == "10.1.0.3"),
    ({"address": "10.1.0"}, lambda d: d.ip.startswith("10.1.0")),
    ({"address": "10.1.0."}, lambda d: d.ip.startswith("10.1.0.")),
    ({"updated_since": 1100.0}, lambda d: d.updated >= 1100.0),
    ({"text": "failed"}, lambda d: "FAILED" in d.state),
    # Dotted groups of up to three digits are an address, never the MAC fragment 0102.
    ({"text": "0.1.0.2"}, lambda d: "0.1.0.2" in d.ip),
    ({"text": "10.1.0."}, lambda d: "10.1.0." in d.ip),
    ({"text": "00:a"}, lambda d: "00a" in d.mac or "00:A" in d.state),
    ({"kind": "mta", "outcome": "fail", "address": "10.3."},
     lambda d: d.kind == "mta" and d.state in ENDS and d.result not in (None, 1, 4, 5) and d.ip.startswith("10.3.")),
]


@pytest.mark.parametrize(("filters", "expected"), FILTERS, ids=[repr(f) for f, _ in FILTERS])
def test_each_filter(store: DeviceStore, filters: dict[str, Any], expected: Any) -> None:
    devices = fleet(600)
    fill(store, devices)
    want = sorted(d.mac for d in devices if expected(d))
    assert want, "the fleet has devices this filter should find"
    pages = every_page(store, **filters, limit=37)
    assert macs(pages) == want
    assert {p.total for p in pages} == {len(want)}


# --- sorts -----------------------------------------------------------------------------------


def reference_key(sort: str, d: Device) -> Any:
    if sort == "ip":
        return int(IPv4Address(d.ip)) if d.ip else -1
    return getattr(d, sort)


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("sort", list(SORTS))
def test_each_sort_both_directions(store: DeviceStore, sort: str, descending: bool) -> None:
    devices = fleet(400, seed=11)
    fill(store, devices)
    want = [d.mac for d in sorted(devices, key=lambda d: (reference_key(sort, d), d.mac), reverse=descending)]
    assert macs(every_page(store, sort=sort, descending=descending, limit=23)) == want
    assert macs(every_page(store, sort=sort, descending=descending, limit=MAX_LIMIT)) == want


def test_addresses_sort_as_numbers_not_text(store: DeviceStore) -> None:
    fill(store, [Device("000000000001", ip="10.1.0.10"), Device("000000000002", ip="10.1.0.9"),
                 Device("000000000003", ip="")])
    assert [d.ip for d in store.query(DeviceQuery(sort="ip")).items] == ["", "10.1.0.9", "10.1.0.10"]


# --- pages -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", ["mac", "state", "kind", "ip"])
def test_paging_visits_each_device_once_while_devices_change(store: DeviceStore, sort: str) -> None:
    devices = fleet(2500, seed=3)
    fill(store, devices)
    rng = random.Random(5)
    seen: list[str] = []
    cursor = None
    while True:
        page = store.query(DeviceQuery(sort=sort, limit=97, cursor=cursor))
        seen += [d.mac for d in page.items]
        # Between pages the server goes on: devices change (but not the sort key), new ones arrive
        # after the cursor's end of the order, and none is lost or visited twice.
        for d in rng.sample(devices, 40):
            changed = store.get(d.mac)
            assert changed is not None
            changed.updated += 1000.0
            changed.result = 7 if changed.result is None else None
            changed.vars = {"touched": len(seen)}
            store.put(changed)
        store.commit()
        if page.next is None:
            break
        cursor = page.next
    assert sorted(seen) == sorted(d.mac for d in devices)
    assert len(seen) == len(set(seen)) == 2500


def test_live_updates_by_updated_since(store: DeviceStore) -> None:
    devices = fleet(300)
    fill(store, devices)
    last = max(d.updated for d in devices)
    changed = sorted(random.Random(1).sample(devices, 12), key=lambda d: d.mac)
    for n, d in enumerate(changed):
        d.updated, d.state = last + 1 + n, "DONE"
        store.put(d)
    store.commit()
    page = store.query(DeviceQuery(sort="updated", updated_since=last + 0.5))
    assert [d.mac for d in page.items] == [d.mac for d in changed] and page.total == 12


@pytest.mark.parametrize(("kw", "parameter"), [
    ({"limit": 0}, "limit"), ({"limit": MAX_LIMIT + 1}, "limit"), ({"limit": True}, "limit"),
    ({"limit": "10"}, "limit"), ({"sort": "vars"}, "sort"), ({"sort": "-mac"}, "sort"),
    ({"cursor": "not-a-cursor"}, "cursor"), ({"cursor": "W10"}, "cursor"), ({"cursor": "x" * 600}, "cursor"),
    ({"cursor": "ü"}, "cursor"), ({"kind": "emta"}, "kind"), ({"outcome": "failed"}, "outcome"),
    ({"mac_prefix": "00:zz"}, "mac"), ({"mac_prefix": "0" * 13}, "mac"), ({"address": "10.1.0.256"}, "address"),
    ({"address": "10.1.0.1.2"}, "address"), ({"address": "ten."}, "address"),
    ({"updated_since": float("nan")}, "updated_since"), ({"text": "x" * 65}, "q"),
    ({"states": "DONE"}, "state"), ({"states": tuple(f"S{i}" for i in range(33))}, "state"),
])
def test_bad_parameters_are_query_errors_naming_them(kw: dict[str, Any], parameter: str) -> None:
    with pytest.raises(QueryError) as caught:
        DeviceQuery(**kw)
    assert caught.value.parameter == parameter and str(caught.value).startswith(f"{parameter}: ")


def test_a_cursor_belongs_to_its_sort_and_direction(store: DeviceStore) -> None:
    fill(store, fleet(50))
    cursor = store.query(DeviceQuery(sort="updated", limit=10)).next
    assert cursor is not None
    store.query(DeviceQuery(sort="updated", limit=10, cursor=cursor))
    for kw in ({"sort": "mac"}, {"sort": "updated", "descending": True}):
        with pytest.raises(QueryError, match="^cursor: made for sort updated"):
            DeviceQuery(**kw, cursor=cursor)
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    with pytest.raises(QueryError, match="^cursor"):
        DeviceQuery(sort="updated", cursor=tampered)


def test_parse_query_from_url_parameters() -> None:
    q = parse_query({"state": ["DONE", "FAILED_SET"], "sort": ["-updated"], "limit": ["50"], "mac": ["00-11"],
                     "updated_since": ["17.5"], "q": ["fail"], "outcome": ["fail"], "address": ["10.1."]})
    assert q == DeviceQuery(states=("DONE", "FAILED_SET"), sort="updated", descending=True, limit=50,
                            mac_prefix="0011", updated_since=17.5, text="fail", outcome="fail", address="10.1.")
    assert parse_query({}) == DeviceQuery()
    for params, parameter in (({"limit": ["ten"]}, "limit"), ({"limit": ["-1"]}, "limit"),
                              ({"updated_since": ["soon"]}, "updated_since"), ({"colour": ["red"]}, "colour"),
                              ({"kind": ["cm", "mta"]}, "kind"), ({"sort": ["-"]}, "sort")):
        with pytest.raises(QueryError) as caught:
            parse_query(params)
        assert caught.value.parameter == parameter


# --- summary ---------------------------------------------------------------------------------


def test_summary_failing_first_then_by_count(store: DeviceStore) -> None:
    devices = fleet(700, seed=9)
    fill(store, devices)
    rows = store.summary()
    assert sum(r.count for r in rows) == 700
    fails = [r for r in rows if r.outcome == "fail"]
    assert rows[:len(fails)] == fails and fails
    assert [r.count for r in fails] == sorted((r.count for r in fails), reverse=True)
    rest = rows[len(fails):]
    assert [r.count for r in rest] == sorted((r.count for r in rest), reverse=True)
    for r in rows:
        group = [d for d in devices if (d.kind, d.state, outcome(d.state, d.result),
                                        failed_step(d.kind, d.flow, d.state, d.result))
                 == (r.kind, r.state, r.outcome, r.failed_step)]
        assert len(group) == r.count
    failed_set = next(r for r in rows if r.state == "FAILED_SET")
    assert failed_set.failed_step == "H-MTA-19" and failed_set.outcome == "fail"


# --- memory and SQLite agree -----------------------------------------------------------------

_macs = st.sampled_from([f"{p}{i:02x}" for p in ("0011223344", "00112233aa", "0a0b0c0d0e") for i in range(6)])
_devices = st.lists(st.builds(
    Device, mac=_macs, kind=st.sampled_from(["cm", "mta"]),
    flow=st.sampled_from(["HYBRID.2", "HYBRID.1", "BASIC.1", "BASIC.2", ""]),
    ip=st.sampled_from(["", "10.1.0.5", "10.1.0.50", "10.1.1.5", "10.10.0.1", "192.168.0.1", "10.1.0.9"]),
    state=st.sampled_from(STATES + ["failed_set"]),
    result=st.none() | st.integers(-2, 9),
    updated=st.sampled_from([0.0, 1.5, 1e9 + 0.25]),
), max_size=25, unique_by=lambda d: d.mac)
_filters = {
    "kind": st.sampled_from(["cm", "mta"]),
    "flow": st.sampled_from(["HYBRID.2", "BASIC.1", ""]),
    "states": st.lists(st.sampled_from(STATES), max_size=3).map(tuple),
    "outcome": st.sampled_from(["pass", "fail", "pending", "new"]),
    "failed_step": st.sampled_from(["H-MTA-19", "H-MTA-18", "MTA-1...25", "H-MTA-25", "MTA-25", "x"]),
    "mac_prefix": st.sampled_from(["", "0011", "00:11:22:33:aa", "0a", "f"]),
    "address": st.sampled_from(["", "10.1.", "10.1", "10.1.0.5", "192.", "10.1.0", "10.1.0."]),
    "updated_since": st.sampled_from([0.0, 1.5, 1e9 + 0.25]),
    "text": st.sampled_from(["", "fail", "SET", "10.1", "0.5", "aa", "44:5", "done", "zz"]),
}
# A few filters at a time: with all of them together nearly every answer would be empty.
_queries = st.lists(st.sampled_from(sorted(_filters)), max_size=3, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries({
        **{k: _filters[k] for k in keys},
        "sort": st.sampled_from(list(SORTS)), "descending": st.booleans(), "limit": st.integers(1, 7)}))


@pytest.mark.parametrize("backend", PERSISTENT)
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(devices=_devices, query=_queries)
def test_memory_and_a_database_give_the_same_answers(backend: str, request: pytest.FixtureRequest,
                                                      devices: list[Device], query: dict[str, Any]) -> None:
    # The backend's location is the test's (one PostgreSQL schema for every example):
    # each example empties it before its own rows go in.
    with tempfile.TemporaryDirectory() as tmp:
        opener = device_opener(backend, request, Path(tmp))
        stores: list[DeviceStore] = [MemoryDeviceStore(), opener()]
        try:
            for mac in [d.mac for d in stores[1].devices()]:
                stores[1].delete(mac)
            answers = []
            for s in stores:
                fill(s, devices)
                answers.append([(p.items, p.next, p.total) for p in every_page(s, **query)])
            assert answers[0] == answers[1]
            assert [r for r in stores[0].summary()] == stores[1].summary()
        finally:
            for s in stores:
                s.close()


# --- threads ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", PERSISTENT)
def test_query_from_a_thread_while_another_thread_commits(backend: str, request: pytest.FixtureRequest,
                                                          tmp_path: Path) -> None:
    store = device_opener(backend, request, tmp_path)()
    devices = fleet(500)
    fill(store, devices)
    fleet_macs = sorted(d.mac for d in devices)
    stop = threading.Event()
    written = [0]
    errors: list[BaseException] = []

    def writer() -> None:
        """The server: new devices (after the fleet in MAC order) and changes to the fleet's
        devices that keep them where they are in the reader's order and filter."""
        try:
            rng = random.Random(2)
            while not stop.is_set() and written[0] < 50_000:
                for _ in range(20):
                    written[0] += 1
                    store.put(Device(f"ff{written[0]:010x}", state="DONE", result=1, ip="10.9.0.1", updated=2000.0))
                    d = rng.choice(devices)
                    d.updated, d.vars = d.updated + 1, {"n": written[0]}
                    store.put(d)
                store.commit()
                stop.wait(0.001)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    def reader(out: list[tuple[list[str], int, int]]) -> None:
        try:
            for _ in range(30):
                pages = every_page(store, mac_prefix="00", limit=64)
                out.append((macs(pages), pages[0].total, store.query(DeviceQuery(limit=1)).total))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    seen: list[tuple[list[str], int, int]] = []
    w = threading.Thread(target=writer)
    r = threading.Thread(target=reader, args=(seen,))
    w.start(), r.start()
    r.join(timeout=600)
    stop.set()
    w.join(timeout=60)
    assert not errors, errors
    assert not r.is_alive() and len(seen) == 30
    for got, total, _ in seen:
        assert got == fleet_macs and total == len(fleet_macs)
    everything = [n for _, _, n in seen]
    assert everything == sorted(everything) and everything[0] >= 500  # snapshots only ever grow
    store.commit()
    assert store.query(DeviceQuery(limit=1)).total == 500 + written[0]
    store.close()


# --- the entity writes what outcome and failed_step read ---------------------------------------


@pytest.mark.parametrize("case", ["build", "set", "budget"])
def test_the_entity_stores_the_result_of_a_failing_final_state(case: str) -> None:
    import asyncio

    from pktcable.flow.tables import SERVER_BUDGET
    from pktcable.snmp import message as m

    from .test_provision import ENROLL, MAC, FakeSnmp, Files, inform, make, settle

    async def scenario() -> None:
        entity, store, clock = make(Files(fail=case == "build"),
                                    FakeSnmp(error=m.ErrorStatus.NOT_WRITABLE) if case == "set" else FakeSnmp())
        if case == "budget":
            entity.lease_acked(MAC, "HYBRID.2", "10.0.0.9")
            clock.now += SERVER_BUDGET
            entity.check_timers()
        else:
            entity.handle(inform(ENROLL), ("10.0.0.9", 50000))
            await settle(entity)
        store.commit()
        device = store.get(MAC)
        assert device is not None
        state = {"build": "FAILED_BUILD", "set": "FAILED_SET", "budget": "TIMED_OUT"}[case]
        info = next(i for s, i in SERVER_TABLES[Flow.HYBRID_2].states.items() if s.name == state)
        assert device.state == state and device.result == info.result == 7
        assert outcome(device.state, device.result) == "fail"
        assert failed_step(device.kind, device.flow, device.state, device.result) == info.step
        page = store.query(DeviceQuery(outcome="fail", failed_step=info.step))
        assert [d.mac for d in page.items] == [MAC]

    asyncio.run(scenario())


def test_error_messages_do_not_echo_long_values() -> None:
    for kw in ({"sort": "x" * 100_000}, {"kind": "k" * 100_000}, {"outcome": "o" * 100_000},
               {"mac_prefix": "z" * 60}):
        with pytest.raises(QueryError) as caught:
            DeviceQuery(**kw)
        assert len(str(caught.value)) < 300


def test_a_page_holds_copies(store: DeviceStore) -> None:
    fill(store, [Device("001122334455", vars={"a": 1})])
    store.query(DeviceQuery()).items[0].vars["a"] = 2
    got = store.get("001122334455")
    assert got is not None and got.vars == {"a": 1}


def test_an_in_memory_sqlite_store_answers_queries() -> None:
    s = SqliteDeviceStore(":memory:")
    fill(s, fleet(30))
    assert s.query(DeviceQuery(limit=1000)).total == 30 and sum(r.count for r in s.summary()) == 30
    s.close()
