"""The Step Functions "Execution Status Change" event, as EventBridge delivers it.

https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html : the detail carries the
execution's ARN, name, status, the state machine's ARN, and its input when the input fits in the event
(``inputDetails.included``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aurora_ferry.core import PayloadError

# The ends a run's own Catch does not see: a stop from the console or the API, the execution timeout, and a
# failure Step Functions raises outside any state (States.DataLimitExceeded is not caught by States.ALL).
# FAILED is included because it also covers those uncatchable failures; after a caught failure the run's own
# cleanup has run already, and doing it again finds nothing left to do.
ENDED_WITHOUT_CLEANUP = ("FAILED", "TIMED_OUT", "ABORTED")
DETAIL_TYPE = "Step Functions Execution Status Change"
# The detail's fields this model requires.
_DETAIL_FIELDS = ("executionArn", "stateMachineArn", "name", "status", "input")


@dataclass(frozen=True)
class ExecutionEnded:
    execution_arn: str
    state_machine_arn: str
    name: str
    status: str
    input: str
    # The execution's error, for a FAILED one (a parked run fails with RunParkedError).
    error: str | None = None

    @classmethod
    def parse(cls, event: dict[str, Any]) -> ExecutionEnded:
        if event.get("source") != "aws.states" or event.get("detail-type") != DETAIL_TYPE:
            raise PayloadError(
                [f"event: not a Step Functions status change (source {event.get('source')!r}, "
                 f"detail-type {event.get('detail-type')!r})"]
            )  # fmt: skip
        detail = event.get("detail")
        if not isinstance(detail, dict):
            raise PayloadError(["event.detail: required, an object"])
        problems = [
            f"event.detail.{name}: required, a string"
            for name in _DETAIL_FIELDS[:-1]
            if not isinstance(detail.get(name), str)
        ]
        included = (detail.get("inputDetails") or {}).get("included", True)
        if not isinstance(detail.get("input"), str) or not included:
            problems.append(
                "event.detail.input: not in the event (an input too large for EventBridge); clean up the run "
                f"{detail.get('name')!r} by hand: its snapshots are named ferry-<run id>-*"
            )
        if problems:
            raise PayloadError(problems)
        error = detail.get("error")
        return cls(
            execution_arn=str(detail["executionArn"]),
            state_machine_arn=str(detail["stateMachineArn"]),
            name=str(detail["name"]),
            status=str(detail["status"]),
            input=str(detail["input"]),
            error=error if isinstance(error, str) else None,
        )
