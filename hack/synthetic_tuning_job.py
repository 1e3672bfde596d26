"""A TuningJob with a made-up status of any number of trials, for the CLI's tests and
benchmark (`make bench-cli`): five parameters of every kind and scaling (the seed's
learning_rate on a log axis, momentum, a `wd` in 0–0.001, an Integer and a Categorical),
a second metric recorded per trial, and every trial phase.

    body = synthetic_tuning_job("big", trials=1000)   # apiVersion, kind, metadata, spec, status
"""

from __future__ import annotations

import copy
import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

PARAMETERS = [
    {
        "name": "learning_rate",
        "type": "Continuous",
        "min": 0.0001,
        "max": 0.5,
        "scaling": "Logarithmic",
    },
    {"name": "momentum", "type": "Continuous", "min": 0.0, "max": 0.99},
    {"name": "wd", "type": "Continuous", "min": 0.0, "max": 0.001},
    {"name": "num_layers", "type": "Integer", "min": 1, "max": 8},
    {"name": "optimizer", "type": "Categorical", "values": ["sgd", "adam", "nag"]},
]
START = datetime(2026, 1, 1, tzinfo=UTC)


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _trial(name: str, index: int, rng: random.Random, running: bool) -> dict[str, Any]:
    lr = math.exp(rng.uniform(math.log(0.0001), math.log(0.5)))
    hyperparameters = {
        "learning_rate": repr(lr),
        "momentum": repr(rng.uniform(0, 0.99)),
        "wd": repr(rng.uniform(0, 0.001)),
        "num_layers": str(rng.randint(1, 8)),
        "optimizer": rng.choice(["sgd", "adam", "nag"]),
    }
    accuracy = 0.95 - 0.05 * abs(math.log10(lr) + 2) - 0.02 * rng.random()
    start = START + timedelta(seconds=30 * index)
    trial: dict[str, Any] = {
        "name": f"{name}-{index:03d}",
        "hyperparameters": hyperparameters,
        "attempt": 1,
        "startTime": _time(start),
    }
    if running:
        return {**trial, "phase": "Running", "intermediateCount": 3}
    phase = "Failed" if index % 17 == 5 else "EarlyStopped" if index % 13 == 4 else "Succeeded"
    trial.update(phase=phase, endTime=_time(start + timedelta(seconds=45 + index % 20)))
    if phase == "Failed":
        trial.update(reason="Error", message="training diverged (exit code 3)", attempt=2)
    else:
        trial.update(objective=round(accuracy, 6), intermediateCount=10)
        trial["metrics"] = {"train:loss": round(1 - accuracy + 0.01, 6)}
        if phase == "EarlyStopped":
            trial["reason"] = "EarlyStopped"
    return trial


def synthetic_tuning_job(name: str, trials: int, running: int = 0, seed: int = 0) -> dict[str, Any]:
    """A TuningJob object with `trials` trials (the last `running` of them Running)."""
    rng = random.Random(seed)
    records = [_trial(name, i, rng, i > trials - running) for i in range(1, trials + 1)]
    succeeded = [t for t in records if t["phase"] == "Succeeded"]
    best = max(succeeded, key=lambda t: t["objective"]) if succeeded else None
    done = sum(1 for t in records if t["phase"] != "Running")
    status: dict[str, Any] = {
        "phase": "InProgress" if running else "Completed",
        "reason": None if running else "MaxTrialsReached",
        "message": f"{done} of {trials} trials ended",
        "startTime": _time(START),
        "consumedSeconds": sum(45 + i % 20 for i in range(1, done + 1)),
        "counters": {
            "running": running,
            "completed": len(succeeded),
            "failed": sum(1 for t in records if t["phase"] == "Failed"),
            "earlyStopped": sum(1 for t in records if t["phase"] == "EarlyStopped"),
        },
        "trialsDone": f"{done}/{trials}",
        "trials": records,
    }
    if not running:
        status["completionTime"] = _time(START + timedelta(seconds=30 * trials + 60))
    if best is not None:
        status["bestTrial"] = {k: best[k] for k in ("name", "hyperparameters", "objective")}
        status["bestObjective"] = best["objective"]
    return {
        "apiVersion": "kubetune.io/v1alpha1",
        "kind": "TuningJob",
        "metadata": {"name": name, "namespace": "default", "uid": "0000"},
        "spec": {
            "strategy": "Bayesian",
            "objective": {"metric": "validation:accuracy", "type": "Maximize"},
            "metrics": [
                {"name": "validation:accuracy", "regex": "validation: accuracy=([0-9.]+)"},
                {"name": "train:loss", "regex": "train: loss=([0-9.]+)"},
            ],
            "parameters": copy.deepcopy(PARAMETERS),  # a test may rename one
            "staticHyperparameters": {"epochs": "10", "batch_size": "128"},
            "limits": {"maxTrials": trials, "maxParallelTrials": max(running, 1)},
            "trialTemplate": {
                "job": {"template": {"spec": {"containers": [{"name": "trainer", "image": "x"}]}}}
            },
        },
        "status": {k: v for k, v in status.items() if v is not None},
    }
