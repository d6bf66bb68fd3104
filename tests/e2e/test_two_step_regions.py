"""Cross-Region targets in two steps (options.crossRegionCopy "two-step", worlds/two-step-regions.json: prod in
eu-west-1 with a regional share key in eu-central-1, a DR account in eu-central-1): the source account copies the
share copy into the target's Region, shares it there, and the target restores from it (README "Two steps")."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.conftest import load_event, running_twin

pytestmark = pytest.mark.e2e

SOURCE = "111111111111"
DR = "555555555555"
DR_KEY = "arn:aws:kms:eu-central-1:555555555555:key/5d1e8a2c-4b7f-4c39-9e06-7a3b2c1d0f55"
REGIONAL_KEY = "arn:aws:kms:eu-central-1:111111111111:key/9c4e2a71-5b3d-4e8f-a6c1-3d7b0e2f8a44"
WORLD = "two-step-regions.json"


def _event(cluster: str = "orders", cleanup: str = "delete") -> dict[str, Any]:
    event = copy.deepcopy(load_event("migrate-cross-region-two-step.json"))
    event["source"]["clusterIdentifier"] = cluster
    event["options"]["cleanup"] = cleanup
    return event


def _of_run(inventory: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    """The manual snapshots of the run, in every account and Region of the world."""
    return [
        s
        for found in inventory.values()
        for s in found["snapshots"]
        if s["type"] == "manual" and s["tags"].get("aurora-ferry:run-id") == run_id
    ]


def _task_output(history: list[dict[str, Any]], state: str) -> list[dict[str, Any]]:
    """What each run of the Lambda task `state` returned, in order."""
    outputs, current = [], None
    for event in history:
        if "stateEnteredEventDetails" in event:
            current = event["stateEnteredEventDetails"]["name"]
        elif event["type"] == "LambdaFunctionSucceeded" and current == state:
            outputs.append(json.loads(event["lambdaFunctionSucceededEventDetails"]["output"]))
    return outputs


@pytest.mark.parametrize(
    ("cluster", "encryption"),
    [("orders", "customer-key"), ("billing", "default-key"), ("legacy-reports", "none")],
    ids=["cmk", "default-key", "unencrypted"],
)
def test_a_source_arrives_in_another_region_through_the_source_accounts_copy_there(
    cluster: str, encryption: str
) -> None:
    # Given a source cluster in eu-west-1, a DR target account in eu-central-1, and the two-step option
    with running_twin(world=WORLD) as twin:
        before = twin.inventory()
        # When it is migrated there
        arn = twin.start(_event(cluster))
        description = twin.wait(arn, timeout_real_seconds=240)
        history = twin.history(arn)
        after = twin.inventory()
    # Then the run succeeds with the cluster in eu-central-1, encrypted with the DR account's key there
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    run_id = output["runId"]
    assert output["source"]["encryption"] == encryption
    (target,) = output["targets"]
    (made,) = [c for c in after[DR]["clusters"] if c["identifier"] == "orders-dr"]
    assert made["arn"] == f"arn:aws:rds:eu-central-1:{DR}:cluster:orders-dr"
    assert (made["status"], made["encrypted"], made["kmsKeyId"]) == ("available", True, DR_KEY)
    # And it was restored straight from the source account's copy in eu-central-1, which the output names
    region_copy = f"arn:aws:rds:eu-central-1:{SOURCE}:cluster-snapshot:ferry-{run_id}-region"
    assert target["regionCopyArn"] == target["restoredFromSharedSnapshot"] == region_copy
    assert "copy into the target's Region" in [t["step"] for t in target["timings"]]
    assert {"accountId": SOURCE, "arn": region_copy, "kind": "copy in a target's Region"} in output["created"]
    # And that copy was made under the regional share key (none for an unencrypted source) and shared with the
    # DR account alone, while the share copy in eu-west-1 was shared with no one
    (copied,) = _task_output(history, "CopyToRegion")
    assert copied["snapshot"]["kmsKeyId"] == (REGIONAL_KEY if encryption != "none" else None)
    assert [s["sharedWith"] for s in _task_output(history, "ShareInRegion")] == [[DR]]
    assert [s["sharedWith"] for s in _task_output(history, "ShareSnapshot")] == [[]]
    # And the cleanup unshared and deleted it with the source's intermediates: nothing of the run is left or
    # shared in any account or Region, and the source is as it was
    assert {(a["action"], a["arn"]) for a in output["cleanup"]["actions"]} >= {
        ("unshared", region_copy),
        ("deleted", region_copy),
    }
    assert _of_run(after, run_id) == []
    assert after[SOURCE]["clusters"] == before[SOURCE]["clusters"]


def test_with_cleanup_keep_the_copy_in_the_targets_region_stays_unshared_under_the_regional_key() -> None:
    # Given the two-step run with options.cleanup "keep" (every intermediate kept, unshared)
    with running_twin(world=WORLD) as twin:
        description = twin.wait(twin.start(_event(cleanup="keep")), timeout_real_seconds=240)
        after = twin.inventory()
    assert description["status"] == "SUCCEEDED", description.get("cause")
    run_id = json.loads(description["output"])["runId"]
    # Then the source account keeps its copy in eu-central-1, under the regional share key, shared with no one,
    # and the DR account keeps its own copy under its key (a kept copy is what the target restored from)
    kept = {
        (s["arn"].split(":")[3], s["arn"].split(":")[4], s["kmsKeyId"], tuple(s["sharedWith"]))
        for s in _of_run(after, run_id)
    }
    assert ("eu-central-1", SOURCE, REGIONAL_KEY, ()) in kept
    assert ("eu-central-1", DR, DR_KEY, ()) in kept


def test_a_failure_after_the_copy_in_the_targets_region_withdraws_and_deletes_it() -> None:
    from ferry_cli.twin.faults import Fault

    with running_twin(world=WORLD) as twin:
        # Given a two-step run whose restore fails, after the copy in eu-central-1 was made and shared
        twin.faults.plant(Fault("RestoreCluster", "error", error="SourceNotReadyError"))
        arn = twin.start(_event())
        description = twin.wait(arn, timeout_real_seconds=240)
        after = twin.inventory()
    # Then the run fails naming the step, and its cleanup unshared and deleted the copy in eu-central-1 too
    assert description["status"] == "FAILED"
    assert description["error"] == "SourceNotReadyError"
    assert _of_run(after, description["name"]) == []
    assert [s for found in after.values() for s in found["snapshots"] if s["sharedWith"]] == []


def test_a_parked_two_step_run_unshares_its_regional_copy_and_a_redrive_shares_it_again() -> None:
    from ferry_cli.twin.faults import Fault

    with running_twin(world=WORLD) as twin:
        # Given a two-step run parked by a Lambda timeout in the target's copy step, after the regional share
        twin.faults.plant(Fault("CopyToTarget", "hang"))
        arn = twin.start(_event())
        parked = twin.wait(arn, timeout_real_seconds=240)
        while_parked = _of_run(twin.inventory(), parked["name"])
        # When the operator redrives it
        twin.client("stepfunctions").redrive_execution(executionArn=arn)
        redriven = twin.wait(arn, timeout_real_seconds=240)
        history = twin.history(arn)
        after = twin.inventory()
    # Then while parked the copy in eu-central-1 was kept and shared with no one
    assert parked["error"] == "RunParkedError"
    regional = [s for s in while_parked if s["arn"].split(":")[3] == "eu-central-1"]
    assert [(s["identifier"].endswith("-region"), s["sharedWith"]) for s in regional] == [(True, [])]
    # And the redrive shared it with the DR account again, restored from it, and cleaned up
    assert redriven["status"] == "SUCCEEDED", redriven.get("cause")
    assert [s["sharedWith"] for s in _task_output(history, "ShareInRegion")] == [[DR], [DR]]
    (target,) = json.loads(redriven["output"])["targets"]
    assert target["restoredFromSharedSnapshot"] == target["regionCopyArn"]
    assert _of_run(after, redriven["name"]) == []


def test_ferry_leftovers_lists_the_copy_kept_in_the_targets_region_and_reads_only_snapshots_there() -> None:
    from aurora_ferry.core import naming
    from ferry_cli.leftovers import FUNCTION_LOGICAL_ID, fetch_listing, listing_event

    # Given a two-step run that kept its intermediates (options.cleanup "keep")
    with running_twin(world=WORLD) as twin:
        description = twin.wait(twin.start(_event(cleanup="keep")), timeout_real_seconds=240)
        # When the operator lists what is left
        listing = fetch_listing(
            twin.client("lambda"), twin.function_arns[FUNCTION_LOGICAL_ID], listing_event()
        )
    assert description["status"] == "SUCCEEDED", description.get("cause")
    run = naming.run_id_from_execution_name(description["name"])
    # Then the source account's copy in eu-central-1 is listed there, unshared, and nothing failed to be read:
    # in that Region the source role is asked only for its snapshots, which is all it may read there
    assert listing.result is not None, listing.problem
    assert listing.result["errors"] == []
    regional = [
        r for r in listing.result["resources"] if r["accountId"] == SOURCE and r["region"] == "eu-central-1"
    ]
    assert [(r["kind"], r["identifier"], r["sharedWith"]) for r in regional] == [
        ("snapshot", naming.region_copy_id(run), [])
    ]
