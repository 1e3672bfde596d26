"""Generate docs/tuningjob-reference.md from the models (through the CRD schema).

`PYTHONPATH=hack python -m codegen.reference` prints the page (`make crds` writes it); a unit
test fails when the committed page differs, so the reference cannot drift from the
models.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

from kubetune.operator import api as models
from kubetune.operator.api.schema import (
    description,
    immutable_spec_fields,
    spec_schema,
    status_schema,
)

from codegen import crd

Row = tuple[str, str, str, str]


def _type(node: dict[str, Any]) -> str:
    """A short type name: `string`, `[]object`, `map[string]string`, ..."""
    kind = node.get("type", "any")
    if kind == "array":
        return "[]" + _type(node.get("items", {}))
    if kind == "object" and "additionalProperties" in node:
        return "map[string]" + _type(node["additionalProperties"])
    if "format" in node:
        return f"{kind} ({node['format']})"
    return str(kind)


def _constraints(node: dict[str, Any]) -> str:
    """Enum values and bounds, in words."""
    parts: list[str] = []
    if "enum" in node:
        parts.append("one of " + ", ".join(f"`{v}`" for v in node["enum"]))
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        parts.append(f"{low} to {high}")
    elif low is not None:
        parts.append(f"≥ {low}")
    elif high is not None:
        parts.append(f"≤ {high}")
    for key, words in (
        ("minItems", "at least {} items"),
        ("maxItems", "at most {} items"),
        ("minLength", "at least {} characters"),
        ("maxLength", "at most {} characters"),
        ("maxProperties", "at most {} entries"),
    ):
        if key in node and not (key == "minLength" and node[key] == 1):
            parts.append(words.format(node[key]))
    if "pattern" in node:
        parts.append(f"matches `{node['pattern']}`")
    if node.get("x-kubernetes-preserve-unknown-fields") and "properties" in node:
        parts.append("other fields kept as written")
    return "; ".join(parts)


def _default(node: dict[str, Any]) -> str:
    if "default" not in node:
        return ""
    value = node["default"]
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == {}:
        return "`{}` (fields defaulted)"
    if isinstance(value, dict):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n\n", "<br><br>").replace("\n", " ")


def _rows(node: dict[str, Any], path: str, required: bool) -> Iterator[Row]:
    kind = _type(node)
    if required:
        kind += ", required"
    description = node.get("description", "")
    constraints = _constraints(node)
    if constraints:
        description = f"{description} *({constraints})*" if description else f"*{constraints}*"
    yield path, kind, _default(node), description
    child = node.get("items", node) if node.get("type") == "array" else node
    suffix = "[]" if node.get("type") == "array" else ""
    needed = set(child.get("required", []))
    for name, sub in child.get("properties", {}).items():
        yield from _rows(sub, f"{path}{suffix}.{name}", name in needed)


def _rules(node: dict[str, Any], path: str) -> Iterator[tuple[str, str, bool]]:
    """(path, message, is transition rule) for every CEL rule under `node`."""
    for rule in node.get("x-kubernetes-validations", []):
        where = path + rule.get("fieldPath", "")
        yield where, rule["message"], "oldSelf" in rule["rule"]
    if node.get("type") == "array":
        yield from _rules(node.get("items", {}), f"{path}[]")
        return
    for name, sub in node.get("properties", {}).items():
        yield from _rules(sub, f"{path}.{name}")


def _table(rows: Iterator[Row]) -> list[str]:
    lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{p}` | {t} | {d} | {_escape(m)} |" for p, t, d, m in rows]
    return lines


def render_reference() -> str:
    """The Markdown reference page."""
    spec = spec_schema()
    status = status_schema()
    conditions = description(models.ConditionType.__doc__ or "")
    lines = [
        "<!-- Generated from operator/api/ by `make crds` (hack/codegen/reference.py). "
        "Do not edit by hand. -->",
        "",
        "# TuningJob reference",
        "",
        f"`apiVersion: {models.API_VERSION}`, `kind: {models.KIND}` (plural "
        f"`{models.PLURAL}`, short name `{models.SHORT_NAMES[0]}`, categories "
        f"{', '.join(f'`{c}`' for c in models.CATEGORIES)}), namespaced. "
        + description(models.TuningJob.__doc__ or ""),
        "",
        "The CRD ([`crds/kubetune.io_tuningjobs.yaml`](../crds/kubetune.io_tuningjobs.yaml)) "
        "and this page are generated from the pydantic models in "
        "[`operator/api/`](../operator/api/); `kubectl explain tuningjob.spec` "
        "shows the same descriptions. Examples: [`examples/`](../examples/).",
        "",
        "## Hyperparameter delivery",
        "",
        "The primary container (`spec.trialTemplate.primaryContainer`, or the first "
        "container) of each trial receives the trial's hyperparameters, tuned and static, "
        "never through a shell:",
        "",
        "- appended arguments `--name=value`;",
        f"- the environment variable `{models.HYPERPARAMETERS_ENV}`, a JSON object of "
        'strings, e.g. `{"learning_rate": "0.0123", "epochs": "50"}`;',
        "- `${trialParameters.<name>}` substituted in the template's strings, and "
        "`${trial.name}` for the trial's name.",
        "",
        "## spec",
        "",
        *_table(_rows(spec, "spec", True)),
        "",
        "## What may change on a live TuningJob",
        "",
        "Immutable after creation (the API server refuses the change; create a new "
        "TuningJob instead): "
        + ", ".join(f"`spec.{field}`" for field in immutable_spec_fields())
        + ". Everything else — `limits`, `completionCriteria`, `suspend`, `earlyStopping`, "
        "`retry`, and `stop` (to true; never back) — may change, and the operator applies "
        "new values at once.",
        "",
        "## Admission rules (CEL)",
        "",
        "Besides the types, enums and bounds above, the API server checks these rules and "
        "answers with the message shown (prefixed with the field path):",
        "",
        "| field | message |",
        "|---|---|",
        *[
            f"| `{path}` | {_escape(message)} |"
            for path, message, transition in _rules(spec, "spec")
            if not transition
        ],
        "",
        "What CEL cannot check, the operator checks before it launches anything "
        "(`kubetune.operator.kube.validation`): each metric regex compiles as RE2 and has "
        "exactly one capture group; every `${trial...}` in the template is a placeholder "
        "the operator fills in. It checks Hyperband's budget again (its maxResource, given "
        "or read from a static hyperparameter, and its rungs), in the CEL rules' words, "
        "for a TuningJob stored before those rules. A failure sets phase Failed with an "
        "`Invalid` condition whose message names the field and the fix.",
        "",
        "## status",
        "",
        "Written by the operator through the status subresource; changes to `status` sent "
        "to the main resource are ignored.",
        "",
        *_table(_rows(status, "status", False)),
        "",
        "### Conditions",
        "",
        conditions,
        "",
        "## kubectl get tj",
        "",
        "| column | JSONPath | meaning |",
        "|---|---|---|",
        *[
            f"| {c['name']} | `{c['jsonPath']}` | {c.get('description', 'Time since creation.')} |"
            for c in crd.PRINTER_COLUMNS
        ],
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Print the reference page on stdout."""
    sys.stdout.write(render_reference())


if __name__ == "__main__":
    main()
