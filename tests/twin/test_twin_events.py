"""The twin's copy limit (rule 7), its registry transitions, and the RDS events it publishes and routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.events import rds_event
from ferry_cli.twin.rules import MAX_COPIES_IN_PROGRESS, Durations, Transition, TwinRegistry, aws_rules
from tests.conftest import running_twin

pytestmark = pytest.mark.twin

REGION = "us-east-1"
SOURCE = "111111111111"
DEV = "222222222222"


@pytest.fixture
def rds() -> Iterator[Any]:
    with mock_aws():
        creds = boto3.client("sts", region_name=REGION).assume_role(
            RoleArn=f"arn:aws:iam::{SOURCE}:role/twin-test", RoleSessionName="twin-test"
        )["Credentials"]
        yield boto3.client(
            "rds",
            region_name=REGION,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )


@pytest.fixture
def clock() -> TwinClock:
    return TwinClock()


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
