"""Renaming a cluster aside and another into its name, and back: the swap of a refresh that keeps the name
(a migration's refresh in place, README "Refresh in place").

A rename frees the old name at once; the renamed resource is "renaming" (not available) until its new name is
effective, about two minutes for a cluster and ten for an instance
(https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RenameInstance.html). The old cluster and its
instances are tagged with the run that renamed them (and each instance's own name) before they are renamed, so
that a rollback finds them and puts them back.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from aurora_ferry.core import naming
from aurora_ferry.core.access import error_code, translated
from aurora_ferry.core.accounts import AccountAccess
from aurora_ferry.core.clusters import describe_cluster
from aurora_ferry.core.errors import TargetConflictError
from aurora_ferry.core.observability import logger
from aurora_ferry.core.summaries import left_in_place

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rds.type_defs import TagTypeDef

ROLLBACK_WAIT_SECONDS = 180
ROLLBACK_CHECK_SECONDS = 15
# A member role may add tags only with the managed tag in the request (it is on the resource already).
_MANAGED: TagTypeDef = {"Key": naming.MANAGED_TAG, "Value": "true"}


def swap_into_place(
    client: RDSClient, access: AccountAccess, name: str, new_name: str, aside: str, run_id: str
) -> tuple[str, dict[str, Any] | None]:
    """One check of a swap: the next rename AWS allows now (the cluster under `name` aside to `aside`, then the
    run's new cluster `new_name` into `name`), as a line saying what it did or waits for; and, once the run's
    cluster answers under `name` with every instance available, that cluster (else None)."""
    current = found_cluster(client, access, name)
    if current is not None and not naming.is_tagged_by_run(current.get("TagList", []), run_id):
        return rename_aside(client, access, current, run_id, aside), None
    if current is None:
        return rename_into_place(client, access, new_name, name), None
    if not cluster_ready(client, access, current):
        return f"{name} renaming", None
    return "swapped", current


def rename_aside(
    client: RDSClient, access: AccountAccess, current: dict[str, Any], run_id: str, aside: str
) -> str:
    """Tags the cluster the run replaces and its instances (who renames them, and each instance's name), then
    renames them aside to `aside` and `aside-<n>`, once the cluster and its instances are available; a line
    saying what it did or waits for."""
    name = current["DBClusterIdentifier"]
    tags = naming.tags_of(current)
    if tags.get(naming.MANAGED_TAG) != "true":
        # Preflight refuses this already; checked again because the name could have been taken since.
        raise TargetConflictError.in_account(
            access, f"cluster {name} was not made by aurora-ferry: a run replaces only clusters a run made"
        )
    if not cluster_ready(client, access, current):
        return f"{name} {current['Status']}, waiting to rename it aside"
    instances = [
        described_instance(client, access, m["DBInstanceIdentifier"])
        for m in current.get("DBClusterMembers", [])
    ]
    _require_managed(access, name, instances)
    # Each instance's aside name follows from the name it had (its replaced-name tag once renamed aside), so
    # that a repeated step (a retry, a redrive after a rollback that could not rename every instance back)
    # gives every instance the same aside name and never renames one twice.
    originals = sorted(_original_name(instance, run_id) for instance in instances)
    with translated(access, f"rename {name} aside to {aside}"):
        client.add_tags_to_resource(
            ResourceName=current["DBClusterArn"],
            Tags=[_MANAGED, {"Key": naming.REPLACED_BY_TAG, "Value": run_id}],
        )
        for instance in instances:
            member = instance["DBInstanceIdentifier"]
            original = _original_name(instance, run_id)
            target_name = naming.instance_id(aside, originals.index(original))
            if member == target_name:
                continue
            client.add_tags_to_resource(
                ResourceName=instance["DBInstanceArn"],
                Tags=[
                    _MANAGED,
                    {"Key": naming.REPLACED_BY_TAG, "Value": run_id},
                    {"Key": naming.REPLACED_NAME_TAG, "Value": original},
                ],
            )
            client.modify_db_instance(
                DBInstanceIdentifier=member, NewDBInstanceIdentifier=target_name, ApplyImmediately=True
            )
        client.modify_db_cluster(
            DBClusterIdentifier=name, NewDBClusterIdentifier=aside, ApplyImmediately=True
        )
    logger.info("renamed the replaced cluster aside", extra={"cluster": name, "aside": aside})
    return f"{name} renamed aside to {aside}"


def _original_name(instance: dict[str, Any], run_id: str) -> str:
    """The name an instance had before this run renamed it aside (itself, if the run has not)."""
    tags = naming.tags_of(instance)
    if tags.get(naming.REPLACED_BY_TAG) == run_id and tags.get(naming.REPLACED_NAME_TAG):
        return str(tags[naming.REPLACED_NAME_TAG])
    return str(instance["DBInstanceIdentifier"])


def _require_managed(access: AccountAccess, name: str, instances: list[dict[str, Any]]) -> None:
    """Every instance of the replaced cluster carries the managed tag: an instance someone added by hand is
    not the tool's to rename and delete (and the member roles may tag any resource as managed, so the tag
    must be checked before the run adds its own)."""
    foreign = [
        i["DBInstanceIdentifier"] for i in instances if naming.tags_of(i).get(naming.MANAGED_TAG) != "true"
    ]
    if foreign:
        raise TargetConflictError.in_account(
            access,
            f"cluster {name} has instances aurora-ferry did not make ({', '.join(sorted(foreign))}, no "
            f"{naming.MANAGED_TAG}=true tag): the run does not replace it; delete or tag them first",
        )


def rename_into_place(client: RDSClient, access: AccountAccess, new_name: str, name: str) -> str:
    """Renames the run's new cluster `new_name` and its instances into `name` and `name-<n>`, once they are
    available (the name is free: the old cluster was renamed aside); a line saying what it did or waits for."""
    new = found_cluster(client, access, new_name)
    if new is None:
        raise TargetConflictError.in_account(
            access, f"neither {name} nor this run's new cluster {new_name} exists: the swap cannot go on"
        )
    if not cluster_ready(client, access, new):
        return f"{new_name} {new['Status']}, waiting to rename it to {name}"
    members = sorted(m["DBInstanceIdentifier"] for m in new.get("DBClusterMembers", []))
    with translated(access, f"rename {new_name} to {name}"):
        for number, member in enumerate(members):
            if member == naming.instance_id(name, number):
                continue  # renamed by an earlier attempt that a rollback could not undo
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


def roll_back_rename(
    client: RDSClient, access: AccountAccess, name: str, temporary: str, run_id: str
) -> list[dict[str, Any]]:
    """After a failure before the old cluster is deleted: the old cluster (renamed aside by this run) back under
    `name`, the run's new cluster (if it holds the name) back under `temporary`. What AWS does not allow yet (a
    resource still renaming, after waiting up to ROLLBACK_WAIT_SECONDS) is reported, not waited for."""
    aside_name = naming.replaced_cluster_id(run_id)
    aside = found_cluster(client, access, aside_name)
    if aside is None or _retiring(client, access, aside):
        return []
    tags = naming.tags_of(aside)
    if tags.get(naming.REPLACED_BY_TAG) != run_id:
        return []
    current = found_cluster(client, access, name)
    actions: list[dict[str, Any]] = []
    if current is not None:
        moved = _new_out_of_the_way(client, access, current, aside, temporary, run_id)
        if moved is None or moved["action"] == "left-in-place":
            return [] if moved is None else [moved]
        actions.append(moved)
    settled = _settled(client, access, aside)
    if settled is None:
        return actions
    if settled["Status"] != "available":
        return [*actions, _left(access, settled, f"{aside_name} is {settled['Status']}")]
    left = _old_back(client, access, settled, name)
    logger.warning("put the replaced cluster back under its name", extra={"cluster": name})
    restored = {"action": "restored", "accountId": access.account_id, "arn": settled["DBClusterArn"]}
    return [*actions, restored, *left]


def _retiring(client: RDSClient, access: AccountAccess, aside: dict[str, Any]) -> bool:
    """The old cluster is on its way out (being deleted, or its instances are, or are gone): too late to put it
    back; the run's new cluster under the name is what serves."""
    if aside["Status"] == "deleting":
        return True
    members = [m["DBInstanceIdentifier"] for m in aside.get("DBClusterMembers", [])]
    if not members:
        return True
    return any(described_instance(client, access, m)["DBInstanceStatus"] == "deleting" for m in members)


def _new_out_of_the_way(
    client: RDSClient,
    access: AccountAccess,
    current: dict[str, Any],
    aside: dict[str, Any],
    temporary: str,
    run_id: str,
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
    with translated(access, f"rename {name} back to {temporary}"):
        client.modify_db_cluster(
            DBClusterIdentifier=name, NewDBClusterIdentifier=temporary, ApplyImmediately=True
        )
    return {"action": "renamed-back", "accountId": access.account_id, "arn": settled["DBClusterArn"]}


def _old_back(
    client: RDSClient, access: AccountAccess, aside: dict[str, Any], name: str
) -> list[dict[str, Any]]:
    """The old cluster under its name again, and each of its instances that is available under its own; an
    instance still renaming (an instance's rename takes about ten minutes) keeps its aside name, reported."""
    aside_name = aside["DBClusterIdentifier"]
    left: list[dict[str, Any]] = []
    with translated(access, f"rename {aside_name} back to {name}"):
        client.modify_db_cluster(
            DBClusterIdentifier=aside_name, NewDBClusterIdentifier=name, ApplyImmediately=True
        )
        for member in aside.get("DBClusterMembers", []):
            instance = described_instance(client, access, member["DBInstanceIdentifier"])
            tags = naming.tags_of(instance)
            original = tags.get(naming.REPLACED_NAME_TAG)
            if not original or original == instance["DBInstanceIdentifier"]:
                continue
            if instance["DBInstanceStatus"] == "available" and not _instance_exists(client, original):
                client.modify_db_instance(
                    DBInstanceIdentifier=member["DBInstanceIdentifier"],
                    NewDBInstanceIdentifier=original,
                    ApplyImmediately=True,
                )
                continue
            left.append(
                left_in_place(
                    access,
                    instance["DBInstanceArn"],
                    f"instance {original} of {name} keeps the name {instance['DBInstanceIdentifier']} "
                    f"({instance['DBInstanceStatus']}); a redrive or the next run renames it as needed, or "
                    "rename it back once it is available",
                )
            )
    return left


def _settled(client: RDSClient, access: AccountAccess, cluster: dict[str, Any]) -> dict[str, Any] | None:
    """The cluster once a rename in progress is over (a cluster's takes about two minutes), waiting at most
    ROLLBACK_WAIT_SECONDS (the cleanup that rolls back has five minutes in all); None once it is no longer
    under that name (the run's other cleanup, in-machine or after its end, rolled it back meanwhile)."""
    found: dict[str, Any] | None = cluster
    for _ in range(ROLLBACK_WAIT_SECONDS // ROLLBACK_CHECK_SECONDS):
        if found is None or found["Status"] != "renaming":
            return found
        time.sleep(ROLLBACK_CHECK_SECONDS)
        found = found_cluster(client, access, cluster["DBClusterIdentifier"])
    return found


def _left(access: AccountAccess, aside: dict[str, Any], why: str) -> dict[str, Any]:
    return left_in_place(
        access,
        aside["DBClusterArn"],
        f"the replaced cluster is still under {aside['DBClusterIdentifier']}: {why}; rename it back once it is "
        "available",
    )


def cluster_ready(client: RDSClient, access: AccountAccess, cluster: dict[str, Any]) -> bool:
    """The cluster and every instance in it are available (a rename or a creation is over)."""
    if cluster["Status"] != "available":
        return False
    members = [m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", [])]
    return all(
        described_instance(client, access, member)["DBInstanceStatus"] == "available" for member in members
    )


def serving(client: RDSClient, access: AccountAccess, cluster: dict[str, Any]) -> dict[str, Any]:
    """A cluster that took another's name, as a run reports it: its ARN and identifier, its instances' identifiers
    and ARNs (an ARN names the identifier, so they changed with the renames), and its endpoints (the old
    cluster's)."""
    members = sorted(m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", []))
    return {
        "cluster": {
            "clusterArn": cluster["DBClusterArn"],
            "clusterIdentifier": cluster["DBClusterIdentifier"],
        },
        "endpoint": cluster.get("Endpoint"),
        "readerEndpoint": cluster.get("ReaderEndpoint"),
        "instanceArns": [described_instance(client, access, member)["DBInstanceArn"] for member in members],
        "instanceIdentifiers": members,
    }


def found_cluster(client: RDSClient, access: AccountAccess, identifier: str) -> dict[str, Any] | None:
    found = describe_cluster(client, access, identifier)
    return dict(found) if found is not None else None


def described_instance(client: RDSClient, access: AccountAccess, identifier: str) -> dict[str, Any]:
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
