"""Retention (options.keepTargetCopies): the contract, and the cleanup of a run that delivered its targets
keeping only the newest N copies per target cluster, against moto with the step tests' World."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from aurora_ferry import migration
from aurora_ferry.core import InvalidInputError, naming
from aurora_ferry.migration import MigrationRequest, cleanup_steps, parse_migration_request
from tests.unit.test_steps import REGION, RUN, TARGET, World, _refusing_deletes

pytestmark = pytest.mark.unit

SCRATCH = "scratch"  # a cluster of the target account the look-alike snapshots are taken of
T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


# --------------------------------------------------------------------------------------------- contract


def _raw(world: World, cleanup: str, **options: Any) -> dict[str, Any]:
    raw = world.raw_input(cleanup=cleanup)
    raw["options"].update(options)
    return raw


@pytest.mark.parametrize("keep", [1, 2, 100])
def test_keep_target_copies_is_accepted_with_keep_target_copies_and_carried(world: World, keep: int) -> None:
    request = parse_migration_request(_raw(world, "keep-target-copies", keepTargetCopies=keep))
    assert request.options.keep_target_copies == keep
    # The normalised input every step parses again carries it
    assert request.to_json()["options"]["keepTargetCopies"] == keep
    assert parse_migration_request(request.to_json()).options.keep_target_copies == keep


def test_without_the_option_nothing_is_added_to_the_normalised_input(world: World) -> None:
    request = parse_migration_request(_raw(world, "keep-target-copies"))
    assert request.options.keep_target_copies is None
    assert "keepTargetCopies" not in request.to_json()["options"]


@pytest.mark.parametrize(
    ("cleanup", "keep", "message"),
    [
        ("delete", 2, "options.keepTargetCopies: only with options.cleanup 'keep-target-copies'"),
        ("keep", 2, "got options.cleanup 'keep'"),
        ("keep-target-copies", 0, "options.keepTargetCopies: must be from 1 to 100, got 0"),
        ("keep-target-copies", 101, "options.keepTargetCopies: must be from 1 to 100, got 101"),
        (
            "keep-target-copies",
            "2",
            "options.keepTargetCopies: must be a whole number from 1 to 100, got '2'",
        ),
        ("keep-target-copies", True, "must be a whole number from 1 to 100, got True"),
    ],
    ids=["with-delete", "with-keep", "zero", "over-quota", "string", "bool"],
)
def test_keep_target_copies_is_refused_naming_the_field_and_what_is_allowed(
    world: World, cleanup: str, keep: Any, message: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_migration_request(_raw(world, cleanup, keepTargetCopies=keep))
    assert any(message in problem for problem in caught.value.problems), caught.value.problems


# ---------------------------------------------------------------------------------------------- cleanup


def _set(
    account: str, identifier: str, *, created: datetime | None = None, status: str | None = None
) -> None:
    from moto.rds.models import rds_backends

    snapshot = rds_backends[account][REGION].cluster_snapshots[identifier]
    if created is not None:
        snapshot.created = created
    if status is not None:
        snapshot.status = status


def _copy_tags(run_id: str, cluster: str | None) -> list[dict[str, str]]:
    extra = {naming.TARGET_CLUSTER_TAG: cluster} if cluster else None
    return naming.tags_for(run_id, naming.TARGET_COPY_PURPOSE, extra)


def _deliver(world: World, request: MigrationRequest, run_id: str = RUN) -> str:
    """The target cluster as a successful run leaves it: made by the run, available, with its instances."""
    target = request.targets[0]
    rds = world.rds(TARGET)
    rds.create_db_cluster(
        DBClusterIdentifier=target.cluster_identifier,
        Engine="aurora-postgresql",
        MasterUsername="ferryadmin",
        MasterUserPassword="not-a-real-password-1",
        Tags=naming.tags_for(run_id, "target-cluster"),
    )
    for index in range(target.instance_count):
        rds.create_db_instance(
            DBInstanceIdentifier=naming.instance_id(target.cluster_identifier, index),
            DBClusterIdentifier=target.cluster_identifier,
            DBInstanceClass=target.instance_class,
            Engine="aurora-postgresql",
        )
    return target.cluster_identifier


def _earlier_copies(world: World, cluster: str) -> dict[str, str]:
    """Copies of three earlier runs for `cluster` (oldest first), and snapshots retention must never touch."""
    world.create_cluster(TARGET, SCRATCH, world.target_keys[TARGET])
    made = {
        "run-a": (_copy_tags("run-a", cluster), T0),
        "run-b": (_copy_tags("run-b", cluster), T0 + timedelta(days=7)),
        "run-c": (_copy_tags("run-c", cluster), T0 + timedelta(days=14)),
        # Another target cluster's copy, a copy kept before retention (no cluster tag), one without the managed
        # tag, one of another purpose: all older than everything, so only their tags can save them
        "other-cluster": (_copy_tags("run-x", "billing-222"), T0 - timedelta(days=30)),
        "no-cluster-tag": (_copy_tags("run-y", None), T0 - timedelta(days=30)),
        "unmanaged": (
            [
                {"Key": naming.PURPOSE_TAG, "Value": "target-copy"},
                {"Key": naming.TARGET_CLUSTER_TAG, "Value": cluster},
            ],
            T0 - timedelta(days=30),
        ),
        "final": (
            naming.tags_for("run-z", "final-snapshot", {naming.TARGET_CLUSTER_TAG: cluster}),
            T0 - timedelta(days=30),
        ),
    }
    identifiers = {}
    for name, (tags, created) in made.items():
        identifier = naming.target_copy_id(name)
        world.create_snapshot(TARGET, SCRATCH, identifier, tags)
        _set(TARGET, identifier, created=created)
        identifiers[name] = identifier
    # A copy of this cluster still being copied (newer than the others): never deleted, not counted
    copying = naming.target_copy_id("run-d")
    world.create_snapshot(TARGET, SCRATCH, copying, _copy_tags("run-d", cluster))
    _set(TARGET, copying, created=T0 + timedelta(days=20), status="copying")
    identifiers["copying"] = copying
    return identifiers


def _this_runs_copy(world: World, created: datetime) -> str:
    identifier = naming.target_copy_id(RUN)
    world.create_snapshot(TARGET, SCRATCH, identifier, naming.tags_for(RUN, naming.TARGET_COPY_PURPOSE))
    _set(TARGET, identifier, created=created)
    return identifier


def test_a_delivered_run_keeps_the_newest_n_copies_of_its_cluster_and_deletes_the_rest(world: World) -> None:
    # Given a run that delivered its target, three earlier copies for that cluster and look-alikes
    request = parse_migration_request(_raw(world, "keep-target-copies", keepTargetCopies=2))
    cluster = _deliver(world, request)
    earlier = _earlier_copies(world, cluster)
    own = _this_runs_copy(world, T0 + timedelta(days=21))

    # When its cleanup runs
    result = migration.cleanup(request, RUN, succeeded=True)

    # Then this run's copy and the newest earlier one are kept, and the two older ones deleted and reported
    left = world.snapshot_ids(TARGET)
    assert {own, earlier["run-c"]} <= left
    assert earlier["run-a"] not in left and earlier["run-b"] not in left
    retired = [a for a in result["actions"] if a["action"] == "deleted-older-copy"]
    assert sorted(a["arn"].rsplit(":", 1)[1] for a in retired) == [earlier["run-a"], earlier["run-b"]]
    assert all(a["accountId"] == TARGET and a["cluster"] == cluster and a["keep"] == 2 for a in retired)
    # ... nothing without all three tags, of another cluster, or still being copied was touched
    for name in ("other-cluster", "no-cluster-tag", "unmanaged", "final", "copying"):
        assert earlier[name] in left, name
    # ... and this run's copy now names its cluster, so the next run counts it
    assert world.tags(TARGET, own)[naming.TARGET_CLUSTER_TAG] == cluster
    assert {
        "action": "kept",
        "accountId": TARGET,
        "arn": world.snapshot(TARGET, own)["DBClusterSnapshotArn"],
    } in (result["actions"])


def test_this_runs_copy_is_kept_even_when_an_earlier_one_looks_newer(world: World) -> None:
    # Given N=1 and an earlier copy whose creation time is later than this run's (a copy of an older snapshot)
    request = parse_migration_request(_raw(world, "keep-target-copies", keepTargetCopies=1))
    cluster = _deliver(world, request)
    earlier = _earlier_copies(world, cluster)
    own = _this_runs_copy(world, T0 - timedelta(days=60))

    # When its cleanup runs / Then only this run's copy of the cluster is left (and what was never counted)
    migration.cleanup(request, RUN, succeeded=True)
    left = world.snapshot_ids(TARGET)
    assert own in left
    assert not {earlier[name] for name in ("run-a", "run-b", "run-c")} & left
    assert earlier["copying"] in left


@pytest.mark.parametrize("how", ["not-delivered", "cluster-of-another-run", "instances-missing", "parked"])
def test_retention_only_follows_a_run_that_delivered_every_target(world: World, how: str) -> None:
    # Given copies retention would delete, and a run that failed, parked, or does not own the cluster
    request = parse_migration_request(_raw(world, "keep-target-copies", keepTargetCopies=1))
    cluster = request.targets[0].cluster_identifier
    if how == "cluster-of-another-run":
        _deliver(world, request, run_id="run-before")
    elif how == "instances-missing":
        world.rds(TARGET).create_db_cluster(
            DBClusterIdentifier=cluster,
            Engine="aurora-postgresql",
            MasterUsername="ferryadmin",
            MasterUserPassword="not-a-real-password-1",
            Tags=naming.tags_for(RUN, "target-cluster"),
        )
    elif how == "parked":
        _deliver(world, request)
    earlier = _earlier_copies(world, cluster)
    own = _this_runs_copy(world, T0 + timedelta(days=21))
    before = world.snapshot_ids(TARGET)
    leftovers = mock.Mock() if how == "parked" else None

    # When its cleanup runs
    result = migration.cleanup(request, RUN, leftovers, park=how == "parked", succeeded=True)

    # Then no copy is deleted and this run's copy does not join the count
    assert world.snapshot_ids(TARGET) == before
    assert not [a for a in result["actions"] if a["action"] == "deleted-older-copy"]
    assert naming.TARGET_CLUSTER_TAG not in world.tags(TARGET, own)
    assert earlier["run-a"] in before


def test_without_the_option_every_kept_copy_stays(world: World) -> None:
    request = parse_migration_request(_raw(world, "keep-target-copies"))
    cluster = _deliver(world, request)
    _earlier_copies(world, cluster)
    own = _this_runs_copy(world, T0 + timedelta(days=21))
    before = world.snapshot_ids(TARGET)

    migration.cleanup(request, RUN, succeeded=True)

    assert world.snapshot_ids(TARGET) == before
    assert naming.TARGET_CLUSTER_TAG not in world.tags(TARGET, own)


def test_a_refused_deletion_is_reported_and_the_cleanup_goes_on(world: World) -> None:
    # Given a member role that may not delete the older copies
    request = parse_migration_request(_raw(world, "keep-target-copies", keepTargetCopies=2))
    cluster = _deliver(world, request)
    earlier = _earlier_copies(world, cluster)
    _this_runs_copy(world, T0 + timedelta(days=21))
    refusal = ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "DeleteDBClusterSnapshot"
    )
    with mock.patch.object(cleanup_steps, "rds", side_effect=_refusing_deletes(refusal)):
        # When cleanup runs
        result = migration.cleanup(request, RUN, succeeded=True)
    # Then each older copy is reported left in place with AWS's reason, and none is gone
    left_in_place = [a for a in result["actions"] if a["action"] == "left-in-place"]
    assert sorted(a["arn"].rsplit(":", 1)[1] for a in left_in_place) == [earlier["run-a"], earlier["run-b"]]
    assert all("AccessDenied" in a["reason"] for a in left_in_place)
    assert {earlier["run-a"], earlier["run-b"]} <= world.snapshot_ids(TARGET)


def test_tags_name_a_target_copy_of_one_cluster_only() -> None:
    tags = _copy_tags("run-a", "orders-222")
    assert naming.is_target_copy_of(tags, "orders-222")
    assert naming.is_target_copy_of(tags, "Orders-222")  # RDS identifiers are case-insensitive
    assert not naming.is_target_copy_of(tags, "orders-22")
    assert not naming.is_target_copy_of([t for t in tags if t["Key"] != naming.MANAGED_TAG], "orders-222")
    assert not naming.is_target_copy_of(naming.tags_for("run-a", "source-snapshot"), "orders-222")


def test_a_cleanup_that_is_not_the_success_paths_retires_nothing(world: World) -> None:
    # Given a run that delivered its target, with older copies of the same cluster kept by earlier runs
    request = parse_migration_request(_raw(world, "keep-target-copies", keepTargetCopies=1))
    cluster = _deliver(world, request)
    earlier = _earlier_copies(world, cluster)
    _this_runs_copy(world, T0 + timedelta(days=21))
    # When the failure path's cleanup runs (it says nothing of success)
    result = migration.cleanup(request, RUN)
    # Then no older copy is deleted
    assert not [a for a in result["actions"] if a["action"] == "deleted-older-copy"]
    assert set(earlier.values()) <= world.snapshot_ids(TARGET)
