"""Parameters waiting for a reboot: a static parameter of a cluster or DB parameter group takes effect only when the
instance reboots, and until then DescribeDBClusters shows the member's DBClusterParameterGroupStatus, and
DescribeDBInstances the group's ParameterApplyStatus, as "pending-reboot"
(https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_WorkingWithParamGroups.Modifying.html,
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBClusterMember.html).

A run creates the groups it replicates before the cluster and instances that use them, so a new instance normally
starts in sync; yet AWS advises waiting five minutes after creating a group before a cluster uses it
(https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_WorkingWithParamGroups.CreatingCluster.html), and
a reused group may have changed meanwhile. So once the instances are available the run looks, and reboots exactly
the instances that are pending (README "Parameter groups").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aurora_ferry.core.access import translated
from aurora_ferry.core.accounts import AccountAccess
from aurora_ferry.core.clusters import describe_cluster
from aurora_ferry.core.errors import ResourceFailedError

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

PENDING_REBOOT = "pending-reboot"


def reboot_pending_instances(client: RDSClient, access: AccountAccess, cluster_id: str) -> dict[str, Any]:
    """Reboot the instances of ``cluster_id`` whose cluster or DB parameter group waits for a reboot; the result
    names them ("instanceIdentifiers") and says whether the workflow must wait for them ("rebooting"). Safe to
    repeat: an instance already rebooting is not rebooted again, only waited for."""
    cluster = describe_cluster(client, access, cluster_id)
    if cluster is None:
        raise ResourceFailedError.in_account(
            access, f"cluster {cluster_id} disappeared before its parameters could be applied"
        )
    cluster_pending = {
        str(member["DBInstanceIdentifier"])
        for member in cluster.get("DBClusterMembers", ())
        if member.get("DBClusterParameterGroupStatus") == PENDING_REBOOT
    }
    # One paginated read of the cluster's instances, not one DescribeDBInstances per member.
    with translated(access, f"describe the instances of cluster {cluster_id}"):
        pages = client.get_paginator("describe_db_instances").paginate(
            Filters=[{"Name": "db-cluster-id", "Values": [cluster_id]}]
        )
        instances = sorted(
            (instance for page in pages for instance in page["DBInstances"]),
            key=lambda instance: str(instance["DBInstanceIdentifier"]),
        )
    waited: list[str] = []
    for instance in instances:
        member = str(instance["DBInstanceIdentifier"])
        pending = member in cluster_pending or any(
            group.get("ParameterApplyStatus") == PENDING_REBOOT
            for group in instance.get("DBParameterGroups", ())
        )
        if instance.get("DBInstanceStatus") == "rebooting":
            waited.append(member)
        elif pending:
            with translated(access, f"reboot instance {member} to apply its static parameters"):
                client.reboot_db_instance(DBInstanceIdentifier=member)
            waited.append(member)
    return {"rebooting": bool(waited), "instanceIdentifiers": waited}
