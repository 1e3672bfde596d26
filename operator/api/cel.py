"""The CEL rules (`x-kubernetes-validations`) the API server enforces at admission.

Each rule's message is written once. A message may name the offending value with a
placeholder `{cel|fallback}`: the rule's `messageExpression` (evaluated by the API server
when the rule fails) inserts the CEL expression's value there, and the plain `message`
(shown when the expression cannot be evaluated) the fallback text. Rules of a parameter
start their message with the parameter's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubetune.operator.api.constants import (
    DEFAULT_HYPERBAND_MIN_RESOURCE,
    DEFAULT_HYPERBAND_REDUCTION_FACTOR,
    HYPERBAND_TRIAL_STATUS_BYTES,
    HYPERPARAMETER_NAME_MAX_LENGTH,
    HYPERPARAMETER_NAME_PATTERN,
    INTEGRAL_BOUND,
    MAX_HYPERBAND_REDUCTION_FACTOR,
    MAX_HYPERBAND_RESOURCE,
    MAX_HYPERBAND_RUNGS,
    MIN_HYPERBAND_MAX_RESOURCE,
    NUMBER_TEXT_MAX_LENGTH,
    STATUS_TRIAL_VALUES_BUDGET_BYTES,
)

_PLACEHOLDER = re.compile(r"\{([^{}|]+)\|([^{}]*)\}")
PARAMETER_PREFIX = "parameter {self.name|}: "
"""Starts the message expression of a parameter's rules: its name."""


def _cel_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _message_expression(message: str) -> str | None:
    """The CEL concatenation of the message's text and its placeholders' values; None
    when the message has no placeholder (it is the same for every value)."""
    parts = []
    position = 0
    for match in _PLACEHOLDER.finditer(message):
        if match.start() > position:
            parts.append(_cel_string(message[position : match.start()]))
        parts.append(match.group(1))
        position = match.end()
    if not parts:
        return None
    if position < len(message):
        parts.append(_cel_string(message[position:]))
    return " + ".join(parts)


def rule(
    expression: str,
    message: str,
    *,
    prefix: str | None = None,
    field_path: str | None = None,
    reason: str | None = None,
) -> dict[str, str]:
    """One CEL rule for `x-kubernetes-validations`.

    `message` may hold `{cel|fallback}` placeholders (see the module docstring); `prefix`
    (a message of the same kind) starts the message expression only, e.g. with the
    parameter's name. `field_path`
    (e.g. `.objective.metric`) points the error at a child field. `reason` is one of
    FieldValueInvalid (default), FieldValueForbidden, FieldValueRequired,
    FieldValueDuplicate.
    """
    out = {"rule": expression, "message": _PLACEHOLDER.sub(lambda m: m.group(2), message)}
    message_expression = _message_expression((prefix or "") + message)
    if message_expression is not None:
        out["messageExpression"] = message_expression
    if field_path is not None:
        out["fieldPath"] = field_path
    if reason is not None:
        out["reason"] = reason
    return out


def immutable(field: str) -> dict[str, str]:
    """A transition rule that refuses any change to `field` after creation."""
    return rule(
        "self == oldSelf",
        f"spec.{field} is immutable; create a new TuningJob to change it",
    )


def immutable_keyed_list(field: str) -> dict[str, str]:
    """`immutable` for a list keyed by its items' `name` (`x-kubernetes-list-type: map`),
    whose equality in CEL ignores the items' order: comparing the names in order too
    refuses a reordering, as the rule did on the list before it was keyed."""
    return rule(
        "self == oldSelf && self.map(x, x.name) == oldSelf.map(x, x.name)",
        immutable(field)["message"],
    )


def immutable_keyed_list_by_effective_values(
    field: str, required: Sequence[str], optional: Sequence[str], defaults: Mapping[str, str]
) -> dict[str, str]:
    """`immutable_keyed_list` for items with fields the CRD leaves undefaulted
    (`defaults`: field -> default), which compares their effective values: an item that
    leaves such a field out equals one that writes its default out, as an object stored
    while the CRD still defaulted it does."""
    same = [f"q.{f} == p.{f}" for f in required]
    same += [f"(has(q.{f}) ? has(p.{f}) && q.{f} == p.{f} : !has(p.{f}))" for f in optional]
    for f, value in defaults.items():
        default = _cel_string(value)
        same.append(f"(has(q.{f}) ? q.{f} : {default}) == (has(p.{f}) ? p.{f} : {default})")
    return rule(
        "self.map(x, x.name) == oldSelf.map(x, x.name) && "
        f"self.all(p, oldSelf.exists(q, {' && '.join(same)}))",
        immutable(field)["message"],
    )


def immutable_once_set(field: str, fix: str) -> dict[str, str]:
    """A transition rule on `spec` refusing any change to the optional `field`: setting,
    changing or removing it (a rule on the field itself would miss setting and removing,
    since transition rules run only where the old and the new object both have it)."""
    return rule(
        f"has(self.{field}) == has(oldSelf.{field}) && "
        f"(!has(self.{field}) || self.{field} == oldSelf.{field})",
        f"spec.{field} is immutable; {fix}",
        field_path=f".{field}",
    )


STOP_IS_FINAL = rule(
    "self || !oldSelf",
    "spec.stop cannot be set back to false: a stopped TuningJob stays stopped (as in "
    "SageMaker); keep `stop: true` in your manifest (GitOps: the one in Git too, or delete "
    "the TuningJob); to tune further, create a new TuningJob with warmStart.parents naming "
    "this one",
)

HYPERBAND_DEFAULTS: dict[str, int | str | None] = {
    "minResource": DEFAULT_HYPERBAND_MIN_RESOURCE,
    "maxResource": None,
    "reductionFactor": DEFAULT_HYPERBAND_REDUCTION_FACTOR,
    "sampler": "SobolBayesian",
}
"""What each field of `spec.hyperband` is when unset (None: no default), a test checks
against the model's: an absent `hyperband` is these values."""


def _effective_hyperband(side: str, field: str) -> str:
    """CEL: `side`.hyperband.`field`, or its default where hyperband or the field is unset
    (0 for maxResource, which is at least 2 when set)."""
    default = HYPERBAND_DEFAULTS[field]
    shown = _cel_string(default) if isinstance(default, str) else str(default or 0)
    return (
        f"(has({side}.hyperband) && has({side}.hyperband.{field}) "
        f"? {side}.hyperband.{field} : {shown})"
    )


def hyperband_immutable(fix: str) -> dict[str, str]:
    """`immutable_once_set` for `hyperband`, by its effective values: writing out the
    defaults (`hyperband: {reductionFactor: 3}`) on a job created without the block, or
    removing an all-default block, changes no rung and is no change."""
    return rule(
        " && ".join(
            f"{_effective_hyperband('self', f)} == {_effective_hyperband('oldSelf', f)}"
            for f in HYPERBAND_DEFAULTS
        ),
        f"spec.hyperband is immutable; {fix}",
        field_path=".hyperband",
    )


NEW_JOB_WARM_STARTED = (
    "create a new TuningJob to change it, with warmStart.parents naming this one to reuse "
    "its trials"
)
SPEC_TRANSITION_RULES = (
    immutable_once_set("staticHyperparameters", NEW_JOB_WARM_STARTED),
    immutable_once_set("randomSeed", NEW_JOB_WARM_STARTED),
    immutable_once_set("warmStart", "create a new TuningJob to change it"),
    # The recorded rung values are only comparable under the rungs they were judged at.
    hyperband_immutable(NEW_JOB_WARM_STARTED),
)


def cel(*rules: dict[str, str]) -> dict[str, Any]:
    """`json_schema_extra` carrying CEL rules into the generated CRD schema."""
    return {"x-kubernetes-validations": list(rules)}


def _whole_number_rule(bound: str) -> dict[str, str]:
    """`min` or `max` of an Integer parameter: a whole number within ±1e15. The message
    says which of the two it is not; it cannot quote the value: `string(self.max)` (even
    cut with `substring`) has no bound on its length in the API server's cost estimate,
    and the CRD is refused as over its CEL budget 100 times over."""
    within = f"self.{bound} >= -{INTEGRAL_BOUND} && self.{bound} <= {INTEGRAL_BOUND}"
    return rule(
        f"self.type != 'Integer' || !has(self.{bound}) || "
        f"({within} && double(int(self.{bound})) == self.{bound})",
        f"{bound} of an Integer parameter must be a whole number between -1e15 and 1e15"
        f"{{(({within}) ? ', and this one has a fraction; round it' : ', and this one is "
        f"beyond them; bring it within them')|; write one}}, or make the parameter Continuous",
        prefix=PARAMETER_PREFIX,
        field_path=f".{bound}",
    )


PARAMETER_RULES = (
    rule(
        "self.type == 'Categorical' || (has(self.min) && has(self.max))",
        "{self.type|Continuous and Integer} parameters need both min and max; set them, or "
        "use type: Categorical with values",
        prefix=PARAMETER_PREFIX,
        reason="FieldValueRequired",
    ),
    rule(
        "self.type == 'Categorical' || !has(self.values)",
        "values is only for Categorical parameters; remove values or set type: Categorical",
        prefix=PARAMETER_PREFIX,
        field_path=".values",
        reason="FieldValueForbidden",
    ),
    rule(
        "self.type != 'Categorical' || (has(self.values) && size(self.values) >= 1)",
        "a Categorical parameter needs values (1 to 30 distinct strings)",
        prefix=PARAMETER_PREFIX,
        reason="FieldValueRequired",
    ),
    rule(
        "self.type != 'Categorical' || (!has(self.min) && !has(self.max))",
        "min and max are not allowed for Categorical parameters; list the choices in values",
        prefix=PARAMETER_PREFIX,
        reason="FieldValueForbidden",
    ),
    rule(
        "!has(self.min) || !has(self.max) || self.min < self.max",
        "min must be less than max; swap or widen the range",
        prefix=PARAMETER_PREFIX,
        field_path=".min",
    ),
    _whole_number_rule("min"),
    _whole_number_rule("max"),
    rule(
        "!has(self.scaling) || self.scaling != 'Logarithmic' || (self.type != 'Categorical' && "
        "(!has(self.min) || self.min > 0.0))",
        "Logarithmic scaling needs a Continuous or Integer parameter with min > 0; raise min "
        "or use scaling: Linear",
        prefix=PARAMETER_PREFIX,
        field_path=".scaling",
    ),
    rule(
        "!has(self.scaling) || self.scaling != 'ReverseLogarithmic' || "
        "(self.type == 'Continuous' && has(self.min) && has(self.max) && self.min >= 0.0 && "
        "self.min < self.max && self.max < 1.0)",
        "ReverseLogarithmic scaling needs a Continuous parameter with 0 <= min < max < 1; fix "
        "the range or use scaling: Linear",
        prefix=PARAMETER_PREFIX,
        field_path=".scaling",
    ),
)

CATEGORICAL_VALUES_DISTINCT = rule(
    "self.all(v, self.exists_one(w, w == v))",
    "values must be distinct{': \"' + self.filter(v, !self.exists_one(w, w == v))[0] + "
    "'\" is repeated'|}; remove the duplicates",
)

LIMITS_RULES = (
    rule(
        # A maxTrials below 1 is refused by its own minimum: not reported again here.
        "!has(self.maxParallelTrials) || !has(self.maxTrials) || self.maxTrials < 1 "
        "|| self.maxParallelTrials <= self.maxTrials",
        "limits.maxParallelTrials must not exceed limits.maxTrials; lower "
        "maxParallelTrials or raise maxTrials",
        field_path=".maxParallelTrials",
    ),
)

_CONTAINERS = "self.job.template.spec.containers"
_FIRST_CONTAINER_NAME = (
    f"(size({_CONTAINERS}) > 0 && has({_CONTAINERS}[0].name) "
    f"? ' (\"' + {_CONTAINERS}[0].name + '\")' : '')"
)
"""CEL: ` ("trainer")`, the first container's name for the primaryContainer message
(CEL has no join to list them all); empty when it has none."""

TRIAL_TEMPLATE_RULES = (
    rule(
        "!has(self.primaryContainer) || !has(self.job.template) "
        "|| !has(self.job.template.spec) || !has(self.job.template.spec.containers) "
        "|| self.job.template.spec.containers.exists(c, c.name == self.primaryContainer)",
        "trialTemplate.primaryContainer {'\"' + self.primaryContainer + '\" '|}is not a "
        "container of trialTemplate.job.template.spec.containers; use one of their names or "
        "leave primaryContainer unset to use the first"
        f"{{{_FIRST_CONTAINER_NAME}|}}",
        field_path=".primaryContainer",
    ),
)

JOB_CONTROLLER = "kubernetes.io/job-controller"
"""The Job controller's own `managedBy`: the one value that lets a trial's Job run here."""

_ONE_POD = (
    ": a trial is one training run in one pod, whose log gives the trial's objective and "
    "epochs (several pods would each train the same hyperparameters, and one be read); "
    "remove {field}, and raise spec.limits.maxParallelTrials to run more trials at once"
)


def _count_text(expression: str) -> str:
    """CEL: the integer `expression` as text, `0` to `9`, else `over 9` or `negative`.

    Not `string(...)`: the API server's cost estimate knows no bound on the length of an
    integer's text, and a message built on it exceeds the CRD's CEL budget 100 times over;
    an item of a list of literals has a known length."""
    digits = ", ".join(f"'{d}'" for d in range(10))
    return (
        f"({expression} >= 0 && {expression} <= 9 ? [{digits}][{expression}] "
        f": {expression} > 9 ? 'over 9' : 'negative')"
    )


def _one_pod_rule(field: str) -> dict[str, str]:
    """A JobSpec count (`completions`, `parallelism`) that must be unset or 1."""
    return rule(
        f"!has(self.{field}) || self.{field} == 1",
        f"trialTemplate.job.{field} {{'is ' + {_count_text(f'self.{field}')}|is not 1}}"
        + _ONE_POD.format(field=field),
        field_path=f".{field}",
    )


JOB_RULES = (
    rule(
        "has(self.template) && has(self.template.spec) "
        "&& has(self.template.spec.containers) && size(self.template.spec.containers) >= 1",
        "trialTemplate.job.template.spec.containers needs at least one container; add the "
        "trainer container",
        reason="FieldValueRequired",
    ),
    _one_pod_rule("completions"),
    _one_pod_rule("parallelism"),
    rule(
        "!has(self.suspend) || !self.suspend",
        "trialTemplate.job.suspend is true: every trial's Job would be created suspended and "
        "never start (the operator does not resume it); remove it, and set spec.suspend on "
        "the TuningJob to pause launching trials",
        field_path=".suspend",
    ),
    rule(
        f"!has(self.managedBy) || self.managedBy == '{JOB_CONTROLLER}'",
        "trialTemplate.job.managedBy {'\"' + self.managedBy + '\" '|}hands each trial's Job to "
        "another controller: Kubernetes' Job controller would not start its pod here, where "
        f"the operator reads the trial's log; remove managedBy (or set it to {JOB_CONTROLLER})",
        field_path=".managedBy",
    ),
)

STATIC_HYPERPARAMETER_RULES = (
    rule(
        f"self.all(k, size(k) <= {HYPERPARAMETER_NAME_MAX_LENGTH} "
        f"&& k.matches('{HYPERPARAMETER_NAME_PATTERN}'))",
        "staticHyperparameters keys must start with a letter or _ and contain only "
        "letters, digits, _, . and - (at most 40 characters); rename the offending keys",
    ),
)


def _status_trial_values_bytes_cel() -> str:
    """CEL: an upper bound on the status bytes one trial's hyperparameters and recorded
    metrics take."""
    # Per entry: the JSON `"name":"value",` is len(name) + len(value) + 6 bytes; a number's
    # text is at most NUMBER_TEXT_MAX_LENGTH; a categorical value at most its longest value.
    # Every metric but the objective is recorded (`status.trials[].metrics`).
    return (
        "self.parameters.map(p, size(p.name) + 6 + "
        "(p.type == 'Categorical' && has(p.values) && size(p.values) > 0 "
        f"? p.values.map(v, size(v)).max() : {NUMBER_TEXT_MAX_LENGTH})).sum() + "
        "self.metrics.filter(m, m.name != self.objective.metric)"
        f".map(m, size(m.name) + 6 + {NUMBER_TEXT_MAX_LENGTH}).sum()"
    )


SPEC_RULES = (
    rule(
        "self.metrics.exists(m, m.name == self.objective.metric)",
        "objective.metric {'\"' + self.objective.metric + '\" '|}is not declared in metrics; "
        "add a metric with that name or fix the spelling",
        field_path=".objective.metric",
    ),
    rule(
        "self.strategy != 'Grid' || self.parameters.all(p, p.type != 'Continuous')",
        "strategy Grid needs Categorical or Integer parameters only; use another strategy "
        "or make the Continuous parameters Integer or Categorical",
        field_path=".strategy",
    ),
    rule(
        "self.strategy == 'Bayesian' || !has(self.completionCriteria) || "
        "!has(self.completionCriteria.convergence) || "
        "self.completionCriteria.convergence == 'Off'",
        "completionCriteria.convergence Auto needs strategy Bayesian (it asks the Gaussian "
        "process); set it to Off or remove it",
        field_path=".completionCriteria.convergence",
    ),
    rule(
        # A conditional, not `!has(...) || ...all(...)`: cel-python (the local check,
        # `cli/admission.py`) evaluates both sides of `||`, and `all` over a missing map's
        # errors took time and memory doubling with each parameter (23 GB at 30).
        "has(self.staticHyperparameters) ? "
        "self.parameters.all(p, !(p.name in self.staticHyperparameters)) : true",
        "a parameter name is also a key of staticHyperparameters{': \"' + "
        "self.parameters.map(p, p.name).filter(n, n in self.staticHyperparameters)[0] + "
        "'\"'|}; a hyperparameter is either tuned or static, remove it from one of the two",
        field_path=".staticHyperparameters",
    ),
    rule(
        "!has(self.limits) || !has(self.limits.maxTrials) || "
        f"self.limits.maxTrials * ({_status_trial_values_bytes_cel()} + "
        f"(self.strategy == 'Hyperband' ? {HYPERBAND_TRIAL_STATUS_BYTES} : 0)) "
        f"<= {STATUS_TRIAL_VALUES_BUDGET_BYTES}",
        "limits.maxTrials is too large for these parameters and metrics: every trial's "
        "hyperparameters and metric values are kept in the status, which must stay under "
        f"etcd's object size limit (about {STATUS_TRIAL_VALUES_BUDGET_BYTES // 1000} kB for "
        f"maxTrials x (per parameter: name length + {NUMBER_TEXT_MAX_LENGTH}, or its longest "
        "value if Categorical, + 6; per metric other than the objective: name length + "
        f"{NUMBER_TEXT_MAX_LENGTH + 6}; + {HYPERBAND_TRIAL_STATUS_BYTES} per trial with "
        "strategy Hyperband)); lower maxTrials, or use fewer or shorter-named "
        "parameters or metrics",
        field_path=".limits.maxTrials",
    ),
)

PARAMETER_NAMES_UNIQUE = rule(
    "self.all(p, self.exists_one(q, q.name == p.name))",
    "parameter names must be unique; rename or remove the duplicate parameters{', named \"' "
    "+ self.map(p, p.name).filter(n, !self.exists_one(q, q.name == n))[0] + '\"'|}",
)
METRIC_NAMES_UNIQUE = rule(
    "self.all(m, self.exists_one(n, n.name == m.name))",
    "metric names must be unique; rename or remove the duplicate metrics{', named \"' + "
    "self.map(m, m.name).filter(n, !self.exists_one(k, k.name == n))[0] + '\"'|}",
)

EPOCH_KEYS = ("epochs", "num_epochs", "n_epochs", "numepochs", "n-epochs")
"""kubetune.optimizer.hyperband.MAX_RESOURCE_KEYS (a test checks they are the same)."""
_STATIC = "self.staticHyperparameters"
_HAS_EPOCH_KEY = " || ".join(f"'{k}' in {_STATIC}" for k in EPOCH_KEYS)


def _first_epoch_key(then: str) -> str:
    """CEL: `then` (a CEL template, `{key}` the key as a CEL string) for the first of
    EPOCH_KEYS in staticHyperparameters (the one the optimizer reads), '' when none is."""
    expression = "''"
    for key in reversed(EPOCH_KEYS):
        expression = f"('{key}' in {_STATIC} ? {then.format(key=repr(key))} : {expression})"
    return expression


_EPOCH_KEY = _first_epoch_key("{key}")
_EPOCH_TEXT = _first_epoch_key(f"{_STATIC}[{{key}}]")
_EPOCHS = f"int({_EPOCH_TEXT})"
_EPOCHS_READ = f"self.strategy == 'Hyperband' && has({_STATIC}) && ({_HAS_EPOCH_KEY})"
"""CEL: a Hyperband job whose staticHyperparameters name the trainer's epochs."""
EPOCHS_WRITTEN = "[0-9]{1,5}"
"""How the epochs Hyperband reads from staticHyperparameters must be written: digits, as
the trainer parses them (`"12.0"` or `" 9 "` would fail its int()); `kube.validation`
checks the same for a run with no API server."""
_EPOCHS_VALID = (
    f"{_EPOCH_TEXT}.matches('^{EPOCHS_WRITTEN}$') && {_EPOCHS} >= {MIN_HYPERBAND_MAX_RESOURCE} "
    f"&& {_EPOCHS} <= {MAX_HYPERBAND_RESOURCE}"
)
"""CEL: those epochs are a whole number of epochs a maxResource may be (at most 5 digits:
`int()` of more could overflow)."""
_DIGITS = "[" + ", ".join(f"'{d}'" for d in range(10)) + "]"


def _integer_text(expression: str) -> str:
    """CEL: the integer `expression` (0 to 99999) as text.

    Not `string(...)`: the API server's cost estimate knows no bound on the length of an
    integer's text, and a message built on it exceeds the CRD's CEL budget 100 times
    over; a concatenation of items of a list of literals has a known length. The rules
    using it hold only for values within the fields' bounds (at most 20000)."""
    leading = [
        f"({expression} >= {10**k} ? {_DIGITS}[{expression} / {10**k} % 10] : '')"
        for k in range(4, 0, -1)
    ]
    return "(" + " + ".join([*leading, f"{_DIGITS}[{expression} % 10]"]) + ")"


def _cel_text(text_of: Callable[..., str], *expressions: str) -> str:
    """CEL: the text `text_of` (a message's part, which the operator calls with the
    values) makes of the values of the CEL `expressions` (texts themselves)."""
    pieces = re.split(
        "\x00([0-9]+)\x00", text_of(*(f"\x00{i}\x00" for i in range(len(expressions))))
    )
    return " + ".join(
        expressions[int(piece)] if odd else _cel_string(piece)
        for odd, piece in ((i % 2 == 1, p) for i, p in enumerate(pieces))
        if odd or piece
    )


def value_shown(value: str) -> str:
    """A static hyperparameter's value in a message, after its key."""
    return f" '{value}'"


def epochs_not_a_number_message(key: str, shown: str) -> str:
    """`spec.staticHyperparameters`' message when the epochs Hyperband reads from it
    (`key`, its value `shown` by `value_shown`) are not a maxResource."""
    return (
        f"staticHyperparameters.{key}{shown} is not a whole number of epochs from "
        f"{MIN_HYPERBAND_MAX_RESOURCE} to {MAX_HYPERBAND_RESOURCE} written in digits, which "
        "strategy Hyperband needs: every trial is started with these epochs (its "
        "maxResource) and stopped at rungs below them; write the trainer's epochs, e.g. '27'"
    )


def max_differs_from_epochs_message(maximum: str, epochs: str, key: str) -> str:
    """`spec.hyperband.maxResource`'s message when it is not the `epochs` of
    staticHyperparameters.`key`."""
    return (
        f"{maximum} differs from the {epochs} epochs of spec.staticHyperparameters.{key} the "
        "trainer is started with; make them equal or unset maxResource"
    )


def min_not_below_max_message(minimum: str, maximum: str, source: str, fix: str) -> str:
    """`spec.hyperband.minResource`'s message when it is not below the maxResource
    (`source` says where that comes from, `fix` how to raise it)."""
    return (
        f"{minimum} is not less than {maximum} ({source}); lower minResource below "
        f"{maximum} or {fix} above {minimum}"
    )


def inferred_max_source(key: str) -> str:
    """Where an unset maxResource comes from: the epochs of staticHyperparameters.`key`."""
    return f"maxResource, unset: the epochs of spec.staticHyperparameters.{key}"


def rung_numbers(minimum: str, factor: str, lowest_top: str) -> str:
    """The numbers of `too_many_rungs_message`: minimum·factor^8 = `lowest_top`."""
    return f" = {minimum} x {factor}^{MAX_HYPERBAND_RUNGS} = {lowest_top}"


def too_many_rungs_message(numbers: str, maximum: str, source: str, fix: str) -> str:
    """The message of a Hyperband budget of more than MAX_HYPERBAND_RUNGS rungs: the rung
    minResource·reductionFactor^8 (a ninth; `numbers` by `rung_numbers`) is still below
    the maxResource `maximum` (`source`: where it comes from; `fix`: how to lower it)."""
    return (
        f"hyperband has more than {MAX_HYPERBAND_RUNGS} rungs: minResource x "
        f"reductionFactor^{MAX_HYPERBAND_RUNGS}{numbers} is less than {maximum} ({source}); "
        "every trial's rung values are kept in the status: raise minResource or "
        f"reductionFactor, or {fix}"
    )


def _rung_top(minimum: str, factor: str) -> str:
    """CEL: minimum x factor^8, as a double (its int overflows for large values)."""
    return " * ".join([f"double({minimum})"] + [f"double({factor})"] * MAX_HYPERBAND_RUNGS)


def _shown(expression: str, fallback: str) -> str:
    """A message's placeholder: the CEL text `expression`, else `fallback`."""
    return f"{{{expression}|{fallback}}}"


def _rung_numbers_shown(minimum: str, factor: str) -> str:
    """The placeholder of `rung_numbers` of the CEL integers `minimum` and `factor` (their
    product is an int below a maxResource where the rule fails)."""
    lowest_top = " * ".join([minimum] + [factor] * MAX_HYPERBAND_RUNGS)
    texts = (_integer_text(minimum), _integer_text(factor), _integer_text(lowest_top))
    return _shown(_cel_text(rung_numbers, *texts), "")


_WITHIN_BOUNDS = (
    f"self.minResource >= 1 && self.minResource <= {MAX_HYPERBAND_RESOURCE} "
    f"&& self.reductionFactor >= 2 && self.reductionFactor <= {MAX_HYPERBAND_REDUCTION_FACTOR}"
    f" && (!has(self.maxResource) || (self.maxResource >= {MIN_HYPERBAND_MAX_RESOURCE} && "
    f"self.maxResource <= {MAX_HYPERBAND_RESOURCE}))"
)
"""CEL: hyperband's fields within their bounds. The rules relating them hold otherwise: a
value out of bounds is refused as such, and alone (minResource 0 or reductionFactor 1
would add a spurious "more than 8 rungs"); the numbers they show have at most 5 digits."""
_GIVEN_MAX = "spec.hyperband.maxResource"

HYPERBAND_RULES = (
    rule(
        f"!has(self.maxResource) || !({_WITHIN_BOUNDS}) || self.minResource < self.maxResource",
        min_not_below_max_message(
            _shown(_integer_text("self.minResource"), "minResource"),
            _shown(_integer_text("self.maxResource"), "maxResource"),
            _GIVEN_MAX,
            "raise maxResource",
        ),
        field_path=".minResource",
    ),
    rule(
        f"!has(self.maxResource) || !({_WITHIN_BOUNDS}) "
        f"|| {_rung_top('self.minResource', 'self.reductionFactor')} >= double(self.maxResource)",
        too_many_rungs_message(
            _rung_numbers_shown("self.minResource", "self.reductionFactor"),
            _shown(_integer_text("self.maxResource"), "maxResource"),
            _GIVEN_MAX,
            "lower maxResource",
        ),
        field_path=".maxResource",
    ),
)

HYPERBAND_NEEDS_MAX_RESOURCE = rule(
    "self.strategy != 'Hyperband' || (has(self.hyperband) && "
    f"has(self.hyperband.maxResource)) || (has({_STATIC}) && "
    f"({_HAS_EPOCH_KEY}))",
    "strategy Hyperband needs hyperband.maxResource, or a staticHyperparameters key "
    f"naming the epochs ({', '.join(EPOCH_KEYS)}) to infer it from; set one",
    field_path=".hyperband",
    reason="FieldValueRequired",
)
"""Also the operator's message, should a Hyperband spec reach it without a maxResource
(`kube.validation`)."""

_HB = "self.hyperband"
_INFERRED = (
    f"{_EPOCHS_READ} && ({_EPOCHS_VALID}) && has({_HB}) && !has({_HB}.maxResource) "
    f"&& {_HB}.minResource >= 1 && {_HB}.minResource <= {MAX_HYPERBAND_RESOURCE} "
    f"&& {_HB}.reductionFactor >= 2 && {_HB}.reductionFactor <= {MAX_HYPERBAND_REDUCTION_FACTOR}"
)
"""CEL: maxResource is the (valid) epochs of staticHyperparameters, and hyperband's other
fields are within their bounds (see _WITHIN_BOUNDS)."""
_KEY_SHOWN = _shown(_EPOCH_KEY, "epochs")
_EPOCHS_SHOWN = _shown(_integer_text(_EPOCHS), "the epochs")
"""The epochs as a number's digits (`_integer_text`), not as written: the API server's
cost estimate bounds no static hyperparameter's length, and the raw text in three
messages made these rules cost 2.5 times as much (14% of the CRD's CEL budget)."""
_DEFAULT_LOWEST_TOP = DEFAULT_HYPERBAND_MIN_RESOURCE * (
    DEFAULT_HYPERBAND_REDUCTION_FACTOR**MAX_HYPERBAND_RUNGS
)

HYPERBAND_EPOCHS_RULES = (
    rule(
        f"!({_EPOCHS_READ}) || ({_EPOCHS_VALID})",
        epochs_not_a_number_message(_KEY_SHOWN, _shown(_cel_text(value_shown, _EPOCH_TEXT), "")),
        field_path=".staticHyperparameters",
    ),
    rule(
        f"!({_EPOCHS_READ} && ({_EPOCHS_VALID}) && has({_HB}) && has({_HB}.maxResource)) "
        f"|| {_HB}.maxResource == {_EPOCHS}",
        max_differs_from_epochs_message(
            _shown(_integer_text(f"{_HB}.maxResource"), "maxResource"),
            _shown(_integer_text(_EPOCHS), "number of"),  # see _EPOCHS_SHOWN
            _KEY_SHOWN,
        ),
        field_path=".hyperband.maxResource",
    ),
    # Without hyperband, minResource is 1: below any maxResource.
    rule(
        f"!({_INFERRED}) || {_HB}.minResource < {_EPOCHS}",
        min_not_below_max_message(
            _shown(_integer_text(f"{_HB}.minResource"), "minResource"),
            _EPOCHS_SHOWN,
            inferred_max_source(_KEY_SHOWN),
            f"raise {_KEY_SHOWN}",
        ),
        field_path=".hyperband.minResource",
    ),
    rule(
        f"!({_INFERRED}) || "
        f"{_rung_top(f'{_HB}.minResource', f'{_HB}.reductionFactor')} >= double({_EPOCHS})",
        too_many_rungs_message(
            _rung_numbers_shown(f"{_HB}.minResource", f"{_HB}.reductionFactor"),
            _EPOCHS_SHOWN,
            inferred_max_source(_KEY_SHOWN),
            f"lower {_KEY_SHOWN}",
        ),
        field_path=".hyperband",
    ),
    rule(  # hyperband unset: its defaults' rungs
        f"!({_EPOCHS_READ} && ({_EPOCHS_VALID}) && !has({_HB})) "
        f"|| {_EPOCHS} <= {_DEFAULT_LOWEST_TOP}",
        too_many_rungs_message(
            rung_numbers(
                str(DEFAULT_HYPERBAND_MIN_RESOURCE),
                str(DEFAULT_HYPERBAND_REDUCTION_FACTOR),
                str(_DEFAULT_LOWEST_TOP),
            ),
            _EPOCHS_SHOWN,
            inferred_max_source(_KEY_SHOWN),
            f"lower {_KEY_SHOWN}",
        ),
        field_path=".hyperband",
    ),
)
"""The maxResource read from staticHyperparameters, as the operator checks it
(`kube.validation`, with these messages): refused at admission, not failed after."""

HYPERBAND_SPEC_RULES = (
    rule(
        "self.strategy == 'Hyperband' || !has(self.hyperband)",
        "hyperband is only for strategy: Hyperband; remove hyperband or set the strategy",
        field_path=".hyperband",
        reason="FieldValueForbidden",
    ),
    rule(
        "self.strategy != 'Hyperband' || !has(self.earlyStopping) || self.earlyStopping == 'Off'",
        "earlyStopping must be Off with strategy Hyperband, which stops trials at its "
        'rungs itself; set earlyStopping: "Off" (quoted: YAML reads a bare Off as false)',
        field_path=".earlyStopping",
    ),
    HYPERBAND_NEEDS_MAX_RESOURCE,
    *HYPERBAND_EPOCHS_RULES,
)
