"""Every AWS operation the runtime code calls, mapped to the IAM authorisations AWS makes for it.

Each entry turns one request (service, operation, parsed parameters) into the checks IAM runs: the action
on each resource type the Service Authorization Reference lists for it, with the request's condition keys,
and the dependent actions the service authorises on the caller's behalf (tags given at creation,
the KMS keys it uses, the RDS service-linked role in an account that has none yet).
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awskeymanagementservice.html
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsresourceaccessmanagerram.html
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html

A test (tests/twin/test_iam_map.py) fails when runtime code calls an operation this map does not cover, so
no call can reach AWS in the twin without being authorised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ferry_cli.twin.iam.policy import AuthRequest

# Tags passed at creation are authorised again as rds:AddTagsToResource on the new resource:
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/security_iam_id-based-policy-examples-grant-permissions-tags-on-create.html
_TAG_ON_CREATE = "rds:AddTagsToResource"

# What a caller needs on a KMS key RDS uses for it, by role of the key. RDS creates a grant for the
# operation (kms:GrantIsForAWSResource is true on that CreateGrant) and calls KMS as the caller through
# rds.<region>.amazonaws.com (kms:ViaService).
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Overview.Encryption.Keys.html
# A new resource encrypted with a customer managed key: CreateGrant and DescribeKey.
KEY_FOR_NEW_RESOURCE: tuple[str, ...] = ("kms:CreateGrant", "kms:DescribeKey")
# Reading a snapshot (or cluster) of the caller's own account encrypted with that account's key.
KEY_READ_SAME_ACCOUNT: tuple[str, ...] = ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey")
# Reading a snapshot or cluster shared from another account: the sharing guide's list of what the key
# owner must allow the other account.
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/share-encrypted-snapshot.html
KEY_READ_CROSS_ACCOUNT: tuple[str, ...] = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
)

# RDS creates AWSServiceRoleForRDS with the caller's permissions the first time the account needs it.
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAM.ServiceLinkedRoles.html
RDS_SERVICE = "rds.amazonaws.com"
RDS_SLR_PATH = "/aws-service-role/rds.amazonaws.com/"
RDS_SLR_NAME = "AWSServiceRoleForRDS"


@dataclass(frozen=True)
class ResourceFacts:
    """What the evaluator needs to know about an existing resource."""

    arn: str
    account_id: str
    tags: Mapping[str, str] = field(default_factory=dict)
    kms_key_arn: str | None = None
    engine: str = ""
    engine_version: str = ""


@dataclass(frozen=True)
class KeyFacts:
    arn: str
    account_id: str
    policy: Mapping[str, Any]


class Lookup(Protocol):
    """Read access to the twin's state, as the service itself would see it (no authorisation)."""

    def cluster_snapshot(self, ref: str, account_id: str, region: str) -> ResourceFacts | None: ...
    def cluster(self, ref: str, account_id: str, region: str) -> ResourceFacts | None: ...
    def instance(self, ref: str, account_id: str, region: str) -> ResourceFacts | None: ...
    def parameter_group(self, kind: str, ref: str, account_id: str, region: str) -> ResourceFacts | None: ...
    def resource_share(self, arn: str) -> ResourceFacts | None: ...
    def key(self, ref: str, account_id: str, region: str) -> KeyFacts | None: ...
    def role_trust_policy(self, role_arn: str) -> Mapping[str, Any] | None: ...
    def has_rds_service_linked_role(self, account_id: str) -> bool: ...
    def state_machine_of_task_token(self, token: str) -> str | None: ...
    def topic_key(self, topic_arn: str) -> str | None: ...


@dataclass(frozen=True)
class Check:
    """One authorisation: the request, whose resource it is, and what the service answers on a denial."""

    request: AuthRequest
    resource_account: str
    resource_policy: Mapping[str, Any] | None = None
    policy_required: bool = False
    # The operation the caller called, when this is a dependent action the service authorises for it.
    dependent_of: str | None = None
    # The error code the service returns when this check fails: RDS reports a KMS key it may not use
    # for the caller as KMSKeyNotAccessibleFault, not as AccessDenied.
    fault: str | None = None


# Services whose IAM action prefix is not their botocore name.
_IAM_PREFIXES = {"stepfunctions": "states"}


@dataclass(frozen=True)
class Call:
    """The request as the service receives it."""

    service: str
    operation: str
    params: Mapping[str, Any]
    account_id: str  # the caller's account
    region: str
    partition: str = "aws"

    def arn(self, service: str, resource: str, account_id: str | None = None) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{account_id or self.account_id}:{resource}"

    @property
    def action(self) -> str:
        """The IAM action the operation is authorised as: the service's own prefix, which for Step Functions
        ("stepfunctions" to botocore) is "states"."""
        return f"{_IAM_PREFIXES.get(self.service, self.service)}:{self.operation}"

    def str_param(self, name: str) -> str | None:
        value = self.params.get(name)
        return str(value) if value not in (None, "") else None


Mapper = Callable[[Call, Lookup], list[Check]]
OPERATIONS: dict[tuple[str, str], Mapper] = {}


def _maps(service: str, *operations: str) -> Callable[[Mapper], Mapper]:
    def register(mapper: Mapper) -> Mapper:
        for operation in operations:
            OPERATIONS[(service, operation)] = mapper
        return mapper

    return register


def checks_for(call: Call, lookup: Lookup) -> list[Check] | None:
    """The checks for one call, or None when the map does not cover the operation."""
    mapper = OPERATIONS.get((call.service, call.operation))
    return None if mapper is None else mapper(call, lookup)


# --- helpers ----------------------------------------------------------------------------------------------


def _request_tags(tags: Any, key_name: str = "Key", value_name: str = "Value") -> dict[str, str]:
    return {str(t[key_name]): str(t.get(value_name, "")) for t in (tags or []) if key_name in t}


def _tag_context(tags: Mapping[str, str]) -> dict[str, str | Sequence[str]]:
    context: dict[str, str | Sequence[str]] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    if tags:
        context["aws:TagKeys"] = sorted(tags)
    return context


def _resource_context(facts: ResourceFacts | None) -> dict[str, str | Sequence[str]]:
    return {f"aws:ResourceTag/{k}": v for k, v in (facts.tags if facts else {}).items()}


def _check(
    call: Call,
    action: str,
    resource: str,
    context: Mapping[str, str | Sequence[str]] | None = None,
    resource_account: str | None = None,
    dependent: bool = False,
) -> Check:
    return Check(
        AuthRequest(action, resource, dict(context or {})),
        resource_account or call.account_id,
        dependent_of=f"{call.service}:{call.operation}" if dependent else None,
    )


def _owner(call: Call, arn: str) -> str:
    """The account an ARN names (IAM ARNs too); the caller's for anything that is not an ARN."""
    parts = arn.split(":")
    return parts[4] if arn.startswith("arn:") and len(parts) > 5 and parts[4] else call.account_id


def _rds_arn(call: Call, kind: str, ref: str | None) -> tuple[str, str]:
    """(ARN, owning account) of an RDS resource named by id or ARN; "*" names every resource of the kind."""
    if ref and ref.startswith("arn:"):
        return ref, ref.split(":")[4]
    return call.arn("rds", f"{kind}:{ref or '*'}"), call.account_id


def _existing(call: Call, kind: str, ref: str | None, facts: ResourceFacts | None) -> tuple[str, str]:
    return (facts.arn, facts.account_id) if facts is not None else _rds_arn(call, kind, ref)


Find = Callable[[str, str, str], ResourceFacts | None]


def _named(call: Call, find: Find, kind: str, param: str) -> tuple[ResourceFacts | None, str, str]:
    """The RDS resource `param` names (id or ARN): its facts (None when the service knows no such resource),
    ARN and owning account."""
    ref = call.str_param(param)
    facts = find(ref or "", call.account_id, call.region)
    return (facts, *_existing(call, kind, ref, facts))


def _kms_checks(
    call: Call, lookup: Lookup, key_ref: str | None, actions: Sequence[str], key_account: str | None = None
) -> list[Check]:
    """The KMS actions RDS performs as the caller on one key; denied ones surface as KMSKeyNotAccessibleFault."""
    if not key_ref:
        return []
    key = lookup.key(key_ref, key_account or call.account_id, call.region)
    if key is None:
        # An unknown key is the service's own error (not found / not accessible), not an IAM decision.
        return []
    return _key_use(call, key, actions, "rds", f"{call.service}:{call.operation}", "KMSKeyNotAccessibleFault")


def _key_use(
    call: Call, key: KeyFacts, actions: Sequence[str], via: str, dependent_of: str, fault: str
) -> list[Check]:
    """A service's use of `key` on the caller's behalf (kms:ViaService `via`), one check per action, each
    needing the key policy too; a refusal is the service's `fault`."""
    checks = []
    # The service uses a key in the key's own Region (KMS keys are regional): for the source key of a copy from
    # another Region, that is the source Region's service, not the Region of the call.
    # https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
    arn_parts = key.arn.split(":")
    region = (
        arn_parts[3] if key.arn.startswith("arn:") and len(arn_parts) > 3 and arn_parts[3] else call.region
    )
    for action in actions:
        context: dict[str, str | Sequence[str]] = {
            "kms:ViaService": f"{via}.{region}.amazonaws.com",
            "kms:CallerAccount": call.account_id,
            # The service calls KMS in the key's Region, so that is the Region of this (dependent) request.
            "aws:RequestedRegion": region,
        }
        if action == "kms:CreateGrant":
            context["kms:GrantIsForAWSResource"] = "true"
        checks.append(
            Check(
                AuthRequest(action, key.arn, context),
                key.account_id,
                resource_policy=key.policy,
                policy_required=True,
                dependent_of=dependent_of,
                fault=fault,
            )
        )
    return checks


def _read_key_actions(call: Call, owner: str) -> tuple[str, ...]:
    return KEY_READ_SAME_ACCOUNT if owner == call.account_id else KEY_READ_CROSS_ACCOUNT


def _service_linked_role(call: Call, lookup: Lookup) -> list[Check]:
    if lookup.has_rds_service_linked_role(call.account_id):
        return []
    arn = f"arn:{call.partition}:iam::{call.account_id}:role{RDS_SLR_PATH}{RDS_SLR_NAME}"
    return [
        _check(call, "iam:CreateServiceLinkedRole", arn, {"iam:AWSServiceName": RDS_SERVICE}, dependent=True)
    ]


def _tagging(call: Call, new_arn: str, tags: Mapping[str, str]) -> list[Check]:
    return [_check(call, _TAG_ON_CREATE, new_arn, _tag_context(tags), dependent=True)] if tags else []


# --- calls on the one resource a parameter names, or on "*" -----------------------------------------------


def _rds_read(kind: str, param: str) -> Mapper:
    """An RDS read authorised on the `kind` resource `param` names, or on every one when it names none."""

    def mapper(call: Call, lookup: Lookup) -> list[Check]:
        arn, owner = _rds_arn(call, kind, call.str_param(param))
        return [_check(call, f"rds:{call.operation}", arn, resource_account=owner)]

    return mapper


_maps("rds", "DescribeDBClusters")(_rds_read("cluster", "DBClusterIdentifier"))
_maps("rds", "DescribeDBInstances")(_rds_read("db", "DBInstanceIdentifier"))
_maps("rds", "DescribeDBClusterSnapshots", "DescribeDBClusterSnapshotAttributes")(
    _rds_read("cluster-snapshot", "DBClusterSnapshotIdentifier")
)
_maps("rds", "DescribeDBSubnetGroups")(_rds_read("subgrp", "DBSubnetGroupName"))
_maps("rds", "DescribeDBClusterParameterGroups")(_rds_read("cluster-pg", "DBClusterParameterGroupName"))


def _on_arn(param: str) -> Mapper:
    """The operation authorised on the ARN `param` names ("*" when none), in the account that ARN names."""

    def mapper(call: Call, lookup: Lookup) -> list[Check]:
        arn = call.str_param(param) or "*"
        return [_check(call, call.action, arn, resource_account=_owner(call, arn))]

    return mapper


_maps("rds", "ListTagsForResource")(_on_arn("ResourceName"))
_maps("iam", "SimulatePrincipalPolicy")(_on_arn("PolicySourceArn"))
_maps("ram", "AcceptResourceShareInvitation")(_on_arn("resourceShareInvitationArn"))
# Step Functions authorises ListExecutions on the stateMachine, DescribeExecution on the execution:
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html
_maps("stepfunctions", "ListExecutions")(_on_arn("stateMachineArn"))
_maps("stepfunctions", "DescribeExecution")(_on_arn("executionArn"))


# These support no resource-level permissions: "*" is the only resource.
@_maps("rds", "DescribeAccountAttributes")
@_maps("ec2", "DescribeSecurityGroups")
@_maps("ram", "GetResourceShares", "GetResourceShareAssociations", "GetResourceShareInvitations")
def _unscoped(call: Call, lookup: Lookup) -> list[Check]:
    return [_check(call, call.action, "*")]


# --- RDS: snapshots ---------------------------------------------------------------------------------------


def _new_snapshot(
    call: Call, name_param: str, read: ResourceFacts | None, read_arn: str, owner: str
) -> list[Check]:
    """A new cluster snapshot (named by `name_param`) of what it reads: both resources, each with the request's
    tags, and the tags on create."""
    new_arn = call.arn("rds", f"cluster-snapshot:{call.str_param(name_param)}")
    tags = _request_tags(call.params.get("Tags"))
    action = f"rds:{call.operation}"
    return [
        _check(call, action, read_arn, {**_resource_context(read), **_tag_context(tags)}, owner),
        _check(call, action, new_arn, _tag_context(tags)),
        *_tagging(call, new_arn, tags),
    ]


@_maps("rds", "CreateDBClusterSnapshot")
def _create_snapshot(call: Call, lookup: Lookup) -> list[Check]:
    cluster = _named(call, lookup.cluster, "cluster", "DBClusterIdentifier")
    return _new_snapshot(call, "DBClusterSnapshotIdentifier", *cluster)


@_maps("rds", "CopyDBClusterSnapshot")
def _copy_snapshot(call: Call, lookup: Lookup) -> list[Check]:
    source, source_arn, owner = _named(
        call, lookup.cluster_snapshot, "cluster-snapshot", "SourceDBClusterSnapshotIdentifier"
    )
    return [
        *_new_snapshot(call, "TargetDBClusterSnapshotIdentifier", source, source_arn, owner),
        *_reencryption(call, lookup, source, owner),
    ]


@_maps("rds", "ModifyDBClusterSnapshotAttribute", "DeleteDBClusterSnapshot")
def _change_snapshot(call: Call, lookup: Lookup) -> list[Check]:
    snapshot, arn, owner = _named(
        call, lookup.cluster_snapshot, "cluster-snapshot", "DBClusterSnapshotIdentifier"
    )
    return [_check(call, f"rds:{call.operation}", arn, _resource_context(snapshot), owner)]


@_maps("rds", "AddTagsToResource")
def _add_tags(call: Call, lookup: Lookup) -> list[Check]:
    """Tags added to an existing resource (a refresh tags the cluster it renames aside, a run the target copy it
    keeps with its cluster): the action on that resource, with its own tags (aws:ResourceTag) and the request's
    (aws:RequestTag, aws:TagKeys), the condition keys the Service Authorization Reference lists for
    rds:AddTagsToResource."""
    arn = call.str_param("ResourceName") or "*"
    kind = arn.split(":")[5] if arn.startswith("arn:") and arn.count(":") >= 6 else ""
    finders: dict[str, Find] = {
        "cluster-snapshot": lookup.cluster_snapshot,
        "cluster": lookup.cluster,
        "db": lookup.instance,
    }
    find = finders.get(kind)
    facts = find(arn, call.account_id, call.region) if find is not None else None
    context = {**_resource_context(facts), **_tag_context(_request_tags(call.params.get("Tags")))}
    return [_check(call, call.action, arn, context, _owner(call, arn))]


# --- RDS: clusters and instances --------------------------------------------------------------------------


def _placement(call: Call, tags: Mapping[str, str], defaults: Mapping[str, str] | None = None) -> list[Check]:
    """The subnet group, parameter groups and option group a new cluster or instance is placed in.

    For a restore the reference lists cluster-pg, og and subgrp as required resource types, so the groups it
    falls back to when none is named are authorised too (`defaults`); an instance only names what it is given.
    """
    action = f"rds:{call.operation}"
    placed = []
    for param, kind in (
        ("DBSubnetGroupName", "subgrp"),
        ("DBClusterParameterGroupName", "cluster-pg"),
        ("DBParameterGroupName", "pg"),
        ("OptionGroupName", "og"),
    ):
        name = call.str_param(param) or (defaults or {}).get(kind)
        if name:
            # The request's tags are in the context of every resource the request is authorised on.
            placed.append(_check(call, action, call.arn("rds", f"{kind}:{name}"), _tag_context(tags)))
    return placed


def _default_groups(engine: str, version: str) -> dict[str, str]:
    """RDS's default groups for an engine version: default.aurora-postgresql16, default:aurora-postgresql-16."""
    major = (
        version.split(".", maxsplit=1)[0]
        if engine.endswith("postgresql")
        else ".".join(version.split(".")[:2])
    )
    return {
        "subgrp": "default",
        "cluster-pg": f"default.{engine}{major}",
        "og": f"default:{engine}-{major.replace('.', '-')}",
    }


def _new_cluster(call: Call) -> tuple[str, dict[str, str]]:
    return (
        call.arn("rds", f"cluster:{call.str_param('DBClusterIdentifier')}"),
        _request_tags(call.params.get("Tags")),
    )


def _restore(
    call: Call, lookup: Lookup, read: ResourceFacts | None, read_arn: str, owner: str
) -> list[Check]:
    """A new cluster from what it reads (a snapshot, or a cluster for a clone): both resources, the
    placement, the tags on create, the keys RDS uses for the caller and the service-linked role."""
    new_arn, tags = _new_cluster(call)
    action = f"rds:{call.operation}"
    engine = call.str_param("Engine") or (read.engine if read is not None else "")
    version = call.str_param("EngineVersion") or (read.engine_version if read is not None else "")
    checks = [
        _check(call, action, new_arn, _tag_context(tags)),
        _check(call, action, read_arn, {**_resource_context(read), **_tag_context(tags)}, owner),
        *_placement(call, tags, _default_groups(engine, version) if engine and version else None),
        *_tagging(call, new_arn, tags),
        *_reencryption(call, lookup, read, owner),
    ]
    return checks + _service_linked_role(call, lookup)


def _reencryption(call: Call, lookup: Lookup, read: ResourceFacts | None, owner: str) -> list[Check]:
    """The key of what is read, and the KmsKeyId of what is written when it is another key."""
    read_key = read.kms_key_arn if read is not None else None
    checks = _kms_checks(call, lookup, read_key, _read_key_actions(call, owner), owner)
    new_key = call.str_param("KmsKeyId")
    if new_key and (read_key is None or not _same_key(lookup, call, new_key, read_key)):
        checks += _kms_checks(call, lookup, new_key, KEY_FOR_NEW_RESOURCE)
    return checks


@_maps("rds", "RestoreDBClusterFromSnapshot")
def _restore_from_snapshot(call: Call, lookup: Lookup) -> list[Check]:
    return _restore(
        call, lookup, *_named(call, lookup.cluster_snapshot, "cluster-snapshot", "SnapshotIdentifier")
    )


@_maps("rds", "RestoreDBClusterToPointInTime")
def _restore_to_point_in_time(call: Call, lookup: Lookup) -> list[Check]:
    """A clone (RestoreType copy-on-write) authorises the source cluster too, in its owner's account.
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Clone.Cross-Account.html
    """
    return _restore(call, lookup, *_named(call, lookup.cluster, "cluster", "SourceDBClusterIdentifier"))


@_maps("rds", "CreateDBInstance")
def _create_instance(call: Call, lookup: Lookup) -> list[Check]:
    new_arn = call.arn("rds", f"db:{call.str_param('DBInstanceIdentifier')}")
    tags = _request_tags(call.params.get("Tags"))
    cluster_ref = call.str_param("DBClusterIdentifier")
    cluster = lookup.cluster(cluster_ref or "", call.account_id, call.region)
    action = "rds:CreateDBInstance"
    checks = [_check(call, action, new_arn, _tag_context(tags))]
    if cluster_ref:
        arn, owner = _existing(call, "cluster", cluster_ref, cluster)
        checks.append(_check(call, action, arn, {**_resource_context(cluster), **_tag_context(tags)}, owner))
    return (
        checks
        + _placement(call, tags)
        + _tagging(call, new_arn, tags)
        + _service_linked_role(call, lookup)
        + _instance_roles_and_keys(call, lookup)
    )


def _instance_roles_and_keys(call: Call, lookup: Lookup) -> list[Check]:
    """Enhanced Monitoring passes MonitoringRoleArn to RDS, which needs iam:PassRole on it ("the user ... must
    have the iam:PassRole permission" for the monitoring role,
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Monitoring.OS.Enabling.html; the Service
    Authorization Reference lists iam:PassRole as a dependent action of CreateDBInstance,
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html); Performance Insights
    under a customer managed key has RDS use that key for the caller, as for a new cluster's storage key
    (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_PerfInsights.access-control.cmk-policy.html)."""
    checks = []
    role = call.str_param("MonitoringRoleArn")
    if role:
        context = {"iam:PassedToService": RDS_SERVICE}
        checks.append(_check(call, "iam:PassRole", role, context, _owner(call, role), dependent=True))
    if call.params.get("EnablePerformanceInsights"):
        checks += _kms_checks(
            call, lookup, call.str_param("PerformanceInsightsKMSKeyId"), KEY_FOR_NEW_RESOURCE
        )
    return checks


@_maps("rds", "DeleteDBInstance")
def _delete_instance(call: Call, lookup: Lookup) -> list[Check]:
    instance, arn, owner = _named(call, lookup.instance, "db", "DBInstanceIdentifier")
    return [_check(call, "rds:DeleteDBInstance", arn, _resource_context(instance), owner)]


# ManageMasterUserPassword: RDS creates the secret of the master password in the caller's account as the caller
# (named rds!cluster-<uuid>, tagged) and uses its key for the caller: "kms:DescribeKey, secretsmanager:CreateSecret,
# secretsmanager:TagResource", and with a customer managed key "kms:Decrypt, kms:GenerateDataKey, kms:CreateGrant".
# DescribeKey and the grant are RDS's own use of the key (kms:ViaService rds); Secrets Manager encrypts the value
# with a data key it asks for as the caller (kms:ViaService secretsmanager).
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-secrets-manager.html#rds-secrets-manager-permissions
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
MASTER_SECRET_ACTIONS: tuple[str, ...] = ("secretsmanager:CreateSecret", "secretsmanager:TagResource")
SECRET_KEY_THROUGH_RDS: tuple[str, ...] = ("kms:DescribeKey", "kms:CreateGrant")
SECRET_KEY_THROUGH_SECRETS_MANAGER: tuple[str, ...] = ("kms:GenerateDataKey", "kms:Decrypt")


# A refresh in place renames (and unprotects) the replaced cluster and instances: authorised on the resource as it
# is named now, with its tags (the service authorization reference lists no resource for the new name); a managed
# master password adds rds:ManageMasterUserPassword to the context and the secret's dependent actions.
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html
@_maps("rds", "ModifyDBCluster")
def _modify_cluster(call: Call, lookup: Lookup) -> list[Check]:
    cluster, arn, owner = _named(call, lookup.cluster, "cluster", "DBClusterIdentifier")
    manage = call.str_param("ManageMasterUserPassword")
    context = {
        **_resource_context(cluster),
        **({"rds:ManageMasterUserPassword": manage.lower()} if manage else {}),
    }
    checks = [_check(call, "rds:ModifyDBCluster", arn, context, owner)]
    if (manage or "").lower() != "true":
        return checks
    secret = call.arn("secretsmanager", "secret:rds!cluster-*")
    checks += [_check(call, action, secret, dependent=True) for action in MASTER_SECRET_ACTIONS]
    key = lookup.key(call.str_param("MasterUserSecretKmsKeyId") or "", call.account_id, call.region)
    if key is None:
        # Secrets Manager's own aws/secretsmanager key: its key policy admits the account's principals.
        return checks
    dependent = f"{call.service}:{call.operation}"
    fault = "KMSKeyNotAccessibleFault"
    return [
        *checks,
        *_key_use(call, key, SECRET_KEY_THROUGH_RDS, "rds", dependent, fault),
        *_key_use(call, key, SECRET_KEY_THROUGH_SECRETS_MANAGER, "secretsmanager", dependent, fault),
    ]


@_maps("rds", "ModifyDBInstance", "RebootDBInstance")
def _modify_instance(call: Call, lookup: Lookup) -> list[Check]:
    """ModifyDBInstance and RebootDBInstance: on the "db" resource, with its tags (aws:ResourceTag)."""
    instance, arn, owner = _named(call, lookup.instance, "db", "DBInstanceIdentifier")
    return [_check(call, f"rds:{call.operation}", arn, _resource_context(instance), owner)]


@_maps("rds", "DeleteDBCluster")
def _delete_cluster(call: Call, lookup: Lookup) -> list[Check]:
    cluster, arn, owner = _named(call, lookup.cluster, "cluster", "DBClusterIdentifier")
    checks = [_check(call, "rds:DeleteDBCluster", arn, _resource_context(cluster), owner)]
    final = call.str_param("FinalDBSnapshotIdentifier")
    if final and str(call.params.get("SkipFinalSnapshot", "false")).lower() != "true":
        checks.append(
            _check(call, "rds:CreateDBClusterSnapshot", call.arn("rds", f"cluster-snapshot:{final}"))
        )
    return checks


# --- KMS, STS ---------------------------------------------------------------------------------------------


@_maps("kms", "DescribeKey", "GetKeyPolicy")
def _key_read(call: Call, lookup: Lookup) -> list[Check]:
    key = lookup.key(call.str_param("KeyId") or "", call.account_id, call.region)
    if key is None:
        return []
    return [
        Check(
            AuthRequest(f"kms:{call.operation}", key.arn, {"kms:CallerAccount": call.account_id}),
            key.account_id,
            resource_policy=key.policy,
            policy_required=True,
        )
    ]


@_maps("sts", "AssumeRole")
def _assume_role(call: Call, lookup: Lookup) -> list[Check]:
    role_arn = call.str_param("RoleArn") or ""
    context: dict[str, str | Sequence[str]] = {}
    external_id = call.str_param("ExternalId")
    if external_id:
        context["sts:ExternalId"] = external_id
    owner = _owner(call, role_arn)
    trust = lookup.role_trust_policy(role_arn)
    return [
        Check(
            AuthRequest("sts:AssumeRole", role_arn, context),
            owner,
            # A role that does not exist trusts nobody: AWS answers AccessDenied, as for a trust mismatch.
            resource_policy=trust if trust is not None else {"Statement": []},
            policy_required=True,
        )
    ]


# --- RAM: shares ------------------------------------------------------------------------------------------


@_maps("ram", "CreateResourceShare")
def _create_share(call: Call, lookup: Lookup) -> list[Check]:
    tags = _request_tags(call.params.get("tags"), "key", "value")
    context = _tag_context(tags)
    principals = [str(p) for p in call.params.get("principals") or []]
    if principals:
        context["ram:Principal"] = principals
    # CreateResourceShare has no resource type in the Service Authorization Reference: "*" only.
    checks = [_check(call, "ram:CreateResourceShare", "*", context)]
    if tags:
        # The share's tags are authorised as ram:TagResource on the new share, the way tags on create are
        # for the other services here; stricter than the reference's empty dependent-actions column.
        new_share = call.arn("ram", "resource-share/*")
        checks.append(_check(call, "ram:TagResource", new_share, _tag_context(tags), dependent=True))
    return checks


@_maps("ram", "DeleteResourceShare")
def _delete_share(call: Call, lookup: Lookup) -> list[Check]:
    arn = call.str_param("resourceShareArn") or "*"
    share = lookup.resource_share(arn)
    return [_check(call, "ram:DeleteResourceShare", arn, _resource_context(share))]


# --- the orchestrator's own account -----------------------------------------------------------------------


@_maps("dynamodb", "PutItem", "GetItem", "DeleteItem", "Scan")
def _table(call: Call, lookup: Lookup) -> list[Check]:
    table = call.arn("dynamodb", f"table/{call.str_param('TableName')}")
    return [_check(call, f"dynamodb:{call.operation}", table)]


@_maps("stepfunctions", "SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")
def _task_callbacks(call: Call, lookup: Lookup) -> list[Check]:
    # Evaluated against the state machine the token belongs to (its AccessDenied names that ARN).
    machine = lookup.state_machine_of_task_token(call.str_param("taskToken") or "")
    return [_check(call, call.action, machine or "*")]


# Publishing to a topic encrypted with a customer managed key: SNS uses the key as the publisher, who needs
# kms:GenerateDataKey* and kms:Decrypt on it (the key policy must allow them too, here through the account's
# root statement and the publisher's IAM policy). "Encryption at rest", key management:
# https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
TOPIC_KEY_ACTIONS: tuple[str, ...] = ("kms:GenerateDataKey", "kms:Decrypt")


@_maps("sns", "Publish")
def _publish(call: Call, lookup: Lookup) -> list[Check]:
    topic = call.str_param("TopicArn") or "*"
    checks = [_check(call, "sns:Publish", topic, resource_account=_owner(call, topic))]
    key_ref = lookup.topic_key(topic)
    key = lookup.key(key_ref, _owner(call, topic), call.region) if key_ref else None
    if key is None:
        # Not encrypted (or the key is gone, which SNS reports itself when it publishes).
        return checks
    # KMSAccessDenied: SNS's own error for a key it may not use for the publisher.
    return checks + _key_use(call, key, TOPIC_KEY_ACTIONS, "sns", "sns:Publish", "KMSAccessDenied")


def _same_key(lookup: Lookup, call: Call, one: str, other: str) -> bool:
    first = lookup.key(one, call.account_id, call.region)
    second = lookup.key(other, call.account_id, call.region)
    return first is not None and second is not None and first.arn == second.arn


# Parameter group replication's entries live in their own module; importing it registers them in OPERATIONS.
from ferry_cli.twin.iam import parameter_group_actions  # noqa: E402, F401
