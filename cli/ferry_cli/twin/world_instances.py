"""A world cluster's instances (``clusters[].instances``): a count of ``instanceClass`` instances with RDS's
defaults, or a list of objects, each with its own class and instance-level settings, as the run mirrors them
(aurora_ferry.core.instance_plan). The first is the writer.

An instance with Enhanced Monitoring needs a role RDS's monitoring service can assume in the cluster's account
(ferry_cli.twin.instance_rules): the twin creates one for the world, as an operator would have.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ferry_cli.twin.world_regions import WorldError

__all__ = ["WORLD_MONITORING_ROLE", "InstanceSpec", "create_world_instances", "parse_instances"]

WORLD_MONITORING_ROLE = "twin-world-rds-monitoring"
_FIELDS = {
    "instanceClass",
    "promotionTier",
    "performanceInsights",
    "performanceInsightsRetentionPeriod",
    "monitoringInterval",
    "autoMinorVersionUpgrade",
    "parameterGroup",
}


@dataclass(frozen=True)
class InstanceSpec:
    instance_class: str
    promotion_tier: int = 1
    performance_insights: bool = False
    performance_insights_retention_period: int | None = None
    monitoring_interval: int = 0
    auto_minor_version_upgrade: bool = True
    # A DB parameter group of the world's account (instead of the cluster's instanceParameterGroup).
    parameter_group: str | None = None


def parse_instances(cluster: dict[str, Any], path: str) -> tuple[InstanceSpec, ...]:
    """``clusters[].instances`` of a world ``cluster``: a count (of its ``instanceClass`` instances, 1 by default)
    or a list of instance objects."""
    raw = cluster.get("instances", 1)
    instance_class = str(cluster.get("instanceClass", "db.r6g.large"))
    if isinstance(raw, int) and not isinstance(raw, bool):
        return tuple(InstanceSpec(instance_class) for _ in range(raw))
    if not isinstance(raw, list):
        raise WorldError(f"{path}: must be a number of instances or a list of instance objects")
    specs = []
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(item, dict) or set(item) - _FIELDS:
            raise WorldError(f"{where}: must be an object of {', '.join(sorted(_FIELDS))}")
        retention = item.get("performanceInsightsRetentionPeriod")
        specs.append(
            InstanceSpec(
                instance_class=str(item.get("instanceClass", instance_class)),
                promotion_tier=int(item.get("promotionTier", 1)),
                performance_insights=bool(item.get("performanceInsights", False)),
                performance_insights_retention_period=None if retention is None else int(retention),
                monitoring_interval=int(item.get("monitoringInterval", 0)),
                auto_minor_version_upgrade=bool(item.get("autoMinorVersionUpgrade", True)),
                parameter_group=item.get("parameterGroup"),
            )
        )
    return tuple(specs)


def create_world_instances(
    rds: Any,
    account_id: str,
    cluster_id: str,
    engine: str,
    specs: tuple[InstanceSpec, ...],
    parameter_group: str | None,
    partition: str = "aws",
) -> None:
    """The cluster's instances, through the API as an operator made them (the twin's rules apply)."""
    role = (
        _monitoring_role(account_id, partition) if any(spec.monitoring_interval for spec in specs) else None
    )
    for index, spec in enumerate(specs):
        params: dict[str, Any] = {
            "DBInstanceIdentifier": f"{cluster_id}-{index + 1}",
            "DBClusterIdentifier": cluster_id,
            "DBInstanceClass": spec.instance_class,
            "Engine": engine,
            "PromotionTier": spec.promotion_tier,
            "AutoMinorVersionUpgrade": spec.auto_minor_version_upgrade,
        }
        group = spec.parameter_group or parameter_group
        if group:
            params["DBParameterGroupName"] = group
        if spec.performance_insights:
            params["EnablePerformanceInsights"] = True
            if spec.performance_insights_retention_period is not None:
                params["PerformanceInsightsRetentionPeriod"] = spec.performance_insights_retention_period
        if spec.monitoring_interval:
            params.update(MonitoringInterval=spec.monitoring_interval, MonitoringRoleArn=role)
        rds.create_db_instance(**params)


def _monitoring_role(account_id: str, partition: str) -> str:
    """The world account's Enhanced Monitoring role (made once)."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account_id][partition]
    existing = next((role for role in iam.roles.values() if role.name == WORLD_MONITORING_ROLE), None)
    if existing is not None:
        return str(existing.arn)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(
        role_name=WORLD_MONITORING_ROLE,
        assume_role_policy_document=json.dumps(trust),
        path="/",
        permissions_boundary=None,
        description="Enhanced Monitoring of the world's instances",
        tags=[],
        max_session_duration="3600",
        linked_service=None,
    )
    return str(role.arn)
