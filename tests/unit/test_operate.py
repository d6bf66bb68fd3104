"""The follower behind `ferry watch` against Step Functions' documented answers (botocore's Stubber checks each
request against the API model), with an injected sleep: paging, back-off and the bound, in no real time.
And the real-AWS commands load no moto, and refuse bad input before any AWS call."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ferry_cli.follow import Polling, follow, new_events
from ferry_cli.operate import execution_name_problem, stop_cause_problem
from tests.conftest import REPO, load_event

pytestmark = pytest.mark.unit

ARN = "arn:aws:states:eu-west-1:123456789012:execution:aurora-ferry-MigrationStateMachine:run-1"
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _event(event_id: int, kind: str = "TaskStateEntered") -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": event_id,
        "previousEventId": event_id - 1,
        "type": kind,
        "timestamp": START + timedelta(seconds=10 * event_id),
    }
    if kind == "TaskStateEntered":
        event["stateEnteredEventDetails"] = {"name": f"Step{event_id}"}
    return event


def _newest_first(first: int, last: int) -> list[dict[str, Any]]:
    return [
        _event(i, "ExecutionSucceeded" if i == 30 else "TaskStateEntered") for i in range(last, first - 1, -1)
    ]


def _history(
    stub: Stubber,
    events: list[dict[str, Any]],
    size: int,
    token: str | None = None,
    following: str | None = None,
) -> None:
    expected: dict[str, Any] = {"executionArn": ARN, "reverseOrder": True, "maxResults": size}
    if token:
        expected["nextToken"] = token
    response: dict[str, Any] = {"events": events}
    if following:
        response["nextToken"] = following
    stub.add_response("get_execution_history", response, expected)


def _describe(stub: Stubber, status: str) -> None:
    stub.add_response(
        "describe_execution",
        {
            "executionArn": ARN,
            "stateMachineArn": ARN.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0],
            "status": status,
            "startDate": START,
        },
        {"executionArn": ARN},
    )


@pytest.fixture
def sfn() -> Any:
    return boto3.client(
        "stepfunctions", region_name="eu-west-1", aws_access_key_id="stub", aws_secret_access_key="stub"
    )


def test_follow_reads_only_new_events_newest_first_and_backs_off_while_nothing_happens(sfn: Any) -> None:
    slept: list[float] = []
    seen: list[int] = []
    with Stubber(sfn) as stub:
        # Given a history of 3 events, then no news, then 27 more ending in ExecutionSucceeded (two pages)
        _history(stub, _newest_first(1, 3), 25)
        _history(stub, _newest_first(3, 3), 25)
        _history(stub, _newest_first(6, 30), 25, following="page-2")
        _history(stub, _newest_first(1, 5), 1000, token="page-2")
        _describe(stub, "SUCCEEDED")
        # When the run is followed with an injected sleep
        followed = follow(
            sfn, ARN, lambda e: seen.append(e["id"]), Polling(first=5, longest=60, sleep=slept.append)
        )
        stub.assert_no_pending_responses()
    # Then every event was handed on once, in order; the follower slept 5 s, then 10 s (nothing new), and read the
    # second page only as far as the last event it had seen
    assert seen == list(range(1, 31))
    assert [e["id"] for e in followed.history] == seen
    assert slept == [5, 10]
    assert followed.ended and followed.polls == 3 and followed.waited == 15


def test_follow_gives_up_after_its_limit_of_waiting_and_says_the_run_is_still_running(sfn: Any) -> None:
    slept: list[float] = []
    with Stubber(sfn) as stub:
        # Given a run that never moves past its third event
        for _ in range(5):
            _history(stub, _newest_first(1, 3), 25)
        _describe(stub, "RUNNING")
        # When it is followed for at most 50 s, backing off from 5 s to at most 20 s
        followed = follow(sfn, ARN, None, Polling(first=5, longest=20, limit=50, sleep=slept.append))
        stub.assert_no_pending_responses()
    # Then the waits double up to the longest and the last one stops exactly at the limit
    assert slept == [5, 10, 20, 15]
    assert followed.waited == 50 and not followed.ended
    assert followed.description is not None and followed.description["status"] == "RUNNING"


def test_new_events_of_an_execution_with_nothing_new_is_one_page(sfn: Any) -> None:
    with Stubber(sfn) as stub:
        _history(stub, _newest_first(1, 7), 25)
        assert new_events(sfn, ARN, 7) == []
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("polling", "message"),
    [
        ({"first": 0}, "0 < first"),
        ({"first": 90, "longest": 60}, "first (90) <= longest (60)"),
        ({"limit": -1}, "must not be negative"),
    ],
)
def test_polling_refuses_an_unbounded_or_empty_wait(polling: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Polling(**polling)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("nightly-2026-12-01", None),
        ("x" * 80, None),
        ("", "--name: 1 to 80 characters, got 0"),
        ("x" * 81, "--name: 1 to 80 characters, got 81"),
        ("run 1", "--name: ' ' is not allowed"),
        ("run/1", "--name: '/' is not allowed"),
        ("run*", "--name: '*' is not allowed"),
        ("run\x07", "--name: '\\x07' is not allowed"),
    ],
)
def test_execution_names_follow_start_execution_rules(name: str, problem: str | None) -> None:
    found = execution_name_problem(name)
    assert found == problem if problem is None else found is not None and found.startswith(problem)


def test_a_stop_cause_over_the_api_limit_is_refused() -> None:
    assert stop_cause_problem("x" * 32768) is None
    assert stop_cause_problem("x" * 32769) == "--cause: at most 32768 characters, got 32769"


def test_the_real_aws_commands_load_no_moto_and_refuse_bad_input_before_any_call(tmp_path: Path) -> None:
    # Given an input the contract refuses, and an environment where any AWS call would fail loudly
    event = load_event("migrate-cmk.json")
    del event["shareKmsKeyArn"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    script = (
        "import sys\n"
        "from ferry_cli.cli import main\n"
        f"status = main(['start', '--input', {str(path)!r}, '--follow'])\n"
        "loaded = sorted(m for m in sys.modules if m == 'moto' or m.startswith('moto.') or m == 'botocore')\n"
        "print(status, loaded)\n"
    )
    environment = {
        "PATH": "/usr/bin:/bin",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    # When `ferry start` runs in a fresh interpreter
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
        check=False,
        timeout=120,
    )
    # Then it exits 2 naming the field, without loading moto, or even botocore: no AWS call was possible
    assert result.stdout.strip() == "2 []", result.stderr
    assert f"invalid: {path}: shareKmsKeyArn:" in result.stderr
