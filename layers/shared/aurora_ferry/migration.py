"""The migration's steps as plain functions: each takes the typed request and returns JSON-ready data.

Handlers under functions/ only parse their event and call one of these. Every step is safe to retry
after a Lambda failure: resources get deterministic names, and an "already exists" answer for a resource
carrying this run's tags counts as success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from aurora_ferry import naming
from aurora_ferry.aws import AccountAccess, error_code, rds, translated
from aurora_ferry.contract import CleanupPolicy, MigrationRequest, Target
from aurora_ferry.errors import (
    CopyQueueFullError,
    ResourceFailedError,
    SharedSnapshotNotVisibleError,
    SnapshotNotShareableError,
    SourceNotFoundError,
    TargetConflictError,
)
from aurora_ferry.leftovers import NOT_DELETABLE_YET_CODES, LeftoverStore, record_leftover
from aurora_ferry.observability import logger, metrics
from aurora_ferry.snapshots import (
    SnapshotRef,
    classify_encryption,
    describe_snapshot,
    require_snapshot,
    snapshot_ref,
)

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

from aws_lambda_powertools.metrics import MetricUnit

MAX_SHARED_ACCOUNTS = 20
# "You can have up to five snapshot copy requests in progress to a single destination Region per account."
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-copy-snapshot.html
MAX_COPIES_IN_PROGRESS = 5
MAX_SNAPSHOT_PAGES = 50

SNAPSHOT_FAILED = frozenset({"failed", "incompatible-restore", "deleted"})
CLUSTER_FAILED = frozenset(
    {
        "failed",
        "incompatible-restore",
        "incompatible-parameters",
        "incompatible-network",
        "inaccessible-encryption-credentials",
        "inaccessible-encryption-credentials-recoverable",
    }
)
INSTANCE_FAILED = CLUSTER_FAILED | frozenset({"restore-error", "storage-full"})


def source_access(request: MigrationRequest) -> AccountAccess:
    source = request.source
    return AccountAccess(source.account_id, source.region, source.role_arn, source.external_id)


def target_access(request: MigrationRequest, target: Target) -> AccountAccess:
    return AccountAccess(target.account_id, request.source.region, target.role_arn, target.external_id)


def find_target(request: MigrationRequest, account_id: str) -> Target:
    for target in request.targets:
        if target.account_id == account_id:
            return target
    raise KeyError(f"no target for account {account_id} in the request")


# --- step 1: a manual snapshot of the source --------------------------------------------------------


def prepare_source_snapshot(request: MigrationRequest, run_id: str) -> SnapshotRef:
    """Snapshot the source cluster, or resolve the given snapshot.

    An automated snapshot cannot be shared, so it is copied to a manual one here, re-encrypted with the
    share key on the way when it is encrypted (one copy instead of two).
    """
    access = source_access(request)
    client = rds(access)
    if request.source.cluster_identifier:
        return _snapshot_cluster(client, access, request.source.cluster_identifier, run_id)
    assert request.source.snapshot_identifier is not None
    raw = require_snapshot(client, access, request.source.snapshot_identifier)
    encryption = classify_encryption(access, bool(raw.get("StorageEncrypted")), raw.get("KmsKeyId"))
    if raw.get("SnapshotType") == "automated":
        key = request.share_kms_key_arn if raw.get("StorageEncrypted") else None
        copied = _copy_snapshot(
            client,
            access,
            raw["DBClusterSnapshotArn"],
            naming.source_copy_id(run_id),
            key,
            run_id,
            "source-copy",
        )
        return snapshot_ref(copied, access, created_by_run=True, encryption=encryption, origin="copied")
    return snapshot_ref(raw, access, created_by_run=False, encryption=encryption)


def _snapshot_cluster(client: RDSClient, access: AccountAccess, cluster_id: str, run_id: str) -> SnapshotRef:
    with translated(access, f"describe source cluster {cluster_id}"):
        try:
            cluster = client.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
        except ClientError as error:
            if error_code(error) == "DBClusterNotFoundFault":
                raise SourceNotFoundError(
                    f"source cluster {cluster_id} not found",
                    account_id=access.account_id,
                    region=access.region,
                ) from error
            raise
    encryption = classify_encryption(access, bool(cluster.get("StorageEncrypted")), cluster.get("KmsKeyId"))
    snapshot_id = naming.source_snapshot_id(run_id)
    with translated(access, f"snapshot source cluster {cluster_id}"):
        try:
            raw = client.create_db_cluster_snapshot(
                DBClusterIdentifier=cluster_id,
                DBClusterSnapshotIdentifier=snapshot_id,
                Tags=naming.tags_for(run_id, "source-snapshot"),  # type: ignore[arg-type]
            )["DBClusterSnapshot"]
        except ClientError as error:
            if error_code(error) != "DBClusterSnapshotAlreadyExistsFault":
                raise
            raw = _own_existing_snapshot(client, access, snapshot_id, run_id)
    metrics.add_metric(name="SnapshotsCreated", unit=MetricUnit.Count, value=1)
    return snapshot_ref(raw, access, created_by_run=True, encryption=encryption, origin="created")


def _copy_snapshot(
    client: RDSClient,
    access: AccountAccess,
    source_identifier: str,
    copy_id: str,
    kms_key_id: str | None,
    run_id: str,
    purpose: str,
) -> Any:
    params: dict[str, Any] = {
        "SourceDBClusterSnapshotIdentifier": source_identifier,
        "TargetDBClusterSnapshotIdentifier": copy_id,
        "Tags": naming.tags_for(run_id, purpose),
    }
    # AWS refuses a KmsKeyId on an unencrypted cluster snapshot copy (it cannot encrypt on copy).
    if kms_key_id:
        params["KmsKeyId"] = kms_key_id
    # A retried step finds the copy it started last time, even while the copy queue is full.
    if describe_snapshot(client, access, copy_id) is not None:
        return _own_existing_snapshot(client, access, copy_id, run_id)
    in_progress = copies_in_progress(client, access)
    if in_progress >= MAX_COPIES_IN_PROGRESS:
        raise _queue_full(access, copy_id, in_progress)
    with translated(access, f"copy cluster snapshot {source_identifier} to {copy_id}"):
        try:
            raw = client.copy_db_cluster_snapshot(**params)["DBClusterSnapshot"]
        except ClientError as error:
            code = error_code(error)
            if code in ("SnapshotQuotaExceeded", "SnapshotQuotaExceededFault"):
                # Another run may have taken the last slot since the count above: queue, do not fail.
                in_progress = copies_in_progress(client, access)
                if in_progress >= MAX_COPIES_IN_PROGRESS:
                    raise _queue_full(access, copy_id, in_progress) from error
            if code != "DBClusterSnapshotAlreadyExistsFault":
                raise
            raw = _own_existing_snapshot(client, access, copy_id, run_id)
    metrics.add_metric(name="SnapshotCopiesStarted", unit=MetricUnit.Count, value=1)
    return raw


def copies_in_progress(client: RDSClient, access: AccountAccess) -> int:
    """Cluster snapshot copies this account has in progress in the client's Region (status "copying").

    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBClusterSnapshot.html names the
    "copying" status of a copy in progress. Bounded: at most MAX_SNAPSHOT_PAGES pages are read.
    """
    count = 0
    with translated(access, "count cluster snapshot copies in progress"):
        pages = client.get_paginator("describe_db_cluster_snapshots").paginate(SnapshotType="manual")
        for number, page in enumerate(pages):
            count += sum(1 for snap in page.get("DBClusterSnapshots", []) if snap.get("Status") == "copying")
            if count >= MAX_COPIES_IN_PROGRESS or number + 1 >= MAX_SNAPSHOT_PAGES:
                break
    return count


def _queue_full(access: AccountAccess, copy_id: str, in_progress: int) -> CopyQueueFullError:
    return CopyQueueFullError(
        f"{in_progress} cluster snapshot copies are already in progress in {access.region} (Aurora allows "
        f"{MAX_COPIES_IN_PROGRESS} per destination Region and account); {copy_id} is queued and retried",
        account_id=access.account_id,
        region=access.region,
    )


def _own_existing_snapshot(client: RDSClient, access: AccountAccess, identifier: str, run_id: str) -> Any:
    """A retried step finds the snapshot it made last time; anything else with that name is a conflict."""
    raw = require_snapshot(client, access, identifier)
    tags = client.list_tags_for_resource(ResourceName=raw["DBClusterSnapshotArn"]).get("TagList", [])
    if not naming.is_tagged_by_run(tags, run_id):  # type: ignore[arg-type]
        raise TargetConflictError(
            f"cluster snapshot {identifier} already exists and was not made by run {run_id}",
            account_id=access.account_id,
            region=access.region,
        )
    return raw


# --- step 2: a snapshot the run owns, encrypted with the share key ------------------------------------


def prepare_shareable_snapshot(request: MigrationRequest, run_id: str, snapshot: SnapshotRef) -> SnapshotRef:
    """Copy the snapshot re-encrypted with the share key unless it already is the run's own such copy.

    A snapshot the run did not create is always copied, so sharing never modifies a caller's snapshot.
    An unencrypted Aurora snapshot cannot be encrypted by copying; it is shared unencrypted and each
    target encrypts at restore time with its own key.
    """
    access = source_access(request)
    has_share_key = snapshot.encrypted and _same_key(snapshot.kms_key_id, request.share_kms_key_arn)
    if snapshot.created_by_run and (has_share_key or not snapshot.encrypted):
        return snapshot
    client = rds(access)
    key = request.share_kms_key_arn if snapshot.encrypted else None
    raw = _copy_snapshot(
        client, access, snapshot.arn, naming.share_copy_id(run_id), key, run_id, "share-copy"
    )
    return snapshot_ref(raw, access, created_by_run=True, encryption=snapshot.encryption, origin="copied")


def _same_key(kms_key_id: str | None, key_arn: str) -> bool:
    if not kms_key_id:
        return False
    return kms_key_id == key_arn or kms_key_id == key_arn.rsplit("/", 1)[-1]


# --- step 3: share with the target accounts ----------------------------------------------------------


def share_snapshot(request: MigrationRequest, snapshot: SnapshotRef) -> dict[str, Any]:
    """Add the target accounts to the snapshot's restore attribute; never 'all'."""
    access = source_access(request)
    if not snapshot.created_by_run:
        raise SnapshotNotShareableError(
            f"refusing to share {snapshot.identifier}: the run only shares snapshots it created",
            account_id=access.account_id,
            region=access.region,
        )
    if snapshot.snapshot_type != "manual":
        raise SnapshotNotShareableError(
            f"{snapshot.identifier} is an {snapshot.snapshot_type} snapshot; only manual snapshots can be shared",
            account_id=access.account_id,
            region=access.region,
        )
    if snapshot.encrypted and not _same_key(snapshot.kms_key_id, request.share_kms_key_arn):
        raise SnapshotNotShareableError(
            f"{snapshot.identifier} is encrypted with {snapshot.kms_key_id}, not the share key "
            f"{request.share_kms_key_arn}; snapshots under the default aws/rds key cannot be shared",
            account_id=access.account_id,
            region=access.region,
        )
    client = rds(access)
    accounts = [target.account_id for target in request.targets]
    with translated(access, f"read sharing of {snapshot.identifier}"):
        attributes = client.describe_db_cluster_snapshot_attributes(
            DBClusterSnapshotIdentifier=snapshot.identifier
        )
    current = _restore_accounts(attributes)
    if "all" in current:
        raise SnapshotNotShareableError(
            f"{snapshot.identifier} is public; refusing to continue with a public snapshot",
            account_id=access.account_id,
            region=access.region,
        )
    if len(current | set(accounts)) > MAX_SHARED_ACCOUNTS:
        raise SnapshotNotShareableError(
            f"{snapshot.identifier} would be shared with more than {MAX_SHARED_ACCOUNTS} accounts",
            account_id=access.account_id,
            region=access.region,
        )
    with translated(access, f"share {snapshot.identifier} with {', '.join(accounts)}"):
        client.modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier=snapshot.identifier, AttributeName="restore", ValuesToAdd=accounts
        )
    logger.info("snapshot shared", extra={"snapshot": snapshot.arn, "accounts": accounts})
    return {"snapshotArn": snapshot.arn, "sharedWith": accounts}


def _restore_accounts(attributes: Any) -> set[str]:
    for attribute in attributes.get("DBClusterSnapshotAttributesResult", {}).get(
        "DBClusterSnapshotAttributes", []
    ):
        if attribute.get("AttributeName") == "restore":
            return set(attribute.get("AttributeValues", []))
    return set()


# --- step 4: in each target ---------------------------------------------------------------------------


def copy_shared_snapshot(
    request: MigrationRequest, target: Target, run_id: str, shared: SnapshotRef
) -> SnapshotRef:
    """Copy the shared snapshot (by full ARN) into the target, re-encrypted with the target's key."""
    access = target_access(request, target)
    client = rds(access)
    _require_cluster_id_free(client, access, target.cluster_identifier)
    key = target.kms_key_arn if shared.encrypted else None
    try:
        raw = _copy_snapshot(
            client, access, shared.arn, naming.target_copy_id(run_id), key, run_id, "target-copy"
        )
    except ClientError as error:
        if error_code(error) == "DBClusterSnapshotNotFoundFault":
            raise SharedSnapshotNotVisibleError(
                f"snapshot {shared.arn} is not visible: it was not shared with this account, or the share "
                "was revoked",
                account_id=access.account_id,
                region=access.region,
            ) from error
        raise
    return snapshot_ref(
        raw, access, created_by_run=True, encryption="customer-key" if key else "none", origin="copied"
    )


def _require_cluster_id_free(client: RDSClient, access: AccountAccess, cluster_id: str) -> None:
    with translated(access, f"check target cluster id {cluster_id}"):
        try:
            client.describe_db_clusters(DBClusterIdentifier=cluster_id)
        except ClientError as error:
            if error_code(error) == "DBClusterNotFoundFault":
                return
            raise
    raise TargetConflictError(
        f"a cluster named {cluster_id} already exists; choose another targets[].clusterIdentifier",
        account_id=access.account_id,
        region=access.region,
    )


def restore_cluster(
    request: MigrationRequest, target: Target, run_id: str, copy: SnapshotRef
) -> dict[str, Any]:
    """Restore the target cluster from its copy, always encrypted with the target's key."""
    access = target_access(request, target)
    client = rds(access)
    params: dict[str, Any] = {
        "DBClusterIdentifier": target.cluster_identifier,
        "SnapshotIdentifier": copy.identifier,
        "Engine": copy.engine,
        "KmsKeyId": target.kms_key_arn,
        "DeletionProtection": target.deletion_protection,
        "CopyTagsToSnapshot": True,
        "Tags": naming.tags_for(run_id, "target-cluster", target.tags),
    }
    if copy.engine_version:
        params["EngineVersion"] = copy.engine_version
    if target.db_subnet_group_name:
        params["DBSubnetGroupName"] = target.db_subnet_group_name
    if target.vpc_security_group_ids:
        params["VpcSecurityGroupIds"] = list(target.vpc_security_group_ids)
    if target.db_cluster_parameter_group_name:
        params["DBClusterParameterGroupName"] = target.db_cluster_parameter_group_name
    with translated(access, f"restore cluster {target.cluster_identifier} from {copy.identifier}"):
        try:
            cluster = client.restore_db_cluster_from_snapshot(**params)["DBCluster"]
        except ClientError as error:
            if error_code(error) != "DBClusterAlreadyExistsFault":
                raise
            cluster = _own_existing_cluster(client, access, target.cluster_identifier, run_id)
    metrics.add_metric(name="ClustersRestored", unit=MetricUnit.Count, value=1)
    return {"clusterArn": cluster["DBClusterArn"], "clusterIdentifier": target.cluster_identifier}


def _own_existing_cluster(client: RDSClient, access: AccountAccess, cluster_id: str, run_id: str) -> Any:
    cluster = client.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
    if not naming.is_tagged_by_run(cluster.get("TagList", []), run_id):  # type: ignore[arg-type]
        raise TargetConflictError(
            f"cluster {cluster_id} already exists and was not made by run {run_id}",
            account_id=access.account_id,
            region=access.region,
        )
    return cluster


def create_instances(request: MigrationRequest, target: Target, run_id: str, engine: str) -> dict[str, Any]:
    """A restore creates a cluster with no instances; add the requested ones (first is the writer)."""
    access = target_access(request, target)
    client = rds(access)
    created: list[str] = []
    for index in range(target.instance_count):
        instance_id = naming.instance_id(target.cluster_identifier, index)
        with translated(access, f"create instance {instance_id}"):
            try:
                instance = client.create_db_instance(
                    DBInstanceIdentifier=instance_id,
                    DBInstanceClass=target.instance_class,
                    Engine=engine,
                    DBClusterIdentifier=target.cluster_identifier,
                    Tags=naming.tags_for(run_id, "target-instance", target.tags),  # type: ignore[arg-type]
                )["DBInstance"]
                created.append(instance["DBInstanceArn"])
            except ClientError as error:
                if error_code(error) != "DBInstanceAlreadyExists":
                    raise
                existing = client.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]
                if existing.get("DBClusterIdentifier") != target.cluster_identifier:
                    raise TargetConflictError(
                        f"instance {instance_id} already exists in another cluster",
                        account_id=access.account_id,
                        region=access.region,
                    ) from error
                created.append(existing["DBInstanceArn"])
    return {"instanceArns": created, "instanceIdentifiers": [arn.rsplit(":", 1)[-1] for arn in created]}


# --- polling ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollResult:
    status: str
    ready: bool
    attempt: int
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "ready": self.ready, "attempt": self.attempt, **self.details}


def poll_snapshot(access: AccountAccess, identifier: str, attempt: int) -> PollResult:
    raw = describe_snapshot(rds(access), access, identifier)
    if raw is None:
        raise ResourceFailedError(
            f"cluster snapshot {identifier} disappeared while the run was waiting for it",
            account_id=access.account_id,
            region=access.region,
        )
    status = raw.get("Status", "unknown")
    if status in SNAPSHOT_FAILED:
        raise ResourceFailedError(
            f"cluster snapshot {identifier} is {status}", account_id=access.account_id, region=access.region
        )
    return PollResult(
        status, status == "available", attempt + 1, {"percentProgress": raw.get("PercentProgress", 0)}
    )


def poll_cluster(access: AccountAccess, cluster_id: str, attempt: int) -> PollResult:
    client = rds(access)
    with translated(access, f"describe cluster {cluster_id}"):
        cluster = client.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
    status = cluster.get("Status", "unknown")
    if status in CLUSTER_FAILED:
        raise ResourceFailedError(
            f"cluster {cluster_id} is {status}", account_id=access.account_id, region=access.region
        )
    details = {"endpoint": cluster.get("Endpoint"), "readerEndpoint": cluster.get("ReaderEndpoint")}
    return PollResult(status, status == "available", attempt + 1, details)


def poll_instances(access: AccountAccess, instance_ids: list[str], attempt: int) -> PollResult:
    client = rds(access)
    statuses: dict[str, str] = {}
    for instance_id in instance_ids:
        with translated(access, f"describe instance {instance_id}"):
            instance = client.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]
        status = instance.get("DBInstanceStatus", "unknown")
        if status in INSTANCE_FAILED:
            raise ResourceFailedError(
                f"instance {instance_id} is {status}", account_id=access.account_id, region=access.region
            )
        statuses[instance_id] = status
    ready = all(status == "available" for status in statuses.values())
    summary = "available" if ready else ",".join(sorted(set(statuses.values())))
    return PollResult(summary, ready, attempt + 1, {"instances": statuses})


# --- step 5: cleanup ------------------------------------------------------------------------------------


def cleanup(request: MigrationRequest, run_id: str, leftovers: LeftoverStore | None = None) -> dict[str, Any]:
    """Unshare and delete, per the policy, the intermediate snapshots this run made.

    Found by their deterministic names and deleted only when they carry this run's tags, so cleanup
    after a failure needs no state from the failed branch and can never touch the caller's snapshots.
    A snapshot that cannot be deleted yet is reported as left in place rather than failing the run, and,
    given a leftover store, recorded there so that the scheduled retry deletes it once it is available.
    """
    policy = request.options.cleanup
    actions: list[dict[str, Any]] = []
    source = source_access(request)
    target_ids = [target.account_id for target in request.targets]
    source_client = rds(source)
    for identifier in (
        naming.share_copy_id(run_id),
        naming.source_copy_id(run_id),
        naming.source_snapshot_id(run_id),
    ):
        raw = _owned_snapshot(source_client, source, identifier, run_id)
        if raw is None:
            continue
        actions.append(_unshare(source_client, source, raw, target_ids))
        if policy in (CleanupPolicy.DELETE, CleanupPolicy.KEEP_TARGET_COPIES):
            actions.append(_delete(source_client, source, raw, run_id, leftovers))
        else:
            actions.append(_kept(source, raw))
    for target in request.targets:
        access = target_access(request, target)
        client = rds(access)
        raw = _owned_snapshot(client, access, naming.target_copy_id(run_id), run_id)
        if raw is None:
            continue
        actions.append(
            _delete(client, access, raw, run_id, leftovers)
            if policy is CleanupPolicy.DELETE
            else _kept(access, raw)
        )
    return {"policy": policy.value, "actions": [a for a in actions if a]}


def _owned_snapshot(client: RDSClient, access: AccountAccess, identifier: str, run_id: str) -> Any:
    raw = describe_snapshot(client, access, identifier)
    if raw is None:
        return None
    with translated(access, f"read tags of {identifier}"):
        tags = client.list_tags_for_resource(ResourceName=raw["DBClusterSnapshotArn"]).get("TagList", [])
    if not naming.is_tagged_by_run(tags, run_id):  # type: ignore[arg-type]
        logger.warning(
            "snapshot has this run's name but not its tags; leaving it", extra={"snapshot": identifier}
        )
        return None
    return raw


def _unshare(client: RDSClient, access: AccountAccess, raw: Any, accounts: list[str]) -> dict[str, Any]:
    identifier = raw["DBClusterSnapshotIdentifier"]
    with translated(access, f"read sharing of {identifier}"):
        current = _restore_accounts(
            client.describe_db_cluster_snapshot_attributes(DBClusterSnapshotIdentifier=identifier)
        )
    to_remove = sorted(current & set(accounts))
    if not to_remove:
        return {}
    with translated(access, f"unshare {identifier}"):
        client.modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier=identifier, AttributeName="restore", ValuesToRemove=to_remove
        )
    return {
        "action": "unshared",
        "accountId": access.account_id,
        "arn": raw["DBClusterSnapshotArn"],
        "from": to_remove,
    }


def _delete(
    client: RDSClient, access: AccountAccess, raw: Any, run_id: str, leftovers: LeftoverStore | None
) -> dict[str, Any]:
    identifier = raw["DBClusterSnapshotIdentifier"]
    try:
        with translated(access, f"delete {identifier}"):
            client.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=identifier)
    except ClientError as error:
        # Reported, not raised: cleanup must go on to the other snapshots, and the summary tells the
        # operator exactly what is left and why.
        logger.warning(
            "could not delete intermediate snapshot", extra={"snapshot": identifier, "error": str(error)}
        )
        action = {
            "action": "left-in-place",
            "accountId": access.account_id,
            "arn": raw["DBClusterSnapshotArn"],
            "reason": f"{error_code(error)}: {error}",
        }
        if leftovers is not None and error_code(error) in NOT_DELETABLE_YET_CODES:
            action["retryUntil"] = record_leftover(leftovers, access, raw, run_id).retry_until_iso
        return action
    metrics.add_metric(name="IntermediatesDeleted", unit=MetricUnit.Count, value=1)
    return {"action": "deleted", "accountId": access.account_id, "arn": raw["DBClusterSnapshotArn"]}


def _kept(access: AccountAccess, raw: Any) -> dict[str, Any]:
    return {"action": "kept", "accountId": access.account_id, "arn": raw["DBClusterSnapshotArn"]}
