"""Parameter group replication (issue 11): a source whose cluster and instances use custom parameter groups
(worlds/parameter-groups.json) arrives with equal groups attached, compared by a describe in both accounts; a second
run reuses them; a parameter naming a role of the source account is reported and not copied; a failed run leaves
no group behind."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import load_event, running_twin

pytestmark = pytest.mark.e2e

WORLD = "parameter-groups.json"
SOURCE = "111111111111"
DEV = "222222222222"
ROLE_PARAMETER = "aws_default_s3_role"


def _cluster_group(twin: Any, account: str, name: str) -> tuple[str, dict[str, str]]:
    rds = twin.client("rds", account)
    family = rds.describe_db_cluster_parameter_groups(DBClusterParameterGroupName=name)[
        "DBClusterParameterGroups"
    ][0]["DBParameterGroupFamily"]
    pages = rds.get_paginator("describe_db_cluster_parameters").paginate(
        DBClusterParameterGroupName=name, Source="user"
    )
    return family, {p["ParameterName"]: p["ParameterValue"] for page in pages for p in page["Parameters"]}


def _instance_group(twin: Any, account: str, name: str) -> tuple[str, dict[str, str]]:
    rds = twin.client("rds", account)
    family = rds.describe_db_parameter_groups(DBParameterGroupName=name)["DBParameterGroups"][0][
        "DBParameterGroupFamily"
    ]
    pages = rds.get_paginator("describe_db_parameters").paginate(DBParameterGroupName=name, Source="user")
    return family, {p["ParameterName"]: p["ParameterValue"] for page in pages for p in page["Parameters"]}


def _groups(twin: Any, account: str) -> tuple[set[str], set[str]]:
    rds = twin.client("rds", account)
    cluster = {
        g["DBClusterParameterGroupName"]
        for g in rds.describe_db_cluster_parameter_groups()["DBClusterParameterGroups"]
    }
    instance = {g["DBParameterGroupName"] for g in rds.describe_db_parameter_groups()["DBParameterGroups"]}
    return {n for n in cluster if not n.startswith("default.")}, {
        n for n in instance if not n.startswith("default.")
    }


def _run(twin: Any, event: dict[str, Any]) -> dict[str, Any]:
    description: dict[str, Any] = twin.wait(twin.start(event), timeout_real_seconds=300)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    return description


def test_the_source_groups_arrive_equal_and_attached_and_a_second_run_reuses_them() -> None:
    event = load_event("migrate-parameter-groups.json")
    with running_twin(world=WORLD) as twin:
        source_cluster = _cluster_group(twin, SOURCE, "orders-cluster")
        source_instances = _instance_group(twin, SOURCE, "orders-instances")
        # When the migration runs
        first = _run(twin, event)
        dev_cluster = _cluster_group(twin, DEV, "orders-cluster")
        dev_instances = _instance_group(twin, DEV, "orders-instances")
        rds = twin.client("rds", DEV)
        cluster = rds.describe_db_clusters(DBClusterIdentifier="orders-dev")["DBClusters"][0]
        members = [m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"]]
        attached = {
            group["DBParameterGroupName"]
            for member in members
            for group in rds.describe_db_instances(DBInstanceIdentifier=member)["DBInstances"][0][
                "DBParameterGroups"
            ]
        }
        output = json.loads(first["output"])["targets"][0]["parametersNotCopied"]
        # And a second run (to another cluster in the same account) finds them again
        second = load_event("migrate-parameter-groups.json")
        second["targets"][0]["clusterIdentifier"] = "orders-dev-2"
        _run(twin, second)
        groups_after = _groups(twin, DEV)
        tags = rds.list_tags_for_resource(
            ResourceName=rds.describe_db_cluster_parameter_groups(
                DBClusterParameterGroupName="orders-cluster"
            )["DBClusterParameterGroups"][0]["DBClusterParameterGroupArn"]
        )["TagList"]
        second_cluster = rds.describe_db_clusters(DBClusterIdentifier="orders-dev-2")["DBClusters"][0]

    # Then the groups are equal to the source's (more than 20 parameters, static ones too), but for the parameter
    # naming a role of the source account, which is not copied
    assert len(source_cluster[1]) > 20
    assert source_cluster[1][ROLE_PARAMETER].startswith(f"arn:aws:iam::{SOURCE}:")
    expected = {k: v for k, v in source_cluster[1].items() if k != ROLE_PARAMETER}
    assert dev_cluster == (source_cluster[0], expected)
    assert dev_instances == source_instances
    # And they are attached to the target's cluster and to each of its instances
    assert cluster["DBClusterParameterGroup"] == "orders-cluster"
    assert len(members) == 2
    assert attached == {"orders-instances"}
    # And the second run made no other group and attached the same ones; the groups carry the first run's tags
    assert groups_after == ({"orders-cluster"}, {"orders-instances"})
    assert second_cluster["DBClusterParameterGroup"] == "orders-cluster"
    assert {t["Key"]: t["Value"] for t in tags}["aurora-ferry:managed"] == "true"
    # And the run's output names the groups and the parameter it did not copy
    assert output == [f"orders-cluster/{ROLE_PARAMETER}"]


def test_a_target_with_parameter_groups_default_gets_the_default_groups() -> None:
    event = load_event("migrate-parameter-groups.json")
    event["targets"][0]["parameterGroups"] = "default"
    with running_twin(world=WORLD) as twin:
        _run(twin, event)
        groups = _groups(twin, DEV)
        cluster = twin.client("rds", DEV).describe_db_clusters(DBClusterIdentifier="orders-dev")[
            "DBClusters"
        ][0]
    assert groups == (set(), set())
    assert cluster["DBClusterParameterGroup"].startswith("default.")


def test_a_failed_run_deletes_the_groups_it_made_and_never_one_it_reused() -> None:
    def refuse(event: dict[str, Any], context: Any) -> Any:
        from aurora_ferry.core import TargetConflictError

        raise TargetConflictError("cluster orders-dev exists", account_id=DEV, region="eu-west-1")

    with running_twin(world=WORLD, handler_overrides={"RestoreClusterFunction": refuse}) as twin:
        # Given dev already has a group identical to the source's instance group (made by its own team)
        source = twin.client("rds", SOURCE)
        parameters = source.describe_db_parameters(DBParameterGroupName="orders-instances", Source="user")
        dev = twin.client("rds", DEV)
        dev.create_db_parameter_group(
            DBParameterGroupName="orders-instances",
            DBParameterGroupFamily="aurora-postgresql16",
            Description="ours",
        )
        dev.modify_db_parameter_group(
            DBParameterGroupName="orders-instances",
            Parameters=[
                {
                    "ParameterName": p["ParameterName"],
                    "ParameterValue": p["ParameterValue"],
                    "ApplyMethod": "pending-reboot",
                }
                for p in parameters["Parameters"]
            ],
        )
        # When a run replicates the groups and then fails at the restore
        description = twin.wait(
            twin.start(load_event("migrate-parameter-groups.json")), timeout_real_seconds=300
        )
        groups = _groups(twin, DEV)

    # Then the cluster group it made is gone, and the group it reused is still there
    assert description["status"] == "FAILED"
    assert groups == (set(), {"orders-instances"})


def test_a_cross_account_clone_gets_equal_groups_attached() -> None:
    event = load_event("clone-cross-account.json")
    for name in ("instanceClass", "instanceCount"):
        event["target"].pop(name)
    with running_twin(world=WORLD) as twin:
        source_cluster = _cluster_group(twin, SOURCE, "orders-cluster")
        source_instances = _instance_group(twin, SOURCE, "orders-instances")
        # When the source is cloned into dev
        description = twin.wait(twin.start(event, machine="CloneStateMachine"), timeout_real_seconds=300)
        assert description["status"] == "SUCCEEDED", description.get("cause")
        dev_cluster = _cluster_group(twin, DEV, "orders-cluster")
        dev_instances = _instance_group(twin, DEV, "orders-instances")
        rds = twin.client("rds", DEV)
        clone = rds.describe_db_clusters(DBClusterIdentifier="orders-dev")["DBClusters"][0]
        attached = {
            group["DBParameterGroupName"]
            for member in clone["DBClusterMembers"]
            for group in rds.describe_db_instances(DBInstanceIdentifier=member["DBInstanceIdentifier"])[
                "DBInstances"
            ][0]["DBParameterGroups"]
        }
    # Then the clone's account has the source's groups (but for the role parameter), attached to the clone and its
    # instances
    assert dev_cluster == (
        source_cluster[0],
        {k: v for k, v in source_cluster[1].items() if k != ROLE_PARAMETER},
    )
    assert dev_instances == source_instances
    assert clone["DBClusterParameterGroup"] == "orders-cluster"
    assert len(clone["DBClusterMembers"]) == 2
    assert attached == {"orders-instances"}


def _preflight(twin: Any, event: dict[str, Any]) -> Any:
    from aurora_ferry.migration import parse_migration_request
    from aurora_ferry.preflight import run_preflight

    with twin.iam.acting_as("PreflightFunction"):
        return run_preflight(parse_migration_request(event))


def _make_cluster_group(twin: Any, name: str, values: dict[str, str]) -> None:
    rds = twin.client("rds", DEV)
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName=name, DBParameterGroupFamily="aurora-postgresql16", Description="ours"
    )
    rds.modify_db_cluster_parameter_group(
        DBClusterParameterGroupName=name,
        Parameters=[
            {"ParameterName": k, "ParameterValue": v, "ApplyMethod": "immediate"} for k, v in values.items()
        ],
    )


def test_the_plan_shows_each_group_and_what_is_not_copied() -> None:
    event = load_event("migrate-parameter-groups.json")
    with running_twin(world=WORLD) as twin:
        report = _preflight(twin, event)
        event["targets"][0]["parameterGroups"] = "default"
        dropped = _preflight(twin, event)
    assert [f.message for f in report.findings if f.severity == "error"] == []
    rows = [step.action for step in report.plan if step.step == "ReplicateParameterGroups"]
    assert rows == [
        "cluster parameter group orders-cluster: replicate as orders-cluster (family aurora-postgresql16), 25 "
        "parameter(s), 2 static (pending-reboot; a new cluster or instance starts with them)",
        f"cluster parameter group orders-cluster: not copied, naming resources of the source account: {ROLE_PARAMETER}",
        "DB parameter group orders-instances: replicate as orders-instances (family aurora-postgresql16), 3 "
        "parameter(s), 1 static (pending-reboot; a new cluster or instance starts with them)",
    ]
    (warning,) = [f for f in report.findings if f.check == "parameter-groups"]
    assert warning.severity == "warning" and ROLE_PARAMETER in warning.message
    # And with parameterGroups "default" each source group is dropped for the target's default
    assert [step.action for step in dropped.plan if step.step == "ReplicateParameterGroups"] == [
        "cluster parameter group orders-cluster: dropped, the target's default (parameterGroups 'default')",
        "DB parameter group orders-instances: dropped, the target's default (parameterGroups 'default')",
    ]


def test_a_differing_group_under_both_names_stops_the_run_in_preflight() -> None:
    from aurora_ferry.core import GroupContent, Parameter, alternative_name

    with running_twin(world=WORLD) as twin:
        source = _cluster_group(twin, SOURCE, "orders-cluster")
        wanted = GroupContent(
            "cluster",
            "orders-cluster",
            source[0],
            "",
            tuple(Parameter(k, v, "dynamic") for k, v in source[1].items() if k != ROLE_PARAMETER),
        )
        # Given dev has other groups under the source's name and under the alternative one
        _make_cluster_group(twin, "orders-cluster", {"work_mem": "1"})
        _make_cluster_group(twin, alternative_name(wanted), {"work_mem": "2"})
        # When a run starts
        description = twin.wait(
            twin.start(load_event("migrate-parameter-groups.json")), timeout_real_seconds=300
        )
        groups = _groups(twin, DEV)
    # Then its preflight stops it naming both, and nothing was made or changed
    assert description["status"] == "FAILED"
    assert description["error"] == "PreflightFailedError"
    assert f"orders-cluster and {alternative_name(wanted)}" in description["cause"]
    assert groups == ({"orders-cluster", alternative_name(wanted)}, set())


def test_a_same_account_clone_uses_the_source_groups_as_they_are() -> None:
    event = load_event("clone-same-account.json")
    with running_twin(world=WORLD) as twin:
        before = _groups(twin, SOURCE)
        description = twin.wait(twin.start(event, machine="CloneStateMachine"), timeout_real_seconds=300)
        assert description["status"] == "SUCCEEDED", description.get("cause")
        rds = twin.client("rds", SOURCE)
        clone = rds.describe_db_clusters(DBClusterIdentifier="orders-sandbox")["DBClusters"][0]
        (member,) = clone["DBClusterMembers"]
        instance = rds.describe_db_instances(DBInstanceIdentifier=member["DBInstanceIdentifier"])[
            "DBInstances"
        ][0]
        after = _groups(twin, SOURCE)
    # Then the clone and its instance use the source's own groups, and no group was made
    assert clone["DBClusterParameterGroup"] == "orders-cluster"
    assert [g["DBParameterGroupName"] for g in instance["DBParameterGroups"]] == ["orders-instances"]
    assert after == before == ({"orders-cluster"}, {"orders-instances"})
