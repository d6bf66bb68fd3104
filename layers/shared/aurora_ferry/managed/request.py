"""What the listing is asked: how many days of executions to read, and run inputs the operator names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aurora_ferry.core import InvalidInputError, Problems, reject_unknown, valid_int
from aurora_ferry.ended import RunRequest, parse_run_input

DEFAULT_SINCE_DAYS = 14
# Step Functions keeps a standard execution's history (and so its input) for 90 days after it ended.
MAX_SINCE_DAYS = 90
# Each input is at most 64 KiB (the contracts' budget); 50 of them stay far below Lambda's 6 MB request limit.
MAX_INPUTS = 50
_FIELDS = ("sinceDays", "inputs")


@dataclass(frozen=True)
class ListManagedRequest:
    """``{"sinceDays": 14, "inputs": [<execution input>, ...]}``, both optional; unknown fields refused."""

    since_days: int = DEFAULT_SINCE_DAYS
    inputs: tuple[RunRequest, ...] = ()

    @classmethod
    def parse(cls, event: Any) -> ListManagedRequest:
        if not isinstance(event, Mapping):
            raise InvalidInputError([f"event: must be a JSON object, got {type(event).__name__}"])
        problems = Problems()
        reject_unknown(event, _FIELDS, "", problems)
        since = valid_int(
            event.get("sinceDays", DEFAULT_SINCE_DAYS), "sinceDays", 1, MAX_SINCE_DAYS, problems
        )
        runs = _inputs(event.get("inputs", []), problems)
        if problems.items or since is None:
            raise InvalidInputError(problems.items)
        return cls(since_days=since, inputs=runs)


def _inputs(raw: Any, problems: Problems) -> tuple[RunRequest, ...]:
    if not isinstance(raw, list):
        problems.add("inputs", f"must be a list of execution inputs, got {type(raw).__name__}")
        return ()
    if len(raw) > MAX_INPUTS:
        problems.add("inputs", f"at most {MAX_INPUTS} execution inputs, got {len(raw)}")
        return ()
    runs: list[RunRequest] = []
    for index, value in enumerate(raw):
        try:
            runs.append(parse_run_input(value))
        except InvalidInputError as error:
            problems.items += [f"inputs[{index}]: {problem}" for problem in error.problems]
        except ValueError as error:
            problems.add(f"inputs[{index}]", f"not JSON: {error}")
    return tuple(runs)
