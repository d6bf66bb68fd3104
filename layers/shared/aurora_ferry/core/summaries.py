"""What the migration's and the clone's summaries share: reading a failure (and where its step acted), a failed
run's cause with what its cleanup did, the state machine's marks, and the time between two of them."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aurora_ferry.core.accounts import AccountAccess

# The error a failed Map iteration fails with; its cause is {"accountId": ..., "failure": {<step>: {Error,
# Cause}}} (see the ASL builder's iteration_failure), which `explain_failure` unwraps.
TARGET_FAILED = "TargetFailed"
# The same for an iteration stopped by a transient cause: the run parks for a redrive instead of cleaning up.
TARGET_PARKED = "TargetParked"
# What a step's error says when Step Functions gives it no cause.
_SILENT_ERRORS = {
    "States.Timeout": "the step did not finish within its TimeoutSeconds",
    "States.HeartbeatTimeout": "the step sent no heartbeat within its HeartbeatSeconds",
}


def explain_failure(failure: dict[str, Any], where: Callable[[str], str]) -> tuple[str, str]:
    """The run's error name and a cause naming the step and the account it acted in.

    `failure` is the run's `$.failure`: `{<step>: {Error, Cause}}` as the ASL's catchers keep it (or a bare
    `{Error, Cause}`). `where(step)` says where a step of the workflow acts ("source account 1111..."); a failed
    Map iteration names its own target account. Error names under Step Functions' reserved `States.` prefix are
    reported as StepTimedOut or StepFailed: a Fail state may not raise a reserved name
    (https://states-language.net/spec.html#error-names); the cause keeps the original.
    """
    step, caught = _caught(failure)
    error, message = explain(caught)
    if not step:
        return _public(error), message
    place = where(step)
    if error in (TARGET_FAILED, TARGET_PARKED):
        record = _json_object(caught.get("Cause"))
        inner_step, inner = _caught(_json_object(record.get("failure")))
        error, message = explain(inner)
        step, place = f"{step}/{inner_step}", f"target account {record.get('accountId', 'unknown')}"
    message = message or _SILENT_ERRORS.get(error, "no cause given")
    return _public(error), f"{step} ({place}) failed with {error}: {message}"


def cleanup_action(action: Mapping[str, Any]) -> str:
    """One action of a cleanup's record, as a failed run's cause lists it."""
    return f"{action['action']} {action['arn']}"


def left_in_place(access: AccountAccess, arn: str, reason: str) -> dict[str, Any]:
    """A cleanup's action for what it leaves where it is, and why: the run's summary tells the operator."""
    return {"action": "left-in-place", "accountId": access.account_id, "arn": arn, "reason": reason}


def explain_run_failure(
    state: Mapping[str, Any],
    where: Callable[[str], str],
    cleanup_heading: str,
    action_text: Callable[[Mapping[str, Any]], str] = cleanup_action,
) -> tuple[str, str]:
    """A failed run's error name and cause: the step that failed and where (``explain_failure``), what the
    cleanup after it did (under ``cleanup_heading``, each action as ``action_text`` writes it) and, when the
    cleanup failed too, why."""
    failure = state.get("failure", {})
    error, cause = explain_failure(failure, where)
    # A step that failed while the run handled the first failure (parking it, or sharing again on a redrive).
    for step, caught in list(failure.items())[1:] if "Error" not in failure else []:
        cause += f" | then {explain_failure({step: caught}, where)[1]}"
    cleanup = state.get("cleanup")
    if cleanup:
        done = [action_text(action) for action in cleanup.get("actions", [])]
        cause += f" | {cleanup_heading}: {', '.join(done) if done else 'nothing to clean up'}"
    if "cleanupError" in state:
        cause += f" | cleanup incomplete: {explain_failure(state['cleanupError'], where)[1]}"
    return error, cause


def step_places(
    places: Mapping[str, tuple[str, ...]], elsewhere: str, state: Mapping[str, Any]
) -> Callable[[str], str]:
    """``explain_failure``'s ``where`` for a run: the place of each step ``places`` lists (under its place), else
    ``elsewhere``; a place names the run's accounts as {source} and {target}, the account ids of the state's
    sourceAccess and targetAccess ("unknown" before the run has them)."""
    accounts = {
        role: state.get(f"{role}Access", {}).get("accountId", "unknown") for role in ("source", "target")
    }
    place_of = {step: place for place, steps in places.items() for step in steps}
    return lambda step: place_of.get(step, elsewhere).format_map(accounts)


def _caught(failure: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if "Error" in failure or not failure:
        return "", failure
    step, caught = next(iter(failure.items()))
    return str(step), caught if isinstance(caught, dict) else {}


def _json_object(text: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _public(error: str) -> str:
    if not error.startswith("States."):
        return error
    return "StepTimedOut" if error in _SILENT_ERRORS else "StepFailed"


def explain(failure: dict[str, Any]) -> tuple[str, str]:
    """The error name and its message, from a Catch's {Error, Cause} (a Lambda error's Cause is JSON)."""
    error = str(failure.get("Error", "UnknownError"))
    raw_cause = failure.get("Cause", "")
    try:
        parsed = json.loads(raw_cause)
    except (TypeError, ValueError):
        return error, str(raw_cause)
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed.get("errorType", error)), str(parsed["errorMessage"])
    return error, str(raw_cause)


def mark_at(marks: dict[str, Any], name: str) -> str | None:
    """When the state machine recorded the mark ``name``, or None if it did not."""
    mark = marks.get(name)
    return mark.get("at") if isinstance(mark, dict) else None


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    delta = datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(
        start.replace("Z", "+00:00")
    )
    return round(delta.total_seconds(), 3)
