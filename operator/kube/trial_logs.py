"""Reading a trial's metrics from its log: the final objective of a succeeded trial, and
the curve of a running one."""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException
from kubetune.operator.api import TuningJobSpec
from kubetune.operator.controller import (
    LOG_FORBIDDEN,
    LOG_UNAVAILABLE,
    JobObservation,
    ObjectiveOutcome,
)
from kubetune.operator.kube.client import KubeClient
from kubetune.operator.kube.log_follower import LogFollower, WakeWhen, follow_log
from kubetune.operator.kube.metric_logs import (
    MAX_SCAN_BYTES,
    SERIES,
    TAIL_BYTES,
    MetricReading,
    compile_metric_regex,
    compile_metrics,
    last_values,
    objective_outcome,
    scan_log,
    scan_running_log,
)
from kubetune.operator.kube.observe import LogSource
from kubetune.operator.kube.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("kubetune.operator")

CURVE_SCAN_BYTES = 16 * 1024 * 1024
"""At most this much of the start of a log is read, or followed, for a curve (a running
trial's log may be read again from its start); later values of a longer log are not
judged."""
TAIL_LINES = 10_000
"""Lines of the tail read for the final values of a log longer than the scan limit; fewer
where they do not fit in `TAIL_BYTES` (`TrialLogs.tail`)."""
CURVE_READ_SECONDS = 2.5
"""Where a running trial's log is not followed (`TrialLogs.following`), it is read at most
this often for early stopping and Hyperband; reconciles in between judge it on the
values read last. Half of the controller's EARLY_STOPPING_CHECK_SECONDS, so that each
periodic check sees fresh values. A local run reads its log files at every reconcile
(`reconcile(curve_read_seconds=0)`)."""


@dataclass(frozen=True)
class LogFollowing:
    """How the operator's daemon follows running trials' logs (`log_follower`)."""

    kube: KubeClient
    """The client that opens the streams: the live one, not a reconcile's snapshot (a
    follower outlives the reconcile that started it)."""
    wake: Callable[[], None]
    """Called from a follower's thread when a trial prints a value that needs a judgement
    (its value at a Hyperband rung, or one the median rule stops it on), to reconcile at
    once."""


@dataclass(frozen=True)
class TrialLogs:
    """The logs of one TuningJob's trials: where they are and what to look for."""

    kube: KubeClient
    namespace: str
    spec: TuningJobSpec
    telemetry: Telemetry = NO_TELEMETRY
    curve_read_seconds: float = CURVE_READ_SECONDS
    following: LogFollowing | None = None
    """Given by the operator's daemon: running trials' logs are then followed as streams
    (`follow`) instead of read again every `curve_read_seconds`."""

    @property
    def timestamps(self) -> bool:
        """Whether the logs are read with each line's time (the kubelet's
        `timestamps=true`), so that Hyperband records values read in one look in the order
        they were printed (`controller.hyperband._record`): where the client serves them
        (`api_client.Kube.log_timestamps`); a local run's log files have none."""
        return self.kube.log_timestamps

    def _stream(self, kube: KubeClient, source: LogSource, **options: Any) -> Iterator[bytes]:
        if self.timestamps:
            options["timestamps"] = True
        return kube.stream_log(self.namespace, source.pod, source.container, **options)

    def outcome(self, source: LogSource) -> tuple[ObjectiveOutcome, array[float]]:
        """The objective of a succeeded trial and its curve (the objective's values in
        order), read from its log with bounded memory."""
        outcome, curve, _ = self.timed_outcome(source)
        return outcome, curve

    def timed_outcome(self, source: LogSource) -> tuple[ObjectiveOutcome, array[float], array[int]]:
        """`outcome`, and when the curve's values were printed (where the log says)."""
        spec = self.spec
        patterns = compile_metrics([(m.name, m.regex) for m in spec.metrics])
        reading = scan_log(
            self._stream(self.kube, source),
            patterns,
            max_scan_bytes=MAX_SCAN_BYTES,
            series_metric=spec.objective.metric,
            timestamps=self.timestamps,
        )
        if reading.truncated:
            # Only the head was scanned: the final values are in the tail.
            reading.merge_tail(self.tail(source, patterns))
        template = spec.trial_template
        outcome = objective_outcome(
            reading,
            spec.objective.metric,
            source.container,
            first_of_several=template.primary_container is None and len(template.containers()) > 1,
        )
        return outcome, reading.series, reading.series_times

    def tail(self, source: LogSource, patterns: dict[str, Any]) -> MetricReading:
        """The reading of the end of a log: of its last `TAIL_LINES` lines, or of fewer of
        them where those are longer than `TAIL_BYTES`; at least of its last line."""
        # The kubelet seeks to the start of the last `tail_lines` lines and writes forward
        # until `limit_bytes` (kuberuntime/logs ReadLogs): a tail that does not fit loses
        # its end, the final values. So ask for fewer lines until the tail fits; only a
        # last line alone may be cut, and the scan keeps just its head (MAX_LINE_BYTES).
        lines = TAIL_LINES
        while True:
            tail = scan_log(
                self.kube.stream_log(
                    self.namespace,
                    source.pod,
                    source.container,
                    tail_lines=lines,
                    limit_bytes=TAIL_BYTES,
                ),
                patterns,
            )
            if tail.bytes_scanned < TAIL_BYTES or lines == 1:
                return tail
            lines = max(1, lines // 4)  # at most 8 reads of TAIL_BYTES

    def with_outcome(
        self, observation: JobObservation, source: LogSource
    ) -> tuple[JobObservation, array[float], array[int]]:
        """A succeeded Job's observation with its objective, and its curve with when its
        values were printed; a log that is gone for good fails the trial (LogUnavailable),
        one RBAC refuses keeps it Running until granted (LogForbidden), a transient error
        propagates."""
        curve: array[float] = array("d")
        times: array[int] = array("q")
        try:
            with self.telemetry.api_call("read_log"):
                outcome, curve, times = self.timed_outcome(source)
        except ApiException as error:
            if error.status == 403:
                # RBAC refuses the read: the trial waits, Running, with its pod and log,
                # until it is granted (each look reads it again). Raised, it would fail
                # the whole reconcile, every other trial's status frozen meanwhile.
                forbidden = (
                    f"its log cannot be read: the operator may not get pods/log in "
                    f"namespace {self.namespace} (HTTP 403); it is read once that is granted"
                )
                running = replace(observation, state="Running", reason=LOG_FORBIDDEN)
                return replace(running, message=forbidden), curve, times
            if error.status not in (400, 404):
                raise  # transient (the API server, the node): the reconcile is retried
            outcome = ObjectiveOutcome(
                None,
                0,
                LOG_UNAVAILABLE,
                f"the log of pod {source.pod} could not be read (HTTP {error.status})",
            )
        return replace(observation, outcome=outcome), curve, times

    def follow(
        self,
        source: LogSource,
        known: array[float],
        wake_when: WakeWhen,
        known_times: array[int] | None = None,
    ) -> LogFollower | None:
        """Start following a running trial's log (see `log_follower`), for its values and
        the other metrics' last values; `known`: its values read before (`known_times`:
        when they were printed); `wake_when`: which new values wake the operator. None
        when no more logs can be followed: read it instead."""
        spec, following = self.spec, self.following
        assert following is not None
        return follow_log(
            lambda: self._stream(following.kube, source, limit_bytes=CURVE_SCAN_BYTES, follow=True),
            {SERIES: compile_metric_regex(spec.objective_metric().regex), **self._others()},
            known=(known, known_times or array("q")) if self.timestamps else known,
            max_scan_bytes=CURVE_SCAN_BYTES,
            wake_when=wake_when,
            wake=following.wake,
            name=f"{self.namespace}/{source.pod}",
        )

    def _others(self) -> dict[str, Any]:
        """The metrics other than the objective, compiled, by name: a running trial's log
        is read for their last values too, which a trial stopped while it runs keeps (its
        log goes with its Job)."""
        spec = self.spec
        metrics = [(m.name, m.regex) for m in spec.metrics if m.name != spec.objective.metric]
        return compile_metrics(metrics)

    def curve(self, source: LogSource) -> array[float] | None:
        """A trial's curve from the start of its log (bounded by `CURVE_SCAN_BYTES`); None
        when the log cannot be read. Curves only inform early stopping, so a failed read
        is logged and skipped rather than failing the reconcile."""
        timed = self.timed_curve(source)
        return None if timed is None else timed[0]

    def timed_curve(self, source: LogSource) -> tuple[array[float], array[int]] | None:
        """`curve`, and when its values were printed (where the log says)."""
        reading = self._read_running(source, {})
        return None if reading is None else (reading.series, reading.series_times)

    def running_read(
        self, source: LogSource
    ) -> tuple[array[float], array[int], dict[str, float]] | None:
        """A running trial's `timed_curve`, and the last values of the other metrics in
        the lines read for it (`metric_logs.last_values`); None when the log cannot be
        read."""
        reading = self._read_running(source, self._others())
        if reading is None:
            return None
        return reading.series, reading.series_times, last_values(reading)

    def _read_running(self, source: LogSource, others: dict[str, Any]) -> MetricReading | None:
        pattern = compile_metric_regex(self.spec.objective_metric().regex)
        try:
            with self.telemetry.api_call("read_curve"):
                chunks = self._stream(self.kube, source, limit_bytes=CURVE_SCAN_BYTES)
                return scan_running_log(
                    chunks,
                    pattern,
                    others,
                    max_scan_bytes=CURVE_SCAN_BYTES,
                    timestamps=self.timestamps,
                )
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
            log.info("could not read the log of pod %s/%s: %s", self.namespace, source.pod, error)
            return None
