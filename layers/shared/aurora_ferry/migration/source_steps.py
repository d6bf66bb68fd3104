"""The migration's steps in the source account: a manual snapshot, a copy under the share key, the share.

Handlers under functions/ only parse their event and call one of these. Every step is safe to retry
after a Lambda failure: resources get deterministic names, and an "already exists" answer for a resource
carrying this run's tags counts as success.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from aurora_ferry.core import (
    AccountAccess,
    InvalidInputError,
    SnapshotNotShareableError,
    SnapshotRef,
    SourceConfiguration,
    SourceNotFoundError,
    classify_encryption,
    configuration_from_cluster,
    configuration_from_snapshot,
    describe_cluster,
    encrypted_at_rest,
    error_code,
    logger,
    metrics,
    naming,
    rds,
    require_snapshot,
    snapshot_ref,
    source_instances,
    translated,
    unknown_instances_problem,
)
from aurora_ferry.migration.contract import MigrationRequest, Target
from aurora_ferry.migration.copies import copy_snapshot, own_existing_snapshot, restore_accounts, same_key
from aurora_ferry.migration.placement import (
    copies_in_two_steps,
    readers_in,
    region_access,
    share_key_in,
    source_access,
    target_region,
)

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

MAX_SHARED_ACCOUNTS = 20


# --- step 1: a manual snapshot of the source --------------------------------------------------------


@dataclass(frozen=True)
class PreparedSource:
    """The source snapshot, and the source's configuration, which every target carries (aurora_ferry.core.carry)."""

    snapshot: SnapshotRef
    configuration: SourceConfiguration

    def to_json(self) -> dict[str, Any]:
        """The snapshot as the next steps read it ($.source), with the configuration beside it."""
        return {**self.snapshot.to_json(), "configuration": self.configuration.to_json()}


def prepare_source_snapshot(request: MigrationRequest, run_id: str) -> SnapshotRef:
    """Snapshot the source cluster, or resolve the given snapshot (prepare_source without the configuration)."""
    return prepare_source(request, run_id).snapshot


def prepare_source(request: MigrationRequest, run_id: str) -> PreparedSource:
    """Snapshot the source cluster, or resolve the given snapshot, and read the source's configuration where the
    step describes the source anyway.

    An automated snapshot cannot be shared, so it is copied to a manual one here, re-encrypted with the
    share key on the way when it is encrypted (one copy instead of two).
    """
    access = source_access(request)
    client = rds(access)
    if request.source.cluster_identifier:
        return _snapshot_cluster(client, access, request.source.cluster_identifier, run_id)
    assert request.source.snapshot_identifier is not None
    raw = require_snapshot(client, access, request.source.snapshot_identifier)
    # The snapshot's cluster as it is now, if it still exists; else what the snapshot itself records.
    cluster = (
        describe_cluster(client, access, raw["DBClusterIdentifier"])
        if raw.get("DBClusterIdentifier")
        else None
    )
    configuration = (
        configuration_from_snapshot(raw) if cluster is None else _from_cluster(client, access, cluster)
    )
    _require_known_instances(request, configuration)
    encryption = classify_encryption(
        access, bool(raw.get("StorageEncrypted")), raw.get("KmsKeyId"), raw.get("StorageEncryptionType")
    )
    if raw.get("SnapshotType") == "automated":
        # An AWS owned key (sse-rds) is encrypted too, and moves to the share key like any other.
        key = request.share_kms_key_arn if encrypted_at_rest(raw) else None
        copied = copy_snapshot(
            client,
            access,
            raw["DBClusterSnapshotArn"],
            naming.source_copy_id(run_id),
            key,
            run_id,
            "source-copy",
        )
        copy = snapshot_ref(copied, access, created_by_run=True, encryption=encryption, origin="copied")
        return PreparedSource(copy, configuration)
    return PreparedSource(
        snapshot_ref(raw, access, created_by_run=False, encryption=encryption), configuration
    )


def _snapshot_cluster(
    client: RDSClient, access: AccountAccess, cluster_id: str, run_id: str
) -> PreparedSource:
    with translated(access, f"describe source cluster {cluster_id}"):
        try:
            cluster = client.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
        except ClientError as error:
            if error_code(error) == "DBClusterNotFoundFault":
                raise SourceNotFoundError.in_account(
                    access, f"source cluster {cluster_id} not found"
                ) from error
            raise
    encryption = classify_encryption(
        access,
        bool(cluster.get("StorageEncrypted")),
        cluster.get("KmsKeyId"),
        cluster.get("StorageEncryptionType"),
    )
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
            raw = own_existing_snapshot(client, access, snapshot_id, run_id)
    metrics.add_metric(name="SnapshotsCreated", unit=MetricUnit.Count, value=1)
    snapshot = snapshot_ref(raw, access, created_by_run=True, encryption=encryption, origin="created")
    return PreparedSource(snapshot, _from_cluster(client, access, cluster))


def _from_cluster(client: RDSClient, access: AccountAccess, cluster: Any) -> SourceConfiguration:
    """The source cluster's configuration with its instances, which the targets mirror by default."""
    return replace(configuration_from_cluster(cluster), instances=source_instances(client, access, cluster))


def _require_known_instances(request: MigrationRequest, configuration: SourceConfiguration) -> None:
    """A source snapshot whose cluster no longer exists does not say what instances it had, and a cluster without
    instances has none to mirror: every target must then say which it wants, before anything is made in a target
    account (core.instance_plan)."""
    if configuration.instances:
        return
    why = (
        "the source cluster no longer exists" if configuration.origin == "snapshot" else "it has no instances"
    )
    problems = [
        unknown_instances_problem(f"targets[{index}]", why)
        for index, target in enumerate(request.targets)
        if target.instance_class is None and not target.instances
    ]
    if problems:
        raise InvalidInputError(problems)


# --- step 2: a snapshot the run owns, encrypted with the share key ------------------------------------


def prepare_shareable_snapshot(request: MigrationRequest, run_id: str, snapshot: SnapshotRef) -> SnapshotRef:
    """Copy the snapshot re-encrypted with the share key unless it already is the run's own such copy.

    A snapshot the run did not create is always copied, so sharing never modifies a caller's snapshot.
    An unencrypted Aurora snapshot cannot be encrypted by copying; it is shared unencrypted and each
    target encrypts at restore time with its own key.
    """
    access = source_access(request)
    has_share_key = snapshot.encrypted and same_key(snapshot.kms_key_id, request.share_kms_key_arn)
    if snapshot.created_by_run and (has_share_key or not snapshot.encrypted):
        return snapshot
    client = rds(access)
    key = request.share_kms_key_arn if snapshot.encrypted else None
    raw = copy_snapshot(client, access, snapshot.arn, naming.share_copy_id(run_id), key, run_id, "share-copy")
    return snapshot_ref(raw, access, created_by_run=True, encryption=snapshot.encryption, origin="copied")


# --- step 2b: a copy in a target's Region (options.crossRegionCopy "two-step") -------------------------


def copy_to_region(
    request: MigrationRequest, target: Target, run_id: str, share: SnapshotRef
) -> tuple[SnapshotRef, AccountAccess] | None:
    """For a target that copies in two steps, the source account's copy of the share copy in the target's
    Region under its share key there, and the access that reads it; None for any other target.

    The copy is called in the target's Region with SourceRegion (copy_snapshot), in the source's own account, so
    it needs no share. Targets in one Region share one copy: the second finds the first's (copy_snapshot).
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-copy-snapshot.html
    """
    if not copies_in_two_steps(request, target):
        return None
    access = region_access(request, target_region(request, target))
    key = share_key_in(request, access.region) if share.encrypted else None
    raw = copy_snapshot(
        rds(access),
        access,
        share.arn,
        naming.region_copy_id(run_id),
        key,
        run_id,
        naming.REGION_COPY_PURPOSE,
        source_region=share.region,
    )
    return snapshot_ref(
        raw, access, created_by_run=True, encryption=share.encryption, origin="copied"
    ), access


# --- step 3: share with the target accounts ----------------------------------------------------------


def share_snapshot(request: MigrationRequest, snapshot: SnapshotRef) -> dict[str, Any]:
    """Add the target accounts that read the snapshot (placement.readers_in its Region) to its restore
    attribute; never 'all'. A target that copies in two steps reads the copy in its own Region instead, so the
    share copy is shared only with the others, and each Region's copy with the targets there."""
    access = region_access(request, snapshot.region)
    _require_shareable(request, access, snapshot)
    client = rds(access)
    accounts = [target.account_id for target in readers_in(request, snapshot.region)]
    with translated(access, f"read sharing of {snapshot.identifier}"):
        attributes = client.describe_db_cluster_snapshot_attributes(
            DBClusterSnapshotIdentifier=snapshot.identifier
        )
    current = restore_accounts(attributes)
    if "all" in current:
        raise SnapshotNotShareableError.in_account(
            access, f"{snapshot.identifier} is public; refusing to continue with a public snapshot"
        )
    if len(current | set(accounts)) > MAX_SHARED_ACCOUNTS:
        raise SnapshotNotShareableError.in_account(
            access, f"{snapshot.identifier} would be shared with more than {MAX_SHARED_ACCOUNTS} accounts"
        )
    if not accounts:
        # Every target copies in two steps: each Region's copy is shared instead.
        return {"snapshotArn": snapshot.arn, "sharedWith": []}
    with translated(access, f"share {snapshot.identifier} with {', '.join(accounts)}"):
        client.modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier=snapshot.identifier, AttributeName="restore", ValuesToAdd=accounts
        )
    logger.info("snapshot shared", extra={"snapshot": snapshot.arn, "accounts": accounts})
    return {"snapshotArn": snapshot.arn, "sharedWith": accounts}


def _require_shareable(request: MigrationRequest, access: AccountAccess, snapshot: SnapshotRef) -> None:
    """Only the run's own manual snapshot, under the share key when encrypted, is ever shared."""
    if not snapshot.created_by_run:
        raise SnapshotNotShareableError.in_account(
            access, f"refusing to share {snapshot.identifier}: the run only shares snapshots it created"
        )
    if snapshot.snapshot_type != "manual":
        raise SnapshotNotShareableError.in_account(
            access,
            f"{snapshot.identifier} is an {snapshot.snapshot_type} snapshot; only manual snapshots can be shared",
        )
    share_key = share_key_in(request, snapshot.region)
    if snapshot.encrypted and not same_key(snapshot.kms_key_id, share_key):
        raise SnapshotNotShareableError.in_account(
            access,
            f"{snapshot.identifier} is encrypted with {snapshot.kms_key_id or 'an AWS owned key (sse-rds)'}, "
            f"not the share key {share_key}; snapshots under the default aws/rds key or an AWS owned key "
            "cannot be shared",
        )
