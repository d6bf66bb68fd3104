"""The Regions of a WORLD file: each account's own Region, and a source account's regional share keys.

A source account may have a share key in other Regions (``copyRegionKeys``, member-accounts/source-region-key.yaml)
for the two-step cross-Region copy: its role copies the share copy into such a Region under that key and shares it
there. The twin deploys one source-region-key stack per entry, then names the keys in the source stack's
``CopyRegions``/``CopyRegionShareKeyArns``; a target in such a Region gets the regional key as ``SourceShareKeyArn``.
See worlds/README.md.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from typing import Any

from aurora_ferry.core import partition_of

__all__ = [
    "REGION_KEY_TEMPLATE",
    "CopyRegionKey",
    "WorldError",
    "account_region",
    "parse_copy_region_keys",
]

REGION_KEY_TEMPLATE = "source-region-key"
_COPY_REGION_KEY_FIELDS = ("region", "keyId", "parameters")


class WorldError(ValueError):
    """A world file that cannot describe a valid starting point; names the field."""


@dataclass(frozen=True)
class CopyRegionKey:
    """A source account's regional share key: a member-accounts/source-region-key.yaml stack in ``region``."""

    region: str
    key_id: str  # fixed, so an input file can name the key's ARN
    parameters: dict[str, str] = field(default_factory=dict)  # overrides of the stack's parameters

    def arn(self, account_id: str) -> str:
        return f"arn:{partition_of(self.region)}:kms:{self.region}:{account_id}:key/{self.key_id}"

    @property
    def stack_name(self) -> str:
        # One stack per Region: stack names are unique per account and Region, so the Region keeps them apart
        # also when a world's account is looked at across Regions.
        return f"aurora-ferry-source-key-{self.region}"


def account_region(value: Any, path: str, world_region: str) -> str | None:
    """An account's own Region: one where RDS is offered, in the partition of the world's Region (IAM roles,
    KMS key policies and snapshot sharing never cross partitions:
    https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html)."""
    if value is None:
        return None
    partition = partition_of(world_region)
    allowed = _rds_regions(partition)
    if not isinstance(value, str) or value not in allowed:
        raise WorldError(
            f"{path}: must be the name of an AWS Region where RDS is offered, in the partition of the world's "
            f"region {world_region} ({partition}), e.g. eu-central-1; one of: {', '.join(allowed)}; got {value!r}"
        )
    return value


@functools.cache
def _rds_regions(partition: str) -> tuple[str, ...]:
    """The Regions botocore's endpoint data lists for RDS in the partition."""
    import boto3

    return tuple(sorted(boto3.session.Session().get_available_regions("rds", partition_name=partition)))


def parse_copy_region_keys(
    raw: Any, path: str, *, template: str | None, own_region: str, world_region: str
) -> tuple[CopyRegionKey, ...]:
    """``accounts[].copyRegionKeys``: only on an account with the source member stack (``template``), each in
    a Region other than the account's own (``own_region``) and than each other's, with a fixed key id."""
    if raw is None:
        return ()
    if template != "source-account":
        raise WorldError(
            f"{path}: only an account whose memberStack.template is source-account has regional share keys "
            f"(member-accounts/{REGION_KEY_TEMPLATE}.yaml); this account's is {template!r}"
        )
    if not isinstance(raw, list) or not raw:
        raise WorldError(f'{path}: a non-empty list of {{"region": "<Region>", "keyId": "<uuid>"}}')
    keys: list[CopyRegionKey] = []
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise WorldError(f"{where}: must be an object")
        unknown = sorted(set(item) - set(_COPY_REGION_KEY_FIELDS))
        if unknown:
            raise WorldError(f"{where}.{unknown[0]}: unknown; allowed: {', '.join(_COPY_REGION_KEY_FIELDS)}")
        region = account_region(item.get("region"), f"{where}.region", world_region)
        if region is None:
            raise WorldError(f"{where}.region: required, the Region the key is deployed in")
        if region == own_region:
            raise WorldError(
                f"{where}.region: {region} is the account's own Region, where the source stack's share key "
                "already is; a regional share key is for another Region"
            )
        if any(key.region == region for key in keys):
            raise WorldError(f"{where}.region: {region} is listed twice; one regional share key per Region")
        keys.append(
            CopyRegionKey(region, _uuid(item.get("keyId"), f"{where}.keyId"), _parameters(item, where))
        )
    return tuple(keys)


def _uuid(value: Any, path: str) -> str:
    try:
        uuid.UUID(value if isinstance(value, str) else "")
    except ValueError as error:
        raise WorldError(f"{path}: must be a UUID like 1234abcd-12ab-34cd-56ef-1234567890ab") from error
    return str(value)


def _parameters(item: dict[str, Any], where: str) -> dict[str, str]:
    parameters = item.get("parameters", {})
    if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
        raise WorldError(f"{where}.parameters: must map parameter names to strings")
    return dict(parameters)
