"""How long until the next check of a wait no RDS event announces (snapshot copies): back-off, or a check
scheduled near the end the copy's own progress predicts.

RDS sends no event when a cluster snapshot copy finishes, so the run polls it. Back-off alone (30 s doubling
to 10 minutes) is cheap but notices the end of a long copy up to 10 minutes late. DescribeDBClusterSnapshots
reports ``PercentProgress`` ("the percentage of the estimated data that has been transferred") and
``SnapshotCreateTime`` for the snapshot
(https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBClusterSnapshot.html), so each check can
extrapolate when the copy will end and schedule the next check near it (:func:`copy_check_delay`).
"""

from __future__ import annotations

import math

# The interval doubles from options.pollIntervalSeconds up to this cap (or the interval itself when that is longer).
ADAPTIVE_MAX_DELAY_SECONDS = 600
# A copy whose progress predicts its end is looked at least every 20 minutes: with a 10-minute cap a 2-hour copy
# needs at least 13 checks whatever the prediction says; 20 minutes lets it be seen with 11, and bounds how late
# a copy that suddenly speeds up is noticed. A copy without progress to go on still backs off to 10 minutes.
PREDICTED_MAX_DELAY_SECONDS = 1200
_MAX_DOUBLINGS = 20

# The share of the predicted remaining time the next check waits. Below 1 so that a copy that speeds up
# (progress is not linear: a copy that sat queued, or one whose first blocks go slower) is still caught near its
# end: the prediction extrapolates the average rate so far, and a copy finishing up to 1.25x faster than that
# average is checked before it ends, then once more.
AIM_FRACTION = 0.8
# When stopping short of the predicted end would leave less than this many intervals, the next check goes to
# the predicted end itself: a check saved is worth more than a few seconds of the margin.
_FULL_AIM_INTERVALS = 2
# Never wait longer than this multiple of the time the copy has been running: an early percentage (1 % of a
# short copy) predicts little, and the wait grows with the copy's own scale as the back-off grows with checks.
ELAPSED_MULTIPLE = 4
# How much longer than its checks could have taken a copy may have been running before its start time is
# distrusted (Lambda retries and state transitions between checks). The schedule takes SnapshotCreateTime as the
# copy's start: the API reference says so of a DB snapshot's ("Changes for the copy when the snapshot is
# copied", https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBSnapshot.html) but not of a cluster
# snapshot's. A start older than the checks allow (the source's time, or a wait resumed by a redrive) is ignored.
_ANCHOR_SLACK_SECONDS = 900


def next_poll_delay(
    attempt: int,
    interval_seconds: int,
    adaptive: bool,
    *,
    percent: int | None = None,
    elapsed_seconds: float | None = None,
) -> int:
    """Seconds to wait before the next check, after `attempt` checks.

    Fixed polling waits `interval_seconds` each time. Adaptive polling starts there and doubles after each
    check, up to ADAPTIVE_MAX_DELAY_SECONDS, unless the check saw a snapshot's progress (`percent`, and
    `elapsed_seconds` since it started): then :func:`copy_check_delay` schedules the next check near the end
    that progress predicts.
    """
    if not adaptive:
        return interval_seconds
    if percent is not None and elapsed_seconds is not None:
        return copy_check_delay(attempt, interval_seconds, percent, elapsed_seconds)
    return _back_off(attempt, interval_seconds, ADAPTIVE_MAX_DELAY_SECONDS)


def copy_check_delay(
    attempt: int,
    interval_seconds: int,
    percent: int,
    elapsed_seconds: float,
    cap_seconds: int = PREDICTED_MAX_DELAY_SECONDS,
) -> int:
    """Seconds until the next check of a copy that is `percent` done after `elapsed_seconds`, after `attempt`
    checks: near the predicted end, never sooner than `interval_seconds`, never later than `cap_seconds` (the
    benchmark asks what another cap would do).

    - No progress yet (0 %: the copy may be queued; AWS runs at most five copies per Region and account), or a
      start time that cannot be the copy's (in the future, or earlier than `attempt` checks could have waited):
      nothing to extrapolate from, so back off as before.
    - Otherwise the remaining time at the average rate so far, ``elapsed * (100 - p) / p``, with p the reported
      percentage plus half a point (PercentProgress is a whole number, so the true value lies in [p, p + 1)).
      The check waits AIM_FRACTION of it (all of it when the margin would be under two intervals), at most
      ELAPSED_MULTIPLE times the elapsed time and the cap, at least `interval_seconds`.
    """
    cap = max(interval_seconds, cap_seconds)
    checks = max(attempt, 1)
    if percent <= 0 or elapsed_seconds <= 0 or elapsed_seconds > checks * cap + _ANCHOR_SLACK_SECONDS:
        return _back_off(attempt, interval_seconds, min(cap_seconds, ADAPTIVE_MAX_DELAY_SECONDS))
    done = min(percent + 0.5, 100.0)
    remaining = elapsed_seconds * (100.0 - done) / done
    aim = remaining * AIM_FRACTION
    if remaining - aim < _FULL_AIM_INTERVALS * interval_seconds:
        aim = remaining
    longest = min(cap, ELAPSED_MULTIPLE * elapsed_seconds)
    return int(max(interval_seconds, min(longest, math.ceil(aim))))


def _back_off(attempt: int, interval_seconds: int, cap_seconds: int) -> int:
    # A 2-hour copy is checked about 17 times instead of 240 times at 30 s, its end seen at most 10 minutes late.
    cap = max(interval_seconds, cap_seconds)
    doublings = min(max(attempt - 1, 0), _MAX_DOUBLINGS)
    return int(min(cap, interval_seconds * 2**doublings))
