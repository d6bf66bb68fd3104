"""Typed views of the payloads the migration's state machine sends each function.

The state machine builds these payloads itself, so a malformed one is a template bug, not user input;
it still fails with a named error and the missing field rather than a KeyError deep in a step. (The poll
loop's payload, shared with the event-driven waits, is aurora_ferry.core's PollEvent.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aurora_ferry.core import PayloadError, RunPayload, SnapshotRef, required_field
from aurora_ferry.migration.contract import MigrationRequest, Target, parse_migration_request
from aurora_ferry.migration.placement import find_target


class RunEvent(RunPayload[MigrationRequest]):
    """A migration step's run: its input, read by the migration's contract, and its id."""

    read_request = staticmethod(parse_migration_request)


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
