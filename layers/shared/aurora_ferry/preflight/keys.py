"""The key checks: the share key (its state, and a key policy that trusts the source role and every target),
each target's key, and the source's own customer-managed key; whether a role may use a key through RDS is
judged in key_use.py."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from aurora_ferry.core import (
    CROSS_ACCOUNT_COPY_ACTIONS,
    SOURCE_KEY_COPY_ACTIONS,
    KeyPolicyVerdict,
    error_code,
    error_message,
    evaluate_key_policy,
    rds_via_service,
)
from aurora_ferry.migration import Target
from aurora_ferry.preflight.context import (
    KEY_POLICY_NAME,
    Account,
    Preflight,
    TargetAccount,
    kms_client,
    parse_policy,
    same_key,
)
from aurora_ferry.preflight.key_use import KeyUse, check_key_use
from aurora_ferry.preflight.report import Severity

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_kms.type_defs import KeyMetadataTypeDef

# Statement the fix suggests for a target account: the actions the copy needs, only through RDS.
_SUGGESTED_TARGET_ACTIONS = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
)


# --- share key ------------------------------------------------------------------------------------------


def check_share_key(preflight: Preflight, account: Account) -> None:
    """The share key exists, is usable, and its policy lets the source role and every target use it."""
    source = preflight.source
    request = preflight.request
    account_id = request.source.account_id
    key_arn = request.share_kms_key_arn
    kms = kms_client(account.session)
    # Sharing an unencrypted source does not use the share key: its problems cannot fail this run.
    unused = source is not None and not source.encrypted
    severity: Severity = "warning" if unused else "error"
    later = (
        " (The source is unencrypted, so this run does not use the share key; an encrypted source would.)"
        if unused
        else ""
    )
    metadata = _describe_key(
        preflight, kms, key_arn, "share-key", account_id, "shareKmsKeyArn", severity, later
    )
    if metadata is None:
        return
    if metadata.get("KeyManager") == "AWS":
        preflight.add(
            severity,
            "share-key",
            account_id,
            key_arn,
            f"share key {key_arn} is an AWS managed key (such as the default aws/rds key): a snapshot "
            "encrypted with it cannot be shared with another account, and its key policy can never "
            "trust one. Create a customer-managed symmetric key in the source account "
            "(member-accounts/source-account.yaml makes one) and pass its ARN as shareKmsKeyArn." + later,
        )
        return
    _check_key_metadata(
        preflight, metadata, "share-key", account_id, key_arn, "shareKmsKeyArn", severity, later
    )
    try:
        policy_text = kms.get_key_policy(KeyId=key_arn, PolicyName=KEY_POLICY_NAME)["Policy"]
    except ClientError as error:
        preflight.add(
            "warning",
            "share-key-policy",
            account_id,
            key_arn,
            f"cannot read the key policy of the share key ({error_code(error)}); grant kms:GetKeyPolicy "
            f"to the source role {request.source.role_arn} on this key so the preflight can check which "
            "target accounts it trusts.",
        )
        return
    policy = parse_policy(policy_text)
    if policy is None:
        preflight.add(
            "warning",
            "share-key-policy",
            account_id,
            key_arn,
            "the share key's policy is not a JSON object; it was not checked.",
        )
        return
    # The source side: RDS in the source account copies into the share key for the source role.
    own = evaluate_key_policy(
        policy, account_id, preflight.region, CROSS_ACCOUNT_COPY_ACTIONS, request.source.role_arn
    )
    if own.certainly_missing:
        preflight.add(
            severity,
            "share-key-policy",
            account_id,
            key_arn,
            f"the share key's policy does not let the source role {request.source.role_arn} use it "
            f"through RDS: missing {', '.join(own.certainly_missing)}, so PrepareShareCopy would fail. "
            f"Keep the statement that delegates to arn:{preflight.partition}:iam::{account_id}:root (kms:*), or "
            "allow these actions to the role in the key policy." + later,
        )
    for target in request.targets:
        verdict = evaluate_key_policy(
            policy, target.account_id, preflight.region, CROSS_ACCOUNT_COPY_ACTIONS, target.role_arn
        )
        _report_share_verdict(preflight, target, verdict, severity, later)


def _report_share_verdict(
    preflight: Preflight, target: Target, verdict: KeyPolicyVerdict, severity: Severity, later: str
) -> None:
    key_arn = preflight.request.share_kms_key_arn
    account = target.account_id
    via = rds_via_service(preflight.region)
    notes = f" Notes: {'; '.join(verdict.notes)}." if verdict.notes else ""
    certain = verdict.certainly_missing
    if certain:
        parts = [
            f"the share key's policy does not let account {account} (role {target.role_arn}) use the key "
            f"for the cross-account copy: missing {', '.join(certain)}, so CopyToTarget would fail with "
            "KmsKeyNotUsableError."
        ]
        wrong = [value for value in verdict.via_service_mismatches if value.lower() != via]
        if wrong:
            regions = ", ".join(wrong)
            parts.append(
                f"Statements for it are limited by kms:ViaService to {regions}, but the copy runs in "
                f"{preflight.region} through {via}: set the condition to {via}."
            )
        denied = [action for action in verdict.denied if action in certain]
        if denied:
            parts.append(f"An explicit Deny refuses {', '.join(denied)}: remove or narrow it.")
        statement = {
            "Sid": f"AuroraFerryTarget{account}",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{preflight.partition}:iam::{account}:root"},
            "Action": list(_SUGGESTED_TARGET_ACTIONS),
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": via}},
        }
        parts.append(
            "Fix: add this statement to the share key's policy (or add the account to TargetAccountIds "
            f"of member-accounts/source-account.yaml): {json.dumps(statement)}"
        )
        preflight.add(severity, "share-key-policy", account, key_arn, " ".join(parts) + notes + later)
    elif verdict.unsure:
        preflight.add(
            "warning",
            "share-key-policy",
            account,
            key_arn,
            f"whether the share key's policy lets account {account} use it for "
            f"{', '.join(verdict.unsure)} depends on conditions the preflight cannot evaluate; check "
            f"them against a request RDS makes in {preflight.region} for {target.role_arn}.{notes}",
        )
    else:
        preflight.add(
            "info",
            "share-key-policy",
            account,
            key_arn,
            f"the share key's policy lets account {account} use it through {via} "
            f"({', '.join(verdict.allowed)}); the role {target.role_arn} also needs them in its own IAM "
            f"policy for this key (cross-account use needs both).{notes}",
        )


# --- target key -----------------------------------------------------------------------------------------


def check_target_key(preflight: Preflight, account: TargetAccount) -> None:
    """The target key exists and is usable, and RDS may use it for the target role (both halves)."""
    target = account.target
    kms = kms_client(account.session)
    key_arn = target.kms_key_arn
    field_name = f"targets[{account.index}].kmsKeyArn"
    # The target's key is used where its cluster is made: its Region (by default the source's).
    region = account.access.region
    metadata = _describe_key(
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
    _check_key_metadata(
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


# --- the share key, as each target uses it ---------------------------------------------------------------


def share_key_used(preflight: Preflight, account: TargetAccount) -> bool:
    """A target uses the share key when the source is encrypted (an unencrypted source is shared as it is)."""
    return preflight.source is not None and preflight.source.encrypted


def check_share_key_use(preflight: Preflight, account: TargetAccount) -> None:
    """The target role's own IAM policies let RDS use the share key for it, in the source's Region, where the key
    is (a target in another Region too): the identity half of the share key's use, whose key policy half the
    share-key-policy check judges."""
    target = account.target
    key_arn = preflight.request.share_kms_key_arn
    via = rds_via_service(preflight.region)
    fix = (
        "add the statements {sids} of member-accounts/target-account.yaml to the role, which allow them on "
        f"the share key with kms:ViaService {via} (RDS uses the key in its own Region)"
    )
    sids = {
        "kms:CreateGrant": "GrantSourceShareKeyToRds",
        "kms:DescribeKey": "DescribeSourceShareKey",
        "*": "UseSourceShareKeyThroughRds",
    }
    check_key_use(
        preflight,
        account.session,
        KeyUse(
            "share-key-use",
            target.role_arn,
            key_arn,
            CROSS_ACCOUNT_COPY_ACTIONS,
            "CopyToTarget (or RestoreCluster, restoring straight from the share) would fail",
            sids,
            fix,
            f"let the share key's policy allow them to account {target.account_id} with kms:ViaService {via}",
            preflight.region,
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


def _describe_key(
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


def _check_key_metadata(
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
