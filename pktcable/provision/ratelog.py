"""A log that says something about a source at most once per interval.

A sender that floods the provisioning entity with bad INFORMs must not flood
the log too, nor grow the server's memory: each source address is logged at
most once per ``interval`` seconds, and the table of sources is bounded (when
it is full, the source heard from longest ago is forgotten first, so a spoofed
address sweep costs a fixed amount of memory and only repeats log lines for
sources it pushed out). The clock is passed in; nothing here reads time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

#: Seconds between two log lines about the same source.
DEFAULT_INTERVAL = 60.0
#: Sources remembered at once (a few hundred KB at most).
DEFAULT_MAX_SOURCES = 4096


@dataclass(slots=True)
class _Seen:
    logged_at: float
    suppressed: int = 0


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, *, interval: float = DEFAULT_INTERVAL,
                 max_sources: int = DEFAULT_MAX_SOURCES, level: int = logging.WARNING) -> None:
        if max_sources < 1:
            raise ValueError(f"max_sources must be at least 1, not {max_sources}")
        self.logger = logger
        self.interval = interval
        self.max_sources = max_sources
        self.level = level
        # Insertion order is the order sources were last logged: the first key is the stalest.
        self._sources: dict[str, _Seen] = {}

    def __len__(self) -> int:
        return len(self._sources)

    def log(self, source: str, now: float, message: str, *args: object) -> bool:
        """Log ``message % args`` about ``source`` unless it was logged less than
        ``interval`` seconds ago; returns whether a line was written."""
        seen = self._sources.get(source)
        if seen is not None and now - seen.logged_at < self.interval:
            seen.suppressed += 1
            return False
        suppressed = 0
        if seen is not None:
            suppressed = seen.suppressed
            del self._sources[source]  # re-inserted below: it becomes the freshest
        elif len(self._sources) >= self.max_sources:
            del self._sources[next(iter(self._sources))]
        self._sources[source] = _Seen(now)
        if suppressed:
            self.logger.log(self.level, message + " (%d more from %s not logged)", *args, suppressed, source)
        else:
            self.logger.log(self.level, message, *args)
        return True
