"""One look at a resource the run waits for: what the bounded poll loops, the event-driven waits and the
clone's waits all ask of a snapshot, a cluster or a set of instances, and the payload of such a wait."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import ClientError

from aurora_ferry.core.access import error_code, rds, translated
from aurora_ferry.core.accounts import AccountAccess
from aurora_ferry.core.errors import ResourceFailedError
from aurora_ferry.core.validation import required_choice, required_field

SNAPSHOT_FAILED = frozenset({"failed", "incompatible-restore", "deleted"})
CLUSTER_FAILED = frozenset(
    {
        "failed",
        "incompatible-restore",
        "incompatible-parameters",
        "incompatible-network",
        "inaccessible-encryption-credentials",
        "inaccessible-encryption-credentials-recoverable",
    }
)
INSTANCE_FAILED = CLUSTER_FAILED | frozenset({"restore-error", "storage-full"})


@dataclass(frozen=True)
class PollResult:
    status: str
    ready: bool
    attempt: int
    details: dict[str, Any]
    # A snapshot's PercentProgress, and the seconds since its SnapshotCreateTime on RDS's own clock: what the
    # next check of a copy is scheduled from (aurora_ferry.waits.backoff). Not part of the state's payload.
    percent_progress: int | None = None
    elapsed_seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "ready": self.ready, "attempt": self.attempt, **self.details}


@dataclass(frozen=True)
class PollEvent:
    """What a wait of the migration looks at: the poll loop's payload, and what the wait table stores."""

    kind: str
    access: AccountAccess
    identifiers: list[str]
    attempt: int
    # The run's options.pollIntervalSeconds, and whether the wait backs off from it (snapshot copies, which
    # no RDS event announces, under the "events" wait strategy).
    interval_seconds: int = 30
    adaptive: bool = False

    KINDS = ("snapshot", "cluster", "instances")

    @classmethod
    def parse(cls, event: dict[str, Any]) -> PollEvent:
        kind = required_choice(event, "kind", cls.KINDS)
        identifiers = event.get("identifiers") or [required_field(event, "identifier")]
        return cls(
            kind,
            AccountAccess.from_json(required_field(event, "access")),
            list(identifiers),
            int(event.get("attempt", 0)),
            int(event.get("intervalSeconds", 30)),
            event.get("adaptive") is True,
        )


def poll_snapshot(access: AccountAccess, identifier: str, attempt: int) -> PollResult:
    raw, answered_at = _describe_snapshot_at(access, identifier)
    if raw is None:
        raise ResourceFailedError.in_account(
            access, f"cluster snapshot {identifier} disappeared while the run was waiting for it"
        )
    status = raw.get("Status", "unknown")
    if status in SNAPSHOT_FAILED:
        raise _failed(f"cluster snapshot {identifier}", status, access)
    percent = int(raw.get("PercentProgress", 0))
    created = raw.get("SnapshotCreateTime")
    elapsed = (answered_at - created).total_seconds() if isinstance(created, datetime) else None
    return PollResult(
        status, status == "available", attempt + 1, {"percentProgress": percent}, percent, elapsed
    )


def _describe_snapshot_at(access: AccountAccess, identifier: str) -> tuple[Any, datetime]:
    """The snapshot (None if not found), and when RDS answered.

    Like aurora_ferry.core.snapshots.describe_snapshot, but keeping the response's Date header: RDS stamped
    both it and SnapshotCreateTime, so their difference is how long the snapshot has been in progress with no
    skew between the Lambda's clock and RDS's. Without the header, the Lambda's clock stands in.
    """
    with translated(access, f"describe cluster snapshot {identifier}"):
        try:
            found = rds(access).describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=identifier)
        except ClientError as error:
            if error_code(error) == "DBClusterSnapshotNotFoundFault":
                return None, datetime.now(UTC)
            raise
    snapshots = found.get("DBClusterSnapshots", [])
    return (snapshots[0] if snapshots else None), _answered_at(found)


def _answered_at(answer: Any) -> datetime:
    date = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        answered = parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        answered = None
    if answered is None or answered.tzinfo is None:
        return datetime.now(UTC)
    return answered


def poll_cluster(access: AccountAccess, cluster_id: str, attempt: int) -> PollResult:
    client = rds(access)
    with translated(access, f"describe cluster {cluster_id}"):
        cluster = client.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
    status = cluster.get("Status", "unknown")
    if status in CLUSTER_FAILED:
        raise _failed(f"cluster {cluster_id}", status, access)
    details = {"endpoint": cluster.get("Endpoint"), "readerEndpoint": cluster.get("ReaderEndpoint")}
    return PollResult(status, status == "available", attempt + 1, details)


def poll_instances(access: AccountAccess, instance_ids: list[str], attempt: int) -> PollResult:
    client = rds(access)
    statuses: dict[str, str] = {}
    for instance_id in instance_ids:
        with translated(access, f"describe instance {instance_id}"):
            instance = client.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]
        status = instance.get("DBInstanceStatus", "unknown")
        if status in INSTANCE_FAILED:
            raise _failed(f"instance {instance_id}", status, access)
        statuses[instance_id] = status
    ready = all(status == "available" for status in statuses.values())
    summary = "available" if ready else ",".join(sorted(set(statuses.values())))
    return PollResult(summary, ready, attempt + 1, {"instances": statuses})


def _failed(what: str, status: str, access: AccountAccess) -> ResourceFailedError:
    return ResourceFailedError.in_account(access, f"{what} is {status}")
