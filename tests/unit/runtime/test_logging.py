"""The operator's log: every line about a TuningJob names it, and the news of a tuning run
(trials launched and ended, the job's end) is one line each, nothing per reconcile."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import kopf
import pytest
from kubetune.operator.controller import Event
from kubetune.operator.kube import NO_TELEMETRY
from kubetune.operator.runtime.events import EventPoster, log_events
from kubetune.operator.runtime.handlers import _ended
from kubetune.operator.runtime.log_filter import QuietSuccesses
from kubetune.operator.runtime.main import configure_logging

TUNING_JOB = {
    "apiVersion": "kubetune.io/v1alpha1",
    "kind": "TuningJob",
    "metadata": {"namespace": "team-a", "name": "lr-search", "uid": "u1"},
}


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Root and asyncio loggers as they were, after a test that configures logging."""
    root, quiet = logging.getLogger(), logging.getLogger("asyncio")
    saved = (root.handlers[:], root.level, quiet.handlers[:], quiet.propagate)
    yield
    root.handlers[:], level, quiet.handlers[:], quiet.propagate = saved
    root.setLevel(level)


def kopf_record(message: str) -> logging.LogRecord:
    """A record as kopf's per-object logger (the handlers' `logger`) makes it."""
    adapter = kopf.ObjectLogger(body=kopf.Body(TUNING_JOB), settings=kopf.OperatorSettings())
    msg, kwargs = adapter.process(message, {})
    return adapter.logger.makeRecord(
        adapter.logger.name, logging.INFO, __file__, 1, msg, (), None, extra=kwargs["extra"]
    )


def test_kopfs_lines_about_an_object_name_it(root_logging: None) -> None:
    configure_logging(verbose=False)
    handler = logging.getLogger().handlers[-1]  # kopf's, added last (pytest has its own)
    line = handler.format(kopf_record("reconcile failed; retrying in 1 s"))
    assert "[team-a/lr-search] reconcile failed; retrying in 1 s" in line
    assert logging.getLogger().level == logging.INFO


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        ("Handler 'pod_changed' succeeded.", False),
        ("Daemon 'tuning-job' succeeded.", False),
        ("Daemon 'tuning-job' is cancelled. Will escalate.", False),
        ("Handler 'pod_changed' failed with an exception. Will retry.", True),
        ("Daemon 'tuning-job' failed with an exception and will stop now.", True),
    ],
)
def test_only_kopfs_success_lines_are_dropped(message: str, kept: bool) -> None:
    assert QuietSuccesses().filter(kopf_record(message)) is kept


def test_each_event_is_one_line_naming_the_job_at_its_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = (
        Event("Normal", "TrialCreated", "trial lr-search-003: lr=0.01"),
        Event("Warning", "TrialFailed", "trial lr-search-002: Error: exit 1\nTraceback:\n  x"),
        Event("Normal", "MaxTrialsReached", "3 trials done, limits.maxTrials is 3"),
    )
    with caplog.at_level(logging.INFO, logger="kubetune.operator"):
        log_events(TUNING_JOB, events, ended=("Completed", "MaxTrialsReached"))

    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "[team-a/lr-search] TrialCreated: trial lr-search-003: lr=0.01"),
        (
            logging.WARNING,
            "[team-a/lr-search] TrialFailed: trial lr-search-002: Error: exit 1 Traceback: x",
        ),
        (
            logging.INFO,
            "[team-a/lr-search] TuningJob Completed (MaxTrialsReached): 3 trials "
            "done, limits.maxTrials is 3",
        ),
    ]


def test_events_dropped_for_a_full_backlog_are_still_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    poster = EventPoster(NO_TELEMETRY, threads=1, max_pending=0)
    kube: Any = None  # never called: the batch is dropped
    with caplog.at_level(logging.INFO, logger="kubetune.operator"):
        poster.post(kube, TUNING_JOB, (Event("Normal", "TrialCompleted", "trial x: 0.5"),))
    poster.shutdown()
    assert [r.getMessage() for r in caplog.records] == [
        "[team-a/lr-search] TrialCompleted: trial x: 0.5"
    ]


def status(phase: str | None, reason: str | None = None) -> dict[str, Any]:
    return {**TUNING_JOB, "status": {"phase": phase, "reason": reason}}


@pytest.mark.parametrize(
    ("read", "written", "ended"),
    [
        (
            status("InProgress"),
            status("Completed", "MaxTrialsReached"),
            ("Completed", "MaxTrialsReached"),
        ),
        (status(None), status("Failed", "InvalidSpec"), ("Failed", "InvalidSpec")),
        (status("InProgress"), status("InProgress"), None),
        (status("InProgress"), None, None),  # no status written: read live next time
        (status("Stopped", "StoppedByUser"), status("Stopped", "StoppedByUser"), None),
    ],
)
def test_a_job_has_ended_in_the_reconcile_that_wrote_its_terminal_phase(
    read: dict[str, Any], written: dict[str, Any] | None, ended: tuple[str, str] | None
) -> None:
    assert _ended(read, written) == ended
