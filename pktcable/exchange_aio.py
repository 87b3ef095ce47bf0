"""asyncio adapter for :class:`pktcable.exchange.Exchanges`: one loop timer,
one future per request, a ``send`` callable for the datagrams. All retry
logic stays in the core."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from .exchange import REMEMBER_FINISHED, Action, Answered, Exchanges, Send, TimedOut, Verdict

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class Requester(Generic[K, R]):
    def __init__(self, send: Callable[[bytes, Any, int], None], *, remember: int = REMEMBER_FINISHED) -> None:
        """``send(datagram, dest, attempt)`` puts one datagram on the wire."""
        self.core: Exchanges[K, R] = Exchanges(remember=remember)
        self._send = send
        self._loop = asyncio.get_running_loop()
        self._waiting: dict[K, asyncio.Future[R | None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    async def request(self, key: K, datagram: bytes, dest: Any, waits: Sequence[float],
                      accept: Callable[[R], bool] | None = None) -> R | None:
        """The accepted response, or None when the schedule ran out."""
        fut: asyncio.Future[R | None] = self._loop.create_future()
        actions = self.core.start(key, datagram, dest, waits, self._loop.time(), accept)
        self._waiting[key] = fut
        try:
            self._apply(actions)
            return await fut
        finally:
            if self._waiting.get(key) is fut:
                del self._waiting[key]
            self.core.cancel(key)  # a no-op unless the caller was cancelled
            self._rearm()

    def deliver(self, key: K, response: R) -> Verdict:
        """A response the transport decoded; the verdict says what it was."""
        verdict, actions = self.core.receive(key, response, self._loop.time())
        self._apply(actions)
        return verdict

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_at = None
        for fut in self._waiting.values():
            if not fut.done():
                fut.cancel()

    def _apply(self, actions: list[Action[K, R]]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self._send(action.datagram, action.dest, action.attempt)
            elif isinstance(action, Answered | TimedOut):
                fut = self._waiting.get(action.key)
                if fut is not None and not fut.done():
                    fut.set_result(action.response if isinstance(action, Answered) else None)
        self._rearm()

    def _rearm(self) -> None:
        at = self.core.next_timer()
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = (None, None) if at is None else (self._loop.call_at(at, self._fire), at)

    def _fire(self) -> None:
        due = self._timer_at
        self._timer = self._timer_at = None
        # The loop may run a handle a clock tick early: never hand the core a time before its deadline.
        now = self._loop.time() if due is None else max(self._loop.time(), due)
        self._apply(self.core.handle_timer(now))
