"""Finding devices: the filters, sorts and pages the REST API and the dashboard ask for.

A :class:`DeviceQuery` is checked when it is made (:class:`QueryError` names the
parameter and says why), so a store only ever runs a valid one. Pages are keyset
pages, never OFFSET: the cursor carries the sort key and the MAC of the last row
of the page, and the next page starts after that pair. So a page deep into
100,000 devices costs what the first one does, and a device changed between two
pages is neither skipped nor seen twice unless the change moved it across the
cursor in the sort order (``sort=updated`` does that on purpose: what changed
comes again, at the end).

Both stores answer from this module: the SQLite store through :func:`sql_where`
and :func:`sql_order`, the memory store through :func:`select`; tests hold the
two to the same answers. Outcome and failed step are derived from the stored
``state``/``result`` (and the flow's server table), never stored themselves, so
they stay right when the tables change and are filterable in SQL.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any

from pktcable.flow import SERVER_TABLES
from pktcable.flow.tables import CM_TABLE, FINAL_STATES, PASSING, ProvisioningState, device_outcome

if TYPE_CHECKING:
    from .devices import Device

__all__ = [
    "DEFAULT_LIMIT", "DeviceQuery", "MAX_LIMIT", "OUTCOMES", "Page", "QueryError", "SORTS", "StateCount",
    "failed_step", "ip_number", "outcome", "parse_query", "select", "summarize",
]

OUTCOMES = ("pass", "fail", "pending", "new")
#: pktcMtaDevProvisioningState values that count as a pass / a failure (PKTC-MTA-MIB).
PASS_RESULTS = tuple(sorted(int(r) for r in PASSING))  # 1, 4, 5
FAIL_RESULTS = (int(ProvisioningState.FAIL_CONFIG_FILE_ERROR), int(ProvisioningState.FAILURE_INTERNAL_ERROR),
                int(ProvisioningState.FAIL_OTHER_REASON))  # 3, 6, 7
#: Sort name -> the device column it orders by (``ip`` numerically, through ``ipnum``).
SORTS = {"mac": "mac", "updated": "updated", "state": "state", "ip": "ipnum", "kind": "kind"}
KINDS = ("cm", "mta", "sip")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: Bounds on what a caller may send: a filter longer than any real value matches nothing
#: anyway, and each one ends up in an SQL parameter.
MAX_TEXT = 64
MAX_STATES = 32
MAX_CURSOR = 512
#: The ``ipnum`` of a device without an address: before every address in ascending order.
NO_IP = -1
_CURSOR_VERSION = 1
_MAC_SEPARATORS = ":-. "
_HEX = frozenset("0123456789abcdef")
_IP_CHARS = frozenset("0123456789.")
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class QueryError(ValueError):
    """A query parameter that cannot be used: ``parameter`` names it, the message says why."""

    def __init__(self, parameter: str, why: str) -> None:
        self.parameter = parameter
        super().__init__(f"{parameter}: {why}")


# --- what a device's state means --------------------------------------------------------


def outcome(state: str, result: int | None) -> str:
    """"new" (no run seen yet), "pending" (its state is not final), then "pass" or
    "fail" by the result (pktcable.flow's :func:`~pktcable.flow.device_outcome`: one
    rule for the API, the dashboard, the filters and the metrics)."""
    return device_outcome(state, result)


def _steps() -> dict[tuple[str, str], tuple[str, bool]]:
    """(flow, server state name) -> (its spec step label, whether the table calls it a failure)."""
    found: dict[tuple[str, str], tuple[str, bool]] = {}
    for flow, table in SERVER_TABLES.items():
        for state, info in table.states.items():
            found[(flow.value, state.name)] = (info.step, info.final and info.result in FAIL_RESULTS)
    return found


_STEPS = _steps()
#: A CM's state name -> (its spec step label, whether the CM table calls it a failure).
_CM_STEPS = {state.name: (info.step, info.final and info.result in FAIL_RESULTS)
             for state, info in CM_TABLE.states.items()}


def failed_step(kind: str, flow: str, state: str, result: int | None = None) -> str | None:
    """The spec step label (from the flow's server table; a CM's from the CM table,
    whatever its stored flow) of a device that failed there, else None.

    Without ``result`` the state alone decides (a final state the table gives a failing
    result); with it, the result does (a status INFORM can report a failure from DONE)."""
    if kind == "cm":
        entry = _CM_STEPS.get(state)
    elif kind == "mta":
        entry = _STEPS.get((flow, state))
    else:
        return None
    if entry is None:
        return None
    step, table_fails = entry
    failing = table_fails if result is None else result in FAIL_RESULTS
    return step if failing else None


def ip_number(ip: str) -> int:
    """The address as a number, for sorting by address; NO_IP for none (or not an IPv4 address)."""
    try:
        return int(IPv4Address(ip))
    except ValueError:
        return NO_IP


# --- the query --------------------------------------------------------------------------


def _shown(value: object) -> str:
    """A caller's value in an error message, cut short: the message goes back to the caller."""
    text = repr(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


def _text(parameter: str, value: object) -> str:
    if not isinstance(value, str):
        raise QueryError(parameter, f"must be text, not {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise QueryError(parameter, f"longer than {MAX_TEXT} characters")
    if "\x00" in value:
        raise QueryError(parameter, "contains a NUL character")
    return value


@dataclass(frozen=True, slots=True)
class DeviceQuery:
    """Which devices, in which order, how many. Every filter left None matches every device.

    ``mac_prefix``: a MAC's first hex digits, any separators. ``address``: a whole IPv4
    address (exact) or the start of one ("10.1."). ``updated_since``: devices changed at
    or after this time (Unix seconds). ``text``: a MAC fragment, an address fragment or
    part of a state name. ``sort`` with ``descending``; ``limit`` rows a page; ``cursor``:
    the ``next`` of the page before (made for the same sort and direction)."""

    kind: str | None = None
    flow: str | None = None
    states: tuple[str, ...] = ()
    outcome: str | None = None
    failed_step: str | None = None
    mac_prefix: str | None = None
    address: str | None = None
    updated_since: float | None = None
    text: str | None = None
    sort: str = "mac"
    descending: bool = False
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    #: The decoded cursor: (sort key, MAC) of the last row of the page before.
    after: tuple[Any, str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KINDS:
            raise QueryError("kind", f"must be one of {', '.join(KINDS)}, not {_shown(self.kind)}")
        if self.flow is not None:
            _text("flow", self.flow)
        if isinstance(self.states, str) or not isinstance(self.states, Sequence):
            raise QueryError("state", "must be a list of state names")
        if len(self.states) > MAX_STATES:
            raise QueryError("state", f"more than {MAX_STATES} states")
        object.__setattr__(self, "states", tuple(_text("state", s) for s in self.states))
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise QueryError("outcome", f"must be one of {', '.join(OUTCOMES)}, not {_shown(self.outcome)}")
        if self.failed_step is not None:
            _text("failed_step", self.failed_step)
        if self.mac_prefix is not None:
            object.__setattr__(self, "mac_prefix", _mac_prefix(_text("mac", self.mac_prefix)))
        if self.address is not None:
            _address(_text("address", self.address))
        if self.updated_since is not None:
            since = self.updated_since
            if isinstance(since, bool) or not isinstance(since, int | float) or not math.isfinite(since):
                raise QueryError("updated_since", f"must be a finite number of Unix seconds, not {_shown(since)}")
            object.__setattr__(self, "updated_since", float(since))
        if self.text is not None:
            _text("q", self.text)
        if self.sort not in SORTS:
            raise QueryError("sort", f"must be one of {', '.join(SORTS)} (- before it: descending), "
                                     f"not {_shown(self.sort)}")
        if not isinstance(self.descending, bool):
            raise QueryError("sort", "descending must be true or false")
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or not 1 <= self.limit <= MAX_LIMIT:
            raise QueryError("limit", f"must be a whole number from 1 to {MAX_LIMIT}, not {_shown(self.limit)}")
        if self.cursor is not None:
            object.__setattr__(self, "after", _decode_cursor(self.cursor, self.sort, self.descending))

    @property
    def exact_address(self) -> bool:
        """A whole address (four parts) rather than the start of one ("10.1.7." is a start)."""
        return self.address is not None and _whole_address(self.address)


def _mac_prefix(text: str) -> str:
    digits = "".join(c for c in text.lower() if c not in _MAC_SEPARATORS)
    if not set(digits) <= _HEX:
        raise QueryError("mac", f"{_shown(text)} is not the start of a MAC address (hex digits and : - . only)")
    if len(digits) > 12:
        raise QueryError("mac", f"{_shown(text)} has more than the 12 hex digits of a MAC address")
    return digits


def _address(text: str) -> None:
    if not set(text) <= _IP_CHARS:
        raise QueryError("address", f"{text!r} is not an IPv4 address or the start of one (digits and dots only)")
    parts = text.split(".")
    if len(parts) > 4 or not all(parts[:-1]) or any(len(p) > 3 for p in parts):
        raise QueryError("address", f"{text!r} is not an IPv4 address or the start of one")
    if _whole_address(text):
        try:
            IPv4Address(text)
        except ValueError:
            raise QueryError("address", f"{text!r} is not an IPv4 address") from None


def _whole_address(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(parts)


def parse_query(params: Mapping[str, Sequence[str]]) -> DeviceQuery:
    """A query from URL parameters (each name -> its values, in order): ``kind``, ``flow``,
    ``state`` (repeatable), ``outcome``, ``failed_step``, ``mac``, ``address``,
    ``updated_since``, ``q``, ``sort`` (``-`` first: descending), ``limit``, ``cursor``.
    An unknown or repeated parameter is a QueryError as well."""
    known = {"kind", "flow", "state", "outcome", "failed_step", "mac", "address", "updated_since", "q", "sort",
             "limit", "cursor"}
    for name, values in params.items():
        if name not in known:
            raise QueryError(name, f"unknown parameter (known: {', '.join(sorted(known))})")
        if name != "state" and len(values) > 1:
            raise QueryError(name, "given more than once")

    def one(name: str) -> str | None:
        values = params.get(name)
        return values[0] if values else None

    args: dict[str, Any] = {key: one(name) for key, name in (
        ("kind", "kind"), ("flow", "flow"), ("outcome", "outcome"), ("failed_step", "failed_step"),
        ("mac_prefix", "mac"), ("address", "address"), ("text", "q"), ("cursor", "cursor"))}
    args["states"] = tuple(params.get("state", ()))
    if (cursor := args["cursor"]) is not None and len(cursor) > MAX_CURSOR:
        raise QueryError("cursor", "not a cursor this server made")
    sort = one("sort") or "mac"
    args["descending"] = sort.startswith("-")
    args["sort"] = sort[1:] if sort.startswith("-") else sort
    if (since := one("updated_since")) is not None:
        try:
            args["updated_since"] = float(since)
        except ValueError:
            raise QueryError("updated_since", f"{since[:MAX_TEXT]!r} is not a number of Unix seconds") from None
    if (limit := one("limit")) is not None:
        if not limit.isdigit() or len(limit) > 6:
            raise QueryError("limit", f"must be a whole number from 1 to {MAX_LIMIT}, not {limit[:MAX_TEXT]!r}")
        args["limit"] = int(limit)
    return DeviceQuery(**{k: v for k, v in args.items() if v is not None})


# --- cursors ----------------------------------------------------------------------------


def sort_key(query: DeviceQuery, device: Device) -> Any:
    """The value of the query's sort column for ``device``, as the store holds it."""
    if query.sort == "ip":
        return ip_number(device.ip)
    if query.sort == "updated":
        return float(device.updated)
    value: Any = getattr(device, query.sort)
    return value


def encode_cursor(query: DeviceQuery, device: Device) -> str:
    """The cursor of the page after ``device``: opaque to callers (URL-safe text)."""
    raw = json.dumps([_CURSOR_VERSION, query.sort, query.descending, sort_key(query, device), device.mac],
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str, descending: bool) -> tuple[Any, str]:
    bad = QueryError("cursor", "not a cursor this server made")
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR or not cursor.isascii():
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        raise bad from None
    if not (isinstance(value, list) and len(value) == 5 and value[0] == _CURSOR_VERSION):
        raise bad
    _, made_sort, made_descending, key, mac = value
    if made_sort != sort or made_descending is not descending:
        raise QueryError("cursor", f"made for sort {'-' if made_descending else ''}{made_sort}, "
                                   f"not {'-' if descending else ''}{sort}: start again without it")
    if not (isinstance(mac, str) and len(mac) <= MAX_TEXT):
        raise bad
    if sort in ("updated", "ip"):
        numeric = isinstance(key, int | float) and not isinstance(key, bool) and math.isfinite(key)
        if not numeric or (sort == "ip" and not isinstance(key, int)):
            raise bad
        key = float(key) if sort == "updated" else key
    elif not (isinstance(key, str) and len(key) <= 4 * MAX_TEXT):
        raise bad
    return key, mac


# --- the answers ------------------------------------------------------------------------


@dataclass(slots=True)
class Page:
    """One page of devices; ``next`` is the cursor of the page after it (None: the last),
    ``total`` how many devices match the filters altogether."""

    items: list[Device]
    next: str | None
    total: int


@dataclass(frozen=True, slots=True)
class StateCount:
    """How many devices of a kind are in a state (with what that state means)."""

    kind: str
    state: str
    outcome: str
    failed_step: str | None
    count: int


def summarize(groups: Iterable[tuple[str, str, str, int | None, int]]) -> list[StateCount]:
    """Counts by (kind, flow, state, result) -> counts by (kind, state, outcome, failed step):
    failures first, then by count, largest first."""
    merged: Counter[tuple[str, str, str, str | None]] = Counter()
    for kind, flow, state, result, count in groups:
        merged[(kind, state, outcome(state, result), failed_step(kind, flow, state, result))] += count
    rows = [StateCount(kind, state, out, step, n) for (kind, state, out, step), n in merged.items()]
    rows.sort(key=lambda r: (r.outcome != "fail", -r.count, r.kind, r.state, r.outcome, r.failed_step or ""))
    return rows


def _prefix_end(prefix: str) -> str:
    """The least text after every text starting with ``prefix`` (which is not empty)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def matches(query: DeviceQuery, device: Device) -> bool:
    """Whether ``device`` passes every filter of ``query`` (the memory store's WHERE)."""
    d, q = device, query
    if q.kind is not None and d.kind != q.kind:
        return False
    if q.flow is not None and d.flow != q.flow:
        return False
    if q.states and d.state not in q.states:
        return False
    if q.outcome is not None and outcome(d.state, d.result) != q.outcome:
        return False
    if q.failed_step is not None and failed_step(d.kind, d.flow, d.state, d.result) != q.failed_step:
        return False
    if q.mac_prefix and not d.mac.startswith(q.mac_prefix):
        return False
    if q.address is not None:
        if q.exact_address and d.ip != q.address:
            return False
        if not d.ip.startswith(q.address):
            return False
    if q.updated_since is not None and not d.updated >= q.updated_since:
        return False
    if q.text is not None:
        mac_part, ip_part, state_part = _text_terms(q.text)
        if not ((mac_part is not None and mac_part in d.mac) or (ip_part is not None and ip_part in d.ip)
                or state_part in d.state.translate(_UPPER)):
            return False
    return True


def _text_terms(text: str) -> tuple[str | None, str | None, str]:
    """Free text as a MAC fragment (when it is hex digits and separators), an address
    fragment (digits and dots) and part of a state name (any case)."""
    digits = "".join(c for c in text.lower() if c not in _MAC_SEPARATORS)
    ip_part = text if text and set(text) <= _IP_CHARS else None
    # "10.1.0." is the start of an address, not the MAC fragment 1010: dotted groups of at
    # most three decimal digits are an address's; a MAC's dotted groups have four (0011.2233).
    dotted_quad = ip_part is not None and "." in text and all(len(g) <= 3 for g in text.split("."))
    mac_part = digits if digits and set(digits) <= _HEX and not dotted_quad else None
    return mac_part, ip_part, text.translate(_UPPER)


def select(query: DeviceQuery, devices: Iterable[Device]) -> Page:
    """The page ``query`` asks for, from every device (the memory store's query)."""
    found = [d for d in devices if matches(query, d)]
    found.sort(key=lambda d: (sort_key(query, d), d.mac), reverse=query.descending)
    if query.after is not None:
        after = query.after
        if query.descending:
            rest = [d for d in found if (sort_key(query, d), d.mac) < after]
        else:
            rest = [d for d in found if (sort_key(query, d), d.mac) > after]
    else:
        rest = found
    items = rest[:query.limit]
    more = len(rest) > query.limit
    return Page(items, encode_cursor(query, items[-1]) if more else None, len(found))


# --- SQL ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the SQL of the two store backends in a device query. Parameters
    are ``?`` in both: the PostgreSQL store turns them into psycopg's ``%s`` (the text
    holds no other ``?`` and no ``%``)."""

    #: Before a column the planner should not reach through its index ("" where there is no such hint).
    unindexed: str
    #: "text {0} holds {1}" (a parameter), as a condition.
    contains: str
    true: str
    false: str
    #: The FROM of a query that scans the table rather than walk a sort's index.
    scan: str


#: SQLite: unary ``+`` keeps a column off its index; ``NOT INDEXED`` forces a scan.
SQLITE = Dialect(unindexed="+", contains="instr({0}, {1}) > 0", true="1", false="0", scan="device NOT INDEXED")
#: PostgreSQL: no hints (its planner weighs the index by the column's statistics).
POSTGRESQL = Dialect(unindexed="", contains="strpos({0}, {1}) > 0", true="TRUE", false="FALSE", scan="device")

#: The final states' names as an SQL list (enum names: identifiers, nothing to quote).
_FINALS = "(" + ", ".join(f"'{name}'" for name in sorted(FINAL_STATES)) + ")"
#: The outcome of a device row, in SQL (what :func:`outcome` says).
OUTCOME_SQL = (f"CASE WHEN state = '' THEN 'new' WHEN state NOT IN {_FINALS} THEN 'pending' "
               f"WHEN result IS NOT NULL AND result NOT IN {PASS_RESULTS} THEN 'fail' ELSE 'pass' END")
_OUTCOME_WHERE = {
    "new": "state = ''",
    "pending": f"state <> '' AND state NOT IN {_FINALS}",
    "fail": f"state IN {_FINALS} AND result IS NOT NULL AND result NOT IN {PASS_RESULTS}",
    "pass": f"state IN {_FINALS} AND (result IS NULL OR result IN {PASS_RESULTS})",
}


def _failed_step_where(step: str, dialect: Dialect = SQLITE) -> tuple[str, list[Any]]:
    """Rows :func:`failed_step` gives ``step``: their (flow, state) pairs from the tables.
    Failures are common after a storm (half the devices): a scan of the table beats a
    lookup per row through the index on state, so ``+`` keeps the planner off it."""
    terms, params, plus = [], [], dialect.unindexed
    for (flow, state), (label, table_fails) in _STEPS.items():
        if label != step:
            continue
        failing = f"(result IS NULL OR result IN {FAIL_RESULTS})" if table_fails else f"result IN {FAIL_RESULTS}"
        terms.append(f"(flow = ? AND {plus}state = ? AND {failing})")
        params += [flow, state]
    mta = f"({plus}kind = 'mta' AND ({' OR '.join(terms)}))" if terms else ""
    cm_states = [state for state, (label, table_fails) in _CM_STEPS.items() if label == step and table_fails]
    cm = ""
    if cm_states:
        cm = (f"({plus}kind = 'cm' AND {plus}state IN ({', '.join('?' * len(cm_states))}) "
              f"AND (result IS NULL OR result IN {FAIL_RESULTS}))")
        params += cm_states
    if not (mta or cm):
        return dialect.false, []
    return " OR ".join(t for t in (mta, cm) if t), params


def sql_where(query: DeviceQuery, *, page: bool, dialect: Dialect = SQLITE) -> tuple[str, list[Any]]:
    """The WHERE clause (without the word) of ``query``'s filters, and its parameters;
    ``page``: with the cursor's condition too (the total counts without it)."""
    q = query
    terms: list[str] = []
    params: list[Any] = []
    if q.kind is not None:
        # "+": not through the index on kind (it is for sorting): two values never narrow enough
        # to pay for a lookup per row, where one scan of the table does.
        terms.append(f"{dialect.unindexed}kind = ?")
        params.append(q.kind)
    if q.flow is not None:
        terms.append("flow = ?")
        params.append(q.flow)
    if q.states:
        terms.append(f"state IN ({', '.join('?' for _ in q.states)})")
        params += q.states
    if q.outcome is not None:
        terms.append(f"({_OUTCOME_WHERE[q.outcome]})")
    if q.failed_step is not None:
        clause, more = _failed_step_where(q.failed_step, dialect)
        terms.append(f"({clause})")
        params += more
    if q.mac_prefix:
        terms.append("mac >= ? AND mac < ?")
        params += [q.mac_prefix, _prefix_end(q.mac_prefix)]
    if q.address is not None:
        if q.exact_address:
            terms.append("ipnum = ? AND ip = ?")  # ipnum: the index; ip: the text, as the memory store compares
            params += [ip_number(q.address), q.address]
        elif q.address:
            lo_hi = _octet_range(q.address)
            if lo_hi is not None:
                terms.append("ipnum BETWEEN ? AND ?")
                params += list(lo_hi)
            terms.append("ip >= ? AND ip < ?")
            params += [q.address, _prefix_end(q.address)]
    if q.updated_since is not None:
        terms.append("updated >= ?")
        params.append(q.updated_since)
    if q.text is not None:
        mac_part, ip_part, state_part = _text_terms(q.text)
        either = [dialect.contains.format("upper(state)", "?")]
        params.append(state_part)
        if mac_part is not None:
            either.append(dialect.contains.format("mac", "?"))
            params.append(mac_part)
        if ip_part is not None:
            either.append(dialect.contains.format("ip", "?"))
            params.append(ip_part)
        terms.append(f"({' OR '.join(either)})")
    if page and q.after is not None:
        column = SORTS[q.sort]
        op = "<" if q.descending else ">"
        if column == "mac":
            terms.append(f"mac {op} ?")
            params.append(q.after[1])
        else:
            terms.append(f"({column}, mac) {op} (?, ?)")
            params += [q.after[0], q.after[1]]
    return " AND ".join(terms) or dialect.true, params


def _octet_range(prefix: str) -> tuple[int, int] | None:
    """"10.1." -> the numbers of 10.1.0.0 ... 10.1.255.255: lets the index on ipnum narrow
    a prefix made of whole octets (the text condition still decides)."""
    if not prefix.endswith("."):
        return None
    octets = prefix[:-1].split(".")
    if not 1 <= len(octets) <= 3 or not all(o.isdigit() and str(int(o)) == o and int(o) <= 255 for o in octets):
        return None
    low = 0
    for o in octets:
        low = low * 256 + int(o)
    free = 8 * (4 - len(octets))
    return low << free, ((low + 1) << free) - 1


def sql_table(query: DeviceQuery, dialect: Dialect = SQLITE) -> str:
    """The FROM of ``query``: free text matches few rows anywhere in the order, so one scan of
    the table and a small sort beat walking the sort's index with a lookup per row."""
    return dialect.scan if query.text else "device"


def sql_order(query: DeviceQuery) -> str:
    column = SORTS[query.sort]
    way = "DESC" if query.descending else "ASC"
    return f"mac {way}" if column == "mac" else f"{column} {way}, mac {way}"
