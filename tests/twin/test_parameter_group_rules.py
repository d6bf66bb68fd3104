"""The twin's parameter group rules (ferry_cli.twin.parameter_groups): each refusal AWS makes, with its error code,
and, for each, that plain moto accepts the same call, so that the rule is what refuses it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ferry_cli.twin.lifecycle import TwinRegistry
from ferry_cli.twin.parameter_groups import APPLY_TYPES
from tests.conftest import acting_as

pytestmark = pytest.mark.twin

REGION = "us-east-1"
ACCOUNT = "111111111111"
FAMILY = "aurora-postgresql16"


@pytest.fixture
def rds() -> Iterator[Any]:
    with mock_aws():
        yield acting_as(ACCOUNT, REGION).client("rds", region_name=REGION)


@pytest.fixture(params=["twin", "moto"])
def world(request: pytest.FixtureRequest, rds: Any) -> Iterator[tuple[Any, bool]]:
    """The RDS client, under the twin's rules or in plain moto, and whether the rules are on."""
    if request.param == "moto":
        yield rds, False
        return
    twin: TwinRegistry = request.getfixturevalue("twin")
    assert twin is not None
    yield rds, True


def _groups(rds: Any) -> None:
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="orders-cluster", DBParameterGroupFamily=FAMILY, Description="orders"
    )
    rds.create_db_parameter_group(
        DBParameterGroupName="orders-instances", DBParameterGroupFamily=FAMILY, Description="orders"
    )


def _refused(call: Any, code: str, rules: bool, **kwargs: Any) -> None:
    if not rules:
        call(**kwargs)
        return
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    assert raised.value.response["Error"]["Code"] == code


def _parameters(count: int) -> list[dict[str, str]]:
    names = sorted(name for name, kind in APPLY_TYPES.items() if kind == "dynamic")[:count]
    assert len(names) == count
    return [{"ParameterName": n, "ParameterValue": "1", "ApplyMethod": "immediate"} for n in names]


def test_more_than_twenty_parameters_per_modify_are_refused(world: tuple[Any, bool]) -> None:
    rds, rules = world
    _groups(rds)
    # Twenty are fine
    rds.modify_db_cluster_parameter_group(
        DBClusterParameterGroupName="orders-cluster", Parameters=_parameters(20)
    )
    # Twenty-one are not, for either kind of group
    _refused(
        rds.modify_db_cluster_parameter_group,
        "InvalidParameterCombination",
        rules,
        DBClusterParameterGroupName="orders-cluster",
        Parameters=_parameters(21),
    )
    _refused(
        rds.modify_db_parameter_group,
        "InvalidParameterCombination",
        rules,
        DBParameterGroupName="orders-instances",
        Parameters=_parameters(21),
    )


def test_a_static_parameter_cannot_be_applied_immediately(world: tuple[Any, bool]) -> None:
    rds, rules = world
    _groups(rds)
    static = {"ParameterName": "shared_preload_libraries", "ParameterValue": "pg_stat_statements"}
    _refused(
        rds.modify_db_cluster_parameter_group,
        "InvalidParameterCombination",
        rules,
        DBClusterParameterGroupName="orders-cluster",
        Parameters=[{**static, "ApplyMethod": "immediate"}],
    )
    # pending-reboot is accepted, and the twin describes it as AWS does: static, set by the user
    rds.modify_db_cluster_parameter_group(
        DBClusterParameterGroupName="orders-cluster", Parameters=[{**static, "ApplyMethod": "pending-reboot"}]
    )
    described = rds.describe_db_cluster_parameters(
        DBClusterParameterGroupName="orders-cluster", Source="user"
    )
    parameter = described["Parameters"][0]
    assert parameter["ParameterValue"] == "pg_stat_statements"
    assert (parameter.get("ApplyType"), parameter.get("Source")) == (
        ("static", "user") if rules else (None, None)
    )


def test_describing_a_missing_db_parameter_group_is_not_found(world: tuple[Any, bool]) -> None:
    rds, rules = world
    if rules:
        _refused(
            rds.describe_db_parameter_groups, "DBParameterGroupNotFound", rules, DBParameterGroupName="gone"
        )
    else:
        assert rds.describe_db_parameter_groups(DBParameterGroupName="gone")["DBParameterGroups"] == []


def test_a_cluster_cannot_be_created_with_a_missing_cluster_parameter_group(world: tuple[Any, bool]) -> None:
    rds, rules = world
    _refused(
        rds.create_db_cluster,
        "DBClusterParameterGroupNotFound",
        rules,
        DBClusterIdentifier="orders",
        Engine="aurora-postgresql",
        MasterUsername="ferry",
        MasterUserPassword="correct-horse-battery",
        DBClusterParameterGroupName="gone",
    )


def test_a_group_in_use_cannot_be_deleted(world: tuple[Any, bool]) -> None:
    rds, rules = world
    _groups(rds)
    rds.create_db_cluster(
        DBClusterIdentifier="orders",
        Engine="aurora-postgresql",
        MasterUsername="ferry",
        MasterUserPassword="correct-horse-battery",
        DBClusterParameterGroupName="orders-cluster",
    )
    rds.create_db_instance(
        DBInstanceIdentifier="orders-1",
        DBClusterIdentifier="orders",
        DBInstanceClass="db.r6g.large",
        Engine="aurora-postgresql",
        DBParameterGroupName="orders-instances",
    )
    _refused(
        rds.delete_db_cluster_parameter_group,
        "InvalidDBParameterGroupState",
        rules,
        DBClusterParameterGroupName="orders-cluster",
    )
    _refused(
        rds.delete_db_parameter_group,
        "InvalidDBParameterGroupState",
        rules,
        DBParameterGroupName="orders-instances",
    )


def test_a_static_change_to_a_group_in_use_waits_for_a_reboot(
    world: tuple[Any, bool], request: pytest.FixtureRequest
) -> None:
    rds, rules = world
    registry: TwinRegistry | None = request.getfixturevalue("twin") if rules else None
    _groups(rds)
    rds.create_db_cluster(
        DBClusterIdentifier="orders",
        Engine="aurora-postgresql",
        MasterUsername="ferry",
        MasterUserPassword="correct-horse-battery",
    )
    rds.create_db_instance(
        DBInstanceIdentifier="orders-1",
        DBClusterIdentifier="orders",
        DBInstanceClass="db.r6g.large",
        Engine="aurora-postgresql",
        DBParameterGroupName="orders-instances",
    )

    def status() -> str:
        instance = rds.describe_db_instances(DBInstanceIdentifier="orders-1")["DBInstances"][0]
        (group,) = instance["DBParameterGroups"]
        assert group["DBParameterGroupName"] == "orders-instances"
        return str(group["ParameterApplyStatus"])

    # A new instance starts with its group; a dynamic change applies at once
    assert status() == "in-sync"
    rds.modify_db_parameter_group(DBParameterGroupName="orders-instances", Parameters=_parameters(1))
    assert status() == "in-sync"
    # A static change waits for a reboot (in plain moto the instance stays in-sync)
    rds.modify_db_parameter_group(
        DBParameterGroupName="orders-instances",
        Parameters=[
            {"ParameterName": "max_connections", "ParameterValue": "800", "ApplyMethod": "pending-reboot"}
        ],
    )
    assert status() == ("pending-reboot" if rules else "in-sync")
    if registry is not None:
        # RebootDBInstance takes only an available instance: the new one is still being created
        _refused(rds.reboot_db_instance, "InvalidDBInstanceState", True, DBInstanceIdentifier="orders-1")
        registry.settle_all()
    rds.reboot_db_instance(DBInstanceIdentifier="orders-1")
    assert status() == "in-sync"
    # And the instance is "rebooting" until the reboot is done (moto answers available at once)
    instance = rds.describe_db_instances(DBInstanceIdentifier="orders-1")["DBInstances"][0]
    assert instance["DBInstanceStatus"] == ("rebooting" if rules else "available")
