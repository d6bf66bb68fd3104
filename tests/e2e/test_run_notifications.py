"""Every run's end reaches the notification topic as a readable message: Step Functions' status-change event
runs NotifyRunEndedFunction, which publishes to the template's encrypted topic under its own grants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, load_event, run_twin_until, running_twin

pytestmark = pytest.mark.e2e

NOTIFY = "NotifyRunEndedFunction"
TARGET = "222222222222"


def _subscribed_queue(twin: Any) -> str:
    """An SQS queue subscribed (raw delivery) to the template's notification topic, as an operator would."""
    topic = next(
        t["TopicArn"]
        for t in twin.client("sns").list_topics()["Topics"]
        if "NotificationTopic" in t["TopicArn"]
    )
    sqs = twin.client("sqs")
    url = sqs.create_queue(QueueName="ferry-notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    twin.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return str(url)


def _notifications(twin: Any, url: str) -> list[dict[str, str]]:
    """The notifications the queue holds: each SNS envelope's Subject and Message."""
    received = twin.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in received.get("Messages", [])]


def _refuse_restore(event: dict[str, Any], context: Any) -> Any:
    from aurora_ferry.core import TargetConflictError

    raise TargetConflictError("cluster orders-dev exists", account_id=TARGET, region="eu-west-1")


def test_a_failed_run_is_notified_with_its_step_account_error_cause_and_console_link() -> None:
    with running_twin(handler_overrides={"RestoreClusterFunction": _refuse_restore}) as twin:
        url = _subscribed_queue(twin)
        # Given a migration whose restore in the target account fails
        description = twin.wait(twin.start(load_event("migrate-cmk.json")))
        notes = _notifications(twin, url)
        results = [d.result for d in twin.events.deliveries if d.function == NOTIFY]
    # Then one message reached the topic, and it names the run, the step, the account, the error and cause
    assert description["status"] == "FAILED"
    assert len(results) == 1 and "errorType" not in results[0], results
    assert len(notes) == 1
    subject, message = notes[0]["Subject"], notes[0]["Message"]
    run_id = description["name"]
    assert subject == f"aurora-ferry FAILED: migration {run_id}"
    assert f"Run id: {run_id}" in message
    assert "Status: FAILED" in message
    assert "Failing step: MigrateTargets/RestoreCluster" in message
    assert f"Where: target account {TARGET}" in message
    assert f"Error: {description['error']}" in message
    assert "TargetConflictError" in message and "cluster orders-dev exists" in message
    assert "Source: account 111111111111" in message
    assert f"Target: account {TARGET}, cluster " in message
    assert (
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1"
        f"#/v2/executions/details/{description['executionArn']}"
    ) in message


def test_a_successful_run_is_notified_as_succeeded() -> None:
    with running_twin() as twin:
        url = _subscribed_queue(twin)
        description = twin.wait(twin.start(load_event("migrate-cmk.json")))
        notes = _notifications(twin, url)
    assert description["status"] == "SUCCEEDED"
    assert [n["Subject"] for n in notes] == [f"aurora-ferry SUCCEEDED: migration {description['name']}"]
    assert "Status: SUCCEEDED" in notes[0]["Message"]
    attributes = {k: v["Value"] for k, v in notes[0]["MessageAttributes"].items()}
    assert attributes == {"status": "SUCCEEDED", "workflow": "migration", "runId": description["name"]}
    assert "Failing step" not in notes[0]["Message"]


def test_a_stopped_run_is_notified_as_aborted_with_the_ended_run_cleanup() -> None:
    with running_twin() as twin:
        url = _subscribed_queue(twin)
        arn = twin.start(load_event("migrate-cmk.json"))
        run_twin_until(twin, lambda: bool(twin.invocations.by_function.get("ShareSnapshotFunction")), step=30)
        twin.client("stepfunctions").stop_execution(
            executionArn=arn, error="Operator", cause="stopped from the console"
        )
        description = twin.wait(arn)
        notes = _notifications(twin, url)
    assert description["status"] == "ABORTED"
    assert [n["Subject"] for n in notes] == [f"aurora-ferry ABORTED: migration {description['name']}"]
    message = notes[0]["Message"]
    assert "The execution was stopped" in message
    assert "Cause given: stopped from the console" in message
    assert "RunEndedCleanupFunction" in message


def _template_without(tmp_path: Path, first: str, last: str) -> Path:
    """template.yaml without NotifyRunEndedFunction's lines from ``first`` to ``last`` (the other folders as
    they are)."""
    text = (REPO / "template.yaml").read_text(encoding="utf-8")
    start = text.index(first, text.index("  NotifyRunEndedFunction:"))
    end = text.index(last, start) + len(last)
    (tmp_path / "template.yaml").write_text(text[:start] + text[end:], encoding="utf-8")
    for folder in ("functions", "member-accounts", "statemachine", "layers"):
        (tmp_path / folder).symlink_to(REPO / folder)
    return tmp_path / "template.yaml"


@pytest.mark.parametrize(
    ("first", "last", "denied"),
    [
        ("            - Sid: PublishRunEnds\n", "Resource: !Ref NotificationTopic\n", "sns:Publish"),
        (
            "            # Publishing to a topic",
            "Resource: !GetAtt NotificationKey.Arn\n",
            "kms:GenerateDataKey",
        ),
    ],
    ids=["publish", "topic-key"],
)
def test_without_its_grant_the_notification_is_refused(
    tmp_path: Path, first: str, last: str, denied: str
) -> None:
    from ferry_cli.twin.runtime import Twin
    from ferry_cli.twin.world import load_world

    # Given template.yaml without one of NotifyRunEndedFunction's two statements
    template = _template_without(tmp_path, first, last)
    with Twin.started(load_world(REPO / "worlds" / "two-accounts.json"), template) as twin:
        url = _subscribed_queue(twin)
        # When a run ends
        twin.wait(twin.start(load_event("migrate-cmk.json")))
        results = [d.result for d in twin.events.deliveries if d.function == NOTIFY]
        notes = _notifications(twin, url)
    # Then the publish is refused, and nothing reaches the topic
    assert len(results) == 1
    assert f"is not authorized to perform: {denied}" in results[0]["errorMessage"], results
    assert notes == []
