"""The source check: the cluster or snapshot exists, is available, and how it is encrypted (which decides the
snapshots the run makes, and which keys the other checks look at)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError

from aurora_ferry.core import (
    SERVERLESS,
    Encryption,
    SourceConfiguration,
    configuration_from_cluster,
    configuration_from_snapshot,
    encrypted_at_rest,
    error_code,
    plan_instances,
    source_instances,
    unknown_instances_problem,
)
from aurora_ferry.migration import Target
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
    # An AWS owned key (sse-rds) is encrypted too, with StorageEncrypted false and no key of the account.
    key = described.get("KmsKeyId") if described.get("StorageEncrypted") else None
    aws_owned = described.get("StorageEncryptionType") == "sse-rds"
    return FoundSource(
        kind,
        identifier,
        encrypted_at_rest(described),
        key,
        *(("aws-owned-key", None) if aws_owned else _encryption(preflight, account, key)),
        described.get("Engine", ""),
        _configuration(preflight, account, kind, described),
    )


def _configuration(
    preflight: Preflight, account: Account, kind: SourceKind, resource: Any
) -> SourceConfiguration:
    """What the run carries: the cluster's settings and instances, or, for a snapshot, its cluster's if it still
    exists (as the run reads them), else what the snapshot records; a target that would mirror unknown instances
    is an error (core.instance_plan)."""
    client = rds_client(account.session)
    cluster = resource
    if kind != "cluster":
        cluster_id = resource.get("DBClusterIdentifier")
        cluster = (
            described(
                client.describe_db_clusters,
                "DBClusters",
                "DBClusterNotFoundFault",
                DBClusterIdentifier=cluster_id,
            )
            if cluster_id
            else None
        )
    configuration = (
        configuration_from_snapshot(resource)
        if cluster is None
        else replace(
            configuration_from_cluster(cluster), instances=source_instances(client, account.access, cluster)
        )
    )
    why = "the source cluster no longer exists" if cluster is None else "it has no instances"
    for index, target in enumerate(preflight.request.targets):
        path = f"targets[{index}]"
        if not configuration.instances and target.instance_class is None and not target.instances:
            preflight.add(
                "error", "target-instances", target.account_id, path, unknown_instances_problem(path, why)
            )
        elif _serverless_without_scaling(configuration, target):
            preflight.add(
                "error",
                "target-instances",
                target.account_id,
                path,
                f"{path}: its instances include {SERVERLESS}, but its cluster would have no Serverless v2 capacity "
                f"range, which RDS requires before such an instance is added; give {path}.settings."
                "serverlessV2Scaling, or a provisioned instanceClass",
            )
    return configuration


def _serverless_without_scaling(configuration: SourceConfiguration, target: Target) -> bool:
    """A target whose instances include db.serverless while neither the source nor the target's settings give the
    cluster a Serverless v2 scaling configuration (core.carry_plan passes it at restore)."""
    planned = plan_instances(configuration.instances, target, target.settings)
    scaling = (target.settings and target.settings.serverless_v2_scaling) or (
        configuration.settings.serverless_v2_scaling
    )
    return scaling is None and any(shape.instance_class == SERVERLESS for shape in planned)


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
    if source.encryption == "aws-owned-key":
        return (
            f"{what} is encrypted with an AWS owned key (StorageEncryptionType sse-rds), which cannot be shared: "
            "the run shares a copy re-encrypted with the share key."
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
