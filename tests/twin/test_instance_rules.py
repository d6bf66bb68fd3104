"""CreateDBInstance in the twin refuses what RDS refuses for Serverless v2 instances, Performance Insights and
Enhanced Monitoring, and reads back what moto drops (ferry_cli.twin.instance_rules); each rule is shown missing
from plain moto, so each test fails with its rule off."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ferry_cli.twin.lifecycle import TwinRegistry

pytestmark = pytest.mark.twin

ACCOUNT = "111111111111"
MONITORING_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "monitoring.rds.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _cluster(aws: Any, scaling: bool, identifier: str = "orders") -> Any:
    rds = aws("rds", ACCOUNT)
    rds.create_db_cluster(
        DBClusterIdentifier=identifier,
        Engine="aurora-postgresql",
        EngineVersion="16.4",
        MasterUsername="ferry",
        MasterUserPassword="correct-horse-battery",
        **({"ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 8}} if scaling else {}),
    )
    return rds


def _instance(rds: Any, identifier: str = "orders-1", cluster: str = "orders", **params: Any) -> Any:
    return rds.create_db_instance(
        DBInstanceIdentifier=identifier,
        DBClusterIdentifier=cluster,
        Engine="aurora-postgresql",
        **{"DBInstanceClass": "db.r6g.large", **params},
    )


def _role(aws: Any, name: str, trust: dict[str, Any]) -> str:
    role = aws("iam", ACCOUNT).create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    return str(role["Role"]["Arn"])


def _refused(call: Any) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return str(refused.value.response["Error"]["Code"])


# --- Serverless v2 -----------------------------------------------------------------------------------------


def test_a_serverless_instance_needs_the_cluster_scaling(aws: Any, twin: TwinRegistry) -> None:
    # Given a cluster without a Serverless v2 capacity range, and one with it
    rds = _cluster(aws, scaling=False)
    # When a db.serverless instance is added / Then RDS refuses it as AWS does
    assert _refused(lambda: _instance(rds, DBInstanceClass="db.serverless")) == "InvalidParameterCombination"
    with_scaling = _cluster(aws, scaling=True, identifier="orders-v2")
    created = _instance(with_scaling, "orders-v2-1", "orders-v2", DBInstanceClass="db.serverless")
    assert created["DBInstance"]["DBInstanceClass"] == "db.serverless"


def test_moto_alone_adds_a_serverless_instance_to_a_cluster_without_scaling(aws: Any) -> None:
    rds = _cluster(aws, scaling=False)
    assert _instance(rds, DBInstanceClass="db.serverless")["DBInstance"]["DBInstanceClass"] == "db.serverless"


# --- Performance Insights ----------------------------------------------------------------------------------


def _key(aws: Any, region: str = "us-east-1") -> str:
    return str(aws("kms", ACCOUNT, region).create_key()["KeyMetadata"]["Arn"])


def test_performance_insights_read_back_as_set(aws: Any, twin: TwinRegistry) -> None:
    # Given a key, and an instance created with Performance Insights under it, kept 93 days
    rds = _cluster(aws, scaling=False)
    key = _key(aws)
    _instance(
        rds,
        EnablePerformanceInsights=True,
        PerformanceInsightsKMSKeyId=key,
        PerformanceInsightsRetentionPeriod=93,
        PromotionTier=4,
        AutoMinorVersionUpgrade=False,
    )
    # When it is described / Then it says what was set
    described = rds.describe_db_instances(DBInstanceIdentifier="orders-1")["DBInstances"][0]
    assert described["PerformanceInsightsEnabled"] is True
    assert described["PerformanceInsightsKMSKeyId"] == key
    assert described["PerformanceInsightsRetentionPeriod"] == 93
    assert (described["PromotionTier"], described["AutoMinorVersionUpgrade"]) == (4, False)


def test_moto_alone_drops_performance_insights(aws: Any) -> None:
    rds = _cluster(aws, scaling=False)
    _instance(rds, EnablePerformanceInsights=True, PerformanceInsightsRetentionPeriod=93)
    described = rds.describe_db_instances(DBInstanceIdentifier="orders-1")["DBInstances"][0]
    assert described.get("PerformanceInsightsEnabled") is None


def test_a_retention_period_rds_does_not_offer_is_refused(aws: Any, twin: TwinRegistry) -> None:
    rds = _cluster(aws, scaling=False)
    assert (
        _refused(
            lambda: _instance(rds, EnablePerformanceInsights=True, PerformanceInsightsRetentionPeriod=94)
        )
        == "InvalidParameterValue"
    )


def test_moto_alone_takes_any_retention_period(aws: Any) -> None:
    rds = _cluster(aws, scaling=False)
    _instance(rds, EnablePerformanceInsights=True, PerformanceInsightsRetentionPeriod=94)


def test_a_performance_insights_key_of_another_region_is_refused(aws: Any, twin: TwinRegistry) -> None:
    # Given a key in another Region than the instance's
    rds = _cluster(aws, scaling=False)
    elsewhere = _key(aws, "eu-west-1")
    # When Performance Insights is asked for under it / Then RDS cannot use it
    assert (
        _refused(
            lambda: _instance(rds, EnablePerformanceInsights=True, PerformanceInsightsKMSKeyId=elsewhere)
        )
        == "KMSKeyNotAccessibleFault"
    )


def test_moto_alone_takes_a_key_of_another_region(aws: Any) -> None:
    rds = _cluster(aws, scaling=False)
    _instance(rds, EnablePerformanceInsights=True, PerformanceInsightsKMSKeyId=_key(aws, "eu-west-1"))


# --- Enhanced Monitoring -----------------------------------------------------------------------------------


def test_monitoring_needs_a_role_rds_monitoring_can_assume(aws: Any, twin: TwinRegistry) -> None:
    # Given a role that trusts EC2, not RDS's monitoring service, and one that trusts it
    rds = _cluster(aws, scaling=False)
    wrong = _role(
        aws,
        "not-for-rds",
        {
            **MONITORING_TRUST,
            "Statement": [
                {**MONITORING_TRUST["Statement"][0], "Principal": {"Service": "ec2.amazonaws.com"}}
            ],
        },
    )
    right = _role(aws, "rds-monitoring", MONITORING_TRUST)
    # When an instance is created with monitoring and each / Then only the monitoring role is taken
    assert (
        _refused(lambda: _instance(rds, MonitoringInterval=60, MonitoringRoleArn=wrong))
        == "InvalidParameterValue"
    )
    assert (
        _refused(lambda: _instance(rds, MonitoringInterval=60, MonitoringRoleArn=right + "-missing"))
        == "InvalidParameterValue"
    )
    created = _instance(rds, MonitoringInterval=60, MonitoringRoleArn=right)["DBInstance"]
    assert (created["MonitoringInterval"], created["MonitoringRoleArn"]) == (60, right)


def test_moto_alone_takes_any_monitoring_role(aws: Any) -> None:
    rds = _cluster(aws, scaling=False)
    _instance(rds, MonitoringInterval=60, MonitoringRoleArn=f"arn:aws:iam::{ACCOUNT}:role/nothing-here")


def test_monitoring_without_a_role_is_refused(aws: Any, twin: TwinRegistry) -> None:
    # (moto's own rule, as RDS: "If MonitoringInterval is set to a value other than 0, then you must supply a
    # MonitoringRoleArn value")
    rds = _cluster(aws, scaling=False)
    assert _refused(lambda: _instance(rds, MonitoringInterval=60)) == "InvalidParameterCombination"
