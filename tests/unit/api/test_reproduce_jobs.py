"""The TuningJobs of `make reproduce` (hack/reproduce.py): the seed's experiment."""

from __future__ import annotations

import re

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
