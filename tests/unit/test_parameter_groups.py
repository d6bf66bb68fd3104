"""Parameter group replication (aurora_ferry.core.parameter_groups): what is copied, how, under which name, and
what is reused; the AWS part against plain moto with a source and a target account."""

from __future__ import annotations

from typing import Any

import pytest

from aurora_ferry.core import (
    AccountAccess,
    ClusterTarget,
    GroupContent,
    ParameterGroups,
    TargetConflictError,
    alternative_name,
    apply_method,
    copyable,
    groups_to_replicate,
    modify_batches,
    names_source_resource,
    naming,
    rds,
    replicate_groups,
)
from aurora_ferry.core.parameter_groups import Parameter, fingerprint, is_identical

pytestmark = pytest.mark.unit

REGION = "eu-west-1"
SOURCE = "111111111111"
TARGET = "222222222222"
RUN = "run-1"
SOURCE_ACCESS = AccountAccess(SOURCE, REGION, f"arn:aws:iam::{SOURCE}:role/aurora-ferry-source")
TARGET_ACCESS = AccountAccess(TARGET, REGION, f"arn:aws:iam::{TARGET}:role/aurora-ferry-target")
ROLE_ARN = f"arn:aws:iam::{SOURCE}:role/orders-s3-import"


def _group(
    *parameters: Parameter, name: str = "orders-cluster", family: str = "aurora-postgresql16"
) -> GroupContent:
    return GroupContent("cluster", name, family, "orders", parameters)


def _target(**fields: Any) -> ClusterTarget:
    return ClusterTarget(account_id=TARGET, role_arn=TARGET_ACCESS.role_arn, **fields)


# --- the decisions, without AWS ---------------------------------------------------------------------------------


def test_static_parameters_wait_for_a_reboot_and_dynamic_ones_apply_at_once() -> None:
    assert apply_method("static") == "pending-reboot"
    assert apply_method("dynamic") == "immediate"


def test_parameters_are_modified_at_most_twenty_per_call_in_name_order() -> None:
    # Given 45 parameters, one of them static
    parameters = [Parameter(f"p{index:02}", str(index), "dynamic") for index in range(44)]
    parameters.append(Parameter("shared_preload_libraries", "pg_stat_statements", "static"))

    # When they are batched for ModifyDB(Cluster)ParameterGroup
    batches = modify_batches(reversed(parameters))

    # Then 20 + 20 + 5, every parameter once, sorted, each with its apply method
    assert [len(batch) for batch in batches] == [20, 20, 5]
    names = [item["ParameterName"] for batch in batches for item in batch]
    assert names == sorted(p.name for p in parameters)
    methods = {item["ParameterName"]: item["ApplyMethod"] for batch in batches for item in batch}
    assert methods["shared_preload_libraries"] == "pending-reboot"
    assert methods["p00"] == "immediate"
    assert modify_batches([]) == []


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (ROLE_ARN, True),
        (SOURCE, True),
        (f"arn:aws:s3:::bucket/{SOURCE}/x", True),
        ("1111111111112", False),  # a longer number that merely contains the id
        ("arn:aws:iam::999999999999:role/other", False),
        ("pg_stat_statements", False),
    ],
)
def test_a_value_naming_the_source_account_is_detected(value: str, names: bool) -> None:
    assert names_source_resource(value, SOURCE) is names


def test_parameters_naming_source_resources_are_reported_not_copied() -> None:
    group = _group(
        Parameter("aws_default_s3_role", ROLE_ARN, "dynamic"),
        Parameter("work_mem", "65536", "dynamic"),
    )
    kept, reported = copyable(group, SOURCE)
    assert kept.values() == {"work_mem": "65536"}
    assert reported == ("aws_default_s3_role",)


def test_the_alternative_name_follows_the_content_only() -> None:
    one = _group(Parameter("a", "1", "dynamic"), Parameter("b", "2", "static"))
    same = _group(Parameter("b", "2", "dynamic"), Parameter("a", "1", "dynamic"))
    other = _group(Parameter("a", "1", "dynamic"), Parameter("b", "3", "dynamic"))
    assert alternative_name(one) == alternative_name(same)
    assert alternative_name(one) != alternative_name(other)
    assert alternative_name(one) == f"orders-cluster-ferry-{fingerprint('aurora-postgresql16', one.values())}"
    assert len(fingerprint("f", {})) == 8
    # A different family is a different group, whatever the parameters
    assert not is_identical(one, _group(*one.parameters, family="aurora-postgresql15"))
    assert is_identical(one, same)


def test_which_groups_a_target_replicates() -> None:
    instances = ["orders-instances", None, "default.aurora-postgresql16", "orders-instances"]
    # By default: the cluster's and each instance's custom group, once, never a default one
    assert groups_to_replicate(_target(), "orders-cluster", instances) == [
        ("cluster", "orders-cluster"),
        ("instance", "orders-instances"),
    ]
    assert groups_to_replicate(_target(), "default.aurora-postgresql16", []) == []
    # A group the target names wins over the source's
    assert groups_to_replicate(
        _target(db_cluster_parameter_group_name="mine"), "orders-cluster", instances
    ) == [("instance", "orders-instances")]
    assert groups_to_replicate(_target(db_parameter_group_name="mine"), "orders-cluster", instances) == [
        ("cluster", "orders-cluster")
    ]
    # parameterGroups "default": nothing
    assert (
        groups_to_replicate(_target(parameter_groups=ParameterGroups.DEFAULT), "orders-cluster", instances)
        == []
    )


# --- against moto ----------------------------------------------------------------------------------------------


@pytest.fixture
def accounts(mocked_aws: None) -> tuple[Any, Any]:
    return rds(SOURCE_ACCESS), rds(TARGET_ACCESS)


def _make_cluster_group(client: Any, name: str, values: dict[str, str], tags: Any = ()) -> None:
    client.create_db_cluster_parameter_group(
        DBClusterParameterGroupName=name,
        DBParameterGroupFamily="aurora-postgresql16",
        Description="orders",
        Tags=list(tags),
    )
    items = [{"ParameterName": k, "ParameterValue": v, "ApplyMethod": "immediate"} for k, v in values.items()]
    for start in range(0, len(items), 20):
        client.modify_db_cluster_parameter_group(
            DBClusterParameterGroupName=name, Parameters=items[start : start + 20]
        )


def _values(client: Any, name: str) -> dict[str, str]:
    parameters = client.describe_db_cluster_parameters(DBClusterParameterGroupName=name, Source="user")[
        "Parameters"
    ]
    return {p["ParameterName"]: p["ParameterValue"] for p in parameters}


def _replicate() -> dict[str, Any]:
    groups = [("cluster", "orders-cluster"), ("instance", "orders-instances")]
    return replicate_groups(SOURCE_ACCESS, TARGET_ACCESS, groups, RUN, {"team": "orders"}).to_json()  # type: ignore[arg-type]


def test_source_groups_are_recreated_in_the_target_and_reused_by_a_second_run(
    accounts: tuple[Any, Any],
) -> None:
    source, target = accounts
    # Given a source cluster group with 25 user parameters, one naming a source role, and an instance group
    values = {f"p{index:02}": str(index) for index in range(24)}
    _make_cluster_group(source, "orders-cluster", {**values, "aws_default_s3_role": ROLE_ARN})
    source.create_db_parameter_group(
        DBParameterGroupName="orders-instances",
        DBParameterGroupFamily="aurora-postgresql16",
        Description="orders",
    )
    source.modify_db_parameter_group(
        DBParameterGroupName="orders-instances",
        Parameters=[
            {
                "ParameterName": "log_min_duration_statement",
                "ParameterValue": "500",
                "ApplyMethod": "immediate",
            }
        ],
    )

    # When the run replicates them, and a second run does it again
    first = _replicate()
    second = replicate_groups(
        SOURCE_ACCESS, TARGET_ACCESS, [("cluster", "orders-cluster")], "run-2", {}
    ).to_json()

    # Then the target has both groups under the source's names, without the role parameter, which is reported
    assert first == {
        "clusterParameterGroup": "orders-cluster",
        "instanceParameterGroups": {"orders-instances": "orders-instances"},
        "reported": ["orders-cluster/aws_default_s3_role"],
    }
    assert _values(target, "orders-cluster") == values
    group = target.describe_db_cluster_parameter_groups(DBClusterParameterGroupName="orders-cluster")[
        "DBClusterParameterGroups"
    ][0]
    assert group["DBParameterGroupFamily"] == "aurora-postgresql16"
    tags = naming.tag_values(
        target.list_tags_for_resource(ResourceName=group["DBClusterParameterGroupArn"])["TagList"]
    )
    assert tags[naming.RUN_ID_TAG] == RUN
    assert tags["team"] == "orders"
    # And the second run reuses the first one's group as it is
    assert second["clusterParameterGroup"] == "orders-cluster"
    assert len(target.describe_db_cluster_parameter_groups()["DBClusterParameterGroups"]) == 1


def test_a_differing_group_of_the_same_name_is_left_alone(accounts: tuple[Any, Any]) -> None:
    source, target = accounts
    # Given the target already has a group of the source's name with other parameters
    _make_cluster_group(source, "orders-cluster", {"work_mem": "65536"})
    _make_cluster_group(target, "orders-cluster", {"work_mem": "4096"})

    # When the run replicates the source's, twice (a retried step)
    first = replicate_groups(SOURCE_ACCESS, TARGET_ACCESS, [("cluster", "orders-cluster")], RUN, {})
    again = replicate_groups(SOURCE_ACCESS, TARGET_ACCESS, [("cluster", "orders-cluster")], RUN, {})

    # Then the target's own group is untouched and the run's copy has the alternative name, made once
    alternative = f"orders-cluster-ferry-{fingerprint('aurora-postgresql16', {'work_mem': '65536'})}"
    assert first.cluster_group == again.cluster_group == alternative
    assert first.created == (alternative,)
    assert _values(target, "orders-cluster") == {"work_mem": "4096"}
    assert _values(target, alternative) == {"work_mem": "65536"}


def test_a_half_made_group_of_this_run_is_completed(accounts: tuple[Any, Any]) -> None:
    source, target = accounts
    # Given a first attempt created the group and set only some of its parameters before failing
    _make_cluster_group(source, "orders-cluster", {"a": "1", "b": "2"})
    _make_cluster_group(
        target, "orders-cluster", {"a": "1"}, naming.tags_for(RUN, "target-cluster-parameter-group")
    )

    # When the step runs again
    result = replicate_groups(SOURCE_ACCESS, TARGET_ACCESS, [("cluster", "orders-cluster")], RUN, {})

    # Then it completes its own group rather than taking another name
    assert result.cluster_group == "orders-cluster"
    assert _values(target, "orders-cluster") == {"a": "1", "b": "2"}


def test_both_names_taken_by_differing_groups_is_a_conflict(accounts: tuple[Any, Any]) -> None:
    source, target = accounts
    _make_cluster_group(source, "orders-cluster", {"work_mem": "65536"})
    wanted = _group(Parameter("work_mem", "65536", "dynamic"))
    _make_cluster_group(target, "orders-cluster", {"work_mem": "1"})
    _make_cluster_group(target, alternative_name(wanted), {"work_mem": "2"})

    with pytest.raises(TargetConflictError, match=f"orders-cluster and {alternative_name(wanted)}"):
        replicate_groups(SOURCE_ACCESS, TARGET_ACCESS, [("cluster", "orders-cluster")], RUN, {})


def test_a_source_group_that_is_gone_leaves_the_target_default(accounts: tuple[Any, Any]) -> None:
    result = replicate_groups(
        SOURCE_ACCESS, TARGET_ACCESS, [("cluster", "gone"), ("instance", "gone")], RUN, {}
    )
    assert result.to_json() == {"instanceParameterGroups": {}, "reported": []}


# --- the contract ----------------------------------------------------------------------------------------------


def _parsed(**target_fields: Any) -> Any:
    import copy

    from aurora_ferry.migration import parse_migration_request
    from tests.conftest import load_event

    event = copy.deepcopy(load_event("migrate-parameter-groups.json"))
    event["targets"][0].update(target_fields)
    return parse_migration_request(event)


def test_the_contract_takes_the_instance_group_and_the_policy() -> None:
    target = _parsed(dbParameterGroupName="dev-instances", parameterGroups="default").targets[0]
    assert target.db_parameter_group_name == "dev-instances"
    assert target.parameter_groups is ParameterGroups.DEFAULT
    assert _parsed().targets[0].parameter_groups is ParameterGroups.REPLICATE
    normalised = _parsed().to_json()["targets"][0]
    assert normalised["parameterGroups"] == "replicate"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"parameterGroups": "copy"},
            "targets[0].parameterGroups: must be one of 'replicate', 'default', got 'copy'",
        ),
        ({"dbParameterGroupName": "-bad name"}, "targets[0].dbParameterGroupName"),
    ],
)
def test_bad_parameter_group_fields_are_refused_naming_the_field(
    fields: dict[str, Any], message: str
) -> None:
    from aurora_ferry.core import InvalidInputError

    with pytest.raises(InvalidInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _parsed(**fields)


def test_delete_unused_groups_deletes_only_this_runs_unused_groups(accounts: tuple[Any, Any]) -> None:
    from aurora_ferry.core import delete_unused_groups

    _, target = accounts
    # Given a group this run made, one another run made, one of the account's own, and one of this run in use
    mine = naming.tags_for(RUN, "target-cluster-parameter-group")
    _make_cluster_group(target, "made-by-run", {"a": "1"}, mine)
    _make_cluster_group(target, "made-by-other", {"a": "1"}, naming.tags_for("run-2", "x"))
    _make_cluster_group(target, "teams-own", {"a": "1"})
    _make_cluster_group(target, "in-use", {"a": "1"}, mine)
    target.create_db_cluster(
        DBClusterIdentifier="orders",
        Engine="aurora-postgresql",
        MasterUsername="ferry",
        MasterUserPassword="correct-horse-battery",
        DBClusterParameterGroupName="in-use",
    )

    def refuse_in_use(original: Any) -> Any:
        def delete(**kwargs: Any) -> Any:
            if kwargs["DBClusterParameterGroupName"] == "in-use":
                from botocore.exceptions import ClientError

                raise ClientError(
                    {"Error": {"Code": "InvalidDBParameterGroupState", "Message": "in use"}}, "Delete"
                )
            return original(**kwargs)

        return delete

    client = rds(TARGET_ACCESS)
    client.delete_db_cluster_parameter_group = refuse_in_use(client.delete_db_cluster_parameter_group)  # type: ignore[method-assign]

    # When the failed run's cleanup runs
    actions = delete_unused_groups(client, TARGET_ACCESS, RUN)

    # Then only its unused group is deleted; the one in use is reported as left
    assert [(a["action"], a["arn"].rsplit(":", 1)[-1]) for a in actions] == [
        ("deleted", "made-by-run"),
        ("left-in-place", "in-use"),
    ]
    left = {
        g["DBClusterParameterGroupName"]
        for g in target.describe_db_cluster_parameter_groups()["DBClusterParameterGroups"]
    }
    assert {"made-by-other", "teams-own", "in-use"} <= left
    assert "made-by-run" not in left
