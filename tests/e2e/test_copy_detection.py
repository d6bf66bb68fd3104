"""A long snapshot copy in the twin is noticed within a minute of its end, with fewer checks than the back-off
took: two migrations side by side in one twin, one polling its copies from their progress (as shipped), one
with the back-off (bench.copies.back_off_poll). Twin time is virtual, so every figure here is exact."""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest

from aurora_ferry.core import naming
from bench.copies import back_off_poll, copy_checks
from tests.conftest import load_event, running_twin

pytestmark = pytest.mark.e2e

TWO_HOURS_OFF_THE_GRID = 7217.0  # 17 s past the hour: no check or sweep falls on the end by chance
NAMES = {"predictive": "copies-predictive", "back-off": "copies-back-off"}


def _event(schedule: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("migrate-cmk.json"))
    event["options"]["waitStrategy"] = "events"
    # A target that keeps its copy copies the shared snapshot (by default it restores from it directly).
    event["options"]["cleanup"] = "keep-target-copies"
    event["targets"][0]["clusterIdentifier"] = f"orders-dev-{schedule[:4]}"
    return event


def test_a_two_hour_copy_is_noticed_within_a_minute_with_fewer_checks_than_the_back_off() -> None:
    # Given 2-hour snapshot copies progressing linearly, and two runs of a CMK source into one target (a share
    # copy and a target copy each), the second polling its copies with back-off
    runs = {schedule: naming.run_id_from_execution_name(name) for schedule, name in NAMES.items()}
    events = {schedule: _event(schedule) for schedule in NAMES}
    overrides = {"PollStatusFunction": back_off_poll({runs["back-off"]})}
    with running_twin(
        durations={"snapshot_copy": TWO_HOURS_OFF_THE_GRID}, handler_overrides=overrides
    ) as twin:
        # When both run side by side
        arns = {schedule: twin.start(events[schedule], name=NAMES[schedule]) for schedule in NAMES}
        ended: dict[str, dict[str, Any]] = {}

        def follow(schedule: str) -> None:
            ended[schedule] = twin.wait(arns[schedule], timeout_real_seconds=600)

        threads = [threading.Thread(target=follow, args=(schedule,)) for schedule in NAMES]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        found = {
            schedule: copy_checks(
                twin.history(arns[schedule]), list(twin.rules.finished), runs[schedule], event
            )
            for schedule, event in events.items()
        }

    # Then both succeed; each copy of the predictive run was noticed within 60 twin seconds of its end and took
    # fewer checks than the same copy under back-off, which noticed it more than 5 minutes late
    assert {schedule: ended[schedule]["status"] for schedule in NAMES} == dict.fromkeys(NAMES, "SUCCEEDED")
    predictive, back_off = found["predictive"], found["back-off"]
    assert [row["wait"] for row in predictive] == ["share copy", "target copy"]
    for mine, theirs in zip(predictive, back_off, strict=True):
        assert mine["delay"] is not None and 0 <= mine["delay"] <= 60, mine
        assert theirs["delay"] > 300, theirs
        assert mine["checks"] < theirs["checks"], (mine, theirs)
