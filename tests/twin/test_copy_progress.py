"""A snapshot's PercentProgress in the twin follows the world's curve (ferry_cli.twin.lifecycle.ProgressCurve,
world field ``snapshotProgress``), and its SnapshotCreateTime and RDS's Date header are twin time, so that the
copy poll can predict the end as it would in AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from moto import mock_aws

from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.lifecycle import PROGRESS_CURVES, Durations, ProgressCurve, TwinRegistry
from ferry_cli.twin.rules import aws_rules
from ferry_cli.twin.world import WorldError, load_world, parse_world
from tests.conftest import REPO, acting_as

pytestmark = pytest.mark.twin

REGION = "us-east-1"
SOURCE = "111111111111"
COPY_SECONDS = 1000.0


@pytest.fixture
def rds() -> Iterator[Any]:
    with mock_aws():
        yield acting_as(SOURCE, REGION).client("rds", region_name=REGION)


@contextmanager
def _copying(rds: Any, clock: TwinClock, curve: ProgressCurve) -> Iterator[TwinRegistry]:
    """The rules with `curve`, an available snapshot "snap" of cluster "prod", and its copy "copy" just started."""
    with aws_rules(clock, Durations(snapshot_copy=COPY_SECONDS, snapshot_progress=curve)) as registry:
        rds.create_db_cluster(
            DBClusterIdentifier="prod",
            Engine="aurora-postgresql",
            MasterUsername="ferry",
            MasterUserPassword="correct-horse-battery",
        )
        registry.settle_all()
        rds.create_db_cluster_snapshot(DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="snap")
        registry.settle_all()
        rds.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier="snap", TargetDBClusterSnapshotIdentifier="copy"
        )
        yield registry


def _progress_at(rds: Any, clock: TwinClock, shares: list[float]) -> list[tuple[str, int]]:
    """(Status, PercentProgress) of "copy" at each share of its duration, in order."""
    seen = []
    for share in shares:
        clock.advance(share * COPY_SECONDS - clock.elapsed())
        answer = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="copy")["DBClusterSnapshots"][
            0
        ]
        seen.append((answer["Status"], answer["PercentProgress"]))
    return seen


@pytest.mark.parametrize(
    ("curve", "expected"),
    [
        # The same rate throughout (the default, as before)
        ("linear", [0, 10, 50, 90, 99]),
        # A quarter of the time queued at 0 %, then steady: 50 % at 62.5 % of the time
        ("queued", [0, 0, 33, 86, 99]),
        # 20 % at half time, then 1.6 times faster
        ("slow-start", [0, 4, 20, 84, 99]),
        # 80 % at half time, then slow to the end
        ("slow-finish", [0, 16, 80, 96, 99]),
    ],
)
def test_a_copy_progresses_along_the_world_curve_and_is_100_only_when_available(
    rds: Any, clock: TwinClock, curve: str, expected: list[int]
) -> None:
    # Given a copy taking 1000 twin seconds under each named curve
    with _copying(rds, clock, PROGRESS_CURVES[curve]):
        # When it is described at 0 %, 10 %, 50 %, 90 % and 99.9 % of its duration, then at its end
        during = _progress_at(rds, clock, [0.0, 0.1, 0.5, 0.9, 0.999])
        after = _progress_at(rds, clock, [1.0])

        # Then it is copying with the curve's (truncated) percentages, then available at 100 %
        assert during == [("copying", percent) for percent in expected]
        assert after == [("available", 100)]


def test_a_manual_snapshot_follows_the_curve_too(rds: Any, clock: TwinClock) -> None:
    # Given the queued curve, and a manual snapshot being created (600 s by default)
    with _copying(rds, clock, PROGRESS_CURVES["queued"]) as registry:
        rds.create_db_cluster_snapshot(DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="manual")

        # When it is described a fifth into its creation
        clock.advance(120)
        created = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="manual")[
            "DBClusterSnapshots"
        ]

        # Then it is still at 0 % (queued), and will be ready at 600 s
        assert (created[0]["Status"], created[0]["PercentProgress"]) == ("creating", 0)
        assert [p.identifier for p in registry.pending()] == ["manual", "copy"]


def test_the_copy_start_and_rds_answers_are_twin_time(rds: Any, clock: TwinClock) -> None:
    # Given a copy started 500 twin seconds after the twin's start
    clock.advance(500)
    with _copying(rds, clock, PROGRESS_CURVES["linear"]):
        # When it is described 300 twin seconds later
        clock.advance(300)
        answer = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="copy")

        # Then SnapshotCreateTime is when it started and the Date header is now, both in twin time: 300 s apart,
        # however little real time passed
        created = answer["DBClusterSnapshots"][0]["SnapshotCreateTime"]
        answered = parsedate_to_datetime(answer["ResponseMetadata"]["HTTPHeaders"]["date"])
        assert created == clock.start + timedelta(seconds=500)
        assert answered == clock.start + timedelta(seconds=800)


def test_a_world_names_its_curve_or_gives_its_points() -> None:
    # Given the shipped world, and the same world with a named curve and with points
    base = json.loads((REPO / "worlds" / "two-accounts.json").read_text(encoding="utf-8"))
    named = parse_world({**base, "snapshotProgress": "queued"})
    points = parse_world({**base, "snapshotProgress": [[0, 0], [0.5, 10], [1, 100]]})

    # Then a world without the field is linear, as before, and the others follow what they say
    assert load_world(REPO / "worlds" / "two-accounts.json").durations.snapshot_progress == ProgressCurve()
    assert named.durations.snapshot_progress == PROGRESS_CURVES["queued"]
    assert points.durations.snapshot_progress.percent(0.5) == 10
    assert points.durations.snapshot_copy == 900  # the durations are kept


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("bursty", "snapshotProgress: unknown curve 'bursty'; named curves: linear, slow-start"),
        ([[0, 0], [0.5, 60], [0.7, 40], [1, 100]], "snapshotProgress: the percentages must not decrease"),
        (
            [[0, 0], [0.5, 10], [0.5, 20], [1, 100]],
            "snapshotProgress: the shares of the duration must increase",
        ),
        ([[0, 0], [1, 90]], "snapshotProgress: must start at [0, 0] and end at [1, 100]"),
        ([[0, 0], "half", [1, 100]], "snapshotProgress: a curve name or a list of [share of the duration"),
        ({"linear": True}, "snapshotProgress: a curve name or a list"),
    ],
)
def test_a_curve_that_cannot_be_a_progress_is_refused_naming_the_field(value: Any, message: str) -> None:
    base = json.loads((REPO / "worlds" / "two-accounts.json").read_text(encoding="utf-8"))
    with pytest.raises(WorldError) as caught:
        parse_world({**base, "snapshotProgress": value})
    assert str(caught.value).startswith(message)


def test_every_shipped_world_still_loads() -> None:
    # The field is optional: the worlds written before it stay valid (and linear unless they say otherwise)
    for path in sorted((REPO / "worlds").glob("*.json")):
        assert isinstance(load_world(path).durations.snapshot_progress, ProgressCurve), path.name
