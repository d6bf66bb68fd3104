"""Aurora's three kinds of encryption at rest in the twin: ``none``, ``sse-kms`` and ``sse-rds`` (an AWS owned key).

Since 2026-02-18 Aurora encrypts every new cluster at rest by default with an AWS owned key ("All new database
clusters created on or after February 18, 2026, in Amazon Aurora are encrypted at rest ... Amazon Aurora uses
Server-Side Encryption (SSE) with an AWS-owned key by default", AWS owned key (SSE-RDS), AWS managed key or
customer managed key (SSE-KMS); https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Overview.Encryption.html
and https://aws.amazon.com/blogs/database/use-default-encryption-at-rest-for-new-amazon-aurora-clusters/). moto 5.2
knows only StorageEncrypted and KmsKeyId. What the research found, and what the twin does:

1. How the kinds look in the API (the RDS API model in botocore 1.43, the text of
   https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBCluster.html and API_DBClusterSnapshot.html):
   ``StorageEncryptionType`` is ``none`` (not encrypted), ``sse-rds`` ("encrypted using an Amazon Web Services owned
   KMS key") or ``sse-kms`` ("a customer managed KMS key or Amazon Web Services managed KMS key"). StorageEncrypted
   "Specifies whether the DB cluster [snapshot] is encrypted with an Amazon Web Services managed key or a customer
   managed key. If [it] is encrypted with an Amazon Web Services owned key, this value is false and
   StorageEncryptionType is sse-rds"; KmsKeyId is given only "If StorageEncrypted is true". The twin reports
   StorageEncryptionType on every cluster and cluster snapshot (:class:`ClusterEncryptionType`,
   :class:`SnapshotEncryptionType`); an sse-rds one has StorageEncrypted false and no KmsKeyId.
2. Sharing an sse-rds snapshot with another account: the docs are silent (Sharing encrypted snapshots,
   https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/share-encrypted-snapshot.html, names only the
   default-key and public restrictions). Another account decrypts a shared snapshot with the snapshot's key, which
   the owner must let it use; an AWS owned key is owned by the service, in no customer account, with no key
   policy or grant a customer controls (AWS owned keys,
   https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-owned-cmk; the Aurora guide: "A fully
   AWS-controlled encryption key that you cannot view"), as the aws/rds key, whose policy admits only its own
   account, can't be shared. The twin takes the conservative side and refuses (rule A), with the code of the
   default-key refusal, InvalidParameterValue; a run copies the snapshot under its share key first, as for aws/rds.
3. Making it public: refused by rule A too (``all`` is a value to add), as for any encrypted snapshot ("You can't
   share encrypted snapshots as public", same page).
4. Copying it (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBClusterSnapshot.html): a copy of
   an encrypted snapshot may take a KmsKeyId "to encrypt the copy with a new KMS key", and only an unencrypted one is
   refused a KmsKeyId; an sse-rds snapshot is encrypted (item 1), so the copy under a customer managed key is sse-kms
   under that key; without KmsKeyId it stays sse-rds. To another Region an encrypted copy "must" name a key of that
   Region; the docs do not say whether an AWS owned key follows, so the twin requires the KmsKeyId (the refusal).
   ferry_cli.twin.snapshots applies these through :func:`encrypted_at_rest` (and checks no customer key for sse-rds).
5. Restoring it (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBClusterFromSnapshot.html):
   "If the DB snapshot or DB cluster snapshot in SnapshotIdentifier is encrypted, then the restored DB cluster is
   encrypted using the KMS key that was used to encrypt the DB snapshot": without KmsKeyId the cluster is sse-rds,
   with one it is sse-kms under it (rule B).
6. Cloning it (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Clone.Cross-Account.html):
   the limitations name the default RDS key only; the docs are silent on an AWS owned key. A cross-account clone
   reads the source's storage with the source's key, which the owner cannot grant (item 2), so the twin refuses it
   (rule C, InvalidParameterValue as for the default key). In one account a clone keeps the source's encryption
   (RestoreDBClusterToPointInTime: "If the DB cluster is encrypted, then the restored DB cluster is encrypted using
   the KMS key that was used to encrypt the source DB cluster",
   https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBClusterToPointInTime.html); whether a
   copy-on-write clone may move to a KmsKeyId is not documented, so the twin refuses that too (rule C).

Install with :func:`encryption_kind_rules` inside ``mock_aws()``, after ``aws_rules`` and ``clone_rules`` (rule C
wraps the clone rules' RestoreDBClusterToPointInTime).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from moto.rds.exceptions import InvalidParameterCombination, InvalidParameterValue
from moto.rds.models import DBCluster, DBClusterSnapshot, RDSBackend, rds_backends

from ferry_cli.twin.arns import parse_rds_arn
from ferry_cli.twin.patching import MotoPatch

__all__ = [
    "ClusterEncryptionType",
    "EncryptionKindRules",
    "SnapshotEncryptionType",
    "encrypted_at_rest",
    "encryption_kind_rules",
    "encryption_type",
    "mark_aws_owned",
]

StorageEncryptionType = Literal["none", "sse-rds", "sse-kms"]

# Set on a moto DBCluster encrypted with an AWS owned key. A snapshot keeps a copy of its cluster (moto), so its
# snapshots, their copies and what is restored from them read it there; a copy or restore under a KmsKeyId sets
# StorageEncrypted, which wins (item 4, 5).
_AWS_OWNED = "_twin_aws_owned_key"


def encryption_type(resource: Any) -> StorageEncryptionType:
    """StorageEncryptionType of a moto cluster or cluster snapshot (item 1)."""
    if getattr(resource, "storage_encrypted", False) or getattr(resource, "encrypted", False):
        return "sse-kms"
    cluster = resource if isinstance(resource, DBCluster) else getattr(resource, "cluster", None)
    return "sse-rds" if getattr(cluster, _AWS_OWNED, False) else "none"


def encrypted_at_rest(resource: Any) -> bool:
    """Encrypted under any key, an AWS owned one included: what a copy's KmsKeyId rules ask (item 4)."""
    return encryption_type(resource) != "none"


def mark_aws_owned(backend: Any, cluster: Any) -> None:
    """Make an unencrypted moto cluster one under an AWS owned key, with the snapshots moto already took of it (a
    world's sse-rds cluster, created as CreateDBCluster does by default since 2026-02-18)."""
    setattr(cluster, _AWS_OWNED, True)
    for snapshot in backend.cluster_snapshots.values():
        if snapshot.db_cluster_identifier == cluster.db_cluster_identifier:
            setattr(snapshot.cluster, _AWS_OWNED, True)


class ClusterEncryptionType(MotoPatch):
    """Item 1: ``DBCluster.StorageEncryptionType``."""

    target = DBCluster
    creates = True

    def replacements(self) -> dict[str, Any]:
        return {"storage_encryption_type": property(encryption_type)}


class SnapshotEncryptionType(MotoPatch):
    """Item 1: ``DBClusterSnapshot.StorageEncryptionType``."""

    target = DBClusterSnapshot
    creates = True

    def replacements(self) -> dict[str, Any]:
        return {"storage_encryption_type": property(encryption_type)}


class EncryptionKindRules(MotoPatch):
    """Rules A, B and C over the twin's own snapshot, restore and clone rules of ``RDSBackend``."""

    target = RDSBackend
    replaces = (
        "modify_db_cluster_snapshot_attribute",
        "restore_db_cluster_from_snapshot",
        "restore_db_cluster_to_point_in_time",
    )

    def modify_db_cluster_snapshot_attribute(
        self,
        backend: Any,
        db_cluster_snapshot_identifier: str,
        attribute_name: str,
        **values: list[str] | None,
    ) -> Any:
        """Rule A (items 2 and 3): an sse-rds snapshot is not shared, with accounts or as public. The `values`
        (values_to_add, values_to_remove, as moto's response passes them) go on to the snapshot rules as given."""
        if attribute_name == "restore" and any(values.get("values_to_add") or []):
            snapshot = backend.describe_db_cluster_snapshots(None, db_cluster_snapshot_identifier)[0]
            if encryption_type(snapshot) == "sse-rds":
                raise InvalidParameterValue(
                    f"You can't share DB cluster snapshot {snapshot.db_cluster_snapshot_identifier}: it is "
                    "encrypted with an AWS owned key (StorageEncryptionType sse-rds). Copy it with a customer "
                    "managed key (KmsKeyId) and share the copy. (Twin: the AWS documentation does not say; an "
                    "AWS owned key cannot be granted to another account.)"
                )
        return self.original("modify_db_cluster_snapshot_attribute")(
            backend, db_cluster_snapshot_identifier, attribute_name, **values
        )

    def restore_db_cluster_from_snapshot(
        self, backend: Any, from_snapshot_id: str, overrides: dict[str, Any]
    ) -> Any:
        """Rule B (item 5): without KmsKeyId a cluster restored from an sse-rds snapshot is sse-rds too."""
        snapshot = backend.describe_db_cluster_snapshots(None, from_snapshot_id)[0]
        aws_owned = encryption_type(snapshot) == "sse-rds" and not overrides.get("kms_key_id")
        cluster = self.original("restore_db_cluster_from_snapshot")(backend, from_snapshot_id, overrides)
        setattr(cluster, _AWS_OWNED, aws_owned)
        return cluster

    def restore_db_cluster_to_point_in_time(
        self, backend: Any, db_cluster_identifier: str, source_db_cluster_identifier: str, **kwargs: Any
    ) -> Any:
        """Rule C (item 6): no cross-account clone, and no KmsKeyId, for an sse-rds source; a clone in the same
        account stays sse-rds."""
        source = _source_cluster(backend, source_db_cluster_identifier)
        aws_owned = source is not None and encryption_type(source) == "sse-rds"
        if aws_owned and source is not None and source.account_id != backend.account_id:
            raise InvalidParameterValue(
                f"You can't create a cross-account clone of DB cluster {source.arn}: it is encrypted with an AWS "
                "owned key (StorageEncryptionType sse-rds). (Twin: the AWS documentation names the default RDS "
                "key only; an AWS owned key cannot be granted to another account.)"
            )
        if aws_owned and kwargs.get("kms_key_id"):
            raise InvalidParameterCombination(
                f"Cannot specify KmsKeyId: source DB cluster {source_db_cluster_identifier} is encrypted with an "
                "AWS owned key (sse-rds). (Twin: the AWS documentation does not say that a clone may change it.)"
            )
        clone = self.original("restore_db_cluster_to_point_in_time")(
            backend, db_cluster_identifier, source_db_cluster_identifier, **kwargs
        )
        setattr(clone, _AWS_OWNED, aws_owned)
        return clone


def _source_cluster(backend: Any, identifier: str) -> Any:
    """The cluster an identifier or ARN names, in its owner's account (None if there is none); the clone rules
    decide whether the caller may see it."""
    arn = parse_rds_arn(identifier)
    if arn is None:
        return backend.clusters.get(identifier.lower()) or backend.clusters.get(identifier)
    if arn.service != "rds" or arn.resource_type != "cluster":
        return None
    return rds_backends[arn.account][arn.region].clusters.get(arn.identifier.lower())


@contextmanager
def encryption_kind_rules() -> Iterator[None]:
    """Report StorageEncryptionType and enforce rules A, B and C while the context is active."""
    with (
        ClusterEncryptionType().installed(),
        SnapshotEncryptionType().installed(),
        EncryptionKindRules().installed(),
    ):
        yield
