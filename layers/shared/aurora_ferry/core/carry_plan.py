"""How a target gets the source's configuration (aurora_ferry.core.carry): the RestoreDBClusterFromSnapshot
parameters to add, the ModifyDBCluster parameters to apply once the restored cluster is available, and one plan row
per setting saying where its value comes from.

What a restore does with a setting left out, from the API reference
(https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBClusterFromSnapshot.html, parameter names as
botocore's RDS service model 2014-10-31 has them): Port "Default: The same port as the original DB cluster";
EnableIAMDatabaseAuthentication "By default, mapping isn't enabled"; EnableCloudwatchLogsExports none;
BacktrackWindow "Default: 0" (Aurora MySQL only); StorageType "Default: aurora"; no
ServerlessV2ScalingConfiguration; EngineLifecycleSupport "Default: open-source-rds-extended-support" (Extended
Support charges past standard support); BackupRetentionPeriod "Default: Uses existing setting";
PreferredBackupWindow "a 30-minute window selected at random"; CopyTagsToSnapshot "The default is not to copy them";
DeletionProtection "By default, deletion protection isn't enabled". The restore does not take
PreferredMaintenanceWindow: only ModifyDBCluster does
(https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBCluster.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aurora_ferry.core.access import translated
from aurora_ferry.core.accounts import AccountAccess, ClusterTarget
from aurora_ferry.core.carry import CarriedSettings, Scaling, SourceConfiguration
from aurora_ferry.core.clusters import describe_cluster
from aurora_ferry.core.parameter_groups import groups_to_replicate, is_default_group

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

RESTORE = "restore parameter"
MODIFY = "modify after restore"
OVERRIDDEN = "overridden"


@dataclass(frozen=True)
class PlanRow:
    """One setting of a target's plan: the source's value, the target's, and how the target gets it."""

    setting: str
    source: str
    target: str
    how: str

    def to_json(self) -> dict[str, str]:
        return {"setting": self.setting, "source": self.source, "target": self.target, "how": self.how}


@dataclass(frozen=True)
class CarryPlan:
    """What the restore adds, what ModifyDBCluster applies after it (empty: nothing to modify), and the rows."""

    restore: dict[str, Any]
    modify: dict[str, Any]
    rows: tuple[PlanRow, ...]


@dataclass(frozen=True)
class _Setting:
    parameter: str
    field: str
    call: Literal["restore", "modify"]
    # What the target has when the value is unknown and nothing is passed (RDS's default, from the API reference).
    default: str
    engines: tuple[str, ...] = ()


_SETTINGS = (
    _Setting("Port", "port", "restore", "the snapshot's port"),
    _Setting("EnableIAMDatabaseAuthentication", "iam_database_authentication", "restore", "false"),
    _Setting("EnableCloudwatchLogsExports", "cloudwatch_logs_exports", "restore", "none"),
    _Setting("BacktrackWindow", "backtrack_window", "restore", "0", engines=("aurora-mysql",)),
    _Setting("StorageType", "storage_type", "restore", "aurora"),
    _Setting("ServerlessV2ScalingConfiguration", "serverless_v2_scaling", "restore", "none"),
    _Setting(
        "EngineLifecycleSupport", "engine_lifecycle_support", "restore", "open-source-rds-extended-support"
    ),
    _Setting("BackupRetentionPeriod", "backup_retention_period", "restore", "the snapshot's setting"),
    _Setting("PreferredBackupWindow", "preferred_backup_window", "restore", "a random 30-minute window"),
    _Setting(
        "PreferredMaintenanceWindow", "preferred_maintenance_window", "modify", "a random weekly window"
    ),
)


def plan_carry(
    source: SourceConfiguration,
    target: ClusterTarget,
    overrides: CarriedSettings | None,
    kms_key_arn: str,
    engine: str | None = None,
) -> CarryPlan:
    """The parameters and rows for a target restored from the source's snapshot (``engine``: the snapshot's, which
    the restore uses; by default the source's)."""
    engine = engine or source.engine
    given = overrides or CarriedSettings()
    restore: dict[str, Any] = {}
    modify: dict[str, Any] = {}
    rows: list[PlanRow] = []
    for setting in _SETTINGS:
        carried = getattr(source.settings, setting.field)
        override = getattr(given, setting.field)
        value = carried if override is None else override
        if setting.engines and engine not in setting.engines:
            if value is not None and value != 0:
                why = f"dropped: {engine} has no {setting.parameter} (only {', '.join(setting.engines)})"
                rows.append(PlanRow(setting.parameter, _shown(carried), "none", why))
            continue
        if value is None:
            rows.append(
                PlanRow(setting.parameter, "unknown", setting.default, f"default: {_unknown(source)}")
            )
            continue
        if value == ():
            # No log exports is what the restore does anyway.
            rows.append(PlanRow(setting.parameter, _shown(carried), "none", "default: the same"))
            continue
        (restore if setting.call == "restore" else modify)[setting.parameter] = _api(value)
        how = OVERRIDDEN if override is not None else (RESTORE if setting.call == "restore" else MODIFY)
        rows.append(PlanRow(setting.parameter, _shown(carried), _shown(value), how))
    rows += _targets_own(source, target, kms_key_arn)
    return CarryPlan(restore=restore, modify=modify, rows=tuple(rows))


def apply_cluster_settings(
    client: RDSClient, access: AccountAccess, cluster_id: str, wanted: dict[str, Any]
) -> dict[str, Any]:
    """Apply at once, with ModifyDBCluster, what of ``wanted`` (CarryPlan.modify) the cluster does not have yet;
    "modified" says whether the workflow must wait for it to be available again. Safe to repeat: the same values
    again change nothing. https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBCluster.html"""
    # Only what differs: a modification the cluster already has would only make the run wait for nothing.
    current = (describe_cluster(client, access, cluster_id) or {}) if wanted else {}
    changes = {name: value for name, value in wanted.items() if current.get(name) != value}
    if not changes:
        return {"modified": False}
    with translated(
        access, f"apply the carried settings {', '.join(sorted(changes))} to cluster {cluster_id}"
    ):
        client.modify_db_cluster(DBClusterIdentifier=cluster_id, ApplyImmediately=True, **changes)
    return {"modified": True}


def _targets_own(source: SourceConfiguration, target: ClusterTarget, kms_key_arn: str) -> list[PlanRow]:
    """The settings the target always has its own way, and the source account's own resources, never copied: a
    security group, subnet group, parameter group, IAM role or key names a resource of the source account."""
    settings = source.settings
    own = [
        PlanRow(
            "DeletionProtection",
            _shown(settings.deletion_protection),
            _shown(target.deletion_protection),
            "target's own: targets[].deletionProtection",
        ),
        PlanRow(
            "CopyTagsToSnapshot",
            _shown(settings.copy_tags_to_snapshot),
            "true",
            "target's own: always on, so a replaced cluster's final snapshot carries the run's tags",
        ),
        _placement(
            "DBSubnetGroupName",
            source.db_subnet_group,
            target.db_subnet_group_name,
            "targets[].dbSubnetGroupName",
        ),
        _placement(
            "VpcSecurityGroupIds",
            ", ".join(source.vpc_security_group_ids) or None,
            ", ".join(target.vpc_security_group_ids) or None,
            "targets[].vpcSecurityGroupIds",
        ),
        _cluster_group(source.db_cluster_parameter_group, target),
        PlanRow("KmsKeyId", source.kms_key_id or "none", kms_key_arn, "target's own: targets[].kmsKeyArn"),
    ]
    if source.associated_roles:
        own.append(
            PlanRow(
                "AssociatedRoles",
                ", ".join(source.associated_roles),
                "none",
                "dropped: per account (IAM roles of the source account; associate the target's own after the run)",
            )
        )
    return own


def _cluster_group(source: str | None, target: ClusterTarget) -> PlanRow:
    """The cluster parameter group: the target's own when it names one, else a replica of the source's custom one
    (what ReplicateParameterGroups replicates: core.parameter_groups.groups_to_replicate, README "Parameter
    groups"), else the target account's default."""
    setting = "DBClusterParameterGroupName"
    if source is None or target.db_cluster_parameter_group_name:
        return _placement(
            setting, source, target.db_cluster_parameter_group_name, "targets[].dbClusterParameterGroupName"
        )
    if is_default_group(source):
        return PlanRow(setting, source, "the target account's default", "default: the engine's default group")
    if groups_to_replicate(target, source, ()):
        return PlanRow(setting, source, source, "replicated group (ReplicateParameterGroups)")
    return PlanRow(setting, source, "the target account's default", "dropped: parameterGroups 'default'")


def _placement(setting: str, source: str | None, target: str | None, field: str) -> PlanRow:
    if target:
        return PlanRow(setting, source or "default", target, f"target's own: {field}")
    return PlanRow(setting, source or "default", "the target account's default", "dropped: per account")


def _unknown(source: SourceConfiguration) -> str:
    return "the source snapshot does not record it" if source.origin == "snapshot" else "the source has none"


def _api(value: Any) -> Any:
    if isinstance(value, Scaling):
        return value.to_api()
    if isinstance(value, tuple):
        return list(value)
    return value


def _shown(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Scaling):
        return f"{value.min_capacity:g}-{value.max_capacity:g} ACUs"
    if isinstance(value, tuple):
        return ", ".join(value) or "none"
    return str(value)
