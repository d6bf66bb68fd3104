"""The source check: the cluster or snapshot exists, is available, and how it is encrypted (which decides the
snapshots the run makes, and which keys the other checks look at)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from aurora_ferry.core import Encryption, error_code
from aurora_ferry.preflight.context import Account, FoundSource, Preflight, kms_client, rds_client, same_key

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_rds import RDSClient


def check_source(preflight: Preflight, account: Account) -> None:
    """Find the source; what is learnt becomes ``preflight.source`` for the checks after this one."""
    source = preflight.request.source
    rds = rds_client(account.session)
    if source.cluster_identifier:
        found = _source_cluster(preflight, account, rds, source.cluster_identifier)
    else:
        found = _source_snapshot(preflight, account, rds, source.snapshot_identifier or "")
    if found is None:
        return
    preflight.add(
        "info", "source-encryption", source.account_id, found.identifier, _describe(preflight, found)
    )
    preflight.source = found


def _source_cluster(
    preflight: Preflight, account: Account, rds: RDSClient, cluster_id: str
) -> FoundSource | None:
    source = preflight.request.source
    try:
        cluster = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
    except ClientError as error:
        if error_code(error) != "DBClusterNotFoundFault":
            raise
        preflight.add(
            "error",
            "source-exists",
            source.account_id,
            cluster_id,
            f"source cluster {cluster_id} does not exist in {_where(preflight)} (or {source.role_arn} cannot "
            "see it). Fix source.clusterIdentifier, or give source.snapshotIdentifier instead.",
        )
        return None
    status = cluster.get("Status", "unknown")
    if status != "available":
        # CreateDBClusterSnapshot refuses a cluster that is not available (stopped, stopping,
        # modifying, ...) with InvalidDBClusterStateFault, so the run cannot even start:
        # https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBClusterSnapshot.html
        preflight.add(
            "error",
            "source-status",
            source.account_id,
            cluster_id,
            f"source cluster {cluster_id} is {status}; RDS snapshots a cluster only when it is "
            "available, so PrepareSourceSnapshot would fail. Wait until it is available (start it "
            "if it is stopped), then run.",
        )
    encrypted = bool(cluster.get("StorageEncrypted"))
    key = cluster.get("KmsKeyId") if encrypted else None
    return FoundSource(
        "cluster",
        cluster_id,
        encrypted,
        key,
        *_encryption(preflight, account.session, key),
        cluster.get("Engine", ""),
    )


def _source_snapshot(
    preflight: Preflight, account: Account, rds: RDSClient, snapshot_id: str
) -> FoundSource | None:
    source = preflight.request.source
    snapshot = _describe_snapshot(rds, snapshot_id)
    if snapshot is None:
        preflight.add(
            "error",
            "source-exists",
            source.account_id,
            snapshot_id,
            f"source cluster snapshot {snapshot_id} does not exist in {_where(preflight)} (or {source.role_arn} "
            "cannot see it). Fix source.snapshotIdentifier (automated snapshots keep their 'rds:' "
            "prefix), or give source.clusterIdentifier instead.",
        )
        return None
    status = snapshot.get("Status", "unknown")
    if status != "available":
        # CopyDBClusterSnapshot needs an available source snapshot (InvalidDBClusterSnapshotStateFault).
        preflight.add(
            "error",
            "source-status",
            source.account_id,
            snapshot_id,
            f"source snapshot {snapshot_id} is {status}; RDS copies only an available snapshot, so "
            "the run would fail. Wait until it is available, then run.",
        )
    encrypted = bool(snapshot.get("StorageEncrypted"))
    key = snapshot.get("KmsKeyId") if encrypted else None
    automated = snapshot.get("SnapshotType") == "automated"
    return FoundSource(
        "automated-snapshot" if automated else "manual-snapshot",
        snapshot_id,
        encrypted,
        key,
        *_encryption(preflight, account.session, key),
        snapshot.get("Engine", ""),
    )


def _describe_snapshot(rds: RDSClient, snapshot_id: str) -> Any:
    try:
        snapshots = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snapshot_id)[
            "DBClusterSnapshots"
        ]
    except ClientError as error:
        if error_code(error) != "DBClusterSnapshotNotFoundFault":
            raise
        return None
    return snapshots[0] if snapshots else None


def _where(preflight: Preflight) -> str:
    return f"account {preflight.request.source.account_id} {preflight.region}"


def _encryption(
    preflight: Preflight, session: boto3.Session, key_id: str | None
) -> tuple[Encryption, str | None]:
    """none, the AWS managed aws/rds key, or a customer-managed key (as the run labels it), and the
    key's ARN when DescribeKey showed it customer-managed (only then is its use checked)."""
    if not key_id:
        return "none", None
    source = preflight.request.source
    try:
        metadata = kms_client(session).describe_key(KeyId=key_id)["KeyMetadata"]
    except ClientError as error:
        # Without DescribeKey the aws/rds key (whose policy admits the account's RDS callers) cannot be
        # told from a customer-managed one, so whether the role may use it is not checked.
        preflight.add(
            "warning",
            "source-encryption",
            source.account_id,
            key_id,
            f"cannot describe the source's key {key_id} ({error_code(error)}): {source.role_arn} lacks "
            "kms:DescribeKey on it, which the source stack's DescribeKeys statement grants on the keys in "
            "SourceClusterKmsKeyArns (member-accounts/source-account.yaml): add the key there. Until then "
            "the preflight treats it as customer-managed (the run re-encrypts either way) and did not "
            "check whether the role may use it.",
        )
        # The run labels an undescribable key customer-managed too; it re-encrypts it either way.
        return "customer-key", None
    if metadata.get("KeyManager") == "AWS":
        return "default-key", None
    return "customer-key", str(metadata.get("Arn") or key_id)


def _describe(preflight: Preflight, source: FoundSource) -> str:
    what = {
        "cluster": f"source cluster {source.identifier}",
        "manual-snapshot": f"source snapshot {source.identifier}",
        "automated-snapshot": f"source automated snapshot {source.identifier}",
    }[source.kind]
    if source.encryption == "none":
        return (
            f"{what} is not encrypted: it is shared unencrypted (Aurora cannot encrypt a snapshot by "
            "copying it) and each target's cluster is encrypted at restore with the target's key."
        )
    if source.encryption == "default-key":
        return (
            f"{what} is encrypted with the account's default aws/rds key {source.kms_key_id}, which cannot "
            "be shared: the run shares a copy re-encrypted with the share key."
        )
    if same_key(source.kms_key_id, preflight.request.share_kms_key_arn):
        return f"{what} is encrypted with the share key itself."
    if source.customer_key_arn is None:
        return (
            f"{what} is encrypted with key {source.kms_key_id}, which could not be described: the run "
            "treats it as customer-managed and shares a copy re-encrypted with the share key."
        )
    return (
        f"{what} is encrypted with the customer-managed key {source.kms_key_id}: the run shares a copy "
        "re-encrypted with the share key."
    )
