"""The source account in the Regions it copies into (options.crossRegionCopy "two-step", placement.copy_regions):
what the run asks of the source role there, as IAM authorises it (README "Cross-Region targets").

For a target in another Region, the source role calls CopyDBClusterSnapshot in that Region (SourceRegion the
source's) from the snapshot it shares in its own Region into ``ferry-<run>-region``, tagged for the run, waits
for it, shares it with the targets there, and cleanup unshares and deletes it. Every such call is made in the
copy Region, so aws:RequestedRegion is that Region: member-accounts/source-account.yaml allows them only for the
Regions of its CopyRegions parameter.
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-copy-snapshot.html
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBClusterSnapshot.html
"""

from __future__ import annotations

from aurora_ferry.core import naming
from aurora_ferry.preflight.context import Account, Preflight
from aurora_ferry.preflight.permissions import (
    MANAGED_ONLY,
    SOURCE_TEMPLATE,
    Arns,
    Need,
    arns_of,
    check_needs,
    tag_context,
)
from aurora_ferry.preflight.plan import source_snapshots


def region_needs(arns: Arns, shared: str, run_id: str, source_region: str) -> list[Need]:
    """The source role's authorisations in one copy Region (`arns`'s): the copy of `shared` (in `source_region`)
    into the run's regional copy, authorised on both snapshots and, for its tags, as rds:AddTagsToResource; the
    reads that find, wait for and list it (the copy queue counts every manual snapshot there); its share with
    the targets there; and its delete."""
    copy = arns.rds("cluster-snapshot", naming.region_copy_id(run_id))
    read_from = arns.rds("cluster-snapshot", shared, region=source_region)
    tags = tag_context(naming.tags_for(run_id, naming.REGION_COPY_PURPOSE))
    read = f"{SOURCE_TEMPLATE}: ReadSnapshotsInCopyRegions"
    share = f"{SOURCE_TEMPLATE}: ShareAndDeleteOnlyManagedSnapshotsInCopyRegions"
    copying = (
        # The snapshot copied is in the source's Region, where CreateOnlyTaggedSnapshots lets the role copy.
        ("rds:CopyDBClusterSnapshot", read_from, "CreateOnlyTaggedSnapshots"),
        ("rds:CopyDBClusterSnapshot", copy, "CopyIntoCopyRegionsOnlyTagged"),
        ("rds:AddTagsToResource", copy, "TagInCopyRegionsOnlyAsManaged"),
    )
    return [
        *(
            Need("CopyToRegion", action, arn, f"{SOURCE_TEMPLATE}: {sid}", tags)
            for action, arn, sid in copying
        ),
        # A listing is authorised on every cluster snapshot (the copy queue before the copy).
        Need("CopyToRegion", "rds:DescribeDBClusterSnapshots", arns.rds("cluster-snapshot", "*"), read),
        Need("CheckRegionCopy", "rds:DescribeDBClusterSnapshots", copy, read),
        Need("CopyToRegion", "rds:ListTagsForResource", copy, read),
        Need("ShareInRegion", "rds:DescribeDBClusterSnapshotAttributes", copy, read),
        Need("ShareInRegion", "rds:ModifyDBClusterSnapshotAttribute", copy, share, MANAGED_ONLY),
        Need("Cleanup", "rds:DeleteDBClusterSnapshot", copy, share, MANAGED_ONLY),
    ]


def check_region_permissions(preflight: Preflight, account: Account) -> None:
    """Every call the run makes in one copy Region (`account` is the source account there), from the snapshot it
    shares in the source's Region (what the source check found decides which one)."""
    shared = source_snapshots(preflight, preflight.source)[-1]
    needs = region_needs(arns_of(preflight, account), shared, preflight.run_id, preflight.region)
    check_needs(preflight, account, needs)
