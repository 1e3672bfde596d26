"""The structural schema of the TuningJob's spec and status, as the CRD declares it
(`hack/codegen/crd.py` writes the CRD; `kubetune run --local` checks a manifest's CEL
rules against it, as the API server would): pydantic's JSON schema of the models with
`$ref`s inlined, `Optional` unwrapped, titles and `null` defaults dropped, docstrings as
one-paragraph descriptions, and the CEL rules declared on the models kept as
`x-kubernetes-validations`.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kubetune.operator.api.cel import JOB_CONTROLLER, immutable
from kubetune.operator.api.spec import TuningJobSpec
from kubetune.operator.api.status import TuningJobStatus

# Keys of a pydantic JSON schema that a CRD's JSONSchemaProps accepts unchanged.
_PASSTHROUGH = frozenset(
    {
        "type",
        "description",
        "default",
        "example",
        "enum",
        "format",
        "pattern",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "required",
        "nullable",
    }
)


def description(text: str) -> str:
    """Docstring -> one paragraph: single line breaks become spaces, blank lines stay."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


class _Converter:
    """Turns one pydantic JSON schema (with `$defs`) into a structural schema.

    `list_item_defaults` False leaves out every default inside a list's items
    (`spec.parameters[].scaling`; the operator's models default them all the same). The
    API server would write such a default into the stored object, and a client-side
    `kubectl apply`, like Argo CD's default diff, sends a custom resource's lists whole (a
    JSON merge patch): a manifest that leaves the field out would then differ from the
    live object at every apply ("configured", OutOfSync for ever)."""

    def __init__(self, schema: dict[str, Any], *, list_item_defaults: bool = True) -> None:
        self._defs: dict[str, Any] = schema.get("$defs", {})
        self._list_item_defaults = list_item_defaults

    def convert(self, node: dict[str, Any], in_item: bool = False) -> dict[str, Any]:
        node = self._resolve(node)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _PASSTHROUGH or key.startswith("x-kubernetes-"):
                out[key] = copy.deepcopy(value)
        if "description" in out:
            out["description"] = description(out["description"])
        if "x-kubernetes-validations" in out:
            out["x-kubernetes-validations"] = [
                {k: r[k] for k in _RULE_KEY_ORDER if k in r}
                for r in out["x-kubernetes-validations"]
            ]
        if out.get("default", 0) is None or (in_item and not self._list_item_defaults):
            out.pop("default", None)
        if "properties" in node:
            out["properties"] = {
                name: self.convert(child, in_item) for name, child in node["properties"].items()
            }
        if "items" in node:
            out["items"] = self.convert(node["items"], in_item=True)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            out["additionalProperties"] = self.convert(extra, in_item)
        elif extra is True and "properties" not in node:
            # An open map of arbitrary values (dict[str, Any]): keep it as written.
            out["x-kubernetes-preserve-unknown-fields"] = True
        return _ordered(out)

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        """Inline `$ref` and unwrap `anyOf: [X, null]`; sibling keys win over the target's."""
        node = dict(node)
        if "anyOf" in node:
            options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
            if len(options) != 1:
                raise ValueError(f"union types have no structural schema: {options}")
            node = {**self._resolve(options[0]), **node}
        if "$ref" in node:
            target = self._defs[node.pop("$ref").rsplit("/", 1)[-1]]
            node = {**self._resolve(target), **node}
            rules = self._resolve(target).get("x-kubernetes-validations", [])
            # A field's own rules add to its type's rules rather than replace them.
            own = node.get("x-kubernetes-validations", [])
            if own is not rules:
                node["x-kubernetes-validations"] = [*rules, *[r for r in own if r not in rules]]
            if not node["x-kubernetes-validations"]:
                del node["x-kubernetes-validations"]
        return node


_RULE_KEY_ORDER = ("rule", "message", "messageExpression", "fieldPath", "reason")

_KEY_ORDER = (
    "description",
    "type",
    "format",
    "enum",
    "default",
    "example",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "maxProperties",
    "required",
    "properties",
    "items",
    "additionalProperties",
)


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    """Stable, readable key order: description and type first, x-kubernetes-* last."""
    head = [k for k in _KEY_ORDER if k in node]
    tail = sorted(k for k in node if k not in _KEY_ORDER)
    return {k: node[k] for k in [*head, *tail]}


def _job_spec_schema(description: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """trialTemplate.job: a JobSpec kept open, with only what the CEL rules read typed.

    The API server validates the full JobSpec when the operator creates each trial's Job;
    the CRD types just enough for CEL to see the containers (count and names) and the
    fields that would make a trial other than one pod run here (`completions`,
    `parallelism`, `suspend`, `managedBy`; `cel.JOB_RULES`).
    """
    container = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "name": {"type": "string", "maxLength": 63, "description": "Container name."}
        },
    }
    return {
        "description": description,
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "x-kubernetes-validations": rules,
        "properties": {
            "completions": {
                "description": "Pods that must succeed: unset or 1 (a trial is one pod).",
                "type": "integer",
            },
            "parallelism": {
                "description": "Pods run at once: unset or 1 (a trial is one pod; "
                "spec.limits.maxParallelTrials runs trials in parallel).",
                "type": "integer",
            },
            "suspend": {
                "description": "Not true: a suspended trial Job would never start "
                "(spec.suspend pauses the TuningJob).",
                "type": "boolean",
            },
            "managedBy": {
                "description": f"Unset or {JOB_CONTROLLER}: Kubernetes' Job controller "
                "runs each trial's pod.",
                "type": "string",
                "maxLength": 63,
            },
            "template": {
                "description": "The pod template of each trial (a PodTemplateSpec).",
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {
                    "spec": {
                        "description": "The trial pod's spec (a PodSpec).",
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                        "properties": {
                            "containers": {
                                "description": "The trial pod's containers; at least one.",
                                "type": "array",
                                "maxItems": 20,
                                "items": container,
                            }
                        },
                    }
                },
            },
        },
    }


def spec_schema() -> dict[str, Any]:
    """The structural schema of `spec`."""
    raw = TuningJobSpec.model_json_schema(by_alias=True, mode="validation")
    schema = _Converter(raw, list_item_defaults=False).convert(raw)
    job = schema["properties"]["trialTemplate"]["properties"]["job"]
    schema["properties"]["trialTemplate"]["properties"]["job"] = _job_spec_schema(
        job["description"], job["x-kubernetes-validations"]
    )
    return schema


def status_schema() -> dict[str, Any]:
    """The structural schema of `status`."""
    raw = TuningJobStatus.model_json_schema(by_alias=True, mode="validation")
    return _Converter(raw).convert(raw)


def immutable_spec_fields() -> list[str]:
    """The spec fields (camelCase) a TuningJob keeps for life: those whose CEL transition
    rule refuses any change (`immutable` on the field, `immutable_once_set` on the spec).
    Read from the model's rules, where they are declared; the others (limits, suspend,
    ...) may change on a live job."""

    def rules(extra: Any) -> list[dict[str, str]]:
        return extra.get("x-kubernetes-validations", []) if isinstance(extra, dict) else []

    fields = [
        info.alias or name
        for name, info in TuningJobSpec.model_fields.items()
        if any(
            r["message"] == immutable(info.alias or name)["message"]
            for r in rules(info.json_schema_extra)
        )
    ]
    # By the message: the rules differ (by effective values for hyperband).
    for spec_rule in rules(TuningJobSpec.model_config.get("json_schema_extra")):
        field = spec_rule.get("fieldPath", "").removeprefix(".")
        if field and spec_rule["message"].startswith(f"spec.{field} is immutable;"):
            fields.append(field)
    return fields
