"""The part of a step's payload every step of a run reads: the run's execution input and its id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from aurora_ferry.core.validation import required_field


@dataclass(frozen=True)
class RunPayload[R]:
    """The run a step belongs to: its execution input, parsed again by the workflow's contract (a step acts only
    on an input it has validated itself), and the run id. A workflow's subclass names its contract as
    ``read_request``."""

    request: R
    run_id: str

    @classmethod
    def parse(cls, event: dict[str, Any]) -> Self:
        return cls(cls.read_request(required_field(event, "input")), str(required_field(event, "runId")))

    @staticmethod
    def read_request(raw: Any) -> R:
        raise NotImplementedError("a workflow's run payload names its contract")
