"""The clone run's output: the clone, its endpoints, what a refresh retired, timings; or a readable failure."""

from __future__ import annotations

from typing import Any

from aurora_ferry.core import (
    explain_run_failure,
    mark_at,
    master_credentials_summary,
    seconds_between,
    step_places,
)

# Marks the clone state machine records, in order; each step's time is the gap from the previous mark present.
CLONE_STAGES = (
    ("started", None),
    ("shared", "share (RAM)"),
    ("cloneReady", "clone cluster"),
    ("instancesReady", "create instances"),
    ("retired", "retire old dev cluster"),
    ("cleanedUp", "cleanup"),
)
# The steps that do not act in the target account (the clone's, where most of the work happens), under where
# they act.
_PLACES = {
    "no AWS call: it checks the input": ("ValidateCloneInput",),
    "read-only checks in source account {source} and target account {target}": ("InspectCloneSource",),
    "source account {source}": ("ShareSourceCluster", "CleanupClone", "CleanupCloneAfterFailure"),
}


def summarize_clone_success(state: dict[str, Any], finished_at: str) -> dict[str, Any]:
    marks = state.get("marks", {})
    request = state["input"]
    source = state["checked"]["source"]
    clone = state["clone"]
    verified = state.get("verified", {})
    instances = state.get("instances", {}).get("instanceArns", [])
    ready = marks.get("cloneReady", {}) if isinstance(marks.get("cloneReady"), dict) else {}
    target_account = request["target"]["accountId"]
    created = [{"accountId": target_account, "arn": clone["clusterArn"], "kind": "clone cluster"}]
    created += [{"accountId": target_account, "arn": arn, "kind": "clone instance"} for arn in instances]
    share = state.get("share")
    if share:
        created.append(
            {
                "accountId": request["source"]["accountId"],
                "arn": share["resourceShareArn"],
                "kind": "RAM share",
            }
        )
    cleanup = dict(state.get("cleanup") or {})
    refresh = None
    if "refresh" in request:
        retired = state.get("retired") or {}
        refresh = {
            "replaces": request["refresh"]["replaces"],
            "retiredClusterArns": retired.get("clusterArns", []),
            "actions": (state.get("retire") or {}).get("actions", []) + retired.get("actions", []),
        }
    return {
        "status": "SUCCEEDED",
        "kind": "clone",
        "runId": state["runId"],
        "crossAccount": bool(state["plan"]["crossAccount"]),
        "source": {
            "accountId": request["source"]["accountId"],
            "region": request["source"]["region"],
            "clusterArn": source["arn"],
            "encryption": source.get("encryption"),
        },
        "clone": {
            "accountId": target_account,
            "clusterArn": clone["clusterArn"],
            "clusterIdentifier": clone["clusterIdentifier"],
            "endpoint": ready.get("endpoint"),
            "readerEndpoint": ready.get("readerEndpoint"),
            "instanceArns": instances,
            "crossAccountClone": verified.get("crossAccountClone"),
            "cloneGroupId": verified.get("cloneGroupId"),
            "kmsKeyId": verified.get("kmsKeyId"),
            # Whose master password the clone has, and where its own is (README "Master credentials").
            **master_credentials_summary(state.get("credentials")),
        },
        "share": (
            {
                "resourceShareArn": share["resourceShareArn"],
                "invitationArn": (marks.get("shared") or {}).get("invitationArn"),
            }
            if share
            else None
        ),
        "refresh": refresh,
        "created": created,
        "cleanup": cleanup,
        "timings": _timings(marks),
        "totalSeconds": seconds_between(mark_at(marks, "started"), finished_at),
    }


def summarize_clone_failure(state: dict[str, Any]) -> dict[str, str]:
    """Error name and a one-paragraph cause, with what cleanup did, for the CloneFailed state."""
    where = step_places(_PLACES, "target account {target}", state)
    error, cause = explain_run_failure(state, where, "cleanup")
    if "runId" in state:
        cause += f" | run {state['runId']}; the source cluster was not modified"
        if isinstance(state.get("input"), dict) and "refresh" in state["input"]:
            if "retire" in state:
                cause += "; the old dev cluster was being retired when the run failed (see the actions above)"
            else:
                cause += " and the dev cluster being refreshed was kept"
    return {"error": error, "cause": cause}


def _timings(marks: dict[str, Any]) -> list[dict[str, Any]]:
    timings: list[dict[str, Any]] = []
    previous: str | None = None
    for name, label in CLONE_STAGES:
        at = mark_at(marks, name)
        if at is None:
            continue
        if previous is not None and label is not None:
            timings.append({"step": label, "seconds": seconds_between(previous, at)})
        previous = at
    return timings
