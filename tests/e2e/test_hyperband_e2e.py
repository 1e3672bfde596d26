"""Hyperband with the real operator: trials print one loss per epoch (fake_trainer.py mode
curve); at each rung a trial goes on only if it is in the top 1/η of the values recorded
there so far, else its Job is deleted and it ends EarlyStopped at that rung. The recorded
rung values are the printed ones, the decisions are those the optimizer's replay gives
from the records, and `kubectl get tj` shows the epochs consumed."""

from __future__ import annotations

import math
import subprocess
from typing import Any

from e2e.fake_trainer import curve_value
from kubetune.optimizer import RungRecord, rung_decisions
from support.operator_harness import Api, OperatorProcess, tuning_job, wait_for

EPOCHS = 9
RUNGS = [1, 3]  # minResource 1, reductionFactor 3, maxResource 9
PAUSE = 1.0  # 9 s per full trial: running trials are judged every 5 s, several times


def records(trials: list[dict[str, Any]]) -> list[RungRecord]:
    return [
        RungRecord(seq, t["name"], rung, value)
        for t in trials
        for rung, (seq, value) in enumerate(
            zip(t.get("rungSeqs", []), t.get("rungValues", []), strict=True)
        )
    ]


def test_trials_stop_exactly_at_their_rungs_and_the_epochs_are_counted(
    api: Api, operator: OperatorProcess, cluster: Any, namespace: str
) -> None:
    api.create(
        tuning_job(
            "hb",
            strategy="Hyperband",
            max_trials=9,
            parallel=3,
            static={"mode": "curve", "steps": str(EPOCHS), "pause": str(PAUSE)},
            hyperband={"minResource": 1, "maxResource": EPOCHS, "reductionFactor": 3},
        )
    )
    status = wait_for("hb to finish", lambda: api.terminal("hb"), timeout=150, operator=operator)
    assert (status["phase"], status["reason"]) == ("Completed", "MaxTrialsReached"), status
    trials = status["trials"]
    for t in trials:
        print(t["name"], t["hyperparameters"], t["phase"], t.get("rungValues"), t.get("epochs"))
    assert len(trials) == 9
    stopped = [t for t in trials if t["phase"] == "EarlyStopped"]
    finished = [t for t in trials if t["phase"] == "Succeeded"]
    assert stopped, "no trial was stopped at a rung"
    assert len(stopped) + len(finished) == 9

    # The recorded values are the printed ones, at the rungs' epochs.
    for t in trials:
        x = float(t["hyperparameters"]["x"])
        for rung, value in enumerate(t.get("rungValues", [])):
            assert value == curve_value(x, 0, RUNGS[rung]), (t["name"], rung)
    # Every decision is the replay's: a stopped trial lost at its last recorded rung and
    # won at the ones before; a trial that ran on won at every rung it was judged at.
    decisions = rung_decisions(records(trials), reduction_factor=3, goal="Minimize")
    seqs = sorted(r.seq for r in records(trials))
    assert seqs == list(range(len(seqs)))  # each value recorded once
    for t in stopped:
        last = len(t["rungValues"]) - 1
        assert t["reason"] == f"StoppedAtRung{last}", t
        assert decisions[(t["name"], last)] is False
        assert all(decisions[(t["name"], k)] for k in range(last))
        assert t["objective"] == t["rungValues"][last]
        assert RUNGS[last] <= t["epochs"] < EPOCHS
    for t in finished:
        assert t["rungValues"] == [
            curve_value(float(t["hyperparameters"]["x"]), 0, r) for r in RUNGS
        ]
        assert t["epochs"] == EPOCHS
        assert math.isclose(
            t["objective"], curve_value(float(t["hyperparameters"]["x"]), 0, EPOCHS)
        )
    assert status["epochsConsumed"] == sum(t["epochs"] for t in trials)
    assert status["bestTrial"]["name"] in {t["name"] for t in finished}

    gone = {t["name"] for t in stopped}
    wait_for(
        "the stopped trials' Jobs to go",
        lambda: not gone & {j.metadata.name for j in api.jobs("hb")},
        timeout=30,
        operator=operator,
    )
    table = subprocess.run(
        [
            str(cluster.kubectl),
            f"--kubeconfig={cluster.kubeconfig}",
            "get",
            "tj",
            "hb",
            "-n",
            namespace,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    header, row = table.strip().splitlines()
    columns = dict(zip(header.split(), row.split(), strict=False))
    assert columns["EPOCHS"] == str(status["epochsConsumed"])
