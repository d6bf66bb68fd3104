"""Who acts where in a migration: the source and target accounts' access per Region, which snapshot each target
reads and where (README "Cross-Region targets", "Direct restore"). Decided once here for the steps, preflight,
the plan and cleanup."""

from __future__ import annotations

from aurora_ferry import core
from aurora_ferry.migration.contract import CleanupPolicy, CrossRegionCopy, MigrationRequest, Target


def source_access(request: MigrationRequest) -> core.AccountAccess:
    """The source's AccountAccess alone, without what the source adds: sessions are cached, and a run's accounts
    told apart, by it."""
    source = request.source
    return core.AccountAccess(source.account_id, source.region, source.role_arn, source.external_id)


def target_region(request: MigrationRequest, target: Target) -> str:
    """Where the target's cluster is made: its own Region, by default the source's."""
    return target.region or request.source.region


def target_access(request: MigrationRequest, target: Target) -> core.AccountAccess:
    return target.access(target_region(request, target))


def copies_in_two_steps(request: MigrationRequest, target: Target) -> bool:
    """Whether the source account copies the snapshot into the target's Region before sharing it there."""
    return request.options.cross_region_copy is CrossRegionCopy.TWO_STEP and (
        target_region(request, target) != request.source.region
    )


def shared_region(request: MigrationRequest, target: Target) -> str:
    """The Region of the snapshot shared with the target: the source's, or the target's own for a copy in two
    steps."""
    return target_region(request, target) if copies_in_two_steps(request, target) else request.source.region


def share_key_in(request: MigrationRequest, region: str) -> str:
    """The source account's share key in `region`: shareKmsKeyArn in the source's, regionalShareKmsKeyArns
    elsewhere (KeyError for a Region the run does not copy into)."""
    if region == request.source.region:
        return request.share_kms_key_arn
    return (request.regional_share_kms_key_arns or {})[region]


def share_key_for(request: MigrationRequest, target: Target) -> str:
    """The share key of the snapshot the target reads: in its Region for a copy in two steps."""
    return share_key_in(request, shared_region(request, target))


def readers_in(request: MigrationRequest, region: str) -> list[Target]:
    """The targets that read the run's snapshot in `region` (who it is shared with there)."""
    return [target for target in request.targets if shared_region(request, target) == region]


def copy_regions(request: MigrationRequest) -> list[str]:
    """The Regions the source account copies the snapshot into (options.crossRegionCopy "two-step"), sorted."""
    return sorted({shared_region(request, t) for t in request.targets} - {request.source.region})


def region_access(request: MigrationRequest, region: str) -> core.AccountAccess:
    """The source account's access in another Region: the same role, its clients there."""
    source = request.source
    return core.AccountAccess(source.account_id, region, source.role_arn, source.external_id)


def restores_from_share(request: MigrationRequest, target: Target) -> bool:
    """Whether the target restores straight from the shared snapshot (by ARN, under its own key) instead of
    copying it first: only when its copy would be deleted anyway, and only where the shared snapshot is (a
    restore reads a snapshot of its own Region; a target in another Region copies it across, unless the source
    copied it there first) (README "Direct restore")."""
    return request.options.cleanup is CleanupPolicy.DELETE and target_region(request, target) == (
        shared_region(request, target)
    )


def find_target(request: MigrationRequest, account_id: str) -> Target:
    for target in request.targets:
        if target.account_id == account_id:
            return target
    raise KeyError(f"no target for account {account_id} in the request")
