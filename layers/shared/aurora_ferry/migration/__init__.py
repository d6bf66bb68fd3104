"""The cross-account migration: its input contract, the payloads its state machine hands each step, the steps
(source snapshot, share copy, share, target copy, restore, instances, cleanup), deferred cleanup of
leftover snapshots, and the run's summary. Imports only aurora_ferry.core."""

from typing import TYPE_CHECKING

from aurora_ferry.core import lazy_attributes

if TYPE_CHECKING:
    from aurora_ferry.migration.cleanup_steps import cleanup
    from aurora_ferry.migration.contract import (
        MAX_TARGETS,
        CleanupPolicy,
        MigrationRequest,
        Target,
        parse_migration_request,
        source_access,
        target_access,
    )
    from aurora_ferry.migration.events import RunEvent, SnapshotEvent, TargetEvent
    from aurora_ferry.migration.leftovers import LeftoverStore, retry_leftovers
    from aurora_ferry.migration.source_steps import (
        prepare_shareable_snapshot,
        prepare_source_snapshot,
        share_snapshot,
    )
    from aurora_ferry.migration.summary import summarize_failure, summarize_success
    from aurora_ferry.migration.target_steps import copy_shared_snapshot, create_instances, restore_cluster

__all__ = [
    "MAX_TARGETS",
    "CleanupPolicy",
    "LeftoverStore",
    "MigrationRequest",
    "RunEvent",
    "SnapshotEvent",
    "Target",
    "TargetEvent",
    "cleanup",
    "copy_shared_snapshot",
    "create_instances",
    "parse_migration_request",
    "prepare_shareable_snapshot",
    "prepare_source_snapshot",
    "restore_cluster",
    "retry_leftovers",
    "share_snapshot",
    "source_access",
    "summarize_failure",
    "summarize_success",
    "target_access",
]

if not TYPE_CHECKING:
    # Each name is imported from its module on first use (aurora_ferry.core.lazy).
    __getattr__ = lazy_attributes(
        __name__,
        {
            "cleanup_steps": ("cleanup",),
            "contract": (
                "MAX_TARGETS",
                "CleanupPolicy",
                "MigrationRequest",
                "Target",
                "parse_migration_request",
                "source_access",
                "target_access",
            ),
            "events": (
                "RunEvent",
                "SnapshotEvent",
                "TargetEvent",
            ),
            "leftovers": (
                "LeftoverStore",
                "retry_leftovers",
            ),
            "source_steps": (
                "prepare_shareable_snapshot",
                "prepare_source_snapshot",
                "share_snapshot",
            ),
            "summary": (
                "summarize_failure",
                "summarize_success",
            ),
            "target_steps": (
                "copy_shared_snapshot",
                "create_instances",
                "restore_cluster",
            ),
        },
    )
