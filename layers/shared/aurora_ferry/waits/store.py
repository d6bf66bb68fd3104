"""The wait table: a waitForTaskToken state's token stored under each resource it waits for (account,
Region, resource type, identifier), with a TTL so abandoned rows expire on their own."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from aurora_ferry.core import (
    AccountAccess,
    PayloadError,
    PollEvent,
    TableStore,
    dynamodb_errors,
    error_code,
    logger,
    required_field,
    resource_key,
    scan_items,
)

WAIT_TABLE_ENV = "WAIT_TABLE_NAME"
# Longer than the 7-day execution timeout: DynamoDB's TTL only removes what every run has given up on.
TOKEN_TTL_SECONDS = 8 * 24 * 3600
# One sweep looks at no more than this many stored waits (20 targets x 3 waits x a few runs fit easily).
MAX_SWEEP_ITEMS = 1000

# Resource types as they appear in RDS ARNs (arn:aws:rds:<region>:<account>:<type>:<id>), per wait kind.
RESOURCE_TYPES = {"snapshot": "cluster-snapshot", "cluster": "cluster", "instances": "db"}


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


class WaitStore(TableStore):
    """The wait table: task tokens keyed by resource, with a TTL so abandoned rows expire on their own."""

    TABLE_ENV = WAIT_TABLE_ENV
    TABLE_KIND = "wait table"

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
        yield from scan_items(self.client, self.table_name, limit, "scan wait tokens", _stored)


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
