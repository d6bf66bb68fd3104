"""The source cluster's instances as a target mirrors them (issue 11, instance-level settings): one
``InstanceShape`` per instance, read from DescribeDBInstances (aurora_ferry.core.instance_plan reads them and plans
a target's), carried in the state machine's payload with the source's configuration.

A restore creates a cluster without instances, and CreateDBInstance gives each new instance RDS's defaults for
what it is not passed (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html):
PromotionTier "Default: 1", AutoMinorVersionUpgrade "true" by default, EnablePerformanceInsights off,
PerformanceInsightsRetentionPeriod "The default is 7 days", MonitoringInterval "Default: 0" (no Enhanced
Monitoring), and the engine's default DB parameter group. Those defaults are what ``to_json`` leaves out.

Imports neither boto3 nor botocore: the contracts read it (through aurora_ferry.core.carry) without them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aurora_ferry.core.accounts import InstanceRequest

if TYPE_CHECKING:
    from aurora_ferry.core.validation import Problems

MAX_INSTANCES = 16  # an Aurora cluster holds one writer and up to 15 readers
# db.serverless is Aurora Serverless v2's class, which has no size part.
INSTANCE_CLASS = re.compile(r"^db\.([a-z0-9-]+\.[a-z0-9]+|serverless)$", re.ASCII)
# PromotionTier "Valid Values: 0 - 15" (CreateDBInstance, below).
MAX_PROMOTION_TIER = 15
SERVERLESS = "db.serverless"
DEFAULT_TIER = 1
# PerformanceInsightsRetentionPeriod "Valid Values: 7, month * 31, where month is a number of months from 1-23
# (for example, 93 or 341), 731" (CreateDBInstance, above).
PI_RETENTION_DAYS = (7, *(month * 31 for month in range(1, 24)), 731)
# MonitoringInterval "Valid Values: 0 | 1 | 5 | 10 | 15 | 30 | 60" (CreateDBInstance, above).
MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)
# The Enhanced Monitoring role a target account's template creates beside the target role
# (member-accounts/target-account.yaml, MonitoringRole).
MONITORING_ROLE_SUFFIX = "-monitoring"


@dataclass(frozen=True)
class InstanceShape:
    """One instance of a cluster, as much of it as a target carries."""

    instance_class: str
    writer: bool = False
    promotion_tier: int = DEFAULT_TIER
    performance_insights: bool = False
    performance_insights_retention: int | None = None
    monitoring_interval: int = 0
    auto_minor_version_upgrade: bool = True
    # The source instance's DB parameter group: a name in the source account, which the target maps (parameter
    # group replication) or drops for its default group.
    parameter_group: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Short camelCase keys, RDS's defaults left out: up to MAX_INSTANCES of these travel in the payload, in
        every state of a run (Performance Insights is its retention in days, or true when RDS did not say)."""
        data: dict[str, Any] = {"class": self.instance_class}
        if self.writer:
            data["writer"] = True
        if self.promotion_tier != DEFAULT_TIER:
            data["tier"] = self.promotion_tier
        if self.performance_insights:
            data["pi"] = self.performance_insights_retention or True
        if self.monitoring_interval:
            data["monitoring"] = self.monitoring_interval
        if not self.auto_minor_version_upgrade:
            data["minorUpgrades"] = False
        if self.parameter_group is not None:
            data["group"] = self.parameter_group
        return data

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> InstanceShape:
        pi = raw.get("pi")
        return cls(
            instance_class=str(raw["class"]),
            writer=bool(raw.get("writer", False)),
            promotion_tier=int(raw.get("tier", DEFAULT_TIER)),
            performance_insights=pi is not None,
            performance_insights_retention=None if pi is None or isinstance(pi, bool) else int(pi),
            monitoring_interval=int(raw.get("monitoring", 0)),
            auto_minor_version_upgrade=bool(raw.get("minorUpgrades", True)),
            parameter_group=raw.get("group"),
        )


InstanceFields = tuple[bool, str | None, int | None, tuple[InstanceRequest, ...] | None]


def valid_instance_fields(raw: Mapping[str, Any], path: str, problems: Problems) -> InstanceFields:
    """A target's instanceClass, instanceCount and instances (an explicit list, exclusive with the other two), each
    optional: whether all given are valid, and each, None when not given."""
    for name in sorted({"instanceClass", "instanceCount"} & set(raw) if "instances" in raw else ()):
        problems.add(
            f"{path}.{name}", f"give either {path}.instances or {name} (and instanceCount), not both"
        )
    instance_class = (
        _class(raw["instanceClass"], f"{path}.instanceClass", problems) if "instanceClass" in raw else None
    )
    count = (
        _whole(raw["instanceCount"], f"{path}.instanceCount", 1, MAX_INSTANCES, problems)
        if "instanceCount" in raw
        else None
    )
    instances = _instances(raw["instances"], f"{path}.instances", problems) if "instances" in raw else None
    values = {"instanceClass": instance_class, "instanceCount": count, "instances": instances}
    return (
        all(name not in raw or value is not None for name, value in values.items()),
        instance_class,
        count,
        instances,
    )


def _instances(value: Any, path: str, problems: Problems) -> tuple[InstanceRequest, ...] | None:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_INSTANCES or not all(map(_is_object, value)):
        problems.add(
            path, f"must be a list of 1 to {MAX_INSTANCES} objects {{instanceClass, promotionTier?}}"
        )
        return None
    requests = []
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        for unknown in sorted(set(item) - {"instanceClass", "promotionTier"}):
            problems.add(f"{where}.{unknown}", "unknown field; allowed: instanceClass, promotionTier")
        instance_class = _class(item.get("instanceClass"), f"{where}.instanceClass", problems)
        tier = item.get("promotionTier")
        if (
            tier is not None
            and _whole(tier, f"{where}.promotionTier", 0, MAX_PROMOTION_TIER, problems) is None
        ):
            continue
        requests += [InstanceRequest(instance_class, tier)] if instance_class else []
    return tuple(requests) if len(requests) == len(value) else None


def _is_object(value: Any) -> bool:
    return isinstance(value, Mapping)


def _class(value: Any, path: str, problems: Problems) -> str | None:
    if isinstance(value, str) and INSTANCE_CLASS.fullmatch(value):
        return value
    problems.add(path, f"must look like db.r6g.large, or be {SERVERLESS}, got {value!r}")
    return None


def _whole(value: Any, path: str, low: int, high: int, problems: Problems) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.add(path, f"must be a whole number from {low} to {high}, got {value!r}")
        return None
    return value


def shape_from_instance(raw: Mapping[str, Any], writer: bool) -> InstanceShape:
    """The shape of a DescribeDBInstances entry (the DBInstance shape of the RDS API)."""
    groups = raw.get("DBParameterGroups") or ()
    pi = bool(raw.get("PerformanceInsightsEnabled", False))
    return InstanceShape(
        instance_class=str(raw["DBInstanceClass"]),
        writer=writer,
        promotion_tier=int(raw.get("PromotionTier", DEFAULT_TIER)),
        performance_insights=pi,
        performance_insights_retention=raw.get("PerformanceInsightsRetentionPeriod") if pi else None,
        monitoring_interval=int(raw.get("MonitoringInterval", 0) or 0),
        auto_minor_version_upgrade=bool(raw.get("AutoMinorVersionUpgrade", True)),
        parameter_group=_custom_group(groups),
    )


def _custom_group(groups: Any) -> str | None:
    """The instance's DB parameter group, unless it is the engine's default (named default.<family>), which every
    account has: only a custom group is mapped or dropped."""
    name = str(groups[0]["DBParameterGroupName"]) if groups else ""
    return name if name and not name.startswith("default.") else None


def ordered_shapes(instances: list[tuple[str, InstanceShape]]) -> tuple[InstanceShape, ...]:
    """Writer first, then by promotion tier (the order RDS promotes readers in), then by identifier."""
    ordered = sorted(instances, key=lambda item: (not item[1].writer, item[1].promotion_tier, item[0]))
    return tuple(shape for _, shape in ordered)


def instance_parameters(
    shape: InstanceShape,
    kms_key_arn: str | None,
    monitoring_role: str,
    parameter_groups: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The CreateDBInstance parameters of one planned instance (beyond its identifier, engine, cluster and tags).

    Performance Insights is encrypted with the target's key (``kms_key_arn``; None: RDS's default key, "If you
    don't specify a value for PerformanceInsightsKMSKeyId, then Amazon RDS uses your default KMS key"), and
    Enhanced Monitoring needs a role RDS can assume: "If MonitoringInterval is set to a value other than 0, then
    you must supply a MonitoringRoleArn value"
    (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html)."""
    params: dict[str, Any] = {
        "DBInstanceClass": shape.instance_class,
        "PromotionTier": shape.promotion_tier,
        "AutoMinorVersionUpgrade": shape.auto_minor_version_upgrade,
    }
    if shape.performance_insights:
        params["EnablePerformanceInsights"] = True
        if kms_key_arn:
            params["PerformanceInsightsKMSKeyId"] = kms_key_arn
        if shape.performance_insights_retention is not None:
            params["PerformanceInsightsRetentionPeriod"] = shape.performance_insights_retention
    if shape.monitoring_interval:
        params["MonitoringInterval"] = shape.monitoring_interval
        params["MonitoringRoleArn"] = monitoring_role
    group = (parameter_groups or {}).get(shape.parameter_group or "")
    if group:
        params["DBParameterGroupName"] = group
    return params


def monitoring_role_arn(target_role_arn: str) -> str:
    """The Enhanced Monitoring role of a target account: beside the target role (same account and path), named
    like it with MONITORING_ROLE_SUFFIX (member-accounts/target-account.yaml)."""
    return target_role_arn + MONITORING_ROLE_SUFFIX
