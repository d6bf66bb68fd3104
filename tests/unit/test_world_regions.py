"""World files with accounts in several Regions: ``accounts[].region`` (ferry_cli.twin.world)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ferry_cli.twin.world import WorldError, member_stack_parameters, parse_world
from tests.conftest import REPO

pytestmark = pytest.mark.unit


def _two_accounts(**dev: Any) -> dict[str, Any]:
    """The default world, its dev account (222222222222) changed by ``dev``."""
    raw: dict[str, Any] = json.loads((REPO / "worlds" / "two-accounts.json").read_text(encoding="utf-8"))
    raw["accounts"] = [{**a, **dev} if a["accountId"] == "222222222222" else a for a in raw["accounts"]]
    return raw


def test_an_account_without_a_region_lives_in_the_worlds_region() -> None:
    # Given the default world, whose accounts name no Region
    world = parse_world(_two_accounts())

    # Then every account is in the world's Region, the orchestrator's too
    assert all(account.region is None for account in world.accounts)
    assert {world.region_of(a.account_id) for a in world.accounts} == {"eu-west-1"}
    assert world.region_of(world.orchestrator_account_id) == "eu-west-1"


def test_an_account_in_another_region_keeps_it_and_the_world_keeps_the_orchestrators() -> None:
    # Given dev in eu-central-1
    world = parse_world(_two_accounts(region="eu-central-1"))

    # Then dev is there, the others and the orchestrator stay in the world's Region
    assert world.region == "eu-west-1"
    assert world.account("222222222222").region == "eu-central-1"
    assert world.region_of("222222222222") == "eu-central-1"
    assert world.region_of("111111111111") == "eu-west-1"


@pytest.mark.parametrize(
    "region", ["EU-CENTRAL-1", "eu-central", "eu-centrl-1", "", 7, "cn-north-1", "us-gov-west-1"]
)
def test_a_region_that_is_not_one_of_the_worlds_partition_is_refused_naming_what_is_allowed(
    region: Any,
) -> None:
    # When dev names a Region that is no AWS Region where RDS is offered, or one of another partition
    with pytest.raises(WorldError) as caught:
        parse_world(_two_accounts(region=region))

    # Then the error names the field, what is allowed and what it got
    message = str(caught.value)
    assert message.startswith("accounts[1].region: must be the name of an AWS Region where RDS is offered")
    assert "partition of the world's region eu-west-1 (aws)" in message
    assert "eu-central-1" in message and "us-east-1" in message
    assert repr(region) in message


def test_a_target_stack_in_another_region_forwards_its_events_to_the_orchestrators_region() -> None:
    # Given dev's target stack in eu-central-1, and qa's in the world's Region
    world = parse_world(_two_accounts(region="eu-central-1"))
    outputs = {
        "111111111111": {
            "ShareKeyArn": "arn:aws:kms:eu-west-1:111111111111:key/0b5e1c3a-6f1d-4f7e-9a51-2c8e7d1f0a11"
        }
    }

    # When their stack parameters are made
    dev = member_stack_parameters(world, world.account("222222222222"), outputs)
    qa = member_stack_parameters(world, world.account("333333333333"), outputs)

    # Then only dev's name the orchestrator's Region, and both name the share key in eu-west-1
    assert dev["OrchestratorRegion"] == "eu-west-1"
    assert "OrchestratorRegion" not in qa
    assert dev["SourceShareKeyArn"] == qa["SourceShareKeyArn"] == outputs["111111111111"]["ShareKeyArn"]


def test_the_world_can_still_override_the_orchestrator_region_parameter() -> None:
    # Given dev in eu-central-1 whose world sets OrchestratorRegion itself (to rehearse a wrong one)
    dev_stack = {"template": "target-account", "keyId": "c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6"}
    raw = _two_accounts(
        region="eu-central-1", memberStack={**dev_stack, "parameters": {"OrchestratorRegion": ""}}
    )
    world = parse_world(raw)

    # Then the world's value wins
    assert member_stack_parameters(world, world.account("222222222222"), {})["OrchestratorRegion"] == ""
