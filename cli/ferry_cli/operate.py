"""`ferry start`, `watch`, `runs`, `stop` and `redrive`: the deployed stack's runs, with the current AWS
credentials.

The state machines are found through the stack's outputs (``MigrationStateMachineArn``,
``CloneStateMachineArn``; cloudformation:DescribeStacks), so the caller needs no ARN; a pipeline in another
account assumes the role of operators/pipeline-role.yaml, which grants these calls and nothing else:
cloudformation:DescribeStacks on the stack; states:StartExecution and states:ListExecutions on the two state
machines; states:DescribeExecution, states:GetExecutionHistory and states:StopExecution on their executions;
states:RedriveExecution on the migration's.

Exit status: 0 the run succeeded (`watch`, `start --follow`), was started, listed or stopped; 1 the run
ended otherwise (failed, timed out, stopped) or was still running when the follower gave up, or (`stop`) it
had already ended; 2 a usage or AWS error (no such stack, output or run, no credentials, a refusal).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from ferry_cli.follow import Polling, follow
from ferry_cli.progress import (
    ProgressPrinter,
    execution_report,
    history_seconds,
    lambda_invocations,
    print_outcome,
)
from ferry_cli.stack import aws_error, stack_outputs

__all__ = [
    "DEFAULT_STACK",
    "EXIT_ERROR",
    "EXIT_NOT_SUCCEEDED",
    "EXIT_OK",
    "MACHINE_OUTPUTS",
    "RUN_STATUSES",
    "OperateError",
    "StackMachines",
    "execution_name_problem",
    "operator_session",
    "redrive_command",
    "resolve_run",
    "runs_command",
    "stack_machines",
    "start_command",
    "stop_cause_problem",
    "stop_command",
    "watch_command",
]

DEFAULT_STACK = "aurora-ferry"
# The workflow each stack output starts (template.yaml Outputs), by the name `ferry runs` shows.
MACHINE_OUTPUTS = {"migration": "MigrationStateMachineArn", "clone": "CloneStateMachineArn"}
# ListExecutions statusFilter values.
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html
RUN_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")

EXIT_OK = 0
EXIT_NOT_SUCCEEDED = 1
EXIT_ERROR = 2

# StartExecution's name: 1 to 80 characters, none of whitespace, < > { } [ ], ? *, " # % \ ^ | ~ ` $ & , ; : /
# or control characters.
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
_NAME_FORBIDDEN = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
_NAME_MAX = 80
# StopExecution's cause is at most 32768 characters.
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html
_CAUSE_MAX = 32768
_STOP_ERROR = "StoppedByOperator"
_DEFAULT_CAUSE = "stopped with `ferry stop`"
# The error of a migration parked for a redrive (aurora_ferry.core.RunParkedError).
_PARKED = "RunParkedError"
# ListExecutions pages: "The default is 100 and the maximum allowed page size is 1000."
_LIST_PAGE = 100


class OperateError(Exception):
    """The stack, its outputs or the run cannot be had: the message says which and why."""


@dataclass(frozen=True)
class StackMachines:
    """The stack's two state machines, by workflow ("migration", "clone")."""

    stack: str
    arns: dict[str, str]

    def kind_of(self, state_machine_arn: str) -> str:
        for kind, arn in self.arns.items():
            if arn == state_machine_arn:
                return kind
        return "?"


def operator_session(profile: str | None) -> Any:
    """The caller's session: the named profile, or the current credentials as the AWS CLI finds them; the
    Region as configured (AWS_REGION, AWS_DEFAULT_REGION or the profile's)."""
    import boto3

    return boto3.Session(profile_name=profile) if profile else boto3.Session()


def execution_name_problem(name: str) -> str | None:
    """Why StartExecution would refuse this execution name, or None."""
    if not 1 <= len(name) <= _NAME_MAX:
        return f"--name: 1 to {_NAME_MAX} characters, got {len(name)}"
    bad = _NAME_FORBIDDEN.search(name)
    if bad:
        return (
            f"--name: {bad.group()!r} is not allowed in an execution name (no whitespace, brackets, wildcards, "
            '" # % \\ ^ | ~ ` $ & , ; : / or control characters)'
        )
    return None


def stop_cause_problem(cause: str) -> str | None:
    if len(cause) > _CAUSE_MAX:
        return f"--cause: at most {_CAUSE_MAX} characters, got {len(cause)}"
    return None


def stack_machines(cloudformation: Any, stack: str) -> StackMachines:
    """The state machine ARNs from the stack's outputs."""
    outputs = stack_outputs(cloudformation, stack, OperateError)
    missing = [key for key in MACHINE_OUTPUTS.values() if key not in outputs]
    if missing:
        raise OperateError(
            f"stack {stack} has no output {', '.join(missing)}: is it an aurora-ferry stack? (name it with --stack)"
        )
    return StackMachines(stack, {kind: str(outputs[key]) for kind, key in MACHINE_OUTPUTS.items()})


def _execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:<partition>:states:<region>:<account>:execution:<state machine name>:<execution name>"""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def resolve_run(sfn: Any, stack: Callable[[], StackMachines], run: str) -> str:
    """The execution ARN of RUN: an execution ARN as given, or an execution name looked up in both state
    machines of the stack (``stack`` reads them; only for a name, once the name is known to be one)."""
    from botocore.exceptions import ClientError

    if run.startswith("arn:"):
        if ":execution:" not in run:
            raise OperateError(f"RUN: {run} is not an execution ARN (arn:...:states:...:execution:...)")
        return run
    problem = execution_name_problem(run)
    if problem is not None:
        raise OperateError(problem.replace("--name", "RUN", 1))
    machines = stack()
    found = []
    for arn in machines.arns.values():
        candidate = _execution_arn(arn, run)
        try:
            sfn.describe_execution(executionArn=candidate)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                continue
            raise OperateError(f"run {run}: {aws_error(error)}") from None
        found.append(candidate)
    if not found:
        raise OperateError(
            f"no run named {run} in the migration or clone state machine of stack {machines.stack} "
            "(`ferry runs` lists them)"
        )
    if len(found) > 1:
        raise OperateError(f"run name {run} is in both state machines; give its ARN: {' or '.join(found)}")
    return found[0]


# --- the commands -----------------------------------------------------------------------------------------


def start_command(
    profile: str | None,
    stack: str,
    execution_input: Any,
    kind: str,
    name: str | None,
    polling: Polling | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """StartExecution of the ``kind`` ("migration", "clone") state machine; prints the execution ARN, then,
    with ``polling``, follows the run as `ferry watch` does. The input was validated by the caller."""
    from botocore.exceptions import ClientError

    def start() -> int:
        session = operator_session(profile)
        machines = stack_machines(session.client("cloudformation"), stack)
        sfn = session.client("stepfunctions")
        run_name = name or str(uuid.uuid4())
        try:
            started = sfn.start_execution(
                stateMachineArn=machines.arns[kind], name=run_name, input=json.dumps(execution_input)
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                # "An execution can't use the name of another execution for 90 days" (StartExecution).
                raise OperateError(
                    f"--name: {run_name} is taken by another run of the {kind} state machine; choose another"
                ) from None
            raise OperateError(f"start {kind} run {run_name}: {aws_error(error)}") from None
        arn = str(started["executionArn"])
        err.write(f"ferry start: {kind} run {run_name} of stack {stack}\n")
        out.write(f"{arn}\n")
        out.flush()
        return EXIT_OK if polling is None else _watch(sfn, arn, polling, out)

    return _guarded("start", start, err)


def watch_command(
    profile: str | None, stack: str, run: str, polling: Polling, out: TextIO, err: TextIO
) -> int:
    """Follow RUN to its end, step by step, then print the end summary."""

    def watch() -> int:
        session = operator_session(profile)
        sfn = session.client("stepfunctions")
        arn = resolve_run(sfn, lambda: stack_machines(session.client("cloudformation"), stack), run)
        return _watch(sfn, arn, polling, out)

    return _guarded("watch", watch, err)


def _watch(sfn: Any, execution_arn: str, polling: Polling, out: TextIO) -> int:
    out.write(f"watching {execution_arn}\n")
    followed = follow(sfn, execution_arn, ProgressPrinter(out).on_event, polling)
    description = followed.description or {}
    if not followed.ended:
        out.write(
            f"\nstill {description.get('status', 'RUNNING')} after {followed.waited:.0f} s of watching; "
            f"`ferry watch {execution_arn}` follows it again\n"
        )
        return EXIT_NOT_SUCCEEDED
    report = execution_report(description, followed.history)
    report["lambdaInvocations"] = lambda_invocations(followed.history)
    report["seconds"] = history_seconds(followed.history)
    print_outcome(out, report, f"{report['seconds']:.0f} seconds")
    return EXIT_OK if report["status"] == "SUCCEEDED" else EXIT_NOT_SUCCEEDED


def stop_command(
    profile: str | None, stack: str, run: str, cause: str | None, out: TextIO, err: TextIO
) -> int:
    """StopExecution of RUN, if it is still running; the ended-run cleanup then takes over."""

    def stop() -> int:
        session = operator_session(profile)
        sfn = session.client("stepfunctions")
        arn = resolve_run(sfn, lambda: stack_machines(session.client("cloudformation"), stack), run)
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            out.write(f"{arn} has already ended ({status}): nothing to stop\n")
            return EXIT_NOT_SUCCEEDED
        # "A caller can stop an execution without using any KMS permissions ... if the caller provides a null
        # value for both error and cause": these state machines are not encrypted with a customer key, so the
        # stop carries both, and the run's notification and history say who stopped it and why.
        # https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html
        stopped = sfn.stop_execution(executionArn=arn, error=_STOP_ERROR, cause=cause or _DEFAULT_CAUSE)
        out.write(f"stopped {arn} at {_when(stopped.get('stopDate'))}\n")
        out.write(
            'The ended-run cleanup takes over (README "However a run ends"): Step Functions\' status-change '
            "event starts the stack's RunEndedCleanupFunction, which unshares and deletes this run's "
            "intermediate snapshots (a clone run's RAM share) and records what AWS does not let it delete yet "
            "for the scheduled retry. Target clusters the run made are kept. `ferry leftovers` shows what is "
            "still shared.\n"
        )
        return EXIT_OK

    return _guarded("stop", stop, err)


def redrive_command(
    profile: str | None, stack: str, run: str, polling: Polling | None, out: TextIO, err: TextIO
) -> int:
    """RedriveExecution of a parked RUN (README "Redrive"): it resumes at the step that failed; with
    ``polling``, then follows it as `ferry watch` does. A run that did not park was cleaned up when it ended
    (a redrive would only fail again), so it is refused with a pointer to `ferry start`."""

    def redrive() -> int:
        session = operator_session(profile)
        sfn = session.client("stepfunctions")
        arn = resolve_run(sfn, lambda: stack_machines(session.client("cloudformation"), stack), run)
        described = sfn.describe_execution(executionArn=arn)
        if described.get("error") != _PARKED:
            raise OperateError(
                f"{arn} ended {described['status']}"
                + (f" with {described['error']}" if described.get("error") else "")
                + f", not parked ({_PARKED}): its end cleaned it up, so a redrive would not resume it; start a "
                "new run with `ferry start` once the cause is fixed"
            )
        redriven = sfn.redrive_execution(executionArn=arn)
        out.write(
            f"redriven {arn} at {_when(redriven.get('redriveDate'))}: it resumes at the step that failed\n"
        )
        return EXIT_OK if polling is None else _watch(sfn, arn, polling, out)

    return _guarded("redrive", redrive, err)


def runs_command(
    profile: str | None,
    stack: str,
    status: str | None,
    since: datetime,
    limit: int,
    now: datetime,
    out: TextIO,
    err: TextIO,
) -> int:
    """The runs of both state machines started since ``since`` (newest first, at most ``limit``)."""

    def runs() -> int:
        session = operator_session(profile)
        machines = stack_machines(session.client("cloudformation"), stack)
        sfn = session.client("stepfunctions")
        listed = sorted(
            (item for arn in machines.arns.values() for item in _executions(sfn, arn, status, since, limit)),
            key=lambda item: item["startDate"],
            reverse=True,
        )
        shown = listed[:limit]
        rows = [_run_row(sfn, machines, item, now) for item in shown]
        if not rows:
            what = f"{status} runs" if status else "runs"
            out.write(f"no {what} of stack {stack} started since {_when(since)}\n")
            return EXIT_OK
        columns = ("NAME", "MACHINE", "SOURCE", "TARGETS", "STATUS", "STARTED", "DURATION")
        widths = [max(len(row[i]) for row in [columns, *rows]) for i in range(len(columns))]
        for row in [columns, *rows]:
            out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
        if len(listed) > limit:
            out.write(f"(the {limit} newest shown; --limit shows more)\n")
        return EXIT_OK

    return _guarded("runs", runs, err)


def _executions(
    sfn: Any, state_machine_arn: str, status: str | None, since: datetime, limit: int
) -> list[dict[str, Any]]:
    """ListExecutions, page by page. "Results are sorted by time, with the most recent execution first", so
    the listing stops at the first execution started before ``since``, or once ``limit`` are found.
    https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html"""
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = sfn.list_executions(
            stateMachineArn=state_machine_arn,
            maxResults=_LIST_PAGE,
            **({"statusFilter": status} if status else {}),
            **({"nextToken": token} if token else {}),
        )
        for item in page["executions"]:
            if item["startDate"] < since or len(found) >= limit:
                return found
            found.append(item)
        token = page.get("nextToken")
        if not token:
            return found


def _run_row(sfn: Any, machines: StackMachines, item: dict[str, Any], now: datetime) -> tuple[str, ...]:
    described = sfn.describe_execution(executionArn=item["executionArn"])
    source, targets = _source_and_targets(described.get("input"))
    ended = item.get("stopDate")
    seconds = ((ended or now) - item["startDate"]).total_seconds()
    return (
        str(item["name"]),
        machines.kind_of(str(item["stateMachineArn"])),
        source,
        targets,
        str(item["status"]),
        _when(item["startDate"]),
        _duration(seconds) + ("" if ended else " so far"),
    )


def _source_and_targets(text: Any) -> tuple[str, str]:
    """Where a run copies from and to, as its input says (either workflow's contract); '?' if unreadable."""
    try:
        raw = json.loads(text or "null")
    except ValueError:
        return "?", "?"
    if not isinstance(raw, dict):
        return "?", "?"
    source = _mapping(raw.get("source"))
    what = source.get("clusterIdentifier") or source.get("snapshotIdentifier") or "?"
    source_text = f"{source.get('accountId', '?')}:{what}"
    if isinstance(raw.get("targets"), list):
        targets = [t for t in raw["targets"] if isinstance(t, dict)]
        return source_text, ",".join(
            f"{t.get('accountId', '?')}:{t.get('clusterIdentifier', '?')}" for t in targets
        )
    target, refresh = _mapping(raw.get("target")), _mapping(raw.get("refresh"))
    clone = target.get("cloneIdentifier") or (
        f"refresh of {refresh['replaces']}" if refresh.get("replaces") else "?"
    )
    return source_text, f"{target.get('accountId', '?')}:{clone}"


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _duration(seconds: float) -> str:
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        return f"{hours // 24}d{hours % 24:02d}h"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _when(at: Any) -> str:
    """A time as UTC, to the second."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if isinstance(at, datetime) else str(at)


def _guarded(command: str, body: Callable[[], int], err: TextIO) -> int:
    """Run a command's body; a stack, run or AWS error is one line on stderr and exit status 2."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return body()
    except OperateError as error:
        err.write(f"ferry {command}: {error}\n")
        return EXIT_ERROR
    except ClientError as error:
        err.write(f"ferry {command}: {aws_error(error)}\n")
        return EXIT_ERROR
    except BotoCoreError as error:
        err.write(f"ferry {command}: {error}\n")
        return EXIT_ERROR
