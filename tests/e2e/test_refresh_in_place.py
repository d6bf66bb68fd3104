"""Refresh in place (targets[].onExisting "replace"): one fixed input, run on a schedule, replaces the target
cluster every time under the same name and endpoint; a failure before the old cluster is deleted puts it back.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import load_event, run_twin_until, running_twin

pytestmark = pytest.mark.e2e

TEST = "222222222222"
SAMPLE = "migrate-refresh-in-place.json"


def _target(twin: Any, name: str) -> dict[str, Any]:
    rds = twin.client("rds", TEST)
    return dict(rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0])


def _run_tag(cluster: dict[str, Any]) -> str:
    return {t["Key"]: t["Value"] for t in cluster["TagList"]}["aurora-ferry:run-id"]


def test_the_same_scheduled_input_replaces_the_target_in_place_three_times() -> None:
    event = load_event(SAMPLE)
    name = event["targets"][0]["clusterIdentifier"]
    with running_twin() as twin:
        seen = []
        for _ in range(3):
            # Given the one input a weekly schedule starts (a week of twin time between runs)
            description = twin.wait(twin.start(event))
            assert description["status"] == "SUCCEEDED", description.get("cause")
            cluster = _target(twin, name)
            instances = twin.client("rds", TEST).describe_db_instances(
                Filters=[{"Name": "db-cluster-id", "Values": [cluster["DBClusterIdentifier"]]}]
            )["DBInstances"]
            seen.append((description["name"], cluster, sorted(i["DBInstanceIdentifier"] for i in instances)))
            twin.clock.advance(7 * 86400)
        clusters = [
            c["DBClusterIdentifier"] for c in twin.client("rds", TEST).describe_db_clusters()["DBClusters"]
        ]
        snapshots = twin.client("rds", TEST).describe_db_cluster_snapshots(SnapshotType="manual")[
            "DBClusterSnapshots"
        ]
    # Then every run left the target under the same name and endpoint, made by that run
    assert [_run_tag(cluster) for _, cluster, _ in seen] == [run for run, _, _ in seen]
    assert len({cluster["Endpoint"] for _, cluster, _ in seen}) == 1
    assert len({cluster["ReaderEndpoint"] for _, cluster, _ in seen}) == 1
    # With its instances under the names the run gives them
    assert all(names == [f"{name}-1", f"{name}-2"] for _, _, names in seen)
    # And the replaced clusters are gone, each leaving its final snapshot
    assert clusters == [name]
    finals = sorted(
        s["DBClusterSnapshotIdentifier"]
        for s in snapshots
        if s["DBClusterSnapshotIdentifier"].endswith("-final")
    )
    assert finals == sorted(f"ferry-{run}-final" for run, _, _ in seen[1:])


def test_a_failure_after_the_old_cluster_was_renamed_aside_puts_it_back_under_its_name() -> None:
    from aurora_ferry.core import ResourceFailedError
    from aurora_ferry.migration import TargetEvent, swap_step

    calls: list[int] = []

    def swap_then_fail(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # The swap's first check renames the old cluster aside; the next one fails for good.
        calls.append(1)
        if len(calls) > 1:
            raise ResourceFailedError("the new cluster failed (planted by the test)")
        parsed = TargetEvent.parse(event)
        return swap_step(parsed.run.request, parsed.target, parsed.run.run_id, int(event.get("attempt") or 0))

    event = load_event(SAMPLE)
    name = event["targets"][0]["clusterIdentifier"]
    with running_twin(handler_overrides={"SwapTargetFunction": swap_then_fail}) as twin:
        # Given a target an earlier run made (the first run has nothing to replace, so no swap)
        first = twin.wait(twin.start(event))
        assert first["status"] == "SUCCEEDED" and calls == []
        old = _target(twin, name)
        # When the next run fails after renaming that cluster aside
        failed = twin.wait(twin.start(event))
        renamed_aside = len(calls) >= 2
        renaming_back = _target(twin, name)["Status"]
        # (a rename is effective about two minutes later)
        twin.clock.advance(180)
        now = _target(twin, name)
        rds = twin.client("rds", TEST)
        new = rds.describe_db_clusters(DBClusterIdentifier=f"ferry-{failed['name']}-new")["DBClusters"][0]
    # Then the run failed, naming the swap, and the old cluster serves again under its name and endpoint
    assert renamed_aside
    assert failed["status"] == "FAILED"
    assert "CheckSwap" in failed["cause"] and "restored" in failed["cause"]
    assert _run_tag(now) == first["name"] and now["Endpoint"] == old["Endpoint"]
    assert renaming_back == "renaming" and now["Status"] == "available"
    # And the new cluster the failed run made is kept under its temporary name (reported, not deleted)
    assert _run_tag(new) == failed["name"]


def test_a_cluster_the_tool_did_not_make_is_never_replaced() -> None:
    event = load_event(SAMPLE)
    name = event["targets"][0]["clusterIdentifier"]
    with running_twin() as twin:
        # Given a cluster of that name that someone made by hand (no aurora-ferry:managed tag)
        rds = twin.client("rds", TEST)
        rds.create_db_cluster(
            DBClusterIdentifier=name,
            Engine="aurora-postgresql",
            MasterUsername="owner",
            MasterUserPassword="correct-horse-battery",
        )
        before = twin.inventory()
        # When a refresh in place names it
        description = twin.wait(twin.start(event))
        after = twin.inventory()
    # Then preflight refuses the run before anything is made, saying why
    assert description["error"] == "PreflightFailedError"
    assert f"cluster {name} in account {TEST} was not made by aurora-ferry" in description["cause"]
    assert after[TEST]["clusters"] == before[TEST]["clusters"]


def test_a_run_stopped_during_the_swap_is_rolled_back_by_the_ended_run_cleanup() -> None:
    from ferry_cli.twin.interpreter import current_state, execution, is_running

    event = load_event(SAMPLE)
    name = event["targets"][0]["clusterIdentifier"]
    with running_twin() as twin:
        first = twin.wait(twin.start(event))
        old = _target(twin, name)
        # Given a replacing run stopped from the console while it waits between two checks of the swap
        arn = twin.start(event)
        moto_execution = execution(twin.world.orchestrator_account_id, twin.world.region, arn)
        twin.clock.wait_until(
            lambda: current_state(moto_execution) == "WaitForSwap" or not is_running(moto_execution),
            timeout=7 * 86400,
        )
        twin.clock.quiesce()
        twin.client("stepfunctions").stop_execution(executionArn=arn, error="Operator", cause="stopped")
        stopped = twin.wait(arn)
        # When the ended-run cleanup has had the time the renames take
        rds = twin.client("rds", TEST)
        waited = run_twin_until(
            twin,
            lambda: bool(
                rds.describe_db_clusters(Filters=[{"Name": "db-cluster-id", "Values": [name]}])["DBClusters"]
            ),
            step=15,
            limit=600,
        )
        now = _target(twin, name)
    # Then the old cluster is back under its name and endpoint
    assert stopped["status"] == "ABORTED"
    assert waited <= 240  # the old cluster's rename aside is effective after 120 s; then it is renamed back
    assert _run_tag(now) == first["name"] and now["Endpoint"] == old["Endpoint"]


def _swap_then(fail_when: Any) -> tuple[list[str], Any]:
    """A SwapTargetFunction that runs the real step, and raises `fail_when(statuses)`'s error once it is due."""
    from aurora_ferry.migration import TargetEvent, swap_step

    statuses: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        error = fail_when(statuses)
        if error is not None:
            statuses.append("failed")
            raise error
        parsed = TargetEvent.parse(event)
        result = swap_step(
            parsed.run.request, parsed.target, parsed.run.run_id, int(event.get("attempt") or 0)
        )
        statuses.append(str(result["status"]))
        return result

    return statuses, handler


def test_a_failure_once_the_old_cluster_is_being_deleted_keeps_the_new_one_serving() -> None:
    from aurora_ferry.core import ResourceFailedError

    def after_the_delete(statuses: list[str]) -> Exception | None:
        done = any(s.endswith("deleting") for s in statuses) and "failed" not in statuses
        return ResourceFailedError("failed after the old cluster's deletion began") if done else None

    statuses, handler = _swap_then(after_the_delete)
    event = load_event(SAMPLE)
    name = event["targets"][0]["clusterIdentifier"]
    with running_twin(handler_overrides={"SwapTargetFunction": handler}) as twin:
        first = twin.wait(twin.start(event))
        statuses.clear()
        # Given a replacing run that fails after it started deleting the old cluster
        failed = twin.wait(twin.start(event))
        now = _target(twin, name)
        members = sorted(m["DBInstanceIdentifier"] for m in now["DBClusterMembers"])
    # Then the cleanup did not put the old cluster (its instances being deleted) back: the new one serves
    assert failed["status"] == "FAILED" and "failed" in statuses
    assert "restored" not in failed["cause"]
    assert _run_tag(now) == failed["name"] != first["name"]
    assert members == [f"{name}-1", f"{name}-2"]


def test_a_run_parked_during_the_swap_is_redriven_to_one_cluster_with_its_instances_named() -> None:
    from aurora_ferry.core import AwsThrottledError

    def throttled_after_the_rename(statuses: list[str]) -> Exception | None:
        # After the first check renamed the old cluster aside: throttled until the retries are spent (9 calls).
        renamed = [s for s in statuses if "renamed aside" in s]
        return AwsThrottledError("Rate exceeded") if renamed and statuses.count("failed") < 9 else None

    statuses, handler = _swap_then(throttled_after_the_rename)
    event = load_event(SAMPLE)
    name = event["targets"][0]["clusterIdentifier"]
    with running_twin(handler_overrides={"SwapTargetFunction": handler}) as twin:
        first = twin.wait(twin.start(event))
        statuses.clear()
        # Given a replacing run parked by throttling right after it renamed the old cluster aside
        arn = twin.start(event)
        parked = twin.wait(arn)
        restored = _target(twin, name)
        # When it is redriven
        twin.client("stepfunctions").redrive_execution(executionArn=arn)
        redriven = twin.wait(arn)
        now = _target(twin, name)
        members = sorted(m["DBInstanceIdentifier"] for m in now["DBClusterMembers"])
        clusters = sorted(
            c["DBClusterIdentifier"] for c in twin.client("rds", TEST).describe_db_clusters()["DBClusters"]
        )
    # Then the park put the old cluster back under its name, and the redrive finished the swap
    assert parked["error"] == "RunParkedError"
    assert _run_tag(restored) == first["name"]
    assert redriven["status"] == "SUCCEEDED", redriven.get("cause")
    assert _run_tag(now) == parked["name"]
    assert members == [f"{name}-1", f"{name}-2"]
    # (and besides it only the old cluster, on its way out under its aside name)
    assert [c for c in clusters if c != f"ferry-{parked['name']}-old"] == [name]


def test_an_instance_someone_added_by_hand_stops_the_replacement_in_preflight() -> None:
    event = load_event(SAMPLE)
    name = event["targets"][0]["clusterIdentifier"]
    with running_twin() as twin:
        # Given the cluster an earlier run made, with a reader someone added by hand (untagged)
        assert twin.wait(twin.start(event))["status"] == "SUCCEEDED"
        twin.client("rds", TEST).create_db_instance(
            DBInstanceIdentifier="reporting-reader",
            DBClusterIdentifier=name,
            DBInstanceClass="db.r6g.large",
            Engine="aurora-postgresql",
        )
        run_twin_until(
            twin,
            lambda: (
                twin.client("rds", TEST).describe_db_instances(DBInstanceIdentifier="reporting-reader")[
                    "DBInstances"
                ][0]["DBInstanceStatus"]
                == "available"
            ),
        )
        # When a refresh in place names it
        description = twin.wait(twin.start(event))
        members = sorted(m["DBInstanceIdentifier"] for m in _target(twin, name)["DBClusterMembers"])
    # Then preflight refuses, naming the instance, and the cluster keeps all its instances
    assert description["error"] == "PreflightFailedError"
    assert "has instances aurora-ferry did not make (reporting-reader" in description["cause"]
    assert "reporting-reader" in members and len(members) == 3
