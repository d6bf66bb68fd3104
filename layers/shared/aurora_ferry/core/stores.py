"""The DynamoDB base of the orchestrator's tables (waits, leftovers): one key shape, one bounded scan, and
throttling turned into the error the state machine (or EventBridge) retries."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Self

from botocore.exceptions import ClientError

from aurora_ferry.core.access import THROTTLING_CODES, error_code, orchestrator_client
from aurora_ferry.core.errors import AwsThrottledError, ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_SCAN_PAGE = 100


class dynamodb_errors:  # noqa: N801 - used like a context-manager function
    """DynamoDB throttling becomes AwsThrottledError, which the state machine (or EventBridge) retries."""

    def __init__(self, action: str) -> None:
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        if isinstance(error, ClientError) and (
            error_code(error) in THROTTLING_CODES
            or error_code(error) == "ProvisionedThroughputExceededException"
        ):
            raise AwsThrottledError(f"{self.action}: {error_code(error)}") from error


def resource_key(account_id: str, region: str, resource_type: str, identifier: str) -> str:
    """A DynamoDB key for one RDS resource in one account and Region (the wait and leftover tables)."""
    return f"{account_id}:{region}:{resource_type}:{identifier}"


def scan_items[Row](
    client: Any, table_name: str, limit: int, action: str, parse: Callable[[dict[str, Any]], Row | None]
) -> Iterator[Row]:
    """The table's items as ``parse`` reads them, at most `limit` of them (a bounded scan), a page at a time; an
    item ``parse`` cannot read (None) is skipped, so one malformed row does not stop the others."""
    start: dict[str, Any] | None = None
    seen = 0
    while seen < limit:
        params: dict[str, Any] = {"TableName": table_name, "Limit": min(_SCAN_PAGE, limit - seen)}
        if start:
            params["ExclusiveStartKey"] = start
        with dynamodb_errors(action):
            page = client.scan(**params)
        items = page.get("Items", [])
        seen += len(items)
        for item in items:
            row = parse(item)
            if row is not None:
                yield row
        start = page.get("LastEvaluatedKey")
        if not start:
            return


class TableStore:
    """One of the orchestrator's tables, named by an environment variable (template.yaml sets it); the
    DynamoDB client is created on first use so that importing a handler stays cheap."""

    # The environment variable naming the table, and what the table is, for the configuration error.
    TABLE_ENV: ClassVar[str]
    TABLE_KIND: ClassVar[str]

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @classmethod
    def from_environment(cls) -> Self:
        name = os.environ.get(cls.TABLE_ENV)
        if not name:
            raise ConfigurationError(
                f"environment: {cls.TABLE_ENV} must name the {cls.TABLE_KIND} (template.yaml)"
            )
        return cls(name)

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = orchestrator_client("dynamodb")
        return self._client
