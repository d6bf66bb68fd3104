"""What exists in every account of a running twin: for run summaries and the tests' no-harm checks."""

from __future__ import annotations

from typing import Any

__all__ = ["inventory"]


def inventory(twin: Any) -> dict[str, Any]:
    """Every cluster and instance per account, in the account's Region, and its cluster snapshots in every Region
    of the world (a run may copy into another Region of the source: options.crossRegionCopy "two-step"), for
    summaries and no-harm checks. An account in another Region than the world's also says which (``region``)."""
    result: dict[str, Any] = {}
    world_regions = sorted(
        {twin.world.region_of(a.account_id) for a in twin.world.accounts}
        | {key.region for a in twin.world.accounts for key in a.copy_region_keys}
    )
    for account in twin.world.accounts:
        region = twin.world.region_of(account.account_id)
        rds = twin.client("rds", account.account_id, region)
        clusters = rds.describe_db_clusters()["DBClusters"]
        instances = rds.describe_db_instances()["DBInstances"]
        snapshot_entries = []
        for where in [region, *(r for r in world_regions if r != region)]:
            snapshot_entries += _snapshots(twin.client("rds", account.account_id, where))
        result[account.account_id] = {
            "name": account.name,
            "clusters": [
                {
                    "identifier": c["DBClusterIdentifier"],
                    "arn": c["DBClusterArn"],
                    "status": c.get("Status"),
                    "encrypted": c.get("StorageEncrypted"),
                    "kmsKeyId": c.get("KmsKeyId"),
                    "encryptionType": c.get("StorageEncryptionType"),
                    "deletionProtection": c.get("DeletionProtection"),
                    "tags": {t["Key"]: t["Value"] for t in c.get("TagList", [])},
                }
                for c in clusters
            ],
            "instances": [
                {
                    "identifier": i["DBInstanceIdentifier"],
                    "cluster": i.get("DBClusterIdentifier"),
                    "status": i.get("DBInstanceStatus"),
                    "class": i.get("DBInstanceClass"),
                }
                for i in instances
            ],
            "snapshots": sorted(snapshot_entries, key=lambda s: (s["identifier"], s["arn"])),
        }
        if region != twin.world.region:
            result[account.account_id]["region"] = region
    return result


def _snapshots(rds: Any) -> list[dict[str, Any]]:
    """The cluster snapshots `rds` (a client of one account and Region) sees, with who each is shared with."""
    entries: list[dict[str, Any]] = []
    for snap in rds.describe_db_cluster_snapshots()["DBClusterSnapshots"]:
        attributes = rds.describe_db_cluster_snapshot_attributes(
            DBClusterSnapshotIdentifier=snap["DBClusterSnapshotIdentifier"]
        )["DBClusterSnapshotAttributesResult"]["DBClusterSnapshotAttributes"]
        shared = sorted(
            v for a in attributes if a["AttributeName"] == "restore" for v in a["AttributeValues"]
        )
        entries.append(
            {
                "identifier": snap["DBClusterSnapshotIdentifier"],
                "arn": snap["DBClusterSnapshotArn"],
                "type": snap.get("SnapshotType"),
                "status": snap.get("Status"),
                "encrypted": snap.get("StorageEncrypted"),
                "kmsKeyId": snap.get("KmsKeyId"),
                "encryptionType": snap.get("StorageEncryptionType"),
                "sharedWith": shared,
                "tags": {t["Key"]: t["Value"] for t in snap.get("TagList", [])},
            }
        )
    return entries
