"""Master credentials of the target's own: RDS manages the master user password of the cluster a run created in
a target account, in that account's Secrets Manager and under the target's key (README "Master credentials").

A restore (RestoreDBClusterFromSnapshot) or a clone (RestoreDBClusterToPointInTime) keeps its source's master
password, and neither call accepts ManageMasterUserPassword (botocore's RDS model, 2014-10-31, lists it for
CreateDBCluster, ModifyDBCluster and RestoreDBClusterFromS3 only). So once the new cluster is available the run
turns management on with ModifyDBCluster: RDS generates a new password, stores it in a secret named
``rds!cluster-<uuid>`` in the caller's account, encrypted with MasterUserSecretKmsKeyId, and sets it on the
cluster, so the source's password no longer opens it. DescribeDBClusters then reports MasterUserSecret
(SecretArn, SecretStatus creating/active, KmsKeyId).
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBCluster.html
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-secrets-manager.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aurora_ferry.core.access import rds, translated
from aurora_ferry.core.accounts import AccountAccess, ClusterTarget, MasterCredentials
from aurora_ferry.core.clusters import describe_cluster
from aurora_ferry.core.errors import MasterCredentialsError, ResourceFailedError

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient


def own_master_credentials(
    client: RDSClient, access: AccountAccess, cluster_id: str, key: str | None
) -> dict[str, Any]:
    """Turn on RDS management of the master password of ``cluster_id`` with its secret under ``key`` (None: Secrets
    Manager's own aws/secretsmanager key of the account), unless it is already managed under that key (a retried
    step): then it is done. The result names the secret and says whether the cluster is being modified, which the
    workflow waits out before it adds instances or renames the cluster.

    The modification is applied at once: ApplyImmediately, as AWS requires for a password rotation, so that the
    new password never waits for a maintenance window.
    """
    cluster = describe_cluster(client, access, cluster_id)
    if cluster is None:
        raise ResourceFailedError.in_account(
            access, f"cluster {cluster_id} disappeared before its master password could be managed"
        )
    secret = cluster.get("MasterUserSecret")
    # A retried step finds the secret made: the cluster may still be modifying, or the secret being created.
    busy = cluster.get("Status") != "available" or (secret or {}).get("SecretStatus") == "creating"
    if not secret:
        # Just asked for: the workflow waits whatever the answer's Status says, as a modification may show only in
        # a later DescribeDBClusters.
        busy = True
        params: dict[str, Any] = {
            "DBClusterIdentifier": cluster_id,
            "ManageMasterUserPassword": True,
            "ApplyImmediately": True,
        }
        if key:
            params["MasterUserSecretKmsKeyId"] = key
        with translated(
            access, f"manage the master user password of cluster {cluster_id} in Secrets Manager"
        ):
            cluster = client.modify_db_cluster(**params)["DBCluster"]
        secret = cluster.get("MasterUserSecret") or {}
    elif key and not same_key(str(secret.get("KmsKeyId") or ""), key):
        raise MasterCredentialsError.in_account(
            access,
            f"cluster {cluster_id} already manages its master password in secret {secret.get('SecretArn')} under "
            f"key {secret.get('KmsKeyId')}, not {key}; AWS cannot change that key. Turn management off on the "
            "cluster (ModifyDBCluster with ManageMasterUserPassword false and a MasterUserPassword) and run again",
        )
    return {
        "managed": True,
        "secretArn": secret.get("SecretArn"),
        "secretStatus": secret.get("SecretStatus"),
        "kmsKeyId": secret.get("KmsKeyId"),
        "modifying": busy,
    }


def target_master_credentials(
    access: AccountAccess, target: ClusterTarget, cluster_id: str, key: str | None
) -> dict[str, Any]:
    """The master credentials ``target`` asks for (masterCredentials) on the cluster the run made there: its own
    (``own_master_credentials``, the secret under ``key``), or the source's, as the restore or the clone left
    them."""
    if target.master_credentials is MasterCredentials.SOURCE:
        return {"managed": False, "modifying": False}
    return own_master_credentials(rds(access), access, cluster_id, key)


def same_key(reported: str, wanted: str) -> bool:
    """Whether the key RDS reports (an ARN, or a key id) is ``wanted`` (a key ARN)."""
    return bool(reported) and (reported == wanted or reported == wanted.rsplit("/", 1)[-1])


def master_credentials_summary(credentials: Mapping[str, Any] | None) -> dict[str, Any]:
    """A target's master credentials in a run's output, from what own_master_credentials returned: "own" with the
    secret's ARN and key, or "source" (the option kept the source's password)."""
    if not credentials or not credentials.get("managed"):
        return {"masterCredentials": "source"}
    return {
        "masterCredentials": "own",
        "masterUserSecretArn": credentials.get("secretArn"),
        "masterUserSecretKmsKeyId": credentials.get("kmsKeyId"),
    }
