"""The clone ASL's control flow in moto's interpreter: retries, bounded waits, catches, the Fail state.

Chosen functions are swapped for scripted fakes; the rest are the real handlers in the twin (worlds/clones.json).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aurora_ferry.core import CloneVerificationError
from tests.conftest import REPO, load_event, running_twin

pytestmark = pytest.mark.statemachine

MACHINE = "CloneStateMachine"
PROD = "111111111111"


def _asl() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REPO / "statemachine" / "clone.asl.json").read_text())
    return loaded


def _entered(history: list[dict[str, Any]], name: str) -> int:
    return sum(
        1
        for e in history
        if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == name
    )


def _real(twin_box: list[Any], function: str) -> Callable[..., Any]:
    def handler(event: dict[str, Any], context: Any) -> Any:
        twin = twin_box[0]
        spec = twin.template.functions[function]
        return getattr(twin._handler_module(spec), spec.handler_name)(event, context)

    return handler


def _failing_then_real(
    error_name: str, failures: int, function: str, twin_box: list[Any]
) -> Callable[..., Any]:
    """Raise an exception whose class is named `error_name` `failures` times, then run the real handler."""
    error_class = type(error_name, (Exception,), {})
    calls = {"n": 0}
    real = _real(twin_box, function)

    def handler(event: dict[str, Any], context: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise error_class("injected by the test")
        return real(event, context)

    return handler


def _start(
    twin: Any, event: dict[str, Any], timeout: float = 120
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    description = twin.wait(twin.start(event, machine=MACHINE), timeout_real_seconds=timeout)
    return description, twin.history(description["executionArn"])


# ------------------------------------------------------------------------------------------- static


def test_failures_always_end_in_the_clone_failed_state_after_cleanup() -> None:
    states = _asl()["States"]
    # Given every catcher and every wait-exhausted state
    targets = {c["Next"] for s in states.values() for c in s.get("Catch", [])}
    exhausted = {s["Next"] for name, s in states.items() if name.endswith("WaitExhausted")}
    # Then they lead to the cleanup (or, from validation and cleanup, straight to the description) and the Fail state
    summaries = {"SummarizeCloneUnavailable", "DescribeCloneFailureUnavailable"}
    assert targets <= {"CleanupCloneAfterFailure", "DescribeCloneFailure", *summaries}
    assert exhausted == {"CleanupCloneAfterFailure"}
    # (a summary that fails, after the cleanup ran, ends in a Fail state of its own)
    assert {states[name]["Next"] for name in summaries} == {"SummaryFailed"}
    assert states["SummaryFailed"]["Type"] == "Fail"
    assert states["CleanupCloneAfterFailure"]["Next"] == "DescribeCloneFailure"
    assert states["DescribeCloneFailure"]["Next"] == "CloneFailed"
    assert states["CloneFailed"]["Type"] == "Fail"


def test_the_old_dev_cluster_is_retired_only_after_the_new_clone_is_verified() -> None:
    states = _asl()["States"]
    # Given the happy path from the start (each Choice's first rule: cross-account, ready, refresh)
    order, name = [], "ValidateCloneInput"
    while name != "SummarizeClone":
        order.append(name)
        state = states[name]
        name = state["Choices"][0]["Next"] if state["Type"] == "Choice" else state["Next"]
    # Then the clone, its instances and the verification all come before anything is deleted
    assert order.index("MarkInstancesReady") < order.index("VerifyClone") < order.index("RetireOldInstances")
    assert order.index("RetireOldInstances") < order.index("RetireOldClusters") < order.index("CleanupClone")


def test_the_template_deploys_the_clone_machine_with_substitutions_for_every_function(repo: Path) -> None:
    from ferry_cli.template import SamTemplate

    template = SamTemplate.load(repo / "template.yaml")
    spec = template.state_machines[MACHINE]
    assert spec.definition_file == repo / "statemachine" / "clone.asl.json"
    for name, value in spec.substitutions.items():
        assert name == value["Fn::GetAtt"][0] + "Arn"
        assert value["Fn::GetAtt"][0] in template.functions


# ------------------------------------------------------------------------------------------ in moto


@pytest.mark.parametrize("error_name", ["Lambda.ServiceException", "AwsThrottledError"])
def test_transient_errors_are_retried_and_the_clone_recovers(error_name: str) -> None:
    # Given a source inspection that fails twice with a transient error, then works
    box: list[Any] = []
    flaky = _failing_then_real(error_name, 2, "InspectCloneSourceFunction", box)
    with running_twin("clones.json", handler_overrides={"InspectCloneSourceFunction": flaky}) as twin:
        box.append(twin)
        # When the clone runs
        description, _ = _start(twin, load_event("clone-same-account.json"), timeout=240)
        invocations = twin.invocations.by_function
    # Then the state machine retried it and the run succeeded
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert invocations["InspectCloneSourceFunction"] == 3


def test_a_clone_that_never_becomes_available_stops_at_max_poll_attempts() -> None:
    # Given a clone that never becomes available, and at most 4 checks
    event = copy.deepcopy(load_event("clone-same-account.json"))
    event["options"]["maxPollAttempts"] = 4
    box: list[Any] = []
    real = _real(box, "PollCloneFunction")

    def never_ready(poll: dict[str, Any], context: Any) -> Any:
        if poll["kind"] == "cluster":
            return {"status": "creating", "ready": False, "attempt": poll["attempt"] + 1}
        return real(poll, context)

    with running_twin("clones.json", handler_overrides={"PollCloneFunction": never_ready}) as twin:
        box.append(twin)
        # When the clone runs
        description, history = _start(twin, event)
    # Then it fails after exactly 4 checks with WaitLimitExceeded, and the clone is reported left in place
    assert description["status"] == "FAILED"
    assert description["error"] == "WaitLimitExceeded"
    assert "clone cluster still creating after 4 checks" in description["cause"]
    assert _entered(history, "CheckClone") == 4
    assert _entered(history, "WaitForClone") == 3
    assert _entered(history, "CleanupCloneAfterFailure") == 1
    assert "left-in-place arn:aws:rds:eu-west-1:111111111111:cluster:orders-sandbox" in description["cause"]


def test_a_share_that_is_never_associated_stops_and_is_unshared() -> None:
    # Given a cross-account clone whose share never gets associated, and at most 3 checks
    event = copy.deepcopy(load_event("clone-cross-account.json"))
    event["options"]["maxPollAttempts"] = 3

    def never_associated(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {
            "status": "associating",
            "ready": False,
            "attempt": event["attempt"] + 1,
            "invitationArn": None,
        }

    with running_twin("clones.json", handler_overrides={"AcceptShareFunction": never_associated}) as twin:
        # When the clone runs
        description, history = _start(twin, event)
        shares = twin.client("ram", PROD).get_resource_shares(
            resourceOwner="SELF", resourceShareStatus="ACTIVE"
        )
    # Then it fails with WaitLimitExceeded, no clone was attempted, and the run's share was deleted
    assert description["status"] == "FAILED"
    assert description["error"] == "WaitLimitExceeded"
    assert "resource share still associating after 3 checks" in description["cause"]
    assert _entered(history, "CreateClone") == 0
    assert "unshared arn:aws:ram:eu-west-1:111111111111:resource-share/" in description["cause"]
    assert shares["resourceShares"] == []


def test_a_clone_that_is_not_what_was_asked_fails_with_the_verification_error() -> None:
    # Given a verification that finds the clone is not a cross-account clone
    def wrong(event: dict[str, Any], context: Any) -> Any:
        raise CloneVerificationError(
            "clone orders-dev reports CrossAccountClone=false", account_id="222222222222"
        )

    with running_twin("clones.json", handler_overrides={"VerifyCloneFunction": wrong}) as twin:
        # When the clone runs
        description, history = _start(twin, load_event("clone-cross-account.json"))
    # Then the run ends in CloneFailed with the named error and the account, and the share is gone
    assert description["status"] == "FAILED"
    assert description["error"] == "CloneVerificationError"
    assert "[account 222222222222] clone orders-dev reports CrossAccountClone=false" in description["cause"]
    assert [e["stateEnteredEventDetails"]["name"] for e in history if e["type"] == "FailStateEntered"] == [
        "CloneFailed"
    ]
    assert "unshared" in description["cause"]


def test_an_unnamed_error_is_still_caught_and_described() -> None:
    # Given a step that fails with an error nobody named
    def boom(event: dict[str, Any], context: Any) -> Any:
        raise type("Boom", (Exception,), {})("something unexpected")

    with running_twin("clones.json", handler_overrides={"CreateCloneFunction": boom}) as twin:
        description, history = _start(twin, load_event("clone-same-account.json"))
    # Then it goes through cleanup to the Fail state with its own name and message
    assert description["status"] == "FAILED"
    assert description["error"] == "Boom"
    assert "something unexpected" in description["cause"]
    assert _entered(history, "CleanupCloneAfterFailure") == 1


def test_invalid_clone_input_fails_before_any_aws_work() -> None:
    # Given a clone input with two bad fields
    event = copy.deepcopy(load_event("clone-same-account.json"))
    event["target"]["cloneIdentifier"] = "9-bad"
    event["sharing"] = {"allowExternalPrincipals": "yes"}
    with running_twin("clones.json") as twin:
        before = twin.inventory()
        # When it is started
        description, _ = _start(twin, event, timeout=60)
        after = twin.inventory()
        invocations = {name for name in twin.invocations.by_function if "Clone" in name}
    # Then both problems are named, and only validation and the summary ran
    assert description["status"] == "FAILED"
    assert description["error"] == "InvalidInputError"
    assert "target.cloneIdentifier:" in description["cause"]
    assert "sharing.allowExternalPrincipals: must be true or false" in description["cause"]
    assert invocations == {"ValidateCloneInputFunction", "SummarizeCloneFunction"}
    assert after == before
