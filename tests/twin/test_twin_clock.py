"""The twin's virtual clock: time stands still while any worker runs, and jumps when all of them wait."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from datetime import UTC, datetime

import pytest

from ferry_cli.twin.clock import TwinClock, TwinStalledError, TwinStuckError
from tests.conftest import REPO, load_event, running_twin

pytestmark = pytest.mark.twin


def _start(clock: TwinClock, target: object, name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


def test_without_workers_time_moves_only_by_hand() -> None:
    # Given a clock that starts at a chosen time
    clock = TwinClock(start=datetime(2026, 1, 5, 2, 0, 0, 123456, tzinfo=UTC))

    # When 50 twin seconds are slept by a thread that is not a worker, and 100 more are skipped
    clock.sleep(50)
    clock.advance(100)

    # Then exactly 150 twin seconds have passed from the start (whole seconds), in tz-aware UTC
    assert clock.start == datetime(2026, 1, 5, 2, 0, 0, tzinfo=UTC)
    assert clock.elapsed() == 150
    assert clock.now() == datetime(2026, 1, 5, 2, 2, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)


def test_time_stands_still_while_a_worker_runs_and_jumps_to_each_deadline_in_order() -> None:
    # Given two workers: one sleeps 300 twin seconds, the other works for a while (real time) and sleeps 100
    clock = TwinClock()
    woke: dict[str, float] = {}
    worked_until: list[float] = []

    def sleeper() -> None:
        time.sleep(300)
        woke["sleeper"] = clock.elapsed()

    def worker() -> None:
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            pass  # real work: the clock must not move under it
        worked_until.append(clock.elapsed())
        time.sleep(100)
        woke["worker"] = clock.elapsed()

    with clock.patched():
        threads = [_start(clock, sleeper, "sleeper"), _start(clock, worker, "worker")]
        # When the driver waits for both
        for thread in threads:
            thread.join()

    # Then no twin time passed during the real work, and each woke at exactly its deadline
    assert worked_until == [0.0]
    assert woke == {"worker": 100.0, "sleeper": 300.0}
    assert clock.elapsed() == 300.0


def test_an_event_set_by_another_worker_ends_a_wait_at_that_twin_time() -> None:
    # Given a worker waiting up to an hour for an event, and another that sets it after 600 twin seconds
    clock = TwinClock()
    event = threading.Event()
    result: dict[str, object] = {}

    def waiter() -> None:
        result["set"] = event.wait(3600)
        result["at"] = clock.elapsed()

    def setter() -> None:
        time.sleep(600)
        event.set()

    with clock.patched():
        threads = [_start(clock, waiter, "waiter"), _start(clock, setter, "setter")]
        for thread in threads:
            thread.join()
        # And a wait nobody ends times out at exactly its timeout
        timed_out = threading.Event().wait(45)
        after_timeout = clock.elapsed()

    # Then the event ended the wait at 600, not the hour
    assert result == {"set": True, "at": 600.0}
    assert (timed_out, after_timeout) == (False, 645.0)


def test_a_join_with_a_timeout_waits_in_twin_time() -> None:
    # Given a worker that sleeps a day
    clock = TwinClock()
    with clock.patched():
        thread = _start(clock, lambda: time.sleep(86400), "sleeps-a-day")
        # When the driver joins it for an hour, then for good
        thread.join(3600)
        alive_after_an_hour = thread.is_alive()
        at_an_hour = clock.elapsed()
        thread.join()
    # Then the first join gave up after exactly an hour, and the second returned when the day was over
    assert (alive_after_an_hour, at_an_hour) == (True, 3600.0)
    assert not thread.is_alive()
    assert clock.elapsed() == 86400.0


def test_waiting_for_what_no_worker_will_ever_do_is_a_stall_not_a_hang() -> None:
    # Given a worker waiting for an event nobody sets, with no timeout
    clock = TwinClock()
    never = threading.Event()
    with clock.patched():
        _start(clock, never.wait, "waits-forever")
        # When the driver waits for that worker's event too, asking to hear about a stall
        with pytest.raises(TwinStalledError, match="waits-forever"):
            clock.wait_until(never.is_set, stall_error=True)


def test_a_worker_blocked_outside_the_clock_is_reported_by_name() -> None:
    # Given a worker blocked on a plain lock (the clock cannot see it waiting, so it counts as running)
    clock = TwinClock()
    lock = threading.Lock()
    lock.acquire()
    with clock.patched():
        _start(clock, lock.acquire, "stuck-on-a-lock")
        # When the driver waits with a real-time limit
        with pytest.raises(TwinStuckError, match="stuck-on-a-lock"):
            clock.wait_until(lambda: False, timeout=60, real_limit=0.5)
        # Then twin time did not move while that worker "ran"
        assert clock.elapsed() == 0.0
        lock.release()


def test_threads_outside_the_twin_keep_real_time() -> None:
    # Given a thread started before the clock's patches, which is not a worker
    clock = TwinClock()
    started = threading.Event()
    finished = threading.Event()
    slept: list[float] = []

    def outsider() -> None:
        started.wait()
        begin = time.monotonic()
        time.sleep(0.05)
        slept.append(time.monotonic() - begin)
        finished.set()

    thread = threading.Thread(target=outsider, daemon=True)
    thread.start()
    with clock.patched():
        # When it sleeps while the clock is patched
        started.set()
        thread.join()
    # Then it slept in real time, and twin time did not move for it
    assert slept and slept[0] >= 0.04
    assert finished.is_set()
    assert clock.elapsed() == 0.0


def test_a_worker_still_waiting_when_the_twin_ends_never_runs_again() -> None:
    # Given a worker that sleeps an hour and then records that it ran
    clock = TwinClock()
    ran_on: list[float] = []
    with clock.patched():
        _start(clock, lambda: (time.sleep(3600), ran_on.append(clock.elapsed())), "sleeps-an-hour")
    # When the twin has ended (the clock's patches are gone) and real time passes
    time.sleep(0.2)
    # Then the worker never resumed: nothing of an ended twin may act on the next one
    assert ran_on == []
    assert clock.elapsed() == 0.0


def test_a_twin_ends_only_once_every_worker_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a running twin whose worker is still running (blocked on a plain lock, which the clock cannot see)
    from ferry_cli.twin import runtime

    monkeypatch.setattr(runtime, "_SETTLE_REAL_SECONDS", 0.5)
    lock = threading.Lock()
    lock.acquire()
    try:
        # When the caller leaves the twin
        with pytest.raises(TwinStuckError, match="still-running"), running_twin() as twin:
            _start(twin.clock, lock.acquire, "still-running")
        # Then the twin did not end under that worker (which would have gone on into the next twin's
        # accounts): it waited for it to reach a wait, and named it when it did not
    finally:
        lock.release()


def test_a_world_sets_the_start_of_twin_time_and_refuses_a_speed() -> None:
    # Given the shipped world with a clock start, one with the old speed, and one with a start without a zone
    from ferry_cli.twin.world import WorldError, parse_world

    raw = json.loads((REPO / "worlds" / "two-accounts.json").read_text(encoding="utf-8"))
    # When they are parsed
    started = parse_world({**raw, "clock": {"start": "2026-01-05T02:00:00Z"}})
    # Then the start is kept in UTC, and the speed and the zoneless start are refused by field
    assert started.clock_start == datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
    assert parse_world(raw).clock_start is None
    with pytest.raises(WorldError, match=r"clock\.speed: .*no speed"):
        parse_world({**raw, "clock": {"speed": 600}})
    with pytest.raises(WorldError, match=r"clock\.start: needs a time zone"):
        parse_world({**raw, "clock": {"start": "2026-01-05T02:00:00"}})
    with pytest.raises(WorldError, match=r"clock\.tick: unknown; allowed: start"):
        parse_world({**raw, "clock": {"tick": 1}})


def test_two_runs_of_one_input_enter_every_state_at_the_same_twin_second() -> None:
    # Given the default world started at a fixed twin time
    from ferry_cli.twin.runtime import Twin
    from ferry_cli.twin.world import load_world

    world = dataclasses.replace(
        load_world(REPO / "worlds" / "two-accounts.json"), clock_start=datetime(2026, 1, 5, 2, tzinfo=UTC)
    )
    timelines = []
    for _ in range(2):
        # When the CMK sample runs in a fresh twin
        with Twin.started(world, REPO / "template.yaml") as twin:
            description = twin.wait(twin.start(load_event("migrate-cmk.json")))
            timelines.append(
                [
                    (e["timestamp"], e["stateEnteredEventDetails"]["name"])
                    for e in twin.history(description["executionArn"])
                    if e["type"].endswith("StateEntered")
                ]
            )
    # Then both runs entered the same states at the same twin times, to the second
    assert timelines[0] == timelines[1]
    assert timelines[0][0][0] == datetime(2026, 1, 5, 2, tzinfo=UTC)
    assert len(timelines[0]) > 40


def test_quiesce_lets_every_other_worker_finish_its_work_without_moving_time() -> None:
    # Given a worker that works a while (real time), records, then sleeps an hour
    clock = TwinClock()
    done: list[float] = []

    def worker() -> None:
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            pass
        done.append(clock.elapsed())
        time.sleep(3600)

    with clock.patched():
        _start(clock, worker, "worker")
        # When the driver quiesces the twin
        clock.quiesce(real_limit=30)
        # Then the worker's work is done, and no twin time passed for it (its hour has not started to run)
        assert done == [0.0]
        assert clock.elapsed() == 0.0
