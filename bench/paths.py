"""Restore path: a target restored straight from the shared snapshot versus copied in its account first.

Part of ``make bench`` (bench.waits); alone: ``.venv/bin/python -m bench.paths``. For each case (the world's
durations, and 2-hour copies) one twin (worlds/two-accounts.json, the world events/migrate-two-targets.json is
written for) runs two migrations of that sample side by side: ``options.cleanup: "delete"``, whose targets are
to be restored directly from the shared snapshot (issue 13), and ``"keep-target-copies"``, which copies the
snapshot in each target account and restores from the copy. Per run, twin seconds from its start (its first
history event) to the last target iteration entering MarkClusterReady (every target cluster available) and
MarkInstancesReady (and its instances): the moments the run itself saw, entered in the twin second the RDS
event arrives (the twin delivers it in the second the resource becomes available; the resources' own ready
times are kept in the raw results to show that). Target copies counts the copies the run made in target
accounts, read from the twin's resources, so the table says which path each run really took.

The target: direct restore ends at least one copy duration (the world's snapshotCopy) before copy-then-restore,
with instances. Until the product restores directly both runs take the same path, and the target is missed.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
from datetime import datetime
from typing import Any

from aurora_ferry.core import naming
from bench.bounds import direct_restore_met
from bench.results import REPO, save, targets_table
from ferry_cli.twin.lifecycle import Transition
from ferry_cli.twin.runtime import Twin
from ferry_cli.twin.world import load_world

POLICIES = ("delete", "keep-target-copies")
SHORT = {"delete": "del", "keep-target-copies": "keep"}
# (label, snapshot copy seconds or None for the world's own)
CASES: tuple[tuple[str, float | None], ...] = (
    ("default world", None),
    ("2 h copies", 7200.0),
)


def _inputs() -> dict[str, dict[str, Any]]:
    base = json.loads((REPO / "events" / "migrate-two-targets.json").read_text(encoding="utf-8"))
    runs = {}
    for policy in POLICIES:
        event = copy.deepcopy(base)
        event["options"]["cleanup"] = policy
        for target in event["targets"]:
            target["clusterIdentifier"] = f"{target['clusterIdentifier']}-{SHORT[policy]}"
        runs[policy] = event
    return runs


def _entered(history: list[dict[str, Any]], state: str) -> list[datetime]:
    return [e["timestamp"] for e in history if (e.get("stateEnteredEventDetails") or {}).get("name") == state]


def measure(
    history: list[dict[str, Any]], finished: list[Transition], run_id: str, event: dict[str, Any]
) -> dict[str, Any]:
    """Twin seconds from the run's start to its targets' clusters and instances available, and what it made."""
    start = history[0]["timestamp"]
    targets = event["targets"]
    seen = {state: _entered(history, state) for state in ("MarkClusterReady", "MarkInstancesReady")}
    for state, stamps in seen.items():
        if len(stamps) != len(targets):
            raise SystemExit(
                f"bench: run {run_id} entered {state} {len(stamps)} times for {len(targets)} targets"
            )
    ready = {(t.account_id, t.identifier): t.ready_at for t in finished}
    clusters = [ready[(t["accountId"], t["clusterIdentifier"])] for t in targets]
    instances = [
        ready[(t["accountId"], f"{t['clusterIdentifier']}-{i + 1}")]
        for t in targets
        for i in range(t.get("instanceCount", 1))
    ]
    target_accounts = {t["accountId"] for t in targets}
    return {
        "clustersSeconds": (max(seen["MarkClusterReady"]) - start).total_seconds(),
        "instancesSeconds": (max(seen["MarkInstancesReady"]) - start).total_seconds(),
        "clustersReadySeconds": (max(clusters) - start).total_seconds(),
        "instancesReadySeconds": (max(instances) - start).total_seconds(),
        "endSeconds": (history[-1]["timestamp"] - start).total_seconds(),
        "targetCopies": sum(
            1
            for t in finished
            if t.kind == "cluster-snapshot"
            and t.busy_status == "copying"
            and t.status == "available"
            and t.account_id in target_accounts
            and t.identifier == f"ferry-{run_id}-copy"
        ),
    }


def compare(copy_seconds: float | None, timeout: float) -> dict[str, Any]:
    """Both policies side by side in one twin whose copies take `copy_seconds` (the world's own when None)."""
    world = load_world(REPO / "worlds" / "two-accounts.json")
    durations = dataclasses.replace(
        world.durations, snapshot_copy=copy_seconds or world.durations.snapshot_copy
    )
    inputs = _inputs()
    names = {p: f"bench-path-{SHORT[p]}" for p in POLICIES}
    result: dict[str, Any] = {"copySeconds": durations.snapshot_copy}
    twin_world = dataclasses.replace(world, durations=durations)
    # Two runs on threads touch moto's RDS at once; serialised as AWS's API is (bench.concurrency).
    with Twin.started(twin_world, REPO / "template.yaml") as twin:
        arns = {p: twin.start(inputs[p], name=names[p]) for p in POLICIES}
        ended: dict[str, dict[str, Any]] = {}

        def follow(policy: str) -> None:
            ended[policy] = twin.wait(arns[policy], timeout_real_seconds=timeout)

        threads = [threading.Thread(target=follow, args=(p,)) for p in POLICIES]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        finished = list(twin.rules.finished)
        for policy in POLICIES:
            if ended[policy]["status"] != "SUCCEEDED":
                raise SystemExit(f"bench: the {policy} run ended {ended[policy]['status']}")
            run_id = naming.run_id_from_execution_name(names[policy])
            result[policy] = measure(twin.history(arns[policy]), finished, run_id, inputs[policy])
    return result


def run_all(timeout: float) -> list[dict[str, Any]]:
    return [{"case": label, **compare(seconds, timeout)} for label, seconds in CASES]


def report(cases: list[dict[str, Any]]) -> tuple[list[str], list[tuple[str, bool]]]:
    """The table of both cases, and per case the target: direct at least one copy duration faster."""
    lines = [
        "",
        "Restore path, events/migrate-two-targets.json (two targets), both policies side by side per twin: "
        "twin s from the run's start to every target cluster available / with its instances (MarkClusterReady"
        ' / MarkInstancesReady entered). "delete" is to restore directly from the shared snapshot; '
        '"keep-target-copies" copies it in each target account first.',
        "",
        "| case (copy duration) | delete: clusters / with instances | delete: target copies "
        "| keep-target-copies: clusters / with instances | keep: target copies "
        "| keep - delete, with instances |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    checks: list[tuple[str, bool]] = []
    for case in cases:
        d, k, copy_s = case["delete"], case["keep-target-copies"], case["copySeconds"]
        saved = k["instancesSeconds"] - d["instancesSeconds"]
        lines.append(
            f"| {case['case']} ({copy_s:g} s) | {d['clustersSeconds']:g} / {d['instancesSeconds']:g} "
            f"| {d['targetCopies']} | {k['clustersSeconds']:g} / {k['instancesSeconds']:g} "
            f"| {k['targetCopies']} | {saved:g} |"
        )
        checks.append(
            (
                f"{case['case']}: direct restore (delete) has every target with instances >= one copy "
                f"({copy_s:g} s) sooner than copy-then-restore ({d['instancesSeconds']:g} vs "
                f"{k['instancesSeconds']:g} s, {saved:g} s sooner)",
                direct_restore_met(d["instancesSeconds"], k["instancesSeconds"], copy_s),
            )
        )
    return lines, checks


def main() -> int:
    started = time.monotonic()
    cases = run_all(1800.0)
    lines, checks = report(cases)
    table, met = targets_table(checks)
    text = "\n".join(lines + table) + "\n"
    print(text)
    raw = {"cases": cases, "realSeconds": time.monotonic() - started}
    print(f"written to {save('paths', text, raw)} ({time.monotonic() - started:.0f} s)")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
