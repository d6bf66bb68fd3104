"""The source cluster's configuration a target carries by default (issue 11, cluster-level settings): what the run
reads from the source's DescribeDBClusters entry (or, when only a snapshot is left, its DescribeDBClusterSnapshots
entry), carried in the state machine's payload to every target, and the per-target overrides of the input
contract (``targets[].settings``), validated before any AWS call.

A restore "is created from the source snapshot with a default configuration"
(https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBClusterFromSnapshot.html), so every
setting here that the source does not have at its default must be passed again; aurora_ferry.core.carry_plan maps
them onto RestoreDBClusterFromSnapshot and ModifyDBCluster parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from aurora_ferry.core.instances import MONITORING_INTERVALS, PI_RETENTION_DAYS, InstanceShape
from aurora_ferry.core.validation import (
    Problems,
    camel_json,
    camel_key,
    reject_unknown,
    valid_bool,
    valid_int,
)

# RestoreDBClusterFromSnapshot's StorageType for Aurora: Standard or I/O-Optimized (same API page).
STORAGE_TYPES = ("aurora", "aurora-iopt1")
# EngineLifecycleSupport "Valid Values: open-source-rds-extended-support | open-source-rds-extended-support-disabled",
# "Default: open-source-rds-extended-support" (same API page).
LIFECYCLE_SUPPORT = ("open-source-rds-extended-support", "open-source-rds-extended-support-disabled")
# EnableCloudwatchLogsExports: "Aurora MySQL: audit, error, general, instance, slowquery, and iam-db-auth-error";
# "Aurora PostgreSQL: instance, postgresql, and iam-db-auth-error" (same API page). The engine is not known when
# the input is validated, so the union is accepted there and RDS judges the rest.
LOG_TYPES = ("audit", "error", "general", "iam-db-auth-error", "instance", "postgresql", "slowquery")
# BacktrackWindow: "0 to 259,200 (72 hours)"; BackupRetentionPeriod: "1 to 35"; Port: "1150-65535" (same page).
MAX_BACKTRACK_SECONDS = 259_200
# Aurora Serverless v2 capacity: 0 to 256 ACUs in steps of 0.5 (0 pauses automatically on recent versions).
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.setting-capacity.html
MAX_ACU = 256.0
BACKUP_WINDOW = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$", re.ASCII)
MAINTENANCE_WINDOW = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$",
    re.ASCII,
)
# What a target may override (targets[].settings): every carried setting but the two the target's cluster always
# has its own way (deletion protection from targets[].deletionProtection; CopyTagsToSnapshot always on, so that a
# replaced cluster's final snapshot carries the run's tags, which the target role's grant requires).
CARRIED_SETTINGS_FIELDS = frozenset(
    {
        "port",
        "iamDatabaseAuthentication",
        "cloudwatchLogsExports",
        "backtrackWindow",
        "storageType",
        "serverlessV2Scaling",
        "engineLifecycleSupport",
        "backupRetentionPeriod",
        "preferredBackupWindow",
        "preferredMaintenanceWindow",
        # Instance-level: each applies to every instance of the target (aurora_ferry.core.instance_plan).
        "performanceInsights",
        "performanceInsightsRetentionPeriod",
        "monitoringInterval",
        "autoMinorVersionUpgrade",
    }
)
_TARGETS_OWN = {
    "deletionProtection": "give targets[].deletionProtection instead (the target's own field)",
    "copyTagsToSnapshot": "always on: a replaced cluster's final snapshot must carry the run's tags",
}

Origin = Literal["cluster", "snapshot"]
# A carried setting's name in the DBCluster shape (DescribeDBClusters), for those the run carries as RDS gives them.
_DESCRIBED_AS = "described_as"
# Those the DBClusterSnapshot shape records too, under the same names (configuration_from_snapshot).
_IN_SNAPSHOTS = frozenset({"port", "storage_type", "backup_retention_period", "preferred_backup_window"})


def _described_as(api_name: str) -> Any:
    """A setting RDS describes as ``api_name`` and the run carries as it is (None, its default, when unknown)."""
    return field(default=None, metadata={_DESCRIBED_AS: api_name})


@dataclass(frozen=True)
class Scaling:
    """ServerlessV2ScalingConfiguration: the capacity range, in Aurora capacity units."""

    min_capacity: float
    max_capacity: float

    def to_api(self) -> dict[str, float]:
        return {"MinCapacity": self.min_capacity, "MaxCapacity": self.max_capacity}


@dataclass(frozen=True)
class CarriedSettings:
    """The carried cluster settings, each None where unknown (a snapshot does not record it) or, as overrides,
    not given."""

    port: int | None = _described_as("Port")
    iam_database_authentication: bool | None = None
    cloudwatch_logs_exports: tuple[str, ...] | None = None
    # Only Aurora MySQL has a backtrack window; RDS leaves the field out elsewhere.
    backtrack_window: int | None = _described_as("BacktrackWindow")
    storage_type: str | None = _described_as("StorageType")
    serverless_v2_scaling: Scaling | None = None
    engine_lifecycle_support: str | None = _described_as("EngineLifecycleSupport")
    backup_retention_period: int | None = _described_as("BackupRetentionPeriod")
    preferred_backup_window: str | None = _described_as("PreferredBackupWindow")
    preferred_maintenance_window: str | None = _described_as("PreferredMaintenanceWindow")
    # Read from the source for the plan; never overridden here (CARRIED_SETTINGS_FIELDS).
    copy_tags_to_snapshot: bool | None = _described_as("CopyTagsToSnapshot")
    deletion_protection: bool | None = _described_as("DeletionProtection")
    # Overrides only, for every instance (the source's are per instance: SourceConfiguration.instances).
    performance_insights: bool | None = None
    performance_insights_retention_period: int | None = None
    monitoring_interval: int | None = None
    auto_minor_version_upgrade: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """camelCase, unknown settings left out: small, as it travels in the state machine's payload."""
        data: dict[str, Any] = camel_json(asdict(self))
        return data

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CarriedSettings:
        """``to_json`` read back: each field under its camelCase name, the two that are not plain JSON rebuilt."""
        scaling = raw.get("serverlessV2Scaling")
        logs = raw.get("cloudwatchLogsExports")
        built = {"cloudwatch_logs_exports", "serverless_v2_scaling"}
        return cls(
            **{item.name: raw.get(camel_key(item.name)) for item in fields(cls) if item.name not in built},
            cloudwatch_logs_exports=None if logs is None else tuple(logs),
            serverless_v2_scaling=None
            if scaling is None
            else Scaling(float(scaling["minCapacity"]), float(scaling["maxCapacity"])),
        )


@dataclass(frozen=True, kw_only=True)
class SourceConfiguration:
    """The source's carried settings and, for the plan only, what is the source account's own (never copied)."""

    engine: str
    origin: Origin
    settings: CarriedSettings
    db_subnet_group: str | None = None
    vpc_security_group_ids: tuple[str, ...] = ()
    db_cluster_parameter_group: str | None = None
    associated_roles: tuple[str, ...] = ()
    kms_key_id: str | None = None
    # The source cluster's instances, writer first (aurora_ferry.core.instances); empty when unknown (a snapshot
    # whose cluster no longer exists).
    instances: tuple[InstanceShape, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = camel_json(asdict(self))
        data["instances"] = [shape.to_json() for shape in self.instances]
        # Empty lists say nothing the defaults do not.
        return {key: value for key, value in data.items() if value != []}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> SourceConfiguration:
        return cls(
            engine=str(raw["engine"]),
            origin="snapshot" if raw.get("origin") == "snapshot" else "cluster",
            settings=CarriedSettings.from_json(raw.get("settings", {})),
            db_subnet_group=raw.get("dbSubnetGroup"),
            vpc_security_group_ids=tuple(raw.get("vpcSecurityGroupIds", ())),
            db_cluster_parameter_group=raw.get("dbClusterParameterGroup"),
            associated_roles=tuple(raw.get("associatedRoles", ())),
            kms_key_id=raw.get("kmsKeyId"),
            instances=tuple(InstanceShape.from_json(shape) for shape in raw.get("instances", ())),
        )


def configuration_from_cluster(raw: Mapping[str, Any]) -> SourceConfiguration:
    """The configuration of a DescribeDBClusters entry (the DBCluster shape of the RDS API)."""
    settings = CarriedSettings(
        **_as_described(raw),
        iam_database_authentication=bool(raw.get("IAMDatabaseAuthenticationEnabled", False)),
        cloudwatch_logs_exports=tuple(raw.get("EnabledCloudwatchLogsExports", ())),
        serverless_v2_scaling=_scaling(raw.get("ServerlessV2ScalingConfiguration")),
    )
    return SourceConfiguration(
        engine=str(raw.get("Engine", "")),
        origin="cluster",
        settings=settings,
        db_subnet_group=raw.get("DBSubnetGroup"),
        vpc_security_group_ids=tuple(
            str(group["VpcSecurityGroupId"]) for group in raw.get("VpcSecurityGroups", ())
        ),
        db_cluster_parameter_group=raw.get("DBClusterParameterGroup"),
        associated_roles=tuple(str(role["RoleArn"]) for role in raw.get("AssociatedRoles", ())),
        kms_key_id=raw.get("KmsKeyId"),
    )


def configuration_from_snapshot(raw: Mapping[str, Any]) -> SourceConfiguration:
    """What a DescribeDBClusterSnapshots entry records of its cluster (the DBClusterSnapshot shape has Port,
    IAMDatabaseAuthenticationEnabled, StorageType, BackupRetentionPeriod and PreferredBackupWindow), for a source
    snapshot whose cluster no longer exists: the rest is unknown and left to RDS's defaults."""
    iam = raw.get("IAMDatabaseAuthenticationEnabled")
    settings = CarriedSettings(
        **_as_described(raw, _IN_SNAPSHOTS),
        iam_database_authentication=None if iam is None else bool(iam),
    )
    return SourceConfiguration(
        engine=str(raw.get("Engine", "")),
        origin="snapshot",
        settings=settings,
        kms_key_id=raw.get("KmsKeyId"),
    )


def _as_described(raw: Mapping[str, Any], only: Collection[str] | None = None) -> dict[str, Any]:
    """The settings a described entry gives as they are carried (``only`` those, when given), None where the
    entry leaves one out."""
    return {
        item.name: raw.get(item.metadata[_DESCRIBED_AS])
        for item in fields(CarriedSettings)
        if _DESCRIBED_AS in item.metadata and (only is None or item.name in only)
    }


def _scaling(raw: Any) -> Scaling | None:
    if not isinstance(raw, Mapping) or raw.get("MaxCapacity") is None:
        return None
    return Scaling(float(raw.get("MinCapacity", 0.5)), float(raw["MaxCapacity"]))


# --- the contract's overrides (targets[].settings) -------------------------------------------------------------


def valid_carried_settings(value: Any, path: str, problems: Problems) -> CarriedSettings | None:
    """targets[].settings: overrides of the carried settings, each checked against what the RDS API allows; a
    bad one is reported and left out."""
    if not isinstance(value, Mapping):
        problems.add(path, f"must be an object of settings ({', '.join(sorted(CARRIED_SETTINGS_FIELDS))})")
        return None
    for key, why in _TARGETS_OWN.items():
        if key in value:
            problems.add(f"{path}.{key}", why)
    reject_unknown(
        {k: v for k, v in value.items() if k not in _TARGETS_OWN},
        CARRIED_SETTINGS_FIELDS,
        f"{path}.",
        problems,
    )

    def given_int(name: str, low: int, high: int) -> int | None:
        return valid_int(value[name], f"{path}.{name}", low, high, problems) if name in value else None

    def given(name: str, accepted: Callable[[Any], bool], expected: str) -> Any:
        """The setting ``name`` as given, when ``accepted``; otherwise reported as not ``expected``."""
        if name not in value:
            return None
        if accepted(value[name]):
            return value[name]
        problems.add(f"{path}.{name}", f"must be {expected}, got {value[name]!r}")
        return None

    def given_choice(name: str, allowed: tuple[str, ...]) -> str | None:
        found = given(name, lambda raw: raw in allowed, f"one of {', '.join(allowed)}")
        return None if found is None else str(found)

    def given_window(name: str, pattern: re.Pattern[str], shape: str) -> str | None:
        found = given(
            name,
            lambda raw: isinstance(raw, str) and pattern.fullmatch(raw) is not None,
            f"a UTC window like {shape}",
        )
        return None if found is None else str(found)

    def given_bool(name: str) -> bool | None:
        return valid_bool(value[name], f"{path}.{name}", False, problems) if name in value else None

    def given_value(name: str, allowed: tuple[int, ...]) -> int | None:
        # A bool is an int to Python: True must not pass as 1.
        found = given(
            name,
            lambda raw: not isinstance(raw, bool) and raw in allowed,
            f"one of {', '.join(map(str, allowed))}",
        )
        return None if found is None else int(found)

    iam = value.get("iamDatabaseAuthentication")
    return CarriedSettings(
        port=given_int("port", 1150, 65535),
        iam_database_authentication=None
        if iam is None
        else valid_bool(iam, f"{path}.iamDatabaseAuthentication", False, problems),
        cloudwatch_logs_exports=_valid_logs(value, path, problems),
        backtrack_window=given_int("backtrackWindow", 0, MAX_BACKTRACK_SECONDS),
        storage_type=given_choice("storageType", STORAGE_TYPES),
        serverless_v2_scaling=_valid_scaling(value, path, problems),
        engine_lifecycle_support=given_choice("engineLifecycleSupport", LIFECYCLE_SUPPORT),
        backup_retention_period=given_int("backupRetentionPeriod", 1, 35),
        preferred_backup_window=given_window("preferredBackupWindow", BACKUP_WINDOW, "03:00-03:30"),
        preferred_maintenance_window=given_window(
            "preferredMaintenanceWindow", MAINTENANCE_WINDOW, "sun:05:00-sun:05:30"
        ),
        performance_insights=given_bool("performanceInsights"),
        performance_insights_retention_period=given_value(
            "performanceInsightsRetentionPeriod", PI_RETENTION_DAYS
        ),
        monitoring_interval=given_value("monitoringInterval", MONITORING_INTERVALS),
        auto_minor_version_upgrade=given_bool("autoMinorVersionUpgrade"),
    )


def _valid_logs(value: Mapping[str, Any], path: str, problems: Problems) -> tuple[str, ...] | None:
    if "cloudwatchLogsExports" not in value:
        return None
    logs = value["cloudwatchLogsExports"]
    where = f"{path}.cloudwatchLogsExports"
    if not isinstance(logs, list) or any(log not in LOG_TYPES for log in logs):
        problems.add(
            where, f"must be a list of log types from {', '.join(LOG_TYPES)} (may be empty), got {logs!r}"
        )
        return None
    return tuple(dict.fromkeys(logs))


def _valid_scaling(value: Mapping[str, Any], path: str, problems: Problems) -> Scaling | None:
    if "serverlessV2Scaling" not in value:
        return None
    where = f"{path}.serverlessV2Scaling"
    raw = value["serverlessV2Scaling"]
    if not isinstance(raw, Mapping) or set(raw) != {"minCapacity", "maxCapacity"}:
        problems.add(where, "must be an object with minCapacity and maxCapacity (Aurora capacity units)")
        return None
    bounds = []
    for name in ("minCapacity", "maxCapacity"):
        acu = raw[name]
        if (
            isinstance(acu, bool)
            or not isinstance(acu, int | float)
            or not 0 <= acu <= MAX_ACU
            or acu * 2 % 1
        ):
            problems.add(f"{where}.{name}", f"must be 0 to {MAX_ACU:g} in steps of 0.5, got {acu!r}")
            return None
        bounds.append(float(acu))
    if bounds[1] < max(bounds[0], 1.0):
        problems.add(where, f"maxCapacity must be at least 1 and at least minCapacity, got {bounds[1]:g}")
        return None
    return Scaling(*bounds)
