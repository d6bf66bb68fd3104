"""The ``Condition`` element of an IAM policy statement, evaluated against a request context.

Rules follow the IAM reference:

- operators: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
- AND / OR logic: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
- multivalued keys (``ForAllValues:`` / ``ForAnyValue:``):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html

Evaluation is three-valued: ``True`` (the condition holds), ``False`` (it does not) and ``None`` (the block is
something IAM would have refused to store: an unknown operator, a value of the wrong type). The caller decides
what ``None`` means for its statement's effect, so a malformed policy can never grant and never silently
stop denying. Policy variables (``${aws:username}``) and the Date, IpAddress and Binary operators are not
modelled; they evaluate to ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

Context = Mapping[str, tuple[str, ...]]
"""A request context as the evaluator reads it: lower-cased key name -> its values (empty means absent)."""

_ARN_SEGMENTS = 6


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # Only * and ? are special in IAM; everything else (brackets, dots) is literal, so fnmatch won't do.
    parts = (".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's glob: ``*`` any run of characters, ``?`` exactly one; nothing else is special."""
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


def arn_match(pattern: str, value: str) -> bool:
    """ArnLike: each of the six colon-separated parts is matched on its own, so ``*`` never spans a colon
    before the resource part (which may itself contain colons)."""
    pattern_parts = pattern.split(":", _ARN_SEGMENTS - 1)
    if len(pattern_parts) < _ARN_SEGMENTS:
        # A bare "*" (or another non-ARN pattern) is compared whole.
        return wildcard_match(pattern, value)
    value_parts = value.split(":", _ARN_SEGMENTS - 1)
    if len(value_parts) < _ARN_SEGMENTS:
        return False
    return all(wildcard_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def as_string(value: object) -> str | None:
    """A policy or context scalar as IAM compares it; ``None`` for anything that is not a scalar."""
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


def normalize_context(context: Mapping[str, object]) -> dict[str, tuple[str, ...]]:
    """Lower-case the key names and turn every value into a tuple of strings.

    Values that are not strings, numbers, booleans or sequences of them are dropped (the key is then absent),
    which is the conservative reading for a context built by the twin itself."""
    normalized: dict[str, tuple[str, ...]] = {}
    for key, raw in context.items():
        scalar = as_string(raw)
        if scalar is not None:
            normalized[key.lower()] = (scalar,)
        elif isinstance(raw, Sequence):
            items = tuple(as_string(item) for item in raw)
            normalized[key.lower()] = tuple(item for item in items if item is not None)
    return normalized


def _numbers(left: str, right: str) -> tuple[float, float] | None:
    try:
        return float(left), float(right)
    except ValueError:
        return None


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def test(context_value: str, policy_value: str) -> bool:
        pair = _numbers(context_value, policy_value)
        return pair is not None and compare(*pair)

    return test


@dataclass(frozen=True)
class _Operator:
    # test(context value, policy value) is the positive form; a negated operator holds when no policy value
    # passes it, which is also why a negated operator holds on a missing key.
    test: Callable[[str, str], bool]
    negated: bool = False
    # Checks one policy value is well formed (AWS refuses to store the policy otherwise).
    valid: Callable[[str], bool] = lambda _value: True


def _is_bool(value: str) -> bool:
    return value.lower() in {"true", "false"}


def _is_number(value: str) -> bool:
    return _numbers(value, "0") is not None


def _string_equals(context_value: str, policy_value: str) -> bool:
    return context_value == policy_value


def _string_equals_ignore_case(context_value: str, policy_value: str) -> bool:
    return context_value.casefold() == policy_value.casefold()


def _string_like(context_value: str, policy_value: str) -> bool:
    return wildcard_match(policy_value, context_value)


def _arn_like(context_value: str, policy_value: str) -> bool:
    return arn_match(policy_value, context_value)


def _bool_equals(context_value: str, policy_value: str) -> bool:
    return context_value.lower() == policy_value.lower()


_OPERATORS: dict[str, _Operator] = {
    "stringequals": _Operator(_string_equals),
    "stringnotequals": _Operator(_string_equals, negated=True),
    "stringequalsignorecase": _Operator(_string_equals_ignore_case),
    "stringnotequalsignorecase": _Operator(_string_equals_ignore_case, negated=True),
    "stringlike": _Operator(_string_like),
    "stringnotlike": _Operator(_string_like, negated=True),
    # ArnEquals accepts wildcards exactly like ArnLike (see the operators reference above).
    "arnequals": _Operator(_arn_like),
    "arnlike": _Operator(_arn_like),
    "arnnotequals": _Operator(_arn_like, negated=True),
    "arnnotlike": _Operator(_arn_like, negated=True),
    "bool": _Operator(_bool_equals, valid=_is_bool),
    "numericequals": _Operator(_numeric(lambda a, b: a == b), valid=_is_number),
    "numericnotequals": _Operator(_numeric(lambda a, b: a == b), negated=True, valid=_is_number),
    "numericlessthan": _Operator(_numeric(lambda a, b: a < b), valid=_is_number),
    "numericlessthanequals": _Operator(_numeric(lambda a, b: a <= b), valid=_is_number),
    "numericgreaterthan": _Operator(_numeric(lambda a, b: a > b), valid=_is_number),
    "numericgreaterthanequals": _Operator(_numeric(lambda a, b: a >= b), valid=_is_number),
}

_FOR_ALL = "forallvalues:"
_FOR_ANY = "foranyvalue:"
_IF_EXISTS = "ifexists"
# How a set operator combines the verdicts on each of the key's values.
_QUANTIFIERS: dict[str, Callable[[Iterable[bool]], bool]] = {_FOR_ALL: all, _FOR_ANY: any}


def _policy_values(raw: object) -> tuple[str, ...] | None:
    values = tuple(as_string(item) for item in raw) if isinstance(raw, list | tuple) else (as_string(raw),)
    if not values or any(value is None for value in values):
        return None
    return tuple(value for value in values if value is not None)


def _and(results: list[bool | None]) -> bool | None:
    # Kleene AND: one definite False settles it; otherwise anything undecidable makes the whole undecidable.
    if False in results:
        return False
    if None in results:
        return None
    return True


def _null(values: tuple[str, ...], present: bool) -> bool | None:
    if not all(_is_bool(value) for value in values):
        return None
    # "true" asks for the key to be absent; several values are ORed like any other condition values.
    return any((value.lower() == "true") != present for value in values)


def _operator_holds(name: str, block: object, context: Context) -> bool | None:
    lowered = name.lower()
    set_prefix = next((prefix for prefix in (_FOR_ALL, _FOR_ANY) if lowered.startswith(prefix)), "")
    base = lowered.removeprefix(set_prefix)
    if_exists = base.endswith(_IF_EXISTS)
    base = base.removesuffix(_IF_EXISTS)
    return _OperatorCall(base, set_prefix, if_exists).evaluate(block, context)


@dataclass(frozen=True)
class _OperatorCall:
    base: str
    set_prefix: str
    if_exists: bool

    def evaluate(self, block: object, context: Context) -> bool | None:
        if not isinstance(block, Mapping) or not block:
            return None
        results: list[bool | None] = []
        for key, raw in block.items():
            values = _policy_values(raw)
            if not isinstance(key, str) or values is None:
                results.append(None)
                continue
            results.append(self._key(values, context.get(key.lower(), ())))
        return _and(results)

    def _key(self, policy_values: tuple[str, ...], context_values: tuple[str, ...]) -> bool | None:
        if self.base == "null":
            return None if self.set_prefix or self.if_exists else _null(policy_values, bool(context_values))
        operator = _OPERATORS.get(self.base)
        if operator is None or not all(operator.valid(value) for value in policy_values):
            return None
        if not context_values:
            return self._absent(operator)
        return self._present(operator, policy_values, context_values)

    def _absent(self, operator: _Operator) -> bool:
        if self.set_prefix == _FOR_ALL:
            return True  # vacuously true over no values, as the multivalued-keys page warns
        return self.if_exists or (operator.negated and not self.set_prefix)

    def _present(
        self, operator: _Operator, policy_values: tuple[str, ...], context_values: tuple[str, ...]
    ) -> bool:
        def satisfies(context_value: str) -> bool:
            hit = any(operator.test(context_value, value) for value in policy_values)
            return hit != operator.negated

        quantifier = _QUANTIFIERS.get(self.set_prefix)
        if quantifier is not None:
            return quantifier(satisfies(value) for value in context_values)
        # A single-valued operator on a multivalued key: a positive operator needs one value to match, a
        # negated one needs none to.
        hit = any(operator.test(c, p) for c in context_values for p in policy_values)
        return hit != operator.negated


def conditions_hold(condition: Any, context: Context) -> bool | None:
    """Whether a statement's ``Condition`` element holds: AND across operators and keys, OR across one key's
    values. ``None`` when the element is malformed or uses an operator the twin does not know."""
    if condition is None:
        return True
    if not isinstance(condition, Mapping):
        return None
    results: list[bool | None] = []
    for operator, block in condition.items():
        results.append(_operator_holds(operator, block, context) if isinstance(operator, str) else None)
    return _and(results)
