"""The source's configuration a target carries (aurora_ferry.core.carry, carry_plan): read from a cluster or a
snapshot, round-tripped as JSON, and mapped per setting onto the restore, a modify after it, an override, or dropped
with the reason; and the per-target overrides of the contract (targets[].settings)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from aurora_ferry.core import (
    CarriedSettings,
    ClusterTarget,
    InvalidInputError,
    ParameterGroups,
    Scaling,
    SourceConfiguration,
    configuration_from_cluster,
    configuration_from_snapshot,
    plan_carry,
)
from aurora_ferry.migration.contract import parse_migration_request

pytestmark = pytest.mark.unit

KEY = "arn:aws:kms:eu-west-1:222222222222:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6"
EVENTS = Path(__file__).resolve().parents[2] / "events"
# A DescribeDBClusters entry with every carried setting away from a restore's default.
CLUSTER: dict[str, Any] = {
    "Engine": "aurora-postgresql",
    "Port": 5433,
    "IAMDatabaseAuthenticationEnabled": True,
    "EnabledCloudwatchLogsExports": ["postgresql"],
    "StorageType": "aurora-iopt1",
    "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 8.0},
    "EngineLifecycleSupport": "open-source-rds-extended-support-disabled",
    "BackupRetentionPeriod": 14,
    "PreferredBackupWindow": "03:00-03:30",
    "PreferredMaintenanceWindow": "sun:05:00-sun:05:30",
    "CopyTagsToSnapshot": False,
    "DeletionProtection": True,
    "DBSubnetGroup": "prod-private",
    "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-0123456789abcdef0", "Status": "active"}],
    "DBClusterParameterGroup": "prod-pg16",
    "AssociatedRoles": [{"RoleArn": "arn:aws:iam::111111111111:role/s3-import", "Status": "ACTIVE"}],
    "KmsKeyId": "arn:aws:kms:eu-west-1:111111111111:key/7d2f9b64-3c1e-4a8b-b6d0-91e4c2a7f355",
}
TARGET = ClusterTarget(
    account_id="222222222222",
    role_arn="arn:aws:iam::222222222222:role/aurora-ferry-target",
    instance_class="db.r6g.large",
    deletion_protection=False,
)


def _rows(plan: Any) -> dict[str, tuple[str, str, str]]:
    return {row.setting: (row.source, row.target, row.how) for row in plan.rows}


def test_every_setting_of_a_cluster_is_carried_at_restore_or_after_it() -> None:
    # Given a source cluster's configuration
    source = configuration_from_cluster(CLUSTER)

    # When a target with no overrides is planned
    plan = plan_carry(source, TARGET, None, KEY)

    # Then the restore takes every setting it accepts, and ModifyDBCluster the maintenance window
    assert plan.restore == {
        "Port": 5433,
        "EnableIAMDatabaseAuthentication": True,
        "EnableCloudwatchLogsExports": ["postgresql"],
        "StorageType": "aurora-iopt1",
        "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 8.0},
        "EngineLifecycleSupport": "open-source-rds-extended-support-disabled",
        "BackupRetentionPeriod": 14,
        "PreferredBackupWindow": "03:00-03:30",
    }
    assert plan.modify == {"PreferredMaintenanceWindow": "sun:05:00-sun:05:30"}
    rows = _rows(plan)
    assert rows["StorageType"] == ("aurora-iopt1", "aurora-iopt1", "restore parameter")
    assert rows["ServerlessV2ScalingConfiguration"] == ("0.5-8 ACUs", "0.5-8 ACUs", "restore parameter")
    assert rows["PreferredMaintenanceWindow"][2] == "modify after restore"
    # And the source-account resources and the target's own settings are never copied, and say so
    assert rows["DeletionProtection"] == ("true", "false", "target's own: targets[].deletionProtection")
    assert rows["CopyTagsToSnapshot"][1:] == (
        "true",
        "target's own: always on, so a replaced cluster's final snapshot carries the run's tags",
    )
    assert rows["DBSubnetGroupName"] == (
        "prod-private",
        "the target account's default",
        "dropped: per account",
    )
    assert rows["VpcSecurityGroupIds"][2] == "dropped: per account"
    # (its custom cluster parameter group is replicated into the target, README "Parameter groups")
    assert rows["DBClusterParameterGroupName"][2] == "replicated group (ReplicateParameterGroups)"
    assert rows["AssociatedRoles"][2].startswith("dropped: per account")
    assert rows["KmsKeyId"] == (CLUSTER["KmsKeyId"], KEY, "target's own: targets[].kmsKeyArn")
    assert not {"DBSubnetGroupName", "VpcSecurityGroupIds", "DeletionProtection"} & set(plan.restore)


def test_an_override_wins_and_the_targets_own_placement_is_named() -> None:
    # Given overrides and a target with its own subnet group and parameter group
    target = ClusterTarget(
        account_id=TARGET.account_id,
        role_arn=TARGET.role_arn,
        instance_class="db.r6g.large",
        db_subnet_group_name="dev-private",
        db_cluster_parameter_group_name="dev-pg16",
    )
    overrides = CarriedSettings(
        port=5432,
        storage_type="aurora",
        serverless_v2_scaling=Scaling(1.0, 4.0),
        preferred_maintenance_window="mon:01:00-mon:01:30",
    )

    # When it is planned
    plan = plan_carry(configuration_from_cluster(CLUSTER), target, overrides, KEY)

    # Then each override is what the target gets, where that setting goes, and the rows say "overridden"
    assert plan.restore["Port"] == 5432
    assert plan.restore["StorageType"] == "aurora"
    assert plan.restore["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 1.0, "MaxCapacity": 4.0}
    assert plan.modify == {"PreferredMaintenanceWindow": "mon:01:00-mon:01:30"}
    rows = _rows(plan)
    assert rows["Port"] == ("5433", "5432", "overridden")
    assert rows["PreferredMaintenanceWindow"] == ("sun:05:00-sun:05:30", "mon:01:00-mon:01:30", "overridden")
    assert rows["DBSubnetGroupName"] == (
        "prod-private",
        "dev-private",
        "target's own: targets[].dbSubnetGroupName",
    )
    assert rows["DBClusterParameterGroupName"][2] == "target's own: targets[].dbClusterParameterGroupName"


def test_backtrack_is_carried_for_aurora_mysql_only() -> None:
    # Given an Aurora MySQL source with a backtrack window, and an Aurora PostgreSQL target override of one
    mysql = configuration_from_cluster({**CLUSTER, "Engine": "aurora-mysql", "BacktrackWindow": 86400})
    postgres = configuration_from_cluster(CLUSTER)

    # When each is planned
    carried = plan_carry(mysql, TARGET, None, KEY)
    dropped = plan_carry(postgres, TARGET, CarriedSettings(backtrack_window=3600), KEY)

    # Then Aurora MySQL restores with it, and Aurora PostgreSQL drops it, saying why
    assert carried.restore["BacktrackWindow"] == 86400
    assert "BacktrackWindow" not in dropped.restore
    assert _rows(dropped)["BacktrackWindow"][2] == (
        "dropped: aurora-postgresql has no BacktrackWindow (only aurora-mysql)"
    )
    assert "BacktrackWindow" not in _rows(plan_carry(postgres, TARGET, None, KEY))


def test_a_provisioned_source_without_scaling_or_logs_passes_nothing_for_them() -> None:
    # Given a source with no Serverless v2 scaling and no log exports
    raw = {k: v for k, v in CLUSTER.items() if k != "ServerlessV2ScalingConfiguration"}
    source = configuration_from_cluster({**raw, "EnabledCloudwatchLogsExports": []})

    # When it is planned
    plan = plan_carry(source, TARGET, None, KEY)

    # Then neither is a parameter, and the rows say the target has what the restore gives
    assert "ServerlessV2ScalingConfiguration" not in plan.restore
    assert "EnableCloudwatchLogsExports" not in plan.restore
    rows = _rows(plan)
    assert rows["ServerlessV2ScalingConfiguration"] == ("unknown", "none", "default: the source has none")
    assert rows["EnableCloudwatchLogsExports"] == ("none", "none", "default: the same")


def test_a_snapshot_records_only_some_settings_and_the_rest_is_left_to_the_defaults() -> None:
    # Given a source snapshot whose cluster is gone
    snapshot = {
        "Engine": "aurora-postgresql",
        "Port": 5433,
        "IAMDatabaseAuthenticationEnabled": True,
        "StorageType": "aurora-iopt1",
        "BackupRetentionPeriod": 14,
        "PreferredBackupWindow": "03:00-03:30",
    }

    # When its configuration is planned
    source = configuration_from_snapshot(snapshot)
    plan = plan_carry(source, TARGET, None, KEY)

    # Then what it records is carried, and the rest is RDS's default, saying the snapshot does not record it
    assert source.origin == "snapshot"
    assert set(plan.restore) == {
        "Port",
        "EnableIAMDatabaseAuthentication",
        "StorageType",
        "BackupRetentionPeriod",
        "PreferredBackupWindow",
    }
    assert plan.modify == {}
    assert _rows(plan)["EngineLifecycleSupport"] == (
        "unknown",
        "open-source-rds-extended-support",
        "default: the source snapshot does not record it",
    )


def test_the_configuration_round_trips_as_small_json() -> None:
    # Given a cluster's configuration
    source = configuration_from_cluster(CLUSTER)

    # When it goes through JSON, as the state machine carries it
    carried = json.loads(json.dumps(source.to_json()))

    # Then it comes back equal, in camelCase, and small
    assert SourceConfiguration.from_json(carried) == source
    assert carried["settings"]["serverlessV2Scaling"] == {"minCapacity": 0.5, "maxCapacity": 8.0}
    assert len(json.dumps(carried)) < 1024
    snapshot_only = configuration_from_snapshot({"Engine": "aurora-mysql"})
    assert SourceConfiguration.from_json(snapshot_only.to_json()) == snapshot_only


def _with_settings(settings: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "migrate-cmk.json").read_text(encoding="utf-8"))
    event["targets"][0]["settings"] = settings
    return event


def test_the_contract_takes_overrides_and_keeps_them_in_the_normalised_input() -> None:
    # Given a target with an override of every setting it may override
    settings = {
        "port": 5432,
        "iamDatabaseAuthentication": False,
        "cloudwatchLogsExports": ["postgresql", "iam-db-auth-error"],
        "backtrackWindow": 0,
        "storageType": "aurora-iopt1",
        "serverlessV2Scaling": {"minCapacity": 0, "maxCapacity": 16},
        "engineLifecycleSupport": "open-source-rds-extended-support-disabled",
        "backupRetentionPeriod": 35,
        "preferredBackupWindow": "22:00-22:30",
        "preferredMaintenanceWindow": "sat:23:30-sun:00:00",
    }

    # When the input is parsed, and its normalised form parsed again
    request = parse_migration_request(_with_settings(settings))
    again = parse_migration_request(request.to_json())

    # Then the overrides are the target's, unchanged by the round trip
    assert again.targets[0].settings == request.targets[0].settings
    assert request.targets[0].settings == CarriedSettings(
        port=5432,
        iam_database_authentication=False,
        cloudwatch_logs_exports=("postgresql", "iam-db-auth-error"),
        backtrack_window=0,
        storage_type="aurora-iopt1",
        serverless_v2_scaling=Scaling(0.0, 16.0),
        engine_lifecycle_support="open-source-rds-extended-support-disabled",
        backup_retention_period=35,
        preferred_backup_window="22:00-22:30",
        preferred_maintenance_window="sat:23:30-sun:00:00",
    )
    # And a target without settings keeps the field out of the normalised input
    plain: dict[str, Any] = json.loads((EVENTS / "migrate-cmk.json").read_text(encoding="utf-8"))
    assert "settings" not in parse_migration_request(plain).to_json()["targets"][0]


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ("fast", "targets[0].settings: must be an object of settings"),
        (
            {"colour": "blue"},
            "targets[0].settings.colour: unknown field; allowed: autoMinorVersionUpgrade, backtrackWindow",
        ),
        (
            {"deletionProtection": True},
            "targets[0].settings.deletionProtection: give targets[].deletionProtection",
        ),
        ({"copyTagsToSnapshot": False}, "targets[0].settings.copyTagsToSnapshot: always on"),
        ({"port": 80}, "targets[0].settings.port: must be from 1150 to 65535, got 80"),
        (
            {"iamDatabaseAuthentication": "yes"},
            "targets[0].settings.iamDatabaseAuthentication: must be true or false",
        ),
        (
            {"cloudwatchLogsExports": ["slow"]},
            "targets[0].settings.cloudwatchLogsExports: must be a list of log types",
        ),
        ({"backtrackWindow": 300000}, "targets[0].settings.backtrackWindow: must be from 0 to 259200"),
        (
            {"storageType": "gp3"},
            "targets[0].settings.storageType: must be one of aurora, aurora-iopt1, got 'gp3'",
        ),
        (
            {"serverlessV2Scaling": {"minCapacity": 1}},
            "targets[0].settings.serverlessV2Scaling: must be an object",
        ),
        (
            {"serverlessV2Scaling": {"minCapacity": 0.25, "maxCapacity": 4}},
            "targets[0].settings.serverlessV2Scaling.minCapacity: must be 0 to 256 in steps of 0.5",
        ),
        (
            {"serverlessV2Scaling": {"minCapacity": 8, "maxCapacity": 4}},
            "targets[0].settings.serverlessV2Scaling: maxCapacity must be at least 1 and at least minCapacity",
        ),
        ({"engineLifecycleSupport": "forever"}, "targets[0].settings.engineLifecycleSupport: must be one of"),
        ({"backupRetentionPeriod": 0}, "targets[0].settings.backupRetentionPeriod: must be from 1 to 35"),
        ({"preferredBackupWindow": "3-4"}, "targets[0].settings.preferredBackupWindow: must be a UTC window"),
        (
            {"preferredMaintenanceWindow": "sunday 05:00"},
            "targets[0].settings.preferredMaintenanceWindow: must be a UTC window like sun:05:00-sun:05:30",
        ),
    ],
)
def test_a_bad_override_is_refused_naming_the_field_and_what_is_allowed(settings: Any, problem: str) -> None:
    # Given a target with a bad settings object
    event = _with_settings(settings)

    # When the input is parsed
    with pytest.raises(InvalidInputError) as refused:
        parse_migration_request(event)

    # Then the problem names the field and what is allowed
    assert problem in str(refused.value)


def test_a_cluster_parameter_group_is_replicated_unless_the_target_names_one_or_asks_for_the_default() -> (
    None
):
    # Given a source on a custom cluster parameter group, and one on its engine's default group
    custom = configuration_from_cluster(CLUSTER)
    on_default = configuration_from_cluster(
        {**CLUSTER, "DBClusterParameterGroup": "default.aurora-postgresql16"}
    )

    def how(source: Any, **target: Any) -> tuple[str, str, str]:
        return _rows(plan_carry(source, dataclasses.replace(TARGET, **target), None, KEY))[
            "DBClusterParameterGroupName"
        ]

    # When each is planned / Then the custom group is replicated, or the target's own, or dropped for the default
    group = CLUSTER["DBClusterParameterGroup"]
    assert how(custom) == (group, group, "replicated group (ReplicateParameterGroups)")
    assert how(custom, db_cluster_parameter_group_name="dev-params")[1:] == (
        "dev-params",
        "target's own: targets[].dbClusterParameterGroupName",
    )
    assert how(custom, parameter_groups=ParameterGroups.DEFAULT)[2] == "dropped: parameterGroups 'default'"
    # And a default group is the target account's own default, with nothing dropped
    assert how(on_default) == (
        "default.aurora-postgresql16",
        "the target account's default",
        "default: the engine's default group",
    )
