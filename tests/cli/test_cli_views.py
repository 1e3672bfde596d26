"""What the commands print, from a synthetic TuningJob: parsed back and compared with its
status (no cluster)."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import CoreV1Event, V1ObjectMeta, V1ObjectReference
from kubetune.analytics.cluster import event_order
from kubetune.analytics.errors import KubetuneError, NotFoundError, UsageError
from kubetune.analytics.records import columns
from kubetune.analytics.resource import TuningJobView, parse_tuning_job
from kubetune.cli import output, views
from support.cli_data import (
    HYPERBAND_RUNGS,
    NOW,
    hyperband_job_before_its_end,
    hyperband_tuning_job,
)
from synthetic_tuning_job import synthetic_tuning_job

TUNED = ["learning_rate", "momentum", "wd", "num_layers", "optimizer"]


def test_csv_has_every_trial_hyperparameter_and_metric_of_the_status(
    body: dict[str, Any], view: TuningJobView
) -> None:
    rows = list(csv.DictReader(io.StringIO(views.trials_output(view, "csv", NOW))))
    trials = body["status"]["trials"]
    assert [r["trial"] for r in rows] == [t["name"] for t in trials]
    for row, trial in zip(rows, trials, strict=True):
        assert row["phase"] == trial["phase"]
        assert {k: row[k] for k in TUNED} == trial["hyperparameters"]  # exact text
        if "objective" in trial:
            assert float(row["objective"]) == trial["objective"]
            assert float(row["train:loss"]) == trial["metrics"]["train:loss"]
        else:
            assert row["objective"] == row["train:loss"] == ""
        assert row["reason"] == trial.get("reason", "")
        assert int(row["attempt"]) == trial["attempt"]
        assert row["start"] == trial["startTime"]


def test_json_and_yaml_documents_match_the_status(
    body: dict[str, Any], view: TuningJobView
) -> None:
    for text, load in (
        (views.trials_output(view, "json", NOW), json.loads),
        (views.trials_output(view, "yaml", NOW), yaml.safe_load),
    ):
        documents = load(text)
        for document, trial in zip(documents, body["status"]["trials"], strict=True):
            assert document["trial"] == trial["name"]
            assert document["hyperparameters"] == trial["hyperparameters"]
            assert document["metrics"] == trial.get("metrics", {})
            assert document["objective"] == trial.get("objective")
            if trial["phase"] != "Running":
                assert document["durationSeconds"] == 45 + int(trial["name"][-3:]) % 20


def test_sort_objective_puts_the_best_first_and_unscored_last(view: TuningJobView) -> None:
    rows = list(csv.DictReader(io.StringIO(views.trials_output(view, "csv", NOW, "objective"))))
    scored = [float(r["objective"]) for r in rows if r["objective"]]
    assert scored == sorted(scored, reverse=True)  # maximize: largest first
    assert all(not r["objective"] for r in rows[len(scored) :])
    assert rows[0]["trial"] == view.status.best_trial.name  # type: ignore[union-attr]
    worst_first = views.trials_output(view, "csv", NOW, "-objective")
    assert float(next(iter(csv.DictReader(io.StringIO(worst_first))))["objective"]) == min(scored)


def test_minimize_sorts_smallest_first() -> None:
    body = synthetic_tuning_job("m", 12)
    body["spec"]["objective"]["type"] = "Minimize"
    rows = csv.DictReader(
        io.StringIO(views.trials_output(parse_tuning_job(body), "csv", NOW, "objective"))
    )
    scored = [float(r["objective"]) for r in rows if r["objective"]]
    assert scored == sorted(scored)


def test_sort_by_a_hyperparameter_is_numeric_and_top_cuts(view: TuningJobView) -> None:
    text = views.trials_output(view, "csv", NOW, "momentum", top=5)
    values = [float(r["momentum"]) for r in csv.DictReader(io.StringIO(text))]
    every = sorted(float(t.hyperparameters["momentum"]) for t in view.trials)
    assert values == every[:5]


def test_unknown_sort_field_names_the_columns(view: TuningJobView) -> None:
    with pytest.raises(UsageError, match=r"--sort -speed: no column 'speed'.*learning_rate") as e:
        views.trials_output(view, "table", NOW, "-speed")
    # The columns as the table shows them (CSV's durationSeconds is the table's duration).
    assert ", duration, " in str(e.value) and "durationSeconds" not in str(e.value)


@pytest.mark.parametrize("objective_type", ["Maximize", "Minimize"])
def test_sort_by_a_rung_column_puts_the_best_first_as_objective_does(objective_type: str) -> None:
    body = hyperband_tuning_job(30)
    body["spec"]["objective"]["type"] = objective_type
    view = parse_tuning_job(body)
    best_first = objective_type == "Maximize"
    for column in ("objective", *(f"objective@{e}" for e in HYPERBAND_RUNGS)):
        for sort, reverse in ((column, best_first), (f"-{column}", not best_first)):
            rows = csv.DictReader(io.StringIO(views.trials_output(view, "csv", NOW, sort)))
            values = [float(r[column]) for r in rows if r[column]]
            assert len(values) > 3 and values == sorted(values, reverse=reverse), sort


def test_table_shows_names_phases_and_short_numbers(view: TuningJobView) -> None:
    lines = views.trials_output(view, "table", NOW).splitlines()
    header = lines[0].split()
    assert header[:3] == ["trial", "phase", "objective"]
    assert {*TUNED, "train:loss", "duration"} <= set(header)
    assert len(lines) == 31
    first = view.trials[0]
    assert lines[1].split()[0] == first.name
    assert output.hyperparameter(first.hyperparameters["momentum"]) in lines[1]
    assert len(output.hyperparameter(first.hyperparameters["momentum"])) <= 8


def test_declared_metrics_always_have_a_column_and_names_that_collide_get_a_prefix() -> None:
    body = synthetic_tuning_job("c", 3)
    for trial in body["status"]["trials"]:
        trial.pop("metrics", None)
    assert "train:loss" in columns(parse_tuning_job(body)).names()  # declared (QA84 M2)
    assert "extra" not in columns(parse_tuning_job(body)).names()
    body["status"]["trials"][0]["metrics"] = {"extra": 1.0}  # recorded, not declared
    assert columns(parse_tuning_job(body)).names()[-9:-7] == ["train:loss", "extra"]
    body = synthetic_tuning_job("c", 3)
    body["spec"]["parameters"][1]["name"] = "phase"
    for trial in body["status"]["trials"]:
        trial["hyperparameters"]["phase"] = trial["hyperparameters"].pop("momentum")
    names = columns(parse_tuning_job(body)).names()
    assert "hp:phase" in names and names.count("phase") == 1


NEVER_MATCHED = "metric acc never matched the log (no value recorded); check its regex"


def test_table_shows_the_trials_messages_when_one_has_a_message() -> None:
    """A succeeded trial's message (a metric that never matched) is shown, not only in
    CSV, JSON and YAML; a job whose trials have none gets no empty column."""
    body = synthetic_tuning_job("msg", 6)
    trials = body["status"]["trials"]
    trials[0]["message"] = NEVER_MATCHED
    trials[4]["message"] = "first line\n  second line"  # one table row, one line
    lines = views.trials_output(parse_tuning_job(body), "table", NOW).splitlines()
    assert len(lines) == 7 and lines[0].split()[-1] == "message"
    assert lines[1].startswith("msg-001") and lines[1].endswith(f"   {NEVER_MATCHED}")
    assert trials[4]["phase"] == "Failed" and lines[5].endswith("   first line second line")
    assert lines[2].endswith("   -")  # no message
    for trial in trials:
        trial.pop("message", None)
    header = views.trials_output(parse_tuning_job(body), "table", NOW).splitlines()[0]
    assert "message" not in header.split()


def test_describe_shows_the_messages_of_succeeded_trials_each_once() -> None:
    body = synthetic_tuning_job("multi", 30)
    succeeded = [t for t in body["status"]["trials"] if t["phase"] == "Succeeded"]
    for trial in succeeded:
        trial["message"] = NEVER_MATCHED
    captured = "metric loss: the regex captured 1.49 of 1.49e-06; widen it"
    succeeded[3]["message"] = captured
    text = views.describe_text(parse_tuning_job(body), [], NOW)
    names = [t["name"] for t in succeeded]
    others = len(succeeded) - 1
    assert (
        "Succeeded trials' messages:\n"
        f"  {others} of {len(succeeded)} ({', '.join(names[:3])} and {others - 3} more): "
        f"{NEVER_MATCHED}\n"
        f"  1 of {len(succeeded)} ({names[3]}): {captured}\n"
        "Conditions:"
    ) in text, text
    # A failed trial's message is the job's and its Events' business, not this section's.
    for trial in succeeded:
        del trial["message"]
    assert "messages" not in views.describe_text(parse_tuning_job(body), [], NOW)


def test_describe_lists_a_few_messages_and_says_where_the_rest_are() -> None:
    body = synthetic_tuning_job("many", 30)
    succeeded = [t for t in body["status"]["trials"] if t["phase"] == "Succeeded"]
    for index, trial in enumerate(succeeded):
        trial["message"] = f"metric loss: the regex captured 1.{index} of 1.{index}e-06"
    text = views.describe_text(parse_tuning_job(body), [], NOW)
    shown = [line for line in text.splitlines() if "the regex captured" in line]
    assert len(shown) == views.DESCRIBED_MESSAGES
    hidden = len(succeeded) - views.DESCRIBED_MESSAGES
    assert f"  ... {hidden} more messages: `kubetune trials many` shows each trial's\n" in text, (
        text
    )


def test_hyperband_trials_show_their_epochs_and_the_value_at_each_rung() -> None:
    body = hyperband_tuning_job(30)
    view = parse_tuning_job(body)
    rung_columns = [f"objective@{e}" for e in HYPERBAND_RUNGS]
    assert columns(view).names()[:7] == ["trial", "phase", "objective", "epochs", *rung_columns]
    rows = list(csv.DictReader(io.StringIO(views.trials_output(view, "csv", NOW))))
    documents = json.loads(views.trials_output(view, "json", NOW))
    for row, document, trial in zip(rows, documents, body["status"]["trials"], strict=True):
        values = trial["rungValues"]
        assert [float(row[c]) for c in rung_columns[: len(values)]] == values
        assert all(row[c] == "" for c in rung_columns[len(values) :])
        assert row["epochs"] == str(trial.get("epochs", ""))
        assert document["epochs"] == trial.get("epochs")
        assert document["rungs"] == [
            {"epochs": e, "objective": v} for e, v in zip(HYPERBAND_RUNGS, values, strict=False)
        ]
    header = views.trials_output(view, "table", NOW).splitlines()[0].split()
    assert header[3:7] == ["epochs", *rung_columns]
    stopped = [r for r in rows if r["phase"] == "EarlyStopped"]
    assert {r["epochs"] for r in stopped} == {"1", "3"}  # both kinds of stop are shown
    # Other strategies have no such columns.
    assert "epochs" not in columns(parse_tuning_job(synthetic_tuning_job("b", 3))).names()


def test_a_running_hyperband_trial_shows_the_epochs_of_its_highest_rung_as_a_lower_bound() -> None:
    """QA67 L5: a running trial's epochs are written when it ends; the table shows at least
    the epochs of the highest rung it printed a value at (`≥3`), CSV leaves it empty."""
    body = hyperband_tuning_job(12)
    view = parse_tuning_job(body)
    running = [t["name"] for t in body["status"]["trials"] if t["phase"] == "Running"]
    assert running and all(len(t.rung_values) == 2 for t in view.trials if t.name in running)
    table = views.trials_output(view, "table", NOW).splitlines()
    epochs = table[0].split().index("epochs")
    shown = {line.split()[0]: line.split()[epochs] for line in table[1:]}
    assert {shown[name] for name in running} == {"≥3"}
    rows = csv.DictReader(io.StringIO(views.trials_output(view, "csv", NOW)))
    assert {r["epochs"] for r in rows if r["trial"] in running} == {""}
    # Before its first rung: nothing known yet.
    for trial in body["status"]["trials"]:
        if trial["name"] == running[0]:
            trial["rungValues"], trial["rungSeqs"] = [], []
    table = views.trials_output(parse_tuning_job(body), "table", NOW).splitlines()
    line = next(x for x in table if x.startswith(running[0]))
    assert line.split()[epochs] == "-"


def test_best_of_a_hyperband_job_whose_best_is_a_rung_value_says_so_on_its_own() -> None:
    """QA67 L8: the note for stderr names the rung and how far the trial got; a job with
    a trial that ran its full maxResource has none."""
    body = hyperband_job_before_its_end(12)
    best = body["status"]["bestTrial"]
    caveat = views.best_caveat(parse_tuning_job(body))
    assert caveat == (
        f"Note: these are the hyperparameters of {best['name']}, best at rung 1 (3 epochs) "
        f"with {best['objective']:.6g}; no trial has run its 27 epochs, and {best['name']} is "
        "still running: not a fully trained result.\n"
    )
    for trial in body["status"]["trials"]:
        if trial["name"] == best["name"]:
            trial.update(phase="Stopped", reason="MaxRuntimeExceeded", epochs=4)
    caveat = views.best_caveat(parse_tuning_job(body))
    assert caveat is not None
    assert f"{best['name']} ended Stopped (MaxRuntimeExceeded) after 4 epochs: not" in caveat
    assert views.best_caveat(parse_tuning_job(hyperband_tuning_job(12))) is None


def test_describe_of_a_hyperband_job_counts_the_epochs_it_consumed() -> None:
    body = hyperband_tuning_job(30)
    text = views.describe_text(parse_tuning_job(body), [], NOW)
    consumed = body["status"]["epochsConsumed"]
    ended = sum(1 for t in body["status"]["trials"] if t["phase"] != "Running")
    assert consumed < 27 * ended  # trials stopped at a rung trained fewer epochs
    assert f"Epochs:        {consumed} (over the ended trials; rungs at 1, 3, 9 of 27" in text


def test_describe_marks_a_hyperband_best_read_at_a_rung_as_the_best_column_does() -> None:
    body = hyperband_job_before_its_end(12)
    best = body["status"]["bestTrial"]
    text = views.describe_text(parse_tuning_job(body), [], NOW)
    marked = f"validation:accuracy={best['objective']:.6g} (at 3 epochs)"
    assert f"Best trial: {best['name']}  {marked}\n" in text
    done = views.describe_text(parse_tuning_job(hyperband_tuning_job(12)), [], NOW)
    assert "Best trial: " in done and "(rung" not in done


def test_best_in_every_format_is_the_best_trial_with_the_static_hyperparameters(
    body: dict[str, Any], view: TuningJobView
) -> None:
    expected = {
        **body["spec"]["staticHyperparameters"],
        **body["status"]["bestTrial"]["hyperparameters"],
    }
    assert yaml.safe_load(views.best_output(view, "yaml")) == expected
    assert json.loads(views.best_output(view, "json")) == expected
    args = shlex.split(views.best_output(view, "args"))
    assert dict(a.removeprefix("--").split("=", 1) for a in args) == expected
    name, value = shlex.split(views.best_output(view, "env"))[0].split("=", 1)
    assert name == "KUBETUNE_HYPERPARAMETERS" and json.loads(value) == expected


def test_best_of_a_job_without_a_best_trial_says_so() -> None:
    body = synthetic_tuning_job("empty", 1, running=1)
    with pytest.raises(NotFoundError, match='"empty" has no best trial yet: 1 trial, 0 ended'):
        views.best_output(parse_tuning_job(body), "yaml")


def test_describe_has_every_section(view: TuningJobView) -> None:
    text = views.describe_text(view, [], NOW)
    for heading in (
        "Phase:",
        "Budgets:",
        "Trial-seconds:",
        "Epochs:",
        "Counters:",
        "Best trial:",
        "Conditions:",
        "Events",
        "Next:",
    ):
        assert heading in text
    best = view.status.best_trial
    assert best is not None and f"Best trial: {best.name}" in text
    # 28 ended trials x static epochs 10, less the two failed ones, which printed nothing
    assert "Epochs:        260 (over the ended trials; 2 trials that stopped or failed" in text
    assert "the job ends when 2 running trials end." in text


def test_describe_counts_the_epochs_trials_stopped_early_or_never_started_trained() -> None:
    """QA76 M1: a trial stopped early trained as many epochs as the objective values it
    printed, one that never started none; not its full `epochs` hyperparameter."""
    body = synthetic_tuning_job("es", 6)
    trials = body["status"]["trials"]
    for trial in trials:
        trial.update(phase="Succeeded", intermediateCount=10)
    trials[1].update(phase="EarlyStopped", intermediateCount=3)
    trials[2].update(phase="Failed", intermediateCount=0, reason="Error")
    trials[3].update(phase="Stopped", intermediateCount=0, reason="InvalidSpec")
    del trials[3]["startTime"]  # never started
    text = views.describe_text(parse_tuning_job(body), [], NOW)
    assert (
        "Epochs:        33 (over the ended trials; 2 trials that stopped or failed early "
        "counted by the objective values they printed, one per epoch)"
    ) in text  # 3 x 10 succeeded + 3 early stopped + 0 failed at once + 0 never started
    for trial in trials:  # a trainer that prints its final value only: a lower bound
        trial["intermediateCount"] = min(trial["intermediateCount"], 1)
    text = views.describe_text(parse_tuning_job(body), [], NOW)
    assert "Epochs:        at least 31 (over the ended trials; 2 trials that" in text
    assert "the trainer may train more epochs than it prints values)" in text
    for trial in trials[:3]:
        trial.update(phase="Stopped", intermediateCount=0)
        del trial["startTime"]
    trials[4:] = []
    text = views.describe_text(parse_tuning_job(body), [], NOW)
    assert "Epochs:        0 (over the ended trials)" in text  # none of them started


def test_describe_counts_an_ended_jobs_trials_against_no_budget() -> None:
    """A running job's launches count against maxTrials; an ended job's maxTrials, which
    may be edited afterwards, is no budget left."""
    body = synthetic_tuning_job("n", 30, running=2)
    body["spec"]["limits"]["maxTrials"] = 40
    assert "30 launched of 40" in views.describe_text(parse_tuning_job(body), [], NOW)
    body["status"].update(phase="Completed", reason="MaxTrialsReached")
    text = views.describe_text(parse_tuning_job(body), [], NOW)
    assert "30 launched\n" in text and "of 40" not in text


def test_events_of_one_second_are_shown_in_the_order_they_happened() -> None:
    # The operator writes lastTimestamp in whole seconds and eventTime in microseconds;
    # the API lists Events by name, which is random.
    second = datetime(2026, 1, 2, 10, 0, 5, tzinfo=UTC)
    happened = [
        ("TrialFailed", "z", 263000),
        ("TrialCreated", "b", 269000),
        ("TrialFailed", "y", 334000),
        ("MaxFailedTrialsExceeded", "a", 383000),
    ]
    listed = sorted(
        (
            CoreV1Event(
                metadata=V1ObjectMeta(name=f"crash.{name}"),
                involved_object=V1ObjectReference(name="crash"),
                reason=reason,
                type="Normal",
                last_timestamp=second,
                event_time=second.replace(microsecond=micros),
            )
            for reason, name, micros in happened
        ),
        key=lambda e: e.metadata.name,
    )
    ordered = sorted(listed, key=event_order)
    assert [e.reason for e in ordered] == [reason for reason, _, _ in happened]
    later = CoreV1Event(
        metadata=V1ObjectMeta(name="crash.0"),
        involved_object=V1ObjectReference(name="crash"),
        last_timestamp=second.replace(second=6),
        event_time=second.replace(microsecond=0),  # first seen earlier, repeated later
    )
    assert sorted([later, *listed], key=event_order)[-1] is later


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"status": {"phase": "Pending"}},
            "is the kubetune operator running, and does it watch namespace ",
        ),
        ({"spec": {"suspend": True}}, "Suspended"),
        (
            {"status": {"phase": "Completed", "reason": "MaxTrialsReached"}},
            "Nothing: the job has ended (Completed, MaxTrialsReached)",
        ),
        (
            {"spec": {"limits": {"maxTrials": 40, "maxParallelTrials": 4}}},
            "10 more to launch, 2 now",
        ),
        (  # QA93 L6: `kubetune stop` with the operator down said "10 more to launch"
            {"spec": {"stop": True, "limits": {"maxTrials": 40, "maxParallelTrials": 4}}},
            "Stopping: spec.stop is true; the operator stops its 2 launched trials and ends "
            "the job Stopped at its next look (if it stays so, is the operator running?).",
        ),
    ],
)
def test_next_step(changes: dict[str, dict[str, Any]], expected: str) -> None:
    body = synthetic_tuning_job("n", 30, running=2)
    for part, values in changes.items():
        body[part].update(values)
    assert expected in views.next_step(parse_tuning_job(body))


def test_describe_of_a_job_whose_operator_is_refused_says_so_not_that_none_runs() -> None:
    """QA93 M3: with `tuningjobs/status patch` refused, the status stays unwritten (Pending)
    beside a Forbidden Event; Next asked whether an operator runs."""
    body = synthetic_tuning_job("rb", 3)
    body["status"] = {"phase": "Pending"}
    view = parse_tuning_job(body)
    forbidden = CoreV1Event(
        metadata=V1ObjectMeta(name="rb.1"),
        involved_object=V1ObjectReference(name="rb"),
        reason="Forbidden",
        type="Warning",
        message='tuningjobs.kubetune.io "rb" is forbidden: ... cannot patch resource',
    )
    described = views.describe_text(view, [forbidden], NOW)
    assert "Next:       An operator has the job but is refused an API call (Forbidden" in described
    assert "is the kubetune operator running" not in described
    assert "is the kubetune operator running" in views.describe_text(view, [], NOW)


def test_next_step_of_an_ended_job_with_maxtrials_raised_says_it_runs_nothing_more() -> None:
    body = synthetic_tuning_job("slow", 6)  # Completed, 6 of 6
    assert views.next_step(parse_tuning_job(body)) == (
        "Nothing: the job has ended (Completed, MaxTrialsReached)."
    )
    body["spec"]["limits"]["maxTrials"] = 8  # accepted by the API server, ignored
    assert views.next_step(parse_tuning_job(body)) == (
        "Nothing: the job has ended (Completed, MaxTrialsReached); spec.limits.maxTrials 8 "
        "is above the 6 trials it launched, but an ended job launches no more (raising "
        "maxTrials runs nothing): to tune further, warm-start a new TuningJob from it "
        "(spec.warmStart.parents: [slow])."
    )


def test_next_step_of_an_exhausted_space_says_to_widen_it_naming_every_parent() -> None:
    """Every configuration was tried: raising maxTrials runs nothing, and a child with the
    same parameters would run only those whose trials failed (QA55 #2). A warm start is
    not transitive: the child names this job's own parents too, within the schema's 5."""
    body = synthetic_tuning_job("fin", 6)  # fin-005 failed
    body["status"].update(
        reason="SearchSpaceExhausted",
        message="the Bayesian strategy has no untried hyperparameters left after 6 trials",
    )
    body["spec"]["limits"]["maxTrials"] = 20
    ended = (
        "Nothing: the job has ended (Completed, SearchSpaceExhausted): every configuration "
        "of its space was tried, so raising maxTrials runs nothing. To tune further, widen "
        "spec.parameters (more values, a wider range) in a new TuningJob warm-started from "
        "it "
    )
    assert views.next_step(parse_tuning_job(body)) == ended + (
        "(spec.warmStart.parents: [fin]). With the same spec.parameters it would run again "
        "only the 1 configuration whose trials failed."
    )
    body["status"]["trials"][4] = body["status"]["trials"][3] | {"name": "fin-005"}
    assert views.next_step(parse_tuning_job(body)) == ended + "(spec.warmStart.parents: [fin])."
    body["spec"]["warmStart"] = {"parents": ["a", "b"]}
    assert views.next_step(parse_tuning_job(body)) == ended + (
        "and from its own parents, as a warm start is not transitive "
        "(spec.warmStart.parents: [fin, a, b])."
    )
    body["spec"]["warmStart"] = {"parents": ["a", "b", "c", "d", "e"]}
    assert views.next_step(parse_tuning_job(body)) == ended + (
        "and from its own parents, as a warm start is not transitive "
        "(spec.warmStart.parents: [fin] and 4 of a, b, c, d, e: at most 5 parents)."
    )


def test_next_step_of_a_suspended_job_with_nothing_running() -> None:
    body = synthetic_tuning_job("s", 30, running=2)
    body["spec"].update(suspend=True)
    body["spec"]["limits"]["maxTrials"] = 40
    assert views.next_step(parse_tuning_job(body)).startswith(
        "Suspended: 2 trials still running finish"
    )
    body = synthetic_tuning_job("s", 30)
    body["spec"].update(suspend=True)
    body["spec"]["limits"]["maxTrials"] = 40
    body["status"].update(phase="InProgress", reason=None)
    assert views.next_step(parse_tuning_job(body)) == (
        "Suspended: nothing runs, and nothing starts until spec.suspend is false."
    )


def test_describe_shows_the_warm_start_parents_and_their_trials_with_a_value() -> None:
    body = synthetic_tuning_job("child", 3)
    assert "Warm start:" not in views.describe_text(parse_tuning_job(body), [], NOW)
    body["spec"]["warmStart"] = {"parents": ["digits", "gone", "one"]}
    view = parse_tuning_job(body)
    lines = views.describe_text(
        view, [], NOW, parents={"digits": 12, "gone": "not found", "one": 1}
    )
    assert (
        "Warm start: digits (12 trials with a value), gone (not found), "
        "one (1 trial with a value)\n" in (lines)
    )
    local = views.describe_text(view, None, NOW)  # a local run: the names
    assert "Warm start: digits, gone, one\n" in local
    # What a parent contributes, counted as the operator counts it: its trials that
    # produced a value (28 ended, 2 of them Failed).
    parent = parse_tuning_job(synthetic_tuning_job("digits", 30, running=2))
    assert views.warm_start_carried(view.spec, parent) == "26 trials with a value"


def test_next_step_counts_one_trial_in_the_singular() -> None:
    body = synthetic_tuning_job("n", 30, running=1)
    body["spec"]["limits"].update(maxTrials=40, maxParallelTrials=4)
    assert views.next_step(parse_tuning_job(body)).startswith("1 trial running; 10 more")
    body["spec"]["limits"]["maxTrials"] = 30
    assert "the job ends when 1 running trial ends." in views.next_step(parse_tuning_job(body))


def test_next_step_of_a_job_whose_pod_the_namespace_refuses_says_what_it_waits_for() -> None:
    body = synthetic_tuning_job("q", 30, running=2)
    body["spec"]["limits"].update(maxTrials=40, maxParallelTrials=4)
    refusal = 'waiting for its pod: pods "q-029-1-abcde" is forbidden: exceeded quota: q'
    body["status"]["trials"][-2].update(phase="Pending", reason="FailedCreate", message=refusal)
    text = views.describe_text(parse_tuning_job(body), [], NOW)
    assert text.endswith(
        f"Next:       Waiting for the namespace to let trial q-029's pod in ({refusal}); no "
        "other trial is launched meanwhile. It starts once the quota, LimitRange or "
        "ServiceAccount allows it (raise the quota, fix the LimitRange, create the "
        "ServiceAccount), or fix the template in a new TuningJob.\n"
    ), text
    assert "more to launch" not in text


def test_next_step_of_an_interrupted_local_run_is_to_resume_it() -> None:
    body = synthetic_tuning_job("i", 30, running=2)
    body["status"].update(reason="Interrupted", message="interrupted (Ctrl-C)")
    assert views.next_step(parse_tuning_job(body)) == (
        "Nothing runs: the local run was interrupted; the same `kubetune run --local` "
        "command resumes it, starting its interrupted trials again."
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (5.9, "5s"), (185, "3m05s"), (7620, "2h07m"), (273600, "3d04h")],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert output.duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "-"), (3, "3"), (2.0, "2"), (0.123456789, "0.123457"), (float("nan"), "nan")],
)
def test_number(value: float | None, text: str) -> None:
    assert output.number(value) == text


def test_table_aligns_columns_without_trailing_blanks() -> None:
    text = output.table(["A", "LONGER"], [["xyz", "1"], ["q", ""]])
    assert text == "A     LONGER\nxyz   1\nq\n"


def test_json_turns_nan_into_null() -> None:
    assert json.loads(output.to_json({"x": float("nan"), "y": [float("inf")]})) == {
        "x": None,
        "y": [None],
    }


def test_a_tuning_job_from_a_newer_kubetune_is_an_error_naming_the_field() -> None:
    body = synthetic_tuning_job("newer", 2)
    body["spec"]["someFutureField"] = True
    with pytest.raises(
        KubetuneError, match=r'"newer" cannot be read by this kubetune: spec.someFutureField'
    ):
        parse_tuning_job(body)


def test_readme_examples_of_output_show_the_output() -> None:
    root = Path(__file__).resolve().parents[2]
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]  # its full texts
    text = "\n".join(page.read_text() for page in pages)
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL):
        lines = block.splitlines()
        assert not lines or not lines[-1].startswith("$ "), f"no output after {lines[-1]!r}"


def _ending_job(reason: str) -> dict[str, Any]:
    """A job whose completion criterion `reason` fired while 2 trials run (the operator's
    finish_running: reason and message set, phase InProgress, Running "Finishing")."""
    body = synthetic_tuning_job("tgt", 4, running=2)
    body["spec"]["limits"].update(maxTrials=10, maxParallelTrials=3)
    body["spec"]["completionCriteria"] = {"targetObjective": 0.9, "maxTrialsNotImproving": 3}
    message = "trial tgt-001 reached 0.93, target 0.9; waiting for 2 running trials"
    body["status"].update(reason=reason, message=message)
    body["status"]["conditions"] = [
        {
            "type": "Running",
            "status": "True",
            "reason": "Finishing",
            "message": message,
            "lastTransitionTime": "2026-01-01T00:01:00Z",
        }
    ]
    return body


@pytest.mark.parametrize(
    ("reason", "why"),
    [
        ("TargetObjectiveReached", "a trial reached completionCriteria.targetObjective 0.9"),
        (
            "MaxTrialsNotImproving",
            "3 finished trials in a row did not improve the best objective "
            "(completionCriteria.maxTrialsNotImproving)",
        ),
        (
            "Converged",
            "the optimizer judged further trials unlikely to improve the best objective",
        ),
        ("SomeLaterCriterion", "a completion criterion is met"),  # Finishing says it
    ],
)
def test_next_step_of_a_job_ending_on_a_completion_criterion_launches_nothing(
    reason: str, why: str
) -> None:
    body = _ending_job(reason)
    assert views.next_step(parse_tuning_job(body)) == (
        f"The job is ending ({reason}: {why}): no new trial is launched; it completes when "
        "2 running trials end."
    )
    text = views.describe_text(parse_tuning_job(body), [], NOW)
    assert "more to launch" not in text and "Next:       The job is ending (" in text
    # Its trials' pods waiting to start: it waits for them too (finish_running counts them).
    body["status"]["trials"][-1].update(phase="Pending")
    assert views.next_step(parse_tuning_job(body)).endswith(
        "; it completes when its 2 launched trials end (1 running, 1 waiting to start)."
    )


def test_next_step_of_an_ending_job_with_no_succeeded_trial_says_it_may_fail() -> None:
    body = _ending_job("MaxTrialsNotImproving")
    body["status"]["counters"]["completed"] = 0  # 3 trials failed in a row, none succeeded
    body["spec"]["suspend"] = True  # no matter: the criterion is met, the job ends
    refusal = 'waiting for its pod: pods "tgt-004-1-abcde" is forbidden: exceeded quota: q'
    body["status"]["trials"][-1].update(phase="Pending", reason="FailedCreate", message=refusal)
    assert views.next_step(parse_tuning_job(body)) == (
        "The job is ending (MaxTrialsNotImproving: 3 finished trials in a row did not improve "
        "the best objective (completionCriteria.maxTrialsNotImproving)): no new trial is "
        "launched; it ends when its 2 launched trials end (1 running, 1 waiting to start): "
        "Completed if one of them succeeds, else Failed (NoTrialSucceeded). Trial tgt-004's "
        f"pod is refused by the namespace ({refusal}): it starts once the quota, LimitRange "
        "or ServiceAccount allows it, or `kubetune stop tgt` ends the job now (Stopped)."
    )


def test_next_step_does_not_count_trials_waiting_to_start_as_running() -> None:
    body = synthetic_tuning_job("p", 30, running=2)
    body["spec"]["limits"].update(maxTrials=40, maxParallelTrials=4)
    for trial in body["status"]["trials"][-2:]:
        trial.update(phase="Pending", reason="Unschedulable", message="waiting for a node: 0/2")
    body["status"]["counters"].update(running=0, pending=2)
    assert views.next_step(parse_tuning_job(body)).startswith(
        "2 trials launched (0 running, 2 waiting to start); 10 more to launch, 2 now"
    )
    body["spec"]["limits"]["maxTrials"] = 30
    assert views.next_step(parse_tuning_job(body)) == (
        "Every trial is launched (30); the job ends when its 2 launched trials end "
        "(0 running, 2 waiting to start)."
    )
    body["spec"]["suspend"] = True
    assert views.next_step(parse_tuning_job(body)) == (
        "Suspended: 2 trials (0 running, 2 waiting to start) still finish, no new trial "
        "starts until spec.suspend is false."
    )


def test_list_shows_the_epochs_a_hyperband_job_consumed_as_kubectl_get_does() -> None:
    """QA82 L4: `kubectl get tj` has an Epochs column, `kubetune list` had none."""
    now = datetime(2030, 1, 1, tzinfo=UTC)
    body = hyperband_tuning_job(12)
    other_body = synthetic_tuning_job("q", 6)
    for listed in (body, other_body):
        listed["metadata"]["creationTimestamp"] = "2029-12-31T23:00:00Z"
    row = dict(zip(views.LIST_HEADERS, views.list_row(body, now), strict=True))
    assert row["EPOCHS"] == str(body["status"]["epochsConsumed"])
    assert row["STRATEGY"] == "Hyperband"
    other = dict(zip(views.LIST_HEADERS, views.list_row(other_body, now), strict=True))
    assert other["EPOCHS"] == "-"


def test_describe_says_which_trials_of_a_hyperband_parent_a_warm_start_carries() -> None:
    """QA82 M3: a Hyperband parent's trial stopped at a rung (its value after a few epochs)
    is carried only into a Hyperband child with the same rungs; describe said "3 trials
    with a value" whatever the child took."""
    body = synthetic_tuning_job("hb", 3)
    body["spec"]["strategy"] = "Hyperband"  # 10 epochs: rungs at 1, 3, 9
    ended = [("Succeeded", [0.5, 0.6, 0.7], 0.8), ("EarlyStopped", [0.4], 0.4)]
    ended.append(("EarlyStopped", [0.5, 0.6], 0.6))
    for trial, (phase, rungs, objective) in zip(body["status"]["trials"], ended, strict=True):
        trial.update(phase=phase, objective=objective, rungValues=rungs)
        trial["rungSeqs"] = list(range(len(rungs)))
    parent = parse_tuning_job(body)
    child = synthetic_tuning_job("child", 2)
    child["spec"]["warmStart"] = {"parents": ["hb"]}
    bayesian = parse_tuning_job(child)
    carried = views.warm_start_carried(bayesian.spec, parent)
    assert carried == "1 trial trained to the end; 2 stopped at a rung, not carried"
    described = views.describe_text(bayesian, [], NOW, parents={"hb": carried})
    assert f"Warm start: hb ({carried})\n" in described
    child["spec"]["strategy"] = "Hyperband"
    assert views.warm_start_carried(parse_tuning_job(child).spec, parent) == (
        "3 trials with a value: 1 trained to the end, 2 stopped at a rung"
    )
    child["spec"]["staticHyperparameters"]["epochs"] = "27"  # other rungs
    assert views.warm_start_carried(parse_tuning_job(child).spec, parent) == carried
    # QA84 L10: with its best, which the child's is compared with.
    best = parent.status.best_trial
    assert best is not None and views.best_objective(parent) == "0.884107"
    assert views.warm_start_parent(bayesian.spec, parent) == (
        f"{carried}; its best 0.884107, {best.name}"
    )


def test_describe_leaves_out_the_kstatus_conditions_that_restate_the_phase() -> None:
    """Reconciling and Stalled are for Flux and Helm's --wait (QA99 M1); Running and
    Failed say the same to a person."""
    body = synthetic_tuning_job("fl", 2)
    message = "2 trials failed (maxFailedTrials 1)"
    body["status"].update(phase="Failed", reason="TooManyFailedTrials", message=message)
    body["status"]["conditions"] = [
        {
            "type": type_,
            "status": value,
            "reason": "TooManyFailedTrials",
            "message": message,
            "lastTransitionTime": "2026-01-01T00:01:00Z",
        }
        for type_, value in (
            ("Failed", "True"),
            ("Running", "False"),
            ("Reconciling", "False"),
            ("Stalled", "True"),
        )
    ]
    text = views.describe_text(parse_tuning_job(body), [], NOW)
    conditions = text.split("Conditions:\n")[1].split("Events")[0].splitlines()
    assert [line.split()[0] for line in conditions] == ["Failed", "Running"], text
