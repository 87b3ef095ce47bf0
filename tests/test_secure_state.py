"""The provisioning entity's Secure state: one SNMPv3 user per device at our USM engine. A
device re-keyed under a new usmUserName leaves no stale keys behind, a device deleted from
the store takes its keys with it, and a name another device has since keyed under is kept."""

from __future__ import annotations

from pktcable.provision.secureentity import SecureState
from pktcable.secure.kmkeys import SnmpSa
from pktcable.snmp.usm import AuthProtocol, PrivProtocol
from pktcable.snmp.usmengine import UsmEngine

OURS = b"\x80\x00\x1f\x88\x80server01"


def association(user: str, engine: bytes = b"\x80\x00\x1f\x88\x80mta-0001") -> SnmpSa:
    return SnmpSa(engine, user, AuthProtocol.HMAC_MD5_96, b"\x11" * 16, PrivProtocol.DES, b"\x22" * 16,
                  lifetime=3600, grace_period=600, established=0.0, engine_boots=1, engine_time=5)


def users(engine: UsmEngine) -> set[bytes]:
    return {name for (engine_id, name) in engine.users if engine_id == OURS}


def test_a_rekey_under_a_new_name_replaces_the_old_users_keys() -> None:
    engine, state = UsmEngine(OURS), SecureState()
    state.adopt("0a0000000001", association("mta-a"), engine, now=10.0)
    assert users(engine) == {b"mta-a"} and state.v3_users_by_name == {b"mta-a": "0a0000000001"}
    state.adopt("0a0000000001", association("mta-a2"), engine, now=20.0)
    assert users(engine) == {b"mta-a2"} and state.v3_users_by_name == {b"mta-a2": "0a0000000001"}
    # The same name again: one user, the new keys.
    state.adopt("0a0000000001", association("mta-a2"), engine, now=30.0)
    assert users(engine) == {b"mta-a2"}


def test_forgetting_a_device_drops_its_association_and_keys() -> None:
    engine, state = UsmEngine(OURS), SecureState()
    state.adopt("0a0000000001", association("mta-a"), engine, now=10.0)
    state.adopt("0a0000000002", association("mta-b"), engine, now=10.0)
    state.refusal_at["0a0000000001"] = 5.0
    state.forget("0a0000000001", engine)
    assert users(engine) == {b"mta-b"}
    assert "0a0000000001" not in state.associations and "0a0000000001" not in state.refusal_at
    assert state.v3_users_by_name == {b"mta-b": "0a0000000002"}
    state.forget("0a0000000001", engine)  # twice: nothing more happens
    assert users(engine) == {b"mta-b"}


def test_a_name_another_device_keyed_under_since_is_kept() -> None:
    engine, state = UsmEngine(OURS), SecureState()
    state.adopt("0a0000000001", association("shared"), engine, now=10.0)
    state.adopt("0a0000000002", association("shared"), engine, now=11.0)
    state.forget("0a0000000001", engine)
    assert users(engine) == {b"shared"} and state.v3_users_by_name == {b"shared": "0a0000000002"}
