"""The migration's last step: unshare and delete (per options.cleanup) the intermediate snapshots the run
made, in the source and in every target."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from aurora_ferry.core import (
    AccountAccess,
    ConfigurationError,
    describe_snapshot,
    error_code,
    logger,
    metrics,
    naming,
    rds,
    translated,
)
from aurora_ferry.migration.contract import CleanupPolicy, MigrationRequest, source_access, target_access
from aurora_ferry.migration.copies import restore_accounts
from aurora_ferry.migration.leftovers import (
    NOT_DELETABLE_YET_CODES,
    REDRIVE_WINDOW_SECONDS,
    LeftoverStore,
    record_leftover,
)

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient


def cleanup(
    request: MigrationRequest,
    run_id: str,
    leftovers: LeftoverStore | None = None,
    *,
    park: bool = False,
) -> dict[str, Any]:
    """Unshare and delete, per the policy, the intermediate snapshots this run made.

    Found by their deterministic names and deleted only when they carry this run's tags, so cleanup
    after a failure needs no state from the failed branch and can never touch the caller's snapshots.
    A snapshot that cannot be deleted yet is reported as left in place rather than failing the run, and,
    given a leftover store, recorded there so that the scheduled retry deletes it once it is available.

    A parked run (`park`) unshares the same way but deletes nothing: what the policy would delete is recorded
    for the scheduled retry to delete once the run can no longer be redriven (README "Redrive").
    """
    policy = request.options.cleanup
    if park and leftovers is None:
        raise ConfigurationError("a parked run's intermediates are kept only if recorded: no leftover table")
    actions: list[dict[str, Any]] = []

    def delete(client: RDSClient, access: AccountAccess, raw: Any) -> dict[str, Any]:
        if park and leftovers is not None:
            return _keep_for_redrive(leftovers, access, raw, run_id)
        return _delete(client, access, raw, run_id, leftovers)

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
            actions.append(delete(source_client, source, raw))
        else:
            actions.append(_kept(source, raw))
    for target in request.targets:
        access = target_access(request, target)
        client = rds(access)
        raw = _owned_snapshot(client, access, naming.target_copy_id(run_id), run_id)
        if raw is None:
            continue
        actions.append(delete(client, access, raw) if policy is CleanupPolicy.DELETE else _kept(access, raw))
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
        current = restore_accounts(
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


def _keep_for_redrive(
    leftovers: LeftoverStore, access: AccountAccess, raw: Any, run_id: str
) -> dict[str, Any]:
    leftover = record_leftover(leftovers, access, raw, run_id, keep_seconds=REDRIVE_WINDOW_SECONDS)
    return {
        "action": "kept-for-redrive",
        "accountId": access.account_id,
        "arn": raw["DBClusterSnapshotArn"],
        "deleteAfter": datetime.fromtimestamp(leftover.not_before, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _kept(access: AccountAccess, raw: Any) -> dict[str, Any]:
    return {"action": "kept", "accountId": access.account_id, "arn": raw["DBClusterSnapshotArn"]}
