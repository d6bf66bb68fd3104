"""The read-only preflight of a migration: every check it makes of the member accounts (a table in
runner.py), and the plan of the run. Imports aurora_ferry.core and aurora_ferry.migration."""

from typing import TYPE_CHECKING

from aurora_ferry.core import lazy_attributes

if TYPE_CHECKING:
    from aurora_ferry.preflight.report import Finding, PreflightReport
    from aurora_ferry.preflight.runner import run_preflight

__all__ = [
    "Finding",
    "PreflightReport",
    "run_preflight",
]

if not TYPE_CHECKING:
    # Each name is imported from its module on first use (aurora_ferry.core.lazy).
    __getattr__ = lazy_attributes(
        __name__,
        {
            "report": (
                "Finding",
                "PreflightReport",
            ),
            "runner": ("run_preflight",),
        },
    )
