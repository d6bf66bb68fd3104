"""A run that ends without its own cleanup (stopped from the console, timed out, failed outside any Catch)
leaves nothing shared: Step Functions' status-change event starts the cleanup its Catch would have run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import load_event, run_twin_until, running_twin
from tests.e2e.test_migrations import SOURCE, _assert_source_untouched, _ferry_snapshots

pytestmark = pytest.mark.e2e

CLEANUP = "RunEndedCleanupFunction"


def _shared(inventory: dict[str, Any]) -> list[str]:
    return [s["identifier"] for a in inventory.values() for s in a["snapshots"] if s["sharedWith"]]


def _stopped_while_shared(twin: Any) -> tuple[list[str], dict[str, Any]]:
    """Start the CMK sample, let it share its snapshot, stop it as an operator would from the console, and
    follow it to its end: what was shared, and the execution's description (with `twinSecondsToEnd`, the twin
    time from the stop to the end of everything the stop set off)."""
    arn = twin.start(load_event("migrate-cmk.json"))
    run_twin_until(twin, lambda: bool(_shared(twin.inventory())), step=30)
    shared = _shared(twin.inventory())
    stopped_at = twin.clock.elapsed()
    twin.client("stepfunctions").stop_execution(
        executionArn=arn, error="Operator", cause="stopped from the console"
    )
    description = twin.wait(arn)
    return shared, {**description, "twinSecondsToEnd": twin.clock.elapsed() - stopped_at}


def test_a_run_stopped_while_its_snapshot_is_shared_leaves_nothing_shared_and_nothing_of_its_own() -> None:
    with running_twin() as twin:
        before = twin.inventory()
        # Given a migration that has shared its snapshot with the target, when an operator stops it
        shared_while_running, description = _stopped_while_shared(twin)
        after = twin.inventory()
        cleanups = twin.invocations.by_function.get(CLEANUP, 0)
        results = [d.result for d in twin.events.deliveries if d.function == CLEANUP]
    # Then the run was ABORTED (no Catch ran), and the status-change cleanup withdrew the share and deleted
    # the run's own snapshots; the source is untouched
    assert description["status"] == "ABORTED"
    assert shared_while_running == [f"ferry-{description['name']}-share"]
    assert cleanups == 1
    # (in the same twin second as the stop, which finds the run in AwaitCluster, a .waitForTaskToken task, as the
    # target restores straight from the share: the status-change event and its cleanup take no twin time)
    assert description["twinSecondsToEnd"] == 0
    assert results[0]["status"] == "ABORTED"
    assert ("unshared", f"ferry-{description['name']}-share") in {
        (a["action"], a["arn"].rsplit(":", 1)[-1]) for a in results[0]["actions"]
    }
    assert _shared(after) == []
    assert _ferry_snapshots(after, SOURCE) == []
    _assert_source_untouched(before, after)


def test_a_run_that_failed_is_cleaned_once_by_its_catch_and_once_more_without_harm() -> None:
    def refuse(event: dict[str, Any], context: Any) -> Any:
        from aurora_ferry.core import TargetConflictError

        raise TargetConflictError("cluster orders-dev exists", account_id="222222222222", region="eu-west-1")

    with running_twin(handler_overrides={"RestoreClusterFunction": refuse}) as twin:
        before = twin.inventory()
        # Given a run whose restore fails after its snapshot was shared (its Catch runs the cleanup)
        description = twin.wait(twin.start(load_event("migrate-cmk.json")))
        after = twin.inventory()
        results = [d.result for d in twin.events.deliveries if d.function == CLEANUP]
    # Then the run FAILED after its own cleanup, and the status-change cleanup found nothing left to do
    assert description["status"] == "FAILED"
    assert [r["status"] for r in results] == ["FAILED"]
    assert results[0]["actions"] == []
    assert _shared(after) == []
    _assert_source_untouched(before, after)


def test_without_its_grant_to_reach_the_member_roles_the_ended_run_stays_shared(tmp_path: Any) -> None:
    from tests.conftest import REPO

    # Given template.yaml without RunEndedCleanupFunction's MemberAccessPolicy (the other folders as they are)
    text = (REPO / "template.yaml").read_text(encoding="utf-8")
    start = text.index("  RunEndedCleanupFunction:")
    grant = text.index("        - !Ref MemberAccessPolicy\n", start)
    (tmp_path / "template.yaml").write_text(
        text[:grant] + text[grant + len("        - !Ref MemberAccessPolicy\n") :], encoding="utf-8"
    )
    for folder in ("functions", "member-accounts", "statemachine", "layers"):
        (tmp_path / folder).symlink_to(REPO / folder)
    from ferry_cli.twin.runtime import Twin
    from ferry_cli.twin.world import load_world

    with Twin.started(load_world(REPO / "worlds" / "two-accounts.json"), tmp_path / "template.yaml") as twin:
        # When the run is stopped while its snapshot is shared
        _stopped_while_shared(twin)
        results = [d.result for d in twin.events.deliveries if d.function == CLEANUP]
        after = twin.inventory()
    # Then the cleanup is refused the member role, and the snapshot stays shared: the grant is what cleans
    assert [r["errorType"] for r in results] == ["AssumeRoleError"]
    assert "is not authorized to perform: sts:AssumeRole" in results[0]["errorMessage"]
    assert len(_shared(after)) == 1


def test_a_run_that_passes_the_execution_timeout_leaves_nothing_shared() -> None:
    # Given copies that take three and a half days each, so that a run polling hourly passes the state
    # machine's 7-day TimeoutSeconds while the target copies the shared snapshot
    half_week = 3.5 * 86400
    # (a target that keeps its copy copies the shared snapshot; by default it restores from it directly)
    event = load_event("migrate-keep-copies.json")
    event["options"].update({"waitStrategy": "polling", "pollIntervalSeconds": 3600, "maxPollAttempts": 168})
    with running_twin(durations={"snapshot_copy": half_week}) as twin:
        before = twin.inventory()
        # When the run is still waiting for the target's copy at the 7-day mark
        description = twin.wait(twin.start(event))
        history = twin.history(description["executionArn"])
        after = twin.inventory()
        results = [d.result for d in twin.events.deliveries if d.function == CLEANUP]
        elapsed = twin.clock.elapsed()
    # Then Step Functions timed it out there, after the snapshot was shared (no Catch ran)
    assert description["status"] == "TIMED_OUT"
    assert elapsed >= 7 * 86400
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
    assert "MarkShared" in entered and "MarkTargetCopyReady" not in entered
    # (the timeout fell on the second a poll's wait ended: nothing the interrupted loop did is recorded after it)
    assert history[-1]["type"] == "ExecutionTimedOut"
    # And the status-change cleanup withdrew the share and deleted the run's snapshots; the source is untouched
    assert [r["status"] for r in results] == ["TIMED_OUT"]
    share = f"ferry-{description['name']}-share"
    assert ("unshared", share) in {(a["action"], a["arn"].rsplit(":", 1)[-1]) for a in results[0]["actions"]}
    assert _shared(after) == []
    assert _ferry_snapshots(after, SOURCE) == []
    _assert_source_untouched(before, after)
