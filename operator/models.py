"""The TuningJob custom resource (kubetune.io/v1alpha1): spec and status as pydantic models.

These models are the one source of truth for the resource. `kubetune.operator.crd` builds
the CustomResourceDefinition from them (field docstrings become the schema descriptions
that `kubectl explain` shows; the `x-kubernetes-validations` attached here become the CEL
rules the API server enforces at admission), and `docs/tuningjob-reference.md` is
generated from them too.

Field names are snake_case in Python and camelCase on the wire (`limits.max_trials` is
`spec.limits.maxTrials`). Parse what the API server sends with `TuningJobSpec.from_api`
(or `model_validate`) and write status with `TuningJobStatus.to_api()`, which produces the
camelCase JSON the status subresource expects, without `null`s.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

GROUP = "kubetune.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "TuningJob"
PLURAL = "tuningjobs"
SINGULAR = "tuningjob"
SHORT_NAMES = ("tj",)
CATEGORIES = ("all", "kubetune")

HYPERPARAMETERS_ENV = "KUBETUNE_HYPERPARAMETERS"
"""Environment variable of the primary container that holds the trial's hyperparameters
(tuned and static) as one JSON object of strings, e.g. `{"learning_rate": "0.01"}`."""

MAX_PARAMETERS = 30
MAX_METRICS = 40
MAX_CATEGORICAL_VALUES = 30
MAX_TRIALS = 1000
MAX_STATIC_HYPERPARAMETERS = 100
MAX_TRIAL_MESSAGE_LENGTH = 128
"""Trial messages longer than this are cut (with an ellipsis) so the status stays small."""

HYPERPARAMETER_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
HYPERPARAMETER_NAME_MAX_LENGTH = 40
CATEGORICAL_VALUE_MAX_LENGTH = 64
NUMBER_TEXT_MAX_LENGTH = 24
"""Longest text of a number in `status.trials[].hyperparameters` (Python's `repr` of a
float, e.g. `-1.2345678901234567e-100`, never exceeds it)."""

STATUS_HYPERPARAMETER_BUDGET_BYTES = 700_000
"""Upper bound on the bytes all trials' hyperparameters may take in the status at
`limits.maxTrials`. With ~400 bytes of other fields per trial this keeps a TuningJob at
1,000 trials well under etcd's 1.5 MiB object limit (see the CEL rule on `spec`)."""

INTEGRAL_BOUND = 1e15
"""Integer parameter bounds must lie within ±1e15 (exactly representable as doubles)."""


def rule(
    expression: str,
    message: str,
    *,
    message_expression: str | None = None,
    field_path: str | None = None,
    reason: str | None = None,
) -> dict[str, str]:
    """One CEL rule for `x-kubernetes-validations`.

    `message` is the fallback text; `message_expression` (CEL, evaluated only when the rule
    fails) may add the offending value. `field_path` (e.g. `.objective.metric`) points the
    error at a child field. `reason` is one of FieldValueInvalid (default),
    FieldValueForbidden, FieldValueRequired, FieldValueDuplicate.
    """
    out = {"rule": expression, "message": message}
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


def cel(*rules: dict[str, str]) -> dict[str, Any]:
    """`json_schema_extra` carrying CEL rules into the generated CRD schema."""
    return {"x-kubernetes-validations": list(rules)}


class KubeModel(BaseModel):
    """Base of every TuningJob model: camelCase on the wire, docstrings as descriptions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        use_enum_values=False,
        extra="forbid",
    )

    @classmethod
    def from_api(cls, data: Any) -> Self:
        """Parse a camelCase object as the API server returns it."""
        return cls.model_validate(data)

    def to_api(self) -> dict[str, Any]:
        """The camelCase JSON the API server expects; unset optional fields are left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StatusModel(KubeModel):
    """Base of the status models: tolerant of fields written by a newer operator, and
    validated on assignment too, because the planner edits a status field by field (a
    long trial message is then cut to its limit, not refused by the API server)."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)


# --------------------------------------------------------------------------- enums


class Strategy(StrEnum):
    """How the next trials' hyperparameters are chosen."""

    BAYESIAN = "Bayesian"
    RANDOM = "Random"
    GRID = "Grid"
    SOBOL = "Sobol"


class ObjectiveType(StrEnum):
    """Whether a larger or a smaller objective value is better."""

    MAXIMIZE = "Maximize"
    MINIMIZE = "Minimize"


class ParameterType(StrEnum):
    """The kind of values a hyperparameter takes."""

    CONTINUOUS = "Continuous"
    INTEGER = "Integer"
    CATEGORICAL = "Categorical"


class Scaling(StrEnum):
    """How a numeric range is searched."""

    AUTO = "Auto"
    LINEAR = "Linear"
    LOGARITHMIC = "Logarithmic"
    REVERSE_LOGARITHMIC = "ReverseLogarithmic"


class EarlyStopping(StrEnum):
    """Whether trials that do worse than their peers may be stopped early."""

    OFF = "Off"
    AUTO = "Auto"


class Convergence(StrEnum):
    """Whether the job may complete once the optimizer detects convergence."""

    OFF = "Off"
    AUTO = "Auto"


class Phase(StrEnum):
    """The TuningJob's lifecycle phase."""

    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"


class TrialPhase(StrEnum):
    """A trial's lifecycle phase."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    EARLY_STOPPED = "EarlyStopped"
    STOPPED = "Stopped"


class ConditionType(StrEnum):
    """Condition types the operator sets on a TuningJob.

    Running: trials are being launched or are still running (True while phase is
    InProgress). Succeeded: the job completed (True with phase Completed; the reason says
    which criterion ended it). Failed: the job failed (True with phase Failed).
    Suspended: `spec.suspend` is true and no new trial is launched. Invalid: the spec
    passed admission but failed the operator's own validation (the message names the
    field); the job is then Failed.
    """

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"
    INVALID = "Invalid"


class ConditionStatus(StrEnum):
    """Status of a condition, as in metav1.Condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


TERMINAL_PHASES = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.STOPPED})
TERMINAL_TRIAL_PHASES = frozenset(
    {TrialPhase.SUCCEEDED, TrialPhase.FAILED, TrialPhase.EARLY_STOPPED, TrialPhase.STOPPED}
)


# --------------------------------------------------------------------------- spec

HyperparameterName = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=HYPERPARAMETER_NAME_MAX_LENGTH,
        pattern=HYPERPARAMETER_NAME_PATTERN,
    ),
]
CategoricalValue = Annotated[
    str, StringConstraints(min_length=1, max_length=CATEGORICAL_VALUE_MAX_LENGTH)
]
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ResourceName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
]


class Objective(KubeModel):
    """The metric the tuning job optimizes."""

    metric: str = Field(min_length=1, max_length=255)
    """Name of the objective metric; must be the `name` of one of `spec.metrics`."""

    type: ObjectiveType
    """Maximize or Minimize the objective metric."""


class Metric(KubeModel):
    """A metric read from a trial's logs with a regular expression."""

    name: str = Field(min_length=1, max_length=255, pattern=r"^[^\s]+$")
    """Name of the metric, e.g. `validation:accuracy`; unique within `spec.metrics`."""

    regex: str = Field(min_length=1, max_length=500)
    """RE2 regular expression with exactly one capture group that captures the metric's
    number, e.g. `validation: accuracy=([0-9\\.]+)`. It is applied to every line of the
    trial's primary container log; each match is an intermediate value and the last match
    is the trial's final value (SageMaker semantics)."""


_PARAMETER_RULES = (
    rule(
        "self.type == 'Categorical' || (has(self.min) && has(self.max))",
        "Continuous and Integer parameters need both min and max; set them, or use type: "
        "Categorical with values",
        message_expression=(
            "'parameter ' + self.name + ': ' + self.type + ' parameters need both min and "
            "max; set them, or use type: Categorical with values'"
        ),
        reason="FieldValueRequired",
    ),
    rule(
        "self.type == 'Categorical' || !has(self.values)",
        "values is only for Categorical parameters; remove values or set type: Categorical",
        message_expression=(
            "'parameter ' + self.name + ': values is only for Categorical parameters; "
            "remove values or set type: Categorical'"
        ),
        field_path=".values",
        reason="FieldValueForbidden",
    ),
    rule(
        "self.type != 'Categorical' || (has(self.values) && size(self.values) >= 1)",
        "Categorical parameters need values (1 to 30 distinct strings)",
        message_expression=(
            "'parameter ' + self.name + ': a Categorical parameter needs values "
            "(1 to 30 distinct strings)'"
        ),
        reason="FieldValueRequired",
    ),
    rule(
        "self.type != 'Categorical' || (!has(self.min) && !has(self.max))",
        "min and max are not allowed for Categorical parameters; list the choices in values",
        message_expression=(
            "'parameter ' + self.name + ': min and max are not allowed for Categorical "
            "parameters; list the choices in values'"
        ),
        reason="FieldValueForbidden",
    ),
    rule(
        "!has(self.min) || !has(self.max) || self.min < self.max",
        "min must be less than max; swap or widen the range",
        message_expression=(
            "'parameter ' + self.name + ': min must be less than max; swap or widen the range'"
        ),
        field_path=".min",
    ),
    rule(
        "self.type != 'Integer' || !has(self.min) || "
        f"(self.min >= -{INTEGRAL_BOUND} && self.min <= {INTEGRAL_BOUND} "
        "&& double(int(self.min)) == self.min)",
        "min of an Integer parameter must be a whole number between -1e15 and 1e15",
        message_expression=(
            "'parameter ' + self.name + ': min of an Integer parameter must be a whole number "
            "between -1e15 and 1e15'"
        ),
        field_path=".min",
    ),
    rule(
        "self.type != 'Integer' || !has(self.max) || "
        f"(self.max >= -{INTEGRAL_BOUND} && self.max <= {INTEGRAL_BOUND} "
        "&& double(int(self.max)) == self.max)",
        "max of an Integer parameter must be a whole number between -1e15 and 1e15",
        message_expression=(
            "'parameter ' + self.name + ': max of an Integer parameter must be a whole number "
            "between -1e15 and 1e15'"
        ),
        field_path=".max",
    ),
    rule(
        "self.scaling != 'Logarithmic' || (self.type != 'Categorical' && "
        "(!has(self.min) || self.min > 0.0))",
        "Logarithmic scaling needs a Continuous or Integer parameter with min > 0; raise min "
        "or use scaling: Linear",
        message_expression=(
            "'parameter ' + self.name + ': Logarithmic scaling needs a Continuous or "
            "Integer parameter with min > 0; raise min or use scaling: Linear'"
        ),
        field_path=".scaling",
    ),
    rule(
        "self.scaling != 'ReverseLogarithmic' || (self.type == 'Continuous' && "
        "has(self.min) && has(self.max) && self.min >= 0.0 && self.min <= self.max "
        "&& self.max < 1.0)",
        "ReverseLogarithmic scaling needs a Continuous parameter with 0 <= min <= max < 1; fix "
        "the range or use scaling: Linear",
        message_expression=(
            "'parameter ' + self.name + ': ReverseLogarithmic scaling needs a Continuous "
            "parameter with 0 <= min <= max < 1; fix the range or use scaling: Linear'"
        ),
        field_path=".scaling",
    ),
)


class Parameter(KubeModel):
    """A hyperparameter to tune and the range it is searched in."""

    model_config = ConfigDict(json_schema_extra=cel(*_PARAMETER_RULES))

    name: HyperparameterName
    """Hyperparameter name as the trainer receives it (`--name=value`, the
    `KUBETUNE_HYPERPARAMETERS` JSON and `${trialParameters.name}`). Letters, digits, `_`,
    `.` and `-`, starting with a letter or `_`; at most 40 characters; unique within
    `spec.parameters` and not also a key of `spec.staticHyperparameters`."""

    type: ParameterType
    """Continuous (a real number in [min, max]), Integer (a whole number in [min, max]) or
    Categorical (one of `values`)."""

    min: float | None = None
    """Lower bound, inclusive. Required for Continuous and Integer parameters (a whole
    number for Integer); not allowed for Categorical ones."""

    max: float | None = None
    """Upper bound, inclusive; greater than `min`. Required for Continuous and Integer
    parameters (a whole number for Integer); not allowed for Categorical ones."""

    values: (
        Annotated[
            list[CategoricalValue],
            Field(
                min_length=1,
                max_length=MAX_CATEGORICAL_VALUES,
                json_schema_extra=cel(
                    rule(
                        "self.all(v, self.exists_one(w, w == v))",
                        "values must be distinct; remove the duplicates",
                    )
                ),
            ),
        ]
        | None
    ) = None
    """The choices of a Categorical parameter: 1 to 30 distinct strings of at most 64
    characters. Not allowed for Continuous and Integer parameters."""

    scaling: Scaling = Scaling.AUTO
    """How the range is searched: Auto (the optimizer decides; Linear unless told
    otherwise), Linear, Logarithmic (for ranges spanning orders of magnitude; needs
    min > 0) or ReverseLogarithmic (for values close to 1 such as a momentum; Continuous
    only, needs 0 <= min <= max < 1)."""


def format_hyperparameter(parameter: Parameter, value: float | int | str) -> str:
    """The text of a tuned value as status and trainers see it.

    Continuous: Python's shortest exact `repr` of the float (at most
    NUMBER_TEXT_MAX_LENGTH characters, which the status size rule relies on); Integer: a
    whole number without a fraction; Categorical: the value itself.
    """
    if parameter.type is ParameterType.CATEGORICAL:
        return str(value)
    if parameter.type is ParameterType.INTEGER:
        return str(round(float(value)))
    return repr(float(value))


class Limits(KubeModel):
    """Budgets of the tuning job. May be changed on a live TuningJob; the operator applies
    the new values at its next reconciliation."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            rule(
                "!has(self.maxParallelTrials) || !has(self.maxTrials) "
                "|| self.maxParallelTrials <= self.maxTrials",
                "limits.maxParallelTrials must not exceed limits.maxTrials; lower "
                "maxParallelTrials or raise maxTrials",
                field_path=".maxParallelTrials",
            )
        )
    )

    max_trials: int = Field(default=10, ge=1, le=MAX_TRIALS)
    """Total number of trials to run (1 to 1000). The job completes when this many trials
    have finished, unless another criterion ends it first."""

    max_parallel_trials: int = Field(default=1, ge=1, le=MAX_TRIALS)
    """Trials that may run at the same time; at most `maxTrials`. Fewer in parallel gives
    the Bayesian strategy more finished trials to learn from per suggestion."""

    max_runtime_seconds: int | None = Field(default=None, ge=1)
    """Wall-clock budget of the whole tuning job, counted from `status.startTime`. When it
    is exceeded, running trials are stopped and the job ends as Stopped. Unset: no limit."""

    max_failed_trials: int | None = Field(default=None, ge=0, le=MAX_TRIALS)
    """The job fails (phase Failed) once more than this many trials have failed. Unset:
    failed trials never fail the job by themselves; they count towards `maxTrials`."""


class CompletionCriteria(KubeModel):
    """Criteria that end the job before `limits.maxTrials` trials. May be changed on a live
    TuningJob."""

    target_objective: float | None = None
    """Complete the job once a trial's objective reaches this value (at least it when
    maximizing, at most it when minimizing). Unset: no target."""

    max_trials_not_improving: int | None = Field(default=None, ge=1, le=MAX_TRIALS)
    """Complete the job once this many consecutive finished trials have not improved on
    the best objective (failed and early-stopped trials never improve it). Unset: no
    limit."""

    convergence: Convergence = Convergence.OFF
    """Auto: complete the job (reason Converged) when the optimizer judges that further
    trials are unlikely to improve the objective: a regret bound of its Gaussian process
    falls below the objective's noise, as in SageMaker AMT. Bayesian strategy only; tested
    before each launch once at least max(10, 2 × the number of parameters) trials
    succeeded. Running trials finish. Off: never complete for this reason."""


class WarmStart(KubeModel):
    """Earlier tuning jobs whose finished trials seed the optimizer."""

    parents: list[ResourceName] = Field(
        min_length=1,
        max_length=5,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    """Names of 1 to 5 TuningJobs in the same namespace with the same parameters and
    objective. Their finished trials count as observations for the optimizer (not towards
    this job's `maxTrials`)."""


class Retry(KubeModel):
    """Re-running trials whose pod failed for reasons outside the trainer."""

    max_attempts: int = Field(default=1, ge=1, le=30)
    """Total attempts per trial, the first included: 1 (the default) never retries. A
    trial is retried, as a new Job, only when its pod failed for an infrastructure reason
    (evicted, node lost, image pull error), never when the trainer itself failed."""


_TRIAL_TEMPLATE_RULES = (
    rule(
        "!has(self.primaryContainer) || !has(self.job.template) "
        "|| !has(self.job.template.spec) || !has(self.job.template.spec.containers) "
        "|| self.job.template.spec.containers.exists(c, c.name == self.primaryContainer)",
        "primaryContainer must name a container of job.template.spec.containers; use one of "
        "their names or leave primaryContainer unset to use the first",
        message_expression=(
            "'trialTemplate.primaryContainer \"' + self.primaryContainer + '\" is not a "
            "container of trialTemplate.job.template.spec.containers; use one of their "
            "names or leave primaryContainer unset to use the first'"
        ),
        field_path=".primaryContainer",
    ),
)

_JOB_RULES = (
    rule(
        "has(self.template) && has(self.template.spec) "
        "&& has(self.template.spec.containers) && size(self.template.spec.containers) >= 1",
        "trialTemplate.job.template.spec.containers needs at least one container; add the "
        "trainer container",
        reason="FieldValueRequired",
    ),
)


class TrialTemplate(KubeModel):
    """The Job each trial runs."""

    model_config = ConfigDict(json_schema_extra=cel(*_TRIAL_TEMPLATE_RULES))

    primary_container: str | None = Field(default=None, min_length=1, max_length=63)
    """Name of the container that trains and receives the hyperparameters. Unset: the
    first container."""

    job: dict[str, Any] = Field(json_schema_extra=cel(*_JOB_RULES))
    """A batch/v1 JobSpec (`template`, `backoffLimit`, `activeDeadlineSeconds`, ...). Each
    trial becomes a Job with this spec, owned by the TuningJob and labelled with the job
    and trial names. The primary container receives the hyperparameters (tuned and
    static) three ways, never through a shell: appended `--name=value` arguments; the
    environment variable `KUBETUNE_HYPERPARAMETERS`, a JSON object of strings; and
    `${trialParameters.<name>}` substituted in the template's strings (`${trial.name}`
    gives the trial's name, e.g. for a per-trial output path). Only the template's
    `spec.containers` is checked at admission; the rest is checked when the Job is
    created."""

    def containers(self) -> list[dict[str, Any]]:
        """The pod template's containers (empty when the template has none)."""
        template = self.job.get("template") or {}
        spec = template.get("spec") or {} if isinstance(template, dict) else {}
        containers = spec.get("containers") if isinstance(spec, dict) else None
        if not isinstance(containers, list):
            return []
        return [c for c in containers if isinstance(c, dict)]

    def primary_container_name(self) -> str | None:
        """`primaryContainer`, or the first container's name; None when there is none."""
        if self.primary_container is not None:
            return self.primary_container
        containers = self.containers()
        name = containers[0].get("name") if containers else None
        return name if isinstance(name, str) else None


_STATIC_HYPERPARAMETER_RULES = (
    rule(
        f"self.all(k, size(k) <= {HYPERPARAMETER_NAME_MAX_LENGTH} "
        f"&& k.matches('{HYPERPARAMETER_NAME_PATTERN}'))",
        "staticHyperparameters keys must start with a letter or _ and contain only "
        "letters, digits, _, . and - (at most 40 characters); rename the offending keys",
    ),
)


def _status_hyperparameter_bytes_cel() -> str:
    """CEL: an upper bound on the status bytes one trial's hyperparameters take."""
    # Per entry: the JSON `"name":"value",` is len(name) + len(value) + 6 bytes; a number's
    # text is at most NUMBER_TEXT_MAX_LENGTH; a categorical value at most its longest value.
    return (
        "self.parameters.map(p, size(p.name) + 6 + "
        "(p.type == 'Categorical' && has(p.values) && size(p.values) > 0 "
        f"? p.values.map(v, size(v)).max() : {NUMBER_TEXT_MAX_LENGTH})).sum()"
    )


_SPEC_RULES = (
    rule(
        "self.metrics.exists(m, m.name == self.objective.metric)",
        "objective.metric must be the name of one of metrics; add a metric with that name "
        "or fix the spelling",
        message_expression=(
            "'objective.metric \"' + self.objective.metric + '\" is not declared in "
            "metrics; add a metric with that name or fix the spelling'"
        ),
        field_path=".objective.metric",
    ),
    rule(
        "self.strategy != 'Grid' || self.parameters.all(p, p.type != 'Continuous')",
        "strategy Grid needs Categorical or Integer parameters only; use another strategy "
        "or make the Continuous parameters Integer or Categorical",
        field_path=".strategy",
    ),
    rule(
        "!has(self.staticHyperparameters) || "
        "self.parameters.all(p, !(p.name in self.staticHyperparameters))",
        "a parameter name is also a key of staticHyperparameters; a hyperparameter is either "
        "tuned or static, remove it from one of the two",
        field_path=".staticHyperparameters",
    ),
    rule(
        "!has(self.limits) || !has(self.limits.maxTrials) || "
        f"self.limits.maxTrials * {_status_hyperparameter_bytes_cel()} "
        f"<= {STATUS_HYPERPARAMETER_BUDGET_BYTES}",
        "limits.maxTrials is too large for these parameters: every trial's hyperparameters "
        "are kept in the status, which must stay under etcd's object size limit (about "
        f"{STATUS_HYPERPARAMETER_BUDGET_BYTES // 1000} kB for maxTrials x (per parameter: "
        f"name length + {NUMBER_TEXT_MAX_LENGTH}, or its longest value if Categorical, + 6)); "
        "lower maxTrials, or use fewer or shorter-named parameters",
        field_path=".limits.maxTrials",
    ),
)

_NAME_UNIQUE_PARAMETERS = rule(
    "self.all(p, self.exists_one(q, q.name == p.name))",
    "parameter names must be unique; rename or remove the duplicate parameters",
)
_NAME_UNIQUE_METRICS = rule(
    "self.all(m, self.exists_one(n, n.name == m.name))",
    "metric names must be unique; rename or remove the duplicate metrics",
)


class TuningJobSpec(KubeModel):
    """The desired tuning job: what to tune, how to measure it, how to search, and the
    budgets. `strategy`, `objective`, `metrics`, `parameters` and `trialTemplate` are
    immutable; `limits`, `completionCriteria`, `earlyStopping`, `retry` and `suspend` may
    change while the job runs."""

    model_config = ConfigDict(json_schema_extra=cel(*_SPEC_RULES))

    strategy: Strategy = Field(
        default=Strategy.BAYESIAN, json_schema_extra=cel(immutable("strategy"))
    )
    """Search strategy: Bayesian (a Gaussian process with expected improvement; the
    default), Random, Grid (Categorical and Integer parameters only) or Sobol (a
    quasi-random sequence that covers the space evenly). Immutable."""

    objective: Objective = Field(json_schema_extra=cel(immutable("objective")))
    """The metric to optimize and its direction. Immutable."""

    metrics: list[Metric] = Field(
        min_length=1,
        max_length=MAX_METRICS,
        json_schema_extra=cel(_NAME_UNIQUE_METRICS, immutable("metrics")),
    )
    """Metrics read from each trial's logs (1 to 40, unique names); one of them is the
    objective, the others are recorded. Immutable."""

    parameters: list[Parameter] = Field(
        min_length=1,
        max_length=MAX_PARAMETERS,
        json_schema_extra=cel(_NAME_UNIQUE_PARAMETERS, immutable("parameters")),
    )
    """The hyperparameters to tune (1 to 30, unique names). Immutable."""

    static_hyperparameters: dict[str, str] | None = Field(
        default=None,
        max_length=MAX_STATIC_HYPERPARAMETERS,
        json_schema_extra=cel(*_STATIC_HYPERPARAMETER_RULES),
    )
    """Hyperparameters passed to every trial unchanged, as strings (e.g.
    `epochs: "50"`); at most 100, keys named like parameters and distinct from them."""

    limits: Limits = Field(default_factory=Limits, json_schema_extra={"default": {}})
    """Trial and time budgets. May change while the job runs."""

    early_stopping: EarlyStopping = EarlyStopping.OFF
    """Auto: stop a running trial whose best intermediate objective value so far is worse
    than the median of the succeeded trials' running averages at the same step (the
    median stopping rule of SageMaker AMT and Google Vizier). The objective regex's
    matches in a trial's log are its intermediate values, match s being step s (the first
    1,000 count). A trial is judged about every 5 seconds, from its second step on, once
    at least 3 succeeded trials reached that step. A stopped trial ends EarlyStopped with
    its last value as objective: the optimizer learns from it and its slot goes to a new
    trial; it never counts as failed, as the best trial or for `targetObjective`. Off:
    let every trial finish."""

    completion_criteria: CompletionCriteria | None = None
    """Criteria that complete the job before `limits.maxTrials`. May change while the job
    runs."""

    warm_start: WarmStart | None = None
    """Earlier TuningJobs whose trials seed the optimizer."""

    retry: Retry = Field(default_factory=Retry, json_schema_extra={"default": {}})
    """Retries of trials that failed for infrastructure reasons."""

    random_seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    """Seed of the optimizer's random numbers, for reproducible suggestions. Unset: a
    seed derived from the TuningJob's UID."""

    suspend: bool = False
    """True pauses the job: no new trial is launched (running trials finish). Set it back
    to false to resume."""

    trial_template: TrialTemplate = Field(json_schema_extra=cel(immutable("trialTemplate")))
    """The Job each trial runs and the container that trains. Immutable."""

    def objective_metric(self) -> Metric:
        """The metric named by `objective.metric` (admission guarantees there is one)."""
        for metric in self.metrics:
            if metric.name == self.objective.metric:
                return metric
        raise LookupError(
            f"spec.objective.metric {self.objective.metric!r} is not declared in spec.metrics"
        )


# --------------------------------------------------------------------------- status


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; the wire format has second precision."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


Timestamp = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(lambda v: v.strftime("%Y-%m-%dT%H:%M:%SZ"), return_type=str, when_used="json"),
]
"""An RFC 3339 time in UTC with second precision, like metav1.Time."""


def _short_message(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TRIAL_MESSAGE_LENGTH:
        return value[: MAX_TRIAL_MESSAGE_LENGTH - 1] + "…"
    return value


REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
Reason = Annotated[str, StringConstraints(max_length=1024, pattern=REASON_PATTERN)]
TrialReason = Annotated[str, StringConstraints(max_length=64, pattern=REASON_PATTERN)]


class Condition(StatusModel):
    """One observation of the TuningJob's state, as metav1.Condition."""

    type: str = Field(min_length=1, max_length=316)
    """Running, Succeeded, Failed, Suspended or Invalid (see ConditionType in the
    reference)."""

    status: ConditionStatus
    """True, False or Unknown."""

    reason: Reason
    """CamelCase reason for the last transition, e.g. MaxTrialsReached."""

    message: str = Field(default="", max_length=32768)
    """Human-readable details; for Invalid, names the field and the fix."""

    last_transition_time: Timestamp
    """When `status` last changed."""

    observed_generation: int | None = Field(default=None, ge=0)
    """`metadata.generation` of the spec this condition was computed from."""


class TrialCounters(StatusModel):
    """How many trials are in each state."""

    pending: int = Field(default=0, ge=0)
    """Trials recorded whose Job has not started running yet."""

    running: int = Field(default=0, ge=0)
    """Trials whose Job is running."""

    completed: int = Field(default=0, ge=0)
    """Trials that succeeded with an objective value."""

    failed: int = Field(default=0, ge=0)
    """Trials that failed (including those without a parsable objective)."""

    early_stopped: int = Field(default=0, ge=0)
    """Trials stopped early by `spec.earlyStopping`."""

    retried: int = Field(default=0, ge=0)
    """Attempts re-run after an infrastructure failure (see `spec.retry`)."""

    stopped: int = Field(default=0, ge=0)
    """Trials stopped because the job ended (runtime exceeded, job stopped)."""


class BestTrial(StatusModel):
    """The finished trial with the best objective so far."""

    name: str
    """Trial name."""

    hyperparameters: dict[str, str] = Field(default_factory=dict)
    """The trial's tuned hyperparameters, as strings."""

    objective: float
    """The trial's final objective value."""


class TrialStatus(StatusModel):
    """One trial: its hyperparameters, outcome and timing. Kept compact: 1,000 of them
    must fit in the status."""

    name: str = Field(min_length=1, max_length=63)
    """Trial name (also the name of its Job), e.g. `cifar10-resnet34-007`."""

    hyperparameters: dict[str, str] = Field(default_factory=dict)
    """Tuned hyperparameters (not the static ones) as strings: numbers in their shortest
    exact decimal form, Integer values without a fraction."""

    objective: float | None = None
    """Final objective value (the last regex match); for an EarlyStopped trial, its last
    intermediate value. Unset until the trial succeeds or is stopped early."""

    intermediate_count: int = Field(default=0, ge=0)
    """Number of objective values seen in the trial's log (matches of the regex)."""

    phase: TrialPhase = TrialPhase.PENDING
    """Pending, Running, Succeeded, Failed, EarlyStopped or Stopped."""

    reason: TrialReason | None = None
    """CamelCase reason for a non-successful end, e.g. MetricUnavailable, Evicted,
    Error, EarlyStopped."""

    message: Annotated[
        str | None, Field(max_length=MAX_TRIAL_MESSAGE_LENGTH), BeforeValidator(_short_message)
    ] = None
    """Short human detail (at most 128 characters; longer ones are cut)."""

    attempt: int = Field(default=1, ge=1)
    """Attempt number, starting at 1; above 1 after retries."""

    start_time: Timestamp | None = None
    """When the trial's Job started running."""

    end_time: Timestamp | None = None
    """When the trial ended."""


class TuningJobStatus(StatusModel):
    """Observed state of the tuning job, written by the operator through the status
    subresource."""

    observed_generation: int | None = Field(default=None, ge=0)
    """`metadata.generation` of the spec the operator last acted on."""

    phase: Phase = Phase.PENDING
    """Pending (not started), InProgress, Completed (a completion criterion or maxTrials
    was reached), Failed (invalid spec or too many failed trials) or Stopped (runtime
    exceeded or stopped by the user)."""

    reason: str | None = Field(default=None, max_length=1024)
    """CamelCase reason for the phase, e.g. MaxTrialsReached, TargetObjectiveReached,
    Converged."""

    message: str | None = Field(default=None, max_length=32768)
    """Human-readable summary of the job's state."""

    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    """Running, Succeeded, Failed, Suspended and Invalid conditions, each with
    `observedGeneration` so GitOps tools can judge health."""

    start_time: Timestamp | None = None
    """When the operator started the job."""

    completion_time: Timestamp | None = None
    """When the job reached a terminal phase."""

    consumed_seconds: int | None = Field(default=None, ge=0)
    """Sum of the trials' running times, in seconds."""

    counters: TrialCounters = Field(default_factory=TrialCounters)
    """Trials per state."""

    best_trial: BestTrial | None = None
    """The best finished trial so far."""

    best_objective: float | None = None
    """The best objective value so far (same as `bestTrial.objective`; for the printer
    column)."""

    trials_done: str | None = Field(default=None, max_length=32)
    """Finished trials over `spec.limits.maxTrials`, e.g. `12/30` (for the printer
    column)."""

    trials: list[TrialStatus] = Field(default_factory=list, max_length=MAX_TRIALS)
    """Every trial, in launch order."""

    def condition(self, type_: str) -> Condition | None:
        """The condition of the given type, if set."""
        for condition in self.conditions:
            if condition.type == type_:
                return condition
        return None


class TuningJob(KubeModel):
    """A hyperparameter tuning job: trials of a Job template with hyperparameters chosen
    by a search strategy to optimize a metric read from the trials' logs."""

    model_config = ConfigDict(extra="ignore")

    api_version: str = Field(default=API_VERSION)
    """kubetune.io/v1alpha1."""

    kind: str = Field(default=KIND)
    """TuningJob."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    """Standard object metadata."""

    spec: TuningJobSpec
    """The desired tuning job."""

    status: TuningJobStatus | None = None
    """Observed state, written by the operator."""
