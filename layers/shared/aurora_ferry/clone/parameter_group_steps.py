"""The clone's parameter group step (core.parameter_groups): before the clone is created, the source's custom
cluster and instance parameter groups are recreated in the target account (read with the source's role, made
with the target's). A clone in the source's own account uses the source's groups as they are."""

from __future__ import annotations

from typing import Any

from aurora_ferry.clone.contract import CloneRequest
from aurora_ferry.clone.inspect import SourceFacts
from aurora_ferry.clone.names import source_access, target_access
from aurora_ferry.core import groups_to_replicate, replicate_groups


def replicate_clone_parameter_groups(
    request: CloneRequest, run_id: str, source: SourceFacts
) -> dict[str, Any]:
    """{clusterParameterGroup?, instanceParameterGroups: {source name: target name}, reported: [group/parameter]}:
    what CreateClone and CreateCloneInstances attach, and the parameters not copied. Safe to repeat."""
    configuration = source.configuration
    if configuration is None:
        return {"instanceParameterGroups": {}, "reported": []}
    groups = groups_to_replicate(
        request.target,
        configuration.db_cluster_parameter_group,
        [shape.parameter_group for shape in configuration.instances],
    )
    if not request.cross_account:
        # The groups are the account's own already: the clone attaches them by name.
        cluster = [name for kind, name in groups if kind == "cluster"]
        return {
            **({"clusterParameterGroup": cluster[0]} if cluster else {}),
            "instanceParameterGroups": {name: name for kind, name in groups if kind == "instance"},
            "reported": [],
        }
    if not groups:
        return {"instanceParameterGroups": {}, "reported": []}
    return replicate_groups(
        source_access(request), target_access(request), groups, run_id, request.target.tags
    ).to_json()
