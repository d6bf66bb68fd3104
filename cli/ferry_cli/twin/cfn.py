"""Renders a CloudFormation template for one stack as CloudFormation would, so the twin can deploy it.

Parameters are checked and defaulted, conditions evaluated, resources with a false condition dropped and
intrinsic functions resolved in dependency order. Physical ids follow CloudFormation where policies see
them (IAM role names and ARNs, KMS key and DynamoDB table ARNs); what only a deployment knows (function and
state machine ARNs) comes from the caller's `physical_ids`, or is a deterministic placeholder. Generated
names end in a suffix stable per account, Region, stack and logical id, as a stack update keeps them.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ferry_cli.template import load_cfn_yaml

_EMPTY: Mapping[str, str] = MappingProxyType({})
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
# CloudFormation's limit for the names it generates, where the service's own limit is not 64.
_NAME_LIMITS = {"AWS::DynamoDB::Table": 255, "AWS::Logs::LogGroup": 512}


class StackError(Exception):
    """CloudFormation would refuse this stack: a bad parameter, a dangling reference or a cycle."""


class _NoValue:
    """AWS::NoValue: removes the property or list item it is the value of."""


_NO_VALUE = _NoValue()


@dataclass(frozen=True)
class RenderedResource:
    """One resource of the stack, its properties fully resolved."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    physical_id: str  # what Ref returns
    arn: str | None
    attributes: dict[str, str]  # what Fn::GetAtt returns, by attribute name


@dataclass(frozen=True)
class RenderedStack:
    stack_name: str
    account_id: str
    region: str
    resources: dict[str, RenderedResource]  # in dependency order: a resource after what it references
    outputs: dict[str, str]
    parameters: dict[str, str | list[str]]
    conditions: dict[str, bool]

    def of_type(self, resource_type: str) -> dict[str, RenderedResource]:
        return {lid: res for lid, res in self.resources.items() if res.type == resource_type}


def partition_of(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def render_stack(
    template: Mapping[str, Any] | Path,
    parameters: Mapping[str, str | Sequence[str]],
    *,
    account_id: str,
    region: str,
    stack_name: str,
    physical_ids: Mapping[str, str] = _EMPTY,
    key_ids: Mapping[str, str] = _EMPTY,
) -> RenderedStack:
    """Render `template` as stack `stack_name` in `account_id`/`region` with the given parameter values.

    `physical_ids` (logical id -> name or ARN) pins what Ref/GetAtt return for resources deployed elsewhere;
    `key_ids` pins the key id of AWS::KMS::Key resources.
    """
    loaded = load_cfn_yaml(template) if isinstance(template, Path) else template
    if "AWS::Serverless-2016-10-31" in _as_list(loaded.get("Transform")):
        raise StackError("a SAM template: translate it first (ferry_cli.twin.stacks.translate_sam)")
    renderer = _Renderer(loaded, account_id, region, stack_name, physical_ids, key_ids)
    renderer.parameters = _parameter_values(loaded.get("Parameters") or {}, parameters)
    return renderer.render()


# --- parameters -------------------------------------------------------------------------------------------


def _parameter_values(
    declared: Mapping[str, Any], given: Mapping[str, str | Sequence[str]]
) -> dict[str, str | list[str]]:
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise StackError(f"Parameters: {unknown} do not exist in the template")
    values: dict[str, str | list[str]] = {}
    missing: list[str] = []
    for name, spec in declared.items():
        if name in given:
            values[name] = _checked(name, spec, given[name])
        elif "Default" in spec:
            values[name] = _checked(name, spec, spec["Default"])
        else:
            missing.append(name)
    if missing:
        raise StackError(f"Parameters: {missing} must have values")
    return values


def _checked(name: str, spec: Mapping[str, Any], raw: Any) -> str | list[str]:
    kind = str(spec.get("Type", "String"))
    if kind == "CommaDelimitedList" or kind.startswith("List<"):
        # CloudFormation trims the spaces around each member of a list parameter.
        items = [_text(i) for i in raw] if isinstance(raw, list | tuple) else _text(raw).split(",")
        members = [item.strip() for item in items]
        for member in members:
            _check_value(name, spec, member, numeric=kind == "List<Number>")
        return members
    value = _text(raw)
    _check_value(name, spec, value, numeric=kind == "Number")
    return value


def _check_value(name: str, spec: Mapping[str, Any], value: str, *, numeric: bool) -> None:
    def refuse(default_reason: str) -> StackError:
        description = spec.get("ConstraintDescription")
        if description:
            return StackError(f"Parameter '{name}' failed to satisfy constraint: {description}")
        return StackError(f"Parameter '{name}' {default_reason}")

    if numeric:
        try:
            number = float(value)
        except ValueError:
            raise StackError(f"Parameter '{name}' must be a number, not {value!r}") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise refuse(f"must be a number not less than {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise refuse(f"must be a number not greater than {spec['MaxValue']}")
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [_text(v) for v in allowed]:
        raise refuse(f"must be one of AllowedValues {[_text(v) for v in allowed]}")
    pattern = spec.get("AllowedPattern")
    # CloudFormation matches the pattern against the whole value.
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        raise refuse(f"must match pattern {pattern}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise refuse(f"must contain at least {spec['MinLength']} characters")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise refuse(f"must contain at most {spec['MaxLength']} characters")


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, list) else [value]


# --- the renderer -----------------------------------------------------------------------------------------


@dataclass
class _Renderer:
    template: Mapping[str, Any]
    account_id: str
    region: str
    stack_name: str
    physical_ids: Mapping[str, str]
    key_ids: Mapping[str, str]

    def __post_init__(self) -> None:
        account_id, region, stack_name = self.account_id, self.region, self.stack_name
        self.partition = partition_of(region)
        self.parameters: dict[str, str | list[str]] = {}
        self.pseudo: dict[str, Any] = {
            "AWS::AccountId": account_id,
            "AWS::Region": region,
            "AWS::Partition": self.partition,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:{self.partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/"
            + str(self._uuid("AWS::StackId")),
            "AWS::URLSuffix": "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com",
            "AWS::NotificationARNs": [],
        }
        self.declared: dict[str, Any] = dict(self.template.get("Resources") or {})
        self.conditions: dict[str, bool] = {}
        self._evaluating: list[str] = []
        self.resources: dict[str, RenderedResource] = {}
        self.where = ""

    def render(self) -> RenderedStack:
        for name in self.template.get("Conditions") or {}:
            self._condition(name)
        active = [lid for lid, res in self.declared.items() if self._included(res)]
        for logical_id in self._dependency_order(active):
            self.where = f"Resources.{logical_id}"
            declared = self.declared[logical_id]
            properties = self._resolve(declared.get("Properties") or {})
            self.resources[logical_id] = self._identify(logical_id, str(declared["Type"]), properties)
        outputs: dict[str, str] = {}
        for name, output in (self.template.get("Outputs") or {}).items():
            if not self._included(output):
                continue
            self.where = f"Outputs.{name}"
            value = self._resolve(output.get("Value"))
            if isinstance(value, list | dict | _NoValue) or value is None:
                raise StackError(f"{self.where}: the value must be a string, not {value!r}")
            outputs[name] = _text(value)
        names = (self.stack_name, self.account_id, self.region)
        return RenderedStack(*names, self.resources, outputs, self.parameters, self.conditions)

    def _included(self, declaration: Mapping[str, Any]) -> bool:
        name = declaration.get("Condition")
        return name is None or self._condition(str(name))

    # --- conditions ---

    def _condition(self, name: str) -> bool:
        if name in self.conditions:
            return self.conditions[name]
        declared = self.template.get("Conditions") or {}
        if name not in declared:
            raise StackError(f"{self.where or 'Conditions'}: unknown condition {name}")
        if name in self._evaluating:
            raise StackError(f"Conditions: circular condition {' -> '.join([*self._evaluating, name])}")
        self._evaluating.append(name)
        saved, self.where = self.where, f"Conditions.{name}"
        value = self._evaluate(declared[name])
        self.where = saved
        self._evaluating.pop()
        self.conditions[name] = value
        return value

    def _evaluate(self, node: Any) -> bool:
        if isinstance(node, bool):
            return node
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Condition":
                return self._condition(str(arg))
            if key == "Fn::Not":
                return not self._evaluate(_as_list(arg)[0])
            if key == "Fn::And":
                return all(self._evaluate(item) for item in arg)
            if key == "Fn::Or":
                return any(self._evaluate(item) for item in arg)
            if key == "Fn::Equals":
                left, right = (self._comparable(self._resolve(item)) for item in arg)
                return bool(left == right)
        raise StackError(f"{self.where}: not a condition: {node!r}")

    @staticmethod
    def _comparable(value: Any) -> Any:
        return [_text(v) for v in value] if isinstance(value, list) else _text(value)

    # --- dependency order ---

    def _dependency_order(self, active: list[str]) -> list[str]:
        included = set(active)
        order: list[str] = []
        visiting: list[str] = []
        done: set[str] = set()

        def visit(logical_id: str) -> None:
            if logical_id in done:
                return
            if logical_id in visiting:
                cycle = [*visiting[visiting.index(logical_id) :], logical_id]
                raise StackError(f"Circular dependency between resources: {' -> '.join(cycle)}")
            visiting.append(logical_id)
            declared = self.declared[logical_id]
            needs = _references(declared.get("Properties") or {}) | set(_as_list(declared.get("DependsOn")))
            # Template order keeps the rendering (and generated names) stable from run to run.
            for dependency in active:
                if dependency in needs and dependency in included:
                    visit(dependency)
            visiting.pop()
            done.add(logical_id)
            order.append(logical_id)

        for logical_id in active:
            visit(logical_id)
        return order

    # --- intrinsic functions ---

    def _resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            resolved = (self._resolve(item) for item in node)
            return [item for item in resolved if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self._ref(str(arg))
            if key.startswith("Fn::"):
                return self._function(key, arg)
        resolved_items = ((key, self._resolve(value)) for key, value in node.items())
        return {key: value for key, value in resolved_items if value is not _NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:
        if name == "Fn::If":
            condition, when_true, when_false = arg
            return self._resolve(when_true if self._condition(str(condition)) else when_false)
        if name == "Fn::Join":
            delimiter, items = arg
            return str(delimiter).join(self._string(item, name) for item in self._list(items, name))
        if name == "Fn::Split":
            delimiter, source = arg
            return self._string(self._resolve(source), name).split(str(delimiter))
        if name == "Fn::Select":
            index, items = arg
            chosen = int(self._string(self._resolve(index), name))
            values = self._list(items, name)
            if not 0 <= chosen < len(values):
                raise StackError(f"{self.where}: Fn::Select index {chosen} is outside {values!r}")
            return values[chosen]
        if name == "Fn::Sub":
            template, variables = (arg, {}) if isinstance(arg, str) else arg
            resolved = {key: self._resolve(value) for key, value in (variables or {}).items()}
            return _SUB_VARIABLE.sub(lambda match: self._substitute(match.group(1), resolved), str(template))
        if name == "Fn::GetAtt":
            resource, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return self._get_att(str(resource), self._string(self._resolve(attribute), name))
        if name == "Fn::FindInMap":
            mapping, top, second = (self._string(self._resolve(item), name) for item in arg)
            try:
                return self._resolve(self.template["Mappings"][mapping][top][second])
            except KeyError:
                raise StackError(f"{self.where}: no {mapping}.{top}.{second} in Mappings") from None
        raise StackError(f"{self.where}: the twin's renderer does not model {name}")

    def _substitute(self, expression: str, variables: Mapping[str, Any]) -> str:
        if expression.startswith("!"):
            return "${" + expression[1:] + "}"
        name = expression.strip()
        if name in variables:
            return self._string(variables[name], "Fn::Sub")
        if "." in name and not name.startswith("AWS::"):
            resource, attribute = name.split(".", 1)
            return self._get_att(resource, attribute)
        return self._string(self._ref(name), "Fn::Sub")

    def _list(self, node: Any, function: str) -> list[Any]:
        value = self._resolve(node)
        if not isinstance(value, list):
            raise StackError(f"{self.where}: {function} needs a list, not {value!r}")
        return value

    def _string(self, value: Any, function: str) -> str:
        if isinstance(value, list | dict | _NoValue) or value is None:
            raise StackError(f"{self.where}: {function} needs a string, not {value!r}")
        return _text(value)

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        for known in (self.pseudo, self.parameters):
            if name in known:
                return list(known[name]) if isinstance(known[name], list) else known[name]
        return self._resource(name, "Ref").physical_id

    def _get_att(self, resource: str, attribute: str) -> str:
        rendered = self._resource(resource, "Fn::GetAtt")
        if attribute not in rendered.attributes:
            raise StackError(
                f"{self.where}: Fn::GetAtt {resource}.{attribute}: the twin knows no attribute {attribute} "
                f"of {rendered.type} (known: {sorted(rendered.attributes)})"
            )
        return rendered.attributes[attribute]

    def _resource(self, name: str, function: str) -> RenderedResource:
        if name in self.resources:
            return self.resources[name]
        if self.where.startswith("Conditions."):
            raise StackError(f"{self.where}: conditions may only reference parameters, not {name}")
        if name in self.declared:
            condition = self.declared[name].get("Condition")
            raise StackError(f"{self.where}: {function} {name}, left out by its condition {condition}")
        raise StackError(f"{self.where}: {function} to {name}, which is no parameter or resource")

    # --- physical ids ---

    def _identify(self, logical_id: str, kind: str, props: dict[str, Any]) -> RenderedResource:
        given = self.physical_ids.get(logical_id)
        given_arn = given if given and given.startswith("arn:") else None
        prefix = f"arn:{self.partition}"
        account, region = self.account_id, self.region

        def name(prop: str | None, arn_separator: str) -> str:
            if given_arn and arn_separator not in given_arn:
                raise StackError(f"physical id of {logical_id}: {given_arn} is not the ARN of a {kind}")
            if given:
                return given.split(arn_separator, 1)[1] if given_arn else given
            if prop and isinstance(props.get(prop), str):
                return str(props[prop])
            return self._generated(logical_id, kind)

        arn: str | None
        attributes: dict[str, str] = {}
        if kind == "AWS::IAM::Role":
            physical = name("RoleName", ":role/").rsplit("/", 1)[-1]
            arn = f"{prefix}:iam::{account}:role{props.get('Path', '/')}{physical}"
            attributes["RoleId"] = "AROA" + self._suffix(logical_id, 17)
        elif kind == "AWS::KMS::Key":
            physical = self.key_ids.get(logical_id) or (name(None, ":key/") if given else "")
            physical = physical or str(self._uuid(logical_id))
            arn = f"{prefix}:kms:{region}:{account}:key/{physical}"
            attributes["KeyId"] = physical
        elif kind == "AWS::KMS::Alias":
            physical = str(props["AliasName"])
            arn = f"{prefix}:kms:{region}:{account}:{physical}"
        elif kind == "AWS::DynamoDB::Table":
            physical = name("TableName", ":table/")
            arn = f"{prefix}:dynamodb:{region}:{account}:table/{physical}"
            attributes["StreamArn"] = f"{arn}/stream/1970-01-01T00:00:00.000"
        elif kind == "AWS::Lambda::Function":
            physical = name("FunctionName", ":function:").split(":", 1)[0]
            arn = f"{prefix}:lambda:{region}:{account}:function:{physical}"
        elif kind == "AWS::Lambda::LayerVersion":
            layer = name("LayerName", ":layer:").split(":", 1)[0]
            physical = arn = given_arn or f"{prefix}:lambda:{region}:{account}:layer:{layer}:1"
            attributes["LayerVersionArn"] = arn
        elif kind == "AWS::StepFunctions::StateMachine":
            machine = name("StateMachineName", ":stateMachine:")
            physical = arn = f"{prefix}:states:{region}:{account}:stateMachine:{machine}"
            attributes["Name"] = machine
        elif kind == "AWS::Events::Rule":
            physical = name("Name", ":rule/").rsplit("/", 1)[-1]
            arn = given_arn or f"{prefix}:events:{region}:{account}:rule/{physical}"
        elif kind == "AWS::Logs::LogGroup":
            physical = name("LogGroupName", ":log-group:").removesuffix(":*")
            arn = f"{prefix}:logs:{region}:{account}:log-group:{physical}:*"
        elif kind == "AWS::IAM::ManagedPolicy":
            policy = name("ManagedPolicyName", ":policy/").rsplit("/", 1)[-1]
            physical = arn = f"{prefix}:iam::{account}:policy{props.get('Path', '/')}{policy}"
            attributes["PolicyArn"] = arn
        else:
            physical = given or self._generated(logical_id, kind)
            arn = given_arn
        if arn is not None:
            attributes.setdefault("Arn", arn)
        return RenderedResource(logical_id, kind, props, physical, arn, attributes)

    def _generated(self, logical_id: str, kind: str) -> str:
        """<stack>-<LogicalId>-<SUFFIX>, the stack and logical id parts cut so the name fits the limit."""
        room = _NAME_LIMITS.get(kind, 64) - 13
        return f"{f'{self.stack_name}-{logical_id}'[:room]}-{self._suffix(logical_id, 12)}"

    def _seed(self, logical_id: str) -> bytes:
        text = f"{self.account_id}/{self.region}/{self.stack_name}/{logical_id}"
        return hashlib.sha256(text.encode()).digest()

    def _suffix(self, logical_id: str, length: int) -> str:
        return base64.b32encode(self._seed(logical_id)).decode()[:length]

    def _uuid(self, logical_id: str) -> uuid.UUID:
        return uuid.UUID(bytes=self._seed(logical_id)[:16], version=4)


def _references(node: Any) -> set[str]:
    """Names a node references through Ref, Fn::GetAtt and Fn::Sub (parameters included)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _references(item)
    elif isinstance(node, dict):
        if len(node) == 1 and "Ref" in node:
            found.add(str(node["Ref"]))
        elif len(node) == 1 and "Fn::GetAtt" in node:
            target = node["Fn::GetAtt"]
            found.add(str(target.split(".", 1)[0] if isinstance(target, str) else target[0]))
        elif len(node) == 1 and "Fn::Sub" in node:
            arg = node["Fn::Sub"]
            template, variables = (arg, {}) if isinstance(arg, str) else [*arg, {}][:2]
            for expression in _SUB_VARIABLE.findall(str(template)):
                if not expression.startswith("!") and expression.strip() not in variables:
                    found.add(expression.strip().split(".", 1)[0])
            found |= _references(variables)
        else:
            for value in node.values():
                found |= _references(value)
    return found
