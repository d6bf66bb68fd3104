"""Input validation shared by the migration and clone contracts, and the payload fields every step reads.

Each ``valid_*`` helper checks one field, or one part both contracts have (the input and its objects, the
source account, a target cluster's settings, the polling options), records what is wrong (with the field's
path and what is allowed) in ``Problems`` and returns the value, or None when it is missing or bad; a contract
calls them for every field before giving up, so the caller sees every problem at once, not one per attempt.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Any, TypedDict

from aurora_ferry.core.accounts import InstanceRequest, MasterCredentials, ParameterGroups
from aurora_ferry.core.errors import InvalidInputError, PayloadError
from aurora_ferry.core.instances import INSTANCE_CLASS, valid_instance_fields

MAX_USER_TAGS = 47  # RDS allows 50 tags per resource and every resource the run creates gets 3 of its own
POLL_INTERVAL_RANGE = (5, 3600)
MAX_POLL_ATTEMPTS_RANGE = (1, 10_000)
# A wait longer than 7 days is a stuck run, not a slow copy.
MAX_WAIT_SECONDS = 7 * 24 * 3600

# Step Functions refuses a state input or output, and an execution input, over 256 KiB (262,144 bytes of UTF-8),
# with States.DataLimitExceeded, which no Catch can handle:
# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
# Every state of a migration carries the normalised input beside what the run adds, so the input may use a
# quarter of that limit. What a run adds was measured in the twin (tests/statemachine/test_payload_budget.py runs
# the largest accepted input, 20 targets, a source of 16 instances): its largest state was 117,429 bytes (about
# 115 KiB), so 128 KiB of the limit stays free, which the test requires. Counting non-ASCII characters as their
# escapes keeps this true however Step Functions writes the JSON.
PAYLOAD_LIMIT_BYTES = 256 * 1024
INPUT_BUDGET_BYTES = 64 * 1024
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
SECURITY_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$", re.ASCII)
NAME_255 = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$", re.ASCII)
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$", re.ASCII)
TAG_KEY = re.compile(r"^[\w .:/=+@-]{1,128}$")
RESERVED_TAG_PREFIXES = ("aws:", "aurora-ferry:")


class Problems:
    """Collects every problem so the caller sees them all at once, not one per attempt."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")


def required_field(event: dict[str, Any], name: str) -> Any:
    """A field the state machine must have put in the step's payload; PayloadError names it if not."""
    if name not in event:
        raise PayloadError([f"event.{name}: required by this step, missing from the state machine payload"])
    return event[name]


def required_choice(event: dict[str, Any], name: str, choices: tuple[str, ...]) -> str:
    """A field the state machine must have put in the step's payload, one of ``choices``; PayloadError if not."""
    value = str(required_field(event, name))
    if value not in choices:
        raise PayloadError([f"event.{name}: must be one of {', '.join(choices)}, got {value!r}"])
    return value


def reject_unknown(raw: Mapping[str, Any], allowed: Collection[str], prefix: str, problems: Problems) -> None:
    for key in sorted(set(raw).difference(allowed)):
        problems.add(f"{prefix}{key}", f"unknown field; allowed: {', '.join(sorted(allowed))}")


def input_object(raw: Any, fields: Collection[str], problems: Problems) -> Mapping[str, Any]:
    """The execution input, an object of ``fields``; anything else is refused at once, as nothing in it can be
    read."""
    if not isinstance(raw, Mapping):
        raise InvalidInputError([f"input: must be a JSON object, got {type(raw).__name__}"])
    reject_unknown(raw, fields, "", problems)
    return raw


def input_size(raw: Any) -> int:
    """The input's size in bytes as compact JSON with every non-ASCII character escaped (``\\uXXXX``, twice for
    one outside the Basic Multilingual Plane): never less than its UTF-8, however Step Functions writes it."""
    return len(json.dumps(raw, separators=(",", ":"), default=str))


def check_input_size(raw: Any, normalised: Mapping[str, Any] | None, problems: Problems) -> None:
    """Refuse an input over INPUT_BUDGET_BYTES, as given or as normalised (defaults filled in: what the run
    carries, and what each step parses again), when there is a normalised form.

    Every state of a run carries the input beside what the run adds, and a state over Step Functions' 256 KiB
    fails the run with States.DataLimitExceeded, which no Catch can handle."""
    size = max(input_size(raw), 0 if normalised is None else input_size(normalised))
    if size > INPUT_BUDGET_BYTES:
        problems.add(
            "input",
            f"is {size} bytes as JSON (a non-ASCII character counts as its \\u escape); "
            f"at most {INPUT_BUDGET_BYTES} bytes ({INPUT_BUDGET_BYTES // 1024} KiB), so that every state of the "
            f"run stays under Step Functions' {PAYLOAD_LIMIT_BYTES // 1024} KiB payload limit "
            "(use fewer or shorter tags)",
        )


def valid_object(
    raw: Any, path: str, fields: Collection[str], problems: Problems, requirement: str = "must be an object"
) -> Mapping[str, Any] | None:
    """The object at ``path``, of ``fields``; None, with ``requirement`` recorded, when it is not an object."""
    if not isinstance(raw, Mapping):
        problems.add(path, requirement)
        return None
    reject_unknown(raw, fields, f"{path}.", problems)
    return raw


def valid_string(value: Any, path: str, problems: Problems) -> str | None:
    if value is None:
        problems.add(path, "required")
        return None
    if not isinstance(value, str) or not value:
        problems.add(path, f"must be a non-empty string, got {value!r}")
        return None
    return value


def _matching(value: Any, path: str, pattern: re.Pattern[str], rule: str, problems: Problems) -> str | None:
    """``value`` when it is None or a string ``pattern`` matches in full; otherwise None, with ``rule`` recorded
    (the value in place of its ``{!r}``)."""
    if value is None:
        return None
    if isinstance(value, str) and pattern.fullmatch(value):
        return value
    problems.add(path, rule.format(value))
    return None


def valid_account_id(value: Any, path: str, problems: Problems) -> str | None:
    rule = "must be a 12-digit AWS account id (as a string), got {!r}"
    return _matching(valid_string(value, path, problems), path, ACCOUNT_ID, rule, problems)


def partition_of(region: str) -> str:
    """The AWS partition a Region belongs to (what its ARNs start with)."""
    for prefix, partition in (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b")):
        if region.startswith(prefix):
            return partition
    return "aws-iso" if region.startswith("us-iso-") else "aws"


# Aurora copies cluster snapshots across Regions except in the China Regions (the copy guide's Region
# availability): https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-copy-snapshot.html
NO_CROSS_REGION_COPY = (
    "{region} is a China Region, where Aurora does not copy snapshots across Regions: give targets in the "
    "source's Region (leave region out)"
)


def copies_across_regions(region: str) -> bool:
    """Whether Aurora copies cluster snapshots from or to `region` across Regions."""
    return partition_of(region) != "aws-cn"


def valid_region(value: Any, path: str, problems: Problems) -> str | None:
    rule = "must be an AWS region name such as eu-west-1, got {!r}"
    return _matching(valid_string(value, path, problems), path, REGION, rule, problems)


def valid_role_arn(value: Any, path: str, account: str | None, problems: Problems) -> str | None:
    text = valid_string(value, path, problems)
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


def valid_kms_key_arn(value: Any, path: str, problems: Problems) -> str | None:
    text = valid_string(value, path, problems)
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


def check_own_key(key: str | None, path: str, account: str | None, problems: Problems) -> bool:
    """Whether ``key`` (a valid KMS key ARN, or None) may be the target's own key in ``account``; a key of
    another account is recorded as a problem."""
    if key and account and (match := KMS_KEY_ARN.fullmatch(key)) and match["account"] != account:
        problems.add(
            path,
            f"must be the target's own key in account {account}, got a key of account {match['account']}",
        )
        return False
    return True


def valid_cluster_id(value: Any, path: str, problems: Problems) -> str | None:
    rule = (
        "must be 1-63 letters, digits or hyphens, start with a letter, "
        "and not end with a hyphen or contain two consecutive hyphens; got {!r}"
    )
    return _matching(valid_string(value, path, problems), path, CLUSTER_ID, rule, problems)


def valid_instance_class(value: Any, path: str, problems: Problems) -> str | None:
    rule = "must look like db.r6g.large, or be db.serverless, got {!r}"
    return _matching(valid_string(value, path, problems), path, INSTANCE_CLASS, rule, problems)


def valid_int(value: Any, path: str, low: int, high: int, problems: Problems) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(path, f"must be a whole number from {low} to {high}, got {value!r}")
        return None
    if not low <= value <= high:
        problems.add(path, f"must be from {low} to {high}, got {value}")
        return None
    return value


def valid_bool(value: Any, path: str, default: bool, problems: Problems) -> bool:
    if not isinstance(value, bool):
        problems.add(path, "must be true or false")
        return default
    return value


def valid_optional_name(value: Any, path: str, problems: Problems) -> str | None:
    rule = "must be a name of letters, digits, '.', '_' or '-', got {!r}"
    return _matching(value, path, NAME_255, rule, problems)


def valid_optional_external_id(value: Any, path: str, problems: Problems) -> str | None:
    return _matching(
        value, path, EXTERNAL_ID, "must be 2-1224 characters of letters, digits and +=,.@:/-", problems
    )


def valid_security_groups(value: Any, path: str, problems: Problems) -> list[str]:
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


def valid_tags(value: Any, path: str, problems: Problems) -> dict[str, str]:
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


SOURCE_ACCOUNT_FIELDS = frozenset({"accountId", "region", "roleArn", "externalId"})


def valid_source_account(
    raw: Mapping[str, Any], problems: Problems
) -> tuple[str | None, str | None, str | None, str | None]:
    """source.accountId, .region, .roleArn (a role of that account) and the optional .externalId, each None
    when missing or bad: a contract checks the rest of the source against whichever of them are valid."""
    account = valid_account_id(raw.get("accountId"), "source.accountId", problems)
    region = valid_region(raw.get("region"), "source.region", problems)
    role = valid_role_arn(raw.get("roleArn"), "source.roleArn", account, problems)
    external_id = valid_optional_external_id(raw.get("externalId"), "source.externalId", problems)
    return account, region, role, external_id


CLUSTER_SETTINGS_FIELDS = frozenset(
    {
        "instanceClass",
        "instanceCount",
        "instances",
        "dbSubnetGroupName",
        "vpcSecurityGroupIds",
        "dbClusterParameterGroupName",
        "dbParameterGroupName",
        "parameterGroups",
        "masterCredentials",
    }
)


class ClusterSettings(TypedDict):
    """How the cluster a run creates in a target account is built, as both contracts validate it: named as the
    fields of ``ClusterTarget`` (aurora_ferry.core.accounts), so that a contract passes them on with ``**``."""

    instance_class: str | None
    instance_count: int | None
    instances: tuple[InstanceRequest, ...] | None
    db_subnet_group_name: str | None
    vpc_security_group_ids: tuple[str, ...]
    db_cluster_parameter_group_name: str | None
    db_parameter_group_name: str | None
    parameter_groups: ParameterGroups
    master_credentials: MasterCredentials


def valid_cluster_settings(raw: Mapping[str, Any], path: str, problems: Problems) -> ClusterSettings | None:
    """The target's instanceClass, instanceCount or instances (each optional: the instances mirror the source's),
    dbSubnetGroupName, dbClusterParameterGroupName, dbParameterGroupName, parameterGroups, vpcSecurityGroupIds and
    masterCredentials; None when one is bad."""
    instances_valid, instance_class, count, instances = valid_instance_fields(raw, path, problems)
    subnet_group = valid_optional_name(raw.get("dbSubnetGroupName"), f"{path}.dbSubnetGroupName", problems)
    param_group = valid_optional_name(
        raw.get("dbClusterParameterGroupName"), f"{path}.dbClusterParameterGroupName", problems
    )
    instance_param_group = valid_optional_name(
        raw.get("dbParameterGroupName"), f"{path}.dbParameterGroupName", problems
    )
    parameter_groups = valid_parameter_groups(raw.get("parameterGroups"), f"{path}.parameterGroups", problems)
    groups = valid_security_groups(
        raw.get("vpcSecurityGroupIds", []), f"{path}.vpcSecurityGroupIds", problems
    )
    credentials = valid_master_credentials(
        raw.get("masterCredentials"), f"{path}.masterCredentials", problems
    )
    if not instances_valid:
        return None
    return ClusterSettings(
        instance_class=instance_class,
        instance_count=count,
        instances=instances,
        db_subnet_group_name=subnet_group,
        vpc_security_group_ids=tuple(groups),
        db_cluster_parameter_group_name=param_group,
        db_parameter_group_name=instance_param_group,
        parameter_groups=parameter_groups,
        master_credentials=credentials,
    )


def valid_parameter_groups(value: Any, path: str, problems: Problems) -> ParameterGroups:
    """parameterGroups: "replicate" (the default: the source's custom groups, recreated in the target) or
    "default" (the target's default groups)."""
    return _valid_choice(value, path, ParameterGroups, ParameterGroups.REPLICATE, problems)


def valid_master_credentials(value: Any, path: str, problems: Problems) -> MasterCredentials:
    """masterCredentials: "own" (the default) or "source"."""
    return _valid_choice(value, path, MasterCredentials, MasterCredentials.OWN, problems)


def _valid_choice[C: StrEnum](value: Any, path: str, choices: type[C], default: C, problems: Problems) -> C:
    """One of the enumeration's values, or ``default`` when absent; a bad value is reported and falls back to the
    default."""
    if value is None:
        return default
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(repr(choice.value) for choice in choices)
        problems.add(path, f"must be one of {allowed}, got {value!r}")
        return default


POLL_FIELDS = frozenset({"pollIntervalSeconds", "maxPollAttempts"})


def valid_poll_settings(
    raw: Mapping[str, Any], defaults: tuple[int, int], problems: Problems
) -> tuple[int, int]:
    """options.pollIntervalSeconds and options.maxPollAttempts (each with its default), and a bound on the
    longest wait they allow together; a bad value falls back to its default after being reported."""
    interval = valid_int(
        raw.get("pollIntervalSeconds", defaults[0]),
        "options.pollIntervalSeconds",
        *POLL_INTERVAL_RANGE,
        problems,
    )
    attempts = valid_int(
        raw.get("maxPollAttempts", defaults[1]), "options.maxPollAttempts", *MAX_POLL_ATTEMPTS_RANGE, problems
    )
    if interval and attempts and interval * attempts > MAX_WAIT_SECONDS:
        problems.add(
            "options",
            f"pollIntervalSeconds x maxPollAttempts allows a wait of {interval * attempts} s; "
            f"at most {MAX_WAIT_SECONDS} s (7 days)",
        )
    return interval or defaults[0], attempts or defaults[1]


def camel_json(value: Any) -> Any:
    """A dataclass's ``asdict`` as the state machine carries it: camelCase keys, None values left out."""
    if isinstance(value, dict):
        # Tag keys are the user's own strings: keep them as given.
        return {
            camel_key(k): (dict(v) if k == "tags" else camel_json(v))
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list | tuple):
        return [camel_json(v) for v in value]
    if isinstance(value, StrEnum):
        return value.value
    return value


def record_json(record: Any) -> dict[str, Any]:
    """A flat dataclass as JSON: every field in order under its camelCase name, None values kept (unlike
    ``camel_json``), so the JSON always has the same keys."""
    return {camel_key(item.name): getattr(record, item.name) for item in dataclasses.fields(record)}


class JsonRecord:
    """A flat dataclass that travels as ``record_json`` writes it."""

    def to_json(self) -> dict[str, Any]:
        return record_json(self)


def camel_key(key: str) -> str:
    """A field's name as the payload's JSON spells it (``snake_case`` as ``snakeCase``)."""
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)
