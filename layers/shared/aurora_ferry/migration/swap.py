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
deleted, and `roll_back_swap` (run by every cleanup) puts the old cluster back under its name.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from aurora_ferry.core import (
    AccountAccess,
    TargetConflictError,
    describe_cluster,
    describe_snapshot,
    error_code,
    logger,
    naming,
    rds,
    translated,
)
from aurora_ferry.migration.contract import MigrationRequest, OnExisting, Target, target_access

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rds.type_defs import TagTypeDef

__all__ = ["roll_back_swaps", "swap_step", "temporary_name"]

ROLLBACK_WAIT_SECONDS = 180
ROLLBACK_CHECK_SECONDS = 15
# The target role may add tags only with the managed tag in the request (it is on the resource already).
_MANAGED: TagTypeDef = {"Key": naming.MANAGED_TAG, "Value": "true"}


def temporary_name(client: RDSClient, access: AccountAccess, target: Target, run_id: str) -> str | None:
    """The name the run restores the target under when it replaces a cluster: the temporary one while another
    cluster holds the target's name, or while this run's new cluster holds it and the old one is still aside
    (a repeated step); None when the run restores under the target's own name."""
    if target.on_existing is not OnExisting.REPLACE:
        return None
    current = _cluster(client, access, target.cluster_identifier)
    if current is None:
        return None
    if not naming.is_tagged_by_run(current.get("TagList", []), run_id):
        return naming.replacement_cluster_id(run_id)
    aside = _cluster(client, access, naming.replaced_cluster_id(run_id))
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
    current = _cluster(client, access, name)
    if current is not None and not naming.is_tagged_by_run(current.get("TagList", []), run_id):
        return _polled(attempt, _rename_aside(client, access, current, run_id, aside_name))
    if current is None:
        return _polled(attempt, _rename_into_place(client, access, target, new_name))
    if not _ready(client, access, current):
        return _polled(attempt, f"{name} renaming")
    aside = _cluster(client, access, aside_name)
    if aside is None or aside["Status"] == "deleting":
        return {**_polled(attempt, "swapped", ready=True), **_swapped(client, access, current, aside_name)}
    return _polled(attempt, _retire(client, access, aside, target, run_id), ready=False)


def _swapped(client: RDSClient, access: AccountAccess, cluster: dict[str, Any], aside: str) -> dict[str, Any]:
    """What the run reports of a replaced target: the cluster and instances under their new ARNs (an ARN
    names the identifier), its endpoints (the old cluster's), and the old cluster's name while deleted."""
    members = sorted(m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", []))
    return {
        "cluster": {
            "clusterArn": cluster["DBClusterArn"],
            "clusterIdentifier": cluster["DBClusterIdentifier"],
        },
        "endpoint": cluster.get("Endpoint"),
        "readerEndpoint": cluster.get("ReaderEndpoint"),
        "instanceArns": [_instance(client, access, member)["DBInstanceArn"] for member in members],
        "replaced": aside,
    }


def _polled(attempt: int, status: str, *, ready: bool = False) -> dict[str, Any]:
    return {"attempt": attempt + 1, "ready": ready, "status": status}


def _rename_aside(
    client: RDSClient, access: AccountAccess, current: dict[str, Any], run_id: str, aside: str
) -> str:
    name = current["DBClusterIdentifier"]
    tags = {t["Key"]: t["Value"] for t in current.get("TagList", [])}
    if tags.get(naming.MANAGED_TAG) != "true":
        # Preflight refuses this already; checked again because the name could have been taken since.
        raise TargetConflictError(
            f"cluster {name} was not made by aurora-ferry: onExisting 'replace' does not replace it",
            account_id=access.account_id,
            region=access.region,
        )
    if not _ready(client, access, current):
        return f"{name} {current['Status']}, waiting to rename it aside"
    members = [m["DBInstanceIdentifier"] for m in current.get("DBClusterMembers", [])]
    with translated(access, f"rename {name} aside to {aside}"):
        client.add_tags_to_resource(
            ResourceName=current["DBClusterArn"],
            Tags=[_MANAGED, {"Key": naming.REPLACED_BY_TAG, "Value": run_id}],
        )
        for number, member in enumerate(sorted(members)):
            arn = _instance(client, access, member)["DBInstanceArn"]
            client.add_tags_to_resource(
                ResourceName=arn,
                Tags=[
                    _MANAGED,
                    {"Key": naming.REPLACED_BY_TAG, "Value": run_id},
                    {"Key": naming.REPLACED_NAME_TAG, "Value": member},
                ],
            )
            client.modify_db_instance(
                DBInstanceIdentifier=member,
                NewDBInstanceIdentifier=naming.instance_id(aside, number),
                ApplyImmediately=True,
            )
        client.modify_db_cluster(
            DBClusterIdentifier=name, NewDBClusterIdentifier=aside, ApplyImmediately=True
        )
    logger.info("renamed the replaced cluster aside", extra={"cluster": name, "aside": aside})
    return f"{name} renamed aside to {aside}"


def _rename_into_place(client: RDSClient, access: AccountAccess, target: Target, new_name: str) -> str:
    name = target.cluster_identifier
    new = _cluster(client, access, new_name)
    if new is None:
        raise TargetConflictError(
            f"neither {name} nor this run's new cluster {new_name} exists: the swap cannot go on",
            account_id=access.account_id,
            region=access.region,
        )
    if not _ready(client, access, new):
        return f"{new_name} {new['Status']}, waiting to rename it to {name}"
    members = sorted(m["DBInstanceIdentifier"] for m in new.get("DBClusterMembers", []))
    with translated(access, f"rename {new_name} to {name}"):
        for number, member in enumerate(members):
            client.modify_db_instance(
                DBInstanceIdentifier=member,
                NewDBInstanceIdentifier=naming.instance_id(name, number),
                ApplyImmediately=True,
            )
        client.modify_db_cluster(
            DBClusterIdentifier=new_name, NewDBClusterIdentifier=name, ApplyImmediately=True
        )
    logger.info("renamed the new cluster into place", extra={"cluster": name})
    return f"{new_name} renamed to {name}"


def _retire(
    client: RDSClient, access: AccountAccess, aside: dict[str, Any], target: Target, run_id: str
) -> str:
    """Takes the final snapshot (a manual snapshot tagged as the tool's: DeleteDBCluster's own final snapshot
    cannot carry tags in the request, which the target role requires of every snapshot it makes), then deletes
    the old instances and the old cluster; the instances need not be gone first, only deleting
    (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_DeleteCluster.html)."""
    name = aside["DBClusterIdentifier"]
    if not _ready(client, access, aside):
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
            instance = _instance(client, access, member["DBInstanceIdentifier"])
            if instance["DBInstanceStatus"] != "deleting":
                client.delete_db_instance(DBInstanceIdentifier=member["DBInstanceIdentifier"])
        client.delete_db_cluster(DBClusterIdentifier=name, SkipFinalSnapshot=True)
    logger.info(
        "deleting the replaced cluster", extra={"cluster": name, "final_snapshot": target.final_snapshot}
    )
    return f"{name} deleting"


def roll_back_swaps(request: MigrationRequest, run_id: str) -> list[dict[str, Any]]:
    """After a failure before the old cluster is deleted: the old cluster back under its name, this run's new
    cluster (kept, like any target cluster a failed run made) under its temporary one. What AWS does not allow
    yet (a resource still renaming) is reported, not waited for."""
    actions: list[dict[str, Any]] = []
    for target in request.targets:
        if target.on_existing is OnExisting.REPLACE:
            access = target_access(request, target)
            actions += _roll_back(rds(access), access, target, run_id)
    return actions


def _roll_back(client: RDSClient, access: AccountAccess, target: Target, run_id: str) -> list[dict[str, Any]]:
    name, aside_name = target.cluster_identifier, naming.replaced_cluster_id(run_id)
    aside = _cluster(client, access, aside_name)
    if aside is None or aside["Status"] == "deleting":
        return []
    tags = {t["Key"]: t["Value"] for t in aside.get("TagList", [])}
    if tags.get(naming.REPLACED_BY_TAG) != run_id:
        return []
    current = _cluster(client, access, name)
    actions: list[dict[str, Any]] = []
    if current is not None:
        moved = _new_out_of_the_way(client, access, current, aside, run_id)
        if moved is None or moved["action"] == "left-in-place":
            return [] if moved is None else [moved]
        actions.append(moved)
    settled = _settled(client, access, aside)
    if settled is None:
        return actions
    if settled["Status"] != "available":
        return [*actions, _left(access, settled, f"{aside_name} is {settled['Status']}")]
    _old_back(client, access, settled, name)
    logger.warning("put the replaced cluster back under its name", extra={"cluster": name})
    return [*actions, {"action": "restored", "accountId": access.account_id, "arn": settled["DBClusterArn"]}]


def _new_out_of_the_way(
    client: RDSClient, access: AccountAccess, current: dict[str, Any], aside: dict[str, Any], run_id: str
) -> dict[str, Any] | None:
    """This run's new cluster, holding the name, renamed back to its temporary name: the action, one that says
    why it could not be, or None when another cleanup of the run has rolled back meanwhile."""
    name = current["DBClusterIdentifier"]
    if not naming.is_tagged_by_run(current.get("TagList", []), run_id):
        return _left(access, aside, f"{name} is held by a cluster this run did not make")
    settled = _settled(client, access, current)
    if settled is None:
        return None
    if settled["Status"] != "available":
        return _left(access, aside, f"this run's new cluster {name} is {settled['Status']}")
    temporary = naming.replacement_cluster_id(run_id)
    with translated(access, f"rename {name} back to {temporary}"):
        client.modify_db_cluster(
            DBClusterIdentifier=name, NewDBClusterIdentifier=temporary, ApplyImmediately=True
        )
    return {"action": "renamed-back", "accountId": access.account_id, "arn": settled["DBClusterArn"]}


def _old_back(client: RDSClient, access: AccountAccess, aside: dict[str, Any], name: str) -> None:
    """The old cluster under its name again, and each of its instances that is available under its own."""
    aside_name = aside["DBClusterIdentifier"]
    with translated(access, f"rename {aside_name} back to {name}"):
        client.modify_db_cluster(
            DBClusterIdentifier=aside_name, NewDBClusterIdentifier=name, ApplyImmediately=True
        )
        for member in aside.get("DBClusterMembers", []):
            instance = _instance(client, access, member["DBInstanceIdentifier"])
            tags = {t["Key"]: t["Value"] for t in instance.get("TagList", [])}
            original = tags.get(naming.REPLACED_NAME_TAG)
            if (
                original
                and instance["DBInstanceStatus"] == "available"
                and not _instance_exists(client, original)
            ):
                client.modify_db_instance(
                    DBInstanceIdentifier=member["DBInstanceIdentifier"],
                    NewDBInstanceIdentifier=original,
                    ApplyImmediately=True,
                )


def _settled(client: RDSClient, access: AccountAccess, cluster: dict[str, Any]) -> dict[str, Any] | None:
    """The cluster once a rename in progress is over (a cluster's takes about two minutes), waiting at most
    ROLLBACK_WAIT_SECONDS (the cleanup that rolls back has five minutes in all); None once it is no longer
    under that name (the run's other cleanup, in-machine or after its end, rolled it back meanwhile)."""
    found: dict[str, Any] | None = cluster
    for _ in range(ROLLBACK_WAIT_SECONDS // ROLLBACK_CHECK_SECONDS):
        if found is None or found["Status"] != "renaming":
            return found
        time.sleep(ROLLBACK_CHECK_SECONDS)
        found = _cluster(client, access, cluster["DBClusterIdentifier"])
    return found


def _left(access: AccountAccess, aside: dict[str, Any], why: str) -> dict[str, Any]:
    return {
        "action": "left-in-place",
        "accountId": access.account_id,
        "arn": aside["DBClusterArn"],
        "reason": f"the replaced cluster is still under {aside['DBClusterIdentifier']}: {why}; rename it back "
        "once it is available",
    }


def _ready(client: RDSClient, access: AccountAccess, cluster: dict[str, Any]) -> bool:
    """The cluster and every instance in it are available (a rename or a creation is over)."""
    if cluster["Status"] != "available":
        return False
    members = [m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", [])]
    return all(_instance(client, access, member)["DBInstanceStatus"] == "available" for member in members)


def _cluster(client: RDSClient, access: AccountAccess, identifier: str) -> dict[str, Any] | None:
    found = describe_cluster(client, access, identifier)
    return dict(found) if found is not None else None


def _instance(client: RDSClient, access: AccountAccess, identifier: str) -> dict[str, Any]:
    with translated(access, f"describe instance {identifier}"):
        return dict(client.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0])


def _instance_exists(client: RDSClient, identifier: str) -> bool:
    try:
        client.describe_db_instances(DBInstanceIdentifier=identifier)
    except ClientError as error:
        if error_code(error) in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
            return False
        raise
    return True
