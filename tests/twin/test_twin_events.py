"""The twin's copy limit (rule 7), its registry transitions, the RDS events it publishes and routes, and
Step Functions' execution status-change events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.events import rds_event
from ferry_cli.twin.rules import MAX_COPIES_IN_PROGRESS, Durations, Transition, TwinRegistry, aws_rules
from ferry_cli.twin.sfn_events import DETAIL_TYPE, epoch_ms, resolve_refs
from tests.conftest import acting_as, load_event, run_twin_until, running_twin

pytestmark = pytest.mark.twin

REGION = "us-east-1"
SOURCE = "111111111111"
DEV = "222222222222"


@pytest.fixture
def rds() -> Iterator[Any]:
    with mock_aws():
        yield acting_as(SOURCE, REGION).client("rds")


@pytest.fixture
def registry(rds: Any, clock: TwinClock) -> Iterator[TwinRegistry]:
    with aws_rules(clock, Durations()) as tracked:
        rds.create_db_cluster(
            DBClusterIdentifier="prod",
            Engine="aurora-postgresql",
            MasterUsername="ferry",
            MasterUserPassword="correct-horse-battery",
        )
        tracked.settle_all()
        rds.create_db_cluster_snapshot(DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="prod-snap")
        tracked.settle_all()
        yield tracked


def test_at_most_five_cluster_snapshot_copies_are_in_progress_per_region_and_account(
    rds: Any, registry: TwinRegistry, clock: TwinClock
) -> None:
    # Given five copies in progress in the account
    for index in range(MAX_COPIES_IN_PROGRESS):
        rds.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier="prod-snap", TargetDBClusterSnapshotIdentifier=f"copy-{index}"
        )
    assert registry.copies_in_progress(SOURCE, REGION) == 5

    # When a sixth copy is requested
    with pytest.raises(ClientError) as refused:
        rds.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier="prod-snap", TargetDBClusterSnapshotIdentifier="copy-6"
        )

    # Then AWS's quota fault refuses it, naming the limit; once the copies finish, it goes through
    assert refused.value.response["Error"]["Code"] == "SnapshotQuotaExceeded"
    assert "at most 5 per destination Region and account" in refused.value.response["Error"]["Message"]
    clock.advance(Durations().snapshot_copy + 1)
    registry.advance()
    rds.copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier="prod-snap", TargetDBClusterSnapshotIdentifier="copy-6"
    )


def test_transitions_are_reported_with_their_ready_time(
    rds: Any, registry: TwinRegistry, clock: TwinClock
) -> None:
    # Given a listener on the registry
    seen: list[Transition] = []
    registry.add_listener(seen.append)

    # When a manual snapshot is created and its duration passes
    rds.create_db_cluster_snapshot(DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="nightly")
    clock.advance(Durations().snapshot_create + 1)
    registry.advance()

    # Then the listener saw it start creating and become available, with the ready time it had from the start
    assert [(t.identifier, t.status) for t in seen] == [("nightly", "creating"), ("nightly", "available")]
    assert seen[1].ready_at == seen[0].ready_at
    assert registry.finished[-1].identifier == "nightly"
    assert registry.next_ready_at() is None


def _transition(kind: Any, status: str, busy: str, snapshot_type: str | None = "manual") -> Transition:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    arn = f"arn:aws:rds:{REGION}:{SOURCE}:cluster-snapshot:ferry-run-snap"
    return Transition(kind, SOURCE, REGION, "ferry-run-snap", arn, status, busy, snapshot_type, now, now)


def test_rds_events_follow_the_documented_ids_and_shape() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 11, 23, 9, 20, 5, 516000, tzinfo=UTC)
    created = rds_event(_transition("cluster-snapshot", "available", "creating"), at)
    assert created is not None
    assert (created["source"], created["detail-type"], created["account"], created["region"]) == (
        "aws.rds",
        "RDS DB Cluster Snapshot Event",
        SOURCE,
        REGION,
    )
    assert created["detail"]["EventID"] == "RDS-EVENT-0075"
    assert created["detail"]["SourceType"] == "CLUSTER_SNAPSHOT"
    assert created["detail"]["SourceIdentifier"] == "ferry-run-snap"
    assert created["resources"] == [created["detail"]["SourceArn"]]
    assert created["detail"]["Date"] == "2026-11-23T09:20:05.516Z"
    # No event announces a finished copy, nor anything about automated snapshots the run never waits for
    assert rds_event(_transition("cluster-snapshot", "available", "copying"), at) is None
    assert rds_event(_transition("cluster-snapshot", "available", "creating", "automated"), at) is None


def test_member_events_reach_the_orchestrator_rule_only_through_the_bus_policy() -> None:
    with running_twin() as twin:
        twin.events.pause_schedules()
        event = rds_event(_transition("cluster-snapshot", "available", "creating"), twin.clock.now())
        assert event is not None
        event["region"] = twin.world.region

        # Given the deployed forwarding rule and bus policy: an event in the source account reaches the router
        twin.events.put_event(SOURCE, twin.world.region, event)
        twin.clock.sleep(1)
        assert [d.function for d in twin.events.deliveries] == ["RdsEventRouterFunction"]
        assert twin.events.deliveries[0].event["account"] == SOURCE

        # When the orchestrator's bus policy is removed, the same event is dropped on the way
        twin.client("events").remove_permission(RemoveAllPermissions=True, EventBusName="default")
        twin.events.put_event(SOURCE, twin.world.region, event)
        twin.clock.sleep(1)
        assert len(twin.events.deliveries) == 1

        # And an event the rules do not route (a snapshot starting) goes nowhere
        started = rds_event(_transition("cluster-snapshot", "creating", "creating"), twin.clock.now())
        assert started is not None and started["detail"]["EventID"] == "RDS-EVENT-0074"
        twin.events.put_event(DEV, twin.world.region, started)
        twin.clock.sleep(1)
        assert len(twin.events.deliveries) == 1


# --- Step Functions execution status-change events -----------------------------------------------------------


def _status_events(twin: Any, execution_arn: str) -> list[dict[str, Any]]:
    return [
        e
        for e in list(twin.events.published)
        if e["source"] == "aws.states" and e["detail"]["executionArn"] == execution_arn
    ]


def _delivered(twin: Any, event: dict[str, Any]) -> list[str]:
    return [d.function for d in list(twin.events.deliveries) if d.event["id"] == event["id"]]


def _run_end_rules(twin: Any) -> list[str]:
    """The template's functions whose EventBridgeRule listens to Step Functions status changes."""
    return [
        logical_id
        for logical_id, spec in twin.template.functions.items()
        for source in spec.events
        if source.pattern and "aws.states" in source.pattern.get("source", [])
    ]


def test_a_run_that_succeeds_publishes_running_then_succeeded() -> None:
    with running_twin() as twin:
        twin.events.pause_schedules()
        execution_input = load_event("migrate-cmk.json")
        sfn = twin.client("stepfunctions")

        # Given a migration started at a known twin time
        before = epoch_ms(twin.clock.now())
        arn = twin.start(execution_input)

        # When it runs to its end (and the dispatcher has handed the last event on)
        assert twin.wait(arn)["status"] == "SUCCEEDED"
        after = epoch_ms(twin.clock.now())
        run_twin_until(twin, lambda: len(_status_events(twin, arn)) >= 2, step=1, limit=60)
        twin.clock.sleep(1)  # the dispatcher routes an event after publishing it
        described = sfn.describe_execution(executionArn=arn)

        # Then exactly one RUNNING and one SUCCEEDED event, in that order, describe the execution
        events = _status_events(twin, arn)
        assert [e["detail"]["status"] for e in events] == ["RUNNING", "SUCCEEDED"]
        running, succeeded = events
        for event in events:
            assert (event["version"], event["detail-type"], event["source"]) == (
                "0",
                DETAIL_TYPE,
                "aws.states",
            )
            assert (event["account"], event["region"]) == (
                twin.world.orchestrator_account_id,
                twin.world.region,
            )
            assert event["resources"] == [arn]
            detail = event["detail"]
            assert detail["executionArn"] == arn
            assert detail["stateMachineArn"] == twin.state_machine_arns["MigrationStateMachine"]
            assert detail["name"] == described["name"] == arn.rsplit(":", 1)[-1]
            assert json.loads(detail["input"]) == execution_input
            assert detail["inputDetails"] == {"included": True}
            assert (detail["error"], detail["cause"]) == (None, None)
        assert running["id"] != succeeded["id"]
        # RUNNING has no end yet; both carry the start, in epoch milliseconds of twin time
        assert running["detail"]["stopDate"] is None
        assert (running["detail"]["output"], running["detail"]["outputDetails"]) == (None, None)
        assert running["detail"]["startDate"] == succeeded["detail"]["startDate"]
        assert before <= succeeded["detail"]["startDate"] <= succeeded["detail"]["stopDate"] <= after
        # The run takes twin hours (snapshots, copies, restores), which the dates show
        assert succeeded["detail"]["stopDate"] - succeeded["detail"]["startDate"] >= 600_000
        stopped_at = datetime.fromtimestamp(succeeded["detail"]["stopDate"] / 1000, UTC)
        assert succeeded["time"] == stopped_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert json.loads(succeeded["detail"]["output"]) == json.loads(described["output"])
        assert succeeded["detail"]["outputDetails"] == {"included": True}
        # And of the rules on a run's end, only the notification's matches SUCCEEDED (the cleanup's matches
        # FAILED, TIMED_OUT, ABORTED); none matches RUNNING
        assert _delivered(twin, running) == []
        assert _delivered(twin, succeeded) == ["NotifyRunEndedFunction"]


def test_a_failed_run_publishes_failed_with_its_error_and_reaches_the_run_end_rule() -> None:
    with running_twin() as twin:
        twin.events.pause_schedules()

        # Given a migration whose target key policy makes it fail
        arn = twin.start(load_event("migrate-failing-key-policy.json"))

        # When it ends
        described = twin.wait(arn)
        assert described["status"] == "FAILED"
        run_twin_until(twin, lambda: len(_status_events(twin, arn)) >= 2, step=1, limit=60)
        twin.clock.sleep(1)  # the dispatcher routes an event after publishing it

        # Then its FAILED event carries DescribeExecution's error and cause, and no output
        failed = _status_events(twin, arn)[-1]["detail"]
        assert failed["status"] == "FAILED"
        assert (failed["error"], failed["cause"]) == (described["error"], described["cause"])
        assert failed["error"] and failed["cause"]
        assert (failed["output"], failed["outputDetails"]) == (None, None)
        assert failed["startDate"] <= failed["stopDate"]
        # And the template's run-end rule, its !Ref of the state machine resolved to the ARN, delivered it
        assert _run_end_rules(twin), "template.yaml has no EventBridgeRule on aws.states"
        assert sorted(_delivered(twin, _status_events(twin, arn)[-1])) == sorted(_run_end_rules(twin))


def test_a_stopped_run_publishes_aborted_with_the_error_and_cause_it_was_stopped_with() -> None:
    with running_twin() as twin:
        twin.events.pause_schedules()
        sfn = twin.client("stepfunctions")

        # Given one run stopped the moment it started, without a reason
        at_once = twin.start(load_event("migrate-cmk.json"))
        sfn.stop_execution(executionArn=at_once)
        # And another stopped ten twin minutes in, with an error and a cause
        later = twin.start(load_event("migrate-cmk.json"))
        twin.clock.sleep(600)
        sfn.stop_execution(executionArn=later, error="Operator.Stop", cause="stopped from the console")

        # When both have ended
        assert twin.wait(at_once)["status"] == "ABORTED"
        assert twin.wait(later)["status"] == "ABORTED"
        run_twin_until(
            twin, lambda: all(len(_status_events(twin, a)) >= 2 for a in (at_once, later)), step=1, limit=60
        )
        twin.clock.sleep(1)  # the dispatcher routes an event after publishing it

        # Then each published RUNNING then ABORTED, the second with the error and cause it was given
        for arn in (at_once, later):
            assert [e["detail"]["status"] for e in _status_events(twin, arn)] == ["RUNNING", "ABORTED"]
        quick = _status_events(twin, at_once)[-1]
        stopped = _status_events(twin, later)[-1]
        assert (quick["detail"]["error"], quick["detail"]["cause"]) == (None, None)
        assert (stopped["detail"]["error"], stopped["detail"]["cause"]) == (
            "Operator.Stop",
            "stopped from the console",
        )
        assert stopped["detail"]["stopDate"] - stopped["detail"]["startDate"] >= 600_000
        assert (stopped["detail"]["output"], stopped["detail"]["outputDetails"]) == (None, None)
        # And the execution's history keeps them too, as AWS's ExecutionAborted event does
        aborted = twin.history(later)[-1]
        assert aborted["type"] == "ExecutionAborted"
        assert aborted["executionAbortedEventDetails"] == {
            "error": "Operator.Stop",
            "cause": "stopped from the console",
        }
        # And the run-end rule received both ABORTED events
        assert _delivered(twin, quick) and _delivered(twin, stopped)


def test_refs_in_an_event_pattern_resolve_at_any_depth_and_an_unknown_one_is_named() -> None:
    arn = f"arn:aws:states:{REGION}:{SOURCE}:stateMachine:aurora-ferry-twin-MigrationStateMachine"
    refs = {"MigrationStateMachine": arn, "AWS::AccountId": SOURCE}
    pattern = {
        "source": ["aws.states"],
        "detail": {
            "status": ["FAILED"],
            "stateMachineArn": [{"Ref": "MigrationStateMachine"}, {"prefix": {"Ref": "AWS::AccountId"}}],
        },
    }

    # When the pattern's references are resolved
    resolved = resolve_refs(pattern, refs, "RunEndedCleanupFunction event RunEnded")

    # Then each becomes its value, the rest stays as it was, and the template's copy is left alone
    assert resolved == {
        "source": ["aws.states"],
        "detail": {"status": ["FAILED"], "stateMachineArn": [arn, {"prefix": SOURCE}]},
    }
    assert pattern["detail"]["stateMachineArn"][0] == {"Ref": "MigrationStateMachine"}
    # And a reference to nothing deployed is refused, naming it and the rule
    unknown = {"detail": {"stateMachineArn": [{"Ref": "NoSuchStateMachine"}]}}
    with pytest.raises(ValueError, match=r"RunEndedCleanupFunction event RunEnded: !Ref NoSuchStateMachine"):
        resolve_refs(unknown, refs, "RunEndedCleanupFunction event RunEnded")
