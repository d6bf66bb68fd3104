"""The twin's Aurora clone and AWS RAM rules (ferry_cli.twin.clones).

Each rule here is one moto 5.2 does not model (cross-account clone by ARN, RAM invitations, clone limits,
CrossAccountClone, CloneGroupId). Accounts are played through STS AssumeRole, as in test_twin_rules.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.clones import RAM_PROPAGATION_SECONDS, CloneRegistry, clone_rules
from ferry_cli.twin.rules import Durations, aws_rules, default_rds_key_arn
from ferry_cli.twin.world import World, WorldError, parse_world

pytestmark = pytest.mark.twin

REGION = "eu-west-1"
OWNER = "111111111111"
IN_ORG = "222222222222"
OUTSIDE = "555555555555"
ORG = "o-twintest001"
PARTNERS = [f"6000000000{n:02d}" for n in range(16)]  # outside the organization, for the 15-clone limit

Clients = Callable[..., Any]


def world_with(accounts: list[dict[str, Any]]) -> World:
    return parse_world({"region": REGION, "accounts": accounts})


@pytest.fixture
def clock() -> TwinClock:
    # Speed 1: twin time barely moves while a test runs; tests jump with advance().
    return TwinClock(speed=1.0)


@pytest.fixture
def aws(clock: TwinClock) -> Iterator[tuple[Clients, CloneRegistry]]:
    """moto with the twin's Aurora/KMS rules and clone/RAM rules; client(service, account) acts as account."""
    world = world_with(
        [
            {"accountId": OWNER, "organizationId": ORG},
            {"accountId": IN_ORG, "organizationId": ORG},
            {"accountId": OUTSIDE},
            *({"accountId": partner} for partner in PARTNERS),
        ]
    )
    with mock_aws(), aws_rules(clock, Durations()), clone_rules(clock, world) as registry:
        sts = boto3.client("sts", region_name=REGION)
        sessions: dict[str, Any] = {}

        def client(service: str, account: str) -> Any:
            if account not in sessions:
                creds = sts.assume_role(
                    RoleArn=f"arn:aws:iam::{account}:role/twin-test", RoleSessionName="twin-test"
                )["Credentials"]
                sessions[account] = boto3.Session(
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                )
            return sessions[account].client(service, region_name=REGION)

        yield client, registry


def shared_key(client: Clients, owner: str, grantees: list[str]) -> str:
    """A customer-managed key whose policy lets ``grantees`` use it (the documented cross-account pattern)."""
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{owner}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if grantees:
        statements.append(
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{g}:root" for g in grantees]},
                "Action": [
                    "kms:CreateGrant",
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                ],
                "Resource": "*",
            }
        )
    policy = json.dumps({"Version": "2012-10-17", "Statement": statements})
    return str(client("kms", owner).create_key(Policy=policy)["KeyMetadata"]["Arn"])


def source_cluster(
    client: Clients, account: str, cluster_id: str, *, key: str | None, instances: int = 1
) -> str:
    rds = client("rds", account)
    kwargs: dict[str, Any] = {"StorageEncrypted": key is not None}
    if key:
        kwargs["KmsKeyId"] = key
    arn = rds.create_db_cluster(
        DBClusterIdentifier=cluster_id,
        Engine="aurora-postgresql",
        MasterUsername="ferry",
        MasterUserPassword="correct-horse-battery",
        **kwargs,
    )["DBCluster"]["DBClusterArn"]
    for n in range(instances):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{cluster_id}-{n + 1}",
            DBClusterIdentifier=cluster_id,
            DBInstanceClass="db.r6g.large",
            Engine="aurora-postgresql",
        )
    return str(arn)


@pytest.fixture
def settled(aws: tuple[Clients, CloneRegistry], clock: TwinClock) -> Callable[[], None]:
    def settle() -> None:
        clock.advance(3600)

    return settle


def share(client: Clients, arn: str, principal: str, *, external: bool) -> str:
    return str(
        client("ram", OWNER).create_resource_share(
            name=f"share-{principal}",
            resourceArns=[arn],
            principals=[principal],
            allowExternalPrincipals=external,
        )["resourceShare"]["resourceShareArn"]
    )


def association(client: Clients, share_arn: str, principal: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = client("ram", OWNER).get_resource_share_associations(
        associationType="PRINCIPAL", resourceShareArns=[share_arn], principal=principal
    )["resourceShareAssociations"]
    return found[0]


def clone_by_arn(client: Clients, account: str, arn: str, clone_id: str, key: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "SourceDBClusterIdentifier": arn,
        "DBClusterIdentifier": clone_id,
        "RestoreType": "copy-on-write",
        "UseLatestRestorableTime": True,
    }
    if key:
        params["KmsKeyId"] = key
    cluster: dict[str, Any] = client("rds", account).restore_db_cluster_to_point_in_time(**params)[
        "DBCluster"
    ]
    return cluster


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


# --------------------------------------------------------------------------------------------- world


def test_world_accounts_carry_an_optional_organization_id() -> None:
    # Given a world with one account in an organization and one outside
    world = world_with([{"accountId": OWNER, "organizationId": ORG}, {"accountId": OUTSIDE}])
    # Then the organization is parsed, and absent means "in no organization"
    assert [a.organization_id for a in world.accounts] == [ORG, None]


def test_a_malformed_organization_id_is_refused_naming_the_field() -> None:
    with pytest.raises(WorldError, match=r"accounts\[0\]\.organizationId: must be an organization id"):
        world_with([{"accountId": OWNER, "organizationId": "my-org"}])


# -------------------------------------------------------------------------------- rule 1: invitations


def test_an_account_outside_the_organization_gets_an_invitation_and_sees_the_cluster_once_accepted(
    aws: tuple[Clients, CloneRegistry], clock: TwinClock, settled: Callable[[], None]
) -> None:
    client, _ = aws
    # Given an encrypted cluster shared with an account outside the owner's organization (allowed explicitly)
    key = shared_key(client, OWNER, [OUTSIDE])
    arn = source_cluster(client, OWNER, "orders", key=key)
    target_key = shared_key(client, OUTSIDE, [])
    settled()
    share_arn = share(client, arn, OUTSIDE, external=True)
    ram = client("ram", OUTSIDE)
    # Then the invitation appears only after RAM propagated, pending; the association waits for it
    assert ram.get_resource_share_invitations()["resourceShareInvitations"] == []
    clock.advance(RAM_PROPAGATION_SECONDS + 1)
    [invitation] = ram.get_resource_share_invitations(resourceShareArns=[share_arn])[
        "resourceShareInvitations"
    ]
    assert invitation["status"] == "PENDING"
    assert invitation["senderAccountId"] == OWNER
    assert association(client, share_arn, OUTSIDE)["status"] == "ASSOCIATING"
    # And the cluster ARN is "not found" to the target until it accepts
    code, _ = error_of(lambda: clone_by_arn(client, OUTSIDE, arn, "orders-partner", target_key))
    assert code == "DBClusterNotFoundFault"
    accepted = ram.accept_resource_share_invitation(
        resourceShareInvitationArn=invitation["resourceShareInvitationArn"]
    )
    assert accepted["resourceShareInvitation"]["status"] == "ACCEPTED"
    assert association(client, share_arn, OUTSIDE)["status"] == "ASSOCIATED"
    # When it clones by the full ARN with its own key
    clone = clone_by_arn(client, OUTSIDE, arn, "orders-partner", target_key)
    # Then the clone is a cross-account clone in the source's clone group
    described = client("rds", OUTSIDE).describe_db_clusters(DBClusterIdentifier="orders-partner")[
        "DBClusters"
    ][0]
    owner_view = client("rds", OWNER).describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
    assert clone["Status"] == "creating"
    assert described["CrossAccountClone"] is True
    assert described["KmsKeyId"] == target_key
    assert described["CloneGroupId"] == owner_view["CloneGroupId"]
    assert owner_view["CrossAccountClone"] is False


def test_an_account_in_the_organization_is_associated_without_an_invitation(
    aws: tuple[Clients, CloneRegistry], clock: TwinClock, settled: Callable[[], None]
) -> None:
    client, _ = aws
    # Given a cluster shared with an account of the same organization, external principals not allowed
    arn = source_cluster(client, OWNER, "orders", key=shared_key(client, OWNER, [IN_ORG]))
    settled()
    share_arn = share(client, arn, IN_ORG, external=False)
    # Then no invitation is ever sent, and the account is associated once RAM has propagated
    assert association(client, share_arn, IN_ORG)["status"] == "ASSOCIATING"
    clock.advance(RAM_PROPAGATION_SECONDS + 1)
    assert client("ram", IN_ORG).get_resource_share_invitations()["resourceShareInvitations"] == []
    assert association(client, share_arn, IN_ORG)["status"] == "ASSOCIATED"


def test_a_share_without_external_principals_fails_for_an_account_outside_the_organization(
    aws: tuple[Clients, CloneRegistry], settled: Callable[[], None]
) -> None:
    client, _ = aws
    # Given a share that does not allow external principals, naming an account outside the organization
    arn = source_cluster(client, OWNER, "orders", key=None)
    settled()
    share_arn = share(client, arn, OUTSIDE, external=False)
    # Then its association fails, says why, and no invitation is sent
    found = association(client, share_arn, OUTSIDE)
    assert found["status"] == "FAILED"
    assert "does not allow external principals" in found["statusMessage"]
    assert client("ram", OUTSIDE).get_resource_share_invitations()["resourceShareInvitations"] == []


def test_accepting_an_unknown_or_accepted_invitation_fails_with_the_documented_codes(
    aws: tuple[Clients, CloneRegistry], clock: TwinClock, settled: Callable[[], None]
) -> None:
    client, _ = aws
    arn = source_cluster(client, OWNER, "orders", key=None)
    settled()
    share(client, arn, OUTSIDE, external=True)
    clock.advance(RAM_PROPAGATION_SECONDS + 1)
    ram = client("ram", OUTSIDE)
    [invitation] = ram.get_resource_share_invitations()["resourceShareInvitations"]
    ram.accept_resource_share_invitation(resourceShareInvitationArn=invitation["resourceShareInvitationArn"])
    code, _ = error_of(
        lambda: ram.accept_resource_share_invitation(
            resourceShareInvitationArn=invitation["resourceShareInvitationArn"]
        )
    )
    assert code == "ResourceShareInvitationAlreadyAcceptedException"
    code, _ = error_of(
        lambda: ram.accept_resource_share_invitation(
            resourceShareInvitationArn=invitation["resourceShareInvitationArn"].replace(OWNER, IN_ORG)
        )
    )
    assert code == "ResourceShareInvitationArnNotFoundException"


def test_an_invitation_left_pending_for_seven_days_expires(
    aws: tuple[Clients, CloneRegistry], clock: TwinClock, settled: Callable[[], None]
) -> None:
    client, _ = aws
    arn = source_cluster(client, OWNER, "orders", key=None)
    settled()
    share_arn = share(client, arn, OUTSIDE, external=True)
    clock.advance(8 * 24 * 3600)
    [invitation] = client("ram", OUTSIDE).get_resource_share_invitations()["resourceShareInvitations"]
    assert invitation["status"] == "EXPIRED"
    assert association(client, share_arn, OUTSIDE)["status"] == "FAILED"


def test_deleting_the_share_hides_the_cluster_again(
    aws: tuple[Clients, CloneRegistry], clock: TwinClock, settled: Callable[[], None]
) -> None:
    client, registry = aws
    arn = source_cluster(client, OWNER, "orders", key=None)
    settled()
    share_arn = share(client, arn, IN_ORG, external=False)
    clock.advance(RAM_PROPAGATION_SECONDS + 1)
    assert registry.shared_with(arn, IN_ORG)
    client("ram", OWNER).delete_resource_share(resourceShareArn=share_arn)
    assert not registry.shared_with(arn, IN_ORG)
    code, _ = error_of(lambda: clone_by_arn(client, IN_ORG, arn, "orders-dev", None))
    assert code == "DBClusterNotFoundFault"


# --------------------------------------------------------------------------- rule 2: no re-sharing


def test_a_cluster_shared_with_an_account_cannot_be_shared_again_by_it(
    aws: tuple[Clients, CloneRegistry], clock: TwinClock, settled: Callable[[], None]
) -> None:
    client, _ = aws
    arn = source_cluster(client, OWNER, "orders", key=None)
    settled()
    share(client, arn, IN_ORG, external=False)
    clock.advance(RAM_PROPAGATION_SECONDS + 1)
    code, message = error_of(
        lambda: client("ram", IN_ORG).create_resource_share(
            name="reshare", resourceArns=[arn], principals=[OUTSIDE], allowExternalPrincipals=True
        )
    )
    assert code == "UnknownResourceException"
    assert "can't be shared again" in message


# --------------------------------------------------------------------------------- rule 4: limits


def test_a_cluster_without_instances_cannot_be_cloned(
    aws: tuple[Clients, CloneRegistry], settled: Callable[[], None]
) -> None:
    client, _ = aws
    source_cluster(client, OWNER, "empty", key=None, instances=0)
    settled()
    code, message = error_of(lambda: clone_by_arn(client, OWNER, "empty", "empty-clone", None))
    assert code == "InvalidDBClusterStateFault"
    assert "no DB instances" in message


def test_a_cluster_that_is_not_available_cannot_be_cloned(aws: tuple[Clients, CloneRegistry]) -> None:
    client, _ = aws
    # Given a cluster still being created (the twin's clock has not moved)
    source_cluster(client, OWNER, "fresh", key=None)
    code, message = error_of(lambda: clone_by_arn(client, OWNER, "fresh", "fresh-clone", None))
    assert code == "InvalidDBClusterStateFault"
    assert "creating" in message


def test_a_kms_key_for_an_unencrypted_source_is_refused(
    aws: tuple[Clients, CloneRegistry], settled: Callable[[], None]
) -> None:
    client, _ = aws
    source_cluster(client, OWNER, "plain", key=None)
    key = shared_key(client, OWNER, [])
    settled()
    code, _ = error_of(lambda: clone_by_arn(client, OWNER, "plain", "plain-clone", key))
    assert code == "InvalidParameterCombination"


def test_a_cross_account_clone_of_a_default_key_cluster_is_refused(
    aws: tuple[Clients, CloneRegistry], clock: TwinClock, settled: Callable[[], None]
) -> None:
    client, _ = aws
    arn = source_cluster(client, OWNER, "billing", key=default_rds_key_arn(OWNER, REGION))
    target_key = shared_key(client, IN_ORG, [])
    settled()
    share(client, arn, IN_ORG, external=False)
    clock.advance(RAM_PROPAGATION_SECONDS + 1)
    code, message = error_of(lambda: clone_by_arn(client, IN_ORG, arn, "billing-dev", target_key))
    assert code == "InvalidParameterValue"
    assert "default RDS key" in message


def test_a_cross_account_clone_of_an_encrypted_cluster_needs_a_key_and_the_source_key(
    aws: tuple[Clients, CloneRegistry], clock: TwinClock, settled: Callable[[], None]
) -> None:
    client, _ = aws
    # Given an encrypted cluster whose key policy does not trust the target account
    arn = source_cluster(client, OWNER, "orders", key=shared_key(client, OWNER, []))
    target_key = shared_key(client, IN_ORG, [])
    settled()
    share(client, arn, IN_ORG, external=False)
    clock.advance(RAM_PROPAGATION_SECONDS + 1)
    # Then a clone without a key is refused, and with a key the source key is not usable
    code, _ = error_of(lambda: clone_by_arn(client, IN_ORG, arn, "orders-dev", None))
    assert code == "InvalidParameterCombination"
    code, message = error_of(lambda: clone_by_arn(client, IN_ORG, arn, "orders-dev", target_key))
    assert code == "KMSKeyNotAccessibleFault"
    assert "does not allow account 222222222222" in message


def test_only_one_cross_account_clone_per_account_and_fifteen_per_clone_group(
    aws: tuple[Clients, CloneRegistry], clock: TwinClock, settled: Callable[[], None]
) -> None:
    client, _ = aws
    # Given an unencrypted cluster shared with 16 accounts outside the organization, all accepted
    arn = source_cluster(client, OWNER, "orders", key=None)
    settled()
    client("ram", OWNER).create_resource_share(
        name="wide", resourceArns=[arn], principals=PARTNERS, allowExternalPrincipals=True
    )
    clock.advance(RAM_PROPAGATION_SECONDS + 1)
    for partner in PARTNERS:
        ram = client("ram", partner)
        [invitation] = ram.get_resource_share_invitations()["resourceShareInvitations"]
        ram.accept_resource_share_invitation(
            resourceShareInvitationArn=invitation["resourceShareInvitationArn"]
        )
    # When 15 accounts clone it
    for partner in PARTNERS[:15]:
        clone_by_arn(client, partner, arn, "orders-copy", None)
    # Then a second cross-account clone in one of them is refused, and so is a 16th account's
    code, message = error_of(lambda: clone_by_arn(client, PARTNERS[0], arn, "orders-copy-2", None))
    assert code == "InvalidDBClusterStateFault"
    assert "only one cross-account clone" in message
    code, message = error_of(lambda: clone_by_arn(client, PARTNERS[15], arn, "orders-copy", None))
    assert code == "InvalidDBClusterStateFault"
    assert "maximum is 15" in message


def test_the_sixteenth_clone_in_one_account_is_a_full_copy_outside_the_clone_group(
    aws: tuple[Clients, CloneRegistry], settled: Callable[[], None]
) -> None:
    client, _ = aws
    source_cluster(client, OWNER, "orders", key=None)
    settled()
    rds = client("rds", OWNER)
    for n in range(16):
        clone_by_arn(client, OWNER, "orders", f"orders-c{n}", None)
    groups = {
        c["DBClusterIdentifier"]: c.get("CloneGroupId") for c in rds.describe_db_clusters()["DBClusters"]
    }
    group = groups["orders"]
    assert group
    assert [name for name, g in groups.items() if g == group and name != "orders"] == [
        f"orders-c{n}" for n in range(15)
    ]
    assert groups["orders-c15"] is None
