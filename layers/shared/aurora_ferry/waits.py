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
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from aurora_ferry.aws import (
    THROTTLING_CODES,
    AccountAccess,
    dynamodb_errors,
    error_code,
    orchestrator_client,
    resource_key,
    scan_items,
)
from aurora_ferry.errors import AwsThrottledError, ConfigurationError, PayloadError, ResourceFailedError
from aurora_ferry.events import PollEvent, required_field
from aurora_ferry.migration import PollResult, poll_cluster, poll_instances, poll_snapshot
from aurora_ferry.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

WAIT_TABLE_ENV = "WAIT_TABLE_NAME"
# Longer than the 7-day execution timeout: DynamoDB's TTL only removes what every run has given up on.
TOKEN_TTL_SECONDS = 8 * 24 * 3600
# One sweep looks at no more than this many stored waits (20 targets x 3 waits x a few runs fit easily).
MAX_SWEEP_ITEMS = 1000

# Adaptive polling for waits no event announces: the interval doubles from options.pollIntervalSeconds up
# to this cap (or the interval itself when that is longer).
ADAPTIVE_MAX_DELAY_SECONDS = 600
_MAX_DOUBLINGS = 20

# The errors SendTaskSuccess/Failure/Heartbeat answer for a token that is already completed, timed out, or
# belongs to an execution that ended: the wait is over either way.
TOKEN_GONE_CODES = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})

# Resource types as they appear in RDS ARNs (arn:aws:rds:<region>:<account>:<type>:<id>), per wait kind.
RESOURCE_TYPES = {"snapshot": "cluster-snapshot", "cluster": "cluster", "instances": "db"}
# EventBridge detail.SourceType of the RDS events the orchestrator's rule forwards, to the same types.
SOURCE_TYPES = {"CLUSTER_SNAPSHOT": "cluster-snapshot", "CLUSTER": "cluster", "DB_INSTANCE": "db"}

CompletedBy = Literal["register", "event", "sweeper"]


def next_poll_delay(attempt: int, interval_seconds: int, adaptive: bool) -> int:
    """Seconds to wait before the next check, after `attempt` checks.

    Fixed polling waits `interval_seconds` each time. Adaptive polling starts there and doubles after each
    check, up to ADAPTIVE_MAX_DELAY_SECONDS: a 2-hour copy is checked about 17 times instead of 240 times at
    30 s, and its end is seen at most 10 minutes late.
    """
    if not adaptive:
        return interval_seconds
    cap = max(interval_seconds, ADAPTIVE_MAX_DELAY_SECONDS)
    doublings = min(max(attempt - 1, 0), _MAX_DOUBLINGS)
    return int(min(cap, interval_seconds * 2**doublings))


@dataclass(frozen=True)
class WaitRequest:
    """What a waitForTaskToken state hands register_wait: its token and the resources it waits for."""

    task_token: str
    poll: PollEvent
    run_id: str

    @classmethod
    def parse(cls, event: dict[str, Any]) -> WaitRequest:
        token = required_field(event, "taskToken")
        if not isinstance(token, str) or not token:
            raise PayloadError(["event.taskToken: must be the state's $$.Task.Token"])
        return cls(token, PollEvent.parse(event), str(required_field(event, "runId")))

    @property
    def keys(self) -> list[str]:
        access = self.poll.access
        resource_type = RESOURCE_TYPES[self.poll.kind]
        return [
            resource_key(access.account_id, access.region, resource_type, i) for i in self.poll.identifiers
        ]


@dataclass(frozen=True)
class StoredWait:
    """One row of the wait table (one per resource; the rows of an instances wait share the token)."""

    key: str
    task_token: str
    request: WaitRequest
    expires_at: int


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


class WaitStore:
    """The wait table: task tokens keyed by resource, with a TTL so abandoned rows expire on their own."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @classmethod
    def from_environment(cls) -> WaitStore:
        name = os.environ.get(WAIT_TABLE_ENV)
        if not name:
            raise ConfigurationError(
                f"environment: {WAIT_TABLE_ENV} must name the wait table (template.yaml)"
            )
        return cls(name)

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = orchestrator_client("dynamodb")
        return self._client

    def put(self, request: WaitRequest) -> None:
        now = int(time.time())
        payload = json.dumps(
            {
                "kind": request.poll.kind,
                "access": request.poll.access.to_json(),
                "identifiers": request.poll.identifiers,
                "intervalSeconds": request.poll.interval_seconds,
                "runId": request.run_id,
            }
        )
        for key in request.keys:
            with dynamodb_errors("store wait token"):
                # A later registration for the same resource (a retried state) replaces the earlier one.
                self.client.put_item(
                    TableName=self.table_name,
                    Item={
                        "resourceKey": {"S": key},
                        "taskToken": {"S": request.task_token},
                        "wait": {"S": payload},
                        "registeredAt": {"N": str(now)},
                        "expiresAt": {"N": str(now + TOKEN_TTL_SECONDS)},
                    },
                )

    def get(self, key: str) -> StoredWait | None:
        with dynamodb_errors("read wait token"):
            item = self.client.get_item(
                TableName=self.table_name, Key={"resourceKey": {"S": key}}, ConsistentRead=True
            ).get("Item")
        return _stored(item) if item else None

    def delete(self, keys: list[str], task_token: str) -> None:
        """Remove the rows of one wait, only while they still hold that wait's token."""
        for key in keys:
            try:
                with dynamodb_errors("delete wait token"):
                    self.client.delete_item(
                        TableName=self.table_name,
                        Key={"resourceKey": {"S": key}},
                        ConditionExpression="taskToken = :token",
                        ExpressionAttributeValues={":token": {"S": task_token}},
                    )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                # Gone already, or taken over by a newer registration of the same resource: leave it.

    def scan(self, limit: int = MAX_SWEEP_ITEMS) -> Iterator[StoredWait]:
        """Every stored wait, at most `limit` of them (a bounded scan)."""
        for item in scan_items(self.client, self.table_name, limit, "scan wait tokens"):
            stored = _stored(item)
            if stored is not None:
                yield stored


def _stored(item: dict[str, Any]) -> StoredWait | None:
    try:
        wait = json.loads(item["wait"]["S"])
        token = item["taskToken"]["S"]
        poll = PollEvent(
            kind=wait["kind"],
            access=AccountAccess.from_json(wait["access"]),
            identifiers=list(wait["identifiers"]),
            attempt=0,
            interval_seconds=int(wait.get("intervalSeconds", 30)),
        )
        return StoredWait(
            key=item["resourceKey"]["S"],
            task_token=token,
            request=WaitRequest(token, poll, str(wait.get("runId", ""))),
            expires_at=int(item.get("expiresAt", {}).get("N", "0")),
        )
    except (KeyError, TypeError, ValueError):
        logger.warning("ignoring a malformed wait table row", extra={"key": item.get("resourceKey")})
        return None


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
        code = error_code(error)
        if code in THROTTLING_CODES:
            raise AwsThrottledError(f"complete wait: {code}") from error
        if code not in TOKEN_GONE_CODES:
            raise
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
        code = error_code(error)
        if code in THROTTLING_CODES:
            raise AwsThrottledError(f"heartbeat wait: {code}") from error
        if code not in TOKEN_GONE_CODES:
            raise
        logger.info("wait token is gone; dropping its rows", extra={"key": stored.key, "error_code": code})
        return False
    return True
