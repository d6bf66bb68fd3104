"""The operator's read-only view of what aurora-ferry left in the member accounts (``ferry leftovers``): every
snapshot, cluster, instance and RAM share tagged ``aurora-ferry:managed=true`` in the accounts of recent runs
(and of the inputs the operator names), with its run, purpose, age, status and sharing. It only reads.
Imports aurora_ferry.core, aurora_ferry.migration, aurora_ferry.clone and aurora_ferry.ended."""

from typing import TYPE_CHECKING

from aurora_ferry.core import lazy_surface

if TYPE_CHECKING:
    # Re-exports for mypy, which does not read the computed __all__ below (see aurora_ferry.core.lazy).
    from aurora_ferry.managed.report import list_managed_resources as list_managed_resources
    from aurora_ferry.managed.request import DEFAULT_SINCE_DAYS as DEFAULT_SINCE_DAYS
    from aurora_ferry.managed.request import MAX_SINCE_DAYS as MAX_SINCE_DAYS
    from aurora_ferry.managed.request import ListManagedRequest as ListManagedRequest

if not TYPE_CHECKING:
    # Each public name under its module, which is imported when the name is first used.
    _ORIGINS = {
        "report": ("list_managed_resources",),
        "request": ("DEFAULT_SINCE_DAYS", "MAX_SINCE_DAYS", "ListManagedRequest"),
    }
    __getattr__, __all__ = lazy_surface(__name__, _ORIGINS)
