"""Field by field (issue 11): after a migration and after a clone, the target cluster's DescribeDBClusters entry
equals the source's in every field but those README "Carried settings" lists as the target's own, and those the
input overrides. Each test lists every difference it finds, so a failure names the setting that did not carry."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from tests.conftest import REPO, load_event, running_twin

pytestmark = pytest.mark.e2e

SOURCE = "111111111111"
DEV = "222222222222"
QA = "333333333333"
# The DescribeDBClusters field each override of the input (settings.<name>) sets.
OVERRIDDEN_FIELD = {
    "port": "Port",
    "storageType": "StorageType",
    "preferredMaintenanceWindow": "PreferredMaintenanceWindow",
    "serverlessV2Scaling": "ServerlessV2ScalingConfiguration",
}


def documented_own_fields(marker: str = "**Field by field.**") -> set[str]:
    """The fields a README table says are the target's own (first column, each in backticks): the cluster's
    ("Field by field") or an instance's ("Instance by instance")."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split(marker, 1)[1].split("\n\n", 2)[1]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Za-z]+)`", row.split("|")[1])}


INSTANCE_TABLE = "**Instance by instance.**"


def differences(source: dict[str, Any], target: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Every field whose value differs (absent counts as None), with both values."""
    return {
        name: (source.get(name), target.get(name))
        for name in sorted(set(source) | set(target))
        if source.get(name) != target.get(name)
    }


def unexplained(
    source: dict[str, Any],
    target: dict[str, Any],
    overrides: dict[str, Any] | None = None,
    table: str = "**Field by field.**",
) -> dict[str, tuple[Any, Any]]:
    """The differences that are neither the target's own by design (README `table`) nor an override of the input."""
    allowed = documented_own_fields(table) | {OVERRIDDEN_FIELD[name] for name in overrides or {}}
    return {name: values for name, values in differences(source, target).items() if name not in allowed}


def _cluster(twin: Any, account: str, cluster_id: str) -> dict[str, Any]:
    found: dict[str, Any] = twin.client("rds", account).describe_db_clusters(DBClusterIdentifier=cluster_id)[
        "DBClusters"
    ][0]
    return found


def _instances(twin: Any, account: str, cluster_id: str) -> list[dict[str, Any]]:
    """The cluster's instances as DescribeDBInstances has them, the writer first, then by identifier (the run
    names the target's in the source's order)."""
    rds = twin.client("rds", account)
    members = _cluster(twin, account, cluster_id)["DBClusterMembers"]
    ordered = sorted(members, key=lambda m: (not m["IsClusterWriter"], m["DBInstanceIdentifier"]))
    return [
        rds.describe_db_instances(DBInstanceIdentifier=m["DBInstanceIdentifier"])["DBInstances"][0]
        for m in ordered
    ]


def _succeeded(twin: Any, event: dict[str, Any], machine: str | None = None) -> None:
    started = twin.start(event) if machine is None else twin.start(event, machine=machine)
    description = twin.wait(started, timeout_real_seconds=240)
    assert description["status"] == "SUCCEEDED", description.get("cause")


QA_OVERRIDES = {"port": 5432, "storageType": "aurora", "preferredMaintenanceWindow": "mon:01:00-mon:01:30"}


def _migration() -> dict[str, Any]:
    """migrate-cmk.json to dev as it is, and to qa with overrides."""
    event = load_event("migrate-cmk.json")
    qa = copy.deepcopy(event["targets"][0])
    qa.update(
        accountId=QA,
        roleArn=f"arn:aws:iam::{QA}:role/aurora-ferry-target",
        kmsKeyArn=f"arn:aws:kms:eu-west-1:{QA}:key/e9f40b12-7a6c-4d35-a1b8-3c2d5e6f7081",
        clusterIdentifier="orders-qa",
        settings=QA_OVERRIDES,
    )
    event["targets"].append(qa)
    return event


def test_the_readme_names_the_fields_a_target_has_its_own() -> None:
    # Given README's table / When it is read / Then it names the per-account and identity fields
    own = documented_own_fields()
    assert {"KmsKeyId", "MasterUserSecret", "DBSubnetGroup", "DBClusterArn", "CloneGroupId"} <= own
    assert {"PerformanceInsightsKMSKeyId", "MonitoringRoleArn", "DBInstanceArn"} <= documented_own_fields(
        INSTANCE_TABLE
    )
    assert "DBInstanceClass" not in documented_own_fields(INSTANCE_TABLE)
    # And no carried setting hides in it
    assert not own & {"Port", "StorageType", "ServerlessV2ScalingConfiguration", "PreferredMaintenanceWindow"}


def test_a_migrated_cluster_differs_from_its_source_only_where_documented_or_overridden() -> None:
    # Given a source cluster with settings away from a restore's defaults (worlds/carried-settings.json)
    with running_twin(world="carried-settings.json") as twin:
        source = _cluster(twin, SOURCE, "orders")
        # When it is migrated to dev as it is and to qa with overrides
        _succeeded(twin, _migration())
        dev = _cluster(twin, DEV, "orders-dev")
        qa = _cluster(twin, QA, "orders-qa")
    # Then dev differs from the source only in the fields the README documents as the target's own
    assert unexplained(source, dev) == {}
    # And qa also in exactly what it overrides, each to the value asked
    assert unexplained(source, qa, QA_OVERRIDES) == {}
    assert (qa["Port"], qa["StorageType"], qa["PreferredMaintenanceWindow"]) == (
        5432,
        "aurora",
        "mon:01:00-mon:01:30",
    )
    assert set(differences(source, qa)) - set(differences(source, dev)) == {
        "Port",
        "StorageType",
        "PreferredMaintenanceWindow",
    }


def test_the_comparison_names_every_setting_a_run_would_drop() -> None:
    # Given the same migration with the source's configuration replaced by an unknown one (the carrying off)
    box: dict[str, Any] = {}

    def prepare_source(event: dict[str, Any], context: Any) -> Any:
        twin = box["twin"]
        spec = twin.template.functions["PrepareSourceFunction"]
        prepared = getattr(twin._handler_module(spec), spec.handler_name)(event, context)
        prepared["configuration"] = {"engine": prepared["engine"], "origin": "cluster", "settings": {}}
        return prepared

    with running_twin(
        world="carried-settings.json", handler_overrides={"PrepareSourceFunction": prepare_source}
    ) as twin:
        box["twin"] = twin
        source = _cluster(twin, SOURCE, "orders")
        # When it runs
        event = _migration()
        event["targets"] = event["targets"][:1]
        _succeeded(twin, event)
        dev = _cluster(twin, DEV, "orders-dev")
    # Then the comparison lists each dropped setting, with the source's value and the restore's default
    found = unexplained(source, dev)
    assert set(found) == {
        "IAMDatabaseAuthenticationEnabled",
        "EnabledCloudwatchLogsExports",
        "StorageType",
        "ServerlessV2ScalingConfiguration",
        "EngineLifecycleSupport",
        "PreferredBackupWindow",
        "PreferredMaintenanceWindow",
    }
    assert found["StorageType"] == ("aurora-iopt1", "aurora")


@pytest.mark.parametrize("sample", ["clone-cross-account.json", "clone-same-account.json"])
def test_a_clone_differs_from_its_source_only_where_documented_or_overridden(sample: str) -> None:
    # Given the orders cluster with settings away from the defaults (worlds/clones.json), cloned with overrides
    event = copy.deepcopy(load_event(sample))
    overrides = {"port": 5432, "preferredMaintenanceWindow": "mon:01:00-mon:01:30"}
    event["target"]["settings"] = overrides
    account = event["target"]["accountId"]
    with running_twin(world="clones.json") as twin:
        source = _cluster(twin, SOURCE, "orders")
        # When the clone runs
        _succeeded(twin, event, machine="CloneStateMachine")
        clone = _cluster(twin, account, event["target"]["cloneIdentifier"])
    # Then the clone differs from the source only in its own fields and in what the input overrides
    assert source["StorageType"] == "aurora-iopt1"
    assert unexplained(source, clone, overrides) == {}
    assert (clone["Port"], clone["PreferredMaintenanceWindow"]) == (5432, "mon:01:00-mon:01:30")
    assert source["Port"] == 5433 and source["PreferredMaintenanceWindow"] == "sun:05:00-sun:05:30"


@pytest.mark.parametrize(
    ("sample", "machine", "key"),
    [
        ("migrate-serverless-v2.json", "MigrationStateMachine", "targets"),
        ("clone-same-account-mirrored.json", "CloneStateMachine", "target"),
    ],
)
def test_each_instance_differs_from_its_source_instance_only_where_documented(
    sample: str, machine: str, key: str
) -> None:
    # Given worlds/serverless-v2.json: orders, Serverless v2 (a db.serverless writer, a reader with Performance
    # Insights and Enhanced Monitoring), and billing, three provisioned instances of mixed classes and tiers
    event = load_event(sample)
    target = event[key][0] if key == "targets" else event[key]
    cluster_id = target.get("clusterIdentifier") or target["cloneIdentifier"]
    with running_twin(world="serverless-v2.json") as twin:
        source = _instances(twin, SOURCE, event["source"]["clusterIdentifier"])
        # When the migration (orders) or the same-account clone (billing) runs
        _succeeded(twin, event, machine=machine)
        arrived = _instances(twin, target["accountId"], cluster_id)
    # Then the target has as many instances, each differing from its source instance only where documented
    assert len(arrived) == len(source) >= 2
    found = {
        instance["DBInstanceIdentifier"]: unexplained(mirror, instance, table=INSTANCE_TABLE)
        for mirror, instance in zip(source, arrived, strict=True)
    }
    assert found == {instance["DBInstanceIdentifier"]: {} for instance in arrived}
    # And what makes them the same was compared: classes, tiers and the monitoring of each
    assert [i["DBInstanceClass"] for i in arrived] == [i["DBInstanceClass"] for i in source]
    assert [i.get("PromotionTier") for i in arrived] == [i.get("PromotionTier") for i in source]
    assert [i.get("MonitoringInterval") for i in arrived] == [i.get("MonitoringInterval") for i in source]


def test_the_instance_comparison_names_an_overridden_class() -> None:
    # Given the Serverless v2 migration with every instance overridden to a provisioned class
    event = load_event("migrate-serverless-v2.json")
    event["targets"][0]["instanceClass"] = "db.r6g.large"
    with running_twin(world="serverless-v2.json") as twin:
        source = _instances(twin, SOURCE, "orders")
        # When it runs
        _succeeded(twin, event)
        arrived = _instances(twin, DEV, event["targets"][0]["clusterIdentifier"])
    # Then the comparison finds the class, and only the class, not carried
    assert [set(unexplained(s, a, table=INSTANCE_TABLE)) for s, a in zip(source, arrived, strict=True)] == [
        {"DBInstanceClass"},
        {"DBInstanceClass"},
    ]
