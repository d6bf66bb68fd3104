"""CloudFormation's parameter handling for the twin's stack renderer: values checked against Type,
AllowedValues, AllowedPattern, lengths and bounds, defaults applied, with CloudFormation's messages."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["StackError", "parameter_values", "text"]


class StackError(Exception):
    """CloudFormation would refuse this stack: a bad parameter, a dangling reference or a cycle."""


def parameter_values(
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
        items = [text(i) for i in raw] if isinstance(raw, list | tuple) else text(raw).split(",")
        members = [item.strip() for item in items]
        for member in members:
            _check_value(name, spec, member, numeric=kind == "List<Number>")
        return members
    value = text(raw)
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
    if allowed is not None and value not in [text(v) for v in allowed]:
        raise refuse(f"must be one of AllowedValues {[text(v) for v in allowed]}")
    pattern = spec.get("AllowedPattern")
    # CloudFormation matches the pattern against the whole value.
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        raise refuse(f"must match pattern {pattern}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise refuse(f"must contain at least {spec['MinLength']} characters")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise refuse(f"must contain at most {spec['MaxLength']} characters")


def text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)
