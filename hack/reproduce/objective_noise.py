"""How noisy is `make reproduce`'s objective? Run with the trainer's venv:

    nice -n 15 .venv-trainer/bin/python hack/reproduce/objective_noise.py

For a few good configurations (the best of the earlier 3-seed run), the sd of the accuracy
across trainer seeds, for each way of scoring a configuration: the fixed 80/20 split (one
model, 359 validation images), the mean of k such runs with different seeds, and k-fold
cross-validation (cv_folds=k: k models, every one of the 1797 images validated once).
Against it, the spread (sd) of the top 10 % of uniformly drawn configurations, each scored
by the same objective: the differences a search has to tell apart. Everything runs in
this one process (MXNet's start-up, not training, dominates a trial's CPU time).
"""

from __future__ import annotations

import contextlib
import io
import re
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "trainer-image"))
import train

GOOD = (  # the best configurations of the earlier run (learning_rate, momentum, wd)
    (0.3976, 0.6813, 0.0),
    (0.5, 0.8183, 0.001),
    (0.4439, 0.8486, 2.2e-05),
    (0.3920, 0.6881, 0.00065),
)
SEEDS = range(1, 11)
K = 5
RANDOM_CONFIGS = 60
ACCURACY = re.compile(r"validation: accuracy=([0-9.]+)")


def score(config: tuple[float, float, float], seed: int, folds: int) -> float:
    lr, momentum, wd = config
    argv = [
        "--dataset=digits",
        "--model=mlp",
        "--epochs=2",
        "--num_gpus=0",
        f"--learning_rate={lr}",
        f"--momentum={momentum}",
        f"--wd={wd}",
        f"--seed={seed}",
        f"--cv_folds={folds}",
    ]
    hp, sources = train.resolve_hyperparameters(argv, {})
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        train.train(hp, sources)
    return float(ACCURACY.findall(out.getvalue())[-1])


def top_sd(values: list[float]) -> str:
    top = sorted(values)[-max(len(values) // 10, 2) :]
    return f"sd {statistics.stdev(top):.4f}, range {min(top):.4f}-{max(top):.4f}"


def main() -> None:
    single_sd, mean_sd, cv_sd = [], [], []
    for config in GOOD:
        single = [score(config, seed, 0) for seed in SEEDS]
        # The mean of K seeds: disjoint groups of the single runs above.
        means = [statistics.mean(single[i : i + K]) for i in range(0, len(single) - K + 1, K)]
        cv = [score(config, seed, K) for seed in SEEDS]
        single_sd.append(statistics.stdev(single))
        mean_sd.append(statistics.stdev(single) / K**0.5)  # 2 groups only: use sd/sqrt(K)
        cv_sd.append(statistics.stdev(cv))
        print(
            f"config {config}: split mean {statistics.mean(single):.4f} sd {single_sd[-1]:.4f}"
            f" | mean of {K} seeds {[round(m, 4) for m in means]}"
            f" | {K}-fold mean {statistics.mean(cv):.4f} sd {cv_sd[-1]:.4f}",
            flush=True,
        )
    print(
        f"noise (sd across trainer seeds, averaged over the configs): split "
        f"{statistics.mean(single_sd):.4f}, mean of {K} seeds {statistics.mean(mean_sd):.4f} "
        f"(sd/sqrt({K})), {K}-fold CV {statistics.mean(cv_sd):.4f}"
    )
    rng = np.random.RandomState(0)
    configs = [
        (rng.uniform(0.001, 0.5), rng.uniform(0, 0.99), rng.uniform(0, 0.001))
        for _ in range(RANDOM_CONFIGS)
    ]
    split_scores = [score(c, 42, 0) for c in configs]
    cv_scores = [score(c, 42, K) for c in configs]
    print(f"top 10 % of {RANDOM_CONFIGS} uniform configs, split: {top_sd(split_scores)}")
    print(f"top 10 % of {RANDOM_CONFIGS} uniform configs, {K}-fold CV: {top_sd(cv_scores)}")


if __name__ == "__main__":
    main()
