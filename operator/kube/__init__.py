"""The Kubernetes adapter: the `KubeClient` seam and its implementations (the API server,
the watches' cache), what the cluster shows about trial Jobs (`observe`), their logs
(`metric_logs`, `trial_logs`, `curves`), the trial Job manifest, the spec checks CEL
cannot make, and `reconcile`, which reads, plans (with the controller) and acts."""

from kubetune.operator.kube.api_client import Kube, api_error_message, load_credentials
from kubetune.operator.kube.cache import CachedKube
from kubetune.operator.kube.client import ConflictError, JobRejectedError, KubeClient
from kubetune.operator.kube.expectations import Expectations
from kubetune.operator.kube.reconcile import ActingFailedError, Result, reconcile
from kubetune.operator.kube.telemetry import NO_TELEMETRY, Telemetry
from kubetune.operator.kube.trial_logs import LogFollowing

__all__ = [
    "NO_TELEMETRY",
    "ActingFailedError",
    "CachedKube",
    "ConflictError",
    "Expectations",
    "JobRejectedError",
    "Kube",
    "KubeClient",
    "LogFollowing",
    "Result",
    "Telemetry",
    "api_error_message",
    "load_credentials",
    "reconcile",
]
