"""The CRD's CEL rules (`x-kubernetes-validations`), evaluated here as the API server
evaluates them at admission, for `kubetune run --local`: a manifest a cluster would refuse
is refused locally, with the API server's message and field path. The rules come from
the same schema the CRD is written from (`kubetune.operator.api.schema`), and are
evaluated by cel-python on the spec with the schema's defaults applied, as the API server
applies them first. Transition rules (`oldSelf`) compare with a stored object: a local
resume checks the immutable fields itself.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from typing import Any

import celpy
from celpy.adapter import json_to_cel
from celpy.celtypes import BoolType, IntType
from celpy.evaluation import CELEvalError
from kubetune.operator.api.schema import spec_schema

INT64 = (-(2**63), 2**63 - 1)
"""The integers a TuningJob holds: the API server reads a JSON number beyond them as a
float (a fraction), which an `integer` field refuses (must be of type integer)."""


@cache
def _schema() -> dict[str, Any]:
    return spec_schema()


def _sum(values: Any) -> Any:
    total = IntType(0)
    for value in values:
        total = total + value
    return total


_KUBERNETES_LISTS: dict[str, Any] = {"sum": _sum, "max": max}
"""The functions of Kubernetes' CEL list library the rules use (cel-python has CEL's
standard ones only); `max()` of an empty list is an error there, here a ValueError."""


@cache
def _program(expression: str) -> Any:
    environment = celpy.Environment()
    return environment.program(environment.compile(expression), functions=_KUBERNETES_LISTS)


def _child(node: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The schema of an object's field `key`: a declared property, else the schema of the
    map's values (None when neither: a field the schema keeps as it is)."""
    extra = node.get("additionalProperties")
    declared: dict[str, dict[str, Any]] = node.get("properties", {})
    return declared.get(key, extra if isinstance(extra, dict) else None)


def _typed(node: dict[str, Any], value: Any) -> Any:
    """`value` as the API server hands it to CEL: the schema's defaults applied, whole
    numbers of `number` fields as doubles (CEL has no comparison of an int with a
    double: `min: 0` would leave `self.min < self.max` unevaluated)."""
    kind = node.get("type")
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        out = dict(value)
        for name, child in node.get("properties", {}).items():
            if name not in out and "default" in child:
                out[name] = copy.deepcopy(child["default"])
        return {
            k: v if (schema := _child(node, k)) is None else _typed(schema, v)
            for k, v in out.items()
        }
    if isinstance(value, list) and "items" in node:
        return [_typed(node["items"], v) for v in value]
    return value


def _nodes(
    node: dict[str, Any], value: Any, path: str
) -> Iterator[tuple[dict[str, Any], Any, str]]:
    """Every (schema node, value, path) of `value` under `node`, parents first."""
    yield node, value, path
    if isinstance(value, dict):
        for key, child in value.items():
            schema = _child(node, key)
            if schema is not None:
                yield from _nodes(schema, child, f"{path}.{key}")
    elif isinstance(value, list) and "items" in node:
        for index, child in enumerate(value):
            yield from _nodes(node["items"], child, f"{path}[{index}]")


def _message(rule: dict[str, str], activation: dict[str, Any]) -> str:
    expression = rule.get("messageExpression")
    if expression is not None:
        shown = _program(expression).evaluate(activation)
        if isinstance(shown, str):
            return str(shown)
    return rule["message"]


def _values(value: Any, path: str) -> Iterator[tuple[Any, str]]:
    """Every value under `value` (the schema's or not) with its path, parents first."""
    yield value, path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _values(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _values(child, f"{path}[{index}]")


def _beyond_int64(node: dict[str, Any], value: Any, path: str) -> Iterator[str]:
    """A problem for each integer under `value` that an int64 cannot hold (nor celpy) in a
    field the schema does not bound on that side: a bounded one is refused by the models'
    checks ("more than the maximum"). A `number` field's integers are floats in `value`
    already (`_typed`), as on the API server."""
    schemas = {at: schema for schema, _, at in _nodes(node, value, path)}
    for inner, at in _values(value, path):
        if not isinstance(inner, int) or isinstance(inner, bool) or INT64[0] <= inner <= INT64[1]:
            continue
        large = inner > INT64[1]
        if ("maximum" if large else "minimum") in schemas.get(at, {}):
            continue
        limit = INT64[1] if large else INT64[0]
        yield (
            f"{at}: {inner} is {'beyond the largest' if large else 'below the smallest'} "
            f"integer a TuningJob holds ({limit}); write {limit} or {'less' if large else 'more'}"
        )


def admission_problems(spec: dict[str, Any]) -> list[str]:
    """The CEL rules `spec` (camelCase, as in the manifest) breaks, each as "path: message"
    (`fieldPath` appended to the path, as the API server does); [] when it keeps them all.
    A rule that cannot be evaluated on a value of the wrong type is left to the models'
    own checks, which also run. An integer beyond int64 is a problem of its own (the
    rules over it are not evaluated), never a traceback."""
    schema = _schema()
    typed = _typed(schema, spec)
    problems = list(_beyond_int64(schema, typed, "spec"))
    for node, value, path in _nodes(schema, typed, "spec"):
        rules = [r for r in node.get("x-kubernetes-validations", ()) if "oldSelf" not in r["rule"]]
        try:
            activation = {"self": json_to_cel(value)} if rules else {}
        except ValueError:  # an integer beyond int64 (celpy's "overflow"): said above
            continue
        for rule in rules:
            try:
                verdict = _program(rule["rule"]).evaluate(activation)
            except (CELEvalError, TypeError, ValueError):
                continue  # a field missing or of the wrong type: the models say which
            if isinstance(verdict, BoolType) and not verdict:
                problems.append(f"{path}{rule.get('fieldPath', '')}: {_message(rule, activation)}")
    return problems
