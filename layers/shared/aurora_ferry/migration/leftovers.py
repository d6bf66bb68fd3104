"""Deferred cleanup: intermediate snapshots a failed run could not delete yet are deleted once AWS allows it.

AWS deletes a cluster snapshot only when it is available ("The DB cluster snapshot must be in the available
state to be deleted", https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBClusterSnapshot.html),
so a run that fails while its own source snapshot is still being created cannot delete it, and the snapshot
would otherwise stay, billed and counted against the account's manual snapshot quota, until someone notices.
Cleanup records such a snapshot in the leftover table; ``retry_leftovers`` runs on a schedule and deletes it
once it is no longer in progress. It deletes only what a run recorded, and only while the snapshot still
carries that run's tags, so it can never remove a snapshot the tool did not create. A row is given up (with a
warning and a metric) after RETRY_FOR_SECONDS.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from aurora_ferry.core import (
    AccountAccess,
    FerryError,
    LeftoverCleanupError,
    TableStore,
    describe_snapshot,
    dynamodb_errors,
    error_code,
    logger,
    metrics,
    naming,
    rds,
    resource_key,
    scan_items,
    translated,
)

LEFTOVER_TABLE_ENV = "LEFTOVER_TABLE_NAME"
# A cluster snapshot of a multi-terabyte cluster can take many hours; a week covers any of them. After that
# the row is dropped with a warning, and the snapshot (still tagged) is the operator's to look at.
RETRY_FOR_SECONDS = 7 * 24 * 3600
# The delete errors that mean "not yet" rather than "never": only these are worth retrying.
NOT_DELETABLE_YET_CODES = frozenset({"InvalidDBClusterSnapshotStateFault"})
IN_PROGRESS_STATUSES = frozenset({"creating", "copying"})
MAX_RETRY_ITEMS = 1000
# A parked run's intermediates are kept for as long as Step Functions lets the run be redriven ("14 days",
# counted from the execution's end: https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html),
# plus the 7 days a redriven run may then take (its execution timeout starts again) and a day more; only then
# does the scheduled retry delete them, so a run redriven on its last day still finds them.
REDRIVE_WINDOW_SECONDS = 22 * 24 * 3600


@dataclass(frozen=True)
class Leftover:
    """One intermediate cluster snapshot that its run could not delete."""

    access: AccountAccess
    identifier: str
    arn: str
    run_id: str
    retry_until: int
    # Not deleted before this time (epoch seconds): a parked run may still be redriven and need it.
    not_before: int = 0

    @property
    def key(self) -> str:
        return resource_key(self.access.account_id, self.access.region, "cluster-snapshot", self.identifier)

    @property
    def retry_until_iso(self) -> str:
        return datetime.fromtimestamp(self.retry_until, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LeftoverStore(TableStore):
    """The leftover table: one row per snapshot still to delete, with a TTL past the retry window."""

    TABLE_ENV = LEFTOVER_TABLE_ENV
    TABLE_KIND = "leftover table"

    def put(self, leftover: Leftover) -> None:
        payload = json.dumps(
            {
                "access": leftover.access.to_json(),
                "identifier": leftover.identifier,
                "arn": leftover.arn,
                "runId": leftover.run_id,
            }
        )
        with dynamodb_errors("record leftover snapshot"):
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    "resourceKey": {"S": leftover.key},
                    "leftover": {"S": payload},
                    "retryUntil": {"N": str(leftover.retry_until)},
                    "notBefore": {"N": str(leftover.not_before)},
                    # DynamoDB TTL removes a row a day after the retry window, should every retry fail.
                    "expiresAt": {"N": str(leftover.retry_until + 24 * 3600)},
                },
            )

    def delete(self, leftover: Leftover) -> None:
        with dynamodb_errors("delete leftover row"):
            self.client.delete_item(TableName=self.table_name, Key={"resourceKey": {"S": leftover.key}})

    def scan(self, limit: int = MAX_RETRY_ITEMS) -> Iterator[Leftover]:
        """Every recorded leftover, at most `limit` of them (a bounded scan)."""
        yield from scan_items(self.client, self.table_name, limit, "scan leftover rows", _parsed)


def _parsed(item: dict[str, Any]) -> Leftover | None:
    try:
        raw = json.loads(item["leftover"]["S"])
        return Leftover(
            access=AccountAccess.from_json(raw["access"]),
            identifier=str(raw["identifier"]),
            arn=str(raw["arn"]),
            run_id=str(raw["runId"]),
            retry_until=int(item["retryUntil"]["N"]),
            not_before=int(item.get("notBefore", {"N": "0"})["N"]),
        )
    except (KeyError, TypeError, ValueError):
        logger.warning("ignoring a malformed leftover row", extra={"key": item.get("resourceKey")})
        return None


def record_leftover(
    store: LeftoverStore,
    access: AccountAccess,
    raw_snapshot: Any,
    run_id: str,
    now: float | None = None,
    *,
    keep_seconds: int = 0,
) -> Leftover:
    """Remember a snapshot of this run for retry_leftovers to delete: one cleanup could not delete yet, or
    (`keep_seconds` > 0) one a parked run keeps for its redrive, to be deleted only after that."""
    now = time.time() if now is None else now
    not_before = int(now) + keep_seconds if keep_seconds else 0
    leftover = Leftover(
        access=access,
        identifier=raw_snapshot["DBClusterSnapshotIdentifier"],
        arn=raw_snapshot["DBClusterSnapshotArn"],
        run_id=run_id,
        retry_until=max(int(now), not_before) + RETRY_FOR_SECONDS,
        not_before=not_before,
    )
    store.put(leftover)
    logger.info(
        "snapshot recorded; its deletion will be retried",
        extra={"snapshot": leftover.arn, "not_before": not_before, "retry_until": leftover.retry_until_iso},
    )
    return leftover


def retry_leftovers(store: LeftoverStore | None = None, now: float | None = None) -> dict[str, int]:
    """Delete every recorded leftover that AWS now lets us delete; keep the ones still in progress.

    Every row is tried even when one fails (an account whose role is gone must not block the others); the
    failures are then raised together as LeftoverCleanupError, so the invocation is reported as failed.
    """
    store = store or LeftoverStore.from_environment()
    now = time.time() if now is None else now
    counts = {
        "leftovers": 0, "deleted": 0, "pending": 0, "gone": 0, "untagged": 0, "expired": 0, "parked": 0
    }  # fmt: skip
    problems: list[str] = []
    for leftover in store.scan():
        counts["leftovers"] += 1
        if leftover.retry_until < now:
            logger.warning(
                "giving up on a leftover snapshot; it is still tagged with its run id",
                extra={"snapshot": leftover.arn, "run_id": leftover.run_id},
            )
            metrics.add_metric(name="LeftoversAbandoned", unit=MetricUnit.Count, value=1)
            store.delete(leftover)
            counts["expired"] += 1
            continue
        if leftover.not_before > now:
            # Its parked run may still be redriven: the run's own cleanup deletes it then.
            counts["parked"] += 1
            continue
        try:
            outcome = _retry_one(leftover)
        except (FerryError, ClientError) as error:
            logger.exception("could not retry a leftover snapshot", extra={"snapshot": leftover.arn})
            problems.append(f"{leftover.arn}: {error}")
            continue
        counts[outcome] += 1
        if outcome != "pending":
            store.delete(leftover)
    if counts["leftovers"]:
        logger.info("retried leftover snapshots", extra=counts)
    if problems:
        raise LeftoverCleanupError(
            f"{len(problems)} leftover snapshot(s) could not be retried: " + "; ".join(problems)
        )
    return counts


def _retry_one(leftover: Leftover) -> str:
    access = leftover.access
    client = rds(access)
    raw = describe_snapshot(client, access, leftover.identifier)
    if raw is None:
        return "gone"
    with translated(access, f"read tags of {leftover.identifier}"):
        tags = client.list_tags_for_resource(ResourceName=raw["DBClusterSnapshotArn"]).get("TagList", [])
    if not naming.is_tagged_by_run(tags, leftover.run_id):  # type: ignore[arg-type]
        logger.warning(
            "leftover snapshot no longer carries its run's tags; leaving it", extra={"snapshot": leftover.arn}
        )
        return "untagged"
    if raw.get("Status") in IN_PROGRESS_STATUSES:
        return "pending"
    try:
        with translated(access, f"delete {leftover.identifier}"):
            client.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=leftover.identifier)
    except ClientError as error:
        if error_code(error) in NOT_DELETABLE_YET_CODES:
            return "pending"
        raise
    metrics.add_metric(name="LeftoversDeleted", unit=MetricUnit.Count, value=1)
    logger.info("deleted a leftover snapshot", extra={"snapshot": leftover.arn, "run_id": leftover.run_id})
    return "deleted"
