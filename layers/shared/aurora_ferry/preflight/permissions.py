"""What a migration asks of each member role, as IAM authorises it: the table preflight simulates.

Each entry is one authorisation the run's calls cause (the action, the resource ARN, the request's condition
keys) in the step that makes it, and the statement of the shipped member template that grants it, so a
refusal can say exactly what to add. Tags given at creation are authorised again as rds:AddTagsToResource:
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/security_iam_id-based-policy-examples-grant-permissions-tags-on-create.html
Actions, resources and condition keys follow the Service Authorization Reference for RDS:
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html
The KMS half (keys and key policies) is checked by the key checks (keys.py, key_use.py), not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from aurora_ferry.core import MasterCredentials, error_code, error_message, monitoring_role_arn, naming
from aurora_ferry.migration import OnExisting, readers_in, restores_from_share, shared_region
from aurora_ferry.preflight.context import (
    Account,
    Preflight,
    TargetAccount,
    described,
    rds_client,
    untyped_client,
)
from aurora_ferry.preflight.plan import needs_share_copy, shared_snapshot

SOURCE_TEMPLATE = "member-accounts/source-account.yaml"
TARGET_TEMPLATE = "member-accounts/target-account.yaml"

# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAM.ServiceLinkedRoles.html
RDS_SERVICE_LINKED_ROLE = "role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS"


@dataclass(frozen=True)
class Need:
    """One authorisation a member role must pass for the run to succeed."""

    step: str
    action: str
    resource: str
    statement: str  # "<template>: <Sid>" of the shipped template that grants it
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Why it may not be needed at all (then a refusal is a warning, not an error).
    only_if: str | None = None

    def context_entries(self) -> list[dict[str, object]]:
        """The context as iam:SimulatePrincipalPolicy takes it."""
        return [
            {
                "ContextKeyName": key,
                "ContextKeyValues": list(values),
                "ContextKeyType": "stringList" if key.lower() == "aws:tagkeys" else "string",
            }
            for key, values in self.context
        ]


@dataclass(frozen=True)
class Arns:
    """ARN builder for one account and Region."""

    partition: str
    region: str
    account_id: str

    def rds(
        self, kind: str, identifier: str, account_id: str | None = None, region: str | None = None
    ) -> str:
        """An RDS ARN in this account and Region, or in `account_id` and `region` (the source's snapshot, for a
        target in another Region)."""
        where = f"{region or self.region}:{account_id or self.account_id}"
        return f"arn:{self.partition}:rds:{where}:{kind}:{identifier}"

    def iam(self, resource: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:{resource}"


@dataclass(frozen=True)
class SourcePlan:
    """What the run does in the source account (preflight works it out from the source it found)."""

    cluster_identifier: str | None  # snapshotted, when the source is a cluster
    copy_from: (
        str | None
    )  # the snapshot copied into the run's own, when the source is a snapshot or re-encrypted
    created: tuple[str, ...]  # the snapshots the run creates, in order
    shared: str  # the one it shares with the targets
    copies: tuple[tuple[str, str], ...] = field(default=())  # (to, from): each copy the run makes


def tag_context(tags: Sequence[dict[str, str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    entries: list[tuple[str, tuple[str, ...]]] = [
        (f"aws:RequestTag/{tag['Key']}", (tag["Value"],)) for tag in tags
    ]
    entries.append(("aws:TagKeys", tuple(tag["Key"] for tag in tags)))
    return tuple(entries)


# The condition of every statement that lets a role share or delete only what the tool made.
MANAGED_ONLY = ((f"aws:ResourceTag/{naming.MANAGED_TAG}", ("true",)),)
# A global condition key in every request's context: the Region the call is made in; the source role's statements
# for its copies in other Regions are limited by it (source-account.yaml, CopyRegions).
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-requestedregion
REQUESTED_REGION = "aws:RequestedRegion"


def source_needs(arns: Arns, plan: SourcePlan, run_id: str, shared_here: bool = True) -> list[Need]:
    """The source role's authorisations: snapshot or copy (tagged), share (when `shared_here`: some target reads
    the snapshot in the source's Region), and the cleanup deletes."""
    needs: list[Need] = []
    purposes = {
        naming.source_snapshot_id(run_id): "source-snapshot",
        naming.share_copy_id(run_id): "share-copy",
        naming.source_copy_id(run_id): "source-copy",
    }
    for to_id in plan.created:
        tags = tag_context(naming.tags_for(run_id, purposes.get(to_id, "source-snapshot")))
        snapshot = arns.rds("cluster-snapshot", to_id)
        copied_from = dict(plan.copies).get(to_id) if plan.copies else None
        reads = None
        if copied_from is not None:
            action, step = "rds:CopyDBClusterSnapshot", "PrepareShareCopy"
            reads = arns.rds("cluster-snapshot", copied_from)
        elif plan.cluster_identifier is not None:
            action, step = "rds:CreateDBClusterSnapshot", "PrepareSourceSnapshot"
            reads = arns.rds("cluster", plan.cluster_identifier)
        else:
            continue
        grant = f"{SOURCE_TEMPLATE}: CreateOnlyTaggedSnapshots"
        needs += [
            Need(step, action, reads, grant, tags),
            Need(step, action, snapshot, grant, tags),
            Need(step, "rds:AddTagsToResource", snapshot, f"{SOURCE_TEMPLATE}: TagOnlyAsManaged", tags),
        ]
    shared = arns.rds("cluster-snapshot", plan.shared)
    grant = f"{SOURCE_TEMPLATE}: ShareAndDeleteOnlyManagedSnapshots"
    if shared_here:
        needs.append(
            Need("ShareSnapshot", "rds:ModifyDBClusterSnapshotAttribute", shared, grant, MANAGED_ONLY)
        )
    needs += [
        Need(
            "Cleanup", "rds:DeleteDBClusterSnapshot", arns.rds("cluster-snapshot", name), grant, MANAGED_ONLY
        )
        for name in plan.created
    ]
    return needs


def target_needs(
    arns: Arns,
    source_account: str,
    shared: str,
    run_id: str,
    cluster_identifier: str,
    instance_count: int,
    user_tags: dict[str, str],
    replacing: tuple[str, ...] | None = None,
    final_snapshot: bool = True,
    direct: bool = False,
    source_region: str | None = None,
    monitoring_role: str | None = None,
) -> list[Need]:
    """One target role's authorisations: copy the shared snapshot, restore, add instances, clean up; and, when
    `replacing` (the instances of the cluster a refresh in place replaces), the swap's renames and deletes.
    A `direct` restore reads the shared snapshot itself: no copy, and nothing of the target's to delete."""
    copy = arns.rds("cluster-snapshot", naming.target_copy_id(run_id))
    shared_arn = arns.rds("cluster-snapshot", shared, source_account, source_region)
    cluster = arns.rds("cluster", cluster_identifier)

    def tagged(
        step: str, purpose: str, pairs: list[tuple[str, str, str]], extra: dict[str, str]
    ) -> list[Need]:
        tags = tag_context(naming.tags_for(run_id, purpose, extra))
        return [
            Need(step, action, resource, f"{TARGET_TEMPLATE}: {sid}", tags) for action, resource, sid in pairs
        ]

    copying = [
        ("rds:CopyDBClusterSnapshot", shared_arn, "CopyOnlyIntoTaggedSnapshots"),
        ("rds:CopyDBClusterSnapshot", copy, "CopyOnlyIntoTaggedSnapshots"),
        ("rds:AddTagsToResource", copy, "TagOnlyAsManaged"),
    ]
    restoring = [
        ("rds:RestoreDBClusterFromSnapshot", cluster, "RestoreFromLocalCopies"),
        (
            ("rds:RestoreDBClusterFromSnapshot", shared_arn, "RestoreFromSharedSnapshots")
            if direct
            else ("rds:RestoreDBClusterFromSnapshot", copy, "RestoreFromLocalCopies")
        ),
        ("rds:AddTagsToResource", cluster, "TagOnlyAsManaged"),
    ]
    instances = []
    for index in range(instance_count):
        instance = arns.rds("db", naming.instance_id(cluster_identifier, index))
        instances += [
            ("rds:CreateDBInstance", instance, "CreateClusterInstances"),
            ("rds:CreateDBInstance", cluster, "CreateClusterInstances"),
            ("rds:AddTagsToResource", instance, "TagOnlyAsManaged"),
        ]
    return [
        *([] if direct else tagged("CopyToTarget", "target-copy", copying, {})),
        *tagged("RestoreCluster", "target-cluster", restoring, user_tags),
        Need(
            "RestoreCluster",
            "iam:CreateServiceLinkedRole",
            arns.iam(RDS_SERVICE_LINKED_ROLE),
            f"{TARGET_TEMPLATE}: CreateRdsServiceLinkedRole",
            (("iam:AWSServiceName", ("rds.amazonaws.com",)),),
            only_if="the account has no Aurora or RDS resources yet (RDS then creates its service-linked role)",
        ),
        *tagged("CreateInstances", "target-instance", instances, user_tags),
        *(
            Need(
                "ApplyPendingParameters",
                "rds:RebootDBInstance",
                arns.rds("db", naming.instance_id(cluster_identifier, index)),
                f"{TARGET_TEMPLATE}: RebootOnlyManagedInstances",
                MANAGED_ONLY,
                only_if='an instance\'s parameter group waits for a reboot (README "Parameter groups")',
            )
            for index in range(instance_count)
        ),
        # CreateDBInstance with MonitoringRoleArn passes that role to RDS (Enhanced Monitoring).
        *(
            []
            if monitoring_role is None
            else [
                Need(
                    "CreateInstances",
                    "iam:PassRole",
                    monitoring_role,
                    f"{TARGET_TEMPLATE}: PassMonitoringRole",
                    (("iam:PassedToService", ("rds.amazonaws.com",)),),
                )
            ]
        ),
        *(
            []
            if direct
            else [
                Need(
                    "Cleanup",
                    "rds:DeleteDBClusterSnapshot",
                    copy,
                    f"{TARGET_TEMPLATE}: DeleteOnlyManagedSnapshots",
                    MANAGED_ONLY,
                )
            ]
        ),
        *([] if replacing is None else _swap_needs(arns, run_id, cluster, replacing, final_snapshot)),
    ]


def _swap_needs(
    arns: Arns, run_id: str, cluster: str, instances: tuple[str, ...], final_snapshot: bool
) -> list[Need]:
    """A refresh in place: the replaced cluster and its instances are tagged, renamed and deleted (the new
    ones, made by the run and tagged, are renamed too)."""
    tags = tag_context(
        [{"Key": naming.MANAGED_TAG, "Value": "true"}, {"Key": naming.REPLACED_BY_TAG, "Value": run_id}]
    )
    resources = [cluster, *(arns.rds("db", instance) for instance in instances)]
    needs = [
        Need("CheckSwap", "rds:AddTagsToResource", arn, f"{TARGET_TEMPLATE}: TagOnlyAsManaged", tags)
        for arn in resources
    ]
    renames = [("rds:ModifyDBCluster", cluster)] + [("rds:ModifyDBInstance", arn) for arn in resources[1:]]
    deletes = [("rds:DeleteDBCluster", cluster)] + [("rds:DeleteDBInstance", arn) for arn in resources[1:]]
    needs += [
        Need("CheckSwap", a, r, f"{TARGET_TEMPLATE}: RenameOnlyManagedClusters", MANAGED_ONLY)
        for a, r in renames
    ]
    needs += [
        Need("CheckSwap", a, r, f"{TARGET_TEMPLATE}: DeleteOnlyManagedClusters", MANAGED_ONLY)
        for a, r in deletes
    ]
    if final_snapshot:
        snapshot_tags = tag_context(naming.tags_for(run_id, "final-snapshot"))
        statement = f"{TARGET_TEMPLATE}: FinalSnapshotOfReplacedClusters"
        aside = arns.rds("cluster", naming.replaced_cluster_id(run_id))
        final = arns.rds("cluster-snapshot", naming.final_snapshot_id(run_id))
        needs += [
            Need("CheckSwap", "rds:CreateDBClusterSnapshot", arn, statement, snapshot_tags)
            for arn in (aside, final)
        ]
        tagging = f"{TARGET_TEMPLATE}: TagOnlyAsManaged"
        needs.append(Need("CheckSwap", "rds:AddTagsToResource", final, tagging, snapshot_tags))
    return needs


def source_plan(kind: str, identifier: str, run_id: str, share_copy: bool) -> SourcePlan:
    """The snapshots the run makes in the source account, as the migration's steps decide them.

    `kind` is "cluster", "automated-snapshot" or "manual-snapshot"; `share_copy` whether a cluster's
    snapshot is copied again under the share key.
    """
    if kind == "cluster":
        snap = naming.source_snapshot_id(run_id)
        if share_copy:
            share = naming.share_copy_id(run_id)
            return SourcePlan(identifier, None, (snap, share), share, ((share, snap),))
        return SourcePlan(identifier, None, (snap,), snap)
    target = naming.source_copy_id(run_id) if kind == "automated-snapshot" else naming.share_copy_id(run_id)
    return SourcePlan(None, identifier, (target,), target, ((target, identifier),))


@dataclass(frozen=True)
class Refusal:
    need: Need
    decision: str  # the simulator's EvalDecision: implicitDeny or explicitDeny


def refusals(iam: Any, role_arn: str, needs: Sequence[Need]) -> list[Refusal]:
    """The needs the role's own IAM policies refuse, asked of iam:SimulatePrincipalPolicy.

    Only identity policies: no resource policy applies to these RDS and IAM actions. Raises what the
    client raises (ClientError, BotoCoreError, NotImplementedError) for the caller to report.
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html
    """
    groups: dict[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], list[Need]] = {}
    for need in needs:
        groups.setdefault((need.action, need.context), []).append(need)
    found: list[Refusal] = []
    for (action, _), members in groups.items():
        by_resource = {need.resource: need for need in members}
        params = {
            "PolicySourceArn": role_arn,
            "ActionNames": [action],
            "ResourceArns": list(by_resource),
            "ContextEntries": members[0].context_entries(),
        }
        for page in iam.get_paginator("simulate_principal_policy").paginate(**params):
            for result in page.get("EvaluationResults", []):
                decision = str(result.get("EvalDecision", ""))
                refused = by_resource.get(str(result.get("EvalResourceName", "")))
                if refused is not None and decision != "allowed":
                    found.append(Refusal(refused, decision))
    return found


# --- the check: the member roles' IAM, for every call the run makes -----------------------------------------


def check_source_permissions(preflight: Preflight, account: Account) -> None:
    """Every call the run makes in the source account, for the snapshots it makes of the source found."""
    source = preflight.source
    assert source is not None  # the check table runs this only once the source is found
    plan = source_plan(source.kind, source.identifier, preflight.run_id, needs_share_copy(preflight, source))
    # The share in the source's Region only when a target reads the snapshot there (not one copying in two steps).
    shared_here = bool(readers_in(preflight.request, preflight.region))
    needs = source_needs(arns_of(preflight, account), plan, preflight.run_id, shared_here)
    check_needs(preflight, account, needs)


def check_target_permissions(preflight: Preflight, account: TargetAccount) -> None:
    """Every call the run makes in one target account."""
    target = account.target
    planned = preflight.planned_instances(target)
    monitored = any(shape.monitoring_interval for shape in planned)
    needs = target_needs(
        arns_of(preflight, account),
        preflight.request.source.account_id,
        # The snapshot it really reads: the share copy in the source's Region, or the source's copy in its own
        # Region for a copy in two steps (placement.shared_region), owned by the source account either way.
        shared_snapshot(preflight, target),
        preflight.run_id,
        target.cluster_identifier,
        len(planned),
        dict(target.tags),
        _replaced_instances(account),
        target.final_snapshot,
        direct=restores_from_share(preflight.request, target),
        source_region=shared_region(preflight.request, target),
        monitoring_role=monitoring_role_arn(target.role_arn) if monitored else None,
    )
    needs += settled_needs(
        arns_of(preflight, account),
        target.cluster_identifier,
        target.kms_key_arn,
        own_credentials=target.master_credentials is not MasterCredentials.SOURCE,
    )
    check_needs(preflight, account, needs)


def settled_needs(arns: Arns, cluster_identifier: str, key_arn: str, *, own_credentials: bool) -> list[Need]:
    """What the restored cluster is changed with before its instances: the source's settings a restore does not
    take (ConfigureCluster), and, unless targets[].masterCredentials is "source", a master password of its own in
    the target's Secrets Manager under its key (OwnCredentials): ModifyDBCluster, and what RDS and Secrets Manager
    then do as the caller (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-secrets-manager.html,
    "Permissions required for Secrets Manager integration"; the key through Secrets Manager:
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html)."""
    cluster = arns.rds("cluster", cluster_identifier)
    modify = f"{TARGET_TEMPLATE}: RenameOnlyManagedClusters"
    needs = [
        Need(
            "ConfigureCluster",
            "rds:ModifyDBCluster",
            cluster,
            modify,
            MANAGED_ONLY,
            only_if="the source has a setting a restore does not take (its maintenance window, for one)",
        )
    ]
    if not own_credentials:
        return needs
    secret = f"arn:{arns.partition}:secretsmanager:{arns.region}:{arns.account_id}:secret:rds!cluster-*"
    secrets = f"{TARGET_TEMPLATE}: CreateOnlyRdsMasterUserSecrets"
    through = (("kms:ViaService", (f"secretsmanager.{arns.region}.amazonaws.com",)),)
    key_use = f"{TARGET_TEMPLATE}: UseTargetKeyThroughSecretsManager"
    return [
        *needs,
        Need("OwnCredentials", "rds:ModifyDBCluster", cluster, modify, MANAGED_ONLY),
        Need("OwnCredentials", "secretsmanager:CreateSecret", secret, secrets),
        Need("OwnCredentials", "secretsmanager:TagResource", secret, secrets),
        Need("OwnCredentials", "kms:GenerateDataKey", key_arn, key_use, through),
        Need("OwnCredentials", "kms:Decrypt", key_arn, key_use, through),
    ]


def _replaced_instances(account: TargetAccount) -> tuple[str, ...] | None:
    """The instances of the cluster a refresh in place replaces, or None when the run replaces nothing."""
    target = account.target
    if target.on_existing is not OnExisting.REPLACE:
        return None
    rds = rds_client(account.session)
    existing = described(
        rds.describe_db_clusters,
        "DBClusters",
        "DBClusterNotFoundFault",
        DBClusterIdentifier=target.cluster_identifier,
    )
    if existing is None:
        return None
    return tuple(sorted(m["DBInstanceIdentifier"] for m in existing.get("DBClusterMembers", [])))


def arns_of(preflight: Preflight, account: Account) -> Arns:
    """The ARNs of the account and Region `account` reaches."""
    return Arns(preflight.partition, account.access.region, account.access.account_id)


def check_needs(preflight: Preflight, account: Account, needs: list[Need]) -> None:
    """Every authorisation the run's calls cause in this account and Region, simulated for the member role, each
    with the Region the call is made in (aws:RequestedRegion, unless the need names it)."""
    access = account.access
    needs = [
        need
        if any(key == REQUESTED_REGION for key, _ in need.context)
        else replace(need, context=(*need.context, (REQUESTED_REGION, (access.region,))))
        for need in needs
    ]
    try:
        refused = refusals(untyped_client(account.session, "iam"), access.role_arn, needs)
    except (ClientError, BotoCoreError, NotImplementedError) as error:
        why = f"{error_code(error)}: {error_message(error)}" if isinstance(error, ClientError) else str(error)
        preflight.add(
            "warning",
            "permissions",
            access.account_id,
            access.role_arn,
            f"could not simulate the permissions of {access.role_arn} ({why or type(error).__name__}); the "
            "run's own calls will tell. Grant the role iam:SimulatePrincipalPolicy on itself (the member "
            "templates' SimulateOwnPolicies statement) to check them before anything is created.",
        )
        return
    for refusal in refused:
        need = refusal.need
        tagged = any(key.startswith("aws:RequestTag/") for key, _ in need.context)
        conditions = ", ".join(
            f"{key}={'/'.join(values)}" for key, values in need.context if not key.startswith("aws:")
        )
        conditions = ", ".join(filter(None, ["the run's tags" if tagged else "", conditions]))
        preflight.add(
            "warning" if need.only_if else "error",
            "permissions",
            access.account_id,
            need.resource,
            f"role {access.role_arn} may not perform {need.action} on {need.resource}"
            + (f" (with {conditions})" if conditions else "")
            + f": {refusal.decision}, so {need.step} would fail"
            + (f" if {need.only_if}" if need.only_if else "")
            + f". Add or restore the statement {need.statement} (or an equivalent grant) in the role's policy.",
        )
    if not refused:
        preflight.add(
            "info",
            "permissions",
            access.account_id,
            access.role_arn,
            f"{access.role_arn} may make every call the run makes in this account in {access.region} "
            f"({len(needs)} authorisations, iam:SimulatePrincipalPolicy of its IAM policies).",
        )
