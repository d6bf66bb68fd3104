"""The twin's Aurora / KMS rules (ferry_cli.twin.rules and the family modules it assembles: lifecycle,
clusters, snapshots, kms) and its scaled clock (ferry_cli.twin.clock).

Every rule has a test that fails on plain moto. Accounts are played through STS AssumeRole: moto
routes the returned credentials to the account in the role ARN.
"""

from __future__ import annotations

import ast
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pytest
from botocore.exceptions import ClientError
from moto.kms.models import kms_backends
from moto.rds.models import DBCluster, RDSBackend, rds_backends

import ferry_cli.twin
from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.kms import (
    CROSS_ACCOUNT_COPY_ACTIONS,
    default_rds_key_arn,
    is_default_rds_key,
    key_policy_refusals,
)
from ferry_cli.twin.lifecycle import Durations, TwinRegistry
from ferry_cli.twin.rules import aws_rules

REGION = "us-east-1"
OTHER_REGION = "us-west-2"
SOURCE = "111111111111"
TARGET = "222222222222"
THIRD = "333333333333"

# What a key owner grants another account for a cross-account snapshot copy, as in
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
KEY_USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
KEY_USE_AND_GRANTS = [*KEY_USE, "kms:CreateGrant"]


# ---------------------------------------------------------------------------------------------- helpers


class Clients(Protocol):
    """client(service, account[, region]): a boto3 client acting as ``account`` (the `aws` fixture, conftest.py)."""

    def __call__(self, service: str, account: str, region: str = ...) -> Any: ...


def key_policy(
    owner: str,
    grantee: str | None = None,
    actions: list[str] | None = None,
    via_region: str | None = None,
) -> str:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{owner}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if grantee is not None:
        grant: dict[str, Any] = {
            "Sid": "Allow use of the key by the target account",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{grantee}:root"},
            "Action": actions if actions is not None else KEY_USE_AND_GRANTS,
            "Resource": "*",
        }
        if via_region is not None:
            grant["Condition"] = {"StringEquals": {"kms:ViaService": f"rds.{via_region}.amazonaws.com"}}
        statements.append(grant)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def create_key(aws: Clients, account: str, policy: str | None = None, region: str = REGION) -> str:
    kms = aws("kms", account, region)
    kwargs = {"Policy": policy} if policy is not None else {}
    return str(kms.create_key(Description="ferry key", **kwargs)["KeyMetadata"]["Arn"])


def create_cluster(
    aws: Clients,
    account: str,
    cluster_id: str,
    *,
    encrypted: bool = True,
    kms_key_id: str | None = None,
    available: bool = True,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"StorageEncrypted": encrypted}
    if kms_key_id is not None:
        kwargs["KmsKeyId"] = kms_key_id
    cluster: dict[str, Any] = aws("rds", account).create_db_cluster(
        DBClusterIdentifier=cluster_id,
        Engine="aurora-postgresql",
        MasterUsername="ferry",
        MasterUserPassword="correct-horse-battery",
        **kwargs,
    )["DBCluster"]
    # An existing cluster, as most tests need it: AWS snapshots only an available cluster (twin rule).
    if available:
        rds_backends[account][REGION].clusters[cluster_id]._status = "available"
    return cluster


def manual_snapshot(
    aws: Clients,
    twin: TwinRegistry,
    *,
    account: str = SOURCE,
    cluster_id: str = "prod",
    snapshot_id: str = "snap",
    available: bool = True,
    encrypted: bool = True,
    kms_key_id: str | None = None,
) -> str:
    """A manual snapshot of a new available cluster (encrypted with ``kms_key_id``, by default the account's
    aws/rds key); available, or still creating when ``available`` is false. Returns the snapshot's ARN."""
    create_cluster(aws, account, cluster_id, encrypted=encrypted, kms_key_id=kms_key_id)
    twin.settle_all()
    arn = aws("rds", account).create_db_cluster_snapshot(
        DBClusterIdentifier=cluster_id, DBClusterSnapshotIdentifier=snapshot_id
    )["DBClusterSnapshot"]["DBClusterSnapshotArn"]
    if available:
        twin.settle_all()
    return str(arn)


def snapshot_of(aws: Clients, account: str, snapshot_id: str) -> dict[str, Any]:
    snapshot: dict[str, Any] = aws("rds", account).describe_db_cluster_snapshots(
        DBClusterSnapshotIdentifier=snapshot_id
    )["DBClusterSnapshots"][0]
    return snapshot


def shared_snapshot(
    aws: Clients,
    twin: TwinRegistry,
    *,
    encrypted: bool = True,
    source_key_policy: str | None = None,
    share_with: str = TARGET,
) -> str:
    """An available snapshot "prod-snap" in SOURCE, encrypted with a SOURCE CMK, shared with ``share_with``."""
    kms_key_id = None
    if encrypted:
        kms_key_id = create_key(aws, SOURCE, source_key_policy or key_policy(SOURCE, share_with))
    arn = manual_snapshot(aws, twin, snapshot_id="prod-snap", encrypted=encrypted, kms_key_id=kms_key_id)
    aws("rds", SOURCE).modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier="prod-snap", AttributeName="restore", ValuesToAdd=[share_with]
    )
    return arn


def copy_to_target(aws: Clients, arn: str, kms_key_id: str | None = None) -> dict[str, Any]:
    """TARGET copies the snapshot ``arn`` to "landed", re-encrypting with ``kms_key_id`` (default: a new
    TARGET key)."""
    copied: dict[str, Any] = aws("rds", TARGET).copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=arn,
        TargetDBClusterSnapshotIdentifier="landed",
        KmsKeyId=kms_key_id or create_key(aws, TARGET),
    )["DBClusterSnapshot"]
    return copied


def restore_list(aws: Clients, account: str, snapshot_id: str) -> list[str]:
    """The accounts (and "all") a snapshot is shared with, as its owner reads them."""
    attributes = aws("rds", account).describe_db_cluster_snapshot_attributes(
        DBClusterSnapshotIdentifier=snapshot_id
    )["DBClusterSnapshotAttributesResult"]["DBClusterSnapshotAttributes"]
    return [value for a in attributes if a["AttributeName"] == "restore" for value in a["AttributeValues"]]


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def error_message(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Message"])


# ---------------------------------------------------------------------------------------------- rule 1


@pytest.mark.twin
def test_manual_snapshot_is_creating_until_its_duration_has_passed(
    aws: Clients, twin: TwinRegistry, clock: TwinClock
) -> None:
    # Given / When a manual snapshot of an available cluster is taken
    manual_snapshot(aws, twin, available=False)

    # Then it is creating, progresses linearly, and is available only after snapshot_create (600 s)
    created = snapshot_of(aws, SOURCE, "snap")
    assert (created["Status"], created["PercentProgress"]) == ("creating", 0)
    clock.advance(300)
    halfway = snapshot_of(aws, SOURCE, "snap")
    assert halfway["Status"] == "creating"
    assert 49 <= halfway["PercentProgress"] <= 51
    clock.advance(301)
    done = snapshot_of(aws, SOURCE, "snap")
    assert (done["Status"], done["PercentProgress"]) == ("available", 100)


@pytest.mark.twin
def test_lifecycle_follows_the_clock_when_a_worker_sleeps(aws: Clients) -> None:
    # Given 500 twin seconds to create a snapshot, and a snapshot just started
    clock = TwinClock()
    with aws_rules(clock, Durations(snapshot_create=500.0)) as twin, clock.patched():
        manual_snapshot(aws, twin, available=False)
        assert snapshot_of(aws, SOURCE, "snap")["Status"] == "creating"

        # When the only worker sleeps 499 twin seconds, then one more
        time.sleep(499)
        almost = snapshot_of(aws, SOURCE, "snap")
        time.sleep(1)

        # Then the snapshot was creating until exactly its duration had passed, and is available after it
        assert (almost["Status"], almost["PercentProgress"]) == ("creating", 99)
        assert snapshot_of(aws, SOURCE, "snap")["Status"] == "available"
        assert clock.elapsed() == 500


@pytest.mark.twin
def test_automated_snapshots_taken_with_the_cluster_stay_available(aws: Clients, twin: TwinRegistry) -> None:
    # Given / When a cluster is created (moto takes an automated snapshot with it)
    create_cluster(aws, SOURCE, "prod")

    # Then the automated snapshot is available at once
    automated = aws("rds", SOURCE).describe_db_cluster_snapshots(SnapshotType="automated")[
        "DBClusterSnapshots"
    ]
    assert [s["Status"] for s in automated] == ["available"]


@pytest.mark.twin
def test_restored_cluster_and_its_instance_wait_for_their_durations(
    aws: Clients, twin: TwinRegistry, clock: TwinClock
) -> None:
    # Given an available snapshot
    manual_snapshot(aws, twin)
    rds = aws("rds", SOURCE)

    # When a cluster is restored (1200 s) and an instance (600 s) is added straight away
    restored = rds.restore_db_cluster_from_snapshot(
        DBClusterIdentifier="copy", SnapshotIdentifier="snap", Engine="aurora-postgresql"
    )["DBCluster"]
    instance = rds.create_db_instance(
        DBInstanceIdentifier="copy-1",
        DBClusterIdentifier="copy",
        Engine="aurora-postgresql",
        DBInstanceClass="db.r6g.large",
    )["DBInstance"]

    # Then both are creating; the instance is not ready before its cluster even though it is faster
    assert restored["Status"] == "creating"
    assert instance["DBInstanceStatus"] == "creating"
    clock.advance(700)
    assert rds.describe_db_clusters(DBClusterIdentifier="copy")["DBClusters"][0]["Status"] == "creating"
    assert rds.describe_db_instances(DBInstanceIdentifier="copy-1")["DBInstances"][0]["DBInstanceStatus"] == (
        "creating"
    )
    assert [(p.kind, p.identifier) for p in twin.pending()] == [("cluster", "copy"), ("instance", "copy-1")]
    clock.advance(501)
    assert rds.describe_db_clusters(DBClusterIdentifier="copy")["DBClusters"][0]["Status"] == "available"
    assert rds.describe_db_instances(DBInstanceIdentifier="copy-1")["DBInstances"][0]["DBInstanceStatus"] == (
        "available"
    )
    assert twin.pending() == []


@pytest.mark.twin
def test_settle_all_makes_everything_available_now(aws: Clients, twin: TwinRegistry) -> None:
    # Given a creating cluster and its creating instance
    create_cluster(aws, SOURCE, "prod", available=False)
    aws("rds", SOURCE).create_db_instance(
        DBInstanceIdentifier="prod-1",
        DBClusterIdentifier="prod",
        Engine="aurora-postgresql",
        DBInstanceClass="db.r6g.large",
    )
    pending = twin.pending()
    assert {(p.kind, p.identifier, p.status, p.account_id) for p in pending} == {
        ("cluster", "prod", "creating", SOURCE),
        ("instance", "prod-1", "creating", SOURCE),
    }

    # When world setup settles the estate
    twin.settle_all()

    # Then nothing is pending and both are available
    rds = aws("rds", SOURCE)
    assert twin.pending() == []
    assert rds.describe_db_clusters()["DBClusters"][0]["Status"] == "available"
    assert rds.describe_db_instances()["DBInstances"][0]["DBInstanceStatus"] == "available"


@pytest.mark.twin
def test_patches_are_undone_on_exit(aws: Clients, clock: TwinClock) -> None:
    # Given moto's own methods
    copy_method = RDSBackend.copy_db_cluster_snapshot
    status_property = DBCluster.__dict__["status"]

    # When the rules are entered and left
    with aws_rules(clock, Durations()):
        assert RDSBackend.copy_db_cluster_snapshot is not copy_method
        with pytest.raises(RuntimeError):
            aws_rules(clock, Durations()).__enter__()

    # Then moto is back to normal: a new cluster reads as creating once, then available
    assert RDSBackend.copy_db_cluster_snapshot is copy_method
    assert DBCluster.__dict__["status"] is status_property
    create_cluster(aws, SOURCE, "plain")
    rds = aws("rds", SOURCE)
    assert rds.describe_db_clusters()["DBClusters"][0]["Status"] == "available"


# ---------------------------------------------------------------------------------------------- rule 2


@pytest.mark.twin
def test_snapshot_that_is_not_available_cannot_be_copied_shared_restored_or_deleted(
    aws: Clients, twin: TwinRegistry
) -> None:
    # Given a snapshot that is still creating
    manual_snapshot(aws, twin, available=False)
    rds = aws("rds", SOURCE)

    # When it is copied, shared, restored or deleted
    attempts: list[Callable[[], Any]] = [
        lambda: rds.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier="snap", TargetDBClusterSnapshotIdentifier="snap-copy"
        ),
        lambda: rds.modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier="snap", AttributeName="restore", ValuesToAdd=[TARGET]
        ),
        lambda: rds.restore_db_cluster_from_snapshot(
            DBClusterIdentifier="restored", SnapshotIdentifier="snap", Engine="aurora-postgresql"
        ),
        lambda: rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="snap"),
    ]

    # Then each call is refused with InvalidDBClusterSnapshotStateFault
    for attempt in attempts:
        with pytest.raises(ClientError) as exc:
            attempt()
        assert error_code(exc) == "InvalidDBClusterSnapshotStateFault"

    # And once available, the same snapshot can be deleted
    twin.settle_all()
    rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="snap")


@pytest.mark.twin
def test_deleting_a_copy_in_progress_cancels_it_and_frees_its_copy_slot(
    aws: Clients, twin: TwinRegistry
) -> None:
    # Given an available snapshot and a copy of it in progress
    manual_snapshot(aws, twin)
    rds = aws("rds", SOURCE)
    copied = rds.copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier="snap", TargetDBClusterSnapshotIdentifier="snap-copy"
    )["DBClusterSnapshot"]
    assert copied["Status"] == "copying"
    assert twin.copies_in_progress(SOURCE, REGION) == 1

    # When the copy is deleted while it is copying
    rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="snap-copy")

    # Then it is gone, no longer counts against the copy limit, and its source is untouched
    identifiers = [
        s["DBClusterSnapshotIdentifier"] for s in rds.describe_db_cluster_snapshots()["DBClusterSnapshots"]
    ]
    assert "snap-copy" not in identifiers
    assert "snap" in identifiers
    assert twin.copies_in_progress(SOURCE, REGION) == 0


# ---------------------------------------------------------------------------------------------- rule 3


@pytest.mark.twin
def test_unshared_snapshot_arn_is_not_found_from_another_account(aws: Clients, twin: TwinRegistry) -> None:
    # Given a SOURCE snapshot shared with a third account only, and a TARGET snapshot of the same
    # name (moto alone would resolve the SOURCE ARN to it)
    arn = shared_snapshot(aws, twin, encrypted=False, share_with=THIRD)
    target_key = create_key(aws, TARGET)
    manual_snapshot(aws, twin, account=TARGET, snapshot_id="prod-snap", encrypted=False)
    rds = aws("rds", TARGET)

    # When TARGET copies, restores or describes it by ARN
    attempts: list[Callable[[], Any]] = [
        lambda: rds.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=arn, TargetDBClusterSnapshotIdentifier="stolen"
        ),
        lambda: rds.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=arn,
            TargetDBClusterSnapshotIdentifier="stolen",
            KmsKeyId=target_key,
        ),
        lambda: rds.restore_db_cluster_from_snapshot(
            DBClusterIdentifier="stolen", SnapshotIdentifier=arn, Engine="aurora-postgresql"
        ),
        lambda: rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=arn),
    ]

    # Then the snapshot does not exist for TARGET
    for attempt in attempts:
        with pytest.raises(ClientError) as exc:
            attempt()
        assert error_code(exc) == "DBClusterSnapshotNotFoundFault"


@pytest.mark.twin
def test_shared_snapshot_arn_can_be_copied_and_restored_by_the_target(
    aws: Clients, twin: TwinRegistry, clock: TwinClock
) -> None:
    # Given a SOURCE snapshot, encrypted with a SOURCE CMK whose policy lets TARGET use it, shared
    arn = shared_snapshot(aws, twin)
    target_key = create_key(aws, TARGET)
    rds = aws("rds", TARGET)

    # When TARGET copies it by ARN, re-encrypting with its own key
    copied = rds.copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=arn, TargetDBClusterSnapshotIdentifier="landed", KmsKeyId=target_key
    )["DBClusterSnapshot"]

    # Then the copy belongs to TARGET, is encrypted with TARGET's key and is copying for 900 s
    assert copied["DBClusterSnapshotArn"].split(":")[4] == TARGET
    assert copied["KmsKeyId"] == target_key
    assert copied["Status"] == "copying"
    clock.advance(901)
    assert snapshot_of(aws, TARGET, "landed")["Status"] == "available"
    # And TARGET can also restore straight from the shared ARN (its key policy allows TARGET)
    restored = rds.restore_db_cluster_from_snapshot(
        DBClusterIdentifier="direct", SnapshotIdentifier=arn, Engine="aurora-postgresql"
    )["DBCluster"]
    assert restored["Status"] == "creating"
    # And the shared listing shows it, while a bare identifier never reaches another account
    shared = rds.describe_db_cluster_snapshots(SnapshotType="shared")["DBClusterSnapshots"]
    assert [s["DBClusterSnapshotArn"] for s in shared] == [arn]
    with pytest.raises(ClientError) as exc:
        rds.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier="prod-snap",
            TargetDBClusterSnapshotIdentifier="bare",
            KmsKeyId=target_key,
        )
    assert error_code(exc) == "DBClusterSnapshotNotFoundFault"


@pytest.mark.twin
def test_shared_encrypted_snapshot_copy_requires_kms_key_id(aws: Clients, twin: TwinRegistry) -> None:
    # Given an encrypted snapshot shared with TARGET
    arn = shared_snapshot(aws, twin)

    # When TARGET copies it without KmsKeyId
    with pytest.raises(ClientError) as exc:
        aws("rds", TARGET).copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=arn, TargetDBClusterSnapshotIdentifier="landed"
        )

    # Then AWS's "you must specify a value for KmsKeyId" is enforced
    assert error_code(exc) == "InvalidParameterValue"
    assert "KmsKeyId" in error_message(exc)


@pytest.mark.twin
def test_unencrypted_snapshot_cannot_be_encrypted_by_a_copy(aws: Clients, twin: TwinRegistry) -> None:
    # Given an unencrypted snapshot shared with TARGET
    arn = shared_snapshot(aws, twin, encrypted=False)
    rds = aws("rds", TARGET)

    # When TARGET copies it with a KmsKeyId, then without
    with pytest.raises(ClientError) as exc:
        rds.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=arn,
            TargetDBClusterSnapshotIdentifier="landed",
            KmsKeyId=create_key(aws, TARGET),
        )
    plain = rds.copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=arn, TargetDBClusterSnapshotIdentifier="landed"
    )["DBClusterSnapshot"]

    # Then the first is refused and the second copy stays unencrypted
    assert error_code(exc) == "InvalidParameterValue"
    assert plain["StorageEncrypted"] is False


@pytest.mark.twin
def test_only_the_owner_can_change_who_a_snapshot_is_shared_with(aws: Clients, twin: TwinRegistry) -> None:
    # Given a snapshot shared with TARGET
    arn = shared_snapshot(aws, twin)

    # When TARGET tries to share it onwards
    with pytest.raises(ClientError) as exc:
        aws("rds", TARGET).modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier=arn, AttributeName="restore", ValuesToAdd=[THIRD]
        )

    # Then it is not found for TARGET, and the restore list is unchanged
    assert error_code(exc) == "DBClusterSnapshotNotFoundFault"
    assert restore_list(aws, SOURCE, "prod-snap") == [TARGET]


# ---------------------------------------------------------------------------------------------- rule 4


@pytest.mark.twin
def test_snapshot_encrypted_with_the_default_key_cannot_be_shared(aws: Clients, twin: TwinRegistry) -> None:
    # Given a snapshot of a cluster encrypted with the default aws/rds key
    manual_snapshot(aws, twin)

    # When it is shared with TARGET
    with pytest.raises(ClientError) as exc:
        aws("rds", SOURCE).modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier="snap", AttributeName="restore", ValuesToAdd=[TARGET]
        )

    # Then sharing is refused, naming the default key
    assert error_code(exc) == "InvalidParameterValue"
    assert "default KMS key" in error_message(exc)


@pytest.mark.twin
def test_encrypted_snapshot_cannot_be_public_but_unencrypted_can(aws: Clients, twin: TwinRegistry) -> None:
    # Given an encrypted (CMK) and an unencrypted available snapshot
    secret_key = create_key(aws, SOURCE)
    manual_snapshot(aws, twin, cluster_id="secret", snapshot_id="secret-snap", kms_key_id=secret_key)
    open_arn = manual_snapshot(aws, twin, cluster_id="open", snapshot_id="open-snap", encrypted=False)
    rds = aws("rds", SOURCE)

    # When both are shared with "all"
    with pytest.raises(ClientError) as exc:
        rds.modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier="secret-snap", AttributeName="restore", ValuesToAdd=["all"]
        )
    rds.modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier="open-snap", AttributeName="restore", ValuesToAdd=["all"]
    )

    # Then the encrypted one is refused, and the public one is readable by any account via its ARN
    assert error_code(exc) == "InvalidParameterValue"
    public = aws("rds", THIRD).describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=open_arn)
    assert public["DBClusterSnapshots"][0]["DBClusterSnapshotArn"] == open_arn


@pytest.mark.twin
def test_snapshot_can_be_shared_with_at_most_20_accounts(aws: Clients, twin: TwinRegistry) -> None:
    # Given an unencrypted snapshot shared with 20 accounts (twice with one of them) and public
    shared_snapshot(aws, twin, encrypted=False)
    rds = aws("rds", SOURCE)
    others = [f"{400000000000 + n}" for n in range(19)]
    rds.modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier="prod-snap", AttributeName="restore", ValuesToAdd=[*others, TARGET, "all"]
    )
    assert sorted(restore_list(aws, SOURCE, "prod-snap")) == sorted([TARGET, *others, "all"])

    # When a 21st account is added
    with pytest.raises(ClientError) as exc:
        rds.modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier="prod-snap", AttributeName="restore", ValuesToAdd=[THIRD]
        )

    # Then the quota error is returned; swapping one account for another is still fine
    assert error_code(exc) == "SharedSnapshotQuotaExceeded"
    rds.modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier="prod-snap",
        AttributeName="restore",
        ValuesToAdd=[THIRD],
        ValuesToRemove=[others[0]],
    )


@pytest.mark.twin
def test_automated_snapshots_cannot_be_shared(aws: Clients, twin: TwinRegistry) -> None:
    # Given the automated snapshot taken with an unencrypted cluster
    create_cluster(aws, SOURCE, "prod", encrypted=False)
    rds = aws("rds", SOURCE)
    automated = rds.describe_db_cluster_snapshots(SnapshotType="automated")["DBClusterSnapshots"][0]

    # When it is shared
    with pytest.raises(ClientError) as exc:
        rds.modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier=automated["DBClusterSnapshotIdentifier"],
            AttributeName="restore",
            ValuesToAdd=[TARGET],
        )

    # Then moto's refusal is kept
    assert error_code(exc) == "InvalidDBClusterSnapshotStateFault"


# ---------------------------------------------------------------------------------------------- rule 5


@pytest.mark.twin
def test_default_rds_key_is_a_realistic_aws_managed_key(aws: Clients, twin: TwinRegistry) -> None:
    # Given / When the aws/rds key is looked up in KMS and used by RDS three ways
    metadata = aws("kms", SOURCE).describe_key(KeyId="alias/aws/rds")["KeyMetadata"]
    implicit = create_cluster(aws, SOURCE, "implicit")
    by_alias = create_cluster(aws, SOURCE, "by-alias", kms_key_id="alias/aws/rds")
    plain = create_cluster(aws, SOURCE, "plain", encrypted=False)

    # Then it is one AWS managed key with a real key ARN, used for both encrypted clusters
    arn = metadata["Arn"]
    assert re.fullmatch(
        rf"arn:aws:kms:{REGION}:{SOURCE}:key/[0-9a-f]{{8}}(-[0-9a-f]{{4}}){{3}}-[0-9a-f]{{12}}", arn
    )
    assert metadata["KeyManager"] == "AWS"
    assert (
        metadata["Description"]
        == "Default key that protects my RDS database volumes when no other key is defined"
    )
    assert arn == default_rds_key_arn(SOURCE, REGION)
    assert implicit["KmsKeyId"] == arn
    assert by_alias["KmsKeyId"] == arn
    assert "KmsKeyId" not in plain
    assert is_default_rds_key(arn, SOURCE, REGION)
    assert is_default_rds_key("alias/aws/rds", SOURCE, REGION)
    assert not is_default_rds_key(create_key(aws, SOURCE), SOURCE, REGION)
    # And every account has its own
    assert default_rds_key_arn(TARGET, REGION).split(":")[4] == TARGET


@pytest.mark.twin
def test_default_key_helper_fixes_a_key_moto_generated_before(aws: Clients) -> None:
    # Given moto's own lazily generated aws/rds key (outside the rules: a customer managed "Default key")
    aws("kms", SOURCE).describe_key(KeyId="alias/aws/rds")

    # When the helper is asked for the default key
    arn = default_rds_key_arn(SOURCE, REGION)

    # Then it is the same key, now AWS managed
    key = kms_backends[SOURCE][REGION].keys[arn.split("/")[-1]]
    assert key.key_manager == "AWS"
    assert len(kms_backends[SOURCE][REGION].keys) == 1


@pytest.mark.twin
def test_kms_key_must_be_in_the_region_of_the_call(aws: Clients, twin: TwinRegistry) -> None:
    # Given a key in another region
    west_key = create_key(aws, SOURCE, region=OTHER_REGION)

    # When a cluster in us-east-1 is encrypted with it
    with pytest.raises(ClientError) as exc:
        create_cluster(aws, SOURCE, "prod", kms_key_id=west_key)

    # Then the key is not accessible
    assert error_code(exc) == "KMSKeyNotAccessibleFault"


# ---------------------------------------------------------------------------------------------- rule 6


@pytest.mark.twin
def test_key_policy_missing_create_grant_refuses_cross_account_copy(aws: Clients, twin: TwinRegistry) -> None:
    # Given a shared snapshot whose key policy gives TARGET everything but kms:CreateGrant
    arn = shared_snapshot(aws, twin, source_key_policy=key_policy(SOURCE, TARGET, actions=KEY_USE))
    source_key = rds_backends[SOURCE][REGION].cluster_snapshots["prod-snap"].kms_key_id

    # When TARGET copies it
    with pytest.raises(ClientError) as exc:
        copy_to_target(aws, arn)

    # Then the source key is not accessible, and the message says which key, account and action
    assert error_code(exc) == "KMSKeyNotAccessibleFault"
    message = error_message(exc)
    assert source_key in message
    assert TARGET in message
    assert "kms:CreateGrant" in message
    assert "kms:Decrypt" not in message


@pytest.mark.twin
@pytest.mark.parametrize(("via_region", "allowed"), [(OTHER_REGION, False), (REGION, True)])
def test_via_service_condition_must_name_the_region_of_the_copy(
    aws: Clients, twin: TwinRegistry, via_region: str, allowed: bool
) -> None:
    # Given a shared snapshot whose key grants TARGET only via RDS in ``via_region``
    policy = key_policy(SOURCE, TARGET, via_region=via_region)
    arn = shared_snapshot(aws, twin, source_key_policy=policy)

    # When TARGET copies it in us-east-1 / Then only a statement for rds.us-east-1.amazonaws.com counts
    if allowed:
        assert copy_to_target(aws, arn)["Status"] == "copying"
    else:
        with pytest.raises(ClientError) as exc:
            copy_to_target(aws, arn)
        assert error_code(exc) == "KMSKeyNotAccessibleFault"


@pytest.mark.twin
def test_target_key_of_another_account_needs_its_policy_too(aws: Clients, twin: TwinRegistry) -> None:
    # Given a shared snapshot, and a THIRD-account key whose policy only allows THIRD
    arn = shared_snapshot(aws, twin)
    third_key = create_key(aws, THIRD)

    # When TARGET copies the snapshot re-encrypting with THIRD's key
    with pytest.raises(ClientError) as exc:
        copy_to_target(aws, arn, third_key)

    # Then THIRD's key is not accessible to TARGET
    assert error_code(exc) == "KMSKeyNotAccessibleFault"
    assert third_key in error_message(exc)


@pytest.mark.twin
@pytest.mark.parametrize("state_change", ["disable", "schedule_deletion"])
def test_disabled_or_deleted_source_key_refuses_copy(
    aws: Clients, twin: TwinRegistry, state_change: str
) -> None:
    # Given a shared snapshot whose (otherwise permitted) key is then disabled or pending deletion
    arn = shared_snapshot(aws, twin)
    kms = aws("kms", SOURCE)
    source_key = rds_backends[SOURCE][REGION].cluster_snapshots["prod-snap"].kms_key_id
    if state_change == "disable":
        kms.disable_key(KeyId=source_key.split("/")[-1])
    else:
        kms.schedule_key_deletion(KeyId=source_key.split("/")[-1], PendingWindowInDays=7)

    # When TARGET copies it
    with pytest.raises(ClientError) as exc:
        copy_to_target(aws, arn)

    # Then the key is not accessible
    assert error_code(exc) == "KMSKeyNotAccessibleFault"


@pytest.mark.twin
def test_default_key_of_another_account_can_never_be_used(aws: Clients, twin: TwinRegistry) -> None:
    # Given a default-key snapshot forced into TARGET's restore list behind the API's back
    arn = manual_snapshot(aws, twin)
    rds_backends[SOURCE][REGION].cluster_snapshots["snap"].attributes["restore"].append(TARGET)

    # When TARGET copies it
    with pytest.raises(ClientError) as exc:
        copy_to_target(aws, arn)

    # Then the AWS managed key refuses another account even though its policy names Principal "*"
    assert error_code(exc) == "KMSKeyNotAccessibleFault"
    assert "AWS managed" in error_message(exc)


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(principal: Any, action: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*"}
    if condition is not None:
        statement["Condition"] = condition
    return statement


SOURCE_KEY_ARN = f"arn:aws:kms:{REGION}:{SOURCE}:key/0b5e1c3a-0000-4000-8000-000000000001"
TARGET_ROOT = f"arn:aws:iam::{TARGET}:root"


def refused(policy: Any, actions: Any = CROSS_ACCOUNT_COPY_ACTIONS) -> list[str]:
    """What the twin's evaluator refuses TARGET on a SOURCE key, through RDS in us-east-1."""
    return list(key_policy_refusals(policy, SOURCE_KEY_ARN, SOURCE, TARGET, REGION, actions))


@pytest.mark.twin
@pytest.mark.parametrize(
    ("policy", "missing"),
    [
        pytest.param(_policy(_allow({"AWS": TARGET_ROOT}, "kms:*")), [], id="root-kms-star"),
        pytest.param(_policy(_allow({"AWS": TARGET}, "kms:*")), [], id="bare-account-id"),
        pytest.param(_policy(_allow("*", "kms:*")), [], id="everyone"),
        pytest.param(_policy(_allow({"AWS": "*"}, "kms:*")), [], id="aws-star"),
        pytest.param(
            _policy(_allow({"AWS": [f"arn:aws:iam::{THIRD}:root", TARGET_ROOT]}, "kms:*")),
            [],
            id="target-root-in-a-list",
        ),
        pytest.param(
            # The account-level question: a key policy that names one role of TARGET lets that role use the key
            # (its own IAM half is the twin's IAM's business), so the account is not refused here.
            _policy(_allow({"AWS": f"arn:aws:iam::{TARGET}:role/ferry"}, "kms:*")),
            [],
            id="one-role-of-the-target-admits-that-role",
        ),
        pytest.param(
            _policy(_allow({"AWS": f"arn:aws:iam::{THIRD}:role/ferry"}, "kms:*")),
            list(CROSS_ACCOUNT_COPY_ACTIONS),
            id="a-role-of-another-account",
        ),
        pytest.param(_policy(_allow({"AWS": TARGET_ROOT}, KEY_USE_AND_GRANTS)), [], id="doc-wildcards"),
        pytest.param(
            _policy(_allow({"AWS": f"arn:aws:iam::{THIRD}:root"}, "kms:*")),
            list(CROSS_ACCOUNT_COPY_ACTIONS),
            id="other-account",
        ),
        pytest.param(
            _policy(_allow({"Service": "rds.amazonaws.com"}, "kms:*")),
            list(CROSS_ACCOUNT_COPY_ACTIONS),
            id="service-principal",
        ),
        pytest.param(
            _policy(_allow({"AWS": TARGET}, ["kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey"])),
            [
                "kms:CreateGrant",
                "kms:DescribeKey",
                "kms:ReEncryptTo",
                "kms:GenerateDataKeyWithoutPlaintext",
            ],
            id="no-wildcards",
        ),
        pytest.param(
            _policy(
                _allow({"AWS": TARGET}, "kms:*"),
                {"Effect": "Deny", "Principal": "*", "Action": "kms:CreateGrant", "Resource": "*"},
            ),
            ["kms:CreateGrant"],
            id="explicit-deny-wins",
        ),
        pytest.param(
            _policy(
                _allow({"AWS": TARGET}, "kms:*", {"StringLike": {"kms:ViaService": "rds.*.amazonaws.com"}})
            ),
            [],
            id="via-service-like",
        ),
        pytest.param(
            _policy(
                _allow(
                    {"AWS": TARGET},
                    "kms:*",
                    {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}},
                )
            ),
            list(CROSS_ACCOUNT_COPY_ACTIONS),
            id="via-another-service",
        ),
        pytest.param(
            _policy(
                _allow(
                    {"AWS": TARGET},
                    "kms:*",
                    {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                )
            ),
            [a for a in CROSS_ACCOUNT_COPY_ACTIONS if a != "kms:CreateGrant"],
            id="grant-is-for-aws-resource-only-on-grants",
        ),
    ],
)
def test_the_twin_evaluates_key_policy_principals_actions_and_rds_conditions(
    policy: dict[str, Any], missing: list[str]
) -> None:
    # Given a key policy / When the twin evaluates it for TARGET copying in us-east-1 / Then these are refused
    assert refused(policy) == missing


@pytest.mark.twin
def test_the_twins_key_policy_evaluation_is_case_insensitive_for_actions_and_accepts_a_single_statement() -> (
    None
):
    # Given a policy whose Statement is one object with lower-case actions
    policy = {"Statement": {"Effect": "Allow", "Principal": {"AWS": TARGET}, "Action": "KMS:reencrypt*"}}

    # When / Then both ReEncrypt actions are allowed and nothing else
    assert refused(policy, ["kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:Decrypt"]) == ["kms:Decrypt"]


# Key policies on which aurora_ferry.kms_policy (the product's static evaluator, which skips NotPrincipal and
# assumes that conditions on keys it cannot know hold) answers differently from IAM: the twin must judge them
# as KMS does, so that a product bug of that kind fails a twin run instead of being repeated by it.
POLICIES_THE_PRODUCT_MISJUDGES = [
    pytest.param(
        _policy(
            _allow({"AWS": TARGET_ROOT}, "kms:*"),
            {
                "Sid": "OnlyTheOwner",
                "Effect": "Deny",
                "NotPrincipal": {"AWS": f"arn:aws:iam::{SOURCE}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
        ),
        id="deny-with-not-principal",
    ),
    pytest.param(
        _policy(_allow({"AWS": TARGET_ROOT}, "kms:*", {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}})),
        id="allow-on-a-key-rds-does-not-send",
    ),
]

# Key policies both evaluators must get right: NotAction, and negated conditions on kms:CallerAccount.
POLICIES_WITH_NEGATIONS = [
    pytest.param(
        _policy({"Effect": "Allow", "Principal": {"AWS": TARGET_ROOT}, "NotAction": "kms:CreateGrant"}),
        ["kms:CreateGrant"],
        id="allow-with-not-action",
    ),
    pytest.param(
        _policy(
            _allow({"AWS": TARGET_ROOT}, "kms:*"),
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"kms:CallerAccount": [SOURCE, THIRD]}},
            },
        ),
        list(CROSS_ACCOUNT_COPY_ACTIONS),
        id="deny-every-caller-account-but-two-others",
    ),
    pytest.param(
        _policy(
            _allow({"AWS": TARGET_ROOT}, "kms:*"),
            {
                "Effect": "Deny",
                "Principal": "*",
                "NotAction": ["kms:Describe*", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {"StringNotEquals": {"kms:CallerAccount": SOURCE}},
            },
        ),
        [a for a in CROSS_ACCOUNT_COPY_ACTIONS if a not in ("kms:DescribeKey", "kms:Decrypt")],
        id="deny-other-accounts-all-but-reads",
    ),
    pytest.param(
        _policy(_allow("*", "kms:*", {"StringNotEquals": {"kms:CallerAccount": THIRD}})),
        [],
        id="allow-everyone-but-a-third-account",
    ),
]


@pytest.mark.twin
@pytest.mark.parametrize("policy", POLICIES_THE_PRODUCT_MISJUDGES)
def test_the_twin_refuses_what_kms_refuses_where_the_products_evaluator_would_allow(
    aws: Clients, twin: TwinRegistry, policy: dict[str, Any]
) -> None:
    # Given a shared snapshot whose key policy KMS would not let TARGET use
    arn = shared_snapshot(aws, twin, source_key_policy=json.dumps(policy))

    # When TARGET copies it
    with pytest.raises(ClientError) as exc:
        copy_to_target(aws, arn)

    # Then the source key is not accessible, for every action RDS needs
    assert error_code(exc) == "KMSKeyNotAccessibleFault"
    assert refused(policy) == list(CROSS_ACCOUNT_COPY_ACTIONS)


@pytest.mark.twin
@pytest.mark.parametrize(("policy", "missing"), POLICIES_WITH_NEGATIONS)
def test_the_twin_evaluates_not_action_and_negated_caller_account_conditions(
    policy: dict[str, Any], missing: list[str]
) -> None:
    # Given a key policy with NotAction or StringNotEquals / When the twin evaluates it / Then as KMS would
    assert refused(policy) == missing


@pytest.mark.twin
def test_a_denied_action_names_the_deny_statement(aws: Clients, twin: TwinRegistry) -> None:
    # Given a shared snapshot whose key policy denies TARGET's account kms:CreateGrant in a named statement
    policy = _policy(
        _allow({"AWS": TARGET_ROOT}, "kms:*"),
        {"Sid": "NoGrants", "Effect": "Deny", "Principal": {"AWS": TARGET}, "Action": "kms:CreateGrant"},
    )
    arn = shared_snapshot(aws, twin, source_key_policy=json.dumps(policy))

    # When TARGET copies it
    with pytest.raises(ClientError) as exc:
        copy_to_target(aws, arn)

    # Then the message names the refused action and the statement that refused it
    assert error_code(exc) == "KMSKeyNotAccessibleFault"
    assert "kms:CreateGrant (denied by key-policy/NoGrants)" in error_message(exc)


def _imports(module: Path) -> list[tuple[str, str | None]]:
    """(module, imported name) for every import of a Python file; the name is None for ``import x``."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.extend((node.module, alias.name) for alias in node.names)
    return found


TWIN_MODULES = sorted(Path(ferry_cli.twin.__file__).parent.rglob("*.py"))


def _kms_policy_imports(module: Path) -> list[str]:
    """The imports of the product's key policy evaluator (aurora_ferry[.<package>].kms_policy) in a file."""
    return [
        f"{module.name}: {name}" + (f".{imported}" if imported else "")
        for name, imported in _imports(module)
        if name.split(".")[0] == "aurora_ferry" and "kms_policy" in (*name.split("."), imported)
    ]


@pytest.mark.twin
def test_no_twin_module_imports_the_products_key_policy_evaluator(tmp_path: Path) -> None:
    # Given every module of the twin, and a file with the imports the scan must recognise
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from aurora_ferry.kms_policy import key_policy_allows\n"
        "from aurora_ferry.core import kms_policy\n"
        "import aurora_ferry.core.kms_policy\n",
        encoding="utf-8",
    )

    # When their imports are read
    offenders = [found for module in TWIN_MODULES for found in _kms_policy_imports(module)]

    # Then none brings in the product's evaluator (the twin judges key policies with its own), and the scan
    # would have seen one
    assert TWIN_MODULES
    assert offenders == []
    assert len(_kms_policy_imports(sample)) == 3


@pytest.mark.twin
def test_twin_modules_import_no_private_names_from_each_other() -> None:
    # Given every module of the twin / When their imports of other twin modules are read
    private = [
        f"{module.name}: {name}.{imported}"
        for module in TWIN_MODULES
        for name, imported in _imports(module)
        if name.startswith("ferry_cli.twin") and imported is not None and imported.startswith("_")
    ]

    # Then each uses only what the others make public
    assert private == []


# ---------------------------------------------------------------------------------------------- clusters


@pytest.mark.twin
def test_a_stopped_cluster_cannot_be_snapshotted(aws: Clients, twin: TwinRegistry) -> None:
    # Given a stopped cluster
    create_cluster(aws, SOURCE, "prod")
    rds = aws("rds", SOURCE)
    rds.stop_db_cluster(DBClusterIdentifier="prod")

    # When it is snapshotted
    with pytest.raises(ClientError) as exc:
        rds.create_db_cluster_snapshot(DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="snap")

    # Then RDS refuses, as for any cluster that is not available
    assert error_code(exc) == "InvalidDBClusterStateFault"
    assert "stopped" in error_message(exc)


@pytest.mark.twin
def test_an_existing_cluster_identifier_is_refused_not_replaced(aws: Clients, twin: TwinRegistry) -> None:
    # Given a cluster and a snapshot of it
    manual_snapshot(aws, twin)
    rds = aws("rds", SOURCE)
    created = rds.describe_db_clusters(DBClusterIdentifier="prod")["DBClusters"][0]

    # When a restore names the same cluster identifier
    with pytest.raises(ClientError) as exc:
        rds.restore_db_cluster_from_snapshot(
            DBClusterIdentifier="prod", SnapshotIdentifier="snap", Engine="aurora-postgresql"
        )

    # Then RDS refuses with DBClusterAlreadyExistsFault and the first cluster is still the one that was there
    assert error_code(exc) == "DBClusterAlreadyExistsFault"
    still = rds.describe_db_clusters(DBClusterIdentifier="prod")["DBClusters"][0]
    assert still["DbClusterResourceId"] == created["DbClusterResourceId"]


@pytest.mark.twin
def test_symmetric_keys_share_one_unused_rsa_key_and_asymmetric_keys_get_their_own(
    aws: Clients, twin: TwinRegistry
) -> None:
    from moto.kms.models import kms_backends

    # Given two symmetric keys and an asymmetric signing key
    kms = aws("kms", SOURCE)
    first = kms.create_key()["KeyMetadata"]["KeyId"]
    second = kms.create_key()["KeyMetadata"]["KeyId"]
    signing = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    keys = kms_backends[SOURCE][REGION].keys
    # When the asymmetric key signs a message
    signature = kms.sign(KeyId=signing, Message=b"twin", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    # Then the symmetric keys share moto's unused private key, and the signing key has its own, which verifies
    assert keys[first].private_key is keys[second].private_key
    assert keys[signing].private_key is not keys[first].private_key
    assert kms.verify(
        KeyId=signing, Message=b"twin", Signature=signature, SigningAlgorithm="RSASSA_PSS_SHA_256"
    )["SignatureValid"]
