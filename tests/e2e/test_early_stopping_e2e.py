"""Early stopping with the real operator: trials print a learning curve whose level
depends on x (fake_trainer.py mode curve); those clearly worse than the succeeded ones at
the same step are stopped, their Jobs deleted, and the job still runs exactly maxTrials.
"""

from __future__ import annotations

import math

from e2e.fake_trainer import curve_value
from support.operator_harness import Api, OperatorProcess, tuning_job, wait_for

STEPS = 20
PAUSE = 0.5  # 10 s per trial: running trials are judged every 5 s, so at least once


def test_worse_trials_are_stopped_early_and_the_job_completes(
    api: Api, operator: OperatorProcess
) -> None:
    api.create(
        tuning_job(
            "early",
            max_trials=8,
            parallel=3,
            static={"mode": "curve", "steps": str(STEPS), "pause": str(PAUSE)},
            earlyStopping="Auto",
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
    for trial in stopped:
        x = float(trial["hyperparameters"]["x"])
        step = trial["intermediateCount"]
        assert trial["reason"] == "EarlyStopped" and 2 <= step <= STEPS, trial
        # Its objective is the value it printed last before it was stopped.
        assert math.isclose(trial["objective"], curve_value(x, 0, step), rel_tol=1e-12)
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
