"""Following a deployed execution to its end through the Step Functions API, as `ferry watch` does.

Step Functions has no "events since" query, so each poll reads the history newest first
(``reverseOrder``) until it reaches the last event it had already seen, and hands the new ones on in order.
"Each pagination token expires after 24 hours" and a token is valid only with the same arguments, so no
token is kept between polls; each poll starts again from the newest event.
https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html

The waiting is bounded: the time between polls starts at ``Polling.first`` and doubles while nothing
happens, up to ``Polling.longest``; the follower gives up after ``Polling.limit`` seconds of waiting,
counted as the sum of its own sleeps. It never reads a clock, so with a sleep that waits in twin time (the
twin's ``time.sleep`` on its threads) the same run is followed at the same twin seconds on any machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TERMINAL_STATUSES", "Followed", "Polling", "follow", "new_events"]

TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
# The history event types that end an execution.
_END_EVENTS = {
    "ExecutionSucceeded",
    "ExecutionFailed",
    "ExecutionAborted",
    "ExecutionTimedOut",
}
# Poll pages: a small first page (a poll usually finds a few new events), then the largest page AWS allows
# ("The default is 100 and the maximum allowed page size is 1000", GetExecutionHistory maxResults).
_FIRST_PAGE = 25
_PAGE_MAX = 1000
# The state machines' own TimeoutSeconds is 7 days; a day more covers the ended-run events after it.
DEFAULT_LIMIT_SECONDS = 8 * 86400.0


@dataclass(frozen=True)
class Polling:
    """How often, and for how long, to poll. ``sleep`` waits that many seconds (``time.sleep`` by default)."""

    first: float = 5.0
    longest: float = 60.0
    limit: float = DEFAULT_LIMIT_SECONDS
    sleep: Callable[[float], None] = field(default=time.sleep)

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.longest:
            raise ValueError(f"polling: 0 < first ({self.first}) <= longest ({self.longest}) is required")
        if self.limit < 0:
            raise ValueError(f"polling: the limit must not be negative, got {self.limit}")


@dataclass
class Followed:
    """What following found: the whole history read so far, and the description once the run ended."""

    history: list[dict[str, Any]] = field(default_factory=list)
    description: dict[str, Any] | None = None
    waited: float = 0.0
    polls: int = 0

    @property
    def ended(self) -> bool:
        return self.description is not None and self.description["status"] in TERMINAL_STATUSES


def new_events(sfn: Any, execution_arn: str, last_id: int) -> list[dict[str, Any]]:
    """The history events after event ``last_id`` (event ids count from 1), oldest first."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    size = _FIRST_PAGE
    while True:
        page = sfn.get_execution_history(
            executionArn=execution_arn,
            reverseOrder=True,
            maxResults=size,
            **({"nextToken": token} if token else {}),
        )
        for event in page["events"]:
            if int(event["id"]) <= last_id:
                return found[::-1]
            found.append(event)
        token = page.get("nextToken")
        if not token:
            return found[::-1]
        size = _PAGE_MAX


def follow(
    sfn: Any,
    execution_arn: str,
    on_event: Callable[[dict[str, Any]], None] | None,
    polling: Polling,
) -> Followed:
    """Read the execution's history until it ends (or ``polling.limit`` seconds of waiting pass), calling
    ``on_event`` for each event in order; then describe it."""
    followed = Followed()
    delay = polling.first
    while True:
        fresh = _read_new(sfn, execution_arn, followed, on_event)
        if fresh and fresh[-1]["type"] in _END_EVENTS:
            followed.description = dict(sfn.describe_execution(executionArn=execution_arn))
            return followed
        if followed.waited >= polling.limit:
            followed.description = dict(sfn.describe_execution(executionArn=execution_arn))
            if followed.ended:
                # It ended between the last read and the description: the history has its end now.
                _read_new(sfn, execution_arn, followed, on_event)
            return followed
        # Back off while nothing happens; look again soon once something did.
        delay = polling.first if fresh else min(delay * 2, polling.longest)
        step = min(delay, polling.limit - followed.waited)
        polling.sleep(step)
        followed.waited += step


def _read_new(
    sfn: Any, execution_arn: str, followed: Followed, on_event: Callable[[dict[str, Any]], None] | None
) -> list[dict[str, Any]]:
    fresh = new_events(sfn, execution_arn, int(followed.history[-1]["id"]) if followed.history else 0)
    followed.polls += 1
    for event in fresh:
        followed.history.append(event)
        if on_event is not None:
            on_event(event)
    return fresh
