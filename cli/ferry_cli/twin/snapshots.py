"""Aurora cluster snapshot rules in the twin: create, copy, delete, share and restore.

Rule 1 (lifecycle): a manual snapshot is ``creating`` and a copy ``copying`` until the twin's clock says
otherwise, its PercentProgress following the world's curve meanwhile (ferry_cli.twin.lifecycle).
Rule 2: copy, share and restore need an available snapshot; a snapshot being created can't be deleted, while
deleting a copy in progress cancels it.
Rule 3: another account's snapshot is reachable only through its ARN, and only by the accounts it was shared
with. https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-share-snapshot.html
Rule 4: snapshots encrypted with the default ``aws/rds`` key can't be shared, encrypted snapshots can't be
public, at most 20 accounts per snapshot, at most five copies in progress per Region and account.
Rules 5 and 6 (keys) come from ferry_cli.twin.kms. A snapshot under an AWS owned key (sse-rds) is encrypted for the
KmsKeyId rules of a copy, and has no key of the account to check (ferry_cli.twin.encryption_kinds, items 4 and 5).
Rule 7: a restore still in progress when its snapshot is deleted, or unshared from the restoring account, ends
``failed``. AWS documents no outcome for this (the RDS guides and API reference say nothing; Redshift's
RevokeSnapshotAccess documents that a restore in progress runs to completion), so the twin assumes the worst:
a workflow that withdraws a snapshot a restore still reads is caught here rather than in production.

:class:`SnapshotRules` is the snapshot family of the one ``RDSBackend`` patch (ferry_cli.twin.rules).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from moto.rds.exceptions import (
    DBClusterSnapshotNotFoundError,
    InvalidDBClusterSnapshotStateFault,
    InvalidParameterCombination,
    InvalidParameterValue,
    SharedSnapshotQuotaExceeded,
    SnapshotQuotaExceededFault,
)
from moto.rds.models import rds_backends
from moto.utilities.utils import get_partition

from ferry_cli.twin.arns import parse_rds_arn
from ferry_cli.twin.cluster_settings import restored_cluster_props
from ferry_cli.twin.clusters import check_snapshottable
from ferry_cli.twin.encryption_kinds import encrypted_at_rest, encryption_type
from ferry_cli.twin.kms import CROSS_ACCOUNT_COPY_ACTIONS, check_key_usable, is_default_rds_key
from ferry_cli.twin.lifecycle import RdsRulesBase

__all__ = ["MAX_COPIES_IN_PROGRESS", "MAX_SHARED_ACCOUNTS", "SnapshotRules"]

# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-share-snapshot.html
# "You can share a manual snapshot with up to 20 other AWS accounts."
MAX_SHARED_ACCOUNTS = 20

# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-copy-snapshot.html
# "You can have up to five snapshot copy requests in progress to a single destination Region per account."
MAX_COPIES_IN_PROGRESS = 5


class SnapshotRules(RdsRulesBase):
    """The cluster snapshot calls of ``RDSBackend``."""

    replaces: ClassVar[tuple[str, ...]] = (
        "get_snapshot",
        "describe_db_cluster_snapshots",
        "create_db_cluster_snapshot",
        "copy_db_cluster_snapshot",
        "delete_db_cluster_snapshot",
        "modify_db_cluster_snapshot_attribute",
        "restore_db_cluster_from_snapshot",
    )
    advance_first: ClassVar[tuple[str, ...]] = ("describe_db_cluster_snapshot_attributes",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Rule 7: the clusters restored from each snapshot (by ARN), in their own accounts.
        self._readers: dict[str, list[Any]] = {}

    def _withdraw(self, snapshot: Any, accounts: set[str] | None) -> None:
        """Rule 7: restores of ``snapshot`` still in progress, in ``accounts`` (None: every account), fail."""
        for cluster in self._readers.get(str(snapshot.arn), []):
            if accounts is None or cluster.account_id in accounts:
                self.registry.fail(cluster)

    def get_snapshot(
        self, backend: Any, identifier: str, resource_type: Any, not_found_exception: Any
    ) -> Any:
        """Rule 3. moto ignores the account in a snapshot ARN and looks in the caller's own account.

        AWS: another account's snapshot is reachable only by its ARN, and only by the accounts it
        was shared with. https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-share-snapshot.html

        Rule 8 (Regions and partitions, _reachable): moto also finds a snapshot of another Region by its ARN, for
        any call; in AWS only a copy reaches into another Region.
        """
        arn = parse_rds_arn(identifier)
        if arn is not None and not _reachable(identifier, arn.region, backend.region_name):
            raise not_found_exception(identifier)
        if arn is not None and arn.account != backend.account_id:
            snapshots = rds_backends[arn.account][arn.region].resource_map[resource_type]
            snapshot = snapshots.get(arn.identifier)
            if snapshot is None or not _shared_with(snapshot, backend.account_id):
                raise not_found_exception(identifier)
            return snapshot
        return self.original("get_snapshot")(backend, identifier, resource_type, not_found_exception)

    def describe_db_cluster_snapshots(
        self,
        backend: Any,
        db_cluster_identifier: str | None = None,
        db_snapshot_identifier: str | None = None,
        snapshot_type: str | None = None,
        filters: Any = None,
    ) -> Any:
        """Rule 1 (advance first), rules 3 and 8: an ARN identifier resolves like get_snapshot.

        moto filters on the bare identifier, so an ARN (own or shared) never matched; the
        restore call for a shared snapshot must use the ARN in AWS:
        https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-share-snapshot.html
        Describe is regional (rule 8): the ARN of a snapshot in another Region, shared or not, is not found here.
        https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Concepts.RegionsAndAvailabilityZones.html
        """
        self.registry.advance()
        if db_snapshot_identifier and db_snapshot_identifier.startswith("arn:"):
            return [backend.get_db_cluster_snapshot(db_snapshot_identifier)]
        return self.original("describe_db_cluster_snapshots")(
            backend, db_cluster_identifier, db_snapshot_identifier, snapshot_type, filters
        )

    def create_db_cluster_snapshot(self, backend: Any, *args: Any, **kwargs: Any) -> Any:
        """Rule 1: a manual snapshot is "creating" for ``durations.snapshot_create``; only an available
        cluster can be snapshotted (ferry_cli.twin.clusters.check_snapshottable). Automated snapshots (made
        with the cluster) stay available, as moto makes them.
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBClusterSnapshot.html
        """
        self.registry.advance()
        cluster_id = kwargs.get("db_cluster_identifier", args[0] if args else None)
        cluster = backend.clusters.get(cluster_id) if cluster_id else None
        if kwargs.get("snapshot_type", args[2] if len(args) > 2 else "manual") == "manual":
            check_snapshottable(str(cluster_id), cluster)
        snapshot = self.original("create_db_cluster_snapshot")(backend, *args, **kwargs)
        if snapshot.snapshot_type == "manual":
            self.registry.track(
                "cluster-snapshot",
                snapshot,
                "creating",
                self.durations.snapshot_create,
                self.durations.snapshot_progress,
            )
        return snapshot

    def copy_db_cluster_snapshot(
        self,
        backend: Any,
        source_db_cluster_snapshot_identifier: str,
        target_db_cluster_snapshot_identifier: str,
        kms_key_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Rules 1, 2, 3, 4, 5, 6 and 8 for CopyDBClusterSnapshot.
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBClusterSnapshot.html

        Rule 8: the copy is made in the Region of the call (the destination) and may name a snapshot of another
        Region, by its ARN only ("If the source snapshot is in a different AWS Region than the copy, specify a
        valid DB cluster snapshot ARN"; a bare identifier names a snapshot of this Region), also one of another
        account shared with the caller ("an ARN of a snapshot that is in a different account and a different
        Region", API model of 2025-09-30; https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-copy-snapshot.html).
        """
        self.registry.advance()
        with _naming_a_copy_source():
            source = backend.get_db_cluster_snapshot(source_db_cluster_snapshot_identifier)
        # Rule 2: "Must specify a valid system snapshot in the available state."
        _require_available(source, "copy")
        # Rule 4: at most five copies in progress per destination Region and account (MAX_COPIES_IN_PROGRESS).
        # AWS's exact answer is not published; the twin refuses with SnapshotQuotaExceeded, the quota fault
        # CopyDBClusterSnapshot documents.
        in_progress = self.registry.copies_in_progress(backend.account_id, backend.region_name)
        if in_progress >= MAX_COPIES_IN_PROGRESS:
            fault = SnapshotQuotaExceededFault()
            message = (
                f"Cannot copy to {target_db_cluster_snapshot_identifier}: {in_progress} DB cluster snapshot "
                f"copies are already in progress in {backend.region_name} for account {backend.account_id} "
                f"(at most {MAX_COPIES_IN_PROGRESS} per destination Region and account)."
            )
            fault.message = message
            fault.args = (message,)
            raise fault
        encrypted = _is_encrypted(source)
        if source.account_id != backend.account_id and encrypted and not kms_key_id:
            # "If you copy an encrypted DB cluster snapshot that is shared from another AWS account,
            # then you must specify a value for KmsKeyId."
            raise InvalidParameterValue(
                "The parameter KmsKeyId must be specified when copying an encrypted DB cluster "
                f"snapshot shared from another AWS account ({source.arn})."
            )
        if source.region != backend.region_name and encrypted and not kms_key_id:
            # Rule 8: "To copy an encrypted DB cluster snapshot to another AWS Region, you must set KmsKeyId to the
            # KMS key identifier you want to use to encrypt the copy of the DB cluster snapshot in the destination
            # AWS Region" (the source's key can't follow it: KMS keys are regional). AWS's exact message is not
            # published; the twin refuses with InvalidParameterValue, paraphrasing the API reference.
            raise InvalidParameterValue(
                "The parameter KmsKeyId must be specified when copying an encrypted DB cluster snapshot "
                f"from another AWS Region ({source.arn}): a KMS key of {backend.region_name}."
            )
        if kms_key_id and not encrypted:
            # "If you copy an unencrypted DB cluster snapshot and specify a value for the KmsKeyId
            # parameter, an error is returned."
            raise InvalidParameterValue(
                f"Cannot specify KmsKeyId: DB cluster snapshot {source.arn} is not encrypted."
            )
        if encryption_type(source) == "sse-kms":
            # The source key is used where the source snapshot lives (its region for a cross-region
            # copy), by the calling account: RDS of that Region decrypts, so kms:ViaService is
            # rds.<source Region>.amazonaws.com (rule 8).
            # https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
            check_key_usable(
                source.kms_key_id,
                backend.account_id,
                source.region,
                "source snapshot",
                CROSS_ACCOUNT_COPY_ACTIONS,
            )
        if kms_key_id:
            # moto resolves aliases / ids to the key ARN and refuses keys of another region.
            kms_key_id = backend._validate_kms_key(kms_key_id)
            check_key_usable(
                kms_key_id, backend.account_id, backend.region_name, "target", CROSS_ACCOUNT_COPY_ACTIONS
            )
        with _naming_a_copy_source():
            copied = self.original("copy_db_cluster_snapshot")(
                backend,
                source_db_cluster_snapshot_identifier,
                target_db_cluster_snapshot_identifier,
                kms_key_id=kms_key_id,
                **kwargs,
            )
        self.registry.track(
            "cluster-snapshot",
            copied,
            "copying",
            self.durations.snapshot_copy,
            self.durations.snapshot_progress,
        )
        return copied

    def delete_db_cluster_snapshot(self, backend: Any, db_snapshot_identifier: str) -> Any:
        """Rule 2: a snapshot still being created cannot be deleted ("The DB cluster snapshot must be in the
        available state to be deleted"), but deleting a copy in progress cancels it ("If the snapshot is being
        copied, the copy operation is terminated"; CopyDBClusterSnapshot: to cancel a copy, delete the target
        snapshot while it is copying).
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBClusterSnapshot.html
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBClusterSnapshot.html
        """
        self.registry.advance()
        snapshot = backend.cluster_snapshots.get(db_snapshot_identifier)
        if snapshot is not None and snapshot.status == "creating":
            raise InvalidDBClusterSnapshotStateFault(
                f"Cannot delete DB cluster snapshot {snapshot.db_cluster_snapshot_identifier}: it is "
                f"{snapshot.status}; the snapshot must be in the available state to be deleted."
            )
        deleted = self.original("delete_db_cluster_snapshot")(backend, db_snapshot_identifier)
        self.registry.forget(deleted)
        self._withdraw(deleted, None)
        return deleted

    def modify_db_cluster_snapshot_attribute(
        self,
        backend: Any,
        db_cluster_snapshot_identifier: str,
        attribute_name: str,
        values_to_add: list[str] | None = None,
        values_to_remove: list[str] | None = None,
    ) -> Any:
        """Rules 2, 3 and 4 for sharing (ModifyDBClusterSnapshotAttribute, attribute "restore").
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBClusterSnapshotAttribute.html
        """
        self.registry.advance()
        arn = parse_rds_arn(db_cluster_snapshot_identifier)
        if arn is not None and arn.account != backend.account_id:
            # Only the owner can change who a snapshot is shared with; to anyone else it is
            # someone else's snapshot, which the API reports as not found.
            raise DBClusterSnapshotNotFoundError(db_cluster_snapshot_identifier)
        snapshot = backend.describe_db_cluster_snapshots(None, db_cluster_snapshot_identifier)[0]
        if attribute_name == "restore" and values_to_remove:
            self._withdraw(snapshot, set(values_to_remove))
        adding = [v for v in (values_to_add or []) if v]
        # moto refuses automated snapshots (they can't be shared); let it, with its own error.
        if attribute_name != "restore" or not adding or snapshot.snapshot_type != "manual":
            return self.original("modify_db_cluster_snapshot_attribute")(
                backend, db_cluster_snapshot_identifier, attribute_name, values_to_add, values_to_remove
            )
        _require_available(snapshot, "share")
        encrypted = _is_encrypted(snapshot)
        if encrypted and is_default_rds_key(snapshot.kms_key_id, backend.account_id, backend.region_name):
            # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/share-encrypted-snapshot.html
            # "You can't share a snapshot that has been encrypted using the default KMS key of
            # the AWS account that shared the snapshot." (exact API message not published;
            # this paraphrases the documentation.)
            raise InvalidParameterValue(
                "You can't share a snapshot that has been encrypted using the default KMS key "
                f"(alias/aws/rds) of the AWS account that shared the snapshot: "
                f"{snapshot.db_cluster_snapshot_identifier}. Copy it with a customer managed "
                "key and share the copy."
            )
        if encrypted and "all" in adding:
            # Same page: "You can't share encrypted snapshots as public."
            raise InvalidParameterValue(
                f"Encrypted DB cluster snapshot {snapshot.db_cluster_snapshot_identifier} can't "
                "be shared as public: specify AWS account IDs instead of 'all'."
            )
        removing = set(values_to_remove or [])
        conflict = set(adding) & removing
        if conflict:
            # Same error as moto's own check.
            raise InvalidParameterCombination(
                f"A value may not appear in both the add list and remove list. {sorted(conflict)}"
            )
        values = [v for v in dict.fromkeys([*snapshot.attributes["restore"], *adding]) if v not in removing]
        # The quota is on AWS accounts: "all" (public) is not an account. moto counts it, and
        # keeps duplicates, so the twin writes the attribute itself.
        if len([v for v in values if v != "all"]) > MAX_SHARED_ACCOUNTS:
            # Error code documented on the API page: SharedSnapshotQuotaExceeded.
            raise SharedSnapshotQuotaExceeded()
        snapshot.attributes["restore"] = values
        return snapshot.attributes

    def restore_db_cluster_from_snapshot(
        self, backend: Any, from_snapshot_id: str, overrides: dict[str, Any]
    ) -> Any:
        """Rules 1, 2, 3, 6 and 8 for RestoreDBClusterFromSnapshot.
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBClusterFromSnapshot.html

        Rule 8: a restore reads a snapshot of its own Region only (through describe_db_cluster_snapshots, so the
        ARN of a snapshot in another Region is not found, even if shared); a snapshot of another Region is copied
        into this one first. https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-copy-snapshot.html
        """
        self.registry.advance()
        snapshot = backend.describe_db_cluster_snapshots(None, from_snapshot_id)[0]
        _require_available(snapshot, "restore from")
        overrides = dict(overrides)
        if snapshot.cluster.region != backend.region_name and not overrides.get("availability_zones"):
            # moto restores with the source cluster's settings, zones included: a copy from another Region would
            # bring that Region's zones. Availability Zones belong to their Region.
            # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Concepts.RegionsAndAvailabilityZones.html
            overrides["availability_zones"] = [f"{backend.region_name}{zone}" for zone in "abc"]
        if encryption_type(snapshot) == "sse-kms":
            # Restoring decrypts with the snapshot's key: a shared snapshot's key must be usable by
            # this account (same key policy rules as a copy).
            check_key_usable(
                snapshot.kms_key_id,
                backend.account_id,
                snapshot.region,
                "source snapshot",
                CROSS_ACCOUNT_COPY_ACTIONS,
            )
        if overrides.get("kms_key_id"):
            # "If you specify KmsKeyId" the restored cluster is encrypted with it, even if the
            # snapshot is not encrypted (unlike a copy).
            overrides["storage_encrypted"] = True
        # Only what AWS carries from a snapshot, the rest at its default (ferry_cli.twin.cluster_settings), where
        # moto's restore copies the original cluster's whole configuration. Restored through create_db_cluster, the
        # twin's (ferry_cli.twin.clusters): it checks the target key.
        cluster = backend.create_db_cluster(restored_cluster_props(snapshot.cluster.get_cfg(), overrides))
        self.registry.track("cluster", cluster, "creating", self.durations.cluster_restore)
        self._readers.setdefault(str(snapshot.arn), []).append(cluster)
        return cluster


def _require_available(snapshot: Any, verb: str) -> None:
    """Rule 2: copy, share and restore need an available snapshot.
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBClusterSnapshot.html
    """
    if snapshot.status != "available":
        raise InvalidDBClusterSnapshotStateFault(
            f"Cannot {verb} DB cluster snapshot {snapshot.db_cluster_snapshot_identifier}: its status "
            f"is {snapshot.status}, it must be available."
        )


def _is_encrypted(snapshot: Any) -> bool:
    """Encrypted at rest, under a KMS key of an account or an AWS owned key (ferry_cli.twin.encryption_kinds)."""
    return encrypted_at_rest(snapshot)


def _shared_with(snapshot: Any, account_id: str) -> bool:
    """A manual snapshot is visible to the accounts in its ``restore`` attribute; ``all`` makes an
    unencrypted snapshot public (encrypted snapshots can't be public).
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-share-snapshot.html
    """
    restore = list(snapshot.attributes.get("restore", []))
    return account_id in restore or ("all" in restore and not _is_encrypted(snapshot))


# Rule 8: set while CopyDBClusterSnapshot resolves its source, the one lookup that may reach another Region.
_COPY_SOURCE = threading.local()


@contextmanager
def _naming_a_copy_source() -> Iterator[None]:
    previous = getattr(_COPY_SOURCE, "active", False)
    _COPY_SOURCE.active = True
    try:
        yield
    finally:
        _COPY_SOURCE.active = previous


def _reachable(arn: str, arn_region: str, call_region: str) -> bool:
    """Rule 8: may a call in ``call_region`` find the snapshot ``arn`` names?

    Never across partitions (aws, aws-cn, aws-us-gov): a partition's accounts, credentials and resources are
    unknown in another, so such an ARN names no snapshot the caller can reach (DBClusterSnapshotNotFoundFault,
    CopyDBClusterSnapshot's fault for a source that "doesn't refer to an existing DB cluster snapshot"); an ARN
    whose Region is not in its own partition names nothing either.
    https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html
    Across Regions only while a copy names its source; every other call (describe, restore, share) is regional.
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBClusterSnapshot.html
    """
    partition = arn.split(":", 2)[1]
    if partition != get_partition(call_region) or get_partition(arn_region) != partition:
        return False
    return arn_region == call_region or bool(getattr(_COPY_SOURCE, "active", False))
