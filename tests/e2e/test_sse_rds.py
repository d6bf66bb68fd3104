"""A source encrypted at rest with an AWS owned key (StorageEncryptionType sse-rds, Aurora's default since 2026-02-18)
in the local twin (worlds/sse-rds.json): migrations copy its snapshot under the share key before sharing, as for the
default aws/rds key; clones stay in its account (ferry_cli.twin.encryption_kinds has the research)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from aurora_ferry.migration import parse_migration_request
from aurora_ferry.preflight import run_preflight
from tests.conftest import load_event, running_twin

pytestmark = pytest.mark.e2e

PROD = "111111111111"
DEV = "222222222222"
DEV_KEY = "arn:aws:kms:eu-west-1:222222222222:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6"
WORLD = "sse-rds.json"


def _run(twin: Any, event: dict[str, Any], machine: str = "MigrationStateMachine") -> tuple[Any, Any, Any]:
    before = twin.inventory()
    description = twin.wait(twin.start(event, machine=machine), timeout_real_seconds=240)
    return description, before, twin.inventory()


def _cluster(inventory: dict[str, Any], account: str, identifier: str) -> dict[str, Any]:
    matches = [c for c in inventory[account]["clusters"] if c["identifier"] == identifier]
    assert matches, f"no cluster {identifier} in {account}"
    return matches[0]


def _ferry_snapshots(inventory: dict[str, Any], account: str) -> list[dict[str, Any]]:
    return [
        s
        for s in inventory[account]["snapshots"]
        if s["type"] == "manual" and s["tags"].get("aurora-ferry:managed") == "true"
    ]


def _assert_source_untouched(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert after[PROD]["clusters"] == before[PROD]["clusters"]
    assert after[PROD]["instances"] == before[PROD]["instances"]
    preexisting = {s["identifier"] for s in before[PROD]["snapshots"]}
    assert [s for s in after[PROD]["snapshots"] if s["identifier"] in preexisting] == before[PROD][
        "snapshots"
    ]


def test_the_world_source_is_under_an_aws_owned_key() -> None:
    with running_twin(WORLD) as twin:
        inventory = twin.inventory()
    ledger = _cluster(inventory, PROD, "ledger")
    assert (ledger["encryptionType"], ledger["encrypted"], ledger["kmsKeyId"]) == ("sse-rds", False, None)
    # Its automated snapshots (moto's, taken with the cluster, and the world's) are too
    assert inventory[PROD]["snapshots"]
    assert {s["encryptionType"] for s in inventory[PROD]["snapshots"]} == {"sse-rds"}


@pytest.mark.parametrize("cleanup", ["delete", "keep-target-copies"])
def test_an_aws_owned_key_source_is_copied_under_the_share_key_and_lands_under_the_targets_key(
    cleanup: str,
) -> None:
    # Given the sse-rds cluster ledger, one target, and either cleanup (restore from the share, or from a copy)
    event = copy.deepcopy(load_event("migrate-sse-rds.json"))
    event["options"]["cleanup"] = cleanup
    with running_twin(WORLD) as twin:
        # When it is migrated
        description, before, after = _run(twin, event)
        denials = list(twin.iam.denials)
    # Then the run shares its copy under the share key (an AWS owned key can't be shared) and succeeds
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert denials == []
    output = json.loads(description["output"])
    assert output["source"]["encryption"] == "aws-owned-key"
    assert output["source"]["sharedSnapshotArn"].endswith("-share")
    # And the target cluster is encrypted with the target's own key
    target = _cluster(after, DEV, "ledger-dev")
    assert (target["encryptionType"], target["encrypted"], target["kmsKeyId"]) == ("sse-kms", True, DEV_KEY)
    # And nothing is left shared or behind in the source; in the target only a copy the input asked to keep
    assert _ferry_snapshots(after, PROD) == []
    assert after[PROD]["snapshots"]
    assert all(s["sharedWith"] == [] for s in after[PROD]["snapshots"])
    kept = _ferry_snapshots(after, DEV)
    if cleanup == "delete":
        assert kept == []
    else:
        assert [(s["encryptionType"], s["kmsKeyId"]) for s in kept] == [("sse-kms", DEV_KEY)]
    _assert_source_untouched(before, after)


def test_an_automated_snapshot_under_an_aws_owned_key_is_copied_once_under_the_share_key() -> None:
    # Given ledger's automated snapshot (sse-rds too) as the source
    event = copy.deepcopy(load_event("migrate-sse-rds.json"))
    del event["source"]["clusterIdentifier"]
    event["source"]["snapshotIdentifier"] = "rds:ledger-2026-11-22-03-10"
    with running_twin(WORLD) as twin:
        # When it is migrated
        description, before, after = _run(twin, event)
    # Then its manual copy is made under the share key on the way and shared as is, with no second copy
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    assert output["source"]["encryption"] == "aws-owned-key"
    assert output["source"]["sharedSnapshotArn"].endswith("-source")
    target = _cluster(after, DEV, "ledger-dev")
    assert (target["encryptionType"], target["kmsKeyId"]) == ("sse-kms", DEV_KEY)
    assert _ferry_snapshots(after, PROD) == []
    _assert_source_untouched(before, after)


def test_preflight_reports_the_aws_owned_key_and_the_plan_copies_it_under_the_share_key() -> None:
    # Given the sse-rds source / When preflight runs as the state machine's Preflight step does
    with running_twin(WORLD) as twin, twin.iam.acting_as("PreflightFunction"):
        report = run_preflight(parse_migration_request(load_event("migrate-sse-rds.json")))
    # Then it has no error, names the kind, and the share copy says why it is made
    assert [f.message for f in report.findings if f.severity == "error"] == []
    (info,) = [f for f in report.findings if f.check == "source-encryption"]
    assert "AWS owned key (StorageEncryptionType sse-rds)" in info.message
    share_copy = next(step for step in report.plan if step.step == "PrepareShareCopy")
    assert "re-encrypted with the share key" in share_copy.action
    assert "copied under the share key before sharing" in share_copy.action
    assert share_copy.kms_key == load_event("migrate-sse-rds.json")["shareKmsKeyArn"]
    snapshot = next(step for step in report.plan if step.step == "PrepareSourceSnapshot")
    assert snapshot.kms_key == "an AWS owned key (sse-rds)"


# ------------------------------------------------------------------------------------------------- clones


def _clone_event(account: str, kms_key: str | None) -> dict[str, Any]:
    event = copy.deepcopy(
        load_event("clone-cross-account.json" if account == DEV else "clone-same-account.json")
    )
    event["source"]["clusterIdentifier"] = "ledger"
    event["target"]["cloneIdentifier"] = "ledger-clone"
    event["target"].pop("kmsKeyArn", None)
    if kms_key:
        event["target"]["kmsKeyArn"] = kms_key
    return event


def test_a_cross_account_clone_of_an_aws_owned_key_source_is_refused_before_anything_changes() -> None:
    # Given the sse-rds cluster and a clone into dev under dev's key
    with running_twin(WORLD) as twin:
        # When the clone runs
        description, before, after = _run(twin, _clone_event(DEV, DEV_KEY), machine="CloneStateMachine")
        shares = twin.client("ram", PROD).get_resource_shares(resourceOwner="SELF")["resourceShares"]
    # Then it is refused, naming the field and the key, and nothing changed or was shared
    assert description["status"] == "FAILED"
    assert description["error"] == "CloneNotAllowedError"
    assert "target.accountId" in description["cause"]
    assert "AWS owned key" in description["cause"]
    assert after == before
    assert shares == []


def test_a_clone_in_the_source_account_stays_under_the_aws_owned_key_and_takes_no_kms_key() -> None:
    with running_twin(WORLD) as twin:
        # Given a same-account clone that asks for a key: refused, naming target.kmsKeyArn
        prod_key = "arn:aws:kms:eu-west-1:111111111111:key/0b5e1c3a-6f1d-4f7e-9a51-2c8e7d1f0a11"
        refused, before, after = _run(twin, _clone_event(PROD, prod_key), machine="CloneStateMachine")
        # When it is cloned without one
        description, _, cloned = _run(twin, _clone_event(PROD, None), machine="CloneStateMachine")
    assert refused["status"] == "FAILED"
    assert refused["error"] == "CloneNotAllowedError"
    assert "target.kmsKeyArn" in refused["cause"]
    assert after == before
    # Then the clone succeeds and is under the AWS owned key, as its source
    assert description["status"] == "SUCCEEDED", description.get("cause")
    clone = _cluster(cloned, PROD, "ledger-clone")
    assert (clone["encryptionType"], clone["encrypted"], clone["kmsKeyId"]) == ("sse-rds", False, None)
