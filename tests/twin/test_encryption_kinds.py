"""The twin's three kinds of encryption at rest (ferry_cli.twin.encryption_kinds): StorageEncryptionType on clusters
and snapshots, and what the twin refuses for a cluster or snapshot under an AWS owned key (sse-rds).

Each test fails with its rule off: on plain moto (and the twin's other rules) an sse-rds resource would look and
behave like an unencrypted one. Accounts are played through STS AssumeRole, as in test_twin_rules.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.rds.models import rds_backends

from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.clones import clone_rules
from ferry_cli.twin.encryption_kinds import encryption_kind_rules, mark_aws_owned
from ferry_cli.twin.lifecycle import Durations
from ferry_cli.twin.ram import RAM_PROPAGATION_SECONDS
from ferry_cli.twin.rules import aws_rules
from ferry_cli.twin.world import parse_world
from tests.conftest import acting_as

pytestmark = pytest.mark.twin

REGION = "us-east-1"
OTHER_REGION = "us-west-2"
OWNER = "111111111111"
OTHER = "222222222222"
ORG = "o-twintest001"


class Twin:
    """moto with the twin's Aurora/KMS, clone and encryption-kind rules, acting as any account."""

    def __init__(self, clock: TwinClock) -> None:
        self.clock = clock
        self._sessions: dict[str, Any] = {}

    def client(self, service: str, account: str = OWNER, region: str = REGION) -> Any:
        if account not in self._sessions:
            self._sessions[account] = acting_as(account, REGION)
        return self._sessions[account].client(service, region_name=region)

    def key(self, account: str = OWNER, region: str = REGION) -> str:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*"}
            ],
        }
        kms = self.client("kms", account, region)
        return str(kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"])

    def cluster(self, cluster_id: str, encryption: str, *, key: str | None = None) -> dict[str, Any]:
        """An available OWNER cluster with one instance: ``none``, ``sse-rds`` or ``sse-kms`` (under ``key``)."""
        rds = self.client("rds")
        kwargs: dict[str, Any] = {"StorageEncrypted": encryption == "sse-kms"}
        if key:
            kwargs["KmsKeyId"] = key
        rds.create_db_cluster(
            DBClusterIdentifier=cluster_id,
            Engine="aurora-postgresql",
            MasterUsername="ferry",
            MasterUserPassword="correct-horse-battery",
            **kwargs,
        )
        if encryption == "sse-rds":
            backend = rds_backends[OWNER][REGION]
            mark_aws_owned(backend, backend.clusters[cluster_id])
        rds.create_db_instance(
            DBInstanceIdentifier=f"{cluster_id}-1",
            DBClusterIdentifier=cluster_id,
            DBInstanceClass="db.r6g.large",
            Engine="aurora-postgresql",
        )
        self.clock.advance(3600)
        return self.described(cluster_id)

    def snapshot(self, cluster_id: str, snapshot_id: str) -> dict[str, Any]:
        self.client("rds").create_db_cluster_snapshot(
            DBClusterIdentifier=cluster_id, DBClusterSnapshotIdentifier=snapshot_id
        )
        self.clock.advance(3600)
        return self.described_snapshot(snapshot_id)

    def described(self, cluster_id: str, account: str = OWNER) -> dict[str, Any]:
        found: dict[str, Any] = self.client("rds", account).describe_db_clusters(
            DBClusterIdentifier=cluster_id
        )["DBClusters"][0]
        return found

    def described_snapshot(self, snapshot_id: str, region: str = REGION) -> dict[str, Any]:
        found: dict[str, Any] = self.client("rds", OWNER, region).describe_db_cluster_snapshots(
            DBClusterSnapshotIdentifier=snapshot_id
        )["DBClusterSnapshots"][0]
        return found


@pytest.fixture
def twin(clock: TwinClock) -> Iterator[Twin]:
    world = parse_world(
        {
            "region": REGION,
            "accounts": [
                {"accountId": OWNER, "organizationId": ORG},
                {"accountId": OTHER, "organizationId": ORG},
            ],
        }
    )
    with (
        mock_aws(),
        aws_rules(clock, Durations()),
        clone_rules(clock, world),
        encryption_kind_rules(),
    ):
        yield Twin(clock)


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def kind(resource: dict[str, Any]) -> tuple[Any, Any, Any]:
    return resource.get("StorageEncryptionType"), resource.get("StorageEncrypted"), resource.get("KmsKeyId")


# ------------------------------------------------------------------------------------- item 1: the API shape


def test_each_kind_reports_storage_encryption_type_as_aws_does(twin: Twin) -> None:
    # Given a cluster of each kind, and a snapshot of each
    key = twin.key()
    clusters = {
        "none": twin.cluster("plain", "none"),
        "sse-rds": twin.cluster("owned", "sse-rds"),
        "sse-kms": twin.cluster("managed", "sse-kms", key=key),
    }
    snapshots = {
        name: twin.snapshot(c["DBClusterIdentifier"], f"{name}-snap") for name, c in clusters.items()
    }

    # Then each reports its StorageEncryptionType; only sse-kms has StorageEncrypted and a KmsKeyId
    for resources in (clusters, snapshots):
        assert kind(resources["none"]) == ("none", False, None)
        assert kind(resources["sse-rds"]) == ("sse-rds", False, None)
        assert kind(resources["sse-kms"]) == ("sse-kms", True, key)


# --------------------------------------------------------------------------------- rule A: sharing (items 2, 3)


def test_a_snapshot_under_an_aws_owned_key_cannot_be_shared_nor_made_public(twin: Twin) -> None:
    # Given a manual snapshot of an sse-rds cluster
    twin.cluster("owned", "sse-rds")
    twin.snapshot("owned", "owned-snap")
    rds = twin.client("rds")

    # When it is shared with another account, then as public
    refusals = [
        error_of(
            lambda values=values: rds.modify_db_cluster_snapshot_attribute(
                DBClusterSnapshotIdentifier="owned-snap", AttributeName="restore", ValuesToAdd=values
            )
        )
        for values in ([OTHER], ["all"])
    ]

    # Then both are refused with the code of the default-key refusal, naming the AWS owned key, and nothing is shared
    for code, message in refusals:
        assert code == "InvalidParameterValue"
        assert "AWS owned key" in message
    attributes = rds.describe_db_cluster_snapshot_attributes(DBClusterSnapshotIdentifier="owned-snap")
    restore = attributes["DBClusterSnapshotAttributesResult"]["DBClusterSnapshotAttributes"]
    assert [a["AttributeValues"] for a in restore if a["AttributeName"] == "restore"] in ([], [[]])


# ------------------------------------------------------------------------------------------ item 4: copies


def test_a_copy_moves_an_aws_owned_snapshot_under_a_customer_key_which_can_then_be_shared(twin: Twin) -> None:
    # Given an sse-rds snapshot and a customer managed key
    twin.cluster("owned", "sse-rds")
    twin.snapshot("owned", "owned-snap")
    key = twin.key()
    rds = twin.client("rds")

    # When it is copied with the key, and without one
    rds.copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier="owned-snap",
        TargetDBClusterSnapshotIdentifier="keyed",
        KmsKeyId=key,
    )
    rds.copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier="owned-snap", TargetDBClusterSnapshotIdentifier="same"
    )
    twin.clock.advance(3600)

    # Then the first is sse-kms under the key (and shareable), the second stays sse-rds
    assert kind(twin.described_snapshot("keyed")) == ("sse-kms", True, key)
    assert kind(twin.described_snapshot("same")) == ("sse-rds", False, None)
    rds.modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier="keyed", AttributeName="restore", ValuesToAdd=[OTHER]
    )


def test_a_copy_of_an_aws_owned_snapshot_to_another_region_needs_a_key_of_that_region(twin: Twin) -> None:
    # Given an sse-rds snapshot
    twin.cluster("owned", "sse-rds")
    arn = twin.snapshot("owned", "owned-snap")["DBClusterSnapshotArn"]
    west = twin.client("rds", OWNER, OTHER_REGION)

    # When it is copied to another Region without a KmsKeyId
    code, message = error_of(
        lambda: west.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=arn,
            TargetDBClusterSnapshotIdentifier="west",
            SourceRegion=REGION,
        )
    )

    # Then it is refused as for any encrypted snapshot; with a key of that Region it is copied, under that key
    assert code == "InvalidParameterValue"
    assert "KmsKeyId" in message
    west_key = twin.key(region=OTHER_REGION)
    west.copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=arn,
        TargetDBClusterSnapshotIdentifier="west",
        KmsKeyId=west_key,
        SourceRegion=REGION,
    )
    twin.clock.advance(3600)
    assert kind(twin.described_snapshot("west", OTHER_REGION)) == ("sse-kms", True, west_key)


# ------------------------------------------------------------------------------------ rule B: restores (item 5)


def test_a_restore_keeps_the_aws_owned_key_unless_given_a_kms_key(twin: Twin) -> None:
    # Given an sse-rds snapshot and a customer managed key
    twin.cluster("owned", "sse-rds")
    twin.snapshot("owned", "owned-snap")
    key = twin.key()
    rds = twin.client("rds")

    # When it is restored without and with the key
    for cluster_id, extra in (("kept", {}), ("keyed", {"KmsKeyId": key})):
        rds.restore_db_cluster_from_snapshot(
            DBClusterIdentifier=cluster_id,
            SnapshotIdentifier="owned-snap",
            Engine="aurora-postgresql",
            **extra,
        )

    # Then the first is sse-rds, the second sse-kms under the key
    assert kind(twin.described("kept")) == ("sse-rds", False, None)
    assert kind(twin.described("keyed")) == ("sse-kms", True, key)


# -------------------------------------------------------------------------------------- rule C: clones (item 6)


def test_a_cluster_under_an_aws_owned_key_is_never_cloned_across_accounts(twin: Twin) -> None:
    # Given an sse-rds cluster shared with OTHER through RAM (same organization: associated at once)
    arn = twin.cluster("owned", "sse-rds")["DBClusterArn"]
    twin.client("ram").create_resource_share(name="owned", resourceArns=[arn], principals=[OTHER])
    twin.clock.advance(RAM_PROPAGATION_SECONDS + 1)
    key = twin.key(OTHER)

    # When OTHER clones it, with its own key
    code, message = error_of(
        lambda: twin.client("rds", OTHER).restore_db_cluster_to_point_in_time(
            SourceDBClusterIdentifier=arn,
            DBClusterIdentifier="copy",
            RestoreType="copy-on-write",
            UseLatestRestorableTime=True,
            KmsKeyId=key,
        )
    )

    # Then it is refused, naming the AWS owned key
    assert code == "InvalidParameterValue"
    assert "AWS owned key" in message


def test_a_clone_in_the_same_account_stays_under_the_aws_owned_key_and_takes_no_kms_key(twin: Twin) -> None:
    # Given an sse-rds cluster
    twin.cluster("owned", "sse-rds")
    rds = twin.client("rds")
    clone = {
        "SourceDBClusterIdentifier": "owned",
        "RestoreType": "copy-on-write",
        "UseLatestRestorableTime": True,
    }

    # When it is cloned with a KmsKeyId, then without
    code, _ = error_of(
        lambda: rds.restore_db_cluster_to_point_in_time(
            DBClusterIdentifier="keyed", KmsKeyId=twin.key(), **clone
        )
    )
    rds.restore_db_cluster_to_point_in_time(DBClusterIdentifier="twin", **clone)

    # Then the first is refused and the clone is sse-rds
    assert code == "InvalidParameterCombination"
    assert kind(twin.described("twin")) == ("sse-rds", False, None)


# -------------------------------------------------------------------------------------------------- worlds


def test_a_world_cluster_may_be_under_an_aws_owned_key_and_the_error_names_the_kinds() -> None:
    from ferry_cli.twin.world import WorldError

    def world(encryption: str) -> Any:
        cluster = {"identifier": "ledger", "encryption": encryption}
        return parse_world({"region": REGION, "accounts": [{"accountId": OWNER, "clusters": [cluster]}]})

    assert world("sse-rds").accounts[0].clusters[0].encryption == "sse-rds"
    with pytest.raises(WorldError) as caught:
        world("sse-s3")
    assert "'sse-rds' (an AWS owned key)" in str(caught.value)
