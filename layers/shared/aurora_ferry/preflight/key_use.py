"""May RDS use a key for a role? The identity half (the role's IAM policies, from IAM's policy simulator) and
the key policy half (the static evaluator), combined as KMS combines them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from aurora_ferry.core import (
    KeyPolicyVerdict,
    error_code,
    error_message,
    evaluate_key_policy,
    rds_via_service,
    without_account_delegation,
)
from aurora_ferry.preflight.context import (
    KEY_POLICY_NAME,
    Preflight,
    account_of,
    kms_client,
    parse_policy,
    untyped_client,
)

if TYPE_CHECKING:
    import boto3

# The grant operations carry kms:GrantIsForAWSResource; the simulation is given that context only for them.
_GRANT_ACTIONS = ("kms:CreateGrant",)


@dataclass(frozen=True)
class KeyUse:
    """A role RDS uses a key for, and the fix for each half; a fix's ``{sids}`` becomes the Sids (from
    ``sids``, ``"*"`` for the rest) of the member-accounts/ statements that grant the missing actions."""

    check: str
    role_arn: str
    key_arn: str
    actions: tuple[str, ...]
    consequence: str
    sids: Mapping[str, str]
    identity_fix: str
    key_policy_fix: str
    # Where RDS uses the key (kms:ViaService rds.<region>): the key's Region; None: the source's.
    region: str | None = None


@dataclass
class _Judgement:
    """The actions refused, by which half, and those whose answer rests on an assumed condition."""

    identity: dict[str, str] = field(default_factory=dict)  # refused by the role's IAM policies: EvalDecision
    key_policy: list[str] = field(default_factory=list)  # refused by the key policy
    unsure: list[str] = field(
        default_factory=list
    )  # the answer rests on a key policy condition assumed to hold


def check_key_use(preflight: Preflight, session: boto3.Session, use: KeyUse) -> None:
    """May RDS use the key for the role? The two halves, combined as KMS combines them.

    The identity half comes from IAM's policy simulator (see _simulate), the key policy half from the
    static evaluator. In the key's own account a key policy statement naming the role is enough on its
    own; one naming the account (its root) only delegates to IAM, so the identity half must allow too.
    An explicit Deny on either side wins.
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam
    """
    account = account_of(use.role_arn)
    policy, policy_problem = _read_key_policy(session, use)
    decisions, simulate_problem = _simulate(preflight, session, use)
    if policy is None and decisions is None:
        preflight.add(
            "warning",
            use.check,
            account,
            use.key_arn,
            f"could not check whether {use.role_arn} may use {use.key_arn}: {policy_problem}; "
            f"iam:SimulatePrincipalPolicy: {simulate_problem}. Grant the role kms:GetKeyPolicy on the key "
            "(and iam:SimulatePrincipalPolicy on itself) to check it.",
        )
        return
    full = direct = None
    if policy is not None:
        full = evaluate_key_policy(policy, account, use.region or preflight.region, use.actions, use.role_arn)
        if account_of(use.key_arn) == account:
            bare = without_account_delegation(policy, account)
            direct = evaluate_key_policy(
                bare, account, use.region or preflight.region, use.actions, use.role_arn
            )
    judged = _judge(use, decisions, full, direct)
    if decisions is None:
        how = (
            f"static check of the key policy, because iam:SimulatePrincipalPolicy was unavailable "
            f"({simulate_problem}); the role's own IAM policies were not checked"
        )
    elif policy is None:
        how = (
            "iam:SimulatePrincipalPolicy of the role's IAM policies; the key policy was not checked "
            f"({policy_problem})"
        )
    else:
        how = "iam:SimulatePrincipalPolicy of the role's IAM policies, static check of the key policy"
    notes = f" Notes: {'; '.join(full.notes)}." if full is not None and full.notes else ""
    parts = _identity_problems(use, judged, policy_read=policy is not None)
    if full is not None:
        parts += _key_policy_problems(preflight, use, judged, full)
    _report(preflight, use, parts, judged.unsure, how, notes)


def _read_key_policy(session: boto3.Session, use: KeyUse) -> tuple[dict[str, Any] | None, str]:
    """The key policy, or (None, why it could not be read). Only the key's own account may read it: GetKeyPolicy
    is not a cross-account operation (its policy is then the key owner's check, e.g. share-key-policy).
    https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html"""
    if account_of(use.key_arn) != account_of(use.role_arn):
        return None, "the key is another account's, whose policy only its owner reads (judged on that side)"
    try:
        text = kms_client(session).get_key_policy(KeyId=use.key_arn, PolicyName=KEY_POLICY_NAME)["Policy"]
    except ClientError as error:
        return None, f"kms:GetKeyPolicy: {error_code(error)}"
    policy = parse_policy(text)
    return policy, "" if policy is not None else "the key policy is not a JSON object"


def _judge(
    use: KeyUse,
    decisions: dict[str, str] | None,
    full: KeyPolicyVerdict | None,
    direct: KeyPolicyVerdict | None,
) -> _Judgement:
    judged = _Judgement()
    for action in use.actions:
        # Without the simulator the identity half is unknown: only the key policy is judged (as before).
        decision = "allowed" if decisions is None else decisions.get(action, "implicitDeny")
        if decision == "explicitDeny":  # an IAM Deny (or SCP, boundary) wins over any key policy
            judged.identity[action] = decision
            continue
        named = direct is not None and action in direct.allowed  # the key policy names the role itself
        if not named and full is not None and action not in full.allowed:
            judged.key_policy.append(action)
        elif not named and decision != "allowed":
            judged.identity[action] = decision
        if any(verdict is not None and action in verdict.unsure for verdict in (full, direct)):
            judged.unsure.append(action)
    return judged


def _identity_problems(use: KeyUse, judged: _Judgement, *, policy_read: bool) -> list[str]:
    parts: list[str] = []
    identity = judged.identity
    denying = [action for action in identity if identity[action] == "explicitDeny"]
    if denying:
        parts.append(
            f"An explicit Deny (IAM policy, SCP or permissions boundary) refuses {', '.join(denying)}, "
            "whatever the key policy says: remove or narrow it."
        )
    refused = [action for action in identity if action not in judged.unsure and action not in denying]
    if refused:
        listed = ", ".join(f"{action} ({identity[action]})" for action in refused)
        parts.append(
            f"Its IAM policies do not allow {listed}, and the key policy "
            + ("does not allow them to the role on its own" if policy_read else "was not read")
            + f". Fix: {use.identity_fix.replace('{sids}', _sids(use, refused))}."
        )
    return parts


def _key_policy_problems(
    preflight: Preflight, use: KeyUse, judged: _Judgement, full: KeyPolicyVerdict
) -> list[str]:
    missing = [action for action in judged.key_policy if action not in judged.unsure]
    if not missing:
        return []
    parts = [f"The key policy does not allow {', '.join(missing)} to the role or its account."]
    via = rds_via_service(use.region or preflight.region)
    wrong = [value for value in full.via_service_mismatches if value.lower() != via]
    if wrong:
        parts.append(f"Its statements are limited by kms:ViaService to {', '.join(wrong)}, not {via}.")
    denied = [action for action in full.denied if action in missing]
    if denied:
        parts.append(f"An explicit Deny in it refuses {', '.join(denied)}: remove or narrow it.")
    parts.append(f"Fix: {use.key_policy_fix.replace('{sids}', _sids(use, missing))}.")
    return parts


def _report(
    preflight: Preflight, use: KeyUse, parts: list[str], unsure: list[str], how: str, notes: str
) -> None:
    """One finding: an error naming every problem, a warning when the answer is unsure, else info; each says
    ``how`` the halves were judged."""
    account = account_of(use.role_arn)
    if parts:
        preflight.add(
            "error",
            use.check,
            account,
            use.key_arn,
            f"role {use.role_arn} may not use key {use.key_arn} of account {account} through RDS, so "
            f"{use.consequence}. {' '.join(parts)} ({how}).{notes}",
        )
    elif unsure:
        preflight.add(
            "warning",
            use.check,
            account,
            use.key_arn,
            f"whether {use.role_arn} may use {use.key_arn} for {', '.join(unsure)} depends on conditions "
            f"the preflight cannot evaluate ({how}).{notes}",
        )
    else:
        preflight.add(
            "info",
            use.check,
            account,
            use.key_arn,
            f"role {use.role_arn} may use {use.key_arn} through RDS ({', '.join(use.actions)}; {how}).{notes}",
        )


def _sids(use: KeyUse, actions: list[str]) -> str:
    """The template statements that grant ``actions``, each named once."""
    return ", ".join(dict.fromkeys(use.sids.get(action) or use.sids.get("*", "") for action in actions))


def _context_entry(name: str, value: str, kind: str = "string") -> dict[str, Any]:
    return {"ContextKeyName": name, "ContextKeyValues": [value], "ContextKeyType": kind}


def _simulate(preflight: Preflight, session: boto3.Session, use: KeyUse) -> tuple[dict[str, str] | None, str]:
    """EvalDecision per action of the role's own IAM policies, or (None, why the simulator was unavailable).

    The identity half only: the simulator accepts a ResourcePolicy (the key policy) only with a
    CallerArn when PolicySourceArn is not an IAM user, and CallerArn must be an IAM user, so no valid call
    for a role includes the key policy; check_key_use judges it statically. The context is that of a
    request RDS makes for the role in the key's Region (`use.region`, by default the source's).
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
    """
    iam = untyped_client(session, "iam")
    region = use.region or preflight.region
    base_context = [
        _context_entry("kms:ViaService", rds_via_service(region)),
        _context_entry("kms:CallerAccount", account_of(use.role_arn)),
        # RDS calls KMS in the key's Region: a policy limited by aws:RequestedRegion is judged there.
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-requestedregion
        _context_entry("aws:RequestedRegion", region),
    ]
    grant_context = [*base_context, _context_entry("kms:GrantIsForAWSResource", "true", "boolean")]
    grants = [action for action in use.actions if action in _GRANT_ACTIONS]
    others = [action for action in use.actions if action not in _GRANT_ACTIONS]
    decisions: dict[str, str] = {}
    try:
        for actions, context in ((grants, grant_context), (others, base_context)):
            if not actions:
                continue
            for page in iam.get_paginator("simulate_principal_policy").paginate(
                PolicySourceArn=use.role_arn,
                ActionNames=actions,
                ResourceArns=[use.key_arn],
                ContextEntries=context,
            ):
                for result in page.get("EvaluationResults", []):
                    decisions[str(result["EvalActionName"])] = str(result["EvalDecision"])
    except ClientError as error:
        # AccessDenied (the role may not simulate itself), NotImplemented and the like.
        return None, f"{error_code(error)}: {error_message(error)}"
    except (BotoCoreError, NotImplementedError) as error:
        # moto does not implement the simulator; the static check stands in for it.
        return None, str(error) or type(error).__name__
    return decisions, ""
