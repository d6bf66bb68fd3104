"""The migration's steps (aurora_ferry.migration) against moto, with a source and a target account.

Accounts are played through STS AssumeRole: moto acts in the account named by the role ARN, exactly as
the orchestrator's functions reach member accounts. Plain moto makes every resource available at once and
enforces no cross-account rules; these tests only rely on what the steps themselves decide.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError

from aurora_ferry import migration
from aurora_ferry.core import (
    AccountAccess,
    AssumeRoleError,
    CarriedSettings,
    InstanceShape,
    InvalidInputError,
    LeftoverCleanupError,
    ResourceFailedError,
    SharedSnapshotInUseError,
    SnapshotNotShareableError,
    SnapshotRef,
    SourceConfiguration,
    SourceNotFoundError,
    TargetConflictError,
    naming,
    poll_cluster,
    poll_snapshot,
    rds,
)
from aurora_ferry.migration import (
    LeftoverStore,
    MigrationRequest,
    cleanup_steps,
    parse_migration_request,
    retry_leftovers,
)
from aurora_ferry.migration import leftovers as leftovers_module
from aurora_ferry.migration.leftovers import RETRY_FOR_SECONDS, record_leftover

pytestmark = pytest.mark.unit

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
REGION = "eu-west-1"
SOURCE = "111111111111"
TARGET = "222222222222"
THIRD = "333333333333"
RUN = "run-1"
OTHER_RUN = "run-2"
SOURCE_ROLE = f"arn:aws:iam::{SOURCE}:role/aurora-ferry-source"
CLUSTER = "orders"


def role_arn(account: str) -> str:
    return SOURCE_ROLE if account == SOURCE else f"arn:aws:iam::{account}:role/aurora-ferry-target"


def member_credentials(orchestrator: boto3.Session, account: str) -> dict[str, str]:
    """Credentials acting in `account`, obtained the way the orchestrator gets them (STS AssumeRole)."""
    credentials = orchestrator.client("sts").assume_role(
        RoleArn=role_arn(account), RoleSessionName="unit-setup"
    )["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


@dataclass
class World:
    """The source and target member accounts in moto, with the source cluster and the run's keys.

    One boto3 session makes every client (with per-account credentials), so botocore loads each
    service model once per test rather than once per account.
    """

    orchestrator: boto3.Session
    credentials: dict[str, dict[str, str]]
    cluster_key: str = ""
    share_key: str = ""
    target_keys: dict[str, str] = field(default_factory=dict)
    clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    def client(self, service: str, account: str) -> Any:
        if (service, account) not in self.clients:
            self.clients[service, account] = self.orchestrator.client(service, **self.credentials[account])
        return self.clients[service, account]

    def rds(self, account: str) -> Any:
        return self.client("rds", account)

    def raw_input(
        self,
        *,
        cleanup: str = "delete",
        targets: tuple[str, ...] = (TARGET,),
        cluster: str | None = CLUSTER,
        snapshot: str | None = None,
    ) -> dict[str, Any]:
        raw: dict[str, Any] = json.loads((EVENTS_DIR / "migrate-cmk.json").read_text(encoding="utf-8"))
        raw["source"].pop("clusterIdentifier")
        if cluster is not None:
            raw["source"]["clusterIdentifier"] = cluster
        if snapshot is not None:
            raw["source"]["snapshotIdentifier"] = snapshot
        raw["shareKmsKeyArn"] = self.share_key
        template = raw["targets"][0]
        raw["targets"] = [
            {
                **template,
                "accountId": account,
                "roleArn": role_arn(account),
                "kmsKeyArn": self.target_keys.get(account)
                or f"arn:aws:kms:{REGION}:{account}:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6",
                "clusterIdentifier": f"orders-{account[:3]}",
            }
            for account in targets
        ]
        raw["options"]["cleanup"] = cleanup
        return raw

    def request(self, **kwargs: Any) -> MigrationRequest:
        return parse_migration_request(self.raw_input(**kwargs))

    def snapshot_ids(self, account: str) -> set[str]:
        found = self.rds(account).describe_db_cluster_snapshots()["DBClusterSnapshots"]
        return {snapshot["DBClusterSnapshotIdentifier"] for snapshot in found}

    def snapshot(self, account: str, identifier: str) -> dict[str, Any]:
        found: dict[str, Any] = self.rds(account).describe_db_cluster_snapshots(
            DBClusterSnapshotIdentifier=identifier
        )["DBClusterSnapshots"][0]
        return found

    def tags(self, account: str, identifier: str) -> dict[str, str]:
        arn = self.snapshot(account, identifier)["DBClusterSnapshotArn"]
        tag_list = self.rds(account).list_tags_for_resource(ResourceName=arn)["TagList"]
        return {tag["Key"]: tag["Value"] for tag in tag_list}

    def restore_accounts(self, account: str, identifier: str) -> list[str]:
        result = self.rds(account).describe_db_cluster_snapshot_attributes(
            DBClusterSnapshotIdentifier=identifier
        )
        for attribute in result["DBClusterSnapshotAttributesResult"]["DBClusterSnapshotAttributes"]:
            if attribute["AttributeName"] == "restore":
                return sorted(attribute.get("AttributeValues", []))
        return []

    def create_cluster(
        self, account: str, identifier: str, kms_key: str | None, tags: list[dict[str, str]] | None = None
    ) -> None:
        params: dict[str, Any] = {
            "DBClusterIdentifier": identifier,
            "Engine": "aurora-postgresql",
            "MasterUsername": "ferryadmin",
            "MasterUserPassword": "not-a-real-password-1",
            "Tags": tags or [],
        }
        if kms_key:
            params.update(StorageEncrypted=True, KmsKeyId=kms_key)
        self.rds(account).create_db_cluster(**params)

    def create_snapshot(
        self, account: str, cluster: str, identifier: str, tags: list[dict[str, str]] | None = None
    ) -> str:
        params: dict[str, Any] = {"DBClusterIdentifier": cluster, "DBClusterSnapshotIdentifier": identifier}
        if tags:
            params["Tags"] = tags
        arn: str = self.rds(account).create_db_cluster_snapshot(**params)["DBClusterSnapshot"][
            "DBClusterSnapshotArn"
        ]
        return arn

    def automated_snapshot(self, account: str, cluster: str) -> str:
        found = self.rds(account).describe_db_cluster_snapshots(
            DBClusterIdentifier=cluster, SnapshotType="automated"
        )
        identifier: str = found["DBClusterSnapshots"][0]["DBClusterSnapshotIdentifier"]
        return identifier


@pytest.fixture
def world(mocked_aws: None) -> Iterator[World]:
    # The orchestrator's own account is moto's default; member accounts are reached through roles.
    orchestrator = boto3.Session(region_name=REGION)
    built = World(
        orchestrator, {account: member_credentials(orchestrator, account) for account in (SOURCE, TARGET)}
    )
    source_kms = built.client("kms", SOURCE)
    built.cluster_key = source_kms.create_key(Description="orders cluster key")["KeyMetadata"]["Arn"]
    built.share_key = source_kms.create_key(Description="aurora-ferry share key")["KeyMetadata"]["Arn"]
    target_kms = built.client("kms", TARGET)
    built.target_keys[TARGET] = target_kms.create_key(Description="target key")["KeyMetadata"]["Arn"]
    built.create_cluster(SOURCE, CLUSTER, built.cluster_key)
    yield built


def source_access() -> AccountAccess:
    sample = json.loads((EVENTS_DIR / "migrate-cmk.json").read_text(encoding="utf-8"))
    return AccountAccess(SOURCE, REGION, SOURCE_ROLE, sample["source"].get("externalId"))


# ------------------------------------------------------------------------ step 1: the source snapshot


def test_prepare_source_snapshot_creates_a_run_tagged_snapshot(world: World) -> None:
    # Given an encrypted source cluster
    request = world.request()

    # When the run prepares its source snapshot
    ref = migration.prepare_source_snapshot(request, RUN)

    # Then a manual snapshot named after the run exists, tagged as the run's, on the cluster's key
    assert ref.identifier == f"ferry-{RUN}-snap"
    assert ref.account_id == SOURCE
    assert ref.created_by_run is True
    assert ref.snapshot_type == "manual"
    assert ref.encrypted is True
    assert ref.kms_key_id == world.cluster_key
    assert ref.encryption == "customer-key"
    assert world.tags(SOURCE, ref.identifier) == {
        naming.MANAGED_TAG: "true",
        naming.RUN_ID_TAG: RUN,
        naming.PURPOSE_TAG: "source-snapshot",
    }
    assert SnapshotRef.from_json(json.loads(json.dumps(ref.to_json()))) == ref


def test_prepare_source_snapshot_retry_returns_the_same_snapshot(world: World) -> None:
    # Given a run that already made its source snapshot (the Lambda is retried after a timeout)
    request = world.request()
    first = migration.prepare_source_snapshot(request, RUN)

    # When the step runs again with the same run id
    second = migration.prepare_source_snapshot(request, RUN)

    # Then it returns the same snapshot instead of failing, and no second snapshot exists
    assert second.arn == first.arn
    assert second.created_by_run is True
    manual = world.rds(SOURCE).describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
    assert [snapshot["DBClusterSnapshotIdentifier"] for snapshot in manual] == [first.identifier]


@pytest.mark.parametrize(
    "tags",
    [None, naming.tags_for(OTHER_RUN, "source-snapshot"), [{"Key": naming.RUN_ID_TAG, "Value": RUN}]],
    ids=["no-tags", "other-runs-tags", "run-id-without-managed-tag"],
)
def test_prepare_source_snapshot_conflicts_with_a_same_named_snapshot_it_did_not_make(
    world: World, tags: list[dict[str, str]] | None
) -> None:
    # Given a snapshot that already has the run's name but not the run's tags
    world.create_snapshot(SOURCE, CLUSTER, naming.source_snapshot_id(RUN), tags)
    request = world.request()

    # When the run prepares its source snapshot
    with pytest.raises(TargetConflictError) as caught:
        migration.prepare_source_snapshot(request, RUN)

    # Then it refuses to adopt it, saying where and why
    assert caught.value.account_id == SOURCE
    assert naming.source_snapshot_id(RUN) in str(caught.value)
    assert f"not made by run {RUN}" in str(caught.value)


def test_prepare_source_snapshot_of_a_missing_cluster_names_the_account(world: World) -> None:
    # Given an input naming a cluster the source account does not have
    request = world.request(cluster="no-such-cluster")

    # When the run prepares its source snapshot
    with pytest.raises(SourceNotFoundError) as caught:
        migration.prepare_source_snapshot(request, RUN)

    # Then the error names the cluster and the account and region it looked in, and nothing was made
    assert caught.value.account_id == SOURCE
    assert caught.value.region == REGION
    assert f"[account {SOURCE} {REGION}]" in str(caught.value)
    assert "no-such-cluster" in str(caught.value)
    assert naming.source_snapshot_id(RUN) not in world.snapshot_ids(SOURCE)


def test_prepare_source_snapshot_of_a_missing_snapshot_names_the_account(world: World) -> None:
    # Given an input naming a snapshot the source account does not have
    request = world.request(cluster=None, snapshot="no-such-snapshot")

    # When the run resolves its source snapshot
    with pytest.raises(SourceNotFoundError) as caught:
        migration.prepare_source_snapshot(request, RUN)

    # Then the error names the snapshot and the account
    assert caught.value.account_id == SOURCE
    assert "no-such-snapshot" in str(caught.value)


def test_prepare_source_snapshot_uses_a_callers_manual_snapshot_without_owning_it(world: World) -> None:
    # Given a manual snapshot the caller made
    world.create_snapshot(SOURCE, CLUSTER, "orders-before-upgrade")
    request = world.request(cluster=None, snapshot="orders-before-upgrade")

    # When the run resolves its source snapshot
    ref = migration.prepare_source_snapshot(request, RUN)

    # Then it is used as is, marked as not the run's, and nothing is created or tagged
    assert ref.identifier == "orders-before-upgrade"
    assert ref.created_by_run is False
    assert world.tags(SOURCE, "orders-before-upgrade") == {}
    assert not {snapshot for snapshot in world.snapshot_ids(SOURCE) if snapshot.startswith("ferry-")}


def test_prepare_source_snapshot_copies_an_automated_snapshot_to_the_share_key(world: World) -> None:
    # Given the cluster's automated snapshot (which AWS will not share)
    automated = world.automated_snapshot(SOURCE, CLUSTER)
    request = world.request(cluster=None, snapshot=automated)

    # When the run resolves its source snapshot
    ref = migration.prepare_source_snapshot(request, RUN)

    # Then a manual copy the run owns exists, already re-encrypted with the share key ...
    assert ref.identifier == naming.source_copy_id(RUN)
    assert ref.snapshot_type == "manual"
    assert ref.created_by_run is True
    assert ref.kms_key_id == world.share_key
    assert world.tags(SOURCE, ref.identifier)[naming.PURPOSE_TAG] == "source-copy"
    # ... so the share-copy step has nothing left to do
    assert migration.prepare_shareable_snapshot(request, RUN, ref) == ref
    assert naming.share_copy_id(RUN) not in world.snapshot_ids(SOURCE)


# ------------------------------------------------------------------------ step 2: the shareable copy


def test_prepare_shareable_snapshot_copies_with_the_share_key_when_the_key_differs(world: World) -> None:
    # Given the run's source snapshot, encrypted with the cluster's own key
    request = world.request()
    source = migration.prepare_source_snapshot(request, RUN)

    # When the run prepares the snapshot to share
    share = migration.prepare_shareable_snapshot(request, RUN, source)

    # Then it is a new copy the run owns, encrypted with the share key, and the source snapshot is unchanged
    assert share.identifier == naming.share_copy_id(RUN)
    assert share.created_by_run is True
    assert share.kms_key_id == world.share_key
    assert world.tags(SOURCE, share.identifier) == {
        naming.MANAGED_TAG: "true",
        naming.RUN_ID_TAG: RUN,
        naming.PURPOSE_TAG: "share-copy",
    }
    assert world.snapshot(SOURCE, source.identifier)["KmsKeyId"] == world.cluster_key


def test_prepare_shareable_snapshot_retry_returns_the_same_copy(world: World) -> None:
    # Given a run that already made its share copy
    request = world.request()
    source = migration.prepare_source_snapshot(request, RUN)
    first = migration.prepare_shareable_snapshot(request, RUN, source)

    # When the step runs again
    second = migration.prepare_shareable_snapshot(request, RUN, source)

    # Then the existing copy is returned
    assert second.arn == first.arn


def test_prepare_shareable_snapshot_is_a_no_op_when_the_runs_snapshot_has_the_share_key(world: World) -> None:
    # Given a source cluster encrypted with the share key itself
    world.create_cluster(SOURCE, "orders-on-share-key", world.share_key)
    request = world.request(cluster="orders-on-share-key")
    source = migration.prepare_source_snapshot(request, RUN)
    assert source.kms_key_id == world.share_key

    # When the run prepares the snapshot to share
    share = migration.prepare_shareable_snapshot(request, RUN, source)

    # Then the run's own snapshot is used and no copy is made
    assert share == source
    assert naming.share_copy_id(RUN) not in world.snapshot_ids(SOURCE)


def test_prepare_shareable_snapshot_always_copies_a_snapshot_the_run_did_not_create(world: World) -> None:
    # Given a caller's manual snapshot that is already on the share key
    world.create_cluster(SOURCE, "orders-on-share-key", world.share_key)
    world.create_snapshot(SOURCE, "orders-on-share-key", "callers-snapshot")
    request = world.request(cluster=None, snapshot="callers-snapshot")
    source = migration.prepare_source_snapshot(request, RUN)
    assert source.created_by_run is False
    assert source.kms_key_id == world.share_key

    # When the run prepares the snapshot to share
    share = migration.prepare_shareable_snapshot(request, RUN, source)

    # Then it copies it anyway, so the caller's snapshot is never the one shared or modified
    assert share.identifier == naming.share_copy_id(RUN)
    assert share.arn != source.arn
    assert share.created_by_run is True
    assert world.tags(SOURCE, "callers-snapshot") == {}
    assert world.restore_accounts(SOURCE, "callers-snapshot") == []


def test_prepare_shareable_snapshot_copies_an_unencrypted_callers_snapshot_without_a_key(
    world: World,
) -> None:
    # Given a caller's manual snapshot of an unencrypted cluster
    world.create_cluster(SOURCE, "legacy-reports", None)
    world.create_snapshot(SOURCE, "legacy-reports", "legacy-manual")
    request = world.request(cluster=None, snapshot="legacy-manual")
    source = migration.prepare_source_snapshot(request, RUN)

    # When the run prepares the snapshot to share
    share = migration.prepare_shareable_snapshot(request, RUN, source)

    # Then the run owns an (unencrypted) copy: Aurora cannot encrypt a snapshot by copying it
    assert share.identifier == naming.share_copy_id(RUN)
    assert share.created_by_run is True
    assert share.encrypted is False
    assert source.encryption == "none"


# ------------------------------------------------------------------------------------ step 3: sharing


@pytest.mark.parametrize("targets", [(TARGET,), (TARGET, THIRD)], ids=["one-target", "two-targets"])
def test_share_snapshot_adds_exactly_the_target_accounts(world: World, targets: tuple[str, ...]) -> None:
    # Given the run's share copy
    request = world.request(targets=targets)
    share = migration.prepare_shareable_snapshot(
        request, RUN, migration.prepare_source_snapshot(request, RUN)
    )

    # When it is shared
    result = migration.share_snapshot(request, share)

    # Then exactly the target accounts may restore it: never "all", never the source snapshot
    assert world.restore_accounts(SOURCE, share.identifier) == sorted(targets)
    assert "all" not in world.restore_accounts(SOURCE, share.identifier)
    assert result == {"snapshotArn": share.arn, "sharedWith": list(targets)}
    assert world.restore_accounts(SOURCE, naming.source_snapshot_id(RUN)) == []


def test_share_snapshot_twice_is_harmless(world: World) -> None:
    # Given a share copy that is already shared (the step is retried)
    request = world.request()
    share = migration.prepare_shareable_snapshot(
        request, RUN, migration.prepare_source_snapshot(request, RUN)
    )
    migration.share_snapshot(request, share)

    # When it is shared again
    migration.share_snapshot(request, share)

    # Then only the target may restore it (moto, unlike AWS, lists a re-added account twice: compare sets)
    assert set(world.restore_accounts(SOURCE, share.identifier)) == {TARGET}


def test_share_snapshot_refuses_a_snapshot_the_run_did_not_create(world: World) -> None:
    # Given a caller's snapshot on the share key
    world.create_cluster(SOURCE, "orders-on-share-key", world.share_key)
    world.create_snapshot(SOURCE, "orders-on-share-key", "callers-snapshot")
    request = world.request(cluster=None, snapshot="callers-snapshot")
    callers = migration.prepare_source_snapshot(request, RUN)

    # When the run is asked to share it directly
    with pytest.raises(SnapshotNotShareableError) as caught:
        migration.share_snapshot(request, callers)

    # Then it refuses and the snapshot stays unshared
    assert "only shares snapshots it created" in str(caught.value)
    assert caught.value.account_id == SOURCE
    assert world.restore_accounts(SOURCE, "callers-snapshot") == []


def test_share_snapshot_refuses_a_snapshot_not_on_the_share_key(world: World) -> None:
    # Given the run's own source snapshot, still on the cluster's key
    request = world.request()
    source = migration.prepare_source_snapshot(request, RUN)

    # When the run is asked to share it
    with pytest.raises(SnapshotNotShareableError):
        migration.share_snapshot(request, source)

    # Then it stays unshared
    assert world.restore_accounts(SOURCE, source.identifier) == []


def test_share_snapshot_refuses_to_continue_with_a_public_snapshot(world: World) -> None:
    # Given a share copy someone made public behind the run's back
    request = world.request()
    share = migration.prepare_shareable_snapshot(
        request, RUN, migration.prepare_source_snapshot(request, RUN)
    )
    world.rds(SOURCE).modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier=share.identifier, AttributeName="restore", ValuesToAdd=["all"]
    )

    # When the run shares it
    with pytest.raises(SnapshotNotShareableError) as caught:
        migration.share_snapshot(request, share)

    # Then it stops, and adds no account
    assert "public" in str(caught.value)
    assert world.restore_accounts(SOURCE, share.identifier) == ["all"]


# ------------------------------------------------------------------------------------------- cleanup


@dataclass
class RunLeftovers:
    request: MigrationRequest
    source: SnapshotRef
    share: SnapshotRef
    target_copy_arn: str


def run_until_cleanup(world: World, cleanup: str, *, delivered: bool = True) -> RunLeftovers:
    """Source snapshot, share copy, share, the target cluster it delivered, and (made directly: plain moto cannot
    copy across accounts) the run's copy in the target; plus look-alikes the run did not make."""
    request = world.request(cleanup=cleanup)
    source = migration.prepare_source_snapshot(request, RUN)
    share = migration.prepare_shareable_snapshot(request, RUN, source)
    migration.share_snapshot(request, share)
    world.create_cluster(TARGET, "scratch", world.target_keys[TARGET])
    # The cluster the run delivered (restored from the share or from its copy): no restore is left reading.
    if delivered:
        cluster = request.targets[0].cluster_identifier
        world.create_cluster(
            TARGET, cluster, world.target_keys[TARGET], naming.tags_for(RUN, "target-cluster")
        )
    target_copy_arn = world.create_snapshot(
        TARGET, "scratch", naming.target_copy_id(RUN), naming.tags_for(RUN, "target-copy")
    )
    # Look-alikes: the run's name without its tags, another run's snapshot, a caller's snapshot.
    world.create_snapshot(SOURCE, CLUSTER, naming.source_copy_id(RUN))
    world.create_snapshot(
        SOURCE, CLUSTER, naming.source_snapshot_id(OTHER_RUN), naming.tags_for(OTHER_RUN, "x")
    )
    world.create_snapshot(SOURCE, CLUSTER, "orders-nightly-keep")
    world.create_snapshot(
        TARGET, "scratch", naming.target_copy_id(OTHER_RUN), naming.tags_for(OTHER_RUN, "x")
    )
    return RunLeftovers(request, source, share, target_copy_arn)


def test_cleanup_delete_removes_only_the_runs_snapshots(world: World) -> None:
    # Given a finished run and snapshots that merely look like the run's
    run = run_until_cleanup(world, "delete")
    automated = world.automated_snapshot(SOURCE, CLUSTER)

    # When cleanup runs with policy "delete"
    result = migration.cleanup(run.request, RUN)

    # Then the run's tagged snapshots are gone, in both accounts ...
    assert result["policy"] == "delete"
    deleted = {
        (action["accountId"], action["arn"]) for action in result["actions"] if action["action"] == "deleted"
    }
    assert deleted == {(SOURCE, run.source.arn), (SOURCE, run.share.arn), (TARGET, run.target_copy_arn)}
    assert world.snapshot_ids(SOURCE) == {
        automated,
        naming.source_copy_id(RUN),  # the run's name but not its tags: left alone
        naming.source_snapshot_id(OTHER_RUN),
        "orders-nightly-keep",
    }
    automated_in_target = {
        world.automated_snapshot(TARGET, c) for c in ("scratch", run.request.targets[0].cluster_identifier)
    }
    assert world.snapshot_ids(TARGET) - automated_in_target == {naming.target_copy_id(OTHER_RUN)}
    # ... the share was withdrawn first, and the source cluster is untouched
    unshared = [action for action in result["actions"] if action["action"] == "unshared"]
    assert unshared == [{"action": "unshared", "accountId": SOURCE, "arn": run.share.arn, "from": [TARGET]}]
    clusters = world.rds(SOURCE).describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"]
    assert clusters[0]["Status"] == "available"


def test_a_cleanup_looks_twice_for_a_restore_that_may_still_be_starting_before_it_unshares(
    world: World,
) -> None:
    # Given a run whose target restores straight from the share and has no cluster yet (the Map stopped it, and
    # its RestoreCluster call may still be running)
    run = run_until_cleanup(world, "delete", delivered=False)

    # When the cleanup first looks / Then it waits (the task retries it), and nothing is unshared yet
    with pytest.raises(SharedSnapshotInUseError, match="its restore may be starting"):
        migration.cleanup(run.request, RUN, attempt=0)
    assert world.restore_accounts(SOURCE, run.share.identifier) == [TARGET]
    # When it looks again on the retry, and still no restore started / Then it unshares and deletes
    result = migration.cleanup(run.request, RUN, attempt=1)
    assert {("unshared", run.share.arn), ("deleted", run.share.arn)} <= {
        (a["action"], a["arn"]) for a in result["actions"]
    }


def test_a_target_the_cleanup_cannot_reach_does_not_hold_back_the_unshare(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aurora_ferry.migration import cleanup_steps

    # Given a run whose target's role can no longer be assumed
    run = run_until_cleanup(world, "delete", delivered=False)

    def refused(client: Any, access: Any, identifier: str) -> Any:
        raise AssumeRoleError(f"cannot assume {access.role_arn}", account_id=access.account_id)

    monkeypatch.setattr(cleanup_steps, "describe_cluster", refused)
    # When the cleanup runs / Then it unshares in the source anyway: the share must not wait on an unreachable target
    result = migration.cleanup(run.request, RUN, attempt=0)
    assert ("unshared", run.share.arn) in {(a["action"], a["arn"]) for a in result["actions"]}


def test_cleanup_keep_deletes_nothing_but_unshares(world: World) -> None:
    # Given a finished run whose policy is "keep"
    run = run_until_cleanup(world, "keep")
    before = {account: world.snapshot_ids(account) for account in (SOURCE, TARGET)}

    # When cleanup runs
    result = migration.cleanup(run.request, RUN)

    # Then every snapshot is still there, but the share copy is no longer shared
    assert {account: world.snapshot_ids(account) for account in (SOURCE, TARGET)} == before
    assert world.restore_accounts(SOURCE, run.share.identifier) == []
    actions = {(action["action"], action["arn"]) for action in result["actions"]}
    assert actions == {
        ("unshared", run.share.arn),
        ("kept", run.share.arn),
        ("kept", run.source.arn),
        ("kept", run.target_copy_arn),
    }


def test_cleanup_keep_target_copies_deletes_only_source_side_intermediates(world: World) -> None:
    # Given a finished run whose policy is "keep-target-copies"
    run = run_until_cleanup(world, "keep-target-copies")

    # When cleanup runs
    result = migration.cleanup(run.request, RUN)

    # Then the source-side snapshots are deleted and the target's copy is kept
    assert naming.share_copy_id(RUN) not in world.snapshot_ids(SOURCE)
    assert naming.source_snapshot_id(RUN) not in world.snapshot_ids(SOURCE)
    assert naming.target_copy_id(RUN) in world.snapshot_ids(TARGET)
    assert {"action": "kept", "accountId": TARGET, "arn": run.target_copy_arn} in result["actions"]


def test_cleanup_of_a_run_that_made_nothing_does_nothing(world: World) -> None:
    # Given a run that failed before creating anything, and a snapshot of another run
    world.create_snapshot(
        SOURCE, CLUSTER, naming.source_snapshot_id(OTHER_RUN), naming.tags_for(OTHER_RUN, "x")
    )
    before = world.snapshot_ids(SOURCE)

    # When cleanup runs with policy "delete"
    result = migration.cleanup(world.request(), RUN)

    # Then there is nothing to do and nothing changes
    assert result == {"policy": "delete", "actions": []}
    assert world.snapshot_ids(SOURCE) == before


# ---------------------------------------------------------------------------- deferred cleanup (leftovers)

LEFTOVER_TABLE = "unit-leftover-table"


@pytest.fixture
def leftovers(world: World, monkeypatch: pytest.MonkeyPatch) -> LeftoverStore:
    """The leftover table, and RDS refusing to delete a snapshot that is not available yet, as AWS does
    ("The DB cluster snapshot must be in the available state to be deleted", DeleteDBClusterSnapshot API
    reference); plain moto deletes it in any state."""
    from moto.rds.exceptions import InvalidDBClusterSnapshotStateFault
    from moto.rds.models import RDSBackend

    original = RDSBackend.delete_db_cluster_snapshot

    def delete_only_available(backend: Any, db_snapshot_identifier: str) -> Any:
        found = backend.cluster_snapshots.get(db_snapshot_identifier)
        if found is not None and found.status != "available":
            raise InvalidDBClusterSnapshotStateFault(f"{db_snapshot_identifier} is {found.status}")
        return original(backend, db_snapshot_identifier)

    monkeypatch.setattr(RDSBackend, "delete_db_cluster_snapshot", delete_only_available)
    client = world.orchestrator.client("dynamodb")
    client.create_table(
        TableName=LEFTOVER_TABLE,
        AttributeDefinitions=[{"AttributeName": "resourceKey", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "resourceKey", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return LeftoverStore(LEFTOVER_TABLE, client)


def set_snapshot_status(account: str, identifier: str, status: str) -> None:
    from moto.rds.models import rds_backends

    rds_backends[account][REGION].cluster_snapshots[identifier].status = status


def creating_source_snapshot(world: World) -> tuple[MigrationRequest, SnapshotRef]:
    """The run's source snapshot, still being created (the state in which AWS refuses to delete it)."""
    request = world.request()
    source = migration.prepare_source_snapshot(request, RUN)
    set_snapshot_status(SOURCE, source.identifier, "creating")
    return request, source


def rows(store: LeftoverStore) -> list[str]:
    return sorted(leftover.identifier for leftover in store.scan())


def test_cleanup_records_a_snapshot_still_being_created_for_a_later_retry(
    world: World, leftovers: LeftoverStore
) -> None:
    # Given a run that failed while its source snapshot was still being created
    request, source = creating_source_snapshot(world)

    # When cleanup runs with policy "delete"
    result = migration.cleanup(request, RUN, leftovers)

    # Then the snapshot is left in place, reported with the date retries stop, and recorded for the retry
    [action] = result["actions"]
    assert action["action"] == "left-in-place"
    assert action["arn"] == source.arn
    assert "InvalidDBClusterSnapshotStateFault" in action["reason"]
    assert action["retryUntil"].endswith("Z")
    [recorded] = list(leftovers.scan())
    assert (recorded.identifier, recorded.arn, recorded.run_id) == (source.identifier, source.arn, RUN)
    assert recorded.access == source_access()
    assert naming.source_snapshot_id(RUN) in world.snapshot_ids(SOURCE)


def test_cleanup_does_not_record_a_snapshot_it_may_never_delete(
    world: World, leftovers: LeftoverStore
) -> None:
    # Given a run's snapshot whose deletion is refused for a reason that will not go away by waiting
    request = world.request()
    migration.prepare_source_snapshot(request, RUN)
    refusal = ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "DeleteDBClusterSnapshot"
    )
    with mock.patch.object(cleanup_steps, "rds", side_effect=_refusing_deletes(refusal)):
        # When cleanup runs
        result = migration.cleanup(request, RUN, leftovers)
    # Then it is reported left in place, without a retry
    [action] = result["actions"]
    assert action["action"] == "left-in-place" and "retryUntil" not in action
    assert rows(leftovers) == []


def _refusing_deletes(refusal: ClientError) -> Any:
    real_rds = rds

    def client_for(access: AccountAccess) -> Any:
        client = real_rds(access)
        refusing = mock.Mock(wraps=client)
        refusing.delete_db_cluster_snapshot.side_effect = refusal
        return refusing

    return client_for


def test_retry_keeps_waiting_while_the_snapshot_is_created_and_deletes_it_once_available(
    world: World, leftovers: LeftoverStore
) -> None:
    # Given a leftover recorded while its snapshot was being created
    request, source = creating_source_snapshot(world)
    migration.cleanup(request, RUN, leftovers)

    # When the scheduled retry runs while it is still creating
    first = retry_leftovers(leftovers)
    # Then nothing is deleted and the row stays
    assert first["pending"] == 1 and first["deleted"] == 0
    assert source.identifier in world.snapshot_ids(SOURCE)
    assert rows(leftovers) == [source.identifier]

    # When it has become available and the retry runs again
    set_snapshot_status(SOURCE, source.identifier, "available")
    second = retry_leftovers(leftovers)
    # Then the snapshot is deleted and the row removed, and the source cluster is untouched
    assert second["deleted"] == 1
    assert source.identifier not in world.snapshot_ids(SOURCE)
    assert rows(leftovers) == []
    assert world.rds(SOURCE).describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]["Status"] == (
        "available"
    )


def test_retry_never_deletes_a_snapshot_that_lost_its_run_tags(
    world: World, leftovers: LeftoverStore
) -> None:
    # Given a recorded leftover whose run tags were removed since (someone adopted the snapshot)
    request = world.request()
    source = migration.prepare_source_snapshot(request, RUN)
    record_leftover(leftovers, source_access(), world.snapshot(SOURCE, source.identifier), RUN)
    world.rds(SOURCE).remove_tags_from_resource(ResourceName=source.arn, TagKeys=[naming.RUN_ID_TAG])

    # When the retry runs
    counts = retry_leftovers(leftovers)

    # Then the snapshot stays, and the row is dropped (it is no longer the tool's to delete)
    assert counts["untagged"] == 1 and counts["deleted"] == 0
    assert source.identifier in world.snapshot_ids(SOURCE)
    assert rows(leftovers) == []


def test_retry_drops_rows_of_snapshots_already_gone_and_gives_up_after_the_retry_window(
    world: World, leftovers: LeftoverStore
) -> None:
    # Given one leftover deleted by hand meanwhile and one recorded longer ago than the retry window
    request = world.request()
    source = migration.prepare_source_snapshot(request, RUN)
    world.create_snapshot(
        SOURCE, CLUSTER, naming.source_snapshot_id(OTHER_RUN), naming.tags_for(OTHER_RUN, "source-snapshot")
    )
    record_leftover(leftovers, source_access(), world.snapshot(SOURCE, source.identifier), RUN)
    long_ago = time.time() - RETRY_FOR_SECONDS - 60
    record_leftover(
        leftovers,
        source_access(),
        world.snapshot(SOURCE, naming.source_snapshot_id(OTHER_RUN)),
        OTHER_RUN,
        long_ago,
    )
    world.rds(SOURCE).delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=source.identifier)

    # When the retry runs
    counts = retry_leftovers(leftovers)

    # Then both rows are gone, and the expired one's snapshot is left for the operator (still tagged)
    assert (counts["gone"], counts["expired"], counts["deleted"]) == (1, 1, 0)
    assert rows(leftovers) == []
    assert naming.source_snapshot_id(OTHER_RUN) in world.snapshot_ids(SOURCE)
    assert world.tags(SOURCE, naming.source_snapshot_id(OTHER_RUN))[naming.RUN_ID_TAG] == OTHER_RUN


def test_retry_goes_on_past_an_unreachable_account_and_then_fails_naming_it(
    world: World, leftovers: LeftoverStore
) -> None:
    # Given two leftovers ready to delete, the first in an account whose role can no longer be assumed
    request = world.request()
    source = migration.prepare_source_snapshot(request, RUN)
    lost = AccountAccess(THIRD, REGION, f"arn:aws:iam::{THIRD}:role/aurora-ferry-target")
    record_leftover(leftovers, source_access(), world.snapshot(SOURCE, source.identifier), RUN)
    record_leftover(
        leftovers,
        lost,
        {
            "DBClusterSnapshotIdentifier": naming.target_copy_id(RUN),
            "DBClusterSnapshotArn": f"arn:aws:rds:{REGION}:{THIRD}:cluster-snapshot:{naming.target_copy_id(RUN)}",
        },
        RUN,
    )

    def unreachable(access: AccountAccess) -> Any:
        if access.account_id == THIRD:
            raise AssumeRoleError(f"cannot assume {access.role_arn}: AccessDenied", account_id=THIRD)
        return rds(access)

    # When the retry runs
    with (
        mock.patch.object(leftovers_module, "rds", side_effect=unreachable),
        pytest.raises(LeftoverCleanupError) as raised,
    ):
        retry_leftovers(leftovers)

    # Then the reachable leftover was still deleted, and the error names the one that could not be retried
    assert source.identifier not in world.snapshot_ids(SOURCE)
    assert f"cluster-snapshot:{naming.target_copy_id(RUN)}" in str(raised.value)
    assert f"account {THIRD}" in str(raised.value)
    assert rows(leftovers) == [naming.target_copy_id(RUN)]


# ------------------------------------------------------------------------------------------- polling


def test_poll_snapshot_reports_ready_and_counts_attempts(world: World) -> None:
    # Given an available snapshot
    request = world.request()
    ref = migration.prepare_source_snapshot(request, RUN)

    # When it is polled on attempt 3
    result = poll_snapshot(source_access(), ref.identifier, 3)

    # Then it is ready and the attempt counter moves on
    assert result.ready is True
    assert result.status == "available"
    assert result.attempt == 4
    assert result.to_json()["ready"] is True


def test_poll_snapshot_of_a_snapshot_in_progress_is_not_ready(world: World) -> None:
    # Given a snapshot still being created
    from moto.rds.models import rds_backends

    ref = migration.prepare_source_snapshot(world.request(), RUN)
    rds_backends[SOURCE][REGION].cluster_snapshots[ref.identifier].status = "creating"

    # When it is polled
    result = poll_snapshot(source_access(), ref.identifier, 0)

    # Then it is not ready yet
    assert (result.status, result.ready, result.attempt) == ("creating", False, 1)


def test_poll_snapshot_raises_when_the_snapshot_failed(world: World) -> None:
    # Given a snapshot that AWS marked failed
    from moto.rds.models import rds_backends

    ref = migration.prepare_source_snapshot(world.request(), RUN)
    rds_backends[SOURCE][REGION].cluster_snapshots[ref.identifier].status = "failed"

    # When it is polled
    with pytest.raises(ResourceFailedError) as caught:
        poll_snapshot(source_access(), ref.identifier, 0)

    # Then the failure names the snapshot, its status and the account
    assert caught.value.account_id == SOURCE
    assert ref.identifier in str(caught.value)
    assert "failed" in str(caught.value)


def test_poll_snapshot_raises_when_the_snapshot_disappeared(world: World) -> None:
    # Given a snapshot id that no longer exists
    # When it is polled
    with pytest.raises(ResourceFailedError) as caught:
        poll_snapshot(source_access(), "ferry-run-1-snap", 0)

    # Then the run is told it disappeared
    assert "disappeared" in str(caught.value)


def test_poll_cluster_returns_endpoints_when_available(world: World) -> None:
    # Given an available cluster
    # When it is polled
    result = poll_cluster(source_access(), CLUSTER, 0)

    # Then it is ready, with its endpoints
    assert result.ready is True
    assert result.details["endpoint"]
    assert set(result.to_json()) >= {"status", "ready", "attempt", "endpoint", "readerEndpoint"}


# ------------------------------------------------------------------------ step 4 (in-account parts)


def test_restore_cluster_uses_the_target_key_and_tags(world: World) -> None:
    # Given the run's copy already in the target account
    request = world.request()
    target = request.targets[0]
    world.create_cluster(TARGET, "scratch", world.target_keys[TARGET])
    world.create_snapshot(TARGET, "scratch", naming.target_copy_id(RUN), naming.tags_for(RUN, "target-copy"))
    raw_copy = world.snapshot(TARGET, naming.target_copy_id(RUN))
    copy = SnapshotRef(
        arn=raw_copy["DBClusterSnapshotArn"],
        identifier=raw_copy["DBClusterSnapshotIdentifier"],
        account_id=TARGET,
        region=REGION,
        status="available",
        snapshot_type="manual",
        encrypted=True,
        kms_key_id=world.target_keys[TARGET],
        engine="aurora-postgresql",
        engine_version=raw_copy["EngineVersion"],
        created_by_run=True,
    )

    # When the target cluster is restored from it
    result = migration.restore_cluster(request, target, RUN, copy)

    # Then the cluster is encrypted with the target's key and carries the run's and the user's tags
    cluster = world.rds(TARGET).describe_db_clusters(DBClusterIdentifier=target.cluster_identifier)[
        "DBClusters"
    ][0]
    assert result == {"clusterArn": cluster["DBClusterArn"], "clusterIdentifier": target.cluster_identifier}
    assert cluster["KmsKeyId"] == world.target_keys[TARGET]
    assert cluster["StorageEncrypted"] is True
    assert cluster["DeletionProtection"] is target.deletion_protection
    tags = {tag["Key"]: tag["Value"] for tag in cluster["TagList"]}
    assert tags == {
        **target.tags,
        naming.MANAGED_TAG: "true",
        naming.RUN_ID_TAG: RUN,
        naming.PURPOSE_TAG: "target-cluster",
    }


def test_create_instances_is_retry_safe(world: World) -> None:
    # Given the restored target cluster (made directly here)
    request = world.request()
    target = request.targets[0]
    world.create_cluster(TARGET, target.cluster_identifier, world.target_keys[TARGET])

    # and a source of one writer (the target asks for its instance count itself)
    source = SourceConfiguration(
        engine="aurora-postgresql",
        origin="cluster",
        settings=CarriedSettings(),
        instances=(InstanceShape("db.r6g.large", writer=True),),
    )
    assert target.instance_count

    # When the instances are created twice (the step is retried after a timeout)
    first = migration.create_instances(request, target, RUN, "aurora-postgresql", source)
    second = migration.create_instances(request, target, RUN, "aurora-postgresql", source)

    # Then the same instances come back, as many as requested, named after the cluster
    assert first == second
    assert first["instanceIdentifiers"] == [
        naming.instance_id(target.cluster_identifier, index) for index in range(target.instance_count)
    ]
    instances = world.rds(TARGET).describe_db_instances()["DBInstances"]
    assert len(instances) == target.instance_count


# ------------------------------------------------------------------------ carried settings (core.carry)


def test_prepare_source_reads_the_source_clusters_configuration(world: World) -> None:
    # Given the source cluster, with a maintenance window of its own
    world.rds(SOURCE).modify_db_cluster(
        DBClusterIdentifier=CLUSTER, PreferredMaintenanceWindow="sun:05:00-sun:05:30", ApplyImmediately=True
    )

    # When the source step runs
    prepared = migration.prepare_source(world.request(), RUN)

    # Then it returns the snapshot and, beside it, the cluster's configuration, in the JSON the state carries
    assert prepared.configuration.origin == "cluster"
    assert prepared.configuration.settings.preferred_maintenance_window == "sun:05:00-sun:05:30"
    carried = prepared.to_json()
    assert carried["identifier"] == prepared.snapshot.identifier
    assert carried["configuration"]["settings"]["preferredMaintenanceWindow"] == "sun:05:00-sun:05:30"


def test_configure_cluster_modifies_only_what_differs(world: World) -> None:
    # Given a restored target cluster, and a source whose maintenance window differs from the target's
    request = world.request()
    target = request.targets[0]
    world.create_cluster(TARGET, target.cluster_identifier, world.target_keys[TARGET])
    restored = world.rds(TARGET).describe_db_clusters(DBClusterIdentifier=target.cluster_identifier)
    current = restored["DBClusters"][0]["PreferredMaintenanceWindow"]
    source = SourceConfiguration(
        engine="aurora-postgresql",
        origin="cluster",
        settings=CarriedSettings(preferred_maintenance_window="sun:05:00-sun:05:30"),
    )

    # When the carried settings are applied, and then applied again
    first = migration.configure_cluster(
        request, target, source, target.cluster_identifier, "aurora-postgresql"
    )
    second = migration.configure_cluster(
        request, target, source, target.cluster_identifier, "aurora-postgresql"
    )

    # Then the first modified the cluster and the second found nothing to change
    assert current != "sun:05:00-sun:05:30"
    assert first == {"modified": True}
    assert second == {"modified": False}
    cluster = world.rds(TARGET).describe_db_clusters(DBClusterIdentifier=target.cluster_identifier)[
        "DBClusters"
    ][0]
    assert cluster["PreferredMaintenanceWindow"] == "sun:05:00-sun:05:30"


def test_prepare_source_of_a_snapshot_reads_its_cluster_or_else_the_snapshot(world: World) -> None:
    # Given a caller's manual snapshot of the source cluster
    world.create_snapshot(SOURCE, CLUSTER, "orders-before-upgrade")
    request = world.request(cluster=None, snapshot="orders-before-upgrade")

    # When the run prepares it while the cluster exists, and again once the cluster is gone
    while_there = migration.prepare_source(request, RUN).configuration
    world.rds(SOURCE).delete_db_cluster(DBClusterIdentifier=CLUSTER, SkipFinalSnapshot=True)
    gone = migration.prepare_source(request, RUN).configuration

    # Then the first reads the cluster as it is now, and the second what the snapshot records
    assert while_there.origin == "cluster"
    assert while_there.settings.preferred_maintenance_window is not None
    assert gone.origin == "snapshot"
    assert gone.settings.preferred_maintenance_window is None
    assert gone.settings.port == while_there.settings.port


def test_prepare_source_refuses_targets_that_would_mirror_unknown_instances(world: World) -> None:
    # Given a snapshot whose cluster is gone, and a target without an instance class (it would mirror the
    # source's instances, which the snapshot does not record)
    world.create_snapshot(SOURCE, CLUSTER, "orders-before-upgrade")
    raw = world.raw_input(cluster=None, snapshot="orders-before-upgrade")
    for name in ("instanceClass", "instanceCount"):
        raw["targets"][0].pop(name, None)
    request = parse_migration_request(raw)
    world.rds(SOURCE).delete_db_cluster(DBClusterIdentifier=CLUSTER, SkipFinalSnapshot=True)

    # When the source step runs / Then it refuses, naming the field, before anything is made in a target
    with pytest.raises(InvalidInputError, match=r"targets\[0\]\.instanceClass: required here"):
        migration.prepare_source(request, RUN)
    assert world.snapshot_ids(TARGET) == set()
