"""IAM policy evaluation for the twin: may this principal perform this action on this resource?

The twin's own judge, written from the IAM documentation and independent of moto, boto3 and the product:

- single account: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- across accounts:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
- KMS key policies: https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
- role trust policies: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html
- statement elements: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html
- denial wording: https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html

Only identity policies and one resource-based policy are modelled: no SCPs, RCPs, permissions boundaries or
session policies (the twin's worlds have none). A statement IAM would refuse to store (no Action, both Action
and NotAction, a Principal in an identity policy, an unknown condition operator) fails closed: as an Allow it
grants nothing, as a Deny it still denies whatever its well-formed elements cover.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypedDict, Unpack

from ferry_cli.twin.iam.conditions import Context, conditions_hold, normalize_context, wildcard_match

NO_IDENTITY_ALLOW = "because no identity-based policy allows the {action} action"
NO_RESOURCE_ALLOW = "because no resource-based policy allows the {action} action"
IDENTITY_DENY = "with an explicit deny in an identity-based policy"
RESOURCE_DENY = "with an explicit deny in a resource-based policy"

RESOURCE_POLICY_NAME = "resource-policy"
"""The name a resource policy's statements are labelled with in ``Verdict.decided_by`` unless told otherwise."""

PolicyDocument = Mapping[str, Any] | str
"""A policy document, parsed or as JSON text."""

_ACCOUNT_ROOT = re.compile(r"arn:[^:]+:iam::(\d{12}):root")
_ACCOUNT_ID = re.compile(r"\d{12}")


@dataclass(frozen=True)
class Principal:
    """The caller.

    ``arn`` is the caller as IAM names it in messages (a role session is ``arn:aws:sts::…:assumed-role/r/s``);
    ``principal_arn`` is what ``aws:PrincipalArn`` holds (for a role session, the role's ARN with its path);
    ``service`` is set for an AWS service principal such as ``events.amazonaws.com``."""

    arn: str
    account_id: str
    principal_arn: str
    service: str | None = None


@dataclass(frozen=True)
class AuthRequest:
    """One authorization question: ``action`` (``service:Action``, case-insensitive) on ``resource`` (an ARN
    or ``*``), with the request's condition keys (names case-insensitive, a value or a list of values)."""

    action: str
    resource: str
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """The decision. ``reason`` is "" when allowed, else one of AWS's phrasings; ``decided_by`` names the
    deciding statement as ``<policy name>/<Sid or #index>`` (index from 0) when one statement decided."""

    allowed: bool
    reason: str
    decided_by: str | None = None


class Match(Enum):
    """How a statement covers a caller."""

    NONE = "none"
    DIRECT = "direct"
    """It applies to the caller itself (every identity-policy statement, or a resource-policy Principal naming
    the caller's role, session, service or ``*``)."""
    ACCOUNT = "account"
    """A resource-policy Principal naming the caller's account: a delegation that the caller's own identity
    policies must complete."""


@dataclass(frozen=True)
class PolicyEvaluation:
    """What one policy document says about a request: the label of its first applicable Deny, of its first
    Allow that applies directly, and of its first Allow that applies through the caller's account."""

    deny: str | None = None
    direct_allow: str | None = None
    account_allow: str | None = None


def _strings(value: Any) -> tuple[str, ...] | None:
    """A string-or-list element as a tuple; ``None`` when it is neither (IAM would reject the policy)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and value and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _either(
    statement: Mapping[str, Any], positive: str, negative: str
) -> tuple[tuple[str, ...], bool] | None:
    """The patterns of an element and its ``Not`` twin, and whether it was the ``Not`` form."""
    if (positive in statement) == (negative in statement):
        return None
    negated = negative in statement
    patterns = _strings(statement[negative if negated else positive])
    return None if patterns is None else (patterns, negated)


def _action_matches(statement: Mapping[str, Any], action: str) -> bool | None:
    element = _either(statement, "Action", "NotAction")
    if element is None:
        return None
    patterns, negated = element
    hit = any(wildcard_match(pattern, action, ignore_case=True) for pattern in patterns)
    return hit != negated


def _resource_matches(
    statement: Mapping[str, Any], resource: str, *, in_resource_policy: bool
) -> bool | None:
    if "Resource" not in statement and "NotResource" not in statement:
        # A resource policy is attached to its resource, so it may leave Resource out (trust policies do);
        # an identity policy must say which resources it covers.
        return True if in_resource_policy else None
    element = _either(statement, "Resource", "NotResource")
    if element is None:
        return None
    patterns, negated = element
    # ARNs are case-sensitive; "*" matches any resource, including the "*" of actions with no resource type.
    hit = any(wildcard_match(pattern, resource) for pattern in patterns)
    return hit != negated


def _aws_principal(entry: str, principal: Principal) -> Match:
    if entry == "*":
        return Match.DIRECT
    if principal.service is not None:
        return Match.NONE
    root = _ACCOUNT_ROOT.fullmatch(entry)
    account = root.group(1) if root else entry if _ACCOUNT_ID.fullmatch(entry) else None
    if account is not None:
        return Match.ACCOUNT if account == principal.account_id else Match.NONE
    # IAM resolves a named role or session when the policy is saved, so the ARN must match exactly, path included.
    return Match.DIRECT if entry in {principal.arn, principal.principal_arn} else Match.NONE


def _principal_entries(element: Any, principal: Principal) -> Match | None:
    """The best match of a Principal/NotPrincipal element for the caller; ``None`` when malformed."""
    if element == "*":
        return Match.DIRECT
    if not isinstance(element, Mapping) or not element:
        return None
    best = Match.NONE
    for kind, raw in element.items():
        entries = _strings(raw)
        if entries is None:
            return None
        for entry in entries:
            if kind == "AWS":
                found = _aws_principal(entry, principal)
            elif kind == "Service":
                found = (
                    Match.DIRECT
                    if entry == "*" or entry.lower() == (principal.service or "").lower()
                    else Match.NONE
                )
            else:
                # Federated and CanonicalUser principals never call the twin.
                found = Match.NONE
            if found is Match.DIRECT:
                return found
            if found is Match.ACCOUNT:
                best = found
    return best


def _principal_matches(
    statement: Mapping[str, Any], principal: Principal, *, in_resource_policy: bool
) -> Match | None:
    if not in_resource_policy:
        # An identity policy applies to its own identity and may not name a principal.
        return Match.DIRECT if "Principal" not in statement and "NotPrincipal" not in statement else None
    if ("Principal" in statement) == ("NotPrincipal" in statement):
        return None
    if "Principal" in statement:
        return _principal_entries(statement["Principal"], principal)
    excluded = _principal_entries(statement["NotPrincipal"], principal)
    if excluded is None:
        return None
    # Everyone not listed is covered, as directly as "*" would cover them. Listing the caller's account excludes
    # every principal in it, which is why AWS asks for the account next to any role or session in NotPrincipal.
    return Match.DIRECT if excluded is Match.NONE else Match.NONE


def _context_for(principal: Principal, request: AuthRequest, resource_account: str | None) -> Context:
    """The request context plus the global keys IAM fills in from the caller (the request may override them)."""
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
    implied: dict[str, str] = {}
    if principal.service is not None:
        implied["aws:PrincipalServiceName"] = principal.service
    else:
        implied["aws:PrincipalAccount"] = principal.account_id
        if principal.principal_arn:
            implied["aws:PrincipalArn"] = principal.principal_arn
    if resource_account:
        implied["aws:ResourceAccount"] = resource_account
    return normalize_context({**implied, **request.context})


class Placement(TypedDict, total=False):
    """Where the policy that ``statement_applies`` or ``evaluate`` judges stands: ``in_resource_policy``, as a
    resource's own policy (else an identity policy); ``resource_account``, the account that owns the resource
    (``aws:ResourceAccount``, else not in the context)."""

    in_resource_policy: bool
    resource_account: str | None


def _placed(
    principal: Principal,
    request: AuthRequest,
    *,
    in_resource_policy: bool = False,
    resource_account: str | None = None,
) -> tuple[Context, bool]:
    """A `Placement`'s request context, as ``authorize`` builds it, and whether the policy is a resource policy."""
    return _context_for(principal, request, resource_account), in_resource_policy


def _applies(
    statement: Mapping[str, Any],
    principal: Principal,
    request: AuthRequest,
    context: Context,
    *,
    in_resource_policy: bool,
) -> Match:
    effect = statement.get("Effect")
    if not isinstance(effect, str) or effect not in {"Allow", "Deny"}:
        return Match.NONE
    # Undecidable (malformed) elements count as matching for a Deny and as not matching for an Allow.
    undecidable = effect == "Deny"
    matched = _principal_matches(statement, principal, in_resource_policy=in_resource_policy)
    if matched is None:
        matched = Match.DIRECT if undecidable else Match.NONE
    if matched is Match.NONE:
        return Match.NONE
    checks = (
        _action_matches(statement, request.action),
        _resource_matches(statement, request.resource, in_resource_policy=in_resource_policy),
        conditions_hold(statement.get("Condition"), context),
    )
    return matched if all(undecidable if check is None else check for check in checks) else Match.NONE


def statement_applies(
    statement: Mapping[str, Any], principal: Principal, request: AuthRequest, **placement: Unpack[Placement]
) -> Match:
    """Whether one statement (of either effect) covers this caller, action, resource and context."""
    context, in_resource_policy = _placed(principal, request, **placement)
    return _applies(statement, principal, request, context, in_resource_policy=in_resource_policy)


def statements(document: PolicyDocument) -> list[tuple[str, Mapping[str, Any]]]:
    """A document's statements with their labels (Sid, else ``#index``); none when the document is unreadable."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    if not isinstance(document, Mapping):
        return []
    raw = document.get("Statement", [])
    listed = [raw] if isinstance(raw, Mapping) else raw if isinstance(raw, list) else []
    labelled: list[tuple[str, Mapping[str, Any]]] = []
    for index, statement in enumerate(listed):
        if isinstance(statement, Mapping):
            sid = statement.get("Sid")
            labelled.append((sid if isinstance(sid, str) and sid else f"#{index}", statement))
    return labelled


def _evaluate(
    name: str,
    document: PolicyDocument,
    principal: Principal,
    request: AuthRequest,
    context: Context,
    *,
    in_resource_policy: bool,
) -> PolicyEvaluation:
    deny = direct = account = None
    for sid, statement in statements(document):
        matched = _applies(statement, principal, request, context, in_resource_policy=in_resource_policy)
        if matched is Match.NONE:
            continue
        label = f"{name}/{sid}"
        if statement.get("Effect") == "Deny":
            # Denying the account root denies everyone in the account, so the kind of match does not matter.
            deny = deny or label
        elif matched is Match.DIRECT:
            direct = direct or label
        else:
            account = account or label
    return PolicyEvaluation(deny=deny, direct_allow=direct, account_allow=account)


def evaluate(
    name: str,
    document: PolicyDocument,
    principal: Principal,
    request: AuthRequest,
    **placement: Unpack[Placement],
) -> PolicyEvaluation:
    """What one policy document says about a request, before the documents are combined by ``authorize``."""
    context, in_resource_policy = _placed(principal, request, **placement)
    return _evaluate(name, document, principal, request, context, in_resource_policy=in_resource_policy)


def authorize(
    principal: Principal,
    request: AuthRequest,
    identity_policies: Sequence[tuple[str, PolicyDocument]],
    resource_policy: PolicyDocument | None,
    resource_account: str,
    *,
    resource_policy_required: bool = False,
    resource_policy_name: str = RESOURCE_POLICY_NAME,
) -> Verdict:
    """Decide a request as IAM does from the caller's identity policies and the resource's policy.

    ``resource_policy_required`` is for policies that are the only source of access to their resource (KMS
    key policies, role trust policies): identity policies count only where the resource policy delegates to
    the caller's account. A service principal is judged by the resource policy alone."""
    context = _context_for(principal, request, resource_account)
    identity = [
        _evaluate(name, document, principal, request, context, in_resource_policy=False)
        for name, document in ([] if principal.service is not None else identity_policies)
    ]
    resource = (
        PolicyEvaluation()
        if resource_policy is None
        else _evaluate(
            resource_policy_name, resource_policy, principal, request, context, in_resource_policy=True
        )
    )

    # 1. An explicit deny in any applicable policy is final.
    identity_deny = next((result.deny for result in identity if result.deny), None)
    if identity_deny:
        return Verdict(False, IDENTITY_DENY, identity_deny)
    if resource.deny:
        return Verdict(False, RESOURCE_DENY, resource.deny)

    identity_allow = next((result.direct_allow for result in identity if result.direct_allow), None)

    # 2. A service principal has no identity policies: the resource policy must name it.
    if principal.service is not None:
        return _granted(resource.direct_allow, NO_RESOURCE_ALLOW, request.action)

    # 3. No resource policy to consult: identity policies alone decide (same account or not, as the caller
    #    asked; resources shared by other means are the authorizer's business).
    if resource_policy is None and not resource_policy_required:
        return _granted(identity_allow, NO_IDENTITY_ALLOW, request.action)

    cross_account = principal.account_id != resource_account
    return _with_resource_policy(
        resource,
        identity_allow,
        request.action,
        cross_account=cross_account,
        required=resource_policy_required,
    )


def _with_resource_policy(
    resource: PolicyEvaluation,
    identity_allow: str | None,
    action: str,
    *,
    cross_account: bool,
    required: bool,
) -> Verdict:
    # 4. Across accounts both sides must allow: the resource policy (directly or through the caller's account)
    #    and the caller's identity policies.
    if cross_account:
        identity_decides = bool(resource.direct_allow or resource.account_allow)
    # 5. Same account. A direct grant in the resource policy is enough on its own.
    elif resource.direct_allow:
        return Verdict(True, "", resource.direct_allow)
    else:
        # KMS and STS ignore identity policies unless the key / trust policy delegates to the account.
        identity_decides = bool(resource.account_allow) or not required
    if not identity_decides:
        return Verdict(False, NO_RESOURCE_ALLOW.format(action=action))
    return _granted(identity_allow, NO_IDENTITY_ALLOW, action)


def _granted(label: str | None, denial: str, action: str) -> Verdict:
    """Allowed by the statement `label` names, if any; else denied for want of an allow (`denial`)."""
    return Verdict(True, "", label) if label else Verdict(False, denial.format(action=action))


def denial_message(principal: Principal, request: AuthRequest, verdict: Verdict) -> str:
    """The AccessDenied message AWS returns for this verdict, e.g. ``User: arn:… is not authorized to perform:
    rds:CreateDBClusterSnapshot on resource: arn:… because no identity-based policy allows the … action``."""
    if verdict.allowed:
        raise ValueError("an allowed verdict has no denial message")
    return (
        f"User: {principal.arn} is not authorized to perform: {request.action} "
        f"on resource: {request.resource} {verdict.reason}"
    )
