"""The twin's virtual clock: time moves only when every worker of the twin waits, and then jumps.

Real Aurora takes minutes to create snapshots, copy them and restore clusters. The twin does not sleep
through those minutes, and it does not scale wall time either (a scaled clock multiplies every scheduling
delay of a busy machine into minutes of twin time, so which path ends a wait would depend on load). Twin
time is a number that stands still while any worker runs. When every worker is waiting (for a deadline,
for an event another worker sets, for a thread to end), the clock jumps to the earliest deadline and wakes
whoever was waiting for it. The same run therefore sees the same twin timestamps on any machine.

Workers are the threads of the twin: the thread that started it (the CLI or the test), and every thread a
worker starts (moto's execution, Map iteration and callback threads, EventBridge delivery, schedules). While
:func:`TwinClock.patched` is active, ``threading.Event.wait``, ``threading.Thread.join`` and ``time.sleep``
called on a worker wait on this clock, with their timeouts in twin seconds; on other threads they are
unchanged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from unittest import mock

__all__ = ["TwinClock", "TwinStalledError", "TwinStuckError"]

# How often a waiting thread looks at its own condition, in real seconds: only a fallback for a condition
# changed by something that is not a worker, since every Event.set, thread end and wait wakes the waiters.
_SELF_CHECK_REAL_SECONDS = 0.5

_ORIGINAL_EVENT_WAIT = threading.Event.wait
_ORIGINAL_EVENT_SET = threading.Event.set
_ORIGINAL_JOIN = threading.Thread.join
_ORIGINAL_START = threading.Thread.start
_ORIGINAL_SLEEP = time.sleep


class TwinStalledError(RuntimeError):
    """Every worker waits for something only another worker could do, and nothing is due: a deadlock."""


class TwinStuckError(TimeoutError):
    """A worker has been running for longer than the caller's real-time limit (it waits on something the
    clock cannot see, or loops)."""


@dataclass(eq=False)
class _Worker:
    name: str
    busy: bool = True
    done: bool = False
    predicate: Callable[[], bool] | None = None
    deadline: float | None = None
    woken: bool = False
    stalled: bool = False
    stall_error: bool = False


class TwinClock:
    """Twin time in seconds since ``start``; see the module docstring.

    :meth:`advance` jumps by hand (unit tests of the rules, which have no workers); :meth:`sleep` and
    :meth:`wait_until` wait in twin time.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._start = (start or datetime.now(UTC)).replace(microsecond=0)
        self._now = 0.0
        self._cond = threading.Condition()
        self._workers: set[_Worker] = set()
        self._local = threading.local()
        self._closed = False

    @property
    def start(self) -> datetime:
        """Twin time at construction (tz-aware UTC, whole seconds)."""
        return self._start

    def elapsed(self) -> float:
        """Twin seconds since ``start``."""
        with self._cond:
            return self._now

    def now(self) -> datetime:
        """Current twin time, tz-aware UTC."""
        return self._start + timedelta(seconds=self.elapsed())

    def advance(self, twin_seconds: float) -> None:
        """Jump twin time forward, waking whoever waited until then."""
        if twin_seconds < 0:
            raise ValueError("twin time only moves forward")
        with self._cond:
            self._now += float(twin_seconds)
            self._settle()

    # --- waiting ------------------------------------------------------------------------------------------

    def sleep(self, twin_seconds: float) -> None:
        """Wait ``twin_seconds`` of twin time."""
        self.wait_until(lambda: False, timeout=max(0.0, float(twin_seconds)))

    def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float | None = None,
        *,
        stall_error: bool = False,
        real_limit: float | None = None,
    ) -> bool:
        """Wait until ``predicate()`` holds (True) or ``timeout`` twin seconds pass (False).

        The caller counts as waiting, so the clock may jump. ``stall_error`` raises :class:`TwinStalledError` when
        nothing can ever make the predicate true; ``real_limit`` raises :class:`TwinStuckError` when the wait lasts
        that many real seconds (a worker blocked outside the clock's sight).
        """
        worker: _Worker | None = getattr(self._local, "worker", None)
        with self._cond:
            if predicate():
                return True
            deadline = None if timeout is None else self._now + max(0.0, float(timeout))
            if deadline is not None and deadline <= self._now:
                return False
            temporary = worker is None
            if worker is None:
                # A thread that is not a worker waits like one for this wait only (unit tests, the main thread
                # of a twin that is not running).
                worker = _Worker(threading.current_thread().name)
                self._workers.add(worker)
            worker.predicate, worker.deadline, worker.woken = predicate, deadline, False
            worker.stall_error, worker.stalled, worker.busy = stall_error, False, False
            real_deadline = None if real_limit is None else time.monotonic() + real_limit
            try:
                self._settle()
                while not worker.woken:
                    if self._closed:
                        self._cond.release()
                        try:
                            _park_forever()
                        finally:
                            self._cond.acquire()
                    self._cond.wait(_SELF_CHECK_REAL_SECONDS)
                    if not worker.woken and predicate():
                        worker.woken = worker.busy = True
                    if not worker.woken and real_deadline is not None and time.monotonic() > real_deadline:
                        raise TwinStuckError(
                            f"twin time stood still for {real_limit:g} real seconds; running: {self._running()}"
                        )
                if worker.stalled:
                    raise TwinStalledError(
                        "every worker of the twin is waiting and nothing is due at any time: "
                        f"{self._waiting()}"
                    )
                return predicate()
            finally:
                worker.busy, worker.predicate, worker.deadline = True, None, None
                if temporary:
                    self._workers.discard(worker)

    def quiesce(self, real_limit: float | None = None) -> None:
        """Wait, without letting twin time move, until every other worker waits: what the last event set off
        (a delivery, a function it invoked) has then run."""
        me: _Worker | None = getattr(self._local, "worker", None)

        def others_wait() -> bool:
            return not any(w.busy and not w.done for w in self._workers if w is not me)

        self.wait_until(others_wait, real_limit=real_limit)

    def poke(self) -> None:
        """Something a waiter may wait for has changed: wake the waiters whose condition now holds."""
        with self._cond:
            self._settle()

    def _settle(self) -> None:
        """Wake satisfied waiters; if none and no worker runs, jump to the earliest deadline. Holds the lock."""
        if self._closed:
            return
        idle = [w for w in self._workers if not w.busy and not w.done]
        woke = False
        for waiter in idle:
            predicate = waiter.predicate
            if predicate is not None and predicate():
                waiter.woken = waiter.busy = woke = True
        if not woke:
            woke = self._wake_due(idle)
        if not woke and not any(w.busy for w in self._workers if not w.done):
            deadlines = [w.deadline for w in idle if w.deadline is not None]
            if deadlines:
                self._now = max(self._now, min(deadlines))
                woke = self._wake_due(idle)
            else:
                for waiter in idle:
                    if waiter.stall_error:
                        waiter.stalled = waiter.woken = waiter.busy = woke = True
        if woke:
            self._cond.notify_all()

    def _wake_due(self, idle: list[_Worker]) -> bool:
        woke = False
        for waiter in idle:
            if waiter.deadline is not None and waiter.deadline <= self._now and not waiter.woken:
                waiter.woken = waiter.busy = woke = True
        return woke

    def _running(self) -> str:
        return ", ".join(sorted(w.name for w in self._workers if w.busy and not w.done)) or "nothing"

    def _waiting(self) -> str:
        return ", ".join(sorted(w.name for w in self._workers if not w.busy and not w.done)) or "nothing"

    # --- workers ------------------------------------------------------------------------------------------

    def is_worker(self) -> bool:
        """Whether the calling thread is one of the twin's workers."""
        return getattr(self._local, "worker", None) is not None

    @contextmanager
    def enlisted(self) -> Iterator[None]:
        """The calling thread is a worker (running) until the context ends."""
        worker = _Worker(threading.current_thread().name)
        with self._cond:
            self._workers.add(worker)
        self._local.worker = worker
        try:
            yield
        finally:
            self._local.worker = None
            self._retire(worker)

    def adopt(self, thread: threading.Thread) -> None:
        """Make a thread that is about to start a worker: it counts as running from now until it ends."""
        worker = _Worker(thread.name)
        with self._cond:
            self._workers.add(worker)
        run = thread.run

        def worker_run() -> None:
            self._local.worker = worker
            try:
                run()
            finally:
                self._local.worker = None
                self._retire(worker)

        thread.run = worker_run  # type: ignore[method-assign]
        thread._twin_worker = worker  # type: ignore[attr-defined]

    def _retire(self, worker: _Worker) -> None:
        with self._cond:
            worker.done = True
            worker.busy = False
            self._workers.discard(worker)
            self._settle()

    # --- the patches ----------------------------------------------------------------------------------------

    @contextmanager
    def patched(self) -> Iterator[None]:
        """Event.wait, Thread.join and time.sleep on workers wait on this clock; threads workers start are
        workers. The calling thread is enlisted. On exit, threads still waiting on the clock park for good:
        nothing of a twin that has ended may run again."""
        clock = self

        def event_wait(event: threading.Event, timeout: float | None = None) -> bool:
            if not clock.is_worker():
                return _ORIGINAL_EVENT_WAIT(event, timeout)
            return clock.wait_until(event.is_set, timeout)

        def event_set(event: threading.Event) -> None:
            _ORIGINAL_EVENT_SET(event)
            clock.poke()

        def thread_start(thread: threading.Thread) -> None:
            if not clock.is_worker():
                _ORIGINAL_START(thread)
                return
            clock.adopt(thread)
            try:
                _ORIGINAL_START(thread)
            except BaseException:
                clock._retire(thread._twin_worker)  # type: ignore[attr-defined]
                raise

        def thread_join(thread: threading.Thread, timeout: float | None = None) -> None:
            worker: _Worker | None = getattr(thread, "_twin_worker", None)
            if worker is None or not clock.is_worker():
                _ORIGINAL_JOIN(thread, timeout)
                return
            # The worker's own "done" rather than is_alive(): a thread is still alive for a moment after its
            # run() returned, and the clock must not jump in that moment.
            if clock.wait_until(lambda: worker.done, timeout):
                _ORIGINAL_JOIN(thread)

        def sleep(seconds: float) -> None:
            if clock.is_worker():
                clock.sleep(seconds)
            else:
                _ORIGINAL_SLEEP(seconds)

        with ExitStack() as stack:
            stack.enter_context(mock.patch.object(threading.Event, "wait", event_wait))
            stack.enter_context(mock.patch.object(threading.Event, "set", event_set))
            stack.enter_context(mock.patch.object(threading.Thread, "start", thread_start))
            stack.enter_context(mock.patch.object(threading.Thread, "join", thread_join))
            stack.enter_context(mock.patch.object(time, "sleep", sleep))
            with self.enlisted():
                try:
                    yield
                finally:
                    # Closed before the caller stops being a worker: its leaving must not let time jump.
                    with self._cond:
                        self._closed = True
                        self._cond.notify_all()


def _park_forever() -> None:
    """Block this thread for good without the clock (a worker of a twin that has ended)."""
    _ORIGINAL_EVENT_WAIT(threading.Event())
