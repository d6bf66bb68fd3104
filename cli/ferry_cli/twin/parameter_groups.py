"""DB cluster and DB parameter groups as AWS keeps them, where moto 5.x does not.

Moto stores a group's parameters as the caller sent them and answers DescribeDB(Cluster)Parameters with exactly
those, whatever ``Source`` asks for: only user-modified parameters exist in moto, so ``Source="user"`` is answered
right, but without ``ApplyType``. It accepts any number of parameters per modify call and any apply method,
answers DescribeDBParameterGroups for a missing group with an empty list, creates a cluster (a restore) with a
cluster parameter group that does not exist, and deletes a group that a cluster or an instance still uses. AWS:

- ModifyDBClusterParameterGroup / ModifyDBParameterGroup: "A maximum of 20 parameters can be modified in a single
  request" (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBClusterParameterGroup.html,
  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBParameterGroup.html); AWS answers more
  with InvalidParameterCombination, "Cannot modify more than 20 parameters in a single request" (as reported in
  https://github.com/hashicorp/terraform-provider-aws/pull/1298).
- The same pages: "You can use the immediate value with dynamic parameters only"; a static parameter with
  ``immediate`` is refused with InvalidParameterCombination.
- DescribeDBParameterGroups of a name the account does not have: DBParameterGroupNotFound (the API page's Errors,
  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBParameterGroups.html).
- RestoreDBClusterFromSnapshot / RestoreDBClusterToPointInTime / CreateDBCluster with a DBClusterParameterGroupName
  the account does not have: DBClusterParameterGroupNotFound (the Errors of those API pages, e.g.
  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBClusterFromSnapshot.html). (Moto already
  refuses CreateDBInstance with a missing DBParameterGroupName.)
- DeleteDBClusterParameterGroup / DeleteDBParameterGroup of a group in use: InvalidDBParameterGroupState, "The DB
  parameter group is in use or is in an invalid state"
  (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBParameterGroup.html).

Each described parameter gets its ``ApplyType`` from APPLY_TYPES and ``Source`` "user", as DescribeDBParameters
returns them (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_Parameter.html).

Moto answers every instance's DBParameterGroups[].ParameterApplyStatus "in-sync". AWS: "Changes to static
parameters are applied only after the DB instance is rebooted" and the instance shows its group as
"pending-reboot" until then; a new instance starts with its group
(https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_WorkingWithParamGroups.Modifying.html,
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_WorkingWithParamGroups.Associating.html). So a
static parameter changed in a DB parameter group makes the instances that use it "pending-reboot", and
RebootDBInstance brings them back "in-sync" (InstanceParameterStatusRule). The cluster group's status in
DBClusterMembers stays moto's "in-sync".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from moto.rds.exceptions import DBParameterGroupNotFoundError, RDSClientError
from moto.rds.models import DBInstance

from ferry_cli.twin.lifecycle import RdsRulesBase
from ferry_cli.twin.patching import MotoPatch

__all__ = [
    "APPLY_TYPES",
    "MAX_PARAMETERS_PER_MODIFY",
    "InstanceParameterStatusRule",
    "ParameterGroupRules",
    "apply_type",
]
# Set on a moto DBInstance whose DB parameter group has a static change it has not rebooted for.
_PENDING_REBOOT = "_twin_parameters_pending_reboot"

MAX_PARAMETERS_PER_MODIFY = 20
# How long a reboot keeps an instance "rebooting": AWS gives no figure; a minute, as for a cluster's modification
# (ferry_cli.twin.cluster_settings.MODIFY_SECONDS), makes a run wait for it.
REBOOT_SECONDS = 60.0
# Whether a parameter the worlds use is static (applied at the next reboot) or dynamic. Aurora PostgreSQL's
# parameters are PostgreSQL's: those PostgreSQL can only set at server start (context "postmaster",
# https://www.postgresql.org/docs/16/view-pg-settings.html, and each parameter's page under
# https://www.postgresql.org/docs/16/runtime-config.html) are static in RDS, the rest dynamic; the RDS-specific ones
# as the Aurora PostgreSQL parameter reference lists them
# (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraPostgreSQL.Reference.ParameterGroups.html).
# A parameter not listed here is answered as dynamic.
APPLY_TYPES: dict[str, str] = {
    **dict.fromkeys(
        (
            "shared_preload_libraries",
            "max_connections",
            "track_activity_query_size",
            "max_worker_processes",
            "max_locks_per_transaction",
            "max_prepared_transactions",
            "autovacuum_max_workers",
            "pg_stat_statements.max",
        ),
        "static",
    ),
    **dict.fromkeys(
        (
            "work_mem",
            "maintenance_work_mem",
            "log_min_duration_statement",
            "log_statement",
            "log_connections",
            "log_disconnections",
            "log_lock_waits",
            "log_temp_files",
            "log_autovacuum_min_duration",
            "statement_timeout",
            "idle_in_transaction_session_timeout",
            "lock_timeout",
            "deadlock_timeout",
            "random_page_cost",
            "effective_cache_size",
            "default_statistics_target",
            "autovacuum_vacuum_scale_factor",
            "autovacuum_analyze_scale_factor",
            "autovacuum_vacuum_cost_limit",
            "autovacuum_naptime",
            "temp_file_limit",
            "timezone",
            "pg_stat_statements.track",
            "rds.force_ssl",
            "aws_default_s3_role",
            "aws_default_lambda_role",
        ),
        "dynamic",
    ),
}


def apply_type(name: str) -> str:
    return APPLY_TYPES.get(name, "dynamic")


def _check_modify(parameters: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The parameters of one modify call, refused as AWS refuses them, each completed as AWS describes it."""
    items = list(parameters)
    if len(items) > MAX_PARAMETERS_PER_MODIFY:
        raise RDSClientError(
            "InvalidParameterCombination", "Cannot modify more than 20 parameters in a single request"
        )
    completed = []
    for item in items:
        name = str(item.get("ParameterName", ""))
        kind = apply_type(name)
        if kind == "static" and item.get("ApplyMethod") == "immediate":
            raise RDSClientError(
                "InvalidParameterCombination",
                f"cannot use immediate apply method for static parameter {name}",
            )
        completed.append({**item, "ApplyType": kind, "Source": "user", "IsModifiable": True})
    return completed


# The message a delete of a group that is still in use is refused with, by kind of group.
_STILL_IN_USE = {
    "cluster": "One or more database clusters are still members of group {name}",
    "instance": "One or more database instances are still members of parameter group {name}",
}


def _in_use(backend: Any, kind: str, name: str) -> bool:
    lowered = name.lower()
    if kind == "cluster":
        return any(
            str(getattr(c, "parameter_group", "")).lower() == lowered for c in backend.clusters.values()
        )
    return any(
        str(getattr(d, "db_parameter_group_name", "") or "").lower() == lowered
        for d in backend.databases.values()
    )


def _refuse_in_use(backend: Any, kind: str, name: str) -> None:
    """DeleteDBClusterParameterGroup / DeleteDBParameterGroup: InvalidDBParameterGroupState while a cluster (an
    instance, for a DB parameter group) still uses the group."""
    if _in_use(backend, kind, name):
        raise RDSClientError("InvalidDBParameterGroupState", _STILL_IN_USE[kind].format(name=name))


class ParameterGroupRules(RdsRulesBase):
    """The parameter group rules of the module docstring, a mixin of the twin's one ``RDSBackend`` patch."""

    replaces: ClassVar[tuple[str, ...]] = (
        "modify_db_cluster_parameter_group",
        "modify_db_parameter_group",
        "describe_db_parameter_groups",
        "delete_db_cluster_parameter_group",
        "delete_db_parameter_group",
        "create_db_cluster",
        "reboot_db_instance",
    )

    def modify_db_cluster_parameter_group(
        self, backend: Any, db_cluster_parameter_group_name: str, db_cluster_parameter_group_parameters: Any
    ) -> Any:
        return self.original("modify_db_cluster_parameter_group")(
            backend, db_cluster_parameter_group_name, _check_modify(db_cluster_parameter_group_parameters)
        )

    def modify_db_parameter_group(
        self, backend: Any, db_parameter_group_name: str, db_parameter_group_parameters: Any
    ) -> Any:
        items = _check_modify(db_parameter_group_parameters)
        group = self.original("modify_db_parameter_group")(backend, db_parameter_group_name, items)
        if any(item["ApplyType"] == "static" for item in items):
            lowered = db_parameter_group_name.lower()
            for database in backend.databases.values():
                if str(getattr(database, "db_parameter_group_name", "") or "").lower() == lowered:
                    setattr(database, _PENDING_REBOOT, True)
        return group

    def reboot_db_instance(self, backend: Any, db_instance_identifier: str) -> Any:
        """RebootDBInstance: only an available instance ("The DB instance must be in the available state",
        InvalidDBInstanceState, https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RebootDBInstance.html),
        which is then "rebooting" ("The DB instance is being rebooted because of a customer request or an Amazon
        RDS process that requires the rebooting of the DB instance",
        https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/accessing-monitoring.html#Overview.DBInstance.Status)
        for REBOOT_SECONDS, and applies its pending static parameters. Moto answers at once and changes nothing."""
        self.registry.advance()
        database = backend.databases.get(db_instance_identifier)
        if database is not None and (database.status != "available" or self.registry.is_tracked(database)):
            raise RDSClientError(
                "InvalidDBInstanceState",
                f"Instance {db_instance_identifier} is {database.status}, not available.",
            )
        database = self.original("reboot_db_instance")(backend, db_instance_identifier)
        setattr(database, _PENDING_REBOOT, False)
        self.registry.track("instance", database, "rebooting", REBOOT_SECONDS)
        return database

    def describe_db_parameter_groups(self, backend: Any, db_parameter_group_kwargs: dict[str, Any]) -> Any:
        found = self.original("describe_db_parameter_groups")(backend, db_parameter_group_kwargs)
        name = db_parameter_group_kwargs.get("db_parameter_group_name")
        if name and not found:
            raise DBParameterGroupNotFoundError(name)
        return found

    def delete_db_cluster_parameter_group(self, backend: Any, db_cluster_parameter_group_name: str) -> Any:
        _refuse_in_use(backend, "cluster", db_cluster_parameter_group_name)
        return self.original("delete_db_cluster_parameter_group")(backend, db_cluster_parameter_group_name)

    def delete_db_parameter_group(self, backend: Any, db_parameter_group_name: str) -> Any:
        _refuse_in_use(backend, "instance", db_parameter_group_name)
        return self.original("delete_db_parameter_group")(backend, db_parameter_group_name)

    def create_db_cluster(self, backend: Any, kwargs: dict[str, Any]) -> Any:
        """A new cluster (a restore, a clone) names an existing cluster parameter group, or a default one."""
        name = kwargs.get("db_cluster_parameter_group_name")
        if (
            name
            and not str(name).startswith("default.")
            and str(name).lower() not in backend.db_cluster_parameter_groups
        ):
            raise RDSClientError(
                "DBClusterParameterGroupNotFound", f"DBClusterParameterGroup not found: {name}"
            )
        parent: Any = super()
        return parent.create_db_cluster(backend, kwargs)


class InstanceParameterStatusRule(MotoPatch):
    """DBParameterGroups[].ParameterApplyStatus per instance: "pending-reboot" after a static change to its group
    until it is rebooted, else "in-sync" (module docstring)."""

    target = DBInstance

    def replacements(self) -> dict[str, Any]:
        return {"db_parameter_group_status_list": property(self.status_list)}

    @staticmethod
    def status_list(database: Any) -> list[dict[str, str]]:
        status = "pending-reboot" if getattr(database, _PENDING_REBOOT, False) else "in-sync"
        return [
            {"DBParameterGroupName": group.name, "ParameterApplyStatus": status}
            for group in database.db_parameter_groups()
        ]
