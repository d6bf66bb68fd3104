"""Typed views of the payloads statemachine/clone.asl.json sends each clone function.

As for the migration (aurora_ferry.migration), the state machine builds these payloads itself: a malformed one
is a template bug, and fails with PayloadError naming the missing field (not the user's input error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aurora_ferry.clone.contract import CloneRequest, parse_clone_request
from aurora_ferry.clone.inspect import SourceFacts
from aurora_ferry.core import AccountAccess, PayloadError, RunPayload, required_choice, required_field


class CloneRunEvent(RunPayload[CloneRequest]):
    """A clone step's run: its input, read by the clone's contract, and its id."""

    read_request = staticmethod(parse_clone_request)


@dataclass(frozen=True)
class CloneStepEvent:
    """A payload of a step that acts for a run: the run, and (a subclass's fields) what the step acts on."""

    run: CloneRunEvent


@dataclass(frozen=True)
class CloneSourceEvent(CloneStepEvent):
    source: SourceFacts

    @classmethod
    def parse(cls, event: dict[str, Any]) -> CloneSourceEvent:
        raw = required_field(event, "source")
        if not isinstance(raw, dict):
            raise PayloadError(["event.source: must be the object InspectCloneSource returned"])
        return cls(CloneRunEvent.parse(event), SourceFacts.from_json(raw))


@dataclass(frozen=True)
class RetireEvent(CloneStepEvent):
    action: str
    clusters: list[dict[str, str]]

    # What to do with the refresh's old dev clusters: delete their instances, delete them, or (keepName) give
    # the new clone the name first.
    ACTIONS = ("delete-instances", "delete-clusters", "keep-name")

    @classmethod
    def parse(cls, event: dict[str, Any]) -> RetireEvent:
        action = required_choice(event, "action", cls.ACTIONS)
        clusters = required_field(event, "clusters")
        if not isinstance(clusters, list) or not all(
            isinstance(c, dict) and isinstance(c.get("identifier"), str) for c in clusters
        ):
            raise PayloadError(["event.clusters: must be a list of {identifier, arn} objects"])
        return cls(CloneRunEvent.parse(event), action, clusters)


@dataclass(frozen=True)
class ClonePollEvent:
    kind: str
    access: AccountAccess
    identifiers: list[str]
    attempt: int

    KINDS = ("cluster", "instances", "instances-gone", "clusters-gone")

    @classmethod
    def parse(cls, event: dict[str, Any]) -> ClonePollEvent:
        kind = required_choice(event, "kind", cls.KINDS)
        if "identifiers" in event:
            identifiers = event["identifiers"]
            if not isinstance(identifiers, list):
                raise PayloadError(["event.identifiers: must be a list of identifiers"])
        else:
            identifiers = [required_field(event, "identifier")]
        return cls(
            kind,
            AccountAccess.from_json(required_field(event, "access")),
            [str(i) for i in identifiers],
            int(event.get("attempt", 0)),
        )
