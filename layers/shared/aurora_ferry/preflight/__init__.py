"""The read-only preflight of a migration: every check it makes of the member accounts (a table in
runner.py), and the plan of the run. Imports aurora_ferry.core and aurora_ferry.migration."""

from typing import TYPE_CHECKING

from aurora_ferry.core import lazy_surface

if TYPE_CHECKING:
    # Re-exports for mypy, which does not read the computed __all__ below (see aurora_ferry.core.lazy).
    from aurora_ferry.preflight.report import Finding as Finding
    from aurora_ferry.preflight.report import PreflightReport as PreflightReport
    from aurora_ferry.preflight.runner import run_preflight as run_preflight

if not TYPE_CHECKING:
    # Each public name under its module, which is imported when the name is first used.
    _ORIGINS = {
        "report": ("Finding", "PreflightReport"),
        "runner": ("run_preflight",),
    }
    __getattr__, __all__ = lazy_surface(__name__, _ORIGINS)
