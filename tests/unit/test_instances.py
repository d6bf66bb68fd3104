"""A target's instances (aurora_ferry.core.instances and instance_plan): the input contract's instanceClass,
instanceCount, instances and instance-level settings; the plan from the source's instances and the overrides; the
shapes' round trip through the payload; the CreateDBInstance parameters and the plan rows."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from aurora_ferry.clone import parse_clone_request
from aurora_ferry.core import (
    CarriedSettings,
    ClusterTarget,
    InstanceRequest,
    InstanceShape,
    InvalidInputError,
    SourceConfiguration,
    instance_parameters,
    instance_rows,
    monitoring_role_arn,
    plan_instances,
)
from aurora_ferry.migration import parse_migration_request
from tests.conftest import load_event

WRITER = InstanceShape(
    "db.r6g.xlarge",
    writer=True,
    promotion_tier=0,
    performance_insights=True,
    performance_insights_retention=93,
    monitoring_interval=30,
    parameter_group="orders-instances",
)
READER = InstanceShape("db.r6g.large", promotion_tier=1, auto_minor_version_upgrade=False)
LAST = InstanceShape("db.r5.large", promotion_tier=2, monitoring_interval=60)
SOURCE = (WRITER, READER, LAST)


def _target(**fields: Any) -> ClusterTarget:
    return ClusterTarget(account_id="222222222222", role_arn="arn:aws:iam::222222222222:role/t", **fields)


def _migration(**target: Any) -> dict[str, Any]:
    event = load_event("migrate-serverless-v2.json")
    event["targets"][0].update(target)
    return event


# --- the contract ------------------------------------------------------------------------------------------


def test_instance_class_and_count_are_optional_and_db_serverless_is_a_class() -> None:
    # Given a target without instance fields, and one asking for db.serverless
    bare = parse_migration_request(_migration()).targets[0]
    serverless = parse_migration_request(_migration(instanceClass="db.serverless", instanceCount=3)).targets[
        0
    ]
    # Then the first mirrors the source, the second is as asked
    assert (bare.instance_class, bare.instance_count, bare.instances) == (None, None, None)
    assert (serverless.instance_class, serverless.instance_count) == ("db.serverless", 3)


def test_an_explicit_list_round_trips_through_the_normalised_input() -> None:
    request = parse_migration_request(
        _migration(
            instances=[
                {"instanceClass": "db.r6g.large"},
                {"instanceClass": "db.serverless", "promotionTier": 4},
            ]
        )
    )
    assert request.targets[0].instances == (
        InstanceRequest("db.r6g.large"),
        InstanceRequest("db.serverless", 4),
    )
    assert parse_migration_request(json.loads(json.dumps(request.to_json()))) == request


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"instanceClass": "r6g.large"},
            "targets[0].instanceClass: must look like db.r6g.large, or be db.serverless",
        ),
        ({"instanceCount": 17}, "targets[0].instanceCount: must be a whole number from 1 to 16"),
        ({"instances": []}, "targets[0].instances: must be a list of 1 to 16 objects"),
        (
            {"instances": [{"instanceClass": "db.r6g.large", "promotionTier": 16}]},
            "targets[0].instances[0].promotionTier: must be a whole number from 0 to 15",
        ),
        (
            {"instances": [{"instanceClass": "db.r6g.large", "size": 2}]},
            "targets[0].instances[0].size: unknown field",
        ),
        (
            {"instances": [{"instanceClass": "db.r6g.large"}], "instanceClass": "db.r6g.large"},
            "targets[0].instanceClass: give either targets[0].instances or instanceClass",
        ),
        (
            {"instances": [{"instanceClass": "db.r6g.large"}], "instanceCount": 2},
            "targets[0].instanceCount: give either targets[0].instances or instanceCount",
        ),
        (
            {"settings": {"performanceInsightsRetentionPeriod": 94}},
            "performanceInsightsRetentionPeriod: must be one of 7, 31, 62",
        ),
        (
            {"settings": {"monitoringInterval": 2}},
            "targets[0].settings.monitoringInterval: must be one of 0, 1, 5, 10, 15, 30, 60",
        ),
        (
            {"settings": {"performanceInsights": "yes"}},
            "targets[0].settings.performanceInsights: must be true or false",
        ),
    ],
)
def test_a_bad_instance_field_is_refused_naming_it(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_migration_request(_migration(**fields))
    assert problem in str(refused.value)


def test_the_clone_target_shares_the_rules() -> None:
    event = load_event("clone-cross-account.json")
    bare = copy.deepcopy(event)
    for name in ("instanceClass", "instanceCount"):
        bare["target"].pop(name)
    assert parse_clone_request(bare).target.instance_class is None
    event["target"]["instances"] = [{"instanceClass": "db.serverless"}]
    with pytest.raises(InvalidInputError, match=r"target\.instanceClass: give either target\.instances"):
        parse_clone_request(event)


def test_instance_overrides_are_settings_that_travel_with_the_target() -> None:
    request = parse_migration_request(
        _migration(
            settings={"performanceInsights": False, "monitoringInterval": 0, "autoMinorVersionUpgrade": True}
        )
    )
    settings = request.targets[0].settings
    assert settings == CarriedSettings(
        performance_insights=False, monitoring_interval=0, auto_minor_version_upgrade=True
    )
    assert parse_migration_request(json.loads(json.dumps(request.to_json()))) == request


# --- the plan ----------------------------------------------------------------------------------------------


def test_by_default_a_target_mirrors_the_source_instances() -> None:
    assert plan_instances(SOURCE, _target()) == list(SOURCE)


def test_instance_class_sets_every_class_and_count_takes_the_first_or_repeats_the_last_reader() -> None:
    fewer = plan_instances(SOURCE, _target(instance_class="db.serverless", instance_count=2))
    more = plan_instances(SOURCE, _target(instance_count=5))
    assert fewer == [
        InstanceShape(**{**WRITER.__dict__, "instance_class": "db.serverless"}),
        InstanceShape(**{**READER.__dict__, "instance_class": "db.serverless"}),
    ]
    assert more == [WRITER, READER, LAST, LAST, LAST]


def test_past_a_lone_writer_the_readers_take_its_shape_but_not_its_role() -> None:
    planned = plan_instances((WRITER,), _target(instance_count=2))
    assert planned[1] == InstanceShape(**{**WRITER.__dict__, "writer": False})


def test_an_explicit_list_gives_classes_and_tiers_and_keeps_the_rest_of_the_source() -> None:
    planned = plan_instances(
        SOURCE,
        _target(instances=(InstanceRequest("db.r6g.large"), InstanceRequest("db.serverless", 9))),
    )
    assert [(s.instance_class, s.promotion_tier, s.writer) for s in planned] == [
        ("db.r6g.large", 0, True),
        ("db.serverless", 9, False),
    ]
    assert planned[1].auto_minor_version_upgrade is False


def test_settings_override_every_instance() -> None:
    overrides = CarriedSettings(
        performance_insights=False, monitoring_interval=15, auto_minor_version_upgrade=True
    )
    planned = plan_instances(SOURCE, _target(), overrides)
    assert {
        (s.performance_insights, s.performance_insights_retention, s.monitoring_interval) for s in planned
    } == {(False, None, 15)}
    assert all(s.auto_minor_version_upgrade for s in planned)


def test_unknown_source_instances_need_a_class() -> None:
    with pytest.raises(InvalidInputError, match=r"targets\[3\]\.instanceClass: required here"):
        plan_instances((), _target(), path="targets[3]")
    assert plan_instances((), _target(instance_class="db.r6g.large")) == [
        InstanceShape("db.r6g.large", writer=True)
    ]


# --- shapes, parameters, rows ------------------------------------------------------------------------------


def test_shapes_round_trip_compactly_through_the_payload() -> None:
    configuration = SourceConfiguration(
        engine="aurora-postgresql", origin="cluster", settings=CarriedSettings(), instances=SOURCE
    )
    data = json.loads(json.dumps(configuration.to_json()))
    assert SourceConfiguration.from_json(data) == configuration
    # RDS's defaults are left out
    assert InstanceShape("db.r6g.large").to_json() == {"class": "db.r6g.large"}
    assert len(json.dumps(WRITER.to_json())) < 120
    # Performance Insights with the retention RDS did not report
    unsaid = InstanceShape("db.r6g.large", performance_insights=True)
    assert InstanceShape.from_json(unsaid.to_json()) == unsaid


def test_create_parameters_use_the_target_key_and_monitoring_role_and_a_mapped_group() -> None:
    role = monitoring_role_arn("arn:aws:iam::222222222222:role/aurora-ferry-target")
    key = "arn:aws:kms:eu-west-1:222222222222:key/k"
    assert role == "arn:aws:iam::222222222222:role/aurora-ferry-target-monitoring"
    assert instance_parameters(WRITER, key, role, {"orders-instances": "ferry-orders-instances"}) == {
        "DBInstanceClass": "db.r6g.xlarge",
        "PromotionTier": 0,
        "AutoMinorVersionUpgrade": True,
        "EnablePerformanceInsights": True,
        "PerformanceInsightsKMSKeyId": key,
        "PerformanceInsightsRetentionPeriod": 93,
        "MonitoringInterval": 30,
        "MonitoringRoleArn": role,
        "DBParameterGroupName": "ferry-orders-instances",
    }
    # Without a mapping the instance gets the default group; without a key, RDS's default key
    plain = instance_parameters(WRITER, None, role)
    assert "DBParameterGroupName" not in plain and "PerformanceInsightsKMSKeyId" not in plain


def test_the_rows_say_what_is_mirrored_overridden_or_dropped() -> None:
    target = _target(instance_count=5)
    rows = instance_rows(SOURCE, plan_instances(SOURCE, target), target)
    hows = {row.setting: row.how for row in rows}
    # (alike instances share a row: the last two are added alike)
    assert hows["Instance 1"] == "mirrored"
    assert hows["Instances 4-5"].startswith("added: instanceCount")
    assert hows["DBParameterGroupName (instances)"].startswith("dropped: per account")
    mapped = instance_rows(SOURCE, list(SOURCE), _target(), {"orders-instances": "ferry-orders-instances"})
    assert {row.setting: row.target for row in mapped}[
        "DBParameterGroupName (instances)"
    ] == "ferry-orders-instances"
