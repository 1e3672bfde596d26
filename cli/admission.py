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
import decimal
import json
import math
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import celpy
from celpy.adapter import json_to_cel
from celpy.celtypes import BoolType, IntType
from celpy.evaluation import CELEvalError
from kubetune.operator.api.schema import spec_schema
from kubetune.operator.kube.validation import parse_and_validate_spec

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
    """The rule's `messageExpression` evaluated, else (none, or one that fails or is not
    text) its `message`, as the API server falls back."""
    expression = rule.get("messageExpression")
    if expression is not None:
        try:
            shown = _program(expression).evaluate(activation)
        except (CELEvalError, TypeError, ValueError):
            shown = None
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


def _sent(value: Any) -> Any:
    """`value` as kubectl sends it: a whole float as the integer of its shortest digits
    (Go's JSON writes -2.0**63 as -9223372036854776000), which the API server reads as an
    integer where an int64 holds it."""
    if isinstance(value, float) and value.is_integer():
        return int(decimal.Decimal(repr(value)))
    return value


def _beyond_int64(value: Any) -> bool:
    """Whether `value` is a whole number an int64 cannot hold, as kubectl sends it."""
    whole = _sent(value)
    return (
        isinstance(whole, int)
        and not isinstance(whole, bool)
        and not (INT64[0] <= whole <= INT64[1])
    )


def _int64_problems(node: dict[str, Any], value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, problem) for each integer under `value` that an int64 cannot hold (nor
    celpy) in a field the schema does not bound on that side: a bounded one is refused by
    the models' checks ("more than the maximum"). A `number` field's integers are floats
    in `value` already (`_typed`), as on the API server. A whole float beyond int64 in an
    `integer` field (an integer from 2**64 up, or below -2**63, which kubectl_yaml reads
    as a float as go-yaml does) is one too, and said with its bound where the field has
    one: the models cannot read it as an integer."""
    schemas = {at: schema for schema, _, at in _nodes(node, value, path)}
    for inner, at in _values(value, path):
        whole_float = isinstance(inner, float) and schemas.get(at, {}).get("type") == "integer"
        if not (whole_float or isinstance(inner, int)) or not _beyond_int64(inner):
            continue
        whole = _sent(inner)
        large = whole > INT64[1]
        bound = schemas.get(at, {}).get("maximum" if large else "minimum")
        if bound is not None and not whole_float:
            continue
        if bound is not None:  # in the models' words, which cannot read a float this large
            limit = bound
            said = f"{'more than the maximum' if large else 'less than the minimum'} {limit}"
        else:
            limit = INT64[1] if large else INT64[0]
            side = "beyond the largest" if large else "below the smallest"
            said = f"{side} integer a TuningJob holds ({limit})"
        yield at, f"{at}: {whole} is {said}; write {limit} or {'less' if large else 'more'}"


_TYPE_NAMES = {
    "string": "text",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "a list",
    "object": "an object",
    "null": "an empty value (null)",
}
_FIXES = {
    "string": "write it quoted: '{text}'",
    "integer": "write a whole number, e.g. 10",
    "number": "write a number, e.g. 0.5",
    "boolean": "write true or false",
    "array": "write its items below it, one '- item' line each, or [a, b]",
    "object": "write its fields indented below it",
    "integer-or-string": "write a whole number, or text quoted: '{text}'",
}
_NUMBER_TEXT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_SHOWN_CHARACTERS = 40


def _json_type(value: Any) -> str:
    """The JSON type the API server sees `value` as (its "must be of type integer:
    \"string\"" names it): a whole number an int64 holds as kubectl sends it is an
    integer (10.0 is sent as 10), another number a float ("number")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        whole = _sent(value)
        return "integer" if isinstance(whole, int) and not _beyond_int64(whole) else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _wanted(node: dict[str, Any]) -> str | None:
    """The JSON type the schema `node` requires, None when any."""
    if node.get("x-kubernetes-int-or-string"):
        return "integer-or-string"
    kind = node.get("type")
    return str(kind) if kind else None


def _admits(node: dict[str, Any], value: Any) -> bool:
    """Whether the schema `node` takes `value`'s JSON type (its `type`, `nullable`,
    `x-kubernetes-int-or-string`), as the API server's schema validation does."""
    found, wanted = _json_type(value), _wanted(node)
    if found == "null":
        return bool(node.get("nullable"))
    if wanted == "integer-or-string":
        return found in ("integer", "string")
    return wanted in (None, found) or (wanted == "number" and found == "integer")


def _shown(text: str) -> str:
    """`text` whole, or its ends and its length when it is long."""
    if len(text) <= _SHOWN_CHARACTERS:
        return text
    return f"{text[:12]}…{text[-8:]} ({len(text)} characters)"


def _type_problem(node: dict[str, Any], value: Any, path: str) -> str:
    """The API server's type error at `path` ("must be of type integer: \"string\"")
    in a message naming the field, the value and the fix."""
    found, wanted = _json_type(value), _wanted(node) or ""
    need = "an integer or text" if wanted == "integer-or-string" else _TYPE_NAMES[wanted]
    written = value if found == "string" else json.dumps(value)
    given = f"{_shown(json.dumps(value))} is {_TYPE_NAMES[found]}"
    if found in ("array", "object", "null"):
        given = f"{_TYPE_NAMES[found]} is given"
    elif wanted == "integer" and found == "number":
        given = f"{_shown(json.dumps(value))} is not a whole number"
    fix = _FIXES[wanted].format(text=written)
    if found == "string" and wanted in ("integer", "number") and _NUMBER_TEXT.fullmatch(value):
        number = float(value)
        if math.isfinite(number):
            fix = f"write it without quotes: {value}"
        else:  # go-yaml keeps a number beyond a double's range as text, and kubectl sends it
            given = (
                f"{_shown(value)} is beyond the range of a JSON number (about ±1.8e308), "
                "which kubectl sends as text"
            )
            fix = "write a number between -1.8e308 and 1.8e308"
    elif found == "string" and wanted == "boolean" and value.lower() in ("true", "false"):
        fix = f"write it without quotes: {value.lower()}"
    return (
        f"{path}: {given}, where the API server requires {need} (must be of type {wanted}: "
        f'"{found}"); {fix}'
    )


def _mistyped(node: dict[str, Any], value: Any, path: str, item: bool) -> Iterator[str]:
    """The path of each value under `value` whose JSON type the schema `node` refuses
    (a whole number beyond int64 in an integer field is `_int64_problems`'), parents
    first. A null field of an object is no value: the API server drops it, or defaults it;
    a null item of a list is one."""
    if value is None and not item:
        return
    if not _admits(node, value):
        if not (_wanted(node) == "integer" and _beyond_int64(value)):
            yield path
        return
    if isinstance(value, dict):
        for key, child in value.items():
            schema = _child(node, key)
            if schema is not None:
                yield from _mistyped(schema, child, f"{path}.{key}", item=False)
    elif isinstance(value, list) and "items" in node:
        for index, child in enumerate(value):
            yield from _mistyped(node["items"], child, f"{path}[{index}]", item=True)


def _type_problems(spec: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The paths of `spec`'s values of a JSON type the schema refuses, and a problem for
    each that the models take without a word (pydantic's lax mode reads "0.5" and true as
    numbers, "1000…" beyond a double's range as inf, and does not look inside the trial
    Job); the others the models refuse themselves, naming the field and the fix."""
    schema = _schema()
    paths = list(_mistyped(schema, spec, "spec", item=False))
    if not paths:
        return [], []
    told = {problem.split(": ", 1)[0] for problem in parse_and_validate_spec(spec)[1]}
    at = {path: (node, value) for node, value, path in _nodes(schema, spec, "spec")}
    return paths, [_type_problem(*at[path], path) for path in paths if path not in told]


def _within(path: str, paths: list[str]) -> bool:
    """Whether one of `paths` is `path` or under it."""
    return any(p == path or p.startswith((f"{path}.", f"{path}[")) for p in paths)


def admission_problems(spec: dict[str, Any]) -> list[str]:
    """The CEL rules `spec` (camelCase, as in the manifest) breaks, each as "path: message"
    (`fieldPath` appended to the path, as the API server does); [] when it keeps them all.
    A value of a JSON type the schema refuses ("0.5" for a number) is a problem first, as
    the API server's schema validation says it, where the models do not refuse it
    themselves; the rules over it are not evaluated (the API server says only "invalid
    data" of them). A rule that cannot be evaluated on a value of the wrong type is left
    to the models' own checks, which also run. An integer beyond int64 is a problem of its
    own (the rules over it are not evaluated), never a traceback."""
    schema = _schema()
    mistyped, problems = _type_problems(spec)
    typed = _typed(schema, spec)
    for path, problem in _int64_problems(schema, typed, "spec"):
        mistyped.append(path)
        problems.append(problem)
    for node, value, path in _nodes(schema, typed, "spec"):
        if _within(path, mistyped):
            continue
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
