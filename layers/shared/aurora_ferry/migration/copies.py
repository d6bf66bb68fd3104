"""Cluster snapshot copies as every copying step makes them: tagged for the run, found again by a retried
step, and queued (not failed) while the account's copy queue is full."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from aurora_ferry.core import (
    AccountAccess,
    CopyQueueFullError,
    TargetConflictError,
    describe_snapshot,
    error_code,
    metrics,
    naming,
    require_snapshot,
    translated,
)

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

# "You can have up to five snapshot copy requests in progress to a single destination Region per account."
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-copy-snapshot.html
MAX_COPIES_IN_PROGRESS = 5
MAX_SNAPSHOT_PAGES = 50
# Sorts a snapshot without a creation time (not yet reported) as the oldest.
_NEVER = datetime.min.replace(tzinfo=UTC)


def copy_snapshot(
    client: RDSClient,
    access: AccountAccess,
    source_identifier: str,
    copy_id: str,
    kms_key_id: str | None,
    run_id: str,
    purpose: str,
    source_region: str | None = None,
) -> Any:
    """Copy a cluster snapshot to ``copy_id`` tagged for the run, re-encrypted with ``kms_key_id`` if given.

    A ``source_region`` other than the client's copies across Regions (and accounts) in one step, called in the
    destination Region: SourceRegion makes boto3 add the PreSignedUrl, which AWS requires only in GovCloud.
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBClusterSnapshot.html
    """
    params: dict[str, Any] = {
        "SourceDBClusterSnapshotIdentifier": source_identifier,
        "TargetDBClusterSnapshotIdentifier": copy_id,
        "Tags": naming.tags_for(run_id, purpose),
    }
    if source_region and source_region != access.region:
        params["SourceRegion"] = source_region
    # AWS refuses a KmsKeyId on an unencrypted cluster snapshot copy (it cannot encrypt on copy).
    if kms_key_id:
        params["KmsKeyId"] = kms_key_id
    # A retried step finds the copy it started last time, even while the copy queue is full.
    if describe_snapshot(client, access, copy_id) is not None:
        return own_existing_snapshot(client, access, copy_id, run_id)
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
            raw = own_existing_snapshot(client, access, copy_id, run_id)
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


def kept_copies_of(client: RDSClient, access: AccountAccess, cluster_identifier: str) -> list[Any]:
    """The account's available manual cluster snapshots that are managed target copies kept for the target cluster
    ``cluster_identifier`` (naming.is_target_copy_of), newest first.

    Only ``available`` ones: a copy in any other state is still being copied (deleting it would cancel the copy:
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBClusterSnapshot.html) or already going.
    Only snapshots named like a run's target copy are looked at, and each one's tags are read before it counts.
    Bounded: at most MAX_SNAPSHOT_PAGES pages are read.
    """
    found: list[Any] = []
    with translated(access, f"list the kept copies of cluster {cluster_identifier}"):
        pages = client.get_paginator("describe_db_cluster_snapshots").paginate(SnapshotType="manual")
        for number, page in enumerate(pages):
            for snap in page.get("DBClusterSnapshots", []):
                if snap.get("Status") != "available" or not naming.is_target_copy_id(
                    snap["DBClusterSnapshotIdentifier"]
                ):
                    continue
                arn = snap["DBClusterSnapshotArn"]
                tags = client.list_tags_for_resource(ResourceName=arn).get("TagList", [])
                if naming.is_target_copy_of(tags, cluster_identifier):  # type: ignore[arg-type]
                    found.append(snap)
            if number + 1 >= MAX_SNAPSHOT_PAGES:
                break
    # Newest first by the time the copy was made; the identifier breaks ties, so the order is always the same.
    return sorted(
        found,
        key=lambda snap: (snap.get("SnapshotCreateTime") or _NEVER, snap["DBClusterSnapshotIdentifier"]),
        reverse=True,
    )


def _queue_full(access: AccountAccess, copy_id: str, in_progress: int) -> CopyQueueFullError:
    return CopyQueueFullError.in_account(
        access,
        f"{in_progress} cluster snapshot copies are already in progress in {access.region} (Aurora allows "
        f"{MAX_COPIES_IN_PROGRESS} per destination Region and account); {copy_id} is queued and retried",
    )


def own_existing_snapshot(client: RDSClient, access: AccountAccess, identifier: str, run_id: str) -> Any:
    """A retried step finds the snapshot it made last time; anything else with that name is a conflict."""
    raw = require_snapshot(client, access, identifier)
    tags = client.list_tags_for_resource(ResourceName=raw["DBClusterSnapshotArn"]).get("TagList", [])
    if not naming.is_tagged_by_run(tags, run_id):  # type: ignore[arg-type]
        raise TargetConflictError.in_account(
            access, f"cluster snapshot {identifier} already exists and was not made by run {run_id}"
        )
    return raw


def same_key(kms_key_id: str | None, key_arn: str) -> bool:
    """Is the snapshot's key (an ARN, or a bare key id) the key ``key_arn``?"""
    if not kms_key_id:
        return False
    return kms_key_id == key_arn or kms_key_id == key_arn.rsplit("/", 1)[-1]


def restore_accounts(attributes: Any) -> set[str]:
    """The accounts a DescribeDBClusterSnapshotAttributes answer shares the snapshot with."""
    for attribute in attributes.get("DBClusterSnapshotAttributesResult", {}).get(
        "DBClusterSnapshotAttributes", []
    ):
        if attribute.get("AttributeName") == "restore":
            return set(attribute.get("AttributeValues", []))
    return set()
