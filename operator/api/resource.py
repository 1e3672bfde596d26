"""The whole TuningJob object: metadata, spec and status."""

from __future__ import annotations

from typing import Any

from kubetune.operator.api.base import KubeModel
from kubetune.operator.api.constants import API_VERSION, KIND
from kubetune.operator.api.spec import TuningJobSpec
from kubetune.operator.api.status import TuningJobStatus
from pydantic import ConfigDict, Field


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
