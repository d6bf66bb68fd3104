"""Ten migrations at once from one source account into one target account, against Aurora's copy limit.

Part of ``make bench`` (bench.waits); alone: ``.venv/bin/python -m bench.concurrency [--policy P ...]``.
One twin of worlds/ten-migrations.json (prod with ten clusters under a customer-managed key, so every run makes
a share copy in prod; one dev target account) per cleanup policy and case (CASES: the world's durations, then
off the queue's retry grid, then 2-hour copies). Ten inputs from TEMPLATE, one per source cluster, each with its
own target cluster, all started in the same twin second (the starting thread is a worker of the twin's clock,
so twin time stands still until it waits), followed to their ends (each RDS call of the twin is atomic:
ferry_cli.twin.atomic).

Aurora allows five cluster snapshot copies in progress per destination Region and account; the twin refuses a
sixth and the product queues (CopyQueueFullError, retried every 300 s). The lower bound (bench.bounds) is the
list schedule of the copy stages on five slots per account, plus the stages nothing limits:

    bound = S + (ceil(n / 5) + t) * C + R + I

with n = 10 runs, S, C, R, I the world's snapshotCreate, snapshotCopy, clusterRestore and instanceCreate, and
t = 1 if the runs copy in the target account (read from the twin's resources: the copies the runs made there),
else 0. Both bounds are reported; the target is the one of the path the runs took (whether that path is the
one the policy should take is bench.paths's target, not this one's).

Measured: total twin time (the first start to the last end), the ratio to the bound (target <= 1.25), state
transitions per run (StateEntered events: min / median / max), the largest history (events), and where the
time above the bound went: per account the copies' queue time (the run asking for the copy to the copy
starting), the slot-seconds a slot stood free while a copy was queued (the cost of the 300 s retry), the
queue refusals, and the copies' detection delays (available to the run's Mark state).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import itertools
import statistics
import threading
import time
from datetime import datetime
from typing import Any

from aurora_ferry.core import naming
from bench.bounds import lower_bound
from bench.results import REPO, save, targets_table
from ferry_cli.twin.lifecycle import Transition
from ferry_cli.twin.runtime import Twin
from ferry_cli.twin.snapshots import MAX_COPIES_IN_PROGRESS
from ferry_cli.twin.world import World, load_world

WORLD = REPO / "worlds" / "ten-migrations.json"
POLICIES = ("delete", "keep-target-copies")
SHORT = {"delete": "del", "keep-target-copies": "keep"}
RATIO_MAX = 1.25
# (label, seconds added to every duration, snapshot copy seconds or None for the world's own). The world's
# copies (900 s) end on the 300 s grid of the queue's retries, so a queued copy is retried the second a slot
# frees; 17 s off that grid, as real durations are, shows what the retry interval costs.
CASES: tuple[tuple[str, float, float | None], ...] = (
    ("world durations", 0.0, None),
    ("every duration +17 s", 17.0, None),
    ("2 h copies, every duration +17 s", 17.0, 7200.0),
)
SOURCE, TARGET = "111111111111", "222222222222"
# Every run's input but its source cluster, its target cluster and its cleanup policy.
TEMPLATE: dict[str, Any] = {
    "source": {
        "accountId": SOURCE,
        "region": "eu-west-1",
        "roleArn": f"arn:aws:iam::{SOURCE}:role/aurora-ferry-source",
        "externalId": "ferry-prod-7f3a",
        "clusterIdentifier": None,
    },
    "shareKmsKeyArn": f"arn:aws:kms:eu-west-1:{SOURCE}:key/0b5e1c3a-6f1d-4f7e-9a51-2c8e7d1f0a11",
    "targets": [
        {
            "accountId": TARGET,
            "roleArn": f"arn:aws:iam::{TARGET}:role/aurora-ferry-target",
            "externalId": "ferry-prod-7f3a",
            "kmsKeyArn": f"arn:aws:kms:eu-west-1:{TARGET}:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6",
            "clusterIdentifier": None,
            "instanceClass": "db.r6g.large",
        }
    ],
    "options": {"pollIntervalSeconds": 30, "maxPollAttempts": 720, "cleanup": None},
}
# The state a run enters when it asks for the copy (the queue retries the task, never re-enters it), and the
# Mark state entered once the run saw the copy available.
COPY_STATES = {
    "share": ("PrepareShareCopy", "MarkShareCopyReady"),
    "copy": ("CopyToTarget", "MarkTargetCopyReady"),
}


def inputs(world: World, policy: str) -> dict[str, dict[str, Any]]:
    """Execution name -> input, one per source cluster of the world's source account."""
    runs = {}
    for cluster in world.account(SOURCE).clusters:
        event = copy.deepcopy(TEMPLATE)
        event["source"]["clusterIdentifier"] = cluster.identifier
        event["targets"][0]["clusterIdentifier"] = f"{cluster.identifier}-{SHORT[policy]}"
        event["options"]["cleanup"] = policy
        runs[f"bench-ten-{SHORT[policy]}-{cluster.identifier}"] = event
    return runs


def _entered(history: list[dict[str, Any]], state: str) -> list[datetime]:
    return [e["timestamp"] for e in history if (e.get("stateEnteredEventDetails") or {}).get("name") == state]


def _refusals(history: list[dict[str, Any]]) -> int:
    return sum(
        1
        for e in history
        for key, details in e.items()
        if key.endswith("EventDetails") and isinstance(details, dict)
        if details.get("error") == "CopyQueueFullError"
    )


def slot_idle_seconds(copies: list[dict[str, Any]], slots: int) -> float:
    """Slot-seconds a slot stood free while a copy was queued: sum over time of min(free slots, queued copies),
    from each copy's `wanted`, `started` and `ready` (twin seconds)."""
    points = sorted({p for c in copies for p in (c["wanted"], c["started"], c["ready"])})
    idle = 0.0
    for now, then in itertools.pairwise(points):
        running = sum(1 for c in copies if c["started"] <= now < c["ready"])
        queued = sum(1 for c in copies if c["wanted"] <= now < c["started"])
        idle += min(max(0, slots - running), queued) * (then - now)
    return idle


def _copies(
    histories: dict[str, list[dict[str, Any]]], finished: list[Transition], origin: datetime
) -> dict[str, list[dict[str, Any]]]:
    """Per kind (share, copy): every copy a run made, its wanted/started/ready/seen times in twin seconds."""
    made = {
        (t.account_id, t.identifier): t
        for t in finished
        if t.kind == "cluster-snapshot" and t.busy_status == "copying" and t.status == "available"
    }
    found: dict[str, list[dict[str, Any]]] = {kind: [] for kind in COPY_STATES}
    for name, history in histories.items():
        run_id = naming.run_id_from_execution_name(name)
        for kind, (ask, mark) in COPY_STATES.items():
            account = SOURCE if kind == "share" else TARGET
            done = made.get((account, f"ferry-{run_id}-{kind}"))
            if done is None:
                continue
            asked, seen = _entered(history, ask), _entered(history, mark)
            found[kind].append(
                {
                    "run": name,
                    "wanted": ((asked[0] if asked else done.started_at) - origin).total_seconds(),
                    "started": (done.started_at - origin).total_seconds(),
                    "ready": (done.ready_at - origin).total_seconds(),
                    "seen": (seen[0] - origin).total_seconds() if seen else None,
                }
            )
    return found


def _most_in_progress(copies: list[dict[str, Any]]) -> int:
    return max(
        (sum(1 for c in copies if c["started"] <= o["started"] < c["ready"]) for o in copies), default=0
    )


def case_world(extra: float, copy_seconds: float | None) -> World:
    """The world with `extra` twin seconds on every duration and copies of `copy_seconds` (+ `extra`)."""
    world = load_world(WORLD)
    d = world.durations
    durations = dataclasses.replace(
        d,
        snapshot_create=d.snapshot_create + extra,
        snapshot_copy=(copy_seconds or d.snapshot_copy) + extra,
        cluster_restore=d.cluster_restore + extra,
        instance_create=d.instance_create + extra,
    )
    return dataclasses.replace(world, durations=durations)


def run(policy: str, world: World, timeout: float) -> dict[str, Any]:
    """Ten runs of `policy` started together in one twin; the figures of the module docstring."""
    events = inputs(world, policy)
    with Twin.started(world, REPO / "template.yaml") as twin:
        arns = {name: twin.start(event, name=name) for name, event in events.items()}
        ended: dict[str, dict[str, Any]] = {}

        def follow(name: str) -> None:
            ended[name] = twin.wait(arns[name], timeout_real_seconds=timeout)

        threads = [threading.Thread(target=follow, args=(name,)) for name in events]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        failed = {n: f"{d['status']}: {d.get('error')}: {d.get('cause')}" for n, d in ended.items()}
        failed = {n: why for n, why in failed.items() if not why.startswith("SUCCEEDED")}
        if failed:
            raise SystemExit(f"bench: {policy} runs did not succeed: {failed}")
        histories = {name: twin.history(arns[name]) for name in events}
        finished = list(twin.rules.finished)
    starts = [h[0]["timestamp"] for h in histories.values()]
    origin = min(starts)
    copies = _copies(histories, finished, origin)
    d = world.durations
    bounds = {
        with_copy: lower_bound(
            len(events),
            MAX_COPIES_IN_PROGRESS,
            d.snapshot_create,
            d.snapshot_copy,
            d.cluster_restore,
            d.instance_create,
            target_copies=with_copy,
        )
        for with_copy in (False, True)
    }
    target_copies = bool(copies["copy"])
    transitions = [sum(1 for e in h if e["type"].endswith("StateEntered")) for h in histories.values()]
    per_kind = {}
    for kind, found in copies.items():
        if not found:
            continue
        delays = [c["seen"] - c["ready"] for c in found if c["seen"] is not None]
        queued = [c["started"] - c["wanted"] for c in found]
        per_kind[kind] = {
            "copies": len(found),
            "mostInProgress": _most_in_progress(found),
            "queuedMedian": statistics.median(queued),
            "queuedMax": max(queued),
            "slotIdleSeconds": slot_idle_seconds(found, MAX_COPIES_IN_PROGRESS),
            "detectionDelayMedian": statistics.median(delays) if delays else None,
            "detectionDelayMax": max(delays) if delays else None,
            "each": found,
        }
    return {
        "policy": policy,
        "runs": len(events),
        "startSpread": (max(starts) - origin).total_seconds(),
        "totalSeconds": max((h[-1]["timestamp"] - origin).total_seconds() for h in histories.values()),
        "lastInstancesSeconds": max(
            (t - origin).total_seconds()
            for h in histories.values()
            for t in _entered(h, "MarkInstancesReady")
        ),
        "targetCopies": target_copies,
        "boundDirect": bounds[False],
        "boundWithTargetCopy": bounds[True],
        "bound": bounds[target_copies],
        "durations": {
            "snapshotCreate": d.snapshot_create,
            "snapshotCopy": d.snapshot_copy,
            "clusterRestore": d.cluster_restore,
            "instanceCreate": d.instance_create,
        },
        "transitions": transitions,
        "historyEventsMax": max(len(h) for h in histories.values()),
        "queueRefusals": sum(_refusals(h) for h in histories.values()),
        "copies": per_kind,
    }


def report(results: list[dict[str, Any]]) -> tuple[list[str], list[tuple[str, bool]]]:
    """The table per policy and the target: total <= 1.25 x the bound of the path taken."""
    lines = [
        "",
        f"Ten migrations at once, one source account, one target account (worlds/ten-migrations.json), "
        f"{MAX_COPIES_IN_PROGRESS} copies in progress per account. Bound: S + (ceil(n/{MAX_COPIES_IN_PROGRESS})"
        " + t) * C + R + I (bench.bounds), t = 1 if the runs copied in the target account.",
        "",
        "| case (copy s) | policy | target copies | twin s, first start to last end | to last instances ready | bound "
        "(direct / with target copy) | total / bound | transitions per run min / median / max "
        "| largest history (events) | queue refusals |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    checks: list[tuple[str, bool]] = []
    for r in results:
        t = r["transitions"]
        ratio = r["totalSeconds"] / r["bound"]
        lines.append(
            f"| {r['case']} ({r['durations']['snapshotCopy']:g}) | {r['policy']} "
            f"| {'yes' if r['targetCopies'] else 'no'} | {r['totalSeconds']:g} "
            f"| {r['lastInstancesSeconds']:g} | {r['bound']:g} ({r['boundDirect']:g} / "
            f"{r['boundWithTargetCopy']:g}) | {ratio:.3f} | {min(t)} / {statistics.median(t):g} / {max(t)} "
            f"| {r['historyEventsMax']} | {r['queueRefusals']} |"
        )
        checks.append(
            (
                f"ten migrations, {r['case']}, {r['policy']}: first start to last end <= {RATIO_MAX:g}x the copy-limit "
                f"bound ({r['totalSeconds']:g} / {r['bound']:g} = {ratio:.3f})",
                r["totalSeconds"] <= RATIO_MAX * r["bound"],
            )
        )
        checks.append(
            (
                f"ten migrations, {r['case']}, {r['policy']}: all started in one twin second",
                r["startSpread"] == 0,
            )
        )
        most = max(c["mostInProgress"] for c in r["copies"].values())
        checks.append(
            (
                f"ten migrations, {r['case']}, {r['policy']}: at most {MAX_COPIES_IN_PROGRESS} copies in progress "
                f"per account (most {most}; more would make the bound no bound)",
                most <= MAX_COPIES_IN_PROGRESS,
            )
        )
    lines += [
        "",
        "| case, policy, copies (account) | copies | most in progress | queued, twin s median / max "
        "| slot-seconds free while a copy queued | detection delay, twin s median / max |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for kind, c in r["copies"].items():
            where = "share (source)" if kind == "share" else "target copy (target)"
            lines.append(
                f"| {r['case']}, {r['policy']}, {where} | {c['copies']} | {c['mostInProgress']} "
                f"| {c['queuedMedian']:g} / "
                f"{c['queuedMax']:g} | {c['slotIdleSeconds']:g} | {c['detectionDelayMedian']:g} / "
                f"{c['detectionDelayMax']:g} |"
            )
    return lines, checks


def run_all(policies: tuple[str, ...], timeout: float) -> list[dict[str, Any]]:
    return [
        {"case": label, **run(policy, case_world(extra, seconds), timeout)}
        for label, extra, seconds in CASES
        for policy in policies
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.concurrency", description=__doc__.splitlines()[0])
    parser.add_argument("--policy", action="append", choices=POLICIES, help="default: both")
    parser.add_argument("--timeout", type=float, default=1800.0, help="real seconds before a run is stopped")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = run_all(tuple(args.policy or POLICIES), args.timeout)
    lines, checks = report(results)
    table, met = targets_table(checks)
    text = "\n".join(lines + table) + "\n"
    print(text)
    raw = {"results": results, "realSeconds": time.monotonic() - started}
    print(f"written to {save('concurrency', text, raw)} ({time.monotonic() - started:.0f} s)")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
