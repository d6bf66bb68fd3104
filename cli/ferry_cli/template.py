"""Reads this repo's SAM template: its functions and state machines, as the twin deploys them.

Only what the twin needs is modelled: each function's CodeUri, Handler and event sources (EventBridge rules
and schedules), each state machine's definition file and substitutions, and DynamoDB tables. Anything else
in the template is left to CloudFormation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

# The twin deploys the template as this "stack": physical names are <stack>-<logical id>.
TWIN_STACK_NAME = "aurora-ferry-twin"
# An environment value the twin knows only once it deployed the resource (see _env_value).
DEPLOYED_LATER = "twin:deployed-later:"
_RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


if TYPE_CHECKING:
    _SafeLoader = yaml.SafeLoader
else:
    # libyaml's loader when PyYAML has it: ten times faster, and every twin start reads the templates.
    _SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):
    """YAML loader that understands CloudFormation's short-form intrinsic tags (!Ref, !GetAtt, ...)."""


def _intrinsic(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


_LOADED: dict[tuple[Path, int, int], dict[str, Any]] = {}


def load_cfn_yaml(path: Path) -> dict[str, Any]:
    """The template as plain data (a fresh copy: callers may change it); parsed once per file version."""
    status = path.stat()
    key = (path.resolve(), status.st_mtime_ns, status.st_size)
    loaded = _LOADED.get(key)
    if loaded is None:
        with path.open(encoding="utf-8") as handle:
            loaded = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass, tags mapped to dicts
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: not a CloudFormation template")
        _LOADED[key] = loaded
    return copy.deepcopy(loaded)


@dataclass(frozen=True)
class EventSourceSpec:
    """A function's SAM event source the twin delivers: an EventBridge rule (pattern) or a schedule."""

    name: str
    kind: str  # "EventBridgeRule" or "Schedule"
    pattern: dict[str, Any] | None = None
    schedule: str | None = None

    @property
    def rate_seconds(self) -> float:
        """Seconds between runs of a rate(...) schedule (the only kind the twin runs)."""
        text = (self.schedule or "").strip()
        if not (text.startswith("rate(") and text.endswith(")")):
            raise ValueError(f"{self.name}: the twin runs rate(...) schedules only, not {text!r}")
        value, unit = text[5:-1].split()
        return float(value) * _RATE_UNITS[unit]


@dataclass(frozen=True)
class TableSpec:
    """An AWS::DynamoDB::Table: its key, attribute types and TTL attribute."""

    logical_id: str
    key_schema: tuple[tuple[str, str], ...]
    attribute_types: dict[str, str]
    ttl_attribute: str | None = None

    @property
    def physical_name(self) -> str:
        return f"{TWIN_STACK_NAME}-{self.logical_id}"


@dataclass(frozen=True)
class FunctionSpec:
    """An AWS::Serverless::Function: its code, handler, environment and timeout (the template's Globals filled
    in), and the event sources the twin delivers."""

    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str] = field(default_factory=dict)
    timeout: int = 3
    events: tuple[EventSourceSpec, ...] = ()

    @property
    def module_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir / f"{module.replace('.', '/')}.py"

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    definition_file: Path
    substitutions: dict[str, Any]


@dataclass(frozen=True)
class SamTemplate:
    root: Path
    functions: dict[str, FunctionSpec]
    state_machines: dict[str, StateMachineSpec]
    raw: dict[str, Any]
    tables: dict[str, TableSpec] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> SamTemplate:
        raw = load_cfn_yaml(path)
        root = path.parent
        globals_fn = raw.get("Globals", {}).get("Function", {})
        global_env = globals_fn.get("Environment", {}).get("Variables", {})
        functions: dict[str, FunctionSpec] = {}
        machines: dict[str, StateMachineSpec] = {}
        tables = {
            logical_id: _table(logical_id, resource.get("Properties", {}))
            for logical_id, resource in raw.get("Resources", {}).items()
            if resource.get("Type") == "AWS::DynamoDB::Table"
        }
        machine_ids = {
            logical_id
            for logical_id, resource in raw.get("Resources", {}).items()
            if resource.get("Type") == "AWS::Serverless::StateMachine"
        }
        topic_ids = {
            logical_id
            for logical_id, resource in raw.get("Resources", {}).items()
            if resource.get("Type") == "AWS::SNS::Topic"
        }
        for logical_id, resource in raw.get("Resources", {}).items():
            props = resource.get("Properties", {})
            if resource.get("Type") == "AWS::Serverless::Function":
                env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
                functions[logical_id] = FunctionSpec(
                    logical_id=logical_id,
                    code_dir=root / props["CodeUri"],
                    handler=props.get("Handler", globals_fn.get("Handler", "app.lambda_handler")),
                    environment={k: _env_value(k, v, tables, machine_ids, topic_ids) for k, v in env.items()},
                    timeout=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
                    events=tuple(
                        _event_source(name, event)
                        for name, event in props.get("Events", {}).items()
                        if event.get("Type") in ("EventBridgeRule", "Schedule")
                    ),
                )
            elif resource.get("Type") == "AWS::Serverless::StateMachine":
                machines[logical_id] = StateMachineSpec(
                    logical_id=logical_id,
                    definition_file=root / props["DefinitionUri"],
                    substitutions=props.get("DefinitionSubstitutions", {}),
                )
        return cls(root=root, functions=functions, state_machines=machines, raw=raw, tables=tables)

    def definition(self, machine: str, resolve: dict[str, str]) -> str:
        """The ASL text with every ${Name} replaced; `resolve` maps logical ids to physical ARNs."""
        spec = self.state_machines[machine]
        text = spec.definition_file.read_text(encoding="utf-8")
        for name, value in spec.substitutions.items():
            text = text.replace("${" + name + "}", self._resolve(value, resolve))
        return text

    @staticmethod
    def _resolve(value: Any, resolve: dict[str, str]) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            if attribute != "Arn":
                raise ValueError(f"the twin resolves only !GetAtt X.Arn, not {logical_id}.{attribute}")
            return resolve[logical_id]
        if isinstance(value, dict) and "Ref" in value:
            return resolve[value["Ref"]]
        if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
            # e.g. arn:${AWS::Partition}:states:::lambda:invoke.waitForTaskToken
            text: str = value["Fn::Sub"]
            for name, replacement in {"AWS::Partition": "aws", **resolve}.items():
                text = text.replace("${" + name + "}", replacement)
            if "${" in text:
                raise ValueError(f"the twin cannot resolve every variable of {value!r}")
            return text
        raise ValueError(f"the twin cannot resolve substitution {value!r}")


def _env_value(
    name: str,
    value: Any,
    tables: dict[str, TableSpec],
    machine_ids: set[str],
    topic_ids: set[str],
) -> str:
    """An environment variable as the twin deploys it: !Ref of a table is its physical name, !GetAtt of a state
    machine's Name is the name the twin gives it (<stack>-<logical id>), !Ref of an SNS topic (its ARN, known
    once the twin deployed it) is ``DEPLOYED_LATER`` + the logical id, which ferry_cli.twin.notifications
    replaces with the ARN; any other intrinsic is refused rather than deployed as its text."""
    if isinstance(value, dict) and value.get("Ref") in tables:
        return tables[value["Ref"]].physical_name
    if isinstance(value, dict) and list(value) == ["Ref"] and value["Ref"] in topic_ids:
        return f"{DEPLOYED_LATER}{value['Ref']}"
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        logical_id, attribute = value["Fn::GetAtt"]
        if logical_id in machine_ids and attribute == "Name":
            return f"{TWIN_STACK_NAME}-{logical_id}"
    if isinstance(value, dict | list):
        raise ValueError(f"environment variable {name}: the twin cannot resolve {value!r}")
    return str(value)


def _event_source(name: str, event: dict[str, Any]) -> EventSourceSpec:
    props = event.get("Properties", {})
    if event["Type"] == "Schedule":
        return EventSourceSpec(name=name, kind="Schedule", schedule=str(props["Schedule"]))
    return EventSourceSpec(name=name, kind="EventBridgeRule", pattern=dict(props["Pattern"]))


def _table(logical_id: str, props: dict[str, Any]) -> TableSpec:
    ttl = props.get("TimeToLiveSpecification") or {}
    return TableSpec(
        logical_id=logical_id,
        key_schema=tuple((k["AttributeName"], k["KeyType"]) for k in props.get("KeySchema", [])),
        attribute_types={
            a["AttributeName"]: a["AttributeType"] for a in props.get("AttributeDefinitions", [])
        },
        ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") else None,
    )
