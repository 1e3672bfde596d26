"""Metric values from a trial's log: RE2 patterns over a bounded stream.

A user's regex runs over an untrusted, possibly huge log, so:

- patterns are RE2 (`google-re2`): matching is linear in the input, no catastrophic
  backtracking, and constructs that need backtracking (look-around, back-references)
  are refused when the TuningJob is validated;
- the log is streamed in chunks and scanned in blocks of whole lines; memory stays at
  about `BLOCK_BYTES + MAX_LINE_BYTES` whatever the log's size;
- a line that grows past `MAX_LINE_BYTES` without a newline is scanned up to that length
  only; the rest of it is skipped;
- at most `MAX_SCAN_BYTES` are scanned from the start of the log. A longer log's final
  values then come from its last lines, at most `TAIL_BYTES` of them (the adapter reads
  the tail separately), and its intermediate counts are lower bounds.

Each metric keeps only its last match and the number of matches (SageMaker semantics:
the final value is the last match), and whether that last match cut a number short (a
regex such as `([0-9.]+)` captures 1.49 of 1.49e-06: the value stays as captured, and a
succeeded trial's message says so). One metric (the objective, for early stopping) may
also keep its series: the values of its matches in order, match s being "step s", at most
`MAX_SERIES_STEPS` of them, and with `timestamps` (a log read with the kubelet's
`timestamps=true`: each line begins with the RFC 3339 time it was written and a space)
the time each of those values was printed, the time being cut off before any regex sees
the line.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import re2
from kubetune.operator.api import OBJECTIVE_NOT_FINITE
from kubetune.operator.controller import ObjectiveOutcome
from kubetune.operator.controller.types import NOT_A_NUMBER

MAX_LINE_BYTES = 64 * 1024
"""An unfinished line that grows past this many bytes (with no newline in the current
block) is scanned up to here and the rest of it skipped."""
BLOCK_BYTES = 1024 * 1024
"""Lines are scanned in blocks of about this size (one RE2 call per metric per block)."""
MAX_SCAN_BYTES = 512 * 1024 * 1024
"""At most this much of a log is scanned from its start; see the module docstring."""
TAIL_BYTES = 1024 * 1024
"""How much of the end of an over-long log is read to find the final values."""
MAX_SERIES_STEPS = 1000
"""A series keeps at most this many values (the first ones): 8 KB per trial, so that the
curves the early stopping rule compares stay small in memory. Later steps of a longer
curve are not seen by the rule (a trial is then judged at step 1000 at the latest)."""
FULL_NUMBER_GROUP = r"([-+]?(?i:nan|inf)|[-+0-9.eE]+)"
"""The capture group the documentation recommends: a whole number, with its sign and
exponent (Python prints 1.49e-06 below 1e-4), or nan/inf in any case (a diverged trial).
`nan|inf` comes first: RE2 takes the first alternative that matches, and the second
alone would read `-inf` as `-`."""

_NO_METRIC = (b"", b"epoch 1: loss n/a")
"""Lines where no metric has a value (a blank line, a word where the number would be): a
regex that matches empty text in them would match at every position of a log, each match
a Python iteration (11 s of the operator's CPU per 10 MB), and never yield a number."""
_NUMBER = re.compile(rb"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
"""A number as a trainer prints it; only ever matched at the start of a last capture."""
_GROUPED = re.compile(rb"[-+]?[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
"""A number printed with thousands separators (`f"{x:,}"`: 1,234.5), whose capture by the
recommended group stops at the first comma."""
_NUMBER_BYTES = 64
"""How far a number is looked for past the start of a capture."""
_TIME_PARTS = re.compile(rb"([0-9T:-]+)(?:\.([0-9]{1,9}))?(Z|[-+][0-9]{2}:[0-9]{2})")
"""The time the kubelet puts before each line with `timestamps=true`, RFC3339Nano: its
fraction has 0 to 9 digits, its zone is the node's."""


def line_time_ns(stamp: bytes) -> int | None:
    """The time a log line was written, in nanoseconds since the epoch, from the
    kubelet's RFC3339Nano prefix (`2026-12-07T01:06:24.1234Z`); None if it is none."""
    parts = _TIME_PARTS.fullmatch(stamp)
    if parts is None:
        return None
    whole, fraction, zone = (part.decode() if part else "" for part in parts.groups())
    try:
        moment = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + int(fraction.ljust(9, "0"))


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False
    # Never match across a newline: blocks of many lines are scanned at once, and each
    # match must lie within one line, as if the lines were scanned one by one.
    options.never_nl = True
    return options


def compile_metric_regex(regex: str) -> Any:
    """Compile a metric regex for block scanning: RE2, multi-line anchors, bytes. The one
    place a metric regex is compiled: validation asks it too, so a regex is accepted at
    validation exactly when the log scan can use it.

    Raises ValueError, naming the regex, RE2's reason and the fix, when the pattern is not
    valid RE2 syntax, does not have exactly one capture group, or matches empty text.
    """
    try:
        pattern = re2.compile(b"(?m)" + regex.encode(), _options())
    except re2.error as error:
        reason = _reason(error)
        try:  # RE2 quotes the pattern it was given: the user's, without our (?m)
            re2.compile(regex.encode(), _options())
        except re2.error as own:
            reason = _reason(own)
        raise ValueError(
            f"'{regex}' is not a valid RE2 regular expression ({reason}); fix the pattern "
            "(RE2 has no look-around and no back-references)"
        ) from None
    if pattern.groups != 1:
        raise ValueError(
            f"'{regex}' has {pattern.groups} capture groups but needs exactly one, around the "
            "number; make the other groups non-capturing with (?:...)"
        )
    if any(m.start() == m.end() for text in _NO_METRIC for m in pattern.finditer(text)):
        raise ValueError(
            f"'{regex}' matches empty text, so it matches at every position of every line, "
            "the last match (empty, no number) being the value; make it need at least one "
            f"character (+ rather than *, the group not optional), e.g. {FULL_NUMBER_GROUP}"
        )
    return pattern


def _reason(error: Exception) -> str:
    reason = error.args[0] if error.args else error
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


def _cut_number(text: bytes, match: Any) -> bytes | None:
    """The whole number in `text` of which `match` captured only the beginning (its
    mantissa, its first digits, or the digits before a thousands separator), or None
    when the capture is not cut short."""
    start, end = match.span(1)
    if start < 0 or end <= start:
        return None
    # A regex that goes on past its capture (`^([0-9]+),`) reads the comma as a delimiter.
    forms = (_NUMBER,) if match.end() > end else (_NUMBER, _GROUPED)
    for form in forms:
        number = form.match(text, start, start + _NUMBER_BYTES)
        if number is not None and number.end() > end:
            return number.group()
    return None


@dataclass
class MetricReading:
    """What the log said about each metric: last captured text and number of matches."""

    last: dict[str, bytes] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    bytes_scanned: int = 0
    truncated: bool = False
    """True when the log was longer than the scan limit (counts are lower bounds)."""
    series: array[float] = field(default_factory=lambda: array("d"))
    """The series metric's values in order (see `LogScanner`); empty without one."""
    series_times: array[int] = field(default_factory=lambda: array("q"))
    """When the first of those values were printed (nanoseconds since the epoch), as the
    lines' times say (`LogScanner`'s `timestamps`); empty without them, and it ends at a
    value whose line had none."""
    cut: dict[str, bytes] = field(default_factory=dict)
    """For each metric whose last match captured only the beginning of a number, that
    whole number as the log has it (`1.49e-06` where the regex captured `1.49`, `1,234`
    where it captured `1`)."""
    shared: dict[str, bytes] = field(default_factory=dict)
    """For each metric whose last match is not the first on its line, what the match
    before it on that line captured (`loss=(...)` also matches in `val_loss=0.3`)."""

    def value(self, metric: str) -> float | None:
        """The metric's final value as a float; None when it never matched or the
        captured text is not a number. May be NaN or infinite (callers decide)."""
        text = self.last.get(metric)
        if text is None:
            return None
        try:
            return float(text.strip())
        except ValueError:
            return None

    def merge_tail(self, tail: MetricReading) -> None:
        """Take final values from a reading of the log's tail (for a truncated log)."""
        self.last.update(tail.last)
        for name in tail.last:
            self.cut.pop(name, None)
            self.shared.pop(name, None)
        self.cut.update(tail.cut)
        self.shared.update(tail.shared)
        for name, count in tail.count.items():
            self.count[name] = max(self.count.get(name, 0), count)


class LogScanner:
    """Feed a log in chunks of any size; `close()` returns the reading.

    With `series_metric`, that metric's values are also kept in order, up to
    `max_series` of them. The series ends at the first match that is not a finite number:
    the steps after it could not be compared with other trials' steps. A nan or inf is
    kept, as a last nan (the trial diverged there: `controller.types.diverged`); a text
    that is no number as a last `NOT_A_NUMBER` (Hyperband says where its trial's rungs
    end: `controller.types.not_a_number_at`).

    With `timestamps`, each line begins with the time it was written (the kubelet's
    `timestamps=true`): it is cut off before the regexes see the line, and the series
    values' times are kept in `series_times`.

    Memory is bounded by `block_bytes + max_line_bytes` plus one chunk (and the series).
    """

    def __init__(
        self,
        patterns: Mapping[str, Any],
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        block_bytes: int = BLOCK_BYTES,
        series_metric: str | None = None,
        max_series: int = MAX_SERIES_STEPS,
        timestamps: bool = False,
    ) -> None:
        self._patterns = dict(patterns)
        self._timestamps = timestamps
        self._max_line = max_line_bytes
        self._block = block_bytes
        self._buffer = bytearray()
        self._skipping = False  # inside an over-long line, dropping bytes until newline
        self._series_metric = series_metric
        self._max_series = max_series
        self.series_closed = series_metric is None
        """True once the series takes no more values (full, or ended at a non-number)."""
        self.reading = MetricReading(count=dict.fromkeys(self._patterns, 0))

    def _scan(self, text: bytes) -> None:
        stamps: list[bytes] = []
        if self._timestamps:  # line n's time is stamps[n]; the regexes see the rest
            # The kubelet puts one before every line: what precedes a line's first space
            # (a stamp that is no time is found so only when a value needs it).
            split = [line.partition(b" ") for line in text.split(b"\n")]
            stamps = [stamp if space else b"" for stamp, space, _ in split]
            text = b"\n".join(rest if space else stamp for stamp, space, rest in split)
        lines = text  # its newlines number the lines (the stamps), before the \r's are
        # A carriage return ends a line as a terminal shows it: Windows line ends, and
        # progress bars (tqdm, Keras) that rewrite their line, would otherwise keep an
        # anchored regex (^loss=(\S+)$) from matching the value printed after them.
        text = text.replace(b"\r", b"\n")
        reading = self.reading
        for name, pattern in self._patterns.items():
            # One pass of RE2 per metric; only the last match is kept, with its position,
            # and a capture is sliced only for the series (findall would slice each one).
            count, before, last, values, times = 0, None, None, [], []
            line, at = 0, 0  # the line `at` is on
            room = (
                self._max_series - len(reading.series)
                if name == self._series_metric and not self.series_closed
                else 0
            )
            for match in pattern.finditer(text):
                before, last = last, match
                count += 1
                if count <= room:
                    values.append(last[1] or b"")
                    if stamps:
                        line += lines.count(b"\n", at, last.start())
                        at = last.start()
                        times.append(stamps[line])
            if values:
                self._extend_series(values, times)
            if last is None:
                continue
            reading.count[name] += count
            reading.last[name] = last[1] or b""
            whole = _cut_number(text, last)
            if whole is None:
                reading.cut.pop(name, None)
            else:
                reading.cut[name] = whole
            if before is None or text.find(b"\n", before.end(), last.start()) >= 0:
                reading.shared.pop(name, None)
            else:
                reading.shared[name] = before[1] or b""

    def _extend_series(self, matches: list[bytes], stamps: list[bytes]) -> None:
        series, times = self.reading.series, self.reading.series_times
        for n, text in enumerate(matches):
            if n < len(stamps) and len(times) == len(series):
                written = line_time_ns(stamps[n])
                if written is not None:
                    times.append(written)
            try:
                value = float(text.strip())
            except ValueError:  # not a number: nothing to judge on from here, said so
                series.append(NOT_A_NUMBER)
                self.series_closed = True
                return
            if not math.isfinite(value):  # nan or inf: diverged
                series.append(math.nan)
                self.series_closed = True
                return
            series.append(value)
        self.series_closed = len(series) >= self._max_series

    def feed(self, chunk: bytes) -> None:
        """Add the next bytes of the log."""
        self.reading.bytes_scanned += len(chunk)
        if self._skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                return
            self._skipping = False
            chunk = chunk[newline + 1 :]
        if b"\n" not in chunk:
            # Part of one line: keep at most what a line may have. The buffer may also
            # hold complete lines not scanned yet (up to a block): they do not count.
            line = len(self._buffer) - self._buffer.rfind(b"\n") - 1
            self._buffer += chunk[: max(0, self._max_line + 1 - line)]
        else:
            self._buffer += chunk
            if len(self._buffer) < self._block:
                return
        end = self._buffer.rfind(b"\n")
        if end >= 0:
            self._scan(bytes(self._buffer[: end + 1]))
            del self._buffer[: end + 1]
        if len(self._buffer) > self._max_line:
            # The unfinished line is too long: scan its head, skip the rest of it.
            self._scan(bytes(self._buffer[: self._max_line]))
            self._buffer.clear()
            self._skipping = True

    def close(self) -> MetricReading:
        """Scan what is left (a last line without a newline) and return the reading."""
        end = self._buffer.rfind(b"\n")
        if end >= 0:
            self._scan(bytes(self._buffer[: end + 1]))
            del self._buffer[: end + 1]
        if self._buffer:  # a last line without a newline
            self._scan(bytes(self._buffer[: self._max_line]))
            self._buffer.clear()
        return self.reading


def scan_log(
    chunks: Iterable[bytes],
    patterns: Mapping[str, Any],
    *,
    max_scan_bytes: int = MAX_SCAN_BYTES,
    max_line_bytes: int = MAX_LINE_BYTES,
    series_metric: str | None = None,
    timestamps: bool = False,
) -> MetricReading:
    """Scan a log given as chunks, stopping after `max_scan_bytes` (then `truncated`).
    With `series_metric`, the reading's `series` holds that metric's values in order;
    `timestamps`: the lines begin with their times (`LogScanner`)."""
    scanner = LogScanner(
        patterns,
        max_line_bytes=max_line_bytes,
        series_metric=series_metric,
        timestamps=timestamps,
    )
    for chunk in chunks:
        room = max_scan_bytes - scanner.reading.bytes_scanned
        if len(chunk) >= room:
            scanner.feed(chunk[:room])
            scanner.reading.truncated = True
            break
        scanner.feed(chunk)
    return scanner.close()


def scan_series(
    chunks: Iterable[bytes],
    pattern: Any,
    *,
    max_scan_bytes: int,
    max_series: int = MAX_SERIES_STEPS,
) -> array[float]:
    """The series of one metric (`pattern`, compiled) from the start of a log: its values
    in order, up to `max_series`. Stops reading as soon as the series is complete, and
    after `max_scan_bytes`; closes `chunks` (a log stream) either way."""
    series, _ = scan_timed_series(
        chunks, pattern, max_scan_bytes=max_scan_bytes, max_series=max_series
    )
    return series


def scan_timed_series(
    chunks: Iterable[bytes],
    pattern: Any,
    *,
    max_scan_bytes: int,
    max_series: int = MAX_SERIES_STEPS,
    timestamps: bool = False,
) -> tuple[array[float], array[int]]:
    """`scan_series`, and when the values were printed (`MetricReading.series_times`):
    with `timestamps`, the lines begin with their times (`LogScanner`)."""
    reading = scan_running_log(
        chunks, pattern, max_scan_bytes=max_scan_bytes, max_series=max_series, timestamps=timestamps
    )
    return reading.series, reading.series_times


SERIES = "the objective"
"""The name the objective's pattern goes by where a running trial's log is read for its
series and the other metrics' last values (`scan_running_log`, `LogFollower`): no
metric's, since metric names have no whitespace."""


def scan_running_log(
    chunks: Iterable[bytes],
    pattern: Any,
    others: Mapping[str, Any] | None = None,
    *,
    max_scan_bytes: int,
    max_series: int = MAX_SERIES_STEPS,
    timestamps: bool = False,
) -> MetricReading:
    """A running trial's log read as `scan_timed_series` reads it: the objective's series
    (`pattern`, keyed `SERIES`), and the last match of each of `others` (the other metrics,
    compiled, by name) in the lines read up to where it stopped (`last_values`). Closes
    `chunks` (a log stream) either way."""
    scanner = LogScanner(
        {SERIES: pattern, **(others or {})},
        series_metric=SERIES,
        max_series=max_series,
        timestamps=timestamps,
    )
    try:
        for chunk in chunks:
            room = max_scan_bytes - scanner.reading.bytes_scanned
            scanner.feed(chunk[:room])
            if scanner.series_closed or len(chunk) >= room:
                break
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # a log stream: give its connection back now
    return scanner.close()


def last_values(reading: MetricReading) -> dict[str, float]:
    """The last values of the other metrics in a running log's reading
    (`scan_running_log`, `LogFollower`), as `recorded_metrics` records a succeeded trial's:
    what a trial stopped while it runs keeps as its `metrics`."""
    return recorded_metrics(reading, SERIES)


def recorded_metrics(reading: MetricReading, objective: str) -> dict[str, float]:
    """The final values of the metrics other than the objective, in declaration order;
    a metric that never matched or whose last match is not a finite number is left out
    (JSON has no NaN, and a missing value says "unknown" more honestly than a guess)."""
    values = {}
    for name in reading.count:
        value = reading.value(name) if name != objective else None
        if value is not None and math.isfinite(value):
            values[name] = value
    return values


def never_matched(reading: MetricReading, objective: str) -> str | None:
    """What a succeeded trial's message says of the metrics other than the objective that
    no line of its log matched (so that a regex that never matches leaves a trace, though
    the trial succeeds); None when every one matched."""
    names = [name for name, count in reading.count.items() if count == 0 and name != objective]
    if not names:
        return None
    one = len(names) == 1
    return (
        f"metric{'' if one else 's'} {', '.join(names)} never matched the log (no value "
        f"recorded); check {'its' if one else 'their'} regex"
    )


def cut_short(reading: MetricReading) -> str | None:
    """What a succeeded trial's message says of the metrics whose final value the regex
    cut short (`MetricReading.cut`): the value is kept as captured (the regex is the
    contract), but a mantissa read as the value is off by the exponent, and the digits
    before a thousands separator by a factor of a thousand or more, so say so and how to
    get the whole number. None when no recorded value was cut."""
    names, notes, fixes = [], [], []
    for name, whole in reading.cut.items():
        grouped = b"," in whole  # no group can capture it: float() refuses 1,234
        value, number = reading.value(name), float(whole.replace(b",", b""))
        if value is None or value == number:
            continue  # not recorded, or the same number (3 of 3.0)
        names.append(name)
        # A trial's message has 128 characters: numbers as `%g` prints them (Python's
        # repr takes up to 24), the facts first, the fix last (a cut drops it first).
        notes.append(f"{value:g} of {_shown(whole) if grouped else f'{number:g}'}")
        fix = (
            "print numbers without thousands separators"
            if grouped
            else f"capture whole numbers: {FULL_NUMBER_GROUP}"
        )
        if fix not in fixes:
            fixes.append(fix)
    if not names:
        return None
    one = len(names) == 1
    return (
        f"metric{'' if one else 's'} {', '.join(names)}: the regex{'' if one else 'es'} "
        f"captured {', '.join(notes)}; {'; '.join(fixes)}"
    )


def shared_line(reading: MetricReading) -> str | None:
    """What a succeeded trial's message says of the metrics whose final value was not
    the first match on its line (`MetricReading.shared`): the last match is the value, as
    everywhere, but a regex that also matches another metric (`loss=` in `val_loss=`)
    records that one; say which two values the line gave. None when no such line."""
    names, notes = [], []
    for name, before in reading.shared.items():
        value = reading.last.get(name)
        if value is not None:
            names.append(name)
            notes.append(f"{_shown(before)}, then {_shown(value)}")
    if not names:
        return None
    one = len(names) == 1
    return (
        f"metric{'' if one else 's'} {', '.join(names)}: the last line matched twice "
        f"({'; '.join(notes)}, kept); match only its own value (e.g. \\b before the name)"
    )


def _shown(text: bytes) -> str:
    return text.decode(errors="replace").strip()[:16]


def objective_outcome(
    reading: MetricReading,
    metric: str,
    container: str | None = None,
    *,
    first_of_several: bool = False,
) -> ObjectiveOutcome:
    """The objective (`metric`'s last match) of a trial that exited successfully, with
    the final values of the other metrics; with a value, the message names the metrics
    whose final value the regex cut short (`cut_short`) and the other metrics that never
    matched (`never_matched`). `container`: whose log was read, named where no line
    matched; `first_of_several`: it was read as the first of the pod's containers, no
    `primaryContainer` naming one (a sidecar listed first is a likely cause)."""
    count = reading.count.get(metric, 0)
    text = reading.last.get(metric)
    others = recorded_metrics(reading, metric)
    if text is None:
        return ObjectiveOutcome(
            None,
            count,
            "MetricUnavailable",
            _unmatched(metric, container, first_of_several),
            others,
        )
    value = reading.value(metric)
    shown = text[:40].decode(errors="replace")
    if value is None:
        message = f"the last match of metric {metric} is not a number: {shown!r}"
        if _GROUPED.fullmatch(text.strip()):
            message += "; print numbers without thousands separators"
        return ObjectiveOutcome(None, count, "MetricUnavailable", message, others)
    if not math.isfinite(value):
        return ObjectiveOutcome(
            None,
            count,
            OBJECTIVE_NOT_FINITE,
            f"the last value of metric {metric} is {shown}",
            others,
        )
    notes = [
        note
        for note in (cut_short(reading), shared_line(reading), never_matched(reading, metric))
        if note
    ]
    return ObjectiveOutcome(value, count, message="; ".join(notes) or None, metrics=others)


def _unmatched(metric: str, container: str | None, first_of_several: bool) -> str:
    """What a trial's message says when no line of its log matched the objective."""
    if container is None:
        return f"no line of the log matched metric {metric}"
    message = f"no line of container {container}'s log matched metric {metric}"
    if first_of_several:
        # The fix last: a message cut to its 128 characters keeps its end.
        message += " (the first container; primaryContainer unset)"
    return message


def compile_metrics(metrics: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Compile `(name, regex)` pairs; raises ValueError naming the metric that fails."""
    compiled = {}
    for name, regex in metrics:
        try:
            compiled[name] = compile_metric_regex(regex)
        except ValueError as error:
            raise ValueError(f"metric {name}: {error}") from None
    return compiled
