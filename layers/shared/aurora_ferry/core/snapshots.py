"""Reading cluster snapshots and describing their encryption in the terms the workflow decides on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from aurora_ferry.core.access import error_code, kms, translated
from aurora_ferry.core.accounts import AccountAccess
from aurora_ferry.core.errors import SourceNotFoundError
from aurora_ferry.core.observability import logger
from aurora_ferry.core.validation import JsonRecord

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rds.type_defs import DBClusterSnapshotTypeDef

# "aws-owned-key": StorageEncryptionType sse-rds, Aurora's default since 2026-02-18. Such a cluster or snapshot
# reports StorageEncrypted false and no KmsKeyId ("If the DB cluster snapshot is encrypted with an Amazon Web
# Services owned key, this value is false and StorageEncryptionType is sse-rds", DBClusterSnapshot in
# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBClusterSnapshot.html), yet it is encrypted.
Encryption = Literal["none", "default-key", "customer-key", "aws-owned-key"]
AWS_OWNED_KEY_TYPE = "sse-rds"
# How the snapshot came to be, which decides how the run waits for it: RDS announces a manual snapshot it
# created (RDS-EVENT-0075) but not a finished copy, so a copy is polled; an existing one is already available.
Origin = Literal["existing", "created", "copied"]


@dataclass(frozen=True, kw_only=True)
class SnapshotRef(JsonRecord):
    """A cluster snapshot as the state machine carries it between steps."""

    arn: str
    identifier: str
    account_id: str
    region: str
    status: str
    snapshot_type: str
    # Encrypted at rest under any key, the AWS owned one included (encrypted_at_rest): a copy of it takes a
    # KmsKeyId, and it is shared only once it is under the share key.
    encrypted: bool
    kms_key_id: str | None
    engine: str
    engine_version: str
    created_by_run: bool
    encryption: Encryption = "none"
    origin: Origin = "existing"

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SnapshotRef:
        return cls(
            arn=raw["arn"],
            identifier=raw["identifier"],
            account_id=raw["accountId"],
            region=raw["region"],
            status=raw["status"],
            snapshot_type=raw["snapshotType"],
            encrypted=bool(raw["encrypted"]),
            kms_key_id=raw.get("kmsKeyId"),
            engine=raw["engine"],
            engine_version=raw["engineVersion"],
            created_by_run=bool(raw["createdByRun"]),
            encryption=raw.get("encryption", "none"),
            origin=raw.get("origin", "existing"),
        )


def describe_snapshot(
    client: RDSClient, access: AccountAccess, identifier: str
) -> DBClusterSnapshotTypeDef | None:
    """The snapshot, or None if it does not exist (or is not visible to this account)."""
    with translated(access, f"describe cluster snapshot {identifier}"):
        try:
            found = client.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=identifier)
        except ClientError as error:
            if error_code(error) == "DBClusterSnapshotNotFoundFault":
                return None
            raise
    snapshots = found.get("DBClusterSnapshots", [])
    return snapshots[0] if snapshots else None


def snapshot_ref(
    raw: DBClusterSnapshotTypeDef,
    access: AccountAccess,
    *,
    created_by_run: bool,
    encryption: Encryption,
    origin: Origin = "existing",
) -> SnapshotRef:
    return SnapshotRef(
        arn=raw["DBClusterSnapshotArn"],
        identifier=raw["DBClusterSnapshotIdentifier"],
        account_id=access.account_id,
        region=access.region,
        status=raw.get("Status", "unknown"),
        snapshot_type=raw.get("SnapshotType", "manual"),
        encrypted=encrypted_at_rest(raw),
        kms_key_id=raw.get("KmsKeyId") if raw.get("StorageEncrypted") else None,
        engine=raw.get("Engine", "aurora-postgresql"),
        engine_version=raw.get("EngineVersion", ""),
        created_by_run=created_by_run,
        encryption=encryption,
        origin=origin,
    )


def encrypted_at_rest(raw: Mapping[str, Any]) -> bool:
    """Whether a described cluster or cluster snapshot is encrypted at rest: StorageEncrypted (a KMS key of the
    account, sse-kms) or StorageEncryptionType sse-rds (an AWS owned key, with StorageEncrypted false)."""
    return bool(raw.get("StorageEncrypted")) or raw.get("StorageEncryptionType") == AWS_OWNED_KEY_TYPE


def classify_encryption(
    access: AccountAccess, encrypted: bool, kms_key_id: str | None, encryption_type: str | None = None
) -> Encryption:
    """none, an AWS owned key (``encryption_type`` sse-rds), the account's AWS-managed aws/rds key, or a
    customer-managed key.

    A key the source role may not describe is reported as customer-managed: the workflow re-encrypts
    every snapshot whose key is not the share key anyway, so the label only informs the summary.
    """
    if encryption_type == AWS_OWNED_KEY_TYPE:
        return "aws-owned-key"
    if not encrypted or not kms_key_id:
        return "none"
    try:
        metadata = kms(access).describe_key(KeyId=kms_key_id)["KeyMetadata"]
    except ClientError as error:
        logger.warning(
            "cannot describe the snapshot's KMS key; labelling it customer-managed",
            extra={"kms_key_id": kms_key_id, "error_code": error_code(error)},
        )
        return "customer-key"
    return "default-key" if metadata.get("KeyManager") == "AWS" else "customer-key"


def require_snapshot(client: RDSClient, access: AccountAccess, identifier: str) -> DBClusterSnapshotTypeDef:
    raw = describe_snapshot(client, access, identifier)
    if raw is None:
        raise SourceNotFoundError.in_account(
            access, f"cluster snapshot {identifier} not found (or not visible to {access.role_arn})"
        )
    return raw
