"""What `kubetune` says of a job that no operator serves, and of one being deleted: pure
functions of the heartbeat Leases, the TuningJob and the time (no cluster)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from kubetune.analytics.resource import TuningJobView, parse_tuning_job
from kubetune.cli import serving, views
from kubetune.operator.api.heartbeat import lease_body

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
