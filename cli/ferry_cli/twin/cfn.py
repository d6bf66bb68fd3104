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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ferry_cli.template import load_cfn_yaml
from ferry_cli.twin.cfn_parameters import StackError, parameter_values, text

__all__ = ["RenderedResource", "RenderedStack", "StackError", "partition_of", "render_stack"]

_EMPTY: Mapping[str, str] = MappingProxyType({})
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
# CloudFormation's limit for the names it generates, where the service's own limit is not 64.
_NAME_LIMITS = {"AWS::DynamoDB::Table": 255, "AWS::Logs::LogGroup": 512}


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
    renderer.parameters = parameter_values(loaded.get("Parameters") or {}, parameters)
    return renderer.render()


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, list) else [value]


# --- the renderer -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Declared:
    """A resource being identified: its declaration, and the physical id the caller pinned for it, if any."""

    logical_id: str
    kind: str
    props: dict[str, Any]
    given: str | None

    @property
    def given_arn(self) -> str | None:
        return self.given if self.given and self.given.startswith("arn:") else None


# What identifies a rendered resource: its physical id (what Ref returns), its ARN and its GetAtt attributes.
_Identity = tuple[str, str | None, dict[str, str]]


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
            outputs[name] = text(value)
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
        return [text(v) for v in value] if isinstance(value, list) else text(value)

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
        function = _FUNCTIONS.get(name)
        if function is None:
            raise StackError(f"{self.where}: the twin's renderer does not model {name}")
        return function(self, arg)

    def _if(self, arg: Any) -> Any:
        condition, when_true, when_false = arg
        return self._resolve(when_true if self._condition(str(condition)) else when_false)

    def _join(self, arg: Any) -> str:
        delimiter, items = arg
        return str(delimiter).join(self._string(item, "Fn::Join") for item in self._list(items, "Fn::Join"))

    def _split(self, arg: Any) -> list[str]:
        delimiter, source = arg
        return self._string(self._resolve(source), "Fn::Split").split(str(delimiter))

    def _select(self, arg: Any) -> Any:
        index, items = arg
        chosen = int(self._string(self._resolve(index), "Fn::Select"))
        values = self._list(items, "Fn::Select")
        if not 0 <= chosen < len(values):
            raise StackError(f"{self.where}: Fn::Select index {chosen} is outside {values!r}")
        return values[chosen]

    def _sub(self, arg: Any) -> str:
        template, variables = (arg, {}) if isinstance(arg, str) else arg
        resolved = {key: self._resolve(value) for key, value in (variables or {}).items()}
        return _SUB_VARIABLE.sub(lambda match: self._substitute(match.group(1), resolved), str(template))

    def _get_att_function(self, arg: Any) -> str:
        resource, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
        return self._get_att(str(resource), self._string(self._resolve(attribute), "Fn::GetAtt"))

    def _find_in_map(self, arg: Any) -> Any:
        mapping, top, second = (self._string(self._resolve(item), "Fn::FindInMap") for item in arg)
        try:
            return self._resolve(self.template["Mappings"][mapping][top][second])
        except KeyError:
            raise StackError(f"{self.where}: no {mapping}.{top}.{second} in Mappings") from None

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
        return text(value)

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
        declared = _Declared(logical_id, kind, props, self.physical_ids.get(logical_id))
        physical, arn, attributes = _IDENTIFY.get(kind, _Renderer._unmodelled_id)(self, declared)
        if arn is not None:
            attributes.setdefault("Arn", arn)
        return RenderedResource(logical_id, kind, props, physical, arn, attributes)

    def _name(self, declared: _Declared, prop: str | None, arn_separator: str) -> str:
        """The pinned name (the part of a pinned ARN after `arn_separator`), else the `prop` property, else a
        generated one."""
        given, given_arn = declared.given, declared.given_arn
        if given_arn and arn_separator not in given_arn:
            raise StackError(
                f"physical id of {declared.logical_id}: {given_arn} is not the ARN of a {declared.kind}"
            )
        if given:
            return given.split(arn_separator, 1)[1] if given_arn else given
        if prop and isinstance(declared.props.get(prop), str):
            return str(declared.props[prop])
        return self._generated(declared.logical_id, declared.kind)

    def _arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account_id}:{resource}"

    def _role_id(self, declared: _Declared) -> _Identity:
        physical = self._name(declared, "RoleName", ":role/").rsplit("/", 1)[-1]
        arn = self._arn("iam", f"role{declared.props.get('Path', '/')}{physical}", regional=False)
        return physical, arn, {"RoleId": "AROA" + self._suffix(declared.logical_id, 17)}

    def _key_id(self, declared: _Declared) -> _Identity:
        logical_id = declared.logical_id
        physical = self.key_ids.get(logical_id) or (
            self._name(declared, None, ":key/") if declared.given else ""
        )
        physical = physical or str(self._uuid(logical_id))
        return physical, self._arn("kms", f"key/{physical}"), {"KeyId": physical}

    def _alias_id(self, declared: _Declared) -> _Identity:
        physical = str(declared.props["AliasName"])
        return physical, self._arn("kms", physical), {}

    def _table_id(self, declared: _Declared) -> _Identity:
        physical = self._name(declared, "TableName", ":table/")
        arn = self._arn("dynamodb", f"table/{physical}")
        return physical, arn, {"StreamArn": f"{arn}/stream/1970-01-01T00:00:00.000"}

    def _function_id(self, declared: _Declared) -> _Identity:
        physical = self._name(declared, "FunctionName", ":function:").split(":", 1)[0]
        return physical, self._arn("lambda", f"function:{physical}"), {}

    def _layer_id(self, declared: _Declared) -> _Identity:
        layer = self._name(declared, "LayerName", ":layer:").split(":", 1)[0]
        arn = declared.given_arn or self._arn("lambda", f"layer:{layer}:1")
        return arn, arn, {"LayerVersionArn": arn}

    def _state_machine_id(self, declared: _Declared) -> _Identity:
        machine = self._name(declared, "StateMachineName", ":stateMachine:")
        arn = self._arn("states", f"stateMachine:{machine}")
        return arn, arn, {"Name": machine}

    def _rule_id(self, declared: _Declared) -> _Identity:
        physical = self._name(declared, "Name", ":rule/").rsplit("/", 1)[-1]
        return physical, declared.given_arn or self._arn("events", f"rule/{physical}"), {}

    def _log_group_id(self, declared: _Declared) -> _Identity:
        physical = self._name(declared, "LogGroupName", ":log-group:").removesuffix(":*")
        return physical, self._arn("logs", f"log-group:{physical}:*"), {}

    def _managed_policy_id(self, declared: _Declared) -> _Identity:
        policy = self._name(declared, "ManagedPolicyName", ":policy/").rsplit("/", 1)[-1]
        arn = self._arn("iam", f"policy{declared.props.get('Path', '/')}{policy}", regional=False)
        return arn, arn, {"PolicyArn": arn}

    def _topic_id(self, declared: _Declared) -> _Identity:
        # Ref of a topic is its ARN; Fn::GetAtt gives TopicArn and TopicName.
        name = self._name(declared, "TopicName", f":{self.account_id}:")
        arn = self._arn("sns", name)
        return arn, arn, {"TopicArn": arn, "TopicName": name}

    def _unmodelled_id(self, declared: _Declared) -> _Identity:
        return declared.given or self._generated(declared.logical_id, declared.kind), declared.given_arn, {}

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


# Fn::* functions by name; each takes the function's (unresolved) argument.
_FUNCTIONS: dict[str, Callable[[_Renderer, Any], Any]] = {
    "Fn::If": _Renderer._if,
    "Fn::Join": _Renderer._join,
    "Fn::Split": _Renderer._split,
    "Fn::Select": _Renderer._select,
    "Fn::Sub": _Renderer._sub,
    "Fn::GetAtt": _Renderer._get_att_function,
    "Fn::FindInMap": _Renderer._find_in_map,
}

# The resource types whose physical ids policies see; any other gets a generated name and no ARN unless pinned.
_IDENTIFY: dict[str, Callable[[_Renderer, _Declared], _Identity]] = {
    "AWS::IAM::Role": _Renderer._role_id,
    "AWS::KMS::Key": _Renderer._key_id,
    "AWS::KMS::Alias": _Renderer._alias_id,
    "AWS::DynamoDB::Table": _Renderer._table_id,
    "AWS::Lambda::Function": _Renderer._function_id,
    "AWS::Lambda::LayerVersion": _Renderer._layer_id,
    "AWS::StepFunctions::StateMachine": _Renderer._state_machine_id,
    "AWS::Events::Rule": _Renderer._rule_id,
    "AWS::Logs::LogGroup": _Renderer._log_group_id,
    "AWS::IAM::ManagedPolicy": _Renderer._managed_policy_id,
    "AWS::SNS::Topic": _Renderer._topic_id,
}


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
