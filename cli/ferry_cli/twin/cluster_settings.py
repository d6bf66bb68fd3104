"""Aurora cluster settings as AWS sets them, where moto does not: what a restore carries from its snapshot (and
what it leaves to the defaults), and the Aurora storage types and lifecycle support a cluster is created with.

Moto's RestoreDBClusterFromSnapshot copies the original cluster's whole configuration into the restored cluster
(its subnet group, security groups, windows, Serverless v2 scaling, copy-tags and deletion protection included) and
ignores a parameter given as false or 0, so in moto every setting "carries" even when the caller passes nothing.
AWS creates the restored cluster "from the source snapshot with a default configuration"
(https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBClusterFromSnapshot.html): of a parameter
left out, only what the snapshot is (engine, version, master user, database, encryption and key), Port ("Default:
The same port as the original DB cluster") and BackupRetentionPeriod ("Default: Uses existing setting") come from
it; every other setting takes the default the same page gives: IAM database authentication off, no log exports,
BacktrackWindow 0, StorageType aurora, no Serverless v2 scaling, EngineLifecycleSupport
open-source-rds-extended-support, CopyTagsToSnapshot and DeletionProtection off, a backup and a maintenance
window RDS chooses, the default parameter group, subnet group and security group.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MODIFY_SECONDS",
    "aurora_settings",
    "changes_settings",
    "restored_cluster_props",
    "set_aurora_settings",
]

# What a restore takes from its snapshot (moto's DBCluster attribute names, which its create_db_cluster accepts).
# EngineVersion is passed by every restore the product makes; moto's own version default is kept for the rest.
CARRIED_FROM_SNAPSHOT = (
    "engine",
    "engine_version",
    "engine_mode",
    "master_username",
    "master_user_password",
    "database_name",
    "character_set_name",
    "storage_encrypted",
    "kms_key_id",
    "port",
    "backup_retention_period",
    "allocated_storage",
    "availability_zones",
    "license_model",
)
# StorageType: "Valid Values: aurora, aurora-iopt1 (Aurora DB clusters) ... Default: aurora" (same page).
AURORA_STORAGE_TYPES = ("aurora", "aurora-iopt1")
DEFAULT_LIFECYCLE_SUPPORT = "open-source-rds-extended-support"


# ModifyDBCluster settings (moto's names) whose change, applied at once, leaves the cluster "modifying" ("The DB
# cluster is being modified because of a customer request to modify the DB cluster",
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/accessing-monitoring.html#Aurora.Status) for
# MODIFY_SECONDS. AWS says neither which changes take time nor how long, so the twin assumes the worst a run must
# handle, a wait, and a minute, as for a managed master password (ferry_cli.twin.clusters). Deletion protection and
# renames keep their own rules.
MODIFIED_SETTINGS = (
    "port",
    "preferred_maintenance_window",
    "preferred_backup_window",
    "backup_retention_period",
    "enable_iam_database_authentication",
    "backtrack_window",
    "storage_type",
    "serverless_v2_scaling_configuration",
    "engine_lifecycle_support",
)
MODIFY_SECONDS = 60.0


def changes_settings(cluster: Any, kwargs: dict[str, Any]) -> bool:
    """Whether ModifyDBCluster's ``kwargs``, applied at once, change one of MODIFIED_SETTINGS of ``cluster``."""
    if not kwargs.get("apply_immediately"):
        return False
    return any(
        kwargs.get(name) is not None and kwargs.get(name) != getattr(cluster, name, None)
        for name in MODIFIED_SETTINGS
    )


def restored_cluster_props(original: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The create_db_cluster arguments of a cluster restored from a snapshot of the ``original`` cluster (moto's
    ``get_cfg()`` of it) with the call's parameters ``overrides``: the snapshot's own settings, then every parameter
    given, false and 0 included (moto drops those, keeping the original's)."""
    props = {key: original[key] for key in CARRIED_FROM_SNAPSHOT if key in original}
    props.update({key: value for key, value in overrides.items() if value is not None})
    return props


def aurora_settings(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Takes out of CreateDBCluster's ``kwargs`` what moto cannot take (it knows only the RDS storage types, so an
    Aurora one fails its allocated-storage lookup) and returns the Aurora settings to put on the cluster once moto
    has made it (set_aurora_settings)."""
    engine = str(kwargs.get("engine") or "")
    settings: dict[str, Any] = {
        "engine_lifecycle_support": kwargs.pop("engine_lifecycle_support", None) or DEFAULT_LIFECYCLE_SUPPORT
    }
    if engine.startswith("aurora"):
        storage = kwargs.get("storage_type")
        if storage in AURORA_STORAGE_TYPES or storage is None:
            kwargs.pop("storage_type", None)
            settings["storage_type"] = storage or "aurora"
    return settings


def set_aurora_settings(cluster: Any, settings: dict[str, Any]) -> None:
    """What aurora_settings took out, on the cluster moto made: DescribeDBClusters then answers it."""
    for name, value in settings.items():
        setattr(cluster, name, value)
