"""The migration's parameter group step in each target account (core.parameter_groups): before the restore, the
source's custom groups are recreated in the target, read with the source's role and written with the target's."""

from __future__ import annotations

from typing import Any

from aurora_ferry.core import SourceConfiguration, groups_to_replicate, replicate_groups
from aurora_ferry.migration.contract import MigrationRequest, Target
from aurora_ferry.migration.placement import source_access, target_access


def replicate_parameter_groups(
    request: MigrationRequest, target: Target, run_id: str, configuration: SourceConfiguration
) -> dict[str, Any]:
    """{clusterParameterGroup?, instanceParameterGroups: {source name: target name}, reported: [group/parameter]}:
    what RestoreCluster and CreateInstances attach, and the parameters not copied. Safe to repeat."""
    groups = groups_to_replicate(
        target,
        configuration.db_cluster_parameter_group,
        [shape.parameter_group for shape in configuration.instances],
    )
    if not groups:
        return {"instanceParameterGroups": {}, "reported": []}
    replication = replicate_groups(
        source_access(request), target_access(request, target), groups, run_id, target.tags
    )
    return replication.to_json()
