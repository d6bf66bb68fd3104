"""The quota checks: room in each account for the manual snapshots the run makes (and, where the quota
answer lists them, its clusters and instances), and whether its copies will queue behind Aurora's copy limit
in their destination Region."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from aurora_ferry.core import error_code, naming
from aurora_ferry.migration import MAX_COPIES_IN_PROGRESS, copies_in_progress, restores_from_share
from aurora_ferry.preflight.context import Account, Preflight, TargetAccount, rds_client
from aurora_ferry.preflight.plan import source_snapshots

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

# DescribeAccountAttributes names the quota "ManualClusterSnapshots"; its documented default is 100 per
# Region ("Manual DB cluster snapshots"), used when the answer lacks it or the call is not allowed:
# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_AccountQuota.html
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/CHAP_Limits.html
MANUAL_CLUSTER_SNAPSHOTS_QUOTA = "ManualClusterSnapshots"
DEFAULT_MANUAL_CLUSTER_SNAPSHOT_QUOTA = 100


def check_source_quotas(preflight: Preflight, account: Account) -> None:
    """Room in the source account for the snapshots the run makes there."""
    snapshots = source_snapshots(preflight, preflight.source)
    _check_quotas(preflight, account, snapshots, 0, 0)
    # Every snapshot the run makes there is a copy (the share copy, or the copy of an automated snapshot) but
    # the snapshot it takes of the cluster.
    _check_copy_queue(
        preflight, account, len([s for s in snapshots if s != naming.source_snapshot_id(preflight.run_id)])
    )


def check_region_quotas(preflight: Preflight, account: Account) -> None:
    """Room in a Region the source copies into (`account` is the source account there) for its copy there: one
    more manual snapshot of the source account in that Region (the quota is per Region), and one more copy whose
    destination is that Region (options.crossRegionCopy "two-step")."""
    _check_quotas(preflight, account, [naming.region_copy_id(preflight.run_id)], 0, 0)
    _check_copy_queue(preflight, account, 1)


def check_target_quotas(preflight: Preflight, account: TargetAccount) -> None:
    """Room in a target account for its copy (none when it restores straight from the shared snapshot), its
    cluster and its instances."""
    direct = restores_from_share(preflight.request, account.target)
    copies = [] if direct else [naming.target_copy_id(preflight.run_id)]
    _check_quotas(preflight, account, copies, 1, len(preflight.planned_instances(account.target)))
    _check_copy_queue(preflight, account, len(copies))


def _check_copy_queue(preflight: Preflight, account: Account, copies: int) -> None:
    """Aurora runs at most five cluster snapshot copies per destination Region and account: a copy that finds
    them all busy queues (CopyQueueFullError, retried every 5 minutes for up to 6 hours), which is worth saying
    before a run that would wait. Counted in the Region the copies land in (a cross-Region target's).
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-copy-snapshot.html"""
    if not copies:
        return
    access = account.access
    in_progress = copies_in_progress(rds_client(account.session), access)
    if in_progress + copies <= MAX_COPIES_IN_PROGRESS:
        return
    preflight.add(
        "warning",
        "copy-queue",
        access.account_id,
        access.region,
        f"account {access.account_id} has {in_progress} cluster snapshot copies in progress in {access.region}, "
        f"and Aurora runs at most {MAX_COPIES_IN_PROGRESS} per destination Region and account: this run's "
        f"{copies} cop{'y' if copies == 1 else 'ies'} there will queue until others end (retried every 5 "
        "minutes for up to 6 hours).",
    )


def _check_quotas(
    preflight: Preflight, account: Account, snapshots: list[str], clusters: int, instances: int
) -> None:
    """Room for the manual snapshots (and, where the quota answer has them, clusters and instances)."""
    rds = rds_client(account.session)
    account_id = account.access.account_id
    quotas, unavailable = _account_quotas(rds)
    if snapshots:
        _check_snapshot_quota(preflight, account, rds, quotas, unavailable, snapshots)
    for quota, needed in (("DBClusters", clusters), ("DBInstances", instances)):
        if not needed or quota not in quotas:
            continue
        used, most = quotas[quota]
        if most - used < needed:
            preflight.add(
                "error",
                "account-quota",
                account_id,
                quota,
                f"account {account_id} uses {used} of {most} {quota} in {account.access.region}; this run adds "
                f"{needed}. Free some or ask for a higher quota in Service Quotas.",
            )


def _check_snapshot_quota(
    preflight: Preflight,
    account: Account,
    rds: RDSClient,
    quotas: dict[str, tuple[int, int]],
    unavailable: str,
    snapshots: list[str],
) -> None:
    account_id = account.access.account_id
    if MANUAL_CLUSTER_SNAPSHOTS_QUOTA in quotas:
        limit = quotas[MANUAL_CLUSTER_SNAPSHOTS_QUOTA][1]
        basis = f"quota {MANUAL_CLUSTER_SNAPSHOTS_QUOTA}"
    else:
        limit = DEFAULT_MANUAL_CLUSTER_SNAPSHOT_QUOTA
        basis = f"assumed the documented default: {unavailable or 'quota not in the answer'}"
    count = 0
    for page in rds.get_paginator("describe_db_cluster_snapshots").paginate(SnapshotType="manual"):
        count += len(page.get("DBClusterSnapshots", []))
    names = ", ".join(snapshots)
    if limit - count < len(snapshots):
        preflight.add(
            "error",
            "snapshot-quota",
            account_id,
            MANUAL_CLUSTER_SNAPSHOTS_QUOTA,
            f"account {account_id} has {count} manual cluster snapshots in {account.access.region} and may have "
            f"{limit} ({basis}); this run creates {len(snapshots)} ({names}), so it would fail with "
            "SnapshotQuotaExceeded. Delete manual cluster snapshots you no longer need, or ask for a "
            "higher 'Manual DB cluster snapshots' quota in Service Quotas.",
        )
    else:
        preflight.add(
            "info",
            "snapshot-quota",
            account_id,
            MANUAL_CLUSTER_SNAPSHOTS_QUOTA,
            f"{count} of {limit} manual cluster snapshots used in {account.access.region} ({basis}); this run "
            "creates "
            f"{len(snapshots)} ({names}).",
        )


def _account_quotas(rds: RDSClient) -> tuple[dict[str, tuple[int, int]], str]:
    """{quota name: (used, max)} from DescribeAccountAttributes, or ({}, why it is unavailable)."""
    try:
        answer = rds.describe_account_attributes()
    except ClientError as error:
        return {}, f"rds:DescribeAccountAttributes: {error_code(error)}"
    except (BotoCoreError, NotImplementedError) as error:
        # moto does not implement DescribeAccountAttributes.
        return {}, f"DescribeAccountAttributes unavailable: {error}"
    quotas: dict[str, tuple[int, int]] = {}
    for quota in answer.get("AccountQuotas", []):
        name = quota.get("AccountQuotaName")
        if name:
            quotas[name] = (int(quota.get("Used", 0)), int(quota.get("Max", 0)))
    return quotas, ""
