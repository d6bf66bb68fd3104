"""The world's estate, built into a started twin before any run: what exists in each account beforehand.

Member-account stacks from this repo's own templates (deployed with the parameters the README documents),
the world's extra keys, and its Aurora clusters with their instances and snapshots, all already available,
each in the Region of its account (``World.region_of``).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from ferry_cli.template import load_cfn_yaml
from ferry_cli.twin.cfn import partition_of
from ferry_cli.twin.encryption_kinds import mark_aws_owned
from ferry_cli.twin.iam.lookup import create_rds_service_linked_role
from ferry_cli.twin.kms import default_rds_key_arn
from ferry_cli.twin.stacks import deploy_member_stack, without_statements
from ferry_cli.twin.world import (
    AccountSpec,
    ClusterSpec,
    key_policy_for,
    member_stack_parameters,
    region_key_parameters,
)
from ferry_cli.twin.world_instances import create_world_instances
from ferry_cli.twin.world_parameter_groups import create_parameter_groups
from ferry_cli.twin.world_regions import REGION_KEY_TEMPLATE

__all__ = ["build_world"]


def build_world(twin: Any) -> None:
    """Deploy the member stacks, then each account's keys and clusters; everything ends available."""
    deploy_member_stacks(twin)
    for account in twin.world.accounts:
        _create_keys(twin, account)
        _create_clusters(twin, account)
    # The world is what exists before the run: all of it is already available.
    twin.rules.settle_all()


def deploy_member_stacks(twin: Any) -> None:
    """member-accounts/*.yaml in each account that has a memberStack, in the account's Region; sources first,
    for the targets' SourceShareKeyArn, each after its regional share keys (source-region-key.yaml in each
    Region of its copyRegionKeys), which its CopyRegionShareKeyArns name."""
    from moto.kms.models import kms_backends

    for account in sorted(
        twin.world.accounts,
        key=lambda a: a.member_stack is None or a.member_stack.template != "source-account",
    ):
        stack = account.member_stack
        if stack is None:
            continue
        _deploy_region_keys(twin, account)
        region = twin.world.region_of(account.account_id)
        parameters = member_stack_parameters(twin.world, account, twin.stack_outputs)
        template = load_cfn_yaml(twin.member_templates / f"{stack.template}.yaml")
        rendered = deploy_member_stack(
            without_statements(template, stack.omit_statements) if stack.omit_statements else template,
            parameters,
            account.account_id,
            region,
            stack.stack_name,
            key_ids={stack.key_logical_id: stack.key_id},
        )
        twin.stack_outputs[account.account_id] = dict(rendered.outputs)
        if stack.key_policy is not None:
            # A world rehearsing a key policy that is almost right replaces the template's.
            kms_backends[account.account_id][region].keys[stack.key_id].policy = json.dumps(stack.key_policy)


def _deploy_region_keys(twin: Any, account: AccountSpec) -> None:
    if not account.copy_region_keys:
        return
    template = load_cfn_yaml(twin.member_templates / f"{REGION_KEY_TEMPLATE}.yaml")
    for key in account.copy_region_keys:
        deploy_member_stack(
            template,
            region_key_parameters(twin.world, account, key),
            account.account_id,
            key.region,
            key.stack_name,
            key_ids={"ShareKey": key.key_id},
        )


def _create_keys(twin: Any, account: AccountSpec) -> None:
    from moto.kms.models import kms_backends

    region = twin.world.region_of(account.account_id)
    kms = twin.client("kms", account.account_id, region)
    backend = kms_backends[account.account_id][region]
    for key in account.keys:
        created = kms.create_key(Description=f"twin key {key.alias or key.key_id}")["KeyMetadata"]["KeyId"]
        # Fixed key ids let a world's input files name real-looking key ARNs.
        moto_key = backend.keys.pop(created)
        moto_key.id = key.key_id
        moto_key.arn = f"arn:aws:kms:{region}:{account.account_id}:key/{key.key_id}"
        backend.keys[key.key_id] = moto_key
        kms.put_key_policy(
            KeyId=key.key_id,
            PolicyName="default",
            Policy=json.dumps(key_policy_for(account.account_id, key, twin.world.orchestrator_account_id)),
        )
        if key.alias:
            kms.create_alias(AliasName=f"alias/{key.alias}", TargetKeyId=key.key_id)
        if not key.enabled:
            kms.disable_key(KeyId=key.key_id)


def _cluster_parameters(twin: Any, account: AccountSpec, cluster: ClusterSpec) -> dict[str, Any]:
    region = twin.world.region_of(account.account_id)
    params: dict[str, Any] = {
        "DBClusterIdentifier": cluster.identifier,
        "Engine": cluster.engine,
        "EngineVersion": cluster.engine_version,
        "MasterUsername": "ferryadmin",
        # Moto cannot restore a snapshot of a cluster with an RDS-managed password (its get_cfg expects a
        # stored one), so world clusters get a throwaway password.
        "MasterUserPassword": secrets.token_urlsafe(24),
        # An AWS owned key (sse-rds) reports StorageEncrypted false (ferry_cli.twin.encryption_kinds).
        "StorageEncrypted": cluster.encryption not in ("none", "sse-rds"),
        "Tags": [{"Key": "twin:world", "Value": account.name}],
        **cluster.settings,
    }
    if cluster.encryption == "default":
        params["KmsKeyId"] = default_rds_key_arn(account.account_id, region)
    elif cluster.encryption.startswith("key:"):
        params["KmsKeyId"] = f"arn:aws:kms:{region}:{account.account_id}:key/{cluster.encryption[4:]}"
    return params


def _create_clusters(twin: Any, account: AccountSpec) -> None:
    from moto.rds.models import rds_backends

    if account.clusters:
        # An account that already runs Aurora has RDS's service-linked role; a fresh one does not, and its
        # first restore creates it with the caller's iam:CreateServiceLinkedRole.
        create_rds_service_linked_role(account.account_id)
    region = twin.world.region_of(account.account_id)
    rds = twin.client("rds", account.account_id, region)
    rds_backend = rds_backends[account.account_id][region]
    create_parameter_groups(rds, account.parameter_groups)
    for cluster in account.clusters:
        rds.create_db_cluster(**_cluster_parameters(twin, account, cluster))
        if cluster.encryption == "sse-rds":
            mark_aws_owned(rds_backend, rds_backend.clusters[cluster.identifier])
        create_world_instances(
            rds,
            account.account_id,
            cluster.identifier,
            cluster.engine,
            cluster.instances,
            cluster.instance_parameter_group,
            partition_of(region),
        )
        # A world's clusters exist before the run: available before their snapshots are taken.
        twin.rules.settle_all()
        for snapshot_id in cluster.automated_snapshots:
            rds_backend.create_auto_cluster_snapshot(cluster.identifier, snapshot_id)
        for snapshot_id in cluster.manual_snapshots:
            rds.create_db_cluster_snapshot(
                DBClusterIdentifier=cluster.identifier, DBClusterSnapshotIdentifier=snapshot_id
            )
