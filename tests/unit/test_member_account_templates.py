"""Static checks of the member-account CloudFormation templates (member-accounts/*.yaml).

cfn-lint proves the templates are valid CloudFormation; these tests pin the security properties
the orchestrator relies on: no wildcard IAM actions, the share key admits target accounts for a
snapshot copy and nothing more, keys rotate, and destructive snapshot actions are tag-gated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

TEMPLATES = Path(__file__).resolve().parents[2] / "member-accounts"
SOURCE = TEMPLATES / "source-account.yaml"
TARGET = TEMPLATES / "target-account.yaml"
REGION_KEY = TEMPLATES / "source-region-key.yaml"

MANAGED_TAG = "aurora-ferry:managed"
TARGET_COPY_ACTIONS = {
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
}


class CfnLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]  # yaml ships no stubs here
    """SafeLoader that turns CloudFormation short-form tags (!Ref, !Sub, ...) into long form."""


def _short_form(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _short_form)


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        # CfnLoader is a SafeLoader: plain yaml.load with it builds no arbitrary objects.
        return cast(dict[str, Any], yaml.load(handle, Loader=CfnLoader))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def branches(node: Any) -> Iterator[Any]:
    """Every concrete value an Fn::If tree can take, without the AWS::NoValue branches."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        _, when_true, when_false = node["Fn::If"]
        yield from branches(when_true)
        yield from branches(when_false)
    elif node != {"Ref": "AWS::NoValue"}:
        yield node


def role_policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource name, statement) for every identity policy attached to a role in the template."""
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = [policy["PolicyDocument"] for policy in props.get("Policies", [])]
        elif resource["Type"] in {"AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            documents = [props["PolicyDocument"]]
        for document in documents:
            for entry in document["Statement"]:
                for statement in branches(entry):
                    yield name, statement


def key_policy_statements(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    key = template["Resources"][logical_id]
    assert key["Type"] == "AWS::KMS::Key"
    return [s for entry in key["Properties"]["KeyPolicy"]["Statement"] for s in branches(entry)]


def mentions(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("Ref") == ref or any(mentions(v, ref) for v in node.values())
    if isinstance(node, list):
        return any(mentions(v, ref) for v in node)
    return False


# A small evaluator for the intrinsics these templates use, to check what a policy resolves to.
NO_VALUE = object()


def resolve(node: Any, template: dict[str, Any], params: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [v for v in (resolve(item, template, params) for item in node) if v is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if len(node) != 1:
        return {
            k: v for k, v in ((k, resolve(v, template, params)) for k, v in node.items()) if v is not NO_VALUE
        }
    ((fn, arg),) = node.items()
    intrinsic = INTRINSICS.get(fn)
    if intrinsic is None:
        return {fn: resolve(arg, template, params)}
    return intrinsic(arg, template, params)


def _condition(name: str, template: dict[str, Any], params: dict[str, Any]) -> bool:
    return bool(resolve(template["Conditions"][name], template, params))


def _equals(arg: Any, template: dict[str, Any], params: dict[str, Any]) -> bool:
    left, right = (resolve(v, template, params) for v in arg)
    return bool(left == right)


def _sub(arg: Any, template: dict[str, Any], params: dict[str, Any]) -> str:
    text, extra = (arg, {}) if isinstance(arg, str) else arg
    names = {**params, **{k: resolve(v, template, params) for k, v in extra.items()}}
    return re.sub(r"\$\{([\w:]+)\}", lambda m: str(names[m.group(1)]), text)


# Each intrinsic function the templates use: (its argument, the template, the parameters) -> its value.
INTRINSICS: dict[str, Callable[[Any, dict[str, Any], dict[str, Any]], Any]] = {
    "Ref": lambda arg, _, params: NO_VALUE if arg == "AWS::NoValue" else params[arg],
    "Condition": _condition,
    "Fn::If": lambda arg, t, p: resolve(arg[1] if _condition(arg[0], t, p) else arg[2], t, p),
    "Fn::Equals": _equals,
    "Fn::Not": lambda arg, t, p: not resolve(arg[0], t, p),
    "Fn::Join": lambda arg, t, p: arg[0].join(resolve(arg[1], t, p)),
    "Fn::Split": lambda arg, t, p: resolve(arg[1], t, p).split(arg[0]),
    "Fn::Select": lambda arg, t, p: resolve(arg[1], t, p)[int(arg[0])],
    "Fn::Sub": _sub,
}


def source_params(partition: str = "aws", **overrides: Any) -> dict[str, Any]:
    return {
        "AWS::Partition": partition,
        "AWS::Region": "eu-west-1",
        "AWS::AccountId": "111111111111",
        "OrchestratorAccountId": "999999999999",
        "OrchestratorPrincipalArn": "",
        "ExternalId": "",
        "TargetAccountIds": ["222222222222", "333333333333"],
        "SourceClusterKmsKeyArns": [""],
        "ShareKeyAlias": "",
        "RoleName": "",
        "ManagedSnapshotPrefix": "",
        "ForwardRdsEvents": "false",
        "CopyRegions": [""],
        "CopyRegionShareKeyArns": [""],
        **overrides,
    }


@pytest.mark.unit
@pytest.mark.parametrize("path", [SOURCE, TARGET], ids=["source", "target"])
def test_role_policies_use_no_wildcard_actions(path: Path) -> None:
    # Given a member-account template
    template = load(path)

    # When every statement of every role policy is collected (both sides of each Fn::If)
    statements = list(role_policy_statements(template))

    # Then there are some, and none grants "*" or a whole service ("svc:*")
    assert statements
    for name, statement in statements:
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), f"{name} {statement.get('Sid')}: {action}"


@pytest.mark.unit
@pytest.mark.parametrize("path", [SOURCE, REGION_KEY], ids=["share", "regional-share"])
def test_share_key_grants_targets_exactly_the_snapshot_copy_actions(path: Path) -> None:
    # Given the share key of the source template (or the regional share key of another Region)
    statements = key_policy_statements(load(path), "ShareKey")

    # When the statements naming the target accounts are picked out
    for_targets = [s for s in statements if mentions(s["Principal"], "TargetAccountIds")]
    granted = {action for s in for_targets for action in as_list(s["Action"])}

    # Then together they grant exactly what a cross-account snapshot copy needs
    assert granted == TARGET_COPY_ACTIONS
    # And every statement allowing CreateGrant limits it to grants for AWS services
    for statement in for_targets:
        if "kms:CreateGrant" in as_list(statement["Action"]):
            assert statement["Condition"]["Bool"]["kms:GrantIsForAWSResource"] == "true"
    # And no statement other than the account's own root admin one uses kms:*
    star = [s for s in statements if "kms:*" in as_list(s["Action"])]
    assert [s["Principal"] for s in star] == [
        {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    ]


@pytest.mark.unit
@pytest.mark.parametrize("path", [SOURCE, REGION_KEY], ids=["share", "regional-share"])
@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_share_key_target_principals_resolve_to_each_account_root(partition: str, path: Path) -> None:
    # Given the source template (or the regional key's) and two target accounts in a partition
    template = load(path)
    params = source_params(partition)
    statements = key_policy_statements(template, "ShareKey")

    # When the target principals are evaluated as CloudFormation would
    principals = [
        resolve(s["Principal"]["AWS"], template, params)
        for s in statements
        if mentions(s["Principal"], "TargetAccountIds")
    ]

    # Then each is the list of the targets' account root ARNs in that partition
    expected = [f"arn:{partition}:iam::222222222222:root", f"arn:{partition}:iam::333333333333:root"]
    assert principals and all(p == expected for p in principals)


@pytest.mark.unit
def test_single_target_resolves_to_a_one_element_principal_list() -> None:
    # Given a source stack shared with one target only
    template = load(SOURCE)
    params = source_params(TargetAccountIds=["222222222222"])

    # When the target statement's principal is evaluated
    statement = next(
        s for s in key_policy_statements(template, "ShareKey") if s["Sid"] == "TargetAccountsGrantToRds"
    )

    # Then it is exactly that account's root
    assert resolve(statement["Principal"]["AWS"], template, params) == ["arn:aws:iam::222222222222:root"]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("path", "key"),
    [(SOURCE, "ShareKey"), (TARGET, "TargetKey"), (REGION_KEY, "ShareKey")],
    ids=["share", "target", "regional-share"],
)
def test_customer_managed_keys_rotate_and_survive_stack_deletion(path: Path, key: str) -> None:
    # Given the template's customer managed key
    resource = load(path)["Resources"][key]

    # When its properties are read
    props = resource["Properties"]

    # Then automatic rotation is on and deleting the stack leaves the key (and the data) in place
    assert props["EnableKeyRotation"] is True
    assert resource["DeletionPolicy"] == "Retain"


@pytest.mark.unit
@pytest.mark.parametrize("path", [SOURCE, TARGET], ids=["source", "target"])
def test_destructive_snapshot_actions_require_the_managed_tag(path: Path) -> None:
    # Given the role policies of a member-account template
    statements = [s for _, s in role_policy_statements(load(path))]

    # When the statements allowing a snapshot delete or (un)share are picked out
    destructive = [
        s
        for s in statements
        if {"rds:DeleteDBClusterSnapshot", "rds:ModifyDBClusterSnapshotAttribute"} & set(as_list(s["Action"]))
    ]

    # Then there is a delete statement, and each one requires aurora-ferry:managed=true on the snapshot
    assert any("rds:DeleteDBClusterSnapshot" in as_list(s["Action"]) for s in destructive)
    for statement in destructive:
        assert statement["Condition"]["StringEquals"][f"aws:ResourceTag/{MANAGED_TAG}"] == "true"


@pytest.mark.unit
@pytest.mark.parametrize("path", [SOURCE, TARGET], ids=["source", "target"])
def test_snapshot_creation_and_tagging_require_the_managed_request_tag(path: Path) -> None:
    # Given the role policies of a member-account template
    statements = [s for _, s in role_policy_statements(load(path))]

    # When the statements that create, copy or tag snapshots are picked out
    creating = [
        s
        for s in statements
        if {"rds:CreateDBClusterSnapshot", "rds:CopyDBClusterSnapshot", "rds:AddTagsToResource"}
        & set(as_list(s["Action"]))
    ]

    # Then each one only allows requests that tag the new resource as managed
    assert creating
    for statement in creating:
        assert statement["Condition"]["StringEquals"][f"aws:RequestTag/{MANAGED_TAG}"] == "true"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, NO_VALUE),
        ({"ExternalId": "ferry-ext-1"}, {"StringEquals": {"sts:ExternalId": "ferry-ext-1"}}),
        (
            {"OrchestratorPrincipalArn": "arn:aws:iam::999999999999:role/ferry-fn"},
            {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::999999999999:role/ferry-fn"}},
        ),
        (
            {
                "OrchestratorPrincipalArn": "arn:aws:iam::999999999999:role/ferry-fn",
                "ExternalId": "ferry-ext-1",
            },
            {
                "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::999999999999:role/ferry-fn"},
                "StringEquals": {"sts:ExternalId": "ferry-ext-1"},
            },
        ),
    ],
    ids=["account-only", "external-id", "principal", "principal-and-external-id"],
)
@pytest.mark.parametrize("path", [SOURCE, TARGET], ids=["source", "target"])
def test_trust_policy_narrows_to_the_given_principal_and_external_id(
    path: Path, overrides: dict[str, str], expected: Any
) -> None:
    # Given a member-account template and the trust parameters of a deployment
    template = load(path)
    params = {**source_params(**overrides), "SourceShareKeyArn": "arn:aws:kms:eu-west-1:111111111111:key/x"}

    # When the role's trust statement is evaluated
    (statement,) = template["Resources"]["OrchestratorAccessRole"]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    principal = resolve(statement["Principal"]["AWS"], template, params)
    condition = resolve(statement["Condition"], template, params)

    # Then only the orchestrator account is trusted, narrowed by exactly the conditions asked for
    assert principal == "arn:aws:iam::999999999999:root"
    assert condition == expected


@pytest.mark.unit
@pytest.mark.parametrize(
    "clone_keys", ["", "arn:aws:kms:eu-west-1:444444444444:key/11111111-2222-3333-4444-555555555555"]
)
def test_target_role_uses_only_the_given_source_share_key_and_clone_keys(clone_keys: str) -> None:
    from ferry_cli.twin.cfn import render_stack

    # Given the target template deployed with a share key, and with or without source cluster keys for clones
    share_key = "arn:aws:kms:eu-west-1:444444444444:key/0b5e1c3a-6f1d-4f7e-9a51-2c8e7d1f0a11"
    rendered = render_stack(
        TARGET,
        {
            "OrchestratorAccountId": "999999999999",
            "SourceShareKeyArn": share_key,
            "SourceClusterKmsKeyArns": clone_keys,
        },
        account_id="222222222222",
        region="eu-west-1",
        stack_name="aurora-ferry-target",
    )
    # When the KMS statements of the role are read
    (policy,) = rendered.resources["OrchestratorAccessRole"].properties["Policies"]
    kms = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if any(a.startswith("kms:") for a in as_list(s["Action"]))
    ]

    # Then each names the share key or a listed clone key only, grants the copy actions, and CreateGrant is
    # for AWS services only
    allowed = {share_key, *filter(None, clone_keys.split(","))}
    assert {r for s in kms for r in as_list(s["Resource"])} == allowed
    for statement in kms:
        if "kms:CreateGrant" in as_list(statement["Action"]):
            assert statement["Condition"]["Bool"]["kms:GrantIsForAWSResource"] == "true"
    by_key = {
        key: {a for s in kms if key in as_list(s["Resource"]) for a in as_list(s["Action"])}
        for key in allowed
    }
    assert all(actions == TARGET_COPY_ACTIONS for actions in by_key.values())


# --- the two-step cross-Region copy ----------------------------------------------------------------------------

COPY_REGION_SIDS = {
    "CopyIntoCopyRegionsOnlyTagged",
    "TagInCopyRegionsOnlyAsManaged",
    "ReadSnapshotsInCopyRegions",
    "ShareAndDeleteOnlyManagedSnapshotsInCopyRegions",
}
COPY_REGION_KEY_SIDS = {
    "DescribeCopyRegionShareKeys",
    "UseCopyRegionShareKeysThroughRds",
    "GrantCopyRegionShareKeysToRds",
}


@pytest.mark.unit
def test_the_regional_share_key_admits_the_targets_exactly_as_the_share_key_does() -> None:
    # Given the share key of the source stack and the regional share key of source-region-key.yaml
    def for_targets(path: Path) -> list[dict[str, Any]]:
        return [s for s in key_policy_statements(load(path), "ShareKey") if "Target" in s.get("Sid", "")]

    # Then the target statements are the same, word for word (kms:ViaService names RDS of the key's Region)
    assert for_targets(REGION_KEY) == for_targets(SOURCE)
    # And besides them only the account's own root statement, which delegates to IAM: no role is named
    others = [
        s["Sid"] for s in key_policy_statements(load(REGION_KEY), "ShareKey") if s not in for_targets(SOURCE)
    ]
    assert others == ["EnableIamPoliciesOfThisAccount"]
    # And the key is tagged as a share key, its ARN an output
    template = load(REGION_KEY)
    assert {"Key": "aurora-ferry:component", "Value": "share-key"} in template["Resources"]["ShareKey"][
        "Properties"
    ]["Tags"]
    assert template["Outputs"]["ShareKeyArn"]["Value"] == {"Fn::GetAtt": ["ShareKey", "Arn"]}


def _source_role_statements(**parameters: str) -> dict[str, dict[str, Any]]:
    from ferry_cli.twin.cfn import render_stack

    rendered = render_stack(
        SOURCE,
        {"OrchestratorAccountId": "999999999999", "TargetAccountIds": "222222222222", **parameters},
        account_id="111111111111",
        region="eu-west-1",
        stack_name="aurora-ferry-source",
    )
    documents = [
        p["PolicyDocument"] for p in rendered.resources["OrchestratorAccessRole"].properties["Policies"]
    ] + [rendered.resources["OrchestratorAccessKmsPolicy"].properties["PolicyDocument"]]
    return {s["Sid"]: s for document in documents for s in document["Statement"]}


@pytest.mark.unit
def test_without_copy_regions_the_source_role_reaches_no_other_region() -> None:
    # Given the source stack deployed with its defaults
    statements = _source_role_statements()
    # Then it has none of the two-step statements, and every RDS resource it names is in its own Region
    assert not (COPY_REGION_SIDS | COPY_REGION_KEY_SIDS) & set(statements)
    arns = [r for s in statements.values() for r in as_list(s["Resource"]) if r.startswith("arn:aws:rds:")]
    assert arns and all(r.startswith("arn:aws:rds:eu-west-1:") for r in arns)


@pytest.mark.unit
@pytest.mark.parametrize("regions", ["eu-central-1", "eu-central-1,us-east-1"])
def test_copy_regions_open_exactly_those_regions_and_keys(regions: str) -> None:
    # Given the source stack deployed with copy Regions and a regional share key for each
    keys = [
        f"arn:aws:kms:{r}:111111111111:key/0b5e1c3a-6f1d-4f7e-9a51-2c8e7d1f0a1{i}"
        for i, r in enumerate(regions.split(","))
    ]
    statements = _source_role_statements(CopyRegions=regions, CopyRegionShareKeyArns=",".join(keys))

    # Then each RDS statement for them holds only in those Regions, on this account's snapshots
    assert set(statements) >= COPY_REGION_SIDS
    for sid in COPY_REGION_SIDS:
        statement = statements[sid]
        assert statement["Condition"]["StringEquals"]["aws:RequestedRegion"] == regions.split(",")
        assert as_list(statement["Resource"]) == [
            "arn:aws:rds:*:111111111111:cluster-snapshot:"
            + ("*" if sid == "ReadSnapshotsInCopyRegions" else "ferry-*")
        ]
    # And the creating ones need the managed request tag, the destructive ones the managed resource tag
    assert (
        statements["CopyIntoCopyRegionsOnlyTagged"]["Condition"]["StringEquals"][
            f"aws:RequestTag/{MANAGED_TAG}"
        ]
        == "true"
    )
    assert (
        statements["TagInCopyRegionsOnlyAsManaged"]["Condition"]["StringEquals"][
            f"aws:RequestTag/{MANAGED_TAG}"
        ]
        == "true"
    )
    destructive = statements["ShareAndDeleteOnlyManagedSnapshotsInCopyRegions"]
    assert destructive["Condition"]["StringEquals"][f"aws:ResourceTag/{MANAGED_TAG}"] == "true"
    # And the KMS statements name exactly the regional keys, used only through RDS, grants for AWS services only
    for sid in COPY_REGION_KEY_SIDS:
        assert as_list(statements[sid]["Resource"]) == keys
    for sid in ("UseCopyRegionShareKeysThroughRds", "GrantCopyRegionShareKeysToRds"):
        assert statements[sid]["Condition"]["StringLike"] == {"kms:ViaService": "rds.*.amazonaws.com"}
    assert (
        statements["GrantCopyRegionShareKeysToRds"]["Condition"]["Bool"]["kms:GrantIsForAWSResource"]
        == "true"
    )


@pytest.mark.unit
def test_copy_regions_without_keys_copy_unencrypted_snapshots_only() -> None:
    # Given copy Regions but no regional share key (only unencrypted clusters are copied)
    statements = _source_role_statements(CopyRegions="eu-central-1")
    # Then the RDS statements are there and no KMS statement names a key that does not exist
    assert set(statements) >= COPY_REGION_SIDS
    assert not COPY_REGION_KEY_SIDS & set(statements)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("parameter", "value"),
    [("CopyRegions", "eu-central"), ("CopyRegionShareKeyArns", "alias/aurora-ferry-share")],
)
def test_copy_region_parameters_refuse_what_is_not_a_region_or_a_key_arn(parameter: str, value: str) -> None:
    from ferry_cli.twin.cfn import StackError

    with pytest.raises(StackError, match=parameter):
        _source_role_statements(**{parameter: value})


@pytest.mark.parametrize("template", [TARGET, SOURCE], ids=["target", "source"])
def test_the_monitoring_role_is_for_rds_monitoring_only_and_passed_only_to_rds(template: Path) -> None:
    # Given a member template (the source's for same-account clones)
    resources = load(template)["Resources"]
    role = resources["MonitoringRole"]["Properties"]
    passing = resources["OrchestratorAccessMonitoringPolicy"]["Properties"]
    # Then the monitoring role, named after the orchestrator's role, trusts only RDS's monitoring service of
    # this account and has only the managed Enhanced Monitoring policy
    assert role["RoleName"] == {"Fn::Sub": "${RoleName}-monitoring"}
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert role["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"}
    ]
    # And the orchestrator's role may pass exactly that role, only to RDS
    (statement,) = passing["PolicyDocument"]["Statement"]
    assert statement["Sid"] == "PassMonitoringRole"
    assert (statement["Action"], statement["Resource"]) == (
        "iam:PassRole",
        {"Fn::GetAtt": ["MonitoringRole", "Arn"]},
    )
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "rds.amazonaws.com"}}
    assert passing["RoleName"] == {"Ref": "OrchestratorAccessRole"}
