"""Event-driven waits: task tokens held per resource, completed by RDS events, a sweeper, or at once.

A wait state of the migration (``arn:aws:states:::lambda:invoke.waitForTaskToken``) hands its task token to
``register_wait``, which stores it in the wait table under each resource it waits for (account, Region,
resource type, identifier) and then checks the resources itself: register first, check second, so an event
that arrives between the two is never lost (the check sees what the event announced). Whatever completes the
token (the register check, ``route_event`` for an RDS event, or ``sweep`` on its schedule) re-describes the
resources through the member role first, so a forged or stale event can only cause a harmless re-check.

RDS delivers events on a best-effort basis ("they might be out of sequence or missing",
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/working-with-events.html), hence the sweeper,
the state's HeartbeatSeconds (the sweeper heartbeats waits still in progress) and its States.Timeout fallback
to the bounded poll loop. There is no event for a finished cluster snapshot copy, so copies are polled with
back-off (``next_poll_delay``) instead.

Completing a token twice is harmless: Step Functions answers TaskTimedOut, InvalidToken or TaskDoesNotExist
(https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html), which is logged
and not raised.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from aurora_ferry.core import (
    THROTTLING_CODES,
    AwsThrottledError,
    PollEvent,
    PollResult,
    ResourceFailedError,
    error_code,
    logger,
    orchestrator_client,
    poll_cluster,
    poll_instances,
    poll_snapshot,
    resource_key,
)
from aurora_ferry.waits.store import StoredWait, WaitRequest, WaitStore

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# The errors SendTaskSuccess/Failure/Heartbeat answer for a token that is already completed, timed out, or
# belongs to an execution that ended: the wait is over either way.
TOKEN_GONE_CODES = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})

# EventBridge detail.SourceType of the RDS events the orchestrator's rule forwards, to the same types.
SOURCE_TYPES = {"CLUSTER_SNAPSHOT": "cluster-snapshot", "CLUSTER": "cluster", "DB_INSTANCE": "db"}

CompletedBy = Literal["register", "event", "sweeper"]


@dataclass(frozen=True)
class Outcome:
    state: Literal["ready", "failed", "pending"]
    poll: PollResult | None = None
    cause: str = ""


def check_resources(poll: PollEvent) -> Outcome:
    """Describe the resources once, through the member role: ready, failed (with the cause) or pending."""
    try:
        if poll.kind == "snapshot":
            result = poll_snapshot(poll.access, poll.identifiers[0], 0)
        elif poll.kind == "cluster":
            result = poll_cluster(poll.access, poll.identifiers[0], 0)
        else:
            result = poll_instances(poll.access, poll.identifiers, 0)
    except ResourceFailedError as error:
        return Outcome("failed", cause=str(error))
    return Outcome("ready" if result.ready else "pending", result)


# --- AWS clients of the orchestrator account --------------------------------------------------------------


def step_functions() -> SFNClient:
    client: SFNClient = orchestrator_client("stepfunctions")
    return client


# --- completing a wait --------------------------------------------------------------------------------------


def complete(
    store: WaitStore,
    sfn: SFNClient,
    request: WaitRequest,
    outcome: Outcome,
    completed_by: CompletedBy,
) -> str:
    """Send the outcome for the wait's token, then drop its rows. Returns "completed" or "already-done"."""
    try:
        if outcome.state == "ready" and outcome.poll is not None:
            output = {**outcome.poll.to_json(), "completedBy": completed_by}
            sfn.send_task_success(taskToken=request.task_token, output=json.dumps(output, default=str))
        else:
            # The state's Catch sees this error name, like the poll loop's ResourceFailedError.
            sfn.send_task_failure(
                taskToken=request.task_token, error=ResourceFailedError.__name__, cause=outcome.cause[:32768]
            )
        result = "completed"
    except ClientError as error:
        code = _token_gone(error, "complete wait")
        logger.info(
            "wait already completed, timed out or ended; nothing to do",
            extra={"keys": request.keys, "error_code": code, "completed_by": completed_by},
        )
        result = "already-done"
    store.delete(request.keys, request.task_token)
    return result


def register_wait(
    request: WaitRequest, store: WaitStore | None = None, sfn: SFNClient | None = None
) -> dict[str, Any]:
    """Store the token under each resource, then check them at once (register, then check: no lost wakeup).

    A resource that already failed fails the state with ResourceFailedError (raised here, so the state's
    Catch sees it); one that is already available completes the token right away.
    """
    store = store or WaitStore.from_environment()
    store.put(request)
    outcome = check_resources(request.poll)
    if outcome.state == "failed":
        store.delete(request.keys, request.task_token)
        raise ResourceFailedError(outcome.cause)
    if outcome.state == "ready":
        result = complete(store, sfn or step_functions(), request, outcome, "register")
        return {"registered": request.keys, "status": "available", "completion": result}
    status = outcome.poll.status if outcome.poll else "unknown"
    logger.info("waiting for an RDS event", extra={"keys": request.keys, "status": status})
    return {"registered": request.keys, "status": status}


def route_event(
    event: dict[str, Any], store: WaitStore | None = None, sfn: SFNClient | None = None
) -> dict[str, Any]:
    """An RDS event from EventBridge: complete the wait registered for its resource, if there is one."""
    detail = event.get("detail") or {}
    resource_type = SOURCE_TYPES.get(str(detail.get("SourceType", "")))
    identifier = detail.get("SourceIdentifier")
    account = event.get("account")
    region = event.get("region")
    if not (resource_type and identifier and account and region):
        logger.info("ignoring an event that names no RDS resource", extra={"event_id": event.get("id")})
        return {"action": "ignored", "reason": "not an RDS resource event"}
    key = resource_key(str(account), str(region), resource_type, str(identifier))
    store = store or WaitStore.from_environment()
    stored = store.get(key)
    if stored is None:
        # Most RDS events are about resources no run waits for; they are expected and dropped.
        logger.info(
            "no wait registered for this resource", extra={"key": key, "rds_event": detail.get("EventID")}
        )
        return {"action": "ignored", "reason": "no wait registered", "key": key}
    outcome = check_resources(stored.request.poll)
    if outcome.state == "pending":
        # E.g. the first of two instances: the wait ends with the event (or sweep) of the last one.
        return {"action": "pending", "key": key}
    result = complete(store, sfn or step_functions(), stored.request, outcome, "event")
    return {"action": outcome.state, "key": key, "completion": result}


def sweep(
    store: WaitStore | None = None, sfn: SFNClient | None = None, now: float | None = None
) -> dict[str, int]:
    """The fallback for missed events: complete every stored wait whose resources are ready or failed, and
    heartbeat the rest so the state's HeartbeatSeconds only fires when the sweeps themselves stop."""
    store = store or WaitStore.from_environment()
    sfn = sfn or step_functions()
    now = time.time() if now is None else now
    counts = {"waits": 0, "completed": 0, "failed": 0, "pending": 0, "stale": 0, "expired": 0}
    by_token: dict[str, StoredWait] = {}
    for stored in store.scan():
        if stored.expires_at and stored.expires_at < now:
            # TTL deletion can lag by days; an expired row is dead already.
            store.delete([stored.key], stored.task_token)
            counts["expired"] += 1
            continue
        by_token.setdefault(stored.task_token, stored)
    for stored in by_token.values():
        counts["waits"] += 1
        outcome = check_resources(stored.request.poll)
        if outcome.state == "pending":
            if _heartbeat(sfn, stored):
                counts["pending"] += 1
            else:
                store.delete(stored.request.keys, stored.task_token)
                counts["stale"] += 1
            continue
        result = complete(store, sfn, stored.request, outcome, "sweeper")
        if result == "already-done":
            counts["stale"] += 1
        else:
            counts["completed" if outcome.state == "ready" else "failed"] += 1
    if counts["waits"] or counts["expired"]:
        logger.info("swept waits", extra=counts)
    return counts


def _heartbeat(sfn: SFNClient, stored: StoredWait) -> bool:
    """Tell Step Functions the wait is alive; False when its token is gone (the execution moved on)."""
    try:
        sfn.send_task_heartbeat(taskToken=stored.task_token)
    except ClientError as error:
        code = _token_gone(error, "heartbeat wait")
        logger.info("wait token is gone; dropping its rows", extra={"key": stored.key, "error_code": code})
        return False
    return True


def _token_gone(error: ClientError, action: str) -> str:
    """The code of a Step Functions error saying the wait's token is gone (the execution moved on); throttling
    becomes AwsThrottledError, to be retried, and any other error is raised again."""
    code = error_code(error)
    if code in THROTTLING_CODES:
        raise AwsThrottledError(f"{action}: {code}") from error
    if code not in TOKEN_GONE_CODES:
        raise error
    return code
