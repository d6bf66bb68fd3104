"""Event-driven waits of the migration: task tokens held per resource in the wait table, completed by the
register check, an RDS event or the sweeper; and the back-off of the waits no event announces. Imports only
aurora_ferry.core."""

from typing import TYPE_CHECKING

from aurora_ferry.core import lazy_surface

if TYPE_CHECKING:
    # Re-exports for mypy, which does not read the computed __all__ below (see aurora_ferry.core.lazy).
    from aurora_ferry.waits.backoff import next_poll_delay as next_poll_delay
    from aurora_ferry.waits.completion import register_wait as register_wait
    from aurora_ferry.waits.completion import route_event as route_event
    from aurora_ferry.waits.completion import sweep as sweep
    from aurora_ferry.waits.store import WaitRequest as WaitRequest

if not TYPE_CHECKING:
    # Each public name under its module, which is imported when the name is first used.
    _ORIGINS = {
        "backoff": ("next_poll_delay",),
        "completion": ("register_wait", "route_event", "sweep"),
        "store": ("WaitRequest",),
    }
    __getattr__, __all__ = lazy_surface(__name__, _ORIGINS)
