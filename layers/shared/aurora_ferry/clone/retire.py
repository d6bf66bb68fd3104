"""Clone step 4 (refresh): retire the old dev cluster, only once the new clone is ready. Only clusters that
still carry aurora-ferry:managed=true are ever deleted; anything else is left in place and reported."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from aurora_ferry import core
from aurora_ferry.clone.contract import CloneRequest
from aurora_ferry.clone.names import target_access

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient


def retire_instances(request: CloneRequest, clusters: list[dict[str, str]], run_id: str) -> dict[str, Any]:
    """Delete the instances of each cluster the refresh replaces (re-checked: still tagged managed, and not made
    by this run)."""
    access = target_access(request)
    client = core.rds(access)
    deleting: list[str] = []
    actions: list[dict[str, Any]] = []
    for _, cluster in _managed_clusters(client, access, clusters, actions, run_id):
        for member in cluster.get("DBClusterMembers", []):
            instance_id = member["DBInstanceIdentifier"]
            _delete(
                access,
                f"delete instance {instance_id}",
                # Already gone or already deleting: a retried step, or a delete in progress.
                {"DBInstanceNotFound", "DBInstanceNotFoundFault", "InvalidDBInstanceState"},
                client.delete_db_instance,
                DBInstanceIdentifier=instance_id,
            )
            deleting.append(instance_id)
            actions.append({"action": "deleting", "accountId": access.account_id, "instance": instance_id})
    return {"instanceIdentifiers": deleting, "actions": actions}


def retire_clusters(request: CloneRequest, clusters: list[dict[str, str]], run_id: str) -> dict[str, Any]:
    """Delete each replaced cluster, without a final snapshot: it is a clone this tool made of a cluster that
    still exists, so a final snapshot would only keep a stale copy."""
    access = target_access(request)
    client = core.rds(access)
    deleted: list[str] = []
    arns: list[str] = []
    actions: list[dict[str, Any]] = []
    for identifier, cluster in _managed_clusters(client, access, clusters, actions, run_id):
        # A cluster already "deleting" was retired by an earlier attempt of this step (Step Functions retries a
        # task whose answer was lost); AWS refuses a second DeleteDBCluster with InvalidDBClusterStateFault.
        if cluster.get("Status") != "deleting":
            _delete(
                access,
                f"delete cluster {identifier}",
                {"DBClusterNotFoundFault"},
                client.delete_db_cluster,
                DBClusterIdentifier=identifier,
                SkipFinalSnapshot=True,
            )
        deleted.append(identifier)
        arns.append(cluster["DBClusterArn"])
        actions.append({"action": "deleted", "accountId": access.account_id, "arn": cluster["DBClusterArn"]})
    core.metrics.add_metric(name="DevClustersRetired", unit=MetricUnit.Count, value=len(deleted))
    return {"clusterIdentifiers": deleted, "clusterArns": arns, "actions": actions}


def _delete(
    access: core.AccountAccess,
    action: str,
    gone: Collection[str],
    delete: Callable[..., object],
    **params: Any,
) -> None:
    """``delete(**params)``, where an error coded as in ``gone`` (already deleted) counts as done: a retried
    step."""
    with core.translated(access, action):
        try:
            delete(**params)
        except ClientError as error:
            if core.error_code(error) not in gone:
                raise


def _managed_clusters(
    client: RDSClient,
    access: core.AccountAccess,
    clusters: list[dict[str, str]],
    actions: list[dict[str, Any]],
    run_id: str,
) -> Iterator[tuple[str, Any]]:
    """Each cluster of ``clusters`` (by identifier, and as described now) that still exists, still carries the
    managed tag and was not made by this run (a refresh never retires its own clone, whatever name it has by
    now); one that lost the tag is left in place, and ``actions`` says so."""
    for entry in clusters:
        identifier = entry["identifier"]
        cluster = core.describe_cluster(client, access, identifier)
        if cluster is None:
            continue
        tags = core.naming.tags_of(cluster)
        if core.naming.is_tagged_by_run(cluster.get("TagList", []), run_id):
            core.logger.warning("not retiring this run's own clone", extra={"cluster": identifier})
            continue
        if tags.get(core.naming.MANAGED_TAG) != "true":
            core.logger.warning(
                "cluster lost its aurora-ferry tags; leaving it", extra={"cluster": identifier}
            )
            actions.append(
                core.left_in_place(access, cluster["DBClusterArn"], f"no {core.naming.MANAGED_TAG}=true tag")
            )
            continue
        yield identifier, cluster


def poll_gone(access: core.AccountAccess, kind: str, identifiers: list[str], attempt: int) -> core.PollResult:
    """One look at instances or clusters being deleted: ready once none of them exists any more."""
    client = core.rds(access)
    left: dict[str, str] = {}
    for identifier in identifiers:
        with core.translated(access, f"describe {identifier}"):
            try:
                if kind == "instances-gone":
                    found = client.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
                    status = found[0].get("DBInstanceStatus", "unknown") if found else None
                else:
                    clusters = client.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
                    status = clusters[0].get("Status", "unknown") if clusters else None
            except ClientError as error:
                if core.error_code(error) not in (
                    "DBInstanceNotFound",
                    "DBInstanceNotFoundFault",
                    "DBClusterNotFoundFault",
                ):
                    raise
                status = None
        if status is not None:
            left[identifier] = status
    summary = "gone" if not left else ",".join(sorted(set(left.values())))
    return core.PollResult(summary, not left, attempt + 1, {"remaining": left})
