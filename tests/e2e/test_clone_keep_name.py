"""A dev refresh that keeps the dev cluster's name (refresh.keepName): every refresh leaves a new clone under
the same name and endpoints, and retires the old one; a failure after the old one was renamed aside puts it
back."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import load_event, run_twin_until, running_twin

pytestmark = pytest.mark.e2e

PROD = "111111111111"
MACHINE = "CloneStateMachine"
SAMPLE = "clone-refresh-keep-name.json"


def _dev(twin: Any, name: str) -> dict[str, Any]:
    return dict(twin.client("rds", PROD).describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0])


def _run_tag(cluster: dict[str, Any]) -> str:
    return {t["Key"]: t["Value"] for t in cluster["TagList"]}["aurora-ferry:run-id"]


def _clusters(twin: Any) -> list[str]:
    return sorted(
        c["DBClusterIdentifier"] for c in twin.client("rds", PROD).describe_db_clusters()["DBClusters"]
    )


def test_every_refresh_leaves_a_new_clone_under_the_same_name_and_endpoints() -> None:
    event = load_event(SAMPLE)
    name = event["refresh"]["replaces"]
    with running_twin("clones.json") as twin:
        seen = []
        for week in range(3):
            # Given the one input a schedule starts every week
            description = twin.wait(twin.start(event, machine=MACHINE, name=f"keep-name-{week}"))
            assert description["status"] == "SUCCEEDED", description.get("cause")
            seen.append((description["name"], _dev(twin, name)))
            # (the old dev cluster the refresh retired is gone before the next week)
            run_twin_until(
                twin, lambda: name in _clusters(twin) and not any("-old" in c for c in _clusters(twin))
            )
        output_names = [run for run, _ in seen]
        clusters = _clusters(twin)
    # Then each week's clone answers under the one name and endpoints, made by that week's run
    assert [_run_tag(cluster) for _, cluster in seen] == output_names
    assert len({cluster["Endpoint"] for _, cluster in seen}) == 1
    assert len({cluster["ReaderEndpoint"] for _, cluster in seen}) == 1
    # And of the dev clusters only the latest clone is left, under the name (no clone name, no aside name)
    assert [c for c in clusters if c.startswith((name, "ferry-"))] == [name]


def test_a_failure_after_the_old_dev_cluster_was_renamed_aside_puts_it_back() -> None:
    from aurora_ferry.clone import RetireEvent, keep_name_step
    from aurora_ferry.core import ResourceFailedError

    calls: list[int] = []

    def swap_then_fail(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # The second refresh's first check renames the old dev cluster aside; its next one fails for good.
        parsed = RetireEvent.parse(event)
        if parsed.run.run_id == "keep-name-1":
            calls.append(1)
            if len(calls) > 1:
                raise ResourceFailedError("the clone failed (planted by the test)")
        return keep_name_step(
            parsed.run.request, parsed.run.run_id, parsed.clusters, int(event.get("attempt") or 0)
        )

    event = load_event(SAMPLE)
    name = event["refresh"]["replaces"]
    with running_twin("clones.json", handler_overrides={"KeepCloneNameFunction": swap_then_fail}) as twin:
        # Given a dev cluster an earlier refresh made (it renamed its clone into the then free name)
        first = twin.wait(twin.start(event, machine=MACHINE, name="keep-name-0"))
        assert first["status"] == "SUCCEEDED", first.get("cause")
        old = _dev(twin, name)
        # When the next refresh fails after renaming that cluster aside
        failed = twin.wait(twin.start(event, machine=MACHINE, name="keep-name-1"))
        run_twin_until(twin, lambda: name in _clusters(twin), step=15, limit=600)
        now = _dev(twin, name)
    # Then the refresh failed, and the old dev cluster serves again under its name and endpoint
    assert len(calls) >= 2
    assert failed["status"] == "FAILED"
    assert _run_tag(now) == first["name"] and now["Endpoint"] == old["Endpoint"]
