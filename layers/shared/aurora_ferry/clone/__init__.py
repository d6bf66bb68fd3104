"""Aurora copy-on-write clones: same account, cross-account through AWS RAM, and dev refresh. The input
contract, the payloads of statemachine/clone.asl.json, the steps (inspect, share, clone, instances, verify,
retire, cleanup) and the run's summary. Imports only aurora_ferry.core."""

from typing import TYPE_CHECKING

from aurora_ferry.core import lazy_surface

if TYPE_CHECKING:
    # Re-exports for mypy, which does not read the computed __all__ below (see aurora_ferry.core.lazy).
    from aurora_ferry.clone.contract import CloneRequest as CloneRequest
    from aurora_ferry.clone.contract import is_clone_input as is_clone_input
    from aurora_ferry.clone.contract import parse_clone_request as parse_clone_request
    from aurora_ferry.clone.events import ClonePollEvent as ClonePollEvent
    from aurora_ferry.clone.events import CloneRunEvent as CloneRunEvent
    from aurora_ferry.clone.events import CloneSourceEvent as CloneSourceEvent
    from aurora_ferry.clone.events import RetireEvent as RetireEvent
    from aurora_ferry.clone.inspect import inspect_clone as inspect_clone
    from aurora_ferry.clone.keep_name import keep_name_step as keep_name_step
    from aurora_ferry.clone.keep_name import roll_back_keep_name as roll_back_keep_name
    from aurora_ferry.clone.names import plan as plan
    from aurora_ferry.clone.names import source_access as source_access
    from aurora_ferry.clone.names import target_access as target_access
    from aurora_ferry.clone.parameter_group_steps import (
        replicate_clone_parameter_groups as replicate_clone_parameter_groups,
    )
    from aurora_ferry.clone.retire import poll_gone as poll_gone
    from aurora_ferry.clone.retire import retire_clusters as retire_clusters
    from aurora_ferry.clone.retire import retire_instances as retire_instances
    from aurora_ferry.clone.share import accept_share as accept_share
    from aurora_ferry.clone.share import share_source_cluster as share_source_cluster
    from aurora_ferry.clone.steps import apply_clone_pending_parameters as apply_clone_pending_parameters
    from aurora_ferry.clone.steps import cleanup_clone_run as cleanup_clone_run
    from aurora_ferry.clone.steps import configure_clone as configure_clone
    from aurora_ferry.clone.steps import create_clone as create_clone
    from aurora_ferry.clone.steps import create_clone_instances as create_clone_instances
    from aurora_ferry.clone.steps import own_clone_credentials as own_clone_credentials
    from aurora_ferry.clone.steps import verify_clone as verify_clone
    from aurora_ferry.clone.summary import summarize_clone_failure as summarize_clone_failure
    from aurora_ferry.clone.summary import summarize_clone_success as summarize_clone_success

if not TYPE_CHECKING:
    # Each public name under its module, which is imported when the name is first used.
    _ORIGINS = {
        "contract": ("CloneRequest", "is_clone_input", "parse_clone_request"),
        "events": ("ClonePollEvent", "CloneRunEvent", "CloneSourceEvent", "RetireEvent"),
        "inspect": ("inspect_clone",),
        "keep_name": ("keep_name_step", "roll_back_keep_name"),
        "names": ("plan", "source_access", "target_access"),
        "parameter_group_steps": ("replicate_clone_parameter_groups",),
        "retire": ("poll_gone", "retire_clusters", "retire_instances"),
        "share": ("accept_share", "share_source_cluster"),
        "steps": (
            "apply_clone_pending_parameters",
            "cleanup_clone_run",
            "configure_clone",
            "create_clone",
            "create_clone_instances",
            "own_clone_credentials",
            "verify_clone",
        ),
        "summary": ("summarize_clone_failure", "summarize_clone_success"),
    }
    __getattr__, __all__ = lazy_surface(__name__, _ORIGINS)
