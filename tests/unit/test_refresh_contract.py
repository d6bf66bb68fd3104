"""The contract of a refresh in place: targets[].onExisting and targets[].finalSnapshot."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from aurora_ferry.core import InvalidInputError
from aurora_ferry.migration import OnExisting, parse_migration_request
from tests.conftest import load_event

pytestmark = pytest.mark.unit


def _with_target(**fields: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event("migrate-cmk.json"))
    event["targets"][0].update(fields)
    return event


def test_a_target_fails_on_an_existing_cluster_unless_it_asks_to_replace_it() -> None:
    default = parse_migration_request(load_event("migrate-cmk.json")).targets[0]
    assert default.on_existing is OnExisting.FAIL and default.final_snapshot
    replace = parse_migration_request(load_event("migrate-refresh-in-place.json")).targets[0]
    assert replace.on_existing is OnExisting.REPLACE and replace.final_snapshot
    without_final = parse_migration_request(_with_target(onExisting="replace", finalSnapshot=False))
    assert without_final.targets[0].final_snapshot is False


def test_the_normalised_input_parses_again_to_the_same_request() -> None:
    request = parse_migration_request(_with_target(onExisting="replace", finalSnapshot=False))
    assert parse_migration_request(request.to_json()) == request


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"onExisting": "overwrite"},
            "targets[0].onExisting: must be one of 'fail', 'replace', got 'overwrite'",
        ),
        ({"finalSnapshot": False}, "targets[0].finalSnapshot: only with onExisting 'replace'"),
        ({"onExisting": "replace", "finalSnapshot": "no"}, "targets[0].finalSnapshot: must be true or false"),
    ],
)
def test_a_bad_value_is_refused_naming_the_field_and_what_is_allowed(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_migration_request(_with_target(**fields))
    assert message in str(refused.value)
