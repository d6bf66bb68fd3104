"""The twin's Aurora clone rules (ferry_cli.twin.clones) and AWS RAM rules (ferry_cli.twin.ram).

Each rule here is one moto 5.2 does not model (cross-account clone by ARN, RAM invitations, clone limits,
CrossAccountClone, CloneGroupId). Accounts are played through STS AssumeRole, as in test_twin_rules.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.clones import clone_rules
from ferry_cli.twin.kms import default_rds_key_arn
from ferry_cli.twin.lifecycle import Durations
from ferry_cli.twin.ram import RAM_PROPAGATION_SECONDS, RamRegistry
from ferry_cli.twin.rules import aws_rules
from ferry_cli.twin.world import World, WorldError, parse_world
from tests.conftest import acting_as

pytestmark = pytest.mark.twin

REGION = "eu-west-1"
OWNER = "111111111111"
IN_ORG = "222222222222"
OUTSIDE = "555555555555"
ORG = "o-twintest001"
PARTNERS = [f"6000000000{n:02d}" for n in range(16)]  # outside the organization, for the 15-clone limit


def world_with(accounts: list[dict[str, Any]]) -> World:
    return parse_world({"region": REGION, "accounts": accounts})


# The estate every test starts from: OWNER and IN_ORG share an organization, OUTSIDE and PARTNERS are in none.
ESTATE = [
    {"accountId": OWNER, "organizationId": ORG},
    {"accountId": IN_ORG, "organizationId": ORG},
    {"accountId": OUTSIDE},
    *({"accountId": partner} for partner in PARTNERS),
]


@dataclass
class CloneTwin:
    """moto with the twin's Aurora/KMS and clone/RAM rules, and builders for the resources the tests need."""

    clock: TwinClock
    registry: RamRegistry
    _sessions: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str, account: str) -> Any:
        """A boto3 client acting as ``account``."""
        if account not in self._sessions:
            self._sessions[account] = acting_as(account, REGION)
        return self._sessions[account].client(service)

    # --- time -------------------------------------------------------------------------------------------

    def settle(self) -> None:
        """Everything created so far becomes available."""
        self.clock.advance(3600)

    def propagate(self) -> None:
        """RAM has propagated every share made so far (invitations visible, organization accounts associated)."""
        self.clock.advance(RAM_PROPAGATION_SECONDS + 1)

    # --- resources ----------------------------------------------------------------------------------------

    def key(self, owner: str, grantees: list[str]) -> str:
        """A customer managed key whose policy lets ``grantees`` use it (the documented cross-account pattern)."""
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
        return str(self.client("kms", owner).create_key(Policy=policy)["KeyMetadata"]["Arn"])

    def cluster(self, cluster_id: str, *, key: str | None, account: str = OWNER, instances: int = 1) -> str:
        """A new cluster (still creating) with ``instances`` DB instances, encrypted with ``key`` if given."""
        rds = self.client("rds", account)
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

    def share(self, arn: str, principal: str, *, external: bool) -> str:
        """OWNER shares ``arn`` with ``principal`` through RAM; returns the share's ARN."""
        return str(
            self.client("ram", OWNER).create_resource_share(
                name=f"share-{principal}",
                resourceArns=[arn],
                principals=[principal],
                allowExternalPrincipals=external,
            )["resourceShare"]["resourceShareArn"]
        )

    def shared_cluster(
        self, principal: str, *, external: bool, key: str | None = None, cluster_id: str = "orders"
    ) -> tuple[str, str]:
        """An available OWNER cluster shared with ``principal``, RAM propagated; returns (cluster, share) ARNs."""
        arn = self.cluster(cluster_id, key=key)
        self.settle()
        share_arn = self.share(arn, principal, external=external)
        self.propagate()
        return arn, share_arn

    def invitations(self, account: str, **filters: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.client("ram", account).get_resource_share_invitations(**filters)[
            "resourceShareInvitations"
        ]
        return found

    def accept(self, account: str, invitation_arn: str) -> dict[str, Any]:
        accepted: dict[str, Any] = self.client("ram", account).accept_resource_share_invitation(
            resourceShareInvitationArn=invitation_arn
        )["resourceShareInvitation"]
        return accepted

    def association(self, share_arn: str, principal: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = self.client("ram", OWNER).get_resource_share_associations(
            associationType="PRINCIPAL", resourceShareArns=[share_arn], principal=principal
        )["resourceShareAssociations"]
        return found[0]

    def clone(self, account: str, source: str, clone_id: str, key: str | None = None) -> dict[str, Any]:
        """``account`` clones ``source`` (an identifier or ARN) copy-on-write, encrypting with ``key`` if given."""
        params: dict[str, Any] = {
            "SourceDBClusterIdentifier": source,
            "DBClusterIdentifier": clone_id,
            "RestoreType": "copy-on-write",
            "UseLatestRestorableTime": True,
        }
        if key:
            params["KmsKeyId"] = key
        cluster: dict[str, Any] = self.client("rds", account).restore_db_cluster_to_point_in_time(**params)[
            "DBCluster"
        ]
        return cluster

    def described(self, account: str, cluster_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.client("rds", account).describe_db_clusters(
            DBClusterIdentifier=cluster_id
        )["DBClusters"][0]
        return found


@pytest.fixture
def twin(clock: TwinClock) -> Iterator[CloneTwin]:
    with mock_aws(), aws_rules(clock, Durations()), clone_rules(clock, world_with(ESTATE)) as registry:
        yield CloneTwin(clock, registry)


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


# --------------------------------------------------------------------------------------------- world


def test_world_accounts_carry_an_optional_organization_id() -> None:
    # Given / When a world with one account in an organization and one outside is parsed
    world = world_with([{"accountId": OWNER, "organizationId": ORG}, {"accountId": OUTSIDE}])

    # Then the organization is parsed, and absent means "in no organization"
    assert [a.organization_id for a in world.accounts] == [ORG, None]


def test_a_malformed_organization_id_is_refused_naming_the_field() -> None:
    # Given / When a world whose organization id is not one / Then it is refused, naming the field
    with pytest.raises(WorldError, match=r"accounts\[0\]\.organizationId: must be an organization id"):
        world_with([{"accountId": OWNER, "organizationId": "my-org"}])


# -------------------------------------------------------------------------------- rule 1: invitations


def test_an_account_outside_the_organization_gets_an_invitation_and_sees_the_cluster_once_accepted(
    twin: CloneTwin,
) -> None:
    # Given an encrypted cluster shared with an account outside the owner's organization (allowed explicitly)
    arn = twin.cluster("orders", key=twin.key(OWNER, [OUTSIDE]))
    target_key = twin.key(OUTSIDE, [])
    twin.settle()
    share_arn = twin.share(arn, OUTSIDE, external=True)
    assert twin.invitations(OUTSIDE) == []  # nothing before RAM propagates

    # When RAM propagates
    twin.propagate()

    # Then a pending invitation appears, the association waits for it, and the ARN is "not found" until then
    [invitation] = twin.invitations(OUTSIDE, resourceShareArns=[share_arn])
    assert invitation["status"] == "PENDING"
    assert invitation["senderAccountId"] == OWNER
    assert twin.association(share_arn, OUTSIDE)["status"] == "ASSOCIATING"
    code, _ = error_of(lambda: twin.clone(OUTSIDE, arn, "orders-partner", target_key))
    assert code == "DBClusterNotFoundFault"

    # When the account accepts and clones by the full ARN with its own key
    assert twin.accept(OUTSIDE, invitation["resourceShareInvitationArn"])["status"] == "ACCEPTED"
    assert twin.association(share_arn, OUTSIDE)["status"] == "ASSOCIATED"
    clone = twin.clone(OUTSIDE, arn, "orders-partner", target_key)

    # Then the clone is a cross-account clone in the source's clone group
    described = twin.described(OUTSIDE, "orders-partner")
    owner_view = twin.described(OWNER, "orders")
    assert clone["Status"] == "creating"
    assert described["CrossAccountClone"] is True
    assert described["KmsKeyId"] == target_key
    assert described["CloneGroupId"] == owner_view["CloneGroupId"]
    assert owner_view["CrossAccountClone"] is False


def test_an_account_in_the_organization_is_associated_without_an_invitation(twin: CloneTwin) -> None:
    # Given a cluster shared with an account of the same organization, external principals not allowed
    arn = twin.cluster("orders", key=twin.key(OWNER, [IN_ORG]))
    twin.settle()
    share_arn = twin.share(arn, IN_ORG, external=False)
    assert twin.association(share_arn, IN_ORG)["status"] == "ASSOCIATING"

    # When RAM propagates
    twin.propagate()

    # Then no invitation is ever sent, and the account is associated
    assert twin.invitations(IN_ORG) == []
    assert twin.association(share_arn, IN_ORG)["status"] == "ASSOCIATED"


def test_a_share_without_external_principals_fails_for_an_account_outside_the_organization(
    twin: CloneTwin,
) -> None:
    # Given / When a share that does not allow external principals names an account outside the organization
    _, share_arn = twin.shared_cluster(OUTSIDE, external=False)

    # Then its association fails, says why, and no invitation is sent
    found = twin.association(share_arn, OUTSIDE)
    assert found["status"] == "FAILED"
    assert "does not allow external principals" in found["statusMessage"]
    assert twin.invitations(OUTSIDE) == []


def test_accepting_an_unknown_or_accepted_invitation_fails_with_the_documented_codes(twin: CloneTwin) -> None:
    # Given an invitation the account outside the organization has accepted
    twin.shared_cluster(OUTSIDE, external=True)
    [invitation] = twin.invitations(OUTSIDE)
    accepted_arn = invitation["resourceShareInvitationArn"]
    twin.accept(OUTSIDE, accepted_arn)

    # When it accepts it again, and accepts an invitation that does not exist
    again = error_of(lambda: twin.accept(OUTSIDE, accepted_arn))
    unknown = error_of(lambda: twin.accept(OUTSIDE, accepted_arn.replace(OWNER, IN_ORG)))

    # Then RAM answers with the documented error codes
    assert again[0] == "ResourceShareInvitationAlreadyAcceptedException"
    assert unknown[0] == "ResourceShareInvitationArnNotFoundException"


def test_an_invitation_left_pending_for_seven_days_expires(twin: CloneTwin) -> None:
    # Given a cluster shared with an account outside the organization
    arn = twin.cluster("orders", key=None)
    twin.settle()
    share_arn = twin.share(arn, OUTSIDE, external=True)

    # When eight days pass without an answer
    twin.clock.advance(8 * 24 * 3600)

    # Then the invitation has expired and the association failed
    [invitation] = twin.invitations(OUTSIDE)
    assert invitation["status"] == "EXPIRED"
    assert twin.association(share_arn, OUTSIDE)["status"] == "FAILED"


def test_deleting_the_share_hides_the_cluster_again(twin: CloneTwin) -> None:
    # Given a cluster shared with an account of the organization, associated
    arn, share_arn = twin.shared_cluster(IN_ORG, external=False)
    assert twin.registry.shared_with(arn, IN_ORG)

    # When the owner deletes the share
    twin.client("ram", OWNER).delete_resource_share(resourceShareArn=share_arn)

    # Then the cluster is no longer shared, and its ARN is "not found" to the account again
    assert not twin.registry.shared_with(arn, IN_ORG)
    code, _ = error_of(lambda: twin.clone(IN_ORG, arn, "orders-dev"))
    assert code == "DBClusterNotFoundFault"


# --------------------------------------------------------------------------- rule 2: no re-sharing


def test_a_cluster_shared_with_an_account_cannot_be_shared_again_by_it(twin: CloneTwin) -> None:
    # Given a cluster shared with an account of the organization
    arn, _ = twin.shared_cluster(IN_ORG, external=False)

    # When that account shares it onwards
    code, message = error_of(
        lambda: twin.client("ram", IN_ORG).create_resource_share(
            name="reshare", resourceArns=[arn], principals=[OUTSIDE], allowExternalPrincipals=True
        )
    )

    # Then RAM refuses: a resource shared with you can't be shared again
    assert code == "UnknownResourceException"
    assert "can't be shared again" in message


# --------------------------------------------------------------------------------- rule 4: limits


def test_a_cluster_without_instances_cannot_be_cloned(twin: CloneTwin) -> None:
    # Given an available cluster with no DB instance
    twin.cluster("empty", key=None, instances=0)
    twin.settle()

    # When it is cloned
    code, message = error_of(lambda: twin.clone(OWNER, "empty", "empty-clone"))

    # Then the clone is refused, saying why
    assert code == "InvalidDBClusterStateFault"
    assert "no DB instances" in message


def test_a_cluster_that_is_not_available_cannot_be_cloned(twin: CloneTwin) -> None:
    # Given a cluster still being created (the twin's clock has not moved)
    twin.cluster("fresh", key=None)

    # When it is cloned
    code, message = error_of(lambda: twin.clone(OWNER, "fresh", "fresh-clone"))

    # Then the clone is refused, naming its status
    assert code == "InvalidDBClusterStateFault"
    assert "creating" in message


def test_a_kms_key_for_an_unencrypted_source_is_refused(twin: CloneTwin) -> None:
    # Given an unencrypted available cluster
    twin.cluster("plain", key=None)
    key = twin.key(OWNER, [])
    twin.settle()

    # When it is cloned with a KmsKeyId
    code, _ = error_of(lambda: twin.clone(OWNER, "plain", "plain-clone", key))

    # Then RestoreDBClusterToPointInTime rejects the combination
    assert code == "InvalidParameterCombination"


def test_a_cross_account_clone_of_a_default_key_cluster_is_refused(twin: CloneTwin) -> None:
    # Given a cluster under OWNER's default aws/rds key, shared with an account of the organization
    target_key = twin.key(IN_ORG, [])
    arn, _ = twin.shared_cluster(IN_ORG, external=False, key=default_rds_key_arn(OWNER, REGION))

    # When that account clones it
    code, message = error_of(lambda: twin.clone(IN_ORG, arn, "billing-dev", target_key))

    # Then the clone is refused, naming the default key
    assert code == "InvalidParameterValue"
    assert "default RDS key" in message


def test_a_cross_account_clone_of_an_encrypted_cluster_needs_a_key_and_the_source_key(
    twin: CloneTwin,
) -> None:
    # Given an encrypted cluster whose key policy does not trust the target account, shared with it
    target_key = twin.key(IN_ORG, [])
    arn, _ = twin.shared_cluster(IN_ORG, external=False, key=twin.key(OWNER, []))

    # When the target clones it without a key, then with its own key
    without_key = error_of(lambda: twin.clone(IN_ORG, arn, "orders-dev"))
    with_key = error_of(lambda: twin.clone(IN_ORG, arn, "orders-dev", target_key))

    # Then the first is refused for the missing key, the second because the source key is not usable
    assert without_key[0] == "InvalidParameterCombination"
    assert with_key[0] == "KMSKeyNotAccessibleFault"
    assert f"does not allow account {IN_ORG}" in with_key[1]


def test_only_one_cross_account_clone_per_account_and_fifteen_per_clone_group(twin: CloneTwin) -> None:
    # Given an unencrypted cluster shared with 16 accounts outside the organization, all accepted
    arn = twin.cluster("orders", key=None)
    twin.settle()
    twin.client("ram", OWNER).create_resource_share(
        name="wide", resourceArns=[arn], principals=PARTNERS, allowExternalPrincipals=True
    )
    twin.propagate()
    for partner in PARTNERS:
        [invitation] = twin.invitations(partner)
        twin.accept(partner, invitation["resourceShareInvitationArn"])

    # When 15 accounts clone it
    for partner in PARTNERS[:15]:
        twin.clone(partner, arn, "orders-copy")

    # Then a second cross-account clone in one of them is refused, and so is a 16th account's
    code, message = error_of(lambda: twin.clone(PARTNERS[0], arn, "orders-copy-2"))
    assert code == "InvalidDBClusterStateFault"
    assert "only one cross-account clone" in message
    code, message = error_of(lambda: twin.clone(PARTNERS[15], arn, "orders-copy"))
    assert code == "InvalidDBClusterStateFault"
    assert "maximum is 15" in message


def test_the_sixteenth_clone_in_one_account_is_a_full_copy_outside_the_clone_group(twin: CloneTwin) -> None:
    # Given an available cluster
    twin.cluster("orders", key=None)
    twin.settle()

    # When its owner clones it 16 times
    for n in range(16):
        twin.clone(OWNER, "orders", f"orders-c{n}")

    # Then the first 15 clones share the source's clone group and the 16th is a full copy outside it
    clusters = twin.client("rds", OWNER).describe_db_clusters()["DBClusters"]
    groups = {c["DBClusterIdentifier"]: c.get("CloneGroupId") for c in clusters}
    group = groups["orders"]
    assert group
    assert [name for name, g in groups.items() if g == group and name != "orders"] == [
        f"orders-c{n}" for n in range(15)
    ]
    assert groups["orders-c15"] is None
