"""The migration ASL's control flow in moto's interpreter: retries, bounded waits, catches, the Fail state.

Chosen functions are swapped for scripted fakes; the rest are the real handlers in the twin.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from aurora_ferry.core import ResourceFailedError
from aurora_ferry.core.naming import run_id_from_execution_name, source_snapshot_id, target_copy_id
from tests.conftest import load_event, run_twin_until, running_twin

pytestmark = pytest.mark.statemachine


def _entered(history: list[dict[str, Any]], name: str) -> int:
    return sum(
        1
        for e in history
        if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == name
    )


def _failing_then_real(
    error_name: str, failures: int, real_function: str, twin_box: list[Any]
) -> Callable[..., Any]:
    """Raise an exception whose class is named `error_name` `failures` times, then run the real handler."""
    error_class = type(error_name, (Exception,), {})
    calls = {"n": 0}

    def handler(event: dict[str, Any], context: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise error_class("injected by the test")
        twin = twin_box[0]
        spec = twin.template.functions[real_function]
        return getattr(twin._handler_module(spec), spec.handler_name)(event, context)

    return handler


@pytest.mark.parametrize(
    "error_name", ["Lambda.ServiceException", "Lambda.TooManyRequestsException", "AwsThrottledError"]
)
def test_transient_errors_are_retried_and_the_run_recovers(error_name: str) -> None:
    # Given a source step that fails twice with a transient error, then works
    box: list[Any] = []
    flaky = _failing_then_real(error_name, 2, "PrepareSourceFunction", box)
    with running_twin(handler_overrides={"PrepareSourceFunction": flaky}) as twin:
        box.append(twin)
        # When the migration runs
        description = twin.wait(twin.start(load_event("migrate-cmk.json")), timeout_real_seconds=240)
        invocations = twin.invocations.by_function
    # Then the state machine retried it and the run succeeded
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert invocations["PrepareSourceFunction"] == 3


def test_a_wait_that_never_ends_stops_at_max_poll_attempts_with_a_clear_failure() -> None:
    # Given a snapshot that never becomes available, polled (not awaited), and at most 4 checks
    event = copy.deepcopy(load_event("migrate-cmk.json"))
    event["options"]["maxPollAttempts"] = 4
    event["options"]["waitStrategy"] = "polling"

    def never_ready(poll: dict[str, Any], context: Any) -> dict[str, Any]:
        return {
            "status": "creating",
            "ready": False,
            "attempt": poll["attempt"] + 1,
            "adaptive": False,
            "nextDelaySeconds": poll["intervalSeconds"],
        }

    with running_twin(handler_overrides={"PollStatusFunction": never_ready}) as twin:
        # When the migration runs
        description = twin.wait(twin.start(event), timeout_real_seconds=120)
        history = twin.history(description["executionArn"])
        source_snapshots = twin.inventory()["111111111111"]["snapshots"]
    # Then it fails after exactly 4 checks, names the limit, and still runs the cleanup
    assert description["status"] == "FAILED"
    assert description["error"] == "WaitLimitExceeded"
    assert "source snapshot still creating after 4 checks" in description["cause"]
    assert _entered(history, "CheckSourceSnapshot") == 4
    assert _entered(history, "WaitForSourceSnapshot") == 3
    assert _entered(history, "CleanupAfterFailure") == 1
    # And the snapshot it made is accounted for: deleted if it was available by cleanup time, otherwise (AWS
    # deletes only available cluster snapshots) left in place for the scheduled retry, which may have deleted
    # it by now; while it exists it carries the run's tags
    run_id = run_id_from_execution_name(description["name"])
    snapshot_arn = f"arn:aws:rds:eu-west-1:111111111111:cluster-snapshot:{source_snapshot_id(run_id)}"
    made = [s for s in source_snapshots if s["arn"] == snapshot_arn]
    if f"deleted {snapshot_arn}" in description["cause"]:
        assert not made
    else:
        assert f"left-in-place {snapshot_arn} (not deletable yet" in description["cause"]
        for snapshot in made:
            assert snapshot["tags"]["aurora-ferry:managed"] == "true"
            assert snapshot["tags"]["aurora-ferry:run-id"] == run_id


def test_a_snapshot_still_being_created_when_a_run_fails_is_deleted_once_it_is_available() -> None:
    # Given a source snapshot that takes a month to create (so no machine load can finish it early), and a run
    # that gives up on it after two checks
    event = copy.deepcopy(load_event("migrate-cmk.json"))
    event["options"].update(maxPollAttempts=2, waitStrategy="polling")
    with running_twin(durations={"snapshot_create": 30 * 24 * 3600}) as twin:
        rds = twin.client("rds", "111111111111")
        before = _snapshot_ids(rds)
        # When the run fails
        description = twin.wait(twin.start(event), timeout_real_seconds=120)
        snapshot_id = source_snapshot_id(run_id_from_execution_name(description["name"]))
        left_status = _snapshot_status(rds, snapshot_id)
        # ... the scheduled retry runs twice while the snapshot is still being created
        ticks = twin.invocations.by_function.get("RetryLeftoversFunction", 0)
        run_twin_until(
            twin, lambda: twin.invocations.by_function.get("RetryLeftoversFunction", 0) >= ticks + 2
        )
        status_while_retried = _snapshot_status(rds, snapshot_id)
        # ... and then RDS finishes it
        from moto.rds.models import rds_backends

        twin.rules.track(
            "cluster-snapshot",
            rds_backends["111111111111"]["eu-west-1"].cluster_snapshots[snapshot_id],
            "creating",
            0,
        )
        run_twin_until(twin, lambda: snapshot_id not in _snapshot_ids(rds))
        remaining = _snapshot_ids(rds)
        cluster = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
    # Then the failed run left the snapshot in place because it was still being created, and said it would retry
    assert description["status"] == "FAILED"
    assert left_status == "creating"
    assert (
        f"left-in-place arn:aws:rds:eu-west-1:111111111111:cluster-snapshot:{snapshot_id}"
        in description["cause"]
    )
    assert "deleted once available by the scheduled retry" in description["cause"]
    # And the retry left it alone while it was being created, deleted it once it was available, and touched
    # nothing else of the source account
    assert status_while_retried == "creating"
    assert remaining == before
    assert cluster["Status"] == "available"


def _snapshot_status(rds: Any, identifier: str) -> str:
    status: str = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=identifier)[
        "DBClusterSnapshots"
    ][0]["Status"]
    return status


def _snapshot_ids(rds: Any) -> set[str]:
    return {
        s["DBClusterSnapshotIdentifier"] for s in rds.describe_db_cluster_snapshots()["DBClusterSnapshots"]
    }


def test_a_resource_that_fails_ends_the_run_with_its_named_error() -> None:
    # Given a target copy that AWS reports as failed (source-side polls stay real)
    box: list[Any] = []
    real_poll = _failing_then_real("Unused", 0, "PollStatusFunction", box)

    def failed_copy(poll: dict[str, Any], context: Any) -> Any:
        if poll["access"]["accountId"] == "222222222222":
            raise ResourceFailedError("cluster snapshot ferry-x-copy is failed", account_id="222222222222")
        return real_poll(poll, context)

    with running_twin(handler_overrides={"PollStatusFunction": failed_copy}) as twin:
        box.append(twin)
        # When the migration runs
        # (a target that keeps its copy makes one)
        description = twin.wait(twin.start(load_event("migrate-keep-copies.json")), timeout_real_seconds=120)
        history = twin.history(description["executionArn"])
        target_snapshots = twin.inventory()["222222222222"]["snapshots"]
    # Then the Map's failure is caught, cleanup runs, and the Fail state carries the error and account
    assert description["status"] == "FAILED"
    assert description["error"] == "ResourceFailedError"
    assert "[account 222222222222]" in description["cause"]
    assert _entered(history, "CleanupAfterFailure") == 1
    assert _entered(history, "Summarize") == 0
    # And the target's copy was kept, as options.cleanup asks, while the source's intermediates were deleted
    run_id = run_id_from_execution_name(description["name"])
    copy_arn = "arn:aws:rds:eu-west-1:222222222222:cluster-snapshot:" + target_copy_id(run_id)
    assert f"kept {copy_arn}" in description["cause"]
    assert (
        f"deleted arn:aws:rds:eu-west-1:111111111111:cluster-snapshot:ferry-{run_id}-share"
        in description["cause"]
    )
    assert [s["arn"] for s in target_snapshots if s["tags"].get("aurora-ferry:managed") == "true"] == [
        copy_arn
    ]


def test_invalid_input_fails_before_any_aws_work() -> None:
    # Given an input with 21 targets
    event = copy.deepcopy(load_event("migrate-cmk.json"))
    event["targets"] = [
        dict(event["targets"][0], accountId=f"{n:012d}") for n in range(300000000000, 300000000021)
    ]
    with running_twin() as twin:
        before = twin.inventory()
        # When it is started
        description = twin.wait(twin.start(event), timeout_real_seconds=60)
        after = twin.inventory()
        invocations = dict(twin.invocations.by_function)
        ended = [
            {d.result["skipped"]} for d in twin.events.deliveries if d.function == "RunEndedCleanupFunction"
        ]
        scheduled = {
            logical_id
            for logical_id, spec in twin.template.functions.items()
            if any(source.kind == "Schedule" for source in spec.events)
        }
    # Then it fails with InvalidInputError naming the field, and only validation and the summary ran, and what
    # the FAILED status change starts: the cleanup, which found an input that made nothing, and the notification
    # (besides the wait sweeper and the leftover retry on their own schedules)
    assert description["status"] == "FAILED"
    assert description["error"] == "InvalidInputError"
    assert "targets: at most 20 targets" in description["cause"]
    assert scheduled >= {"WaitSweeperFunction", "RetryLeftoversFunction"}
    assert set(invocations) - scheduled == {
        "ValidateInputFunction",
        "SummarizeFunction",
        "RunEndedCleanupFunction",
        "NotifyRunEndedFunction",
    }
    assert ended == [{"the input was refused before anything was made"}]
    assert after == before


def test_missing_source_cluster_is_stopped_by_preflight_and_changes_nothing() -> None:
    # Given a source cluster that does not exist
    event = copy.deepcopy(load_event("migrate-cmk.json"))
    event["source"]["clusterIdentifier"] = "no-such-cluster"
    with running_twin() as twin:
        before = twin.inventory()
        # When the migration runs
        description = twin.wait(twin.start(event), timeout_real_seconds=60)
        after = twin.inventory()
    # Then preflight fails the run, naming the account, the cluster and the field to fix
    assert description["status"] == "FAILED"
    assert description["error"] == "PreflightFailedError"
    assert "source cluster no-such-cluster does not exist in account 111111111111" in description["cause"]
    assert "source.clusterIdentifier" in description["cause"]
    assert after == before


def test_a_successful_run_reports_every_created_arn_and_its_timings() -> None:
    with running_twin() as twin:
        description = twin.wait(twin.start(load_event("migrate-two-targets.json")), timeout_real_seconds=240)
    output = json.loads(description["output"])
    kinds = sorted(entry["kind"] for entry in output["created"])
    # (The targets restore straight from the shared snapshot: no target copies. Dev mirrors the source's two
    # instances in its instanceClass; qa asks for one.)
    assert kinds == sorted(
        ["source snapshot", "share copy"] + ["target cluster"] * 2 + ["target instance"] * 3
    )
    assert {t["restoredFromSharedSnapshot"] for t in output["targets"]} == {
        output["source"]["sharedSnapshotArn"]
    }
    assert [t["step"] for t in output["timings"]["source"]] == [
        "source snapshot",
        "share copy (re-encrypt)",
        "share",
    ]
    # Twin time follows the world's durations: a 600 s snapshot cannot be reported as done in less.
    assert output["timings"]["source"][0]["seconds"] >= 600
