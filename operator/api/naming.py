"""Names of trials, of their Jobs and the labels on them: deterministic, so an operator
that restarts between recording a trial and creating its Job creates the same Job, and the
API server's AlreadyExists makes the second attempt a no-op."""

from __future__ import annotations

import hashlib

TUNING_JOB_LABEL = "kubetune.io/tuning-job"
"""Label on every trial Job and pod: the owning TuningJob's name (see `label_value`)."""
TRIAL_LABEL = "kubetune.io/trial"
"""Label on every trial Job and pod: the trial's name."""
ATTEMPT_ANNOTATION = "kubetune.io/attempt"
"""Annotation on a trial Job: which attempt of the trial it runs (1, then retries)."""

MAX_NAME_LENGTH = 63
"""Job names end up as label values (`batch.kubernetes.io/job-name`): at most 63."""
MAX_TRIAL_NAME_LENGTH = 58
"""Room for an attempt suffix (`-a30`) after the trial name within 63 characters."""
_HASH_LENGTH = 8


def _shorten(text: str, limit: int) -> str:
    """`text` if it fits `limit`, else a prefix plus a hash of the whole (still unique)."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]
    prefix = text[: limit - _HASH_LENGTH - 1].rstrip("-.")
    return f"{prefix}-{digest}"


def label_value(name: str) -> str:
    """A TuningJob name as a label value (label values are at most 63 characters)."""
    return _shorten(name, MAX_NAME_LENGTH)


def trial_name(tuning_job_name: str, index: int) -> str:
    """The name of the TuningJob's `index`-th trial (1-based), e.g. `cifar10-007`.

    Deterministic, at most 58 characters, a valid DNS label when the TuningJob's name is.
    """
    suffix = f"-{index:03d}"
    return _shorten(tuning_job_name, MAX_TRIAL_NAME_LENGTH - len(suffix)) + suffix


def trial_job_name(trial: str, attempt: int = 1) -> str:
    """The Job name of a trial's attempt: the trial name, then `-a2`, `-a3`... for retries."""
    return trial if attempt == 1 else f"{trial}-a{attempt}"
