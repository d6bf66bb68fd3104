"""The key checks of each target's key and of the source's own customer-managed key, and what every key check
shares (the key exists, is enabled, customer-managed, symmetric and in its Region); the share keys are
share_keys.py's, and whether a role may use a key through RDS is judged in key_use.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from aurora_ferry.core import (
    CROSS_ACCOUNT_COPY_ACTIONS,
    SOURCE_KEY_COPY_ACTIONS,
    error_code,
    error_message,
    rds_via_service,
)
from aurora_ferry.preflight.context import Account, Preflight, TargetAccount, kms_client, same_key
from aurora_ferry.preflight.key_use import KeyUse, check_key_use
from aurora_ferry.preflight.report import Severity

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_kms.type_defs import KeyMetadataTypeDef


# --- target key -----------------------------------------------------------------------------------------


def check_target_key(preflight: Preflight, account: TargetAccount) -> None:
    """The target key exists and is usable, and RDS may use it for the target role (both halves)."""
    target = account.target
    kms = kms_client(account.session)
    key_arn = target.kms_key_arn
    field_name = f"targets[{account.index}].kmsKeyArn"
    # The target's key is used where its cluster is made: its Region (by default the source's).
    region = account.access.region
    metadata = describe_key(
        preflight, kms, key_arn, "target-key", target.account_id, field_name, "error", "", region
    )
    if metadata is None:
        return
    if metadata.get("KeyManager") == "AWS":
        preflight.add(
            "warning",
            "target-key",
            target.account_id,
            key_arn,
            f"target key {key_arn} is an AWS managed key: it protects the restored cluster for this "
            "account only and its policy can never be changed, so the cluster's snapshots can never be "
            f"shared again. Use a customer-managed key (member-accounts/target-account.yaml makes one) "
            f"as {field_name}.",
        )
    check_key_metadata(
        preflight, metadata, "target-key", target.account_id, key_arn, field_name, "error", "", region
    )
    # target-account.yaml names the role in the key policy, which is enough on its own in the key's
    # account, so those statements fix a refusal by either half.
    fix = (
        "add the key policy statements {sids} of member-accounts/target-account.yaml, which allow them "
        f"to the role {target.role_arn} itself with kms:ViaService {rds_via_service(region)} (or "
        "allow them in the role's IAM policy, where the key policy delegates to the account)"
    )
    sids = {
        "kms:CreateGrant": "OrchestratorRoleGrantToRds",
        "kms:DescribeKey": "OrchestratorRoleDescribe",
        "*": "OrchestratorRoleUseThroughRds",
    }
    check_key_use(
        preflight,
        account.session,
        KeyUse(
            "target-key-use",
            target.role_arn,
            key_arn,
            CROSS_ACCOUNT_COPY_ACTIONS,
            "CopyToTarget and RestoreCluster would fail",
            sids,
            fix,
            fix,
            region,
        ),
    )


# --- source key -----------------------------------------------------------------------------------------


def source_key_applies(preflight: Preflight, account: Account) -> bool:
    """The source's own key is checked when it is customer-managed and not the share key itself (a source
    under the share key is the share-key-policy check's business)."""
    source = preflight.source
    key = source.customer_key_arn if source is not None else None
    return key is not None and not same_key(key, preflight.request.share_kms_key_arn)


def source_key(preflight: Preflight, account: Account) -> str:
    source = preflight.source
    return (source.customer_key_arn if source is not None else None) or ""


def check_source_key(preflight: Preflight, account: Account) -> None:
    """The run copies the source to the share key with the source role, and RDS then creates a grant
    on the source's own key, describes it and decrypts with it for that role."""
    source = preflight.source
    assert source is not None and source.customer_key_arn is not None  # see source_key_applies
    key_arn = source.customer_key_arn
    role = preflight.request.source.role_arn
    account_id = preflight.request.source.account_id
    step = (
        "PrepareSourceSnapshot (copying the automated snapshot)"
        if source.kind == "automated-snapshot"
        else "PrepareShareCopy"
    )
    stack = "SourceClusterKmsKeyArns of the source stack (member-accounts/source-account.yaml)"
    sids = {
        "kms:CreateGrant": "GrantSourceClusterKeysToRds",
        "kms:Decrypt": "ReadSourceClusterKeysThroughRds",
        "kms:DescribeKey": "DescribeKeys",
    }
    check_key_use(
        preflight,
        account.session,
        KeyUse(
            "source-key-use",
            role,
            key_arn,
            SOURCE_KEY_COPY_ACTIONS,
            f"{step} would fail to re-encrypt {source.identifier} with the share key",
            sids,
            f"add {key_arn} to {stack}, whose statements {{sids}} allow them to the role through RDS",
            f"let the key policy allow them to the role with kms:ViaService {rds_via_service(preflight.region)}, "
            f"or keep AWS's default statement delegating kms:* to arn:{preflight.partition}:iam::{account_id}:root "
            f"and add {key_arn} to {stack}",
        ),
    )


# --- keys (shared) --------------------------------------------------------------------------------------


def describe_key(
    preflight: Preflight,
    kms: KMSClient,
    key_arn: str,
    check: str,
    account: str,
    field_name: str,
    severity: Severity,
    later: str,
    region: str | None = None,
) -> KeyMetadataTypeDef | None:
    try:
        return kms.describe_key(KeyId=key_arn)["KeyMetadata"]
    except ClientError as error:
        if error_code(error) == "NotFoundException":
            preflight.add(
                severity,
                check,
                account,
                key_arn,
                f"key {key_arn} does not exist in account {account} {region or preflight.region}. Create a "
                f"customer-managed symmetric key there (see member-accounts/) and set {field_name} to "
                "its ARN." + later,
            )
        else:
            preflight.add(
                "warning",
                check,
                account,
                key_arn,
                f"cannot describe key {key_arn} ({error_code(error)}: {error_message(error)}); grant "
                "kms:DescribeKey on it to the role. Its state, manager and policy were not checked.",
            )
        return None


def check_key_metadata(
    preflight: Preflight,
    metadata: KeyMetadataTypeDef,
    check: str,
    account: str,
    key_arn: str,
    field_name: str,
    severity: Severity,
    later: str,
    region: str | None = None,
) -> None:
    state = metadata.get("KeyState", "unknown")
    if state != "Enabled":
        fix = {
            "Disabled": "enable it (aws kms enable-key)",
            "PendingDeletion": "cancel its deletion (aws kms cancel-key-deletion) and enable it",
        }.get(state, f"use an Enabled key as {field_name}")
        preflight.add(
            severity,
            check,
            account,
            key_arn,
            f"key {key_arn} is {state}; RDS can only use an Enabled key: {fix}." + later,
        )
    spec = metadata.get("KeySpec", "SYMMETRIC_DEFAULT")
    usage = metadata.get("KeyUsage", "ENCRYPT_DECRYPT")
    if spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT":
        preflight.add(
            severity,
            check,
            account,
            key_arn,
            f"key {key_arn} is {spec}/{usage}; RDS encrypts only with symmetric encryption keys "
            f"(SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT). Set {field_name} to such a key." + later,
        )
    key_region = str(metadata.get("Arn", key_arn)).split(":")[3]
    region = region or preflight.region
    if key_region != region:
        preflight.add(
            severity,
            check,
            account,
            key_arn,
            f"key {key_arn} is in {key_region}, but the run uses it in {region} and KMS keys are "
            f"regional. Set {field_name} to a key in {region}." + later,
        )
