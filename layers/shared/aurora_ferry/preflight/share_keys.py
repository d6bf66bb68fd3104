"""The share keys: the source account's key in the source's Region (shareKmsKeyArn) and, for a copy in two steps,
its key in each Region it copies into (regionalShareKmsKeyArns); each one's state, and a key policy that lets
every target reading a snapshot under it use it through RDS there; the source role's own use of each; and each
target's own use of the key of the snapshot it reads (README "Preflight", "Cross-Region targets")."""

from __future__ import annotations

import json
from dataclasses import dataclass

from botocore.exceptions import ClientError

from aurora_ferry.core import (
    CROSS_ACCOUNT_COPY_ACTIONS,
    KeyPolicyVerdict,
    error_code,
    evaluate_key_policy,
    rds_via_service,
)
from aurora_ferry.migration import (
    Target,
    copies_in_two_steps,
    readers_in,
    share_key_for,
    share_key_in,
    shared_region,
)
from aurora_ferry.preflight.context import (
    KEY_POLICY_NAME,
    Account,
    Preflight,
    TargetAccount,
    kms_client,
    parse_policy,
)
from aurora_ferry.preflight.key_use import KeyUse, check_key_use
from aurora_ferry.preflight.keys import check_key_metadata, describe_key
from aurora_ferry.preflight.report import Severity

SOURCE_STACK = "member-accounts/source-account.yaml"
REGION_KEY_STACK = "member-accounts/source-region-key.yaml"

# Statement the fix suggests for a target account: the actions the copy needs, only through RDS.
_SUGGESTED_TARGET_ACTIONS = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
)


@dataclass(frozen=True)
class ShareKey:
    """One share key of the source account as the checks name it: where it is, the input field that gives it,
    the stack that makes it, and the step of the source role that encrypts with it."""

    key_arn: str
    region: str
    field_name: str
    name: str  # "the share key", "the regional share key in eu-central-1"
    stack: str  # the member stack that makes it, whose TargetAccountIds its policy admits
    step: str  # the source-side step that copies into it

    @staticmethod
    def of(preflight: Preflight, region: str) -> ShareKey:
        request = preflight.request
        if region == request.source.region:
            return ShareKey(
                request.share_kms_key_arn,
                region,
                "shareKmsKeyArn",
                "the share key",
                SOURCE_STACK,
                "PrepareShareCopy",
            )
        return ShareKey(
            share_key_in(request, region),
            region,
            f"regionalShareKmsKeyArns.{region}",
            f"the regional share key in {region}",
            f"{REGION_KEY_STACK} (its stack in {region})",
            "CopyToRegion",
        )


def unused_note(preflight: Preflight) -> tuple[Severity, str]:
    """Sharing an unencrypted source uses no share key: then a key's problems cannot fail this run (a warning,
    saying so)."""
    source = preflight.source
    if source is not None and not source.encrypted:
        return "warning", (
            " (The source is unencrypted, so this run does not use the share keys; an encrypted source would.)"
        )
    return "error", ""


# --- each share key, in its Region ------------------------------------------------------------------------


def check_share_key(preflight: Preflight, account: Account) -> None:
    """The share key in the source's Region: usable, and its policy lets the source role and every target that
    reads the snapshot shared there use it."""
    _check_key(preflight, account, ShareKey.of(preflight, preflight.region), source_role=True)


def region_share_key(preflight: Preflight, account: Account) -> str:
    """The regional share key of the copy Region `account` is in (the source account there)."""
    return share_key_in(preflight.request, account.access.region)


def check_region_share_key(preflight: Preflight, account: Account) -> None:
    """The source account's share key in a Region it copies into (`account` is the source account there), read
    with the source role in that Region: usable, and its policy lets every target of the Region use it through
    RDS there. The source role's own use of it is both halves (its IAM policies name the key; the key policy only
    delegates to them), so check_copy_key_use judges it, not the key policy alone."""
    _check_key(preflight, account, ShareKey.of(preflight, account.access.region), source_role=False)


def _check_key(preflight: Preflight, account: Account, key: ShareKey, *, source_role: bool) -> None:
    request = preflight.request
    account_id = request.source.account_id
    kms = kms_client(account.session)
    severity, later = unused_note(preflight)
    metadata = describe_key(
        preflight, kms, key.key_arn, "share-key", account_id, key.field_name, severity, later, key.region
    )
    if metadata is None:
        return
    if metadata.get("KeyManager") == "AWS":
        preflight.add(
            severity,
            "share-key",
            account_id,
            key.key_arn,
            f"{key.name} {key.key_arn} is an AWS managed key (such as the default aws/rds key): a snapshot "
            "encrypted with it cannot be shared with another account, and its key policy can never "
            f"trust one. Create a customer-managed symmetric key in the source account ({key.stack} makes "
            f"one) and pass its ARN as {key.field_name}." + later,
        )
        return
    check_key_metadata(
        preflight, metadata, "share-key", account_id, key.key_arn, key.field_name, severity, later, key.region
    )
    try:
        policy_text = kms.get_key_policy(KeyId=key.key_arn, PolicyName=KEY_POLICY_NAME)["Policy"]
    except ClientError as error:
        preflight.add(
            "warning",
            "share-key-policy",
            account_id,
            key.key_arn,
            f"cannot read the key policy of {key.name} ({error_code(error)}); grant kms:GetKeyPolicy "
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
            key.key_arn,
            f"the policy of {key.name} is not a JSON object; it was not checked.",
        )
        return
    if source_role:
        # The source side: RDS in the source account copies into the share key for the source role.
        own = evaluate_key_policy(
            policy, account_id, key.region, CROSS_ACCOUNT_COPY_ACTIONS, request.source.role_arn
        )
        if own.certainly_missing:
            preflight.add(
                severity,
                "share-key-policy",
                account_id,
                key.key_arn,
                f"the policy of {key.name} does not let the source role {request.source.role_arn} use it "
                f"through RDS: missing {', '.join(own.certainly_missing)}, so {key.step} would fail. Keep the "
                f"statement that delegates to arn:{preflight.partition}:iam::{account_id}:root (kms:*), or "
                "allow these actions to the role in the key policy." + later,
            )
    # Only the targets that read a snapshot under this key: a target copying in two steps reads the copy in
    # its own Region, under that Region's key (migration.placement).
    for target in readers_in(request, key.region):
        verdict = evaluate_key_policy(
            policy, target.account_id, key.region, CROSS_ACCOUNT_COPY_ACTIONS, target.role_arn
        )
        _report_share_verdict(preflight, key, target, verdict, severity, later)


def _report_share_verdict(
    preflight: Preflight,
    key: ShareKey,
    target: Target,
    verdict: KeyPolicyVerdict,
    severity: Severity,
    later: str,
) -> None:
    account = target.account_id
    via = rds_via_service(key.region)
    notes = f" Notes: {'; '.join(verdict.notes)}." if verdict.notes else ""
    certain = verdict.certainly_missing
    if certain:
        parts = [
            f"the policy of {key.name} ({key.field_name}) does not let account {account} (role "
            f"{target.role_arn}) use the key for the cross-account copy or restore: missing {', '.join(certain)}, "
            "so CopyToTarget (or RestoreCluster) would fail with KmsKeyNotUsableError."
        ]
        wrong = [value for value in verdict.via_service_mismatches if value.lower() != via]
        if wrong:
            regions = ", ".join(wrong)
            parts.append(
                f"Statements for it are limited by kms:ViaService to {regions}, but the copy runs in "
                f"{key.region} through {via}: set the condition to {via}."
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
            f"Fix: add this statement to the key's policy (or add the account to TargetAccountIds of {key.stack}): "
            f"{json.dumps(statement)}"
        )
        preflight.add(severity, "share-key-policy", account, key.key_arn, " ".join(parts) + notes + later)
    elif verdict.unsure:
        preflight.add(
            "warning",
            "share-key-policy",
            account,
            key.key_arn,
            f"whether the policy of {key.name} lets account {account} use it for "
            f"{', '.join(verdict.unsure)} depends on conditions the preflight cannot evaluate; check "
            f"them against a request RDS makes in {key.region} for {target.role_arn}.{notes}",
        )
    else:
        preflight.add(
            "info",
            "share-key-policy",
            account,
            key.key_arn,
            f"the policy of {key.name} lets account {account} use it through {via} "
            f"({', '.join(verdict.allowed)}); the role {target.role_arn} also needs them in its own IAM "
            f"policy for this key (cross-account use needs both).{notes}",
        )


# --- the source role's use of a regional share key -----------------------------------------------------------


def source_encrypted(preflight: Preflight, account: Account) -> bool:
    """A share key is used only when the source is encrypted (an unencrypted source is copied and shared as it
    is, with no key)."""
    return preflight.source is not None and preflight.source.encrypted


def check_copy_key_use(preflight: Preflight, account: Account) -> None:
    """RDS encrypts the copy in a copy Region with the regional share key for the source role, through RDS of
    that Region (KmsKeyId of the CopyDBClusterSnapshot called there: "you must set KmsKeyId to the KMS key
    identifier you want to use to encrypt the copy ... in the destination AWS Region",
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBClusterSnapshot.html). The key of
    source-region-key.yaml delegates to the account's IAM, so the role's IAM policies must allow it too."""
    key = ShareKey.of(preflight, account.access.region)
    request = preflight.request
    via = rds_via_service(key.region)
    stack = "CopyRegions and CopyRegionShareKeyArns of the source stack"
    check_key_use(
        preflight,
        account.session,
        KeyUse(
            "copy-key-use",
            request.source.role_arn,
            key.key_arn,
            CROSS_ACCOUNT_COPY_ACTIONS,
            f"{key.step} would fail to encrypt the copy in {key.region}",
            {
                "kms:CreateGrant": "GrantCopyRegionShareKeysToRds",
                "kms:DescribeKey": "DescribeCopyRegionShareKeys",
                "*": "UseCopyRegionShareKeysThroughRds",
            },
            f"add {key.region} and {key.key_arn} to {stack}, whose statements {{sids}} of {SOURCE_STACK} allow "
            "them to the role through RDS",
            f"keep AWS's default statement delegating kms:* to arn:{preflight.partition}:iam::"
            f"{request.source.account_id}:root in the key's policy ({key.stack}), or allow them to the role "
            f"there with kms:ViaService {via}",
            key.region,
        ),
    )


# --- the share key, as each target uses it ---------------------------------------------------------------


def share_key_used(preflight: Preflight, account: TargetAccount) -> bool:
    """A target uses a share key when the source is encrypted (an unencrypted source is shared as it is)."""
    return source_encrypted(preflight, account)


def target_share_key(preflight: Preflight, account: TargetAccount) -> str:
    """The key of the snapshot the target reads (placement.share_key_for)."""
    return share_key_for(preflight.request, account.target)


def check_share_key_use(preflight: Preflight, account: TargetAccount) -> None:
    """The target role's own IAM policies let RDS use the key of the snapshot it reads, in that key's Region (the
    source's, or the target's own for a copy in two steps): the identity half of the key's use, whose key
    policy half the share-key-policy check judges."""
    request = preflight.request
    target = account.target
    region = shared_region(request, target)
    key_arn = share_key_for(request, target)
    via = rds_via_service(region)
    stack_key = (
        f"; the target stack's SourceShareKeyArn must be {key_arn}, the source's regional share key in {region} "
        f"(the ShareKeyArn output of {REGION_KEY_STACK}), which the run copies the snapshot under"
        if copies_in_two_steps(request, target)
        else ""
    )
    fix = (
        "add the statements {sids} of member-accounts/target-account.yaml to the role, which allow them on "
        f"the share key with kms:ViaService {via} (RDS uses the key in its own Region){stack_key}"
    )
    check_key_use(
        preflight,
        account.session,
        KeyUse(
            "share-key-use",
            target.role_arn,
            key_arn,
            CROSS_ACCOUNT_COPY_ACTIONS,
            "CopyToTarget (or RestoreCluster, restoring straight from the share) would fail",
            {
                "kms:CreateGrant": "GrantSourceShareKeyToRds",
                "kms:DescribeKey": "DescribeSourceShareKey",
                "*": "UseSourceShareKeyThroughRds",
            },
            fix,
            f"let the policy of the key allow them to account {target.account_id} with kms:ViaService {via}",
            region,
        ),
    )
