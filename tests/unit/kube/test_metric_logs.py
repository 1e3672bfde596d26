"""Metric extraction: last match wins, counts, bounded memory, RE2 linear time."""

from __future__ import annotations

import math
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubetune.operator.api.constants import MAX_TRIAL_MESSAGE_LENGTH
from kubetune.operator.controller.types import diverged, finite_values, not_a_number_at
from kubetune.operator.kube.metric_logs import (
    FULL_NUMBER_GROUP,
    LogScanner,
    compile_metrics,
    line_time_ns,
    objective_outcome,
    scan_log,
    scan_series,
    scan_timed_series,
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


def test_an_objective_no_line_matched_names_the_container_whose_log_was_read() -> None:
    """QA67 L6: a sidecar listed first, no primaryContainer: its log was read."""
    patterns = compile_metrics([("validation:accuracy", r"accuracy=(\S+)")])
    reading = scan_log([b"shipping logs\n"], patterns)
    first = objective_outcome(reading, "validation:accuracy", "sidecar", first_of_several=True)
    assert (first.reason, first.message) == (
        "MetricUnavailable",
        "no line of container sidecar's log matched metric validation:accuracy (the first "
        "container; primaryContainer unset)",
    )
    assert len(first.message or "") <= MAX_TRIAL_MESSAGE_LENGTH
    named = objective_outcome(reading, "validation:accuracy", "trainer")
    assert named.message == "no line of container trainer's log matched metric validation:accuracy"


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
    assert not diverged(word.series)  # not a number: no verdict
    # QA82 M5: but marked, so that Hyperband says where the trial's rungs end.
    assert (not_a_number_at(word.series), list(finite_values(word.series))) == (2, [1.0])
    assert not_a_number_at(ended.series) is None and not_a_number_at(reading.series) is None
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


@pytest.mark.parametrize("size", [1, 5, 1 << 20])
def test_a_log_read_with_its_lines_times_gives_each_value_its_time(size: int) -> None:
    """The kubelet's `timestamps=true` (QA82 M7): the time is cut off before the regex sees
    a line (an anchored one still matches), and each value keeps when it was printed;
    RFC3339Nano has 0 to 9 fraction digits and the node's zone."""
    pattern = compile_metrics([("loss", r"^loss=(\S+)$")])["loss"]
    log = (
        b"2026-12-07T01:06:24.5Z epoch 1\n"
        b"2026-12-07T01:06:24.123456789Z loss=0.5\n"
        b"2026-12-07T03:06:25+02:00 loss=0.25\rloss=0.2\n"  # a rewritten line: one time
        b"loss=0.1\n"  # no time (not the kubelet's): the times end here
        b"2026-12-07T01:06:27Z loss=0.05\n"
    )
    series, times = scan_timed_series(
        chunks(log, size), pattern, max_scan_bytes=1 << 20, timestamps=True
    )
    at = line_time_ns(b"2026-12-07T01:06:24Z")
    assert at is not None and at % 1_000_000_000 == 0
    assert list(series) == [0.5, 0.25, 0.2, 0.1, 0.05]
    assert list(times) == [at + 123_456_789, at + 1_000_000_000, at + 1_000_000_000]
    # Read without times, the same log's stamped lines do not match the anchored regex.
    assert list(scan_series(iter([log]), pattern, max_scan_bytes=1 << 20)) == [0.2, 0.1]
    assert line_time_ns(b"07/12/2026") is None


MANTISSA = r"loss=([0-9\.]+)"  # the style the documentation recommended before
SCIENTIFIC = b"epoch 1 loss=0.0014910935887317597\nloss=1.4910935887317596e-06\n"


@pytest.mark.parametrize("size", [1, 7, 1 << 20])
def test_a_final_value_cut_before_its_exponent_is_kept_as_captured_and_named(size: int) -> None:
    """Python prints a loss below 1e-4 as 1.49e-06: `([0-9\\.]+)` captures 1.49. The value
    stays what the regex captured (the regex is the contract), but the trial's message
    says what the log had and how to capture the whole number."""
    reading = scan_log(chunks(SCIENTIFIC, size), compile_metrics([("loss", MANTISSA)]))
    assert reading.value("loss") == 1.4910935887317596
    assert reading.cut == {"loss": b"1.4910935887317596e-06"}
    outcome = objective_outcome(reading, "loss")
    assert (outcome.value, outcome.reason) == (1.4910935887317596, None)
    assert outcome.message == (
        f"metric loss: the regex captured 1.49109 of 1.49109e-06; capture whole numbers: "
        f"{FULL_NUMBER_GROUP}"
    )
    # It fits a trial's message whole, with an objective name as long as the examples'.
    renamed = compile_metrics([("validation:accuracy", MANTISSA)])
    long = objective_outcome(scan_log([SCIENTIFIC], renamed), "validation:accuracy").message
    assert long is not None and long.endswith(FULL_NUMBER_GROUP)
    assert len(long) <= MAX_TRIAL_MESSAGE_LENGTH


def test_the_recommended_group_captures_whole_numbers_nan_and_inf() -> None:
    patterns = compile_metrics([("loss", "loss=" + FULL_NUMBER_GROUP)])
    reading = scan_log([SCIENTIFIC], patterns)
    assert (reading.value("loss"), reading.cut) == (1.4910935887317596e-06, {})
    assert objective_outcome(reading, "loss").message is None
    for printed, value in [
        (b"loss=-0.5, acc=0.9", -0.5),
        (b"loss=1.4910935887317596e-06", 1.4910935887317596e-06),
        (b"loss=1e+16", 1e16),
        (b"loss=2.5E-3)", 0.0025),
        (b"loss=.5", 0.5),
    ]:
        assert scan_log([printed], patterns).value("loss") == value, printed
    for printed in (b"loss=nan", b"loss=inf", b"loss=-inf", b"loss=NaN", b"loss=-Infinity"):
        outcome = objective_outcome(scan_log([printed], patterns), "loss")
        assert outcome.reason == "ObjectiveNotFinite", printed


def test_only_the_last_match_counts_for_a_cut_number() -> None:
    """A cut in an earlier match (or an earlier block) is forgotten once a later last
    match is whole; a later cut is remembered whatever came before."""
    patterns = compile_metrics([("loss", MANTISSA)])
    healed = b"loss=1.5e-05\nloss=0.25\n"
    for block, size in ((0, 1), (0, 13), (1 << 20, 1 << 20)):  # one line a block, or all
        scanner = LogScanner(patterns, block_bytes=block)
        for chunk in chunks(healed, size):
            scanner.feed(chunk)
        reading = scanner.close()
        assert (reading.value("loss"), reading.count, reading.cut) == (0.25, {"loss": 2}, {})
    assert scan_log([b"loss=0.25\n", b"loss=2e-05\n"], patterns).cut == {"loss": b"2e-05"}


def test_a_cut_is_named_only_where_the_number_differs() -> None:
    """The decimals cut off (0 of 0.25) or the other digits (1 of 12) change the value;
    trailing zeros (3 of 3.0) do not, nor does what follows a whole number (1.5 of
    1.5.3, a version)."""
    patterns = compile_metrics(
        [("loss", r"loss=(\S+)"), ("acc", r"acc=([0-9]+)"), ("epoch", r"epoch ([0-9])")]
    )
    reading = scan_log([b"epoch 12 loss=0.5 acc=0.25\n"], patterns)
    outcome = objective_outcome(reading, "loss")
    assert (outcome.value, outcome.metrics) == (0.5, {"acc": 0.0, "epoch": 1.0})
    assert outcome.message == (
        f"metrics acc, epoch: the regexes captured 0 of 0.25, 1 of 12; capture whole numbers: "
        f"{FULL_NUMBER_GROUP}"
    )
    whole = scan_log([b"epoch 3.0 loss=0.5 version=1.5.3 acc=7\n"], patterns)
    assert objective_outcome(whole, "loss").message is None
    version = compile_metrics([("loss", r"version=([0-9]+\.[0-9]+)")])
    assert objective_outcome(scan_log([b"version=1.5.3\n"], version), "loss").message is None


def test_a_cut_number_and_a_metric_that_never_matched_share_the_message() -> None:
    patterns = compile_metrics([("loss", MANTISSA), ("never", r"zzz=(\S+)")])
    outcome = objective_outcome(scan_log([b"loss=4.2E-7\n"], patterns), "loss")
    assert outcome.message == (
        f"metric loss: the regex captured 4.2 of 4.2e-07; capture whole numbers: "
        f"{FULL_NUMBER_GROUP}; metric never never matched the log (no value recorded); "
        "check its regex"
    )


@pytest.mark.parametrize("size", [1, 5, 1 << 20])
def test_a_final_value_that_shared_its_line_with_another_match_is_named(size: int) -> None:
    """QA105 #5: `loss=` also matches in `val_loss=`; the last match stays the value (the
    regex is the contract, as AMT's), and the trial's message says which two the line
    gave and how to match only one."""
    patterns = compile_metrics([("loss", r"loss=([-+0-9.eE]+)"), ("acc", r"acc=(\S+)")])
    log = b"epoch 1 loss=0.9 val_loss=0.3 acc=0.5\nepoch 2 loss=0.8 val_loss=0.25 acc=0.6\n"
    reading = scan_log(chunks(log, size), patterns)
    assert reading.shared == {"loss": b"0.8"}
    outcome = objective_outcome(reading, "loss")
    assert outcome.value == 0.25
    assert outcome.message == (
        "metric loss: the last line matched twice (0.8, then 0.25, kept); match only its own "
        "value (e.g. \\b before the name)"
    )
    assert len(outcome.message) <= MAX_TRIAL_MESSAGE_LENGTH


def test_only_the_last_matching_line_counts_for_a_shared_line() -> None:
    """Matches on earlier lines, or earlier blocks, say nothing once the last line has one
    match; a last line with two is named whatever came before (a truncated log's tail
    too)."""
    patterns = compile_metrics([("loss", r"loss=([-+0-9.eE]+)")])
    assert scan_log([b"loss=0.9\nloss=0.8\n"], patterns).shared == {}
    assert scan_log([b"loss=1 val_loss=2\n", b"loss=0.8\n"], patterns).shared == {}
    assert scan_log([b"loss=0.8\n", b"loss=1 val_loss=2\n"], patterns).shared == {"loss": b"1"}
    reading = scan_log(chunks(b"loss=1 val_loss=2\n" * 100, 18), patterns, max_scan_bytes=540)
    assert reading.truncated and reading.shared == {"loss": b"1"}
    reading.merge_tail(scan_log([b"loss=0.5\n"], patterns))
    assert (reading.value("loss"), reading.shared) == (0.5, {})


def test_the_tail_of_a_truncated_log_decides_whether_the_final_value_was_cut() -> None:
    patterns = compile_metrics([("loss", MANTISSA)])
    reading = scan_log(chunks(b"loss=1e-07\n" * 100, 11), patterns, max_scan_bytes=550)
    assert reading.truncated and reading.cut == {"loss": b"1e-07"}
    reading.merge_tail(scan_log([b"loss=0.5\n"], patterns))
    assert (reading.value("loss"), reading.cut) == (0.5, {})
    reading.merge_tail(scan_log([b"loss=3e-07\n"], patterns))
    assert (reading.value("loss"), reading.cut) == (3.0, {"loss": b"3e-07"})


def test_a_syntax_error_quotes_the_regex_as_written() -> None:
    """RE2 quotes the pattern it compiled; the operator's multi-line prefix is not the
    user's, so it is not shown."""
    with pytest.raises(ValueError) as error:
        compile_metrics([("loss", r"loss=(\S+")])
    assert str(error.value) == (
        r"metric loss: 'loss=(\S+' is not a valid RE2 regular expression (missing ): "
        r"loss=(\S+); fix the pattern (RE2 has no look-around and no back-references)"
    )
    with pytest.raises(ValueError, match=r"missing \): \(\?m\)\(") as own:
        compile_metrics([("loss", "(?m)(")])  # a (?m) the user wrote is theirs
    assert "(?m)(?m)" not in str(own.value)


def test_the_documentation_recommends_the_whole_number_group() -> None:
    """The README and docs/, the examples and the API reference (generated from operator/api)
    show one regex style, the one that captures sign, exponent, nan and inf."""
    root = Path(__file__).resolve().parents[3]
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]  # its full texts
    readme = "\n".join(page.read_text() for page in pages).splitlines()
    shown = [line for line in readme if line.strip().startswith("regex:")]
    assert shown and all(FULL_NUMBER_GROUP in line for line in shown), shown
    reference = (root / "docs" / "tuningjob-reference.md").read_text()
    in_table = FULL_NUMBER_GROUP.replace("|", "\\|")  # a Markdown table escapes |
    assert f"e.g. `validation: accuracy={in_table}`" in reference
    examples = sorted((root / "examples").glob("*.yaml"))
    regexes = [
        metric["regex"]
        for example in examples
        for document in yaml.safe_load_all(example.read_text())
        if (document or {}).get("kind") == "TuningJob"
        for metric in document["spec"]["metrics"]
    ]
    assert regexes and all(regex.endswith(FULL_NUMBER_GROUP) for regex in regexes), regexes


def test_a_number_with_thousands_separators_is_named_with_the_fix() -> None:
    """QA105 #11: `f"{x:,}"` prints 1,234.5; the recommended group captures 1, a value off
    by a factor of a thousand, kept as captured (the regex is the contract) but named in
    the trial's message with the fix; a capture of the whole text is no number, and its
    message says the same fix. A regex that goes on past the comma reads it as a
    delimiter (a CSV line), and one whose number is whole is left alone."""
    group = compile_metrics([("loss", "loss=" + FULL_NUMBER_GROUP)])
    outcome = objective_outcome(scan_log([b"loss=12,345,678.25 acc=1\n"], group), "loss")
    assert (outcome.value, outcome.reason) == (12.0, None)
    assert outcome.message == (
        "metric loss: the regex captured 12 of 12,345,678.25; print numbers without "
        "thousands separators"
    )
    both = compile_metrics([("loss", "loss=" + FULL_NUMBER_GROUP), ("lr", r"lr=([0-9.]+)")])
    outcome = objective_outcome(scan_log([b"loss=1,234 lr=1.5e-05\n"], both), "loss")
    assert outcome.message == (
        "metrics loss, lr: the regexes captured 1 of 1,234, 1.5 of 1.5e-05; print numbers "
        f"without thousands separators; capture whole numbers: {FULL_NUMBER_GROUP}"
    )
    whole_text = compile_metrics([("loss", r"loss=(\S+)")])
    outcome = objective_outcome(scan_log([b"loss=1,234\n"], whole_text), "loss")
    assert (outcome.value, outcome.reason) == (None, "MetricUnavailable")
    assert outcome.message == (
        "the last match of metric loss is not a number: '1,234'; print numbers without "
        "thousands separators"
    )
    csv = compile_metrics([("loss", r"^([0-9]+),")])
    assert objective_outcome(scan_log([b"1,234,0.5\n"], csv), "loss").message is None
    for printed in (b"loss=0.5,123\n", b"loss=1,2345\n", b"loss=7, acc=0.9\n"):
        assert objective_outcome(scan_log([printed], group), "loss").message is None, printed
