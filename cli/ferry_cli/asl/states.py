"""The ASL state shapes both workflows repeat: the standard retries and catches of a task, a summary task, and the
names and paths they use. `ferry_cli.asl.builder.Flow` puts them together in order."""

from __future__ import annotations

from typing import Any

from aurora_ferry.core import (
    IN_USE_ERRORS,
    QUEUED_ERRORS,
    TARGET_PARKED,
    TRANSIENT_ERRORS,
    FerryError,
)

State = dict[str, Any]
Errors = tuple[type[FerryError], ...]

# Lambda's own transient failures, which AWS recommends retrying on every Lambda task, and Lambda.Unknown (the
# function died without an error type). https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
LAMBDA_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
)
# The service integration a task uses to pause on a task token; a SAM substitution, so it stays in the
# stack's partition. https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token
INVOKE_AND_WAIT = "LambdaInvokeWaitForTokenArn"
TIMING_COMMENT = "Records when this stage was reached, for the per-step timings."
INTERVAL = "$.input.options.pollIntervalSeconds"
MAX_ATTEMPTS = "$.input.options.maxPollAttempts"
# The sweeper heartbeats every waiting task each 5 minutes: three missed sweeps, or a day without the event,
# raise States.Timeout and the run falls back to polling.
EVENT_WAIT_SECONDS = 86400
EVENT_HEARTBEAT_SECONDS = 900
POLL_TIMEOUT_SECONDS = 60
# Above the cleanup function's own 300 s, so that a hung cleanup ends as Lambda's Sandbox.Timedout.
CLEANUP_TIMEOUT_SECONDS = 330
# The error of a run whose summary task failed (after its cleanup ran).
SUMMARY_FAILED = "SummaryFailed"
# What a poll loop's `$.poll` holds before its first check.
POLL_START = {"attempt": 0, "ready": False, "status": "unknown"}


def names(errors: Errors) -> list[str]:
    """The ErrorEquals names of `errors`: Step Functions names a Lambda error after the raised class."""
    return [error.__name__ for error in errors]


# What parks a run instead of failing it, once a task's retries are spent: causes that a later attempt may not
# meet (Lambda's own faults and timeouts, a task's timeout, throttling, a full copy queue) and a failed Map
# iteration that parked. A domain error (a refusal, a missing permission, a conflict) still fails the run.
PARKED_ERRORS = (
    *LAMBDA_ERRORS,
    "Sandbox.Timedout",
    "States.Timeout",
    *names(TRANSIENT_ERRORS + QUEUED_ERRORS),
    TARGET_PARKED,
)


def sub(name: str) -> str:
    """A `${name}` placeholder, filled from the state machine's DefinitionSubstitutions in template.yaml."""
    return "${" + name + "}"


def params(**fields: Any) -> State:
    """Parameters where a string starting with `$` is a path: its key gets the `.$` suffix ASL requires.

    (So a literal string starting with `$` cannot be written here; none of the workflows needs one.)
    """
    return {
        (f"{key}.$" if isinstance(value, str) and value.startswith("$") else key): value
        for key, value in fields.items()
    }


def run(**more: Any) -> State:
    """What most steps are given: the validated input, the run id, and `more`."""
    return params(input="$.input", runId="$.runId", **more)


def retries(*, queued: bool = False, in_use: bool = False) -> list[State]:
    """The one retry policy of every task; `queued` adds the long wait behind Aurora's copy limit, `in_use` (the
    migration's cleanups) the wait for restores still reading the shared snapshot.

    The first retrier whose ErrorEquals names the error applies, and retries run out before any Catch is
    considered, so a throttled call is retried even though the task also catches everything.
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
    """
    policy: list[State] = [
        {
            "ErrorEquals": list(LAMBDA_ERRORS),
            "IntervalSeconds": 2,
            "MaxAttempts": 6,
            "BackoffRate": 2,
            "JitterStrategy": "FULL",
        },
        # Full jitter spreads the retries of the parallel Map iterations that were throttled together.
        {
            "ErrorEquals": names(TRANSIENT_ERRORS),
            "IntervalSeconds": 5,
            "MaxAttempts": 8,
            "BackoffRate": 2,
            "MaxDelaySeconds": 120,
            "JitterStrategy": "FULL",
        },
    ]
    if queued:
        # Aurora runs at most five cluster snapshot copies per destination Region: every 5 minutes for 6 hours,
        # concurrent runs queue instead of failing.
        policy.append(
            {"ErrorEquals": names(QUEUED_ERRORS), "IntervalSeconds": 300, "MaxAttempts": 72, "BackoffRate": 1}
        )
    if in_use:
        # Every 5 minutes (longer than any task's function may run, so a restore call in flight when the cleanup
        # first looked has ended) for 6 hours; then the run fails, and the ended-run cleanup unshares regardless.
        policy.append(
            {"ErrorEquals": names(IN_USE_ERRORS), "IntervalSeconds": 300, "MaxAttempts": 72, "BackoffRate": 1}
        )
    return policy


def caught_at(step: str) -> str:
    """Where a caught error of `step` is kept: `$.failure.<step>`, so the failure's summary can name the step
    even for an error that carries no message (a task's States.Timeout has an empty cause)."""
    return f"$.failure.{step}"


def catches(errors: Errors, to: str, step: str) -> list[State]:
    """Domain errors by name, then everything else, both to `to` with the error kept under `step`.

    Both catchers lead to the same state; the domain errors are listed by name anyway so that renaming an error
    class is an ASL change a reviewer sees. Catchers, like retriers, are matched in order.
    """
    return [
        {"ErrorEquals": names(errors), "ResultPath": caught_at(step), "Next": to},
        {"ErrorEquals": ["States.ALL"], "ResultPath": caught_at(step), "Next": to},
    ]


def task_state(
    comment: str,
    resource: str,
    parameters: State,
    *,
    timeout: int,
    result: str | None,
    heartbeat: int | None = None,
    queued: bool = False,
    selector: State | None = None,
    in_use: bool = False,
) -> State:
    """A task up to its retries; callers add Catch and Next or End. A `selector` (ResultSelector) keeps only
    the part of the result later states read, before `result` (ResultPath) puts it in the state."""
    state: State = {
        "Type": "Task",
        "Comment": comment,
        "Resource": sub(resource),
        "Parameters": parameters,
        "TimeoutSeconds": timeout,
    }
    if heartbeat is not None:
        state["HeartbeatSeconds"] = heartbeat
    if selector is not None:
        state["ResultSelector"] = selector
    if result is not None:
        state["ResultPath"] = result
    state["Retry"] = retries(queued=queued, in_use=in_use)
    return state


def summary_state(comment: str, resource: str, outcome: str, result: str | None = None) -> State:
    """The summary task both endings share; no Catch: a failing summary has nowhere better to go."""
    fields = params(
        state="$", outcome=outcome, executionName="$$.Execution.Name", finishedAt="$$.State.EnteredTime"
    )
    return task_state(comment, resource, fields, timeout=60, result=result)
