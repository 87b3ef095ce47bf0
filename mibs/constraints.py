"""MIB constraints of a value an SNMP SET would write: type, enum, range, SIZE.

The checks net-snmp makes before it encodes a value for an object (and more:
see docs/config-language.md for where the compiler is stricter than docsis),
and the same range/SIZE checks for each INDEX component in an instance OID.

Pure module: each check returns user-facing problem texts, never raises.
"""

from __future__ import annotations

from collections.abc import Sequence

from mibs.objects import (
    _STRING_KINDS,
    BITS,
    COUNTER32,
    COUNTER64,
    GAUGE32,
    INTEGER,
    IP_ADDRESS,
    OBJECT_IDENTIFIER,
    OCTET_STRING,
    OPAQUE,
    TIMETICKS,
    IndexPart,
    MibObject,
    Ranges,
    format_ranges,
)

# The BER tag each base syntax is sent with (RFC 2578 / RFC 3416).
TAG_OF_SYNTAX: dict[str, int] = {
    INTEGER: 0x02, OCTET_STRING: 0x04, BITS: 0x04, OBJECT_IDENTIFIER: 0x06,
    IP_ADDRESS: 0x40, COUNTER32: 0x41, GAUGE32: 0x42, TIMETICKS: 0x43,
    OPAQUE: 0x44, COUNTER64: 0x46,
}
_NUMBER_KINDS = frozenset({INTEGER, COUNTER32, GAUGE32, TIMETICKS, COUNTER64})


def _within(number: int, ranges: Ranges) -> bool:
    # A loop, not any() over a generator: this runs for every value of a batch.
    for low, high in ranges:
        if low <= number <= high:
            return True
    return False


def _shown(ranges: Ranges) -> str:
    return format_ranges(ranges).replace("|", " or ")


def value_problem(obj: MibObject, tag: int, type_name: str, value: object) -> str | None:
    """Why ``value`` (sent as ``type_name`` with BER ``tag``) does not fit
    ``obj``'s SYNTAX, or None when it does (or nothing is known)."""
    syntax = obj.syntax
    expected = TAG_OF_SYNTAX.get(syntax) if syntax is not None else None
    if expected is None:
        return None
    if tag != expected:
        return f"{obj.name} is {syntax}, not {type_name}"
    if syntax == INTEGER and obj.enums and isinstance(value, int):
        if any(number == value for _label, number in obj.enums):
            return None
        labels = ", ".join(f"{label}({number})" for label, number in obj.enums)
        return f"{value} is not a value of {obj.name}: one of {labels}"
    if not obj.ranges:
        return None
    if syntax in _NUMBER_KINDS and isinstance(value, int):
        if not _within(value, obj.ranges):
            return f"{value} is outside the range of {obj.name} ({_shown(obj.ranges)})"
    elif syntax in _STRING_KINDS and isinstance(value, bytes):
        if not _within(len(value), obj.ranges):
            return (f"{len(value)} bytes do not fit the SIZE of {obj.name} ({_shown(obj.ranges)} bytes)")
    return None


def _part_problem(part: IndexPart, arcs: Sequence[int], number: int, obj: MibObject) -> str | None:
    if part.syntax in _STRING_KINDS:
        if arcs and max(arcs) > 255:
            return f"{_where(number, obj)}: a string index takes octets (0..255)"
        if part.size is None and part.ranges and not _within(len(arcs), part.ranges):
            return f"{_where(number, obj)}: {len(arcs)} octets do not fit its SIZE ({_shown(part.ranges)})"
        return None
    if part.syntax in _NUMBER_KINDS and part.ranges and not _within(arcs[0], part.ranges):
        return f"{_where(number, obj)}: {arcs[0]} is outside its range ({_shown(part.ranges)})"
    return None


def _where(number: int, obj: MibObject) -> str:
    return f"index {number + 1} of {obj.name}"


def index_problems(obj: MibObject, suffix: Sequence[int]) -> list[str]:
    """Problems of the INDEX values in ``suffix`` (the arcs after a column's
    OID): each component against its object's range or SIZE.

    Components the suffix does not reach are not checked: a partial OID is
    a different question from a value out of range.
    """
    problems: list[str] = []
    pos = 0
    last = len(obj.index) - 1
    for number, part in enumerate(obj.index):
        rest = suffix[pos:]
        if not rest:
            break
        if part.syntax in _STRING_KINDS or part.syntax == OBJECT_IDENTIFIER:
            if part.size is not None:
                length, skip = part.size, 0
            elif obj.implied and number == last:
                length, skip = len(rest), 0
            else:
                length, skip = rest[0], 1
            arcs = rest[skip:skip + length]
            if len(arcs) < length:
                break
            pos += skip + length
        elif part.syntax == IP_ADDRESS:
            arcs = rest[:4]
            if len(arcs) < 4:
                break
            if max(arcs) > 255:
                problems.append(f"{_where(number, obj)}: an IpAddress index takes four octets (0..255)")
            pos += 4
            continue
        else:
            arcs = rest[:1]
            pos += 1
        problem = _part_problem(part, arcs, number, obj)
        if problem:
            problems.append(problem)
    return problems
