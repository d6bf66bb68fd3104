"""The schedule of a snapshot copy's checks (aurora_ferry.waits.backoff): near the end its progress predicts,
back-off while it shows none, within the minimum interval and the cap; and the poll that feeds it."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest

from aurora_ferry.core import poll_snapshot
from aurora_ferry.waits import next_poll_delay
from aurora_ferry.waits.backoff import (
    ADAPTIVE_MAX_DELAY_SECONDS,
    AIM_FRACTION,
    PREDICTED_MAX_DELAY_SECONDS,
    copy_check_delay,
)
from ferry_cli.twin.lifecycle import PROGRESS_CURVES, ProgressCurve
from tests.unit.test_steps import CLUSTER, SOURCE, World, source_access

pytestmark = [pytest.mark.unit, pytest.mark.filterwarnings("ignore:No application metrics to publish")]

BACK_OFF = [30, 60, 120, 240, 480, 600, 600, 600]


def _follow(duration: float, curve: ProgressCurve, predictive: bool) -> tuple[int, float]:
    """(checks, seconds from the end of the copy to the check that saw it) for a copy of `duration` seconds
    whose progress follows `curve`, checked from its start as the poll loop does (interval 30 s)."""
    elapsed, attempt = 0.0, 0
    while True:
        attempt += 1
        if elapsed >= duration:
            return attempt, elapsed - duration
        percent = curve.percent(elapsed / duration)
        progress = {"percent": percent, "elapsed_seconds": elapsed} if predictive else {}
        elapsed += next_poll_delay(attempt, 30, True, **progress)


def test_linear_progress_is_checked_shortly_before_its_predicted_end() -> None:
    # Given a copy half done after 600 s (so about 600 s to go), checked 4 times
    # When the next check is scheduled
    delay = copy_check_delay(4, 30, 50, 600.0)

    # Then it waits AIM_FRACTION of the remaining time at the rate so far (50.5 % done: PercentProgress is
    # truncated, so half a point is added)
    remaining = 600 * (100 - 50.5) / 50.5
    assert delay == pytest.approx(AIM_FRACTION * remaining, abs=1)
    assert delay < remaining < next_poll_delay(4, 30, True) + 600


def test_close_to_the_end_the_check_goes_to_the_predicted_end_itself() -> None:
    # Given a copy 95 % done after 1900 s: under 100 s to go, less than two intervals of margin at 80 %
    # When the next check is scheduled
    delay = copy_check_delay(12, 30, 95, 1900.0)

    # Then it is at the predicted end, not a margin before it
    assert delay == 90  # 1900 * 4.5 / 95.5 = 89.5, rounded up


def test_no_progress_yet_backs_off_as_before() -> None:
    # Given a copy still at 0 % (queued behind other copies, or just started), checked again and again
    # When each next check is scheduled
    delays = [copy_check_delay(attempt, 30, 0, 60.0 * attempt) for attempt in range(1, 9)]

    # Then the interval doubles from 30 s up to the cap, as the back-off always did
    assert delays == BACK_OFF == [next_poll_delay(attempt, 30, True) for attempt in range(1, 9)]


@pytest.mark.parametrize(
    ("attempt", "percent", "elapsed", "expected"),
    [
        (20, 99, 5000.0, 30),  # the predicted end is 25 s away: never sooner than the interval
        (20, 100, 7100.0, 30),  # 100 % but not available yet: look again after the interval
        (12, 10, 1000.0, PREDICTED_MAX_DELAY_SECONDS),  # 8500 s to go: never later than the cap
        (3, 1, 100.0, 400),  # 1 % after 100 s: at most four times as long as the copy has run
    ],
)
def test_the_delay_stays_between_the_interval_and_the_cap(
    attempt: int, percent: int, elapsed: float, expected: int
) -> None:
    assert copy_check_delay(attempt, 30, percent, elapsed) == expected


def test_another_cap_bounds_the_prediction_and_the_back_off_keeps_its_own() -> None:
    # Given a 10-minute cap on the prediction (what the benchmark compares), a far end waits that cap
    assert copy_check_delay(12, 30, 10, 1000.0, cap_seconds=ADAPTIVE_MAX_DELAY_SECONDS) == 600
    # And a copy at 0 % backs off to 10 minutes whatever the prediction's cap (nothing predicts its end)
    assert [copy_check_delay(attempt, 30, 0, 10.0) for attempt in (6, 7, 8)] == [600, 600, 600]


def test_an_interval_above_the_cap_is_kept() -> None:
    # Given pollIntervalSeconds 1500, longer than the 20-minute cap, and a copy far from its end
    # When the next check is scheduled
    # Then it waits the interval, neither less nor the cap
    assert copy_check_delay(5, 1500, 10, 3000.0) == 1500
    assert copy_check_delay(5, 1500, 99, 3000.0) == 1500


@pytest.mark.parametrize("elapsed", [-5.0, 0.0, 10 * ADAPTIVE_MAX_DELAY_SECONDS])
def test_a_start_time_that_cannot_be_the_copys_falls_back_to_back_off(elapsed: float) -> None:
    # Given a start in the future (clock skew), or longer ago than 2 checks could have waited (a redrive, or a
    # SnapshotCreateTime that is not the copy's start)
    # When the next check is scheduled after 2 checks
    # Then nothing is extrapolated from it: the back-off decides
    assert copy_check_delay(2, 30, 40, elapsed) == 60


def test_fixed_polling_ignores_progress() -> None:
    # Given waitStrategy "polling" (not adaptive), with a copy's progress at hand
    # Then every check is the interval after the last
    assert next_poll_delay(7, 30, False, percent=50, elapsed_seconds=600.0) == 30


# Per twin curve: the most seconds the prediction may notice a 2-hour copy's end late, and the most checks
# more than the back-off it may take. A copy faster at its end than on average so far (slow-start: 1.6 times)
# is predicted to end later than it does; one slower at its end (slow-finish) is checked early, more often.
TWO_HOUR_BOUNDS = {"linear": (60, 0), "queued": (60, 0), "slow-finish": (60, 6), "slow-start": (180, 0)}


@pytest.mark.parametrize("curve", sorted(PROGRESS_CURVES))
def test_a_two_hour_copy_is_noticed_sooner_than_by_the_back_off_whatever_its_curve(curve: str) -> None:
    # Given a 2-hour copy (17 s past the hour, as in the benchmark) whose progress follows each twin curve
    # When it is followed by the predictive schedule and by the back-off
    checks, late = _follow(7217, PROGRESS_CURVES[curve], predictive=True)
    back_off_checks, back_off_late = _follow(7217, PROGRESS_CURVES[curve], predictive=False)

    # Then the back-off notices its end 313 s late, the prediction sooner and within the curve's bounds
    most_late, most_extra_checks = TWO_HOUR_BOUNDS[curve]
    assert back_off_late == 313
    assert late <= most_late < back_off_late
    assert checks <= back_off_checks + most_extra_checks


def test_linear_copies_take_no_more_checks_than_the_back_off() -> None:
    # Given linear copies of 15 minutes to 2 hours (each 17 s past a whole minute)
    for duration in (917, 1217, 3617, 7217):
        # When followed by each schedule
        checks, late = _follow(duration, PROGRESS_CURVES["linear"], predictive=True)
        back_off_checks, _ = _follow(duration, PROGRESS_CURVES["linear"], predictive=False)

        # Then the prediction notices the end within 30 s, with no more checks than the back-off
        assert late <= 30, duration
        assert checks <= back_off_checks, duration


def test_poll_snapshot_measures_elapsed_time_on_rds_clock(world: World) -> None:
    # Given a snapshot, and RDS answering 1234 s after it was taken (its Date header)
    rds = world.client("rds", SOURCE)
    created = rds.create_db_cluster_snapshot(DBClusterIdentifier=CLUSTER, DBClusterSnapshotIdentifier="s1")
    taken = created["DBClusterSnapshot"]["SnapshotCreateTime"].replace(tzinfo=None)
    later = taken + timedelta(seconds=1234)

    # When it is polled
    with mock.patch("moto.core.responses.utcnow", return_value=later):
        result = poll_snapshot(source_access(), "s1", 0)

    # Then the result carries its progress and how long it has been in progress (the Date header has whole
    # seconds), which the payload does not
    assert result.percent_progress == 100
    assert result.elapsed_seconds is not None and 1233 <= result.elapsed_seconds <= 1234
    assert set(result.to_json()) == {"status", "ready", "attempt", "percentProgress"}
