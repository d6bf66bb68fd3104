"""The contract of a target in another Region: targets[].region, its key, and the Regions Aurora copies between;
and where each target's snapshot comes from (direct restore only in the source's Region)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from aurora_ferry.core import InvalidInputError
from aurora_ferry.migration import parse_migration_request, restores_from_share, target_access
from tests.conftest import load_event

pytestmark = pytest.mark.unit

DR_KEY = "arn:aws:kms:eu-central-1:222222222222:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6"


def _with_target(**fields: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event("migrate-cmk.json"))
    event["targets"][0].update(fields)
    return event


def _problems(event: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidInputError) as refused:
        parse_migration_request(event)
    return refused.value.problems


def test_a_target_in_another_region_is_reached_there_and_copies_across() -> None:
    # Given a target in eu-central-1 with a key there, of a source in eu-west-1
    request = parse_migration_request(_with_target(region="eu-central-1", kmsKeyArn=DR_KEY))
    target = request.targets[0]
    # Then the run acts in the target's Region, and copies there (a restore reads only its own Region)
    assert target_access(request, target).region == "eu-central-1"
    assert not restores_from_share(request, target)
    # And the normalised input carries the Region, and parses again to the same request
    assert request.to_json()["targets"][0]["region"] == "eu-central-1"
    assert parse_migration_request(request.to_json()) == request


def test_a_target_in_the_source_region_restores_from_the_share_unless_it_keeps_its_copy() -> None:
    default = parse_migration_request(load_event("migrate-cmk.json"))
    assert target_access(default, default.targets[0]).region == "eu-west-1"
    assert restores_from_share(default, default.targets[0])
    same = parse_migration_request(_with_target(region="eu-west-1"))
    assert restores_from_share(same, same.targets[0])
    keeps = parse_migration_request(load_event("migrate-keep-copies.json"))
    assert not restores_from_share(keeps, keeps.targets[0])


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        # A key of the source's Region for a target elsewhere: KMS keys are regional.
        ({"region": "eu-central-1"}, "targets[0].kmsKeyArn", "must be in the target's region eu-central-1"),
        # A key elsewhere for a target in the source's Region.
        ({"kmsKeyArn": DR_KEY}, "targets[0].kmsKeyArn", "must be in the source region eu-west-1"),
        (
            {"region": "cn-north-1", "kmsKeyArn": DR_KEY.replace("eu-central-1", "cn-north-1")},
            "targets[0].region",
            "cn-north-1 is a China Region",
        ),
        (
            {"region": "us-gov-west-1", "kmsKeyArn": DR_KEY.replace("eu-central-1", "us-gov-west-1")},
            "targets[0].region",
            "must be in the source's partition (aws)",
        ),
        ({"region": "Frankfurt"}, "targets[0].region", "must be an AWS region name"),
    ],
    ids=["key-in-source-region", "key-in-other-region", "china", "other-partition", "not-a-region"],
)
def test_a_target_region_is_refused_before_any_call_naming_the_field(
    fields: dict[str, Any], path: str, message: str
) -> None:
    problems = _problems(_with_target(**fields))
    assert any(problem.startswith(path) and message in problem for problem in problems), problems
