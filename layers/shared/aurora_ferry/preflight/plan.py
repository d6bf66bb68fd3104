"""The plan: every step of the run in order, with its account, its key, what it creates and what cleanup
does with it; and the snapshots the run makes in the source account, as the migration's steps decide them
(in the source's Region, and for a copy in two steps in each target's Region: migration.placement)."""

from __future__ import annotations

from aurora_ferry.core import MasterCredentials, naming
from aurora_ferry.migration import (
    MAX_TARGETS,
    CleanupPolicy,
    Target,
    copies_in_two_steps,
    copy_regions,
    readers_in,
    restores_from_share,
    share_key_in,
    shared_region,
    target_region,
)
from aurora_ferry.preflight.carried import carried_rows
from aurora_ferry.preflight.context import FoundSource, Preflight, same_key
from aurora_ferry.preflight.report import PlanStep

ORCHESTRATOR = "orchestrator"
UNENCRYPTED = "none (unencrypted)"
AWS_OWNED_KEY = "an AWS owned key (sse-rds)"
NO_KEY = "none (nothing is made)"
NEVER_DELETED = "never deleted by the tool, even if a later step fails (tagged with the run id)"


def source_snapshots(preflight: Preflight, source: FoundSource | None) -> list[str]:
    """The manual snapshots the run makes in the source account, as the migration's steps decide them."""
    run = preflight.run_id
    if source is None:
        # Unknown source: the largest case, a cluster snapshot and a re-encrypted copy.
        return [naming.source_snapshot_id(run), naming.share_copy_id(run)]
    if source.kind == "cluster":
        names = [naming.source_snapshot_id(run)]
        if needs_share_copy(preflight, source):
            names.append(naming.share_copy_id(run))
        return names
    if source.kind == "automated-snapshot":
        return [naming.source_copy_id(run)]
    return [naming.share_copy_id(run)]


def shared_snapshot(preflight: Preflight, target: Target) -> str:
    """The snapshot the target reads: the one the run shares in the source's Region, or for a copy in two steps
    the source's copy in the target's Region (same name in each Region)."""
    if copies_in_two_steps(preflight.request, target):
        return naming.region_copy_id(preflight.run_id)
    return source_snapshots(preflight, preflight.source)[-1]


def needs_share_copy(preflight: Preflight, source: FoundSource) -> bool:
    """A snapshot the run made is shared as is when unencrypted or already under the share key."""
    if source.kind == "manual-snapshot":
        return True
    if source.kind == "automated-snapshot":
        return False
    return source.encrypted and not same_key(source.kms_key_id, preflight.request.share_kms_key_arn)


def build_plan(preflight: Preflight) -> list[PlanStep]:
    source = preflight.source
    encrypted = source.encrypted if source is not None else True
    steps = [
        PlanStep(
            "ValidateInput",
            ORCHESTRATOR,
            "check the input against the contract; derive the run id from the execution name",
        )
    ]
    snap = _prepare_source_step(preflight, steps, encrypted)
    shared = _prepare_share_copy_step(preflight, steps, snap, encrypted)
    request = preflight.request
    account = request.source.account_id
    shared_arn = f"arn:{preflight.partition}:rds:{preflight.region}:{account}:cluster-snapshot:{shared}"
    steps.append(_share_step(preflight, "ShareSnapshot", preflight.region, shared_arn, encrypted))
    for target in request.targets:
        if copies_in_two_steps(request, target):
            steps += _region_copy_steps(preflight, target, shared_arn, encrypted)
        steps += _target_steps(preflight, target, _read_arn(preflight, target, shared_arn), encrypted)
    steps += _cleanup_steps(preflight)
    steps.append(PlanStep("Summarize", ORCHESTRATOR, "report ARNs, endpoints, timings and what cleanup did"))
    return steps


def _share_step(preflight: Preflight, name: str, region: str, arn: str, encrypted: bool) -> PlanStep:
    """Sharing a snapshot of the source account with the targets that read it in its Region (placement)."""
    request = preflight.request
    snapshot = arn.rsplit(":", 1)[-1]
    readers = [target.account_id for target in readers_in(request, region)]
    if not readers:
        return PlanStep(
            name,
            request.source.account_id,
            f"share {snapshot} with no account: every target reads the source's copy in its own Region "
            "(options.crossRegionCopy 'two-step')",
        )
    return PlanStep(
        name,
        request.source.account_id,
        f"add {', '.join(readers)} to the restore attribute of {snapshot}"
        + ("" if region == preflight.region else f" in {region}, for the targets there")
        + f" ({len(readers)} of at most {MAX_TARGETS} accounts; never 'all')",
        share_key_in(request, region) if encrypted else UNENCRYPTED,
        f"a share of {arn}",
        "unshared by Cleanup under every cleanup policy",
    )


def _read_arn(preflight: Preflight, target: Target, shared_arn: str) -> str:
    """The ARN of the snapshot the target reads: `shared_arn`, or the source's copy in the target's Region."""
    if not copies_in_two_steps(preflight.request, target):
        return shared_arn
    region = shared_region(preflight.request, target)
    copy = naming.region_copy_id(preflight.run_id)
    return f"arn:{preflight.partition}:rds:{region}:{preflight.request.source.account_id}:cluster-snapshot:{copy}"


def _two_steps(preflight: Preflight, target: Target, encrypted: bool) -> str:
    """How a target copying in two steps gets the snapshot, as its copy or restore step says it."""
    region = shared_region(preflight.request, target)
    key = f"under {share_key_in(preflight.request, region)}" if encrypted else "unencrypted"
    return (
        f"across Regions in two steps: copied from {preflight.region} into {region} in the source account "
        f"{key}, shared there, then "
    )


def _region_copy_steps(
    preflight: Preflight, target: Target, shared_arn: str, encrypted: bool
) -> list[PlanStep]:
    """CopyToRegion and ShareInRegion of a target copying in two steps: the source account's copy in the target's
    Region, made once per Region (a second target there finds the first's), and its share there."""
    request = preflight.request
    region = shared_region(request, target)
    copy = naming.region_copy_id(preflight.run_id)
    others = len(readers_in(request, region)) > 1
    return [
        PlanStep(
            "CopyToRegion",
            request.source.account_id,
            f"for {target.account_id}: copy {shared_arn} from {preflight.region} into {region} in the source "
            f"account, to {copy}"
            + (
                f" re-encrypted with the source's share key there (regionalShareKmsKeyArns.{region})"
                if encrypted
                else " (unencrypted)"
            )
            + (f"; made once for the targets in {region}, the others find it" if others else "")
            + "; wait until available",
            share_key_in(request, region) if encrypted else UNENCRYPTED,
            f"manual cluster snapshot {copy} in {region}",
            _source_cleanup(preflight),
        ),
        _share_step(preflight, "ShareInRegion", region, _read_arn(preflight, target, shared_arn), encrypted),
    ]


def _source_cleanup(preflight: Preflight) -> str:
    policy = preflight.request.options.cleanup
    if policy in (CleanupPolicy.DELETE, CleanupPolicy.KEEP_TARGET_COPIES):
        return f"unshared, then deleted by Cleanup (cleanup={policy.value})"
    return f"unshared by Cleanup and kept, tagged {naming.RUN_ID_TAG}={preflight.run_id} (cleanup={policy.value})"


def _prepare_source_step(preflight: Preflight, steps: list[PlanStep], encrypted: bool) -> str:
    """PrepareSourceSnapshot; returns the snapshot it leaves for the share copy."""
    request = preflight.request
    source = preflight.source
    run = preflight.run_id
    account = request.source.account_id
    source_key = "unknown (source not found)" if source is None else _key_of(source)
    kind = source.kind if source is not None else "cluster"
    identifier = request.source.cluster_identifier or request.source.snapshot_identifier or ""
    if kind == "cluster":
        snap = naming.source_snapshot_id(run)
        action = f"snapshot cluster {identifier} (the cluster itself is never modified); wait until available"
        steps.append(
            PlanStep(
                "PrepareSourceSnapshot",
                account,
                action,
                source_key,
                f"manual cluster snapshot {snap}",
                _source_cleanup(preflight),
            )
        )
        return snap
    if kind == "automated-snapshot":
        snap = naming.source_copy_id(run)
        steps.append(
            PlanStep(
                "PrepareSourceSnapshot",
                account,
                f"copy automated snapshot {identifier} to a manual one (automated snapshots cannot be "
                "shared)"
                + (", re-encrypted with the share key" if encrypted else "")
                + "; wait until available",
                request.share_kms_key_arn if encrypted else UNENCRYPTED,
                f"manual cluster snapshot {snap}",
                _source_cleanup(preflight),
            )
        )
        return snap
    steps.append(
        PlanStep(
            "PrepareSourceSnapshot",
            account,
            f"use snapshot {identifier} as given; it is never modified, shared or deleted",
            source_key,
            None,
            "untouched",
        )
    )
    return identifier


def _key_of(source: FoundSource) -> str:
    if source.encryption == "aws-owned-key":
        return AWS_OWNED_KEY
    return source.kms_key_id or UNENCRYPTED


def _aws_owned_note(source: FoundSource | None) -> str:
    """Why a source under an AWS owned key is always copied before it is shared."""
    if source is None or source.encryption != "aws-owned-key":
        return ""
    return (
        f" (source encrypted with {AWS_OWNED_KEY}, which cannot be shared: copied under the share key before "
        "sharing)"
    )


def _prepare_share_copy_step(preflight: Preflight, steps: list[PlanStep], snap: str, encrypted: bool) -> str:
    """PrepareShareCopy (or why it is skipped); returns the snapshot the run shares."""
    source = preflight.source
    account = preflight.request.source.account_id
    if source is not None and not needs_share_copy(preflight, source):
        steps.append(
            PlanStep(
                "PrepareShareCopy",
                account,
                f"skipped: {snap} is the run's own and "
                + ("already under the share key" if encrypted else "unencrypted"),
            )
        )
        return snap
    shared = naming.share_copy_id(preflight.run_id)
    steps.append(
        PlanStep(
            "PrepareShareCopy",
            account,
            f"copy {snap} to {shared}"
            + (
                " re-encrypted with the share key"
                if encrypted
                else " unencrypted (Aurora cannot encrypt a snapshot by copying it)"
            )
            + _aws_owned_note(source)
            + "; wait until available",
            preflight.request.share_kms_key_arn if encrypted else UNENCRYPTED,
            f"manual cluster snapshot {shared}",
            _source_cleanup(preflight),
        )
    )
    return shared


def _target_steps(preflight: Preflight, target: Target, shared_arn: str, encrypted: bool) -> list[PlanStep]:
    """CopyToTarget, RestoreCluster and CreateInstances in one target account."""
    run = preflight.run_id
    policy = preflight.request.options.cleanup
    copy_cleanup = (
        f"deleted by Cleanup (cleanup={policy.value})"
        if policy is CleanupPolicy.DELETE
        else f"kept, tagged {naming.RUN_ID_TAG}={run} (cleanup={policy.value})"
    )
    copy = naming.target_copy_id(run)
    extras = [
        f"subnet group {target.db_subnet_group_name}" if target.db_subnet_group_name else "",
        f"security groups {', '.join(target.vpc_security_group_ids)}"
        if target.vpc_security_group_ids
        else "",
        f"parameter group {target.db_cluster_parameter_group_name}"
        if target.db_cluster_parameter_group_name
        else "",
        f"deletion protection {'on' if target.deletion_protection else 'off'}",
    ]
    planned = preflight.planned_instances(target)
    instance_ids = [naming.instance_id(target.cluster_identifier, n) for n in range(len(planned))]
    region = target_region(preflight.request, target)
    direct = restores_from_share(preflight.request, target)
    two_steps = copies_in_two_steps(preflight.request, target)
    across = (
        f" in {region} ({_two_steps(preflight, target, encrypted)}copied here)"
        if two_steps
        else f" from {preflight.region} into {region} (across accounts and Regions in one step)"
    )
    copying = PlanStep(
        "CopyToTarget",
        target.account_id,
        f"copy {shared_arn} by its ARN to {copy}"
        + (across if region != preflight.region else "")
        + (" re-encrypted with the target key" if encrypted else " (unencrypted)")
        + "; wait until available",
        target.kms_key_arn if encrypted else UNENCRYPTED,
        f"manual cluster snapshot {copy}",
        copy_cleanup,
    )
    checking = PlanStep(
        "CopyToTarget",
        target.account_id,
        f"no copy: check that {target.cluster_identifier} is free; the restore reads the shared snapshot "
        + (
            f"in {region} (cleanup=delete; {_two_steps(preflight, target, encrypted)}restored directly)"
            if two_steps
            else "(cleanup=delete, same Region)"
        ),
        NO_KEY,
        "nothing",
        "nothing to delete",
    )
    return [
        checking if direct else copying,
        *(
            PlanStep("ReplicateParameterGroups", target.account_id, row)
            for row in preflight.parameter_groups.get(target.account_id, ())
        ),
        PlanStep(
            "RestoreCluster",
            target.account_id,
            f"restore cluster {target.cluster_identifier} in {region} from "
            + (f"{shared_arn} (by its ARN)" if direct else copy)
            + f", encrypted with the target key ({'; '.join(e for e in extras if e)}); wait until available",
            target.kms_key_arn,
            f"cluster {target.cluster_identifier} (no instances yet)",
            NEVER_DELETED,
        ),
        *_settled_steps(preflight, target),
        PlanStep(
            "CreateInstances",
            target.account_id,
            f"add {len(planned)} instance(s) ({', '.join(shape.instance_class for shape in planned)}) to "
            f"{target.cluster_identifier} (the first is the writer; see the Instance rows); wait until available",
            target.kms_key_arn,
            ", ".join(instance_ids),
            NEVER_DELETED,
        ),
    ]


def _settled_steps(preflight: Preflight, target: Target) -> list[PlanStep]:
    """Each setting the target's cluster gets, with the source's value and how it gets there (core.carry_plan),
    then its master credentials (targets[].masterCredentials)."""
    steps = [
        PlanStep(
            "Settings",
            target.account_id,
            f"{row.setting}: source {row.source}, target {row.target} ({row.how})",
        )
        for row in carried_rows(preflight, target)
    ]
    if target.master_credentials is MasterCredentials.SOURCE:
        credentials = PlanStep(
            "OwnCredentials",
            target.account_id,
            "keep the source's master credentials (masterCredentials 'source'): nothing is changed",
        )
    else:
        credentials = PlanStep(
            "OwnCredentials",
            target.account_id,
            f"let RDS manage {target.cluster_identifier}'s master password in this account's Secrets Manager "
            "under the target key (masterCredentials 'own'): the source's password stops working here; "
            "wait until the cluster is available",
            target.kms_key_arn,
            "secret rds!cluster-<id> (its ARN is in the run's output)",
            "deleted with the cluster by RDS",
        )
    return [*steps, credentials]


def _cleanup_steps(preflight: Preflight) -> list[PlanStep]:
    request = preflight.request
    policy = request.options.cleanup
    made = source_snapshots(preflight, preflight.source)
    made += [f"{naming.region_copy_id(preflight.run_id)} in {region}" for region in copy_regions(request)]
    steps = [
        PlanStep(
            "Cleanup",
            request.source.account_id,
            f"unshare {', '.join(made)} from the targets and "
            + ("delete them" if policy is not CleanupPolicy.KEEP else "keep them")
            + f" (cleanup={policy.value}); only snapshots carrying this run's tags are touched",
        )
    ]
    for target in request.targets:
        copy = naming.target_copy_id(preflight.run_id)
        done = "delete " if policy is CleanupPolicy.DELETE else "keep "
        steps.append(
            PlanStep(
                "Cleanup",
                target.account_id,
                (
                    "nothing to delete here (the target restored from the shared snapshot)"
                    if restores_from_share(request, target)
                    else f"{done}{copy} (cleanup={policy.value})"
                )
                + "; the cluster and instances stay",
            )
        )
    return steps
