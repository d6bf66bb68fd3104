"""The committed ASL is generated from ferry_cli.asl, and the builder's shapes keep their promises."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aurora_ferry.core import (
    CLONE_ERRORS,
    DOMAIN_ERRORS,
    IN_USE_ERRORS,
    QUEUED_ERRORS,
    TARGET_FAILED,
    TRANSIENT_ERRORS,
)
from ferry_cli.asl import DEFINITIONS, generate, render
from ferry_cli.asl.__main__ import main
from ferry_cli.asl.builder import LAMBDA_ERRORS, SUMMARY_FAILED, Flow, machine, names, params, run
from ferry_cli.template import SamTemplate

pytestmark = pytest.mark.unit

MAX_ATTEMPTS = "$.input.options.maxPollAttempts"


@pytest.fixture(scope="module")
def template(repo: Path) -> SamTemplate:
    return SamTemplate.load(repo / "template.yaml")


def _scopes(states: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Each scope's states: the machine's own, then every Map iterator's (a Next never leaves its scope)."""
    yield states
    for state in states.values():
        if "ItemProcessor" in state:
            yield from _scopes(state["ItemProcessor"]["States"])


def _generated_scopes() -> Iterator[tuple[str, dict[str, Any]]]:
    for machine_id, build in DEFINITIONS.items():
        for scope in _scopes(build()["States"]):
            yield machine_id, scope


def _flow_with_a_task(**options: Any) -> Flow:
    flow = Flow(failure="Failed")
    flow.task("Step", "A step.", "StepFunctionArn", run(), timeout=60, result="$.step", **options)
    return flow


def _ending(flow: Flow) -> dict[str, Any]:
    flow.fail("Failed", "$.failure.Error", "$.failure.Cause")
    states: dict[str, Any] = machine("test", flow, timeout=60)["States"]
    return states


def test_the_committed_asl_files_are_exactly_what_the_python_definitions_generate(
    template: SamTemplate,
) -> None:
    # Given each state machine's Python definition, when it is rendered
    for path, text in generate(template).items():
        # Then the committed file holds that text, byte for byte: the ASL cannot drift from its definition
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run python -m ferry_cli.asl"


def test_check_names_a_stale_file_and_writing_brings_it_back_in_step(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a copy of the template with freshly generated ASL, where the migration's file was then edited by hand
    template_file = tmp_path / "template.yaml"
    shutil.copy(repo / "template.yaml", template_file)
    (tmp_path / "statemachine").mkdir()
    assert main(["--template", str(template_file)]) == 0
    capsys.readouterr()
    migrate = tmp_path / "statemachine" / "migrate.asl.json"
    migrate.write_text(migrate.read_text().replace('"MaxAttempts": 6', '"MaxAttempts": 7', 1))
    # When it is checked, then the check fails and names that file only
    assert main(["--check", "--template", str(template_file)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "statemachine/migrate.asl.json differs from its definition in ferry_cli.asl; run python -m ferry_cli.asl"
    ]
    # When the files are generated again, then the check passes
    assert main(["--template", str(template_file)]) == 0
    assert main(["--check", "--template", str(template_file)]) == 0


def test_a_standard_task_retries_transient_errors_and_catches_domain_errors_by_name() -> None:
    # Given a task built with the standard policy
    state = _ending(_flow_with_a_task())["Step"]
    retried = [error for retrier in state["Retry"] for error in retrier["ErrorEquals"]]
    caught = [catcher["ErrorEquals"] for catcher in state["Catch"]]
    # Then Lambda's transient errors and throttling are retried, and listed before the catchers
    assert retried == [*LAMBDA_ERRORS, *names(TRANSIENT_ERRORS)]
    assert list(state).index("Retry") < list(state).index("Catch")
    # And the domain errors are caught by name, then everything else; no domain error is retried
    assert caught == [names(DOMAIN_ERRORS), ["States.ALL"]]
    assert not set(retried) & set(names(DOMAIN_ERRORS))
    # And only the catch-all could ever see a throttled call, once its retries are spent
    assert not set(caught[0]) & set(names(TRANSIENT_ERRORS))
    assert {catcher["Next"] for catcher in state["Catch"]} == {"Failed"}
    # And the error is kept under the step's name, so the failure's summary can name the step
    assert all(catcher["ResultPath"] == "$.failure.Step" for catcher in state["Catch"])


def test_a_queued_task_retries_the_copy_queue_after_the_transient_errors_and_for_a_bounded_time() -> None:
    # Given a task that may start a snapshot copy
    state = _ending(_flow_with_a_task(queued=True))["Step"]
    # Then its last retrier waits for the copy queue, at least a minute apart and for at most a day
    *transient, queued = state["Retry"]
    assert [e for r in transient for e in r["ErrorEquals"]] == [*LAMBDA_ERRORS, *names(TRANSIENT_ERRORS)]
    assert queued["ErrorEquals"] == names(QUEUED_ERRORS)
    assert queued["IntervalSeconds"] >= 60
    assert queued["IntervalSeconds"] * queued["MaxAttempts"] <= 24 * 3600


def test_every_cleanup_of_the_migration_waits_for_restores_still_reading_the_shared_snapshot() -> None:
    # Given the generated migration: its cleanups on success, after a failure, and before parking
    states = DEFINITIONS["MigrationStateMachine"]()["States"]
    cleanups = {
        name: state for name, state in states.items() if state.get("Resource") == "${CleanupFunctionArn}"
    }
    assert set(cleanups) == {"Cleanup", "CleanupAfterFailure", "UnshareForRedrive"}
    for name, state in cleanups.items():
        # Then each retries SharedSnapshotInUseError, at least a minute apart, for a bounded time
        (waiting,) = [r for r in state["Retry"] if r["ErrorEquals"] == names(IN_USE_ERRORS)]
        assert waiting["IntervalSeconds"] >= 60, name
        assert waiting["BackoffRate"] == 1
        assert waiting["IntervalSeconds"] * waiting["MaxAttempts"] <= 24 * 3600, name
    # And no other task does: only a cleanup raises it
    others = [
        name
        for scope in _scopes(states)
        for name, state in scope.items()
        if name not in cleanups
        and any(r["ErrorEquals"] == names(IN_USE_ERRORS) for r in state.get("Retry", []))
    ]
    assert others == []


def test_a_best_effort_task_goes_on_to_the_next_state_whatever_happens() -> None:
    # Given a cleanup task followed by a summary
    flow = _flow_with_a_task(best_effort=True)
    flow.summarize("Summarize", "Sums up.", "SummarizeFunctionArn")
    flow.add({SUMMARY_FAILED: {"Type": "Fail"}})
    state = _ending(flow)["Step"]
    # Then success and any error both lead on, the error kept apart from the run's own failure
    assert state["Next"] == "Summarize"
    assert state["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.cleanupError.Step", "Next": "Summarize"}
    ]


def test_a_failed_summary_still_ends_the_run_with_a_cause_naming_it() -> None:
    # Given a flow ending in a summary
    flow = _flow_with_a_task()
    flow.summarize("Summarize", "Sums up.", "SummarizeFunctionArn")
    flow.add({SUMMARY_FAILED: {"Type": "Fail"}})
    states = _ending(flow)
    # Then a failing summary goes to a state that names it, and from there to the one SummaryFailed state
    assert states["Summarize"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.summaryError", "Next": "SummarizeUnavailable"}
    ]
    assert states["SummarizeUnavailable"]["Next"] == SUMMARY_FAILED
    assert "'Summarize could not summarise the run" in states["SummarizeUnavailable"]["Parameters"]["cause.$"]


def test_a_failed_iteration_fails_with_its_account_and_never_under_a_reserved_name() -> None:
    # Given a Map iterator whose failure is an iteration failure
    flow = Flow(failure="Record")
    flow.task("Step", "A step.", "StepFunctionArn", run(), timeout=60, result="$.step")
    flow.add({"Done": {"Type": "Succeed"}})
    flow.iteration_failure("Record", "Failed", account="$.accountId")
    states = machine("test", flow, timeout=60)["States"]
    # Then the step's catchers lead to the record, which keeps the account with the caught error
    assert {c["Next"] for c in states["Step"]["Catch"]} == {"Record"}
    assert states["Record"]["Parameters"] == {"accountId.$": "$.accountId", "failure.$": "$.failure"}
    assert states["Record"]["ResultPath"] == "$.failure"
    # And the iteration fails with our own error (whatever it caught, States.Timeout included), the record as cause
    assert states["Failed"] == {
        "Type": "Fail",
        "Error": TARGET_FAILED,
        "CausePath": "States.JsonToString($.failure)",
    }


def test_every_lambda_task_outlasts_its_function_so_a_hung_function_reports_lambdas_timeout(
    template: SamTemplate,
) -> None:
    # Given every task of both machines that invokes one of the stack's functions
    timeouts = {f"${{{logical_id}Arn}}": spec.timeout for logical_id, spec in template.functions.items()}
    for _, scope in _generated_scopes():
        for name, state in scope.items():
            if state["Type"] != "Task":
                continue
            resource = state["Resource"]
            if resource.endswith("WaitForTokenArn}"):
                resource = state["Parameters"]["FunctionName"]
            # Then the task allows more than the function's own timeout: Lambda stops a hung function first,
            # and the run's cause says so (Sandbox.Timedout) rather than an unexplained States.Timeout
            assert state["TimeoutSeconds"] > timeouts[resource], name


def test_each_machine_catches_the_domain_errors_it_can_see_by_name() -> None:
    # Given the generated definitions, when the named catchers (all but the catch-all) are collected
    expected = {
        "MigrationStateMachine": names(DOMAIN_ERRORS),
        "CloneStateMachine": names(DOMAIN_ERRORS + CLONE_ERRORS),
    }
    for machine_id, scope in _generated_scopes():
        for name, state in scope.items():
            named = [
                c["ErrorEquals"] for c in state.get("Catch", []) if c["ErrorEquals"][0].endswith("Error")
            ]
            # Then every one lists exactly the error tuples, in their order
            assert all(errors == expected[machine_id] for errors in named), f"{machine_id}.{name}"


def test_every_wait_loop_is_bounded_by_its_attempt_counter_and_ends_in_a_fail_state() -> None:
    loops = 0
    for machine_id, scope in _generated_scopes():
        for name, wait in scope.items():
            if wait["Type"] != "Wait":
                continue
            loops += 1
            # Given a Wait state, follow it to the check and to the Choice that decides whether to loop again
            check = scope[wait["Next"]]
            choice = scope[check["Next"]]
            where = f"{machine_id}.{name}"
            assert check["Parameters"]["attempt.$"] == "$.poll.attempt", where
            assert choice["Type"] == "Choice" and choice["Default"] == name, where
            # Then the Choice compares the attempt counter the check returns against maxPollAttempts
            (bound,) = [rule for rule in choice["Choices"] if rule["Variable"] == "$.poll.attempt"]
            assert bound["NumericGreaterThanEqualsPath"] == MAX_ATTEMPTS, where
            # And its exhausted branch records WaitLimitExceeded and leads, through the failure path, to a Fail
            exhausted = scope[bound["Next"]]
            assert exhausted["Parameters"]["Error"] == "WaitLimitExceeded", where
            step, seen = exhausted["Next"], 0
            while scope[step]["Type"] != "Fail" and seen < 5:
                step, seen = scope[step]["Next"], seen + 1
            assert scope[step]["Type"] == "Fail", f"{where}: the exhausted branch never fails the run"
    # Five waits per workflow, the migration's wait for a copy in a target's Region, and the swaps of a refresh
    # that keeps the name (a migration's, a clone's); + the waits for a cluster whose master password RDS starts
    # to manage (a migration's, a clone's: README "Master credentials"); + the wait for a cluster the run
    # configured after its restore (ConfigureCluster), and for a clone configured once available (ConfigureClone);
    # + the waits for instances rebooted to apply their static parameters (a migration's, a clone's)
    assert loops == 13 + 2 + 2 + 2


def test_an_event_wait_falls_back_to_its_bounded_loop_when_the_event_never_comes() -> None:
    # Given an event wait built in a flow that catches errors
    flow = Flow(failure="Failed")
    subject = params(kind="cluster", access="$.access", identifier="$.id")
    flow.event_wait("Thing", "thing", subject, poll="PollArn", register="RegisterArn", event="RDS-EVENT-X")
    flow.mark("thingReady")
    flow.add({"Done": {"Type": "Succeed"}})
    states = _ending(flow)
    waiting = states["AwaitThing"]
    # Then the polling strategy goes straight to the loop, and otherwise the event is awaited
    assert states["ChooseThingWait"]["Choices"][0]["Next"] == "StartThingWait"
    assert states["ChooseThingWait"]["Default"] == "AwaitThing"
    # And a timeout (the heartbeat's included) goes to the loop before any other catcher can take it
    assert waiting["Catch"][0] == {
        "ErrorEquals": ["States.Timeout"],
        "ResultPath": "$.eventWait",
        "Next": "StartThingWait",
    }
    assert [c["ErrorEquals"] for c in waiting["Catch"][1:]] == [names(DOMAIN_ERRORS), ["States.ALL"]]
    assert 0 < waiting["HeartbeatSeconds"] < waiting["TimeoutSeconds"] <= 24 * 3600
    # And the event and the loop both lead on to the next state added
    assert waiting["Next"] == states["IsThingReady"]["Choices"][0]["Next"] == "MarkThingReady"


def test_a_wait_with_no_event_polls_with_back_off_unless_polling_is_asked_for() -> None:
    # Given a wait for something no RDS event announces
    flow = Flow(failure="Failed")
    subject = params(kind="snapshot", access="$.access", identifier="$.id")
    flow.event_wait("Copy", "copy", subject, poll="PollArn", register="RegisterArn")
    flow.mark("copyReady")
    states = _ending(flow)
    # Then nothing awaits an event, and the default start is the adaptive one
    assert "AwaitCopy" not in states
    assert states["ChooseCopyWait"]["Default"] == "StartCopyAdaptiveWait"
    assert states["StartCopyAdaptiveWait"]["Result"]["adaptive"] is True
    assert states["StartCopyWait"]["Result"]["adaptive"] is False
    assert states["WaitForCopy"]["SecondsPath"] == "$.poll.nextDelaySeconds"


def test_a_flow_refuses_a_next_that_goes_nowhere() -> None:
    # Given a flow whose last task leaves its Next for a state that is never added
    flow = _flow_with_a_task()
    flow.fail("Failed", "$.failure.Error", "$.failure.Cause")
    flow.add({"Late": {"Type": "Pass", "Next": None}})
    # Then building it fails, naming the state
    with pytest.raises(ValueError, match="Late goes nowhere"):
        flow.build()


def test_a_flow_refuses_a_next_outside_its_scope() -> None:
    # Given a task that catches into a failure state the flow does not have
    flow = _flow_with_a_task()
    flow.add({"Done": {"Type": "Succeed"}})
    # Then building it fails, naming the state and the missing target
    with pytest.raises(ValueError, match=r"Step goes to \['Failed', 'Failed'\]"):
        flow.build()


def test_every_placeholder_in_the_generated_asl_is_a_substitution_of_its_state_machine(
    template: SamTemplate,
) -> None:
    for machine_id, build in DEFINITIONS.items():
        # Given the ASL generated for a state machine
        placeholders = set(re.findall(r"\$\{(\w+)\}", render(build())))
        assert placeholders, machine_id
        # Then template.yaml substitutes every one of its placeholders for that state machine
        missing = placeholders - set(template.state_machines[machine_id].substitutions)
        assert not missing, f"{machine_id}: no DefinitionSubstitutions for {sorted(missing)}"
