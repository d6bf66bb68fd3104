"""The run-end notification's subject and message (aurora_ferry.ended.notice), for each status."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aurora_ferry.core import ConfigurationError
from aurora_ferry.ended import notice_for, notify_run_ended
from aurora_ferry.ended.notice import MESSAGE_LIMIT, SUBJECT_LIMIT, subject_line, truncated
from tests.conftest import load_event

REGION = "eu-west-1"
MACHINE = f"arn:aws:states:{REGION}:123456789012:stateMachine:aurora-ferry-MigrationStateMachine"
CLONE_MACHINE = f"arn:aws:states:{REGION}:123456789012:stateMachine:aurora-ferry-CloneStateMachine"


def _event(status: str, name: str = "nightly-refresh", **detail: Any) -> dict[str, Any]:
    machine = detail.pop("machine", MACHINE)
    execution = machine.replace(":stateMachine:", ":execution:") + f":{name}"
    return {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "executionArn": execution,
            "stateMachineArn": machine,
            "name": name,
            "status": status,
            "startDate": 1_700_000_000_000,
            "stopDate": 1_700_003_723_000,
            "input": json.dumps(load_event("migrate-cmk.json")),
            "inputDetails": {"included": True},
            "error": None,
            "cause": None,
            **detail,
        },
    }


def test_a_failed_run_names_its_step_account_error_cause_and_console_link() -> None:
    cause = (
        "MigrateTargets/RestoreCluster (target account 222222222222) failed with TargetConflictError: exists"
    )
    notice = notice_for(_event("FAILED", error="TargetConflictError", cause=cause))
    assert notice.subject == "aurora-ferry FAILED: migration nightly-refresh"
    lines = notice.message.splitlines()
    assert "Run id: nightly-refresh" in lines
    assert "Status: FAILED" in lines
    assert "Source: account 111111111111, cluster orders (eu-west-1)" in lines
    assert "Target: account 222222222222, cluster orders-dev" in lines
    assert "Failing step: MigrateTargets/RestoreCluster" in lines
    assert "Where: target account 222222222222" in lines
    assert "Error: TargetConflictError" in lines
    assert f"Cause: {cause}" in lines
    assert "Duration: 1h 02m 03s (3723 s)" in lines
    assert lines[-1] == (
        f"Console: https://{REGION}.console.aws.amazon.com/states/home?region={REGION}"
        f"#/v2/executions/details/{MACHINE.replace(':stateMachine:', ':execution:')}:nightly-refresh"
    )


def test_a_succeeded_run_says_so_without_a_failure() -> None:
    notice = notice_for(_event("SUCCEEDED"))
    assert notice.subject == "aurora-ferry SUCCEEDED: migration nightly-refresh"
    assert "Status: SUCCEEDED" in notice.message
    assert "Failing step" not in notice.message and "Cause" not in notice.message
    assert notice.message_attributes() == {
        "status": {"DataType": "String", "StringValue": "SUCCEEDED"},
        "workflow": {"DataType": "String", "StringValue": "migration"},
        "runId": {"DataType": "String", "StringValue": "nightly-refresh"},
    }


@pytest.mark.parametrize(
    ("status", "said"),
    [
        ("ABORTED", "The execution was stopped"),
        ("TIMED_OUT", "passed the state machine's TimeoutSeconds"),
    ],
)
def test_a_run_that_ended_without_a_cause_says_what_happened_and_that_the_cleanup_runs(
    status: str, said: str
) -> None:
    notice = notice_for(_event(status))
    assert notice.subject == f"aurora-ferry {status}: migration nightly-refresh"
    assert said in notice.message
    assert "RunEndedCleanupFunction" in notice.message
    assert "Cause given" not in notice.message


def test_a_stop_keeps_the_operators_error_and_cause() -> None:
    notice = notice_for(_event("ABORTED", error="Operator", cause="stopped from the console"))
    assert "Error: Operator" in notice.message.splitlines()
    assert "Cause given: stopped from the console" in notice.message.splitlines()


def test_a_clone_names_its_source_and_clone_target() -> None:
    event = _event("SUCCEEDED", machine=CLONE_MACHINE)
    event["detail"]["input"] = json.dumps(load_event("clone-cross-account.json"))
    notice = notice_for(event)
    assert notice.subject == "aurora-ferry SUCCEEDED: clone nightly-refresh"
    assert "Clone target: account " in notice.message


def test_an_input_left_out_of_the_event_still_notifies() -> None:
    event = _event("FAILED", error="States.DataLimitExceeded", cause="too large")
    event["detail"].update({"input": None, "inputDetails": {"included": False}})
    notice = notice_for(event)
    assert notice.subject == "aurora-ferry FAILED: migration nightly-refresh"
    assert "the input was not a valid run input" in notice.message
    assert "Error: States.DataLimitExceeded" in notice.message


def test_the_subject_is_one_printable_ascii_line_of_at_most_100_characters() -> None:
    # Given an execution name as long as Step Functions allows (80), with characters SNS refuses in a subject
    name = "r\u00e9fresh\n" + "x" * 72
    notice = notice_for(_event("TIMED_OUT", name=name))
    assert len(notice.subject) <= SUBJECT_LIMIT
    assert notice.subject.isascii() and notice.subject.isprintable()
    assert "\n" not in notice.subject
    assert subject_line("a\tb\u2014c") == "a b c"
    assert subject_line("y" * 150) == "y" * 97 + "..."


def test_a_huge_cause_is_truncated_below_the_sns_limit() -> None:
    cause = "MigrateTargets/RestoreCluster (target account 222222222222) failed with X: " + "\u00e9" * 300_000
    notice = notice_for(_event("FAILED", error="X", cause=cause))
    assert len(notice.message.encode()) < MESSAGE_LIMIT
    assert "[truncated" in notice.message
    assert notice.message.splitlines()[-1].startswith("Console: https://")
    assert truncated("short", 100) == "short"
    assert len(truncated("z" * 1000, 200).encode()) <= 200


def test_without_its_topic_the_function_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFICATION_TOPIC_ARN", raising=False)
    with pytest.raises(ConfigurationError, match="NOTIFICATION_TOPIC_ARN"):
        notify_run_ended(_event("SUCCEEDED"))
