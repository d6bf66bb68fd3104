"""The cleanup a run's Catch would have done, for a run that ended without it.

It acts only on what carries the run's tags (the run's own cleanups find its intermediates by their
deterministic names and check the tags before touching them), unshares before it deletes, and records what
AWS does not let it delete yet in the leftover table for the scheduled retry. It may run after the run's own
cleanup already ran: it then finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aurora_ferry.clone import CloneRequest, cleanup_clone_run
from aurora_ferry.core import InvalidInputError, RunParkedError, logger, naming
from aurora_ferry.ended.event import ENDED_WITHOUT_CLEANUP, ExecutionEnded
from aurora_ferry.ended.runs import parse_run_input
from aurora_ferry.migration import LeftoverStore, cleanup


def clean_up_after(
    ended: ExecutionEnded,
    leftovers: LeftoverStore | None = None,
    status_now: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Unshare and delete the intermediates of the ended run (per its cleanup policy, as its own cleanup).

    `status_now(execution ARN)` is the execution's status when the event is handled: EventBridge may deliver a
    parked run's end after it was redriven, and a running execution must not be cleaned up under it."""
    summary: dict[str, Any] = {"executionArn": ended.execution_arn, "status": ended.status}
    if ended.status not in ENDED_WITHOUT_CLEANUP:
        return {**summary, "skipped": f"a run that ended {ended.status} needs no cleanup from here"}
    if status_now is not None and status_now(ended.execution_arn) == "RUNNING":
        return {**summary, "skipped": "the execution was redriven since it ended and is running again"}
    run_id = naming.run_id_from_execution_name(ended.name)
    try:
        request = parse_run_input(ended.input)
        if isinstance(request, CloneRequest):
            result = cleanup_clone_run(request, run_id, failed=True)
        else:
            # A parked run waits for a redrive: unshare (it did already), keep what the redrive needs.
            # The run has ended: nothing may stay shared, even for a restore still reading the snapshot.
            result = cleanup(
                request,
                run_id,
                leftovers,
                park=ended.error == RunParkedError.__name__,
                wait_for_restores=False,
            )
    except (ValueError, InvalidInputError) as error:
        # The run refused this input before making anything: there is nothing of it to clean up.
        logger.info("ended run's input is not valid; nothing was made", extra={"error": str(error)})
        return {**summary, "runId": run_id, "skipped": "the input was refused before anything was made"}
    logger.info("cleaned up after an ended run", extra={"run_id": run_id, "status": ended.status})
    return {**summary, "runId": run_id, **result}
