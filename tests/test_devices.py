"""Device stores: every backend behaves alike, the persistent ones survive reopening."""

from __future__ import annotations

from pathlib import Path

import pytest

from pktcable.store.devices import Device, Step, normalize_mac

from .stores import PERSISTENT, device_opener


@pytest.fixture(params=["memory", *PERSISTENT])
def store(request, tmp_path: Path):  # type: ignore[no-untyped-def]
    s = device_opener(request.param, request, tmp_path)()
    yield s
    s.close()


def test_put_get_history(store) -> None:  # type: ignore[no-untyped-def]
    d = Device("001122334455", vars={"line1": "5551234"})
    store.put(d)
    d.vars["line1"] = "changed after put"  # the store keeps its own copy
    store.record(Step(d.mac, 1.0, "MTA-4", "LeaseAcked", "10.0.0.9"))
    store.record(Step(d.mac, 2.0, "H-MTA-15", "EnrollmentReceived"))
    store.commit()
    got = store.get(d.mac)
    assert got is not None and got.vars == {"line1": "5551234"} and got.flow == "HYBRID.2"
    assert [s.step for s in store.history(d.mac)] == ["MTA-4", "H-MTA-15"]
    assert [x.mac for x in store.devices()] == [d.mac]
    assert store.get("ffffffffffff") is None


@pytest.mark.parametrize("backend", PERSISTENT)
def test_survives_reopen(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    opener = device_opener(backend, request, tmp_path)
    s = opener()
    s.put(Device("001122334455", kind="cm"))
    s.record(Step("001122334455", 1.0, "CM-4", "LeaseAcked"))
    s.commit()
    s.close()
    again = opener()
    assert again.get("001122334455").kind == "cm"  # type: ignore[union-attr]
    assert len(again.history("001122334455")) == 1
    again.close()


@pytest.mark.parametrize("text", ["00:11:22:33:44:55", "0011.2233.4455", "00-11-22-33-44-55", "001122334455"])
def test_normalize_mac(text: str) -> None:
    assert normalize_mac(text) == "001122334455"


def test_normalize_mac_rejects() -> None:
    with pytest.raises(ValueError):
        normalize_mac("00:11:22")


def test_delete(store) -> None:  # type: ignore[no-untyped-def]
    store.put(Device("001122334455"))
    store.record(Step("001122334455", 1.0, "MTA-4", "LeaseAcked"))
    store.commit()
    assert store.delete("001122334455") is True
    assert store.get("001122334455") is None and store.history("001122334455") == []
    assert store.delete("001122334455") is False


def test_counts_by_kind_and_state_include_staged_devices(store) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        store.put(Device(f"0000000000{i:02x}", kind="mta", state="PROVISIONED" if i % 2 else "FAILED_SET"))
    store.commit()
    store.put(Device("0000000001ff", kind="cm"))  # staged, not committed yet
    assert store.counts() == {("mta", "PROVISIONED"): 2, ("mta", "FAILED_SET"): 3, ("cm", ""): 1}
