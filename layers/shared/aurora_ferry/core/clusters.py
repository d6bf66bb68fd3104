"""The cluster a run creates in a target account, made alike by the migration's restore and by a clone: what the
target asks of it, the check that a cluster already there is the run's own, and its instances (a restore or a
clone creates a cluster without any).

Each is safe to run twice: an "already exists" answer counts as done when what exists is the run's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from aurora_ferry.core import naming
from aurora_ferry.core.access import error_code, translated
from aurora_ferry.core.accounts import AccountAccess, ClusterTarget
from aurora_ferry.core.errors import TargetConflictError
from aurora_ferry.core.instances import InstanceShape, instance_parameters

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient


def cluster_parameters(target: ClusterTarget) -> dict[str, Any]:
    """The parameters of RestoreDBClusterFromSnapshot or RestoreDBClusterToPointInTime that come from the target
    (the placement it leaves out is left to RDS's defaults); the cluster's snapshots carry the run's tags."""
    params: dict[str, Any] = {"DeletionProtection": target.deletion_protection, "CopyTagsToSnapshot": True}
    if target.db_subnet_group_name:
        params["DBSubnetGroupName"] = target.db_subnet_group_name
    if target.vpc_security_group_ids:
        params["VpcSecurityGroupIds"] = list(target.vpc_security_group_ids)
    if target.db_cluster_parameter_group_name:
        params["DBClusterParameterGroupName"] = target.db_cluster_parameter_group_name
    return params


def describe_cluster(client: RDSClient, access: AccountAccess, identifier: str) -> Any:
    """The cluster ``identifier`` names (an id, or an ARN), or None when there is none."""
    with translated(access, f"describe cluster {identifier}"):
        try:
            clusters = client.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
        except ClientError as error:
            if error_code(error) == "DBClusterNotFoundFault":
                return None
            raise
    return clusters[0] if clusters else None


def require_own_cluster(client: RDSClient, access: AccountAccess, cluster_id: str, run_id: str) -> Any:
    """The cluster already named ``cluster_id``, when the run made it (a retried step); else TargetConflictError."""
    cluster = client.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
    if not naming.is_tagged_by_run(cluster.get("TagList", []), run_id):  # type: ignore[arg-type]
        raise TargetConflictError.in_account(
            access, f"cluster {cluster_id} already exists and was not made by run {run_id}"
        )
    return cluster


def create_cluster(
    client: RDSClient,
    access: AccountAccess,
    cluster_id: str,
    run_id: str,
    action: str,
    create: Callable[[], Any],
) -> Any:
    """The cluster ``create`` makes (a restore or a clone named ``cluster_id``); when one of that name exists
    already, the run's own (a retried step), else TargetConflictError."""
    with translated(access, action):
        try:
            return create()
        except ClientError as error:
            if error_code(error) != "DBClusterAlreadyExistsFault":
                raise
            return require_own_cluster(client, access, cluster_id, run_id)


def create_cluster_instances(
    client: RDSClient,
    access: AccountAccess,
    cluster_id: str,
    shapes: list[InstanceShape],
    engine: str,
    tags: list[dict[str, str]],
    kms_key_arn: str | None,
    monitoring_role: str,
    parameter_groups: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One instance per planned shape (core.instance_plan; the first is the writer), with Performance Insights
    under ``kms_key_arn``, Enhanced Monitoring with ``monitoring_role`` and the DB parameter group
    ``parameter_groups`` maps the source's to (none: the engine's default); one already in the cluster counts as
    made."""
    created: list[str] = []
    for index, shape in enumerate(shapes):
        instance_id = naming.instance_id(cluster_id, index)
        with translated(access, f"create instance {instance_id}"):
            try:
                instance = client.create_db_instance(
                    DBInstanceIdentifier=instance_id,
                    Engine=engine,
                    DBClusterIdentifier=cluster_id,
                    Tags=tags,  # type: ignore[arg-type]
                    **instance_parameters(shape, kms_key_arn, monitoring_role, parameter_groups),
                )["DBInstance"]
                created.append(instance["DBInstanceArn"])
            except ClientError as error:
                if error_code(error) != "DBInstanceAlreadyExists":
                    raise
                existing = client.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]
                if existing.get("DBClusterIdentifier") != cluster_id:
                    raise TargetConflictError.in_account(
                        access, f"instance {instance_id} already exists in another cluster"
                    ) from error
                created.append(existing["DBInstanceArn"])
    return {"instanceArns": created, "instanceIdentifiers": [arn.rsplit(":", 1)[-1] for arn in created]}
