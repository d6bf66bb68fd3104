"""Preflight of parameter group replication (aurora_ferry.core.parameter_groups), read-only: for each target, what
becomes of each of the source's custom groups (replicated with N parameters, K of them static; an identical group
reused; the target's default with parameterGroups "default"; the target's own group when it names one), the
parameters not copied because they name resources of the source account, a group whose name and alternative name
are both taken by groups that differ (an error: the run would fail), and the member roles' grants for it."""

from __future__ import annotations

from aurora_ferry.core import (
    GROUP_PURPOSES,
    AssumeRoleError,
    GroupKind,
    ParameterGroups,
    SourceConfiguration,
    TargetConflictError,
    copyable,
    decide_placement,
    describe_group,
    groups_to_replicate,
    is_default_group,
    naming,
    session_for,
)
from aurora_ferry.migration import Target, source_access
from aurora_ferry.preflight.context import Account, Preflight, TargetAccount, rds_client
from aurora_ferry.preflight.permissions import (
    MANAGED_ONLY,
    SOURCE_TEMPLATE,
    TARGET_TEMPLATE,
    Arns,
    Need,
    arns_of,
    check_needs,
    tag_context,
)

CHECK = "parameter-groups"
STEP = "ReplicateParameterGroups"
_KIND_NAMES = {"cluster": "cluster parameter group", "instance": "DB parameter group"}


def check_parameter_groups(preflight: Preflight, account: TargetAccount) -> None:
    """The plan's rows for the target's parameter groups (Preflight.parameter_groups), its findings, and the
    member roles' grants for what the run will do."""
    found = preflight.source
    if found is None or found.configuration is None:
        return
    target = account.target
    configuration = found.configuration
    rows = _kept_rows(target, configuration)
    preflight.parameter_groups[target.account_id] = rows
    groups = groups_to_replicate(
        target, configuration.db_cluster_parameter_group, [s.parameter_group for s in configuration.instances]
    )
    if not groups:
        return
    source = source_access(preflight.request)
    try:
        source_account = Account(source, session_for(source))
    except AssumeRoleError:
        # The source checks report it; without the source's groups there is nothing to plan here.
        return
    # The reads first, simulated: a refusal is then reported with the statement that grants it, and the reads
    # are skipped.
    before = _problems(preflight)
    check_needs(
        preflight, source_account, read_needs(arns_of(preflight, source_account), groups, SOURCE_TEMPLATE)
    )
    check_needs(preflight, account, read_needs(arns_of(preflight, account), groups, TARGET_TEMPLATE))
    if _problems(preflight) > before:
        return
    source_rds = rds_client(source_account.session)
    target_rds = rds_client(account.session)
    creates: list[tuple[GroupKind, str]] = []
    for kind, name in groups:
        described = describe_group(source_rds, kind, name)
        if described is None:
            rows.append(f"{_KIND_NAMES[kind]} {name}: not found in the source; the target gets its default")
            continue
        wanted, reported = copyable(described[0], source.account_id)
        try:
            action, where, _ = decide_placement(target_rds, account.access, wanted, preflight.run_id)
        except TargetConflictError as error:
            preflight.add("error", CHECK, target.account_id, name, f"{error} (targets[{account.index}])")
            continue
        static = sum(1 for p in wanted.parameters if p.apply_type == "static")
        if action == "reuse":
            rows.append(f"{_KIND_NAMES[kind]} {name}: reuse the identical {where} that exists in the target")
        else:
            creates.append((kind, where))
            rows.append(
                f"{_KIND_NAMES[kind]} {name}: replicate as {where} (family {wanted.family}), "
                f"{len(wanted.parameters)} parameter(s), {static} static (pending-reboot; a new cluster or "
                "instance starts with them)"
            )
        if reported:
            listed = ", ".join(reported)
            rows.append(
                f"{_KIND_NAMES[kind]} {name}: not copied, naming resources of the source account: {listed}"
            )
            preflight.add(
                "warning",
                CHECK,
                target.account_id,
                name,
                f"parameters {listed} of {name} name resources of the source account {source.account_id}; they are "
                "not copied to the target's group (set the target's own values after the run)",
            )
    check_needs(
        preflight, account, create_needs(arns_of(preflight, account), creates, preflight.run_id, target.tags)
    )


def _problems(preflight: Preflight) -> int:
    return sum(1 for finding in preflight.findings if finding.severity != "info")


def _kept_rows(target: Target, configuration: SourceConfiguration) -> list[str]:
    """The rows of the source's custom groups the target does not replicate: overridden or dropped."""
    source_groups: list[tuple[GroupKind, str | None, str | None]] = [
        ("cluster", configuration.db_cluster_parameter_group, target.db_cluster_parameter_group_name),
        *(
            ("instance", shape.parameter_group, target.db_parameter_group_name)
            for shape in configuration.instances
        ),
    ]
    rows: list[str] = []
    for kind, name, named in dict.fromkeys(source_groups):
        if not name or is_default_group(name):
            continue
        if named:
            rows.append(f"{_KIND_NAMES[kind]} {name}: overridden by the target's {named} (targets[])")
        elif target.parameter_groups is ParameterGroups.DEFAULT:
            rows.append(
                f"{_KIND_NAMES[kind]} {name}: dropped, the target's default (parameterGroups 'default')"
            )
    return rows


def read_needs(arns: Arns, groups: list[tuple[GroupKind, str]], template: str) -> list[Need]:
    """A role's grants to read each group ReplicateParameterGroups looks for (the source's, and the target's of the
    same name)."""
    read = f"{template}: ReadParameterGroups"
    needs: list[Need] = []
    for kind, name in groups:
        resource = arns.rds("cluster-pg" if kind == "cluster" else "pg", name)
        noun = "DBCluster" if kind == "cluster" else "DB"
        needs += [
            Need(STEP, f"rds:Describe{noun}ParameterGroups", resource, read),
            Need(STEP, f"rds:Describe{noun}Parameters", resource, read),
        ]
    return needs


def create_needs(
    arns: Arns, creates: list[tuple[GroupKind, str]], run_id: str, tags: dict[str, str]
) -> list[Need]:
    """The target role's grants to create (with the run's tags) and modify the groups ReplicateParameterGroups
    makes."""
    needs: list[Need] = []
    for kind, name in creates:
        resource = arns.rds("cluster-pg" if kind == "cluster" else "pg", name)
        noun = "DBClusterParameterGroup" if kind == "cluster" else "DBParameterGroup"
        context = tag_context(naming.tags_for(run_id, GROUP_PURPOSES[kind], tags))
        needs += [
            Need(
                STEP,
                f"rds:Create{noun}",
                resource,
                f"{TARGET_TEMPLATE}: CreateOnlyTaggedParameterGroups",
                context,
            ),
            Need(STEP, "rds:AddTagsToResource", resource, f"{TARGET_TEMPLATE}: TagOnlyAsManaged", context),
            Need(
                STEP,
                f"rds:Modify{noun}",
                resource,
                f"{TARGET_TEMPLATE}: ChangeOnlyManagedParameterGroups",
                MANAGED_ONLY,
            ),
        ]
    return needs
