"""Deploys the repo's own templates into the twin's moto accounts, so the twin allows what they grant.

Member stacks (member-accounts/*.yaml) are rendered by ferry_cli.twin.cfn and their IAM roles, inline
policies, KMS keys and aliases created straight in moto's backends: no credentials, no authorization and
no moto CloudFormation (whose intrinsic support is partial) are involved. Resources the twin has no use
for (EventBridge rules, for instance) stay in the RenderedStack and are not deployed.

For the orchestrator's template.yaml, the SAM transform runs offline through samtranslator, as
`sam validate` does, and each function's generated execution role is read from the translated template.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ferry_cli.template import load_cfn_yaml
from ferry_cli.twin.cache import cache_path, read_cached, write_cached
from ferry_cli.twin.cfn import RenderedResource, RenderedStack, StackError, partition_of, render_stack

_EMPTY: Mapping[str, str] = MappingProxyType({})
_AWS_MANAGED_POLICY = ":iam::aws:policy/"
# samtranslator resolves AWS managed policy names from a map bundled with it first; this is its offline
# fallback, in place of ManagedPolicyLoader's IAM ListPolicies, for the names SAM's own features attach.
_MANAGED_POLICY_PATHS = {
    "AWSLambdaBasicExecutionRole": "service-role/",
    "AWSLambdaVPCAccessExecutionRole": "service-role/",
    "AWSLambdaRole": "service-role/",
    "AWSLambdaSQSQueueExecutionRole": "service-role/",
    "AWSLambdaDynamoDBExecutionRole": "service-role/",
    "AWSLambdaKinesisExecutionRole": "service-role/",
    "AWSXrayWriteOnlyAccess": "",
    "AWSLambdaExecute": "",
    "CloudWatchLambdaInsightsExecutionRolePolicy": "",
}
# Local artifact paths SAM would upload at package time; the transform accepts S3 locations only.
_LOCAL_URIS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
}


@dataclass(frozen=True)
class FunctionRole:
    """The execution role of one Lambda function, as the stack would create it.

    A customer managed policy the template defines is among `inline_policies`, by its name, not among
    `managed_policy_arns`: it grants the same either way, and the twin reads inline documents only.
    """

    function_logical_id: str
    role_name: str
    role_path: str
    role_arn: str
    trust_policy: dict[str, Any]
    inline_policies: list[tuple[str, dict[str, Any]]]
    managed_policy_arns: list[str]


# --- member stacks ----------------------------------------------------------------------------------------


def deploy_member_stack(
    template: Path | Mapping[str, Any],
    parameters: Mapping[str, str],
    account_id: str,
    region: str,
    stack_name: str,
    *,
    key_ids: Mapping[str, str] = _EMPTY,
) -> RenderedStack:
    """Render a member-account template and create its roles, policies, keys and aliases in moto.

    Must run inside an active `moto.mock_aws()`; `key_ids` fixes the key id of each AWS::KMS::Key.
    """
    from moto.iam.models import iam_backends
    from moto.kms.models import kms_backends

    _require_mock()
    rendered = render_stack(
        load_cfn_yaml(template) if isinstance(template, Path) else template,
        parameters,
        account_id=account_id,
        region=region,
        stack_name=stack_name,
        key_ids=key_ids,
    )
    iam = iam_backends[account_id][partition_of(region)]
    kms = kms_backends[account_id][region]
    # Dependency order: a role exists before the policies that name it, a key before its alias.
    for resource in rendered.resources.values():
        props = resource.properties
        if resource.type == "AWS::IAM::Role":
            _create_role(
                iam,
                resource.physical_id,
                path=str(props.get("Path", "/")),
                trust_policy=props["AssumeRolePolicyDocument"],
                description=str(props.get("Description", "")),
                tags=list(props.get("Tags", [])),
                max_session_duration=str(props.get("MaxSessionDuration", 3600)),
            )
            for policy in props.get("Policies", []):
                _put_inline_policy(
                    iam, resource.physical_id, str(policy["PolicyName"]), policy["PolicyDocument"]
                )
            _attach_managed_policies(iam, resource.physical_id, props.get("ManagedPolicyArns", []))
        elif resource.type in ("AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for role_name, policy_name, document in _policies_for_roles(resource):
                _put_inline_policy(iam, role_name, policy_name, document)
        elif resource.type == "AWS::KMS::Key":
            create_key(kms, resource)
        elif resource.type == "AWS::KMS::Alias":
            if kms.alias_exists(resource.physical_id):
                raise StackError(f"{resource.logical_id}: alias {resource.physical_id} already exists")
            kms.create_alias(target_key_id=str(props["TargetKeyId"]), alias_name=resource.physical_id)
    return rendered


def without_statements(template: Mapping[str, Any], sids: Sequence[str]) -> dict[str, Any]:
    """A copy of a member template whose role policies lack the statements `sids` (a rehearsed omission).

    Raises StackError for a Sid that is not in the template, so a world cannot silently omit nothing.
    """
    copied: dict[str, Any] = copy.deepcopy(dict(template))
    remaining = set(sids)
    resources = copied.get("Resources", {})
    for resource in resources.values():
        properties = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        if resource.get("Type") in ("AWS::IAM::RolePolicy", "AWS::IAM::Policy"):
            documents.append(properties["PolicyDocument"])
        for document in documents:
            kept = []
            for statement in document.get("Statement", []):
                # A conditional statement is {"Fn::If": [condition, statement, AWS::NoValue]}.
                body = statement.get("Fn::If", [None, statement])[1] if isinstance(statement, dict) else None
                sid = body.get("Sid") if isinstance(body, dict) else None
                if sid is not None and sid in sids:
                    remaining.discard(sid)
                    continue
                kept.append(statement)
            document["Statement"] = kept
    # A policy resource left without statements is one the operator would delete (IAM refuses an empty one).
    for name in [
        n
        for n, r in resources.items()
        if r.get("Properties", {}).get("PolicyDocument", {}).get("Statement") == []
    ]:
        del resources[name]
    if remaining:
        raise StackError(
            f"no statement with Sid {', '.join(sorted(remaining))} in the template's role policies"
        )
    return copied


def _require_mock() -> None:
    from moto.core.models import MockAWS

    # Outside mock_aws the backends would keep these resources for every later test of the process.
    if not MockAWS._mocks_active:
        raise RuntimeError("the twin deploys into moto: call this inside an active moto.mock_aws()")


def _create_role(
    iam: Any,
    name: str,
    *,
    path: str,
    trust_policy: Mapping[str, Any],
    description: str = "",
    tags: list[dict[str, str]] | None = None,
    max_session_duration: str = "3600",
) -> None:
    iam.create_role(
        role_name=name,
        assume_role_policy_document=json.dumps(trust_policy),
        path=path,
        permissions_boundary=None,
        description=description,
        tags=tags or [],
        max_session_duration=max_session_duration,
    )


def _put_inline_policy(iam: Any, role_name: str, policy_name: str, document: Mapping[str, Any]) -> None:
    if "Version" in document:
        iam.put_role_policy(role_name, policy_name, json.dumps(document))
    else:
        # IAM takes a policy without Version (SAM writes its function policies so); moto's validator
        # refuses one, so the document goes onto the role as IAM would store it.
        iam.get_role(role_name).put_policy(policy_name, json.dumps(document))


def create_key(kms: Any, resource: RenderedResource) -> None:
    props = resource.properties
    if resource.physical_id in kms.keys:
        raise StackError(f"{resource.logical_id}: key {resource.physical_id} already exists")
    key_policy = props.get("KeyPolicy")
    moto_key = kms.create_key(
        policy=json.dumps(key_policy) if key_policy is not None else None,
        key_usage=str(props.get("KeyUsage", "ENCRYPT_DECRYPT")),
        key_spec=str(props.get("KeySpec", "SYMMETRIC_DEFAULT")),
        description=str(props.get("Description", "")),
        tags=None,
    )
    # moto draws a random key id; the stack's callers name keys by the fixed id they asked for.
    kms.keys.pop(moto_key.id)
    moto_key.id = resource.physical_id
    moto_key.arn = resource.arn
    kms.keys[moto_key.id] = moto_key
    if _is_true(props.get("EnableKeyRotation")):
        kms.enable_key_rotation(moto_key.id)
    if "Enabled" in props and not _is_true(props["Enabled"]):
        kms.disable_key(moto_key.id)
    tags = {str(tag["Key"]): str(tag["Value"]) for tag in props.get("Tags", [])}
    if tags:
        kms.tag_resource(moto_key.id, tags)


def _is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _policies_for_roles(resource: RenderedResource) -> list[tuple[str, str, dict[str, Any]]]:
    """(role name, policy name, document) for each role an IAM policy resource is inline in."""
    props = resource.properties
    if resource.type == "AWS::IAM::RolePolicy":
        return [(str(props["RoleName"]), str(props["PolicyName"]), props["PolicyDocument"])]
    if resource.type == "AWS::IAM::Policy":
        return [
            (str(role), str(props["PolicyName"]), props["PolicyDocument"]) for role in props.get("Roles", [])
        ]
    if resource.type == "AWS::IAM::ManagedPolicy":
        # A customer managed policy grants the same as an inline one; the twin keeps it inline, by name.
        name = _managed_policy_name(resource)
        return [(str(role), name, props["PolicyDocument"]) for role in props.get("Roles", [])]
    return []


def _managed_policy_name(resource: RenderedResource) -> str:
    return resource.physical_id.rsplit("/", 1)[-1]


def _attach_managed_policies(iam: Any, role_name: str, arns: list[str]) -> None:
    for arn in arns:
        if arn in iam.managed_policies:
            iam.attach_role_policy(arn, role_name)
        elif _AWS_MANAGED_POLICY not in arn:
            raise StackError(f"role {role_name}: managed policy {arn} is unknown to the twin")
        # Otherwise an AWS managed policy moto has not loaded (it loads none by default). The ones SAM
        # attaches to this repo's functions, AWSLambdaBasicExecutionRole and AWSXrayWriteOnlyAccess, grant
        # CloudWatch Logs and X-Ray writes only, which the twin neither has nor checks.


# --- the SAM template -------------------------------------------------------------------------------------


def translate_sam(
    template: Mapping[str, Any], parameters: Mapping[str, str], account_id: str, region: str, stack_name: str
) -> dict[str, Any]:
    """The CloudFormation template the SAM transform makes of `template`, translated offline."""
    import boto3
    from samtranslator.model.exceptions import (  # type: ignore[import-untyped]
        InvalidDocumentException,
    )
    from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
    from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

    sam = _with_s3_artifacts(template)
    # The session only tells the transform the Region (and so the partition); it never calls AWS.
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    pseudo = {"AWS::AccountId": account_id, "AWS::Region": region, "AWS::StackName": stack_name}
    try:
        translated: dict[str, Any] = translator.translate(
            sam,
            parameter_values={**parameters, **pseudo, "AWS::Partition": partition_of(region)},
            get_managed_policy_map=lambda: _offline_managed_policies(partition_of(region)),
        )
    except InvalidDocumentException as error:
        causes = "; ".join(str(cause) for cause in error.causes)
        raise StackError(f"SAM transform failed: {causes}") from error
    return translated


def _offline_managed_policies(partition: str) -> dict[str, str]:
    return {
        name: f"arn:{partition}:iam::aws:policy/{path}{name}" for name, path in _MANAGED_POLICY_PATHS.items()
    }


def _with_s3_artifacts(template: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the template whose local artifact paths are dummy S3 locations, as `sam validate` does."""
    sam = copy.deepcopy(dict(template))
    globals_function = (sam.get("Globals") or {}).get("Function") or {}
    if isinstance(globals_function.get("CodeUri"), str):
        globals_function["CodeUri"] = _dummy_s3(globals_function["CodeUri"])
    for resource in (sam.get("Resources") or {}).values():
        prop = _LOCAL_URIS.get(str(resource.get("Type")))
        props = resource.get("Properties") or {}
        if prop and isinstance(props.get(prop), str):
            props[prop] = _dummy_s3(props[prop])
    return sam


def _dummy_s3(uri: str) -> str:
    return uri if uri.startswith("s3://") else f"s3://twin-artifacts/{uri.strip('/') or 'root'}"


@dataclass(frozen=True)
class SamStack:
    """The SAM template deployed as one stack: where, under which name, with which parameters, and what the
    twin already created for its functions, state machines and tables (logical id -> ARN or name)."""

    template_path: Path
    parameters: Mapping[str, str]
    account_id: str
    region: str
    stack_name: str
    physical_ids: Mapping[str, str]


def sam_function_roles(stack: SamStack) -> dict[str, FunctionRole]:
    """Each function's execution role, by function logical id, as the SAM template's stack would create it.

    `physical_ids` (logical id -> ARN or name) gives what the twin deployed for functions, state machines
    and tables, so the policies name those. AWS::IAM::Policy and AWS::IAM::RolePolicy resources attached
    to a role are merged into its inline policies, and so is each AWS::IAM::ManagedPolicy of the template
    that a role attaches by ARN (a function's `Policies: [!Ref SomePolicy]`, or the policy's `Roles`).
    """
    raw = load_cfn_yaml(stack.template_path)
    translated, rendered = _rendered_sam(stack)
    attached: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for resource in rendered.resources.values():
        for role_name, policy_name, document in _policies_for_roles(resource):
            attached.setdefault(role_name, []).append((policy_name, document))
    # By the ARN that a Ref to the policy (or Fn::GetAtt PolicyArn, or the ARN written out) renders to.
    defined = {str(p.arn): p for p in rendered.of_type("AWS::IAM::ManagedPolicy").values()}
    serverless = {
        lid
        for lid, res in (raw.get("Resources") or {}).items()
        if res.get("Type") == "AWS::Serverless::Function"
    }
    roles: dict[str, FunctionRole] = {}
    for lid, function in rendered.of_type("AWS::Lambda::Function").items():
        role = _role_of(translated["Resources"][lid], rendered)
        if role is None:
            if lid in serverless:
                raise StackError(
                    f"{lid}: its Role is not a role of this template, so the twin cannot know it"
                )
            continue
        props = role.properties
        inline = [
            *((str(p["PolicyName"]), p["PolicyDocument"]) for p in props.get("Policies", [])),
            *attached.get(role.physical_id, []),
        ]
        arns = [str(arn) for arn in props.get("ManagedPolicyArns", [])]
        for arn in arns:
            if arn in defined and _managed_policy_name(defined[arn]) not in dict(inline):
                inline.append((_managed_policy_name(defined[arn]), defined[arn].properties["PolicyDocument"]))
        roles[function.logical_id] = FunctionRole(
            function_logical_id=lid,
            role_name=role.physical_id,
            role_path=str(props.get("Path", "/")),
            role_arn=str(role.arn),
            trust_policy=props["AssumeRolePolicyDocument"],
            inline_policies=inline,
            managed_policy_arns=[arn for arn in arns if arn not in defined],
        )
    return roles


def render_sam_stack(stack: SamStack) -> RenderedStack:
    """The SAM template's stack as CloudFormation would render it after the transform (the same identities
    as :func:`sam_function_roles` gives the functions' policies: key ids, topic ARNs)."""
    return _rendered_sam(stack)[1]


def _rendered_sam(stack: SamStack) -> tuple[dict[str, Any], RenderedStack]:
    template_path, parameters, account_id = stack.template_path, stack.parameters, stack.account_id
    region, stack_name, physical_ids = stack.region, stack.stack_name, stack.physical_ids
    translated = copy.deepcopy(
        _translated(
            str(template_path),
            template_path.stat().st_mtime_ns,
            tuple(sorted(parameters.items())),
            account_id,
            region,
            stack_name,
        )
    )
    rendered = render_stack(
        translated,
        parameters,
        account_id=account_id,
        region=region,
        stack_name=stack_name,
        physical_ids=physical_ids,
    )
    return translated, rendered


@functools.lru_cache(maxsize=8)
def _translated(
    path: str,
    mtime_ns: int,
    parameters: tuple[tuple[str, str], ...],
    account_id: str,
    region: str,
    stack: str,
) -> dict[str, Any]:
    """SAM's translation, once per template version: every twin of a test run deploys the same one (and the
    cache folder keeps it for the next process)."""
    from importlib.metadata import version

    del mtime_ns  # part of the in-process key only: an edited template is translated again
    source = Path(path).read_text(encoding="utf-8")
    inputs = (version("aws-sam-translator"), source, json.dumps(parameters), account_id, region, stack)
    cached = cache_path("sam", *inputs, suffix=".json")
    stored = read_cached(cached)
    if stored is not None:
        with contextlib.suppress(ValueError):
            translated: dict[str, Any] = json.loads(stored)
            return translated
    translated = translate_sam(load_cfn_yaml(Path(path)), dict(parameters), account_id, region, stack)
    write_cached(cached, json.dumps(translated).encode())
    return translated


def _role_of(function: Mapping[str, Any], rendered: RenderedStack) -> RenderedResource | None:
    reference = (function.get("Properties") or {}).get("Role")
    if not (isinstance(reference, dict) and list(reference) == ["Fn::GetAtt"]):
        return None
    target = reference["Fn::GetAtt"]
    logical_id, attribute = target.split(".", 1) if isinstance(target, str) else target
    role = rendered.resources.get(str(logical_id))
    return role if role is not None and role.type == "AWS::IAM::Role" and attribute == "Arn" else None


def create_function_roles(roles: Mapping[str, FunctionRole], account_id: str) -> None:
    """Create the functions' execution roles and their inline policies in moto's IAM of `account_id`.

    A role shared by several functions is created once. Must run inside an active `moto.mock_aws()`.
    """
    from moto.iam.models import iam_backends

    _require_mock()
    created: set[str] = set()
    for role in roles.values():
        if role.role_name in created:
            continue
        iam = iam_backends[account_id][role.role_arn.split(":")[1]]
        _create_role(iam, role.role_name, path=role.role_path, trust_policy=role.trust_policy)
        for policy_name, document in role.inline_policies:
            _put_inline_policy(iam, role.role_name, policy_name, document)
        _attach_managed_policies(iam, role.role_name, role.managed_policy_arns)
        created.add(role.role_name)


def publish_outputs(cloudformation: Any, stack_name: str, outputs: Mapping[str, str]) -> None:
    """Make `outputs` the stack's outputs in moto's CloudFormation, so that DescribeStacks answers them as AWS
    does for the deployed stack (the CLI's real-AWS commands find the state machines there).

    The twin deploys the stack's resources itself; the moto stack holds only a placeholder resource (a stack
    needs one) and the outputs, already rendered.
    """
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"TwinDeployed": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {name: {"Value": str(value)} for name, value in outputs.items()},
    }
    with warnings.catch_warnings():
        # moto creates no resource for the placeholder, and says so; nothing needs one.
        warnings.filterwarnings("ignore", message="Tried to parse AWS::CloudFormation::WaitConditionHandle")
        cloudformation.create_stack(StackName=stack_name, TemplateBody=json.dumps(template))
