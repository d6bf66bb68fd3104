"""The rows of the listing, kept small (a few hundred bytes per resource) and in a stable order: one per
resource, one per account, one per failure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from aurora_ferry.core import AccountAccess, FerryError, error_code, error_message, naming

# The kinds of resource listed, in the order the table shows them.
KINDS = ("snapshot", "cluster", "instance", "resource-share")
# What a failed call can raise: AWS's answer, a named error of the layer (AssumeRoleError), or no answer.
READ_ERRORS = (ClientError, BotoCoreError, FerryError)
_MESSAGE_LIMIT = 400


def tag_map(
    tags: Iterable[Mapping[str, Any]] | None, key: str = "Key", value: str = "Value"
) -> dict[str, str]:
    return {str(t[key]): str(t.get(value, "")) for t in tags or () if key in t}


def is_managed(tags: Mapping[str, str]) -> bool:
    """The tag contract: exactly ``aurora-ferry:managed=true`` (member-accounts/README.md)."""
    return tags.get(naming.MANAGED_TAG) == "true"


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age_hours(created: datetime | None, now: datetime) -> float | None:
    if created is None:
        return None
    return round(max(0.0, (now - created).total_seconds()) / 3600, 1)


def resource_row(
    access: AccountAccess,
    kind: str,
    raw: Mapping[str, Any],
    fields: tuple[str, str, str, str],
    tags: Mapping[str, str],
    now: datetime,
) -> dict[str, Any]:
    """One resource: ``fields`` names its identifier, ARN, creation time and status in ``raw``."""
    identifier, arn, created, status = (raw.get(name) for name in fields)
    return {
        "accountId": access.account_id,
        "region": access.region,
        "kind": kind,
        "identifier": identifier,
        "arn": arn,
        "runId": tags.get(naming.RUN_ID_TAG),
        "purpose": tags.get(naming.PURPOSE_TAG),
        "createdAt": timestamp(created),
        "ageHours": age_hours(created, now),
        "status": status,
    }


def resource_order(row: Mapping[str, Any]) -> tuple[str, str, int, str]:
    return (row["accountId"], row["region"], KINDS.index(row["kind"]), str(row["identifier"]))


def failure(error: BaseException) -> tuple[str, str]:
    """(AWS error code, message) of a failed call; an AssumeRoleError carries the code STS answered."""
    answer = error if isinstance(error, ClientError) else error.__cause__
    if isinstance(answer, ClientError):
        code, message = error_code(answer) or type(answer).__name__, error_message(answer)
    else:
        code, message = type(error).__name__, str(error)
    return code, message[:_MESSAGE_LIMIT]


def error_row(
    account_id: str, region: str, action: str, error: BaseException, role_arn: str | None = None
) -> dict[str, Any]:
    code, message = failure(error)
    row = {"accountId": account_id, "region": region, "action": action, "code": code, "message": message}
    if role_arn:
        row["roleArn"] = role_arn
    return row


def access_error(access: AccountAccess, action: str, error: BaseException) -> dict[str, Any]:
    return error_row(access.account_id, access.region, action, error, access.role_arn)


def error_order(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (row["accountId"], row["region"], row.get("roleArn") or "", row["action"])
