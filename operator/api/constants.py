"""Names, limits and reasons of the TuningJob API (kubetune.io/v1alpha1): plain values
shared by the models, the CEL rules, the controller and the adapter."""

from __future__ import annotations

GROUP = "kubetune.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "TuningJob"
PLURAL = "tuningjobs"
SINGULAR = "tuningjob"
SHORT_NAMES = ("tj",)
FINALIZER = "kubetune.io/finalizer"
"""The operator's finalizer on every TuningJob it serves: its cleanup runs before the
TuningJob goes."""
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

STATUS_TRIAL_VALUES_BUDGET_BYTES = 700_000
"""Upper bound on the bytes all trials' hyperparameters and recorded metrics
(`status.trials[].hyperparameters` and `.metrics`) may take in the status at
`limits.maxTrials`. With ~400 bytes of other fields per trial this keeps a TuningJob at
1,000 trials well under etcd's 1.5 MiB object limit (see the CEL rule on `spec`)."""

MAX_HYPERBAND_RUNGS = 8
"""Most rungs a Hyperband job may have (minResource·η^8 >= maxResource): each trial keeps
its value at every rung it reached in the status, and 1,000 trials must fit."""
MAX_HYPERBAND_REDUCTION_FACTOR = 100
MAX_HYPERBAND_RESOURCE = 20000
"""Most epochs of a Hyperband trial (maxResource, given or read from staticHyperparameters),
and so of minResource too; kubetune.optimizer.hyperband.MAX_RESOURCE_LIMIT."""
MIN_HYPERBAND_MAX_RESOURCE = 2
"""Fewest epochs of a Hyperband trial: one rung (minResource 1) below the full budget."""
DEFAULT_HYPERBAND_MIN_RESOURCE = 1
DEFAULT_HYPERBAND_REDUCTION_FACTOR = 3
HYPERBAND_TRIAL_STATUS_BYTES = 300
"""Status bytes a Hyperband trial's rung values, their seqs and its epochs may take
(8 x (a number's 24 characters + a seq's 5 + 2 separators) + the keys); the size rule on
`spec` reserves them per trial."""

INTEGRAL_BOUND = 1e15
"""Integer parameter bounds must lie within ±1e15 (exactly representable as doubles)."""

# Reasons of the TuningJob's terminal phase (also the condition reasons).
MAX_TRIALS_REACHED = "MaxTrialsReached"
TARGET_OBJECTIVE_REACHED = "TargetObjectiveReached"
MAX_TRIALS_NOT_IMPROVING = "MaxTrialsNotImproving"
SEARCH_SPACE_EXHAUSTED = "SearchSpaceExhausted"
MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
STOPPED_BY_USER = "StoppedByUser"
MAX_FAILED_TRIALS_EXCEEDED = "MaxFailedTrialsExceeded"
NO_TRIAL_SUCCEEDED = "NoTrialSucceeded"
"""A job that ended with no succeeded trial: Failed, not Completed, as nothing was found."""
INVALID_SPEC = "InvalidSpec"
SUGGESTION_FAILED = "SuggestionFailed"
CONVERGED = "Converged"
EARLY_STOPPED = "EarlyStopped"
"""The reason of an early-stopped trial (and, as TrialEarlyStopped, of its Event)."""
HYPERBAND_RUNG_STOPPED = "StoppedAtRung"
"""With the rung's index (StoppedAtRung0): the reason of a trial Hyperband stopped."""
FINISHING = "Finishing"
"""The Running condition's reason once the job launches no more and waits for its
launched trials to end (a completion criterion is met)."""
OBJECTIVE_NOT_FINITE = "ObjectiveNotFinite"
"""The reason of a trial that failed because its objective was nan or infinite: at its
end, or while it ran where running trials are judged (it diverged)."""
