"""Prometheus metrics of the operator, served on `--metrics-port` (default 9090).

Per-TuningJob series carry `namespace` and `tuning_job` labels and are removed when the
TuningJob is gone, so the series count does not grow with finished history.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from kubetune.operator.api import COUNTER_OF_PHASE, Phase, TuningJobStatus
from kubetune.operator.kube.log_follower import MAX_FOLLOWED_LOGS, followed_logs
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

REGISTRY = CollectorRegistry(auto_describe=True)
# The client library's standard process_* and python_* series (CPU, memory, open files,
# garbage collection), as on its default registry.
for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(collector)

TUNING_JOB_PHASE = Gauge(
    "kubetune_tuning_job_phase",
    '1 for a TuningJob\'s phase, 0 for the other phases (alert on phase="Failed").',
    ["namespace", "tuning_job", "phase"],
    registry=REGISTRY,
)
TRIALS = Gauge(
    "kubetune_trials",
    "Trials of a TuningJob by phase.",
    ["namespace", "tuning_job", "phase"],
    registry=REGISTRY,
)
RUNNING_TRIALS = Gauge(
    "kubetune_running_trials",
    "Trials of a TuningJob whose Job is pending or running.",
    ["namespace", "tuning_job"],
    registry=REGISTRY,
)
BEST_OBJECTIVE = Gauge(
    "kubetune_best_objective",
    "Best objective value of a TuningJob so far.",
    ["namespace", "tuning_job"],
    registry=REGISTRY,
)
SUGGESTION_SECONDS = Histogram(
    "kubetune_suggestion_duration_seconds",
    "Time of one call to the optimizer (all the trials suggested in one reconcile).",
    ["strategy"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "kubetune_reconcile_duration_seconds",
    "Time of one reconcile of a TuningJob (reading, planning, writing, acting).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 120),
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "kubetune_reconcile_errors",
    "Reconciles that ended in an error (they are retried), by kind of error.",
    ["error"],
    registry=REGISTRY,
)
API_SECONDS = Histogram(
    "kubetune_api_request_duration_seconds",
    "Time of the operator's own API requests, by call (log reads include the scan).",
    ["call"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
    registry=REGISTRY,
)
CACHE_HITS = Counter(
    "kubetune_cache_hits",
    "Calls of a reconcile answered without the API server: reads of its TuningJob, trial "
    "Jobs and pods from the watches' cache, creations of a Job created moments ago (they "
    "count in kubetune_api_request_duration_seconds too).",
    ["call"],
    registry=REGISTRY,
)
EVENTS_DROPPED = Counter(
    "kubetune_events_dropped",
    "Kubernetes Events not posted because too many were waiting (a slow API server).",
    registry=REGISTRY,
)
FOLLOWED_LOGS = Gauge(
    "kubetune_followed_logs",
    "Running trials' logs the operator follows as streams now (at most "
    f"{MAX_FOLLOWED_LOGS}; beyond that they are read again every few seconds).",
    registry=REGISTRY,
)
FOLLOWED_LOGS.set_function(followed_logs)
STATUS_CONFLICTS = Counter(
    "kubetune_status_conflicts",
    "Status writes refused because the TuningJob changed since it was read.",
    registry=REGISTRY,
)


class PrometheusTelemetry:
    """The adapter's `Telemetry` as the metrics above."""

    @contextlib.contextmanager
    def api_call(self, call: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            API_SECONDS.labels(call).observe(time.perf_counter() - started)

    def cache_hit(self, call: str) -> None:
        CACHE_HITS.labels(call).inc()

    def suggestion(self, strategy: str, seconds: float) -> None:
        SUGGESTION_SECONDS.labels(strategy).observe(seconds)

    def tuning_job(self, namespace: str, name: str, status: TuningJobStatus) -> None:
        """Export one TuningJob's phase, counters and best objective."""
        for job_phase in Phase:
            TUNING_JOB_PHASE.labels(namespace, name, job_phase.value).set(status.phase is job_phase)
        counters = status.counters
        for phase, counter in COUNTER_OF_PHASE.items():
            TRIALS.labels(namespace, name, phase.value).set(getattr(counters, counter))
        RUNNING_TRIALS.labels(namespace, name).set(counters.pending + counters.running)
        if status.best_objective is not None:
            BEST_OBJECTIVE.labels(namespace, name).set(status.best_objective)

    def forget(self, namespace: str, name: str) -> None:
        """Drop the series of a TuningJob that is gone."""
        for job_phase in Phase:
            with contextlib.suppress(KeyError):
                TUNING_JOB_PHASE.remove(namespace, name, job_phase.value)
        for trial_phase in COUNTER_OF_PHASE:
            with contextlib.suppress(KeyError):
                TRIALS.remove(namespace, name, trial_phase.value)
        for gauge in (RUNNING_TRIALS, BEST_OBJECTIVE):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name)


TELEMETRY = PrometheusTelemetry()


def serve(port: int) -> None:
    """Serve /metrics on all interfaces (a daemon thread)."""
    start_http_server(port, registry=REGISTRY)
