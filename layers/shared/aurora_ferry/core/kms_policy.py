"""Static evaluation of a KMS key policy: may a principal of an account use the key for these actions?

The preflight (``aurora_ferry.preflight``) reads a real key policy before a run and names what is missing.
The local twin judges key policies with an evaluator of its own (``ferry_cli.twin.iam.policy``), so a
mistake here shows up as a difference in the twin's tests. This is Lambda runtime code: it never imports
moto or the twin.

It follows the key policy evaluation logic (an action needs an applicable Allow and no applicable
Deny; an explicit Deny wins):
https://docs.aws.amazon.com/kms/latest/developerguide/policy-evaluation.html
and evaluates the condition keys whose value is known before the request is made, for a request that
RDS makes on the principal's behalf in ``region``:

- ``kms:ViaService`` is ``rds.<region>.amazonaws.com``;
- ``kms:CallerAccount`` and ``aws:PrincipalAccount`` are the principal's account;
- ``aws:PrincipalArn`` is ``principal_arn`` when given;
- ``kms:GrantIsForAWSResource`` is true for the grant operations (RDS creates its grants for an AWS
  resource) and absent from every other request.

https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
Any other condition cannot be known statically: it is assumed to hold (for Allow and Deny alike), and the
verdict says so in ``notes`` and lists the actions whose result rests on that assumption in ``unsure``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CROSS_ACCOUNT_COPY_ACTIONS",
    "SOURCE_KEY_COPY_ACTIONS",
    "KeyPolicyVerdict",
    "evaluate_key_policy",
    "key_policy_allows",
    "rds_via_service",
    "without_account_delegation",
]

# What RDS does with the keys during a cross-account copy: it creates a grant, describes the key,
# decrypts with the source key and re-encrypts / generates data keys under the target key. The key
# policy example for other accounts grants exactly these (with wildcards kms:ReEncrypt* and
# kms:GenerateDataKey*):
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/share-encrypted-snapshot.html
CROSS_ACCOUNT_COPY_ACTIONS: tuple[str, ...] = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
)

# What RDS does with the key of the source itself when the source role copies a snapshot under it to the
# share key (PrepareShareCopy, or the copy of an automated snapshot): it creates a grant for the copy,
# describes the key and decrypts with it. member-accounts/source-account.yaml allows these on the keys in
# SourceClusterKmsKeyArns (statements DescribeKeys, ReadSourceClusterKeysThroughRds,
# GrantSourceClusterKeysToRds).
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-copy-snapshot.html
SOURCE_KEY_COPY_ACTIONS: tuple[str, ...] = ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey")

_IAM_PRINCIPAL_ARN = re.compile(r"^arn:[\w-]+:(?:iam|sts)::(?P<account>\d{12}):.+$")

# kms:GrantIsForAWSResource is only in the request context of these operations:
# https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-is-for-aws-resource
_GRANT_ACTIONS = frozenset({"kms:creategrant", "kms:listgrants", "kms:revokegrant"})

_VIA_SERVICE = "kms:viaservice"
_CALLER_ACCOUNT = "kms:calleraccount"
_PRINCIPAL_ACCOUNT = "aws:principalaccount"
_PRINCIPAL_ARN = "aws:principalarn"
_GRANT_FOR_AWS_RESOURCE = "kms:grantisforawsresource"
_KNOWN_KEYS = frozenset(
    {_VIA_SERVICE, _CALLER_ACCOUNT, _PRINCIPAL_ACCOUNT, _PRINCIPAL_ARN, _GRANT_FOR_AWS_RESOURCE}
)
_STRING_OPERATORS = frozenset(
    {
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "ArnEquals",
        "ArnNotEquals",
        "ArnLike",
        "ArnNotLike",
    }
)


def rds_via_service(region: str) -> str:
    """The ``kms:ViaService`` value of a request RDS makes in ``region``."""
    return f"rds.{region}.amazonaws.com"


@dataclass(frozen=True)
class KeyPolicyVerdict:
    """What a key policy lets one principal do with the key, for the actions asked about.

    ``allowed`` and ``missing`` partition the actions; ``denied`` are the missing ones an explicit
    Deny refuses; ``unsure`` are actions (allowed or missing) whose result rests on a condition that
    was assumed to hold; ``via_service_mismatches`` are the ``kms:ViaService`` values of Allow
    statements that would have applied through another endpoint (e.g. another region's RDS).
    """

    actions: tuple[str, ...]
    allowed: tuple[str, ...]
    missing: tuple[str, ...]
    denied: tuple[str, ...] = ()
    unsure: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    via_service_mismatches: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def certainly_missing(self) -> tuple[str, ...]:
        """Missing whatever the conditions that could not be evaluated turn out to be."""
        return tuple(action for action in self.missing if action not in self.unsure)

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": list(self.actions),
            "allowed": list(self.allowed),
            "missing": list(self.missing),
            "denied": list(self.denied),
            "unsure": list(self.unsure),
            "notes": list(self.notes),
            "viaServiceMismatches": list(self.via_service_mismatches),
        }


def key_policy_allows(
    policy: dict[str, Any], account_id: str, region: str, actions: Iterable[str]
) -> list[str]:
    """Return the ``actions`` that ``policy`` does NOT allow ``account_id`` (empty list: all allowed).

    Any principal of the account counts (a statement naming one role of the account applies), and
    conditions that cannot be evaluated statically are assumed to hold; see ``evaluate_key_policy``.
    """
    return list(evaluate_key_policy(policy, account_id, region, actions).missing)


def evaluate_key_policy(
    policy: dict[str, Any],
    principal_account: str,
    region: str,
    actions: Iterable[str],
    principal_arn: str | None = None,
) -> KeyPolicyVerdict:
    """Which of ``actions`` the key policy allows a principal of ``principal_account``, for requests
    RDS makes on its behalf in ``region``.

    With ``principal_arn`` (an IAM role or user ARN) a statement naming another principal of the same
    account does not apply, and ``aws:PrincipalArn`` conditions are evaluated; without it any
    principal of the account counts. Statements with ``NotPrincipal`` are skipped (noted).
    """
    context = _RequestContext(principal_account, region, principal_arn)
    statements = [s for s in _as_list(policy.get("Statement")) if isinstance(s, dict)]
    requested = tuple(dict.fromkeys(actions))
    allowed: list[str] = []
    missing: list[str] = []
    denied: list[str] = []
    unsure: list[str] = []
    notes = _Notes()
    mismatches: dict[str, None] = {}
    for action in requested:
        allow_states: set[bool | None] = set()
        deny_states: set[bool | None] = set()
        for index, statement in enumerate(statements):
            if not _action_matches(statement, action):
                continue
            label = _label(statement, index)
            if "NotPrincipal" in statement:
                notes.add(f"statement {label} uses NotPrincipal, which is not evaluated")
                continue
            if not _principal_matches(statement.get("Principal"), principal_account, principal_arn):
                continue
            effect = str(statement.get("Effect", "")).lower()
            result = _evaluate_condition(statement.get("Condition"), context, action)
            for unknown in result.unknown:
                notes.add(
                    f"statement {label}: condition {unknown} cannot be evaluated before the run; assumed to hold"
                )
            if effect == "allow":
                allow_states.add(result.state)
                mismatches.update(dict.fromkeys(result.via_service_mismatches))
            elif effect == "deny":
                deny_states.add(result.state)
                if result.state is not False:
                    notes.add(f"statement {label} denies {action}")
        # As evaluated (unknown conditions hold) and with every unknown condition false: when the two
        # disagree, the result depends on something only the real request will tell.
        is_denied = True in deny_states or None in deny_states
        is_allowed = not is_denied and (True in allow_states or None in allow_states)
        surely_allowed = True not in deny_states and True in allow_states
        (allowed if is_allowed else missing).append(action)
        if is_denied:
            denied.append(action)
        if is_allowed != surely_allowed:
            unsure.append(action)
    return KeyPolicyVerdict(
        actions=requested,
        allowed=tuple(allowed),
        missing=tuple(missing),
        denied=tuple(denied),
        unsure=tuple(unsure),
        notes=notes.items(),
        via_service_mismatches=tuple(mismatches),
    )


def without_account_delegation(policy: dict[str, Any], account_id: str) -> dict[str, Any]:
    """``policy`` without the Allow principals that name ``account_id`` itself (its root ARN or bare id).

    Such a principal does not let anyone in the account use the key on its own: it delegates to the
    account's IAM policies, which must allow the action too.
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam
    What is left of the Allow statements (a role named directly, ``"*"`` with conditions) is enough
    without IAM for a principal of the key's own account; Deny statements are kept as they are.
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
    """
    kept: list[Any] = []
    for statement in _as_list(policy.get("Statement")):
        principal = statement.get("Principal") if isinstance(statement, dict) else None
        if not isinstance(principal, dict) or str(statement.get("Effect", "")).lower() != "allow":
            kept.append(statement)
            continue
        others = [value for value in _as_list(principal.get("AWS")) if not _names_account(value, account_id)]
        narrowed = {name: value for name, value in principal.items() if name != "AWS"}
        if others:
            narrowed["AWS"] = others
        if narrowed:
            kept.append({**statement, "Principal": narrowed})
    return {**policy, "Statement": kept}


# --- helpers ----------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _wildcard_match(pattern: str, value: str, ignore_case: bool = True) -> bool:
    """IAM string wildcards: ``*`` any run of characters, ``?`` one character; actions are
    case-insensitive. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
    """
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.IGNORECASE if ignore_case else 0) is not None


def _principal_matches(principal: Any, account_id: str, principal_arn: str | None = None) -> bool:
    """Does the statement's Principal cover (a principal of) ``account_id``?

    Key policies name other accounts as ``"111122223333"``, ``arn:aws:iam::111122223333:root`` or
    a role / user ARN in that account; ``"*"`` is everyone:
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
    A role or user ARN covers only that principal when ``principal_arn`` says which one is asking.
    """
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in _as_list(principal.get("AWS")):
        text = str(value)
        if text in ("*", account_id):
            return True
        match = _IAM_PRINCIPAL_ARN.match(text)
        if match is None or match.group("account") != account_id:
            continue
        if principal_arn is None or text.endswith(":root") or text == principal_arn:
            return True
    return False


def _names_account(value: Any, account_id: str) -> bool:
    """``"111122223333"`` or ``arn:<partition>:iam::111122223333:root``: the account, not one principal."""
    text = str(value)
    match = _IAM_PRINCIPAL_ARN.match(text)
    return text == account_id or (
        match is not None and match.group("account") == account_id and text.endswith(":root")
    )


def _action_matches(statement: dict[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_wildcard_match(str(p), action) for p in _as_list(statement["NotAction"]))
    return any(_wildcard_match(str(p), action) for p in _as_list(statement.get("Action")))


# --- conditions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RequestContext:
    """The request context keys known before the request: RDS acting for the principal in a region."""

    account: str
    region: str
    principal_arn: str | None

    def value(self, key: str, action: str) -> str | None:
        """The key's value in this request; None when the request does not carry the key."""
        if key == _VIA_SERVICE:
            return rds_via_service(self.region)
        if key in (_CALLER_ACCOUNT, _PRINCIPAL_ACCOUNT):
            return self.account
        if key == _PRINCIPAL_ARN:
            return self.principal_arn
        if key == _GRANT_FOR_AWS_RESOURCE:
            return "true" if action.lower() in _GRANT_ACTIONS else None
        return None


@dataclass(frozen=True)
class _ConditionResult:
    state: bool | None  # True: holds, False: fails, None: holds only if the unknown parts hold
    unknown: tuple[str, ...] = ()
    via_service_mismatches: tuple[str, ...] = ()


def _evaluate_condition(condition: Any, context: _RequestContext, action: str) -> _ConditionResult:
    """All operators and keys of a Condition block must hold (AND); values of one key are ORed."""
    if not isinstance(condition, Mapping):
        return _ConditionResult(True)
    states: list[bool | None] = []
    unknown: list[str] = []
    mismatches: list[str] = []
    for operator, block in condition.items():
        if not isinstance(block, Mapping):
            continue
        for key, raw_values in block.items():
            values = [str(v) for v in _as_list(raw_values)]
            state = _evaluate_key(str(operator), str(key).lower(), values, context, action)
            states.append(state)
            if state is None:
                unknown.append(f"{operator} {key}")
            elif state is False and str(key).lower() == _VIA_SERVICE:
                mismatches.extend(values)
    if False in states:
        state_all: bool | None = False
    elif None in states:
        state_all = None
    else:
        state_all = True
    return _ConditionResult(state_all, tuple(unknown), tuple(mismatches))


def _evaluate_key(
    operator: str, key: str, values: list[str], context: _RequestContext, action: str
) -> bool | None:
    """One condition key under one operator; None when it cannot be known before the request.

    Operators and missing keys follow
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
    (every key here is single-valued, so ForAnyValue/ForAllValues behave like the plain operator
    except that ForAllValues also holds when the key is absent).
    """
    if key not in _KNOWN_KEYS or (key == _PRINCIPAL_ARN and context.principal_arn is None):
        return None
    name = operator.rsplit(":", maxsplit=1)[-1]
    if_exists = name.endswith("IfExists")
    base = name.removesuffix("IfExists")
    value = context.value(key, action)
    if base == "Null":
        # "Null": "true" requires the key to be absent, "false" present.
        return any(v.lower() == "true" for v in values) == (value is None)
    if value is None:
        negated = base.startswith(("StringNot", "ArnNot"))
        return if_exists or negated or operator.startswith("ForAllValues:")
    return _compare(base, key, values, value)


def _compare(base: str, key: str, values: list[str], value: str) -> bool | None:
    """The key's ``value`` in the request against the condition's ``values`` under the operator ``base``
    (without IfExists); None for an operator the evaluator does not know."""
    if base == "Bool":
        return any(v.lower() == value.lower() for v in values)
    if base not in _STRING_OPERATORS:
        return None
    negated = "Not" in base
    wildcards = base.endswith("Like") or base.startswith("Arn")
    # ARNs compare case-sensitively; service names and account ids have no case to speak of.
    ignore_case = base.endswith("IgnoreCase") or key != _PRINCIPAL_ARN
    if wildcards:
        hit = any(_wildcard_match(v, value, ignore_case) for v in values)
    elif ignore_case:
        hit = any(v.lower() == value.lower() for v in values)
    else:
        hit = value in values
    return hit != negated


@dataclass
class _Notes:
    _items: dict[str, None] = field(default_factory=dict)

    def add(self, note: str) -> None:
        self._items[note] = None

    def items(self) -> tuple[str, ...]:
        return tuple(self._items)


def _label(statement: dict[str, Any], index: int) -> str:
    sid = statement.get("Sid")
    return repr(str(sid)) if sid else f"#{index + 1}"
