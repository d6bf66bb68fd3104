"""The notification of a run's end: the Step Functions status-change event as a readable SNS message.

The subject names the status and the run; the body says which run (run id, execution, state machine), what it
moved (source, targets or clone target, read from the execution's input as the run read it), how it ended
(the failing step, its account, the error and cause a failed run's summary wrote), how long it took, and the
execution's console link. SNS limits: a subject of at most 100 printable ASCII characters without line breaks,
a message of at most 256 KB (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from aurora_ferry.clone import CloneRequest
from aurora_ferry.core import ConfigurationError, InvalidInputError, logger, naming, orchestrator_client
from aurora_ferry.ended.event import ExecutionEnded
from aurora_ferry.ended.runs import parse_run_input

TOPIC_ENV = "NOTIFICATION_TOPIC_ARN"
SUBJECT_LIMIT = 100
# SNS's limit is 262,144 bytes for the whole message. The cause is cut to leave room for the other lines
# (bounded by the input contract); the whole message is cut again, just below the limit, as a last resort.
MESSAGE_LIMIT = 262_144
_MESSAGE_MARGIN = 16_384
_TRUNCATED = " ... [truncated: the whole cause is in the execution's history, see the console link]"
# A caught failure's cause, as aurora_ferry.core.summaries.explain_failure writes it.
_CAUSE = re.compile(r"^(?P<step>[^\s()]+) \((?P<place>[^)]*)\) failed with (?P<error>[^:]+):")
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]+")
# What a run that ended without a cause went through, by status.
_NO_CAUSE = {
    "ABORTED": "The execution was stopped (StopExecution, from the console or the API).",
    "TIMED_OUT": "The execution passed the state machine's TimeoutSeconds and Step Functions ended it.",
    "FAILED": "The execution failed without a cause.",
}
_CLEANUP_AFTER = (
    "No step of the run ran its own cleanup after this end; the ended-run cleanup (RunEndedCleanupFunction) "
    "unshares and deletes the run's intermediate snapshots, and the leftover retry deletes what is not "
    "deletable yet."
)


@dataclass(frozen=True)
class Notice:
    subject: str
    message: str
    # Message attributes, for subscription filter policies (for example failures only: a filter on "status").
    attributes: dict[str, str]

    def message_attributes(self) -> dict[str, dict[str, str]]:
        return {k: {"DataType": "String", "StringValue": v} for k, v in self.attributes.items()}


def subject_line(text: str) -> str:
    """``text`` as an SNS subject: printable ASCII only, one line, at most 100 characters."""
    line = _NOT_PRINTABLE.sub(" ", text).strip()
    return line if len(line) <= SUBJECT_LIMIT else line[: SUBJECT_LIMIT - 3].rstrip() + "..."


def truncated(text: str, limit_bytes: int) -> str:
    """``text`` cut to at most ``limit_bytes`` UTF-8 bytes, saying where it was cut."""
    if len(text.encode()) <= limit_bytes:
        return text
    room = max(0, limit_bytes - len(_TRUNCATED.encode()))
    return text.encode()[:room].decode(errors="ignore") + _TRUNCATED


def console_link(execution_arn: str) -> str:
    region = execution_arn.split(":")[3] if execution_arn.count(":") >= 4 else ""
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{execution_arn}"
    )


def _machine_kind(state_machine_arn: str) -> str:
    return (
        "clone" if state_machine_arn.rsplit(":", 1)[-1].lower().endswith("clonestatemachine") else "migration"
    )


def _what_it_moves(raw_input: str) -> tuple[str | None, list[str]]:
    """(the kind told from the input, the lines naming the source and the targets)."""
    try:
        request = parse_run_input(raw_input)
    except (ValueError, InvalidInputError):
        return None, ["Source and targets: the input was not a valid run input (the run refused it)."]
    if isinstance(request, CloneRequest):
        target = request.target
        clone = target.clone_identifier or "derived from the run id (refresh)"
        return "clone", [
            f"Source: account {request.source.account_id}, cluster {request.source.cluster_identifier} "
            f"({request.source.region})",
            f"Clone target: account {target.account_id}, clone {clone}",
        ]
    source = request.source
    what = (
        f"cluster {source.cluster_identifier}"
        if source.cluster_identifier
        else (f"snapshot {source.snapshot_identifier}")
    )
    return "migration", [
        f"Source: account {source.account_id}, {what} ({source.region})",
        *(f"Target: account {t.account_id}, cluster {t.cluster_identifier}" for t in request.targets),
    ]


def _duration(detail: dict[str, Any]) -> str | None:
    start, stop = detail.get("startDate"), detail.get("stopDate")
    if not isinstance(start, int | float) or not isinstance(stop, int | float):
        return None
    seconds = max(0, int((stop - start) / 1000))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60:02d}m {rest % 60:02d}s ({seconds} s)"


def _ended(event: dict[str, Any]) -> ExecutionEnded:
    """The event as the ended-run cleanup reads it; an input left out of the event (too large) reads as none."""
    detail = event.get("detail")
    if isinstance(detail, dict) and (
        not isinstance(detail.get("input"), str)
        or not (detail.get("inputDetails") or {}).get("included", True)
    ):
        event = {**event, "detail": {**detail, "input": "null", "inputDetails": {"included": True}}}
    return ExecutionEnded.parse(event)


def notice_for(event: dict[str, Any]) -> Notice:
    """The subject and message for one "Execution Status Change" event of a run that ended."""
    ended = _ended(event)
    detail: dict[str, Any] = event["detail"]
    run_id = naming.run_id_from_execution_name(ended.name)
    kind, moves = _what_it_moves(ended.input)
    kind = kind or _machine_kind(ended.state_machine_arn)
    lines = [
        f"aurora-ferry {kind} run {run_id} ended {ended.status}.",
        "",
        f"Run id: {run_id}",
        f"Execution: {ended.name}",
        f"State machine: {kind} ({ended.state_machine_arn})",
        f"Status: {ended.status}",
        *moves,
    ]
    duration = _duration(detail)
    if duration:
        lines.append(f"Duration: {duration}")
    error, cause = detail.get("error"), detail.get("cause")
    if isinstance(cause, str):
        # The cause is the one part without a bound; cut it, so the console link stays in the message.
        cause = truncated(cause, MESSAGE_LIMIT - _MESSAGE_MARGIN)
    if ended.status != "SUCCEEDED":
        match = _CAUSE.match(cause) if isinstance(cause, str) else None
        if match:
            lines += [f"Failing step: {match['step']}", f"Where: {match['place']}"]
        if error:
            lines.append(f"Error: {error}")
        if ended.status in ("ABORTED", "TIMED_OUT") or not cause:
            lines += ["", _NO_CAUSE.get(ended.status, _NO_CAUSE["FAILED"])]
            if cause:
                lines.append(f"Cause given: {cause}")
            lines.append(_CLEANUP_AFTER)
        else:
            lines.append(f"Cause: {cause}")
    lines += ["", f"Console: {console_link(ended.execution_arn)}"]
    message = truncated("\n".join(lines), MESSAGE_LIMIT - 1024)
    attributes = {"status": ended.status, "workflow": kind, "runId": run_id}
    return Notice(subject_line(f"aurora-ferry {ended.status}: {kind} {run_id}"), message, attributes)


def notify_run_ended(event: dict[str, Any], topic_arn: str | None = None) -> dict[str, Any]:
    """Publish the run's end to the notification topic (``NOTIFICATION_TOPIC_ARN``)."""
    topic = topic_arn or os.environ.get(TOPIC_ENV)
    if not topic:
        raise ConfigurationError(f"{TOPIC_ENV} is not set: the function cannot know its topic")
    notice = notice_for(event)
    answer = orchestrator_client("sns").publish(
        TopicArn=topic,
        Subject=notice.subject,
        Message=notice.message,
        MessageAttributes=notice.message_attributes(),
    )
    logger.info("notified the end of a run", extra={"subject": notice.subject})
    return {
        "subject": notice.subject,
        "messageId": answer.get("MessageId"),
        "bytes": len(notice.message.encode()),
    }
