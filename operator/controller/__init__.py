"""The pure controller: from a snapshot of a TuningJob and the time, the plan of what to
write and do. No Kubernetes, no clock, no I/O: `plan()` and its steps are plain functions
of values (see `plan.py`)."""

from kubetune.operator.controller.optimizer_input import (
    warm_start_observations,
    warm_start_trials,
)
from kubetune.operator.controller.plan import plan
from kubetune.operator.controller.types import (
    LOG_FORBIDDEN,
    LOG_UNAVAILABLE,
    POD_NOT_CREATED,
    POD_REFUSED,
    RETRYING_AFTER,
    WAITING_FOR_A_NODE,
    WAITING_FOR_ITS_IMAGE,
    WAITING_FOR_ITS_POD,
    WAITING_FOR_ITS_VOLUME,
    Event,
    JobObservation,
    JobState,
    ObjectiveOutcome,
    Observation,
    Optimizer,
    Plan,
    Snapshot,
    TrialLaunch,
    WarmTrial,
)

__all__ = [
    "LOG_FORBIDDEN",
    "LOG_UNAVAILABLE",
    "POD_NOT_CREATED",
    "POD_REFUSED",
    "RETRYING_AFTER",
    "WAITING_FOR_A_NODE",
    "WAITING_FOR_ITS_IMAGE",
    "WAITING_FOR_ITS_POD",
    "WAITING_FOR_ITS_VOLUME",
    "Event",
    "JobObservation",
    "JobState",
    "ObjectiveOutcome",
    "Observation",
    "Optimizer",
    "Plan",
    "Snapshot",
    "TrialLaunch",
    "WarmTrial",
    "plan",
    "warm_start_observations",
    "warm_start_trials",
]
