"""Table-driven provisioning state machines (sans-IO).

A :class:`FlowTable` is data: states (each with its spec step label, the
command its entry issues, an optional timeout and, for final states, the
``pktcMtaDevProvisioningState`` value it reports) and transitions keyed by
(state, event type). :class:`Machine` walks one table for one device. It never
reads a clock: the caller passes ``now`` with every event and asks
:meth:`Machine.next_deadline` when to call :meth:`Machine.handle_timer`.

A (state, event) pair the table lacks raises :class:`InvalidTransition`
(alias :data:`UnexpectedEvent`); nothing is ever silently ignored.

Time in a table, three ways: a state's own ``timeout`` (a wait for one
answer), the device's provisioning timer (``timer_*``: PKTC-MTA-MIB
pktcMtaDevProvisioningTimer, its length set per device) and the flow's
``budget``: one deadline for a whole run, (re)armed by the events that start
a run (``budget_from``), disarmed by any final state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class FlowError(Exception):
    """Root of the flow machines' errors."""


class InvalidTransition(FlowError):
    """An event that the flow's table does not allow in the current state."""

    def __init__(self, flow: str, state: Enum, event: Any) -> None:
        self.flow = flow
        self.state = state
        self.event = event
        super().__init__(f"{flow}: event {type(event).__name__} is not valid in state {state.name}")


#: The name a server uses for an event its device's flow has no row for in its state.
UnexpectedEvent = InvalidTransition


@dataclass(frozen=True, slots=True)
class StateInfo:
    """What the table says of one state.

    ``step``: the spec's step label(s), e.g. "MTA-1" or "MTA-22/23".
    ``command``: what entering the state asks the device or server to do
    (the caller performs it and feeds the outcome back as an event).
    ``timeout``: seconds allowed in the state; when they pass, ``on_timeout``
    (an event type of the table) is fed to the machine.
    ``result``: for final states, the pktcMtaDevProvisioningState value
    (1 pass ... 7 failOtherReason) the outcome reports, else None.
    """

    step: str
    command: str | None = None
    timeout: float | None = None
    on_timeout: type | None = None
    result: int | None = None
    final: bool = False


@dataclass(frozen=True, slots=True)
class FlowTable:
    """One flow: its states, start state and transitions."""

    name: str
    states: Mapping[Enum, StateInfo]
    start: Enum
    transitions: Mapping[tuple[Enum, type], Enum]
    #: Events valid in every non-final state (provisioning timer, reset ...).
    global_events: Mapping[type, Enum] = field(default_factory=dict)
    #: The provisioning timer: entering ``timer_start`` arms it, an event of
    #: type ``timer_stop`` disarms it, expiry feeds ``timer_event``.
    timer_start: Enum | None = None
    timer_stop: type | None = None
    timer_event: type | None = None
    spec: str = ""
    #: The flow's name as devices, settings and metrics spell it (e.g. "HYBRID.2").
    flow: str = ""
    #: One deadline for a whole run (seconds; None: none): every event of a type in
    #: ``budget_from`` (re)arms it, a final state disarms it, expiry feeds ``budget_event``
    #: (which ``global_events`` must lead somewhere).
    budget: float | None = None
    budget_from: frozenset[type] = frozenset()
    budget_event: type | None = None
    #: Events a finished run still takes (a reply to what it sent, its file fetched
    #: again): the state stays, the event is recorded like any other.
    after_end: frozenset[type] = frozenset()

    def target(self, state: Enum, event: Any) -> Enum | None:
        kind = type(event)
        found = self.transitions.get((state, kind))
        if found is None:
            if not self.states[state].final:
                found = self.global_events.get(kind)
            elif kind in self.after_end:
                found = state
        return found

    def edges(self) -> Iterable[tuple[Enum, type, Enum]]:
        for (source, kind), target in self.transitions.items():
            yield source, kind, target

    def check(self) -> None:
        """Table integrity: every state known, reachable, and final or leaving."""
        known = set(self.states)
        for (source, _), target in self.transitions.items():
            if source not in known or target not in known:
                raise FlowError(f"{self.name}: transition names an unknown state")
        reachable, todo = {self.start}, [self.start]
        while todo:
            state = todo.pop()
            for (source, _), target in self.transitions.items():
                if source == state and target not in reachable:
                    reachable.add(target)
                    todo.append(target)
            if not self.states[state].final:
                for target in self.global_events.values():
                    if target not in reachable:
                        reachable.add(target)
                        todo.append(target)
        unreachable = known - reachable
        if unreachable:
            raise FlowError(f"{self.name}: unreachable states {sorted(s.name for s in unreachable)}")
        for state, info in self.states.items():
            leaves = any(source == state for source, _ in self.transitions)
            if not info.final and not leaves:
                raise FlowError(f"{self.name}: {state.name} is neither final nor left by any event")
            if info.timeout is not None and (info.on_timeout is None or self.target(state, info.on_timeout()) is None):
                raise FlowError(f"{self.name}: {state.name} has a timeout but no transition for it")
        if self.budget is not None and (self.budget_event not in self.global_events or not self.budget_from):
            raise FlowError(f"{self.name}: a budget needs the events that arm it and a transition for its expiry")


@dataclass(slots=True)
class Entered:
    """A state change: the command of the new state, for the caller to perform."""

    state: Enum
    step: str
    command: str | None
    at: float
    #: The event that led here (None for the start state).
    event: Any = None


class Machine:
    """One device's walk through one flow table."""

    __slots__ = ("table", "state", "keep_history", "history", "outcome", "_deadline", "_timer", "_timer_deadline",
                 "_budget_deadline")

    def __init__(self, table: FlowTable, now: float, provisioning_timer: float | None = None,
                 keep_history: bool = True, started_by: Any = None) -> None:
        """``provisioning_timer``: seconds (None or 0: no provisioning timer).
        ``keep_history=False`` keeps only the last state entered (a server
        tracking many devices records their steps in its store instead).
        ``started_by``: the event whose row leads to the start state, when
        one started the run (the server's LeaseAcked)."""
        self.table = table
        self.state = table.start
        self.keep_history = keep_history
        self.history: list[Entered] = []
        self.outcome: int | None = None
        self._deadline: float | None = None
        self._timer = provisioning_timer or None
        self._timer_deadline: float | None = None
        # A machine is made when a run starts: its budget runs from now.
        self._budget_deadline = None if table.budget is None else now + table.budget
        if started_by is not None and table.target(table.start, started_by) is not table.start:
            raise InvalidTransition(table.name, table.start, started_by)
        self._enter(table.start, now, started_by)

    @classmethod
    def resumed(cls, table: FlowTable, state: Enum, now: float) -> Machine:
        """A run another server started, taken up in ``state`` (where the device's shared
        record says it is): its deadlines and budget run from ``now``, and it keeps only
        the last state entered."""
        if state not in table.states:
            raise ValueError(f"{state!r} is no state of {table.name}")
        machine = cls(table, now, keep_history=False)
        machine._enter(state, now)
        return machine

    @property
    def info(self) -> StateInfo:
        return self.table.states[self.state]

    @property
    def done(self) -> bool:
        return self.info.final

    @property
    def result(self) -> int | None:
        """The pktcMtaDevProvisioningState value of a finished run."""
        if not self.done:
            return None
        return self.outcome if self.outcome is not None else self.info.result

    def _enter(self, state: Enum, now: float, event: Any = None) -> Entered:
        self.state = state
        info = self.table.states[state]
        self._deadline = None if info.timeout is None else now + info.timeout
        if info.final:
            self._deadline = self._timer_deadline = self._budget_deadline = None
        elif state == self.table.timer_start and self._timer is not None:
            self._timer_deadline = now + self._timer
        entered = Entered(state, info.step, info.command, now, event)
        if self.keep_history or not self.history:
            self.history.append(entered)
        else:
            self.history[0] = entered
        return entered

    def handle(self, event: Any, now: float) -> Entered:
        """Apply ``event``; returns the state entered (with its command)."""
        target = self.table.target(self.state, event)
        if target is None:
            raise InvalidTransition(self.table.name, self.state, event)
        if isinstance(event, self.table.timer_stop or ()):
            self._timer_deadline = None
        if isinstance(event, tuple(self.table.budget_from)):
            # A new run: its own budget, and no outcome of the run before it.
            self.outcome = None
            if self.table.budget is not None:
                self._budget_deadline = now + self.table.budget
        result = getattr(event, "result", None)
        if isinstance(result, int) and not self.done:
            self.outcome = result
        return self._enter(target, now, event)

    def set_provisioning_timer(self, seconds: float | None) -> None:
        """Change the timer's length (option 122.8 arrives after MTA-1 started
        it); a running timer is re-armed from its start. 0 or None disables."""
        started = self._timer_deadline - self._timer if self._timer_deadline is not None and self._timer else None
        self._timer = seconds or None
        if started is not None:
            self._timer_deadline = None if self._timer is None else started + self._timer

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self._deadline, self._timer_deadline, self._budget_deadline) if d is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> Entered | None:
        """Feed the event of whichever deadline has passed (the flow's budget,
        then the provisioning timer, then the state's own), or do nothing."""
        if self._budget_deadline is not None and now >= self._budget_deadline:
            assert self.table.budget_event is not None
            self._budget_deadline = None
            return self.handle(self.table.budget_event(), now)
        if self._timer_deadline is not None and now >= self._timer_deadline:
            assert self.table.timer_event is not None
            self._timer_deadline = None
            return self.handle(self.table.timer_event(), now)
        if self._deadline is None or now < self._deadline:
            return None
        on_timeout = self.info.on_timeout
        assert on_timeout is not None
        return self.handle(on_timeout(), now)
