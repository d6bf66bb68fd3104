"""The source check: the cluster or snapshot exists, is available, and how it is encrypted (which decides the
snapshots the run makes, and which keys the other checks look at)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from aurora_ferry.core import Encryption, configuration_from_cluster, configuration_from_snapshot, error_code
from aurora_ferry.preflight.context import (
    Account,
    FoundSource,
    Preflight,
    SourceKind,
    described,
    kms_client,
    rds_client,
    same_key,
)


@dataclass(frozen=True)
class _Lookup:
    """One kind of source: the Describe call that finds it (operation, the list it answers with, its not-found
    code, the identifier's parameter), and how the operator is told that it is missing or not available (its
    name in each message, and the fix)."""

    describe: tuple[str, str, str, str]
    missing: tuple[str, str]
    unavailable: tuple[str, str]


_CLUSTER = _Lookup(
    ("describe_db_clusters", "DBClusters", "DBClusterNotFoundFault", "DBClusterIdentifier"),
    ("cluster", "Fix source.clusterIdentifier, or give source.snapshotIdentifier instead."),
    # CreateDBClusterSnapshot refuses a cluster that is not available (stopped, stopping,
    # modifying, ...) with InvalidDBClusterStateFault, so the run cannot even start:
    # https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBClusterSnapshot.html
    (
        "cluster",
        "RDS snapshots a cluster only when it is available, so PrepareSourceSnapshot would fail. Wait until "
        "it is available (start it if it is stopped), then run.",
    ),
)
_SNAPSHOT = _Lookup(
    (
        "describe_db_cluster_snapshots",
        "DBClusterSnapshots",
        "DBClusterSnapshotNotFoundFault",
        "DBClusterSnapshotIdentifier",
    ),
    (
        "cluster snapshot",
        "Fix source.snapshotIdentifier (automated snapshots keep their 'rds:' prefix), or give "
        "source.clusterIdentifier instead.",
    ),
    # CopyDBClusterSnapshot needs an available source snapshot (InvalidDBClusterSnapshotStateFault).
    (
        "snapshot",
        "RDS copies only an available snapshot, so the run would fail. Wait until it is available, then run.",
    ),
)


def check_source(preflight: Preflight, account: Account) -> None:
    """Find the source; what is learnt becomes ``preflight.source`` for the checks after this one."""
    source = preflight.request.source
    if source.cluster_identifier:
        found = _look_up(preflight, account, _CLUSTER, source.cluster_identifier)
    else:
        found = _look_up(preflight, account, _SNAPSHOT, source.snapshot_identifier or "")
    if found is None:
        return
    preflight.add(
        "info", "source-encryption", source.account_id, found.identifier, _describe(preflight, found)
    )
    preflight.source = found


def _look_up(preflight: Preflight, account: Account, lookup: _Lookup, identifier: str) -> FoundSource | None:
    """The source as RDS describes it; an error finding when it is missing (then None) or not available (the
    run's first call on it would fail)."""
    operation, listed, not_found, parameter = lookup.describe
    rds = rds_client(account.session)
    resource = described(getattr(rds, operation), listed, not_found, **{parameter: identifier})
    source = preflight.request.source
    if resource is None:
        what, fix = lookup.missing
        preflight.add(
            "error",
            "source-exists",
            source.account_id,
            identifier,
            f"source {what} {identifier} does not exist in {_where(preflight)} (or {source.role_arn} cannot "
            f"see it). {fix}",
        )
        return None
    status = resource.get("Status", "unknown")
    if status != "available":
        what, fix = lookup.unavailable
        preflight.add(
            "error",
            "source-status",
            source.account_id,
            identifier,
            f"source {what} {identifier} is {status}; {fix}",
        )
    return _found(preflight, account, _kind(lookup, resource), identifier, resource)


def _kind(lookup: _Lookup, resource: Any) -> SourceKind:
    """A cluster, or a snapshot of the type RDS names (automated ones cannot be shared, so the run copies them)."""
    if lookup is _CLUSTER:
        return "cluster"
    return "automated-snapshot" if resource.get("SnapshotType") == "automated" else "manual-snapshot"


def _found(
    preflight: Preflight, account: Account, kind: SourceKind, identifier: str, described: Any
) -> FoundSource:
    """The source as DescribeDBClusters or DescribeDBClusterSnapshots showed it (both name its encryption and
    engine alike)."""
    encrypted = bool(described.get("StorageEncrypted"))
    key = described.get("KmsKeyId") if encrypted else None
    return FoundSource(
        kind,
        identifier,
        encrypted,
        key,
        *_encryption(preflight, account, key),
        described.get("Engine", ""),
        # A snapshot shows fewer settings than its cluster, which the run reads when it still exists.
        configuration_from_cluster(described)
        if kind == "cluster"
        else configuration_from_snapshot(described),
    )


def _where(preflight: Preflight) -> str:
    return f"account {preflight.request.source.account_id} {preflight.region}"


def _encryption(preflight: Preflight, account: Account, key_id: str | None) -> tuple[Encryption, str | None]:
    """none, the AWS managed aws/rds key, or a customer-managed key (as the run labels it), and the
    key's ARN when DescribeKey showed it customer-managed (only then is its use checked)."""
    if not key_id:
        return "none", None
    source = preflight.request.source
    try:
        metadata = kms_client(account.session).describe_key(KeyId=key_id)["KeyMetadata"]
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
