"""The source side of the two-step cross-Region copy, in the twin (worlds/two-step-regions.json).

The source role (member-accounts/source-account.yaml with CopyRegions and CopyRegionShareKeyArns) copies its share
copy from eu-west-1 into eu-central-1 under its regional share key (member-accounts/source-region-key.yaml), shares
it there with the DR target, which copies it like a same-Region share, and unshares and deletes it. Everything
else is refused as AWS refuses it: a copy without the managed tag, into a Region not in CopyRegions, with a
statement of the templates missing, or with a regional key whose policy does not admit the target. And the rule
the twin adds for this, aws:RequestedRegion in every request's context, is shown to matter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.kms.models import kms_backends

from ferry_cli.twin.world import World, load_world, member_stack_parameters, parse_world
from ferry_cli.twin.world_regions import WorldError
from tests.conftest import REPO

pytestmark = pytest.mark.twin

WORLD = "two-step-regions.json"
A = "eu-west-1"  # the source's (and the orchestrator's) Region
B = "eu-central-1"  # the DR target's Region, a CopyRegions Region of the source
ELSEWHERE = "us-east-1"  # not in CopyRegions
PROD = "111111111111"
DR = "555555555555"
SHARE_KEY = f"arn:aws:kms:{A}:{PROD}:key/0b5e1c3a-6f1d-4f7e-9a51-2c8e7d1f0a11"
REGION_KEY_ID = "9c4e2a71-5b3d-4e8f-a6c1-3d7b0e2f8a44"
REGION_KEY = f"arn:aws:kms:{B}:{PROD}:key/{REGION_KEY_ID}"
DR_KEY = f"arn:aws:kms:{B}:{DR}:key/5d1e8a2c-4b7f-4c39-9e06-7a3b2c1d0f55"
AUTOMATED = "rds:orders-2026-11-22-03-10"
MANAGED = {"Key": "aurora-ferry:managed", "Value": "true"}
RUN_TAGS = [
    MANAGED,
    {"Key": "aurora-ferry:run-id", "Value": "x"},
    {"Key": "aurora-ferry:purpose", "Value": "copy"},
]
SHARE_COPY = "ferry-x-share-copy"
REGION_COPY = "ferry-x-region-copy"
# How the refusals name the regional copy and the regional key (its ARN).
NEW = f"arn:aws:rds:{B}:{PROD}:cluster-snapshot:{REGION_COPY}"
KEY = REGION_KEY


def _code(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


def _world(*, omit: tuple[str, ...] = (), region_key_targets: str | None = None) -> World:
    """The shipped world, with the source stack missing the statements `omit`, or its regional key deployed for
    other target accounts (`region_key_targets`)."""
    world = load_world(REPO / "worlds" / WORLD)
    prod = world.account(PROD)
    assert prod.member_stack is not None
    stack = dataclasses.replace(prod.member_stack, omit_statements=omit)
    keys = (
        prod.copy_region_keys
        if region_key_targets is None
        else tuple(
            dataclasses.replace(key, parameters={"TargetAccountIds": region_key_targets})
            for key in prod.copy_region_keys
        )
    )
    changed = dataclasses.replace(prod, member_stack=stack, copy_region_keys=keys)
    return dataclasses.replace(world, accounts=tuple(changed if a is prod else a for a in world.accounts))


@contextmanager
def _twin(world: World | None = None) -> Iterator[Any]:
    from ferry_cli.twin.runtime import Twin

    with Twin.started(world or _world(), REPO / "template.yaml") as twin:
        twin.events.pause_schedules()
        yield twin


class _Role:
    """A member role, assumed by a deployed function as the orchestrator does: boto3 clients in any Region."""

    def __init__(self, twin: Any, account: str, function: str) -> None:
        import boto3

        with twin.iam.acting_as(function):
            credentials = boto3.client("sts", region_name=A).assume_role(
                RoleArn=twin.stack_outputs[account]["RoleArn"],
                RoleSessionName="aurora-ferry",
                ExternalId="ferry-prod-7f3a",
            )["Credentials"]
        self._session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def client(self, service: str, region: str) -> Any:
        return self._session.client(service, region_name=region)


def _share_copy(twin: Any, source: _Role, snapshot: str = AUTOMATED, key: str | None = SHARE_KEY) -> str:
    """What the run leaves in the source Region before the two-step copy: its share copy (as the source role)."""
    params: dict[str, Any] = {"KmsKeyId": key} if key else {}
    copied = source.client("rds", A).copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=snapshot,
        TargetDBClusterSnapshotIdentifier=SHARE_COPY,
        Tags=RUN_TAGS,
        **params,
    )["DBClusterSnapshot"]
    twin.rules.settle_all()
    return str(copied["DBClusterSnapshotArn"])


def _region_copy(
    source: _Role, share_copy: str, *, region: str = B, key: str | None = REGION_KEY, tags: Any = None
) -> dict[str, Any]:
    params: dict[str, Any] = {"KmsKeyId": key} if key else {}
    copied: dict[str, Any] = source.client("rds", region).copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=share_copy,
        TargetDBClusterSnapshotIdentifier=REGION_COPY,
        SourceRegion=A,
        Tags=RUN_TAGS if tags is None else tags,
        **params,
    )["DBClusterSnapshot"]
    return copied


def _dr_copy(dr: _Role, regional_copy: str) -> dict[str, Any]:
    copied: dict[str, Any] = dr.client("rds", B).copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=regional_copy,
        TargetDBClusterSnapshotIdentifier="ferry-x-copy",
        KmsKeyId=DR_KEY,
        Tags=[MANAGED],
    )["DBClusterSnapshot"]
    return copied


# --- the world --------------------------------------------------------------------------------------------------


def test_the_world_deploys_the_regional_key_and_names_it_in_the_source_and_target_stacks() -> None:
    with _twin() as twin:
        world = twin.world
        # Given the two-step world, started
        # Then the source account has its regional share key in eu-central-1, with the documented alias there
        assert REGION_KEY_ID in kms_backends[PROD][B].keys
        assert (
            twin.client("kms", PROD, B).describe_key(KeyId="alias/aurora-ferry-share")["KeyMetadata"]["Arn"]
            == REGION_KEY
        )
        # And the source stack may copy into eu-central-1 under it
        source = member_stack_parameters(world, world.account(PROD), twin.stack_outputs)
        assert (source["CopyRegions"], source["CopyRegionShareKeyArns"]) == (B, REGION_KEY)
        # And the DR target stack (in eu-central-1) reaches the source through the regional key, not the share key
        target = member_stack_parameters(world, world.account(DR), twin.stack_outputs)
        assert target["SourceShareKeyArn"] == REGION_KEY


@pytest.mark.parametrize(
    ("accounts_change", "message"),
    [
        ({"copyRegionKeys": [{"region": B, "keyId": REGION_KEY_ID}]}, "only an account whose memberStack"),
        ({"copyRegionKeys": [{"region": A, "keyId": REGION_KEY_ID}]}, "the account's own Region"),
        ({"copyRegionKeys": [{"region": B, "keyId": "k"}]}, "keyId: must be a UUID"),
        ({"copyRegionKeys": [{"region": "mars-1", "keyId": REGION_KEY_ID}]}, "region: must be the name"),
        ({"copyRegionKeys": [{"region": B, "keyId": REGION_KEY_ID, "alias": "x"}]}, "alias: unknown"),
        ({"copyRegionKeys": []}, "a non-empty list"),
        (
            {
                "copyRegionKeys": [
                    {"region": B, "keyId": REGION_KEY_ID},
                    {"region": B, "keyId": REGION_KEY_ID},
                ]
            },
            "listed twice",
        ),
    ],
    ids=["on-a-target", "own-region", "bad-key-id", "bad-region", "unknown-field", "empty", "twice"],
)
def test_a_world_with_a_wrong_regional_key_is_refused_naming_the_field(
    accounts_change: dict[str, Any], message: str
) -> None:
    import json

    # Given the shipped world with one mistake in copyRegionKeys (the first case on the DR target account)
    raw = json.loads((REPO / "worlds" / WORLD).read_text(encoding="utf-8"))
    index = 1 if message.startswith("only") else 0
    raw["accounts"][index].update(accounts_change)
    # When it is loaded / Then the twin refuses it, naming the field
    with pytest.raises(WorldError, match="copyRegionKeys") as caught:
        parse_world(raw)
    assert message in str(caught.value)


# --- the two-step copy, as the source role ----------------------------------------------------------------------


def test_the_source_role_copies_into_its_copy_region_shares_unshares_and_deletes_there() -> None:
    with _twin() as twin:
        source = _Role(twin, PROD, "PrepareSourceFunction")
        share_copy = _share_copy(twin, source)

        # When the source role copies its share copy into eu-central-1 under the regional key, tagged as managed
        copied = _region_copy(source, share_copy)
        # Then the copy is made there, under that key, and polled there
        assert copied["DBClusterSnapshotArn"] == f"arn:aws:rds:{B}:{PROD}:cluster-snapshot:{REGION_COPY}"
        assert copied["KmsKeyId"] == REGION_KEY
        rds_b = source.client("rds", B)
        twin.rules.settle_all()
        (polled,) = rds_b.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=REGION_COPY)[
            "DBClusterSnapshots"
        ]
        assert polled["Status"] == "available"
        assert MANAGED in rds_b.list_tags_for_resource(ResourceName=copied["DBClusterSnapshotArn"])["TagList"]
        # And preflight's copy queue (a listing) and its key checks in eu-central-1 are allowed
        assert rds_b.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
        assert source.client("kms", B).describe_key(KeyId=REGION_KEY)["KeyMetadata"]["Arn"] == REGION_KEY
        assert source.client("kms", B).get_key_policy(KeyId=REGION_KEY, PolicyName="default")["Policy"]

        # When it shares the regional copy with the DR account
        rds_b.modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier=REGION_COPY, AttributeName="restore", ValuesToAdd=[DR]
        )
        attributes = rds_b.describe_db_cluster_snapshot_attributes(DBClusterSnapshotIdentifier=REGION_COPY)
        assert attributes["DBClusterSnapshotAttributesResult"]["DBClusterSnapshotAttributes"][0][
            "AttributeValues"
        ] == [DR]
        # Then the DR role, in eu-central-1, sees it and copies it with its own key, like a same-Region share
        dr = _Role(twin, DR, "CopyToTargetFunction")
        (seen,) = dr.client("rds", B).describe_db_cluster_snapshots(
            DBClusterSnapshotIdentifier=copied["DBClusterSnapshotArn"]
        )["DBClusterSnapshots"]
        assert seen["KmsKeyId"] == REGION_KEY
        assert _dr_copy(dr, copied["DBClusterSnapshotArn"])["KmsKeyId"] == DR_KEY
        twin.rules.settle_all()

        # And the source role unshares and deletes the regional copy
        rds_b.modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier=REGION_COPY, AttributeName="restore", ValuesToRemove=[DR]
        )
        rds_b.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=REGION_COPY)
        assert not twin.iam.denials


def test_an_unencrypted_share_copy_goes_to_the_copy_region_without_a_key_and_nowhere_else() -> None:
    with _twin() as twin:
        source = _Role(twin, PROD, "PrepareSourceFunction")
        # Given the run's snapshot of the unencrypted legacy-reports cluster (Aurora cannot encrypt by copying)
        snapshot = "ferry-x-snap"
        source.client("rds", A).create_db_cluster_snapshot(
            DBClusterIdentifier="legacy-reports", DBClusterSnapshotIdentifier=snapshot, Tags=RUN_TAGS
        )
        twin.rules.settle_all()
        share_copy = _share_copy(twin, source, snapshot, key=None)

        # When the source role copies it into us-east-1, a Region not in CopyRegions
        with pytest.raises(ClientError) as caught:
            _region_copy(source, share_copy, region=ELSEWHERE, key=None)
        # Then RDS refuses it as IAM does, for the new snapshot there
        assert _code(caught) == "AccessDenied"
        assert "cluster-snapshot" in str(caught.value) and ELSEWHERE in str(caught.value)

        # And into eu-central-1 the same copy is made, unencrypted
        assert "KmsKeyId" not in _region_copy(source, share_copy, key=None)


def test_a_copy_into_the_copy_region_without_the_managed_tag_is_refused() -> None:
    with _twin() as twin:
        source = _Role(twin, PROD, "PrepareSourceFunction")
        share_copy = _share_copy(twin, source)
        # When the source role copies into eu-central-1 with the run's tags but not the managed one
        with pytest.raises(ClientError) as caught:
            _region_copy(source, share_copy, tags=RUN_TAGS[1:])
        # Then IAM refuses it (AccessDenied)
        assert _code(caught) == "AccessDenied"
        assert "not authorized to perform: rds:CopyDBClusterSnapshot" in str(caught.value)


@pytest.mark.parametrize(
    ("sid", "refused", "code", "names"),
    [
        (
            "CopyIntoCopyRegionsOnlyTagged",
            "copy",
            "AccessDenied",
            f"CopyDBClusterSnapshot on resource: {NEW}",
        ),
        ("TagInCopyRegionsOnlyAsManaged", "copy", "AccessDenied", f"AddTagsToResource on resource: {NEW}"),
        (
            "GrantCopyRegionShareKeysToRds",
            "copy",
            "KMSKeyNotAccessibleFault",
            f"CreateGrant on resource: {KEY}",
        ),
        (
            "DescribeCopyRegionShareKeys",
            "describe-key",
            "AccessDeniedException",
            f"DescribeKey on resource: {KEY}",
        ),
        # RDS describes the key of a new snapshot as the caller, too.
        (
            "DescribeCopyRegionShareKeys",
            "copy",
            "KMSKeyNotAccessibleFault",
            f"DescribeKey on resource: {KEY}",
        ),
        (
            "ReadSnapshotsInCopyRegions",
            "poll",
            "AccessDenied",
            f"DescribeDBClusterSnapshots on resource: {NEW}",
        ),
        (
            "ShareAndDeleteOnlyManagedSnapshotsInCopyRegions",
            "share",
            "AccessDenied",
            f"ModifyDBClusterSnapshotAttribute on resource: {NEW}",
        ),
    ],
)
def test_a_source_stack_without_one_of_the_copy_region_statements_refuses_its_call(
    sid: str, refused: str, code: str, names: str
) -> None:
    # Given the source stack deployed without one of the new statements (an older or hand-edited template)
    with _twin(_world(omit=(sid,))) as twin:
        source = _Role(twin, PROD, "PrepareSourceFunction")
        share_copy = _share_copy(twin, source)
        rds_b = source.client("rds", B)
        steps = {
            "copy": lambda: _region_copy(source, share_copy),
            "describe-key": lambda: source.client("kms", B).describe_key(KeyId=REGION_KEY),
            "poll": lambda: rds_b.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=REGION_COPY),
            "share": lambda: rds_b.modify_db_cluster_snapshot_attribute(
                DBClusterSnapshotIdentifier=REGION_COPY, AttributeName="restore", ValuesToAdd=[DR]
            ),
        }
        if refused in ("poll", "share"):
            _region_copy(source, share_copy)
            twin.rules.settle_all()
        # When the source role makes the call that statement grants / Then it is refused with AWS's code
        with pytest.raises(ClientError) as caught:
            steps[refused]()
        assert _code(caught) == code
        assert names in str(caught.value)


def test_a_regional_key_that_does_not_admit_the_target_refuses_its_copy() -> None:
    # Given the regional share key deployed for another target account, not the DR account
    with _twin(_world(region_key_targets="444444444444")) as twin:
        source = _Role(twin, PROD, "PrepareSourceFunction")
        copied = _region_copy(source, _share_copy(twin, source))
        twin.rules.settle_all()
        source.client("rds", B).modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier=REGION_COPY, AttributeName="restore", ValuesToAdd=[DR]
        )
        # When the DR role copies the shared regional copy
        with pytest.raises(ClientError) as caught:
            _dr_copy(_Role(twin, DR, "CopyToTargetFunction"), copied["DBClusterSnapshotArn"])
    # Then RDS answers that the key is not accessible, naming the regional key
    assert _code(caught) == "KMSKeyNotAccessibleFault"
    assert REGION_KEY in str(caught.value)


def test_the_copy_region_statements_hold_only_because_the_request_names_its_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ferry_cli.twin.iam import authorizer

    with _twin() as twin:
        source = _Role(twin, PROD, "PrepareSourceFunction")
        share_copy = _share_copy(twin, source)
        # Given a twin whose requests lack aws:RequestedRegion (the global condition key AWS puts in every one)
        monkeypatch.setattr(authorizer, "in_requested_region", lambda check, call: check)
        # When the source role makes the copy that succeeds above
        with pytest.raises(ClientError) as caught:
            _region_copy(source, share_copy)
        # Then the statements conditioned on the Region no longer apply: the twin needs the key to allow it
        assert _code(caught) == "AccessDenied"
        monkeypatch.undo()
        assert _region_copy(source, share_copy)["Status"] == "copying"


def test_the_target_restores_straight_from_the_shared_regional_copy() -> None:
    with _twin() as twin:
        # Given the regional copy in eu-central-1, shared with the DR account
        source = _Role(twin, PROD, "PrepareSourceFunction")
        copied = _region_copy(source, _share_copy(twin, source))
        twin.rules.settle_all()
        source.client("rds", B).modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier=REGION_COPY, AttributeName="restore", ValuesToAdd=[DR]
        )
        # When the DR role restores from it by ARN with its own key (cleanup delete: no target copy)
        restored = (
            _Role(twin, DR, "RestoreClusterFunction")
            .client("rds", B)
            .restore_db_cluster_from_snapshot(
                DBClusterIdentifier="orders-dr",
                SnapshotIdentifier=copied["DBClusterSnapshotArn"],
                Engine="aurora-postgresql",
                EngineVersion="16.4",
                KmsKeyId=DR_KEY,
                Tags=[MANAGED],
            )["DBCluster"]
        )
    # Then the target stack, given the regional key as SourceShareKeyArn, allows it: the source's snapshots and
    # key are reached in the target's own Region, as for a same-Region share
    assert restored["DBClusterArn"] == f"arn:aws:rds:{B}:{DR}:cluster:orders-dr"
    assert restored["KmsKeyId"] == DR_KEY


def test_every_request_names_the_region_it_is_made_to() -> None:
    from ferry_cli.twin.iam.actions import Call, Check, KeyFacts, _key_use
    from ferry_cli.twin.iam.authorizer import in_requested_region
    from ferry_cli.twin.iam.policy import AuthRequest

    def region_of(check: Check, call: Call) -> Any:
        return in_requested_region(check, call).request.context["aws:RequestedRegion"]

    # Given a check of an RDS call in eu-central-1, and of an IAM call made with a client of eu-west-1
    rds = Call("rds", "DescribeDBClusterSnapshots", {}, PROD, B)
    iam = Call("iam", "SimulatePrincipalPolicy", {}, PROD, A)
    check = Check(AuthRequest("rds:DescribeDBClusterSnapshots", "*"), PROD)
    # Then the RDS request is in eu-central-1, and IAM's in us-east-1, where its one endpoint is
    assert region_of(check, rds) == B
    assert region_of(check, iam) == "us-east-1"
    # And RDS's use of the source Region's share key for a copy made in eu-central-1 is a request to KMS in the
    # key's Region, which the authorizer keeps
    key = KeyFacts(SHARE_KEY, PROD, {})
    (use,) = _key_use(
        rds, key, ["kms:Decrypt"], "rds", "rds:CopyDBClusterSnapshot", "KMSKeyNotAccessibleFault"
    )
    assert region_of(use, rds) == A
