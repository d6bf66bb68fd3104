"""What a target does not carry from its source: each plan line that drops a value the source has (a resource of
the source account, or a setting the engine does not have) becomes a warning before the run, so that a target
never silently differs from its source (README "Carried settings")."""

from __future__ import annotations

from aurora_ferry.core import PlanRow, instance_rows, plan_carry, planned_instance_groups
from aurora_ferry.migration import Target
from aurora_ferry.preflight.context import Preflight, TargetAccount

# What a plan line shows for a source that has nothing there: nothing is lost by not carrying it.
_NOTHING = frozenset({"default", "none", "unknown", ""})


def carried_rows(preflight: Preflight, target: Target) -> list[PlanRow]:
    """The plan's line per cluster setting (core.carry_plan), per planned instance and per source instance parameter
    group (core.instance_plan) for `target`; none while the source's configuration is unknown."""
    found = preflight.source
    if found is None or found.configuration is None:
        return []
    configuration = found.configuration
    carry = plan_carry(configuration, target, target.settings, target.kms_key_arn, found.engine)
    instances = instance_rows(
        configuration.instances,
        preflight.planned_instances(target),
        target,
        planned_instance_groups(target, configuration),
    )
    return [*carry.rows, *instances]


def check_carried_settings(preflight: Preflight, account: TargetAccount) -> None:
    """A warning per dropped setting the source has, naming the target's field that would map it, if any."""
    target = account.target
    for row in carried_rows(preflight, target):
        if not row.how.startswith("dropped") or row.source in _NOTHING or row.source.startswith("default."):
            continue
        preflight.add(
            "warning",
            "carried-settings",
            target.account_id,
            row.setting,
            f"targets[{account.index}] ({target.cluster_identifier}) will not have the source's {row.setting} "
            f"({row.source}): {row.how.removeprefix('dropped: ')}; it gets {row.target}."
            f"{_MAPPED_BY.get(row.setting, '')}",
        )


# The target's own field that maps a per-account setting, where there is one.
_MAPPED_BY = {
    "DBSubnetGroupName": " Give targets[].dbSubnetGroupName to place it.",
    "VpcSecurityGroupIds": " Give targets[].vpcSecurityGroupIds to place it.",
    "DBClusterParameterGroupName": " Give targets[].dbClusterParameterGroupName to choose one.",
    "DBParameterGroupName (instances)": " Give targets[].dbParameterGroupName to choose one.",
    "AssociatedRoles": " Associate the target account's own roles after the run (rds:AddRoleToDBCluster).",
}
