"""Rule 7 of ferry_cli.twin.snapshots: a restore still in progress when its snapshot is deleted, or unshared
from the restoring account, ends "failed" (AWS documents no outcome; the twin assumes the worst). A restore that
has finished keeps its cluster whatever happens to the snapshot afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.lifecycle import Durations, TwinRegistry
from ferry_cli.twin.snapshots import SnapshotRules
from tests.twin.test_twin_rules import SOURCE, TARGET, THIRD, Clients, create_key, shared_snapshot

pytestmark = pytest.mark.twin

RESTORE_SECONDS = Durations().cluster_restore


def _restore_from_share(aws: Clients, twin: TwinRegistry) -> str:
    """TARGET restores "direct" straight from SOURCE's shared "prod-snap", under its own key; returns the ARN."""
    arn = shared_snapshot(aws, twin)
    restored = aws("rds", TARGET).restore_db_cluster_from_snapshot(
        DBClusterIdentifier="direct",
        SnapshotIdentifier=arn,
        Engine="aurora-postgresql",
        KmsKeyId=create_key(aws, TARGET),
    )["DBCluster"]
    assert restored["Status"] == "creating"
    return arn


def _status(aws: Clients) -> str:
    return str(
        aws("rds", TARGET).describe_db_clusters(DBClusterIdentifier="direct")["DBClusters"][0]["Status"]
    )


def _unshare(aws: Clients, account: str) -> None:
    aws("rds", SOURCE).modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier="prod-snap", AttributeName="restore", ValuesToRemove=[account]
    )


def _delete(aws: Clients, _: str) -> None:
    aws("rds", SOURCE).delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="prod-snap")


WITHDRAWALS: dict[str, Callable[[Clients, str], None]] = {"unshared": _unshare, "deleted": _delete}


@pytest.mark.parametrize("withdraw", list(WITHDRAWALS), ids=list(WITHDRAWALS))
def test_a_restore_whose_snapshot_is_withdrawn_while_it_reads_it_fails(
    aws: Clients, twin: TwinRegistry, clock: TwinClock, withdraw: str
) -> None:
    # Given TARGET restoring a cluster straight from SOURCE's shared snapshot
    _restore_from_share(aws, twin)
    clock.advance(RESTORE_SECONDS / 2)
    assert _status(aws) == "creating"
    # When SOURCE withdraws the snapshot before the restore has finished
    WITHDRAWALS[withdraw](aws, TARGET)
    # Then the restore fails, and stays failed once its time has passed
    assert _status(aws) == "failed"
    clock.advance(RESTORE_SECONDS)
    assert _status(aws) == "failed"


def test_a_finished_restore_keeps_its_cluster_and_another_account_unshared_changes_nothing(
    aws: Clients, twin: TwinRegistry, clock: TwinClock
) -> None:
    # Given TARGET restoring from SOURCE's shared snapshot
    _restore_from_share(aws, twin)
    # When SOURCE unshares it from another account only / Then the restore goes on
    _unshare(aws, THIRD)
    assert _status(aws) == "creating"
    # When the restore has finished and SOURCE then unshares and deletes the snapshot
    clock.advance(RESTORE_SECONDS + 1)
    assert _status(aws) == "available"
    _unshare(aws, TARGET)
    _delete(aws, TARGET)
    # Then the cluster stays available
    assert _status(aws) == "available"


def test_without_the_rule_a_withdrawn_snapshot_would_go_unnoticed(
    aws: Clients, twin: TwinRegistry, clock: TwinClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the rule switched off (plain moto's behaviour)
    monkeypatch.setattr(SnapshotRules, "_withdraw", lambda self, snapshot, accounts: None)
    _restore_from_share(aws, twin)
    # When the snapshot is deleted mid-restore / Then nothing tells: what the tests above catch is the rule's
    _delete(aws, TARGET)
    clock.advance(RESTORE_SECONDS + 1)
    assert _status(aws) == "available"
