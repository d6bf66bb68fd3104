"""A restore in the twin carries only what AWS carries from a snapshot (ferry_cli.twin.cluster_settings): a restore
with no parameters gets a restore's defaults, not the source cluster's settings, which plain moto copies; a
parameter given as false or 0 counts (moto drops it); and Aurora's storage types and lifecycle support exist."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from ferry_cli.twin.lifecycle import TwinRegistry
from tests.conftest import acting_as

pytestmark = pytest.mark.twin

REGION = "us-east-1"
ACCOUNT = "111111111111"
# A source with every setting away from a restore's default.
SOURCE_SETTINGS: dict[str, Any] = {
    "Port": 5433,
    "EnableIAMDatabaseAuthentication": True,
    "EnableCloudwatchLogsExports": ["postgresql"],
    "StorageType": "aurora-iopt1",
    "BackupRetentionPeriod": 14,
    "PreferredBackupWindow": "03:00-03:30",
    "PreferredMaintenanceWindow": "sun:05:00-sun:05:30",
    "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 8},
    "EngineLifecycleSupport": "open-source-rds-extended-support-disabled",
    "CopyTagsToSnapshot": True,
    "DeletionProtection": True,
}
SHOWN = (
    "Port",
    "IAMDatabaseAuthenticationEnabled",
    "EnabledCloudwatchLogsExports",
    "StorageType",
    "BackupRetentionPeriod",
    "PreferredBackupWindow",
    "PreferredMaintenanceWindow",
    "ServerlessV2ScalingConfiguration",
    "EngineLifecycleSupport",
    "CopyTagsToSnapshot",
    "DeletionProtection",
)


@pytest.fixture
def rds() -> Iterator[Any]:
    with mock_aws():
        yield acting_as(ACCOUNT, REGION).client("rds", region_name=REGION)


def _source_snapshot(
    rds: Any, registry: TwinRegistry | None, settings: dict[str, Any] = SOURCE_SETTINGS
) -> None:
    rds.create_db_cluster(
        DBClusterIdentifier="prod",
        Engine="aurora-postgresql",
        EngineVersion="16.4",
        MasterUsername="ferry",
        MasterUserPassword="correct-horse-battery",
        **settings,
    )
    if registry is not None:
        registry.settle_all()
    rds.create_db_cluster_snapshot(DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="snap")
    if registry is not None:
        registry.settle_all()


def _settings(rds: Any, cluster_id: str) -> dict[str, Any]:
    cluster = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
    return {name: cluster.get(name) for name in SHOWN}


def test_a_restore_with_no_parameters_gets_the_defaults_not_the_source_settings(
    rds: Any, twin: TwinRegistry
) -> None:
    # Given a snapshot of a cluster with every setting away from a restore's default
    _source_snapshot(rds, twin)
    source = _settings(rds, "prod")
    assert source["StorageType"] == "aurora-iopt1"

    # When it is restored with no parameters but the required ones
    rds.restore_db_cluster_from_snapshot(
        DBClusterIdentifier="copy", SnapshotIdentifier="snap", Engine="aurora-postgresql"
    )
    restored = _settings(rds, "copy")

    # Then only the port ("the same port as the original DB cluster") and the backup retention ("Uses existing
    # setting") come from the snapshot; everything else is the restore's default
    assert restored["Port"] == 5433
    assert restored["BackupRetentionPeriod"] == 14
    assert restored["IAMDatabaseAuthenticationEnabled"] is False
    assert restored["EnabledCloudwatchLogsExports"] in (None, [])
    assert restored["StorageType"] == "aurora"
    assert restored["ServerlessV2ScalingConfiguration"] is None
    assert restored["EngineLifecycleSupport"] == "open-source-rds-extended-support"
    assert restored["CopyTagsToSnapshot"] is False
    assert restored["DeletionProtection"] is False
    assert restored["PreferredBackupWindow"] != source["PreferredBackupWindow"]
    assert restored["PreferredMaintenanceWindow"] != source["PreferredMaintenanceWindow"]


def test_plain_moto_copies_the_source_settings_into_a_restore(rds: Any) -> None:
    # Given the same snapshot in plain moto (no twin rules; moto knows no Aurora storage type)
    _source_snapshot(rds, None, {k: v for k, v in SOURCE_SETTINGS.items() if k != "StorageType"})

    # When it is restored with no parameters
    rds.restore_db_cluster_from_snapshot(
        DBClusterIdentifier="copy", SnapshotIdentifier="snap", Engine="aurora-postgresql"
    )

    # Then moto carries settings AWS leaves at their defaults: the rule above is needed
    restored = _settings(rds, "copy")
    assert restored["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 8.0}
    assert restored["DeletionProtection"] is True
    assert restored["PreferredMaintenanceWindow"] == "sun:05:00-sun:05:30"


def test_a_restore_takes_every_parameter_given_false_and_zero_included(rds: Any, twin: TwinRegistry) -> None:
    # Given the same snapshot
    _source_snapshot(rds, twin)

    # When it is restored passing the settings, some of them false
    rds.restore_db_cluster_from_snapshot(
        DBClusterIdentifier="copy",
        SnapshotIdentifier="snap",
        Engine="aurora-postgresql",
        Port=5434,
        EnableIAMDatabaseAuthentication=True,
        EnableCloudwatchLogsExports=["postgresql"],
        StorageType="aurora-iopt1",
        ServerlessV2ScalingConfiguration={"MinCapacity": 1, "MaxCapacity": 4},
        EngineLifecycleSupport="open-source-rds-extended-support-disabled",
        BackupRetentionPeriod=7,
        PreferredBackupWindow="04:00-04:30",
        CopyTagsToSnapshot=False,
        DeletionProtection=False,
    )

    # Then the restored cluster has each of them
    restored = _settings(rds, "copy")
    assert restored == {
        **restored,
        "Port": 5434,
        "IAMDatabaseAuthenticationEnabled": True,
        "EnabledCloudwatchLogsExports": ["postgresql"],
        "StorageType": "aurora-iopt1",
        "ServerlessV2ScalingConfiguration": {"MinCapacity": 1.0, "MaxCapacity": 4.0},
        "EngineLifecycleSupport": "open-source-rds-extended-support-disabled",
        "BackupRetentionPeriod": 7,
        "PreferredBackupWindow": "04:00-04:30",
        "CopyTagsToSnapshot": False,
        "DeletionProtection": False,
    }
