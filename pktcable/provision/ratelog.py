"""A log that says something about a source at most once per interval.

A sender that floods the provisioning entity with bad INFORMs must not flood
the log too, nor grow the server's memory: each source address is logged at
most once per ``interval`` seconds, and the table of sources is bounded (when
it is full, the source logged longest ago is forgotten first, so a spoofed
address sweep costs a fixed amount of memory). A sweep of many sources would
still write one line per source, so all sources together get at most
``max_lines`` lines per interval; the next line written says how many were
left out. The clock is passed in; nothing here reads time.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

#: Seconds between two log lines about the same source.
DEFAULT_INTERVAL = 60.0
#: Sources remembered at once (a few hundred KB at most).
DEFAULT_MAX_SOURCES = 4096
#: Lines per interval about all sources together.
DEFAULT_MAX_LINES = 100


@dataclass(slots=True)
class _Seen:
    logged_at: float
    suppressed: int = 0


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, *, interval: float = DEFAULT_INTERVAL,
                 max_sources: int = DEFAULT_MAX_SOURCES, max_lines: int = DEFAULT_MAX_LINES,
                 level: int = logging.WARNING) -> None:
        if max_sources < 1 or max_lines < 1:
            raise ValueError(f"max_sources and max_lines must be at least 1, not {max_sources}, {max_lines}")
        self.logger = logger
        self.interval = interval
        self.max_sources = max_sources
        self.max_lines = max_lines
        self.level = level
        self._window_start = float("-inf")
        self._window_lines = 0
        #: Lines left out because of ``max_lines`` since the last line written.
        self._left_out = 0
        # Ordered by when each source was last logged: the first is the stalest.
        self._sources: OrderedDict[str, _Seen] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sources)

    def log(self, source: str, now: float, message: str, *args: object) -> bool:
        """Log ``message % args`` about ``source`` unless it was logged less than
        ``interval`` seconds ago; returns whether a line was written."""
        seen = self._sources.get(source)
        if seen is not None and now - seen.logged_at < self.interval:
            seen.suppressed += 1
            return False
        if now - self._window_start >= self.interval:
            self._window_start, self._window_lines = now, 0
        if self._window_lines >= self.max_lines:
            if seen is not None:
                seen.suppressed += 1
            else:
                self._left_out += 1
            return False
        self._window_lines += 1
        suppressed = 0
        if seen is not None:
            suppressed, seen.logged_at, seen.suppressed = seen.suppressed, now, 0
            self._sources.move_to_end(source)
        else:
            if len(self._sources) >= self.max_sources:
                self._sources.popitem(last=False)
            self._sources[source] = _Seen(now)
        extra: list[object] = []
        if suppressed:
            message += " (%d more from %s not logged)"
            extra += [suppressed, source]
        if self._left_out:
            message += " (%d lines about other sources not logged)"
            extra.append(self._left_out)
            self._left_out = 0
        self.logger.log(self.level, message, *args, *extra)
        return True
