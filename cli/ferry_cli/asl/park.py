"""The park path of a migration that a transient cause stopped: unshare, keep the intermediates, fail as parked
until the execution is redriven, then share again and resume at the step that failed (README "Redrive")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferry_cli.asl.states import CLEANUP_TIMEOUT_SECONDS, State, catches, params, task_state

if TYPE_CHECKING:
    from ferry_cli.asl.builder import Flow


def add_park_path(
    flow: Flow,
    cleanup: str,
    parameters: State,
    *,
    summarize: str,
    reshare: tuple[str, State],
    shared_mark: str,
    in_use: bool = False,
) -> None:
    """Where `park` leads, for a redrive to resume the run (README "Redrive").

    `ParkRun` keeps the caught error and the execution's redrive count; the `cleanup` task (`parameters` and
    park=true) unshares and keeps the intermediates for the redrive; `ParkedUntilRedrive` (`summarize`) then fails
    the execution with RunParkedError, naming the step and account, and catches nothing, so that a redrive
    runs it again: it then lets the run go on. If the run had shared its snapshot (`shared_mark` present), the
    `reshare` task (resource, parameters) shares it again, and `ResumeRun` goes back to where the parked step
    resumes. A cleanup or reshare that fails fails the run (through `failure`), which cleans up.
    """
    if flow.park is None:
        raise ValueError("add_park_path needs a flow that parks")
    cleanup_state = task_state(
        "Unshares this run's snapshots and keeps its intermediates for a redrive (recorded for deletion).",
        cleanup,
        {**parameters, "park": True},
        timeout=CLEANUP_TIMEOUT_SECONDS,
        result="$.park.cleanup",
        in_use=in_use,
    )
    await_state = task_state(
        "Fails the run as parked until the execution is redriven; on a redrive lets it resume.",
        summarize,
        params(state="$", outcome="parked", redriveCount="$$.Execution.RedriveCount"),
        timeout=60,
        result="$.park.resumed",
    )
    share_resource, share_parameters = reshare
    reshare_state = task_state(
        "Shares the snapshot again with the targets, as the parked run had.",
        share_resource,
        share_parameters,
        timeout=300,
        result="$.shared",
    )
    resume_rules = [
        {"Variable": f"$.park.failure.{step}", "IsPresent": True, "Next": state}
        for step, state in flow.resume_points.items()
    ]
    flow.add(
        {
            flow.park: {
                "Type": "Pass",
                "Comment": "Keeps the caught error and the redrive count the run parks at.",
                "Parameters": params(failure="$.failure", redriveCount="$$.Execution.RedriveCount"),
                "ResultPath": "$.park",
                "Next": "UnshareForRedrive",
            },
            "UnshareForRedrive": {
                **cleanup_state,
                "Catch": catches(flow.errors, flow.failure, "UnshareForRedrive"),
                "Next": "ForgetFailure",
            },
            "ForgetFailure": {
                "Type": "Pass",
                "Comment": "A resumed step that fails again is caught afresh.",
                "Result": {},
                "ResultPath": "$.failure",
                "Next": "ParkedUntilRedrive",
            },
            "ParkedUntilRedrive": {**await_state, "Next": "IsResharing"},
            "IsResharing": {
                "Type": "Choice",
                "Comment": "Only a run that had shared its snapshot shares it again.",
                "Choices": [{"Variable": shared_mark, "IsPresent": True, "Next": "Reshare"}],
                "Default": "ResumeRun",
            },
            "Reshare": {
                **reshare_state,
                "Catch": catches(flow.errors, flow.failure, "Reshare"),
                "Next": "ResumeRun",
            },
            "ResumeRun": {
                "Type": "Choice",
                "Comment": "Back to the step the run parked from.",
                "Choices": resume_rules,
                "Default": flow.failure,
            },
        }
    )
