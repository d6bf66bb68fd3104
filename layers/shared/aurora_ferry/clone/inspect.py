"""Clone step 1: read-only checks of the source cluster and the target account; every clone AWS would refuse
is refused here, before anything is changed (Describe calls only, and KMS DescribeKey to tell the default
aws/rds key apart).

AWS documentation followed:
- Cloning and its limits: https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Clone.html
- Cross-account cloning with AWS RAM, and its limits:
  https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Clone.Cross-Account.html
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from aurora_ferry.clone.contract import CloneRequest
from aurora_ferry.clone.names import REFRESH_OF_TAG, clone_identifier, source_access, target_access
from aurora_ferry.core import (
    AccountAccess,
    CloneNotAllowedError,
    Encryption,
    InvalidInputError,
    SourceConfiguration,
    SourceNotFoundError,
    TargetConflictError,
    classify_encryption,
    configuration_from_cluster,
    describe_cluster,
    encrypted_at_rest,
    naming,
    rds,
    record_json,
    source_instances,
    translated,
)

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

# "You can create up to 15 clones with copy-on-write protocol. After you have 15 clones, the next clone
# that you create is a full copy." and "You can create a maximum of 15 cross-account clones from any single
# Aurora DB cluster." The tool refuses the 16th rather than silently making a slow, full-size copy.
MAX_COPY_ON_WRITE_CLONES = 15


@dataclass(frozen=True)
class SourceFacts:
    """The source cluster as the later steps need it."""

    arn: str
    identifier: str
    engine: str
    engine_version: str
    encrypted: bool
    kms_key_id: str | None
    encryption: Encryption
    clone_group_id: str | None
    # The source's settings the clone carries (core.carry), read with the rest.
    configuration: SourceConfiguration | None = None

    def to_json(self) -> dict[str, Any]:
        data = record_json(self)
        data["configuration"] = None if self.configuration is None else self.configuration.to_json()
        return data

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SourceFacts:
        return cls(
            arn=str(raw["arn"]),
            identifier=str(raw["identifier"]),
            engine=str(raw["engine"]),
            engine_version=str(raw.get("engineVersion") or ""),
            encrypted=bool(raw["encrypted"]),
            kms_key_id=raw.get("kmsKeyId"),
            encryption=raw.get("encryption", "none"),
            clone_group_id=raw.get("cloneGroupId"),
            configuration=None
            if raw.get("configuration") is None
            else SourceConfiguration.from_json(raw["configuration"]),
        )


def inspect_clone(request: CloneRequest, run_id: str) -> dict[str, Any]:
    """Refuse, before any change, every clone AWS would refuse; return the source facts and what a refresh
    will retire.

    Makes only Describe calls (RDS, and KMS DescribeKey to tell the default aws/rds key apart).
    """
    source = source_access(request)
    target = target_access(request)
    _require_owned_by_source_account(request, source)
    source_client = rds(source)
    cluster = _cloneable_source(request, source, source_client)
    facts = _source_facts(request, source, cluster)
    target_clusters = (
        all_clusters(rds(target), target) if request.cross_account else all_clusters(source_client, source)
    )
    clone_id = clone_identifier(request, run_id)
    _require_room_in_target(request, target, target_clusters, clone_id, facts)
    retiring = _refresh_candidates(request, target, target_clusters, clone_id, facts)
    return {"source": facts.to_json(), "replaces": retiring, "retiring": bool(retiring)}


def _require_owned_by_source_account(request: CloneRequest, source: AccountAccess) -> None:
    """Refused from the input alone, before any AWS call: a cluster ARN of another account."""
    reference = request.source.cluster_identifier
    owner = request.source.cluster_owner
    if owner != source.account_id:
        # "You can't share resources (clones or Aurora DB clusters) that have been shared with your AWS
        # account." and "You can create only one new clone from a clone that's been shared with your AWS
        # account." The tool clones only clusters the acting account owns.
        raise CloneNotAllowedError.in_account(
            source,
            f"source cluster {reference} is owned by account {owner} and was shared with account "
            f"{source.account_id}; AWS doesn't let an account share a cluster shared with it, and allows one "
            f"clone of it per account. Run the clone from the owner: source.accountId {owner} and a role there",
        )


def _cloneable_source(request: CloneRequest, source: AccountAccess, client: RDSClient) -> Any:
    """The source cluster, once it is known to be one Aurora can clone from the acting account."""
    reference = request.source.cluster_identifier
    cluster = describe_cluster(client, source, reference)
    if cluster is None:
        raise SourceNotFoundError.in_account(
            source, f"source cluster {reference} not found (or not visible to {source.role_arn})"
        )
    identifier = cluster["DBClusterIdentifier"]
    status = cluster.get("Status", "unknown")
    if status != "available":
        raise CloneNotAllowedError.in_account(
            source,
            f"source cluster {identifier} is {status}; Aurora clones only an available cluster (and can't share "
            "a cluster that isn't active). Retry when it is available",
        )
    if not cluster.get("DBClusterMembers"):
        # "You can't create a clone from an Aurora DB cluster that has no DB instances."
        raise CloneNotAllowedError.in_account(
            source,
            f"source cluster {identifier} has no DB instance; Aurora clones only a cluster with at least one "
            "DB instance. Add an instance to it first",
        )
    group = cluster.get("CloneGroupId")
    if group:
        siblings = [
            c["DBClusterIdentifier"]
            for c in all_clusters(client, source)
            if c.get("CloneGroupId") == group and c["DBClusterArn"] != cluster["DBClusterArn"]
        ]
        if len(siblings) >= MAX_COPY_ON_WRITE_CLONES:
            raise CloneNotAllowedError.in_account(
                source,
                f"source cluster {identifier} already has {len(siblings)} clones in its clone group {group} "
                f"({', '.join(sorted(siblings)[:5])}{', ...' if len(siblings) > 5 else ''}); Aurora makes at most "
                f"{MAX_COPY_ON_WRITE_CLONES} copy-on-write clones (any more are full copies, or refused across "
                "accounts). Delete clones you no longer need",
            )
    return cluster


def _source_facts(request: CloneRequest, source: AccountAccess, cluster: Any) -> SourceFacts:
    """The source as the later steps need it, once its encryption allows the clone asked for."""
    identifier = cluster["DBClusterIdentifier"]
    # An AWS owned key (sse-rds) is encrypted too, with StorageEncrypted false and no key of the account.
    encrypted = encrypted_at_rest(cluster)
    kms_key_id = cluster.get("KmsKeyId") if cluster.get("StorageEncrypted") else None
    encryption = classify_encryption(
        source, bool(cluster.get("StorageEncrypted")), kms_key_id, cluster.get("StorageEncryptionType")
    )
    _check_encryption(request, identifier, encrypted, encryption, source)
    # A clone's source has instances (_cloneable_source refuses one without): a target mirrors them by default.
    instances = source_instances(rds(source), source, cluster)
    return SourceFacts(
        arn=cluster["DBClusterArn"],
        identifier=identifier,
        engine=cluster.get("Engine", "aurora-postgresql"),
        engine_version=cluster.get("EngineVersion", ""),
        encrypted=encrypted,
        kms_key_id=kms_key_id,
        encryption=encryption,
        clone_group_id=cluster.get("CloneGroupId"),
        configuration=replace(configuration_from_cluster(cluster), instances=instances),
    )


def _require_room_in_target(
    request: CloneRequest, target: AccountAccess, clusters: list[Any], clone_id: str, facts: SourceFacts
) -> None:
    """The clone's name is free in the target, and a cross-account clone is the account's first of its group."""
    if any(c["DBClusterIdentifier"] == clone_id.lower() for c in clusters):
        raise TargetConflictError.in_account(
            target, f"a cluster named {clone_id} already exists; choose another target.cloneIdentifier"
        )
    group = facts.clone_group_id
    if not (request.cross_account and group):
        return
    earlier = [
        c["DBClusterIdentifier"]
        for c in clusters
        if c.get("CrossAccountClone") and c.get("CloneGroupId") == group
    ]
    if earlier:
        # "you can only create one cross-account clone of a cluster within any AWS account" (the original
        # and its clones count as one).
        hint = (
            " A cross-account refresh can't keep the old clone while it makes the new one; delete the old "
            "clone first, or refresh within the source account"
            if request.refresh is not None
            else ""
        )
        raise CloneNotAllowedError.in_account(
            target,
            f"account {target.account_id} already has a cross-account clone of {facts.identifier} (or of its "
            f"clone group): {', '.join(sorted(earlier))}; AWS allows one cross-account clone of a cluster per "
            f"account.{hint}",
        )


def _check_encryption(
    request: CloneRequest, identifier: str, encrypted: bool, encryption: Encryption, source: AccountAccess
) -> None:
    key = request.target.kms_key_arn
    if encryption == "aws-owned-key":
        _check_aws_owned_key(request, identifier, source)
        return
    if not encrypted and key:
        # RestoreDBClusterToPointInTime: "If DBClusterIdentifier refers to a DB cluster that isn't encrypted,
        # then the restore request is rejected." (when KmsKeyId is given)
        raise CloneNotAllowedError.in_account(
            source,
            f"target.kmsKeyArn is set but source cluster {identifier} is not encrypted; AWS rejects a clone of "
            "an unencrypted cluster with a KMS key. Leave target.kmsKeyArn out",
        )
    if not request.cross_account or not encrypted:
        return
    if encryption == "default-key":
        # "You can't create a cross-account clone of a cluster that is encrypted with the default RDS key."
        raise CloneNotAllowedError.in_account(
            source,
            f"source cluster {identifier} is encrypted with the default aws/rds key of account "
            f"{source.account_id}; AWS can't clone it into another account. Clone it within the account, or "
            "recreate it under a customer-managed key (snapshot, copy with a CMK, restore) and clone that",
        )
    if not key:
        # "You can't create nonencrypted clones in one AWS account from encrypted Aurora DB clusters that
        # have been shared by another AWS account."
        raise InvalidInputError(
            [
                f"target.kmsKeyArn: required: source cluster {identifier} is encrypted and the clone is in "
                f"another account ({request.target.account_id}); give the target's own key ARN"
            ]
        )


def _check_aws_owned_key(request: CloneRequest, identifier: str, source: AccountAccess) -> None:
    """A source under an AWS owned key (StorageEncryptionType sse-rds) is cloned only within its account, under
    that key. The Aurora User Guide is silent on both (its cross-account limits name the default RDS key only,
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Clone.Cross-Account.html, and
    RestoreDBClusterToPointInTime's KmsKeyId does not say whether a clone may leave an AWS owned key); the run
    refuses rather than find out halfway, as an AWS owned key can't be granted to another account the way a
    cross-account clone needs the source's key to be."""
    if request.cross_account:
        raise CloneNotAllowedError.in_account(
            source,
            f"target.accountId: source cluster {identifier} is encrypted with an AWS owned key "
            f"(StorageEncryptionType sse-rds), which can't be granted to account {request.target.account_id}, so "
            "it can't be cloned there. Clone it within its account, or migrate it (the migration copies its "
            "snapshot under the share key)",
        )
    if request.target.kms_key_arn:
        raise CloneNotAllowedError.in_account(
            source,
            f"target.kmsKeyArn: source cluster {identifier} is encrypted with an AWS owned key (sse-rds); a "
            "clone in its own account stays under that key. Leave target.kmsKeyArn out",
        )


def _refresh_candidates(
    request: CloneRequest,
    target: AccountAccess,
    clusters: list[Any],
    clone_id: str,
    facts: SourceFacts,
) -> list[dict[str, str]]:
    """The dev cluster(s) a refresh replaces: the cluster named refresh.replaces and earlier refresh clones
    tagged aurora-ferry:refresh-of=<replaces>. Each must carry aurora-ferry:managed=true and have no
    deletion protection, else the refresh is refused now rather than failing after the new clone exists."""
    if request.refresh is None:
        return []
    replaces = request.refresh.replaces.lower()
    found: list[dict[str, str]] = []
    for cluster in clusters:
        tags = naming.tags_of(cluster)
        identifier = cluster["DBClusterIdentifier"]
        if identifier != replaces and tags.get(REFRESH_OF_TAG, "").lower() != replaces:
            continue
        if identifier == clone_id.lower():
            continue
        if cluster["DBClusterArn"] == facts.arn:
            raise CloneNotAllowedError.in_account(
                target,
                f"refresh.replaces {request.refresh.replaces} matches the source cluster {identifier}; "
                "a refresh deletes what it replaces",
            )
        if tags.get(naming.MANAGED_TAG) != "true":
            raise CloneNotAllowedError.in_account(
                target,
                f"refresh.replaces: cluster {identifier} was not made by aurora-ferry (no "
                f"{naming.MANAGED_TAG}=true tag); the refresh only ever deletes clusters this tool made. "
                "Rename or delete it yourself, or choose another refresh.replaces",
            )
        if cluster.get("DeletionProtection"):
            raise CloneNotAllowedError.in_account(
                target,
                f"refresh.replaces: cluster {identifier} has deletion protection on, so the refresh could not "
                "remove it; turn it off (the tool does not change it for you) or choose another "
                "refresh.replaces",
            )
        found.append({"identifier": identifier, "arn": cluster["DBClusterArn"]})
    return sorted(found, key=lambda c: c["identifier"])


def all_clusters(client: RDSClient, access: AccountAccess) -> list[Any]:
    found: list[Any] = []
    with translated(access, "list clusters"):
        for page in client.get_paginator("describe_db_clusters").paginate():
            found.extend(page.get("DBClusters", []))
    return found
