"""Redrive: a run stopped by a transient cause parks (nothing shared, intermediates kept for 22 days), and
`RedriveExecution` resumes it from the step that failed to a success with no duplicate resources.

The twin adds RedriveExecution to moto (ferry_cli.twin.redrive); these runs go through the API as an operator's
`aws stepfunctions redrive-execution` would.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import load_event, running_twin

pytestmark = pytest.mark.e2e

PROD, TEST = "111111111111", "222222222222"
DAY = 86400


def _shared(twin: Any) -> list[tuple[str, str, list[str]]]:
    return [
        (account, snapshot["identifier"], snapshot["sharedWith"])
        for account, found in twin.inventory().items()
        for snapshot in found["snapshots"]
        if snapshot["sharedWith"]
    ]


def _run_snapshots(twin: Any, run_id: str) -> list[str]:
    return sorted(
        snapshot["arn"]
        for found in twin.inventory().values()
        for snapshot in found["snapshots"]
        if snapshot["type"] == "manual" and snapshot["tags"].get("aurora-ferry:run-id") == run_id
    )


def _leftover_rows(twin: Any) -> list[dict[str, Any]]:
    table = twin.template.tables["LeftoverTable"].physical_name
    return list(twin.client("dynamodb").scan(TableName=table)["Items"])


def _redrive(twin: Any, arn: str) -> dict[str, Any]:
    twin.client("stepfunctions").redrive_execution(executionArn=arn)
    return dict(twin.wait(arn))


def _parked_then_redriven(state: str, kind: str) -> dict[str, Any]:
    """A migration whose `state` meets a transient fault: a Lambda timeout ("hang") once, or throttling
    ("throttled") until the retries are spent. What the parked run and its redrive left."""
    from ferry_cli.twin.faults import Fault

    with running_twin() as twin:
        if kind == "hang":
            twin.faults.plant(Fault(state, "hang"))
        else:
            # The first attempt and every retry of the standard policy (AwsThrottledError: 8 retries).
            for _ in range(9):
                twin.faults.plant(Fault(state, "error", error="AwsThrottledError"))
        arn = twin.start(load_event("migrate-cmk.json"))
        parked = twin.wait(arn)
        run_id = parked["name"]
        parked_view = {
            "description": parked,
            "shared": _shared(twin),
            "snapshots": _run_snapshots(twin, run_id),
            "rows": _leftover_rows(twin),
        }
        redriven = _redrive(twin, arn)
        history = twin.history(arn)
        inventory = twin.inventory()
        return {
            "parked": parked_view,
            "redriven": redriven,
            "history": history,
            "shared": _shared(twin),
            "snapshots": _run_snapshots(twin, run_id),
            "inventory": inventory,
        }


@pytest.mark.parametrize(
    ("state", "kind", "account"),
    [("CopyToTarget", "hang", TEST), ("CheckShareCopy", "hang", PROD), ("Cleanup", "throttled", PROD)],
)
def test_a_parked_run_unshares_keeps_its_intermediates_and_a_redrive_finishes_it(
    state: str, kind: str, account: str
) -> None:
    # Given a migration whose step meets a transient fault once (a Lambda timeout, or throttling spent)
    seen = _parked_then_redriven(state, kind)
    # Then the run parked: failed with RunParkedError, naming the step and account, nothing shared
    parked = seen["parked"]
    assert parked["description"]["status"] == "FAILED"
    assert parked["description"]["error"] == "RunParkedError"
    cause = parked["description"]["cause"]
    assert state in cause and account in cause and "redrive" in cause
    assert parked["shared"] == []
    # and what the run made is kept, recorded for deletion only after the redrive window
    kept = {json.loads(row["leftover"]["S"])["arn"]: row for row in parked["rows"]}
    assert parked["snapshots"] and set(parked["snapshots"]) <= set(kept)
    assert all(int(row["notBefore"]["N"]) > 0 for row in kept.values())
    # When the operator redrives it
    redriven = seen["redriven"]
    # Then it resumed from the failed step and succeeded, with one target cluster and its instances
    assert redriven["status"] == "SUCCEEDED", redriven
    types = [event["type"] for event in seen["history"]]
    assert types.count("ExecutionRedriven") == 1
    assert types.count("ExecutionStarted") == 1
    target = load_event("migrate-cmk.json")["targets"][0]
    name = target["clusterIdentifier"]
    clusters = [c["identifier"] for c in seen["inventory"][TEST]["clusters"]]
    assert clusters.count(name) == 1
    instances = [i for i in seen["inventory"][TEST]["instances"] if i["cluster"] == name]
    assert len(instances) == target.get("instanceCount", 1)
    # and left nothing shared, and no intermediate (options.cleanup "delete")
    assert seen["shared"] == []
    assert seen["snapshots"] == []
    # The steps before the failed one ran once: their history is kept, not repeated
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in seen["history"] if "stateEnteredEventDetails" in e
    ]
    assert entered.count("PrepareSourceSnapshot") == 1
    assert entered.count("ParkedUntilRedrive") == 2


def test_a_run_that_failed_for_good_is_not_resumed_by_a_redrive() -> None:
    from ferry_cli.twin.faults import Fault

    with running_twin() as twin:
        # Given a run that failed with a domain error (cleaned up, ended in its Fail state)
        twin.faults.plant(Fault("CreateInstances", "error", error="SourceNotReadyError"))
        arn = twin.start(load_event("migrate-cmk.json"))
        failed = twin.wait(arn)
        assert failed["error"] == "SourceNotReadyError"
        made = twin.inventory()
        # When it is redriven
        again = _redrive(twin, arn)
        # Then Step Functions runs its Fail state again: it fails the same way and makes nothing
        assert again["status"] == "FAILED"
        assert again["error"] == "SourceNotReadyError"
        assert twin.inventory() == made


def test_the_twin_refuses_a_redrive_as_aws_does() -> None:
    from ferry_cli.twin.faults import Fault

    with running_twin() as twin:
        sfn = twin.client("stepfunctions")
        twin.faults.plant(Fault("CopyToTarget", "hang"))
        parked = twin.start(load_event("migrate-cmk.json"))
        assert twin.wait(parked)["error"] == "RunParkedError"
        # A succeeded execution is not redrivable
        other = load_event("migrate-cmk.json")
        other["targets"][0]["clusterIdentifier"] = "orders-other"
        arn = twin.start(other)
        assert twin.wait(arn)["status"] == "SUCCEEDED"
        with pytest.raises(ClientError) as succeeded:
            sfn.redrive_execution(executionArn=arn)
        assert succeeded.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
        # Nor is one that ended more than 14 days ago
        twin.clock.advance(15 * DAY)
        with pytest.raises(ClientError) as expired:
            sfn.redrive_execution(executionArn=parked)
        assert expired.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
        assert "redrivable period" in expired.value.response["Error"]["Message"]


@pytest.mark.parametrize("kind", ["error", "hang"])
def test_a_redrive_whose_reshare_fails_cleans_up_and_names_the_step(kind: str) -> None:
    from ferry_cli.twin.faults import Fault

    with running_twin() as twin:
        # Given a run parked in its targets' copy, after sharing, whose Reshare then fails on the redrive
        twin.faults.plant(Fault("CopyToTarget", "hang"))
        twin.faults.plant(Fault("Reshare", kind, error="SourceNotReadyError"))
        arn = twin.start(load_event("migrate-cmk.json"))
        assert twin.wait(arn)["error"] == "RunParkedError"
        # When it is redriven
        failed = _redrive(twin, arn)
        # Then it fails through its cleanup: the cause names Reshare, nothing is shared, nothing of the run left
        assert failed["status"] == "FAILED"
        assert "Reshare (source account 111111111111) failed with" in failed["cause"]
        assert _shared(twin) == []
        assert _run_snapshots(twin, failed["name"]) == []
