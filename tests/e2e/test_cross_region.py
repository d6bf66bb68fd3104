"""Cross-Region targets in the twin (worlds/two-regions.json: prod in eu-west-1, a DR account in eu-central-1):
the target copies the shared snapshot across accounts and Regions in one step, under its key in its Region,
and restores there (README "Cross-Region targets")."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ferry_cli.template import load_cfn_yaml
from tests.conftest import REPO, load_event, running_twin

pytestmark = pytest.mark.e2e

SOURCE = "111111111111"
DR = "555555555555"
DR_KEY = "arn:aws:kms:eu-central-1:555555555555:key/5d1e8a2c-4b7f-4c39-9e06-7a3b2c1d0f55"
WORLD = "two-regions.json"


def _event(cluster: str = "orders", **target: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event("migrate-cross-region.json"))
    event["source"]["clusterIdentifier"] = cluster
    event["targets"][0].update(target)
    return event


def _managed(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        i
        for i in items
        if i["tags"].get("aurora-ferry:managed") == "true" and i.get("type", "manual") == "manual"
    ]


@pytest.mark.parametrize(
    ("cluster", "encryption"),
    [("orders", "customer-key"), ("billing", "default-key"), ("legacy-reports", "none")],
    ids=["cmk", "default-key", "unencrypted"],
)
def test_a_source_arrives_in_another_region_encrypted_with_the_targets_key_there(
    cluster: str, encryption: str
) -> None:
    # Given a source cluster in eu-west-1 and a DR target account in eu-central-1
    with running_twin(world=WORLD) as twin:
        before = twin.inventory()
        # When it is migrated there
        description = twin.wait(twin.start(_event(cluster)), timeout_real_seconds=240)
        after = twin.inventory()
    # Then the run succeeds with the cluster in eu-central-1, encrypted with the DR account's key there
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    assert output["source"]["encryption"] == encryption
    (target,) = output["targets"]
    assert target["clusterArn"] == f"arn:aws:rds:eu-central-1:{DR}:cluster:orders-dr"
    (made,) = [c for c in after[DR]["clusters"] if c["identifier"] == "orders-dr"]
    assert (made["status"], made["encrypted"], made["kmsKeyId"]) == ("available", True, DR_KEY)
    # And it got there by a copy in eu-central-1 (a restore reads only its own Region), deleted afterwards,
    # and nothing stays shared or made in either account but the cluster and its instance
    assert target["snapshotCopyArn"].startswith(f"arn:aws:rds:eu-central-1:{DR}:cluster-snapshot:ferry-")
    assert {(a["action"], a["arn"]) for a in output["cleanup"]["actions"]} >= {
        ("deleted", target["snapshotCopyArn"])
    }
    assert _managed(after[DR]["snapshots"]) == []
    assert _managed(after[SOURCE]["snapshots"]) == []
    assert after[SOURCE]["clusters"] == before[SOURCE]["clusters"]


def test_a_key_missing_in_the_targets_region_is_a_preflight_error_before_anything_is_made() -> None:
    # Given a target key ARN in eu-central-1 that does not exist there
    missing = DR_KEY.replace("5d1e8a2c", "00000000")
    with running_twin(world=WORLD) as twin:
        before = twin.inventory()
        # When the run starts
        description = twin.wait(twin.start(_event(kmsKeyArn=missing)), timeout_real_seconds=120)
        after = twin.inventory()
    # Then the preflight refuses it, naming the key and the Region it looked in, and nothing was made
    assert description["status"] == "FAILED"
    assert description["error"] == "PreflightFailedError"
    assert f"key {missing} does not exist in account {DR} eu-central-1" in description["cause"]
    assert after == before


def test_a_china_region_is_refused_with_the_input_before_any_aws_call() -> None:
    # Given a target in a China Region, where Aurora copies no snapshot across Regions
    china_key = DR_KEY.replace("eu-central-1", "cn-north-1")
    with running_twin(world=WORLD) as twin:
        description = twin.wait(
            twin.start(_event(region="cn-north-1", kmsKeyArn=china_key)), timeout_real_seconds=60
        )
        invocations = dict(twin.invocations.by_function)
    # Then the input check refuses it, naming the field; no step after it ran
    assert description["status"] == "FAILED"
    assert description["error"] == "InvalidInputError"
    assert "targets[0].region: cn-north-1 is a China Region" in description["cause"]
    assert "PreflightFunction" not in invocations


def _pre_cross_region_templates(tmp_path: Path) -> Path:
    """The member templates with the DR target's grants on the share key as they were before cross-Region
    targets: limited to RDS in the stack's own Region (kms:ViaService rds.eu-central-1), while the key is in
    eu-west-1."""
    folder = tmp_path / "member-accounts"
    folder.mkdir()
    for name in ("source-account", "target-account"):
        template = load_cfn_yaml(REPO / "member-accounts" / f"{name}.yaml")
        if name == "target-account":
            role = template["Resources"]["OrchestratorAccessRole"]["Properties"]
            for statement in role["Policies"][0]["PolicyDocument"]["Statement"]:
                if isinstance(statement, dict) and statement.get("Sid") in SHARE_KEY_GRANTS:
                    statement["Condition"]["StringEquals"]["kms:ViaService"] = {
                        "Fn::Sub": "rds.${AWS::Region}.amazonaws.com"
                    }
        (folder / f"{name}.yaml").write_text(json.dumps(template), encoding="utf-8")
    return folder


SHARE_KEY_GRANTS = ("UseSourceShareKeyThroughRds", "GrantSourceShareKeyToRds")


def test_a_share_key_grant_limited_to_the_targets_own_region_is_a_preflight_error(tmp_path: Path) -> None:
    # Given the DR target's share key grants limited to RDS in eu-central-1
    with running_twin(world=WORLD, member_templates=_pre_cross_region_templates(tmp_path)) as twin:
        # When the CMK source is migrated there
        description = twin.wait(twin.start(_event()), timeout_real_seconds=240)
    # Then the preflight refuses it: RDS uses the share key in eu-west-1, where it lives; the fix names the grants
    assert description["status"] == "FAILED"
    assert description["error"] == "PreflightFailedError", description["cause"]
    assert f"role arn:aws:iam::{DR}:role/aurora-ferry-target may not use key" in description["cause"]
    assert "kms:ViaService rds.eu-west-1.amazonaws.com" in description["cause"]


def test_without_preflight_the_twin_refuses_the_copy_such_a_grant_allows_not(tmp_path: Path) -> None:
    def no_preflight(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"findings": [], "warnings": [], "plan": [], "ok": True}

    # Given the same grants, and the preflight bypassed
    with running_twin(
        world=WORLD,
        member_templates=_pre_cross_region_templates(tmp_path),
        handler_overrides={"PreflightFunction": no_preflight},
    ) as twin:
        # When the CMK source is migrated to eu-central-1
        description = twin.wait(twin.start(_event()), timeout_real_seconds=240)
    # Then the copy is refused the share key
    assert description["status"] == "FAILED"
    assert description["error"] == "KmsKeyNotUsableError", description["cause"]
    assert "CopyToTarget" in description["cause"]
    assert "not authorized to perform: kms:CreateGrant" in description["cause"]


def test_the_plan_shows_the_copy_across_regions_and_where_the_cluster_is_made(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ferry_cli.cli import main

    # Given the DR sample and its world / When `ferry local plan` runs it
    world, event = REPO / "worlds" / WORLD, REPO / "events" / "migrate-cross-region.json"
    status = main(["local", "plan", "--world", str(world), "--input", str(event)])
    out = capsys.readouterr().out
    # Then it passes, showing the one-step copy into eu-central-1 and the restore there from that copy
    assert status == 0, out
    assert "from eu-west-1 into eu-central-1 (across accounts and Regions in one step)" in out
    assert "restore cluster orders-dr in eu-central-1 from ferry-" in out


def test_a_source_in_another_region_than_the_orchestrator_forwards_its_events_there() -> None:
    # Given prod and the DR account both in eu-central-1, and the orchestrator in eu-west-1
    event = _event()
    event["source"]["region"] = "eu-central-1"
    event["shareKmsKeyArn"] = event["shareKmsKeyArn"].replace("eu-west-1", "eu-central-1")
    del event["targets"][0]["region"]
    with running_twin(world="source-in-another-region.json") as twin:
        # When the CMK source is migrated within eu-central-1
        description = twin.wait(twin.start(event), timeout_real_seconds=240)
        routed = [d.event for d in twin.events.deliveries if d.function == "RdsEventRouterFunction"]
    # Then it succeeds, the target restoring straight from the share in that Region
    assert description["status"] == "SUCCEEDED", description.get("cause")
    (target,) = json.loads(description["output"])["targets"]
    assert target["restoredFromSharedSnapshot"].startswith("arn:aws:rds:eu-central-1:111111111111:")
    # And the source's snapshot event reached the orchestrator's bus in eu-west-1 (OrchestratorRegion)
    assert ("RDS-EVENT-0075", SOURCE, "eu-central-1") in {
        (e["detail"]["EventID"], e["account"], e["region"]) for e in routed
    }
