"""Adaptive polling for the waits no RDS event announces (snapshot copies): how long until the next check."""

from __future__ import annotations

# The interval doubles from options.pollIntervalSeconds up to this cap (or the interval itself when that is longer).
ADAPTIVE_MAX_DELAY_SECONDS = 600
_MAX_DOUBLINGS = 20


def next_poll_delay(attempt: int, interval_seconds: int, adaptive: bool) -> int:
    """Seconds to wait before the next check, after `attempt` checks.

    Fixed polling waits `interval_seconds` each time. Adaptive polling starts there and doubles after each
    check, up to ADAPTIVE_MAX_DELAY_SECONDS: a 2-hour copy is checked about 17 times instead of 240 times at
    30 s, and its end is seen at most 10 minutes late.
    """
    if not adaptive:
        return interval_seconds
    cap = max(interval_seconds, ADAPTIVE_MAX_DELAY_SECONDS)
    doublings = min(max(attempt - 1, 0), _MAX_DOUBLINGS)
    return int(min(cap, interval_seconds * 2**doublings))
