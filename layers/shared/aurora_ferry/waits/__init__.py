"""Event-driven waits of the migration: task tokens held per resource in the wait table, completed by the
register check, an RDS event or the sweeper; and the back-off of the waits no event announces. Imports only
aurora_ferry.core."""

from typing import TYPE_CHECKING

from aurora_ferry.core import lazy_attributes

if TYPE_CHECKING:
    from aurora_ferry.waits.backoff import next_poll_delay
    from aurora_ferry.waits.completion import register_wait, route_event, sweep
    from aurora_ferry.waits.store import WaitRequest

__all__ = [
    "WaitRequest",
    "next_poll_delay",
    "register_wait",
    "route_event",
    "sweep",
]

if not TYPE_CHECKING:
    # Each name is imported from its module on first use (aurora_ferry.core.lazy).
    __getattr__ = lazy_attributes(
        __name__,
        {
            "backoff": ("next_poll_delay",),
            "completion": (
                "register_wait",
                "route_event",
                "sweep",
            ),
            "store": ("WaitRequest",),
        },
    )
