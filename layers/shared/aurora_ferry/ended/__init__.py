"""After a run that ended without its own cleanup: stopped from the console (ABORTED), past its execution
timeout (TIMED_OUT), or failed where the state machine's Catch cannot run (States.DataLimitExceeded). Step
Functions sends an "Execution Status Change" event for each; this package does what the run's cleanup would
have done. It also reads a run's input back (a migration's or a clone's), names the accounts the run acts in,
and tells every run's end (success included) to the notification topic. Imports aurora_ferry.core,
aurora_ferry.migration and aurora_ferry.clone."""

from typing import TYPE_CHECKING

from aurora_ferry.core import lazy_surface

if TYPE_CHECKING:
    # Re-exports for mypy, which does not read the computed __all__ below (see aurora_ferry.core.lazy).
    from aurora_ferry.ended.cleanup import clean_up_after as clean_up_after
    from aurora_ferry.ended.event import ENDED_WITHOUT_CLEANUP as ENDED_WITHOUT_CLEANUP
    from aurora_ferry.ended.event import ExecutionEnded as ExecutionEnded
    from aurora_ferry.ended.notice import Notice as Notice
    from aurora_ferry.ended.notice import notice_for as notice_for
    from aurora_ferry.ended.notice import notify_run_ended as notify_run_ended
    from aurora_ferry.ended.runs import RunRequest as RunRequest
    from aurora_ferry.ended.runs import execution_status as execution_status
    from aurora_ferry.ended.runs import parse_run_input as parse_run_input
    from aurora_ferry.ended.runs import run_accesses as run_accesses

if not TYPE_CHECKING:
    # Each public name under its module, which is imported when the name is first used.
    _ORIGINS = {
        "cleanup": ("clean_up_after",),
        "event": ("ENDED_WITHOUT_CLEANUP", "ExecutionEnded"),
        "notice": ("Notice", "notice_for", "notify_run_ended"),
        "runs": ("RunRequest", "execution_status", "parse_run_input", "run_accesses"),
    }
    __getattr__, __all__ = lazy_surface(__name__, _ORIGINS)
