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


def admission_problems(spec: dict[str, Any]) -> list[str]:
    """The CEL rules `spec` (camelCase, as in the manifest) breaks, each as "path: message"
    (`fieldPath` appended to the path, as the API server does); [] when it keeps them all.
    A rule that cannot be evaluated on a value of the wrong type is left to the models'
    own checks, which also run."""
    schema = _schema()
    problems = []
    for node, value, path in _nodes(schema, _typed(schema, spec), "spec"):
        rules = [r for r in node.get("x-kubernetes-validations", ()) if "oldSelf" not in r["rule"]]
        activation = {"self": json_to_cel(value)} if rules else {}
        for rule in rules:
            try:
                verdict = _program(rule["rule"]).evaluate(activation)
            except (CELEvalError, TypeError, ValueError):
                continue  # a field missing or of the wrong type: the models say which
            if isinstance(verdict, BoolType) and not verdict:
                problems.append(f"{path}{rule.get('fieldPath', '')}: {_message(rule, activation)}")
    return problems
