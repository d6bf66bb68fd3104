"""The execution input contract for a migration, and its validation.

Every workflow entry point (EventBridge schedule, console, ops pipeline, `ferry local run`) hands the
state machine the same JSON document. It is checked here, in full, before any AWS call, and every
problem is reported with the field path and what is allowed, so a bad input never half-runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from aurora_ferry.errors import InvalidInputError

MAX_TARGETS = 20  # a manual snapshot can be shared with at most 20 accounts
MAX_INSTANCES = 16  # an Aurora cluster holds one writer and up to 15 readers
MAX_USER_TAGS = 47  # RDS allows 50 tags per resource and every resource the run creates gets 3 of its own

ACCOUNT_ID = re.compile(r"^\d{12}$", re.ASCII)
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$", re.ASCII)
PARTITION = r"aws(-cn|-us-gov|-iso|-iso-b)?"
ROLE_ARN = re.compile(rf"^arn:{PARTITION}:iam::(?P<account>\d{{12}}):role/[\w+=,.@/-]{{1,512}}$", re.ASCII)
KMS_KEY_ARN = re.compile(
    rf"^arn:{PARTITION}:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{{12}}):key/(?P<key>[0-9a-fA-F-]{{36}}|mrk-[0-9a-f]{{32}})$",
    re.ASCII,
)
CLUSTER_SNAPSHOT_ARN = re.compile(
    rf"^arn:{PARTITION}:rds:(?P<region>[a-z0-9-]+):(?P<account>\d{{12}}):cluster-snapshot:(?P<id>[A-Za-z0-9:-]+)$",
    re.ASCII,
)
# Patterns are used with fullmatch (a trailing newline must not pass) and, except tag keys, are ASCII-only.
# RDS identifiers: 1-63 letters, digits or hyphens; first a letter; no trailing or double hyphen.
CLUSTER_ID = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$", re.ASCII)
# Manual snapshot ids follow the same rule (up to 255); automated ones carry the "rds:" prefix.
SNAPSHOT_ID = re.compile(r"^(rds:)?[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)$", re.ASCII)
INSTANCE_CLASS = re.compile(r"^db\.[a-z0-9-]+\.[a-z0-9]+$", re.ASCII)
SECURITY_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$", re.ASCII)
NAME_255 = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$", re.ASCII)
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$", re.ASCII)
TAG_KEY = re.compile(r"^[\w .:/=+@-]{1,128}$")
RESERVED_TAG_PREFIXES = ("aws:", "aurora-ferry:")


class CleanupPolicy(StrEnum):
    """What happens to the intermediate snapshots this run created, once targets are restored."""

    DELETE = "delete"  # unshare, then delete every intermediate in source and targets
    KEEP_TARGET_COPIES = "keep-target-copies"  # unshare, delete source-side ones, keep target copies
    KEEP = "keep"  # unshare only; intermediates stay, tagged, for a later cleanup


class WaitStrategy(StrEnum):
    """How the run waits for a snapshot, cluster or instances to become available."""

    # RDS events (through EventBridge) complete the waits that have an event; a scheduled sweeper and a
    # heartbeat timeout back them up. Snapshot copies have no completion event and are polled with back-off.
    EVENTS = "events"
    # Every wait checks every options.pollIntervalSeconds, as before events existed.
    POLLING = "polling"


@dataclass(frozen=True)
class Source:
    account_id: str
    region: str
    role_arn: str
    external_id: str | None = None
    cluster_identifier: str | None = None
    snapshot_identifier: str | None = None

    @property
    def snapshot_is_arn(self) -> bool:
        return bool(self.snapshot_identifier and self.snapshot_identifier.startswith("arn:"))


@dataclass(frozen=True)
class Target:
    account_id: str
    role_arn: str
    kms_key_arn: str
    cluster_identifier: str
    instance_class: str
    instance_count: int = 1
    external_id: str | None = None
    db_subnet_group_name: str | None = None
    vpc_security_group_ids: tuple[str, ...] = ()
    db_cluster_parameter_group_name: str | None = None
    deletion_protection: bool = True
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    poll_interval_seconds: int = 30
    max_poll_attempts: int = 720
    cleanup: CleanupPolicy = CleanupPolicy.DELETE
    wait_strategy: WaitStrategy = WaitStrategy.EVENTS


@dataclass(frozen=True)
class MigrationRequest:
    source: Source
    share_kms_key_arn: str
    targets: tuple[Target, ...]
    options: Options = Options()

    def to_json(self) -> dict[str, Any]:
        """The normalised contract, camelCase, defaults filled in: what the state machine carries."""
        normalised: dict[str, Any] = _camel(asdict(self))
        return normalised


POLL_INTERVAL_RANGE = (5, 3600)
MAX_POLL_ATTEMPTS_RANGE = (1, 10_000)
# A wait longer than 7 days is a stuck run, not a slow copy.
MAX_WAIT_SECONDS = 7 * 24 * 3600


class _Problems:
    """Collects every problem so the caller sees them all at once, not one per attempt."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")


def parse_migration_request(raw: Any) -> MigrationRequest:
    """Validate the raw execution input; raise InvalidInputError naming every bad field."""
    problems = _Problems()
    if not isinstance(raw, Mapping):
        raise InvalidInputError([f"input: must be a JSON object, got {type(raw).__name__}"])
    _reject_unknown(raw, {"source", "shareKmsKeyArn", "targets", "options"}, "", problems)

    source = _parse_source(raw.get("source"), problems)
    share_key = _kms_key_arn(raw.get("shareKmsKeyArn"), "shareKmsKeyArn", problems)
    indexed_targets = _parse_targets(raw.get("targets"), problems)
    targets = None if indexed_targets is None else tuple(target for _, target in indexed_targets)
    options = _parse_options(raw.get("options", {}), problems)

    if source and share_key:
        match = KMS_KEY_ARN.fullmatch(share_key)
        assert match is not None
        if match["account"] != source.account_id:
            problems.add(
                "shareKmsKeyArn",
                f"must be a key in the source account {source.account_id}, got account {match['account']}",
            )
        if match["region"] != source.region:
            problems.add(
                "shareKmsKeyArn",
                f"must be in the source region {source.region} (KMS keys are regional), got {match['region']}",
            )
    if source:
        _check_targets_against_source(source, indexed_targets or [], problems)
    if problems.items or source is None or share_key is None or targets is None:
        raise InvalidInputError(problems.items or ["input: incomplete"])
    return MigrationRequest(source=source, share_kms_key_arn=share_key, targets=targets, options=options)


def _parse_source(raw: Any, problems: _Problems) -> Source | None:
    if not isinstance(raw, Mapping):
        problems.add("source", "required object with accountId, region, roleArn and a cluster or snapshot")
        return None
    _reject_unknown(
        raw,
        {"accountId", "region", "roleArn", "externalId", "clusterIdentifier", "snapshotIdentifier"},
        "source.",
        problems,
    )
    account = _account_id(raw.get("accountId"), "source.accountId", problems)
    region = _string(raw.get("region"), "source.region", problems)
    if region is not None and not REGION.fullmatch(region):
        problems.add("source.region", f"must be an AWS region name such as eu-west-1, got {region!r}")
        region = None
    role = _role_arn(raw.get("roleArn"), "source.roleArn", account, problems)
    external_id = _optional_external_id(raw.get("externalId"), "source.externalId", problems)
    cluster = raw.get("clusterIdentifier")
    snapshot = raw.get("snapshotIdentifier")
    if (cluster is None) == (snapshot is None):
        problems.add("source", "give exactly one of clusterIdentifier or snapshotIdentifier")
    if cluster is not None:
        cluster = _cluster_id(cluster, "source.clusterIdentifier", problems)
    if snapshot is not None:
        snapshot = _snapshot_ref(snapshot, "source.snapshotIdentifier", account, region, problems)
    if account is None or region is None or role is None:
        return None
    return Source(
        account_id=account,
        region=region,
        role_arn=role,
        external_id=external_id,
        cluster_identifier=cluster,
        snapshot_identifier=snapshot,
    )


_TARGET_FIELDS = {
    "accountId",
    "roleArn",
    "externalId",
    "kmsKeyArn",
    "clusterIdentifier",
    "instanceClass",
    "instanceCount",
    "dbSubnetGroupName",
    "vpcSecurityGroupIds",
    "dbClusterParameterGroupName",
    "deletionProtection",
    "tags",
}


def _parse_targets(raw: Any, problems: _Problems) -> list[tuple[int, Target]] | None:
    """Each valid target with its index in the input, so later checks name the right entry."""
    if not isinstance(raw, list) or not raw:
        problems.add("targets", f"required list of 1 to {MAX_TARGETS} target accounts")
        return None
    if len(raw) > MAX_TARGETS:
        problems.add(
            "targets",
            f"at most {MAX_TARGETS} targets (a manual snapshot is shared with at most 20 accounts), "
            f"got {len(raw)}",
        )
        return None
    targets: list[tuple[int, Target]] = []
    for index, item in enumerate(raw):
        path = f"targets[{index}]"
        if not isinstance(item, Mapping):
            problems.add(path, "must be an object")
            continue
        _reject_unknown(item, _TARGET_FIELDS, f"{path}.", problems)
        account = _account_id(item.get("accountId"), f"{path}.accountId", problems)
        role = _role_arn(item.get("roleArn"), f"{path}.roleArn", account, problems)
        key = _kms_key_arn(item.get("kmsKeyArn"), f"{path}.kmsKeyArn", problems)
        if key and account and (match := KMS_KEY_ARN.fullmatch(key)) and match["account"] != account:
            problems.add(
                f"{path}.kmsKeyArn",
                f"must be the target's own key in account {account}, got a key of account {match['account']}",
            )
        cluster = _cluster_id(item.get("clusterIdentifier"), f"{path}.clusterIdentifier", problems)
        instance_class = _string(item.get("instanceClass"), f"{path}.instanceClass", problems)
        if instance_class is not None and not INSTANCE_CLASS.fullmatch(instance_class):
            problems.add(f"{path}.instanceClass", f"must look like db.r6g.large, got {instance_class!r}")
            instance_class = None
        count = _int(item.get("instanceCount", 1), f"{path}.instanceCount", 1, MAX_INSTANCES, problems)
        subnet_group = _optional_name(item.get("dbSubnetGroupName"), f"{path}.dbSubnetGroupName", problems)
        param_group = _optional_name(
            item.get("dbClusterParameterGroupName"), f"{path}.dbClusterParameterGroupName", problems
        )
        groups = _security_groups(
            item.get("vpcSecurityGroupIds", []), f"{path}.vpcSecurityGroupIds", problems
        )
        deletion_protection = item.get("deletionProtection", True)
        if not isinstance(deletion_protection, bool):
            problems.add(f"{path}.deletionProtection", "must be true or false")
        tags = _tags(item.get("tags", {}), f"{path}.tags", problems)
        external_id = _optional_external_id(item.get("externalId"), f"{path}.externalId", problems)
        if None in (account, role, key, cluster, instance_class, count):
            continue
        assert account and role and key and cluster and instance_class and count
        targets.append(
            (
                index,
                Target(
                    account_id=account,
                    role_arn=role,
                    kms_key_arn=key,
                    cluster_identifier=cluster,
                    instance_class=instance_class,
                    instance_count=count,
                    external_id=external_id,
                    db_subnet_group_name=subnet_group,
                    vpc_security_group_ids=tuple(groups),
                    db_cluster_parameter_group_name=param_group,
                    deletion_protection=bool(deletion_protection),
                    tags=tags,
                ),
            )
        )
    seen: dict[str, int] = {}
    for index, target in targets:
        if target.account_id in seen:
            problems.add(
                f"targets[{index}].accountId",
                f"account {target.account_id} is already targets[{seen[target.account_id]}]; "
                "give one entry per account",
            )
        seen.setdefault(target.account_id, index)
    return targets


def _check_targets_against_source(
    source: Source, targets: list[tuple[int, Target]], problems: _Problems
) -> None:
    for index, target in targets:
        if target.account_id == source.account_id:
            problems.add(
                f"targets[{index}].accountId",
                "must differ from source.accountId: this tool copies across accounts "
                "(use a clone or restore in place for same-account copies)",
            )
        match = KMS_KEY_ARN.fullmatch(target.kms_key_arn)
        if match and match["region"] != source.region:
            problems.add(
                f"targets[{index}].kmsKeyArn",
                f"must be in the source region {source.region} (the copy stays in-region), got {match['region']}",
            )


def _parse_options(raw: Any, problems: _Problems) -> Options:
    if not isinstance(raw, Mapping):
        problems.add("options", "must be an object")
        return Options()
    _reject_unknown(
        raw, {"pollIntervalSeconds", "maxPollAttempts", "cleanup", "waitStrategy"}, "options.", problems
    )
    interval = _int(
        raw.get("pollIntervalSeconds", Options.poll_interval_seconds),
        "options.pollIntervalSeconds",
        *POLL_INTERVAL_RANGE,
        problems,
    )
    attempts = _int(
        raw.get("maxPollAttempts", Options.max_poll_attempts),
        "options.maxPollAttempts",
        *MAX_POLL_ATTEMPTS_RANGE,
        problems,
    )
    if interval and attempts and interval * attempts > MAX_WAIT_SECONDS:
        problems.add(
            "options",
            f"pollIntervalSeconds x maxPollAttempts allows a wait of {interval * attempts} s; "
            f"at most {MAX_WAIT_SECONDS} s (7 days)",
        )
    cleanup_raw = raw.get("cleanup", CleanupPolicy.DELETE.value)
    try:
        cleanup = CleanupPolicy(cleanup_raw)
    except ValueError:
        allowed = ", ".join(policy.value for policy in CleanupPolicy)
        problems.add("options.cleanup", f"must be one of {allowed}, got {cleanup_raw!r}")
        cleanup = CleanupPolicy.DELETE
    strategy_raw = raw.get("waitStrategy", WaitStrategy.EVENTS.value)
    try:
        wait_strategy = WaitStrategy(strategy_raw)
    except ValueError:
        allowed = ", ".join(strategy.value for strategy in WaitStrategy)
        problems.add("options.waitStrategy", f"must be one of {allowed}, got {strategy_raw!r}")
        wait_strategy = WaitStrategy.EVENTS
    return Options(
        poll_interval_seconds=interval or Options.poll_interval_seconds,
        max_poll_attempts=attempts or Options.max_poll_attempts,
        cleanup=cleanup,
        wait_strategy=wait_strategy,
    )


def _reject_unknown(raw: Mapping[str, Any], allowed: set[str], prefix: str, problems: _Problems) -> None:
    for key in sorted(set(raw) - allowed):
        problems.add(f"{prefix}{key}", f"unknown field; allowed: {', '.join(sorted(allowed))}")


def _string(value: Any, path: str, problems: _Problems) -> str | None:
    if value is None:
        problems.add(path, "required")
        return None
    if not isinstance(value, str) or not value:
        problems.add(path, f"must be a non-empty string, got {value!r}")
        return None
    return value


def _account_id(value: Any, path: str, problems: _Problems) -> str | None:
    text = _string(value, path, problems)
    if text is not None and not ACCOUNT_ID.fullmatch(text):
        problems.add(path, f"must be a 12-digit AWS account id (as a string), got {text!r}")
        return None
    return text


def _role_arn(value: Any, path: str, account: str | None, problems: _Problems) -> str | None:
    text = _string(value, path, problems)
    if text is None:
        return None
    match = ROLE_ARN.fullmatch(text)
    if not match:
        problems.add(path, f"must be an IAM role ARN like arn:aws:iam::111122223333:role/name, got {text!r}")
        return None
    if account and match["account"] != account:
        problems.add(path, f"must be a role in account {account}, got a role in account {match['account']}")
        return None
    return text


def _kms_key_arn(value: Any, path: str, problems: _Problems) -> str | None:
    text = _string(value, path, problems)
    if text is None:
        return None
    if text.startswith("alias/") or ":alias/" in text:
        problems.add(path, "must be a key ARN, not an alias (the other account cannot resolve your aliases)")
        return None
    if not KMS_KEY_ARN.fullmatch(text):
        problems.add(
            path, f"must be a KMS key ARN like arn:aws:kms:eu-west-1:111122223333:key/<id>, got {text!r}"
        )
        return None
    return text


def _cluster_id(value: Any, path: str, problems: _Problems) -> str | None:
    text = _string(value, path, problems)
    if text is not None and not CLUSTER_ID.fullmatch(text):
        problems.add(
            path,
            "must be 1-63 letters, digits or hyphens, start with a letter, "
            f"and not end with a hyphen or contain two consecutive hyphens; got {text!r}",
        )
        return None
    return text


def _snapshot_ref(
    value: Any, path: str, account: str | None, region: str | None, problems: _Problems
) -> str | None:
    text = _string(value, path, problems)
    if text is None:
        return None
    if text.startswith("arn:"):
        match = CLUSTER_SNAPSHOT_ARN.fullmatch(text)
        if not match:
            problems.add(path, f"must be a DB cluster snapshot ARN (…:cluster-snapshot:<id>), got {text!r}")
            return None
        if account and match["account"] != account:
            problems.add(
                path, f"must be a snapshot of the source account {account}, got account {match['account']}"
            )
            return None
        if region and match["region"] != region:
            problems.add(path, f"must be in the source region {region}, got {match['region']}")
            return None
        return text
    if not SNAPSHOT_ID.fullmatch(text):
        problems.add(
            path,
            "must be a cluster snapshot identifier (letters, digits, hyphens; 'rds:' prefix for automated) "
            f"or ARN, got {text!r}",
        )
        return None
    return text


def _int(value: Any, path: str, low: int, high: int, problems: _Problems) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(path, f"must be a whole number from {low} to {high}, got {value!r}")
        return None
    if not low <= value <= high:
        problems.add(path, f"must be from {low} to {high}, got {value}")
        return None
    return value


def _optional_name(value: Any, path: str, problems: _Problems) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not NAME_255.fullmatch(value):
        problems.add(path, f"must be a name of letters, digits, '.', '_' or '-', got {value!r}")
        return None
    return value


def _optional_external_id(value: Any, path: str, problems: _Problems) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not EXTERNAL_ID.fullmatch(value):
        problems.add(path, "must be 2-1224 characters of letters, digits and +=,.@:/-")
        return None
    return value


def _security_groups(value: Any, path: str, problems: _Problems) -> list[str]:
    if not isinstance(value, list):
        problems.add(path, "must be a list of security group ids (sg-…)")
        return []
    good: list[str] = []
    for index, group in enumerate(value):
        if not isinstance(group, str) or not SECURITY_GROUP_ID.fullmatch(group):
            problems.add(
                f"{path}[{index}]", f"must be a security group id like sg-0123456789abcdef0, got {group!r}"
            )
        else:
            good.append(group)
    return good


def _tags(value: Any, path: str, problems: _Problems) -> dict[str, str]:
    if not isinstance(value, Mapping):
        problems.add(path, "must be an object of tag key to string value")
        return {}
    tags: dict[str, str] = {}
    if len(value) > MAX_USER_TAGS:
        problems.add(path, f"at most {MAX_USER_TAGS} tags (RDS allows 50 per resource; aurora-ferry adds 3)")
        return {}
    for key, tag_value in value.items():
        if not isinstance(key, str) or not TAG_KEY.fullmatch(key):
            problems.add(
                f"{path}.{key}", "tag keys are 1-128 characters of letters, digits, spaces and _.:/=+-@"
            )
        elif key.lower().startswith(RESERVED_TAG_PREFIXES):
            problems.add(
                f"{path}.{key}", f"tag keys starting with {' or '.join(RESERVED_TAG_PREFIXES)} are reserved"
            )
        elif not isinstance(tag_value, str) or len(tag_value) > 256:
            problems.add(f"{path}.{key}", "tag values are strings of at most 256 characters")
        else:
            tags[key] = tag_value
    return tags


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        # Tag keys are the user's own strings: keep them as given.
        return {
            _camel_key(k): (dict(v) if k == "tags" else _camel(v)) for k, v in value.items() if v is not None
        }
    if isinstance(value, list | tuple):
        return [_camel(v) for v in value]
    if isinstance(value, StrEnum):
        return value.value
    return value


def _camel_key(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)
