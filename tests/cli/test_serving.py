"""What `kubetune` says of a job that no operator serves, and of one being deleted: pure
functions of the heartbeat Leases, the TuningJob and the time (no cluster)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubetune.analytics.resource import TuningJobView, parse_tuning_job
from kubetune.cli import main as cli_main
from kubetune.cli import serving, views, watch
from kubetune.operator.api.heartbeat import lease_body
from synthetic_tuning_job import synthetic_tuning_job

NOW = datetime(2026, 1, 2, tzinfo=UTC)
"""After every time the synthetic job records (it starts on 2026-01-01)."""


def _lease(patterns: list[str], renewed: datetime, name: str = "kubetune") -> dict[str, Any]:
    return lease_body(name, "kubetune-system", "kubetune-7d9f-x2", patterns, 15, renewed)


def test_a_live_lease_serving_the_namespace_says_nothing() -> None:
    fresh = NOW - timedelta(seconds=20)
    stale_everywhere = _lease([], NOW - timedelta(hours=3), "old")
    assert serving.unserved([_lease(["ml"], fresh), stale_everywhere], "ml", NOW) is None
    assert serving.unserved([_lease([], fresh)], "ml", NOW) is None  # every namespace
    assert serving.unserved([_lease(["ml-*"], fresh)], "ml-a", NOW) is None


def test_a_stale_lease_names_how_long_and_what_to_check(view: TuningJobView) -> None:
    """Gone 7 minutes (helm uninstall, scaled to 0, crashed): the Lease stays, stale."""
    seen = NOW - timedelta(minutes=7)
    absence = serving.unserved([_lease(["default"], seen)], "default", NOW)
    assert absence == serving.Unserved(
        "default", seen, "kubetune-system/kubetune, last renewed by kubetune-7d9f-x2"
    )
    text = serving.unserved_text(absence, NOW, serving.as_of(view, absence))
    assert text.startswith(
        "no kubetune operator serving namespace default has been seen for 7m00s (heartbeat "
        "Lease kubetune-system/kubetune, last renewed by kubetune-7d9f-x2). Is the operator "
        "running (`kubectl get deploy -A -l app.kubernetes.io/part-of=kubetune`), and do its "
        "namespaces (the chart's watchNamespaces) include default? Until one serves it, the "
        "phase and the running trials are as last recorded, running trials' durations "
        "counted to 2026-01-01 23:53:00 UTC."
    ), text


def test_the_lease_renewed_last_is_named_among_stale_ones() -> None:
    leases = [
        _lease(["default"], NOW - timedelta(hours=2), "a"),
        _lease([], NOW - timedelta(minutes=5), "b"),
    ]
    absence = serving.unserved(leases, "default", NOW)
    assert absence is not None and absence.last_seen == NOW - timedelta(minutes=5)
    assert absence.lease.startswith("kubetune-system/b,")


def test_operators_that_serve_other_namespaces_only_are_named() -> None:
    """`helm upgrade --set 'watchNamespaces={other}'`: the operator runs, elsewhere."""
    absence = serving.unserved([_lease(["other"], NOW)], "default", NOW)
    assert absence == serving.Unserved(
        "default", None, elsewhere=("other (Lease kubetune-system/kubetune)",)
    )
    text = serving.unserved_text(absence, NOW)
    assert text.startswith(
        "no kubetune operator serving namespace default has been seen (no heartbeat Lease "
        "names it); the operators running serve only: other (Lease kubetune-system/kubetune). "
    ), text
    assert "durations counted" not in text
    # No heartbeat Lease at all: an operator from before the heartbeat may serve it.
    assert serving.unserved([], "default", NOW) is None


def test_running_trials_are_counted_to_the_last_heartbeat_not_now(
    view: TuningJobView,
) -> None:
    """A trial that ended while no operator served its job is not shown running on and on:
    its duration stops at the last time an operator was seen."""
    running = [t for t in view.trials if t.phase == "Running"]
    assert running
    latest = max(t for trial in view.trials for t in (trial.start_time, trial.end_time) if t)
    seen = latest + timedelta(seconds=40)
    absence = serving.unserved([_lease([], seen)], "default", NOW)
    assert absence is not None
    counted = serving.as_of(view, absence)
    assert counted == seen
    records = json.loads(views.trials_output(view, "json", counted))
    for trial in running:
        (record,) = [r for r in records if r["trial"] == trial.name]
        assert record["durationSeconds"] == (seen - trial.start_time).total_seconds()
    # No Lease names it, or one renewed long before: the latest time the status records.
    never = serving.Unserved("default", None)
    assert serving.as_of(view, never) == latest
    assert serving.as_of(view, serving.Unserved("default", latest - timedelta(days=9))) == latest


def test_describe_says_deleting_and_no_operator(body: dict[str, Any]) -> None:
    body["metadata"]["deletionTimestamp"] = "2026-01-01T23:58:00Z"
    body["metadata"]["finalizers"] = ["kubetune.io/finalizer"]
    view = parse_tuning_job(body)
    absence = serving.Unserved("default", None)
    text = views.describe_text(view, [], NOW, operator=serving.unserved_text(absence, NOW))
    lines = text.splitlines()
    deleting = next(line for line in lines if line.startswith("Deleting:"))
    assert deleting == (
        "Deleting:   for 2m00s: waiting for the kubetune operator to remove its finalizer "
        "kubetune.io/finalizer; its trials' Jobs and pods are then deleted with it."
    )
    operator = next(line for line in lines if line.startswith("Operator:"))
    assert operator.startswith("Operator:   No kubetune operator serving namespace default")
    assert serving.deleting_note(view, NOW) == f'TuningJob "{view.name}" is being deleted for ' + (
        deleting.removeprefix("Deleting:   for ") + "\n"
    )


def test_deleting_names_other_finalizers_and_none(body: dict[str, Any]) -> None:
    body["metadata"]["deletionTimestamp"] = "2026-01-01T23:59:30Z"
    body["metadata"]["finalizers"] = ["kubetune.io/finalizer", "example.com/backup"]
    text = serving.deleting_text(parse_tuning_job(body), NOW)
    assert text is not None and text.endswith("; and waiting for finalizers example.com/backup")
    body["metadata"]["finalizers"] = []
    text = serving.deleting_text(parse_tuning_job(body), NOW)
    assert text == "for 30s: waiting for its trials' Jobs to be deleted"


def test_a_job_not_being_deleted_and_served_gets_no_lines(view: TuningJobView) -> None:
    assert serving.deleting_text(view, NOW) is None
    text = views.describe_text(view, [], NOW)
    assert "Deleting:" not in text and "Operator:" not in text


def test_the_advice_carries_the_context_and_kubeconfig_given() -> None:
    """Copied, `kubectl get deploy` asks the cluster that kubetune was told to ask."""
    assert serving.kubectl() == "kubectl"
    command = serving.kubectl("kind a", "/home/me/k.yaml")
    assert command == "kubectl --context 'kind a' --kubeconfig /home/me/k.yaml"
    absence = serving.Unserved("default", None)
    text = serving.unserved_text(absence, NOW, command=command)
    assert (
        "Is the operator running (`kubectl --context 'kind a' --kubeconfig /home/me/k.yaml get "
        "deploy -A -l app.kubernetes.io/part-of=kubetune`)"
    ) in text, text
    assert "(`kubectl get deploy -A -l " in serving.unserved_text(absence, NOW)


class Leases:
    """The heartbeat Leases as `watch` lists them: `states` in turn, each a stale or a live
    Lease serving every namespace (None: the user may not list Leases), the last for ever
    after; counts the LISTs."""

    def __init__(self, *states: str | None) -> None:
        self.states, self.reads = list(states), 0

    def __call__(self) -> list[dict[str, Any]] | None:
        self.reads += 1
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        if state is None:
            return None
        now = datetime.now(UTC)
        stale = now - timedelta(minutes=7, seconds=0.5)  # 7m00s before the read of the job
        return [_lease([], now if state == "live" else stale)]


def test_watch_reads_the_leases_at_most_every_operator_check_seconds(
    view: TuningJobView,
) -> None:
    """Not one LIST in every namespace per read of the job (--interval 2)."""
    leases, clock = Leases("stale", "live"), [100.0]
    operator = watch.Operator(leases, clock=lambda: clock[0])
    assert operator.every == watch.OPERATOR_CHECK_SECONDS == 15
    first = operator.unserved(view, datetime.now(UTC))
    assert first is not None and first.namespace == "default" and leases.reads == 1
    clock[0] += 14.9  # the operator is back meanwhile: said at the next LIST
    assert operator.unserved(view, datetime.now(UTC)) == first and leases.reads == 1
    clock[0] += 0.1
    assert operator.unserved(view, datetime.now(UTC)) is None and leases.reads == 2
    # A finished job needs no operator: nothing said, nothing read.
    done = parse_tuning_job(synthetic_tuning_job("done", 3))
    assert done.terminal and operator.unserved(done, datetime.now(UTC)) is None
    assert leases.reads == 2
    # Leases the user may not list: nothing said.
    silent = watch.Operator(Leases(None))
    assert silent.unserved(view, datetime.now(UTC)) is None


class Job:
    """A TuningJob as `follow` watches it: `reads` unfinished reads, then ended."""

    def __init__(self, reads: int) -> None:
        self.left = reads

    def read(self) -> TuningJobView:
        self.left -= 1
        ended = self.left < 0
        return parse_tuning_job(synthetic_tuning_job("w", 4, running=0 if ended else 1))

    def latest(self, view: TuningJobView) -> dict[str, watch.Reading]:
        return {}

    def wait(self, view: TuningJobView, until: float) -> None:
        return None

    def after_timeout(self, view: TuningJobView) -> str:
        return ""


def _follow(
    leases: Callable[[], list[dict[str, Any]] | None], reads: int, terminal: bool
) -> list[str]:
    args = cli_main.build_parser().parse_args(["watch", "w", "--interval", "0.01"])
    ctx = cli_main.Context(args, io.StringIO(), io.StringIO())
    operator = watch.Operator(leases, "kubectl --kubeconfig k", every=0)
    assert watch.follow(ctx, Job(reads), terminal, operator) == cli_main.EXIT_OK
    return ctx.out.getvalue().splitlines()  # type: ignore[attr-defined]


def test_quiet_watch_notes_once_when_no_operator_serves_the_job_and_when_one_does_again() -> None:
    """A piped watch (a CI log) of a job whose operator died: one line when it is seen
    gone, one when it is back, not one per read."""
    leases = Leases("live", "stale", "stale", "stale", "live", "live", "stale")
    lines = _follow(leases, reads=8, terminal=False)
    notes = [line for line in lines if line.startswith("Note: ")]
    assert leases.reads == 8  # the job's last read, ended, needs no operator
    gone = (
        "Note: no kubetune operator serving namespace default has been seen for 7m00s "
        "(heartbeat Lease kubetune-system/kubetune, last renewed by kubetune-7d9f-x2). Is "
        "the operator running (`kubectl --kubeconfig k get deploy -A -l "
        "app.kubernetes.io/part-of=kubetune`)"
    )
    back = "Note: a kubetune operator serves namespace default again: the status shown is"
    assert len(notes) == 3, lines
    assert notes[0].startswith(gone) and notes[2].startswith(gone), notes
    assert notes[1].startswith(back), notes
    assert "durations counted" not in notes[0]  # the quiet lines show no durations
    assert lines[0].startswith("TuningJob default/w: InProgress")
    assert lines[-1].startswith("TuningJob w: Completed")  # no note that it is served
    # Served throughout, or Leases the user may not list: nothing said.
    assert not [x for x in _follow(Leases("live"), 3, False) if x.startswith("Note")]
    assert not [x for x in _follow(Leases(None), 3, False) if x.startswith("Note")]


def test_watch_screen_shows_the_note_while_no_operator_serves_the_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under the screen's first line, at every redraw while unserved; gone once served.
    The redraw goes up over the rows the wrapped note took."""
    monkeypatch.setenv("COLUMNS", "80")
    text = "\n".join(_follow(Leases("stale", "live"), reads=2, terminal=True))
    screens = re.split(r"\x1b\[(\d+)F\x1b\[J", text)
    assert len(screens) == 5  # three draws (two reads unfinished, the ended one), 2 ups
    first = screens[0].splitlines()
    assert int(screens[1]) == watch.screen_rows(first, 80) > len(first) + 3
    assert first[0].startswith("TuningJob default/w: InProgress")
    assert first[1].startswith("Note: no kubetune operator serving namespace default has")
    assert "running trials' durations counted to" in first[1]
    assert "Note:" not in screens[2] and "Note:" not in screens[4]


def test_a_redraw_goes_up_over_the_rows_of_wrapped_lines() -> None:
    assert watch.screen_rows(["a" * 80, "b" * 81, "", "c"], 80) == 1 + 2 + 1 + 1
    assert watch.screen_rows(["x" * 400], 100) == 4
