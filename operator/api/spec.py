"""The TuningJob's spec: what to tune, how to measure it, how to search, the budgets.

These models are the one source of truth for the resource. `hack/codegen/crd.py` builds
the CustomResourceDefinition from them (field docstrings become the schema descriptions
that `kubectl explain` shows; the rules of `kubetune.operator.api.cel` attached here become
the CEL rules the API server enforces at admission), and `docs/tuningjob-reference.md` is
generated from them too.

Field names are snake_case in Python and camelCase on the wire (`limits.max_trials` is
`spec.limits.maxTrials`). Parse what the API server sends with `TuningJobSpec.from_api`
(or `model_validate`).
"""

from __future__ import annotations

from typing import Annotated, Any

from kubetune.operator.api.base import KubeModel
from kubetune.operator.api.cel import (
    CATEGORICAL_VALUES_DISTINCT,
    HYPERBAND_RULES,
    HYPERBAND_SPEC_RULES,
    JOB_RULES,
    LIMITS_RULES,
    METRIC_NAMES_UNIQUE,
    PARAMETER_NAMES_UNIQUE,
    PARAMETER_RULES,
    SPEC_RULES,
    SPEC_TRANSITION_RULES,
    STATIC_HYPERPARAMETER_RULES,
    STOP_IS_FINAL,
    TRIAL_TEMPLATE_RULES,
    cel,
    immutable,
    immutable_keyed_list,
    immutable_keyed_list_by_effective_values,
)
from kubetune.operator.api.constants import (
    CATEGORICAL_VALUE_MAX_LENGTH,
    DEFAULT_HYPERBAND_MIN_RESOURCE,
    DEFAULT_HYPERBAND_REDUCTION_FACTOR,
    HYPERPARAMETER_NAME_MAX_LENGTH,
    HYPERPARAMETER_NAME_PATTERN,
    MAX_CATEGORICAL_VALUES,
    MAX_HYPERBAND_REDUCTION_FACTOR,
    MAX_HYPERBAND_RESOURCE,
    MAX_METRICS,
    MAX_PARAMETERS,
    MAX_STATIC_HYPERPARAMETERS,
    MAX_TRIALS,
    MIN_HYPERBAND_MAX_RESOURCE,
)
from kubetune.operator.api.enums import (
    Convergence,
    EarlyStopping,
    HyperbandSampler,
    ObjectiveType,
    ParameterType,
    Scaling,
    Strategy,
)
from pydantic import ConfigDict, Field, JsonValue, StringConstraints

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
KEYED_BY_NAME: dict[str, JsonValue] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["name"],
}
"""A list whose items are told apart by their (required, unique) `name`: server-side
apply owns and merges each item's fields, so a server-side apply (Argo CD, Flux, Helm 4)
of a TuningJob applied client-side before does not conflict over the whole list. (A
client-side `kubectl apply` patches a custom resource with a JSON merge patch, which
replaces a list whole whatever its type: the CRD defaults nothing inside the items, so
that the live list stays as the manifest wrote it; `schema._Converter`.)"""
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
    whole number, sign, exponent, nan and inf included, e.g. `validation:
    accuracy=([-+]?(?i:nan|inf)|[-+0-9.eE]+)` (`([0-9.]+)` would read 1.49e-06 as 1.49,
    and miss the nan of a diverged trial). It is applied to every line of the trial's
    primary container log; each match is an intermediate value and the last match is the
    trial's final value (SageMaker semantics)."""


class Parameter(KubeModel):
    """A hyperparameter to tune and the range it is searched in."""

    model_config = ConfigDict(json_schema_extra=cel(*PARAMETER_RULES))

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
                json_schema_extra=cel(CATEGORICAL_VALUES_DISTINCT),
            ),
        ]
        | None
    ) = None
    """The choices of a Categorical parameter: 1 to 30 distinct strings of at most 64
    characters, passed to the trainer as written. Quote numbers and the words YAML reads
    as booleans (`values: ["0.01", "0.1"]`, `["yes", "no"]`): the API server refuses a
    bare one as not a string. Not allowed for Continuous and Integer parameters."""

    scaling: Scaling = Scaling.AUTO
    """How the range is searched (unset: Auto): Auto, Linear, Logarithmic (for ranges
    spanning orders of magnitude; needs min > 0) or ReverseLogarithmic (for values close
    to 1 such as a momentum; Continuous only, needs 0 <= min < max < 1). Auto is
    Logarithmic when min > 0 and max/min >= 100 (two decades, as in SageMaker AMT), Linear
    otherwise; with the Bayesian strategy, a range with min > 0 and max/min >= 10 may then
    switch between Linear and Logarithmic, from 10 finished trials on, where the Gaussian
    process fits the results clearly better the other way. Categorical: no effect."""


class Limits(KubeModel):
    """Budgets of the tuning job. May be changed on a live TuningJob; the operator applies
    the new values at its next reconciliation."""

    model_config = ConfigDict(json_schema_extra=cel(*LIMITS_RULES))

    max_trials: int = Field(default=10, ge=1, le=MAX_TRIALS)
    """Total number of trials to run (1 to 1000: every trial is kept in the status, which
    etcd limits in size; wide spaces lower that bound, see the rule on `spec`; to tune
    further, warm-start a second TuningJob from this one). The job completes when this
    many trials have finished, unless another criterion ends it first. May change while
    the job runs (lowered below the trials launched: none is launched, the running ones
    finish); an ended job stays ended."""

    max_parallel_trials: int = Field(default=1, ge=1, le=MAX_TRIALS)
    """Trials that may run at the same time; at most `maxTrials`. Fewer in parallel gives
    the Bayesian strategy more finished trials to learn from per suggestion."""

    max_runtime_seconds: int | None = Field(default=None, ge=1, json_schema_extra={"example": 1800})
    """Wall-clock budget of the whole tuning job, counted from `status.startTime` (a job
    created suspended starts when resumed; time suspended after that counts). When it is
    exceeded, running trials are stopped and the job ends as Stopped. Unset: no limit."""

    max_failed_trials: int | None = Field(default=None, ge=0, le=MAX_TRIALS)
    """The job fails (phase Failed) once more than this many trials have failed. Unset:
    failed trials fail the job only if no trial succeeded by its end (reason
    NoTrialSucceeded, as a metric regex that never matches would); they count towards
    `maxTrials`."""


class CompletionCriteria(KubeModel):
    """Criteria that end the job before `limits.maxTrials` trials. May be changed on a live
    TuningJob. Once one is met no trial is launched, and the job completes when its running
    trials end: they are not stopped (`spec.stop` stops them)."""

    target_objective: float | None = None
    """Complete the job once a trial's objective reaches this value (at least it when
    maximizing, at most it when minimizing). Trials still running then are left to finish
    (the message names the trial that reached the target, and the best if one of them did
    better). Unset: no target."""

    max_trials_not_improving: int | None = Field(default=None, ge=1, le=MAX_TRIALS)
    """Complete the job once this many consecutive finished trials have not improved on
    the best objective (failed and early-stopped trials never improve it; any improvement
    counts, however small, where SageMaker AMT counts one of 1 % or less as none). Once
    met, the decision stands: trials still running then are left to finish, and one of
    them that improves the best launches nothing more (only removing this field does).
    Unset: no limit."""

    convergence: Convergence = Convergence.OFF
    """Auto: complete the job (reason Converged) when the optimizer judges that further
    trials are unlikely to improve the objective: a regret bound of its Gaussian process
    falls below the objective's noise, as in SageMaker AMT. Bayesian strategy only; tested
    before each launch once at least max(10, 2 × the number of parameters) trials
    succeeded. Running trials finish. Off: never complete for this reason."""


class WarmStart(KubeModel):
    """Earlier tuning jobs whose trials with a value seed the optimizer."""

    parents: list[ResourceName] = Field(
        min_length=1,
        max_length=5,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    """Names of 1 to 5 TuningJobs in the same namespace with the same parameters and
    objective. Their trials that produced a value count as observations for the optimizer
    (succeeded: the objective; early-stopped: the last value read), and in a space of
    Integer and Categorical parameters as configurations tried, not towards this job's
    `maxTrials`; their failed trials are not carried (this job may run a fixed trainer).
    Of a Hyperband parent, a trial stopped at a rung (its value after a few epochs, no
    final objective) is carried only into a Hyperband job with the same rungs and
    `maxResource`, at that rung, as if stopped there: such a job's sampler takes each
    parent trial at the levels it reached (its rung values, then the objective of one
    trained to the end). Any other job takes only a Hyperband parent's trials trained to
    the end, with their objective; it may run the others' configurations again. The rung
    decisions compare this job's own trials only.
    Not transitive: a parent's own parents are not seen. A parent that does not exist
    when the job starts, or that names the job itself, fails it (InvalidSpec); one
    deleted later is let go of."""


class Retry(KubeModel):
    """Re-running trials whose pod failed for reasons outside the trainer."""

    max_attempts: int = Field(default=1, ge=1, le=30)
    """Total attempts per trial, the first included: 1 (the default) never retries. A
    trial is retried, as a new Job, only when its pod failed for an infrastructure reason
    (evicted, node lost, image pull error), never when the trainer itself failed."""


class Hyperband(KubeModel):
    """Settings of `strategy: Hyperband` (asynchronous successive halving, one bracket):
    every trial is started with `maxResource` epochs and judged at each rung
    `minResource`·η^k < `maxResource` (η = `reductionFactor`); it continues only if its
    value there is in the top 1/η of the values recorded at that rung so far (rounded
    down, but the best always continues), else it ends EarlyStopped. Those values are
    the ones of the trials with its values of the Categorical parameters once 2η of
    them are recorded at the rung (models learn at their own pace: a small CNN can
    start slower than an MLP and end better), before that every value there. The trainer
    must print the objective once per epoch: match s of the objective regex is the value
    after s epochs."""

    model_config = ConfigDict(json_schema_extra=cel(*HYPERBAND_RULES))

    min_resource: int = Field(
        default=DEFAULT_HYPERBAND_MIN_RESOURCE, ge=1, le=MAX_HYPERBAND_RESOURCE
    )
    """Epochs at the first rung (default 1); less than `maxResource`. Choose the first
    epoch at which the curves already rank configurations roughly as they end: one
    judged earlier can be stopped for starting slowly. On `make bench-hyperband`'s
    digits200 task, whose best configurations are near chance after one epoch, the Sobol
    sampler reached random search's level within a third of its epochs in 3 of 20 runs
    with minResource 1, in 15 with 3."""

    max_resource: int | None = Field(
        default=None, ge=MIN_HYPERBAND_MAX_RESOURCE, le=MAX_HYPERBAND_RESOURCE
    )
    """Epochs of a full trial (2 to 20000). Unset: read from the first of the
    staticHyperparameters `epochs`, `num_epochs`, `n_epochs`, `numepochs`, `n-epochs`.
    That key's value, the trainer's epochs, must be such a number written in digits
    (`"27"`), and equal to maxResource when both are set. Every trial is started with
    this budget and stopped at a rung if it does badly; at most 8 rungs (minResource ×
    reductionFactor^8 >= maxResource)."""

    reduction_factor: int = Field(
        default=DEFAULT_HYPERBAND_REDUCTION_FACTOR, ge=2, le=MAX_HYPERBAND_REDUCTION_FACTOR
    )
    """η: a trial continues past a rung only if its value ranks in the top max(1, ⌊n/η⌋)
    of the n values recorded there so far, its own included (of the trials with its
    Categorical values once there are 2η of them): 1/η of them rounded down, and the best
    always (with η 3: only the best of 5, the top 2 of 6). Default 3."""

    sampler: HyperbandSampler = HyperbandSampler.SOBOL_BAYESIAN
    """How new configurations are proposed: SobolBayesian (the default; it won
    `make bench-hyperband`: trial k takes the better, by expected improvement under a
    Gaussian process fitted to the trials' ranks by the rung they reached and their value
    there, of the points 2k and 2k + 1 of a scrambled Sobol sequence), Sobol (point k of
    that sequence, which covers the space more evenly than independent draws), Random
    (uniform draws) or Bayesian (the point of highest expected improvement under that
    Gaussian process, anywhere in the space)."""


class TrialTemplate(KubeModel):
    """The Job each trial runs."""

    model_config = ConfigDict(json_schema_extra=cel(*TRIAL_TEMPLATE_RULES))

    primary_container: str | None = Field(default=None, min_length=1, max_length=63)
    """Name of the container that trains and receives the hyperparameters. Unset: the
    first container."""

    job: dict[str, Any] = Field(json_schema_extra=cel(*JOB_RULES))
    """A batch/v1 JobSpec (`template`, `backoffLimit`, `activeDeadlineSeconds`, ...). Each
    trial becomes a Job with this spec, owned by the TuningJob and labelled with the job
    and trial names. The primary container receives the hyperparameters (tuned and
    static) three ways, never through a shell: appended `--name=value` arguments; the
    environment variable `KUBETUNE_HYPERPARAMETERS`, a JSON object of strings; and
    `${trialParameters.<name>}` substituted in the template's strings (`${trial.name}`
    gives the trial's name, e.g. for a per-trial output path; any other `${trial...}`
    fails the job, InvalidSpec, as a misspelled placeholder). A trial is one pod run by
    Kubernetes' Job controller: `completions` and `parallelism` must be unset or 1 (run
    trials in parallel with `limits.maxParallelTrials`), `suspend` not true (`spec.suspend`
    pauses the TuningJob) and `managedBy` unset or kubernetes.io/job-controller; those and
    the template's `spec.containers` are checked at admission, the rest when the Job is
    created (`completionMode`, `podFailurePolicy`, `backoffLimit` ... apply to each trial's
    Job as written; a field a Job does not have, such as a misspelt `comand`, fails the
    job, InvalidSpec, naming it). Where a container leaves them unset, the operator sets
    `allowPrivilegeEscalation: false` (not beside `privileged` or CAP_SYS_ADMIN) and
    drops every capability."""

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


def _parameters_immutable() -> dict[str, str]:
    """`spec.parameters` is immutable by its items' effective values: the CRD does not
    default `scaling` (`schema._Converter` says why), and jobs created while it did hold
    `scaling: Auto` where their manifests have none."""
    fields = {info.alias or name: info for name, info in Parameter.model_fields.items()}
    required = [f for f, info in fields.items() if info.is_required()]
    defaults = {
        f: str(getattr(info.default, "value", info.default))
        for f, info in fields.items()
        if not info.is_required() and info.default is not None
    }
    optional = [f for f in fields if f not in required and f not in defaults]
    return immutable_keyed_list_by_effective_values("parameters", required, optional, defaults)


class TuningJobSpec(KubeModel):
    """The desired tuning job: what to tune, how to measure it, how to search, and the
    budgets. `strategy`, `objective`, `metrics`, `parameters`, `staticHyperparameters`,
    `hyperband`, `randomSeed`, `warmStart` and `trialTemplate` are immutable (trials run
    under other values could not be compared); `limits`, `completionCriteria`, `earlyStopping`,
    `retry` and `suspend` may change while the job runs; `stop` may only be set to true."""

    model_config = ConfigDict(
        json_schema_extra=cel(*SPEC_RULES, *SPEC_TRANSITION_RULES, *HYPERBAND_SPEC_RULES)
    )

    strategy: Strategy = Field(
        default=Strategy.BAYESIAN, json_schema_extra=cel(immutable("strategy"))
    )
    """Search strategy: Bayesian (a Gaussian process with expected improvement; the
    default), Random, Grid (Categorical and Integer parameters only) or Sobol (a
    quasi-random sequence that covers the space evenly) or Hyperband (successive halving
    of trials at rungs of epochs, see `hyperband`). Immutable."""

    objective: Objective = Field(json_schema_extra=cel(immutable("objective")))
    """The metric to optimize and its direction. Immutable."""

    metrics: list[Metric] = Field(
        min_length=1,
        max_length=MAX_METRICS,
        json_schema_extra={
            **cel(METRIC_NAMES_UNIQUE, immutable_keyed_list("metrics")),
            **KEYED_BY_NAME,
        },
    )
    """Metrics read from each trial's logs (1 to 40, unique names); one of them is the
    objective, the others' final values are recorded in `status.trials[].metrics`. Their
    names count in the status-size rule (see `limits.maxTrials`): many or long-named
    metrics lower the largest `maxTrials` admitted. Immutable."""

    parameters: list[Parameter] = Field(
        min_length=1,
        max_length=MAX_PARAMETERS,
        json_schema_extra={
            **cel(PARAMETER_NAMES_UNIQUE, _parameters_immutable()),
            **KEYED_BY_NAME,
        },
    )
    """The hyperparameters to tune (1 to 30, unique names). Immutable."""

    static_hyperparameters: dict[str, str] | None = Field(
        default=None,
        max_length=MAX_STATIC_HYPERPARAMETERS,
        json_schema_extra=cel(*STATIC_HYPERPARAMETER_RULES),
    )
    """Hyperparameters passed to every trial unchanged, as strings (e.g.
    `epochs: "50"`); at most 100, keys named like parameters and distinct from them.
    Immutable: trials trained with other values (e.g. other `epochs`) could not be
    compared; create a new TuningJob, warm-started from this one, instead."""

    limits: Limits = Field(default_factory=Limits, json_schema_extra={"default": {}})
    """Trial and time budgets. May change while the job runs."""

    early_stopping: EarlyStopping = EarlyStopping.OFF
    """Auto: stop a running trial whose best intermediate objective value so far is worse
    than the median of the succeeded trials' running averages at the same step (Google
    Vizier's median stopping rule; SageMaker AMT's compares the trial's latest value, not
    its best, so it stops trials that had a bad last step too). The objective regex's
    matches in a trial's log are its intermediate values, match s being step s (the first
    1,000 count). A trial is judged about every 5 seconds, from its second step on, once
    at least 3 succeeded trials reached that step. A stopped trial ends EarlyStopped with
    its last value as objective: the optimizer learns from it and its slot goes to a new
    trial; it never counts as failed, as the best trial or for `targetObjective`. A
    running trial whose objective turns nan or infinite ends at once as Failed
    (ObjectiveNotFinite: a diverged model does not recover), here and with Hyperband.
    Off: let every trial finish."""

    hyperband: Hyperband | None = None
    """Settings of `strategy: Hyperband` (only with it); unset: the defaults. Immutable:
    the values recorded at the rungs are only comparable under the rungs they were
    judged at (writing out the defaults, or removing a block of defaults, is no change).
    The trainer must print the objective once per epoch: a trial that prints more values
    than `maxResource` fails the job (TooManyObjectiveValues: the regex matches more than
    one line per epoch, or maxResource is not the trainer's epochs); one that succeeds
    with fewer gets a Warning Event (TooFewObjectiveValues)."""

    completion_criteria: CompletionCriteria | None = None
    """Criteria that complete the job before `limits.maxTrials`. May change while the job
    runs."""

    warm_start: WarmStart | None = None
    """Earlier TuningJobs whose trials seed the optimizer. Immutable."""

    retry: Retry = Field(default_factory=Retry, json_schema_extra={"default": {}})
    """Retries of trials that failed for infrastructure reasons."""

    random_seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    """Seed of the optimizer's random numbers, for reproducible suggestions. Unset: a
    seed derived from the TuningJob's UID. Immutable."""

    suspend: bool = False
    """True pauses the job: no new trial is launched (running trials finish). Set it back
    to false to resume."""

    stop: bool = Field(default=False, json_schema_extra=cel(STOP_IS_FINAL))
    """True stops the job for good (SageMaker's StopHyperParameterTuningJob; `kubetune
    stop`): the running trials are stopped (their Jobs deleted; phase Stopped), nothing
    more is launched, and the job ends Stopped with reason StoppedByUser. Everything
    recorded stays; a job that already ended keeps its phase. Cannot be set back to
    false."""

    trial_template: TrialTemplate = Field(json_schema_extra=cel(immutable("trialTemplate")))
    """The Job each trial runs and the container that trains. Immutable."""

    @property
    def judges_running_trials(self) -> bool:
        """Whether running trials are judged on the values they print (the median rule,
        Hyperband's rungs): their logs are then read while they train."""
        return self.early_stopping is EarlyStopping.AUTO or self.strategy is Strategy.HYPERBAND

    def objective_metric(self) -> Metric:
        """The metric named by `objective.metric` (admission guarantees there is one)."""
        for metric in self.metrics:
            if metric.name == self.objective.metric:
                return metric
        raise LookupError(
            f"spec.objective.metric {self.objective.metric!r} is not declared in spec.metrics"
        )
