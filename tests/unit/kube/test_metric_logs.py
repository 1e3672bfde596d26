"""Metric extraction: last match wins, counts, bounded memory, RE2 linear time."""

from __future__ import annotations

import math
import time
import tracemalloc
from collections.abc import Iterator

import pytest
from kubetune.operator.controller.types import diverged, finite_values
from kubetune.operator.kube.metric_logs import (
    LogScanner,
    compile_metrics,
    objective_outcome,
    scan_log,
    scan_series,
)

PATTERNS = compile_metrics([("acc", r"acc=([0-9.]+)"), ("loss", r"^loss: (\S+)$")])


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("size", [1, 3, 7, 64, 1 << 20])
def test_last_match_and_count_whatever_the_chunking(size: int) -> None:
    log = b"start\nepoch 1 acc=0.5 acc=0.6\nloss: 2.0\nnoise loss: 9\nacc=0.7\nloss: 1.5"
    reading = scan_log(chunks(log, size), PATTERNS)
    assert reading.count == {"acc": 3, "loss": 2}
    assert reading.value("acc") == 0.7
    assert reading.value("loss") == 1.5  # the last line has no newline and still counts


def test_matches_never_span_lines() -> None:
    patterns = compile_metrics([("m", r"a\s*=\s*([0-9]+)")])
    reading = scan_log([b"a\n=\n5\n", b"a = 6\n"], patterns)
    assert reading.count == {"m": 1} and reading.value("m") == 6


@pytest.mark.parametrize("size", [1, 5, 1 << 20])
def test_carriage_returns_end_lines_as_a_terminal_shows_them(size: int) -> None:
    """Windows line ends and a progress bar rewriting its line with \r: the anchored
    regex matches the value as it appears on the screen."""
    crlf = b"epoch 1\r\nloss: 0.5\r\n"
    tqdm = b"\r  0%|    | 0/9\r 50%|##  | 4/9\r100%|####| 9/9\rloss: 0.25\n"
    for log, value in ((crlf, 0.5), (tqdm, 0.25)):
        reading = scan_log(chunks(log, size), PATTERNS)
        assert reading.count["loss"] == 1 and reading.value("loss") == value, log


@pytest.mark.parametrize(
    ("last", "metric", "value"),
    [
        ([b"acc=0.", b"95", b"12\n"], "acc", 0.9512),  # a value split over three chunks
        ([b"epoch 9 \r 50%|##", b"\r100%|####\rloss: 0.", b"25\n"], "loss", 0.25),
    ],
)
def test_chunks_without_a_newline_are_kept_while_complete_lines_wait_for_a_block(
    last: list[bytes], metric: str, value: float
) -> None:
    """Complete lines wait in the buffer until a block fills: only the unfinished line
    counts towards the line limit, so no piece of the last line is dropped (a stream cuts
    chunks anywhere, and a progress bar rewrites its line with carriage returns only)."""
    waiting = b"epoch 8 acc=0.5\nloss: 0.90\n" * 10  # more than one line may hold
    scanner = LogScanner(PATTERNS, max_line_bytes=64)
    for chunk in [waiting + last[0], *last[1:]]:
        scanner.feed(chunk)
    assert scanner.close().value(metric) == value


def test_outcomes_name_the_problem() -> None:
    patterns = compile_metrics([("loss", r"loss=(\S+)")])
    ok = objective_outcome(scan_log([b"loss=1\nloss=0.25\n"], patterns), "loss")
    assert (ok.value, ok.intermediate_count, ok.reason) == (0.25, 2, None)
    missing = objective_outcome(scan_log([b"nothing here\n"], patterns), "loss")
    assert missing.value is None and missing.reason == "MetricUnavailable"
    nan = objective_outcome(scan_log([b"loss=nan\n"], patterns), "loss")
    assert nan.reason == "ObjectiveNotFinite" and "nan" in (nan.message or "")
    junk = objective_outcome(scan_log([b"loss=abc\n"], patterns), "loss")
    assert junk.reason == "MetricUnavailable" and "abc" in (junk.message or "")
    inf = objective_outcome(scan_log([b"loss=inf\n"], patterns), "loss")
    assert inf.reason == "ObjectiveNotFinite"
    assert math.isinf(scan_log([b"loss=inf\n"], patterns).value("loss") or 0)


def test_a_succeeded_trial_names_the_other_metrics_that_never_matched() -> None:
    """Every metric of spec.metrics is recorded: one whose regex never matches says so in
    the trial's message (the trial still succeeds on its objective)."""
    patterns = compile_metrics(
        [("loss", r"loss=(\S+)"), ("acc", r"acc=(\S+)"), ("never", "zzz=(\\d+)")]
    )
    one = objective_outcome(scan_log([b"loss=0.5 acc=0.9\n"], patterns), "loss")
    assert (one.value, one.reason, one.metrics) == (0.5, None, {"acc": 0.9})
    assert one.message == "metric never never matched the log (no value recorded); check its regex"
    two = objective_outcome(scan_log([b"loss=0.5\n"], patterns), "loss")
    assert two.message == (
        "metrics acc, never never matched the log (no value recorded); check their regex"
    )
    every = compile_metrics([("loss", r"loss=(\S+)"), ("acc", r"acc=(\S+)")])
    assert objective_outcome(scan_log([b"loss=1 acc=2\n"], every), "loss").message is None


def test_invalid_regexes_are_refused_with_the_metric_name() -> None:
    with pytest.raises(ValueError, match=r"metric m: .*not a valid RE2"):
        compile_metrics([("m", r"(?<=x)(\d)")])
    with pytest.raises(ValueError, match="has 2 capture groups but needs exactly one"):
        compile_metrics([("m", r"(a)(b)")])


def test_catastrophic_backtracking_pattern_is_linear() -> None:
    # (a+)+$ takes exponential time in a backtracking engine on "aaaa...b".
    patterns = compile_metrics([("m", r"(a+)+$")])
    line = b"a" * 200_000 + b"b\n"
    started = time.process_time()
    reading = scan_log([line] * 20, patterns)
    elapsed = time.process_time() - started
    assert reading.count == {"m": 0}
    assert elapsed < 5.0, f"RE2 should scan 4 MB in well under 5 s of CPU, took {elapsed:.1f}"


def test_memory_stays_bounded_on_a_huge_log_and_long_lines() -> None:
    block = (b"x" * 1000 + b"\n") * 256 + b"acc=0.5\n"  # ~256 KB, one match
    long_line = b"y" * (256 << 10)
    tracemalloc.start()
    scanner = LogScanner(PATTERNS, max_line_bytes=64 * 1024)
    for _ in range(256):  # 64 MB of log
        scanner.feed(block)
    for _ in range(40):  # a 10 MB line, in chunks as a stream delivers it
        scanner.feed(long_line)
    scanner.feed(b" acc=0.9 ignored, past the line limit\nacc=0.8\n")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    reading = scanner.close()
    assert reading.value("acc") == 0.8
    assert reading.count["acc"] == 257
    assert peak < 4 << 20, f"peak {peak / 2**20:.1f} MiB for a 74 MB log"


def test_scan_limit_marks_the_reading_truncated() -> None:
    reading = scan_log(chunks(b"acc=1\n" * 1000, 100), PATTERNS, max_scan_bytes=600)
    assert reading.truncated
    assert reading.count["acc"] == 100
    tail = scan_log([b"acc=2\n"], PATTERNS)
    reading.merge_tail(tail)
    assert reading.value("acc") == 2.0


@pytest.mark.parametrize("size", [1, 5, 1 << 20])
def test_the_series_keeps_the_objective_values_in_order_whatever_the_chunking(
    size: int,
) -> None:
    log = b"loss: 3\nacc=0.1\nloss: 2.5\nnoise\nloss: 2\n"
    reading = scan_log(chunks(log, size), PATTERNS, series_metric="loss")
    assert list(reading.series) == [3.0, 2.5, 2.0]
    assert list(scan_log(chunks(log, size), PATTERNS).series) == []  # only when asked


def test_the_series_is_capped_and_ends_at_a_value_that_is_not_a_number() -> None:
    patterns = compile_metrics([("loss", r"loss=(\S+)")])
    log = b"".join(b"loss=%d\n" % i for i in range(5000))
    scanner = LogScanner(patterns, series_metric="loss", max_series=1000)
    scanner.feed(log)
    reading = scanner.close()
    assert list(reading.series) == [float(i) for i in range(1000)]
    assert reading.count["loss"] == 5000 and reading.value("loss") == 4999  # all still counted
    # Steps after a non-number are not comparable: the series ends there; a nan or inf is
    # kept as a last nan (the trial diverged at step 2).
    for bad in (b"nan", b"-inf", b"Infinity"):
        ended = scan_log([b"loss=1\nloss=%s\nloss=0.5\n" % bad], patterns, series_metric="loss")
        assert len(ended.series) == 2 and ended.series[0] == 1.0 and math.isnan(ended.series[1])
    assert diverged(ended.series) and list(finite_values(ended.series)) == [1.0]
    word = scan_log([b"loss=1\nloss=n/a\nloss=0.5\n"], patterns, series_metric="loss")
    assert list(word.series) == [1.0] and not diverged(word.series)  # not a number: no verdict
    assert not diverged(reading.series) and finite_values(reading.series) == reading.series


def test_scan_series_stops_reading_once_full_and_closes_the_stream() -> None:
    pattern = compile_metrics([("loss", r"loss=(\S+)")])["loss"]
    read: list[int] = []
    closed: list[bool] = []

    def stream() -> Iterator[bytes]:
        try:
            for i in range(100_000):
                read.append(i)
                yield (b"loss=%d\n" % i) * 1000  # 1000 matches (8 KB) per chunk
        finally:
            closed.append(True)

    series = scan_series(stream(), pattern, max_scan_bytes=1 << 30, max_series=2500)
    assert len(series) == 2500 and series[-1] == 2.0
    assert len(read) < 200 and closed == [True]  # about one 1 MiB block, not 800 MB
    bounded = scan_series(iter([b"loss=1\n" * 100]), pattern, max_scan_bytes=70)
    assert len(bounded) == 10
