"""Direct restore: with the default cleanup "delete" each target restores straight from the shared snapshot, and
no cleanup unshares or deletes that snapshot while a target is still restoring from it (README "Direct
restore"); the twin fails a restore whose snapshot is withdrawn under it (ferry_cli.twin.snapshots, rule 7)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from aurora_ferry.core import TargetConflictError
from tests.conftest import load_event, running_twin

pytestmark = pytest.mark.e2e

SOURCE = "111111111111"
DEV, QA = "222222222222", "333333333333"
TARGETS = (DEV, QA)


def _failed_beside_a_restore() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Two targets restoring from the share: dev's restore fails once qa's has started, so qa's is still
    restoring when the Map fails and the run's cleanup starts. Returns the run, the inventory after it, and its
    history."""
    box: list[Any] = []

    def restore_or_refuse(event: dict[str, Any], context: Any) -> Any:
        twin = box[0]
        if event["accountId"] != DEV:
            spec = twin.template.functions["RestoreClusterFunction"]
            return getattr(twin._handler_module(spec), spec.handler_name)(event, context)
        # (twin time: a handler's sleep waits on the twin's clock)
        for _ in range(120):
            if _restored(twin.inventory(), QA):
                break
            time.sleep(5)
        raise TargetConflictError("a cluster named orders-dev already exists", account_id=DEV)

    with running_twin(handler_overrides={"RestoreClusterFunction": restore_or_refuse}) as twin:
        box.append(twin)
        description = twin.wait(twin.start(load_event("migrate-two-targets.json")), timeout_real_seconds=240)
        return dict(description), twin.inventory(), twin.history(description["executionArn"])


def _restored(inventory: dict[str, Any], *accounts: str) -> list[dict[str, Any]]:
    """The target clusters the run made (in `accounts`, by default every target's)."""
    return [
        cluster
        for account in accounts or TARGETS
        for cluster in inventory[account]["clusters"]
        if cluster["tags"].get("aurora-ferry:managed") == "true"
    ]


def test_the_cleanup_of_a_failed_run_waits_for_a_restore_still_reading_the_shared_snapshot() -> None:
    # Given two targets restoring straight from the share, dev failing while qa still restores
    # When the run fails and cleans up
    description, after, history = _failed_beside_a_restore()
    # Then the cleanup was told the snapshot was still being read, and retried until it was not
    failures = [
        json.loads(e["lambdaFunctionFailedEventDetails"]["cause"] or "{}").get("errorType")
        or e["lambdaFunctionFailedEventDetails"]["error"]
        for e in history
        if e["type"] == "LambdaFunctionFailed"
    ]
    assert "SharedSnapshotInUseError" in failures
    # And the other target's restore finished: its cluster is available, not broken by an early unshare
    assert description["status"] == "FAILED"
    restored = _restored(after)
    assert [c["status"] for c in restored] == ["available"]
    # And then nothing of the run is left shared or undeleted in the source
    source_snapshots = [
        s for s in after[SOURCE]["snapshots"] if s["tags"].get("aurora-ferry:managed") == "true"
    ]
    assert source_snapshots == []


def test_without_the_wait_the_twin_breaks_the_restore_the_cleanup_withdrew_the_snapshot_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aurora_ferry.migration import cleanup_steps

    # Given a cleanup that does not wait for restores still reading the shared snapshot
    monkeypatch.setattr(cleanup_steps, "_require_restores_done", lambda request, run_id, **_: None)
    # When the same run fails beside a restore in progress
    description, after, _ = _failed_beside_a_restore()
    # Then the snapshot is withdrawn under the restore, which the twin fails as the worst case AWS allows
    assert description["status"] == "FAILED"
    assert [c["status"] for c in _restored(after)] == ["failed"]
