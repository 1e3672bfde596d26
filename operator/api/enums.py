"""Enumerations of the TuningJob API, and the sets of terminal phases."""

from __future__ import annotations

from enum import StrEnum


class Strategy(StrEnum):
    """How the next trials' hyperparameters are chosen."""

    BAYESIAN = "Bayesian"
    RANDOM = "Random"
    GRID = "Grid"
    SOBOL = "Sobol"
    HYPERBAND = "Hyperband"


class HyperbandSampler(StrEnum):
    """How Hyperband proposes new configurations."""

    SOBOL_BAYESIAN = "SobolBayesian"
    SOBOL = "Sobol"
    RANDOM = "Random"
    BAYESIAN = "Bayesian"


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
    field); the job is then Failed. JobsLeft: trial Jobs the operator is to delete (of
    trials that ended, or of a job that ended) could not be deleted yet: the API server
    refuses it (reason Forbidden; the message names them and what to grant); it retries,
    and the condition goes once they are gone.

    Reconciling and Stalled are kstatus' conditions (sigs.k8s.io/cli-utils kstatus, read
    by Flux's health checks and Helm 4's `--wait` on kinds they do not know), from the
    phase on every look: Reconciling is True while the job goes on (reason and message
    the job's own, e.g. TrialsRunning), so the job is "InProgress" until it ends; False
    once it ended (the reason the job's), and False, reason Suspended, while
    `spec.suspend` holds it (it does nothing until resumed, so waiting for it would only
    time out; kstatus then calls it "Current"). Stalled is True, with the job's reason
    and message, once the job Failed (kstatus: "Failed"), and absent otherwise.
    """

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"
    INVALID = "Invalid"
    JOBS_LEFT = "JobsLeft"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"


class ConditionStatus(StrEnum):
    """Status of a condition, as in metav1.Condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


TERMINAL_PHASES = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.STOPPED})
TERMINAL_TRIAL_PHASES = frozenset(
    {TrialPhase.SUCCEEDED, TrialPhase.FAILED, TrialPhase.EARLY_STOPPED, TrialPhase.STOPPED}
)
