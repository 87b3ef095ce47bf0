"""The firmware store's rules and device versions, for every backend.

Two tables beside the catalogue's (schema migration 1 of the firmware store):

- ``firmware_rule``: the rollout rules (pktcable/firmware/rules.py), one row each, the
  lists as JSON text (a rule is read whole, never searched by a member of its lists);
  the window's column is ``time_window`` (WINDOW is a reserved word in PostgreSQL).
- ``firmware_device``: per MAC, what the device told of itself (vendor, model, hardware
  and software version, from DHCP option 43 or the eMTA's enrollment INFORM), and
  ``firmware_device_version``: each software version it was seen running, newest
  :data:`VERSION_HISTORY` kept, a row only when the version changes (a device that
  reboots a thousand times on one version costs one row).

The backends share the SQL (``?`` parameters; PostgreSQL's store converts them) through
:class:`SqlRules`, which needs only ``_rows`` and ``_run`` from its class.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pktcable.firmware.rules import DeviceFirmware, Rule

from .sqlite import Migration

#: Software versions kept per device (the newest).
VERSION_HISTORY = 50
#: Where a reported version came from: option 43, an eMTA's enrollment INFORM, a SIP phone's SUBSCRIBE.
SOURCES = ("dhcp", "inform", "sip")

_RULE_COLUMNS = ("name, vendor, model, hw_version, target, target_version, from_versions, percent, macs, "
                 "time_window, state, previous, previous_version, updated")
_RULE_SQL = ("CREATE TABLE IF NOT EXISTS firmware_rule (name TEXT PRIMARY KEY, vendor TEXT NOT NULL, "
             "model TEXT NOT NULL, hw_version TEXT NOT NULL, target TEXT NOT NULL, target_version TEXT NOT NULL, "
             "from_versions TEXT NOT NULL, percent INTEGER NOT NULL, macs TEXT NOT NULL, time_window TEXT NOT NULL, "
             "state TEXT NOT NULL, previous TEXT NOT NULL, previous_version TEXT NOT NULL, updated {real} NOT NULL)")
_DEVICE_SQL = ("CREATE TABLE IF NOT EXISTS firmware_device (mac TEXT PRIMARY KEY, vendor TEXT NOT NULL, "
               "model TEXT NOT NULL, hw_version TEXT NOT NULL, sw_version TEXT NOT NULL, seen {real} NOT NULL)")
_HISTORY_SQL = ("CREATE TABLE IF NOT EXISTS firmware_device_version (mac TEXT NOT NULL, at {real} NOT NULL, "
                "sw_version TEXT NOT NULL, source TEXT NOT NULL)")
_HISTORY_INDEX = "CREATE INDEX IF NOT EXISTS firmware_device_version_mac ON firmware_device_version (mac, at)"

#: Migration 1 of the firmware store: the rules and the devices' versions.
RULES_MIGRATION = Migration(
    "rules and device versions",
    (_RULE_SQL.format(real="REAL"), _DEVICE_SQL.format(real="REAL"), _HISTORY_SQL.format(real="REAL"),
     _HISTORY_INDEX),
    postgresql=(_RULE_SQL.format(real="DOUBLE PRECISION"), _DEVICE_SQL.format(real="DOUBLE PRECISION"),
                _HISTORY_SQL.format(real="DOUBLE PRECISION"), _HISTORY_INDEX),
)


@dataclass(frozen=True, slots=True)
class VersionSeen:
    """One software version a device reported, when first seen in a row of reports, and how."""

    at: float
    sw_version: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "sw_version": self.sw_version, "source": self.source}


def merge(old: DeviceFirmware | None, new: DeviceFirmware) -> DeviceFirmware:
    """What a report adds to what was known: an empty field keeps the value before (an
    eMTA's INFORM tells its software version only, its DHCP option 43 tells the rest)."""
    if old is None:
        return new
    return replace(old, **{k: getattr(new, k) for k in ("vendor", "model", "hw_version", "sw_version")
                           if getattr(new, k)})


def rule_row(rule: Rule) -> tuple[Any, ...]:
    return (rule.name, rule.vendor, rule.model, rule.hw_version, rule.target, rule.target_version,
            json.dumps(list(rule.from_versions)), rule.percent, json.dumps(list(rule.macs)), rule.window,
            rule.state, rule.previous, rule.previous_version, rule.updated)


def rule_of(row: Sequence[Any]) -> Rule:
    (name, vendor, model, hw, target, target_version, from_versions, percent, macs, window, state, previous,
     previous_version, updated) = row
    return Rule(name, vendor, model, hw, target, target_version, tuple(json.loads(from_versions)), int(percent),
                tuple(json.loads(macs)), window, state, previous, previous_version, float(updated))


class RuleExists(ValueError):
    """A rule of that name is already there."""


class MemoryRules:
    """The rules and device versions of :class:`~pktcable.store.firmware.MemoryFirmwareStore`."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}
        self._devices: dict[str, DeviceFirmware] = {}
        self._seen: dict[str, float] = {}
        self._versions: dict[str, list[VersionSeen]] = {}

    def add_rule(self, rule: Rule) -> None:
        if rule.name in self._rules:
            raise RuleExists(f"rule {rule.name!r} already exists")
        self._rules[rule.name] = rule

    def put_rule(self, rule: Rule) -> None:
        self._rules[rule.name] = rule

    def rule(self, name: str) -> Rule | None:
        return self._rules.get(name)

    def rules(self) -> list[Rule]:
        return [self._rules[n] for n in sorted(self._rules)]

    def delete_rule(self, name: str) -> bool:
        return self._rules.pop(name, None) is not None

    def record_device(self, report: DeviceFirmware, source: str, at: float) -> bool:
        old = self._devices.get(report.mac)
        new = merge(old, report)
        self._devices[report.mac] = new
        self._seen[report.mac] = at
        if not new.sw_version or (old is not None and old.sw_version == new.sw_version):
            return False
        history = self._versions.setdefault(report.mac, [])
        history.insert(0, VersionSeen(at, new.sw_version, source))
        del history[VERSION_HISTORY:]
        return True

    def device(self, mac: str) -> DeviceFirmware | None:
        return self._devices.get(mac)

    def versions(self, mac: str) -> list[VersionSeen]:
        return list(self._versions.get(mac, ()))

    def forget_device(self, mac: str) -> bool:
        self._versions.pop(mac, None)
        self._seen.pop(mac, None)
        return self._devices.pop(mac, None) is not None


class SqlRules:
    """The same over SQL; the class provides ``_rows(sql, args)`` (a read) and
    ``_run(statements)`` (writes in one transaction, each ``(sql, args)``; returns each
    statement's row count)."""

    # Supplied by the backend class this mixes into (SQLite's or PostgreSQL's store).
    _rows: Callable[..., list[tuple[Any, ...]]]
    _run: Callable[[Sequence[tuple[str, tuple[Any, ...]]]], list[int]]

    def add_rule(self, rule: Rule) -> None:
        if self.rule(rule.name) is not None:
            raise RuleExists(f"rule {rule.name!r} already exists")
        try:
            self._run([(f"INSERT INTO firmware_rule ({_RULE_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                        rule_row(rule))])
        except Exception:  # a unique violation from a concurrent add (each driver names its own)
            if self.rule(rule.name) is not None:
                raise RuleExists(f"rule {rule.name!r} already exists") from None
            raise

    def put_rule(self, rule: Rule) -> None:
        row = rule_row(rule)
        self._run([("DELETE FROM firmware_rule WHERE name = ?", (rule.name,)),
                   (f"INSERT INTO firmware_rule ({_RULE_COLUMNS}) VALUES ({', '.join('?' * 14)})", row)])

    def rule(self, name: str) -> Rule | None:
        rows = self._rows(f"SELECT {_RULE_COLUMNS} FROM firmware_rule WHERE name = ?", (name,))
        return rule_of(rows[0]) if rows else None

    def rules(self) -> list[Rule]:
        return [rule_of(r) for r in self._rows(f"SELECT {_RULE_COLUMNS} FROM firmware_rule ORDER BY name")]

    def delete_rule(self, name: str) -> bool:
        return self._run([("DELETE FROM firmware_rule WHERE name = ?", (name,))])[0] > 0

    def record_device(self, report: DeviceFirmware, source: str, at: float) -> bool:
        old = self.device(report.mac)
        new = merge(old, report)
        statements: list[tuple[str, tuple[Any, ...]]] = [
            ("DELETE FROM firmware_device WHERE mac = ?", (new.mac,)),
            ("INSERT INTO firmware_device (mac, vendor, model, hw_version, sw_version, seen) VALUES (?,?,?,?,?,?)",
             (new.mac, new.vendor, new.model, new.hw_version, new.sw_version, at))]
        changed = bool(new.sw_version) and (old is None or old.sw_version != new.sw_version)
        if changed:
            statements.append(("INSERT INTO firmware_device_version (mac, at, sw_version, source) VALUES (?,?,?,?)",
                               (new.mac, at, new.sw_version, source)))
            # Bounded: the newest VERSION_HISTORY rows stay (a device flapping between two
            # images, or a sender making it look so, cannot grow its history).
            statements.append(("DELETE FROM firmware_device_version WHERE mac = ? AND at < (SELECT MIN(at) FROM "
                               "(SELECT at FROM firmware_device_version WHERE mac = ? ORDER BY at DESC LIMIT ?) "
                               "AS newest)", (new.mac, new.mac, VERSION_HISTORY)))
        self._run(statements)
        return changed

    def device(self, mac: str) -> DeviceFirmware | None:
        rows = self._rows("SELECT mac, vendor, model, hw_version, sw_version FROM firmware_device WHERE mac = ?",
                          (mac,))
        return DeviceFirmware(*rows[0]) if rows else None

    def versions(self, mac: str) -> list[VersionSeen]:
        rows = self._rows("SELECT at, sw_version, source FROM firmware_device_version WHERE mac = ? "
                          "ORDER BY at DESC LIMIT ?", (mac, VERSION_HISTORY))
        return [VersionSeen(float(at), version, source) for at, version, source in rows]

    def forget_device(self, mac: str) -> bool:
        counts = self._run([("DELETE FROM firmware_device_version WHERE mac = ?", (mac,)),
                            ("DELETE FROM firmware_device WHERE mac = ?", (mac,))])
        return counts[1] > 0


__all__ = ["RULES_MIGRATION", "SOURCES", "VERSION_HISTORY", "MemoryRules", "RuleExists", "SqlRules",
           "VersionSeen", "merge"]
