"""Full migrations in the local two-account twin: real ASL, real handlers, the twin's AWS rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import load_event, running_twin

pytestmark = pytest.mark.e2e

SOURCE = "111111111111"
DEV = "222222222222"
QA = "333333333333"
AUDITORS = "444444444444"
DEV_KEY = "arn:aws:kms:eu-west-1:222222222222:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6"


def _run(twin: Any, event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    before = twin.inventory()
    description = twin.wait(twin.start(event), timeout_real_seconds=240)
    return description, before, twin.inventory()


def _assert_source_untouched(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Nothing of the source that the run did not create may change: clusters, snapshots, their sharing."""
    assert after[SOURCE]["clusters"] == before[SOURCE]["clusters"]
    assert after[SOURCE]["instances"] == before[SOURCE]["instances"]
    preexisting = {s["identifier"] for s in before[SOURCE]["snapshots"]}
    assert [s for s in after[SOURCE]["snapshots"] if s["identifier"] in preexisting] == before[SOURCE][
        "snapshots"
    ]


def _ferry_snapshots(inventory: dict[str, Any], account: str) -> list[dict[str, Any]]:
    """Manual snapshots the tool made. (A new cluster's own automated backup inherits its tags; not ours.)"""
    return [
        s
        for s in inventory[account]["snapshots"]
        if s["type"] == "manual" and s["tags"].get("aurora-ferry:managed") == "true"
    ]


def _cluster(inventory: dict[str, Any], account: str, identifier: str) -> dict[str, Any]:
    matches = [c for c in inventory[account]["clusters"] if c["identifier"] == identifier]
    assert matches, f"no cluster {identifier} in {account}"
    return matches[0]


def test_cmk_encrypted_source_is_restored_straight_from_the_share_reencrypted_and_cleaned_up() -> None:
    # Given a source cluster encrypted with a customer-managed key, one target, and the default cleanup "delete"
    with running_twin() as twin:
        # When the migration runs
        description, before, after = _run(twin, load_event("migrate-cmk.json"))
        history = twin.history(description["executionArn"])
    # Then it succeeds with a target cluster encrypted with the target's own key, and its instances
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    assert output["source"]["encryption"] == "customer-key"
    assert output["source"]["sharedSnapshotArn"].endswith("-share"), (
        "a CMK not equal to the share key is re-encrypted"
    )
    cluster = _cluster(after, DEV, "orders-dev")
    assert cluster["status"] == "available"
    assert cluster["encrypted"] is True
    assert cluster["kmsKeyId"] == DEV_KEY
    assert cluster["tags"]["team"] == "payments"
    assert cluster["tags"]["aurora-ferry:run-id"] == output["runId"]
    instances = [i for i in after[DEV]["instances"] if i["cluster"] == "orders-dev"]
    assert sorted(i["identifier"] for i in instances) == ["orders-dev-1", "orders-dev-2"]
    assert {i["status"] for i in instances} == {"available"}
    assert output["targets"][0]["endpoint"]
    # And every intermediate snapshot is gone, in both accounts, while the source is untouched
    assert _ferry_snapshots(after, SOURCE) == []
    assert _ferry_snapshots(after, DEV) == []
    _assert_source_untouched(before, after)
    # And the target restored straight from the shared snapshot: nothing was copied into it, nothing awaited
    target = output["targets"][0]
    assert target["restoredFromSharedSnapshot"] == output["source"]["sharedSnapshotArn"]
    assert "snapshotCopyArn" not in target
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
    assert "CheckTargetCopy" not in entered
    assert {"CopyToTarget", "IsRestoringFromShare", "RestoreCluster"} <= set(entered)
    assert {t["step"] for t in target["timings"]} == {"restore cluster", "create instances"}
    assert [c["kind"] for c in output["created"]].count("target snapshot copy") == 0
    # And under the default "events" strategy the snapshot, cluster and instances were awaited, not polled
    awaited = {e["stateEnteredEventDetails"]["name"] for e in history if e["type"] == "TaskStateEntered"} & {
        "AwaitSourceSnapshot",
        "AwaitCluster",
        "AwaitInstances",
    }
    assert awaited == {"AwaitSourceSnapshot", "AwaitCluster", "AwaitInstances"}


def test_kept_target_copies_are_copied_then_restored_and_the_copy_is_awaited() -> None:
    # Given a CMK source whose target copies are kept (cleanup "keep-target-copies")
    with running_twin() as twin:
        # When the migration runs
        description, _, after = _run(twin, load_event("migrate-keep-copies.json"))
        history = twin.history(description["executionArn"])
    # Then the target cluster is restored from a copy made in the target, which the run kept
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    target = output["targets"][0]
    assert "restoredFromSharedSnapshot" not in target
    assert [s["arn"] for s in _ferry_snapshots(after, DEV)] == [target["snapshotCopyArn"]]
    assert _cluster(after, DEV, "orders-weekly")["kmsKeyId"] == DEV_KEY
    # And the wait really waited: the target copy was seen in progress before it was seen available
    copy_statuses = [
        json.loads(e["stateExitedEventDetails"]["output"])["poll"]["status"]
        for e in history
        if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == "CheckTargetCopy"
    ]
    assert copy_statuses[0] == "copying"
    assert copy_statuses[-1] == "available"
    assert {t["step"] for t in target["timings"]} == {"target copy", "restore cluster", "create instances"}


def test_default_key_source_is_reencrypted_before_sharing() -> None:
    # Given a cluster encrypted with the account's default aws/rds key (whose snapshots cannot be shared)
    with running_twin() as twin:
        # When it is migrated
        description, before, after = _run(twin, load_event("migrate-default-key.json"))
    # Then the run shares its re-encrypted copy, not the default-key snapshot, and succeeds
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    assert output["source"]["encryption"] == "default-key"
    assert output["source"]["sharedSnapshotArn"].endswith("-share")
    assert _cluster(after, DEV, "billing-dev")["kmsKeyId"] == DEV_KEY
    _assert_source_untouched(before, after)


def test_unencrypted_source_ends_encrypted_in_the_target() -> None:
    # Given an unencrypted cluster (Aurora cannot encrypt a cluster snapshot by copying it)
    with running_twin() as twin:
        # When it is migrated
        description, before, after = _run(twin, load_event("migrate-unencrypted.json"))
    # Then the run shares its own unencrypted snapshot, and the target encrypts at restore with its key
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    assert output["source"]["encryption"] == "none"
    assert output["source"]["sharedSnapshotArn"].endswith("-snap")
    cluster = _cluster(after, DEV, "legacy-reports-dev")
    assert cluster["encrypted"] is True
    assert cluster["kmsKeyId"] == DEV_KEY
    _assert_source_untouched(before, after)


def test_automated_snapshot_source_is_copied_to_a_manual_one_first() -> None:
    # Given an automated snapshot as the source (automated snapshots cannot be shared)
    with running_twin() as twin:
        # When it is migrated with the keep-target-copies cleanup policy
        description, before, after = _run(twin, load_event("migrate-automated-snapshot.json"))
    # Then the run made and shared a manual copy, left the automated snapshot alone, and kept the target copy
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    assert output["source"]["snapshotArn"].endswith("-source")
    automated = [s for s in after[SOURCE]["snapshots"] if s["identifier"] == "rds:orders-2026-11-22-03-10"]
    assert automated and automated[0]["sharedWith"] == []
    assert _ferry_snapshots(after, SOURCE) == []
    kept = _ferry_snapshots(after, DEV)
    assert [s["tags"]["aurora-ferry:purpose"] for s in kept] == ["target-copy"]
    assert kept[0]["sharedWith"] == []
    assert _cluster(after, DEV, "orders-from-backup")["status"] == "available"
    _assert_source_untouched(before, after)


def test_two_targets_are_migrated_in_parallel_and_unshared_afterwards() -> None:
    # Given two target accounts
    with running_twin() as twin:
        # When the migration runs
        description, before, after = _run(twin, load_event("migrate-two-targets.json"))
    # Then both get their cluster, each under its own key, and nothing stays shared
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    assert {t["accountId"] for t in output["targets"]} == {DEV, QA}
    assert _cluster(after, DEV, "orders-dev")["kmsKeyId"] == DEV_KEY
    assert _cluster(after, QA, "orders-qa")["kmsKeyId"].startswith(f"arn:aws:kms:eu-west-1:{QA}:key/")
    qa_instances = [i for i in after[QA]["instances"] if i["cluster"] == "orders-qa"]
    assert [i["class"] for i in qa_instances] == ["db.r6g.xlarge"]
    assert all(s["sharedWith"] == [] for s in after[SOURCE]["snapshots"])
    _assert_source_untouched(before, after)


def test_two_targets_with_the_polling_wait_strategy_are_migrated_as_before_events() -> None:
    # Given two target accounts, and a run that asks to poll rather than wait for RDS events
    event = load_event("migrate-two-targets.json")
    event["options"]["waitStrategy"] = "polling"
    with running_twin() as twin:
        # When the migration runs
        description, before, after = _run(twin, event)
        history = twin.history(description["executionArn"])
        invocations = dict(twin.invocations.by_function)
    # Then both targets get their cluster, no wait was registered, and every wait polled
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert _cluster(after, DEV, "orders-dev")["status"] == "available"
    assert _cluster(after, QA, "orders-qa")["status"] == "available"
    assert "RegisterWaitFunction" not in invocations
    entered = {e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")}
    assert {"CheckSourceSnapshot", "CheckCluster", "CheckInstances"} <= entered
    assert not {name for name in entered if name.startswith("Await")}
    _assert_source_untouched(before, after)


def test_target_the_share_key_does_not_trust_is_stopped_by_preflight_before_any_change() -> None:
    # Given a target account that the share key's policy does not name (the most common mistake)
    with running_twin() as twin:
        # When the migration runs
        description, before, after = _run(twin, load_event("migrate-failing-key-policy.json"))
        invocations = dict(twin.invocations.by_function)
    # Then preflight fails it, naming the account and the missing KMS actions, and nothing was created
    assert description["status"] == "FAILED"
    assert description["error"] == "PreflightFailedError"
    assert AUDITORS in description["cause"]
    assert "kms:CreateGrant" in description["cause"]
    assert "PrepareSourceFunction" not in invocations
    assert after == before


def test_without_preflight_the_twin_still_refuses_the_copy_the_key_policy_forbids() -> None:
    # Given the same untrusted target, with preflight bypassed (as if the key policy changed mid-run)
    def no_preflight(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"findings": [], "warnings": [], "plan": [], "ok": True}

    with running_twin(handler_overrides={"PreflightFunction": no_preflight}) as twin:
        # When the migration runs
        description, before, after = _run(twin, load_event("migrate-failing-key-policy.json"))
        history = twin.history(description["executionArn"])
    # Then the copy in the target fails with a named error whose cause names the account and the key
    assert description["status"] == "FAILED"
    assert description["error"] == "KmsKeyNotUsableError"
    assert AUDITORS in description["cause"]
    assert "0b5e1c3a-6f1d-4f7e-9a51-2c8e7d1f0a11" in description["cause"]
    fail_states = [e for e in history if e["type"] == "FailStateEntered"]
    assert fail_states[-1]["stateEnteredEventDetails"]["name"] == "MigrationFailed"
    # And the run's own intermediates were cleaned up, no target cluster exists, the source is untouched
    assert _ferry_snapshots(after, SOURCE) == []
    assert after[AUDITORS]["clusters"] == []
    _assert_source_untouched(before, after)


def test_share_the_target_never_received_fails_with_a_named_error() -> None:
    # Given a share step that reports success but never shares (as if the share was revoked meanwhile)
    def share_nothing(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"snapshotArn": event["snapshot"]["arn"], "sharedWith": []}

    with running_twin(handler_overrides={"ShareSnapshotFunction": share_nothing}) as twin:
        # When the migration runs
        description, before, after = _run(twin, load_event("migrate-cmk.json"))
    # Then the target copy fails with SharedSnapshotNotVisibleError naming the target account
    assert description["status"] == "FAILED"
    assert description["error"] == "SharedSnapshotNotVisibleError"
    assert DEV in description["cause"]
    assert _ferry_snapshots(after, SOURCE) == []
    _assert_source_untouched(before, after)


def test_two_concurrent_runs_with_the_same_input_leave_the_winner_untouched() -> None:
    # Given two executions of the same input started together (same target cluster identifier)
    with running_twin() as twin:
        event = load_event("migrate-cmk.json")
        first, second = twin.start(event), twin.start(event)
        outcomes = [twin.wait(arn, timeout_real_seconds=240) for arn in (first, second)]
        after = twin.inventory()
    # Then exactly one succeeds; the other fails with TargetConflictError, because AWS refuses a cluster
    # identifier that exists (the twin no longer lets the second restore replace the first's cluster)
    statuses = sorted(o["status"] for o in outcomes)
    assert statuses == ["FAILED", "SUCCEEDED"], [o.get("cause") for o in outcomes]
    winner = next(o for o in outcomes if o["status"] == "SUCCEEDED")
    loser = next(o for o in outcomes if o["status"] == "FAILED")
    assert loser["error"] == "TargetConflictError", loser.get("cause")
    # And the winner's cluster is still its own, available, with its instances
    winner_run = json.loads(winner["output"])["runId"]
    cluster = _cluster(after, DEV, "orders-dev")
    assert cluster["status"] == "available"
    assert cluster["tags"]["aurora-ferry:run-id"] == winner_run
    assert sorted(i["identifier"] for i in after[DEV]["instances"] if i["cluster"] == "orders-dev") == [
        "orders-dev-1",
        "orders-dev-2",
    ]
