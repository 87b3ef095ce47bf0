"""How far a simulation run is, told on stderr while it runs (sans-IO: the
caller passes the clock and where the text goes).

On a terminal, one line redrawn in place: a bar, devices done of the total,
passed and failed so far, the rate and the time left::

    [################                        ] 4,200/10,000 4,150 passed 50 failed 812/s ETA 7 s

Elsewhere (a log file, a CI job), one line every ``interval`` seconds and one at
the end, so a long storm shows it is alive without flooding the log::

    simulate: 4,200/10,000 done, 4,150 passed, 50 failed, 812/s, ETA 7 s
"""

from __future__ import annotations

from collections.abc import Callable

BAR = 40
#: Seconds between two lines when stderr is not a terminal.
INTERVAL = 5.0
#: Seconds between two redraws on a terminal (a storm finishes thousands of devices a second).
REDRAW = 0.1


def _eta(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours:,} h {minutes:02d} min"


class Progress:
    """Counts finished devices and writes where the run is; :meth:`tick` also
    writes when the interval has passed without a device finishing."""

    def __init__(self, total: int, write: Callable[[str], None], clock: Callable[[], float], *,
                 terminal: bool, interval: float = INTERVAL) -> None:
        self.total = total
        self.write = write
        self.clock = clock
        self.terminal = terminal
        self.interval = REDRAW if terminal else interval
        self.passed = 0
        self.failed = 0
        self.started = clock()
        self._last = self.started

    @property
    def done(self) -> int:
        return self.passed + self.failed

    def device(self, passed: bool) -> None:
        """One device finished its first walk."""
        if passed:
            self.passed += 1
        else:
            self.failed += 1
        if self.done == self.total:
            self.finish()
        else:
            self.tick()

    def tick(self) -> None:
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self._show(now)

    def finish(self) -> None:
        now = self.clock()
        self._last = now
        self._show(now)
        if self.terminal:
            self.write("\n")

    def status(self, now: float) -> tuple[str, str, str]:
        """(done of total, rate, time left) as shown."""
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = "ETA -" if rate == 0 else f"ETA {_eta((self.total - self.done) / rate)}"
        shown = f"{rate:.1f}" if rate < 10 else f"{rate:,.0f}"  # a slow start is not "0/s"
        return f"{self.done:,}/{self.total:,}", f"{shown}/s", left

    def _show(self, now: float) -> None:
        count, rate, left = self.status(now)
        if self.terminal:
            bar = "#" * (BAR * self.done // max(1, self.total))
            self.write(f"\r[{bar:{BAR}}] {count} {self.passed:,} passed {self.failed:,} failed {rate} {left} ")
        else:
            self.write(f"simulate: {count} done, {self.passed:,} passed, {self.failed:,} failed, {rate}, {left}\n")
