"""The migration's state stays within Step Functions' 256 KiB payload limit for the largest input the contract
accepts: States.DataLimitExceeded cannot be caught, so a run that exceeded it would stop without cleaning up.
https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
"""

from __future__ import annotations

from typing import Any

import pytest

from aurora_ferry.core import INPUT_BUDGET_BYTES, PAYLOAD_LIMIT_BYTES, input_size
from aurora_ferry.migration import parse_migration_request
from aurora_ferry.migration.contract import MAX_TARGETS
from tests.conftest import load_event, running_twin

pytestmark = pytest.mark.statemachine

# What must stay free of the 256 KiB in the largest state of a run of 20 targets (README "Input contract").
MARGIN_BYTES = 48 * 1024
# One character, counted as 12 bytes (its JSON escape is a surrogate pair, \\ud800\\udf48).
WIDEST = "\U00010348"
MOST_PER_VALUE = 2900


def _tag_value(size: int) -> str:
    """A tag value of ``size`` bytes as the budget counts them, in at most 256 characters (``size`` up to
    MOST_PER_VALUE)."""
    return WIDEST * (size // 12) + "v" * (size % 12)


def largest_input() -> dict[str, Any]:
    """The two targets the default world has, each with the most instances, the longest cluster id, and tags
    that fill the normalised input to exactly the budget."""
    raw: dict[str, Any] = load_event("migrate-two-targets.json")
    for index, target in enumerate(raw["targets"]):
        target.update(clusterIdentifier=f"c{index}".ljust(63, "x"), instanceCount=16)
    raw = parse_migration_request(raw).to_json()
    index = 0
    while input_size(raw) < INPUT_BUDGET_BYTES:
        tags = raw["targets"][index % len(raw["targets"])]["tags"]
        key = f"{index:03d}".ljust(128, "k")
        tags[key] = ""
        left = INPUT_BUDGET_BYTES - input_size(raw)
        # Leave room for one more key if this value cannot take all that is left.
        tags[key] = _tag_value(left if left <= MOST_PER_VALUE else min(MOST_PER_VALUE, left - 200))
        index += 1
    assert input_size(raw) == INPUT_BUDGET_BYTES
    return raw


def payload_sizes(history: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """The size of every state's input and output, with the state's name: bytes of the JSON as the twin writes
    it, with non-ASCII characters escaped, as the budget counts them."""
    sizes = []
    for event in history:
        for key, field in (("stateEnteredEventDetails", "input"), ("stateExitedEventDetails", "output")):
            details = event.get(key)
            if details and details.get(field) is not None:
                sizes.append((len(details[field].encode("utf-8")), f"{details['name']} {field}"))
    return sizes


def test_the_largest_accepted_input_keeps_every_state_under_the_payload_limit() -> None:
    # Given an input of exactly the budget, as large as the default world's two targets allow
    raw = largest_input()
    parse_migration_request(raw)

    # When the migration runs
    with running_twin() as twin:
        description = twin.wait(twin.start(raw), timeout_real_seconds=300)
        history = twin.history(description["executionArn"])
    assert description["status"] == "SUCCEEDED", description.get("cause")

    # Then the largest state is under the limit with the margin
    sizes = payload_sizes(history)
    largest, where = max(sizes)
    assert largest <= PAYLOAD_LIMIT_BYTES - MARGIN_BYTES, where
    # And so is the largest state of 20 such targets: all the run added counted as if per target (over-counting
    # what it adds once), added for each of the 18 more targets
    added_per_target = (largest - INPUT_BUDGET_BYTES) / len(raw["targets"])
    projected = INPUT_BUDGET_BYTES + MAX_TARGETS * added_per_target
    assert projected <= PAYLOAD_LIMIT_BYTES - MARGIN_BYTES, (where, largest, added_per_target, projected)
    # And the output, which carries no input, is small
    assert len(description["output"].encode("utf-8")) < largest
