"""Event-driven waits in moto's interpreter: RDS events complete them, the sweeper makes up for missed
events, a heartbeat timeout falls back to polling, failures carry their cause, the copy queue holds copies
back, and the polling strategy still works. The twin publishes the RDS events; the handlers are real."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest

from tests.conftest import fill_copy_queue, load_event, running_twin, someone_elses_snapshot

pytestmark = pytest.mark.statemachine

DEV = "222222222222"
REGION = "eu-west-1"


def _entered(history: list[dict[str, Any]], name: str) -> int:
    return sum(
        1
        for e in history
        if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == name
    )


def _await_outputs(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What completed each waitForTaskToken state, in order."""
    return [
        json.loads(e["taskSucceededEventDetails"]["output"])
        for e in history
        if e["type"] == "TaskSucceeded" and "waitForTaskToken" in e["taskSucceededEventDetails"]["resource"]
    ]


def _real(twin_box: list[Any], function: str) -> Any:
    twin = twin_box[0]
    spec = twin.template.functions[function]
    return getattr(twin._handler_module(spec), spec.handler_name)


def _heartbeat_only(event: dict[str, Any], context: Any) -> dict[str, Any]:
    import boto3

    from aurora_ferry.waits.store import WaitStore

    sfn = boto3.client("stepfunctions")
    tokens = {stored.task_token for stored in WaitStore.from_environment().scan()}
    for token in tokens:
        with contextlib.suppress(sfn.exceptions.ClientError):
            sfn.send_task_heartbeat(taskToken=token)
    return {"heartbeats": len(tokens)}


def test_rds_events_complete_every_event_wait() -> None:
    # Given the default wait strategy ("events"), and a sweeper that only heartbeats (a sweep due at the same
    # twin second as an event would otherwise race it; a restore outlasts HeartbeatSeconds, so the heartbeats
    # are needed)
    with running_twin(handler_overrides={"WaitSweeperFunction": _heartbeat_only}) as twin:
        # When a migration runs
        description = twin.wait(twin.start(load_event("migrate-cmk.json")), timeout_real_seconds=240)
        history = twin.history(description["executionArn"])
        published = [
            (e["detail"]["EventID"], e["detail"]["SourceIdentifier"])
            for e in twin.events.published
            if e["source"] == "aws.rds"
        ]
        invocations = dict(twin.invocations.by_function)
    # Then it succeeds, and each of its three event waits was completed by its RDS event
    assert description["status"] == "SUCCEEDED", description.get("cause")
    outputs = _await_outputs(history)
    assert [o["completedBy"] for o in outputs] == ["event", "event", "event"]
    assert all(o["ready"] for o in outputs)
    assert not [e for e in history if e["type"] == "TaskTimedOut"]
    # And the twin sent the events AWS sends, and none for a finished copy (there is none)
    ids = [event_id for event_id, _ in published]
    assert ids.count("RDS-EVENT-0075") == 1 and ids.count("RDS-EVENT-0170") == 1
    assert ids.count("RDS-EVENT-0005") == 2
    assert not [
        i for event_id, i in published if i.endswith(("-share", "-copy")) and event_id != "RDS-EVENT-0074"
    ]
    # And the event waits polled nothing: only the copies were checked, with back-off
    assert _entered(history, "CheckSourceSnapshot") == 0
    assert _entered(history, "CheckCluster") == 0
    assert invocations["RegisterWaitFunction"] == 3


def test_a_missed_event_is_made_up_by_the_sweeper() -> None:
    # Given RDS events that never arrive (they are delivered on a best-effort basis)
    with running_twin() as twin:
        twin.events.drop = lambda event: event["source"] == "aws.rds"
        # When a migration runs
        description = twin.wait(twin.start(load_event("migrate-cmk.json")), timeout_real_seconds=240)
        history = twin.history(description["executionArn"])
        dropped = len(twin.events.dropped)
        took = twin.clock.elapsed()
    # Then the scheduled sweeper completed every wait, and the run succeeded without falling back to polling;
    # the sweep every 300 s finds each resource at most 300 s late (3,900 twin seconds against 3,419 when the
    # events arrive, the 90 s of the wait for the cluster's own master credentials included), on any machine
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert dropped == 5
    assert [o["completedBy"] for o in _await_outputs(history)] == ["sweeper", "sweeper", "sweeper"]
    assert not [e for e in history if e["type"] == "TaskTimedOut"]
    assert _entered(history, "CheckCluster") == 0
    assert took == 3900


def test_missed_events_and_a_stopped_sweeper_fall_back_to_polling_after_the_heartbeat_timeout() -> None:
    # Given no RDS events and no sweeper (so no heartbeats either)
    with running_twin() as twin:
        twin.events.drop = lambda event: event["source"] == "aws.rds"
        twin.events.pause_schedules()
        # When a migration runs
        description = twin.wait(twin.start(load_event("migrate-cmk.json")), timeout_real_seconds=240)
        history = twin.history(description["executionArn"])
    # Then it succeeds, and every wait timed out after its heartbeat and fell back to polling once
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert _await_outputs(history) == []
    assert len([e for e in history if e["type"] == "TaskTimedOut"]) == 3
    for prefix in ("SourceSnapshot", "Cluster", "Instances"):
        assert _entered(history, f"Start{prefix}Wait") == 1
        assert _entered(history, f"Check{prefix}") >= 1


def test_a_resource_that_fails_while_awaited_fails_the_run_with_its_cause() -> None:
    # Given a restored cluster that fails after its wait was registered (the sweeper finds it)
    box: list[Any] = []

    def register_then_fail(event: dict[str, Any], context: Any) -> Any:
        result = _real(box, "RegisterWaitFunction")(event, context)
        if event["kind"] == "cluster":
            from moto.rds.models import rds_backends

            cluster = rds_backends[DEV][REGION].clusters["orders-dev"]
            box[0].rules.forget(cluster)
            cluster._status = "incompatible-restore"
        return result

    # (a restore that takes ten twin days, so the cluster is still creating when its wait registers; on the
    # event-path clock, so the sweeper, not the heartbeat timeout, finds it)
    with running_twin(
        handler_overrides={"RegisterWaitFunction": register_then_fail},
        durations={"cluster_restore": 864000},
    ) as twin:
        box.append(twin)
        # When the migration runs
        description = twin.wait(twin.start(load_event("migrate-cmk.json")), timeout_real_seconds=240)
        history = twin.history(description["executionArn"])
    # Then the wait fails with ResourceFailedError, its cause names the cluster, its status and the account,
    # and the run cleans up before failing
    assert description["status"] == "FAILED"
    assert description["error"] == "ResourceFailedError"
    assert "cluster orders-dev is incompatible-restore" in description["cause"]
    assert f"[account {DEV}" in description["cause"]
    failures = [
        e for e in history if e["type"] == "TaskFailed" and "waitForTaskToken" in json.dumps(e, default=str)
    ]
    assert failures and failures[0]["taskFailedEventDetails"]["error"] == "ResourceFailedError"
    assert _entered(history, "CleanupAfterFailure") == 1


def test_the_polling_strategy_never_registers_a_wait() -> None:
    # Given a run that asks for the polling wait strategy
    event = copy.deepcopy(load_event("migrate-cmk.json"))
    event["options"]["waitStrategy"] = "polling"
    with running_twin() as twin:
        # When it runs
        description = twin.wait(twin.start(event), timeout_real_seconds=240)
        history = twin.history(description["executionArn"])
        invocations = dict(twin.invocations.by_function)
    # Then every wait is the fixed poll loop, and it succeeds as before events existed
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert "RegisterWaitFunction" not in invocations
    assert not [
        e for e in history if e["type"] == "TaskStateEntered" and "Await" in json.dumps(e, default=str)
    ]
    assert _entered(history, "CheckCluster") > 1
    assert _entered(history, "StartTargetCopyAdaptiveWait") == 0


def test_a_full_copy_queue_holds_the_copy_back_instead_of_failing_the_run() -> None:
    # Given a target account that already has five snapshot copies in progress when the run copies
    box: list[Any] = []
    calls = {"n": 0}

    def copy_into_a_busy_account(event: dict[str, Any], context: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            fill_copy_queue(box[0].client("rds", DEV))
        return _real(box, "CopyToTargetFunction")(event, context)

    with running_twin(handler_overrides={"CopyToTargetFunction": copy_into_a_busy_account}) as twin:
        box.append(twin)
        someone_elses_snapshot(twin, DEV)
        # When the migration runs (its target keeps a copy, so it copies into the busy account)
        description = twin.wait(twin.start(load_event("migrate-keep-copies.json")), timeout_real_seconds=240)
        history = twin.history(description["executionArn"])
    # Then the copy step was told the queue is full, retried later, and the run succeeded
    assert description["status"] == "SUCCEEDED", description.get("cause")
    queued = [
        e
        for e in history
        if e["type"] == "LambdaFunctionFailed" or e["type"] == "TaskFailed"
        if "CopyQueueFullError" in json.dumps(e, default=str)
    ]
    assert queued, "the copy never met the full queue"
    assert calls["n"] >= 2
