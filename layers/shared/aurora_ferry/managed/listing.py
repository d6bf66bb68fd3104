"""One member account, read: its manual cluster snapshots, clusters and instances that carry
``aurora-ferry:managed=true`` (and, where a clone run acted, its RAM resource shares), through the member role.

Only Describe, List and Get calls: nothing here modifies, shares or deletes anything, and a resource without the
managed tag is skipped. Each kind is read on its own, so a refusal of one is an error row and the others are
still listed.
- https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBClusterSnapshotAttributes.html (the
  ``restore`` attribute: the accounts a manual snapshot is shared with, or ``all`` for a public one)
- https://docs.aws.amazon.com/ram/latest/APIReference/API_GetResourceShareAssociations.html
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aurora_ferry.core import AccountAccess, naming, rds, session_client, session_for
from aurora_ferry.managed.reach import Reach
from aurora_ferry.managed.rows import READ_ERRORS, access_error, is_managed, resource_row, tag_map

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

# A principal of a RAM share that can use (or is about to use) what is shared.
_SHARING_STATUSES = frozenset({"ASSOCIATED", "ASSOCIATING"})

Rows = list[dict[str, Any]]
Reader = Callable[[AccountAccess, datetime, Rows], Rows]


def read_account(reach: Reach, now: datetime) -> tuple[Rows, Rows]:
    """(resource rows, error rows) of one account. A role that cannot be assumed is one error row."""
    access = reach.access
    errors: Rows = []
    try:
        session_for(access)
    except READ_ERRORS as error:
        return [], [access_error(access, "assume the member role", error)]
    readers: list[tuple[str, Reader]] = [("list manual cluster snapshots", _snapshots)]
    if not reach.snapshots_only:
        readers += [("list clusters", _clusters), ("list instances", _instances)]
    if reach.clone:
        readers.append(("list resource shares", _shares))
    rows: Rows = []
    for action, reader in readers:
        try:
            rows += reader(access, now, errors)
        except READ_ERRORS as error:
            errors.append(access_error(access, action, error))
    return rows, errors


def _tags(client: RDSClient, raw: Any, arn_field: str) -> dict[str, str]:
    """The resource's tags: RDS returns them with the resource; asked for only when it does not."""
    if "TagList" in raw:
        return tag_map(raw["TagList"])
    return tag_map(client.list_tags_for_resource(ResourceName=raw[arn_field]).get("TagList", []))


def _managed(client: RDSClient, operation: str, key: str, arn_field: str, **params: Any) -> Iterator[Any]:
    """(resource, tags) of every resource ``operation`` lists that carries the managed tag."""
    for page in client.get_paginator(operation).paginate(**params):  # type: ignore[call-overload]
        for raw in page[key]:
            tags = _tags(client, raw, arn_field)
            if is_managed(tags):
                yield raw, tags


def _snapshots(access: AccountAccess, now: datetime, errors: Rows) -> Rows:
    client = rds(access)
    fields = ("DBClusterSnapshotIdentifier", "DBClusterSnapshotArn", "SnapshotCreateTime", "Status")
    rows = []
    for raw, tags in _managed(
        client, "describe_db_cluster_snapshots", "DBClusterSnapshots", fields[1], SnapshotType="manual"
    ):
        row = resource_row(access, "snapshot", raw, fields, tags, now)
        row["sharedWith"] = _restore_accounts(client, access, row["identifier"], errors)
        rows.append(row)
    return rows


def _restore_accounts(
    client: RDSClient, access: AccountAccess, identifier: str, errors: Rows
) -> list[str] | None:
    """The accounts the snapshot is shared with ("all" first: a public snapshot); None when it cannot be read."""
    try:
        result = client.describe_db_cluster_snapshot_attributes(DBClusterSnapshotIdentifier=identifier)
    except READ_ERRORS as error:
        errors.append(access_error(access, f"read the sharing of {identifier}", error))
        return None
    attributes = result["DBClusterSnapshotAttributesResult"].get("DBClusterSnapshotAttributes", [])
    shared = {
        v for a in attributes if a.get("AttributeName") == "restore" for v in a.get("AttributeValues", [])
    }
    return sorted(shared, key=lambda account: (account != "all", account))


def _described(kind: str, operation: str, key: str, fields: tuple[str, str, str, str]) -> Reader:
    """A reader of the account's managed clusters or instances: `fields` name the identifier, ARN, creation
    time and status in what `operation` returns under `key`."""

    def read(access: AccountAccess, now: datetime, errors: Rows) -> Rows:
        managed = _managed(rds(access), operation, key, fields[1])
        return [resource_row(access, kind, raw, fields, tags, now) for raw, tags in managed]

    return read


_clusters = _described(
    "cluster",
    "describe_db_clusters",
    "DBClusters",
    ("DBClusterIdentifier", "DBClusterArn", "ClusterCreateTime", "Status"),
)
_instances = _described(
    "instance",
    "describe_db_instances",
    "DBInstances",
    ("DBInstanceIdentifier", "DBInstanceArn", "InstanceCreateTime", "DBInstanceStatus"),
)


def _shares(access: AccountAccess, now: datetime, errors: Rows) -> Rows:
    """The account's active RAM shares with the managed tag (a clone run's share of its source cluster)."""
    ram = session_client(session_for(access), "ram")
    fields = ("name", "resourceShareArn", "creationTime", "status")
    managed = {"tagKey": naming.MANAGED_TAG, "tagValues": ["true"]}
    rows = []
    for page in ram.get_paginator("get_resource_shares").paginate(
        resourceOwner="SELF", resourceShareStatus="ACTIVE", tagFilters=[managed]
    ):
        for share in page.get("resourceShares", []):
            tags = tag_map(share.get("tags"), "key", "value")
            if not is_managed(tags):
                continue
            row = resource_row(access, "resource-share", share, fields, tags, now)
            row["sharedWith"] = _principals(ram, access, share, errors)
            rows.append(row)
    return rows


def _principals(ram: Any, access: AccountAccess, share: Any, errors: Rows) -> list[str] | None:
    """The accounts the share associates (or is associating); None when they cannot be read."""
    principals = set()
    try:
        for page in ram.get_paginator("get_resource_share_associations").paginate(
            associationType="PRINCIPAL", resourceShareArns=[share["resourceShareArn"]]
        ):
            for association in page.get("resourceShareAssociations", []):
                if association.get("status") in _SHARING_STATUSES:
                    principals.add(str(association["associatedEntity"]))
    except READ_ERRORS as error:
        errors.append(access_error(access, f"read the principals of resource share {share['name']}", error))
        return None
    return sorted(principals)
