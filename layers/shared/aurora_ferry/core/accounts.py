"""The member accounts a run acts in, as values: how to reach one, and a target account with the cluster the run
creates there (the parts a migration's and a clone's contracts have alike).

Reaching an account (assumed-role sessions, clients) is aurora_ferry.core.access; this module imports neither
boto3 nor botocore, so that a contract can be read (``ferry validate``, ValidateInput) without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class AccountAccess:
    """How to reach one member account: the role to assume there and the region to work in."""

    account_id: str
    region: str
    role_arn: str
    external_id: str | None = None

    def to_json(self) -> dict[str, str]:
        data = {"accountId": self.account_id, "region": self.region, "roleArn": self.role_arn}
        if self.external_id:
            data["externalId"] = self.external_id
        return data

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AccountAccess:
        return cls(str(raw["accountId"]), str(raw["region"]), str(raw["roleArn"]), raw.get("externalId"))


class MasterCredentials(StrEnum):
    """Whose master user password the cluster a run creates in a target account ends with (targets[] and the
    clone's target, ``masterCredentials``; README "Master credentials")."""

    # Its own: RDS manages the password in the target account's Secrets Manager, under the target's key
    # (ModifyDBCluster ManageMasterUserPassword), so the source's password stops working there.
    OWN = "own"
    # The source's, as the restore or the clone left it (the snapshot, or the cloned volume, carries it).
    SOURCE = "source"


@dataclass(frozen=True)
class InstanceRequest:
    """One instance of an explicit list (targets[].instances): its class and, optionally, its promotion tier."""

    instance_class: str
    promotion_tier: int | None = None


class ParameterGroups(StrEnum):
    """Where the target's cluster and instances get their parameter groups from (targets[] and the clone's target,
    ``parameterGroups``; README "Parameter groups"), unless a group is named for them."""

    # The source's custom groups, recreated in the target (aurora_ferry.core.parameter_groups).
    REPLICATE = "replicate"
    # The target's default groups of the family.
    DEFAULT = "default"


# Keyword-only: a target's own fields (its key, the name of its cluster) follow these without defaults.
@dataclass(frozen=True, kw_only=True)
class ClusterTarget:
    """A target account of a run and how the cluster the run creates there is built (a migration's restore or a
    clone): what a migration target and a clone target have alike, under the contracts' names."""

    account_id: str
    role_arn: str
    external_id: str | None = None
    # Each None unless given: the instances then mirror the source's (aurora_ferry.core.instance_plan).
    instance_class: str | None = None
    instance_count: int | None = None
    instances: tuple[InstanceRequest, ...] | None = None
    db_subnet_group_name: str | None = None
    vpc_security_group_ids: tuple[str, ...] = ()
    db_cluster_parameter_group_name: str | None = None
    db_parameter_group_name: str | None = None
    parameter_groups: ParameterGroups = ParameterGroups.REPLICATE
    deletion_protection: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    master_credentials: MasterCredentials = MasterCredentials.OWN

    def access(self, region: str) -> AccountAccess:
        """How the run reaches the target: with its role, in ``region``, the source's (a run never leaves it)."""
        return AccountAccess(self.account_id, region, self.role_arn, self.external_id)
