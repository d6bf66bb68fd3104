"""The target checks that are not about keys: how many targets, the names the run gives the cluster and its
instances, and the networking and parameter group each target names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from aurora_ferry.core import error_code, naming
from aurora_ferry.migration import MAX_TARGETS, OnExisting
from aurora_ferry.preflight.context import Preflight, TargetAccount, described, rds_client, untyped_client

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient


def check_targets_count(preflight: Preflight) -> None:
    request = preflight.request
    if len(request.targets) > MAX_TARGETS:
        # The contract refuses this already; repeated because sharing would fail half-way.
        preflight.add(
            "error",
            "targets-count",
            request.source.account_id,
            "targets",
            f"{len(request.targets)} targets: a snapshot can be shared with at most {MAX_TARGETS} "
            "accounts. Split the targets over several runs.",
        )


def check_target_names(preflight: Preflight, account: TargetAccount) -> None:
    """The cluster id, and the ids the run gives its instances, are free in the target account; or, with
    onExisting "replace", the cluster is one an earlier run made and its instances hold the instance ids."""
    rds = rds_client(account.session)
    target, index = account.target, account.index
    cluster_id = target.cluster_identifier
    existing = described(
        rds.describe_db_clusters, "DBClusters", "DBClusterNotFoundFault", DBClusterIdentifier=cluster_id
    )
    members: set[str] = set()
    if existing is not None:
        if target.on_existing is not OnExisting.REPLACE:
            preflight.add(
                "error",
                "target-cluster-id",
                target.account_id,
                cluster_id,
                f"a cluster named {cluster_id} already exists in account {target.account_id} {account.access.region}, "
                f"so CopyToTarget would fail with TargetConflictError. Choose another "
                f"targets[{index}].clusterIdentifier, rename or delete the existing cluster, or (a cluster an "
                "earlier run made) set onExisting to 'replace'.",
            )
            return
        if not _managed(existing):
            preflight.add(
                "error",
                "target-cluster-id",
                target.account_id,
                cluster_id,
                f"cluster {cluster_id} in account {target.account_id} was not made by aurora-ferry (it lacks the "
                f"tag {naming.MANAGED_TAG}=true), and onExisting 'replace' replaces only clusters a run made. "
                f"Choose another targets[{index}].clusterIdentifier.",
            )
            return
        members = {m["DBInstanceIdentifier"] for m in existing.get("DBClusterMembers", [])}
        foreign = sorted(m for m in members if not _managed(_instance(rds, m)))
        if foreign:
            preflight.add(
                "error",
                "target-cluster-id",
                target.account_id,
                cluster_id,
                f"cluster {cluster_id} has instances aurora-ferry did not make ({', '.join(foreign)}, no "
                f"{naming.MANAGED_TAG}=true tag), and a refresh in place renames and deletes every instance of "
                "the cluster it replaces. Delete them, or tag them if the tool may delete them.",
            )
            return
        preflight.add(
            "info",
            "target-cluster-id",
            target.account_id,
            cluster_id,
            f"cluster {cluster_id} will be replaced in place: the new one is restored under a temporary name, "
            "then the names are swapped and the old one deleted"
            + (" with a final snapshot" if target.final_snapshot else " without a final snapshot"),
        )
    taken: list[str] = []
    count = len(preflight.planned_instances(target))
    for number in range(count):
        instance_id = naming.instance_id(cluster_id, number)
        if instance_id in members:
            continue  # renamed aside with the cluster it belongs to
        try:
            rds.describe_db_instances(DBInstanceIdentifier=instance_id)
        except ClientError as error:
            if error_code(error) not in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
                raise
        else:
            taken.append(instance_id)
    if taken:
        preflight.add(
            "error",
            "target-cluster-id",
            target.account_id,
            cluster_id,
            f"instance ids {', '.join(taken)} already exist in account {target.account_id}; the run names "
            f"the instances {cluster_id}-1..{count}, so CreateInstances would fail. "
            f"Choose another targets[{index}].clusterIdentifier.",
        )


def _instance(rds: RDSClient, identifier: str) -> Mapping[str, Any]:
    found = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    return found[0] if found else {}


def _managed(cluster: Mapping[str, Any]) -> bool:
    tags = naming.tags_of(cluster)
    return tags.get(naming.MANAGED_TAG) == "true"


def check_networking(preflight: Preflight, account: TargetAccount) -> None:
    """The subnet group, security groups and cluster parameter group the target names exist (and agree)."""
    rds = rds_client(account.session)
    target = account.target
    subnet_vpc: str | None = None
    if target.db_subnet_group_name:
        subnet_vpc = _check_subnet_group(preflight, account, rds, target.db_subnet_group_name)
    if target.vpc_security_group_ids:
        _check_security_groups(preflight, account, subnet_vpc)
    if target.db_cluster_parameter_group_name:
        _check_parameter_group(preflight, account, rds, target.db_cluster_parameter_group_name)


def _where(preflight: Preflight, account: TargetAccount) -> str:
    return f"account {account.target.account_id} {account.access.region}"


def _check_subnet_group(
    preflight: Preflight, account: TargetAccount, rds: RDSClient, name: str
) -> str | None:
    """The subnet group's VPC, or None when it does not exist (an error finding)."""
    group = described(
        rds.describe_db_subnet_groups, "DBSubnetGroups", "DBSubnetGroupNotFoundFault", DBSubnetGroupName=name
    )
    if group is None:
        preflight.add(
            "error",
            "subnet-group",
            account.target.account_id,
            name,
            f"DB subnet group {name} does not exist in {_where(preflight, account)}, so RestoreCluster would "
            "fail. Create it (with subnets in at least two Availability Zones) or fix "
            f"targets[{account.index}].dbSubnetGroupName.",
        )
        return None
    vpc: str | None = group.get("VpcId")
    return vpc


def _check_parameter_group(preflight: Preflight, account: TargetAccount, rds: RDSClient, name: str) -> None:
    try:
        groups = rds.describe_db_cluster_parameter_groups(DBClusterParameterGroupName=name)[
            "DBClusterParameterGroups"
        ]
    except ClientError as error:
        if error_code(error) not in ("DBParameterGroupNotFound", "DBParameterGroupNotFoundFault"):
            raise
        preflight.add(
            "error",
            "parameter-group",
            account.target.account_id,
            name,
            f"DB cluster parameter group {name} does not exist in {_where(preflight, account)}, so "
            "RestoreCluster would fail. Create it for the source's engine or fix "
            f"targets[{account.index}].dbClusterParameterGroupName.",
        )
        return
    preflight.add(
        "info",
        "parameter-group",
        account.target.account_id,
        name,
        f"DB cluster parameter group {name} exists (family "
        f"{groups[0].get('DBParameterGroupFamily', 'unknown') if groups else 'unknown'}); it must match "
        "the source's engine and major version.",
    )


def _check_security_groups(preflight: Preflight, account: TargetAccount, subnet_vpc: str | None) -> None:
    target, index = account.target, account.index
    ec2 = untyped_client(account.session, "ec2")
    wanted = list(target.vpc_security_group_ids)
    # A filter, not GroupIds: the answer lists the groups that exist instead of failing on the first
    # missing one, so every missing id is named at once.
    found: dict[str, str | None] = {}
    for page in ec2.get_paginator("describe_security_groups").paginate(
        Filters=[{"Name": "group-id", "Values": wanted}]
    ):
        for group in page.get("SecurityGroups", []):
            found[str(group["GroupId"])] = group.get("VpcId")
    missing = [group for group in wanted if group not in found]
    if missing:
        preflight.add(
            "error",
            "security-groups",
            target.account_id,
            ", ".join(missing),
            f"security groups {', '.join(missing)} do not exist in {_where(preflight, account)} "
            "(security groups belong to one account and region), so RestoreCluster would fail. Fix "
            f"targets[{index}].vpcSecurityGroupIds.",
        )
    if subnet_vpc:
        elsewhere = [group for group, vpc in found.items() if vpc and vpc != subnet_vpc]
        if elsewhere:
            preflight.add(
                "error",
                "security-groups",
                target.account_id,
                ", ".join(elsewhere),
                f"security groups {', '.join(elsewhere)} are not in {subnet_vpc}, the VPC of subnet group "
                f"{target.db_subnet_group_name}; a cluster's security groups must be in its VPC. Fix "
                f"targets[{index}].vpcSecurityGroupIds or dbSubnetGroupName.",
            )
