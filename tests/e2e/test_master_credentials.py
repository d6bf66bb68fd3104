"""Master credentials of the target's own (README "Master credentials"): the cluster a migration restores, or a
clone, ends with its master password managed by RDS in the target account's Secrets Manager under the target's
key, and the source's password no longer opens it; targets[].masterCredentials "source" keeps the source's."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from moto.rds.models import rds_backends

from tests.conftest import load_event, running_twin

pytestmark = pytest.mark.e2e

SOURCE = "111111111111"
DEV = "222222222222"
REGION = "eu-west-1"
DEV_KEY = "arn:aws:kms:eu-west-1:222222222222:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6"
SECRET_PREFIX = f"arn:aws:secretsmanager:{REGION}:{DEV}:secret:rds!cluster-"


def _password(account: str, cluster_id: str) -> str:
    """The master password the cluster has now (moto keeps it; no API returns it)."""
    return str(rds_backends[account][REGION].clusters[cluster_id]._master_user_password)


def _cluster(twin: Any, account: str, cluster_id: str) -> dict[str, Any]:
    clusters = twin.client("rds", account).describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"]
    return dict(clusters[0])


def _run(twin: Any, event: dict[str, Any], machine: str = "MigrationStateMachine") -> dict[str, Any]:
    description = twin.wait(twin.start(event, machine=machine), timeout_real_seconds=240)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    return dict(json.loads(description["output"]))


def _assert_own_secret(twin: Any, cluster_id: str, reported: dict[str, Any], key: str) -> str:
    """The cluster's secret is in the target account, under `key`, holds the cluster's own password, and is the
    one the run's output names; its ARN."""
    secret = _cluster(twin, DEV, cluster_id)["MasterUserSecret"]
    assert secret["SecretArn"].startswith(SECRET_PREFIX)
    assert secret["KmsKeyId"] == key
    assert reported["masterCredentials"] == "own"
    assert reported["masterUserSecretArn"] == secret["SecretArn"]
    assert reported["masterUserSecretKmsKeyId"] == key
    manager = twin.client("secretsmanager", DEV)
    assert manager.describe_secret(SecretId=secret["SecretArn"])["KmsKeyId"] == key
    value = json.loads(manager.get_secret_value(SecretId=secret["SecretArn"])["SecretString"])
    assert value["password"] == _password(DEV, cluster_id)
    return str(secret["SecretArn"])


def test_a_migrated_cluster_gets_its_own_secret_and_the_source_password_stops_working() -> None:
    # Given the default migration (targets[].masterCredentials left out: "own")
    with running_twin() as twin:
        # When it runs
        output = _run(twin, load_event("migrate-cmk.json"))
        target = output["targets"][0]
        # Then the target cluster's master password is managed in the target account under the target's key,
        # the output names that secret, and the source's password no longer opens the target cluster
        _assert_own_secret(twin, "orders-dev", target, DEV_KEY)
        assert _password(DEV, "orders-dev") != _password(SOURCE, "orders")
        # And the source cluster keeps its own password and has no secret
        assert "MasterUserSecret" not in _cluster(twin, SOURCE, "orders")
        assert _cluster(twin, DEV, "orders-dev")["Status"] == "available"


def test_master_credentials_source_keeps_the_source_password_and_makes_no_secret() -> None:
    # Given a migration that asks to keep the source's credentials
    event = load_event("migrate-cmk.json")
    event["targets"][0]["masterCredentials"] = "source"
    with running_twin() as twin:
        # When it runs
        output = _run(twin, event)
        # Then the target cluster has no managed secret and opens with the source's password
        assert "MasterUserSecret" not in _cluster(twin, DEV, "orders-dev")
        assert _password(DEV, "orders-dev") == _password(SOURCE, "orders")
        assert twin.client("secretsmanager", DEV).list_secrets()["SecretList"] == []
    # And the output says so
    assert output["targets"][0]["masterCredentials"] == "source"
    assert "masterUserSecretArn" not in output["targets"][0]


def test_a_refresh_in_place_ends_with_the_new_clusters_own_secret() -> None:
    # Given a target cluster an earlier run made, with its own secret
    event = load_event("migrate-refresh-in-place.json")
    with running_twin() as twin:
        first = _run(twin, copy.deepcopy(event))
        first_secret = _assert_own_secret(twin, "orders-dev", first["targets"][0], DEV_KEY)
        # When the refresh in place replaces it
        second = _run(twin, event)
        # Then the cluster now under the name is the new one, with a secret of its own, named in the output
        second_secret = _assert_own_secret(twin, "orders-dev", second["targets"][0], DEV_KEY)
    assert second["targets"][0]["replaced"]
    assert second_secret != first_secret


def test_a_cross_account_clone_gets_its_own_secret_under_the_target_key() -> None:
    # Given a cross-account clone with the target's key
    with running_twin(world="clones.json") as twin:
        # When it runs
        output = _run(twin, load_event("clone-cross-account.json"), machine="CloneStateMachine")
        # Then the clone's password is managed in the target account under the target's key, named in the output
        _assert_own_secret(twin, "orders-dev", output["clone"], DEV_KEY)
        assert _password(DEV, "orders-dev") != _password(SOURCE, "orders")


def test_a_clone_with_master_credentials_source_keeps_the_source_password() -> None:
    # Given a cross-account clone that keeps the source's credentials
    event = load_event("clone-cross-account.json")
    event["target"]["masterCredentials"] = "source"
    with running_twin(world="clones.json") as twin:
        # When it runs
        output = _run(twin, event, machine="CloneStateMachine")
        # Then the clone has no managed secret and opens with the source's password
        assert "MasterUserSecret" not in _cluster(twin, DEV, "orders-dev")
        assert _password(DEV, "orders-dev") == _password(SOURCE, "orders")
    assert output["clone"]["masterCredentials"] == "source"
