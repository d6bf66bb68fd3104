"""A target's instances (issue 11): the source cluster's instances read from DescribeDBInstances, the list a target
gets from them and its overrides, and the plan's rows (each instance's CreateDBInstance parameters are
aurora_ferry.core.instances', which imports neither boto3 nor the plan).

By default a target mirrors the source's instances: each one's class (db.serverless included), their count, the
writer first, promotion tiers, Performance Insights and its retention (under the target's key), the Enhanced
Monitoring interval (with the target account's monitoring role), auto minor version upgrade and the DB parameter
group (mapped to a replicated group, else dropped for the engine's default). A target may override the class
(``instanceClass``), the count (``instanceCount``), give the list outright (``instances``), and override the
instance-level settings for every instance (``targets[].settings``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aurora_ferry.core.access import rds, translated
from aurora_ferry.core.accounts import AccountAccess, ClusterTarget, ParameterGroups
from aurora_ferry.core.carry import CarriedSettings
from aurora_ferry.core.carry_plan import PlanRow
from aurora_ferry.core.clusters import create_cluster_instances
from aurora_ferry.core.errors import InvalidInputError
from aurora_ferry.core.instances import (
    InstanceShape,
    monitoring_role_arn,
    ordered_shapes,
    shape_from_instance,
)

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

MIRRORED = "mirrored"


def source_instances(
    client: RDSClient, access: AccountAccess, cluster: Mapping[str, Any]
) -> tuple[InstanceShape, ...]:
    """The instances of a DescribeDBClusters entry, writer first, then by promotion tier, then identifier."""
    cluster_id = str(cluster["DBClusterIdentifier"])
    writers = {
        str(member["DBInstanceIdentifier"])
        for member in cluster.get("DBClusterMembers", ())
        if member.get("IsClusterWriter")
    }
    with translated(access, f"describe the instances of source cluster {cluster_id}"):
        pages = client.get_paginator("describe_db_instances").paginate(
            Filters=[{"Name": "db-cluster-id", "Values": [cluster_id]}]
        )
        described = [instance for page in pages for instance in page["DBInstances"]]
    return ordered_shapes(
        [
            (
                str(raw["DBInstanceIdentifier"]),
                shape_from_instance(raw, str(raw["DBInstanceIdentifier"]) in writers),
            )
            for raw in described
        ]
    )


def plan_instances(
    source: tuple[InstanceShape, ...],
    target: ClusterTarget,
    overrides: CarriedSettings | None = None,
    path: str = "targets[0]",
) -> list[InstanceShape]:
    """The target's instances, writer first; InvalidInputError (naming ``path``.instanceClass) when the source's
    instances are unknown and the target gives no class."""
    if target.instances:
        wanted = [
            replace(
                _base(source, index),
                instance_class=request.instance_class,
                promotion_tier=_base(source, index).promotion_tier
                if request.promotion_tier is None
                else request.promotion_tier,
            )
            for index, request in enumerate(target.instances)
        ]
    elif not source and target.instance_class is None:
        raise InvalidInputError(
            [unknown_instances_problem(path, "the source's instances are unknown or none")]
        )
    else:
        count = target.instance_count or len(source) or 1
        wanted = [_base(source, index) for index in range(count)]
        if target.instance_class is not None:
            wanted = [replace(shape, instance_class=target.instance_class) for shape in wanted]
    wanted = [replace(shape, writer=index == 0) for index, shape in enumerate(wanted)]
    return [_overridden(shape, overrides or CarriedSettings()) for shape in wanted]


def create_target_instances(
    access: AccountAccess,
    target: ClusterTarget,
    cluster_id: str,
    source: tuple[InstanceShape, ...],
    *,
    overrides: CarriedSettings | None,
    path: str,
    engine: str,
    tags: list[dict[str, str]],
    kms_key_arn: str | None,
    parameter_groups: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The target's instances (``plan_instances``) added to the cluster ``cluster_id`` the run made there
    (core.clusters.create_cluster_instances), with the target account's Enhanced Monitoring role."""
    shapes = plan_instances(source, target, overrides, path)
    monitoring_role = monitoring_role_arn(target.role_arn)
    return create_cluster_instances(
        rds(access), access, cluster_id, shapes, engine, tags, kms_key_arn, monitoring_role, parameter_groups
    )


def unknown_instances_problem(path: str, why: str = "the source cluster no longer exists") -> str:
    """The problem of a target that would mirror the source's instances when there are none to mirror (``why``)."""
    return (
        f"{path}.instanceClass: required here: {why}, so there are no source instances to mirror (which a target "
        f"does by default); give {path}.instanceClass (and instanceCount) or {path}.instances"
    )


def _base(source: tuple[InstanceShape, ...], index: int) -> InstanceShape:
    """The source's shape at ``index``; past its end, its last reader's (its writer's when it has none)."""
    if index < len(source):
        return source[index]
    if source:
        return replace(source[-1], writer=False)
    return InstanceShape(instance_class="")


def _overridden(shape: InstanceShape, given: CarriedSettings) -> InstanceShape:
    if given.performance_insights is not None:
        shape = replace(shape, performance_insights=given.performance_insights)
    if given.performance_insights_retention_period is not None:
        shape = replace(shape, performance_insights_retention=given.performance_insights_retention_period)
    if not shape.performance_insights:
        shape = replace(shape, performance_insights_retention=None)
    if given.monitoring_interval is not None:
        shape = replace(shape, monitoring_interval=given.monitoring_interval)
    if given.auto_minor_version_upgrade is not None:
        shape = replace(shape, auto_minor_version_upgrade=given.auto_minor_version_upgrade)
    return shape


def instance_rows(
    source: tuple[InstanceShape, ...],
    planned: list[InstanceShape],
    target: ClusterTarget,
    parameter_groups: Mapping[str, str] | None = None,
) -> list[PlanRow]:
    """One row per planned instance (class, role, tier, Performance Insights, monitoring, auto minor version
    upgrade) with the source's value, the target's and how, consecutive alike instances in one row ("Instances
    2-16": the preflight's result carries the plan, for up to 16 instances of 20 targets), then one per source
    parameter group."""
    described = []
    for index, shape in enumerate(planned):
        known = source[index] if index < len(source) else None
        described.append(
            (_described(known) if known else "none", _described(shape), _how(known, shape, target))
        )
    rows = []
    first = 0
    for index in range(1, len(described) + 1):
        if index < len(described) and described[index] == described[first]:
            continue
        name = f"Instance {first + 1}" if index - first == 1 else f"Instances {first + 1}-{index}"
        rows.append(PlanRow(name, *described[first]))
        first = index
    for group in dict.fromkeys(shape.parameter_group for shape in planned if shape.parameter_group):
        mapped = (parameter_groups or {}).get(group)
        if mapped == group:
            how = "replicated group (ReplicateParameterGroups)"
        elif mapped:
            how = "target's own: targets[].dbParameterGroupName"
        elif target.parameter_groups is ParameterGroups.DEFAULT:
            how = "dropped: parameterGroups 'default'"
        else:
            how = "dropped: per account (a group of the source account; the target gets the default)"
        rows.append(PlanRow("DBParameterGroupName (instances)", group, mapped or "the engine's default", how))
    if len(source) > len(planned):
        rows.append(
            PlanRow("Instances", f"{len(source)} instances", f"{len(planned)}", "overridden: fewer instances")
        )
    return rows


def _how(known: InstanceShape | None, shape: InstanceShape, target: ClusterTarget) -> str:
    if target.instances:
        return "overridden: instances"
    if known is None:
        if target.instance_count:
            return "added: instanceCount (the source's last reader's shape)"
        return "overridden: instanceClass (the source's instances are unknown)"
    return MIRRORED if _described(known) == _described(shape) else "overridden"


def _described(shape: InstanceShape) -> str:
    parts = [
        shape.instance_class,
        "writer" if shape.writer else "reader",
        f"tier {shape.promotion_tier}",
        f"PI {shape.performance_insights_retention or 7} d" if shape.performance_insights else "no PI",
        f"monitoring {shape.monitoring_interval} s" if shape.monitoring_interval else "no monitoring",
        "minor upgrades " + ("on" if shape.auto_minor_version_upgrade else "off"),
    ]
    return ", ".join(parts)
