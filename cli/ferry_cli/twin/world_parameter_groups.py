"""World files' parameter groups: an account's custom DB cluster and DB parameter groups, created before the run
(worlds/README.md, "parameterGroups"), which its clusters name in ``settings.DBClusterParameterGroupName`` and
``instanceParameterGroup``.

    "parameterGroups": [{"name": "orders-cluster", "kind": "cluster", "family": "aurora-postgresql16",
                         "description": "...", "parameters": {"work_mem": "65536"}}]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ferry_cli.twin.parameter_groups import MAX_PARAMETERS_PER_MODIFY, apply_type
from ferry_cli.twin.world_regions import WorldError

__all__ = ["ParameterGroupSpec", "create_parameter_groups", "parse_parameter_groups"]

# Per kind, the RDS calls that create a group and set its parameters, and the field naming the group in both.
_CALLS = {
    "cluster": (
        "create_db_cluster_parameter_group",
        "modify_db_cluster_parameter_group",
        "DBClusterParameterGroupName",
    ),
    "instance": ("create_db_parameter_group", "modify_db_parameter_group", "DBParameterGroupName"),
}
KINDS = tuple(_CALLS)


@dataclass(frozen=True)
class ParameterGroupSpec:
    name: str
    kind: str  # "cluster" or "instance"
    family: str
    description: str
    parameters: dict[str, str] = field(default_factory=dict)


def parse_parameter_groups(raw: Any, path: str) -> tuple[ParameterGroupSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise WorldError(f"{path}: must be a list of parameter groups")
    specs = []
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(item, dict) or not {"name", "kind", "family"} <= set(item):
            raise WorldError(f"{where}: must be an object with name, kind, family and parameters")
        if item["kind"] not in KINDS:
            raise WorldError(f"{where}.kind: must be 'cluster' or 'instance', got {item['kind']!r}")
        parameters = item.get("parameters", {})
        if not isinstance(parameters, dict):
            raise WorldError(f"{where}.parameters: must be an object of parameter values")
        specs.append(
            ParameterGroupSpec(
                name=str(item["name"]),
                kind=str(item["kind"]),
                family=str(item["family"]),
                description=str(item.get("description", item["name"])),
                parameters={str(k): str(v) for k, v in parameters.items()},
            )
        )
    return tuple(specs)


def create_parameter_groups(rds: Any, specs: tuple[ParameterGroupSpec, ...]) -> None:
    """The groups, with their parameters set as a user would (at most 20 per call, static ones pending-reboot)."""
    for spec in specs:
        items = [
            {
                "ParameterName": name,
                "ParameterValue": value,
                "ApplyMethod": "pending-reboot" if apply_type(name) == "static" else "immediate",
            }
            for name, value in sorted(spec.parameters.items())
        ]
        batches = [
            items[i : i + MAX_PARAMETERS_PER_MODIFY] for i in range(0, len(items), MAX_PARAMETERS_PER_MODIFY)
        ]
        create, modify, name_field = _CALLS[spec.kind]
        named = {name_field: spec.name}
        getattr(rds, create)(**named, DBParameterGroupFamily=spec.family, Description=spec.description)
        for batch in batches:
            getattr(rds, modify)(**named, Parameters=batch)
