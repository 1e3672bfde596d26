"""Reading a trial's metrics from its log: the final objective of a succeeded trial, and
the curve of a running one."""

from __future__ import annotations

import logging
from array import array
from dataclasses import dataclass, replace

import urllib3
from kubernetes.client.exceptions import ApiException
from kubetune.operator.api import TuningJobSpec
from kubetune.operator.controller import JobObservation, ObjectiveOutcome
from kubetune.operator.kube.client import KubeClient
from kubetune.operator.kube.metric_logs import (
    TAIL_BYTES,
    compile_metric_regex,
    compile_metrics,
    objective_outcome,
    scan_log,
    scan_series,
)
from kubetune.operator.kube.observe import LogSource
from kubetune.operator.kube.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("kubetune.operator")

CURVE_SCAN_BYTES = 16 * 1024 * 1024
"""At most this much of the start of a log is read for a curve (a running trial's log is
read again every few seconds); later values of a longer log are not judged."""
TAIL_LINES = 10_000
"""Lines of the tail read for the final values of a log longer than the scan limit."""
CURVE_READ_SECONDS = 2.5
"""A running trial's log is read at most this often for early stopping and Hyperband;
reconciles in between judge it on the values read last. Half of the controller's
EARLY_STOPPING_CHECK_SECONDS, so that each periodic check sees fresh values. A local run
reads its log files at every reconcile (`reconcile(curve_read_seconds=0)`)."""


@dataclass(frozen=True)
class TrialLogs:
    """The logs of one TuningJob's trials: where they are and what to look for."""

    kube: KubeClient
    namespace: str
    spec: TuningJobSpec
    telemetry: Telemetry = NO_TELEMETRY
    curve_read_seconds: float = CURVE_READ_SECONDS

    def outcome(self, source: LogSource) -> tuple[ObjectiveOutcome, array[float]]:
        """The objective of a succeeded trial and its curve (the objective's values in
        order), read from its log with bounded memory."""
        spec, kube = self.spec, self.kube
        patterns = compile_metrics([(m.name, m.regex) for m in spec.metrics])
        reading = scan_log(
            kube.stream_log(self.namespace, source.pod, source.container),
            patterns,
            series_metric=spec.objective.metric,
        )
        if reading.truncated:
            # Only the head was scanned: the final values are in the tail.
            tail = kube.stream_log(
                self.namespace,
                source.pod,
                source.container,
                tail_lines=TAIL_LINES,
                limit_bytes=TAIL_BYTES,
            )
            reading.merge_tail(scan_log(tail, patterns))
        return objective_outcome(reading, spec.objective.metric), reading.series

    def with_outcome(
        self, observation: JobObservation, source: LogSource
    ) -> tuple[JobObservation, array[float]]:
        """A succeeded Job's observation with its objective, and its curve; a log that is
        gone for good fails the trial (LogUnavailable), a transient error propagates."""
        curve: array[float] = array("d")
        try:
            with self.telemetry.api_call("read_log"):
                outcome, curve = self.outcome(source)
        except ApiException as error:
            if error.status not in (400, 404):
                raise  # transient (the API server, the node): the reconcile is retried
            outcome = ObjectiveOutcome(
                None,
                0,
                "LogUnavailable",
                f"the log of pod {source.pod} could not be read (HTTP {error.status})",
            )
        return replace(observation, outcome=outcome), curve

    def curve(self, source: LogSource) -> array[float] | None:
        """A trial's curve from the start of its log (bounded by `CURVE_SCAN_BYTES`); None
        when the log cannot be read. Curves only inform early stopping, so a failed read
        is logged and skipped rather than failing the reconcile."""
        pattern = compile_metric_regex(self.spec.objective_metric().regex)
        try:
            with self.telemetry.api_call("read_curve"):
                chunks = self.kube.stream_log(
                    self.namespace, source.pod, source.container, limit_bytes=CURVE_SCAN_BYTES
                )
                return scan_series(chunks, pattern, max_scan_bytes=CURVE_SCAN_BYTES)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
            log.info("could not read the log of pod %s/%s: %s", self.namespace, source.pod, error)
            return None
