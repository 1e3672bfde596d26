"""Checks of a TuningJob spec that the CRD's schema and CEL rules cannot make.

The API server refuses most invalid specs at admission. What it cannot check — that each
metric regex compiles as RE2 with exactly one capture group (the operator matches logs
with RE2, so a regex cannot hang it) and that every `${trial...}` in the template is a
placeholder the operator fills in — is checked here. The regex is compiled by
`metric_logs.compile_metric_regex`, the log scan's own path. The operator calls
`validate_spec` before it launches anything; a non-empty result means phase Failed with
an Invalid condition carrying the messages.

What a CEL rule checks (the primary container exists, no tuned hyperparameter is also a
static one, ...) is not checked again: every TuningJob the operator sees was admitted
under those rules, which every supported Kubernetes (>= 1.30, the chart's kubeVersion)
enforces; a local run evaluates them too (`cli.admission`). A second check would only
say the same thing twice, in other words. The CRD has carried them from its first
version, except those on the trial Job's `completions`, `parallelism`, `suspend` and
`managedBy` (added later: a TuningJob stored before them runs its trials as its template
says, and is not failed now). The one exception, the Hyperband budget the operator
cannot plan without (its maxResource, given or read from a static hyperparameter, and
the rungs it makes; the rules on the static one came later), answers with the CEL rules'
own messages.

Every message starts with the field path, names the offending value and says the fix,
in the style of the CEL messages.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import re
from collections.abc import Mapping
from typing import Any

from kubetune.operator.api import Hyperband, Strategy, TuningJobSpec
from kubetune.operator.api.cel import (
    EPOCH_KEYS,
    EPOCHS_WRITTEN,
    HYPERBAND_NEEDS_MAX_RESOURCE,
    epochs_not_a_number_message,
    inferred_max_source,
    max_differs_from_epochs_message,
    min_not_below_max_message,
    rung_numbers,
    too_many_rungs_message,
    value_shown,
)
from kubetune.operator.api.constants import MAX_HYPERBAND_RUNGS
from kubetune.operator.api.schema import spec_schema
from kubetune.operator.kube.metric_logs import compile_metric_regex
from kubetune.operator.kube.trial_job import unknown_placeholders
from kubetune.optimizer import infer_max_resource
from pydantic import ValidationError


def check_metric_regex(regex: str) -> str | None:
    """Why `regex` cannot be a metric regex (no field path), or None when it can."""
    try:
        compile_metric_regex(regex)
    except ValueError as error:
        return str(error)
    return None


def validate_spec(spec: TuningJobSpec) -> list[str]:
    """Messages for everything wrong with `spec` that admission cannot catch; [] if none."""
    messages: list[str] = []
    for i, metric in enumerate(spec.metrics):
        problem = check_metric_regex(metric.regex)
        if problem is not None:
            messages.append(f"spec.metrics[{i}].regex (metric {metric.name!r}): {problem}")

    static = spec.static_hyperparameters or {}
    hyperparameters = [p.name for p in spec.parameters] + sorted(static)
    job = spec.trial_template.job
    for found in unknown_placeholders(job, hyperparameters, "spec.trialTemplate.job"):
        messages.append(
            f"{found} is not a placeholder: use ${{trial.name}} or ${{trialParameters.<name>}} "
            f"with one of {', '.join(hyperparameters)}; fix the name"
        )
    messages += _hyperband_problems(spec)
    return messages


def _signature(spec: TuningJobSpec) -> tuple[str, str]:
    """What a warm-start parent must share, as text: parameters (name: type) and objective."""
    parameters = ", ".join(f"{p.name}: {p.type.value}" for p in spec.parameters)
    return parameters, f"{spec.objective.type.value} {spec.objective.metric}"


def check_warm_start_parent(
    spec: TuningJobSpec, parent: str, parent_spec: Mapping[str, Any]
) -> str | None:
    """Why the TuningJob `parent` (its raw spec) cannot warm-start `spec`, or None when it
    can: it must have the same parameter names and types and the same objective metric
    and direction (its trials' hyperparameters and objectives must mean the same)."""
    where = f"spec.warmStart.parents: parent {parent!r}"
    fix = "warm-start only from TuningJobs with the same parameters and objective"
    try:
        theirs = TuningJobSpec.from_api(parent_spec)
    except ValidationError:
        return f"{where}: its spec could not be read; {fix}"
    (our_parameters, our_objective), (their_parameters, their_objective) = (
        _signature(spec),
        _signature(theirs),
    )
    if sorted(our_parameters.split(", ")) != sorted(their_parameters.split(", ")):
        return (
            f"{where} has other parameters ({their_parameters}) than this job "
            f"({our_parameters}); {fix}"
        )
    if our_objective != their_objective:
        return (
            f"{where} has another objective ({their_objective}) than this job "
            f"({our_objective}); {fix}"
        )
    return None


def _hyperband_problems(spec: TuningJobSpec) -> list[str]:
    """What admission checks of `strategy: Hyperband` and the operator cannot plan
    without, in the CEL rules' words (`cel.HYPERBAND_EPOCHS_RULES`, `cel.HYPERBAND_RULES`):
    the maxResource, given or read from the static hyperparameters (a number in a string),
    and the rungs it makes. A TuningJob stored before those rules reaches here unchecked."""
    if spec.strategy is not Strategy.HYPERBAND:
        return []
    hb = spec.hyperband or Hyperband()
    static = spec.static_hyperparameters or {}
    key = next((k for k in EPOCH_KEYS if k in static), None)  # the one the optimizer reads
    inferred = None
    if key is not None:
        written = static[key]
        with contextlib.suppress(ValueError):  # out of range: None, as not digits
            inferred = (
                infer_max_resource({key: written})
                if re.fullmatch(EPOCHS_WRITTEN, written)
                else None
            )
        if inferred is None:
            shown = value_shown(written)
            return [f"spec.staticHyperparameters: {epochs_not_a_number_message(key, shown)}"]
    maximum = hb.max_resource if hb.max_resource is not None else inferred
    if maximum is None:  # refused at admission: the same words as there
        return [f"spec.hyperband: {HYPERBAND_NEEDS_MAX_RESOURCE['message']}"]
    if key is not None and inferred != maximum:
        # The trainer must be started with the full budget the rungs are cut from.
        return [
            "spec.hyperband.maxResource: "
            + max_differs_from_epochs_message(str(maximum), str(inferred), key)
        ]
    if key is None or hb.max_resource is not None:  # maxResource given
        path = source = "spec.hyperband.maxResource"
        fix = "maxResource"
    else:
        path, source, fix = "spec.hyperband", inferred_max_source(key), key
    if hb.min_resource >= maximum:
        minimum = str(hb.min_resource)
        return [
            "spec.hyperband.minResource: "
            + min_not_below_max_message(minimum, str(maximum), source, f"raise {fix}")
        ]
    lowest_top = hb.min_resource * hb.reduction_factor**MAX_HYPERBAND_RUNGS
    if lowest_top < maximum:
        return [
            f"{path}: "
            + too_many_rungs_message(
                rung_numbers(str(hb.min_resource), str(hb.reduction_factor), str(lowest_top)),
                str(maximum),
                source,
                f"lower {fix}",
            )
        ]
    return []


def _error_path(loc: tuple[int | str, ...]) -> str:
    path = "spec"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def parse_and_validate_spec(raw: Mapping[str, Any]) -> tuple[TuningJobSpec | None, list[str]]:
    """Parse the camelCase `spec` of a TuningJob and validate it.

    Returns the parsed spec and [] when it is valid; otherwise the spec (None when it does
    not even parse, e.g. an object stored before a CRD upgrade) and the messages, each
    starting with the field path.
    """
    try:
        spec = TuningJobSpec.from_api(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # `paramters:` is also a missing `parameters:`; the typo's line says both.
        meant = {
            (*error["loc"][:-1], near)
            for error in errors
            if error["type"] == "extra_forbidden" and (near := _nearest_field(error["loc"]))
        }
        return None, [
            _parse_error(error)
            for error in errors
            if not (error["type"] == "missing" and tuple(error["loc"]) in meant)
        ]
    return spec, validate_spec(spec)


def _nearest_field(loc: tuple[int | str, ...]) -> str | None:
    """The field a name that is not one was probably meant to be."""
    near = difflib.get_close_matches(str(loc[-1]), _fields_at(loc[:-1]), n=1)
    return near[0] if near else None


QUOTE_ME = frozenset({"enum", "literal_error", "string_type"})
"""pydantic's errors for a value that should have been text."""

_INTEGER = ("an integer", "write a whole number{unit}, e.g. {example}", 3)
_NUMBER = ("a number", "write a number{unit}, e.g. {example}", 0.5)
_BOOLEAN = ("a boolean", "write true or false", None)
_OBJECT = ("an object", "write {fields} indented below it", None)
WRONG_TYPE: dict[str, tuple[str, str, float | None]] = {
    "int_type": _INTEGER,
    "int_parsing": _INTEGER,
    "int_from_float": _INTEGER,
    "float_type": _NUMBER,
    "float_parsing": _NUMBER,
    "bool_type": _BOOLEAN,
    "bool_parsing": _BOOLEAN,
    "string_type": ("text", "write it as a string, quoted: 'like this'", None),
    "list_type": ("a list", "write its items below it, one '- item' line each, or [a, b]", None),
    "dict_type": _OBJECT,
    "model_type": _OBJECT,
}
"""pydantic's errors for a value of the wrong type: what the field takes, the fix, and a
number for `{example}` when the field's schema has no example, default or minimum to show;
`{unit}` becomes " of seconds" for a duration (`_unit`), `{fields}` the object's fields."""
DURATION_TEXT = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
"""A duration as Kubernetes writes it elsewhere (`30m`, `1h30m`, `90s`), which a field of
seconds does not take."""
BOUNDS = {
    "greater_than_equal": ("ge", "less than the minimum", "{limit} or more"),
    "less_than_equal": ("le", "more than the maximum", "{limit} or less"),
    "greater_than": ("gt", "not more than", "more than {limit}"),
    "less_than": ("lt", "not less than", "less than {limit}"),
}
"""pydantic's errors for a number out of its bounds: the bound's key in the error's
context, what the value is, and the fix."""


def _parse_error(error: Any) -> str:
    """One of pydantic's errors as the field, what is wrong, the value, and the fix where
    pydantic's wording has none: a field name that is not one (the nearest that is), a
    YAML word read as a boolean or a number where text is expected (quote it), a value
    of the wrong type (`WRONG_TYPE`) or out of bounds (`BOUNDS`), a missing field."""
    loc, value = error["loc"], error.get("input")
    shown = "" if isinstance(value, Mapping | list) else f" (value {value!r})"
    if error["type"] == "extra_forbidden":
        known = _fields_at(loc[:-1])
        near = _nearest_field(loc)
        hint = (
            f"did you mean {near}?"
            if near
            else f"the fields here: {', '.join(known)}"
            if known
            else "remove it"
        )
        return f"{_error_path(loc)}: not a field of {_error_path(loc[:-1])}; {hint}"
    if error["type"] == "missing":
        return f"{_error_path(loc)}: required; add it"
    fix = ""
    if isinstance(value, bool) and error["type"] in QUOTE_ME:
        fix = (
            "; YAML (as kubectl reads it) takes a bare y, n, yes, no, on or off, capitalised "
            "or not, as a boolean: write the word quoted, e.g. 'n' or 'Off'"
        )
    elif isinstance(value, int | float) and error["type"] in QUOTE_ME:
        # YAML turned the text into a number before it came here: the value shown may not
        # be the one meant, whose spelling the trainer gets once quoted.
        fix = f"; write it quoted: '{value}' (or as written: YAML reads 01 as 1, 1.10 as 1.1)"
    elif error["type"] in WRONG_TYPE:
        return _wrong_type(error["type"], loc, value)
    elif error["type"] in BOUNDS and isinstance(value, int | float):
        key, what, fix = BOUNDS[error["type"]]
        limit = (error.get("ctx") or {}).get(key)
        return f"{_error_path(loc)}: {value!r} is {what} {limit}; write {fix.format(limit=limit)}"
    elif isinstance(value, str) and error["type"] in ("enum", "literal_error"):
        meant = [v for v in _schema_at(loc).get("enum", ()) if str(v).lower() == value.lower()]
        if meant:
            fix = f"; write {meant[0]}: case matters"
    return f"{_error_path(loc)}: {error['msg']}{shown}{fix}"


def _wrong_type(kind: str, loc: tuple[int | str, ...], value: Any) -> str:
    """`field: value is not what it takes; the fix`, for a value of the wrong type."""
    what, fix, example = WRONG_TYPE[kind]
    node = _schema_at(loc)
    fields = _fields_at(loc)
    example = next(
        (
            node[key]
            for key in ("example", "default", "minimum")
            if isinstance(node.get(key), int | float) and not isinstance(node.get(key), bool)
        ),
        example,
    )
    unit = _unit(loc)
    duration = DURATION_TEXT.fullmatch(value) if unit and isinstance(value, str) else None
    if duration and any(duration.groups()):
        hours, minutes, seconds = (int(part or 0) for part in duration.groups())
        fix = f"write a whole number of seconds: {hours * 3600 + minutes * 60 + seconds}"
    fix = fix.format(
        example=example,
        unit=f" of {unit}" if unit else "",
        fields=f"its fields ({', '.join(fields)})" if fields else "its key: value lines",
    )
    return f"{_error_path(loc)}: {_shown(value)} is not {what}; {fix}"


def _unit(loc: tuple[int | str, ...]) -> str | None:
    """The unit "seconds" for a field that counts them (`maxRuntimeSeconds`, as Kubernetes names
    its durations: `activeDeadlineSeconds`), else None."""
    return "seconds" if loc and str(loc[-1]).endswith("Seconds") else None


def _shown(value: Any) -> str:
    """A value as the manifest wrote it, in a few words."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)


@functools.cache
def _spec_schema() -> dict[str, Any]:
    return spec_schema()


def _schema_at(loc: tuple[int | str, ...]) -> dict[str, Any]:
    """The spec's schema of the field at `loc` (a path in spec); {} when it has none."""
    node = _spec_schema()
    for part in loc:
        node = (
            node.get("items", {})
            if isinstance(part, int)
            else node.get("properties", {}).get(part, {})
        )
    return node


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The field names the spec's schema allows at `loc` (an object's path in spec)."""
    return sorted(_schema_at(loc).get("properties") or {})
