"""Following a running trial's log as a stream (`follow=true`): the operator sees each value
of the objective when the trainer prints it, and reads the log once instead of again
from its start at every look.

One daemon thread per followed log, at most `MAX_FOLLOWED_LOGS` in the process (beyond
that, running logs are re-read every `TrialLogs.curve_read_seconds` as without
followers). A follower only reads: when its stream ends (the pod ended, the connection
dropped, a read timed out, the container had not started yet) it stops, and the next
reconcile that still sees the trial running starts another. That one reads the log
from its start again and skips the values already known (a log's start never changes),
so the curve goes on where it was.
"""

from __future__ import annotations

import logging
import threading
from array import array
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeAlias

import urllib3
from kubernetes.client.exceptions import ApiException
from kubetune.operator.kube.metric_logs import SERIES, LogScanner, MetricReading, last_values

log = logging.getLogger("kubetune.operator")

MAX_FOLLOWED_LOGS = 256
"""Logs followed at once by one operator process: a thread and a connection to the API
server each, idle in a blocking read (100 followed logs: 3-10 MiB more than reading them
again, `make bench-log-reading`)."""


Known: TypeAlias = "array[float] | tuple[array[float], array[int]]"
"""The values already read from a followed log; with when they were printed, for a log
whose lines begin with their times (the kubelet's `timestamps=true`), which the follower
then reads the same way, keeping each value's time (`LogFollower.timed_curve`)."""

WakeWhen = Callable[["array[float]", int], bool]
"""Called, in a follower's thread, with its curve after new values came (the first
`int` values were there before): whether they need a judgement now (a Hyperband rung
reached, the median rule's stop), so that the follower wakes the operator."""


class _Slots:
    """The logs followed now, at most `MAX_FOLLOWED_LOGS` (read at every take, so that a
    test or a benchmark may lower it)."""

    def __init__(self) -> None:
        self.taken = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.taken >= MAX_FOLLOWED_LOGS:
                return False
            self.taken += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.taken -= 1


_SLOTS = _Slots()


def followed_logs() -> int:
    """How many logs this process follows now (a metric)."""
    return _SLOTS.taken


Patterns: TypeAlias = "Any | Mapping[str, Any]"
"""What a follower scans a log for: the objective's compiled pattern; or the compiled
patterns of several metrics by name, the objective's under `metric_logs.SERIES`, when
it also keeps the other metrics' last values (`LogFollower.latest`)."""


class LogFollower:
    """The objective's values in one running container's log, as they are printed; and,
    where it is given the other metrics' patterns (`Patterns`), the last value of each
    in the lines read so far: the lines are scanned once for all, and these values are
    what a trial stopped while it runs keeps as its `metrics`."""

    def __init__(
        self,
        open_log: Callable[[], Iterator[bytes]],
        pattern: Patterns,
        *,
        known: Known,
        max_scan_bytes: int,
        wake_when: WakeWhen | None,
        wake: Callable[[], None] | None,
        name: str,
    ) -> None:
        timestamps = isinstance(known, tuple)
        values, times = known if isinstance(known, tuple) else (known, array("q"))
        self._curve = array("d", values)
        self._times = array("q", times[: len(values)])
        self._metrics: dict[str, float] | None = None
        self._lock = threading.Lock()
        self._wake_when = wake_when
        self._wake = wake
        self.stopped = False
        """Told to stop: it no longer wakes anyone, and ends at once (an API server's
        stream) or at its stream's next chunk."""
        self.ended = False
        """The stream has ended: nothing more will come from this follower."""
        self.complete = False
        """It ended having read all there is to read (the series closed or the scan limit
        reached): following again would add nothing."""
        self._stream: Iterator[bytes] | None = None
        self._thread = threading.Thread(
            target=self._follow,
            args=(_patterns(pattern), open_log, max_scan_bytes, timestamps),
            name=f"follow-{name}",
            daemon=True,
        )

    def start(self) -> LogFollower:
        self._thread.start()
        return self

    def curve(self) -> array[float]:
        """A copy of the values so far."""
        with self._lock:
            return array("d", self._curve)

    def timed_curve(self) -> tuple[array[float], array[int]]:
        """A copy of the values so far, and of when the first of them were printed (all of
        them where the log says: `metric_logs.MetricReading.series_times`)."""
        with self._lock:
            return array("d", self._curve), array("q", self._times)

    def latest(self) -> tuple[array[float], array[int], dict[str, float] | None]:
        """`timed_curve`, and the other metrics' last values in the lines read up to
        the last of those values; None until it has read again as far as the values
        known when it started (`known`): those read with them are the latest known."""
        with self._lock:
            metrics = None if self._metrics is None else dict(self._metrics)
            return array("d", self._curve), array("q", self._times), metrics

    def stop(self) -> None:
        """Stop publishing and waking, and end the stream's read now where it can be
        interrupted (the API server's, `api_client.LogStream`); else the thread ends
        when the stream next sends a chunk, or ends: the pod is going."""
        self.stopped = True
        _interrupt(self._stream)

    def _follow(
        self,
        patterns: dict[str, Any],
        open_log: Callable[[], Iterator[bytes]],
        limit: int,
        timestamps: bool,
    ) -> None:
        # Scan every chunk at once (block_bytes=0): a value is seen as soon as its line
        # ends, not when a megabyte of log has arrived.
        scanner = LogScanner(patterns, series_metric=SERIES, block_bytes=0, timestamps=timestamps)
        chunks: Iterator[bytes] = iter(())
        try:
            chunks = self._stream = open_log()  # may fail: the container has not started
            if self.stopped:  # stopped while the stream was being opened
                _interrupt(chunks)
            for chunk in chunks:
                room = limit - scanner.reading.bytes_scanned
                scanner.feed(chunk[:room])
                self._publish(scanner.reading, others=len(patterns) > 1)
                if scanner.series_closed or len(chunk) >= room:
                    self.complete = True
                    return
                if self.stopped:
                    return
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
            if not self.stopped:  # else the error is the interrupted read
                log.info("stopped following a log (%s): %s", self._thread.name, error)
        except Exception:  # a bug: logged, and the next reconcile reads the log instead
            log.exception("following a log (%s) failed", self._thread.name)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # the stream's connection, at once
            _SLOTS.give_back()  # first: a follower seen ended has given its slot back
            self.ended = True

    def _publish(self, reading: MetricReading, *, others: bool) -> None:
        series, times = reading.series, reading.series_times
        with self._lock:
            before = len(self._curve)
            if others and len(series) >= before:
                # As far as the values known (a follower reads from the log's start):
                # from here on the last values are no older than those read with them.
                self._metrics = last_values(reading)
            if len(series) <= before:
                return
            if len(times) > len(self._times):  # read from the log's start, as the values
                self._times = array("q", times)
            self._curve.extend(series[before:])
        # Only this thread writes the curve: it can be read without the lock.
        if self._wake is None or self._wake_when is None or self.stopped:
            return
        if self._wake_when(self._curve, before):
            self._wake()


def _patterns(pattern: Patterns) -> dict[str, Any]:
    """`pattern` by metric name, the objective's under `SERIES`."""
    return dict(pattern) if isinstance(pattern, Mapping) else {SERIES: pattern}


def _interrupt(stream: Iterator[bytes] | None) -> None:
    interrupt = getattr(stream, "interrupt", None)
    if interrupt is not None:
        interrupt()


def follow_log(
    open_log: Callable[[], Iterator[bytes]],
    pattern: Patterns,
    *,
    known: Known,
    max_scan_bytes: int,
    wake_when: WakeWhen | None = None,
    wake: Callable[[], None] | None = None,
    name: str = "log",
) -> LogFollower | None:
    """Start following a log (`open_log()` opens the stream, in the follower's thread);
    `known`: the values already read from it, not published again (`Known`); `wake()` is
    called when `wake_when(curve, before)` says the values after the first `before` need
    a judgement now; `pattern`: what it scans for (`Patterns`). None when
    `MAX_FOLLOWED_LOGS` are followed already."""
    if not _SLOTS.take():
        return None
    follower = LogFollower(
        open_log,
        pattern,
        known=known,
        max_scan_bytes=max_scan_bytes,
        wake_when=wake_when,
        wake=wake,
        name=name,
    )
    try:
        return follower.start()
    except RuntimeError:  # no thread could be started
        _SLOTS.give_back()
        return None
