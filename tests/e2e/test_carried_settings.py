"""The target carries the source's configuration (issue 11, cluster-level settings): a source cluster whose settings
are away from a restore's defaults (worlds/carried-settings.json) arrives with the same settings, an override in
targets[].settings wins, and without the carrying the target would differ (a restore's defaults, as the twin
follows AWS: ferry_cli.twin.cluster_settings)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import load_event, running_twin

pytestmark = pytest.mark.e2e

WORLD = "carried-settings.json"
SOURCE = "111111111111"
DEV = "222222222222"
QA = "333333333333"
# What DescribeDBClusters says of each carried setting.
CARRIED = (
    "Port",
    "IAMDatabaseAuthenticationEnabled",
    "EnabledCloudwatchLogsExports",
    "StorageType",
    "ServerlessV2ScalingConfiguration",
    "EngineLifecycleSupport",
    "BackupRetentionPeriod",
    "PreferredBackupWindow",
    "PreferredMaintenanceWindow",
)


def _settings(twin: Any, account: str, cluster_id: str) -> dict[str, Any]:
    cluster = twin.client("rds", account).describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][
        0
    ]
    return {name: cluster.get(name) for name in CARRIED}


def _event() -> dict[str, Any]:
    """migrate-cmk.json to dev, and to qa with overrides."""
    event = load_event("migrate-cmk.json")
    qa = copy.deepcopy(event["targets"][0])
    qa.update(
        accountId=QA,
        roleArn=f"arn:aws:iam::{QA}:role/aurora-ferry-target",
        kmsKeyArn=f"arn:aws:kms:eu-west-1:{QA}:key/e9f40b12-7a6c-4d35-a1b8-3c2d5e6f7081",
        clusterIdentifier="orders-qa",
        settings={
            "port": 5432,
            "storageType": "aurora",
            "preferredMaintenanceWindow": "mon:01:00-mon:01:30",
            "serverlessV2Scaling": {"minCapacity": 1, "maxCapacity": 4},
        },
    )
    event["targets"].append(qa)
    return event


def _run(twin: Any, event: dict[str, Any]) -> None:
    description = twin.wait(twin.start(event), timeout_real_seconds=240)
    assert description["status"] == "SUCCEEDED", description.get("cause")


def test_a_migrated_cluster_has_the_source_settings_and_an_override_wins() -> None:
    # Given a source cluster with IAM auth, log exports, I/O-Optimized storage, port 5433, backup retention 14,
    # Serverless v2 scaling, Standard support only and its own windows, migrated to dev as it is and to qa with
    # overrides
    with running_twin(world=WORLD) as twin:
        source = _settings(twin, SOURCE, "orders")
        # When the migration runs
        _run(twin, _event())
        dev = _settings(twin, DEV, "orders-dev")
        qa = _settings(twin, QA, "orders-qa")
    # Then dev has every setting of the source (the maintenance window applied after the restore)
    assert source["StorageType"] == "aurora-iopt1" and source["Port"] == 5433
    assert dev == source
    # And qa has the source's, but for what it overrides
    assert qa == {
        **source,
        "Port": 5432,
        "StorageType": "aurora",
        "PreferredMaintenanceWindow": "mon:01:00-mon:01:30",
        "ServerlessV2ScalingConfiguration": {"MinCapacity": 1.0, "MaxCapacity": 4.0},
    }


def test_without_the_carrying_the_target_gets_a_restores_defaults() -> None:
    # Given the same migration with the source's configuration replaced by an unknown one (the carrying off)
    box: dict[str, Any] = {}

    def prepare_source(event: dict[str, Any], context: Any) -> Any:
        twin = box["twin"]
        spec = twin.template.functions["PrepareSourceFunction"]
        prepared = getattr(twin._handler_module(spec), spec.handler_name)(event, context)
        prepared["configuration"] = {"engine": prepared["engine"], "origin": "cluster", "settings": {}}
        return prepared

    with running_twin(world=WORLD, handler_overrides={"PrepareSourceFunction": prepare_source}) as twin:
        box["twin"] = twin
        source = _settings(twin, SOURCE, "orders")
        # When it runs
        event = _event()
        event["targets"] = event["targets"][:1]
        _run(twin, event)
        dev = _settings(twin, DEV, "orders-dev")
    # Then the target differs from the source wherever a restore has a default of its own; the port and the backup
    # retention come from the snapshot
    differing = {name for name in CARRIED if dev[name] != source[name]}
    assert differing == set(CARRIED) - {"Port", "BackupRetentionPeriod"}
    assert dev["StorageType"] == "aurora"
    assert dev["IAMDatabaseAuthenticationEnabled"] is False
    assert dev["EngineLifecycleSupport"] == "open-source-rds-extended-support"
    assert dev["ServerlessV2ScalingConfiguration"] is None
