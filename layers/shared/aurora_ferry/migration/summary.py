"""The run's output: what was created where, endpoints, per-step timings, or a readable failure."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

from aurora_ferry.core import (
    RunParkedError,
    cleanup_action,
    explain_run_failure,
    mark_at,
    master_credentials_summary,
    seconds_between,
    step_places,
)

# Stage marks recorded by the state machine, in order; each step's time is the gap to the previous mark.
SOURCE_STAGES = (
    ("started", None),
    ("sourceSnapshotReady", "source snapshot"),
    ("shareCopyReady", "share copy (re-encrypt)"),
    ("shared", "share"),
)
TARGET_STAGES = (
    # A copy in two steps only: the source account's copy into the target's Region, and its share there.
    ("regionCopyReady", "copy into the target's Region"),
    ("targetCopyReady", "target copy"),
    ("clusterReady", "restore cluster"),
    ("instancesReady", "create instances"),
    # A refresh in place only: the renames, until the old cluster is being deleted.
    ("swapped", "swap names"),
)
# The steps that act in no single account, under where they act; every other step outside the Map acts in the
# source account.
_PLACES = {
    "no AWS call: it checks the input": ("ValidateInput",),
    "read-only checks in every account of the run": ("Preflight",),
    "every account of the run": ("Cleanup", "CleanupAfterFailure"),
}


def _instance_arns(result: dict[str, Any]) -> list[str]:
    """A target's instance ARNs, from its cluster's ARN and the instance identifiers its Map result carries: an
    instance's ARN is its cluster's with ``db:<identifier>`` for ``cluster:<identifier>``
    (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Tagging.ARN.Constructing.html)."""
    prefix = str(result["cluster"]["clusterArn"]).rsplit(":cluster:", 1)[0]
    return [f"{prefix}:db:{identifier}" for identifier in result["instances"]["instanceIdentifiers"]]


def summarize_success(state: dict[str, Any], finished_at: str) -> dict[str, Any]:
    marks = state.get("marks", {})
    targets = []
    for result in state.get("targets", []):
        target_marks = result.get("marks", {})
        targets.append(
            {
                "accountId": result["accountId"],
                "clusterArn": result["cluster"]["clusterArn"],
                "clusterIdentifier": result["cluster"]["clusterIdentifier"],
                "endpoint": result.get("endpoint"),
                "readerEndpoint": result.get("readerEndpoint"),
                "instanceArns": _instance_arns(result),
                # Restored straight from the shared snapshot (README "Direct restore"), or from a copy made here.
                **(
                    {"restoredFromSharedSnapshot": result["copy"]["arn"]}
                    if result["copy"].get("direct")
                    else {"snapshotCopyArn": result["copy"]["arn"]}
                ),
                **({"replaced": result["replaced"]} if result.get("replaced") else {}),
                # Whose master password the cluster has, and where its own is (README "Master credentials").
                **master_credentials_summary(result.get("credentials")),
                # The source's parameters not copied into the target's parameter groups because they name resources
                # of the source account, as "group/parameter" (README "Parameter groups").
                **(
                    {"parametersNotCopied": result["parametersNotCopied"]}
                    if result.get("parametersNotCopied")
                    else {}
                ),
                # The source account's copy in the target's Region (options.crossRegionCopy "two-step").
                **(
                    {"regionCopyArn": result["regionCopy"]["arn"]}
                    if result.get("regionCopy", {}).get("arn")
                    else {}
                ),
                "timings": _timings(
                    [("shared", mark_at(marks, "shared"))]
                    + [
                        (name, mark_at(target_marks, name))
                        for name, _ in TARGET_STAGES
                        # A direct restore copies nothing: its restore is timed from the share.
                        if not (name == "targetCopyReady" and result["copy"].get("direct"))
                        and not (name == "regionCopyReady" and not result.get("regionCopy", {}).get("arn"))
                    ],
                    dict(TARGET_STAGES),
                ),
            }
        )
    source_timings = _timings(
        [(name, mark_at(marks, name)) for name, _ in SOURCE_STAGES], dict(SOURCE_STAGES)
    )
    tail = _timings(
        [("targetsReady", mark_at(marks, "targetsReady")), ("cleanedUp", mark_at(marks, "cleanedUp"))],
        {"cleanedUp": "cleanup"},
    )
    created = [_created(state.get("source"), "source snapshot"), _created(state.get("share"), "share copy")]
    source_account = state["input"]["source"]["accountId"]
    # Targets of one Region share its copy: listed once.
    created += [
        {"accountId": source_account, "arn": arn, "kind": "copy in a target's Region"}
        for arn in sorted({t["regionCopyArn"] for t in targets if "regionCopyArn" in t})
    ]
    created += [
        {"accountId": t["accountId"], "arn": t["snapshotCopyArn"], "kind": "target snapshot copy"}
        for t in targets
        if "snapshotCopyArn" in t
    ]
    created += [
        {"accountId": t["accountId"], "arn": t["clusterArn"], "kind": "target cluster"} for t in targets
    ]
    created += [
        {"accountId": t["accountId"], "arn": arn, "kind": "target instance"}
        for t in targets
        for arn in t["instanceArns"]
    ]
    cleanup = state.get("cleanup") or {}
    return {
        "status": "SUCCEEDED",
        "runId": state["runId"],
        "source": {
            "accountId": state["input"]["source"]["accountId"],
            "region": state["input"]["source"]["region"],
            "snapshotArn": state["source"]["arn"],
            "encryption": state["source"].get("encryption"),
            "sharedSnapshotArn": state["share"]["arn"],
        },
        "targets": targets,
        "created": [entry for entry in created if entry],
        "cleanup": cleanup,
        # Warnings the preflight raised but that did not stop the run (for example an unreadable key policy).
        "preflightFindings": [
            f for f in state.get("preflight", {}).get("findings", []) if f.get("severity") != "info"
        ],
        "timings": {"source": source_timings, "cleanup": tail},
        "totalSeconds": seconds_between(mark_at(marks, "started"), finished_at),
    }


def summarize_failure(state: dict[str, Any]) -> dict[str, str]:
    """Error name and a one-paragraph cause, with what cleanup did, for the Fail state."""
    where = step_places(_PLACES, "source account {source}", state)
    policy = (state.get("cleanup") or {}).get("policy")
    error, cause = explain_run_failure(state, where, f"cleanup ({policy})", _cleanup_action)
    if "runId" in state:
        cause += f" | run {state['runId']}; the source cluster and snapshots the run did not create were not modified"
    return {"error": error, "cause": cause}


def await_redrive(state: dict[str, Any], redrive_count: int) -> dict[str, int]:
    """The parked run's last state: it fails the execution with RunParkedError (a cause naming the failed step,
    its account and what was unshared and kept) until the execution is redriven, and lets the redriven one go
    on to resume. `redrive_count` is the execution's ($$.Execution.RedriveCount); the run parked at the count
    kept in `$.park.redriveCount`, so a run that parks again after a redrive waits for the next one."""
    park = state.get("park") or {}
    if redrive_count > int(park.get("redriveCount", 0)):
        return {"redriveCount": redrive_count}
    parked = summarize_failure({**state, "failure": park.get("failure", {}), "cleanup": park.get("cleanup")})
    raise RunParkedError(
        f"{parked['cause']} | parked after {parked['error']}: nothing is shared; redrive this execution "
        "within 14 days (RedriveExecution) to resume at the step that failed, or leave it and the scheduled "
        'retry deletes what was kept (README "Redrive")'
    )


def _created(snapshot: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    if not snapshot or not snapshot.get("createdByRun"):
        return {}
    return {"accountId": snapshot["accountId"], "arn": snapshot["arn"], "kind": kind}


def _timings(points: list[tuple[str, str | None]], labels: dict[str, str | None]) -> list[dict[str, Any]]:
    timings = []
    for (_, start), (name, end) in pairwise(points):
        label = labels.get(name)
        if label and start and end:
            timings.append({"step": label, "seconds": seconds_between(start, end)})
    return timings


def _cleanup_action(action: Mapping[str, Any]) -> str:
    text = cleanup_action(action)
    if "deleteAfter" in action:
        text += f" (for a redrive; deleted by the scheduled retry after {action['deleteAfter']})"
    if "retryUntil" in action:
        text += f" (not deletable yet: deleted once available by the scheduled retry, until {action['retryUntil']})"
    return text
