"""The migration's steps in each target account: copy the shared snapshot under the target's key (unless the
target restores straight from the shared snapshot), restore the cluster, add its instances. Like every step,
each is safe to retry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from aurora_ferry.core import (
    AccountAccess,
    SharedSnapshotNotVisibleError,
    SnapshotRef,
    SourceConfiguration,
    TargetConflictError,
    apply_cluster_settings,
    cluster_parameters,
    create_cluster,
    create_target_instances,
    error_code,
    metrics,
    naming,
    plan_carry,
    rds,
    reboot_pending_instances,
    snapshot_ref,
    target_master_credentials,
    translated,
)
from aurora_ferry.migration.contract import MigrationRequest, OnExisting, Target
from aurora_ferry.migration.copies import copy_snapshot
from aurora_ferry.migration.placement import restores_from_share, target_access
from aurora_ferry.migration.swap import temporary_name

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

    from aurora_ferry.core import ReplicationJson


def copy_shared_snapshot(
    request: MigrationRequest, target: Target, run_id: str, shared: SnapshotRef
) -> SnapshotRef:
    """Copy the shared snapshot (by full ARN) into the target, re-encrypted with the target's key.

    When the target restores straight from the shared snapshot (contract.restores_from_share), nothing is
    copied: the shared snapshot itself is what the restore reads, under the target's key. A target in another
    Region copies across Regions and accounts in one step.
    """
    access = target_access(request, target)
    client = rds(access)
    if target.on_existing is not OnExisting.REPLACE:
        _require_cluster_id_free(client, access, target.cluster_identifier, run_id)
    if restores_from_share(request, target):
        return shared
    key = target.kms_key_arn if shared.encrypted else None
    try:
        raw = copy_snapshot(
            client,
            access,
            shared.arn,
            naming.target_copy_id(run_id),
            key,
            run_id,
            "target-copy",
            source_region=shared.region,
        )
    except ClientError as error:
        if error_code(error) == "DBClusterSnapshotNotFoundFault":
            raise _not_visible(shared, access) from error
        raise
    return snapshot_ref(
        raw, access, created_by_run=True, encryption="customer-key" if key else "none", origin="copied"
    )


def _not_visible(shared: SnapshotRef, access: AccountAccess) -> SharedSnapshotNotVisibleError:
    return SharedSnapshotNotVisibleError.in_account(
        access,
        f"snapshot {shared.arn} is not visible: it was not shared with this account, or the share was revoked",
    )


def _require_cluster_id_free(client: RDSClient, access: AccountAccess, cluster_id: str, run_id: str) -> None:
    """The target cluster's name is free, or taken by this run's own cluster (a redriven run repeats the copy
    of a target it had already restored)."""
    with translated(access, f"check target cluster id {cluster_id}"):
        try:
            clusters = client.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"]
        except ClientError as error:
            if error_code(error) == "DBClusterNotFoundFault":
                return
            raise
    if clusters and naming.is_tagged_by_run(clusters[0].get("TagList", []), run_id):  # type: ignore[arg-type]
        return
    raise TargetConflictError.in_account(
        access, f"a cluster named {cluster_id} already exists; choose another targets[].clusterIdentifier"
    )


def restore_cluster(
    request: MigrationRequest,
    target: Target,
    run_id: str,
    copy: SnapshotRef,
    configuration: SourceConfiguration | None = None,
    parameter_groups: ReplicationJson | None = None,
) -> dict[str, Any]:
    """Restore the target cluster from its copy, or from the shared snapshot itself, always encrypted with the
    target's key: RestoreDBClusterFromSnapshot encrypts the new cluster with KmsKeyId even when it differs
    from the snapshot's key or the snapshot is not encrypted.
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBClusterFromSnapshot.html
    """
    access = target_access(request, target)
    client = rds(access)
    temporary = temporary_name(client, access, target, run_id)
    cluster_id = temporary or target.cluster_identifier
    # Another account's snapshot is named by its ARN ("To restore from a shared snapshot, use its ARN").
    # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-share-snapshot.html
    shared = copy.account_id != access.account_id
    params: dict[str, Any] = {
        "DBClusterIdentifier": cluster_id,
        "SnapshotIdentifier": copy.arn if shared else copy.identifier,
        "Engine": copy.engine,
        "KmsKeyId": target.kms_key_arn,
        "Tags": naming.tags_for(run_id, "target-cluster", target.tags),
        **cluster_parameters(target),
    }
    if configuration is not None:
        # The source's settings (or the target's overrides) that a restore takes; a restore leaves every other
        # to its default (core.carry_plan).
        params.update(
            plan_carry(configuration, target, target.settings, target.kms_key_arn, copy.engine).restore
        )
    if copy.engine_version:
        params["EngineVersion"] = copy.engine_version
    # The source's cluster parameter group as ReplicateParameterGroups recreated it in the target (never when
    # targets[].dbClusterParameterGroupName names one: parameter_group_steps).
    if parameter_groups and parameter_groups.get("clusterParameterGroup"):
        params["DBClusterParameterGroupName"] = parameter_groups["clusterParameterGroup"]
    try:
        cluster = create_cluster(
            client,
            access,
            cluster_id,
            run_id,
            f"restore cluster {cluster_id} from {copy.identifier}",
            lambda: client.restore_db_cluster_from_snapshot(**params)["DBCluster"],
        )
    except ClientError as error:
        if shared and error_code(error) == "DBClusterSnapshotNotFoundFault":
            raise _not_visible(copy, access) from error
        raise
    metrics.add_metric(name="ClustersRestored", unit=MetricUnit.Count, value=1)
    result = {"clusterArn": cluster["DBClusterArn"], "clusterIdentifier": cluster_id}
    # A replacement: the swap (swap.swap_step) gives it the target's name once it and its instances are ready.
    return {**result, "replaces": target.cluster_identifier} if temporary else result


def create_instances(
    request: MigrationRequest,
    target: Target,
    run_id: str,
    engine: str,
    configuration: SourceConfiguration,
    cluster_id: str | None = None,
    parameter_groups: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A restore creates a cluster with no instances; add the target's (core.instance_plan: the source's, or as
    the target overrides them; the first is the writer) to the restored cluster (`cluster_id`: the temporary name
    of a replacement). `parameter_groups` maps a source instance's DB parameter group to the target's replica;
    without one the instance gets the engine's default group."""
    return create_target_instances(
        target_access(request, target),
        target,
        cluster_id or target.cluster_identifier,
        configuration.instances,
        overrides=target.settings,
        path=_path(request, target),
        engine=engine,
        tags=naming.tags_for(run_id, "target-instance", target.tags),
        kms_key_arn=target.kms_key_arn,
        parameter_groups=parameter_groups,
    )


def _path(request: MigrationRequest, target: Target) -> str:
    index = next(i for i, each in enumerate(request.targets) if each.account_id == target.account_id)
    return f"targets[{index}]"


def own_credentials(request: MigrationRequest, target: Target, cluster_id: str) -> dict[str, Any]:
    """The restored cluster (`cluster_id`: the temporary name of a replacement) ends with a master password of its
    own, managed in the target account's Secrets Manager under targets[].kmsKeyArn, unless
    targets[].masterCredentials is "source" (core.credentials)."""
    return target_master_credentials(target_access(request, target), target, cluster_id, target.kms_key_arn)


def apply_pending_parameters(request: MigrationRequest, target: Target, cluster_id: str) -> dict[str, Any]:
    """Once the instances of the restored cluster (`cluster_id`: the temporary name of a replacement) are available,
    reboot those whose parameter group waits for a reboot (core.pending_reboot)."""
    access = target_access(request, target)
    return reboot_pending_instances(rds(access), access, cluster_id)


def configure_cluster(
    request: MigrationRequest,
    target: Target,
    configuration: SourceConfiguration,
    cluster_id: str,
    engine: str,
) -> dict[str, Any]:
    """Apply at once the carried settings only ModifyDBCluster takes (core.carry_plan), to the restored cluster
    (`cluster_id`: the temporary name of a replacement), once it is available (core.apply_cluster_settings)."""
    wanted = plan_carry(configuration, target, target.settings, target.kms_key_arn, engine).modify
    access = target_access(request, target)
    return apply_cluster_settings(rds(access), access, cluster_id, wanted)
