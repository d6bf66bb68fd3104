"""The cleanup after a run that ended without its own: the status-change event, and what it cleans."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aurora_ferry import migration
from aurora_ferry.core import PayloadError, naming
from aurora_ferry.ended import ExecutionEnded, clean_up_after
from tests.unit.test_steps import OTHER_RUN, RUN, SOURCE, TARGET, World, run_until_cleanup

pytestmark = pytest.mark.unit

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:aurora-ferry-MigrationStateMachine"


def _event(status: str, raw_input: Any, name: str = RUN, **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "executionArn": f"{MACHINE.replace(':stateMachine:', ':execution:')}:{name}",
            "stateMachineArn": MACHINE,
            "name": name,
            "status": status,
            "input": raw_input if isinstance(raw_input, str) else json.dumps(raw_input),
            "inputDetails": {"included": True},
            **detail,
        },
    }


def test_the_event_is_read_and_a_missing_input_names_the_run() -> None:
    # Given a status-change event, one from another source, and one whose input did not fit in the event
    good = _event("ABORTED", {"x": 1})
    foreign = {**good, "source": "aws.rds"}
    too_large = _event("TIMED_OUT", {"x": 1}, inputDetails={"included": False})
    # When they are parsed / Then the first gives the execution, the others say what is wrong
    ended = ExecutionEnded.parse(good)
    assert (ended.name, ended.status, json.loads(ended.input)) == (RUN, "ABORTED", {"x": 1})
    with pytest.raises(PayloadError, match="not a Step Functions status change"):
        ExecutionEnded.parse(foreign)
    with pytest.raises(PayloadError, match=r"event\.detail\.input: not in the event .* 'run-1'"):
        ExecutionEnded.parse(too_large)


def test_an_aborted_run_is_unshared_and_its_own_snapshots_deleted(world: World) -> None:
    # Given a run stopped after it shared its snapshot, and snapshots that only look like the run's
    run = run_until_cleanup(world, "delete")
    assert world.restore_accounts(SOURCE, run.share.identifier) == [TARGET]
    # When its ABORTED status change arrives
    result = clean_up_after(ExecutionEnded.parse(_event("ABORTED", run.request.to_json())))
    # Then the share is withdrawn, the run's tagged snapshots are gone, and nothing else was touched
    assert result["status"] == "ABORTED" and result["runId"] == RUN
    actions = [(a["action"], a["arn"]) for a in result["actions"]]
    assert actions.index(("unshared", run.share.arn)) < actions.index(("deleted", run.share.arn))
    assert naming.share_copy_id(RUN) not in world.snapshot_ids(SOURCE)
    assert naming.source_snapshot_id(RUN) not in world.snapshot_ids(SOURCE)
    assert naming.target_copy_id(RUN) not in world.snapshot_ids(TARGET)
    assert {naming.source_copy_id(RUN), naming.source_snapshot_id(OTHER_RUN), "orders-nightly-keep"} <= (
        world.snapshot_ids(SOURCE)
    )
    assert [action for action, _ in actions].count("unshared") == 1


def test_after_the_runs_own_cleanup_there_is_nothing_left_to_do(world: World) -> None:
    # Given a run whose own CleanupAfterFailure already ran
    run = run_until_cleanup(world, "delete")
    migration.cleanup(run.request, RUN)
    before = {account: world.snapshot_ids(account) for account in (SOURCE, TARGET)}
    # When its FAILED status change arrives too
    result = clean_up_after(ExecutionEnded.parse(_event("FAILED", run.request.to_json())))
    # Then it finds nothing of the run and changes nothing
    assert result["actions"] == []
    assert {account: world.snapshot_ids(account) for account in (SOURCE, TARGET)} == before


def test_a_run_that_succeeded_or_never_started_is_left_alone(world: World) -> None:
    # Given a finished run's snapshots
    run = run_until_cleanup(world, "delete")
    before = world.snapshot_ids(SOURCE)
    # When a SUCCEEDED event arrives (the rule does not send one, but a replay might), and a FAILED one for an
    # input the contract refuses
    succeeded = clean_up_after(ExecutionEnded.parse(_event("SUCCEEDED", run.request.to_json())))
    refused = clean_up_after(ExecutionEnded.parse(_event("FAILED", {"source": "nope"})))
    # Then neither touches anything
    assert "needs no cleanup" in succeeded["skipped"]
    assert refused["skipped"] == "the input was refused before anything was made"
    assert world.snapshot_ids(SOURCE) == before
