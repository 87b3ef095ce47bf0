"""Admission of new flows under overload, sans-IO (the caller passes the time
and how many flows are in flight).

A boot storm offers more devices than the server can carry at once. Work
already spent on a device (its leases, an acknowledged INFORM, a SET) is only
repaid if its flow finishes, so the server keeps taking every message of the
flows it has started and turns away only the messages that would start new
ones, at two bounds:

- ``max_in_flight``: flows started and not yet past their costly part (for the
  provisioning entity, eMTAs between their enrollment INFORM and the answer to
  their SET; for TFTP, transfers running). The count follows the measured
  capacity by itself: when the server slows down, flows stay in flight longer
  and fewer new ones get in (Little's law), with no rate to tune.
- ``rate`` and ``burst``: a token bucket of new flows per second, for an
  operator who knows the capacity of the machine (0: no rate bound).

A refused message is dropped by the caller in the way its protocol retries
(an unacknowledged INFORM is retransmitted by the eMTA, an unanswered RRQ by
the TFTP client) and counted here by reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

#: Why a new flow was turned away: the ``reason`` label of the drop counters.
REASONS = ("in-flight", "rate")


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    #: New flows refused while this many are in flight (0: no bound).
    max_in_flight: int = 0
    #: New flows per second over time (0: no bound) ...
    rate: float = 0.0
    #: ... and how many may come at once after a quiet spell.
    burst: int = 64

    def __post_init__(self) -> None:
        if self.max_in_flight < 0 or self.rate < 0 or self.burst < 1:
            raise ValueError("max_in_flight and rate must not be negative, burst at least 1")


class Admission:
    """Decides, message by message, whether a new flow may start now."""

    def __init__(self, limits: AdmissionLimits = AdmissionLimits()) -> None:
        self.limits = limits
        self._tokens = float(limits.burst)
        self._last: float | None = None
        #: New flows let in.
        self.admitted = 0
        #: New flows turned away, by reason (REASONS).
        self.refused: Counter[str] = Counter()

    def admit(self, now: float, in_flight: int) -> str | None:
        """None when a new flow may start now (and it is counted as started);
        else the reason it may not, counted in ``refused``."""
        limits = self.limits
        if limits.max_in_flight and in_flight >= limits.max_in_flight:
            self.refused["in-flight"] += 1
            return "in-flight"
        if limits.rate:
            if self._last is not None and now > self._last:
                self._tokens = min(float(limits.burst), self._tokens + (now - self._last) * limits.rate)
            # A clock stepping back neither adds tokens nor moves the start of the next refill.
            self._last = now if self._last is None else max(self._last, now)
            if self._tokens < 1.0:
                self.refused["rate"] += 1
                return "rate"
            self._tokens -= 1.0
        self.admitted += 1
        return None
