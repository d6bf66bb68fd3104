"""Refresh in place (targets[].onExisting "replace"): the new target cluster, restored under a temporary name,
takes the old cluster's name, and the old cluster is deleted (README "Refresh in place").

The swap is driven by one poll step that looks at what AWS shows and does the next thing AWS allows, so it is
safe to run again at any point (a retry, a redrive):

1. the old cluster still has the name: tag it and its instances (who renamed them, and each instance's name),
   then rename them aside (`ferry-<run>-old`);
2. the name is free and the new cluster available: rename it and its instances into the old names;
3. the new cluster answers under the name: delete the old instances and the old cluster (a final snapshot
   unless the input says otherwise).

A rename frees the old name at once; the renamed resource is "renaming" (not available) until its new name is
effective, about two minutes for a cluster and ten for an instance
(https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RenameInstance.html). Until step 3 nothing is
deleted, and `roll_back_swaps` (run by every cleanup) puts the old cluster back under its name
(aurora_ferry.core.renames does the renames).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aurora_ferry.core import (
    AccountAccess,
    cluster_ready,
    describe_snapshot,
    described_instance,
    found_cluster,
    logger,
    naming,
    rds,
    roll_back_rename,
    serving,
    swap_into_place,
    translated,
)
from aurora_ferry.migration.contract import MigrationRequest, OnExisting, Target
from aurora_ferry.migration.placement import target_access

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

__all__ = ["roll_back_swaps", "swap_step", "temporary_name"]


def temporary_name(client: RDSClient, access: AccountAccess, target: Target, run_id: str) -> str | None:
    """The name the run restores the target under when it replaces a cluster: the temporary one while another
    cluster holds the target's name, or while this run's new cluster holds it and the old one is still aside
    (a repeated step); None when the run restores under the target's own name."""
    if target.on_existing is not OnExisting.REPLACE:
        return None
    current = found_cluster(client, access, target.cluster_identifier)
    if current is None:
        return None
    if not naming.is_tagged_by_run(current.get("TagList", []), run_id):
        return naming.replacement_cluster_id(run_id)
    aside = found_cluster(client, access, naming.replaced_cluster_id(run_id))
    return target.cluster_identifier if aside is not None else None


def swap_step(request: MigrationRequest, target: Target, run_id: str, attempt: int) -> dict[str, Any]:
    """One check of the swap: the next step AWS allows now, and whether the swap is done."""
    access = target_access(request, target)
    client = rds(access)
    name, new_name, aside_name = (
        target.cluster_identifier,
        naming.replacement_cluster_id(run_id),
        naming.replaced_cluster_id(run_id),
    )
    status, swapped = swap_into_place(client, access, name, new_name, aside_name, run_id)
    if swapped is None:
        return _polled(attempt, status)
    aside = found_cluster(client, access, aside_name)
    if aside is None or aside["Status"] == "deleting":
        return {
            **_polled(attempt, "swapped", ready=True),
            **serving(client, access, swapped),
            "replaced": aside_name,
        }
    return _polled(attempt, _retire(client, access, aside, target, run_id), ready=False)


def _polled(attempt: int, status: str, *, ready: bool = False) -> dict[str, Any]:
    return {"attempt": attempt + 1, "ready": ready, "status": status}


def _retire(
    client: RDSClient, access: AccountAccess, aside: dict[str, Any], target: Target, run_id: str
) -> str:
    """Takes the final snapshot (a manual snapshot tagged as the tool's: DeleteDBCluster's own final snapshot
    cannot carry tags in the request, which the target role requires of every snapshot it makes), then deletes
    the old instances and the old cluster; the instances need not be gone first, only deleting
    (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_DeleteCluster.html)."""
    name = aside["DBClusterIdentifier"]
    if not cluster_ready(client, access, aside):
        return f"{name} {aside['Status']}, waiting to delete it"
    if target.final_snapshot:
        final = naming.final_snapshot_id(run_id)
        snapshot = describe_snapshot(client, access, final)
        if snapshot is None:
            with translated(access, f"take the final snapshot {final} of {name}"):
                client.create_db_cluster_snapshot(
                    DBClusterIdentifier=name,
                    DBClusterSnapshotIdentifier=final,
                    Tags=naming.tags_for(run_id, "final-snapshot"),  # type: ignore[arg-type]
                )
            return f"taking the final snapshot {final}"
        if snapshot["Status"] != "available":
            return f"final snapshot {final} {snapshot['Status']}"
    with translated(access, f"delete the replaced cluster {name}"):
        if aside.get("DeletionProtection"):
            client.modify_db_cluster(
                DBClusterIdentifier=name, DeletionProtection=False, ApplyImmediately=True
            )
        for member in aside.get("DBClusterMembers", []):
            instance = described_instance(client, access, member["DBInstanceIdentifier"])
            if instance["DBInstanceStatus"] != "deleting":
                client.delete_db_instance(DBInstanceIdentifier=member["DBInstanceIdentifier"])
        client.delete_db_cluster(DBClusterIdentifier=name, SkipFinalSnapshot=True)
    logger.info(
        "deleting the replaced cluster", extra={"cluster": name, "final_snapshot": target.final_snapshot}
    )
    return f"{name} deleting"


def roll_back_swaps(request: MigrationRequest, run_id: str) -> list[dict[str, Any]]:
    """After a failure before the old cluster is deleted: the old cluster back under its name, this run's new
    cluster (kept, like any target cluster a failed run made) under its temporary one."""
    actions: list[dict[str, Any]] = []
    for target in request.targets:
        if target.on_existing is OnExisting.REPLACE:
            access = target_access(request, target)
            temporary = naming.replacement_cluster_id(run_id)
            actions += roll_back_rename(rds(access), access, target.cluster_identifier, temporary, run_id)
    return actions
