"""The cross-account migration: its input contract, the payloads its state machine hands each step, the steps
(source snapshot, share copy, share, target copy, restore, instances, cleanup), deferred cleanup of
leftover snapshots, and the run's summary. Imports only aurora_ferry.core."""

from typing import TYPE_CHECKING

from aurora_ferry.core import lazy_surface

if TYPE_CHECKING:
    # Re-exports for mypy, which does not read the computed __all__ below (see aurora_ferry.core.lazy).
    from aurora_ferry.migration.cleanup_steps import cleanup as cleanup
    from aurora_ferry.migration.contract import MAX_TARGETS as MAX_TARGETS
    from aurora_ferry.migration.contract import CleanupPolicy as CleanupPolicy
    from aurora_ferry.migration.contract import CrossRegionCopy as CrossRegionCopy
    from aurora_ferry.migration.contract import MigrationRequest as MigrationRequest
    from aurora_ferry.migration.contract import OnExisting as OnExisting
    from aurora_ferry.migration.contract import Target as Target
    from aurora_ferry.migration.contract import parse_migration_request as parse_migration_request
    from aurora_ferry.migration.copies import MAX_COPIES_IN_PROGRESS as MAX_COPIES_IN_PROGRESS
    from aurora_ferry.migration.copies import copies_in_progress as copies_in_progress
    from aurora_ferry.migration.events import RunEvent as RunEvent
    from aurora_ferry.migration.events import SnapshotEvent as SnapshotEvent
    from aurora_ferry.migration.events import TargetEvent as TargetEvent
    from aurora_ferry.migration.leftovers import LeftoverStore as LeftoverStore
    from aurora_ferry.migration.leftovers import retry_leftovers as retry_leftovers
    from aurora_ferry.migration.parameter_group_steps import (
        replicate_parameter_groups as replicate_parameter_groups,
    )
    from aurora_ferry.migration.placement import copies_in_two_steps as copies_in_two_steps
    from aurora_ferry.migration.placement import copy_regions as copy_regions
    from aurora_ferry.migration.placement import readers_in as readers_in
    from aurora_ferry.migration.placement import region_access as region_access
    from aurora_ferry.migration.placement import restores_from_share as restores_from_share
    from aurora_ferry.migration.placement import share_key_for as share_key_for
    from aurora_ferry.migration.placement import share_key_in as share_key_in
    from aurora_ferry.migration.placement import shared_region as shared_region
    from aurora_ferry.migration.placement import source_access as source_access
    from aurora_ferry.migration.placement import target_access as target_access
    from aurora_ferry.migration.placement import target_region as target_region
    from aurora_ferry.migration.source_steps import PreparedSource as PreparedSource
    from aurora_ferry.migration.source_steps import copy_to_region as copy_to_region
    from aurora_ferry.migration.source_steps import prepare_shareable_snapshot as prepare_shareable_snapshot
    from aurora_ferry.migration.source_steps import prepare_source as prepare_source
    from aurora_ferry.migration.source_steps import prepare_source_snapshot as prepare_source_snapshot
    from aurora_ferry.migration.source_steps import share_snapshot as share_snapshot
    from aurora_ferry.migration.summary import await_redrive as await_redrive
    from aurora_ferry.migration.summary import summarize_failure as summarize_failure
    from aurora_ferry.migration.summary import summarize_success as summarize_success
    from aurora_ferry.migration.swap import swap_step as swap_step
    from aurora_ferry.migration.target_steps import apply_pending_parameters as apply_pending_parameters
    from aurora_ferry.migration.target_steps import configure_cluster as configure_cluster
    from aurora_ferry.migration.target_steps import copy_shared_snapshot as copy_shared_snapshot
    from aurora_ferry.migration.target_steps import create_instances as create_instances
    from aurora_ferry.migration.target_steps import own_credentials as own_credentials
    from aurora_ferry.migration.target_steps import restore_cluster as restore_cluster

if not TYPE_CHECKING:
    # Each public name under its module, which is imported when the name is first used.
    _ORIGINS = {
        "cleanup_steps": ("cleanup",),
        "contract": (
            "MAX_TARGETS",
            "CleanupPolicy",
            "CrossRegionCopy",
            "MigrationRequest",
            "OnExisting",
            "Target",
            "parse_migration_request",
        ),
        "copies": ("MAX_COPIES_IN_PROGRESS", "copies_in_progress"),
        "events": ("RunEvent", "SnapshotEvent", "TargetEvent"),
        "leftovers": ("LeftoverStore", "retry_leftovers"),
        "parameter_group_steps": ("replicate_parameter_groups",),
        "placement": (
            "copies_in_two_steps",
            "copy_regions",
            "readers_in",
            "region_access",
            "restores_from_share",
            "share_key_for",
            "share_key_in",
            "shared_region",
            "source_access",
            "target_access",
            "target_region",
        ),
        "source_steps": (
            "PreparedSource",
            "copy_to_region",
            "prepare_shareable_snapshot",
            "prepare_source",
            "prepare_source_snapshot",
            "share_snapshot",
        ),
        "summary": ("await_redrive", "summarize_failure", "summarize_success"),
        "swap": ("swap_step",),
        "target_steps": (
            "apply_pending_parameters",
            "configure_cluster",
            "copy_shared_snapshot",
            "create_instances",
            "own_credentials",
            "restore_cluster",
        ),
    }
    __getattr__, __all__ = lazy_surface(__name__, _ORIGINS)
