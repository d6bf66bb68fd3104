"""The migration's last step: unshare and delete (per options.cleanup) the intermediate snapshots the run
made, in the source and in every target; and, with options.keepTargetCopies, retire the older target copies
earlier runs kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from aurora_ferry.core import (
    AccountAccess,
    AssumeRoleError,
    ConfigurationError,
    SharedSnapshotInUseError,
    delete_unused_groups,
    describe_cluster,
    describe_snapshot,
    error_code,
    left_in_place,
    logger,
    metrics,
    naming,
    rds,
    translated,
)
from aurora_ferry.migration.contract import CleanupPolicy, MigrationRequest, OnExisting, Target
from aurora_ferry.migration.copies import kept_copies_of, restore_accounts
from aurora_ferry.migration.leftovers import (
    NOT_DELETABLE_YET_CODES,
    REDRIVE_WINDOW_SECONDS,
    LeftoverStore,
    record_leftover,
)
from aurora_ferry.migration.placement import (
    copy_regions,
    region_access,
    restores_from_share,
    source_access,
    target_access,
)
from aurora_ferry.migration.swap import roll_back_swaps

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient


def cleanup(
    request: MigrationRequest,
    run_id: str,
    leftovers: LeftoverStore | None = None,
    *,
    park: bool = False,
    succeeded: bool = False,
    wait_for_restores: bool = True,
    attempt: int = 0,
) -> dict[str, Any]:
    """Unshare and delete, per the policy, the intermediate snapshots this run made.

    Found by their deterministic names and deleted only when they carry this run's tags, so cleanup
    after a failure needs no state from the failed branch and can never touch the caller's snapshots.
    A snapshot that cannot be deleted yet is reported as left in place rather than failing the run, and,
    given a leftover store, recorded there so that the scheduled retry deletes it once it is available.

    A parked run (`park`) unshares the same way but deletes nothing: what the policy would delete is recorded
    for the scheduled retry to delete once the run can no longer be redriven (README "Redrive").

    With options.keepTargetCopies, a run that `succeeded` (the success path's own cleanup says so) and delivered
    every target then keeps, per target cluster, only the
    newest N copies kept by runs (this run's included) and deletes the older ones (README "Cleanup").

    While a target still restores straight from the shared snapshot, nothing is unshared or deleted: the cleanup
    raises SharedSnapshotInUseError, which the state machine retries (README "Direct restore"). Only the cleanup
    of a run that already ended goes on regardless (`wait_for_restores` false): nothing may stay shared after a
    run, even for a restore still reading it. On its first `attempt` (the task's retry count) it also waits for
    a restore that may still be starting (see _require_restores_done).
    """
    policy = request.options.cleanup
    if park and leftovers is None:
        raise ConfigurationError("a parked run's intermediates are kept only if recorded: no leftover table")
    actions: list[dict[str, Any]] = []

    def delete(client: RDSClient, access: AccountAccess, raw: Any) -> dict[str, Any]:
        if park and leftovers is not None:
            return _keep_for_redrive(leftovers, access, raw, run_id)
        return _delete(client, access, raw, run_id, leftovers)

    target_ids = [target.account_id for target in request.targets]
    owned = _owned_in_source(request, run_id)
    if wait_for_restores:
        # Only an account a snapshot is still shared with can be starting a restore from it.
        shared_with = set[str]().union(*(current for *_, current in owned))
        _require_restores_done(request, run_id, starting_in=shared_with if attempt == 0 else set())
    for client, access, raw, current in owned:
        actions.append(_unshare(client, access, raw, current, target_ids))
        if policy in (CleanupPolicy.DELETE, CleanupPolicy.KEEP_TARGET_COPIES):
            actions.append(delete(client, access, raw))
        else:
            actions.append(_kept(access, raw))
    keep = request.options.keep_target_copies if succeeded and not park else None
    if keep is not None and not all(_delivered(request, target, run_id) for target in request.targets):
        # Only a run that delivered every target retires older copies (see _delivered).
        logger.info("run did not deliver every target; older target copies are left as they are")
        keep = None
    for target in request.targets:
        access = target_access(request, target)
        client = rds(access)
        raw = _owned_snapshot(client, access, naming.target_copy_id(run_id), run_id)
        if raw is None:
            continue
        actions.append(delete(client, access, raw) if policy is CleanupPolicy.DELETE else _kept(access, raw))
        if keep is not None and policy is CleanupPolicy.KEEP_TARGET_COPIES:
            actions.extend(_retain_newest(client, access, raw, target.cluster_identifier, keep))
    if not succeeded and not park:
        # A failed run's parameter groups (core.parameter_groups), unless its clusters still use them; a parked
        # run's restore still needs them after a redrive.
        for target in request.targets:
            access = target_access(request, target)
            try:
                actions += delete_unused_groups(rds(access), access, run_id)
            except ClientError as error:
                # Reported, not raised, as a snapshot left in place: the rest of the cleanup must go on (a
                # target stack older than parameter group replication cannot even list its groups).
                logger.warning("could not clean up parameter groups", extra={"error": str(error)})
                reason = f"parameter groups of run {run_id} not checked: {error_code(error)}: {error}"
                partition = access.role_arn.split(":")[1]
                groups = f"arn:{partition}:rds:{access.region}:{access.account_id}:cluster-pg:*"
                actions.append(left_in_place(access, groups, reason))
    # Last, after every share is withdrawn: a refresh in place that failed before the old cluster was deleted
    # puts it back under its name (which may wait for a rename in progress).
    actions += roll_back_swaps(request, run_id)
    return {"policy": policy.value, "actions": [a for a in actions if a]}


def _owned_in_source(
    request: MigrationRequest, run_id: str
) -> list[tuple[RDSClient, AccountAccess, Any, set[str]]]:
    """Each of the run's snapshots in the source account, with the client and access that reach it and who it is
    shared with (read once: the wait for restores and the unshare both need it): those in the source's Region,
    then its copies in the targets' Regions (options.crossRegionCopy "two-step")."""
    source = source_access(request)
    places = [
        (
            source,
            (naming.share_copy_id(run_id), naming.source_copy_id(run_id), naming.source_snapshot_id(run_id)),
        ),
        *(
            (region_access(request, region), (naming.region_copy_id(run_id),))
            for region in copy_regions(request)
        ),
    ]
    owned = []
    for access, identifiers in places:
        client = rds(access)
        for identifier in identifiers:
            raw = _owned_snapshot(client, access, identifier, run_id)
            if raw is not None:
                owned.append((client, access, raw, _shared_with(client, access, raw)))
    return owned


def _require_restores_done(request: MigrationRequest, run_id: str, *, starting_in: set[str]) -> None:
    """Raise SharedSnapshotInUseError while a cluster of this run is still being restored from the shared
    snapshot. AWS documents no outcome for a restore whose snapshot is unshared or deleted under it, so the run
    waits: a failed target's neighbours, stopped mid-restore by the Map, finish restoring first.

    A stopped Map cannot stop a RestoreCluster call already running, which may start a restore just after this
    looks. So a target of `starting_in` (on the task's first attempt, the accounts the snapshot is still shared
    with) that restores from the share and has no cluster yet counts as still starting: the retry, minutes later
    (the task's retry interval, above any function's timeout), looks again.
    A target this cannot reach (its role, or a refusal) is skipped, with a warning: the unshare must not wait
    on it."""
    reading = []
    for target in (t for t in request.targets if restores_from_share(request, t)):
        access = target_access(request, target)
        try:
            # A replacement is restored under a temporary name (swap.temporary_name).
            names = [target.cluster_identifier]
            if target.on_existing is OnExisting.REPLACE:
                names.append(naming.replacement_cluster_id(run_id))
            clusters = [describe_cluster(rds(access), access, cluster_id) for cluster_id in names]
        except (AssumeRoleError, ClientError) as error:
            logger.warning(
                "cannot check the target for a restore from the share; unsharing anyway",
                extra={"account": target.account_id, "error": str(error)},
            )
            continue
        ours = [
            c for c in clusters if c is not None and naming.is_tagged_by_run(c.get("TagList", []), run_id)
        ]
        if any(c.get("Status") == "creating" for c in ours):
            reading.append(f"{target.cluster_identifier} in {target.account_id}")
        elif target.account_id in starting_in and not ours:
            reading.append(
                f"{target.cluster_identifier} in {target.account_id} (its restore may be starting)"
            )
    if reading:
        raise SharedSnapshotInUseError(
            "the shared snapshot is not unshared or deleted while clusters are still being restored from it: "
            + ", ".join(reading)
        )


# --- retention (options.keepTargetCopies) -----------------------------------------------------------------


def _delivered(request: MigrationRequest, target: Target, run_id: str) -> bool:
    """Did this run deliver the target: its cluster, made by this run, available with every instance available?

    Only the success path's cleanup asks (`succeeded`); this checks it against what the run left in AWS too.
    A parked run never gets here.
    """
    access = target_access(request, target)
    client = rds(access)
    cluster_id = target.cluster_identifier
    cluster = describe_cluster(client, access, cluster_id)
    if cluster is None or cluster.get("Status") != "available":
        return False
    if not naming.is_tagged_by_run(cluster.get("TagList", []), run_id):
        return False
    with translated(access, f"check target cluster {cluster_id} before retiring older copies"):
        instances = client.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [cluster_id]}])
    available = [i for i in instances["DBInstances"] if i.get("DBInstanceStatus") == "available"]
    # The count the target asked for, if it did; a mirrored count is the source's, which this step does not
    # carry: then every instance the cluster has, and at least one, must be available.
    wanted = len(target.instances) if target.instances else target.instance_count
    return len(available) >= (wanted or max(1, len(instances["DBInstances"])))


def _retain_newest(
    client: RDSClient, access: AccountAccess, own: Any, cluster_id: str, keep: int
) -> list[dict[str, Any]]:
    """Tag this run's copy with its cluster, then delete all but the newest `keep` copies kept for that cluster.

    This run's copy is always one of those kept, whatever the snapshots' times say. What is deleted carries the
    managed tag, the target-copy purpose and this cluster's tag (copies.kept_copies_of), and is available.
    """
    own_arn = own["DBClusterSnapshotArn"]
    with translated(access, f"tag {own['DBClusterSnapshotIdentifier']} with its target cluster {cluster_id}"):
        # The member role tags only in requests that carry the managed tag (member-accounts/target-account.yaml,
        # TagOnlyAsManaged), so the request repeats the tag the copy already has.
        client.add_tags_to_resource(
            ResourceName=own_arn,
            Tags=[
                {"Key": naming.MANAGED_TAG, "Value": "true"},
                {"Key": naming.TARGET_CLUSTER_TAG, "Value": cluster_id.lower()},
            ],
        )
    older = [
        snap for snap in kept_copies_of(client, access, cluster_id) if snap["DBClusterSnapshotArn"] != own_arn
    ]
    return [_retire(client, access, snap, cluster_id, keep) for snap in older[keep - 1 :]]


def _retire(client: RDSClient, access: AccountAccess, raw: Any, cluster_id: str, keep: int) -> dict[str, Any]:
    # Reported, not raised: the run delivered its targets, and the next run retries the same deletion.
    refused = _deletion_refused(
        client, access, raw, "delete older target copy", "could not delete an older target copy"
    )
    if refused is not None:
        return _left_refused(access, raw, refused)
    metrics.add_metric(name="OlderTargetCopiesDeleted", unit=MetricUnit.Count, value=1)
    return {
        "action": "deleted-older-copy",
        "accountId": access.account_id,
        "arn": raw["DBClusterSnapshotArn"],
        "cluster": cluster_id,
        "keep": keep,
    }


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


def _shared_with(client: RDSClient, access: AccountAccess, raw: Any) -> set[str]:
    identifier = raw["DBClusterSnapshotIdentifier"]
    with translated(access, f"read sharing of {identifier}"):
        return restore_accounts(
            client.describe_db_cluster_snapshot_attributes(DBClusterSnapshotIdentifier=identifier)
        )


def _unshare(
    client: RDSClient, access: AccountAccess, raw: Any, current: set[str], accounts: list[str]
) -> dict[str, Any]:
    """Withdraw `accounts` from those the snapshot is `current`ly shared with."""
    identifier = raw["DBClusterSnapshotIdentifier"]
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
    # Reported, not raised: cleanup must go on to the other snapshots, and the summary tells the operator
    # exactly what is left and why.
    refused = _deletion_refused(client, access, raw, "delete", "could not delete intermediate snapshot")
    if refused is not None:
        action = _left_refused(access, raw, refused)
        if leftovers is not None and error_code(refused) in NOT_DELETABLE_YET_CODES:
            action["retryUntil"] = record_leftover(leftovers, access, raw, run_id).retry_until_iso
        return action
    metrics.add_metric(name="IntermediatesDeleted", unit=MetricUnit.Count, value=1)
    return {"action": "deleted", "accountId": access.account_id, "arn": raw["DBClusterSnapshotArn"]}


def _deletion_refused(
    client: RDSClient, access: AccountAccess, raw: Any, action: str, warning: str
) -> ClientError | None:
    """`action` (a deletion) on the snapshot `raw`; AWS's refusal is logged with `warning` and returned, not
    raised: the caller reports it."""
    identifier = raw["DBClusterSnapshotIdentifier"]
    try:
        with translated(access, f"{action} {identifier}"):
            client.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=identifier)
    except ClientError as error:
        logger.warning(warning, extra={"snapshot": identifier, "error": str(error)})
        return error
    return None


def _left_refused(access: AccountAccess, raw: Any, error: ClientError) -> dict[str, Any]:
    return left_in_place(access, raw["DBClusterSnapshotArn"], f"{error_code(error)}: {error}")


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
