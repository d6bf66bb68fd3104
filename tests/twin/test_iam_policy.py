"""The twin's IAM policy evaluation (ferry_cli.twin.iam.policy and .conditions), pure Python, no moto.

Each test states one rule of
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html (and its
cross-account page) and would fail if the engine got that rule wrong.
"""

from __future__ import annotations

from typing import Any

import pytest

from ferry_cli.twin.iam.policy import (
    AuthRequest,
    Match,
    Principal,
    Verdict,
    authorize,
    denial_message,
    evaluate,
    statement_applies,
    statements,
)

pytestmark = pytest.mark.twin

SOURCE = "111111111111"
TARGET = "222222222222"
OTHER = "333333333333"
REGION = "eu-west-1"
CLUSTER = f"arn:aws:rds:{REGION}:{SOURCE}:cluster:orders"
KEY = f"arn:aws:kms:{REGION}:{SOURCE}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TARGET_KEY = f"arn:aws:kms:{REGION}:{TARGET}:key/abcd1234-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = f"arn:aws:iam::{SOURCE}:role/aurora-ferry-source"

SOURCE_SESSION = Principal(
    arn=f"arn:aws:sts::{SOURCE}:assumed-role/aurora-ferry-source/aurora-ferry",
    account_id=SOURCE,
    principal_arn=ROLE_ARN,
)
TARGET_SESSION = Principal(
    arn=f"arn:aws:sts::{TARGET}:assumed-role/aurora-ferry-target/aurora-ferry",
    account_id=TARGET,
    principal_arn=f"arn:aws:iam::{TARGET}:role/aurora-ferry-target",
)
FUNCTION_ROLE = Principal(
    arn=f"arn:aws:sts::{TARGET}:assumed-role/fn-role-ABC/copy-snapshot",
    account_id=TARGET,
    principal_arn=f"arn:aws:iam::{TARGET}:role/aurora-ferry/fn-role-ABC",
)
EVENTS = Principal(
    arn="events.amazonaws.com", account_id=SOURCE, principal_arn="", service="events.amazonaws.com"
)


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def identity_only(
    principal: Principal, request: AuthRequest, *statements: dict[str, Any], resource_account: str = SOURCE
) -> Verdict:
    return authorize(principal, request, [("role-policy", policy(*statements))], None, resource_account)


def request(action: str, resource: str = "*", /, **context: str | list[str]) -> AuthRequest:
    return AuthRequest(action=action, resource=resource, context=context)


# --- Action, NotAction, Resource, NotResource ---------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        ("kms:ReEncryptFrom", True),
        ("kms:ReEncryptTo", True),
        ("KMS:reencryptto", True),  # service and action names are case-insensitive
        ("kms:ReEncrypt", True),  # * matches the empty run too
        ("kms:Encrypt", False),
        ("kms2:ReEncryptFrom", False),
    ],
)
def test_action_wildcard_is_case_insensitive(action: str, allowed: bool) -> None:
    # Given an identity policy allowing kms:ReEncrypt*
    # When the role calls the action
    verdict = identity_only(SOURCE_SESSION, request(action, KEY), allow("kms:ReEncrypt*"))
    # Then only actions the glob covers, in any case, are allowed
    assert verdict.allowed is allowed


def test_question_mark_matches_exactly_one_character() -> None:
    # Given a policy whose action uses ? for one character
    statement = allow("rds:Describe?BClusters")
    # Then it matches one character, not zero or two
    assert identity_only(SOURCE_SESSION, request("rds:DescribeDBClusters"), statement).allowed
    assert not identity_only(SOURCE_SESSION, request("rds:DescribeBClusters"), statement).allowed
    assert not identity_only(SOURCE_SESSION, request("rds:DescribeXDBClusters"), statement).allowed


def test_not_action_allows_everything_but_the_listed_actions() -> None:
    # Given an Allow with NotAction iam:*
    statement = {"Effect": "Allow", "NotAction": ["iam:*", "sts:AssumeRole"], "Resource": "*"}
    # When the role calls an RDS action, an IAM action and sts:AssumeRole
    # Then only the RDS action is allowed
    assert identity_only(SOURCE_SESSION, request("rds:DeleteDBClusterSnapshot"), statement).allowed
    assert not identity_only(SOURCE_SESSION, request("iam:PassRole"), statement).allowed
    assert not identity_only(SOURCE_SESSION, request("STS:assumerole"), statement).allowed


def test_not_resource_allows_everything_but_the_listed_resources() -> None:
    # Given an Allow on every resource except the orders cluster
    statement = {"Effect": "Allow", "Action": "rds:*", "NotResource": CLUSTER}
    # Then another cluster is allowed and the orders cluster is not
    other = f"arn:aws:rds:{REGION}:{SOURCE}:cluster:billing"
    assert identity_only(SOURCE_SESSION, request("rds:DeleteDBCluster", other), statement).allowed
    assert not identity_only(SOURCE_SESSION, request("rds:DeleteDBCluster", CLUSTER), statement).allowed


@pytest.mark.parametrize(
    ("snapshot", "allowed"),
    [
        ("aurora-ferry-orders-20240101", True),
        ("aurora-ferry-", True),
        ("ferry-x", False),
        ("Aurora-Ferry-orders", False),  # resource ARNs are case-sensitive
    ],
)
def test_resource_wildcard_with_a_name_prefix(snapshot: str, allowed: bool) -> None:
    # Given a policy limited to snapshots named aurora-ferry-*
    pattern = f"arn:aws:rds:{REGION}:{SOURCE}:cluster-snapshot:aurora-ferry-*"
    resource = f"arn:aws:rds:{REGION}:{SOURCE}:cluster-snapshot:{snapshot}"
    # When the role deletes the snapshot
    verdict = identity_only(
        SOURCE_SESSION, request("rds:DeleteDBClusterSnapshot", resource), allow("rds:*", pattern)
    )
    # Then only the tool's own snapshots match
    assert verdict.allowed is allowed


def test_a_resource_pattern_does_not_cover_the_star_resource() -> None:
    # Given an action authorized on "*" (it has no resource type) and a policy naming one cluster
    # Then the cluster-scoped statement does not cover it, and a "*" statement does
    assert not identity_only(
        SOURCE_SESSION, request("rds:DescribeDBClusters"), allow("rds:*", CLUSTER)
    ).allowed
    assert identity_only(SOURCE_SESSION, request("rds:DescribeDBClusters"), allow("rds:*")).allowed


def test_no_policy_means_implicit_deny() -> None:
    # Given a role with no policies
    verdict = authorize(SOURCE_SESSION, request("rds:DescribeDBClusters"), [], None, SOURCE)
    # Then the request is implicitly denied, naming the action
    assert verdict == Verdict(
        False, "because no identity-based policy allows the rds:DescribeDBClusters action", None
    )


# --- Deny precedence and malformed statements ---------------------------------------------------------


def test_explicit_deny_beats_an_allow_and_names_the_statement() -> None:
    # Given one policy allowing rds:* and another denying snapshot deletion
    policies = [
        ("allow-all", policy(allow("rds:*"))),
        ("guard", policy({"Sid": "NoDelete", "Effect": "Deny", "Action": "rds:Delete*", "Resource": "*"})),
    ]
    # When the role deletes a snapshot
    verdict = authorize(
        SOURCE_SESSION, request("rds:DeleteDBClusterSnapshot", CLUSTER), policies, None, SOURCE
    )
    # Then the deny wins, and says which statement decided
    assert verdict == Verdict(False, "with an explicit deny in an identity-based policy", "guard/NoDelete")


def test_explicit_deny_in_a_resource_policy_beats_an_identity_allow() -> None:
    # Given a role allowed kms:* and a key policy that delegates to the account but denies ScheduleKeyDeletion
    key_policy = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{SOURCE}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {"Effect": "Deny", "Principal": "*", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
    )
    # When the role schedules the key's deletion
    verdict = authorize(
        SOURCE_SESSION,
        request("kms:ScheduleKeyDeletion", KEY),
        [("admin", policy(allow("kms:*")))],
        key_policy,
        SOURCE,
        resource_policy_required=True,
    )
    # Then the key policy's deny decides
    assert verdict == Verdict(False, "with an explicit deny in a resource-based policy", "resource-policy/#1")


def test_statements_without_action_or_with_a_bad_effect_never_allow() -> None:
    # Given allow statements IAM would reject: no Action, a lower-case effect, both Action and NotAction
    broken = [
        {"Effect": "Allow", "Resource": "*"},
        {"Effect": "allow", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*"},  # an identity policy must name its resources
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"},  # and may not name a principal
    ]
    # Then none of them allows anything
    for statement in broken:
        assert not identity_only(SOURCE_SESSION, request("rds:DescribeDBClusters"), statement).allowed, (
            statement
        )


def test_unknown_condition_operator_fails_closed_for_both_effects() -> None:
    # Given an Allow and a Deny that both use an operator the twin does not know
    unknown = {"DateLessThanWhenever": {"aws:CurrentTime": "2030-01-01"}}
    allow_statement = allow("rds:*", Condition=unknown)
    deny_statement = {"Effect": "Deny", "Action": "rds:Delete*", "Resource": "*", "Condition": unknown}
    # Then the Allow grants nothing
    assert not identity_only(SOURCE_SESSION, request("rds:DescribeDBClusters"), allow_statement).allowed
    # And the Deny still denies what its action covers (ignoring it would fail open), but nothing else
    both = [allow("rds:*"), deny_statement]
    assert not identity_only(SOURCE_SESSION, request("rds:DeleteDBCluster", CLUSTER), *both).allowed
    assert identity_only(SOURCE_SESSION, request("rds:DescribeDBClusters"), *both).allowed


def test_statement_may_be_a_single_object_and_the_document_json_text() -> None:
    # Given a document whose Statement is one object, given as JSON text
    document = (
        '{"Version": "2012-10-17", "Statement": '
        '{"Sid": "Read", "Effect": "Allow", "Action": "rds:Describe*", "Resource": "*"}}'
    )
    # When it is evaluated
    verdict = authorize(
        SOURCE_SESSION, request("rds:DescribeDBClusters"), [("inline", document)], None, SOURCE
    )
    # Then it allows, labelled by its Sid; unreadable JSON has no statements
    assert verdict == Verdict(True, "", "inline/Read")
    assert statements("{not json") == []


# --- Conditions ---------------------------------------------------------------------------------------

TAG_CONDITION = {"StringEquals": {"aws:RequestTag/aurora-ferry:managed": "true"}}


def test_string_equals_on_a_missing_request_tag_denies() -> None:
    # Given a create allowed only with the managed tag in the request
    statement = allow("rds:CreateDBClusterSnapshot", Condition=TAG_CONDITION)
    action = "rds:CreateDBClusterSnapshot"
    # Then the request without the tag is denied, with the tag "false" too, and allowed with "true"
    assert not identity_only(SOURCE_SESSION, request(action, CLUSTER), statement).allowed
    assert not identity_only(
        SOURCE_SESSION,
        request(action, CLUSTER, **{"aws:RequestTag/aurora-ferry:managed": "false"}),
        statement,
    ).allowed
    assert identity_only(
        SOURCE_SESSION, request(action, CLUSTER, **{"aws:RequestTag/aurora-ferry:managed": "true"}), statement
    ).allowed


def test_a_yaml_boolean_condition_value_compares_as_lowercase_text() -> None:
    # Given a template whose unquoted YAML `true` reached the policy as a JSON boolean
    statement = allow("rds:*", Condition={"StringEquals": {"aws:RequestTag/aurora-ferry:managed": True}})
    # Then IAM compares it as the string "true"
    tagged = request("rds:AddTagsToResource", **{"aws:RequestTag/aurora-ferry:managed": "true"})
    assert identity_only(SOURCE_SESSION, tagged, statement).allowed


@pytest.mark.parametrize(
    "garbage",
    [
        {"Statement": "nonsense"},
        {"Statement": [42, None, {"Effect": ["Allow"], "Action": "*", "Resource": "*"}]},
        {"Statement": {"Effect": "Allow", "Action": {"a": 1}, "Resource": "*"}},
        {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": ["StringEquals"]}},
        {
            "Statement": {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": "x"},
            }
        },
        {
            "Statement": {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"Bool": {"k": "maybe"}},
            }
        },
        {
            "Statement": {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {"k": []}},
            }
        },
        {
            "Statement": {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"NullIfExists": {"k": "true"}},
            }
        },
    ],
)
def test_malformed_documents_never_raise_and_never_allow(garbage: dict[str, Any]) -> None:
    # Given a document IAM would refuse to store
    # When it is evaluated as an identity policy and as a resource policy
    as_identity = authorize(
        SOURCE_SESSION, request("rds:X", **{"k": "true"}), [("bad", garbage)], None, SOURCE
    )
    as_resource = authorize(
        SOURCE_SESSION, request("rds:X", **{"k": "true"}), [], garbage, SOURCE, resource_policy_required=True
    )
    # Then nothing is allowed and nothing raises
    assert not as_identity.allowed
    assert not as_resource.allowed


def test_condition_key_names_are_case_insensitive() -> None:
    # Given a policy and a context spelling the key differently
    statement = allow("rds:*", Condition={"StringEquals": {"AWS:requesttag/Aurora-Ferry:Managed": "true"}})
    # Then they still refer to the same key (but the value stays case-sensitive for StringEquals)
    context = {"aws:RequestTag/aurora-ferry:managed": "true"}
    assert identity_only(SOURCE_SESSION, request("rds:AddTagsToResource", **context), statement).allowed
    shouting = {"aws:RequestTag/aurora-ferry:managed": "TRUE"}
    assert not identity_only(SOURCE_SESSION, request("rds:AddTagsToResource", **shouting), statement).allowed


def test_string_not_equals_holds_on_a_missing_key() -> None:
    # Given a deny on any request whose environment tag is not "prod"
    statement = {
        "Effect": "Deny",
        "Action": "rds:*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:RequestTag/env": ["prod", "staging"]}},
    }
    # Then a request without the tag is denied (negated operators hold on absent keys)
    assert not identity_only(
        SOURCE_SESSION, request("rds:AddTagsToResource"), allow("rds:*"), statement
    ).allowed
    # And a request carrying one of the listed values is not
    prod = request("rds:AddTagsToResource", **{"aws:RequestTag/env": "staging"})
    assert identity_only(SOURCE_SESSION, prod, allow("rds:*"), statement).allowed


def test_if_exists_holds_on_a_missing_key_but_still_checks_a_present_one() -> None:
    # Given an allow with StringEqualsIfExists on the resource tag
    statement = allow(
        "rds:*", Condition={"StringEqualsIfExists": {"aws:ResourceTag/aurora-ferry:managed": "true"}}
    )
    key = "aws:ResourceTag/aurora-ferry:managed"
    # Then the key's absence allows, a matching value allows, a different value denies
    assert identity_only(SOURCE_SESSION, request("rds:DeleteDBClusterSnapshot"), statement).allowed
    assert identity_only(
        SOURCE_SESSION, request("rds:DeleteDBClusterSnapshot", **{key: "true"}), statement
    ).allowed
    assert not identity_only(
        SOURCE_SESSION, request("rds:DeleteDBClusterSnapshot", **{key: "false"}), statement
    ).allowed


@pytest.mark.parametrize(
    ("tag_keys", "allowed"),
    [
        (["aurora-ferry:managed"], True),
        (["aurora-ferry:managed", "aurora-ferry:migration"], True),
        (["aurora-ferry:managed", "owner"], False),  # one key outside the list denies
        ([], True),  # vacuously true: ForAllValues over no values
        (None, True),  # the key absent altogether
    ],
)
def test_for_all_values_string_equals_on_tag_keys(tag_keys: list[str] | None, allowed: bool) -> None:
    # Given an allow limited to the tool's own tag keys
    statement = allow(
        "rds:AddTagsToResource",
        Condition={
            "ForAllValues:StringEquals": {"aws:TagKeys": ["aurora-ferry:managed", "aurora-ferry:migration"]}
        },
    )
    # When the role tags with these keys
    context = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    verdict = identity_only(SOURCE_SESSION, request("rds:AddTagsToResource", CLUSTER, **context), statement)
    # Then every key must be one of the listed
    assert verdict.allowed is allowed


@pytest.mark.parametrize(
    ("tag_keys", "allowed"),
    [
        (["owner", "aurora-ferry:managed"], True),
        (["owner"], False),
        ([], False),
        (None, False),  # ForAnyValue needs at least one value
    ],
)
def test_for_any_value_needs_one_matching_value(tag_keys: list[str] | None, allowed: bool) -> None:
    # Given an allow requiring at least one aurora-ferry:* tag key
    statement = allow(
        "rds:AddTagsToResource", Condition={"ForAnyValue:StringLike": {"aws:TagKeys": "aurora-ferry:*"}}
    )
    # When the role tags with these keys
    context = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    verdict = identity_only(SOURCE_SESSION, request("rds:AddTagsToResource", CLUSTER, **context), statement)
    # Then one matching key is enough and none is not
    assert verdict.allowed is allowed


def test_for_all_values_with_a_negated_operator_checks_each_value() -> None:
    # Given a deny when any tag key is outside aurora-ferry:* (ForAnyValue:StringNotLike)
    deny = {
        "Effect": "Deny",
        "Action": "rds:AddTagsToResource",
        "Resource": "*",
        "Condition": {"ForAnyValue:StringNotLike": {"aws:TagKeys": "aurora-ferry:*"}},
    }
    own = request("rds:AddTagsToResource", **{"aws:TagKeys": ["aurora-ferry:a", "aurora-ferry:b"]})
    mixed = request("rds:AddTagsToResource", **{"aws:TagKeys": ["aurora-ferry:a", "owner"]})
    # Then only the request with a foreign key is denied
    assert identity_only(SOURCE_SESSION, own, allow("rds:*"), deny).allowed
    assert not identity_only(SOURCE_SESSION, mixed, allow("rds:*"), deny).allowed


@pytest.mark.parametrize(
    ("condition_value", "context_value", "allowed"),
    [
        ("true", "true", True),
        (True, "true", True),  # a JSON boolean in the policy compares as "true"
        ("true", "True", True),
        ("true", "false", False),
        ("true", None, False),
    ],
)
def test_bool_grant_is_for_aws_resource(
    condition_value: Any, context_value: str | None, allowed: bool
) -> None:
    # Given CreateGrant allowed only for grants an AWS service makes on the caller's behalf
    statement = allow("kms:CreateGrant", Condition={"Bool": {"kms:GrantIsForAWSResource": condition_value}})
    context = {} if context_value is None else {"kms:GrantIsForAWSResource": context_value}
    # When the role creates a grant
    verdict = identity_only(SOURCE_SESSION, request("kms:CreateGrant", KEY, **context), statement)
    # Then only an AWS-resource grant is allowed
    assert verdict.allowed is allowed


@pytest.mark.parametrize(
    ("principal_arn", "allowed"),
    [
        (f"arn:aws:iam::{TARGET}:role/aurora-ferry/fn-role-ABC", True),
        (f"arn:aws:iam::{TARGET}:role/aurora-ferry/nested/fn-role-XYZ", True),
        (f"arn:aws:iam::{TARGET}:role/fn-role-ABC", False),  # same name, no path
        (f"arn:aws:iam::{OTHER}:role/aurora-ferry/fn-role-ABC", False),  # other account
    ],
)
def test_arn_like_on_principal_arn_with_a_role_path(principal_arn: str, allowed: bool) -> None:
    # Given a key policy for the target account's root, limited to roles under the aurora-ferry/ path
    key_policy = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{TARGET}:role/aurora-ferry/*"}},
        }
    )
    caller = Principal(
        arn="arn:aws:sts::x:assumed-role/r/s",
        account_id=principal_arn.split(":")[4],
        principal_arn=principal_arn,
    )
    # When the role decrypts (aws:PrincipalArn comes from the caller, not the request context)
    verdict = authorize(
        caller,
        request("kms:Decrypt", TARGET_KEY),
        [("fn", policy(allow("kms:Decrypt")))],
        key_policy,
        TARGET,
        resource_policy_required=True,
    )
    # Then only roles on that path in that account match
    assert verdict.allowed is allowed


def test_arn_like_matches_each_arn_part_separately() -> None:
    # Given an ArnLike pattern with a wildcard account
    statement = allow(
        "kms:Decrypt", Condition={"ArnLike": {"aws:SourceArn": "arn:aws:rds:*:*:cluster:orders"}}
    )
    ok = request("kms:Decrypt", **{"aws:SourceArn": CLUSTER})
    # Then * in one part matches that part, but never spans a colon into the next part
    sneaky = request(
        "kms:Decrypt", **{"aws:SourceArn": f"arn:aws:rds:{REGION}:{SOURCE}:extra:cluster:orders"}
    )
    assert identity_only(SOURCE_SESSION, ok, statement).allowed
    assert not identity_only(SOURCE_SESSION, sneaky, statement).allowed


def test_string_like_and_ignore_case_operators() -> None:
    # Given conditions using StringLike and StringEqualsIgnoreCase
    statement = allow(
        "kms:Decrypt",
        Condition={
            "StringLike": {"kms:ViaService": "rds.*.amazonaws.com"},
            "StringEqualsIgnoreCase": {"kms:CallerAccount": ["AAA", SOURCE]},
        },
    )
    via_rds = {"kms:ViaService": "rds.eu-west-1.amazonaws.com", "kms:CallerAccount": SOURCE}
    via_s3 = {"kms:ViaService": "s3.eu-west-1.amazonaws.com", "kms:CallerAccount": SOURCE}
    other_caller = {"kms:ViaService": "rds.eu-west-1.amazonaws.com", "kms:CallerAccount": OTHER}
    # Then both must hold (AND across operators), any listed value will do (OR across values)
    assert identity_only(SOURCE_SESSION, request("kms:Decrypt", KEY, **via_rds), statement).allowed
    assert not identity_only(SOURCE_SESSION, request("kms:Decrypt", KEY, **via_s3), statement).allowed
    assert not identity_only(SOURCE_SESSION, request("kms:Decrypt", KEY, **other_caller), statement).allowed
    assert identity_only(
        SOURCE_SESSION, request("kms:Decrypt", KEY, **{**via_rds, "kms:CallerAccount": "aaa"}), statement
    ).allowed


def test_keys_inside_one_operator_are_anded() -> None:
    # Given one StringEquals block with two keys
    statement = allow("rds:*", Condition={"StringEquals": {"aws:RequestTag/a": "1", "aws:RequestTag/b": "2"}})
    # Then both keys must match
    assert identity_only(
        SOURCE_SESSION, request("rds:X", **{"aws:RequestTag/a": "1", "aws:RequestTag/b": "2"}), statement
    ).allowed
    assert not identity_only(SOURCE_SESSION, request("rds:X", **{"aws:RequestTag/a": "1"}), statement).allowed


def test_null_operator_tests_presence() -> None:
    # Given a deny when the managed tag is absent, and an allow requiring some tag key to be present
    deny_untagged = {
        "Effect": "Deny",
        "Action": "rds:*",
        "Resource": "*",
        "Condition": {"Null": {"aws:ResourceTag/aurora-ferry:managed": "true"}},
    }
    tagged = request("rds:DeleteDBClusterSnapshot", **{"aws:ResourceTag/aurora-ferry:managed": "true"})
    # Then the untagged resource is denied and the tagged one is not
    assert identity_only(SOURCE_SESSION, tagged, allow("rds:*"), deny_untagged).allowed
    assert not identity_only(
        SOURCE_SESSION, request("rds:DeleteDBClusterSnapshot"), allow("rds:*"), deny_untagged
    ).allowed
    # And Null "false" asks for presence
    needs_keys = allow("rds:*", Condition={"Null": {"aws:TagKeys": False}})
    assert identity_only(SOURCE_SESSION, request("rds:X", **{"aws:TagKeys": ["k"]}), needs_keys).allowed
    assert not identity_only(SOURCE_SESSION, request("rds:X", **{"aws:TagKeys": []}), needs_keys).allowed


@pytest.mark.parametrize(
    ("operator", "value", "allowed"),
    [
        ("NumericLessThanEquals", "3600", True),
        ("NumericLessThan", "3600", False),
        ("NumericEquals", "3600.0", True),
        ("NumericNotEquals", "3600", False),
        ("NumericGreaterThan", "60", True),
        ("NumericGreaterThanEquals", "3601", False),
    ],
)
def test_numeric_operators(operator: str, value: str, allowed: bool) -> None:
    # Given a session-duration condition
    statement = allow("sts:AssumeRole", Condition={operator: {"sts:DurationSeconds": value}})
    # When the request asks for 3600 seconds
    verdict = identity_only(
        SOURCE_SESSION, request("sts:AssumeRole", **{"sts:DurationSeconds": "3600"}), statement
    )
    # Then the comparison is numeric, context value on the left
    assert verdict.allowed is allowed


def test_numeric_operator_on_a_non_number_in_the_context_does_not_match() -> None:
    # Given a numeric condition and a context value that is not a number
    statement = allow("sts:AssumeRole", Condition={"NumericLessThan": {"sts:DurationSeconds": 3600}})
    # Then it does not match (and does not raise)
    assert not identity_only(
        SOURCE_SESSION, request("sts:AssumeRole", **{"sts:DurationSeconds": "soon"}), statement
    ).allowed


# --- KMS key policies (resource policy required) ------------------------------------------------------


def key_policy_for(principal: str, action: str | list[str] = "kms:*") -> dict[str, Any]:
    return policy(
        {
            "Sid": "Grant",
            "Effect": "Allow",
            "Principal": {"AWS": principal},
            "Action": action,
            "Resource": "*",
        }
    )


def kms(
    principal: Principal,
    key_policy: dict[str, Any] | None,
    identity: list[dict[str, Any]],
    *,
    key: str = KEY,
    owner: str = SOURCE,
) -> Verdict:
    return authorize(
        principal,
        request("kms:Decrypt", key),
        [("role-policy", policy(*identity))] if identity else [],
        key_policy,
        owner,
        resource_policy_required=True,
    )


def test_key_policy_without_root_delegation_ignores_identity_policies() -> None:
    # Given a same-account role allowed kms:* by its identity policy, and a key policy naming only another role
    key_policy = key_policy_for(f"arn:aws:iam::{SOURCE}:role/key-admin")
    # When the role decrypts
    verdict = kms(SOURCE_SESSION, key_policy, [allow("kms:*")])
    # Then it is denied: the key policy neither names it nor delegates to the account
    assert verdict == Verdict(False, "because no resource-based policy allows the kms:Decrypt action")


def test_key_policy_delegating_to_root_needs_an_identity_allow() -> None:
    # Given the default key policy (account root may use the key)
    key_policy = key_policy_for(f"arn:aws:iam::{SOURCE}:root")
    # Then a role whose identity policy allows the action may decrypt, labelled by that identity statement
    assert kms(SOURCE_SESSION, key_policy, [allow("kms:Decrypt")]) == Verdict(True, "", "role-policy/#0")
    # And a role without it may not, because of its identity policy
    assert kms(SOURCE_SESSION, key_policy, [allow("kms:Encrypt")]) == Verdict(
        False, "because no identity-based policy allows the kms:Decrypt action"
    )


def test_bare_account_id_in_principal_means_the_account_root() -> None:
    # Given a key policy naming the account by its bare 12-digit id
    key_policy = key_policy_for(SOURCE)
    # Then it delegates exactly as arn:aws:iam::ACCOUNT:root would
    assert kms(SOURCE_SESSION, key_policy, [allow("kms:*")]).allowed
    assert not kms(SOURCE_SESSION, key_policy, []).allowed


def test_key_policy_naming_the_role_grants_directly_in_the_same_account() -> None:
    # Given a key policy naming the caller's role (and one naming its session)
    by_role = key_policy_for(ROLE_ARN)
    by_session = key_policy_for(SOURCE_SESSION.arn, ["kms:Decrypt"])
    # Then the role may decrypt with no identity policy at all
    assert kms(SOURCE_SESSION, by_role, []) == Verdict(True, "", "resource-policy/Grant")
    assert kms(SOURCE_SESSION, by_session, []).allowed
    # But a role ARN with another path is another role
    assert not kms(
        SOURCE_SESSION, key_policy_for(f"arn:aws:iam::{SOURCE}:role/x/aurora-ferry-source"), []
    ).allowed


def test_cross_account_key_needs_the_callers_identity_policy() -> None:
    # Given the target's key, whose policy names the source account's root
    key_policy = key_policy_for(f"arn:aws:iam::{SOURCE}:root", ["kms:Decrypt", "kms:CreateGrant"])
    # When the source role, whose identity policy lacks kms:Decrypt, decrypts with it
    verdict = kms(SOURCE_SESSION, key_policy, [allow("rds:*")], key=TARGET_KEY, owner=TARGET)
    # Then it is denied for want of an identity allow
    assert verdict == Verdict(False, "because no identity-based policy allows the kms:Decrypt action")
    # And allowed once its identity policy allows it
    assert kms(
        SOURCE_SESSION, key_policy, [allow("kms:Decrypt", TARGET_KEY)], key=TARGET_KEY, owner=TARGET
    ).allowed


def test_cross_account_key_naming_the_role_still_needs_the_identity_policy() -> None:
    # Given the target's key policy naming the source role directly
    key_policy = key_policy_for(ROLE_ARN)
    # Then across accounts the role's own identity policy must allow too
    assert not kms(SOURCE_SESSION, key_policy, [], key=TARGET_KEY, owner=TARGET).allowed
    assert kms(SOURCE_SESSION, key_policy, [allow("kms:Decrypt")], key=TARGET_KEY, owner=TARGET).allowed


def test_cross_account_key_policy_naming_another_account_denies() -> None:
    # Given the target's key shared with a third account only
    key_policy = key_policy_for(f"arn:aws:iam::{OTHER}:root")
    # When the source role decrypts with an identity allow
    verdict = kms(SOURCE_SESSION, key_policy, [allow("kms:*")], key=TARGET_KEY, owner=TARGET)
    # Then the key policy is what is missing
    assert verdict.reason == "because no resource-based policy allows the kms:Decrypt action"


def test_missing_key_policy_when_required_denies() -> None:
    # Given a required key policy that was not supplied
    # Then identity policies alone never open the key
    assert kms(SOURCE_SESSION, None, [allow("kms:*")]).reason.startswith("because no resource-based policy")


# --- Resource policies that are not required ----------------------------------------------------------


def test_optional_resource_policy_same_account_direct_grant_is_enough() -> None:
    # Given an event bus policy naming the role directly, and one only naming the account
    direct = key_policy_for(ROLE_ARN, "events:PutEvents")
    by_account = key_policy_for(f"arn:aws:iam::{SOURCE}:root", "events:PutEvents")
    bus = f"arn:aws:events:{REGION}:{SOURCE}:event-bus/default"

    def put(resource_policy: dict[str, Any], identity: list[dict[str, Any]]) -> Verdict:
        identities = [("role-policy", policy(*identity))] if identity else []
        return authorize(
            SOURCE_SESSION, request("events:PutEvents", bus), identities, resource_policy, SOURCE
        )

    # Then the direct grant allows without identity policies; the account delegation does not
    assert put(direct, []).allowed
    assert put(by_account, []) == Verdict(
        False, "because no identity-based policy allows the events:PutEvents action"
    )
    # And either way an identity allow alone is enough in the same account
    assert put(policy(), [allow("events:PutEvents")]).allowed


def test_optional_resource_policy_cross_account_needs_both_sides() -> None:
    # Given the source account's default bus whose policy lets the target account put events
    bus = f"arn:aws:events:{REGION}:{SOURCE}:event-bus/default"
    bus_policy = key_policy_for(TARGET, "events:PutEvents")

    def put(resource_policy: dict[str, Any], identity: list[dict[str, Any]]) -> Verdict:
        identities = [("role-policy", policy(*identity))] if identity else []
        return authorize(
            TARGET_SESSION, request("events:PutEvents", bus), identities, resource_policy, SOURCE
        )

    # Then the target role needs its identity allow too, and the bus policy must name its account
    assert put(bus_policy, [allow("events:PutEvents")]).allowed
    assert put(bus_policy, []).reason == "because no identity-based policy allows the events:PutEvents action"
    assert put(policy(), [allow("events:PutEvents")]).reason == (
        "because no resource-based policy allows the events:PutEvents action"
    )


# --- Role trust policies ------------------------------------------------------------------------------


def trust(principal: dict[str, Any] | str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if condition is not None:
        statement["Condition"] = condition
    return policy(statement)


def assume(
    principal: Principal, trust_policy: dict[str, Any], identity: list[dict[str, Any]], **context: str
) -> Verdict:
    role = f"arn:aws:iam::{SOURCE}:role/aurora-ferry-source"
    return authorize(
        principal,
        request("sts:AssumeRole", role, **context),
        [("caller", policy(*identity))] if identity else [],
        trust_policy,
        SOURCE,
        resource_policy_required=True,
    )


def test_trust_policy_external_id_must_match() -> None:
    # Given a source-account role trusting the orchestrator role in the target account, with an external id
    trust_policy = trust(
        {"AWS": TARGET_SESSION.principal_arn}, {"StringEquals": {"sts:ExternalId": "ferry-2024"}}
    )
    identity = [allow("sts:AssumeRole")]
    # Then the right external id is allowed, and a wrong or missing one is refused by the trust policy
    assert assume(TARGET_SESSION, trust_policy, identity, **{"sts:ExternalId": "ferry-2024"}).allowed
    assert assume(TARGET_SESSION, trust_policy, identity, **{"sts:ExternalId": "guess"}) == Verdict(
        False, "because no resource-based policy allows the sts:AssumeRole action"
    )
    assert not assume(TARGET_SESSION, trust_policy, identity).allowed


def test_trust_policy_for_a_service_principal_with_source_account() -> None:
    # Given a role EventBridge may assume for rules of the source account only
    trust_policy = trust(
        {"Service": ["scheduler.amazonaws.com", "events.amazonaws.com"]},
        {"StringEquals": {"aws:SourceAccount": SOURCE}},
    )
    # Then EventBridge acting for the source account may assume it, judged by the trust policy alone
    assert assume(EVENTS, trust_policy, [], **{"aws:SourceAccount": SOURCE}) == Verdict(
        True, "", "resource-policy/#0"
    )
    # And not on behalf of another account
    assert not assume(EVENTS, trust_policy, [], **{"aws:SourceAccount": OTHER}).allowed
    # And another service, or a role of the same account, is not the named service
    lambda_service = Principal("lambda.amazonaws.com", SOURCE, "", service="lambda.amazonaws.com")
    assert not assume(lambda_service, trust_policy, [], **{"aws:SourceAccount": SOURCE}).allowed
    assert not assume(
        SOURCE_SESSION, trust_policy, [allow("sts:AssumeRole")], **{"aws:SourceAccount": SOURCE}
    ).allowed


def test_service_principal_is_not_an_account_member() -> None:
    # Given a trust policy delegating to the account root
    trust_policy = trust({"AWS": f"arn:aws:iam::{SOURCE}:root"})
    # Then a service principal is not covered by it, whatever account it acts for
    assert not assume(EVENTS, trust_policy, [allow("sts:AssumeRole")]).allowed


def test_not_principal_deny_spares_only_the_listed_principals() -> None:
    # Given a key policy that delegates to the account but denies everyone except the key admin role
    admin = Principal(
        f"arn:aws:sts::{SOURCE}:assumed-role/key-admin/s", SOURCE, f"arn:aws:iam::{SOURCE}:role/key-admin"
    )
    key_policy = policy(
        {"Effect": "Allow", "Principal": {"AWS": SOURCE}, "Action": "kms:*", "Resource": "*"},
        {
            "Effect": "Deny",
            "NotPrincipal": {"AWS": [admin.arn, admin.principal_arn]},
            "Action": "kms:*",
            "Resource": "*",
        },
    )
    # Then the admin may decrypt and the ferry role may not, by the resource policy's deny
    assert kms(admin, key_policy, [allow("kms:*")]).allowed
    assert (
        kms(SOURCE_SESSION, key_policy, [allow("kms:*")]).reason
        == "with an explicit deny in a resource-based policy"
    )


def test_deny_naming_the_account_root_applies_to_its_roles() -> None:
    # Given a key policy denying the source account's root, yet naming the source role directly
    key_policy = policy(
        {"Effect": "Allow", "Principal": {"AWS": ROLE_ARN}, "Action": "kms:*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Principal": {"AWS": f"arn:aws:iam::{SOURCE}:root"},
            "Action": "kms:Decrypt",
            "Resource": "*",
        },
    )
    # Then the deny reaches every principal of the account
    assert kms(SOURCE_SESSION, key_policy, []).reason == "with an explicit deny in a resource-based policy"


# --- Helpers and the message --------------------------------------------------------------------------


def test_statement_applies_reports_direct_and_account_matches() -> None:
    # Given resource-policy statements naming the role and the account root
    by_role = {"Effect": "Allow", "Principal": {"AWS": ROLE_ARN}, "Action": "kms:*", "Resource": "*"}
    by_root = {
        "Effect": "Allow",
        "Principal": {"AWS": [f"arn:aws:iam::{SOURCE}:root"]},
        "Action": "kms:*",
        "Resource": "*",
    }
    decrypt = request("kms:Decrypt", KEY)
    # Then the kinds of match differ, and an identity statement is always direct
    assert statement_applies(by_role, SOURCE_SESSION, decrypt, in_resource_policy=True) is Match.DIRECT
    assert statement_applies(by_root, SOURCE_SESSION, decrypt, in_resource_policy=True) is Match.ACCOUNT
    assert statement_applies(by_root, TARGET_SESSION, decrypt, in_resource_policy=True) is Match.NONE
    assert statement_applies(allow("kms:*"), SOURCE_SESSION, decrypt) is Match.DIRECT


def test_evaluate_collects_the_first_statement_of_each_kind() -> None:
    # Given a key policy with a root delegation, a direct grant and a deny that does not apply
    key_policy = policy(
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": SOURCE}, "Action": "kms:*", "Resource": "*"},
        {
            "Sid": "Role",
            "Effect": "Allow",
            "Principal": {"AWS": ROLE_ARN},
            "Action": "kms:Decrypt",
            "Resource": "*",
        },
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Delete*", "Resource": "*"},
    )
    # When it is evaluated for a decrypt
    result = evaluate("key", key_policy, SOURCE_SESSION, request("kms:Decrypt", KEY), in_resource_policy=True)
    # Then each statement is reported by its label
    assert (result.deny, result.direct_allow, result.account_allow) == (None, "key/Role", "key/Root")


@pytest.mark.parametrize(
    ("reason", "tail"),
    [
        (
            "because no identity-based policy allows the rds:CreateDBClusterSnapshot action",
            "because no identity-based policy allows the rds:CreateDBClusterSnapshot action",
        ),
        (
            "with an explicit deny in an identity-based policy",
            "with an explicit deny in an identity-based policy",
        ),
    ],
)
def test_denial_message_uses_aws_wording(reason: str, tail: str) -> None:
    # Given a denied snapshot creation
    verdict = Verdict(False, reason)
    # When the message is rendered
    message = denial_message(SOURCE_SESSION, request("rds:CreateDBClusterSnapshot", CLUSTER), verdict)
    # Then it reads exactly as AWS's AccessDenied message
    assert message == (
        "User: arn:aws:sts::111111111111:assumed-role/aurora-ferry-source/aurora-ferry is not authorized to "
        "perform: rds:CreateDBClusterSnapshot on resource: arn:aws:rds:eu-west-1:111111111111:cluster:orders "
        + tail
    )


def test_denial_message_from_a_real_verdict() -> None:
    # Given a role without any policy creating a snapshot
    create = request("rds:CreateDBClusterSnapshot", CLUSTER)
    verdict = authorize(SOURCE_SESSION, create, [], None, SOURCE)
    # Then the message is the one AWS returns
    assert denial_message(SOURCE_SESSION, create, verdict) == (
        "User: arn:aws:sts::111111111111:assumed-role/aurora-ferry-source/aurora-ferry is not authorized to "
        "perform: rds:CreateDBClusterSnapshot on resource: arn:aws:rds:eu-west-1:111111111111:cluster:orders "
        "because no identity-based policy allows the rds:CreateDBClusterSnapshot action"
    )


def test_denial_message_refuses_an_allowed_verdict() -> None:
    # Given an allowed verdict, Then there is nothing to explain
    with pytest.raises(ValueError, match="allowed"):
        denial_message(SOURCE_SESSION, request("rds:X"), Verdict(True, ""))
