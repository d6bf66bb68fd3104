"""A scaled clock for the local twin.

Real Aurora takes minutes to create snapshots, copy them and restore clusters. The twin replays
those durations on a clock that runs ``speed`` times faster than real time, so a rehearsal keeps
the same ordering and waiting behaviour as a real migration without taking as long.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

__all__ = ["TwinClock"]


class TwinClock:
    """Twin time: starts at the real UTC time of construction and runs ``speed`` times faster.

    ``now() = start + (real seconds since construction) * speed + manual offset``. The manual offset
    comes from :meth:`advance`, which lets tests jump over a duration without sleeping. The clock is
    shared by the moto patches and the state machine's worker threads, hence the lock.
    """

    def __init__(self, speed: float = 600.0) -> None:
        if not speed > 0:
            raise ValueError(f"TwinClock speed must be > 0, got {speed!r}")
        self._speed = float(speed)
        self._lock = threading.Lock()
        # Monotonic time for elapsed seconds: a wall-clock jump (NTP, DST) must not move twin time.
        self._real_start = time.monotonic()
        self._start = datetime.now(UTC)
        self._offset = 0.0

    @property
    def speed(self) -> float:
        """How many twin seconds pass per real second."""
        return self._speed

    @property
    def start(self) -> datetime:
        """Twin time at construction (tz-aware UTC)."""
        return self._start

    def elapsed(self) -> float:
        """Twin seconds since construction, including any manual :meth:`advance`."""
        with self._lock:
            return (time.monotonic() - self._real_start) * self._speed + self._offset

    def now(self) -> datetime:
        """Current twin time, tz-aware UTC."""
        return self._start + timedelta(seconds=self.elapsed())

    def real_seconds(self, twin_seconds: float) -> float:
        """Real seconds that ``twin_seconds`` of twin time take at this speed (never negative)."""
        return max(0.0, float(twin_seconds)) / self._speed

    def sleep(self, twin_seconds: float) -> None:
        """Block the calling thread for ``twin_seconds`` of twin time."""
        time.sleep(self.real_seconds(twin_seconds))

    def advance(self, twin_seconds: float) -> None:
        """Jump twin time forward without sleeping (tests, and fast-forwarding a rehearsal)."""
        if twin_seconds < 0:
            raise ValueError("twin time only moves forward")
        with self._lock:
            self._offset += float(twin_seconds)
