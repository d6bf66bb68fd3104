"""The contract of a copy in two steps (options.crossRegionCopy "two-step", regionalShareKmsKeyArns), and where
each target then reads its snapshot (aurora_ferry.migration.placement)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from aurora_ferry.core import InvalidInputError
from aurora_ferry.migration import (
    copies_in_two_steps,
    copy_regions,
    parse_migration_request,
    readers_in,
    region_access,
    restores_from_share,
    share_key_for,
    shared_region,
)
from tests.conftest import load_event

pytestmark = pytest.mark.unit

SOURCE_SHARE_KEY = "arn:aws:kms:eu-west-1:111111111111:key/0b5e1c3a-6f1d-4f7e-9a51-2c8e7d1f0a11"
REGIONAL_KEY = "arn:aws:kms:eu-central-1:111111111111:key/9e4d2b71-5a3c-4f08-b6e2-1c7d8a9f0b34"
DR_KEY = "arn:aws:kms:eu-central-1:222222222222:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6"
OTHER_DR_KEY = "arn:aws:kms:eu-central-1:333333333333:key/7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _two_step(**more: Any) -> dict[str, Any]:
    """migrate-cmk.json (source in eu-west-1, target 222222222222) with its target in eu-central-1, in two
    steps, and a second target there (333333333333)."""
    event = copy.deepcopy(load_event("migrate-cmk.json"))
    event["targets"][0].update(region="eu-central-1", kmsKeyArn=DR_KEY)
    second = {
        **event["targets"][0],
        "accountId": "333333333333",
        "roleArn": "arn:aws:iam::333333333333:role/aurora-ferry-target",
        "kmsKeyArn": OTHER_DR_KEY,
    }
    event["targets"].append(second)
    event["options"] = {**event.get("options", {}), "crossRegionCopy": "two-step"}
    event["regionalShareKmsKeyArns"] = {"eu-central-1": REGIONAL_KEY}
    event.update(more)
    return event


def _problems(event: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidInputError) as refused:
        parse_migration_request(event)
    return refused.value.problems


def test_targets_in_another_region_read_the_source_accounts_copy_there() -> None:
    # Given two targets in eu-central-1 of a source in eu-west-1, copying in two steps
    request = parse_migration_request(_two_step())
    first, second = request.targets
    # Then both read a snapshot in their own Region, under the regional share key, and restore straight from it
    assert all(copies_in_two_steps(request, t) for t in request.targets)
    assert shared_region(request, first) == shared_region(request, second) == "eu-central-1"
    assert share_key_for(request, first) == REGIONAL_KEY
    assert restores_from_share(request, first)
    # And the source copies into that one Region, with its own role there, and shares it with both targets
    assert copy_regions(request) == ["eu-central-1"]
    access = region_access(request, "eu-central-1")
    assert (access.account_id, access.region, access.role_arn) == (
        "111111111111",
        "eu-central-1",
        request.source.role_arn,
    )
    assert [t.account_id for t in readers_in(request, "eu-central-1")] == ["222222222222", "333333333333"]
    assert readers_in(request, "eu-west-1") == []
    # And the normalised input carries both fields, and parses again to the same request
    normalised = request.to_json()
    assert normalised["options"]["crossRegionCopy"] == "two-step"
    assert normalised["regionalShareKmsKeyArns"] == {"eu-central-1": REGIONAL_KEY}
    assert parse_migration_request(normalised) == request


def test_a_target_in_the_source_region_reads_the_share_copy_and_one_step_is_unchanged() -> None:
    # Given a two-step run with one more target in the source's Region
    event = _two_step()
    event["targets"].append(
        copy.deepcopy(load_event("migrate-cmk.json"))["targets"][0]
        | {
            "accountId": "444444444444",
            "roleArn": "arn:aws:iam::444444444444:role/aurora-ferry-target",
            "kmsKeyArn": "arn:aws:kms:eu-west-1:444444444444:key/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        }
    )
    request = parse_migration_request(event)
    local = request.targets[2]
    # Then it reads the share copy in eu-west-1 under the share key, which is shared with it alone
    assert not copies_in_two_steps(request, local)
    assert share_key_for(request, local) == SOURCE_SHARE_KEY
    assert [t.account_id for t in readers_in(request, "eu-west-1")] == ["444444444444"]
    # And with the default (one step) a target elsewhere reads the share copy across Regions, and copies it
    one_step = copy.deepcopy(load_event("migrate-cross-region.json"))
    plain = parse_migration_request(one_step)
    assert not copies_in_two_steps(plain, plain.targets[0])
    assert shared_region(plain, plain.targets[0]) == "eu-west-1"
    assert not restores_from_share(plain, plain.targets[0])
    assert copy_regions(plain) == []
    # And with keep-target-copies a two-step target copies the regional copy instead of restoring from it
    keeps = _two_step()
    keeps["options"]["cleanup"] = "keep-target-copies"
    assert not restores_from_share(parse_migration_request(keeps), request.targets[0])


def _drop_keys(event: dict[str, Any]) -> None:
    del event["regionalShareKmsKeyArns"]


def _one_step(event: dict[str, Any]) -> None:
    del event["options"]["crossRegionCopy"]


def _entry(region: str, key: Any) -> Any:
    return lambda event: event["regionalShareKmsKeyArns"].update({region: key})


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [
        (_one_step, "regionalShareKmsKeyArns", "only with options.crossRegionCopy 'two-step'"),
        (_drop_keys, "targets[0].region", "needs regionalShareKmsKeyArns['eu-central-1']"),
        (
            lambda e: e.update(regionalShareKmsKeyArns=[REGIONAL_KEY]),
            "regionalShareKmsKeyArns",
            "must be an object",
        ),
        (
            _entry("eu-central-1", REGIONAL_KEY.replace("111111111111", "999999999999")),
            "regionalShareKmsKeyArns.eu-central-1",
            "must be a key of the source account 111111111111",
        ),
        (
            _entry("eu-central-1", REGIONAL_KEY.replace("eu-central-1", "eu-north-1")),
            "regionalShareKmsKeyArns.eu-central-1",
            "must be a key in eu-central-1",
        ),
        (
            _entry("eu-west-1", SOURCE_SHARE_KEY),
            "regionalShareKmsKeyArns.eu-west-1",
            "the source Region's share key is shareKmsKeyArn",
        ),
        (
            _entry("eu-north-1", REGIONAL_KEY.replace("eu-central-1", "eu-north-1")),
            "regionalShareKmsKeyArns.eu-north-1",
            "no target is in eu-north-1",
        ),
        (
            _entry("Frankfurt", REGIONAL_KEY),
            "regionalShareKmsKeyArns.Frankfurt",
            "must be an AWS region name",
        ),
        (_entry("eu-central-1", "alias/share"), "regionalShareKmsKeyArns.eu-central-1", "key ARN"),
        (
            lambda e: e["options"].update(crossRegionCopy="three-step"),
            "options.crossRegionCopy",
            "must be one of one-step, two-step",
        ),
    ],
    ids=[
        "keys-without-two-step",
        "missing-key",
        "not-an-object",
        "key-of-another-account",
        "key-in-another-region",
        "source-region-entry",
        "region-without-target",
        "not-a-region",
        "not-an-arn",
        "unknown-mode",
    ],
)
def test_a_two_step_input_is_refused_before_any_call_naming_the_field(
    mutate: Any, path: str, message: str
) -> None:
    # Given a valid two-step input, changed in one way
    event = _two_step()
    mutate(event)
    # Then it is refused naming the field and what is allowed
    problems = _problems(event)
    assert any(problem.startswith(path) and message in problem for problem in problems), problems


def test_china_stays_refused_in_two_steps() -> None:
    # Aurora copies no snapshot across Regions in China, in one step or two.
    event = _two_step()
    china_key = "arn:aws-cn:kms:cn-north-1:111111111111:key/9e4d2b71-5a3c-4f08-b6e2-1c7d8a9f0b34"
    for target in event["targets"]:
        target.update(
            region="cn-north-1", kmsKeyArn=target["kmsKeyArn"].replace("eu-central-1", "cn-north-1")
        )
    event["regionalShareKmsKeyArns"] = {"cn-north-1": china_key}
    assert any(p.startswith("targets[0].region") and "China" in p for p in _problems(event))
