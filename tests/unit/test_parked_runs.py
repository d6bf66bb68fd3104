"""A run parked for a redrive: the ASL's park path, the ParkedUntilRedrive decision, what cleanup keeps, and
what the scheduled retry and the ended-run cleanup do with a parked run's intermediates."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from aurora_ferry import migration
from aurora_ferry.core import RunParkedError, naming
from aurora_ferry.ended import ExecutionEnded, clean_up_after
from aurora_ferry.migration.leftovers import REDRIVE_WINDOW_SECONDS, LeftoverStore
from aurora_ferry.migration.summary import await_redrive
from ferry_cli.asl.builder import PARKED_ERRORS, Flow, params
from ferry_cli.asl.migrate import definition
from ferry_cli.asl.park import add_park_path
from tests.unit.test_ended import _event
from tests.unit.test_steps import RUN, SOURCE, TARGET, World, rows, run_until_cleanup

pytestmark = pytest.mark.unit


def _parking_flow() -> Flow:
    flow = Flow(failure="Failed", park="Park")
    flow.task("Work", "does it", "WorkArn", params(x="$.x"), timeout=60, result="$.work")
    flow.poll_loop("Thing", "thing", "checks it", "PollArn", params(id="$.id"))
    flow.add({"Done": {"Type": "Succeed"}})
    flow.add({"Failed": {"Type": "Fail", "Error": "X"}})
    add_park_path(
        flow, "CleanArn", {}, summarize="SumArn", reshare=("ShareArn", {}), shared_mark="$.marks.shared"
    )
    return flow


def test_a_parking_flow_catches_transient_errors_to_its_park_path_between_domain_errors_and_the_rest() -> (
    None
):
    # Given a flow that parks
    states = _parking_flow().build()["States"]
    # Then a task's catchers are: domain errors to the failure, transient errors to the park, the rest to failure
    catchers = states["Work"]["Catch"]
    assert [c["Next"] for c in catchers] == ["Failed", "Park", "Failed"]
    assert catchers[1]["ErrorEquals"] == list(PARKED_ERRORS)
    assert catchers[2]["ErrorEquals"] == ["States.ALL"]
    assert {"Sandbox.Timedout", "States.Timeout", "AwsThrottledError", "TargetParked"} <= set(PARKED_ERRORS)
    # And a wait that ran out of checks fails (options.maxPollAttempts is the user's bound), never parks
    assert states["ThingWaitExhausted"]["Next"] == "Failed"
    # And the park path resumes each parked step where a redrive must start it again
    rules = {r["Variable"]: r["Next"] for r in states["ResumeRun"]["Choices"]}
    assert rules == {"$.park.failure.Work": "Work", "$.park.failure.CheckThing": "StartThingWait"}
    # And ParkedUntilRedrive catches nothing, so that the execution fails there and a redrive runs it again
    assert "Catch" not in states["ParkedUntilRedrive"]
    assert states["ParkedUntilRedrive"]["Parameters"]["redriveCount.$"] == "$$.Execution.RedriveCount"


def test_a_flow_without_a_park_has_no_park_path() -> None:
    flow = Flow(failure="Failed")
    flow.task("Work", "does it", "WorkArn", {}, timeout=60, result="$.work")
    flow.add({"Failed": {"Type": "Fail", "Error": "X"}})
    assert [c["Next"] for c in flow.build()["States"]["Work"]["Catch"]] == ["Failed", "Failed"]
    with pytest.raises(ValueError, match="needs a flow that parks"):
        add_park_path(flow, "C", {}, summarize="S", reshare=("R", {}), shared_mark="$.m")


def test_the_migration_parks_only_after_it_made_something() -> None:
    states = definition()["States"]
    # Before the source snapshot nothing is made: a transient error there fails the run (start it again)
    assert "ParkRun" not in [c["Next"] for c in states["Preflight"]["Catch"]]
    assert "ParkRun" in [c["Next"] for c in states["PrepareSourceSnapshot"]["Catch"]]
    # A failed target iteration parks the run through the Map's catcher of TargetParked
    map_catchers = {
        c["Next"] for c in states["MigrateTargets"]["Catch"] if "TargetParked" in c["ErrorEquals"]
    }
    assert map_catchers == {"ParkRun"}


def _parked_state(redrive_count: int = 0) -> dict[str, Any]:
    return {
        "runId": RUN,
        "targetAccess": {"accountId": TARGET},
        "failure": {},
        "park": {
            "redriveCount": redrive_count,
            "failure": {
                "MigrateTargets": {
                    "Error": "TargetParked",
                    "Cause": json.dumps(
                        {
                            "accountId": TARGET,
                            "failure": {
                                "CopyToTarget": {"Error": "Sandbox.Timedout", "Cause": "Task timed out"}
                            },
                        }
                    ),
                }
            },
            "cleanup": {"policy": "delete", "actions": [{"action": "unshared", "arn": "arn:share"}]},
        },
    }


def test_parked_until_redrive_fails_the_run_until_a_redrive_and_then_lets_it_resume() -> None:
    # Given a run parked before any redrive
    state = _parked_state()
    # When ParkedUntilRedrive runs in the original execution / Then it fails with the step, account, cleanup
    with pytest.raises(RunParkedError) as parked:
        await_redrive(state, 0)
    message = str(parked.value)
    assert (
        f"MigrateTargets/CopyToTarget (target account {TARGET})" in message and "Sandbox.Timedout" in message
    )
    assert "unshared arn:share" in message and "redrive this execution within 14 days" in message
    # When it runs again in the redriven execution / Then the run goes on
    assert await_redrive(state, 1) == {"redriveCount": 1}
    # And a run that parked again after its first redrive waits for the second
    with pytest.raises(RunParkedError):
        await_redrive(_parked_state(1), 1)


def test_a_parked_run_unshares_and_keeps_what_the_policy_would_delete_recorded_for_later(
    world: World, leftovers: LeftoverStore
) -> None:
    # Given a run that shared its snapshot and copied it into the target
    run = run_until_cleanup(world, "delete")
    # When it parks
    result = migration.cleanup(run.request, RUN, leftovers, park=True)
    # Then the share is withdrawn, nothing is deleted, and every intermediate is recorded to delete after the window
    actions = [a["action"] for a in result["actions"]]
    assert actions.count("unshared") == 1 and "deleted" not in actions
    assert world.restore_accounts(SOURCE, run.share.identifier) == []
    kept = {naming.share_copy_id(RUN), naming.source_snapshot_id(RUN), naming.target_copy_id(RUN)}
    assert kept <= world.snapshot_ids(SOURCE) | world.snapshot_ids(TARGET)
    assert set(rows(leftovers)) >= kept
    after = time.time() + REDRIVE_WINDOW_SECONDS - 60
    assert all(leftover.not_before > after for leftover in leftovers.scan())
    # When the scheduled retry runs within the window / Then it keeps them
    counts = migration.retry_leftovers(leftovers)
    assert counts["parked"] == len(rows(leftovers)) and counts["deleted"] == 0
    # When it runs after the window / Then it deletes them
    later = migration.retry_leftovers(leftovers, now=time.time() + REDRIVE_WINDOW_SECONDS + 60)
    assert later["deleted"] >= len(kept)
    assert not kept & (world.snapshot_ids(SOURCE) | world.snapshot_ids(TARGET))


def test_the_ended_run_cleanup_of_a_parked_run_only_unshares(world: World, leftovers: LeftoverStore) -> None:
    # Given a run that shared its snapshot and then ended parked (its FAILED event carries RunParkedError)
    run = run_until_cleanup(world, "delete")
    event = _event("FAILED", run.request.to_json(), error="RunParkedError", cause="parked")
    # When the ended-run cleanup handles it
    result = clean_up_after(ExecutionEnded.parse(event), leftovers)
    # Then the snapshot is unshared and the intermediates the redrive needs are kept
    assert world.restore_accounts(SOURCE, run.share.identifier) == []
    assert "deleted" not in [a["action"] for a in result["actions"]]
    assert naming.share_copy_id(RUN) in world.snapshot_ids(SOURCE)
    # While a run that failed for good is cleaned up whole
    failed = clean_up_after(ExecutionEnded.parse(_event("FAILED", run.request.to_json())), leftovers)
    assert "deleted" in [a["action"] for a in failed["actions"]]
    assert naming.share_copy_id(RUN) not in world.snapshot_ids(SOURCE)


def test_a_failure_while_handling_the_first_is_named_after_it() -> None:
    from aurora_ferry.migration import summarize_failure

    state = {
        "failure": {
            "MigrateTargets": {"Error": "Sandbox.Timedout", "Cause": "slow"},
            "UnshareForRedrive": {
                "Error": "AwsThrottledError",
                "Cause": json.dumps({"errorMessage": "busy"}),
            },
        }
    }
    cause = summarize_failure(state)["cause"]
    assert cause.index("MigrateTargets") < cause.index("| then UnshareForRedrive")
    assert "AwsThrottledError: busy" in cause


def test_an_ended_event_of_a_run_redriven_since_is_not_cleaned_up(
    world: World, leftovers: LeftoverStore
) -> None:
    # Given a parked run's FAILED event, handled after the run was redriven (it is running again)
    run = run_until_cleanup(world, "delete")
    event = _event("FAILED", run.request.to_json(), error="RunParkedError", cause="parked")
    # When the ended-run cleanup handles it
    result = clean_up_after(ExecutionEnded.parse(event), leftovers, lambda arn: "RUNNING")
    # Then it leaves the running execution's share and intermediates alone
    assert "redriven" in result["skipped"]
    assert world.restore_accounts(SOURCE, run.share.identifier) == [TARGET]
