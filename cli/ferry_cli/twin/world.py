"""WORLD files: the accounts, keys and source clusters the twin starts from.

A world describes what already exists before a migration: member-account roles, KMS keys (with fixed
key ids so an input file can name real-looking key ARNs), and source clusters with their encryption
(none, the default aws/rds key, a customer-managed key, or an AWS owned key: sse-rds) and automated snapshots. See
worlds/README.md.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ferry_cli.twin.lifecycle import PROGRESS_CURVES, Durations, ProgressCurve
from ferry_cli.twin.world_instances import InstanceSpec, parse_instances
from ferry_cli.twin.world_parameter_groups import ParameterGroupSpec, parse_parameter_groups
from ferry_cli.twin.world_regions import (
    REGION_KEY_TEMPLATE,
    CopyRegionKey,
    account_region,
    parse_copy_region_keys,
)

# Re-exported (the "as" form mypy reads as explicit): callers catch WorldError from this module.
from ferry_cli.twin.world_regions import WorldError as WorldError  # noqa: PLC0414

DEFAULT_KEY_ACTIONS = [
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
]


ORCHESTRATOR_ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class KeySpec:
    key_id: str
    alias: str | None
    policy: dict[str, Any] | None
    share_with: tuple[str, ...]
    enabled: bool = True


@dataclass(frozen=True)
class ClusterSpec:
    identifier: str
    engine: str
    engine_version: str
    encryption: str  # "none", "default", "key:<key id>" or "sse-rds" (an AWS owned key)
    instances: tuple[InstanceSpec, ...]  # the first is the writer
    instance_class: str
    automated_snapshots: tuple[str, ...]
    manual_snapshots: tuple[str, ...]
    # More CreateDBCluster parameters, as the API names them (Port, StorageType, ...): the source's configuration.
    settings: dict[str, Any] = field(default_factory=dict)
    instance_parameter_group: str | None = None


MEMBER_TEMPLATES = {"source-account": "ShareKey", "target-account": "TargetKey"}

# The parameters member-accounts/README.md tells users to deploy the member stacks with (its "Deploy"
# commands; tests/unit/test_member_account_templates.py keeps the two equal). {orchestrator} is the
# orchestrator account. The twin deploys every world's member stacks with these unless the world overrides.
DOCUMENTED_PARAMETERS: dict[str, dict[str, str]] = {
    "source-account": {
        "OrchestratorAccountId": "{orchestrator}",
        "OrchestratorPrincipalArn": "arn:aws:iam::{orchestrator}:role/aurora-ferry/*",
        "ExternalId": "ferry-prod-7f3a",
        "ShareKeyAlias": "alias/aurora-ferry-share",
        "RoleName": "aurora-ferry-source",
    },
    "target-account": {
        "OrchestratorAccountId": "{orchestrator}",
        "OrchestratorPrincipalArn": "arn:aws:iam::{orchestrator}:role/aurora-ferry/*",
        "ExternalId": "ferry-prod-7f3a",
        "RoleName": "aurora-ferry-target",
    },
    REGION_KEY_TEMPLATE: {"ShareKeyAlias": "alias/aurora-ferry-share"},
}


@dataclass(frozen=True)
class MemberStackSpec:
    """One member-account stack of this repo (member-accounts/<template>.yaml) deployed in the account."""

    template: str  # "source-account" or "target-account"
    key_id: str  # fixed id of the stack's key (ShareKey / TargetKey), so inputs can name its ARN
    parameters: dict[str, str] = field(default_factory=dict)  # overrides of the documented parameters
    key_policy: dict[str, Any] | None = None  # replaces the template's key policy (a rehearsed mistake)
    # Role policy statements (by Sid) left out, as if an older or hand-edited template had been deployed.
    omit_statements: tuple[str, ...] = ()

    @property
    def key_logical_id(self) -> str:
        return MEMBER_TEMPLATES[self.template]

    @property
    def stack_name(self) -> str:
        return f"aurora-ferry-{self.template.removesuffix('-account')}"


@dataclass(frozen=True)
class AccountSpec:
    account_id: str
    name: str
    keys: tuple[KeySpec, ...]
    clusters: tuple[ClusterSpec, ...]
    # AWS Organizations organization id (o-...): RAM shares within one need no invitation (twin/ram.py).
    organization_id: str | None = None
    member_stack: MemberStackSpec | None = None
    # Limits for rds:DescribeAccountAttributes (DBClusters, DBInstances, ManualClusterSnapshots).
    quotas: dict[str, int] = field(default_factory=dict)
    # The Region its member stack, keys and clusters live in; None: the world's (World.region_of).
    region: str | None = None
    # A source account's share keys in other Regions (two-step cross-Region copy), deployed before its stack.
    copy_region_keys: tuple[CopyRegionKey, ...] = ()
    parameter_groups: tuple[ParameterGroupSpec, ...] = ()


@dataclass(frozen=True)
class World:
    description: str
    region: str
    orchestrator_account_id: str
    durations: Durations
    accounts: tuple[AccountSpec, ...] = field(default_factory=tuple)
    # Twin time at the start (clock.start); None: the real time the twin starts.
    clock_start: datetime | None = None

    def account(self, account_id: str) -> AccountSpec:
        for account in self.accounts:
            if account.account_id == account_id:
                return account
        raise KeyError(account_id)

    def region_of(self, account_id: str) -> str:
        """The Region an account's resources live in: its own ``region``, else the world's (always the
        orchestrator's, and that of an account the world does not list)."""
        for account in self.accounts:
            if account.account_id == account_id:
                return account.region or self.region
        return self.region


def load_world(path: Path) -> World:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise WorldError(f"{path}: not UTF-8 text (byte {error.start}); save it as UTF-8 JSON") from error
    except json.JSONDecodeError as error:
        raise WorldError(f"{path}: not valid JSON: {error}") from error
    return parse_world(raw)


def parse_world(raw: Any) -> World:
    if not isinstance(raw, dict):
        raise WorldError("world: must be a JSON object")
    region = _require(raw, "region", "world")
    orchestrator = _account_id(
        raw.get("orchestratorAccountId", ORCHESTRATOR_ACCOUNT_ID), "orchestratorAccountId"
    )
    if orchestrator != ORCHESTRATOR_ACCOUNT_ID:
        # Moto's Step Functions interpreter invokes Lambda with placeholder credentials, which moto maps
        # to its default account; the orchestrator (state machine and functions) has to live there.
        raise WorldError(
            f"orchestratorAccountId: the twin's orchestrator is always {ORCHESTRATOR_ACCOUNT_ID}"
        )
    clock_start = _clock_start(raw.get("clock", {}))
    durations_raw = raw.get("durations", {})
    names = {
        "snapshotCreate": "snapshot_create",
        "snapshotCopy": "snapshot_copy",
        "clusterRestore": "cluster_restore",
        "instanceCreate": "instance_create",
        "instanceDelete": "instance_delete",
        "clusterDelete": "cluster_delete",
    }
    unknown = set(durations_raw) - set(names)
    if unknown:
        raise WorldError(f"durations.{sorted(unknown)[0]}: unknown; allowed: {', '.join(names)}")
    durations = Durations(
        **{names[k]: float(v) for k, v in durations_raw.items()},
        snapshot_progress=_progress_curve(raw.get("snapshotProgress", "linear")),
    )
    accounts_raw = raw.get("accounts")
    if not isinstance(accounts_raw, list) or not accounts_raw:
        raise WorldError("accounts: required list of accounts")
    accounts = tuple(_parse_account(item, f"accounts[{i}]", region) for i, item in enumerate(accounts_raw))
    return World(
        description=str(raw.get("description", "")),
        region=region,
        orchestrator_account_id=orchestrator,
        durations=durations,
        accounts=accounts,
        clock_start=clock_start,
    )


def _progress_curve(raw: Any) -> ProgressCurve:
    """``snapshotProgress``: a named curve, or [share of the duration, percent] points (lifecycle.ProgressCurve)."""
    if isinstance(raw, str):
        if raw not in PROGRESS_CURVES:
            raise WorldError(
                f"snapshotProgress: unknown curve {raw!r}; named curves: {', '.join(PROGRESS_CURVES)}"
            )
        return PROGRESS_CURVES[raw]
    if not isinstance(raw, list) or not all(
        isinstance(point, list)
        and len(point) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
        for point in raw
    ):
        raise WorldError(
            "snapshotProgress: a curve name or a list of [share of the duration, percent] points, "
            "e.g. [[0, 0], [0.25, 0], [1, 100]]"
        )
    try:
        return ProgressCurve(tuple((float(x), float(y)) for x, y in raw))
    except ValueError as error:
        raise WorldError(f"snapshotProgress: {error}") from error


def _clock_start(clock: Any) -> datetime | None:
    if not isinstance(clock, dict):
        raise WorldError("clock: must be an object")
    if "speed" in clock:
        raise WorldError(
            "clock.speed: the twin's clock has no speed any more; it jumps to whatever is due next when "
            "everything waits, so remove clock.speed"
        )
    unknown = set(clock) - {"start"}
    if unknown:
        raise WorldError(f"clock.{sorted(unknown)[0]}: unknown; allowed: start")
    if "start" not in clock:
        return None
    try:
        start = datetime.fromisoformat(str(clock["start"]).replace("Z", "+00:00"))
    except ValueError as error:
        raise WorldError(f"clock.start: not an ISO 8601 time ({error})") from error
    if start.tzinfo is None:
        raise WorldError("clock.start: needs a time zone, e.g. 2026-01-05T02:00:00Z")
    return start.astimezone(UTC)


def _parse_account(raw: Any, path: str, world_region: str) -> AccountSpec:
    if not isinstance(raw, dict):
        raise WorldError(f"{path}: must be an object")
    account_id = _account_id(raw.get("accountId"), f"{path}.accountId")
    if "roles" in raw:
        raise WorldError(
            f"{path}.roles: member roles come from the shipped templates now; give "
            f'"memberStack": {{"template": "source-account" or "target-account", "keyId": "<uuid>"}} instead'
        )
    keys = tuple(_parse_key(k, f"{path}.kmsKeys[{i}]") for i, k in enumerate(raw.get("kmsKeys", [])))
    key_ids = {key.key_id for key in keys}
    clusters = tuple(
        _parse_cluster(c, f"{path}.clusters[{i}]", key_ids) for i, c in enumerate(raw.get("clusters", []))
    )
    member_stack = _parse_member_stack(raw.get("memberStack"), f"{path}.memberStack")
    region = account_region(raw.get("region"), f"{path}.region", world_region)
    return AccountSpec(
        account_id=account_id,
        name=str(raw.get("name", account_id)),
        keys=keys,
        clusters=clusters,
        organization_id=_organization_id(raw.get("organizationId"), f"{path}.organizationId"),
        member_stack=member_stack,
        quotas=_parse_quotas(raw.get("quotas", {}), f"{path}.quotas"),
        region=region,
        parameter_groups=parse_parameter_groups(raw.get("parameterGroups"), f"{path}.parameterGroups"),
        copy_region_keys=parse_copy_region_keys(
            raw.get("copyRegionKeys"),
            f"{path}.copyRegionKeys",
            template=member_stack.template if member_stack is not None else None,
            own_region=region or world_region,
            world_region=world_region,
        ),
    )


def _parse_member_stack(raw: Any, path: str) -> MemberStackSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise WorldError(f"{path}: must be an object")
    template = raw.get("template")
    if template not in MEMBER_TEMPLATES:
        raise WorldError(f"{path}.template: must be one of {', '.join(MEMBER_TEMPLATES)}, got {template!r}")
    key_id = _key_id(raw, path)
    parameters = raw.get("parameters", {})
    if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
        raise WorldError(f"{path}.parameters: must map parameter names to strings")
    key_policy = raw.get("keyPolicy")
    if key_policy is not None and not isinstance(key_policy, dict):
        raise WorldError(f"{path}.keyPolicy: must be a key policy document (object)")
    omitted = raw.get("omitStatements", [])
    if not isinstance(omitted, list) or not all(isinstance(sid, str) and sid for sid in omitted):
        raise WorldError(f"{path}.omitStatements: must be a list of statement Sids of the template's role")
    return MemberStackSpec(str(template), key_id, dict(parameters), key_policy, tuple(omitted))


def _parse_quotas(raw: Any, path: str) -> dict[str, int]:
    allowed = ("DBClusters", "DBInstances", "ManualClusterSnapshots")
    if not isinstance(raw, dict):
        raise WorldError(f"{path}: must be an object")
    for name, value in raw.items():
        if name not in allowed:
            raise WorldError(f"{path}.{name}: unknown quota; allowed: {', '.join(allowed)}")
        if not isinstance(value, int) or value < 0:
            raise WorldError(f"{path}.{name}: must be a non-negative integer")
    return dict(raw)


def member_stack_parameters(
    world: World, account: AccountSpec, outputs: dict[str, dict[str, str]]
) -> dict[str, str]:
    """The documented parameters for the account's member stack, completed from the world, then overridden.

    The source stack's TargetAccountIds are the world's target-stack accounts, and its CopyRegions and
    CopyRegionShareKeyArns the account's ``copyRegionKeys``; a target's SourceShareKeyArn is the source's regional
    share key in the target's Region if there is one, else the ShareKeyArn output of the world's source stack
    (deployed first). A stack in another Region than the world's (the orchestrator's) gets OrchestratorRegion,
    the Region of the orchestrator's default event bus its RDS events are forwarded to (empty, the template's
    default, means the stack's own Region).
    """
    stack = account.member_stack
    if stack is None:
        return {}
    orchestrator = world.orchestrator_account_id
    parameters = {
        k: v.format(orchestrator=orchestrator) for k, v in DOCUMENTED_PARAMETERS[stack.template].items()
    }
    if stack.template == "source-account":
        targets = [
            a.account_id
            for a in world.accounts
            if a.member_stack is not None and a.member_stack.template == "target-account"
        ]
        parameters["TargetAccountIds"] = ",".join(targets or [account.account_id])
        if account.copy_region_keys:
            parameters["CopyRegions"] = ",".join(key.region for key in account.copy_region_keys)
            parameters["CopyRegionShareKeyArns"] = ",".join(
                key.arn(account.account_id) for key in account.copy_region_keys
            )
    else:
        share_keys = [o["ShareKeyArn"] for o in outputs.values() if "ShareKeyArn" in o]
        regional = [
            key.arn(source.account_id)
            for source in world.accounts
            for key in source.copy_region_keys
            if key.region == world.region_of(account.account_id)
        ]
        if regional or share_keys:
            parameters["SourceShareKeyArn"] = (regional or share_keys)[0]
    if world.region_of(account.account_id) != world.region:
        parameters["OrchestratorRegion"] = world.region
    parameters.update(stack.parameters)
    return parameters


def region_key_parameters(world: World, account: AccountSpec, key: CopyRegionKey) -> dict[str, str]:
    """The parameters of a source account's source-region-key stack: the documented ones, the targets its
    source stack names (deployed with), then the world's overrides."""
    source = member_stack_parameters(world, account, {})
    return {
        **DOCUMENTED_PARAMETERS[REGION_KEY_TEMPLATE],
        "TargetAccountIds": source["TargetAccountIds"],
        **key.parameters,
    }


def _organization_id(value: Any, path: str) -> str | None:
    # Organization ids are "o-" and 10 to 32 lowercase letters or digits.
    if value is None:
        return None
    body = value[2:] if isinstance(value, str) and value.startswith("o-") else ""
    if not (10 <= len(body) <= 32 and all(c in "abcdefghijklmnopqrstuvwxyz0123456789" for c in body)):
        raise WorldError(f"{path}: must be an organization id like o-a1b2c3d4e5, got {value!r}")
    return str(value)


def _parse_key(raw: Any, path: str) -> KeySpec:
    if not isinstance(raw, dict):
        raise WorldError(f"{path}: must be an object")
    key_id = _key_id(raw, path)
    policy = raw.get("policy")
    if policy is not None and not isinstance(policy, dict):
        raise WorldError(f"{path}.policy: must be a key policy document (object)")
    return KeySpec(
        key_id=key_id,
        alias=raw.get("alias"),
        policy=policy,
        share_with=tuple(_account_id(a, f"{path}.shareWith[]") for a in raw.get("shareWith", [])),
        enabled=bool(raw.get("enabled", True)),
    )


def _parse_cluster(raw: Any, path: str, key_ids: set[str]) -> ClusterSpec:
    if not isinstance(raw, dict):
        raise WorldError(f"{path}: must be an object")
    encryption = str(raw.get("encryption", "default"))
    if encryption not in ("none", "default", "sse-rds") and not (
        encryption.startswith("key:") and encryption.removeprefix("key:") in key_ids
    ):
        raise WorldError(
            f"{path}.encryption: must be 'none', 'default' (the aws/rds key), 'key:<keyId of this account>' or "
            f"'sse-rds' (an AWS owned key), "
            f"got {encryption!r}"
        )
    return ClusterSpec(
        identifier=_require(raw, "identifier", path),
        engine=str(raw.get("engine", "aurora-postgresql")),
        engine_version=str(raw.get("engineVersion", "16.4")),
        encryption=encryption,
        instances=parse_instances(raw, f"{path}.instances"),
        instance_class=str(raw.get("instanceClass", "db.r6g.large")),
        automated_snapshots=tuple(raw.get("automatedSnapshots", [])),
        manual_snapshots=tuple(raw.get("manualSnapshots", [])),
        settings=_cluster_settings(raw.get("settings", {}), f"{path}.settings"),
        instance_parameter_group=raw.get("instanceParameterGroup"),
    )


def _cluster_settings(raw: Any, path: str) -> dict[str, Any]:
    """clusters[].settings: CreateDBCluster parameters beyond those the world's own fields give (boto3 checks
    their names and types when the twin creates the cluster)."""
    owned = {
        "DBClusterIdentifier",
        "Engine",
        "EngineVersion",
        "MasterUsername",
        "MasterUserPassword",
        "KmsKeyId",
        "StorageEncrypted",
        "Tags",
    }
    if not isinstance(raw, dict) or owned & set(raw):
        raise WorldError(
            f"{path}: must be an object of CreateDBCluster parameters other than {sorted(owned)}"
        )
    return dict(raw)


def _key_id(raw: dict[str, Any], path: str) -> str:
    """A fixed KMS key id (a UUID), so input files can name the key's ARN."""
    key_id = _require(raw, "keyId", path)
    try:
        uuid.UUID(key_id)
    except ValueError as error:
        raise WorldError(f"{path}.keyId: must be a UUID like 1234abcd-12ab-34cd-56ef-1234567890ab") from error
    return key_id


def _require(raw: dict[str, Any], name: str, path: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value:
        raise WorldError(f"{path}.{name}: required string")
    return value


def _account_id(value: Any, path: str) -> str:
    if not isinstance(value, str) or len(value) != 12 or not value.isdigit():
        raise WorldError(f"{path}: must be a 12-digit account id string, got {value!r}")
    return value


def key_policy_for(account_id: str, key: KeySpec, orchestrator_account_id: str) -> dict[str, Any]:
    """The key policy a world key gets: its own, or the documented cross-account pattern for shareWith."""
    if key.policy is not None:
        return key.policy
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if key.share_with:
        statements.append(
            {
                "Sid": "TargetAccountsCopySharedSnapshots",
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{other}:root" for other in key.share_with]},
                "Action": DEFAULT_KEY_ACTIONS,
                "Resource": "*",
            }
        )
    return {"Version": "2012-10-17", "Id": "aurora-ferry-twin", "Statement": statements}
