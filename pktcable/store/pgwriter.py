"""A PostgreSQL store's writes in a thread of their own, so the event loop never waits
for the database.

A commit to PostgreSQL is several round trips (BEGIN, the statements, COMMIT), each
waiting for the backend to be scheduled and, at COMMIT, for the WAL flush: 17-45 ms on a
loaded machine (docs/benchmarks.md, "Several nodes"). Made on the event loop, that time is
taken from every ToD answer, INFORM acknowledgement and TFTP block due meanwhile. A
:class:`Writer` takes the batches a store's ``commit`` hands it and writes them, in the
order handed, one at a time, on a connection of its own: psycopg serialises the calls on
one connection with a lock, so a read on the loop's connection never waits behind a write.

Bounded: at most ``depth`` batches wait or are being written; a ``submit`` that finds them
all taken waits for the oldest to be written (as a commit on the loop did), so a slow
database slows the server rather than growing its memory.

A batch that cannot be written (the server gone, a constraint broken) is lost, as the batch
of a commit that raised on the loop was: it is logged at ERROR with the database's reason
and counted (:attr:`Writer.failed`); the thread goes on, and the next batch opens the
connection again if the server dropped it (:class:`~pktcable.store.pg.Reconnecting`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .pg import Reconnecting, connect, explain, redact

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("pktcable.store")
B = TypeVar("B")

#: Batches handed to a writer and not yet written, at most: a burst's commit window is
#: 50 ms and a write 5-45 ms, so four are a stall of the database, not a burst.
DEPTH = 4
#: Seconds ``close`` waits for the batches handed before it to be written. A server that
#: is reachable writes them in milliseconds; one that is not (a connect times out in
#: CONNECT_TIMEOUT) would hold the shutdown for as many timeouts as there are batches.
CLOSE_WAIT = 30.0


class Writer(Reconnecting, Generic[B]):
    """One thread writing ``write(connection, batch)`` for each batch handed, in order.

    ``written(batch, seconds)`` runs in the writer thread after each batch is committed
    (``seconds``: how long the write took); ``lost(batch)`` after one that failed. Both
    must be thread-safe; exceptions they raise are logged, never stop the thread.
    """

    def __init__(self, url: str, write: Callable[[psycopg.Connection[Any], B], object], *, name: str,
                 written: Callable[[B, float], None] | None = None, lost: Callable[[B], None] | None = None,
                 depth: int = DEPTH) -> None:
        self.url = url
        self.db = connect(url)  # the schema is the store's own connection's to bring up to date
        self.name = name
        self._write, self._written, self._lost = write, written, lost
        self.depth = depth
        self._cond = threading.Condition()
        #: Batches handed and not yet done, oldest first (the head is the one being written).
        self._pending: deque[B] = deque()
        self._handed = 0  # batches ever handed
        self._done = 0  # of those, written or lost
        self._closing = False
        #: Batches that could not be written (each logged at ERROR with the reason).
        self.failed = 0
        #: Why the last failed batch failed (libpq's reason, no password); "" when none has.
        self.last_error = ""
        self._thread = threading.Thread(target=self._run, name=f"{name}-writer", daemon=True)
        self._thread.start()

    def submit(self, batch: B) -> None:
        """Hand ``batch`` over, after the ones handed before it; waits while ``depth``
        batches are pending. RuntimeError once the writer is closed."""
        with self._cond:
            while len(self._pending) >= self.depth and not self._closing:
                self._cond.wait()
            if self._closing:
                raise RuntimeError(f"{self.name}: the store is closed")
            self._pending.append(batch)
            self._handed += 1
            self._cond.notify_all()

    def pending(self) -> list[B]:
        """The batches handed and not yet done, oldest first (a snapshot)."""
        with self._cond:
            return list(self._pending)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every batch handed before this call is written (or lost); False if
        ``timeout`` seconds passed first. Any thread may call it, but not ``written``/``lost``."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("flush from the writer thread would wait for itself")
        with self._cond:
            target = self._handed
            return self._cond.wait_for(lambda: self._done >= target, timeout)

    def close(self, timeout: float = CLOSE_WAIT) -> None:
        """Write what was handed (waiting ``timeout`` seconds at most), stop the thread and
        close the connection. Batches not written by then are reported lost in the log."""
        written = self.flush(timeout)
        with self._cond:
            self._closing = True
            left = len(self._pending)
            self._cond.notify_all()
        self._thread.join(timeout if written else 1.0)
        if self._thread.is_alive():
            # Stuck in a call to an unreachable server: a daemon thread, it ends with the process.
            log.error("%s: %d batches not written to %s at close (the database did not answer in %.0f s)",
                      self.name, left, redact(self.url), timeout)
            return
        self._db.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:  # closing, and everything handed is done
                    return
                batch = self._pending[0]
            self._one(batch)
            with self._cond:
                self._pending.popleft()
                self._done += 1
                self._cond.notify_all()

    def _one(self, batch: B) -> None:
        started = time.perf_counter()
        try:
            self._write(self.db, batch)
        except Exception as exc:  # the database's reason, whatever it is: the thread must go on
            self.failed += 1
            self.last_error = explain(exc, self.url)
            log.error("%s: a batch was not written: %s", self.name, self.last_error)
            self._call(self._lost, batch)
            return
        if self._written is not None:
            self._call(self._written, batch, time.perf_counter() - started)

    def _call(self, hook: Callable[..., None] | None, *args: Any) -> None:
        if hook is None:
            return
        try:
            hook(*args)
        except Exception:
            log.exception("%s: after a batch", self.name)


__all__ = ["CLOSE_WAIT", "DEPTH", "Writer"]
