"""A target's instances mirror the source's (issue 11, instance-level settings; worlds/serverless-v2.json): a
Serverless v2 source arrives as Serverless v2 with its scaling, a provisioned source with mixed instances arrives
with the same classes, promotion tiers, Performance Insights (under the target's key) and Enhanced Monitoring (with
the target's monitoring role), and instanceClass, instanceCount, instances and targets[].settings override it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import load_event, running_twin

pytestmark = pytest.mark.e2e

WORLD = "serverless-v2.json"
SOURCE = "111111111111"
DEV = "222222222222"
QA = "333333333333"
DEV_KEY = "arn:aws:kms:eu-west-1:222222222222:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6"
QA_KEY = "arn:aws:kms:eu-west-1:333333333333:key/e9f40b12-7a6c-4d35-a1b8-3c2d5e6f7081"
# What DescribeDBInstances says of each instance-level setting a target carries.
SHAPE = (
    "DBInstanceClass",
    "PromotionTier",
    "PerformanceInsightsEnabled",
    "PerformanceInsightsRetentionPeriod",
    "MonitoringInterval",
    "AutoMinorVersionUpgrade",
)


def _instances(twin: Any, account: str, cluster_id: str) -> list[dict[str, Any]]:
    """The cluster's instances, writer first then by identifier, each as the SHAPE fields, its role and key."""
    rds = twin.client("rds", account)
    cluster = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
    writers = {m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"] if m["IsClusterWriter"]}
    described = rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [cluster_id]}])
    ordered = sorted(
        described["DBInstances"],
        key=lambda i: (i["DBInstanceIdentifier"] not in writers, i["DBInstanceIdentifier"]),
    )
    return [
        {
            **{name: instance.get(name) for name in SHAPE},
            "writer": instance["DBInstanceIdentifier"] in writers,
            "key": instance.get("PerformanceInsightsKMSKeyId"),
            "role": instance.get("MonitoringRoleArn"),
        }
        for instance in ordered
    ]


def _shapes(instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{name: instance[name] for name in (*SHAPE, "writer")} for instance in instances]


def _run(twin: Any, event: dict[str, Any], machine: str = "MigrationStateMachine") -> None:
    description = twin.wait(twin.start(event, machine=machine), timeout_real_seconds=240)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert list(twin.iam.denials) == []


def _billing(**dev: Any) -> dict[str, Any]:
    """The sample, migrating the provisioned cluster billing to dev (with `dev`'s fields)."""
    event = load_event("migrate-serverless-v2.json")
    event["source"]["clusterIdentifier"] = "billing"
    event["targets"][0].update(clusterIdentifier="billing-dev", **dev)
    return event


def test_a_serverless_v2_source_arrives_as_serverless_v2_with_its_scaling() -> None:
    # Given a Serverless v2 source (two db.serverless instances, scaling 0.5-8 ACUs), migrated without an instance
    # class (events/migrate-serverless-v2.json)
    with running_twin(world=WORLD) as twin:
        source = _instances(twin, SOURCE, "orders")
        scaling = twin.client("rds", SOURCE).describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][
            0
        ]
        # When the migration runs
        _run(twin, load_event("migrate-serverless-v2.json"))
        target = _instances(twin, DEV, "orders-dev")
        cluster = twin.client("rds", DEV).describe_db_clusters(DBClusterIdentifier="orders-dev")[
            "DBClusters"
        ][0]
    # Then the target is Serverless v2 with the same scaling and the same instances, writer first
    assert [i["DBInstanceClass"] for i in source] == ["db.serverless", "db.serverless"]
    assert cluster["ServerlessV2ScalingConfiguration"] == scaling["ServerlessV2ScalingConfiguration"]
    assert cluster["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 8.0}
    assert _shapes(target) == _shapes(source)
    # And the monitored reader reports to the target account's monitoring role, its insights under the target key
    assert target[1]["role"] == "arn:aws:iam::222222222222:role/aurora-ferry-target-monitoring"
    assert target[1]["key"] == DEV_KEY


def test_a_provisioned_source_with_mixed_instances_arrives_mirrored() -> None:
    # Given billing: three instances of mixed classes and tiers, two with Performance Insights and monitoring
    with running_twin(world=WORLD) as twin:
        source = _instances(twin, SOURCE, "billing")
        # When it is migrated to dev without an instance class
        _run(twin, _billing())
        target = _instances(twin, DEV, "billing-dev")
    # Then dev has the same instances, writer first, tiers, insights and monitoring intervals included
    assert [i["DBInstanceClass"] for i in source] == ["db.r6g.xlarge", "db.r6g.large", "db.r5.large"]
    assert [i["PromotionTier"] for i in source] == [0, 1, 2]
    assert _shapes(target) == _shapes(source)
    assert target[0]["PerformanceInsightsRetentionPeriod"] == 93
    assert target[1]["AutoMinorVersionUpgrade"] is False
    # And what is per account is the target's own: its key for Performance Insights, its monitoring role
    monitoring_role = "arn:aws:iam::222222222222:role/aurora-ferry-target-monitoring"
    assert [(i["key"], i["role"]) for i in target] == [
        (DEV_KEY, monitoring_role),
        (DEV_KEY, monitoring_role),
        (None, None),
    ]
    assert {i["key"] for i in source} != {DEV_KEY}


def test_instance_class_count_and_list_override_the_source() -> None:
    # Given billing migrated to dev with instanceClass and instanceCount 4, and to qa with an explicit list and
    # instance-level settings overridden for every instance
    event = _billing(instanceClass="db.r6g.2xlarge", instanceCount=4)
    qa = copy.deepcopy(event["targets"][0])
    for name in ("instanceClass", "instanceCount"):
        qa.pop(name)
    qa.update(
        accountId=QA,
        roleArn=f"arn:aws:iam::{QA}:role/aurora-ferry-target",
        kmsKeyArn=QA_KEY,
        clusterIdentifier="billing-qa",
        instances=[{"instanceClass": "db.r6g.large"}, {"instanceClass": "db.r5.large", "promotionTier": 7}],
        settings={"performanceInsights": False, "monitoringInterval": 0, "autoMinorVersionUpgrade": True},
    )
    event["targets"].append(qa)
    with running_twin(world=WORLD) as twin:
        # When the migration runs
        _run(twin, event)
        dev = _instances(twin, DEV, "billing-dev")
        qa_instances = _instances(twin, QA, "billing-qa")
    # Then dev has 4 instances of the given class: the source's three shapes, then its last reader's again
    assert [i["DBInstanceClass"] for i in dev] == ["db.r6g.2xlarge"] * 4
    assert [i["PromotionTier"] for i in dev] == [0, 1, 2, 2]
    assert [i["MonitoringInterval"] for i in dev] == [30, 60, 0, 0]
    # And qa has exactly its list, without insights or monitoring
    assert [(i["DBInstanceClass"], i["PromotionTier"], i["writer"]) for i in qa_instances] == [
        ("db.r6g.large", 0, True),
        ("db.r5.large", 7, False),
    ]
    assert [(i["PerformanceInsightsEnabled"], i["MonitoringInterval"]) for i in qa_instances] == [
        (False, 0),
        (False, 0),
    ]
    assert all(i["AutoMinorVersionUpgrade"] is True for i in qa_instances)


def test_a_clone_mirrors_the_source_instances() -> None:
    # Given a cross-account clone of billing into dev without an instance class
    event = load_event("clone-cross-account.json")
    event["source"]["clusterIdentifier"] = "billing"
    for name in ("instanceClass", "instanceCount"):
        event["target"].pop(name)
    event["target"]["cloneIdentifier"] = "billing-clone"
    with running_twin(world=WORLD) as twin:
        source = _instances(twin, SOURCE, "billing")
        # When the clone runs
        _run(twin, event, machine="CloneStateMachine")
        target = _instances(twin, DEV, "billing-clone")
    # Then the clone has the source's instances, with the target's key and monitoring role
    assert _shapes(target) == _shapes(source)
    assert target[0]["key"] == DEV_KEY
    assert target[0]["role"] == "arn:aws:iam::222222222222:role/aurora-ferry-target-monitoring"


def test_a_same_account_clone_mirrors_with_the_source_accounts_monitoring_role() -> None:
    # Given a clone of billing within prod, without an instance class (events/clone-same-account-mirrored.json)
    with running_twin(world=WORLD) as twin:
        source = _instances(twin, SOURCE, "billing")
        # When the clone runs
        _run(twin, load_event("clone-same-account-mirrored.json"), machine="CloneStateMachine")
        target = _instances(twin, SOURCE, "billing-sandbox")
    # Then it has the source's instances, monitored with the source template's monitoring role
    assert _shapes(target) == _shapes(source)
    assert target[0]["role"] == "arn:aws:iam::111111111111:role/aurora-ferry-source-monitoring"
