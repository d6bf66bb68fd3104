"""Aurora copy-on-write clones: same account, cross-account through AWS RAM, and dev refresh. The input
contract, the payloads of statemachine/clone.asl.json, the steps (inspect, share, clone, instances, verify,
retire, cleanup) and the run's summary. Imports only aurora_ferry.core."""

from typing import TYPE_CHECKING

from aurora_ferry.core import lazy_attributes

if TYPE_CHECKING:
    from aurora_ferry.clone.contract import CloneRequest, is_clone_input, parse_clone_request
    from aurora_ferry.clone.events import ClonePollEvent, CloneRunEvent, CloneSourceEvent, RetireEvent
    from aurora_ferry.clone.inspect import inspect_clone
    from aurora_ferry.clone.names import plan, source_access, target_access
    from aurora_ferry.clone.retire import poll_gone, retire_clusters, retire_instances
    from aurora_ferry.clone.share import accept_share, share_source_cluster
    from aurora_ferry.clone.steps import cleanup_clone_run, create_clone, create_clone_instances, verify_clone
    from aurora_ferry.clone.summary import summarize_clone_failure, summarize_clone_success

__all__ = [
    "ClonePollEvent",
    "CloneRequest",
    "CloneRunEvent",
    "CloneSourceEvent",
    "RetireEvent",
    "accept_share",
    "cleanup_clone_run",
    "create_clone",
    "create_clone_instances",
    "inspect_clone",
    "is_clone_input",
    "parse_clone_request",
    "plan",
    "poll_gone",
    "retire_clusters",
    "retire_instances",
    "share_source_cluster",
    "source_access",
    "summarize_clone_failure",
    "summarize_clone_success",
    "target_access",
    "verify_clone",
]

if not TYPE_CHECKING:
    # Each name is imported from its module on first use (aurora_ferry.core.lazy).
    __getattr__ = lazy_attributes(
        __name__,
        {
            "contract": (
                "CloneRequest",
                "is_clone_input",
                "parse_clone_request",
            ),
            "events": (
                "ClonePollEvent",
                "CloneRunEvent",
                "CloneSourceEvent",
                "RetireEvent",
            ),
            "inspect": ("inspect_clone",),
            "names": (
                "plan",
                "source_access",
                "target_access",
            ),
            "retire": (
                "poll_gone",
                "retire_clusters",
                "retire_instances",
            ),
            "share": (
                "accept_share",
                "share_source_cluster",
            ),
            "steps": (
                "cleanup_clone_run",
                "create_clone",
                "create_clone_instances",
                "verify_clone",
            ),
            "summary": (
                "summarize_clone_failure",
                "summarize_clone_success",
            ),
        },
    )
