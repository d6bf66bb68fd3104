"""Typed views of the payloads the state machine sends each function.

The state machine builds these payloads itself, so a malformed one is a template bug, not user input;
it still fails with a named error and the missing field rather than a KeyError deep in a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aurora_ferry.aws import AccountAccess
from aurora_ferry.contract import MigrationRequest, Target, parse_migration_request
from aurora_ferry.errors import PayloadError
from aurora_ferry.migration import find_target
from aurora_ferry.snapshots import SnapshotRef


def required_field(event: dict[str, Any], name: str) -> Any:
    """A field the state machine must have put in the step's payload; PayloadError names it if not."""
    if name not in event:
        raise PayloadError([f"event.{name}: required by this step, missing from the state machine payload"])
    return event[name]


@dataclass(frozen=True)
class RunEvent:
    request: MigrationRequest
    run_id: str

    @classmethod
    def parse(cls, event: dict[str, Any]) -> RunEvent:
        return cls(
            parse_migration_request(required_field(event, "input")), str(required_field(event, "runId"))
        )


@dataclass(frozen=True)
class SnapshotEvent:
    run: RunEvent
    snapshot: SnapshotRef

    @classmethod
    def parse(cls, event: dict[str, Any], key: str = "snapshot") -> SnapshotEvent:
        return cls(RunEvent.parse(event), SnapshotRef.from_json(required_field(event, key)))


@dataclass(frozen=True)
class TargetEvent:
    run: RunEvent
    target: Target

    @classmethod
    def parse(cls, event: dict[str, Any]) -> TargetEvent:
        run = RunEvent.parse(event)
        account_id = str(required_field(event, "accountId"))
        try:
            target = find_target(run.request, account_id)
        except KeyError as error:
            raise PayloadError(
                [f"event.accountId: {account_id} is not one of the input's targets"]
            ) from error
        return cls(run, target)


@dataclass(frozen=True)
class PollEvent:
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
        kind = str(required_field(event, "kind"))
        if kind not in cls.KINDS:
            raise PayloadError([f"event.kind: must be one of {', '.join(cls.KINDS)}, got {kind!r}"])
        identifiers = event.get("identifiers") or [required_field(event, "identifier")]
        return cls(
            kind,
            AccountAccess.from_json(required_field(event, "access")),
            list(identifiers),
            int(event.get("attempt", 0)),
            int(event.get("intervalSeconds", 30)),
            event.get("adaptive") is True,
        )
