"""Parameter group replication (issue 11): the source's custom cluster and instance parameter groups, recreated in a
target account before the restore (or the clone) that attaches them.

A restore "is created from the source snapshot with a default configuration"
(https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBClusterFromSnapshot.html) and a parameter
group is a resource of its account, so a group the target does not have is made there: same family, the source's
user-modified parameters only (``Source="user"``: "Valid Values: engine-default | system | user" for both
DescribeDBClusterParameters and DescribeDBParameters,
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBClusterParameters.html), at most 20 per
modify call ("A maximum of 20 parameters can be modified in a single request",
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBClusterParameterGroup.html and
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBParameterGroup.html), static ones with
``pending-reboot`` ("You can use the immediate value with dynamic parameters only", same pages).

A parameter whose value names a resource of the source account (its account id, or an ARN in it, such as
``aws_default_s3_role``) would point the target at something it cannot use: it is not copied, and is reported.

Naming and reuse: the target group gets the source group's name; a group of that name already in the target that
is identical (same family, same user-modified parameters) is reused as it is (never modified, tagged or deleted);
one that differs leaves the name to its owner and the run uses ``<name>-ferry-<digest>`` instead, reused in turn
when identical. Each step is safe to run twice: a group of either name tagged by this run is the run's own, and is
completed rather than refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from aurora_ferry.core import naming
from aurora_ferry.core.access import error_code, rds, translated
from aurora_ferry.core.accounts import AccountAccess, ClusterTarget, ParameterGroups
from aurora_ferry.core.carry import SourceConfiguration
from aurora_ferry.core.errors import TargetConflictError
from aurora_ferry.core.summaries import left_in_place

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

GroupKind = Literal["cluster", "instance"]
# A Replication as a step returns it (Replication.to_json) and the step that creates the cluster reads it back.
ReplicationJson = dict[str, Any]
# The API pages above: "A maximum of 20 parameters can be modified in a single request."
MAX_PARAMETERS_PER_MODIFY = 20
# How many parameters not copied a step's result names (the plan names them all).
MAX_REPORTED = 10
# RDS's own groups ("default.aurora-postgresql16"): every account has its own of each family, nothing to copy.
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_WorkingWithParamGroups.html
DEFAULT_PREFIX = "default."
# Both describes answer a missing group with DBParameterGroupNotFound (the API pages' Errors), cluster groups too.
_NOT_FOUND = frozenset({"DBParameterGroupNotFound", "DBClusterParameterGroupNotFound"})
GROUP_PURPOSES: dict[GroupKind, str] = {
    "cluster": "target-cluster-parameter-group",
    "instance": "target-parameter-group",
}


@dataclass(frozen=True)
class Parameter:
    """One user-modified parameter: its value and whether it is static or dynamic (DescribeDB*Parameters'
    ApplyType)."""

    name: str
    value: str
    apply_type: str


@dataclass(frozen=True)
class GroupContent:
    """A parameter group as replication sees it: its family, description and user-modified parameters."""

    kind: GroupKind
    name: str
    family: str
    description: str
    parameters: tuple[Parameter, ...]

    def values(self) -> dict[str, str]:
        return {parameter.name: parameter.value for parameter in self.parameters}


def is_default_group(name: str) -> bool:
    return name.startswith(DEFAULT_PREFIX)


def apply_method(apply_type: str) -> str:
    """Static parameters can only be applied at the next reboot; dynamic ones at once (the API pages above)."""
    return "pending-reboot" if apply_type == "static" else "immediate"


def modify_batches(parameters: Iterable[Parameter]) -> list[list[dict[str, str]]]:
    """The parameters as ModifyDB(Cluster)ParameterGroup takes them, at most 20 per call."""
    items = [
        {"ParameterName": p.name, "ParameterValue": p.value, "ApplyMethod": apply_method(p.apply_type)}
        for p in sorted(parameters, key=lambda p: p.name)
    ]
    return [items[i : i + MAX_PARAMETERS_PER_MODIFY] for i in range(0, len(items), MAX_PARAMETERS_PER_MODIFY)]


def names_source_resource(value: str, source_account_id: str) -> bool:
    """Whether a parameter's value names something of the source account: its account id on its own, or inside
    an ARN (arn:partition:service:region:account:...)."""
    return re.search(rf"(?<![0-9]){re.escape(source_account_id)}(?![0-9])", value) is not None


def copyable(content: GroupContent, source_account_id: str) -> tuple[GroupContent, tuple[str, ...]]:
    """The group without the parameters that name the source account's resources, and those parameters' names."""
    kept = tuple(p for p in content.parameters if not names_source_resource(p.value, source_account_id))
    reported = tuple(sorted(p.name for p in content.parameters if p not in kept))
    return (
        GroupContent(content.kind, content.name, content.family, content.description, kept),
        reported,
    )


def fingerprint(family: str, values: Mapping[str, str]) -> str:
    """The first 8 hex digits of the SHA-256 of the family and the sorted parameters: the same content always
    gets the same alternative name, so a second run finds the group the first one made."""
    text = "\n".join([family, *(f"{name}={values[name]}" for name in sorted(values))])
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def alternative_name(content: GroupContent) -> str:
    """The name used when the source's is taken in the target by a group that differs (a group name has at most
    255 characters: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBParameterGroup.html)."""
    suffix = f"-ferry-{fingerprint(content.family, content.values())}"
    return content.name[: 255 - len(suffix)] + suffix


def is_identical(existing: GroupContent, wanted: GroupContent) -> bool:
    return existing.family == wanted.family and existing.values() == wanted.values()


# --- reading and writing groups --------------------------------------------------------------------------------


def describe_group(client: RDSClient, kind: GroupKind, name: str) -> tuple[GroupContent, str] | None:
    """The group ``name`` (its content and ARN), or None when the account has none of that name."""
    try:
        if kind == "cluster":
            groups: list[Any] = client.describe_db_cluster_parameter_groups(DBClusterParameterGroupName=name)[
                "DBClusterParameterGroups"
            ]
        else:
            groups = client.describe_db_parameter_groups(DBParameterGroupName=name)["DBParameterGroups"]
    except ClientError as error:
        if error_code(error) in _NOT_FOUND:
            return None
        raise
    if not groups:
        return None
    group = groups[0]
    if kind == "cluster":
        pages: Iterable[Any] = client.get_paginator("describe_db_cluster_parameters").paginate(
            DBClusterParameterGroupName=name, Source="user"
        )
        arn = group.get("DBClusterParameterGroupArn", "")
    else:
        pages = client.get_paginator("describe_db_parameters").paginate(
            DBParameterGroupName=name, Source="user"
        )
        arn = group.get("DBParameterGroupArn", "")
    parameters = tuple(
        Parameter(str(p["ParameterName"]), str(p["ParameterValue"]), str(p.get("ApplyType", "dynamic")))
        for page in pages
        for p in page["Parameters"]
        # A user parameter reset to no value has none to copy.
        if p.get("ParameterValue") is not None
    )
    content = GroupContent(
        kind, name, str(group["DBParameterGroupFamily"]), str(group.get("Description") or name), parameters
    )
    return content, str(arn)


def read_source_group(access: AccountAccess, kind: GroupKind, name: str) -> GroupContent | None:
    """A source group, read with the source's role."""
    with translated(access, f"read {kind} parameter group {name}"):
        found = describe_group(rds(access), kind, name)
    return None if found is None else found[0]


@dataclass(frozen=True)
class Placed:
    """Where a source group landed in the target: its name there, and whether this run made it."""

    name: str
    created: bool


Placement = Literal["create", "reuse", "complete"]


def decide_placement(
    client: RDSClient, access: AccountAccess, wanted: GroupContent, run_id: str
) -> tuple[Placement, str, bool]:
    """Read-only: where ``wanted`` goes in the target (the preflight's plan, and place_group): "create" under the
    first free of the source's name and the alternative one, "reuse" an identical group, "complete" a group this
    run made (a retried step); with whether this run made the group. Both names taken by groups that differ is a
    TargetConflictError."""
    names = (wanted.name, alternative_name(wanted))
    for name in names:
        found = describe_group(client, wanted.kind, name)
        if found is None:
            return "create", name, True
        existing, arn = found
        made_here = _made_by(client, arn, run_id)
        if is_identical(existing, wanted):
            return "reuse", name, made_here
        if made_here:
            return "complete", name, True
    raise TargetConflictError.in_account(
        access,
        f"{wanted.kind} parameter groups {names[0]} and {names[1]} both exist in the target and differ from the "
        f"source's {wanted.name}; delete or rename one, or name a group in targets[] instead",
    )


def place_group(
    client: RDSClient, access: AccountAccess, wanted: GroupContent, run_id: str, tags: dict[str, str]
) -> Placed:
    """The target group that holds ``wanted`` (decide_placement), created or completed as needed."""
    with translated(access, f"find a place for {wanted.kind} parameter group {wanted.name}"):
        action, name, made_here = decide_placement(client, access, wanted, run_id)
    if action == "create":
        _create(client, access, wanted, name, run_id, tags)
    elif action == "complete":
        with translated(access, f"complete {wanted.kind} parameter group {name}"):
            _modify(client, wanted, name)
    return Placed(name, created=made_here)


def _made_by(client: RDSClient, arn: str, run_id: str) -> bool:
    if not arn:
        return False
    tags = client.list_tags_for_resource(ResourceName=arn)["TagList"]
    return naming.is_tagged_by_run(tags, run_id)  # type: ignore[arg-type]


def _create(
    client: RDSClient,
    access: AccountAccess,
    wanted: GroupContent,
    name: str,
    run_id: str,
    tags: dict[str, str],
) -> str:
    run_tags: Any = naming.tags_for(run_id, GROUP_PURPOSES[wanted.kind], tags)
    with translated(access, f"create {wanted.kind} parameter group {name}"):
        if wanted.kind == "cluster":
            client.create_db_cluster_parameter_group(
                DBClusterParameterGroupName=name,
                DBParameterGroupFamily=wanted.family,
                Description=wanted.description,
                Tags=run_tags,
            )
        else:
            client.create_db_parameter_group(
                DBParameterGroupName=name,
                DBParameterGroupFamily=wanted.family,
                Description=wanted.description,
                Tags=run_tags,
            )
        _modify(client, wanted, name)
    return name


def _modify(client: RDSClient, wanted: GroupContent, name: str) -> None:
    for batch in modify_batches(wanted.parameters):
        items: Any = batch
        if wanted.kind == "cluster":
            client.modify_db_cluster_parameter_group(DBClusterParameterGroupName=name, Parameters=items)
        else:
            client.modify_db_parameter_group(DBParameterGroupName=name, Parameters=items)


@dataclass(frozen=True)
class Replication:
    """One step's result: the groups the target's cluster and instances attach, and what was not copied."""

    cluster_group: str | None
    instance_groups: dict[str, str]
    reported: tuple[str, ...]
    created: tuple[str, ...]

    def to_json(self) -> ReplicationJson:
        # The run keeps each target's "reported" in its state to the end (the output lists it): a few names.
        shown = list(self.reported[:MAX_REPORTED])
        if len(self.reported) > MAX_REPORTED:
            shown.append(f"... and {len(self.reported) - MAX_REPORTED} more (ferry plan lists them all)")
        result: ReplicationJson = {"instanceParameterGroups": self.instance_groups, "reported": shown}
        if self.cluster_group:
            result["clusterParameterGroup"] = self.cluster_group
        return result


def replicate_groups(
    source: AccountAccess,
    target: AccountAccess,
    groups: Iterable[tuple[GroupKind, str]],
    run_id: str,
    tags: dict[str, str],
) -> Replication:
    """Each named source group (default ones are skipped) replicated into the target (``tags``: the target's
    own, added to the run's). A source group that no longer exists is skipped: the target keeps its default."""
    client = rds(target)
    placed: dict[tuple[GroupKind, str], str] = {}
    reported: list[str] = []
    created: list[str] = []
    for kind, name in dict.fromkeys(groups):
        if is_default_group(name):
            continue
        content = read_source_group(source, kind, name)
        if content is None:
            continue
        wanted, dropped = copyable(content, source.account_id)
        reported += [f"{name}/{parameter}" for parameter in dropped]
        where = place_group(client, target, wanted, run_id, tags)
        placed[(kind, name)] = where.name
        if where.created:
            created.append(where.name)
    cluster = [target_name for (kind, _), target_name in placed.items() if kind == "cluster"]
    return Replication(
        cluster_group=cluster[0] if cluster else None,
        instance_groups={
            name: target_name for (kind, name), target_name in placed.items() if kind == "instance"
        },
        reported=tuple(reported),
        created=tuple(created),
    )


def groups_to_replicate(
    target: ClusterTarget, cluster_group: str | None, instance_groups: Iterable[str | None]
) -> list[tuple[GroupKind, str]]:
    """The source's groups a target replicates: none with parameterGroups "default"; not the cluster's when
    targets[].dbClusterParameterGroupName names one, nor the instances' when targets[].dbParameterGroupName does;
    never a default group."""
    if target.parameter_groups is ParameterGroups.DEFAULT:
        return []
    wanted: list[tuple[GroupKind, str]] = []
    if cluster_group and not target.db_cluster_parameter_group_name:
        wanted.append(("cluster", cluster_group))
    if not target.db_parameter_group_name:
        wanted += [("instance", name) for name in instance_groups if name]
    return [(kind, name) for kind, name in dict.fromkeys(wanted) if not is_default_group(name)]


def planned_instance_groups(target: ClusterTarget, configuration: SourceConfiguration) -> dict[str, str]:
    """For the plan: the DB parameter group each of the source's instance groups becomes in the target, by name
    (the target's own when it names one; a replica, under the source's name, when groups_to_replicate replicates
    it; none with parameterGroups "default"). ReplicateParameterGroups' plan lines say when a replica takes another
    name."""
    names = [shape.parameter_group for shape in configuration.instances]
    if target.db_parameter_group_name:
        return {name: target.db_parameter_group_name for name in names if name and not is_default_group(name)}
    return {name: name for kind, name in groups_to_replicate(target, None, names) if kind == "instance"}


def delete_unused_groups(client: RDSClient, access: AccountAccess, run_id: str) -> list[dict[str, Any]]:
    """After a failed run: the parameter groups this run created in the target (its run-id tag) that no cluster or
    instance uses. A group in use (a restored cluster the failed run leaves) stays; a group the run reused is not
    its own and is never touched. RDS refuses to delete a group in use (InvalidDBParameterGroupState,
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBParameterGroup.html)."""
    actions: list[dict[str, Any]] = []
    with translated(access, "list parameter groups made by this run"):
        cluster_groups = [
            (str(group["DBClusterParameterGroupName"]), str(group["DBClusterParameterGroupArn"]))
            for page in client.get_paginator("describe_db_cluster_parameter_groups").paginate()
            for group in page["DBClusterParameterGroups"]
        ]
        instance_groups = [
            (str(group["DBParameterGroupName"]), str(group["DBParameterGroupArn"]))
            for page in client.get_paginator("describe_db_parameter_groups").paginate()
            for group in page["DBParameterGroups"]
        ]
        kinds: tuple[tuple[GroupKind, list[tuple[str, str]]], ...] = (
            ("cluster", cluster_groups),
            ("instance", instance_groups),
        )
        owned = [
            (kind, name, arn)
            for kind, groups in kinds
            for name, arn in groups
            if not is_default_group(name) and _made_by(client, arn, run_id)
        ]
    for kind, name, arn in owned:
        with translated(access, f"delete {kind} parameter group {name}"):
            try:
                if kind == "cluster":
                    client.delete_db_cluster_parameter_group(DBClusterParameterGroupName=name)
                else:
                    client.delete_db_parameter_group(DBParameterGroupName=name)
            except ClientError as error:
                if error_code(error) != "InvalidDBParameterGroupState":
                    raise
                reason = "in use by a cluster or instance this run left"
                actions.append(left_in_place(access, arn, reason))
                continue
        actions.append({"action": "deleted", "accountId": access.account_id, "arn": arn})
    return actions
