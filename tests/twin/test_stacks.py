"""The twin deploys the repo's own templates (ferry_cli.twin.cfn and ferry_cli.twin.stacks).

The member templates are rendered with the parameters member-accounts/README.md documents, and the SAM
template is translated offline, so what the twin allows is exactly what the templates grant. The templates
change under these tests: statements are found by Sid or by what they grant, never counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from ferry_cli.template import load_cfn_yaml
from ferry_cli.twin.cfn import RenderedStack, StackError, render_stack
from ferry_cli.twin.stacks import (
    FunctionRole,
    SamStack,
    create_function_roles,
    deploy_member_stack,
    sam_function_roles,
)
from tests.conftest import acting_as

pytestmark = pytest.mark.twin

REPO = Path(__file__).resolve().parents[2]
SOURCE_TEMPLATE = REPO / "member-accounts" / "source-account.yaml"
TARGET_TEMPLATE = REPO / "member-accounts" / "target-account.yaml"
SAM_TEMPLATE = REPO / "template.yaml"

REGION = "eu-west-1"
ORCHESTRATOR = "999999999999"
SOURCE = "111111111111"
TARGET_A = "222222222222"
TARGET_B = "333333333333"
EXTERNAL_ID = "ferry-prod-7f3a"
SHARE_KEY_ID = "5f0c3a1e-7b7e-4c1a-9d3e-000000000001"
TARGET_KEY_ID = "5f0c3a1e-7b7e-4c1a-9d3e-000000000002"
SOURCE_CLUSTER_KEYS = [
    f"arn:aws:kms:{REGION}:{SOURCE}:key/0b6a4c2e-1111-4222-8333-444455556666",
    f"arn:aws:kms:{REGION}:{SOURCE}:key/0b6a4c2e-1111-4222-8333-777788889999",
]
MEMBER_ROLE_PATTERN = "arn:aws:iam::*:role/aurora-ferry-member-*"
TWIN_STACK = "aurora-ferry-twin"


def source_parameters(**overrides: str) -> dict[str, str]:
    """The README's source stack parameters."""
    return {
        "OrchestratorAccountId": ORCHESTRATOR,
        "TargetAccountIds": f"{TARGET_A},{TARGET_B}",
        "ExternalId": EXTERNAL_ID,
        "ManagedSnapshotPrefix": "aurora-ferry-",
        **overrides,
    }


def target_parameters(**overrides: str) -> dict[str, str]:
    """The README's target stack parameters."""
    return {
        "OrchestratorAccountId": ORCHESTRATOR,
        "SourceShareKeyArn": f"arn:aws:kms:{REGION}:{SOURCE}:key/{SHARE_KEY_ID}",
        "ExternalId": EXTERNAL_ID,
        "ManagedSnapshotPrefix": "aurora-ferry-",
        **overrides,
    }


def render_source(**overrides: str) -> RenderedStack:
    return render_stack(
        SOURCE_TEMPLATE,
        source_parameters(**overrides),
        account_id=SOURCE,
        region=REGION,
        stack_name="aurora-ferry-source",
        key_ids={"ShareKey": SHARE_KEY_ID},
    )


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def by_sid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in statements(document) if "Sid" in statement}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions(statement: dict[str, Any]) -> list[str]:
    return [str(action) for action in as_list(statement.get("Action", []))]


def unresolved(node: Any) -> list[str]:
    """Intrinsic function names left anywhere in a rendered value."""
    if isinstance(node, list):
        return [name for item in node for name in unresolved(item)]
    if isinstance(node, dict):
        here = [key for key in node if key == "Ref" or key.startswith("Fn::")]
        return here + [name for value in node.values() for name in unresolved(value)]
    return []


def account_client(service: str, account: str) -> Any:
    """A boto3 client acting in `account` (moto routes assumed-role credentials to the role's account)."""
    return acting_as(account, REGION).client(service)


# ------------------------------------------------------------------------------------------ member templates


def test_source_trust_policy_requires_the_external_id() -> None:
    # Given the README's source parameters, with an ExternalId and no OrchestratorPrincipalArn
    # When the source template is rendered
    rendered = render_source()

    # Then the role trusts the orchestrator account root on sts:ExternalId only
    role = rendered.resources["OrchestratorAccessRole"]
    assume = [
        s for s in statements(role.properties["AssumeRolePolicyDocument"]) if "sts:AssumeRole" in actions(s)
    ]
    assert len(assume) == 1
    assert assume[0]["Principal"] == {"AWS": f"arn:aws:iam::{ORCHESTRATOR}:root"}
    assert assume[0]["Condition"] == {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}
    # And without RoleName, CloudFormation's generated name, which the RoleArn output carries
    assert role.physical_id.startswith("aurora-ferry-source-OrchestratorAccessRole-")
    assert len(role.physical_id) <= 64
    assert rendered.outputs["RoleArn"] == f"arn:aws:iam::{SOURCE}:role/{role.physical_id}"
    assert "RoleName" not in role.properties


def test_trust_policy_narrows_to_the_orchestrator_principal_and_names_the_role() -> None:
    # Given an OrchestratorPrincipalArn and a fixed RoleName
    principal = f"arn:aws:iam::{ORCHESTRATOR}:role/aurora-ferry-twin-PrepareSourceFunctionRole-ABC"

    # When the source template is rendered
    rendered = render_source(OrchestratorPrincipalArn=principal, RoleName="aurora-ferry-source")

    # Then both conditions apply and the role has the given name
    role = rendered.resources["OrchestratorAccessRole"]
    (assume,) = statements(role.properties["AssumeRolePolicyDocument"])
    arn_checks = [check for operator, check in assume["Condition"].items() if operator.startswith("Arn")]
    assert arn_checks == [{"aws:PrincipalArn": principal}]
    assert assume["Condition"]["StringEquals"] == {"sts:ExternalId": EXTERNAL_ID}
    assert role.physical_id == "aurora-ferry-source"
    assert rendered.outputs["RoleArn"] == f"arn:aws:iam::{SOURCE}:role/aurora-ferry-source"


def test_share_key_policy_names_each_target_root_in_each_target_statement() -> None:
    # Given two target accounts
    # When the source template is rendered
    rendered = render_source()

    # Then every TargetAccounts* statement of the share key names exactly the two account roots
    key = rendered.resources["ShareKey"]
    target_statements = {
        sid: s for sid, s in by_sid(key.properties["KeyPolicy"]).items() if sid.startswith("TargetAccounts")
    }
    assert target_statements
    for statement in target_statements.values():
        assert as_list(statement["Principal"]["AWS"]) == [
            f"arn:aws:iam::{TARGET_A}:root",
            f"arn:aws:iam::{TARGET_B}:root",
        ]
    # And the orchestrator role statements name the rendered role ARN; the key has the fixed id
    role_arn = rendered.resources["OrchestratorAccessRole"].arn
    assert by_sid(key.properties["KeyPolicy"])["OrchestratorRoleDescribe"]["Principal"] == {"AWS": role_arn}
    assert rendered.outputs["ShareKeyArn"] == f"arn:aws:kms:{REGION}:{SOURCE}:key/{SHARE_KEY_ID}"
    assert unresolved(key.properties) == []


def test_source_cluster_key_statements_exist_only_when_keys_are_given() -> None:
    # Given the source template without and with SourceClusterKmsKeyArns
    share_key_arn = f"arn:aws:kms:{REGION}:{SOURCE}:key/{SHARE_KEY_ID}"
    conditional = {"ReadSourceClusterKeysThroughRds", "GrantSourceClusterKeysToRds"}

    # When both are rendered
    without = by_sid(render_source().resources["OrchestratorAccessKmsPolicy"].properties["PolicyDocument"])
    with_keys = by_sid(
        render_source(SourceClusterKmsKeyArns=",".join(SOURCE_CLUSTER_KEYS))
        .resources["OrchestratorAccessKmsPolicy"]
        .properties["PolicyDocument"]
    )

    # Then the AWS::NoValue statements are dropped without keys, and name exactly the keys with them
    assert conditional.isdisjoint(without)
    assert as_list(without["DescribeKeys"]["Resource"]) == [share_key_arn]
    assert conditional <= set(with_keys)
    for sid in conditional:
        assert as_list(with_keys[sid]["Resource"]) == SOURCE_CLUSTER_KEYS
    assert as_list(with_keys["DescribeKeys"]["Resource"]) == [share_key_arn, *SOURCE_CLUSTER_KEYS]


def test_conditional_resources_follow_their_parameters() -> None:
    # Given the defaults (no alias, no event forwarding), then an alias and forwarding
    plain = render_source()
    full = render_source(ShareKeyAlias="alias/aurora-ferry-share", ForwardRdsEvents="true")

    # Then the alias and the forwarding role exist only when asked for
    assert not plain.of_type("AWS::KMS::Alias")
    assert "ShareKeyAlias" not in plain.outputs
    (alias,) = full.of_type("AWS::KMS::Alias").values()
    assert alias.physical_id == "alias/aurora-ferry-share"
    assert alias.properties["TargetKeyId"] == SHARE_KEY_ID
    assert full.outputs["ShareKeyAlias"] == "alias/aurora-ferry-share"
    assert len(full.of_type("AWS::IAM::Role")) > len(plain.of_type("AWS::IAM::Role"))


def test_target_template_takes_the_source_account_from_the_share_key() -> None:
    # Given the README's target parameters, naming the source stack's share key
    # When the target template is rendered
    rendered = render_stack(
        TARGET_TEMPLATE,
        target_parameters(),
        account_id=TARGET_A,
        region=REGION,
        stack_name="aurora-ferry-target",
        key_ids={"TargetKey": TARGET_KEY_ID},
    )

    # Then some role statement names the share key, and the source's shared snapshots by account
    documents = [
        policy["PolicyDocument"]
        for role in rendered.of_type("AWS::IAM::Role").values()
        for policy in role.properties.get("Policies", [])
    ] + [res.properties["PolicyDocument"] for res in rendered.of_type("AWS::IAM::RolePolicy").values()]
    resources = {str(r) for doc in documents for s in statements(doc) for r in as_list(s.get("Resource", []))}
    assert target_parameters()["SourceShareKeyArn"] in resources
    assert f"arn:aws:rds:{REGION}:{SOURCE}:cluster-snapshot:*" in resources
    assert rendered.outputs["TargetKeyArn"] == f"arn:aws:kms:{REGION}:{TARGET_A}:key/{TARGET_KEY_ID}"
    assert unresolved(documents) == []


@pytest.mark.parametrize(
    ("overrides", "parameter", "constraint"),
    [
        ({"TargetAccountIds": "12345"}, "TargetAccountIds", "each entry must be a 12-digit AWS account ID"),
        ({"OrchestratorAccountId": "orchestrator"}, "OrchestratorAccountId", "a 12-digit AWS account ID"),
        ({"ShareKeyAlias": "alias/aws/rds"}, "ShareKeyAlias", "not alias/aws/"),
        ({"ForwardRdsEvents": "yes"}, "ForwardRdsEvents", "AllowedValues"),
    ],
)
def test_a_bad_parameter_is_refused_by_name(
    overrides: dict[str, str], parameter: str, constraint: str
) -> None:
    # Given a parameter value that breaks its constraint
    # When the template is rendered
    # Then it is refused as CloudFormation would, naming the parameter and why
    with pytest.raises(StackError, match=parameter) as refused:
        render_source(**overrides)
    assert constraint in str(refused.value)


def test_missing_and_unknown_parameters_are_refused() -> None:
    # Given no OrchestratorAccountId, then a parameter the template does not declare
    parameters = source_parameters()
    del parameters["OrchestratorAccountId"]

    # Then both are refused naming the parameter
    with pytest.raises(StackError, match="OrchestratorAccountId"):
        render_stack(SOURCE_TEMPLATE, parameters, account_id=SOURCE, region=REGION, stack_name="s")
    with pytest.raises(StackError, match="NoSuchParameter"):
        render_source(NoSuchParameter="x")


# ---------------------------------------------------------------------------------------- the renderer itself


def test_sub_select_split_and_novalue_resolve_like_cloudformation() -> None:
    # Given a small template with the list form of Fn::Sub, Fn::Select over Fn::Split and AWS::NoValue
    template = {
        "Parameters": {"Names": {"Type": "CommaDelimitedList", "Default": "a, b ,c"}},
        "Conditions": {"Never": {"Fn::Equals": ["x", "y"]}},
        "Resources": {
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Path": "/ferry/",
                    "Description": {
                        "Fn::Sub": [
                            "${Second} in ${AWS::Region} ${!Literal} ${Table.Arn}",
                            {"Second": {"Fn::Select": [1, {"Fn::Split": [",", "p,q,r"]}]}},
                        ]
                    },
                    "Tags": [
                        {"Fn::If": ["Never", {"Key": "k", "Value": "v"}, {"Ref": "AWS::NoValue"}]},
                        {"Key": "names", "Value": {"Fn::Join": ["+", {"Ref": "Names"}]}},
                    ],
                    "MaxSessionDuration": {"Fn::If": ["Never", 7200, {"Ref": "AWS::NoValue"}]},
                },
            },
        },
        "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Role", "Arn"]}}},
    }

    # When it is rendered with a table name pinned
    rendered = render_stack(
        template, {}, account_id=SOURCE, region=REGION, stack_name="s", physical_ids={"Table": "t1"}
    )

    # Then every intrinsic resolved, dependencies first
    role = rendered.resources["Role"]
    assert (
        role.properties["Description"]
        == f"q in {REGION} ${{Literal}} arn:aws:dynamodb:{REGION}:{SOURCE}:table/t1"
    )
    assert role.properties["Tags"] == [{"Key": "names", "Value": "a+b+c"}]
    assert "MaxSessionDuration" not in role.properties
    assert rendered.outputs["Arn"] == f"arn:aws:iam::{SOURCE}:role/ferry/{role.physical_id}"
    assert list(rendered.resources) == ["Table", "Role"]


def test_a_reference_cycle_and_a_reference_to_a_left_out_resource_are_refused() -> None:
    # Given two roles that name each other, and a role naming a resource its condition leaves out
    cycle = {
        "Resources": {
            "A": {"Type": "AWS::IAM::Role", "Properties": {"Description": {"Fn::GetAtt": ["B", "Arn"]}}},
            "B": {"Type": "AWS::IAM::Role", "Properties": {"Description": {"Fn::Sub": "${A.Arn}"}}},
        }
    }
    left_out = {
        "Conditions": {"Never": {"Fn::Equals": ["x", "y"]}},
        "Resources": {
            "Gone": {"Type": "AWS::IAM::Role", "Condition": "Never", "Properties": {}},
            "A": {"Type": "AWS::IAM::Role", "Properties": {"Description": {"Ref": "Gone"}}},
        },
    }

    # Then CloudFormation's refusals
    with pytest.raises(StackError, match="Circular dependency"):
        render_stack(cycle, {}, account_id=SOURCE, region=REGION, stack_name="s")
    with pytest.raises(StackError, match="Gone"):
        render_stack(left_out, {}, account_id=SOURCE, region=REGION, stack_name="s")


# ------------------------------------------------------------------------------------------- moto deployment


def test_member_stacks_deploy_roles_keys_and_aliases_into_moto() -> None:
    with mock_aws():
        # Given the source stack deployed with an alias, and the target stack with its source's share key
        source = deploy_member_stack(
            SOURCE_TEMPLATE,
            source_parameters(ShareKeyAlias="alias/aurora-ferry-share"),
            SOURCE,
            REGION,
            "aurora-ferry-source",
            key_ids={"ShareKey": SHARE_KEY_ID},
        )
        target = deploy_member_stack(
            TARGET_TEMPLATE,
            target_parameters(SourceShareKeyArn=source.outputs["ShareKeyArn"]),
            TARGET_A,
            REGION,
            "aurora-ferry-target",
            key_ids={"TargetKey": TARGET_KEY_ID},
        )

        # When IAM and KMS are asked in the source account
        iam = account_client("iam", SOURCE)
        kms = account_client("kms", SOURCE)
        role = source.resources["OrchestratorAccessRole"]
        described = iam.get_role(RoleName=role.physical_id)["Role"]

        # Then the role has the rendered trust policy and every rendered inline policy
        assert described["Arn"] == role.arn == source.outputs["RoleArn"]
        assert described["AssumeRolePolicyDocument"] == role.properties["AssumeRolePolicyDocument"]
        inline = set(iam.list_role_policies(RoleName=role.physical_id)["PolicyNames"])
        assert {p["PolicyName"] for p in role.properties["Policies"]} <= inline
        kms_policy = source.resources["OrchestratorAccessKmsPolicy"].properties
        assert kms_policy["PolicyName"] in inline
        stored = iam.get_role_policy(RoleName=role.physical_id, PolicyName=kms_policy["PolicyName"])
        assert stored["PolicyDocument"] == kms_policy["PolicyDocument"]
        # And the share key has the fixed id, the rendered key policy, rotation and its alias
        key = kms.describe_key(KeyId=SHARE_KEY_ID)["KeyMetadata"]
        assert key["Arn"] == source.outputs["ShareKeyArn"]
        policy = json.loads(kms.get_key_policy(KeyId=SHARE_KEY_ID, PolicyName="default")["Policy"])
        assert policy == source.resources["ShareKey"].properties["KeyPolicy"]
        assert kms.get_key_rotation_status(KeyId=SHARE_KEY_ID)["KeyRotationEnabled"] is True
        aliases = kms.list_aliases(KeyId=SHARE_KEY_ID)["Aliases"]
        assert [a["AliasName"] for a in aliases] == ["alias/aurora-ferry-share"]
        # And the target account has its own key and role
        target_kms = account_client("kms", TARGET_A)
        assert (
            target_kms.describe_key(KeyId=TARGET_KEY_ID)["KeyMetadata"]["Arn"]
            == target.outputs["TargetKeyArn"]
        )
        target_role = target.resources["OrchestratorAccessRole"].physical_id
        assert (
            account_client("iam", TARGET_A).get_role(RoleName=target_role)["Role"]["Arn"]
            == target.outputs["RoleArn"]
        )


def test_deploying_outside_moto_is_refused() -> None:
    # Given no active mock_aws
    # Then nothing is created in moto's process-wide backends
    with pytest.raises(RuntimeError, match="mock_aws"):
        deploy_member_stack(SOURCE_TEMPLATE, source_parameters(), SOURCE, REGION, "aurora-ferry-source")


# ------------------------------------------------------------------------------------------- the SAM template


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    return load_cfn_yaml(SAM_TEMPLATE)


@pytest.fixture(scope="module")
def physical_ids(sam_template: dict[str, Any]) -> dict[str, str]:
    """What the twin deploys for template.yaml: function and state machine ARNs, table names."""
    ids: dict[str, str] = {}
    for logical_id, resource in sam_template["Resources"].items():
        kind = resource["Type"]
        if kind == "AWS::Serverless::Function":
            ids[logical_id] = f"arn:aws:lambda:{REGION}:{ORCHESTRATOR}:function:{TWIN_STACK}-{logical_id}"
        elif kind == "AWS::Serverless::StateMachine":
            ids[logical_id] = f"arn:aws:states:{REGION}:{ORCHESTRATOR}:stateMachine:{TWIN_STACK}-{logical_id}"
        elif kind == "AWS::DynamoDB::Table":
            ids[logical_id] = f"{TWIN_STACK}-{logical_id}"
    return ids


@pytest.fixture(scope="module")
def function_roles(physical_ids: dict[str, str]) -> dict[str, FunctionRole]:
    # The SAM translation takes about a second; every SAM test reads the same result.
    return sam_function_roles(
        SamStack(
            SAM_TEMPLATE,
            {"MemberRoleArnPattern": MEMBER_ROLE_PATTERN},
            ORCHESTRATOR,
            REGION,
            TWIN_STACK,
            physical_ids,
        )
    )


def role_statements(role: FunctionRole) -> Iterator[dict[str, Any]]:
    for _, document in role.inline_policies:
        yield from statements(document)


def test_every_function_gets_the_lambda_role_sam_generates(
    sam_template: dict[str, Any], function_roles: dict[str, FunctionRole]
) -> None:
    # Given template.yaml translated offline
    functions = {
        lid for lid, r in sam_template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    }

    # Then every function has a role Lambda may assume, with no intrinsic left in its policies
    assert set(function_roles) == functions
    for logical_id, role in function_roles.items():
        assert role.function_logical_id == logical_id
        assert role.role_arn == f"arn:aws:iam::{ORCHESTRATOR}:role{role.role_path}{role.role_name}"
        assert len(role.role_name) <= 64
        trusted = [s for s in statements(role.trust_policy) if "sts:AssumeRole" in actions(s)]
        assert any("lambda.amazonaws.com" in as_list(s["Principal"].get("Service")) for s in trusted)
        assert any(arn.endswith("/AWSLambdaBasicExecutionRole") for arn in role.managed_policy_arns)
        assert unresolved([document for _, document in role.inline_policies]) == []


def test_member_acting_functions_may_assume_the_member_role_pattern(
    sam_template: dict[str, Any], function_roles: dict[str, FunctionRole]
) -> None:
    # Given the functions whose template policies grant on MemberRoleArnPattern, directly or through the
    # template's MemberAccessPolicy
    acting = {
        lid
        for lid, r in sam_template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
        and any(
            name in json.dumps(r.get("Properties", {}))
            for name in ("MemberRoleArnPattern", "MemberAccessPolicy")
        )
    }
    assert "PreflightFunction" in acting

    # Then each role allows sts:AssumeRole on exactly the pattern the stack was given
    for logical_id in acting:
        assumed = [s for s in role_statements(function_roles[logical_id]) if "sts:AssumeRole" in actions(s)]
        assert assumed, logical_id
        assert all(as_list(s["Resource"]) == [MEMBER_ROLE_PATTERN] for s in assumed), logical_id
    # And no other function may assume anything
    for logical_id in set(function_roles) - acting:
        assert not any("sts:AssumeRole" in actions(s) for s in role_statements(function_roles[logical_id]))


def test_the_member_access_policy_reaches_exactly_the_functions_that_list_it(
    sam_template: dict[str, Any], function_roles: dict[str, FunctionRole]
) -> None:
    # Given the template's managed policy, and the functions that attach it by Ref in their Policies
    declared = sam_template["Resources"]["MemberAccessPolicy"]
    assert declared["Type"] == "AWS::IAM::ManagedPolicy"
    listing = {
        lid
        for lid, r in sam_template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
        and {"Ref": "MemberAccessPolicy"} in r["Properties"].get("Policies", [])
    }
    assert "PreflightFunction" in listing
    assert "SummarizeFunction" not in listing
    # The stack names the policy <stack>-<logical id>-<suffix>; the twin keeps it inline by that name
    prefix = f"{TWIN_STACK}-MemberAccessPolicy-"

    # Then each listing role carries the policy's document, resolved for this stack, and no other role does
    for logical_id, role in function_roles.items():
        carried = [document for name, document in role.inline_policies if name.startswith(prefix)]
        if logical_id in listing:
            assert len(carried) == 1, logical_id
            assert [s["Sid"] for s in statements(carried[0])] == ["AssumeMemberRoles"]
            assert [s["Resource"] for s in statements(carried[0])] == [MEMBER_ROLE_PATTERN]
        else:
            assert carried == [], logical_id
        # And no ARN is left that only the template could explain (the twin knows AWS managed ones only)
        assert all(":iam::aws:policy/" in arn for arn in role.managed_policy_arns), logical_id

    with mock_aws():
        # When the roles are created in moto
        create_function_roles(function_roles, ORCHESTRATOR)
        iam = account_client("iam", ORCHESTRATOR)
        # Then IAM lists the policy on exactly the listing functions' roles
        holding = {
            logical_id
            for logical_id, role in function_roles.items()
            if any(
                name.startswith(prefix)
                for name in iam.list_role_policies(RoleName=role.role_name)["PolicyNames"]
            )
        }
    assert holding == listing


def test_wait_callback_policy_is_merged_into_each_role_it_names(
    sam_template: dict[str, Any], function_roles: dict[str, FunctionRole], physical_ids: dict[str, str]
) -> None:
    # Given the WaitCallbackPolicy resource and the roles it attaches to (<Function>Role)
    declared = sam_template["Resources"]["WaitCallbackPolicy"]["Properties"]
    functions = [str(role["Ref"]).removesuffix("Role") for role in declared["Roles"]]
    assert "RegisterWaitFunction" in functions

    # Then each of those roles carries the policy, scoped to the deployed state machine's ARN
    for logical_id in functions:
        policies = dict(function_roles[logical_id].inline_policies)
        callback = policies[declared["PolicyName"]]
        send = [s for s in statements(callback) if "states:SendTaskSuccess" in actions(s)]
        assert send, logical_id
        assert all(as_list(s["Resource"]) == [physical_ids["MigrationStateMachine"]] for s in send)


def test_dynamodb_statements_name_the_deployed_tables(
    sam_template: dict[str, Any], function_roles: dict[str, FunctionRole]
) -> None:
    # Given the tables the twin deploys under fixed names
    tables = [lid for lid, r in sam_template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"]
    table_arns = {f"arn:aws:dynamodb:{REGION}:{ORCHESTRATOR}:table/{TWIN_STACK}-{lid}" for lid in tables}

    # Then every DynamoDB statement of every function names one of them, and the cleanup records leftovers
    named = set()
    for role in function_roles.values():
        for statement in role_statements(role):
            if any(action.startswith("dynamodb:") for action in actions(statement)):
                assert set(as_list(statement["Resource"])) <= table_arns
                named |= set(as_list(statement["Resource"]))
    assert f"arn:aws:dynamodb:{REGION}:{ORCHESTRATOR}:table/{TWIN_STACK}-LeftoverTable" in named


def test_function_roles_are_created_in_moto(function_roles: dict[str, FunctionRole]) -> None:
    with mock_aws():
        # Given the function roles created in the orchestrator account
        create_function_roles(function_roles, ORCHESTRATOR)
        iam = account_client("iam", ORCHESTRATOR)

        # Then IAM returns each role's trust policy and inline policies as the stack would create them
        for role in function_roles.values():
            described = iam.get_role(RoleName=role.role_name)["Role"]
            assert described["Arn"] == role.role_arn
            assert described["AssumeRolePolicyDocument"] == role.trust_policy
            for name, document in role.inline_policies:
                stored = iam.get_role_policy(RoleName=role.role_name, PolicyName=name)
                assert stored["PolicyDocument"] == document
