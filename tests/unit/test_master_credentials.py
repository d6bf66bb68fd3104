"""Master credentials of the target's own: the contracts' masterCredentials, and the step that has RDS manage a
target cluster's master password (aurora_ferry.core.credentials)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from aurora_ferry.clone import parse_clone_request
from aurora_ferry.core import (
    AccountAccess,
    InvalidInputError,
    MasterCredentials,
    MasterCredentialsError,
    ResourceFailedError,
    master_credentials_summary,
    own_master_credentials,
)
from aurora_ferry.core.errors import KmsKeyNotUsableError
from aurora_ferry.migration import parse_migration_request
from tests.conftest import load_event

pytestmark = pytest.mark.unit

ACCESS = AccountAccess("222222222222", "eu-west-1", "arn:aws:iam::222222222222:role/aurora-ferry-target")
KEY = "arn:aws:kms:eu-west-1:222222222222:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6"
OTHER_KEY = "arn:aws:kms:eu-west-1:222222222222:key/0b5e1c3a-6f1d-4f7e-9a51-2c8e7d1f0a11"
SECRET = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:rds!cluster-0a1b-xmJRDx"


class _Rds:
    """The two RDS calls the step makes, answered from `cluster` (None: no such cluster)."""

    def __init__(self, cluster: dict[str, Any] | None, fault: str | None = None) -> None:
        self.cluster = cluster
        self.fault = fault
        self.modified: list[dict[str, Any]] = []

    def describe_db_clusters(self, **params: str) -> dict[str, Any]:
        if self.cluster is None:
            raise ClientError({"Error": {"Code": "DBClusterNotFoundFault", "Message": "none"}}, "Describe")
        return {"DBClusters": [self.cluster]}

    def modify_db_cluster(self, **params: Any) -> dict[str, Any]:
        if self.fault:
            raise ClientError({"Error": {"Code": self.fault, "Message": "refused"}}, "ModifyDBCluster")
        self.modified.append(params)
        secret = {
            "SecretArn": SECRET,
            "SecretStatus": "creating",
            "KmsKeyId": params["MasterUserSecretKmsKeyId"],
        }
        return {"DBCluster": {**(self.cluster or {}), "MasterUserSecret": secret}}


# --- the contracts ------------------------------------------------------------------------------------------


def test_a_migration_target_defaults_to_own_credentials_and_accepts_source() -> None:
    # Given the sample migration, as given and with masterCredentials "source"
    event = load_event("migrate-cmk.json")
    kept = load_event("migrate-cmk.json")
    kept["targets"][0]["masterCredentials"] = "source"
    # When both are parsed
    default, source = parse_migration_request(event), parse_migration_request(kept)
    # Then the default is "own", the option is kept, and the normalised input carries each
    assert default.targets[0].master_credentials is MasterCredentials.OWN
    assert source.targets[0].master_credentials is MasterCredentials.SOURCE
    assert default.to_json()["targets"][0]["masterCredentials"] == "own"
    assert source.to_json()["targets"][0]["masterCredentials"] == "source"


def test_a_bad_master_credentials_value_names_the_field_and_the_allowed_values() -> None:
    # Given a migration target and a clone target with an unknown masterCredentials
    migration = load_event("migrate-cmk.json")
    migration["targets"][0]["masterCredentials"] = "shared"
    clone = load_event("clone-cross-account.json")
    clone["target"]["masterCredentials"] = True
    # When each is parsed
    with pytest.raises(InvalidInputError) as migration_error:
        parse_migration_request(migration)
    with pytest.raises(InvalidInputError) as clone_error:
        parse_clone_request(clone)
    # Then each error names the field, the allowed values and what was given
    assert migration_error.value.problems == [
        "targets[0].masterCredentials: must be one of 'own', 'source', got 'shared'"
    ]
    assert clone_error.value.problems == [
        "target.masterCredentials: must be one of 'own', 'source', got True"
    ]


def test_a_clone_target_takes_master_credentials_too() -> None:
    # Given a clone that keeps the source's credentials
    event = load_event("clone-cross-account.json")
    event["target"]["masterCredentials"] = "source"
    # When it is parsed
    request = parse_clone_request(event)
    # Then the option is kept (and the default of the sample is "own")
    assert request.target.master_credentials is MasterCredentials.SOURCE
    assert parse_clone_request(load_event("clone-cross-account.json")).target.master_credentials == "own"


# --- the step -----------------------------------------------------------------------------------------------


def test_a_cluster_without_a_managed_password_gets_one_under_the_key_and_is_waited_for() -> None:
    # Given a restored cluster that still has its source's password
    client = _Rds({"DBClusterIdentifier": "orders-dev", "Status": "available"})
    # When the step runs
    result = own_master_credentials(client, ACCESS, "orders-dev", KEY)  # type: ignore[arg-type]
    # Then RDS is asked to manage the password at once, under the target's key, and the workflow waits
    assert client.modified == [
        {
            "DBClusterIdentifier": "orders-dev",
            "ManageMasterUserPassword": True,
            "ApplyImmediately": True,
            "MasterUserSecretKmsKeyId": KEY,
        }
    ]
    assert result == {
        "managed": True,
        "secretArn": SECRET,
        "secretStatus": "creating",
        "kmsKeyId": KEY,
        "modifying": True,
    }


def test_a_retry_finds_the_secret_made_under_the_key_and_changes_nothing() -> None:
    # Given a cluster whose password is already managed under the target's key (the step ran before)
    secret = {"SecretArn": SECRET, "SecretStatus": "active", "KmsKeyId": KEY}
    client = _Rds({"DBClusterIdentifier": "orders-dev", "Status": "available", "MasterUserSecret": secret})
    # When the step runs again
    result = own_master_credentials(client, ACCESS, "orders-dev", KEY)  # type: ignore[arg-type]
    # Then nothing is modified, the secret is reported, and there is nothing to wait for
    assert client.modified == []
    assert result["secretArn"] == SECRET
    assert result["modifying"] is False


def test_a_secret_under_another_key_is_refused_by_name() -> None:
    # Given a cluster whose password is managed under another key, which AWS cannot change
    secret = {"SecretArn": SECRET, "SecretStatus": "active", "KmsKeyId": OTHER_KEY}
    client = _Rds({"DBClusterIdentifier": "orders-dev", "Status": "available", "MasterUserSecret": secret})
    # When the step runs
    with pytest.raises(MasterCredentialsError) as error:
        own_master_credentials(client, ACCESS, "orders-dev", KEY)  # type: ignore[arg-type]
    # Then it names the cluster, the secret and both keys, in the target account
    assert all(part in str(error.value) for part in ("orders-dev", SECRET, OTHER_KEY, KEY, "222222222222"))
    assert client.modified == []


def test_a_key_the_caller_may_not_use_and_a_missing_cluster_are_named_errors() -> None:
    # Given a key RDS refuses for the caller, and a cluster that is gone
    refused = _Rds({"DBClusterIdentifier": "orders-dev", "Status": "available"}, "KMSKeyNotAccessibleFault")
    # When the step runs on each
    # Then each ends on a named error
    with pytest.raises(KmsKeyNotUsableError):
        own_master_credentials(refused, ACCESS, "orders-dev", KEY)  # type: ignore[arg-type]
    with pytest.raises(ResourceFailedError):
        own_master_credentials(_Rds(None), ACCESS, "orders-dev", KEY)  # type: ignore[arg-type]


def test_the_summary_names_the_secret_or_the_source_credentials() -> None:
    # Given what the step returned for an own secret, for the "source" option, and nothing (an older run)
    own = {"managed": True, "secretArn": SECRET, "kmsKeyId": KEY, "modifying": False}
    # When each is summarised
    # Then the own secret is named with its key, and the others say the source's credentials were kept
    assert master_credentials_summary(own) == {
        "masterCredentials": "own",
        "masterUserSecretArn": SECRET,
        "masterUserSecretKmsKeyId": KEY,
    }
    assert master_credentials_summary({"managed": False, "modifying": False}) == {
        "masterCredentials": "source"
    }
    assert master_credentials_summary(None) == {"masterCredentials": "source"}
