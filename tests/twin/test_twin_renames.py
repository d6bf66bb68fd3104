"""Renaming an Aurora cluster or instance in the twin, as AWS documents it (ferry_cli.twin.clusters): the old
name is free at once, the resource is "renaming" until its new name is effective (about two minutes for a
cluster, ten for an instance), a taken name is refused, tags stay, a cluster keeps its instances, and every
cluster endpoint of an account and Region shares one host suffix. moto renames at once and refuses none of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.clusters import CLUSTER_RENAME_SECONDS, INSTANCE_RENAME_SECONDS
from ferry_cli.twin.rules import Durations, TwinRegistry, aws_rules
from tests.conftest import acting_as
from tests.twin.test_twin_deletions import add_instance, create_cluster

pytestmark = pytest.mark.twin

REGION = "us-east-1"
ACCOUNT = "111111111111"


@pytest.fixture
def rds() -> Iterator[Any]:
    with mock_aws():
        yield acting_as(ACCOUNT, REGION).client("rds")


@pytest.fixture
def registry(rds: Any, clock: TwinClock) -> Iterator[TwinRegistry]:
    """Available clusters "dev" (with instance "dev-1") and "other"."""
    with aws_rules(clock, Durations()) as tracked:
        create_cluster(rds, "dev")
        add_instance(rds, "dev", "dev-1")
        create_cluster(rds, "other")
        tracked.settle_all()
        yield tracked


def _cluster(rds: Any, name: str) -> dict[str, Any]:
    return dict(rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0])


def test_a_renamed_cluster_frees_its_name_at_once_and_is_renaming_until_the_new_name_is_effective(
    rds: Any, registry: TwinRegistry, clock: TwinClock
) -> None:
    endpoint = _cluster(rds, "dev")["Endpoint"]
    rds.add_tags_to_resource(
        ResourceName=_cluster(rds, "dev")["DBClusterArn"], Tags=[{"Key": "k", "Value": "v"}]
    )
    # When the cluster is renamed
    rds.modify_db_cluster(DBClusterIdentifier="dev", NewDBClusterIdentifier="dev-old", ApplyImmediately=True)
    # Then the old name is free at once and the cluster is renaming, with its tags and its instance
    with pytest.raises(ClientError) as gone:
        rds.describe_db_clusters(DBClusterIdentifier="dev")
    assert gone.value.response["Error"]["Code"] == "DBClusterNotFoundFault"
    renamed = _cluster(rds, "dev-old")
    assert renamed["Status"] == "renaming"
    assert {"Key": "k", "Value": "v"} in renamed["TagList"]
    assert [m["DBInstanceIdentifier"] for m in renamed["DBClusterMembers"]] == ["dev-1"]
    # And a renaming cluster cannot be renamed again
    with pytest.raises(ClientError) as busy:
        rds.modify_db_cluster(
            DBClusterIdentifier="dev-old", NewDBClusterIdentifier="dev", ApplyImmediately=True
        )
    assert busy.value.response["Error"]["Code"] == "InvalidDBClusterStateFault"
    # When the rename's time has passed / Then it is available, and back under its name it answers on the
    # endpoint it had (one host suffix per account and Region, as in AWS)
    clock.advance(CLUSTER_RENAME_SECONDS)
    assert _cluster(rds, "dev-old")["Status"] == "available"
    rds.modify_db_cluster(DBClusterIdentifier="dev-old", NewDBClusterIdentifier="dev", ApplyImmediately=True)
    assert _cluster(rds, "dev")["Endpoint"] == endpoint


def test_a_taken_name_is_refused(rds: Any, registry: TwinRegistry) -> None:
    with pytest.raises(ClientError) as cluster:
        rds.modify_db_cluster(
            DBClusterIdentifier="dev", NewDBClusterIdentifier="other", ApplyImmediately=True
        )
    assert cluster.value.response["Error"]["Code"] == "DBClusterAlreadyExistsFault"
    add_instance(rds, "other", "other-1")
    registry.settle_all()
    with pytest.raises(ClientError) as instance:
        rds.modify_db_instance(
            DBInstanceIdentifier="dev-1", NewDBInstanceIdentifier="other-1", ApplyImmediately=True
        )
    assert instance.value.response["Error"]["Code"] == "DBInstanceAlreadyExists"
    # And nothing was renamed: both clusters and both instances are where they were
    assert {c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]} == {"dev", "other"}
    assert {i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]} == {
        "dev-1",
        "other-1",
    }


def test_a_renamed_instance_is_renaming_for_ten_minutes(
    rds: Any, registry: TwinRegistry, clock: TwinClock
) -> None:
    rds.modify_db_instance(
        DBInstanceIdentifier="dev-1", NewDBInstanceIdentifier="dev-old-1", ApplyImmediately=True
    )
    instance = rds.describe_db_instances(DBInstanceIdentifier="dev-old-1")["DBInstances"][0]
    assert instance["DBInstanceStatus"] == "renaming"
    assert [m["DBInstanceIdentifier"] for m in _cluster(rds, "dev")["DBClusterMembers"]] == ["dev-old-1"]
    clock.advance(INSTANCE_RENAME_SECONDS - 1)
    assert (
        rds.describe_db_instances(DBInstanceIdentifier="dev-old-1")["DBInstances"][0]["DBInstanceStatus"]
        == "renaming"
    )
    clock.advance(1)
    assert (
        rds.describe_db_instances(DBInstanceIdentifier="dev-old-1")["DBInstances"][0]["DBInstanceStatus"]
        == "available"
    )
