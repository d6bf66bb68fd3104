"""How `ferry` shows a run: the step-by-step progress, the end summary, and the report both are read from.

`ferry local run` (in the twin) and `ferry watch` / `ferry start --follow` (in AWS) read the same execution
history, so they print the same lines; only where the counts and the duration come from differs (the twin
counts its own Lambda invocations and runs on twin time; in AWS both come from the history).
"""

from __future__ import annotations

import json
from typing import Any, TextIO

__all__ = [
    "ProgressPrinter",
    "execution_report",
    "history_seconds",
    "lambda_invocations",
    "print_outcome",
]

# State types worth a line of their own while a run is followed; Pass marks and Choices are noise.
_SHOWN_ENTERED = {"TaskStateEntered", "MapStateEntered", "FailStateEntered"}
# The history event that ends an execution, and where its error and cause are.
_END_DETAILS = {
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
}


class ProgressPrinter:
    """Prints each step as the execution history reports it, at its time from the start of the execution."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.last_status: dict[str, str] = {}
        self.started: Any = None
        self.at: Any = None

    def on_event(self, event: dict[str, Any]) -> None:
        self.at = event["timestamp"]
        if self.started is None:
            self.started = self.at
        kind = event["type"]
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
        if kind in _SHOWN_ENTERED and details and not details["name"].startswith("Check"):
            self._line(details["name"])
        elif kind == "TaskStateExited" and details and details["name"].startswith("Check"):
            output = json.loads(details.get("output") or "{}").get("poll", {})
            status = str(output.get("status"))
            key = f"{details['name']}"
            if self.last_status.get(key) != status or output.get("ready"):
                self._line(f"{details['name']}: {status} (check {output.get('attempt')})")
                self.last_status[key] = status
        elif kind.endswith("Failed") and kind != "ExecutionFailed":
            failed = event.get(_details_key(event)) or {}
            self._line(f"! {kind}: {failed.get('error', '')}")

    def _line(self, text: str) -> None:
        seconds = int((self.at - self.started).total_seconds())
        self.out.write(f"[{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}] {text}\n")
        self.out.flush()


def _details_key(event: dict[str, Any]) -> str:
    for key in event:
        if key.endswith("EventDetails"):
            return key
    return ""


def execution_report(description: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """What the history and DescribeExecution say about a run that ended: its status, counts, timeline, and
    its output or its error, cause and failing state."""
    status = description["status"]
    report: dict[str, Any] = {
        "status": status,
        "executionArn": description["executionArn"],
        "stateTransitions": sum(1 for e in history if e["type"].endswith("StateEntered")),
        "historyEvents": len(history),
        # Seconds from the start at which each state was entered (twin seconds in the twin: the same on any
        # machine, so two runs of one world and input can be compared line by line).
        "timeline": _timeline(history),
    }
    if status == "SUCCEEDED":
        report["output"] = json.loads(description.get("output") or "null")
    else:
        ended = _end_details(history)
        report["error"] = description.get("error") or ended.get("error")
        report["cause"] = description.get("cause") or ended.get("cause")
        report["failedState"] = _failed_state(history)
    return report


def history_seconds(history: list[dict[str, Any]]) -> float:
    """Seconds from the first to the last event of the history (its own clock: twin time in the twin)."""
    if not history:
        return 0.0
    return float((history[-1]["timestamp"] - history[0]["timestamp"]).total_seconds())


def lambda_invocations(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The Lambda invocations the execution scheduled, in total and per function, as the history records
    them: a Task state whose Resource is a function ARN (LambdaFunctionScheduled) or the lambda:invoke
    integration (TaskScheduled with resourceType lambda)."""
    by_function: dict[str, int] = {}
    for event in history:
        if event["type"] == "LambdaFunctionScheduled":
            function = str((event.get("lambdaFunctionScheduledEventDetails") or {}).get("resource", "?"))
        elif event["type"] == "TaskScheduled":
            details = event.get("taskScheduledEventDetails") or {}
            if details.get("resourceType") != "lambda":
                continue
            function = str(json.loads(details.get("parameters") or "{}").get("FunctionName", "?"))
        else:
            continue
        name = function.rsplit(":function:", 1)[-1].split(":", 1)[0]
        by_function[name] = by_function.get(name, 0) + 1
    return {"total": sum(by_function.values()), "byFunction": dict(sorted(by_function.items()))}


def _end_details(history: list[dict[str, Any]]) -> dict[str, Any]:
    for event in reversed(history):
        key = _END_DETAILS.get(event["type"])
        if key:
            return dict(event.get(key) or {})
    return {}


def _timeline(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not history:
        return []
    start = history[0]["timestamp"]
    return [
        {"at": (e["timestamp"] - start).total_seconds(), "state": e["stateEnteredEventDetails"]["name"]}
        for e in history
        if e["type"].endswith("StateEntered")
    ]


def _failed_state(history: list[dict[str, Any]]) -> str | None:
    """The state whose failure ended the run: the one entered last before the first failure event."""
    last_entered: str | None = None
    for event in history:
        details = event.get("stateEnteredEventDetails")
        if details:
            last_entered = details["name"]
        if event["type"] in ("TaskFailed", "LambdaFunctionFailed", "MapStateFailed", "FailStateEntered"):
            return last_entered
    return last_entered


def print_outcome(out: TextIO, report: dict[str, Any], took: str) -> None:
    """The end summary; `took` says how long the run took, on whose clock (``4260 twin seconds``)."""
    counts = (
        f"{report['stateTransitions']} state transitions, {report['lambdaInvocations']['total']} Lambda invocations, "
        f"{report['historyEvents']} history events"
    )
    if report["status"] != "SUCCEEDED":
        out.write(
            f"\n{report['status']} in state {report.get('failedState')}\n  error: {report.get('error')}\n"
        )
        out.write(f"  cause: {report.get('cause')}\n  {counts}\n")
        return
    output = report["output"]
    out.write(f"\nSUCCEEDED: run {output['runId']} in {took} ({counts})\n")
    if isinstance(output, dict) and output.get("kind") == "clone":
        _print_clone(out, output)
        return
    out.write(f"  source {output['source']['accountId']}: {output['source']['snapshotArn']} ")
    out.write(f"(encryption: {output['source']['encryption']})\n")
    for target in output["targets"]:
        out.write(
            f"  target {target['accountId']}: {target['clusterArn']}\n    endpoint {target['endpoint']}\n"
        )
        for timing in target["timings"]:
            out.write(f"    {timing['step']:<18} {timing['seconds']:>8.0f} s\n")
    _print_timings_and_cleanup(out, output["timings"]["source"] + output["timings"]["cleanup"], output)


def _print_clone(out: TextIO, output: dict[str, Any]) -> None:
    """The body of a successful clone run's summary (statemachine/clone.asl.json's output)."""
    clone = output["clone"]
    kind = "cross-account clone" if output["crossAccount"] else "clone"
    out.write(f"  source {output['source']['accountId']}: {output['source']['clusterArn']} ")
    out.write(f"(encryption: {output['source']['encryption']})\n")
    out.write(f"  {kind} {clone['accountId']}: {clone['clusterArn']}\n")
    out.write(f"    CrossAccountClone: {clone['crossAccountClone']}, clone group {clone['cloneGroupId']}\n")
    out.write(f"    endpoint {clone['endpoint']}\n")
    for arn in clone["instanceArns"]:
        out.write(f"    instance {arn}\n")
    if output.get("share"):
        invitation = output["share"].get("invitationArn") or "none (same organization)"
        out.write(f"  shared through {output['share']['resourceShareArn']}; invitation: {invitation}\n")
    refresh = output.get("refresh")
    if refresh:
        retired = ", ".join(refresh["retiredClusterArns"]) or "nothing yet (first refresh)"
        out.write(f"  refresh of {refresh['replaces']}: retired {retired}\n")
    _print_timings_and_cleanup(out, output["timings"], output)


def _print_timings_and_cleanup(out: TextIO, timings: list[dict[str, Any]], output: dict[str, Any]) -> None:
    for timing in timings:
        out.write(f"  {timing['step']:<26} {timing['seconds']:>8.0f} s\n")
    for action in output["cleanup"].get("actions", []):
        out.write(f"  cleanup: {action['action']} {action['arn']}\n")
    if output["cleanup"].get("error"):
        out.write(f"  cleanup FAILED: {output['cleanup']['error']}\n")
