"""Data of the CLI and analytics tests: the time the records are computed at, and a
TuningJob written as a run directory (what local mode leaves behind)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kubetune.operator.api import TuningJobSpec, TuningJobStatus
from kubetune.operator.controller.hyperband import provisional_best
from synthetic_tuning_job import synthetic_tuning_job

from support.decisions import decision

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def write_directory(body: dict[str, Any], directory: Path) -> Path:
    """The TuningJob as a directory: tuningjob.yaml (without status) and status.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {k: v for k, v in body.items() if k != "status"}
    (directory / "tuningjob.yaml").write_text(yaml.safe_dump(manifest))
    (directory / "status.yaml").write_text(yaml.safe_dump(body["status"]))
    return directory


HYPERBAND_RUNGS = [1, 3, 9]
"""The rungs of `hyperband_tuning_job` (minResource 1, η 3, 27 epochs)."""


def hyperband_tuning_job(trials: int = 12) -> dict[str, Any]:
    """A synthetic TuningJob turned into a Hyperband job: 27 epochs, rungs at 1, 3 and 9;
    every third trial that succeeded there stopped at a rung instead, and each trial's rung
    values, their order and its epochs made consistent with its phase (Succeeded: every
    rung and 27 epochs; EarlyStopped: stopped at the first or the second rung; Failed: one
    rung, 2 epochs; Running: two rungs so far, no epochs yet)."""
    body = synthetic_tuning_job("hb", trials, running=1)
    for index, trial in enumerate(body["status"]["trials"]):
        if trial["phase"] == "Succeeded" and index % 3 == 1:
            trial.update(phase="EarlyStopped", reason="EarlyStopped")
    counters = body["status"]["counters"]
    phases = [t["phase"] for t in body["status"]["trials"]]
    counters.update(completed=phases.count("Succeeded"), earlyStopped=phases.count("EarlyStopped"))
    body["spec"]["strategy"] = "Hyperband"
    body["spec"]["hyperband"] = {"minResource": 1, "reductionFactor": 3}
    body["spec"]["staticHyperparameters"]["epochs"] = "27"
    seq = 0
    for index, trial in enumerate(body["status"]["trials"]):
        final = trial.get("objective", 0.5)
        reached, epochs = {
            "Succeeded": (3, 27),
            "EarlyStopped": (1 + index % 2, [1, 3][index % 2]),
            "Failed": (1, 2),
            "Running": (2, None),
        }[trial["phase"]]
        # A learning curve that rises towards the trial's final value.
        trial["rungValues"] = [round(final * (1 - 0.5 / (r + 1)), 6) for r in range(reached)]
        trial["rungSeqs"] = list(range(seq, seq + reached))
        seq += reached
        if epochs is not None:
            trial["epochs"] = epochs
        if trial["phase"] == "EarlyStopped":
            trial["objective"] = trial["rungValues"][-1]
    status = body["status"]
    status["epochsConsumed"] = sum(t.get("epochs", 0) for t in status["trials"])
    best = max(
        (t for t in status["trials"] if t["phase"] == "Succeeded"), key=lambda t: t["objective"]
    )
    status["bestTrial"] = {k: best[k] for k in ("name", "hyperparameters", "objective")}
    status["bestObjective"] = best["objective"]
    return body


def hyperband_job_before_its_end(trials: int = 12) -> dict[str, Any]:
    """`hyperband_tuning_job` before any trial has run its 27 epochs: each trial that
    succeeded there still Running at its second rung, and the best as the operator writes
    it then (`provisional_best`): the best value at rung 1, `bestObjective` unset."""
    body = hyperband_tuning_job(trials)
    for trial in body["status"]["trials"]:
        if trial["phase"] == "Succeeded":
            for key in ("objective", "endTime", "epochs", "metrics"):
                trial.pop(key, None)
            trial.update(phase="Running", rungValues=trial["rungValues"][:2])
            trial["rungSeqs"] = trial["rungSeqs"][:2]
    for key in ("bestTrial", "bestObjective", "bestObjectiveText"):
        body["status"].pop(key, None)
    body["status"]["phase"] = "InProgress"
    status = TuningJobStatus.from_api(body["status"])
    d = decision(TuningJobSpec.from_api(body["spec"]), status.trials, status=status)
    provisional_best(d)
    body["status"] = d.status.to_api()
    return body
