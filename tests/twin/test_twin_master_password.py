"""A managed master password in the twin, as the API reference and the Aurora guide describe it
(ferry_cli.twin.clusters): the cluster is "modifying" for a while, the secret in the cluster's own account holds
the master user and a generated password that the cluster then has, and what AWS refuses is refused. moto keeps
the old password, stores a fixed one in the secret, and refuses none of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.rds.models import rds_backends

from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.clusters import MANAGE_MASTER_PASSWORD_SECONDS
from ferry_cli.twin.rules import Durations, TwinRegistry, aws_rules
from tests.conftest import acting_as
from tests.twin.test_twin_deletions import create_cluster

pytestmark = pytest.mark.twin

REGION = "us-east-1"
ACCOUNT = "111111111111"


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any, Any]]:
    with mock_aws():
        session = acting_as(ACCOUNT, REGION)
        yield session.client("rds"), session.client("kms"), session.client("secretsmanager")


@pytest.fixture
def registry(clients: tuple[Any, Any, Any], clock: TwinClock) -> Iterator[TwinRegistry]:
    """An available cluster "dev"."""
    with aws_rules(clock, Durations()) as tracked:
        create_cluster(clients[0], "dev")
        tracked.settle_all()
        yield tracked


def _cluster(rds: Any, name: str) -> dict[str, Any]:
    return dict(rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0])


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_a_managed_password_is_generated_into_a_secret_of_the_account_under_the_key(
    clients: tuple[Any, Any, Any], registry: TwinRegistry, clock: TwinClock
) -> None:
    rds, kms, secrets = clients
    # Given a customer managed key of the cluster's account, and the cluster's password as it is
    key = kms.create_key()["KeyMetadata"]["Arn"]
    old_password = rds_backends[ACCOUNT][REGION].clusters["dev"]._master_user_password
    # When RDS is asked to manage the master password under that key
    rds.modify_db_cluster(
        DBClusterIdentifier="dev",
        ManageMasterUserPassword=True,
        MasterUserSecretKmsKeyId=key,
        ApplyImmediately=True,
    )
    # Then the cluster is modifying, and its secret is in its own account, named for RDS, under the key
    cluster = _cluster(rds, "dev")
    assert cluster["Status"] == "modifying"
    secret = cluster["MasterUserSecret"]
    assert secret["SecretArn"].startswith(f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!cluster-")
    assert secret["KmsKeyId"] == key
    assert secrets.describe_secret(SecretId=secret["SecretArn"])["KmsKeyId"] == key
    # And the secret holds the master user and a new password, which the cluster now has instead of the old one
    value = json.loads(secrets.get_secret_value(SecretId=secret["SecretArn"])["SecretString"])
    new_password = rds_backends[ACCOUNT][REGION].clusters["dev"]._master_user_password
    assert value == {"username": cluster["MasterUsername"], "password": new_password}
    assert new_password != old_password
    # When the modification's time has passed / Then the cluster is available again
    clock.advance(MANAGE_MASTER_PASSWORD_SECONDS)
    assert _cluster(rds, "dev")["Status"] == "available"


def test_what_aws_refuses_with_a_managed_password_is_refused(
    clients: tuple[Any, Any, Any], registry: TwinRegistry, clock: TwinClock
) -> None:
    rds, kms, _ = clients
    key = kms.create_key()["KeyMetadata"]["Arn"]
    # Given a password in the same call ("In this case, you can't specify MasterUserPassword")
    with pytest.raises(ClientError) as both:
        rds.modify_db_cluster(
            DBClusterIdentifier="dev",
            ManageMasterUserPassword=True,
            MasterUserPassword="a-password-of-mine",
            ApplyImmediately=True,
        )
    assert _code(both) == "InvalidParameterCombination"
    # And a key that does not exist
    missing = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-4000-8000-000000000000"
    with pytest.raises(ClientError) as unknown:
        rds.modify_db_cluster(
            DBClusterIdentifier="dev",
            ManageMasterUserPassword=True,
            MasterUserSecretKmsKeyId=missing,
            ApplyImmediately=True,
        )
    assert _code(unknown) == "KMSKeyNotAccessibleFault"
    # When the password is managed, and the cluster is modifying
    rds.modify_db_cluster(
        DBClusterIdentifier="dev",
        ManageMasterUserPassword=True,
        MasterUserSecretKmsKeyId=key,
        ApplyImmediately=True,
    )
    # Then another change of it waits for the cluster ("InvalidDBClusterStateFault")
    with pytest.raises(ClientError) as busy:
        rds.modify_db_cluster(DBClusterIdentifier="dev", ManageMasterUserPassword=True, ApplyImmediately=True)
    assert _code(busy) == "InvalidDBClusterStateFault"
    # And once available, another key for the secret is refused ("you can't change the KMS key")
    clock.advance(MANAGE_MASTER_PASSWORD_SECONDS)
    other = kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as rekey:
        rds.modify_db_cluster(
            DBClusterIdentifier="dev",
            ManageMasterUserPassword=True,
            MasterUserSecretKmsKeyId=other,
            ApplyImmediately=True,
        )
    assert _code(rekey) == "InvalidParameterCombination"
    assert _cluster(rds, "dev")["MasterUserSecret"]["KmsKeyId"] == key
