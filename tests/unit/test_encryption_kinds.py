"""The kind of encryption at rest read from each API shape (aurora_ferry.core.snapshots): StorageEncryptionType
none, sse-kms (StorageEncrypted, a KmsKeyId) and sse-rds (an AWS owned key: StorageEncrypted false, no KmsKeyId),
and from the older shape without StorageEncryptionType."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from aurora_ferry.core import AccountAccess, classify_encryption, encrypted_at_rest, snapshot_ref

pytestmark = pytest.mark.unit

ACCESS = AccountAccess("111111111111", "eu-west-1", "arn:aws:iam::111111111111:role/aurora-ferry-source")
KEY = "arn:aws:kms:eu-west-1:111111111111:key/7d2f9b64-3c1e-4a8b-b6d0-91e4c2a7f355"
ARN = "arn:aws:rds:eu-west-1:111111111111:cluster-snapshot:snap"

# What DescribeDBClusterSnapshots answers for each kind (and before StorageEncryptionType existed).
SHAPES: dict[str, dict[str, Any]] = {
    "sse-rds": {"StorageEncrypted": False, "StorageEncryptionType": "sse-rds"},
    "sse-kms": {"StorageEncrypted": True, "KmsKeyId": KEY, "StorageEncryptionType": "sse-kms"},
    "none": {"StorageEncrypted": False, "StorageEncryptionType": "none"},
    "older sse-kms": {"StorageEncrypted": True, "KmsKeyId": KEY},
    "older none": {"StorageEncrypted": False},
}


def _snapshot(shape: dict[str, Any]) -> dict[str, Any]:
    return {"DBClusterSnapshotArn": ARN, "DBClusterSnapshotIdentifier": "snap", **shape}


@pytest.mark.parametrize(
    ("shape", "encrypted", "key"),
    [
        ("sse-rds", True, None),
        ("sse-kms", True, KEY),
        ("none", False, None),
        ("older sse-kms", True, KEY),
        ("older none", False, None),
    ],
)
def test_each_shape_is_encrypted_at_rest_or_not_with_its_key(
    shape: str, encrypted: bool, key: str | None
) -> None:
    raw = _snapshot(SHAPES[shape])
    ref = snapshot_ref(raw, ACCESS, created_by_run=False, encryption="none")  # type: ignore[arg-type]
    assert encrypted_at_rest(raw) is encrypted
    assert ref.encrypted is encrypted
    assert ref.kms_key_id == key


def test_an_aws_owned_key_is_its_own_kind_without_asking_kms() -> None:
    raw = SHAPES["sse-rds"]
    with mock.patch("aurora_ferry.core.snapshots.kms") as kms:
        kind = classify_encryption(ACCESS, bool(raw["StorageEncrypted"]), None, raw["StorageEncryptionType"])
    assert kind == "aws-owned-key"
    kms.assert_not_called()


@pytest.mark.parametrize("shape", ["none", "older none"])
def test_an_unencrypted_shape_is_none(shape: str) -> None:
    raw = SHAPES[shape]
    with mock.patch("aurora_ferry.core.snapshots.kms") as kms:
        kind = classify_encryption(
            ACCESS, bool(raw["StorageEncrypted"]), None, raw.get("StorageEncryptionType")
        )
    assert kind == "none"
    kms.assert_not_called()


@pytest.mark.parametrize(("manager", "kind"), [("AWS", "default-key"), ("CUSTOMER", "customer-key")])
def test_an_sse_kms_shape_is_told_apart_by_its_key_manager(manager: str, kind: str) -> None:
    raw = SHAPES["sse-kms"]
    with mock.patch("aurora_ferry.core.snapshots.kms") as kms:
        kms.return_value.describe_key.return_value = {"KeyMetadata": {"KeyManager": manager}}
        found = classify_encryption(ACCESS, True, raw["KmsKeyId"], raw["StorageEncryptionType"])
    assert found == kind
