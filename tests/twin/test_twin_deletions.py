"""Deleting an Aurora instance or cluster takes time in the twin, as in AWS (rule 1, ferry_cli.twin.lifecycle and
ferry_cli.twin.clusters): DeleteDBInstance / DeleteDBCluster return with the resource "deleting", Describe*
shows it so for its duration (world ``durations.instanceDelete`` / ``clusterDelete``), then answers not found;
meanwhile AWS's refusals around a deletion apply. moto removes both at once and refuses none of these.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.events import rds_event
from ferry_cli.twin.rules import Durations, Transition, TwinRegistry, aws_rules
from ferry_cli.twin.world import parse_world
from tests.conftest import acting_as

pytestmark = pytest.mark.twin

REGION = "us-east-1"
SOURCE = "111111111111"
DURATIONS = Durations(instance_delete=300.0, cluster_delete=420.0)


@pytest.fixture
def rds() -> Iterator[Any]:
    with mock_aws():
        yield acting_as(SOURCE, REGION).client("rds")


@pytest.fixture
def registry(rds: Any, clock: TwinClock) -> Iterator[TwinRegistry]:
    """An available cluster "dev" with one available instance "dev-1"."""
    with aws_rules(clock, DURATIONS) as tracked:
        create_cluster(rds, "dev")
        add_instance(rds, "dev", "dev-1")
        tracked.settle_all()
        yield tracked


def create_cluster(rds: Any, cluster_id: str) -> None:
    rds.create_db_cluster(
        DBClusterIdentifier=cluster_id,
        Engine="aurora-postgresql",
        MasterUsername="ferry",
        MasterUserPassword="correct-horse-battery",
    )


def add_instance(rds: Any, cluster_id: str, instance_id: str) -> dict[str, Any]:
    instance: dict[str, Any] = rds.create_db_instance(
        DBInstanceIdentifier=instance_id,
        DBClusterIdentifier=cluster_id,
        Engine="aurora-postgresql",
        DBInstanceClass="db.r6g.large",
    )["DBInstance"]
    return instance


def instance_status(rds: Any, instance_id: str) -> str:
    return str(
        rds.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]["DBInstanceStatus"]
    )


def cluster_status(rds: Any, cluster_id: str) -> str:
    return str(rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]["Status"])


def refused(call: Callable[[], Any]) -> str:
    """The error code AWS (the twin) answers ``call`` with."""
    with pytest.raises(ClientError) as exc:
        call()
    return str(exc.value.response["Error"]["Code"])


# ------------------------------------------------------------------------------------------- durations


def test_an_instance_is_deleting_for_its_duration_then_not_found(
    rds: Any, registry: TwinRegistry, clock: TwinClock
) -> None:
    # Given an available instance of an available cluster
    # When it is deleted
    deleted = rds.delete_db_instance(DBInstanceIdentifier="dev-1", SkipFinalSnapshot=True)["DBInstance"]

    # Then the call answers at once with it deleting, and every Describe shows it deleting for 300 s
    assert deleted["DBInstanceStatus"] == "deleting"
    clock.advance(DURATIONS.instance_delete - 1)
    assert instance_status(rds, "dev-1") == "deleting"
    assert [i["DBInstanceStatus"] for i in rds.describe_db_instances()["DBInstances"]] == ["deleting"]
    assert [
        m["DBInstanceIdentifier"] for m in rds.describe_db_clusters()["DBClusters"][0]["DBClusterMembers"]
    ] == ["dev-1"]
    # And once the duration has passed it is gone: DescribeDBInstances answers DBInstanceNotFound
    clock.advance(1)
    assert refused(lambda: rds.describe_db_instances(DBInstanceIdentifier="dev-1")) == "DBInstanceNotFound"
    assert rds.describe_db_instances()["DBInstances"] == []
    assert rds.describe_db_clusters()["DBClusters"][0]["DBClusterMembers"] == []
    # And its cluster is untouched
    assert cluster_status(rds, "dev") == "available"
    assert registry.pending() == []


def test_a_cluster_is_deleting_for_its_duration_then_not_found(
    rds: Any, registry: TwinRegistry, clock: TwinClock
) -> None:
    # Given an available cluster whose instance was deleted and is gone
    rds.delete_db_instance(DBInstanceIdentifier="dev-1", SkipFinalSnapshot=True)
    clock.advance(DURATIONS.instance_delete)
    assert rds.describe_db_instances()["DBInstances"] == []

    # When the cluster is deleted
    deleted = rds.delete_db_cluster(DBClusterIdentifier="dev", SkipFinalSnapshot=True)["DBCluster"]

    # Then the call answers at once with it deleting, and it stays deleting for 420 s (clusterDelete)
    assert deleted["Status"] == "deleting"
    clock.advance(DURATIONS.cluster_delete - 1)
    assert cluster_status(rds, "dev") == "deleting"
    assert [(p.kind, p.identifier, p.status) for p in registry.pending()] == [("cluster", "dev", "deleting")]
    # And then it is gone: DescribeDBClusters answers DBClusterNotFoundFault
    clock.advance(1)
    assert refused(lambda: rds.describe_db_clusters(DBClusterIdentifier="dev")) == "DBClusterNotFoundFault"
    assert rds.describe_db_clusters()["DBClusters"] == []
    assert registry.pending() == []


def test_a_cluster_deleted_with_its_instances_goes_only_after_them(rds: Any, clock: TwinClock) -> None:
    # Given a cluster whose instance takes longer to delete than the cluster itself
    with aws_rules(clock, Durations(instance_delete=600.0, cluster_delete=60.0)) as registry:
        create_cluster(rds, "dev")
        add_instance(rds, "dev", "dev-1")
        registry.settle_all()

        # When the instance is deleted, and the cluster straight after it
        rds.delete_db_instance(DBInstanceIdentifier="dev-1", SkipFinalSnapshot=True)
        rds.delete_db_cluster(DBClusterIdentifier="dev", SkipFinalSnapshot=True)

        # Then the cluster is still deleting after its own 60 s, and both are gone together after the instance's
        clock.advance(599)
        assert (cluster_status(rds, "dev"), instance_status(rds, "dev-1")) == ("deleting", "deleting")
        clock.advance(1)
        assert (rds.describe_db_clusters()["DBClusters"], rds.describe_db_instances()["DBInstances"]) == (
            [],
            [],
        )


def test_deletion_durations_come_from_the_world_file() -> None:
    # Given a world file that sets how long deletions take
    raw = {
        "region": REGION,
        "durations": {"instanceDelete": 120, "clusterDelete": 240},
        "accounts": [{"accountId": SOURCE, "name": "prod"}],
    }

    # When it is read, and when a world sets no durations
    world = parse_world(raw)
    default = parse_world({**raw, "durations": {}})

    # Then the deletions take the world's times, and AWS-like defaults (300 s each) otherwise
    assert (world.durations.instance_delete, world.durations.cluster_delete) == (120.0, 240.0)
    assert (default.durations.instance_delete, default.durations.cluster_delete) == (300.0, 300.0)


# ------------------------------------------------------------------------------------- the clock, events


def test_a_deletion_does_not_move_the_clock_and_the_ticker_plans_its_end(
    rds: Any, registry: TwinRegistry, clock: TwinClock
) -> None:
    # Given a twin at rest (nothing pending) at some twin second
    clock.advance(42)
    registry.changed.clear()
    assert registry.next_ready_at() is None

    # When an instance is deleted
    rds.delete_db_instance(DBInstanceIdentifier="dev-1", SkipFinalSnapshot=True)

    # Then twin time has not moved, and the registry tells the ticker (changed) the deletion's end to plan for
    assert clock.elapsed() == 42
    assert registry.changed.is_set()
    assert registry.next_ready_at() == clock.now() + timedelta(seconds=DURATIONS.instance_delete)


def test_a_worker_sleeping_through_a_deletion_sees_it_end_at_its_twin_second(rds: Any) -> None:
    # Given a twin whose only worker deletes an instance at twin second 0
    clock = TwinClock()
    with aws_rules(clock, DURATIONS) as registry, clock.patched():
        create_cluster(rds, "dev")
        add_instance(rds, "dev", "dev-1")
        registry.settle_all()
        rds.delete_db_instance(DBInstanceIdentifier="dev-1", SkipFinalSnapshot=True)

        # When the worker sleeps one twin second less than the deletion takes, then one more
        time.sleep(DURATIONS.instance_delete - 1)
        almost = instance_status(rds, "dev-1")
        time.sleep(1)

        # Then the instance was deleting until exactly its duration had passed, and is gone after it
        assert almost == "deleting"
        assert rds.describe_db_instances()["DBInstances"] == []
        assert clock.elapsed() == DURATIONS.instance_delete


def test_a_deleted_resource_is_never_announced_as_available(
    rds: Any, registry: TwinRegistry, clock: TwinClock
) -> None:
    # Given a listener on the registry, and an instance still being created
    seen: list[Transition] = []
    registry.add_listener(seen.append)
    add_instance(rds, "dev", "dev-2")
    finished_before = len(registry.finished)

    # When it is deleted before its creation time, and both times pass
    rds.delete_db_instance(DBInstanceIdentifier="dev-2", SkipFinalSnapshot=True)
    clock.advance(Durations().instance_create + 1)
    registry.advance()

    # Then it went creating, deleting, gone, and never available; no ready time and no RDS event says otherwise
    assert [(t.identifier, t.busy_status, t.status) for t in seen] == [
        ("dev-2", "creating", "creating"),
        ("dev-2", "deleting", "deleting"),
        ("dev-2", "deleting", "deleted"),
    ]
    assert len(registry.finished) == finished_before
    assert [rds_event(t, clock.now()) for t in seen[1:]] == [None, None]
    assert [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]] == ["dev-1"]


# ---------------------------------------------------------------------------------------------- refusals


def test_an_instance_already_deleting_cannot_be_deleted_again(rds: Any, registry: TwinRegistry) -> None:
    # Given an instance being deleted
    rds.delete_db_instance(DBInstanceIdentifier="dev-1", SkipFinalSnapshot=True)

    # When it is deleted again
    code = refused(lambda: rds.delete_db_instance(DBInstanceIdentifier="dev-1", SkipFinalSnapshot=True))

    # Then AWS's InvalidDBInstanceState refuses it, and the deletion goes on as it was
    # (rule off: the second delete is accepted and starts the deletion over)
    assert code == "InvalidDBInstanceState"
    assert instance_status(rds, "dev-1") == "deleting"


def test_a_cluster_with_an_instance_not_being_deleted_cannot_be_deleted(
    rds: Any, registry: TwinRegistry, clock: TwinClock
) -> None:
    # Given a cluster with two instances, only one of them being deleted
    add_instance(rds, "dev", "dev-2")
    registry.settle_all()
    rds.delete_db_instance(DBInstanceIdentifier="dev-1", SkipFinalSnapshot=True)

    # When the cluster is deleted
    with pytest.raises(ClientError) as exc:
        rds.delete_db_cluster(DBClusterIdentifier="dev", SkipFinalSnapshot=True)

    # Then AWS's InvalidDBClusterStateFault refuses it, naming instances in a non-deleting state, and the cluster
    # is untouched (rule off: the cluster is deleting while one of its instances is available)
    assert exc.value.response["Error"]["Code"] == "InvalidDBClusterStateFault"
    assert "non-deleting state" in exc.value.response["Error"]["Message"]
    assert cluster_status(rds, "dev") == "available"
    # And once every instance is being deleted (not yet gone), the cluster can be deleted
    # (with moto's own check instead, any instance at all: refused while the deleting instances still exist)
    rds.delete_db_instance(DBInstanceIdentifier="dev-2", SkipFinalSnapshot=True)
    assert rds.delete_db_cluster(DBClusterIdentifier="dev", SkipFinalSnapshot=True)["DBCluster"][
        "Status"
    ] == ("deleting")
    assert {i["DBInstanceStatus"] for i in rds.describe_db_instances()["DBInstances"]} == {"deleting"}


def test_a_deleting_cluster_refuses_a_second_delete_a_change_a_snapshot_and_a_new_instance(
    rds: Any, registry: TwinRegistry
) -> None:
    # Given a cluster being deleted (its instance first)
    rds.delete_db_instance(DBInstanceIdentifier="dev-1", SkipFinalSnapshot=True)
    rds.delete_db_cluster(DBClusterIdentifier="dev", SkipFinalSnapshot=True)

    # When it is deleted again, modified, snapshotted, or given a new instance
    attempts: list[Callable[[], Any]] = [
        lambda: rds.delete_db_cluster(DBClusterIdentifier="dev", SkipFinalSnapshot=True),
        lambda: rds.modify_db_cluster(
            DBClusterIdentifier="dev", DeletionProtection=True, ApplyImmediately=True
        ),
        lambda: rds.create_db_cluster_snapshot(DBClusterIdentifier="dev", DBClusterSnapshotIdentifier="late"),
        lambda: add_instance(rds, "dev", "dev-2"),
    ]

    # Then each is refused with AWS's InvalidDBClusterStateFault, and the cluster is still deleting
    # (each rule off on its own: that call is accepted; the second delete starts the deletion over, the
    # modification makes the cluster deletion-protected, the snapshot is taken, the instance is created)
    assert [refused(attempt) for attempt in attempts] == ["InvalidDBClusterStateFault"] * 4
    assert cluster_status(rds, "dev") == "deleting"
    assert rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"] == []


def test_the_identifier_of_a_cluster_still_deleting_cannot_be_reused(
    rds: Any, registry: TwinRegistry, clock: TwinClock
) -> None:
    # Given a cluster being deleted
    rds.delete_db_instance(DBInstanceIdentifier="dev-1", SkipFinalSnapshot=True)
    clock.advance(DURATIONS.instance_delete)
    rds.delete_db_cluster(DBClusterIdentifier="dev", SkipFinalSnapshot=True)

    # When a new cluster with its identifier is created while it is deleting
    code = refused(lambda: create_cluster(rds, "dev"))

    # Then AWS's DBClusterAlreadyExistsFault refuses it, and the deletion goes on
    # (rule off: moto does not refuse the name; it replaces the cluster, or trips over the name of the automated
    # snapshot it takes of a new cluster, DBClusterSnapshotAlreadyExistsFault)
    assert code == "DBClusterAlreadyExistsFault"
    assert cluster_status(rds, "dev") == "deleting"
    clock.advance(DURATIONS.cluster_delete)
    assert rds.describe_db_clusters()["DBClusters"] == []


def test_a_final_snapshot_is_taken_of_the_cluster_as_it_was_when_deleted(
    rds: Any, registry: TwinRegistry, clock: TwinClock
) -> None:
    # Given a cluster without instances
    rds.delete_db_instance(DBInstanceIdentifier="dev-1", SkipFinalSnapshot=True)
    clock.advance(DURATIONS.instance_delete)

    # When it is deleted with a final snapshot
    rds.delete_db_cluster(DBClusterIdentifier="dev", FinalDBSnapshotIdentifier="dev-final")

    # Then the snapshot is being created while the cluster is deleting, and outlives the cluster
    snapshots = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="dev-final")[
        "DBClusterSnapshots"
    ]
    assert [(s["Status"], s["SnapshotType"]) for s in snapshots] == [("creating", "manual")]
    assert cluster_status(rds, "dev") == "deleting"
    clock.advance(Durations().snapshot_create)
    assert rds.describe_db_clusters()["DBClusters"] == []
    snapshot = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="dev-final")[
        "DBClusterSnapshots"
    ][0]
    assert snapshot["Status"] == "available"
