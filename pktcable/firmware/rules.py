"""Firmware rules and staged rollouts, sans-IO: which catalogue image a device should run.

A :class:`Rule` matches devices by (vendor, model, hardware version), each of which may
be ``*``, and names a target image of the catalogue (its file name and version). It may
be limited to devices now running one of ``from_versions``, and it is staged:

- ``percent``: the share of matching devices that take part, 0 to 100. A device's place
  in the rollout is a number in [0, 10000) from a hash of the rule's name and the MAC
  (:func:`bucket`); it takes part when that number is below ``percent * 100``. The number
  never changes, so a device in at 10% is in at 20% as well, and a device out at 20% was
  out at 10%: raising the percentage only ever adds devices. The rule's name is in the
  hash so that each rollout starts with different devices, not the same unlucky few.
- ``macs``: devices that take part whatever the percentage (a lab bench, a pilot street).
- ``window``: a UTC time of day ``hh:mm-hh:mm`` outside which no upgrade is offered
  (a window may run over midnight: ``22:00-04:00``). The time is an argument.
- ``state``: ``active`` or ``paused``; a paused rule offers nothing, and holds the
  devices it matches (a less specific rule does not take over).
- ``previous``: the target before the last change, what a rollback returns to.

:func:`target_for` picks the rule that governs a device (the most specific match, by how
many of vendor, model and hardware version it names; then by name) and says what it
offers, or why nothing, as a :class:`Decision`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from .errors import FieldError

ANY = "*"
STATES = ("active", "paused")
#: A rule's name: what the API and CLI call it by (a path segment, no quoting needed).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Bounds on what one rule holds: the API takes rules from operators, still bounded.
MAX_MACS = 10_000
MAX_FROM_VERSIONS = 64
MAX_FIELD = 64
#: Buckets per device: percent * 100 of them take part (two decimals of a percent).
BUCKETS = 10_000
_WINDOW = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")
_MAC = re.compile(r"[0-9a-f]{12}")


class RuleError(FieldError):
    """A rule refused; ``field`` names the culprit (``percent``, ``window`` ...)."""


@dataclass(frozen=True, slots=True)
class Window:
    """A UTC time of day range, minutes after midnight; ``end`` before ``start`` runs over midnight."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> Window:
        match = _WINDOW.fullmatch(text)
        if match is None:
            raise RuleError("window", f"{text!r}: give UTC hh:mm-hh:mm, e.g. 02:00-05:00 or 22:00-04:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if (h1, m1) == (h2, m2):
            raise RuleError("window", f"{text!r}: start and end are the same time (leave the window out for always)")
        return cls(h1 * 60 + m1, h2 * 60 + m2)

    def contains(self, now: float) -> bool:
        """Whether the POSIX time ``now`` falls in the window (start inclusive, end exclusive)."""
        at = dt.datetime.fromtimestamp(now, dt.UTC)
        minute = at.hour * 60 + at.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    vendor: str
    model: str
    hw_version: str
    #: The catalogue image offered: its file name (what TLV 9 names) and its version.
    target: str
    target_version: str
    from_versions: tuple[str, ...] = ()
    percent: int = 100
    macs: tuple[str, ...] = ()
    window: str = ""
    state: str = "active"
    #: The target before the last change of target ("" for none): what rollback restores.
    previous: str = ""
    previous_version: str = ""
    updated: float = 0.0

    def __post_init__(self) -> None:
        check_rule(self)

    @property
    def specificity(self) -> int:
        return sum(v != ANY for v in (self.vendor, self.model, self.hw_version))

    def matches(self, device: DeviceFirmware) -> bool:
        return (self.vendor in (ANY, device.vendor) and self.model in (ANY, device.model)
                and self.hw_version in (ANY, device.hw_version))

    def includes(self, mac: str) -> bool:
        """Whether ``mac`` takes part in the rollout's stage (its list, or its bucket under the percentage)."""
        return mac in self.macs or bucket(self.name, mac) < self.percent * (BUCKETS // 100)

    def retarget(self, target: str, target_version: str, now: float) -> Rule:
        """The rule offering another image; the one it offered becomes ``previous``."""
        if target == self.target:
            return replace(self, target_version=target_version, updated=now)
        return replace(self, target=target, target_version=target_version, previous=self.target,
                       previous_version=self.target_version, updated=now)

    def rolled_back(self, now: float) -> Rule:
        """Target := previous (and the rolled-back target becomes previous, so a rollback undoes itself)."""
        if not self.previous:
            raise RuleError("previous", f"rule {self.name!r} has no previous target to roll back to")
        return self.retarget(self.previous, self.previous_version, now)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["from_versions"] = list(self.from_versions)
        out["macs"] = list(self.macs)
        return out


def check_rule(rule: Rule) -> None:
    """Every field of ``rule`` within its bounds; RuleError naming the first that is not."""
    if not isinstance(rule.name, str) or not NAME.fullmatch(rule.name):
        raise RuleError("name", f"{rule.name!r}: letters, digits, '.', '-', '_', starting with a letter or "
                        "digit, up to 64 characters")
    for name in ("vendor", "model", "hw_version", "target", "target_version"):
        _text(name, getattr(rule, name))
    for name in ("previous", "previous_version"):
        if getattr(rule, name):
            _text(name, getattr(rule, name))
    if len(rule.from_versions) > MAX_FROM_VERSIONS:
        raise RuleError("from_versions", f"{len(rule.from_versions)} versions; at most {MAX_FROM_VERSIONS}")
    for version in rule.from_versions:
        _text("from_versions", version)
    if isinstance(rule.percent, bool) or not isinstance(rule.percent, int) or not 0 <= rule.percent <= 100:
        raise RuleError("percent", f"{rule.percent!r}: a whole number from 0 to 100")
    if len(rule.macs) > MAX_MACS:
        raise RuleError("macs", f"{len(rule.macs)} MACs; at most {MAX_MACS}")
    for mac in rule.macs:
        if not isinstance(mac, str) or not _MAC.fullmatch(mac):
            raise RuleError("macs", f"{mac!r}: 12 lower-case hex digits (normalized)")
    if not isinstance(rule.window, str):
        raise RuleError("window", f"{rule.window!r}: UTC hh:mm-hh:mm as text, or empty for always")
    if rule.window:
        Window.parse(rule.window)
    if rule.state not in STATES:
        raise RuleError("state", f"{rule.state!r}: one of {', '.join(STATES)}")


def _text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_FIELD or not value.isprintable():
        raise RuleError(name, f"{value!r}: give 1 to {MAX_FIELD} printable characters")


def bucket(rule_name: str, mac: str) -> int:
    """The device's place in the rule's rollout, in [0, BUCKETS): fixed for the pair."""
    digest = hashlib.sha256(f"{rule_name}\x00{mac}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


@dataclass(frozen=True, slots=True)
class DeviceFirmware:
    """What the back office knows of a device's firmware: who made it (DHCP option 43's
    vendor name, model number, hardware version) and the software it reported running."""

    mac: str
    vendor: str = ""
    model: str = ""
    hw_version: str = ""
    sw_version: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """What :func:`target_for` decided: the image offered (None for none), by which rule, why."""

    image: str | None
    version: str | None
    rule: str | None
    reason: str
    #: The governing rule's target, offered or not (what the device view shows as "target").
    target: str | None = None
    target_version: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, "version": self.version, "rule": self.rule, "reason": self.reason,
                "target": self.target, "target_version": self.target_version}


def governing(device: DeviceFirmware, rules: Iterable[Rule]) -> list[Rule]:
    """The rules that match ``device``, the one that governs it first (most specific, then by name)."""
    found = [r for r in rules if r.matches(device)]
    return sorted(found, key=lambda r: (-r.specificity, r.name))


def target_for(device: DeviceFirmware, rules: Iterable[Rule], now: float) -> Decision:
    """The image ``device`` should be offered at POSIX time ``now``, or None, with the reason.

    The most specific matching rule whose ``from_versions`` admit the device's version
    governs (a rule for 1.x devices and another for 2.x devices of one model can stand
    side by side); nothing matching, or a device that has not named its vendor, gets nothing.
    A field the device did not report matches ``*`` only (a modem without option 43.9 is
    under a rule for its vendor's every model, never under one for a model)."""
    if not device.vendor:
        return Decision(None, None, None, "the device has not reported its vendor")
    candidates = governing(device, rules)
    if not candidates:
        return Decision(None, None, None, "no rule matches the device")
    admitted = [r for r in candidates if not r.from_versions or device.sw_version in r.from_versions]
    if not admitted:
        if any(r.target_version == device.sw_version for r in candidates):
            return Decision(None, None, candidates[0].name, f"already running {device.sw_version}")
        return Decision(None, None, candidates[0].name,
                        f"version {device.sw_version or '(unknown)'} is not one the matching rules upgrade from")
    rule = admitted[0]
    target = {"target": rule.target, "target_version": rule.target_version}
    if rule.state != "active":
        return Decision(None, None, rule.name, f"rule {rule.name} is {rule.state}", **target)
    if device.sw_version == rule.target_version:
        return Decision(None, None, rule.name, f"already running {rule.target_version}", **target)
    if not rule.includes(device.mac):
        return Decision(None, None, rule.name, f"not in the rollout's {rule.percent}% stage "
                        f"(place {bucket(rule.name, device.mac) / (BUCKETS // 100):.2f}%)", **target)
    if rule.window and not Window.parse(rule.window).contains(now):
        return Decision(None, None, rule.name, f"outside the maintenance window {rule.window} UTC", **target)
    return Decision(rule.target, rule.target_version, rule.name,
                    "listed" if device.mac in rule.macs else f"in the {rule.percent}% stage", **target)


__all__ = ["ANY", "BUCKETS", "STATES", "Decision", "DeviceFirmware", "Rule", "RuleError", "Window", "bucket",
           "check_rule", "governing", "target_for"]
