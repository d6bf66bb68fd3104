"""Clone steps 3 and 5: the copy-on-write clone itself in the target account (its instances, and a check that
it is what was asked), then cleanup of the run's RAM share.

As in the migration, every step is safe to run twice: names are derived from the run id, and an "already
exists" answer for something carrying this run's tags counts as done. Nothing here modifies the source
cluster, and the tool never deletes a clone it made.
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBClusterToPointInTime.html
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from aurora_ferry.clone.contract import CloneRequest
from aurora_ferry.clone.inspect import SourceFacts
from aurora_ferry.clone.keep_name import roll_back_keep_name
from aurora_ferry.clone.names import (
    clone_identifier,
    clone_tags,
    share_name,
    source_access,
    target_access,
)
from aurora_ferry.clone.share import own_share, ram
from aurora_ferry.core import (
    AccountAccess,
    CarryPlan,
    CloneVerificationError,
    ResourceFailedError,
    SourceNotFoundError,
    apply_cluster_settings,
    cluster_parameters,
    create_cluster,
    create_target_instances,
    delete_unused_groups,
    describe_cluster,
    error_code,
    error_message,
    left_in_place,
    metrics,
    naming,
    plan_carry,
    rds,
    reboot_pending_instances,
    target_master_credentials,
    translated,
)

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

    from aurora_ferry.core import ReplicationJson


def create_clone(
    request: CloneRequest, run_id: str, source: SourceFacts, parameter_groups: ReplicationJson | None = None
) -> dict[str, Any]:
    """RestoreDBClusterToPointInTime with RestoreType copy-on-write; across accounts by the source's full ARN
    with the target's key, and the cluster parameter group ReplicateCloneParameterGroups gave the target
    (`parameter_groups`). The call creates a cluster with no instances."""
    access = target_access(request)
    client = rds(access)
    target = request.target
    clone_id = clone_identifier(request, run_id)
    params: dict[str, Any] = {
        "DBClusterIdentifier": clone_id,
        # "Clone the cluster by specifying the full ARN of the source cluster" (cross-account).
        "SourceDBClusterIdentifier": source.arn if request.cross_account else source.identifier,
        "RestoreType": "copy-on-write",
        "UseLatestRestorableTime": True,
        "Tags": clone_tags(request, run_id, "clone"),
        **cluster_parameters(target),
    }
    if target.kms_key_arn:
        params["KmsKeyId"] = target.kms_key_arn
    carry = carried(request, source)
    if carry is not None:
        # The source's settings (or target.settings' overrides) that the call takes. The API reference says a
        # point-in-time restore keeps "the same configuration as the original DB cluster", yet documents each
        # parameter's own default; passing each one makes the clone's settings not depend on which is right.
        params.update(carry.restore)
    if parameter_groups and parameter_groups.get("clusterParameterGroup"):
        params["DBClusterParameterGroupName"] = parameter_groups["clusterParameterGroup"]
    cluster = create_cluster(
        client,
        access,
        clone_id,
        run_id,
        f"clone {source.arn} to {clone_id}",
        lambda: _clone_cluster(client, access, source, params),
    )
    metrics.add_metric(name="ClonesCreated", unit=MetricUnit.Count, value=1)
    return {"clusterArn": cluster["DBClusterArn"], "clusterIdentifier": cluster["DBClusterIdentifier"]}


def carried(request: CloneRequest, source: SourceFacts) -> CarryPlan | None:
    """How the clone gets the source's settings (core.carry_plan), or None for a run that did not read them."""
    if source.configuration is None:
        return None
    target = request.target
    key = target.kms_key_arn or source.kms_key_id or "none"
    return plan_carry(source.configuration, target, target.settings, key, source.engine)


def configure_clone(request: CloneRequest, run_id: str, source: SourceFacts) -> dict[str, Any]:
    """Apply at once the carried settings only ModifyDBCluster takes to the available clone; "modified" says
    whether the workflow must wait for it to be available again (core.apply_cluster_settings)."""
    carry = carried(request, source)
    if carry is None or not carry.modify:
        return {"modified": False}
    access = target_access(request)
    clone_id = clone_identifier(request, run_id)
    return apply_cluster_settings(rds(access), access, clone_id, carry.modify)


def _clone_cluster(
    client: RDSClient, access: AccountAccess, source: SourceFacts, params: dict[str, Any]
) -> Any:
    try:
        return client.restore_db_cluster_to_point_in_time(**params)["DBCluster"]
    except ClientError as error:
        if error_code(error) != "DBClusterNotFoundFault":
            raise
        # "If the ARN passed as the SourceDBClusterIdentifier hasn't been shared, the same error is
        # returned as if the specified cluster doesn't exist."
        raise SourceNotFoundError.in_account(
            access,
            f"source cluster {source.arn} is not visible to this account: it was not shared with it, "
            f"or the share is not accepted yet ({error_message(error)})",
        ) from error


def create_clone_instances(
    request: CloneRequest,
    run_id: str,
    source: SourceFacts,
    parameter_groups: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A clone has no instances; add the target's once it is available (core.instance_plan: the source's, or as
    the target overrides them; the first is the writer). Performance Insights is under target.kmsKeyArn, or RDS's
    default key without one; `parameter_groups` maps a source instance's DB parameter group to the target's."""
    target = request.target
    return create_target_instances(
        target_access(request),
        target,
        clone_identifier(request, run_id),
        source.configuration.instances if source.configuration else (),
        overrides=target.settings,
        path="target",
        engine=source.engine,
        tags=clone_tags(request, run_id, "clone-instance"),
        kms_key_arn=target.kms_key_arn,
        parameter_groups=parameter_groups,
    )


def own_clone_credentials(request: CloneRequest, run_id: str) -> dict[str, Any]:
    """The clone ends with a master password of its own, managed in the target account's Secrets Manager under
    target.kmsKeyArn (core.credentials), unless target.masterCredentials is "source". Without target.kmsKeyArn
    (a clone in the source's own account, which keeps the source's storage key) the secret is under Secrets
    Manager's aws/secretsmanager key of that account, which RDS uses when MasterUserSecretKmsKeyId is left out;
    only a secret in another account than the cluster's would need a customer managed key.
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBCluster.html"""
    target = request.target
    return target_master_credentials(
        target_access(request), target, clone_identifier(request, run_id), target.kms_key_arn
    )


def apply_clone_pending_parameters(request: CloneRequest, run_id: str) -> dict[str, Any]:
    """Once the clone's instances are available, reboot those whose parameter group waits for a reboot
    (core.pending_reboot)."""
    access = target_access(request)
    return reboot_pending_instances(rds(access), access, clone_identifier(request, run_id))


def verify_clone(request: CloneRequest, run_id: str) -> dict[str, Any]:
    """The clone is what was asked: CrossAccountClone is true exactly for a cross-account clone, and a
    cross-account clone of an encrypted cluster is encrypted with the target's key."""
    access = target_access(request)
    clone_id = clone_identifier(request, run_id)
    cluster = describe_cluster(rds(access), access, clone_id)
    if cluster is None:
        raise ResourceFailedError.in_account(access, f"clone {clone_id} disappeared")
    cross = bool(cluster.get("CrossAccountClone"))
    if cross != request.cross_account:
        raise CloneVerificationError.in_account(
            access,
            f"clone {clone_id} reports CrossAccountClone={str(cross).lower()}, expected "
            f"{str(request.cross_account).lower()} (source account {request.source.account_id}, target "
            f"account {request.target.account_id})",
        )
    key = request.target.kms_key_arn
    if key and cluster.get("KmsKeyId") not in (key, key.rsplit("/", 1)[-1]):
        raise CloneVerificationError.in_account(
            access,
            f"clone {clone_id} is encrypted with {cluster.get('KmsKeyId')}, not target.kmsKeyArn {key}",
        )
    return {
        "crossAccountClone": cross,
        "cloneGroupId": cluster.get("CloneGroupId"),
        "storageEncrypted": bool(cluster.get("StorageEncrypted")),
        "kmsKeyId": cluster.get("KmsKeyId"),
    }


def cleanup_clone_run(request: CloneRequest, run_id: str, *, failed: bool) -> dict[str, Any]:
    """Delete the RAM share this run created (found by name, checked by its tags). After a failure, also
    report a clone this run made: like the migration's target clusters, it is never deleted by the tool."""
    actions: list[dict[str, Any]] = []
    if request.cross_account:
        owner = source_access(request)
        client = ram(owner)
        share = own_share(client, owner, share_name(run_id), run_id)
        if share is not None:
            with translated(owner, f"delete resource share {share['resourceShareArn']}"):
                client.delete_resource_share(resourceShareArn=share["resourceShareArn"], clientToken=run_id)
            actions.append(
                {"action": "unshared", "accountId": owner.account_id, "arn": share["resourceShareArn"]}
            )
    if failed:
        # A refresh that was giving the clone the old dev cluster's name puts the old one back first.
        actions += roll_back_keep_name(request, run_id)
        target = target_access(request)
        if request.cross_account:
            # The parameter groups the run made in the target that its clone does not use (core.parameter_groups).
            actions += delete_unused_groups(rds(target), target, run_id)
        clone_id = clone_identifier(request, run_id)
        cluster = describe_cluster(rds(target), target, clone_id)
        if cluster is not None and naming.is_tagged_by_run(cluster.get("TagList", []), run_id):
            actions.append(
                left_in_place(
                    target,
                    cluster["DBClusterArn"],
                    "the tool never deletes a clone it made; delete it when it is no longer needed",
                )
            )
    return {"actions": actions}
