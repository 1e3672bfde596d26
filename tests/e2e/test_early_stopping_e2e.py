"""Early stopping with the real operator: trials print a learning curve whose level
depends on x (fake_trainer.py mode curve); those clearly worse than the succeeded ones at
the same step are stopped, their Jobs deleted, and the job still runs exactly maxTrials.
"""

from __future__ import annotations

import math
from typing import Any

from e2e.fake_trainer import acc_value, curve_value
from kubetune.operator.api import ObjectiveType
from kubetune.operator.controller.early_stopping import MedianRule
from support.operator_harness import Api, OperatorProcess, tuning_job, wait_for

STEPS = 20
PAUSE = 0.5  # 10 s per trial: running trials are judged every 5 s, so at least once
METRICS = [
    {"name": "loss", "regex": r"^loss=(\S+)"},
    {"name": "acc", "regex": r" acc=(\S+)$"},
]
"""The loss and a second metric, printed on one line (fake_trainer.py, acc 1)."""


def test_worse_trials_are_stopped_early_and_the_job_completes(
    api: Api, operator: OperatorProcess
) -> None:
    api.create(
        tuning_job(
            "early",
            max_trials=8,
            parallel=3,
            static={"mode": "curve", "steps": str(STEPS), "pause": str(PAUSE), "acc": "1"},
            earlyStopping="Auto",
            metrics=METRICS,
        )
    )
    status = wait_for(
        "early to finish", lambda: api.terminal("early"), timeout=90, operator=operator
    )
    assert (status["phase"], status["reason"]) == ("Completed", "MaxTrialsReached"), status
    trials = status["trials"]
    for t in trials:
        print(t["name"], t["hyperparameters"], t["phase"], t["intermediateCount"], t["objective"])
    assert len(trials) == 8

    stopped = [t for t in trials if t["phase"] == "EarlyStopped"]
    finished = [t for t in trials if t["phase"] == "Succeeded"]
    assert stopped, "no trial was stopped early"
    assert len(stopped) + len(finished) == 8  # none failed, none left running
    counters = status["counters"]
    assert counters["earlyStopped"] == len(stopped) and counters["completed"] == len(finished)
    assert counters["failed"] == counters["running"] == counters["pending"] == 0
    assert status["trialsDone"] == "8/8"

    for trial in finished:
        x = float(trial["hyperparameters"]["x"])
        assert trial["intermediateCount"] == STEPS
        assert math.isclose(trial["objective"], curve_value(x, 0, STEPS), rel_tol=1e-12)
        assert trial["metrics"] == {"acc": acc_value(x, 0, STEPS)}
    for trial in stopped:
        x = float(trial["hyperparameters"]["x"])
        step = trial["intermediateCount"]
        assert trial["reason"] == "EarlyStopped" and 2 <= step <= STEPS, trial
        # Its objective is the value it printed last before it was stopped.
        assert math.isclose(trial["objective"], curve_value(x, 0, step), rel_tol=1e-12)
        # And the other metric's value printed with it, its Job and log gone (QA84 L2).
        assert trial["metrics"] == {"acc": acc_value(x, 0, step)}, trial
        # Worse than the median of its peers, so worse than the best of them.
        assert trial["objective"] > status["bestObjective"]
    assert status["bestTrial"]["name"] in {t["name"] for t in finished}
    assert status["bestObjective"] == min(t["objective"] for t in finished)

    early = {t["name"] for t in stopped}
    wait_for(
        "the early-stopped trials' Jobs to go",
        lambda: not early & {j.metadata.name for j in api.jobs("early")},
        timeout=30,
        operator=operator,
    )
    assert {j.metadata.name for j in api.jobs("early")} == {t["name"] for t in finished}
    wait_for(  # Events are posted in the background, after the status is written
        "a TrialEarlyStopped Event per stopped trial",
        lambda: [e.reason for e in api.events("early")].count("TrialEarlyStopped") == len(stopped),
        operator=operator,
    )


def test_a_fast_trial_is_stopped_at_the_value_that_condemns_it(
    api: Api, operator: OperatorProcess
) -> None:
    """Values every 0.2 s: the operator follows each running trial's log and is woken at
    the value by which the median rule stops it, so a stopped trial has printed at most
    three values past the first step at which its peers condemned it (0.6 s). Reading
    the logs every 2.5 s and judging every 5 s, it would print up to 25 more."""
    api.create(
        tuning_job(
            "esfast",
            max_trials=12,
            parallel=3,
            static={"mode": "curve", "steps": "27", "pause": "0.2"},
            earlyStopping="Auto",
        )
    )
    status = wait_for(
        "esfast to finish", lambda: api.terminal("esfast"), timeout=150, operator=operator
    )
    assert (status["phase"], status["reason"]) == ("Completed", "MaxTrialsReached"), status
    trials = status["trials"]
    stopped = [t for t in trials if t["phase"] == "EarlyStopped"]
    succeeded = [t for t in trials if t["phase"] == "Succeeded"]
    assert stopped, "no trial was stopped early"

    def curve(trial: dict[str, Any], steps: int) -> list[float]:
        x = float(trial["hyperparameters"]["x"])
        return [curve_value(x, 0, s) for s in range(1, steps + 1)]

    checked = 0
    for t in stopped:
        # Its peers: the trials that had succeeded when it started (the reconcile that
        # launched it had recorded them), if the stop was judged against as many.
        peers = [curve(p, 27) for p in succeeded if p["endTime"] <= t["startTime"]]
        step, count = t["intermediateCount"], int(t["message"].split(" of ")[1].split()[0])
        print(t["name"], t["message"], f"peers at start: {len(peers)}")
        if count != len(peers):
            continue  # another peer arrived while it ran: the replay would be a guess
        rule = MedianRule(peers, ObjectiveType.MINIMIZE)
        first = next(s for s in range(2, 28) if rule.judge(curve(t, s)) is not None)
        assert first <= step <= first + 3, (t, first)
        checked += 1
    assert checked, "no stopped trial's peers were known when it started"
