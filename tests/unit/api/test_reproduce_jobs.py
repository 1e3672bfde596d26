"""The TuningJobs of `make reproduce` (hack/reproduce.py): the seed's experiment."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import reproduce
from kubetune.operator import api as models
from kubetune.operator.kube.validation import validate_spec

SEED_RANGES = {"learning_rate": (0.001, 0.5), "momentum": (0.0, 0.99), "wd": (0.0, 0.001)}


def test_reproduce_jobs_mirror_the_seed() -> None:
    bayes, random = reproduce.manifests(seed=4, trials=(30, 120))
    for manifest in (bayes, random):
        job = models.TuningJob.model_validate(manifest)
        assert validate_spec(job.spec) == []
        assert job.spec.random_seed == 4
        ranges = {p.name: (p.min, p.max) for p in job.spec.parameters}
        assert ranges == SEED_RANGES
        cpu = next(m for m in job.spec.metrics if m.name == reproduce.CPU_METRIC)
        assert re.search(cpu.regex, "trainer: cpu_seconds=3.21").group(1) == "3.21"
    assert (bayes["metadata"]["name"], random["metadata"]["name"]) == (
        "seed-bayesian-4",
        "seed-random-4",
    )
    assert bayes["spec"]["limits"] == {"maxTrials": 30, "maxParallelTrials": 2}
    assert random["spec"]["limits"] == {"maxTrials": 120, "maxParallelTrials": 8}
    assert all("scaling" not in p for p in bayes["spec"]["parameters"])  # Auto
    assert {p["scaling"] for p in random["spec"]["parameters"]} == {"Linear"}  # uniform
    # Scored by 5-fold cross-validation: a less noisy objective than one 359-image split.
    assert bayes["spec"]["staticHyperparameters"]["cv_folds"] == "5"
    for key in ("objective", "metrics", "staticHyperparameters", "trialTemplate"):
        assert random["spec"][key] == bayes["spec"][key], key


def _choose_task() -> ModuleType:
    """hack/reproduce/choose_task.py (`reproduce` is hack/reproduce.py, not the folder)."""
    path = Path(reproduce.__file__).parent / "reproduce" / "choose_task.py"
    spec = importlib.util.spec_from_file_location("choose_task", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_task_candidates_are_valid_trainer_options_on_the_seeds_ranges() -> None:
    choose = _choose_task()
    assert choose.RANGES == SEED_RANGES
    config = {"learning_rate": "0.1", "momentum": "0.9", "wd": "0.0001"}
    for name, task in choose.CANDIDATES.items():
        hp, _ = choose.train.resolve_hyperparameters(
            choose.argv({**choose.STATIC, **task, **config}), {}
        )
        choose.train.check_cv_folds(hp)
        assert (hp["dataset"], hp["cv_folds"]) == ("digits", 5), name
    # The task `make reproduce` tunes is the measured candidate that passed.
    static = reproduce.manifests(seed=1, trials=(30, 120))[0]["spec"]["staticHyperparameters"]
    assert static == {**choose.STATIC, **choose.CANDIDATES["mlp-20ep-full"]}


def test_task_criterion_separates_a_plateau_from_a_peak() -> None:
    choose = _choose_task()
    rng = np.random.RandomState(0)
    plateau = np.concatenate([rng.uniform(0.1, 0.89, 100), rng.uniform(0.90, 0.905, 20)])
    peak = np.linspace(0.1, 0.95, 120)
    assert not choose.criterion(plateau, noise_sd=0.004)[1]
    spread, passes = choose.criterion(peak, noise_sd=0.01)
    assert passes and spread > 0.07
    thirty = choose.expected_best(peak, 30, np.random.RandomState(1))
    hundred_twenty = choose.expected_best(peak, 120, np.random.RandomState(1))
    assert thirty[0] < hundred_twenty[0] <= peak.max()
