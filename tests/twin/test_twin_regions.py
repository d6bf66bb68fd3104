"""A twin whose accounts live in several Regions (worlds/two-regions.json): the DR target account in eu-central-1,
the source and the orchestrator in eu-west-1.

Each account's member stack, keys and clusters are in its own Region; a shared snapshot is copied across accounts
and Regions in one CopyDBClusterSnapshot made in the destination Region; the RDS rules that are regional stay
regional; and an RDS event in the target's Region reaches the orchestrator's bus in its Region.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.iam.models import iam_backends
from moto.kms.models import kms_backends
from moto.rds.models import rds_backends

from ferry_cli.template import load_cfn_yaml
from ferry_cli.twin.rules import MAX_COPIES_IN_PROGRESS
from ferry_cli.twin.world import load_world, member_stack_parameters
from tests.conftest import REPO, run_twin_until, running_twin, someone_elses_snapshot

pytestmark = pytest.mark.twin

WORLD = "two-regions.json"
A = "eu-west-1"  # the orchestrator's and the source's Region
B = "eu-central-1"  # the DR target's Region
PROD = "111111111111"
DR = "555555555555"
SHARE_KEY_ID = "0b5e1c3a-6f1d-4f7e-9a51-2c8e7d1f0a11"
SHARE_KEY = f"arn:aws:kms:{A}:{PROD}:key/{SHARE_KEY_ID}"
DR_KEY_ID = "5d1e8a2c-4b7f-4c39-9e06-7a3b2c1d0f55"
DR_KEY = f"arn:aws:kms:{B}:{DR}:key/{DR_KEY_ID}"
AUTOMATED = "rds:orders-2026-11-22-03-10"


def _error(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


def _templates(
    folder: Path, *, role_on_own_region_bus: bool = False, via_own_region: tuple[str, ...] = ()
) -> Path:
    """A copy of the member templates with one mistake for a target in another Region:
    ``role_on_own_region_bus`` lets the forwarding role put events only on its own Region's bus;
    ``via_own_region`` names role statements (by Sid) whose kms:ViaService is RDS of the stack's own Region."""
    target = load_cfn_yaml(REPO / "member-accounts" / "target-account.yaml")
    resources = target["Resources"]
    if role_on_own_region_bus:
        role_policy = resources["RdsEventForwardingRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        role_policy["Statement"][0]["Resource"] = {
            "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${OrchestratorAccountId}:event-bus/default"
        }
    for policy in resources["OrchestratorAccessRole"]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if isinstance(statement, dict) and statement.get("Sid") in via_own_region:
                statement["Condition"]["StringEquals"]["kms:ViaService"] = {
                    "Fn::Sub": "rds.${AWS::Region}.amazonaws.com"
                }
    folder.mkdir()
    # JSON is YAML: the long-form intrinsics load back unchanged.
    (folder / "target-account.yaml").write_text(json.dumps(target), encoding="utf-8")
    source = REPO / "member-accounts" / "source-account.yaml"
    (folder / "source-account.yaml").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


@pytest.fixture
def twin() -> Iterator[Any]:
    with running_twin(WORLD) as started:
        started.events.pause_schedules()
        yield started


def _shared_snapshot(twin: Any, identifier: str = "ferry-run-shared", share: bool = True) -> str:
    """What the source side of a run leaves: a copy of the orders snapshot under the share key, shared with DR."""
    rds = twin.client("rds", PROD)
    copied = rds.copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=AUTOMATED,
        TargetDBClusterSnapshotIdentifier=identifier,
        KmsKeyId=SHARE_KEY,
    )["DBClusterSnapshot"]
    twin.rules.settle_all()
    if share:
        rds.modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier=identifier, AttributeName="restore", ValuesToAdd=[DR]
        )
    return str(copied["DBClusterSnapshotArn"])


def _copy_into_b(twin: Any, source: str, target: str = "ferry-run-dr", **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"KmsKeyId": DR_KEY, "SourceRegion": A, **extra}
    copied: dict[str, Any] = twin.client("rds", DR).copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=source, TargetDBClusterSnapshotIdentifier=target, **params
    )["DBClusterSnapshot"]
    return copied


# --- the world ----------------------------------------------------------------------------------------------


def test_the_two_regions_world_deploys_each_account_in_its_region(twin: Any) -> None:
    # Given the two-regions world, started
    world = twin.world

    # Then the DR account is in eu-central-1, the source in the world's Region, eu-west-1
    assert (world.region, world.region_of(PROD), world.region_of(DR)) == (A, A, B)

    # And the DR target stack's role exists and its key is in eu-central-1 (its ARN says so), not in eu-west-1
    role_arn = twin.stack_outputs[DR]["RoleArn"]
    assert any(role.arn == role_arn for role in iam_backends[DR]["aws"].get_roles())
    assert twin.stack_outputs[DR]["TargetKeyArn"] == DR_KEY
    assert DR_KEY_ID in kms_backends[DR][B].keys
    assert DR_KEY_ID not in kms_backends[DR][A].keys
    assert twin.client("kms", DR).describe_key(KeyId=DR_KEY)["KeyMetadata"]["Arn"] == DR_KEY

    # And the target stack was deployed to forward RDS events to the orchestrator's Region; the source's, in that
    # Region already, was not given the parameter
    assert member_stack_parameters(world, world.account(DR), twin.stack_outputs)["OrchestratorRegion"] == A
    assert "OrchestratorRegion" not in member_stack_parameters(world, world.account(PROD), twin.stack_outputs)

    # And the inventory lists each account's resources in its Region, naming the Region of the one elsewhere
    inventory = twin.inventory()
    assert "region" not in inventory[PROD]
    assert inventory[DR]["region"] == B
    assert {c["identifier"] for c in inventory[PROD]["clusters"]} == {"orders", "billing", "legacy-reports"}
    assert all(c["arn"].startswith(f"arn:aws:rds:{A}:") for c in inventory[PROD]["clusters"])


def test_the_shipped_world_loads_with_the_dr_target_in_its_region() -> None:
    # When the shipped world file is loaded
    world = load_world(REPO / "worlds" / WORLD)

    # Then the source stack trusts the DR account, which has a target stack in eu-central-1
    prod, dr = world.account(PROD), world.account(DR)
    assert prod.member_stack is not None and DR in prod.member_stack.parameters["TargetAccountIds"].split(",")
    assert dr.member_stack is not None and dr.member_stack.template == "target-account"
    assert (prod.region, dr.region) == (None, B)


# --- copying across Regions ----------------------------------------------------------------------------------


def test_a_shared_snapshot_is_copied_across_accounts_and_regions_then_restored_there(twin: Any) -> None:
    # Given the source's snapshot in eu-west-1, under the share key, shared with DR
    source_arn = _shared_snapshot(twin)

    # When DR copies it in eu-central-1, naming it by its ARN, with its own key of eu-central-1
    copied = _copy_into_b(twin, source_arn)

    # Then the copy is DR's, in eu-central-1, under DR's key, and copying for the world's copy duration
    assert copied["DBClusterSnapshotArn"] == f"arn:aws:rds:{B}:{DR}:cluster-snapshot:ferry-run-dr"
    assert (copied["Status"], copied["KmsKeyId"], copied["StorageEncrypted"]) == ("copying", DR_KEY, True)
    assert "ferry-run-dr" in rds_backends[DR][B].cluster_snapshots
    assert "ferry-run-dr" not in rds_backends[DR][A].cluster_snapshots
    rds = twin.client("rds", DR)
    took = run_twin_until(
        twin,
        lambda: (
            rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="ferry-run-dr")[
                "DBClusterSnapshots"
            ][0]["Status"]
            == "available"
        ),
        step=30,
    )
    assert twin.world.durations.snapshot_copy <= took < twin.world.durations.snapshot_copy + 30

    # And the copy restores in eu-central-1, in that Region's zones, under DR's key
    restored = rds.restore_db_cluster_from_snapshot(
        DBClusterIdentifier="orders-dr",
        SnapshotIdentifier="ferry-run-dr",
        Engine="aurora-postgresql",
        KmsKeyId=DR_KEY,
    )["DBCluster"]
    assert restored["DBClusterArn"] == f"arn:aws:rds:{B}:{DR}:cluster:orders-dr"
    assert restored["KmsKeyId"] == DR_KEY
    assert all(zone.startswith(B) for zone in restored["AvailabilityZones"])


def test_a_snapshot_in_another_region_is_named_only_by_its_arn(twin: Any) -> None:
    # Given the source's own snapshot in eu-west-1
    _shared_snapshot(twin, share=False)
    prod_b_key = twin.client("kms", PROD, region=B).create_key()["KeyMetadata"]["Arn"]

    # When the source account copies it into eu-central-1 by its identifier alone
    with pytest.raises(ClientError) as caught:
        twin.client("rds", PROD, region=B).copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier="ferry-run-shared",
            TargetDBClusterSnapshotIdentifier="ferry-run-dr",
            KmsKeyId=prod_b_key,
            SourceRegion=A,
        )

    # Then eu-central-1 has no such snapshot
    assert _error(caught) == "DBClusterSnapshotNotFoundFault"


def test_another_accounts_snapshot_in_another_region_must_be_shared_with_the_caller(twin: Any) -> None:
    # Given the source's snapshot in eu-west-1, not shared
    source_arn = _shared_snapshot(twin, share=False)

    # When DR copies it into eu-central-1 by its ARN
    with pytest.raises(ClientError) as caught:
        _copy_into_b(twin, source_arn)

    # Then it is not found, as any snapshot of another account that was not shared with the caller
    assert _error(caught) == "DBClusterSnapshotNotFoundFault"


def test_an_encrypted_copy_from_another_region_needs_a_key_of_the_destination_region(twin: Any) -> None:
    # Given the source's own encrypted snapshot in eu-west-1
    source_arn = _shared_snapshot(twin, share=False)
    rds_b = twin.client("rds", PROD, region=B)

    # When the source account copies it into eu-central-1 without a KmsKeyId
    with pytest.raises(ClientError) as no_key:
        rds_b.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=source_arn,
            TargetDBClusterSnapshotIdentifier="ferry-b",
            SourceRegion=A,
        )
    # Then a KmsKeyId is required (the copy can't keep a key of eu-west-1)
    assert _error(no_key) == "InvalidParameterValue"
    assert "KmsKeyId" in no_key.value.response["Error"]["Message"]

    # When it names a key of eu-west-1 (the share key) instead
    with pytest.raises(ClientError) as wrong_region:
        rds_b.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=source_arn,
            TargetDBClusterSnapshotIdentifier="ferry-b",
            KmsKeyId=SHARE_KEY,
            SourceRegion=A,
        )
    # Then that key is not accessible from eu-central-1
    assert _error(wrong_region) == "KMSKeyNotAccessibleFault"


@pytest.mark.parametrize(("via_region", "allowed"), [(A, True), (B, False)])
def test_the_source_key_is_used_through_rds_in_the_source_region(
    twin: Any, via_region: str, allowed: bool
) -> None:
    # Given the shared snapshot, and the share key's policy for DR narrowed to RDS in ``via_region``
    source_arn = _shared_snapshot(twin)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{PROD}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{DR}:root"},
                "Action": [
                    "kms:CreateGrant",
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                ],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": f"rds.{via_region}.amazonaws.com"}},
            },
        ],
    }
    twin.client("kms", PROD).put_key_policy(
        KeyId=SHARE_KEY_ID, PolicyName="default", Policy=json.dumps(policy)
    )

    # When DR copies it into eu-central-1 / Then RDS uses the share key in eu-west-1, where the key is: only a
    # statement for rds.eu-west-1.amazonaws.com lets it
    if allowed:
        assert _copy_into_b(twin, source_arn)["Status"] == "copying"
    else:
        with pytest.raises(ClientError) as caught:
            _copy_into_b(twin, source_arn)
        assert _error(caught) == "KMSKeyNotAccessibleFault"


def test_copies_in_progress_count_in_their_destination_region(twin: Any) -> None:
    # Given the source account with five copies in progress in eu-west-1, its limit there
    rds_a = twin.client("rds", PROD)
    for index in range(MAX_COPIES_IN_PROGRESS):
        rds_a.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=AUTOMATED, TargetDBClusterSnapshotIdentifier=f"ferry-a-{index}"
        )
    with pytest.raises(ClientError) as sixth:
        rds_a.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=AUTOMATED, TargetDBClusterSnapshotIdentifier="ferry-a-6"
        )
    assert _error(sixth) == "SnapshotQuotaExceeded"

    # When the same account copies the same snapshot into eu-central-1
    prod_b_key = twin.client("kms", PROD, region=B).create_key()["KeyMetadata"]["Arn"]
    source_arn = f"arn:aws:rds:{A}:{PROD}:cluster-snapshot:{AUTOMATED}"
    rds_b = twin.client("rds", PROD, region=B)
    copies = [
        rds_b.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=source_arn,
            TargetDBClusterSnapshotIdentifier=f"ferry-b-{index}",
            KmsKeyId=prod_b_key,
            SourceRegion=A,
        )["DBClusterSnapshot"]
        for index in range(MAX_COPIES_IN_PROGRESS)
    ]

    # Then eu-central-1 has its own five, and refuses a sixth there
    assert {c["Status"] for c in copies} == {"copying"}
    assert twin.rules.copies_in_progress(PROD, B) == MAX_COPIES_IN_PROGRESS
    with pytest.raises(ClientError) as sixth_b:
        rds_b.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=source_arn,
            TargetDBClusterSnapshotIdentifier="ferry-b-6",
            KmsKeyId=prod_b_key,
            SourceRegion=A,
        )
    assert _error(sixth_b) == "SnapshotQuotaExceeded"


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws-cn:rds:cn-north-1:{PROD}:cluster-snapshot:ferry-run-cn",
        f"arn:aws:rds:cn-north-1:{PROD}:cluster-snapshot:ferry-run-cn",
    ],
    ids=["aws-cn", "aws-partition-with-a-china-region"],
)
def test_a_snapshot_of_another_partition_is_not_found(twin: Any, arn: str) -> None:
    # Given a snapshot of the source account in cn-north-1 (the aws-cn partition), shared with DR
    rds_cn = someone_elses_snapshot(twin, PROD, "orders-cn", "ferry-run-cn", region="cn-north-1")
    rds_cn.modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier="ferry-run-cn", AttributeName="restore", ValuesToAdd=[DR]
    )

    # When DR, in the aws partition, copies it by ARN
    with pytest.raises(ClientError) as caught:
        twin.client("rds", DR).copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=arn, TargetDBClusterSnapshotIdentifier="ferry-run-dr"
        )

    # Then no snapshot of another partition is found
    assert _error(caught) == "DBClusterSnapshotNotFoundFault"


# --- what stays regional -------------------------------------------------------------------------------------


def test_describe_and_restore_do_not_reach_a_snapshot_in_another_region(twin: Any) -> None:
    # Given the source's snapshot in eu-west-1, shared with DR
    source_arn = _shared_snapshot(twin)
    dr = twin.client("rds", DR)

    # When DR describes it or restores from it in eu-central-1 / Then eu-central-1 has no such snapshot
    with pytest.raises(ClientError) as described:
        dr.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=source_arn)
    assert _error(described) == "DBClusterSnapshotNotFoundFault"
    with pytest.raises(ClientError) as restored:
        dr.restore_db_cluster_from_snapshot(
            DBClusterIdentifier="orders-dr",
            SnapshotIdentifier=source_arn,
            Engine="aurora-postgresql",
            KmsKeyId=DR_KEY,
        )
    assert _error(restored) == "DBClusterSnapshotNotFoundFault"

    # And neither does the owner itself from eu-central-1
    with pytest.raises(ClientError) as own:
        twin.client("rds", PROD, region=B).describe_db_cluster_snapshots(
            DBClusterSnapshotIdentifier=source_arn
        )
    assert _error(own) == "DBClusterSnapshotNotFoundFault"

    # While in eu-west-1, where it is, DR sees it shared
    dr_in_a = twin.client("rds", DR, region=A)
    found = dr_in_a.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=source_arn)[
        "DBClusterSnapshots"
    ]
    assert [s["DBClusterSnapshotArn"] for s in found] == [source_arn]


# --- events across Regions -----------------------------------------------------------------------------------


def test_an_rds_event_in_the_target_region_reaches_the_orchestrators_bus_in_its_region(twin: Any) -> None:
    # Given the DR account's forwarding rule, deployed in eu-central-1
    from moto.events.models import events_backends

    assert "aurora-ferry-rds-event-forwarding" in events_backends[DR][B].event_buses["default"].rules
    assert "aurora-ferry-rds-event-forwarding" not in events_backends[DR][A].event_buses["default"].rules

    # When a cluster is created in DR's Region and becomes available
    twin.client("rds", DR).create_db_cluster(
        DBClusterIdentifier="orders-dr",
        Engine="aurora-postgresql",
        MasterUsername="ferryadmin",
        MasterUserPassword="not-a-real-password-1",
    )

    def routed() -> list[Any]:
        return [d for d in list(twin.events.deliveries) if d.function == "RdsEventRouterFunction"]

    run_twin_until(twin, lambda: bool(routed()), step=60, limit=2 * twin.world.durations.cluster_restore)

    # Then its RDS-EVENT-0170, from eu-central-1, reached the router on the orchestrator's bus in eu-west-1
    event = routed()[0].event
    assert (event["account"], event["region"], event["detail"]["EventID"]) == (DR, B, "RDS-EVENT-0170")
    assert event["resources"] == [f"arn:aws:rds:{B}:{DR}:cluster:orders-dr"]


def test_an_event_across_regions_still_needs_the_orchestrators_bus_policy(twin: Any) -> None:
    # Given the orchestrator's bus without its policy
    twin.client("events").remove_permission(RemoveAllPermissions=True, EventBusName="default")

    # When a cluster becomes available in DR's Region
    _cluster_becomes_available_in_dr(twin)

    # Then its event was published in eu-central-1 but never reached the router
    assert any(e["region"] == B and e["account"] == DR for e in list(twin.events.published))
    assert not [d for d in list(twin.events.deliveries) if d.function == "RdsEventRouterFunction"]


def test_the_forwarding_role_must_be_allowed_to_put_events_on_the_bus_in_the_orchestrators_region(
    tmp_path: Path,
) -> None:
    # Given a target stack whose forwarding rule names the orchestrator's bus in eu-west-1, but whose role may put
    # events only on the bus of its own Region, eu-central-1
    folder = _templates(tmp_path / "member-accounts", role_on_own_region_bus=True)
    with running_twin(WORLD, member_templates=folder) as twin:
        twin.events.pause_schedules()

        # When a cluster becomes available in DR's Region
        _cluster_becomes_available_in_dr(twin)

        # Then EventBridge could not put its event on the orchestrator's bus as that role
        assert any(e["region"] == B and e["account"] == DR for e in list(twin.events.published))
        assert not [d for d in list(twin.events.deliveries) if d.function == "RdsEventRouterFunction"]


def _cluster_becomes_available_in_dr(twin: Any) -> None:
    """A cluster made in DR's Region, followed until it is available (its RDS event then put on DR's bus)."""
    twin.client("rds", DR).create_db_cluster(
        DBClusterIdentifier="orders-dr",
        Engine="aurora-postgresql",
        MasterUsername="ferryadmin",
        MasterUserPassword="not-a-real-password-1",
    )
    twin.clock.sleep(2 * twin.world.durations.cluster_restore)


# --- the twin's IAM across Regions ---------------------------------------------------------------------------

_SHARE_KEY_USE = ("UseSourceShareKeyThroughRds", "GrantSourceShareKeyToRds")


@pytest.mark.parametrize("via_source_region", [True, False], ids=["via-rds-eu-west-1", "via-own-region"])
def test_the_twins_iam_judges_the_source_key_through_rds_in_the_source_region(
    tmp_path: Path, via_source_region: bool
) -> None:
    # Given the DR target role as shipped (the share key through RDS of the key's Region, eu-west-1), or with
    # kms:ViaService naming RDS of its own Region, eu-central-1
    folder = (
        None if via_source_region else _templates(tmp_path / "member-accounts", via_own_region=_SHARE_KEY_USE)
    )
    with running_twin(WORLD, member_templates=folder) as twin:
        twin.events.pause_schedules()
        source_arn = _shared_snapshot(twin)
        twin.client("rds", PROD).add_tags_to_resource(
            ResourceName=source_arn, Tags=[{"Key": "aurora-ferry:managed", "Value": "true"}]
        )

        # When the copy function, as the DR role, copies it in eu-central-1
        def copy() -> Any:
            import boto3

            with twin.iam.acting_as("CopyToTargetFunction"):
                credentials = boto3.client("sts", region_name=A).assume_role(
                    RoleArn=twin.stack_outputs[DR]["RoleArn"],
                    RoleSessionName="ferry",
                    ExternalId="ferry-prod-7f3a",
                )["Credentials"]
                rds = boto3.client(
                    "rds",
                    region_name=B,
                    aws_access_key_id=credentials["AccessKeyId"],
                    aws_secret_access_key=credentials["SecretAccessKey"],
                    aws_session_token=credentials["SessionToken"],
                )
                return rds.copy_db_cluster_snapshot(
                    SourceDBClusterSnapshotIdentifier=source_arn,
                    TargetDBClusterSnapshotIdentifier="ferry-run-dr",
                    KmsKeyId=DR_KEY,
                    SourceRegion=A,
                    Tags=[{"Key": "aurora-ferry:managed", "Value": "true"}],
                )["DBClusterSnapshot"]

        # Then only a role whose statements name RDS of eu-west-1 may use the share key for it
        if via_source_region:
            assert copy()["Status"] == "copying"
        else:
            with pytest.raises(ClientError) as caught:
                copy()
            assert _error(caught) == "KMSKeyNotAccessibleFault"
            assert SHARE_KEY in caught.value.response["Error"]["Message"]
