"""Aurora copy-on-write clones as plain steps: same account, cross-account through AWS RAM, dev refresh.

The clone workflow's handlers (functions/*/, template.yaml) only parse their event and call one of these.
As in the migration, every step is safe to run twice: names are derived from the run id, and an "already
exists" answer for something carrying this run's tags counts as done. Nothing here modifies the source
cluster; the only thing ever deleted is, for a refresh, an older dev cluster that carries
aurora-ferry:managed=true, and the RAM share the run itself created.

AWS documentation followed:
- Cloning and its limits: https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Clone.html
- Cross-account cloning with AWS RAM, and its limits:
  https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Clone.Cross-Account.html
- https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBClusterToPointInTime.html
- https://docs.aws.amazon.com/ram/latest/APIReference/API_GetResourceShareInvitations.html
- https://docs.aws.amazon.com/ram/latest/APIReference/API_AcceptResourceShareInvitation.html
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config
from botocore.exceptions import ClientError

from aurora_ferry import naming
from aurora_ferry.aws import AccountAccess, error_code, error_message, rds, session_for, translated
from aurora_ferry.clone_contract import CloneRequest
from aurora_ferry.errors import (
    CloneNotAllowedError,
    CloneVerificationError,
    InvalidInputError,
    ResourceFailedError,
    SourceNotFoundError,
    TargetConflictError,
)
from aurora_ferry.migration import PollResult
from aurora_ferry.observability import logger, metrics
from aurora_ferry.snapshots import Encryption, classify_encryption

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

# "You can create up to 15 clones with copy-on-write protocol. After you have 15 clones, the next clone
# that you create is a full copy." and "You can create a maximum of 15 cross-account clones from any single
# Aurora DB cluster." The tool refuses the 16th rather than silently making a slow, full-size copy.
MAX_COPY_ON_WRITE_CLONES = 15

REFRESH_OF_TAG = "aurora-ferry:refresh-of"
# Same retry behaviour as the run's other clients (aurora_ferry.aws).
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="aurora-ferry")
_SHORT_ID = 8


# --- who acts where, and names ------------------------------------------------------------------------


def source_access(request: CloneRequest) -> AccountAccess:
    source = request.source
    return AccountAccess(source.account_id, source.region, source.role_arn, source.external_id)


def target_access(request: CloneRequest) -> AccountAccess:
    target = request.target
    return AccountAccess(target.account_id, request.source.region, target.role_arn, target.external_id)


def short_run_id(run_id: str) -> str:
    """8 hex characters of the run id's hash: a refresh clone's suffix, unique per run."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:_SHORT_ID]


def clone_identifier(request: CloneRequest, run_id: str) -> str:
    """The clone's cluster id: target.cloneIdentifier, or "<refresh.replaces>-<short run id>" for a refresh."""
    if request.refresh is not None:
        return f"{request.refresh.replaces}-{short_run_id(run_id)}"
    assert request.target.clone_identifier is not None  # the contract requires one without refresh
    return request.target.clone_identifier


def share_name(run_id: str) -> str:
    return f"aurora-ferry-{run_id}"


def clone_tags(request: CloneRequest, run_id: str, purpose: str) -> list[dict[str, str]]:
    extra = dict(request.target.tags)
    if request.refresh is not None:
        extra[REFRESH_OF_TAG] = request.refresh.replaces
    return naming.tags_for(run_id, purpose, extra)


def plan(request: CloneRequest, run_id: str) -> dict[str, Any]:
    """What the state machine branches on: the clone's id, whether it crosses accounts, the share's name."""
    return {
        "cloneIdentifier": clone_identifier(request, run_id),
        "crossAccount": request.cross_account,
        "shareName": share_name(run_id),
    }


def ram(access: AccountAccess) -> Any:
    """An AWS RAM client acting in the member account (typed loosely: no RAM stubs are installed)."""
    return session_for(access).client("ram", config=_CLIENT_CONFIG)


def _where(access: AccountAccess) -> dict[str, str]:
    return {"account_id": access.account_id, "region": access.region}


# --- step 1: read-only checks; every refusal happens here, before anything is changed ---------------------


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

    def to_json(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "identifier": self.identifier,
            "engine": self.engine,
            "engineVersion": self.engine_version,
            "encrypted": self.encrypted,
            "kmsKeyId": self.kms_key_id,
            "encryption": self.encryption,
            "cloneGroupId": self.clone_group_id,
        }

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
        )


def inspect_clone(request: CloneRequest, run_id: str) -> dict[str, Any]:
    """Refuse, before any change, every clone AWS would refuse; return the source facts and what a refresh
    will retire.

    Makes only Describe calls (RDS, and KMS DescribeKey to tell the default aws/rds key apart).
    """
    source = source_access(request)
    target = target_access(request)
    reference = request.source.cluster_identifier
    owner = request.source.cluster_owner
    if owner != source.account_id:
        # "You can't share resources (clones or Aurora DB clusters) that have been shared with your AWS
        # account." and "You can create only one new clone from a clone that's been shared with your AWS
        # account." The tool clones only clusters the acting account owns.
        raise CloneNotAllowedError(
            f"source cluster {reference} is owned by account {owner} and was shared with account "
            f"{source.account_id}; AWS doesn't let an account share a cluster shared with it, and allows one "
            f"clone of it per account. Run the clone from the owner: source.accountId {owner} and a role there",
            **_where(source),
        )
    source_client = rds(source)
    cluster = _describe_cluster(source_client, source, reference)
    if cluster is None:
        raise SourceNotFoundError(
            f"source cluster {reference} not found (or not visible to {source.role_arn})", **_where(source)
        )
    identifier = cluster["DBClusterIdentifier"]
    status = cluster.get("Status", "unknown")
    if status != "available":
        raise CloneNotAllowedError(
            f"source cluster {identifier} is {status}; Aurora clones only an available cluster (and can't share "
            "a cluster that isn't active). Retry when it is available",
            **_where(source),
        )
    if not cluster.get("DBClusterMembers"):
        # "You can't create a clone from an Aurora DB cluster that has no DB instances."
        raise CloneNotAllowedError(
            f"source cluster {identifier} has no DB instance; Aurora clones only a cluster with at least one "
            "DB instance. Add an instance to it first",
            **_where(source),
        )
    group = cluster.get("CloneGroupId")
    if group:
        siblings = [
            c["DBClusterIdentifier"]
            for c in _all_clusters(source_client, source)
            if c.get("CloneGroupId") == group and c["DBClusterArn"] != cluster["DBClusterArn"]
        ]
        if len(siblings) >= MAX_COPY_ON_WRITE_CLONES:
            raise CloneNotAllowedError(
                f"source cluster {identifier} already has {len(siblings)} clones in its clone group {group} "
                f"({', '.join(sorted(siblings)[:5])}{', ...' if len(siblings) > 5 else ''}); Aurora makes at most "
                f"{MAX_COPY_ON_WRITE_CLONES} copy-on-write clones (any more are full copies, or refused across "
                "accounts). Delete clones you no longer need",
                **_where(source),
            )
    encrypted = bool(cluster.get("StorageEncrypted"))
    kms_key_id = cluster.get("KmsKeyId")
    encryption = classify_encryption(source, encrypted, kms_key_id)
    _check_encryption(request, identifier, encrypted, encryption, source)
    facts = SourceFacts(
        arn=cluster["DBClusterArn"],
        identifier=identifier,
        engine=cluster.get("Engine", "aurora-postgresql"),
        engine_version=cluster.get("EngineVersion", ""),
        encrypted=encrypted,
        kms_key_id=kms_key_id,
        encryption=encryption,
        clone_group_id=group,
    )
    target_clusters = (
        _all_clusters(rds(target), target) if request.cross_account else _all_clusters(source_client, source)
    )
    clone_id = clone_identifier(request, run_id)
    if any(c["DBClusterIdentifier"] == clone_id.lower() for c in target_clusters):
        raise TargetConflictError(
            f"a cluster named {clone_id} already exists; choose another target.cloneIdentifier",
            **_where(target),
        )
    if request.cross_account and group:
        earlier = [
            c["DBClusterIdentifier"]
            for c in target_clusters
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
            raise CloneNotAllowedError(
                f"account {target.account_id} already has a cross-account clone of {identifier} (or of its clone "
                f"group): {', '.join(sorted(earlier))}; AWS allows one cross-account clone of a cluster per "
                f"account.{hint}",
                **_where(target),
            )
    retiring = _refresh_candidates(request, target, target_clusters, clone_id, facts)
    return {"source": facts.to_json(), "replaces": retiring, "retiring": bool(retiring)}


def _check_encryption(
    request: CloneRequest, identifier: str, encrypted: bool, encryption: Encryption, source: AccountAccess
) -> None:
    key = request.target.kms_key_arn
    if not encrypted and key:
        # RestoreDBClusterToPointInTime: "If DBClusterIdentifier refers to a DB cluster that isn't encrypted,
        # then the restore request is rejected." (when KmsKeyId is given)
        raise CloneNotAllowedError(
            f"target.kmsKeyArn is set but source cluster {identifier} is not encrypted; AWS rejects a clone of "
            "an unencrypted cluster with a KMS key. Leave target.kmsKeyArn out",
            **_where(source),
        )
    if not request.cross_account or not encrypted:
        return
    if encryption == "default-key":
        # "You can't create a cross-account clone of a cluster that is encrypted with the default RDS key."
        raise CloneNotAllowedError(
            f"source cluster {identifier} is encrypted with the default aws/rds key of account "
            f"{source.account_id}; AWS can't clone it into another account. Clone it within the account, or "
            "recreate it under a customer-managed key (snapshot, copy with a CMK, restore) and clone that",
            **_where(source),
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
        tags = {t["Key"]: t["Value"] for t in cluster.get("TagList", [])}
        identifier = cluster["DBClusterIdentifier"]
        if identifier != replaces and tags.get(REFRESH_OF_TAG, "").lower() != replaces:
            continue
        if identifier == clone_id.lower():
            continue
        if cluster["DBClusterArn"] == facts.arn:
            raise CloneNotAllowedError(
                f"refresh.replaces {request.refresh.replaces} matches the source cluster {identifier}; "
                "a refresh deletes what it replaces",
                **_where(target),
            )
        if tags.get(naming.MANAGED_TAG) != "true":
            raise CloneNotAllowedError(
                f"refresh.replaces: cluster {identifier} was not made by aurora-ferry (no "
                f"{naming.MANAGED_TAG}=true tag); the refresh only ever deletes clusters this tool made. "
                "Rename or delete it yourself, or choose another refresh.replaces",
                **_where(target),
            )
        if cluster.get("DeletionProtection"):
            raise CloneNotAllowedError(
                f"refresh.replaces: cluster {identifier} has deletion protection on, so the refresh could not "
                "remove it; turn it off (the tool does not change it for you) or choose another "
                "refresh.replaces",
                **_where(target),
            )
        found.append({"identifier": identifier, "arn": cluster["DBClusterArn"]})
    return sorted(found, key=lambda c: c["identifier"])


def _describe_cluster(client: RDSClient, access: AccountAccess, reference: str) -> Any:
    with translated(access, f"describe cluster {reference}"):
        try:
            clusters = client.describe_db_clusters(DBClusterIdentifier=reference)["DBClusters"]
        except ClientError as error:
            if error_code(error) == "DBClusterNotFoundFault":
                return None
            raise
    return clusters[0] if clusters else None


def _all_clusters(client: RDSClient, access: AccountAccess) -> list[Any]:
    found: list[Any] = []
    with translated(access, "list clusters"):
        for page in client.get_paginator("describe_db_clusters").paginate():
            found.extend(page.get("DBClusters", []))
    return found


# --- step 2 (cross-account): the owner shares the cluster through AWS RAM ----------------------------------


def share_source_cluster(request: CloneRequest, run_id: str, source_arn: str) -> dict[str, Any]:
    """Create (or find, on a retry) this run's resource share naming only the target account.

    Principals outside the owner's organization are allowed only when sharing.allowExternalPrincipals says so.
    """
    access = source_access(request)
    client = ram(access)
    name = share_name(run_id)
    existing = _own_share(client, access, name, run_id)
    if existing is not None:
        return _share_json(existing, request)
    tags = [{"key": t["Key"], "value": t["Value"]} for t in naming.tags_for(run_id, "clone-share")]
    with translated(access, f"share {source_arn} with {request.target.account_id}"):
        share = client.create_resource_share(
            name=name,
            resourceArns=[source_arn],
            principals=[request.target.account_id],
            allowExternalPrincipals=request.sharing.allow_external_principals,
            tags=tags,
            clientToken=name,
        )["resourceShare"]
    metrics.add_metric(name="ResourceSharesCreated", unit=MetricUnit.Count, value=1)
    logger.info(
        "cluster shared through RAM", extra={"share": share["resourceShareArn"], "cluster": source_arn}
    )
    return _share_json(share, request)


def _share_json(share: dict[str, Any], request: CloneRequest) -> dict[str, Any]:
    return {
        "resourceShareArn": share["resourceShareArn"],
        "name": share["name"],
        "principal": request.target.account_id,
        "allowExternalPrincipals": bool(share.get("allowExternalPrincipals")),
    }


def _own_share(client: Any, access: AccountAccess, name: str, run_id: str) -> dict[str, Any] | None:
    """This run's active share, found by its name and checked by its tags."""
    with translated(access, f"find resource share {name}"):
        shares = client.get_resource_shares(
            resourceOwner="SELF", name=name, resourceShareStatus="ACTIVE"
        ).get("resourceShares", [])
    for share in shares:
        if share.get("name") != name:
            continue
        tags = [{"Key": t["key"], "Value": t["value"]} for t in share.get("tags", [])]
        if naming.is_tagged_by_run(tags, run_id):
            found: dict[str, Any] = share
            return found
        logger.warning(
            "resource share has this run's name but not its tags; ignoring it", extra={"name": name}
        )
    return None


def accept_share(request: CloneRequest, share: dict[str, Any], attempt: int) -> PollResult:
    """One look at the share, for the bounded wait: the target accepts a pending invitation (accounts outside
    the owner's organization get one); ready once the owner's share lists the target as ASSOCIATED."""
    owner = source_access(request)
    target = target_access(request)
    share_arn = share["resourceShareArn"]
    target_ram = ram(target)
    with translated(target, f"read invitations to {share_arn}"):
        invitations = target_ram.get_resource_share_invitations(resourceShareArns=[share_arn]).get(
            "resourceShareInvitations", []
        )
    accepted = None
    for invitation in invitations:
        if invitation.get("receiverAccountId") not in (None, target.account_id):
            continue
        status = invitation.get("status")
        if status in ("REJECTED", "EXPIRED"):
            raise ResourceFailedError(
                f"the invitation {invitation['resourceShareInvitationArn']} to resource share {share_arn} is "
                f"{status}; the owner must share again",
                **_where(target),
            )
        if status == "PENDING":
            with translated(target, f"accept invitation {invitation['resourceShareInvitationArn']}"):
                target_ram.accept_resource_share_invitation(
                    resourceShareInvitationArn=invitation["resourceShareInvitationArn"],
                    clientToken=share["name"],
                )
            logger.info("resource share invitation accepted", extra={"share": share_arn})
        accepted = invitation["resourceShareInvitationArn"]
    with translated(owner, f"read associations of {share_arn}"):
        associations = (
            ram(owner)
            .get_resource_share_associations(
                associationType="PRINCIPAL", resourceShareArns=[share_arn], principal=target.account_id
            )
            .get("resourceShareAssociations", [])
        )
    status = associations[0].get("status", "ASSOCIATING") if associations else "ASSOCIATING"
    if status == "FAILED":
        message = associations[0].get("statusMessage") or "association failed"
        hint = (
            " The target account is outside the owner's organization: set sharing.allowExternalPrincipals to "
            "true to share with it (the target then accepts an invitation)."
            if not request.sharing.allow_external_principals
            else ""
        )
        raise CloneNotAllowedError(
            f"resource share {share_arn} could not be associated with account {target.account_id}: {message}.{hint}",
            **_where(owner),
        )
    details: dict[str, Any] = {"invitationArn": accepted}
    return PollResult(status.lower(), status == "ASSOCIATED", attempt + 1, details)


# --- step 3: the clone itself, in the target account -------------------------------------------------------


def create_clone(request: CloneRequest, run_id: str, source: SourceFacts) -> dict[str, Any]:
    """RestoreDBClusterToPointInTime with RestoreType copy-on-write; across accounts by the source's full ARN
    with the target's key. The call creates a cluster with no instances."""
    access = target_access(request)
    client = rds(access)
    target = request.target
    clone_id = clone_identifier(request, run_id)
    params: dict[str, Any] = {
        "DBClusterIdentifier": clone_id,
        # "Clone the cluster by specifying the full ARN of the source cluster" (cross-account).
        "SourceDBClusterIdentifier": source.arn if request.cross_account else source.identifier,
        "RestoreType": "copy-on-write",
        "UseLatestRestorableTime": True,
        "DeletionProtection": target.deletion_protection,
        "CopyTagsToSnapshot": True,
        "Tags": clone_tags(request, run_id, "clone"),
    }
    if target.kms_key_arn:
        params["KmsKeyId"] = target.kms_key_arn
    if target.db_subnet_group_name:
        params["DBSubnetGroupName"] = target.db_subnet_group_name
    if target.vpc_security_group_ids:
        params["VpcSecurityGroupIds"] = list(target.vpc_security_group_ids)
    if target.db_cluster_parameter_group_name:
        params["DBClusterParameterGroupName"] = target.db_cluster_parameter_group_name
    with translated(access, f"clone {source.arn} to {clone_id}"):
        try:
            cluster = client.restore_db_cluster_to_point_in_time(**params)["DBCluster"]
        except ClientError as error:
            code = error_code(error)
            if code == "DBClusterAlreadyExistsFault":
                cluster = _own_clone(client, access, clone_id, run_id)
            elif code == "DBClusterNotFoundFault":
                # "If the ARN passed as the SourceDBClusterIdentifier hasn't been shared, the same error is
                # returned as if the specified cluster doesn't exist."
                raise SourceNotFoundError(
                    f"source cluster {source.arn} is not visible to this account: it was not shared with it, "
                    f"or the share is not accepted yet ({error_message(error)})",
                    **_where(access),
                ) from error
            else:
                raise
    metrics.add_metric(name="ClonesCreated", unit=MetricUnit.Count, value=1)
    return {"clusterArn": cluster["DBClusterArn"], "clusterIdentifier": cluster["DBClusterIdentifier"]}


def _own_clone(client: RDSClient, access: AccountAccess, clone_id: str, run_id: str) -> Any:
    cluster = client.describe_db_clusters(DBClusterIdentifier=clone_id)["DBClusters"][0]
    if not naming.is_tagged_by_run(cluster.get("TagList", []), run_id):  # type: ignore[arg-type]
        raise TargetConflictError(
            f"cluster {clone_id} already exists and was not made by run {run_id}", **_where(access)
        )
    return cluster


def create_clone_instances(request: CloneRequest, run_id: str, engine: str) -> dict[str, Any]:
    """A clone has no instances; add the requested ones once it is available (the first is the writer)."""
    access = target_access(request)
    client = rds(access)
    clone_id = clone_identifier(request, run_id)
    created: list[str] = []
    for index in range(request.target.instance_count):
        instance_id = naming.instance_id(clone_id, index)
        with translated(access, f"create instance {instance_id}"):
            try:
                instance = client.create_db_instance(
                    DBInstanceIdentifier=instance_id,
                    DBInstanceClass=request.target.instance_class,
                    Engine=engine,
                    DBClusterIdentifier=clone_id,
                    Tags=clone_tags(request, run_id, "clone-instance"),  # type: ignore[arg-type]
                )["DBInstance"]
                created.append(instance["DBInstanceArn"])
            except ClientError as error:
                if error_code(error) != "DBInstanceAlreadyExists":
                    raise
                existing = client.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]
                if existing.get("DBClusterIdentifier") != clone_id:
                    raise TargetConflictError(
                        f"instance {instance_id} already exists in another cluster", **_where(access)
                    ) from error
                created.append(existing["DBInstanceArn"])
    return {"instanceArns": created, "instanceIdentifiers": [arn.rsplit(":", 1)[-1] for arn in created]}


def verify_clone(request: CloneRequest, run_id: str) -> dict[str, Any]:
    """The clone is what was asked: CrossAccountClone is true exactly for a cross-account clone, and a
    cross-account clone of an encrypted cluster is encrypted with the target's key."""
    access = target_access(request)
    clone_id = clone_identifier(request, run_id)
    cluster = _describe_cluster(rds(access), access, clone_id)
    if cluster is None:
        raise ResourceFailedError(f"clone {clone_id} disappeared", **_where(access))
    cross = bool(cluster.get("CrossAccountClone"))
    if cross != request.cross_account:
        raise CloneVerificationError(
            f"clone {clone_id} reports CrossAccountClone={str(cross).lower()}, expected "
            f"{str(request.cross_account).lower()} (source account {request.source.account_id}, target "
            f"account {request.target.account_id})",
            **_where(access),
        )
    key = request.target.kms_key_arn
    if key and cluster.get("KmsKeyId") not in (key, key.rsplit("/", 1)[-1]):
        raise CloneVerificationError(
            f"clone {clone_id} is encrypted with {cluster.get('KmsKeyId')}, not target.kmsKeyArn {key}",
            **_where(access),
        )
    return {
        "crossAccountClone": cross,
        "cloneGroupId": cluster.get("CloneGroupId"),
        "storageEncrypted": bool(cluster.get("StorageEncrypted")),
        "kmsKeyId": cluster.get("KmsKeyId"),
    }


# --- step 4 (refresh): retire the old dev cluster, only once the new clone is ready ------------------------


def retire_instances(request: CloneRequest, clusters: list[dict[str, str]]) -> dict[str, Any]:
    """Delete the instances of each cluster the refresh replaces (re-checked: still tagged managed)."""
    access = target_access(request)
    client = rds(access)
    deleting: list[str] = []
    actions: list[dict[str, Any]] = []
    for entry in clusters:
        cluster = _managed_cluster(client, access, entry["identifier"], actions)
        if cluster is None:
            continue
        for member in cluster.get("DBClusterMembers", []):
            instance_id = member["DBInstanceIdentifier"]
            with translated(access, f"delete instance {instance_id}"):
                try:
                    client.delete_db_instance(DBInstanceIdentifier=instance_id)
                except ClientError as error:
                    # Already gone or already deleting: a retried step, or a delete in progress.
                    gone_or_going = (
                        "DBInstanceNotFound",
                        "DBInstanceNotFoundFault",
                        "InvalidDBInstanceState",
                    )
                    if error_code(error) not in gone_or_going:
                        raise
            deleting.append(instance_id)
            actions.append({"action": "deleting", "accountId": access.account_id, "instance": instance_id})
    return {"instanceIdentifiers": deleting, "actions": actions}


def retire_clusters(request: CloneRequest, clusters: list[dict[str, str]]) -> dict[str, Any]:
    """Delete each replaced cluster, without a final snapshot: it is a clone this tool made of a cluster that
    still exists, so a final snapshot would only keep a stale copy."""
    access = target_access(request)
    client = rds(access)
    deleted: list[str] = []
    arns: list[str] = []
    actions: list[dict[str, Any]] = []
    for entry in clusters:
        cluster = _managed_cluster(client, access, entry["identifier"], actions)
        if cluster is None:
            continue
        with translated(access, f"delete cluster {entry['identifier']}"):
            try:
                client.delete_db_cluster(DBClusterIdentifier=entry["identifier"], SkipFinalSnapshot=True)
            except ClientError as error:
                if error_code(error) != "DBClusterNotFoundFault":
                    raise
        deleted.append(entry["identifier"])
        arns.append(cluster["DBClusterArn"])
        actions.append({"action": "deleted", "accountId": access.account_id, "arn": cluster["DBClusterArn"]})
    metrics.add_metric(name="DevClustersRetired", unit=MetricUnit.Count, value=len(deleted))
    return {"clusterIdentifiers": deleted, "clusterArns": arns, "actions": actions}


def _managed_cluster(
    client: RDSClient, access: AccountAccess, identifier: str, actions: list[dict[str, Any]]
) -> Any:
    cluster = _describe_cluster(client, access, identifier)
    if cluster is None:
        return None
    tags = {t["Key"]: t["Value"] for t in cluster.get("TagList", [])}
    if tags.get(naming.MANAGED_TAG) != "true":
        logger.warning("cluster lost its aurora-ferry tags; leaving it", extra={"cluster": identifier})
        actions.append(
            {
                "action": "left-in-place",
                "accountId": access.account_id,
                "arn": cluster["DBClusterArn"],
                "reason": f"no {naming.MANAGED_TAG}=true tag",
            }
        )
        return None
    return cluster


def poll_gone(access: AccountAccess, kind: str, identifiers: list[str], attempt: int) -> PollResult:
    """One look at instances or clusters being deleted: ready once none of them exists any more."""
    client = rds(access)
    left: dict[str, str] = {}
    for identifier in identifiers:
        with translated(access, f"describe {identifier}"):
            try:
                if kind == "instances-gone":
                    found = client.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
                    status = found[0].get("DBInstanceStatus", "unknown") if found else None
                else:
                    clusters = client.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
                    status = clusters[0].get("Status", "unknown") if clusters else None
            except ClientError as error:
                if error_code(error) not in (
                    "DBInstanceNotFound",
                    "DBInstanceNotFoundFault",
                    "DBClusterNotFoundFault",
                ):
                    raise
                status = None
        if status is not None:
            left[identifier] = status
    summary = "gone" if not left else ",".join(sorted(set(left.values())))
    return PollResult(summary, not left, attempt + 1, {"remaining": left})


# --- step 5: cleanup ---------------------------------------------------------------------------------------


def cleanup_clone_run(request: CloneRequest, run_id: str, *, failed: bool) -> dict[str, Any]:
    """Delete the RAM share this run created (found by name, checked by its tags). After a failure, also
    report a clone this run made: like the migration's target clusters, it is never deleted by the tool."""
    actions: list[dict[str, Any]] = []
    if request.cross_account:
        owner = source_access(request)
        client = ram(owner)
        share = _own_share(client, owner, share_name(run_id), run_id)
        if share is not None:
            with translated(owner, f"delete resource share {share['resourceShareArn']}"):
                client.delete_resource_share(resourceShareArn=share["resourceShareArn"], clientToken=run_id)
            actions.append(
                {"action": "unshared", "accountId": owner.account_id, "arn": share["resourceShareArn"]}
            )
    if failed:
        target = target_access(request)
        clone_id = clone_identifier(request, run_id)
        cluster = _describe_cluster(rds(target), target, clone_id)
        if cluster is not None and naming.is_tagged_by_run(cluster.get("TagList", []), run_id):
            actions.append(
                {
                    "action": "left-in-place",
                    "accountId": target.account_id,
                    "arn": cluster["DBClusterArn"],
                    "reason": "the tool never deletes a clone it made; delete it when it is no longer needed",
                }
            )
    return {"actions": actions}
